//! Overrides over real HTTP, on SQLite and PostgreSQL: a soft-mandatory block lifted until the
//! override runs out (then blocked again on the API, the page and execute), hard-mandatory
//! refused, a second person's approval, revocation, overriding a pending approval, and bad,
//! unauthorised and replayed input.

use crate::common::{Api, TestApp};
use nofx::auth::model::Role;
use nofx::flags::FeatureFlags;
use reqwest::StatusCode;
use serde_json::{json, Value};

const WHY: &str = "Finance raised this release's budget; ticket FIN-2231 approves the spend.";

/// A plan of two `build` steps that the resource gate blocks (soft-mandatory): its budget is a
/// cent. Returns the plan.
async fn over_budget(app: &TestApp, admin: &Api) -> Value {
    let (s, b) = admin.post("/api/tools", json!({"id": format!("build{}", app.count("tools").await), "risk_weight": 1.0})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let tool = b["id"].as_str().unwrap().to_string();
    let (_, pack) = admin.post("/api/packs", json!({"name": format!("Budget {}", app.count("packs").await)})).await;
    let mut ids = vec![];
    for title in ["compile", "package"] {
        let (s, item) = admin
            .post("/api/items", json!({"pack_id": pack["id"], "title": title, "tools": [tool], "risk": "low", "estimate_minutes": 5}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    let (s, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": ids, "budget_usd": 0.01})).await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["status"], "blocked", "{plan}");
    plan
}

fn resource(plan_id: i64, minutes: i64) -> Value {
    json!({"plan_id": plan_id, "target": {"kind": "plan_verdict", "gate": "resource"}, "justification": WHY, "expires_in_minutes": minutes})
}

async fn status_of(api: &Api, plan_id: i64) -> Value {
    let (s, p) = api.get(&format!("/api/plans/{plan_id}")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    p
}

/// Audit records of plan `plan_id` with `action`, newest first.
async fn audited(app: &TestApp, plan_id: i64, action: &str) -> Vec<Value> {
    let auditor = app.api(Role::Auditor).await;
    let (s, page) = auditor.get(&format!("/api/audit?plan={plan_id}&action={action}&limit=500")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["records"].as_array().unwrap().clone()
}

/// Waits (at most 10 s) until `check` holds: for the override task's writes.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_soft_block_is_lifted_until_the_override_runs_out(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let planner = app.api(Role::Planner).await;
    let plan = over_budget(&app, &admin).await;
    let id = plan["id"].as_i64().unwrap();

    // Executing a blocked plan is refused; so is an override by a role the policy does not name.
    let (s, e) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("plan_blocked")), "{e}");
    let (s, e) = planner.post("/api/automation/override", resource(id, 60)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("admin"), "names who may: {e}");

    let before = app.count("overrides").await;
    let created = app.count("audit_log").await;
    let (s, o) = admin.post("/api/automation/override", resource(id, 60)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!((o["status"].as_str(), o["plan_id"].as_i64()), (Some("active"), Some(id)));
    assert_eq!(o["target"], json!({"kind": "plan_verdict", "gate": "resource"}));
    assert_eq!(o["justification"], WHY);
    assert!(o["created_by"].as_str().unwrap().starts_with("key:admin-"));

    // In force: the plan reads ready, with until when, on every read path.
    let p = status_of(&planner, id).await;
    assert_eq!(p["status"], "ready", "{}", p["status"]);
    assert_eq!(p["unblocked_until"], o["expires_at"]);
    let (_, ready) = planner.get("/api/plans?status=ready").await;
    assert!(ready.as_array().unwrap().iter().any(|p| p["id"] == id), "the list agrees: {ready}");
    let (_, list) = planner.get(&format!("/api/overrides?plan_id={id}")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], o["id"]);

    // A replayed request stacks nothing.
    let (s, e) = admin.post("/api/automation/override", resource(id, 60)).await;
    assert_eq!((s, e["error"].as_str(), e["override_id"].as_i64()), (StatusCode::CONFLICT, Some("already_exists"), o["id"].as_i64()));
    assert_eq!(app.count("overrides").await, before + 1);

    // Events and audit records, in the override's transaction.
    let events = nofx::events::store::list_after(&app.db, 0, 100_000).await.unwrap();
    let kinds: Vec<&str> = events.iter().filter(|e| e.subject == nofx::events::model::Subject::Plan(id)).map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["override.created", "plan.ready"]), "{kinds:?}");
    let records = audited(&app, id, "override.created").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["fields"]["justification"], WHY);
    assert_eq!((records[0]["door"].as_str(), records[0]["role"].as_str()), (Some("api"), Some("admin")));
    assert_eq!(records[0]["links"]["override"], o["id"]);
    assert!(app.count("audit_log").await > created);

    // The override runs out (its deadline staged in the past, as time would): blocked again at
    // once on every path, before the override task has written anything.
    let past = nofx::storage::now_ms() - 1;
    app.sql(format!("update overrides set expires_at = {past} where id = {}", o["id"])).await;
    app.sql(format!("update plans set unblocked_until = {past} where id = {id}")).await;
    let p = status_of(&planner, id).await;
    assert_eq!(p["status"], "blocked");
    assert!(p.get("unblocked_until").is_none(), "{p}");
    let (_, blocked) = planner.get("/api/plans?status=blocked").await;
    assert!(blocked.as_array().unwrap().iter().any(|p| p["id"] == id));
    let (s, e) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("plan_blocked")), "{e}");
    let (_, list) = planner.get(&format!("/api/overrides?plan_id={id}")).await;
    assert_eq!(list[0]["status"], "expired", "read as expired before the task writes it");
    let browser = app.browser(Role::Planner).await;
    let page = browser.http.get(app.url(&format!("/plans/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("blocked"), "the page says blocked");

    // The task writes the expiry: stored, announced, audited.
    app.state.overrides.notify_one();
    eventually("override.expired recorded", || async { !audited(&app, id, "override.expired").await.is_empty() }).await;
    let events = nofx::events::store::list_after(&app.db, 0, 100_000).await.unwrap();
    assert!(events.iter().any(|e| e.kind.as_str() == "override.expired" && e.payload["override_id"] == o["id"]));

    // A fresh override lifts it again; execute then goes through (it waits for a plan approval:
    // the plan has a blocking verdict, lifted).
    let (s, o2) = admin.post("/api/automation/override", resource(id, 30)).await;
    assert_eq!(s, StatusCode::CREATED, "{o2}");
    let (s, run) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["status"], "awaiting_approval");
}

async fn hard_mandatory_and_wrong_targets_are_refused(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let (_, t) = admin.post("/api/tools", json!({"id": "build", "risk_weight": 1.0})).await;
    assert_eq!(t["id"], "build");
    let (_, pack) = admin.post("/api/packs", json!({"name": "Hard"})).await;
    let (_, a) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": "a", "tools": ["build"], "risk": "low"})).await;
    let (_, b) = admin
        .post("/api/items", json!({"pack_id": pack["id"], "title": "b", "tools": ["build"], "risk": "low", "depends_on": [a["id"]]}))
        .await;
    // b alone: its unfinished dependency is neither planned nor done, a structural (hard) block.
    let (_, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": [b["id"]]})).await;
    assert_eq!(plan["status"], "blocked", "{plan}");
    let id = plan["id"].as_i64().unwrap();
    let body = |target: Value| json!({"plan_id": id, "target": target, "justification": WHY, "expires_in_minutes": 30});

    let viewer = app.api(Role::Viewer).await;
    let before = (app.count("overrides").await, app.count("audit_log").await);
    let (s, e) = admin.post("/api/automation/override", body(json!({"kind": "plan_verdict", "gate": "structural"}))).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("hard_mandatory")), "{e}");
    assert!(!e["rules"].as_array().unwrap().is_empty(), "names the rule: {e}");
    assert!(e["message"].as_str().unwrap().contains("never be overridden"));
    let step = plan["steps"][0]["id"].as_str().unwrap();
    let (s, e) = admin.post("/api/automation/override", body(json!({"kind": "step_verdict", "step_id": step, "gate": "structural"}))).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("hard_mandatory")), "{e}");
    let (s, e) = admin.post("/api/automation/override", body(json!({"kind": "plan_verdict", "gate": "risk"}))).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("not_blocking")), "{e}");
    let (s, e) = admin.post("/api/automation/override", body(json!({"kind": "step_verdict", "step_id": "s999-0", "gate": "risk"}))).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{e}");
    let (s, e) = admin.post("/api/automation/override", body(json!({"kind": "approval", "approval_id": 999_999}))).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{e}");

    // Malformed, oversized, unauthorised.
    let (s, e) = admin.post("/api/automation/override", json!({"plan_id": 999_999, "target": {"kind": "plan_verdict", "gate": "resource"}, "justification": WHY, "expires_in_minutes": 5})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_plan")), "{e}");
    for bad in [
        json!({"plan_id": id, "target": {"kind": "plan_verdict", "gate": "vibes"}, "justification": WHY, "expires_in_minutes": 5}),
        json!({"plan_id": id, "target": {"kind": "everything"}, "justification": WHY, "expires_in_minutes": 5}),
        json!({"plan_id": id, "target": {"kind": "plan_verdict", "gate": "risk"}, "justification": WHY}),
        json!({"plan_id": id, "target": {"kind": "plan_verdict", "gate": "risk"}, "justification": WHY, "expires_in_minutes": 5, "force": true}),
    ] {
        let (s, e) = admin.post("/api/automation/override", bad.clone()).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")), "{bad} → {e}");
    }
    let (s, e) = admin.post_socket("/api/automation/override", "content-length: 2097152", b"").await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")), "{e}");
    let (s, _) = app.anonymous().post("/api/automation/override", body(json!({"kind": "plan_verdict", "gate": "structural"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = viewer.post("/api/automation/override", body(json!({"kind": "plan_verdict", "gate": "structural"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert_eq!((app.count("overrides").await, app.count("audit_log").await), before, "refusals write nothing");
}

async fn justification_and_expiry_follow_the_policy(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let plan = over_budget(&app, &admin).await;
    let id = plan["id"].as_i64().unwrap();
    let mut short = resource(id, 30);
    short["justification"] = json!("   because  ");
    let (s, e) = admin.post("/api/automation/override", short).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("at least 20 characters"), "{e}");
    for minutes in [0, -1, 72 * 60 + 1] {
        let (s, e) = admin.post("/api/automation/override", resource(id, minutes)).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{minutes}: {e}");
        assert!(e["message"].as_str().unwrap().contains("expires_in_minutes"), "{e}");
    }
    assert_eq!(app.count("overrides").await, 0);
}

async fn revoking_blocks_again(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let plan = over_budget(&app, &admin).await;
    let id = plan["id"].as_i64().unwrap();
    let (_, o) = admin.post("/api/automation/override", resource(id, 60)).await;
    let path = format!("/api/overrides/{}", o["id"]);
    assert_eq!(status_of(&admin, id).await["status"], "ready");

    let (s, e) = app.api(Role::Planner).await.delete(&path).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "neither its author nor an overriding role: {e}");
    let (s, e) = admin.delete(&format!("/api/overrides/{}", 999_999)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, r) = admin.delete_json(&path, json!({"reason": "Finance withdrew the extra budget."})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!((r["status"].as_str(), r["end_note"].as_str()), (Some("revoked"), Some("Finance withdrew the extra budget.")));
    assert_eq!(status_of(&admin, id).await["status"], "blocked", "at once");
    let (s, e) = admin.delete(&path).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("not_in_force")), "a replayed revoke: {e}");
    let events = nofx::events::store::list_after(&app.db, 0, 100_000).await.unwrap();
    let kinds: Vec<&str> = events.iter().filter(|e| e.subject == nofx::events::model::Subject::Plan(id)).map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["override.revoked", "plan.blocked"]), "{kinds:?}");
    assert_eq!(audited(&app, id, "override.revoked").await.len(), 1);
}

/// A step's own verdict: overriding one step's block leaves the plan blocked while another
/// step's block stands; covering both lifts it.
async fn step_verdicts_are_overridden_one_by_one(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let (_, _) = admin.post("/api/tools", json!({"id": "risky", "risk_weight": 20.0})).await;
    let (_, pack) = admin.post("/api/packs", json!({"name": "Risky"})).await;
    let mut ids = vec![];
    for title in ["one", "two"] {
        let (_, item) = admin.post("/api/items", json!({"pack_id": pack["id"], "title": title, "tools": ["risky"], "risk": "low"})).await;
        ids.push(item["id"].clone());
    }
    let (_, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": ids})).await;
    assert_eq!(plan["status"], "blocked", "the risk gate blocks both steps: {}", plan["verdicts"]);
    let id = plan["id"].as_i64().unwrap();
    let steps: Vec<String> = plan["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let step = |s: &str| json!({"plan_id": id, "target": {"kind": "step_verdict", "step_id": s, "gate": "risk"}, "justification": WHY, "expires_in_minutes": 30});
    let (s, o) = admin.post("/api/automation/override", step(&steps[0])).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(status_of(&admin, id).await["status"], "blocked", "the other step still blocks");
    let (s, _) = admin.post("/api/automation/override", step(&steps[1])).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(status_of(&admin, id).await["status"], "ready");
    let record = &audited(&app, id, "override.created").await[0];
    assert_eq!(record["links"]["step"], steps[1], "the audit links the step");
}

/// Overriding a pending approval decides it: the executor goes on as if the quorum approved.
async fn an_override_decides_a_pending_approval(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let deploy =
        json!({"id": "deploy", "sensitive": true, "required_approvals": 2, "mutating": true, "rollback": "redeploy", "risk_weight": 1.0});
    let plan = crate::common::plan_of(&app, &[deploy], &[("ship", &["deploy"], &[])]).await;
    let id = plan["id"].as_i64().unwrap();
    let (s, run) = app.api(Role::Planner).await.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    // The sensitive step warns, so the plan first waits for its plan approval: override that.
    assert_eq!(run["status"], "awaiting_approval", "{run}");
    let plan_approval = run["approval_id"].as_i64().unwrap();
    let (s, o) = admin
        .post("/api/automation/override", json!({"plan_id": id, "target": {"kind": "approval", "approval_id": plan_approval}, "justification": WHY, "expires_in_minutes": 30}))
        .await;
    assert_eq!((s, o["status"].as_str()), (StatusCode::CREATED, Some("applied")), "{o}");
    eventually("the step waits for its approval", || async {
        let (_, run) = admin.get(&format!("/api/plans/{id}/run")).await;
        run["steps"][0]["approval_id"].as_i64().is_some()
    })
    .await;
    let (_, run) = admin.get(&format!("/api/plans/{id}/run")).await;
    assert_eq!(run["status"], "running", "{run}");
    assert!(run["approved_by"].as_str().unwrap().starts_with("key:admin-"), "the override's author approved it: {run}");
    let approval = run["steps"][0]["approval_id"].as_i64();
    let approval = approval.unwrap();
    let body =
        json!({"plan_id": id, "target": {"kind": "approval", "approval_id": approval}, "justification": WHY, "expires_in_minutes": 30});
    let (s, o) = admin.post("/api/automation/override", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["status"], "applied");
    let (_, a) = admin.get(&format!("/api/approvals/{approval}")).await;
    assert_eq!(a["status"], "approved", "{a}");
    let log = a["log"].as_array().unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["note"].as_str()),
        (Some("overridden"), Some(WHY)),
        "the justification is in the approval's log"
    );
    eventually("the step becomes claimable", || async {
        let (_, run) = admin.get(&format!("/api/plans/{id}/run")).await;
        run["steps"][0]["state"] == "claimable"
    })
    .await;
    // Decided already: a second override of it is refused.
    let (s, e) = admin.post("/api/automation/override", body).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::CONFLICT, Some("already_decided")), "{e}");
    let records = nofx::audit::store::list(&app.db, &nofx::audit::model::AuditFilter { approval: Some(approval), ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"approval.overridden") && actions.contains(&"override.created"), "{actions:?}");
    assert!(!actions.contains(&"approval.approved"), "an override is not a reviewers' approval: {actions:?}");
    let overridden = records.iter().find(|r| r.action.as_str() == "approval.overridden").unwrap();
    assert_eq!(overridden.links.override_id, o["id"].as_i64(), "the record links the override: {overridden:?}");
}

on_both_databases!(
    a_soft_block_is_lifted_until_the_override_runs_out,
    hard_mandatory_and_wrong_targets_are_refused,
    justification_and_expiry_follow_the_policy,
    revoking_blocks_again,
    step_verdicts_are_overridden_one_by_one,
    an_override_decides_a_pending_approval,
);

/// With `[overrides] require_approval = true`: the override waits for someone else.
async fn second_person(app: TestApp) {
    let admin = app.api(Role::Admin).await;
    let plan = over_budget(&app, &admin).await;
    let id = plan["id"].as_i64().unwrap();
    let (s, o) = admin.post("/api/automation/override", resource(id, 60)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["status"], "pending");
    let review = o["review_approval_id"].as_i64().expect("a review in the inbox");
    assert_eq!(status_of(&admin, id).await["status"], "blocked", "not in force yet");

    // Its author cannot approve it, a reviewer can.
    let (s, e) = admin.post(&format!("/api/approvals/{review}/decision"), json!({"decision": "approve"})).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::FORBIDDEN, Some("self_approval")), "{e}");
    let (s, a) = app.api(Role::Reviewer).await.post(&format!("/api/approvals/{review}/decision"), json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    eventually("the override takes effect", || async { status_of(&admin, id).await["status"] == "ready" }).await;
    let (_, list) = admin.get(&format!("/api/overrides?plan_id={id}")).await;
    assert_eq!(list[0]["status"], "active");
    let events = nofx::events::store::list_after(&app.db, 0, 100_000).await.unwrap();
    let kinds: Vec<&str> = events.iter().filter(|e| e.subject == nofx::events::model::Subject::Plan(id)).map(|e| e.kind.as_str()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or_else(|| panic!("{k} in {kinds:?}"));
    assert!(at("override.requested") < at("override.created") && at("override.created") < at("plan.ready"), "{kinds:?}");

    // A denied review: the override never takes effect.
    let (_, o2) = admin
        .post(
            "/api/automation/override",
            json!({"plan_id": id, "target": {"kind": "plan_verdict", "gate": "risk"}, "justification": WHY, "expires_in_minutes": 5}),
        )
        .await;
    assert_eq!(o2["error"], "not_blocking", "{o2}");
    let (s, d) = app.api(Role::Admin).await.delete(&format!("/api/overrides/{}", o["id"])).await;
    assert_eq!(s, StatusCode::OK, "another admin may revoke: {d}");
    let (s, o3) = admin.post("/api/automation/override", resource(id, 60)).await;
    assert_eq!((s, o3["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{o3}");
    let review = o3["review_approval_id"].as_i64().unwrap();
    let (s, _) = app
        .api(Role::Reviewer)
        .await
        .post(&format!("/api/approvals/{review}/decision"), json!({"decision": "deny", "comment": "Not this week."}))
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("the override is rejected", || async {
        let (_, list) = admin.get(&format!("/api/overrides?plan_id={id}")).await;
        list[0]["status"] == "rejected"
    })
    .await;
    assert_eq!(status_of(&admin, id).await["status"], "blocked");
}

fn with_second_person(config: &mut nofx::config::Config) {
    let dir = std::env::temp_dir().join(format!("nofx-policy-{}-{}", std::process::id(), nofx::storage::now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "[overrides]\nroles = [\"admin\"]\nrequire_approval = true\nrequired_approvals = 1\n").unwrap();
    config.policy_path = Some(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_person_sqlite() {
    let flags = FeatureFlags { auto_planner: true, planner_execute: true };
    second_person(TestApp::spawn_configured(nofx::storage::Backend::Sqlite, flags, with_second_person).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_person_postgres() {
    let flags = FeatureFlags { auto_planner: true, planner_execute: true };
    if let Some(app) = TestApp::spawn_configured(nofx::storage::Backend::Postgres, flags, with_second_person).await {
        second_person(app).await;
    }
}
