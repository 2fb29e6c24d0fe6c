//! The gate policy: thresholds, compliance rules and freeze windows, read from a TOML file at
//! start. Every problem is reported with the file and line, and the server refuses to start.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use super::model::Enforcement;
use crate::planner::build::EstimateDefaults;

/// The policy shipped with NOFX (`config/policy.toml`), used when `NOFX_POLICY` is unset.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../config/policy.toml");

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub structural: StructuralPolicy,
    pub risk: RiskPolicy,
    pub compliance: CompliancePolicy,
    pub resource: ResourcePolicy,
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
    pub warn_at: f64,
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
            label_weights: [("prod".to_string(), 3.0), ("pii".to_string(), 2.0)].into_iter().collect(),
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
    #[serde(default)]
    pub remediation: Option<String>,
}

/// A change freeze: matching steps are blocked between `start` and `end`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub start: toml::value::Datetime,
    pub end: toml::value::Datetime,
    pub tools: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "hard")]
    pub enforcement: Enforcement,
    /// Parsed from `start` / `end` after loading (epoch ms).
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
}

fn hard() -> Enforcement {
    Enforcement::HardMandatory
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcePolicy {
    /// Budget for a plan when the request names none.
    pub budget_usd: f64,
    /// The longest acceptable critical path.
    pub max_duration_minutes: i64,
    /// Warn once the estimate reaches this share of a limit.
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
            max_duration_minutes: 2_880,
            warn_ratio: 0.8,
            default_step_minutes: 15,
            default_step_cost_usd: 0.10,
            enforcement: Enforcement::SoftMandatory,
        }
    }
}

/// Why a policy file was refused, naming the file and the line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("policy {source_name}: line {line}: {message}")]
pub struct PolicyError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of `key = ...` inside `[table]` (or of the `n`-th `[[table]]` entry's key).
fn line_of_key(text: &str, table: &str, entry: Option<usize>, key: &str) -> usize {
    let mut in_table = false;
    let mut seen_entries = 0usize;
    let mut table_line = 1;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_matches(|c| c == '[' || c == ']').trim();
            in_table = name == table && entry.is_none_or(|n| {
                seen_entries += 1;
                seen_entries == n + 1
            });
            if in_table {
                table_line = i + 1;
            }
            continue;
        }
        if in_table && line.split('=').next().is_some_and(|k| k.trim() == key) {
            return i + 1;
        }
    }
    table_line
}

fn is_rule_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn datetime_ms(d: &toml::value::Datetime) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&d.to_string()).ok().map(|t| t.timestamp_millis())
}

/// `deploy:*` matches `deploy:prod`; anything else matches exactly.
pub fn tool_matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

