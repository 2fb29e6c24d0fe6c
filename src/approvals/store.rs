//! Approval persistence: the request row, its append-only log and the reviewers' votes.
//! Portable SQL for SQLite and PostgreSQL.

use sqlx::{Any, Row, Transaction};

use super::model::*;
use crate::error::{AppError, AppResult};
use crate::storage::{column, json_column, Backend, Db};

const COLUMNS: &str = "id, tool_id, args, context, plan_id, step_id, backlog_item_id, pack_id, requester, status, \
                       required_approvals, expires_at, expiry_outcome, created_at, decided_at, decided_by";

/// What a new request stores (the service has validated it).
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub tool_id: String,
    pub args: serde_json::Value,
    pub context: serde_json::Value,
    pub plan_id: Option<i64>,
    pub step_id: Option<String>,
    pub backlog_item_id: Option<i64>,
    pub pack_id: Option<i64>,
    pub requester: String,
    pub required_approvals: i64,
    pub expires_at: i64,
    pub expiry_outcome: ExpiryOutcome,
}

pub async fn insert(tx: &mut Transaction<'_, Any>, a: &NewApproval, now: i64) -> AppResult<i64> {
    let row = sqlx::query(
        "insert into approvals (tool_id, args, context, plan_id, step_id, backlog_item_id, pack_id, requester, status,
                                required_approvals, expires_at, expiry_outcome, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $12) returning id",
    )
    .bind(&a.tool_id)
    .bind(a.args.to_string())
    .bind(a.context.to_string())
    .bind(a.plan_id)
    .bind(&a.step_id)
    .bind(a.backlog_item_id)
    .bind(a.pack_id)
    .bind(&a.requester)
    .bind(a.required_approvals)
    .bind(a.expires_at)
    .bind(a.expiry_outcome.as_str())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}

/// The approvers of the row in scope (`approvals.id`), oldest vote first, as a JSON array: a
/// correlated subquery, so a request and its votes come back in one statement.
fn voters(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "(select json_group_array(actor) from (select actor from approval_log v \
              where v.approval_id = approvals.id and v.kind = 'approve' order by v.id)) as approved_by"
        }
        Backend::Postgres => {
            "(select coalesce(json_agg(actor order by v.id), '[]')::text from approval_log v \
              where v.approval_id = approvals.id and v.kind = 'approve') as approved_by"
        }
    }
}

/// An `approvals` row as stored, with its voters (see [`voters`]).
#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: i64,
    tool_id: String,
    args: String,
    context: String,
    plan_id: Option<i64>,
    step_id: Option<String>,
    backlog_item_id: Option<i64>,
    pack_id: Option<i64>,
    requester: String,
    status: String,
    required_approvals: i64,
    approved_by: String,
    expires_at: i64,
    expiry_outcome: String,
    created_at: i64,
    decided_at: Option<i64>,
    decided_by: Option<String>,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = AppError;
    fn try_from(r: ApprovalRow) -> AppResult<Approval> {
        const T: &str = "approvals";
        Ok(Approval {
            args: json_column(T, r.id, "args", &r.args)?,
            context: json_column(T, r.id, "context", &r.context)?,
            status: column(T, r.id, "status", &r.status, ApprovalStatus::parse)?,
            approved_by: json_column(T, r.id, "approved_by", &r.approved_by)?,
            expiry_outcome: column(T, r.id, "expiry_outcome", &r.expiry_outcome, ExpiryOutcome::parse)?,
            id: r.id,
            tool_id: r.tool_id,
            plan_id: r.plan_id,
            step_id: r.step_id,
            backlog_item_id: r.backlog_item_id,
            pack_id: r.pack_id,
            requester: r.requester,
            required_approvals: r.required_approvals,
            expires_at: r.expires_at,
            created_at: r.created_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
        })
    }
}

