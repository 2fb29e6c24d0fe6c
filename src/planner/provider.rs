//! The planner interface: what every planner reads, what a provider proposes, and the seam the
//! built-in strategies and language models plug into.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::strategy::Strategy;
use crate::plan::draft::{Catalog, EstimateDefaults, StatsByTool, ToolRegistry};
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

/// The order a provider proposes beyond what dependencies force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ordering {
    /// Dependencies only: every item as early as they allow.
    Dependencies,
    /// A built-in strategy.
    Strategy { strategy: Strategy },
    /// Waves of item ids (a model's proposal): every item of a wave after every item of the one
    /// before.
    Waves { waves: Vec<Vec<i64>> },
}

/// Tokens a model call used, as the model's server counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A provider's answer: the ordering, why, and what the call used.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub ordering: Ordering,
    pub rationale: String,
    pub usage: Option<Usage>,
}

/// Why a provider gave no usable answer; the comparison shows it with the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderError {
    #[error("No answer within {timeout_ms} ms.")]
    Timeout { timeout_ms: u64 },
    #[error("The model's server could not be reached: {reason}")]
    Unreachable { reason: String },
    #[error("The model's server answered {status}: {excerpt}")]
    Status { status: u16, excerpt: String },
    #[error("The answer is not a proposal in the requested format: {reason}")]
    Malformed { reason: String },
    #[error("The API key is missing: set the environment variable `{variable}`.")]
    MissingKey { variable: String },
    #[error("{items} items are more than this provider is asked to order (at most {max}); compare a smaller selection.")]
    TooLarge { items: usize, max: usize },
}

/// What a model is told: the items to order (with their dependencies inside the plan), the tools
/// and a summary of the policy. Built once per comparison, shared by every provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Brief {
    pub items: Vec<BriefItem>,
    pub tools: Vec<BriefTool>,
    /// Sentences about the gates' policy (budget, duration limit, what needs approval).
    pub policy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BriefItem {
    pub id: i64,
    pub title: String,
    pub pack: String,
    /// Planned items this one waits for.
    pub depends_on: Vec<i64>,
    pub tools: Vec<String>,
    pub labels: Vec<String>,
    pub risk: String,
    pub estimate_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BriefTool {
    pub id: String,
    pub sensitive: bool,
    pub mutating: bool,
    pub required_approvals: i64,
}

/// The seam every planner plugs into: a built-in strategy answers at once, a model over HTTP.
/// The product builds, gates and scores the plan from the proposal, whoever made it.
pub trait PlannerProvider: Send + Sync {
    /// Its name in the providers file (`critical-path`, `ollama-llama3`).
    fn name(&self) -> &str;
    /// `provider/model`, stored with its plans and with every evaluation of them.
    fn planner_id(&self) -> &str;
    /// Token prices in US dollars per 1,000 input and output tokens (zero for built-ins).
    fn price_per_1k(&self) -> (f64, f64) {
        (0.0, 0.0)
    }
    /// A language model (it reads the brief) rather than a built-in strategy.
    fn is_model(&self) -> bool {
        false
    }
    /// The longest it may take before its candidate counts as timed out.
    fn timeout(&self) -> std::time::Duration;
    fn propose<'a>(&'a self, brief: &'a Brief) -> BoxFuture<'a, Result<Proposal, ProviderError>>;
}

/// A built-in strategy as a provider.
pub struct Builtin {
    pub strategy: Strategy,
    name: String,
    id: String,
}

impl Builtin {
    /// `strategy` under the name the providers file gives it; its planner id is `nofx/<strategy>`
    /// (`nofx/graph-v1` for `waves`, the planner of every plan made without a comparison).
    pub fn named(name: &str, strategy: Strategy) -> Builtin {
        let id = match strategy {
            Strategy::Waves => super::build::GraphPlanner::ID.to_string(),
            s => format!("nofx/{}", s.name()),
        };
        Builtin { strategy, name: name.to_string(), id }
    }
}

impl PlannerProvider for Builtin {
    fn name(&self) -> &str {
        &self.name
    }
    fn planner_id(&self) -> &str {
        &self.id
    }
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }
    fn propose<'a>(&'a self, _brief: &'a Brief) -> BoxFuture<'a, Result<Proposal, ProviderError>> {
        let p = Proposal { ordering: Ordering::Strategy { strategy: self.strategy }, rationale: self.strategy.rationale(), usage: None };
        Box::pin(async move { Ok(p) })
    }
}
