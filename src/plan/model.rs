//! The plan as clients see it: steps in waves with idempotency tokens, rollback instructions,
//! estimates and gate verdicts. Shared by the JSON API, the server functions and the browser.

use serde::{Deserialize, Serialize};

use super::verdict::{Finding, GateVerdict, Verdict, VerdictCounts};
use crate::backlog::model::ItemStatus;

/// Body of `POST /api/auto-planner/plan`: either `item_ids` or `pack_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanRequest {
    /// Backlog items to plan, in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_ids: Option<Vec<i64>>,
    /// Plan every item of this pack that is not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<i64>,
    /// Budget for the whole plan in US dollars; the policy's default budget when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Pull in unfinished dependencies outside the selection instead of blocking on them.
    #[serde(default)]
    pub include_dependencies: bool,
}

/// The most items one request may plan; larger selections are split by pack.
pub const MAX_PLAN_ITEMS: usize = 2_000;

/// Where a stored plan stands. The gates decide the first status: `ready` (nothing blocks;
/// warnings are listed) or `blocked` (at least one verdict blocks). Executing a ready plan moves
/// it on: `awaiting_approval` (its verdicts need a plan approval; `rejected` when reviewers deny
/// it or it expires), then `running`, `rolling_back` after a step failed for good or a cancel, and
/// one of the final outcomes `succeeded`, `rolled_back`, `cancelled` or `failed` (a rollback
/// failed for good: someone must look).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum PlanStatus {
    Ready,
    Blocked,
    AwaitingApproval,
    Rejected,
    Running,
    RollingBack,
    Succeeded,
    RolledBack,
    Cancelled,
    Failed,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 10] = [
        PlanStatus::Ready,
        PlanStatus::Blocked,
        PlanStatus::AwaitingApproval,
        PlanStatus::Rejected,
        PlanStatus::Running,
        PlanStatus::RollingBack,
        PlanStatus::Succeeded,
        PlanStatus::RolledBack,
        PlanStatus::Cancelled,
        PlanStatus::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Ready => "ready",
            PlanStatus::Blocked => "blocked",
            PlanStatus::AwaitingApproval => "awaiting_approval",
            PlanStatus::Rejected => "rejected",
            PlanStatus::Running => "running",
            PlanStatus::RollingBack => "rolling_back",
            PlanStatus::Succeeded => "succeeded",
            PlanStatus::RolledBack => "rolled_back",
            PlanStatus::Cancelled => "cancelled",
            PlanStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<PlanStatus> {
        PlanStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
    /// For people: "awaiting approval", "rolling back".
    pub fn label(self) -> &'static str {
        match self {
            PlanStatus::AwaitingApproval => "awaiting approval",
            PlanStatus::RollingBack => "rolling back",
            PlanStatus::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
    /// Execution started (or was asked for): the plan is past `ready`.
    pub fn is_executing(self) -> bool {
        !matches!(self, PlanStatus::Ready | PlanStatus::Blocked)
    }
}

/// Expected time and money of one step, from recorded runs of its tool when there are any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StepEstimate {
    pub duration_p50_ms: i64,
    pub duration_p95_ms: i64,
    pub cost_p50_usd: f64,
    pub cost_p95_usd: f64,
    pub source: EstimateSource,
    pub runs: i64,
}

/// Where a step's estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EstimateSource {
    /// p50 / p95 of the tool's recorded runs (`runs` of them).
    Metrics,
    /// The item's own estimate, shared among its steps.
    ItemEstimate,
    /// The policy's default per step.
    #[default]
    PolicyDefault,
}

impl EstimateSource {
    /// For people: `item estimate`, `policy default`.
    pub fn label(self) -> &'static str {
        match self {
            EstimateSource::Metrics => "recorded runs",
            EstimateSource::ItemEstimate => "item estimate",
            EstimateSource::PolicyDefault => "policy default",
        }
    }
}

