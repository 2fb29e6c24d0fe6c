//! Approval server functions: the browser's door to the same approval service the JSON API uses.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::model::*;
#[cfg(feature = "ssr")]
use crate::auth::{
    fns::ssr::{form_result, require_reader, require_session, state},
    model::Permission,
};
use crate::error::AppError;

/// The inbox: pending requests (filtered), the clock they were read at, and the filter choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxView {
    pub pending: Vec<Approval>,
    /// Server time of the read, so the countdowns start from the same moment on both sides.
    pub now: i64,
    pub tools: Vec<String>,
    pub can_decide: bool,
    pub me: String,
}

#[cfg(feature = "ssr")]
fn parse_id(v: &str, what: &str) -> Result<Option<i64>, AppError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| AppError::bad_request("invalid_query", format!("`{what}` must be a number.")))
}

#[server(prefix = "/_fn", endpoint = "load_inbox")]
pub async fn load_inbox(
    #[server(default)] tool_id: String,
    #[server(default)] pack_id: String,
    #[server(default)] plan_id: String,
) -> Result<InboxView, AppError> {
    let who = require_reader(Permission::Read).await?;
    let s = state()?;
    let filter = super::store::ListFilter {
        status: Some(ApprovalStatus::Pending),
        tool_id: Some(tool_id.trim().to_string()).filter(|t| !t.is_empty()),
        pack_id: parse_id(&pack_id, "pack")?,
        plan_id: parse_id(&plan_id, "plan")?,
        limit: 500,
    };
    let now = crate::storage::now_ms();
    // Requests past their deadline are on their way out (the expiry task writes them); hide them.
    let pending = super::service::list(&s, &filter).await?.into_iter().filter(|a| !a.is_overdue(now)).collect();
    let tools = crate::backlog::store::list_tools(&s.db)
        .await?
        .into_iter()
        .filter(|t| t.sensitive || t.required_approvals > 0)
        .map(|t| t.id)
        .collect();
    Ok(InboxView { pending, now, tools, can_decide: who.can(Permission::DecideApproval), me: who.identity() })
}

/// Decided requests, newest first, with their log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub approval: Approval,
    pub log: Vec<LogEntry>,
}

#[server(prefix = "/_fn", endpoint = "load_history")]
pub async fn load_history(#[server(default)] status: String) -> Result<Vec<HistoryRow>, AppError> {
    require_reader(Permission::Read).await?;
    let s = state()?;
    let status = match status.trim() {
        "" => None,
        v => Some(
            ApprovalStatus::parse(v)
                .filter(|s| s.is_final())
                .ok_or_else(|| AppError::bad_request("invalid_query", "Pick approved, denied, expired or cancelled."))?,
        ),
    };
    let mut rows = vec![];
    for st in status.map(|s| vec![s]).unwrap_or_else(|| ApprovalStatus::ALL.into_iter().filter(|s| s.is_final()).collect()) {
        let f = super::store::ListFilter { status: Some(st), limit: 200, ..Default::default() };
        for a in super::service::list(&s, &f).await? {
            let log = super::service::log(&s, a.id).await?;
            rows.push(HistoryRow { approval: a, log });
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.approval.decided_at.unwrap_or(r.approval.created_at)));
    rows.truncate(200);
    Ok(rows)
}

/// One request as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalPage {
    pub approval: Approval,
    pub log: Vec<LogEntry>,
    pub now: i64,
    pub can_decide: bool,
    pub me: String,
    pub item_title: Option<String>,
    pub pack_name: Option<String>,
}

#[server(prefix = "/_fn", endpoint = "load_approval")]
pub async fn load_approval(id: i64) -> Result<ApprovalPage, AppError> {
    let who = require_reader(Permission::Read).await?;
    let s = state()?;
    let approval = super::service::get(&s, id).await?;
    let log = super::service::log(&s, id).await?;
    let item = match approval.backlog_item_id {
        Some(i) => crate::backlog::store::get_item(&s.db, i).await?,
        None => None,
    };
    let pack_name = match approval.pack_id {
        Some(p) => crate::backlog::store::get_pack(&s.db, p).await?.map(|p| p.name),
        None => None,
    };
    Ok(ApprovalPage {
        approval,
        log,
        now: crate::storage::now_ms(),
        can_decide: who.can(Permission::DecideApproval),
        me: who.identity(),
        item_title: item.map(|i| i.title),
        pack_name,
    })
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
        let who = require_session(Permission::DecideApproval, &csrf).await?;
        let decision = Decision::parse(decision.trim()).ok_or_else(|| AppError::bad_request("invalid_body", "Choose Approve or Deny."))?;
        let a = super::service::decide_as(&state()?, &who, id, decision, &comment).await?;
        leptos_axum::redirect(&format!("/approvals?decided={id}"));
        Ok(a.status)
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "comment_approval")]
pub async fn comment_approval(csrf: String, id: i64, #[server(default)] comment: String) -> Result<(), AppError> {
    form_result(async move {
        let who = require_session(Permission::Read, &csrf).await?;
        super::service::comment_as(&state()?, &who, id, &comment).await?;
        Ok(())
    })
    .await
}
