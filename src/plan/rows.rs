//! Compact lists of positions, and the topological order over them: the shape the planner builds
//! its graph in and the gates walk it in.

/// Lists of positions, one row per step (or item, or bucket), in one flat vector (compressed
/// rows): two allocations for a graph of any size instead of one per row. Predecessor lists,
/// successor lists and findings per step all take this shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// Row `i` is `list[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    list: Vec<usize>,
}

impl Rows {
    pub fn with_capacity(rows: usize, values: usize) -> Rows {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Rows { offsets, list: Vec::with_capacity(values) }
    }

    /// Groups `(row, value)` pairs into `rows` rows by a counting sort, values in the order the
    /// pairs come. The pairs are walked twice (count, then place), hence `Clone`.
    pub fn grouped<I: Iterator<Item = (usize, usize)> + Clone>(rows: usize, pairs: I) -> Rows {
        let mut offsets = vec![0usize; rows + 1];
        for (r, _) in pairs.clone() {
            offsets[r + 1] += 1;
        }
        for r in 0..rows {
            offsets[r + 1] += offsets[r];
        }
        let mut next = offsets.clone();
        let mut list = vec![0usize; offsets[rows]];
        for (r, v) in pairs {
            list[next[r]] = v;
            next[r] += 1;
        }
        Rows { offsets, list }
    }

    /// Adds a value to the row being built.
    pub fn push(&mut self, pred: usize) {
        self.list.push(pred);
    }

    /// Closes the current row: the next `push` starts the next one.
    pub fn end_row(&mut self) {
        self.offsets.push(self.list.len());
    }

    /// Number of finished rows.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn of(&self, row: usize) -> &[usize] {
        &self.list[self.offsets[row]..self.offsets[row + 1]]
    }

    /// Number of values in all rows.
    pub fn total(&self) -> usize {
        self.list.len()
    }
}

/// Kahn's algorithm over predecessor lists, first in first out; nodes in or behind a cycle are
/// left out. What the planner derives from the order (longest-path waves, finish times, the
/// critical path with its ties broken by position) does not depend on which valid order it is.
pub fn topological_order(preds: &Rows) -> Vec<usize> {
    let n = preds.len();
    let mut indegree: Vec<usize> = (0..n).map(|i| preds.of(i).len()).collect();
    let succs = Rows::grouped(n, (0..n).flat_map(|i| preds.of(i).iter().map(move |&p| (p, i))));
    // The output doubles as the queue: `out[head..]` is ready and not yet visited.
    let mut out: Vec<usize> = Vec::with_capacity(n);
    out.extend((0..n).filter(|&i| indegree[i] == 0));
    let mut head = 0;
    while head < out.len() {
        let i = out[head];
        head += 1;
        for &s in succs.of(i) {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                out.push(s);
            }
        }
    }
    out
}
