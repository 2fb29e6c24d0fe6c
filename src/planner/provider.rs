//! The planner interface: what every planner reads, and the seam several planners plug into.

use crate::plan::draft::{Catalog, Draft, EstimateDefaults, StatsByTool, ToolRegistry};
use crate::plan::model::PlanRequest;

/// Everything a planner needs; the service loads it, the planner only reads it.
pub struct PlannerInput<'a> {
    pub request: &'a PlanRequest,
    /// The requested items (resolved from `item_ids` or the pack), in request order.
    pub selected: &'a [i64],
    /// Backlog items by id: at least the selection and everything it depends on, transitively.
    pub catalog: &'a Catalog,
    pub tools: &'a ToolRegistry,
    pub stats: &'a StatsByTool,
    pub defaults: EstimateDefaults,
}

/// The seam planners plug into (the built-in one is `build::GraphPlanner`): each returns a
/// draft that the same gates then judge.
pub trait PlannerProvider: Send + Sync {
    /// `provider/model`, stored with the plan and with every evaluation.
    fn id(&self) -> &str;
    fn plan(&self, input: &PlannerInput<'_>) -> Draft;
}
