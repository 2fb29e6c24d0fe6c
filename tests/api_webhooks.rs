//! Webhooks over real HTTP, on SQLite and PostgreSQL: Zig Todo's signed decisions in (good, bad,
//! stale, replayed, unconfigured), and signed, retried deliveries out to a local receiver.

mod common;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::TestApp;
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
    let (s, t) = admin.post("/api/tools", json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "close"})).await;
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
    common::into_json(res).await
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
    let (s, _) = reqwest::Client::new().post(app.url("/api/webhooks/zig-todo")).body(body.clone()).send().await.map(|r| (r.status(), ())).unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED, "unsigned");
    assert_eq!(log_rows().await, before, "nothing recorded");
    assert_eq!(app.count("webhook_inbound").await, 0);

    // Signed and fresh: decided, as zig-todo/dana.
    let (s, a) = deliver(&app, &secret, "msg_ok", now, &body).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!((a["status"].as_str(), a["decided_by"].as_str()), (Some("approved"), Some("key:zig-todo/dana")));
    // The same delivery again is a replay: 401, nothing new in the log.
    let after = log_rows().await;
    let (s, e) = deliver(&app, &secret, "msg_ok", now, &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(e["message"].as_str().unwrap().contains("delivered before"), "{e}");
    assert_eq!(log_rows().await, after);
    // Valid signature, bad content: 400 with the reason.
    let (s, e) = deliver(&app, &secret, "msg_bad", now, r#"{"approval_id": 1, "decision": "perhaps", "reviewer": "dana"}"#).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")));

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
                if k.len() == 1 { AxumStatus::INTERNAL_SERVER_ERROR } else { AxumStatus::NO_CONTENT }
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
    // The first attempt gets a 500; the retry succeeds. Both carry the same webhook-id.
    let mut delivered = vec![];
    for _ in 0..100 {
        let (_, d) = app.api(Role::Viewer).await.get("/api/webhooks/deliveries").await;
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
        assert_eq!(verify(&secret, h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"), body, now), Ok(()), "signed with the configured secret");
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
