//! The plan graph in three forms: Graphviz DOT and JSON for downloads, and the SVG the plan page
//! shows (rendered on the server from the layered layout, so it is complete without JavaScript).

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::layout::{layout, LayoutInput, HEADER, MARGIN, NODE_H, NODE_W};
use crate::execution::model::StepState;
use crate::plan::model::{GraphDetail, Plan};
use crate::plan::verdict::Verdict;
use crate::text::plural;

/// Graphviz: waves as ranks left to right, steps filled by their worst verdict.
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"plan-{}\" {{", plan.id);
    let _ = writeln!(out, "  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];");
    for (w, ids) in plan.waves.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph \"wave_{}\" {{ rank=same; {} }}",
            w + 1,
            ids.iter().map(|i| dot_str(i)).collect::<Vec<_>>().join("; ")
        );
    }
    for s in &plan.steps {
        let fill = match s.verdict {
            Verdict::Allow => "#d1fae5",
            Verdict::Warn => "#fef3c7",
            Verdict::Block => "#ffe4e6",
        };
        // Two lines: the tool, then the item; `\\n` is Graphviz's centred line break.
        let label = format!("\"{}\\n#{} {}\"", dot_escape(&s.tool), s.backlog_item_id, dot_escape(&truncate(&s.item_title, 32)));
        let _ = writeln!(out, "  {} [label={label}, fillcolor=\"{fill}\", tooltip={}];", dot_str(&s.id), dot_str(s.verdict.as_str()));
    }
    let critical: HashSet<(&str, &str)> = plan.critical_path.windows(2).map(|w| (w[0].as_str(), w[1].as_str())).collect();
    for s in &plan.steps {
        for d in &s.depends_on {
            let style = if critical.contains(&(d.as_str(), s.id.as_str())) { " [color=\"#4f46e5\", penwidth=2]" } else { "" };
            let _ = writeln!(out, "  {} -> {}{style};", dot_str(d), dot_str(&s.id));
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal: the text with [`dot_escape`] in double quotes.
fn dot_str(s: &str) -> String {
    format!("\"{}\"", dot_escape(s))
}

/// Text for inside a DOT double-quoted string. Backslashes are doubled (so a trailing `\` cannot
/// escape the closing quote, and `\n`, `\l`, `\N` in user text are not read as Graphviz label
/// escapes), quotes escaped, and line breaks and other control characters become spaces.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// Nodes and edges for other tools (JSON download).
pub fn to_json(plan: &Plan) -> Value {
    let nodes: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| {
            json!({"id": s.id, "tool": s.tool, "backlog_item_id": s.backlog_item_id, "item_title": s.item_title, "pack_id": s.pack_id,
                "wave": s.wave, "verdict": s.verdict, "sensitive": s.sensitive, "idempotency_token": s.idempotency_token})
        })
        .collect();
    let edges: Vec<Value> = plan.steps.iter().flat_map(|s| s.depends_on.iter().map(move |d| json!({"from": d, "to": s.id}))).collect();
    json!({"plan_id": plan.id, "status": plan.status, "nodes": nodes, "edges": edges, "waves": plan.waves, "critical_path": plan.critical_path})
}

/// Text escaped for SVG text content and double-quoted attribute values alike (`&`, `<`, `>`,
/// quotes and `/`): every piece of plan data goes through it before it reaches the SVG string.
fn xml(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(s)
}

/// The class that colours a node (`svg.plan-graph` rules in the stylesheet): by run state once
/// the plan runs, else by verdict.
fn node_class(verdict: Verdict, state: Option<StepState>) -> &'static str {
    match state {
        None => verdict.as_str(),
        Some(s) => match s {
            StepState::Queued | StepState::Skipped => "queued",
            StepState::WaitingApproval => "warn",
            StepState::Claimable => "claimable",
            StepState::Running => "running",
            StepState::Succeeded => "allow",
            StepState::Failed | StepState::CompensationFailed => "block",
            StepState::Compensating | StepState::Compensated => "undone",
        },
    }
}

/// The classes of an item's box, most telling first: it shows the first one any of its steps has.
const ITEM_CLASS_ORDER: [&str; 7] = ["block", "warn", "running", "claimable", "undone", "queued", "allow"];

