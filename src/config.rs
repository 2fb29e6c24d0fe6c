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
        }
    }

    /// A configuration for tests and benchmarks: no environment involved.
    pub fn for_tests(database_url: String, flags: FeatureFlags) -> Config {
        Config { database_url, flags, secure_cookies: false, session_ttl_ms: 3_600_000, body_limit: 1024 * 1024, policy_path: None }
    }
}
