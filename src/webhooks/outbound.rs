//! Outbound deliveries: every `approval.requested` and `approval.decided` event becomes one
//! delivery row per configured URL,
//! sent signed and retried with backoff until it succeeds or runs out of attempts. The rows are
//! the log (`GET /api/webhooks/deliveries`). Survives restarts: the cursor is the newest event
//! already turned into deliveries, and due rows are picked up again.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

use crate::auth::model::{Permission, Principal};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::model::EventKind;
use crate::state::AppState;
use crate::storage::{corrupt, now_ms, Db};

use super::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header: the same on every retry of this delivery.
    pub webhook_id: String,
    pub url: String,
    pub event_id: i64,
    pub event_kind: EventKind,
    /// `pending`, `sending`, `retrying`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// The delivery log, newest first (admin only: targets and their errors are operators' business).
pub async fn deliveries(state: &AppState, who: &Principal, limit: i64) -> AppResult<Vec<Delivery>> {
    who.require(Permission::ManageWebhooks)?;
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(ErrorCode::InvalidQuery, "`limit` must be between 1 and 500."));
    }
    list(&state.db, limit).await
}

async fn list(db: &Db, limit: i64) -> AppResult<Vec<Delivery>> {
    let rows = sqlx::query(
        "select id, webhook_id, url, event_id, event_kind, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at
         from webhook_deliveries order by id desc limit $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let kind: String = r.try_get("event_kind")?;
            Ok(Delivery {
                id,
                webhook_id: r.try_get("webhook_id")?,
                url: r.try_get("url")?,
                event_id: r.try_get("event_id")?,
                event_kind: EventKind::parse(&kind).ok_or_else(|| corrupt("webhook_deliveries", id, "event_kind", &kind))?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_status: r.try_get("last_status")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                delivered_at: r.try_get("delivered_at")?,
            })
        })
        .collect()
}

/// Turns new events into delivery rows; returns the new cursor.
async fn enqueue(state: &AppState, cursor: i64) -> AppResult<i64> {
    let mut cursor = cursor;
    loop {
        let events = crate::events::store::list_after(&state.db, cursor, 500).await?;
        let Some(last) = events.last() else { return Ok(cursor) };
        let last_id = last.id;
        let now = now_ms();
        // (webhook id, url, event id, kind, body) for every wanted event and URL.
        let mut rows: Vec<(String, String, i64, &'static str, String)> = vec![];
        for e in events.iter().filter(|e| state.webhooks.wants(e.kind)) {
            let body = json!({"type": e.kind, "timestamp": chrono::DateTime::from_timestamp_millis(e.created_at).map(|t| t.to_rfc3339()), "data": e.payload}).to_string();
            for url in &state.webhooks.urls {
                rows.push((format!("msg_{}_{}", e.id, short_hash(url.as_str())), url.to_string(), e.id, e.kind.as_str(), body.clone()));
            }
        }
        if !rows.is_empty() {
            let rows = std::sync::Arc::new(rows);
            state
                .db
                .write(move |tx| {
                    let rows = rows.clone();
                    Box::pin(async move {
                        for (webhook_id, url, event_id, kind, body) in rows.iter() {
                            // One row per event and URL, however many instances enqueue it.
                            sqlx::query(
                                "insert into webhook_deliveries (webhook_id, url, event_id, event_kind, body, status, next_attempt_at, created_at)
                                 values ($1, $2, $3, $4, $5, 'pending', $6, $6) on conflict (event_id, url) do nothing",
                            )
                            .bind(webhook_id)
                            .bind(url)
                            .bind(event_id)
                            .bind(*kind)
                            .bind(body)
                            .bind(now)
                            .execute(&mut **tx)
                            .await?;
                        }
                        Ok(())
                    })
                })
                .await?;
        }
        cursor = last_id;
    }
}

fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..6])
}