/// One executable step: one tool run for one backlog item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanStep {
    /// Unique within the plan: `s{item}-{n}` for the item's n-th tool.
    pub id: String,
    pub backlog_item_id: i64,
    pub item_title: String,
    pub pack_id: i64,
    pub tool: String,
    pub sensitive: bool,
    pub mutating: bool,
    /// Human approvals this step waits for before it runs (tool default or a compliance rule).
    pub required_approvals: i64,
    /// 0-based wave; `None` when the step sits in or behind a dependency cycle.
    pub wave: Option<u32>,
    /// Step ids that must finish first.
    pub depends_on: Vec<String>,
    /// Same backlog content, tool and plan input → same token; any change → a new one.
    pub idempotency_token: String,
    /// What to run to undo this step; `None` for a mutating tool without a rollback recipe.
    pub rollback: Option<String>,
    pub estimate: StepEstimate,
    /// One verdict per gate.
    pub verdicts: Vec<GateVerdict>,
    /// The worst of `verdicts`.
    pub verdict: Verdict,
}

/// A backlog item covered by the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanItem {
    pub id: i64,
    pub title: String,
    pub pack_id: i64,
    pub pack_name: String,
    pub status: ItemStatus,
    /// Not selected, but pulled in as an unfinished dependency (`include_dependencies`).
    pub pulled_in: bool,
}

/// Items of one pack, in plan order: packs stay visible as the unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PackGroup {
    pub pack_id: i64,
    pub pack_name: String,
    pub item_ids: Vec<i64>,
}

/// Totals: the critical path sets the wall-clock time, the sum of all steps the work and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanEstimate {
    /// Along the critical path (steps of one wave run in parallel).
    pub duration_p50_ms: i64,
    pub duration_p95_ms: i64,
    /// All steps one after the other.
    pub work_p50_ms: i64,
    pub cost_p50_usd: f64,
    pub cost_p95_usd: f64,
    /// The budget the resource gate compared against.
    pub budget_usd: f64,
}

/// A stored plan, as `POST /api/auto-planner/plan` and `GET /api/plans/{id}` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Plan {
    pub id: i64,
    pub status: PlanStatus,
    /// The provider and model that built the plan, e.g. `nofx/graph-v1`.
    pub planner: String,
    pub request: PlanRequest,
    pub items: Vec<PlanItem>,
    pub groups: Vec<PackGroup>,
    pub steps: Vec<PlanStep>,
    /// Step ids per wave, wave 0 first.
    pub waves: Vec<Vec<String>>,
    /// The longest chain of steps by estimated duration.
    pub critical_path: Vec<String>,
    pub estimate: PlanEstimate,
    /// One verdict per gate for the plan as a whole.
    pub verdicts: Vec<GateVerdict>,
    /// Findings about the plan as a whole (cycles, budget), with their rules and remediation.
    pub findings: Vec<Finding>,
    pub verdict_counts: VerdictCounts,
    pub created_by: String,
    pub created_at: i64,
    /// Set while overrides in force lift every verdict that blocks the plan: its status reads
    /// `ready` until then (epoch ms), and `blocked` again after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unblocked_until: Option<i64>,
}

impl PlanStatus {
    /// The status at `now` of a plan stored as `stored` whose overrides lift its blocks until
    /// `unblocked_until`: the one place a plan's status is computed, so no path can act on an
    /// override that has run out.
    pub fn at(stored: PlanStatus, unblocked_until: Option<i64>, now: i64) -> (PlanStatus, Option<i64>) {
        match unblocked_until {
            Some(until) if stored == PlanStatus::Blocked && until > now => (PlanStatus::Ready, Some(until)),
            _ => (stored, None),
        }
    }
}

impl Plan {
    pub fn step(&self, id: &str) -> Option<&PlanStep> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// What `POST /api/auto-planner/plan` answers with `Prefer: return=minimal`: the outcome of
/// planning (status, counts, estimate, the plan-level verdicts and findings) without the steps;
/// the whole plan is at `links.plan` (`GET /api/plans/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanOutcome {
    pub id: i64,
    pub status: PlanStatus,
    pub planner: String,
    pub item_count: i64,
    pub step_count: i64,
    pub wave_count: i64,
    pub packs: Vec<String>,
    pub estimate: PlanEstimate,
    /// One verdict per gate for the plan as a whole.
    pub verdicts: Vec<GateVerdict>,
    pub findings: Vec<Finding>,
    pub verdict_counts: VerdictCounts,
    pub created_by: String,
    pub created_at: i64,
    pub links: PlanLinks,
}

/// Where the rest of a plan is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanLinks {
    /// The whole plan, as the default answer carries it.
    pub plan: String,
    pub evaluations: String,
    pub graph: String,
    /// The plan's page in the web app.
    pub page: String,
}

