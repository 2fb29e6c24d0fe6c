//! What the backlog pages show, assembled by the service in one query per list.

use serde::{Deserialize, Serialize};

use super::{BacklogItem, Pack, Tool};

/// Everything the backlog page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogView {
    pub items: Vec<BacklogItem>,
    pub total: i64,
    pub packs: Vec<Pack>,
    pub labels: Vec<String>,
    pub sensitive_tools: Vec<String>,
}

/// An item with its dependencies and dependents, and the registry, for the detail page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemView {
    pub detail: ItemDetailView,
    pub tools: Vec<Tool>,
}

/// What the create/edit form needs: the item (when editing), packs, candidate dependencies, tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemFormData {
    pub item: Option<BacklogItem>,
    pub packs: Vec<Pack>,
    pub candidates: Vec<BacklogItem>,
    pub tools: Vec<Tool>,
}

/// A registry row with what its recent runs say (over [`METRIC_WINDOW`]), and how many items use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSummary {
    pub tool: Tool,
    pub p50_duration_ms: Option<i64>,
    pub p50_cost_usd: Option<f64>,
    pub used_by: i64,
}

/// An item with what it depends on and what depends on it (the detail page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDetailView {
    pub item: BacklogItem,
    pub dependencies: Vec<BacklogItem>,
    pub dependents: Vec<BacklogItem>,
}
