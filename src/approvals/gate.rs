//! `nofx gate`: asks the control plane for approval, waits, and runs the command only when a
//! reviewer approved it. A thin client of the JSON API (the same one Zig Todo and agents use).

use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes when the command does not run.
pub const EXIT_DENIED: u8 = 3;
pub const EXIT_EXPIRED: u8 = 4;
pub const EXIT_ERROR: u8 = 2;

pub struct GateArgs {
    pub url: String,
    pub token: String,
    pub tool: String,
    pub args: Value,
    pub context: Value,
    pub expires_in_s: Option<i64>,
    pub command: Vec<String>,
}

fn api_error(status: reqwest::StatusCode, body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("no message");
    format!("the control plane answered {status}: {message}")
}

pub async fn run(g: GateArgs) -> ExitCode {
    match ask_and_wait(&g).await {
        Ok(decided) => {
            let status = decided["status"].as_str().unwrap_or("").to_string();
            let note = decided["log"].as_array().and_then(|l| l.last()).and_then(|e| e["note"].as_str()).unwrap_or("").to_string();
            let by = decided["decided_by"].as_str().unwrap_or("?").to_string();
            if decided["go_ahead"].as_bool() == Some(true) {
                eprintln!(
                    "nofx gate: {status} by {by}{}; running: {}",
                    if note.is_empty() { String::new() } else { format!(" ({note})") },
                    g.command.join(" ")
                );
                match std::process::Command::new(&g.command[0]).args(&g.command[1..]).status() {
                    Ok(s) => ExitCode::from(s.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(1)),
                    Err(e) => {
                        eprintln!("nofx gate: could not start `{}`: {e}", g.command[0]);
                        ExitCode::from(127)
                    }
                }
            } else if status == "expired" {
                eprintln!("nofx gate: the request expired without a decision; not running the command.");
                ExitCode::from(EXIT_EXPIRED)
            } else {
                eprintln!(
                    "nofx gate: {status} by {by}: {}; not running the command.",
                    if note.is_empty() { "no reason given" } else { &note }
                );
                ExitCode::from(EXIT_DENIED)
            }
        }
        Err(e) => {
            eprintln!("nofx gate: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn ask_and_wait(g: &GateArgs) -> Result<Value, String> {
    let base = g.url.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().map_err(|e| e.to_string())?;
    let mut body = json!({"tool_id": g.tool, "args": g.args, "context": g.context});
    if let Some(s) = g.expires_in_s {
        body["expires_in_s"] = json!(s);
    }
    let res = http
        .post(format!("{base}/api/approvals"))
        .bearer_auth(&g.token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = res.status();
    let created: Value = res.json().await.unwrap_or(Value::Null);
    if status != reqwest::StatusCode::CREATED {
        return Err(api_error(status, &created));
    }
    let id = created["id"].as_i64().ok_or("the control plane returned no request id")?;
    eprintln!("nofx gate: approval #{id} requested for `{}`; waiting for a reviewer at {base}/approvals/{id}", g.tool);
    loop {
        // Long-poll: each call returns the moment it is decided, or after 60 s still pending.
        let res = http.get(format!("{base}/api/approvals/{id}/wait?timeout_s=60")).bearer_auth(&g.token).send().await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                eprintln!("nofx gate: connection problem ({e}); retrying in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(api_error(status, &v));
        }
        if v["status"] != "pending" {
            return Ok(v);
        }
    }
}
