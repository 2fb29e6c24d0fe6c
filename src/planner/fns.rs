//! Planner server functions: the browser's door to the same planning service the JSON API uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, reader, session, state};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::ErrorCode;
use crate::plan::model::*;
use crate::plan::verdict::{Enforcement, Finding, Gate, GateVerdict, Verdict, VerdictCounts};

/// Plans a selection from the backlog page (checked `item_ids[]`) or a whole pack, then opens
/// the new plan. Errors come back to the form (in place, with or without JavaScript).
#[server(prefix = "/_fn", endpoint = "plan_items")]
pub async fn plan_items(
    csrf: String,
    #[server(default)] item_ids: Vec<i64>,
    #[server(default)] pack_id: String,
    #[server(default)] budget_usd: String,
    #[server(default)] include_dependencies: String,
) -> Result<i64, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let request = selection(item_ids, &pack_id, &budget_usd, &include_dependencies)?;
        let plan = super::service::create_plan(&state()?, &who, &request).await.map_err(in_page_words)?;
        leptos_axum::redirect(&format!("/plans/{}", plan.id));
        Ok(plan.id)
    })
    .await
}

/// What the backlog page's planning bar asks for: the ticked items (or a pack), the budget typed
/// in dollars and whether to pull in unfinished dependencies.
#[cfg(feature = "ssr")]
pub fn selection(item_ids: Vec<i64>, pack_id: &str, budget_usd: &str, include_dependencies: &str) -> Result<PlanRequest, AppError> {
    let budget = budget_usd.trim();
    let budget_usd =
        if budget.is_empty() {
            None
        } else {
            Some(budget.parse::<f64>().map_err(|_| {
                AppError::unprocessable(ErrorCode::InvalidBudget, "The budget must be a number of dollars, like 25 or 12.50.")
            })?)
        };
    let pack_id = pack_id.trim();
    Ok(if !pack_id.is_empty() && item_ids.is_empty() {
        let id = pack_id.parse::<i64>().map_err(|_| AppError::unprocessable(ErrorCode::InvalidSelection, "Choose a pack to plan."))?;
        PlanRequest { pack_id: Some(id), budget_usd, include_dependencies: !include_dependencies.is_empty(), ..Default::default() }
    } else {
        PlanRequest { item_ids: Some(item_ids), budget_usd, include_dependencies: !include_dependencies.is_empty(), ..Default::default() }
    })
}

/// The planning service speaks the API's words (`item_ids`); the backlog page says the same in
/// the words of its checkboxes.
#[cfg(feature = "ssr")]
pub fn in_page_words(e: AppError) -> AppError {
    let ids = |key: &str| -> Option<(String, usize)> {
        let list: Vec<String> = e.details.get(key)?.as_array()?.iter().filter_map(|v| v.as_i64()).map(|i| format!("#{i}")).collect();
        Some((list.join(", "), list.len()))
    };
    let message = match e.code {
        ErrorCode::EmptySelection => "Tick at least one item, then press Plan selected.".to_string(),
        ErrorCode::UnknownReferences => match ids("unknown_item_ids") {
            Some((list, n)) => format!(
                "{} {list} no longer {} (deleted meanwhile): reload the backlog and tick again.",
                if n == 1 { "Item" } else { "Items" },
                if n == 1 { "exists" } else { "exist" }
            ),
            None => return e,
        },
        ErrorCode::ItemsDone => match ids("done_item_ids") {
            Some((list, n)) => format!(
                "{} {list} {} already done, so there is nothing to plan: untick {} or reopen {}.",
                if n == 1 { "Item" } else { "Items" },
                if n == 1 { "is" } else { "are" },
                if n == 1 { "it" } else { "them" },
                if n == 1 { "it" } else { "them" }
            ),
            None => return e,
        },
        _ => return e,
    };
    AppError { message, ..e }
}

/// The plans list and whether this user may plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlansView {
    pub plans: Vec<PlanSummary>,
    pub auto_planner: bool,
}

#[server(prefix = "/_fn", endpoint = "load_plans")]
pub async fn load_plans(#[server(default)] status: Option<PlanStatus>) -> Result<PlansView, AppError> {
    let who = reader().await?;
    let s = state()?;
    Ok(PlansView { plans: super::service::list_plans(&s, &who, status, 200).await?, auto_planner: s.config.flags.auto_planner })
}

/// One row of the plan page's verdict table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRow {
    pub step_id: String,
    pub tool: String,
    pub item_id: i64,
    pub item_title: String,
    pub verdict: GateVerdict,
}

/// What a fix needs the user to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FixNeeds {
    ManageTools,
    EditBacklog,
    CreatePlans,
}

