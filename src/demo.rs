//! `nofx seed-demo`: a realistic demo backlog (4 packs, 30 items with dependencies, the NOFX tool
//! set with recorded runs, labels such as `pii` and `prod`) and three demo users.

use std::collections::HashMap;

use crate::auth::model::{Principal, PrincipalKind, Role};
use crate::auth::service;
use crate::backlog::model::*;
use crate::backlog::{service as backlog, store};
use crate::error::{AppResult, ErrorCode};
use crate::storage::{now_ms, Db};

/// Demo accounts; printed by `scripts/run`. Never use these outside a demo.
pub const DEMO_USERS: [(&str, &str, Role); 3] = [
    ("admin", "nofx-admin-demo", Role::Admin),
    ("planner", "nofx-planner-demo", Role::Planner),
    ("reviewer", "nofx-reviewer-demo", Role::Reviewer),
];

// (id, description, sensitive, approvals, mutating, rollback, risk weight, typical ms, typical usd)
type ToolRow = (&'static str, &'static str, bool, i64, bool, Option<&'static str>, f64, i64, f64);
const TOOLS: &[ToolRow] = &[
    ("codegen", "LLM code generation in an isolated branch", false, 0, false, None, 1.0, 95_000, 0.42),
    (
        "bash",
        "Shell commands in the agent sandbox",
        false,
        0,
        true,
        Some("Run the inverse commands recorded in the step log of {tool} for item #{item_id}"),
        2.0,
        12_000,
        0.0,
    ),
    (
        "git_pr",
        "Open a pull request",
        true,
        1,
        true,
        Some("Close the pull request for “{item_title}” and delete branch nofx/{item_id}-{token}"),
        1.5,
        8_000,
        0.0,
    ),
    (
        "db_write",
        "Update or delete rows in a database",
        true,
        1,
        true,
        Some("Restore the affected rows from the snapshot taken before step {token}"),
        3.0,
        4_000,
        0.01,
    ),
    (
        "db_migrate",
        "Apply a schema migration",
        true,
        2,
        true,
        Some("Apply the down migration generated for item #{item_id} ({pack})"),
        4.0,
        45_000,
        0.02,
    ),
    ("deploy:staging", "Deploy to staging", false, 0, true, Some("Redeploy the previous staging release"), 2.0, 180_000, 0.05),
    ("deploy:prod", "Deploy to production", true, 2, true, Some("Roll production back to the previous release tag"), 5.0, 420_000, 0.15),
    ("cache:purge", "Purge the CDN cache", false, 0, true, None, 1.5, 30_000, 0.0),
    ("manual:review", "A human reviews the change", true, 1, false, None, 0.5, 1_800_000, 0.0),
    ("gate:typecheck", "Type check", false, 0, false, None, 0.2, 40_000, 0.003),
    ("gate:lint", "Linters", false, 0, false, None, 0.2, 25_000, 0.002),
    ("gate:unit", "Unit tests", false, 0, false, None, 0.2, 140_000, 0.01),
    ("gate:sast", "Static application security testing", false, 0, false, None, 0.3, 210_000, 0.02),
    ("gate:secrets", "Secret scanning", false, 0, false, None, 0.2, 15_000, 0.001),
];

const PACKS: &[(&str, &str, &str)] = &[
    ("core-platform", "Core Platform", "Shared services: auth, API gateway, observability."),
    ("billing", "Billing", "Invoices, payments and the revenue ledger."),
    ("data-privacy", "Data & Privacy", "PII handling, retention and data subject requests."),
    ("release", "Release Engineering", "Pipelines, environments and rollouts."),
];

// (key, pack slug, title, tools, labels, risk, minutes, status, depends on keys)
type ItemRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Risk,
    i64,
    ItemStatus,
    &'static [&'static str],
);
const ITEMS: &[ItemRow] = &[
    (
        "otel",
        "core-platform",
        "Add OpenTelemetry tracing to the API gateway",
        &["codegen", "gate:typecheck", "gate:unit", "git_pr"],
        &[],
        Risk::Low,
        180,
        ItemStatus::Done,
        &[],
    ),
    (
        "ratelimit",
        "core-platform",
        "Per-tenant rate limiting at the gateway",
        &["codegen", "gate:unit", "git_pr"],
        &["prod"],
        Risk::Medium,
        240,
        ItemStatus::InProgress,
        &["otel"],
    ),
    (
        "authz",
        "core-platform",
        "Move authorisation checks into one policy module",
        &["codegen", "gate:typecheck", "gate:unit", "gate:sast", "git_pr"],
        &["security"],
        Risk::Medium,
        480,
        ItemStatus::Todo,
        &[],
    ),
    (
        "sessions",
        "core-platform",
        "Rotate session signing keys without logouts",
        &["codegen", "gate:unit", "gate:secrets", "git_pr"],
        &["security"],
        Risk::High,
        300,
        ItemStatus::Todo,
        &["authz"],
    ),
    (
        "healthz",
        "core-platform",
        "Deep health checks for every service",
        &["codegen", "gate:unit", "git_pr"],
        &[],
        Risk::Low,
        90,
        ItemStatus::Todo,
        &["otel"],
    ),
    (
        "slo",
        "core-platform",
        "SLO dashboards and burn-rate alerts",
        &["codegen", "bash", "git_pr"],
        &["prod"],
        Risk::Low,
        120,
        ItemStatus::Todo,
        &["otel", "healthz"],
    ),
    (
        "gw-deploy",
        "core-platform",
        "Roll the new gateway out to production",
        &["deploy:staging", "manual:review", "deploy:prod"],
        &["prod"],
        Risk::High,
        60,
        ItemStatus::Todo,
        &["ratelimit", "sessions", "rel-canary"],
    ),
    (
        "inv-schema",
        "billing",
        "Invoice line items table with tax breakdown",
        &["codegen", "db_migrate", "gate:unit", "git_pr"],
        &[],
        Risk::Medium,
        240,
        ItemStatus::Todo,
        &[],
    ),
    (
        "inv-backfill",
        "billing",
        "Backfill tax breakdown for 2025 invoices",
        &["bash", "db_write"],
        &["prod"],
        Risk::High,
        180,
        ItemStatus::Todo,
        &["inv-schema"],
    ),
    (
        "stripe-hooks",
        "billing",
        "Verify Stripe webhook signatures",
        &["codegen", "gate:unit", "gate:secrets", "git_pr"],
        &["security"],
        Risk::Medium,
        120,
        ItemStatus::InProgress,
        &[],
    ),
    (
        "dunning",
        "billing",
        "Dunning emails for failed payments",
        &["codegen", "gate:unit", "git_pr"],
        &["pii"],
        Risk::Medium,
        300,
        ItemStatus::Todo,
        &["stripe-hooks"],
    ),
    (
        "ledger",
        "billing",
        "Double-entry revenue ledger",
        &["codegen", "db_migrate", "gate:typecheck", "gate:unit", "git_pr"],
        &[],
        Risk::High,
        900,
        ItemStatus::Todo,
        &["inv-schema"],
    ),
    (
        "ledger-recon",
        "billing",
        "Nightly ledger reconciliation job",
        &["codegen", "gate:unit", "git_pr", "deploy:staging"],
        &[],
        Risk::Medium,
        360,
        ItemStatus::Todo,
        &["ledger"],
    ),
    (
        "refunds",
        "billing",
        "Partial refunds from the admin console",
        &["codegen", "gate:unit", "git_pr"],
        &["pii"],
        Risk::Medium,
        240,
        ItemStatus::Blocked,
        &["ledger"],
    ),
    (
        "billing-release",
        "billing",
        "Release billing v2 to production",
        &["deploy:staging", "manual:review", "deploy:prod", "cache:purge"],
        &["prod"],
        Risk::High,
        45,
        ItemStatus::Todo,
        &["ledger-recon", "refunds", "dunning", "rel-canary"],
    ),
    (
        "pii-inventory",
        "data-privacy",
        "Inventory of PII columns across databases",
        &["bash", "codegen"],
        &["pii"],
        Risk::Low,
        240,
        ItemStatus::Done,
        &[],
    ),
    (
        "pii-encrypt",
        "data-privacy",
        "Encrypt PII columns at rest",
        &["codegen", "db_migrate", "gate:unit", "gate:sast", "git_pr"],
        &["pii", "security"],
        Risk::High,
        600,
        ItemStatus::Todo,
        &["pii-inventory"],
    ),
    (
        "retention",
        "data-privacy",
        "Retention policy: purge logs older than 400 days",
        &["codegen", "db_write", "git_pr"],
        &["pii", "prod"],
        Risk::High,
        180,
        ItemStatus::Todo,
        &["pii-inventory"],
    ),
    (
        "dsr-export",
        "data-privacy",
        "Self-service data subject export",
        &["codegen", "gate:unit", "git_pr"],
        &["pii"],
        Risk::Medium,
        420,
        ItemStatus::Todo,
        &["pii-encrypt"],
    ),
    (
        "dsr-delete",
        "data-privacy",
        "Right-to-erasure workflow",
        &["codegen", "db_write", "gate:unit", "git_pr"],
        &["pii", "prod"],
        Risk::High,
        480,
        ItemStatus::Todo,
        &["pii-encrypt", "dsr-export"],
    ),
    (
        "audit-log",
        "data-privacy",
        "Access audit log for PII reads",
        &["codegen", "db_migrate", "gate:unit", "git_pr"],
        &["pii", "security"],
        Risk::Medium,
        300,
        ItemStatus::InProgress,
        &["pii-inventory"],
    ),
    (
        "privacy-review",
        "data-privacy",
        "Privacy review sign-off for Q4 changes",
        &["manual:review"],
        &["pii"],
        Risk::Low,
        60,
        ItemStatus::Todo,
        &["retention", "dsr-delete", "audit-log"],
    ),
    ("ci-cache", "release", "Cache cargo and npm in CI", &["bash", "git_pr"], &[], Risk::Low, 90, ItemStatus::Done, &[]),
    (
        "ci-sast",
        "release",
        "Add SAST and secret scanning to every pipeline",
        &["codegen", "gate:sast", "gate:secrets", "git_pr"],
        &["security"],
        Risk::Low,
        120,
        ItemStatus::Todo,
        &["ci-cache"],
    ),
    (
        "staging-parity",
        "release",
        "Staging parity with production config",
        &["bash", "deploy:staging"],
        &[],
        Risk::Medium,
        240,
        ItemStatus::Todo,
        &[],
    ),
    (
        "rel-canary",
        "release",
        "Canary releases with automatic rollback",
        &["codegen", "gate:unit", "git_pr", "deploy:staging"],
        &["prod"],
        Risk::High,
        540,
        ItemStatus::Todo,
        &["staging-parity", "ci-sast"],
    ),
    (
        "flags",
        "release",
        "Feature flag service for gradual rollouts",
        &["codegen", "gate:typecheck", "gate:unit", "git_pr"],
        &[],
        Risk::Medium,
        360,
        ItemStatus::Todo,
        &["staging-parity"],
    ),
    (
        "freeze",
        "release",
        "Change-freeze calendar enforced in CI",
        &["codegen", "gate:unit", "git_pr"],
        &[],
        Risk::Low,
        150,
        ItemStatus::Todo,
        &["ci-sast"],
    ),
    (
        "runbooks",
        "release",
        "Runbooks for every production deploy",
        &["codegen", "manual:review"],
        &["prod"],
        Risk::Low,
        120,
        ItemStatus::Todo,
        &[],
    ),
    (
        "dr-drill",
        "release",
        "Disaster recovery drill: restore from backup",
        &["bash", "db_write", "manual:review"],
        &["prod"],
        Risk::High,
        240,
        ItemStatus::Todo,
        &["runbooks"],
    ),
];

