//! Assembles the one axum app: the leptos pages and server functions plus the `/api` router,
//! wrapped in tracing, compression and body limits.

use axum::extract::DefaultBodyLimit;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::config::Config;
use crate::events::bus::EventBus;
use crate::state::AppState;
use crate::storage::Db;

/// Builds the router for `state`; tests call this with a temporary database and port 0.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let body_limit = state.config.body_limit;
    let api = crate::api::router()
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state.clone());
    let ctx_state = state.clone();
    Router::new()
        .nest("/api", api.into())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(ctx_state.clone()),
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Rejects oversized bodies up front (by Content-Length) for every route, server
        // functions included; the normaliser outside it turns `/api` errors into JSON.
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn(crate::http::normalise_api_errors))
        .layer(axum::middleware::from_fn(crate::http::server_fn_error_status))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Connects, migrates and builds the state.
pub async fn prepare(config: Config, leptos_options: LeptosOptions) -> anyhow::Result<AppState> {
    // The policy first: a bad file stops the start before anything else happens.
    let policy = crate::gates::policy::Policy::load(config.policy_path.as_deref())?;
    // Webhook settings next: a secret or URL that cannot work stops the start with the reason.
    let webhooks = crate::webhooks::WebhookSettings::from_config(&config)?;
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let events = EventBus::default();
    if db.backend == crate::storage::Backend::Postgres {
        events.listen_postgres(config.database_url.clone());
    }
    let state = AppState {
        leptos_options,
        db,
        config: Arc::new(config),
        events,
        policy: Arc::new(policy),
        planner: Arc::new(crate::planner::build::GraphPlanner),
        waiters: Default::default(),
        expiry: Default::default(),
        webhooks: Arc::new(webhooks),
    };
    crate::approvals::service::spawn_expiry(state.clone());
    crate::approvals::service::spawn_remote_wakes(state.clone());
    crate::webhooks::outbound::spawn(state.clone());
    Ok(state)
}

/// Site settings: `Leptos.toml` in the working directory when present (so the release binary
/// runs from the repo root without cargo-leptos), overridden by `LEPTOS_*` variables.
pub fn leptos_options() -> anyhow::Result<LeptosOptions> {
    let file = std::path::Path::new("Leptos.toml").exists().then_some("Leptos.toml");
    Ok(leptos::config::get_configuration(file)?.leptos_options)
}
