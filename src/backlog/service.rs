//! Backlog use cases: validate, check references against the database, then write in one go.
//! Both doors (JSON handlers and server functions) call these, so behaviour is identical.

use super::model::*;
use super::store;
use crate::audit::{Action, Actor, Entry, Links};
use crate::auth::model::{Permission, Principal};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::storage::{now_ms, Db};

pub async fn list_packs(db: &Db, who: &Principal) -> AppResult<Vec<Pack>> {
    who.require(Permission::Read)?;
    store::list_packs(db).await
}

pub async fn get_pack(db: &Db, who: &Principal, id: i64) -> AppResult<Pack> {
    who.require(Permission::Read)?;
    store::get_pack(db, id).await?.ok_or_else(|| AppError::not_found(&format!("Pack {id}")))
}

pub async fn create_pack(db: &Db, who: &Principal, input: &PackInput) -> AppResult<Pack> {
    who.require(Permission::EditBacklog)?;
    let draft = validate_pack(input, None)?;
    let audit = pack_entry(who, Action::PackCreated, 0, &draft, format!("Created pack `{}`.", draft.name));
    let id = store::insert_pack(db, &draft, now_ms(), audit).await?.ok_or_else(|| slug_taken(&draft.slug))?;
    get_pack(db, who, id).await
}

pub async fn update_pack(db: &Db, who: &Principal, id: i64, input: &PackInput) -> AppResult<Pack> {
    who.require(Permission::EditBacklog)?;
    let current = get_pack(db, who, id).await?;
    let draft = validate_pack(input, Some(&current))?;
    let audit = pack_entry(who, Action::PackUpdated, id, &draft, format!("Changed pack `{}`.", draft.name));
    if !store::update_pack(db, id, &draft, now_ms(), audit).await? {
        return Err(slug_taken(&draft.slug));
    }
    get_pack(db, who, id).await
}

pub async fn delete_pack(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    who.require(Permission::EditBacklog)?;
    let pack = get_pack(db, who, id).await?;
    if pack.item_count > 0 {
        return Err(AppError::conflict(
            ErrorCode::PackNotEmpty,
            format!("Pack `{}` still holds {} items; move or delete them first.", pack.name, pack.item_count),
        ));
    }
    let draft = PackDraft { slug: pack.slug.clone(), name: pack.name.clone(), description: String::new() };
    store::delete_pack(db, id, pack_entry(who, Action::PackDeleted, id, &draft, format!("Deleted pack `{}`.", pack.name))).await?;
    Ok(())
}

fn pack_entry(who: &Principal, action: Action, id: i64, d: &PackDraft, summary: String) -> Entry {
    Entry::new(&Actor::of(who), action, "pack:0", Links::default(), summary)
        .fields(serde_json::json!({"slug": d.slug, "name": d.name}))
        .about("pack", id)
}

fn item_entry(who: &Principal, action: Action, id: i64, d: &ItemDraft, summary: String) -> Entry {
    Entry::new(&Actor::of(who), action, "item:0", Links::default().with_items([], [d.pack_id]), summary)
        .fields(serde_json::json!({"title": d.title, "pack_id": d.pack_id, "depends_on": d.depends_on, "tools": d.tools,
            "labels": d.labels, "risk": d.risk.as_str(), "estimate_minutes": d.estimate_minutes, "status": d.status.as_str()}))
        .about("item", id)
}

fn tool_entry(who: &Principal, action: Action, d: &ToolDraft, summary: String) -> Entry {
    Entry::new(&Actor::of(who), action, format!("tool:{}", d.id), Links::default(), summary).fields(serde_json::json!({
        "sensitive": d.sensitive, "required_approvals": d.required_approvals, "mutating": d.mutating, "rollback": d.rollback,
        "risk_weight": d.risk_weight, "approval_expires_in_s": d.approval_expires_in_s}))
}

fn slug_taken(slug: &str) -> AppError {
    AppError::conflict(ErrorCode::SlugTaken, format!("A pack with the slug `{slug}` already exists; choose another slug."))
}

pub async fn list_items(db: &Db, who: &Principal, filter: &ItemFilter) -> AppResult<Vec<BacklogItem>> {
    who.require(Permission::Read)?;
    store::list_items(db, filter).await
}

pub async fn get_item(db: &Db, who: &Principal, id: i64) -> AppResult<BacklogItem> {
    who.require(Permission::Read)?;
    store::get_item(db, id).await?.ok_or_else(|| AppError::not_found(&format!("Backlog item {id}")))
}

/// An item with the items it depends on and the items that depend on it, for the detail page.
pub async fn item_detail(db: &Db, who: &Principal, id: i64) -> AppResult<ItemDetailView> {
    let item = get_item(db, who, id).await?;
    let mut dependencies = vec![];
    for dep in &item.depends_on {
        if let Some(d) = store::get_item(db, *dep).await? {
            dependencies.push(d);
        }
    }
    let mut dependents = vec![];
    for dep in store::dependents(db, id).await? {
        if let Some(d) = store::get_item(db, dep).await? {
            dependents.push(d);
        }
    }
    Ok(ItemDetailView { item, dependencies, dependents })
}

