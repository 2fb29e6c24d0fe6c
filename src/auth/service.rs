//! Users, sessions and API keys: password hashing, token issue and lookup.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::{distributions::Alphanumeric, Rng};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::model::{Principal, PrincipalKind, Role};
use crate::audit::{Action, Actor, Door, Entry, Links};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::storage::{column, now_ms, Db};

pub const SESSION_COOKIE: &str = "nofx_session";
pub const MIN_PASSWORD_LEN: usize = 8;

/// A random URL-safe token with a recognisable prefix (`nofx_...` keys are easy to spot in leaks).
pub fn generate_token(prefix: &str, len: usize) -> String {
    let body: String = rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect();
    format!("{prefix}{body}")
}

/// Keys and session tokens are high-entropy, so a fast hash is enough (as crates.io does); only
/// the hash is stored, so a database leak does not leak credentials.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Argon2id in a blocking thread: hashing costs tens of milliseconds by design.
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|_| AppError::internal())?
    .map_err(|_| AppError::internal())
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A valid hash of a password nobody knows, verified when the user does not exist so that
/// response time does not reveal which usernames are taken.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$FQVvyhAAX6dzWmdzwq8sh7sc6tE5FIT/7l3HGgMzF7o";

pub fn validate_username(username: &str) -> AppResult<()> {
    let ok = (2..=40).contains(&username.len()) && username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::unprocessable(ErrorCode::InvalidUsername, "Usernames are 2–40 characters of letters, digits, '_', '-' or '.'."))
    }
}

/// A value bound to [`insert_unless_taken`]'s statement.
#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
    MaybeInt(Option<i64>),
}

/// Runs `sql`, an `insert … on conflict do nothing returning id`, through the writer: the new
/// row's id, or `None` when its unique name is taken.
/// `audit` is appended with it when the row is inserted (about `{subject}:{id}` when `subject` is
/// given).
async fn insert_unless_taken(
    db: &Db,
    sql: &'static str,
    binds: Vec<Bind>,
    audit: Entry,
    subject: Option<&'static str>,
) -> AppResult<Option<i64>> {
    let binds = std::sync::Arc::new(binds);
    let backend = db.backend;
    db.write(move |tx| {
        let (binds, audit) = (binds.clone(), audit.clone());
        Box::pin(async move {
            let query = binds.iter().fold(sqlx::query(sql), |q, b| match b {
                Bind::Text(t) => q.bind(t.clone()),
                Bind::Int(i) => q.bind(*i),
                Bind::MaybeInt(i) => q.bind(*i),
            });
            let row = query.fetch_optional(&mut **tx).await?;
            let id = row.map(|r| r.try_get::<i64, _>("id")).transpose()?;
            if let Some(id) = id {
                let audit = match subject {
                    Some(kind) => audit.about(kind, id),
                    None => audit,
                };
                crate::audit::store::append(tx, backend, vec![audit], now_ms()).await?;
            }
            Ok(id)
        })
    })
    .await
}

pub async fn create_user(db: &Db, username: &str, password: &str, role: Role) -> AppResult<i64> {
    validate_username(username)?;
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::unprocessable(ErrorCode::WeakPassword, format!("Passwords need at least {MIN_PASSWORD_LEN} characters.")));
    }
    let hash = hash_password(password.to_string()).await?;
    let (name, now) = (username.to_string(), now_ms());
    let sql = "insert into users (username, password_hash, role, created_at) values ($1, $2, $3, $4)
               on conflict (username) do nothing returning id";
    let audit = Entry::new(
        &Actor::cli(),
        Action::UserCreated,
        format!("user:{username}"),
        Links::default(),
        format!("Created user `{username}` ({role})."),
    )
    .fields(serde_json::json!({"username": username, "role": role}));
    let binds = vec![Bind::Text(name), Bind::Text(hash), Bind::Text(role.as_str().into()), Bind::Int(now)];
    let id = insert_unless_taken(db, sql, binds, audit, None).await?;
    match id {
        Some(id) => Ok(id),
        None => Err(AppError::conflict(ErrorCode::UsernameTaken, format!("The username `{username}` is already taken."))),
    }
}

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
}

/// Checks the password and opens a session; returns the cookie token (shown once) and the session.
pub async fn login(db: &Db, username: &str, password: &str, ttl_ms: i64) -> AppResult<(String, Session)> {
    login_from(db, username, password, ttl_ms, None).await
}

