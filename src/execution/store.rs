//! Run persistence: `plan_runs` (one per executed plan), `step_runs` (each step's state machine
//! row: state, lease, fence, counters) and `step_attempts` (the timeline). Portable SQL; on
//! PostgreSQL a transaction locks the plan run first and then its steps in index order, and
//! appends its events last, so two transitions never wait for each other in a circle.

use sqlx::{Any, Row, Transaction};

use super::model::*;
use crate::error::{AppError, AppResult};
use crate::plan::model::PlanStatus;
use crate::storage::{column, json_column, placeholders, Backend, Db};

/// A step's row: the state machine's part ([`StepRun`]) and what never changes after the start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStep {
    pub plan_id: i64,
    /// Its place in the plan's topological order (dependencies come first).
    pub idx: usize,
    pub step_id: String,
    pub tool: String,
    pub run: StepRun,
    pub approval_id: Option<i64>,
    pub undo: Undo,
    pub dependencies: Vec<usize>,
    pub dependents: Vec<usize>,
    /// What a worker receives (JSON): token, item, rollback recipe.
    pub work: String,
}

impl StoredStep {
    /// When a worker may claim it: `not_before` while it is claimable, else never (`None`).
    fn claim_at(&self) -> Option<i64> {
        let r = &self.run;
        let ready = match r.state {
            StepState::Claimable => r.lease.is_none(),
            StepState::Compensating => r.lease.is_none() && r.waiting_on == 0,
            _ => false,
        };
        ready.then_some(r.not_before)
    }
}

pub fn undo_str(u: Undo) -> &'static str {
    match u {
        Undo::Nothing => "nothing",
        Undo::Recipe => "recipe",
        Undo::Impossible => "impossible",
    }
}

fn parse_undo(s: &str) -> Option<Undo> {
    [Undo::Nothing, Undo::Recipe, Undo::Impossible].into_iter().find(|u| undo_str(*u) == s)
}

const STEP_COLUMNS: &str = "plan_id, idx, step_id, tool, state, job, attempt, fence, lease_worker, lease_expires_at, not_before, \
                            waiting_on, needs_approval, stop_requested, approval_id, undo, dependencies, dependents, work";

#[derive(sqlx::FromRow)]
struct StepRow {
    plan_id: i64,
    idx: i64,
    step_id: String,
    tool: String,
    state: String,
    job: String,
    attempt: i64,
    fence: i64,
    lease_worker: Option<String>,
    lease_expires_at: Option<i64>,
    not_before: i64,
    waiting_on: i64,
    needs_approval: i64,
    stop_requested: i64,
    approval_id: Option<i64>,
    undo: String,
    dependencies: String,
    dependents: String,
    work: String,
}

impl TryFrom<StepRow> for StoredStep {
    type Error = AppError;
    fn try_from(r: StepRow) -> AppResult<StoredStep> {
        const T: &str = "step_runs";
        let id = r.plan_id;
        let lease = match (r.lease_worker, r.lease_expires_at) {
            (Some(worker), Some(expires_at)) => Some(Lease { worker, expires_at }),
            _ => None,
        };
        Ok(StoredStep {
            run: StepRun {
                state: column(T, id, "state", &r.state, StepState::parse)?,
                job: column(T, id, "job", &r.job, JobKind::parse)?,
                attempt: r.attempt.max(0) as u32,
                fence: r.fence,
                lease,
                not_before: r.not_before,
                waiting_on: r.waiting_on.max(0) as u32,
                needs_approval: r.needs_approval != 0,
                stop_requested: r.stop_requested != 0,
            },
            undo: column(T, id, "undo", &r.undo, parse_undo)?,
            dependencies: json_column(T, id, "dependencies", &r.dependencies)?,
            dependents: json_column(T, id, "dependents", &r.dependents)?,
            plan_id: r.plan_id,
            idx: r.idx.max(0) as usize,
            step_id: r.step_id,
            tool: r.tool,
            approval_id: r.approval_id,
            work: r.work,
        })
    }
}

/// A `plan_runs` row.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRunRow {
    pub plan_id: i64,
    pub status: PlanStatus,
    pub stop_reason: Option<StopReason>,
    pub approval_id: Option<i64>,
    pub requested_by: String,
    pub requested_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub steps_total: i64,
    pub steps_succeeded: i64,
    /// The status as loaded (or inserted): the plan row is written only when it changes.
    pub stored_status: PlanStatus,
}

