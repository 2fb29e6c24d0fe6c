//! Tool statistics from recorded runs: the one function the tools page and the planner share.

use serde::{Deserialize, Serialize};

/// How many recent runs per tool the statistics cover (the planner's estimates and the tools
/// page use the same window).
pub const METRIC_WINDOW: i64 = 200;

/// Recorded runs of one tool, summarised (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ToolStats {
    pub runs: i64,
    pub duration_p50_ms: i64,
    pub duration_p95_ms: i64,
    pub cost_p50_usd: f64,
    pub cost_p95_usd: f64,
}

impl ToolStats {
    /// From `(duration_ms, cost_usd)` runs; `None` when there are none.
    pub fn from_runs(runs: &[(i64, f64)]) -> Option<ToolStats> {
        if runs.is_empty() {
            return None;
        }
        let mut d: Vec<i64> = runs.iter().map(|r| r.0).collect();
        let mut c: Vec<f64> = runs.iter().map(|r| r.1).collect();
        d.sort_unstable();
        c.sort_by(f64::total_cmp);
        Some(ToolStats {
            runs: runs.len() as i64,
            duration_p50_ms: d[rank(d.len(), 0.50)],
            duration_p95_ms: d[rank(d.len(), 0.95)],
            cost_p50_usd: c[rank(c.len(), 0.50)],
            cost_p95_usd: c[rank(c.len(), 0.95)],
        })
    }
}

/// Nearest-rank percentile index: the smallest value with at least `p` of the values at or below it.
fn rank(n: usize, p: f64) -> usize {
    ((p * n as f64).ceil() as usize).clamp(1, n) - 1
}