fn seeder() -> Principal {
    Principal { kind: PrincipalKind::User, id: 0, name: "seed-demo".into(), role: Role::Admin }
}

/// Loads the demo when the backlog is empty; returns a human summary either way.
pub async fn seed(db: &Db) -> AppResult<String> {
    let who = seeder();
    let mut lines = vec![];
    for (username, password, role) in DEMO_USERS {
        match service::create_user(db, username, password, role).await {
            Ok(_) => lines.push(format!("demo user {username} ({role}) created")),
            Err(e) if e.code == ErrorCode::UsernameTaken => lines.push(format!("demo user {username} already exists")),
            Err(e) => return Err(e),
        }
    }
    if !store::list_packs(db).await?.is_empty() {
        lines.push("backlog already has packs; demo backlog not loaded again".into());
        return Ok(lines.join("\n"));
    }
    for &(id, description, sensitive, approvals, mutating, rollback, weight, _, _) in TOOLS {
        let input = ToolInput {
            id: Some(id.into()),
            description: Some(description.into()),
            sensitive: Some(sensitive),
            required_approvals: Some(approvals),
            mutating: Some(mutating),
            rollback: rollback.map(String::from),
            risk_weight: Some(weight),
            // Deploys are time-critical: their approval requests stay open for two hours.
            approval_expires_in_s: id.starts_with("deploy:").then_some(2 * 3600),
        };
        backlog::create_tool(db, &who, &input).await?;
    }
    // Recorded runs: deterministic spread around each tool's typical time and cost.
    let now = now_ms();
    let mut seed: u64 = 0x5eed;
    let mut metrics = 0;
    for &(id, .., typical_ms, typical_usd) in TOOLS {
        for run in 0..12 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let spread = 0.6 + ((seed >> 33) % 1000) as f64 / 1000.0; // 0.6 ..= 1.6
            let input = MetricInput {
                tool_id: id.into(),
                duration_ms: (typical_ms as f64 * spread) as i64,
                cost_usd: (typical_usd * spread * 10_000.0).round() / 10_000.0,
                tokens: if id == "codegen" { (18_000.0 * spread) as i64 } else { 0 },
                recorded_at: Some(now - (run + 1) * 3_600_000),
            };
            backlog::record_metric(db, &who, &input).await?;
            metrics += 1;
        }
    }
    let mut pack_ids = HashMap::new();
    for &(slug, name, description) in PACKS {
        let input = PackInput { slug: Some(slug.into()), name: Some(name.into()), description: Some(description.into()) };
        pack_ids.insert(slug, backlog::create_pack(db, &who, &input).await?.id);
    }
    // Items in dependency order: a dependency is always created before the items that need it.
    let mut item_ids: HashMap<&str, i64> = HashMap::new();
    let mut pending: Vec<&ItemRow> = ITEMS.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = vec![];
        for row in pending {
            let (key, pack, title, tools, labels, risk, minutes, status, deps) = *row;
            if !deps.iter().all(|d| item_ids.contains_key(d)) {
                rest.push(row);
                continue;
            }
            let input = ItemInput {
                pack_id: Some(pack_ids[pack]),
                title: Some(title.into()),
                description: Some(format!("{title}. Part of the {pack} pack; see the runbook for acceptance criteria.")),
                depends_on: Some(deps.iter().map(|d| item_ids[d]).collect()),
                tools: Some(tools.iter().map(|t| t.to_string()).collect()),
                labels: Some(labels.iter().map(|l| l.to_string()).collect()),
                risk: Some(risk),
                estimate_minutes: Some(minutes),
                status: Some(status),
            };
            item_ids.insert(key, backlog::create_item(db, &who, &input).await?.id);
        }
        assert!(rest.len() < before, "demo data has a dependency cycle or an unknown key");
        pending = rest;
    }
    lines.push(format!(
        "demo backlog loaded: {} packs, {} items, {} tools, {metrics} recorded tool runs",
        PACKS.len(),
        ITEMS.len(),
        TOOLS.len()
    ));
    Ok(lines.join("\n"))
}

