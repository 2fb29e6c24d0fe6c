//! Compliance gate: the policy's label rules (required and forbidden tools, reviewer approvals)
//! and change-freeze windows, checked per item and step.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::input::{GateInput, GateReport};
use super::policy::{tool_matches, Freeze};
use crate::plan::rows::Rows;
use crate::plan::verdict::{Finding, Gate, Text, Verdict};

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let policy = &input.policy.compliance;
    let freezes: Vec<&Freeze> = policy.freezes.iter().filter(|f| f.active_at(input.now_ms)).collect();
    if policy.rules.is_empty() && freezes.is_empty() {
        return;
    }
    let steps = &input.draft.steps;
    // Step positions per item (in plan order), as compressed rows: item → row.
    let mut row_of: FxHashMap<i64, usize> = FxHashMap::with_capacity_and_hasher(input.draft.items.len(), Default::default());
    let rows: Vec<usize> = steps
        .iter()
        .map(|s| {
            let next = row_of.len();
            *row_of.entry(s.backlog_item_id).or_insert(next)
        })
        .collect();
    let steps_of = Rows::grouped(row_of.len(), rows.into_iter().enumerate().map(|(i, r)| (r, i)));

    for planned in &input.draft.items {
        let Some(item) = input.catalog.get(&planned.id) else { continue };
        let Some(&row) = row_of.get(&item.id) else { continue };
        let mine = steps_of.of(row);
        let has_label = |labels: &[String]| labels.is_empty() || labels.iter().any(|l| item.labels.contains(l));
        for rule in policy.rules.iter().filter(|r| has_label(&r.labels)) {
            let rule_name: Text = format!("compliance.{}", rule.id).into();
            let why = if rule.labels.is_empty() { String::new() } else { format!(" (labels {})", rule.labels.join(", ")) };
            let finding = |step: usize, verdict: Verdict, reason: String, remediation: String| Finding {
                gate: Gate::Compliance,
                step: Some(step),
                verdict,
                enforcement: rule.enforcement,
                rule: rule_name.clone(),
                reason: reason.into(),
                remediation: rule.remediation.clone().unwrap_or(remediation).into(),
            };
            let missing: Vec<&str> = rule.require_tools.iter().filter(|t| !item.tools.contains(t)).map(String::as_str).collect();
            if !missing.is_empty() {
                let f = finding(
                    mine[0],
                    Verdict::Block,
                    format!(
                        "Rule `{}`{why}: item #{} must also run {}.",
                        rule.id,
                        item.id,
                        missing.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                    ),
                    format!("Add {} to item {}'s tools.", missing.join(", "), item.id),
                );
                report.push(f);
            }
            for &i in mine.iter().filter(|&&i| rule.forbid_tools.iter().any(|p| tool_matches(p, &steps[i].tool))) {
                let tool = &steps[i].tool;
                let f = finding(
                    i,
                    Verdict::Block,
                    format!("Rule `{}`{why}: item #{} may not use `{tool}`.", rule.id, item.id),
                    format!("Remove `{tool}` from item {} or use another tool.", item.id),
                );
                report.push(f);
            }
            if rule.require_approvals > 0 {
                let n = rule.require_approvals as i64;
                let guarded: Vec<usize> = mine.iter().copied().filter(|&i| steps[i].mutating || steps[i].sensitive).collect();
                let targets: Vec<usize> = if guarded.is_empty() { vec![mine[mine.len() - 1]] } else { guarded };
                for i in targets {
                    let e = report.approvals.entry(i).or_insert(0);
                    *e = (*e).max(n);
                    let f = finding(
                        i,
                        Verdict::Warn,
                        format!("Rule `{}`{why}: this step will wait for {n} reviewer approval{}.", rule.id, if n == 1 { "" } else { "s" }),
                        "A reviewer approves it in the Approvals inbox when it runs.".into(),
                    );
                    report.push(f);
                }
            }
        }
        for fr in freezes.iter().filter(|f| has_label(&f.labels)) {
            for &i in mine.iter().filter(|&&i| fr.tools.iter().any(|p| tool_matches(p, &steps[i].tool))) {
                report.push(Finding {
                    gate: Gate::Compliance,
                    step: Some(i),
                    verdict: Verdict::Block,
                    enforcement: fr.enforcement,
                    rule: format!("compliance.freeze.{}", fr.id).into(),
                    reason: format!(
                        "Change freeze `{}` ({} – {}) stops `{}`.{}",
                        fr.id,
                        when(fr.start.0),
                        when(fr.end.0),
                        steps[i].tool,
                        if fr.description.is_empty() { String::new() } else { format!(" {}", fr.description) }
                    )
                    .into(),
                    remediation: format!(
                        "Wait until {}, or move the freeze window in the policy file if this change must go out now.",
                        when(fr.end.0)
                    )
                    .into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::*;
    use crate::backlog::model::Risk;

    const RULES: &str = r#"
[[compliance.rules]]
id = "pii-review"
labels = ["pii"]
require_approvals = 1
forbid_tools = ["bash"]
enforcement = "soft-mandatory"

[[compliance.rules]]
id = "prod-tests"
labels = ["prod"]
require_tools = ["gate:unit"]
enforcement = "advisory"

[[compliance.rules]]
id = "no-deploys"
forbid_tools = ["deploy:*"]
enforcement = "hard-mandatory"
remediation = "Deploys go through release engineering."

[[compliance.freezes]]
id = "xmas"
start = 2026-12-24T00:00:00Z
end = 2026-12-27T00:00:00Z
tools = ["git_pr"]
labels = ["prod"]
"#;

    #[test]
    fn label_rules() {
        let f = Fixture::new(vec![
            item(1, &["bash", "codegen"], &["pii"], Risk::Low, &[]),
            item(2, &["codegen"], &["prod"], Risk::Low, &[]),
            item(3, &["codegen", "gate:unit"], &["prod"], Risk::Low, &[]),
            item(4, &["deploy:prod"], &[], Risk::Low, &[]),
        ])
        .with_policy(RULES);
        let d = f.draft();
        let r = f.report(&d);
        let pii = fired(&r, "compliance.pii-review");
        let bash = pii.iter().find(|x| at(&d, x) == Some("s1-1") && x.verdict == Verdict::Block).unwrap();
        assert!(bash.reason.contains("may not use `bash`"), "{}", bash.reason);
        // bash is mutating in the fixture, so it is the step that waits for a reviewer.
        assert_eq!(r.approvals.get(&pos(&d, "s1-1")), Some(&1));
        assert!(pii.iter().any(|x| x.verdict == Verdict::Warn && x.reason.contains("1 reviewer approval")));
        let tests = fired(&r, "compliance.prod-tests");
        assert_eq!(tests.len(), 1, "item 3 already runs gate:unit");
        assert_eq!((at(&d, tests[0]), tests[0].verdict), (Some("s2-1"), Verdict::Warn), "advisory caps at warn");
        let deploys = fired(&r, "compliance.no-deploys");
        assert_eq!((deploys.len(), deploys[0].verdict), (1, Verdict::Block));
        assert_eq!(deploys[0].remediation, "Deploys go through release engineering.");
    }

    #[test]
    fn approvals_fall_back_to_the_last_step() {
        let f = Fixture::new(vec![item(1, &["codegen", "gate:unit"], &["pii"], Risk::Low, &[])]).with_policy(RULES);
        let d = f.draft();
        let r = f.report(&d);
        assert_eq!(r.approvals.get(&pos(&d, "s1-2")), Some(&1));
    }

    #[test]
    fn freezes_apply_only_inside_their_window_and_labels() {
        let mut f = Fixture::new(vec![item(1, &["git_pr"], &["prod"], Risk::Low, &[]), item(2, &["git_pr"], &[], Risk::Low, &[])])
            .with_policy(RULES);
        let d = f.draft();
        f.now_ms = chrono::DateTime::parse_from_rfc3339("2026-12-25T10:00:00Z").unwrap().timestamp_millis();
        let r = f.report(&d);
        let frozen = fired(&r, "compliance.freeze.xmas");
        assert_eq!(frozen.len(), 1);
        assert_eq!((at(&d, frozen[0]), frozen[0].verdict), (Some("s1-1"), Verdict::Block));
        assert!(frozen[0].remediation.contains("2026-12-27 00:00 UTC"));
        f.now_ms = chrono::DateTime::parse_from_rfc3339("2026-12-27T00:00:00Z").unwrap().timestamp_millis();
        assert!(fired(&f.report(&d), "compliance.freeze.xmas").is_empty(), "the end is exclusive");
    }
}
