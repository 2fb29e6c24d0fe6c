//! What a planning client waits for (release build): `POST /api/auto-planner/plan` for 2,000
//! backlog items over loopback HTTP — the production accept loop, router, middleware, API-key
//! check, backlog load, planner, gates, the plan, plan-item and event rows and their commit, and the
//! response body read to the end — next to the in-process planner + 4 gates on the very same
//! input, measured in the same run. On SQLite and, when it answers, on PostgreSQL.
//! Run: `cargo bench --features ssr --bench plan_endpoint` (`-- sqlite` or `-- postgres` for one).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use leptos::config::LeptosOptions;
use nofx::auth::model::{Principal, Role};
use nofx::backlog::model::ItemFilter;
use nofx::config::Config;
use nofx::flags::FeatureFlags;
use nofx::gates::{apply, evaluate_all, GateInput};
use nofx::plan::draft::{Catalog, StatsByTool, ToolRegistry};
use nofx::plan::model::PlanRequest;
use nofx::planner::build::GraphPlanner;
use nofx::planner::provider::PlannerInput;
use std::time::{Duration, Instant};

mod support;
use support::{median, ms};

const ITEMS: usize = 2_000;
const RUNS: usize = 15;

/// What the planner reads, loaded as the endpoint loads it: the backlog, the tools, their stats.
struct Inputs {
    catalog: Catalog,
    tools: ToolRegistry,
    stats: StatsByTool,
}

async fn inputs(state: &nofx::state::AppState, admin: &Principal) -> Inputs {
    let items = nofx::backlog::service::list_items(&state.db, admin, &ItemFilter::default()).await.unwrap();
    let tools = nofx::backlog::service::list_tools(&state.db, admin).await.unwrap();
    Inputs {
        catalog: items.into_iter().map(|i| (i.id, i)).collect(),
        tools: tools.into_iter().map(|t| (t.id.clone(), t)).collect(),
        stats: nofx::backlog::service::tool_stats(&state.db).await.unwrap().into_iter().collect(),
    }
}

/// The planner and the gates alone, once, on the very input the endpoint plans: its time and
/// the number of steps.
fn plan_once(state: &nofx::state::AppState, inputs: &Inputs, request: &PlanRequest, selected: &[i64]) -> (Duration, usize) {
    let policy = &state.policy;
    let input = PlannerInput {
        request,
        selected,
        catalog: &inputs.catalog,
        tools: &inputs.tools,
        stats: &inputs.stats,
        defaults: policy.estimate_defaults(),
    };
    let start = Instant::now();
    let mut draft = GraphPlanner.plan(&input);
    draft.estimate.budget_usd = policy.resource.budget_usd;
    let report =
        evaluate_all(&GateInput { draft: &draft, catalog: &inputs.catalog, tools: &inputs.tools, policy, now_ms: nofx::storage::now_ms() });
    apply(&mut draft, report);
    (start.elapsed(), draft.steps.len())
}

