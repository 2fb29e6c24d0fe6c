//! Webhook endpoints: Zig Todo's signed decisions in, and the outbound delivery log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::outbound::{self, Delivery};
use super::signature::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::approvals::model::{Approval, Decision};
use crate::auth::http::ApiCaller;
use crate::auth::model::{Permission, Principal, PrincipalKind, Role};
use crate::error::{AppError, AppResult};
use crate::http::ApiQuery;
use crate::state::AppState;
use crate::storage::now_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(zig_todo)).routes(routes!(deliveries))
}

/// A decision from Zig Todo.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZigTodoDecision {
    pub approval_id: i64,
    /// `approve` or `deny`.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
    /// Who decided in Zig Todo; recorded as `zig-todo/<reviewer>`.
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
        AppError::new(503, "webhooks_not_configured", "This server has no Zig Todo secret (NOFX_ZIG_TODO_SECRET); ask its operator to set one.")
    })?;
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = h(HEADER_ID);
    signature::verify(secret, id, h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE), &body, now_ms() / 1000)
        .map_err(|r| AppError::unauthorized(r.message()).with("error_detail", format!("{r:?}")))?;
    let id = id.unwrap_or_default();
    if id.len() > 200 {
        return Err(AppError::unauthorized("`webhook-id` is too long."));
    }
    let decision: ZigTodoDecision = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request("invalid_body", format!("The decision does not have the expected shape: {e}.")))?;
    let verdict = Decision::parse(&decision.decision)
        .ok_or_else(|| AppError::bad_request("invalid_body", format!("`decision` must be `approve` or `deny`, not `{}`.", decision.decision)))?;
    let reviewer = decision.reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > 100 {
        return Err(AppError::unprocessable("invalid_field", "`reviewer` must name who decided (1–100 characters)."));
    }
    // Replays are refused before anything else is written; the id stays recorded.
    let fresh = sqlx::query("insert into webhook_inbound (webhook_id, source, received_at) values ($1, 'zig-todo', $2) on conflict (webhook_id) do nothing")
        .bind(id)
        .bind(now_ms())
        .execute(&s.db.pool)
        .await?
        .rows_affected();
    if fresh != 1 {
        return Err(AppError::unauthorized("This `webhook-id` was delivered before; a replayed delivery is not accepted."));
    }
    let who = Principal { kind: PrincipalKind::ApiKey, id: 0, name: format!("zig-todo/{reviewer}"), role: Role::Reviewer };
    Ok(Json(crate::approvals::service::decide_as(&s, &who, decision.approval_id, verdict, &decision.comment).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    /// At most 500 (default 100).
    limit: Option<i64>,
}

/// Outbound deliveries, newest first: target, event, status, attempts, last answer.
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "approvals", params(DeliveryQuery), responses((status = 200, body = [Delivery])), security(("api_key" = [])))]
async fn deliveries(State(s): State<AppState>, caller: ApiCaller, ApiQuery(q): ApiQuery<DeliveryQuery>) -> AppResult<Json<Vec<Delivery>>> {
    caller.require(Permission::Read)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "`limit` must be between 1 and 500."));
    }
    Ok(Json(outbound::list(&s.db, limit).await?))
}
