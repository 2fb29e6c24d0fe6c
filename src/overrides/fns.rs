//! Override server functions: the plan page's door to the same override service the JSON API
//! uses. Without JavaScript the browser returns to the plan page; errors come back in place.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::model::*;
#[cfg(feature = "ssr")]
use crate::auth::fns::ssr::{form_result, session, state};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::ErrorCode;

/// One thing the plan page offers to override: its form value (`plan:resource`,
/// `step:s3-0:risk`, `approval:12`), a label, and why not when it cannot be overridden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
    /// `Some(reason)` for a hard-mandatory verdict: shown, not selectable.
    pub refused: Option<String>,
}

/// What the plan page needs of the override policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRules {
    pub min_justification_chars: i64,
    pub max_hours: i64,
    pub require_approval: bool,
    /// Roles that may override, for "ask someone with role …".
    pub roles: Vec<String>,
}

/// The form value of a target.
pub fn choice_value(target: &super::model::Target) -> String {
    use super::model::Target;
    match target {
        Target::PlanVerdict { gate } => format!("plan:{}", gate.as_str()),
        Target::StepVerdict { step_id, gate } => format!("step:{step_id}:{}", gate.as_str()),
        Target::Approval { approval_id } => format!("approval:{approval_id}"),
    }
}

/// The target a form value names.
pub fn parse_choice(value: &str) -> Option<super::model::Target> {
    use super::model::Target;
    use crate::plan::verdict::Gate;
    let (kind, rest) = value.split_once(':')?;
    match kind {
        "plan" => Some(Target::PlanVerdict { gate: Gate::parse(rest)? }),
        "step" => {
            let (step, gate) = rest.rsplit_once(':')?;
            (!step.is_empty()).then(|| Some(Target::StepVerdict { step_id: step.to_string(), gate: Gate::parse(gate)? }))?
        }
        "approval" => Some(Target::Approval { approval_id: rest.parse().ok()? }),
        _ => None,
    }
}

#[server(prefix = "/_fn", endpoint = "create_override")]
pub async fn create_override(
    csrf: String,
    plan_id: i64,
    #[server(default)] target: String,
    #[server(default)] justification: String,
    #[server(default)] expires_in_minutes: String,
) -> Result<(), AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        let target = parse_choice(target.trim())
            .ok_or_else(|| AppError::unprocessable(ErrorCode::InvalidField, "Choose the verdict or request to override."))?;
        let expires_in_minutes = expires_in_minutes
            .trim()
            .parse::<i64>()
            .map_err(|_| AppError::unprocessable(ErrorCode::InvalidField, "Choose how long the override stays in force."))?;
        let req = OverrideRequest { plan_id, target, justification, expires_in_minutes };
        super::service::create(&state()?, &who, &req).await?;
        leptos_axum::redirect(&format!("/plans/{plan_id}"));
        Ok(())
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "revoke_override")]
pub async fn revoke_override(csrf: String, id: i64, plan_id: i64, #[server(default)] reason: String) -> Result<(), AppError> {
    form_result(async move {
        let who = session(&csrf).await?;
        super::service::revoke(&state()?, &who, id, &reason).await?;
        leptos_axum::redirect(&format!("/plans/{plan_id}"));
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::model::Target;
    use crate::plan::verdict::Gate;

    #[test]
    fn choices_round_trip() {
        for t in [
            Target::PlanVerdict { gate: Gate::Resource },
            Target::StepVerdict { step_id: "s12-0".into(), gate: Gate::Risk },
            Target::StepVerdict { step_id: "odd:id".into(), gate: Gate::Compliance },
            Target::Approval { approval_id: 7 },
        ] {
            assert_eq!(parse_choice(&choice_value(&t)), Some(t));
        }
        for bad in ["", "plan:vibes", "step::risk", "step:s1", "approval:x", "everything:1"] {
            assert_eq!(parse_choice(bad), None, "{bad}");
        }
    }
}
