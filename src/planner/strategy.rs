//! How a planner orders the work beyond what the backlog's dependencies force: the built-in
//! strategies, and a model's proposed waves. Either way the result is a list of *sequencing
//! edges* ("this starts after that one"), between planned items or (risk-averse) between steps,
//! which the builder adds to the dependencies before it lays out waves. So every plan, whoever
//! proposed its order, is built, estimated, gated and executed by the same rules, and its graph
//! shows exactly the order it will run in. Pure: no I/O.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::plan::rows::{topological_order, Rows};

/// A built-in planning strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every item as early as its dependencies allow (longest-path waves, unlimited width).
    Waves,
    /// At most `lanes` items at a time; whenever a lane is free it takes the ready item with the
    /// longest estimated chain of work still behind it.
    CriticalPath { lanes: usize },
    /// Steps that need a human (a sensitive tool, approvals, a manual step) or change production
    /// (a mutating tool on a `prod` item) one at a time, and only after all routine work that does
    /// not depend on them. Works on steps, not items.
    RiskAverse,
    /// Each pack worked through as one lane, its items one after another in dependency order;
    /// packs side by side.
    PackGrouped,
}

impl Strategy {
    /// The name in the providers file and in planner ids (`nofx/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Waves => "waves",
            Strategy::CriticalPath { .. } => "critical-path",
            Strategy::RiskAverse => "risk-averse",
            Strategy::PackGrouped => "pack-grouped",
        }
    }

    /// What it does, in a sentence (shown with its candidates).
    pub fn rationale(self) -> String {
        match self {
            Strategy::Waves => "Every item as early as its dependencies allow: the widest plan, the shortest when nothing limits how many steps run at once.".into(),
            Strategy::CriticalPath { lanes } => format!(
                "At most {lanes} items at a time; a free lane takes the ready item with the longest chain of work behind it, so the critical path starts first."
            ),
            Strategy::RiskAverse => "Steps that need a reviewer or change production run one at a time, after all routine work that does not depend on them: reviewers see them late and one by one.".into(),
            Strategy::PackGrouped => "Each pack is one lane: its items run one after another in dependency order (fewer conflicts inside a pack), packs side by side.".into(),
        }
    }
}

/// What the strategies read about the nodes they order (the planned items, by position in the
/// plan's item order; for risk-averse, the steps).
pub struct Facts<'a> {
    /// Per node, the positions of the nodes it depends on.
    pub deps: &'a Rows,
    /// Per node, its estimated duration (p50; an item's steps one after another).
    pub duration_ms: &'a [i64],
    /// Per node: it needs a human or changes production (risk-averse only).
    pub sensitive: &'a [bool],
    /// Per node, its pack.
    pub pack: &'a [i64],
}

/// Sequencing edges `(before, after)` for `strategy`. None when the items' dependencies have a
/// cycle: such a plan cannot run anyway, and the structural gate says why.
pub fn sequencing(strategy: Strategy, facts: &Facts<'_>) -> Vec<(usize, usize)> {
    let n = facts.deps.len();
    let topo = topological_order(facts.deps);
    if topo.len() < n {
        return vec![];
    }
    match strategy {
        Strategy::Waves => vec![],
        Strategy::CriticalPath { lanes } => critical_path_lanes(facts, &topo, lanes.max(1)),
        Strategy::RiskAverse => risk_averse(facts, &topo),
        Strategy::PackGrouped => pack_lanes(facts, &topo),
    }
}

/// Successor lists from predecessor lists.
fn successors(deps: &Rows) -> Rows {
    let n = deps.len();
    Rows::grouped(n, (0..n).flat_map(|i| deps.of(i).iter().map(move |&p| (p, i))))
}

/// Per item, its duration plus the longest chain of work that depends on it ("bottom level").
fn bottom_levels(facts: &Facts<'_>, topo: &[usize]) -> Vec<i64> {
    let succs = successors(facts.deps);
    let mut level = vec![0i64; facts.deps.len()];
    for &i in topo.iter().rev() {
        level[i] = facts.duration_ms[i] + succs.of(i).iter().map(|&s| level[s]).max().unwrap_or(0);
    }
    level
}

