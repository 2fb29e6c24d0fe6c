//! The tool registry: which tools exist, which need a human, and what their recorded runs cost.

use leptos::prelude::*;

use crate::backlog::fns::tool_summaries;
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
                        <div class=format!("{CARD} overflow-hidden")>
                            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="tools-table">
                                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                                    <tr>
                                        <th class="px-4 py-3">"Tool"</th>
                                        <th class="px-4 py-3">"Approval"</th>
                                        <th class="px-4 py-3">"Rollback"</th>
                                        <th class="px-4 py-3 text-right">"Risk weight"</th>
                                        <th class="px-4 py-3 text-right">"Runs"</th>
                                        <th class="px-4 py-3 text-right">"p50 time"</th>
                                        <th class="px-4 py-3 text-right">"p50 cost"</th>
                                        <th class="px-4 py-3 text-right">"Used by"</th>
                                    </tr>
                                </thead>
                                <tbody class="divide-y divide-slate-100 bg-white">
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
                                            <td class="px-4 py-3 text-right tabular-nums">{s.p50_duration_ms.map(|d| format!("{:.1} s", d as f64 / 1000.0)).unwrap_or_else(|| "—".into())}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.p50_cost_usd.map(|c| format!("${c:.3}")).unwrap_or_else(|| "—".into())}</td>
                                            <td class="px-4 py-3 text-right tabular-nums">{s.used_by}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