/// A block's remedy as a place in the app: a link for those who may act on it, and who can for
/// the others ("an admin can do this").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub label: String,
    pub href: String,
    pub needs: FixNeeds,
    /// The roles of people who can, e.g. "planner or admin".
    pub who: String,
}

impl Fix {
    pub fn allowed(&self, can: &crate::auth::model::Capabilities) -> bool {
        match self.needs {
            FixNeeds::ManageTools => can.manage_tools,
            FixNeeds::EditBacklog => can.edit_backlog,
            FixNeeds::CreatePlans => can.create_plans,
        }
    }
}

/// The fixes for what blocks a plan, in plan order, each place once: a missing rollback recipe
/// opens the tool's form; any other block on a step opens its item's form; a plan-level resource
/// block (budget, duration) plans the same items again.
#[cfg(feature = "ssr")]
pub fn fixes(plan: &Plan) -> Vec<Fix> {
    use crate::auth::model::{Permission, Role};
    let who = |p: Permission| {
        let people: Vec<&str> =
            p.roles().into_iter().filter(|r| !matches!(r, Role::Automation | Role::Worker)).map(|r| r.as_str()).collect();
        people.join(" or ")
    };
    let mut out: Vec<Fix> = Vec::new();
    let mut push = |f: Fix| {
        if !out.iter().any(|o| o.href == f.href) {
            out.push(f);
        }
    };
    for s in plan.steps.iter().filter(|s| s.verdict == Verdict::Block) {
        for v in s.verdicts.iter().filter(|v| v.verdict == Verdict::Block) {
            if v.rules.iter().any(|r| &**r == "structural.rollback") {
                push(Fix {
                    label: format!("Add a rollback recipe to `{}`", s.tool),
                    href: format!("/tools?edit={}#edit-tool", crate::ui::url_encode(&s.tool)),
                    needs: FixNeeds::ManageTools,
                    who: who(Permission::ManageTools),
                });
            } else {
                push(Fix {
                    label: format!("Edit item #{} {}", s.backlog_item_id, s.item_title),
                    href: format!("/backlog/{}/edit", s.backlog_item_id),
                    needs: FixNeeds::EditBacklog,
                    who: who(Permission::EditBacklog),
                });
            }
        }
    }
    if plan.verdicts.iter().any(|v| v.gate == Gate::Resource && v.verdict == Verdict::Block) {
        let ids: Vec<String> = plan.items.iter().filter(|i| !i.pulled_in).map(|i| i.id.to_string()).collect();
        push(Fix {
            label: "Plan the same items again with a bigger budget".into(),
            href: format!("/backlog?select={}", ids.join(",")),
            needs: FixNeeds::CreatePlans,
            who: who(Permission::CreatePlan),
        });
    }
    out
}

/// Everything the plan page shows, trimmed to what it renders: the SVG is drawn on the server,
/// so a 500-step plan does not ship its whole document to the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPageView {
    pub id: i64,
    pub status: PlanStatus,
    pub planner: String,
    pub created_by: String,
    pub created_at: i64,
    pub request: PlanRequest,
    pub items: Vec<PlanItem>,
    pub groups: Vec<PackGroup>,
    pub step_count: usize,
    pub wave_count: usize,
    pub critical_path: Vec<String>,
    pub estimate: PlanEstimate,
    pub verdicts: Vec<GateVerdict>,
    pub findings: Vec<Finding>,
    pub verdict_counts: VerdictCounts,
    pub svg: String,
    /// What to do about the blocks, as places in the app.
    pub fixes: Vec<Fix>,
    pub selected: Option<PlanStep>,
    pub rows: Vec<VerdictRow>,
    /// Rows matching the filter (all pages).
    pub matching_rows: usize,
    /// The page of rows shown (1-based) and how many pages there are.
    pub row_page: usize,
    pub row_pages: usize,
    /// What the graph draws (every step, or items for a dense plan).
    pub graph_detail: crate::plan::model::GraphDetail,
    /// Its run, once executed.
    pub run: Option<crate::execution::view::PlanRun>,
    /// Whether the viewer may press Execute (`Ok`), why not (`Err`), or `None` once executed.
    pub execute: Option<Result<(), String>>,
    /// The viewer may cancel it (it runs or awaits approval, and their role executes plans).
    pub can_cancel: bool,
    /// Steps that wait for a reviewer when they run.
    pub sensitive_steps: usize,
    /// Some verdict warns (the plan may need a plan approval first).
    pub warns: bool,
    /// Until when overrides lift every block (the plan reads ready until then).
    pub unblocked_until: Option<i64>,
    /// Its overrides and what the viewer could override.
    pub overrides: Option<crate::overrides::ui::OverridesView>,
    /// Its newest audit records, when the viewer may read the audit trail.
    pub trail: Option<crate::audit::model::AuditPage>,
    /// The comparison it was kept from, if any.
    pub comparison: Option<i64>,
}

