//! Approval use cases shared by the JSON API, the server functions and the rest of the control
//! plane: request, decide, comment, cancel, expire, and wait — push-based, no polling loop.

use serde_json::json;
use std::time::Duration;

use super::model::*;
use super::store;
pub use super::store::NewApproval;
pub use super::waiters::{ExpiryNotify, Waiters};
use crate::audit::{Actor, Door};
use crate::auth::model::{Permission, Principal, Role};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::{EventKind, NewEvent, Subject};
use crate::state::AppState;
use crate::storage::now_ms;

/// Bounds for `expires_in_s`: at least 5 seconds, at most 7 days.
pub const MIN_EXPIRY_S: i64 = 5;
pub const MAX_EXPIRY_S: i64 = 7 * 24 * 3600;
/// Largest `args` / `context` document, serialised.
pub const MAX_DOC_BYTES: usize = 64 * 1024;

/// A new request, as the caller sends it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    pub tool_id: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    #[serde(default)]
    pub args: serde_json::Value,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    #[serde(default)]
    pub context: serde_json::Value,
    pub plan_id: Option<i64>,
    pub step_id: Option<String>,
    pub backlog_item_id: Option<i64>,
    pub expires_in_s: Option<i64>,
}

fn refusal(r: Refusal) -> AppError {
    match r {
        Refusal::AlreadyDecided(s) => {
            AppError::conflict(ErrorCode::AlreadyDecided, format!("This request is already {}; nothing changed.", s.as_str()))
                .with("status", s.as_str())
        }
        Refusal::Expired => AppError::conflict(ErrorCode::Expired, "This request expired before the decision arrived; nothing changed.")
            .with("status", "expired"),
        Refusal::SelfApproval => {
            AppError::forbidden(ErrorCode::SelfApproval, "You asked for this approval, so someone else has to decide it.")
        }
        Refusal::ReasonRequired => {
            AppError::unprocessable(ErrorCode::ReasonRequired, "Say why you deny it: the requester sees your reason.")
        }
        Refusal::AlreadyVoted => {
            AppError::conflict(ErrorCode::AlreadyVoted, "You approved this already; it needs another reviewer to reach its quorum.")
        }
        Refusal::InvalidComment(m) => AppError::unprocessable(ErrorCode::InvalidComment, m),
        Refusal::NotRequester => AppError::forbidden(ErrorCode::NotRequester, "Only the requester or an admin can cancel this request."),
    }
}

fn approval_event(kind: EventKind, a: &Approval, note: &str) -> NewEvent {
    NewEvent {
        kind,
        subject: Subject::Approval(a.id),
        payload: json!({
            "approval_id": a.id, "tool_id": a.tool_id, "status": a.status.as_str(), "requester": a.requester,
            "plan_id": a.plan_id, "step_id": a.step_id, "backlog_item_id": a.backlog_item_id, "pack_id": a.pack_id,
            "required_approvals": a.required_approvals, "approved_by": a.approved_by, "decided_by": a.decided_by,
            "expires_at": a.expires_at, "go_ahead": a.go_ahead(), "note": note,
        }),
    }
}

/// A missing (or `null`) document is stored as `{}`, so readers always get an object.
fn object_or_empty(doc: &serde_json::Value) -> serde_json::Value {
    if doc.is_null() {
        json!({})
    } else {
        doc.clone()
    }
}

