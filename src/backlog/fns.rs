//! Backlog server functions: the browser's door to the same services the JSON API uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::*;
#[cfg(feature = "ssr")]
use super::{service, store};
#[cfg(feature = "ssr")]
use crate::auth::{
    fns::ssr::{form_result, require_reader, require_session, state},
    model::Permission,
};
use crate::error::AppError;

/// Everything the backlog page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogView {
    pub items: Vec<BacklogItem>,
    pub total: i64,
    pub packs: Vec<Pack>,
    pub labels: Vec<String>,
    pub sensitive_tools: Vec<String>,
}

/// The backlog list with its filters' options.
#[server(prefix = "/_fn", endpoint = "load_backlog")]
pub async fn load_backlog(#[server(default)] filter: ItemFilter) -> Result<BacklogView, AppError> {
    let who = require_reader(Permission::Read).await?;
    let db = state()?.db;
    let items = service::list_items(&db, &who, &filter).await?;
    let packs = store::list_packs(&db).await?;
    let total = packs.iter().map(|p| p.item_count).sum();
    Ok(BacklogView {
        items,
        total,
        packs,
        labels: store::all_labels(&db).await?,
        sensitive_tools: store::list_tools(&db).await?.into_iter().filter(|t| t.sensitive).map(|t| t.id).collect(),
    })
}

/// An item with its dependencies and dependents, for the detail page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemView {
    pub detail: ItemDetailView,
    pub tools: Vec<Tool>,
}

#[server(prefix = "/_fn", endpoint = "load_item")]
pub async fn load_item(id: i64) -> Result<ItemView, AppError> {
    let who = require_reader(Permission::Read).await?;
    let db = state()?.db;
    Ok(ItemView { detail: service::item_detail(&db, &who, id).await?, tools: store::list_tools(&db).await? })
}

/// What the create/edit form needs: the item (when editing), packs, candidate dependencies, tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemFormData {
    pub item: Option<BacklogItem>,
    pub packs: Vec<Pack>,
    pub candidates: Vec<BacklogItem>,
    pub tools: Vec<Tool>,
}

#[server(prefix = "/_fn", endpoint = "load_item_form")]
pub async fn load_item_form(id: Option<i64>) -> Result<ItemFormData, AppError> {
    let who = require_reader(Permission::Read).await?;
    let db = state()?.db;
    let item = match id {
        Some(id) => Some(service::get_item(&db, &who, id).await?),
        None => None,
    };
    let candidates = store::list_items(&db, &ItemFilter::default()).await?.into_iter().filter(|c| Some(c.id) != id).collect();
    Ok(ItemFormData { item, packs: store::list_packs(&db).await?, candidates, tools: store::list_tools(&db).await? })
}

/// Creates (no `id`) or updates an item from the browser form, then opens its page.
#[server(prefix = "/_fn", endpoint = "save_item")]
pub async fn save_item(
    csrf: String,
    #[server(default)] id: Option<i64>,
    #[server(default)] pack_id: String,
    #[server(default)] title: String,
    #[server(default)] description: String,
    #[server(default)] tools: String,
    #[server(default)] labels: String,
    #[server(default)] risk: String,
    #[server(default)] status: String,
    #[server(default)] estimate_minutes: String,
    #[server(default)] depends_on: Vec<i64>,
) -> Result<i64, AppError> {
    form_result(async move {
        let who = require_session(Permission::EditBacklog, &csrf).await?;
        let db = state()?.db;
        let form = ItemForm { pack_id, title, description, tools, labels, risk, status, estimate_minutes, depends_on };
        let input = form.to_input()?;
        let item = match id {
            Some(id) => service::update_item(&db, &who, id, &input).await?,
            None => service::create_item(&db, &who, &input).await?,
        };
        leptos_axum::redirect(&format!("/backlog/{}", item.id));
        Ok(item.id)
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "delete_item")]
pub async fn delete_item(csrf: String, id: i64) -> Result<(), AppError> {
    form_result(async move {
        let who = require_session(Permission::EditBacklog, &csrf).await?;
        service::delete_item(&state()?.db, &who, id).await?;
        leptos_axum::redirect("/backlog");
        Ok(())
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "list_packs")]
pub async fn list_packs() -> Result<Vec<Pack>, AppError> {
    let who = require_reader(Permission::Read).await?;
    service::list_packs(&state()?.db, &who).await
}

#[server(prefix = "/_fn", endpoint = "create_pack")]
pub async fn create_pack(
    csrf: String,
    #[server(default)] name: String,
    #[server(default)] slug: String,
    #[server(default)] description: String,
) -> Result<Pack, AppError> {
    form_result(async move {
        let who = require_session(Permission::EditBacklog, &csrf).await?;
        let input = PackInput { name: Some(name), slug: (!slug.trim().is_empty()).then_some(slug), description: Some(description) };
        let pack = service::create_pack(&state()?.db, &who, &input).await?;
        leptos_axum::redirect("/packs");
        Ok(pack)
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "delete_pack")]
pub async fn delete_pack(csrf: String, id: i64) -> Result<(), AppError> {
    form_result(async move {
        let who = require_session(Permission::EditBacklog, &csrf).await?;
        service::delete_pack(&state()?.db, &who, id).await?;
        leptos_axum::redirect("/packs");
        Ok(())
    })
    .await
}

/// A registry row with what its recorded runs say (median duration and cost).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSummary {
    pub tool: Tool,
    pub p50_duration_ms: Option<i64>,
    pub p50_cost_usd: Option<f64>,
    pub used_by: i64,
}

#[server(prefix = "/_fn", endpoint = "tool_summaries")]
pub async fn tool_summaries() -> Result<Vec<ToolSummary>, AppError> {
    let who = require_reader(Permission::Read).await?;
    let db = state()?.db;
    let tools = service::list_tools(&db, &who).await?;
    let usage = store::tool_usage_counts(&db).await?;
    let mut out = vec![];
    for tool in tools {
        let runs = store::list_metrics(&db, Some(&tool.id), 1000).await?;
        let mut durations: Vec<i64> = runs.iter().map(|m| m.duration_ms).collect();
        let mut costs: Vec<f64> = runs.iter().map(|m| m.cost_usd).collect();
        durations.sort_unstable();
        costs.sort_by(|a, b| a.total_cmp(b));
        out.push(ToolSummary {
            used_by: usage.get(&tool.id).copied().unwrap_or(0),
            p50_duration_ms: durations.get(durations.len().saturating_sub(1) / 2).copied(),
            p50_cost_usd: costs.get(costs.len().saturating_sub(1) / 2).copied(),
            tool,
        });
    }
    Ok(out)
}
