//! Health, OpenAPI, JSON errors for unknown routes and methods, compression, hostile strings
//! rendered escaped, and forms without JavaScript.

use crate::common::TestApp;
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::json;

async fn health_openapi_and_errors(app: TestApp) {
    let res = reqwest::get(app.url("/api/health")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let doc: serde_json::Value = reqwest::get(app.url("/api/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/items", "/items/{id}", "/packs", "/tools", "/tool-metrics", "/health", "/me"] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }
    assert!(doc["components"]["schemas"].get("ItemInput").is_some());

    let api = app.api(Role::Viewer).await;
    let (s, err) = api.get("/api/nothing-here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["error"], "not_found");
    let (s, err) = api.delete("/api/items").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(err["error"], "method_not_allowed");
    let (s, err) = api.get("/api/items/abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_path");

    // Responses are compressed for clients that ask.
    let res = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(app.url("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
}

async fn hostile_strings_are_escaped(app: TestApp) {
    let api = app.api(Role::Admin).await;
    let (_, pack) = api.post("/api/packs", json!({"name": "<b>Pack</b>"})).await;
    let evil = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let (s, item) = api.post("/api/items", json!({"pack_id": pack["id"], "title": evil, "description": "\"quoted\" & <i>tags</i>"})).await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["title"], evil, "stored verbatim");
    let browser = app.browser(Role::Viewer).await;
    for path in ["/backlog".to_string(), format!("/backlog/{}", item["id"])] {
        let (s, html) = browser.page(&path).await;
        assert_eq!(s, StatusCode::OK);
        assert!(!html.contains("<script>alert"), "{path} renders the title escaped");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(html.contains("&lt;script&gt;alert"), "{path} shows the text");
    }
    let (_, html) = browser.page(&format!("/backlog/{}", item["id"])).await;
    assert!(html.contains("&lt;i&gt;tags&lt;/i&gt;"));
    assert!(!html.contains("<b>Pack</b>"));
}

async fn forms_without_javascript(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    admin.post("/api/tools", json!({"id": "codegen"})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "NoJS"})).await;
    let pack_id = pack["id"].to_string();
    let browser = app.browser(Role::Planner).await;

    // A valid plain POST redirects (302) to the new item's page.
    let (s, location) = browser
        .submit_plain(
            "save_item",
            "/backlog/new",
            &[
                ("csrf", &browser.csrf),
                ("pack_id", &pack_id),
                ("title", "Plain form"),
                ("risk", "medium"),
                ("status", "todo"),
                ("tools", "codegen"),
                ("labels", "pii"),
                ("estimate_minutes", "45"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.starts_with("/backlog/"), "{location}");
    let (_, html) = browser.page(&location).await;
    assert!(html.contains("Plain form") && html.contains("codegen"));

    // An invalid one comes back to the form with the message in place.
    let (s, location) = browser
        .submit_plain(
            "save_item",
            "/backlog/new",
            &[
                ("csrf", &browser.csrf),
                ("pack_id", &pack_id),
                ("title", ""),
                ("risk", "medium"),
                ("status", "todo"),
                ("tools", "warp_drive"),
                ("estimate_minutes", "1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.starts_with("/backlog/new?form_error="), "{location}");
    let (_, html) = browser.page(&location).await;
    assert!(html.contains("data-testid=\"form-error\""), "the error is shown on the form page");
    assert!(html.contains("must not be blank"), "{html}");
    assert_eq!(app.count("backlog_items").await, 1);
}

/// A stored value that does not parse is an error (500, logged with its table, row and column),
/// never silently replaced by a default (a plan shown as `blocked`, a gate as `structural`).
async fn corrupt_rows_are_errors_not_guesses(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    admin.post("/api/tools", json!({"id": "git_pr", "sensitive": true})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Rows"})).await;
    let (_, item) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": "R", "tools": ["git_pr"]})).await;
    let (s, plan) = app.api(Role::Automation).await.post("/api/auto-planner/plan", json!({"item_ids": [item["id"]]})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let (s, approval) = app.api(Role::Automation).await.post("/api/approvals", json!({"tool_id": "git_pr"})).await;
    assert_eq!(s, StatusCode::CREATED, "{approval}");
    let viewer = app.api(Role::Viewer).await;
    let plan_path = format!("/api/plans/{}", plan["id"]);
    let approval_path = format!("/api/approvals/{}", approval["id"]);
    for path in [plan_path.as_str(), "/api/plans", &format!("{plan_path}/evaluations"), approval_path.as_str()] {
        assert_eq!(viewer.get(path).await.0, StatusCode::OK, "{path} reads fine before");
    }
    for sql in [
        format!("update plans set status = 'bogus' where id = {}", plan["id"]),
        // A verdict's gate, as the evaluations view reads it out of the stored plan.
        format!("update plans set graph = replace(graph, '\"gate\":\"risk\"', '\"gate\":\"mystery\"') where id = {}", plan["id"]),
        format!("update approvals set status = 'limbo' where id = {}", approval["id"]),
    ] {
        app.sql(sql).await;
    }
    for path in [plan_path.as_str(), "/api/plans", &format!("{plan_path}/evaluations"), approval_path.as_str()] {
        let (s, e) = viewer.get(path).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")), "{path}: {e}");
        assert!(!e.to_string().contains("bogus") && !e.to_string().contains("limbo"), "stored values stay in the log: {e}");
    }
}

/// One write path: the pool queries run on refuses to write, so a store function that wrote
/// around `Db::write` (and, on SQLite, around the group-commit writer) fails instead.
async fn only_the_writer_writes(app: TestApp) {
    let through_reader = sqlx::query("insert into packs (slug, name, description, created_at, updated_at) values ('x', 'X', '', 0, 0)")
        .execute(app.db.reader())
        .await;
    let err = through_reader.expect_err("the read pool refused the insert").to_string();
    assert!(err.contains("readonly") || err.contains("read-only") || err.contains("read only"), "{err}");
    assert_eq!(app.count("packs").await, 0, "nothing was written");
    app.sql("insert into packs (slug, name, description, created_at, updated_at) values ('x', 'X', '', 0, 0)").await;
    assert_eq!(app.count("packs").await, 1, "the write path writes");
}

on_both_databases!(
    health_openapi_and_errors,
    hostile_strings_are_escaped,
    forms_without_javascript,
    corrupt_rows_are_errors_not_guesses,
    only_the_writer_writes
);
