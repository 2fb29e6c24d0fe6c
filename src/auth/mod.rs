//! Authentication and authorisation: users with sessions (browser) and API keys (automation).

pub mod fns;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod keys;
pub mod model;
#[cfg(feature = "ssr")]
pub mod redirect;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod throttle;
pub mod ui;
