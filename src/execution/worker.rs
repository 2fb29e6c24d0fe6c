//! `nofx worker`: turns any command into a worker. It claims steps of its tools over the JSON
//! API (long-poll), runs the command once per step with the step in its environment and on
//! stdin, heartbeats while it runs, and reports the exit code and the tail of the output. A
//! thin client of the same API every worker uses (docs/api.md).
//!
//! The command's exit code decides the report: 0 completes the step; 75 (`EX_TEMPFAIL`) or a
//! death by signal fails it as retryable (another attempt follows while attempts are left); any
//! other code fails it for good (the plan stops and rolls back). While the server is unreachable
//! the worker retries with backoff, so restarting the server never requires restarting workers.
//! Ctrl-C (or SIGTERM) stops it cleanly: running commands are killed and their steps released.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Exit code a command uses to ask for another attempt (sysexits' `EX_TEMPFAIL`).
pub const EXIT_RETRY: i32 = 75;
/// Output kept per step (the tail) and sent with heartbeats and the report.
const TAIL_BYTES: usize = 16 * 1024;

pub struct WorkerArgs {
    pub url: String,
    pub token: String,
    pub tools: Vec<String>,
    pub concurrency: usize,
    pub name: String,
    pub command: Vec<String>,
}

#[derive(Clone)]
struct Ctx {
    base: String,
    token: String,
    tools: Vec<String>,
    name: String,
    command: Arc<Vec<String>>,
    http: reqwest::Client,
    stop: watch::Receiver<bool>,
}

pub async fn run(w: WorkerArgs) -> ExitCode {
    let http = match reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("nofx worker: {e}");
            return ExitCode::from(2);
        }
    };
    let (stop_tx, stop) = watch::channel(false);
    let ctx = Ctx {
        base: w.url.trim_end_matches('/').to_string(),
        token: w.token,
        tools: w.tools,
        name: w.name,
        command: Arc::new(w.command),
        http,
        stop,
    };
    eprintln!(
        "nofx worker {}: serving {} at {} with {} slot{}",
        ctx.name,
        ctx.tools.join(", "),
        ctx.base,
        w.concurrency,
        if w.concurrency == 1 { "" } else { "s" }
    );
    let slots: Vec<_> = (0..w.concurrency.max(1)).map(|n| tokio::spawn(slot(ctx.clone(), n))).collect();
    let signal = tokio::spawn(async move {
        crate::cli::shutdown_signal().await;
        eprintln!("nofx worker: stopping; running steps are released");
        let _ = stop_tx.send(true);
    });
    let mut code = ExitCode::SUCCESS;
    for s in slots {
        if let Ok(Err(message)) = s.await {
            eprintln!("nofx worker: {message}");
            code = ExitCode::from(2);
        }
    }
    signal.abort();
    code
}

/// Resolves once the worker is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn stopping(ctx: &Ctx) -> bool {
    *ctx.stop.borrow()
}

/// Waits `d`, or less when the worker is told to stop.
async fn pause(ctx: &Ctx, d: Duration) {
    let mut stop = ctx.stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stopped(&mut stop) => {}
    }
}

/// One slot: claims and runs one step at a time until told to stop. `Err` for a configuration
/// problem no retry fixes (a refused key, a tool the server rejects).
async fn slot(ctx: Ctx, n: usize) -> Result<(), String> {
    let mut backoff = Duration::from_millis(250);
    let label = format!("{}#{n}", ctx.name);
    while !stopping(&ctx) {
        let req = ctx
            .http
            .post(format!("{}/api/worker/claim", ctx.base))
            .bearer_auth(&ctx.token)
            .timeout(Duration::from_secs(40))
            .json(&json!({"tools": ctx.tools, "worker": label, "wait_s": 30}));
        let mut stop = ctx.stop.clone();
        let res = tokio::select! {
            r = req.send() => r,
            _ = stopped(&mut stop) => return Ok(()),
        };
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                eprintln!("nofx worker: cannot reach {} ({e}); retrying in {:.1} s", ctx.base, backoff.as_secs_f64());
                pause(&ctx, backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let status = res.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            backoff = Duration::from_millis(250);
            continue;
        }
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_client_error() {
            return Err(format!(
                "the control plane refused to give out steps ({status}): {}",
                body["message"].as_str().unwrap_or("no message")
            ));
        }
        if !status.is_success() {
            eprintln!("nofx worker: the control plane answered {status}; retrying in {:.1} s", backoff.as_secs_f64());
            pause(&ctx, backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
            continue;
        }
        backoff = Duration::from_millis(250);
        run_job(&ctx, body).await;
    }
    Ok(())
}

/// The last `TAIL_BYTES` of what the command wrote (stdout and stderr, interleaved as read).
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<u8>>>);

