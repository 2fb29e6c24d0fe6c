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

/// One provider's record over the stored comparisons (the planner metrics page and `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub provider: String,
    /// Its newest planner id.
    pub planner: String,
    /// Comparisons it was asked in.
    pub asked: i64,
    pub valid: i64,
    pub invalid: i64,
    pub failed: i64,
    pub timed_out: i64,
    /// Comparisons where it scored best.
    pub wins: i64,
    /// Comparisons whose kept plan was its candidate.
    pub chosen: i64,
    /// `valid / asked`, 0–1.
    pub validity_rate: f64,
    /// `wins / asked`, 0–1.
    pub win_rate: f64,
    /// Mean score of its valid candidates.
    pub avg_score: Option<f64>,
    /// Latency percentiles (nearest rank) over every answer, timeouts included.
    pub latency_p50_ms: i64,
    pub latency_p95_ms: i64,
    /// Mean estimated makespan and plan cost of its valid candidates.
    pub avg_makespan_ms: Option<i64>,
    pub avg_plan_cost_usd: Option<f64>,
    /// What its calls cost in tokens, all together.
    pub token_cost_usd: f64,
}

/// Nearest-rank percentile of sorted values (`p` in 0–100); 0 when empty.
pub fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p as usize * sorted.len()).div_ceil(100)).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Per provider (in order of first appearance), its record over `history`.
pub fn provider_stats(history: &[CandidateHistory]) -> Vec<ProviderStats> {
    let mut order: Vec<&str> = vec![];
    let mut groups: std::collections::HashMap<&str, Vec<&CandidateHistory>> = Default::default();
    for h in history {
        let g = groups.entry(h.provider.as_str()).or_default();
        if g.is_empty() {
            order.push(h.provider.as_str());
        }
        g.push(h);
    }
    order
        .into_iter()
        .map(|name| {
            let rows = &groups[name];
            let count = |s: CandidateStatus| rows.iter().filter(|r| r.status == s).count() as i64;
            let asked = rows.len() as i64;
            let valid: Vec<&&CandidateHistory> = rows.iter().filter(|r| r.status == CandidateStatus::Valid).collect();
            let mean = |f: &dyn Fn(&CandidateHistory) -> Option<f64>| {
                let v: Vec<f64> = valid.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let mut latencies: Vec<i64> = rows.iter().map(|r| r.latency_ms).collect();
            latencies.sort_unstable();
            let wins = rows.iter().filter(|r| r.best).count() as i64;
            ProviderStats {
                provider: name.to_string(),
                planner: rows.last().map(|r| r.planner.clone()).unwrap_or_default(),
                asked,
                valid: valid.len() as i64,
                invalid: count(CandidateStatus::Invalid),
                failed: count(CandidateStatus::Failed),
                timed_out: count(CandidateStatus::TimedOut),
                wins,
                chosen: rows.iter().filter(|r| r.chosen).count() as i64,
                validity_rate: if asked > 0 { valid.len() as f64 / asked as f64 } else { 0.0 },
                win_rate: if asked > 0 { wins as f64 / asked as f64 } else { 0.0 },
                avg_score: mean(&|r| r.score).map(|s| (s * 10.0).round() / 10.0),
                latency_p50_ms: percentile(&latencies, 50),
                latency_p95_ms: percentile(&latencies, 95),
                avg_makespan_ms: mean(&|r| r.figures.as_ref().map(|f| f.makespan_ms as f64)).map(|m| m.round() as i64),
                avg_plan_cost_usd: mean(&|r| r.figures.as_ref().map(|f| f.plan_cost_usd)),
                token_cost_usd: rows.iter().filter_map(|r| r.figures.as_ref()).map(|f| f.token_cost_usd).sum(),
            }
        })
        .collect()
}

/// Each UTC day's record per provider (for the trend charts), days ascending: the same figures
/// as [`provider_stats`], over that day's comparisons.
pub fn daily_stats(history: &[CandidateHistory]) -> Vec<DayStats> {
    const DAY: i64 = 86_400_000;
    let mut days: std::collections::BTreeMap<i64, Vec<CandidateHistory>> = Default::default();
    for h in history {
        days.entry(h.created_at.div_euclid(DAY) * DAY).or_default().push(h.clone());
    }
    days.into_iter().map(|(day, rows)| DayStats { day, providers: provider_stats(&rows) }).collect()
}

/// One UTC day of the providers' records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayStats {
    /// The day's start, epoch ms (UTC).
    pub day: i64,
    pub providers: Vec<ProviderStats>,
}

/// A figure of the providers' records that the metrics page follows over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendFigure {
    #[default]
    Score,
    WinRate,
    Validity,
    LatencyP95,
    TokenCost,
}

impl TrendFigure {
    pub const ALL: [TrendFigure; 5] =
        [TrendFigure::Score, TrendFigure::WinRate, TrendFigure::Validity, TrendFigure::LatencyP95, TrendFigure::TokenCost];