/// List scheduling on `lanes` lanes, simulated with the estimates: whenever a lane is free, the
/// ready item (its dependencies finished) with the highest bottom level (ties: plan order) goes on
/// it, after the lane's previous item. Each lane is a chain, so at most `lanes` items are ever in
/// flight.
fn critical_path_lanes(facts: &Facts<'_>, topo: &[usize], lanes: usize) -> Vec<(usize, usize)> {
    use std::cmp::Reverse;
    use std::collections::{BTreeSet, BinaryHeap};
    let n = facts.deps.len();
    let level = bottom_levels(facts, topo);
    let succs = successors(facts.deps);
    let mut waiting: Vec<usize> = (0..n).map(|i| facts.deps.of(i).len()).collect();
    let mut ready: BinaryHeap<(i64, Reverse<usize>)> = (0..n).filter(|&i| waiting[i] == 0).map(|i| (level[i], Reverse(i))).collect();
    // Running items by finish time: (finish, item, lane).
    let mut running: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    let mut free: BTreeSet<usize> = (0..lanes).collect();
    let mut last: Vec<Option<usize>> = vec![None; lanes];
    let mut edges = vec![];
    let mut now = 0i64;
    loop {
        while let (Some(&lane), Some(&(_, Reverse(i)))) = (free.first(), ready.peek()) {
            ready.pop();
            free.remove(&lane);
            if let Some(prev) = last[lane] {
                if !facts.deps.of(i).contains(&prev) {
                    edges.push((prev, i));
                }
            }
            last[lane] = Some(i);
            running.push(Reverse((now + facts.duration_ms[i].max(1), i, lane)));
        }
        let Some(Reverse((finish, _, _))) = running.peek().copied() else { break };
        now = finish;
        // Everything finishing now frees its lane before the next choice.
        while let Some(&Reverse((f, i, lane))) = running.peek() {
            if f != now {
                break;
            }
            running.pop();
            free.insert(lane);
            for &s in succs.of(i) {
                waiting[s] -= 1;
                if waiting[s] == 0 {
                    ready.push((level[s], Reverse(s)));
                }
            }
        }
    }
    edges
}

/// Sensitive nodes chained in topological order; the first waits for every routine node that no
/// sensitive node leads to (through the last ones of them: their sinks).
fn risk_averse(facts: &Facts<'_>, topo: &[usize]) -> Vec<(usize, usize)> {
    let n = facts.deps.len();
    // Items reachable from a sensitive one (sensitive items themselves included).
    let mut downstream = vec![false; n];
    for &i in topo {
        downstream[i] = facts.sensitive[i] || facts.deps.of(i).iter().any(|&d| downstream[d]);
    }
    let mut edges = vec![];
    let chain: Vec<usize> = topo.iter().copied().filter(|&i| facts.sensitive[i]).collect();
    let Some(&first) = chain.first() else { return edges };
    // Routine work independent of every sensitive item; its sinks are the items no other item
    // of it depends on.
    let mut has_dependent = vec![false; n];
    for i in (0..n).filter(|&i| !downstream[i]) {
        for &d in facts.deps.of(i) {
            has_dependent[d] = true;
        }
    }
    for i in 0..n {
        if !downstream[i] && !has_dependent[i] && !facts.deps.of(first).contains(&i) {
            edges.push((i, first));
        }
    }
    for w in chain.windows(2) {
        if !facts.deps.of(w[1]).contains(&w[0]) {
            edges.push((w[0], w[1]));
        }
    }
    edges
}