/// Sends every due delivery once; returns how many were attempted.
async fn send_due(state: &AppState, http: &reqwest::Client) -> AppResult<usize> {
    let Some(secret) = state.webhooks.outbound_secret.as_ref() else { return Ok(0) };
    let now = now_ms();
    let due = sqlx::query("select id, webhook_id, url, body, attempts from webhook_deliveries where status in ('pending', 'retrying', 'sending') and next_attempt_at <= $1 order by id limit 100")
        .bind(now)
        .fetch_all(state.db.reader())
        .await?;
    let mut sent = 0;
    for r in &due {
        let id: i64 = r.try_get("id")?;
        // Claim it (another instance may be looking at the same row): a lease of one minute, after
        // which a delivery whose sender died is picked up again.
        let claimed = state
            .db
            .write(move |tx| {
                Box::pin(async move {
                    Ok(sqlx::query("update webhook_deliveries set status = 'sending', next_attempt_at = $1 where id = $2 and status in ('pending', 'retrying', 'sending') and next_attempt_at <= $3")
                        .bind(now + 60_000)
                        .bind(id)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected())
                })
            })
            .await?;
        if claimed != 1 {
            continue;
        }
        let webhook_id: String = r.try_get("webhook_id")?;
        let url: String = r.try_get("url")?;
        let body: String = r.try_get("body")?;
        let attempts: i64 = r.try_get::<i64, _>("attempts")? + 1;
        let ts = now_ms() / 1000;
        let result = http
            .post(&url)
            .header("content-type", "application/json")
            .header(HEADER_ID, &webhook_id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, secret.sign(&webhook_id, ts, body.as_bytes()))
            .body(body)
            .send()
            .await;
        let (status, error) = match result {
            Ok(res) if res.status().is_success() => (Some(res.status().as_u16() as i64), None),
            Ok(res) => (Some(res.status().as_u16() as i64), Some(format!("answered {}", res.status()))),
            Err(e) => (None, Some(e.to_string())),
        };
        let done = now_ms();
        if error.is_none() {
            state
                .db
                .write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("update webhook_deliveries set status = 'delivered', attempts = $1, last_status = $2, last_error = null, delivered_at = $3 where id = $4")
                            .bind(attempts)
                            .bind(status)
                            .bind(done)
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
        } else {
            let give_up = attempts >= state.webhooks.max_attempts;
            let delay = state.webhooks.retry_base_ms.saturating_mul(6i64.saturating_pow((attempts - 1) as u32)).min(6 * 3_600_000);
            tracing::warn!(delivery = id, url = %url, attempts, error = ?error, give_up, "webhook delivery failed");
            state
                .db
                .write(move |tx| {
                    let error = error.clone();
                    Box::pin(async move {
                        sqlx::query("update webhook_deliveries set status = $1, attempts = $2, last_status = $3, last_error = $4, next_attempt_at = $5 where id = $6")
                            .bind(if give_up { "failed" } else { "retrying" })
                            .bind(attempts)
                            .bind(status)
                            .bind(error)
                            .bind(done + delay)
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
        }
        sent += 1;
    }
    Ok(sent)
}

async fn next_due(db: &Db) -> Option<i64> {
    let row = sqlx::query("select min(next_attempt_at) as at from webhook_deliveries where status in ('pending', 'retrying', 'sending')")
        .fetch_one(db.reader())
        .await
        .ok()?;
    row.try_get::<Option<i64>, _>("at").ok().flatten()
}

/// The delivery task; does nothing when no URL is configured.
pub fn spawn(state: AppState) {
    if state.webhooks.urls.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        let mut signals = state.events.subscribe();
        // Resume after the newest event already enqueued; on first use, start from now.
        let resume = sqlx::query("select max(event_id) as id from webhook_deliveries")
            .fetch_one(state.db.reader())
            .await
            .ok()
            .and_then(|r| r.try_get::<Option<i64>, _>("id").ok().flatten());
        let mut cursor = match resume {
            Some(id) => id,
            None => crate::events::store::latest_id(&state.db).await.unwrap_or(0),
        };
        loop {
            match enqueue(&state, cursor).await {
                Ok(c) => cursor = c,
                Err(e) => tracing::warn!(error = %e, "could not enqueue webhook deliveries"),
            }
            if let Err(e) = send_due(&state, &http).await {
                tracing::warn!(error = %e, "could not send webhook deliveries");
            }
            let wait = next_due(&state.db).await.map(|at| (at - now_ms()).clamp(10, 60_000)).unwrap_or(60_000);
            tokio::select! {
                r = signals.recv() => if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) { return },
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    });
}
