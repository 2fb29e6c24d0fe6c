//! Test harness: the real app on a real socket (port 0), on a fresh SQLite file or a fresh
//! PostgreSQL database per test, with helpers for API keys and browser sessions.
#![allow(dead_code)]

pub mod binary;

use leptos::config::LeptosOptions;
use nofx::auth::model::Role;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use nofx::storage::{Backend, Db};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub db: Db,
    pub backend: Backend,
    /// The server's state, for calling services directly (the CLI's door).
    pub state: nofx::state::AppState,
    _tmp: Option<tempfile::TempDir>,
    pg_db: Option<String>,
}

/// Whether a missing PostgreSQL fails the run (CI) or skips the PostgreSQL half with a notice.
fn postgres_required() -> bool {
    std::env::var("NOFX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nofx::storage::now_ms() % 1_000_000)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, FeatureFlags { auto_planner: true, planner_execute: true }).await
    }

    pub async fn spawn_with(backend: Backend, flags: FeatureFlags) -> Option<TestApp> {
        Self::spawn_configured(backend, flags, |_| {}).await
    }

    /// With a configuration adjusted by `configure` (webhook secrets and URLs, expiry, ...).
    pub async fn spawn_configured(backend: Backend, flags: FeatureFlags, configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let (url, tmp, pg_db) = match backend {
            Backend::Sqlite => {
                let tmp = tempfile::tempdir().unwrap();
                (format!("sqlite://{}/nofx.db", tmp.path().display()), Some(tmp), None)
            }
            Backend::Postgres => {
                let name = format!("nofx_test_{}", unique());
                match create_pg_database(&name).await {
                    Ok(()) => (format!("postgres://postgres@127.0.0.1:5432/{name}"), None, Some(name)),
                    Err(e) if !postgres_required() => {
                        eprintln!("SKIPPED the PostgreSQL half: {e} (set NOFX_REQUIRE_POSTGRES=1 to make this a failure)");
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL is required (NOFX_REQUIRE_POSTGRES=1) but unavailable: {e}"),
                }
            }
        };
        let options = LeptosOptions::builder().output_name("nofx").site_root("target/site").site_pkg_dir("pkg").build();
        let mut config = Config::for_tests(url.clone(), flags);
        configure(&mut config);
        let state = nofx::server::prepare(config, options).await.expect("app state");
        let db = state.db.clone();
        let limits = state.config.limits;
        let kept = state.clone();
        let app = nofx::server::app(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The production accept loop: its limits and client addresses are part of what is tested.
        tokio::spawn(async move { nofx::server::serve(listener, app, limits, std::future::pending()).await.unwrap() });
        Some(TestApp { base: format!("http://{addr}"), database_url: url, db, backend, state: kept, _tmp: tmp, pg_db })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A fresh API key with `role`.
    pub async fn key(&self, role: Role) -> String {
        let name = format!("{}-{}", role.as_str(), unique());
        nofx::auth::service::create_api_key(&self.db, &name, role).await.unwrap().1
    }

    /// An HTTP client that sends `Authorization: Bearer <key>` for a new key with `role`.
    pub async fn api(&self, role: Role) -> Api {
        Api { base: self.base.clone(), key: Some(self.key(role).await), http: Client::new() }
    }

    pub fn anonymous(&self) -> Api {
        Api { base: self.base.clone(), key: None, http: Client::new() }
    }

    /// A cookie-keeping client that is not signed in (a stranger at the sign-in form).
    pub fn anonymous_browser(&self) -> Browser {
        let http = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: self.base.clone(), http, csrf: String::new(), username: String::new() }
    }

    /// Creates a user and returns a cookie-keeping client signed in as them, plus the CSRF token.
    pub async fn browser(&self, role: Role) -> Browser {
        let username = format!("{}{}", role.as_str(), unique());
        nofx::auth::service::create_user(&self.db, &username, "correct horse battery", role).await.unwrap();
        self.sign_in(&username, "correct horse battery").await
    }

    /// A cookie-keeping client signed in as an existing user, plus the CSRF token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Browser {
        let username = username.to_string();
        let http = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = http
            .post(self.url("/_fn/login"))
            .header("accept", "application/json")
            .form(&[("username", username.as_str()), ("password", password), ("next", "/backlog")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success() || res.status().is_redirection(), "login failed: {}", res.status());
        let session: Value =
            http.post(self.url("/_fn/get_session")).header("accept", "application/json").send().await.unwrap().json().await.unwrap();
        let csrf = session["csrf"].as_str().expect("signed in").to_string();
        Browser { base: self.base.clone(), http, csrf, username }
    }

    /// Rows in a table, to prove that rejected requests wrote nothing.
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("select count(*) as n from {table}")).fetch_one(self.db.reader()).await.unwrap().get::<i64, _>("n")
    }

    /// Runs one SQL statement through the server's one write path (tests that stage a state no
    /// request can make: a corrupt row, a deadline in the past).
    pub async fn sql(&self, statement: impl Into<String>) {
        let statement: String = statement.into();
        self.db
            .write(move |tx| {
                let statement = statement.clone();
                Box::pin(async move {
                    sqlx::query(&statement).execute(&mut **tx).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = self.pg_db.take() {
            // Drop the per-test database on a side thread: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    if let Ok(mut c) = pg_admin().await {
                        use sqlx::Executor;
                        let _ = c.execute(format!("drop database if exists {name} with (force)").as_str()).await;
                    }
                });
            })
            .join();
        }
    }
}

