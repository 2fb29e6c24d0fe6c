//! Backlog domain: packs, items, the tool registry and tool metrics (the entities here), what
//! clients send (`input`), the pure validation rules (`validate`), tool statistics (`stats`),
//! the page views (`view`) and the browser form (`form`).

use serde::{Deserialize, Serialize};

mod form;
mod input;
mod stats;
mod validate;
mod view;

pub use form::*;
pub use input::*;
pub use stats::*;
pub use validate::*;
pub use view::*;

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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, sqlx::FromRow))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

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
