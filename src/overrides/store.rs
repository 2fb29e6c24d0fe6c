//! Override persistence, and the plan's `unblocked_until` that the overrides in force decide.

use sqlx::Row;

use super::model::*;
use crate::error::{AppError, AppResult};
use crate::storage::{column, json_column, Backend, Db, Tx};

/// A new override, as inserted.
#[derive(Debug, Clone)]
pub struct NewOverride {
    pub plan_id: i64,
    pub target: Target,
    pub justification: String,
    pub status: OverrideStatus,
    pub created_by: String,
    pub created_role: crate::auth::model::Role,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, plan_id, target, gate, step_id, approval_id, justification, status, created_by, created_role,
    review_approval_id, expires_at, created_at, in_force_at, ended_at, ended_by, end_note";

#[derive(sqlx::FromRow)]
struct OverrideRow {
    id: i64,
    plan_id: i64,
    target: String,
    gate: Option<String>,
    step_id: Option<String>,
    approval_id: Option<i64>,
    justification: String,
    status: String,
    created_by: String,
    created_role: String,
    review_approval_id: Option<i64>,
    expires_at: i64,
    created_at: i64,
    in_force_at: Option<i64>,
    ended_at: Option<i64>,
    ended_by: Option<String>,
    end_note: Option<String>,
}

impl TryFrom<OverrideRow> for Override {
    type Error = AppError;
    fn try_from(r: OverrideRow) -> AppResult<Override> {
        const T: &str = "overrides";
        let gate = || {
            let g = r.gate.clone().unwrap_or_default();
            column(T, r.id, "gate", &g, crate::plan::verdict::Gate::parse)
        };
        let target = match r.target.as_str() {
            "plan_verdict" => Target::PlanVerdict { gate: gate()? },
            "step_verdict" => Target::StepVerdict { step_id: r.step_id.clone().unwrap_or_default(), gate: gate()? },
            "approval" => Target::Approval { approval_id: r.approval_id.unwrap_or_default() },
            other => return Err(crate::storage::corrupt(T, r.id, "target", other)),
        };
        Ok(Override {
            target,
            status: column(T, r.id, "status", &r.status, OverrideStatus::parse)?,
            created_role: column(T, r.id, "created_role", &r.created_role, crate::auth::model::Role::parse)?,
            id: r.id,
            plan_id: r.plan_id,
            justification: r.justification,
            created_by: r.created_by,
            review_approval_id: r.review_approval_id,
            expires_at: r.expires_at,
            created_at: r.created_at,
            in_force_at: r.in_force_at,
            ended_at: r.ended_at,
            ended_by: r.ended_by,
            end_note: r.end_note,
        })
    }
}

pub async fn insert(tx: &mut Tx, o: &NewOverride, now: i64) -> AppResult<Override> {
    let (gate, step_id, approval_id) = match &o.target {
        Target::PlanVerdict { gate } => (Some(gate.as_str()), None, None),
        Target::StepVerdict { step_id, gate } => (Some(gate.as_str()), Some(step_id.as_str()), None),
        Target::Approval { approval_id } => (None, None, Some(*approval_id)),
    };
    let in_force_at = (o.status != OverrideStatus::Pending).then_some(now);
    let row: OverrideRow = sqlx::query_as(&format!(
        "insert into overrides (plan_id, target, gate, step_id, approval_id, justification, status, created_by, created_role,
         expires_at, created_at, in_force_at, ended_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         returning {COLUMNS}"
    ))
    .bind(o.plan_id)
    .bind(o.target.kind())
    .bind(gate)
    .bind(step_id)
    .bind(approval_id)
    .bind(&o.justification)
    .bind(o.status.as_str())
    .bind(&o.created_by)
    .bind(o.created_role.as_str())
    .bind(o.expires_at)
    .bind(now)
    .bind(in_force_at)
    .bind((o.status == OverrideStatus::Applied).then_some(now))
    .fetch_one(&mut **tx)
    .await?;
    Override::try_from(row)
}

pub async fn set_review(tx: &mut Tx, id: i64, approval_id: i64) -> AppResult<()> {
    sqlx::query("update overrides set review_approval_id = $1 where id = $2").bind(approval_id).bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// Locks override `id` for the rest of the transaction (PostgreSQL `for update`; SQLite has one
/// writer).
pub async fn lock(tx: &mut Tx, backend: Backend, id: i64) -> AppResult<Option<Override>> {
    let lock = if backend == Backend::Postgres { " for update" } else { "" };
    let row: Option<OverrideRow> =
        sqlx::query_as(&format!("select {COLUMNS} from overrides where id = $1{lock}")).bind(id).fetch_optional(&mut **tx).await?;
    row.map(Override::try_from).transpose()
}

/// Writes a new status: in force (`Active`), or ended by `by` with `note`.
pub async fn set_status(tx: &mut Tx, id: i64, status: OverrideStatus, by: Option<&str>, note: Option<&str>, now: i64) -> AppResult<()> {
    let ended = !status.is_live() && status != OverrideStatus::Applied;
    sqlx::query(
        "update overrides set status = $1,
           in_force_at = case when $1 in ('active', 'applied') then $2 else in_force_at end,
           ended_at = case when $3 = 1 then $2 else ended_at end,
           ended_by = case when $3 = 1 then $4 else ended_by end,
           end_note = case when $3 = 1 then $5 else end_note end
         where id = $6",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(ended as i64)
    .bind(by)
    .bind(note)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Plan `plan_id`'s overrides, newest first.
pub async fn for_plan(db: &Db, plan_id: i64) -> AppResult<Vec<Override>> {
    let rows: Vec<OverrideRow> = sqlx::query_as(&format!("select {COLUMNS} from overrides where plan_id = $1 order by id desc"))
        .bind(plan_id)
        .fetch_all(db.reader())
        .await?;
    rows.into_iter().map(Override::try_from).collect()
}

/// Plan `plan_id`'s live (pending or active) overrides at `now`, in the caller's transaction.
pub async fn live(tx: &mut Tx, plan_id: i64, now: i64) -> AppResult<Vec<Override>> {
    let rows: Vec<OverrideRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from overrides where plan_id = $1 and status in ('pending', 'active') and expires_at > $2"
    ))
    .bind(plan_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(Override::try_from).collect()
}

/// The active verdict overrides of plan `plan_id` at `now`, in the caller's transaction.
pub async fn in_force(tx: &mut Tx, plan_id: i64, now: i64) -> AppResult<Vec<(Target, i64)>> {
    let rows: Vec<OverrideRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from overrides where plan_id = $1 and status = 'active' and target <> 'approval' and expires_at > $2"
    ))
    .bind(plan_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(|r| Override::try_from(r).map(|o| (o.target, o.expires_at))).collect()
}

/// The plan's stored status, `unblocked_until` and document, locked for the transaction.
pub async fn lock_plan(tx: &mut Tx, backend: Backend, plan_id: i64) -> AppResult<Option<(String, Option<i64>, String)>> {
    let lock = if backend == Backend::Postgres { " for update" } else { "" };
    let row = sqlx::query(&format!("select status, unblocked_until, graph from plans where id = $1{lock}"))
        .bind(plan_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some((r.try_get("status")?, r.try_get("unblocked_until")?, r.try_get("graph")?)))
}

pub async fn set_unblocked_until(tx: &mut Tx, plan_id: i64, until: Option<i64>, now: i64) -> AppResult<()> {
    sqlx::query("update plans set unblocked_until = $1, updated_at = $2 where id = $3")
        .bind(until)
        .bind(now)
        .bind(plan_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The plan document stored for `plan_id` (the override rules read its verdicts).
pub fn document(plan_id: i64, graph: &str) -> AppResult<crate::plan::model::Plan> {
    json_column("plans", plan_id, "graph", graph)
}

/// Overrides that are live past their expiry (to write as expired), at most `limit`.
pub async fn due(db: &Db, now: i64, limit: i64) -> AppResult<Vec<i64>> {
    let rows =
        sqlx::query("select id from overrides where status in ('active', 'pending') and expires_at <= $1 order by expires_at limit $2")
            .bind(now)
            .bind(limit)
            .fetch_all(db.reader())
            .await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?)
}

/// The earliest expiry of a live override.
pub async fn next_expiry(db: &Db) -> AppResult<Option<i64>> {
    let row =
        sqlx::query("select min(expires_at) as at from overrides where status in ('active', 'pending')").fetch_one(db.reader()).await?;
    Ok(row.try_get("at")?)
}

/// Pending overrides whose review was decided (to apply), at most `limit`.
pub async fn reviewed(db: &Db, limit: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query(
        "select o.id from overrides o join approvals a on a.id = o.review_approval_id
         where o.status = 'pending' and a.status <> 'pending' order by o.id limit $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?)
}

/// The status of approval `id` and who decided it, read in the transaction.
pub async fn review_outcome(tx: &mut Tx, id: i64) -> AppResult<Option<(String, Option<String>)>> {
    let row = sqlx::query("select status, decided_by from approvals where id = $1").bind(id).fetch_optional(&mut **tx).await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some((r.try_get("status")?, r.try_get("decided_by")?)))
}
