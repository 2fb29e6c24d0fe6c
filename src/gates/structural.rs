//! Structural gate: the plan must be a well-formed DAG; it re-checks the step graph itself, because another planner provider may hand in a broken one.

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::input::{GateInput, GateReport};
use crate::plan::draft::{PlanIssue, MANUAL_TOOL};
use crate::plan::model::PlanStep;
use crate::plan::rows::Rows;
use crate::plan::verdict::{Enforcement, Finding, Gate, Text, Verdict};

fn finding(
    step: Option<usize>,
    verdict: Verdict,
    enforcement: Enforcement,
    rule: &'static str,
    reason: String,
    remediation: impl Into<Text>,
) -> Finding {
    Finding {
        gate: Gate::Structural,
        step,
        verdict,
        enforcement,
        rule: rule.into(),
        reason: reason.into(),
        remediation: remediation.into(),
    }
}

fn list(ids: &[i64]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// Item ids for a per-step reason: all of them when few, else a count, so that reason stays
/// short however large the cycle (it is repeated on every step).
fn short_list(ids: &[i64]) -> String {
    if ids.len() <= 6 {
        format!("items {}", list(ids))
    } else {
        format!("{} items ({} …)", ids.len(), list(&ids[..5]))
    }
}

pub fn evaluate(input: &GateInput<'_>, report: &mut GateReport) {
    let d = input.draft;
    let hard = input.policy.structural.enforcement;
    let title = |id: i64| input.catalog.get(&id).map(|i| format!("#{id} “{}”", i.title)).unwrap_or_else(|| format!("#{id}"));
    let titles = |ids: &[i64]| ids.iter().map(|i| title(*i)).collect::<Vec<_>>().join(", ");
    // Step positions per item, in plan order: only the planner's issues need them.
    let mut steps_of: HashMap<i64, Vec<usize>> = HashMap::default();
    if !d.issues.is_empty() {
        for (i, s) in d.steps.iter().enumerate() {
            steps_of.entry(s.backlog_item_id).or_default().push(i);
        }
    }
    let first_step = |item: i64| steps_of.get(&item).and_then(|s| s.first()).copied();
    let mut cycle_items: HashSet<i64> = HashSet::default();
    let mut unknown_tools: Vec<(i64, &str)> = vec![];

    for issue in &d.issues {
        match issue {
            PlanIssue::Cycle { item_ids } => {
                cycle_items.extend(item_ids.iter().copied());
                let remediation = cut_edge(input, item_ids);
                report.push(finding(
                    None,
                    Verdict::Block,
                    hard,
                    "structural.cycle",
                    format!("Dependency cycle between items {}: none of them can ever start.", titles(item_ids)),
                    remediation.clone(),
                ));
                let members = short_list(item_ids);
                for item in item_ids {
                    for &i in steps_of.get(item).into_iter().flatten() {
                        let reason = format!("Item #{item} is in a dependency cycle ({members}), so this step can never start.");
                        report.push(finding(Some(i), Verdict::Block, hard, "structural.cycle", reason, remediation.clone()));
                    }
                }
            }
            PlanIssue::MissingDependency { item_id, missing } => {
                let reason = format!("Item {} depends on unfinished items outside this plan: {}.", title(*item_id), titles(missing));
                let remediation =
                    format!("Add items {} to the selection, mark them done, or plan with include_dependencies: true.", list(missing));
                report.push(finding(None, Verdict::Block, hard, "structural.missing_dependency", reason.clone(), remediation.clone()));
                if let Some(step) = first_step(*item_id) {
                    report.push(finding(Some(step), Verdict::Block, hard, "structural.missing_dependency", reason, remediation));
                }
            }
            PlanIssue::UnknownDependency { item_id, missing } => {
                let reason = format!("Item {} depends on items that do not exist: {}.", title(*item_id), list(missing));
                let remediation = format!("Remove {} from the depends_on of item {item_id}.", list(missing));
                report.push(finding(None, Verdict::Block, hard, "structural.unknown_dependency", reason.clone(), remediation.clone()));
                if let Some(step) = first_step(*item_id) {
                    report.push(finding(Some(step), Verdict::Block, hard, "structural.unknown_dependency", reason, remediation));
                }
            }
            // Checked on the steps below; kept to catch an unknown tool that got no step.
            PlanIssue::UnknownTool { item_id, tool } => unknown_tools.push((*item_id, tool.as_str())),
            PlanIssue::NoTools { item_id } => {
                report.push(finding(
                    first_step(*item_id),
                    Verdict::Warn,
                    hard,
                    "structural.no_tools",
                    format!("Item {} names no tools, so it becomes one manual step for a human.", title(*item_id)),
                    format!("Add the tools item {item_id} needs, in the order they run (PATCH /api/items/{item_id})."),
                ));
            }
        }
    }

    // The step graph itself: unique steps, known tools, edges to existing steps.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity_and_hasher(d.steps.len(), Default::default());
    let mut pairs: HashSet<(i64, &str)> = HashSet::with_capacity_and_hasher(d.steps.len(), Default::default());
    for (i, s) in d.steps.iter().enumerate() {
        if index.insert(&s.id, i).is_some() {
            report.push(finding(
                Some(i),
                Verdict::Block,
                hard,
                "structural.duplicate_step",
                format!("Step id `{}` appears more than once.", s.id),
                "Re-plan: every step needs its own id.",
            ));
        }
        if !pairs.insert((s.backlog_item_id, &s.tool)) {
            report.push(finding(
                Some(i),
                Verdict::Block,
                hard,
                "structural.duplicate_step",
                format!("Item {} runs `{}` twice in this plan.", s.backlog_item_id, s.tool),
                format!("List `{}` once in the tools of item {} (PATCH /api/items/{}).", s.tool, s.backlog_item_id, s.backlog_item_id),
            ));
        }
        if s.tool != MANUAL_TOOL && !input.tools.contains_key(&s.tool) {
            report.push(finding(
                Some(i),
                Verdict::Block,
                hard,
                "structural.unknown_tool",
                format!("Tool `{}` of item {} is not registered, so nothing can run it.", s.tool, title(s.backlog_item_id)),
                format!("Register `{}` (POST /api/tools) or remove it from item {}.", s.tool, s.backlog_item_id),
            ));
        }
    }
    for (item, tool) in unknown_tools {
        if !pairs.contains(&(item, tool)) {
            report.push(finding(
                None,
                Verdict::Block,
                hard,
                "structural.unknown_tool",
                format!("Tool `{tool}` of item {} is not registered, and the plan has no step for it.", title(item)),
                format!("Register `{tool}` (POST /api/tools) or remove it from item {item}."),
            ));
        }
    }
    let mut preds = Rows::with_capacity(d.steps.len(), d.steps.len() * 4);
    for (i, s) in d.steps.iter().enumerate() {
        let mut orphans: Vec<&str> = vec![];
        for dep in &s.depends_on {
            match index.get(dep.as_str()) {
                Some(&p) => preds.push(p),
                None => orphans.push(dep),
            }
        }
        preds.end_row();
        if !orphans.is_empty() {
            report.push(finding(
                Some(i),
                Verdict::Block,
                hard,
                "structural.orphan_step",
                format!("Step `{}` waits for steps that are not in the plan: {}.", s.id, orphans.join(", ")),
                "Re-plan so that every dependency points at a step of this plan.",
            ));
        }
    }

    // Steps that can be ordered at all; the rest sit in or behind a cycle of steps.
    let ordered = orderable(&d.steps, &preds);
    let mut cyclic_steps: HashSet<usize> = HashSet::default();
    if ordered.iter().any(|o| !o) {
        cyclic_steps = step_cycles(input, &preds, &cycle_items, report);
    }
    for (i, s) in d.steps.iter().enumerate() {
        let in_cycle = cycle_items.contains(&s.backlog_item_id) || cyclic_steps.contains(&i);
        if !in_cycle && (s.wave.is_none() || !ordered[i]) {
            let (reason, remediation) = if ordered[i] {
                (
                    format!("Step `{}` ({}) has no wave: the planner did not schedule it.", s.id, s.tool),
                    "Re-plan; if it persists, report the planner provider.".to_string(),
                )
            } else {
                (
                    format!("Step `{}` ({}) can never start: it waits on a step in a dependency cycle.", s.id, s.tool),
                    "Break the cycle named in this plan's structural verdict.".to_string(),
                )
            };
            report.push(finding(Some(i), Verdict::Block, hard, "structural.unreachable", reason, remediation));
        }
        let mutating = s.mutating || input.tools.get(&s.tool).is_some_and(|t| t.mutating);
        if mutating && s.rollback.is_none() {
            report.push(finding(
                Some(i),
                Verdict::Block,
                input.policy.structural.rollback_enforcement,
                "structural.rollback",
                format!("`{}` changes things outside the agent but has no rollback recipe, so this step could not be undone.", s.tool),
                format!("Add a rollback recipe to tool {} (PATCH /api/tools/{}).", s.tool, s.tool),
            ));
        }
    }
}

/// A concrete edge whose removal breaks the cycle: the first item's dependency inside it.
fn cut_edge(input: &GateInput<'_>, item_ids: &[i64]) -> String {
    let members: HashSet<i64> = item_ids.iter().copied().collect();
    let edge = item_ids
        .iter()
        .find_map(|i| input.catalog.get(i).and_then(|it| it.depends_on.iter().find(|d| members.contains(d)).map(|d| (*i, *d))));
    match edge {
        Some((i, d)) if i == d => format!("Remove item {i} from its own depends_on (PATCH /api/items/{i})."),
        Some((i, d)) => format!(
            "Break the cycle: remove item {d} from the depends_on of item {i} (PATCH /api/items/{i}), or cut another edge of the cycle."
        ),
        None => "Break the cycle by removing one dependency between these items.".into(),
    }
}

/// Which steps can be put in some order (the others are in or behind a cycle). When every step
/// has a wave and every edge goes to a later wave, the waves themselves prove the graph acyclic;
/// otherwise the planner's own Kahn ordering is re-run on the graph as the draft hands it in.
fn orderable(steps: &[PlanStep], preds: &Rows) -> Vec<bool> {
    let waves_prove_it =
        steps.iter().enumerate().all(|(i, s)| s.wave.is_some_and(|w| preds.of(i).iter().all(|&p| steps[p].wave.is_some_and(|pw| pw < w))));
    if waves_prove_it {
        return vec![true; steps.len()];
    }
    let mut done = vec![false; preds.len()];
    for i in crate::plan::rows::topological_order(preds) {
        done[i] = true;
    }
    done
}

/// Cycles in the step graph that the planner did not report as item cycles (a broken provider):
/// one plan-level block naming them and a block on each of their steps. Returns those steps.
fn step_cycles(input: &GateInput<'_>, preds: &Rows, cycle_items: &HashSet<i64>, report: &mut GateReport) -> HashSet<usize> {
    let steps = &input.draft.steps;
    let hard = input.policy.structural.enforcement;
    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(steps.len(), steps.len());
    let nodes: Vec<_> = (0..steps.len()).map(|i| g.add_node(i)).collect();
    for i in 0..preds.len() {
        for &p in preds.of(i) {
            g.add_edge(nodes[p], nodes[i], ());
        }
    }
    let mut out = HashSet::default();
    for scc in tarjan_scc(&g) {
        let cyclic = scc.len() > 1 || g.contains_edge(scc[0], scc[0]);
        let mut members: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
        if !cyclic || members.iter().all(|&i| cycle_items.contains(&steps[i].backlog_item_id)) {
            continue;
        }
        members.sort_unstable();
        let ids: Vec<&str> = members.iter().map(|&i| steps[i].id.as_str()).collect();
        // Name an edge to cut: some member's dependency on another member.
        let set: HashSet<usize> = members.iter().copied().collect();
        let edge = members.iter().find_map(|&i| preds.of(i).iter().find(|p| set.contains(p)).map(|&p| (i, p)));
        let remediation = match edge {
            Some((i, p)) if steps[i].backlog_item_id != steps[p].backlog_item_id => format!(
                "Remove item {} from the depends_on of item {} (PATCH /api/items/{}), then re-plan.",
                steps[p].backlog_item_id, steps[i].backlog_item_id, steps[i].backlog_item_id
            ),
            Some((i, p)) => {
                format!("Re-plan: step `{}` must not wait for step `{}`; the planner produced a broken graph.", steps[i].id, steps[p].id)
            }
            None => "Re-plan; the planner produced a broken graph.".into(),
        };
        let shown = if ids.len() <= 8 { ids.join(" → ") } else { format!("{} … ({} steps)", ids[..8].join(", "), ids.len()) };
        report.push(finding(
            None,
            Verdict::Block,
            hard,
            "structural.cycle",
            format!("Steps wait for each other in a circle: {shown}; none of them can ever start."),
            remediation.clone(),
        ));
        for &i in &members {
            let reason = format!("Step `{}` is part of a cycle of {} steps, so it can never start.", steps[i].id, members.len());
            report.push(finding(Some(i), Verdict::Block, hard, "structural.cycle", reason, remediation.clone()));
        }
        out.extend(members);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::testkit::*;
    use super::*;
    use crate::backlog::model::{ItemStatus, Risk};

    fn structural(r: &GateReport) -> Vec<&Finding> {
        r.findings.iter().filter(|x| x.gate == Gate::Structural).collect()
    }

    #[test]
    fn a_clean_graph_has_no_findings() {
        let f =
            Fixture::new(vec![item(1, &["codegen", "git_pr"], &[], Risk::Low, &[]), item(2, &["gate:unit", "bash"], &[], Risk::Low, &[1])]);
        let d = f.draft();
        let r = f.report(&d);
        assert!(structural(&r).is_empty(), "{:?}", structural(&r));
    }

    #[test]
    fn cycles_name_every_item_and_an_edge_to_cut() {
        let f = Fixture::new(vec![
            item(1, &["codegen"], &[], Risk::Low, &[2]),
            item(2, &["codegen", "gate:unit"], &[], Risk::Low, &[1]),
            item(3, &["codegen"], &[], Risk::Low, &[2]),
        ]);
        let d = f.draft();
        let r = f.report(&d);
        let cyc = fired(&r, "structural.cycle");
        let plan_level: Vec<_> = cyc.iter().filter(|x| x.step.is_none()).collect();
        assert_eq!(plan_level.len(), 1);
        assert!(plan_level[0].reason.contains("#1 “Item 1”") && plan_level[0].reason.contains("#2 “Item 2”"), "{}", plan_level[0].reason);
        assert!(plan_level[0].remediation.contains("remove item 2 from the depends_on of item 1"), "{}", plan_level[0].remediation);
        let mut on_steps: Vec<_> = cyc.iter().filter_map(|x| at(&d, x)).collect();
        on_steps.sort();
        assert_eq!(on_steps, vec!["s1-1", "s2-1", "s2-2"], "every step of every cycle item");
        assert!(cyc.iter().all(|x| (x.verdict, x.enforcement) == (Verdict::Block, Enforcement::HardMandatory)));
        let unreachable = fired(&r, "structural.unreachable");
        assert_eq!(unreachable.iter().map(|x| at(&d, x)).collect::<Vec<_>>(), vec![Some("s3-1")], "behind the cycle, not in it");
        assert!(unreachable[0].reason.contains("waits on a step in a dependency cycle"));
    }

    #[test]
    fn a_self_loop_is_a_cycle() {
        let f = Fixture::new(vec![item(5, &["codegen"], &[], Risk::Low, &[5])]);
        let d = f.draft();
        let r = f.report(&d);
        let cyc = fired(&r, "structural.cycle");
        assert_eq!(cyc.len(), 2, "plan-level and the step");
        assert!(cyc[0].remediation.contains("Remove item 5 from its own depends_on"), "{}", cyc[0].remediation);
    }

    #[test]
    fn missing_and_unknown_dependencies() {
        let mut done = item(4, &["codegen"], &[], Risk::Low, &[]);
        done.status = ItemStatus::Done;
        let f = Fixture::new(vec![
            item(1, &["codegen"], &[], Risk::Low, &[]),
            item(5, &["codegen"], &[], Risk::Low, &[]),
            item(2, &["codegen", "gate:unit"], &[], Risk::Low, &[1, 4, 5, 77]),
            done,
        ]);
        let d = f.draft_of(&[2]);
        let r = f.report(&d);
        let missing = fired(&r, "structural.missing_dependency");
        assert_eq!(missing.iter().map(|x| at(&d, x)).collect::<Vec<_>>(), vec![None, Some("s2-1")], "plan-level and the item's first step");
        assert_eq!(missing[0].remediation, "Add items 1, 5 to the selection, mark them done, or plan with include_dependencies: true.");
        assert!(
            missing[0].reason.contains("#1 “Item 1”") && !missing[0].reason.contains("#4"),
            "done dependencies are satisfied: {}",
            missing[0].reason
        );
        let unknown = fired(&r, "structural.unknown_dependency");
        assert_eq!(unknown.len(), 2);
        assert!(unknown[0].reason.contains("77") && unknown[0].remediation.contains("Remove 77 from the depends_on of item 2"));
        assert!(missing.iter().chain(&unknown).all(|x| x.verdict == Verdict::Block));

        // Pulling the dependencies in clears the missing ones (77 still does not exist).
        let d = f.draft_with(&[2], true);
        let r = f.report(&d);
        assert!(fired(&r, "structural.missing_dependency").is_empty());
        assert_eq!(fired(&r, "structural.unknown_dependency").len(), 2);
    }

    #[test]
    fn unknown_tools_and_items_without_tools() {
        let f = Fixture::new(vec![item(2, &["codegen", "teleport"], &[], Risk::Low, &[]), item(3, &[], &[], Risk::Low, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let tool = fired(&r, "structural.unknown_tool");
        assert_eq!(tool.len(), 1);
        assert_eq!((at(&d, tool[0]), tool[0].verdict), (Some("s2-2"), Verdict::Block));
        assert!(tool[0].remediation.contains("Register `teleport` (POST /api/tools) or remove it from item 2"), "{}", tool[0].remediation);
        let none = fired(&r, "structural.no_tools");
        assert_eq!((at(&d, none[0]), none[0].verdict), (Some("s3-1"), Verdict::Warn));
        assert!(fired(&r, "structural.unknown_tool").iter().all(|x| at(&d, x) != Some("s3-1")), "the manual step is not an unknown tool");
    }

    #[test]
    fn broken_graphs_from_other_providers_are_caught() {
        let f = Fixture::new(vec![item(1, &["codegen", "gate:unit"], &[], Risk::Low, &[]), item(2, &["codegen"], &[], Risk::Low, &[1])]);
        let clean = f.draft();
        let mut d = clean.clone();
        d.steps[1].depends_on.push("s9-9".into());
        let dup = d.steps[0].clone();
        d.steps.push(dup);
        let r = f.report(&d);
        assert_eq!(fired(&r, "structural.orphan_step").len(), 1);
        assert!(fired(&r, "structural.orphan_step")[0].reason.contains("s9-9"));
        assert_eq!(fired(&r, "structural.duplicate_step").len(), 2, "same id, and same item+tool");

        // A step cycle the provider did not report, with waves claimed anyway.
        let mut d = clean.clone();
        d.steps[0].depends_on.push("s2-1".into());
        assert!(d.issues.is_empty() && d.steps.iter().all(|s| s.wave.is_some()));
        let r = f.report(&d);
        let cyc = fired(&r, "structural.cycle");
        assert_eq!(cyc.iter().filter(|x| x.step.is_none()).count(), 1);
        assert_eq!(cyc.iter().filter(|x| x.step.is_some()).count(), 3);
        assert!(
            cyc[0].remediation.contains("remove item 2 from the depends_on of item 1")
                || cyc[0].remediation.contains("Remove item 2 from the depends_on of item 1"),
            "{}",
            cyc[0].remediation
        );

        // A step left without a wave although nothing stops it.
        let mut d = clean;
        d.steps[2].wave = None;
        let r = f.report(&d);
        let un = fired(&r, "structural.unreachable");
        assert_eq!((un.len(), at(&d, un[0])), (1, Some("s2-1")));
        assert!(un[0].reason.contains("no wave"));
    }

    #[test]
    fn rollback_has_its_own_enforcement() {
        let f = Fixture::new(vec![item(1, &["codegen", "db_write"], &[], Risk::Low, &[])]);
        let d = f.draft();
        let r = f.report(&d);
        let rb = fired(&r, "structural.rollback");
        assert_eq!(rb.len(), 1, "only the mutating step without recipe");
        assert_eq!((at(&d, rb[0]), rb[0].verdict, rb[0].enforcement), (Some("s1-2"), Verdict::Block, Enforcement::SoftMandatory));
        assert_eq!(rb[0].remediation, "Add a rollback recipe to tool db_write (PATCH /api/tools/db_write).");
        let f = f.with_policy("[structural]\nrollback_enforcement = \"advisory\"\n");
        let r = f.report(&d);
        assert_eq!(fired(&r, "structural.rollback")[0].verdict, Verdict::Warn, "advisory caps at warn");
        let f = f.with_policy("[structural]\nrollback_enforcement = \"hard-mandatory\"\n");
        let r = f.report(&d);
        assert_eq!(
            (fired(&r, "structural.rollback")[0].verdict, fired(&r, "structural.rollback")[0].enforcement),
            (Verdict::Block, Enforcement::HardMandatory)
        );
    }

    #[test]
    fn graph_enforcement_is_configurable() {
        let f = Fixture::new(vec![item(1, &["codegen"], &[], Risk::Low, &[2]), item(2, &["codegen"], &[], Risk::Low, &[1])])
            .with_policy("[structural]\nenforcement = \"advisory\"\n");
        let d = f.draft();
        let r = f.report(&d);
        assert!(fired(&r, "structural.cycle").iter().all(|x| x.verdict == Verdict::Warn && x.enforcement == Enforcement::Advisory));
        let f = f.with_policy("[structural]\nenforcement = \"soft-mandatory\"\n");
        let r = f.report(&d);
        assert!(fired(&r, "structural.cycle").iter().all(|x| x.verdict == Verdict::Block && x.enforcement == Enforcement::SoftMandatory));
    }

    #[test]
    fn large_cycles_keep_step_reasons_short() {
        let n = 40;
        let items: Vec<_> = (1..=n).map(|i| item(i, &["codegen"], &[], Risk::Low, &[if i == 1 { n } else { i - 1 }])).collect();
        let f = Fixture::new(items);
        let d = f.draft();
        let r = f.report(&d);
        let cyc = fired(&r, "structural.cycle");
        let plan = cyc.iter().find(|x| x.step.is_none()).unwrap();
        assert!(plan.reason.contains("#40 “Item 40”"), "the plan-level finding names every item");
        assert!(cyc.iter().filter(|x| x.step.is_some()).all(|x| x.reason.len() < 150));
    }
}
