//! Planner benchmark (release build): plan + all four gates for 1,000 and 10,000 backlog items
//! (about 5 dependencies and 2 tools each), next to a bare petgraph toposort of the same step
//! graph measured in the same run; then the plan page's server render for a 500-step plan.
//! Run: `cargo bench --features ssr --bench planner`.

// The same allocator as the `nofx` binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::body::Body;
use http::Request;
use leptos::config::LeptosOptions;
use nofx::backlog::model::{BacklogItem, ItemStatus, Risk, Tool};
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use nofx::gates::policy::Policy;
use nofx::gates::{apply, compliance, evaluate_all, resource, risk, structural, GateInput, GateReport};
use nofx::plan::draft::{Catalog, StatsByTool, ToolRegistry, ToolStats};
use nofx::plan::model::PlanRequest;
use nofx::planner::build::GraphPlanner;
use nofx::planner::provider::PlannerInput;
use petgraph::graph::DiGraph;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod support;
use support::{median, ms, TOOLS};

/// A deterministic pseudo-random backlog: item i depends on up to 5 earlier items.
fn backlog(n: usize) -> (Catalog, ToolRegistry, StatsByTool) {
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut items = Catalog::with_capacity_and_hasher(n, Default::default());
    for i in 0..n {
        let id = i as i64 + 1;
        let mut deps: Vec<i64> = if i == 0 { vec![] } else { (0..5).map(|_| (next() % i as u64) as i64 + 1).collect() };
        deps.sort_unstable();
        deps.dedup();
        let t1 = (next() % 4) as usize;
        let t2 = 4 + (next() % 4) as usize;
        let labels = match next() % 10 {
            0 => vec!["prod".to_string()],
            1 => vec!["pii".to_string()],
            _ => vec![],
        };
        items.insert(
            id,
            BacklogItem {
                id,
                pack_id: 1 + (i % 12) as i64,
                pack_name: format!("pack-{}", i % 12),
                title: format!("Backlog item {id}"),
                description: "Generated for the planner benchmark.".into(),
                depends_on: deps,
                tools: vec![TOOLS[t1].0.to_string(), TOOLS[t2].0.to_string()],
                labels,
                risk: [Risk::Low, Risk::Medium, Risk::High][(next() % 3) as usize],
                estimate_minutes: 30,
                status: ItemStatus::Todo,
                created_at: 0,
                updated_at: 0,
            },
        );
    }
    let tools = TOOLS
        .iter()
        .map(|(id, mutating, weight)| {
            let t = Tool {
                id: id.to_string(),
                description: String::new(),
                sensitive: support::sensitive(id),
                required_approvals: support::sensitive(id) as i64,
                mutating: *mutating,
                rollback: mutating.then(|| support::ROLLBACK.to_string()),
                risk_weight: *weight,
                approval_expires_in_s: None,
                run_count: 0,
                created_at: 0,
                updated_at: 0,
            };
            (t.id.clone(), t)
        })
        .collect();
    let stats = TOOLS
        .iter()
        .map(|(id, _, _)| {
            let runs: Vec<(i64, f64)> = (1..=50).map(|r| (r * 1_000, r as f64 * 0.001)).collect();
            (id.to_string(), ToolStats::from_runs(&runs).unwrap())
        })
        .collect();
    (items, tools, stats)
}

/// Baseline: the same step graph (2 steps per item, chained, plus dependency edges), built as a
/// petgraph DiGraph and topologically sorted — no tokens, no gates. With the planner's own
/// hasher (Fx), so the baseline pays no more for its lookups than the planner does.
fn toposort_baseline<S: BuildHasher + Default>(selected: &[i64], catalog: &Catalog) -> Duration {
    let n = selected.len();
    let start = Instant::now();
    let mut g: DiGraph<(i64, usize), ()> = DiGraph::with_capacity(n * 2, n * 7);
    let mut first_last: HashMap<i64, _, S> = HashMap::with_capacity_and_hasher(n, S::default());
    for id in selected {
        let a = g.add_node((*id, 0));
        let b = g.add_node((*id, 1));
        g.add_edge(a, b, ());
        first_last.insert(*id, (a, b));
    }
    for id in selected {
        for dep in &catalog[id].depends_on {
            g.add_edge(first_last[dep].1, first_last[id].0, ());
        }
    }
    let order = petgraph::algo::toposort(&g, None).unwrap();
    assert_eq!(order.len(), n * 2);
    start.elapsed()
}

