//! The one application state, handed to axum handlers and (as context) to server functions.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

use crate::gates::policy::Policy;
use crate::planner::providers::Providers;
use crate::{config::Config, events::bus::EventBus, storage::Db};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub config: Arc<Config>,
    pub events: EventBus,
    /// Gate thresholds and rules, parsed once at start (an invalid file stops the start).
    pub policy: Arc<Policy>,
    /// This server's Prometheus recorder (`GET /metrics`).
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// The planners a comparison asks (the providers file), parsed once at start.
    pub providers: Arc<Providers>,
    /// Callers waiting for approval decisions, woken when one is made.
    pub waiters: Arc<crate::approvals::waiters::Waiters>,
    /// Tells the expiry task that a new deadline exists.
    pub expiry: crate::approvals::waiters::ExpiryNotify,
    /// Wakes the executor task (a decided approval, an earlier lease expiry).
    pub executor: Arc<crate::execution::wake::ExecutorWake>,
    /// Wakes the override task (a review decided, a new override that may expire sooner).
    pub overrides: Arc<crate::overrides::wake::OverridesWake>,
    /// Parsed webhook secrets and targets.
    pub webhooks: Arc<crate::webhooks::WebhookSettings>,
    /// Failed sign-ins per account and address, in memory (per instance).
    pub login_throttle: Arc<crate::auth::throttle::Throttle>,
}
