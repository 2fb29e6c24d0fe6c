//! Planner pages: the plans list and one plan (graph, gate verdicts, remediation, step details).

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::fns::{enforcement_label, load_plan, load_plans, PlanPageView, RowFilter, PAGE_ROWS};
use crate::audit::ui::AuditTrail;
use crate::events::live::LiveBadge;
use crate::events::model::{EventKind, Subject};
use crate::execution::fns::{CancelPlan, ExecutePlan};
use crate::execution::ui::{ExecutePanel, RunPanel, RunSteps, StepRunDetail};
use crate::execution::view::{AttemptView, StepRunView};
use crate::layout::use_session;
use crate::overrides::fns::{CreateOverride, RevokeOverride};
use crate::overrides::ui::OverridePanel;
use crate::plan::model::{GraphDetail, PlanStatus, PlanStep};
use crate::plan::verdict::{Gate, GateVerdict, Verdict, VerdictCounts};
use crate::ui::script::ZOOMS;
use crate::ui::*;

pub fn plan_status_pill(status: PlanStatus) -> impl IntoView {
    let tone = match status {
        PlanStatus::Ready | PlanStatus::Succeeded => Tone::Good,
        PlanStatus::Blocked | PlanStatus::Rejected | PlanStatus::Failed => Tone::Bad,
        PlanStatus::AwaitingApproval | PlanStatus::RollingBack | PlanStatus::RolledBack | PlanStatus::Cancelled => Tone::Caution,
        PlanStatus::Running => Tone::Active,
    };
    view! { <Pill tone text=status.label() testid="plan-status" value=status.as_str()/> }
}

pub fn verdict_pill(v: Verdict) -> impl IntoView {
    let tone = match v {
        Verdict::Allow => Tone::Good,
        Verdict::Warn => Tone::Caution,
        Verdict::Block => Tone::Bad,
    };
    view! { <Pill tone text=v.as_str() value=v.as_str()/> }
}

fn counts_view(c: VerdictCounts) -> impl IntoView {
    view! {
        <span class="inline-flex items-center gap-1 text-xs tabular-nums" title="steps by worst verdict: allow / warn / block">
            <span class="rounded bg-emerald-50 px-1.5 py-0.5 text-emerald-700">{c.allow}</span>
            <span class="rounded bg-amber-50 px-1.5 py-0.5 text-amber-800">{c.warn}</span>
            <span class="rounded bg-rose-50 px-1.5 py-0.5 text-rose-700">{c.block}</span>
        </span>
    }
}

fn format_usd(v: f64) -> String {
    format!("${v:.2}")
}

