//! Auto planner over real HTTP, on SQLite and PostgreSQL: plans and verdicts, blocked plans,
//! `Idempotency-Key`, the feature flag, bad input, the event stream and the browser door.

use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use nofx::flags::FeatureFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Tools, a pack and three items: `a` (codegen → git_pr), `b` (git_pr) after `a`, `c` (db_write).
struct Fixture {
    automation: Api,
    pack: i64,
    a: i64,
    b: i64,
    c: i64,
}

async fn setup(app: &TestApp) -> Fixture {
    let admin = app.api(Role::Admin).await;
    for body in [
        json!({"id": "codegen", "risk_weight": 1.0}),
        json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "Close the pull request of item {item_id} ({item_title})", "risk_weight": 2.0}),
        json!({"id": "db_write", "mutating": true, "risk_weight": 2.0}),
    ] {
        let (s, t) = admin.post("/api/tools", body).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    for (ms, cost) in [(60_000, 0.20), (90_000, 0.30), (120_000, 0.40)] {
        let (s, m) = admin.post("/api/tool-metrics", json!({"tool_id": "codegen", "duration_ms": ms, "cost_usd": cost})).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
    }
    let automation = app.api(Role::Automation).await;
    let (_, pack) = automation.post("/api/packs", json!({"name": "Core"})).await;
    let pack = pack["id"].as_i64().unwrap();
    let item = |title: &str, tools: Value, deps: Value| json!({"pack_id": pack, "title": title, "tools": tools, "depends_on": deps, "risk": "low", "estimate_minutes": 30});
    let (_, a) = automation.post("/api/items", item("Schema <b>bold</b>", json!(["codegen", "git_pr"]), json!([]))).await;
    let a = a["id"].as_i64().unwrap();
    let (_, b) = automation.post("/api/items", item("API", json!(["git_pr"]), json!([a]))).await;
    let b = b["id"].as_i64().unwrap();
    let (_, c) = automation.post("/api/items", item("Backfill", json!(["db_write"]), json!([]))).await;
    let c = c["id"].as_i64().unwrap();
    Fixture { automation, pack, a, b, c }
}

fn steps(plan: &Value) -> &Vec<Value> {
    plan["steps"].as_array().unwrap()
}

fn step<'a>(plan: &'a Value, id: &str) -> &'a Value {
    steps(plan).iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no step {id} in {plan}"))
}

fn gate<'a>(verdicts: &'a Value, gate: &str) -> &'a Value {
    verdicts.as_array().unwrap().iter().find(|v| v["gate"] == gate).unwrap()
}

