//! Defence in depth for every response: a strict Content-Security-Policy (pages get one with the
//! per-response nonce leptos puts on the scripts it emits; everything else a deny-all policy),
//! no framing, no MIME sniffing, a same-origin referrer policy, and HSTS when cookies are secure.
//! Static headers are set with tower-http's `SetResponseHeaderLayer`; only the page policy is
//! built per response, because it carries the nonce.

use axum::Router;
use http::{header, HeaderName, HeaderValue};
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

/// Sets the page's policy with the nonce of this response; called from the shell while it renders.
pub fn set_page_policy() {
    let (Some(nonce), Some(opts)) = (leptos::nonce::use_nonce(), leptos::prelude::use_context::<leptos_axum::ResponseOptions>()) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
        opts.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the headers to every response of `router`; HSTS only when `hsts` (served over HTTPS).
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>, hsts: bool) -> Router<S> {
    let fixed = |name: HeaderName, value: &'static str| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    let router = router
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_POLICY)))
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
