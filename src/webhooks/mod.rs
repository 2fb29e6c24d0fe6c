//! Webhooks in both directions, signed per Standard Webhooks: outbound approval events to
//! configured URLs (retried with backoff, every delivery logged) and inbound decisions from
//! Zig Todo (`POST /api/webhooks/zig-todo`).

pub mod http;
pub mod outbound;
pub mod signature;

use signature::Secret;

/// Parsed once at start from the configuration.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    pub inbound_secret: Option<Secret>,
    pub urls: Vec<url::Url>,
    pub outbound_secret: Option<Secret>,
    /// First retry delay; each further one is 6× longer (5 s, 30 s, 3 min, ... by default).
    pub retry_base_ms: i64,
    pub max_attempts: i64,
}

impl WebhookSettings {
    pub fn from_config(c: &crate::config::Config) -> anyhow::Result<WebhookSettings> {
        let secret = |name: &str, v: &Option<String>| -> anyhow::Result<Option<Secret>> {
            v.as_deref().map(|s| Secret::parse(s).map_err(|e| anyhow::anyhow!("{name}: {e}"))).transpose()
        };
        let mut urls = vec![];
        for u in &c.webhook_urls {
            let parsed = url::Url::parse(u).map_err(|e| anyhow::anyhow!("NOFX_WEBHOOK_URLS: `{u}` is not a URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                anyhow::bail!("NOFX_WEBHOOK_URLS: `{u}` must be an http or https URL");
            }
            urls.push(parsed);
        }
        let outbound_secret = secret("NOFX_WEBHOOK_SECRET", &c.webhook_secret)?;
        if !urls.is_empty() && outbound_secret.is_none() {
            anyhow::bail!("NOFX_WEBHOOK_URLS is set but NOFX_WEBHOOK_SECRET is not: deliveries must be signed (create one with `nofx webhook-secret`)");
        }
        Ok(WebhookSettings {
            inbound_secret: secret("NOFX_ZIG_TODO_SECRET", &c.zig_todo_secret)?,
            urls,
            outbound_secret,
            retry_base_ms: c.webhook_retry_base_ms,
            max_attempts: 8,
        })
    }
}
