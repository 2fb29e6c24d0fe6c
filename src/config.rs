//! Typed configuration, read once at start from flags and the environment.

use crate::flags::FeatureFlags;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/nofx.db";

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub flags: FeatureFlags,
    /// Mark cookies `Secure`; turn on behind HTTPS (`NOFX_SECURE_COOKIES=1`).
    pub secure_cookies: bool,
    pub session_ttl_ms: i64,
    /// Largest accepted request body, in bytes (`NOFX_BODY_LIMIT`, default 1 MiB).
    pub body_limit: usize,
    /// The gate policy file (`NOFX_POLICY`); the shipped default when unset.
    pub policy_path: Option<std::path::PathBuf>,
    /// How long an approval request stays open when neither it nor its tool says
    /// (`NOFX_APPROVAL_EXPIRES_IN_S`, default 3600).
    pub approval_expires_in_s: i64,
    /// What an expired request counts as (`NOFX_APPROVAL_EXPIRY_OUTCOME`: deny (default) or approve).
    pub approval_expiry_outcome: crate::approvals::model::ExpiryOutcome,
    /// Secret (`whsec_…`) Zig Todo signs its decisions with (`NOFX_ZIG_TODO_SECRET`); the
    /// inbound webhook answers 503 while it is unset.
    pub zig_todo_secret: Option<String>,
    /// Where approval events are sent (`NOFX_WEBHOOK_URLS`, comma-separated).
    pub webhook_urls: Vec<String>,
    /// Secret outbound deliveries are signed with (`NOFX_WEBHOOK_SECRET`, `whsec_…`).
    pub webhook_secret: Option<String>,
    /// First retry delay of a failed delivery, in ms (`NOFX_WEBHOOK_RETRY_BASE_MS`, default 5000).
    pub webhook_retry_base_ms: i64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &crate::storage::redact(&self.database_url))
            .field("flags", &self.flags)
            .field("secure_cookies", &self.secure_cookies)
            .field("session_ttl_ms", &self.session_ttl_ms)
            .field("body_limit", &self.body_limit)
            .field("policy_path", &self.policy_path)
            .field("approval_expires_in_s", &self.approval_expires_in_s)
            .field("approval_expiry_outcome", &self.approval_expiry_outcome)
            .field("zig_todo_secret", &self.zig_todo_secret.as_ref().map(|_| "(set)"))
            .field("webhook_urls", &self.webhook_urls)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl Config {
    pub fn from_env(database_url: String) -> Config {
        let get = |k: &str| std::env::var(k).ok();
        Config {
            database_url,
            flags: FeatureFlags::from_lookup(get),
            secure_cookies: FeatureFlags::parse_value(get("NOFX_SECURE_COOKIES").as_deref()),
            session_ttl_ms: 7 * 24 * 3_600_000,
            body_limit: get("NOFX_BODY_LIMIT").and_then(|v| v.parse().ok()).unwrap_or(1024 * 1024),
            policy_path: get("NOFX_POLICY").filter(|p| !p.trim().is_empty()).map(Into::into),
            approval_expires_in_s: get("NOFX_APPROVAL_EXPIRES_IN_S").and_then(|v| v.trim().parse().ok()).filter(|s: &i64| *s > 0).unwrap_or(3600),
            approval_expiry_outcome: get("NOFX_APPROVAL_EXPIRY_OUTCOME")
                .and_then(|v| crate::approvals::model::ExpiryOutcome::parse(v.trim()))
                .unwrap_or_default(),
            zig_todo_secret: get("NOFX_ZIG_TODO_SECRET").filter(|v| !v.trim().is_empty()),
            webhook_urls: get("NOFX_WEBHOOK_URLS").map(|v| v.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect()).unwrap_or_default(),
            webhook_secret: get("NOFX_WEBHOOK_SECRET").filter(|v| !v.trim().is_empty()),
            webhook_retry_base_ms: get("NOFX_WEBHOOK_RETRY_BASE_MS").and_then(|v| v.trim().parse().ok()).filter(|v: &i64| *v > 0).unwrap_or(5000),
        }
    }

    /// A configuration for tests and benchmarks: no environment involved.
    pub fn for_tests(database_url: String, flags: FeatureFlags) -> Config {
        Config {
            database_url,
            flags,
            secure_cookies: false,
            session_ttl_ms: 3_600_000,
            body_limit: 1024 * 1024,
            policy_path: None,
            approval_expires_in_s: 3600,
            approval_expiry_outcome: Default::default(),
            zig_todo_secret: None,
            webhook_urls: vec![],
            webhook_secret: None,
            webhook_retry_base_ms: 5000,
        }
    }
}
