//! Backlog persistence: portable SQL over the shared `AnyPool` (runs on SQLite and PostgreSQL).

use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row};
use std::collections::HashMap;

use super::model::*;
use crate::audit::Entry;
use crate::error::{AppError, AppResult};
use crate::storage::{column, now_ms, placeholders, Backend, Db, Tx};

// ---- packs -----------------------------------------------------------------------------------

const PACK_COLUMNS: &str = "p.id, p.slug, p.name, p.description, p.created_at, p.updated_at,
    (select count(*) from backlog_items i where i.pack_id = p.id) as item_count";

fn pack_from_row(r: &AnyRow) -> sqlx::Result<Pack> {
    Pack::from_row(r)
}

pub async fn list_packs(db: &Db) -> AppResult<Vec<Pack>> {
    let rows = sqlx::query(&format!("select {PACK_COLUMNS} from packs p order by p.name, p.id")).fetch_all(db.reader()).await?;
    Ok(rows.iter().map(pack_from_row).collect::<sqlx::Result<_>>()?)
}

pub async fn get_pack(db: &Db, id: i64) -> AppResult<Option<Pack>> {
    let row = sqlx::query(&format!("select {PACK_COLUMNS} from packs p where p.id = $1")).bind(id).fetch_optional(db.reader()).await?;
    Ok(row.as_ref().map(pack_from_row).transpose()?)
}

pub async fn insert_pack(db: &Db, d: &PackDraft, now: i64, audit: Entry) -> AppResult<Option<i64>> {
    let (d, backend) = (d.clone(), db.backend);
    db.write(move |tx| {
        let (d, audit) = (d.clone(), audit.clone());
        Box::pin(async move {
            let row = sqlx::query(
                "insert into packs (slug, name, description, created_at, updated_at) values ($1, $2, $3, $4, $4)
                 on conflict (slug) do nothing returning id",
            )
            .bind(d.slug)
            .bind(d.name)
            .bind(d.description)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            let id: Option<i64> = row.map(|r| r.try_get("id")).transpose()?;
            if let Some(id) = id {
                crate::audit::store::append(tx, backend, vec![audit.about("pack", id)], now).await?;
            }
            Ok(id)
        })
    })
    .await
}

/// Returns false when the new slug is taken by another pack.
pub async fn update_pack(db: &Db, id: i64, d: &PackDraft, now: i64, audit: Entry) -> AppResult<bool> {
    let (d, backend) = (d.clone(), db.backend);
    db.write(move |tx| {
        let (d, audit) = (d.clone(), audit.clone());
        Box::pin(async move {
            let taken =
                sqlx::query("select id from packs where slug = $1 and id <> $2").bind(&d.slug).bind(id).fetch_optional(&mut **tx).await?;
            if taken.is_some() {
                return Ok(false);
            }
            sqlx::query("update packs set slug = $1, name = $2, description = $3, updated_at = $4 where id = $5")
                .bind(d.slug)
                .bind(d.name)
                .bind(d.description)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            crate::audit::store::append(tx, backend, vec![audit], now).await?;
            Ok(true)
        })
    })
    .await
}

pub async fn delete_pack(db: &Db, id: i64, audit: Entry) -> AppResult<u64> {
    delete_by_id(db, "packs", id, audit).await
}

/// `delete from {table} where id = $1` with its audit record, the number of rows it removed.
async fn delete_by_id(db: &Db, table: &'static str, id: i64, audit: Entry) -> AppResult<u64> {
    let backend = db.backend;
    db.write(move |tx| {
        let audit = audit.clone();
        Box::pin(async move {
            let n = sqlx::query(&format!("delete from {table} where id = $1")).bind(id).execute(&mut **tx).await?.rows_affected();
            if n > 0 {
                crate::audit::store::append(tx, backend, vec![audit], now_ms()).await?;
            }
            Ok(n)
        })
    })
    .await
}

