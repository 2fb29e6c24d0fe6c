//! Plan execution use cases: execute (at once, or after a plan approval), cancel, the worker
//! protocol (claim with long-poll, heartbeat, complete, fail, release) and the executor task
//! (expired leases, decided approvals). Each transition is one transaction: the rows the state
//! machine changed, their attempts, any approval it opened, and the events, together.

use crate::audit::{Action as AuditAction, Actor, Entry, Links};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

use super::model::*;
use super::store::{self, AttemptOutcome, PlanRunRow, Report, StoredStep};
use super::view::*;
use crate::approvals::model::{ApprovalStatus, ExpiryOutcome};
use crate::approvals::service::NewApproval;
use crate::auth::model::{Permission, Principal};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::{EventKind, NewEvent, Subject};
use crate::plan::model::{Plan, PlanStatus};
use crate::plan::verdict::Verdict;
use crate::state::AppState;
use crate::storage::{now_ms, Backend, Tx};

/// The tool name plan approvals are requested for. Tool ids cannot contain `/`, so it never
/// names a registered tool.
pub const PLAN_APPROVAL_TOOL: &str = "nofx/execute-plan";
/// The longest a claim may wait for a step.
pub const MAX_WAIT_S: u64 = 60;
/// Bounds of what workers send.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;
pub const MAX_ERROR_BYTES: usize = 4 * 1024;
pub const MAX_TOOLS: usize = 50;

/// 403 `feature_disabled` naming the flag.
pub fn require_execute_flag(state: &AppState) -> AppResult<()> {
    if state.config.flags.planner_execute {
        return Ok(());
    }
    Err(AppError::forbidden(
        ErrorCode::FeatureDisabled,
        "Plan execution is switched off on this server; set FEATURE_PLANNER_EXECUTE=on to execute plans and serve workers.",
    )
    .with("flag", "FEATURE_PLANNER_EXECUTE"))
}

/// What a worker receives about its step, fixed when the plan starts (stored as `work`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Work {
    token: String,
    item: JobItem,
    rollback: Option<String>,
    required_approvals: i64,
    approval_expires_in_s: i64,
}

fn work_of(s: &StoredStep) -> AppResult<Work> {
    crate::storage::json_column("step_runs", s.plan_id, "work", &s.work)
}

/// The plan's steps as new step runs, in topological order (by wave, then plan order).
fn prepare(plan: &Plan, expiry: &HashMap<String, Option<i64>>, default_expiry_s: i64) -> AppResult<Vec<StoredStep>> {
    let mut order: Vec<usize> = (0..plan.steps.len()).collect();
    if plan.steps.iter().any(|s| s.wave.is_none()) {
        return Err(AppError::conflict(
            ErrorCode::PlanBlocked,
            "This plan has steps in a dependency cycle, so it cannot run; fix the dependencies and plan again.",
        ));
    }
    order.sort_by_key(|&i| (plan.steps[i].wave, i));
    let idx_of: HashMap<&str, usize> = order.iter().enumerate().map(|(idx, &i)| (plan.steps[i].id.as_str(), idx)).collect();
    let mut dependencies = vec![];
    for &i in &order {
        let deps: Option<Vec<usize>> = plan.steps[i].depends_on.iter().map(|d| idx_of.get(d.as_str()).copied()).collect();
        let mut deps = deps
            .ok_or_else(|| AppError::conflict(ErrorCode::PlanBlocked, "A step depends on a step that is not in this plan; plan again."))?;
        deps.sort_unstable();
        deps.dedup();
        dependencies.push(deps);
    }
    let dependents = Graph::dependents_of(&dependencies);
    let mut out = Vec::with_capacity(order.len());
    for (idx, &i) in order.iter().enumerate() {
        let s = &plan.steps[i];
        let undo = match (s.mutating, &s.rollback) {
            (false, _) => Undo::Nothing,
            (true, Some(_)) => Undo::Recipe,
            (true, None) => Undo::Impossible,
        };
        let work = Work {
            token: s.idempotency_token.clone(),
            item: JobItem { id: s.backlog_item_id, title: s.item_title.clone(), pack_id: s.pack_id },
            rollback: s.rollback.clone(),
            required_approvals: s.required_approvals,
            approval_expires_in_s: expiry.get(&s.tool).copied().flatten().unwrap_or(default_expiry_s),
        };
        out.push(StoredStep {
            plan_id: plan.id,
            idx,
            step_id: s.id.clone(),
            tool: s.tool.clone(),
            run: StepRun::new(dependencies[idx].len() as u32, s.required_approvals > 0),
            approval_id: None,
            undo,
            dependencies: dependencies[idx].clone(),
            dependents: dependents[idx].clone(),
            work: serde_json::to_string(&work).map_err(|_| AppError::internal())?,
        });
    }
    Ok(out)
}

/// The worst verdict of the plan and of its steps.
fn worst_verdict(plan: &Plan) -> Verdict {
    plan.verdicts.iter().map(|v| v.verdict).chain(plan.steps.iter().map(|s| s.verdict)).max().unwrap_or(Verdict::Allow)
}

/// Whether the gates blocked the plan (whatever overrides lift now).
fn gates_block(plan: &Plan) -> bool {
    plan.verdicts.iter().any(|v| v.verdict == Verdict::Block)
}

/// Plan `plan`'s audit links: the plan, its items and their packs.
fn plan_links(plan: &Plan) -> Links {
    Links::plan(plan.id).with_items(plan.items.iter().map(|i| i.id), plan.groups.iter().map(|g| g.pack_id))
}

/// Events and follow-ups one transaction produced, announced after its commit.
#[derive(Default)]
struct Effects {
    events: Vec<NewEvent>,
    /// Audit records beyond those the events stand for (see `audit::model::from_event`).
    audit: Vec<Entry>,
    approvals_opened: bool,
}

fn plan_event(kind: EventKind, plan_id: i64, payload: serde_json::Value) -> NewEvent {
    NewEvent { kind, subject: Subject::Plan(plan_id), payload }
}

