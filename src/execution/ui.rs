//! The plan page's execution parts: Execute (or why not), the run's status, progress and
//! Cancel, every step's run state, and the run timeline. Server-rendered, refreshed live.

use leptos::prelude::*;

use super::fns::{CancelPlan, ExecutePlan};
use super::model::{JobKind, StepState};
use super::view::{AttemptView, PlanRun, StepRunView};
use crate::plan::model::PlanStatus;
use crate::ui::*;

pub fn step_state_pill(state: StepState) -> impl IntoView {
    let tone = match state {
        StepState::Succeeded => Tone::Good,
        StepState::Failed | StepState::CompensationFailed => Tone::Bad,
        StepState::WaitingApproval => Tone::Caution,
        StepState::Running | StepState::Claimable => Tone::Active,
        StepState::Compensating | StepState::Compensated => Tone::Neutral,
        StepState::Queued | StepState::Skipped => Tone::Quiet,
    };
    view! { <Pill tone text=state.label() testid="step-state" value=state.as_str()/> }
}

/// Execute, or the sentence saying why it is not possible.
#[component]
pub fn ExecutePanel(
    plan_id: i64,
    execute: Result<(), String>,
    sensitive_steps: usize,
    warns: bool,
    csrf: String,
    action: ServerAction<ExecutePlan>,
) -> impl IntoView {
    match execute {
        Err(why) => view! {
            <p class="mb-6 rounded-lg bg-slate-100 px-4 py-3 text-sm text-slate-600" data-testid="execute-why-not">{why}</p>
        }
        .into_any(),
        Ok(()) => {
            let mut notes = vec![];
            if warns {
                notes.push(
                    "Some verdicts warn, so the plan first goes to the reviewers' inbox as a plan approval; it starts when approved."
                        .to_string(),
                );
            } else {
                notes.push("Every verdict allows: it starts at once.".to_string());
            }
            if sensitive_steps > 0 {
                notes.push(format!(
                    "{} with a sensitive tool will wait for a reviewer when {} turn comes.",
                    plural(sensitive_steps, "step"),
                    if sensitive_steps == 1 { "its" } else { "their" }
                ));
            }
            view! {
                <section class=format!("{CARD} mb-6 flex flex-col gap-3 p-5 sm:flex-row sm:items-center sm:justify-between") data-testid="execute-panel">
                    <div>
                        <h2 class="text-sm font-semibold text-slate-900">"Ready to execute"</h2>
                        <p class="mt-1 text-sm text-slate-600">"Workers run the steps wave by wave, the steps of a wave in parallel. " {notes.join(" ")}</p>
                        <FormError form="execute_plan"/>
                    </div>
                    <ActionForm action attr:class="shrink-0">
                        <input type="hidden" name="csrf" value=csrf/>
                        <input type="hidden" name="id" value=plan_id.to_string()/>
                        <button type="submit" class=BUTTON data-testid="execute">"Execute plan"</button>
                    </ActionForm>
                </section>
            }
            .into_any()
        }
    }
}

fn status_tone(status: PlanStatus) -> &'static str {
    match status {
        PlanStatus::Succeeded => "border-emerald-200 bg-emerald-50 text-emerald-900",
        PlanStatus::Failed | PlanStatus::Rejected => "border-rose-200 bg-rose-50 text-rose-900",
        PlanStatus::Running => "border-indigo-200 bg-indigo-50 text-indigo-900",
        _ => "border-amber-200 bg-amber-50 text-amber-900",
    }
}

