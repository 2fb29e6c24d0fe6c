//! Comparison pages: the candidates side by side (`/comparisons/:id`) and the planner metrics
//! (`/planner-metrics`) with server-rendered charts.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use std::fmt::Write as _;

use super::fns::{
    load_candidate, load_comparison, load_planner_metrics, CandidateGraph, CandidatePageView, ChooseCandidate, ComparisonPageView,
    MetricsPageView,
};
use super::model::*;
use crate::layout::use_session;
use crate::plan::model::GraphDetail;
use crate::planner::ui::{GateCard, GraphViewport, PathLegend, StepDrawer, VerdictLegend};
use crate::ui::*;

fn status_pill(s: CandidateStatus) -> impl IntoView {
    let tone = match s {
        CandidateStatus::Valid => Tone::Good,
        CandidateStatus::Invalid => Tone::Bad,
        CandidateStatus::Failed => Tone::Bad,
        CandidateStatus::TimedOut => Tone::Caution,
    };
    view! { <Pill tone text=s.label() testid="candidate-status" value=s.as_str()/> }
}

fn usd(v: f64) -> String {
    if v > 0.0 && v < 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Where the comparison stands, in one sentence.
pub fn standing(c: &Comparison) -> String {
    let valid = c.candidates.iter().filter(|x| x.status == CandidateStatus::Valid).count();
    match (c.chosen, c.best) {
        (Some(i), _) => format!(
            "Candidate {} ({}) was kept as plan #{} by {}.",
            i + 1,
            c.candidates[i].provider,
            c.plan_id.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
            c.chosen_by.clone().unwrap_or_default()
        ),
        (None, Some(b)) => format!(
            "{valid} of {} candidates are valid; {} scores best ({:.1}). Keep it, or another valid one, as the plan.",
            c.candidates.len(),
            c.candidates[b].provider,
            c.candidates[b].score.unwrap_or(0.0)
        ),
        (None, None) => format!(
            "None of the {} candidates is valid, so there is nothing to keep; the reasons are on each card. Compare again once they are fixed.",
            c.candidates.len()
        ),
    }
}

/// `/comparisons/:id`: every provider's candidate side by side, best first in the reader's eye
/// (marked), in the providers file's order on the page.
#[component]
pub fn ComparisonPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let data = Resource::new(id, load_comparison);
    let choose = ServerAction::<ChooseCandidate>::new();
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading comparison…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Comparison not found".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, v)) => view! { <ComparisonView v csrf=info.csrf choose/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ComparisonView(v: ComparisonPageView, csrf: String, choose: ServerAction<ChooseCandidate>) -> impl IntoView {
    let c = v.comparison;
    let subtitle = format!(
        "{} planner{} on {} item{} · {} by {}",
        c.candidates.len(),
        if c.candidates.len() == 1 { "" } else { "s" },
        c.item_count,
        if c.item_count == 1 { "" } else { "s" },
        format_time(c.created_at),
        c.created_by
    );
    let standing_text = standing(&c);
    let graphs = v.graphs;
    let weights = v.weights;
    let can_choose = v.can_choose && c.chosen.is_none();
    let id = c.id;
    view! {
        <PageHeader title=format!("Comparison #{}", c.id) subtitle>
            <a href="/planner-metrics" class=BUTTON_SECONDARY>"Planner metrics"</a>
        </PageHeader>
        <div class=format!("{CARD} mb-4 flex flex-wrap items-center gap-3 p-4") data-testid="comparison-standing" role="status">
            <p class="text-sm text-slate-700">{standing_text}</p>
            {c.plan_id.map(|p| view! { <a href=format!("/plans/{p}") class=BUTTON data-testid="open-kept-plan">"Open plan #" {p}</a> })}
        </div>
        <FormError/>
        <div class="grid gap-4 md:grid-cols-2 xl:grid-cols-3" data-testid="candidates">
            {c.candidates.into_iter().map(|cand| {
                let graph = graphs.iter().find(|g| g.index == cand.index).cloned();
                let best = c.best == Some(cand.index);
                let kept = c.chosen == Some(cand.index);
                view! { <CandidateCard cand graph best kept can_choose id csrf=csrf.clone() choose/> }
            }).collect_view()}
        </div>
        <details class=format!("{CARD} mt-6 p-4 text-sm text-slate-600")>
            <summary class="cursor-pointer font-medium text-slate-800">"How the score adds up"</summary>
            <p class="mt-2">"Each figure scores between 0 and 1 against the best valid candidate of this comparison; the score is their weighted mean × 100. The weights come from the policy file ([comparison.weights]):"</p>
            <ul class="mt-2 list-disc space-y-1 pl-5">
                <li>{format!("verdicts ×{}: 0 when a gate blocks, else 1 − ½ × the share of warnings", weights.verdicts)}</li>
                <li>{format!("makespan ×{}: the shortest makespan ÷ this one's", weights.makespan)}</li>
                <li>{format!("cost ×{}: the lowest plan + token cost ÷ this one's", weights.cost)}</li>
                <li>{format!("parallelism ×{}: this one's steps at once ÷ the highest", weights.parallelism)}</li>
                <li>{format!("approvals ×{}: (fewest approvals + 1) ÷ (this one's + 1)", weights.approvals)}</li>
            </ul>
            <p class="mt-2">"An invalid, failed or timed-out candidate has no score and cannot be kept."</p>
        </details>
    }
}