const RUN_COLUMNS: &str = "plan_id, status, stop_reason, approval_id, requested_by, requested_at, approved_by, approved_at, \
                           started_at, finished_at, steps_total, steps_succeeded";

#[derive(sqlx::FromRow)]
struct RunRow {
    plan_id: i64,
    status: String,
    stop_reason: Option<String>,
    approval_id: Option<i64>,
    requested_by: String,
    requested_at: i64,
    approved_by: Option<String>,
    approved_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    steps_total: i64,
    steps_succeeded: i64,
}

impl TryFrom<RunRow> for PlanRunRow {
    type Error = AppError;
    fn try_from(r: RunRow) -> AppResult<PlanRunRow> {
        const T: &str = "plan_runs";
        let id = r.plan_id;
        let status = column(T, id, "status", &r.status, PlanStatus::parse)?;
        Ok(PlanRunRow {
            status,
            stored_status: status,
            stop_reason: match r.stop_reason {
                Some(s) => Some(column(T, id, "stop_reason", &s, StopReason::parse)?),
                None => None,
            },
            plan_id: r.plan_id,
            approval_id: r.approval_id,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            approved_by: r.approved_by,
            approved_at: r.approved_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            steps_total: r.steps_total,
            steps_succeeded: r.steps_succeeded,
        })
    }
}

/// `select … for update` on PostgreSQL; SQLite's writer is the only writer, so the plain select
/// inside its transaction is already exclusive.
fn for_update(backend: Backend, skip_locked: bool) -> &'static str {
    match (backend, skip_locked) {
        (Backend::Sqlite, _) => "",
        (Backend::Postgres, false) => " for update",
        (Backend::Postgres, true) => " for update skip locked",
    }
}

pub async fn get_run(db: &Db, plan_id: i64) -> AppResult<Option<PlanRunRow>> {
    let sql = format!("select {RUN_COLUMNS} from plan_runs where plan_id = $1");
    sqlx::query_as::<_, RunRow>(&sql).bind(plan_id).fetch_optional(db.reader()).await?.map(PlanRunRow::try_from).transpose()
}

/// The plan's run, locked for the rest of the transaction.
pub async fn lock_run(tx: &mut Transaction<'_, Any>, backend: Backend, plan_id: i64) -> AppResult<Option<PlanRunRow>> {
    let sql = format!("select {RUN_COLUMNS} from plan_runs where plan_id = $1{}", for_update(backend, false));
    sqlx::query_as::<_, RunRow>(&sql).bind(plan_id).fetch_optional(&mut **tx).await?.map(PlanRunRow::try_from).transpose()
}

