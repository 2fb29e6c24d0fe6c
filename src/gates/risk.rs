//! Risk gate: scores each step from its tool's risk weight, its item's risk level and labels, and
//! points out every step that will wait for human approval.

use super::evaluate::{GateInput, GateReport};
use super::model::{Finding, Gate, Verdict};
use crate::backlog::model::Risk;

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let p = &input.policy.risk;
    for s in &input.draft.steps {
        let Some(item) = input.catalog.get(&s.backlog_item_id) else { continue };
        let tool_weight = input.tools.get(&s.tool).map(|t| t.risk_weight).unwrap_or(0.0);
        let level = match item.risk {
            Risk::Low => p.item_risk.low,
            Risk::Medium => p.item_risk.medium,
            Risk::High => p.item_risk.high,
        };
        let labels: f64 = item.labels.iter().filter_map(|l| p.label_weights.get(l)).sum();
        let score = tool_weight + level + labels;
        let (verdict, remediation) = if score >= p.block_at {
            (Verdict::Block, format!("Lower the risk below {}: split the item, use a less risky tool than `{}`, or request an override with a justification.", p.block_at, s.tool))
        } else if score >= p.warn_at {
            (Verdict::Warn, format!("Review this step with care; below {} it would pass without a warning.", p.warn_at))
        } else {
            (Verdict::Allow, String::new())
        };
        let mut reason = format!("Risk score {score:.1} = tool {tool_weight:.1} + {} risk {level:.1}", item.risk.as_str());
        if labels > 0.0 {
            reason.push_str(&format!(" + labels {labels:.1}"));
        }
        reason.push_str(&format!(" (warn at {}, block at {}).", p.warn_at, p.block_at));
        report.push(Finding { gate: Gate::Risk, step_id: Some(s.id.clone()), verdict, enforcement: p.enforcement, rule: "risk.score".into(), reason, remediation });

        if s.sensitive || s.required_approvals > 0 {
            let n = s.required_approvals.max(1);
            report.push(Finding {
                gate: Gate::Risk,
                step_id: Some(s.id.clone()),
                verdict: Verdict::Warn,
                enforcement: p.sensitive_enforcement,
                rule: "risk.sensitive".into(),
                reason: format!("`{}` is sensitive: this step will require human approval ({n} approval{}) before it runs.", s.tool, if n == 1 { "" } else { "s" }),
                remediation: "Make sure a reviewer is available, or plan it when one is.".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::super::model::Enforcement;
    use super::*;

    #[test]
    fn scores_add_up_and_cross_thresholds() {
        // deploy:prod 5 + high 3 + prod 3 = 11, at the default block_at of 11.
        let f = Fixture::new(vec![item(1, &["codegen"], &[], Risk::Low, &[]), item(2, &["deploy:prod"], &["prod"], Risk::High, &[]), item(3, &["bash"], &["prod"], Risk::Medium, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let score = |step: &str| fired(&r, "risk.score").into_iter().find(|x| x.step_id.as_deref() == Some(step)).unwrap().clone();
        assert_eq!(score("s1-1").verdict, Verdict::Allow);
        assert!(score("s1-1").reason.starts_with("Risk score 1.0 = tool 1.0 + low risk 0.0"), "{}", score("s1-1").reason);
        assert_eq!(score("s2-1").verdict, Verdict::Block, "{}", score("s2-1").reason);
        assert!(score("s2-1").remediation.contains("override"));
        assert_eq!(score("s3-1").verdict, Verdict::Warn, "bash 2 + medium 1 + prod 3 = 6");
    }

    #[test]
    fn enforcement_levels() {
        let items = vec![item(1, &["deploy:prod"], &["prod"], Risk::High, &[])];
        let advisory = Fixture::new(items.clone()).with_policy("[risk]\nenforcement = \"advisory\"\n");
        let d = advisory.draft();
        let r = advisory.report(&d);
        assert_eq!(fired(&r, "risk.score")[0].verdict, Verdict::Warn, "advisory never blocks");
        let hard = Fixture::new(items).with_policy("[risk]\nenforcement = \"hard-mandatory\"\n");
        let r = hard.report(&d);
        assert_eq!((fired(&r, "risk.score")[0].verdict, fired(&r, "risk.score")[0].enforcement), (Verdict::Block, Enforcement::HardMandatory));
    }

    #[test]
    fn sensitive_steps_are_flagged_with_their_approvals() {
        let f = Fixture::new(vec![item(1, &["codegen", "git_pr"], &[], Risk::Low, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let s = fired(&r, "risk.sensitive");
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].step_id.as_deref(), s[0].verdict), (Some("s1-2"), Verdict::Warn));
        assert!(s[0].reason.contains("1 approval)"), "{}", s[0].reason);
    }
}
