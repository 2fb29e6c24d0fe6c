//! Approvals benchmark (release build, SQLite): decisions per second and latency with 32
//! concurrent clients, next to raw single-row SQLite insert+commit throughput measured in the
//! same run on the same pool; decision → waiting caller woken; inbox page render with 500
//! pending requests. Run: `cargo bench --features ssr --bench approvals`.

// The same allocator as the `nofx` binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::body::Body;
use http::Request;
use leptos::config::LeptosOptions;
use nofx::approvals::model::Decision;
use nofx::approvals::service::{self, ApprovalRequest};
use nofx::auth::model::{Principal, PrincipalKind, Role};
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use nofx::state::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tower::ServiceExt;

mod support;
use support::pct;

const CLIENTS: usize = 32;
const DECISIONS: usize = 4_000;

fn who(name: &str, role: Role) -> Principal {
    Principal { kind: PrincipalKind::ApiKey, id: 0, name: name.into(), role }
}

/// A plain sqlx pool on the bench's database file, with the server's SQLite settings.
async fn raw_pool(dir: &tempfile::TempDir) -> sqlx::AnyPool {
    use sqlx::Executor;
    sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("pragma foreign_keys = on; pragma busy_timeout = 10000; pragma synchronous = normal;").await?;
                Ok(())
            })
        })
        .connect(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .unwrap()
}

async fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let options = LeptosOptions::builder().output_name("nofx").build();
    let state =
        nofx::server::prepare(Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true }), options).await.unwrap();
    let input = nofx::backlog::model::ToolInput {
        id: Some("deploy:prod".into()),
        sensitive: Some(true),
        required_approvals: Some(1),
        mutating: Some(true),
        rollback: Some("roll back".into()),
        ..Default::default()
    };
    nofx::backlog::service::create_tool(&state.db, &who("bench", Role::Admin), &input).await.unwrap();
    (state, dir)
}

async fn create(state: &AppState, n: usize) -> Vec<i64> {
    let agent = who("agent", Role::Automation);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let req = ApprovalRequest {
            tool_id: Some("deploy:prod".into()),
            args: serde_json::json!({"n": i}),
            expires_in_s: Some(86_400),
            ..Default::default()
        };
        ids.push(service::request(state, &agent, &req).await.unwrap().id);
    }
    ids
}

/// `CLIENTS` tasks draining a shared queue; returns (ops/s, sorted latencies).
async fn concurrent<F, Fut>(n: usize, op: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(Mutex::new(0usize));
    let op = Arc::new(op);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, op) = (next.clone(), op.clone());
            tokio::spawn(async move {
                let mut lat = vec![];
                loop {
                    let i = {
                        let mut g = next.lock().await;
                        if *g >= n {
                            break;
                        }
                        *g += 1;
                        *g - 1
                    };
                    let t = Instant::now();
                    op(i).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    (n as f64 / secs, all)
}

#[tokio::main]
async fn main() {
    println!("approvals bench (release build, SQLite, {CLIENTS} concurrent clients)");
    let (state, _dir) = state().await;

    // Baselines: raw single-row insert + commit at the same concurrency, on a pool of the
    // server's read pool size with the server's pragmas: straight (writers meet at SQLite's lock)
    // and queued one at a time behind a mutex (as a single writer would). The ratio below is
    // against the faster of the two.
    let raw = raw_pool(&_dir).await;
    sqlx::query("create table bench_raw (id integer primary key autoincrement, v text not null, at integer not null)")
        .execute(&raw)
        .await
        .unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
    let mut raws = vec![];
    for gated in [false, true] {
        let (pool, gate) = (raw.clone(), gate.clone());
        let (rate, lat) = concurrent(DECISIONS, move |i| {
            let (pool, gate) = (pool.clone(), gate.clone());
            async move {
                let insert = sqlx::query("insert into bench_raw (v, at) values ($1, $2)").bind(format!("row {i}")).bind(i as i64);
                let _turn = if gated { Some(gate.lock().await) } else { None };
                let mut tx = pool.begin().await.unwrap();
                insert.execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
        .await;
        let label = if gated { "raw insert+commit, gated" } else { "raw insert+commit       " };
        println!("  {label} {rate:>8.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms", pct(&lat, 0.5), pct(&lat, 0.99));
        raws.push(rate);
    }
    let raw_rate = raws.iter().cloned().fold(0.0, f64::max);
    // The baselines' connections go before the server's own writes are measured.
    raw.close().await;

    // Decisions: each locks its request, runs the state machine, writes log + vote + status +
    // event in one transaction, and wakes waiters.
    let ids = Arc::new(create(&state, DECISIONS).await);
    let reviewers: Arc<Vec<Principal>> = Arc::new((0..CLIENTS).map(|i| who(&format!("reviewer-{i}"), Role::Reviewer)).collect());
    let st = state.clone();
    let (rate, lat) = concurrent(DECISIONS, move |i| {
        let (st, ids, reviewers) = (st.clone(), ids.clone(), reviewers.clone());
        async move {
            service::decide_as(&st, &reviewers[i % CLIENTS], ids[i], Decision::Approve, "ok").await.unwrap();
        }
    })
    .await;
    println!(
        "  decisions                  {rate:>8.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({:.0}% of the faster raw insert+commit)",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        rate / raw_rate * 100.0
    );

    // Decision → waiting caller woken.
    let ids = create(&state, 300).await;
    let reviewer = who("waker", Role::Reviewer);
    let mut wake = vec![];
    for id in ids {
        let st = state.clone();
        let waiter = tokio::spawn(async move {
            let a = service::wait(&st, &who("waiter", Role::Automation), id, Duration::from_secs(30)).await.unwrap();
            (Instant::now(), a.status)
        });
        tokio::time::sleep(Duration::from_millis(2)).await; // let it subscribe and park
        let decided = Instant::now();
        service::decide_as(&state, &reviewer, id, Decision::Approve, "").await.unwrap();
        let (woken, status) = waiter.await.unwrap();
        assert_eq!(status, nofx::approvals::model::ApprovalStatus::Approved);
        wake.push(woken - decided);
    }
    wake.sort();
    println!(
        "  decide call → waiter woken  p50 {:>6.2} ms   p99 {:>6.2} ms   (300 rounds; includes the decision's own commit)",
        pct(&wake, 0.5),
        pct(&wake, 0.99)
    );

    // Inbox page with 500 pending requests, server render over the real router.
    let (state, _dir2) = self::state().await;
    create(&state, 500).await;
    nofx::auth::service::create_user(&state.db, "reviewer", "bench-password-1", Role::Reviewer).await.unwrap();
    let (token, _) = nofx::auth::service::login(&state.db, "reviewer", "bench-password-1", 3_600_000).await.unwrap();
    let app = nofx::server::app(state);
    let mut times = vec![];
    let mut size = 0;
    for i in 0..60 {
        let req = Request::get("/approvals")
            .header("cookie", format!("nofx_session={token}"))
            .header("accept", "text/html")
            .body(Body::empty())
            .unwrap();
        let start = Instant::now();
        let res = app.clone().oneshot(req).await.unwrap();
        assert!(res.status().is_success());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        if i >= 10 {
            times.push(start.elapsed());
        }
        size = body.len();
    }
    times.sort();
    println!(
        "  inbox page, 500 pending    p50 {:>6.2} ms   p95 {:>6.2} ms   {} KB of HTML",
        pct(&times, 0.5),
        pct(&times, 0.95),
        size / 1024
    );
}
