//! Event persistence. Ids must become visible in increasing order, or a client resuming after id
//! N could miss a lower id committed later; SQLite has one writer at a time, and on PostgreSQL an
//! advisory transaction lock serialises event writers until commit.

use sqlx::{Any, Row, Transaction};

use super::model::{Event, EventKind, NewEvent, Subject};
use crate::error::AppResult;
use crate::storage::{corrupt, Backend, Db};

/// Appends events inside the caller's transaction (so they exist exactly when the change does).
pub async fn append(tx: &mut Transaction<'_, Any>, backend: Backend, events: &[NewEvent], now: i64) -> AppResult<Vec<i64>> {
    if backend == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock(7312024)").execute(&mut **tx).await?;
    }
    let mut ids: Vec<i64> = vec![];
    for e in events {
        let row = sqlx::query("insert into events (kind, subject, payload, created_at) values ($1, $2, $3, $4) returning id")
            .bind(e.kind.as_str())
            .bind(e.subject.to_string())
            .bind(e.payload.to_string())
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
        ids.push(row.try_get("id")?);
    }
    if let (Backend::Postgres, Some(last)) = (backend, ids.last()) {
        // Delivered to every instance's listener when (and only if) the transaction commits.
        sqlx::query("select pg_notify($1, $2)").bind(super::bus::PG_CHANNEL).bind(last.to_string()).execute(&mut **tx).await?;
    }
    Ok(ids)
}

/// Events after `after_id`, oldest first, at most `limit`.
pub async fn list_after(db: &Db, after_id: i64, limit: i64) -> AppResult<Vec<Event>> {
    let rows = sqlx::query("select id, kind, subject, payload, created_at from events where id > $1 order by id limit $2")
        .bind(after_id)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let (kind, subject, payload): (String, String, String) = (r.try_get("kind")?, r.try_get("subject")?, r.try_get("payload")?);
            Ok(Event {
                id,
                kind: EventKind::parse(&kind).ok_or_else(|| corrupt("events", id, "kind", &kind))?,
                subject: Subject::parse(&subject).ok_or_else(|| corrupt("events", id, "subject", &subject))?,
                payload: serde_json::from_str(&payload).map_err(|_| corrupt("events", id, "payload", &payload))?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

pub async fn latest_id(db: &Db) -> AppResult<i64> {
    let row = sqlx::query("select coalesce(max(id), 0) as id from events").fetch_one(db.reader()).await?;
    Ok(row.try_get("id")?)
}
