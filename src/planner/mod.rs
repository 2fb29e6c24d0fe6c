//! The auto planner: backlog items → plan graphs (steps in waves, idempotency tokens, rollback),
//! judged by the gates, stored with their verdicts, announced as events.

#[cfg(feature = "ssr")]
pub mod build;
#[cfg(feature = "ssr")]
mod estimate;
pub mod fns;
#[cfg(feature = "ssr")]
pub mod graph;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod layout;
#[cfg(feature = "ssr")]
pub mod openai;
#[cfg(feature = "ssr")]
pub mod provider;
#[cfg(feature = "ssr")]
pub mod providers;
#[cfg(feature = "ssr")]
pub mod rollback;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod strategy;
#[cfg(feature = "ssr")]
mod token;
pub mod ui;
