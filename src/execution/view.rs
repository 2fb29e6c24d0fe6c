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

/// Whether the viewer may press Execute on a plan with `status`, or the sentence that says why
/// not (the page shows it in the button's place). `None`: the plan was executed already (the
/// page shows its run instead).
pub fn execute_refusal(status: PlanStatus, flag_on: bool, may_execute: bool) -> Option<Result<(), &'static str>> {
    if status.is_executing() {
        return None;
    }
    Some(if !flag_on {
        Err("Execution is switched off on this server (FEATURE_PLANNER_EXECUTE is off): the plan can be reviewed, not run.")
    } else if status == PlanStatus::Blocked {
        Err("A blocked plan cannot run: fix what blocks it (above), then plan again.")
    } else if !may_execute {
        Err("Your role cannot execute plans; a planner, an automation key or an admin can.")
    } else {
        Ok(())
    })
}

impl PlanRun {
    /// Steps in `state`.
    pub fn count(&self, state: StepState) -> usize {
        self.steps.iter().filter(|s| s.state == state).count()
    }

    /// Where the run stands, in one sentence.
    pub fn summary(&self) -> String {
        let of = format!("{} of {} steps succeeded", self.steps_succeeded, self.steps_total);
        match self.status {
            PlanStatus::AwaitingApproval => match self.approval_id {
                Some(a) => format!("Waiting for reviewers to approve the plan (approval #{a}); nothing runs before that."),
                None => "Waiting for reviewers to approve the plan; nothing runs before that.".into(),
            },
            PlanStatus::Rejected => "The plan approval was denied or expired, so the plan did not run.".into(),
            PlanStatus::Running => {
                let mut parts = vec![of];
                for (state, what) in [
                    (StepState::Running, "running"),
                    (StepState::WaitingApproval, "waiting for approval"),
                    (StepState::Claimable, "ready for a worker"),
                ] {
                    let n = self.count(state);
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                format!("Running: {}.", parts.join(" · "))
            }
            PlanStatus::RollingBack => format!(
                "Rolling back ({}): {} step{} still to undo, {} running step{} told to stop.",
                if self.stop_reason == Some(StopReason::Cancelled) { "cancelled" } else { "a step failed" },
                self.count(StepState::Compensating)
                    + self.steps.iter().filter(|s| s.state == StepState::Succeeded && s.job == JobKind::Rollback).count(),
                if self.count(StepState::Compensating) == 1 { "" } else { "s" },
                self.count(StepState::Running),
                if self.count(StepState::Running) == 1 { "" } else { "s" },
            ),
            PlanStatus::Succeeded => format!("Succeeded: all {} steps ran.", self.steps_total),
            PlanStatus::RolledBack => format!("Rolled back: a step failed, and everything that had succeeded was undone ({of} before)."),
            PlanStatus::Cancelled => "Cancelled: nothing new started, and everything that had succeeded was undone.".into(),
            PlanStatus::Failed => format!(
                "Failed: {} rollback{} failed for good; someone must look at the steps marked “rollback failed”.",
                self.count(StepState::CompensationFailed),
                if self.count(StepState::CompensationFailed) == 1 { "" } else { "s" }
            ),
            PlanStatus::Ready | PlanStatus::Blocked => of,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_says_why_not() {
        assert_eq!(execute_refusal(PlanStatus::Ready, true, true), Some(Ok(())));
        assert!(execute_refusal(PlanStatus::Ready, false, true).unwrap().unwrap_err().contains("FEATURE_PLANNER_EXECUTE"));
        assert!(execute_refusal(PlanStatus::Blocked, true, true).unwrap().unwrap_err().contains("blocked"));
        assert!(execute_refusal(PlanStatus::Ready, true, false).unwrap().unwrap_err().contains("role"));
        assert_eq!(execute_refusal(PlanStatus::Running, true, true), None, "its run is shown instead");
    }

    #[test]
    fn the_summary_says_where_the_run_stands() {
        let step = |state| StepRunView {
            step_id: "s1-1".into(),
            tool: "t".into(),
            state,
            job: JobKind::Run,
            attempt: 1,
            lease: None,
            not_before: 0,
            approval_id: None,
            stop_requested: false,
            output: None,
            error: None,
            updated_at: 0,
        };
        let mut run = PlanRun {
            plan_id: 1,
            status: PlanStatus::Running,
            stop_reason: None,
            approval_id: None,
            requested_by: "user:ann".into(),
            requested_at: 0,
            approved_by: None,
            approved_at: None,
            started_at: None,
            finished_at: None,
            steps_total: 3,
            steps_succeeded: 1,
            steps: vec![step(StepState::Succeeded), step(StepState::Running), step(StepState::WaitingApproval)],
            attempts: vec![],
        };
        assert_eq!(run.summary(), "Running: 1 of 3 steps succeeded · 1 running · 1 waiting for approval.");
        run.status = PlanStatus::AwaitingApproval;
        run.approval_id = Some(7);
        assert!(run.summary().contains("approval #7"));
        run.status = PlanStatus::Failed;
        run.steps[0].state = StepState::CompensationFailed;
        assert!(run.summary().starts_with("Failed: 1 rollback failed"));
    }
}
