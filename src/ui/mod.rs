//! Shared UI pieces every page uses: headers, pills, tables, form errors, empty states and the
//! text formats. It imports no area, so every area's pages can import it.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::error::AppError;

pub mod script;

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
/// scrolls sideways inside its card on a narrow screen, so the page itself never does; the
/// scrolling frame is a named region a keyboard can focus and scroll (`label` names it).
#[component]
pub fn DataTable(testid: &'static str, label: &'static str, columns: Vec<Column>, children: Children) -> impl IntoView {
    view! {
        <div class=format!("{CARD} relative overflow-x-auto {SCROLL_FOCUS}") tabindex="0" role="region" aria-label=label>
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

pub use crate::text::plural;

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

/// User text with its `http(s)://` addresses as links (opened in a new tab, no referrer); any
/// other scheme stays text.
pub fn linkify(text: String) -> impl IntoView {
    let mut parts: Vec<AnyView> = Vec::new();
    let mut plain = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            plain.push(' ');
        }
        let trimmed = word.trim_end_matches(['.', ',', ')', ';', ':']);
        let is_url = (trimmed.starts_with("https://") || trimmed.starts_with("http://")) && trimmed.len() > 8;
        if is_url {
            parts.push(std::mem::take(&mut plain).into_any());
            let (href, shown) = (trimmed.to_string(), trimmed.to_string());
            parts.push(
                view! { <a href=href target="_blank" rel="noopener noreferrer nofollow" class="break-all text-indigo-600 underline hover:text-indigo-500">{shown}</a> }
                    .into_any(),
            );
            plain.push_str(&word[trimmed.len()..]);
        } else {
            plain.push_str(word);
        }
    }
    parts.push(plain.into_any());
    parts
}

pub use crate::text::url_encode;

/// A filter's `<select>` with its label: "any" first, then the options (value, label), the
/// current one selected. Part of a GET form, so filtering works without JavaScript.
#[component]
pub fn FilterSelect(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    any: &'static str,
    options: Vec<(String, String)>,
    selected: String,
) -> impl IntoView {
    view! {
        <div class="min-w-0">
            <label class=LABEL for=id>{label}</label>
            <select id=id name=name class=INPUT>
                <option value="">{any}</option>
                {options.into_iter().map(|(value, text)| {
                    let on = value == selected;
                    view! { <option value=value selected=on>{text}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

/// The current page's query without the `drop` keys and with the `extra` pairs added (`?a=1&b=2`,
/// or empty): links that change one choice keep the page's others (filters, zoom, selection).
pub fn query_string(query: &leptos_router::params::ParamsMap, drop: &[&str], extra: &[(&str, &str)]) -> String {
    let mut parts: Vec<String> = query
        .into_iter()
        .filter(|(k, _)| !drop.contains(&AsRef::<str>::as_ref(k)))
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    parts.extend(extra.iter().map(|(k, v)| format!("{k}={}", url_encode(v))));
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// "2026-11-25 04:31 UTC": absolute, so server and browser render the same text.
pub fn format_time(ms: i64) -> String {
    crate::text::utc(ms)
}

/// Minutes of estimated work (see [`crate::text::minutes`]).
pub fn format_minutes(m: i64) -> String {
    crate::text::minutes(m)
}

/// A duration in milliseconds, as every page writes it (see [`crate::text::Duration`]).
pub fn format_duration(ms: i64) -> String {
    crate::text::Duration(ms).to_string()
}

/// How long ago something happened, `ms` before now: "just now" under a second, else to the
/// second ("3 min 5 s ago").
pub fn format_ago(ms: i64) -> String {
    if ms < 1000 {
        return "just now".into();
    }
    format!("{} ago", format_duration(ms / 1000 * 1000))
}

/// A page's data could not be shown: the error's sentence, what to do next, and (rendered on the
/// server) the error's HTTP status for the whole page, so a missing record is a 404, not a 200.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    // Not for a signed-out visitor (401): the layout is sending them to the login page, and that
    // redirect's status must stand.
    #[cfg(feature = "ssr")]
    if let (Some(resp), Ok(status), true) =
        (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(error.status), error.status != 401)
    {
        resp.set_status(status);
    }
    let hint = match error.status {
        404 => Some("It may have been deleted, or the address is mistyped."),
        403 => Some("Ask an admin for a role that allows this."),
        _ => None,
    };
    view! {
        <div role="alert" class="rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm text-rose-800" data-testid="error-panel" data-status=error.status.to_string()>
            <p class="font-medium">{error.message.clone()}</p>
            {hint.map(|h| view! {
                <p class="mt-1">{h} " " <a href="/" class="font-medium underline">"Go to your start page"</a> "."</p>
            })}
        </div>
    }
}

/// Shows a form's error where the page puts it: the server function failed and redirected back
/// here with the message (`?form_error=`), whether the browser posted the form itself or the page
/// script did it in the background.
#[component]
pub fn FormError(
    /// On a page with several forms: the endpoint of this form's server function, so a
    /// `?form_error=` is shown only by the form that failed (`?form_for=` names it).
    #[prop(optional)]
    form: Option<&'static str>,
) -> impl IntoView {
    let query = use_query_map();
    let message = query.with_untracked(|q| {
        let mine = match (form, q.get("form_for")) {
            (Some(f), Some(failed)) => f == failed,
            _ => true,
        };
        if mine {
            q.get("form_error")
        } else {
            None
        }
    });
    message.map(|m| {
        view! {
            <div role="alert" data-testid="form-error" class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-800">
                {m}
            </div>
        }
    })
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
/// A small link button (pagers).
pub const PAGER: &str = "rounded-md bg-white px-2.5 py-1.5 font-medium text-slate-700 ring-1 ring-inset ring-slate-300 hover:bg-slate-50";
pub const BUTTON_DANGER: &str = "inline-flex items-center gap-1.5 rounded-md bg-white px-3.5 py-2 text-sm font-medium text-rose-700 shadow-sm ring-1 ring-inset ring-rose-300 hover:bg-rose-50";
/// The focus ring of a scrolling frame a keyboard can focus (`tabindex="0"`) to scroll it.
pub const SCROLL_FOCUS: &str = "focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500";

pub const INPUT: &str = "block w-full rounded-md border-0 px-3 py-2 text-sm text-slate-900 shadow-sm ring-1 ring-inset ring-slate-300 placeholder:text-slate-400 focus:ring-2 focus:ring-inset focus:ring-indigo-500";
pub const LABEL: &str = "block text-sm font-medium text-slate-700 mb-1";
pub const CARD: &str = "rounded-xl bg-white shadow-sm ring-1 ring-slate-200";

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn ago_says_just_now_under_a_second_and_counts_whole_seconds() {
        assert_eq!(format_ago(0), "just now");
        assert_eq!(format_ago(999), "just now");
        assert_eq!(format_ago(-5_000), "just now", "a clock a little ahead is not the future");
        assert_eq!(format_ago(1_500), format!("{} ago", format_duration(1_000)));
        assert_eq!(format_ago(185_400), format!("{} ago", format_duration(185_000)));
    }

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
