//! The planner core: backlog items → a DAG of steps in waves (petgraph), with idempotency tokens,
//! rollback instructions, estimates and the critical path. Pure: no I/O, no clock, no randomness,
//! so the same input always gives the same plan (and the same tokens).

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::hash_map::Entry;
#[cfg(test)]
use std::collections::HashSet;

use super::estimate::estimate_for;
use super::provider::{Ordering, PlannerInput};
use super::rollback::render_rollback;
use super::strategy::{proposal_edges, sequencing, with_edges, Facts, ProposalError, Strategy};
use super::token::{idempotency_token, item_token_prefix, request_fingerprint};
use crate::backlog::model::{BacklogItem, ItemStatus};
use crate::plan::draft::{Draft, PlanIssue, MANUAL_TOOL};
use crate::plan::model::*;
use crate::plan::rows::{topological_order, Rows};

/// The deterministic built-in planner behind `POST /api/auto-planner/plan`: every item as early
/// as its dependencies allow.
pub struct GraphPlanner;

impl GraphPlanner {
    /// Its planner id, stored with its plans and their evaluations.
    pub const ID: &'static str = "nofx/graph-v1";

    pub fn plan(&self, input: &PlannerInput<'_>) -> Draft {
        build(Self::ID, input)
    }
}

/// The items a plan covers, resolved from the request.
struct Resolved<'a> {
    /// Item ids in plan order; positions in it index everything below.
    order: Vec<i64>,
    /// `planned[i]` is the item `order[i]`.
    planned: Vec<&'a BacklogItem>,
    /// Pulled in by `include_dependencies`, not selected.
    pulled: FxHashSet<i64>,
    /// Per item, the positions of the planned items it depends on (in `depends_on` order): the
    /// planner reads these compact rows instead of going back to the catalog.
    deps: Rows,
    /// Each item's first step, by position, and the step count at the end (one step per tool, a
    /// manual step when it names none): a step can name the steps it waits for before they exist.
    first_of: Vec<usize>,
}

/// Resolves which items the plan covers: the selection plus, with `include_dependencies`, every
/// unfinished item it depends on (transitively). Dependencies that are done are satisfied.
fn resolve_items<'a>(input: &PlannerInput<'a>, issues: &mut Vec<PlanIssue>) -> Resolved<'a> {
    let mut order: Vec<i64> = Vec::with_capacity(input.selected.len());
    // Item id → position in `order`.
    let mut included: FxHashMap<i64, usize> = FxHashMap::with_capacity_and_hasher(input.selected.len(), Default::default());
    let mut pulled: FxHashSet<i64> = FxHashSet::default();
    let mut planned: Vec<&BacklogItem> = Vec::with_capacity(input.selected.len());
    for id in input.selected {
        if let Some(item) = input.catalog.get(id) {
            if let Entry::Vacant(e) = included.entry(*id) {
                e.insert(order.len());
                order.push(*id);
                planned.push(item);
            }
        }
    }
    if input.request.include_dependencies {
        // Breadth-first from the selection; pulled-in items are planned before their dependents
        // by the graph anyway, so listing order only affects display.
        let mut i = 0;
        while i < order.len() {
            for dep in &planned[i].depends_on {
                if let Some(d) = input.catalog.get(dep) {
                    if d.status != ItemStatus::Done {
                        if let Entry::Vacant(e) = included.entry(*dep) {
                            e.insert(order.len());
                            pulled.insert(*dep);
                            order.push(*dep);
                            planned.push(d);
                        }
                    }
                }
            }
            i += 1;
        }
    }
    let mut deps = Rows::with_capacity(order.len(), order.len() * 4);
    let mut first_of: Vec<usize> = Vec::with_capacity(order.len() + 1);
    first_of.push(0);
    for (id, item) in order.iter().zip(&planned) {
        first_of.push(first_of[first_of.len() - 1] + item.tools.len().max(1));
        let mut missing = vec![];
        let mut unknown = vec![];
        for dep in &item.depends_on {
            // Planned dependencies are known items: no catalog lookup (a cache miss) needed.
            if let Some(&p) = included.get(dep) {
                deps.push(p);
                continue;
            }
            match input.catalog.get(dep) {
                None => unknown.push(*dep),
                Some(d) if d.status != ItemStatus::Done => missing.push(*dep),
                _ => {}
            }
        }
        deps.end_row();
        if !missing.is_empty() {
            issues.push(PlanIssue::MissingDependency { item_id: *id, missing });
        }
        if !unknown.is_empty() {
            issues.push(PlanIssue::UnknownDependency { item_id: *id, missing: unknown });
        }
    }
    Resolved { order, planned, pulled, deps, first_of }
}

