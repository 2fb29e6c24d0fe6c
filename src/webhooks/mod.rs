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
    /// The event types sent: exact types or `prefix.*` (`NOFX_WEBHOOK_EVENTS`).
    pub events: Vec<String>,
}

/// What webhook URLs receive when `NOFX_WEBHOOK_EVENTS` is unset.
pub const DEFAULT_EVENTS: &str = "approval.requested,approval.decided";

/// Parses `NOFX_WEBHOOK_EVENTS`: each entry must name an event type or a prefix of some (`plan.*`).
pub fn parse_events(v: &str) -> Result<Vec<String>, String> {
    use crate::events::model::{parse_type_filter, type_matches, EventKind};
    let filter = parse_type_filter(Some(v));
    if filter.is_empty() {
        return Err("name at least one event type, like `approval.*,plan.approved`".into());
    }
    for f in &filter {
        if !EventKind::ALL.iter().any(|k| type_matches(std::slice::from_ref(f), *k)) {
            return Err(format!("`{f}` matches no event type; use types like `plan.approved` or prefixes like `step.*`"));
        }
    }
    Ok(filter)
}

impl WebhookSettings {
    /// Whether events of `kind` are sent to the webhook URLs.
    pub fn wants(&self, kind: crate::events::model::EventKind) -> bool {
        crate::events::model::type_matches(&self.events, kind)
    }
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
            events: parse_events(c.webhook_events.as_deref().unwrap_or(DEFAULT_EVENTS))
                .map_err(|e| anyhow::anyhow!("NOFX_WEBHOOK_EVENTS: {e}"))?,
        })
    }
}

/// Records in the audit trail which webhook secrets this start runs with, when that differs from
/// what the trail last recorded: `webhook.secret_configured` (first time), `…_rotated` (another
/// secret) or `…_removed` (none any more). Only fingerprints are recorded, never the secrets.
/// The check and the append share one transaction under the append lock, so instances that
/// start together record a change once.
pub async fn record_secrets(db: &crate::storage::Db, settings: &WebhookSettings) -> crate::error::AppResult<()> {
    use crate::audit::{Action, Actor, Entry, Links};
    use sqlx::Row;
    let secrets = [
        ("NOFX_ZIG_TODO_SECRET", settings.inbound_secret.as_ref().map(Secret::fingerprint)),
        ("NOFX_WEBHOOK_SECRET", settings.outbound_secret.as_ref().map(Secret::fingerprint)),
    ];
    let backend = db.backend;
    db.write(move |tx| {
        let secrets = secrets.clone();
        Box::pin(async move {
            if backend == crate::storage::Backend::Postgres {
                sqlx::query("select pg_advisory_xact_lock($1)").bind(crate::audit::store::APPEND_LOCK).execute(&mut **tx).await?;
            }
            let mut entries = vec![];
            for (name, now_fp) in secrets {
                let subject = format!("webhook_secret:{name}");
                let last = sqlx::query(
                    "select action, fields from audit_log where subject = $1 and action like 'webhook.secret_%' order by seq desc limit 1",
                )
                .bind(&subject)
                .fetch_optional(&mut **tx)
                .await?;
                let last_fp: Option<String> = match last {
                    Some(r) => {
                        let fields: serde_json::Value = serde_json::from_str(&r.try_get::<String, _>("fields")?).unwrap_or_default();
                        fields.get("fingerprint").and_then(|f| f.as_str()).map(String::from)
                    }
                    None => None,
                };
                let action = match (&last_fp, &now_fp) {
                    (None, Some(_)) => Action::WebhookSecretConfigured,
                    (Some(a), Some(b)) if a != b => Action::WebhookSecretRotated,
                    (Some(_), None) => Action::WebhookSecretRemoved,
                    _ => continue,
                };
                let summary = match action {
                    Action::WebhookSecretConfigured => format!("{name} is configured."),
                    Action::WebhookSecretRotated => format!("{name} was replaced by another secret."),
                    _ => format!("{name} is no longer configured."),
                };
                entries.push(
                    Entry::new(&Actor::system(), action, subject, Links::default(), summary)
                        .fields(serde_json::json!({"name": name, "fingerprint": now_fp, "previous_fingerprint": last_fp})),
                );
            }
            crate::audit::store::append(tx, backend, entries, crate::storage::now_ms()).await?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventKind;

    #[test]
    fn subscribers_choose_their_event_types() {
        let s = WebhookSettings { events: parse_events(DEFAULT_EVENTS).unwrap(), ..Default::default() };
        assert!(s.wants(EventKind::ApprovalDecided) && !s.wants(EventKind::PlanApproved), "approvals only by default");
        let s = WebhookSettings { events: parse_events("plan.approved, step.*").unwrap(), ..Default::default() };
        assert!(s.wants(EventKind::PlanApproved) && s.wants(EventKind::StepFailed) && s.wants(EventKind::StepCompensated));
        assert!(!s.wants(EventKind::PlanReady) && !s.wants(EventKind::ApprovalDecided));
        assert!(parse_events("plan.aproved").unwrap_err().contains("plan.aproved"));
        assert!(parse_events("teleport.*").is_err());
        assert!(parse_events(" , ").is_err());
    }
}
