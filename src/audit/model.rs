//! The audit trail's records and its hash chain: pure, shared by the server and the browser (the
//! Audit page shows records); the hashing itself is server-only.
//!
//! Every record carries `hash = SHA-256(canonical JSON of the record without its hash)`, and the
//! record's content includes `prev_hash`, the hash of the record before it. Changing any field of
//! a record changes its hash; deleting, inserting or reordering records breaks a `prev_hash` link
//! or the sequence numbers, which run 1, 2, 3, … without gaps. The canonical JSON is compact with
//! object keys sorted (by code point, as Python's `json.dumps(sort_keys=True)` sorts them) and
//! only integers as numbers, so the chain can be checked from an export with ten lines of any
//! language (docs/operations.md).

use serde::{Deserialize, Serialize};

use crate::auth::model::{Principal, PrincipalKind, Role};

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Through which door an action came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Door {
    /// A signed-in user in the web app.
    Browser,
    /// An API key over the JSON API.
    Api,
    /// A signed webhook delivery (Zig Todo) on a reviewer's behalf.
    Webhook,
    /// The `nofx` command line on the server's machine.
    Cli,
    /// The control plane itself: expiries, the executor, configuration read at start.
    System,
}

impl Door {
    pub const ALL: [Door; 5] = [Door::Browser, Door::Api, Door::Webhook, Door::Cli, Door::System];
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Browser => "browser",
            Door::Api => "api",
            Door::Webhook => "webhook",
            Door::Cli => "cli",
            Door::System => "system",
        }
    }
    pub fn parse(s: &str) -> Option<Door> {
        Door::ALL.into_iter().find(|d| d.as_str() == s)
    }
    /// For people: "API key", "web app".
    pub fn label(self) -> &'static str {
        match self {
            Door::Browser => "web app",
            Door::Api => "API key",
            Door::Webhook => "webhook",
            Door::Cli => "command line",
            Door::System => "system",
        }
    }
}

macro_rules! actions {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        /// Everything the audit trail records; written as its dotted name at the edges.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }
        }
    };
}

