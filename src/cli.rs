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
    /// Load the demo backlog, tools, metrics and demo users (skipped when data exists).
    SeedDemo,
    /// Print a new webhook signing secret (`whsec_…`) for NOFX_WEBHOOK_SECRET or NOFX_ZIG_TODO_SECRET.
    WebhookSecret,
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
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected one of: viewer, planner, reviewer, automation, worker, admin".to_string())
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
        Command::ApiKey { command: KeyCommand::Create { name, role } } => {
            let db = open_db(&cli.database_url).await?;
            let (id, key) = service::create_api_key(&db, &name, role).await.map_err(|e| anyhow::anyhow!(e.message))?;
            println!("created API key {name} (id {id}, role {role}); it is shown once, store it now:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
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