/// `/plans`: every plan, newest first, refreshed live as plans are stored.
#[component]
pub fn PlansPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_plans(None));
    view! {
        <PageHeader title="Plans".to_string() subtitle="Plan graphs built from the backlog, judged by the structural, risk, compliance and resource gates.".to_string()>
            <LiveBadge kinds=PLANS_EVENTS/>
            <a href="/backlog" class=BUTTON>"Plan from the backlog"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading plans…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(v) if v.plans.is_empty() => {
                        let hint = if v.auto_planner {
                            "Tick items on the backlog and press “Plan selected”, or POST /api/auto-planner/plan."
                        } else {
                            "Planning is switched off on this server: set FEATURE_AUTO_PLANNER=on to create plans."
                        };
                        view! { <EmptyState title="No plans yet" hint=hint/> }.into_any()
                    }
                    Ok(v) => view! {
                        {(!v.auto_planner).then(|| view! {
                            <p class="mb-3 text-sm text-slate-500">"Planning is switched off (FEATURE_AUTO_PLANNER is off); existing plans stay readable."</p>
                        })}
                        <DataTable testid="plans-table" label="Plans" columns=vec![Column::text("Plan"), Column::text("Status"), Column::text("Packs"), Column::number("Items"), Column::number("Steps"), Column::text("Verdicts"), Column::text("Created")]>
                                    {v.plans.into_iter().map(|p| view! {
                                        <tr class="hover:bg-slate-50" data-testid="plan-row">
                                            <td class="px-4 py-3">
                                                <a href=format!("/plans/{}", p.id) class="font-medium text-indigo-600 hover:underline">"Plan #" {p.id}</a>
                                                <div class="text-xs text-slate-500 font-mono">{p.planner.clone()}</div>
                                            </td>
                                            <td class="px-4 py-3">
                                                {plan_status_pill(p.status)}
                                                {p.steps_succeeded.map(|done| {
                                                    let pct = if p.step_count > 0 { done * 100 / p.step_count } else { 100 };
                                                    view! {
                                                        <div class="mt-1 h-1 w-24 rounded-full bg-slate-100" title=format!("{done} of {} steps succeeded", p.step_count) data-testid="plan-progress">
                                                            <div class="h-1 rounded-full bg-emerald-500" style=format!("width: {pct}%")></div>
                                                        </div>
                                                        <div class="text-xs text-slate-500 tabular-nums">{format!("{done}/{}", p.step_count)}</div>
                                                    }
                                                })}
                                            </td>
                                            <td class="px-4 py-3 text-slate-600">{p.packs.join(", ")}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{p.item_count}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{p.step_count}</td>
                                            <td class="px-4 py-3">{counts_view(p.verdict_counts)}</td>
                                            <td class="px-4 py-3 text-slate-500 whitespace-nowrap">
                                                {format_time(p.created_at)}
                                                <div class="text-xs text-slate-500">{p.created_by.clone()}</div>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                        </DataTable>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `/plans/:id`: the graph, the gates' verdicts with remediation, and the selected step.
#[component]
pub fn PlanPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let key = move || {
        query.with(|q| {
            let filter = RowFilter {
                gate: q.get("gate").and_then(|g| Gate::parse(&g)),
                verdict: q.get("verdict").filter(|v| !v.is_empty()),
                page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
            };
            let graph = q.get("graph").and_then(|g| GraphDetail::parse(&g));
            (id(), q.get("step").filter(|s| !s.is_empty()), filter, graph)
        })
    };
    let execute = ServerAction::<ExecutePlan>::new();
    let cancel = ServerAction::<CancelPlan>::new();
    let create_override = ServerAction::<CreateOverride>::new();
    let revoke_override = ServerAction::<RevokeOverride>::new();
    let data = Resource::new(key, |(id, step, filter, graph)| load_plan(id, step, filter, graph));
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading plan…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Plan not found".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, v)) => view! { <PlanView v can=info.can csrf=info.csrf execute cancel create_override revoke_override/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The events that change the plans list (a new plan, a status).
const PLANS_EVENTS: &[EventKind] = &[
    EventKind::PlanReady,
    EventKind::PlanBlocked,
    EventKind::PlanApproved,
    EventKind::PlanRejected,
    EventKind::PlanStarted,
    EventKind::StepSucceeded,
    EventKind::PlanSucceeded,
    EventKind::PlanFailed,
    EventKind::PlanRolledBack,
    EventKind::PlanCancelled,
];

/// The events that change what a plan page shows.
const PLAN_EVENTS: &[EventKind] = &[
    EventKind::PlanEvaluated,
    EventKind::PlanReady,
    EventKind::PlanBlocked,
    EventKind::PlanApproved,
    EventKind::PlanRejected,
    EventKind::PlanStarted,
    EventKind::StepQueued,
    EventKind::StepWaitingApproval,
    EventKind::StepStarted,
    EventKind::StepRetrying,
    EventKind::StepSucceeded,
    EventKind::StepFailed,
    EventKind::StepCompensated,
    EventKind::PlanSucceeded,
    EventKind::PlanFailed,
    EventKind::PlanRolledBack,
    EventKind::PlanCancelled,
    EventKind::OverrideRequested,
    EventKind::OverrideCreated,
    EventKind::OverrideRejected,
    EventKind::OverrideRevoked,
    EventKind::OverrideExpired,
];

#[component]
fn PlanView(
    v: PlanPageView,
    can: crate::auth::model::Capabilities,
    csrf: String,
    execute: ServerAction<ExecutePlan>,
    cancel: ServerAction<CancelPlan>,
    create_override: ServerAction<CreateOverride>,
    revoke_override: ServerAction<RevokeOverride>,
) -> impl IntoView {
    let blocked = v.status == PlanStatus::Blocked;
    let budget = v.estimate.budget_usd;
    let cost_ratio = if budget > 0.0 { (v.estimate.cost_p50_usd / budget * 100.0).min(100.0) } else { 0.0 };
    let over = v.estimate.cost_p50_usd > budget;
    let bar_class = if over {
        "h-1.5 rounded-full bg-rose-500"
    } else if cost_ratio >= 80.0 {
        "h-1.5 rounded-full bg-amber-500"
    } else {
        "h-1.5 rounded-full bg-emerald-500"
    };
    let id = v.id;
    let blocking: Vec<GateVerdict> = v.verdicts.iter().filter(|g| g.verdict == Verdict::Block).cloned().collect();
    view! {
        <nav class="mb-2 text-sm text-slate-500">
            <a href="/plans" class="hover:text-indigo-600">"Plans"</a> " / #" {id}
            {v.comparison.map(|c| view! {
                " · kept from " <a href=format!("/comparisons/{c}") class="text-indigo-600 hover:underline" data-testid="kept-from">"comparison #" {c}</a>
            })}
        </nav>
        <PageHeader title=format!("Plan #{id}") subtitle=format!("{} · {} · by {} · {} · {}", plural(v.items.len(), "item"), plural(v.groups.len(), "pack"), v.created_by, format_time(v.created_at), v.planner)>
            // Only this plan's events refresh its page (plan 1 is not plan 12).
            <LiveBadge kinds=PLAN_EVENTS subject=Subject::Plan(id)/>
            {plan_status_pill(v.status)}
            <a href=format!("/api/plans/{id}/graph?format=dot") class=BUTTON_SECONDARY download=format!("plan-{id}.dot") data-testid="download-dot">"DOT"</a>
            <a href=format!("/api/plans/{id}/graph?format=json") class=BUTTON_SECONDARY download=format!("plan-{id}.json")>"JSON"</a>
        </PageHeader>

        {blocked.then(|| view! {
            <section role="alert" class="mb-6 rounded-xl border border-rose-200 bg-rose-50 p-5" data-testid="blocked-panel">
                <h2 class="text-base font-semibold text-rose-900">"This plan is blocked"</h2>
                <p class="mt-1 text-sm text-rose-800">"Nothing will run until every block below is fixed (or, where the policy allows, overridden)."</p>
                <div class="mt-3 space-y-3">
                    {blocking.into_iter().map(|g| view! {
                        <div class="rounded-lg bg-white/70 p-3 ring-1 ring-rose-200">
                            <p class="text-sm font-semibold text-rose-900"><span class="capitalize">{g.gate.as_str()}</span> " gate · " <span class="font-normal">{enforcement_label(g.enforcement)}</span></p>
                            <ExpandableList items=g.reasons.iter().map(|r| r.to_string()).collect() shown=6 class="mt-1 list-disc pl-5 text-sm text-rose-900" noun="reason"/>
                            <p class="mt-2 text-xs font-semibold uppercase tracking-wide text-rose-700">"What to change"</p>
                            <div data-testid="remediation">
                                <ExpandableList items=g.remediation.iter().map(|r| r.to_string()).collect() shown=6 class="mt-1 list-disc pl-5 text-sm text-slate-800" noun="change"/>
                            </div>
                        </div>
                    }).collect_view()}
                </div>
                {(!v.fixes.is_empty()).then(|| view! {
                    <p class="mt-4 text-xs font-semibold uppercase tracking-wide text-rose-700">"Fix it here"</p>
                    <ul class="mt-1 flex flex-wrap gap-2 text-sm" data-testid="fixes">
                        {v.fixes.iter().map(|f| if f.allowed(&can) {
                            view! { <li><a href=f.href.clone() class="inline-flex min-h-9 items-center rounded-md bg-white px-3 py-1.5 font-medium text-indigo-700 shadow-sm ring-1 ring-inset ring-indigo-200 hover:bg-indigo-50" data-testid="fix">{rich(f.label.clone())} " →"</a></li> }.into_any()
                        } else {
                            view! { <li class="rounded-md bg-white/70 px-3 py-1.5 text-slate-700 ring-1 ring-inset ring-rose-200" data-testid="fix-elsewhere">{rich(f.label.clone())} <span class="text-slate-500">{format!(" — {} {} can do this", if f.who.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }, f.who)}</span></li> }.into_any()
                        }).collect_view()}
                    </ul>
                })}
            </section>
        })}

        {v.overrides.clone().map(|o| view! {
            <OverridePanel plan_id=id v=o unblocked_until=v.unblocked_until csrf=csrf.clone() create=create_override revoke=revoke_override/>
        })}

        {match (v.execute.clone(), v.run.clone()) {
            (Some(allowed), _) => view! {
                <ExecutePanel plan_id=id execute=allowed sensitive_steps=v.sensitive_steps warns=v.warns csrf=csrf.clone() action=execute/>
            }.into_any(),
            (None, Some(run)) => view! { <RunPanel run can_cancel=v.can_cancel csrf=csrf.clone() cancel/> }.into_any(),
            (None, None) => ().into_any(),
        }}

        <div class="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
            <Stat label="Steps" value=v.step_count.to_string() detail=format!("in {} waves", v.wave_count)/>
            <Stat label="Duration (critical path)" value=format_duration(v.estimate.duration_p50_ms) detail=format!("p95 {} · {} steps on the path", format_duration(v.estimate.duration_p95_ms), v.critical_path.len())/>
            <div class=format!("{CARD} p-4") data-testid="cost">
                <p class="text-xs font-medium uppercase tracking-wide text-slate-500">"Cost vs budget"</p>
                <p class="mt-1 text-xl font-semibold tabular-nums">{format_usd(v.estimate.cost_p50_usd)} <span class="text-sm font-normal text-slate-500">" of " {format_usd(budget)}</span></p>
                <div class="mt-2 h-1.5 rounded-full bg-slate-100">
                    <div class=bar_class
                        style=format!("width: {cost_ratio:.0}%")></div>
                </div>
                <p class="mt-1 text-xs text-slate-500">"p95 " {format_usd(v.estimate.cost_p95_usd)}</p>
            </div>
            <div class=format!("{CARD} p-4")>
                <p class="text-xs font-medium uppercase tracking-wide text-slate-500">"Steps by verdict"</p>
                <p class="mt-2">{counts_view(v.verdict_counts)}</p>
                <p class="mt-1 text-xs text-slate-500">"allow · warn · block"</p>
            </div>
        </div>

        <div class="mb-6 grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-4" data-testid="gate-cards">
            {v.verdicts.iter().cloned().map(|g| view! { <GateCard g/> }).collect_view()}
        </div>

        <section class=format!("{CARD} mb-6 p-4")>
            <div class="mb-3 flex flex-wrap items-center gap-4 text-xs text-slate-500">
                <h2 class="text-sm font-semibold text-slate-900">"Plan graph"</h2>
                {if v.run.as_ref().is_some_and(|r| !r.steps.is_empty()) {
                    view! {
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-slate-400 bg-slate-50"></span>"queued · skipped"</span>
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-amber-500 bg-amber-50"></span>"waiting for approval"</span>
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-indigo-500 bg-indigo-50"></span>"running"</span>
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-emerald-500 bg-emerald-50"></span>"succeeded"</span>
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-rose-500 bg-rose-50"></span>"failed"</span>
                        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-violet-500 bg-violet-50"></span>"rolled back"</span>
                    }.into_any()
                } else {
                    view! { <VerdictLegend/> }.into_any()
                }}
                <PathLegend/>
            </div>
            <GraphViewport svg=v.svg.clone() steps=v.step_count waves=v.wave_count items=v.items.len() detail=v.graph_detail/>
        </section>

        {v.run.clone().map(|run| view! { <RunSteps run/> })}

        <div class="grid grid-cols-1 gap-6 xl:grid-cols-3">
            <div class="xl:col-span-2">
                <VerdictTable v=v.clone()/>
            </div>
            <div class="space-y-6">
                {v.selected.is_none().then(|| view! {
                    <div class=format!("{CARD} p-5 text-sm text-slate-500")>"Click a step in the graph (or in the table) to see its tool, idempotency token, rollback and every gate's verdict."</div>
                })}
                <section class=format!("{CARD} p-5")>
                    <h2 class="text-sm font-semibold text-slate-900">"Backlog items by pack"</h2>
                    {v.groups.clone().into_iter().map(|g| {
                        let items: Vec<_> = v.items.iter().filter(|i| i.pack_id == g.pack_id).cloned().collect();
                        view! {
                            <div class="mt-3">
                                <a href=format!("/backlog?pack_id={}", g.pack_id) class="text-xs font-semibold uppercase tracking-wide text-slate-500 hover:text-indigo-600">{g.pack_name.clone()}</a>
                                <PackItems items/>
                            </div>
                        }
                    }).collect_view()}
                </section>
            </div>
        </div>
        {v.trail.clone().map(|page| view! { <div class="mt-6"><AuditTrail page all=format!("/audit?plan={id}")/></div> })}
        {v.selected.clone().map(|step| {
            let run = v.run.as_ref().and_then(|r| {
                let attempts = r.attempts.iter().filter(|a| a.step_id == step.id).cloned().collect();
                r.steps.iter().find(|s| s.step_id == step.id).cloned().map(|s| (s, attempts))
            });
            view! { <StepDrawer step path=format!("/plans/{id}") heading=format!("Plan #{id} · step") run/> }
        })}
    }
}

#[component]
fn Stat(label: &'static str, value: String, detail: String) -> impl IntoView {
    view! {
        <div class=format!("{CARD} p-4")>
            <p class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</p>
            <p class="mt-1 text-xl font-semibold tabular-nums">{value}</p>
            <p class="mt-1 text-xs text-slate-500">{detail}</p>
        </div>
    }
}

/// A list that shows its first `shown` entries and folds the rest behind "N more" (a disclosure:
/// it opens without JavaScript), so no list is cut off for good.
#[component]
fn ExpandableList(items: Vec<String>, shown: usize, class: &'static str, noun: &'static str) -> impl IntoView {
    let mut first = items;
    let rest = if first.len() > shown { first.split_off(shown) } else { vec![] };
    view! {
        <ul class=class>{first.into_iter().map(|r| view! { <li>{rich(r)}</li> }).collect_view()}</ul>
        {(!rest.is_empty()).then(|| view! {
            <details class="mt-1 text-sm" data-testid="more">
                <summary class="cursor-pointer text-xs font-medium text-indigo-600 hover:underline">{format!("{} more", plural(rest.len(), noun))}</summary>
                <ul class=class>{rest.into_iter().map(|r| view! { <li>{rich(r)}</li> }).collect_view()}</ul>
            </details>
        })}
    }
}

/// Items shown at once per pack in the plan page's side column; the rest fold away.
const PACK_ITEMS_SHOWN: usize = 8;

/// A pack's planned items as links, the first few shown and the rest folded ("12 more").
#[component]
fn PackItems(mut items: Vec<crate::plan::model::PlanItem>) -> impl IntoView {
    let rest = items.split_off(items.len().min(PACK_ITEMS_SHOWN));
    let list = |items: Vec<crate::plan::model::PlanItem>| {
        items
            .into_iter()
            .map(|i| {
                view! {
                    <li>
                        <a href=format!("/backlog/{}", i.id) class="text-indigo-600 hover:underline">"#" {i.id} " " {i.title}</a>
                        {i.pulled_in.then(|| view! { <span class="ml-1 rounded bg-slate-100 px-1 text-xs text-slate-500" title="pulled in as an unfinished dependency">"dependency"</span> })}
                    </li>
                }
            })
            .collect_view()
    };
    let more = (!rest.is_empty()).then(|| {
        view! {
            <details class="mt-1 text-sm" data-testid="more-items">
                <summary class="cursor-pointer text-xs text-indigo-600 hover:underline">{format!("{} more", rest.len())}</summary>
                <ul class="mt-1 space-y-1">{list(rest)}</ul>
            </details>
        }
    });
    view! {
        <ul class="mt-1 space-y-1 text-sm">{list(items)}</ul>
        {more}
    }
}

#[component]
pub(crate) fn GateCard(g: GateVerdict) -> impl IntoView {
    let border = match g.verdict {
        Verdict::Allow => "border-t-emerald-500",
        Verdict::Warn => "border-t-amber-500",
        Verdict::Block => "border-t-rose-500",
    };
    let reasons: Vec<String> = g.reasons.iter().filter(|r| !r.is_empty()).map(|r| r.to_string()).collect();
    let fixes: Vec<String> = g.remediation.iter().map(|r| r.to_string()).collect();
    view! {
        <div class=format!("{CARD} border-t-4 {border} p-4") data-testid=format!("gate-{}", g.gate.as_str())>
            <div class="flex items-center justify-between">
                <h3 class="text-sm font-semibold capitalize text-slate-900">{g.gate.as_str()}</h3>
                {verdict_pill(g.verdict)}
            </div>
            {if g.verdict == Verdict::Allow {
                view! { <p class="mt-2 text-sm text-slate-500">"Nothing to fix."</p> }.into_any()
            } else {
                view! {
                    <ExpandableList items=reasons shown=3 class="mt-2 space-y-1 text-sm text-slate-700" noun="reason"/>
                    {(!fixes.is_empty()).then(|| view! {
                        <p class="mt-2 text-xs font-semibold text-slate-500">"Fix"</p>
                        <ExpandableList items=fixes shown=1 class="space-y-1 text-xs text-slate-500" noun="fix"/>
                    })}
                }.into_any()
            }}
        </div>
    }
}

/// The key to a plan graph coloured by verdict (before it runs).
#[component]
pub(crate) fn VerdictLegend() -> impl IntoView {
    view! {
        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-emerald-500 bg-emerald-50"></span>"allow"</span>
        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-amber-500 bg-amber-50"></span>"warn"</span>
        <span class="flex items-center gap-1"><span class="h-3 w-3 rounded border border-rose-500 bg-rose-50"></span>"block"</span>
    }
}

/// The part of the graph's key every graph shares.
#[component]
pub(crate) fn PathLegend() -> impl IntoView {
    view! {
        <span class="flex items-center gap-1"><span class="h-0.5 w-5 bg-indigo-600"></span>"critical path"</span>
        <span class="flex items-center gap-1"><LockIcon/>"waits for human approval"</span>
        <span>"· click a step for its verdicts"</span>
    }
}

/// A step's details in a drawer beside the graph: it opens where the reader is (no scrolling to
/// find it), from the graph, the table or an approval's link (`?step=`), with JavaScript or without;
/// Close (or Escape) returns to the plan with its other choices kept.
/// `path` is the page it lies over (`/plans/12`), `heading` what the drawer's bar says.
#[component]
pub(crate) fn StepDrawer(step: PlanStep, path: String, heading: String, run: Option<(StepRunView, Vec<AttemptView>)>) -> impl IntoView {
    let query = use_query_map();
    // The page script follows Close when Escape is pressed.
    let close = format!("{path}{}", query.with_untracked(|q| query_string(q, &["step"], &[])));
    let title = format!("Step {} · {}", step.id, step.tool);
    view! {
        <a href=close.clone() class="fixed inset-0 z-30 hidden bg-slate-900/20 lg:block" aria-label="Close the step" tabindex="-1">""</a>
        <aside class="fixed inset-y-0 right-0 z-40 w-full overflow-y-auto bg-slate-50 shadow-2xl ring-1 ring-slate-200 sm:w-[30rem]"
            aria-label=title data-testid="step-drawer" id="step">
            <div class="sticky top-0 z-10 flex items-center justify-between border-b border-slate-200 bg-white/95 px-4 py-2 backdrop-blur">
                <p class="text-sm font-semibold text-slate-900">{heading}</p>
                <a href=close class="inline-flex min-h-11 items-center rounded-md px-3 text-sm text-slate-600 ring-1 ring-slate-300 hover:bg-slate-50" data-testid="close-step">"Close"</a>
            </div>
            <div class="p-3"><StepPanel step run/></div>
        </aside>
    }
}

/// The plan graph in a scrollable, zoomable frame: Fit shows the whole plan at the frame's
/// width, the percentages zoom (links, so they work without JavaScript; the page script adds `+` /
/// `-` / `0` from the keyboard and spells out the focused box's label), and the frame scrolls
/// (pans) with the mouse, touch or arrow keys once focused.
#[component]
pub(crate) fn GraphViewport(svg: String, steps: usize, waves: usize, items: usize, detail: GraphDetail) -> impl IntoView {
    let query = use_query_map();
    let zoom = query.with_untracked(|q| q.get("zoom").filter(|z| ZOOMS.contains(&z.as_str())).unwrap_or_else(|| "100".into()));
    let link = move |z: &str| query.with_untracked(|q| query_string(q, &["zoom"], &[("zoom", z)]));
    // A dense plan draws one box per item; the reader may ask for the other view.
    let other = match detail {
        GraphDetail::Steps => GraphDetail::Items,
        GraphDetail::Items => GraphDetail::Steps,
    };
    let toggle = (items < steps).then(|| {
        let href = query.with_untracked(|q| query_string(q, &["graph", "step"], &[("graph", other.as_str())]));
        let (now, label) = match detail {
            GraphDetail::Steps => (format!("every step ({steps})"), format!("One box per item ({items})")),
            GraphDetail::Items => (format!("one box per item ({items} items, {steps} steps)"), format!("Every step ({steps})")),
        };
        view! {
            <span class="ml-2 text-slate-500" data-testid="graph-detail">"Showing " {now} " · "
                <a href=href class="font-medium text-indigo-600 hover:underline">{label}</a>
            </span>
        }
    });
    let frame = if zoom == "fit" { "graph-frame graph-fit" } else { "graph-frame" };
    let scale = match zoom.as_str() {
        "fit" => String::new(),
        z => format!("zoom: {}", z.parse::<f64>().unwrap_or(100.0) / 100.0),
    };
    view! {
        <div class="mb-2 flex flex-wrap items-center gap-1 text-xs" data-testid="zoom" role="group" aria-label="Zoom">
            {ZOOMS.iter().map(|z| {
                let label = if *z == "fit" { "Fit".to_string() } else { format!("{z}%") };
                let on = zoom == *z;
                view! {
                    <a href=link(z) data-zoom=*z class=if on {
                        "rounded-md bg-slate-900 px-2.5 py-1.5 font-medium text-white"
                    } else {
                        "rounded-md bg-white px-2.5 py-1.5 text-slate-700 ring-1 ring-inset ring-slate-300 hover:bg-slate-50"
                    } aria-current=on.then_some("true")>{label}</a>
                }
            }).collect_view()}
            <span class="ml-2 text-slate-500">{format!("{} in {} · scroll or use the arrow keys to pan, + and − to zoom, 0 to fit", plural(steps, "step"), plural(waves, "wave"))}</span>
            {toggle}
        </div>
        <div class=format!("{frame} relative overflow-auto rounded-lg bg-slate-50/60 ring-1 ring-inset ring-slate-100 focus:outline-none focus:ring-2 focus:ring-indigo-500")
            style="max-height: 70vh" tabindex="0" role="region" aria-label=format!("Plan graph: {} in {}; each step is a link to its details", plural(steps, "step"), plural(waves, "wave"))
            data-testid="graph-frame">
            <div style=scale inner_html=svg></div>
        </div>
        <p class="mt-2 min-h-5 break-words text-xs text-slate-700" aria-live="polite" data-testid="graph-focus"></p>
    }
}

#[component]
fn StepPanel(step: PlanStep, run: Option<(StepRunView, Vec<AttemptView>)>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} p-5") data-testid="step-panel">
            <div class="flex items-start justify-between gap-2">
                <div>
                    <p class="font-mono text-xs text-slate-500">{step.id.clone()}</p>
                    <h2 class="font-mono text-base font-semibold text-slate-900">{step.tool.clone()}</h2>
                </div>
                {verdict_pill(step.verdict)}
            </div>
            <dl class="mt-3 grid grid-cols-3 gap-x-3 gap-y-2 text-sm">
                <dt class="text-slate-500">"Item"</dt>
                <dd class="col-span-2"><a href=format!("/backlog/{}", step.backlog_item_id) class="text-indigo-600 hover:underline">"#" {step.backlog_item_id} " " {step.item_title.clone()}</a></dd>
                <dt class="text-slate-500">"Wave"</dt>
                <dd class="col-span-2">{step.wave.map(|w| format!("{}", w + 1)).unwrap_or_else(|| "unscheduled (cycle)".into())}</dd>
                <dt class="text-slate-500">"After"</dt>
                <dd class="col-span-2 font-mono text-xs">{if step.depends_on.is_empty() { "—".to_string() } else { step.depends_on.join(", ") }}</dd>
                <dt class="text-slate-500">"Approvals"</dt>
                <dd class="col-span-2">{if step.required_approvals > 0 { format!("waits for {}", plural(step.required_approvals as usize, "human approval")) } else { "none".into() }}</dd>
                <dt class="text-slate-500">"Estimate"</dt>
                <dd class="col-span-2">{format!("{} · ${:.2} (p95 {} · ${:.2}) · {}", format_duration(step.estimate.duration_p50_ms), step.estimate.cost_p50_usd, format_duration(step.estimate.duration_p95_ms), step.estimate.cost_p95_usd,
                    if step.estimate.runs > 0 { format!("{} recorded runs", step.estimate.runs) } else { step.estimate.source.label().to_string() })}</dd>
                <dt class="text-slate-500">"Token"</dt>
                <dd class="col-span-2 break-all font-mono text-xs" data-testid="step-token">{step.idempotency_token.clone()}</dd>
                <dt class="text-slate-500">"Rollback"</dt>
                <dd class="col-span-2 whitespace-pre-wrap text-xs" data-testid="step-rollback">
                    {step.rollback.clone().unwrap_or_else(|| "None: this mutating tool has no rollback recipe.".into())}
                </dd>
            </dl>
            {run.map(|(s, attempts)| view! { <StepRunDetail s attempts/> })}
            <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Gate verdicts"</h3>
            <ul class="mt-2 space-y-3" data-testid="step-verdicts">
                {step.verdicts.iter().map(|g| view! {
                    <li class="rounded-lg bg-slate-50 p-3" data-gate=g.gate.as_str()>
                        <div class="flex items-center justify-between">
                            <span class="text-sm font-medium capitalize">{g.gate.as_str()}</span>
                            {verdict_pill(g.verdict)}
                        </div>
                        <ul class="mt-1 list-disc pl-4 text-xs text-slate-600">
                            {g.reasons.iter().map(|r| view! { <li>{rich(r.to_string())}</li> }).collect_view()}
                        </ul>
                        {(!g.remediation.is_empty() && g.verdict != Verdict::Allow).then(|| view! {
                            <ul class="mt-1 pl-4 text-xs text-slate-800">
                                {g.remediation.iter().map(|r| view! { <li>"→ " {rich(r.to_string())}</li> }).collect_view()}
                            </ul>
                        })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn VerdictTable(v: PlanPageView) -> impl IntoView {
    let query = use_query_map();
    let current = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let id = v.id;
    let link = move |gate: String, verdict: String| {
        let mut parts = vec![];
        if !gate.is_empty() {
            parts.push(format!("gate={gate}"));
        }
        if !verdict.is_empty() {
            parts.push(format!("verdict={verdict}"));
        }
        if parts.is_empty() {
            format!("/plans/{id}")
        } else {
            format!("/plans/{id}?{}", parts.join("&"))
        }
    };
    let chip = move |label: &'static str, href: String, active: bool| {
        let class = if active {
            "rounded-full bg-slate-900 px-2.5 py-1 text-xs text-white"
        } else {
            "rounded-full bg-white px-2.5 py-1 text-xs text-slate-600 ring-1 ring-inset ring-slate-200 hover:bg-slate-50"
        };
        view! { <a href=href class=class aria-current=active.then_some("true")>{label}</a> }
    };
    let gate_now = current("gate");
    let verdict_now = current("verdict");
    let shown = v.rows.len();
    let (page, pages, matching) = (v.row_page, v.row_pages, v.matching_rows);
    let first = (page - 1) * PAGE_ROWS + 1;
    let to_page = move |p: usize| query.with(|q| query_string(q, &["page", "step"], &[("page", &p.to_string())]));
    view! {
        <section class=format!("{CARD} p-4") data-testid="verdict-table">
            <div class="mb-3 flex flex-wrap items-center gap-2">
                <h2 class="mr-2 text-sm font-semibold text-slate-900">"Verdicts"</h2>
                {chip("All gates", link(String::new(), verdict_now.clone()), gate_now.is_empty())}
                {Gate::ALL.into_iter().map(|g| chip(g.as_str(), link(g.as_str().into(), verdict_now.clone()), gate_now == g.as_str())).collect_view()}
                <span class="mx-1 h-4 w-px bg-slate-200"></span>
                {chip("needs attention", link(gate_now.clone(), String::new()), verdict_now.is_empty())}
                {chip("block", link(gate_now.clone(), "block".into()), verdict_now == "block")}
                {chip("warn", link(gate_now.clone(), "warn".into()), verdict_now == "warn")}
                {chip("allow", link(gate_now.clone(), "allow".into()), verdict_now == "allow")}
                {chip("all", link(gate_now.clone(), "all".into()), verdict_now == "all")}
            </div>
            {if v.rows.is_empty() {
                view! { <p class="py-6 text-center text-sm text-slate-500" data-testid="no-rows">"No step verdicts match this filter."</p> }.into_any()
            } else {
                view! {
                    <div class=format!("relative overflow-x-auto {SCROLL_FOCUS}") tabindex="0" role="region" aria-label="Step verdicts">
                        <table class="min-w-full divide-y divide-slate-200 text-sm">
                            <thead class="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                                <tr><th class="py-2 pr-3">"Step"</th><th class="py-2 pr-3">"Gate"</th><th class="py-2 pr-3">"Verdict"</th><th class="py-2 pr-3">"Why"</th><th class="py-2">"What to change"</th></tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {v.rows.into_iter().map(|r| view! {
                                    <tr data-testid="verdict-row" class="align-top">
                                        <td class="py-2 pr-3 whitespace-nowrap">
                                            <a href=format!("/plans/{id}?step={}", r.step_id) class="font-mono text-xs text-indigo-600 hover:underline">{r.step_id.clone()}</a>
                                            <div class="font-mono text-xs text-slate-500">{r.tool.clone()}</div>
                                        </td>
                                        <td class="py-2 pr-3 capitalize">{r.verdict.gate.as_str()}</td>
                                        <td class="py-2 pr-3">{verdict_pill(r.verdict.verdict)}</td>
                                        <td class="py-2 pr-3 text-slate-700">{rich(r.verdict.reasons.join(" "))}</td>
                                        <td class="py-2 text-slate-600">{rich(r.verdict.remediation.join(" "))}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {(pages > 1).then(|| view! {
                        <nav class="mt-3 flex flex-wrap items-center gap-2 text-xs text-slate-600" aria-label="Verdict pages" data-testid="row-pages">
                            <span>{format!("Rows {first}–{} of {matching}", first + shown - 1)}</span>
                            {(page > 1).then(|| view! { <a href=to_page(page - 1) class=PAGER rel="prev">"← Previous"</a> })}
                            {(page < pages).then(|| view! { <a href=to_page(page + 1) class=PAGER rel="next" data-testid="next-rows">"Next →"</a> })}
                            <span class="text-slate-500">{format!("page {page} of {pages}")}</span>
                        </nav>
                    })}
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_page_listens_to_every_event_about_plans() {
        for k in EventKind::ALL {
            let elsewhere = k.as_str().starts_with("approval.") || k.as_str().starts_with("comparison.");
            assert_eq!(PLAN_EVENTS.contains(&k), !elsewhere, "{k}");
        }
    }
}
