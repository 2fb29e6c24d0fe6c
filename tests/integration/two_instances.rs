//! Two server processes on one PostgreSQL database: workers connected to either instance share
//! one plan's steps, no step runs twice at once, and an event-stream client on one instance sees
//! the step events produced on the other.

use crate::common::binary::{api_key, chains_plan, check_record, free_port, ready, recording_script, start_server, worker};
use crate::common::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_steps_and_events() {
    let Some(db) = crate::common::fresh_postgres().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let admin_key = api_key(&db, "admin");
    let worker_key = api_key(&db, "worker");
    let (p1, p2) = (free_port(), free_port());
    let (one, two) = (format!("http://127.0.0.1:{p1}"), format!("http://127.0.0.1:{p2}"));
    let mut s1 = start_server(&db, p1, &dir.path().join("one.log"));
    let mut s2 = start_server(&db, p2, &dir.path().join("two.log"));
    ready(&one).await;
    ready(&two).await;

    let admin = Api { base: one.clone(), key: Some(admin_key.clone()), http: reqwest::Client::new() };
    let plan = chains_plan(&admin, 30).await;
    let id = plan["id"].as_i64().unwrap();

    // Follow the stream on instance one, from the start.
    let stream =
        reqwest::Client::new().get(format!("{one}/api/events?types=step.succeeded&after=0")).bearer_auth(&admin_key).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    let record = dir.path().join("record");
    let mut w1 = worker(&one, &worker_key, "work", 2, "one", &recording_script(&record, 0.1, "one"));
    let mut w2 = worker(&two, &worker_key, "work", 2, "two", &recording_script(&record, 0.1, "two"));
    // Executed through instance two.
    let on_two = Api { base: two.clone(), key: Some(admin_key), http: reqwest::Client::new() };
    let (s, run) = on_two.post("/api/auto-planner/execute", json!({"plan_id": id})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");

    // Instance one's stream carries every step's success, also those reported to instance two.
    let mut stream = stream;
    let mut buffer = String::new();
    let mut reported_by: Vec<String> = vec![];
    let mut steps = HashSet::new();
    let collect = async {
        while steps.len() < 30 {
            let chunk = stream.chunk().await.unwrap().expect("the stream ended");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                    let e: Value = serde_json::from_str(data.trim()).unwrap();
                    if e["payload"]["plan_id"] == id {
                        steps.insert(e["payload"]["step_id"].as_str().unwrap().to_string());
                        reported_by.push(e["payload"]["worker"].as_str().unwrap().to_string());
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect).await.expect("every step's success reached instance one's stream");
    let run = crate::common::run_reaches(&admin, id, "succeeded").await;
    assert_eq!(run["steps_succeeded"], 30);
    assert!(reported_by.iter().any(|w| w.contains("/one#")), "worker one reported: {reported_by:?}");
    assert!(reported_by.iter().any(|w| w.contains("/two#")), "worker two's reports (to instance two) reached instance one's stream");

    let tokens: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["idempotency_token"].as_str().unwrap()).collect();
    let by_worker = check_record(&std::fs::read_to_string(&record).unwrap(), &tokens);
    assert!(by_worker.get("one").is_some_and(|n| *n > 0) && by_worker.get("two").is_some_and(|n| *n > 0), "{by_worker:?}");
    assert_eq!(by_worker.values().sum::<usize>(), 30, "each step ran once: {by_worker:?}");
    for c in [&mut w1, &mut w2] {
        let _ = c.kill().await;
    }
    for s in [&mut s1, &mut s2] {
        let _ = s.kill();
        let _ = s.wait();
    }
    crate::common::drop_postgres(&db).await;
}
