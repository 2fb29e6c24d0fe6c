//! Events: stored with increasing ids, fanned out in-process (and across instances on
//! PostgreSQL), streamed to clients as Server-Sent Events.

pub mod model;
#[cfg(feature = "ssr")]
pub mod bus;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod store;
