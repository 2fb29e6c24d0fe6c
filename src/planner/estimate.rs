//! A step's expected duration and cost: the tool's recorded runs when there are any (the same
//! statistics the tools page shows), else the item's own estimate or the policy's default.

use super::provider::PlannerInput;
use crate::backlog::model::BacklogItem;
use crate::plan::model::{EstimateSource, StepEstimate};

pub(super) fn estimate_for(input: &PlannerInput<'_>, item: &BacklogItem, tool: &str, steps_of_item: usize) -> StepEstimate {
    if let Some(s) = input.stats.get(tool) {
        return StepEstimate {
            duration_p50_ms: s.duration_p50_ms,
            duration_p95_ms: s.duration_p95_ms,
            cost_p50_usd: s.cost_p50_usd,
            cost_p95_usd: s.cost_p95_usd,
            source: EstimateSource::Metrics,
            runs: s.runs,
        };
    }
    let cost = input.defaults.step_cost_usd;
    let (ms, source) = if item.estimate_minutes > 0 {
        (item.estimate_minutes * 60_000 / steps_of_item.max(1) as i64, EstimateSource::ItemEstimate)
    } else {
        (input.defaults.step_minutes * 60_000, EstimateSource::PolicyDefault)
    };
    // Without recorded runs the spread is unknown: p95 assumes half as long again.
    StepEstimate { duration_p50_ms: ms, duration_p95_ms: ms * 3 / 2, cost_p50_usd: cost, cost_p95_usd: cost * 1.5, source, runs: 0 }
}
