//! Live updates: listens to the server's event stream (`/api/events`, authenticated by the session
//! cookie) and calls back on the named events, so pages refresh what changed without a reload.
//! On the server (and before hydration) this does nothing; pages are complete without it.

use leptos::prelude::*;

use super::model::{Event, EventKind};

/// Calls `on_event` with each event of the given kinds while the calling component is mounted;
/// pages match an event to themselves by its typed `subject`. `live` turns true once the stream
/// is connected.
pub fn use_live_events(kinds: &'static [EventKind], on_event: impl Fn(Event) + Clone + 'static) -> ReadSignal<bool> {
    let (live, set_live) = signal(false);
    #[cfg(feature = "hydrate")]
    {
        use send_wrapper::SendWrapper;
        use wasm_bindgen::{closure::Closure, JsCast};
        let url = format!("/api/events?types={}", kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","));
        if let Ok(source) = web_sys::EventSource::new(&url) {
            let mut handlers = vec![];
            for kind in kinds {
                let cb = on_event.clone();
                let handler = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                    // The data is the whole event as JSON; one that does not parse is skipped.
                    if let Some(event) = e.data().as_string().and_then(|d| serde_json::from_str::<Event>(&d).ok()) {
                        cb(event);
                    }
                });
                let _ = source.add_event_listener_with_callback(kind.as_str(), handler.as_ref().unchecked_ref());
                handlers.push(handler);
            }
            let opened = Closure::<dyn Fn()>::new(move || set_live.set(true));
            source.set_onopen(Some(opened.as_ref().unchecked_ref()));
            let errored = Closure::<dyn Fn()>::new(move || set_live.set(false));
            source.set_onerror(Some(errored.as_ref().unchecked_ref()));
            // The browser reconnects by itself (with Last-Event-ID); close when the page goes.
            let kept = SendWrapper::new((source, handlers, opened, errored));
            on_cleanup(move || kept.0.close());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (kinds, on_event, set_live);
    }
    live
}

/// A small "Live" indicator next to a page title.
#[component]
pub fn LiveBadge(live: ReadSignal<bool>) -> impl IntoView {
    view! {
        <span class="inline-flex items-center gap-1.5 text-xs text-slate-500" data-testid="live" data-live=move || live.get().to_string()>
            <span class=move || if live.get() { "h-2 w-2 rounded-full bg-emerald-500 animate-pulse" } else { "h-2 w-2 rounded-full bg-slate-300" }></span>
            {move || if live.get() { "Live" } else { "Offline" }}
        </span>
    }
}
