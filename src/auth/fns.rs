//! The browser's door: session cookie login/logout and the current session, as server functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::model::Principal;
use super::model::{Capabilities, Role};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::ErrorCode;
use crate::flags::FeatureFlags;
#[cfg(feature = "ssr")]
use http::header;

/// What the UI knows about the signed-in user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub username: String,
    pub role: Role,
    /// What the pages may offer this user, from the role's permissions on the server.
    pub can: Capabilities,
    /// Echoed back in every form as a hidden field; checked on every mutation.
    pub csrf: String,
    pub flags: FeatureFlags,
}

/// The signed-in user, or `None` (the layout then sends the browser to the login page).
#[server(prefix = "/_fn", endpoint = "get_session")]
pub async fn get_session() -> Result<Option<SessionInfo>, AppError> {
    let state = ssr::state()?;
    Ok(ssr::current_session().await?.map(|s| ssr::session_info(&state, s)))
}

/// Signs in with username and password, sets the HttpOnly session cookie and goes to `next`.
#[server(prefix = "/_fn", endpoint = "login")]
pub async fn login(username: String, password: String, #[server(default)] next: String) -> Result<(), AppError> {
    ssr::form_result(async move {
        let state = ssr::state()?;
        ssr::check_origin()?;
        if username.len() > 100 || password.len() > 1000 {
            return Err(AppError::unauthorized("That username and password do not match. Check both and try again."));
        }
        let address = ssr::client_address(state.config.trust_proxy);
        let signed_in =
            super::service::sign_in(&state.db, &state.login_throttle, username.trim(), &password, address, state.config.session_ttl_ms)
                .await;
        if let Err(e) = &signed_in {
            if let Some(wait) = e.details.get("retry_after_s").and_then(|v| v.as_u64()) {
                ssr::set_header(header::RETRY_AFTER, &wait.to_string());
            }
        }
        let (token, _session) = signed_in?;
        ssr::set_cookie(&ssr::session_cookie(&token, state.config.session_ttl_ms / 1000, state.config.secure_cookies));
        // Only a parsed same-origin path, so a crafted link cannot bounce a fresh session to
        // another site or break the `Location` header.
        leptos_axum::redirect(&crate::auth::redirect::after_login(&next));
        Ok(())
    })
    .await
}