/// A fresh PostgreSQL database for a test that runs its own servers: its URL, or `None` (with a
/// notice) when PostgreSQL is unavailable and not required.
pub async fn fresh_postgres() -> Option<String> {
    let name = format!("nofx_test_{}", unique());
    match create_pg_database(&name).await {
        Ok(()) => Some(format!("postgres://postgres@127.0.0.1:5432/{name}")),
        Err(e) if !postgres_required() => {
            eprintln!("SKIPPED: {e} (set NOFX_REQUIRE_POSTGRES=1 to make this a failure)");
            None
        }
        Err(e) => panic!("PostgreSQL is required (NOFX_REQUIRE_POSTGRES=1) but unavailable: {e}"),
    }
}

/// Drops a database [`fresh_postgres`] made (after its servers stopped).
pub async fn drop_postgres(url: &str) {
    use sqlx::Executor;
    let name = url.rsplit('/').next().unwrap_or_default().to_string();
    if let Ok(mut c) = pg_admin().await {
        let _ = c.execute(format!("drop database if exists {name} with (force)").as_str()).await;
    }
}

async fn pg_admin() -> Result<sqlx::PgConnection, sqlx::Error> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(PG_ADMIN_URL).await
}

pub async fn create_pg_database(name: &str) -> Result<(), String> {
    use sqlx::Executor;
    let mut c = pg_admin().await.map_err(|e| format!("cannot reach PostgreSQL at {PG_ADMIN_URL}: {e}"))?;
    c.execute(format!("create database {name}").as_str()).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    pub http: Client,
}

impl Api {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        into_json(self.req(reqwest::Method::GET, path).send().await.unwrap()).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        into_json(self.req(reqwest::Method::POST, path).json(&body).send().await.unwrap()).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        into_json(self.req(reqwest::Method::PATCH, path).json(&body).send().await.unwrap()).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        into_json(self.req(reqwest::Method::DELETE, path).send().await.unwrap()).await
    }
    pub async fn delete_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        into_json(self.req(reqwest::Method::DELETE, path).json(&body).send().await.unwrap()).await
    }
    /// POST with an `Idempotency-Key`; also returns the response headers.
    pub async fn post_idempotent(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.post_with(path, &[("idempotency-key", key)], body).await
    }
    /// POST with extra request headers; also returns the response headers.
    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Value) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let req = headers.iter().fold(self.req(reqwest::Method::POST, path), |r, (k, v)| r.header(*k, *v));
        let res = req.json(&body).send().await.unwrap();
        let headers = res.headers().clone();
        let (s, v) = into_json(res).await;
        (s, v, headers)
    }
    /// A raw GET, for non-JSON responses and streams.
    pub async fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut r = self.req(reqwest::Method::GET, path);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    }
    /// Sends raw bytes with a content type, for malformed-input tests.
    /// A raw body on a connection of its own: the server may answer a bad or oversized body
    /// before reading it and then close the connection, which a pooled request after it would hit.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let req = self.req(reqwest::Method::POST, path).header("content-type", content_type).header("connection", "close");
        into_json(req.body(body).send().await.unwrap()).await
    }

    /// A JSON POST over a raw socket: `framing` is the body's length header, `body` what is
    /// actually sent, which may be only a part. Used for oversized bodies: sending megabytes the
    /// server will not read races its close against the client's writes, and the reset can
    /// lose the response; a test sends just enough to cross the limit and then reads.
    pub async fn post_socket(&self, path: &str, framing: &str, body: &[u8]) -> (StatusCode, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let mut sock = tokio::net::TcpStream::connect(host).await.unwrap();
        let auth = self.key.as_ref().map(|k| format!("authorization: Bearer {k}\r\n")).unwrap_or_default();
        let head = format!("POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n{framing}\r\n{auth}\r\n");
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let read = async {
            // Until the whole response is in: headers, then Content-Length bytes or the last chunk.
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let lower = head.to_ascii_lowercase();
                    let len = lower.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
                    if n == 0
                        || len.is_some_and(|l| body.len() >= l)
                        || (lower.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n"))
                    {
                        return (head.to_string(), body.to_string(), lower.contains("transfer-encoding: chunked"));
                    }
                }
                assert!(n > 0, "connection closed before a response: {:?}", String::from_utf8_lossy(&raw));
            }
        };
        let (head, body, chunked) = tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("no response within 10 s");
        let status = StatusCode::from_u16(head[9..12].parse().unwrap()).unwrap();
        let body = if chunked {
            // "<hex len>\r\n<data>\r\n" repeated, ending with a zero-length chunk.
            let mut out = String::new();
            let mut rest = body.as_str();
            while let Some((len, tail)) = rest.split_once("\r\n") {
                let len = usize::from_str_radix(len.trim(), 16).unwrap();
                if len == 0 {
                    break;
                }
                out.push_str(&tail[..len]);
                rest = &tail[len + 2..];
            }
            out
        } else {
            body
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }
}