/// Where one candidate stands, in one or two sentences: kept, no longer keepable, invalid, or
/// keepable (and what blocks it once kept).
pub fn candidate_standing(kept: bool, plan_id: Option<i64>, valid: bool, best: bool, blocking: &[&str]) -> String {
    let blocked_note = match blocking {
        [] => String::new(),
        [one] => format!(" The {one} gate blocks it: once kept, it runs only after a fix or an override."),
        many => format!(" The {} gates block it: once kept, it runs only after fixes or overrides.", many.join(" and ")),
    };
    match (kept, plan_id) {
        (true, Some(p)) => format!("Kept as plan #{p}."),
        (false, Some(p)) => format!("Another candidate was kept as plan #{p}; this one can no longer be kept."),
        _ if !valid => "Not valid, so it cannot be kept; the reason is below.".to_string(),
        _ if best => format!("Scores best in its comparison and can be kept as the plan.{blocked_note}"),
        _ => format!("Valid and can be kept as the plan, though another candidate scores better.{blocked_note}"),
    }
}

/// `/comparisons/:id/candidates/:index`: one candidate's whole plan (the graph with zoom and the
/// step drawer, the gate verdicts), to look at before keeping it. `index` counts from 0, as in the
/// JSON API.
#[component]
pub fn CandidatePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let (id, index) = params
            .with(|p| (p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0), p.get("index").and_then(|v| v.parse::<usize>().ok())));
        query.with(|q| (id, index, q.get("step").filter(|s| !s.is_empty()), q.get("graph").and_then(|g| GraphDetail::parse(&g))))
    };
    let data = Resource::new(key, |(id, index, step, graph)| load_candidate(id, index, step, graph));
    let choose = ServerAction::<ChooseCandidate>::new();
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading candidate…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Candidate not found".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, v)) => view! { <CandidateView v csrf=info.csrf choose/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CandidateView(v: CandidatePageView, csrf: String, choose: ServerAction<ChooseCandidate>) -> impl IntoView {
    let id = v.comparison_id;
    let cand = v.candidate;
    let index = cand.index;
    let path = format!("/comparisons/{id}/candidates/{index}");
    let valid = cand.status == CandidateStatus::Valid;
    let blocking: Vec<&str> = v
        .plan
        .iter()
        .flat_map(|p| p.verdicts.iter().filter(|g| g.verdict == crate::plan::verdict::Verdict::Block).map(|g| g.gate.as_str()))
        .collect();
    let standing_text = candidate_standing(v.kept, v.plan_id, valid, v.best, &blocking);
    let neighbour = |i: usize, label: &'static str| {
        view! { <a href=format!("/comparisons/{id}/candidates/{i}") class="inline-flex min-h-11 items-center text-sm text-indigo-600 hover:underline">{label}</a> }
    };
    view! {
        <nav class="mb-2 text-sm text-slate-500">
            <a href=format!("/comparisons/{id}") class="hover:text-indigo-600" data-testid="back-to-comparison">"Comparison #" {id}</a>
            {format!(" / candidate {} of {}", index + 1, v.of)}
        </nav>
        <PageHeader title=cand.provider.clone() subtitle=format!("Candidate {} of {} in comparison #{id} · {}", index + 1, v.of, cand.planner)>
            {v.best.then(|| view! { <Pill tone=Tone::Active text="best score" testid="best"/> })}
            {v.kept.then(|| view! { <Pill tone=Tone::Good text="kept" testid="kept"/> })}
            {status_pill(cand.status)}
        </PageHeader>
        <div class=format!("{CARD} mb-4 flex flex-wrap items-center gap-3 p-4") data-testid="candidate-standing" role="status">
            <p class="text-3xl font-semibold tabular-nums text-slate-900" data-testid="score">
                {cand.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into())}
                <span class="text-sm font-normal text-slate-500">" / 100"</span>
            </p>
            <p class="min-w-48 flex-1 text-sm text-slate-700">{standing_text}</p>
            {(valid && v.can_choose).then(|| view! { <KeepForm id index primary=true csrf choose/> })}
            {v.plan_id.filter(|_| v.kept).map(|p| view! { <a href=format!("/plans/{p}") class=BUTTON data-testid="open-kept-plan">"Open plan #" {p}</a> })}
        </div>
        <FormError/>
        {cand.error.clone().map(|e| view! {
            <p class="mb-4 break-words rounded-md bg-rose-50 p-3 text-sm text-rose-800" data-testid="candidate-error">{e.message}</p>
        })}
        {(!cand.rationale.is_empty()).then(|| view! {
            <p class="mb-4 break-words text-sm italic text-slate-600" data-testid="rationale">"“" {cand.rationale.clone()} "”"</p>
        })}
        {cand.figures.clone().map(|f| view! { <div class=format!("{CARD} mb-4 p-4")><Figures f wide=true/></div> })}
        {v.plan.map(|p| {
            let drawer = p.selected.clone().map(|step| {
                view! { <StepDrawer step path=path.clone() heading=format!("Candidate {} · step", index + 1) run=None/> }
            });
            view! {
                <div class="mb-6 grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-4" data-testid="gate-cards">
                    {p.verdicts.into_iter().map(|g| view! { <GateCard g/> }).collect_view()}
                </div>
                <section class=format!("{CARD} mb-6 p-4")>
                    <div class="mb-3 flex flex-wrap items-center gap-4 text-xs text-slate-500">
                        <h2 class="text-sm font-semibold text-slate-900">"Plan graph"</h2>
                        <VerdictLegend/>
                        <PathLegend/>
                    </div>
                    <GraphViewport svg=p.svg steps=p.step_count waves=p.wave_count items=p.item_count detail=p.graph_detail/>
                    <p class="mt-2 text-xs text-slate-500">{format!(
                        "Duration along the critical path ({} steps): {} (p95 {}) · cost {} (p95 {})",
                        p.critical_path_steps,
                        format_duration(p.estimate.duration_p50_ms),
                        format_duration(p.estimate.duration_p95_ms),
                        usd(p.estimate.cost_p50_usd),
                        usd(p.estimate.cost_p95_usd)
                    )}</p>
                </section>
                {drawer}
            }
        })}
        <div class="flex flex-wrap items-center justify-between gap-2">
            {(index > 0).then(|| neighbour(index - 1, "← Previous candidate"))}
            <a href=format!("/comparisons/{id}") class="inline-flex min-h-11 items-center text-sm text-indigo-600 hover:underline">"All candidates side by side"</a>
            {(index + 1 < v.of).then(|| neighbour(index + 1, "Next candidate →"))}
        </div>
    }
}