async fn plan_happy_path(app: TestApp) {
    let f = setup(&app).await;
    let (s, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b, f.a]})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["status"], "ready", "{plan}");
    assert_eq!(plan["planner"], "nofx/graph-v1");
    let (a1, a2, b1) = (format!("s{}-1", f.a), format!("s{}-2", f.a), format!("s{}-1", f.b));
    assert_eq!(steps(&plan).len(), 3);
    assert_eq!(step(&plan, &a2)["depends_on"], json!([a1]));
    assert_eq!(step(&plan, &b1)["depends_on"], json!([a2]), "b waits for a's last step");
    assert_eq!(plan["waves"], json!([[a1], [a2], [b1]]));
    assert_eq!(plan["critical_path"], json!([a1, a2, b1]));
    for s in steps(&plan) {
        let token = s["idempotency_token"].as_str().unwrap();
        assert!(token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
        assert_eq!(s["verdicts"].as_array().unwrap().len(), 4, "one verdict per gate");
    }
    assert_eq!(step(&plan, &a2)["rollback"], format!("Close the pull request of item {} (Schema <b>bold</b>)", f.a));
    assert_eq!(step(&plan, &a2)["required_approvals"], 1);
    // The sensitive step is flagged for approval but does not block.
    let risk = gate(&step(&plan, &b1)["verdicts"], "risk");
    assert_eq!(risk["verdict"], "warn", "{risk}");
    assert!(risk["reasons"].to_string().contains("approval"), "{risk}");
    // codegen has recorded runs: p50 of 60/90/120 s is 90 s, cost p50 $0.30.
    assert_eq!(step(&plan, &a1)["estimate"]["duration_p50_ms"], 90_000);
    assert_eq!(step(&plan, &a1)["estimate"]["source"], "metrics");
    assert_eq!(step(&plan, &a2)["estimate"]["source"], "item_estimate");
    assert_eq!(plan["verdicts"].as_array().unwrap().len(), 4);
    assert_eq!(plan["groups"][0]["pack_id"], f.pack);
    let id = plan["id"].as_i64().unwrap();

    // Stored as returned, listed, with one evaluation row per gate for the plan and each step.
    let (s, got) = f.automation.get(&format!("/api/plans/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, plan);
    let (_, list) = f.automation.get("/api/plans").await;
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["step_count"], 3);
    let (_, evals) = f.automation.get(&format!("/api/plans/{id}/evaluations")).await;
    assert_eq!(evals.as_array().unwrap().len(), 4 + 4 * 3);
    assert!(evals.as_array().unwrap().iter().all(|e| e["planner"] == "graph-v1" && e["provider"] == "nofx"));
    // The rows are the plan's verdicts, in order (the plan's own first, then step by step), with
    // the same reasons, rules and remediation as the answer: they are read out of the stored
    // document by the database, so this pins that extraction on both engines.
    let expected: Vec<(Value, &Value)> = plan["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (Value::Null, v))
        .chain(
            plan["steps"].as_array().unwrap().iter().flat_map(|s| s["verdicts"].as_array().unwrap().iter().map(|v| (s["id"].clone(), v))),
        )
        .collect();
    assert_eq!(expected.len(), evals.as_array().unwrap().len());
    for ((step, v), e) in expected.iter().zip(evals.as_array().unwrap()) {
        assert_eq!(&e["step_id"], step);
        for field in ["gate", "verdict", "enforcement", "reasons", "rules", "remediation"] {
            assert_eq!(e[field], v[field], "{field} of {step} {}", v["gate"]);
        }
    }
    assert!(evals.as_array().unwrap().iter().any(|e| !e["reasons"].as_array().unwrap().is_empty()), "some verdict has reasons");
    let (_, only_plan) = f.automation.get(&format!("/api/plans/{id}/evaluations?step_id=plan&gate=risk")).await;
    assert_eq!(only_plan.as_array().unwrap().len(), 1);
    assert_eq!(only_plan[0]["step_id"], Value::Null);
    let (_, one_step) = f.automation.get(&format!("/api/plans/{id}/evaluations?step_id={b1}")).await;
    let gates: Vec<&Value> = one_step.as_array().unwrap().iter().map(|e| &e["gate"]).collect();
    let want: Vec<&Value> = step(&plan, &b1)["verdicts"].as_array().unwrap().iter().map(|v| &v["gate"]).collect();
    assert_eq!(gates, want, "one step's rows, in its gates' order");
    let (_, warns) = f.automation.get(&format!("/api/plans/{id}/evaluations?verdict=warn")).await;
    let warn_count = expected.iter().filter(|(_, v)| v["verdict"] == "warn").count();
    assert!(warn_count > 0 && warns.as_array().unwrap().len() == warn_count, "{warns}");
    assert!(warns.as_array().unwrap().iter().all(|e| e["verdict"] == "warn"));
    assert_eq!(app.count("plan_items").await, 2);

    // Graph downloads.
    let res = f.automation.get_raw(&format!("/api/plans/{id}/graph?format=dot"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/vnd.graphviz"));
    let dot = res.text().await.unwrap();
    assert!(dot.starts_with(&format!("digraph \"plan-{id}\"")), "{dot}");
    assert!(dot.contains(&format!("\"{a2}\" -> \"{b1}\"")), "{dot}");
    let (_, graph) = f.automation.get(&format!("/api/plans/{id}/graph?format=json")).await;
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 2);
    let (s, err) = f.automation.get(&format!("/api/plans/{id}/graph?format=png")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");

    // Same backlog, same request → same tokens; a changed item → new tokens for its steps only.
    let (_, again) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b, f.a]})).await;
    assert_ne!(again["id"], plan["id"]);
    assert_eq!(step(&again, &b1)["idempotency_token"], step(&plan, &b1)["idempotency_token"]);
    f.automation.patch(&format!("/api/items/{}", f.b), json!({"description": "now with pagination"})).await;
    let (_, changed) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b, f.a]})).await;
    assert_ne!(step(&changed, &b1)["idempotency_token"], step(&plan, &b1)["idempotency_token"]);
    assert_eq!(step(&changed, &a1)["idempotency_token"], step(&plan, &a1)["idempotency_token"]);

    // A whole pack: every unfinished item of it.
    let (s, by_pack) = f.automation.post("/api/auto-planner/plan", json!({"pack_id": f.pack})).await;
    assert_eq!(s, StatusCode::CREATED, "{by_pack}");
    assert_eq!(by_pack["items"].as_array().unwrap().len(), 3);
}

