//! Compliance gate: the policy's label rules (required and forbidden tools, reviewer approvals)
//! and change-freeze windows, checked per item and step.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::input::{GateInput, GateReport};
use super::policy::{tool_matches, ComplianceRule as Rule, Freeze};
use crate::backlog::model::BacklogItem;
use crate::plan::rows::Rows;
use crate::plan::verdict::{Finding, Gate, Text, Verdict};
use crate::text::plural;

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// Steps grouped by item, in plan order: item id → row, and each row's step positions.
fn steps_by_item(input: &GateInput<'_>) -> (FxHashMap<i64, usize>, Rows) {
    let mut row_of: FxHashMap<i64, usize> = FxHashMap::with_capacity_and_hasher(input.draft.items.len(), Default::default());
    let rows: Vec<usize> = input
        .draft
        .steps
        .iter()
        .map(|s| {
            let next = row_of.len();
            *row_of.entry(s.backlog_item_id).or_insert(next)
        })
        .collect();
    let steps_of = Rows::grouped(row_of.len(), rows.into_iter().enumerate().map(|(i, r)| (r, i)));
    (row_of, steps_of)
}

/// The steps a rule's reviewer approvals land on: the item's mutating or sensitive steps, or its
/// last step when it has none.
fn guarded_steps(input: &GateInput<'_>, mine: &[usize]) -> Vec<usize> {
    let steps = &input.draft.steps;
    let guarded: Vec<usize> = mine.iter().copied().filter(|&i| steps[i].mutating || steps[i].sensitive).collect();
    if guarded.is_empty() {
        vec![mine[mine.len() - 1]]
    } else {
        guarded
    }
}

/// The rules that apply to an item: those without labels, and those sharing one of its labels.
fn rules_of<'p>(rules: &'p [Rule], item: &BacklogItem) -> impl Iterator<Item = &'p Rule> + use<'p> {
    let labels = item.labels.clone();
    rules.iter().filter(move |r| r.labels.is_empty() || r.labels.iter().any(|l| labels.contains(l)))
}

/// Runs before the other gates: the reviewer approvals the rules add to steps, so that every
/// gate's text states the number the step will really wait for (the most its tool or any rule asks).
pub fn raise_approvals(input: &GateInput<'_>, report: &mut GateReport) {
    if !input.policy.compliance.rules.iter().any(|r| r.require_approvals > 0) {
        return;
    }
    let (row_of, steps_of) = steps_by_item(input);
    for planned in &input.draft.items {
        let Some(item) = input.catalog.get(&planned.id) else { continue };
        let Some(&row) = row_of.get(&item.id) else { continue };
        for rule in rules_of(&input.policy.compliance.rules, item).filter(|r| r.require_approvals > 0) {
            for i in guarded_steps(input, steps_of.of(row)) {
                let e = report.approvals.entry(i).or_insert(0);
                *e = (*e).max(rule.require_approvals as i64);
            }
        }
    }
}

