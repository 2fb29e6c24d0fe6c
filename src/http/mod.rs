//! HTTP plumbing shared by the JSON API: the JSON body extractor and the error normaliser.

pub mod assets;
pub mod security;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{AppError, ErrorCode};

/// `axum::Json`, but every rejection becomes the contract's JSON error with a sentence saying
/// what to fix (axum answers some of them in plain text).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => AppError::bad_request(
            ErrorCode::InvalidJson,
            format!("The body is not valid JSON: {}. Check quotes, commas and brackets.", inner(&e.body_text())),
        ),
        JsonRejection::JsonDataError(e) => {
            AppError::bad_request(ErrorCode::InvalidBody, format!("The JSON does not have the expected shape: {}.", inner(&e.body_text())))
        }
        JsonRejection::MissingJsonContentType(_) => {
            AppError::new(415, ErrorCode::UnsupportedMediaType, "Send the body as JSON with the header `Content-Type: application/json`.")
        }
        other if other.status() == http::StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => AppError::bad_request(ErrorCode::InvalidBody, format!("The body could not be read: {}.", other.body_text())),
    }
}

/// axum's messages start with a generic prefix; keep the part that names the problem.
fn inner(text: &str) -> String {
    text.split_once(": ").map(|(_, rest)| rest).unwrap_or(text).trim_end_matches('.').to_string()
}

pub fn too_large() -> AppError {
    AppError::new(413, ErrorCode::PayloadTooLarge, "The request body is too large; send less than the configured limit (1 MiB by default).")
}

/// Query string extractor with contract errors.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(AppError::bad_request(
                ErrorCode::InvalidQuery,
                format!("The query string could not be read: {}.", inner(&e.body_text())),
            )),
            Err(e) => Err(AppError::bad_request(ErrorCode::InvalidQuery, e.body_text())),
        }
    }
}

/// Path extractor with contract errors (`/api/items/abc` → 400 saying an id is a number).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(AppError::bad_request(ErrorCode::InvalidPath, format!("The URL path is not valid: {}.", inner(&e.body_text()))))
            }
            Err(e) => Err(AppError::bad_request(ErrorCode::InvalidPath, e.body_text())),
        }
    }
}

/// Turns the plain-text errors that layers and the router produce under `/api` (404 no route,
/// 405, 413 from the body limit) into the contract's JSON errors.
pub async fn normalise_api_errors(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if !path.starts_with("/api/") && path != "/api" {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let err = match status.as_u16() {
        404 => AppError::new(404, ErrorCode::NotFound, format!("There is no API endpoint at `{path}`; see /api/openapi.json.")),
        405 => AppError::new(405, ErrorCode::MethodNotAllowed, format!("`{method}` is not allowed on `{path}`; see /api/openapi.json.")),
        413 => too_large(),
        code => AppError::new(code, ErrorCode::BadRequest, format!("The request was rejected ({status}).")),
    };
    let mut out = err.into_response();
    if let Some(allow) = response.headers().get(http::header::ALLOW) {
        out.headers_mut().insert(http::header::ALLOW, allow.clone());
    }
    out
}

/// Gives server-function errors raised before the function body runs (a form that cannot be
/// decoded: wrong types, missing fields) the status their JSON body names. leptos answers every
/// such error with 500; a client that sent a bad form should see the 400 the body already says.
pub async fn server_fn_error_status(req: Request, next: axum::middleware::Next) -> Response {
    if !req.uri().path().starts_with("/_fn/") {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    if response.status() != http::StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key("serverfnerror") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error bodies are a sentence of JSON; anything bigger is passed on as a 500.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(AppError::internal().body())).into_response();
    };
    let named = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v.get("status")?.as_u64());
    if let Some(status) = named.and_then(|s| http::StatusCode::from_u16(s as u16).ok()).filter(|s| s.is_client_error()) {
        parts.status = status;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
