//! Overrides: justified, expiring, audited decisions to proceed past a soft-mandatory gate
//! verdict of one plan (or to decide one of its pending approvals). `model` holds the rules
//! (pure); on the server `store`, `service` (create, list, revoke, the review and expiry task)
//! and `http` (`POST /api/automation/override`, `GET /api/overrides`, `DELETE /api/overrides/{id}`).

pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod wake;