actions! {
    PlanCreated = "plan.created": "A plan was built, judged by the gates and stored.",
    ComparisonCreated = "comparison.created": "Several planners were asked for the same plan; their candidates were gated and scored.",
    PlanExecuteRequested = "plan.execute_requested": "Someone pressed Execute; the plan waits for its plan approval.",
    PlanApproved = "plan.approved": "The plan may run (by policy or by its reviewers).",
    PlanRejected = "plan.rejected": "Its plan approval was denied or expired, or an override lapsed before it started.",
    PlanCancelRequested = "plan.cancel_requested": "Someone cancelled a running plan.",
    PlanSucceeded = "plan.succeeded": "Every step succeeded.",
    PlanRolledBack = "plan.rolled_back": "A step failed and what had run was undone.",
    PlanCancelled = "plan.cancelled": "Cancelled, and what had run was undone.",
    PlanFailed = "plan.failed": "A rollback failed for good.",
    StepSucceeded = "step.succeeded": "A worker reported a step done.",
    StepFailed = "step.failed": "A step failed for good.",
    StepCompensated = "step.compensated": "A step's rollback ended.",
    OverrideRequested = "override.requested": "An override waits for a second person's approval.",
    OverrideCreated = "override.created": "An override is in force.",
    OverrideRejected = "override.rejected": "The second person denied an override (or it expired unreviewed).",
    OverrideRevoked = "override.revoked": "An override was revoked before it expired.",
    OverrideExpired = "override.expired": "An override ran out.",
    ApprovalRequested = "approval.requested": "A tool call asked for human approval.",
    ApprovalCommented = "approval.commented": "Someone commented on a request.",
    ApprovalVoted = "approval.voted": "One reviewer approved towards the quorum.",
    ApprovalApproved = "approval.approved": "A request was approved (its quorum reached).",
    ApprovalDenied = "approval.denied": "A request was denied.",
    ApprovalExpired = "approval.expired": "A request's deadline passed.",
    ApprovalCancelled = "approval.cancelled": "A request was withdrawn.",
    ApprovalOverridden = "approval.overridden": "An override decided a request.",
    PackCreated = "pack.created": "A pack was created.",
    PackUpdated = "pack.updated": "A pack was changed.",
    PackDeleted = "pack.deleted": "A pack was deleted.",
    ItemCreated = "item.created": "A backlog item was created.",
    ItemUpdated = "item.updated": "A backlog item was changed.",
    ItemDeleted = "item.deleted": "A backlog item was deleted.",
    ToolCreated = "tool.created": "A tool was registered.",
    ToolUpdated = "tool.updated": "A tool's registry entry was changed.",
    ToolDeleted = "tool.deleted": "A tool was removed from the registry.",
    UserCreated = "user.created": "A user was created.",
    KeyCreated = "api_key.created": "An API key was created.",
    KeyRevoked = "api_key.revoked": "An API key was revoked.",
    SignedIn = "session.signed_in": "A user signed in.",
    SignInFailed = "session.sign_in_failed": "A sign-in failed (wrong password or unknown user).",
    SignedOut = "session.signed_out": "A user signed out.",
    WebhookSecretConfigured = "webhook.secret_configured": "A webhook signing secret was configured.",
    WebhookSecretRotated = "webhook.secret_rotated": "A webhook signing secret was replaced.",
    WebhookSecretRemoved = "webhook.secret_removed": "A webhook signing secret was taken out of the configuration.",
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }
    /// The area before the dot: `plan`, `approval`, `api_key`.
    pub fn area(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it: an identity (`user:alice`, `key:zig-todo`, `system`), their role then, and the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Actor {
    pub identity: String,
    pub role: Option<Role>,
    pub door: Door,
}

impl Actor {
    /// `who` through its usual door: users through the web app, keys through the API.
    pub fn of(who: &Principal) -> Actor {
        let door = match who.kind {
            PrincipalKind::User => Door::Browser,
            PrincipalKind::ApiKey => Door::Api,
        };
        Actor { identity: who.identity(), role: Some(who.role), door }
    }
    /// `who` through another door (a webhook on a reviewer's behalf, the command line).
    pub fn via(who: &Principal, door: Door) -> Actor {
        Actor { door, ..Actor::of(who) }
    }
    /// The control plane itself.
    pub fn system() -> Actor {
        Actor { identity: "system".into(), role: None, door: Door::System }
    }
    /// An operator at the server's command line (no account: the shell is the credential).
    pub fn cli() -> Actor {
        Actor { identity: "cli".into(), role: None, door: Door::Cli }
    }
    /// Someone who is not signed in (a failed sign-in names the username tried).
    pub fn anonymous(door: Door) -> Actor {
        Actor { identity: "anonymous".into(), role: None, door }
    }
}

/// What a record is linked to, beyond its subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Links {
    pub plan: Option<i64>,
    pub step: Option<String>,
    pub approval: Option<i64>,
    #[serde(rename = "override")]
    pub override_id: Option<i64>,
    /// Backlog items, ascending.
    pub items: Vec<i64>,
    /// Packs, ascending.
    pub packs: Vec<i64>,
}

impl Links {
    pub fn plan(id: i64) -> Links {
        Links { plan: Some(id), ..Links::default() }
    }
    pub fn with_items(mut self, items: impl IntoIterator<Item = i64>, packs: impl IntoIterator<Item = i64>) -> Links {
        self.items.extend(items);
        self.packs.extend(packs);
        self.items.sort_unstable();
        self.items.dedup();
        self.packs.sort_unstable();
        self.packs.dedup();
        self
    }
}

/// A record about to be appended: the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub actor: Actor,
    pub action: Action,
    /// What it is about, `plan:12`, `approval:7`, `item:3`, `api_key:2`, `user:alice`.
    pub subject: String,
    pub links: Links,
    /// One sentence for people.
    pub summary: String,
    /// The request's relevant fields (never a secret); an object.
    pub fields: serde_json::Value,
}

