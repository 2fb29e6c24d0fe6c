//! Gate verdicts: what each evaluator says about a plan and its steps. Shared by the server and
//! the browser (the plan page colours steps by these).

use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;

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

/// Gate text: fixed sentences are borrowed (free to copy), the rest written per plan or step.
pub type Text = Cow<'static, str>;

/// A verdict's texts: most step verdicts have one reason, one tip and one rule, kept inline.
pub type Texts = SmallVec<[Text; 1]>;

/// One thing one gate found: about one step (`step`) or the plan as a whole (`None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Finding {
    pub gate: Gate,
    /// The step it is about, by position in the draft's steps (the gates run before the plan is
    /// stored); `None` for the plan as a whole. Only plan-level findings reach clients.
    #[serde(skip)]
    #[cfg_attr(feature = "ssr", schema(ignore))]
    pub step: Option<usize>,
    pub verdict: Verdict,
    pub enforcement: Enforcement,
    /// The policy rule that fired, e.g. `risk.threshold` or `compliance.pii-needs-review`.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub rule: Text,
    /// What was found, as a sentence.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub reason: Text,
    /// What to change to get past it, as a sentence.
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub remediation: Text,
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
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<String>))]
    pub reasons: Texts,
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<String>))]
    pub remediation: Texts,
    /// The rules that fired.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<String>))]
    pub rules: Texts,
}

impl GateVerdict {
    pub fn allow(gate: Gate) -> GateVerdict {
        GateVerdict {
            gate,
            verdict: Verdict::Allow,
            enforcement: Enforcement::Advisory,
            reasons: Texts::new(),
            remediation: Texts::new(),
            rules: Texts::new(),
        }
    }

    /// Takes in one finding's verdict and enforcement (call for all of them before the texts).
    pub fn weigh(&mut self, verdict: Verdict, enforcement: Enforcement) {
        if verdict > self.verdict {
            self.verdict = verdict;
            self.enforcement = enforcement;
        } else if verdict == self.verdict && enforcement > self.enforcement {
            self.enforcement = enforcement;
        }
    }

    /// Folds findings (all of this gate) into one verdict: reasons worst first, reasons and
    /// remediation tips each listed once. For many findings (a plan's verdicts): each text is
    /// checked against a set and copied once.
    pub fn from_findings<'a, I>(gate: Gate, findings: I) -> GateVerdict
    where
        I: IntoIterator<Item = &'a Finding>,
        I::IntoIter: Clone,
    {
        let findings = findings.into_iter();
        let mut v = GateVerdict::allow(gate);
        for f in findings.clone() {
            v.weigh(f.verdict, f.enforcement);
        }
        let (mut reasons, mut tips) = (FxHashSet::default(), FxHashSet::default());
        for level in [Verdict::Block, Verdict::Warn, Verdict::Allow] {
            if level > v.verdict {
                continue;
            }
            for f in findings.clone().filter(|f| f.verdict == level) {
                if reasons.insert(&*f.reason) {
                    v.reasons.push(f.reason.clone());
                }
                if !f.remediation.is_empty() && tips.insert(&*f.remediation) {
                    v.remediation.push(f.remediation.clone());
                }
                // Rules are few: a scan beats hashing.
                if !v.rules.contains(&f.rule) {
                    v.rules.push(f.rule.clone());
                }
            }
        }
        v
    }

    /// Adds one finding's texts, taking them (the caller feeds findings worst first, after
    /// [`weigh`](Self::weigh)ing them all). For a step's few findings: a linear check is cheapest.
    pub fn take_texts(&mut self, f: &mut Finding) {
        if !self.reasons.contains(&f.reason) {
            self.reasons.push(std::mem::take(&mut f.reason));
        }
        if !f.remediation.is_empty() && !self.remediation.contains(&f.remediation) {
            self.remediation.push(std::mem::take(&mut f.remediation));
        }
        if !self.rules.contains(&f.rule) {
            self.rules.push(std::mem::take(&mut f.rule));
        }
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
        Finding {
            gate: Gate::Risk,
            step: None,
            verdict,
            enforcement,
            rule: "r".into(),
            reason: format!("{verdict:?}").into(),
            remediation: remediation.to_string().into(),
        }
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
        assert_eq!(v.reasons.as_slice(), ["Block", "Warn"], "worst first, each once");
        assert_eq!(v.remediation.as_slice(), ["b", "a"]);
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

/// `value` with a fixed number of decimals, like `{:.1}` / `{:.2}` but by integer arithmetic
/// (halves round away from zero):
/// the gates write one such number or more per step, and float formatting dominated their time.
#[derive(Debug, Clone, Copy)]
pub struct Fixed<const DECIMALS: u32>(pub f64);

impl<const DECIMALS: u32> std::fmt::Display for Fixed<DECIMALS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scale = 10i64.pow(DECIMALS);
        if !self.0.is_finite() || self.0.abs() >= 1e15 {
            return write!(f, "{:.*}", DECIMALS as usize, self.0);
        }
        let units = (self.0 * scale as f64).round() as i64;
        let sign = if units < 0 { "-" } else { "" };
        let units = units.unsigned_abs();
        write!(f, "{sign}{}.{:0width$}", units / scale as u64, units % scale as u64, width = DECIMALS as usize)
    }
}

#[cfg(test)]
mod fixed_tests {
    use super::Fixed;

    #[test]
    fn fixed_matches_float_formatting() {
        for x in [0.0, 1.0, 2.5, 3.25, 10.049, 0.126, 123.456, -1.25, -0.5, 1e9 + 0.5] {
            assert_eq!(Fixed::<2>(x).to_string().parse::<f64>().unwrap(), format!("{x:.2}").parse::<f64>().unwrap(), "{x}");
        }
        assert_eq!(Fixed::<1>(11.0).to_string(), "11.0");
        assert_eq!(Fixed::<1>(0.45).to_string(), "0.5");
        assert_eq!(Fixed::<2>(1.5).to_string(), "1.50");
        assert_eq!(Fixed::<2>(-0.07).to_string(), "-0.07");
        assert_eq!(Fixed::<2>(f64::NAN).to_string(), "NaN");
        // Halves round away from zero on the decimal value people read (0.015 → 0.02), where
        // `{:.2}` rounds the binary value just below it (0.01).
        assert_eq!(Fixed::<2>(0.015).to_string(), "0.02");
    }
}
