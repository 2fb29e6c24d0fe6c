//! Approval pages: the reviewers' inbox (live), one request with its decision forms, the history.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::fns::{load_approval, load_history, load_inbox, CommentApproval, DecideApproval, DecideApprovals};
use super::model::*;
use crate::backlog::ui::tool_chip;
use crate::events::live::LiveBadge;
use crate::events::model::{EventKind, Subject};
use crate::layout::use_session;
use crate::ui::script::{time_left, urgency, TickKind};
use crate::ui::*;

const EVENTS: &[EventKind] =
    &[EventKind::ApprovalRequested, EventKind::ApprovalDecided, EventKind::ApprovalVoted, EventKind::ApprovalCommented];

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

/// Time left before the request expires, coloured by its urgency (see [`urgency`]); the page
/// script counts it down every second (`data-deadline`).
#[component]
fn Countdown(expires_at: i64, now: i64) -> impl IntoView {
    let left = expires_at - now;
    view! {
        <span data-testid="time-left" data-deadline=expires_at.to_string() class=format!("tabular-nums {}", urgency(left).1)>
            {time_left(left)}
        </span>
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn links(a: &Approval, item_title: Option<String>, pack_name: Option<String>, say_none: bool) -> impl IntoView {
    let plan = a.plan_id.map(|p| {
        let step = a.step_id.clone().map(|s| format!(" · step {s}")).unwrap_or_default();
        view! { <a href=format!("/plans/{p}{}", a.step_id.as_ref().map(|s| format!("?step={s}")).unwrap_or_default()) class="text-indigo-600 hover:underline">{format!("Plan #{p}{step}")}</a> }
    });
    let item = a.backlog_item_id.map(|i| {
        let title = item_title.map(|t| format!("#{i} {t}")).unwrap_or_else(|| format!("Item #{i}"));
        view! { <a href=format!("/backlog/{i}") class="text-indigo-600 hover:underline">{title}</a> }
    });
    let pack = a.pack_id.map(|p| {
        let name = pack_name.unwrap_or_else(|| format!("Pack #{p}"));
        view! { <a href=format!("/backlog?pack_id={p}") class="text-indigo-600 hover:underline">{name}</a> }
    });
    let none = (say_none && plan.is_none() && item.is_none() && pack.is_none())
        .then(|| view! { <span class="text-slate-500">"— not linked to a plan or backlog item"</span> });
    view! { <span class="flex flex-wrap gap-x-3 gap-y-1 text-sm">{plan}{item}{pack}{none}</span> }
}

/// Key/value facts (arguments or context) as wrapping chips; what the call acts on in bold.
fn fact_list(facts: Vec<Fact>, testid: &'static str) -> impl IntoView {
    view! {
        <dl class="flex flex-wrap gap-1.5 text-xs" data-testid=testid>
            {facts.into_iter().map(|f| {
                let class = if f.target {
                    "inline-flex max-w-full gap-1 rounded bg-indigo-50 px-1.5 py-0.5 ring-1 ring-inset ring-indigo-200"
                } else {
                    "inline-flex max-w-full gap-1 rounded bg-slate-50 px-1.5 py-0.5 ring-1 ring-inset ring-slate-200"
                };
                view! {
                    <div class=class data-target=f.target.to_string()>
                        <dt class=if f.target { "shrink-0 text-indigo-700" } else { "shrink-0 text-slate-600" }>{f.key}</dt>
                        <dd class=if f.target { "min-w-0 break-words font-mono font-semibold text-indigo-900" } else { "min-w-0 break-words font-mono text-slate-800" }>{linkify(f.value)}</dd>
                    </div>
                }
            }).collect_view()}
        </dl>
    }
}

/// The colour of a request's standing.
fn standing_tone(a: &Approval) -> &'static str {
    match a.status {
        ApprovalStatus::Pending => "border-amber-200 bg-amber-50 text-amber-900",
        s if s.is_final() && a.go_ahead() => "border-emerald-200 bg-emerald-50 text-emerald-800",
        _ => "border-rose-200 bg-rose-50 text-rose-800",
    }
}

/// `/approvals`: what waits for a human, newest first, refreshed live; each card says what will
/// run, on what, why, how urgent it is and where its quorum stands; reviewers tick requests of one
/// tool and decide them together.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| {
            (
                q.get("tool_id").unwrap_or_default(),
                q.get("pack_id").unwrap_or_default(),
                q.get("plan_id").unwrap_or_default(),
                q.get("decided").unwrap_or_default(),
            )
        })
    };
    let data = Resource::new(filter, |(tool, pack, plan, decided)| load_inbox(tool, pack, plan, decided));
    let bulk = ServerAction::<DecideApprovals>::new();
    let session = use_session();
    view! {
        <PageHeader title="Approvals".to_string() subtitle="Sensitive tool calls waiting for a human decision.".to_string()>
            <LiveBadge kinds=EVENTS/>
            <a href="/approvals/history" class=BUTTON_SECONDARY>"History"</a>
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the inbox…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok((info, inbox)) => view! { <Inbox inbox filter=filter() csrf=info.csrf bulk/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Inbox(inbox: InboxView, filter: (String, String, String, String), csrf: String, bulk: ServerAction<DecideApprovals>) -> impl IntoView {
    let now = inbox.now;
    let (tool, pack, plan, _) = filter;
    let filtered = !(tool.is_empty() && pack.is_empty() && plan.is_empty());
    let count = plural(inbox.pending.len(), "pending request");
    let server_now = inbox.now;
    let me = inbox.me.clone();
    let items: std::collections::HashMap<i64, ItemRef> = inbox.items.iter().map(|i| (i.id, i.clone())).collect();
    let packs: std::collections::HashMap<i64, String> = inbox.packs.iter().cloned().collect();
    let selectable = |a: &Approval| inbox.can_decide && a.requester != inbox.me && !a.approved_by.contains(&inbox.me);
    let any_selectable = inbox.pending.iter().any(selectable);
    let notes = inbox.just_decided.iter().map(|a| {
        let st = a.standing(&me);
        view! {
            <li class=format!("rounded-lg border px-4 py-3 text-sm {}", standing_tone(a)) data-testid="decided-note" data-id=a.id.to_string() data-status=a.status.as_str()>
                <a href=format!("/approvals/{}", a.id) class="font-medium underline">{format!("Request #{} ({})", a.id, a.tool_id)}</a>
                ": " <span data-testid="standing">{st.headline}</span> " " <span class="opacity-80">{st.detail}</span>
            </li>
        }
    }).collect_view();
    let cards = inbox.pending.iter().map(|a| {
        let id = a.id;
        let tool_id = a.tool_id.clone();
        let can_tick = selectable(a);
        let expires_at = a.expires_at;
        let item = a.backlog_item_id.and_then(|i| items.get(&i).cloned());
        let pack_name = a.pack_id.and_then(|p| packs.get(&p).cloned());
        let facts = facts(&a.args);
        let shown = 6;
        let (first, more): (Vec<Fact>, Vec<Fact>) = {
            let mut f = facts;
            let more = if f.len() > shown { f.split_off(shown) } else { vec![] };
            (f, more)
        };
        let (reason, context) = reason_and_rest(&a.context);
        let standing = a.standing(&me);
        let age = format_ago(server_now - a.created_at);
        let border = urgency(expires_at - now).0;
        view! {
            <li class=format!("{CARD} border-l-4 p-4 {border}") data-testid="inbox-row" data-id=id.to_string() data-tool=tool_id.clone()
                data-deadline=expires_at.to_string() data-deadline-border="">
                <div class="flex flex-wrap items-center gap-x-3 gap-y-2">
                    {can_tick.then(|| view! {
                        <input type="checkbox" name="ids[]" value=id.to_string() form="bulk-form"
                            aria-label=format!("Select request #{id}") data-testid="select" data-tick="" data-group=tool_id.clone()
                            title="Select for a bulk decision"
                            class="h-5 w-5 rounded border-slate-300 text-indigo-600 disabled:opacity-30"/>
                    })}
                    {tool_chip(tool_id.clone(), true)}
                    <a href=format!("/approvals/{id}") class="font-medium text-slate-900 hover:text-indigo-600">{format!("Request #{id}")}</a>
                    {item.as_ref().map(|i| crate::backlog::ui::risk_pill(i.risk))}
                    <span class="ml-auto text-sm"><Countdown expires_at now/></span>
                </div>
                <p class="mt-1 text-xs text-slate-500">"asked by " <span class="font-mono">{a.requester.clone()}</span> {format!(" · {age}")}</p>
                {reason.map(|r| view! { <p class="mt-2 break-words text-sm text-slate-800" data-testid="reason">"“" {linkify(r)} "”"</p> })}
                <div class="mt-2">{fact_list(first, "facts")}</div>
                {(!more.is_empty()).then(|| view! {
                    <details class="mt-1.5 text-xs">
                        <summary class="cursor-pointer text-indigo-600 hover:underline">{format!("{} more", plural(more.len(), "argument"))}</summary>
                        <div class="mt-1.5">{fact_list(more, "more-facts")}</div>
                    </details>
                })}
                {(!context.is_empty()).then(|| view! { <div class="mt-1.5">{fact_list(context, "context")}</div> })}
                <div class="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1">
                    {links(a, item.map(|i| i.title), pack_name, false)}
                </div>
                <div class="mt-3 flex flex-wrap items-center gap-3 border-t border-slate-100 pt-3">
                    <p class="min-w-0 flex-1 text-sm text-slate-700" data-testid="standing">{standing.headline}</p>
                    <a href=format!("/approvals/{id}") class=BUTTON>"Review"</a>
                </div>
            </li>
        }
    }).collect_view();
    let empty = inbox.pending.is_empty();
    let total = inbox.pending.iter().filter(|a| selectable(a)).count();
    view! {
        {(!inbox.just_decided.is_empty()).then(|| view! { <ul class="mb-4 space-y-2">{notes}</ul> })}
        <Form method="GET" action="" attr:class="mb-4 grid grid-cols-2 items-end gap-3 sm:flex sm:flex-wrap" attr:data-testid="inbox-filters">
            <FilterSelect id="f-tool" name="tool_id" label="Tool" any="All tools" options=inbox.tools.iter().map(|t| (t.clone(), t.clone())).collect() selected=tool/>
            <FilterSelect id="f-pack" name="pack_id" label="Pack" any="All packs" options=inbox.packs.iter().map(|(id, name)| (id.to_string(), name.clone())).collect() selected=pack/>
            <FilterSelect id="f-plan" name="plan_id" label="Plan" any="All plans" options=inbox.plans.iter().map(|(id, label)| (id.to_string(), label.clone())).collect() selected=plan/>
            <div class="flex items-center gap-3">
                <button type="submit" class=BUTTON_SECONDARY>"Filter"</button>
                {filtered.then(|| view! { <a href="/approvals" class="py-2 text-sm text-indigo-600 hover:underline">"Clear"</a> })}
            </div>
            <p class="py-2 text-sm text-slate-500 sm:ml-auto" data-testid="pending-count">{count}</p>
        </Form>
        // The cards and the bulk bar are one tick group: the page script counts the ticked
        // requests and keeps them to one tool (`data-ticks`).
        <div data-ticks=TickKind::Decide.as_str() data-ticks-total=total.to_string() data-server-now=server_now.to_string()>
            {if empty {
                view! { <EmptyState title="Nothing is waiting" hint="New requests appear here the moment an agent asks; no need to reload."/> }.into_any()
            } else {
                view! { <ul class="space-y-3" data-testid="inbox">{cards}</ul> }.into_any()
            }}
            {any_selectable.then(|| view! { <BulkBar csrf bulk/> })}
        </div>
    }
}

/// The bulk decision bar, stuck to the bottom of the screen: a plain form the checkboxes belong
/// to (`form="bulk-form"`); with JavaScript the page script counts the ticked requests in its
/// sentence and enables the buttons once one is ticked.
#[component]
fn BulkBar(csrf: String, bulk: ServerAction<DecideApprovals>) -> impl IntoView {
    view! {
        <div class="sticky bottom-0 z-10 mt-4 rounded-xl bg-white/95 p-3 shadow-lg ring-1 ring-slate-200 backdrop-blur" data-testid="bulk-bar">
            <FormError form="decide_approvals"/>
            <ActionForm action=bulk attr:id="bulk-form" attr:class="flex flex-wrap items-center gap-2">
                <input type="hidden" name="csrf" value=csrf/>
                <p class="w-full text-sm font-medium text-slate-800 sm:w-auto sm:flex-1" data-testid="selection-count" data-tick-label="" aria-live="polite">"Tick requests of one tool, then decide them together:"</p>
                <input name="comment" maxlength="4000" aria-label="Comment for every selected request (required to deny)"
                    placeholder="Comment (required to deny)" class=format!("{INPUT} min-w-0 flex-1 sm:max-w-xs") data-testid="bulk-comment"/>
                <button type="submit" name="decision" value="approve" data-testid="bulk-approve" data-tick-submit=""
                    class="inline-flex min-h-11 items-center rounded-md bg-emerald-700 px-4 text-sm font-medium text-white shadow-sm hover:bg-emerald-600 disabled:opacity-40">"Approve"</button>
                <button type="submit" name="decision" value="deny" data-testid="bulk-deny" data-tick-submit=""
                    class="inline-flex min-h-11 items-center rounded-md bg-rose-600 px-4 text-sm font-medium text-white shadow-sm hover:bg-rose-500 disabled:opacity-40">"Deny"</button>
            </ActionForm>
        </div>
    }
}

/// `/approvals/:id`: what will run, who asked, the log, and the decision forms.
#[component]
pub fn ApprovalDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let decide = ServerAction::<DecideApproval>::new();
    let comment = ServerAction::<CommentApproval>::new();
    let data = Resource::new(id, load_approval);
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the request…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <PageHeader title="Approval request".to_string()/> <ErrorPanel error=e/> }.into_any(),
                    Ok((info, page)) => view! { <Detail page csrf=info.csrf decide comment/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(page: ApprovalPage, csrf: String, decide: ServerAction<DecideApproval>, comment: ServerAction<CommentApproval>) -> impl IntoView {
    let a = page.approval.clone();
    let now = page.now;
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
    let standing = a.standing(&page.me);
    let (reason, context) = reason_and_rest(&a.context);
    let outcome = if a.expiry_outcome == ExpiryOutcome::Approve { "approved" } else { "denied" };
    view! {
        <nav class="mb-2 text-sm text-slate-500"><a href="/approvals" class="hover:text-indigo-600">"Approvals"</a> {format!(" / #{id}")}</nav>
        <PageHeader title=format!("Run {}?", a.tool_id) subtitle=format!("Request #{id} by {}", a.requester)>
            // Only this request's events refresh its page.
            <LiveBadge kinds=EVENTS subject=Subject::Approval(id)/>
            {status_badge(a.status)}
        </PageHeader>
        <div class=format!("mb-6 rounded-lg border px-4 py-3 text-sm {}", standing_tone(&a)) data-testid="standing-box" role="status" data-server-now=now.to_string()>
            <p class="font-medium" data-testid="standing">{standing.headline}</p>
            <p class="mt-0.5 opacity-90" data-testid="standing-detail">{standing.detail}</p>
        </div>
        <div class=if decidable { "grid grid-cols-1 gap-6 pb-44 lg:grid-cols-3 lg:pb-0" } else { "grid grid-cols-1 gap-6 lg:grid-cols-3" }>
            <section class=format!("{CARD} min-w-0 p-4 sm:p-6 lg:col-span-2 space-y-5")>
                <div>
                    <h2 class="text-sm font-semibold text-slate-900">"What will run"</h2>
                    <div class="mt-2 flex items-center gap-2">{tool_chip(a.tool_id.clone(), true)}</div>
                    {reason.map(|r| view! {
                        <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Why"</h3>
                        <p class="mt-1 break-words text-sm text-slate-800" data-testid="reason">{linkify(r)}</p>
                    })}
                    <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Arguments"</h3>
                    <div class="mt-1">{fact_list(facts(&a.args), "facts")}</div>
                    <details class="mt-2">
                        <summary class="cursor-pointer text-xs text-indigo-600 hover:underline">"Arguments as JSON"</summary>
                        <pre class=format!("mt-1 max-h-96 overflow-auto whitespace-pre-wrap break-words rounded-lg bg-slate-900 p-4 font-mono text-xs text-slate-100 {SCROLL_FOCUS}") tabindex="0" data-testid="args">{pretty(&a.args)}</pre>
                    </details>
                    {(!context.is_empty()).then(|| view! {
                        <h3 class="mt-4 text-xs font-semibold uppercase tracking-wide text-slate-500">"Context"</h3>
                        <div class="mt-1">{fact_list(context, "context")}</div>
                    })}
                </div>
                <dl class="grid grid-cols-1 gap-y-1 text-sm sm:grid-cols-3 sm:gap-y-2">
                    <dt class="text-slate-500">"Links"</dt><dd class="mb-2 sm:col-span-2 sm:mb-0">{links(&a, page.item_title.clone(), page.pack_name.clone(), true)}</dd>
                    <dt class="text-slate-500">"Requested"</dt><dd class="mb-2 sm:col-span-2 sm:mb-0">{format!("{} ({})", format_time(a.created_at), format_ago(page.now - a.created_at))}</dd>
                    {if a.status == ApprovalStatus::Pending {
                        view! {
                            <dt class="text-slate-500">"Expires"</dt>
                            <dd class="mb-2 sm:col-span-2 sm:mb-0">{format_time(a.expires_at)} " · " <Countdown expires_at=a.expires_at now/>
                                <span class="text-slate-500">{format!(" · then counts as {outcome}")}</span>
                            </dd>
                        }.into_any()
                    } else {
                        view! {
                            <dt class="text-slate-500">"Decided"</dt>
                            <dd class="mb-2 sm:col-span-2 sm:mb-0">{a.decided_at.map(format_time).unwrap_or_default()}
                                {a.decided_by.clone().map(|b| format!(" by {b}"))}
                            </dd>
                        }.into_any()
                    }}
                    <dt class="text-slate-500">"Quorum"</dt>
                    <dd class="sm:col-span-2" data-testid="quorum">{format!("{} of {} approvals", a.approved_by.len(), a.required_approvals)}
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
                                           <span class="text-xs text-slate-500">{format!(" · {}", format_time(e.at))}</span></p>
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
                        // On a phone the decision bar stays at the bottom of the screen, however
                        // long the arguments; from `lg` up it is the first card beside them.
                        <section class="fixed inset-x-0 bottom-0 z-20 border-t border-slate-200 bg-white/95 p-3 shadow-[0_-4px_12px_rgba(15,23,42,0.08)] backdrop-blur lg:static lg:rounded-xl lg:border-0 lg:bg-white lg:p-5 lg:shadow-sm lg:ring-1 lg:ring-slate-200" data-testid="decision-bar">
                            <h2 class="mb-2 hidden text-sm font-semibold text-slate-900 lg:block">"Your decision"</h2>
                            <FormError form="decide_approval"/>
                            <ActionForm action=decide attr:data-testid="decision-form" attr:class="space-y-2 lg:space-y-3">
                                <input type="hidden" name="csrf" value=csrf/>
                                <input type="hidden" name="id" value=id.to_string()/>
                                <label class="sr-only lg:not-sr-only lg:mb-1 lg:block lg:text-sm lg:font-medium lg:text-slate-700" for="decision-comment">"Comment " <span class="font-normal text-slate-500">"(required to deny)"</span></label>
                                <textarea id="decision-comment" name="comment" rows="2" class=INPUT maxlength="4000" placeholder="Comment (required to deny)"></textarea>
                                <div class="flex gap-2">
                                    <button type="submit" name="decision" value="approve" class="inline-flex min-h-11 flex-1 items-center justify-center rounded-md bg-emerald-700 px-3.5 text-sm font-medium text-white shadow-sm hover:bg-emerald-600 disabled:opacity-50" disabled=voted data-testid="approve">
                                        {if voted { "You approved" } else { "Approve" }}
                                    </button>
                                    <button type="submit" name="decision" value="deny" class="inline-flex min-h-11 flex-1 items-center justify-center rounded-md bg-rose-600 px-3.5 text-sm font-medium text-white shadow-sm hover:bg-rose-500" data-testid="deny">"Deny"</button>
                                </div>
                            </ActionForm>
                        </section>
                    }
                })}
                {why_not.map(|w| view! { <p class="rounded-lg bg-slate-100 px-4 py-3 text-sm text-slate-600" data-testid="why-not">{w}</p> })}
                {(a.status == ApprovalStatus::Pending).then(|| view! {
                    <section class=format!("{CARD} p-5")>
                        <h2 class="mb-3 text-sm font-semibold text-slate-900">"Comment"</h2>
                        <FormError form="comment_approval"/>
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
        <nav class="mb-2 text-sm text-slate-500"><a href="/approvals" class="hover:text-indigo-600">"Approvals"</a> " / History"</nav>
        <PageHeader title="Approval history".to_string() subtitle="Every decided request: who decided, what, when, and their notes.".to_string()/>
        <div class="mb-4 flex flex-wrap gap-2 text-sm">
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
                        <DataTable testid="history" label="Decided requests" columns=vec![Column::text("#"), Column::text("Tool"), Column::text("Outcome"), Column::text("Decided by"), Column::text("When"), Column::text("Notes")]>
                                    {rows.into_iter().map(|r| {
                                        let a = r.approval;
                                        let notes: Vec<String> = r.log.iter().filter(|e| !e.note.is_empty() && e.kind != LogKind::Requested).map(|e| format!("{}: {}", e.actor, e.note)).collect();
                                        view! {
                                            <tr data-testid="history-row">
                                                <td class="px-4 py-3"><a href=format!("/approvals/{}", a.id) class="text-indigo-600 hover:underline">{a.id}</a></td>
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
