//! One backlog item: what it is, what it needs, what it waits on and what waits on it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::audit::fns::load_trail;
use crate::audit::ui::AuditTrail;
use crate::backlog::fns::{load_item, DeleteItem};
use crate::backlog::model::BacklogItem;
use crate::backlog::ui::{label_chip, risk_pill, status_pill, tool_chip};
use crate::layout::use_session;
use crate::ui::*;

#[component]
pub fn ItemPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let data = Resource::new(id, load_item);
    let trail = Resource::new(id, |id| load_trail("item".into(), id));
    let delete = ServerAction::<DeleteItem>::new();
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading item…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => {
                        let title = if e.status == 404 { "Item not found" } else { "Item unavailable" };
                        view! { <PageHeader title=title.to_string()/> <ErrorPanel error=e/> }.into_any()
                    }
                    Ok((info, view)) => {
                        let can_edit = info.can.edit_backlog;
                        let csrf = info.csrf.clone();
                        let item = view.detail.item.clone();
                        let pack_name = item.pack_name.clone();
                        let tool_of = |id: &str| view.tools.iter().find(|t| t.id == id).cloned();
                        view! {
                            <nav class="mb-2 text-sm text-slate-500">
                                <a href="/backlog" class="hover:text-indigo-600">"Backlog"</a> " / "
                                <a href=format!("/backlog?pack_id={}", item.pack_id) class="hover:text-indigo-600">{pack_name}</a>
                                " / #" {item.id}
                            </nav>
                            <PageHeader title=item.title.clone()>
                                {can_edit.then(|| view! {
                                    <a href=format!("/backlog/{}/edit", item.id) class=BUTTON_SECONDARY>"Edit"</a>
                                    // Asks first (a disclosure, so it works without JavaScript too).
                                    <details class="relative" data-testid="delete-item">
                                        <summary class=format!("{BUTTON_DANGER} cursor-pointer list-none [&::-webkit-details-marker]:hidden")>"Delete…"</summary>
                                        <div class="absolute right-0 z-20 mt-2 w-72 max-w-[calc(100vw-2rem)] rounded-xl bg-white p-4 text-sm shadow-xl ring-1 ring-slate-200">
                                            <p class="text-slate-700">{format!("Delete “{}”? Items that depend on it lose the link. This cannot be undone.", item.title)}</p>
                                            <ActionForm action=delete attr:class="mt-3">
                                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                                <input type="hidden" name="id" value=item.id.to_string()/>
                                                <button type="submit" class=BUTTON_DANGER data-testid="confirm-delete-item">"Delete item"</button>
                                            </ActionForm>
                                        </div>
                                    </details>
                                })}
                            </PageHeader>
                            <FormError/>
                            <div class="grid grid-cols-1 gap-6 lg:grid-cols-3">
                                <section class=format!("{CARD} p-6 lg:col-span-2")>
                                    <div class="flex flex-wrap items-center gap-2">
                                        {status_pill(item.status)} {risk_pill(item.risk)}
                                        {item.labels.iter().cloned().map(label_chip).collect_view()}
                                    </div>
                                    <p class="mt-4 whitespace-pre-wrap text-slate-700" data-testid="description">
                                        {if item.description.is_empty() { "No description.".to_string() } else { item.description.clone() }}
                                    </p>
                                    <h2 class="mt-6 text-sm font-semibold text-slate-900">"Tools, in order"</h2>
                                    {if item.tools.is_empty() {
                                        view! { <p class="mt-2 text-sm text-slate-500">"No tools: this item will be a manual step."</p> }.into_any()
                                    } else {
                                        view! {
                                            <ol class="mt-2 space-y-2">
                                                {item.tools.iter().enumerate().map(|(i, t)| {
                                                    let tool = tool_of(t);
                                                    let sensitive = tool.as_ref().is_some_and(|t| t.sensitive);
                                                    view! {
                                                        <li class="flex items-start gap-3 text-sm">
                                                            <span class="mt-0.5 inline-flex h-5 w-5 items-center justify-center rounded-full bg-slate-100 text-xs text-slate-500">{i + 1}</span>
                                                            <div>
                                                                {tool_chip(t.clone(), sensitive)}
                                                                {tool.map(|tool| view! {
                                                                    <span class="ml-2 text-slate-500">{tool.description.clone()}</span>
                                                                    {tool.sensitive.then(|| view! {
                                                                        <span class="ml-2 text-xs text-amber-700">{format!("needs {}", plural(tool.required_approvals as usize, "approval"))}</span>
                                                                    })}
                                                                })}
                                                            </div>
                                                        </li>
                                                    }
                                                }).collect_view()}
                                            </ol>
                                        }.into_any()
                                    }}
                                </section>
                                <aside class="space-y-6">
                                    <section class=format!("{CARD} p-5 text-sm")>
                                        <dl class="grid grid-cols-2 gap-y-2">
                                            <dt class="text-slate-500">"Pack"</dt><dd class="text-slate-900">{item.pack_name.clone()}</dd>
                                            <dt class="text-slate-500">"Estimate"</dt><dd class="text-slate-900">{format_minutes(item.estimate_minutes)}</dd>
                                            <dt class="text-slate-500">"Created"</dt><dd class="text-slate-900">{format_time(item.created_at)}</dd>
                                            <dt class="text-slate-500">"Updated"</dt><dd class="text-slate-900">{format_time(item.updated_at)}</dd>
                                        </dl>
                                    </section>
                                    <RelatedList title="Depends on" testid="dependencies" empty="Nothing: it can start right away." items=view.detail.dependencies.clone()/>
                                    <RelatedList title="Needed by" testid="dependents" empty="No other item waits on this one." items=view.detail.dependents.clone()/>
                                </aside>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match trail.await {
                    Ok(Some(page)) => view! { <div class="mt-6"><AuditTrail page all=format!("/audit?item={}", id())/></div> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RelatedList(title: &'static str, testid: &'static str, empty: &'static str, items: Vec<BacklogItem>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} p-5") data-testid=testid>
            <h2 class="text-sm font-semibold text-slate-900">{title}</h2>
            {if items.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500">{empty}</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 space-y-2 text-sm">
                        {items.into_iter().map(|d| view! {
                            <li class="flex items-center justify-between gap-2">
                                <a href=format!("/backlog/{}", d.id) class="text-indigo-600 hover:underline">"#" {d.id} " " {d.title.clone()}</a>
                                {status_pill(d.status)}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
