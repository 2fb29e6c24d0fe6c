//! Approval requests and their state machine. Pure: no I/O, no clock (the time is an argument),
//! so every transition is tested directly.
//!
//! ```text
//!             approve (quorum reached)
//!   pending ──────────────────────────▶ approved
//!      │ ╲── deny (with a reason) ────▶ denied
//!      │  ╲─ expires_at passes ───────▶ expired   (outcome: the configured default, deny unless set)
//!      ╰──── requester cancels ───────▶ cancelled
//! ```
//! `pending` is the only state that changes; the others are final. An approval below the quorum
//! and a comment keep it pending.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 5] =
        [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Denied, ApprovalStatus::Expired, ApprovalStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        ApprovalStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != ApprovalStatus::Pending
    }
}

/// A reviewer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

/// What an expired request counts as for the waiting caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExpiryOutcome {
    #[default]
    Deny,
    Approve,
}

impl ExpiryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryOutcome::Deny => "deny",
            ExpiryOutcome::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Option<ExpiryOutcome> {
        match s {
            "deny" => Some(ExpiryOutcome::Deny),
            "approve" => Some(ExpiryOutcome::Approve),
            _ => None,
        }
    }
}

/// One row of the append-only approval log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    Requested,
    Approve,
    Deny,
    Comment,
    Expired,
    Cancelled,
    /// An override decided the request (approved it past its quorum); the note is its justification.
    Overridden,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Requested => "requested",
            LogKind::Approve => "approve",
            LogKind::Deny => "deny",
            LogKind::Comment => "comment",
            LogKind::Expired => "expired",
            LogKind::Cancelled => "cancelled",
            LogKind::Overridden => "overridden",
        }
    }

    pub fn parse(s: &str) -> Option<LogKind> {
        [LogKind::Requested, LogKind::Approve, LogKind::Deny, LogKind::Comment, LogKind::Expired, LogKind::Cancelled, LogKind::Overridden]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An entry of the approval log: who did what, with which notes, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LogEntry {
    pub id: i64,
    pub approval_id: i64,
    /// `user:dana`, `key:zig-todo`, or `system` for expiry.
    pub actor: String,
    pub kind: LogKind,
    pub note: String,
    pub at: i64,
    /// The webhook a decision arrived through; absent for the browser and the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

/// A webhook delivery that carries a decision: where it came from and its `webhook-id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub via: Via,
    pub webhook_id: String,
}

/// A webhook that carries reviewers' decisions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Via {
    #[serde(rename = "zig-todo")]
    ZigTodo,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::ZigTodo => "zig-todo",
        }
    }

    pub fn parse(s: &str) -> Option<Via> {
        (s == "zig-todo").then_some(Via::ZigTodo)
    }

    /// For people: "Zig Todo".
    pub fn label(self) -> &'static str {
        match self {
            Via::ZigTodo => "Zig Todo",
        }
    }
}

/// Filters for the inbox and the history.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<ApprovalStatus>,
    /// Only final requests (any status but pending), most recently decided first.
    pub decided: bool,
    pub tool_id: Option<String>,
    pub plan_id: Option<i64>,
    pub pack_id: Option<i64>,
    pub limit: i64,
}

/// An approval with its log, as the JSON API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalDetail {
    #[serde(flatten)]
    pub approval: Approval,
    /// Whether the caller may go ahead (approved, or expired with an approve outcome).
    pub go_ahead: bool,
    pub log: Vec<LogEntry>,
}

/// The inbox page: pending requests (filtered), the clock they were read at, the filter choices,
/// and what the viewer may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxView {
    pub pending: Vec<Approval>,
    /// Server time of the read, so the countdowns start from the same moment on both sides.
    pub now: i64,
    pub tools: Vec<String>,
    pub can_decide: bool,
    pub me: String,
    /// The backlog items the listed requests link to: titles and risk instead of ids.
    pub items: Vec<ItemRef>,
    /// Every pack (the filter's picker, and the names of linked packs).
    pub packs: Vec<(i64, String)>,
    /// Recent plans, for the filter's picker: id and a one-line description.
    pub plans: Vec<(i64, String)>,
    /// Requests the viewer just decided (`?decided=` after a decision), as they stand now.
    pub just_decided: Vec<Approval>,
}

/// A backlog item as a request's card names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRef {
    pub id: i64,
    pub title: String,
    pub risk: crate::backlog::model::Risk,
}

