//! The page frame: the signed-in session every page reads, the navigation bar and the user area.
//! Above the areas' pages and below the app's routes: it imports the auth door and the shared UI.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::use_location;

use leptos_meta::Title;

use crate::auth::fns::{Logout, SessionInfo};
use crate::error::AppError;

/// What the frame of every signed-in page shows: the session and the number of requests waiting
/// for a decision. Loaded once per page request by [`ssr::load_frame`] before the page renders,
/// and read from the request as a plain value: no resource is awaited by several Suspense
/// boundaries (the header's parts and the page), a pattern leptos-rs/leptos#4851 reports to stall
/// a response now and then (one boundary never resolves and the page never finishes loading).
#[derive(Debug, Clone)]
pub struct PageFrame {
    pub session: Result<Option<SessionInfo>, AppError>,
    /// Pending approval requests the viewer can see (0 when signed out).
    pub pending: i64,
}

impl PageFrame {
    /// The frame of the request being rendered (signed out when there is none: a page rendered
    /// outside a request, or in the browser).
    fn current() -> PageFrame {
        #[cfg(feature = "ssr")]
        if let Some(frame) = use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<PageFrame>().cloned()) {
            return frame;
        }
        PageFrame { session: Ok(None), pending: 0 }
    }
}

/// The signed-in session of the page being rendered (provided by [`Layout`]). Pages read it
/// inside their own `Suspend` (`session.info().await`, `session.with(data).await`) like their data.
#[derive(Clone, Copy)]
pub struct PageSession(StoredValue<Result<Option<SessionInfo>, AppError>>);

impl PageSession {
    /// The signed-in user; signed-out visitors get a 401 error (the layout redirects them anyway).
    pub fn now(self) -> Result<SessionInfo, AppError> {
        match self.0.get_value() {
            Ok(Some(info)) => Ok(info),
            Ok(None) => Err(AppError::unauthorized("Sign in to see this page.")),
            Err(e) => Err(e),
        }
    }

    /// [`PageSession::now`], where a page awaits it beside its data.
    pub async fn info(self) -> Result<SessionInfo, AppError> {
        self.now()
    }

    /// The session together with a page's data: the first error of the two, or both.
    pub async fn with<T>(self, data: impl std::future::IntoFuture<Output = Result<T, AppError>>) -> Result<(SessionInfo, T), AppError> {
        let data = data.await;
        Ok((self.info().await?, data?))
    }
}

/// The session of the page being rendered (provided by [`Layout`]).
pub fn use_session() -> PageSession {
    expect_context::<PageSession>()
}