/// Rows per page of the verdict table (the JSON API has them all).
pub const PAGE_ROWS: usize = 25;

/// Verdict-table filter: a gate and a verdict (by default only what warns or blocks), and the
/// page of matching rows to show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowFilter {
    pub gate: Option<Gate>,
    /// `allow`, `warn`, `block`, `all`, or empty for warn + block.
    pub verdict: Option<String>,
    /// 1-based; 0 or past the end shows the nearest page.
    #[serde(default)]
    pub page: usize,
}

impl RowFilter {
    pub fn keeps(&self, v: &GateVerdict) -> bool {
        let gate_ok = self.gate.is_none_or(|g| g == v.gate);
        let verdict_ok = match self.verdict.as_deref() {
            None | Some("") => v.verdict != Verdict::Allow,
            Some("all") => true,
            Some(s) => Verdict::parse(s).is_none_or(|want| want == v.verdict),
        };
        gate_ok && verdict_ok
    }
}

#[server(prefix = "/_fn", endpoint = "load_plan")]
pub async fn load_plan(
    id: i64,
    #[server(default)] step: Option<String>,
    #[server(default)] filter: RowFilter,
    #[server(default)] graph: Option<crate::plan::model::GraphDetail>,
) -> Result<PlanPageView, AppError> {
    let who = reader().await?;
    let s = state()?;
    let plan = super::service::get_plan(&s, &who, id).await?;
    let run = crate::execution::service::run_if_any(&s, &who, id).await?;
    let may_execute = who.can(crate::auth::model::Permission::ExecutePlan);
    let execute =
        crate::execution::view::execute_refusal(plan.status, s.config.flags.planner_execute, may_execute).map(|r| r.map_err(String::from));
    let can_cancel = may_execute && matches!(plan.status, PlanStatus::Running | PlanStatus::AwaitingApproval);
    let overrides = overrides_view(&s, &who, &plan).await?;
    let trail = if who.can(crate::auth::model::Permission::ReadAudit) {
        let f = crate::audit::model::AuditFilter { plan: Some(id), limit: Some(20), ..Default::default() };
        Some(crate::audit::service::page(&s, &who, &f).await?)
    } else {
        None
    };
    let mut view = page_view(plan, step.as_deref(), &filter, graph, run.as_ref());
    view.run = run;
    view.execute = execute;
    view.can_cancel = can_cancel;
    view.overrides = Some(overrides);
    view.trail = trail;
    view.comparison = crate::comparisons::service::comparison_of_plan(&s, &who, id).await?;
    Ok(view)
}

/// The plan's overrides and what the viewer could override: the verdicts that block it (before
/// it runs) and its pending requests.
#[cfg(feature = "ssr")]
async fn overrides_view(
    s: &crate::state::AppState,
    who: &crate::auth::model::Principal,
    plan: &Plan,
) -> Result<crate::overrides::ui::OverridesView, AppError> {
    use crate::overrides::fns::{choice_value, Choice, OverrideRules};
    use crate::overrides::model::{blocks, Target};
    let overrides = crate::overrides::service::list(s, who, plan.id).await?;
    let live: Vec<&crate::overrides::model::Override> = overrides.iter().filter(|o| o.status.is_live()).collect();
    let taken = |t: &Target| live.iter().find(|o| &o.target == t).map(|o| format!("overridden already (#{})", o.id));
    let mut choices = vec![];
    if !plan.status.is_executing() {
        let all = blocks(plan);
        for v in plan.verdicts.iter().filter(|v| v.verdict == Verdict::Block) {
            let target = Target::PlanVerdict { gate: v.gate };
            let hard = all.iter().any(|b| b.gate == v.gate && b.enforcement == Enforcement::HardMandatory);
            let refused = if hard { Some("hard-mandatory: can never be overridden".to_string()) } else { taken(&target) };
            choices.push(Choice {
                value: choice_value(&target),
                label: format!("The {} gate on the whole plan", v.gate.as_str()),
                refused,
            });
        }
        for b in all.iter().filter(|b| b.step.is_some()).take(50) {
            let step_id = b.step.clone().unwrap_or_default();
            let target = Target::StepVerdict { step_id: step_id.clone(), gate: b.gate };
            let refused = if b.enforcement == Enforcement::HardMandatory {
                Some("hard-mandatory: can never be overridden".to_string())
            } else {
                taken(&target)
            };
            let tool = plan.step(&step_id).map(|st| format!(" (`{}` for “{}”)", st.tool, st.item_title)).unwrap_or_default();
            choices.push(Choice {
                value: choice_value(&target),
                label: format!("The {} gate on step {step_id}{tool}", b.gate.as_str()),
                refused,
            });
        }
    }
    let pending = crate::approvals::store::list(
        &s.db,
        &crate::approvals::model::ListFilter {
            status: Some(crate::approvals::model::ApprovalStatus::Pending),
            plan_id: Some(plan.id),
            limit: 50,
            ..Default::default()
        },
    )
    .await?;
    let now = crate::storage::now_ms();
    for a in pending.into_iter().filter(|a| !a.is_overdue(now) && a.tool_id != crate::overrides::service::REVIEW_TOOL) {
        let target = Target::Approval { approval_id: a.id };
        let what = match &a.step_id {
            Some(step) => format!("Request #{} to run `{}` (step {step})", a.id, a.tool_id),
            None => format!("Request #{} to execute the plan", a.id),
        };
        choices.push(Choice { value: choice_value(&target), label: what, refused: taken(&target) });
    }
    let p = &s.policy.overrides;
    Ok(crate::overrides::ui::OverridesView {
        overrides,
        choices,
        can_override: p.roles.contains(&who.role),
        rules: OverrideRules {
            min_justification_chars: p.min_justification_chars,
            max_hours: p.max_hours,
            require_approval: p.require_approval,
            roles: p.roles.iter().map(|r| r.as_str().to_string()).collect(),
        },
        me: who.identity(),
    })
}

