//! Create and edit forms for backlog items, with a dependency picker. Plain HTML forms backed by
//! a server function: they work before hydration and without JavaScript. The two pickers are
//! islands: their chips, search and suggestions run in the browser.

use leptos::prelude::*;
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
                <a href="/packs" class=BUTTON>"Go to packs"</a>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <FormError/>
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
                <ToolPicker initial=item.as_ref().map(|i| i.tools.join(", ")).unwrap_or_default() known=tool_ids/>
                <div>
                    <label class=LABEL for="labels">"Labels"</label>
                    <input class=INPUT id="labels" name="labels" placeholder="pii, prod"
                        value=item.as_ref().map(|i| i.labels.join(", ")).unwrap_or_default()/>
                    <p class="mt-1 text-xs text-slate-500">"Comma-separated; " <code>"pii"</code> " and " <code>"prod"</code> " tighten the gates."</p>
                </div>
            </div>
            <DependencyPicker candidates=data.candidates.iter().map(DependencyOption::of).collect() selected=deps/>
            <div class="flex items-center justify-end gap-3 border-t border-slate-100 pt-4">
                <a href=cancel class=BUTTON_SECONDARY>"Cancel"</a>
                <button type="submit" class=BUTTON data-testid="save-item">"Save item"</button>
            </div>
        </ActionForm>
    }
    .into_any()
}

