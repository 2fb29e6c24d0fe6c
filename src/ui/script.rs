//! The page script: the one island on every page, and most of what the browser runs.
//!
//! Pages are server-rendered HTML whose forms and links work without JavaScript (a form posts to
//! its server function, which redirects back with the result or `?form_error=`). This island makes
//! the same pages feel live, without shipping each page's view code to the browser:
//!
//! - **Forms** post in the background; the answer (the page the server redirects to) replaces the
//!   page's regions (`data-region`) in place, keeping the scroll position, instead of a reload.
//!   A form that failed keeps what was typed; the error shows where the page renders it.
//! - **Links** that change only the query of the current page (zoom, a graph step, a pager) are
//!   followed the same way; other links load pages as usual.
//! - **Live updates**: the page names the events that change it (`data-live-kinds`, and
//!   `data-live-subject` to take only its own plan or request); when one arrives over the event
//!   stream the regions are fetched again. The navigation's pending count follows approvals.
//!   An update that arrives while the reader selects text in the page waits until the selection is
//!   let go (the badge says so); folded sections the reader opened stay open across an update.
//! - **Small behaviours** the markup asks for: countdowns (`data-deadline`), tick groups with their
//!   counting bar (`data-ticks`), the graph's keyboard zoom, focus label and Escape to close a step.
//!
//! Listeners are on the document, so they outlive every swap of the regions; islands inside
//! swapped HTML (the item form's pickers) are hydrated as they arrive, forms the reader has typed
//! into (`data-touched`) and elements marked `data-keep` survive a refresh as they are.

use leptos::prelude::*;

use crate::events::model::EventKind;

/// Installs the page behaviours once the WebAssembly has loaded (nothing on the server).
#[island]
pub fn PageScript() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    client::install();
}

/// Fetches the page again and swaps its regions: for an island whose action changed what the
/// rest of the page shows (the new-key form, the key list).
#[cfg(feature = "hydrate")]
pub fn ask_refresh() {
    client::refresh(Scope::All);
}

/// Which regions of the page an event refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every region, the page's content (`main`) too.
    All,
    /// Only the frame's regions (the navigation's pending count), not the page's content.
    Frame,
}

/// The events that change the navigation's pending count and the tab title.
pub const PENDING_KINDS: [EventKind; 2] = [EventKind::ApprovalRequested, EventKind::ApprovalDecided];

/// What an event of `kind` about `subject` refreshes on a page that listens to `page_kinds`
/// about `subjects` (any subject when empty): the page when it is one of its own, the pending
/// count when it is about approvals, nothing else.
pub fn refresh_scope(page_kinds: &[String], subjects: &[String], kind: &str, subject: &str) -> Option<Scope> {
    let mine = page_kinds.iter().any(|k| k == kind) && (subjects.is_empty() || subjects.iter().any(|s| s == subject));
    if mine {
        Some(Scope::All)
    } else if PENDING_KINDS.iter().any(|k| k.as_str() == kind) {
        Some(Scope::Frame)
    } else {
        None
    }
}

/// The tick groups' sentences, shared by the server's first rendering and the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickKind {
    /// Backlog items to plan together.
    Plan,
    /// Pending requests of one tool to decide together.
    Decide,
}

impl TickKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TickKind::Plan => "plan",
            TickKind::Decide => "decide",
        }
    }

    pub fn parse(s: &str) -> Option<TickKind> {
        match s {
            "plan" => Some(TickKind::Plan),
            "decide" => Some(TickKind::Decide),
            _ => None,
        }
    }

    /// What the bar says: `ticked` boxes of `total`, the first ticked box's group (its tool).
    pub fn sentence(self, ticked: usize, total: usize, group: Option<&str>) -> String {
        use crate::text::plural;
        match (self, group) {
            (TickKind::Plan, _) if ticked == 0 => format!("None of {} selected", plural(total, "plannable item")),
            (TickKind::Plan, _) => format!("{ticked} of {} selected", plural(total, "plannable item")),
            (TickKind::Decide, None) => "Tick requests of one tool to decide them together.".to_string(),
            (TickKind::Decide, Some(tool)) => format!("{} of {tool} selected", plural(ticked, "request")),
        }
    }
}

/// How soon a deadline falls, as countdowns and inbox cards colour it: (border class, text
/// classes); red in the last five minutes, amber in the last half hour.
pub fn urgency(left_ms: i64) -> (&'static str, &'static str) {
    if left_ms < 5 * 60_000 {
        ("border-l-rose-500", "font-semibold text-rose-700")
    } else if left_ms < 30 * 60_000 {
        ("border-l-amber-400", "font-medium text-amber-800")
    } else {
        ("border-l-slate-300", "text-slate-600")
    }
}

/// A countdown's text: "4m 10s left", or "expiring…" once the time is up.
pub fn time_left(left_ms: i64) -> String {
    if left_ms > 0 {
        format!("{} left", crate::text::Duration(left_ms / 1000 * 1000))
    } else {
        "expiring…".to_string()
    }
}

/// The plan graph's zoom levels, smallest first ("fit" shows the whole plan at the frame's width).
pub const ZOOMS: [&str; 6] = ["fit", "25", "50", "75", "100", "150"];

