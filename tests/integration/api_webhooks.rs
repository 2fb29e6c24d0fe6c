//! Webhooks over real HTTP, on SQLite and PostgreSQL: Zig Todo's signed decisions in (good, bad,
//! stale, replayed, unconfigured), and signed, retried deliveries out to a local receiver.

use crate::common::TestApp;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use nofx::auth::model::Role;
use nofx::flags::FeatureFlags;
use nofx::storage::Backend;
use nofx::webhooks::signature::{verify, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FLAGS: FeatureFlags = FeatureFlags { auto_planner: true, planner_execute: true };

async fn tool_and_request(app: &TestApp) -> i64 {
    let admin = app.api(Role::Admin).await;
    let (s, t) = admin
        .post("/api/tools", json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "close"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, a) = app.api(Role::Automation).await.post("/api/approvals", json!({"tool_id": "git_pr", "args": {"branch": "x"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_i64().unwrap()
}

async fn deliver(app: &TestApp, secret: &Secret, id: &str, ts: i64, body: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/api/webhooks/zig-todo"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", secret.sign(id, ts, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    crate::common::into_json(res).await
}

async fn inbound_decisions(backend: Backend) {
    let secret_text = Secret::generate();
    let secret = Secret::parse(&secret_text).unwrap();
    let Some(app) = TestApp::spawn_configured(backend, FLAGS, |c| c.zig_todo_secret = Some(secret_text.clone())).await else { return };
    let id = tool_and_request(&app).await;
    let now = nofx::storage::now_ms() / 1000;
    let body = json!({"approval_id": id, "decision": "approve", "comment": "from Zig Todo", "reviewer": "dana"}).to_string();
    let log_rows = || app.count("approval_log");

    // Refused, with nothing recorded: wrong secret, tampered body, stale and future timestamps.
    let before = log_rows().await;
    let wrong = Secret::parse(&Secret::generate()).unwrap();
    let (s, e) = deliver(&app, &wrong, "msg_1", now, &body).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{e}");
    let tampered = reqwest::Client::new()
        .post(app.url("/api/webhooks/zig-todo"))
        .header("webhook-id", "msg_2")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", secret.sign("msg_2", now, body.as_bytes()))
        .body(body.replace("approve", "deny"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    let (s, e) = deliver(&app, &secret, "msg_3", now - 400, &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(e["message"].as_str().unwrap().contains("5 minutes"), "{e}");
    let (s, _) = deliver(&app, &secret, "msg_4", now + 400, &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) =
        reqwest::Client::new().post(app.url("/api/webhooks/zig-todo")).body(body.clone()).send().await.map(|r| (r.status(), ())).unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "unsigned");
    assert_eq!(log_rows().await, before, "nothing recorded");
    assert_eq!(app.count("webhook_inbound").await, 0);

    // The secret alone cannot invent reviewers: `reviewer` must be a NOFX user who decides.
    nofx::auth::service::create_user(&app.db, "dana", "dana-password", Role::Reviewer).await.unwrap();
    nofx::auth::service::create_user(&app.db, "erin", "erin-password", Role::Admin).await.unwrap();
    nofx::auth::service::create_user(&app.db, "pat", "pat-password", Role::Planner).await.unwrap();
    for (n, who) in ["mallory", "pat"].into_iter().enumerate() {
        let (s, e) = deliver(&app, &secret, &format!("msg_who_{n}"), now, &body.replace("dana", who)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_reviewer")), "{who}: {e}");
    }
    assert_eq!(log_rows().await, before, "nothing recorded");
    assert_eq!(app.count("webhook_inbound").await, 0, "a refused delivery's id is not burnt");

    // A refused decision does not burn its `webhook-id`: the sender's retry with the same id
    // (as Standard Webhooks requires) is heard once the content is right.
    let deny_blank = json!({"approval_id": id, "decision": "deny", "comment": " ", "reviewer": "dana"}).to_string();
    let (s, e) = deliver(&app, &secret, "msg_retry", now, &deny_blank).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason_required")), "{e}");
    let unknown = json!({"approval_id": 999_999, "decision": "approve", "reviewer": "dana"}).to_string();
    let (s, _) = deliver(&app, &secret, "msg_retry", now, &unknown).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.count("webhook_inbound").await, 0);

    // Signed, fresh, a known reviewer: decided as that user, through Zig Todo.
    let (s, a) = deliver(&app, &secret, "msg_retry", now, &body).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!((a["status"].as_str(), a["decided_by"].as_str()), (Some("approved"), Some("user:dana")));
    let (_, detail) = app.api(Role::Viewer).await.get(&format!("/api/approvals/{id}")).await;
    let last = detail["log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["kind"].as_str(), last["via"].as_str()),
        (Some("user:dana"), Some("approve"), Some("zig-todo")),
        "{detail}"
    );
    let (_, page) = app.browser(Role::Viewer).await.page(&format!("/approvals/{id}")).await;
    assert!(page.contains("data-testid=\"via\"") && page.contains(" via Zig Todo"), "the log says which door the decision came through");
    // The same delivery again is a replay: 401, nothing new in the log.
    let after = log_rows().await;
    let (s, e) = deliver(&app, &secret, "msg_retry", now, &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(e["message"].as_str().unwrap().contains("delivered before"), "{e}");
    assert_eq!(log_rows().await, after);
    assert_eq!(app.count("webhook_inbound").await, 1);
    // Valid signature, bad content: 400 with the reason.
    let (s, e) = deliver(&app, &secret, "msg_bad", now, r#"{"approval_id": 1, "decision": "perhaps", "reviewer": "dana"}"#).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")));

    // A quorum of two counts distinct known reviewers, whichever door they use.
    let admin = app.api(Role::Admin).await;
    let (s, t) = admin
        .post(
            "/api/tools",
            json!({"id": "deploy:prod", "sensitive": true, "required_approvals": 2, "mutating": true, "rollback": "redeploy"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (_, two) = app.api(Role::Automation).await.post("/api/approvals", json!({"tool_id": "deploy:prod"})).await;
    let two_id = two["id"].as_i64().unwrap();
    let vote = |who: &str| json!({"approval_id": two_id, "decision": "approve", "reviewer": who}).to_string();
    let (s, a) = deliver(&app, &secret, "msg_q1", now, &vote("dana")).await;
    assert_eq!((s, a["status"].as_str()), (StatusCode::OK, Some("pending")), "{a}");
    let (s, e) = deliver(&app, &secret, "msg_q2", now, &vote("dana")).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_voted")), "the same reviewer twice is one vote: {e}");
    let dana_browser = app.sign_in("dana", "dana-password").await;
    let two_text = two_id.to_string();
    let (s, e, _) = dana_browser.call("decide_approval", &[("csrf", &dana_browser.csrf), ("id", &two_text), ("decision", "approve")]).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("already_voted")), "nor through the browser: {e}");
    let (s, a) = deliver(&app, &secret, "msg_q2", now, &vote("erin")).await;
    assert_eq!((s, a["status"].as_str()), (StatusCode::OK, Some("approved")), "the refused id is free for the retry: {a}");
    assert_eq!(a["approved_by"], json!(["user:dana", "user:erin"]));

    // A timestamp that would wrap `now - ts` around is stale, not fresh.
    for far in [i64::MIN, now - i64::MAX] {
        let (s, e) = deliver(&app, &secret, "msg_far", far, &vote("erin")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{far}: {e}");
        assert!(e["message"].as_str().unwrap().contains("5 minutes"), "{e}");
    }

    // A server without a secret does not accept any.
    let Some(plain) = TestApp::spawn_configured(backend, FLAGS, |_| {}).await else { return };
    let (s, e) = deliver(&plain, &secret, "msg_x", now, &body).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("webhooks_not_configured")));
}

/// A local receiver: answers 500 to the first delivery and 200 afterwards, keeping each one.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, Bytes)>>>) {
    let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let mut k = kept.lock().unwrap();
                k.push((headers, body));
                if k.len() == 1 {
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

async fn outbound_deliveries(backend: Backend) {
    let (url, seen) = receiver().await;
    let secret_text = Secret::generate();
    let secret = Secret::parse(&secret_text).unwrap();
    let Some(app) = TestApp::spawn_configured(backend, FLAGS, |c| {
        c.webhook_urls = vec![url.clone()];
        c.webhook_secret = Some(secret_text.clone());
        c.webhook_retry_base_ms = 50;
    })
    .await
    else {
        return;
    };
    let id = tool_and_request(&app).await;
    // Targets and their errors are for operators only.
    for role in [Role::Viewer, Role::Reviewer, Role::Automation, Role::Planner] {
        let (s, e) = app.api(role).await.get("/api/webhooks/deliveries").await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{role}: {e}");
    }
    // The first attempt gets a 500; the retry succeeds. Both carry the same webhook-id.
    let mut delivered = vec![];
    for _ in 0..100 {
        let (_, d) = app.api(Role::Admin).await.get("/api/webhooks/deliveries").await;
        delivered = d.as_array().unwrap().clone();
        if delivered.iter().any(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = delivered.iter().find(|d| d["event_kind"] == "approval.requested").expect("a delivery row");
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64(), d["last_status"].as_i64()), (Some("delivered"), Some(2), Some(204)), "{d}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let now = nofx::storage::now_ms() / 1000;
    for (headers, body) in &got {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h("webhook-id"), d["webhook_id"].as_str(), "the same id on every retry");
        assert_eq!(
            verify(&secret, h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"), body, now),
            Ok(()),
            "signed with the configured secret"
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!((v["type"].as_str(), v["data"]["approval_id"].as_i64()), (Some("approval.requested"), Some(id)));
    }
    // Deciding sends approval.decided too.
    let (s, _) = app.api(Role::Reviewer).await.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..100 {
        if seen.lock().unwrap().iter().any(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["type"] == "approval.decided") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("approval.decided was not delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sqlite() {
    inbound_decisions(Backend::Sqlite).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_postgres() {
    inbound_decisions(Backend::Postgres).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_sqlite() {
    outbound_deliveries(Backend::Sqlite).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_postgres() {
    outbound_deliveries(Backend::Postgres).await;
}