impl Entry {
    pub fn new(actor: &Actor, action: Action, subject: impl Into<String>, links: Links, summary: impl Into<String>) -> Entry {
        Entry {
            actor: actor.clone(),
            action,
            subject: subject.into(),
            links,
            summary: summary.into(),
            fields: serde_json::Value::Object(Default::default()),
        }
    }
    /// About `kind:id` (`item:3`, `pack:2`): its subject, and a link to it when it is an item or
    /// a pack (set once the row exists).
    pub fn about(mut self, kind: &str, id: i64) -> Entry {
        self.subject = format!("{kind}:{id}");
        if id <= 0 {
            // Not stored yet: the store links the row's id once it exists.
            return self;
        }
        match kind {
            "item" => self.links = std::mem::take(&mut self.links).with_items([id], []),
            "pack" => self.links = std::mem::take(&mut self.links).with_items([], [id]),
            _ => {}
        }
        self
    }
    /// About plan `id` (its subject and link), once the plan is stored.
    pub fn about_plan(mut self, id: i64) -> Entry {
        self.subject = format!("plan:{id}");
        self.links.plan = Some(id);
        self
    }
    /// Sets the fields, made canonical: numbers that are not integers become decimal strings.
    pub fn fields(mut self, fields: serde_json::Value) -> Entry {
        self.fields = integral(fields);
        self
    }
}

/// `v` with every number that is not an integer replaced by its decimal string: float formats
/// differ between languages (`1e+16` / `1e16`), integers and strings do not.
fn integral(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Value::String(n.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(integral).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        other => other,
    }
}

/// One stored record, as the API and the export give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Record {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    /// Epoch milliseconds.
    pub at: i64,
    /// `user:alice`, `key:zig-todo`, `system`, `cli`.
    pub actor: String,
    pub role: Option<Role>,
    pub door: Door,
    /// `plan.created`, `approval.approved`, `override.created`, `api_key.revoked`, …
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "approval.approved"))]
    pub action: Action,
    pub subject: String,
    pub links: Links,
    pub summary: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub fields: serde_json::Value,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this record's canonical JSON without `hash`.
    pub hash: String,
}

/// The chain's latest record, for an operator to keep elsewhere (`SEQ:HASH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Head {
    /// 0 when the log is empty.
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn empty() -> Head {
        Head { seq: 0, hash: GENESIS.into() }
    }
    /// `SEQ:HASH`, as `nofx audit verify --expect-head` takes it.
    pub fn parse(s: &str) -> Option<Head> {
        let (seq, hash) = s.trim().split_once(':')?;
        let seq: i64 = seq.parse().ok().filter(|s| *s >= 0)?;
        let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        ok.then(|| Head { seq, hash: hash.to_string() })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Where the chain breaks: the first record that does not fit, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Break {
    /// The sequence number where the chain stops holding.
    pub seq: i64,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Problem {
    /// Its content does not hash to its stored hash: it was altered.
    Altered,
    /// Its `prev_hash` is not the previous record's hash: a record before it was removed,
    /// inserted or reordered (or this link was edited).
    Unlinked,
    /// Its sequence number is not the next one: records are missing or out of order.
    Gap { found: i64 },
    /// The log ends before the head recorded elsewhere: its tail was cut off.
    Truncated { head: i64 },
    /// The record at the recorded head's sequence number has another hash: history was rewritten.
    HeadMismatch,
}

impl Break {
    /// For people and the CLI's error message.
    pub fn describe(&self) -> String {
        let n = self.seq;
        match &self.problem {
            Problem::Altered => format!("record {n} was altered: its content does not match its hash"),
            Problem::Unlinked => {
                format!("record {n} does not follow the record before it: a record before it was removed, inserted or reordered")
            }
            Problem::Gap { found } => format!("record {n} is missing: the next record is numbered {found}"),
            Problem::Truncated { head } => {
                format!("the log ends at record {} but the recorded head is record {head}: its tail was cut off", n - 1)
            }
            Problem::HeadMismatch => format!("record {n} is not the recorded head: the history up to it was rewritten"),
        }
    }
}

/// The chain's state after verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChainStatus {
    /// Records checked (the intact prefix when broken).
    pub records: i64,
    /// The last record that holds.
    pub head: Head,
    pub broken: Option<Break>,
}

/// Audit page filters (also the JSON API's query).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct AuditFilter {
    pub pack: Option<i64>,
    pub item: Option<i64>,
    pub plan: Option<i64>,
    pub approval: Option<i64>,
    #[serde(rename = "override")]
    pub override_id: Option<i64>,
    /// An identity (`user:alice`, `key:ci`, `system`).
    pub actor: Option<String>,
    /// An action (`approval.approved`) or an area followed by `.*` (`approval.*`).
    pub action: Option<String>,
    /// Epoch milliseconds, inclusive.
    pub since: Option<i64>,
    /// Epoch milliseconds, exclusive.
    pub until: Option<i64>,
    /// Records with a sequence number below this one (the `next` cursor of the previous page).
    pub before: Option<i64>,
    /// At most this many records (default 50, at most 500).
    pub limit: Option<i64>,
}

