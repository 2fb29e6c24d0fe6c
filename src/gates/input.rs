//! What every gate reads and writes: the input (draft, backlog, tools, policy, clock) and the
//! report the findings go into. Its own module, so that the gates and the runner that calls
//! them both import it and neither imports the other.

use rustc_hash::FxHashMap;

use super::policy::Policy;
use crate::plan::draft::{Catalog, Draft, ToolRegistry};
use crate::plan::verdict::Finding;

/// What the gates read: the draft (its `estimate.budget_usd` set), the backlog, the tools, the policy and the time.
pub struct GateInput<'a> {
    pub draft: &'a Draft,
    pub catalog: &'a Catalog,
    pub tools: &'a ToolRegistry,
    pub policy: &'a Policy,
    pub now_ms: i64,
}

/// Every finding, plus approvals compliance rules add to steps (step position → approvals).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GateReport {
    pub findings: Vec<Finding>,
    pub approvals: FxHashMap<usize, i64>,
}

impl GateReport {
    /// Records a finding with its verdict capped by its enforcement (advisory never blocks).
    pub fn push(&mut self, mut f: Finding) {
        f.verdict = f.enforcement.cap(f.verdict);
        self.findings.push(f);
    }
}
