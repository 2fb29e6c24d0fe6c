//! The real `nofx` binary as a test's server or CLI: started, killed and started again.

use reqwest::StatusCode;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `nofx` with `DATABASE_URL` and both feature flags on.
pub fn nofx(db: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nofx"));
    c.env("DATABASE_URL", db).env("FEATURE_AUTO_PLANNER", "on").env("FEATURE_PLANNER_EXECUTE", "on").env("RUST_LOG", "warn");
    c
}

/// `nofx serve` on `port`, its log appended to `log`.
pub fn start_server(db: &str, port: u16, log: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    nofx(db).args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the server at `base` answers; returns how long that took (reported, never
/// asserted). A server that never answers fails the test after 30 s instead of hanging it.
pub async fn ready(base: &str) -> Duration {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let answered = async {
        loop {
            if let Ok(r) = http.get(format!("{base}/api/health")).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), answered).await.is_err() {
        panic!("the server at {base} did not come up");
    }
    started.elapsed()
}

/// A new API key with `role` (named after it), made with `nofx api-key create`.
pub fn api_key(db: &str, role: &str) -> String {
    let out = nofx(db).args(["api-key", "create", "--name", role, "--role", role]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_string()
}

/// `nofx worker` serving `tool` at `base`, running `sh -c script`.
pub fn worker(base: &str, token: &str, tool: &str, concurrency: u32, name: &str, script: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_nofx"))
        .args([
            "worker",
            "--tool",
            tool,
            "--concurrency",
            &concurrency.to_string(),
            "--name",
            name,
            "--url",
            base,
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("NOFX_TOKEN", token)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Registers the mutating tool `work`, and plans `n` items in chains of three (item `i` depends
/// on `i − 1` unless `i` is a multiple of 3): `n` steps in three waves. Returns the plan.
pub async fn chains_plan(admin: &super::Api, n: usize) -> serde_json::Value {
    use serde_json::json;
    let (s, t) = admin.post("/api/tools", json!({"id": "work", "mutating": true, "rollback": "undo {item_id}"})).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (_, pack) = admin.post("/api/packs", json!({"name": "Chains"})).await;
    let mut ids: Vec<i64> = vec![];
    for i in 0..n {
        let deps: Vec<i64> = if i % 3 == 0 { vec![] } else { vec![ids[i - 1]] };
        let (s, item) = admin
            .post("/api/items", json!({"pack_id": pack["id"], "title": format!("step {i}"), "tools": ["work"], "depends_on": deps}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
        ids.push(item["id"].as_i64().unwrap());
    }
    let (s, plan) = admin.post("/api/auto-planner/plan", json!({"item_ids": ids})).await;
    assert_eq!((s, plan["status"].as_str()), (StatusCode::CREATED, Some("ready")), "{plan}");
    plan
}

/// A worker script that records, in `record`, when it starts and ends each step (`start|end
/// TOKEN NANOS WORKER`), sleeping `seconds` in between.
pub fn recording_script(record: &Path, seconds: f64, worker: &str) -> String {
    format!(
        r#"echo "start $NOFX_IDEMPOTENCY_TOKEN $(date +%s%N) {worker}" >> '{r}'; sleep {seconds}; echo "end $NOFX_IDEMPOTENCY_TOKEN $(date +%s%N) {worker}" >> '{r}'"#,
        r = record.display()
    )
}

/// Checks a record: every one of `tokens` ran to its end, and no token's runs overlapped.
/// Returns how many runs each worker finished.
pub fn check_record(text: &str, tokens: &[&str]) -> std::collections::HashMap<String, usize> {
    use std::collections::HashMap;
    let mut open: HashMap<&str, u128> = HashMap::new();
    let mut runs: HashMap<&str, Vec<(u128, u128)>> = HashMap::new();
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let (token, at) = (parts[1], parts[2].parse::<u128>().unwrap());
        if parts[0] == "start" {
            assert!(open.insert(token, at).is_none(), "token {token} started again while it ran");
        } else {
            runs.entry(token).or_default().push((open.remove(token).unwrap(), at));
            *by_worker.entry(parts[3].to_string()).or_default() += 1;
        }
    }
    assert!(open.is_empty(), "a command was cut off: {open:?}");
    for t in tokens {
        assert!(runs.contains_key(t), "the step with token {t} never ran to its end");
    }
    for (t, r) in &mut runs {
        r.sort();
        for w in r.windows(2) {
            assert!(w[0].1 <= w[1].0, "token {t} ran twice at once: {w:?}");
        }
    }
    by_worker
}