/// Creates a pending request for `tool_id`; the caller is the requester.
pub async fn request(state: &AppState, who: &Principal, req: &ApprovalRequest) -> AppResult<Approval> {
    who.require(Permission::RequestApproval)?;
    let db = &state.db;
    let tool_id = req.tool_id.as_deref().map(str::trim).unwrap_or_default();
    if tool_id.is_empty() {
        return Err(AppError::unprocessable(ErrorCode::MissingField, "Name the tool that needs approval in `tool_id`."));
    }
    let tool = crate::backlog::store::get_tool(db, tool_id).await?.ok_or_else(|| {
        AppError::unprocessable(
            ErrorCode::UnknownTool,
            format!("Tool `{tool_id}` is not registered; register it (POST /api/tools) or fix the id."),
        )
        .with("tool_id", tool_id)
    })?;
    for (name, doc) in [("args", &req.args), ("context", &req.context)] {
        if !(doc.is_object() || doc.is_null()) {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidField,
                format!("`{name}` must be a JSON object, like {{\"target\": \"prod\"}}; wrap other values in one."),
            ));
        }
        if doc.to_string().len() > MAX_DOC_BYTES {
            return Err(AppError::unprocessable(
                ErrorCode::TooLarge,
                format!("`{name}` is over {} KB; send a summary and a link instead.", MAX_DOC_BYTES / 1024),
            ));
        }
    }
    if let Some(step) = &req.step_id {
        if step.len() > 100 {
            return Err(AppError::unprocessable(ErrorCode::InvalidField, "`step_id` is too long (100 characters at most)."));
        }
    }
    // Links must point at things that exist, and the pack comes from the item.
    let mut pack_id = None;
    if let Some(item_id) = req.backlog_item_id {
        let item = crate::backlog::store::get_item(db, item_id).await?.ok_or_else(|| {
            AppError::unprocessable(ErrorCode::UnknownItem, format!("Backlog item {item_id} does not exist."))
                .with("backlog_item_id", item_id)
        })?;
        pack_id = Some(item.pack_id);
    }
    if let Some(plan_id) = req.plan_id {
        if !crate::planner::store::plan_exists(db, plan_id).await? {
            return Err(AppError::unprocessable(ErrorCode::UnknownPlan, format!("Plan {plan_id} does not exist.")).with("plan_id", plan_id));
        }
    }
    let expires_in =
        expiry_seconds(req.expires_in_s, tool.approval_expires_in_s, state.config.approval_expires_in_s, MIN_EXPIRY_S, MAX_EXPIRY_S)
            .map_err(|m| AppError::unprocessable(ErrorCode::InvalidField, m))?;

    let new = NewApproval {
        tool_id: tool_id.to_string(),
        args: object_or_empty(&req.args),
        context: object_or_empty(&req.context),
        plan_id: req.plan_id,
        step_id: req.step_id.clone(),
        backlog_item_id: req.backlog_item_id,
        pack_id,
        requester: who.identity(),
        required_approvals: tool.required_approvals.max(1),
        expires_at: 0,
        expiry_outcome: state.config.approval_expiry_outcome,
    };
    let backend = db.backend;
    let actor = Actor::of(who);
    let (approval, ids) = db
        .write(move |tx| {
            let (mut new, actor) = (new.clone(), actor.clone());
            Box::pin(async move {
                // The clock is read when the write runs, so the deadline counts from the commit.
                let now = now_ms();
                new.expires_at = now + expires_in * 1000;
                let (approval, event) = open(tx, &new, now).await?;
                let ids = crate::audit::store::append_with_events(tx, backend, &actor, vec![], &[event], now).await?;
                Ok((approval, ids))
            })
        })
        .await?;
    if let Some(last) = ids.last() {
        state.events.published(*last);
    }
    state.expiry.notify_one();
    tracing::info!(approval = approval.id, tool = tool_id, requester = %approval.requester, "approval requested");
    Ok(approval)
}

/// Stores a new pending request (with its `requested` log row) inside the caller's transaction;
/// returns it and its `approval.requested` event, for the caller to append with its own events
/// (last in the transaction). The caller validated `new` and tells the expiry task afterwards.
pub async fn open(tx: &mut crate::storage::Tx, new: &NewApproval, now: i64) -> AppResult<(Approval, NewEvent)> {
    let id = store::insert(tx, new, now).await?;
    let requested = Transition { log: LogKind::Requested, note: String::new(), status: None, counts_vote: false };
    store::record(tx, id, &new.requester, &requested, now, None).await?;
    let new = new.clone();
    let approval = Approval {
        id,
        tool_id: new.tool_id,
        args: new.args,
        context: new.context,
        plan_id: new.plan_id,
        step_id: new.step_id,
        backlog_item_id: new.backlog_item_id,
        pack_id: new.pack_id,
        requester: new.requester,
        status: ApprovalStatus::Pending,
        required_approvals: new.required_approvals,
        approved_by: vec![],
        expires_at: new.expires_at,
        expiry_outcome: new.expiry_outcome,
        created_at: now,
        decided_at: None,
        decided_by: None,
    };
    let event = approval_event(EventKind::ApprovalRequested, &approval, "");
    Ok((approval, event))
}