/// Demo approval requests from an agent: three waiting in the inbox and two decided ones for the
/// history. Skipped when any approval exists.
pub async fn seed_approvals(state: &crate::state::AppState) -> AppResult<String> {
    use crate::approvals::model::Decision;
    use crate::approvals::service::{self as approvals, ApprovalRequest};
    use serde_json::json;
    let db = &state.db;
    let agent = Principal { kind: PrincipalKind::ApiKey, id: 0, name: "demo-agent".into(), role: Role::Automation };
    let any = approvals::list(state, &agent, &crate::approvals::model::ListFilter { limit: 1, ..Default::default() }).await?;
    if !any.is_empty() {
        return Ok("approvals exist; demo approvals not loaded again".into());
    }
    let reviewer = Principal { kind: PrincipalKind::User, id: 0, name: "reviewer".into(), role: Role::Reviewer };
    let items = store::list_items(db, &ItemFilter::default()).await?;
    let item_with = |tool: &str| items.iter().find(|i| i.tools.iter().any(|t| t == tool) && i.status != ItemStatus::Done).map(|i| i.id);
    let day = Some(24 * 3600);
    let requests = [
        (
            "git_pr",
            json!({"repo": "nofx/gateway", "branch": "nofx/ratelimit", "title": "Per-tenant rate limiting", "files_changed": 7}),
            json!({"why": "tests and SAST passed; opens the PR for review"}),
            day,
        ),
        (
            "db_write",
            json!({"database": "billing", "statement": "UPDATE invoices SET status = 'void' WHERE id IN (4411, 4412)", "rows": 2}),
            json!({"ticket": "BILL-231"}),
            day,
        ),
        (
            "deploy:prod",
            json!({"service": "api-gateway", "version": "1.14.0", "strategy": "canary", "regions": ["eu-west-1"]}),
            json!({"change": "rate limiting on for 5% of tenants"}),
            None,
        ),
        ("git_pr", json!({"repo": "nofx/sessions", "branch": "nofx/rotate-keys", "title": "Rotate session signing keys"}), json!({}), day),
        (
            "db_write",
            json!({"database": "crm", "statement": "DELETE FROM contacts WHERE consent = false", "rows": 1280}),
            json!({"why": "GDPR clean-up"}),
            day,
        ),
    ];
    let mut ids = vec![];
    for (tool, args, context, expires) in requests {
        let req = ApprovalRequest {
            tool_id: Some(tool.into()),
            args,
            context,
            backlog_item_id: item_with(tool),
            expires_in_s: expires,
            ..Default::default()
        };
        ids.push(approvals::request(state, &agent, &req).await?.id);
    }
    approvals::decide_as(state, &reviewer, ids[3], Decision::Approve, "Looks good; merge after the release train.").await?;
    approvals::decide_as(state, &reviewer, ids[4], Decision::Deny, "Needs the DPO's sign-off and a backup first.").await?;
    Ok(format!("demo approvals loaded: {} pending, 2 decided", ids.len() - 2))
}

