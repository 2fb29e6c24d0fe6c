//! Shared UI pieces: the page layout with navigation, pills, form errors and empty states.

pub mod live;

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};
use leptos_router::hooks::{use_location, use_query_map};

use crate::auth::fns::{get_session, Logout, SessionInfo};
use crate::backlog::model::{ItemStatus, Risk};
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
/// Signed-out visitors are sent to the login page.
#[component]
pub fn Layout() -> impl IntoView {
    let session = Resource::new(|| (), |_| get_session());
    provide_context(SessionResource(session));
    let location = use_location();
    view! {
        <div class="min-h-screen flex flex-col">
            <header class="bg-slate-900 text-slate-100 shadow">
                <div class="mx-auto max-w-7xl px-6 h-14 flex items-center gap-8">
                    <A href="/backlog" attr:class="flex items-center gap-2 font-semibold tracking-tight">
                        <span class="inline-flex h-7 w-7 items-center justify-center rounded-md bg-indigo-500 text-white text-xs font-bold">"NX"</span>
                        <span>"NOFX Control Plane"</span>
                    </A>
                    <nav class="flex items-center gap-1 text-sm" aria-label="Main">
                        <NavLink href="/backlog" label="Backlog"/>
                        <NavLink href="/packs" label="Packs"/>
                        <NavLink href="/tools" label="Tools"/>
                        <NavLink href="/plans" label="Plans"/>
                        <NavLink href="/approvals" label="Approvals"/>
                    </nav>
                    <div class="ml-auto flex items-center gap-3 text-xs">
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                match session.await {
                                    Ok(Some(info)) => view! { <UserArea info/> }.into_any(),
                                    Ok(None) => {
                                        let next = url_encode(&location.pathname.get_untracked());
                                        view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
                                    }
                                    Err(e) => view! { <span class="text-rose-300" title=e.message>"Session unavailable"</span> }.into_any(),
                                }
                            })}
                        </Suspense>
                    </div>
                </div>
            </header>
            <main class="flex-1 mx-auto w-full max-w-7xl px-6 py-8">
                <Outlet/>
            </main>
            <footer class="border-t border-slate-200 py-4 text-center text-xs text-slate-400">
                "NOFX Control Plane · JSON API at " <a class="underline" href="/api/openapi.json">"/api/openapi.json"</a>
            </footer>
        </div>
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    let location = use_location();
    let active = move || location.pathname.get().starts_with(href);
    view! {
        <A href=href attr:class=move || {
            if active() { "rounded-md px-3 py-1.5 bg-slate-800 text-white" } else { "rounded-md px-3 py-1.5 text-slate-300 hover:text-white hover:bg-slate-800" }
        }>{label}</A>
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

#[component]
pub fn PageHeader(
    title: String,
    #[prop(optional)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="mb-6 flex flex-wrap items-end justify-between gap-4">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight text-slate-900">{title}</h1>
                {subtitle.map(|s| view! { <p class="mt-1 text-sm text-slate-500">{s}</p> })}
            </div>
            <div class="flex items-center gap-2">{children.map(|c| c())}</div>
        </div>
    }
}

/// What a status means to the reader; it alone decides the colour, the same on every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Caution,
    Bad,
    Active,
    Neutral,
    Quiet,
}

impl Tone {
    pub fn classes(self) -> &'static str {
        match self {
            Tone::Good => "bg-emerald-50 text-emerald-700 ring-emerald-300",
            Tone::Caution => "bg-amber-50 text-amber-800 ring-amber-300",
            Tone::Bad => "bg-rose-50 text-rose-700 ring-rose-300",
            Tone::Active => "bg-sky-50 text-sky-700 ring-sky-300",
            Tone::Neutral => "bg-slate-100 text-slate-700 ring-slate-300",
            Tone::Quiet => "bg-slate-50 text-slate-500 ring-slate-200",
        }
    }
}

/// The one look of every status, verdict and risk marker: a rounded label coloured by its tone.
/// `testid` names it for tests; `value` is its machine-readable value (`data-value`).
#[component]
pub fn Pill(
    tone: Tone,
    #[prop(into)] text: String,
    #[prop(optional)] testid: Option<&'static str>,
    #[prop(optional, into)] value: Option<String>,
) -> impl IntoView {
    view! {
        <span class=format!("inline-flex items-center whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset {}", tone.classes())
            data-testid=testid data-value=value>
            {text}
        </span>
    }
}

