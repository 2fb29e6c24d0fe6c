//! The plan graph in three forms: Graphviz DOT and JSON for downloads, and the SVG the plan page
//! shows (rendered on the server from the layered layout, so it is complete without JavaScript).

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::layout::{layout, LayoutInput, HEADER, MARGIN, NODE_H, NODE_W};
use crate::execution::model::StepState;
use crate::plan::model::Plan;
use crate::plan::verdict::Verdict;

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

/// The plan page's SVG: waves as columns, boxes coloured by worst verdict, the critical path in
/// indigo, the selected step outlined. Each box links to `?step=<id>` (works without JavaScript).
/// Node colours: by run state once the plan runs (`states`), else by verdict.
fn node_colours(verdict: Verdict, state: Option<StepState>) -> (&'static str, &'static str, &'static str) {
    match state {
        None => match verdict {
            Verdict::Allow => ("#ecfdf5", "#10b981", "#065f46"),
            Verdict::Warn => ("#fffbeb", "#f59e0b", "#92400e"),
            Verdict::Block => ("#fff1f2", "#f43f5e", "#9f1239"),
        },
        Some(s) => match s {
            StepState::Queued | StepState::Skipped => ("#f8fafc", "#94a3b8", "#475569"),
            StepState::WaitingApproval => ("#fffbeb", "#f59e0b", "#92400e"),
            StepState::Claimable => ("#f0f9ff", "#38bdf8", "#075985"),
            StepState::Running => ("#eef2ff", "#6366f1", "#3730a3"),
            StepState::Succeeded => ("#ecfdf5", "#10b981", "#065f46"),
            StepState::Failed | StepState::CompensationFailed => ("#fff1f2", "#f43f5e", "#9f1239"),
            StepState::Compensating | StepState::Compensated => ("#f5f3ff", "#8b5cf6", "#5b21b6"),
        },
    }
}

pub fn to_svg(plan: &Plan, selected: Option<&str>, link_base: &str, states: Option<&HashMap<&str, StepState>>) -> String {
    let inputs: Vec<LayoutInput> = plan.steps.iter().map(|s| LayoutInput { id: &s.id, wave: s.wave, depends_on: &s.depends_on }).collect();
    let l = layout(&inputs);
    let critical: HashSet<(&str, &str)> = plan.critical_path.windows(2).map(|w| (w[0].as_str(), w[1].as_str())).collect();
    let on_path: HashSet<&str> = plan.critical_path.iter().map(String::as_str).collect();
    let mut out = String::with_capacity(512 + plan.steps.len() * 700);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="group" aria-label="Plan graph" data-testid="plan-graph" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" class="plan-graph">"#,
        w = l.width.max(200.0),
        h = l.height.max(80.0)
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker><marker id="arrow-crit" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4f46e5"/></marker><path id="lock" d="M5 7V5a3 3 0 0 1 6 0v2h.5A1.5 1.5 0 0 1 13 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-7A1.5 1.5 0 0 1 3 13.5v-5A1.5 1.5 0 0 1 4.5 7H5zm1.5 0h3V5a1.5 1.5 0 0 0-3 0v2z"/></defs>"##);
    for (x, title) in &l.columns {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="600" fill="#64748b">{}</text>"##,
            x,
            MARGIN + HEADER / 2.0,
            xml(title)
        );
    }
    // Edges first so boxes sit on top; critical edges last so they are drawn above the others.
    let mut ordered: Vec<_> = l.edges.iter().collect();
    ordered.sort_by_key(|e| critical.contains(&(e.from.as_str(), e.to.as_str())));
    for e in ordered {
        let crit = critical.contains(&(e.from.as_str(), e.to.as_str()));
        let (stroke, width, marker) = if crit { ("#4f46e5", 2.2, "arrow-crit") } else { ("#94a3b8", 1.2, "arrow") };
        let _ = write!(
            out,
            r#"<path d="{}" fill="none" stroke="{stroke}" stroke-width="{width}" marker-end="url(#{marker})" data-from="{}" data-to="{}"/>"#,
            e.d,
            xml(&e.from),
            xml(&e.to)
        );
    }
    for n in &l.nodes {
        let Some(s) = plan.step(&n.id) else { continue };
        let state = states.and_then(|m| m.get(s.id.as_str()).copied());
        let (fill, stroke, text) = node_colours(s.verdict, state);
        let is_selected = selected == Some(s.id.as_str());
        let stroke_w = if is_selected {
            3.0
        } else if on_path.contains(s.id.as_str()) {
            2.0
        } else {
            1.2
        };
        let stroke = if is_selected { "#1e293b" } else { stroke };
        // A padlock in the corner for steps that wait for a human (a path: no emoji font needed).
        let lock = if s.sensitive || s.required_approvals > 0 {
            // The padlock is defined once and reused; the link's title says what it means.
            format!(r##"<use href="#lock" transform="translate({:.1},{:.1}) scale(0.75)" fill="{text}"/>"##, n.x + NODE_W - 18.0, n.y + 6.0)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r##"<a href="{base}?step={id}" data-step="{id}" data-verdict="{verdict}"{state_attr}><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"/><text x="{tx:.1}" y="{ty1:.1}" class="tool" fill="{text}">{tool}</text>{lock}<text x="{tx:.1}" y="{ty2:.1}" class="item">#{item} {item_title}</text></a>"##,
            base = xml(link_base),
            id = xml(&s.id),
            verdict = s.verdict.as_str(),
            state_attr = state.map(|st| format!(r#" data-state="{}""#, st.as_str())).unwrap_or_default(),
            title = xml(&format!(
                "{} · {} · {} · item #{} {}{}",
                s.id,
                s.tool,
                state.map(|st| st.label()).unwrap_or(s.verdict.as_str()),
                s.backlog_item_id,
                s.item_title,
                if s.sensitive || s.required_approvals > 0 {
                    format!(" · waits for {}", crate::text::plural(s.required_approvals.max(1) as usize, "human approval"))
                } else {
                    String::new()
                }
            )),
            x = n.x,
            y = n.y,
            tx = n.x + 10.0,
            ty1 = n.y + 20.0,
            ty2 = n.y + 38.0,
            tool = xml(&truncate(&s.tool, 20)),
            item = s.backlog_item_id,
            item_title = xml(&truncate(&s.item_title, 20)),
        );
    }
    out.push_str("</svg>");
    out
}
