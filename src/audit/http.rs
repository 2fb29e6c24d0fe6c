//! Audit JSON endpoints: filtered pages, the head, verification and the JSON Lines export.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::model::*;
use super::service;
use crate::auth::http::AnyCaller;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(head)).routes(routes!(verify)).routes(routes!(export))
}

/// Audit records, newest first, filtered by pack, item, plan, approval, override, actor, action
/// (or `area.*`) and time; `before` pages back (pass the previous page's `next`). Auditors and
/// admins only.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = AuditPage), (status = 403, description = "role cannot read the audit trail"),
        (status = 422, description = "`invalid_query`: a filter is malformed")),
    security(("api_key" = [])))]
async fn list(State(s): State<AppState>, AnyCaller(who): AnyCaller, ApiQuery(f): ApiQuery<AuditFilter>) -> AppResult<Json<AuditPage>> {
    Ok(Json(service::page(&s, &who, &f).await?))
}

/// The latest record's sequence number and hash: keep it elsewhere, and later prove with
/// `nofx audit verify --expect-head SEQ:HASH` that no record up to it was changed or cut off.
#[utoipa::path(get, path = "/audit/head", tag = "audit", responses((status = 200, body = Head)), security(("api_key" = [])))]
async fn head(State(s): State<AppState>, AnyCaller(who): AnyCaller) -> AppResult<Json<Head>> {
    Ok(Json(service::head(&s, &who).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// A head recorded earlier, `SEQ:HASH`.
    expect_head: Option<String>,
}

/// Recomputes the whole hash chain: `broken` names the first record that was altered, removed,
/// inserted or reordered (or the cut-off tail, against `expect_head`).
#[utoipa::path(get, path = "/audit/verify", tag = "audit", params(VerifyQuery),
    responses((status = 200, body = ChainStatus), (status = 422, description = "`invalid_query`: `expect_head` is not `SEQ:HASH`")),
    security(("api_key" = [])))]
async fn verify(State(s): State<AppState>, AnyCaller(who): AnyCaller, ApiQuery(q): ApiQuery<VerifyQuery>) -> AppResult<Json<ChainStatus>> {
    let expect = match q.expect_head.as_deref() {
        Some(h) => Some(Head::parse(h).ok_or_else(|| {
            AppError::unprocessable(
                ErrorCode::InvalidQuery,
                "`expect_head` is `SEQ:HASH`, as GET /api/audit/head gives it (e.g. `42:9f…`).",
            )
        })?),
        None => None,
    };
    Ok(Json(service::verify(&s, &who, expect.as_ref()).await?))
}

/// The log as JSON Lines (`application/x-ndjson`), oldest first, streamed: every line a record
/// with its `prev_hash` and `hash`. Unfiltered, enough to verify the chain from the file alone
/// (docs/operations.md shows how); with the list's filters, just the records they select.
#[utoipa::path(get, path = "/audit/export", tag = "audit", params(AuditFilter),
    responses((status = 200, content_type = "application/x-ndjson", description = "one record per line"),
        (status = 422, description = "`invalid_query`: a filter is malformed")),
    security(("api_key" = [])))]
async fn export(State(s): State<AppState>, AnyCaller(who): AnyCaller, ApiQuery(f): ApiQuery<AuditFilter>) -> AppResult<Response> {
    let stream = service::export(&s, &who, &f)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"nofx-audit.jsonl\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
