//! Human tool approvals: requests to run a sensitive tool wait here until reviewers decide.
//! `model` is the pure state machine; storage, service, HTTP and UI build on it.

pub mod fns;
pub mod model;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod gate;
