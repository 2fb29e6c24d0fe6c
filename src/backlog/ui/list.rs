//! The backlog page: filters, the item table, and the way to a new item.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::backlog::fns::load_backlog;
use crate::backlog::model::{ItemFilter, ItemStatus};
use crate::backlog::ui::{label_chip, risk_pill, status_pill, tool_chip};
use crate::layout::use_session;
use crate::planner::fns::PlanItems;
use crate::ui::script::TickKind;
use crate::ui::*;

#[component]
pub fn BacklogPage() -> impl IntoView {
    let query = use_query_map();
    // Lenient parsing: an empty or odd filter value means "no filter", never an error page.
    let filter = move || {
        query.with(|q| ItemFilter {
            pack_id: q.get("pack_id").and_then(|v| v.parse().ok()),
            status: q.get("status").and_then(|v| ItemStatus::parse(&v)),
            label: q.get("label").filter(|v| !v.is_empty()),
            q: q.get("q").filter(|v| !v.trim().is_empty()),
        })
    };
    let data = Resource::new(filter, load_backlog);
    let session = use_session();
    let plan_action = ServerAction::<PlanItems>::new();
    // `?select=all` ticks every plannable item shown (the selection bar's link without JavaScript);
    // `?select=3,5` ticks those (a blocked plan's "plan the same items again").
    let preselect = move || query.with(|q| q.get("select").unwrap_or_default());
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading backlog…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Backlog".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, view)) => {
                        let can_edit = info.can.edit_backlog;
                        // Planning needs the permission and the flag; say which one is missing instead of hiding silently.
                        let can_plan = info.can.create_plans && info.flags.auto_planner;
                        let plan_note = if !info.can.create_plans {
                            Some("Your role cannot create plans; a planner or admin can.")
                        } else if !info.flags.auto_planner {
                            Some("Planning is switched off on this server (FEATURE_AUTO_PLANNER is off).")
                        } else {
                            None
                        };
                        let csrf = info.csrf.clone();
                        let f = filter();
                        let filtered = f != ItemFilter::default();
                        let shown = view.items.len();
                        let total = view.total;
                        let sensitive = view.sensitive_tools.clone();
                        // The ticked items: the page script counts them in the bar and ticks all.
                        let plannable: Vec<i64> = view.items.iter().filter(|i| i.status != ItemStatus::Done).map(|i| i.id).collect();
                        let ticked: std::collections::BTreeSet<i64> = match preselect().as_str() {
                            "all" => plannable.iter().copied().collect(),
                            list => list.split(',').filter_map(|v| v.trim().parse().ok()).filter(|id| plannable.contains(id)).collect(),
                        };
                        let (plannable_count, ticked_count) = (plannable.len(), ticked.len());
                        let all_link = query.with_untracked(|q| format!("/backlog{}", query_string(q, &["select"], &[("select", "all")])));
                        view! {
                            <PageHeader title="Backlog".to_string() subtitle="Items grouped into packs, with what they need and what they wait on.".to_string()>
                                {can_edit.then(|| view! { <a href="/backlog/new" class=BUTTON data-testid="new-item">"+ New item"</a> })}
                            </PageHeader>
                            <Form method="GET" action="" attr:class="mb-4 flex flex-wrap items-end gap-3" attr:data-testid="filters">
                                <div>
                                    <label class=LABEL for="f-q">"Search"</label>
                                    <input id="f-q" class=INPUT name="q" placeholder="Title contains…" value=f.q.clone().unwrap_or_default()/>
                                </div>
                                <FilterSelect id="f-pack" name="pack_id" label="Pack" any="All packs"
                                    options=view.packs.iter().map(|p| (p.id.to_string(), p.name.clone())).collect()
                                    selected=f.pack_id.map(|p| p.to_string()).unwrap_or_default()/>
                                <FilterSelect id="f-status" name="status" label="Status" any="Any status"
                                    options=ItemStatus::ALL.into_iter().map(|s| (s.as_str().to_string(), s.label().to_string())).collect()
                                    selected=f.status.map(|s| s.as_str().to_string()).unwrap_or_default()/>
                                <FilterSelect id="f-label" name="label" label="Label" any="Any label"
                                    options=view.labels.iter().map(|l| (l.clone(), l.clone())).collect()
                                    selected=f.label.clone().unwrap_or_default()/>
                                <button type="submit" class=BUTTON_SECONDARY>"Apply"</button>
                                {filtered.then(|| view! { <a href="/backlog" class="text-sm text-indigo-600 hover:underline py-2">"Clear filters"</a> })}
                                <p class="ml-auto text-sm text-slate-500 py-2" data-testid="count">{format!("{shown} of {total} items")}</p>
                            </Form>
                            {if view.items.is_empty() {
                                if filtered {
                                    view! { <EmptyState title="No items match these filters" hint="Loosen a filter or clear them all."/> }.into_any()
                                } else {
                                    view! {
                                        <EmptyState title="The backlog is empty" hint="Create a pack, then add the first item.">
                                            {can_edit.then(|| view! { <a href="/backlog/new" class=BUTTON>"+ New item"</a> })}
                                        </EmptyState>
                                    }.into_any()
                                }
                            } else {
                                view! {
                                    <ActionForm action=plan_action attr:data-testid="plan-form" attr:data-ticks=TickKind::Plan.as_str() attr:data-ticks-total=plannable_count.to_string()>
                                    <input type="hidden" name="csrf" value=csrf/>
                                    {(!can_plan).then(|| view! { <p class="mb-3 text-sm text-slate-500" data-testid="plan-disabled">{plan_note}</p> })}
                                    <DataTable testid="backlog-table" label="Backlog items" columns=backlog_columns(can_plan)>
                                                {view.items.into_iter().map(|item| {
                                                    let sensitive = sensitive.clone();
                                                    let id = item.id;
                                                    view! {
                                                        <tr class="hover:bg-slate-50" data-testid="item-row">
                                                            {can_plan.then(|| {
                                                                let done = item.status == ItemStatus::Done;
                                                                view! {
                                                                    <td class="px-4 py-3">
                                                                        <input type="checkbox" name="item_ids[]" value=item.id.to_string() disabled=done
                                                                            checked=ticked.contains(&id) data-tick=""
                                                                            data-testid="select-item"
                                                                            title=if done { "Done: nothing to plan" } else { "Select for planning" }
                                                                            aria-label=format!("Select item {}", item.id)
                                                                            class="h-4 w-4 rounded border-slate-300 text-indigo-600 disabled:opacity-30"/>
                                                                    </td>
                                                                }
                                                            })}
                                                            <td class="px-4 py-3 text-slate-500 tabular-nums">{item.id}</td>
                                                            <td class="px-4 py-3">
                                                                <a href=format!("/backlog/{}", item.id) class="font-medium text-slate-900 hover:text-indigo-600">{item.title.clone()}</a>
                                                                <div class="mt-1 flex flex-wrap items-center gap-1">
                                                                    {risk_pill(item.risk)}
                                                                    {item.labels.iter().cloned().map(label_chip).collect_view()}
                                                                </div>
                                                            </td>
                                                            <td class="px-4 py-3 text-slate-600 whitespace-nowrap">{item.pack_name.clone()}</td>
                                                            <td class="px-4 py-3">{status_pill(item.status)}</td>
                                                            <td class="px-4 py-3">
                                                                <div class="flex flex-wrap gap-1">
                                                                    {item.tools.iter().map(|t| tool_chip(t.clone(), sensitive.contains(t))).collect_view()}
                                                                </div>
                                                            </td>
                                                            <td class="px-4 py-3 text-slate-600">
                                                                {if item.depends_on.is_empty() {
                                                                    view! { <span class="text-slate-300">"—"</span> }.into_any()
                                                                } else {
                                                                    item.depends_on.clone().into_iter().map(|d| view! {
                                                                        <a href=format!("/backlog/{d}") class="mr-1 text-indigo-600 hover:underline">"#" {d}</a>
                                                                    }).collect_view().into_any()
                                                                }}
                                                            </td>
                                                            <td class="px-4 py-3 text-right tabular-nums whitespace-nowrap text-slate-600">{format_minutes(item.estimate_minutes)}</td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                    </DataTable>
                                    {can_plan.then(|| view! { <SelectionBar plannable=plannable_count ticked=ticked_count all_link=all_link.clone()/> })}
                                    </ActionForm>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The planning bar, stuck to the bottom of the screen under the table: how many items are
/// ticked, tick all or none, the planning options and Plan selected. The page script keeps the
/// count and ticks all in place (`data-tick-*`); without JavaScript "Tick all" is a link that
/// reloads the page with every item ticked.
#[component]
fn SelectionBar(plannable: usize, ticked: usize, all_link: String) -> impl IntoView {
    let label =
        if ticked > 0 { TickKind::Plan.sentence(ticked, plannable, None) } else { "Tick items, then plan them together:".to_string() };
    view! {
        <div class="sticky bottom-0 z-10 mt-3 rounded-xl bg-white/95 p-3 shadow-lg ring-1 ring-indigo-200 backdrop-blur" data-testid="plan-toolbar">
            <FormError/>
            <div class="flex flex-wrap items-center gap-x-4 gap-y-2">
                <p class="text-sm font-medium text-indigo-950" data-testid="selection-count" data-tick-label="" aria-live="polite">{label}</p>
                <a href=all_link class="text-sm text-indigo-600 hover:underline" data-testid="select-all" data-tick-all="">"Tick all"</a>
                <button type="button" hidden class="text-sm text-indigo-600 hover:underline" data-testid="select-none" data-tick-none="">"Clear"</button>
                <label class="flex items-center gap-1.5 text-sm text-slate-700">
                    <input type="checkbox" name="include_dependencies" value="on" class="h-4 w-4 rounded border-slate-300 text-indigo-600"/>
                    "include unfinished dependencies"
                </label>
                <label class="flex items-center gap-1.5 text-sm text-slate-700">
                    "budget $"
                    <input name="budget_usd" inputmode="decimal" placeholder="policy default" class="w-28 rounded-md border-0 px-2 py-1 text-sm ring-1 ring-inset ring-slate-300"/>
                </label>
                <div class="flex flex-wrap gap-2 sm:ml-auto">
                    <button type="submit" formaction="/_fn/compare_items" class=format!("{BUTTON_SECONDARY} min-h-11") data-testid="compare-selected" data-tick-submit=""
                        title="Ask every configured planner for this selection and compare their plans side by side">"Compare planners"</button>
                    <button type="submit" class=format!("{BUTTON} min-h-11") data-testid="plan-selected" data-tick-submit="">"Plan selected"</button>
                </div>
            </div>
        </div>
    }
}

/// The backlog table's columns; a selection column first when the user may plan.
fn backlog_columns(can_plan: bool) -> Vec<Column> {
    let mut columns = if can_plan { vec![Column::hidden("Select")] } else { vec![] };
    columns.extend([
        Column::text("#"),
        Column::text("Item"),
        Column::text("Pack"),
        Column::text("Status"),
        Column::text("Tools"),
        Column::text("Depends on"),
        Column::number("Estimate"),
    ]);
    columns
}