fn step_event(kind: EventKind, s: &StoredStep, extra: serde_json::Value) -> NewEvent {
    let mut payload = json!({
        "plan_id": s.plan_id, "step_id": s.step_id, "tool": s.tool, "state": s.run.state, "job": s.run.job,
        "attempt": s.run.attempt, "approval_id": s.approval_id,
    });
    if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    plan_event(kind, s.plan_id, payload)
}

/// The event a step's change announces, if any.
fn step_change_event(before: &StepRun, s: &StoredStep) -> Option<NewEvent> {
    use StepState::*;
    let after = &s.run;
    let kind = match (before.state, after.state) {
        (Running, Claimable) => EventKind::StepRetrying,
        (Compensating, Compensating) if before.lease.is_some() && after.lease.is_none() => EventKind::StepRetrying,
        (a, b) if a == b => return None,
        (_, Claimable) => EventKind::StepQueued,
        (_, Compensating) => EventKind::StepQueued,
        (_, WaitingApproval) => EventKind::StepWaitingApproval,
        (_, Running) => EventKind::StepStarted,
        (_, Succeeded) if before.state == Running => EventKind::StepSucceeded,
        (_, Failed) => EventKind::StepFailed,
        (_, Compensated) => EventKind::StepCompensated,
        (_, CompensationFailed) => EventKind::StepCompensated,
        _ => return None,
    };
    // The worker whose report (or lost lease) ended the attempt.
    let reporter = before.lease.as_ref().map(|l| l.worker.clone());
    let extra = match kind {
        EventKind::StepRetrying => json!({"not_before": after.not_before, "worker": reporter}),
        EventKind::StepCompensated => json!({"ok": after.state == Compensated, "worker": reporter}),
        EventKind::StepStarted => json!({"worker": after.lease.as_ref().map(|l| l.worker.clone()),
            "lease_expires_at": after.lease.as_ref().map(|l| l.expires_at)}),
        EventKind::StepSucceeded | EventKind::StepFailed => json!({"worker": reporter}),
        _ => json!({}),
    };
    Some(step_event(kind, s, extra))
}

/// Saves the steps that changed (`before[i]` is `after[i]`'s state when loaded), opening the
/// approvals of steps that now wait for one, and collects their events.
async fn save_changes(
    tx: &mut Tx,
    run: &PlanRunRow,
    before: &[StepRun],
    after: &mut [StoredStep],
    fx: &mut Effects,
    now: i64,
) -> AppResult<()> {
    for (b, s) in before.iter().zip(after.iter_mut()) {
        if *b == s.run {
            continue;
        }
        if s.run.state == StepState::WaitingApproval && b.state != StepState::WaitingApproval {
            open_step_approval(tx, run, s, fx, now).await?;
        }
        store::save_step(tx, s, now).await?;
        if let Some(e) = step_change_event(b, s) {
            fx.events.push(e);
        }
    }
    Ok(())
}

/// Asks reviewers for the step (its tool is sensitive): the request links the plan, step, item
/// and pack, and is made in the name of whoever executed the plan.
async fn open_step_approval(tx: &mut Tx, run: &PlanRunRow, s: &mut StoredStep, fx: &mut Effects, now: i64) -> AppResult<()> {
    let work = work_of(s)?;
    let new = NewApproval {
        tool_id: s.tool.clone(),
        args: json!({"plan_id": s.plan_id, "step_id": s.step_id, "idempotency_token": work.token, "item": work.item.title}),
        context: json!({"reason": format!("Step {} of plan {} runs `{}` for “{}”.", s.step_id, s.plan_id, s.tool, work.item.title),
            "plan": format!("/plans/{}", s.plan_id)}),
        plan_id: Some(s.plan_id),
        step_id: Some(s.step_id.clone()),
        backlog_item_id: Some(work.item.id),
        pack_id: Some(work.item.pack_id),
        requester: run.requested_by.clone(),
        required_approvals: work.required_approvals.max(1),
        expires_at: now + work.approval_expires_in_s * 1000,
        expiry_outcome: ExpiryOutcome::Deny,
    };
    let (approval, event) = crate::approvals::service::open(tx, &new, now).await?;
    s.approval_id = Some(approval.id);
    fx.events.push(event);
    fx.approvals_opened = true;
    Ok(())
}

