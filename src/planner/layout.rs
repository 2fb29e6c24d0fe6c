//! Layered layout of a plan graph for the server-rendered SVG: one column per wave (left to
//! right), rows ordered by the barycentre of each step's predecessors to keep edges short and
//! crossings few, fixed-size boxes that never overlap, and curved edges between box sides.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const NODE_W: f64 = 176.0;
pub const NODE_H: f64 = 50.0;
pub const COL_GAP: f64 = 76.0;
pub const ROW_GAP: f64 = 14.0;
pub const MARGIN: f64 = 24.0;
pub const HEADER: f64 = 28.0;

/// What the layout needs of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutInput<'a> {
    pub id: &'a str,
    /// `None` (in or behind a cycle) is placed in a last, separate column.
    pub wave: Option<u32>,
    pub depends_on: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeBox {
    pub id: String,
    pub x: f64,
    pub y: f64,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgePath {
    pub from: String,
    pub to: String,
    /// SVG path data (`M … C …`).
    pub d: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
    /// Column titles ("Wave 1", …, "Unscheduled").
    pub columns: Vec<(f64, String)>,
}

pub fn layout(steps: &[LayoutInput<'_>]) -> Layout {
    let max_wave = steps.iter().filter_map(|s| s.wave).max();
    let has_unscheduled = steps.iter().any(|s| s.wave.is_none());
    let n_cols = max_wave.map(|w| w as usize + 1).unwrap_or(0) + usize::from(has_unscheduled);
    let col_of = |s: &LayoutInput| s.wave.map(|w| w as usize).unwrap_or(n_cols.saturating_sub(1));

    let mut columns: Vec<Vec<usize>> = vec![vec![]; n_cols];
    for (i, s) in steps.iter().enumerate() {
        columns[col_of(s)].push(i);
    }
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.id, i)).collect();

    // Row order: barycentre of predecessors' rows, left to right; ties keep plan order. Each box
    // then sits at its barycentre row when free (so chains stay level), else just below the last.
    let mut row = vec![0f64; steps.len()];
    let mut tallest = 0usize;
    for col in columns.iter_mut() {
        let mut keyed: Vec<(f64, usize)> = col
            .iter()
            .map(|&i| {
                let preds: Vec<f64> = steps[i].depends_on.iter().filter_map(|d| index.get(d.as_str())).map(|&p| row[p]).collect();
                let key = if preds.is_empty() { f64::MAX } else { preds.iter().sum::<f64>() / preds.len() as f64 };
                (key, i)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut next_free = 0f64;
        for &(key, i) in &keyed {
            let wanted = if key == f64::MAX { 0.0 } else { key.round() };
            row[i] = wanted.max(next_free);
            next_free = row[i] + 1.0;
        }
        tallest = tallest.max(next_free as usize);
        *col = keyed.into_iter().map(|(_, i)| i).collect();
    }

    let mut pos = vec![(0.0, 0.0); steps.len()];
    let mut nodes = Vec::with_capacity(steps.len());
    for (c, col) in columns.iter().enumerate() {
        let x = MARGIN + c as f64 * (NODE_W + COL_GAP);
        for &i in col.iter() {
            let y = MARGIN + HEADER + row[i] * (NODE_H + ROW_GAP);
            pos[i] = (x, y);
            nodes.push(NodeBox { id: steps[i].id.to_string(), x, y, column: c });
        }
    }
    let mut edges = vec![];
    for (i, s) in steps.iter().enumerate() {
        for d in s.depends_on {
            let Some(&p) = index.get(d.as_str()) else { continue };
            let (x1, y1) = (pos[p].0 + NODE_W, pos[p].1 + NODE_H / 2.0);
            let (x2, y2) = (pos[i].0, pos[i].1 + NODE_H / 2.0);
            let bend = ((x2 - x1).abs() / 2.0).max(24.0);
            edges.push(EdgePath {
                from: d.clone(),
                to: s.id.to_string(),
                // Whole pixels, and a straight line where the boxes are level: a big graph's
                // edges are much of its size.
                d: if y1 == y2 {
                    format!("M{x1:.0},{y1:.0}H{x2:.0}")
                } else {
                    format!("M{x1:.0},{y1:.0}C{:.0},{y1:.0} {:.0},{y2:.0} {x2:.0},{y2:.0}", x1 + bend, x2 - bend)
                },
            });
        }
    }
    let columns_titles = (0..n_cols)
        .map(|c| {
            let x = MARGIN + c as f64 * (NODE_W + COL_GAP);
            let title = if has_unscheduled && c == n_cols - 1 { "Unscheduled (cycle)".to_string() } else { format!("Wave {}", c + 1) };
            (x, title)
        })
        .collect();
    Layout {
        width: MARGIN * 2.0 + n_cols as f64 * NODE_W + n_cols.saturating_sub(1) as f64 * COL_GAP,
        height: MARGIN * 2.0 + HEADER + tallest as f64 * NODE_H + tallest.saturating_sub(1) as f64 * ROW_GAP,
        nodes,
        edges,
        columns: columns_titles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: &NodeBox, b: &NodeBox) -> bool {
        a.x < b.x + NODE_W && b.x < a.x + NODE_W && a.y < b.y + NODE_H && b.y < a.y + NODE_H
    }

    #[test]
    fn boxes_never_overlap_and_edges_go_left_to_right() {
        // 240 steps: 40 chains of 6, each chain step depending on the previous one.
        let ids: Vec<String> = (0..240).map(|i| format!("s{i}")).collect();
        let deps: Vec<Vec<String>> = (0..240).map(|i| if i % 6 == 0 { vec![] } else { vec![ids[i - 1].clone()] }).collect();
        let steps: Vec<LayoutInput> =
            (0..240).map(|i| LayoutInput { id: &ids[i], wave: Some((i % 6) as u32), depends_on: &deps[i] }).collect();
        let l = layout(&steps);
        assert_eq!(l.nodes.len(), 240);
        for (i, a) in l.nodes.iter().enumerate() {
            for b in &l.nodes[i + 1..] {
                assert!(!overlaps(a, b), "{} overlaps {}", a.id, b.id);
            }
            assert!(a.x + NODE_W <= l.width && a.y + NODE_H <= l.height);
        }
        assert_eq!(l.edges.len(), 200);
        let x_of: HashMap<&str, f64> = l.nodes.iter().map(|n| (n.id.as_str(), n.x)).collect();
        for e in &l.edges {
            assert!(x_of[e.from.as_str()] < x_of[e.to.as_str()], "edges point right");
        }
        assert_eq!(l.columns.len(), 6);
    }

    #[test]
    fn chains_stay_on_one_row_and_cycles_get_their_own_column() {
        let a = vec![];
        let b = vec!["a".to_string()];
        let steps = vec![
            LayoutInput { id: "x", wave: Some(0), depends_on: &a },
            LayoutInput { id: "a", wave: Some(0), depends_on: &a },
            LayoutInput { id: "b", wave: Some(1), depends_on: &b },
            LayoutInput { id: "c", wave: None, depends_on: &a },
        ];
        let l = layout(&steps);
        let node = |id: &str| l.nodes.iter().find(|n| n.id == id).unwrap().clone();
        assert_eq!(node("b").y, node("a").y, "b sits level with its only predecessor");
        assert_eq!(node("c").column, 2);
        assert_eq!(l.columns.last().unwrap().1, "Unscheduled (cycle)");
        assert!(layout(&[]).nodes.is_empty());
    }
}