/// The run at the top of the plan page: where it stands, progress, and Cancel.
#[component]
pub fn RunPanel(run: PlanRun, can_cancel: bool, csrf: String, cancel: ServerAction<CancelPlan>) -> impl IntoView {
    let plan_id = run.plan_id;
    let pct = if run.steps_total > 0 { run.steps_succeeded * 100 / run.steps_total } else { 100 };
    let summary = run.summary();
    let status = run.status;
    view! {
        <section class=format!("mb-6 rounded-xl border p-5 {}", status_tone(status)) data-testid="run-panel" data-status=status.as_str()>
            <div class="flex flex-col gap-3 sm:flex-row sm:items-start sm:justify-between">
                <div class="min-w-0">
                    <h2 class="text-base font-semibold">"Run: " {status.label()}</h2>
                    <p class="mt-1 text-sm" data-testid="run-summary">{summary}</p>
                    <p class="mt-1 text-xs opacity-80">
                        "Executed by " {run.requested_by.clone()} " · " {format_time(run.requested_at)}
                        {run.approved_by.clone().map(|by| view! { " · approved by " {by} })}
                        {run.approval_id.map(|a| view! { " · " <a href=format!("/approvals/{a}") class="underline">"plan approval #" {a}</a> })}
                    </p>
                </div>
                {can_cancel.then(|| view! {
                    <details class="shrink-0 rounded-lg bg-white/70 p-3 text-slate-800 ring-1 ring-slate-200" data-testid="cancel">
                        <summary class="cursor-pointer text-sm font-medium text-rose-700">"Cancel plan…"</summary>
                        <FormError form="cancel_plan"/>
                        <ActionForm action=cancel attr:class="mt-2 space-y-2">
                            <input type="hidden" name="csrf" value=csrf/>
                            <input type="hidden" name="id" value=plan_id.to_string()/>
                            <label class=LABEL for="cancel-reason">"Why " <span class="font-normal text-slate-500">"(optional)"</span></label>
                            <input id="cancel-reason" name="reason" class=INPUT maxlength="1000"/>
                            <p class="text-xs text-slate-500">"Nothing new starts; running steps are told to stop; what succeeded is rolled back."</p>
                            <button type="submit" class=BUTTON_DANGER data-testid="confirm-cancel">"Cancel and roll back"</button>
                        </ActionForm>
                    </details>
                })}
            </div>
            {(run.steps_total > 0).then(|| view! {
                <div class="mt-3 h-2 rounded-full bg-white/70" role="progressbar" aria-label="Steps succeeded" aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.to_string()
                     aria-valuetext=format!("{} of {} steps succeeded", run.steps_succeeded, run.steps_total)>
                    <div class="h-2 rounded-full bg-emerald-500" style=format!("width: {pct}%")></div>
                </div>
            })}
        </section>
    }
}

