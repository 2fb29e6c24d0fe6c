//! Backlog server functions: the browser's door to the same services the JSON API uses.

use leptos::prelude::*;

use super::model::*;
#[cfg(feature = "ssr")]
use super::service;
#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, reader, session, state};
use crate::error::AppError;

/// The backlog list with its filters' options.
#[server(prefix = "/_fn", endpoint = "load_backlog")]
pub async fn load_backlog(#[server(default)] filter: ItemFilter) -> Result<BacklogView, AppError> {
    let who = reader().await?;
    service::backlog_view(&state()?.db, &who, &filter).await
}

#[server(prefix = "/_fn", endpoint = "load_item")]
pub async fn load_item(id: i64) -> Result<ItemView, AppError> {
    let who = reader().await?;
    service::item_view(&state()?.db, &who, id).await
}

#[server(prefix = "/_fn", endpoint = "load_item_form")]
pub async fn load_item_form(id: Option<i64>) -> Result<ItemFormData, AppError> {
    let who = reader().await?;
    service::item_form(&state()?.db, &who, id).await
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
        let who = session(&csrf).await?;
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
        let who = session(&csrf).await?;
        service::delete_item(&state()?.db, &who, id).await?;
        leptos_axum::redirect("/backlog");
        Ok(())
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "list_packs")]
pub async fn list_packs() -> Result<Vec<Pack>, AppError> {
    let who = reader().await?;
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
        let who = session(&csrf).await?;
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
        let who = session(&csrf).await?;
        service::delete_pack(&state()?.db, &who, id).await?;
        leptos_axum::redirect("/packs");
        Ok(())
    })
    .await
}

/// The Tools page's edit form (tool managers): the same validation as `PATCH /api/tools/{id}`.
/// Unticked boxes are absent from a form, so they mean `false`; an empty rollback clears it.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/_fn", endpoint = "update_tool")]
pub async fn update_tool(
    csrf: String,
    id: String,
    #[server(default)] description: String,
    #[server(default)] sensitive: String,
    #[server(default)] required_approvals: String,
    #[server(default)] mutating: String,
    #[server(default)] rollback: String,
    #[server(default)] risk_weight: String,
) -> Result<Tool, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let bad = |what: &str| AppError::unprocessable(crate::error::ErrorCode::InvalidBody, what.to_string());
        let approvals = match required_approvals.trim() {
            "" => None,
            t => Some(t.parse::<i64>().map_err(|_| bad("Approvals must be a whole number, like 0, 1 or 2."))?),
        };
        let weight = match risk_weight.trim() {
            "" => None,
            t => Some(t.parse::<f64>().map_err(|_| bad("The risk weight must be a number, like 2 or 2.5."))?),
        };
        let input = ToolInput {
            id: None,
            description: Some(description),
            sensitive: Some(!sensitive.is_empty()),
            required_approvals: approvals,
            mutating: Some(!mutating.is_empty()),
            rollback: Some(rollback),
            risk_weight: weight,
            approval_expires_in_s: None,
        };
        let tool = service::update_tool(&state()?.db, &who, id.trim(), &input).await?;
        leptos_axum::redirect(&format!("/tools?saved={}#tool-{}", crate::ui::url_encode(&tool.id), crate::ui::url_encode(&tool.id)));
        Ok(tool)
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "tool_summaries")]
pub async fn tool_summaries() -> Result<Vec<ToolSummary>, AppError> {
    let who = reader().await?;
    service::tool_summaries(&state()?.db, &who).await
}
