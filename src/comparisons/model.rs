//! Comparing planners: each provider's candidate for the same request, its figures, and the
//! score that ranks them. Pure: the service asks the providers, builds and gates the candidates,
//! and stores what this module computes.

use serde::{Deserialize, Serialize};

use crate::plan::verdict::VerdictCounts;

/// How a provider's candidate came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum CandidateStatus {
    /// A plan was built from its proposal and gated; it may be chosen (even when blocked: the
    /// plan is then blocked, as any other).
    Valid,
    /// It answered, but its proposal contradicts the backlog (an unknown or missing item, an item
    /// before its dependency). Never executable.
    Invalid,
    /// It gave no usable answer: unreachable, an error status, malformed output, no API key.
    Failed,
    /// No answer within its timeout.
    TimedOut,
}

impl CandidateStatus {
    pub const ALL: [CandidateStatus; 4] =
        [CandidateStatus::Valid, CandidateStatus::Invalid, CandidateStatus::Failed, CandidateStatus::TimedOut];

    pub fn as_str(self) -> &'static str {
        match self {
            CandidateStatus::Valid => "valid",
            CandidateStatus::Invalid => "invalid",
            CandidateStatus::Failed => "failed",
            CandidateStatus::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> Option<CandidateStatus> {
        CandidateStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            CandidateStatus::Valid => "valid",
            CandidateStatus::Invalid => "invalid proposal",
            CandidateStatus::Failed => "failed",
            CandidateStatus::TimedOut => "timed out",
        }
    }
}

/// A valid candidate's figures, from its gated plan and the provider's call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CandidateFigures {
    pub steps: i64,
    pub waves: i64,
    /// Estimated time from start to end (p50, along the critical path).
    pub makespan_ms: i64,
    /// Estimated cost of running the plan (p50).
    pub plan_cost_usd: f64,
    /// What the provider's call cost (tokens × the configured prices).
    pub token_cost_usd: f64,
    /// Average steps running at once: all work over the makespan.
    pub parallelism: f64,
    /// Reviewer approvals the plan's steps will wait for, all steps together.
    pub approvals_needed: i64,
    /// Verdicts of the plan and its steps, all gates.
    pub verdict_counts: VerdictCounts,
    /// A gate blocks the plan.
    pub blocked: bool,
}

impl CandidateFigures {
    /// Plan cost plus the provider's token cost.
    pub fn total_cost_usd(&self) -> f64 {
        self.plan_cost_usd + self.token_cost_usd
    }
}

/// How much each figure counts in the score (`[comparison.weights]` in the policy file). Only
/// their ratios matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ScoreWeights {
    /// The gates' verdicts: 1 with no warning or block, 0 when a gate blocks.
    pub verdicts: f64,
    /// Shorter makespan.
    pub makespan: f64,
    /// Lower plan + token cost.
    pub cost: f64,
    /// More steps at once.
    pub parallelism: f64,
    /// Fewer reviewer approvals to wait for.
    pub approvals: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights { verdicts: 40.0, makespan: 25.0, cost: 15.0, parallelism: 10.0, approvals: 10.0 }
    }
}

impl ScoreWeights {
    pub fn total(&self) -> f64 {
        self.verdicts + self.makespan + self.cost + self.parallelism + self.approvals
    }
}

/// The score's parts for one candidate, each between 0 and 1 (1 is best).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ScoreParts {
    pub verdicts: f64,
    pub makespan: f64,
    pub cost: f64,
    pub parallelism: f64,
    pub approvals: f64,
}

/// `best / value` for figures where lower is better (1 for the best, smaller for the rest); 1
/// when both are zero.
fn lower_is_better(best: f64, value: f64) -> f64 {
    if value <= 0.0 {
        1.0
    } else {
        (best / value).clamp(0.0, 1.0)
    }
}