/// Unknown packs, dependencies and tools are named in one 422 so the caller fixes all at once.
async fn check_references(db: &Db, d: &ItemDraft) -> AppResult<()> {
    let mut missing = vec![];
    let mut err = AppError::unprocessable(ErrorCode::UnknownReferences, "");
    if store::get_pack(db, d.pack_id).await?.is_none() {
        missing.push(format!("pack {} does not exist", d.pack_id));
        err = err.with("unknown_pack_id", d.pack_id);
    }
    let found = store::existing_item_ids(db, &d.depends_on).await?;
    let unknown_items: Vec<i64> = d.depends_on.iter().copied().filter(|id| !found.contains(id)).collect();
    if !unknown_items.is_empty() {
        let list = unknown_items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        missing.push(format!("`depends_on` names items that do not exist: {list}"));
        err = err.with("unknown_item_ids", unknown_items);
    }
    let found = store::existing_tool_ids(db, &d.tools).await?;
    let unknown_tools: Vec<&String> = d.tools.iter().filter(|t| !found.contains(t)).collect();
    if !unknown_tools.is_empty() {
        missing.push(format!("`tools` names tools that are not registered: {}", quoted(&unknown_tools)));
        err = err.with("unknown_tool_ids", unknown_tools.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    if missing.is_empty() {
        return Ok(());
    }
    err.message = format!("{}. Fix or remove them and try again.", missing.join("; "));
    Err(err)
}

pub async fn create_item(db: &Db, who: &Principal, input: &ItemInput) -> AppResult<BacklogItem> {
    who.require(Permission::EditBacklog)?;
    let draft = validate_item(input, None)?;
    check_references(db, &draft).await?;
    let audit = item_entry(who, Action::ItemCreated, 0, &draft, format!("Created “{}”.", draft.title));
    let id = store::save_item(db, None, &draft, now_ms(), audit).await?;
    get_item(db, who, id).await
}

pub async fn update_item(db: &Db, who: &Principal, id: i64, input: &ItemInput) -> AppResult<BacklogItem> {
    who.require(Permission::EditBacklog)?;
    let current = get_item(db, who, id).await?;
    let draft = validate_item(input, Some(&current))?;
    check_references(db, &draft).await?;
    let audit = item_entry(who, Action::ItemUpdated, id, &draft, format!("Changed “{}”.", draft.title));
    store::save_item(db, Some(id), &draft, now_ms(), audit).await?;
    get_item(db, who, id).await
}

pub async fn delete_item(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    who.require(Permission::EditBacklog)?;
    let item = get_item(db, who, id).await?;
    let dependents = store::dependents(db, id).await?;
    if !dependents.is_empty() {
        let list = dependents.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        return Err(AppError::conflict(
            ErrorCode::ItemHasDependents,
            format!("“{}” is a dependency of items {list}; remove it from their `depends_on` first.", item.title),
        )
        .with("dependent_item_ids", dependents));
    }
    let audit = Entry::new(
        &Actor::of(who),
        Action::ItemDeleted,
        "item:0",
        Links::default().with_items([], [item.pack_id]),
        format!("Deleted “{}”.", item.title),
    )
    .fields(serde_json::json!({"title": item.title, "pack_id": item.pack_id}))
    .about("item", id);
    store::delete_item(db, id, audit).await?;
    Ok(())
}

pub async fn list_tools(db: &Db, who: &Principal) -> AppResult<Vec<Tool>> {
    who.require(Permission::Read)?;
    store::list_tools(db).await
}

pub async fn get_tool(db: &Db, who: &Principal, id: &str) -> AppResult<Tool> {
    who.require(Permission::Read)?;
    store::get_tool(db, id).await?.ok_or_else(|| AppError::not_found(&format!("Tool `{id}`")))
}

pub async fn create_tool(db: &Db, who: &Principal, input: &ToolInput) -> AppResult<Tool> {
    who.require(Permission::ManageTools)?;
    let draft = validate_tool(input, None)?;
    let audit = tool_entry(who, Action::ToolCreated, &draft, format!("Registered tool `{}`.", draft.id));
    if !store::upsert_tool(db, &draft, now_ms(), false, audit).await? {
        return Err(AppError::conflict(ErrorCode::ToolExists, format!("A tool with id `{}` is already registered.", draft.id)));
    }
    get_tool(db, who, &draft.id).await
}

pub async fn update_tool(db: &Db, who: &Principal, id: &str, input: &ToolInput) -> AppResult<Tool> {
    who.require(Permission::ManageTools)?;
    let current = get_tool(db, who, id).await?;
    let draft = validate_tool(input, Some(&current))?;
    let audit = tool_entry(who, Action::ToolUpdated, &draft, format!("Changed tool `{}`.", draft.id));
    store::upsert_tool(db, &draft, now_ms(), true, audit).await?;
    get_tool(db, who, id).await
}

pub async fn delete_tool(db: &Db, who: &Principal, id: &str) -> AppResult<()> {
    who.require(Permission::ManageTools)?;
    get_tool(db, who, id).await?;
    let users = store::items_using_tool(db, id).await?;
    if !users.is_empty() {
        let list = users.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        return Err(AppError::conflict(ErrorCode::ToolInUse, format!("Tool `{id}` is used by items {list}; remove it from them first."))
            .with("item_ids", users));
    }
    let audit = Entry::new(&Actor::of(who), Action::ToolDeleted, format!("tool:{id}"), Links::default(), format!("Removed tool `{id}`."));
    store::delete_tool(db, id, audit).await?;
    Ok(())
}

pub async fn record_metric(db: &Db, who: &Principal, input: &MetricInput) -> AppResult<ToolMetric> {
    who.require(Permission::RecordMetrics)?;
    let now = now_ms();
    let values = validate_metric(input, now)?;
    if store::get_tool(db, &input.tool_id).await?.is_none() {
        return Err(AppError::unprocessable(
            ErrorCode::UnknownReferences,
            format!("Tool `{}` is not registered; register it before recording runs.", input.tool_id),
        )
        .with("unknown_tool_ids", vec![input.tool_id.clone()]));
    }
    let id = store::insert_metric(db, &input.tool_id, values).await?;
    Ok(ToolMetric {
        id,
        tool_id: input.tool_id.clone(),
        duration_ms: values.0,
        cost_usd: values.1,
        tokens: values.2,
        recorded_at: values.3,
    })
}

pub async fn list_metrics(db: &Db, who: &Principal, tool_id: Option<&str>, limit: i64) -> AppResult<Vec<ToolMetric>> {
    who.require(Permission::Read)?;
    store::list_metrics(db, tool_id, limit.clamp(1, 1000)).await
}

/// Statistics of every tool's recent runs (the last [`METRIC_WINDOW`] each), from one query:
/// what the planner estimates with and what the tools page shows. No permission: an input to
/// other use cases, not an answer to a caller.
pub async fn tool_stats(db: &Db) -> AppResult<std::collections::HashMap<String, ToolStats>> {
    let mut runs: std::collections::HashMap<String, Vec<(i64, f64)>> = std::collections::HashMap::new();
    for (tool, ms, cost) in store::recent_metrics(db, METRIC_WINDOW).await? {
        runs.entry(tool).or_default().push((ms, cost));
    }
    Ok(runs.into_iter().filter_map(|(t, r)| ToolStats::from_runs(&r).map(|s| (t, s))).collect())
}

/// The tools page: the registry with each tool's recent runs (median time and cost) and how
/// many items use it; one query per list.
pub async fn tool_summaries(db: &Db, who: &Principal) -> AppResult<Vec<ToolSummary>> {
    who.require(Permission::Read)?;
    let tools = store::list_tools(db).await?;
    let usage = store::tool_usage_counts(db).await?;
    let stats = tool_stats(db).await?;
    Ok(tools
        .into_iter()
        .map(|tool| {
            let s = stats.get(&tool.id);
            ToolSummary {
                used_by: usage.get(&tool.id).copied().unwrap_or(0),
                p50_duration_ms: s.map(|s| s.duration_p50_ms),
                p50_cost_usd: s.map(|s| s.cost_p50_usd),
                tool,
            }
        })
        .collect())
}

/// The backlog page: the items matching `filter`, and the filters' options.
pub async fn backlog_view(db: &Db, who: &Principal, filter: &ItemFilter) -> AppResult<BacklogView> {
    who.require(Permission::Read)?;
    let items = store::list_items(db, filter).await?;
    let packs = store::list_packs(db).await?;
    Ok(BacklogView {
        items,
        total: packs.iter().map(|p| p.item_count).sum(),
        packs,
        labels: store::all_labels(db).await?,
        sensitive_tools: store::list_tools(db).await?.into_iter().filter(|t| t.sensitive).map(|t| t.id).collect(),
    })
}

/// An item's page: the item, what it depends on and what depends on it, and the registry.
pub async fn item_view(db: &Db, who: &Principal, id: i64) -> AppResult<ItemView> {
    Ok(ItemView { detail: item_detail(db, who, id).await?, tools: store::list_tools(db).await? })
}

/// The create (`None`) or edit form: the item, packs, candidate dependencies and tools.
pub async fn item_form(db: &Db, who: &Principal, id: Option<i64>) -> AppResult<ItemFormData> {
    who.require(Permission::Read)?;
    let item = match id {
        Some(id) => Some(get_item(db, who, id).await?),
        None => None,
    };
    let candidates = store::list_items(db, &ItemFilter::default()).await?.into_iter().filter(|c| Some(c.id) != id).collect();
    Ok(ItemFormData { item, packs: store::list_packs(db).await?, candidates, tools: store::list_tools(db).await? })
}
