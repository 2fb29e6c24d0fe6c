//! Plan runs and their state machine. Pure: no I/O, no clock (the time is an argument), so every
//! transition is tested directly; the store applies what these functions decide, one committed
//! row change (with its event) per transition.
//!
//! A step run:
//!
//! ```text
//!   queued ──dependencies succeeded──▶ claimable ──claim──▶ running ──complete──▶ succeeded
//!     │                                   ▲    ▲              │
//!     │ (sensitive tool)                  │    ╰── fail (retryable, attempts left) or lease
//!     ╰──▶ waiting_approval ──approved────╯        expired: a new attempt after the backoff
//!                 │                                           │
//!                 ╰── denied / expired ──▶ failed ◀── fail (final, or out of attempts)
//!
//!   queued, waiting_approval, claimable ──the plan stops──▶ skipped
//!   succeeded ──the plan stops──▶ compensating ──rollback completes──▶ compensated
//!                                      ╰──────rollback fails for good──▶ compensation_failed
//! ```
//!
//! A plan run: `running` until every step succeeded (`succeeded`); a step that fails for good, or
//! a cancel, stops it (`rolling_back`): nothing new starts, running steps are asked to stop at
//! their next heartbeat, and succeeded steps are rolled back in reverse dependency order, each
//! rollback a claimable run of its own with attempts. It ends `rolled_back` (a step failed),
//! `cancelled` (someone cancelled), or `failed` when some rollback failed for good.
//!
//! Claims carry a lease (worker, expiry) and a fencing number: the step's claim count, raised by
//! every claim. A worker reports with the fence it was given; a stale fence or an expired lease is
//! refused, so no step is ever completed by a worker that lost it.

use serde::{Deserialize, Serialize};

/// Where one step's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum StepState {
    /// Waiting for its dependencies to succeed.
    Queued,
    /// Its dependencies succeeded; a reviewer must approve it before a worker may take it.
    WaitingApproval,
    /// A worker may claim it (from `not_before` on).
    Claimable,
    /// A worker holds it under a lease.
    Running,
    Succeeded,
    /// Failed for good: out of attempts, a failure the worker marked final, or its approval was
    /// denied or expired.
    Failed,
    /// It never ran: the plan stopped first.
    Skipped,
    /// It succeeded and is being undone: its rollback is claimable or running.
    Compensating,
    Compensated,
    /// Its rollback failed for good (or it changes things and has no rollback recipe).
    CompensationFailed,
}

impl StepState {
    pub const ALL: [StepState; 10] = [
        StepState::Queued,
        StepState::WaitingApproval,
        StepState::Claimable,
        StepState::Running,
        StepState::Succeeded,
        StepState::Failed,
        StepState::Skipped,
        StepState::Compensating,
        StepState::Compensated,
        StepState::CompensationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Queued => "queued",
            StepState::WaitingApproval => "waiting_approval",
            StepState::Claimable => "claimable",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Compensating => "compensating",
            StepState::Compensated => "compensated",
            StepState::CompensationFailed => "compensation_failed",
        }
    }

    pub fn parse(s: &str) -> Option<StepState> {
        StepState::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Nothing more will happen to it (in a stopped plan, `succeeded` is final too once its turn
    /// to be undone has passed with nothing to undo; see [`stopped_outcome`]).
    pub fn is_final(self) -> bool {
        matches!(self, StepState::Failed | StepState::Skipped | StepState::Compensated | StepState::CompensationFailed)
    }

    /// For people: "waiting for approval", "compensation failed".
    pub fn label(self) -> &'static str {
        match self {
            StepState::Queued => "queued",
            StepState::WaitingApproval => "waiting for approval",
            StepState::Claimable => "ready for a worker",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Compensating => "rolling back",
            StepState::Compensated => "rolled back",
            StepState::CompensationFailed => "rollback failed",
        }
    }
}

/// Which of a step's two jobs a claim is for: running it, or undoing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum JobKind {
    Run,
    Rollback,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        [JobKind::Run, JobKind::Rollback].into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a plan's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RunStatus {
    Running,
    /// A step failed for good or someone cancelled: nothing new starts, what succeeded is undone.
    RollingBack,
    Succeeded,
    /// Stopped, and at least one rollback failed for good: someone must look.
    Failed,
    /// A step failed for good and everything that had succeeded was undone.
    RolledBack,
    /// Cancelled, and everything that had succeeded was undone.
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] =
        [RunStatus::Running, RunStatus::RollingBack, RunStatus::Succeeded, RunStatus::Failed, RunStatus::RolledBack, RunStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::RollingBack => "rolling_back",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::RolledBack => "rolled_back",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::RollingBack)
    }
}

/// Why a plan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum StopReason {
    /// A step failed for good.
    StepFailed,
    Cancelled,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::StepFailed => "step_failed",
            StopReason::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<StopReason> {
        [StopReason::StepFailed, StopReason::Cancelled].into_iter().find(|k| k.as_str() == s)
    }
}

/// Attempts and backoff for one tool's steps (and their rollbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub backoff_ms: i64,
    /// The longest wait between two attempts.
    pub max_backoff_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, backoff_ms: 1_000, max_backoff_ms: 60_000 }
    }
}

impl RetryPolicy {
    /// The wait before attempt `next` (2 for the first retry): `backoff · 2^(next − 2)`, capped.
    pub fn delay_before(&self, next: u32) -> i64 {
        let doublings = next.saturating_sub(2).min(30);
        self.backoff_ms.saturating_mul(1_i64 << doublings).min(self.max_backoff_ms).max(0)
    }
}