    pub fn as_str(self) -> &'static str {
        match self {
            TrendFigure::Score => "score",
            TrendFigure::WinRate => "win_rate",
            TrendFigure::Validity => "validity",
            TrendFigure::LatencyP95 => "latency_p95",
            TrendFigure::TokenCost => "token_cost",
        }
    }

    pub fn parse(s: &str) -> Option<TrendFigure> {
        TrendFigure::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What the chart and its link are called.
    pub fn label(self) -> &'static str {
        match self {
            TrendFigure::Score => "Mean score",
            TrendFigure::WinRate => "Win rate",
            TrendFigure::Validity => "Valid proposals",
            TrendFigure::LatencyP95 => "Latency p95",
            TrendFigure::TokenCost => "Token cost per call",
        }
    }

    /// The figure in one provider's record; `None` when the record has none (no valid
    /// candidate, so no score).
    pub fn of(self, s: &ProviderStats) -> Option<f64> {
        match self {
            TrendFigure::Score => s.avg_score,
            TrendFigure::WinRate => Some(s.win_rate),
            TrendFigure::Validity => Some(s.validity_rate),
            TrendFigure::LatencyP95 => Some(s.latency_p95_ms as f64),
            TrendFigure::TokenCost => (s.asked > 0).then(|| s.token_cost_usd / s.asked as f64),
        }
    }

    /// The top of the chart's scale: fixed for scores and rates, else the largest value (at
    /// least a tiny positive number, so an all-zero series sits on the axis).
    pub fn scale_max(self, values: impl Iterator<Item = f64>) -> f64 {
        match self {
            TrendFigure::Score => 100.0,
            TrendFigure::WinRate | TrendFigure::Validity => 1.0,
            TrendFigure::LatencyP95 | TrendFigure::TokenCost => values.fold(f64::MIN_POSITIVE, f64::max),
        }
    }
}

/// The planner metrics: per provider, and the same per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannerMetrics {
    /// Comparisons in the window.
    pub comparisons: i64,
    pub providers: Vec<ProviderStats>,
    pub daily: Vec<DayStats>,
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

    fn hist(provider: &str, status: CandidateStatus, latency_ms: i64, score: Option<f64>, best: bool, day: i64) -> CandidateHistory {
        CandidateHistory {
            comparison_id: 1,
            provider: provider.into(),
            planner: format!("nofx/{provider}"),
            status,
            latency_ms,
            score,
            figures: score.map(|_| CandidateFigures { makespan_ms: 60_000, plan_cost_usd: 2.0, token_cost_usd: 0.5, ..Default::default() }),
            best,
            chosen: best && day == 0,
            created_at: day * 86_400_000 + 5,
        }
    }

    #[test]
    fn provider_records_add_up() {
        use CandidateStatus::*;
        let h = vec![
            hist("waves", Valid, 2, Some(90.0), true, 0),
            hist("llm", Valid, 900, Some(70.0), false, 0),
            hist("waves", Valid, 4, Some(80.0), false, 1),
            hist("llm", TimedOut, 5_000, None, false, 1),
            hist("llm", Invalid, 1_200, None, false, 2),
            hist("waves", Valid, 3, Some(85.0), true, 2),
        ];
        let s = provider_stats(&h);
        assert_eq!(s.iter().map(|p| p.provider.as_str()).collect::<Vec<_>>(), ["waves", "llm"]);
        let (w, l) = (&s[0], &s[1]);
        assert_eq!((w.asked, w.valid, w.wins, w.chosen), (3, 3, 2, 1));
        assert_eq!((w.validity_rate, w.avg_score, w.latency_p50_ms, w.latency_p95_ms), (1.0, Some(85.0), 3, 4));
        assert_eq!((l.asked, l.valid, l.invalid, l.timed_out, l.wins), (3, 1, 1, 1, 0));
        assert!((l.validity_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((l.latency_p50_ms, l.latency_p95_ms, l.avg_score), (1_200, 5_000, Some(70.0)));
        assert_eq!((w.token_cost_usd, w.avg_makespan_ms, w.avg_plan_cost_usd), (1.5, Some(60_000), Some(2.0)));
        // Per day (one comparison a day here), the same figures.
        let days = daily_stats(&h);
        assert_eq!(days.iter().map(|d| d.day).collect::<Vec<_>>(), [0, 86_400_000, 172_800_000]);
        let waves_day0 = &days[0].providers[0];
        assert_eq!((waves_day0.provider.as_str(), waves_day0.asked, waves_day0.avg_score, waves_day0.wins), ("waves", 1, Some(90.0), 1));
        assert_eq!(days[2].providers.iter().map(|p| (p.provider.as_str(), p.asked)).collect::<Vec<_>>(), [("llm", 1), ("waves", 1)]);
        assert_eq!(TrendFigure::Score.of(&days[2].providers[0]), None, "llm had no valid candidate that day");
        assert_eq!(TrendFigure::Validity.of(&days[2].providers[0]), Some(0.0));
        assert_eq!(TrendFigure::WinRate.of(&days[2].providers[1]), Some(1.0));
        assert_eq!(TrendFigure::TokenCost.of(w), Some(0.5), "1.5 over 3 calls");
        assert_eq!(TrendFigure::LatencyP95.scale_max([0.0, 40.0, 12.0].into_iter()), 40.0);
        assert_eq!(TrendFigure::WinRate.scale_max([7.0].into_iter()), 1.0);
        assert!(TrendFigure::TokenCost.scale_max([0.0].into_iter()) > 0.0);
        for f in TrendFigure::ALL {
            assert_eq!(TrendFigure::parse(f.as_str()), Some(f));
        }
        assert_eq!(percentile(&[], 95), 0);
        assert_eq!(percentile(&(1..=20).collect::<Vec<_>>(), 95), 19);
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
