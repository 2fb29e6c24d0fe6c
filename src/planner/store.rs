//! Plan persistence: the plan document as JSON plus summary columns, and the items it covers. The
//! gate verdicts are part of the document; `plan_evaluations` is a view that reads them out of it
//! (one row per gate for the plan and for each step). Portable SQL (SQLite, PostgreSQL).

use sqlx::{Any, Row, Transaction};

use crate::error::{AppError, AppResult};
use crate::plan::model::*;
use crate::plan::verdict::{Enforcement, Gate, Verdict, VerdictCounts};
use crate::storage::{column, json_column, Backend, Db};

/// A column's JSON text. The plan's types always serialise; should one ever fail, the plan is
/// not stored (500) rather than stored with a `null` in its place.
fn json<T: serde::Serialize>(v: &T) -> AppResult<String> {
    serde_json::to_string(v).map_err(|e| {
        tracing::error!(error = %e, "a plan part does not serialise");
        AppError::internal()
    })
}

/// What storing a plan writes, taken from the judged plan once, before the write: the write op
/// may run twice (see `storage::writer`), and it then needs only this, not the plan itself.
pub struct PlanRecord {
    pub status: PlanStatus,
    pub planner: String,
    pub request: String,
    /// The plan serialised once (with id 0: the row's id is the truth).
    pub document: String,
    pub verdict_counts: String,
    pub packs: String,
    pub step_count: i64,
    pub created_by: String,
    /// `(item id, pack id, pulled in)` for `plan_items`.
    pub items: Vec<(i64, i64, bool)>,
}

impl PlanRecord {
    pub fn of(plan: &Plan, document: String) -> AppResult<PlanRecord> {
        let packs: Vec<&str> = plan.groups.iter().map(|g| g.pack_name.as_str()).collect();
        Ok(PlanRecord {
            status: plan.status,
            planner: plan.planner.clone(),
            request: json(&plan.request)?,
            document,
            verdict_counts: json(&plan.verdict_counts)?,
            packs: json(&packs)?,
            step_count: plan.steps.len() as i64,
            created_by: plan.created_by.clone(),
            items: plan.items.iter().map(|i| (i.id, i.pack_id, i.pulled_in)).collect(),
        })
    }
}

