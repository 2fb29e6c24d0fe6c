//! Command line: `nofx serve | migrate | user create | api-key create | seed-demo | gate | worker`.

use clap::{Parser, Subcommand};
use std::io::Read;
use std::process::ExitCode;

use crate::auth::model::Role;
use crate::auth::service;
use crate::config::{Config, DEFAULT_DATABASE_URL};
use crate::storage::Db;

#[derive(Parser)]
#[command(name = "nofx", version, about = "NOFX Control Plane: backlog → plans → gates → human approvals")]
struct Cli {
    /// `sqlite://path` (created and migrated on start) or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web app and JSON API (the default when no command is given).
    Serve {
        /// Listen address; defaults to `site-addr` from Leptos.toml / LEPTOS_SITE_ADDR.
        #[arg(long, env = "NOFX_ADDR")]
        addr: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    ApiKey {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load the demo backlog, tools, metrics and demo users (skipped when data exists).
    SeedDemo,
    /// Print a new webhook signing secret (`whsec_…`) for NOFX_WEBHOOK_SECRET or NOFX_ZIG_TODO_SECRET.
    WebhookSecret,
    /// Write brotli and gzip copies of the site's JavaScript, WebAssembly and CSS (run after
    /// `cargo leptos build --release`); the server sends them as they are to browsers that accept them.
    Precompress,
    /// Ask for approval to run a sensitive tool, wait for a reviewer, and run the command only
    /// when approved (exit code of the command; 3 denied, 4 expired, 2 error).
    Gate {
        /// The registered tool that needs approval, e.g. `deploy:prod`.
        #[arg(long)]
        tool: String,
        /// The tool's arguments as JSON, shown to the reviewer.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Context for the reviewer as JSON (why, links).
        #[arg(long, default_value = "{}")]
        context: String,
        /// Seconds the request stays open.
        #[arg(long)]
        expires_in_s: Option<i64>,
        /// The control plane's base URL.
        #[arg(long, env = "NOFX_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        /// An API key with role automation (or admin).
        #[arg(long, env = "NOFX_TOKEN", hide_env_values = true)]
        token: String,
        /// The command to run when approved, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Serve plan steps: claim steps of the given tools, run the command once per step (the step
    /// in NOFX_* variables and as JSON on stdin), heartbeat, and report its exit code and output
    /// (0 succeeded; 75 try again; anything else failed for good).
    Worker {
        /// A tool this worker serves; repeat for several.
        #[arg(long = "tool", required = true)]
        tools: Vec<String>,
        /// Steps run at once.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// This worker's name on the plan page (default: host name and process id).
        #[arg(long)]
        name: Option<String>,
        /// The control plane's base URL.
        #[arg(long, env = "NOFX_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        /// An API key with role worker.
        #[arg(long, env = "NOFX_TOKEN", hide_env_values = true)]
        token: String,
        /// The command to run per step, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key; the key is printed as the last line (only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Days until the key stops working (1–3650); it never expires when left out.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List API keys: name, role, status, created, last used, expiry (never the keys).
    List,
    /// Revoke an API key by name: every request with it is refused from now on.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit trail's hash chain: exit 0 when intact (printing its head, `SEQ:HASH`),
    /// 1 naming the first record that was altered, removed, inserted or reordered.
    Verify {
        /// A head recorded earlier (`SEQ:HASH`, from GET /api/audit/head or a previous run): also
        /// proves that no record up to it was cut off or rewritten.
        #[arg(long, value_parser = parse_head)]
        expect_head: Option<crate::audit::model::Head>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("expected one of: {}", Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")))
}

fn parse_head(s: &str) -> Result<crate::audit::model::Head, String> {
    crate::audit::model::Head::parse(s).ok_or_else(|| "expected SEQ:HASH, e.g. 42:9f86d0… (64 lowercase hex digits)".to_string())
}

/// `at` (epoch ms) as an RFC 3339 time for the command line, `-` when there is none.
fn when(at: Option<i64>) -> String {
    at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_else(|| "-".into())
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_db(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    Ok(db)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve { addr: None }) {
        Command::Serve { addr } => serve(cli.database_url, addr).await.map(|_| ExitCode::SUCCESS),
        Command::Migrate => {
            open_db(&cli.database_url).await?;
            println!("migrations applied to {}", crate::storage::redact(&cli.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command: UserCommand::Create { username, role } } => {
            let db = open_db(&cli.database_url).await?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            let id = service::create_user(&db, &username, password, role).await.map_err(|e| anyhow::anyhow!(e.message))?;
            println!("created user {username} (id {id}, role {role})");
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiKey { command: KeyCommand::Create { name, role, expires_in_days } } => {
            let db = open_db(&cli.database_url).await?;
            let expires_at =
                crate::auth::keys::expiry(expires_in_days, crate::storage::now_ms()).map_err(|e| anyhow::anyhow!(e.message))?;
            let by = crate::audit::Actor::cli();
            let (id, key) = service::create_key(&db, &by, &name, role, expires_at).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let until = expires_at.map(|at| format!(", expires {}", when(Some(at)))).unwrap_or_default();
            println!("created API key {name} (id {id}, role {role}{until}); it is shown once, store it now:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiKey { command: KeyCommand::List } => {
            let db = open_db(&cli.database_url).await?;
            let keys = crate::auth::keys::all(&db).await.map_err(|e| anyhow::anyhow!(e.message))?;
            println!(
                "{:<6} {:<24} {:<11} {:<8} {:<13} {:<21} {:<21} EXPIRES",
                "ID", "NAME", "ROLE", "STATUS", "PREFIX", "CREATED", "LAST USED"
            );
            for k in keys {
                println!(
                    "{:<6} {:<24} {:<11} {:<8} {:<13} {:<21} {:<21} {}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.status.as_str(),
                    k.prefix,
                    when(Some(k.created_at)),
                    when(k.last_used_at),
                    when(k.expires_at)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ApiKey { command: KeyCommand::Revoke { name } } => {
            let db = open_db(&cli.database_url).await?;
            let k = crate::auth::keys::revoke_named(&db, &name).await.map_err(|e| anyhow::anyhow!(e.message))?;
            println!("revoked API key {} (id {}, role {}); requests with it are refused from now on", k.name, k.id, k.role);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { expect_head } } => {
            let db = open_db(&cli.database_url).await?;
            let started = std::time::Instant::now();
            let status = crate::audit::store::verify(&db, expect_head.as_ref()).await?;
            let took = started.elapsed().as_secs_f64();
            match &status.broken {
                None => {
                    println!("audit trail intact: {} records up to record {} ({took:.2} s)", status.records, status.head.seq);
                    if let Some(h) = &expect_head {
                        println!("it holds the recorded head {h}");
                    }
                    println!("head {}", status.head);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    eprintln!("audit trail BROKEN: {}", b.describe());
                    eprintln!("intact up to record {} (head {})", status.head.seq, status.head);
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Gate { tool, args, context, expires_in_s, url, token, command } => {
            let parse = |what: &str, v: &str| {
                serde_json::from_str::<serde_json::Value>(v).map_err(|e| anyhow::anyhow!("--{what} is not valid JSON: {e}"))
            };
            let g = crate::approvals::gate::GateArgs {
                url,
                token,
                tool,
                args: parse("args", &args)?,
                context: parse("context", &context)?,
                expires_in_s,
                command,
            };
            Ok(crate::approvals::gate::run(g).await)
        }
        Command::Worker { tools, concurrency, name, url, token, command } => {
            let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "worker".into());
            let w = crate::execution::worker::WorkerArgs {
                url,
                token,
                tools,
                concurrency: concurrency as usize,
                name: name.unwrap_or_else(|| format!("{host}/{}", std::process::id())),
                command,
            };
            Ok(crate::execution::worker::run(w).await)
        }
        Command::Precompress => {
            let options = crate::server::leptos_options()?;
            let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
            for f in crate::http::assets::precompress(&dir)? {
                println!("{}: {} KB raw, {} KB brotli, {} KB gzip", f.path.display(), f.raw / 1024, f.brotli / 1024, f.gzip / 1024);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::WebhookSecret => {
            println!("{}", crate::webhooks::signature::Secret::generate());
            Ok(ExitCode::SUCCESS)
        }
        Command::SeedDemo => {
            let db = open_db(&cli.database_url).await?;
            let report = crate::demo::seed(&db).await.map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{report}");
            db.close().await;
            // Approvals go through the approval service (log, events), which needs the app state.
            let config = crate::config::Config::from_env(cli.database_url.clone())?;
            let options = leptos::config::LeptosOptions::builder().output_name("nofx").build();
            let state = crate::server::prepare(config, options).await?;
            println!("{}", crate::demo::seed_approvals(&state).await.map_err(|e| anyhow::anyhow!(e.message))?);
            println!("{}", crate::demo::seed_run(&state).await.map_err(|e| anyhow::anyhow!(e.message))?);
            println!("{}", crate::demo::seed_comparison(&state).await.map_err(|e| anyhow::anyhow!(e.message))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(database_url: String, addr: Option<String>) -> anyhow::Result<()> {
    let mut options = crate::server::leptos_options()?;
    if let Some(addr) = addr {
        options.site_addr = addr.parse().map_err(|_| anyhow::anyhow!("--addr must look like 127.0.0.1:3000, got `{addr}`"))?;
    }
    let config = Config::from_env(database_url)?;
    tracing::info!(?config, "starting");
    let state = crate::server::prepare(config, options.clone()).await?;
    let flags = state.config.flags;
    let limits = state.config.limits;
    let app = crate::server::app(state);
    let listener = tokio::net::TcpListener::bind(options.site_addr).await?;
    let addr = listener.local_addr()?;
    println!("NOFX Control Plane listening on http://{addr}");
    println!(
        "feature flags: FEATURE_AUTO_PLANNER={} FEATURE_PLANNER_EXECUTE={}",
        if flags.auto_planner { "on" } else { "off" },
        if flags.planner_execute { "on" } else { "off" }
    );
    crate::server::serve(listener, app, limits, shutdown_signal()).await?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
