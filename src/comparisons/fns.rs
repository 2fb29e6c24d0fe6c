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