fn bench_planner(n: usize, runs: usize) {
    let (catalog, tools, stats) = backlog(n);
    let policy = Policy::default_policy();
    let mut selected: Vec<i64> = catalog.keys().copied().collect();
    selected.sort_unstable();
    let request = PlanRequest { item_ids: Some(selected.clone()), budget_usd: Some(1_000_000.0), ..Default::default() };
    let input = PlannerInput {
        request: &request,
        selected: &selected,
        catalog: &catalog,
        tools: &tools,
        stats: &stats,
        defaults: policy.estimate_defaults(),
    };

    let baseline: Vec<Duration> = (0..runs).map(|_| toposort_baseline::<rustc_hash::FxBuildHasher>(&selected, &catalog)).collect();
    // The same with std's SipHash map, as the figures before 2026-11-30 were measured.
    let sip_baseline: Vec<Duration> = (0..runs).map(|_| toposort_baseline::<std::hash::RandomState>(&selected, &catalog)).collect();

    let mut planning = vec![];
    let mut full = vec![];
    let mut steps = 0;
    let mut status = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut draft = GraphPlanner.plan(&input);
        let planned = start.elapsed();
        draft.estimate.budget_usd = 1_000_000.0;
        let report =
            evaluate_all(&GateInput { draft: &draft, catalog: &catalog, tools: &tools, policy: &policy, now_ms: 1_764_000_000_000 });
        let judgement = apply(&mut draft, report);
        full.push(start.elapsed());
        planning.push(planned);
        steps = draft.steps.len();
        status = format!("{:?}, {} waves", judgement.status, draft.waves.len());
    }
    // Where the time goes: each phase on its own, median of the same number of runs.
    let mut phases: [Vec<Duration>; 6] = Default::default();
    for _ in 0..runs {
        let start = Instant::now();
        let mut draft = GraphPlanner.plan(&input);
        phases[0].push(start.elapsed());
        draft.estimate.budget_usd = 1_000_000.0;
        let gate_input = GateInput { draft: &draft, catalog: &catalog, tools: &tools, policy: &policy, now_ms: 1_764_000_000_000 };
        let mut report = GateReport::default();
        let gates: [fn(&GateInput<'_>, &mut GateReport); 4] =
            [structural::evaluate, risk::evaluate, compliance::evaluate, resource::evaluate];
        for (i, gate) in gates.iter().enumerate() {
            let start = Instant::now();
            gate(&gate_input, &mut report);
            phases[i + 1].push(start.elapsed());
        }
        let start = Instant::now();
        apply(&mut draft, report);
        phases[5].push(start.elapsed());
    }
    let phases = phases.map(|p| ms(median(p)));
    println!(
        "{:>21} phases: build {:.2} ms, structural {:.2} ms, risk {:.2} ms, compliance {:.2} ms, resource {:.2} ms, apply {:.2} ms",
        "", phases[0], phases[1], phases[2], phases[3], phases[4], phases[5]
    );
    let (b, p, f, sip) = (median(baseline), median(planning), median(full), median(sip_baseline));
    println!(
        "{n:>6} items, {steps:>6} steps ({status}): toposort baseline {:>8.2} ms | planner {:>8.2} ms ({:>4.1}x) | planner + 4 gates {:>8.2} ms ({:>4.1}x)",
        ms(b),
        ms(p),
        ms(p) / ms(b),
        ms(f),
        ms(f) / ms(b)
    );
    println!("{:>21} baseline with std's SipHash map {:.2} ms: planner + 4 gates {:.1}x of it", "", ms(sip), ms(f) / ms(sip));
}

async fn bench_plan_page() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let options = LeptosOptions::builder().output_name("nofx").build();
    let state =
        nofx::server::prepare(Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true }), options).await.unwrap();
    let admin = support::admin();
    support::seed_tools(&state, &admin).await;
    let pack = nofx::backlog::service::create_pack(
        &state.db,
        &admin,
        &nofx::backlog::model::PackInput { name: Some("Bench".into()), ..Default::default() },
    )
    .await
    .unwrap();
    let mut ids = vec![];
    for i in 0..250usize {
        let deps: Vec<i64> = ids.iter().rev().step_by(7).take(3).copied().collect();
        let input = nofx::backlog::model::ItemInput {
            pack_id: Some(pack.id),
            title: Some(format!("Item {i}")),
            tools: Some(vec![TOOLS[i % 4].0.to_string(), TOOLS[4 + i % 4].0.to_string()]),
            depends_on: Some(deps),
            ..Default::default()
        };
        ids.push(nofx::backlog::service::create_item(&state.db, &admin, &input).await.unwrap().id);
    }
    let plan =
        nofx::planner::service::create_plan(&state, &admin, &PlanRequest { item_ids: Some(ids), ..Default::default() }).await.unwrap();
    nofx::auth::service::create_user(&state.db, "viewer", "bench-password-1", nofx::auth::model::Role::Viewer).await.unwrap();
    let (token, _) = nofx::auth::service::login(&state.db, "viewer", "bench-password-1", 3_600_000).await.unwrap();
    let app = nofx::server::app(state);
    let path = format!("/plans/{}", plan.id);
    let mut times = vec![];
    let mut size = 0;
    for i in 0..60 {
        let req = Request::get(&path)
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
        "plan page, {} steps: p50 {:.2} ms, p95 {:.2} ms, {} KB of HTML (in-process, no network)",
        plan.steps.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        size / 1024
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench --bench planner -- planner` (or `-- page`) runs one part, e.g. under a profiler.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!("planner bench (median of runs, release build)");
    if only.as_deref().is_none_or(|o| o == "planner") {
        bench_planner(1_000, 30);
        bench_planner(10_000, 11);
    }
    if only.as_deref().is_none_or(|o| o == "page") {
        bench_plan_page().await;
    }
}
