//! Backlog JSON endpoints: extract → service → JSON. See docs/api.md and /api/openapi.json.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::*;
use super::service;
use crate::auth::http::ApiCaller;
use crate::error::AppResult;
use crate::http::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_packs, create_pack))
        .routes(routes!(get_pack, update_pack, delete_pack))
        .routes(routes!(list_items, create_item))
        .routes(routes!(get_item, update_item, delete_item))
        .routes(routes!(list_tools, create_tool))
        .routes(routes!(get_tool, update_tool, delete_tool))
        .routes(routes!(list_metrics, record_metric))
}

/// List packs with their item counts.
#[utoipa::path(get, path = "/packs", tag = "backlog", responses((status = 200, body = [Pack])), security(("api_key" = [])))]
async fn list_packs(State(s): State<AppState>, ApiCaller(who): ApiCaller) -> AppResult<Json<Vec<Pack>>> {
    Ok(Json(service::list_packs(&s.db, &who).await?))
}

/// Create a pack (`name` required; `slug` derived from it when omitted).
#[utoipa::path(post, path = "/packs", tag = "backlog", request_body = PackInput,
    responses((status = 201, body = Pack), (status = 409, description = "slug taken"), (status = 422, description = "invalid")),
    security(("api_key" = [])))]
async fn create_pack(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<PackInput>,
) -> AppResult<(StatusCode, Json<Pack>)> {
    Ok((StatusCode::CREATED, Json(service::create_pack(&s.db, &who, &input).await?)))
}

/// Read one pack.
#[utoipa::path(get, path = "/packs/{id}", tag = "backlog", params(("id" = i64, Path)), responses((status = 200, body = Pack), (status = 404)), security(("api_key" = [])))]
async fn get_pack(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<Pack>> {
    Ok(Json(service::get_pack(&s.db, &who, id).await?))
}

/// Change a pack's name, slug or description.
#[utoipa::path(patch, path = "/packs/{id}", tag = "backlog", params(("id" = i64, Path)), request_body = PackInput, responses((status = 200, body = Pack), (status = 409, description = "slug taken")), security(("api_key" = [])))]
async fn update_pack(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PackInput>,
) -> AppResult<Json<Pack>> {
    Ok(Json(service::update_pack(&s.db, &who, id, &input).await?))
}

/// Delete an empty pack (409 `pack_not_empty` otherwise).
#[utoipa::path(delete, path = "/packs/{id}", tag = "backlog", params(("id" = i64, Path)), responses((status = 204), (status = 409)), security(("api_key" = [])))]
async fn delete_pack(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<i64>) -> AppResult<StatusCode> {
    service::delete_pack(&s.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List backlog items, filtered by pack, status, label or title text.
#[utoipa::path(get, path = "/items", tag = "backlog", params(ItemFilter), responses((status = 200, body = [BacklogItem])), security(("api_key" = [])))]
async fn list_items(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiQuery(filter): ApiQuery<ItemFilter>,
) -> AppResult<Json<Vec<BacklogItem>>> {
    Ok(Json(service::list_items(&s.db, &who, &filter).await?))
}

/// Create a backlog item. Unknown pack, dependency or tool ids → 422 `unknown_references` naming them.
#[utoipa::path(post, path = "/items", tag = "backlog", request_body = ItemInput,
    responses((status = 201, body = BacklogItem), (status = 400, description = "malformed body"), (status = 422, description = "invalid or unknown references")),
    security(("api_key" = [])))]
async fn create_item(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<ItemInput>,
) -> AppResult<(StatusCode, Json<BacklogItem>)> {
    Ok((StatusCode::CREATED, Json(service::create_item(&s.db, &who, &input).await?)))
}

/// Read one backlog item.
#[utoipa::path(get, path = "/items/{id}", tag = "backlog", params(("id" = i64, Path)), responses((status = 200, body = BacklogItem), (status = 404)), security(("api_key" = [])))]
async fn get_item(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<BacklogItem>> {
    Ok(Json(service::get_item(&s.db, &who, id).await?))
}

/// Change some fields of an item; omitted fields keep their value, lists are replaced whole.
#[utoipa::path(patch, path = "/items/{id}", tag = "backlog", params(("id" = i64, Path)), request_body = ItemInput,
    responses((status = 200, body = BacklogItem), (status = 422, description = "invalid, self-dependency or unknown references")), security(("api_key" = [])))]
