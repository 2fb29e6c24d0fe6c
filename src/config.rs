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
    /// The planner providers file (`NOFX_PROVIDERS`); the shipped one (the four built-in
    /// strategies) when unset.
    pub providers_path: Option<std::path::PathBuf>,
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
    /// Which event types are sent (`NOFX_WEBHOOK_EVENTS`: types or `prefix.*`, comma-separated).
    pub webhook_events: Option<String>,
    /// First retry delay of a failed delivery, in ms (`NOFX_WEBHOOK_RETRY_BASE_MS`, default 5000).
    pub webhook_retry_base_ms: i64,
    /// Connection limits and timeouts of the HTTP server.
    pub limits: ServerLimits,
    /// Sign-in throttling (see `auth::throttle`).
    pub login_throttle: crate::auth::throttle::ThrottlePolicy,
    /// Read the client's address from the last `X-Forwarded-For` entry, as set by a reverse proxy
    /// in front of this server (`NOFX_TRUST_PROXY=1`); otherwise the TCP peer address is used.
    pub trust_proxy: bool,
}

/// What the server allows a connection before it closes it (`docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A client must send a request's complete headers within this time, on a new connection
    /// and on an idle keep-alive one (`NOFX_HEADER_TIMEOUT_S`, default 10).
    pub header_read_timeout: std::time::Duration,
    /// The longest pause between two pieces of a request body (`NOFX_BODY_TIMEOUT_S`, default 15).
    pub body_timeout: std::time::Duration,
    /// Open connections at once; further clients wait in the listen queue (`NOFX_MAX_CONNECTIONS`,
    /// default 1024).
    pub max_connections: usize,
    /// How long a shutdown waits for open requests (long polls, event streams) before it closes them.
    pub shutdown_grace: std::time::Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(15),
            max_connections: 1024,
            shutdown_grace: std::time::Duration::from_secs(10),
        }
    }
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
            .field("providers_path", &self.providers_path)
            .field("approval_expires_in_s", &self.approval_expires_in_s)
            .field("approval_expiry_outcome", &self.approval_expiry_outcome)
            .field("zig_todo_secret", &self.zig_todo_secret.as_ref().map(|_| "(set)"))
            .field("webhook_urls", &self.webhook_urls)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "(set)"))
            .field("webhook_events", &self.webhook_events)
            .field("limits", &self.limits)
            .field("login_throttle", &self.login_throttle)
            .field("trust_proxy", &self.trust_proxy)
            .finish()
    }
}