impl Policy {
    /// Parses and checks a policy; `source` names the file in error messages.
    pub fn parse(text: &str, source: &str) -> Result<Policy, PolicyError> {
        let err = |line: usize, message: String| PolicyError { source_name: source.to_string(), line, message };
        let mut policy: Policy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_at(text, s.start)).unwrap_or(1);
            err(line, e.message().trim().to_string())
        })?;

        let r = &policy.risk;
        for (key, v) in [("warn_at", r.warn_at), ("block_at", r.block_at), ("low", r.item_risk.low), ("medium", r.item_risk.medium), ("high", r.item_risk.high)] {
            if !v.is_finite() || v < 0.0 {
                let table = if ["low", "medium", "high"].contains(&key) { "risk.item_risk" } else { "risk" };
                return Err(err(line_of_key(text, table, None, key), format!("{table}.{key} must be a number of at least 0")));
            }
        }
        if r.warn_at >= r.block_at {
            return Err(err(
                line_of_key(text, "risk", None, "warn_at"),
                format!("risk.warn_at ({}) must be below risk.block_at ({})", r.warn_at, r.block_at),
            ));
        }
        if let Some((label, _)) = r.label_weights.iter().find(|(_, w)| !w.is_finite()) {
            return Err(err(line_of_key(text, "risk.label_weights", None, label), format!("risk.label_weights.{label} must be a number")));
        }

        let res = &policy.resource;
        if !res.budget_usd.is_finite() || res.budget_usd <= 0.0 {
            return Err(err(line_of_key(text, "resource", None, "budget_usd"), "resource.budget_usd must be a positive number of dollars".into()));
        }
        if !(res.warn_ratio > 0.0 && res.warn_ratio <= 1.0) {
            return Err(err(line_of_key(text, "resource", None, "warn_ratio"), format!("resource.warn_ratio ({}) must be above 0 and at most 1", res.warn_ratio)));
        }
        if res.max_duration_minutes <= 0 || res.default_step_minutes < 0 {
            return Err(err(line_of_key(text, "resource", None, "max_duration_minutes"), "resource durations must be positive minutes".into()));
        }
        if !res.default_step_cost_usd.is_finite() || res.default_step_cost_usd < 0.0 {
            return Err(err(line_of_key(text, "resource", None, "default_step_cost_usd"), "resource.default_step_cost_usd must be at least 0".into()));
        }

        let mut ids = HashSet::new();
        for (n, rule) in policy.compliance.rules.iter().enumerate() {
            let line = line_of_key(text, "compliance.rules", Some(n), "id");
            if !is_rule_id(&rule.id) {
                return Err(err(line, format!("compliance rule id `{}` must be 1–64 characters of a–z, 0–9, '-' and '_'", rule.id)));
            }
            if !ids.insert(rule.id.clone()) {
                return Err(err(line, format!("compliance rule id `{}` is used twice; ids must be unique", rule.id)));
            }
            if rule.require_tools.is_empty() && rule.forbid_tools.is_empty() && rule.require_approvals == 0 {
                return Err(err(line, format!("compliance rule `{}` requires nothing: give it require_tools, forbid_tools or require_approvals", rule.id)));
            }
        }
        for (n, f) in policy.compliance.freezes.iter_mut().enumerate() {
            let line = line_of_key(text, "compliance.freezes", Some(n), "id");
            if !is_rule_id(&f.id) || !ids.insert(f.id.clone()) {
                return Err(err(line, format!("freeze id `{}` must be unique and made of a–z, 0–9, '-' and '_'", f.id)));
            }
            let (Some(start), Some(end)) = (datetime_ms(&f.start), datetime_ms(&f.end)) else {
                return Err(err(
                    line_of_key(text, "compliance.freezes", Some(n), "start"),
                    format!("freeze `{}`: start and end must be full date-times with a zone, like 2026-12-24T00:00:00Z", f.id),
                ));
            };
            if end <= start {
                return Err(err(line_of_key(text, "compliance.freezes", Some(n), "end"), format!("freeze `{}` ends ({}) before it starts ({})", f.id, f.end, f.start)));
            }
            if f.tools.is_empty() {
                return Err(err(line, format!("freeze `{}` names no tools; list the tool patterns it stops, like \"deploy:*\"", f.id)));
            }
            f.start_ms = start;
            f.end_ms = end;
        }
        Ok(policy)
    }

    /// The shipped default policy.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY_TOML, "config/policy.toml (built in)").expect("the shipped policy parses")
    }

    /// The file at `path`, or the shipped default when `None`.
    pub fn load(path: Option<&std::path::Path>) -> Result<Policy, PolicyError> {
        let Some(path) = path else { return Ok(Policy::default_policy()) };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError { source_name: name.clone(), line: 0, message: format!("cannot read the policy file: {e}") })?;
        Policy::parse(&text, &name)
    }

    pub fn estimate_defaults(&self) -> EstimateDefaults {
        EstimateDefaults { step_minutes: self.resource.default_step_minutes, step_cost_usd: self.resource.default_step_cost_usd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> PolicyError {
        Policy::parse(text, "p.toml").unwrap_err()
    }

    #[test]
    fn shipped_and_empty_policies_parse() {
        let p = Policy::default_policy();
        assert!(p.compliance.rules.iter().any(|r| r.id == "pii-needs-review"));
        assert!(!p.compliance.freezes.is_empty());
        assert_eq!(Policy::parse("", "empty").unwrap(), Policy::default());
    }

    #[test]
    fn errors_name_the_line() {
        let e = error("[risk]\nwarn_at = 5\nblock_at = = 3\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().starts_with("policy p.toml: line 3:"), "{e}");

        let e = error("[risk]\n\nshout = true\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("shout"), "{e}");

        let e = error("[resource]\nenforcement = \"sometimes\"\n");
        assert_eq!(e.line, 2, "{e}");

        let e = error("# thresholds\n[risk]\nwarn_at = 12\nblock_at = 9\n");
        assert_eq!((e.line, e.message.as_str()), (3, "risk.warn_at (12) must be below risk.block_at (9)"));

        let rules = "[[compliance.rules]]\nid = \"a\"\nforbid_tools = [\"bash\"]\n\n[[compliance.rules]]\nid = \"a\"\nforbid_tools = [\"bash\"]\n";
        let e = error(rules);
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("used twice"));

        let freeze = "[[compliance.freezes]]\nid = \"xmas\"\nstart = 2026-12-27T00:00:00Z\nend = 2026-12-24T00:00:00Z\ntools = [\"deploy:*\"]\n";
        let e = error(freeze);
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("ends"));

        let e = error("[resource]\nwarn_ratio = 1.5\n");
        assert_eq!(e.line, 2);
        let e = error("[[compliance.rules]]\nid = \"Bad Id\"\nforbid_tools = [\"x\"]\n");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn freeze_times_and_patterns() {
        let p = Policy::parse("[[compliance.freezes]]\nid = \"f\"\nstart = 2026-12-24T00:00:00Z\nend = 2026-12-27T00:00:00+01:00\ntools = [\"deploy:*\"]\n", "f").unwrap();
        let f = &p.compliance.freezes[0];
        assert_eq!(f.end_ms - f.start_ms, 3 * 86_400_000 - 3_600_000);
        assert_eq!(f.enforcement, Enforcement::HardMandatory);
        assert!(tool_matches("deploy:*", "deploy:prod"));
        assert!(!tool_matches("deploy:*", "git_pr"));
        assert!(tool_matches("bash", "bash") && !tool_matches("bash", "bash2"));
    }
}
