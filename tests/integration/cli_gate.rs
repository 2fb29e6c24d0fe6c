//! `nofx gate` end to end: the real binary against the real server (SQLite): approved runs the
//! command with its exit code, denied does not run it and exits 3 with the reason.

use crate::common::TestApp;
use nofx::auth::model::Role;
use nofx::storage::Backend;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// Starts `nofx gate` in the background and returns it with the id of its pending request.
async fn gate(app: &TestApp, token: &str, marker: &std::path::Path, exit: i32) -> (tokio::process::Child, i64) {
    let before = app.count("approvals").await;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nofx"))
        .args(["gate", "--tool", "deploy:prod", "--args", r#"{"service":"api"}"#, "--url", &app.base, "--"])
        .args(["sh", "-c", &format!("echo ran > '{}'; exit {exit}", marker.display())])
        .env("NOFX_TOKEN", token)
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until its request exists.
    let reviewer = app.api(Role::Reviewer).await;
    for _ in 0..100 {
        if app.count("approvals").await > before {
            let (_, list) = reviewer.get("/api/approvals?status=pending&limit=1").await;
            return (child, list[0]["id"].as_i64().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nofx gate did not request an approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_runs_only_approved_commands() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let admin = app.api(Role::Admin).await;
    let (s, t) = admin
        .post(
            "/api/tools",
            json!({"id": "deploy:prod", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "roll back"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let token = app.key(Role::Automation).await;
    let reviewer = app.api(Role::Reviewer).await;
    let dir = tempfile::tempdir().unwrap();

    // Approved: the command runs, and its exit code is gate's exit code.
    let marker = dir.path().join("approved");
    let (child, id) = gate(&app, &token, &marker, 7).await;
    assert!(!marker.exists(), "nothing runs before the decision");
    let (s, d) = reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "approve", "comment": "go"})).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(marker.exists(), "the approved command ran: {stderr}");
    assert!(stderr.contains(&format!("/approvals/{id}")), "says where to approve: {stderr}");

    // Denied: the command does not run; exit 3 with the reason.
    let marker = dir.path().join("denied");
    let (child, id) = gate(&app, &token, &marker, 0).await;
    let (s, _) = reviewer.post(&format!("/api/approvals/{id}/decision"), json!({"decision": "deny", "comment": "not on a Friday"})).await;
    assert_eq!(s, StatusCode::OK);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!marker.exists(), "a denied command never runs");
    assert!(stderr.contains("not on a Friday"), "{stderr}");

    // A bad key: no request, exit 2 with the server's sentence.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_nofx"))
        .args(["gate", "--tool", "deploy:prod", "--url", &app.base, "--token", "nofx_wrong", "--", "true"])
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));
}
