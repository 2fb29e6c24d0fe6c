//! Approval pages: the reviewers' inbox (live), one request with its decision forms, the history.

use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::fns::{load_approval, load_history, load_inbox, CommentApproval, DecideApproval};
use super::model::*;
use crate::backlog::ui::tool_chip;
use crate::events::live::{use_live_events, LiveBadge};
use crate::events::model::{EventKind, Subject};
use crate::layout::use_session;
use crate::ui::*;

const EVENTS: &[EventKind] =
    &[EventKind::ApprovalRequested, EventKind::ApprovalDecided, EventKind::ApprovalVoted, EventKind::ApprovalCommented];

/// A clock that starts at the server's `now` (so SSR and hydration render the same text) and
/// ticks every second in the browser.
fn use_clock(start: i64) -> ReadSignal<i64> {
    let (now, set_now) = signal(start);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || set_now.update(|n| *n += 1000), std::time::Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });
    now
}

pub fn status_badge(s: ApprovalStatus) -> impl IntoView {
    let tone = match s {
        ApprovalStatus::Pending => Tone::Caution,
        ApprovalStatus::Approved => Tone::Good,
        ApprovalStatus::Denied => Tone::Bad,
        ApprovalStatus::Expired => Tone::Neutral,
        ApprovalStatus::Cancelled => Tone::Quiet,
    };
    view! { <Pill tone text=s.as_str() testid="approval-status" value=s.as_str()/> }
}

