//! Authorisation lives in the services: a caller whose role lacks the permission is refused
//! through every door — the JSON API, the browser's server functions, the inbound webhook, and
//! a direct service call (the CLI's door) — and nothing is written. On SQLite and PostgreSQL.

use crate::common::TestApp;
use nofx::auth::model::{Principal, PrincipalKind, Role};
use reqwest::StatusCode;
use serde_json::json;

fn principal(role: Role) -> Principal {
    Principal { kind: PrincipalKind::ApiKey, id: 0, name: format!("cli-{role}"), role }
}

async fn every_door_refuses(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    admin.post("/api/tools", json!({"id": "git_pr", "sensitive": true, "required_approvals": 1})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Doors"})).await;
    let (_, item) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": "Door", "tools": ["git_pr"]})).await;
    let (s, approval) = app.api(Role::Automation).await.post("/api/approvals", json!({"tool_id": "git_pr"})).await;
    assert_eq!(s, StatusCode::CREATED, "{approval}");
    let approval_id = approval["id"].as_i64().unwrap();
    let id_text = approval_id.to_string();
    let pack_text = pack["id"].to_string();
    let item_text = item["id"].to_string();
    let state = &app.state;
    let counts = || async {
        (app.count("approvals").await, app.count("approval_log").await, app.count("plans").await, app.count("backlog_items").await)
    };
    let before = counts().await;

    // Approvals: requesting needs `request approvals`; deciding needs `decide approvals`.
    let (s, e) = app.api(Role::Viewer).await.post("/api/approvals", json!({"tool_id": "git_pr"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "API: {e}");
    let req = serde_json::from_value(json!({"tool_id": "git_pr"})).unwrap();
    let e = nofx::approvals::service::request(state, &principal(Role::Viewer), &req).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"), "service: {e:?}");

    let (s, e) = app.api(Role::Planner).await.post(&format!("/api/approvals/{approval_id}/decision"), json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "API: {e}");
    let planner = app.browser(Role::Planner).await;
    let (s, e, _) = planner.call("decide_approval", &[("csrf", &planner.csrf), ("id", &id_text), ("decision", "approve")]).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "browser: {e}");
    let e =
        nofx::approvals::service::decide_as(state, &principal(Role::Planner), approval_id, nofx::approvals::model::Decision::Approve, "")
            .await
            .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"), "service: {e:?}");
    // The webhook door carries a user's decision: a planner's is refused there too.
    nofx::auth::service::create_user(&app.db, "pia", "pia-password", Role::Planner).await.unwrap();
    let who = nofx::auth::service::user_principal(&app.db, "pia").await.unwrap().unwrap();
    let delivery = nofx::approvals::model::Delivery { via: nofx::approvals::model::Via::ZigTodo, webhook_id: "msg_pia".into() };
    let e = nofx::approvals::service::decide_delivered(state, &who, approval_id, nofx::approvals::model::Decision::Approve, "", delivery)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"), "webhook's service call: {e:?}");

    // Planning needs `create plans`.
    let (s, e) = app.api(Role::Reviewer).await.post("/api/auto-planner/plan", json!({"item_ids": [item["id"]]})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "API: {e}");
    let reviewer = app.browser(Role::Reviewer).await;
    let (s, e, _) = reviewer.call("plan_items", &[("csrf", &reviewer.csrf), ("item_ids[0]", &item_text)]).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "browser: {e}");
    let e = nofx::planner::service::plan_json(
        state,
        &principal(Role::Reviewer),
        b"{\"item_ids\": [1]}",
        Some("k-1"),
        nofx::planner::service::AnswerForm::Full,
    )
    .await
    .err()
    .unwrap();
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"), "service: {e:?}");
    assert_eq!(app.count("idempotency_keys").await, 0, "a refused caller claims no idempotency key");

    // The backlog needs `edit the backlog`.
    let (s, e) = app.api(Role::Reviewer).await.post("/api/items", json!({"pack_id": pack["id"], "title": "no"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "API: {e}");
    let viewer = app.browser(Role::Viewer).await;
    let (s, e, _) = viewer
        .call("save_item", &[("csrf", &viewer.csrf), ("pack_id", &pack_text), ("title", "no"), ("risk", "low"), ("status", "todo")])
        .await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "browser: {e}");
    let input = serde_json::from_value(json!({"pack_id": pack["id"], "title": "no"})).unwrap();
    let e = nofx::backlog::service::create_item(&app.db, &principal(Role::Viewer), &input).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"), "service: {e:?}");

    // The webhook delivery log is the admins'.
    let e = nofx::webhooks::outbound::deliveries(state, &principal(Role::Reviewer), 10).await.unwrap_err();
    assert_eq!(e.status, 403, "service: {e:?}");

    assert_eq!(counts().await, before, "nothing written by any refused door");
}

on_both_databases!(every_door_refuses);

/// Pages decide what to offer from the capabilities the server computes (`SessionInfo::can`),
/// never by comparing role names: a page that matched `"admin"` would drift from the services'
/// permission table without any test noticing.
#[test]
fn pages_never_match_role_names() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n == "ui.rs") || path.components().any(|c| c.as_os_str() == "ui") {
                out.push(path);
            }
        }
    }
    let mut pages = vec![];
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut pages);
    assert!(pages.len() >= 5, "the walk found the page modules: {pages:?}");
    for path in pages {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let compares_role = code.contains("role.as_str()") && (code.contains("matches!") || code.contains("=="));
            let names_role =
                ["Role::Admin", "Role::Planner", "Role::Reviewer", "Role::Automation", "Role::Viewer"].iter().any(|r| code.contains(r));
            assert!(!compares_role && !names_role, "{}:{}: a page decides by role name: {line}", path.display(), n + 1);
        }
    }
}
