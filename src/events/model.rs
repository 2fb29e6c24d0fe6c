//! Events clients can follow: a type, the subject it concerns, a JSON payload and an increasing id.

use serde::{Deserialize, Serialize};

/// Every kind of event the control plane emits. Written as its dotted name (`plan.ready`) only at
/// the edges: the stored row, the JSON body, the SSE `event:` field and the `types` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A plan was built and every gate judged it.
    #[serde(rename = "plan.evaluated")]
    PlanEvaluated,
    /// A plan passed its gates (allow or warn).
    #[serde(rename = "plan.ready")]
    PlanReady,
    /// A plan has at least one blocking verdict.
    #[serde(rename = "plan.blocked")]
    PlanBlocked,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// One reviewer's approval towards a quorum, not yet final.
    #[serde(rename = "approval.voted")]
    ApprovalVoted,
    #[serde(rename = "approval.commented")]
    ApprovalCommented,
    /// Final: approved, denied, expired or cancelled.
    #[serde(rename = "approval.decided")]
    ApprovalDecided,
    /// The plan may run: approved at once (nothing needed a review) or by its reviewers. Once per plan.
    #[serde(rename = "plan.approved")]
    PlanApproved,
    /// Its plan approval was denied or expired: it will not run.
    #[serde(rename = "plan.rejected")]
    PlanRejected,
    /// Its first steps were queued.
    #[serde(rename = "plan.started")]
    PlanStarted,
    /// A step (or its rollback) is ready for a worker; `job` says which.
    #[serde(rename = "step.queued")]
    StepQueued,
    /// A step's dependencies succeeded and its tool waits for a reviewer (`approval_id`).
    #[serde(rename = "step.waiting_approval")]
    StepWaitingApproval,
    /// A worker claimed a step: `attempt`, `worker`, lease until `lease_expires_at`.
    #[serde(rename = "step.started")]
    StepStarted,
    /// An attempt failed (or its lease ran out) and another follows from `not_before`.
    #[serde(rename = "step.retrying")]
    StepRetrying,
    #[serde(rename = "step.succeeded")]
    StepSucceeded,
    /// A step failed for good (or its approval was denied or expired): the plan stops.
    #[serde(rename = "step.failed")]
    StepFailed,
    /// A step's rollback succeeded (`ok: true`) or failed for good (`ok: false`).
    #[serde(rename = "step.compensated")]
    StepCompensated,
    /// Every step succeeded.
    #[serde(rename = "plan.succeeded")]
    PlanSucceeded,
    /// The plan stopped and some rollback failed for good: someone must look.
    #[serde(rename = "plan.failed")]
    PlanFailed,
    /// A step failed and everything that had succeeded was undone.
    #[serde(rename = "plan.rolled_back")]
    PlanRolledBack,
    /// Cancelled, and everything that had succeeded was undone.
    #[serde(rename = "plan.cancelled")]
    PlanCancelled,
    /// An override waits for a second person's approval (`approval_id`).
    #[serde(rename = "override.requested")]
    OverrideRequested,
    /// An override is in force until `expires_at` (or, for a pending approval, decided it).
    #[serde(rename = "override.created")]
    OverrideCreated,
    /// The second person denied an override, or its review expired: it never took effect.
    #[serde(rename = "override.rejected")]
    OverrideRejected,
    /// An override was revoked before it expired.
    #[serde(rename = "override.revoked")]
    OverrideRevoked,
    /// An override ran out.
    #[serde(rename = "override.expired")]
    OverrideExpired,
    /// Every provider of a comparison answered (or failed, or timed out) and its candidates are
    /// gated and scored: `best`, `candidates`.
    #[serde(rename = "comparison.ready")]
    ComparisonReady,
}

