//! The audit trail over real HTTP and the real binary, on SQLite and PostgreSQL: every audited
//! action with its actor, door and links; filters and pages; the export verified on its own;
//! concurrent writers (one process, and two instances on one PostgreSQL) leave one chain; and
//! `nofx audit verify` finds a row changed, removed or cut off in the database.

use crate::common::binary::{api_key, free_port, nofx, ready, start_server};
use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The audit records matching `query`, newest first (one page of at most 500).
async fn records(api: &Api, query: &str) -> Vec<Value> {
    let (s, page) = api.get(&format!("/api/audit?limit=500&{query}")).await;
    assert_eq!(s, StatusCode::OK, "{query}: {page}");
    page["records"].as_array().unwrap().clone()
}

fn actions(rs: &[Value]) -> Vec<String> {
    rs.iter().map(|r| r["action"].as_str().unwrap().to_string()).collect()
}

/// Verifies an export the way docs/operations.md's script does, with nothing from the product:
/// each line's hash is SHA-256 of the line without `hash`, keys sorted, compact; `prev_hash`
/// links to the line before; sequence numbers run 1, 2, 3.
fn verify_export(text: &str) -> (i64, String) {
    use sha2::{Digest, Sha256};
    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut pairs: Vec<(String, Value)> = o.into_iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let (mut seq, mut prev) = (0i64, "0".repeat(64));
    for line in text.lines() {
        let mut r: Value = serde_json::from_str(line).unwrap();
        let hash = r.as_object_mut().unwrap().remove("hash").unwrap();
        assert_eq!(r["seq"], seq + 1, "numbered without gaps");
        assert_eq!(r["prev_hash"], prev, "record {} links to the one before", seq + 1);
        let computed = hex::encode(Sha256::digest(serde_json::to_string(&sorted(r)).unwrap().as_bytes()));
        assert_eq!(computed, hash.as_str().unwrap(), "record {} hashes to its hash", seq + 1);
        (seq, prev) = (seq + 1, computed);
    }
    (seq, prev)
}

