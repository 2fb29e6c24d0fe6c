//! Backlog domain: packs, items, the tool registry and tool metrics, with the pure validation rules.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::{AppError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::Low, Risk::Medium, Risk::High];
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
    pub fn parse(s: &str) -> Option<Risk> {
        Risk::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ItemStatus {
    Todo,
    InProgress,
    Blocked,
    Done,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 4] = [ItemStatus::Todo, ItemStatus::InProgress, ItemStatus::Blocked, ItemStatus::Done];
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Todo => "todo",
            ItemStatus::InProgress => "in_progress",
            ItemStatus::Blocked => "blocked",
            ItemStatus::Done => "done",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ItemStatus::Todo => "To do",
            ItemStatus::InProgress => "In progress",
            ItemStatus::Blocked => "Blocked",
            ItemStatus::Done => "Done",
        }
    }
    pub fn parse(s: &str) -> Option<ItemStatus> {
        ItemStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A named bundle of work (a NOFX rule pack) that backlog items belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Pack {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub item_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BacklogItem {
    pub id: i64,
    pub pack_id: i64,
    pub pack_name: String,
    pub title: String,
    pub description: String,
    /// Ids of the items that must be done first.
    pub depends_on: Vec<i64>,
    /// Tool ids in the order the work runs them.
    pub tools: Vec<String>,
    pub labels: Vec<String>,
    pub risk: Risk,
    pub estimate_minutes: i64,
    pub status: ItemStatus,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tool an agent may call; sensitive tools need human approval before they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Tool {
    pub id: String,
    pub description: String,
    pub sensitive: bool,
    pub required_approvals: i64,
    /// Whether a run changes something outside the agent (and so needs a rollback recipe).
    pub mutating: bool,
    /// Rollback recipe; `{item_id}`, `{item_title}`, `{pack}`, `{tool}` and `{token}` are filled in per step.
    pub rollback: Option<String>,
    pub risk_weight: f64,
    /// How long approval requests for this tool stay open, in seconds (`None`: the server default).
    pub approval_expires_in_s: Option<i64>,
    pub run_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One recorded run of a tool; the resource gate estimates from these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolMetric {
    pub id: i64,
    pub tool_id: String,
    pub duration_ms: i64,
    pub cost_usd: f64,
    pub tokens: i64,
    pub recorded_at: i64,
}

/// Body of `POST /api/packs` and `PATCH /api/packs/{id}` (all fields optional on PATCH).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PackInput {
    /// URL-safe short name; derived from `name` when omitted on create.
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Body of `POST /api/items` (required: `pack_id`, `title`) and `PATCH /api/items/{id}` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ItemInput {
    pub pack_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub depends_on: Option<Vec<i64>>,
    pub tools: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub risk: Option<Risk>,
    pub estimate_minutes: Option<i64>,
    pub status: Option<ItemStatus>,
}

/// Body of `POST /api/tools` (required: `id`) and `PATCH /api/tools/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolInput {
    pub id: Option<String>,
    pub description: Option<String>,
    pub sensitive: Option<bool>,
    pub required_approvals: Option<i64>,
    pub mutating: Option<bool>,
    /// `null` clears the recipe on PATCH only when sent explicitly as an empty string.
    pub rollback: Option<String>,
    pub risk_weight: Option<f64>,
    /// Seconds approval requests for this tool stay open (5 s – 7 days); 0 clears it.
    pub approval_expires_in_s: Option<i64>,
}

/// Body of `POST /api/tool-metrics`: one recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricInput {
    pub tool_id: String,
    pub duration_ms: i64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub tokens: i64,
    /// Epoch milliseconds; defaults to now.
    pub recorded_at: Option<i64>,
}

/// Filters for the backlog list (query string of `GET /api/items` and of the backlog page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct ItemFilter {
    pub pack_id: Option<i64>,
    pub status: Option<ItemStatus>,
    pub label: Option<String>,
    /// Case-insensitive substring of the title.
    pub q: Option<String>,
}

/// How many recent runs per tool the statistics cover (the planner's estimates and the tools
/// page use the same window).
pub const METRIC_WINDOW: i64 = 200;

/// Recorded runs of one tool, summarised (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ToolStats {
    pub runs: i64,
    pub duration_p50_ms: i64,
    pub duration_p95_ms: i64,
    pub cost_p50_usd: f64,
    pub cost_p95_usd: f64,
}