/// Withdraws a pending request inside the caller's transaction, as the system on behalf of
/// `actor` (the plan it asked about was cancelled): its `approval.decided` event, for the caller
/// to append last; `None` when it was decided already. The caller wakes its waiters after commit.
pub async fn withdraw(
    tx: &mut crate::storage::Tx,
    backend: crate::storage::Backend,
    id: i64,
    actor: &str,
    note: &str,
    now: i64,
) -> AppResult<Option<NewEvent>> {
    let Some(current) = store::lock(tx, backend, id).await? else { return Ok(None) };
    let Ok(t) = cancel(&current, actor, true, note) else { return Ok(None) };
    store::record(tx, id, actor, &t, now, None).await?;
    let after = Approval {
        status: t.status.unwrap_or(ApprovalStatus::Cancelled),
        decided_at: Some(now),
        decided_by: Some(actor.to_string()),
        ..current
    };
    Ok(Some(approval_event(EventKind::ApprovalDecided, &after, &t.note)))
}

/// Approves a pending request by override inside the caller's transaction (the override's
/// author as `actor`, its justification in the log): its `approval.decided` event for the caller
/// to append last. Refused (before writing) when the request is not pending. The caller wakes
/// its waiters and the executor after the commit.
pub async fn decide_by_override(
    tx: &mut crate::storage::Tx,
    backend: crate::storage::Backend,
    id: i64,
    override_id: i64,
    actor: &str,
    justification: &str,
    now: i64,
) -> AppResult<(Approval, NewEvent)> {
    let current = store::lock(tx, backend, id).await?.ok_or_else(|| AppError::not_found(&format!("Approval {id}")))?;
    let t = override_decision(&current, justification, now).map_err(refusal)?;
    store::record(tx, id, actor, &t, now, None).await?;
    let after = Approval { status: ApprovalStatus::Approved, decided_at: Some(now), decided_by: Some(actor.to_string()), ..current };
    let mut event = approval_event(EventKind::ApprovalDecided, &after, &t.note);
    // Subscribers and the audit trail tell an override from a reviewers' quorum by this field.
    event.payload["override_id"] = json!(override_id);
    Ok((after, event))
}

/// One request, its expiry written first if it is due; no permission check (the service's own).
async fn fetch(state: &AppState, id: i64) -> AppResult<Approval> {
    let a = store::get(&state.db, id).await?.ok_or_else(|| AppError::not_found(&format!("Approval {id}")))?;
    if a.is_overdue(now_ms()) {
        // Nobody wrote the expiry yet (the sweeper runs behind or another instance owns it):
        // write it now, so every reader sees the same outcome.
        return expire_one(state, id).await.map(|o| o.unwrap_or(a));
    }
    Ok(a)
}

pub async fn get(state: &AppState, who: &Principal, id: i64) -> AppResult<Approval> {
    who.require(Permission::Read)?;
    fetch(state, id).await
}

/// A request with its log, as the JSON API answers.
pub async fn detail(state: &AppState, who: &Principal, id: i64) -> AppResult<ApprovalDetail> {
    who.require(Permission::Read)?;
    with_log(state, fetch(state, id).await?).await
}

/// `a` with its log (the caller has read `a` already).
pub async fn with_log(state: &AppState, a: Approval) -> AppResult<ApprovalDetail> {
    let log = store::log(&state.db, a.id).await?;
    Ok(ApprovalDetail { go_ahead: a.go_ahead(), approval: a, log })
}

pub async fn list(state: &AppState, who: &Principal, filter: &ListFilter) -> AppResult<Vec<Approval>> {
    who.require(Permission::Read)?;
    store::list(&state.db, filter).await
}