/// One chain per pack, in topological order (so the chains never contradict a dependency).
fn pack_lanes(facts: &Facts<'_>, topo: &[usize]) -> Vec<(usize, usize)> {
    let mut last: rustc_hash::FxHashMap<i64, usize> = Default::default();
    let mut edges = vec![];
    for &i in topo {
        if let Some(prev) = last.insert(facts.pack[i], i) {
            if !facts.deps.of(i).contains(&prev) {
                edges.push((prev, i));
            }
        }
    }
    edges
}

/// Why a proposed ordering cannot be used. Every variant says what the proposal got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposalError {
    /// No waves at all.
    Empty,
    /// A wave with no items.
    EmptyWave { wave: usize },
    /// An item that is not part of this plan.
    UnknownItem { item_id: i64 },
    /// An item placed twice.
    Duplicate { item_id: i64 },
    /// Items of the plan the proposal left out.
    Missing { item_ids: Vec<i64> },
    /// An item placed in the same wave as, or before, an item it depends on.
    BeforeDependency { item_id: i64, wave: usize, dependency: i64, dependency_wave: usize },
}

impl fmt::Display for ProposalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalError::Empty => write!(f, "The proposal has no waves."),
            ProposalError::EmptyWave { wave } => write!(f, "Wave {} of the proposal is empty.", wave + 1),
            ProposalError::UnknownItem { item_id } => write!(f, "The proposal names item {item_id}, which is not part of this plan."),
            ProposalError::Duplicate { item_id } => write!(f, "The proposal places item {item_id} twice."),
            ProposalError::Missing { item_ids } => {
                let list: Vec<String> = item_ids.iter().take(10).map(|i| i.to_string()).collect();
                let more = if item_ids.len() > 10 { format!(" and {} more", item_ids.len() - 10) } else { String::new() };
                write!(f, "The proposal leaves out item{} {}{more}.", if item_ids.len() == 1 { "" } else { "s" }, list.join(", "))
            }
            ProposalError::BeforeDependency { item_id, wave, dependency, dependency_wave } => write!(
                f,
                "The proposal runs item {item_id} in wave {} but it depends on item {dependency}, which runs in wave {}.",
                wave + 1,
                dependency_wave + 1
            ),
        }
    }
}

/// Checks proposed waves of item ids against the plan's items (`order`, by position) and their
/// dependencies, and turns them into sequencing edges: every item of a wave starts after every
/// item of the wave before (what "waves" promise), unless it already depends on it.
pub fn proposal_edges(waves: &[Vec<i64>], order: &[i64], deps: &Rows) -> Result<Vec<(usize, usize)>, ProposalError> {
    if waves.is_empty() {
        return Err(ProposalError::Empty);
    }
    let position: rustc_hash::FxHashMap<i64, usize> = order.iter().enumerate().map(|(p, id)| (*id, p)).collect();
    let mut wave_of: Vec<Option<usize>> = vec![None; order.len()];
    for (w, wave) in waves.iter().enumerate() {
        if wave.is_empty() {
            return Err(ProposalError::EmptyWave { wave: w });
        }
        for id in wave {
            let p = *position.get(id).ok_or(ProposalError::UnknownItem { item_id: *id })?;
            if wave_of[p].replace(w).is_some() {
                return Err(ProposalError::Duplicate { item_id: *id });
            }
        }
    }
    let missing: Vec<i64> = (0..order.len()).filter(|&p| wave_of[p].is_none()).map(|p| order[p]).collect();
    if !missing.is_empty() {
        return Err(ProposalError::Missing { item_ids: missing });
    }
    let wave_of: Vec<usize> = wave_of.into_iter().map(|w| w.unwrap_or(0)).collect();
    for (w, wave) in waves.iter().enumerate() {
        for id in wave {
            let p = position[id];
            if let Some(&d) = deps.of(p).iter().find(|&&d| wave_of[d] >= w) {
                return Err(ProposalError::BeforeDependency { item_id: *id, wave: w, dependency: order[d], dependency_wave: wave_of[d] });
            }
        }
    }
    let mut edges = vec![];
    for pair in waves.windows(2) {
        for b in &pair[1] {
            let pb = position[b];
            for a in &pair[0] {
                let pa = position[a];
                if !deps.of(pb).contains(&pa) {
                    edges.push((pa, pb));
                }
            }
        }
    }
    Ok(edges)
}

