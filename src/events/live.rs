//! Live updates: a page names the events that change it with a [`LiveBadge`]; the page script
//! (`crate::ui::script`) listens to the server's event stream (`/api/events`, authenticated by the
//! session cookie) and, when one of them arrives (about this page's `subject`, when it names one),
//! fetches the page again and swaps its content in place. Pages are complete without it.

use leptos::prelude::*;

use super::model::{EventKind, Subject};

/// "Live" next to a page title once the event stream is connected ("Offline" before, and without
/// JavaScript). Its attributes tell the page script what to listen to.
#[component]
pub fn LiveBadge(kinds: &'static [EventKind], #[prop(optional)] subject: Option<Subject>) -> impl IntoView {
    let kinds = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",");
    view! {
        <span class="inline-flex items-center gap-1.5 text-xs text-slate-500" data-testid="live" data-live="false"
            data-live-kinds=kinds data-live-subject=subject.map(|s| s.to_string())>
            <span class="h-2 w-2 rounded-full bg-slate-300" data-live-dot=""></span>
            <span data-live-text="">"Offline"</span>
        </span>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn the_badge_names_its_events_and_subject() {
        let html = view! { <LiveBadge kinds=&[EventKind::PlanReady, EventKind::StepStarted] subject=Subject::Plan(12)/> }.to_html();
        assert!(html.contains(r#"data-live-kinds="plan.ready,step.started""#), "{html}");
        assert!(html.contains(r#"data-live-subject="plan:12""#), "{html}");
        assert!(html.contains("Offline"), "{html}");
    }
}
