//! Defence in depth for every response: a strict Content-Security-Policy (pages get one with a
//! per-request nonce that the page's scripts carry; everything else a deny-all policy), no
//! framing, no MIME sniffing, a same-origin referrer policy, and HSTS when cookies are secure.
//! Static headers are set with tower-http's `SetResponseHeaderLayer`; the policy is set by
//! [`content_security_policy`], which makes the nonce before the request is handled, hands it to
//! the page render (the request's extensions → [`provide_request_nonce`]) and chooses the policy
//! from what the response is. So the header never depends on how a render went.

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use http::{header, HeaderName, HeaderValue};
use leptos::nonce::Nonce;
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy of an HTML page whose scripts carry `nonce`: scripts only from this site or with
/// the nonce (so an injected `<script>` or `onerror=` never runs), WebAssembly compilation for
/// hydration, styles from this site (inline `style` attributes allowed: they cannot run code),
/// requests (fetch, EventSource) and forms to this site only, and no framing.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Responses that are not pages (JSON, event streams, downloads, static files) may not run or
/// load anything, nor be framed.
pub const DEFAULT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Two years, the HSTS preload list's minimum.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Gives every request a fresh nonce and every response its policy: HTML gets [`page_policy`]
/// with that nonce, anything else [`DEFAULT_POLICY`]. A handler that set a policy itself keeps it.
pub async fn content_security_policy(mut req: Request, next: axum::middleware::Next) -> Response {
    let nonce = Nonce::new();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    if !res.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        let html = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
        let policy = match html {
            true => HeaderValue::from_str(&page_policy(&nonce)).unwrap_or(HeaderValue::from_static(DEFAULT_POLICY)),
            false => HeaderValue::from_static(DEFAULT_POLICY),
        };
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    res
}

/// Makes the request's nonce (see [`content_security_policy`]) the one the page's scripts carry;
/// called from the shell before it renders anything.
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) = use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Nonce>().cloned()) {
        provide_context(nonce);
    }
}

/// Adds the headers to every response of `router`; HSTS only when `hsts` (served over HTTPS).
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>, hsts: bool) -> Router<S> {
    let fixed = |name: HeaderName, value: &'static str| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    let router = router
        .layer(axum::middleware::from_fn(content_security_policy))
        .layer(fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed(header::X_FRAME_OPTIONS, "DENY"))
        .layer(fixed(header::REFERRER_POLICY, "same-origin"))
        .layer(fixed(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"));
    if hsts {
        router.layer(fixed(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_allows_only_nonced_inline_scripts() {
        let p = page_policy("abc123");
        let script = p.split(';').map(str::trim).find(|d| d.starts_with("script-src ")).unwrap();
        assert_eq!(script, "script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'");
        assert!(!script.contains("unsafe-inline") && !script.contains("'unsafe-eval'"));
        assert!(p.contains("frame-ancestors 'none'") && p.contains("object-src 'none'") && p.contains("base-uri 'none'"));
        assert!(HeaderValue::from_str(&p).is_ok());
    }
}
