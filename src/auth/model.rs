//! Roles, permissions and the authenticated principal: pure rules shared by every door.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, ErrorCode};
use std::fmt;

/// What a user or API key may do. Roles are not a ladder: a reviewer decides approvals but does
/// not edit the backlog; automation edits and plans but never decides approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Role {
    Viewer,
    Planner,
    Reviewer,
    Automation,
    /// Runs plan steps: claims them, heartbeats and reports; a worker key can do nothing else.
    Worker,
    /// Reads everything, the audit trail included, and changes nothing (a compliance officer).
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 7] = [Role::Viewer, Role::Planner, Role::Reviewer, Role::Automation, Role::Worker, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Planner => "planner",
            Role::Reviewer => "reviewer",
            Role::Automation => "automation",
            Role::Worker => "worker",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permission matrix; one arm per role so a change is a one-line, reviewable diff.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            // Admins do everything but run steps: that is a worker key's one job.
            Role::Admin => !matches!(permission, RunSteps),
            Role::Viewer => matches!(permission, Read),
            Role::Planner => matches!(permission, Read | EditBacklog | CreatePlan | ExecutePlan),
            Role::Reviewer => matches!(permission, Read | DecideApproval),
            Role::Automation => matches!(permission, Read | EditBacklog | RecordMetrics | CreatePlan | RequestApproval | ExecutePlan),
            Role::Worker => matches!(permission, RunSteps),
            Role::Auditor => matches!(permission, Read | ReadAudit),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything an endpoint can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Read,
    EditBacklog,
    /// The tool registry decides what needs a human, so only admins change it.
    ManageTools,
    RecordMetrics,
    CreatePlan,
    RequestApproval,
    DecideApproval,
    /// Webhook delivery logs name target URLs and their errors: operators only.
    ManageWebhooks,
    /// Execute (and cancel) plans.
    ExecutePlan,
    /// Claim plan steps, heartbeat and report their outcome (workers).
    RunSteps,
    /// Read and export the audit trail, verify its chain.
    ReadAudit,
    /// List, create and revoke API keys.
    ManageKeys,
}

impl Permission {
    /// A sentence fragment for error messages: "... needs permission to {describe}".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::EditBacklog => "edit the backlog",
            Permission::ManageTools => "manage the tool registry",
            Permission::RecordMetrics => "record tool metrics",
            Permission::CreatePlan => "create plans",
            Permission::RequestApproval => "request approvals",
            Permission::DecideApproval => "decide approvals",
            Permission::ManageWebhooks => "inspect webhook deliveries",
            Permission::ExecutePlan => "execute and cancel plans",
            Permission::RunSteps => "run plan steps as a worker",
            Permission::ReadAudit => "read the audit trail",
            Permission::ManageKeys => "manage API keys",
        }
    }

    /// Roles that hold this permission, for "ask someone with role X" hints.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.allows(self)).collect()
    }
}

/// What the signed-in user may do, computed on the server from the role's permissions: pages
/// decide which controls to show from these, never by matching role names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub edit_backlog: bool,
    pub manage_tools: bool,
    pub create_plans: bool,
    pub decide_approvals: bool,
    pub inspect_webhooks: bool,
    pub execute_plans: bool,
    pub read_audit: bool,
    pub manage_keys: bool,
}

impl Capabilities {
    /// Where this user starts after signing in: planners and editors on the backlog, reviewers
    /// on their inbox, auditors on the audit trail.
    pub fn home(&self) -> &'static str {
        if self.edit_backlog || self.create_plans {
            "/backlog"
        } else if self.decide_approvals {
            "/approvals"
        } else if self.read_audit {
            "/audit"
        } else {
            "/backlog"
        }
    }

    pub fn of(role: Role) -> Capabilities {
        Capabilities {
            edit_backlog: role.allows(Permission::EditBacklog),
            manage_tools: role.allows(Permission::ManageTools),
            create_plans: role.allows(Permission::CreatePlan),
            decide_approvals: role.allows(Permission::DecideApproval),
            inspect_webhooks: role.allows(Permission::ManageWebhooks),
            execute_plans: role.allows(Permission::ExecutePlan),
            read_audit: role.allows(Permission::ReadAudit),
            manage_keys: role.allows(Permission::ManageKeys),
        }
    }
}

/// Who is calling: a signed-in user (browser) or an API key (automation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ApiKey,
}

impl Principal {
    /// A stable identity string for audit records and requester fields: `user:alice`, `key:zig-todo`.
    pub fn identity(&self) -> String {
        match self.kind {
            PrincipalKind::User => format!("user:{}", self.name),
            PrincipalKind::ApiKey => format!("key:{}", self.name),
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// Ok when this principal's role holds `permission`; otherwise 403 naming the roles that do.
    /// Every service use case starts with it, so no door (API, browser, webhook, CLI) can forget
    /// a check.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.can(permission) {
            return Ok(());
        }
        let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
        Err(AppError::forbidden(
            ErrorCode::Forbidden,
            format!("Your role `{}` cannot {}; this needs one of: {}.", self.role, permission.describe(), roles.join(", ")),
        )
        .with("required_roles", roles))
    }
}

