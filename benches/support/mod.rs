//! What the benchmarks share: the tool set they plan with, the server's seeding of it, a bench
//! admin, and the figures' arithmetic. Each bench includes it with `mod support;`.
#![allow(dead_code)] // each bench uses its own part

use nofx::auth::model::{Principal, PrincipalKind, Role};
use std::time::Duration;

/// `(id, mutating, risk weight)`: the NOFX family's tools; `git_pr` and `db_write` are sensitive.
pub const TOOLS: [(&str, bool, f64); 8] = [
    ("codegen", false, 1.0),
    ("bash", false, 2.0),
    ("git_pr", true, 2.0),
    ("db_write", true, 3.0),
    ("gate:unit", false, 0.5),
    ("gate:lint", false, 0.5),
    ("deploy:staging", true, 2.0),
    ("gate:sast", false, 0.5),
];

pub fn sensitive(tool: &str) -> bool {
    tool == "git_pr" || tool == "db_write"
}

/// The rollback recipe of every mutating tool.
pub const ROLLBACK: &str = "Revert {tool} for item {item_id} (token {token})";

/// A signed-in admin, as the services see one.
pub fn admin() -> Principal {
    Principal { kind: PrincipalKind::User, id: 0, name: "bench".into(), role: Role::Admin }
}

/// Registers [`TOOLS`] through the backlog service.
pub async fn seed_tools(state: &nofx::state::AppState, admin: &Principal) {
    for (id, mutating, weight) in TOOLS {
        let input = nofx::backlog::model::ToolInput {
            id: Some(id.into()),
            mutating: Some(mutating),
            sensitive: Some(sensitive(id)),
            required_approvals: sensitive(id).then_some(1),
            rollback: mutating.then(|| ROLLBACK.to_string()),
            risk_weight: Some(weight),
            ..Default::default()
        };
        nofx::backlog::service::create_tool(&state.db, admin, &input).await.unwrap();
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database for one bench run (its name), or `None` with a notice.
pub async fn pg_database() -> Option<String> {
    use sqlx::{Connection, Executor};
    let mut c = match sqlx::PgConnection::connect(PG_ADMIN_URL).await {
        Ok(c) => c,
        Err(e) => {
            println!("  postgres: not measured, cannot reach {PG_ADMIN_URL}: {e}");
            return None;
        }
    };
    let name = format!("nofx_bench_{}_{}", std::process::id(), nofx::storage::now_ms() % 1_000_000);
    c.execute(format!("create database {name}").as_str()).await.unwrap();
    Some(name)
}

pub async fn drop_pg_database(name: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut c) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
        let _ = c.execute(format!("drop database if exists {name} with (force)").as_str()).await;
    }
}

/// The value at quantile `p` of sorted durations, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Seeds 8 tools, 12 packs and `items` items (each depending on up to 3 earlier ones, 2 tools).
pub async fn seed_backlog(state: &nofx::state::AppState, admin: &Principal, items: usize) -> Vec<i64> {
    seed_tools(state, admin).await;
    let mut packs = vec![];
    for p in 0..12 {
        let input = nofx::backlog::model::PackInput { name: Some(format!("pack-{p}")), ..Default::default() };
        packs.push(nofx::backlog::service::create_pack(&state.db, admin, &input).await.unwrap().id);
    }
    let mut ids: Vec<i64> = vec![];
    // Concurrent creates, as many clients would make them; dependencies only on finished ones.
    for chunk in 0..items.div_ceil(100) {
        let known = ids.clone();
        let creates = (0..100).map(|k| {
            let i = chunk * 100 + k;
            let deps: Vec<i64> = known.iter().rev().skip(i % 11).step_by(17).take(3).copied().collect();
            let labels = match i % 10 {
                0 => vec!["prod".to_string()],
                1 => vec!["pii".to_string()],
                _ => vec![],
            };
            let input = nofx::backlog::model::ItemInput {
                pack_id: Some(packs[i % packs.len()]),
                title: Some(format!("Backlog item {i}: migrate the billing exports")),
                description: Some("Generated for the plan endpoint benchmark.".into()),
                tools: Some(vec![TOOLS[i % 4].0.to_string(), TOOLS[4 + (i / 4) % 4].0.to_string()]),
                depends_on: Some(deps),
                labels: Some(labels),
                ..Default::default()
            };
            async move { nofx::backlog::service::create_item(&state.db, admin, &input).await.unwrap().id }
        });
        ids.extend(futures::future::join_all(creates).await);
    }
    ids.sort_unstable();
    ids
}

/// Runs `bench` on SQLite (a scratch file), then on PostgreSQL when it answers; a command-line
/// argument `sqlite` or `postgres` keeps one engine.
pub async fn on_each_database<F: std::future::Future<Output = ()>>(bench: impl Fn(&'static str, String) -> F) {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        bench("sqlite", format!("sqlite://{}/bench.db", dir.path().display())).await;
    }
    if only.as_deref().is_none_or(|o| o == "postgres") {
        if let Some(name) = pg_database().await {
            bench("postgres", format!("postgres://postgres@127.0.0.1:5432/{name}")).await;
            drop_pg_database(&name).await;
        }
    }
}
