//! Comparison JSON endpoints: `POST /api/auto-planner/compare` (with `Idempotency-Key`), reading
//! comparisons, their candidates' plans and verdicts, and keeping one as the plan. Extract →
//! service → JSON; see docs/api.md.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::*;
use super::service::{self, Compared};
use crate::auth::http::{AnyCaller, ApiCaller};
use crate::error::AppResult;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::idempotency;
use crate::plan::model::{EvaluationFilter, Plan};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(compare))
        .routes(routes!(list_comparisons))
        .routes(routes!(get_comparison))
        .routes(routes!(candidate_plan))
        .routes(routes!(candidate_evaluations))
        .routes(routes!(choose))
}

fn json_answer(status: StatusCode, body: String) -> Response {
    (status, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Ask every configured planner provider (or the ones named in `providers`) for a plan of the
/// same items at once, each within its timeout; build and gate every proposal with the same four
/// gates, score them, store the comparison and emit `comparison.ready`. A failing, slow or
/// invalid provider is a candidate with its reason, not a failed request.
#[utoipa::path(post, path = "/auto-planner/compare", tag = "comparisons", request_body = CompareRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries (kept 24 h)")),
    responses(
        (status = 201, body = Comparison, description = "stored", headers(("Location" = String, description = "the stored comparison"))),
        (status = 400, description = "malformed JSON"),
        (status = 403, description = "wrong role, or `feature_disabled` with `flag`"),
        (status = 409, description = "`idempotency_key_in_flight`"),
        (status = 422, description = "unknown items or providers, empty or huge selection, `idempotency_key_reused`")),
    security(("api_key" = [])))]
async fn compare(State(s): State<AppState>, ApiCaller(who): ApiCaller, headers: HeaderMap, body: Bytes) -> AppResult<Response> {
    let key = headers.get(idempotency::HEADER).map(|v| v.to_str().unwrap_or("").trim().to_string());
    match service::compare_json(&s, &who, &body, key.as_deref()).await? {
        Compared::Created { id, body } => {
            let mut res = json_answer(StatusCode::CREATED, body);
            if let Ok(location) = HeaderValue::from_str(&format!("/api/auto-planner/comparisons/{id}")) {
                res.headers_mut().insert(http::header::LOCATION, location);
            }
            Ok(res)
        }
        Compared::Replayed { status, body } => {
            let mut res = json_answer(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body);
            res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// At most 200; default 50.
    limit: Option<i64>,
}

/// Comparisons, newest first, with their candidates' figures and scores.
#[utoipa::path(get, path = "/auto-planner/comparisons", tag = "comparisons", params(ListQuery),
    responses((status = 200, body = [Comparison])), security(("api_key" = [])))]
async fn list_comparisons(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<Vec<Comparison>>> {
    Ok(Json(service::list(&s, &caller.0, q.limit.unwrap_or(50)).await?))
}

/// One comparison: the request, every candidate (status, reason, figures, score), the best one
/// and the one kept.
#[utoipa::path(get, path = "/auto-planner/comparisons/{id}", tag = "comparisons", params(("id" = i64, Path)),
    responses((status = 200, body = Comparison), (status = 404)), security(("api_key" = [])))]
async fn get_comparison(State(s): State<AppState>, caller: AnyCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<Comparison>> {
    Ok(Json(service::get(&s, &caller.0, id).await?))
}

/// A valid candidate's gated plan (steps, waves, verdicts), as it would be stored; its `id` is 0
/// until it is kept.
#[utoipa::path(get, path = "/auto-planner/comparisons/{id}/candidates/{index}", tag = "comparisons",
    params(("id" = i64, Path), ("index" = usize, Path)),
    responses((status = 200, body = Plan), (status = 404), (status = 422, description = "`candidate_not_valid`: it has no plan")),
    security(("api_key" = [])))]
async fn candidate_plan(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiPath((id, index)): ApiPath<(i64, usize)>,
) -> AppResult<Json<Plan>> {
    Ok(Json(service::candidate_plan(&s, &caller.0, id, index).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EvaluationQuery {
    /// One candidate's verdicts only.
    candidate: Option<usize>,
    gate: Option<crate::plan::verdict::Gate>,
    verdict: Option<crate::plan::verdict::Verdict>,
    /// A step id, or `plan` for the plan-level rows only.
    step_id: Option<String>,
}

/// The gate verdicts of every valid candidate, per step and per model: one row per gate for each
/// candidate's plan (`step_id: null`) and for each of its steps.
#[utoipa::path(get, path = "/auto-planner/comparisons/{id}/evaluations", tag = "comparisons", params(("id" = i64, Path), EvaluationQuery),
    responses((status = 200, body = [CandidateEvaluation]), (status = 404)), security(("api_key" = [])))]
async fn candidate_evaluations(
    State(s): State<AppState>,
    caller: AnyCaller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<EvaluationQuery>,
) -> AppResult<Json<Vec<CandidateEvaluation>>> {
    let f = EvaluationFilter { gate: q.gate, verdict: q.verdict, step_id: q.step_id };
    Ok(Json(service::evaluations(&s, &caller.0, id, q.candidate, &f).await?))
}

/// Which candidate to keep.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseRequest {
    pub candidate: usize,
}

/// Keep a valid candidate as the plan: stored as it was gated, by the caller, with `plan.evaluated`
/// and `plan.ready` or `plan.blocked`. Once per comparison; refused when the items or tools it was
/// made from changed since.
#[utoipa::path(post, path = "/auto-planner/comparisons/{id}/choose", tag = "comparisons", params(("id" = i64, Path)), request_body = ChooseRequest,
    responses(
        (status = 201, body = Plan, description = "the new plan", headers(("Location" = String, description = "the stored plan"))),
        (status = 404),
        (status = 409, description = "`already_chosen` (with `plan_id`) or `stale_comparison`"),
        (status = 422, description = "`candidate_not_valid`")),
    security(("api_key" = [])))]
async fn choose(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ChooseRequest>,
) -> AppResult<Response> {
    let stored = service::choose(&s, &who, id, body.candidate).await?;
    let mut res = json_answer(StatusCode::CREATED, stored.json);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/plans/{}", stored.plan.id)) {
        res.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(res)
}