/// `s{item}-{n}`: the id of an item's n-th step (1-based).
fn step_id(item: i64, n: usize) -> String {
    let mut id = String::with_capacity(16);
    id.push('s');
    id.push_str(itoa::Buffer::new().format(item));
    id.push('-');
    id.push_str(itoa::Buffer::new().format(n));
    id
}

/// The items a plan for `input` covers, in plan order: the selection, then (with
/// `include_dependencies`) the unfinished items it depends on. What a model is asked to order.
pub fn planned_items<'a>(input: &PlannerInput<'a>) -> Vec<&'a BacklogItem> {
    resolve_items(input, &mut vec![]).planned
}

/// Builds the plan in dependency order only (see [`build_ordered`]).
pub fn build(planner: &str, input: &PlannerInput<'_>) -> Draft {
    match build_ordered(planner, input, &Ordering::Dependencies) {
        Ok(d) => d,
        Err(_) => unreachable!("the dependency order is never refused"),
    }
}

/// What the item-level strategies read about each planned item: its steps' p50 durations one
/// after another, and its pack.
fn item_facts(input: &PlannerInput<'_>, planned: &[&BacklogItem]) -> (Vec<i64>, Vec<i64>) {
    let duration = planned
        .iter()
        .map(|item| {
            let n = item.tools.len().max(1);
            (0..n).map(|k| estimate_for(input, item, item.tools.get(k).map_or(MANUAL_TOOL, String::as_str), n).duration_p50_ms).sum()
        })
        .collect();
    (duration, planned.iter().map(|i| i.pack_id).collect())
}

