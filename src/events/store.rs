//! Event persistence. Ids must become visible in increasing order, or a client resuming after id
//! N could miss a lower id committed later; SQLite has one writer at a time, and on PostgreSQL an
//! advisory transaction lock serialises event writers until commit.

use sqlx::{Any, Row, Transaction};

use super::model::{Event, EventKind, NewEvent, Subject};
use crate::error::{AppError, AppResult};
use crate::storage::{column, json_column, Backend, Db};

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
    let rows: Vec<EventRow> =
        sqlx::query_as("select id, kind, subject, payload, created_at from events where id > $1 order by id limit $2")
            .bind(after_id)
            .bind(limit)
            .fetch_all(db.reader())
            .await?;
    rows.into_iter().map(Event::try_from).collect()
}

/// An `events` row as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    subject: String,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for Event {
    type Error = AppError;
    fn try_from(r: EventRow) -> AppResult<Event> {
        Ok(Event {
            kind: column("events", r.id, "kind", &r.kind, EventKind::parse)?,
            subject: column("events", r.id, "subject", &r.subject, Subject::parse)?,
            payload: json_column("events", r.id, "payload", &r.payload)?,
            id: r.id,
            created_at: r.created_at,
        })
    }
}

pub async fn latest_id(db: &Db) -> AppResult<i64> {
    let row = sqlx::query("select coalesce(max(id), 0) as id from events").fetch_one(db.reader()).await?;
    Ok(row.try_get("id")?)
}
