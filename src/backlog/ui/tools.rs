//! The tool registry: which tools exist, which need a human, and what their recorded runs cost.

use leptos::prelude::*;

use crate::backlog::fns::tool_summaries;
use crate::backlog::ui::tool_chip;
use crate::ui::*;

#[component]
pub fn ToolsPage() -> impl IntoView {
    let tools = Resource::new(|| (), |_| tool_summaries());
    view! {
        <PageHeader title="Tools".to_string() subtitle="The registry the gates read: sensitivity, approvals, rollback recipes and recorded runs.".to_string()/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading tools…"</p> }>
            {move || Suspend::new(async move {
                match tools.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState title="No tools registered" hint="Register tools with POST /api/tools (admin key) or load the demo with `nofx seed-demo`."/>
                    }.into_any(),
                    Ok(list) => view! {
                        <DataTable testid="tools-table" columns=vec![Column::text("Tool"), Column::text("Approval"), Column::text("Rollback"), Column::number("Risk weight"), Column::number("Runs"), Column::number("p50 time"), Column::number("p50 cost"), Column::number("Used by")]>
                                    {list.into_iter().map(|s| view! {
                                        <tr>
                                            <td class="px-4 py-3">
                                                {tool_chip(s.tool.id.clone(), s.tool.sensitive)}
                                                <p class="mt-1 text-xs text-slate-500">{s.tool.description.clone()}</p>
                                            </td>
                                            <td class="px-4 py-3">
                                                {if s.tool.sensitive {
                                                    view! { <span class="text-amber-700">{format!("{} reviewer(s)", s.tool.required_approvals)}</span> }.into_any()
                                                } else {
                                                    view! { <span class="text-slate-400">"none"</span> }.into_any()
                                                }}
                                            </td>
                                            <td class="px-4 py-3 max-w-xs text-xs text-slate-600">
                                                {match (s.tool.mutating, s.tool.rollback.clone()) {
                                                    (_, Some(r)) => view! { <span>{r}</span> }.into_any(),
                                                    (true, None) => view! { <span class="text-rose-600">"missing: mutating tool without rollback"</span> }.into_any(),
                                                    (false, None) => view! { <span class="text-slate-400">"read-only"</span> }.into_any(),
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
                }
            })}
        </Transition>
    }
}
