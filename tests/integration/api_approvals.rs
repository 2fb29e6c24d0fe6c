//! Human approvals over real HTTP, on SQLite and PostgreSQL: request → wait → decide wakes the
//! waiter, quorum and races, roles and self-approval, expiry (also after a restart), bad input.

use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Fixture {
    automation: Api,
    reviewer: Api,
    item: i64,
}

/// `deploy:prod` needs 2 approvals, `git_pr` 1; one backlog item to link requests to.
async fn setup(app: &TestApp) -> Fixture {
    let admin = app.api(Role::Admin).await;
    for body in [
        json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "close it"}),
        json!({"id": "deploy:prod", "sensitive": true, "required_approvals": 2, "mutating": true, "rollback": "roll back", "approval_expires_in_s": 600}),
    ] {
        let (s, t) = admin.post("/api/tools", body).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    let automation = app.api(Role::Automation).await;
    let (_, pack) = automation.post("/api/packs", json!({"name": "Payments"})).await;
    let (s, item) = automation.post("/api/items", json!({"pack_id": pack["id"], "title": "Ship it", "tools": ["git_pr"]})).await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    Fixture { automation, reviewer: app.api(Role::Reviewer).await, item: item["id"].as_i64().unwrap() }
}

async fn request(api: &Api, body: Value) -> Value {
    let (s, a) = api.post("/api/approvals", body).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

/// The answer of a 300-second long-poll that something should wake. Not a speed check: the guard
/// only tells "woken" from "returned at its own timeout" (then it fails instead of passing late,
/// since both would carry the same final status).
async fn woken(wait: tokio::task::JoinHandle<(StatusCode, Value)>) -> (StatusCode, Value) {
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("the long-poll was not woken: it would only have returned at its own 300 s timeout")
        .unwrap()
}

async fn request_and_decide(app: TestApp) {
    let f = setup(&app).await;
    let a = request(&f.automation, json!({"tool_id": "git_pr", "args": {"branch": "feat/x", "title": "<script>alert(1)</script>"}, "context": {"why": "ship"}, "backlog_item_id": f.item})).await;
    assert_eq!(a["status"], "pending");
    assert_eq!(a["required_approvals"], 1);
    assert!(a["requester"].as_str().unwrap().starts_with("key:automation-"));
    assert!(a["pack_id"].as_i64().is_some(), "the pack comes from the backlog item: {a}");
    assert_eq!(a["args"]["title"], "<script>alert(1)</script>", "stored as sent");
    assert_eq!(a["log"].as_array().unwrap().len(), 1, "the request itself is the first log row");
    let id = a["id"].as_i64().unwrap();

    // The inbox lists it; the waiter blocks until the decision and returns at once.
    let (_, inbox) = f.reviewer.get("/api/approvals?status=pending").await;
    assert!(inbox.as_array().unwrap().iter().any(|x| x["id"] == id));
    let waiter = f.automation.clone();
    // The longest long-poll: if the decision did not wake it, it would only return at its own
    // timeout, long after the guard below gives up.
    let wait = tokio::spawn(async move { waiter.get(&format!("/api/approvals/{id}/wait?timeout_s=300")).await });
    // Decide only once the long-poll is waiting, so what is tested is the wake-up, not a read.
    crate::common::until("the long-poll is waiting", || app.state.waiters.waiting() == 1).await;
    let (s, c) = f.reviewer.post(&format!("/api/approvals/{id}/comments"), json!({"comment": "Which region?"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["status"], "pending", "a comment does not decide");
    let (s, d) = f.reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve", "comment": "eu-west only"})).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["status"], "approved");
    let (s, waited) = woken(wait).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(waited["status"], "approved");
    assert_eq!(waited["go_ahead"], true);
    let kinds: Vec<&str> = waited["log"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["requested", "comment", "approve"]);
    assert_eq!(waited["log"][2]["note"], "eu-west only", "the waiter gets the reviewer's comment");

    // Final: everything else is refused, and nothing is added to the log.
    let (s, e) = f.reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "deny", "comment": "late"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_decided")));
    let (s, _) = f.reviewer.post(&format!("/api/approvals/{id}/comments"), json!({"comment": "hello"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, again) = f.reviewer.get(&format!("/api/approvals/{id}")).await;
    assert_eq!(again["log"].as_array().unwrap().len(), 3);

    // A wait on a decided request answers immediately.
    let (_, w) = f.automation.get(&format!("/api/approvals/{id}/wait?timeout_s=30")).await;
    assert_eq!(w["status"], "approved");
}

async fn quorum_deny_and_self_approval(app: TestApp) {
    let f = setup(&app).await;
    let second = app.api(Role::Reviewer).await;
    let a = request(&f.automation, json!({"tool_id": "deploy:prod", "args": {"service": "api"}})).await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["required_approvals"], 2);
    let open_for = a["expires_at"].as_i64().unwrap() - a["created_at"].as_i64().unwrap();
    assert_eq!(open_for, 600_000, "the tool's approval_expires_in_s applies when the request does not say");

    let (s, one) = f.reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!((s, one["status"].as_str()), (StatusCode::OK, Some("pending")), "1 of 2");
    let (s, e) = f.reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_voted")), "one reviewer counts once");
    let (s, two) = second.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!((s, two["status"].as_str()), (StatusCode::OK, Some("approved")));
    assert_eq!(two["approved_by"].as_array().unwrap().len(), 2);

    // Deny needs a reason; with one, a single deny decides.
    let b = request(&f.automation, json!({"tool_id": "deploy:prod"})).await;
    let bid = b["id"].as_i64().unwrap();
    let (s, e) = f.reviewer.post(&format!("/api/approvals/{bid}/decision"), json!({"decision": "deny", "comment": "  "})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason_required")));
    let (s, d) =
        f.reviewer.post(&format!("/api/approvals/{bid}/decision"), json!({"decision": "deny", "comment": "Not during the sale"})).await;
    assert_eq!((s, d["status"].as_str(), d["go_ahead"].as_bool()), (StatusCode::OK, Some("denied"), Some(false)));

    // The requester cannot decide its own request, even as an admin.
    let admin_key = app.key(Role::Admin).await;
    let admin = Api { base: app.base.clone(), key: Some(admin_key), http: reqwest::Client::new() };
    let c = request(&admin, json!({"tool_id": "git_pr"})).await;
    let (s, e) = admin.post(&format!("/api/approvals/{}/decision", c["id"]), json!({"decision": "approve"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("self_approval")));

    // Roles: viewers and planners do not decide, reviewers do not request; no key → 401.
    for role in [Role::Viewer, Role::Planner, Role::Automation] {
        let (s, _) = app.api(role).await.post(&format!("/api/approvals/{}/decision", c["id"]), json!({"decision": "approve"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role:?} must not decide");
    }
    let (s, _) = f.reviewer.post("/api/approvals", json!({"tool_id": "git_pr"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "reviewers do not request");
    let (s, _) = app.anonymous().post("/api/approvals", json!({"tool_id": "git_pr"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.anonymous().get(&format!("/api/approvals/{}", c["id"])).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The requester may cancel; others may not.
    let (s, e) = f.reviewer.post(&format!("/api/approvals/{}/cancel", c["id"]), json!({})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_requester")));
    let (s, x) = admin.post(&format!("/api/approvals/{}/cancel", c["id"]), json!({"reason": "not needed"})).await;
    assert_eq!((s, x["status"].as_str()), (StatusCode::OK, Some("cancelled")));
}

async fn concurrent_decisions_one_winner(app: TestApp) {
    let f = setup(&app).await;
    let a = request(&f.automation, json!({"tool_id": "git_pr"})).await;
    let id = a["id"].as_i64().unwrap();
    let mut reviewers = vec![];
    for _ in 0..10 {
        reviewers.push(app.api(Role::Reviewer).await);
    }
    // 50 decisions from 10 reviewers at once: exactly one wins, the rest are refused.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let r = reviewers[i % 10].clone();
            let body = if i % 3 == 0 { json!({"decision": "deny", "comment": format!("no {i}")}) } else { json!({"decision": "approve"}) };
            tokio::spawn(async move { r.post(&format!("/api/approvals/{id}/decision"), body).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (s, body) = t.await.unwrap();
        match s {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert!(["already_decided", "already_voted"].contains(&body["error"].as_str().unwrap()), "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one decision wins");
    let (_, d) = f.reviewer.get(&format!("/api/approvals/{id}")).await;
    let decisions = d["log"].as_array().unwrap().iter().filter(|e| e["kind"] == "approve" || e["kind"] == "deny").count();
    assert_eq!(decisions, 1, "one decision in the log: {d}");
    assert!(["approved", "denied"].contains(&d["status"].as_str().unwrap()));
}

async fn expiry_and_bad_input(app: TestApp) {
    let f = setup(&app).await;
    let a = request(&f.automation, json!({"tool_id": "git_pr", "expires_in_s": 5})).await;
    let id = a["id"].as_i64().unwrap();
    // Nobody decides: the longest long-poll returns with the expiry (deny by default), woken by
    // the deadline rather than by its own timeout.
    let waiter = f.automation.clone();
    let (s, w) = woken(tokio::spawn(async move { waiter.get(&format!("/api/approvals/{id}/wait?timeout_s=300")).await })).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((w["status"].as_str(), w["go_ahead"].as_bool()), (Some("expired"), Some(false)), "{w}");
    assert_eq!(w["log"].as_array().unwrap().last().unwrap()["actor"], "system");
    let (s, e) = f.reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_decided")), "late decisions are refused");

    // A wait that times out answers `pending`.
    let b = request(&f.automation, json!({"tool_id": "git_pr"})).await;
    let (s, w) = f.automation.get(&format!("/api/approvals/{}/wait?timeout_s=1", b["id"])).await;
    assert_eq!((s, w["status"].as_str()), (StatusCode::OK, Some("pending")));

    // Bad input: each with its status and code, and no request stored.
    let before = app.count("approvals").await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "missing_field"),
        (json!({"tool_id": "teleport"}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_tool"),
        (json!({"tool_id": "git_pr", "backlog_item_id": 999999}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_item"),
        (json!({"tool_id": "git_pr", "plan_id": 999999}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_plan"),
        (json!({"tool_id": "git_pr", "expires_in_s": 1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (json!({"tool_id": "git_pr", "expires_in_s": 99999999}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (json!({"tool_id": "git_pr", "args": {"blob": "x".repeat(70_000)}}), StatusCode::UNPROCESSABLE_ENTITY, "too_large"),
        (json!({"tool_id": "git_pr", "sneaky": true}), StatusCode::BAD_REQUEST, "invalid_body"),
        (json!({"tool_id": 5}), StatusCode::BAD_REQUEST, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (s, e) = f.automation.post("/api/approvals", body.clone()).await;
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{body}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| m.len() > 10), "a sentence saying what to fix: {e}");
    }
    let (s, e) = f.automation.post_raw("/api/approvals", "application/json", "{\"tool_id\": ").await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    assert_eq!(app.count("approvals").await, before, "nothing stored");

    let (s, e) = f.reviewer.post(&format!("/api/approvals/{}/decision", b["id"]), json!({"decision": "maybe"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")));
    let (s, _) = f.reviewer.post("/api/approvals/999999/decision", json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = f.reviewer.get("/api/approvals?status=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = f.reviewer.get(&format!("/api/approvals/{}/wait?timeout_s=100000", b["id"])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// A request whose deadline passed while no server ran is expired by the next server's start-up
/// sweep, with no reader or waiter asking (checked in the table, not through the API, because
/// reading an overdue request also writes its expiry).
async fn expiry_after_restart(app: TestApp) {
    let f = setup(&app).await;
    let a = request(&f.automation, json!({"tool_id": "git_pr", "expires_in_s": 3600})).await;
    let id = a["id"].as_i64().unwrap();
    // "While the server was down" the deadline passed.
    app.sql(format!("update approvals set expires_at = {} where id = {id}", nofx::storage::now_ms() - 60_000)).await;
    let options = leptos::config::LeptosOptions::builder().output_name("nofx").build();
    let config = nofx::config::Config::for_tests(app.database_url.clone(), nofx::flags::FeatureFlags::default());
    let _restarted = nofx::server::prepare(config, options).await.unwrap();
    let status = || async {
        use sqlx::Row;
        let row = sqlx::query("select status from approvals where id = $1").bind(id).fetch_one(app.db.reader()).await.unwrap();
        row.try_get::<String, _>("status").unwrap()
    };
    for _ in 0..100 {
        if status().await == "expired" {
            let (_, d) = f.reviewer.get(&format!("/api/approvals/{id}")).await;
            assert_eq!(
                (d["go_ahead"].as_bool(), d["log"].as_array().unwrap().last().unwrap()["kind"].as_str()),
                (Some(false), Some("expired"))
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the restarted server did not expire the overdue request");
}

on_both_databases!(
    expiry_after_restart,
    request_and_decide,
    quorum_deny_and_self_approval,
    concurrent_decisions_one_winner,
    expiry_and_bad_input
);