/// Requests still waiting for a decision at `now` (the navigation's badge).
pub async fn count_pending(db: &Db, now: i64) -> AppResult<i64> {
    let row = sqlx::query("select count(*) as n from approvals where status = 'pending' and expires_at > $1")
        .bind(now)
        .fetch_one(db.reader())
        .await?;
    Ok(row.try_get::<i64, _>("n")?)
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Approval>> {
    let sql = format!("select {COLUMNS}, {} from approvals where id = $1", voters(db.backend));
    sqlx::query_as::<_, ApprovalRow>(&sql).bind(id).fetch_optional(db.reader()).await?.map(Approval::try_from).transpose()
}

/// Takes the request's write lock and reads it, in one statement inside `tx`. The no-op update
/// is on purpose: on SQLite it makes this transaction the writer before it reads (no upgrade
/// race), on PostgreSQL it locks the row and returns its latest committed version, so
/// concurrent deciders run one after another on fresh state.
pub async fn lock(tx: &mut Transaction<'_, Any>, backend: Backend, id: i64) -> AppResult<Option<Approval>> {
    let sql = format!("update approvals set updated_at = updated_at where id = $1 returning {COLUMNS}, {}", voters(backend));
    sqlx::query_as::<_, ApprovalRow>(&sql).bind(id).fetch_optional(&mut **tx).await?.map(Approval::try_from).transpose()
}

/// Writes an accepted transition: its log row (which is also the vote) and the final status.
pub async fn record(tx: &mut Transaction<'_, Any>, id: i64, actor: &str, t: &Transition, now: i64, via: Option<Via>) -> AppResult<i64> {
    let row =
        sqlx::query("insert into approval_log (approval_id, actor, kind, note, at, via) values ($1, $2, $3, $4, $5, $6) returning id")
            .bind(id)
            .bind(actor)
            .bind(t.log.as_str())
            .bind(&t.note)
            .bind(now)
            .bind(via.map(Via::as_str))
            .fetch_one(&mut **tx)
            .await?;
    // An approval's vote is this row (kind `approve`, unique per reviewer and request).
    let log_id: i64 = row.try_get("id")?;
    match t.status {
        Some(status) => {
            sqlx::query(
                "update approvals set status = $1, decided_at = $2, decided_by = $3, updated_at = $2 where id = $4 and status = 'pending'",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(actor)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        // A new request's row was written with this very time.
        None if t.log == LogKind::Requested => {}
        None => {
            sqlx::query("update approvals set updated_at = $1 where id = $2").bind(now).bind(id).execute(&mut **tx).await?;
        }
    }
    Ok(log_id)
}

/// Whether a webhook delivery with this id was accepted before.
pub async fn delivery_seen(tx: &mut Transaction<'_, Any>, webhook_id: &str) -> AppResult<bool> {
    Ok(sqlx::query("select 1 from webhook_inbound where webhook_id = $1").bind(webhook_id).fetch_optional(&mut **tx).await?.is_some())
}

/// Keeps an accepted delivery's id; false when another delivery with it got there first.
pub async fn record_delivery(tx: &mut Transaction<'_, Any>, d: &Delivery, now: i64) -> AppResult<bool> {
    let inserted = sqlx::query(
        "insert into webhook_inbound (webhook_id, source, received_at) values ($1, $2, $3) on conflict (webhook_id) do nothing",
    )
    .bind(&d.webhook_id)
    .bind(d.via.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The logs of several requests in one query, each oldest first.
pub async fn logs(db: &Db, ids: &[i64]) -> AppResult<std::collections::HashMap<i64, Vec<LogEntry>>> {
    let mut out: std::collections::HashMap<i64, Vec<LogEntry>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "select id, approval_id, actor, kind, note, at, via from approval_log where approval_id in ({}) order by id",
        crate::storage::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as::<_, LogRow>(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    for r in q.fetch_all(db.reader()).await? {
        let e = LogEntry::try_from(r)?;
        out.entry(e.approval_id).or_default().push(e);
    }
    Ok(out)
}

pub async fn log(db: &Db, id: i64) -> AppResult<Vec<LogEntry>> {
    let rows: Vec<LogRow> =
        sqlx::query_as("select id, approval_id, actor, kind, note, at, via from approval_log where approval_id = $1 order by id")
            .bind(id)
            .fetch_all(db.reader())
            .await?;
    rows.into_iter().map(LogEntry::try_from).collect()
}

/// An `approval_log` row as stored.
#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    approval_id: i64,
    actor: String,
    kind: String,
    note: String,
    at: i64,
    via: Option<String>,
}

/// A kind or door that does not parse is reported, not guessed.
impl TryFrom<LogRow> for LogEntry {
    type Error = AppError;
    fn try_from(r: LogRow) -> AppResult<LogEntry> {
        Ok(LogEntry {
            kind: column("approval_log", r.id, "kind", &r.kind, LogKind::parse)?,
            via: r.via.as_deref().map(|v| column("approval_log", r.id, "via", v, Via::parse)).transpose()?,
            id: r.id,
            approval_id: r.approval_id,
            actor: r.actor,
            note: r.note,
            at: r.at,
        })
    }
}

/// Newest first.
pub async fn list(db: &Db, f: &ListFilter) -> AppResult<Vec<Approval>> {
    let mut sql = format!("select {COLUMNS}, {} from approvals where 1 = 1", voters(db.backend));
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.status.is_some() {
        sql += &format!(" and status = {}", next());
    }
    if f.decided {
        sql += " and status <> 'pending'";
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
    let order = if f.decided { "coalesce(decided_at, created_at) desc, id desc" } else { "created_at desc, id desc" };
    sql += &format!(" order by {order} limit {}", next());
    let mut q = sqlx::query_as::<_, ApprovalRow>(&sql);
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
    q.bind(f.limit).fetch_all(db.reader()).await?.into_iter().map(Approval::try_from).collect()
}

/// Pending requests whose deadline has passed, oldest deadline first.
pub async fn overdue(db: &Db, now: i64, limit: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query("select id from approvals where status = 'pending' and expires_at <= $1 order by expires_at limit $2")
        .bind(now)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// The next deadline among pending requests.
pub async fn next_deadline(db: &Db) -> AppResult<Option<i64>> {
    let row = sqlx::query("select min(expires_at) as at from approvals where status = 'pending'").fetch_one(db.reader()).await?;
    Ok(row.try_get("at")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[tokio::test]
    async fn a_reviewer_counts_once_even_past_the_state_machine() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let new = NewApproval {
            tool_id: "deploy".into(),
            args: serde_json::json!({}),
            context: serde_json::json!({}),
            plan_id: None,
            step_id: None,
            backlog_item_id: None,
            pack_id: None,
            requester: "key:agent".into(),
            required_approvals: 2,
            expires_at: i64::MAX,
            expiry_outcome: ExpiryOutcome::Deny,
        };
        let vote = Transition { log: LogKind::Approve, note: String::new(), status: None, counts_vote: true };
        let (id, again) = db
            .write(move |tx| {
                let (new, vote) = (new.clone(), vote.clone());
                Box::pin(async move {
                    let id = insert(tx, &new, 1).await?;
                    record(tx, id, "user:dana", &vote, 2, None).await?;
                    // The database itself refuses a second vote by the same reviewer (unique index).
                    let again = record(tx, id, "user:dana", &vote, 3, None).await.unwrap_err();
                    record(tx, id, "user:lee", &vote, 4, None).await?;
                    Ok((id, again))
                })
            })
            .await
            .unwrap();
        assert!(again.database && again.code == ErrorCode::AlreadyExists, "{again:?}");
        let a = get(&db, id).await.unwrap().unwrap();
        assert_eq!(a.approved_by, vec!["user:dana", "user:lee"], "votes come from the log, in order");
        assert_eq!(log(&db, id).await.unwrap().len(), 2);
    }
}
