//! Plan execution over real HTTP, on SQLite and PostgreSQL: execute (at once, or after a plan
//! approval), workers claiming across waves, sensitive steps waiting for reviewers, rollbacks,
//! leases and fences, retries, cancel, the feature flag, and bad or hostile input.

use crate::common::{plan_of, Api, TestApp};
use nofx::auth::model::Role;
use nofx::flags::FeatureFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

fn build_tool() -> Value {
    json!({"id": "build", "risk_weight": 1.0})
}

fn migrate_tool() -> Value {
    json!({"id": "migrate", "mutating": true, "rollback": "migrate down for item {item_id}", "risk_weight": 1.0})
}

fn deploy_tool() -> Value {
    json!({"id": "deploy", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "redeploy the previous release of {item_id}", "risk_weight": 1.0})
}

async fn claim(worker: &Api, tools: &[&str], wait_s: u64) -> Option<Value> {
    let (s, job) = worker.post("/api/worker/claim", json!({"tools": tools, "worker": "test", "wait_s": wait_s})).await;
    match s {
        StatusCode::OK => Some(job),
        StatusCode::NO_CONTENT => None,
        other => panic!("claim answered {other}: {job}"),
    }
}

async fn report(worker: &Api, job: &Value, what: &str, body: Value) -> (StatusCode, Value) {
    let mut body = body;
    body["fence"] = job["fence"].clone();
    worker.post(job["links"][what].as_str().unwrap(), body).await
}

async fn run_of(api: &Api, plan_id: i64) -> Value {
    let (s, run) = api.get(&format!("/api/plans/{plan_id}/run")).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    run
}

fn state_of<'a>(run: &'a Value, step_id: &str) -> &'a str {
    run["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == step_id).unwrap()["state"].as_str().unwrap()
}

/// The plan's events as stored (what the stream and webhooks deliver), oldest first.
async fn events_of(app: &TestApp, plan_id: i64) -> Vec<String> {
    let events = nofx::events::store::list_after(&app.db, 0, 100_000).await.unwrap();
    events.into_iter().filter(|e| e.subject == nofx::events::model::Subject::Plan(plan_id)).map(|e| e.kind.as_str().to_string()).collect()
}