/// A worker's hold on a step: who, and until when (ms since the epoch) unless renewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Lease {
    pub worker: String,
    pub expires_at: i64,
}

/// What a step's run row holds: everything the transitions below read and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    pub state: StepState,
    /// The job the attempts, the lease and `not_before` are about.
    pub job: JobKind,
    /// Attempts of the current job started so far.
    pub attempt: u32,
    /// Claims of this step so far (both jobs): the fencing number of the newest lease.
    pub fence: i64,
    pub lease: Option<Lease>,
    /// A claim is refused before this moment (the backoff after a failed attempt).
    pub not_before: i64,
    /// Forward: dependencies not yet succeeded. Stopping: dependents not yet undone (or ended).
    pub waiting_on: u32,
    /// A reviewer must approve it before it may be claimed.
    pub needs_approval: bool,
    /// The plan stopped while it ran: its worker is told to stop at the next heartbeat.
    pub stop_requested: bool,
}

impl StepRun {
    /// A new step run: queued behind `dependencies` steps, or ready at once without any.
    pub fn new(dependencies: u32, needs_approval: bool) -> StepRun {
        let mut s = StepRun {
            state: StepState::Queued,
            job: JobKind::Run,
            attempt: 0,
            fence: 0,
            lease: None,
            not_before: 0,
            waiting_on: dependencies,
            needs_approval,
            stop_requested: false,
        };
        if dependencies == 0 {
            s.state = s.ready_state();
        }
        s
    }

    fn ready_state(&self) -> StepState {
        if self.needs_approval {
            StepState::WaitingApproval
        } else {
            StepState::Claimable
        }
    }

    /// Whether a worker may claim it at `now` (its run, or its rollback when its turn has come).
    pub fn is_claimable(&self, now: i64) -> bool {
        let ready = match self.state {
            StepState::Claimable => true,
            StepState::Compensating => self.lease.is_none() && self.waiting_on == 0,
            _ => false,
        };
        ready && now >= self.not_before
    }

    /// The held lease has run out at `now`.
    pub fn lease_expired(&self, now: i64) -> bool {
        self.lease.as_ref().is_some_and(|l| now >= l.expires_at)
    }
}

/// Why a worker's report or a claim was refused; each maps to one HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The step is not available for a claim (409 `not_claimable`).
    NotClaimable(StepState),
    /// The report's fence is not the step's newest: another claim replaced this one (409
    /// `lease_lost`).
    LeaseLost,
    /// The lease ran out before this report (409 `lease_expired`); the step is re-queued.
    LeaseExpired,
}

/// A granted claim: what the worker must send back with every report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub job: JobKind,
    pub fence: i64,
    pub attempt: u32,
    pub expires_at: i64,
}

/// Gives the step to `worker` until `now + lease_ms`: a new attempt of its current job.
pub fn claim(step: &mut StepRun, worker: &str, now: i64, lease_ms: i64) -> Result<Claimed, Refusal> {
    if !step.is_claimable(now) {
        return Err(Refusal::NotClaimable(step.state));
    }
    step.fence += 1;
    step.attempt += 1;
    let expires_at = now + lease_ms;
    step.lease = Some(Lease { worker: worker.to_string(), expires_at });
    if step.job == JobKind::Run {
        step.state = StepState::Running;
    }
    Ok(Claimed { job: step.job, fence: step.fence, attempt: step.attempt, expires_at })
}

/// The holder of `fence` at `now`, or why it is not.
fn check_holder(step: &StepRun, fence: i64, now: i64) -> Result<(), Refusal> {
    if step.lease.is_none() || fence != step.fence {
        return Err(Refusal::LeaseLost);
    }
    if step.lease_expired(now) {
        return Err(Refusal::LeaseExpired);
    }
    Ok(())
}

/// What a heartbeat answers: the lease's new expiry, and whether to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    pub expires_at: i64,
    pub stop: bool,
}

/// The holder is still at work: the lease runs `lease_ms` from now.
pub fn heartbeat(step: &mut StepRun, fence: i64, now: i64, lease_ms: i64) -> Result<Beat, Refusal> {
    check_holder(step, fence, now)?;
    let expires_at = now + lease_ms;
    if let Some(l) = step.lease.as_mut() {
        l.expires_at = expires_at;
    }
    Ok(Beat { expires_at, stop: step.stop_requested && step.job == JobKind::Run })
}

/// A job that ended: the step's new state, and whether the plan must take note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The run succeeded: release the dependents (or, in a stopping plan, queue its rollback).
    Succeeded,
    /// The rollback succeeded: release its dependencies' rollbacks.
    Compensated,
    /// Another attempt from `not_before` on.
    Retry { not_before: i64 },
    /// The run failed for good: the plan stops (when it has not already).
    Failed,
    /// The rollback failed for good.
    CompensationFailed,
}

/// The holder reports success.
pub fn complete(step: &mut StepRun, fence: i64, now: i64) -> Result<Ended, Refusal> {
    check_holder(step, fence, now)?;
    step.lease = None;
    Ok(finish(step, true))
}

/// The current job ended for good, well or not: the step's final state for it.
fn finish(step: &mut StepRun, ok: bool) -> Ended {
    let (state, ended) = match (step.job, ok) {
        (JobKind::Run, true) => (StepState::Succeeded, Ended::Succeeded),
        (JobKind::Run, false) => (StepState::Failed, Ended::Failed),
        (JobKind::Rollback, true) => (StepState::Compensated, Ended::Compensated),
        (JobKind::Rollback, false) => (StepState::CompensationFailed, Ended::CompensationFailed),
    };
    step.state = state;
    ended
}