/// A new run, before its steps (`awaiting_approval`, or `running` when it starts at once).
pub async fn insert_run(tx: &mut Transaction<'_, Any>, r: &PlanRunRow, now: i64) -> AppResult<()> {
    sqlx::query(
        "insert into plan_runs (plan_id, status, approval_id, requested_by, requested_at, steps_total, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.plan_id)
    .bind(r.status.as_str())
    .bind(r.approval_id)
    .bind(&r.requested_by)
    .bind(r.requested_at)
    .bind(r.steps_total)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the run's changing columns, and the plan's status with it when it changed (the plan
/// row holds the whole plan document: rewriting it for every step would cost more than the step).
pub async fn save_run(tx: &mut Transaction<'_, Any>, r: &PlanRunRow, now: i64) -> AppResult<()> {
    sqlx::query(
        "update plan_runs set status = $2, stop_reason = $3, approved_by = $4, approved_at = $5, started_at = $6, finished_at = $7,
         steps_succeeded = $8, updated_at = $9 where plan_id = $1",
    )
    .bind(r.plan_id)
    .bind(r.status.as_str())
    .bind(r.stop_reason.map(StopReason::as_str))
    .bind(&r.approved_by)
    .bind(r.approved_at)
    .bind(r.started_at)
    .bind(r.finished_at)
    .bind(r.steps_succeeded)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if r.status != r.stored_status {
        set_plan_status(tx, r.plan_id, r.status, now).await?;
    }
    Ok(())
}

/// Whether a plan the gates blocked (`gate_blocked`, from its verdicts) is blocked at `now`:
/// the overrides in force lift its blocks until `plans.unblocked_until` (see `PlanStatus::at`).
/// Read inside the transaction that starts the plan, so an override that ran out a moment ago
/// never lets it start.
pub async fn blocked_at(tx: &mut Transaction<'_, Any>, plan_id: i64, gate_blocked: bool, now: i64) -> AppResult<bool> {
    if !gate_blocked {
        return Ok(false);
    }
    let row = sqlx::query("select unblocked_until from plans where id = $1").bind(plan_id).fetch_one(&mut **tx).await?;
    let until: Option<i64> = row.try_get("unblocked_until")?;
    Ok(PlanStatus::at(PlanStatus::Blocked, until, now).0 == PlanStatus::Blocked)
}

pub async fn set_plan_status(tx: &mut Transaction<'_, Any>, plan_id: i64, status: PlanStatus, now: i64) -> AppResult<()> {
    sqlx::query("update plans set status = $2, updated_at = $3 where id = $1")
        .bind(plan_id)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rows per insert statement: 21 parameters each, well below every engine's limit, and small
/// enough that sqlx's per-parameter name lookup stays cheap.
const INSERT_CHUNK: usize = 100;

pub async fn insert_steps(tx: &mut Transaction<'_, Any>, steps: &[StoredStep], now: i64) -> AppResult<()> {
    for chunk in steps.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 21 + 1, 21))).collect();
        let sql = format!(
            "insert into step_runs (plan_id, idx, step_id, tool, state, job, attempt, fence, lease_worker, lease_expires_at,
             not_before, claim_at, waiting_on, needs_approval, stop_requested, approval_id, undo, dependencies, dependents, work,
             updated_at) values {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in chunk {
            let r = &s.run;
            q = q
                .bind(s.plan_id)
                .bind(s.idx as i64)
                .bind(&s.step_id)
                .bind(&s.tool)
                .bind(r.state.as_str())
                .bind(r.job.as_str())
                .bind(r.attempt as i64)
                .bind(r.fence)
                .bind(r.lease.as_ref().map(|l| l.worker.clone()))
                .bind(r.lease.as_ref().map(|l| l.expires_at))
                .bind(r.not_before)
                .bind(s.claim_at())
                .bind(r.waiting_on as i64)
                .bind(r.needs_approval as i64)
                .bind(r.stop_requested as i64)
                .bind(s.approval_id)
                .bind(undo_str(s.undo))
                .bind(serde_json::to_string(&s.dependencies).unwrap_or_else(|_| "[]".into()))
                .bind(serde_json::to_string(&s.dependents).unwrap_or_else(|_| "[]".into()))
                .bind(&s.work)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes a step's changing columns (the state machine's and its approval link).
pub async fn save_step(tx: &mut Transaction<'_, Any>, s: &StoredStep, now: i64) -> AppResult<()> {
    let r = &s.run;
    sqlx::query(
        "update step_runs set state = $3, job = $4, attempt = $5, fence = $6, lease_worker = $7, lease_expires_at = $8,
         not_before = $9, claim_at = $10, waiting_on = $11, stop_requested = $12, approval_id = $13, updated_at = $14
         where plan_id = $1 and idx = $2",
    )
    .bind(s.plan_id)
    .bind(s.idx as i64)
    .bind(r.state.as_str())
    .bind(r.job.as_str())
    .bind(r.attempt as i64)
    .bind(r.fence)
    .bind(r.lease.as_ref().map(|l| l.worker.clone()))
    .bind(r.lease.as_ref().map(|l| l.expires_at))
    .bind(r.not_before)
    .bind(s.claim_at())
    .bind(r.waiting_on as i64)
    .bind(r.stop_requested as i64)
    .bind(s.approval_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One step by its id, locked.
pub async fn lock_step(tx: &mut Transaction<'_, Any>, backend: Backend, plan_id: i64, step_id: &str) -> AppResult<Option<StoredStep>> {
    let sql = format!("select {STEP_COLUMNS} from step_runs where plan_id = $1 and step_id = $2{}", for_update(backend, false));
    sqlx::query_as::<_, StepRow>(&sql).bind(plan_id).bind(step_id).fetch_optional(&mut **tx).await?.map(StoredStep::try_from).transpose()
}

/// Some steps of a plan by index, locked, in index order.
pub async fn lock_steps(tx: &mut Transaction<'_, Any>, backend: Backend, plan_id: i64, idx: &[usize]) -> AppResult<Vec<StoredStep>> {
    if idx.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "select {STEP_COLUMNS} from step_runs where plan_id = $1 and idx in ({}) order by idx{}",
        placeholders(2, idx.len()),
        for_update(backend, false)
    );
    let mut q = sqlx::query_as::<_, StepRow>(&sql).bind(plan_id);
    for i in idx {
        q = q.bind(*i as i64);
    }
    q.fetch_all(&mut **tx).await?.into_iter().map(StoredStep::try_from).collect()
}

/// Every step of a plan, locked, in index order.
pub async fn lock_all_steps(tx: &mut Transaction<'_, Any>, backend: Backend, plan_id: i64) -> AppResult<Vec<StoredStep>> {
    let sql = format!("select {STEP_COLUMNS} from step_runs where plan_id = $1 order by idx{}", for_update(backend, false));
    sqlx::query_as::<_, StepRow>(&sql).bind(plan_id).fetch_all(&mut **tx).await?.into_iter().map(StoredStep::try_from).collect()
}

/// The claimable step of one of `tools` that has waited longest, locked (and skipped by other
/// claimers on PostgreSQL while this transaction holds it).
pub async fn next_claimable(tx: &mut Transaction<'_, Any>, backend: Backend, tools: &[String], now: i64) -> AppResult<Option<StoredStep>> {
    let sql = format!(
        "select {STEP_COLUMNS} from step_runs where claim_at <= $1 and tool in ({}) order by claim_at, plan_id, idx limit 1{}",
        placeholders(2, tools.len()),
        for_update(backend, true)
    );
    let mut q = sqlx::query_as::<_, StepRow>(&sql).bind(now);
    for t in tools {
        q = q.bind(t);
    }
    q.fetch_optional(&mut **tx).await?.map(StoredStep::try_from).transpose()
}

/// When the next step of `tools` becomes claimable: now (or earlier) when one is, a later
/// moment when the soonest waits out a backoff, `None` when none is claimable. Read-only: long-
/// polling workers ask it before they take the write path.
pub async fn next_claim_at(db: &Db, tools: &[String]) -> AppResult<Option<i64>> {
    let sql =
        format!("select min(claim_at) as at from step_runs where claim_at is not null and tool in ({})", placeholders(1, tools.len()));
    let mut q = sqlx::query(&sql);
    for t in tools {
        q = q.bind(t);
    }
    Ok(q.fetch_one(db.reader()).await?.try_get::<Option<i64>, _>("at")?)
}

/// `(plan, step id)` of steps whose lease ran out before `now`, oldest first.
pub async fn expired_leases(db: &Db, now: i64, limit: i64) -> AppResult<Vec<(i64, String)>> {
    let rows = sqlx::query("select plan_id, step_id from step_runs where lease_expires_at <= $1 order by lease_expires_at limit $2")
        .bind(now)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|r| Ok((r.try_get("plan_id")?, r.try_get("step_id")?))).collect()
}

/// The soonest lease expiry, if any lease is held.
pub async fn next_lease_expiry(db: &Db) -> AppResult<Option<i64>> {
    Ok(sqlx::query("select min(lease_expires_at) as at from step_runs where lease_expires_at is not null")
        .fetch_one(db.reader())
        .await?
        .try_get::<Option<i64>, _>("at")?)
}

/// Steps waiting for an approval that has been decided (or expired), and plans waiting for one.
pub async fn settled_approvals(db: &Db) -> AppResult<(Vec<(i64, String)>, Vec<i64>)> {
    let steps = sqlx::query(
        "select s.plan_id, s.step_id from step_runs s join approvals a on a.id = s.approval_id
         where s.state = 'waiting_approval' and a.status <> 'pending' order by s.plan_id, s.idx limit 500",
    )
    .fetch_all(db.reader())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("plan_id")?, r.try_get("step_id")?)))
    .collect::<AppResult<Vec<_>>>()?;
    let plans = sqlx::query(
        "select r.plan_id from plan_runs r join approvals a on a.id = r.approval_id
         where r.status = 'awaiting_approval' and a.status <> 'pending' order by r.plan_id limit 500",
    )
    .fetch_all(db.reader())
    .await?
    .iter()
    .map(|r| r.try_get("plan_id"))
    .collect::<Result<Vec<i64>, _>>()?;
    Ok((steps, plans))
}