/// Builds the page view from a stored plan (pure; also used by the page benchmark).
#[cfg(feature = "ssr")]
pub fn page_view(
    plan: Plan,
    step: Option<&str>,
    filter: &RowFilter,
    graph: Option<crate::plan::model::GraphDetail>,
    run: Option<&crate::execution::view::PlanRun>,
) -> PlanPageView {
    let states: Option<std::collections::HashMap<&str, crate::execution::model::StepState>> =
        run.filter(|r| !r.steps.is_empty()).map(|r| r.steps.iter().map(|s| (s.step_id.as_str(), s.state)).collect());
    let graph_detail = crate::plan::model::GraphDetail::for_plan(plan.steps.len(), graph);
    let svg = super::graph::to_svg(&plan, step, graph_detail, states.as_ref());
    let fixes = fixes(&plan);
    // Blocks first, then warnings, in plan order within each; one page of them.
    let mut matching: Vec<(&crate::plan::model::PlanStep, &GateVerdict)> =
        plan.steps.iter().flat_map(|s| s.verdicts.iter().filter(|v| filter.keeps(v)).map(move |v| (s, v))).collect();
    matching.sort_by_key(|(_, v)| std::cmp::Reverse(v.verdict));
    let matching_rows = matching.len();
    let row_pages = matching_rows.div_ceil(PAGE_ROWS).max(1);
    let row_page = filter.page.clamp(1, row_pages);
    let rows: Vec<VerdictRow> = matching
        .into_iter()
        .skip((row_page - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .map(|(s, v)| VerdictRow {
            step_id: s.id.clone(),
            tool: s.tool.clone(),
            item_id: s.backlog_item_id,
            item_title: s.item_title.clone(),
            verdict: v.clone(),
        })
        .collect();
    let selected = step.and_then(|id| plan.step(id).cloned());
    let sensitive_steps = plan.steps.iter().filter(|s| s.required_approvals > 0).count();
    let warns = plan.verdicts.iter().any(|v| v.verdict == Verdict::Warn) || plan.steps.iter().any(|s| s.verdict == Verdict::Warn);
    PlanPageView {
        sensitive_steps,
        warns,
        id: plan.id,
        status: plan.status,
        planner: plan.planner,
        created_by: plan.created_by,
        created_at: plan.created_at,
        request: plan.request,
        items: plan.items,
        groups: plan.groups,
        step_count: plan.steps.len(),
        wave_count: plan.waves.len(),
        critical_path: plan.critical_path,
        estimate: plan.estimate,
        verdicts: plan.verdicts,
        findings: plan.findings,
        verdict_counts: plan.verdict_counts,
        svg,
        fixes,
        selected,
        rows,
        matching_rows,
        row_page,
        row_pages,
        graph_detail,
        unblocked_until: plan.unblocked_until,
        run: None,
        execute: None,
        can_cancel: false,
        overrides: None,
        trail: None,
        comparison: None,
    }
}

/// Enforcement as the page words it.
pub fn enforcement_label(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Advisory => "advisory",
        Enforcement::SoftMandatory => "soft-mandatory",
        Enforcement::HardMandatory => "hard-mandatory",
    }
}