/// A column of a [`DataTable`]: its heading, and how its cells align.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub label: &'static str,
    pub numeric: bool,
    /// Announced to screen readers only (a checkbox column).
    pub hidden: bool,
}

impl Column {
    pub const fn text(label: &'static str) -> Column {
        Column { label, numeric: false, hidden: false }
    }
    pub const fn number(label: &'static str) -> Column {
        Column { label, numeric: true, hidden: false }
    }
    pub const fn hidden(label: &'static str) -> Column {
        Column { label, numeric: false, hidden: true }
    }
}

/// The one table of every list page: a card with a heading row, rows given as children. It
/// scrolls sideways inside its card on a narrow screen, so the page itself never does.
#[component]
pub fn DataTable(testid: &'static str, columns: Vec<Column>, children: Children) -> impl IntoView {
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid=testid>
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                    <tr>
                        {columns
                            .into_iter()
                            .map(|c| {
                                let class = match (c.numeric, c.hidden) {
                                    (_, true) => "w-8 px-4 py-3",
                                    (true, _) => "px-4 py-3 text-right",
                                    _ => "px-4 py-3",
                                };
                                let label = if c.hidden {
                                    view! { <span class="sr-only">{c.label}</span> }.into_any()
                                } else {
                                    c.label.into_any()
                                };
                                view! { <th class=class>{label}</th> }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100 bg-white">{children()}</tbody>
            </table>
        </div>
    }
}

pub fn status_pill(status: ItemStatus) -> impl IntoView {
    let tone = match status {
        ItemStatus::Todo => Tone::Neutral,
        ItemStatus::InProgress => Tone::Active,
        ItemStatus::Blocked => Tone::Bad,
        ItemStatus::Done => Tone::Good,
    };
    view! { <Pill tone text=status.label() value=status.as_str()/> }
}

pub fn risk_pill(risk: Risk) -> impl IntoView {
    let tone = match risk {
        Risk::Low => Tone::Good,
        Risk::Medium => Tone::Caution,
        Risk::High => Tone::Bad,
    };
    view! { <Pill tone text=format!("{} risk", risk.as_str()) value=risk.as_str()/> }
}

pub fn label_chip(label: String) -> impl IntoView {
    let class = match label.as_str() {
        "pii" => "bg-fuchsia-50 text-fuchsia-700 ring-fuchsia-200",
        "prod" => "bg-rose-50 text-rose-700 ring-rose-200",
        "security" => "bg-orange-50 text-orange-700 ring-orange-200",
        _ => "bg-slate-50 text-slate-600 ring-slate-200",
    };
    view! { <span class=format!("inline-flex items-center rounded-md px-1.5 py-0.5 text-xs ring-1 ring-inset {class}")>"#" {label}</span> }
}

pub fn tool_chip(tool: String, sensitive: bool) -> impl IntoView {
    if sensitive {
        view! {
            <span class="inline-flex items-center gap-1 whitespace-nowrap rounded-md bg-amber-50 px-1.5 py-0.5 font-mono text-xs text-amber-800 ring-1 ring-inset ring-amber-300" title="Sensitive: needs human approval">
                <LockIcon/> {tool}
            </span>
        }
        .into_any()
    } else {
        view! { <span class="inline-flex items-center whitespace-nowrap rounded-md bg-indigo-50 px-1.5 py-0.5 font-mono text-xs text-indigo-700 ring-1 ring-inset ring-indigo-200">{tool}</span> }.into_any()
    }
}

/// A small padlock: marks sensitive tools (an SVG, so it renders without emoji fonts).
#[component]
pub fn LockIcon() -> impl IntoView {
    view! {
        <svg class="h-3 w-3 shrink-0" viewBox="0 0 16 16" fill="currentColor" aria-hidden="true">
            <path d="M5 7V5a3 3 0 0 1 6 0v2h.5A1.5 1.5 0 0 1 13 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-7A1.5 1.5 0 0 1 3 13.5v-5A1.5 1.5 0 0 1 4.5 7H5zm1.5 0h3V5a1.5 1.5 0 0 0-3 0v2z"/>
        </svg>
    }
}

/// The prefilled text of a `<textarea>`, for its `inner_html`.
///
/// Never give user text to a textarea as its children: leptos 0.8 writes a textarea's children
/// unescaped during server-side rendering (it treats them as raw text, like `<script>`), so a
/// stored `</textarea><img onerror=…>` would close the element and run. As escaped inner HTML
/// the browser decodes the entities back into the literal text (a textarea's content is RCDATA),
/// and hydration leaves server-rendered inner HTML alone.
pub fn textarea_text(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

/// "1 step", "3 steps".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Text from the gates, with `backticked` names (tools, labels, rules) set in a code face.
pub fn rich(text: String) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_string();
            if i % 2 == 1 {
                view! { <code class="rounded bg-slate-100 px-1 font-mono text-[0.85em] text-slate-800">{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}

/// "2026-11-25 04:31 UTC": absolute, so server and browser render the same text.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// Minutes of estimated work (see [`crate::text::minutes`]).
pub fn format_minutes(m: i64) -> String {
    crate::text::minutes(m)
}

/// A duration in milliseconds, as every page writes it (see [`crate::text::Duration`]).
pub fn format_duration(ms: i64) -> String {
    crate::text::Duration(ms).to_string()
}

#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    view! {
        <div role="alert" class="rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm text-rose-800">
            <p class="font-medium">{error.message.clone()}</p>
        </div>
    }
}

/// Shows the latest error of a form: from the action (JavaScript on) or from `?form_error=`
/// (JavaScript off: the server redirected back here with the message).
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    /// On a page with several forms: the endpoint of this form's server function, so a
    /// `?form_error=` is shown only by the form that failed (`?form_for=` names it).
    #[prop(optional)]
    form: Option<&'static str>,
) -> impl IntoView {
    let query = use_query_map();
    let redirected = move || {
        query.with(|q| {
            let mine = match (form, q.get("form_for")) {
                (Some(f), Some(failed)) => f == failed,
                _ => true,
            };
            if mine {
                q.get("form_error")
            } else {
                None
            }
        })
    };
    let message = move || error.get().map(|e| e.message).or_else(redirected);
    view! {
        <Show when=move || message().is_some()>
            <div role="alert" data-testid="form-error" class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-800">
                {message}
            </div>
        </Show>
    }
}

/// The error of the last run of a server action, if it failed.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}

#[component]
pub fn EmptyState(title: &'static str, #[prop(into)] hint: String, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <div class="rounded-xl border-2 border-dashed border-slate-200 bg-white px-6 py-14 text-center">
            <p class="text-base font-medium text-slate-700">{title}</p>
            <p class="mt-1 text-sm text-slate-500">{hint}</p>
            <div class="mt-4">{children.map(|c| c())}</div>
        </div>
    }
}

pub const BUTTON: &str = "inline-flex items-center gap-1.5 rounded-md bg-indigo-600 px-3.5 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500 focus:ring-offset-2 disabled:opacity-50";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center gap-1.5 rounded-md bg-white px-3.5 py-2 text-sm font-medium text-slate-700 shadow-sm ring-1 ring-inset ring-slate-300 hover:bg-slate-50";
pub const BUTTON_DANGER: &str = "inline-flex items-center gap-1.5 rounded-md bg-white px-3.5 py-2 text-sm font-medium text-rose-700 shadow-sm ring-1 ring-inset ring-rose-300 hover:bg-rose-50";
pub const INPUT: &str = "block w-full rounded-md border-0 px-3 py-2 text-sm text-slate-900 shadow-sm ring-1 ring-inset ring-slate-300 placeholder:text-slate-400 focus:ring-2 focus:ring-inset focus:ring-indigo-500";
pub const LABEL: &str = "block text-sm font-medium text-slate-700 mb-1";
pub const CARD: &str = "rounded-xl bg-white shadow-sm ring-1 ring-slate-200";

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn textarea_text_cannot_close_the_element() {
        let hostile = "x</textarea><img src=x onerror=alert(1)><textarea>&amp;";
        let html = view! { <textarea inner_html=textarea_text(hostile)></textarea> }.to_html();
        assert_eq!(html.matches("<textarea").count(), 1, "{html}");
        assert_eq!(html.matches("</textarea>").count(), 1, "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(html.contains("&amp;amp;"), "an entity in the text stays literal text: {html}");
    }
}
