//! Assembles the one axum app: the leptos pages and server functions plus the `/api` router,
//! wrapped in tracing, compression and body limits.

use axum::extract::DefaultBodyLimit;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::{shell, App};
use crate::config::{Config, ServerLimits};
use crate::events::bus::EventBus;
use crate::state::AppState;
use crate::storage::Db;

/// Builds the router for `state`; tests call this with a temporary database and port 0.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let body_limit = state.config.body_limit;
    let api = crate::api::router().layer(DefaultBodyLimit::max(body_limit)).with_state(state.clone());
    let ctx_state = state.clone();
    // The pages (and the server functions leptos routes beside them); a page request loads the
    // frame every page shows (session, pending count) before it renders.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, move || provide_context(ctx_state.clone()), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::layout::ssr::load_frame));
    let router = Router::new()
        .route("/metrics", axum::routing::get(crate::telemetry::http::metrics))
        .nest("/api", api)
        .merge(pages)
        .nest_service("/pkg", pkg_files(&state.leptos_options))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Rejects oversized bodies up front (by Content-Length) for every route, server
        // functions included; the normaliser outside it turns `/api` errors into JSON.
        .layer(RequestBodyLimitLayer::new(body_limit))
        // A body that stalls (a client that stops sending half-way) is cut off instead of
        // holding its connection and handler forever.
        .layer(RequestBodyTimeoutLayer::new(state.config.limits.body_timeout))
        .layer(axum::middleware::from_fn(crate::http::normalise_api_errors))
        .layer(axum::middleware::from_fn(crate::http::server_fn_error_status))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::telemetry::http::track));
    crate::http::security::layers(router, state.config.secure_cookies).layer(TraceLayer::new_for_http()).with_state(state)
}

/// The application's JavaScript, WebAssembly and CSS (`/pkg`). A release build names them by
/// content hash (`hash-files`), so they are cached for a year as immutable; `nofx precompress`
/// writes brotli and gzip copies beside them, served as they are to browsers that accept them
/// instead of being compressed again on every request. Unhashed names (a debug build) must be
/// checked again on every load.
fn pkg_files(options: &LeptosOptions) -> Router {
    use http::header::{HeaderValue, CACHE_CONTROL};
    use tower_http::services::ServeDir;
    use tower_http::set_header::SetResponseHeaderLayer;
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let cache = HeaderValue::from_static(if options.hash_files { "public, max-age=31536000, immutable" } else { "no-cache" });
    // Only a file found (or revalidated) is cached: a name missing during a rolling deploy must
    // be asked for again.
    let found = move |res: &axum::response::Response<_>| {
        (res.status().is_success() || res.status() == http::StatusCode::NOT_MODIFIED).then(|| cache.clone())
    };
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, found))
}

/// Serves `app` on `listener` until `shutdown` resolves, with the connection limits a public
/// server needs and `axum::serve` does not set: complete headers within
/// `header_read_timeout` (slow or idle connections are closed), at most `max_connections` open at
/// once, and each request told its client's address (`ConnectInfo`). HTTP/1.1 and HTTP/2.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout))
        .keep_alive_timeout(limits.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        // At the limit, new clients wait in the kernel's listen queue until a connection closes.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // hyper's header timer starts at the first byte: a client that connects and never
            // sends one is closed here after the same time.
            // (`peek` waits for data itself; `readable` may report a fresh socket ready.)
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await, Ok(Ok(1..))) {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("closing connections still open after the shutdown grace period"),
    }
    Ok(())
}