/// The holder reports failure; `retryable` lets another attempt follow while attempts are left
/// (never for a run in a stopping plan: nothing new starts there).
pub fn fail(step: &mut StepRun, fence: i64, retryable: bool, now: i64, retry: &RetryPolicy) -> Result<Ended, Refusal> {
    check_holder(step, fence, now)?;
    Ok(end_attempt(step, retryable, now, retry))
}

/// The lease ran out: the attempt counts as failed, and another follows while attempts are left.
/// `None` when the step holds no expired lease.
pub fn expire_lease(step: &mut StepRun, now: i64, retry: &RetryPolicy) -> Option<Ended> {
    step.lease_expired(now).then(|| end_attempt(step, true, now, retry))
}

fn end_attempt(step: &mut StepRun, retryable: bool, now: i64, retry: &RetryPolicy) -> Ended {
    step.lease = None;
    let stopping_run = step.job == JobKind::Run && step.stop_requested;
    if retryable && !stopping_run && step.attempt < retry.max_attempts.max(1) {
        let not_before = now + retry.delay_before(step.attempt + 1);
        step.not_before = not_before;
        if step.job == JobKind::Run {
            step.state = StepState::Claimable;
        }
        return Ended::Retry { not_before };
    }
    finish(step, false)
}

/// The holder gives the step back unfinished (its worker is shutting down): the attempt does not
/// count and the job may be claimed again at once; `Some(Ended::Failed)` for a run in a stopping
/// plan, which is not tried again (it ended without succeeding).
pub fn release(step: &mut StepRun, fence: i64, now: i64) -> Result<Option<Ended>, Refusal> {
    check_holder(step, fence, now)?;
    step.lease = None;
    if step.job == JobKind::Run && step.stop_requested {
        return Ok(Some(finish(step, false)));
    }
    step.attempt = step.attempt.saturating_sub(1);
    step.not_before = now;
    if step.job == JobKind::Run {
        step.state = StepState::Claimable;
    }
    Ok(None)
}

/// One of its dependencies succeeded: `true` when that was the last one and the step is now
/// ready (claimable, or waiting for its approval).
pub fn dependency_succeeded(step: &mut StepRun) -> bool {
    if step.state != StepState::Queued {
        return false;
    }
    step.waiting_on = step.waiting_on.saturating_sub(1);
    if step.waiting_on == 0 {
        step.state = step.ready_state();
        return true;
    }
    false
}

/// Its approval was decided: claimable when the reviewers let it go ahead, failed otherwise.
/// `None` when the step was not waiting for one (the plan stopped meanwhile, say).
pub fn approval_decided(step: &mut StepRun, go_ahead: bool) -> Option<Ended> {
    if step.state != StepState::WaitingApproval {
        return None;
    }
    if go_ahead {
        step.state = StepState::Claimable;
        None
    } else {
        step.state = StepState::Failed;
        Some(Ended::Failed)
    }
}

/// What undoing one step takes, as the plan says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// It changes nothing outside the agent: nothing to undo.
    Nothing,
    /// It changes things and has a rollback recipe: a rollback job runs it.
    Recipe,
    /// It changes things and has no recipe: it cannot be undone.
    Impossible,
}

/// The plan's shape as rollbacks need it, indexed like the step runs.
pub struct Graph<'a> {
    pub undo: &'a [Undo],
    /// `dependencies[i]`: the steps step `i` depends on.
    pub dependencies: &'a [Vec<usize>],
    /// `dependents[i]`: the steps that depend on step `i`.
    pub dependents: &'a [Vec<usize>],
}

impl Graph<'_> {
    /// Dependents lists from dependencies lists.
    pub fn dependents_of(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut out = vec![vec![]; dependencies.len()];
        for (i, deps) in dependencies.iter().enumerate() {
            for &d in deps {
                out[d].push(i);
            }
        }
        out
    }
}

/// A step that succeeded and whose turn to be undone has not come yet.
fn awaits_undo(s: &StepRun) -> bool {
    s.state == StepState::Succeeded && s.job == JobKind::Rollback
}

/// The plan stops (a step failed for good, or a cancel): every step that has not started is
/// skipped, running ones are asked to stop, and what succeeded is undone in reverse dependency
/// order: a step's rollback waits until each of its dependents that ran, or still runs, is done
/// (undone, failed to be, had nothing to undo, or ended without succeeding). Returns the steps
/// whose rollback may be claimed now.
pub fn stop(steps: &mut [StepRun], graph: &Graph) -> Vec<usize> {
    for s in steps.iter_mut() {
        match s.state {
            StepState::Queued | StepState::WaitingApproval | StepState::Claimable => {
                s.state = StepState::Skipped;
                s.lease = None;
            }
            StepState::Running => s.stop_requested = true,
            _ => {}
        }
    }
    for i in 0..steps.len() {
        if steps[i].state != StepState::Succeeded {
            continue;
        }
        let waiting = graph.dependents[i].iter().filter(|&&d| matches!(steps[d].state, StepState::Succeeded | StepState::Running)).count();
        let s = &mut steps[i];
        s.job = JobKind::Rollback;
        s.attempt = 0;
        s.not_before = 0;
        s.waiting_on = waiting as u32;
    }
    let turns: Vec<usize> = (0..steps.len()).filter(|&i| awaits_undo(&steps[i]) && steps[i].waiting_on == 0).collect();
    let mut ready = vec![];
    for i in turns {
        take_turn(steps, graph, i, &mut ready);
    }
    ready.sort_unstable();
    ready
}