#[component]
fn Figure(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div>
            <dt class="text-xs text-slate-500">{label}</dt>
            <dd class="font-medium tabular-nums text-slate-900">{value}</dd>
        </div>
    }
}

/// A valid candidate's figures (its card and its page).
#[component]
fn Figures(f: CandidateFigures, #[prop(optional)] wide: bool) -> impl IntoView {
    let class = if wide {
        "grid grid-cols-2 gap-x-4 gap-y-3 text-sm sm:grid-cols-3 lg:grid-cols-6"
    } else {
        "mt-3 grid grid-cols-2 gap-x-4 gap-y-2 text-sm"
    };
    view! {
        <dl class=class>
            <Figure label="Makespan (p50)" value=format_duration(f.makespan_ms)/>
            <Figure label="Cost (plan + tokens)" value=format!("{} + {}", usd(f.plan_cost_usd), usd(f.token_cost_usd))/>
            <Figure label="Steps at once" value=format!("{:.2}×", f.parallelism)/>
            <Figure label="Approvals needed" value=f.approvals_needed.to_string()/>
            <Figure label="Steps · waves" value=format!("{} · {}", f.steps, f.waves)/>
            <div>
                <dt class="text-xs text-slate-500">"Verdicts"</dt>
                <dd class="flex flex-wrap gap-1 text-xs tabular-nums" data-testid="verdict-counts">
                    <span class="rounded bg-emerald-50 px-1.5 py-0.5 text-emerald-700">{f.verdict_counts.allow} " allow"</span>
                    <span class="rounded bg-amber-50 px-1.5 py-0.5 text-amber-800">{f.verdict_counts.warn} " warn"</span>
                    <span class="rounded bg-rose-50 px-1.5 py-0.5 text-rose-700">{f.verdict_counts.block} " block"</span>
                </dd>
            </div>
        </dl>
    }
}

