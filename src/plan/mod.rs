//! The plan vocabulary the planner, the gates and the pages share: plans, steps and their
//! estimates (`model`), gate verdicts and findings (`verdict`), and, on the server, the draft the
//! planner hands to the gates (`draft`, `rows`). It imports nothing from the planner or the
//! gates, so both can import it: the planner → the gates → this, one way.

#[cfg(feature = "ssr")]
pub mod draft;
pub mod model;
#[cfg(feature = "ssr")]
pub mod rows;
pub mod verdict;
