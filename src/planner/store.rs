//! Plan persistence: the plan document as JSON plus summary columns, the items it covers, and one
//! `plan_evaluations` row per gate for each step and for the plan. Portable SQL (SQLite, PostgreSQL).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::error::AppResult;
use crate::plan::model::*;
use crate::plan::verdict::{Enforcement, Gate, GateVerdict, Verdict, VerdictCounts};
use crate::storage::{corrupt, Db};

/// Rows per multi-row insert: 12 binds a row stays far below SQLite's and PostgreSQL's limits.
const CHUNK: usize = 400;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Stores a judged plan (its `id` is ignored) and returns the new id.
pub async fn insert_plan(tx: &mut Transaction<'_, Any>, plan: &Plan, now: i64) -> AppResult<i64> {
    let packs: Vec<&str> = plan.groups.iter().map(|g| g.pack_name.as_str()).collect();
    let row = sqlx::query(
        "insert into plans (status, planner, request, graph, verdict_counts, packs, item_count, step_count, created_by, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning id",
    )
    .bind(plan.status.as_str())
    .bind(&plan.planner)
    .bind(json(&plan.request))
    .bind(json(plan))
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

    // One row per gate for the plan, then one per gate for every step.
    let (provider, model) = plan.planner.split_once('/').unwrap_or((plan.planner.as_str(), plan.planner.as_str()));
    let rows: Vec<(Option<&str>, &GateVerdict)> = plan
        .verdicts
        .iter()
        .map(|v| (None, v))
        .chain(plan.steps.iter().flat_map(|s| s.verdicts.iter().map(move |v| (Some(s.id.as_str()), v))))
        .collect();
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 11;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11
                )
            })
            .collect();
        let sql = format!(
            "insert into plan_evaluations (plan_id, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at) values {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (step, v) in chunk {
            q = q
                .bind(id)
                .bind(step.map(str::to_string))
                .bind(v.gate.as_str())
                .bind(v.verdict.as_str())
                .bind(v.enforcement.as_str())
                .bind(json(&v.rules))
                .bind(json(&v.reasons))
                .bind(json(&v.remediation))
                .bind(model)
                .bind(provider)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(id)
}

pub async fn get_plan(db: &Db, id: i64) -> AppResult<Option<Plan>> {
    let row = sqlx::query("select id, status, graph, created_at from plans where id = $1").bind(id).fetch_optional(db.reader()).await?;
    let Some(row) = row else { return Ok(None) };
    let graph: String = row.try_get("graph")?;
    let mut plan: Plan = serde_json::from_str(&graph).map_err(|e| {
        tracing::error!(plan = id, error = %e, "stored plan document does not parse");
        crate::error::AppError::internal()
    })?;
    // The row is the source of truth for what changes after planning.
    plan.id = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    plan.status = PlanStatus::parse(&status).ok_or_else(|| corrupt("plans", plan.id, "status", &status))?;
    plan.created_at = row.try_get("created_at")?;
    Ok(Some(plan))
}

pub async fn plan_exists(db: &Db, id: i64) -> AppResult<bool> {
    Ok(sqlx::query("select id from plans where id = $1").bind(id).fetch_optional(db.reader()).await?.is_some())
}

fn summary_from_row(r: &AnyRow) -> AppResult<PlanSummary> {
    let id: i64 = r.try_get("id")?;
    let counts: String = r.try_get("verdict_counts")?;
    let packs: String = r.try_get("packs")?;
    let status: String = r.try_get("status")?;
    Ok(PlanSummary {
        id,
        status: PlanStatus::parse(&status).ok_or_else(|| corrupt("plans", id, "status", &status))?,
        planner: r.try_get("planner")?,
        item_count: r.try_get("item_count")?,
        step_count: r.try_get("step_count")?,
        packs: serde_json::from_str(&packs).map_err(|_| corrupt("plans", id, "packs", &packs))?,
        verdict_counts: serde_json::from_str::<VerdictCounts>(&counts).map_err(|_| corrupt("plans", id, "verdict_counts", &counts))?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Newest first; optionally only one status.
pub async fn list_plans(db: &Db, status: Option<PlanStatus>, limit: i64) -> AppResult<Vec<PlanSummary>> {
    let rows = sqlx::query(
        "select id, status, planner, item_count, step_count, packs, verdict_counts, created_by, created_at from plans
         where ($1 = '' or status = $1) order by id desc limit $2",
    )
    .bind(status.map(|s| s.as_str()).unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(summary_from_row).collect()
}

pub async fn list_evaluations(db: &Db, plan_id: i64, f: &EvaluationFilter) -> AppResult<Vec<Evaluation>> {
    let step = f.step_id.clone().unwrap_or_default();
    let rows = sqlx::query(
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
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let text = |c: &str| -> AppResult<String> { Ok(r.try_get::<String, _>(c)?) };
            let list = |c: &str| -> AppResult<Vec<String>> {
                let v = text(c)?;
                serde_json::from_str(&v).map_err(|_| corrupt("plan_evaluations", id, c, &v))
            };
            let (gate, verdict, enforcement) = (text("gate")?, text("verdict")?, text("enforcement")?);
            Ok(Evaluation {
                id,
                plan_id: r.try_get("plan_id")?,
                step_id: r.try_get("step_id")?,
                gate: Gate::parse(&gate).ok_or_else(|| corrupt("plan_evaluations", id, "gate", &gate))?,
                verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("plan_evaluations", id, "verdict", &verdict))?,
                enforcement: Enforcement::parse(&enforcement)
                    .ok_or_else(|| corrupt("plan_evaluations", id, "enforcement", &enforcement))?,
                rules: list("rules")?,
                reasons: list("reasons")?,
                remediation: list("remediation")?,
                planner: r.try_get("planner")?,
                provider: r.try_get("provider")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
