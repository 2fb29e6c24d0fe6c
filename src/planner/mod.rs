//! The auto planner: backlog items → plan graphs (steps in waves, idempotency tokens, rollback),
//! judged by the gates, stored with their verdicts, announced as events.

#[cfg(feature = "ssr")]
pub mod build;
pub mod fns;
#[cfg(feature = "ssr")]
pub mod graph;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod layout;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