async fn executes_wave_by_wave(app: TestApp) {
    // a → b, and c on its own: waves [a, c], [b].
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[]), ("b", &["build"], &[0]), ("c", &["build"], &[])]).await;
    assert_eq!(plan["status"], "ready", "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let planner = app.api(Role::Planner).await;
    let worker = app.api(Role::Worker).await;

    let (s, run) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["status"], "running", "every verdict allows: approved at once");
    assert_eq!(run["approved_by"], "policy");
    assert_eq!(run["steps_total"], 3);
    let (_, p) = planner.get(&format!("/api/plans/{id}")).await;
    assert_eq!(p["status"], "running", "the plan's own status follows its run");

    // Executing again changes nothing.
    let (s, again) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!((s, again["error"].as_str(), again["status"].as_str()), (StatusCode::CONFLICT, Some("already_started"), Some("running")));

    // Wave 0: the two roots, one at a time, oldest first; the dependent waits.
    let first = claim(&worker, &["build"], 0).await.expect("a root is claimable");
    let second = claim(&worker, &["build"], 0).await.expect("the other root too");
    assert!(claim(&worker, &["build"], 0).await.is_none(), "b waits for a");
    let mut roots = [first["step_id"].as_str().unwrap(), second["step_id"].as_str().unwrap()];
    roots.sort();
    let first_steps: Vec<&str> = plan["waves"][0].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let mut expected = first_steps.clone();
    expected.sort();
    assert_eq!(roots.to_vec(), expected);
    assert_eq!(first["job"], "run");
    assert_eq!(first["attempt"], 1);
    let step = plan["steps"].as_array().unwrap().iter().find(|s| s["id"] == first["step_id"]).unwrap();
    assert_eq!(first["idempotency_token"], step["idempotency_token"], "the plan's token goes to the worker");
    assert_eq!(first["item"]["id"], step["backlog_item_id"]);
    let run = run_of(&planner, id).await;
    assert_eq!(state_of(&run, first["step_id"].as_str().unwrap()), "running");
    let lease = &run["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == first["step_id"]).unwrap()["lease"];
    assert!(lease["worker"].as_str().unwrap().ends_with("/test"), "{lease}");

    // A heartbeat extends the lease; a stale fence is refused and changes nothing.
    let (s, beat) = report(&worker, &first, "heartbeat", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{beat}");
    assert_eq!(beat["stop"], false);
    let (s, stale) = worker.post(first["links"]["complete"].as_str().unwrap(), json!({"fence": 99})).await;
    assert_eq!((s, stale["error"].as_str()), (StatusCode::CONFLICT, Some("lease_lost")), "{stale}");

    for job in [&first, &second] {
        let (s, done) = report(&worker, job, "complete", json!({"output": "ok\n", "exit_code": 0})).await;
        assert_eq!(s, StatusCode::OK, "{done}");
    }
    // Reported twice: the lease is gone.
    let (s, twice) = report(&worker, &first, "complete", json!({})).await;
    assert_eq!((s, twice["error"].as_str()), (StatusCode::CONFLICT, Some("lease_lost")));

    let last = claim(&worker, &["build"], 5).await.expect("b is claimable once a succeeded");
    assert_eq!(last["step_id"], plan["waves"][1][0]);
    let (s, _) = report(&worker, &last, "complete", json!({"output": "built"})).await;
    assert_eq!(s, StatusCode::OK);

    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps_succeeded"], 3);
    assert!(run["finished_at"].is_i64());
    assert!(run["steps"].as_array().unwrap().iter().all(|s| s["state"] == "succeeded" && s["lease"].is_null()));
    assert_eq!(run["attempts"].as_array().unwrap().len(), 3);
    assert!(run["attempts"].as_array().unwrap().iter().all(|a| a["outcome"] == "succeeded"));
    let (_, p) = planner.get(&format!("/api/plans/{id}")).await;
    assert_eq!(p["status"], "succeeded");

    let k = events_of(&app, id).await;
    assert_eq!(k.iter().filter(|k| **k == "plan.approved").count(), 1, "plan.approved exactly once: {k:?}");
    assert_eq!(k.iter().filter(|k| **k == "step.succeeded").count(), 3);
    assert_eq!(k.iter().filter(|k| **k == "step.started").count(), 3);
    assert_eq!(k.iter().filter(|k| **k == "step.queued").count(), 3, "two roots, then b");
    assert_eq!(k.last().map(String::as_str), Some("plan.succeeded"), "{k:?}");
    assert!(k.iter().position(|k| *k == "plan.approved") < k.iter().position(|k| *k == "plan.started"));
}

async fn sensitive_steps_wait_and_a_denial_rolls_back(app: TestApp) {
    // One item: migrate, then the sensitive deploy.
    let plan = plan_of(&app, &[migrate_tool(), deploy_tool()], &[("ship", &["migrate", "deploy"], &[])]).await;
    assert_eq!(plan["status"], "ready", "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let (migrate, deploy) = (plan["waves"][0][0].as_str().unwrap().to_string(), plan["waves"][1][0].as_str().unwrap().to_string());
    let planner = app.api(Role::Planner).await;
    let reviewer = app.api(Role::Reviewer).await;
    let worker = app.api(Role::Worker).await;

    // The sensitive step warns, so the plan itself waits for a reviewer first.
    let (s, run) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["status"], "awaiting_approval");
    assert!(run["steps"].as_array().unwrap().is_empty(), "nothing is queued before the plan is approved");
    let plan_approval = run["approval_id"].as_i64().unwrap();
    let (_, a) = reviewer.get(&format!("/api/approvals/{plan_approval}")).await;
    assert_eq!(
        (a["tool_id"].as_str(), a["plan_id"].as_i64(), a["status"].as_str()),
        (Some("nofx/execute-plan"), Some(id), Some("pending"))
    );
    assert!(claim(&worker, &["migrate", "deploy"], 0).await.is_none());
    // The planner cannot approve their own plan.
    let (s, _) = planner.post(&format!("/api/approvals/{plan_approval}/decision"), json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, d) = reviewer.post(&format!("/api/approvals/{plan_approval}/decision"), json!({"decision": "approve", "comment": "go"})).await;
    assert_eq!(s, StatusCode::OK, "{d}");

    // The plan starts the moment it is approved: a waiting worker gets the first step.
    let job = claim(&worker, &["migrate", "deploy"], 10).await.expect("migrate is claimable once the plan is approved");
    assert_eq!(job["step_id"], migrate);
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "running");
    assert!(run["approved_by"].as_str().unwrap().starts_with("key:reviewer"), "{run}");
    let (s, _) = report(&worker, &job, "complete", json!({"output": "migrated"})).await;
    assert_eq!(s, StatusCode::OK);

    // The deploy waits in the inbox, linked to its plan, step, item and pack.
    let run = run_of(&planner, id).await;
    assert_eq!(state_of(&run, &deploy), "waiting_approval", "{run}");
    let step_approval = run["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == deploy).unwrap()["approval_id"].as_i64().unwrap();
    let (_, a) = reviewer.get(&format!("/api/approvals/{step_approval}")).await;
    assert_eq!(a["tool_id"], "deploy");
    assert_eq!(a["plan_id"], id);
    assert_eq!(a["step_id"], deploy.as_str());
    assert!(a["backlog_item_id"].is_i64() && a["pack_id"].is_i64(), "{a}");
    assert!(a["requester"].as_str().unwrap().starts_with("key:planner"), "made in the name of who executed the plan");
    assert!(claim(&worker, &["deploy"], 0).await.is_none(), "not before it is approved");

    // Denied: the plan stops and the migration is rolled back by a worker.
    let (s, _) =
        reviewer.post(&format!("/api/approvals/{step_approval}/decision"), json!({"decision": "deny", "comment": "not today"})).await;
    assert_eq!(s, StatusCode::OK);
    let undo = claim(&worker, &["migrate"], 10).await.expect("the rollback is claimable");
    assert_eq!(undo["step_id"], migrate);
    assert_eq!(undo["job"], "rollback");
    assert_eq!(undo["attempt"], 1);
    assert_eq!(undo["rollback"], format!("migrate down for item {}", job["item"]["id"]));
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "rolling_back");
    assert_eq!(run["stop_reason"], "step_failed");
    assert_eq!(state_of(&run, &deploy), "failed");
    assert_eq!(state_of(&run, &migrate), "compensating");
    let (s, _) = report(&worker, &undo, "complete", json!({"output": "rolled back"})).await;
    assert_eq!(s, StatusCode::OK);
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "rolled_back", "{run}");
    assert_eq!(state_of(&run, &migrate), "compensated");
    let k = events_of(&app, id).await;
    for kind in ["plan.approved", "plan.started", "step.waiting_approval", "step.failed", "step.compensated", "plan.rolled_back"] {
        assert!(k.iter().any(|x| x == kind), "{kind} missing from {k:?}");
    }
    assert_eq!(k.iter().filter(|k| **k == "plan.approved").count(), 1);
}