async fn update_item(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ItemInput>,
) -> AppResult<Json<BacklogItem>> {
    Ok(Json(service::update_item(&s.db, &who, id, &input).await?))
}

/// Delete an item nothing depends on (409 `item_has_dependents` otherwise).
#[utoipa::path(delete, path = "/items/{id}", tag = "backlog", params(("id" = i64, Path)), responses((status = 204), (status = 409)), security(("api_key" = [])))]
async fn delete_item(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<i64>) -> AppResult<StatusCode> {
    service::delete_item(&s.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tool registry.
#[utoipa::path(get, path = "/tools", tag = "tools", responses((status = 200, body = [Tool])), security(("api_key" = [])))]
async fn list_tools(State(s): State<AppState>, ApiCaller(who): ApiCaller) -> AppResult<Json<Vec<Tool>>> {
    Ok(Json(service::list_tools(&s.db, &who).await?))
}

/// Register a tool (admin).
#[utoipa::path(post, path = "/tools", tag = "tools", request_body = ToolInput, responses((status = 201, body = Tool), (status = 409)), security(("api_key" = [])))]
async fn create_tool(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<ToolInput>,
) -> AppResult<(StatusCode, Json<Tool>)> {
    Ok((StatusCode::CREATED, Json(service::create_tool(&s.db, &who, &input).await?)))
}

/// Read one tool.
#[utoipa::path(get, path = "/tools/{id}", tag = "tools", params(("id" = String, Path)), responses((status = 200, body = Tool), (status = 404)), security(("api_key" = [])))]
async fn get_tool(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<String>) -> AppResult<Json<Tool>> {
    Ok(Json(service::get_tool(&s.db, &who, &id).await?))
}

/// Change a tool (admin).
#[utoipa::path(patch, path = "/tools/{id}", tag = "tools", params(("id" = String, Path)), request_body = ToolInput, responses((status = 200, body = Tool)), security(("api_key" = [])))]
async fn update_tool(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ToolInput>,
) -> AppResult<Json<Tool>> {
    Ok(Json(service::update_tool(&s.db, &who, &id, &input).await?))
}

/// Remove a tool no item uses (admin).
#[utoipa::path(delete, path = "/tools/{id}", tag = "tools", params(("id" = String, Path)), responses((status = 204), (status = 409)), security(("api_key" = [])))]
async fn delete_tool(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<String>) -> AppResult<StatusCode> {
    service::delete_tool(&s.db, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MetricQuery {
    tool_id: Option<String>,
    /// At most 1000; default 100.
    limit: Option<i64>,
}

/// Recorded tool runs, newest first.
#[utoipa::path(get, path = "/tool-metrics", tag = "tools", params(MetricQuery), responses((status = 200, body = [ToolMetric])), security(("api_key" = [])))]
async fn list_metrics(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiQuery(q): ApiQuery<MetricQuery>,
) -> AppResult<Json<Vec<ToolMetric>>> {
    Ok(Json(service::list_metrics(&s.db, &who, q.tool_id.as_deref(), q.limit.unwrap_or(100)).await?))
}

/// Record one run of a tool (duration, cost, tokens) for the resource gate's estimates.
#[utoipa::path(post, path = "/tool-metrics", tag = "tools", request_body = MetricInput, responses((status = 201, body = ToolMetric), (status = 422)), security(("api_key" = [])))]
async fn record_metric(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<MetricInput>,
) -> AppResult<(StatusCode, Json<ToolMetric>)> {
    Ok((StatusCode::CREATED, Json(service::record_metric(&s.db, &who, &input).await?)))
}
