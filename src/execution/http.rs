//! Execution JSON endpoints: execute and cancel a plan, read its run, and the worker protocol
//! (claim with long-poll, heartbeat, complete, fail, release). Extract → service → JSON; see
//! docs/api.md.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, ClaimRequest, ReportKind, WorkerReport};
use super::view::*;
use crate::auth::http::{AnyCaller, ApiCaller};
use crate::error::AppResult;
use crate::http::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(execute_plan))
        .routes(routes!(cancel_plan))
        .routes(routes!(get_run))
        .routes(routes!(claim))
        .routes(routes!(heartbeat))
        .routes(routes!(complete))
        .routes(routes!(fail))
        .routes(routes!(release))
}

/// Body of `POST /api/auto-planner/execute`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    pub plan_id: i64,
}

/// Execute a ready plan. When no verdict needs a review (the policy's `[execution]
/// approve_plans`) it is approved and starts at once (`plan.approved`, `plan.started`);
/// otherwise it waits in the reviewers' inbox as a plan approval (`approval_id`) and starts when
/// approved. Steps whose tool is sensitive wait for their own approval when their turn comes.
#[utoipa::path(post, path = "/auto-planner/execute", tag = "execution", request_body = ExecuteBody,
    responses(
        (status = 202, body = PlanRun, description = "`running`, or `awaiting_approval` with its `approval_id`"),
        (status = 403, description = "role cannot execute plans, or `feature_disabled` with `flag`"),
        (status = 404, description = "no such plan"),
        (status = 409, description = "`plan_blocked` (with the `blocking` verdicts) or `already_started` (with its `status`)")),
    security(("api_key" = [])))]
async fn execute_plan(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(body): ApiJson<ExecuteBody>,
) -> AppResult<(StatusCode, Json<PlanRun>)> {
    Ok((StatusCode::ACCEPTED, Json(service::execute(&s, &who, body.plan_id).await?)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (shown on the plan page and in the events; optional).
    #[serde(default)]
    pub reason: String,
}

/// Cancel a plan that runs or awaits its approval: nothing new starts, running steps are told to
/// stop at their next heartbeat, and what succeeded is rolled back (`plan.cancelled` at the end).
#[utoipa::path(post, path = "/plans/{id}/cancel", tag = "execution", params(("id" = i64, Path)), request_body = CancelBody,
    responses((status = 202, body = PlanRun), (status = 409, description = "`not_running`: it has not started or has ended")),
    security(("api_key" = [])))]
async fn cancel_plan(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<(StatusCode, Json<PlanRun>)> {
    Ok((StatusCode::ACCEPTED, Json(service::cancel(&s, &who, id, &body.reason).await?)))
}

/// A plan's run: its status, every step's state (attempt, worker and lease, output tail, error,
/// approval) and the newest attempts. 404 until the plan is executed.
#[utoipa::path(get, path = "/plans/{id}/run", tag = "execution", params(("id" = i64, Path)),
    responses((status = 200, body = PlanRun), (status = 404)), security(("api_key" = [])))]
async fn get_run(State(s): State<AppState>, caller: AnyCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<PlanRun>> {
    Ok(Json(service::get_run(&s, &caller.0, id).await?))
}

/// Claim a step of one of `tools` (worker keys). Waits up to `wait_s` seconds for one and
/// answers the moment one becomes claimable; 204 when none came. The job's `fence` goes with
/// every heartbeat and report; heartbeat every `heartbeat_interval_ms` or lose the lease.
#[utoipa::path(post, path = "/worker/claim", tag = "execution", request_body = ClaimRequest,
    responses((status = 200, body = Job), (status = 204, description = "no step within `wait_s`"),
        (status = 403, description = "not a worker key, or `feature_disabled`"), (status = 422, description = "no or bad tools, `wait_s` over 60")),
    security(("api_key" = [])))]
async fn claim(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiJson(req): ApiJson<ClaimRequest>) -> AppResult<Response> {
    Ok(match service::claim(&s, &who, &req).await? {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn report(
    s: &AppState,
    who: &crate::auth::model::Principal,
    (plan_id, step_id): (i64, String),
    kind: ReportKind,
    body: &WorkerReport,
) -> AppResult<Json<HeartbeatAnswer>> {
    Ok(Json(service::report(s, who, plan_id, &step_id, kind, body).await?))
}

/// The worker still holds the step: its lease runs another lease period. `stop: true` when the
/// plan stopped (end the work, then fail it as not retryable or release it).
#[utoipa::path(post, path = "/worker/plans/{plan_id}/steps/{step_id}/heartbeat", tag = "execution",
    params(("plan_id" = i64, Path), ("step_id" = String, Path)), request_body = WorkerReport,
    responses((status = 200, body = HeartbeatAnswer), (status = 409, description = "`lease_lost` or `lease_expired`: stop working on it")),
    security(("api_key" = [])))]
async fn heartbeat(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(p): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<WorkerReport>,
) -> AppResult<Json<HeartbeatAnswer>> {
    report(&s, &who, p, ReportKind::Heartbeat, &b).await
}

/// The step's job succeeded (`output`: the tail of its output). Its dependents become
/// claimable (or wait for their approval); the last step ends the plan `succeeded`.
#[utoipa::path(post, path = "/worker/plans/{plan_id}/steps/{step_id}/complete", tag = "execution",
    params(("plan_id" = i64, Path), ("step_id" = String, Path)), request_body = WorkerReport,
    responses((status = 200, body = HeartbeatAnswer), (status = 409, description = "`lease_lost` or `lease_expired`: the report was not accepted")),
    security(("api_key" = [])))]
async fn complete(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(p): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<WorkerReport>,
) -> AppResult<Json<HeartbeatAnswer>> {
    report(&s, &who, p, ReportKind::Complete, &b).await
}

/// The step's job failed (`error` required). With `retryable` (default) and attempts left it is
/// tried again after the backoff, with the same idempotency token; otherwise the plan stops and
/// what succeeded is rolled back.
#[utoipa::path(post, path = "/worker/plans/{plan_id}/steps/{step_id}/fail", tag = "execution",
    params(("plan_id" = i64, Path), ("step_id" = String, Path)), request_body = WorkerReport,
    responses((status = 200, body = HeartbeatAnswer), (status = 409, description = "`lease_lost` or `lease_expired`"), (status = 422, description = "no `error`")),
    security(("api_key" = [])))]
async fn fail(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(p): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<WorkerReport>,
) -> AppResult<Json<HeartbeatAnswer>> {
    report(&s, &who, p, ReportKind::Fail, &b).await
}

/// Give the step back unfinished (the worker is shutting down): claimable again at once, and
/// the attempt does not count.
#[utoipa::path(post, path = "/worker/plans/{plan_id}/steps/{step_id}/release", tag = "execution",
    params(("plan_id" = i64, Path), ("step_id" = String, Path)), request_body = WorkerReport,
    responses((status = 200, body = HeartbeatAnswer), (status = 409, description = "`lease_lost` or `lease_expired`")),
    security(("api_key" = [])))]
async fn release(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(p): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<WorkerReport>,
) -> AppResult<Json<HeartbeatAnswer>> {
    report(&s, &who, p, ReportKind::Release, &b).await
}