/// One entry of a request's arguments or context, as the inbox summarises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub key: String,
    pub value: String,
    /// It names what the call acts on (an environment, database, service, host…).
    pub target: bool,
}

/// Argument names that say what a call acts on: shown first and marked.
const TARGET_KEYS: &[&str] = &[
    "environment",
    "env",
    "database",
    "db",
    "target",
    "service",
    "host",
    "cluster",
    "namespace",
    "region",
    "table",
    "schema",
    "branch",
    "repo",
    "repository",
    "bucket",
    "project",
    "stage",
];

/// Context keys that carry the requester's reason, in the order they are looked for.
const REASON_KEYS: &[&str] = &["reason", "why", "justification", "summary", "description", "message"];

/// A JSON value as one readable line: strings without quotes, the rest as compact JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The arguments (or context) as key/value facts, what the call acts on first; a value that is
/// not an object becomes one fact named `value`.
pub fn facts(v: &serde_json::Value) -> Vec<Fact> {
    let mut out: Vec<Fact> = match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| Fact { key: k.clone(), value: plain(v), target: TARGET_KEYS.contains(&k.to_ascii_lowercase().as_str()) })
            .collect(),
        serde_json::Value::Null => vec![],
        other => vec![Fact { key: "value".into(), value: plain(other), target: false }],
    };
    out.sort_by_key(|f| !f.target);
    out
}

/// The requester's reason from the context (`reason`, `why`, …), and the context's other facts.
pub fn reason_and_rest(context: &serde_json::Value) -> (Option<String>, Vec<Fact>) {
    let mut rest = facts(context);
    let found = REASON_KEYS.iter().find_map(|k| rest.iter().position(|f| f.key.eq_ignore_ascii_case(k)));
    (found.map(|i| rest.remove(i).value), rest)
}

/// A decided request with its log (the history page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub approval: Approval,
    pub log: Vec<LogEntry>,
}

/// One request as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalPage {
    pub approval: Approval,
    pub log: Vec<LogEntry>,
    pub now: i64,
    pub can_decide: bool,
    pub me: String,
    pub item_title: Option<String>,
    pub pack_name: Option<String>,
}

/// A request to run a sensitive tool, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Approval {
    pub id: i64,
    pub tool_id: String,
    /// The arguments the tool will run with, as the requester sent them.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// Free-form context for the reviewer (why, links, diff summary).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub context: serde_json::Value,
    pub plan_id: Option<i64>,
    pub step_id: Option<String>,
    pub backlog_item_id: Option<i64>,
    pub pack_id: Option<i64>,
    /// Identity of the caller that asked (`key:ci-agent`); it can never approve its own request.
    pub requester: String,
    pub status: ApprovalStatus,
    /// Distinct reviewers that must approve (N of M).
    pub required_approvals: i64,
    /// Reviewers who approved so far.
    pub approved_by: Vec<String>,
    pub expires_at: i64,
    pub expiry_outcome: ExpiryOutcome,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Who made it final (the last approver, the denier, `system` for expiry, or the canceller).
    pub decided_by: Option<String>,
}

impl Approval {
    /// Whether the waiting caller may go ahead: approved, or expired with an approve outcome.
    pub fn go_ahead(&self) -> bool {
        match self.status {
            ApprovalStatus::Approved => true,
            ApprovalStatus::Expired => self.expiry_outcome == ExpiryOutcome::Approve,
            _ => false,
        }
    }

