//! Overrides: what one can target, the rules that make one valid (enforcement level, role,
//! justification, expiry, scope), and which plans they unblock until when. Pure, shared by the
//! server and the browser (the plan page shows overrides and their form).

use serde::{Deserialize, Serialize};

use crate::auth::model::Role;
use crate::plan::model::Plan;
use crate::plan::verdict::{Enforcement, Gate, Verdict};

/// What an override lifts. Every target belongs to one plan (the override's scope).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Target {
    /// One gate's verdict on the whole plan: lifts every block of that gate in the plan.
    PlanVerdict { gate: Gate },
    /// One gate's verdict on one step.
    StepVerdict { step_id: String, gate: Gate },
    /// A pending approval of this plan (a step's or the plan's own): the override approves it.
    Approval { approval_id: i64 },
}

impl Target {
    /// For people: "the resource gate's verdict on the plan".
    pub fn label(&self) -> String {
        match self {
            Target::PlanVerdict { gate } => format!("the {} gate's verdict on the plan", gate.as_str()),
            Target::StepVerdict { step_id, gate } => format!("the {} gate's verdict on step {step_id}", gate.as_str()),
            Target::Approval { approval_id } => format!("approval request #{approval_id}"),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Target::PlanVerdict { .. } => "plan_verdict",
            Target::StepVerdict { .. } => "step_verdict",
            Target::Approval { .. } => "approval",
        }
    }
    /// Whether it lifts the block of `gate` on `step` (`None`: a plan-level finding).
    pub fn covers(&self, step: Option<&str>, gate: Gate) -> bool {
        match self {
            Target::PlanVerdict { gate: g } => *g == gate,
            Target::StepVerdict { step_id, gate: g } => *g == gate && step == Some(step_id.as_str()),
            Target::Approval { .. } => false,
        }
    }
}

/// Where an override stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum OverrideStatus {
    /// Waits for a second person's approval (`review_approval_id`).
    Pending,
    /// In force until `expires_at`.
    Active,
    /// It approved its pending approval (final).
    Applied,
    /// Its reviewers denied it, or its review expired: it never took effect.
    Rejected,
    Revoked,
    Expired,
}

impl OverrideStatus {
    pub const ALL: [OverrideStatus; 6] = [
        OverrideStatus::Pending,
        OverrideStatus::Active,
        OverrideStatus::Applied,
        OverrideStatus::Rejected,
        OverrideStatus::Revoked,
        OverrideStatus::Expired,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideStatus::Pending => "pending",
            OverrideStatus::Active => "active",
            OverrideStatus::Applied => "applied",
            OverrideStatus::Rejected => "rejected",
            OverrideStatus::Revoked => "revoked",
            OverrideStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<OverrideStatus> {
        OverrideStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Pending or active: it can still be revoked.
    pub fn is_live(self) -> bool {
        matches!(self, OverrideStatus::Pending | OverrideStatus::Active)
    }
}

/// A stored override, as the API answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Override {
    pub id: i64,
    pub plan_id: i64,
    pub target: Target,
    pub justification: String,
    /// As stored; an `active` override past `expires_at` reads as `expired` (see [`Override::status_at`]).
    pub status: OverrideStatus,
    /// `user:alice`, `key:ops-bot`.
    pub created_by: String,
    pub created_role: Role,
    /// The second person's approval request, when the policy asks for one.
    pub review_approval_id: Option<i64>,
    /// Epoch milliseconds.
    pub expires_at: i64,
    pub created_at: i64,
    /// When it took effect (at once, or when its review was approved).
    pub in_force_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
    pub end_note: Option<String>,
}

impl Override {
    /// Its status at `now`: an active override past its expiry is expired, whether or not the
    /// expiry has been written yet (every reader sees the same).
    pub fn status_at(&self, now: i64) -> OverrideStatus {
        match self.status {
            OverrideStatus::Active | OverrideStatus::Pending if self.expires_at <= now => OverrideStatus::Expired,
            s => s,
        }
    }
    /// It lifts verdicts at `now`.
    pub fn in_force(&self, now: i64) -> bool {
        self.status_at(now) == OverrideStatus::Active
    }
}

/// Body of `POST /api/automation/override`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OverrideRequest {
    pub plan_id: i64,
    pub target: Target,
    /// Why it is right to proceed anyway, for the audit trail and the reviewers (the policy sets
    /// the minimum length).
    pub justification: String,
    /// How long it stays in force, in minutes (at most the policy's `max_hours`).
    pub expires_in_minutes: i64,
}

/// The override settings of the policy file, as the rules need them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub roles: Vec<Role>,
    pub min_justification_chars: usize,
    pub max_minutes: i64,
}

