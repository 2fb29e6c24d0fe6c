//! The backlog: packs, items with dependencies, the tool registry and tool metrics.

// A form's server function takes one argument per field; the server-function macro drops attributes
// from the browser-side stub it generates, so the lint is allowed for the module.
#[allow(clippy::too_many_arguments)]
pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
