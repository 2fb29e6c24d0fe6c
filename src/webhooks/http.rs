//! Webhook endpoints: Zig Todo's signed decisions in, and the outbound delivery log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::outbound::{self, Delivery as OutboundDelivery};
use super::signature::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::approvals::model::{Approval, Decision, Delivery, Via};
use crate::auth::http::ApiCaller;
use crate::auth::model::Permission;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(zig_todo)).routes(routes!(deliveries))
}

/// A decision from Zig Todo.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZigTodoDecision {
    pub approval_id: i64,
    pub decision: Decision,
    #[serde(default)]
    pub comment: String,
    /// The NOFX username of the reviewer who decided in Zig Todo: a user whose role decides
    /// approvals. The decision is theirs (it counts once towards the quorum, whichever door
    /// they use) and the log notes that it came through Zig Todo.
    pub reviewer: String,
}

/// Zig Todo's signed approve/deny (Standard Webhooks headers). A bad signature, a timestamp more
/// than 5 minutes off, or a `webhook-id` seen before → 401, and nothing is recorded.
#[utoipa::path(post, path = "/webhooks/zig-todo", tag = "approvals", request_body = ZigTodoDecision,
    params(("webhook-id" = String, Header), ("webhook-timestamp" = String, Header), ("webhook-signature" = String, Header)),
    responses(
        (status = 200, body = Approval),
        (status = 400, description = "malformed body (after a valid signature)"),
        (status = 401, description = "bad signature, stale timestamp or replayed delivery"),
        (status = 403, description = "self-approval"), (status = 404), (status = 409), (status = 422),
        (status = 503, description = "NOFX_ZIG_TODO_SECRET is not set")))]
async fn zig_todo(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> AppResult<Json<Approval>> {
    let secret = s.webhooks.inbound_secret.as_ref().ok_or_else(|| {
        AppError::new(
            503,
            ErrorCode::WebhooksNotConfigured,
            "This server has no Zig Todo secret (NOFX_ZIG_TODO_SECRET); ask its operator to set one.",
        )
    })?;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = h(HEADER_ID);
    signature::verify(secret, id, h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE), &body, chrono::Utc::now().timestamp())
        .map_err(|r| AppError::unauthorized(r.message()).with("error_detail", format!("{r:?}")))?;
    let id = id.unwrap_or_default();
    if id.len() > 200 {
        return Err(AppError::unauthorized("`webhook-id` is too long."));
    }
    let decision: ZigTodoDecision = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(ErrorCode::InvalidBody, format!("The decision does not have the expected shape: {e}.")))?;
    let reviewer = decision.reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > 100 {
        return Err(AppError::unprocessable(ErrorCode::InvalidField, "`reviewer` must name who decided (1–100 characters)."));
    }
    // The secret proves the sender is Zig Todo, not who the reviewer is: only known reviewers'
    // decisions count, so the secret alone cannot invent a quorum.
    let who =
        crate::auth::service::user_principal(&s.db, reviewer).await?.filter(|p| p.can(Permission::DecideApproval)).ok_or_else(|| {
            AppError::unprocessable(
                ErrorCode::UnknownReviewer,
                format!("`{reviewer}` is not a NOFX user who decides approvals; send the NOFX username of a reviewer or admin."),
            )
            .with("reviewer", reviewer)
        })?;
    // The id is recorded with the decision, in its transaction: a refused delivery can be retried.
    let delivery = Delivery { via: Via::ZigTodo, webhook_id: id.to_string() };
    Ok(Json(
        crate::approvals::service::decide_delivered(&s, &who, decision.approval_id, decision.decision, &decision.comment, delivery).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    /// At most 500 (default 100).
    limit: Option<i64>,
}

/// Outbound deliveries, newest first: target, event, status, attempts, last answer. Admin only:
/// targets and their errors are operators' business.
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "approvals", params(DeliveryQuery), responses((status = 200, body = [OutboundDelivery])), security(("api_key" = [])))]
async fn deliveries(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> AppResult<Json<Vec<OutboundDelivery>>> {
    Ok(Json(outbound::deliveries(&s, &who, q.limit.unwrap_or(100)).await?))
}