/// Keeps candidate `index` of comparison `id` as the plan.
#[component]
fn KeepForm(id: i64, index: usize, primary: bool, csrf: String, choose: ServerAction<ChooseCandidate>) -> impl IntoView {
    view! {
        <ActionForm action=choose>
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="id" value=id.to_string()/>
            <input type="hidden" name="candidate" value=index.to_string()/>
            <button type="submit" class=format!("{} min-h-11", if primary { BUTTON } else { BUTTON_SECONDARY }) data-testid="keep">"Keep this plan"</button>
        </ActionForm>
    }
}

#[component]
#[allow(clippy::too_many_arguments)]
fn CandidateCard(
    cand: Candidate,
    graph: Option<CandidateGraph>,
    best: bool,
    kept: bool,
    can_choose: bool,
    id: i64,
    csrf: String,
    choose: ServerAction<ChooseCandidate>,
) -> impl IntoView {
    let ring = if kept {
        "ring-2 ring-emerald-500"
    } else if best {
        "ring-2 ring-indigo-500"
    } else {
        "ring-1 ring-slate-200"
    };
    let tokens = match (cand.input_tokens, cand.output_tokens) {
        (Some(i), Some(o)) => format!("{i} in · {o} out"),
        _ => "—".to_string(),
    };
    let latency = format_duration(cand.latency_ms);
    let valid = cand.status == CandidateStatus::Valid;
    let index = cand.index;
    view! {
        <section class=format!("min-w-0 rounded-xl bg-white p-4 shadow-sm {ring}") data-testid="candidate" data-provider=cand.provider.clone() data-status=cand.status.as_str()>
            <div class="flex flex-wrap items-start justify-between gap-2">
                <div class="min-w-0">
                    <h2 class="break-words text-base font-semibold text-slate-900">{cand.provider.clone()}</h2>
                    <p class="break-all font-mono text-xs text-slate-500">{cand.planner.clone()}</p>
                </div>
                <div class="flex flex-wrap items-center gap-1">
                    {best.then(|| view! { <Pill tone=Tone::Active text="best score" testid="best"/> })}
                    {kept.then(|| view! { <Pill tone=Tone::Good text="kept" testid="kept"/> })}
                    {status_pill(cand.status)}
                </div>
            </div>
            <p class="mt-3 text-3xl font-semibold tabular-nums text-slate-900" data-testid="score">
                {cand.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into())}
                <span class="text-sm font-normal text-slate-500">" / 100"</span>
            </p>
            {cand.error.clone().map(|e| view! {
                <p class="mt-2 break-words rounded-md bg-rose-50 p-2 text-sm text-rose-800" data-testid="candidate-error">{e.message}</p>
            })}
            {(!cand.rationale.is_empty()).then(|| view! {
                <p class="mt-2 break-words text-sm italic text-slate-600" data-testid="rationale">"“" {cand.rationale.clone()} "”"</p>
            })}
            {cand.figures.clone().map(|f| view! { <Figures f/> })}
            <p class="mt-2 text-xs text-slate-500">{format!("Answered in {latency} · tokens: {tokens}")}</p>
            {graph.map(|g| {
                let widest = g.wave_sizes.iter().max().copied().unwrap_or(0);
                let label = format!(
                    "Waves left to right, a square per step coloured by its verdict; ringed: waits for a reviewer. {} waves, at most {} step{} at once.",
                    g.wave_sizes.len(),
                    widest,
                    if widest == 1 { "" } else { "s" }
                );
                view! {
                    <figure class="mt-3">
                        <div class=format!("wave-strip-frame max-h-72 overflow-auto rounded-lg bg-slate-50 p-2 ring-1 ring-slate-100 {SCROLL_FOCUS}") tabindex="0" data-testid="wave-strip" inner_html=g.svg></div>
                        <figcaption class="mt-1 text-xs text-slate-500">{label}</figcaption>
                    </figure>
                }
            })}
            <div class="mt-3 flex flex-wrap items-center gap-2">
                {(valid && can_choose).then(|| view! { <KeepForm id index primary=best csrf choose/> })}
                {valid.then(|| view! {
                    <a href=format!("/comparisons/{id}/candidates/{index}") class="inline-flex min-h-11 items-center text-sm font-medium text-indigo-600 hover:underline" data-testid="open-candidate">"Full graph and steps →"</a>
                    <a href=format!("/api/auto-planner/comparisons/{id}/candidates/{index}") class="inline-flex min-h-11 items-center text-sm text-indigo-600 hover:underline">"Plan as JSON"</a>
                })}
            </div>
        </section>
    }
}