/// Scores the valid candidates (`None` for the rest) from 0 to 100, deterministically:
///
/// - verdicts: 0 when a gate blocks, else 1 − ½ × (warnings ÷ verdicts);
/// - makespan, cost (plan + tokens) and approvals: the best candidate's figure ÷ this one's (for
///   approvals, each plus one, so a plan needing none scores 1);
/// - parallelism: this one's ÷ the best candidate's;
///
/// then the weighted mean × 100, rounded to one decimal. Relative parts compare the candidates of
/// one comparison with each other.
pub fn score(figures: &[Option<&CandidateFigures>], w: &ScoreWeights) -> Vec<Option<(f64, ScoreParts)>> {
    let valid: Vec<&CandidateFigures> = figures.iter().flatten().copied().collect();
    let min = |f: &dyn Fn(&CandidateFigures) -> f64| valid.iter().map(|c| f(c)).fold(f64::INFINITY, f64::min);
    let best_makespan = min(&|c| c.makespan_ms as f64);
    let best_cost = min(&|c| c.total_cost_usd());
    let best_approvals = min(&|c| c.approvals_needed as f64);
    let best_parallelism = valid.iter().map(|c| c.parallelism).fold(0.0, f64::max);
    let total = w.total();
    figures
        .iter()
        .map(|f| {
            let c = (*f)?;
            let counted = (c.verdict_counts.allow + c.verdict_counts.warn + c.verdict_counts.block).max(1) as f64;
            let parts = ScoreParts {
                verdicts: if c.blocked { 0.0 } else { 1.0 - 0.5 * c.verdict_counts.warn as f64 / counted },
                makespan: lower_is_better(best_makespan, c.makespan_ms as f64),
                cost: lower_is_better(best_cost, c.total_cost_usd()),
                parallelism: if best_parallelism > 0.0 { (c.parallelism / best_parallelism).clamp(0.0, 1.0) } else { 1.0 },
                approvals: lower_is_better(best_approvals + 1.0, c.approvals_needed as f64 + 1.0),
            };
            let sum = w.verdicts * parts.verdicts
                + w.makespan * parts.makespan
                + w.cost * parts.cost
                + w.parallelism * parts.parallelism
                + w.approvals * parts.approvals;
            let s = if total > 0.0 { 100.0 * sum / total } else { 0.0 };
            Some(((s * 10.0).round() / 10.0, parts))
        })
        .collect()
}

/// The best-scoring candidate; ties go to the one listed first (the providers file's order).
pub fn best(scores: &[Option<f64>]) -> Option<usize> {
    let mut out: Option<(usize, f64)> = None;
    for (i, s) in scores.iter().enumerate() {
        if let Some(s) = *s {
            if out.is_none_or(|(_, b)| s > b) {
                out = Some((i, s));
            }
        }
    }
    out.map(|(i, _)| i)
}

/// `POST /api/auto-planner/compare`: what to plan (as for one plan) and, optionally, which of the
/// configured providers to ask (all of them when left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CompareRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub include_dependencies: bool,
    /// Provider names from the providers file; every configured provider when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<String>>,
}

impl CompareRequest {
    pub fn plan_request(&self) -> crate::plan::model::PlanRequest {
        crate::plan::model::PlanRequest {
            item_ids: self.item_ids.clone(),
            pack_id: self.pack_id,
            budget_usd: self.budget_usd,
            include_dependencies: self.include_dependencies,
        }
    }
}

/// Why a candidate is not valid: a kind to match on and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CandidateError {
    /// `timeout`, `unreachable`, `status`, `malformed`, `missing_key`, `too_large`, or for an
    /// invalid proposal `empty`, `empty_wave`, `unknown_item`, `duplicate`, `missing`,
    /// `before_dependency`.
    pub kind: String,
    pub message: String,
}

/// One provider's candidate, as the API shows it (its plan is one request away).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Candidate {
    /// Its place in the comparison (the providers file's order).
    pub index: usize,
    /// The provider's name in the providers file.
    pub provider: String,
    /// `provider/model`, as stored with its plan and evaluations.
    pub planner: String,
    pub status: CandidateStatus,
    pub error: Option<CandidateError>,
    /// The provider's reason for its order.
    pub rationale: String,
    /// How long the provider took to answer.
    pub latency_ms: i64,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// 0–100, valid candidates only.
    pub score: Option<f64>,
    pub figures: Option<CandidateFigures>,
    pub parts: Option<ScoreParts>,
    /// A plan was built and gated (`GET …/candidates/{index}` has it).
    pub has_plan: bool,
}

