//! Comparing planners over real HTTP, on SQLite and PostgreSQL, against a real local HTTP server
//! speaking the OpenAI chat-completions protocol (started by the test): a valid proposal, one
//! that runs an item before its dependency, prose instead of JSON, an error status and an answer
//! after the timeout, beside the four built-in strategies. Candidates, scores, verdicts per step
//! and per model, keeping one as the plan, idempotency, and bad input.

use crate::common::TestApp;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Json;
use nofx::auth::model::Role;
use nofx::flags::FeatureFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One request the fake model server received: its body and its Authorization header.
type Received = (Value, Option<String>);

/// What the fake model server received.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Received>>>);

fn completion(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "x",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}})
}

/// Longest-path waves of the brief's items: a proposal that respects every dependency.
fn waves_of(brief: &Value) -> Vec<Vec<i64>> {
    let items = brief["items"].as_array().unwrap();
    let deps: HashMap<i64, Vec<i64>> = items
        .iter()
        .map(|i| (i["id"].as_i64().unwrap(), i["depends_on"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect()))
        .collect();
    let mut wave: HashMap<i64, usize> = deps.keys().map(|k| (*k, 0)).collect();
    for _ in 0..deps.len() {
        for (id, ds) in &deps {
            let w = ds.iter().map(|d| wave[d] + 1).max().unwrap_or(0);
            wave.insert(*id, w);
        }
    }
    let n = wave.values().max().map_or(0, |m| m + 1);
    let mut out = vec![vec![]; n];
    let mut ids: Vec<i64> = wave.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        out[wave[&id]].push(id);
    }
    out
}

async fn chat(State(seen): State<Seen>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> axum::response::Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(String::from);
    seen.0.lock().unwrap().push((body.clone(), auth));
    let brief: Value = serde_json::from_str(body["messages"][1]["content"].as_str().unwrap()).unwrap();
    let waves = waves_of(&brief);
    match body["model"].as_str().unwrap() {
        "good" => Json(completion(&json!({"waves": waves, "rationale": "Dependencies first, then the rest."}).to_string())).into_response(),
        "backwards" => {
            let mut w = waves.clone();
            w.reverse();
            Json(completion(&json!({"waves": w, "rationale": "Last things first."}).to_string())).into_response()
        }
        "prose" => Json(completion("I would start with the schema, then the API.")).into_response(),
        "overloaded" => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "model overloaded, try later").into_response(),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            Json(completion(&json!({"waves": waves, "rationale": "late"}).to_string())).into_response()
        }
        other => (axum::http::StatusCode::NOT_FOUND, format!("no model {other}")).into_response(),
    }
}