impl ToolStats {
    /// From `(duration_ms, cost_usd)` runs; `None` when there are none.
    pub fn from_runs(runs: &[(i64, f64)]) -> Option<ToolStats> {
        if runs.is_empty() {
            return None;
        }
        let mut d: Vec<i64> = runs.iter().map(|r| r.0).collect();
        let mut c: Vec<f64> = runs.iter().map(|r| r.1).collect();
        d.sort_unstable();
        c.sort_by(f64::total_cmp);
        Some(ToolStats {
            runs: runs.len() as i64,
            duration_p50_ms: d[rank(d.len(), 0.50)],
            duration_p95_ms: d[rank(d.len(), 0.95)],
            cost_p50_usd: c[rank(c.len(), 0.50)],
            cost_p95_usd: c[rank(c.len(), 0.95)],
        })
    }
}

/// Nearest-rank percentile index: the smallest value with at least `p` of the values at or below it.
fn rank(n: usize, p: f64) -> usize {
    ((p * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// Everything the backlog page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogView {
    pub items: Vec<BacklogItem>,
    pub total: i64,
    pub packs: Vec<Pack>,
    pub labels: Vec<String>,
    pub sensitive_tools: Vec<String>,
}

/// An item with its dependencies and dependents, and the registry, for the detail page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemView {
    pub detail: ItemDetailView,
    pub tools: Vec<Tool>,
}

/// What the create/edit form needs: the item (when editing), packs, candidate dependencies, tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemFormData {
    pub item: Option<BacklogItem>,
    pub packs: Vec<Pack>,
    pub candidates: Vec<BacklogItem>,
    pub tools: Vec<Tool>,
}

/// A registry row with what its recent runs say (over [`METRIC_WINDOW`]), and how many items use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSummary {
    pub tool: Tool,
    pub p50_duration_ms: Option<i64>,
    pub p50_cost_usd: Option<f64>,
    pub used_by: i64,
}

/// An item with what it depends on and what depends on it (the detail page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDetailView {
    pub item: BacklogItem,
    pub dependencies: Vec<BacklogItem>,
    pub dependents: Vec<BacklogItem>,
}

// ---- validation ---------------------------------------------------------------------------

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_LABELS: usize = 20;
pub const MAX_TOOLS_PER_ITEM: usize = 20;
pub const MAX_DEPENDENCIES: usize = 100;
pub const MAX_ESTIMATE_MINUTES: i64 = 100_000;
pub const MAX_REQUIRED_APPROVALS: i64 = 10;

/// One problem with one field, so forms can show it next to the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Collects every problem at once so the user fixes the form in one go.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }
    pub fn into_result(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self.0.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join(" ");
        Err(AppError::unprocessable(ErrorCode::ValidationFailed, message).with("fields", serde_json::to_value(&self.0).unwrap_or_default()))
    }
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
}

/// A required single-line text: trimmed, non-blank, bounded, no control characters.
pub fn clean_line(p: &mut Problems, field: &str, value: &str, max: usize) -> String {
    let v = value.trim().to_string();
    if v.is_empty() {
        p.add(field, format!("`{field}` must not be blank."));
    } else if v.chars().count() > max {
        p.add(field, format!("`{field}` is {} characters long; the limit is {max}.", v.chars().count()));
    } else if v.contains(['\n', '\r']) || has_control_chars(&v) {
        p.add(field, format!("`{field}` must be a single line without control characters."));
    }
    v
}