/// The dependencies with the sequencing edges added (each row keeps its own order, then the new
/// ones in the order given).
pub fn with_edges(deps: &Rows, edges: &[(usize, usize)]) -> Rows {
    let n = deps.len();
    let extra = Rows::grouped(n, edges.iter().map(|&(a, b)| (b, a)));
    let mut out = Rows::with_capacity(n, deps.total() + edges.len());
    for i in 0..n {
        for &d in deps.of(i).iter().chain(extra.of(i)) {
            out.push(d);
        }
        out.end_row();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest, ProptestConfig};
    use proptest::strategy::Strategy as _;
    use std::collections::HashSet;

    fn rows(deps: &[Vec<usize>]) -> Rows {
        let mut r = Rows::with_capacity(deps.len(), 0);
        for d in deps {
            for &x in d {
                r.push(x);
            }
            r.end_row();
        }
        r
    }

    /// Longest-path waves over `deps` (a slow, obviously right reference).
    fn waves(deps: &Rows) -> Vec<usize> {
        let n = deps.len();
        let mut wave = vec![0usize; n];
        for _ in 0..n {
            for i in 0..n {
                wave[i] = deps.of(i).iter().map(|&d| wave[d] + 1).max().unwrap_or(0);
            }
        }
        wave
    }

    /// Whether `b` can reach `a` through `deps` (b depends on a, transitively), by brute force.
    fn reaches(deps: &Rows, b: usize, a: usize) -> bool {
        let mut stack = vec![b];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if x == a {
                return true;
            }
            if seen.insert(x) {
                stack.extend(deps.of(x).iter().copied());
            }
        }
        false
    }

    #[derive(Debug)]
    struct Case {
        deps: Rows,
        duration: Vec<i64>,
        sensitive: Vec<bool>,
        pack: Vec<i64>,
    }

    impl Case {
        fn facts(&self) -> Facts<'_> {
            Facts { deps: &self.deps, duration_ms: &self.duration, sensitive: &self.sensitive, pack: &self.pack }
        }
    }

    /// A random DAG (item i depends only on items before it), durations, sensitivity and packs.
    fn case() -> impl proptest::strategy::Strategy<Value = Case> {
        (1usize..40).prop_flat_map(|n| {
            proptest::collection::vec(
                (proptest::collection::vec(any::<proptest::sample::Index>(), 0..4), 1i64..100, any::<bool>(), 0i64..4),
                n,
            )
            .prop_map(|specs| {
                let mut deps = vec![];
                let (mut duration, mut sensitive, mut pack) = (vec![], vec![], vec![]);
                for (i, (d, ms, s, p)) in specs.into_iter().enumerate() {
                    let mut d: Vec<usize> = if i == 0 { vec![] } else { d.iter().map(|x| x.index(i)).collect() };
                    d.sort_unstable();
                    d.dedup();
                    deps.push(d);
                    duration.push(ms * 60_000);
                    sensitive.push(s && i % 3 == 0);
                    pack.push(p);
                }
                Case { deps: rows(&deps), duration, sensitive, pack }
            })
        })
    }

    const ALL: [Strategy; 5] = [
        Strategy::Waves,
        Strategy::CriticalPath { lanes: 1 },
        Strategy::CriticalPath { lanes: 3 },
        Strategy::RiskAverse,
        Strategy::PackGrouped,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(160))]

        #[test]
        fn every_strategy_keeps_the_dependencies_and_stays_acyclic(c in case()) {
            for s in ALL {
                let edges = sequencing(s, &c.facts());
                let all = with_edges(&c.deps, &edges);
                prop_assert_eq!(topological_order(&all).len(), all.len(), "{:?} made a cycle", s);
                for i in 0..c.deps.len() {
                    for d in c.deps.of(i) {
                        prop_assert!(all.of(i).contains(d), "{:?} lost a dependency", s);
                    }
                }
                for (a, b) in &edges {
                    prop_assert!(!c.deps.of(*b).contains(a), "{:?} repeated a dependency as a sequencing edge", s);
                }
            }
        }

        #[test]
        fn critical_path_keeps_at_most_its_lanes_busy(c in case(), lanes in 1usize..4) {
            let all = with_edges(&c.deps, &sequencing(Strategy::CriticalPath { lanes }, &c.facts()));
            // Every item is in one chain (lane) of at most `lanes`: any antichain (items no two
            // of which depend on each other) has at most `lanes` items, so no wave holds more.
            let w = waves(&all);
            let mut per_wave = std::collections::HashMap::new();
            for x in &w {
                *per_wave.entry(*x).or_insert(0usize) += 1;
            }
            prop_assert!(per_wave.values().all(|&k| k <= lanes), "{:?}", per_wave);
            // The item with the longest chain of work behind it starts first.
            let topo = topological_order(&c.deps);
            let level = bottom_levels(&c.facts(), &topo);
            let best = (0..c.deps.len()).filter(|&i| c.deps.of(i).is_empty()).max_by_key(|&i| (level[i], std::cmp::Reverse(i))).unwrap();
            prop_assert_eq!(w[best], 0);
        }

        #[test]
        fn risk_averse_runs_sensitive_items_one_by_one_after_independent_routine_work(c in case()) {
            let all = with_edges(&c.deps, &sequencing(Strategy::RiskAverse, &c.facts()));
            let n = c.deps.len();
            let sens: Vec<usize> = (0..n).filter(|&i| c.sensitive[i]).collect();
            // One at a time: of any two sensitive items, one waits for the other.
            for (x, &a) in sens.iter().enumerate() {
                for &b in &sens[x + 1..] {
                    prop_assert!(reaches(&all, a, b) || reaches(&all, b, a), "sensitive {} and {} could run together", a, b);
                }
            }
            // After all routine work that no sensitive item leads to.
            for r in (0..n).filter(|&r| !sens.iter().any(|&s| reaches(&c.deps, r, s))) {
                for &s in &sens {
                    prop_assert!(reaches(&all, s, r), "sensitive {} does not wait for routine {}", s, r);
                }
            }
        }

        #[test]
        fn pack_grouped_runs_each_pack_as_one_lane(c in case()) {
            let all = with_edges(&c.deps, &sequencing(Strategy::PackGrouped, &c.facts()));
            let n = c.deps.len();
            for a in 0..n {
                for b in a + 1..n {
                    if c.pack[a] == c.pack[b] {
                        prop_assert!(reaches(&all, a, b) || reaches(&all, b, a), "items {} and {} of one pack could run together", a, b);
                    }
                }
            }
        }

        #[test]
        fn valid_proposals_are_accepted_and_become_barriers(c in case(), cut in any::<proptest::sample::Index>()) {
            // Longest-path waves of the items always make a valid proposal; so does putting
            // everything in topological order one item per wave.
            let n = c.deps.len();
            let w = waves(&c.deps);
            let k = w.iter().max().unwrap() + 1;
            let order: Vec<i64> = (0..n as i64).map(|i| i * 10 + 7).collect();
            let proposal: Vec<Vec<i64>> = (0..k).map(|x| (0..n).filter(|&i| w[i] == x).map(|i| order[i]).collect()).collect();
            let edges = proposal_edges(&proposal, &order, &c.deps).unwrap();
            let all = with_edges(&c.deps, &edges);
            let got = waves(&all);
            prop_assert_eq!(&got, &w, "the proposed waves are the plan's waves");
            let serial: Vec<Vec<i64>> = topological_order(&c.deps).into_iter().map(|i| vec![order[i]]).collect();
            prop_assert!(proposal_edges(&serial, &order, &c.deps).is_ok());
            // Moving an item that has a dependency into wave 1 is refused.
            let deps_of: Vec<usize> = (0..n).filter(|&i| !c.deps.of(i).is_empty()).collect();
            if !deps_of.is_empty() {
                let moved = deps_of[cut.index(deps_of.len())];
                let mut bad = proposal.clone();
                for wave in bad.iter_mut() { wave.retain(|id| *id != order[moved]); }
                bad[0].push(order[moved]);
                bad.retain(|w| !w.is_empty());
                let is_before_dependency = matches!(proposal_edges(&bad, &order, &c.deps), Err(ProposalError::BeforeDependency { .. }));
                prop_assert!(is_before_dependency);
            }
        }
    }

    #[test]
    fn every_way_a_proposal_can_be_wrong_is_named() {
        // 1 ← 2 ← 3, and 4 on its own (ids 1..=4 at positions 0..=3).
        let deps = rows(&[vec![], vec![0], vec![1], vec![]]);
        let order = [1, 2, 3, 4];
        let check = |w: Vec<Vec<i64>>| proposal_edges(&w, &order, &deps);
        assert_eq!(check(vec![]), Err(ProposalError::Empty));
        assert_eq!(check(vec![vec![1, 4], vec![], vec![2], vec![3]]), Err(ProposalError::EmptyWave { wave: 1 }));
        assert_eq!(check(vec![vec![1, 4, 9], vec![2], vec![3]]), Err(ProposalError::UnknownItem { item_id: 9 }));
        assert_eq!(check(vec![vec![1, 4], vec![2, 4], vec![3]]), Err(ProposalError::Duplicate { item_id: 4 }));
        assert_eq!(check(vec![vec![1], vec![2]]), Err(ProposalError::Missing { item_ids: vec![3, 4] }));
        assert_eq!(
            check(vec![vec![1, 4], vec![2, 3]]),
            Err(ProposalError::BeforeDependency { item_id: 3, wave: 1, dependency: 2, dependency_wave: 1 })
        );
        assert_eq!(
            check(vec![vec![3, 4], vec![1], vec![2]]).unwrap_err().to_string(),
            "The proposal runs item 3 in wave 1 but it depends on item 2, which runs in wave 3."
        );
        // A good one: 4 waits for 1 (wave before), 2 for 4; 3 for 2 already by dependency.
        assert_eq!(check(vec![vec![1], vec![4], vec![2], vec![3]]), Ok(vec![(0, 3), (3, 1)]));
    }

    #[test]
    fn strategies_order_a_small_backlog_as_promised() {
        // 0 (long) ← 1; 2 and 3 short and independent; 3 is sensitive; packs: 0,1 in pack 1.
        let c = Case {
            deps: rows(&[vec![], vec![0], vec![], vec![]]),
            duration: vec![100, 10, 5, 5],
            sensitive: vec![false, false, false, true],
            pack: vec![1, 1, 2, 2],
        };
        assert_eq!(sequencing(Strategy::Waves, &c.facts()), vec![]);
        // Two lanes: 0 (level 110) and 2 (5, first by plan order among the 5s) start; 3 follows 2
        // (free at 5), and 1 follows 0 by dependency on the same lane.
        assert_eq!(sequencing(Strategy::CriticalPath { lanes: 2 }, &c.facts()), vec![(2, 3)]);
        // The sensitive item waits for the routine sinks 1 and 2.
        assert_eq!(sequencing(Strategy::RiskAverse, &c.facts()), vec![(1, 3), (2, 3)]);
        assert_eq!(sequencing(Strategy::PackGrouped, &c.facts()), vec![(2, 3)]);
        // A cycle: no sequencing (the plan is blocked anyway).
        let cyclic = Case { deps: rows(&[vec![1], vec![0]]), duration: vec![1, 1], sensitive: vec![true, true], pack: vec![1, 1] };
        assert_eq!(sequencing(Strategy::RiskAverse, &cyclic.facts()), vec![]);
    }
}
