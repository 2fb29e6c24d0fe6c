//! The pure validation rules: every problem with every field at once, bounds, slugs and ids.

use std::collections::BTreeSet;

use super::*;
use crate::error::{AppError, ErrorCode};

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
