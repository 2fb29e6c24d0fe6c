//! Crash test with the real binaries: a plan of 30 steps served by `nofx worker`, while the
//! server is killed with SIGKILL at random moments (20 times) and started again each time. At
//! the end the plan has succeeded, every step ran, and no step's token was ever being run by
//! two workers at once (the command records when it starts and ends).

use crate::common::binary::{api_key, chains_plan, check_record, free_port, ready, recording_script, start_server};
use crate::common::Api;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_twenty_kills() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nofx.db", dir.path().display());
    let admin_key = api_key(&db, "admin");
    let worker_key = api_key(&db, "worker");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server_log = dir.path().join("server.log");
    let mut server = start_server(&db, port, &server_log);
    ready(&base).await;

    let admin = Api { base: base.clone(), key: Some(admin_key), http: reqwest::Client::new() };
    let plan = chains_plan(&admin, 30).await;
    let id = plan["id"].as_i64().unwrap();

    // The worker's command records when it starts and ends each step.
    let record = dir.path().join("record");
    let script = recording_script(&record, 0.8, "w");
    let mut worker = crate::common::binary::worker(&base, &worker_key, "work", 2, "crash", &script);
    let (s, run) = admin.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");

    let mut restarts = vec![];
    let mut mid_run = 0;
    for _ in 0..20 {
        let pause = rand::thread_rng().gen_range(50..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.kill().unwrap();
        server.wait().unwrap();
        server = start_server(&db, port, &server_log);
        restarts.push(ready(&base).await);
        let (_, now) = admin.get(&format!("/api/plans/{id}/run")).await;
        mid_run += usize::from(now["status"] == "running");
    }
    assert_eq!(mid_run, 20, "every kill hit the plan while it ran");
    let run = crate::common::run_reaches(&admin, id, "succeeded").await;
    server.kill().unwrap();
    let _ = worker.kill().await;

    assert_eq!(run["steps_succeeded"], 30, "{run}");
    let tokens: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["idempotency_token"].as_str().unwrap()).collect();
    check_record(&std::fs::read_to_string(&record).unwrap(), &tokens);
    let slowest = restarts.iter().max().unwrap();
    eprintln!("20 restarts; slowest until it answered: {slowest:?}");
}