async fn blocked_plans_say_why(app: TestApp) {
    let f = setup(&app).await;
    // b depends on a, which is not in the request and not done.
    let (s, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b]})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["status"], "blocked");
    let structural = gate(&plan["verdicts"], "structural");
    assert_eq!(structural["verdict"], "block");
    assert!(structural["reasons"].to_string().contains(&f.a.to_string()), "names the missing item: {structural}");
    assert!(structural["remediation"].to_string().contains("include_dependencies"), "{structural}");
    // Pulling dependencies in fixes it.
    let (_, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b], "include_dependencies": true})).await;
    assert_eq!(plan["status"], "ready", "{plan}");
    assert_eq!(plan["items"].as_array().unwrap().iter().find(|i| i["id"] == f.a).unwrap()["pulled_in"], true);

    // A cycle: a → b → a. Every item of it is named.
    let (s, _) = f.automation.patch(&format!("/api/items/{}", f.a), json!({"depends_on": [f.b]})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.a, f.b]})).await;
    assert_eq!(plan["status"], "blocked");
    let structural = gate(&plan["verdicts"], "structural");
    let text = structural["reasons"].to_string();
    assert!(text.contains(&f.a.to_string()) && text.contains(&f.b.to_string()) && text.to_lowercase().contains("cycle"), "{structural}");
    assert!(steps(&plan).iter().all(|s| s["wave"].is_null() && s["verdict"] == "block"));
    f.automation.patch(&format!("/api/items/{}", f.a), json!({"depends_on": []})).await;

    // Over budget: the resource gate blocks and says by how much.
    let (_, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.a, f.b, f.c], "budget_usd": 0.01})).await;
    assert_eq!(plan["status"], "blocked");
    let resource = gate(&plan["verdicts"], "resource");
    assert_eq!(resource["verdict"], "block", "{resource}");
    assert!(resource["remediation"].to_string().contains("budget"), "{resource}");

    // A mutating tool without rollback recipe is a finding, not a crash.
    let (_, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.c]})).await;
    let c1 = format!("s{}-1", f.c);
    assert_eq!(step(&plan, &c1)["rollback"], Value::Null);
    let structural = gate(&step(&plan, &c1)["verdicts"], "structural");
    assert!(structural["rules"].to_string().contains("structural.rollback"), "{structural}");
    assert_ne!(structural["verdict"], "allow");
}

async fn whoami(api: &Api) -> String {
    api.get("/api/me").await.1["identity"].as_str().unwrap().to_string()
}