pub fn clean_text(p: &mut Problems, field: &str, value: &str, max: usize) -> String {
    let v = value.trim().to_string();
    if v.chars().count() > max {
        p.add(field, format!("`{field}` is {} characters long; the limit is {max}.", v.chars().count()));
    } else if has_control_chars(&v) {
        p.add(field, format!("`{field}` contains control characters; remove them."));
    }
    v
}

fn is_slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Tool ids look like `git_pr`, `deploy:prod`, `gate:unit`.
pub fn is_valid_tool_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '-' | '.'))
}

/// Labels look like `pii`, `prod`, `needs-review`.
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 40
        && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | ':'))
}

/// Turns a display name into a slug: "Billing & Payments" → "billing-payments".
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(48).collect()
}

/// A validated pack, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct PackDraft {
    pub slug: String,
    pub name: String,
    pub description: String,
}

/// Validates a pack create (`current = None`) or a patch over `current`.
pub fn validate_pack(input: &PackInput, current: Option<&Pack>) -> Result<PackDraft, AppError> {
    let mut p = Problems::default();
    let name = match (&input.name, current) {
        (Some(n), _) => clean_line(&mut p, "name", n, 100),
        (None, Some(c)) => c.name.clone(),
        (None, None) => {
            p.add("name", "`name` is required.");
            String::new()
        }
    };
    let slug = match (&input.slug, current) {
        (Some(s), _) => s.trim().to_string(),
        (None, Some(c)) => c.slug.clone(),
        (None, None) => slugify(&name),
    };
    if !name.is_empty() && (slug.is_empty() || slug.len() > 48 || !slug.chars().all(is_slug_char) || slug.starts_with('-')) {
        p.add("slug", "`slug` must be 1–48 characters of a–z, 0–9 and '-', not starting with '-'.");
    }
    let description = match (&input.description, current) {
        (Some(d), _) => clean_text(&mut p, "description", d, 2_000),
        (None, Some(c)) => c.description.clone(),
        (None, None) => String::new(),
    };
    p.into_result()?;
    Ok(PackDraft { slug, name, description })
}

/// A validated item, ready to store once its references are checked against the database.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDraft {
    pub pack_id: i64,
    pub title: String,
    pub description: String,
    pub depends_on: Vec<i64>,
    pub tools: Vec<String>,
    pub labels: Vec<String>,
    pub risk: Risk,
    pub estimate_minutes: i64,
    pub status: ItemStatus,
}