/// A stored comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Comparison {
    pub id: i64,
    pub request: CompareRequest,
    pub item_count: i64,
    /// The best-scoring candidate.
    pub best: Option<usize>,
    /// The candidate kept as the plan, by whom and when.
    pub chosen: Option<usize>,
    pub plan_id: Option<i64>,
    pub chosen_by: Option<String>,
    pub chosen_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub candidates: Vec<Candidate>,
}

/// One gate verdict of a candidate's plan or of one of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CandidateEvaluation {
    pub candidate: usize,
    /// `None` for the plan-level verdict of a gate.
    pub step_id: Option<String>,
    pub gate: crate::plan::verdict::Gate,
    pub verdict: crate::plan::verdict::Verdict,
    pub enforcement: crate::plan::verdict::Enforcement,
    pub rules: Vec<String>,
    pub reasons: Vec<String>,
    pub remediation: Vec<String>,
    /// The model part of the candidate's planner id (`critical-path`, `llama3.1`).
    pub planner: String,
    /// The part before the `/` (`nofx`, or the provider's name).
    pub provider: String,
    pub created_at: i64,
}

/// One stored candidate, for planner metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateHistory {
    pub comparison_id: i64,
    pub provider: String,
    pub planner: String,
    pub status: CandidateStatus,
    pub latency_ms: i64,
    pub score: Option<f64>,
    pub figures: Option<CandidateFigures>,
    /// It had the comparison's best score.
    pub best: bool,
    /// It was kept as the plan.
    pub chosen: bool,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(makespan_ms: i64, cost: f64, parallelism: f64, approvals: i64, warn: i64, blocked: bool) -> CandidateFigures {
        CandidateFigures {
            steps: 10,
            waves: 4,
            makespan_ms,
            plan_cost_usd: cost,
            token_cost_usd: 0.0,
            parallelism,
            approvals_needed: approvals,
            verdict_counts: VerdictCounts { allow: 10 - warn, warn, block: blocked as i64 },
            blocked,
        }
    }

    #[test]
    fn the_score_follows_its_documented_formula() {
        let w = ScoreWeights::default();
        let a = fig(1_000, 2.0, 4.0, 0, 0, false);
        let b = fig(2_000, 2.0, 2.0, 3, 5, false);
        let s = score(&[Some(&a), Some(&b), None], &w);
        assert_eq!(s[0].unwrap().0, 100.0, "best at everything, no warnings");
        let (sb, parts) = s[1].unwrap();
        // warnings 5 of 10 → 0.75; makespan ½; cost 1; parallelism ½; approvals 1/4.
        assert_eq!(parts, ScoreParts { verdicts: 0.75, makespan: 0.5, cost: 1.0, parallelism: 0.5, approvals: 0.25 });
        assert_eq!(sb, ((40.0 * 0.75 + 25.0 * 0.5 + 15.0 + 10.0 * 0.5 + 10.0 * 0.25) * 10.0_f64).round() / 10.0);
        assert_eq!(s[2], None, "invalid candidates are not scored");
        assert_eq!(best(&[Some(10.0), None, Some(12.5), Some(12.5)]), Some(2), "ties: the first listed");
        assert_eq!(best(&[None, None]), None);
    }

    #[test]
    fn a_blocked_plan_loses_its_verdict_share_and_token_cost_counts() {
        let w = ScoreWeights { verdicts: 1.0, makespan: 0.0, cost: 1.0, parallelism: 0.0, approvals: 0.0 };
        let blocked = fig(1_000, 1.0, 1.0, 0, 0, true);
        let mut model = fig(1_000, 1.0, 1.0, 0, 0, false);
        model.token_cost_usd = 1.0;
        let s = score(&[Some(&blocked), Some(&model)], &w);
        assert_eq!(s[0].unwrap().1.verdicts, 0.0);
        assert_eq!(s[1].unwrap().1.cost, 0.5, "the model's tokens doubled its cost");
        assert_eq!((s[0].unwrap().0, s[1].unwrap().0), (50.0, 75.0));
        // Zero everywhere does not divide by zero.
        let zero = fig(0, 0.0, 0.0, 0, 0, false);
        assert_eq!(score(&[Some(&zero)], &ScoreWeights::default())[0].unwrap().0, 100.0);
    }
}