/// Ends the session and clears the cookie.
#[server(prefix = "/_fn", endpoint = "logout")]
pub async fn logout(csrf: String) -> Result<(), AppError> {
    ssr::form_result(async move {
        let state = ssr::state()?;
        ssr::session(&csrf).await?;
        if let Some(token) = ssr::session_token().await {
            super::service::logout(&state.db, &token).await?;
        }
        ssr::set_cookie(&ssr::session_cookie("", 0, state.config.secure_cookies));
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// The keys page: every key, and the roles a new one may have.
#[server(prefix = "/_fn", endpoint = "load_keys")]
pub async fn load_keys() -> Result<Vec<super::model::ApiKeyInfo>, AppError> {
    let who = ssr::reader().await?;
    super::keys::list(&ssr::state()?.db, &who).await
}

/// Creates a key from the keys page; the answer carries the key this once (shown by the page).
#[server(prefix = "/_fn", endpoint = "create_key")]
pub async fn create_key(
    csrf: String,
    #[server(default)] name: String,
    #[server(default)] role: String,
    #[server(default)] expires_in_days: String,
) -> Result<super::model::CreatedKey, AppError> {
    ssr::form_result(async move {
        let who = ssr::session(&csrf).await?;
        let role = Role::parse(role.trim()).ok_or_else(|| AppError::unprocessable(ErrorCode::InvalidField, "Choose the key's role."))?;
        let days = expires_in_days.trim();
        let expires_in_days = if days.is_empty() {
            None
        } else {
            Some(days.parse::<i64>().map_err(|_| {
                AppError::unprocessable(ErrorCode::InvalidField, "The expiry is a number of days, like 90 (or empty: never).")
            })?)
        };
        let new = super::model::NewKey { name: name.trim().to_string(), role, expires_in_days };
        super::keys::create(&ssr::state()?.db, &who, &new).await
    })
    .await
}

#[server(prefix = "/_fn", endpoint = "revoke_key")]
pub async fn revoke_key(csrf: String, id: i64) -> Result<(), AppError> {
    ssr::form_result(async move {
        let who = ssr::session(&csrf).await?;
        super::keys::revoke(&ssr::state()?.db, &who, id).await?;
        leptos_axum::redirect("/keys");
        Ok(())
    })
    .await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Helpers every server function uses: state, session, CSRF and origin checks, form errors.

    use super::*;
    use crate::auth::service::{self, Session, SESSION_COOKIE};
    use crate::state::AppState;
    use axum_extra::extract::CookieJar;
    use http::{header, request::Parts, HeaderValue, StatusCode};
    use leptos_axum::ResponseOptions;

    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(AppError::internal)
    }

    /// What the pages know of a signed-in session.
    pub fn session_info(state: &AppState, s: Session) -> SessionInfo {
        SessionInfo {
            username: s.principal.name,
            role: s.principal.role,
            can: Capabilities::of(s.principal.role),
            csrf: s.csrf_token,
            flags: state.config.flags,
        }
    }

    pub async fn session_token() -> Option<String> {
        let jar = leptos_axum::extract::<CookieJar>().await.ok()?;
        jar.get(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty() && v.len() < 200)
    }

    pub async fn current_session() -> Result<Option<Session>, AppError> {
        // A page request's session was looked up once by the page-frame middleware.
        if let Some(FrameSession(session)) = use_context::<Parts>().and_then(|p| p.extensions.get::<FrameSession>().cloned()) {
            return Ok(session);
        }
        let Some(token) = session_token().await else { return Ok(None) };
        service::session_by_token(&state()?.db, &token).await
    }

    /// The session a page request arrived with, as the page-frame middleware found it (a request
    /// extension), so that the page's loaders do not look it up again.
    #[derive(Debug, Clone)]
    pub struct FrameSession(pub Option<Session>);

    /// The signed-in principal; 401 when signed out. What it may do, the service decides.
    pub async fn reader() -> Result<Principal, AppError> {
        Ok(current_session().await?.ok_or_else(|| AppError::unauthorized("Your session has ended; sign in again."))?.principal)
    }

    /// The signed-in principal for a mutation: also checks the CSRF token and the Origin. What it
    /// may do, the service decides.
    pub async fn session(csrf: &str) -> Result<Principal, AppError> {
        check_origin()?;
        let session = current_session().await?.ok_or_else(|| AppError::unauthorized("Your session has ended; sign in again."))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(session.csrf_token.as_bytes(), csrf.as_bytes())) {
            return Err(AppError::forbidden(
                ErrorCode::CsrfFailed,
                "This form is out of date or was not sent by this site. Reload the page and submit it again.",
            ));
        }
        Ok(session.principal)
    }

    /// Rejects cross-site form posts: when the browser names an Origin, it must be this host.
    pub fn check_origin() -> Result<(), AppError> {
        let Some(parts) = use_context::<Parts>() else { return Ok(()) };
        let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return Ok(()) };
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin == "null" || origin_host != host {
            return Err(AppError::forbidden(ErrorCode::CrossOrigin, "Forms may only be submitted from this site."));
        }
        Ok(())
    }

    pub fn session_cookie(token: &str, max_age_s: i64, secure: bool) -> String {
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{}", if secure { "; Secure" } else { "" })
    }

    /// The client's address: the TCP peer, or with `trust_proxy` the last `X-Forwarded-For`
    /// entry (the one the proxy in front of us appended). Unknown when neither is there.
    pub fn client_address(trust_proxy: bool) -> std::net::IpAddr {
        let unknown = std::net::IpAddr::from([0, 0, 0, 0]);
        let Some(parts) = use_context::<Parts>() else { return unknown };
        let forwarded = trust_proxy
            .then(|| parts.headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
            .flatten();
        forwarded
            .or_else(|| parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip()))
            .unwrap_or(unknown)
    }

    pub fn set_header(name: header::HeaderName, value: &str) {
        if let (Some(opts), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(value)) {
            opts.insert_header(name, value);
        }
    }

    pub fn set_cookie(cookie: &str) {
        if let (Some(opts), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(cookie)) {
            opts.append_header(header::SET_COOKIE, value);
        }
    }

    /// Gives a server-function error its HTTP status, and for plain HTML form posts (JavaScript
    /// off) sends the browser back to the form with the message in `?form_error=` (and the failed
    /// server function in `?form_for=`) so the page can
    /// show it in place instead of a blank error body.
    pub async fn form_result<T>(fut: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
        let result = fut.await;
        if let Err(err) = &result {
            if let Some(opts) = use_context::<ResponseOptions>() {
                opts.set_status(StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            }
            if let Some(parts) = use_context::<Parts>() {
                let accepts_html = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
                let referer = parts.headers.get(header::REFERER).and_then(|v| v.to_str().ok());
                if let (true, Some(referer)) = (accepts_html, referer) {
                    if let Ok(mut url) = url::Url::parse(referer) {
                        let kept: Vec<(String, String)> = url
                            .query_pairs()
                            .filter(|(k, _)| k != "form_error" && k != "form_for")
                            .map(|(k, v)| (k.into(), v.into()))
                            .collect();
                        // Which form failed (the server function's endpoint), for pages with several.
                        let endpoint = parts.uri.path().rsplit('/').next().unwrap_or_default().to_string();
                        url.query_pairs_mut()
                            .clear()
                            .extend_pairs(kept)
                            .append_pair("form_error", &err.message)
                            .append_pair("form_for", &endpoint);
                        let path = match url.query() {
                            Some(q) => format!("{}?{q}", url.path()),
                            None => url.path().to_string(),
                        };
                        // The Referer is the client's word: back to a path on this site only.
                        if let Some(path) = crate::auth::redirect::safe_local_path(&path) {
                            leptos_axum::redirect(&path);
                        }
                    }
                }
            }
        }
        result
    }
}