/// The inbox: pending requests matching `filter` (at most 500), the tools that need approval
/// (for the filter), and whether the viewer may decide.
pub async fn inbox(state: &AppState, who: &Principal, filter: ListFilter, just_decided: &[i64]) -> AppResult<InboxView> {
    who.require(Permission::Read)?;
    let filter = ListFilter { status: Some(ApprovalStatus::Pending), decided: false, limit: 500, ..filter };
    let now = now_ms();
    // Requests past their deadline are on their way out (the expiry task writes them); hide them.
    let pending: Vec<Approval> = store::list(&state.db, &filter).await?.into_iter().filter(|a| !a.is_overdue(now)).collect();
    let tools = crate::backlog::store::list_tools(&state.db)
        .await?
        .into_iter()
        .filter(|t| t.sensitive || t.required_approvals > 0)
        .map(|t| t.id)
        .collect();
    let mut decided = Vec::with_capacity(just_decided.len().min(BULK_LIMIT));
    for &id in just_decided.iter().take(BULK_LIMIT) {
        if let Some(a) = store::get(&state.db, id).await? {
            decided.push(a);
        }
    }
    let mut item_ids: Vec<i64> = pending.iter().chain(&decided).filter_map(|a| a.backlog_item_id).collect();
    item_ids.sort_unstable();
    item_ids.dedup();
    let items = crate::backlog::store::get_items(&state.db, &item_ids)
        .await?
        .into_iter()
        .map(|i| ItemRef { id: i.id, title: i.title, risk: i.risk })
        .collect();
    let packs = crate::backlog::store::list_packs(&state.db).await?.into_iter().map(|p| (p.id, p.name)).collect();
    let plans = crate::planner::store::list_plans(&state.db, None, 100)
        .await?
        .into_iter()
        .map(|p| (p.id, format!("Plan #{} · {} · {}", p.id, crate::text::plural(p.item_count as usize, "item"), p.status.as_str())))
        .collect();
    Ok(InboxView {
        pending,
        now,
        tools,
        can_decide: who.can(Permission::DecideApproval),
        me: who.identity(),
        items,
        packs,
        plans,
        just_decided: decided,
    })
}

/// How many requests wait for a decision (the navigation shows it beside Approvals).
pub async fn pending_count(state: &AppState, who: &Principal) -> AppResult<i64> {
    who.require(Permission::Read)?;
    store::count_pending(&state.db, now_ms()).await
}

/// Decided requests (all final statuses, or one), most recently decided first, with their logs:
/// one query for the requests and one for all their logs.
pub async fn history(state: &AppState, who: &Principal, status: Option<ApprovalStatus>) -> AppResult<Vec<HistoryRow>> {
    who.require(Permission::Read)?;
    let filter = ListFilter { status, decided: true, limit: 200, ..Default::default() };
    let approvals = store::list(&state.db, &filter).await?;
    let mut logs = store::logs(&state.db, &approvals.iter().map(|a| a.id).collect::<Vec<_>>()).await?;
    Ok(approvals.into_iter().map(|a| HistoryRow { log: logs.remove(&a.id).unwrap_or_default(), approval: a }).collect())
}

/// A request's page: the request, its log, the titles it links to, and what the viewer may do.
pub async fn page(state: &AppState, who: &Principal, id: i64) -> AppResult<ApprovalPage> {
    who.require(Permission::Read)?;
    let approval = fetch(state, id).await?;
    let log = store::log(&state.db, id).await?;
    let item_title = match approval.backlog_item_id {
        Some(i) => crate::backlog::store::get_item(&state.db, i).await?.map(|i| i.title),
        None => None,
    };
    let pack_name = match approval.pack_id {
        Some(p) => crate::backlog::store::get_pack(&state.db, p).await?.map(|p| p.name),
        None => None,
    };
    Ok(ApprovalPage {
        approval,
        log,
        now: now_ms(),
        can_decide: who.can(Permission::DecideApproval),
        me: who.identity(),
        item_title,
        pack_name,
    })
}

#[derive(Clone)]
enum Action {
    Decide(Decision, String),
    Comment(String),
    Cancel(String),
}

/// What an accepted action wrote, for the caller to announce after the commit.
struct Written {
    after: Approval,
    log: LogKind,
    event_ids: Vec<i64>,
}

fn event_kind(t: &Transition) -> EventKind {
    match (t.log, t.status) {
        (_, Some(_)) => EventKind::ApprovalDecided,
        (LogKind::Approve, None) => EventKind::ApprovalVoted,
        _ => EventKind::ApprovalCommented,
    }
}