async fn idempotency_keys(app: TestApp) {
    let f = setup(&app).await;
    let body = json!({"item_ids": [f.a, f.b]});
    let (s, first, h) = f.automation.post_idempotent("/api/auto-planner/plan", "key-1", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert!(h.get("idempotent-replayed").is_none());
    let events = app.count("events").await;
    let (s, replay, h) = f.automation.post_idempotent("/api/auto-planner/plan", "key-1", json!({"item_ids": [f.a, f.b]})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h["idempotent-replayed"], "true");
    assert_eq!(replay, first, "the original response, same plan id");
    assert_eq!(app.count("plans").await, 1, "no new plan");
    assert_eq!(app.count("events").await, events, "no new event");

    let (s, err, _) = f.automation.post_idempotent("/api/auto-planner/plan", "key-1", json!({"item_ids": [f.a]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"], "idempotency_key_reused");

    // Keys belong to their caller: another key's identical request is a new plan.
    let other = app.api(Role::Automation).await;
    let (s, theirs, _) = other.post_idempotent("/api/auto-planner/plan", "key-1", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(theirs["id"], first["id"]);

    // A key whose first request is still running → 409.
    app.sql(format!(
        "insert into idempotency_keys (principal, endpoint, idem_key, request_hash, status, created_at) values ('{}', 'POST /api/auto-planner/plan', 'key-busy', '{}', 'in_flight', {})",
        whoami(&f.automation).await,
        nofx::idempotency::fingerprint(body.to_string().as_bytes()),
        nofx::storage::now_ms()
    ))
    .await;
    let (s, err, _) = f.automation.post_idempotent("/api/auto-planner/plan", "key-busy", body.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "idempotency_key_in_flight");

    // A rejected request frees its key for the corrected retry.
    let (s, _, _) = f.automation.post_idempotent("/api/auto-planner/plan", "key-2", json!({"item_ids": []})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = f.automation.post_idempotent("/api/auto-planner/plan", "key-2", json!({"item_ids": [f.c]})).await;
    assert_eq!(s, StatusCode::CREATED);

    // Hostile keys are refused before anything happens.
    let (s, err, _) = f.automation.post_idempotent("/api/auto-planner/plan", &"k".repeat(300), body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"], "invalid_idempotency_key");
}

/// `Prefer: return=minimal` answers the outcome without the steps, with the plan's address;
/// the whole plan is what `GET` of that address gives. Other preferences get the whole plan.
async fn minimal_answers(app: TestApp) {
    let f = setup(&app).await;
    let body = json!({"item_ids": [f.a, f.b, f.c]});
    let path = "/api/auto-planner/plan";
    let (s, outcome, h) = f.automation.post_with(path, &[("prefer", "handling=strict, return=minimal")], body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{outcome}");
    assert_eq!(h["preference-applied"], "return=minimal");
    let id = outcome["id"].as_i64().unwrap();
    assert_eq!(h["location"], format!("/api/plans/{id}"));
    assert_eq!(outcome["links"]["plan"], format!("/api/plans/{id}"));
    assert!(outcome.get("steps").is_none() && outcome.get("items").is_none(), "{outcome}");
    let (s, plan) = f.automation.get(outcome["links"]["plan"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    for field in ["status", "planner", "estimate", "verdicts", "findings", "verdict_counts", "created_by", "created_at"] {
        assert_eq!(outcome[field], plan[field], "{field}");
    }
    assert_eq!(outcome["step_count"], steps(&plan).len());
    assert_eq!(outcome["item_count"], plan["items"].as_array().unwrap().len());
    assert_eq!(outcome["wave_count"], plan["waves"].as_array().unwrap().len());
    assert_eq!(outcome["packs"], json!(["Core"]));
    let (_, rows) = f.automation.get(outcome["links"]["evaluations"].as_str().unwrap()).await;
    assert_eq!(rows.as_array().unwrap().len(), 4 * (steps(&plan).len() + 1), "every verdict row is stored");

    // A retry replays the first answer, in its form.
    let minimal = [("prefer", "return=minimal"), ("idempotency-key", "min-1")];
    let (_, first, h) = f.automation.post_with(path, &minimal, body.clone()).await;
    assert!(h.get("idempotent-replayed").is_none());
    let plans = app.count("plans").await;
    let (s, replay, h) = f.automation.post_with(path, &minimal, body.clone()).await;
    assert_eq!((s, &h["idempotent-replayed"]), (StatusCode::CREATED, &"true".parse().unwrap()));
    assert_eq!(replay, first);
    assert_eq!(app.count("plans").await, plans, "no new plan");

    // Anything but return=minimal is the whole plan, with its address too.
    for prefer in ["return=representation", "respond-async", "return=minimalist"] {
        let (s, full, h) = f.automation.post_with(path, &[("prefer", prefer)], body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{full}");
        assert!(h.get("preference-applied").is_none(), "{prefer}");
        assert_eq!(h["location"], format!("/api/plans/{}", full["id"]));
        assert_eq!(steps(&full).len(), steps(&plan).len(), "{prefer}");
    }
}

async fn bad_input_writes_nothing(app: TestApp) {
    let f = setup(&app).await;
    let path = "/api/auto-planner/plan";
    let cases = [
        (json!({"item_ids": [f.a, 9999, 8888]}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_references"),
        (json!({"item_ids": []}), StatusCode::UNPROCESSABLE_ENTITY, "empty_selection"),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_selection"),
        (json!({"item_ids": [f.a], "pack_id": f.pack}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_selection"),
        (json!({"item_ids": (1..=2001).collect::<Vec<i64>>()}), StatusCode::UNPROCESSABLE_ENTITY, "selection_too_large"),
        (json!({"item_ids": [-1]}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_selection"),
        (json!({"pack_id": 424242}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_references"),
        (json!({"item_ids": [f.a], "budget_usd": -5}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_budget"),
        (json!({"item_ids": "all"}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"item_ids": [f.a], "dry_run": true}), StatusCode::BAD_REQUEST, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (s, err) = f.automation.post(path, body.clone()).await;
        assert_eq!((s, err["error"].as_str().unwrap_or("")), (status, code), "{body} → {err}");
        assert!(err["message"].as_str().unwrap().len() > 20, "a sentence saying what to fix: {err}");
    }
    let (_, err) = f.automation.post(path, json!({"item_ids": [f.a, 9999, 8888]})).await;
    assert_eq!(err["unknown_item_ids"], json!([9999, 8888]));
    let (s, err) = f.automation.post_raw(path, "application/json", "{\"item_ids\": [1,").await;
    assert_eq!((s, err["error"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "invalid_json"));
    // Oversized: announced by its length and refused before it is read (over a raw socket, so
    // the server's early answer is not lost to a client still writing megabytes).
    let (s, err) = f.automation.post_socket(path, "content-length: 2097152", b"[[[[").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{err}");

    // Done items: nothing to plan for them.
    f.automation.patch(&format!("/api/items/{}", f.c), json!({"status": "done"})).await;
    let (s, err) = f.automation.post(path, json!({"item_ids": [f.c]})).await;
    assert_eq!((s, err["error"].as_str().unwrap()), (StatusCode::UNPROCESSABLE_ENTITY, "items_done"));

    // Who may plan: automation, planner, admin; not viewers or reviewers; not strangers.
    for role in [Role::Viewer, Role::Reviewer] {
        let (s, err) = app.api(role).await.post(path, json!({"item_ids": [f.a]})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}: {err}");
    }
    let (s, _) = app.anonymous().post(path, json!({"item_ids": [f.a]})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let bad = Api { key: Some("nofx_not_a_real_key".into()), ..app.anonymous() };
    let (s, _) = bad.post(path, json!({"item_ids": [f.a]})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.anonymous().get("/api/plans").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = f.automation.get("/api/plans/777").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f.automation.get("/api/plans/abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    for table in ["plans", "plan_items", "plan_evaluations", "events", "idempotency_keys"] {
        assert_eq!(app.count(table).await, 0, "{table} after rejected requests");
    }
    let (s, _) = app.api(Role::Planner).await.post(path, json!({"item_ids": [f.a]})).await;
    assert_eq!(s, StatusCode::CREATED, "planners plan");
}

async fn feature_flag_off(app: TestApp) {
    let f = setup(&app).await;
    let (s, err) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.a]})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(err["error"], "feature_disabled");
    assert_eq!(err["flag"], "FEATURE_AUTO_PLANNER");
    assert_eq!(app.count("plans").await, 0);
    let (s, _) = f.automation.get("/api/plans").await;
    assert_eq!(s, StatusCode::OK, "reading plans does not need the flag");
    // The browser door says so too, and the backlog page explains instead of offering the button.
    let browser = app.browser(Role::Planner).await;
    let (s, err, _) = browser.call("plan_items", &[("csrf", &browser.csrf), ("item_ids[]", &f.a.to_string())]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{err}");
    let (_, html) = browser.page("/backlog").await;
    assert!(!html.contains("data-testid=\"plan-selected\""));
    assert!(html.contains("FEATURE_AUTO_PLANNER is off"));
}

/// Reads an SSE response until `want` events have arrived (or 10 s pass); returns (id, type, data).
async fn read_events(mut res: reqwest::Response, want: usize) -> Vec<(i64, String, Value)> {
    let mut buf = String::new();
    let mut out = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < want {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.expect("events in time").unwrap().expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (0, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().unwrap_or(0);
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !kind.is_empty() {
                out.push((id, kind, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

async fn events_stream_and_replay(app: TestApp) {
    let f = setup(&app).await;
    let live = f.automation.get_raw("/api/events?types=plan.ready,plan.blocked", &[]).await;
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let (_, ready) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.a]})).await;
    let (_, blocked) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": [f.b]})).await;
    let got = read_events(live, 2).await;
    assert_eq!(got[0].1, "plan.ready");
    assert_eq!(got[0].2["payload"]["plan_id"], ready["id"]);
    assert_eq!(got[1].1, "plan.blocked");
    assert_eq!(got[1].2["payload"]["plan_id"], blocked["id"]);
    assert!(got[1].2["payload"]["blocking"][0]["remediation"].is_array());
    assert!(got[0].0 < got[1].0, "ids increase");

    // Reconnecting with Last-Event-ID replays what was missed, in order, evaluated first.
    let replay = f.automation.get_raw("/api/events", &[("last-event-id", "0")]).await;
    let all = read_events(replay, 4).await;
    let kinds: Vec<&str> = all.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(kinds, ["plan.evaluated", "plan.ready", "plan.evaluated", "plan.blocked"]);
    let after_first = all[1].0.to_string();
    let rest = read_events(f.automation.get_raw("/api/events?types=plan.*", &[("last-event-id", &after_first)]).await, 2).await;
    assert_eq!(rest.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["plan.evaluated", "plan.blocked"]);

    let res = f.automation.get_raw("/api/events", &[("last-event-id", "yesterday")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.anonymous().get_raw("/api/events", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn browser_door_and_pages(app: TestApp) {
    let f = setup(&app).await;
    let browser = app.browser(Role::Planner).await;
    let (s, id, location) = browser
        .call(
            "plan_items",
            &[("csrf", &browser.csrf), ("item_ids[]", &f.a.to_string()), ("item_ids[]", &f.b.to_string()), ("budget_usd", "")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{id}");
    assert_eq!(location.as_deref(), Some(format!("/plans/{id}").as_str()));
    let (s, err, _) = browser.call("plan_items", &[("csrf", "forged"), ("item_ids[]", &f.a.to_string())]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{err}");
    let (s, err, _) = browser.call("plan_items", &[("csrf", &browser.csrf), ("budget_usd", "lots")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let viewer = app.browser(Role::Viewer).await;
    let (s, _, _) = viewer.call("plan_items", &[("csrf", &viewer.csrf), ("item_ids[]", &f.a.to_string())]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.count("plans").await, 1);

    // The plan page: the server-rendered graph, verdicts, and hostile titles escaped.
    let (s, html) = browser.page(&format!("/plans/{id}?step=s{}-2", f.a)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("Plan #{id}")));
    assert!(html.contains("data-testid=\"plan-graph\""));
    assert!(html.contains(&format!("data-step=\"s{}-1\"", f.a)));
    assert!(html.contains("data-testid=\"step-panel\""));
    assert!(!html.contains("<b>bold</b>"), "item titles are escaped everywhere, the SVG included");
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"));
    let (_, html) = browser.page("/plans").await;
    assert!(html.contains(&format!("/plans/{id}")));
    let (s, html) = browser.page("/plans/99999").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a missing plan is a 404 page");
    assert!(html.contains("Plan 99999 was not found"));
    // The browser may download the graph with its session (no API key).
    let res = browser.http.get(app.url(&format!("/api/plans/{id}/graph?format=dot"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A plan of 605 steps: its page draws one box per item until asked for every step, and shows
/// its verdict rows a page at a time.
async fn a_big_plan_page_collapses_and_pages(app: TestApp) {
    let f = setup(&app).await;
    let admin = app.api(Role::Admin).await;
    for id in ["lint", "unit"] {
        let (s, t) = admin.post("/api/tools", json!({"id": id, "risk_weight": 0.5})).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    let mut ids = vec![];
    for i in 0..121 {
        let deps = if i % 4 == 0 { json!([]) } else { json!([ids[ids.len() - 1]]) };
        let body = json!({"pack_id": f.pack, "title": format!("Big item {i}"), "tools": ["codegen", "lint", "unit", "git_pr", "db_write"], "depends_on": deps});
        let (s, item) = f.automation.post("/api/items", body).await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    let (s, plan) = f.automation.post("/api/auto-planner/plan", json!({"item_ids": ids})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(steps(&plan).len(), 605);
    let id = plan["id"].as_i64().unwrap();
    let browser = app.browser(Role::Viewer).await;

    let (s, html) = browser.page(&format!("/plans/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"data-detail="items""#), "past 600 steps the graph draws items");
    assert_eq!(html.matches(" data-item=\"").count(), 121);
    assert!(html.contains("one box per item (121 items, 605 steps)"), "the page says what it shows");
    assert!(html.contains("?graph=steps"), "and links to every step");
    // The side column lists the first 8 items of the pack and folds the other 113 away.
    let folded = &html[html.find(r#"data-testid="more-items""#).expect("the pack's other items fold")..];
    assert!(folded.contains("113 more"), "{}", &folded[..300]);
    assert_eq!(folded.matches(r#"<a href="/backlog/"#).count(), 113);
    let (_, all) = browser.page(&format!("/plans/{id}?graph=steps")).await;
    assert!(all.contains(r#"data-detail="steps""#));
    assert_eq!(all.matches(r#"<a href="?step="#).count(), 605);

    // 121 git_pr and 121 db_write steps warn: 25 rows a page, pages that say where they are, the last page clamps.
    let rows = |html: &str| html.matches(r#"data-testid="verdict-row""#).count();
    assert_eq!(rows(&html), 25);
    assert!(html.contains("Rows 1–25 of 242") && html.contains("page 1 of 10"), "{}", &html[html.find("row-pages").unwrap_or(0)..][..200]);
    let (_, second) = browser.page(&format!("/plans/{id}?page=2")).await;
    assert_eq!(rows(&second), 25);
    assert!(second.contains("Rows 26–50 of 242"));
    let (_, last) = browser.page(&format!("/plans/{id}?page=999")).await;
    assert_eq!(rows(&last), 17);
    assert!(last.contains("Rows 226–242 of 242") && last.contains("page 10 of 10"));
    let (s, _) = browser.page(&format!("/plans/{id}?page=lots&graph=everything")).await;
    assert_eq!(s, StatusCode::OK, "a malformed page or view falls back to the first page and the default view");
}

on_both_databases!(
    a_big_plan_page_collapses_and_pages,
    plan_happy_path,
    blocked_plans_say_why,
    idempotency_keys,
    minimal_answers,
    bad_input_writes_nothing,
    events_stream_and_replay,
    browser_door_and_pages
);

mod flag_off {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app =
            TestApp::spawn_with(nofx::storage::Backend::Sqlite, FeatureFlags { auto_planner: false, planner_execute: true }).await.unwrap();
        feature_flag_off(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) =
            TestApp::spawn_with(nofx::storage::Backend::Postgres, FeatureFlags { auto_planner: false, planner_execute: true }).await
        {
            feature_flag_off(app).await;
        }
    }
}

/// A broken policy file stops the start, naming the file and the line; a valid one is used.
#[tokio::test]
async fn invalid_policy_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[risk]\nwarn_at = 12\nblock_at = 9\n").unwrap();
    let mut config = nofx::config::Config::for_tests(format!("sqlite://{}/nofx.db", dir.path().display()), FeatureFlags::default());
    config.policy_path = Some(policy.clone());
    let options = leptos::config::LeptosOptions::builder().output_name("nofx").build();
    let err = nofx::server::prepare(config.clone(), options.clone()).await.err().expect("refused").to_string();
    assert!(err.contains("policy.toml: line 2: risk.warn_at (12) must be below risk.block_at (9)"), "{err}");
    assert!(!dir.path().join("nofx.db").exists(), "nothing started, not even the database");

    std::fs::write(&policy, "[resource]\nbudget_usd = 3.5\n").unwrap();
    let state = nofx::server::prepare(config, options).await.unwrap();
    assert_eq!(state.policy.resource.budget_usd, 3.5);
}