// ---- tools -----------------------------------------------------------------------------------

const TOOL_COLUMNS: &str =
    "t.id, t.description, t.sensitive, t.required_approvals, t.mutating, t.rollback, t.risk_weight, t.approval_expires_in_s,
    t.created_at, t.updated_at, (select count(*) from tool_metrics m where m.tool_id = t.id) as run_count";

/// A `tools` row as stored (flags are integers 0/1 on both engines).
#[derive(sqlx::FromRow)]
struct ToolRow {
    id: String,
    description: String,
    sensitive: i64,
    required_approvals: i64,
    mutating: i64,
    rollback: Option<String>,
    risk_weight: f64,
    approval_expires_in_s: Option<i64>,
    run_count: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ToolRow> for Tool {
    fn from(r: ToolRow) -> Tool {
        Tool {
            id: r.id,
            description: r.description,
            sensitive: r.sensitive != 0,
            required_approvals: r.required_approvals,
            mutating: r.mutating != 0,
            rollback: r.rollback,
            risk_weight: r.risk_weight,
            approval_expires_in_s: r.approval_expires_in_s,
            run_count: r.run_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn tool_from_row(r: &AnyRow) -> sqlx::Result<Tool> {
    ToolRow::from_row(r).map(Tool::from)
}

pub async fn list_tools(db: &Db) -> AppResult<Vec<Tool>> {
    let rows = sqlx::query(&format!("select {TOOL_COLUMNS} from tools t order by t.id")).fetch_all(db.reader()).await?;
    Ok(rows.iter().map(tool_from_row).collect::<sqlx::Result<_>>()?)
}

pub async fn get_tool(db: &Db, id: &str) -> AppResult<Option<Tool>> {
    let row = sqlx::query(&format!("select {TOOL_COLUMNS} from tools t where t.id = $1")).bind(id).fetch_optional(db.reader()).await?;
    Ok(row.as_ref().map(tool_from_row).transpose()?)
}

/// Inserts or (with `replace`) updates a tool; returns false when inserting an id that exists.
pub async fn upsert_tool(db: &Db, d: &ToolDraft, now: i64, replace: bool, audit: Entry) -> AppResult<bool> {
    let sql = if replace {
        "update tools set description = $2, sensitive = $3, required_approvals = $4, mutating = $5, rollback = $6,
         risk_weight = $7, updated_at = $8, approval_expires_in_s = $9 where id = $1"
    } else {
        "insert into tools (id, description, sensitive, required_approvals, mutating, rollback, risk_weight, created_at, updated_at, approval_expires_in_s)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) on conflict (id) do nothing"
    };
    let (d, backend) = (d.clone(), db.backend);
    db.write(move |tx| {
        let (d, audit) = (d.clone(), audit.clone());
        Box::pin(async move {
            let done = sqlx::query(sql)
                .bind(d.id)
                .bind(d.description)
                .bind(d.sensitive as i64)
                .bind(d.required_approvals)
                .bind(d.mutating as i64)
                .bind(d.rollback)
                .bind(d.risk_weight)
                .bind(now)
                .bind(d.approval_expires_in_s)
                .execute(&mut **tx)
                .await?;
            let done = done.rows_affected() == 1;
            if done {
                crate::audit::store::append(tx, backend, vec![audit], now).await?;
            }
            Ok(done)
        })
    })
    .await
}

pub async fn delete_tool(db: &Db, id: &str, audit: Entry) -> AppResult<u64> {
    let (id, backend) = (id.to_string(), db.backend);
    db.write(move |tx| {
        let (id, audit) = (id.clone(), audit.clone());
        Box::pin(async move {
            let n = sqlx::query("delete from tools where id = $1").bind(id).execute(&mut **tx).await?.rows_affected();
            if n > 0 {
                crate::audit::store::append(tx, backend, vec![audit], now_ms()).await?;
            }
            Ok(n)
        })
    })
    .await
}

/// Items that use `tool_id`, to refuse deleting a tool still in use.
pub async fn items_using_tool(db: &Db, tool_id: &str) -> AppResult<Vec<i64>> {
    let rows = sqlx::query("select distinct item_id from item_tools where tool_id = $1 order by item_id")
        .bind(tool_id)
        .fetch_all(db.reader())
        .await?;
    Ok(rows.iter().map(|r| r.try_get("item_id")).collect::<sqlx::Result<_>>()?)
}

pub async fn existing_tool_ids(db: &Db, ids: &[String]) -> AppResult<Vec<String>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!("select id from tools where id in ({})", placeholders(1, ids.len()));
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(db.reader()).await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<sqlx::Result<_>>()?)
}

// ---- metrics ---------------------------------------------------------------------------------

pub async fn insert_metric(db: &Db, tool_id: &str, m: (i64, f64, i64, i64)) -> AppResult<i64> {
    let tool_id = tool_id.to_string();
    db.write(move |tx| {
        let tool_id = tool_id.clone();
        Box::pin(async move {
            let row = sqlx::query(
                "insert into tool_metrics (tool_id, duration_ms, cost_usd, tokens, recorded_at) values ($1, $2, $3, $4, $5) returning id",
            )
            .bind(tool_id)
            .bind(m.0)
            .bind(m.1)
            .bind(m.2)
            .bind(m.3)
            .fetch_one(&mut **tx)
            .await?;
            Ok(row.try_get("id")?)
        })
    })
    .await
}

pub async fn list_metrics(db: &Db, tool_id: Option<&str>, limit: i64) -> AppResult<Vec<ToolMetric>> {
    let rows = sqlx::query(
        "select id, tool_id, duration_ms, cost_usd, tokens, recorded_at from tool_metrics
         where ($1 = '' or tool_id = $1) order by recorded_at desc, id desc limit $2",
    )
    .bind(tool_id.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ToolMetric {
                id: r.try_get("id")?,
                tool_id: r.try_get("tool_id")?,
                duration_ms: r.try_get("duration_ms")?,
                cost_usd: r.try_get("cost_usd")?,
                tokens: r.try_get("tokens")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect::<sqlx::Result<_>>()
        .map_err(AppError::from)
}

// ---- items -----------------------------------------------------------------------------------

/// Builds `where ...` for a filter, with binds starting at `$1`.
fn item_where(f: &ItemFilter) -> (String, Vec<FilterBind>) {
    let mut clauses = vec![];
    let mut binds = vec![];
    if let Some(pack) = f.pack_id {
        binds.push(FilterBind::Int(pack));
        clauses.push(format!("i.pack_id = ${}", binds.len()));
    }
    if let Some(status) = f.status {
        binds.push(FilterBind::Text(status.as_str().into()));
        clauses.push(format!("i.status = ${}", binds.len()));
    }
    if let Some(label) = f.label.as_ref().filter(|l| !l.is_empty()) {
        binds.push(FilterBind::Text(label.to_lowercase()));
        clauses.push(format!("exists (select 1 from item_labels l where l.item_id = i.id and l.label = ${})", binds.len()));
    }
    if let Some(q) = f.q.as_ref().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        // Escape LIKE wildcards so a search for "100%" means the text "100%".
        let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        binds.push(FilterBind::Text(format!("%{escaped}%")));
        clauses.push(format!("lower(i.title) like ${} escape '\\'", binds.len()));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!("where {}", clauses.join(" and ")) };
    (sql, binds)
}

enum FilterBind {
    Int(i64),
    Text(String),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [FilterBind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            FilterBind::Int(v) => q.bind(*v),
            FilterBind::Text(v) => q.bind(v.as_str()),
        };
    }
    q
}

/// Lists items matching the filter, with their dependencies, tools and labels, in id order.
pub async fn list_items(db: &Db, filter: &ItemFilter) -> AppResult<Vec<BacklogItem>> {
    let (where_sql, binds) = item_where(filter);
    read_items(db, &where_sql, &binds).await
}

/// The items with these ids (those that exist), in id order.
pub async fn get_items(db: &Db, ids: &[i64]) -> AppResult<Vec<BacklogItem>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let binds: Vec<FilterBind> = ids.iter().map(|&id| FilterBind::Int(id)).collect();
    read_items(db, &format!("where i.id in ({})", marks.join(", ")), &binds).await
}

pub async fn get_item(db: &Db, id: i64) -> AppResult<Option<BacklogItem>> {
    Ok(read_items(db, "where i.id = $1", &[FilterBind::Int(id)]).await?.pop())
}

/// The items `where_sql` selects (over `backlog_items i`, binds `$1…`) with their pack's name and
/// their three relations, in id order. Each engine the way it reads fastest (2,000 items with
/// 12,000 relation rows, `benches/plan_endpoint.rs`): SQLite builds one JSON array (~23 ms;
/// read as rows it took ~70 ms, nearly all of it handing rows one by one from the driver's
/// thread to the caller); PostgreSQL answers four row queries (~6 ms of SQL; building the same
/// JSON took it ~55 ms).
async fn read_items(db: &Db, where_sql: &str, binds: &[FilterBind]) -> AppResult<Vec<BacklogItem>> {
    match db.backend {
        Backend::Sqlite => read_items_as_json(db, where_sql, binds).await,
        Backend::Postgres => read_items_as_rows(db, where_sql, binds).await,
    }
}

async fn read_items_as_json(db: &Db, where_sql: &str, binds: &[FilterBind]) -> AppResult<Vec<BacklogItem>> {
    let sql = format!(
        "select json_group_array(json_object(
                 'id', i.id, 'pack_id', i.pack_id, 'pack_name', p.name, 'title', i.title, 'description', i.description,
                 'risk', i.risk, 'estimate_minutes', i.estimate_minutes, 'status', i.status,
                 'created_at', i.created_at, 'updated_at', i.updated_at,
                 'depends_on', json((select json_group_array(d.depends_on_id order by d.depends_on_id)
                                     from item_dependencies d where d.item_id = i.id)),
                 'tools', json((select json_group_array(t.tool_id order by t.position) from item_tools t where t.item_id = i.id)),
                 'labels', json((select json_group_array(l.label order by l.label) from item_labels l where l.item_id = i.id))
             ) order by i.id) as items
             from backlog_items i join packs p on p.id = i.pack_id {where_sql}"
    );
    let row = bind_all(sqlx::query(&sql), binds).fetch_one(db.reader()).await?;
    let text: String = row.try_get("items")?;
    let rows: Vec<ItemRow> = serde_json::from_str(&text).map_err(|e| {
        tracing::error!(table = "backlog_items", error = %e, "items read as JSON do not parse");
        AppError::internal()
    })?;
    rows.into_iter().map(BacklogItem::try_from).collect()
}