impl EventKind {
    pub const ALL: [EventKind; 27] = [
        EventKind::PlanEvaluated,
        EventKind::PlanReady,
        EventKind::PlanBlocked,
        EventKind::ApprovalRequested,
        EventKind::ApprovalVoted,
        EventKind::ApprovalCommented,
        EventKind::ApprovalDecided,
        EventKind::PlanApproved,
        EventKind::PlanRejected,
        EventKind::PlanStarted,
        EventKind::StepQueued,
        EventKind::StepWaitingApproval,
        EventKind::StepStarted,
        EventKind::StepRetrying,
        EventKind::StepSucceeded,
        EventKind::StepFailed,
        EventKind::StepCompensated,
        EventKind::PlanSucceeded,
        EventKind::PlanFailed,
        EventKind::PlanRolledBack,
        EventKind::PlanCancelled,
        EventKind::OverrideRequested,
        EventKind::OverrideCreated,
        EventKind::OverrideRejected,
        EventKind::OverrideRevoked,
        EventKind::OverrideExpired,
        EventKind::ComparisonReady,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PlanEvaluated => "plan.evaluated",
            EventKind::PlanReady => "plan.ready",
            EventKind::PlanBlocked => "plan.blocked",
            EventKind::ApprovalRequested => "approval.requested",
            EventKind::ApprovalVoted => "approval.voted",
            EventKind::ApprovalCommented => "approval.commented",
            EventKind::ApprovalDecided => "approval.decided",
            EventKind::PlanApproved => "plan.approved",
            EventKind::PlanRejected => "plan.rejected",
            EventKind::PlanStarted => "plan.started",
            EventKind::StepQueued => "step.queued",
            EventKind::StepWaitingApproval => "step.waiting_approval",
            EventKind::StepStarted => "step.started",
            EventKind::StepRetrying => "step.retrying",
            EventKind::StepSucceeded => "step.succeeded",
            EventKind::StepFailed => "step.failed",
            EventKind::StepCompensated => "step.compensated",
            EventKind::PlanSucceeded => "plan.succeeded",
            EventKind::PlanFailed => "plan.failed",
            EventKind::PlanRolledBack => "plan.rolled_back",
            EventKind::PlanCancelled => "plan.cancelled",
            EventKind::OverrideRequested => "override.requested",
            EventKind::OverrideCreated => "override.created",
            EventKind::OverrideRejected => "override.rejected",
            EventKind::OverrideRevoked => "override.revoked",
            EventKind::OverrideExpired => "override.expired",
            EventKind::ComparisonReady => "comparison.ready",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about; written `plan:12`, `approval:7` at the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Plan(i64),
    Approval(i64),
    Comparison(i64),
}

impl Subject {
    pub fn parse(s: &str) -> Option<Subject> {
        let (area, id) = s.split_once(':')?;
        let id = id.parse().ok()?;
        match area {
            "plan" => Some(Subject::Plan(id)),
            "approval" => Some(Subject::Approval(id)),
            "comparison" => Some(Subject::Comparison(id)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Plan(id) => write!(f, "plan:{id}"),
            Subject::Approval(id) => write!(f, "approval:{id}"),
            Subject::Comparison(id) => write!(f, "comparison:{id}"),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Subject::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a subject like `plan:12` or `approval:7`")))
    }
}

/// One stored event. `id` only ever grows, so a client resumes with the last id it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    /// `plan.evaluated`, `plan.ready`, `plan.blocked`, `approval.requested`, …
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// What the event is about, e.g. `plan:12`.
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "plan:12"))]
    pub subject: Subject,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// An event about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub subject: Subject,
    pub payload: serde_json::Value,
}

/// Parses a `types` filter: comma-separated exact types or prefixes ending in `.*` (`plan.*`).
pub fn parse_type_filter(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

pub fn type_matches(filter: &[String], kind: EventKind) -> bool {
    let kind = kind.as_str();
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
        assert!(type_matches(&f, EventKind::PlanReady));
        assert!(!type_matches(&f, EventKind::PlanBlocked));
        assert!(type_matches(&f, EventKind::ApprovalDecided));
        assert!(!type_matches(&["appro.*".into()], EventKind::ApprovalDecided), "a prefix matches whole segments only");
        assert!(type_matches(&[], EventKind::PlanEvaluated));
    }

    #[test]
    fn kinds_and_subjects_round_trip_through_their_dotted_names() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
        }
        assert_eq!(EventKind::parse("plan.approve"), None, "only the kinds that are emitted");
        for s in [Subject::Plan(12), Subject::Approval(1)] {
            assert_eq!(Subject::parse(&s.to_string()), Some(s));
            assert_eq!(serde_json::from_value::<Subject>(serde_json::to_value(s).unwrap()).unwrap(), s);
        }
        assert_eq!(Subject::Plan(1).to_string(), "plan:1");
        assert_ne!(Subject::Plan(1), Subject::Plan(12), "plan 1 is not plan 12");
        for bad in ["plan", "plan:", "plan:x", "step:1", ":1"] {
            assert_eq!(Subject::parse(bad), None, "{bad}");
        }
    }
}
