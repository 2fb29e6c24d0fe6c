//! Override JSON endpoints: create (the seed's `POST /automation/override`), list a plan's, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::*;
use super::service;
use crate::auth::http::{AnyCaller, ApiCaller};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(list)).routes(routes!(revoke))
}

/// Override a soft-mandatory verdict of a plan (`plan_verdict`: one gate on the whole plan;
/// `step_verdict`: one gate on one step) or decide one of its pending approvals (`approval`),
/// with a justification and an expiry, as the policy's `[overrides]` allows. In force at once
/// (201, `active` or `applied`), or, when the policy asks for a second person, `pending` in the
/// reviewers' inbox (`review_approval_id`). While overrides lift every block of a plan it reads
/// `ready` (with `unblocked_until`); when they lapse it is `blocked` again everywhere.
#[utoipa::path(post, path = "/automation/override", tag = "overrides", request_body = OverrideRequest,
    responses(
        (status = 201, body = Override),
        (status = 403, description = "`hard_mandatory` (with the `rules`), or the role may not override (`required_roles`)"),
        (status = 409, description = "`not_blocking`, `already_started`, `already_decided` or `already_exists` (a live override of that target)"),
        (status = 422, description = "`unknown_plan`, or `invalid_field`: justification, expiry, step or approval")),
    security(("api_key" = [])))]
async fn create(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(body): ApiJson<OverrideRequest>,
) -> AppResult<(StatusCode, Json<Override>)> {
    Ok((StatusCode::CREATED, Json(service::create(&s, &who, &body).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    plan_id: Option<i64>,
}

/// A plan's overrides, newest first, each with its status now (`active` until `expires_at`).
#[utoipa::path(get, path = "/overrides", tag = "overrides", params(ListQuery),
    responses((status = 200, body = [Override]), (status = 404), (status = 422, description = "`plan_id` is missing")),
    security(("api_key" = [])))]
async fn list(State(s): State<AppState>, AnyCaller(who): AnyCaller, ApiQuery(q): ApiQuery<ListQuery>) -> AppResult<Json<Vec<Override>>> {
    let plan_id = q.plan_id.ok_or_else(|| AppError::unprocessable(ErrorCode::MissingField, "Name the plan: `?plan_id=12`."))?;
    Ok(Json(service::list(&s, &who, plan_id).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why (kept with the override and in the audit trail; optional).
    #[serde(default)]
    pub reason: String,
}

/// Revoke a live override before it expires (its author, or a role the policy lets override): a
/// verdict it lifted blocks again at once; a pending review is withdrawn. The body is optional.
#[utoipa::path(delete, path = "/overrides/{id}", tag = "overrides", params(("id" = i64, Path)), request_body(content = Option<RevokeBody>),
    responses((status = 200, body = Override), (status = 404), (status = 409, description = "`not_in_force`: it ended already")),
    security(("api_key" = [])))]
async fn revoke(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> AppResult<Json<Override>> {
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<RevokeBody>(&body)
            .map_err(|e| AppError::bad_request(ErrorCode::InvalidBody, format!("The body is not `{{\"reason\": \"…\"}}`: {e}.")))?
            .reason
    };
    Ok(Json(service::revoke(&s, &who, id, &reason).await?))
}
