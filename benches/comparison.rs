//! What a planner waits for when comparing (release build): `POST /api/auto-planner/compare` of
//! 2,000 backlog items with the four built-in strategies, over loopback HTTP (providers asked at
//! once, four plans built and gated side by side on the blocking pool, scored, the comparison and
//! its four gated plan documents stored, the answer read to the end), next to one `POST
//! /api/auto-planner/plan` of the same items, alternating in the same run. Target: at most 2× one
//! plan on two cores. On SQLite and, when it answers, on PostgreSQL.
//! Run: `cargo bench --features ssr --bench comparison` (`-- sqlite` or `-- postgres` for one).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use leptos::config::LeptosOptions;
use nofx::auth::model::Role;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use std::time::{Duration, Instant};

mod support;
use support::{median, ms};

const ITEMS: usize = 2_000;
const RUNS: usize = 9;

async fn post(http: &reqwest::Client, url: &str, key: &str, body: &str) -> (Duration, usize, serde_json::Value) {
    let start = Instant::now();
    let res = http.post(url).bearer_auth(key).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
    let bytes = res.bytes().await.unwrap();
    let elapsed = start.elapsed();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    (elapsed, bytes.len(), value)
}

async fn bench(name: &str, url: String) {
    let options = LeptosOptions::builder().output_name("nofx").build();
    let config = Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true });
    let state = nofx::server::prepare(config, options).await.unwrap();
    let admin = support::admin();
    let ids = support::seed_backlog(&state, &admin, ITEMS).await;
    let (_, key) = nofx::auth::service::create_api_key(&state.db, "bench", Role::Planner).await.unwrap();
    let providers: Vec<String> = state.providers.list.iter().map(|p| p.name().to_string()).collect();

    let limits = state.config.limits;
    let app = nofx::server::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { nofx::server::serve(listener, app, limits, std::future::pending()).await.unwrap() });
    let http = reqwest::Client::new();
    let body = serde_json::json!({ "item_ids": ids }).to_string();
    // One plan and one comparison in turn, so both see the same machine; two warm-up rounds.
    let (mut plans, mut comparisons) = (vec![], vec![]);
    let (mut plan_size, mut comparison_size, mut last) = (0, 0, serde_json::Value::Null);
    for i in 0..RUNS + 2 {
        let (t, size, _) = post(&http, &format!("{base}/api/auto-planner/plan"), &key, &body).await;
        plan_size = size;
        let (c, size, value) = post(&http, &format!("{base}/api/auto-planner/compare"), &key, &body).await;
        comparison_size = size;
        last = value;
        if i >= 2 {
            plans.push(t);
            comparisons.push(c);
        }
    }
    let (plan, comparison) = (median(plans), median(comparisons));
    let candidates: Vec<String> = last["candidates"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| format!("{} {} ({} waves)", c["provider"].as_str().unwrap_or("?"), c["score"], c["figures"]["waves"]))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "{name:>10}: {ITEMS} items | POST /api/auto-planner/plan {:>8.2} ms ({} KB) | POST /api/auto-planner/compare, {} providers {:>8.2} ms ({} KB) = {:.2}x one plan",
        ms(plan),
        plan_size / 1024,
        providers.len(),
        ms(comparison),
        comparison_size / 1024,
        ms(comparison) / ms(plan)
    );
    println!("{:>10}  candidates: {}", "", candidates.join(" | "));
}

#[tokio::main]
async fn main() {
    println!(
        "comparison bench (median of {RUNS} requests of each, alternating, after 2 warm-up rounds; release build, loopback HTTP, {} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    support::on_each_database(bench).await;
}