/// Time left before the request expires, red in its last five minutes.
#[component]
fn Countdown(expires_at: i64, now: ReadSignal<i64>) -> impl IntoView {
    let left = move || expires_at - now.get();
    view! {
        <span data-testid="time-left" class=move || if left() < 300_000 { "font-medium text-rose-700 tabular-nums" } else { "text-slate-600 tabular-nums" }>
            {move || if left() > 0 { format!("{} left", format_duration(left() / 1000 * 1000)) } else { "expiring…".to_string() }}
        </span>
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn links(a: &Approval, item_title: Option<String>, pack_name: Option<String>, say_none: bool) -> impl IntoView {
    let plan = a.plan_id.map(|p| {
        let step = a.step_id.clone().map(|s| format!(" · step {s}")).unwrap_or_default();
        view! { <A href=format!("/plans/{p}{}", a.step_id.as_ref().map(|s| format!("?step={s}")).unwrap_or_default()) attr:class="text-indigo-600 hover:underline">{format!("Plan #{p}{step}")}</A> }
    });
    let item = a.backlog_item_id.map(|i| {
        let title = item_title.map(|t| format!("#{i} {t}")).unwrap_or_else(|| format!("Item #{i}"));
        view! { <A href=format!("/backlog/{i}") attr:class="text-indigo-600 hover:underline">{title}</A> }
    });
    let pack = a.pack_id.map(|p| {
        let name = pack_name.unwrap_or_else(|| format!("Pack #{p}"));
        view! { <A href=format!("/backlog?pack_id={p}") attr:class="text-indigo-600 hover:underline">{name}</A> }
    });
    let none = (say_none && plan.is_none() && item.is_none() && pack.is_none())
        .then(|| view! { <span class="text-slate-400">"— not linked to a plan or backlog item"</span> });
    view! { <span class="flex flex-wrap gap-x-3 gap-y-1 text-sm">{plan}{item}{pack}{none}</span> }
}

/// `/approvals`: what waits for a human, newest first, refreshed live.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| (q.get("tool_id").unwrap_or_default(), q.get("pack_id").unwrap_or_default(), q.get("plan_id").unwrap_or_default()))
    };
    let version = RwSignal::new(0u64);
    let data = Resource::new(move || (filter(), version.get()), |((tool, pack, plan), _)| load_inbox(tool, pack, plan));
    let live = use_live_events(EVENTS, move |_| version.update(|v| *v += 1));
    let decided = move || query.with(|q| q.get("decided"));
    view! {
        <PageHeader title="Approvals".to_string() subtitle="Sensitive tool calls waiting for a human decision.".to_string()>
            <LiveBadge live/>
            <a href="/approvals/history" class=BUTTON_SECONDARY>"History"</a>
        </PageHeader>
        {move || decided().map(|id| view! {
            <p class="mb-4 rounded-lg border border-emerald-200 bg-emerald-50 px-4 py-3 text-sm text-emerald-800" data-testid="decided-note">
                {format!("Request #{id} decided.")}
            </p>
        })}
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the inbox…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(inbox) => {
                        let now = use_clock(inbox.now);
                        let (tool, pack, plan) = filter();
                        let filtered = !(tool.is_empty() && pack.is_empty() && plan.is_empty());
                        let count = plural(inbox.pending.len(), "pending request");
                        let server_now = inbox.now;
                        view! {
                            <Form method="GET" action="" attr:class="mb-4 flex flex-wrap items-end gap-3" attr:data-testid="inbox-filters">
                                <div>
                                    <label class=LABEL for="f-tool">"Tool"</label>
                                    <select id="f-tool" name="tool_id" class=INPUT>
                                        <option value="">"All tools"</option>
                                        {inbox.tools.iter().map(|t| view! { <option value=t.clone() selected=*t == tool>{t.clone()}</option> }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <label class=LABEL for="f-pack">"Pack id"</label>
                                    <input id="f-pack" name="pack_id" inputmode="numeric" class=format!("{INPUT} w-24") value=pack.clone()/>
                                </div>
                                <div>
                                    <label class=LABEL for="f-plan">"Plan id"</label>
                                    <input id="f-plan" name="plan_id" inputmode="numeric" class=format!("{INPUT} w-24") value=plan.clone()/>
                                </div>
                                <button type="submit" class=BUTTON_SECONDARY>"Filter"</button>
                                {filtered.then(|| view! { <a href="/approvals" class="py-2 text-sm text-indigo-600 hover:underline">"Clear"</a> })}
                                <p class="ml-auto py-2 text-sm text-slate-500" data-testid="pending-count">{count}</p>
                            </Form>
                            {if inbox.pending.is_empty() {
                                view! { <EmptyState title="Nothing is waiting" hint="New requests appear here the moment an agent asks; no need to reload."/> }.into_any()
                            } else {
                                view! {
                                    <ul class="space-y-3" data-testid="inbox">
                                        {inbox.pending.into_iter().map(|a| {
                                            let preview: String = a.args.to_string().chars().take(160).collect();
                                            let quorum = format!("{} of {} approvals", a.approved_by.len(), a.required_approvals);
                                            let age = format_duration((server_now - a.created_at) / 1000 * 1000);
                                            view! {
                                                <li class=format!("{CARD} p-4 border-l-4 border-l-amber-400") data-testid="inbox-row" data-id=a.id.to_string()>
                                                    <div class="flex flex-wrap items-center gap-3">
                                                        {tool_chip(a.tool_id.clone(), true)}
                                                        <A href=format!("/approvals/{}", a.id) attr:class="font-medium text-slate-900 hover:text-indigo-600">{format!("Request #{}", a.id)}</A>
                                                        <span class="text-sm text-slate-500">"by " <span class="font-mono">{a.requester.clone()}</span> {format!(" · {age} ago")}</span>
                                                        <span class="ml-auto text-sm"><Countdown expires_at=a.expires_at now/></span>
                                                    </div>
                                                    <pre class="mt-2 truncate rounded bg-slate-50 px-2 py-1 font-mono text-xs text-slate-700">{preview}</pre>
                                                    <div class="mt-2 flex flex-wrap items-center gap-3">
                                                        {links(&a, None, None, false)}
                                                        <span class="text-xs text-slate-500">{quorum}</span>
                                                        <A href=format!("/approvals/{}", a.id) attr:class=format!("{BUTTON} ml-auto")>"Review"</A>
                                                    </div>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// `/approvals/:id`: what will run, who asked, the log, and the decision forms.
#[component]
pub fn ApprovalDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let decide = ServerAction::<DecideApproval>::new();
    let comment = ServerAction::<CommentApproval>::new();
    let version = RwSignal::new(0u64);
    let data = Resource::new(move || (id(), version.get(), comment.version().get(), decide.version().get()), |(id, ..)| load_approval(id));
    // Only this request's events refresh its page.
    let live = use_live_events(EVENTS, move |e| {
        if e.subject == Subject::Approval(params.with_untracked(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0))) {
            version.update(|v| *v += 1);
        }
    });
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the request…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Approval request".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, page)) => view! { <Detail page csrf=info.csrf decide comment live/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(
    page: ApprovalPage,
    csrf: String,
    decide: ServerAction<DecideApproval>,
    comment: ServerAction<CommentApproval>,
    live: ReadSignal<bool>,
) -> impl IntoView {
    let a = page.approval.clone();
    let now = use_clock(page.now);
    let id = a.id;
    let mine = a.requester == page.me;
    let decidable = a.status == ApprovalStatus::Pending && page.can_decide && !mine;
    let why_not = if a.status != ApprovalStatus::Pending {
        None
    } else if mine {
        Some("You asked for this approval, so another reviewer decides it.")
    } else if !page.can_decide {
        Some("Your role can comment but not decide; a reviewer or admin decides.")
    } else {
        None
    };
    let voted = a.approved_by.contains(&page.me);
    view! {
        <nav class="mb-2 text-sm text-slate-500"><A href="/approvals" attr:class="hover:text-indigo-600">"Approvals"</A> {format!(" / #{id}")}</nav>
        <PageHeader title=format!("Run {}?", a.tool_id) subtitle=format!("Request #{id} by {}", a.requester)>
            <LiveBadge live/>
            {status_badge(a.status)}
        </PageHeader>
        <div class="grid grid-cols-1 gap-6 lg:grid-cols-3">
            <section class=format!("{CARD} p-6 lg:col-span-2 space-y-5")>
                <div>
                    <h2 class="text-sm font-semibold text-slate-900">"What will run"</h2>
                    <div class="mt-2 flex items-center gap-2">{tool_chip(a.tool_id.clone(), true)}</div>
                    <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Arguments"</h3>
                    <pre class="mt-1 max-h-96 overflow-auto rounded-lg bg-slate-900 p-4 font-mono text-xs text-slate-100" data-testid="args">{pretty(&a.args)}</pre>
                    {(!a.context.is_null() && a.context != serde_json::json!({})).then(|| view! {
                        <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Context"</h3>
                        <pre class="mt-1 max-h-64 overflow-auto rounded-lg bg-slate-50 p-4 font-mono text-xs text-slate-700 ring-1 ring-slate-200">{pretty(&a.context)}</pre>
                    })}
                </div>
                <dl class="grid grid-cols-3 gap-y-2 text-sm">
                    <dt class="text-slate-500">"Links"</dt><dd class="col-span-2">{links(&a, page.item_title.clone(), page.pack_name.clone(), true)}</dd>
                    <dt class="text-slate-500">"Requested"</dt><dd class="col-span-2">{format!("{} ({} ago)", format_time(a.created_at), format_duration((page.now - a.created_at) / 1000 * 1000))}</dd>
                    <dt class="text-slate-500">"Expires"</dt>
                    <dd class="col-span-2">{format_time(a.expires_at)} " · "
                        {if a.status == ApprovalStatus::Pending { view! { <Countdown expires_at=a.expires_at now/> }.into_any() } else { view! { <span class="text-slate-500">"—"</span> }.into_any() }}
                        <span class="text-slate-500">{format!(" · then counts as {}", if a.expiry_outcome == ExpiryOutcome::Approve { "approved" } else { "denied" })}</span>
                    </dd>
                    <dt class="text-slate-500">"Quorum"</dt>
                    <dd class="col-span-2" data-testid="quorum">{format!("{} of {} approvals", a.approved_by.len(), a.required_approvals)}
                        {(!a.approved_by.is_empty()).then(|| format!(" ({})", a.approved_by.join(", ")))}
                    </dd>
                </dl>
                <div>
                    <h2 class="text-sm font-semibold text-slate-900">"Log"</h2>
                    <ol class="mt-2 space-y-2" data-testid="log">
                        {page.log.iter().map(|e| {
                            let (dot, verb) = match e.kind {
                                LogKind::Requested => ("bg-slate-400", "requested"),
                                LogKind::Approve => ("bg-emerald-500", "approved"),
                                LogKind::Deny => ("bg-rose-500", "denied"),
                                LogKind::Comment => ("bg-indigo-400", "commented"),
                                LogKind::Expired => ("bg-slate-500", "expired it"),
                                LogKind::Cancelled => ("bg-slate-300", "cancelled"),
                                LogKind::Overridden => ("bg-amber-500", "approved it by override"),
                            };
                            view! {
                                <li class="flex gap-3 text-sm" data-testid="log-entry" data-kind=e.kind.as_str()>
                                    <span class=format!("mt-1.5 h-2 w-2 shrink-0 rounded-full {dot}")></span>
                                    <div>
                                        <p><span class="font-mono text-slate-800">{e.actor.clone()}</span> " " <span class="text-slate-600">{verb}</span>
                                           {e.via.map(|v| view! { <span class="text-slate-600" data-testid="via">{format!(" via {}", v.label())}</span> })}
                                           <span class="text-xs text-slate-400">{format!(" · {}", format_time(e.at))}</span></p>
                                        {(!e.note.is_empty()).then(|| view! { <p class="mt-0.5 whitespace-pre-wrap text-slate-700">{e.note.clone()}</p> })}
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                </div>
            </section>
            <aside class="space-y-4">
                {decidable.then(|| {
                    let csrf = csrf.clone();
                    view! {
                        <section class=format!("{CARD} p-5")>
                            <h2 class="mb-3 text-sm font-semibold text-slate-900">"Your decision"</h2>
                            <FormError error=action_error(decide) form="decide_approval"/>
                            <ActionForm action=decide attr:data-testid="decision-form" attr:class="space-y-3">
                                <input type="hidden" name="csrf" value=csrf/>
                                <input type="hidden" name="id" value=id.to_string()/>
                                <label class=LABEL for="decision-comment">"Comment " <span class="font-normal text-slate-400">"(required to deny)"</span></label>
                                <textarea id="decision-comment" name="comment" rows="3" class=INPUT maxlength="4000" placeholder="What the requester should know"></textarea>
                                <div class="flex gap-2">
                                    <button type="submit" name="decision" value="approve" class="inline-flex flex-1 justify-center rounded-md bg-emerald-600 px-3.5 py-2 text-sm font-medium text-white shadow-sm hover:bg-emerald-500 disabled:opacity-50" disabled=voted data-testid="approve">
                                        {if voted { "You approved" } else { "Approve" }}
                                    </button>
                                    <button type="submit" name="decision" value="deny" class="inline-flex flex-1 justify-center rounded-md bg-rose-600 px-3.5 py-2 text-sm font-medium text-white shadow-sm hover:bg-rose-500" data-testid="deny">"Deny"</button>
                                </div>
                            </ActionForm>
                        </section>
                    }
                })}
                {why_not.map(|w| view! { <p class="rounded-lg bg-slate-100 px-4 py-3 text-sm text-slate-600" data-testid="why-not">{w}</p> })}
                {(a.status == ApprovalStatus::Pending).then(|| view! {
                    <section class=format!("{CARD} p-5")>
                        <h2 class="mb-3 text-sm font-semibold text-slate-900">"Comment"</h2>
                        <FormError error=action_error(comment) form="comment_approval"/>
                        <ActionForm action=comment attr:data-testid="comment-form" attr:class="space-y-3">
                            <input type="hidden" name="csrf" value=csrf.clone()/>
                            <input type="hidden" name="id" value=id.to_string()/>
                            <textarea name="comment" rows="2" class=INPUT maxlength="4000" placeholder="Ask a question or add a note" aria-label="Comment"></textarea>
                            <button type="submit" class=BUTTON_SECONDARY data-testid="send-comment">"Add comment"</button>
                        </ActionForm>
                    </section>
                })}
            </aside>
        </div>
    }
}

/// `/approvals/history`: decided requests with who, what, when and notes.
#[component]
pub fn ApprovalHistoryPage() -> impl IntoView {
    let query = use_query_map();
    let status = move || query.with(|q| q.get("status").unwrap_or_default());
    let data = Resource::new(status, load_history);
    view! {
        <nav class="mb-2 text-sm text-slate-500"><A href="/approvals" attr:class="hover:text-indigo-600">"Approvals"</A> " / History"</nav>
        <PageHeader title="Approval history".to_string() subtitle="Every decided request: who decided, what, when, and their notes.".to_string()/>
        <div class="mb-4 flex gap-2 text-sm">
            {["", "approved", "denied", "expired", "cancelled"].into_iter().map(|s| {
                let label = if s.is_empty() { "All" } else { s };
                view! {
                    <a href=if s.is_empty() { "/approvals/history".to_string() } else { format!("/approvals/history?status={s}") }
                       class=move || if status() == s { "rounded-full bg-slate-900 px-3 py-1 text-white" } else { "rounded-full bg-white px-3 py-1 text-slate-700 ring-1 ring-slate-200 hover:bg-slate-50" }>{label}</a>
                }
            }).collect_view()}
        </div>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <EmptyState title="No decisions yet" hint="Decided requests are listed here with their log."/> }.into_any(),
                    Ok(rows) => view! {
                        <DataTable testid="history" columns=vec![Column::text("#"), Column::text("Tool"), Column::text("Outcome"), Column::text("Decided by"), Column::text("When"), Column::text("Notes")]>
                                    {rows.into_iter().map(|r| {
                                        let a = r.approval;
                                        let notes: Vec<String> = r.log.iter().filter(|e| !e.note.is_empty() && e.kind != LogKind::Requested).map(|e| format!("{}: {}", e.actor, e.note)).collect();
                                        view! {
                                            <tr data-testid="history-row">
                                                <td class="px-4 py-3"><A href=format!("/approvals/{}", a.id) attr:class="text-indigo-600 hover:underline">{a.id}</A></td>
                                                <td class="px-4 py-3 font-mono text-xs">{a.tool_id.clone()}</td>
                                                <td class="px-4 py-3">{status_badge(a.status)}</td>
                                                <td class="px-4 py-3 font-mono text-xs">{a.decided_by.clone().unwrap_or_default()}</td>
                                                <td class="px-4 py-3 whitespace-nowrap text-slate-600">{a.decided_at.map(format_time).unwrap_or_default()}</td>
                                                <td class="px-4 py-3 text-slate-700">{notes.into_iter().map(|n| view! { <p>{n}</p> }).collect_view()}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                        </DataTable>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