async fn leases_fences_and_retries(app: TestApp) {
    let plan = plan_of(&app, &[migrate_tool()], &[("one", &["migrate"], &[]), ("two", &["migrate"], &[0])]).await;
    let id = plan["id"].as_i64().unwrap();
    let planner = app.api(Role::Planner).await;
    let worker = app.api(Role::Worker).await;
    let other = app.api(Role::Worker).await;
    let (s, _) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let job = claim(&worker, &["migrate"], 0).await.unwrap();
    // Another worker key cannot report on it, even with the right fence.
    let (s, b) = report(&other, &job, "complete", json!({})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("lease_lost")), "{b}");

    // The lease runs out (staged: the clock cannot be moved): the late report is refused and the
    // step goes to a new attempt with the same token.
    app.sql(format!("update step_runs set lease_expires_at = 1 where plan_id = {id}")).await;
    let (s, late) = report(&worker, &job, "complete", json!({})).await;
    assert_eq!((s, late["error"].as_str()), (StatusCode::CONFLICT, Some("lease_expired")), "{late}");
    let retry = claim(&other, &["migrate"], 10).await.expect("re-queued after the backoff");
    assert_eq!(retry["step_id"], job["step_id"]);
    assert_eq!(retry["attempt"], 2);
    assert_eq!(retry["idempotency_token"], job["idempotency_token"]);
    assert!(retry["fence"].as_i64() > job["fence"].as_i64());

    // A retryable failure: a third attempt after the backoff; out of attempts (3) it fails for good.
    let (s, _) = report(&other, &retry, "fail", json!({"error": "network down", "exit_code": 1})).await;
    assert_eq!(s, StatusCode::OK);
    let run = run_of(&planner, id).await;
    assert_eq!(state_of(&run, job["step_id"].as_str().unwrap()), "claimable");
    assert!(run["steps"][0]["not_before"].as_i64().unwrap() > 0);
    let third = claim(&worker, &["migrate"], 10).await.expect("after the backoff");
    assert_eq!(third["attempt"], 3);
    let (s, _) = report(&worker, &third, "fail", json!({"error": "still down"})).await;
    assert_eq!(s, StatusCode::OK);
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "rolled_back", "nothing had succeeded, so nothing to undo: {run}");
    assert_eq!(state_of(&run, job["step_id"].as_str().unwrap()), "failed");
    assert_eq!(state_of(&run, plan["waves"][1][0].as_str().unwrap()), "skipped");
    let outcomes: Vec<&str> = run["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["failed", "failed", "lease_expired"], "newest first");
    assert_eq!(run["attempts"][0]["error"], "still down");
}

