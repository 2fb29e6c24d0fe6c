//! Audit trail benchmark (release build, SQLite): approval decisions per second over real HTTP
//! with 32 clients with the audit trail, next to the same without it, in the same run (two
//! rounds each, alternating); and `nofx audit verify`'s work over 1,000,000 records.
//! Run: `cargo bench --features ssr --bench audit`.

// The same allocator as the `nofx` binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use leptos::config::LeptosOptions;
use nofx::audit::model::{chain, Action, Actor, Door, Entry, Head, Links};
use nofx::auth::model::Role;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::pct;

const CLIENTS: usize = 32;
const DECISIONS: usize = 3_000;
const RECORDS: i64 = 1_000_000;

/// The server on a socket, as clients reach it.
async fn server() -> (nofx::state::AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let options = LeptosOptions::builder().output_name("nofx").build();
    let state =
        nofx::server::prepare(Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true }), options).await.unwrap();
    let limits = state.config.limits;
    let app = nofx::server::app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { nofx::server::serve(listener, app, limits, std::future::pending()).await.unwrap() });
    (state, base, dir)
}

/// `n` pending requests for `deploy:prod`, asked through the service.
async fn pending(state: &nofx::state::AppState, n: usize) -> Vec<i64> {
    let agent = support::admin();
    let agent = nofx::auth::model::Principal { role: Role::Automation, ..agent };
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let req = nofx::approvals::service::ApprovalRequest {
            tool_id: Some("deploy:prod".into()),
            args: serde_json::json!({"n": i}),
            expires_in_s: Some(86_400),
            ..Default::default()
        };
        ids.push(nofx::approvals::service::request(state, &agent, &req).await.unwrap().id);
    }
    ids
}

/// `CLIENTS` clients deciding `ids` over HTTP; (decisions/s, sorted latencies).
async fn decide(base: &str, key: &str, ids: Vec<i64>) -> (f64, Vec<Duration>) {
    let queue = Arc::new(std::sync::Mutex::new(ids));
    let http = reqwest::Client::new();
    let start = Instant::now();
    let n = queue.lock().unwrap().len();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (queue, http, base, key) = (queue.clone(), http.clone(), base.to_string(), key.to_string());
            tokio::spawn(async move {
                let mut lat = vec![];
                loop {
                    let Some(id) = queue.lock().unwrap().pop() else { break };
                    let t = Instant::now();
                    let res = http
                        .post(format!("{base}/api/approvals/{id}/decision"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({"decision": "approve", "comment": "ok"}))
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
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
    let rate = n as f64 / start.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

#[tokio::main]
async fn main() {
    println!("audit bench (release build, SQLite, {CLIENTS} HTTP clients)");
    let (state, base, _dir) = server().await;
    let tool = nofx::backlog::model::ToolInput {
        id: Some("deploy:prod".into()),
        sensitive: Some(true),
        required_approvals: Some(1),
        ..Default::default()
    };
    nofx::backlog::service::create_tool(&state.db, &support::admin(), &tool).await.unwrap();
    let key = nofx::auth::service::create_api_key(&state.db, "bench-reviewer", Role::Reviewer).await.unwrap().1;

    // Alternating rounds, so neither side gets the warmer cache or the smaller database.
    let mut with = vec![];
    let mut without = vec![];
    for round in 0..2 {
        for audited in [false, true] {
            let ids = pending(&state, DECISIONS).await;
            nofx::audit::store::disable_for_benchmark(!audited);
            let (rate, lat) = decide(&base, &key, ids).await;
            nofx::audit::store::disable_for_benchmark(false);
            let label = if audited { "with the audit trail   " } else { "without the audit trail" };
            println!(
                "  round {round}: decisions {label} {rate:>7.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms",
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
            if audited {
                with.push(rate)
            } else {
                without.push(rate)
            }
        }
    }
    let (w, wo) = (with.iter().sum::<f64>() / 2.0, without.iter().sum::<f64>() / 2.0);
    println!(
        "  mean: {w:.0} /s with, {wo:.0} /s without: the audit trail costs {:.1} % of the throughput (target ≤ 15 %)",
        (1.0 - w / wo) * 100.0
    );
    let chain = nofx::audit::store::verify(&state.db, None).await.unwrap();
    assert!(chain.broken.is_none(), "{chain:?}");
    println!("  the bench's own chain: {} records, intact", chain.records);

    // Verification of a million records, written straight into a fresh database.
    let dir = tempfile::tempdir().unwrap();
    let db = nofx::storage::Db::connect(&format!("sqlite://{}/audit.db", dir.path().display())).await.unwrap();
    db.migrate().await.unwrap();
    let t = Instant::now();
    let actor = Actor { identity: "user:bench".into(), role: Some(Role::Reviewer), door: Door::Browser };
    let mut head = Head::empty();
    let batch = 10_000;
    for start in (0..RECORDS).step_by(batch as usize) {
        let records: Vec<_> = (start..start + batch)
            .map(|i| {
                let e = Entry::new(&actor, Action::ApprovalApproved, format!("approval:{i}"), Links { approval: Some(i), plan: Some(i / 40), ..Links::default() }.with_items([i % 5000], [i % 40]), "Approved `deploy:prod`.")
                    .fields(serde_json::json!({"approval_id": i, "tool_id": "deploy:prod", "status": "approved", "requester": "key:agent", "note": "ok"}));
                let r = chain::seal(e, &head, 1_796_000_000_000 + i);
                head = Head { seq: r.seq, hash: r.hash.clone() };
                r
            })
            .collect();
        let records = Arc::new(records);
        db.write(move |tx| {
            let records = records.clone();
            Box::pin(async move {
                for r in records.iter() {
                    nofx::audit::store::insert(tx, r).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    }
    println!("  wrote {RECORDS} records in {:.1} s", t.elapsed().as_secs_f64());
    for run in 0..3 {
        let t = Instant::now();
        let status = nofx::audit::store::verify(&db, Some(&head)).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(status.broken.is_none() && status.records == RECORDS, "{status:?}");
        println!("  verify {RECORDS} records (run {run}): {secs:.2} s (target < 10 s)");
    }
}