/// A claim's attempt, in the timeline.
pub async fn insert_attempt(tx: &mut Transaction<'_, Any>, s: &StoredStep, claimed: &Claimed, worker: &str, now: i64) -> AppResult<()> {
    sqlx::query(
        "insert into step_attempts (plan_id, step_idx, job, attempt, fence, worker, started_at, outcome)
         values ($1, $2, $3, $4, $5, $6, $7, 'running')",
    )
    .bind(s.plan_id)
    .bind(s.idx as i64)
    .bind(claimed.job.as_str())
    .bind(claimed.attempt as i64)
    .bind(claimed.fence)
    .bind(worker)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How an attempt ended, in the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    /// The lease ran out before the worker reported.
    LeaseExpired,
    /// The worker gave the step back unfinished (it was stopping).
    Released,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::LeaseExpired => "lease_expired",
            AttemptOutcome::Released => "released",
        }
    }
}

/// Ends the attempt of `fence`, with what the worker reported.
pub async fn end_attempt(
    tx: &mut Transaction<'_, Any>,
    s: &StoredStep,
    fence: i64,
    outcome: AttemptOutcome,
    report: &Report,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "update step_attempts set ended_at = $4, outcome = $5, exit_code = $6, output = $7, error = $8
         where plan_id = $1 and step_idx = $2 and fence = $3",
    )
    .bind(s.plan_id)
    .bind(s.idx as i64)
    .bind(fence)
    .bind(now)
    .bind(outcome.as_str())
    .bind(report.exit_code)
    .bind(&report.output)
    .bind(&report.error)
    .execute(&mut **tx)
    .await?;
    if report.output.is_some() || report.error.is_some() {
        sqlx::query("update step_runs set output = $3, error = $4 where plan_id = $1 and idx = $2")
            .bind(s.plan_id)
            .bind(s.idx as i64)
            .bind(&report.output)
            .bind(&report.error)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The output a running step's worker sent so far.
pub async fn set_output(tx: &mut Transaction<'_, Any>, s: &StoredStep, output: &str) -> AppResult<()> {
    sqlx::query("update step_runs set output = $3 where plan_id = $1 and idx = $2")
        .bind(s.plan_id)
        .bind(s.idx as i64)
        .bind(output)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What a worker reported with an attempt's end (all optional; bounded by the service).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub exit_code: Option<i64>,
    pub output: Option<String>,
    pub error: Option<String>,
}

/// A step's row as the run view shows it.
#[derive(sqlx::FromRow)]
pub struct StepViewRow {
    pub idx: i64,
    pub step_id: String,
    pub tool: String,
    pub state: String,
    pub job: String,
    pub attempt: i64,
    pub lease_worker: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub not_before: i64,
    pub approval_id: Option<i64>,
    pub stop_requested: i64,
    pub output: Option<String>,
    pub error: Option<String>,
    pub updated_at: i64,
}

pub async fn step_views(db: &Db, plan_id: i64) -> AppResult<Vec<StepViewRow>> {
    Ok(sqlx::query_as(
        "select idx, step_id, tool, state, job, attempt, lease_worker, lease_expires_at, not_before, approval_id, stop_requested,
         output, error, updated_at from step_runs where plan_id = $1 order by idx",
    )
    .bind(plan_id)
    .fetch_all(db.reader())
    .await?)
}

#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    pub step_idx: i64,
    pub job: String,
    pub attempt: i64,
    pub fence: i64,
    pub worker: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: String,
    pub exit_code: Option<i64>,
    pub output: Option<String>,
    pub error: Option<String>,
}

/// The plan's attempts, newest first, at most `limit`.
pub async fn attempts(db: &Db, plan_id: i64, limit: i64) -> AppResult<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "select step_idx, job, attempt, fence, worker, started_at, ended_at, outcome, exit_code, output, error
         from step_attempts where plan_id = $1 order by id desc limit $2",
    )
    .bind(plan_id)
    .bind(limit)
    .fetch_all(db.reader())
    .await?)
}
