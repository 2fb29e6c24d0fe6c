//! Approval persistence: the request row, its append-only log and the reviewers' votes.
//! Portable SQL for SQLite and PostgreSQL.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::model::*;
use crate::error::{AppError, AppResult};
use crate::storage::Db;

const COLUMNS: &str = "id, tool_id, args, context, plan_id, step_id, backlog_item_id, pack_id, requester, status, \
                       required_approvals, expires_at, expiry_outcome, created_at, decided_at, decided_by";

/// What a new request stores (the service has validated it).
pub struct NewApproval<'a> {
    pub tool_id: &'a str,
    pub args: &'a serde_json::Value,
    pub context: &'a serde_json::Value,
    pub plan_id: Option<i64>,
    pub step_id: Option<&'a str>,
    pub backlog_item_id: Option<i64>,
    pub pack_id: Option<i64>,
    pub requester: &'a str,
    pub required_approvals: i64,
    pub expires_at: i64,
    pub expiry_outcome: ExpiryOutcome,
}

pub async fn insert(tx: &mut Transaction<'_, Any>, a: &NewApproval<'_>, now: i64) -> AppResult<i64> {
    let row = sqlx::query(
        "insert into approvals (tool_id, args, context, plan_id, step_id, backlog_item_id, pack_id, requester, status,
                                required_approvals, expires_at, expiry_outcome, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $12) returning id",
    )
    .bind(a.tool_id)
    .bind(a.args.to_string())
    .bind(a.context.to_string())
    .bind(a.plan_id)
    .bind(a.step_id)
    .bind(a.backlog_item_id)
    .bind(a.pack_id)
    .bind(a.requester)
    .bind(a.required_approvals)
    .bind(a.expires_at)
    .bind(a.expiry_outcome.as_str())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}

fn from_row(r: &AnyRow, approved_by: Vec<String>) -> AppResult<Approval> {
    let text = |c: &str| -> AppResult<String> { Ok(r.try_get::<String, _>(c)?) };
    let json = |c: &str| -> AppResult<serde_json::Value> { Ok(serde_json::from_str(&text(c)?).unwrap_or(serde_json::Value::Null)) };
    Ok(Approval {
        id: r.try_get("id")?,
        tool_id: text("tool_id")?,
        args: json("args")?,
        context: json("context")?,
        plan_id: r.try_get("plan_id")?,
        step_id: r.try_get("step_id")?,
        backlog_item_id: r.try_get("backlog_item_id")?,
        pack_id: r.try_get("pack_id")?,
        requester: text("requester")?,
        status: ApprovalStatus::parse(&text("status")?).ok_or_else(AppError::internal)?,
        required_approvals: r.try_get("required_approvals")?,
        approved_by,
        expires_at: r.try_get("expires_at")?,
        expiry_outcome: ExpiryOutcome::parse(&text("expiry_outcome")?).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        decided_at: r.try_get("decided_at")?,
        decided_by: r.try_get("decided_by")?,
    })
}

