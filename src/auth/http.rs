//! The JSON API's door: `Authorization: Bearer <api key>` (or the browser's session cookie) →
//! [`Principal`]. Who may do what is the services' business (`Principal::require`).

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::model::Principal;
use super::service;
use crate::error::AppError;
use crate::state::AppState;

/// The caller of a JSON endpoint, authenticated by API key.
pub struct ApiCaller(pub Principal);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(AppError::unauthorized(
                "This endpoint needs an API key: send `Authorization: Bearer <key>` (create one with `nofx api-key create`).",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or_else(|| AppError::unauthorized("The Authorization header must be `Bearer <api key>`."))?;
        match service::principal_by_api_key(&state.db, key).await? {
            Some(p) => Ok(ApiCaller(p)),
            None => Err(AppError::unauthorized("This API key is unknown; check that the whole key was sent after `Bearer `.")),
        }
    }
}

/// An API key, or else the browser's session cookie: for read-only endpoints the browser also
/// uses directly (the event stream; `EventSource` cannot send an Authorization header).
pub struct AnyCaller(pub Principal);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            return ApiCaller::from_request_parts(parts, state).await.map(|c| AnyCaller(c.0));
        }
        let jar = axum_extra::extract::CookieJar::from_headers(&parts.headers);
        if let Some(token) = jar.get(service::SESSION_COOKIE).map(|c| c.value().to_string()) {
            if let Some(session) = service::session_by_token(&state.db, &token).await? {
                return Ok(AnyCaller(session.principal));
            }
        }
        Err(AppError::unauthorized("Send `Authorization: Bearer <key>` or sign in: this endpoint accepts an API key or a browser session."))
    }
}

// ---- API keys --------------------------------------------------------------------------------

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::keys;
use super::model::{ApiKeyInfo, CreatedKey, NewKey};
use crate::error::AppResult;
use crate::http::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys, create_key)).routes(routes!(revoke_key))
}

/// Every API key, newest first: name, role, its first characters, status, created, last used
/// (within a minute), expiry and revocation. Never the key. Admins only.
#[utoipa::path(get, path = "/keys", tag = "keys", responses((status = 200, body = [ApiKeyInfo]), (status = 403)), security(("api_key" = [])))]
async fn list_keys(State(s): State<AppState>, AnyCaller(who): AnyCaller) -> AppResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(keys::list(&s.db, &who).await?))
}

/// Create an API key, optionally expiring after `expires_in_days`. The answer carries the key
/// this once; only its hash is stored. Admins only.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 409, description = "`key_name_taken`"),
        (status = 422, description = "`invalid_key_name` or `invalid_field` (`expires_in_days`)")),
    security(("api_key" = [])))]
async fn create_key(
    State(s): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(body): ApiJson<NewKey>,
) -> AppResult<(StatusCode, Json<CreatedKey>)> {
    Ok((StatusCode::CREATED, Json(keys::create(&s.db, &who, &body).await?)))
}

/// Revoke an API key: every request with it is refused with 401 from now on. Admins only.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = i64, Path)),
    responses((status = 200, body = ApiKeyInfo), (status = 404), (status = 409, description = "`already_revoked`")),
    security(("api_key" = [])))]
async fn revoke_key(State(s): State<AppState>, ApiCaller(who): ApiCaller, ApiPath(id): ApiPath<i64>) -> AppResult<Json<ApiKeyInfo>> {
    Ok(Json(keys::revoke(&s.db, &who, id).await?))
}