/// Every step's run state and the run timeline (below the graph).
#[component]
pub fn RunSteps(run: PlanRun) -> impl IntoView {
    let plan_id = run.plan_id;
    // A finished step's worker is its last attempt's (attempts are newest first).
    let last_worker = |step: &str| run.attempts.iter().find(|a| a.step_id == step).map(|a| a.worker.clone());
    let ids: Vec<(String, StepRunView, String)> = run
        .steps
        .iter()
        .map(|s| {
            (
                s.step_id.clone(),
                s.clone(),
                s.lease.as_ref().map(|l| l.worker.clone()).or_else(|| last_worker(&s.step_id)).unwrap_or_default(),
            )
        })
        .collect();
    let attempts = run.attempts.clone();
    let shown_attempts = attempts.len().min(50);
    view! {
        {(!ids.is_empty()).then(|| view! {
            <section class=format!("{CARD} mb-6 p-4") data-testid="run-steps">
                <h2 class="mb-3 text-sm font-semibold text-slate-900">"Steps"</h2>
                <div class=format!("relative overflow-x-auto {SCROLL_FOCUS}") tabindex="0" role="region" aria-label="Steps of the run">
                    <table class="min-w-full divide-y divide-slate-200 text-sm">
                        <thead class="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                            <tr><th class="py-2 pr-3">"Step"</th><th class="py-2 pr-3">"State"</th><th class="hidden py-2 pr-3 sm:table-cell">"Attempt"</th><th class="hidden py-2 pr-3 md:table-cell">"Worker"</th><th class="py-2">"Output or error"</th></tr>
                        </thead>
                        <tbody class="divide-y divide-slate-100">
                            {ids.into_iter().map(|(id, s, worker)| {
                                let href = format!("/plans/{plan_id}?step={id}#step");
                                let data_step = id.clone();
                                view! {
                                <tr class="align-top" data-testid="run-step" data-step=data_step data-state=s.state.as_str()>
                                    <td class="py-2 pr-3 whitespace-nowrap">
                                        <a href=href class="font-mono text-xs text-indigo-600 hover:underline">{id}</a>
                                        <div class="font-mono text-xs text-slate-500">{s.tool.clone()}</div>
                                    </td>
                                    <td class="py-2 pr-3">
                                        {step_state_pill(s.state)}
                                        {(s.job == JobKind::Rollback && s.state != StepState::Compensated).then(|| view! { <div class="mt-1 text-xs text-violet-700">"undoing"</div> })}
                                        {s.approval_id.map(|a| view! { <div class="mt-1"><a href=format!("/approvals/{a}") class="text-xs text-indigo-600 hover:underline">"approval #" {a}</a></div> })}
                                    </td>
                                    <td class="hidden py-2 pr-3 tabular-nums sm:table-cell">{s.attempt}</td>
                                    <td class="hidden py-2 pr-3 text-xs text-slate-600 break-all md:table-cell">{worker}</td>
                                    <td class="py-2 text-xs">
                                        {s.error.clone().map(|e| view! { <p class="break-words text-rose-700">{e}</p> })}
                                        {s.output.clone().map(|o| view! { <pre class=format!("mt-1 max-h-24 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-50 p-2 text-slate-700 {SCROLL_FOCUS}") tabindex="0">{last_lines(&o, 6)}</pre> })}
                                    </td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        })}

        {(!attempts.is_empty()).then(|| view! {
            <section class=format!("{CARD} mb-6 p-4") data-testid="run-timeline">
                <h2 class="mb-3 text-sm font-semibold text-slate-900">"Timeline " <span class="font-normal text-slate-500">{format!("(newest first, {shown_attempts} of {})", attempts.len())}</span></h2>
                <ol class="space-y-2 text-sm">
                    {attempts.into_iter().take(50).map(|a| {
                        let took = a.ended_at.map(|e| format_duration(e - a.started_at)).unwrap_or_else(|| "running".into());
                        view! {
                            <li class="flex flex-wrap items-baseline gap-x-2 border-l-2 border-slate-200 pl-3" data-testid="attempt" data-outcome=a.outcome.clone()>
                                <span class="font-mono text-xs">{a.step_id.clone()}</span>
                                <span class="text-xs text-slate-500">{if a.job == JobKind::Rollback { "rollback" } else { "run" }} " · attempt " {a.attempt}</span>
                                <span class="text-xs font-medium">{a.outcome.replace('_', " ")}</span>
                                <span class="text-xs text-slate-500">{took} " · " {format_time(a.started_at)} " · " {a.worker.clone()}</span>
                                {a.exit_code.map(|c| view! { <span class="text-xs text-slate-500">"exit " {c}</span> })}
                                {a.error.clone().map(|e| view! { <span class="w-full break-words text-xs text-rose-700">{e}</span> })}
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        })}
    }
}

/// The last `n` lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A step's run and its attempts (newest first), for the step panel.
#[component]
pub fn StepRunDetail(s: StepRunView, attempts: Vec<AttemptView>) -> impl IntoView {
    view! {
        <div class="mt-4 rounded-lg bg-slate-50 p-3" data-testid="step-run">
            <div class="flex items-center justify-between">
                <h3 class="text-xs font-semibold uppercase tracking-wide text-slate-500">"Run"</h3>
                {step_state_pill(s.state)}
            </div>
            <dl class="mt-2 grid grid-cols-3 gap-x-3 gap-y-1 text-xs">
                <dt class="text-slate-500">"Job"</dt><dd class="col-span-2">{if s.job == JobKind::Rollback { "rollback" } else { "run" }} " · attempt " {s.attempt}</dd>
                {s.lease.clone().map(|l| view! {
                    <dt class="text-slate-500">"Worker"</dt><dd class="col-span-2 break-all">{l.worker} " · lease until " {format_time(l.expires_at)}</dd>
                })}
                {s.approval_id.map(|a| view! {
                    <dt class="text-slate-500">"Approval"</dt><dd class="col-span-2"><a href=format!("/approvals/{a}") class="text-indigo-600 hover:underline">"#" {a}</a></dd>
                })}
                {s.error.clone().map(|e| view! { <dt class="text-slate-500">"Error"</dt><dd class="col-span-2 break-words text-rose-700">{e}</dd> })}
            </dl>
            {s.output.clone().map(|o| view! { <pre class=format!("mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-all rounded bg-white p-2 text-xs text-slate-700 {SCROLL_FOCUS}") tabindex="0" data-testid="step-output">{last_lines(&o, 40)}</pre> })}
            {(!attempts.is_empty()).then(|| view! {
                <h4 class="mt-3 text-xs font-semibold text-slate-500">"Attempts"</h4>
                <ol class="mt-1 space-y-1 text-xs" data-testid="step-attempts">
                    {attempts.into_iter().map(|a| view! {
                        <li class="break-words">
                            {if a.job == JobKind::Rollback { "rollback" } else { "run" }} " " {a.attempt} " · " <span class="font-medium">{a.outcome.replace('_', " ")}</span>
                            " · " {a.worker.clone()} " · " {format_time(a.started_at)}
                            {a.ended_at.map(|e| format!(" · {}", format_duration(e - a.started_at)))}
                            {a.error.clone().map(|e| view! { <span class="block text-rose-700">{e}</span> })}
                        </li>
                    }).collect_view()}
                </ol>
            })}
        </div>
    }
}
