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
        }
    }
}
