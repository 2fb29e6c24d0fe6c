//! The auto planner: backlog items → plan graphs (steps in waves, idempotency tokens, rollback),
//! judged by the gates, stored with their verdicts, announced as events.

pub mod model;
#[cfg(feature = "ssr")]
pub mod build;
#[cfg(feature = "ssr")]
pub mod layout;
#[cfg(feature = "ssr")]
pub mod graph;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod fns;
pub mod ui;