/// Locks the request, runs the state machine, writes the log row (which is also the vote) and
/// the status, and the event — all or nothing; then wakes the waiters.
async fn act(
    state: &AppState,
    who: &Actor,
    is_admin: bool,
    id: i64,
    action: Action,
    delivery: Option<Delivery>,
) -> AppResult<(Approval, LogKind)> {
    let by = who.clone();
    let backend = state.db.backend;
    let outcome = state
        .db
        .write(move |tx| {
            let (by, action, delivery) = (by.clone(), action.clone(), delivery.clone());
            Box::pin(async move { act_in(tx, backend, &by, is_admin, id, action, delivery.as_ref(), now_ms()).await })
        })
        .await?;
    let w = match outcome {
        Ok(w) => w,
        Err(Refusal::Expired) => {
            // Too late: record the expiry that was due, then tell the caller.
            expire_one(state, id).await?;
            return Err(refusal(Refusal::Expired));
        }
        Err(r) => return Err(refusal(r)),
    };
    announce(state, &w, &who.identity);
    Ok((w.after, w.log))
}

/// One action on one request inside the caller's transaction: a refusal returns before anything
/// is written (the write contract).
#[allow(clippy::too_many_arguments)]
async fn act_in(
    tx: &mut crate::storage::Tx,
    backend: crate::storage::Backend,
    by: &Actor,
    is_admin: bool,
    id: i64,
    action: Action,
    delivery: Option<&Delivery>,
    now: i64,
) -> AppResult<Result<Written, Refusal>> {
    let actor = by.identity.clone();
    if let Some(d) = delivery {
        if store::delivery_seen(tx, &d.webhook_id).await? {
            return Err(replayed());
        }
    }
    let current = store::lock(tx, backend, id).await?.ok_or_else(|| AppError::not_found(&format!("Approval {id}")))?;
    let t = match action {
        Action::Decide(d, c) => decide(&current, &actor, d, &c, now),
        Action::Comment(c) => comment(&current, &c, now),
        Action::Cancel(r) => cancel(&current, &actor, is_admin, &r),
    };
    let t = match t {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    // The delivery's id is kept with the decision it carried, in the same commit: a refused
    // delivery leaves no trace, so its sender's retry is heard.
    if let Some(d) = delivery {
        if !store::record_delivery(tx, d, now).await? {
            return Err(replayed());
        }
    }
    store::record(tx, id, &actor, &t, now, delivery.map(|d| d.via)).await?;
    let mut after = current;
    if t.counts_vote {
        after.approved_by.push(actor.clone());
    }
    if let Some(s) = t.status {
        after.status = s;
        after.decided_at = Some(now);
        after.decided_by = Some(actor.clone());
    }
    let event = approval_event(event_kind(&t), &after, &t.note);
    let event_ids = crate::audit::store::append_with_events(tx, backend, by, vec![], &[event], now).await?;
    Ok(Ok(Written { after, log: t.log, event_ids }))
}

/// After the commit: tell the event stream, wake whoever waits on a decided request.
fn announce(state: &AppState, w: &Written, actor: &str) {
    if let Some(last) = w.event_ids.last() {
        state.events.published(*last);
    }
    if w.after.status.is_final() {
        let id = w.after.id;
        state.waiters.wake(id);
        if w.after.plan_id.is_some() {
            state.executor.approval_decided();
            state.overrides.notify_one();
        }
        tracing::info!(approval = id, status = w.after.status.as_str(), by = actor, "approval decided");
    }
}

/// The most requests one bulk decision takes.
pub const BULK_LIMIT: usize = 100;

/// Approves or denies several pending requests for one tool at once (the inbox's bulk bar). Each
/// is its own decision, with its own log row, event and audit record, but they commit together:
/// if any of them is refused (decided meanwhile, asked by the reviewer, a denial without a
/// reason), nothing is written and the error names the request.
pub async fn decide_many(state: &AppState, who: &Principal, ids: &[i64], decision: Decision, comment: &str) -> AppResult<Vec<Approval>> {
    who.require(Permission::DecideApproval)?;
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(AppError::bad_request(ErrorCode::InvalidBody, "Select at least one request."));
    }
    if ids.len() > BULK_LIMIT {
        return Err(AppError::bad_request(
            ErrorCode::InvalidBody,
            format!("Select at most {BULK_LIMIT} requests at a time; {} were selected.", ids.len()),
        ));
    }
    let mut tools = std::collections::BTreeSet::new();
    for &id in &ids {
        tools.insert(fetch(state, id).await?.tool_id);
    }
    if tools.len() > 1 {
        let names: Vec<String> = tools.iter().map(|t| format!("`{t}`")).collect();
        return Err(AppError::bad_request(
            ErrorCode::InvalidBody,
            format!("Bulk decisions take requests for one tool at a time; the selection has {}.", names.join(", ")),
        ));
    }
    let by = Actor::of(who);
    let is_admin = who.role == Role::Admin;
    let backend = state.db.backend;
    let (batch, comment) = (ids.clone(), comment.to_string());
    let actor = by.clone();
    let done = state
        .db
        .write(move |tx| {
            let (ids, by, comment) = (batch.clone(), actor.clone(), comment.clone());
            Box::pin(async move {
                let now = now_ms();
                let mut done = Vec::with_capacity(ids.len());
                for id in ids {
                    match act_in(tx, backend, &by, is_admin, id, Action::Decide(decision, comment.clone()), None, now).await? {
                        Ok(w) => done.push(w),
                        Err(r) => {
                            // The requests before this one are written in this transaction: the
                            // refusal must roll it back, so it is marked as one that may not be
                            // committed (as a failed statement would be).
                            let e = refusal(r);
                            let message = format!("Request #{id} stopped the bulk decision, so none was recorded: {}", e.message);
                            return Err(AppError { message, database: !done.is_empty(), ..e });
                        }
                    }
                }
                Ok(done)
            })
        })
        .await?;
    for w in &done {
        announce(state, w, &by.identity);
    }
    Ok(done.into_iter().map(|w| w.after).collect())
}

