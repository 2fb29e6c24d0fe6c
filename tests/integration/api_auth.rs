//! Authentication and roles over real HTTP: API keys, the role matrix, browser sessions, CSRF.

use crate::common::TestApp;
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::json;

async fn api_key_matrix(app: TestApp) {
    // No key, a malformed header, an unknown key: 401 with a sentence and WWW-Authenticate.
    let res = reqwest::get(app.url("/api/items")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("Authorization: Bearer"));
    let client = reqwest::Client::new();
    let res = client.get(app.url("/api/items")).header("authorization", "Basic YTpi").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client.get(app.url("/api/items")).bearer_auth("nofx_notarealkey").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Everyone but a worker reads (a worker key only runs steps); writes follow the role matrix.
    let admin = app.api(Role::Admin).await;
    admin.post("/api/tools", json!({"id": "codegen"})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Matrix"})).await;
    for role in Role::ALL {
        let api = app.api(role).await;
        let (s, _) = api.get("/api/items").await;
        let reads = if role == Role::Worker { StatusCode::FORBIDDEN } else { StatusCode::OK };
        assert_eq!(s, reads, "{role} reads");
        let (s, body) = api.post("/api/items", json!({"pack_id": pack["id"], "title": format!("by {role}")})).await;
        let may_edit = matches!(role, Role::Planner | Role::Automation | Role::Admin);
        if may_edit {
            assert_eq!(s, StatusCode::CREATED, "{role} edits the backlog: {body}");
        } else {
            assert_eq!(s, StatusCode::FORBIDDEN, "{role} may not edit the backlog");
            assert_eq!(body["error"], "forbidden");
            assert!(body["message"].as_str().unwrap().contains(role.as_str()), "{body}");
        }
        let (s, _) = api.post("/api/tool-metrics", json!({"tool_id": "codegen", "duration_ms": 10})).await;
        assert_eq!(s == StatusCode::CREATED, matches!(role, Role::Automation | Role::Admin), "{role} records metrics");
        let (s, _) = api.patch("/api/tools/codegen", json!({"description": "x"})).await;
        assert_eq!(s == StatusCode::OK, role == Role::Admin, "{role} manages tools");
    }
    let rows = app.count("backlog_items").await;
    assert_eq!(rows, 3, "only the three allowed roles wrote");

    let (s, me) = app.api(Role::Reviewer).await.get("/api/me").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "reviewer");
    assert!(me["identity"].as_str().unwrap().starts_with("key:reviewer-"));
    assert_eq!(me["flags"]["auto_planner"], true);
}

async fn browser_session_and_csrf(app: TestApp) {
    // Signed out: pages send the browser to the login page, keeping where it wanted to go.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = plain.get(app.url("/backlog")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/login?next=/backlog");

    // Wrong password: 401 and no session.
    let (s, body) = crate::common::into_json(
        plain
            .post(app.url("/_fn/login"))
            .header("accept", "application/json")
            .form(&[("username", "nobody"), ("password", "x")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("do not match"), "{body}");
    assert_eq!(app.count("sessions").await, 0);

    let browser = app.browser(Role::Planner).await;
    let (s, html) = browser.page("/backlog").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&browser.username), "the header names the user");

    let admin = app.api(Role::Admin).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "UI"})).await;
    let pack_id = pack["id"].to_string();

    // A form that cannot be decoded is the client's mistake: 400 with what is wrong, not 500.
    let (s, err, _) =
        browser.call("decide_approval", &[("csrf", &browser.csrf), ("id", "not-a-number"), ("decision", "approve"), ("comment", "")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_form");
    assert!(err["message"].as_str().unwrap().contains("could not be read"), "{err}");
    let (s, err, _) = browser.call("save_item", &[("title", "no csrf, no pack")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["message"].as_str().unwrap().contains("missing field"), "{err}");
    assert_eq!(app.count("backlog_items").await, 0);

    // Without the CSRF token, or with a wrong one, nothing is written.
    let (s, err, _) =
        browser.call("save_item", &[("csrf", "forged"), ("pack_id", &pack_id), ("title", "x"), ("risk", "low"), ("status", "todo")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "csrf_failed");
    // A cross-site Origin is refused even with the right token.
    let res = browser
        .http
        .post(app.url("/_fn/save_item"))
        .header("accept", "application/json")
        .header("origin", "https://evil.example")
        .form(&[("csrf", browser.csrf.as_str()), ("pack_id", &pack_id), ("title", "x"), ("risk", "low"), ("status", "todo")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("backlog_items").await, 0);

    // With it, the item is created and the browser is sent to its page.
    let (s, id, location) = browser
        .call(
            "save_item",
            &[
                ("csrf", &browser.csrf),
                ("pack_id", &pack_id),
                ("title", "From the browser"),
                ("risk", "low"),
                ("status", "todo"),
                ("tools", ""),
                ("estimate_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{id}");
    assert_eq!(location.as_deref(), Some(format!("/backlog/{id}").as_str()));

    // A viewer signed in cannot write through the UI door either.
    let viewer = app.browser(Role::Viewer).await;
    let (s, err, _) = viewer
        .call("save_item", &[("csrf", &viewer.csrf), ("pack_id", &pack_id), ("title", "nope"), ("risk", "low"), ("status", "todo")])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{err}");

    // Logging out ends the session server-side.
    let (s, _, _) = browser.call("logout", &[("csrf", &browser.csrf)]).await;
    assert!(s.is_success());
    let (_, session, _) = browser.call("get_session", &[]).await;
    assert_eq!(session, serde_json::Value::Null);
}

on_both_databases!(api_key_matrix, browser_session_and_csrf);
