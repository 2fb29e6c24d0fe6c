//! API keys as admins manage them: list, create with an optional expiry, revoke. Every change
//! is audited in its own transaction; a revoked or expired key is refused at its next request
//! (`service::principal_by_api_key` checks both on every lookup).

use sqlx::Row;

use super::model::{ApiKeyInfo, CreatedKey, KeyStatus, NewKey, Permission, Principal, Role};
use crate::audit::{Action, Actor, Entry, Links};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::storage::{column, now_ms, Db};

/// Longest expiry a key may be given at creation.
pub const MAX_EXPIRY_DAYS: i64 = 3650;

const COLUMNS: &str = "id, name, role, key_prefix, created_at, last_used_at, expires_at, revoked_at";

fn info(r: &sqlx::any::AnyRow, now: i64) -> AppResult<ApiKeyInfo> {
    let id: i64 = r.try_get("id")?;
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(ApiKeyInfo {
        id,
        name: r.try_get("name")?,
        role: column("api_keys", id, "role", &r.try_get::<String, _>("role")?, Role::parse)?,
        prefix: r.try_get("key_prefix")?,
        status: KeyStatus::of(expires_at, revoked_at, now),
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at,
        revoked_at,
    })
}

/// Every key, newest first (the command line lists them without a principal).
pub async fn all(db: &Db) -> AppResult<Vec<ApiKeyInfo>> {
    let now = now_ms();
    let rows = sqlx::query(&format!("select {COLUMNS} from api_keys order by id desc")).fetch_all(db.reader()).await?;
    rows.iter().map(|r| info(r, now)).collect()
}

pub async fn list(db: &Db, who: &Principal) -> AppResult<Vec<ApiKeyInfo>> {
    who.require(Permission::ManageKeys)?;
    all(db).await
}

async fn get(db: &Db, id: i64) -> AppResult<Option<ApiKeyInfo>> {
    let row = sqlx::query(&format!("select {COLUMNS} from api_keys where id = $1")).bind(id).fetch_optional(db.reader()).await?;
    row.as_ref().map(|r| info(r, now_ms())).transpose()
}

/// The expiry `days` from now, checked.
pub fn expiry(days: Option<i64>, now: i64) -> AppResult<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Ok(Some(now + d * 86_400_000)),
        Some(d) => Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            format!("`expires_in_days` is between 1 and {MAX_EXPIRY_DAYS} (got {d}); leave it out for a key that does not expire."),
        )),
    }
}

/// Creates a key (admins); the answer carries the key this once.
pub async fn create(db: &Db, who: &Principal, new: &NewKey) -> AppResult<CreatedKey> {
    who.require(Permission::ManageKeys)?;
    let expires_at = expiry(new.expires_in_days, now_ms())?;
    let (id, key) = super::service::create_key(db, &Actor::of(who), new.name.trim(), new.role, expires_at).await?;
    let info = get(db, id).await?.ok_or_else(AppError::internal)?;
    Ok(CreatedKey { info, key })
}

/// Revokes key `id` (admins): refused with 401 from now on.
pub async fn revoke(db: &Db, who: &Principal, id: i64) -> AppResult<ApiKeyInfo> {
    who.require(Permission::ManageKeys)?;
    revoke_as(db, &Actor::of(who), id).await
}

/// Revokes the key named `name` at the command line.
pub async fn revoke_named(db: &Db, name: &str) -> AppResult<ApiKeyInfo> {
    let row = sqlx::query("select id from api_keys where name = $1").bind(name).fetch_optional(db.reader()).await?;
    let id: i64 = row.ok_or_else(|| AppError::not_found(&format!("API key `{name}`")))?.try_get("id")?;
    revoke_as(db, &Actor::cli(), id).await
}

async fn revoke_as(db: &Db, by: &Actor, id: i64) -> AppResult<ApiKeyInfo> {
    let current = get(db, id).await?.ok_or_else(|| AppError::not_found(&format!("API key {id}")))?;
    let audit =
        Entry::new(by, Action::KeyRevoked, format!("api_key:{id}"), Links::default(), format!("Revoked API key `{}`.", current.name))
            .fields(serde_json::json!({"name": current.name, "role": current.role, "prefix": current.prefix}));
    let backend = db.backend;
    let revoked = db
        .write(move |tx| {
            let audit = audit.clone();
            Box::pin(async move {
                let now = now_ms();
                let done = sqlx::query("update api_keys set revoked_at = $1 where id = $2 and revoked_at is null")
                    .bind(now)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                crate::audit::store::append(tx, backend, vec![audit], now).await?;
                Ok(true)
            })
        })
        .await?;
    if !revoked {
        return Err(AppError::conflict(ErrorCode::AlreadyRevoked, format!("API key `{}` was revoked already.", current.name)));
    }
    get(db, id).await?.ok_or_else(AppError::internal)
}