async fn actions_are_audited_with_actor_door_and_links(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let auditor = app.api(Role::Auditor).await;
    let (_, _) = admin.post("/api/tools", json!({"id": "build", "risk_weight": 1.0})).await;
    let (_, _) = admin.post("/api/tools", json!({"id": "deploy", "sensitive": true, "required_approvals": 1, "risk_weight": 1.0})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Audit trail"})).await;
    let pack_id = pack["id"].as_i64().unwrap();
    let (_, item) = admin.post("/api/items", json!({"pack_id": pack_id, "title": "Ship it", "tools": ["build"], "risk": "low"})).await;
    let item_id = item["id"].as_i64().unwrap();
    let (s, _) = admin.patch(&format!("/api/items/{item_id}"), json!({"title": "Ship it now"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": [item_id]})).await;
    let plan_id = plan["id"].as_i64().unwrap();
    let (s, run) = admin.post("/api/auto-planner/execute", json!({"plan_id": plan_id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");

    // An approval asked by automation, commented on and approved by a reviewer in the browser.
    let automation = app.api(Role::Automation).await;
    let (_, a) = automation.post("/api/approvals", json!({"tool_id": "deploy", "backlog_item_id": item_id, "args": {"env": "prod"}})).await;
    let approval_id = a["id"].as_i64().unwrap();
    let reviewer = app.browser(Role::Reviewer).await;
    let id_text = approval_id.to_string();
    let (s, v, _) = reviewer.call("comment_approval", &[("csrf", &reviewer.csrf), ("id", &id_text), ("comment", "Looks right.")]).await;
    assert!(s.is_success(), "{v}");
    let (s, v, _) =
        reviewer.call("decide_approval", &[("csrf", &reviewer.csrf), ("id", &id_text), ("decision", "approve"), ("comment", "")]).await;
    assert!(s.is_success(), "{v}");

    // A failed sign-in.
    let (s, _, _) = app.anonymous_browser().call("login", &[("username", "mallory"), ("password", "hunter2-guess"), ("next", "/")]).await;
    assert!(!s.is_success());

    let all = records(&auditor, "").await;
    let seen = actions(&all);
    for expected in [
        "tool.created",
        "pack.created",
        "item.created",
        "item.updated",
        "plan.created",
        "plan.execute_requested",
        "plan.approved",
        "approval.requested",
        "approval.commented",
        "approval.approved",
        "session.signed_in",
        "session.sign_in_failed",
        "user.created",
        "api_key.created",
    ] {
        assert!(seen.iter().any(|a| a == expected), "{expected} is audited: {seen:?}");
    }
    let find = |action: &str| all.iter().find(|r| r["action"] == action).unwrap().clone();

    // Actor, role and door.
    let created = find("plan.created");
    assert_eq!((created["door"].as_str(), created["role"].as_str()), (Some("api"), Some("admin")));
    assert!(created["actor"].as_str().unwrap().starts_with("key:admin-"));
    assert_eq!(created["links"]["plan"], plan_id);
    assert_eq!(created["links"]["items"], json!([item_id]));
    assert_eq!(created["links"]["packs"], json!([pack_id]));
    let approved = find("approval.approved");
    assert_eq!((approved["door"].as_str(), approved["role"].as_str()), (Some("browser"), Some("reviewer")));
    assert_eq!(approved["actor"], format!("user:{}", reviewer.username));
    assert_eq!((approved["links"]["approval"].as_i64(), approved["links"]["items"].clone()), (Some(approval_id), json!([item_id])));
    assert_eq!(approved["links"]["packs"], json!([pack_id]), "the pack comes from the item");
    let failed = find("session.sign_in_failed");
    assert_eq!((failed["actor"].as_str(), failed["fields"]["username"].as_str()), (Some("anonymous"), Some("mallory")));
    assert_eq!(find("user.created")["door"], "cli");
    let item_created = find("item.created");
    assert_eq!(
        (item_created["subject"].as_str(), item_created["links"]["items"].clone()),
        (Some(format!("item:{item_id}").as_str()), json!([item_id]))
    );
    assert_eq!(item_created["links"]["packs"], json!([pack_id]));
    assert_eq!(find("plan.approved")["fields"]["approved_by"], "policy");

    // Filters.
    let by_item = actions(&records(&auditor, &format!("item={item_id}")).await);
    for a in ["item.created", "item.updated", "plan.created", "approval.requested", "approval.approved"] {
        assert!(by_item.iter().any(|x| x == a), "item filter has {a}: {by_item:?}");
    }
    assert!(!by_item.iter().any(|a| a == "tool.created"));
    let by_pack = actions(&records(&auditor, &format!("pack={pack_id}")).await);
    assert!(by_pack.iter().any(|a| a == "pack.created") && by_pack.iter().any(|a| a == "approval.approved"), "{by_pack:?}");
    let by_plan = actions(&records(&auditor, &format!("plan={plan_id}")).await);
    assert_eq!(by_plan, ["plan.approved", "plan.execute_requested", "plan.created"], "newest first");
    let by_approval = actions(&records(&auditor, &format!("approval={approval_id}")).await);
    assert_eq!(by_approval, ["approval.approved", "approval.commented", "approval.requested"]);
    let by_actor = records(&auditor, &format!("actor=user:{}", reviewer.username)).await;
    assert!(by_actor.iter().all(|r| r["actor"] == format!("user:{}", reviewer.username)) && by_actor.len() >= 3);
    let by_area = actions(&records(&auditor, "action=approval.*").await);
    assert!(by_area.iter().all(|a| a.starts_with("approval.")) && by_area.len() == 3, "{by_area:?}");
    let newest = all[0]["at"].as_i64().unwrap();
    assert!(records(&auditor, &format!("since={}", newest + 1)).await.is_empty());
    assert_eq!(records(&auditor, &format!("until={}", newest + 1)).await.len(), all.len());

    // Pages: the cursor walks back without repeating or skipping.
    let (_, first) = auditor.get("/api/audit?limit=3").await;
    let next = first["next"].as_i64().expect("more pages");
    let (_, second) = auditor.get(&format!("/api/audit?limit=3&before={next}")).await;
    assert_eq!(second["records"][0]["seq"].as_i64(), Some(next - 1));
    assert_eq!(first["records"][2]["seq"].as_i64(), Some(next));

    // Who may read: auditors and admins, by key or session; not viewers, not anonymous.
    let (s, _) = admin.get("/api/audit").await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = app.api(Role::Viewer).await.get("/api/audit").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(e["message"].as_str().unwrap().contains("auditor"));
    let (s, _) = app.anonymous().get("/api/audit/head").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let browser = app.browser(Role::Auditor).await;
    let res = browser.http.get(app.url("/api/audit/head")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Bad filters say what to fix.
    for (q, code) in [
        ("limit=0", "invalid_query"),
        ("action=plan.launched", "invalid_query"),
        ("since=10&until=5", "invalid_query"),
        ("plan=twelve", "invalid_query"),
        ("colour=red", "invalid_query"),
    ] {
        let (s, e) = auditor.get(&format!("/api/audit?{q}")).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST, "{q}: {s} {e}");
        assert_eq!(e["error"], code, "{q}: {e}");
    }

    // The export verifies on its own and ends at the head; no secret is in it.
    let res = auditor.get_raw("/api/audit/export", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let (n, last) = verify_export(&text);
    let (_, head) = auditor.get("/api/audit/head").await;
    assert!(head["seq"].as_i64().unwrap() >= n, "the export ends at (or, with later writes, before) the head");
    let (_, at_n) = auditor.get(&format!("/api/audit?limit=1&before={}", n + 1)).await;
    assert_eq!(at_n["records"][0]["hash"], last);
    let (_, v) = auditor.get("/api/audit/verify").await;
    assert_eq!(v["broken"], Value::Null, "{v}");
    for secret in [admin.key.as_deref().unwrap(), auditor.key.as_deref().unwrap(), "hunter2-guess", "correct horse battery"] {
        assert!(!text.contains(secret), "a secret leaked into the audit trail");
    }
}

async fn concurrent_writers_leave_one_chain(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Busy"})).await;
    let pack_id = pack["id"].as_i64().unwrap();
    let clients: Vec<Api> = (0..32).map(|_| admin.clone()).collect();
    let writes = futures::future::join_all(clients.into_iter().enumerate().map(|(c, api)| async move {
        for n in 0..7 {
            let (s, b) = api.post("/api/items", json!({"pack_id": pack_id, "title": format!("item {c}-{n}"), "risk": "low"})).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
    }));
    writes.await;
    let auditor = app.api(Role::Auditor).await;
    let created = records(&auditor, &format!("action=item.created&pack={pack_id}")).await;
    assert_eq!(created.len(), 224);
    let (_, v) = auditor.get("/api/audit/verify").await;
    assert_eq!(v["broken"], Value::Null, "{v}");
    let text = auditor.get_raw("/api/audit/export", &[]).await.text().await.unwrap();
    let (n, _) = verify_export(&text);
    assert_eq!(v["records"].as_i64(), Some(n));
}

on_both_databases!(actions_are_audited_with_actor_door_and_links, concurrent_writers_leave_one_chain);

/// `nofx audit verify` against a database changed behind the product's back.
async fn verify_finds_tampering(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let auditor = app.api(Role::Auditor).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Evidence"})).await;
    for n in 0..5 {
        admin.post("/api/items", json!({"pack_id": pack["id"], "title": format!("item {n}"), "risk": "low"})).await;
    }
    let run = |args: &[&str]| {
        let out = nofx(&app.database_url).args(["audit", "verify"]).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let head = out.lines().find_map(|l| l.strip_prefix("head ")).expect("prints its head").to_string();
    let (_, api_head) = auditor.get("/api/audit/head").await;
    assert_eq!(head, format!("{}:{}", api_head["seq"], api_head["hash"].as_str().unwrap()));
    let seq: i64 = head.split(':').next().unwrap().parse().unwrap();

    // A changed summary.
    app.sql("update audit_log set summary = 'nothing happened' where seq = 3").await;
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("record 3 was altered"), "{err}");
    let (_, v) = auditor.get("/api/audit/verify").await;
    assert_eq!(v["broken"], json!({"seq": 3, "problem": {"kind": "altered"}}));
    assert_eq!(v["records"], 2, "intact up to record 2");
    app.sql("delete from audit_log where seq >= 3").await;

    // Cut back to record 2: the chain itself holds, the recorded head proves the tail is gone.
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&["--expect-head", &head]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("the recorded head is record {seq}")), "{err}");
    let (code, _, err) = run(&["--expect-head", "nonsense"]);
    assert_eq!(code, Some(2), "a bad head is a usage error: {err}");

    // A removed record in the middle.
    let (_, two) = auditor.get("/api/audit/head").await;
    assert_eq!(two["seq"], 2);
    let (s, item) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": "after the cut", "risk": "low"})).await;
    assert_eq!(s, StatusCode::CREATED, "the log goes on after records were removed: {item}");
    app.sql("delete from audit_log where seq = 2").await;
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("record 2 is missing"), "{err}");

    // A value edited into something no record can hold is found too.
    app.sql("update audit_log set items = 'not json' where seq = 1").await;
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("record 1 was altered"), "{err}");
}

on_both_databases!(verify_finds_tampering);

/// Two server processes on one PostgreSQL appending at once: one chain, no fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_append_to_one_chain() {
    let Some(db) = crate::common::fresh_postgres().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = api_key(&db, "admin");
    let (p1, p2) = (free_port(), free_port());
    let mut s1 = start_server(&db, p1, &dir.path().join("one.log"));
    let mut s2 = start_server(&db, p2, &dir.path().join("two.log"));
    let bases = [format!("http://127.0.0.1:{p1}"), format!("http://127.0.0.1:{p2}")];
    for b in &bases {
        ready(b).await;
    }
    let one = Api { base: bases[0].clone(), key: Some(key.clone()), http: reqwest::Client::new() };
    let (_, pack) = one.post("/api/packs", json!({"name": "Two"})).await;
    let pack_id = pack["id"].as_i64().unwrap();
    let writes = futures::future::join_all((0..32).map(|c| {
        let api = Api { base: bases[c % 2].clone(), key: Some(key.clone()), http: reqwest::Client::new() };
        async move {
            for n in 0..7 {
                let (s, b) = api.post("/api/items", json!({"pack_id": pack_id, "title": format!("{c}-{n}"), "risk": "low"})).await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
            }
        }
    }));
    writes.await;
    let out = nofx(&db).args(["audit", "verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let n: i64 = text.lines().find_map(|l| l.strip_prefix("head ")).unwrap().split(':').next().unwrap().parse().unwrap();
    assert!(n >= 224 + 2, "every write is in the one chain: {text}");
    let exported = one.get_raw("/api/audit/export", &[]).await.text().await.unwrap();
    assert_eq!(verify_export(&exported).0, n);
    for s in [&mut s1, &mut s2] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    crate::common::drop_postgres(&db).await;
}

/// Which webhook secrets a start runs with is recorded when it changes, by fingerprint only.
async fn webhook_secrets_are_recorded_by_fingerprint(app: TestApp) {
    use nofx::webhooks::{signature::Secret, WebhookSettings};
    let first = Secret::generate();
    let second = Secret::generate();
    let with = |s: Option<&str>| WebhookSettings { inbound_secret: s.map(|s| Secret::parse(s).unwrap()), ..Default::default() };
    let actions = || async {
        let (_, page) = app.api(Role::Auditor).await.get("/api/audit?action=webhook.*").await;
        page["records"].as_array().unwrap().iter().rev().map(|r| r["action"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert!(actions().await.is_empty(), "no secret configured at start");
    nofx::webhooks::record_secrets(&app.db, &with(Some(&first))).await.unwrap();
    nofx::webhooks::record_secrets(&app.db, &with(Some(&first))).await.unwrap();
    nofx::webhooks::record_secrets(&app.db, &with(Some(&second))).await.unwrap();
    nofx::webhooks::record_secrets(&app.db, &with(None)).await.unwrap();
    assert_eq!(
        actions().await,
        ["webhook.secret_configured", "webhook.secret_rotated", "webhook.secret_removed"],
        "a restart with the same secret records nothing"
    );
    let text = app.api(Role::Auditor).await.get_raw("/api/audit/export", &[]).await.text().await.unwrap();
    for secret in [&first, &second] {
        let body = secret.trim_start_matches("whsec_");
        assert!(!text.contains(body), "a secret leaked into the audit trail");
    }
    assert!(text.contains(&Secret::parse(&first).unwrap().fingerprint()));
}

on_both_databases!(webhook_secrets_are_recorded_by_fingerprint);