/// In a stopping plan, a step that was running when the plan stopped succeeded after all: it is
/// undone in its turn, which has come (its dependents never started). Returns the rollbacks that
/// may be claimed now.
pub fn succeeded_while_stopping(steps: &mut [StepRun], graph: &Graph, i: usize) -> Vec<usize> {
    let s = &mut steps[i];
    s.job = JobKind::Rollback;
    s.attempt = 0;
    s.not_before = 0;
    s.waiting_on = 0;
    s.stop_requested = false;
    let mut ready = vec![];
    take_turn(steps, graph, i, &mut ready);
    ready.sort_unstable();
    ready
}

/// In a stopping plan, step `i` is done with undoing (compensated, compensation failed, or it
/// ended without succeeding): its dependencies' turns move on. Returns the rollbacks that may be
/// claimed now.
pub fn undo_finished(steps: &mut [StepRun], graph: &Graph, i: usize) -> Vec<usize> {
    let mut ready = vec![];
    pass_turn(steps, graph, i, &mut ready);
    ready.sort_unstable();
    ready
}

/// Step `i`'s turn has come: its rollback becomes claimable, or, with nothing to undo (it stays
/// `succeeded`) or no way to (`compensation_failed`), the turn passes on at once.
fn take_turn(steps: &mut [StepRun], graph: &Graph, i: usize, ready: &mut Vec<usize>) {
    if begin_undo(&mut steps[i], graph.undo[i]) {
        pass_turn(steps, graph, i, ready);
    } else {
        ready.push(i);
    }
}

/// Starts undoing one step: `true` when it is done at once (the turn passes on), `false` when
/// its rollback must run first.
fn begin_undo(s: &mut StepRun, undo: Undo) -> bool {
    match undo {
        Undo::Recipe => {
            s.state = StepState::Compensating;
            false
        }
        Undo::Nothing => {
            s.job = JobKind::Run;
            true
        }
        Undo::Impossible => {
            s.state = StepState::CompensationFailed;
            true
        }
    }
}

/// Step `i` is done: each dependency waiting for its turn waits for one step fewer.
fn pass_turn(steps: &mut [StepRun], graph: &Graph, i: usize, ready: &mut Vec<usize>) {
    let mut work = vec![i];
    while let Some(done) = work.pop() {
        for &d in &graph.dependencies[done] {
            let s = &mut steps[d];
            if !awaits_undo(s) || s.waiting_on == 0 {
                continue;
            }
            s.waiting_on -= 1;
            if s.waiting_on > 0 {
                continue;
            }
            if begin_undo(s, graph.undo[d]) {
                work.push(d);
            } else {
                ready.push(d);
            }
        }
    }
}

/// How a stopping plan ended, once nothing runs or waits to be undone: `failed` when a rollback
/// failed for good (or a step could not be undone), else `cancelled` or `rolled_back` by the
/// reason it stopped. `None` while something is still running or waiting.
pub fn stopped_outcome(steps: &[StepRun], reason: StopReason) -> Option<RunStatus> {
    let busy = steps.iter().any(|s| matches!(s.state, StepState::Running | StepState::Compensating) || awaits_undo(s));
    if busy {
        return None;
    }
    if steps.iter().any(|s| s.state == StepState::CompensationFailed) {
        return Some(RunStatus::Failed);
    }
    Some(match reason {
        StopReason::Cancelled => RunStatus::Cancelled,
        StopReason::StepFailed => RunStatus::RolledBack,
    })
}

/// Why a plan may not start or be cancelled; each maps to one HTTP status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRefusal {
    /// At least one verdict blocks (409 `plan_blocked`).
    Blocked,
    /// It was started (or sent for approval) already (409 `already_started`).
    AlreadyStarted,
}

/// How a plan that may run gets going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Approved at once: it starts now.
    Now,
    /// Its worst verdict needs a plan approval first (the policy's `approve_plans_at`).
    AfterApproval,
}

