//! Plan persistence: the plan document as JSON plus summary columns, the items it covers, and one
//! `plan_evaluations` row per gate for each step and for the plan. Portable SQL (SQLite, PostgreSQL).

use sqlx::{Any, Row, Transaction};

use crate::error::{AppError, AppResult};
use crate::plan::model::*;
use crate::plan::verdict::{Enforcement, Gate, Verdict, VerdictCounts};
use crate::storage::{column, json_column, Backend, Db};

/// Rows per multi-row insert: 12 binds a row stays far below SQLite's and PostgreSQL's limits.
const CHUNK: usize = 400;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Stores a judged plan and returns the new id. `document` is the plan serialised once by the
/// caller (with id 0: the row's id is the truth); the evaluation rows are read out of it by the
/// database itself, so 16,000 verdict rows cost one statement and no per-row binding.
pub async fn insert_plan(tx: &mut Transaction<'_, Any>, backend: Backend, plan: &Plan, document: &str, now: i64) -> AppResult<i64> {
    let packs: Vec<&str> = plan.groups.iter().map(|g| g.pack_name.as_str()).collect();
    let row = sqlx::query(
        "insert into plans (status, planner, request, graph, verdict_counts, packs, item_count, step_count, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning id",
    )
    .bind(plan.status.as_str())
    .bind(&plan.planner)
    .bind(json(&plan.request))
    .bind(document)
    .bind(json(&plan.verdict_counts))
    .bind(json(&packs))
    .bind(plan.items.len() as i64)
    .bind(plan.steps.len() as i64)
    .bind(&plan.created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let id: i64 = row.try_get("id")?;

    for chunk in plan.items.chunks(CHUNK) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, ${}, ${}, ${})", i * 4 + 1, i * 4 + 2, i * 4 + 3, i * 4 + 4)).collect();
        let sql = format!("insert into plan_items (plan_id, item_id, pack_id, pulled_in) values {}", values.join(", "));
        let mut q = sqlx::query(&sql);
        for it in chunk {
            q = q.bind(id).bind(it.id).bind(it.pack_id).bind(it.pulled_in as i64);
        }
        q.execute(&mut **tx).await?;
    }

    // One row per gate for the plan, then one per gate for every step, in that order.
    let (provider, model) = plan.planner.split_once('/').unwrap_or((plan.planner.as_str(), plan.planner.as_str()));
    sqlx::query(evaluations_from_document(backend)).bind(id).bind(model).bind(provider).bind(now).execute(&mut **tx).await?;
    Ok(id)
}

/// `insert … select` of a plan's evaluation rows from its stored document (`$1` the plan id,
/// `$2` planner, `$3` provider, `$4` time). The same columns on both engines; only the JSON
/// table functions differ (SQLite `json_each`, PostgreSQL `json_array_elements`). A verdict's
/// lists are written as the JSON arrays they are in the document.
fn evaluations_from_document(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "insert into plan_evaluations (plan_id, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at)
             select plan_id, step_id, v ->> 'gate', v ->> 'verdict', v ->> 'enforcement',
                    coalesce(v ->> 'rules', '[]'), coalesce(v ->> 'reasons', '[]'), coalesce(v ->> 'remediation', '[]'),
                    cast($2 as text), cast($3 as text), cast($4 as bigint)
             from (
               select p.id as plan_id, cast(null as text) as step_id, -1 as s, v.key as n, v.value as v
               from plans p, json_each(p.graph, '$.verdicts') v where p.id = $1
               union all
               select p.id, s.value ->> 'id', s.key, v.key, v.value
               from plans p, json_each(p.graph, '$.steps') s, json_each(s.value, '$.verdicts') v where p.id = $1
             ) x
             order by s, n"
        }
        Backend::Postgres => {
            "with doc as (select id, cast(graph as json) as g from plans where id = $1)
             insert into plan_evaluations (plan_id, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at)
             select plan_id, step_id, v ->> 'gate', v ->> 'verdict', v ->> 'enforcement',
                    coalesce(v ->> 'rules', '[]'), coalesce(v ->> 'reasons', '[]'), coalesce(v ->> 'remediation', '[]'),
                    cast($2 as text), cast($3 as text), cast($4 as bigint)
             from (
               select d.id as plan_id, cast(null as text) as step_id, -1 as s, v.n as n, v.value as v
               from doc d, json_array_elements(d.g -> 'verdicts') with ordinality as v(value, n)
               union all
               select d.id, s.value ->> 'id', s.n, v.n, v.value
               from doc d, json_array_elements(d.g -> 'steps') with ordinality as s(value, n),
                    json_array_elements(s.value -> 'verdicts') with ordinality as v(value, n)
             ) x
             order by s, n"
        }
    }
}

