//! `nofx worker` end to end: the real binary serving a real server (SQLite). It runs the command
//! once per step with the step in its environment and on stdin, reports exit codes (0 done, 75
//! try again, others failed for good, so the plan rolls back), and on Ctrl-C releases its step.

use crate::common::{plan_of, run_reaches, TestApp};
use nofx::auth::model::Role;
use nofx::storage::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

fn worker(app: &TestApp, token: &str, tool: &str, script: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nofx"))
        .args(["worker", "--tool", tool, "--concurrency", "2", "--name", "test-worker", "--url", &app.base, "--", "sh", "-c", script])
        .env("NOFX_TOKEN", token)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_runs_each_step_with_its_token() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let plan = plan_of(&app, &[json!({"id": "build"})], &[("a", &["build"], &[]), ("b", &["build"], &[0]), ("c", &["build"], &[])]).await;
    let id = plan["id"].as_i64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tokens");
    let script = format!(
        r#"echo "$NOFX_STEP_ID $NOFX_IDEMPOTENCY_TOKEN $NOFX_JOB $NOFX_ITEM_ID" >> '{log}'; cat > '{dir}/stdin-'"$NOFX_STEP_ID"; echo "built $NOFX_ITEM_TITLE""#,
        log = log.display(),
        dir = dir.path().display()
    );
    let child = worker(&app, &app.key(Role::Worker).await, "build", &script);
    let planner = app.api(Role::Planner).await;
    let (s, _) = planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let run = run_reaches(&planner, id, "succeeded").await;

    let lines = std::fs::read_to_string(&log).unwrap();
    let mut seen: Vec<&str> = lines.lines().collect();
    seen.sort();
    let mut expected: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {} run {}", s["id"].as_str().unwrap(), s["idempotency_token"].as_str().unwrap(), s["backlog_item_id"]))
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "each step ran once, with its own token and item");
    let first = plan["steps"][0]["id"].as_str().unwrap();
    let stdin: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("stdin-{first}"))).unwrap()).unwrap();
    assert_eq!(stdin["step_id"], first, "the job arrives on stdin as JSON");
    assert_eq!(stdin["plan_id"], id);
    let step = run["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == first).unwrap();
    assert!(step["output"].as_str().unwrap().starts_with("built "), "the output's tail is reported: {step}");
    assert!(run["attempts"].as_array().unwrap().iter().all(|a| a["worker"].as_str().unwrap().contains("/test-worker#")));

    // Ctrl-C: the worker stops cleanly.
    interrupt(&child);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_decide_retry_and_rollback() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let plan = plan_of(
        &app,
        &[json!({"id": "migrate", "mutating": true, "rollback": "down {item_id}"}), json!({"id": "flaky"})],
        &[("one", &["migrate"], &[]), ("two", &["flaky"], &[0])],
    )
    .await;
    let id = plan["id"].as_i64().unwrap();
    let (migrate, flaky) = (plan["waves"][0][0].as_str().unwrap().to_string(), plan["waves"][1][0].as_str().unwrap().to_string());
    let token = app.key(Role::Worker).await;
    // `migrate` succeeds and its rollback succeeds; `flaky` asks for another attempt, then fails for good.
    let migrator = worker(&app, &token, "migrate", r#"echo "$NOFX_JOB $NOFX_ROLLBACK""#);
    let flaky_worker = worker(&app, &token, "flaky", r#"if [ "$NOFX_ATTEMPT" = 1 ]; then exit 75; else echo broken >&2; exit 3; fi"#);
    let planner = app.api(Role::Planner).await;
    planner.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    let run = run_reaches(&planner, id, "rolled_back").await;
    let step = |sid: &str| run["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == sid).unwrap().clone();
    assert_eq!(step(&flaky)["state"], "failed");
    assert_eq!(step(&flaky)["attempt"], 2, "exit 75 asked for a second attempt, exit 3 ended it");
    assert!(step(&flaky)["error"].as_str().unwrap().contains("exited with code 3"), "{run}");
    assert!(step(&flaky)["output"].as_str().unwrap().contains("broken"));
    assert_eq!(step(&migrate)["state"], "compensated");
    assert_eq!(step(&migrate)["output"], format!("rollback down {}\n", plan["steps"][0]["backlog_item_id"]));

    // Ctrl-C while a command runs: it is killed and the step released (the attempt not counted).
    let plan2 = plan_of(&app, &[json!({"id": "slow"})], &[("slow", &["slow"], &[])]).await;
    let id2 = plan2["id"].as_i64().unwrap();
    let slow = worker(&app, &token, "slow", "sleep 30");
    planner.post("/api/auto-planner/execute", json!({"plan_id": id2})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, run) = planner.get(&format!("/api/plans/{id2}/run")).await;
        if run["steps"][0]["state"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slow step never started: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    interrupt(&slow);
    let out = tokio::time::timeout(Duration::from_secs(20), slow.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success());
    let (_, run) = planner.get(&format!("/api/plans/{id2}/run")).await;
    assert_eq!(run["steps"][0]["state"], "claimable", "released: {run}");
    assert_eq!(run["steps"][0]["attempt"], 0);
    assert_eq!(run["attempts"][0]["outcome"], "released");
    for mut c in [migrator, flaky_worker] {
        let _ = c.kill().await;
    }
}
