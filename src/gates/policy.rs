//! The gate policy (TOML): thresholds, compliance rules and change freezes; every mistake is reported with its file and line.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::backlog::model::{is_valid_label, is_valid_tool_id, MAX_REQUIRED_APPROVALS};
use crate::execution::model::RetryPolicy;
use crate::plan::draft::EstimateDefaults;
use crate::plan::verdict::Enforcement;

/// The policy shipped with NOFX (`config/policy.toml`), used when `NOFX_POLICY` is unset.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../config/policy.toml");

/// The whole policy file. Every key is optional: an empty file is a valid policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub structural: StructuralPolicy,
    pub risk: RiskPolicy,
    pub compliance: CompliancePolicy,
    pub resource: ResourcePolicy,
    pub execution: ExecutionPolicy,
    pub overrides: OverridePolicy,
    pub comparison: ComparisonPolicy,
}

/// How planner comparisons rank their candidates (docs/planner.md, "Scoring").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparisonPolicy {
    pub weights: crate::comparisons::model::ScoreWeights,
}

/// Who may override a soft-mandatory verdict (or decide a pending approval by override), how
/// well they must justify it, for how long, and whether a second person must approve it first.
/// Hard-mandatory verdicts can never be overridden; advisory ones never block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverridePolicy {
    pub roles: Vec<crate::auth::model::Role>,
    /// Shortest justification, in characters.
    pub min_justification_chars: i64,
    /// Longest an override may stay in force.
    pub max_hours: i64,
    /// Whether an override waits in the reviewers' inbox for someone other than its author.
    pub require_approval: bool,
    /// Reviewers who must approve it then.
    pub required_approvals: i64,
}

impl Default for OverridePolicy {
    fn default() -> Self {
        OverridePolicy {
            roles: vec![crate::auth::model::Role::Admin],
            min_justification_chars: 20,
            max_hours: 72,
            require_approval: false,
            required_approvals: 1,
        }
    }
}

/// How plans run: when a plan needs a reviewer's approval before it starts, how long a worker's
/// lease lasts, and how often a failed step is tried again.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionPolicy {
    /// Which plans wait for a plan approval before they start.
    pub approve_plans: ApprovePlans,
    /// Reviewers who must approve a plan (a quorum; the requester never counts).
    pub plan_required_approvals: i64,
    /// How long a worker holds a claimed step without a heartbeat.
    pub lease_seconds: i64,
    /// Attempts and backoff of every step (and its rollback)…
    pub retry: RetryPolicy,
    /// …unless its tool has its own (`[execution.tools."deploy:prod"]`; unset keys take the
    /// built-in defaults).
    pub tools: BTreeMap<String, RetryPolicy>,
}

impl Default for ExecutionPolicy {
    fn default() -> Self {
        ExecutionPolicy {
            approve_plans: ApprovePlans::WhenWarned,
            plan_required_approvals: 1,
            lease_seconds: 30,
            retry: RetryPolicy::default(),
            tools: BTreeMap::new(),
        }
    }
}

impl ExecutionPolicy {
    /// The worst verdict from which a plan needs approval; `None`: never.
    pub fn approve_at(&self) -> Option<crate::plan::verdict::Verdict> {
        use crate::plan::verdict::Verdict;
        match self.approve_plans {
            ApprovePlans::Always => Some(Verdict::Allow),
            ApprovePlans::WhenWarned => Some(Verdict::Warn),
            ApprovePlans::Never => None,
        }
    }

    /// The retry policy of `tool`'s steps.
    pub fn retry_for(&self, tool: &str) -> RetryPolicy {
        self.tools.get(tool).copied().unwrap_or(self.retry)
    }

    pub fn lease_ms(&self) -> i64 {
        self.lease_seconds * 1000
    }
}

/// `approve_plans`: `always`, `when-warned` (a verdict warns; the default) or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovePlans {
    Always,
    WhenWarned,
    Never,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StructuralPolicy {
    /// Cycles, missing or unknown dependencies, unknown tools, broken graphs.
    pub enforcement: Enforcement,
    /// A mutating step whose tool has no rollback recipe.
    pub rollback_enforcement: Enforcement,
}