impl Tail {
    fn push(&self, bytes: &[u8]) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        t.extend(bytes);
        let extra = t.len().saturating_sub(TAIL_BYTES);
        t.drain(..extra);
    }

    fn text(&self) -> String {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>()).into_owned()
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, tail: Tail, mut echo: impl tokio::io::AsyncWrite + Unpin) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.push(&buf[..n]);
        let _ = echo.write_all(&buf[..n]).await;
    }
}

/// How the command ended.
enum Outcome {
    Exited(Option<i32>),
    /// Killed: the plan stopped or the lease was lost.
    Stopped,
    /// Killed: the worker is shutting down.
    ShuttingDown,
    CouldNotStart(String),
}

async fn run_job(ctx: &Ctx, job: Value) {
    let step =
        format!("plan {} step {} ({})", job["plan_id"], job["step_id"].as_str().unwrap_or("?"), job["job"].as_str().unwrap_or("run"));
    eprintln!("nofx worker: {step}: attempt {} starting", job["attempt"]);
    let link = |what: &str| format!("{}{}", ctx.base, job["links"][what].as_str().unwrap_or(""));
    let fence = job["fence"].as_i64().unwrap_or(0);
    let beat_every = Duration::from_millis(job["heartbeat_interval_ms"].as_u64().unwrap_or(10_000).max(200));
    let tail = Tail::default();

    let text = |k: &str| job[k].as_str().map(String::from).unwrap_or_else(|| job[k].to_string());
    let mut command = tokio::process::Command::new(&ctx.command[0]);
    command
        .args(&ctx.command[1..])
        .env("NOFX_PLAN_ID", text("plan_id"))
        .env("NOFX_STEP_ID", text("step_id"))
        .env("NOFX_JOB", text("job"))
        .env("NOFX_TOOL", text("tool"))
        .env("NOFX_IDEMPOTENCY_TOKEN", text("idempotency_token"))
        .env("NOFX_ATTEMPT", text("attempt"))
        .env("NOFX_ITEM_ID", job["item"]["id"].to_string())
        .env("NOFX_ITEM_TITLE", job["item"]["title"].as_str().unwrap_or(""))
        .env("NOFX_PACK_ID", job["item"]["pack_id"].to_string())
        .env("NOFX_ROLLBACK", job["rollback"].as_str().unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so stopping it also stops what it started (`sh -c`'s children).
    #[cfg(unix)]
    command.process_group(0);
    let outcome = match command.spawn() {
        Err(e) => Outcome::CouldNotStart(format!("could not start `{}`: {e}", ctx.command[0])),
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                let doc = job.to_string();
                tokio::spawn(async move {
                    let _ = stdin.write_all(doc.as_bytes()).await;
                });
            }
            let out = child.stdout.take().map(|o| tokio::spawn(pump(o, tail.clone(), tokio::io::stdout())));
            let err = child.stderr.take().map(|e| tokio::spawn(pump(e, tail.clone(), tokio::io::stderr())));
            let mut stop = ctx.stop.clone();
            let mut beat = tokio::time::interval(beat_every);
            beat.tick().await;
            let outcome = loop {
                tokio::select! {
                    status = child.wait() => break Outcome::Exited(status.ok().and_then(|s| s.code())),
                    _ = stopped(&mut stop) => {
                        kill_tree(&mut child).await;
                        break Outcome::ShuttingDown;
                    }
                    _ = beat.tick() => {
                        let res = ctx.http.post(link("heartbeat")).bearer_auth(&ctx.token).timeout(Duration::from_secs(10))
                            .json(&json!({"fence": fence, "output": tail.text()})).send().await;
                        match res {
                            Ok(r) if r.status().is_success() => {
                                let v: Value = r.json().await.unwrap_or(Value::Null);
                                if v["stop"] == true {
                                    eprintln!("nofx worker: {step}: the plan stopped; ending the command");
                                    kill_tree(&mut child).await;
                                    break Outcome::Stopped;
                                }
                            }
                            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                                eprintln!("nofx worker: {step}: the lease is no longer ours; ending the command");
                                kill_tree(&mut child).await;
                                break Outcome::Stopped;
                            }
                            // Unreachable or busy: keep working; the next beat may get through.
                            _ => {}
                        }
                    }
                }
            };
            for p in [out, err].into_iter().flatten() {
                // A grandchild that outlived the command may hold the pipes open: do not wait on it.
                let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
            }
            outcome
        }
    };
    let (what, body) = match outcome {
        Outcome::Exited(Some(0)) => ("complete", json!({"fence": fence, "exit_code": 0, "output": tail.text()})),
        Outcome::Exited(code) => {
            let retryable = code.is_none_or(|c| c == EXIT_RETRY);
            let error = match code {
                Some(c) => format!("`{}` exited with code {c}", ctx.command.join(" ")),
                None => format!("`{}` was killed by a signal", ctx.command.join(" ")),
            };
            ("fail", json!({"fence": fence, "exit_code": code, "error": error, "retryable": retryable, "output": tail.text()}))
        }
        Outcome::Stopped => (
            "fail",
            json!({"fence": fence, "error": "stopped: the plan stopped or the lease was lost", "retryable": false, "output": tail.text()}),
        ),
        Outcome::ShuttingDown => ("release", json!({"fence": fence, "output": tail.text()})),
        Outcome::CouldNotStart(e) => ("fail", json!({"fence": fence, "error": e, "retryable": false})),
    };
    deliver(ctx, &step, &link(what), what, &body, job["lease_expires_at"].as_i64().unwrap_or(0)).await;
}