impl PlanOutcome {
    pub fn of(plan: &Plan) -> PlanOutcome {
        PlanOutcome {
            id: plan.id,
            status: plan.status,
            planner: plan.planner.clone(),
            item_count: plan.items.len() as i64,
            step_count: plan.steps.len() as i64,
            wave_count: plan.waves.len() as i64,
            packs: plan.groups.iter().map(|g| g.pack_name.clone()).collect(),
            estimate: plan.estimate.clone(),
            verdicts: plan.verdicts.clone(),
            findings: plan.findings.clone(),
            verdict_counts: plan.verdict_counts,
            created_by: plan.created_by.clone(),
            created_at: plan.created_at,
            links: PlanLinks::of(plan.id),
        }
    }

    /// The outcome of the plan stored as `id`.
    pub fn with_id(self, id: i64) -> PlanOutcome {
        PlanOutcome { id, links: PlanLinks::of(id), ..self }
    }
}

impl PlanLinks {
    pub fn of(id: i64) -> PlanLinks {
        PlanLinks {
            plan: format!("/api/plans/{id}"),
            evaluations: format!("/api/plans/{id}/evaluations"),
            graph: format!("/api/plans/{id}/graph"),
            page: format!("/plans/{id}"),
        }
    }
}

/// A row of the plans list (running plans first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanSummary {
    pub id: i64,
    pub status: PlanStatus,
    /// Steps that succeeded so far, once the plan runs (`None` before it is executed).
    pub steps_succeeded: Option<i64>,
    pub planner: String,
    pub item_count: i64,
    pub step_count: i64,
    pub packs: Vec<String>,
    pub verdict_counts: VerdictCounts,
    pub created_by: String,
    pub created_at: i64,
}

/// One row of `plan_evaluations`: one gate's verdict on the plan or on one of its steps, as the
/// stored plan holds it. `(plan_id, step_id, gate)` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub plan_id: i64,
    /// `None` for the plan-level verdict of a gate.
    pub step_id: Option<String>,
    pub gate: super::verdict::Gate,
    pub verdict: Verdict,
    pub enforcement: super::verdict::Enforcement,
    pub rules: Vec<String>,
    pub reasons: Vec<String>,
    pub remediation: Vec<String>,
    pub planner: String,
    pub provider: String,
    pub created_at: i64,
}

/// Filters for `GET /api/plans/{id}/evaluations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct EvaluationFilter {
    pub gate: Option<super::verdict::Gate>,
    pub verdict: Option<super::verdict::Verdict>,
    /// A step id, or `plan` for the plan-level rows only.
    pub step_id: Option<String>,
}

#[cfg(test)]
impl Plan {
    /// A blocked plan of `steps` by `user:p`, everything else empty: tests fill in what they need.
    pub fn of_steps(steps: Vec<PlanStep>) -> Plan {
        Plan {
            id: 1,
            status: PlanStatus::Blocked,
            planner: "p".into(),
            request: PlanRequest::default(),
            items: vec![],
            groups: vec![],
            steps,
            waves: vec![],
            critical_path: vec![],
            estimate: PlanEstimate::default(),
            verdicts: vec![],
            findings: vec![],
            verdict_counts: VerdictCounts::default(),
            created_by: "user:p".into(),
            created_at: 0,
            unblocked_until: None,
        }
    }
}

/// How much of a plan the graph draws: every step, or one box per backlog item (a dense plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphDetail {
    Steps,
    Items,
}

impl GraphDetail {
    /// Above this many steps the graph draws items unless the reader asks for every step.
    pub const DENSE_STEPS: usize = 600;

    /// What to draw: the reader's choice, else items for a dense plan and steps otherwise.
    pub fn for_plan(steps: usize, asked: Option<GraphDetail>) -> GraphDetail {
        asked.unwrap_or(if steps > Self::DENSE_STEPS { GraphDetail::Items } else { GraphDetail::Steps })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GraphDetail::Steps => "steps",
            GraphDetail::Items => "items",
        }
    }

    pub fn parse(s: &str) -> Option<GraphDetail> {
        match s {
            "steps" => Some(GraphDetail::Steps),
            "items" => Some(GraphDetail::Items),
            _ => None,
        }
    }
}