/// The approvals step `i` will wait for, all rules and its tool counted.
pub fn approvals_of(input: &GateInput<'_>, report: &GateReport, i: usize) -> i64 {
    input.draft.steps[i].required_approvals.max(report.approvals.get(&i).copied().unwrap_or(0))
}

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let policy = &input.policy.compliance;
    let freezes: Vec<&Freeze> = policy.freezes.iter().filter(|f| f.active_at(input.now_ms)).collect();
    if policy.rules.is_empty() && freezes.is_empty() {
        return;
    }
    let steps = &input.draft.steps;
    let (row_of, steps_of) = steps_by_item(input);

    for planned in &input.draft.items {
        let Some(item) = input.catalog.get(&planned.id) else { continue };
        let Some(&row) = row_of.get(&item.id) else { continue };
        let mine = steps_of.of(row);
        let has_label = |labels: &[String]| labels.is_empty() || labels.iter().any(|l| item.labels.contains(l));
        for rule in rules_of(&input.policy.compliance.rules, item) {
            let rule_name: Text = format!("compliance.{}", rule.id).into();
            let why = if rule.labels.is_empty() { String::new() } else { format!(" (labels {})", rule.labels.join(", ")) };
            let finding = |step: usize, verdict: Verdict, reason: String, remediation: String| Finding {
                gate: Gate::Compliance,
                step: Some(step),
                verdict,
                enforcement: rule.enforcement,
                rule: rule_name.clone(),
                reason: reason.into(),
                // The policy's own tip replaces the generated one on the rule's blocks only: it is
                // written for what the rule forbids, not for the approvals it adds.
                remediation: match (&rule.remediation, verdict) {
                    (Some(tip), Verdict::Block) => tip.clone(),
                    _ => remediation,
                }
                .into(),
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
                for i in guarded_steps(input, mine) {
                    let total = approvals_of(input, report, i);
                    let asks = plural(n as usize, "reviewer approval");
                    let reason = if total > n {
                        format!(
                            "Rule `{}`{why} asks for {asks}; this step waits for {total} in all (the most its tool or a rule asks).",
                            rule.id
                        )
                    } else {
                        format!("Rule `{}`{why}: this step will wait for {asks}.", rule.id)
                    };
                    let f = finding(i, Verdict::Warn, reason, "A reviewer approves it in the Approvals inbox when it runs.".into());
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

    /// Pinned: a rule's own remediation ("Replace `bash` …") is written for what it forbids; on
    /// a step of an item without `bash` that only waits for the rule's approval it must not show.
    #[test]
    fn a_rules_remediation_is_not_given_for_its_approvals() {
        let policy = "[[compliance.rules]]\nid = \"pii-needs-review\"\nlabels = [\"pii\"]\nrequire_approvals = 1\nforbid_tools = [\"bash\"]\nenforcement = \"soft-mandatory\"\nremediation = \"Replace `bash` with a reviewed tool.\"\n";
        let f = Fixture::new(vec![item(1, &["db_write"], &["pii"], Risk::Low, &[]), item(2, &["bash"], &["pii"], Risk::Low, &[])])
            .with_policy(policy);
        let d = f.draft();
        let r = f.report(&d);
        let rule = fired(&r, "compliance.pii-needs-review");
        let db = rule.iter().find(|x| at(&d, x) == Some("s1-1")).expect("db_write waits for the rule's approval");
        assert_eq!(db.verdict, Verdict::Warn);
        assert!(!db.remediation.contains("bash"), "{}", db.remediation);
        assert!(db.remediation.contains("Approvals inbox"), "{}", db.remediation);
        let bash = rule.iter().find(|x| at(&d, x) == Some("s2-1") && x.verdict == Verdict::Block).expect("bash is forbidden");
        assert_eq!(bash.remediation, "Replace `bash` with a reviewed tool.");
    }

    /// Pinned: a step whose tool needs 2 approvals under a rule asking for 1 waits for 2, and
    /// every text about it says 2 (as the step itself does after the gates).
    #[test]
    fn every_text_states_the_approvals_the_step_waits_for() {
        let f = Fixture::new(vec![item(1, &["deploy:prod"], &["pii"], Risk::Low, &[]), item(2, &["bash"], &["pii"], Risk::Low, &[])])
            .with_policy(RULES);
        let mut d = f.draft();
        let r = f.report(&d);
        let deploy = pos(&d, "s1-1");
        let rule = fired(&r, "compliance.pii-review");
        let warn = rule.iter().find(|x| x.step == Some(deploy)).unwrap();
        assert!(warn.reason.contains("asks for 1 reviewer approval; this step waits for 2 in all"), "{}", warn.reason);
        let sensitive = fired(&r, "risk.sensitive");
        let notice = sensitive.iter().find(|x| x.step == Some(deploy)).unwrap();
        assert!(notice.reason.contains("will wait for 2 human approvals"), "{}", notice.reason);
        // bash is not sensitive, but the rule makes it wait: the risk gate says so, with the rule's 1.
        let bash = pos(&d, "s2-1");
        let notice = sensitive.iter().find(|x| x.step == Some(bash)).unwrap();
        assert!(
            notice.reason.contains("`bash` is guarded by a compliance rule: this step will wait for 1 human approval"),
            "{}",
            notice.reason
        );
        crate::gates::evaluate::apply(&mut d, r);
        assert_eq!((d.steps[deploy].required_approvals, d.steps[bash].required_approvals), (2, 1));
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