/// Wraps every signed-in page: the header with navigation and the signed-in user, and the page.
/// Signed-out visitors are sent to the login page. On a phone the navigation and the user area
/// fold into a menu (a checkbox and its label, so it opens without JavaScript too).
#[component]
pub fn Layout() -> impl IntoView {
    let frame = PageFrame::current();
    provide_context(PageSession(StoredValue::new(frame.session.clone())));
    let location = use_location();
    // The pending requests' count beside Approvals and in the tab title; the page script fetches
    // these regions again as requests arrive and are decided.
    let pending = frame.pending;
    let can = match &frame.session {
        Ok(Some(info)) => info.can,
        _ => Default::default(),
    };
    let user = match frame.session {
        Ok(Some(info)) => view! { <UserArea info/> }.into_any(),
        Ok(None) => {
            let next = crate::ui::url_encode(&location.pathname.get_untracked());
            view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
        }
        Err(e) => view! { <span class="text-rose-300" title=e.message>"Session unavailable"</span> }.into_any(),
    };
    let title = if pending > 0 { format!("({pending}) NOFX Control Plane") } else { "NOFX Control Plane".to_string() };
    view! {
        <Title text=title/>
        <div class="min-h-screen flex flex-col">
            <header class="bg-slate-900 text-slate-100 shadow">
                <div class="mx-auto flex min-h-14 max-w-7xl flex-wrap items-center gap-x-6 px-4 sm:px-6">
                    <a href="/" class="flex h-14 shrink-0 items-center gap-2 font-semibold tracking-tight">
                        <span class="inline-flex h-7 w-7 items-center justify-center rounded-md bg-indigo-500 text-white text-xs font-bold" aria-hidden="true">"NX"</span>
                        <span class="whitespace-nowrap">"NOFX" <span class="hidden sm:inline">" Control Plane"</span></span>
                    </a>
                    // Below `lg` the navigation and the user area fold behind Menu: a checkbox and
                    // its label, so the menu opens without JavaScript and renders only once.
                    <input type="checkbox" id="menu-toggle" class="peer sr-only" aria-label="Menu" data-testid="menu-toggle"/>
                    <label for="menu-toggle" class="ml-auto flex min-h-11 cursor-pointer select-none items-center gap-2 rounded-md px-3 text-sm ring-1 ring-slate-700 hover:bg-slate-800 peer-focus-visible:ring-2 peer-focus-visible:ring-indigo-400 lg:hidden" aria-hidden="true" data-testid="menu">
                        <svg class="h-5 w-5" viewBox="0 0 20 20" fill="currentColor"><path d="M3 5h14v2H3zm0 4h14v2H3zm0 4h14v2H3z"/></svg>
                        "Menu"
                        <span data-region="pending-menu"><PendingBadge n=pending/></span>
                    </label>
                    <div class="hidden w-full flex-col gap-3 border-t border-slate-800 py-3 peer-checked:flex lg:flex lg:w-auto lg:flex-1 lg:flex-row lg:items-center lg:border-0 lg:py-0">
                        <nav class="flex flex-col gap-1 text-sm lg:flex-row lg:items-center" aria-label="Main">
                            <NavLink href="/backlog" label="Backlog"/>
                            <NavLink href="/packs" label="Packs"/>
                            <NavLink href="/tools" label="Tools"/>
                            <NavLink href="/plans" label="Plans"/>
                            <NavLink href="/planner-metrics" label="Metrics"/>
                            <NavLink href="/approvals" label="Approvals" badge=pending/>
                            {can.read_audit.then(|| view! { <NavLink href="/audit" label="Audit"/> })}
                            {can.manage_keys.then(|| view! { <NavLink href="/keys" label="Keys"/> })}
                        </nav>
                        <div class="flex flex-wrap items-center gap-3 text-xs lg:ml-auto">{user}</div>
                    </div>
                </div>
            </header>
            <main class="flex-1 mx-auto w-full max-w-7xl px-4 sm:px-6 py-6 sm:py-8">
                // What the page script says when the server could not answer with a page.
                <p id="page-alert" role="alert" hidden class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-800"></p>
                <div data-region="main"><Outlet/></div>
            </main>
            <footer class="border-t border-slate-200 py-4 text-center text-xs text-slate-500">
                "NOFX Control Plane · JSON API at " <a class="underline" href="/api/openapi.json">"/api/openapi.json"</a>
            </footer>
        </div>
    }
}

