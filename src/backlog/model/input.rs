//! What clients send: request bodies for packs, items, tools and metrics, and the list filters.

use serde::{Deserialize, Serialize};

use super::{ItemStatus, Risk};

/// Body of `POST /api/packs` and `PATCH /api/packs/{id}` (all fields optional on PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PackInput {
    /// URL-safe short name; derived from `name` when omitted on create.
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Body of `POST /api/items` (required: `pack_id`, `title`) and `PATCH /api/items/{id}` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ItemInput {
    pub pack_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub depends_on: Option<Vec<i64>>,
    pub tools: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub risk: Option<Risk>,
    pub estimate_minutes: Option<i64>,
    pub status: Option<ItemStatus>,
}

/// Body of `POST /api/tools` (required: `id`) and `PATCH /api/tools/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolInput {
    pub id: Option<String>,
    pub description: Option<String>,
    pub sensitive: Option<bool>,
    pub required_approvals: Option<i64>,
    pub mutating: Option<bool>,
    /// `null` clears the recipe on PATCH only when sent explicitly as an empty string.
    pub rollback: Option<String>,
    pub risk_weight: Option<f64>,
    /// Seconds approval requests for this tool stay open (5 s – 7 days); 0 clears it.
    pub approval_expires_in_s: Option<i64>,
}

/// Body of `POST /api/tool-metrics`: one recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricInput {
    pub tool_id: String,
    pub duration_ms: i64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub tokens: i64,
    /// Epoch milliseconds; defaults to now.
    pub recorded_at: Option<i64>,
}

/// Filters for the backlog list (query string of `GET /api/items` and of the backlog page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct ItemFilter {
    pub pack_id: Option<i64>,
    pub status: Option<ItemStatus>,
    pub label: Option<String>,
    /// Case-insensitive substring of the title.
    pub q: Option<String>,
}