pub async fn decide_as(state: &AppState, who: &Principal, id: i64, decision: Decision, comment: &str) -> AppResult<Approval> {
    who.require(Permission::DecideApproval)?;
    act(state, &Actor::of(who), who.role == Role::Admin, id, Action::Decide(decision, comment.to_string()), None).await.map(|r| r.0)
}

fn replayed() -> AppError {
    AppError::unauthorized("This `webhook-id` was delivered before; a replayed delivery is not accepted.")
}

/// A decision that arrived by webhook, made by the known reviewer `who`: recorded (with the
/// delivery's id, for replay protection) only if it is accepted.
pub async fn decide_delivered(
    state: &AppState,
    who: &Principal,
    id: i64,
    decision: Decision,
    comment: &str,
    delivery: Delivery,
) -> AppResult<Approval> {
    who.require(Permission::DecideApproval)?;
    let by = Actor::via(who, Door::Webhook);
    act(state, &by, who.role == Role::Admin, id, Action::Decide(decision, comment.to_string()), Some(delivery)).await.map(|r| r.0)
}

/// Anyone who can read a request may comment on it while it is pending.
pub async fn comment_as(state: &AppState, who: &Principal, id: i64, text: &str) -> AppResult<Approval> {
    who.require(Permission::Read)?;
    act(state, &Actor::of(who), who.role == Role::Admin, id, Action::Comment(text.to_string()), None).await.map(|r| r.0)
}

/// Its requester (or an admin) withdraws a pending request; the state machine checks who.
pub async fn cancel_as(state: &AppState, who: &Principal, id: i64, reason: &str) -> AppResult<Approval> {
    who.require(Permission::Read)?;
    act(state, &Actor::of(who), who.role == Role::Admin, id, Action::Cancel(reason.to_string()), None).await.map(|r| r.0)
}