/// Waits until `condition` holds (checked every 10 ms; panics naming `what` after 30 s). For
/// tests that must act after something else has happened, instead of sleeping and hoping.
pub async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub async fn into_json(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, value)
}

pub struct Browser {
    pub base: String,
    pub http: Client,
    pub csrf: String,
    pub username: String,
}

impl Browser {
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let res = self.http.get(format!("{}{}", self.base, path)).header("accept", "text/html").send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }
    /// Submits a server function the way the hydrated app does (JSON back, no redirect follow).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value, Option<String>) {
        let res =
            self.http.post(format!("{}/_fn/{endpoint}", self.base)).header("accept", "application/json").form(form).send().await.unwrap();
        let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let (s, v) = into_json(res).await;
        (s, v, location)
    }
    /// Submits a form the way a browser without JavaScript does (HTML accepted, Referer set).
    pub async fn submit_plain(&self, endpoint: &str, referer: &str, form: &[(&str, &str)]) -> (StatusCode, Option<String>) {
        let res = self
            .http
            .post(format!("{}/_fn/{endpoint}", self.base))
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", format!("{}{}", self.base, referer))
            .form(form)
            .send()
            .await
            .unwrap();
        (res.status(), res.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from))
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::TestApp::spawn(nofx::storage::Backend::Sqlite).await.unwrap();
                super::$name(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::spawn(nofx::storage::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )*};
}

/// Registers `tools` and one item per entry of `items` (title, tools, indexes of earlier items
/// it depends on), plans them all, and returns the plan.
pub async fn plan_of(app: &TestApp, tools: &[serde_json::Value], items: &[(&str, &[&str], &[usize])]) -> serde_json::Value {
    let admin = app.api(Role::Admin).await;
    for t in tools {
        let (s, b) = admin.post("/api/tools", t.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, pack) = admin.post("/api/packs", serde_json::json!({"name": format!("Run {}", unique())})).await;
    let pack = pack["id"].as_i64().unwrap();
    let mut ids: Vec<i64> = vec![];
    for (title, tools, deps) in items {
        let deps: Vec<i64> = deps.iter().map(|&i| ids[i]).collect();
        let (s, item) = admin
            .post(
                "/api/items",
                serde_json::json!({"pack_id": pack, "title": title, "tools": tools, "depends_on": deps, "risk": "low", "estimate_minutes": 5}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    let (s, plan) = admin.post("/api/auto-planner/plan", serde_json::json!({"item_ids": ids})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    plan
}

/// Polls a plan's run until its status is `status` (every 20 ms, for at most 30 s).
pub async fn run_reaches(api: &Api, plan_id: i64, status: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, run) = api.get(&format!("/api/plans/{plan_id}/run")).await;
        if s == StatusCode::OK && run["status"] == status {
            return run;
        }
        assert!(std::time::Instant::now() < deadline, "plan {plan_id} did not become {status}: {run}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