/// The names in a comma-separated list, trimmed, blanks dropped.
fn names(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// Tools in the order they run: a plain comma-separated field (so it works without JavaScript)
/// that, with JavaScript, shows the list as chips (× removes one), suggests registered tools as
/// you type and flags an unknown name at once instead of on save.
#[island]
fn ToolPicker(initial: String, known: Vec<String>) -> impl IntoView {
    // The chips, suggestions and checks exist once the WebAssembly runs; the field underneath is
    // a plain form field that works without it.
    let scripted = RwSignal::new(false);
    Effect::new(move |_| scripted.set(true));
    let text = RwSignal::new(initial.clone());
    let known = StoredValue::new(known);
    let listed = move || names(&text.get());
    let unknown = move || listed().into_iter().filter(|t| known.with_value(|k| !k.contains(t))).collect::<Vec<_>>();
    // Registered tools matching what is being typed after the last comma, not listed yet.
    let suggestions = move || {
        let t = text.get();
        let typing = t.rsplit(',').next().unwrap_or_default().trim().to_lowercase();
        let listed = names(&t);
        known.with_value(|k| {
            k.iter()
                .filter(|tool| !listed.contains(tool))
                .filter(|tool| typing.is_empty() || tool.to_lowercase().contains(&typing))
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let pick = move |tool: String| {
        text.update(|t| {
            // What was typed after the last comma is replaced by the pick.
            let mut parts = names(t.rsplit_once(',').map(|(head, _)| head).unwrap_or(""));
            parts.push(tool);
            *t = format!("{}, ", parts.join(", "));
        })
    };
    let remove = move |i: usize| {
        text.update(|t| {
            let mut parts = names(t);
            if i < parts.len() {
                parts.remove(i);
            }
            *t = parts.join(", ");
        })
    };
    let registered = known.with_value(|k| k.join(", "));
    view! {
        <div data-testid="tool-picker">
            <label class=LABEL for="tools">"Tools, in the order they run"</label>
            <input class=format!("{INPUT} font-mono") id="tools" name="tools" placeholder="codegen, gate:unit, git_pr" autocomplete="off"
                value=initial prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))
                aria-describedby="tools-help"/>
            <Show when=move || scripted.get() fallback=move || view! {
                <p id="tools-help" class="mt-1 text-xs text-slate-500">"Comma-separated. Registered: " {registered.clone()}</p>
            }>
                <ul class="mt-2 flex flex-wrap gap-1.5" data-testid="tool-chips" aria-label="Tools, in order">
                    {move || listed().into_iter().enumerate().map(|(i, tool)| {
                        let ok = known.with_value(|k| k.contains(&tool));
                        view! {
                            <li class=if ok { "inline-flex items-center gap-1 rounded-md bg-indigo-50 py-0.5 pl-2 pr-1 font-mono text-xs text-indigo-800 ring-1 ring-inset ring-indigo-200" } else { "inline-flex items-center gap-1 rounded-md bg-rose-50 py-0.5 pl-2 pr-1 font-mono text-xs text-rose-800 ring-1 ring-inset ring-rose-300" }
                                data-testid="tool-chip" data-known=ok.to_string()>
                                <span class="text-slate-600">{format!("{}.", i + 1)}</span> {tool.clone()}
                                <button type="button" class="ml-0.5 rounded px-1 text-slate-600 hover:bg-white hover:text-rose-700" aria-label=format!("Remove {tool}")
                                    on:click=move |_| remove(i)>"×"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                {move || {
                    let bad = unknown();
                    (!bad.is_empty()).then(|| view! {
                        <p role="alert" class="mt-1 text-xs text-rose-700" data-testid="unknown-tools">
                            {format!("Not a registered tool: {}. Pick one of the suggestions or register it on the Tools page.", bad.join(", "))}
                        </p>
                    })
                }}
                <div class="mt-2 flex flex-wrap items-center gap-1.5 text-xs" id="tools-help" data-testid="tool-suggestions">
                    <span class="text-slate-500">"Add:"</span>
                    {move || suggestions().into_iter().map(|tool| {
                        let t = tool.clone();
                        view! { <button type="button" class="rounded-md bg-white px-2 py-1 font-mono text-slate-700 ring-1 ring-inset ring-slate-300 hover:bg-slate-50" on:click=move |_| pick(t.clone())>{tool}</button> }
                    }).collect_view()}
                </div>
            </Show>
        </div>
    }
}

/// What the item waits for: a checkbox per other item (plain form fields, ticked ones first, so
/// an edit shows them without scrolling); with JavaScript, a search box filters the list and the
/// ticked items show as chips that untick with ×.
#[island]
fn DependencyPicker(candidates: Vec<DependencyOption>, selected: Vec<i64>) -> impl IntoView {
    let scripted = RwSignal::new(false);
    Effect::new(move |_| scripted.set(true));
    let mut candidates = candidates;
    candidates.sort_by_key(|c| !selected.contains(&c.id));
    let ticked = RwSignal::new(selected.clone());
    let search = RwSignal::new(String::new());
    let titles: StoredValue<Vec<(i64, String)>> = StoredValue::new(candidates.iter().map(|c| (c.id, c.title.clone())).collect());
    let matches = move |c: &DependencyOption| {
        let q = search.get().trim().to_lowercase();
        q.is_empty()
            || c.title.to_lowercase().contains(&q)
            || c.pack_name.to_lowercase().contains(&q)
            || format!("#{}", c.id) == q
            || c.id.to_string() == q.trim_start_matches('#')
    };
    view! {
        <fieldset class="min-w-0" data-testid="dependencies-field">
            <legend class=LABEL>"Depends on"</legend>
            {if candidates.is_empty() {
                view! { <p class="text-sm text-slate-500">"No other items yet."</p> }.into_any()
            } else {
                view! {
                    <Show when=move || scripted.get()>
                        <ul class="mb-2 flex flex-wrap gap-1.5" data-testid="dependency-chips">
                            {move || ticked.get().into_iter().map(|id| {
                                let title = titles.with_value(|t| t.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone())).unwrap_or_default();
                                view! {
                                    <li class="inline-flex max-w-full items-center gap-1 rounded-md bg-slate-100 py-0.5 pl-2 pr-1 text-xs text-slate-800 ring-1 ring-inset ring-slate-300" data-testid="dependency-chip">
                                        <span class="truncate">{format!("#{id} {title}")}</span>
                                        <button type="button" class="rounded px-1 text-slate-500 hover:bg-white hover:text-rose-700" aria-label=format!("Remove dependency #{id}")
                                            on:click=move |_| ticked.update(|t| t.retain(|x| *x != id))>"×"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        <input type="search" class=format!("{INPUT} mb-2") placeholder="Search by title, #id or pack" aria-label="Search the items"
                            data-testid="dependency-search" prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                    </Show>
                    <div class="max-h-64 overflow-y-auto rounded-md ring-1 ring-inset ring-slate-200 divide-y divide-slate-100" data-testid="dependency-picker">
                        {candidates.into_iter().map(|c| {
                            let id = format!("dep-{}", c.id);
                            let label_for = id.clone();
                            let cid = c.id;
                            let shown = {
                                let c = c.clone();
                                move || matches(&c)
                            };
                            view! {
                                <label for=label_for class="flex cursor-pointer items-center gap-3 px-3 py-2 text-sm hover:bg-slate-50" class:hidden=move || !shown()>
                                    <input type="checkbox" id=id name="depends_on[]" value=cid.to_string() checked=selected.contains(&cid)
                                        prop:checked=move || ticked.with(|t| t.contains(&cid))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            ticked.update(|t| { t.retain(|x| *x != cid); if on { t.push(cid); } });
                                        }
                                        class="h-4 w-4 rounded border-slate-300 text-indigo-600"/>
                                    <span class="text-slate-500 tabular-nums">"#" {cid}</span>
                                    <span class="min-w-0 flex-1 text-slate-900 [overflow-wrap:anywhere]">{c.title.clone()}</span>
                                    <span class="ml-auto max-w-[40%] break-words text-right text-xs text-slate-500">{c.pack_name.clone()}</span>
                                </label>
                            }
                        }).collect_view()}
                    </div>
                }.into_any()
            }}
        </fieldset>
    }
}

/// An item the edited one may depend on, as the dependency picker shows it (what the island's
/// props carry to the browser: not the whole item).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DependencyOption {
    pub id: i64,
    pub title: String,
    pub pack_name: String,
}

impl DependencyOption {
    fn of(item: &crate::backlog::model::BacklogItem) -> DependencyOption {
        DependencyOption { id: item.id, title: item.title.clone(), pack_name: item.pack_name.clone() }
    }
}
