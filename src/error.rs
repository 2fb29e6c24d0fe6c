//! One error type for both doors: JSON handlers and server functions answer with the same code and sentence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every error code the API and the server functions answer with: the `error` field of the JSON
/// body, stable for clients to match on. Written as its snake_case name only at the edge.
macro_rules! error_codes {
    ($($variant:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    AlreadyChosen => "already_chosen",
    AlreadyDecided => "already_decided",
    AlreadyExists => "already_exists",
    AlreadyRevoked => "already_revoked",
    AlreadyStarted => "already_started",
    AlreadyVoted => "already_voted",
    BadRequest => "bad_request",
    CandidateNotValid => "candidate_not_valid",
    CrossOrigin => "cross_origin",
    CsrfFailed => "csrf_failed",
    EmptySelection => "empty_selection",
    Expired => "expired",
    FeatureDisabled => "feature_disabled",
    HardMandatory => "hard_mandatory",
    Forbidden => "forbidden",
    IdempotencyKeyInFlight => "idempotency_key_in_flight",
    IdempotencyKeyReused => "idempotency_key_reused",
    Internal => "internal",
    InvalidBody => "invalid_body",
    InvalidBudget => "invalid_budget",
    InvalidComment => "invalid_comment",
    InvalidField => "invalid_field",
    InvalidForm => "invalid_form",
    InvalidFormat => "invalid_format",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidJson => "invalid_json",
    InvalidKeyName => "invalid_key_name",
    InvalidLastEventId => "invalid_last_event_id",
    InvalidPath => "invalid_path",
    InvalidQuery => "invalid_query",
    InvalidSelection => "invalid_selection",
    InvalidUsername => "invalid_username",
    ItemHasDependents => "item_has_dependents",
    ItemsDone => "items_done",
    KeyNameTaken => "key_name_taken",
    LeaseExpired => "lease_expired",
    LeaseLost => "lease_lost",
    MethodNotAllowed => "method_not_allowed",
    MissingField => "missing_field",
    NotBlocking => "not_blocking",
    NotFound => "not_found",
    NotInForce => "not_in_force",
    NotRequester => "not_requester",
    NotRunning => "not_running",
    PackNotEmpty => "pack_not_empty",
    PayloadTooLarge => "payload_too_large",
    PlanBlocked => "plan_blocked",
    ReasonRequired => "reason_required",
    ReferenceConflict => "reference_conflict",
    SelectionTooLarge => "selection_too_large",
    SelfApproval => "self_approval",
    SlugTaken => "slug_taken",
    StaleComparison => "stale_comparison",
    TooLarge => "too_large",
    TooManyAttempts => "too_many_attempts",
    ToolExists => "tool_exists",
    ToolInUse => "tool_in_use",
    Unauthorized => "unauthorized",
    UnknownItem => "unknown_item",
    UnknownPlan => "unknown_plan",
    UnknownProvider => "unknown_provider",
    UnknownReferences => "unknown_references",
    UnknownReviewer => "unknown_reviewer",
    UnknownTool => "unknown_tool",
    Unreachable => "unreachable",
    UnsupportedMediaType => "unsupported_media_type",
    UsernameTaken => "username_taken",
    ValidationFailed => "validation_failed",
    WeakPassword => "weak_password",
    WebhooksNotConfigured => "webhooks_not_configured",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a client can act on: an HTTP status, a stable snake_case `code`, a sentence saying
/// what to fix, and optional structured details (e.g. the unknown ids) merged into the JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub status: u16,
    pub code: ErrorCode,
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
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Map::new(), database: false }
    }
    /// The request could not be read as the expected shape (syntax, types, missing fields).
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(404, ErrorCode::NotFound, format!("{what} was not found."))
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }
    /// The request was well-formed but its values make no sense (unknown ids, cycles, blank title).
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }
    pub fn internal() -> Self {
        Self::new(500, ErrorCode::Internal, "Something went wrong on the server; it has been logged. Try again.")
    }
    /// Attach a structured detail, e.g. `.with("unknown_item_ids", json!([4, 9]))`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
    /// The JSON body of the HTTP contract: `{"error": code, "message": sentence, ...details}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.code.as_str().to_string()));
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
                AppError::bad_request(ErrorCode::InvalidForm, format!("The form could not be read: {m}"))
            }
            E::Request(m) | E::Response(m) => AppError::new(503, ErrorCode::Unreachable, format!("The server could not be reached: {m}")),
            other => AppError::new(500, ErrorCode::Internal, other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::{AppError, ErrorCode};
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
                    ErrorCode::ReferenceConflict,
                    "A record this request refers to was changed or deleted at the same time; reload and try again.",
                ),
                sqlx::Error::Database(db) if db.is_unique_violation() => AppError::conflict(
                    ErrorCode::AlreadyExists,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_snake_case_names_at_the_edge() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(serde_json::json!(code.as_str())).unwrap(), code);
        }
        let e = AppError::conflict(ErrorCode::SlugTaken, "taken").with("slug", "billing");
        assert_eq!(e.body(), serde_json::json!({"error": "slug_taken", "message": "taken", "slug": "billing"}));
        let back: AppError = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e, "server-function errors reach the browser whole");
    }
}
