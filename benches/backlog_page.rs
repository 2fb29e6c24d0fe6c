//! Server time of the backlog page with the demo data (release build), next to two baselines
//! measured in the same run: `GET /api/health` (routing + middleware only) and `GET /api/items`
//! (the same data as JSON). Run: `cargo bench --features ssr --bench backlog_page`.

// The same allocator as the `nofx` binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::body::Body;
use http::Request;
use leptos::config::LeptosOptions;
use nofx::auth::model::Role;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const WARMUP: usize = 30;
const RUNS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(app: &axum::Router, path: &str, headers: &[(&str, String)]) -> (Duration, Duration, Duration, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut size = 0;
    for i in 0..WARMUP + RUNS {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let start = Instant::now();
        let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let took = start.elapsed();
        size = body.len();
        if i >= WARMUP {
            times.push(took);
        }
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95), percentile(&times, 0.99), size)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let options = LeptosOptions::builder().output_name("nofx").build();
    let state =
        nofx::server::prepare(Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true }), options).await.unwrap();
    nofx::demo::seed(&state.db).await.unwrap();
    let (token, _) = nofx::auth::service::login(&state.db, "planner", "nofx-planner-demo", 3_600_000).await.unwrap();
    let (_, key) = nofx::auth::service::create_api_key(&state.db, "bench", Role::Viewer).await.unwrap();
    let app = nofx::server::app(state);

    let cookie = vec![("cookie", format!("nofx_session={token}")), ("accept", "text/html".to_string())];
    let bearer = vec![("authorization", format!("Bearer {key}"))];
    println!("backlog page bench: demo data (30 items), {RUNS} requests each after {WARMUP} warm-up, in-process (no network)");
    println!("{:<28} {:>10} {:>10} {:>10} {:>10}", "request", "p50", "p95", "p99", "bytes");
    let mut p50s = vec![];
    for (name, path, headers) in [
        ("GET /api/health (baseline)", "/api/health", &vec![]),
        ("GET /api/items (JSON)", "/api/items", &bearer),
        ("GET /backlog (SSR page)", "/backlog", &cookie),
    ] {
        let (p50, p95, p99, size) = measure(&app, path, headers).await;
        println!("{name:<28} {:>8.3}ms {:>8.3}ms {:>8.3}ms {size:>10}", ms(p50), ms(p95), ms(p99));
        p50s.push(p50);
    }
    println!(
        "ratios (p50): backlog page = {:.1}x the JSON list, {:.1}x the health baseline",
        ms(p50s[2]) / ms(p50s[1]),
        ms(p50s[2]) / ms(p50s[0])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
