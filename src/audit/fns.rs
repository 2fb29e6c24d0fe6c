//! Audit server functions: the browser's door to the same audit service the JSON API uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::*;
#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, reader, session, state};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::ErrorCode;

/// The Audit page's filters as its URL carries them (dates as `YYYY-MM-DD`, UTC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub pack: String,
    pub item: String,
    pub plan: String,
    pub approval: String,
    pub actor: String,
    pub action: String,
    /// From this day on (inclusive).
    pub since: String,
    /// Up to this day (inclusive).
    pub until: String,
    pub before: String,
}

impl AuditQuery {
    /// The query string of these filters (for "older" links and the export), `before` left out.
    pub fn to_query(&self) -> String {
        let pairs = [
            ("pack", &self.pack),
            ("item", &self.item),
            ("plan", &self.plan),
            ("approval", &self.approval),
            ("actor", &self.actor),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| format!("{k}={}", encode(v.trim()))).collect::<Vec<_>>().join("&")
    }

    pub fn is_filtered(&self) -> bool {
        !self.to_query().is_empty()
    }
}

/// Percent-encodes a query value.
pub use crate::text::url_encode as encode;

/// What the Audit page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub page: AuditPage,
    pub head: Head,
    /// Packs for the filter's picker: `(id, name)`.
    pub packs: Vec<(i64, String)>,
    /// The JSON Lines export of the records these filters select (all when unfiltered).
    pub export: String,
}

/// The export URL of the records `f` selects.
#[cfg(feature = "ssr")]
fn export_url(f: &AuditFilter) -> String {
    let mut q: Vec<String> = vec![];
    for (k, v) in [("pack", f.pack), ("item", f.item), ("plan", f.plan), ("approval", f.approval), ("since", f.since), ("until", f.until)] {
        if let Some(v) = v {
            q.push(format!("{k}={v}"));
        }
    }
    for (k, v) in [("actor", &f.actor), ("action", &f.action)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode(v)));
        }
    }
    if q.is_empty() {
        "/api/audit/export".into()
    } else {
        format!("/api/audit/export?{}", q.join("&"))
    }
}

#[cfg(feature = "ssr")]
fn parse_filter(q: &AuditQuery) -> Result<AuditFilter, AppError> {
    let bad = |m: String| AppError::unprocessable(ErrorCode::InvalidQuery, m);
    let id = |name: &str, v: &str| -> Result<Option<i64>, AppError> {
        let v = v.trim().trim_start_matches('#');
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<i64>().map(Some).map_err(|_| bad(format!("The {name} is a number, like 12 (got “{v}”).")))
    };
    let day = |name: &str, v: &str, end: bool| -> Result<Option<i64>, AppError> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad(format!("“{name}” is a date like 2026-12-03.")))?;
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        Ok(Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis()))
    };
    Ok(AuditFilter {
        pack: id("pack", &q.pack)?,
        item: id("item", &q.item)?,
        plan: id("plan", &q.plan)?,
        approval: id("approval request", &q.approval)?,
        override_id: None,
        actor: Some(q.actor.trim().to_string()).filter(|a| !a.is_empty()),
        action: Some(q.action.trim().to_string()).filter(|a| !a.is_empty()),
        since: day("From", &q.since, false)?,
        until: day("To", &q.until, true)?,
        before: id("page", &q.before)?,
        limit: Some(50),
    })
}

#[server(prefix = "/_fn", endpoint = "load_audit")]
pub async fn load_audit(#[server(default)] query: AuditQuery) -> Result<AuditView, AppError> {
    let who = reader().await?;
    let s = state()?;
    let filter = parse_filter(&query)?;
    let page = super::service::page(&s, &who, &filter).await?;
    let head = super::service::head(&s, &who).await?;
    let packs = crate::backlog::store::list_packs(&s.db).await?.into_iter().map(|p| (p.id, p.name)).collect();
    Ok(AuditView { page, head, packs, export: export_url(&AuditFilter { before: None, limit: None, ..filter }) })
}

/// Recomputes the chain for the Audit page's “Verify” button.
#[server(prefix = "/_fn", endpoint = "verify_audit")]
pub async fn verify_audit(csrf: String) -> Result<ChainStatus, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        super::service::verify(&state()?, &who, None).await
    })
    .await
}

/// The newest records about one plan, item or pack for its page; `None` when the viewer may not
/// read the audit trail.
#[server(prefix = "/_fn", endpoint = "load_trail")]
pub async fn load_trail(kind: String, id: i64) -> Result<Option<AuditPage>, AppError> {
    let who = reader().await?;
    if !who.can(crate::auth::model::Permission::ReadAudit) {
        return Ok(None);
    }
    let mut filter = AuditFilter { limit: Some(20), ..Default::default() };
    match kind.as_str() {
        "plan" => filter.plan = Some(id),
        "item" => filter.item = Some(id),
        "pack" => filter.pack = Some(id),
        _ => return Err(AppError::unprocessable(ErrorCode::InvalidQuery, "A trail is of a plan, an item or a pack.")),
    }
    super::service::page(&state()?, &who, &filter).await.map(Some)
}
