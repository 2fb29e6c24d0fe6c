//! Events: stored with increasing ids, fanned out in-process (and across instances on
//! PostgreSQL), streamed to clients as Server-Sent Events.

#[cfg(feature = "ssr")]
pub mod bus;
#[cfg(feature = "ssr")]
pub mod http;
pub mod live;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
