//! `Idempotency-Key` with Stripe's semantics: the same key and body replay the first response;
//! the same key with another body is refused (422); a key whose first request is still running
//! is refused (409). Keys are kept 24 hours. Failed requests release their key, since they
//! changed nothing and a retry is safe.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::{AppError, AppResult, ErrorCode};
use crate::storage::{now_ms, Db};

pub const HEADER: &str = "idempotency-key";
pub const RETENTION_MS: i64 = 24 * 3_600_000;
/// An in-flight claim older than this is treated as abandoned (its process died).
pub const ABANDONED_MS: i64 = 5 * 60_000;

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First use: run the request, then `complete` (or `release` on failure).
    Fresh,
    /// Seen before with the same body and finished: send this stored response again.
    Replay { status: u16, body: String },
}

/// Checks the header value: 1–255 visible ASCII characters.
pub fn validate_key(key: &str) -> AppResult<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(AppError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "`Idempotency-Key` must be 1–255 visible ASCII characters, e.g. a UUID.",
        ));
    }
    Ok(())
}

/// A fingerprint of the request body: equal bodies, equal hashes.
pub fn fingerprint(body: &[u8]) -> String {
    // Re-serialise JSON so whitespace differences do not count as a different request.
    let canonical = serde_json::from_slice::<serde_json::Value>(body).map(|v| v.to_string().into_bytes()).unwrap_or_else(|_| body.to_vec());
    hex::encode(Sha256::digest(&canonical))
}

pub async fn claim(db: &Db, principal: &str, endpoint: &str, key: &str, request_hash: &str) -> AppResult<Claim> {
    let now = now_ms();
    let row = [principal, endpoint, key, request_hash].map(str::to_string);
    let inserted = db
        .write(move |tx| {
            let [principal, endpoint, key, request_hash] = row.clone();
            Box::pin(async move {
                sqlx::query("delete from idempotency_keys where created_at < $1 or (status = 'in_flight' and created_at < $2)")
                    .bind(now - RETENTION_MS)
                    .bind(now - ABANDONED_MS)
                    .execute(&mut **tx)
                    .await?;
                let inserted = sqlx::query(
                    "insert into idempotency_keys (principal, endpoint, idem_key, request_hash, status, created_at)
                     values ($1, $2, $3, $4, 'in_flight', $5) on conflict (principal, endpoint, idem_key) do nothing returning idem_key",
                )
                .bind(principal)
                .bind(endpoint)
                .bind(key)
                .bind(request_hash)
                .bind(now)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(inserted.is_some())
            })
        })
        .await?;
    if inserted {
        return Ok(Claim::Fresh);
    }
    let row = sqlx::query(
        "select request_hash, status, response_status, response_body from idempotency_keys
         where principal = $1 and endpoint = $2 and idem_key = $3",
    )
    .bind(principal)
    .bind(endpoint)
    .bind(key)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else {
        // Released between our insert and select: a retry will claim it.
        return Err(in_flight());
    };
    if row.try_get::<String, _>("request_hash")? != request_hash {
        return Err(AppError::unprocessable(
            ErrorCode::IdempotencyKeyReused,
            "This `Idempotency-Key` was already used with a different request body; use a new key for a new request.",
        ));
    }
    if row.try_get::<String, _>("status")? != "done" {
        return Err(in_flight());
    }
    // A finished key always has its answer; one without is a corrupt row, not a 200 with no body.
    let what = format!("{principal} {endpoint} {key}");
    let status = row.try_get::<Option<i64>, _>("response_status")?;
    let status = status.and_then(|s| u16::try_from(s).ok()).filter(|s| (100..600).contains(s)).ok_or_else(|| {
        tracing::error!(key = %what, status = ?status, "stored idempotent answer has no valid status");
        AppError::internal()
    })?;
    let body = row.try_get::<Option<String>, _>("response_body")?.ok_or_else(|| {
        tracing::error!(key = %what, "stored idempotent answer has no body");
        AppError::internal()
    })?;
    Ok(Claim::Replay { status, body })
}

fn in_flight() -> AppError {
    AppError::conflict(
        ErrorCode::IdempotencyKeyInFlight,
        "A request with this `Idempotency-Key` is still being processed; wait for it and retry.",
    )
}

/// Stores the response for replays; runs inside the transaction that made the change, so the
/// change and its replayable response exist together or not at all.
pub async fn complete<'e, E>(exec: E, principal: &str, endpoint: &str, key: &str, status: u16, body: &str) -> AppResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "update idempotency_keys set status = 'done', response_status = $1, response_body = $2
         where principal = $3 and endpoint = $4 and idem_key = $5",
    )
    .bind(status as i64)
    .bind(body)
    .bind(principal)
    .bind(endpoint)
    .bind(key)
    .execute(exec)
    .await?;
    Ok(())
}

pub async fn release(db: &Db, principal: &str, endpoint: &str, key: &str) -> AppResult<()> {
    let row = [principal, endpoint, key].map(str::to_string);
    db.write(move |tx| {
        let [principal, endpoint, key] = row.clone();
        Box::pin(async move {
            sqlx::query("delete from idempotency_keys where principal = $1 and endpoint = $2 and idem_key = $3 and status = 'in_flight'")
                .bind(principal)
                .bind(endpoint)
                .bind(key)
                .execute(&mut **tx)
                .await?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_fingerprints() {
        assert!(validate_key("3f1c-uuid").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
        assert_eq!(fingerprint(br#"{"a": 1, "b": [2]}"#), fingerprint(br#"{"a":1,"b":[2]}"#));
        assert_ne!(fingerprint(br#"{"a":1}"#), fingerprint(br#"{"a":2}"#));
    }
}