/// [`login`], recording the client's address with the sign-in.
async fn login_from(db: &Db, username: &str, password: &str, ttl_ms: i64, address: Option<String>) -> AppResult<(String, Session)> {
    let row =
        sqlx::query("select id, password_hash, role from users where username = $1").bind(username).fetch_optional(db.reader()).await?;
    let (id, hash, role) = match row {
        Some(r) => (r.try_get::<i64, _>("id")?, r.try_get::<String, _>("password_hash")?, r.try_get::<String, _>("role")?),
        None => {
            verify_password(password.to_string(), DUMMY_HASH.to_string()).await;
            return Err(invalid_login());
        }
    };
    if !verify_password(password.to_string(), hash).await {
        return Err(invalid_login());
    }
    let role = column("users", id, "role", &role, Role::parse)?;
    let token = generate_token("", 43);
    let csrf_token = generate_token("", 32);
    let now = now_ms();
    let (token_hash, csrf) = (hash_token(&token), csrf_token.clone());
    let principal = Principal { kind: PrincipalKind::User, id, name: username.to_string(), role };
    let audit = Entry::new(&Actor::of(&principal), Action::SignedIn, format!("user:{username}"), Links::default(), "Signed in.")
        .fields(serde_json::json!({"address": address}));
    let backend = db.backend;
    db.write(move |tx| {
        let (token_hash, csrf, audit) = (token_hash.clone(), csrf.clone(), audit.clone());
        Box::pin(async move {
            sqlx::query("insert into sessions (token_hash, user_id, csrf_token, created_at, expires_at) values ($1, $2, $3, $4, $5)")
                .bind(token_hash)
                .bind(id)
                .bind(csrf)
                .bind(now)
                .bind(now + ttl_ms)
                .execute(&mut **tx)
                .await?;
            // Expired sessions are swept on login, the moment a new one is written anyway.
            sqlx::query("delete from sessions where expires_at < $1").bind(now).execute(&mut **tx).await?;
            crate::audit::store::append(tx, backend, vec![audit], now).await?;
            Ok(())
        })
    })
    .await?;
    Ok((token, Session { principal, csrf_token }))
}