/// Validates an item create (`current = None`) or a patch over `current` (`self_id` set).
/// Checks shape and bounds only; whether ids exist is the service's job.
pub fn validate_item(input: &ItemInput, current: Option<&BacklogItem>) -> Result<ItemDraft, AppError> {
    let mut p = Problems::default();
    let pack_id = match (input.pack_id, current) {
        (Some(id), _) => id,
        (None, Some(c)) => c.pack_id,
        (None, None) => {
            p.add("pack_id", "`pack_id` is required: every item belongs to a pack.");
            0
        }
    };
    let title = match (&input.title, current) {
        (Some(t), _) => clean_line(&mut p, "title", t, MAX_TITLE),
        (None, Some(c)) => c.title.clone(),
        (None, None) => {
            p.add("title", "`title` is required.");
            String::new()
        }
    };
    let description = match (&input.description, current) {
        (Some(d), _) => clean_text(&mut p, "description", d, MAX_DESCRIPTION),
        (None, Some(c)) => c.description.clone(),
        (None, None) => String::new(),
    };

    let mut depends_on = input.depends_on.clone().or_else(|| current.map(|c| c.depends_on.clone())).unwrap_or_default();
    let mut seen = BTreeSet::new();
    depends_on.retain(|id| seen.insert(*id)); // duplicates are harmless: keep the first
    if depends_on.len() > MAX_DEPENDENCIES {
        p.add("depends_on", format!("An item may depend on at most {MAX_DEPENDENCIES} items; split it up."));
    }
    if let Some(c) = current {
        if depends_on.contains(&c.id) {
            p.add("depends_on", format!("Item {} cannot depend on itself; remove {} from `depends_on`.", c.id, c.id));
        }
    }
    if depends_on.iter().any(|id| *id <= 0) {
        p.add("depends_on", "`depends_on` holds item ids, which are positive integers.");
    }

    let tools = input.tools.clone().or_else(|| current.map(|c| c.tools.clone())).unwrap_or_default();
    let tools: Vec<String> = tools.iter().map(|t| t.trim().to_string()).collect();
    if tools.len() > MAX_TOOLS_PER_ITEM {
        p.add("tools", format!("An item may use at most {MAX_TOOLS_PER_ITEM} tools."));
    }
    let bad_tools: Vec<&str> = tools.iter().filter(|t| !is_valid_tool_id(t)).map(|s| s.as_str()).collect();
    if !bad_tools.is_empty() {
        p.add("tools", format!("These are not tool ids: {}. Tool ids are lowercase, like `git_pr` or `deploy:prod`.", quoted(&bad_tools)));
    }
    let mut tool_seen = BTreeSet::new();
    let dup_tools: BTreeSet<&str> = tools.iter().filter(|t| !tool_seen.insert(t.as_str())).map(|s| s.as_str()).collect();
    if !dup_tools.is_empty() {
        p.add(
            "tools",
            format!("Each tool may appear once per item; {} is listed twice.", quoted(&dup_tools.into_iter().collect::<Vec<_>>())),
        );
    }

    let labels = input.labels.clone().or_else(|| current.map(|c| c.labels.clone())).unwrap_or_default();
    let mut labels: Vec<String> = labels.iter().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect();
    let mut label_seen = BTreeSet::new();
    labels.retain(|l| label_seen.insert(l.clone()));
    if labels.len() > MAX_LABELS {
        p.add("labels", format!("An item may carry at most {MAX_LABELS} labels."));
    }
    let bad_labels: Vec<&str> = labels.iter().filter(|l| !is_valid_label(l)).map(|s| s.as_str()).collect();
    if !bad_labels.is_empty() {
        p.add("labels", format!("These labels are not allowed: {}. Use up to 40 of a–z, 0–9, '-', '_' or ':'.", quoted(&bad_labels)));
    }

    let risk = input.risk.or(current.map(|c| c.risk)).unwrap_or(Risk::Medium);
    let estimate_minutes = input.estimate_minutes.or(current.map(|c| c.estimate_minutes)).unwrap_or(60);
    if !(0..=MAX_ESTIMATE_MINUTES).contains(&estimate_minutes) {
        p.add("estimate_minutes", format!("`estimate_minutes` must be between 0 and {MAX_ESTIMATE_MINUTES}."));
    }
    let status = input.status.or(current.map(|c| c.status)).unwrap_or(ItemStatus::Todo);
    p.into_result()?;
    Ok(ItemDraft { pack_id, title, description, depends_on, tools, labels, risk, estimate_minutes, status })
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolDraft {
    pub id: String,
    pub description: String,
    pub sensitive: bool,
    pub required_approvals: i64,
    pub mutating: bool,
    pub rollback: Option<String>,
    pub risk_weight: f64,
    pub approval_expires_in_s: Option<i64>,
}

pub fn validate_tool(input: &ToolInput, current: Option<&Tool>) -> Result<ToolDraft, AppError> {
    let mut p = Problems::default();
    let id = match (current, &input.id) {
        (Some(c), Some(id)) if id != &c.id => {
            p.add("id", "A tool's `id` cannot change; create a new tool instead.");
            c.id.clone()
        }
        (Some(c), _) => c.id.clone(),
        (None, Some(id)) => {
            let id = id.trim().to_string();
            if !is_valid_tool_id(&id) {
                p.add("id", "`id` must be 1–64 lowercase characters (a–z, 0–9, '_', ':', '-', '.'), like `git_pr` or `deploy:prod`.");
            }
            id
        }
        (None, None) => {
            p.add("id", "`id` is required.");
            String::new()
        }
    };
    let description = match (&input.description, current) {
        (Some(d), _) => clean_text(&mut p, "description", d, 1_000),
        (None, Some(c)) => c.description.clone(),
        (None, None) => String::new(),
    };
    let sensitive = input.sensitive.or(current.map(|c| c.sensitive)).unwrap_or(false);
    let required_approvals = input.required_approvals.or(current.map(|c| c.required_approvals)).unwrap_or(if sensitive { 1 } else { 0 });
    if !(0..=MAX_REQUIRED_APPROVALS).contains(&required_approvals) {
        p.add("required_approvals", format!("`required_approvals` must be between 0 and {MAX_REQUIRED_APPROVALS}."));
    } else if sensitive && required_approvals == 0 {
        p.add("required_approvals", "A sensitive tool needs at least 1 approval; set `required_approvals` to 1 or more.");
    } else if !sensitive && required_approvals > 0 {
        p.add("required_approvals", "Only sensitive tools need approvals; set `sensitive` to true or `required_approvals` to 0.");
    }
    let mutating = input.mutating.or(current.map(|c| c.mutating)).unwrap_or(false);
    let rollback = match (&input.rollback, current) {
        (Some(r), _) => {
            let r = clean_text(&mut p, "rollback", r, 2_000);
            (!r.is_empty()).then_some(r)
        }
        (None, Some(c)) => c.rollback.clone(),
        (None, None) => None,
    };
    let risk_weight = input.risk_weight.or(current.map(|c| c.risk_weight)).unwrap_or(1.0);
    if !risk_weight.is_finite() || !(0.0..=100.0).contains(&risk_weight) {
        p.add("risk_weight", "`risk_weight` must be a number between 0 and 100.");
    }
    let approval_expires_in_s = match input.approval_expires_in_s {
        Some(0) => None,
        Some(s) => {
            if !(5..=7 * 24 * 3600).contains(&s) {
                p.add(
                    "approval_expires_in_s",
                    "`approval_expires_in_s` must be between 5 and 604800 seconds (7 days), or 0 for the server default.",
                );
            }
            Some(s)
        }
        None => current.and_then(|c| c.approval_expires_in_s),
    };
    p.into_result()?;
    Ok(ToolDraft { id, description, sensitive, required_approvals, mutating, rollback, risk_weight, approval_expires_in_s })
}

pub fn validate_metric(input: &MetricInput, now_ms: i64) -> Result<(i64, f64, i64, i64), AppError> {
    let mut p = Problems::default();
    if !(0..=7 * 24 * 3_600_000).contains(&input.duration_ms) {
        p.add("duration_ms", "`duration_ms` must be between 0 and 604800000 (7 days).");
    }
    if !input.cost_usd.is_finite() || !(0.0..=1_000_000.0).contains(&input.cost_usd) {
        p.add("cost_usd", "`cost_usd` must be a number between 0 and 1000000.");
    }
    if !(0..=1_000_000_000).contains(&input.tokens) {
        p.add("tokens", "`tokens` must be between 0 and 1000000000.");
    }
    let recorded_at = input.recorded_at.unwrap_or(now_ms);
    if recorded_at < 0 || recorded_at > now_ms + 3_600_000 {
        p.add("recorded_at", "`recorded_at` must be epoch milliseconds, not in the future.");
    }
    p.into_result()?;
    Ok((input.duration_ms, input.cost_usd, input.tokens, recorded_at))
}

/// "`a`, `b`" for error sentences.
pub fn quoted<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(|s| format!("`{}`", s.as_ref())).collect::<Vec<_>>().join(", ")
}

