//! Execution benchmark (release build), on SQLite and PostgreSQL, over the real HTTP API on
//! loopback:
//! - steps per second end to end (claim + complete) with 32 workers serving a plan of 2,000
//!   no-op steps, next to raw single-row insert + commit on the same database in the same run;
//! - latency from a step becoming claimable (its dependency completed, or its approval decided)
//!   to a long-polling worker receiving it, p50 / p99;
//! - (SQLite, the real binary) time from a restart after `kill -9` to the first resumed step.
//!
//! Run: `cargo bench --features ssr --bench execution` (`-- sqlite` or `-- postgres` for one).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use leptos::config::LeptosOptions;
use nofx::auth::model::Role;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use nofx::plan::model::PlanRequest;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{ms, pct};

const WORKERS: usize = 32;
const STEPS: usize = 2_000;
const ROUNDS: usize = 200;

struct Server {
    base: String,
    state: nofx::state::AppState,
    http: reqwest::Client,
    worker: String,
    reviewer: String,
    planner: nofx::auth::model::Principal,
    _policy: tempfile::TempDir,
}

/// The bench's policy: budgets and durations no bench plan reaches, and no plan approvals (the
/// steps, not the inbox, are measured).
const POLICY: &str = "[resource]\nbudget_usd = 1000000000.0\nmax_duration_minutes = 1000000000\n\n[execution]\napprove_plans = \"never\"\n";

async fn server(url: String) -> Server {
    let options = LeptosOptions::builder().output_name("nofx").build();
    let mut config = Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true });
    config.body_limit = 1024 * 1024;
    let policy = tempfile::tempdir().unwrap();
    std::fs::write(policy.path().join("policy.toml"), POLICY).unwrap();
    config.policy_path = Some(policy.path().join("policy.toml"));
    let state = nofx::server::prepare(config, options).await.unwrap();
    let (_, worker) = nofx::auth::service::create_api_key(&state.db, "bench-worker", Role::Worker).await.unwrap();
    let (_, reviewer) = nofx::auth::service::create_api_key(&state.db, "bench-reviewer", Role::Reviewer).await.unwrap();
    let limits = state.config.limits;
    let app = nofx::server::app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { nofx::server::serve(listener, app, limits, std::future::pending()).await.unwrap() });
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    Server { base, state, http, worker, reviewer, planner: support::admin(), _policy: policy }
}

impl Server {
    async fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.base) };
        let res = self.http.post(url).bearer_auth(key).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn claim(&self, tool: &str, wait_s: u64) -> Option<Value> {
        let (s, job) = self.post(&self.worker, "/api/worker/claim", json!({"tools": [tool], "worker": "bench", "wait_s": wait_s})).await;
        match s {
            200 => Some(job),
            204 => None,
            other => panic!("claim answered {other}: {job}"),
        }
    }

    async fn complete(&self, job: &Value) {
        let url = format!("{}{}", self.base, job["links"]["complete"].as_str().unwrap());
        let (s, b) = self.post(&self.worker, &url, json!({"fence": job["fence"]})).await;
        assert_eq!(s, 200, "{b}");
    }

    /// Registers `tools`, plans `n` items (item `i` runs `tool_of(i)` and depends on item `i − 1`
    /// when `chain`), executes the plan, and returns its id.
    async fn plan(&self, tools: &[(&str, bool)], n: usize, chain: bool, tool_of: impl Fn(usize) -> usize) -> i64 {
        let admin = &self.planner;
        for &(id, sensitive) in tools {
            let input = nofx::backlog::model::ToolInput {
                id: Some(id.into()),
                sensitive: Some(sensitive),
                required_approvals: sensitive.then_some(1),
                ..Default::default()
            };
            nofx::backlog::service::create_tool(&self.state.db, admin, &input).await.unwrap();
        }
        let pack = nofx::backlog::service::create_pack(
            &self.state.db,
            admin,
            &nofx::backlog::model::PackInput { name: Some(format!("bench {}", tools[0].0)), ..Default::default() },
        )
        .await
        .unwrap()
        .id;
        let mut ids: Vec<i64> = vec![];
        for i in 0..n {
            let input = nofx::backlog::model::ItemInput {
                pack_id: Some(pack),
                title: Some(format!("step {i}")),
                tools: Some(vec![tools[tool_of(i)].0.to_string()]),
                depends_on: Some(if chain && i > 0 { vec![ids[i - 1]] } else { vec![] }),
                ..Default::default()
            };
            ids.push(nofx::backlog::service::create_item(&self.state.db, admin, &input).await.unwrap().id);
        }
        let request = PlanRequest { item_ids: Some(ids), ..Default::default() };
        let plan = nofx::planner::service::create_plan(&self.state, admin, &request).await.unwrap();
        assert_eq!(plan.status, nofx::plan::model::PlanStatus::Ready, "{:?}", plan.findings);
        nofx::execution::service::execute(&self.state, admin, plan.id).await.unwrap();
        plan.id
    }
}