/// A page of records, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub records: Vec<Record>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next: Option<i64>,
}

/// The audit record an event stands for, if it records an action (queue and lease chatter such
/// as `step.queued` or `step.started` does not): the areas that emit events get their records
/// from the same facts, in the same transaction, without a second description of what happened.
pub fn from_event(actor: &Actor, e: &crate::events::model::NewEvent) -> Option<Entry> {
    use crate::events::model::{EventKind as K, Subject};
    let p = &e.payload;
    let int = |k: &str| p.get(k).and_then(|v| v.as_i64());
    let text = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let step = p.get("step_id").and_then(|v| v.as_str()).map(String::from);
    let (action, summary) = match e.kind {
        K::ApprovalRequested => (Action::ApprovalRequested, format!("Asked reviewers to approve `{}`.", text("tool_id"))),
        K::ApprovalVoted => (Action::ApprovalVoted, format!("Approved `{}` towards its quorum.", text("tool_id"))),
        K::ApprovalCommented => (Action::ApprovalCommented, format!("Commented on the request for `{}`.", text("tool_id"))),
        K::ApprovalDecided => match text("status").as_str() {
            "approved" if int("override_id").is_some() => (
                Action::ApprovalOverridden,
                format!("Override #{} approved `{}` in its reviewers' place.", int("override_id").unwrap_or_default(), text("tool_id")),
            ),
            "approved" => (Action::ApprovalApproved, format!("Approved `{}`.", text("tool_id"))),
            "denied" => (Action::ApprovalDenied, format!("Denied `{}`.", text("tool_id"))),
            "expired" => (Action::ApprovalExpired, format!("The request for `{}` expired.", text("tool_id"))),
            _ => (Action::ApprovalCancelled, format!("Withdrew the request for `{}`.", text("tool_id"))),
        },
        K::PlanApproved => (Action::PlanApproved, format!("Plan approved (by {}) and started.", text("approved_by"))),
        K::PlanRejected => (Action::PlanRejected, "The plan will not run: its plan approval was denied or expired.".to_string()),
        K::PlanSucceeded => (Action::PlanSucceeded, "Every step succeeded.".to_string()),
        K::PlanRolledBack => (Action::PlanRolledBack, "A step failed; what had run was rolled back.".to_string()),
        K::PlanCancelled => (Action::PlanCancelled, "Cancelled; what had run was rolled back.".to_string()),
        K::PlanFailed => (Action::PlanFailed, "A rollback failed for good: someone must look.".to_string()),
        K::StepSucceeded => (Action::StepSucceeded, format!("Step {} (`{}`) succeeded.", step.clone().unwrap_or_default(), text("tool"))),
        K::StepFailed => (Action::StepFailed, format!("Step {} (`{}`) failed.", step.clone().unwrap_or_default(), text("tool"))),
        K::StepCompensated => {
            let ok = p.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
            let how = if ok { "was rolled back" } else { "could not be rolled back" };
            (Action::StepCompensated, format!("Step {} (`{}`) {how}.", step.clone().unwrap_or_default(), text("tool")))
        }
        K::OverrideRequested => {
            (Action::OverrideRequested, format!("Asked for a second approval of an override of {}.", text("target_label")))
        }
        K::OverrideCreated => (Action::OverrideCreated, format!("Overrode {}.", text("target_label"))),
        K::OverrideRejected => (Action::OverrideRejected, format!("The override of {} was not approved.", text("target_label"))),
        K::OverrideRevoked => (Action::OverrideRevoked, format!("Revoked the override of {}.", text("target_label"))),
        K::OverrideExpired => (Action::OverrideExpired, format!("The override of {} expired.", text("target_label"))),
        K::PlanEvaluated
        | K::PlanReady
        | K::PlanBlocked
        | K::PlanStarted
        | K::StepQueued
        | K::StepWaitingApproval
        | K::StepStarted
        | K::StepRetrying
        | K::ComparisonReady => return None,
    };
    let subject = match (e.kind, e.subject) {
        (K::OverrideRequested | K::OverrideCreated | K::OverrideRejected | K::OverrideRevoked | K::OverrideExpired, _) => {
            format!("override:{}", int("override_id").unwrap_or_default())
        }
        (_, Subject::Approval(id)) => format!("approval:{id}"),
        (_, Subject::Comparison(id)) => format!("comparison:{id}"),
        (_, Subject::Plan(id)) => match &step {
            Some(s) if e.kind.as_str().starts_with("step.") => format!("plan:{id}/{s}"),
            _ => format!("plan:{id}"),
        },
    };
    let plan = match e.subject {
        Subject::Plan(id) => Some(id),
        Subject::Approval(_) | Subject::Comparison(_) => int("plan_id"),
    };
    let links = Links { plan, step, approval: int("approval_id"), override_id: int("override_id"), ..Links::default() }
        .with_items(int("backlog_item_id"), int("pack_id"));
    Some(Entry::new(actor, action, subject, links, summary).fields(e.payload.clone()))
}

