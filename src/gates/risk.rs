//! Risk gate: scores every step (tool weight + item risk + label weights) against the policy's thresholds and flags steps that wait for a human.

use rustc_hash::FxHashMap;
use std::fmt::Write;

use super::input::{GateInput, GateReport};
use crate::backlog::model::{BacklogItem, Risk};
use crate::plan::draft::MANUAL_TOOL;
use crate::plan::verdict::{Finding, Fixed, Gate, Verdict};

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let p = &input.policy.risk;
    // The same for every step: the thresholds as the texts print them.
    let (warn_at, block_at) = (p.warn_at.to_string(), p.block_at.to_string());
    // Steps with the same tool, item risk and labels have the same score and breakdown: each
    // distinct one is written once (a plan has a handful, however many steps).
    let mut breakdowns: FxHashMap<(&str, Risk, &[String]), (f64, String)> = FxHashMap::default();
    let mut notices: FxHashMap<(&str, i64), String> = FxHashMap::default();
    // An item's steps usually sit together: look the item up once per run of them.
    let mut last: Option<&BacklogItem> = None;
    for (i, s) in input.draft.steps.iter().enumerate() {
        let item = match last {
            Some(it) if it.id == s.backlog_item_id => it,
            _ => {
                let Some(it) = input.catalog.get(&s.backlog_item_id) else { continue };
                last = Some(it);
                it
            }
        };
        let (score, reason) = breakdowns
            .entry((s.tool.as_str(), item.risk, item.labels.as_slice()))
            .or_insert_with(|| breakdown(input, &s.tool, item, &warn_at, &block_at));
        let score = *score;
        let reason = reason.clone();

        let verdict = if score >= p.block_at {
            Verdict::Block
        } else if score >= p.warn_at {
            Verdict::Warn
        } else {
            Verdict::Allow
        };
        let mut remediation = String::new();
        if verdict == Verdict::Block {
            let _ = write!(
                remediation,
                "Lower the risk below {block_at}: split item {} into smaller items, use a less risky tool than `{}`, or, if this risk is accepted, raise `risk.block_at` in the policy file.",
                item.id, s.tool
            );
        } else if verdict == Verdict::Warn {
            let _ = write!(
                remediation,
                "Review this step with care (below {warn_at} it passes without a warning); splitting item {} lowers the risk per step.",
                item.id
            );
        }
        if verdict != Verdict::Allow {
            if let Some(l) = item.labels.iter().find(|l| p.label_weights.get(*l).is_some_and(|w| *w > 0.0)) {
                let _ = write!(remediation, " Remove the `{l}` label only if it is wrong.");
            }
        }
        report.push(Finding {
            gate: Gate::Risk,
            step: Some(i),
            verdict,
            enforcement: p.enforcement,
            rule: "risk.score".into(),
            reason: reason.into(),
            remediation: remediation.into(),
        });

        let approvals = super::compliance::approvals_of(input, report, i);
        if s.sensitive || approvals > 0 {
            let n = approvals.max(1);
            let reason = notices
                .entry((s.tool.as_str(), n))
                .or_insert_with(|| {
                    format!(
                        "`{}` {}: this step will wait for {} before it runs.",
                        s.tool,
                        if s.sensitive { "is sensitive" } else { "is guarded by a compliance rule" },
                        crate::text::plural(n as usize, "human approval")
                    )
                })
                .clone();
            report.push(Finding {
                gate: Gate::Risk,
                step: Some(i),
                verdict: Verdict::Warn,
                enforcement: p.sensitive_enforcement,
                rule: "risk.sensitive".into(),
                reason: reason.into(),
                remediation: "Make sure a reviewer can approve it in the Approvals inbox when the step is reached.".into(),
            });
        }
    }
}

