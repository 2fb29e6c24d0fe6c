//! What clients see of runs: the plan's run with its steps and attempts, and the job a worker
//! receives. Shared by the JSON API, the server functions and the browser.

use serde::{Deserialize, Serialize};

use super::model::{JobKind, Lease, StepState, StopReason};
use crate::plan::model::PlanStatus;

/// A plan's run: `GET /api/plans/{id}/run`, and the answer to execute and cancel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanRun {
    pub plan_id: i64,
    pub status: PlanStatus,
    /// Why it stopped, once it did.
    pub stop_reason: Option<StopReason>,
    /// The plan approval reviewers decide, when its verdicts needed one.
    pub approval_id: Option<i64>,
    /// Who pressed Execute.
    pub requested_by: String,
    pub requested_at: i64,
    /// `policy` when nothing needed a review; else the reviewers who approved it.
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub steps_total: i64,
    pub steps_succeeded: i64,
    /// In the plan's topological order; empty until it starts.
    pub steps: Vec<StepRunView>,
    /// The newest 200 attempts, newest first.
    pub attempts: Vec<AttemptView>,
}

/// One step's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StepRunView {
    pub step_id: String,
    pub tool: String,
    pub state: StepState,
    /// `rollback` once the step is being undone.
    pub job: JobKind,
    /// Attempts of the current job so far.
    pub attempt: i64,
    /// The worker holding it, and until when.
    pub lease: Option<Lease>,
    /// No claim before this moment (a retry's backoff).
    pub not_before: i64,
    /// Its approval, when its tool needs a reviewer.
    pub approval_id: Option<i64>,
    /// The plan stopped while it ran: its worker is told to stop.
    pub stop_requested: bool,
    /// The tail of the latest attempt's output, and its error.
    pub output: Option<String>,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// One attempt of a step's job: the run timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AttemptView {
    pub step_id: String,
    pub job: JobKind,
    pub attempt: i64,
    pub fence: i64,
    pub worker: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `running`, `succeeded`, `failed`, `lease_expired` or `released`.
    pub outcome: String,
    pub exit_code: Option<i64>,
    pub output: Option<String>,
    pub error: Option<String>,
}

/// What a claim gives a worker: the step to run (or undo), and the fence to report with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Job {
    pub plan_id: i64,
    pub step_id: String,
    /// `run` the tool, or `rollback` (run the `rollback` recipe).
    pub job: JobKind,
    pub tool: String,
    /// The same on every attempt: the side effect should be keyed by it.
    pub idempotency_token: String,
    pub attempt: i64,
    /// Send it with every heartbeat and report.
    pub fence: i64,
    pub lease_expires_at: i64,
    /// Heartbeat at least this often (a third of the lease).
    pub heartbeat_interval_ms: i64,
    pub item: JobItem,
    /// The step's rollback recipe, filled in (`None`: nothing to undo, or no recipe).
    pub rollback: Option<String>,
    /// Where to report.
    pub links: JobLinks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobItem {
    pub id: i64,
    pub title: String,
    pub pack_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobLinks {
    pub heartbeat: String,
    pub complete: String,
    pub fail: String,
    pub release: String,
}

impl JobLinks {
    pub fn of(plan_id: i64, step_id: &str) -> JobLinks {
        let base = format!("/api/worker/plans/{plan_id}/steps/{step_id}");
        JobLinks {
            heartbeat: format!("{base}/heartbeat"),
            complete: format!("{base}/complete"),
            fail: format!("{base}/fail"),
            release: format!("{base}/release"),
        }
    }
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HeartbeatAnswer {
    pub lease_expires_at: i64,
    /// The plan stopped: end the work and report (fail, not retryable) or release it.
    pub stop: bool,
}
