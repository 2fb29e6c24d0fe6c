//! Structural gate: the plan is a well-formed DAG — no cycles, every dependency planned or done,
//! known tools, no duplicate or orphan steps, every step reachable, rollback for every mutating
//! step. It re-checks the graph itself, so a future planner provider cannot slip a broken one by.

use std::collections::{HashMap, HashSet};

use super::evaluate::{GateInput, GateReport};
use super::model::{Finding, Gate, Verdict};
use crate::planner::build::PlanIssue;

fn list(ids: &[i64]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let d = input.draft;
    let enforcement = input.policy.structural.enforcement;
    let finding = |step_id: Option<String>, verdict: Verdict, rule: &str, reason: String, remediation: String| Finding {
        gate: Gate::Structural,
        step_id,
        verdict,
        enforcement,
        rule: rule.into(),
        reason,
        remediation,
    };
    let title = |id: i64| input.catalog.get(&id).map(|i| format!("#{id} “{}”", i.title)).unwrap_or_else(|| format!("#{id}"));
    let mut steps_of: HashMap<i64, Vec<&str>> = HashMap::new();
    for s in &d.steps {
        steps_of.entry(s.backlog_item_id).or_default().push(&s.id);
    }
    let first_step = |item: i64| steps_of.get(&item).and_then(|s| s.first()).map(|s| s.to_string());
    let mut in_cycle: HashSet<i64> = HashSet::new();

    for issue in &d.issues {
        match issue {
            PlanIssue::Cycle { item_ids } => {
                in_cycle.extend(item_ids.iter().copied());
                let names = item_ids.iter().map(|i| title(*i)).collect::<Vec<_>>().join(", ");
                // Name one concrete edge to cut: the first item's dependency inside the cycle.
                let cut = item_ids.iter().find_map(|i| {
                    input.catalog.get(i).and_then(|it| it.depends_on.iter().find(|d| item_ids.contains(d)).map(|d| (*i, *d)))
                });
                let remediation = match cut {
                    Some((i, d)) if i == d => format!("Remove item {i} from its own depends_on."),
                    Some((i, d)) => format!("Break the cycle: remove item {d} from the depends_on of item {i} (or another edge of the cycle)."),
                    None => "Break the cycle by removing one dependency between these items.".into(),
                };
                let reason = format!("Dependency cycle between items {names}: none of them can ever start.");
                report.push(finding(None, Verdict::Block, "structural.cycle", reason.clone(), remediation.clone()));
                for item in item_ids {
                    for s in steps_of.get(item).into_iter().flatten() {
                        report.push(finding(Some(s.to_string()), Verdict::Block, "structural.cycle", reason.clone(), remediation.clone()));
                    }
                }
            }
            PlanIssue::MissingDependency { item_id, missing } => {
                let reason = format!("Item {} depends on unfinished items outside this plan: {}.", title(*item_id), missing.iter().map(|m| title(*m)).collect::<Vec<_>>().join(", "));
                let remediation = format!("Add items {} to the selection, mark them done, or plan with include_dependencies: true.", list(missing));
                report.push(finding(None, Verdict::Block, "structural.missing_dependency", reason.clone(), remediation.clone()));
                report.push(finding(first_step(*item_id), Verdict::Block, "structural.missing_dependency", reason, remediation));
            }
            PlanIssue::UnknownDependency { item_id, missing } => {
                let reason = format!("Item {} depends on items that no longer exist: {}.", title(*item_id), list(missing));
                let remediation = format!("Remove {} from the depends_on of item {item_id}.", list(missing));
                report.push(finding(None, Verdict::Block, "structural.unknown_dependency", reason.clone(), remediation.clone()));
                report.push(finding(first_step(*item_id), Verdict::Block, "structural.unknown_dependency", reason, remediation));
            }
            PlanIssue::UnknownTool { item_id, tool } => {
                let step = d.steps.iter().find(|s| s.backlog_item_id == *item_id && &s.tool == tool).map(|s| s.id.clone());
                report.push(finding(
                    step,
                    Verdict::Block,
                    "structural.unknown_tool",
                    format!("Tool `{tool}` of item {} is not registered, so nothing can run it.", title(*item_id)),
                    format!("Register `{tool}` (POST /api/tools) or remove it from item {item_id}."),
                ));
            }
            PlanIssue::NoTools { item_id } => {
                report.push(finding(
                    first_step(*item_id),
                    Verdict::Warn,
                    "structural.no_tools",
                    format!("Item {} names no tools, so it becomes one manual step for a human.", title(*item_id)),
                    format!("Add the tools item {item_id} needs, in the order they run."),
                ));
            }
        }
    }

    // The graph itself: unique steps, edges to existing steps, everything scheduled.
    let mut ids: HashSet<&str> = HashSet::with_capacity(d.steps.len());
    let mut pairs: HashSet<(i64, &str)> = HashSet::with_capacity(d.steps.len());
    for s in &d.steps {
        if !ids.insert(&s.id) {
            report.push(finding(Some(s.id.clone()), Verdict::Block, "structural.duplicate_step", format!("Step id `{}` appears twice.", s.id), "Give every step its own id; re-plan.".into()));
        }
        if !pairs.insert((s.backlog_item_id, &s.tool)) {
            report.push(finding(
                Some(s.id.clone()),
                Verdict::Block,
                "structural.duplicate_step",
                format!("Item {} runs `{}` twice in this plan.", s.backlog_item_id, s.tool),
                format!("List `{}` once in item {}'s tools.", s.tool, s.backlog_item_id),
            ));
        }
    }
    for s in &d.steps {
        let orphans: Vec<&str> = s.depends_on.iter().map(String::as_str).filter(|dep| !ids.contains(dep)).collect();
        if !orphans.is_empty() {
            report.push(finding(
                Some(s.id.clone()),
                Verdict::Block,
                "structural.orphan_step",
                format!("Step `{}` waits for steps that are not in the plan: {}.", s.id, orphans.join(", ")),
                "Re-plan so every dependency points at a step of this plan.".into(),
            ));
        }
        if s.wave.is_none() && !in_cycle.contains(&s.backlog_item_id) {
            report.push(finding(
                Some(s.id.clone()),
                Verdict::Block,
                "structural.unreachable",
                format!("Step `{}` ({}) can never start: it waits on a step in a dependency cycle.", s.id, s.tool),
                "Break the cycle named in this plan's structural verdict.".into(),
            ));
        }
        if s.mutating && s.rollback.is_none() {
            let mut f = finding(
                Some(s.id.clone()),
                Verdict::Block,
                "structural.rollback",
                format!("Step `{}` runs `{}`, which changes things, but the tool has no rollback recipe.", s.id, s.tool),
                format!("Add a rollback recipe to tool `{}` (PATCH /api/tools/{}).", s.tool, s.tool),
            );
            f.enforcement = input.policy.structural.rollback_enforcement;
            report.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::super::model::Enforcement;
    use super::*;
    use crate::backlog::model::{ItemStatus, Risk};

    #[test]
    fn a_clean_graph_has_no_findings() {
        let f = Fixture::new(vec![item(1, &["codegen", "git_pr"], &[], Risk::Low, &[]), item(2, &["gate:unit"], &[], Risk::Low, &[1])]);
        let d = f.draft();
        let r = f.report(&d);
        assert!(r.findings.iter().all(|x| x.gate != Gate::Structural), "{:?}", r.findings);
    }

    #[test]
    fn cycles_name_every_item_and_an_edge_to_cut() {
        let f = Fixture::new(vec![item(1, &["codegen"], &[], Risk::Low, &[2]), item(2, &["codegen"], &[], Risk::Low, &[1]), item(3, &["codegen"], &[], Risk::Low, &[2])]);
        let d = f.draft();
        let r = f.report(&d);
        let cyc = fired(&r, "structural.cycle");
        let plan_level = cyc.iter().find(|x| x.step_id.is_none()).unwrap();
        assert!(plan_level.reason.contains("#1") && plan_level.reason.contains("#2"), "{}", plan_level.reason);
        assert!(plan_level.remediation.contains("remove item 2 from the depends_on of item 1"), "{}", plan_level.remediation);
        assert_eq!(cyc.iter().filter(|x| x.step_id.is_some()).count(), 2);
        assert_eq!(cyc[0].verdict, Verdict::Block);
        let unreachable = fired(&r, "structural.unreachable");
        assert_eq!(unreachable.len(), 1);
        assert_eq!(unreachable[0].step_id.as_deref(), Some("s3-1"));
    }

    #[test]
    fn missing_unknown_and_tool_problems() {
        let mut done = item(4, &["codegen"], &[], Risk::Low, &[]);
        done.status = ItemStatus::Done;
        let f = Fixture::new(vec![item(1, &["codegen"], &[], Risk::Low, &[]), item(2, &["teleport", "codegen"], &[], Risk::Low, &[1, 4, 77]), item(3, &[], &[], Risk::Low, &[]), done]);
        let d = f.draft_of(&[2, 3]);
        let r = f.report(&d);
        let missing = fired(&r, "structural.missing_dependency");
        assert_eq!(missing.len(), 2);
        assert!(missing[0].remediation.contains("Add items 1 to the selection") && missing[0].remediation.contains("include_dependencies: true"));
        assert!(!missing[0].reason.contains("#4"), "done dependencies are satisfied");
        assert_eq!(fired(&r, "structural.unknown_dependency")[1].step_id.as_deref(), Some("s2-1"));
        let tool = fired(&r, "structural.unknown_tool");
        assert_eq!((tool[0].step_id.as_deref(), tool[0].verdict), (Some("s2-1"), Verdict::Block));
        let none = fired(&r, "structural.no_tools");
        assert_eq!((none[0].step_id.as_deref(), none[0].verdict), (Some("s3-1"), Verdict::Warn));
    }

    #[test]
    fn broken_graphs_from_other_providers_are_caught() {
        let f = Fixture::new(vec![item(1, &["codegen", "gate:unit"], &[], Risk::Low, &[])]);
        let mut d = f.draft();
        d.steps[1].depends_on.push("s9-9".into());
        let dup = d.steps[0].clone();
        d.steps.push(dup);
        let r = f.report(&d);
        assert_eq!(fired(&r, "structural.orphan_step").len(), 1);
        assert_eq!(fired(&r, "structural.duplicate_step").len(), 2, "same id, and same item+tool");
    }

    #[test]
    fn rollback_has_its_own_enforcement() {
        let f = Fixture::new(vec![item(1, &["db_write"], &[], Risk::Low, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let rb = fired(&r, "structural.rollback");
        assert_eq!((rb[0].verdict, rb[0].enforcement), (Verdict::Block, Enforcement::SoftMandatory));
        assert!(rb[0].remediation.contains("PATCH /api/tools/db_write"));
        let f = f.with_policy("[structural]\nrollback_enforcement = \"advisory\"\n");
        let r = f.report(&d);
        assert_eq!(fired(&r, "structural.rollback")[0].verdict, Verdict::Warn, "advisory caps at warn");
    }
}
