//! Comparing planners: the same request to every configured provider, each candidate built and
//! gated by the same rules, scored, stored in `model_comparisons`, and one kept as the plan.

pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
