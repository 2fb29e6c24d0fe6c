//! Backlog JSON API over real HTTP, on SQLite and PostgreSQL: CRUD, filters, validation,
//! nothing written on rejection.

use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Registers tools and a pack; returns the pack id.
async fn setup(app: &TestApp) -> (Api, i64) {
    let admin = app.api(Role::Admin).await;
    for (id, sensitive) in [("codegen", false), ("git_pr", true), ("gate:unit", false), ("deploy:prod", true)] {
        let (s, body) =
            admin.post("/api/tools", json!({"id": id, "sensitive": sensitive, "mutating": sensitive, "rollback": "undo {item_id}"})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let planner = app.api(Role::Planner).await;
    let (s, pack) = planner.post("/api/packs", json!({"name": "Core Platform", "description": "shared"})).await;
    assert_eq!(s, StatusCode::CREATED, "{pack}");
    assert_eq!(pack["slug"], "core-platform");
    (planner, pack["id"].as_i64().unwrap())
}

async fn item_crud(app: TestApp) {
    let (api, pack) = setup(&app).await;
    let (s, a) = api
        .post("/api/items", json!({"pack_id": pack, "title": "Schema", "tools": ["codegen", "git_pr"], "labels": ["PII", "prod"], "risk": "high", "estimate_minutes": 90}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let a_id = a["id"].as_i64().unwrap();
    assert_eq!(a["tools"], json!(["codegen", "git_pr"]), "tool order is kept");
    assert_eq!(a["labels"], json!(["pii", "prod"]), "labels are lower-cased");
    assert_eq!(a["status"], "todo");
    assert_eq!(a["pack_name"], "Core Platform");

    let (s, b) = api.post("/api/items", json!({"pack_id": pack, "title": "API", "depends_on": [a_id], "tools": ["gate:unit"]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let b_id = b["id"].as_i64().unwrap();
    assert_eq!(b["depends_on"], json!([a_id]));

    let (s, got) = api.get(&format!("/api/items/{b_id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, b);

    let (s, patched) = api.patch(&format!("/api/items/{b_id}"), json!({"status": "in_progress", "tools": ["codegen", "gate:unit"]})).await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["status"], "in_progress");
    assert_eq!(patched["title"], "API", "omitted fields keep their value");
    assert_eq!(patched["depends_on"], json!([a_id]));
    assert_eq!(patched["tools"], json!(["codegen", "gate:unit"]));

    // A depends on nothing; making B depend on itself is refused.
    let (s, err) = api.patch(&format!("/api/items/{b_id}"), json!({"depends_on": [b_id]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().unwrap().contains("cannot depend on itself"), "{err}");

    // A is needed by B, so it cannot go yet.
    let (s, err) = api.delete(&format!("/api/items/{a_id}")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err["error"], "item_has_dependents");
    assert_eq!(err["dependent_item_ids"], json!([b_id]));

    let (s, _) = api.delete(&format!("/api/items/{b_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.delete(&format!("/api/items/{a_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, err) = api.get(&format!("/api/items/{a_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["error"], "not_found");
    assert_eq!(app.count("item_tools").await + app.count("item_labels").await + app.count("item_dependencies").await, 0);
}

async fn filters(app: TestApp) {
    let (api, pack) = setup(&app).await;
    let (_, other) = api.post("/api/packs", json!({"name": "Billing"})).await;
    let other = other["id"].as_i64().unwrap();
    for (title, p, labels, status) in [
        ("Encrypt PII", pack, vec!["pii"], "todo"),
        ("Deploy 100% canary", pack, vec!["prod"], "done"),
        ("Invoices", other, vec!["pii", "prod"], "todo"),
    ] {
        let (s, body) = api.post("/api/items", json!({"pack_id": p, "title": title, "labels": labels, "status": status})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let titles = |v: Value| v.as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(titles(api.get(&format!("/api/items?pack_id={other}")).await.1), vec!["Invoices"]);
    assert_eq!(titles(api.get("/api/items?label=pii").await.1), vec!["Encrypt PII", "Invoices"]);
    assert_eq!(titles(api.get("/api/items?status=done").await.1), vec!["Deploy 100% canary"]);
    assert_eq!(titles(api.get(&format!("/api/items?label=prod&pack_id={pack}")).await.1), vec!["Deploy 100% canary"]);
    assert_eq!(titles(api.get("/api/items?q=INVOI").await.1), vec!["Invoices"], "search ignores case");
    assert_eq!(titles(api.get("/api/items?q=100%25").await.1), vec!["Deploy 100% canary"], "% is literal");
    assert_eq!(titles(api.get("/api/items?q=_").await.1), Vec::<String>::new(), "_ is literal");
    let (s, err) = api.get("/api/items?status=sleeping").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_query");
    let (s, err) = api.get("/api/items?pack_id=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");

    // Packs list counts items; a non-empty pack cannot be deleted.
    let (_, packs) = api.get("/api/packs").await;
    let billing = packs.as_array().unwrap().iter().find(|p| p["id"] == other).unwrap();
    assert_eq!(billing["item_count"], 1);
    let (s, err) = api.delete(&format!("/api/packs/{other}")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err["error"], "pack_not_empty");
}

async fn rejected_writes_leave_nothing(app: TestApp) {
    let (api, pack) = setup(&app).await;
    let (_, a) = api.post("/api/items", json!({"pack_id": pack, "title": "A"})).await;
    let a_id = a["id"].as_i64().unwrap();
    let before = (app.count("backlog_items").await, app.count("item_tools").await, app.count("item_dependencies").await);

    let (s, err) = api
        .post("/api/items", json!({"pack_id": pack, "title": "B", "depends_on": [a_id, 9999, 8888], "tools": ["codegen", "teleport"]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"], "unknown_references");
    assert_eq!(err["unknown_item_ids"], json!([9999, 8888]));
    assert_eq!(err["unknown_tool_ids"], json!(["teleport"]));
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("9999") && msg.contains("8888") && msg.contains("`teleport`"), "{msg}");

    let (s, err) = api.post("/api/items", json!({"pack_id": 424242, "title": "C"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["unknown_pack_id"], 424242);

    let (s, err) = api.post("/api/items", json!({"pack_id": pack})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"], "validation_failed");
    assert_eq!(err["fields"][0]["field"], "title");

    let (s, err) = api.post("/api/items", json!({"pack_id": pack, "title": "T", "estimate_minutes": "ten"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "wrong type is a 400");
    assert_eq!(err["error"], "invalid_body");
    assert!(err["message"].as_str().unwrap().contains("estimate_minutes"), "{err}");

    let (s, err) = api.post("/api/items", json!({"pack_id": pack, "title": "T", "colour": "red"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("colour"), "unknown fields are named: {err}");

    let (s, err) = api.post_raw("/api/items", "application/json", "{\"pack_id\": 1, \"title\": ").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_json");

    let (s, err) = api.post_raw("/api/items", "text/plain", "title=x").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(err["error"], "unsupported_media_type");

    // A declared length over the 1 MiB limit is refused on the header alone.
    let (s, err) = api.post_socket("/api/items", "content-length: 2097152", b"").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"], "payload_too_large");
    // Without a declared length (chunked), the limit applies while reading: one byte over it.
    let huge = format!("{{\"pack_id\": {pack}, \"title\": \"big\", \"description\": \"{}\"}}", "x".repeat(1024 * 1024));
    let chunk = [format!("{:x}\r\n", huge.len()).into_bytes(), huge.into_bytes(), b"\r\n".to_vec()].concat();
    let (s, err) = api.post_socket("/api/items", "transfer-encoding: chunked", &chunk).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"], "payload_too_large");

    // A patch that fails validation changes nothing either.
    let (s, _) = api.patch(&format!("/api/items/{a_id}"), json!({"title": "A2", "tools": ["nope"]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, still) = api.get(&format!("/api/items/{a_id}")).await;
    assert_eq!(still["title"], "A");

    let after = (app.count("backlog_items").await, app.count("item_tools").await, app.count("item_dependencies").await);
    assert_eq!(before, after, "no rejected request wrote anything");
}

async fn tools_and_metrics(app: TestApp) {
    let (planner, _) = setup(&app).await;
    let admin = app.api(Role::Admin).await;
    let (s, err) = admin.post("/api/tools", json!({"id": "codegen"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err["error"], "tool_exists");
    let (s, err) = planner.post("/api/tools", json!({"id": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only admins manage the registry: {err}");

    let (s, tool) = admin.patch("/api/tools/deploy:prod", json!({"required_approvals": 2})).await;
    assert_eq!(s, StatusCode::OK, "{tool}");
    assert_eq!(tool["required_approvals"], 2);
    assert_eq!(tool["sensitive"], true);
    assert_eq!(tool["approval_expires_in_s"], Value::Null, "untouched by the patch");
    let (s, tool) = admin.patch("/api/tools/deploy:prod", json!({"approval_expires_in_s": 900})).await;
    assert_eq!((s, tool["approval_expires_in_s"].as_i64()), (StatusCode::OK, Some(900)), "{tool}");
    for bad in [1, -3, 10_000_000] {
        let (s, err) = admin.patch("/api/tools/deploy:prod", json!({"approval_expires_in_s": bad})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert!(err.to_string().contains("approval_expires_in_s"), "names the field: {err}");
    }
    let (_, tool) = admin.patch("/api/tools/deploy:prod", json!({"approval_expires_in_s": 0})).await;
    assert_eq!(tool["approval_expires_in_s"], Value::Null, "0 clears it");

    let automation = app.api(Role::Automation).await;
    let (s, m) =
        automation.post("/api/tool-metrics", json!({"tool_id": "codegen", "duration_ms": 1500, "cost_usd": 0.25, "tokens": 900})).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let (s, err) = automation.post("/api/tool-metrics", json!({"tool_id": "warp", "duration_ms": 1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["unknown_tool_ids"], json!(["warp"]));
    let (s, _) = automation.post("/api/tool-metrics", json!({"tool_id": "codegen", "duration_ms": -5})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = planner.get("/api/tool-metrics?tool_id=codegen").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["cost_usd"], 0.25);
    let (_, tool) = planner.get("/api/tools/codegen").await;
    assert_eq!(tool["run_count"], 1);

    // A tool in use cannot be removed.
    let (_, pack) = planner.post("/api/packs", json!({"name": "P"})).await;
    planner.post("/api/items", json!({"pack_id": pack["id"], "title": "uses git", "tools": ["git_pr"]})).await;
    let (s, err) = admin.delete("/api/tools/git_pr").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err["error"], "tool_in_use");
    let (s, _) = admin.delete("/api/tools/gate:unit").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

async fn packs_crud(app: TestApp) {
    let api = app.api(Role::Planner).await;
    let (s, p) = api.post("/api/packs", json!({"name": "Data & Privacy"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(p["slug"], "data-privacy");
    let id = p["id"].as_i64().unwrap();
    let (s, err) = api.post("/api/packs", json!({"name": "Data Privacy!"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "same slug: {err}");
    assert_eq!(err["error"], "slug_taken");
    let (s, p2) = api.patch(&format!("/api/packs/{id}"), json!({"description": "PII"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((p2["name"].as_str(), p2["description"].as_str()), (Some("Data & Privacy"), Some("PII")));
    let (s, _) = api.post("/api/packs", json!({"name": "   "})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = api.delete(&format!("/api/packs/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&format!("/api/packs/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

on_both_databases!(item_crud, filters, rejected_writes_leave_nothing, tools_and_metrics, packs_crud);