/// A demo plan that runs: the Release Engineering pack planned by `planner`, its plan approval
/// granted by `reviewer`, and steps run by a demo worker until one waits for a reviewer in the
/// inbox. `scripts/run`'s demo worker carries on from there. Skipped when a plan was executed
/// already, or when execution is switched off.
pub async fn seed_run(state: &crate::state::AppState) -> AppResult<String> {
    use crate::approvals::model::Decision;
    use crate::execution::model::StepState;
    use crate::execution::service as execution;
    use crate::plan::model::{PlanRequest, PlanStatus};
    if !(state.config.flags.auto_planner && state.config.flags.planner_execute) {
        return Ok("execution is switched off; no demo run".into());
    }
    let db = &state.db;
    let executed = crate::planner::store::list_plans(db, None, 500).await?.iter().any(|p| p.status.is_executing());
    if executed {
        return Ok("a plan was executed already; demo run not started again".into());
    }
    let Some(pack) = store::list_packs(db).await?.into_iter().find(|p| p.slug == "release") else {
        return Ok("no Release Engineering pack; no demo run".into());
    };
    let planner = Principal { kind: PrincipalKind::User, id: 0, name: "planner".into(), role: Role::Planner };
    let reviewer = Principal { kind: PrincipalKind::User, id: 0, name: "reviewer".into(), role: Role::Reviewer };
    let worker = Principal { kind: PrincipalKind::ApiKey, id: 0, name: "demo-worker".into(), role: Role::Worker };
    let plan = crate::planner::service::create_plan(state, &planner, &PlanRequest { pack_id: Some(pack.id), ..Default::default() }).await?;
    if plan.status != PlanStatus::Ready {
        return Ok(format!("the demo plan #{} is {}; no demo run", plan.id, plan.status.as_str()));
    }
    let run = execution::execute(state, &planner, plan.id).await?;
    if let Some(approval) = run.approval_id {
        crate::approvals::service::decide_as(state, &reviewer, approval, Decision::Approve, "Release train approved for this week.")
            .await?;
        execution::sweep(state).await?;
    }
    let tools: Vec<String> = TOOLS.iter().map(|t| t.0.to_string()).collect();
    let claim = execution::ClaimRequest { tools, worker: Some("demo".into()), wait_s: None };
    let mut ran = 0;
    loop {
        let run = execution::get_run(state, &planner, plan.id).await?;
        if run.steps.iter().any(|s| s.state == StepState::WaitingApproval) || run.status != PlanStatus::Running {
            break;
        }
        let Some(job) = execution::claim(state, &worker, &claim).await? else { break };
        let report = execution::WorkerReport {
            fence: job.fence,
            output: Some(format!("{} for “{}”: done (demo)\n", job.tool, job.item.title)),
            exit_code: Some(0),
            ..Default::default()
        };
        execution::report(state, &worker, plan.id, &job.step_id, execution::ReportKind::Complete, &report).await?;
        ran += 1;
    }
    Ok(format!("demo run: plan #{} approved and running, {ran} steps done, one waits for a reviewer", plan.id))
}

