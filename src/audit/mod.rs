//! The audit trail: an append-only, hash-chained record of who did what, through which door, to
//! which plan, step, approval, override, backlog item and pack. `model` is pure (records, the
//! chain, verification); on the server `store` appends inside the transaction of the change it
//! records, `service` reads and verifies, and `http` serves the JSON API and the export.

pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;

pub use model::{Action, Actor, Door, Entry, Links};