/// Kills the command and its process group.
async fn kill_tree(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status().await;
    }
    let _ = child.kill().await;
}

/// Sends a report, retrying while the server is unreachable (until the lease would have run
/// out anyway: then the step is re-queued by the server).
async fn deliver(ctx: &Ctx, step: &str, url: &str, what: &str, body: &Value, lease_expires_at: i64) {
    let mut backoff = Duration::from_millis(250);
    // A release is sent while shutting down: a few seconds, then the lease's expiry does it.
    let patience = if what == "release" { 5_000 } else { (lease_expires_at - crate::storage::now_ms()).clamp(5_000, 600_000) };
    let give_up = tokio::time::Instant::now() + Duration::from_millis(patience as u64);
    loop {
        match ctx.http.post(url).bearer_auth(&ctx.token).timeout(Duration::from_secs(10)).json(body).send().await {
            Ok(r) if r.status().is_success() => {
                eprintln!("nofx worker: {step}: {what} reported");
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                eprintln!("nofx worker: {step}: {what} refused: {}", v["message"].as_str().unwrap_or("no message"));
                return;
            }
            Ok(r) => eprintln!("nofx worker: {step}: the control plane answered {}; retrying", r.status()),
            Err(e) => eprintln!("nofx worker: {step}: cannot reach the control plane ({e}); retrying"),
        }
        if tokio::time::Instant::now() >= give_up {
            eprintln!("nofx worker: {step}: giving up on the {what} report; the server will re-queue the step");
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