/// Splits a comma- or whitespace-separated form field ("codegen, gate:unit git_pr") keeping order.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace()).map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// The browser form for an item, all strings as the browser sends them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemForm {
    pub pack_id: String,
    pub title: String,
    pub description: String,
    pub tools: String,
    pub labels: String,
    pub risk: String,
    pub status: String,
    pub estimate_minutes: String,
    pub depends_on: Vec<i64>,
}

impl ItemForm {
    /// Reads the form into an API input, naming the field when a value cannot be read.
    pub fn to_input(&self) -> Result<ItemInput, AppError> {
        let mut p = Problems::default();
        let pack_id = match self.pack_id.trim().parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                p.add("pack_id", "Choose a pack for the item.");
                None
            }
        };
        let risk = Risk::parse(self.risk.trim());
        if risk.is_none() {
            p.add("risk", "Risk must be low, medium or high.");
        }
        let status = ItemStatus::parse(self.status.trim());
        if status.is_none() {
            p.add("status", "Status must be todo, in_progress, blocked or done.");
        }
        let estimate = self.estimate_minutes.trim();
        let estimate_minutes = if estimate.is_empty() {
            Some(0)
        } else {
            match estimate.parse::<i64>() {
                Ok(m) => Some(m),
                Err(_) => {
                    p.add("estimate_minutes", "The estimate must be a whole number of minutes.");
                    None
                }
            }
        };
        p.into_result()?;
        Ok(ItemInput {
            pack_id,
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            depends_on: Some(self.depends_on.clone()),
            tools: Some(split_list(&self.tools)),
            labels: Some(split_list(&self.labels)),
            risk,
            estimate_minutes,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64) -> BacklogItem {
        BacklogItem {
            id,
            pack_id: 1,
            pack_name: "core".into(),
            title: "Ship it".into(),
            description: String::new(),
            depends_on: vec![],
            tools: vec!["codegen".into()],
            labels: vec![],
            risk: Risk::Low,
            estimate_minutes: 30,
            status: ItemStatus::Todo,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn fields(err: &AppError) -> Vec<String> {
        err.details["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn create_requires_pack_and_title() {
        let err = validate_item(&ItemInput::default(), None).unwrap_err();
        assert_eq!(err.status, 422);
        assert_eq!(fields(&err), vec!["pack_id", "title"]);
        assert!(err.message.contains("`title` is required."));
    }

    #[test]
    fn create_fills_defaults_and_normalises_lists() {
        let input = ItemInput {
            pack_id: Some(2),
            title: Some("  Add audit log  ".into()),
            depends_on: Some(vec![3, 3, 4]),
            labels: Some(vec!["PII".into(), "pii".into(), " ".into()]),
            tools: Some(vec![" codegen ".into(), "git_pr".into()]),
            ..Default::default()
        };
        let d = validate_item(&input, None).unwrap();
        assert_eq!(d.title, "Add audit log");
        assert_eq!(d.depends_on, vec![3, 4]);
        assert_eq!(d.labels, vec!["pii"]);
        assert_eq!(d.tools, vec!["codegen", "git_pr"]);
        assert_eq!((d.risk, d.status, d.estimate_minutes), (Risk::Medium, ItemStatus::Todo, 60));
    }

    #[test]
    fn patch_keeps_current_values_and_rejects_self_dependency() {
        let current = item(7);
        let d = validate_item(&ItemInput { estimate_minutes: Some(5), ..Default::default() }, Some(&current)).unwrap();
        assert_eq!(d.title, "Ship it");
        assert_eq!(d.tools, vec!["codegen"]);
        assert_eq!(d.estimate_minutes, 5);
        let err = validate_item(&ItemInput { depends_on: Some(vec![7]), ..Default::default() }, Some(&current)).unwrap_err();
        assert!(err.message.contains("cannot depend on itself"), "{}", err.message);
    }

    #[test]
    fn rejects_hostile_and_oversized_values() {
        let input = ItemInput {
            pack_id: Some(1),
            title: Some("x".repeat(MAX_TITLE + 1)),
            description: Some("bell\u{7}".into()),
            tools: Some(vec!["rm -rf /".into(), "codegen".into(), "codegen".into()]),
            labels: Some(vec!["<script>".into()]),
            estimate_minutes: Some(-1),
            ..Default::default()
        };
        let err = validate_item(&input, None).unwrap_err();
        let f = fields(&err);
        for expected in ["title", "description", "tools", "labels", "estimate_minutes"] {
            assert!(f.contains(&expected.to_string()), "missing {expected} in {f:?}");
        }
        assert!(err.message.contains("`rm -rf /`"));
        assert!(err.message.contains("`codegen` is listed twice"));
        let newline = validate_item(&ItemInput { pack_id: Some(1), title: Some("a\nb".into()), ..Default::default() }, None);
        assert!(newline.is_err());
    }

    #[test]
    fn tool_rules() {
        let t = validate_tool(&ToolInput { id: Some("deploy:prod".into()), sensitive: Some(true), ..Default::default() }, None).unwrap();
        assert_eq!(t.required_approvals, 1, "sensitive tools default to one approval");
        let err = validate_tool(
            &ToolInput { id: Some("x".into()), sensitive: Some(true), required_approvals: Some(0), ..Default::default() },
            None,
        )
        .unwrap_err();
        assert!(err.message.contains("at least 1 approval"));
        let err =
            validate_tool(&ToolInput { id: Some("Bad Id".into()), risk_weight: Some(f64::NAN), ..Default::default() }, None).unwrap_err();
        assert_eq!(fields(&err), vec!["id", "risk_weight"]);
        let err =
            validate_tool(&ToolInput { id: Some("bash".into()), required_approvals: Some(2), ..Default::default() }, None).unwrap_err();
        assert!(err.message.contains("Only sensitive tools"));
    }

    #[test]
    fn pack_slug_from_name() {
        assert_eq!(slugify("Billing & Payments!"), "billing-payments");
        let d = validate_pack(&PackInput { name: Some("Data Platform".into()), ..Default::default() }, None).unwrap();
        assert_eq!(d.slug, "data-platform");
        let err =
            validate_pack(&PackInput { name: Some("x".into()), slug: Some("Not A Slug".into()), ..Default::default() }, None).unwrap_err();
        assert_eq!(fields(&err), vec!["slug"]);
    }

    #[test]
    fn metric_bounds() {
        let ok = MetricInput { tool_id: "bash".into(), duration_ms: 1200, cost_usd: 0.02, tokens: 10, recorded_at: None };
        assert_eq!(validate_metric(&ok, 1_000).unwrap(), (1200, 0.02, 10, 1_000));
        let bad = MetricInput { duration_ms: -1, cost_usd: f64::INFINITY, tokens: -5, recorded_at: Some(10_000_000), ..ok };
        assert_eq!(validate_metric(&bad, 1_000).unwrap_err().details["fields"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn form_parsing_names_fields() {
        let form = ItemForm {
            pack_id: "".into(),
            title: "T".into(),
            risk: "extreme".into(),
            status: "todo".into(),
            estimate_minutes: "ten".into(),
            tools: "codegen, gate:unit  git_pr".into(),
            ..Default::default()
        };
        let err = form.to_input().unwrap_err();
        assert_eq!(fields(&err), vec!["pack_id", "risk", "estimate_minutes"]);
        let ok = ItemForm { pack_id: "3".into(), risk: "high".into(), estimate_minutes: "15".into(), ..form };
        let input = ok.to_input().unwrap();
        assert_eq!(input.tools.unwrap(), vec!["codegen", "gate:unit", "git_pr"]);
        assert_eq!(input.estimate_minutes, Some(15));
    }
}
