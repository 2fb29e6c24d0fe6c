//! The page frame: the signed-in session every page reads, the navigation bar and the user area.
//! Above the areas' pages and below the app's routes: it imports the auth door and the shared UI.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::use_location;

use leptos_meta::Title;

use crate::approvals::fns::pending_approvals;
use crate::auth::fns::{get_session, Logout, SessionInfo};
use crate::error::AppError;

/// The signed-in session, loaded once per page load by [`Layout`]. Pages read it inside their own
/// `Suspend` (`session.info().await`) instead of receiving it from a Suspense around the outlet:
/// SSR re-runs a Suspense's children until they settle, so pages built inside one would create
/// their resources several times and the browser would hydrate against a discarded copy.
#[derive(Clone, Copy)]
pub struct SessionResource(Resource<Result<Option<SessionInfo>, AppError>>);

impl SessionResource {
    /// The signed-in user; signed-out visitors get a 401 error (the layout redirects them anyway).
    pub async fn info(self) -> Result<SessionInfo, AppError> {
        match self.0.await {
            Ok(Some(info)) => Ok(info),
            Ok(None) => Err(AppError::unauthorized("Sign in to see this page.")),
            Err(e) => Err(e),
        }
    }

    /// The session together with a page's data: the first error of the two, or both.
    pub async fn with<T>(self, data: impl std::future::IntoFuture<Output = Result<T, AppError>>) -> Result<(SessionInfo, T), AppError> {
        let data = data.await;
        Ok((self.info().await?, data?))
    }
}

/// The session of the page being rendered (provided by [`Layout`]).
pub fn use_session() -> SessionResource {
    expect_context::<SessionResource>()
}

/// Wraps every signed-in page: the header with navigation and the signed-in user, and the page.
/// Signed-out visitors are sent to the login page. On a phone the navigation and the user area
/// fold into a menu (a checkbox and its label, so it opens without JavaScript too).
#[component]
pub fn Layout() -> impl IntoView {
    let session = Resource::new(|| (), |_| get_session());
    provide_context(SessionResource(session));
    let location = use_location();
    // The pending requests' count beside Approvals and in the tab title; the page script fetches
    // these regions again as requests arrive and are decided.
    let pending = Resource::new(|| (), |_| pending_approvals());
    let nav = || {
        view! {
            <NavLink href="/backlog" label="Backlog"/>
            <NavLink href="/packs" label="Packs"/>
            <NavLink href="/tools" label="Tools"/>
            <NavLink href="/plans" label="Plans"/>
            <NavLink href="/planner-metrics" label="Metrics"/>
            <NavLink href="/approvals" label="Approvals" badge=pending/>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let can = match session.await {
                        Ok(Some(info)) => info.can,
                        _ => Default::default(),
                    };
                    view! {
                        {can.read_audit.then(|| view! { <NavLink href="/audit" label="Audit"/> })}
                        {can.manage_keys.then(|| view! { <NavLink href="/keys" label="Keys"/> })}
                    }
                })}
            </Suspense>
        }
    };
    let user = || {
        view! {
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(Some(info)) => view! { <UserArea info/> }.into_any(),
                        Ok(None) => {
                            let next = crate::ui::url_encode(&location.pathname.get_untracked());
                            view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
                        }
                        Err(e) => view! { <span class="text-rose-300" title=e.message>"Session unavailable"</span> }.into_any(),
                    }
                })}
            </Suspense>
        }
    };
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let n = pending.await.unwrap_or(0);
                let title = if n > 0 { format!("({n}) NOFX Control Plane") } else { "NOFX Control Plane".to_string() };
                view! { <Title text=title/> }
            })}
        </Suspense>
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
                        <span data-region="pending-menu"><PendingBadge pending/></span>
                    </label>
                    <div class="hidden w-full flex-col gap-3 border-t border-slate-800 py-3 peer-checked:flex lg:flex lg:w-auto lg:flex-1 lg:flex-row lg:items-center lg:border-0 lg:py-0">
                        <nav class="flex flex-col gap-1 text-sm lg:flex-row lg:items-center" aria-label="Main">{nav()}</nav>
                        <div class="flex flex-wrap items-center gap-3 text-xs lg:ml-auto">{user()}</div>
                    </div>
                </div>
            </header>
            <main class="flex-1 mx-auto w-full max-w-7xl px-4 sm:px-6 py-6 sm:py-8">
                // What the page script says when the server could not answer with a page.
                <p id="page-alert" role="alert" hidden class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-800"></p>
                <div data-region="main"><Outlet/></div>
            </main>
            <footer class="border-t border-slate-200 py-4 text-center text-xs text-slate-400">
                "NOFX Control Plane · JSON API at " <a class="underline" href="/api/openapi.json">"/api/openapi.json"</a>
            </footer>
        </div>
    }
}

/// `/`: the signed-in user's start page (see [`crate::auth::model::Capabilities::home`]).
#[component]
pub fn Home() -> impl IntoView {
    let session = use_session();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let path = session.info().await.map(|info| info.can.home()).unwrap_or("/backlog");
                view! { <Redirect path=path/> }
            })}
        </Suspense>
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
            {info.username.clone()} <span class="text-slate-500">" · " {info.role.as_str()}</span>
        </span>
        <ActionForm action=logout>
            <input type="hidden" name="csrf" value=info.csrf.clone()/>
            <button type="submit" class="rounded-md border border-slate-700 px-2.5 py-1 text-slate-200 hover:bg-slate-800">"Sign out"</button>
        </ActionForm>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str, #[prop(optional)] badge: Option<PendingCount>) -> impl IntoView {
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
            {badge.map(|pending| view! { <span data-region="pending-nav"><PendingBadge pending/></span> })}
        </a>
    }
}

type PendingCount = Resource<Result<i64, AppError>>;

/// How many requests wait for a decision, when any do.
#[component]
fn PendingBadge(pending: PendingCount) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let n = pending.await.unwrap_or(0);
                (n > 0).then(|| view! {
                    <span class="rounded-full bg-amber-400 px-1.5 text-xs font-semibold text-slate-900" data-testid="pending-badge"
                        title=format!("{n} waiting for a decision")>{n}</span>
                })
            })}
        </Transition>
    }
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