/// XML text (labels come from the providers file and may hold anything).
fn xml(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// A horizontal bar chart (one bar per row, value labels at the bar's end) as SVG; `max` is the
/// full width. Fits any width (viewBox, width 100%).
pub fn bar_chart(title: &str, rows: &[(String, f64, String)], max: f64) -> String {
    const W: f64 = 360.0;
    const LABEL: f64 = 110.0;
    const ROW: f64 = 26.0;
    let h = 28.0 + rows.len() as f64 * ROW;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" class="chart" role="img" aria-label="{}"><text x="0" y="16" class="chart-title">{}</text>"#,
        xml(title),
        xml(title)
    );
    for (i, (label, value, text)) in rows.iter().enumerate() {
        let y = 28.0 + i as f64 * ROW;
        let width = if max > 0.0 { (value / max).clamp(0.0, 1.0) * (W - LABEL - 60.0) } else { 0.0 };
        let _ = write!(
            out,
            r#"<text x="0" y="{:.0}" class="chart-label">{}</text><rect x="{LABEL}" y="{:.0}" width="{width:.1}" height="16" rx="3" class="chart-bar bar-{}"/><text x="{:.1}" y="{:.0}" class="chart-value">{}</text>"#,
            y + 13.0,
            xml(&truncate(label, 16)),
            y + 1.0,
            i % 6,
            LABEL + width + 6.0,
            y + 13.0,
            xml(text)
        );
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// One figure of the providers' records per day, a line per provider, with a legend under it.
pub fn trend_chart(days: &[DayStats], providers: &[String], figure: TrendFigure) -> String {
    const W: f64 = 360.0;
    const H: f64 = 160.0;
    const PAD: f64 = 24.0;
    let value = |d: &DayStats, p: &str| d.providers.iter().find(|s| s.provider == p).and_then(|s| figure.of(s));
    let max = figure.scale_max(days.iter().flat_map(|d| d.providers.iter().filter_map(|s| figure.of(s))));
    let x = |i: usize| {
        if days.len() > 1 {
            PAD + i as f64 * (W - 2.0 * PAD) / (days.len() - 1) as f64
        } else {
            W / 2.0
        }
    };
    let y = |v: f64| H - PAD - (v / max).clamp(0.0, 1.0) * (H - 2.0 * PAD);
    let top = match figure {
        TrendFigure::Score => "100".to_string(),
        TrendFigure::WinRate | TrendFigure::Validity => "100%".to_string(),
        TrendFigure::LatencyP95 => format_duration(max.round() as i64),
        TrendFigure::TokenCost => usd(max),
    };
    let title = format!("{} per day", figure.label());
    // A legend under the plot: two providers a row.
    let total_h = H + 16.0 * providers.len().div_ceil(2) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {total_h}" class="chart" role="img" aria-label="{}, per provider"><text x="0" y="14" class="chart-title">{}</text><line x1="{PAD}" y1="{:.0}" x2="{:.0}" y2="{:.0}" class="chart-axis"/><text x="0" y="{:.0}" class="chart-label">0</text><text x="0" y="{:.0}" class="chart-label">{}</text>"#,
        xml(&title),
        xml(&title),
        H - PAD,
        W - PAD,
        H - PAD,
        H - PAD + 4.0,
        PAD + 4.0,
        xml(&top)
    );
    for (i, p) in providers.iter().enumerate() {
        let points: Vec<(f64, f64)> = days.iter().enumerate().filter_map(|(n, d)| value(d, p).map(|v| (x(n), y(v)))).collect();
        if points.is_empty() {
            continue;
        }
        let line: Vec<String> = points.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
        let _ =
            write!(out, r#"<polyline points="{}" class="chart-line bar-{}"><title>{}</title></polyline>"#, line.join(" "), i % 6, xml(p));
        for (px, py) in &points {
            let _ = write!(out, r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" class="chart-dot bar-{}"/>"#, i % 6);
        }
    }
    for (i, p) in providers.iter().enumerate() {
        let (lx, ly) = (PAD + (i % 2) as f64 * 168.0, H + (i / 2) as f64 * 16.0);
        let _ = write!(
            out,
            r#"<rect x="{lx:.0}" y="{:.0}" width="10" height="10" rx="2" class="bar-{}"/><text x="{:.0}" y="{:.0}" class="chart-label">{}</text>"#,
            ly - 9.0,
            i % 6,
            lx + 14.0,
            ly,
            xml(&truncate(p, 24))
        );
    }
    out.push_str("</svg>");
    out
}

/// `/planner-metrics`: per provider over the stored comparisons, as a table and charts.
#[component]
pub fn PlannerMetricsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_planner_metrics());
    // The figure the trend chart follows over time (`?trend=`, a link per figure).
    let query = use_query_map();
    let trend = query.with_untracked(|q| q.get("trend").and_then(|t| TrendFigure::parse(&t)).unwrap_or_default());
    view! {
        <PageHeader title="Planner metrics".to_string()
            subtitle="Every provider's record over the last 90 days of comparisons: how often it wins, how often its plans are valid, its scores, latency and cost. Prometheus reads the same figures at /metrics.".to_string()/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading metrics…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(v) if v.metrics.comparisons == 0 => view! {
                        <EmptyState title="No comparisons yet" hint="Tick items on the backlog and press “Compare planners”, or POST /api/auto-planner/compare."/>
                    }.into_any(),
                    Ok(v) => view! { <MetricsView v trend/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MetricsView(v: MetricsPageView, trend: TrendFigure) -> impl IntoView {
    let p = v.metrics.providers;
    let names: Vec<String> = p.iter().map(|s| s.provider.clone()).collect();
    let win =
        bar_chart("Win rate (best score)", &p.iter().map(|s| (s.provider.clone(), s.win_rate, pct(s.win_rate))).collect::<Vec<_>>(), 1.0);
    let validity = bar_chart(
        "Valid proposals",
        &p.iter().map(|s| (s.provider.clone(), s.validity_rate, pct(s.validity_rate))).collect::<Vec<_>>(),
        1.0,
    );
    let score = bar_chart(
        "Mean score",
        &p.iter()
            .map(|s| (s.provider.clone(), s.avg_score.unwrap_or(0.0), s.avg_score.map(|a| format!("{a:.1}")).unwrap_or("—".into())))
            .collect::<Vec<_>>(),
        100.0,
    );
    let max_latency = p.iter().map(|s| s.latency_p95_ms).max().unwrap_or(0) as f64;
    let latency = bar_chart(
        "Latency p95 (p50)",
        &p.iter()
            .map(|s| {
                (
                    s.provider.clone(),
                    s.latency_p95_ms as f64,
                    format!("{} ({})", format_duration(s.latency_p95_ms), format_duration(s.latency_p50_ms)),
                )
            })
            .collect::<Vec<_>>(),
        max_latency,
    );
    let svg_trend = trend_chart(&v.metrics.daily, &names, trend);
    let figures = TrendFigure::ALL.map(|f| {
        let on = f == trend;
        view! {
            <a href=format!("?trend={}", f.as_str()) aria-current=on.then_some("true") class=if on {
                "inline-flex min-h-9 items-center rounded-md bg-slate-900 px-2.5 font-medium text-white"
            } else {
                "inline-flex min-h-9 items-center rounded-md bg-white px-2.5 text-slate-700 ring-1 ring-inset ring-slate-300 hover:bg-slate-50"
            }>{f.label()}</a>
        }
    });
    view! {
        <p class="mb-4 text-sm text-slate-600" data-testid="metrics-summary">
            {format!("{} comparison{} with {} provider{}.", v.metrics.comparisons, if v.metrics.comparisons == 1 { "" } else { "s" }, p.len(), if p.len() == 1 { "" } else { "s" })}
        </p>
        <div class="grid gap-4 md:grid-cols-2 xl:grid-cols-3" data-testid="metrics-charts">
            {[win, validity, score, latency].into_iter().map(|svg| view! {
                <div class=format!("{CARD} p-4") inner_html=svg></div>
            }).collect_view()}
            <div class=format!("{CARD} p-4")>
                <nav class="mb-2 flex flex-wrap gap-1 text-xs" aria-label="Figure over time" data-testid="trend-figures">{figures.collect_view()}</nav>
                <div inner_html=svg_trend></div>
            </div>
        </div>
        <div class="mt-6">
            <DataTable testid="provider-table" label="Planner providers" columns=vec![Column::text("Provider"), Column::number("Asked"), Column::number("Valid"), Column::number("Wins"), Column::number("Kept"), Column::number("Mean score"), Column::number("Latency p50 / p95"), Column::number("Mean makespan"), Column::number("Token cost")]>
                {p.into_iter().map(|s| view! {
                    <tr data-testid="provider-row" data-provider=s.provider.clone()>
                        <td class="px-4 py-3">
                            <div class="break-words font-medium text-slate-900">{s.provider.clone()}</div>
                            <div class="break-all font-mono text-xs text-slate-500">{s.planner.clone()}</div>
                        </td>
                        <td class="px-4 py-3 text-right tabular-nums">{s.asked}</td>
                        <td class="px-4 py-3 text-right tabular-nums" title=format!("{} invalid, {} failed, {} timed out", s.invalid, s.failed, s.timed_out)>{format!("{} ({})", s.valid, pct(s.validity_rate))}</td>
                        <td class="px-4 py-3 text-right tabular-nums">{format!("{} ({})", s.wins, pct(s.win_rate))}</td>
                        <td class="px-4 py-3 text-right tabular-nums">{s.chosen}</td>
                        <td class="px-4 py-3 text-right tabular-nums">{s.avg_score.map(|a| format!("{a:.1}")).unwrap_or("—".into())}</td>
                        <td class="px-4 py-3 text-right tabular-nums whitespace-nowrap">{format!("{} / {}", format_duration(s.latency_p50_ms), format_duration(s.latency_p95_ms))}</td>
                        <td class="px-4 py-3 text-right tabular-nums">{s.avg_makespan_ms.map(format_duration).unwrap_or("—".into())}</td>
                        <td class="px-4 py-3 text-right tabular-nums">{usd(s.token_cost_usd)}</td>
                    </tr>
                }).collect_view()}
            </DataTable>
        </div>
        <h2 class="mt-8 mb-2 text-lg font-semibold text-slate-900">"Latest comparisons"</h2>
        <ul class=format!("{CARD} divide-y divide-slate-100") data-testid="recent-comparisons">
            {v.recent.into_iter().map(|c| {
                let text = standing(&c);
                view! {
                    <li class="p-3 text-sm">
                        <a href=format!("/comparisons/{}", c.id) class="font-medium text-indigo-600 hover:underline">"Comparison #" {c.id}</a>
                        <span class="text-slate-500">{format!(" · {} items · {} · ", c.item_count, format_time(c.created_at))}</span>
                        <span class="break-words text-slate-700">{text}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_says_where_it_stands() {
        assert_eq!(candidate_standing(true, Some(9), true, false, &[]), "Kept as plan #9.");
        assert!(candidate_standing(false, Some(9), true, true, &[]).starts_with("Another candidate was kept as plan #9"));
        assert!(candidate_standing(false, None, false, false, &[]).starts_with("Not valid"));
        assert_eq!(candidate_standing(false, None, true, true, &[]), "Scores best in its comparison and can be kept as the plan.");
        assert_eq!(
            candidate_standing(false, None, true, false, &["structural"]),
            "Valid and can be kept as the plan, though another candidate scores better. The structural gate blocks it: once kept, it runs only after a fix or an override."
        );
        assert!(candidate_standing(false, None, true, true, &["risk", "resource"])
            .ends_with("The risk and resource gates block it: once kept, it runs only after fixes or overrides."));
    }

    #[test]
    fn charts_escape_their_labels_and_scale_bars() {
        let svg = bar_chart("Win <rate>", &[("<script>".into(), 0.5, "50%".into()), ("b".into(), 1.0, "100%".into())], 1.0);
        assert!(svg.contains("Win &lt;rate&gt;") && svg.contains("&lt;script&gt;") && !svg.contains("<script>"), "{svg}");
        assert!(svg.contains(r#"width="95.0""#) && svg.contains(r#"width="190.0""#), "half and full bars: {svg}");
        let empty = bar_chart("x", &[("a".into(), 3.0, "3".into())], 0.0);
        assert!(empty.contains(r#"width="0.0""#));
        let record = |score: Option<f64>, latency_p95_ms: i64| ProviderStats {
            provider: "a&b".into(),
            asked: 1,
            avg_score: score,
            latency_p95_ms,
            ..Default::default()
        };
        let days = [
            DayStats { day: 0, providers: vec![record(Some(50.0), 200)] },
            DayStats { day: 86_400_000, providers: vec![record(None, 400)] },
            DayStats { day: 172_800_000, providers: vec![record(Some(100.0), 100)] },
        ];
        let trend = trend_chart(&days, &["a&b".into()], TrendFigure::Score);
        // Three days across the width; the day without a score has no point.
        assert!(trend.contains("<title>a&amp;b</title>") && trend.contains(r#"points="24.0,80.0 336.0,24.0""#), "{trend}");
        assert!(trend.contains(r#"class="chart-label">a&amp;b</text>"#), "a legend names each provider: {trend}");
        assert!(trend.contains(">Mean score per day</text>") && trend.contains(r#"class="chart-label">100</text>"#), "{trend}");
        let latency = trend_chart(&days, &["a&b".into()], TrendFigure::LatencyP95);
        // Scaled to the slowest day (400 ms at the top).
        assert!(latency.contains(r#"points="24.0,80.0 180.0,24.0 336.0,108.0""#), "{latency}");
        assert!(latency.contains(">Latency p95 per day</text>") && latency.contains(r#"class="chart-label">400 ms</text>"#), "{latency}");
    }
}
