//! One error type for both doors: JSON handlers and server functions answer with the same code and sentence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An error a client can act on: an HTTP status, a stable snake_case `code`, a sentence saying
/// what to fix, and optional structured details (e.g. the unknown ids) merged into the JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// Raised by a failed database statement (not a refusal decided in code): the transaction
    /// it happened in may hold partial writes and must not be committed. Never sent to clients.
    #[serde(skip)]
    pub database: bool,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), details: Map::new(), database: false }
    }
    /// The request could not be read as the expected shape (syntax, types, missing fields).
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} was not found."))
    }
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }
    /// The request was well-formed but its values make no sense (unknown ids, cycles, blank title).
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }
    pub fn internal() -> Self {
        Self::new(500, "internal", "Something went wrong on the server; it has been logged. Try again.")
    }
    /// Attach a structured detail, e.g. `.with("unknown_item_ids", json!([4, 9]))`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
    /// The JSON body of the HTTP contract: `{"error": code, "message": sentence, ...details}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.clone()));
        body.insert("message".into(), Value::String(self.message.clone()));
        for (k, v) in &self.details {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::MissingArg(m) | E::Deserialization(m) => {
                AppError::bad_request("invalid_form", format!("The form could not be read: {m}"))
            }
            E::Request(m) | E::Response(m) => AppError::new(503, "unreachable", format!("The server could not be reached: {m}")),
            other => AppError::new(500, "internal", other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use axum::response::{IntoResponse, Response};

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(self.body())).into_response();
            if self.status == 401 {
                response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            }
            response
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            let mut e = match err {
                sqlx::Error::RowNotFound => AppError::not_found("The requested record"),
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => AppError::conflict(
                    "reference_conflict",
                    "A record this request refers to was changed or deleted at the same time; reload and try again.",
                ),
                sqlx::Error::Database(db) if db.is_unique_violation() => AppError::conflict(
                    "already_exists",
                    "A record with the same unique name was created at the same time; choose another name.",
                ),
                other => {
                    // Details stay in the log; the client gets a sentence, never SQL.
                    tracing::error!(error = %other, "database error");
                    AppError::internal()
                }
            };
            e.database = true;
            e
        }
    }
}