    /// True when the clock has passed `expires_at` but nobody has written the expiry yet.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.status == ApprovalStatus::Pending && now >= self.expires_at
    }

    /// Approvals still missing for the quorum (0 once decided).
    pub fn approvals_missing(&self) -> i64 {
        if self.status == ApprovalStatus::Pending {
            (self.required_approvals - self.approved_by.len() as i64).max(0)
        } else {
            0
        }
    }

    /// Exactly where the request stands, for `me`: the votes so far of the quorum and whose they
    /// are, who may still decide, and what happens at expiry (or how it was decided).
    pub fn standing(&self, me: &str) -> Standing {
        let votes = self.approved_by.len() as i64;
        let of = self.required_approvals;
        let names = join_names(&self.approved_by);
        let at = |t: Option<i64>| t.map(|t| format!(" on {}", crate::text::utc(t))).unwrap_or_default();
        let by = self.decided_by.clone().unwrap_or_else(|| "someone".into());
        match self.status {
            ApprovalStatus::Pending => {
                let missing = self.approvals_missing();
                let headline = if self.approved_by.iter().any(|v| v == me) {
                    format!("You approved: {votes} of {of} approvals, {} more needed from another reviewer.", missing)
                } else if votes > 0 {
                    format!("{votes} of {of} approvals so far ({names}): {missing} more needed.")
                } else {
                    format!("Waiting for {}: none yet.", crate::text::plural(of as usize, "approval"))
                };
                let mut excluded = vec![format!("{} (who asked)", self.requester)];
                if votes > 0 {
                    excluded.push(format!("{names} (already approved)"));
                }
                let outcome = match self.expiry_outcome {
                    ExpiryOutcome::Approve => "approved",
                    ExpiryOutcome::Deny => "denied",
                };
                let detail = format!(
                    "Any reviewer except {} may approve; a single denial decides it. With no decision by {} it counts as {outcome}.",
                    join_names(&excluded),
                    crate::text::utc(self.expires_at)
                );
                Standing { headline, detail }
            }
            ApprovalStatus::Approved => Standing {
                headline: format!("Approved by {names}{}: {votes} of {of} approvals.", at(self.decided_at)),
                detail: "The tool call went ahead.".into(),
            },
            ApprovalStatus::Denied => Standing {
                headline: format!("Denied by {by}{}.", at(self.decided_at)),
                detail: if votes > 0 {
                    format!("It had {votes} of {of} approvals ({names}); the tool call did not run.")
                } else {
                    "The tool call did not run.".into()
                },
            },
            ApprovalStatus::Expired => Standing {
                headline: format!("Expired{} with {votes} of {of} approvals.", at(self.decided_at.or(Some(self.expires_at)))),
                detail: if self.go_ahead() {
                    "Its policy counts an expired request as approved: the tool call went ahead.".into()
                } else {
                    "It counts as denied: the tool call did not run.".into()
                },
            },
            ApprovalStatus::Cancelled => Standing {
                headline: format!("Cancelled by {by}{}.", at(self.decided_at)),
                detail: "Nobody needs to decide it; the tool call did not run.".into(),
            },
        }
    }
}

/// "ana", "ana and bo", "ana, bo and cy".
fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Where a request stands, in two sentences: the state, then who may act and what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub headline: String,
    pub detail: String,
}

/// Why a transition was refused; each maps to one HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request is final already (409 `already_decided`).
    AlreadyDecided(ApprovalStatus),
    /// Its time ran out before this decision (409 `expired`; the expiry is written instead).
    Expired,
    /// The requester tried to decide their own request (403 `self_approval`).
    SelfApproval,
    /// A deny with a blank reason (422 `reason_required`).
    ReasonRequired,
    /// This reviewer already approved; a second approval must not count twice (409 `already_voted`).
    AlreadyVoted,
    /// A comment or reason without text, or too long (422 `invalid_comment`).
    InvalidComment(String),
    /// Only the requester (or an admin) cancels (403 `not_requester`).
    NotRequester,
}

/// The longest comment or reason, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// What to write for an accepted action: one log row and, maybe, a new status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub log: LogKind,
    pub note: String,
    /// `Some` when the request becomes final.
    pub status: Option<ApprovalStatus>,
    /// The reviewer's approval counts towards the quorum.
    pub counts_vote: bool,
}

fn note(text: &str, required: bool) -> Result<String, Refusal> {
    let t = text.trim();
    if t.chars().count() > MAX_NOTE_CHARS {
        return Err(Refusal::InvalidComment(format!("Keep it under {MAX_NOTE_CHARS} characters.")));
    }
    if required && t.is_empty() {
        return Err(Refusal::ReasonRequired);
    }
    Ok(t.to_string())
}

/// An override approves a pending request (past its quorum), with the override's justification
/// as the note. Its author may have asked for the request: an override is an admin action under
/// the policy, audited, not a reviewer's vote.
pub fn override_decision(a: &Approval, justification: &str, now: i64) -> Result<Transition, Refusal> {
    if a.status.is_final() {
        return Err(Refusal::AlreadyDecided(a.status));
    }
    if a.is_overdue(now) {
        return Err(Refusal::Expired);
    }
    Ok(Transition {
        log: LogKind::Overridden,
        note: note(justification, true)?,
        status: Some(ApprovalStatus::Approved),
        counts_vote: false,
    })
}