/// One box of the graph, whatever it stands for (a step, or an item's steps).
struct Node {
    id: String,
    /// Its column: the wave of a step; for an item, the rank of its first step's wave.
    wave: Option<u32>,
    /// The waves it spans (an item's steps span several).
    first_wave: Option<u32>,
    last_wave: Option<u32>,
    depends_on: Vec<String>,
    /// The step the box opens in the drawer.
    step: String,
    class: &'static str,
    /// Its other `data-*` attributes, escaped.
    data: String,
    /// The full label (the box's text is cut to fit).
    title: String,
    line1: String,
    line2: String,
    locked: bool,
}

/// The graph's boxes and its critical path (box ids in order).
struct Graph {
    nodes: Vec<Node>,
    critical: Vec<String>,
}

fn step_graph(plan: &Plan, states: Option<&HashMap<&str, StepState>>) -> Graph {
    let nodes = plan
        .steps
        .iter()
        .map(|s| {
            let state = states.and_then(|m| m.get(s.id.as_str()).copied());
            let locked = s.sensitive || s.required_approvals > 0;
            let waits = if locked {
                format!(" · waits for {}", plural(s.required_approvals.max(1) as usize, "human approval"))
            } else {
                String::new()
            };
            Node {
                id: s.id.clone(),
                wave: s.wave,
                first_wave: s.wave,
                last_wave: s.wave,
                depends_on: s.depends_on.clone(),
                step: s.id.clone(),
                class: node_class(s.verdict, state),
                data: format!(
                    r#" data-verdict="{}"{}"#,
                    s.verdict.as_str(),
                    state.map(|st| format!(r#" data-state="{}""#, st.as_str())).unwrap_or_default()
                ),
                title: format!(
                    "{} · {} · {} · item #{} {}{waits}",
                    s.id,
                    s.tool,
                    state.map(|st| st.label()).unwrap_or(s.verdict.as_str()),
                    s.backlog_item_id,
                    s.item_title
                ),
                line1: truncate(&s.tool, 20),
                line2: format!("#{} {}", s.backlog_item_id, truncate(&s.item_title, 20)),
                locked,
            }
        })
        .collect();
    Graph { nodes, critical: plan.critical_path.clone() }
}

/// One box per backlog item, in the wave of its first step, showing its most telling step's
/// colour, linked to its first step; an edge where a step of one item waits on another item's.
fn item_graph(plan: &Plan, states: Option<&HashMap<&str, StepState>>) -> Graph {
    let key = |item: i64| format!("i{item}");
    let item_of: HashMap<&str, i64> = plan.steps.iter().map(|s| (s.id.as_str(), s.backlog_item_id)).collect();
    let mut order: Vec<i64> = vec![];
    let mut steps_of: HashMap<i64, Vec<&crate::plan::model::PlanStep>> = HashMap::new();
    for s in &plan.steps {
        let mine = steps_of.entry(s.backlog_item_id).or_default();
        if mine.is_empty() {
            order.push(s.backlog_item_id);
        }
        mine.push(s);
    }
    let nodes = order
        .into_iter()
        .map(|item| {
            let steps = &steps_of[&item];
            let first = steps[0];
            let worst = steps.iter().map(|s| s.verdict).max().unwrap_or(Verdict::Allow);
            let classes: Vec<&str> =
                steps.iter().map(|s| node_class(s.verdict, states.and_then(|m| m.get(s.id.as_str()).copied()))).collect();
            let class = ITEM_CLASS_ORDER.into_iter().find(|c| classes.contains(c)).unwrap_or("allow");
            let waiting = steps.iter().filter(|s| s.sensitive || s.required_approvals > 0).count();
            let mut depends_on: Vec<String> = steps
                .iter()
                .flat_map(|s| s.depends_on.iter())
                .filter_map(|d| item_of.get(d.as_str()).copied())
                .filter(|&other| other != item)
                .map(key)
                .collect();
            depends_on.sort();
            depends_on.dedup();
            let tools: Vec<&str> = steps.iter().map(|s| s.tool.as_str()).collect();
            Node {
                id: key(item),
                wave: steps.iter().filter_map(|s| s.wave).min(),
                first_wave: steps.iter().filter_map(|s| s.wave).min(),
                last_wave: steps.iter().filter_map(|s| s.wave).max(),
                depends_on,
                step: first.id.clone(),
                class,
                data: format!(r#" data-item="{item}" data-verdict="{}""#, worst.as_str()),
                title: format!(
                    "item #{item} {} · {}: {} · {}{}",
                    first.item_title,
                    plural(steps.len(), "step"),
                    tools.join(", "),
                    worst.as_str(),
                    if waiting > 0 { format!(" · {waiting} waiting for human approval") } else { String::new() }
                ),
                // Before a run the worst verdict; during one, how far the item has got (the
                // box's colour is then its run state, not its verdict).
                line1: match states {
                    None => format!("{} · {}", plural(steps.len(), "step"), worst.as_str()),
                    Some(m) => {
                        let done = steps.iter().filter(|s| m.get(s.id.as_str()) == Some(&StepState::Succeeded)).count();
                        format!("{} · {done} done", plural(steps.len(), "step"))
                    }
                },
                line2: format!("#{item} {}", truncate(&first.item_title, 20)),
                locked: waiting > 0,
            }
        })
        .collect();
    let mut critical: Vec<String> = plan.critical_path.iter().filter_map(|s| item_of.get(s.as_str())).map(|&i| key(i)).collect();
    critical.dedup();
    Graph { nodes: in_dense_columns(nodes), critical }
}

/// Items in as many columns as there are distinct first waves (an item's steps span several
/// waves, which would leave most columns empty). Order is kept: an item after another starts in
/// a later wave, so its rank is higher too.
fn in_dense_columns(mut nodes: Vec<Node>) -> Vec<Node> {
    let mut firsts: Vec<u32> = nodes.iter().filter_map(|n| n.wave).collect();
    firsts.sort_unstable();
    firsts.dedup();
    for n in &mut nodes {
        n.wave = n.wave.and_then(|w| firsts.binary_search(&w).ok()).map(|r| r as u32);
    }
    nodes
}

/// "Waves 1–3": the waves the items of each column span (columns of items are ranks, not waves).
fn item_column_titles(columns: &mut [(f64, String)], nodes: &[Node], by_column: &HashMap<&str, usize>) {
    let mut spans: HashMap<usize, (u32, u32)> = HashMap::new();
    for n in nodes {
        let (Some(first), Some(last), Some(&c)) = (n.first_wave, n.last_wave, by_column.get(n.id.as_str())) else { continue };
        let span = spans.entry(c).or_insert((first, last));
        *span = (span.0.min(first), span.1.max(last));
    }
    for (c, (_, title)) in columns.iter_mut().enumerate() {
        if let Some((a, b)) = spans.get(&c) {
            *title = if a == b { format!("Wave {}", a + 1) } else { format!("Waves {}–{}", a + 1, b + 1) };
        }
    }
}

/// The plan page's SVG: waves as columns, boxes coloured by class (verdict, or run state once the
/// plan runs), the critical path in indigo, the selected step outlined. Each box links to
/// `?step=<id>` relative to the page (works without JavaScript). Integer coordinates and classes
/// instead of per-box colours keep a 500-step graph small.
pub fn to_svg(plan: &Plan, selected: Option<&str>, detail: GraphDetail, states: Option<&HashMap<&str, StepState>>) -> String {
    let g = match detail {
        GraphDetail::Steps => step_graph(plan, states),
        GraphDetail::Items => item_graph(plan, states),
    };
    let inputs: Vec<LayoutInput> = g.nodes.iter().map(|n| LayoutInput { id: &n.id, wave: n.wave, depends_on: &n.depends_on }).collect();
    let mut l = layout(&inputs);
    if detail == GraphDetail::Items {
        let by_column: HashMap<&str, usize> = l.nodes.iter().map(|b| (b.id.as_str(), b.column)).collect();
        item_column_titles(&mut l.columns, &g.nodes, &by_column);
    }
    let critical: HashSet<(&str, &str)> = g.critical.windows(2).map(|w| (w[0].as_str(), w[1].as_str())).collect();
    let on_path: HashSet<&str> = g.critical.iter().map(String::as_str).collect();
    let by_id: HashMap<&str, &Node> = g.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut out = String::with_capacity(1024 + g.nodes.len() * 320);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="group" aria-label="Plan graph" data-testid="plan-graph" data-detail="{}" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" class="plan-graph">"#,
        detail.as_str(),
        w = l.width.max(200.0),
        h = l.height.max(80.0)
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker><marker id="arrow-crit" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4f46e5"/></marker><path id="lock" d="M5 7V5a3 3 0 0 1 6 0v2h.5A1.5 1.5 0 0 1 13 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-7A1.5 1.5 0 0 1 3 13.5v-5A1.5 1.5 0 0 1 4.5 7H5zm1.5 0h3V5a1.5 1.5 0 0 0-3 0v2z"/></defs>"##);
    for (x, title) in &l.columns {
        let _ = write!(out, r#"<text x="{x:.0}" y="{:.0}" class="wave">{}</text>"#, MARGIN + HEADER / 2.0, xml(title));
    }
    // Edges first so boxes sit on top; critical edges last so they are drawn above the others.
    let mut ordered: Vec<_> = l.edges.iter().map(|e| (critical.contains(&(e.from.as_str(), e.to.as_str())), e)).collect();
    ordered.sort_by_key(|(crit, _)| *crit);
    out.push_str(r#"<g class="edges">"#);
    for (crit, e) in ordered {
        let class = if crit { r#" class="crit""# } else { "" };
        let _ = write!(out, r#"<path d="{}"{class}/>"#, e.d);
    }
    out.push_str("</g>");
    for b in &l.nodes {
        let Some(n) = by_id.get(b.id.as_str()) else { continue };
        let mark = if selected == Some(n.step.as_str()) && detail == GraphDetail::Steps {
            " sel"
        } else if on_path.contains(n.id.as_str()) {
            " crit"
        } else {
            ""
        };
        // A padlock in the corner for what waits for a human (defined once, reused; the link's
        // title says what it means).
        let lock = if n.locked {
            format!(r##"<use href="#lock" transform="translate({:.0} 6) scale(.75)"/>"##, NODE_W - 18.0)
        } else {
            String::new()
        };
        let step = xml(&n.step);
        // `allow` is the stylesheet's default colour: no class needed.
        let class = match (n.class, mark) {
            ("allow", "") => String::new(),
            ("allow", m) => format!(r#" class="{}""#, m.trim_start()),
            (c, m) => format!(r#" class="{c}{m}""#),
        };
        let _ = write!(
            out,
            r#"<a href="?step={step}" data-step="{step}"{data}{class}><title>{title}</title><g transform="translate({x:.0} {y:.0})"><rect width="{NODE_W}" height="{NODE_H}" rx="8"/><text x="10" y="20" class="tool">{line1}</text>{lock}<text x="10" y="38" class="item">{line2}</text></g></a>"#,
            data = n.data,
            title = xml(&n.title),
            x = b.x,
            y = b.y,
            line1 = xml(&n.line1),
            line2 = xml(&n.line2),
        );
    }
    out.push_str("</svg>");
    out
}

/// A plan's shape at a glance, for side-by-side comparisons: one column per wave, one square per
/// step coloured by its verdict (the same classes as the graph), a ring on steps that wait for a
/// human. Each square's title names the step, its tool, its item and its verdict (escaped).
pub fn wave_strip(plan: &Plan) -> String {
    const CELL: usize = 14;
    const GAP: usize = 4;
    const TOP: usize = 16;
    let tallest = plan.waves.iter().map(Vec::len).max().unwrap_or(0);
    let width = (plan.waves.len() * (CELL + GAP) + GAP).max(40);
    let height = TOP + tallest * (CELL + GAP) + GAP;
    let by_id: HashMap<&str, &crate::plan::model::PlanStep> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = String::with_capacity(256 + plan.steps.len() * 160);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {width} {height}" class="wave-strip" role="img" aria-label="{} steps in {} waves">"#,
        width * 5 / 4,
        height * 5 / 4,
        plan.steps.len(),
        plan.waves.len()
    );
    let label_every = plan.waves.len().div_ceil(12).max(1);
    for (w, wave) in plan.waves.iter().enumerate() {
        let x = GAP + w * (CELL + GAP);
        if w % label_every == 0 {
            let _ = write!(out, r#"<text x="{}" y="11" class="wave">{}</text>"#, x + CELL / 2, w + 1);
        }
        for (i, id) in wave.iter().enumerate() {
            let Some(step) = by_id.get(id.as_str()) else { continue };
            let y = TOP + i * (CELL + GAP);
            let lock = if step.required_approvals > 0 || step.sensitive { " lock" } else { "" };
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="3" class="{}{lock}"><title>{} {} · {} ({})</title></rect>"#,
                step.verdict.as_str(),
                xml(&step.id),
                xml(&step.tool),
                xml(&step.item_title),
                step.verdict.as_str()
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{PlanStep, StepEstimate};

    #[test]
    fn the_wave_strip_draws_one_square_per_step_by_wave() {
        let a = step(1, 1, 0, &[], Verdict::Allow, 0);
        let b = step(2, 1, 0, &[], Verdict::Warn, 1);
        let c = step(1, 2, 1, &["s1-1".to_string()], Verdict::Block, 0);
        let mut plan = Plan::of_steps(vec![a, b, c]);
        plan.waves = vec![vec!["s1-1".into(), "s2-1".into()], vec!["s1-2".into()]];
        let svg = wave_strip(&plan);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"class="warn lock""#) && svg.contains(r#"class="block""#), "{svg}");
        assert!(svg.contains("Item 1 &lt;b&gt;") && !svg.contains("<b>"), "titles are escaped: {svg}");
        assert!(svg.contains(r#"aria-label="3 steps in 2 waves""#));
        // Two columns (14 px squares, 4 px gaps): the second starts at x = 22.
        assert!(svg.contains(r#"<rect x="22" y="16""#), "{svg}");
    }

    fn step(item: i64, n: usize, wave: u32, depends_on: &[String], verdict: Verdict, approvals: i64) -> PlanStep {
        PlanStep {
            id: format!("s{item}-{n}"),
            backlog_item_id: item,
            item_title: format!("Item {item} <b>"),
            pack_id: 1,
            tool: format!("tool{n}"),
            sensitive: false,
            mutating: false,
            required_approvals: approvals,
            wave: Some(wave),
            depends_on: depends_on.to_vec(),
            idempotency_token: String::new(),
            rollback: None,
            estimate: StepEstimate::default(),
            verdicts: vec![],
            verdict,
        }
    }

    /// `items` items of three chained steps; item k+1 waits on item k's last step.
    fn plan(items: i64) -> Plan {
        let mut steps: Vec<PlanStep> = vec![];
        for item in 1..=items {
            let mut prev: Vec<String> = steps.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
            for n in 1..=3 {
                let wave = ((item - 1) * 3 + n as i64 - 1) as u32;
                let verdict = if item == 2 && n == 2 { Verdict::Block } else { Verdict::Allow };
                let s = step(item, n, wave, &prev, verdict, i64::from(item == 3 && n == 3));
                prev = vec![s.id.clone()];
                steps.push(s);
            }
        }
        let critical_path = steps.iter().map(|s| s.id.clone()).collect();
        Plan { critical_path, ..Plan::of_steps(steps) }
    }

    fn edges(svg: &str) -> &str {
        let start = svg.find(r#"<g class="edges">"#).unwrap();
        &svg[start..start + svg[start..].find("</g>").unwrap()]
    }

    #[test]
    fn a_dense_plan_draws_items_unless_the_reader_asks_for_steps() {
        assert_eq!(GraphDetail::for_plan(GraphDetail::DENSE_STEPS, None), GraphDetail::Steps);
        assert_eq!(GraphDetail::for_plan(GraphDetail::DENSE_STEPS + 1, None), GraphDetail::Items);
        assert_eq!(GraphDetail::for_plan(2_000, Some(GraphDetail::Steps)), GraphDetail::Steps);
        assert_eq!(GraphDetail::for_plan(5, Some(GraphDetail::Items)), GraphDetail::Items);
        for d in [GraphDetail::Steps, GraphDetail::Items] {
            assert_eq!(GraphDetail::parse(d.as_str()), Some(d));
        }
        assert_eq!(GraphDetail::parse("all"), None);
    }

    #[test]
    fn every_step_is_a_classed_box_with_a_relative_link_and_its_full_label() {
        let svg = to_svg(&plan(3), Some("s1-2"), GraphDetail::Steps, None);
        assert_eq!(svg.matches("<a href=\"?step=").count(), 9);
        assert!(svg.contains(r#"<a href="?step=s2-2" data-step="s2-2" data-verdict="block" class="block crit">"#), "{svg}");
        assert!(svg.contains(r#"data-step="s1-2" data-verdict="allow" class="sel">"#), "the selected step is marked: {svg}");
        // Full labels in the title, escaped; the box text is cut.
        assert!(svg.contains("<title>s3-3 · tool3 · allow · item #3 Item 3 &lt;b&gt; · waits for 1 human approval</title>"), "{svg}");
        assert!(!svg.contains("<b>"));
        // One padlock, on the step that waits for a human.
        assert_eq!(svg.matches("href=\"#lock\"").count(), 1);
        // 8 chain edges, all on the critical path, in whole pixels; level boxes get a straight line.
        assert_eq!(edges(&svg).matches("<path d=\"M").count(), 8);
        assert_eq!(svg.matches(r#"class="crit"/>"#).count(), 8);
        assert!(svg.contains("H"), "{svg}");
        assert!(!svg.contains(".0,") && !svg.contains(".5,") && !svg.contains("fill=\"#ec"), "no decimals or per-box colours: {svg}");
    }

    #[test]
    fn a_run_colours_boxes_by_state() {
        let p = plan(1);
        let states: HashMap<&str, StepState> =
            [("s1-1", StepState::Succeeded), ("s1-2", StepState::Running), ("s1-3", StepState::Queued)].into_iter().collect();
        let svg = to_svg(&p, None, GraphDetail::Steps, Some(&states));
        assert!(svg.contains(r#"data-step="s1-2" data-verdict="allow" data-state="running" class="running crit">"#), "{svg}");
        assert!(svg.contains(r#"data-state="queued" class="queued crit">"#), "{svg}");
        // One box per item says how far the item has got, coloured by its most telling state.
        let items = to_svg(&p, None, GraphDetail::Items, Some(&states));
        assert!(items.contains(r#"class="running crit">"#) && items.contains(">3 steps · 1 done</text>"), "{items}");
    }

    #[test]
    fn items_collapse_into_one_box_each_with_their_worst_step_and_edges_between_items() {
        let svg = to_svg(&plan(3), None, GraphDetail::Items, None);
        assert!(svg.contains(r#"data-detail="items""#));
        assert_eq!(svg.matches("<a href=").count(), 3);
        // Item 2 shows its blocked step, links to its first step, and says what it holds.
        assert!(svg.contains(r#"<a href="?step=s2-1" data-step="s2-1" data-item="2" data-verdict="block" class="block crit">"#), "{svg}");
        assert!(svg.contains("<title>item #2 Item 2 &lt;b&gt; · 3 steps: tool1, tool2, tool3 · block</title>"), "{svg}");
        assert!(svg.contains(">3 steps · block</text>"), "{svg}");
        // Item 3 holds the step that waits for a human.
        assert!(svg.contains("· 1 waiting for human approval</title>"), "{svg}");
        // Edges between items only (item 1 → 2 → 3), on the critical path.
        assert_eq!(edges(&svg).matches("<path d=\"M").count(), 2, "{svg}");
        // Columns are ranks of items, titled by the waves their steps span.
        assert!(svg.contains(">Waves 1–3</text>") && svg.contains(">Waves 7–9</text>"), "{svg}");
        assert!(!svg.contains(">Wave 4</text>"), "no empty columns: {svg}");
        assert_eq!(svg.matches(r#"class="crit"/>"#).count(), 2);
    }
}
