//! Planner JSON endpoints: `POST /api/auto-planner/plan` (with `Idempotency-Key`) and the plan
//! read endpoints. Extract → service → JSON; see docs/api.md.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, AnswerForm, Planned};
use crate::auth::http::{AnyCaller, ApiCaller};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::{ApiPath, ApiQuery};
use crate::idempotency;
use crate::plan::model::*;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_plan))
        .routes(routes!(list_plans))
        .routes(routes!(get_plan))
        .routes(routes!(list_evaluations))
        .routes(routes!(plan_graph))
}

/// Build a plan from backlog items (`item_ids`) or a whole pack (`pack_id`), run the four gates,
/// store plan and verdicts, and emit `plan.evaluated` then `plan.ready` or `plan.blocked`.
/// With `Idempotency-Key`, a retry with the same body replays the first response. With `Prefer:
/// return=minimal` (RFC 7240) the answer is the plan's outcome without its steps (`PlanOutcome`),
/// and `GET /api/plans/{id}` (the `Location`) has the rest.
#[utoipa::path(post, path = "/auto-planner/plan", tag = "planner", request_body = PlanRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries (kept 24 h)"),
        ("Prefer" = Option<String>, Header, description = "`return=minimal` for the outcome without the steps")),
    responses(
        (status = 201, body = PlanAnswer, description = "stored; `status` is `ready` or `blocked`", headers(("Location" = String, description = "the stored plan"))),
        (status = 400, description = "malformed JSON"),
        (status = 403, description = "wrong role, or `feature_disabled` with `flag`"),
        (status = 409, description = "`idempotency_key_in_flight`"),
        (status = 422, description = "unknown items, empty or huge selection, `idempotency_key_reused`")),
    security(("api_key" = [])))]
async fn create_plan(State(s): State<AppState>, ApiCaller(who): ApiCaller, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    let key = headers.get(idempotency::HEADER).map(|v| v.to_str().unwrap_or("").trim().to_string());
    let form = answer_form(&headers);
    match service::plan_json(&s, &who, &body, key.as_deref(), form).await? {
        Planned::Created { id, body } => {
            let mut res = (StatusCode::CREATED, [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/plans/{id}")) {
                res.headers_mut().insert(http::header::LOCATION, location);
            }
            if form == AnswerForm::Minimal {
                res.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
            }
            Ok(res)
        }
        Planned::Replayed { status, body } => {
            let mut res =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), [(http::header::CONTENT_TYPE, "application/json")], body)
                    .into_response();
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
    }
}

/// The answer to a new plan, for the API description: the whole plan, or with `Prefer:
/// return=minimal` its outcome.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // never built: the service answers with text
enum PlanAnswer {
    Plan(Plan),
    Outcome(PlanOutcome),
}

/// `Prefer: return=minimal` (RFC 7240: preferences are comma-separated, names case-insensitive,
/// and several `Prefer` headers count as one list); anything else is the full plan.
fn answer_form(headers: &HeaderMap) -> AnswerForm {
    let minimal = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.split(';').next().unwrap_or("").trim().replace(' ', ""))
        .any(|p| p.eq_ignore_ascii_case("return=minimal"));
    if minimal {
        AnswerForm::Minimal
    } else {
        AnswerForm::Full
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PlanListQuery {
    status: Option<PlanStatus>,
    /// At most 500; default 100.
    limit: Option<i64>,
}

/// Plans, newest first.
#[utoipa::path(get, path = "/plans", tag = "planner", params(PlanListQuery), responses((status = 200, body = [PlanSummary])), security(("api_key" = [])))]
async fn list_plans(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiQuery(q): ApiQuery<PlanListQuery>,
) -> AppResult<Json<Vec<PlanSummary>>> {
    Ok(Json(service::list_plans(&s, &caller.0, q.status, q.limit.unwrap_or(100)).await?))
}

/// One plan with its steps, waves, critical path, estimates and verdicts.
#[utoipa::path(get, path = "/plans/{id}", tag = "planner", params(("id" = i64, Path)), responses((status = 200, body = Plan), (status = 404)), security(("api_key" = [])))]
async fn get_plan(State(s): State<AppState>, caller: AnyCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<Plan>> {
    Ok(Json(service::get_plan(&s, &caller.0, id).await?))
}

/// The stored gate verdicts of a plan: one row per gate for the plan (`step_id: null`) and per step.
#[utoipa::path(get, path = "/plans/{id}/evaluations", tag = "planner", params(("id" = i64, Path), EvaluationFilter),
    responses((status = 200, body = [Evaluation]), (status = 404)), security(("api_key" = [])))]
async fn list_evaluations(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(f): ApiQuery<EvaluationFilter>,
) -> AppResult<Json<Vec<Evaluation>>> {
    Ok(Json(service::list_evaluations(&s, &caller.0, id, &f).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct GraphQuery {
    /// `json` (default) or `dot` (Graphviz).
    format: Option<String>,
}

/// The plan graph as Graphviz DOT (`format=dot`) or JSON nodes and edges (`format=json`).
#[utoipa::path(get, path = "/plans/{id}/graph", tag = "planner", params(("id" = i64, Path), GraphQuery),
    responses((status = 200, description = "DOT text or JSON graph"), (status = 400, description = "unknown format"), (status = 404)),
    security(("api_key" = [])))]
async fn plan_graph(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<GraphQuery>,
) -> AppResult<Response> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "dot" {
        return Err(AppError::bad_request(ErrorCode::InvalidFormat, format!("`format` must be `json` or `dot`, not `{format}`.")));
    }
    let plan = service::get_plan(&s, &caller.0, id).await?;
    let disposition = format!("inline; filename=\"plan-{id}.{format}\"");
    Ok(if format == "dot" {
        (
            [
                (http::header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8".to_string()),
                (http::header::CONTENT_DISPOSITION, disposition),
            ],
            super::graph::to_dot(&plan),
        )
            .into_response()
    } else {
        ([(http::header::CONTENT_DISPOSITION, disposition)], Json(super::graph::to_json(&plan))).into_response()
    })
}
