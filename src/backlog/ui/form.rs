//! Create and edit forms for backlog items, with a dependency picker. Plain HTML forms backed by
//! a server function: they work before hydration and without JavaScript.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::auth::fns::SessionInfo;
use crate::backlog::fns::{load_item_form, SaveItem};
use crate::backlog::model::ItemFormData;
use crate::backlog::model::{ItemStatus, Risk};
use crate::layout::use_session;
use crate::ui::*;

#[component]
pub fn NewItemPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_item_form(None));
    let session = use_session();
    view! {
        <PageHeader title="New backlog item".to_string() subtitle="Describe the work, pick its pack, tools and dependencies.".to_string()/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Ok((info, d)) => view! { <ItemForm data=d info/> }.into_any(),
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn EditItemPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let data = Resource::new(id, load_item_form);
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Ok((info, d)) => {
                        let title = d.item.as_ref().map(|i| format!("Edit #{} {}", i.id, i.title)).unwrap_or_default();
                        view! { <PageHeader title/> <ItemForm data=d info/> }.into_any()
                    }
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ItemForm(data: ItemFormData, info: SessionInfo) -> impl IntoView {
    let save = ServerAction::<SaveItem>::new();
    let query = use_query_map();
    let item = data.item.clone();
    let preset_pack = query.with_untracked(|q| q.get("pack_id").and_then(|v| v.parse::<i64>().ok()));
    let pack_id = item.as_ref().map(|i| i.pack_id).or(preset_pack);
    let risk = item.as_ref().map(|i| i.risk).unwrap_or(Risk::Medium);
    let status = item.as_ref().map(|i| i.status).unwrap_or(ItemStatus::Todo);
    let deps = item.as_ref().map(|i| i.depends_on.clone()).unwrap_or_default();
    let cancel = item.as_ref().map(|i| format!("/backlog/{}", i.id)).unwrap_or_else(|| "/backlog".into());
    let tool_ids: Vec<String> = data.tools.iter().map(|t| t.id.clone()).collect();
    if data.packs.is_empty() {
        return view! {
            <EmptyState title="Create a pack first" hint="Every item belongs to a pack.">
                <A href="/packs" attr:class=BUTTON>"Go to packs"</A>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <FormError error=action_error(save)/>
        <ActionForm action=save attr:data-testid="item-form" attr:class=format!("{CARD} p-6 space-y-6")>
            <input type="hidden" name="csrf" value=info.csrf.clone()/>
            {item.as_ref().map(|i| view! { <input type="hidden" name="id" value=i.id.to_string()/> })}
            <div class="grid grid-cols-1 gap-6 md:grid-cols-3">
                <div class="md:col-span-2">
                    <label class=LABEL for="title">"Title"</label>
                    <input class=INPUT id="title" name="title" required maxlength="200" placeholder="e.g. Add audit log export"
                        value=item.as_ref().map(|i| i.title.clone()).unwrap_or_default()/>
                </div>
                <div>
                    <label class=LABEL for="pack_id">"Pack"</label>
                    <select class=INPUT id="pack_id" name="pack_id" required>
                        {data.packs.iter().map(|p| view! {
                            <option value=p.id.to_string() selected=pack_id == Some(p.id)>{p.name.clone()}</option>
                        }).collect_view()}
                    </select>
                </div>
            </div>
            <div>
                <label class=LABEL for="description">"Description"</label>
                <textarea class=INPUT id="description" name="description" rows="4" placeholder="What done looks like, links, context…"
                    inner_html=textarea_text(item.as_ref().map(|i| i.description.as_str()).unwrap_or_default())></textarea>
            </div>
            <div class="grid grid-cols-1 gap-6 md:grid-cols-3">
                <div>
                    <label class=LABEL for="risk">"Risk"</label>
                    <select class=INPUT id="risk" name="risk">
                        {Risk::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == risk>{r.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class=LABEL for="status">"Status"</label>
                    <select class=INPUT id="status" name="status">
                        {ItemStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=s == status>{s.label()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class=LABEL for="estimate_minutes">"Estimate (minutes)"</label>
                    <input class=INPUT id="estimate_minutes" name="estimate_minutes" inputmode="numeric"
                        value=item.as_ref().map(|i| i.estimate_minutes.to_string()).unwrap_or_else(|| "60".into())/>
                </div>
            </div>
            <div class="grid grid-cols-1 gap-6 md:grid-cols-2">
                <div>
                    <label class=LABEL for="tools">"Tools, in the order they run"</label>
                    <input class=format!("{INPUT} font-mono") id="tools" name="tools" list="tool-ids" placeholder="codegen, gate:unit, git_pr"
                        value=item.as_ref().map(|i| i.tools.join(", ")).unwrap_or_default()/>
                    <datalist id="tool-ids">{tool_ids.iter().map(|t| view! { <option value=t.clone()/> }).collect_view()}</datalist>
                    <p class="mt-1 text-xs text-slate-500">"Registered: " {tool_ids.join(", ")}</p>
                </div>
                <div>
                    <label class=LABEL for="labels">"Labels"</label>
                    <input class=INPUT id="labels" name="labels" placeholder="pii, prod"
                        value=item.as_ref().map(|i| i.labels.join(", ")).unwrap_or_default()/>
                    <p class="mt-1 text-xs text-slate-500">"Comma-separated; " <code>"pii"</code> " and " <code>"prod"</code> " tighten the gates."</p>
                </div>
            </div>
            <fieldset>
                <legend class=LABEL>"Depends on"</legend>
                {if data.candidates.is_empty() {
                    view! { <p class="text-sm text-slate-500">"No other items yet."</p> }.into_any()
                } else {
                    view! {
                        <div class="max-h-64 overflow-y-auto rounded-md ring-1 ring-inset ring-slate-200 divide-y divide-slate-100" data-testid="dependency-picker">
                            {data.candidates.iter().map(|c| {
                                let checked = deps.contains(&c.id);
                                let id = format!("dep-{}", c.id);
                                let label_for = id.clone();
                                view! {
                                    <label for=label_for class="flex items-center gap-3 px-3 py-2 text-sm hover:bg-slate-50 cursor-pointer">
                                        <input type="checkbox" id=id name="depends_on[]" value=c.id.to_string() checked=checked class="h-4 w-4 rounded border-slate-300 text-indigo-600"/>
                                        <span class="text-slate-400 tabular-nums">"#" {c.id}</span>
                                        <span class="text-slate-900">{c.title.clone()}</span>
                                        <span class="ml-auto text-xs text-slate-500">{c.pack_name.clone()}</span>
                                    </label>
                                }
                            }).collect_view()}
                        </div>
                    }.into_any()
                }}
            </fieldset>
            <div class="flex items-center justify-end gap-3 border-t border-slate-100 pt-4">
                <A href=cancel attr:class=BUTTON_SECONDARY>"Cancel"</A>
                <button type="submit" class=BUTTON disabled=move || save.pending().get() data-testid="save-item">
                    {move || if save.pending().get() { "Saving…" } else { "Save item" }}
                </button>
            </div>
        </ActionForm>
    }
    .into_any()
}
