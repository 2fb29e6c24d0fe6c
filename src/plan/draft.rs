//! A plan before the gates judge it, and the backlog it was made from: what the planner hands to
//! the gates. Both import it from here, so neither imports the other's internals.

use rustc_hash::FxHashMap;

use super::model::*;
pub use super::rows::Rows;
use crate::backlog::model::{BacklogItem, Tool};

/// Estimates for steps whose tool has no recorded runs (from the policy file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateDefaults {
    pub step_minutes: i64,
    pub step_cost_usd: f64,
}

impl Default for EstimateDefaults {
    fn default() -> Self {
        EstimateDefaults { step_minutes: 15, step_cost_usd: 0.10 }
    }
}

/// Backlog items by id. Fx hashing: the keys come from our own store, and the planner and the
/// gates look items up several times per step.
pub type Catalog = FxHashMap<i64, BacklogItem>;
/// Registered tools by id.
pub type ToolRegistry = FxHashMap<String, Tool>;
/// Recorded-run summaries by tool id.
pub type StatsByTool = FxHashMap<String, ToolStats>;
pub use crate::backlog::model::ToolStats;

/// Structural facts the planner ran into; the structural gate turns them into findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanIssue {
    /// These items depend on each other in a circle (one strongly connected component).
    Cycle { item_ids: Vec<i64> },
    /// `item_id` depends on unfinished items outside the request.
    MissingDependency { item_id: i64, missing: Vec<i64> },
    /// `item_id` depends on items that no longer exist.
    UnknownDependency { item_id: i64, missing: Vec<i64> },
    /// `item_id` uses a tool that is not registered.
    UnknownTool { item_id: i64, tool: String },
    /// `item_id` names no tools: it becomes one manual step.
    NoTools { item_id: i64 },
}

/// A plan before the gates: steps without verdicts, and the issues found while planning.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub planner: String,
    pub items: Vec<PlanItem>,
    pub groups: Vec<PackGroup>,
    pub steps: Vec<PlanStep>,
    pub waves: Vec<Vec<String>>,
    pub critical_path: Vec<String>,
    pub estimate: PlanEstimate,
    pub issues: Vec<PlanIssue>,
}

/// Tool id of the step made for an item without tools.
pub const MANUAL_TOOL: &str = "manual";