/// Writes the expiry of one overdue request (no-op when it is not overdue any more).
pub async fn expire_one(state: &AppState, id: i64) -> AppResult<Option<Approval>> {
    let db = &state.db;
    let backend = db.backend;
    let written = db
        .write(move |tx| {
            Box::pin(async move {
                let now = now_ms();
                let Some(current) = store::lock(tx, backend, id).await? else { return Ok(None) };
                let Some(t) = expire(&current, now) else {
                    return Ok(Some((current, vec![])));
                };
                store::record(tx, id, "system", &t, now, None).await?;
                let after =
                    Approval { status: ApprovalStatus::Expired, decided_at: Some(now), decided_by: Some("system".into()), ..current };
                let event = approval_event(EventKind::ApprovalDecided, &after, &t.note);
                let ids = crate::audit::store::append_with_events(tx, backend, &Actor::system(), vec![], &[event], now).await?;
                Ok(Some((after, ids)))
            })
        })
        .await?;
    let Some((after, ids)) = written else { return Ok(None) };
    if let Some(last) = ids.last() {
        state.events.published(*last);
        state.waiters.wake(id);
        if after.plan_id.is_some() {
            state.executor.approval_decided();
            state.overrides.notify_one();
        }
        tracing::info!(approval = id, outcome = after.expiry_outcome.as_str(), "approval expired");
    }
    Ok(Some(after))
}

/// Waits until the request is final or `timeout` passes; returns its state then.
pub async fn wait(state: &AppState, who: &Principal, id: i64, timeout: Duration) -> AppResult<Approval> {
    who.require(Permission::Read)?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut woken = state.waiters.subscribe(id);
        let a = fetch(state, id).await?;
        if a.status.is_final() {
            return Ok(a);
        }
        // Also wake at the request's own deadline, to write its expiry.
        let expiry = tokio::time::Instant::now() + Duration::from_millis((a.expires_at - now_ms()).max(0) as u64);
        let until = deadline.min(expiry);
        tokio::select! {
            _ = woken.changed() => {}
            _ = tokio::time::sleep_until(until) => {
                if until == deadline && tokio::time::Instant::now() >= deadline {
                    return fetch(state, id).await;
                }
            }
        }
    }
}

/// `requireApproval` for the rest of the control plane: asks, then waits for the decision.
pub async fn require_approval(state: &AppState, who: &Principal, req: &ApprovalRequest) -> AppResult<Approval> {
    let a = request(state, who, req).await?;
    let remaining = Duration::from_millis((a.expires_at - now_ms()).max(0) as u64 + 1000);
    wait(state, who, a.id, remaining).await
}

/// Expires overdue requests as their deadlines pass, also after a restart (it starts with a
/// sweep). Sleeps until the next deadline or a new request; never polls on a fixed interval.
pub fn spawn_expiry(state: AppState) {
    tokio::spawn(async move {
        loop {
            match store::overdue(&state.db, now_ms(), 500).await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = expire_one(&state, id).await {
                            tracing::warn!(approval = id, error = %e, "could not expire approval");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read overdue approvals"),
            }
            let next = store::next_deadline(&state.db).await.ok().flatten();
            let sleep = match next {
                Some(at) => Duration::from_millis((at - now_ms()).clamp(0, 3_600_000) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = state.expiry.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    });
}

/// Wakes local waiters for decisions written by *other* instances (PostgreSQL): follows the
/// event stream, which every instance's listener forwards, and wakes by `approval.decided`.
/// SQLite is one instance, whose own decisions wake their waiters directly: nothing to follow.
pub fn spawn_remote_wakes(state: AppState) {
    if state.db.backend != crate::storage::Backend::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut signals = state.events.subscribe();
        let mut seen = crate::events::store::latest_id(&state.db).await.unwrap_or(0);
        loop {
            let upto = match signals.recv().await {
                Ok(id) => id,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => i64::MAX,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if state.waiters.waiting() == 0 {
                // Nobody to wake: skip ahead. A signal names the newest id it covers, except
                // after a lag or a listener reconnect (i64::MAX), when only the table knows.
                seen = if upto == i64::MAX { crate::events::store::latest_id(&state.db).await.unwrap_or(seen) } else { seen.max(upto) };
                continue;
            }
            while let Ok(events) = crate::events::store::list_after(&state.db, seen, 500).await {
                let Some(last) = events.last() else { break };
                seen = last.id;
                for e in events.iter().filter(|e| e.kind == EventKind::ApprovalDecided) {
                    if let Subject::Approval(id) = e.subject {
                        state.waiters.wake(id);
                    }
                }
            }
        }
    });
}
