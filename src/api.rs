//! The `/api` router: the HTTP contract of docs/api.md, with its OpenAPI document generated
//! from the handlers themselves (utoipa), so the two cannot drift apart.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::http::ApiCaller;
use crate::auth::model::Role;
use crate::error::AppResult;
use crate::flags::FeatureFlags;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "NOFX Control Plane API", description = "Backlog, plans, gates and human approvals. Authenticate with `Authorization: Bearer <api key>`."),
    modifiers(&BearerAuth),
    tags((name = "backlog"), (name = "tools"), (name = "planner"), (name = "approvals"), (name = "events"), (name = "system"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The `/api` router (to be nested under `/api`) with every area's endpoints.
pub fn router() -> Router<AppState> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(whoami))
        .merge(crate::backlog::http::router())
        .merge(crate::planner::http::router())
        .merge(crate::approvals::http::router())
        .merge(crate::webhooks::http::router())
        .merge(crate::events::http::router())
        .split_for_parts();
    let mut openapi = openapi;
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/api")]);
    let doc = serde_json::to_value(&openapi).unwrap_or_default();
    router.route("/openapi.json", get(move || async move { Json(doc) }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    database: &'static str,
}

/// Liveness: 200 `{"status":"ok"}` (no authentication).
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        database: match s.db.backend {
            crate::storage::Backend::Sqlite => "sqlite",
            crate::storage::Backend::Postgres => "postgres",
        },
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct WhoAmI {
    identity: String,
    name: String,
    #[schema(value_type = String)]
    role: Role,
    #[schema(value_type = Object)]
    flags: FeatureFlags,
}

/// Who this API key is, its role, and which feature flags are on.
#[utoipa::path(get, path = "/me", tag = "system", responses((status = 200, body = WhoAmI), (status = 401)), security(("api_key" = [])))]
async fn whoami(State(s): State<AppState>, ApiCaller(who): ApiCaller) -> AppResult<Json<WhoAmI>> {
    Ok(Json(WhoAmI { identity: who.identity(), name: who.name.clone(), role: who.role, flags: s.config.flags }))
}
