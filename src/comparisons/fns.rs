//! Comparison server functions: the browser's door to the same comparison service the JSON API
//! uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::*;
#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, reader, session, state};
use crate::error::AppError;

/// Compares the planners on the backlog page's selection (the same form as Plan selected), then
/// opens the comparison. Errors come back to the form.
#[server(prefix = "/_fn", endpoint = "compare_items")]
pub async fn compare_items(
    csrf: String,
    #[server(default)] item_ids: Vec<i64>,
    #[server(default)] pack_id: String,
    #[server(default)] budget_usd: String,
    #[server(default)] include_dependencies: String,
) -> Result<i64, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let r = crate::planner::fns::selection(item_ids, &pack_id, &budget_usd, &include_dependencies)?;
        let request = CompareRequest {
            item_ids: r.item_ids,
            pack_id: r.pack_id,
            budget_usd: r.budget_usd,
            include_dependencies: r.include_dependencies,
            providers: None,
        };
        let id = super::service::compare_request(&state()?, &who, &request).await.map_err(|e| {
            let e = crate::planner::fns::in_page_words(e);
            AppError { message: e.message.replace("press Plan selected", "press Compare planners"), ..e }
        })?;
        leptos_axum::redirect(&format!("/comparisons/{id}"));
        Ok(id)
    })
    .await
}

/// A valid candidate's small graph for the side-by-side view: its waves as a strip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateGraph {
    pub index: usize,
    pub svg: String,
    /// Steps per wave.
    pub wave_sizes: Vec<usize>,
}

/// The comparison page: the comparison and its candidates' graphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonPageView {
    pub comparison: Comparison,
    pub graphs: Vec<CandidateGraph>,
    pub weights: ScoreWeights,
    /// The reader may keep a candidate (plans may be created, planning is on).
    pub can_choose: bool,
}

#[server(prefix = "/_fn", endpoint = "load_comparison")]
pub async fn load_comparison(id: i64) -> Result<ComparisonPageView, AppError> {
    let who = reader().await?;
    let s = state()?;
    let comparison = super::service::get(&s, &who, id).await?;
    let plans = super::service::candidate_plans(&s, &who, id).await?;
    let graphs = plans
        .into_iter()
        .map(|(index, plan)| CandidateGraph {
            index,
            svg: crate::planner::graph::wave_strip(&plan),
            wave_sizes: plan.waves.iter().map(Vec::len).collect(),
        })
        .collect();
    let can_choose = who.can(crate::auth::model::Permission::CreatePlan) && s.config.flags.auto_planner;
    Ok(ComparisonPageView { comparison, graphs, weights: s.policy.comparison.weights, can_choose })
}

/// One candidate on its own page: its full plan graph, gate verdicts and steps, to look at before
/// keeping it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidatePageView {
    pub comparison_id: i64,
    pub candidate: Candidate,
    /// Scores best in its comparison.
    pub best: bool,
    /// Kept as the comparison's plan (`plan_id`).
    pub kept: bool,
    pub plan_id: Option<i64>,
    /// Candidates in the comparison (for "candidate 2 of 4" and the neighbours' links).
    pub of: usize,
    /// The gated plan, when the candidate is valid.
    pub plan: Option<CandidatePlan>,
    pub can_choose: bool,
}

/// A valid candidate's plan as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidatePlan {
    pub svg: String,
    pub graph_detail: crate::plan::model::GraphDetail,
    pub step_count: usize,
    pub wave_count: usize,
    pub item_count: usize,
    pub critical_path_steps: usize,
    pub estimate: crate::plan::model::PlanEstimate,
    pub verdicts: Vec<crate::plan::verdict::GateVerdict>,
    /// The step opened in the drawer (`?step=`).
    pub selected: Option<crate::plan::model::PlanStep>,
}

#[server(prefix = "/_fn", endpoint = "load_candidate")]
pub async fn load_candidate(
    id: i64,
    /// `None` when the address does not hold a number.
    index: Option<usize>,
    #[server(default)] step: Option<String>,
    #[server(default)] graph: Option<crate::plan::model::GraphDetail>,
) -> Result<CandidatePageView, AppError> {
    let who = reader().await?;
    let s = state()?;
    let c = super::service::get(&s, &who, id).await?;
    let Some((index, candidate)) = index.and_then(|i| c.candidates.get(i).cloned().map(|cand| (i, cand))) else {
        let n = c.candidates.len();
        let message = format!("Comparison #{id} has no such candidate: its {n} candidates are numbered 0 to {}.", n.saturating_sub(1));
        return Err(AppError::new(404, crate::error::ErrorCode::NotFound, message));
    };
    let plan = if candidate.has_plan {
        let plan = super::service::plan_of(&s, &c, index).await?;
        let graph_detail = crate::plan::model::GraphDetail::for_plan(plan.steps.len(), graph);
        Some(CandidatePlan {
            svg: crate::planner::graph::to_svg(&plan, step.as_deref(), graph_detail, None),
            graph_detail,
            step_count: plan.steps.len(),
            wave_count: plan.waves.len(),
            item_count: plan.items.len(),
            critical_path_steps: plan.critical_path.len(),
            selected: step.as_deref().and_then(|st| plan.step(st).cloned()),
            estimate: plan.estimate,
            verdicts: plan.verdicts,
        })
    } else {
        None
    };
    let can_choose = who.can(crate::auth::model::Permission::CreatePlan) && s.config.flags.auto_planner && c.chosen.is_none();
    Ok(CandidatePageView {
        comparison_id: id,
        best: c.best == Some(index),
        kept: c.chosen == Some(index),
        plan_id: c.plan_id,
        of: c.candidates.len(),
        candidate,
        plan,
        can_choose,
    })
}

/// Keeps a candidate as the plan, then opens the plan.
#[server(prefix = "/_fn", endpoint = "choose_candidate")]
pub async fn choose_candidate(csrf: String, id: i64, candidate: usize) -> Result<i64, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let stored = super::service::choose(&state()?, &who, id, candidate).await?;
        leptos_axum::redirect(&format!("/plans/{}", stored.plan.id));
        Ok(stored.plan.id)
    })
    .await
}

/// The newest comparisons (for the metrics page's list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsPageView {
    pub metrics: PlannerMetrics,
    pub recent: Vec<Comparison>,
}

#[server(prefix = "/_fn", endpoint = "load_planner_metrics")]
pub async fn load_planner_metrics() -> Result<MetricsPageView, AppError> {
    let who = reader().await?;
    let s = state()?;
    Ok(MetricsPageView { metrics: super::service::planner_metrics(&s, &who).await?, recent: super::service::list(&s, &who, 10).await? })
}