/// Connects, migrates and builds the state.
pub async fn prepare(config: Config, leptos_options: LeptosOptions) -> anyhow::Result<AppState> {
    // The policy first: a bad file stops the start before anything else happens.
    let policy = crate::gates::policy::Policy::load(config.policy_path.as_deref())?;
    let providers = crate::planner::providers::Providers::load(config.providers_path.as_deref())?;
    // Webhook settings next: a secret or URL that cannot work stops the start with the reason.
    let webhooks = crate::webhooks::WebhookSettings::from_config(&config)?;
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    crate::webhooks::record_secrets(&db, &webhooks)
        .await
        .map_err(|e| anyhow::anyhow!("could not record the webhook secrets in the audit trail: {}", e.message))?;
    let events = EventBus::default();
    if db.backend == crate::storage::Backend::Postgres {
        events.listen_postgres(config.database_url.clone());
    }
    let state = AppState {
        leptos_options,
        db,
        login_throttle: Arc::new(crate::auth::throttle::Throttle::new(config.login_throttle)),
        config: Arc::new(config),
        events,
        policy: Arc::new(policy),
        providers: Arc::new(providers),
        telemetry: Default::default(),
        waiters: Default::default(),
        expiry: Default::default(),
        executor: Default::default(),
        overrides: Default::default(),
        webhooks: Arc::new(webhooks),
    };
    crate::approvals::service::spawn_expiry(state.clone());
    crate::approvals::service::spawn_remote_wakes(state.clone());
    if state.config.flags.planner_execute {
        crate::execution::service::spawn_executor(state.clone());
    }
    crate::webhooks::outbound::spawn(state.clone());
    crate::overrides::service::spawn(state.clone());
    Ok(state)
}

/// Site settings: `Leptos.toml` in the working directory when present (so the release binary
/// runs from the repo root without cargo-leptos), overridden by `LEPTOS_*` variables.
pub fn leptos_options() -> anyhow::Result<LeptosOptions> {
    let file = std::path::Path::new("Leptos.toml").exists().then_some("Leptos.toml");
    Ok(leptos::config::get_configuration(file)?.leptos_options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::{header, Request, StatusCode};
    use tower::ServiceExt;

    async fn get(app: &Router, path: &str, encoding: Option<&str>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        if let Some(e) = encoding {
            req = req.header(header::ACCEPT_ENCODING, e);
        }
        let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = res.into_parts();
        (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
    }

    fn site(hash_files: bool) -> (tempfile::TempDir, Router) {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(pkg.join("nofx.0a1b2c.wasm"), b"raw wasm").unwrap();
        std::fs::write(pkg.join("nofx.0a1b2c.wasm.br"), b"brotli wasm").unwrap();
        std::fs::write(pkg.join("nofx.0a1b2c.wasm.gz"), b"gzip wasm").unwrap();
        let options = LeptosOptions::builder()
            .output_name("nofx")
            .site_root(dir.path().to_str().unwrap())
            .site_pkg_dir("pkg")
            .hash_files(hash_files)
            .build();
        let app = Router::new().nest_service("/pkg", pkg_files(&options));
        (dir, app)
    }

    #[tokio::test]
    async fn hashed_files_are_immutable_and_sent_precompressed() {
        let (_dir, app) = site(true);
        let (status, headers, body) = get(&app, "/pkg/nofx.0a1b2c.wasm", Some("gzip, deflate, br")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"brotli wasm", "the brotli copy, as written at build time");
        assert_eq!(headers[header::CONTENT_ENCODING], "br");
        assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        let (_, headers, body) = get(&app, "/pkg/nofx.0a1b2c.wasm", Some("gzip")).await;
        assert_eq!(
            (body.as_slice(), &headers[header::CONTENT_ENCODING]),
            (&b"gzip wasm"[..], &"gzip".parse::<http::HeaderValue>().unwrap())
        );
        let (_, headers, body) = get(&app, "/pkg/nofx.0a1b2c.wasm", None).await;
        assert_eq!(body, b"raw wasm");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        let (status, headers, _) = get(&app, "/pkg/nofx.ffffff.wasm", Some("br")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(headers.get(header::CACHE_CONTROL).is_none(), "a missing file is not cached (a rolling deploy may add it)");
    }

    #[tokio::test]
    async fn unhashed_files_are_checked_again_on_every_load() {
        let (_dir, app) = site(false);
        let (status, headers, _) = get(&app, "/pkg/nofx.0a1b2c.wasm", Some("br")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        // A revalidation keeps saying so.
        let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_string();
        let req = Request::get("/pkg/nofx.0a1b2c.wasm").header(header::IF_MODIFIED_SINCE, modified).body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
