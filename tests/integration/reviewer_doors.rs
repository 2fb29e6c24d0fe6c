//! The browser doors of the reviewer and planner pages, over real HTTP on both databases: bulk
//! decisions (all or nothing, one tool, each its own logged decision; malformed, oversized,
//! unauthorised and replayed input), the tool edit form, the pending count, where each role
//! starts, and missing records answering 404.

use crate::common::{Api, Browser, TestApp};
use nofx::auth::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn tools(app: &TestApp) {
    let admin = app.api(Role::Admin).await;
    for body in [
        json!({"id": "git_pr", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "close it"}),
        json!({"id": "db_write", "sensitive": true, "required_approvals": 1, "mutating": true, "rollback": "restore"}),
    ] {
        let (s, t) = admin.post("/api/tools", body).await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
}

async fn ask(agent: &Api, tool: &str) -> i64 {
    let (s, a) = agent.post("/api/approvals", json!({"tool_id": tool, "args": {"repo": "shop"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_i64().unwrap()
}

async fn status(agent: &Api, id: i64) -> Value {
    let (s, a) = agent.get(&format!("/api/approvals/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    a
}

/// `decide_approvals` as the inbox's bar sends it: `ids[]` repeated, the clicked decision.
async fn bulk(browser: &Browser, ids: &[i64], decision: &str, comment: &str) -> (StatusCode, Value, Option<String>) {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let mut form: Vec<(&str, &str)> = vec![("csrf", browser.csrf.as_str()), ("decision", decision), ("comment", comment)];
    form.extend(ids.iter().map(|i| ("ids[]", i.as_str())));
    browser.call("decide_approvals", &form).await
}

async fn bulk_decisions_are_all_or_nothing(app: TestApp) {
    tools(&app).await;
    let agent = app.api(Role::Automation).await;
    let prs = [ask(&agent, "git_pr").await, ask(&agent, "git_pr").await, ask(&agent, "git_pr").await];
    let write = ask(&agent, "db_write").await;
    let reviewer = app.browser(Role::Reviewer).await;
    let events_before = app.count("events").await;

    // Two at once: each is its own decision, with its own log row and event; the browser is sent
    // back to the inbox naming both.
    let (s, body, location) = bulk(&reviewer, &prs[..2], "approve", "batch ok").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!(2));
    assert_eq!(location.as_deref(), Some(format!("/approvals?decided={},{}", prs[0], prs[1]).as_str()));
    for id in &prs[..2] {
        let a = status(&agent, *id).await;
        assert_eq!(a["status"], "approved", "{a}");
        let last = a["log"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["kind"].as_str(), last["note"].as_str()), (Some("approve"), Some("batch ok")), "{a}");
        assert_eq!(last["actor"], format!("user:{}", reviewer.username));
    }
    assert_eq!(app.count("events").await, events_before + 2, "one approval.decided per request");

    // Mixed tools are refused before anything is written.
    let (s, body, _) = bulk(&reviewer, &[prs[2], write], "approve", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("one tool at a time"), "{body}");
    assert_eq!(status(&agent, prs[2]).await["status"], "pending");

    // Replayed: one of them is decided already, so none of the batch is (the other stays pending).
    let (s, body, _) = bulk(&reviewer, &[prs[0], prs[2]], "approve", "").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with(&format!("Request #{} stopped the bulk decision", prs[0])), "{body}");
    assert_eq!(status(&agent, prs[2]).await["status"], "pending");

    // Refused half-way: the batch is decided in id order, the first request is fine and the second
    // was decided meanwhile, so the first one's decision, already written in the same transaction,
    // is rolled back with it.
    let later = ask(&agent, "git_pr").await;
    let (s, body, _) = bulk(&reviewer, &[later], "approve", "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let log_rows = app.count("approval_log").await;
    let (s, body, _) = bulk(&reviewer, &[later, prs[2]], "approve", "").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with(&format!("Request #{later} stopped")), "{body}");
    assert_eq!(status(&agent, prs[2]).await["status"], "pending", "nothing half-written");
    assert_eq!(app.count("approval_log").await, log_rows, "no log row, no vote");
    assert_eq!(app.count("events").await, events_before + 4, "no event beyond the two decisions and `later`'s request and decision");

    // Denying needs the reason, for every request of the batch.
    let (s, body, _) = bulk(&reviewer, &[prs[2]], "deny", "  ").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _, _) = bulk(&reviewer, &[prs[2], write], "deny", "no").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "still one tool at a time");
    let (s, body, _) = bulk(&reviewer, &[prs[2]], "deny", "stale branch").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(status(&agent, prs[2]).await["status"], "denied");
    assert_eq!(status(&agent, write).await["status"], "pending");
    assert_eq!(app.count("events").await, events_before + 5);
}

async fn bulk_decisions_refuse_bad_input(app: TestApp) {
    tools(&app).await;
    let agent = app.api(Role::Automation).await;
    let id = ask(&agent, "git_pr").await;
    let reviewer = app.browser(Role::Reviewer).await;

    // Nothing selected, an unknown decision, a malformed id, too many ids, an unknown request.
    let (s, body, _) = bulk(&reviewer, &[], "approve", "").await;
    assert_eq!((s, body["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Select at least one request.")));
    let (s, body, _) = bulk(&reviewer, &[id], "maybe", "").await;
    assert_eq!((s, body["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Choose Approve or Deny.")));
    let csrf = reviewer.csrf.clone();
    let (s, _, _) = reviewer.call("decide_approvals", &[("csrf", csrf.as_str()), ("decision", "approve"), ("ids[]", "seven")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a malformed id is refused");
    let many: Vec<i64> = (1..=101).collect();
    let (s, body, _) = bulk(&reviewer, &many, "approve", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("at most 100 requests"), "{body}");
    let (s, _, _) = bulk(&reviewer, &[id, 999_999], "approve", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(status(&agent, id).await["status"], "pending");

    // Not signed in, a stale CSRF token, a role that cannot decide.
    let (s, _, _) = bulk(&app.anonymous_browser(), &[id], "approve", "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut forged = app.browser(Role::Reviewer).await;
    forged.csrf = "not-the-token".into();
    let (s, _, _) = bulk(&forged, &[id], "approve", "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let planner = app.browser(Role::Planner).await;
    let (s, _, _) = bulk(&planner, &[id], "approve", "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(status(&agent, id).await["status"], "pending", "nothing was decided");
    assert_eq!(app.count("approval_log").await, 1, "only the request's own log row");
}

async fn tool_form_pending_count_and_pages(app: TestApp) {
    tools(&app).await;
    let agent = app.api(Role::Automation).await;
    ask(&agent, "git_pr").await;
    ask(&agent, "db_write").await;

    // The tool form: tool managers only, numbers checked, a cleared rollback is refused for a
    // mutating tool by the same rules as the API.
    let admin = app.browser(Role::Admin).await;
    let form = |rollback: &'static str, weight: &'static str| {
        vec![
            ("id", "git_pr"),
            ("description", "Opens a PR"),
            ("mutating", "on"),
            ("sensitive", "on"),
            ("required_approvals", "2"),
            ("rollback", rollback),
            ("risk_weight", weight),
        ]
    };
    let mut fields = form("Close PR {item_id}", "2.5");
    fields.push(("csrf", admin.csrf.as_str()));
    let (s, body, location) = admin.call("update_tool", &fields).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(location.as_deref(), Some("/tools?saved=git_pr#tool-git_pr"));
    let (_, tool) = agent.get("/api/tools/git_pr").await;
    assert_eq!(
        (tool["required_approvals"].as_i64(), tool["rollback"].as_str(), tool["risk_weight"].as_f64()),
        (Some(2), Some("Close PR {item_id}"), Some(2.5))
    );
    let mut fields = form("x", "heavy");
    fields.push(("csrf", admin.csrf.as_str()));
    let (s, body, _) = admin.call("update_tool", &fields).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("risk weight must be a number"), "{body}");
    let planner = app.browser(Role::Planner).await;
    let mut fields = form("y", "1");
    fields.push(("csrf", planner.csrf.as_str()));
    let (s, _, _) = planner.call("update_tool", &fields).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(agent.get("/api/tools/git_pr").await.1["rollback"], "Close PR {item_id}", "unchanged");

    // The navigation's count, for anyone signed in; not for strangers.
    let reviewer = app.browser(Role::Reviewer).await;
    let (s, n, _) = reviewer.call("pending_approvals", &[]).await;
    assert_eq!((s, n), (StatusCode::OK, json!(2)));
    let (s, _, _) = app.anonymous_browser().call("pending_approvals", &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Each role starts where its work is; missing records are 404 pages.
    let res = reviewer.http.get(app.url("/")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/approvals"));
    let res = planner.http.get(app.url("/")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/backlog"));
    for path in ["/plans/999999", "/backlog/999999", "/approvals/999999", "/backlog/999999/edit"] {
        let (s, html) = reviewer.page(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("was not found.") && html.contains("Go to your start page"), "{path}: {html}");
    }
    let (s, html) = reviewer.page("/approvals").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("(2) NOFX Control Plane"), "the tab title counts what waits");
    // Only the navigation's link to this very page is the current page; breadcrumbs and the
    // section's link on a page below it are not.
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 1, "{html}");
    assert!(html.contains(r#"<a href="/approvals" aria-current="page""#), "the navigation's Approvals link: {html}");
    let (_, html) = reviewer.page("/approvals/history").await;
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 0, "{html}");
}

/// Pages finish under concurrent load: every response is a whole page with its frame (who is
/// signed in, the pending count), none stalls half-way (leptos-rs/leptos#4851 reports stalls when
/// one resource is read in several Suspense boundaries, as the frame used to be).
async fn pages_finish_under_concurrent_load(app: TestApp) {
    tools(&app).await;
    let agent = app.api(Role::Automation).await;
    for _ in 0..3 {
        ask(&agent, "git_pr").await;
    }
    let reviewer = app.browser(Role::Reviewer).await;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (http, base) = (reviewer.http.clone(), reviewer.base.clone());
        tasks.spawn(async move {
            for round in 0..12 {
                let path = ["/approvals", "/backlog", "/plans", "/packs", "/approvals/history", "/tools"][(worker + round) % 6];
                let load = async {
                    let res = http.get(format!("{base}{path}")).header("accept", "text/html").send().await.unwrap();
                    (res.status(), res.text().await.unwrap())
                };
                let (status, html) = tokio::time::timeout(std::time::Duration::from_secs(20), load)
                    .await
                    .unwrap_or_else(|_| panic!("{path} did not finish within 20 s"));
                assert_eq!(status, StatusCode::OK, "{path}");
                // A whole page: the document and leptos' closing scripts after it.
                assert!(
                    html.contains("</html>") && html.trim_end().ends_with("__INCOMPLETE_CHUNKS=[];</script>"),
                    "{path} is a whole page"
                );
                assert!(
                    html.contains("(3) NOFX Control Plane") && html.contains(r#"data-testid="pending-badge""#),
                    "{path}: the pending count"
                );
                assert!(html.contains(r#"data-testid="whoami""#), "{path}: who is signed in");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

on_both_databases!(
    bulk_decisions_are_all_or_nothing,
    bulk_decisions_refuse_bad_input,
    tool_form_pending_count_and_pages,
    pages_finish_under_concurrent_load
);