/// Whether a plan judged `blocked` or not, with `worst` its worst verdict (plan or step), may
/// start: blocked plans never (until an override lifts the blocks), otherwise at once, or after
/// a plan approval when `worst` is at or above `approve_at` (`None`: never asked).
pub fn may_start(
    blocked: bool,
    already_started: bool,
    worst: crate::plan::verdict::Verdict,
    approve_at: Option<crate::plan::verdict::Verdict>,
) -> Result<Start, StartRefusal> {
    if already_started {
        return Err(StartRefusal::AlreadyStarted);
    }
    if blocked {
        return Err(StartRefusal::Blocked);
    }
    Ok(match approve_at {
        Some(level) if worst >= level => Start::AfterApproval,
        _ => Start::Now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::verdict::Verdict;

    const LEASE: i64 = 30_000;
    const RETRY: RetryPolicy = RetryPolicy { max_attempts: 3, backoff_ms: 1_000, max_backoff_ms: 3_000 };

    fn claimed(deps: u32) -> (StepRun, Claimed) {
        let mut s = StepRun::new(deps, false);
        for _ in 0..deps {
            dependency_succeeded(&mut s);
        }
        let c = claim(&mut s, "w1", 1_000, LEASE).unwrap();
        (s, c)
    }

    #[test]
    fn a_new_step_waits_for_its_dependencies_then_for_its_approval() {
        assert_eq!(StepRun::new(0, false).state, StepState::Claimable);
        assert_eq!(StepRun::new(0, true).state, StepState::WaitingApproval);
        let mut s = StepRun::new(2, true);
        assert_eq!(s.state, StepState::Queued);
        assert!(!s.is_claimable(0));
        assert!(!dependency_succeeded(&mut s));
        assert_eq!((s.state, s.waiting_on), (StepState::Queued, 1));
        assert!(dependency_succeeded(&mut s));
        assert_eq!(s.state, StepState::WaitingApproval);
        assert!(!s.is_claimable(0), "an unapproved step is not claimable");
        // A late report of a dependency changes nothing any more.
        assert!(!dependency_succeeded(&mut s));
        assert_eq!(approval_decided(&mut s, true), None);
        assert_eq!(s.state, StepState::Claimable);
        assert!(s.is_claimable(0));
    }

    #[test]
    fn a_denied_or_expired_approval_fails_the_step() {
        let mut s = StepRun::new(0, true);
        assert_eq!(approval_decided(&mut s, false), Some(Ended::Failed));
        assert_eq!(s.state, StepState::Failed);
        // Decided again (a replayed webhook): nothing changes.
        assert_eq!(approval_decided(&mut s, true), None);
        assert_eq!(s.state, StepState::Failed);
    }

    #[test]
    fn a_claim_leases_the_step_with_a_new_fence_and_attempt() {
        let mut s = StepRun::new(0, false);
        let c = claim(&mut s, "w1", 1_000, LEASE).unwrap();
        assert_eq!(c, Claimed { job: JobKind::Run, fence: 1, attempt: 1, expires_at: 31_000 });
        assert_eq!(s.state, StepState::Running);
        assert_eq!(s.lease, Some(Lease { worker: "w1".into(), expires_at: 31_000 }));
        assert_eq!(claim(&mut s, "w2", 1_001, LEASE), Err(Refusal::NotClaimable(StepState::Running)));
        let mut queued = StepRun::new(1, false);
        assert_eq!(claim(&mut queued, "w2", 0, LEASE), Err(Refusal::NotClaimable(StepState::Queued)));
    }

    #[test]
    fn only_the_newest_unexpired_lease_may_report() {
        let (mut s, c) = claimed(0);
        assert_eq!(complete(&mut s, c.fence + 1, 2_000), Err(Refusal::LeaseLost));
        assert_eq!(complete(&mut s, c.fence - 1, 2_000), Err(Refusal::LeaseLost));
        assert_eq!(complete(&mut s, c.fence, c.expires_at), Err(Refusal::LeaseExpired));
        assert_eq!(s.state, StepState::Running, "a refused report changes nothing");
        assert_eq!(complete(&mut s, c.fence, c.expires_at - 1), Ok(Ended::Succeeded));
        assert_eq!((s.state, s.lease.clone()), (StepState::Succeeded, None));
        // Reported twice: the lease is gone.
        assert_eq!(complete(&mut s, c.fence, c.expires_at - 1), Err(Refusal::LeaseLost));
    }

    #[test]
    fn a_released_step_is_claimable_again_without_spending_an_attempt() {
        let (mut s, c) = claimed(0);
        assert_eq!(release(&mut s, c.fence + 1, 2_000), Err(Refusal::LeaseLost));
        assert_eq!(release(&mut s, c.fence, 2_000), Ok(None));
        assert_eq!((s.state, s.attempt, s.lease.clone()), (StepState::Claimable, 0, None));
        assert!(s.is_claimable(2_000));
        let again = claim(&mut s, "w2", 2_000, LEASE).unwrap();
        assert_eq!((again.attempt, again.fence), (1, c.fence + 1), "the same attempt number, a new fence");
        assert_eq!(complete(&mut s, c.fence, 2_001), Err(Refusal::LeaseLost), "the releaser cannot report any more");
        // In a stopping plan a released run is not tried again: it ended without succeeding.
        s.stop_requested = true;
        assert_eq!(release(&mut s, again.fence, 2_002), Ok(Some(Ended::Failed)));
        assert_eq!(s.state, StepState::Failed);
    }

    #[test]
    fn a_heartbeat_extends_the_lease_and_carries_a_stop_request() {
        let (mut s, c) = claimed(0);
        let b = heartbeat(&mut s, c.fence, 20_000, LEASE).unwrap();
        assert_eq!(b, Beat { expires_at: 50_000, stop: false });
        // Past the first expiry, within the renewed one: still the holder.
        assert_eq!(complete(&mut s, c.fence, 40_000), Ok(Ended::Succeeded));
        let (mut s, c) = claimed(0);
        assert_eq!(heartbeat(&mut s, c.fence, c.expires_at, LEASE), Err(Refusal::LeaseExpired));
        assert_eq!(heartbeat(&mut s, 99, 2_000, LEASE), Err(Refusal::LeaseLost));
        s.stop_requested = true;
        assert!(heartbeat(&mut s, c.fence, 2_000, LEASE).unwrap().stop);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        assert_eq!(RETRY.delay_before(2), 1_000);
        assert_eq!(RETRY.delay_before(3), 2_000);
        assert_eq!(RETRY.delay_before(4), 3_000);
        assert_eq!(RETRY.delay_before(400), 3_000);
        let huge = RetryPolicy { max_attempts: 99, backoff_ms: i64::MAX / 2, max_backoff_ms: i64::MAX };
        assert_eq!(huge.delay_before(90), i64::MAX, "saturates instead of overflowing");
    }

    #[test]
    fn a_retryable_failure_retries_after_the_backoff_until_attempts_run_out() {
        let (mut s, c) = claimed(0);
        assert_eq!(fail(&mut s, c.fence, true, 5_000, &RETRY), Ok(Ended::Retry { not_before: 6_000 }));
        assert_eq!((s.state, s.lease.clone()), (StepState::Claimable, None));
        assert!(!s.is_claimable(5_999));
        assert_eq!(claim(&mut s, "w2", 5_999, LEASE), Err(Refusal::NotClaimable(StepState::Claimable)));
        let c2 = claim(&mut s, "w2", 6_000, LEASE).unwrap();
        assert_eq!((c2.fence, c2.attempt), (2, 2));
        assert_eq!(fail(&mut s, c2.fence, true, 7_000, &RETRY), Ok(Ended::Retry { not_before: 9_000 }));
        let c3 = claim(&mut s, "w1", 9_000, LEASE).unwrap();
        assert_eq!(c3.attempt, 3);
        assert_eq!(fail(&mut s, c3.fence, true, 10_000, &RETRY), Ok(Ended::Failed), "the third attempt was the last");
        assert_eq!(s.state, StepState::Failed);
        assert!(!s.is_claimable(i64::MAX));
    }

    #[test]
    fn a_final_failure_does_not_retry() {
        let (mut s, c) = claimed(0);
        assert_eq!(fail(&mut s, c.fence, false, 5_000, &RETRY), Ok(Ended::Failed));
        assert_eq!(s.state, StepState::Failed);
        let once = RetryPolicy { max_attempts: 1, ..RETRY };
        let (mut s, c) = claimed(0);
        assert_eq!(fail(&mut s, c.fence, true, 5_000, &once), Ok(Ended::Failed));
    }

    #[test]
    fn an_expired_lease_requeues_the_step_and_fences_out_its_old_holder() {
        let (mut s, c) = claimed(0);
        assert_eq!(expire_lease(&mut s, c.expires_at - 1, &RETRY), None, "not yet");
        assert_eq!(expire_lease(&mut s, c.expires_at, &RETRY), Some(Ended::Retry { not_before: c.expires_at + 1_000 }));
        assert_eq!(s.state, StepState::Claimable);
        let c2 = claim(&mut s, "w2", c.expires_at + 1_000, LEASE).unwrap();
        assert_eq!(c2.fence, c.fence + 1);
        // The first worker comes back: its fence is stale.
        assert_eq!(complete(&mut s, c.fence, c.expires_at + 1_001), Err(Refusal::LeaseLost));
        assert_eq!(complete(&mut s, c2.fence, c.expires_at + 1_001), Ok(Ended::Succeeded));
        assert_eq!(expire_lease(&mut s, i64::MAX, &RETRY), None, "no lease, nothing to expire");
    }

    /// A chain `0 ← 1 ← 2` (2 depends on 1, 1 on 0) plus an independent step 3.
    /// Step runs, what undoing each takes, dependencies, dependents.
    type Chain = (Vec<StepRun>, [Undo; 4], Vec<Vec<usize>>, Vec<Vec<usize>>);

    fn chain(undo: [Undo; 4]) -> Chain {
        let dependencies = vec![vec![], vec![0], vec![1], vec![]];
        let dependents = Graph::dependents_of(&dependencies);
        let steps = vec![StepRun::new(0, false), StepRun::new(1, false), StepRun::new(1, false), StepRun::new(0, false)];
        (steps, undo, dependencies, dependents)
    }

    fn succeed(steps: &mut [StepRun], i: usize, dependents: &[Vec<usize>], now: i64) {
        let c = claim(&mut steps[i], "w", now, LEASE).unwrap();
        assert_eq!(complete(&mut steps[i], c.fence, now), Ok(Ended::Succeeded));
        for &d in &dependents[i] {
            dependency_succeeded(&mut steps[d]);
        }
    }

    fn states(steps: &[StepRun]) -> Vec<StepState> {
        steps.iter().map(|s| s.state).collect()
    }

    #[test]
    fn a_failed_step_undoes_what_succeeded_in_reverse_dependency_order() {
        use StepState::*;
        let (mut steps, undo, deps, dependents) = chain([Undo::Recipe; 4]);
        let graph = Graph { undo: &undo, dependencies: &deps, dependents: &dependents };
        succeed(&mut steps, 0, &dependents, 1);
        succeed(&mut steps, 1, &dependents, 2);
        let c2 = claim(&mut steps[2], "w", 3, LEASE).unwrap();
        let c3 = claim(&mut steps[3], "w", 3, LEASE).unwrap();
        assert_eq!(fail(&mut steps[3], c3.fence, false, 4, &RETRY), Ok(Ended::Failed));

        // Step 2 still runs: step 1 waits for it, step 0 for step 1; nothing to roll back yet.
        assert_eq!(stop(&mut steps, &graph), Vec::<usize>::new());
        assert_eq!(states(&steps), [Succeeded, Succeeded, Running, Failed]);
        assert!(steps[2].stop_requested);
        assert!(heartbeat(&mut steps[2], c2.fence, 5, LEASE).unwrap().stop);
        assert_eq!(stopped_outcome(&steps, StopReason::StepFailed), None);

        // Asked to stop, it fails; a retryable failure is not retried in a stopping plan.
        assert_eq!(fail(&mut steps[2], c2.fence, true, 6, &RETRY), Ok(Ended::Failed));
        assert_eq!(undo_finished(&mut steps, &graph, 2), vec![1]);
        assert_eq!(states(&steps), [Succeeded, Compensating, Failed, Failed]);
        assert!(steps[1].is_claimable(6) && !steps[0].is_claimable(6));

        let r1 = claim(&mut steps[1], "w", 7, LEASE).unwrap();
        assert_eq!((r1.job, r1.attempt, r1.fence), (JobKind::Rollback, 1, 2));
        assert_eq!(steps[1].state, Compensating, "a claimed rollback stays compensating");
        assert!(!heartbeat(&mut steps[1], r1.fence, 8, LEASE).unwrap().stop, "a rollback is never asked to stop");
        assert_eq!(complete(&mut steps[1], r1.fence, 9), Ok(Ended::Compensated));
        assert_eq!(undo_finished(&mut steps, &graph, 1), vec![0]);
        let r0 = claim(&mut steps[0], "w", 10, LEASE).unwrap();
        assert_eq!(stopped_outcome(&steps, StopReason::StepFailed), None);
        assert_eq!(complete(&mut steps[0], r0.fence, 11), Ok(Ended::Compensated));
        assert_eq!(undo_finished(&mut steps, &graph, 0), Vec::<usize>::new());
        assert_eq!(states(&steps), [Compensated, Compensated, Failed, Failed]);
        assert_eq!(stopped_outcome(&steps, StopReason::StepFailed), Some(RunStatus::RolledBack));
    }

    #[test]
    fn a_step_with_nothing_to_undo_passes_its_turn_on_in_order() {
        use StepState::*;
        let (mut steps, undo, deps, dependents) = chain([Undo::Recipe, Undo::Nothing, Undo::Recipe, Undo::Recipe]);
        let graph = Graph { undo: &undo, dependencies: &deps, dependents: &dependents };
        for i in 0..3 {
            succeed(&mut steps, i, &dependents, i as i64);
        }
        let c3 = claim(&mut steps[3], "w", 5, LEASE).unwrap();
        assert_eq!(fail(&mut steps[3], c3.fence, false, 6, &RETRY), Ok(Ended::Failed));
        // Step 0 must wait until step 2 is undone, even though step 1 between them needs nothing.
        assert_eq!(stop(&mut steps, &graph), vec![2]);
        assert_eq!(states(&steps), [Succeeded, Succeeded, Compensating, Failed]);
        let r2 = claim(&mut steps[2], "w", 7, LEASE).unwrap();
        assert_eq!(complete(&mut steps[2], r2.fence, 8), Ok(Ended::Compensated));
        assert_eq!(undo_finished(&mut steps, &graph, 2), vec![0]);
        assert_eq!(states(&steps), [Compensating, Succeeded, Compensated, Failed], "step 1 changed nothing and stays succeeded");
        let r0 = claim(&mut steps[0], "w", 9, LEASE).unwrap();
        assert_eq!(complete(&mut steps[0], r0.fence, 10), Ok(Ended::Compensated));
        assert_eq!(undo_finished(&mut steps, &graph, 0), Vec::<usize>::new());
        assert_eq!(stopped_outcome(&steps, StopReason::StepFailed), Some(RunStatus::RolledBack));
    }

    #[test]
    fn a_rollback_that_fails_for_good_or_cannot_exist_ends_the_plan_failed() {
        use StepState::*;
        // Step 1 changes things and has no recipe.
        let (mut steps, undo, deps, dependents) = chain([Undo::Recipe, Undo::Impossible, Undo::Recipe, Undo::Recipe]);
        let graph = Graph { undo: &undo, dependencies: &deps, dependents: &dependents };
        succeed(&mut steps, 0, &dependents, 1);
        succeed(&mut steps, 1, &dependents, 2);
        assert_eq!(stop(&mut steps, &graph), vec![0], "what could not be undone does not hold up the rest");
        assert_eq!(states(&steps), [Compensating, CompensationFailed, Skipped, Skipped]);
        // The rollback itself fails and is retried, then fails for good.
        let r0 = claim(&mut steps[0], "w", 3, LEASE).unwrap();
        assert_eq!(fail(&mut steps[0], r0.fence, true, 4, &RETRY), Ok(Ended::Retry { not_before: 1_004 }));
        assert_eq!(steps[0].state, Compensating);
        assert!(steps[0].is_claimable(1_004));
        let r0 = claim(&mut steps[0], "w", 1_004, LEASE).unwrap();
        assert_eq!(r0.attempt, 2);
        assert_eq!(fail(&mut steps[0], r0.fence, false, 1_005, &RETRY), Ok(Ended::CompensationFailed));
        assert_eq!(undo_finished(&mut steps, &graph, 0), Vec::<usize>::new());
        assert_eq!(stopped_outcome(&steps, StopReason::StepFailed), Some(RunStatus::Failed));
    }

    #[test]
    fn a_cancel_skips_what_has_not_started_and_undoes_what_finishes_after_it() {
        use StepState::*;
        let (mut steps, undo, deps, dependents) = chain([Undo::Recipe; 4]);
        let graph = Graph { undo: &undo, dependencies: &deps, dependents: &dependents };
        steps[3] = StepRun::new(0, true);
        succeed(&mut steps, 0, &dependents, 1);
        let c1 = claim(&mut steps[1], "w", 2, LEASE).unwrap();
        assert_eq!(stop(&mut steps, &graph), Vec::<usize>::new());
        assert_eq!(states(&steps), [Succeeded, Running, Skipped, Skipped]);
        assert_eq!(approval_decided(&mut steps[3], true), None, "a skipped step stays skipped when approved late");
        assert_eq!(steps[3].state, Skipped);
        // The running step finishes after all: it is undone first, then its dependency.
        assert_eq!(complete(&mut steps[1], c1.fence, 3), Ok(Ended::Succeeded));
        assert_eq!(succeeded_while_stopping(&mut steps, &graph, 1), vec![1]);
        assert!(!steps[1].stop_requested);
        let r1 = claim(&mut steps[1], "w", 4, LEASE).unwrap();
        assert_eq!((r1.job, r1.attempt), (JobKind::Rollback, 1));
        assert_eq!(complete(&mut steps[1], r1.fence, 5), Ok(Ended::Compensated));
        assert_eq!(undo_finished(&mut steps, &graph, 1), vec![0]);
        let r0 = claim(&mut steps[0], "w", 6, LEASE).unwrap();
        assert_eq!(complete(&mut steps[0], r0.fence, 7), Ok(Ended::Compensated));
        undo_finished(&mut steps, &graph, 0);
        assert_eq!(stopped_outcome(&steps, StopReason::Cancelled), Some(RunStatus::Cancelled));
    }

    #[test]
    fn a_running_step_whose_lease_expires_in_a_stopping_plan_fails_without_a_retry() {
        let (mut steps, undo, deps, dependents) = chain([Undo::Recipe; 4]);
        let graph = Graph { undo: &undo, dependencies: &deps, dependents: &dependents };
        succeed(&mut steps, 0, &dependents, 1);
        let c1 = claim(&mut steps[1], "w", 2, LEASE).unwrap();
        assert!(stop(&mut steps, &graph).is_empty());
        assert_eq!(expire_lease(&mut steps[1], c1.expires_at, &RETRY), Some(Ended::Failed));
        assert_eq!(undo_finished(&mut steps, &graph, 1), vec![0]);
    }

    #[test]
    fn a_plan_starts_at_once_after_an_approval_or_not_at_all() {
        let warn = Some(Verdict::Warn);
        assert_eq!(may_start(false, false, Verdict::Allow, warn), Ok(Start::Now));
        assert_eq!(may_start(false, false, Verdict::Warn, warn), Ok(Start::AfterApproval));
        assert_eq!(may_start(false, false, Verdict::Allow, Some(Verdict::Allow)), Ok(Start::AfterApproval));
        assert_eq!(may_start(false, false, Verdict::Warn, None), Ok(Start::Now));
        assert_eq!(may_start(true, false, Verdict::Block, warn), Err(StartRefusal::Blocked));
        assert_eq!(may_start(false, true, Verdict::Allow, warn), Err(StartRefusal::AlreadyStarted));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in StepState::ALL {
            assert_eq!(StepState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        for k in [JobKind::Run, JobKind::Rollback] {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(StepState::parse("Running"), None);
    }

    /// One operation of a worker against one step, at a time offset.
    #[derive(Debug, Clone)]
    enum Op {
        Claim(usize),
        Beat(usize),
        Complete(usize),
        Fail(usize, bool),
        Expire,
        Wait(i64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0..3usize).prop_map(Op::Claim),
            (0..3usize).prop_map(Op::Beat),
            (0..3usize).prop_map(Op::Complete),
            (0..3usize, any::<bool>()).prop_map(|(w, r)| Op::Fail(w, r)),
            Just(Op::Expire),
            (0..20_000i64).prop_map(Op::Wait),
        ]
    }

    proptest::proptest! {
        /// Three workers claim, beat, complete and fail one step in any order while time passes
        /// and leases expire: a lease is granted only when no earlier one is still live, and a
        /// report is accepted only from the newest lease before it expires.
        #[test]
        fn no_step_is_ever_held_by_two_live_leases(ops in proptest::collection::vec(op(), 1..80)) {
            let lease_ms = 5_000;
            let mut s = StepRun::new(0, false);
            let mut now = 0;
            // Per worker: the fence it holds. All granted leases: (fence, expiry, ended).
            let mut held: [Option<i64>; 3] = [None; 3];
            let mut granted: Vec<(i64, i64, bool)> = vec![];
            let mut accepted_completions = 0;
            for op in ops {
                match op {
                    Op::Wait(ms) => now += ms,
                    Op::Expire => {
                        if expire_lease(&mut s, now, &RETRY).is_some() {
                            granted.last_mut().unwrap().2 = true;
                        }
                    }
                    Op::Claim(w) => {
                        if let Ok(c) = claim(&mut s, &format!("w{w}"), now, lease_ms) {
                            for (_, expiry, ended) in &granted {
                                proptest::prop_assert!(*ended || *expiry <= now, "a live lease was still held");
                            }
                            granted.push((c.fence, c.expires_at, false));
                            held[w] = Some(c.fence);
                        }
                    }
                    Op::Beat(w) => {
                        let Some(fence) = held[w] else { continue };
                        if let Ok(b) = heartbeat(&mut s, fence, now, lease_ms) {
                            let last = granted.last_mut().unwrap();
                            proptest::prop_assert!(last.0 == fence && now < last.1 && !last.2);
                            last.1 = b.expires_at;
                        }
                    }
                    Op::Complete(w) | Op::Fail(w, _) if held[w].is_none() => {}
                    Op::Complete(w) => {
                        let fence = held[w].unwrap();
                        if complete(&mut s, fence, now).is_ok() {
                            let last = granted.last_mut().unwrap();
                            proptest::prop_assert!(last.0 == fence && now < last.1 && !last.2);
                            last.2 = true;
                            accepted_completions += 1;
                        }
                    }
                    Op::Fail(w, retryable) => {
                        let fence = held[w].unwrap();
                        if fail(&mut s, fence, retryable, now, &RETRY).is_ok() {
                            let last = granted.last_mut().unwrap();
                            proptest::prop_assert!(last.0 == fence && now < last.1 && !last.2);
                            last.2 = true;
                        }
                    }
                }
            }
            proptest::prop_assert!(accepted_completions <= 1);
            proptest::prop_assert!(s.attempt <= RETRY.max_attempts);
        }
    }
}