/// Signs in through the throttle (see [`super::throttle`]): refused with 429 and the wait while a
/// delay runs, before the password is checked; failures counted and logged; success clears the
/// account's counters.
pub async fn sign_in(
    db: &Db,
    throttle: &super::throttle::Throttle,
    username: &str,
    password: &str,
    address: std::net::IpAddr,
    ttl_ms: i64,
) -> AppResult<(String, Session)> {
    if let Err(refused) = throttle.check(username, address, std::time::Instant::now()) {
        let wait = refused.retry_after_s();
        tracing::warn!(username, %address, scope = ?refused.scope, retry_after_s = wait, "sign-in refused while throttled");
        return Err(AppError::new(
            429,
            ErrorCode::TooManyAttempts,
            format!(
                "Too many failed sign-ins. Wait {} and try again.",
                if wait == 1 { "1 second".to_string() } else { format!("{wait} seconds") }
            ),
        )
        .with("retry_after_s", wait));
    }
    match login_from(db, username, password, ttl_ms, Some(address.to_string())).await {
        Ok(done) => {
            throttle.succeeded(username, address);
            Ok(done)
        }
        Err(e) if e.status == 401 => {
            let failures = throttle.failed(username, address, std::time::Instant::now());
            tracing::warn!(username, %address, failures, "failed sign-in");
            record_failed_sign_in(db, username, address).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// A failed sign-in, in the audit trail: the username tried (cut to 100 characters) and the
/// address; never the password. The throttle bounds how many a client can cause.
async fn record_failed_sign_in(db: &Db, username: &str, address: std::net::IpAddr) -> AppResult<()> {
    let tried: String = username.chars().take(100).collect();
    let audit =
        Entry::new(&Actor::anonymous(Door::Browser), Action::SignInFailed, format!("user:{tried}"), Links::default(), "A sign-in failed.")
            .fields(serde_json::json!({"username": tried, "address": address.to_string()}));
    let backend = db.backend;
    db.write(move |tx| {
        let audit = audit.clone();
        Box::pin(async move {
            crate::audit::store::append(tx, backend, vec![audit], now_ms()).await?;
            Ok(())
        })
    })
    .await
}

fn invalid_login() -> AppError {
    AppError::unauthorized("That username and password do not match. Check both and try again.")
}

pub async fn session_by_token(db: &Db, token: &str) -> AppResult<Option<Session>> {
    let row = sqlx::query(
        "select u.id, u.username, u.role, s.csrf_token from sessions s join users u on u.id = s.user_id
         where s.token_hash = $1 and s.expires_at > $2",
    )
    .bind(hash_token(token))
    .bind(now_ms())
    .fetch_optional(db.reader())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let role = column("users", r.try_get("id")?, "role", &r.try_get::<String, _>("role")?, Role::parse)?;
    Ok(Some(Session {
        principal: Principal { kind: PrincipalKind::User, id: r.try_get("id")?, name: r.try_get("username")?, role },
        csrf_token: r.try_get("csrf_token")?,
    }))
}

pub async fn logout(db: &Db, token: &str) -> AppResult<()> {
    let token_hash = hash_token(token);
    let backend = db.backend;
    db.write(move |tx| {
        let token_hash = token_hash.clone();
        Box::pin(async move {
            let who = sqlx::query("select u.username, u.role from sessions s join users u on u.id = s.user_id where s.token_hash = $1")
                .bind(&token_hash)
                .fetch_optional(&mut **tx)
                .await?;
            sqlx::query("delete from sessions where token_hash = $1").bind(token_hash).execute(&mut **tx).await?;
            if let Some(r) = who {
                let name: String = r.try_get("username")?;
                let role = Role::parse(&r.try_get::<String, _>("role")?);
                let actor = Actor { identity: format!("user:{name}"), role, door: Door::Browser };
                let audit = Entry::new(&actor, Action::SignedOut, format!("user:{name}"), Links::default(), "Signed out.");
                crate::audit::store::append(tx, backend, vec![audit], now_ms()).await?;
            }
            Ok(())
        })
    })
    .await
}

/// The user named `username`, as a principal (for decisions a webhook carries on their behalf).
pub async fn user_principal(db: &Db, username: &str) -> AppResult<Option<Principal>> {
    let row = sqlx::query("select id, username, role from users where username = $1").bind(username).fetch_optional(db.reader()).await?;
    let Some(r) = row else { return Ok(None) };
    let role = column("users", r.try_get("id")?, "role", &r.try_get::<String, _>("role")?, Role::parse)?;
    Ok(Some(Principal { kind: PrincipalKind::User, id: r.try_get("id")?, name: r.try_get("username")?, role }))
}

/// Creates an API key at the command line and returns `(id, key)`; the key is shown once and
/// only its hash is kept.
pub async fn create_api_key(db: &Db, name: &str, role: Role) -> AppResult<(i64, String)> {
    create_key(db, &Actor::cli(), name, role, None).await
}

/// Creates an API key (by `by`, audited) that stops working at `expires_at` when given.
pub async fn create_key(db: &Db, by: &Actor, name: &str, role: Role, expires_at: Option<i64>) -> AppResult<(i64, String)> {
    validate_username(name).map_err(|_| {
        AppError::unprocessable(ErrorCode::InvalidKeyName, "Key names are 2–40 characters of letters, digits, '_', '-' or '.'.")
    })?;
    let key = generate_token("nofx_", 40);
    let (name_o, prefix, key_hash, now) = (name.to_string(), key[..12].to_string(), hash_token(&key), now_ms());
    let sql = "insert into api_keys (name, key_prefix, key_hash, role, created_at, expires_at) values ($1, $2, $3, $4, $5, $6)
               on conflict (name) do nothing returning id";
    let audit = Entry::new(by, Action::KeyCreated, "api_key:0", Links::default(), format!("Created API key `{name}` ({role})."))
        .fields(serde_json::json!({"name": name, "role": role, "prefix": prefix, "expires_at": expires_at}));
    let binds = vec![
        Bind::Text(name_o),
        Bind::Text(prefix),
        Bind::Text(key_hash),
        Bind::Text(role.as_str().into()),
        Bind::Int(now),
        Bind::MaybeInt(expires_at),
    ];
    let id = insert_unless_taken(db, sql, binds, audit, Some("api_key")).await?;
    match id {
        Some(id) => Ok((id, key)),
        None => Err(AppError::conflict(ErrorCode::KeyNameTaken, format!("An API key named `{name}` already exists."))),
    }
}

/// How often a key's `last_used_at` is written: at most once a minute, so using a key does
/// not cost a write per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The principal behind `key`, when it exists, is not revoked and has not expired.
pub async fn principal_by_api_key(db: &Db, key: &str) -> AppResult<Option<Principal>> {
    let now = now_ms();
    let row = sqlx::query(
        "select id, name, role, last_used_at from api_keys where key_hash = $1 and revoked_at is null
         and (expires_at is null or expires_at > $2)",
    )
    .bind(hash_token(key))
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let id: i64 = r.try_get("id")?;
    let role = column("api_keys", id, "role", &r.try_get::<String, _>("role")?, Role::parse)?;
    let last_used: Option<i64> = r.try_get("last_used_at")?;
    if last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
        db.write(move |tx| {
            Box::pin(async move {
                sqlx::query("update api_keys set last_used_at = $1 where id = $2").bind(now).bind(id).execute(&mut **tx).await?;
                Ok(())
            })
        })
        .await?;
    }
    Ok(Some(Principal { kind: PrincipalKind::ApiKey, id, name: r.try_get("name")?, role }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = generate_token("nofx_", 40);
        let b = generate_token("nofx_", 40);
        assert!(a.starts_with("nofx_") && a.len() == 45);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[tokio::test]
    async fn dummy_hash_is_a_valid_argon2_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("guess".into(), DUMMY_HASH.into()).await);
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("wrong horse".into(), h).await);
    }
}