/// A step's score and its breakdown, e.g.
/// "Risk score 9.0 = `deploy:prod` 5.0 + high risk 3.0 + prod 3.0 (warn at 6, block at 11).".
fn breakdown(input: &GateInput<'_>, tool: &str, item: &BacklogItem, warn_at: &str, block_at: &str) -> (f64, String) {
    let p = &input.policy.risk;
    // Unknown tools are the structural gate's business; here they weigh nothing.
    let tool_weight = if tool == MANUAL_TOOL { 0.0 } else { input.tools.get(tool).map_or(0.0, |t| t.risk_weight) };
    let level = match item.risk {
        Risk::Low => p.item_risk.low,
        Risk::Medium => p.item_risk.medium,
        Risk::High => p.item_risk.high,
    };
    let score = tool_weight + level + item.labels.iter().filter_map(|l| p.label_weights.get(l)).sum::<f64>();
    let mut reason = String::with_capacity(96);
    let _ = write!(
        reason,
        "Risk score {} = `{tool}` {} + {} risk {}",
        Fixed::<1>(score),
        Fixed::<1>(tool_weight),
        item.risk.as_str(),
        Fixed::<1>(level)
    );
    for l in &item.labels {
        if let Some(w) = p.label_weights.get(l) {
            let _ = write!(reason, " + {l} {}", Fixed::<1>(*w));
        }
    }
    let _ = write!(reason, " (warn at {warn_at}, block at {block_at}).");
    (score, reason)
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::*;
    use crate::plan::verdict::Enforcement;

    fn score<'a>(d: &crate::plan::draft::Draft, r: &'a GateReport, step: &str) -> &'a Finding {
        fired(r, "risk.score").into_iter().find(|x| at(d, x) == Some(step)).unwrap()
    }

    #[test]
    fn scores_add_up_and_cross_thresholds() {
        // Default policy: warn at 6, block at 11; high 3, medium 1; prod 3, pii 2.
        let f = Fixture::new(vec![
            item(1, &["codegen"], &[], Risk::Low, &[]),
            item(2, &["deploy:prod"], &["prod"], Risk::High, &[]),
            item(3, &["bash"], &["prod"], Risk::Medium, &[]),
            item(4, &["bash"], &["unweighted"], Risk::Medium, &[]),
        ]);
        let d = f.draft();
        let r = f.report(&d);
        let low = score(&d, &r, "s1-1");
        assert_eq!(low.verdict, Verdict::Allow);
        assert_eq!(low.reason, "Risk score 1.0 = `codegen` 1.0 + low risk 0.0 (warn at 6, block at 11).");
        let deploy = score(&d, &r, "s2-1");
        assert_eq!(deploy.verdict, Verdict::Block, "5 + 3 + 3 = 11: {}", deploy.reason);
        assert!(deploy.reason.contains("+ prod 3.0"), "{}", deploy.reason);
        assert!(
            deploy.remediation.contains("risk.block_at")
                && deploy.remediation.contains("split item 2")
                && deploy.remediation.contains("`prod` label only if it is wrong"),
            "{}",
            deploy.remediation
        );
        assert_eq!(score(&d, &r, "s3-1").verdict, Verdict::Warn, "bash 2 + medium 1 + prod 3 = 6");
        assert_eq!(score(&d, &r, "s4-1").verdict, Verdict::Allow, "labels without a weight add nothing");
        assert_eq!(fired(&r, "risk.score").len(), 4, "one finding per step");
    }

    #[test]
    fn unknown_and_manual_tools_weigh_nothing() {
        let f = Fixture::new(vec![item(1, &["teleport"], &[], Risk::High, &[]), item(2, &[], &[], Risk::Medium, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        assert!(
            score(&d, &r, "s1-1").reason.starts_with("Risk score 3.0 = `teleport` 0.0 + high risk 3.0"),
            "{}",
            score(&d, &r, "s1-1").reason
        );
        assert!(score(&d, &r, "s2-1").reason.starts_with("Risk score 1.0 = `manual` 0.0"), "{}", score(&d, &r, "s2-1").reason);
    }

    #[test]
    fn enforcement_levels() {
        let items = vec![item(1, &["deploy:prod"], &["prod"], Risk::High, &[])];
        let advisory = Fixture::new(items.clone()).with_policy("[risk]\nenforcement = \"advisory\"\n");
        let d = advisory.draft();
        let r = advisory.report(&d);
        assert_eq!(
            (fired(&r, "risk.score")[0].verdict, fired(&r, "risk.score")[0].enforcement),
            (Verdict::Warn, Enforcement::Advisory),
            "advisory never blocks"
        );
        let soft = Fixture::new(items.clone());
        let r = soft.report(&d);
        assert_eq!(
            (fired(&r, "risk.score")[0].verdict, fired(&r, "risk.score")[0].enforcement),
            (Verdict::Block, Enforcement::SoftMandatory)
        );
        let hard = Fixture::new(items).with_policy("[risk]\nenforcement = \"hard-mandatory\"\n");
        let r = hard.report(&d);
        assert_eq!(
            (fired(&r, "risk.score")[0].verdict, fired(&r, "risk.score")[0].enforcement),
            (Verdict::Block, Enforcement::HardMandatory)
        );
    }

    #[test]
    fn thresholds_and_weights_come_from_the_policy() {
        let f = Fixture::new(vec![item(1, &["codegen"], &["pii"], Risk::Low, &[])]);
        let d = f.draft();
        assert_eq!(fired(&f.report(&d), "risk.score")[0].verdict, Verdict::Allow, "1 + 0 + 2 = 3");
        let f = f.with_policy("[risk]\nwarn_at = 2\nblock_at = 4\n[risk.label_weights]\npii = 5\n");
        assert_eq!(fired(&f.report(&d), "risk.score")[0].verdict, Verdict::Block, "1 + 0 + 5 = 6; the table replaces the default weights");
        let f = f.with_policy("[risk]\nwarn_at = 2\nblock_at = 4\n[risk.label_weights]\nprod = 5\n");
        assert_eq!(fired(&f.report(&d), "risk.score")[0].verdict, Verdict::Allow, "pii no longer weighs anything: 1 < 2");
    }

    #[test]
    fn sensitive_steps_are_flagged_with_their_approvals() {
        let f = Fixture::new(vec![item(1, &["codegen", "git_pr", "deploy:prod"], &[], Risk::Low, &[]), item(2, &[], &[], Risk::Low, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let s = fired(&r, "risk.sensitive");
        assert_eq!(
            s.iter().map(|x| at(&d, x).unwrap()).collect::<Vec<_>>(),
            vec!["s1-2", "s1-3", "s2-1"],
            "git_pr, deploy:prod and the manual step"
        );
        assert!(s.iter().all(|x| (x.verdict, x.enforcement) == (Verdict::Warn, Enforcement::Advisory)));
        assert!(s[0].reason.contains("`git_pr` is sensitive: this step will wait for 1 human approval"), "{}", s[0].reason);
        assert!(s[1].reason.contains("wait for 2 human approvals"), "{}", s[1].reason);
        assert!(s[2].reason.contains("wait for 1 human approval"), "a manual step needs at least one: {}", s[2].reason);
        let f = f.with_policy("[risk]\nsensitive_enforcement = \"hard-mandatory\"\n");
        let r = f.report(&d);
        assert!(fired(&r, "risk.sensitive").iter().all(|x| x.verdict == Verdict::Warn), "a notice, never a block");
    }
}