/// The whole plan's state machines and graph, for the transitions that need all of it (a stop,
/// and everything while it rolls back).
struct Whole {
    steps: Vec<StoredStep>,
    before: Vec<StepRun>,
    runs: Vec<StepRun>,
    undo: Vec<Undo>,
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl Whole {
    async fn load(tx: &mut Tx, backend: Backend, plan_id: i64) -> AppResult<Whole> {
        let steps = store::lock_all_steps(tx, backend, plan_id).await?;
        let runs: Vec<StepRun> = steps.iter().map(|s| s.run.clone()).collect();
        Ok(Whole {
            before: runs.clone(),
            runs,
            undo: steps.iter().map(|s| s.undo).collect(),
            dependencies: steps.iter().map(|s| s.dependencies.clone()).collect(),
            dependents: steps.iter().map(|s| s.dependents.clone()).collect(),
            steps,
        })
    }

    /// Applies `f` to the runs with the graph.
    fn apply<T>(&mut self, f: impl FnOnce(&mut [StepRun], &Graph) -> T) -> T {
        let graph = Graph { undo: &self.undo, dependencies: &self.dependencies, dependents: &self.dependents };
        f(&mut self.runs, &graph)
    }

    async fn save(mut self, tx: &mut Tx, run: &mut PlanRunRow, fx: &mut Effects, now: i64) -> AppResult<()> {
        for (s, r) in self.steps.iter_mut().zip(self.runs.iter()) {
            s.run = r.clone();
        }
        save_changes(tx, run, &self.before, &mut self.steps, fx, now).await?;
        if let (PlanStatus::RollingBack, Some(reason)) = (run.status, run.stop_reason) {
            if let Some(outcome) = stopped_outcome(&self.runs, reason) {
                finish_run(run, outcome, fx, now);
            }
        }
        Ok(())
    }
}

fn finish_run(run: &mut PlanRunRow, outcome: RunStatus, fx: &mut Effects, now: i64) {
    let (status, kind) = match outcome {
        RunStatus::Succeeded => (PlanStatus::Succeeded, EventKind::PlanSucceeded),
        RunStatus::RolledBack => (PlanStatus::RolledBack, EventKind::PlanRolledBack),
        RunStatus::Cancelled => (PlanStatus::Cancelled, EventKind::PlanCancelled),
        RunStatus::Failed => (PlanStatus::Failed, EventKind::PlanFailed),
        RunStatus::Running => (PlanStatus::Running, EventKind::PlanStarted),
        RunStatus::RollingBack => (PlanStatus::RollingBack, EventKind::PlanStarted),
    };
    run.status = status;
    run.finished_at = Some(now);
    fx.events.push(plan_event(
        kind,
        run.plan_id,
        json!({"plan_id": run.plan_id, "status": status, "stop_reason": run.stop_reason,
            "steps_total": run.steps_total, "steps_succeeded": run.steps_succeeded}),
    ));
}

/// Stops a running plan (a step failed for good, or a cancel), inside the caller's transaction.
async fn stop_plan(tx: &mut Tx, backend: Backend, run: &mut PlanRunRow, reason: StopReason, fx: &mut Effects, now: i64) -> AppResult<()> {
    let mut whole = Whole::load(tx, backend, run.plan_id).await?;
    whole.apply(stop);
    run.status = PlanStatus::RollingBack;
    run.stop_reason = Some(reason);
    whole.save(tx, run, fx, now).await
}

/// What happened to a step's job, handled for the plan: dependents released, the plan stopped,
/// the rollbacks moved on, or the plan finished. `step` holds the job's new state already.
async fn job_ended(
    tx: &mut Tx,
    backend: Backend,
    run: &mut PlanRunRow,
    (before, mut step): (StepRun, StoredStep),
    ended: Option<Ended>,
    fx: &mut Effects,
    now: i64,
) -> AppResult<()> {
    if run.status == PlanStatus::Running {
        match ended {
            Some(Ended::Succeeded) => {
                run.steps_succeeded += 1;
                let mut dependents = store::lock_steps(tx, backend, run.plan_id, &step.dependents).await?;
                let dependents_before: Vec<StepRun> = dependents.iter().map(|d| d.run.clone()).collect();
                for d in dependents.iter_mut() {
                    dependency_succeeded(&mut d.run);
                }
                save_changes(tx, run, &[before], std::slice::from_mut(&mut step), fx, now).await?;
                save_changes(tx, run, &dependents_before, &mut dependents, fx, now).await?;
                if run.steps_succeeded >= run.steps_total {
                    finish_run(run, RunStatus::Succeeded, fx, now);
                }
                return Ok(());
            }
            Some(Ended::Failed) => {
                save_changes(tx, run, &[before], std::slice::from_mut(&mut step), fx, now).await?;
                return stop_plan(tx, backend, run, StopReason::StepFailed, fx, now).await;
            }
            _ => return save_changes(tx, run, &[before], std::slice::from_mut(&mut step), fx, now).await,
        }
    }
    // Stopping: the whole plan, with this step's new state in it.
    let mut whole = Whole::load(tx, backend, run.plan_id).await?;
    let i = step.idx;
    whole.before[i] = before;
    whole.runs[i] = step.run.clone();
    whole.steps[i] = step;
    match ended {
        Some(Ended::Succeeded) => {
            run.steps_succeeded += 1;
            whole.apply(|runs, graph| succeeded_while_stopping(runs, graph, i));
        }
        Some(Ended::Compensated | Ended::CompensationFailed | Ended::Failed) => {
            whole.apply(|runs, graph| undo_finished(runs, graph, i));
        }
        Some(Ended::Retry { .. }) | None => {}
    }
    whole.save(tx, run, fx, now).await
}

/// A run's write records its effects' audit entries and events in its own transaction.
impl crate::audit::service::Recorded for Effects {
    fn events(&self) -> &[NewEvent] {
        &self.events
    }
    fn take_entries(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.audit)
    }
}