/// Why an override is refused; each maps to one HTTP status and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's role may not override (the policy's `roles`).
    Role {
        allowed: Vec<Role>,
    },
    /// The verdict is hard-mandatory: the rules that make it so.
    HardMandatory {
        rules: Vec<String>,
    },
    /// The verdict does not block: nothing to override.
    NotBlocking {
        verdict: Verdict,
    },
    /// No such step in the plan.
    UnknownStep,
    /// The plan was executed already; its verdicts no longer decide anything.
    AlreadyStarted,
    JustificationTooShort {
        min: usize,
    },
    JustificationTooLong {
        max: usize,
    },
    ExpiryOutOfRange {
        max_minutes: i64,
    },
}

/// The longest justification.
pub const MAX_JUSTIFICATION: usize = 2000;

/// What blocks a plan: every blocking plan-level finding (`step` `None`) and step verdict, with
/// its enforcement and rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub step: Option<String>,
    pub gate: Gate,
    pub enforcement: Enforcement,
    pub rules: Vec<String>,
}

pub fn blocks(plan: &Plan) -> Vec<Block> {
    let plan_level = plan.findings.iter().filter(|f| f.verdict == Verdict::Block).map(|f| Block {
        step: None,
        gate: f.gate,
        enforcement: f.enforcement,
        rules: vec![f.rule.to_string()],
    });
    let steps = plan.steps.iter().flat_map(|s| {
        s.verdicts.iter().filter(|v| v.verdict == Verdict::Block).map(|v| Block {
            step: Some(s.id.clone()),
            gate: v.gate,
            enforcement: v.enforcement,
            rules: v.rules.iter().map(|r| r.to_string()).collect(),
        })
    });
    plan_level.chain(steps).collect()
}

