//! Approval JSON endpoints (requireApproval over HTTP, the inbox, decisions, comments, the
//! long-poll wait). Extract → service → JSON; see docs/api.md.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::*;
use super::service::{self, ApprovalRequest};
use crate::auth::http::{AnyCaller, ApiCaller};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_approval, list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(wait_approval))
        .routes(routes!(decide_approval))
        .routes(routes!(comment_approval))
        .routes(routes!(cancel_approval))
}

/// Longest accepted `timeout_s` of the long-poll.
pub const MAX_WAIT_S: u64 = 300;

/// Ask for a human approval before running a sensitive tool (requireApproval over HTTP). The
/// caller is the requester; the tool's `required_approvals` sets the quorum. Emits `approval.requested`.
#[utoipa::path(post, path = "/approvals", tag = "approvals", request_body = ApprovalRequest,
    responses(
        (status = 201, body = ApprovalDetail, description = "pending"),
        (status = 400, description = "malformed JSON or unknown field"),
        (status = 403, description = "role cannot request approvals"),
        (status = 422, description = "unknown tool, item or plan; bad `expires_in_s`; documents too large")),
    security(("api_key" = [])))]
async fn create_approval(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiJson(req): ApiJson<ApprovalRequest>,
) -> AppResult<(StatusCode, Json<ApprovalDetail>)> {
    let a = service::request(&s, &caller.0, &req).await?;
    Ok((StatusCode::CREATED, Json(service::with_log(&s, a).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `pending`, `approved`, `denied`, `expired` or `cancelled`.
    status: Option<String>,
    tool_id: Option<String>,
    plan_id: Option<i64>,
    pack_id: Option<i64>,
    /// At most 500 (default 100).
    limit: Option<i64>,
}

/// Approval requests, newest first (the inbox is `?status=pending`).
#[utoipa::path(get, path = "/approvals", tag = "approvals", params(ListQuery), responses((status = 200, body = [Approval]), (status = 400)), security(("api_key" = [])))]
async fn list_approvals(
    State(s): State<AppState>,
    AnyCaller(who): AnyCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<Vec<Approval>>> {
    let status = match q.status.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(ApprovalStatus::parse(v).ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::InvalidQuery,
                format!("`status` must be one of pending, approved, denied, expired, cancelled; not `{v}`."),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(ErrorCode::InvalidQuery, "`limit` must be between 1 and 500."));
    }
    let filter = ListFilter {
        status,
        tool_id: q.tool_id.filter(|t| !t.is_empty()),
        plan_id: q.plan_id,
        pack_id: q.pack_id,
        limit,
        ..Default::default()
    };
    Ok(Json(service::list(&s, &who, &filter).await?))
}

/// One request with its log (every request, vote, comment and decision, oldest first).
#[utoipa::path(get, path = "/approvals/{id}", tag = "approvals", params(("id" = i64, Path)), responses((status = 200, body = ApprovalDetail), (status = 404)), security(("api_key" = [])))]
async fn get_approval(State(s): State<AppState>, AnyCaller(who): AnyCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<ApprovalDetail>> {
    Ok(Json(service::detail(&s, &who, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    /// Seconds to wait at most (0–300, default 30).
    timeout_s: Option<u64>,
}

/// Long-poll: answers the moment the request is decided (or expires), or with `status: pending`
/// after `timeout_s` seconds — then simply ask again.
#[utoipa::path(get, path = "/approvals/{id}/wait", tag = "approvals", params(("id" = i64, Path), WaitQuery),
    responses((status = 200, body = ApprovalDetail), (status = 400), (status = 404)), security(("api_key" = [])))]
async fn wait_approval(
    State(s): State<AppState>,
    AnyCaller(who): AnyCaller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> AppResult<Json<ApprovalDetail>> {
    let timeout = q.timeout_s.unwrap_or(30);
    if timeout > MAX_WAIT_S {
        return Err(AppError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`timeout_s` must be at most {MAX_WAIT_S}; ask again after it returns."),
        ));
    }
    let a = service::wait(&s, &who, id, Duration::from_secs(timeout)).await?;
    Ok(Json(service::with_log(&s, a).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub decision: Decision,
    /// Required to deny; optional to approve.
    #[serde(default)]
    pub comment: String,
}

/// Approve or deny (reviewer or admin). One deny denies; approvals from distinct reviewers count
/// towards the quorum. 409 `already_decided` once final, 403 `self_approval` for the requester.
#[utoipa::path(post, path = "/approvals/{id}/decision", tag = "approvals", params(("id" = i64, Path)), request_body = DecisionBody,
    responses(
        (status = 200, body = ApprovalDetail),
        (status = 400, description = "malformed JSON or a decision other than approve/deny"),
        (status = 403, description = "wrong role or `self_approval`"),
        (status = 404),
        (status = 409, description = "`already_decided`, `already_voted` or `expired`"),
        (status = 422, description = "`reason_required` (deny without a comment) or `invalid_comment`")),
    security(("api_key" = [])))]
async fn decide_approval(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> AppResult<Json<ApprovalDetail>> {
    let a = service::decide_as(&s, &caller.0, id, body.decision, &body.comment).await?;
    Ok(Json(service::with_log(&s, a).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    pub comment: String,
}

/// Add a comment while the request is pending (anyone who can read it).
#[utoipa::path(post, path = "/approvals/{id}/comments", tag = "approvals", params(("id" = i64, Path)), request_body = CommentBody,
    responses((status = 201, body = ApprovalDetail), (status = 404), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn comment_approval(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CommentBody>,
) -> AppResult<(StatusCode, Json<ApprovalDetail>)> {
    let a = service::comment_as(&s, &caller.0, id, &body.comment).await?;
    Ok((StatusCode::CREATED, Json(service::with_log(&s, a).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: String,
}

/// Withdraw a pending request (its requester, or an admin).
#[utoipa::path(post, path = "/approvals/{id}/cancel", tag = "approvals", params(("id" = i64, Path)), request_body = CancelBody,
    responses((status = 200, body = ApprovalDetail), (status = 403), (status = 404), (status = 409)), security(("api_key" = [])))]
async fn cancel_approval(
    State(s): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<Json<ApprovalDetail>> {
    let a = service::cancel_as(&s, &caller.0, id, &body.reason).await?;
    Ok(Json(service::with_log(&s, a).await?))
}
