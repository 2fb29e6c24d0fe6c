//! API keys over real HTTP and the real binary, on SQLite and PostgreSQL: listed without the
//! key, created with an expiry, revoked; a revoked or expired key is refused at once; audited.

use crate::common::binary::nofx;
use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::json;

async fn keys_are_listed_created_and_revoked(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let (s, created) = admin.post("/api/keys", json!({"name": "ci-deployer", "role": "automation", "expires_in_days": 30})).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("nofx_") && key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!((created["status"].as_str(), created["role"].as_str()), (Some("active"), Some("automation")));
    let expires = created["expires_at"].as_i64().unwrap();
    let days = (expires - nofx::storage::now_ms()) as f64 / 86_400_000.0;
    assert!((29.9..=30.0).contains(&days), "{days}");

    // It works, and its use is recorded.
    let ci = Api { base: app.base.clone(), key: Some(key.clone()), http: reqwest::Client::new() };
    let (s, _) = ci.get("/api/items").await;
    assert_eq!(s, StatusCode::OK);
    let (s, list) = admin.get("/api/keys").await;
    assert_eq!(s, StatusCode::OK);
    let text = list.to_string();
    assert!(!text.contains(&key) && !text.contains("key_hash"), "never the key: {text}");
    let row = list.as_array().unwrap().iter().find(|k| k["name"] == "ci-deployer").unwrap().clone();
    assert!(row["last_used_at"].as_i64().is_some(), "{row}");
    assert_eq!(row["expires_at"].as_i64(), Some(expires));

    // Only admins manage keys.
    for role in [Role::Planner, Role::Auditor, Role::Automation] {
        let (s, _) = app.api(role).await.get("/api/keys").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}");
    }
    let (s, _) = ci.post("/api/keys", json!({"name": "sneaky", "role": "admin"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "automation cannot mint keys");

    // Bad input.
    for (body, code) in [
        (json!({"name": "x", "role": "viewer"}), "invalid_key_name"),
        (json!({"name": "ok-name", "role": "viewer", "expires_in_days": 0}), "invalid_field"),
        (json!({"name": "ok-name", "role": "viewer", "expires_in_days": 100000}), "invalid_field"),
        (json!({"name": "ci-deployer", "role": "viewer"}), "key_name_taken"),
        (json!({"name": "ok-name", "role": "root"}), "invalid_body"),
        (json!({"name": "ok-name"}), "invalid_body"),
    ] {
        let (s, e) = admin.post("/api/keys", body.clone()).await;
        assert_eq!(e["error"], code, "{body}: {s} {e}");
    }

    // Revoked: refused at once.
    let id = created["id"].as_i64().unwrap();
    let (s, r) = admin.delete(&format!("/api/keys/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "revoked");
    let (s, e) = ci.get("/api/items").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    let (s, e) = admin.delete(&format!("/api/keys/{id}")).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_revoked")), "a replayed revoke changes nothing");
    let (s, _) = admin.delete("/api/keys/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.api(Role::Planner).await.delete(&format!("/api/keys/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Expired: refused at once (its expiry staged in the past).
    let (_, other) = admin.post("/api/keys", json!({"name": "short-lived", "role": "viewer", "expires_in_days": 1})).await;
    let short = Api { base: app.base.clone(), key: other["key"].as_str().map(String::from), http: reqwest::Client::new() };
    let (s, _) = short.get("/api/items").await;
    assert_eq!(s, StatusCode::OK);
    app.sql(format!("update api_keys set expires_at = {} where id = {}", nofx::storage::now_ms() - 1, other["id"])).await;
    let (s, _) = short.get("/api/items").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, list) = admin.get("/api/keys").await;
    let row = list.as_array().unwrap().iter().find(|k| k["name"] == "short-lived").unwrap().clone();
    assert_eq!(row["status"], "expired");

    // Audited, without the key.
    let (_, page) = app.api(Role::Auditor).await.get("/api/audit?action=api_key.*&limit=500").await;
    let records = page["records"].as_array().unwrap();
    assert!(records.iter().any(|r| r["action"] == "api_key.revoked" && r["subject"] == format!("api_key:{id}")));
    let made = records.iter().find(|r| r["action"] == "api_key.created" && r["fields"]["name"] == "ci-deployer").unwrap();
    assert_eq!((made["door"].as_str(), made["role"].as_str()), (Some("api"), Some("admin")));
    assert!(!page.to_string().contains(&key));
}

/// `nofx api-key list` and `nofx api-key revoke` at the command line.
async fn the_command_line_lists_and_revokes(app: TestApp) {
    let out = nofx(&app.database_url)
        .args(["api-key", "create", "--name", "nightly", "--role", "automation", "--expires-in-days", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(stdout.contains("expires 20"), "{stdout}");
    let nightly = Api { base: app.base.clone(), key: Some(key.clone()), http: reqwest::Client::new() };
    assert_eq!(nightly.get("/api/items").await.0, StatusCode::OK);

    let out = nofx(&app.database_url).args(["api-key", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    let line = list.lines().find(|l| l.contains("nightly")).expect("listed");
    assert!(line.contains("automation") && line.contains("active") && !list.contains(&key), "{list}");

    let out = nofx(&app.database_url).args(["api-key", "revoke", "--name", "nightly"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(nightly.get("/api/items").await.0, StatusCode::UNAUTHORIZED);
    let out = nofx(&app.database_url).args(["api-key", "revoke", "--name", "nightly"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked already"));
    let out = nofx(&app.database_url).args(["api-key", "revoke", "--name", "nobody"]).output().unwrap();
    assert!(!out.status.success());
    let (_, page) = app.api(Role::Auditor).await.get("/api/audit?action=api_key.revoked").await;
    assert_eq!(page["records"][0]["door"], "cli");
}

on_both_databases!(keys_are_listed_created_and_revoked, the_command_line_lists_and_revokes);