/// Builds the plan: steps per tool, edges from dependencies (plus the sequencing `ordering` adds),
/// cycles by SCC, waves by longest-path layering, the critical path by estimated duration. A
/// proposed ordering that contradicts the items or their dependencies is refused, naming why.
pub fn build_ordered(planner: &str, input: &PlannerInput<'_>, ordering: &Ordering) -> Result<Draft, ProposalError> {
    let mut issues = vec![];
    let Resolved { order, planned, pulled, deps, first_of } = resolve_items(input, &mut issues);
    // Item-level orderings add edges between items; risk-averse orders steps, once they exist.
    let mut by_steps = None;
    let edges = match ordering {
        Ordering::Dependencies | Ordering::Strategy { strategy: Strategy::Waves } => vec![],
        Ordering::Strategy { strategy: s @ Strategy::RiskAverse } => {
            by_steps = Some(*s);
            vec![]
        }
        Ordering::Strategy { strategy: s } => {
            let (duration_ms, pack) = item_facts(input, &planned);
            let sensitive = vec![false; planned.len()];
            sequencing(*s, &Facts { deps: &deps, duration_ms: &duration_ms, sensitive: &sensitive, pack: &pack })
        }
        Ordering::Waves { waves } => proposal_edges(waves, &order, &deps)?,
    };
    let deps = if edges.is_empty() { deps } else { with_edges(&deps, &edges) };
    let fingerprint = request_fingerprint(input.request, input.selected);
    let mut scratch = String::new();
    let mut nothing_to_undo: FxHashMap<&str, String> = FxHashMap::default();

    let n_steps = first_of[order.len()];

    // Steps: one per tool, chained in the item's tool order; an item's first step waits for the
    // last step of each planned item it depends on. One pass over the items, each read once.
    let mut steps: Vec<PlanStep> = Vec::with_capacity(n_steps);
    let mut preds = Rows::with_capacity(n_steps, n_steps + deps.total());
    // p50 durations by step, for the critical path (compact, unlike the steps themselves).
    let mut p50: Vec<i64> = Vec::with_capacity(n_steps);
    // Per step: it needs a human, or it changes production (a mutating tool of a `prod` item).
    let mut needs_care: Vec<bool> = Vec::with_capacity(if by_steps.is_some() { n_steps } else { 0 });
    let mut items: Vec<PlanItem> = Vec::with_capacity(order.len());
    for (pos, item) in planned.iter().enumerate() {
        let id = item.id;
        let n_tools = item.tools.len().max(1);
        if item.tools.is_empty() {
            issues.push(PlanIssue::NoTools { item_id: id });
        }
        let prefix = item_token_prefix(&fingerprint, item, &mut scratch);
        let first = steps.len();
        for n in 0..n_tools {
            let tool = item.tools.get(n).map_or(MANUAL_TOOL, String::as_str);
            let def = input.tools.get(tool);
            if def.is_none() && tool != MANUAL_TOOL {
                issues.push(PlanIssue::UnknownTool { item_id: id, tool: tool.to_string() });
            }
            let token = idempotency_token(&prefix, tool, def, n);
            let mutating = def.is_some_and(|t| t.mutating);
            let rollback = match def.and_then(|t| t.rollback.as_deref()) {
                Some(recipe) => Some(render_rollback(recipe, item, tool, &token)),
                None if mutating => None,
                None => Some(
                    nothing_to_undo
                        .entry(tool)
                        .or_insert_with(|| format!("Nothing to undo: `{tool}` changes nothing outside the agent."))
                        .clone(),
                ),
            };
            let depends_on = if n > 0 {
                preds.push(first + n - 1);
                vec![steps[first + n - 1].id.clone()]
            } else {
                let mine = deps.of(pos);
                let mut ids = Vec::with_capacity(mine.len());
                for &d in mine {
                    let last = first_of[d + 1] - 1;
                    preds.push(last);
                    ids.push(step_id(order[d], first_of[d + 1] - first_of[d]));
                }
                ids
            };
            preds.end_row();
            let estimate = estimate_for(input, item, tool, n_tools);
            p50.push(estimate.duration_p50_ms);
            if by_steps.is_some() {
                let human = def.is_some_and(|t| t.sensitive || t.required_approvals > 0) || tool.starts_with("manual");
                needs_care.push(human || (mutating && item.labels.iter().any(|l| l == "prod")));
            }
            steps.push(PlanStep {
                id: step_id(id, n + 1),
                backlog_item_id: id,
                item_title: item.title.clone(),
                pack_id: item.pack_id,
                tool: tool.to_string(),
                sensitive: def.is_some_and(|t| t.sensitive) || tool.starts_with("manual"),
                mutating,
                required_approvals: def.map(|t| t.required_approvals).unwrap_or(0),
                wave: None,
                depends_on,
                idempotency_token: token,
                rollback,
                estimate,
                verdicts: vec![],
                verdict: Default::default(),
            });
        }
        items.push(PlanItem {
            id,
            title: item.title.clone(),
            pack_id: item.pack_id,
            pack_name: item.pack_name.clone(),
            status: item.status,
            pulled_in: pulled.contains(&id),
        });
    }

    if let Some(strategy) = by_steps {
        let pack: Vec<i64> = steps.iter().map(|s| s.pack_id).collect();
        let edges = sequencing(strategy, &Facts { deps: &preds, duration_ms: &p50, sensitive: &needs_care, pack: &pack });
        if !edges.is_empty() {
            preds = with_edges(&preds, &edges);
            for (a, b) in edges {
                let id = steps[a].id.clone();
                steps[b].depends_on.push(id);
            }
        }
    }

    let topo = topological_order(&preds);

    // Cycles on the item graph: every SCC with more than one item (or a self-loop) is one cycle.
    // An item cycle is also a step cycle, so when every step could be ordered there is none.
    if topo.len() < steps.len() {
        let mut item_graph: DiGraph<i64, ()> = DiGraph::with_capacity(order.len(), order.len() * 2);
        for id in &order {
            item_graph.add_node(*id);
        }
        for pos in 0..order.len() {
            for &d in deps.of(pos) {
                item_graph.add_edge(NodeIndex::new(d), NodeIndex::new(pos), ());
            }
        }
        for scc in tarjan_scc(&item_graph) {
            let self_loop = scc.len() == 1 && item_graph.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                let mut ids: Vec<i64> = scc.iter().map(|n| item_graph[*n]).collect();
                ids.sort_unstable();
                issues.push(PlanIssue::Cycle { item_ids: ids });
            }
        }
    }

    // Longest-path layering over the steps that can be ordered; the rest keep `wave: None`.
    let mut wave: Vec<Option<u32>> = vec![None; steps.len()];
    for &i in &topo {
        let w = preds.of(i).iter().map(|&p| wave[p].map(|w| w + 1)).try_fold(0u32, |acc, w| w.map(|w| acc.max(w)));
        wave[i] = w;
    }
    let n_waves = wave.iter().flatten().max().map(|w| *w as usize + 1).unwrap_or(0);
    let mut wave_sizes = vec![0usize; n_waves];
    for w in wave.iter().flatten() {
        wave_sizes[*w as usize] += 1;
    }
    let mut waves: Vec<Vec<String>> = wave_sizes.into_iter().map(Vec::with_capacity).collect();
    for (i, s) in steps.iter_mut().enumerate() {
        s.wave = wave[i];
        if let Some(w) = wave[i] {
            waves[w as usize].push(s.id.clone());
        }
    }

    // Critical path: longest chain by p50 duration (ties: the earlier predecessor).
    let mut finish = vec![0i64; steps.len()];
    let mut via: Vec<Option<usize>> = vec![None; steps.len()];
    for &i in &topo {
        let mut best: Option<(i64, usize)> = None;
        for &p in preds.of(i) {
            if best.is_none_or(|(f, _)| finish[p] > f) {
                best = Some((finish[p], p));
            }
        }
        finish[i] = best.map(|b| b.0).unwrap_or(0) + p50[i];
        via[i] = best.map(|b| b.1);
    }
    let mut critical_path = vec![];
    if let Some(&end) = topo.iter().max_by(|&&a, &&b| finish[a].cmp(&finish[b]).then(b.cmp(&a))) {
        let mut at = Some(end);
        while let Some(i) = at {
            critical_path.push(i);
            at = via[i];
        }
        critical_path.reverse();
    }
    let estimate = PlanEstimate {
        duration_p50_ms: critical_path.iter().map(|&i| steps[i].estimate.duration_p50_ms).sum(),
        duration_p95_ms: critical_path.iter().map(|&i| steps[i].estimate.duration_p95_ms).sum(),
        work_p50_ms: steps.iter().map(|s| s.estimate.duration_p50_ms).sum(),
        cost_p50_usd: steps.iter().map(|s| s.estimate.cost_p50_usd).sum(),
        cost_p95_usd: steps.iter().map(|s| s.estimate.cost_p95_usd).sum(),
        budget_usd: 0.0,
    };
    let critical_path = critical_path.into_iter().map(|i| steps[i].id.clone()).collect();

    // Packs in order of first appearance, so the grouping follows the request.
    let mut groups: Vec<PackGroup> = vec![];
    let mut group_of: FxHashMap<i64, usize> = FxHashMap::default();
    for it in &items {
        let g = *group_of.entry(it.pack_id).or_insert_with(|| {
            groups.push(PackGroup { pack_id: it.pack_id, pack_name: it.pack_name.clone(), item_ids: vec![] });
            groups.len() - 1
        });
        groups[g].item_ids.push(it.id);
    }

    Ok(Draft { planner: planner.to_string(), items, groups, steps, waves, critical_path, estimate, issues })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::model::{Risk, Tool};
    use crate::plan::draft::{Catalog, EstimateDefaults, StatsByTool, ToolRegistry, ToolStats};
    use proptest::prelude::*;
    use proptest::strategy::Strategy;
    use std::collections::{BTreeSet, HashMap};

    pub fn item(id: i64, deps: Vec<i64>, tools: &[&str]) -> BacklogItem {
        BacklogItem {
            id,
            pack_id: 1 + id % 3,
            pack_name: format!("pack-{}", 1 + id % 3),
            title: format!("Item {id}"),
            description: String::new(),
            depends_on: deps,
            tools: tools.iter().map(|t| t.to_string()).collect(),
            labels: vec![],
            risk: Risk::Low,
            estimate_minutes: 30,
            status: ItemStatus::Todo,
            created_at: 0,
            updated_at: 0,
        }
    }

    pub fn tool(id: &str, mutating: bool, rollback: Option<&str>) -> Tool {
        Tool {
            id: id.into(),
            description: String::new(),
            sensitive: false,
            required_approvals: 0,
            mutating,
            rollback: rollback.map(String::from),
            risk_weight: 1.0,
            approval_expires_in_s: None,
            run_count: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn registry() -> ToolRegistry {
        [
            tool("codegen", false, None),
            tool("git_pr", true, Some("Close PR for item {item_id} ({item_title}) in {pack}; token {token}")),
            tool("db_write", true, None),
            tool("bash", false, None),
        ]
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect()
    }

    fn plan(items: Vec<BacklogItem>, selected: &[i64], include_dependencies: bool) -> Draft {
        let catalog: Catalog = items.into_iter().map(|i| (i.id, i)).collect();
        let request = PlanRequest { item_ids: Some(selected.to_vec()), include_dependencies, ..Default::default() };
        let tools = registry();
        let stats = StatsByTool::default();
        build(
            "test",
            &PlannerInput {
                request: &request,
                selected,
                catalog: &catalog,
                tools: &tools,
                stats: &stats,
                defaults: EstimateDefaults::default(),
            },
        )
    }

    fn step<'a>(d: &'a Draft, id: &str) -> &'a PlanStep {
        d.steps.iter().find(|s| s.id == id).unwrap()
    }

    #[test]
    fn token_derivation_is_pinned() {
        // Tokens outlive a release (executors dedupe on them): a change to how they are derived
        // must be deliberate, with a new version string, and shows up here.
        let mut a = item(7, vec![3, 11], &["codegen", "git_pr"]);
        a.labels = vec!["prod".into(), "pii".into()];
        a.description = "Ship it".into();
        let mut b = item(3, vec![], &[]);
        b.status = ItemStatus::Done;
        let mut c = item(11, vec![], &["bash"]);
        c.status = ItemStatus::Done;
        let d = plan(vec![a, b, c], &[7], false);
        let tokens: Vec<&str> = d.steps.iter().map(|s| s.idempotency_token.as_str()).collect();
        assert_eq!(tokens, vec!["fc8639e1a3a599fda91eddf48d52eb2a", "64260959674f7ecd434564bd13a0cf97"]);
        assert_eq!(
            step(&d, "s7-2").rollback.as_deref(),
            Some(format!("Close PR for item 7 (Item 7) in pack-2; token {}", tokens[1]).as_str())
        );
    }

    #[test]
    fn steps_chain_per_item_and_follow_dependencies() {
        let d = plan(
            vec![item(1, vec![], &["codegen", "git_pr"]), item(2, vec![1], &["db_write"]), item(3, vec![], &["bash"])],
            &[1, 2, 3],
            false,
        );
        assert_eq!(d.steps.len(), 4);
        assert_eq!(step(&d, "s1-2").depends_on, vec!["s1-1"]);
        assert_eq!(step(&d, "s2-1").depends_on, vec!["s1-2"], "an item's first step waits for its dependency's last step");
        assert_eq!(d.waves, vec![vec!["s1-1", "s3-1"], vec!["s1-2"], vec!["s2-1"]]);
        assert_eq!(d.critical_path, vec!["s1-1", "s1-2", "s2-1"]);
        // 30 min item estimate split over two tools = 15 min each; item 2 has one tool = 30 min.
        assert_eq!(d.estimate.duration_p50_ms, (15 + 15 + 30) * 60_000);
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        assert_eq!(d.groups.iter().map(|g| g.item_ids.clone()).collect::<Vec<_>>(), vec![vec![1], vec![2], vec![3]]);
    }

    fn ordered(items: Vec<BacklogItem>, ordering: &Ordering) -> Result<Draft, ProposalError> {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let catalog: Catalog = items.into_iter().map(|i| (i.id, i)).collect();
        let request = PlanRequest { item_ids: Some(ids.clone()), ..Default::default() };
        let mut tools = registry();
        tools.get_mut("git_pr").unwrap().sensitive = true;
        let stats = StatsByTool::default();
        let input = PlannerInput {
            request: &request,
            selected: &ids,
            catalog: &catalog,
            tools: &tools,
            stats: &stats,
            defaults: EstimateDefaults::default(),
        };
        build_ordered("test", &input, ordering)
    }

    #[test]
    fn orderings_shape_the_plan_through_the_builder() {
        let items =
            || vec![item(1, vec![], &["codegen", "git_pr"]), item(2, vec![], &["codegen", "git_pr"]), item(3, vec![], &["codegen"])];
        let strategy = |strategy| Ordering::Strategy { strategy };
        // Risk-averse: routine work first, then the sensitive git_pr steps one at a time.
        let d = ordered(items(), &strategy(super::Strategy::RiskAverse)).unwrap();
        assert_eq!(d.waves, vec![vec!["s1-1", "s2-1", "s3-1"], vec!["s1-2"], vec!["s2-2"]]);
        assert_eq!(step(&d, "s1-2").depends_on, vec!["s1-1", "s2-1", "s3-1"], "the first sensitive step waits for routine work");
        assert_eq!(step(&d, "s2-2").depends_on, vec!["s2-1", "s1-2"], "one sensitive step at a time");
        // Tokens do not depend on the order: the same work is the same work.
        let plain = ordered(items(), &Ordering::Dependencies).unwrap();
        assert_eq!(
            d.steps.iter().map(|s| &s.idempotency_token).collect::<Vec<_>>(),
            plain.steps.iter().map(|s| &s.idempotency_token).collect::<Vec<_>>()
        );
        assert!(d.estimate.duration_p50_ms > plain.estimate.duration_p50_ms, "the critical path includes the sequencing");
        // One lane: every step in a wave of its own.
        let d = ordered(items(), &strategy(super::Strategy::CriticalPath { lanes: 1 })).unwrap();
        assert_eq!(d.waves.len(), d.steps.len());
        // A model's waves of items: every item of a wave after every item of the wave before.
        let d = ordered(items(), &Ordering::Waves { waves: vec![vec![3], vec![1, 2]] }).unwrap();
        assert_eq!(d.waves, vec![vec!["s3-1"], vec!["s1-1", "s2-1"], vec!["s1-2", "s2-2"]]);
        assert_eq!(step(&d, "s1-1").depends_on, vec!["s3-1"]);
        let wrong = ordered(items(), &Ordering::Waves { waves: vec![vec![3], vec![1]] });
        assert_eq!(wrong, Err(ProposalError::Missing { item_ids: vec![2] }));
    }

    #[test]
    fn rollback_is_rendered_per_step_and_missing_for_mutating_tools_without_recipe() {
        let d = plan(vec![item(7, vec![], &["codegen", "git_pr", "db_write"])], &[7], false);
        let pr = step(&d, "s7-2");
        assert_eq!(
            pr.rollback.as_deref(),
            Some(format!("Close PR for item 7 (Item 7) in pack-2; token {}", pr.idempotency_token).as_str())
        );
        assert!(step(&d, "s7-1").rollback.as_deref().unwrap().starts_with("Nothing to undo"));
        assert_eq!(step(&d, "s7-3").rollback, None, "mutating db_write has no recipe: a finding for the gates, not a crash");
    }

    #[test]
    fn rows_group_pairs_in_order() {
        let rows = Rows::grouped(4, [(2, 10), (0, 11), (2, 12), (3, 13)].into_iter());
        assert_eq!((rows.len(), rows.total()), (4, 4));
        assert_eq!((rows.of(0), rows.of(1), rows.of(2), rows.of(3)), (&[11][..], &[][..], &[10, 12][..], &[13][..]));
        let mut built = Rows::with_capacity(2, 2);
        built.push(5);
        built.end_row();
        built.end_row();
        assert_eq!((built.of(0), built.of(1)), (&[5][..], &[][..]));
    }

    #[test]
    fn rollback_placeholders_are_filled_once() {
        let mut it = item(7, vec![], &["git_pr"]);
        it.title = "Fix {token} and {tool} {braces".into();
        let r = render_rollback("undo {item_id} \"{item_title}\" {pack}/{tool} {token} {unknown} {", &it, "git_pr", "abc");
        // A title that looks like a placeholder is left as written; unknown ones stay literal.
        assert_eq!(r, "undo 7 \"Fix {token} and {tool} {braces\" pack-2/git_pr abc {unknown} {");
        assert_eq!(render_rollback("", &it, "t", "x"), "");
        assert_eq!(render_rollback("no placeholders", &it, "t", "x"), "no placeholders");
    }

    #[test]
    fn dependencies_outside_the_request() {
        let mut done = item(1, vec![], &["codegen"]);
        done.status = ItemStatus::Done;
        let items = vec![done, item(2, vec![], &["codegen"]), item(3, vec![1, 2, 99], &["git_pr"])];
        let d = plan(items.clone(), &[3], false);
        assert!(
            d.issues.contains(&PlanIssue::MissingDependency { item_id: 3, missing: vec![2] }),
            "done item 1 is satisfied: {:?}",
            d.issues
        );
        assert!(d.issues.contains(&PlanIssue::UnknownDependency { item_id: 3, missing: vec![99] }));
        let d = plan(items, &[3], true);
        assert_eq!(d.items.iter().map(|i| (i.id, i.pulled_in)).collect::<Vec<_>>(), vec![(3, false), (2, true)]);
        assert!(!d.issues.iter().any(|i| matches!(i, PlanIssue::MissingDependency { .. })));
        assert_eq!(step(&d, "s3-1").wave, Some(1));
    }

    #[test]
    fn cycles_are_named_and_unschedulable() {
        let d = plan(
            vec![
                item(1, vec![3], &["codegen"]),
                item(2, vec![1], &["codegen"]),
                item(3, vec![2], &["codegen"]),
                item(4, vec![3], &["codegen"]),
                item(5, vec![5], &[]),
            ],
            &[1, 2, 3, 4, 5],
            false,
        );
        let mut cycles: Vec<Vec<i64>> = d
            .issues
            .iter()
            .filter_map(|i| match i {
                PlanIssue::Cycle { item_ids } => Some(item_ids.clone()),
                _ => None,
            })
            .collect();
        cycles.sort();
        assert_eq!(cycles, vec![vec![1, 2, 3], vec![5]]);
        assert!(d.steps.iter().all(|s| s.wave.is_none()), "item 4 waits behind the cycle");
        assert!(d.issues.contains(&PlanIssue::NoTools { item_id: 5 }));
        assert_eq!(step(&d, "s5-1").tool, MANUAL_TOOL);
    }

    #[test]
    fn unknown_tools_are_reported_not_fatal() {
        let d = plan(vec![item(1, vec![], &["teleport"])], &[1], false);
        assert_eq!(d.issues, vec![PlanIssue::UnknownTool { item_id: 1, tool: "teleport".into() }]);
        assert_eq!(d.steps.len(), 1);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let runs: Vec<(i64, f64)> = (1..=20).map(|i| (i * 100, i as f64)).collect();
        let s = ToolStats::from_runs(&runs).unwrap();
        assert_eq!((s.duration_p50_ms, s.duration_p95_ms), (1000, 1900));
        assert_eq!((s.cost_p50_usd, s.cost_p95_usd), (10.0, 19.0));
        assert_eq!(ToolStats::from_runs(&[(5, 0.5)]).unwrap().duration_p95_ms, 5);
        assert!(ToolStats::from_runs(&[]).is_none());
    }

    const TOOLS: [&str; 5] = ["codegen", "git_pr", "db_write", "bash", "teleport"];

    /// A random DAG: item i may only depend on items before it.
    fn dag() -> impl Strategy<Value = Vec<BacklogItem>> {
        (1usize..50).prop_flat_map(|n| {
            proptest::collection::vec(
                (proptest::collection::vec(any::<proptest::sample::Index>(), 0..5), proptest::collection::vec(0usize..4, 0..3)),
                n,
            )
            .prop_map(|specs| {
                specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (deps, tools))| {
                        let id = i as i64 + 1;
                        let mut deps: Vec<i64> = if i == 0 { vec![] } else { deps.iter().map(|d| d.index(i) as i64 + 1).collect() };
                        deps.sort_unstable();
                        deps.dedup();
                        let mut names: Vec<&str> = tools.iter().map(|t| TOOLS[*t]).collect();
                        names.dedup();
                        let mut seen = HashSet::new();
                        names.retain(|n| seen.insert(*n));
                        item(id, deps, &names)
                    })
                    .collect()
            })
        })
    }

    /// Any graph at all: arbitrary, self, duplicate and unknown dependency ids.
    fn any_graph() -> impl Strategy<Value = Vec<BacklogItem>> {
        proptest::collection::vec((proptest::collection::vec(0i64..40, 0..6), proptest::collection::vec(0usize..5, 0..4)), 0..35).prop_map(
            |specs| {
                specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (deps, tools))| {
                        let names: Vec<&str> = tools.iter().map(|t| TOOLS[*t]).collect();
                        item(i as i64 + 1, deps, &names)
                    })
                    .collect()
            },
        )
    }

    /// Items that can reach themselves through dependencies (a slow, obviously right reference).
    fn in_some_cycle(items: &[BacklogItem]) -> BTreeSet<i64> {
        let by_id: HashMap<i64, &BacklogItem> = items.iter().map(|i| (i.id, i)).collect();
        let mut out = BTreeSet::new();
        for start in items {
            let mut stack: Vec<i64> = start.depends_on.clone();
            let mut seen = HashSet::new();
            while let Some(x) = stack.pop() {
                if x == start.id {
                    out.insert(start.id);
                    break;
                }
                if seen.insert(x) {
                    if let Some(i) = by_id.get(&x) {
                        stack.extend(i.depends_on.iter().copied());
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn dependencies_sit_in_earlier_waves(items in dag()) {
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            let d = plan(items, &ids, false);
            let wave: HashMap<&str, u32> = d.steps.iter().map(|s| (s.id.as_str(), s.wave.expect("a DAG schedules every step"))).collect();
            for s in &d.steps {
                for dep in &s.depends_on {
                    prop_assert!(wave[dep.as_str()] < wave[s.id.as_str()], "{} (wave {}) depends on {} (wave {})", s.id, wave[s.id.as_str()], dep, wave[dep.as_str()]);
                }
                // Longest-path layering: a step sits right after its latest dependency.
                let expected = s.depends_on.iter().map(|d| wave[d.as_str()] + 1).max().unwrap_or(0);
                prop_assert_eq!(wave[s.id.as_str()], expected);
            }
            prop_assert_eq!(d.waves.iter().map(Vec::len).sum::<usize>(), d.steps.len());
            prop_assert!(!d.issues.iter().any(|i| matches!(i, PlanIssue::Cycle { .. })), "a DAG has no cycles");
            // The critical path is a chain of real edges.
            for w in d.critical_path.windows(2) {
                prop_assert!(step(&d, &w[1]).depends_on.contains(&w[0]));
            }
        }

        #[test]
        fn tokens_are_deterministic_and_change_with_content(items in dag(), pick in any::<proptest::sample::Index>()) {
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            let a = plan(items.clone(), &ids, false);
            let b = plan(items.clone(), &ids, false);
            prop_assert_eq!(a.steps.iter().map(|s| &s.idempotency_token).collect::<Vec<_>>(), b.steps.iter().map(|s| &s.idempotency_token).collect::<Vec<_>>());
            let all: HashSet<&String> = a.steps.iter().map(|s| &s.idempotency_token).collect();
            prop_assert_eq!(all.len(), a.steps.len(), "tokens are unique within a plan");

            let changed_id = ids[pick.index(ids.len())];
            let mut edited = items.clone();
            edited.iter_mut().find(|i| i.id == changed_id).unwrap().title.push_str(" (edited)");
            let c = plan(edited, &ids, false);
            for (x, y) in a.steps.iter().zip(&c.steps) {
                if x.backlog_item_id == changed_id {
                    prop_assert_ne!(&x.idempotency_token, &y.idempotency_token);
                } else {
                    prop_assert_eq!(&x.idempotency_token, &y.idempotency_token);
                }
            }
            // Another plan input (a budget) gives other tokens for the same work.
            let catalog: Catalog = items.into_iter().map(|i| (i.id, i)).collect();
            let request = PlanRequest { item_ids: Some(ids.clone()), budget_usd: Some(5.0), ..Default::default() };
            let tools = registry();
            let stats = StatsByTool::default();
            let d = build("test", &PlannerInput { request: &request, selected: &ids, catalog: &catalog, tools: &tools, stats: &stats, defaults: EstimateDefaults::default() });
            prop_assert!(d.steps.iter().zip(&a.steps).all(|(x, y)| x.idempotency_token != y.idempotency_token));
        }

        #[test]
        fn every_cycle_is_found_and_named(items in any_graph()) {
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            let expected = in_some_cycle(&items);
            let d = plan(items, &ids, false);
            let found: BTreeSet<i64> = d.issues.iter().flat_map(|i| match i { PlanIssue::Cycle { item_ids } => item_ids.clone(), _ => vec![] }).collect();
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn never_panics_on_arbitrary_input(items in any_graph(), selected in proptest::collection::vec(-3i64..45, 0..40), deps in any::<bool>()) {
            let d = plan(items, &selected, deps);
            let ids: HashSet<&str> = d.steps.iter().map(|s| s.id.as_str()).collect();
            prop_assert_eq!(ids.len(), d.steps.len());
            for s in &d.steps {
                for dep in &s.depends_on {
                    prop_assert!(ids.contains(dep.as_str()), "no orphan edges");
                }
            }
        }
    }
}
