//! Approval server functions: the browser's door to the same approval service the JSON API uses.

use leptos::prelude::*;

use super::model::*;
#[cfg(feature = "ssr")]
use super::service;
#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, reader, session, state};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::ErrorCode;

#[cfg(feature = "ssr")]
fn parse_id(v: &str, what: &str) -> Result<Option<i64>, AppError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| AppError::bad_request(ErrorCode::InvalidQuery, format!("`{what}` must be a number.")))
}

/// The decision a form's clicked button carries.
#[cfg(feature = "ssr")]
fn clicked(decision: &str) -> Result<Decision, AppError> {
    Decision::parse(decision.trim()).ok_or_else(|| AppError::bad_request(ErrorCode::InvalidBody, "Choose Approve or Deny."))
}

#[server(prefix = "/_fn", endpoint = "load_inbox")]
pub async fn load_inbox(
    #[server(default)] tool_id: String,
    #[server(default)] pack_id: String,
    #[server(default)] plan_id: String,
    /// Requests just decided (`?decided=4,5`): the inbox says where each stands now.
    #[server(default)]
    decided: String,
) -> Result<InboxView, AppError> {
    let who = reader().await?;
    let filter = ListFilter {
        tool_id: Some(tool_id.trim().to_string()).filter(|t| !t.is_empty()),
        pack_id: parse_id(&pack_id, "pack")?,
        plan_id: parse_id(&plan_id, "plan")?,
        ..Default::default()
    };
    let decided: Vec<i64> = decided.split(',').filter_map(|v| v.trim().parse().ok()).collect();
    service::inbox(&state()?, &who, filter, &decided).await
}

#[server(prefix = "/_fn", endpoint = "pending_approvals")]
pub async fn pending_approvals() -> Result<i64, AppError> {
    let who = reader().await?;
    service::pending_count(&state()?, &who).await
}

#[server(prefix = "/_fn", endpoint = "load_history")]
pub async fn load_history(#[server(default)] status: String) -> Result<Vec<HistoryRow>, AppError> {
    let who = reader().await?;
    let status = match status.trim() {
        "" => None,
        v => Some(
            ApprovalStatus::parse(v)
                .filter(|s| s.is_final())
                .ok_or_else(|| AppError::bad_request(ErrorCode::InvalidQuery, "Pick approved, denied, expired or cancelled."))?,
        ),
    };
    service::history(&state()?, &who, status).await
}

#[server(prefix = "/_fn", endpoint = "load_approval")]
pub async fn load_approval(id: i64) -> Result<ApprovalPage, AppError> {
    let who = reader().await?;
    service::page(&state()?, &who, id).await
}

/// Approve or deny from the browser (the clicked button carries `decision`). Errors come back to
/// the form in place; without JavaScript the browser returns to the inbox after a decision.
#[server(prefix = "/_fn", endpoint = "decide_approval")]
pub async fn decide_approval(
    csrf: String,
    id: i64,
    #[server(default)] decision: String,
    #[server(default)] comment: String,
) -> Result<ApprovalStatus, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let decision = clicked(&decision)?;
        let a = service::decide_as(&state()?, &who, id, decision, &comment).await?;
        leptos_axum::redirect(&format!("/approvals?decided={id}"));
        Ok(a.status)
    })
    .await
}

/// The inbox's bulk bar: approve or deny the checked requests (`ids[]`) of one tool, each its own
/// logged decision, all or none. Back on the inbox, each one's standing is shown.
#[server(prefix = "/_fn", endpoint = "decide_approvals")]
pub async fn decide_approvals(
    csrf: String,
    #[server(default)] ids: Vec<i64>,
    #[server(default)] decision: String,
    #[server(default)] comment: String,
) -> Result<usize, AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let decision = clicked(&decision)?;
        let done = service::decide_many(&state()?, &who, &ids, decision, &comment).await?;
        let list: Vec<String> = done.iter().map(|a| a.id.to_string()).collect();
        leptos_axum::redirect(&format!("/approvals?decided={}", list.join(",")));
        Ok(done.len())
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "comment_approval")]
pub async fn comment_approval(csrf: String, id: i64, #[server(default)] comment: String) -> Result<(), AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        service::comment_as(&state()?, &who, id, &comment).await?;
        Ok(())
    })
    .await
}
