//! Override use cases: create (at once, or after a second person's approval), list, revoke, and
//! the task that applies reviews and writes expiries. Each change commits with its events, its
//! audit records and the plan's `unblocked_until` in one transaction.

use serde_json::json;
use std::time::Duration;

use super::model::*;
use super::store::{self, NewOverride};
use crate::approvals::model::{ApprovalStatus, ExpiryOutcome};
use crate::approvals::service::NewApproval;
use crate::audit::Actor;
use crate::auth::model::{Permission, Principal, Role};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::{EventKind, NewEvent, Subject};
use crate::plan::model::{Plan, PlanStatus};
use crate::state::AppState;
use crate::storage::{now_ms, Backend, Tx};

/// The tool name of an override's review in the inbox.
pub const REVIEW_TOOL: &str = "nofx/override";

fn rules(state: &AppState) -> Rules {
    let p = &state.policy.overrides;
    Rules { roles: p.roles.clone(), min_justification_chars: p.min_justification_chars as usize, max_minutes: p.max_hours * 60 }
}

fn roles_list(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn refusal(r: Refusal, plan_id: i64, target: &Target) -> AppError {
    let what = target.label();
    match r {
        Refusal::Role { allowed } => AppError::forbidden(
            ErrorCode::Forbidden,
            format!("Your role cannot override gate verdicts; the policy (`[overrides] roles`) allows: {}.", roles_list(&allowed)),
        )
        .with("required_roles", allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        Refusal::HardMandatory { rules } => AppError::forbidden(
            ErrorCode::HardMandatory,
            format!(
                "{} is hard-mandatory ({}): it can never be overridden; change the plan or the items instead.",
                capitalise(&what),
                rules.iter().map(|r| format!("rule `{r}`")).collect::<Vec<_>>().join(", ")
            ),
        )
        .with("rules", rules),
        Refusal::NotBlocking { verdict } => AppError::conflict(
            ErrorCode::NotBlocking,
            format!("{} does not block (it is `{}`), so there is nothing to override.", capitalise(&what), verdict.as_str()),
        )
        .with("verdict", verdict.as_str()),
        Refusal::UnknownStep => {
            AppError::unprocessable(ErrorCode::InvalidField, format!("Plan {plan_id} has no such step; name one of its step ids."))
        }
        Refusal::AlreadyStarted => AppError::conflict(
            ErrorCode::AlreadyStarted,
            format!("Plan {plan_id} was executed already; its verdicts no longer decide anything, so there is nothing to override."),
        ),
        Refusal::JustificationTooShort { min } => AppError::unprocessable(
            ErrorCode::InvalidField,
            format!("Write a `justification` of at least {min} characters: why it is right to proceed anyway, for the audit trail."),
        ),
        Refusal::JustificationTooLong { max } => {
            AppError::unprocessable(ErrorCode::InvalidField, format!("Keep the `justification` under {max} characters."))
        }
        Refusal::ExpiryOutOfRange { max_minutes } => AppError::unprocessable(
            ErrorCode::InvalidField,
            format!("`expires_in_minutes` is between 1 and {max_minutes} (the policy's `[overrides] max_hours`)."),
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn event(kind: EventKind, o: &Override, note: &str) -> NewEvent {
    let (approval, step) = match &o.target {
        Target::Approval { approval_id } => (Some(*approval_id), None),
        Target::StepVerdict { step_id, .. } => (o.review_approval_id, Some(step_id.clone())),
        Target::PlanVerdict { .. } => (o.review_approval_id, None),
    };
    NewEvent {
        kind,
        subject: Subject::Plan(o.plan_id),
        payload: json!({
            "override_id": o.id, "plan_id": o.plan_id, "target": o.target, "target_label": o.target.label(), "step_id": step,
            "approval_id": approval, "review_approval_id": o.review_approval_id, "status": o.status, "justification": o.justification,
            "created_by": o.created_by, "expires_at": o.expires_at, "note": note,
        }),
    }
}

/// Events and their announcements from one transaction.
#[derive(Default)]
struct Effects {
    events: Vec<NewEvent>,
    /// Approvals decided (waiters to wake) or opened (the expiry task to tell).
    decided: Vec<i64>,
    opened: bool,
}

impl crate::audit::service::Recorded for Effects {
    fn events(&self) -> &[NewEvent] {
        &self.events
    }
}

/// Runs `op` in a recorded write transaction, then wakes whom its decisions concern.
async fn write<T: Send + 'static>(
    state: &AppState,
    actor: Actor,
    op: impl for<'c> Fn(&'c mut Tx, Backend, &'c mut Effects) -> futures::future::BoxFuture<'c, AppResult<T>> + Send + Sync + 'static,
) -> AppResult<T> {
    let (value, fx) = crate::audit::service::write_recorded(state, actor, op).await?;
    for id in fx.decided {
        state.waiters.wake(id);
        state.executor.approval_decided();
    }
    if fx.opened {
        state.expiry.notify_one();
    }
    state.overrides.notify_one();
    Ok(value)
}

/// Recomputes how long the overrides in force lift plan `plan_id`'s blocks, and announces a
/// plan that becomes ready (or blocked again) with `plan.ready` / `plan.blocked`.
async fn recompute(tx: &mut Tx, backend: Backend, plan_id: i64, fx: &mut Effects, now: i64) -> AppResult<()> {
    let Some((stored, before, graph)) = store::lock_plan(tx, backend, plan_id).await? else { return Ok(()) };
    let stored = crate::storage::column("plans", plan_id, "status", &stored, PlanStatus::parse)?;
    if stored != PlanStatus::Blocked {
        // Executed already (or never blocked): what lifts its verdicts no longer matters.
        return Ok(());
    }
    let plan: Plan = store::document(plan_id, &graph)?;
    let in_force = store::in_force(tx, plan_id, now).await?;
    let after = unblocked_until(&plan, &in_force);
    store::set_unblocked_until(tx, plan_id, after, now).await?;
    let (was, _) = PlanStatus::at(stored, before, now);
    let (is, until) = PlanStatus::at(stored, after, now);
    if was != is {
        let kind = if is == PlanStatus::Ready { EventKind::PlanReady } else { EventKind::PlanBlocked };
        fx.events.push(NewEvent {
            kind,
            subject: Subject::Plan(plan_id),
            payload: json!({"plan_id": plan_id, "status": is, "overridden": true, "unblocked_until": until}),
        });
    }
    Ok(())
}

/// Puts an override in force inside the caller's transaction: a verdict override lifts its
/// verdict (the plan may become ready); an approval override approves its request.
async fn take_effect(tx: &mut Tx, backend: Backend, o: &mut Override, by: &str, fx: &mut Effects, now: i64) -> AppResult<()> {
    match o.target.clone() {
        Target::Approval { approval_id } => {
            let (_, e) =
                crate::approvals::service::decide_by_override(tx, backend, approval_id, o.id, &o.created_by, &o.justification, now).await?;
            o.status = OverrideStatus::Applied;
            store::set_status(tx, o.id, OverrideStatus::Applied, Some(by), None, now).await?;
            fx.events.push(event(EventKind::OverrideCreated, o, ""));
            fx.events.push(e);
            fx.decided.push(approval_id);
        }
        _ => {
            o.status = OverrideStatus::Active;
            store::set_status(tx, o.id, OverrideStatus::Active, None, None, now).await?;
            fx.events.push(event(EventKind::OverrideCreated, o, ""));
            recompute(tx, backend, o.plan_id, fx, now).await?;
        }
    }
    o.in_force_at = Some(now);
    Ok(())
}

/// Overrides a verdict of a plan (or decides one of its pending approvals), as the policy allows.
pub async fn create(state: &AppState, who: &Principal, req: &OverrideRequest) -> AppResult<Override> {
    who.require(Permission::Read)?;
    let plan = crate::planner::store::get_plan(&state.db, req.plan_id).await?.ok_or_else(|| {
        AppError::unprocessable(ErrorCode::UnknownPlan, format!("Plan {} does not exist.", req.plan_id)).with("plan_id", req.plan_id)
    })?;
    check(req, &plan, who.role, &rules(state)).map_err(|r| refusal(r, plan.id, &req.target))?;
    if let Target::StepVerdict { step_id, .. } = &req.target {
        if step_id.len() > 100 {
            return Err(AppError::unprocessable(ErrorCode::InvalidField, "`step_id` is too long (100 characters at most)."));
        }
    }
    if let Target::Approval { approval_id } = req.target {
        let a = crate::approvals::store::get(&state.db, approval_id)
            .await?
            .ok_or_else(|| AppError::unprocessable(ErrorCode::InvalidField, format!("Approval request {approval_id} does not exist.")))?;
        if a.plan_id != Some(plan.id) {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidField,
                format!("Approval request {approval_id} is not one of plan {}'s: an override reaches its own plan only.", plan.id),
            ));
        }
        if a.status.is_final() || a.is_overdue(now_ms()) {
            return Err(AppError::conflict(
                ErrorCode::AlreadyDecided,
                format!("Approval request {approval_id} is decided already; nothing to override."),
            )
            .with("status", a.status.as_str()));
        }
    }
    let policy = state.policy.overrides.clone();
    let new = NewOverride {
        plan_id: plan.id,
        target: req.target.clone(),
        justification: req.justification.trim().to_string(),
        status: if policy.require_approval { OverrideStatus::Pending } else { OverrideStatus::Active },
        created_by: who.identity(),
        created_role: who.role,
        expires_at: 0,
    };
    let minutes = req.expires_in_minutes;
    let review_expiry_s = state.config.approval_expires_in_s;
    let o = write(state, Actor::of(who), move |tx, backend, fx| {
        let (mut new, policy) = (new.clone(), policy.clone());
        Box::pin(async move {
            let now = now_ms();
            new.expires_at = now + minutes * 60_000;
            // One live override per target: a repeated request (a retry, a double click) is
            // refused instead of stacking a second one.
            if let Some(live) = live_for(tx, new.plan_id, &new.target, now).await? {
                return Err(AppError::conflict(
                    ErrorCode::AlreadyExists,
                    format!(
                        "Override #{} of {} is already {}; revoke it first to replace it.",
                        live.id,
                        new.target.label(),
                        live.status.as_str()
                    ),
                )
                .with("override_id", live.id));
            }
            let requested = new.status == OverrideStatus::Pending;
            // Stored pending, then put in force below unless a second person must approve it.
            let mut o = store::insert(tx, &NewOverride { status: OverrideStatus::Pending, ..new.clone() }, now).await?;
            if requested {
                let review = NewApproval {
                    tool_id: REVIEW_TOOL.into(),
                    args: json!({"plan_id": o.plan_id, "target": o.target, "override_id": o.id, "expires_at": o.expires_at}),
                    context: json!({"reason": format!("Override {} of plan {}: {}", o.target.label(), o.plan_id, o.justification),
                        "plan": format!("/plans/{}", o.plan_id)}),
                    plan_id: Some(o.plan_id),
                    step_id: match &o.target {
                        Target::StepVerdict { step_id, .. } => Some(step_id.clone()),
                        _ => None,
                    },
                    backlog_item_id: None,
                    pack_id: None,
                    requester: o.created_by.clone(),
                    required_approvals: policy.required_approvals,
                    expires_at: o.expires_at.min(now + review_expiry_s * 1000),
                    expiry_outcome: ExpiryOutcome::Deny,
                };
                let (approval, e) = crate::approvals::service::open(tx, &review, now).await?;
                store::set_review(tx, o.id, approval.id).await?;
                o.review_approval_id = Some(approval.id);
                fx.events.push(event(EventKind::OverrideRequested, &o, ""));
                fx.events.push(e);
                fx.opened = true;
            } else {
                let by = o.created_by.clone();
                take_effect(tx, backend, &mut o, &by, fx, now).await?;
            }
            Ok(o)
        })
    })
    .await?;
    tracing::info!(r#override = o.id, plan = o.plan_id, target = %o.target.label(), status = o.status.as_str(), by = %o.created_by, "override created");
    Ok(o)
}

/// The live override of `target` in plan `plan_id`, if any.
async fn live_for(tx: &mut Tx, plan_id: i64, target: &Target, now: i64) -> AppResult<Option<Override>> {
    Ok(store::live(tx, plan_id, now).await?.into_iter().find(|o| &o.target == target))
}

/// Plan `plan_id`'s overrides, newest first, each with its status at this moment.
pub async fn list(state: &AppState, who: &Principal, plan_id: i64) -> AppResult<Vec<Override>> {
    who.require(Permission::Read)?;
    if !crate::planner::store::plan_exists(&state.db, plan_id).await? {
        return Err(AppError::not_found(&format!("Plan {plan_id}")));
    }
    let now = now_ms();
    Ok(store::for_plan(&state.db, plan_id).await?.into_iter().map(|o| Override { status: o.status_at(now), ..o }).collect())
}

/// Revokes a live override (its author, or a role the policy lets override): a verdict it lifted
/// blocks again; a pending review is withdrawn.
pub async fn revoke(state: &AppState, who: &Principal, id: i64, reason: &str) -> AppResult<Override> {
    who.require(Permission::Read)?;
    let reason = reason.trim().to_string();
    if reason.chars().count() > 1000 {
        return Err(AppError::unprocessable(ErrorCode::InvalidField, "`reason` is too long (1,000 characters at most)."));
    }
    let (me, allowed) = (who.identity(), state.policy.overrides.roles.contains(&who.role));
    let o = write(state, Actor::of(who), move |tx, backend, fx| {
        let (me, reason) = (me.clone(), reason.clone());
        Box::pin(async move {
            let now = now_ms();
            let mut o = store::lock(tx, backend, id).await?.ok_or_else(|| AppError::not_found(&format!("Override {id}")))?;
            if !allowed && o.created_by != me {
                return Err(AppError::forbidden(
                    ErrorCode::Forbidden,
                    "Only its author or a role the policy lets override (`[overrides] roles`) can revoke an override.",
                ));
            }
            let status = o.status_at(now);
            if !status.is_live() {
                return Err(AppError::conflict(
                    ErrorCode::NotInForce,
                    format!("Override #{id} is {}; there is nothing to revoke.", status.as_str()),
                )
                .with("status", status.as_str()));
            }
            let note = if reason.is_empty() { format!("Revoked by {me}.") } else { reason.clone() };
            if let (OverrideStatus::Pending, Some(review)) = (o.status, o.review_approval_id) {
                if let Some(e) = crate::approvals::service::withdraw(tx, backend, review, &me, &note, now).await? {
                    fx.events.push(e);
                    fx.decided.push(review);
                }
            }
            store::set_status(tx, id, OverrideStatus::Revoked, Some(&me), Some(&note), now).await?;
            o.status = OverrideStatus::Revoked;
            (o.ended_at, o.ended_by, o.end_note) = (Some(now), Some(me.clone()), Some(note.clone()));
            fx.events.push(event(EventKind::OverrideRevoked, &o, &note));
            recompute(tx, backend, o.plan_id, fx, now).await?;
            Ok(o)
        })
    })
    .await?;
    tracing::info!(r#override = id, by = %who.identity(), "override revoked");
    Ok(o)
}

/// Applies a decided review: the override takes effect (approved) or is rejected.
async fn apply_review(state: &AppState, id: i64) -> AppResult<()> {
    write(state, Actor::system(), move |tx, backend, fx| {
        Box::pin(async move {
            let now = now_ms();
            let Some(mut o) = store::lock(tx, backend, id).await? else { return Ok(()) };
            let Some(review) = o.review_approval_id else { return Ok(()) };
            if o.status != OverrideStatus::Pending {
                return Ok(());
            }
            let Some((status, decided_by)) = store::review_outcome(tx, review).await? else { return Ok(()) };
            match ApprovalStatus::parse(&status) {
                Some(ApprovalStatus::Pending) | None => Ok(()),
                Some(ApprovalStatus::Approved) if o.expires_at > now => {
                    let by = decided_by.unwrap_or_else(|| "reviewers".into());
                    take_effect(tx, backend, &mut o, &by, fx, now).await
                }
                Some(s) => {
                    let note = format!("Its review ended {}.", s.as_str());
                    store::set_status(tx, id, OverrideStatus::Rejected, Some("system"), Some(&note), now).await?;
                    o.status = OverrideStatus::Rejected;
                    fx.events.push(event(EventKind::OverrideRejected, &o, &note));
                    Ok(())
                }
            }
        })
    })
    .await
}

/// Writes the expiry of a live override past its deadline (a pending one's review is withdrawn).
async fn expire(state: &AppState, id: i64) -> AppResult<()> {
    write(state, Actor::system(), move |tx, backend, fx| {
        Box::pin(async move {
            let now = now_ms();
            let Some(mut o) = store::lock(tx, backend, id).await? else { return Ok(()) };
            if !o.status.is_live() || o.expires_at > now {
                return Ok(());
            }
            if let (OverrideStatus::Pending, Some(review)) = (o.status, o.review_approval_id) {
                let note = "The override expired before its review ended.";
                if let Some(e) = crate::approvals::service::withdraw(tx, backend, review, "system", note, now).await? {
                    fx.events.push(e);
                    fx.decided.push(review);
                }
            }
            store::set_status(tx, id, OverrideStatus::Expired, Some("system"), None, now).await?;
            o.status = OverrideStatus::Expired;
            fx.events.push(event(EventKind::OverrideExpired, &o, ""));
            recompute(tx, backend, o.plan_id, fx, now).await
        })
    })
    .await
}

/// One pass: decided reviews applied, due expiries written. Returns the next expiry.
pub async fn sweep(state: &AppState) -> AppResult<Option<i64>> {
    for id in store::reviewed(&state.db, 500).await? {
        if let Err(e) = apply_review(state, id).await {
            tracing::warn!(r#override = id, error = %e, "could not apply an override's review");
        }
    }
    for id in store::due(&state.db, now_ms(), 500).await? {
        if let Err(e) = expire(state, id).await {
            tracing::warn!(r#override = id, error = %e, "could not expire an override");
        }
    }
    store::next_expiry(&state.db).await
}

/// Applies reviews and writes expiries as they come (also after a restart: it starts with a
/// sweep). The plan's status never waits for this task: it is computed against the clock
/// (`PlanStatus::at`); the task writes the `override.expired` record and event.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        loop {
            let next = match sweep(&state).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "override sweep failed; trying again in 1 s");
                    Some(now_ms() + 1000)
                }
            };
            let sleep = match next {
                Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64 + 1),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = state.overrides.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    });
}