/// The zoom the key `key` asks for from `current`: `+` and `-` step, `0` fits.
pub fn zoom_for_key(current: &str, key: &str) -> Option<&'static str> {
    let now = ZOOMS.iter().position(|z| *z == current).unwrap_or(4);
    match key {
        "+" | "=" => ZOOMS.get(now + 1).copied(),
        "-" | "_" => now.checked_sub(1).and_then(|i| ZOOMS.get(i)).copied(),
        "0" => Some("fit"),
        _ => None,
    }
}

/// The address to show after a form's answer: the page without the one-off `form_error` and
/// `form_for` (the message is on the page; a reload or the next form must not repeat it).
pub fn without_form_error(url: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, q),
        None => return url.to_string(),
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let kept: Vec<&str> =
        query.split('&').filter(|p| !p.is_empty() && !p.starts_with("form_error=") && !p.starts_with("form_for=")).collect();
    let mut out = path.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The server function a failed form posted to, from the answer's address (`?form_for=`).
pub fn failed_form(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|p| p.strip_prefix("form_for="))
}

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::{Cell, RefCell};

    use leptos::task::spawn_local;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        Document, DomParser, Element, Event, EventSource, FormData, HtmlElement, HtmlFormElement, HtmlInputElement, KeyboardEvent,
        MessageEvent, MouseEvent, Request, RequestInit, Response, SubmitEvent, SupportedType, UrlSearchParams,
    };

    use super::{failed_form, refresh_scope, time_left, urgency, without_form_error, zoom_for_key, Scope, TickKind, PENDING_KINDS};

    thread_local! {
        /// Whether the event stream is connected (painted on every `data-testid=live` badge).
        static LIVE: Cell<bool> = const { Cell::new(false) };
        /// The server's clock minus the browser's, from the page's `data-server-now`.
        static OFFSET: Cell<f64> = const { Cell::new(0.0) };
        /// A refresh is running / another one was asked for meanwhile (and of which scope).
        static REFRESHING: Cell<bool> = const { Cell::new(false) };
        static AGAIN: Cell<Option<Scope>> = const { Cell::new(None) };
        static STREAM: RefCell<Option<EventSource>> = const { RefCell::new(None) };
        /// Counts the swaps made by forms and visits: a refresh that started before one of them
        /// brings older news and is dropped.
        static LANDED: Cell<u64> = const { Cell::new(0) };
        /// A live update that arrived while the reader was selecting text in the page: it lands
        /// once the selection is let go (swapping the regions would drop it).
        static HELD: Cell<Option<Scope>> = const { Cell::new(None) };
    }

    /// The wider of two scopes (a page refresh covers the frame's).
    fn wider(a: Option<Scope>, b: Scope) -> Scope {
        match a {
            Some(Scope::All) => Scope::All,
            _ => b,
        }
    }

    /// The reader has text selected inside one of the regions a refresh of `scope` replaces.
    fn selecting(scope: Scope) -> bool {
        let Some(sel) = web_sys::window().and_then(|w| w.get_selection().ok().flatten()) else { return false };
        if sel.is_collapsed() {
            return false;
        }
        let node = sel.anchor_node();
        let el = node.as_ref().and_then(|n| n.dyn_ref::<Element>().cloned().or_else(|| n.parent_element()));
        let region = el.and_then(|e| e.closest("[data-region]").ok().flatten()).and_then(|r| r.get_attribute("data-region"));
        region.is_some_and(|name| scope == Scope::All || name != "main")
    }

    /// Holds a live update while the reader selects text; false when it may land now.
    fn hold_if_selecting(scope: Scope) -> bool {
        if !selecting(scope) {
            return false;
        }
        HELD.set(Some(wider(HELD.get(), scope)));
        paint_live();
        true
    }

    fn document() -> Document {
        web_sys::window().and_then(|w| w.document()).expect("a page has a document")
    }

    fn location_href() -> String {
        web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default()
    }

    fn listen(target: &web_sys::EventTarget, kind: &str, f: impl Fn(Event) + 'static) {
        let closure = Closure::<dyn Fn(Event)>::new(f);
        let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        // Listeners on the document and window live as long as the page.
        closure.forget();
    }

    fn all(root: &impl AsRef<web_sys::Node>, selector: &str) -> Vec<Element> {
        let node: &web_sys::Node = root.as_ref();
        let list = if let Some(d) = node.dyn_ref::<Document>() {
            d.query_selector_all(selector).ok()
        } else {
            node.dyn_ref::<Element>().and_then(|e| e.query_selector_all(selector).ok())
        };
        let Some(list) = list else { return vec![] };
        (0..list.length()).filter_map(|i| list.item(i)).filter_map(|n| n.dyn_into::<Element>().ok()).collect()
    }

    pub fn install() {
        let doc = document();
        listen(&doc, "submit", on_submit);
        listen(&doc, "click", on_click);
        listen(&doc, "change", |e| {
            if let Some(t) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) {
                touch(&t);
                if t.has_attribute("data-tick") {
                    paint_ticks();
                }
            }
        });
        listen(&doc, "input", |e| {
            if let Some(t) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) {
                touch(&t);
            }
        });
        listen(&doc, "keydown", on_keydown);
        listen(&doc, "focusin", |e| paint_graph_focus(e.target().and_then(|t| t.dyn_into::<Element>().ok())));
        listen(&doc, "focusout", |_| paint_graph_focus(None));
        listen(&doc, "selectionchange", |_| {
            if HELD.get().is_some_and(|scope| !selecting(scope)) {
                if let Some(scope) = HELD.take() {
                    paint_live();
                    refresh(scope);
                }
            }
        });
        if let Some(w) = web_sys::window() {
            // Back and forward between addresses this script pushed: the regions follow.
            listen(&w, "popstate", |_| spawn_local(async { visit(location_href(), History::Keep).await }));
            let tick = Closure::<dyn Fn()>::new(paint_deadlines);
            let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), 1000);
            tick.forget();
        }
        connect_live();
        after_swap();
        if let Some(app) = doc.get_element_by_id("app") {
            // Tests (and the benchmark) wait for this before using the page's script.
            let _ = app.set_attribute("data-hydrated", "true");
        }
    }

    /// Marks the form an input belongs to as typed into: a refresh keeps it as it is.
    fn touch(input: &Element) {
        let form =
            input.dyn_ref::<HtmlInputElement>().and_then(|i| i.form()).map(Element::from).or_else(|| input.closest("form").ok().flatten());
        if let Some(form) = form {
            let _ = form.set_attribute("data-touched", "");
        }
    }

    // ---- forms ----------------------------------------------------------------------------

    fn on_submit(e: Event) {
        if e.default_prevented() {
            return;
        }
        let Some(form) = e.target().and_then(|t| t.dyn_into::<HtmlFormElement>().ok()) else { return };
        if form.has_attribute("data-native") {
            return;
        }
        let submitter = e.dyn_ref::<SubmitEvent>().and_then(|s| s.submitter());
        // Attributes, not the `action` / `method` properties: a field named "action" (the audit
        // filter) shadows the property. A button's own `formaction` wins, as in the browser.
        let action =
            submitter.as_ref().and_then(|b| b.get_attribute("formaction")).or_else(|| form.get_attribute("action")).unwrap_or_default();
        let action = absolute(&action);
        let get = !form.get_attribute("method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
        if get && !same_page(&action) {
            return;
        }
        e.prevent_default();
        if form.has_attribute("aria-busy") {
            return; // already on its way
        }
        let Ok(data) = FormData::new_with_form(&form) else { return };
        if let Some(name) = submitter.as_ref().and_then(|b| b.get_attribute("name")) {
            let value = submitter.as_ref().and_then(|b| b.get_attribute("value")).unwrap_or_default();
            let _ = data.append_with_str(&name, &value);
        }
        let Ok(params) = UrlSearchParams::new_with_str_sequence_sequence(&data) else { return };
        if get {
            let query: String = params.to_string().into();
            let base = action.split(['?', '#']).next().unwrap_or_default();
            let url = if query.is_empty() { base.to_string() } else { format!("{base}?{query}") };
            spawn_local(async move { visit(url, History::Push).await });
            return;
        }
        let _ = form.set_attribute("aria-busy", "true");
        if let Some(b) = &submitter {
            let _ = b.set_attribute("disabled", "");
        }
        spawn_local(async move {
            let answer = fetch_page(&action, Some(&params)).await;
            let _ = form.remove_attribute("aria-busy");
            if let Some(b) = &submitter {
                let _ = b.remove_attribute("disabled");
            }
            match answer {
                Ok((url, html)) => land(&url, &html, Some(&form), History::Replace),
                Err(message) => alert(&message),
            }
        });
    }

    /// `href` as an absolute address, resolved against the current page.
    fn absolute(href: &str) -> String {
        web_sys::Url::new_with_base(href, &location_href()).map(|u| u.href()).unwrap_or_else(|_| href.to_string())
    }

    /// Whether `url` is the current page, whatever its query.
    fn same_page(url: &str) -> bool {
        let path = |u: &str| u.split(['?', '#']).next().unwrap_or_default().to_string();
        path(url) == path(&location_href())
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum History {
        Push,
        Replace,
        Keep,
    }

    /// Follows a link to the current page with another query: fetch it and swap the regions.
    async fn visit(url: String, history: History) {
        match fetch_page(&url, None).await {
            Ok((final_url, html)) => land(&final_url, &html, None, history),
            Err(message) => alert(&message),
        }
    }

    /// GETs (or POSTs `body` to) `url` as a browser would for a page; the final address after
    /// redirects and the HTML, or a sentence for the reader.
    async fn fetch_page(url: &str, body: Option<&UrlSearchParams>) -> Result<(String, String), String> {
        let init = RequestInit::new();
        let headers = web_sys::Headers::new().map_err(|_| "The browser refused the request.".to_string())?;
        let _ = headers.set("Accept", "text/html");
        init.set_headers(&headers);
        if let Some(body) = body {
            init.set_method("POST");
            init.set_body(body);
        }
        let request = Request::new_with_str_and_init(url, &init).map_err(|_| "The browser refused the request.".to_string())?;
        let window = web_sys::window().ok_or_else(String::new)?;
        let response: Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(|_| "The server could not be reached; check the connection and try again.".to_string())?
            .unchecked_into();
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let html = response.headers().get("content-type").ok().flatten().is_some_and(|c| c.contains("text/html"));
        if !html {
            // A server function's own error (JSON with a message), or anything else.
            let message = js_sys::JSON::parse(&text)
                .ok()
                .and_then(|v| js_sys::Reflect::get(&v, &JsValue::from_str("message")).ok())
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| format!("The server answered {}; reload the page and try again.", response.status()));
            return Err(message);
        }
        Ok((response.url(), text))
    }

    /// Shows the server's answer: on this page, its regions replace ours; on another page, the
    /// browser goes there.
    fn land(url: &str, html: &str, submitted: Option<&HtmlFormElement>, history: History) {
        LANDED.set(LANDED.get() + 1);
        let keep = submitted.is_some();
        if !same_page(url) || !swap(html, Scope::All, submitted.map(|f| (f, failed_form(url))), keep) {
            let _ = web_sys::window().map(|w| w.location().assign(url));
            return;
        }
        if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
            let shown = without_form_error(url);
            let _ = match history {
                History::Push => h.push_state_with_url(&JsValue::NULL, "", Some(&shown)),
                History::Replace => h.replace_state_with_url(&JsValue::NULL, "", Some(&shown)),
                History::Keep => Ok(()),
            };
        }
    }

    /// A message when the server could not answer with a page.
    fn alert(message: &str) {
        let doc = document();
        if let Some(el) = doc.get_element_by_id("page-alert") {
            el.set_text_content(Some(message));
            let _ = el.remove_attribute("hidden");
        }
    }

    /// Replaces this page's regions with those of `html`. The submitted form when it failed and
    /// `data-keep` elements stay as they are; with `keep` (a refresh or a form's answer, not a
    /// visit to another query) forms the reader typed into stay too and ticked boxes stay ticked.
    /// Islands in the new HTML are hydrated. False when `html` has no region to take (another
    /// kind of page).
    fn swap(html: &str, scope: Scope, submitted: Option<(&HtmlFormElement, Option<&str>)>, keep: bool) -> bool {
        let doc = document();
        let Ok(parser) = DomParser::new() else { return false };
        let Ok(fresh) = parser.parse_from_string(html, SupportedType::TextHtml) else { return false };
        if fresh.query_selector("[data-region=main]").ok().flatten().is_none()
            || doc.query_selector("[data-region=main]").ok().flatten().is_none()
        {
            return false;
        }
        let _ = document().get_element_by_id("page-alert").map(|a| a.set_attribute("hidden", ""));
        // What the reader did that the new HTML does not know.
        let focused = doc.active_element().and_then(|a| {
            a.get_attribute("id")
                .map(|id| format!("#{id}"))
                .or_else(|| a.get_attribute("data-testid").map(|t| format!("[data-testid=\"{t}\"]")))
        });
        let ticked: Vec<(String, String, bool)> = all(&doc, "input[type=checkbox][data-tick]")
            .into_iter()
            .filter_map(|e| e.dyn_into::<HtmlInputElement>().ok())
            .filter(|i| keep && i.checked() != i.default_checked())
            .map(|i| (i.name(), i.value(), i.checked()))
            .collect();
        // Forms typed into stay as they are (with their islands' state), but not the submitted
        // one: it starts afresh when it worked, and when it failed its new rendering (with the
        // error) takes what was typed.
        let kept_forms: Vec<HtmlFormElement> = all(&doc, "form[data-touched]")
            .into_iter()
            .filter_map(|f| f.dyn_into::<HtmlFormElement>().ok())
            .filter(|f| keep && submitted.is_none_or(|(s, _)| s != f))
            .collect();
        let failed_submit = submitted.and_then(|(s, failed)| failed.is_some_and(|e| endpoint_of(s) == e).then(|| s.clone()));
        // Folded sections the reader opened (or closed) stay so, but not the one holding the
        // submitted form: its answer decides.
        let folds: Vec<(String, bool)> = if keep {
            all(&doc, "[data-region]")
                .iter()
                .flat_map(details_keys)
                .filter(|(d, _)| submitted.is_none_or(|(f, _)| !d.contains(Some(f))))
                .map(|(d, key)| (key, d.has_attribute("open")))
                .collect()
        } else {
            vec![]
        };
        for region in all(&fresh, "[data-region]") {
            let name = region.get_attribute("data-region").unwrap_or_default();
            if scope == Scope::Frame && name == "main" {
                continue;
            }
            let Some(old) = doc.query_selector(&format!("[data-region=\"{name}\"]")).ok().flatten() else { continue };
            let Ok(new) = doc.import_node_with_deep(&region, true) else { continue };
            let Ok(new) = new.dyn_into::<Element>() else { continue };
            // The islands that arrive with the new HTML (not those of kept elements).
            let arriving = all(&new, "leptos-island");
            for form in &kept_forms {
                if !old.contains(Some(form)) {
                    continue;
                }
                let sig = form_signature(form);
                if let Some(twin) =
                    all(&new, "form").into_iter().find(|f| f.dyn_ref::<HtmlFormElement>().is_some_and(|f| form_signature(f) == sig))
                {
                    let _ = twin.replace_with_with_node_1(form);
                }
            }
            for keep in all(&old, "[data-keep]") {
                let key = keep.get_attribute("data-keep").unwrap_or_default();
                if let Some(twin) = new.query_selector(&format!("[data-keep=\"{key}\"]")).ok().flatten() {
                    let _ = twin.replace_with_with_node_1(&keep);
                }
            }
            let twin_of_failed = failed_submit.as_ref().filter(|f| old.contains(Some(f))).and_then(|f| {
                let sig = form_signature(f);
                all(&new, "form").into_iter().filter_map(|t| t.dyn_into::<HtmlFormElement>().ok()).find(|t| form_signature(t) == sig)
            });
            let _ = old.replace_with_with_node_1(&new);
            for (d, key) in details_keys(&new) {
                match folds.iter().find(|(k, _)| *k == key) {
                    Some((_, true)) => {
                        let _ = d.set_attribute("open", "");
                    }
                    Some((_, false)) => {
                        let _ = d.remove_attribute("open");
                    }
                    None => {}
                }
            }
            hydrate_islands(arriving.into_iter().filter(|i| i.is_connected()));
            if let (Some(from), Some(to)) = (&failed_submit, twin_of_failed) {
                copy_values(from, &to);
            }
        }
        doc.set_title(&fresh.title());
        for (name, value, checked) in ticked {
            for b in all(&doc, "input[type=checkbox][data-tick]").into_iter().filter_map(|e| e.dyn_into::<HtmlInputElement>().ok()) {
                if b.name() == name && b.value() == value && !b.disabled() {
                    b.set_checked(checked);
                }
            }
        }
        if let Some(el) = focused.and_then(|sel| doc.query_selector(&sel).ok().flatten()) {
            let _ = el.dyn_ref::<HtmlElement>().map(|e| e.focus());
        }
        after_swap();
        true
    }

    /// The `<details>` of a region, each with a key that finds its twin in a new rendering: the
    /// region, its `data-testid` or summary text, and its place among those with the same.
    fn details_keys(region: &Element) -> Vec<(Element, String)> {
        let name = region.get_attribute("data-region").unwrap_or_default();
        let mut seen: Vec<String> = vec![];
        all(region, "details")
            .into_iter()
            .map(|d| {
                let what = d.get_attribute("data-testid").unwrap_or_else(|| {
                    d.query_selector("summary").ok().flatten().and_then(|s| s.text_content()).unwrap_or_default().trim().to_string()
                });
                let nth = seen.iter().filter(|w| **w == what).count();
                seen.push(what.clone());
                (d, format!("{name}|{what}|{nth}"))
            })
            .collect()
    }

    /// The last part of a form's action: the server function it posts to.
    fn endpoint_of(form: &HtmlFormElement) -> String {
        let action = form.get_attribute("action").unwrap_or_default();
        action.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
    }

    /// What tells a form from its twin in new HTML: where it posts and its hidden fields (the
    /// record it acts on), the token aside.
    fn form_signature(form: &HtmlFormElement) -> String {
        let mut sig = form.get_attribute("action").unwrap_or_default();
        for input in all(form, "input[type=hidden]").into_iter().filter_map(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            if input.name() != "csrf" {
                sig.push_str(&format!("|{}={}", input.name(), input.value()));
            }
        }
        sig
    }

    /// What was typed into a form that failed, into its new rendering: each named field by name
    /// (boxes by name and value), announced with the events a reader's typing fires so islands
    /// (the pickers) take it too.
    fn copy_values(from: &HtmlFormElement, to: &HtmlFormElement) {
        let fields = |f: &HtmlFormElement| all(f, "input[name], textarea[name], select[name]");
        let new_fields = fields(to);
        for old in fields(from) {
            let name = old.get_attribute("name").unwrap_or_default();
            let kind = old.get_attribute("type").unwrap_or_default();
            // A failed password is typed again, never put back.
            if kind == "hidden" || kind == "password" || name == "csrf" {
                continue;
            }
            let Some(twin) = new_fields.iter().find(|n| {
                n.get_attribute("name").as_deref() == Some(name.as_str())
                    && (!matches!(kind.as_str(), "checkbox" | "radio") || n.get_attribute("value") == old.get_attribute("value"))
            }) else {
                continue;
            };
            let event = if let (Some(o), Some(n)) = (old.dyn_ref::<HtmlInputElement>(), twin.dyn_ref::<HtmlInputElement>()) {
                if matches!(kind.as_str(), "checkbox" | "radio") {
                    n.set_checked(o.checked());
                    "change"
                } else {
                    n.set_value(&o.value());
                    "input"
                }
            } else if let (Some(o), Some(n)) =
                (old.dyn_ref::<web_sys::HtmlTextAreaElement>(), twin.dyn_ref::<web_sys::HtmlTextAreaElement>())
            {
                n.set_value(&o.value());
                "input"
            } else if let (Some(o), Some(n)) = (old.dyn_ref::<web_sys::HtmlSelectElement>(), twin.dyn_ref::<web_sys::HtmlSelectElement>()) {
                n.set_value(&o.value());
                "change"
            } else {
                continue;
            };
            let init = web_sys::EventInit::new();
            init.set_bubbles(true);
            if let Ok(e) = Event::new_with_event_init_dict(event, &init) {
                let _ = twin.dispatch_event(&e);
            }
        }
    }

    /// Islands that arrived in swapped HTML (the first ones were hydrated with the page).
    fn hydrate_islands(islands: impl Iterator<Item = Element>) {
        let Some(window) = web_sys::window() else { return };
        let Ok(hydrate) = js_sys::Reflect::get(&window, &JsValue::from_str("__hydrateIsland")) else { return };
        let Ok(hydrate) = hydrate.dyn_into::<js_sys::Function>() else { return };
        for island in islands {
            // Nested islands are hydrated by their parent.
            if island.parent_element().and_then(|p| p.closest("leptos-island").ok().flatten()).is_some() {
                continue;
            }
            let id = island.get_attribute("data-component").unwrap_or_default();
            let _ = hydrate.call2(&JsValue::NULL, &island, &JsValue::from_str(&id));
        }
    }

    /// What every new rendering of the regions needs: clocks, counts, the live badges.
    fn after_swap() {
        let doc = document();
        if let Some(now) = doc.query_selector("[data-server-now]").ok().flatten().and_then(|e| e.get_attribute("data-server-now")) {
            if let Ok(server) = now.parse::<f64>() {
                OFFSET.set(server - js_sys::Date::now());
            }
        }
        paint_deadlines();
        paint_ticks();
        paint_live();
    }

    // ---- live updates -------------------------------------------------------------------------

    fn connect_live() {
        let doc = document();
        let mut kinds: Vec<String> = vec![];
        let mut subjects: Vec<String> = vec![];
        for badge in all(&doc, "[data-live-kinds]") {
            kinds.extend(
                badge.get_attribute("data-live-kinds").unwrap_or_default().split(',').filter(|k| !k.is_empty()).map(str::to_string),
            );
            if let Some(s) = badge.get_attribute("data-live-subject").filter(|s| !s.is_empty()) {
                subjects.push(s);
            }
        }
        let page_kinds = kinds.clone();
        let frame = doc.query_selector("[data-region^=pending]").ok().flatten().is_some();
        if frame {
            kinds.extend(PENDING_KINDS.iter().map(|k| k.as_str().to_string()));
        }
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            return;
        }
        let Ok(source) = EventSource::new(&format!("/api/events?types={}", kinds.join(","))) else { return };
        for kind in &kinds {
            let page_kinds = page_kinds.clone();
            let subjects = subjects.clone();
            let kind_name = kind.clone();
            let handler = Closure::<dyn Fn(MessageEvent)>::new(move |e: MessageEvent| {
                let subject = e
                    .data()
                    .as_string()
                    .and_then(|d| js_sys::JSON::parse(&d).ok())
                    .and_then(|v| js_sys::Reflect::get(&v, &JsValue::from_str("subject")).ok())
                    .and_then(|s| s.as_string())
                    .unwrap_or_default();
                if let Some(scope) = refresh_scope(&page_kinds, &subjects, &kind_name, &subject) {
                    refresh(scope);
                }
            });
            let _ = source.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
            handler.forget();
        }
        let opened = Closure::<dyn Fn()>::new(|| {
            LIVE.set(true);
            paint_live();
        });
        source.set_onopen(Some(opened.as_ref().unchecked_ref()));
        opened.forget();
        let errored = Closure::<dyn Fn()>::new(|| {
            LIVE.set(false);
            paint_live();
        });
        // The browser reconnects by itself, with the last event's id.
        source.set_onerror(Some(errored.as_ref().unchecked_ref()));
        errored.forget();
        STREAM.with(|s| *s.borrow_mut() = Some(source));
    }

    /// Fetches the page again and swaps `scope`'s regions; one at a time, the last ask wins.
    pub(super) fn refresh(scope: Scope) {
        if REFRESHING.get() {
            AGAIN.set(Some(wider(AGAIN.get(), scope)));
            return;
        }
        if hold_if_selecting(scope) {
            return;
        }
        REFRESHING.set(true);
        spawn_local(async move {
            let (asked, landed) = (location_href(), LANDED.get());
            match fetch_page(&asked, None).await {
                // A form's answer or another query landed meanwhile: it is newer than this
                // answer, which is dropped (and the page fetched once more, to be sure).
                Ok(_) if location_href() != asked || LANDED.get() != landed => {
                    AGAIN.set(Some(wider(AGAIN.get(), scope)));
                }
                Ok((url, html)) if same_page(&url) => {
                    if !hold_if_selecting(scope) {
                        swap(&html, scope, None, true);
                    }
                }
                // Redirected away: the session ended (to the sign-in page) or the record went.
                Ok(_) => {
                    alert("This page can no longer be refreshed (signed out, or the record is gone): reload it to see where things stand.")
                }
                Err(message) => alert(&message),
            }
            REFRESHING.set(false);
            if let Some(next) = AGAIN.take() {
                refresh(next);
            }
        });
    }

    fn paint_live() {
        let (state, dot, text) = match (LIVE.get(), HELD.get().is_some()) {
            (_, true) => ("held", "h-2 w-2 rounded-full bg-amber-500", "Update waiting: let go of the selected text"),
            (true, false) => ("true", "h-2 w-2 rounded-full bg-emerald-500 animate-pulse", "Live"),
            (false, false) => ("false", "h-2 w-2 rounded-full bg-slate-300", "Offline"),
        };
        for badge in all(&document(), "[data-testid=live]") {
            let _ = badge.set_attribute("data-live", state);
            if let Some(d) = badge.query_selector("[data-live-dot]").ok().flatten() {
                let _ = d.set_attribute("class", dot);
            }
            if let Some(t) = badge.query_selector("[data-live-text]").ok().flatten() {
                t.set_text_content(Some(text));
            }
        }
    }

    // ---- countdowns ---------------------------------------------------------------------------

    fn paint_deadlines() {
        let now = js_sys::Date::now() + OFFSET.get();
        for el in all(&document(), "[data-deadline]") {
            let Some(deadline) = el.get_attribute("data-deadline").and_then(|d| d.parse::<f64>().ok()) else { continue };
            let left = (deadline - now) as i64;
            let (border, text) = urgency(left);
            if el.has_attribute("data-deadline-border") {
                let list = el.class_list();
                let _ = list.remove_3("border-l-rose-500", "border-l-amber-400", "border-l-slate-300");
                let _ = list.add_1(border);
            } else {
                let _ = el.set_attribute("class", &format!("tabular-nums {text}"));
                el.set_text_content(Some(&time_left(left)));
            }
        }
    }

    // ---- tick groups --------------------------------------------------------------------------

    fn paint_ticks() {
        for group in all(&document(), "[data-ticks]") {
            let Some(kind) = group.get_attribute("data-ticks").as_deref().and_then(TickKind::parse) else { continue };
            let boxes: Vec<HtmlInputElement> = all(&group, "input[data-tick]").into_iter().filter_map(|e| e.dyn_into().ok()).collect();
            let total = group.get_attribute("data-ticks-total").and_then(|t| t.parse().ok()).unwrap_or(boxes.len());
            let ticked: Vec<&HtmlInputElement> = boxes.iter().filter(|b| b.checked()).collect();
            let tool = ticked.first().and_then(|b| b.get_attribute("data-group"));
            if kind == TickKind::Decide {
                for b in &boxes {
                    let other = tool.as_ref().is_some_and(|t| b.get_attribute("data-group").as_ref() != Some(t));
                    b.set_disabled(other);
                    b.set_title(if other { "A bulk decision takes requests of one tool" } else { "Select for a bulk decision" });
                }
            }
            if let Some(label) = group.query_selector("[data-tick-label]").ok().flatten() {
                label.set_text_content(Some(&kind.sentence(ticked.len(), total, tool.as_deref())));
            }
            for button in all(&group, "[data-tick-submit]") {
                if ticked.is_empty() {
                    let _ = button.set_attribute("disabled", "");
                } else {
                    let _ = button.remove_attribute("disabled");
                }
            }
            for clear in all(&group, "[data-tick-none]") {
                if ticked.is_empty() {
                    let _ = clear.set_attribute("hidden", "");
                } else {
                    let _ = clear.remove_attribute("hidden");
                }
            }
        }
    }

    // ---- clicks and keys ----------------------------------------------------------------------

    fn on_click(e: Event) {
        let Some(mouse) = e.dyn_ref::<MouseEvent>() else { return };
        if e.default_prevented() || mouse.button() != 0 || mouse.ctrl_key() || mouse.meta_key() || mouse.shift_key() || mouse.alt_key() {
            return;
        }
        let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
        if let Some(all_link) = target.closest("[data-tick-all]").ok().flatten() {
            e.prevent_default();
            tick_all(&all_link, true);
            return;
        }
        if let Some(none) = target.closest("[data-tick-none]").ok().flatten() {
            e.prevent_default();
            tick_all(&none, false);
            return;
        }
        let Some(link) = target.closest("a[href]").ok().flatten() else { return };
        if link.has_attribute("target") || link.has_attribute("download") || link.has_attribute("data-native") {
            return;
        }
        // An SVG link's `href` property is an animated string; its attribute is what was written.
        let href = link.get_attribute("href").unwrap_or_default();
        let Ok(url) = web_sys::Url::new_with_base(&href, &location_href()) else { return };
        if let Some(step) = link.get_attribute("data-step") {
            // A graph box keeps the page's other choices (zoom, view, filters); its plain
            // `?step=` link, for pages without the script, cannot.
            if let Ok(here) = web_sys::Url::new(&location_href()) {
                here.search_params().set("step", &step);
                here.set_hash("");
                url.set_search(&here.search());
            }
        }
        let url = url.href();
        if same_page(&url) && url.split('#').next() != location_href().split('#').next() {
            e.prevent_default();
            spawn_local(async move { visit(url, History::Push).await });
        }
    }

    fn tick_all(control: &Element, on: bool) {
        let Some(group) = control.closest("[data-ticks]").ok().flatten() else { return };
        for b in all(&group, "input[data-tick]").into_iter().filter_map(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            if !b.disabled() || !on {
                b.set_checked(on);
            }
        }
        paint_ticks();
    }

    fn on_keydown(e: Event) {
        let Some(key) = e.dyn_ref::<KeyboardEvent>() else { return };
        if key.ctrl_key() || key.meta_key() || key.alt_key() {
            return;
        }
        let target = e.target().and_then(|t| t.dyn_into::<Element>().ok());
        let typing = target.as_ref().is_some_and(|t| matches!(t.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if key.key() == "Escape" && !typing {
            if let Some(close) = document().query_selector("[data-testid=close-step]").ok().flatten() {
                if let Some(href) = close.get_attribute("href") {
                    e.prevent_default();
                    let url = web_sys::Url::new_with_base(&href, &location_href()).map(|u| u.href()).unwrap_or(href);
                    spawn_local(async move { visit(url, History::Push).await });
                }
            }
            return;
        }
        let Some(frame) = target.and_then(|t| t.closest("[data-testid=graph-frame]").ok().flatten()) else { return };
        let _ = frame;
        let doc = document();
        let current = doc
            .query_selector("[data-zoom][aria-current=true]")
            .ok()
            .flatten()
            .and_then(|a| a.get_attribute("data-zoom"))
            .unwrap_or_else(|| "100".to_string());
        let Some(next) = zoom_for_key(&current, &key.key()) else { return };
        let Some(link) = doc.query_selector(&format!("[data-zoom=\"{next}\"]")).ok().flatten() else { return };
        let Some(href) = link.get_attribute("href") else { return };
        e.prevent_default();
        let url = web_sys::Url::new_with_base(&href, &location_href()).map(|u| u.href()).unwrap_or(href);
        spawn_local(async move { visit(url, History::Push).await });
    }

    /// The focused graph box's full label, spelled out under the graph.
    fn paint_graph_focus(target: Option<Element>) {
        let Some(line) = document().query_selector("[data-testid=graph-focus]").ok().flatten() else { return };
        let label = target
            .and_then(|t| t.closest("a[data-step]").ok().flatten())
            .and_then(|a| a.query_selector("title").ok().flatten())
            .and_then(|t| t.text_content());
        line.set_text_content(label.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_address_drops_the_one_off_error() {
        assert_eq!(without_form_error("http://h/plans/3?zoom=50&form_error=No%20way&form_for=execute_plan"), "http://h/plans/3?zoom=50");
        assert_eq!(without_form_error("http://h/approvals?form_error=x&form_for=y"), "http://h/approvals");
        assert_eq!(without_form_error("http://h/plans/3?step=a#step"), "http://h/plans/3?step=a#step");
        assert_eq!(without_form_error("http://h/plans/3"), "http://h/plans/3");
        assert_eq!(failed_form("http://h/x?a=1&form_error=no&form_for=decide_approval"), Some("decide_approval"));
        assert_eq!(failed_form("http://h/x?a=1"), None);
    }

    #[test]
    fn a_page_refreshes_on_its_own_events_and_the_frame_on_approvals() {
        let plan_kinds = vec!["plan.ready".to_string(), "step.started".to_string()];
        let plan_12 = vec!["plan:12".to_string()];
        assert_eq!(refresh_scope(&plan_kinds, &plan_12, "plan.ready", "plan:12"), Some(Scope::All));
        assert_eq!(refresh_scope(&plan_kinds, &plan_12, "plan.ready", "plan:1"), None, "plan 1's events are not plan 12's");
        assert_eq!(refresh_scope(&plan_kinds, &plan_12, "approval.decided", "approval:1"), Some(Scope::Frame), "the pending count follows");
        assert_eq!(refresh_scope(&plan_kinds, &[], "step.started", "plan:3"), Some(Scope::All), "a list takes every subject");
        assert_eq!(refresh_scope(&[], &[], "approval.requested", "approval:4"), Some(Scope::Frame));
        assert_eq!(refresh_scope(&[], &[], "plan.ready", "plan:4"), None);
    }

    #[test]
    fn zoom_keys_step_through_the_levels_and_stop_at_the_ends() {
        assert_eq!(zoom_for_key("100", "+"), Some("150"));
        assert_eq!(zoom_for_key("150", "+"), None);
        assert_eq!(zoom_for_key("fit", "-"), None);
        assert_eq!(zoom_for_key("50", "-"), Some("25"));
        assert_eq!(zoom_for_key("75", "0"), Some("fit"));
        assert_eq!(zoom_for_key("odd", "+"), Some("150"), "an unknown zoom counts as 100 %");
        assert_eq!(zoom_for_key("100", "x"), None);
    }

    #[test]
    fn tick_sentences_say_how_many_of_what() {
        assert_eq!(TickKind::Plan.sentence(0, 3, None), "None of 3 plannable items selected");
        assert_eq!(TickKind::Plan.sentence(2, 3, None), "2 of 3 plannable items selected");
        assert_eq!(TickKind::Decide.sentence(0, 5, None), "Tick requests of one tool to decide them together.");
        assert_eq!(TickKind::Decide.sentence(2, 5, Some("deploy:prod")), "2 requests of deploy:prod selected");
        assert_eq!(TickKind::parse(TickKind::Decide.as_str()), Some(TickKind::Decide));
    }

    #[test]
    fn countdowns_and_urgency() {
        assert_eq!(time_left(61_500), "1 min 01 s left", "whole seconds");
        assert_eq!(time_left(0), "expiring…");
        assert_eq!(urgency(4 * 60_000).0, "border-l-rose-500");
        assert_eq!(urgency(20 * 60_000).0, "border-l-amber-400");
        assert_eq!(urgency(2 * 3_600_000).0, "border-l-slate-300");
    }
}