impl Config {
    /// Reads the environment; a variable that is set but malformed stops the start with a
    /// message naming it and saying what it must look like (never a silent default).
    pub fn from_env(database_url: String) -> anyhow::Result<Config> {
        Self::from_lookup(database_url, |k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] over any lookup (tests pass a map).
    pub fn from_lookup(database_url: String, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        // A set, non-blank variable parsed with `parse`, or `None` when unset or blank.
        let read = |name: &str, what: &str, parse: &dyn Fn(&str) -> Option<i64>| -> anyhow::Result<Option<i64>> {
            match get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => parse(&v).map(Some).ok_or_else(|| anyhow::anyhow!("{name}: `{v}` is not {what}")),
            }
        };
        let positive = |v: &str| v.parse::<i64>().ok().filter(|n| *n > 0);
        let flag = |name: &str| -> anyhow::Result<bool> {
            FeatureFlags::parse_value(get(name).as_deref()).map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let secs = |name: &str, default: std::time::Duration| -> anyhow::Result<std::time::Duration> {
            Ok(read(name, "a positive number of seconds", &positive)?.map(|s| std::time::Duration::from_secs(s as u64)).unwrap_or(default))
        };
        let d = ServerLimits::default();
        let outcome = match get("NOFX_APPROVAL_EXPIRY_OUTCOME").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => Default::default(),
            Some(v) => crate::approvals::model::ExpiryOutcome::parse(&v)
                .ok_or_else(|| anyhow::anyhow!("NOFX_APPROVAL_EXPIRY_OUTCOME: `{v}` is neither `deny` nor `approve`"))?,
        };
        Ok(Config {
            database_url,
            flags: FeatureFlags::from_lookup(&get).map_err(|e| anyhow::anyhow!(e))?,
            secure_cookies: flag("NOFX_SECURE_COOKIES")?,
            session_ttl_ms: 7 * 24 * 3_600_000,
            body_limit: read("NOFX_BODY_LIMIT", "a positive number of bytes", &positive)?.map(|b| b as usize).unwrap_or(1024 * 1024),
            policy_path: get("NOFX_POLICY").filter(|p| !p.trim().is_empty()).map(Into::into),
            providers_path: get("NOFX_PROVIDERS").filter(|p| !p.trim().is_empty()).map(Into::into),
            approval_expires_in_s: read("NOFX_APPROVAL_EXPIRES_IN_S", "a positive number of seconds", &positive)?.unwrap_or(3600),
            approval_expiry_outcome: outcome,
            zig_todo_secret: get("NOFX_ZIG_TODO_SECRET").filter(|v| !v.trim().is_empty()),
            webhook_urls: get("NOFX_WEBHOOK_URLS")
                .map(|v| v.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect())
                .unwrap_or_default(),
            webhook_secret: get("NOFX_WEBHOOK_SECRET").filter(|v| !v.trim().is_empty()),
            webhook_events: get("NOFX_WEBHOOK_EVENTS").filter(|v| !v.trim().is_empty()),
            webhook_retry_base_ms: read("NOFX_WEBHOOK_RETRY_BASE_MS", "a positive number of milliseconds", &positive)?.unwrap_or(5000),
            limits: ServerLimits {
                header_read_timeout: secs("NOFX_HEADER_TIMEOUT_S", d.header_read_timeout)?,
                body_timeout: secs("NOFX_BODY_TIMEOUT_S", d.body_timeout)?,
                max_connections: read("NOFX_MAX_CONNECTIONS", "a positive number of connections", &positive)?
                    .map(|n| n as usize)
                    .unwrap_or(d.max_connections),
                shutdown_grace: d.shutdown_grace,
            },
            login_throttle: Default::default(),
            trust_proxy: flag("NOFX_TRUST_PROXY")?,
        })
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
            providers_path: None,
            approval_expires_in_s: 3600,
            approval_expiry_outcome: Default::default(),
            zig_todo_secret: None,
            webhook_urls: vec![],
            webhook_secret: None,
            webhook_events: None,
            webhook_retry_base_ms: 5000,
            limits: ServerLimits::default(),
            login_throttle: Default::default(),
            trust_proxy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup("sqlite://x.db".into(), move |k| map.get(k).cloned())
    }

    #[test]
    fn unset_and_blank_variables_take_their_defaults() {
        let c = with(&[("NOFX_BODY_LIMIT", " "), ("FEATURE_AUTO_PLANNER", "")]).unwrap();
        assert_eq!((c.body_limit, c.flags.auto_planner, c.limits), (1024 * 1024, false, ServerLimits::default()));
        let c = with(&[("NOFX_BODY_LIMIT", "2048"), ("NOFX_HEADER_TIMEOUT_S", "3"), ("FEATURE_PLANNER_EXECUTE", "on")]).unwrap();
        assert_eq!((c.body_limit, c.limits.header_read_timeout.as_secs(), c.flags.planner_execute), (2048, 3, true));
    }

    #[test]
    fn a_malformed_variable_stops_the_start_naming_it() {
        for (name, value) in [
            ("NOFX_BODY_LIMIT", "1MB"),
            ("NOFX_BODY_LIMIT", "-5"),
            ("NOFX_HEADER_TIMEOUT_S", "0"),
            ("NOFX_MAX_CONNECTIONS", "lots"),
            ("NOFX_APPROVAL_EXPIRES_IN_S", "1h"),
            ("NOFX_APPROVAL_EXPIRY_OUTCOME", "maybe"),
            ("NOFX_WEBHOOK_RETRY_BASE_MS", "soon"),
            ("NOFX_SECURE_COOKIES", "enabled"),
            ("NOFX_TRUST_PROXY", "y"),
            ("FEATURE_AUTO_PLANNER", "enabled"),
        ] {
            let e = with(&[(name, value)]).err().unwrap_or_else(|| panic!("{name}={value} was accepted")).to_string();
            assert!(e.contains(name) && e.contains(value), "{name}={value}: {e}");
        }
    }
}