async fn read_items_as_rows(db: &Db, where_sql: &str, binds: &[FilterBind]) -> AppResult<Vec<BacklogItem>> {
    let sql = format!(
        "select i.id, i.pack_id, p.name as pack_name, i.title, i.description, i.risk, i.estimate_minutes, i.status,
                i.created_at, i.updated_at
         from backlog_items i join packs p on p.id = i.pack_id {where_sql} order by i.id"
    );
    let subset = format!("select i.id from backlog_items i {where_sql}");
    let deps = format!("select item_id, depends_on_id from item_dependencies where item_id in ({subset}) order by item_id, depends_on_id");
    let tools = format!("select item_id, tool_id from item_tools where item_id in ({subset}) order by item_id, position");
    let labels = format!("select item_id, label from item_labels where item_id in ({subset}) order by item_id, label");
    // Four independent reads: side by side.
    let (rows, deps, tools, labels) = futures::try_join!(
        bind_all(sqlx::query(&sql), binds).fetch_all(db.reader()),
        bind_all(sqlx::query(&deps), binds).fetch_all(db.reader()),
        bind_all(sqlx::query(&tools), binds).fetch_all(db.reader()),
        bind_all(sqlx::query(&labels), binds).fetch_all(db.reader()),
    )?;
    let mut rows = rows.iter().map(ItemRow::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    let deps = deps.iter().map(<(i64, i64)>::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    let tools = tools.iter().map(<(i64, String)>::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    let labels = labels.iter().map(<(i64, String)>::from_row).collect::<sqlx::Result<Vec<_>>>()?;
    let index: HashMap<i64, usize> = rows.iter().enumerate().map(|(i, it)| (it.id, i)).collect();
    // Each relation row onto its item, in the order read.
    for (item, dep) in deps {
        if let Some(&i) = index.get(&item) {
            rows[i].depends_on.push(dep);
        }
    }
    for (item, tool) in tools {
        if let Some(&i) = index.get(&item) {
            rows[i].tools.push(tool);
        }
    }
    for (item, label) in labels {
        if let Some(&i) = index.get(&item) {
            rows[i].labels.push(label);
        }
    }
    rows.into_iter().map(BacklogItem::try_from).collect()
}

/// A `backlog_items` row with its pack's name and its relations, as [`read_items`] reads it (on
/// PostgreSQL the relations are read apart and filled in).
#[derive(serde::Deserialize, sqlx::FromRow)]
struct ItemRow {
    id: i64,
    pack_id: i64,
    pack_name: String,
    title: String,
    description: String,
    risk: String,
    estimate_minutes: i64,
    status: String,
    created_at: i64,
    updated_at: i64,
    #[sqlx(skip)]
    depends_on: Vec<i64>,
    #[sqlx(skip)]
    tools: Vec<String>,
    #[sqlx(skip)]
    labels: Vec<String>,
}

impl TryFrom<ItemRow> for BacklogItem {
    type Error = AppError;
    fn try_from(r: ItemRow) -> AppResult<BacklogItem> {
        Ok(BacklogItem {
            risk: column("backlog_items", r.id, "risk", &r.risk, Risk::parse)?,
            status: column("backlog_items", r.id, "status", &r.status, ItemStatus::parse)?,
            id: r.id,
            pack_id: r.pack_id,
            pack_name: r.pack_name,
            title: r.title,
            description: r.description,
            depends_on: r.depends_on,
            tools: r.tools,
            labels: r.labels,
            estimate_minutes: r.estimate_minutes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub async fn existing_item_ids(db: &Db, ids: &[i64]) -> AppResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!("select id from backlog_items where id in ({})", placeholders(1, ids.len()));
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(db.reader()).await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<sqlx::Result<_>>()?)
}

/// Ids of the items that depend on `id`.
pub async fn dependents(db: &Db, id: i64) -> AppResult<Vec<i64>> {
    let rows = sqlx::query("select item_id from item_dependencies where depends_on_id = $1 order by item_id")
        .bind(id)
        .fetch_all(db.reader())
        .await?;
    Ok(rows.iter().map(|r| r.try_get("item_id")).collect::<sqlx::Result<_>>()?)
}

/// Writes the item row and its relations in one transaction: all or nothing.
pub async fn save_item(db: &Db, id: Option<i64>, d: &ItemDraft, now: i64, audit: Entry) -> AppResult<i64> {
    let (d, backend) = (d.clone(), db.backend);
    db.write(move |tx| {
        let (d, audit) = (d.clone(), audit.clone());
        Box::pin(async move {
            let id = save_item_in(tx, id, &d, now).await?;
            crate::audit::store::append(tx, backend, vec![audit.about("item", id)], now).await?;
            Ok(id)
        })
    })
    .await
}

async fn save_item_in(tx: &mut Tx, id: Option<i64>, d: &ItemDraft, now: i64) -> AppResult<i64> {
    let id = match id {
        None => {
            let row = sqlx::query(
                "insert into backlog_items (pack_id, title, description, risk, estimate_minutes, status, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $7) returning id",
            )
            .bind(d.pack_id)
            .bind(&d.title)
            .bind(&d.description)
            .bind(d.risk.as_str())
            .bind(d.estimate_minutes)
            .bind(d.status.as_str())
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            row.try_get::<i64, _>("id")?
        }
        Some(id) => {
            let done = sqlx::query(
                "update backlog_items set pack_id = $1, title = $2, description = $3, risk = $4, estimate_minutes = $5,
                 status = $6, updated_at = $7 where id = $8",
            )
            .bind(d.pack_id)
            .bind(&d.title)
            .bind(&d.description)
            .bind(d.risk.as_str())
            .bind(d.estimate_minutes)
            .bind(d.status.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(AppError::not_found(&format!("Backlog item {id}")));
            }
            for table in ["item_dependencies", "item_tools", "item_labels"] {
                sqlx::query(&format!("delete from {table} where item_id = $1")).bind(id).execute(&mut **tx).await?;
            }
            id
        }
    };
    write_relations(tx, id, d).await?;
    Ok(id)
}

async fn write_relations(tx: &mut Tx, id: i64, d: &ItemDraft) -> AppResult<()> {
    for dep in &d.depends_on {
        sqlx::query("insert into item_dependencies (item_id, depends_on_id) values ($1, $2)")
            .bind(id)
            .bind(*dep)
            .execute(&mut **tx)
            .await?;
    }
    for (pos, tool) in d.tools.iter().enumerate() {
        sqlx::query("insert into item_tools (item_id, position, tool_id) values ($1, $2, $3)")
            .bind(id)
            .bind(pos as i64)
            .bind(tool)
            .execute(&mut **tx)
            .await?;
    }
    for label in &d.labels {
        sqlx::query("insert into item_labels (item_id, label) values ($1, $2)").bind(id).bind(label).execute(&mut **tx).await?;
    }
    Ok(())
}

pub async fn delete_item(db: &Db, id: i64, audit: Entry) -> AppResult<u64> {
    delete_by_id(db, "backlog_items", id, audit).await
}

/// Every label in use, for the filter menu.
pub async fn all_labels(db: &Db) -> AppResult<Vec<String>> {
    let rows = sqlx::query("select distinct label from item_labels order by label").fetch_all(db.reader()).await?;
    Ok(rows.iter().map(|r| r.try_get("label")).collect::<sqlx::Result<_>>()?)
}

/// How many items use each tool.
pub async fn tool_usage_counts(db: &Db) -> AppResult<HashMap<String, i64>> {
    let rows = sqlx::query("select tool_id, count(distinct item_id) as n from item_tools group by tool_id").fetch_all(db.reader()).await?;
    rows.iter().map(|r| Ok((r.try_get("tool_id")?, r.try_get("n")?))).collect::<sqlx::Result<_>>().map_err(AppError::from)
}

/// Every recorded run as `(tool, duration_ms, cost_usd)`, newest first, at most `per_tool` per tool
/// (recent runs say more about today's cost than old ones).
pub async fn recent_metrics(db: &Db, per_tool: i64) -> AppResult<Vec<(String, i64, f64)>> {
    let rows = sqlx::query(
        "select tool_id, duration_ms, cost_usd from (
            select tool_id, duration_ms, cost_usd, row_number() over (partition by tool_id order by recorded_at desc, id desc) as n
            from tool_metrics) m where n <= $1",
    )
    .bind(per_tool)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("tool_id")?, r.try_get("duration_ms")?, r.try_get("cost_usd")?)))
        .collect::<sqlx::Result<_>>()
        .map_err(Into::into)
}
