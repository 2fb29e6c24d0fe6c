//! The tool registry: which tools exist, which need a human, and what their recorded runs cost.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::backlog::fns::{tool_summaries, UpdateTool};
use crate::backlog::model::Tool;
use crate::backlog::ui::tool_chip;
use crate::layout::use_session;
use crate::ui::*;

#[component]
pub fn ToolsPage() -> impl IntoView {
    let update = ServerAction::<UpdateTool>::new();
    let tools = Resource::new(|| (), |_| tool_summaries());
    let query = use_query_map();
    let editing = move || query.with(|q| q.get("edit"));
    let saved = move || query.with(|q| q.get("saved"));
    let session = use_session();
    view! {
        <PageHeader title="Tools".to_string() subtitle="The registry the gates read: sensitivity, approvals, rollback recipes and recorded runs.".to_string()/>
        {move || saved().map(|t| view! {
            <p class="mb-4 rounded-lg border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-800" data-testid="tool-saved">
                {format!("Saved `{t}`. Plans made from now on use it; plan again to re-check a blocked plan.")}
            </p>
        })}
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading tools…"</p> }>
            {move || Suspend::new(async move {
                match session.with(tools).await.map(|(info, list)| (info.can.manage_tools, info.csrf, list)) {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok((can_manage, csrf, list)) => {
                        let edit = editing().and_then(|id| list.iter().find(|s| s.tool.id == id).map(|s| s.tool.clone()));
                        view! {
                            {edit.filter(|_| can_manage).map(|tool| view! { <EditTool tool csrf=csrf.clone() update/> })}
                            <ToolsTable list can_manage/>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// A tool's edit form (tool managers): opened by `?edit=<tool>`, so plan pages can link a fix to it.
#[component]
fn EditTool(tool: Tool, csrf: String, update: ServerAction<UpdateTool>) -> impl IntoView {
    let id = tool.id.clone();
    view! {
        <section class=format!("{CARD} mb-6 p-5") id="edit-tool" data-testid="edit-tool">
            <h2 class="mb-3 text-sm font-semibold text-slate-900">"Edit " <code class="font-mono">{id.clone()}</code></h2>
            <FormError form="update_tool"/>
            <ActionForm action=update attr:class="grid grid-cols-1 gap-4 sm:grid-cols-2">
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="id" value=id.clone()/>
                <div class="sm:col-span-2">
                    <label class=LABEL for="tool-description">"Description"</label>
                    <input class=INPUT id="tool-description" name="description" value=tool.description.clone() maxlength="2000"/>
                </div>
                <div class="sm:col-span-2">
                    <label class=LABEL for="tool-rollback">"Rollback recipe " <span class="font-normal text-slate-500">"(how to undo a run; {item_id} and {item_title} are filled in)"</span></label>
                    <textarea class=INPUT id="tool-rollback" name="rollback" rows="2" maxlength="2000" inner_html=textarea_text(tool.rollback.as_deref().unwrap_or_default())></textarea>
                </div>
                <label class="flex items-center gap-2 text-sm text-slate-700">
                    <input type="checkbox" name="mutating" value="on" checked=tool.mutating class="h-4 w-4 rounded border-slate-300 text-indigo-600"/>
                    "Changes things outside the agent (mutating)"
                </label>
                <label class="flex items-center gap-2 text-sm text-slate-700">
                    <input type="checkbox" name="sensitive" value="on" checked=tool.sensitive class="h-4 w-4 rounded border-slate-300 text-indigo-600"/>
                    "Sensitive: a human approves each run"
                </label>
                <div>
                    <label class=LABEL for="tool-approvals">"Approvals needed"</label>
                    <input class=INPUT id="tool-approvals" name="required_approvals" inputmode="numeric" value=tool.required_approvals.to_string()/>
                </div>
                <div>
                    <label class=LABEL for="tool-weight">"Risk weight"</label>
                    <input class=INPUT id="tool-weight" name="risk_weight" inputmode="decimal" value=tool.risk_weight.to_string()/>
                </div>
                <div class="flex items-center gap-3 sm:col-span-2">
                    <button type="submit" class=BUTTON data-testid="save-tool">"Save tool"</button>
                    <a href="/tools" class="text-sm text-slate-600 hover:underline">"Cancel"</a>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn ToolsTable(list: Vec<crate::backlog::model::ToolSummary>, can_manage: bool) -> impl IntoView {
    view! {
                {match list {
                    list if list.is_empty() => view! {
                        <EmptyState title="No tools registered" hint="Register tools with POST /api/tools (admin key) or load the demo with `nofx seed-demo`."/>
                    }.into_any(),
                    list => view! {
                        <DataTable testid="tools-table" label="Tools" columns=vec![Column::text("Tool"), Column::text("Approval"), Column::text("Rollback"), Column::number("Risk weight"), Column::number("Runs"), Column::number("p50 time"), Column::number("p50 cost"), Column::number("Used by")]>
                                    {list.into_iter().map(|s| view! {
                                        <tr id=format!("tool-{}", s.tool.id) data-testid="tool-row" data-tool=s.tool.id.clone()>
                                            <td class="px-4 py-3">
                                                {tool_chip(s.tool.id.clone(), s.tool.sensitive)}
                                                <p class="mt-1 text-xs text-slate-500">{s.tool.description.clone()}</p>
                                                {can_manage.then(|| view! {
                                                    <a href=format!("/tools?edit={}#edit-tool", url_encode(&s.tool.id)) class="mt-1 inline-block text-xs text-indigo-600 hover:underline" data-testid="edit-tool-link">"Edit"</a>
                                                })}
                                            </td>
                                            <td class="px-4 py-3">
                                                {if s.tool.sensitive {
                                                    view! { <span class="text-amber-700">{format!("{} reviewer(s)", s.tool.required_approvals)}</span> }.into_any()
                                                } else {
                                                    view! { <span class="text-slate-500">"none"</span> }.into_any()
                                                }}
                                            </td>
                                            <td class="px-4 py-3 max-w-xs text-xs text-slate-600">
                                                {match (s.tool.mutating, s.tool.rollback.clone()) {
                                                    (_, Some(r)) => view! { <span>{r}</span> }.into_any(),
                                                    (true, None) => view! { <span class="text-rose-600">"missing: mutating tool without rollback"</span> }.into_any(),
                                                    (false, None) => view! { <span class="text-slate-500">"read-only"</span> }.into_any(),
                                                }}
                                            </td>
                                            <td class="px-4 py-3 text-right tabular-nums">{format!("{:.1}", s.tool.risk_weight)}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.tool.run_count}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.p50_duration_ms.map(format_duration).unwrap_or_else(|| "—".into())}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.p50_cost_usd.map(|c| format!("${c:.3}")).unwrap_or_else(|| "—".into())}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.used_by}</td>
                                        </tr>
                                    }).collect_view()}
                        </DataTable>
                    }.into_any(),
                }}
    }
}
