//! Human tool approvals: requests to run a sensitive tool wait here until reviewers decide.
//! `model` is the pure state machine; storage, service, HTTP and UI build on it.

pub mod fns;
#[cfg(feature = "ssr")]
pub mod gate;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod waiters;