/// Stores a judged plan and returns the new id: the plan row with its document, and its items.
pub async fn insert_plan(tx: &mut Transaction<'_, Any>, backend: Backend, plan: &PlanRecord, now: i64) -> AppResult<i64> {
    let row = sqlx::query(
        "insert into plans (status, planner, request, graph, verdict_counts, packs, item_count, step_count, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning id",
    )
    .bind(plan.status.as_str())
    .bind(&plan.planner)
    .bind(&plan.request)
    .bind(&plan.document)
    .bind(&plan.verdict_counts)
    .bind(&plan.packs)
    .bind(plan.items.len() as i64)
    .bind(plan.step_count)
    .bind(&plan.created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let id: i64 = row.try_get("id")?;

    // One JSON array parameter for all the items: a statement with thousands of bind parameters
    // costs SQLite time quadratic in their number (each bind looks its parameter's name up in a
    // list), 2,000 items took tens of milliseconds that way.
    let rows: Vec<[i64; 3]> = plan.items.iter().map(|&(item, pack, pulled_in)| [item, pack, pulled_in as i64]).collect();
    let sql = match backend {
        Backend::Sqlite => {
            "insert into plan_items (plan_id, item_id, pack_id, pulled_in)
             select $1, value ->> 0, value ->> 1, value ->> 2 from json_each($2)"
        }
        Backend::Postgres => {
            "insert into plan_items (plan_id, item_id, pack_id, pulled_in)
             select $1, (value ->> 0)::bigint, (value ->> 1)::bigint, (value ->> 2)::bigint from json_array_elements($2::json)"
        }
    };
    sqlx::query(sql).bind(id).bind(json(&rows)?).execute(&mut **tx).await?;

    Ok(id)
}

/// A `plans` row with the plan document.
#[derive(sqlx::FromRow)]
struct PlanRow {
    id: i64,
    status: String,
    graph: String,
    created_at: i64,
    unblocked_until: Option<i64>,
}

impl TryFrom<PlanRow> for Plan {
    type Error = AppError;
    fn try_from(r: PlanRow) -> AppResult<Plan> {
        let mut plan: Plan = serde_json::from_str(&r.graph).map_err(|e| {
            tracing::error!(table = "plans", id = r.id, column = "graph", error = %e, "stored plan document does not parse");
            AppError::internal()
        })?;
        // The row is the source of truth for what changes after planning.
        plan.id = r.id;
        let stored = column("plans", r.id, "status", &r.status, PlanStatus::parse)?;
        (plan.status, plan.unblocked_until) = PlanStatus::at(stored, r.unblocked_until, crate::storage::now_ms());
        plan.created_at = r.created_at;
        Ok(plan)
    }
}

pub async fn get_plan(db: &Db, id: i64) -> AppResult<Option<Plan>> {
    let row: Option<PlanRow> = sqlx::query_as("select id, status, graph, created_at, unblocked_until from plans where id = $1")
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.map(Plan::try_from).transpose()
}

pub async fn plan_exists(db: &Db, id: i64) -> AppResult<bool> {
    Ok(sqlx::query("select id from plans where id = $1").bind(id).fetch_optional(db.reader()).await?.is_some())
}

/// A `plans` row as stored (the summary columns).
#[derive(sqlx::FromRow)]
struct PlanSummaryRow {
    id: i64,
    status: String,
    steps_succeeded: Option<i64>,
    planner: String,
    item_count: i64,
    step_count: i64,
    packs: String,
    verdict_counts: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<PlanSummaryRow> for PlanSummary {
    type Error = AppError;
    fn try_from(r: PlanSummaryRow) -> AppResult<PlanSummary> {
        Ok(PlanSummary {
            status: column("plans", r.id, "status", &r.status, PlanStatus::parse)?,
            packs: json_column("plans", r.id, "packs", &r.packs)?,
            verdict_counts: json_column::<VerdictCounts>("plans", r.id, "verdict_counts", &r.verdict_counts)?,
            id: r.id,
            steps_succeeded: r.steps_succeeded,
            planner: r.planner,
            item_count: r.item_count,
            step_count: r.step_count,
            created_by: r.created_by,
            created_at: r.created_at,
        })
    }
}

/// A `plan_evaluations` row, as the view reads it out of the plan document.
#[derive(sqlx::FromRow)]
struct EvaluationRow {
    plan_id: i64,
    step_id: Option<String>,
    gate: String,
    verdict: String,
    enforcement: String,
    rules: String,
    reasons: String,
    remediation: String,
    planner: String,
    provider: String,
    created_at: i64,
}

impl TryFrom<EvaluationRow> for Evaluation {
    type Error = AppError;
    fn try_from(r: EvaluationRow) -> AppResult<Evaluation> {
        // Logged by the plan it belongs to: the view's rows are the plan document's verdicts.
        const T: &str = "plan_evaluations";
        let id = r.plan_id;
        Ok(Evaluation {
            gate: column(T, id, "gate", &r.gate, Gate::parse)?,
            verdict: column(T, id, "verdict", &r.verdict, Verdict::parse)?,
            enforcement: column(T, id, "enforcement", &r.enforcement, Enforcement::parse)?,
            rules: json_column(T, id, "rules", &r.rules)?,
            reasons: json_column(T, id, "reasons", &r.reasons)?,
            remediation: json_column(T, id, "remediation", &r.remediation)?,
            plan_id: r.plan_id,
            step_id: r.step_id,
            planner: r.planner,
            provider: r.provider,
            created_at: r.created_at,
        })
    }
}

/// Plans that run (or wait for their approval) first, then the rest; newest first within each.
/// Optionally only one status.
pub async fn list_plans(db: &Db, status: Option<PlanStatus>, limit: i64) -> AppResult<Vec<PlanSummary>> {
    // The status as `PlanStatus::at` computes it: blocked plans read ready while their overrides last.
    let rows: Vec<PlanSummaryRow> = sqlx::query_as(
        "select * from (select p.id,
           case when p.status = 'blocked' and p.unblocked_until > $3 then 'ready' else p.status end as status,
           r.steps_succeeded, p.planner, p.item_count, p.step_count, p.packs, p.verdict_counts, p.created_by, p.created_at
         from plans p left join plan_runs r on r.plan_id = p.id) p
         where ($1 = '' or p.status = $1)
         order by case when p.status in ('running', 'rolling_back', 'awaiting_approval') then 0 else 1 end, p.id desc limit $2",
    )
    .bind(status.map(|s| s.as_str()).unwrap_or(""))
    .bind(limit)
    .bind(crate::storage::now_ms())
    .fetch_all(db.reader())
    .await?;
    rows.into_iter().map(PlanSummary::try_from).collect()
}

pub async fn list_evaluations(db: &Db, plan_id: i64, f: &EvaluationFilter) -> AppResult<Vec<Evaluation>> {
    let step = f.step_id.clone().unwrap_or_default();
    let rows: Vec<EvaluationRow> = sqlx::query_as(
        "select plan_id, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at
         from plan_evaluations where plan_id = $1 and ($2 = '' or gate = $2) and ($3 = '' or verdict = $3)
         and ($4 = '' or ($4 = 'plan' and step_id is null) or step_id = $4) order by step_index, gate_index",
    )
    .bind(plan_id)
    .bind(f.gate.map(|g| g.as_str()).unwrap_or(""))
    .bind(f.verdict.map(|v| v.as_str()).unwrap_or(""))
    .bind(step)
    .fetch_all(db.reader())
    .await?;
    rows.into_iter().map(Evaluation::try_from).collect()
}
