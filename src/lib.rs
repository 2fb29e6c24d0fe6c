//! NOFX Control Plane: turns a backlog into executable plans, checks them with gates, and makes
//! sensitive steps wait for a human. One crate: the leptos UI (SSR pages with islands) and, under the
//! `ssr` feature, the axum server with the JSON API and storage.
#![recursion_limit = "256"]

pub mod app;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod backlog;
pub mod comparisons;
pub mod error;
pub mod events;
pub mod execution;
pub mod flags;
pub mod gates;
pub mod layout;
pub mod overrides;
pub mod plan;
pub mod planner;
pub mod text;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod idempotency;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod storage;
#[cfg(feature = "ssr")]
pub mod telemetry;
#[cfg(feature = "ssr")]
pub mod webhooks;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Islands: the page is server HTML; the loader hydrates each `#[island]` in it after this.
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
