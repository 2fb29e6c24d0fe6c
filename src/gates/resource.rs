//! Resource gate: estimated cost and duration from recorded tool runs (p50 / p95), per step and
//! for the plan, against the budget and the longest acceptable critical path.

use super::input::{GateInput, GateReport};
use rustc_hash::FxHashMap;
use std::fmt::Write;

use crate::plan::model::{EstimateSource, StepEstimate};
use crate::plan::verdict::{Finding, Fixed, Gate, Text, Verdict};
use crate::text::Duration;

/// What a step is estimated at and where that comes from, and how to get a real estimate.
fn estimate_text(tool: &str, e: &StepEstimate) -> (String, Text) {
    let mut reason = String::with_capacity(96);
    let _ = write!(
        reason,
        "p50 {}, ${} (p95 {}, ${}), ",
        Duration(e.duration_p50_ms),
        Fixed::<2>(e.cost_p50_usd),
        Duration(e.duration_p95_ms),
        Fixed::<2>(e.cost_p95_usd)
    );
    let _ = if e.runs > 0 {
        write!(reason, "from {} recorded runs.", e.runs)
    } else if e.source == EstimateSource::ItemEstimate {
        write!(reason, "no recorded runs of `{tool}`: share of the item's estimate.")
    } else {
        write!(reason, "no recorded runs of `{tool}`: policy default.")
    };
    let remediation = if e.runs == 0 {
        format!("Record runs of `{tool}` with POST /api/tool-metrics for a real estimate.").into()
    } else {
        Text::Borrowed("")
    };
    (reason, remediation)
}

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let p = &input.policy.resource;
    let est = &input.draft.estimate;
    let budget = est.budget_usd;
    let finding = |step: Option<usize>, verdict: Verdict, rule: &'static str, reason: String, remediation: Text| Finding {
        gate: Gate::Resource,
        step,
        verdict,
        enforcement: p.enforcement,
        rule: rule.into(),
        reason: reason.into(),
        remediation,
    };
    // Steps with the same tool and estimate get the same text: each distinct one is written once.
    let mut texts: FxHashMap<(&str, [i64; 5], EstimateSource), (String, Text)> = FxHashMap::default();
    for (i, s) in input.draft.steps.iter().enumerate() {
        let e = &s.estimate;
        let key = (
            s.tool.as_str(),
            [e.duration_p50_ms, e.duration_p95_ms, e.cost_p50_usd.to_bits() as i64, e.cost_p95_usd.to_bits() as i64, e.runs],
            e.source,
        );
        let (reason, remediation) = texts.entry(key).or_insert_with(|| estimate_text(&s.tool, e)).clone();
        if budget > 0.0 && e.cost_p50_usd > budget {
            let reason = format!("{reason} This one step costs more than the whole budget (${budget:.2}).");
            let remediation = format!("Raise budget_usd above ${:.2} or use a cheaper tool than `{}`.", e.cost_p50_usd, s.tool);
            report.push(finding(Some(i), Verdict::Block, "resource.estimate", reason, remediation.into()));
        } else {
            report.push(finding(Some(i), Verdict::Allow, "resource.estimate", reason, remediation));
        }
    }

    // The plan: cost against the budget, the critical path against the time limit.
    if budget > 0.0 {
        let reason = format!("Estimated cost ${:.2} (p95 ${:.2}) against a budget of ${budget:.2}.", est.cost_p50_usd, est.cost_p95_usd);
        let (verdict, remediation) = if est.cost_p50_usd > budget {
            (
                Verdict::Block,
                format!("Raise budget_usd to at least ${:.2}, drop items from the plan, or use cheaper tools.", est.cost_p50_usd).into(),
            )
        } else if est.cost_p95_usd > budget || est.cost_p50_usd >= p.warn_ratio * budget {
            (
                Verdict::Warn,
                format!(
                    "The estimate is close to the budget; consider budget_usd ${:.2} to cover the p95.",
                    est.cost_p95_usd.max(est.cost_p50_usd)
                )
                .into(),
            )
        } else {
            (Verdict::Allow, Text::Borrowed(""))
        };
        report.push(finding(None, verdict, "resource.budget", reason, remediation));
    }
    let limit_ms = p.max_duration_minutes * 60_000;
    let reason = format!(
        "Critical path {} (p95 {}) against a limit of {}.",
        Duration(est.duration_p50_ms),
        Duration(est.duration_p95_ms),
        Duration(limit_ms)
    );
    let (verdict, remediation) = if est.duration_p50_ms > limit_ms {
        (Verdict::Block, Text::Borrowed("Split the plan, or cut dependencies so more steps run in parallel."))
    } else if est.duration_p95_ms > limit_ms || est.duration_p50_ms as f64 >= p.warn_ratio * limit_ms as f64 {
        (Verdict::Warn, Text::Borrowed("The critical path is close to the limit; look at the longest chain of steps."))
    } else {
        (Verdict::Allow, Text::Borrowed(""))
    };
    report.push(finding(None, verdict, "resource.duration", reason, remediation));
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::*;
    use crate::backlog::model::Risk;
    use crate::plan::draft::ToolStats;

    fn plan_level(r: &GateReport, rule: &str) -> Finding {
        fired(r, rule).into_iter().find(|f| f.step.is_none()).unwrap().clone()
    }

    #[test]
    fn estimates_come_from_recorded_runs() {
        let mut f = Fixture::new(vec![item(1, &["codegen", "git_pr"], &[], Risk::Low, &[])]);
        f.stats.insert("codegen".into(), ToolStats::from_runs(&[(60_000, 0.5), (120_000, 1.5)]).unwrap());
        let d = f.draft();
        let r = f.report(&d);
        let est = fired(&r, "resource.estimate");
        assert!(est[0].reason.starts_with("p50 1 min 00 s, $0.50 (p95 2 min 00 s, $1.50), from 2 recorded runs."), "{}", est[0].reason);
        assert!(est[1].reason.contains("no recorded runs of `git_pr`"));
        assert!(est[1].remediation.contains("POST /api/tool-metrics"));
        assert!(est.iter().all(|x| x.verdict == Verdict::Allow));
        assert_eq!(plan_level(&r, "resource.budget").verdict, Verdict::Allow);
    }

    #[test]
    fn budget_thresholds() {
        let mut f = Fixture::new(vec![item(1, &["codegen", "git_pr"], &[], Risk::Low, &[])]);
        f.stats.insert("codegen".into(), ToolStats::from_runs(&[(1_000, 10.0)]).unwrap());
        // Total p50 = 10 + 0.10 default = 10.10; p95 = 10 + 0.15.
        for (budget, expected) in [(100.0, Verdict::Allow), (12.0, Verdict::Warn), (10.12, Verdict::Warn), (10.0, Verdict::Block)] {
            f.budget = budget;
            let d = f.draft();
            let r = f.report(&d);
            let b = plan_level(&r, "resource.budget");
            assert_eq!(b.verdict, expected, "budget {budget}: {}", b.reason);
            if expected == Verdict::Block {
                assert!(b.remediation.contains("Raise budget_usd to at least $10.10"), "{}", b.remediation);
            }
        }
        f.budget = 5.0;
        let d = f.draft();
        let r = f.report(&d);
        let step = fired(&r, "resource.estimate").into_iter().find(|x| at(&d, x) == Some("s1-1")).unwrap();
        assert_eq!(step.verdict, Verdict::Block, "one step alone is over the budget");
        let advisory = Fixture { budget: 5.0, ..Fixture::new(vec![]) }.with_policy("[resource]\nenforcement = \"advisory\"\n");
        let r = evaluate_with(&advisory, &d);
        assert_eq!(plan_level(&r, "resource.budget").verdict, Verdict::Warn, "advisory caps at warn");
    }

    fn evaluate_with(f: &Fixture, d: &crate::plan::draft::Draft) -> GateReport {
        let mut r = GateReport::default();
        evaluate(&GateInput { draft: d, catalog: &f.catalog, tools: &f.tools, policy: &f.policy, now_ms: f.now_ms }, &mut r);
        r
    }

    #[test]
    fn duration_limit() {
        // 30 min item estimate on one step, p95 45 min; limit 40 min: warn; 20 min: block.
        let f = Fixture::new(vec![item(1, &["codegen"], &[], Risk::Low, &[])]).with_policy("[resource]\nmax_duration_minutes = 40\n");
        let d = f.draft();
        assert_eq!(plan_level(&f.report(&d), "resource.duration").verdict, Verdict::Warn);
        let f = f.with_policy("[resource]\nmax_duration_minutes = 20\n");
        assert_eq!(plan_level(&f.report(&d), "resource.duration").verdict, Verdict::Block);
    }
}