/// A reviewer's decision on a pending request. `now` decides lateness.
pub fn decide(a: &Approval, reviewer: &str, decision: Decision, comment: &str, now: i64) -> Result<Transition, Refusal> {
    if a.status.is_final() {
        return Err(Refusal::AlreadyDecided(a.status));
    }
    if a.is_overdue(now) {
        return Err(Refusal::Expired);
    }
    if reviewer == a.requester {
        return Err(Refusal::SelfApproval);
    }
    match decision {
        Decision::Deny => {
            let note = note(comment, true)?;
            Ok(Transition { log: LogKind::Deny, note, status: Some(ApprovalStatus::Denied), counts_vote: false })
        }
        Decision::Approve => {
            let note = note(comment, false)?;
            if a.approved_by.iter().any(|r| r == reviewer) {
                return Err(Refusal::AlreadyVoted);
            }
            let votes = a.approved_by.len() as i64 + 1;
            let status = (votes >= a.required_approvals.max(1)).then_some(ApprovalStatus::Approved);
            Ok(Transition { log: LogKind::Approve, note, status, counts_vote: true })
        }
    }
}

/// A comment while the request is pending (anyone who may read it; the requester too).
pub fn comment(a: &Approval, text: &str, now: i64) -> Result<Transition, Refusal> {
    if a.status.is_final() {
        return Err(Refusal::AlreadyDecided(a.status));
    }
    if a.is_overdue(now) {
        return Err(Refusal::Expired);
    }
    let t = note(text, false)?;
    if t.is_empty() {
        return Err(Refusal::InvalidComment("Write the comment before sending it.".into()));
    }
    Ok(Transition { log: LogKind::Comment, note: t, status: None, counts_vote: false })
}

/// The request's time ran out: final, with the configured outcome noted in the log.
pub fn expire(a: &Approval, now: i64) -> Option<Transition> {
    a.is_overdue(now).then(|| Transition {
        log: LogKind::Expired,
        note: format!(
            "No decision before the deadline; counts as {}.",
            if a.expiry_outcome == ExpiryOutcome::Approve { "approved" } else { "denied" }
        ),
        status: Some(ApprovalStatus::Expired),
        counts_vote: false,
    })
}

/// The requester (or an admin) withdraws the request.
pub fn cancel(a: &Approval, actor: &str, is_admin: bool, reason: &str) -> Result<Transition, Refusal> {
    if a.status.is_final() {
        return Err(Refusal::AlreadyDecided(a.status));
    }
    if actor != a.requester && !is_admin {
        return Err(Refusal::NotRequester);
    }
    Ok(Transition { log: LogKind::Cancelled, note: note(reason, false)?, status: Some(ApprovalStatus::Cancelled), counts_vote: false })
}

