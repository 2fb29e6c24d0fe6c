//! Crash test with the real binaries: a plan of 30 steps served by `nofx worker`, while the
//! server is killed with SIGKILL at random moments (20 times) and started again each time. At
//! the end the plan has succeeded, every step ran, and no step's token was ever being run by
//! two workers at once (the command records when it starts and ends).

mod common;

use common::Api;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn nofx(db: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nofx"));
    c.env("DATABASE_URL", db).env("FEATURE_AUTO_PLANNER", "on").env("FEATURE_PLANNER_EXECUTE", "on").env("RUST_LOG", "warn");
    c
}

fn start_server(db: &str, port: u16, log: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    nofx(db).args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// Waits until the server answers; returns how long that took.
async fn ready(base: &str) -> Duration {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{base}/api/health")).send().await {
            if r.status() == StatusCode::OK {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not come up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn api_key(db: &str, role: &str) -> String {
    let out = nofx(db).args(["api-key", "create", "--name", role, "--role", role]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_twenty_kills() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nofx.db", dir.path().display());
    let admin_key = api_key(&db, "admin");
    let worker_key = api_key(&db, "worker");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let server_log = dir.path().join("server.log");
    let mut server = start_server(&db, port, &server_log);
    ready(&base).await;

    // 30 items in ten chains of three: 30 steps in three waves.
    let admin = Api { base: base.clone(), key: Some(admin_key), http: reqwest::Client::new() };
    let (s, t) = admin.post("/api/tools", json!({"id": "work", "mutating": true, "rollback": "undo {item_id}"})).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (_, pack) = admin.post("/api/packs", json!({"name": "Crash"})).await;
    let mut ids: Vec<i64> = vec![];
    for i in 0..30 {
        let deps: Vec<i64> = if i % 3 == 0 { vec![] } else { vec![ids[i - 1]] };
        let (s, item) =
            admin.post("/api/items", json!({"pack_id": pack["id"], "title": format!("step {i}"), "tools": ["work"], "depends_on": deps})).await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    let (s, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": ids})).await;
    assert_eq!((s, plan["status"].as_str()), (StatusCode::CREATED, Some("ready")), "{plan}");
    let id = plan["id"].as_i64().unwrap();

    // The worker's command records its start and end (nanoseconds) and appends the token.
    let record = dir.path().join("record");
    let script = format!(
        r#"echo "start $NOFX_IDEMPOTENCY_TOKEN $(date +%s%N)" >> '{r}'; sleep 0.8; echo "end $NOFX_IDEMPOTENCY_TOKEN $(date +%s%N)" >> '{r}'"#,
        r = record.display()
    );
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_nofx"))
        .args(["worker", "--tool", "work", "--concurrency", "2", "--url", &base, "--", "sh", "-c", &script])
        .env("NOFX_TOKEN", &worker_key)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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
    let run = common::run_reaches(&admin, id, "succeeded").await;
    server.kill().unwrap();
    let _ = worker.kill().await;

    assert_eq!(run["steps_succeeded"], 30, "{run}");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut open: HashMap<&str, u128> = HashMap::new();
    let mut intervals: HashMap<&str, Vec<(u128, u128)>> = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (what, token, at) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap().parse::<u128>().unwrap());
        match what {
            "start" => assert!(open.insert(token, at).is_none(), "token {token} started twice at once"),
            _ => intervals.entry(token).or_default().push((open.remove(token).unwrap(), at)),
        }
    }
    let tokens: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["idempotency_token"].as_str().unwrap()).collect();
    for t in &tokens {
        assert!(intervals.contains_key(t), "step with token {t} never ran to its end");
    }
    for (t, runs) in &intervals {
        let mut runs = runs.clone();
        runs.sort();
        for w in runs.windows(2) {
            assert!(w[0].1 <= w[1].0, "token {t} ran twice at once: {w:?}");
        }
    }
    assert!(open.is_empty(), "a command was cut off: {open:?}");
    let slowest = restarts.iter().max().unwrap();
    eprintln!("20 restarts; slowest until it answered: {slowest:?}");
}