/// Checks a verdict override of `plan` by someone with `role` (approval targets are checked by
/// the service, which reads the approval).
pub fn check(req: &OverrideRequest, plan: &Plan, role: Role, rules: &Rules) -> Result<(), Refusal> {
    if !rules.roles.contains(&role) {
        return Err(Refusal::Role { allowed: rules.roles.clone() });
    }
    let verdict_target = !matches!(req.target, Target::Approval { .. });
    if verdict_target && plan.status.is_executing() {
        return Err(Refusal::AlreadyStarted);
    }
    match &req.target {
        Target::PlanVerdict { gate } => {
            let v = plan.verdicts.iter().find(|v| v.gate == *gate).map(|v| v.verdict).unwrap_or_default();
            if v != Verdict::Block {
                return Err(Refusal::NotBlocking { verdict: v });
            }
            let hard: Vec<String> = blocks(plan)
                .into_iter()
                .filter(|b| b.gate == *gate && b.enforcement == Enforcement::HardMandatory)
                .flat_map(|b| b.rules)
                .collect();
            if !hard.is_empty() {
                return Err(Refusal::HardMandatory { rules: dedup(hard) });
            }
        }
        Target::StepVerdict { step_id, gate } => {
            let step = plan.step(step_id).ok_or(Refusal::UnknownStep)?;
            let v = step.verdicts.iter().find(|v| v.gate == *gate).ok_or(Refusal::NotBlocking { verdict: Verdict::Allow })?;
            if v.verdict != Verdict::Block {
                return Err(Refusal::NotBlocking { verdict: v.verdict });
            }
            if v.enforcement == Enforcement::HardMandatory {
                return Err(Refusal::HardMandatory { rules: dedup(v.rules.iter().map(|r| r.to_string()).collect()) });
            }
        }
        Target::Approval { .. } => {}
    }
    let chars = req.justification.trim().chars().count();
    if chars < rules.min_justification_chars {
        return Err(Refusal::JustificationTooShort { min: rules.min_justification_chars });
    }
    if chars > MAX_JUSTIFICATION {
        return Err(Refusal::JustificationTooLong { max: MAX_JUSTIFICATION });
    }
    if !(1..=rules.max_minutes).contains(&req.expires_in_minutes) {
        return Err(Refusal::ExpiryOutOfRange { max_minutes: rules.max_minutes });
    }
    Ok(())
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Until when the overrides `in_force` (target, expiry) lift every block of `plan`: the
/// earliest expiry among the overrides each block needs (a block covered by several lasts as
/// long as the longest of them). `None` when a block is hard-mandatory or not covered (or
/// nothing blocks: the plan needs no lifting).
pub fn unblocked_until(plan: &Plan, in_force: &[(Target, i64)]) -> Option<i64> {
    let blocks = blocks(plan);
    if blocks.is_empty() {
        return None;
    }
    let mut until = i64::MAX;
    for b in &blocks {
        if b.enforcement == Enforcement::HardMandatory {
            return None;
        }
        let longest = in_force.iter().filter(|(t, _)| t.covers(b.step.as_deref(), b.gate)).map(|(_, at)| *at).max()?;
        until = until.min(longest);
    }
    Some(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::*;
    use crate::plan::verdict::{Finding, GateVerdict, Texts};

    fn verdict(gate: Gate, verdict: Verdict, enforcement: Enforcement, rule: &str) -> GateVerdict {
        let mut rules = Texts::new();
        rules.push(rule.to_string().into());
        GateVerdict { gate, verdict, enforcement, reasons: Texts::new(), remediation: Texts::new(), rules }
    }

    fn step(id: &str, verdicts: Vec<GateVerdict>) -> PlanStep {
        PlanStep {
            id: id.into(),
            backlog_item_id: 1,
            item_title: "t".into(),
            pack_id: 1,
            tool: "deploy".into(),
            sensitive: false,
            mutating: true,
            required_approvals: 0,
            wave: Some(0),
            depends_on: vec![],
            idempotency_token: "x".into(),
            rollback: None,
            estimate: StepEstimate::default(),
            verdict: verdicts.iter().map(|v| v.verdict).max().unwrap_or_default(),
            verdicts,
        }
    }

    /// A plan blocked by its budget (soft, plan-level), a soft risk block on s1 and, optionally,
    /// a hard freeze on s2.
    fn plan(hard: bool) -> Plan {
        let budget = Finding {
            gate: Gate::Resource,
            step: None,
            verdict: Verdict::Block,
            enforcement: Enforcement::SoftMandatory,
            rule: "resource.budget".into(),
            reason: "over budget".into(),
            remediation: "".into(),
        };
        let mut steps = vec![step("s1", vec![verdict(Gate::Risk, Verdict::Block, Enforcement::SoftMandatory, "risk.threshold")])];
        steps.push(step(
            "s2",
            vec![if hard {
                verdict(Gate::Compliance, Verdict::Block, Enforcement::HardMandatory, "compliance.year-end-freeze")
            } else {
                verdict(Gate::Compliance, Verdict::Warn, Enforcement::Advisory, "compliance.prod-changes-tested")
            }],
        ));
        let mut plan_verdicts = vec![
            verdict(Gate::Resource, Verdict::Block, Enforcement::SoftMandatory, "resource.budget"),
            verdict(Gate::Risk, Verdict::Block, Enforcement::SoftMandatory, "risk.threshold"),
        ];
        plan_verdicts.push(if hard {
            verdict(Gate::Compliance, Verdict::Block, Enforcement::HardMandatory, "compliance.year-end-freeze")
        } else {
            verdict(Gate::Compliance, Verdict::Warn, Enforcement::Advisory, "compliance.prod-changes-tested")
        });
        plan_verdicts.push(verdict(Gate::Structural, Verdict::Allow, Enforcement::Advisory, "r"));
        Plan { id: 7, verdicts: plan_verdicts, findings: vec![budget], ..Plan::of_steps(steps) }
    }

    fn rules() -> Rules {
        Rules { roles: vec![Role::Admin, Role::Automation], min_justification_chars: 20, max_minutes: 72 * 60 }
    }

    fn req(target: Target) -> OverrideRequest {
        OverrideRequest { plan_id: 7, target, justification: "Budget raised by finance for this release.".into(), expires_in_minutes: 60 }
    }

    #[test]
    fn a_soft_block_may_be_overridden_by_the_roles_the_policy_names() {
        let p = plan(false);
        assert_eq!(check(&req(Target::PlanVerdict { gate: Gate::Resource }), &p, Role::Admin, &rules()), Ok(()));
        assert_eq!(check(&req(Target::StepVerdict { step_id: "s1".into(), gate: Gate::Risk }), &p, Role::Automation, &rules()), Ok(()));
        assert_eq!(
            check(&req(Target::PlanVerdict { gate: Gate::Resource }), &p, Role::Planner, &rules()),
            Err(Refusal::Role { allowed: vec![Role::Admin, Role::Automation] })
        );
    }

    #[test]
    fn hard_mandatory_and_non_blocking_verdicts_are_refused() {
        let p = plan(true);
        assert_eq!(
            check(&req(Target::StepVerdict { step_id: "s2".into(), gate: Gate::Compliance }), &p, Role::Admin, &rules()),
            Err(Refusal::HardMandatory { rules: vec!["compliance.year-end-freeze".into()] })
        );
        assert_eq!(
            check(&req(Target::PlanVerdict { gate: Gate::Compliance }), &p, Role::Admin, &rules()),
            Err(Refusal::HardMandatory { rules: vec!["compliance.year-end-freeze".into()] }),
            "a plan-level override cannot reach a hard block through the back door"
        );
        let soft = plan(false);
        assert_eq!(
            check(&req(Target::PlanVerdict { gate: Gate::Compliance }), &soft, Role::Admin, &rules()),
            Err(Refusal::NotBlocking { verdict: Verdict::Warn }),
            "advisory rules only warn: nothing to override"
        );
        assert_eq!(
            check(&req(Target::StepVerdict { step_id: "s9".into(), gate: Gate::Risk }), &soft, Role::Admin, &rules()),
            Err(Refusal::UnknownStep)
        );
        let mut running = plan(false);
        running.status = PlanStatus::Running;
        assert_eq!(
            check(&req(Target::PlanVerdict { gate: Gate::Resource }), &running, Role::Admin, &rules()),
            Err(Refusal::AlreadyStarted)
        );
    }

    #[test]
    fn justification_and_expiry_are_bounded() {
        let p = plan(false);
        let mut r = req(Target::PlanVerdict { gate: Gate::Resource });
        r.justification = "   because    ".into();
        assert_eq!(check(&r, &p, Role::Admin, &rules()), Err(Refusal::JustificationTooShort { min: 20 }));
        r.justification = "é".repeat(2001);
        assert_eq!(check(&r, &p, Role::Admin, &rules()), Err(Refusal::JustificationTooLong { max: 2000 }));
        r.justification = "é".repeat(20);
        assert_eq!(check(&r, &p, Role::Admin, &rules()), Ok(()), "characters, not bytes");
        for minutes in [0, -5, 72 * 60 + 1] {
            r.expires_in_minutes = minutes;
            assert_eq!(check(&r, &p, Role::Admin, &rules()), Err(Refusal::ExpiryOutOfRange { max_minutes: 72 * 60 }), "{minutes}");
        }
    }

    #[test]
    fn a_plan_is_unblocked_while_every_block_is_covered() {
        let p = plan(false);
        let budget = (Target::PlanVerdict { gate: Gate::Resource }, 100);
        let risk_step = (Target::StepVerdict { step_id: "s1".into(), gate: Gate::Risk }, 50);
        let risk_plan = (Target::PlanVerdict { gate: Gate::Risk }, 80);
        assert_eq!(unblocked_until(&p, &[]), None);
        assert_eq!(unblocked_until(&p, std::slice::from_ref(&budget)), None, "the risk block is still there");
        assert_eq!(unblocked_until(&p, &[budget.clone(), risk_step.clone()]), Some(50), "until the first cover lapses");
        assert_eq!(unblocked_until(&p, &[budget.clone(), risk_step, risk_plan]), Some(80), "the longest cover of a block counts");
        assert_eq!(unblocked_until(&plan(true), &[budget, (Target::PlanVerdict { gate: Gate::Risk }, 80)]), None, "a hard block stays");
        assert!(
            !Target::StepVerdict { step_id: "s1".into(), gate: Gate::Risk }.covers(None, Gate::Risk),
            "a step override never lifts a plan-level finding"
        );
    }

    #[test]
    fn an_override_past_its_expiry_reads_as_expired() {
        let o = Override {
            id: 1,
            plan_id: 7,
            target: Target::PlanVerdict { gate: Gate::Resource },
            justification: "j".into(),
            status: OverrideStatus::Active,
            created_by: "user:a".into(),
            created_role: Role::Admin,
            review_approval_id: None,
            expires_at: 100,
            created_at: 0,
            in_force_at: Some(0),
            ended_at: None,
            ended_by: None,
            end_note: None,
        };
        assert!(o.in_force(99));
        assert_eq!(o.status_at(100), OverrideStatus::Expired);
        assert!(!o.in_force(100));
        assert_eq!(Override { status: OverrideStatus::Revoked, ..o.clone() }.status_at(50), OverrideStatus::Revoked);
    }

    #[test]
    fn targets_round_trip_as_tagged_json() {
        let t = Target::StepVerdict { step_id: "s1-0".into(), gate: Gate::Risk };
        let j = serde_json::to_value(&t).unwrap();
        assert_eq!(j, serde_json::json!({"kind": "step_verdict", "step_id": "s1-0", "gate": "risk"}));
        assert_eq!(serde_json::from_value::<Target>(j).unwrap(), t);
        assert!(serde_json::from_value::<Target>(serde_json::json!({"kind": "plan_verdict", "gate": "nope"})).is_err());
        assert!(serde_json::from_value::<Target>(serde_json::json!({"kind": "plan_verdict", "gate": "risk", "x": 1})).is_err());
        for s in OverrideStatus::ALL {
            assert_eq!(OverrideStatus::parse(s.as_str()), Some(s));
        }
    }
}