/// Runs `op` in a recorded write transaction, then tells the expiry task about approvals it opened.
async fn write_run<T: Send + 'static>(
    state: &AppState,
    actor: Actor,
    op: impl for<'c> Fn(&'c mut Tx, Backend, &'c mut Effects) -> futures::future::BoxFuture<'c, AppResult<T>> + Send + Sync + 'static,
) -> AppResult<T> {
    let (value, fx) = crate::audit::service::write_recorded(state, actor, op).await?;
    if fx.approvals_opened {
        state.expiry.notify_one();
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Execute and cancel

fn blocked_error(plan: &Plan) -> AppError {
    let blocking: Vec<_> = plan
        .verdicts
        .iter()
        .filter(|v| v.verdict == Verdict::Block)
        .map(|v| json!({"gate": v.gate, "reasons": v.reasons.iter().take(5).collect::<Vec<_>>(), "remediation": v.remediation}))
        .collect();
    let gates: Vec<&str> = plan.verdicts.iter().filter(|v| v.verdict == Verdict::Block).map(|v| v.gate.as_str()).collect();
    AppError::conflict(
        ErrorCode::PlanBlocked,
        format!(
            "Plan {} is blocked by the {} gate{}, so it cannot run; follow the remediation, plan again, or ask for an override.",
            plan.id,
            gates.join(" and "),
            if gates.len() == 1 { "" } else { "s" }
        ),
    )
    .with("blocking", blocking)
}

fn already_started(plan_id: i64, status: PlanStatus) -> AppError {
    AppError::conflict(ErrorCode::AlreadyStarted, format!("Plan {plan_id} was executed already; it is {} now.", status.label()))
        .with("status", status.as_str())
}

/// Starts the run inside the caller's transaction: the plan is approved (`plan.approved`, once:
/// only here), its steps are stored and the first ones queued or sent for approval.
async fn start_run(
    tx: &mut Tx,
    run: &mut PlanRunRow,
    mut steps: Vec<StoredStep>,
    approved_by: &str,
    fx: &mut Effects,
    now: i64,
) -> AppResult<()> {
    run.status = PlanStatus::Running;
    run.approved_by = Some(approved_by.to_string());
    run.approved_at = Some(now);
    run.started_at = Some(now);
    fx.events.push(plan_event(
        EventKind::PlanApproved,
        run.plan_id,
        json!({"plan_id": run.plan_id, "approved_by": approved_by, "approval_id": run.approval_id, "requested_by": run.requested_by}),
    ));
    fx.events.push(plan_event(EventKind::PlanStarted, run.plan_id, json!({"plan_id": run.plan_id, "steps_total": run.steps_total})));
    for s in steps.iter_mut() {
        if s.run.state == StepState::WaitingApproval {
            open_step_approval(tx, run, s, fx, now).await?;
        }
    }
    store::insert_steps(tx, &steps, now).await?;
    for s in &steps {
        match s.run.state {
            StepState::Claimable => fx.events.push(step_event(EventKind::StepQueued, s, json!({}))),
            StepState::WaitingApproval => fx.events.push(step_event(EventKind::StepWaitingApproval, s, json!({}))),
            _ => {}
        }
    }
    if run.steps_total == 0 {
        finish_run(run, RunStatus::Succeeded, fx, now);
    }
    store::save_run(tx, run, now).await
}

/// Executes a ready plan: it starts at once when no verdict needs a review, or waits in the
/// inbox as a plan approval; a blocked plan is refused (409 `plan_blocked`).
pub async fn execute(state: &AppState, who: &Principal, plan_id: i64) -> AppResult<PlanRun> {
    require_execute_flag(state)?;
    who.require(Permission::ExecutePlan)?;
    let plan = crate::planner::store::get_plan(&state.db, plan_id).await?.ok_or_else(|| AppError::not_found(&format!("Plan {plan_id}")))?;
    let policy = &state.policy.execution;
    let start = may_start(plan.status == PlanStatus::Blocked, plan.status.is_executing(), worst_verdict(&plan), policy.approve_at())
        .map_err(|r| match r {
            StartRefusal::Blocked => blocked_error(&plan),
            StartRefusal::AlreadyStarted => already_started(plan_id, plan.status),
        })?;
    let expiry: HashMap<String, Option<i64>> =
        crate::backlog::store::list_tools(&state.db).await?.into_iter().map(|t| (t.id, t.approval_expires_in_s)).collect();
    let steps = prepare(&plan, &expiry, state.config.approval_expires_in_s)?;
    let requester = who.identity();
    let summary = json!({"plan_id": plan_id, "steps": plan.steps.len(), "waves": plan.waves.len(),
        "verdict_counts": plan.verdict_counts, "estimate": plan.estimate, "packs": plan.groups.iter().map(|g| &g.pack_name).collect::<Vec<_>>()});
    let warnings: Vec<String> = plan
        .verdicts
        .iter()
        .filter(|v| v.verdict == Verdict::Warn)
        .flat_map(|v| v.reasons.iter().take(3).map(move |r| format!("{}: {r}", v.gate.as_str())))
        .collect();
    let quorum = policy.plan_required_approvals;
    let expires_in_s = state.config.approval_expires_in_s;
    let blocked = blocked_error(&plan);
    let gate_blocked = gates_block(&plan);
    let actor = Actor::of(who);
    let requested = Entry::new(&actor, AuditAction::PlanExecuteRequested, format!("plan:{plan_id}"), plan_links(&plan), "Pressed Execute.")
        .fields(json!({"start": if start == Start::Now { "now" } else { "after_plan_approval" }, "verdict_counts": plan.verdict_counts}));
    write_run(state, actor, move |tx, backend, fx| {
        let (steps, requester, summary, warnings, blocked) =
            (steps.clone(), requester.clone(), summary.clone(), warnings.clone(), blocked.clone());
        fx.audit.push(requested.clone());
        Box::pin(async move {
            let now = now_ms();
            if let Some(existing) = store::lock_run(tx, backend, plan_id).await? {
                return Err(already_started(plan_id, existing.status));
            }
            // Again at the moment of starting: an override read as in force above may have
            // run out since.
            if store::blocked_at(tx, plan_id, gate_blocked, now).await? {
                return Err(blocked.clone());
            }
            let mut run = PlanRunRow {
                plan_id,
                status: PlanStatus::AwaitingApproval,
                stop_reason: None,
                approval_id: None,
                requested_by: requester.clone(),
                requested_at: now,
                approved_by: None,
                approved_at: None,
                started_at: None,
                finished_at: None,
                steps_total: steps.len() as i64,
                steps_succeeded: 0,
                stored_status: PlanStatus::Ready,
            };
            match start {
                Start::Now => {
                    store::insert_run(tx, &run, now).await?;
                    start_run(tx, &mut run, steps, "policy", fx, now).await?;
                }
                Start::AfterApproval => {
                    let new = NewApproval {
                        tool_id: PLAN_APPROVAL_TOOL.into(),
                        args: summary,
                        context: json!({"reason": format!("Execute plan {plan_id}: some of its verdicts warn."), "warnings": warnings,
                            "plan": format!("/plans/{plan_id}")}),
                        plan_id: Some(plan_id),
                        step_id: None,
                        backlog_item_id: None,
                        pack_id: None,
                        requester: requester.clone(),
                        required_approvals: quorum,
                        expires_at: now + expires_in_s * 1000,
                        expiry_outcome: ExpiryOutcome::Deny,
                    };
                    let (approval, event) = crate::approvals::service::open(tx, &new, now).await?;
                    run.approval_id = Some(approval.id);
                    fx.events.push(event);
                    fx.approvals_opened = true;
                    store::insert_run(tx, &run, now).await?;
                    store::set_plan_status(tx, plan_id, PlanStatus::AwaitingApproval, now).await?;
                }
            }
            Ok(())
        })
    })
    .await?;
    tracing::info!(plan = plan_id, by = %who.identity(), "plan executed");
    run_view(state, plan_id).await
}

/// Cancels a plan that waits for its approval or runs: nothing new starts, running steps are
/// told to stop, and what succeeded is rolled back.
pub async fn cancel(state: &AppState, who: &Principal, plan_id: i64, reason: &str) -> AppResult<PlanRun> {
    who.require(Permission::ExecutePlan)?;
    let reason = reason.trim().to_string();
    if reason.chars().count() > 1000 {
        return Err(AppError::unprocessable(ErrorCode::InvalidField, "`reason` is too long (1,000 characters at most)."));
    }
    let actor = who.identity();
    let by = Actor::of(who);
    let requested =
        Entry::new(&by, AuditAction::PlanCancelRequested, format!("plan:{plan_id}"), Links::plan(plan_id), "Cancelled the plan.")
            .fields(json!({"reason": reason}));
    let approval = write_run(state, by, move |tx, backend, fx| {
        let (reason, actor) = (reason.clone(), actor.clone());
        fx.audit.push(requested.clone());
        Box::pin(async move {
            let now = now_ms();
            let mut run = store::lock_run(tx, backend, plan_id).await?.ok_or_else(|| not_executed(plan_id))?;
            let mut cancelled_approval = None;
            match run.status {
                PlanStatus::AwaitingApproval => {
                    run.status = PlanStatus::Cancelled;
                    run.stop_reason = Some(StopReason::Cancelled);
                    run.finished_at = Some(now);
                    if let Some(id) = run.approval_id {
                        let note = format!("The plan was cancelled by {actor}.");
                        if let Some(e) = crate::approvals::service::withdraw(tx, backend, id, &actor, &note, now).await? {
                            fx.events.push(e);
                            cancelled_approval = Some(id);
                        }
                    }
                    fx.events.push(plan_event(
                        EventKind::PlanCancelled,
                        plan_id,
                        json!({"plan_id": plan_id, "status": "cancelled", "by": actor, "reason": reason}),
                    ));
                }
                PlanStatus::Running => stop_plan(tx, backend, &mut run, StopReason::Cancelled, fx, now).await?,
                other => {
                    return Err(AppError::conflict(
                        ErrorCode::NotRunning,
                        format!("Plan {plan_id} is {}; only a plan that runs or awaits approval can be cancelled.", other.label()),
                    )
                    .with("status", other.as_str()))
                }
            }
            store::save_run(tx, &run, now).await?;
            Ok(cancelled_approval)
        })
    })
    .await?;
    if let Some(id) = approval {
        state.waiters.wake(id);
    }
    tracing::info!(plan = plan_id, by = %who.identity(), "plan cancelled");
    run_view(state, plan_id).await
}

fn not_executed(plan_id: i64) -> AppError {
    AppError::conflict(ErrorCode::NotRunning, format!("Plan {plan_id} has not been executed; there is nothing to cancel."))
        .with("status", "ready")
}

/// The plan's run, for anyone who may read.
pub async fn get_run(state: &AppState, who: &Principal, plan_id: i64) -> AppResult<PlanRun> {
    who.require(Permission::Read)?;
    if !crate::planner::store::plan_exists(&state.db, plan_id).await? {
        return Err(AppError::not_found(&format!("Plan {plan_id}")));
    }
    run_view(state, plan_id).await
}

/// The plan's run when it was executed (`None` before), for the plan page.
pub async fn run_if_any(state: &AppState, who: &Principal, plan_id: i64) -> AppResult<Option<PlanRun>> {
    who.require(Permission::Read)?;
    if store::get_run(&state.db, plan_id).await?.is_none() {
        return Ok(None);
    }
    run_view(state, plan_id).await.map(Some)
}

async fn run_view(state: &AppState, plan_id: i64) -> AppResult<PlanRun> {
    let Some(r) = store::get_run(&state.db, plan_id).await? else {
        return Err(AppError::not_found(&format!("A run of plan {plan_id}")));
    };
    let steps = store::step_views(&state.db, plan_id).await?;
    let ids: HashMap<i64, String> = steps.iter().map(|s| (s.idx, s.step_id.clone())).collect();
    let parse = |table: &str, v: &str, what: &str| crate::storage::corrupt(table, plan_id, what, v);
    let steps = steps
        .into_iter()
        .map(|s| {
            Ok(StepRunView {
                state: StepState::parse(&s.state).ok_or_else(|| parse("step_runs", &s.state, "state"))?,
                job: JobKind::parse(&s.job).ok_or_else(|| parse("step_runs", &s.job, "job"))?,
                lease: match (s.lease_worker, s.lease_expires_at) {
                    (Some(worker), Some(expires_at)) => Some(Lease { worker, expires_at }),
                    _ => None,
                },
                step_id: s.step_id,
                tool: s.tool,
                attempt: s.attempt,
                not_before: s.not_before,
                approval_id: s.approval_id,
                stop_requested: s.stop_requested != 0,
                output: s.output,
                error: s.error,
                updated_at: s.updated_at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let attempts = store::attempts(&state.db, plan_id, 200)
        .await?
        .into_iter()
        .map(|a| {
            Ok(AttemptView {
                step_id: ids.get(&a.step_idx).cloned().unwrap_or_default(),
                job: JobKind::parse(&a.job).ok_or_else(|| parse("step_attempts", &a.job, "job"))?,
                attempt: a.attempt,
                fence: a.fence,
                worker: a.worker,
                started_at: a.started_at,
                ended_at: a.ended_at,
                outcome: a.outcome,
                exit_code: a.exit_code,
                output: a.output,
                error: a.error,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(PlanRun {
        plan_id,
        status: r.status,
        stop_reason: r.stop_reason,
        approval_id: r.approval_id,
        requested_by: r.requested_by,
        requested_at: r.requested_at,
        approved_by: r.approved_by,
        approved_at: r.approved_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        steps_total: r.steps_total,
        steps_succeeded: r.steps_succeeded,
        steps,
        attempts,
    })
}

// ---------------------------------------------------------------------------------------------
// The worker protocol

/// `POST /api/worker/claim`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The tools this worker serves (at least one).
    pub tools: Vec<String>,
    /// A name for this worker process (host, pid), shown on the plan page; default `worker`.
    pub worker: Option<String>,
    /// Wait up to this many seconds (at most 60) for a step; 0 or absent answers at once.
    pub wait_s: Option<u64>,
}

/// A worker's report: the fence of its claim, and what happened.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkerReport {
    pub fence: i64,
    /// The tail of the command's output (16 KB at most; longer is cut from the front).
    pub output: Option<String>,
    pub exit_code: Option<i64>,
    /// What went wrong (`fail` only; 4 KB at most).
    pub error: Option<String>,
    /// `fail` only: whether another attempt may follow (default true).
    pub retryable: Option<bool>,
}

fn worker_name(who: &Principal, label: Option<&str>) -> AppResult<String> {
    let label = label.map(str::trim).filter(|l| !l.is_empty()).unwrap_or("worker");
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            "`worker` must be a short name without control characters (100 at most), like `build-host-7/4711`.",
        ));
    }
    Ok(format!("{}/{label}", who.identity()))
}

fn refusal(r: Refusal, plan_id: i64, step_id: &str) -> AppError {
    match r {
        Refusal::LeaseLost => AppError::conflict(
            ErrorCode::LeaseLost,
            format!("Step {step_id} of plan {plan_id} is not yours any more (its lease was replaced or it ended); stop working on it."),
        ),
        Refusal::LeaseExpired => AppError::conflict(
            ErrorCode::LeaseExpired,
            format!("Your lease on step {step_id} of plan {plan_id} ran out before this report; the step goes to another attempt."),
        ),
        Refusal::NotClaimable(s) => AppError::conflict(ErrorCode::NotRunning, format!("Step {step_id} is {}.", s.label())),
    }
}

fn job_of(s: &StoredStep, c: &Claimed, lease_ms: i64) -> AppResult<Job> {
    let work = work_of(s)?;
    Ok(Job {
        plan_id: s.plan_id,
        step_id: s.step_id.clone(),
        job: c.job,
        tool: s.tool.clone(),
        idempotency_token: work.token,
        attempt: c.attempt as i64,
        fence: c.fence,
        lease_expires_at: c.expires_at,
        heartbeat_interval_ms: lease_ms / 3,
        item: work.item,
        rollback: if s.undo == Undo::Recipe { work.rollback } else { None },
        links: JobLinks::of(s.plan_id, &s.step_id),
    })
}

/// Claims the longest-waiting claimable step of `tools`, waiting up to `wait_s` for one: every
/// committed event (on any instance) wakes the wait, so a step reaches an idle worker as soon as
/// it becomes claimable. `None` when none came in time.
pub async fn claim(state: &AppState, who: &Principal, req: &ClaimRequest) -> AppResult<Option<Job>> {
    require_execute_flag(state)?;
    who.require(Permission::RunSteps)?;
    let worker = worker_name(who, req.worker.as_deref())?;
    let mut tools: Vec<String> = req.tools.iter().map(|t| t.trim().to_string()).collect();
    tools.sort();
    tools.dedup();
    if tools.is_empty() || tools.len() > MAX_TOOLS {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            format!("Name 1 to {MAX_TOOLS} tools this worker serves in `tools`."),
        ));
    }
    if let Some(bad) = tools.iter().find(|t| !crate::backlog::model::is_valid_tool_id(t)) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            format!("`{}` is not a tool id; tool ids look like `db_migrate` or `deploy:prod`.", clip_front(bad, 80)),
        ));
    }
    let wait = req.wait_s.unwrap_or(0);
    if wait > MAX_WAIT_S {
        return Err(AppError::unprocessable(ErrorCode::InvalidField, format!("`wait_s` is at most {MAX_WAIT_S} seconds.")));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let lease_ms = state.policy.execution.lease_ms();
    loop {
        let mut signals = state.events.subscribe();
        let now = now_ms();
        let next = store::next_claim_at(&state.db, &tools).await?;
        let mut contended = false;
        if next.is_some_and(|at| at <= now) {
            if let Some(job) = try_claim(state, &tools, &worker, lease_ms).await? {
                return Ok(Some(job));
            }
            contended = true;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Ok(None);
        }
        let mut until = remaining;
        if let Some(at) = next.filter(|at| *at > now) {
            until = until.min(Duration::from_millis((at - now) as u64));
        }
        if contended {
            // Another claimer holds the step (PostgreSQL skips locked rows): look again shortly.
            until = until.min(Duration::from_millis(5));
        }
        tokio::select! {
            _ = signals.recv() => {}
            _ = tokio::time::sleep(until) => {}
        }
    }
}

async fn try_claim(state: &AppState, tools: &[String], worker: &str, lease_ms: i64) -> AppResult<Option<Job>> {
    let (tools, worker) = (tools.to_vec(), worker.to_string());
    write_run(state, Actor::system(), move |tx, backend, fx| {
        let (tools, worker) = (tools.clone(), worker.clone());
        Box::pin(async move {
            let now = now_ms();
            let Some(mut step) = store::next_claimable(tx, backend, &tools, now).await? else { return Ok(None) };
            let before = step.run.clone();
            let Ok(claimed) = super::model::claim(&mut step.run, &worker, now, lease_ms) else { return Ok(None) };
            store::save_step(tx, &step, now).await?;
            store::insert_attempt(tx, &step, &claimed, &worker, now).await?;
            if let Some(e) = step_change_event(&before, &step) {
                fx.events.push(e);
            } else if claimed.job == JobKind::Rollback {
                fx.events.push(step_event(
                    EventKind::StepStarted,
                    &step,
                    json!({"worker": worker, "lease_expires_at": claimed.expires_at}),
                ));
            }
            Ok(Some(job_of(&step, &claimed, lease_ms)?))
        })
    })
    .await
    .inspect(|job| {
        if let Some(j) = job {
            state.executor.leased_until(j.lease_expires_at);
        }
    })
}

/// Which report a worker sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Heartbeat,
    Complete,
    Fail,
    Release,
}