/// Raw single-row insert + commit with `WORKERS` concurrent clients on `url`: rows per second.
async fn raw_rate(url: &str, sqlite: bool) -> f64 {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let url = if sqlite { format!("{url}?mode=rwc") } else { url.to_string() };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(if sqlite { 8 } else { 10 })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    conn.execute("pragma busy_timeout = 10000; pragma synchronous = normal;").await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    if sqlite {
        // WAL, as the server runs it.
        sqlx::query("pragma journal_mode = wal").execute(&pool).await.unwrap();
    }
    let id = if sqlite { "integer primary key autoincrement" } else { "bigint generated by default as identity primary key" };
    sqlx::query(&format!("create table bench_raw (id {id}, v text not null, at bigint not null)")).execute(&pool).await.unwrap();
    // SQLite takes one writer at a time: the faster of letting writers meet at its lock and
    // queueing them behind one mutex (as the server's single writer does).
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let mut best: f64 = 0.0;
    for gated in [false, true] {
        if gated && !sqlite {
            continue;
        }
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (pool, gate, next) = (pool.clone(), gate.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < STEPS {
                        let _turn = if gated { Some(gate.lock().await) } else { None };
                        let mut tx = pool.begin().await.unwrap();
                        sqlx::query("insert into bench_raw (v, at) values ($1, $2)")
                            .bind("row")
                            .bind(1_i64)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        best = best.max(STEPS as f64 / start.elapsed().as_secs_f64());
    }
    pool.close().await;
    best
}

async fn bench(name: &str, url: String) {
    let raw = raw_rate(&url, name == "sqlite").await;
    let s = Arc::new(server(url).await);

    // Throughput: 32 workers drain 2,000 independent no-op steps.
    let plan = s.plan(&[("noop", false)], STEPS, false, |_| 0).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(job) = s.claim("noop", 0).await {
                    s.complete(&job).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    assert_eq!(done, STEPS);
    let run = nofx::execution::service::get_run(&s.state, &s.planner, plan).await.unwrap();
    assert_eq!(run.status, nofx::plan::model::PlanStatus::Succeeded);
    println!(
        "{name:>10}  steps end to end (claim + complete, {WORKERS} workers, {STEPS} steps) {rate:>7.0} /s   raw insert+commit {raw:>7.0} /s   ({:.0}% of raw)",
        rate / raw * 100.0
    );

    // Dependency completed → the next step reaches a worker already waiting for its tool: a
    // chain alternating two tools, each served by its own long-polling worker.
    s.plan(&[("ping", false), ("pong", false)], ROUNDS, true, |i| i % 2).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant, Instant)>();
    let mut players = vec![];
    for tool in ["ping", "pong"] {
        let (s, tx) = (s.clone(), tx.clone());
        players.push(tokio::spawn(async move {
            let mut turn = if tool == "ping" { 0 } else { 1 };
            while turn < ROUNDS {
                let job = s.claim(tool, 30).await.expect("the next step within 30 s");
                let received = Instant::now();
                let sent = Instant::now();
                s.complete(&job).await;
                let _ = tx.send((turn, sent, received));
                turn += 2;
            }
        }));
    }
    drop(tx);
    for p in players {
        p.await.unwrap();
    }
    let mut by_turn: Vec<(usize, Instant, Instant)> = vec![];
    while let Some(x) = rx.recv().await {
        by_turn.push(x);
    }
    by_turn.sort_by_key(|x| x.0);
    // From the moment step i's complete was sent (its commit makes step i+1 claimable) to the
    // moment step i+1's worker had it: an upper bound (it includes the complete's own commit).
    let mut lat: Vec<Duration> = by_turn.windows(2).map(|w| w[1].2.saturating_duration_since(w[0].1)).collect();
    lat.sort();
    println!(
        "{name:>10}  dependency completed → waiting worker has the next step   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} rounds; from the complete request's send, so its commit is included)",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.len()
    );

    // Approval decided → a waiting worker has the step: 50 sensitive steps, decided one by one.
    let rounds = 50;
    let plan = s.plan(&[("guarded", true)], rounds, false, |_| 0).await;
    let run = nofx::execution::service::get_run(&s.state, &s.planner, plan).await.unwrap();
    let approvals: Vec<i64> = run.steps.iter().filter_map(|x| x.approval_id).collect();
    assert_eq!(approvals.len(), rounds);
    let mut lat = vec![];
    for id in approvals {
        let waiting = {
            let s = s.clone();
            tokio::spawn(async move {
                let job = s.claim("guarded", 30).await.expect("the approved step within 30 s");
                (Instant::now(), job)
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await; // let it park in its long-poll
        let decided = Instant::now();
        let (st, b) = s.post(&s.reviewer, &format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
        assert_eq!(st, 200, "{b}");
        let (received, job) = waiting.await.unwrap();
        s.complete(&job).await;
        lat.push(received - decided);
    }
    lat.sort();
    println!(
        "{name:>10}  approval decided → waiting worker has the step            p50 {:>6.2} ms   p99 {:>6.2} ms   ({rounds} rounds; from the decision request's send)",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
}

/// The real binary on SQLite, killed with SIGKILL mid-run and started again: time from the new
/// process's start to the first step a worker completes after it (5 times).
async fn restarts() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nofx.db", dir.path().display());
    let bin = env!("CARGO_BIN_EXE_nofx");
    let nofx = || {
        let mut c = Command::new(bin);
        c.env("DATABASE_URL", &db).env("FEATURE_AUTO_PLANNER", "on").env("FEATURE_PLANNER_EXECUTE", "on").env("RUST_LOG", "error");
        c
    };
    let key = |role: &str| {
        let out = nofx().args(["api-key", "create", "--name", role, "--role", role]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_string()
    };
    let (admin, worker) = (key("admin"), key("worker"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let start =
        || nofx().args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut child = start();
    let http = reqwest::Client::new();
    let post = |key: String, path: String, body: Value| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let url = if path.starts_with("http") { path } else { format!("{base}{path}") };
            let res = http.post(url).bearer_auth(key).timeout(Duration::from_secs(5)).json(&body).send().await.ok()?;
            let status = res.status().as_u16();
            let text = res.text().await.ok()?;
            Some((status, if text.is_empty() { Value::Null } else { serde_json::from_str::<Value>(&text).ok()? }))
        }
    };
    while post(admin.clone(), "/api/health".into(), json!({})).await.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    post(admin.clone(), "/api/tools".into(), json!({"id": "work"})).await.unwrap();
    let (_, pack) = post(admin.clone(), "/api/packs".into(), json!({"name": "Restart"})).await.unwrap();
    let mut ids = vec![];
    for i in 0..40 {
        let (_, item) =
            post(admin.clone(), "/api/items".into(), json!({"pack_id": pack["id"], "title": format!("r{i}"), "tools": ["work"]}))
                .await
                .unwrap();
        ids.push(item["id"].clone());
    }
    let (_, plan) = post(admin.clone(), "/api/auto-planner/plan".into(), json!({"item_ids": ids})).await.unwrap();
    let (s, _) = post(admin.clone(), "/api/auto-planner/execute".into(), json!({"plan_id": plan["id"]})).await.unwrap();
    assert_eq!(s, 202);
    let mut times = vec![];
    for _ in 0..5 {
        // One step before the kill, so the run is mid-way.
        let (_, job) = post(worker.clone(), "/api/worker/claim".into(), json!({"tools": ["work"]})).await.unwrap();
        post(worker.clone(), format!("{base}{}", job["links"]["complete"].as_str().unwrap()), json!({"fence": job["fence"]}))
            .await
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let restarted = Instant::now();
        child = start();
        // A worker retrying every 5 ms, as `nofx worker` does while the server is down.
        loop {
            if let Some((200, job)) = post(worker.clone(), "/api/worker/claim".into(), json!({"tools": ["work"]})).await {
                let done =
                    post(worker.clone(), format!("{base}{}", job["links"]["complete"].as_str().unwrap()), json!({"fence": job["fence"]}))
                        .await;
                if matches!(done, Some((200, _))) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(restarted.elapsed());
    }
    child.kill().unwrap();
    times.sort();
    println!(
        "{:>10}  kill -9 → restarted process → first resumed step completed   median {:>6.1} ms   worst {:>6.1} ms   (5 restarts)",
        "sqlite",
        ms(times[2]),
        ms(times[4])
    );
}

#[tokio::main]
async fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!("execution bench (release build, loopback HTTP)");
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        bench("sqlite", format!("sqlite://{}/bench.db", dir.path().display())).await;
        restarts().await;
    }
    if only.as_deref().is_none_or(|o| o == "postgres") {
        if let Some(name) = support::pg_database().await {
            bench("postgres", format!("postgres://postgres@127.0.0.1:5432/{name}")).await;
            support::drop_pg_database(&name).await;
        }
    }
}