async fn cancel_stops_and_rolls_back(app: TestApp) {
    // a → b, both mutating with a rollback.
    let plan = plan_of(&app, &[migrate_tool()], &[("a", &["migrate"], &[]), ("b", &["migrate"], &[0]), ("c", &["migrate"], &[1])]).await;
    let id = plan["id"].as_i64().unwrap();
    let (a, b) = (plan["waves"][0][0].clone(), plan["waves"][1][0].clone());
    let planner = app.api(Role::Planner).await;
    let worker = app.api(Role::Worker).await;
    let (s, run) = planner.post(&format!("/api/plans/{id}/cancel"), json!({})).await;
    assert_eq!((s, run["error"].as_str()), (StatusCode::CONFLICT, Some("not_running")), "not executed yet");
    planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    let ja = claim(&worker, &["migrate"], 0).await.unwrap();
    report(&worker, &ja, "complete", json!({})).await;
    let jb = claim(&worker, &["migrate"], 5).await.unwrap();
    assert_eq!(jb["step_id"], b);

    let viewer = app.api(Role::Viewer).await;
    let (s, _) = viewer.post(&format!("/api/plans/{id}/cancel"), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, run) = planner.post(&format!("/api/plans/{id}/cancel"), json!({"reason": "wrong branch"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["status"], "rolling_back");
    assert_eq!(state_of(&run, plan["waves"][2][0].as_str().unwrap()), "skipped");
    // b is told to stop at its heartbeat; a waits for b before it is undone.
    let (_, beat) = report(&worker, &jb, "heartbeat", json!({})).await;
    assert_eq!(beat["stop"], true);
    assert!(claim(&worker, &["migrate"], 0).await.is_none(), "a's rollback waits until b has ended");
    let (s, _) = report(&worker, &jb, "fail", json!({"error": "stopped", "retryable": true})).await;
    assert_eq!(s, StatusCode::OK);
    let undo = claim(&worker, &["migrate"], 5).await.expect("a's rollback");
    assert_eq!((undo["step_id"].clone(), undo["job"].as_str()), (a, Some("rollback")));
    report(&worker, &undo, "complete", json!({})).await;
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["stop_reason"], "cancelled");
    let (s, again) = planner.post(&format!("/api/plans/{id}/cancel"), json!({})).await;
    assert_eq!((s, again["status"].as_str()), (StatusCode::CONFLICT, Some("cancelled")));
}

async fn workers_never_share_a_step(app: TestApp) {
    let items: Vec<(String, usize)> = (0..100).map(|i| (format!("item {i}"), i)).collect();
    let items: Vec<(&str, &[&str], &[usize])> = items.iter().map(|(t, _)| (t.as_str(), &["build"][..], &[][..])).collect();
    let plan = plan_of(&app, &[build_tool()], &items).await;
    let id = plan["id"].as_i64().unwrap();
    let planner = app.api(Role::Planner).await;
    // The workers wait before the plan starts: the start itself wakes them.
    let mut tasks = vec![];
    for n in 0..8 {
        let worker = app.api(Role::Worker).await;
        tasks.push(tokio::spawn(async move {
            let mut done = vec![];
            while let Some(job) = claim(&worker, &["build"], if done.is_empty() { 20 } else { 1 }).await {
                let (s, b) = report(&worker, &job, "complete", json!({"output": format!("worker {n}")})).await;
                assert_eq!(s, StatusCode::OK, "{b}");
                done.push(job["step_id"].as_str().unwrap().to_string());
            }
            done
        }));
    }
    let (s, _) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut busy = 0;
    for t in tasks {
        let done = t.await.unwrap();
        busy += usize::from(!done.is_empty());
        for s in done {
            *seen.entry(s).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 100, "every step ran");
    assert!(seen.values().all(|n| *n == 1), "no step was claimed twice");
    assert!(busy >= 2, "the steps were shared between workers ({busy} did any)");
    let run = run_of(&planner, id).await;
    assert_eq!(run["status"], "succeeded");
}

async fn refusals_and_bad_input(app: TestApp) {
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[])]).await;
    let id = plan["id"].as_i64().unwrap();
    let planner = app.api(Role::Planner).await;
    let worker = app.api(Role::Worker).await;
    let viewer = app.api(Role::Viewer).await;
    for (who, path, body, status, code) in [
        (&planner, "/api/auto-planner/execute", json!({"plan_id": 999_999}), StatusCode::NOT_FOUND, "not_found"),
        (&planner, "/api/auto-planner/execute", json!({"plan": id}), StatusCode::BAD_REQUEST, "invalid_body"),
        (&viewer, "/api/auto-planner/execute", json!({"plan_id": id}), StatusCode::FORBIDDEN, "forbidden"),
        (&worker, "/api/auto-planner/execute", json!({"plan_id": id}), StatusCode::FORBIDDEN, "forbidden"),
        (&planner, "/api/worker/claim", json!({"tools": ["build"]}), StatusCode::FORBIDDEN, "forbidden"),
        (&worker, "/api/worker/claim", json!({"tools": []}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (&worker, "/api/worker/claim", json!({"tools": ["Build!"]}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (&worker, "/api/worker/claim", json!({"tools": ["build"], "wait_s": 61}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (&worker, "/api/worker/claim", json!({"tools": ["build"], "worker": "a\u{7}b"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (&worker, "/api/worker/claim", json!({"tools": "build"}), StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let (s, b) = who.post(path, body.clone()).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(code)), "{path} {body}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| m.ends_with('.')), "{b}");
    }
    for path in ["/api/auto-planner/execute", "/api/worker/claim", &format!("/api/worker/plans/{id}/steps/x/complete")] {
        let (s, b) = worker.post_raw(path, "application/json", "{,").await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{path}: {b}");
        // Announced as 2 MiB, refused before it is read (sending it all would race the close).
        let (s, b) = worker.post_socket(path, "content-length: 2097152", b"").await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {b}");
    }
    let (s, _) = app.anonymous().post("/api/worker/claim", json!({"tools": ["build"]})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = worker.get(&format!("/api/plans/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a worker key can do nothing but run steps");
    let (s, _) = planner.get(&format!("/api/plans/{id}/run")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no run before it is executed");
    assert_eq!(app.count("plan_runs").await, 0, "refused requests wrote nothing");

    planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    let job = claim(&worker, &["build"], 0).await.unwrap();
    let (s, b) = report(&worker, &job, "fail", json!({})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("missing_field")));
    let (s, b) = report(&worker, &job, "fail", json!({"error": "x".repeat(5000)})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("too_large")));
    let (s, _) = worker.post(&format!("/api/worker/plans/{id}/steps/nope/complete"), json!({"fence": 1})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A long output is kept by its tail.
    let long = format!("{}THE END", "x".repeat(40_000));
    let (s, _) = report(&worker, &job, "complete", json!({"output": long})).await;
    assert_eq!(s, StatusCode::OK);
    let run = run_of(&planner, id).await;
    let out = run["steps"][0]["output"].as_str().unwrap();
    assert!(out.len() <= 16 * 1024 && out.ends_with("THE END"));

    // A blocked plan is refused with its blocking verdicts.
    let admin = app.api(Role::Admin).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Blocked"})).await;
    let (_, item) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": "big", "tools": ["build"]})).await;
    let (_, blocked) = admin.post("/api/auto-planner/plan", json!({"item_ids": [item["id"]], "budget_usd": 0.01})).await;
    assert_eq!(blocked["status"], "blocked", "{blocked}");
    let (s, b) = planner.post("/api/auto-planner/execute", json!({"plan_id": blocked["id"]})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("plan_blocked")), "{b}");
    assert!(b["blocking"].as_array().is_some_and(|v| !v.is_empty()));
}

on_both_databases!(
    executes_wave_by_wave,
    sensitive_steps_wait_and_a_denial_rolls_back,
    leases_fences_and_retries,
    cancel_stops_and_rolls_back,
    workers_never_share_a_step,
    refusals_and_bad_input
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_has_its_own_flag() {
    let app =
        TestApp::spawn_with(nofx::storage::Backend::Sqlite, FeatureFlags { auto_planner: true, planner_execute: false }).await.unwrap();
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[])]).await;
    assert_eq!(plan["status"], "ready", "planning works with execution off");
    let planner = app.api(Role::Planner).await;
    let (s, b) = planner.post("/api/auto-planner/execute", json!({"plan_id": plan["id"]})).await;
    assert_eq!(
        (s, b["error"].as_str(), b["flag"].as_str()),
        (StatusCode::FORBIDDEN, Some("feature_disabled"), Some("FEATURE_PLANNER_EXECUTE"))
    );
    let worker = app.api(Role::Worker).await;
    let (s, b) = worker.post("/api/worker/claim", json!({"tools": ["build"]})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::FORBIDDEN, Some("feature_disabled")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_subscribers_get_the_execution_events_they_ask_for() {
    // A receiver that keeps every delivery's event type.
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let kept = seen.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                kept.lock().unwrap().push(v["type"].as_str().unwrap().to_string());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let flags = FeatureFlags { auto_planner: true, planner_execute: true };
    let app = TestApp::spawn_configured(nofx::storage::Backend::Sqlite, flags, |c| {
        c.webhook_urls = vec![url.clone()];
        c.webhook_secret = Some(nofx::webhooks::signature::Secret::generate());
        c.webhook_events = Some("plan.approved, step.*".into());
    })
    .await
    .unwrap();
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[])]).await;
    let planner = app.api(Role::Planner).await;
    planner.post("/api/auto-planner/execute", json!({"plan_id": plan["id"]})).await;
    let worker = app.api(Role::Worker).await;
    let job = claim(&worker, &["build"], 5).await.unwrap();
    report(&worker, &job, "complete", json!({})).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = seen.lock().unwrap().clone();
        if got.iter().any(|t| t == "step.succeeded") && got.iter().any(|t| t == "plan.approved") {
            assert!(got.iter().all(|t| t == "plan.approved" || t.starts_with("step.")), "only what was asked for: {got:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not delivered: {got:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_loses_its_step_when_the_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[execution]\nlease_seconds = 5\n[execution.retry]\nbackoff_ms = 100\nmax_backoff_ms = 100\n").unwrap();
    let flags = FeatureFlags { auto_planner: true, planner_execute: true };
    let app = TestApp::spawn_configured(nofx::storage::Backend::Sqlite, flags, |c| c.policy_path = Some(policy.clone())).await.unwrap();
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[])]).await;
    let planner = app.api(Role::Planner).await;
    planner.post("/api/auto-planner/execute", json!({"plan_id": plan["id"]})).await;
    let silent = app.api(Role::Worker).await;
    let first = claim(&silent, &["build"], 0).await.unwrap();
    assert_eq!(first["heartbeat_interval_ms"], 5000 / 3);
    // Nobody reports: the executor re-queues the step when the lease runs out, and a waiting
    // worker gets it as attempt 2.
    let other = app.api(Role::Worker).await;
    let again = claim(&other, &["build"], 20).await.expect("re-queued after the lease ran out");
    assert_eq!((again["step_id"].clone(), again["attempt"].as_i64()), (first["step_id"].clone(), Some(2)));
    assert!(again["fence"].as_i64() > first["fence"].as_i64());
    let (s, late) = report(&silent, &first, "complete", json!({})).await;
    assert_eq!((s, late["error"].as_str()), (StatusCode::CONFLICT, Some("lease_lost")), "{late}");
    let run = run_of(&planner, plan["id"].as_i64().unwrap()).await;
    assert_eq!(run["attempts"][1]["outcome"], "lease_expired", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_planner_off_executed_plans_still_run() {
    let app = TestApp::spawn(nofx::storage::Backend::Sqlite).await.unwrap();
    let plan = plan_of(&app, &[build_tool()], &[("a", &["build"], &[]), ("b", &["build"], &[0])]).await;
    let id = plan["id"].as_i64().unwrap();
    let planner = app.api(Role::Planner).await;
    planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    // The same database served again with FEATURE_AUTO_PLANNER off and execution on.
    let options = leptos::config::LeptosOptions::builder().output_name("nofx").site_root("target/site").site_pkg_dir("pkg").build();
    let config = nofx::config::Config::for_tests(app.database_url.clone(), FeatureFlags { auto_planner: false, planner_execute: true });
    let state = nofx::server::prepare(config, options).await.unwrap();
    let limits = state.config.limits;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { nofx::server::serve(listener, nofx::server::app(state), limits, std::future::pending()).await.unwrap() });
    let second = |key: String| Api { base: base.clone(), key: Some(key), http: reqwest::Client::new() };
    let (s, b) = second(app.key(Role::Planner).await).post("/api/auto-planner/plan", json!({"item_ids": [plan["items"][0]["id"]]})).await;
    assert_eq!((s, b["flag"].as_str()), (StatusCode::FORBIDDEN, Some("FEATURE_AUTO_PLANNER")), "planning is off there");
    let worker = second(app.key(Role::Worker).await);
    for _ in 0..2 {
        let job = claim(&worker, &["build"], 10).await.expect("the executed plan's steps are still served");
        let (s, _) = report(&worker, &job, "complete", json!({})).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(run_of(&second(app.key(Role::Viewer).await), id).await["status"], "succeeded");
}
