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
    tags((name = "backlog"), (name = "tools"), (name = "planner"), (name = "comparisons"), (name = "approvals"), (name = "execution"), (name = "overrides"), (name = "audit"), (name = "keys"), (name = "events"), (name = "system"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Documents the contract's error answers on every operation that can give them, with the
/// `Error` body: 400 when it takes parameters or a body, 401 and 403 when it needs a key, 404
/// when its path names something, 413, 415 and 422 when it takes a JSON body. Written once here
/// rather than on each handler, so no operation can forget one.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type};

        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "Error".into(),
            ObjectBuilder::new()
                .description(Some("Every error: a stable code, a sentence saying what to fix, and details (e.g. the unknown ids)."))
                .property("error", ObjectBuilder::new().schema_type(Type::String))
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("error")
                .required("message")
                .into(),
        );
        let error = || ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
        let describe = |code: &str| match code {
            "400" => "malformed request: the message says which parameter or field",
            "401" => "missing or unknown API key (or a refused webhook signature)",
            "403" => "the key's role may not do this, or the feature is off",
            "404" => "not found",
            "409" => "conflicts with the current state",
            "413" => "body too large",
            "415" => "body is not `application/json`",
            "422" => "valid JSON whose values make no sense (unknown ids, blank fields)",
            _ => "error",
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
                let params = op.parameters.as_deref().unwrap_or_default();
                let has_query_or_path = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Path));
                let has_path = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let has_body = op.request_body.is_some();
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut codes = vec![];
                if has_query_or_path || has_body {
                    codes.push("400");
                }
                if secured {
                    codes.extend(["401", "403"]);
                }
                if has_path {
                    codes.push("404");
                }
                if has_body {
                    codes.extend(["413", "415", "422"]);
                }
                for code in codes {
                    op.responses
                        .responses
                        .entry(code.into())
                        .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(describe(code)).build()));
                }
                // Every 4xx answer, documented here or on the handler, has the error body.
                for (code, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(r)) = (code.starts_with('4'), response) {
                        if r.content.is_empty() {
                            r.content.insert("application/json".into(), error());
                        }
                        if r.description.is_empty() {
                            r.description = describe(code).into();
                        }
                    }
                }
            }
        }
    }
}

/// The `/api` router (to be nested under `/api`) with every area's endpoints.
pub fn router() -> Router<AppState> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(whoami))
        .merge(crate::backlog::http::router())
        .merge(crate::planner::http::router())
        .merge(crate::comparisons::http::router())
        .merge(crate::approvals::http::router())
        .merge(crate::execution::http::router())
        .merge(crate::overrides::http::router())
        .merge(crate::audit::http::router())
        .merge(crate::auth::http::router())
        .merge(crate::webhooks::http::router())
        .merge(crate::events::http::router())
        .split_for_parts();
    let mut openapi = openapi;
    // After the routes are in: it walks their operations.
    ErrorResponses.modify(&mut openapi);
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
