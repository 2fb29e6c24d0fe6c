//! Gate verdicts: what each evaluator says about a plan and its steps. Shared by the server and
//! the browser (the plan page colours steps by these).

use serde::{Deserialize, Serialize};

/// The four evaluators, in the order they run and are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Gate {
    Structural,
    Risk,
    Compliance,
    Resource,
}

impl Gate {
    pub const ALL: [Gate; 4] = [Gate::Structural, Gate::Risk, Gate::Compliance, Gate::Resource];
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Structural => "structural",
            Gate::Risk => "risk",
            Gate::Compliance => "compliance",
            Gate::Resource => "resource",
        }
    }
    pub fn parse(s: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Ordered so that `max` gives the worst verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Verdict {
    #[default]
    Allow,
    Warn,
    Block,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Allow, Verdict::Warn, Verdict::Block];
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Warn => "warn",
            Verdict::Block => "block",
        }
    }
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How hard a rule bites (Sentinel's levels): advisory rules never block; soft-mandatory blocks
/// can be overridden by an authorised, justified override; hard-mandatory blocks cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Enforcement {
    Advisory,
    #[default]
    SoftMandatory,
    HardMandatory,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Advisory => "advisory",
            Enforcement::SoftMandatory => "soft-mandatory",
            Enforcement::HardMandatory => "hard-mandatory",
        }
    }
    pub fn parse(s: &str) -> Option<Enforcement> {
        [Enforcement::Advisory, Enforcement::SoftMandatory, Enforcement::HardMandatory].into_iter().find(|e| e.as_str() == s)
    }
    /// An advisory rule that would block only warns.
    pub fn cap(self, verdict: Verdict) -> Verdict {
        match self {
            Enforcement::Advisory => verdict.min(Verdict::Warn),
            _ => verdict,
        }
    }
}

/// One thing one gate found: about one step (`step_id`) or the plan as a whole (`None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Finding {
    pub gate: Gate,
    pub step_id: Option<String>,
    pub verdict: Verdict,
    pub enforcement: Enforcement,
    /// The policy rule that fired, e.g. `risk.threshold` or `compliance.pii-needs-review`.
    pub rule: String,
    /// What was found, as a sentence.
    pub reason: String,
    /// What to change to get past it, as a sentence.
    pub remediation: String,
}

/// A gate's verdict on one step or on the whole plan: the worst of its findings, with every
/// reason and remediation tip. Allow with no reasons when nothing was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GateVerdict {
    pub gate: Gate,
    pub verdict: Verdict,
    /// The strictest enforcement among the findings at this verdict.
    pub enforcement: Enforcement,
    pub reasons: Vec<String>,
    pub remediation: Vec<String>,
    /// The rules that fired.
    pub rules: Vec<String>,
}

impl GateVerdict {
    pub fn allow(gate: Gate) -> GateVerdict {
        GateVerdict { gate, verdict: Verdict::Allow, enforcement: Enforcement::Advisory, reasons: vec![], remediation: vec![], rules: vec![] }
    }

    /// Folds findings (all of this gate) into one verdict: reasons worst first, reasons and
    /// remediation tips each listed once.
    pub fn from_findings<'a>(gate: Gate, findings: impl IntoIterator<Item = &'a Finding>) -> GateVerdict {
        let mut v = GateVerdict::allow(gate);
        let mut found: Vec<&Finding> = findings.into_iter().collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.verdict));
        for f in found {
            if f.verdict > v.verdict {
                v.verdict = f.verdict;
                v.enforcement = f.enforcement;
            } else if f.verdict == v.verdict && f.enforcement > v.enforcement {
                v.enforcement = f.enforcement;
            }
            if !v.reasons.contains(&f.reason) {
                v.reasons.push(f.reason.clone());
            }
            if !f.remediation.is_empty() && !v.remediation.contains(&f.remediation) {
                v.remediation.push(f.remediation.clone());
            }
            if !v.rules.contains(&f.rule) {
                v.rules.push(f.rule.clone());
            }
        }
        v
    }
}

/// How many steps ended at each worst verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerdictCounts {
    pub allow: i64,
    pub warn: i64,
    pub block: i64,
}

impl VerdictCounts {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Allow => self.allow += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Block => self.block += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(verdict: Verdict, enforcement: Enforcement, remediation: &str) -> Finding {
        Finding { gate: Gate::Risk, step_id: None, verdict, enforcement, rule: "r".into(), reason: format!("{verdict:?}"), remediation: remediation.into() }
    }

    #[test]
    fn worst_verdict_and_strictest_enforcement_win() {
        let fs = [
            finding(Verdict::Warn, Enforcement::HardMandatory, "a"),
            finding(Verdict::Block, Enforcement::SoftMandatory, "b"),
            finding(Verdict::Block, Enforcement::HardMandatory, "a"),
        ];
        let v = GateVerdict::from_findings(Gate::Risk, &fs);
        assert_eq!((v.verdict, v.enforcement), (Verdict::Block, Enforcement::HardMandatory));
        assert_eq!(v.reasons, vec!["Block", "Warn"], "worst first, each once");
        assert_eq!(v.remediation, vec!["b", "a"]);
        assert_eq!(GateVerdict::from_findings(Gate::Risk, &[]).verdict, Verdict::Allow);
    }

    #[test]
    fn advisory_caps_at_warn() {
        assert_eq!(Enforcement::Advisory.cap(Verdict::Block), Verdict::Warn);
        assert_eq!(Enforcement::SoftMandatory.cap(Verdict::Block), Verdict::Block);
        assert_eq!(Enforcement::parse("hard-mandatory"), Some(Enforcement::HardMandatory));
        assert_eq!(serde_json::to_string(&Enforcement::SoftMandatory).unwrap(), "\"soft-mandatory\"");
    }
}
