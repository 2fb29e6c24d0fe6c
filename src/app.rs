//! The HTML shell and the page routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::approvals::ui::{ApprovalDetailPage, ApprovalHistoryPage, ApprovalsPage};
use crate::audit::ui::AuditPage;
use crate::auth::ui::{KeysPage, LoginPage};
use crate::backlog::ui::{BacklogPage, EditItemPage, ItemPage, NewItemPage, PacksPage, ToolsPage};
use crate::comparisons::ui::{CandidatePage, ComparisonPage, PlannerMetricsPage};
use crate::layout::{Home, Layout};
use crate::planner::ui::{PlanPage, PlansPage};
use crate::ui::script::PageScript;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The scripts carry the nonce of this request's Content-Security-Policy (see `http::security`).
    #[cfg(feature = "ssr")]
    crate::http::security::provide_request_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// Every page renders with `SsrMode::Async`: the server waits for the data, so pages and their
/// forms are complete HTML before any JavaScript runs (and with JavaScript off).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="NOFX Control Plane"/>
        // The page script sets `data-hydrated` once it runs; tests wait for it.
        <div id="app" data-hydrated="false">
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=Layout ssr=SsrMode::Async>
                    <Route path=path!("") view=Home ssr=SsrMode::Async/>
                    <Route path=path!("backlog") view=BacklogPage ssr=SsrMode::Async/>
                    <Route path=path!("backlog/new") view=NewItemPage ssr=SsrMode::Async/>
                    <Route path=path!("backlog/:id") view=ItemPage ssr=SsrMode::Async/>
                    <Route path=path!("backlog/:id/edit") view=EditItemPage ssr=SsrMode::Async/>
                    <Route path=path!("packs") view=PacksPage ssr=SsrMode::Async/>
                    <Route path=path!("tools") view=ToolsPage ssr=SsrMode::Async/>
                    <Route path=path!("plans") view=PlansPage ssr=SsrMode::Async/>
                    <Route path=path!("plans/:id") view=PlanPage ssr=SsrMode::Async/>
                    <Route path=path!("comparisons/:id") view=ComparisonPage ssr=SsrMode::Async/>
                    <Route path=path!("comparisons/:id/candidates/:index") view=CandidatePage ssr=SsrMode::Async/>
                    <Route path=path!("planner-metrics") view=PlannerMetricsPage ssr=SsrMode::Async/>
                    <Route path=path!("approvals") view=ApprovalsPage ssr=SsrMode::Async/>
                    <Route path=path!("approvals/history") view=ApprovalHistoryPage ssr=SsrMode::Async/>
                    <Route path=path!("approvals/:id") view=ApprovalDetailPage ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("keys") view=KeysPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
        <PageScript/>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <div class="min-h-screen flex flex-col items-center justify-center gap-3 text-center">
            <p class="text-5xl font-bold text-slate-500">"404"</p>
            <p class="text-slate-600">"There is no page here."</p>
            <a href="/backlog" class="text-indigo-600 hover:underline">"Back to the backlog"</a>
        </div>
    }
}