/// A demo comparison: the Billing pack compared by every configured planner, so the comparison
/// and metrics pages have something to show. Skipped when a comparison exists already, or when
/// planning is switched off.
pub async fn seed_comparison(state: &crate::state::AppState) -> AppResult<String> {
    use crate::comparisons::model::CompareRequest;
    if !state.config.flags.auto_planner {
        return Ok("planning is switched off; no demo comparison".into());
    }
    if !crate::comparisons::store::list(&state.db, 1).await?.is_empty() {
        return Ok("a comparison exists already; demo comparison not made again".into());
    }
    let Some(pack) = store::list_packs(&state.db).await?.into_iter().find(|p| p.slug == "billing") else {
        return Ok("no Billing pack; no demo comparison".into());
    };
    let planner = Principal { kind: PrincipalKind::User, id: 0, name: "planner".into(), role: Role::Planner };
    let request = CompareRequest { pack_id: Some(pack.id), include_dependencies: true, ..Default::default() };
    let id = crate::comparisons::service::compare_request(state, &planner, &request).await?;
    Ok(format!("demo comparison #{id}: the Billing pack compared by {} planners", state.providers.list.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_worker_serves_every_demo_tool() {
        let script = include_str!("../scripts/run");
        for t in TOOLS {
            assert!(script.contains(&format!("--tool {}", t.0)), "scripts/run's demo worker does not serve `{}`", t.0);
        }
    }
}