/// Starts the fake model server; its base URL (`…/v1`).
async fn fake_models(seen: Seen) -> String {
    let app = axum::Router::new().route("/v1/chat/completions", post(chat)).with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

const KEY_VAR: &str = "NOFX_TEST_FAKE_MODEL_KEY";

fn providers_file(base: &str) -> String {
    let mut s = String::new();
    for (name, strategy) in
        [("waves", "waves"), ("critical-path", "critical-path"), ("risk-averse", "risk-averse"), ("pack-grouped", "pack-grouped")]
    {
        s.push_str(&format!("[[providers]]\nname = \"{name}\"\nkind = \"builtin\"\nstrategy = \"{strategy}\"\n"));
        if name == "critical-path" {
            s.push_str("lanes = 1\n");
        }
    }
    for model in ["good", "backwards", "prose", "overloaded", "slow"] {
        s.push_str(&format!(
            "[[providers]]\nname = \"{model}\"\nkind = \"openai\"\nbase_url = \"{base}\"\nmodel = \"{model}\"\ntimeout_seconds = 1\ninput_price_per_1k = 0.5\noutput_price_per_1k = 2.0\n"
        ));
        if model == "good" {
            s.push_str(&format!("api_key_env = \"{KEY_VAR}\"\n"));
        }
    }
    s
}

async fn spawn(backend: nofx::storage::Backend) -> Option<(TestApp, Seen, tempfile::TempDir)> {
    // The same value on every test thread: setting it twice is harmless.
    std::env::set_var(KEY_VAR, "sk-test-123");
    let seen = Seen::default();
    let base = fake_models(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, providers_file(&base)).unwrap();
    let app = TestApp::spawn_configured(backend, FeatureFlags { auto_planner: true, planner_execute: true }, |c| {
        c.providers_path = Some(path.clone());
    })
    .await?;
    Some((app, seen, dir))
}

/// Tools and four items in two packs: `a` (codegen → git_pr), `b` after `a` (git_pr, sensitive),
/// `c` (db_write, `prod`) and `d` (codegen) in a second pack.
async fn backlog(app: &TestApp) -> Vec<i64> {
    let admin = app.api(Role::Admin).await;
    for body in [
        json!({"id": "codegen", "risk_weight": 1.0}),
        json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "Close the pull request of item {item_id}", "risk_weight": 2.0}),
        json!({"id": "db_write", "mutating": true, "rollback": "Restore the backup of item {item_id}", "risk_weight": 2.0}),
    ] {
        let (s, t) = admin.post("/api/tools", body).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    let mut ids = vec![];
    let (_, core) = admin.post("/api/packs", json!({"name": "Core"})).await;
    let (_, web) = admin.post("/api/packs", json!({"name": "Web"})).await;
    for (pack, title, tools, deps, labels) in [
        (&core, "Schema", json!(["codegen", "git_pr"]), vec![], json!([])),
        (&core, "API", json!(["git_pr"]), vec![0usize], json!([])),
        (&core, "Backfill", json!(["db_write"]), vec![], json!(["prod"])),
        (&web, "Landing page", json!(["codegen"]), vec![], json!([])),
    ] {
        let deps: Vec<i64> = deps.iter().map(|&i| ids[i]).collect();
        let (s, item) = admin
            .post(
                "/api/items",
                json!({"pack_id": pack["id"], "title": title, "tools": tools, "depends_on": deps, "labels": labels, "risk": "low", "estimate_minutes": 30}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    ids
}

fn by_provider<'a>(comparison: &'a Value, name: &str) -> &'a Value {
    comparison["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == name)
        .unwrap_or_else(|| panic!("no {name} in {comparison}"))
}

async fn comparison_story(app: TestApp, seen: Seen) {
    let ids = backlog(&app).await;
    let planner = app.api(Role::Planner).await;
    let body = json!({"item_ids": ids});
    let (s, c, headers) = planner.post_idempotent("/api/auto-planner/compare", "cmp-1", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    assert_eq!(headers["location"], format!("/api/auto-planner/comparisons/{id}").as_str());

    // Every provider is a candidate, in the file's order, with the right status and reason.
    let names: Vec<&str> = c["candidates"].as_array().unwrap().iter().map(|c| c["provider"].as_str().unwrap()).collect();
    assert_eq!(names, ["waves", "critical-path", "risk-averse", "pack-grouped", "good", "backwards", "prose", "overloaded", "slow"]);
    let status = |name: &str| by_provider(&c, name)["status"].as_str().unwrap().to_string();
    for name in ["waves", "critical-path", "risk-averse", "pack-grouped", "good"] {
        assert_eq!(status(name), "valid", "{name}: {}", by_provider(&c, name));
        assert!(by_provider(&c, name)["score"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(status("backwards"), "invalid");
    assert_eq!(by_provider(&c, "backwards")["error"]["kind"], "before_dependency");
    assert!(by_provider(&c, "backwards")["error"]["message"].as_str().unwrap().contains("depends on item"), "{c}");
    assert_eq!(status("prose"), "failed");
    assert_eq!(by_provider(&c, "prose")["error"]["kind"], "malformed");
    assert_eq!(status("overloaded"), "failed");
    assert_eq!(by_provider(&c, "overloaded")["error"]["kind"], "status");
    assert!(by_provider(&c, "overloaded")["error"]["message"].as_str().unwrap().contains("503: model overloaded"), "{c}");
    assert_eq!(status("slow"), "timed_out");
    assert!(by_provider(&c, "slow")["latency_ms"].as_i64().unwrap() >= 1000);
    for name in ["backwards", "prose", "overloaded", "slow"] {
        assert_eq!(by_provider(&c, name)["score"], Value::Null, "{name} is not scored");
        assert_eq!(by_provider(&c, name)["has_plan"], false);
    }

    // The model's call: its tokens and their price, the schema, the brief and the API key.
    let good = by_provider(&c, "good");
    assert_eq!((good["input_tokens"].as_i64(), good["output_tokens"].as_i64()), (Some(1200), Some(300)));
    assert!((good["figures"]["token_cost_usd"].as_f64().unwrap() - (1.2 * 0.5 + 0.3 * 2.0)).abs() < 1e-9);
    assert_eq!(good["rationale"], "Dependencies first, then the rest.");
    {
        let seen = seen.0.lock().unwrap();
        let (request, auth) = seen.iter().find(|(b, _)| b["model"] == "good").expect("the good model was asked");
        assert_eq!(auth.as_deref(), Some("Bearer sk-test-123"));
        assert_eq!(request["response_format"]["type"], "json_schema");
        assert_eq!(request["response_format"]["json_schema"]["schema"]["required"], json!(["waves", "rationale"]));
        let brief: Value = serde_json::from_str(request["messages"][1]["content"].as_str().unwrap()).unwrap();
        let mut told: Vec<i64> = brief["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
        told.sort_unstable();
        assert_eq!(told, ids);
        assert_eq!(brief["items"][1]["depends_on"], json!([ids[0]]));
        assert!(seen.iter().filter(|(b, _)| b["model"] != "good").all(|(_, a)| a.is_none()), "only `good` has a key");
    }

    // The strategies really differ: one lane runs every step alone.
    let steps = |name: &str| by_provider(&c, name)["figures"]["steps"].as_i64().unwrap();
    let waves = |name: &str| by_provider(&c, name)["figures"]["waves"].as_i64().unwrap();
    assert_eq!(steps("waves"), 5);
    assert_eq!(waves("critical-path"), 5, "one lane: every step in a wave of its own");
    assert_eq!(waves("waves"), 3, "as early as dependencies allow: codegen | git_pr | git_pr");
    assert!(
        by_provider(&c, "waves")["figures"]["makespan_ms"].as_i64() < by_provider(&c, "critical-path")["figures"]["makespan_ms"].as_i64()
    );
    let best = c["best"].as_u64().unwrap() as usize;
    let scores: Vec<f64> = c["candidates"].as_array().unwrap().iter().filter_map(|c| c["score"].as_f64()).collect();
    assert_eq!(c["candidates"][best]["score"].as_f64().unwrap(), scores.iter().cloned().fold(f64::MIN, f64::max));

    // Stored as answered; a retry replays; the same key with another body is refused.
    let (s, stored) = planner.get(&format!("/api/auto-planner/comparisons/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored, c);
    let (s, again, headers) = planner.post_idempotent("/api/auto-planner/compare", "cmp-1", body.clone()).await;
    assert_eq!((s, &again), (StatusCode::CREATED, &c));
    assert_eq!(headers["idempotent-replayed"], "true");
    let (s, e, _) = planner.post_idempotent("/api/auto-planner/compare", "cmp-1", json!({"item_ids": [ids[0]]})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));
    assert_eq!(app.count("model_comparisons").await, 1);
    assert_eq!(app.count("comparison_candidates").await, 9);

    // Verdicts per step and per model, from the stored documents.
    let (s, evals) = planner.get(&format!("/api/auto-planner/comparisons/{id}/evaluations")).await;
    assert_eq!(s, StatusCode::OK, "{evals}");
    let evals = evals.as_array().unwrap();
    let mut per_candidate: HashMap<u64, Vec<&Value>> = HashMap::new();
    for e in evals {
        per_candidate.entry(e["candidate"].as_u64().unwrap()).or_default().push(e);
    }
    let mut with_rows: Vec<u64> = per_candidate.keys().copied().collect();
    with_rows.sort_unstable();
    assert_eq!(with_rows, [0, 1, 2, 3, 4], "the five valid candidates, none of the others");
    for (idx, rows) in &per_candidate {
        // Four gates for the plan and for each of its five steps.
        assert_eq!(rows.len(), 4 * 6, "candidate {idx}");
        assert_eq!(rows.iter().filter(|r| r["step_id"].is_null()).count(), 4);
    }
    let model_of = |idx: u64| (per_candidate[&idx][0]["provider"].as_str().unwrap(), per_candidate[&idx][0]["planner"].as_str().unwrap());
    assert_eq!(model_of(0), ("nofx", "graph-v1"));
    assert_eq!(model_of(1), ("nofx", "critical-path"));
    assert_eq!(model_of(4), ("good", "good"));
    let (s, one) = planner.get(&format!("/api/auto-planner/comparisons/{id}/evaluations?candidate=4&gate=risk&step_id=plan")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");

    // A candidate's plan; an invalid one has none; keeping one makes it a plan, once.
    let (s, candidate) = planner.get(&format!("/api/auto-planner/comparisons/{id}/candidates/4")).await;
    assert_eq!(s, StatusCode::OK, "{candidate}");
    assert_eq!(candidate["planner"], "good/good");
    let (s, e) = planner.get(&format!("/api/auto-planner/comparisons/{id}/candidates/5")).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("candidate_not_valid")));
    let (s, _) = planner.get(&format!("/api/auto-planner/comparisons/{id}/candidates/99")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = planner.post(&format!("/api/auto-planner/comparisons/{id}/choose"), json!({"candidate": 6})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("candidate_not_valid")));
    assert!(e["message"].as_str().unwrap().contains("(prose) is failed"), "{e}");

    // A candidate's own page: the whole graph (a link per step), its gates, the step drawer, Keep;
    // an invalid one says why and has no graph; a candidate that does not exist is a 404 page.
    let browser = app.browser(Role::Planner).await;
    let (s, html) = browser.page(&format!("/comparisons/{id}/candidates/4")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Candidate 5 of 9 in comparison") && html.contains("good/good"), "{html}");
    assert_eq!(html.matches(r#"<a href="?step="#).count(), 5, "a link per step in the graph");
    for gate in ["structural", "risk", "compliance", "resource"] {
        assert!(html.contains(&format!(r#"data-testid="gate-{gate}""#)), "the {gate} gate's card");
    }
    assert!(html.contains(r#"data-testid="keep""#) && !html.contains(r#"data-testid="step-drawer""#));
    let step = candidate["steps"][0]["id"].as_str().unwrap();
    let (s, html) = browser.page(&format!("/comparisons/{id}/candidates/4?step={step}&zoom=fit")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"data-testid="step-drawer""#) && html.contains(candidate["steps"][0]["idempotency_token"].as_str().unwrap()));
    assert!(html.contains(&format!(r#"href="/comparisons/{id}/candidates/4?zoom=fit""#)), "Close keeps the zoom: {html}");
    let (s, html) = browser.page(&format!("/comparisons/{id}/candidates/5")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("depends on item") && !html.contains(r#"data-testid="keep""#) && !html.contains("graph-frame"), "{html}");
    for missing in ["99", "-1", "first"] {
        let (s, html) = browser.page(&format!("/comparisons/{id}/candidates/{missing}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{missing}");
        assert!(html.contains("Candidate not found"), "{missing}: {html}");
    }
    let (s, html) = browser.page(&format!("/comparisons/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(html.matches(r#"data-testid="open-candidate""#).count(), 5, "each valid candidate links to its page");

    let plans_before = app.count("plans").await;
    let (s, plan, headers) = planner.post_with(&format!("/api/auto-planner/comparisons/{id}/choose"), &[], json!({"candidate": 4})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let plan_id = plan["id"].as_i64().unwrap();
    assert_eq!(headers["location"], format!("/api/plans/{plan_id}").as_str());
    assert_eq!(plan["planner"], "good/good");
    assert_eq!(plan["steps"], candidate["steps"], "the plan is the candidate as it was gated");
    assert_eq!(app.count("plans").await, plans_before + 1);
    let (_, stored) = planner.get(&format!("/api/auto-planner/comparisons/{id}")).await;
    assert_eq!((stored["chosen"].as_u64(), stored["plan_id"].as_i64()), (Some(4), Some(plan_id)));
    assert!(stored["chosen_by"].as_str().unwrap().contains("planner"), "{stored}");
    let (s, e) = planner.post(&format!("/api/auto-planner/comparisons/{id}/choose"), json!({"candidate": 0})).await;
    assert_eq!((s, e["error"].as_str(), e["plan_id"].as_i64()), (StatusCode::CONFLICT, Some("already_chosen"), Some(plan_id)));
    let (_, html) = browser.page(&format!("/comparisons/{id}/candidates/4")).await;
    assert!(html.contains(&format!("Kept as plan #{plan_id}")) && !html.contains(r#"data-testid="keep""#), "{html}");
    let (_, html) = browser.page(&format!("/comparisons/{id}/candidates/0")).await;
    assert!(html.contains(&format!("Another candidate was kept as plan #{plan_id}")) && !html.contains(r#"data-testid="keep""#), "{html}");
    assert_eq!(app.count("plans").await, plans_before + 1, "nothing half-written");
    // The plan's own verdicts (plan_evaluations) name its model.
    let (_, evals) = planner.get(&format!("/api/plans/{plan_id}/evaluations?step_id=plan")).await;
    assert!(evals.as_array().unwrap().iter().all(|e| e["provider"] == "good" && e["planner"] == "good"), "{evals}");

    // The event, as stored for the stream (and replayed from it).
    use sqlx::Row;
    let rows = sqlx::query("select subject, payload from events where kind = 'comparison.ready'").fetch_all(app.db.reader()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("subject"), format!("comparison:{id}"));
    let payload: Value = serde_json::from_str(&rows[0].get::<String, _>("payload")).unwrap();
    assert_eq!(payload["best"].as_u64(), Some(best as u64));
    assert_eq!(payload["comparison_id"].as_i64(), Some(id));
}

/// A gauge's or counter's value from a parsed scrape, by name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(|s| match s.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    })
}

/// `/metrics` parses as Prometheus text and its planner figures match the stored comparisons.
async fn metrics_match_the_comparisons(app: TestApp, _seen: Seen) {
    let ids = backlog(&app).await;
    let planner = app.api(Role::Planner).await;
    for providers in [json!(["waves", "critical-path", "good", "backwards"]), json!(["waves", "critical-path", "good", "slow"])] {
        let (s, c) = planner.post("/api/auto-planner/compare", json!({"item_ids": ids, "providers": providers})).await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
    }
    let (_, list) = planner.get("/api/auto-planner/comparisons").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    // What the stored comparisons say, per provider.
    let mut wins: HashMap<String, f64> = HashMap::new();
    for c in list {
        let best = c["best"].as_u64().unwrap() as usize;
        *wins.entry(c["candidates"][best]["provider"].as_str().unwrap().to_string()).or_default() += 1.0;
    }

    let (s, _) = app.anonymous().get("/metrics").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "never open by accident");
    let res = planner.get_raw("/metrics", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format");
    assert_eq!(sample(&scrape, "nofx_planner_comparisons", &[]), Some(2.0));
    for provider in ["waves", "critical-path", "good"] {
        assert_eq!(sample(&scrape, "nofx_planner_candidates", &[("provider", provider), ("status", "valid")]), Some(2.0), "{provider}");
        assert_eq!(sample(&scrape, "nofx_planner_validity_ratio", &[("provider", provider)]), Some(1.0));
        assert_eq!(
            sample(&scrape, "nofx_planner_wins", &[("provider", provider)]),
            Some(*wins.get(provider).unwrap_or(&0.0)),
            "{provider}"
        );
    }
    assert_eq!(sample(&scrape, "nofx_planner_candidates", &[("provider", "backwards"), ("status", "invalid")]), Some(1.0));
    assert_eq!(sample(&scrape, "nofx_planner_candidates", &[("provider", "slow"), ("status", "timed_out")]), Some(1.0));
    assert_eq!(sample(&scrape, "nofx_planner_validity_ratio", &[("provider", "slow")]), Some(0.0));
    let slow_p50 = sample(&scrape, "nofx_planner_latency_seconds", &[("provider", "slow"), ("quantile", "0.5")]).unwrap();
    assert!(slow_p50 >= 1.0, "the timed-out call took its timeout: {slow_p50}");
    let tokens = sample(&scrape, "nofx_planner_token_cost_usd", &[("provider", "good")]).unwrap();
    assert!((tokens - 2.0 * (1.2 * 0.5 + 0.3 * 2.0)).abs() < 1e-9, "{tokens}");
    // HTTP figures, by route pattern and status; stored plans and approvals by status.
    assert_eq!(
        sample(&scrape, "nofx_http_requests_total", &[("method", "POST"), ("route", "/api/auto-planner/compare"), ("status", "201")]),
        Some(2.0),
        "{text}"
    );
    assert!(text.contains("nofx_http_request_duration_seconds_bucket"), "latency histogram");
    assert!(sample(&scrape, "nofx_events_stored", &[]).unwrap() >= 2.0);
    assert!(text.contains("# HELP nofx_planner_win_ratio"));

    // The metrics page follows one figure over the days; an unknown one falls back to the score.
    let browser = app.browser(Role::Viewer).await;
    let (s, html) = browser.page("/planner-metrics?trend=validity").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"aria-label="Valid proposals per day, per provider""#), "{html}");
    assert!(html.contains(r#"<a href="?trend=validity" aria-current="true""#), "the chosen figure's link: {html}");
    let (_, html) = browser.page("/planner-metrics?trend=%3Cscript%3E").await;
    assert!(html.contains(r#"aria-label="Mean score per day, per provider""#) && !html.contains("<script>alert"), "{html}");
}

async fn stale_and_bad_input(app: TestApp, _seen: Seen) {
    let ids = backlog(&app).await;
    let planner = app.api(Role::Planner).await;
    // Built-ins only: no model is asked.
    let (s, c) = planner.post("/api/auto-planner/compare", json!({"item_ids": ids, "providers": ["waves", "risk-averse"]})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["candidates"].as_array().unwrap().len(), 2);
    let id = c["id"].as_i64().unwrap();
    // An item changes: keeping the old candidate is refused.
    let (s, e) = planner.patch(&format!("/api/items/{}", ids[2]), json!({"title": "Backfill (all rows)"})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, e) = planner.post(&format!("/api/auto-planner/comparisons/{id}/choose"), json!({"candidate": 1})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("stale_comparison")), "{e}");
    assert!(e["message"].as_str().unwrap().contains(&format!("item {} changed", ids[2])), "{e}");

    let before = app.count("model_comparisons").await;
    let post_raw = |body: &'static str| {
        let planner = &planner;
        async move { planner.post_raw("/api/auto-planner/compare", "application/json", body).await }
    };
    let (s, e) = post_raw("{\"item_ids\": [1,").await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let (s, e) = planner.post("/api/auto-planner/compare", json!({"item_ids": ids, "providers": ["gpt-9"]})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_provider")));
    assert!(e["message"].as_str().unwrap().contains("`gpt-9`"), "{e}");
    let (s, e) = planner.post("/api/auto-planner/compare", json!({"item_ids": ids, "providers": []})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_provider")));
    let (s, e) = planner.post("/api/auto-planner/compare", json!({"item_ids": []})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("empty_selection")));
    let (s, e) = planner.post("/api/auto-planner/compare", json!({"item_ids": ids, "colour": "red"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")));
    let big = format!("{{\"item_ids\": [{}1]}}", "1,".repeat(700_000));
    let (s, _) = planner.post_raw("/api/auto-planner/compare", "application/json", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = app.anonymous().post("/api/auto-planner/compare", json!({"item_ids": ids})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = app.api(Role::Reviewer).await.post("/api/auto-planner/compare", json!({"item_ids": ids})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{e}");
    let (s, _) = app.api(Role::Reviewer).await.post(&format!("/api/auto-planner/comparisons/{id}/choose"), json!({"candidate": 0})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, e) = planner.post(&format!("/api/auto-planner/comparisons/{id}/choose"), json!({"candidate": "first"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = planner.get("/api/auto-planner/comparisons/99999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.count("model_comparisons").await, before, "refused requests wrote nothing");
}

macro_rules! with_models {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, seen, _dir) = super::spawn(nofx::storage::Backend::Sqlite).await.unwrap();
                super::$name(app, seen).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some((app, seen, _dir)) = super::spawn(nofx::storage::Backend::Postgres).await {
                    super::$name(app, seen).await;
                }
            }
        }
    )*};
}

with_models!(comparison_story, stale_and_bad_input, metrics_match_the_comparisons);

#[tokio::test]
async fn comparing_needs_the_auto_planner_flag() {
    let app =
        TestApp::spawn_with(nofx::storage::Backend::Sqlite, FeatureFlags { auto_planner: false, planner_execute: true }).await.unwrap();
    let (s, e) = app.api(Role::Planner).await.post("/api/auto-planner/compare", json!({"item_ids": [1]})).await;
    assert_eq!(
        (s, e["error"].as_str(), e["flag"].as_str()),
        (StatusCode::FORBIDDEN, Some("feature_disabled"), Some("FEATURE_AUTO_PLANNER"))
    );
}
