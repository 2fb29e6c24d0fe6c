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

#[server(prefix = "/_fn", endpoint = "load_inbox")]
pub async fn load_inbox(
    #[server(default)] tool_id: String,
    #[server(default)] pack_id: String,
    #[server(default)] plan_id: String,
) -> Result<InboxView, AppError> {
    let who = reader().await?;
    let filter = ListFilter {
        tool_id: Some(tool_id.trim().to_string()).filter(|t| !t.is_empty()),
        pack_id: parse_id(&pack_id, "pack")?,
        plan_id: parse_id(&plan_id, "plan")?,
        ..Default::default()
    };
    service::inbox(&state()?, &who, filter).await
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
        let decision =
            Decision::parse(decision.trim()).ok_or_else(|| AppError::bad_request(ErrorCode::InvalidBody, "Choose Approve or Deny."))?;
        let a = service::decide_as(&state()?, &who, id, decision, &comment).await?;
        leptos_axum::redirect(&format!("/approvals?decided={id}"));
        Ok(a.status)
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