impl Default for StructuralPolicy {
    fn default() -> Self {
        StructuralPolicy { enforcement: Enforcement::HardMandatory, rollback_enforcement: Enforcement::SoftMandatory }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskPolicy {
    /// A step scoring at least this warns.
    pub warn_at: f64,
    /// A step scoring at least this blocks (capped by `enforcement`).
    pub block_at: f64,
    /// Added to a step's score for its item's risk level.
    pub item_risk: ItemRiskScores,
    /// Added for each label the item carries.
    pub label_weights: BTreeMap<String, f64>,
    pub enforcement: Enforcement,
    /// For "this sensitive step will wait for a human" notices.
    pub sensitive_enforcement: Enforcement,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        RiskPolicy {
            warn_at: 6.0,
            block_at: 11.0,
            item_risk: ItemRiskScores::default(),
            label_weights: [("prod", 3.0), ("pii", 2.0), ("security", 1.0)].into_iter().map(|(l, w)| (l.to_string(), w)).collect(),
            enforcement: Enforcement::SoftMandatory,
            sensitive_enforcement: Enforcement::Advisory,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemRiskScores {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Default for ItemRiskScores {
    fn default() -> Self {
        ItemRiskScores { low: 0.0, medium: 1.0, high: 3.0 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompliancePolicy {
    pub rules: Vec<ComplianceRule>,
    pub freezes: Vec<Freeze>,
}

/// Applies to items carrying any of `labels` (every item when empty).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceRule {
    /// Findings name it as `compliance.<id>`.
    pub id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Tools the item must include.
    #[serde(default)]
    pub require_tools: Vec<String>,
    /// Tool patterns the item must not use (`deploy:*` matches every deploy tool).
    #[serde(default)]
    pub forbid_tools: Vec<String>,
    /// Reviewer approvals the item's mutating or sensitive steps wait for.
    #[serde(default)]
    pub require_approvals: u32,
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Replaces the generated tip on this rule's blocks.
    #[serde(default)]
    pub remediation: Option<String>,
}

/// A change freeze: matching steps are blocked from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Findings name it as `compliance.freeze.<id>`.
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Tool patterns the freeze stops.
    pub tools: Vec<String>,
    /// Only items with any of these labels (every item when empty).
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "hard_mandatory")]
    pub enforcement: Enforcement,
}

impl Freeze {
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.start.0 <= now_ms && now_ms < self.end.0
    }
}

fn hard_mandatory() -> Enforcement {
    Enforcement::HardMandatory
}

/// A moment from the policy file, in epoch milliseconds. Written as a TOML date-time or an
/// RFC 3339 string, always with a zone (`Z` or `+01:00`), so it means the same on every server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) => dt.to_string(),
            other => return Err(D::Error::custom(format!("expected a date-time like 2026-12-24T00:00:00Z, found a {}", other.type_str()))),
        };
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|_| D::Error::custom(format!("`{text}` is not a date-time with a zone; write it like 2026-12-24T00:00:00Z")))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.0) {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M UTC")),
            None => write!(f, "{} ms", self.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcePolicy {
    /// Budget of a plan whose request names none.
    pub budget_usd: f64,
    /// The longest acceptable critical path.
    pub max_duration_minutes: i64,
    /// Warn once an estimate reaches this share of its limit.
    pub warn_ratio: f64,
    /// Estimates for tools without recorded runs (and items without an estimate).
    pub default_step_minutes: i64,
    pub default_step_cost_usd: f64,
    pub enforcement: Enforcement,
}

impl Default for ResourcePolicy {
    fn default() -> Self {
        ResourcePolicy {
            budget_usd: 25.0,
            max_duration_minutes: 480,
            warn_ratio: 0.8,
            default_step_minutes: 15,
            default_step_cost_usd: 0.10,
            enforcement: Enforcement::SoftMandatory,
        }
    }
}

/// Why a policy file was refused: the file, the line (and column when known) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub source_name: String,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// 1-based, for TOML syntax and type errors.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "policy {}: {}", self.source_name, self.message),
            (line, Some(column)) => write!(f, "policy {}: line {line}, column {column}: {}", self.source_name, self.message),
            (line, None) => write!(f, "policy {}: line {line}: {}", self.source_name, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// One step of a path into the document: a key, or the n-th entry of an array (of tables).
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Nth(usize),
}
use Seg::{Key, Nth};

/// Byte offset of the deepest part of `path` present in the document (the key itself when the
/// path ends in a key), and whether all of it is present. Semantic errors point there: the line
/// the user has to change. Asks the TOML parser, so `[tables]`, dotted keys and inline tables
/// all work.
fn locate(text: &str, path: &[Seg<'_>]) -> (Option<usize>, bool) {
    let Ok(root) = toml::de::DeTable::parse(text) else { return (None, false) };
    let mut found = None;
    let mut value: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
    for seg in path {
        let next = match *seg {
            Key(k) => {
                let table = match value {
                    None => Some(root.get_ref()),
                    Some(v) => v.get_ref().as_table(),
                };
                table.and_then(|t| t.get_key_value(k)).map(|(key, v)| (key.span().start, v))
            }
            Nth(n) => value.and_then(|v| v.get_ref().as_array()).and_then(|a| a.get(n)).map(|v| (v.span().start, v)),
        };
        let Some((at, v)) = next else { return (found, false) };
        found = Some(at);
        value = Some(v);
    }
    (found, true)
}

fn is_rule_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `deploy:*` matches `deploy:prod` (a trailing `*` is a prefix glob); anything else matches exactly.
pub fn tool_matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

fn is_tool_pattern(p: &str) -> bool {
    match p.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => is_valid_tool_id(prefix),
        None => is_valid_tool_id(p),
    }
}

/// Collects the first semantic problem with the path of the key to blame.
struct Check<'t> {
    text: &'t str,
    source: &'t str,
}

impl Check<'_> {
    fn fail(&self, path: &[Seg<'_>], message: String) -> PolicyError {
        let line = locate(self.text, path).0.map_or(1, |at| position(self.text, at).0);
        PolicyError { source_name: self.source.to_string(), line, column: None, message }
    }

    fn number(&self, path: &[Seg<'_>], name: &str, v: f64, min: f64) -> Result<(), PolicyError> {
        if v.is_finite() && v >= min {
            Ok(())
        } else {
            Err(self.fail(path, format!("{name} ({v}) must be a number of at least {min}")))
        }
    }

    fn labels(&self, path: &[Seg<'_>], name: &str, labels: &[String]) -> Result<(), PolicyError> {
        match labels.iter().find(|l| !is_valid_label(l)) {
            Some(l) => Err(self.fail(path, format!("{name}: `{l}` is not a label; labels look like `pii` or `needs-review` (lowercase)"))),
            None => Ok(()),
        }
    }

    fn patterns(&self, path: &[Seg<'_>], name: &str, patterns: &[String]) -> Result<(), PolicyError> {
        match patterns.iter().find(|p| !is_tool_pattern(p)) {
            Some(p) => {
                Err(self
                    .fail(path, format!("{name}: `{p}` is not a tool id or pattern; write `bash`, or `deploy:*` for every deploy tool")))
            }
            None => Ok(()),
        }
    }
}

impl Policy {
    /// Parses and checks a policy; `source` names the file in error messages.
    pub fn parse(text: &str, source: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| position(text, s.start));
            let mut message = e.message().trim().replace('\n', "; ");
            if let Some(src) = text.lines().nth(line - 1).map(str::trim).filter(|l| !l.is_empty()) {
                message.push_str(&format!(" (at `{src}`)"));
            }
            PolicyError { source_name: source.to_string(), line, column: Some(column), message }
        })?;
        policy.validate(&Check { text, source })?;
        Ok(policy)
    }

    fn validate(&self, c: &Check<'_>) -> Result<(), PolicyError> {
        let w = &self.comparison.weights;
        for (key, v) in [
            ("verdicts", w.verdicts),
            ("makespan", w.makespan),
            ("cost", w.cost),
            ("parallelism", w.parallelism),
            ("approvals", w.approvals),
        ] {
            c.number(&[Key("comparison"), Key("weights"), Key(key)], &format!("comparison.weights.{key}"), v, 0.0)?;
        }
        if w.total() <= 0.0 {
            return Err(c.fail(&[Key("comparison"), Key("weights")], "comparison.weights: at least one weight must be above 0".into()));
        }
        let r = &self.risk;
        c.number(&[Key("risk"), Key("warn_at")], "risk.warn_at", r.warn_at, 0.0)?;
        c.number(&[Key("risk"), Key("block_at")], "risk.block_at", r.block_at, 0.0)?;
        if r.warn_at >= r.block_at {
            // Blame warn_at when the file sets it, else block_at.
            let key = if locate(c.text, &[Key("risk"), Key("warn_at")]).1 { "warn_at" } else { "block_at" };
            return Err(
                c.fail(&[Key("risk"), Key(key)], format!("risk.warn_at ({}) must be below risk.block_at ({})", r.warn_at, r.block_at))
            );
        }
        for (key, v) in [("low", r.item_risk.low), ("medium", r.item_risk.medium), ("high", r.item_risk.high)] {
            c.number(&[Key("risk"), Key("item_risk"), Key(key)], &format!("risk.item_risk.{key}"), v, 0.0)?;
        }
        for (label, w) in &r.label_weights {
            let path = [Key("risk"), Key("label_weights"), Key(label)];
            if !is_valid_label(label) {
                return Err(c.fail(
                    &path,
                    format!("risk.label_weights: `{label}` is not a label; labels look like `pii` or `needs-review` (lowercase)"),
                ));
            }
            // Negative weights are allowed: a `sandbox` label may lower the risk.
            if !w.is_finite() {
                return Err(c.fail(&path, format!("risk.label_weights.{label} ({w}) must be a finite number")));
            }
        }

        let res = &self.resource;
        if !(res.budget_usd.is_finite() && res.budget_usd > 0.0) {
            return Err(c.fail(
                &[Key("resource"), Key("budget_usd")],
                format!("resource.budget_usd ({}) must be a positive number of dollars", res.budget_usd),
            ));
        }
        if res.max_duration_minutes <= 0 {
            return Err(c.fail(
                &[Key("resource"), Key("max_duration_minutes")],
                format!("resource.max_duration_minutes ({}) must be at least 1", res.max_duration_minutes),
            ));
        }
        if !(res.warn_ratio > 0.0 && res.warn_ratio <= 1.0) {
            return Err(c.fail(
                &[Key("resource"), Key("warn_ratio")],
                format!("resource.warn_ratio ({}) must be above 0 and at most 1", res.warn_ratio),
            ));
        }
        if res.default_step_minutes <= 0 {
            return Err(c.fail(
                &[Key("resource"), Key("default_step_minutes")],
                format!("resource.default_step_minutes ({}) must be at least 1", res.default_step_minutes),
            ));
        }
        c.number(&[Key("resource"), Key("default_step_cost_usd")], "resource.default_step_cost_usd", res.default_step_cost_usd, 0.0)?;

        let ex = &self.execution;
        if !(1..=10).contains(&ex.plan_required_approvals) {
            return Err(c.fail(
                &[Key("execution"), Key("plan_required_approvals")],
                format!("execution.plan_required_approvals ({}) must be between 1 and 10", ex.plan_required_approvals),
            ));
        }
        if !(5..=3600).contains(&ex.lease_seconds) {
            return Err(c.fail(
                &[Key("execution"), Key("lease_seconds")],
                format!("execution.lease_seconds ({}) must be between 5 and 3600", ex.lease_seconds),
            ));
        }
        let retries = std::iter::once((vec![Key("execution"), Key("retry")], "execution.retry".to_string(), &ex.retry))
            .chain(ex.tools.iter().map(|(t, r)| (vec![Key("execution"), Key("tools"), Key(t)], format!("execution.tools.\"{t}\""), r)));
        for (path, name, r) in retries {
            if let [_, Key("tools"), Key(tool)] = path[..] {
                if !is_valid_tool_id(tool) {
                    return Err(c.fail(&path, format!("{name}: `{tool}` is not a tool id like `deploy:prod` (lowercase)")));
                }
            }
            if !(1..=20).contains(&r.max_attempts) {
                return Err(c.fail(&path, format!("{name}.max_attempts ({}) must be between 1 and 20", r.max_attempts)));
            }
            if r.backoff_ms < 0 || r.max_backoff_ms < r.backoff_ms {
                return Err(c.fail(
                    &path,
                    format!("{name}: backoff_ms ({}) must be at least 0 and at most max_backoff_ms ({})", r.backoff_ms, r.max_backoff_ms),
                ));
            }
        }

        let o = &self.overrides;
        {
            use crate::auth::model::Role;
            let may = [Role::Admin, Role::Planner, Role::Automation, Role::Reviewer];
            if o.roles.is_empty() {
                return Err(c.fail(
                    &[Key("overrides"), Key("roles")],
                    "overrides.roles is empty; name the roles that may override, like [\"admin\"]".to_string(),
                ));
            }
            if let Some(r) = o.roles.iter().find(|r| !may.contains(r)) {
                return Err(c.fail(
                    &[Key("overrides"), Key("roles")],
                    format!("overrides.roles: `{r}` cannot override (it cannot change plans); use admin, planner, automation or reviewer"),
                ));
            }
            for (key, v, lo, hi) in [
                ("min_justification_chars", o.min_justification_chars, 1, 1000),
                ("max_hours", o.max_hours, 1, 720),
                ("required_approvals", o.required_approvals, 1, 10),
            ] {
                if !(lo..=hi).contains(&v) {
                    return Err(c.fail(&[Key("overrides"), Key(key)], format!("overrides.{key} ({v}) must be between {lo} and {hi}")));
                }
            }
        }

        let mut ids = HashSet::new();
        for (n, rule) in self.compliance.rules.iter().enumerate() {
            let at = |key| [Key("compliance"), Key("rules"), Nth(n), Key(key)];
            let name = format!("compliance rule `{}`", rule.id);
            if !is_rule_id(&rule.id) {
                return Err(c.fail(&at("id"), format!("compliance rule id `{}` must be 1–64 characters of a–z, 0–9, '-' and '_'", rule.id)));
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(c.fail(&at("id"), format!("compliance rule id `{}` is used twice; rule ids must be unique", rule.id)));
            }
            c.labels(&at("labels"), &name, &rule.labels)?;
            if let Some(t) = rule.require_tools.iter().find(|t| !is_valid_tool_id(t)) {
                return Err(c.fail(&at("require_tools"), format!("{name}: require_tools takes exact tool ids; `{t}` is not one")));
            }
            c.patterns(&at("forbid_tools"), &name, &rule.forbid_tools)?;
            if i64::from(rule.require_approvals) > MAX_REQUIRED_APPROVALS {
                return Err(c.fail(
                    &at("require_approvals"),
                    format!("{name}: require_approvals ({}) may be at most {MAX_REQUIRED_APPROVALS}", rule.require_approvals),
                ));
            }
            if rule.require_tools.is_empty() && rule.forbid_tools.is_empty() && rule.require_approvals == 0 {
                return Err(c.fail(&at("id"), format!("{name} requires nothing: give it require_tools, forbid_tools or require_approvals")));
            }
        }
        let mut ids = HashSet::new();
        for (n, f) in self.compliance.freezes.iter().enumerate() {
            let at = |key| [Key("compliance"), Key("freezes"), Nth(n), Key(key)];
            let name = format!("freeze `{}`", f.id);
            if !is_rule_id(&f.id) {
                return Err(c.fail(&at("id"), format!("freeze id `{}` must be 1–64 characters of a–z, 0–9, '-' and '_'", f.id)));
            }
            if !ids.insert(f.id.as_str()) {
                return Err(c.fail(&at("id"), format!("freeze id `{}` is used twice; freeze ids must be unique", f.id)));
            }
            if f.end <= f.start {
                return Err(c.fail(&at("end"), format!("{name} ends ({}) before it starts ({}); end must be after start", f.end, f.start)));
            }
            if f.tools.is_empty() {
                return Err(c.fail(&at("tools"), format!("{name} names no tools; list the tool patterns it stops, like \"deploy:*\"")));
            }
            c.patterns(&at("tools"), &name, &f.tools)?;
            c.labels(&at("labels"), &name, &f.labels)?;
        }
        Ok(())
    }

    /// The shipped default policy.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY_TOML, "config/policy.toml (built in)").expect("the shipped policy parses (tested)")
    }

    /// The file at `path`, or the shipped default when `None`.
    pub fn load(path: Option<&std::path::Path>) -> Result<Policy, PolicyError> {
        let Some(path) = path else { return Ok(Policy::default_policy()) };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            source_name: name.clone(),
            line: 0,
            column: None,
            message: format!("cannot read the policy file: {e}"),
        })?;
        Policy::parse(&text, &name)
    }

    /// What the planner assumes for tools without recorded runs.
    pub fn estimate_defaults(&self) -> EstimateDefaults {
        EstimateDefaults { step_minutes: self.resource.default_step_minutes, step_cost_usd: self.resource.default_step_cost_usd }
    }
}
