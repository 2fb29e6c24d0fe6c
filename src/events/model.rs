//! Events clients can follow: a type, the subject it concerns, a JSON payload and an increasing id.

use serde::{Deserialize, Serialize};

/// One stored event. `id` only ever grows, so a client resumes with the last id it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    /// `plan.evaluated`, `plan.ready`, `plan.blocked`, `approval.requested`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// What the event is about, e.g. `plan:12`.
    pub subject: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// An event about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub subject: String,
    pub payload: serde_json::Value,
}

/// Parses a `types` filter: comma-separated exact types or prefixes ending in `.*` (`plan.*`).
pub fn parse_type_filter(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

pub fn type_matches(filter: &[String], kind: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| match f.strip_suffix(".*") {
            Some(prefix) => kind.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
            None => f == kind,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filters() {
        let f = parse_type_filter(Some("plan.ready, approval.*,,"));
        assert_eq!(f, vec!["plan.ready", "approval.*"]);
        assert!(type_matches(&f, "plan.ready"));
        assert!(!type_matches(&f, "plan.blocked"));
        assert!(type_matches(&f, "approval.decided"));
        assert!(!type_matches(&f, "approvals.x"), "a prefix matches whole segments only");
        assert!(type_matches(&[], "anything"));
    }
}
