//! Running plans: the executor's state machine (`model`, pure), what clients see of runs (`view`),
//! and on the server their storage, use cases (execute, cancel, the worker protocol, the executor
//! task) and the JSON endpoints.

pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
pub mod view;
#[cfg(feature = "ssr")]
pub mod wake;
#[cfg(feature = "ssr")]
pub mod worker;