/// `/`: the signed-in user's start page (see [`crate::auth::model::Capabilities::home`]).
#[component]
pub fn Home() -> impl IntoView {
    let path = use_session().now().map(|info| info.can.home()).unwrap_or("/backlog");
    view! { <Redirect path=path/> }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Loads the page frame before leptos renders a page.

    use axum::extract::{Request, State};
    use axum::middleware::Next;
    use axum::response::Response;
    use axum_extra::extract::CookieJar;

    use super::PageFrame;
    use crate::auth::fns::ssr::FrameSession;
    use crate::auth::service::SESSION_COOKIE;
    use crate::state::AppState;

    /// Middleware on the page routes: a page request (a `GET` that is not a server function)
    /// gets its [`PageFrame`] as a request extension, which the render reads back.
    pub async fn load_frame(State(state): State<AppState>, jar: CookieJar, mut req: Request, next: Next) -> Response {
        if req.method() == http::Method::GET && !req.uri().path().starts_with("/_fn/") {
            let token = jar.get(SESSION_COOKIE).map(|c| c.value()).filter(|v| !v.is_empty() && v.len() < 200);
            let (frame, session) = frame(&state, token).await;
            req.extensions_mut().insert(frame);
            if let Some(session) = session {
                req.extensions_mut().insert(session);
            }
        }
        next.run(req).await
    }

    /// The frame, and the session found (none when the lookup failed: the loaders try again).
    async fn frame(state: &AppState, token: Option<&str>) -> (PageFrame, Option<FrameSession>) {
        let Some(token) = token else { return (PageFrame { session: Ok(None), pending: 0 }, Some(FrameSession(None))) };
        match crate::auth::service::session_by_token(&state.db, token).await {
            Ok(Some(session)) => {
                let pending = crate::approvals::service::pending_count(state, &session.principal).await.unwrap_or(0);
                let info = crate::auth::fns::ssr::session_info(state, session.clone());
                (PageFrame { session: Ok(Some(info)), pending }, Some(FrameSession(Some(session))))
            }
            Ok(None) => (PageFrame { session: Ok(None), pending: 0 }, Some(FrameSession(None))),
            Err(e) => (PageFrame { session: Err(e), pending: 0 }, None),
        }
    }
}

/// Feature flags, who is signed in, and the sign-out button.
#[component]
fn UserArea(info: SessionInfo) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let flags = info.flags;
    view! {
        <FlagBadge name="Auto planner" env="FEATURE_AUTO_PLANNER" on=flags.auto_planner/>
        <FlagBadge name="Execute" env="FEATURE_PLANNER_EXECUTE" on=flags.planner_execute/>
        <span class="text-slate-300" data-testid="whoami">
            {info.username.clone()} <span class="text-slate-400">" · " {info.role.as_str()}</span>
        </span>
        <ActionForm action=logout>
            <input type="hidden" name="csrf" value=info.csrf.clone()/>
            <button type="submit" class="rounded-md border border-slate-700 px-2.5 py-1 text-slate-200 hover:bg-slate-800">"Sign out"</button>
        </ActionForm>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str, #[prop(optional)] badge: Option<i64>) -> impl IntoView {
    // The section the page belongs to is highlighted; the link is the current page only on it.
    let path = use_location().pathname.get_untracked();
    let active = path.starts_with(href);
    let class = if active {
        "flex items-center gap-1.5 rounded-md px-3 py-2 lg:py-1.5 bg-slate-800 text-white"
    } else {
        "flex items-center gap-1.5 rounded-md px-3 py-2 lg:py-1.5 text-slate-300 hover:text-white hover:bg-slate-800"
    };
    view! {
        <a href=href class=class aria-current=(path == href).then_some("page")>
            {label}
            {badge.map(|n| view! { <span data-region="pending-nav"><PendingBadge n/></span> })}
        </a>
    }
}

/// How many requests wait for a decision, when any do.
#[component]
fn PendingBadge(n: i64) -> impl IntoView {
    (n > 0).then(|| {
        view! {
            <span class="rounded-full bg-amber-400 px-1.5 text-xs font-semibold text-slate-900" data-testid="pending-badge"
                title=format!("{n} waiting for a decision")>{n}</span>
        }
    })
}

#[component]
fn FlagBadge(name: &'static str, env: &'static str, on: bool) -> impl IntoView {
    let (class, state) = if on {
        ("rounded-full bg-emerald-500/15 text-emerald-300 ring-1 ring-emerald-500/40 px-2 py-0.5", "on")
    } else {
        ("rounded-full bg-slate-700/50 text-slate-400 ring-1 ring-slate-600 px-2 py-0.5", "off")
    };
    view! {
        <span class=class title=format!("{env} is {state}") data-testid=format!("flag-{env}")>
            {name} ": " {state}
        </span>
    }
}
