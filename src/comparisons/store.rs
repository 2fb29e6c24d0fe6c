//! Comparison persistence: `model_comparisons` (the request, the best and the chosen candidate,
//! who chose) and `comparison_candidates` (one row per provider, with its gated plan document
//! when valid). Verdicts per step and per model come out of the documents through the
//! `plan_evaluations` view. Portable SQL (SQLite, PostgreSQL).

use sqlx::{Any, Row, Transaction};

use super::model::*;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::plan::model::{EvaluationFilter, Plan};
use crate::storage::{column, json_column, Db};

/// One candidate as stored: what the API shows, and the gated plan document of a valid one (id 0).
#[derive(Debug, Clone)]
pub struct CandidateRecord {
    pub candidate: Candidate,
    pub document: Option<String>,
}

/// What storing a comparison writes (the write op may run twice; it needs only this).
pub struct ComparisonRecord {
    pub request: String,
    pub item_count: i64,
    pub best_index: Option<usize>,
    pub created_by: String,
    pub candidates: Vec<CandidateRecord>,
}

fn json<T: serde::Serialize>(v: &T) -> AppResult<String> {
    serde_json::to_string(v).map_err(|_| AppError::internal())
}

pub async fn insert(tx: &mut Transaction<'_, Any>, r: &ComparisonRecord, now: i64) -> AppResult<i64> {
    let row = sqlx::query(
        "insert into model_comparisons (request, item_count, best_index, created_by, created_at) values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(&r.request)
    .bind(r.item_count)
    .bind(r.best_index.map(|i| i as i64))
    .bind(&r.created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let id: i64 = row.try_get("id")?;
    for (idx, CandidateRecord { candidate: c, document }) in r.candidates.iter().enumerate() {
        sqlx::query(
            "insert into comparison_candidates (comparison_id, idx, provider, planner, status, error, rationale, latency_ms,
               input_tokens, output_tokens, score, figures, parts, graph, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(id)
        .bind(idx as i64)
        .bind(&c.provider)
        .bind(&c.planner)
        .bind(c.status.as_str())
        .bind(c.error.as_ref().map(json).transpose()?)
        .bind(&c.rationale)
        .bind(c.latency_ms)
        .bind(c.input_tokens)
        .bind(c.output_tokens)
        .bind(c.score)
        .bind(c.figures.as_ref().map(json).transpose()?)
        .bind(c.parts.as_ref().map(json).transpose()?)
        .bind(document.as_deref())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// Claims candidate `idx` of comparison `id` as the kept one, before anything else is written;
/// refuses (nothing written) when a candidate was kept already.
pub async fn claim_choice(tx: &mut Transaction<'_, Any>, id: i64, idx: usize, who: &str, now: i64) -> AppResult<()> {
    let done = sqlx::query(
        "update model_comparisons set chosen_index = $2, chosen_by = $3, chosen_at = $4 where id = $1 and chosen_index is null",
    )
    .bind(id)
    .bind(idx as i64)
    .bind(who)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::conflict(
            ErrorCode::AlreadyChosen,
            format!("Comparison {id} has already kept a candidate as its plan; open that plan, or compare again."),
        ));
    }
    Ok(())
}

/// Records the plan made from the kept candidate.
pub async fn set_plan(tx: &mut Transaction<'_, Any>, id: i64, plan_id: i64) -> AppResult<()> {
    sqlx::query("update model_comparisons set plan_id = $2 where id = $1").bind(id).bind(plan_id).execute(&mut **tx).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ComparisonRow {
    id: i64,
    request: String,
    item_count: i64,
    best_index: Option<i64>,
    chosen_index: Option<i64>,
    plan_id: Option<i64>,
    chosen_by: Option<String>,
    chosen_at: Option<i64>,
    created_by: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    comparison_id: i64,
    idx: i64,
    provider: String,
    planner: String,
    status: String,
    error: Option<String>,
    rationale: String,
    latency_ms: i64,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    score: Option<f64>,
    figures: Option<String>,
    parts: Option<String>,
    has_plan: i64,
}

const T: &str = "comparison_candidates";

impl TryFrom<CandidateRow> for Candidate {
    type Error = AppError;
    fn try_from(r: CandidateRow) -> AppResult<Candidate> {
        let id = r.comparison_id;
        Ok(Candidate {
            index: r.idx as usize,
            status: column(T, id, "status", &r.status, CandidateStatus::parse)?,
            error: r.error.as_deref().map(|e| json_column(T, id, "error", e)).transpose()?,
            figures: r.figures.as_deref().map(|e| json_column(T, id, "figures", e)).transpose()?,
            parts: r.parts.as_deref().map(|e| json_column(T, id, "parts", e)).transpose()?,
            provider: r.provider,
            planner: r.planner,
            rationale: r.rationale,
            latency_ms: r.latency_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            score: r.score,
            has_plan: r.has_plan != 0,
        })
    }
}

const CANDIDATE_COLUMNS: &str = "comparison_id, idx, provider, planner, status, error, rationale, latency_ms, input_tokens, output_tokens,
    score, figures, parts, case when graph is null then 0 else 1 end as has_plan";

fn comparison(r: ComparisonRow, candidates: Vec<Candidate>) -> AppResult<Comparison> {
    Ok(Comparison {
        request: json_column("model_comparisons", r.id, "request", &r.request)?,
        id: r.id,
        item_count: r.item_count,
        best: r.best_index.map(|i| i as usize),
        chosen: r.chosen_index.map(|i| i as usize),
        plan_id: r.plan_id,
        chosen_by: r.chosen_by,
        chosen_at: r.chosen_at,
        created_by: r.created_by,
        created_at: r.created_at,
        candidates,
    })
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Comparison>> {
    let row: Option<ComparisonRow> =
        sqlx::query_as("select * from model_comparisons where id = $1").bind(id).fetch_optional(db.reader()).await?;
    let Some(row) = row else { return Ok(None) };
    let rows: Vec<CandidateRow> =
        sqlx::query_as(&format!("select {CANDIDATE_COLUMNS} from comparison_candidates where comparison_id = $1 order by idx"))
            .bind(id)
            .fetch_all(db.reader())
            .await?;
    let candidates = rows.into_iter().map(Candidate::try_from).collect::<AppResult<Vec<_>>>()?;
    comparison(row, candidates).map(Some)
}

/// The comparison whose kept candidate became plan `plan_id`.
pub async fn of_plan(db: &Db, plan_id: i64) -> AppResult<Option<i64>> {
    let row = sqlx::query("select id from model_comparisons where plan_id = $1").bind(plan_id).fetch_optional(db.reader()).await?;
    row.map(|r| r.try_get::<i64, _>("id").map_err(AppError::from)).transpose()
}

/// The newest comparisons (without their candidates' documents), newest first.
pub async fn list(db: &Db, limit: i64) -> AppResult<Vec<Comparison>> {
    let rows: Vec<ComparisonRow> =
        sqlx::query_as("select * from model_comparisons order by id desc limit $1").bind(limit).fetch_all(db.reader()).await?;
    let (Some(max), Some(min)) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id)) else { return Ok(vec![]) };
    let cands: Vec<CandidateRow> = sqlx::query_as(&format!(
        "select {CANDIDATE_COLUMNS} from comparison_candidates where comparison_id between $1 and $2 order by comparison_id, idx"
    ))
    .bind(min)
    .bind(max)
    .fetch_all(db.reader())
    .await?;
    let mut by_comparison: std::collections::HashMap<i64, Vec<Candidate>> = Default::default();
    for c in cands {
        let id = c.comparison_id;
        by_comparison.entry(id).or_default().push(Candidate::try_from(c)?);
    }
    rows.into_iter()
        .map(|r| {
            let c = by_comparison.remove(&r.id).unwrap_or_default();
            comparison(r, c)
        })
        .collect()
}

/// Candidate `idx`'s gated plan (id 0), when it is valid.
pub async fn candidate_plan(db: &Db, id: i64, idx: usize) -> AppResult<Option<Plan>> {
    let row = sqlx::query("select graph from comparison_candidates where comparison_id = $1 and idx = $2 and graph is not null")
        .bind(id)
        .bind(idx as i64)
        .fetch_optional(db.reader())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let graph: String = row.try_get("graph")?;
    json_column::<Plan>(T, id, "graph", &graph).map(Some)
}

/// Every valid candidate's plan (for the side-by-side view), by index.
pub async fn candidate_plans(db: &Db, id: i64) -> AppResult<Vec<(usize, Plan)>> {
    let rows = sqlx::query("select idx, graph from comparison_candidates where comparison_id = $1 and graph is not null order by idx")
        .bind(id)
        .fetch_all(db.reader())
        .await?;
    rows.into_iter()
        .map(|r| {
            let idx: i64 = r.try_get("idx")?;
            let graph: String = r.try_get("graph")?;
            Ok((idx as usize, json_column::<Plan>(T, id, "graph", &graph)?))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct EvaluationRow {
    candidate: i64,
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

/// The gate verdicts of a comparison's candidates, per step and per model (from the
/// `plan_evaluations` view), optionally of one candidate.
pub async fn evaluations(db: &Db, id: i64, candidate: Option<usize>, f: &EvaluationFilter) -> AppResult<Vec<CandidateEvaluation>> {
    use crate::plan::verdict::{Enforcement, Gate, Verdict};
    let rows: Vec<EvaluationRow> = sqlx::query_as(
        "select candidate, step_id, gate, verdict, enforcement, rules, reasons, remediation, planner, provider, created_at
         from plan_evaluations where comparison_id = $1 and ($2 < 0 or candidate = $2) and ($3 = '' or gate = $3)
         and ($4 = '' or verdict = $4) and ($5 = '' or ($5 = 'plan' and step_id is null) or step_id = $5)
         order by candidate, step_index, gate_index",
    )
    .bind(id)
    .bind(candidate.map(|c| c as i64).unwrap_or(-1))
    .bind(f.gate.map(|g| g.as_str()).unwrap_or(""))
    .bind(f.verdict.map(|v| v.as_str()).unwrap_or(""))
    .bind(f.step_id.clone().unwrap_or_default())
    .fetch_all(db.reader())
    .await?;
    const V: &str = "plan_evaluations";
    rows.into_iter()
        .map(|r| {
            Ok(CandidateEvaluation {
                candidate: r.candidate as usize,
                gate: column(V, id, "gate", &r.gate, Gate::parse)?,
                verdict: column(V, id, "verdict", &r.verdict, Verdict::parse)?,
                enforcement: column(V, id, "enforcement", &r.enforcement, Enforcement::parse)?,
                rules: json_column(V, id, "rules", &r.rules)?,
                reasons: json_column(V, id, "reasons", &r.reasons)?,
                remediation: json_column(V, id, "remediation", &r.remediation)?,
                step_id: r.step_id,
                planner: r.planner,
                provider: r.provider,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// Per-provider figures over the stored comparisons (for planner metrics): one row per
/// candidate, oldest first, from `since` on.
pub async fn candidate_history(db: &Db, since: i64) -> AppResult<Vec<CandidateHistory>> {
    let rows = sqlx::query(
        "select c.comparison_id, c.idx, c.provider, c.planner, c.status, c.latency_ms, c.score, c.figures, c.created_at,
                m.best_index, m.chosen_index
         from comparison_candidates c join model_comparisons m on m.id = c.comparison_id
         where c.created_at >= $1 order by c.created_at, c.comparison_id, c.idx",
    )
    .bind(since)
    .fetch_all(db.reader())
    .await?;
    rows.into_iter()
        .map(|r| {
            let id: i64 = r.try_get("comparison_id")?;
            let idx: i64 = r.try_get("idx")?;
            let status: String = r.try_get("status")?;
            let figures: Option<String> = r.try_get("figures")?;
            let best: Option<i64> = r.try_get("best_index")?;
            let chosen: Option<i64> = r.try_get("chosen_index")?;
            Ok(CandidateHistory {
                comparison_id: id,
                provider: r.try_get("provider")?,
                planner: r.try_get("planner")?,
                status: column(T, id, "status", &status, CandidateStatus::parse)?,
                latency_ms: r.try_get("latency_ms")?,
                score: r.try_get("score")?,
                figures: figures.as_deref().map(|f| json_column::<CandidateFigures>(T, id, "figures", f)).transpose()?,
                best: best == Some(idx),
                chosen: chosen == Some(idx),
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
