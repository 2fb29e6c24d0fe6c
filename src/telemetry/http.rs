//! `GET /metrics` (Prometheus' text format; an API key is required, so it is never open by
//! accident) and the middleware that counts and times every request.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

use crate::auth::http::ApiCaller;
use crate::error::AppResult;
use crate::state::AppState;

/// Prometheus scrape endpoint: planner, HTTP, approval, execution and event-stream figures.
pub async fn metrics(State(s): State<AppState>, ApiCaller(who): ApiCaller) -> AppResult<Response> {
    let text = super::service::scrape(&s, &who).await?;
    Ok(([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// Counts every request by method, route pattern (never the raw path: ids would make a series
/// each) and status, and times it.
pub async fn track(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| route_class(request.uri().path()));
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    s.telemetry.record(|| {
        metrics::counter!("nofx_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
            .increment(1);
        metrics::histogram!("nofx_http_request_duration_seconds", "method" => method, "route" => route).record(seconds);
    });
    response
}

/// A route label for requests no router pattern matched yet (the middleware runs outside the
/// routers): the area, not the path.
fn route_class(path: &str) -> String {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "api" => {
            let area = path.trim_start_matches("/api/").split('/').next().unwrap_or("");
            if area.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !area.is_empty() {
                format!("/api/{area}")
            } else {
                "/api".into()
            }
        }
        "pkg" => "/pkg".into(),
        "_fn" => "/_fn".into(),
        "metrics" => "/metrics".into(),
        _ => "page".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_are_classed_not_copied() {
        assert_eq!(super::route_class("/api/plans/12"), "/api/plans");
        assert_eq!(super::route_class("/api/auto-planner/compare"), "/api/auto-planner");
        assert_eq!(super::route_class("/api/%3Cscript%3E/1"), "/api");
        assert_eq!(super::route_class("/plans/12"), "page");
        assert_eq!(super::route_class("/pkg/nofx.wasm"), "/pkg");
    }
}