async fn bench(name: &str, url: String) {
    let options = LeptosOptions::builder().output_name("nofx").build();
    let mut config = Config::for_tests(url, FeatureFlags { auto_planner: true, planner_execute: true });
    config.body_limit = 1024 * 1024;
    let state = nofx::server::prepare(config, options).await.unwrap();
    let admin = support::admin();
    let ids = support::seed_backlog(&state, &admin, ITEMS).await;
    let (_, key) = nofx::auth::service::create_api_key(&state.db, "bench", Role::Automation).await.unwrap();

    let request = PlanRequest { item_ids: Some(ids.clone()), ..Default::default() };
    let inputs = inputs(&state, &admin).await;
    let (_, steps) = plan_once(&state, &inputs, &request, &ids);

    let limits = state.config.limits;
    let state2 = state.clone();
    let app = nofx::server::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { nofx::server::serve(listener, app, limits, std::future::pending()).await.unwrap() });
    let http = reqwest::Client::new();
    let body = serde_json::json!({ "item_ids": ids }).to_string();
    // The whole plan as the answer (the default), then the outcome with `Prefer: return=minimal`.
    // The in-process figure is taken between the requests (two runs after each), so both see the
    // same machine: on a shared machine either alone drifts by tens of percent within a minute.
    let mut answers = vec![];
    let mut in_process = vec![];
    for prefer in ["return=representation", "return=minimal"] {
        let mut times = vec![];
        let mut size = 0;
        for i in 0..RUNS + 2 {
            let start = Instant::now();
            let res = http
                .post(format!("{base}/api/auto-planner/plan"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .header("prefer", prefer)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
            let bytes = res.bytes().await.unwrap();
            // The first two warm the caches and the pool, as a running server's would be.
            if i >= 2 {
                times.push(start.elapsed());
                for _ in 0..2 {
                    in_process.push(plan_once(&state2, &inputs, &request, &ids).0);
                }
            }
            size = bytes.len();
        }
        answers.push((median(times), size));
    }
    let [(endpoint, size), (minimal, minimal_size)] = answers[..] else { unreachable!() };
    let planner = median(in_process);

    // Where the time goes, each phase on its own (median of the same number of runs): loading
    // what the planner reads, the planning use case without HTTP (load, plan, judge, store), the
    // store alone (the plan row with its document and the plan items, in one write), and
    // serialising the plan.
    let mut phases: [Vec<Duration>; 4] = Default::default();
    let mut plan = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let _ = nofx::backlog::service::list_items(&state2.db, &admin, &ItemFilter::default()).await.unwrap();
        let _ = nofx::backlog::service::list_tools(&state2.db, &admin).await.unwrap();
        let _ = nofx::backlog::service::tool_stats(&state2.db).await.unwrap();
        phases[0].push(start.elapsed());
        let start = Instant::now();
        let p = nofx::planner::service::create_plan(&state2, &admin, &request).await.unwrap();
        phases[1].push(start.elapsed());
        let start = Instant::now();
        let document = serde_json::to_string(&p).unwrap();
        phases[3].push(start.elapsed());
        let record = std::sync::Arc::new(nofx::planner::store::PlanRecord::of(&p, document).unwrap());
        let start = Instant::now();
        let backend = state2.db.backend;
        state2
            .db
            .write(move |tx| {
                let record = record.clone();
                Box::pin(async move { nofx::planner::store::insert_plan(tx, backend, &record, 0).await })
            })
            .await
            .unwrap();
        phases[2].push(start.elapsed());
        plan = Some(p);
    }
    let (evaluations, items) =
        plan.map(|p| (p.steps.iter().map(|s| s.verdicts.len()).sum::<usize>() + p.verdicts.len(), p.items.len())).unwrap_or_default();
    let [load, service, store, json] = phases.map(|p| ms(median(p)));
    println!(
        "{name:>10}: {ITEMS} items, {steps} steps | planner + 4 gates in process {:>7.2} ms | POST /api/auto-planner/plan {:>8.2} ms ({:>5.1}x), {} KB response",
        ms(planner),
        ms(endpoint),
        ms(endpoint) / ms(planner),
        size / 1024
    );
    println!(
        "{:>10}  with Prefer: return=minimal {:>8.2} ms ({:>5.1}x), {} KB response",
        "",
        ms(minimal),
        ms(minimal) / ms(planner),
        minimal_size / 1024
    );
    println!(
        "{:>10}  phases: load backlog {load:.2} ms | plan use case without HTTP {service:.2} ms, of which serialising the plan once {json:.2} ms and storing it (the plan row with its document, which holds {evaluations} gate verdicts, and {items} plan items) {store:.2} ms",
        ""
    );
}

#[tokio::main]
async fn main() {
    println!("plan endpoint bench (median of {RUNS} requests after 2 warm-up ones, and of the in-process runs between them; release build, loopback HTTP)");
    support::on_each_database(bench).await;
}