async fn votes<'e, E: sqlx::Executor<'e, Database = Any>>(ex: E, id: i64) -> AppResult<Vec<String>> {
    let rows = sqlx::query("select reviewer from approval_votes where approval_id = $1 order by at, reviewer").bind(id).fetch_all(ex).await?;
    rows.iter().map(|r| Ok(r.try_get("reviewer")?)).collect()
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Approval>> {
    let Some(row) = sqlx::query(&format!("select {COLUMNS} from approvals where id = $1")).bind(id).fetch_optional(&db.pool).await? else {
        return Ok(None);
    };
    let v = votes(&db.pool, id).await?;
    Ok(Some(from_row(&row, v)?))
}

/// Takes the request's write lock and reads it, inside `tx`. The no-op update comes first on
/// purpose: on SQLite it makes this transaction the writer before it reads (no upgrade race), on
/// PostgreSQL it locks the row, so concurrent deciders run one after another on fresh state.
pub async fn lock(tx: &mut Transaction<'_, Any>, id: i64) -> AppResult<Option<Approval>> {
    sqlx::query("update approvals set updated_at = updated_at where id = $1").bind(id).execute(&mut **tx).await?;
    let Some(row) = sqlx::query(&format!("select {COLUMNS} from approvals where id = $1")).bind(id).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let v = votes(&mut **tx, id).await?;
    Ok(Some(from_row(&row, v)?))
}

/// Writes an accepted transition: its log row, the vote, and the final status.
pub async fn record(tx: &mut Transaction<'_, Any>, id: i64, actor: &str, t: &Transition, now: i64) -> AppResult<i64> {
    let row = sqlx::query("insert into approval_log (approval_id, actor, kind, note, at) values ($1, $2, $3, $4, $5) returning id")
        .bind(id)
        .bind(actor)
        .bind(t.log.as_str())
        .bind(&t.note)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    let log_id: i64 = row.try_get("id")?;
    if t.counts_vote {
        sqlx::query("insert into approval_votes (approval_id, reviewer, at) values ($1, $2, $3)").bind(id).bind(actor).bind(now).execute(&mut **tx).await?;
    }
    match t.status {
        Some(status) => {
            sqlx::query("update approvals set status = $1, decided_at = $2, decided_by = $3, updated_at = $2 where id = $4 and status = 'pending'")
                .bind(status.as_str())
                .bind(now)
                .bind(actor)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        None => {
            sqlx::query("update approvals set updated_at = $1 where id = $2").bind(now).bind(id).execute(&mut **tx).await?;
        }
    }
    Ok(log_id)
}

pub async fn log(db: &Db, id: i64) -> AppResult<Vec<LogEntry>> {
    let rows = sqlx::query("select id, approval_id, actor, kind, note, at from approval_log where approval_id = $1 order by id").bind(id).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(LogEntry {
                id: r.try_get("id")?,
                approval_id: r.try_get("approval_id")?,
                actor: r.try_get("actor")?,
                kind: LogKind::parse(&r.try_get::<String, _>("kind")?).ok_or_else(AppError::internal)?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// Filters for the inbox and the history.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<ApprovalStatus>,
    pub tool_id: Option<String>,
    pub plan_id: Option<i64>,
    pub pack_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(db: &Db, f: &ListFilter) -> AppResult<Vec<Approval>> {
    let mut sql = format!("select {COLUMNS} from approvals where 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.status.is_some() {
        sql += &format!(" and status = {}", next());
    }
    if f.tool_id.is_some() {
        sql += &format!(" and tool_id = {}", next());
    }
    if f.plan_id.is_some() {
        sql += &format!(" and plan_id = {}", next());
    }
    if f.pack_id.is_some() {
        sql += &format!(" and pack_id = {}", next());
    }
    sql += &format!(" order by created_at desc, id desc limit {}", next());
    let mut q = sqlx::query(&sql);
    if let Some(s) = f.status {
        q = q.bind(s.as_str());
    }
    if let Some(t) = &f.tool_id {
        q = q.bind(t.clone());
    }
    if let Some(p) = f.plan_id {
        q = q.bind(p);
    }
    if let Some(p) = f.pack_id {
        q = q.bind(p);
    }
    let rows = q.bind(f.limit).fetch_all(&db.pool).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    let mut voters: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    if !ids.is_empty() {
        let sql = format!("select approval_id, reviewer from approval_votes where approval_id in ({}) order by at, reviewer", crate::storage::placeholders(1, ids.len()));
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&db.pool).await? {
            voters.entry(r.try_get("approval_id")?).or_default().push(r.try_get("reviewer")?);
        }
    }
    rows.iter().map(|r| from_row(r, voters.remove(&r.try_get::<i64, _>("id")?).unwrap_or_default())).collect()
}

/// Pending requests whose deadline has passed, oldest deadline first.
pub async fn overdue(db: &Db, now: i64, limit: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query("select id from approvals where status = 'pending' and expires_at <= $1 order by expires_at limit $2").bind(now).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// The next deadline among pending requests.
pub async fn next_deadline(db: &Db) -> AppResult<Option<i64>> {
    let row = sqlx::query("select min(expires_at) as at from approvals where status = 'pending'").fetch_one(&db.pool).await?;
    Ok(row.try_get("at")?)
}