/// A `plans` row with the plan document.
#[derive(sqlx::FromRow)]
struct PlanRow {
    id: i64,
    status: String,
    graph: String,
    created_at: i64,
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
        plan.status = column("plans", r.id, "status", &r.status, PlanStatus::parse)?;
        plan.created_at = r.created_at;
        Ok(plan)
    }
}

pub async fn get_plan(db: &Db, id: i64) -> AppResult<Option<Plan>> {
    let row: Option<PlanRow> =
        sqlx::query_as("select id, status, graph, created_at from plans where id = $1").bind(id).fetch_optional(db.reader()).await?;
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
            planner: r.planner,
            item_count: r.item_count,
            step_count: r.step_count,
            created_by: r.created_by,
            created_at: r.created_at,
        })
    }
}

/// A `plan_evaluations` row as stored.
#[derive(sqlx::FromRow)]
struct EvaluationRow {
    id: i64,
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
        const T: &str = "plan_evaluations";
        Ok(Evaluation {
            gate: column(T, r.id, "gate", &r.gate, Gate::parse)?,
            verdict: column(T, r.id, "verdict", &r.verdict, Verdict::parse)?,
            enforcement: column(T, r.id, "enforcement", &r.enforcement, Enforcement::parse)?,
            rules: json_column(T, r.id, "rules", &r.rules)?,
            reasons: json_column(T, r.id, "reasons", &r.reasons)?,
            remediation: json_column(T, r.id, "remediation", &r.remediation)?,
            id: r.id,
            plan_id: r.plan_id,
            step_id: r.step_id,
            planner: r.planner,
            provider: r.provider,
            created_at: r.created_at,
        })
    }
}

/// Newest first; optionally only one status.
pub async fn list_plans(db: &Db, status: Option<PlanStatus>, limit: i64) -> AppResult<Vec<PlanSummary>> {
    let rows: Vec<PlanSummaryRow> = sqlx::query_as(
        "select id, status, planner, item_count, step_count, packs, verdict_counts, created_by, created_at from plans
         where ($1 = '' or status = $1) order by id desc limit $2",
    )
    .bind(status.map(|s| s.as_str()).unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.into_iter().map(PlanSummary::try_from).collect()
}

pub async fn list_evaluations(db: &Db, plan_id: i64, f: &EvaluationFilter) -> AppResult<Vec<Evaluation>> {
    let step = f.step_id.clone().unwrap_or_default();
    let rows: Vec<EvaluationRow> = sqlx::query_as(
        "select id, plan_id, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at
         from plan_evaluations where plan_id = $1 and ($2 = '' or gate = $2) and ($3 = '' or verdict = $3)
         and ($4 = '' or ($4 = 'plan' and step_id is null) or step_id = $4) order by id",
    )
    .bind(plan_id)
    .bind(f.gate.map(|g| g.as_str()).unwrap_or(""))
    .bind(f.verdict.map(|v| v.as_str()).unwrap_or(""))
    .bind(step)
    .fetch_all(db.reader())
    .await?;
    rows.into_iter().map(Evaluation::try_from).collect()
}