/// Where an API key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    Active,
    /// Past its `expires_at`: refused with 401.
    Expired,
    /// Revoked by an admin: refused with 401.
    Revoked,
}

impl KeyStatus {
    pub fn of(expires_at: Option<i64>, revoked_at: Option<i64>, now: i64) -> KeyStatus {
        match (revoked_at, expires_at) {
            (Some(_), _) => KeyStatus::Revoked,
            (None, Some(at)) if at <= now => KeyStatus::Expired,
            _ => KeyStatus::Active,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// An API key as admins see it: never the key itself, only its first characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// `nofx_` and the next seven characters, to recognise a key in a config file or a leak.
    pub prefix: String,
    pub status: KeyStatus,
    pub created_at: i64,
    /// Within a minute (uses are recorded at most once a minute).
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A new key: its description and the key itself, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// Shown once: only its hash is stored.
    pub key: String,
}

/// Body of `POST /api/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    /// Days until the key stops working (1–3650); it never expires when left out.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_starts_where_its_work_is() {
        let home = |r: Role| Capabilities::of(r).home();
        assert_eq!(
            [Role::Reviewer, Role::Planner, Role::Admin, Role::Auditor, Role::Viewer].map(home),
            ["/approvals", "/backlog", "/backlog", "/audit", "/backlog"]
        );
    }

    #[test]
    fn capabilities_follow_the_permissions() {
        let none = Capabilities::default();
        assert_eq!(Capabilities::of(Role::Viewer), none);
        assert_eq!(Capabilities::of(Role::Planner), Capabilities { edit_backlog: true, create_plans: true, execute_plans: true, ..none });
        assert_eq!(Capabilities::of(Role::Reviewer), Capabilities { decide_approvals: true, ..none });
        assert_eq!(
            Capabilities::of(Role::Automation),
            Capabilities { edit_backlog: true, create_plans: true, execute_plans: true, ..none }
        );
        assert_eq!(Capabilities::of(Role::Worker), none, "a worker's key has no page to see");
        assert_eq!(Capabilities::of(Role::Auditor), Capabilities { read_audit: true, ..none });
        assert_eq!(
            Capabilities::of(Role::Admin),
            Capabilities {
                edit_backlog: true,
                manage_tools: true,
                create_plans: true,
                decide_approvals: true,
                inspect_webhooks: true,
                execute_plans: true,
                read_audit: true,
                manage_keys: true,
            }
        );
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None, "role names are case-sensitive");
    }

    #[test]
    fn permission_matrix() {
        use Permission::*;
        assert!(Role::Viewer.allows(Read));
        assert!(!Role::Viewer.allows(EditBacklog));
        assert!(Role::Planner.allows(EditBacklog) && Role::Planner.allows(CreatePlan));
        assert!(!Role::Planner.allows(DecideApproval) && !Role::Planner.allows(ManageTools));
        assert!(Role::Reviewer.allows(DecideApproval));
        assert!(!Role::Reviewer.allows(EditBacklog));
        assert!(Role::Automation.allows(RecordMetrics) && Role::Automation.allows(RequestApproval));
        assert!(!Role::Automation.allows(DecideApproval) && !Role::Automation.allows(ManageTools));
        for p in [Read, EditBacklog, ManageTools, RecordMetrics, CreatePlan, RequestApproval, DecideApproval, ManageWebhooks, ExecutePlan] {
            assert!(Role::Admin.allows(p));
            assert!(p.roles().contains(&Role::Admin));
        }
        assert_eq!(ManageTools.roles(), vec![Role::Admin]);
        assert_eq!(ManageWebhooks.roles(), vec![Role::Admin], "delivery logs name targets and their errors");
        assert_eq!(RunSteps.roles(), vec![Role::Worker], "only worker keys run steps");
        assert_eq!(
            [Read, EditBacklog, CreatePlan, ExecutePlan, RequestApproval].map(|p| Role::Worker.allows(p)),
            [false; 5],
            "a worker key can do nothing but run steps"
        );
        assert_eq!(ExecutePlan.roles(), vec![Role::Planner, Role::Automation, Role::Admin]);
        assert_eq!(ReadAudit.roles(), vec![Role::Auditor, Role::Admin], "the audit trail names every actor: auditors and admins");
        assert_eq!(ManageKeys.roles(), vec![Role::Admin]);
    }

    #[test]
    fn key_status_follows_revocation_and_expiry() {
        assert_eq!(KeyStatus::of(None, None, 10), KeyStatus::Active);
        assert_eq!(KeyStatus::of(Some(11), None, 10), KeyStatus::Active);
        assert_eq!(KeyStatus::of(Some(10), None, 10), KeyStatus::Expired, "expired at its instant");
        assert_eq!(KeyStatus::of(Some(11), Some(5), 10), KeyStatus::Revoked, "revoked wins");
    }

    #[test]
    fn identity_names_the_kind() {
        let p = Principal { kind: PrincipalKind::ApiKey, id: 3, name: "zig-todo".into(), role: Role::Automation };
        assert_eq!(p.identity(), "key:zig-todo");
        let u = Principal { kind: PrincipalKind::User, id: 1, name: "alice".into(), role: Role::Planner };
        assert_eq!(u.identity(), "user:alice");
    }
}