/// How long a request stays open: its own `expires_in_s`, else the tool's default, else the
/// policy's, clamped to `[min, max]` seconds.
pub fn expiry_seconds(requested: Option<i64>, tool_default: Option<i64>, policy_default: i64, min: i64, max: i64) -> Result<i64, String> {
    if let Some(s) = requested {
        if s < min || s > max {
            return Err(format!("expires_in_s must be between {min} and {max} seconds; {s} is not."));
        }
        return Ok(s);
    }
    Ok(tool_default.unwrap_or(policy_default).clamp(min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(required: i64) -> Approval {
        Approval {
            id: 1,
            tool_id: "deploy:prod".into(),
            args: serde_json::json!({"service": "api"}),
            context: serde_json::json!({}),
            plan_id: None,
            step_id: None,
            backlog_item_id: None,
            pack_id: None,
            requester: "key:agent".into(),
            status: ApprovalStatus::Pending,
            required_approvals: required,
            approved_by: vec![],
            expires_at: 1_000,
            expiry_outcome: ExpiryOutcome::Deny,
            created_at: 0,
            decided_at: None,
            decided_by: None,
        }
    }

    #[test]
    fn standing_says_where_a_quorum_stands_after_each_vote() {
        let mut a = pending(2);
        let s = a.standing("user:ana");
        assert_eq!(s.headline, "Waiting for 2 approvals: none yet.");
        assert_eq!(
            s.detail,
            "Any reviewer except key:agent (who asked) may approve; a single denial decides it. With no decision by 1970-01-01 00:00 UTC it counts as denied."
        );
        a.approved_by.push("user:ana".into());
        assert_eq!(a.standing("user:ana").headline, "You approved: 1 of 2 approvals, 1 more needed from another reviewer.");
        let s = a.standing("user:bo");
        assert_eq!(s.headline, "1 of 2 approvals so far (user:ana): 1 more needed.");
        assert!(
            s.detail.starts_with("Any reviewer except key:agent (who asked) and user:ana (already approved) may approve"),
            "{}",
            s.detail
        );
        a.approved_by.push("user:bo".into());
        a.status = ApprovalStatus::Approved;
        a.decided_at = Some(60_000);
        a.decided_by = Some("user:bo".into());
        assert_eq!(a.standing("user:cy").headline, "Approved by user:ana and user:bo on 1970-01-01 00:01 UTC: 2 of 2 approvals.");
        assert_eq!(a.approvals_missing(), 0);
    }

    #[test]
    fn standing_of_denied_expired_and_cancelled_requests() {
        let mut a = pending(3);
        a.approved_by = vec!["user:ana".into()];
        a.status = ApprovalStatus::Denied;
        a.decided_by = Some("user:bo".into());
        a.decided_at = Some(0);
        let s = a.standing("user:ana");
        assert_eq!(
            (s.headline.as_str(), s.detail.as_str()),
            ("Denied by user:bo on 1970-01-01 00:00 UTC.", "It had 1 of 3 approvals (user:ana); the tool call did not run.")
        );
        a.status = ApprovalStatus::Expired;
        a.expiry_outcome = ExpiryOutcome::Approve;
        let s = a.standing("user:ana");
        assert_eq!(s.headline, "Expired on 1970-01-01 00:00 UTC with 1 of 3 approvals.");
        assert!(s.detail.contains("counts an expired request as approved"), "{}", s.detail);
        a.status = ApprovalStatus::Cancelled;
        a.decided_by = Some("key:agent".into());
        assert_eq!(a.standing("user:ana").headline, "Cancelled by key:agent on 1970-01-01 00:00 UTC.");
    }

    #[test]
    fn one_approval_approves_a_single_quorum() {
        let t = decide(&pending(1), "user:dana", Decision::Approve, "  looks fine ", 10).unwrap();
        assert_eq!(
            t,
            Transition { log: LogKind::Approve, note: "looks fine".into(), status: Some(ApprovalStatus::Approved), counts_vote: true }
        );
        // A quorum of 0 from a misconfigured tool still needs one human.
        assert_eq!(decide(&pending(0), "user:dana", Decision::Approve, "", 10).unwrap().status, Some(ApprovalStatus::Approved));
    }

    #[test]
    fn quorum_needs_distinct_reviewers() {
        let mut a = pending(2);
        let first = decide(&a, "user:dana", Decision::Approve, "", 10).unwrap();
        assert_eq!(first.status, None, "1 of 2: still pending");
        assert!(first.counts_vote);
        a.approved_by.push("user:dana".into());
        assert_eq!(decide(&a, "user:dana", Decision::Approve, "again", 11), Err(Refusal::AlreadyVoted), "the same reviewer counts once");
        assert_eq!(decide(&a, "user:eli", Decision::Approve, "", 12).unwrap().status, Some(ApprovalStatus::Approved), "2 of 2");
    }

    #[test]
    fn one_deny_denies_even_after_approvals() {
        let mut a = pending(3);
        a.approved_by = vec!["user:dana".into(), "user:eli".into()];
        let t = decide(&a, "user:fay", Decision::Deny, "wrong service", 10).unwrap();
        assert_eq!((t.log, t.status, t.counts_vote), (LogKind::Deny, Some(ApprovalStatus::Denied), false));
        // Someone who approved may still deny: the deny wins.
        assert_eq!(decide(&a, "user:dana", Decision::Deny, "changed my mind", 10).unwrap().status, Some(ApprovalStatus::Denied));
    }

    #[test]
    fn deny_needs_a_reason() {
        assert_eq!(decide(&pending(1), "user:dana", Decision::Deny, "   ", 10), Err(Refusal::ReasonRequired));
        assert_eq!(decide(&pending(1), "user:dana", Decision::Deny, "", 10), Err(Refusal::ReasonRequired));
    }

    #[test]
    fn the_requester_never_decides_their_own_request() {
        for d in [Decision::Approve, Decision::Deny] {
            assert_eq!(decide(&pending(1), "key:agent", d, "mine", 10), Err(Refusal::SelfApproval));
        }
    }

    #[test]
    fn final_states_refuse_everything() {
        for status in [ApprovalStatus::Approved, ApprovalStatus::Denied, ApprovalStatus::Expired, ApprovalStatus::Cancelled] {
            let mut a = pending(1);
            a.status = status;
            assert_eq!(decide(&a, "user:dana", Decision::Approve, "", 10), Err(Refusal::AlreadyDecided(status)));
            assert_eq!(decide(&a, "user:dana", Decision::Deny, "no", 10), Err(Refusal::AlreadyDecided(status)));
            assert_eq!(comment(&a, "hello", 10), Err(Refusal::AlreadyDecided(status)));
            assert_eq!(cancel(&a, "key:agent", false, ""), Err(Refusal::AlreadyDecided(status)));
            assert_eq!(expire(&a, 5_000), None);
        }
    }

    #[test]
    fn late_decisions_are_refused_and_expiry_takes_over() {
        let a = pending(1);
        assert_eq!(decide(&a, "user:dana", Decision::Approve, "", 1_000), Err(Refusal::Expired), "at the deadline it is over");
        assert!(decide(&a, "user:dana", Decision::Approve, "", 999).is_ok(), "just before it is fine");
        assert_eq!(expire(&a, 999), None);
        let t = expire(&a, 1_000).unwrap();
        assert_eq!((t.log, t.status), (LogKind::Expired, Some(ApprovalStatus::Expired)));
        assert!(t.note.contains("counts as denied"));
        assert_eq!(comment(&a, "too late", 2_000), Err(Refusal::Expired));
    }

    #[test]
    fn expiry_outcome_decides_whether_the_caller_goes_ahead() {
        let mut a = pending(1);
        a.status = ApprovalStatus::Expired;
        assert!(!a.go_ahead());
        a.expiry_outcome = ExpiryOutcome::Approve;
        assert!(a.go_ahead());
        assert!(expire(&pending_with_outcome(ExpiryOutcome::Approve), 1_000).unwrap().note.contains("counts as approved"));
        a.status = ApprovalStatus::Approved;
        assert!(a.go_ahead());
        for s in [ApprovalStatus::Pending, ApprovalStatus::Denied, ApprovalStatus::Cancelled] {
            a.status = s;
            assert!(!a.go_ahead(), "{s:?}");
        }
    }

    fn pending_with_outcome(o: ExpiryOutcome) -> Approval {
        Approval { expiry_outcome: o, ..pending(1) }
    }

    #[test]
    fn comments_keep_it_pending_and_need_text() {
        let t = comment(&pending(1), " which region? ", 10).unwrap();
        assert_eq!((t.log, t.note.as_str(), t.status), (LogKind::Comment, "which region?", None));
        assert!(matches!(comment(&pending(1), "  ", 10), Err(Refusal::InvalidComment(_))));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(comment(&pending(1), &long, 10), Err(Refusal::InvalidComment(_))));
        assert!(matches!(decide(&pending(1), "user:dana", Decision::Deny, &long, 10), Err(Refusal::InvalidComment(_))));
        assert!(comment(&pending(1), &"é".repeat(MAX_NOTE_CHARS), 10).is_ok(), "characters, not bytes");
    }

    #[test]
    fn only_the_requester_or_an_admin_cancels() {
        assert_eq!(cancel(&pending(1), "user:dana", false, ""), Err(Refusal::NotRequester));
        assert_eq!(cancel(&pending(1), "key:agent", false, "not needed").unwrap().status, Some(ApprovalStatus::Cancelled));
        assert_eq!(cancel(&pending(1), "user:root", true, "").unwrap().log, LogKind::Cancelled);
    }

    #[test]
    fn expiry_comes_from_the_request_the_tool_or_the_policy() {
        assert_eq!(expiry_seconds(Some(60), Some(600), 3600, 5, 86_400), Ok(60));
        assert_eq!(expiry_seconds(None, Some(600), 3600, 5, 86_400), Ok(600));
        assert_eq!(expiry_seconds(None, None, 3600, 5, 86_400), Ok(3600));
        assert_eq!(expiry_seconds(None, Some(10_000_000), 3600, 5, 86_400), Ok(86_400), "defaults are clamped");
        assert!(expiry_seconds(Some(1), None, 3600, 5, 86_400).unwrap_err().contains("between 5 and 86400"));
        assert!(expiry_seconds(Some(-3), None, 3600, 5, 86_400).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in ApprovalStatus::ALL {
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(s));
        }
        for k in [LogKind::Requested, LogKind::Approve, LogKind::Deny, LogKind::Comment, LogKind::Expired, LogKind::Cancelled] {
            assert_eq!(LogKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Decision::parse("approve"), Some(Decision::Approve));
        assert_eq!(Decision::parse("APPROVE"), None);
        assert_eq!(ExpiryOutcome::parse("approve"), Some(ExpiryOutcome::Approve));
    }
}