fn clip_front(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// A worker's heartbeat or report on the step it holds. The lease must be the caller's (its
/// worker key) and the fence the newest; refusals (409) change nothing.
pub async fn report(
    state: &AppState,
    who: &Principal,
    plan_id: i64,
    step_id: &str,
    kind: ReportKind,
    body: &WorkerReport,
) -> AppResult<HeartbeatAnswer> {
    require_execute_flag(state)?;
    who.require(Permission::RunSteps)?;
    if step_id.is_empty() || step_id.len() > 100 {
        return Err(AppError::not_found(&format!("Step {} of plan {plan_id}", clip_front(step_id, 40))));
    }
    if kind == ReportKind::Fail && body.error.as_deref().map(str::trim).unwrap_or("").is_empty() {
        return Err(AppError::unprocessable(
            ErrorCode::MissingField,
            "Say what went wrong in `error`; reviewers read it on the plan page.",
        ));
    }
    if body.error.as_ref().is_some_and(|e| e.len() > MAX_ERROR_BYTES) {
        return Err(AppError::unprocessable(
            ErrorCode::TooLarge,
            "`error` is over 4 KB; send its first lines and put the rest in `output`.",
        ));
    }
    let report = Report {
        exit_code: body.exit_code,
        output: body.output.as_deref().map(|o| clip_front(o, MAX_OUTPUT_BYTES)),
        error: body.error.as_deref().map(|e| e.trim().to_string()),
    };
    let retryable = body.retryable.unwrap_or(true);
    let fence = body.fence;
    let owner = format!("{}/", who.identity());
    let sid = step_id.to_string();
    let lease_ms = state.policy.execution.lease_ms();
    let retry = state.policy.execution.clone();
    let outcome = write_run(state, Actor::of(who), move |tx, backend, fx| {
        let (report, owner, step_id, retry) = (report.clone(), owner.clone(), sid.clone(), retry.clone());
        Box::pin(async move {
            let now = now_ms();
            // The plan first, then the step: the lock order every transition keeps.
            let mut run =
                store::lock_run(tx, backend, plan_id).await?.ok_or_else(|| AppError::not_found(&format!("Plan {plan_id}'s run")))?;
            let mut step = store::lock_step(tx, backend, plan_id, &step_id)
                .await?
                .ok_or_else(|| AppError::not_found(&format!("Step {step_id} of plan {plan_id}")))?;
            if !step.run.lease.as_ref().is_some_and(|l| l.worker.starts_with(&owner)) || step.run.fence != fence {
                return Ok(Err(Refusal::LeaseLost));
            }
            let before = step.run.clone();
            let policy = retry.retry_for(&step.tool);
            let (ended, attempt_outcome) = match kind {
                ReportKind::Heartbeat => {
                    let beat = match heartbeat(&mut step.run, fence, now, lease_ms) {
                        Ok(b) => b,
                        Err(r) => return Ok(Err(r)),
                    };
                    store::save_step(tx, &step, now).await?;
                    if let Some(output) = &report.output {
                        // The output so far, for the plan page while the step runs.
                        store::set_output(tx, &step, output).await?;
                    }
                    return Ok(Ok(HeartbeatAnswer { lease_expires_at: beat.expires_at, stop: beat.stop }));
                }
                ReportKind::Complete => (complete(&mut step.run, fence, now).map(Some), AttemptOutcome::Succeeded),
                ReportKind::Fail => (fail(&mut step.run, fence, retryable, now, &policy).map(Some), AttemptOutcome::Failed),
                ReportKind::Release => (release(&mut step.run, fence, now), AttemptOutcome::Released),
            };
            let ended = match ended {
                Ok(e) => e,
                Err(r) => return Ok(Err(r)),
            };
            store::end_attempt(tx, &step, fence, attempt_outcome, &report, now).await?;
            job_ended(tx, backend, &mut run, (before, step), ended, fx, now).await?;
            store::save_run(tx, &run, now).await?;
            Ok(Ok(HeartbeatAnswer { lease_expires_at: now, stop: false }))
        })
    })
    .await?;
    match outcome {
        Ok(answer) => Ok(answer),
        Err(Refusal::LeaseExpired) => {
            // Too late: the step goes to a new attempt now rather than at the next sweep.
            let _ = expire_lease_of(state, plan_id, step_id).await;
            Err(refusal(Refusal::LeaseExpired, plan_id, step_id))
        }
        Err(r) => Err(refusal(r, plan_id, step_id)),
    }
}

// ---------------------------------------------------------------------------------------------
// The executor task: expired leases and decided approvals

/// Re-queues (or fails) a step whose lease ran out; no-op when it did not.
async fn expire_lease_of(state: &AppState, plan_id: i64, step_id: &str) -> AppResult<()> {
    let step_id = step_id.to_string();
    let policy = state.policy.execution.clone();
    write_run(state, Actor::system(), move |tx, backend, fx| {
        let (step_id, policy) = (step_id.clone(), policy.clone());
        Box::pin(async move {
            let now = now_ms();
            let Some(mut run) = store::lock_run(tx, backend, plan_id).await? else { return Ok(()) };
            let Some(mut step) = store::lock_step(tx, backend, plan_id, &step_id).await? else { return Ok(()) };
            let before = step.run.clone();
            let fence = step.run.fence;
            let Some(ended) = expire_lease(&mut step.run, now, &policy.retry_for(&step.tool)) else { return Ok(()) };
            store::end_attempt(tx, &step, fence, AttemptOutcome::LeaseExpired, &Report::default(), now).await?;
            job_ended(tx, backend, &mut run, (before, step), Some(ended), fx, now).await?;
            store::save_run(tx, &run, now).await
        })
    })
    .await
}

/// A step's approval was decided: it becomes claimable, or fails (and the plan stops).
async fn settle_step_approval(state: &AppState, plan_id: i64, step_id: &str) -> AppResult<()> {
    let step_id = step_id.to_string();
    write_run(state, Actor::system(), move |tx, backend, fx| {
        let step_id = step_id.clone();
        Box::pin(async move {
            let now = now_ms();
            let Some(mut run) = store::lock_run(tx, backend, plan_id).await? else { return Ok(()) };
            let Some(mut step) = store::lock_step(tx, backend, plan_id, &step_id).await? else { return Ok(()) };
            let Some(approval_id) = step.approval_id else { return Ok(()) };
            let Some(go_ahead) = decided(tx, approval_id).await? else { return Ok(()) };
            let before = step.run.clone();
            if before.state != StepState::WaitingApproval {
                return Ok(());
            }
            let ended = approval_decided(&mut step.run, go_ahead);
            job_ended(tx, backend, &mut run, (before, step), ended, fx, now).await?;
            store::save_run(tx, &run, now).await
        })
    })
    .await
}

/// Whether approval `id` lets its caller go ahead, once it is final (`None` while pending).
async fn decided(tx: &mut Tx, id: i64) -> AppResult<Option<bool>> {
    use sqlx::Row;
    let Some(row) = sqlx::query("select status, expiry_outcome from approvals where id = $1").bind(id).fetch_optional(&mut **tx).await?
    else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    let outcome: String = row.try_get("expiry_outcome")?;
    Ok(match ApprovalStatus::parse(&status) {
        Some(ApprovalStatus::Pending) | None => None,
        Some(ApprovalStatus::Approved) => Some(true),
        Some(ApprovalStatus::Expired) => Some(ExpiryOutcome::parse(&outcome) == Some(ExpiryOutcome::Approve)),
        Some(_) => Some(false),
    })
}

/// A plan approval was decided: the plan starts, or is rejected.
async fn settle_plan_approval(state: &AppState, plan_id: i64) -> AppResult<()> {
    let Some(plan) = crate::planner::store::get_plan(&state.db, plan_id).await? else { return Ok(()) };
    let expiry: HashMap<String, Option<i64>> =
        crate::backlog::store::list_tools(&state.db).await?.into_iter().map(|t| (t.id, t.approval_expires_in_s)).collect();
    let steps = prepare(&plan, &expiry, state.config.approval_expires_in_s)?;
    let gate_blocked = gates_block(&plan);
    write_run(state, Actor::system(), move |tx, backend, fx| {
        let steps = steps.clone();
        Box::pin(async move {
            let now = now_ms();
            let Some(mut run) = store::lock_run(tx, backend, plan_id).await? else { return Ok(()) };
            let Some(approval_id) = run.approval_id else { return Ok(()) };
            if run.status != PlanStatus::AwaitingApproval {
                return Ok(());
            }
            let Some(go_ahead) = decided(tx, approval_id).await? else { return Ok(()) };
            // Approved, but the overrides that lifted its blocks ran out while it waited: it
            // does not start (a plan blocked when it would start never runs).
            let lapsed = go_ahead && store::blocked_at(tx, plan_id, gate_blocked, now).await?;
            if go_ahead && !lapsed {
                let approvers = approvers(tx, approval_id).await?;
                start_run(tx, &mut run, steps, &approvers, fx, now).await
            } else {
                run.status = PlanStatus::Rejected;
                run.finished_at = Some(now);
                let reason = if lapsed { "override_expired" } else { "not_approved" };
                fx.events.push(plan_event(
                    EventKind::PlanRejected,
                    plan_id,
                    json!({"plan_id": plan_id, "status": "rejected", "approval_id": approval_id, "reason": reason}),
                ));
                store::save_run(tx, &run, now).await
            }
        })
    })
    .await
}

/// Who approved request `id`, comma-separated (or `expiry` when it went ahead on expiry).
async fn approvers(tx: &mut Tx, id: i64) -> AppResult<String> {
    use sqlx::Row;
    let rows = sqlx::query("select actor from approval_log where approval_id = $1 and kind in ('approve', 'overridden') order by id")
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    let names: Vec<String> = rows.iter().map(|r| r.try_get("actor")).collect::<Result<_, _>>()?;
    Ok(if names.is_empty() { "expiry".into() } else { names.join(", ") })
}

/// One pass: expired leases re-queued, decided approvals applied. Returns the next lease expiry.
pub async fn sweep(state: &AppState) -> AppResult<Option<i64>> {
    for (plan_id, step_id) in store::expired_leases(&state.db, now_ms(), 500).await? {
        if let Err(e) = expire_lease_of(state, plan_id, &step_id).await {
            tracing::warn!(plan = plan_id, step = step_id, error = %e, "could not expire a lease");
        }
    }
    let (steps, plans) = store::settled_approvals(&state.db).await?;
    for (plan_id, step_id) in steps {
        if let Err(e) = settle_step_approval(state, plan_id, &step_id).await {
            tracing::warn!(plan = plan_id, step = step_id, error = %e, "could not apply a step's approval");
        }
    }
    for plan_id in plans {
        if let Err(e) = settle_plan_approval(state, plan_id).await {
            tracing::warn!(plan = plan_id, error = %e, "could not apply a plan's approval");
        }
    }
    store::next_lease_expiry(&state.db).await
}

/// The executor: sweeps at start (a restart picks up where the last run stopped), when an
/// approval linked to a plan is decided on this instance (each instance settles its own
/// decisions; a restart settles any left over), and when the next lease runs out (a new lease
/// that runs out sooner wakes it). Never polls on a fixed interval.
pub fn spawn_executor(state: AppState) {
    tokio::spawn(async move {
        loop {
            state.executor.sweeping();
            let next = match sweep(&state).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "executor sweep failed; trying again in 1 s");
                    Some(now_ms() + 1000)
                }
            };
            state.executor.sleep_until(next);
            let sleep = match next {
                Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64 + 1),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = state.executor.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    });
}
