//! The backlog: packs, items with dependencies, the tool registry and tool metrics.

pub mod fns;
pub mod model;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