#[cfg(feature = "ssr")]
pub mod chain {
    //! Hashing and verification: pure functions over records.

    use super::*;
    use sha2::{Digest, Sha256};

    /// The canonical JSON of `r` without its hash: keys sorted, compact, integers only.
    pub fn canonical(r: &Record) -> String {
        serde_json::to_string(&Canonical::of(r)).expect("records serialise")
    }

    /// A record without its hash, its keys in sorted order (serde writes a struct's fields in
    /// declaration order), written straight into the hasher: no intermediate value or string.
    #[derive(Serialize)]
    struct Canonical<'a> {
        action: Action,
        actor: &'a str,
        at: i64,
        door: Door,
        fields: Sorted<'a>,
        links: CanonicalLinks<'a>,
        prev_hash: &'a str,
        role: Option<Role>,
        seq: i64,
        subject: &'a str,
        summary: &'a str,
    }

    #[derive(Serialize)]
    struct CanonicalLinks<'a> {
        approval: Option<i64>,
        items: &'a [i64],
        #[serde(rename = "override")]
        override_id: Option<i64>,
        packs: &'a [i64],
        plan: Option<i64>,
        step: Option<&'a str>,
    }

    impl<'a> Canonical<'a> {
        fn of(r: &'a Record) -> Canonical<'a> {
            Canonical {
                action: r.action,
                actor: &r.actor,
                at: r.at,
                door: r.door,
                fields: Sorted(&r.fields),
                links: CanonicalLinks {
                    approval: r.links.approval,
                    items: &r.links.items,
                    override_id: r.links.override_id,
                    packs: &r.links.packs,
                    plan: r.links.plan,
                    step: r.links.step.as_deref(),
                },
                prev_hash: &r.prev_hash,
                role: r.role,
                seq: r.seq,
                subject: &r.subject,
                summary: &r.summary,
            }
        }
    }

    /// A JSON value written with every object's keys sorted (by code point, as UTF-8 bytes sort).
    struct Sorted<'a>(&'a serde_json::Value);

    impl Serialize for Sorted<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{SerializeMap, SerializeSeq};
            match self.0 {
                serde_json::Value::Object(o) => {
                    let mut keys: Vec<&String> = o.keys().collect();
                    keys.sort();
                    let mut m = s.serialize_map(Some(keys.len()))?;
                    for k in keys {
                        m.serialize_entry(k, &Sorted(&o[k]))?;
                    }
                    m.end()
                }
                serde_json::Value::Array(a) => {
                    let mut q = s.serialize_seq(Some(a.len()))?;
                    for v in a {
                        q.serialize_element(&Sorted(v))?;
                    }
                    q.end()
                }
                other => other.serialize(s),
            }
        }
    }

    /// Feeds what is written into SHA-256.
    struct HashWriter(Sha256);

    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The hash `r` must carry.
    pub fn hash_of(r: &Record) -> String {
        let mut w = HashWriter(Sha256::new());
        serde_json::to_writer(&mut w, &Canonical::of(r)).expect("records serialise");
        hex::encode(w.0.finalize())
    }

    /// The record `entry` becomes after `prev`, at `at`.
    pub fn seal(entry: Entry, prev: &Head, at: i64) -> Record {
        let mut r = Record {
            seq: prev.seq + 1,
            at,
            actor: entry.actor.identity,
            role: entry.actor.role,
            door: entry.actor.door,
            action: entry.action,
            subject: entry.subject,
            links: entry.links,
            summary: entry.summary,
            fields: entry.fields,
            prev_hash: prev.hash.clone(),
            hash: String::new(),
        };
        r.hash = hash_of(&r);
        r
    }

    /// Checks records one after another from the start of the log (seq 1). Feed every record,
    /// oldest first, then call [`Verifier::finish`].
    #[derive(Debug)]
    pub struct Verifier {
        head: Head,
        records: i64,
        broken: Option<Break>,
    }

    impl Default for Verifier {
        fn default() -> Self {
            Verifier { head: Head::empty(), records: 0, broken: None }
        }
    }

    impl Verifier {
        /// False once the chain broke (the rest need not be read).
        pub fn intact(&self) -> bool {
            self.broken.is_none()
        }

        /// Checks the next record against the one before; `computed` is `hash_of(r)` (computed
        /// by the caller, possibly in parallel).
        pub fn push(&mut self, r: &Record, computed: &str) {
            if self.broken.is_some() {
                return;
            }
            let expected = self.head.seq + 1;
            let problem = if r.seq != expected {
                Some(Problem::Gap { found: r.seq })
            } else if r.prev_hash != self.head.hash {
                Some(Problem::Unlinked)
            } else if computed != r.hash {
                Some(Problem::Altered)
            } else {
                None
            };
            match problem {
                Some(Problem::Gap { found }) if found < expected => {
                    // A number seen again: records were duplicated or reordered.
                    self.broken = Some(Break { seq: expected, problem: Problem::Unlinked });
                }
                Some(problem) => self.broken = Some(Break { seq: expected, problem }),
                None => {
                    self.head = Head { seq: r.seq, hash: r.hash.clone() };
                    self.records += 1;
                }
            }
        }

        /// The result, checked against a head recorded earlier when there is one.
        pub fn finish(mut self, expect: Option<&Head>, hash_at: impl FnOnce(i64) -> Option<String>) -> ChainStatus {
            if let (None, Some(head)) = (&self.broken, expect) {
                if head.seq > self.head.seq {
                    self.broken = Some(Break { seq: self.head.seq + 1, problem: Problem::Truncated { head: head.seq } });
                } else if head.seq > 0 && hash_at(head.seq).as_deref() != Some(head.hash.as_str()) {
                    self.broken = Some(Break { seq: head.seq, problem: Problem::HeadMismatch });
                }
            }
            ChainStatus { records: self.records, head: self.head, broken: self.broken }
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::chain::*;
    use super::*;
    use serde_json::json;

    fn entry(i: i64) -> Entry {
        let actor = Actor { identity: format!("user:u{i}"), role: Some(Role::Admin), door: Door::Browser };
        Entry::new(&actor, Action::PlanCreated, format!("plan:{i}"), Links::plan(i).with_items([3, 1, 3], [2]), format!("Plan {i} “made”"))
            .fields(json!({"budget_usd": 12.5, "items": [3, 1], "note": "ünïcode\n\"quoted\""}))
    }

    #[test]
    fn an_approval_decided_by_an_override_is_recorded_as_overridden() {
        use crate::events::model::{EventKind, NewEvent, Subject};
        let actor = Actor { identity: "user:admin".into(), role: Some(Role::Admin), door: Door::Browser };
        let decided = |payload: serde_json::Value| NewEvent { kind: EventKind::ApprovalDecided, subject: Subject::Approval(7), payload };
        let by_quorum = from_event(&actor, &decided(json!({"approval_id": 7, "tool_id": "db:migrate", "status": "approved"}))).unwrap();
        assert_eq!((by_quorum.action, by_quorum.links.override_id), (Action::ApprovalApproved, None));
        let overridden = decided(json!({"approval_id": 7, "tool_id": "db:migrate", "status": "approved", "override_id": 3, "plan_id": 5}));
        let e = from_event(&actor, &overridden).unwrap();
        assert_eq!(e.action, Action::ApprovalOverridden);
        assert_eq!((e.subject.as_str(), e.links.override_id, e.links.approval, e.links.plan), ("approval:7", Some(3), Some(7), Some(5)));
        assert_eq!(e.summary, "Override #3 approved `db:migrate` in its reviewers' place.");
    }

    fn chain(n: i64) -> Vec<Record> {
        let mut head = Head::empty();
        (1..=n)
            .map(|i| {
                let r = seal(entry(i), &head, 1_000 + i);
                head = Head { seq: r.seq, hash: r.hash.clone() };
                r
            })
            .collect()
    }

    fn verify(records: &[Record], expect: Option<&Head>) -> ChainStatus {
        let mut v = Verifier::default();
        for r in records {
            v.push(r, &hash_of(r));
        }
        let by_seq = |seq: i64| records.iter().find(|r| r.seq == seq).map(|r| r.hash.clone());
        v.finish(expect, by_seq)
    }

    #[test]
    fn canonical_json_is_sorted_compact_and_integral() {
        let r = &chain(1)[0];
        let c = canonical(r);
        assert!(
            c.starts_with(r#"{"action":"plan.created","actor":"user:u1","at":1001,"door":"browser","fields":{"budget_usd":"12.5","#),
            "{c}"
        );
        assert!(c.contains(r#""links":{"approval":null,"items":[1,3],"override":null,"packs":[2],"plan":1,"step":null}"#), "{c}");
        assert!(c.contains(r#""note":"ünïcode\n\"quoted\"""#), "non-ASCII stays UTF-8, escapes are JSON's: {c}");
        assert!(!c.contains("\"hash\""), "the hash is not part of what it hashes");
        assert_eq!(r.prev_hash, GENESIS);
        assert_eq!(r.hash.len(), 64);
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let records = chain(5);
        let s = verify(&records, None);
        assert_eq!(s.broken, None);
        assert_eq!((s.records, s.head.seq, s.head.hash.as_str()), (5, 5, records[4].hash.as_str()));
        let s = verify(&records, Some(&Head { seq: 3, hash: records[2].hash.clone() }));
        assert_eq!(s.broken, None, "an earlier head recorded elsewhere is still in the log");
        assert_eq!(verify(&[], None).head, Head::empty());
    }

    #[test]
    fn every_kind_of_tampering_is_found_at_its_record() {
        let records = chain(6);

        let mut altered = records.clone();
        altered[2].summary = "nothing to see".into();
        assert_eq!(verify(&altered, None).broken, Some(Break { seq: 3, problem: Problem::Altered }));

        let mut rehashed = records.clone();
        rehashed[2].links.plan = Some(99);
        rehashed[2].hash = hash_of(&rehashed[2]);
        assert_eq!(
            verify(&rehashed, None).broken,
            Some(Break { seq: 4, problem: Problem::Unlinked }),
            "rehashing one record unlinks the next"
        );

        let mut deleted = records.clone();
        deleted.remove(3);
        assert_eq!(verify(&deleted, None).broken, Some(Break { seq: 4, problem: Problem::Gap { found: 5 } }));

        let mut renumbered = deleted.clone();
        for r in renumbered.iter_mut().skip(3) {
            r.seq -= 1;
        }
        let s = verify(&renumbered, None);
        assert_eq!(s.broken, Some(Break { seq: 4, problem: Problem::Unlinked }), "closing the gap still breaks the links");
        assert_eq!(s.records, 3);

        let mut reordered = records.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered, None).broken, Some(Break { seq: 2, problem: Problem::Gap { found: 3 } }));

        let mut inserted = records.clone();
        let forged = seal(entry(9), &Head { seq: 2, hash: records[1].hash.clone() }, 5);
        inserted.insert(2, forged);
        assert_eq!(
            verify(&inserted, None).broken,
            Some(Break { seq: 4, problem: Problem::Unlinked }),
            "an inserted record pushes the rest off the chain"
        );

        let mut duplicated = records.clone();
        duplicated.insert(3, records[2].clone());
        assert_eq!(verify(&duplicated, None).broken, Some(Break { seq: 4, problem: Problem::Unlinked }));
    }

    #[test]
    fn a_cut_tail_is_found_against_a_recorded_head() {
        let records = chain(6);
        let head = Head { seq: 6, hash: records[5].hash.clone() };
        let s = verify(&records[..4], Some(&head));
        assert_eq!(s.broken, Some(Break { seq: 5, problem: Problem::Truncated { head: 6 } }));
        assert!(s.broken.unwrap().describe().contains("ends at record 4"));
        // A rewritten history that is internally consistent still misses the recorded head.
        let mut rewritten = chain(6);
        rewritten.truncate(5);
        let mut head_rewritten = Head::empty();
        let mut fake = vec![];
        for (i, mut r) in rewritten.into_iter().enumerate() {
            if i == 1 {
                r.summary = "rewritten".into();
            }
            let e = Entry {
                actor: Actor { identity: r.actor, role: r.role, door: r.door },
                action: r.action,
                subject: r.subject,
                links: r.links,
                summary: r.summary,
                fields: r.fields,
            };
            let sealed = seal(e, &head_rewritten, r.at);
            head_rewritten = Head { seq: sealed.seq, hash: sealed.hash.clone() };
            fake.push(sealed);
        }
        let head5 = Head { seq: 5, hash: records[4].hash.clone() };
        assert_eq!(verify(&fake, Some(&head5)).broken, Some(Break { seq: 5, problem: Problem::HeadMismatch }));
    }

    #[test]
    fn an_entry_links_its_subject_once_it_has_an_id() {
        let e = Entry::new(&Actor::system(), Action::ItemCreated, "item:0", Links::default(), "s").about("item", 0);
        assert_eq!((e.subject.as_str(), e.links.items.len()), ("item:0", 0), "no link to a row that does not exist yet");
        let e = e.about("item", 7).about("item", 7);
        assert_eq!((e.subject.as_str(), e.links.items.as_slice()), ("item:7", &[7][..]));
        let p = Entry::new(&Actor::system(), Action::PackCreated, "pack:0", Links::default(), "s").about("pack", 3);
        assert_eq!(p.links.packs, vec![3]);
    }

    #[test]
    fn heads_parse_from_seq_colon_hash() {
        let h = Head { seq: 12, hash: "ab".repeat(32) };
        assert_eq!(Head::parse(&h.to_string()), Some(h));
        for bad in ["12", "x:ab", "-1:00", &format!("3:{}", "AB".repeat(32)), &format!("3:{}", "a".repeat(63))] {
            assert_eq!(Head::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn actions_and_doors_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.as_str()));
        }
        assert_eq!(Action::KeyRevoked.area(), "api_key");
        for d in Door::ALL {
            assert_eq!(Door::parse(d.as_str()), Some(d));
        }
    }
}
