//! The Audit page (filters, records newest first with links to their subjects, the chain's
//! head and verification, the export) and the audit trail shown on plan and item pages.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::fns::{load_audit, AuditQuery, VerifyAudit};
use super::model::*;
use crate::layout::use_session;
use crate::ui::*;

fn door_tone(door: Door) -> Tone {
    match door {
        Door::Browser => Tone::Active,
        Door::Api => Tone::Neutral,
        Door::Webhook => Tone::Caution,
        Door::Cli | Door::System => Tone::Quiet,
    }
}

fn action_tone(action: super::model::Action) -> Tone {
    use super::model::Action::*;
    match action {
        ApprovalDenied | PlanRejected | PlanFailed | StepFailed | SignInFailed | KeyRevoked | OverrideRevoked | OverrideRejected => {
            Tone::Bad
        }
        OverrideRequested | OverrideCreated | ApprovalOverridden | OverrideExpired | WebhookSecretRotated | WebhookSecretRemoved => {
            Tone::Caution
        }
        ApprovalApproved | PlanApproved | PlanSucceeded | StepSucceeded => Tone::Good,
        _ => Tone::Neutral,
    }
}

/// Links of one record to the pages of what it concerns.
fn links_view(l: &Links) -> impl IntoView {
    let mut out: Vec<AnyView> = vec![];
    if let Some(p) = l.plan {
        let href = match &l.step {
            Some(s) => format!("/plans/{p}?step={}#step", super::fns::encode(s)),
            None => format!("/plans/{p}"),
        };
        let text = match &l.step {
            Some(s) => format!("plan #{p} · step {s}"),
            None => format!("plan #{p}"),
        };
        out.push(view! { <a href=href class="text-indigo-600 hover:underline">{text}</a> }.into_any());
    }
    if let Some(a) = l.approval {
        out.push(view! { <a href=format!("/approvals/{a}") class="text-indigo-600 hover:underline">"approval #" {a}</a> }.into_any());
    }
    if let Some(o) = l.override_id {
        out.push(view! { <span class="text-slate-600">"override #" {o}</span> }.into_any());
    }
    for i in l.items.iter().take(5).copied() {
        out.push(view! { <a href=format!("/backlog/{i}") class="text-indigo-600 hover:underline">"item #" {i}</a> }.into_any());
    }
    if l.items.len() > 5 {
        let more = l.items.len() - 5;
        let first = l.items[0];
        out.push(
            view! { <a href=format!("/audit?item={first}") class="text-slate-500 hover:underline">{format!("+{more} items")}</a> }
                .into_any(),
        );
    }
    for p in l.packs.iter().take(3).copied() {
        out.push(view! { <a href=format!("/audit?pack={p}") class="text-indigo-600 hover:underline">"pack #" {p}</a> }.into_any());
    }
    view! { <div class="flex flex-wrap gap-x-2 gap-y-0.5 text-xs">{out}</div> }
}

/// One record as a list entry (the Audit page and the trails use the same).
#[component]
fn RecordRow(r: Record) -> impl IntoView {
    let role = r.role.map(|r| r.as_str().to_string()).unwrap_or_default();
    view! {
        <li class="flex flex-col gap-1 px-4 py-3 sm:flex-row sm:items-start sm:gap-4" data-testid="audit-record" data-action=r.action.as_str()>
            <div class="w-40 shrink-0 text-xs text-slate-500 tabular-nums">
                <span title=format!("record {} · hash {}", r.seq, r.hash)>"#" {r.seq}</span> " · " {format_time(r.at)}
            </div>
            <div class="min-w-0 flex-1">
                <div class="flex flex-wrap items-center gap-2">
                    <Pill tone=action_tone(r.action) text=r.action.as_str() value=r.action.as_str()/>
                    <span class="break-all text-sm font-medium text-slate-800" data-testid="audit-actor">{r.actor.clone()}</span>
                    {(!role.is_empty()).then(|| view! { <span class="text-xs text-slate-500">{role}</span> })}
                    <Pill tone=door_tone(r.door) text=r.door.label() value=r.door.as_str()/>
                </div>
                <p class="mt-1 break-words text-sm text-slate-700" data-testid="audit-summary">{rich(r.summary.clone())}</p>
                {links_view(&r.links)}
            </div>
        </li>
    }
}

/// `/audit`: every audited action, newest first, filtered, with the chain's state.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        query.with(|q| AuditQuery {
            pack: q.get("pack").unwrap_or_default(),
            item: q.get("item").unwrap_or_default(),
            plan: q.get("plan").unwrap_or_default(),
            approval: q.get("approval").unwrap_or_default(),
            actor: q.get("actor").unwrap_or_default(),
            action: q.get("action").unwrap_or_default(),
            since: q.get("since").unwrap_or_default(),
            until: q.get("until").unwrap_or_default(),
            before: q.get("before").unwrap_or_default(),
        })
    };
    let data = Resource::new(filters, load_audit);
    let session = use_session();
    view! {
        <PageHeader title="Audit".to_string() subtitle="Every plan, override, approval, key and sign-in: who did it, through which door, when, and what it concerns. Hash-chained: no record can be changed, removed or reordered unnoticed.".to_string()/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the audit trail…"</p> }>
            {move || Suspend::new(async move {
                let q = filters();
                match session.with(data).await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok((info, v)) => view! { <AuditBody v q csrf=info.csrf/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AuditBody(v: super::fns::AuditView, q: AuditQuery, csrf: String) -> impl IntoView {
    let export = v.export.clone();
    let older = v.page.next.map(|n| {
        let rest = q.to_query();
        if rest.is_empty() {
            format!("/audit?before={n}")
        } else {
            format!("/audit?{rest}&before={n}")
        }
    });
    let head = v.head.clone();
    let areas: Vec<&'static str> = {
        let mut a: Vec<&'static str> = super::model::Action::ALL.iter().map(|a| a.area()).collect();
        a.dedup();
        a
    };
    let filtered = q.is_filtered();
    view! {
        <div class="grid grid-cols-1 gap-6 lg:grid-cols-4">
            <aside class="space-y-4 lg:col-span-1">
                <form method="get" action="/audit" class=format!("{CARD} space-y-3 p-4") data-testid="audit-filters">
                    <h2 class="text-sm font-semibold text-slate-900">"Filter"</h2>
                    <div>
                        <label class=LABEL for="f-pack">"Pack"</label>
                        <select id="f-pack" name="pack" class=INPUT>
                            <option value="">"Any pack"</option>
                            {v.packs.iter().map(|(id, name)| {
                                let selected = q.pack.trim() == id.to_string();
                                view! { <option value=id.to_string() selected=selected>{name.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                    <div class="grid grid-cols-3 gap-2">
                        <div><label class=LABEL for="f-item">"Item"</label><input id="f-item" name="item" inputmode="numeric" class=INPUT value=q.item.clone() placeholder="#"/></div>
                        <div><label class=LABEL for="f-plan">"Plan"</label><input id="f-plan" name="plan" inputmode="numeric" class=INPUT value=q.plan.clone() placeholder="#"/></div>
                        <div><label class=LABEL for="f-approval">"Request"</label><input id="f-approval" name="approval" inputmode="numeric" class=INPUT value=q.approval.clone() placeholder="#"/></div>
                    </div>
                    <div>
                        <label class=LABEL for="f-actor">"Actor"</label>
                        <input id="f-actor" name="actor" class=INPUT value=q.actor.clone() placeholder="user:alice, key:ci, system" maxlength="200"/>
                    </div>
                    <div>
                        <label class=LABEL for="f-action">"Action"</label>
                        <select id="f-action" name="action" class=INPUT>
                            <option value="">"Any action"</option>
                            {areas.into_iter().map(|area| {
                                let all = format!("{area}.*");
                                let selected = q.action == all;
                                view! {
                                    <optgroup label=area>
                                        <option value=all.clone() selected=selected>{format!("every {area} action")}</option>
                                        {super::model::Action::ALL.iter().filter(|a| a.area() == area).map(|a| {
                                            let selected = q.action == a.as_str();
                                            view! { <option value=a.as_str() selected=selected>{a.as_str()}</option> }
                                        }).collect_view()}
                                    </optgroup>
                                }
                            }).collect_view()}
                        </select>
                    </div>
                    <div class="grid grid-cols-2 gap-2">
                        <div><label class=LABEL for="f-since">"From"</label><input id="f-since" type="date" name="since" class=INPUT value=q.since.clone()/></div>
                        <div><label class=LABEL for="f-until">"To"</label><input id="f-until" type="date" name="until" class=INPUT value=q.until.clone()/></div>
                    </div>
                    <div class="flex flex-wrap gap-2">
                        <button type="submit" class=BUTTON data-testid="apply-filters">"Apply"</button>
                        {filtered.then(|| view! { <a href="/audit" class=BUTTON_SECONDARY>"Clear"</a> })}
                    </div>
                </form>

                <section class=format!("{CARD} space-y-2 p-4") data-testid="chain">
                    <h2 class="text-sm font-semibold text-slate-900">"Hash chain"</h2>
                    {if head.seq == 0 {
                        view! { <p class="text-sm text-slate-500">"Nothing recorded yet."</p> }.into_any()
                    } else {
                        view! {
                            <p class="text-sm text-slate-600">"Head: record " <span class="font-semibold tabular-nums" data-testid="head-seq">{head.seq}</span></p>
                            <p class="break-all font-mono text-xs text-slate-500" data-testid="head-hash">{head.hash.clone()}</p>
                            <p class="text-xs text-slate-500">"Keep " <code class="font-mono">{head.to_string().chars().take(20).collect::<String>()} "…"</code> " elsewhere; " <code class="font-mono">"nofx audit verify --expect-head"</code> " proves later that nothing up to it changed."</p>
                        }.into_any()
                    }}
                    <VerifyChain csrf/>
                    <a href=export.clone() class="block text-sm text-indigo-600 hover:underline" data-testid="export" download="nofx-audit.jsonl">
                        {if filtered { "Export these records (JSON Lines)" } else { "Export the whole log (JSON Lines)" }}
                    </a>
                </section>
            </aside>

            <section class="lg:col-span-3">
                {if v.page.records.is_empty() {
                    view! { <EmptyState title="No records" hint=if filtered { "Nothing matches these filters." } else { "Nothing has been recorded yet." }/> }.into_any()
                } else {
                    view! {
                        <ul class=format!("{CARD} divide-y divide-slate-100") data-testid="audit-records">
                            {v.page.records.into_iter().map(|r| view! { <RecordRow r/> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                {older.map(|href| view! {
                    <div class="mt-4 text-right"><a href=href class=BUTTON_SECONDARY data-testid="older">"Older records →"</a></div>
                })}
            </section>
        </div>
    }
}

/// The newest records about one plan, item or pack, with a link to all of them.
#[component]
pub fn AuditTrail(page: AuditPage, all: String) -> impl IntoView {
    view! {
        <section class=format!("{CARD}") data-testid="audit-trail">
            <div class="flex items-center justify-between px-4 pt-4">
                <h2 class="text-sm font-semibold text-slate-900">"Audit trail"</h2>
                <a href=all class="text-xs text-indigo-600 hover:underline">"All records →"</a>
            </div>
            {if page.records.is_empty() {
                view! { <p class="p-4 text-sm text-slate-500">"Nothing recorded yet."</p> }.into_any()
            } else {
                view! { <ul class="mt-2 divide-y divide-slate-100">{page.records.into_iter().map(|r| view! { <RecordRow r/> }).collect_view()}</ul> }.into_any()
            }}
        </section>
    }
}

/// "Verify the chain" and its verdict: an island, since the verdict is the server function's
/// answer, shown in place (without JavaScript the button reloads the page, which shows the head).
#[island]
fn VerifyChain(csrf: String) -> impl IntoView {
    let verify = ServerAction::<VerifyAudit>::new();
    view! {
        <ActionForm action=verify>
            <input type="hidden" name="csrf" value=csrf/>
            <button type="submit" class=BUTTON_SECONDARY data-testid="verify-chain">"Verify the chain"</button>
        </ActionForm>
        {move || verify.value().get().map(|r| match r {
            Ok(s) => match s.broken {
                None => view! { <p role="status" class="rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" data-testid="chain-status" data-value="intact">{format!("Intact: {} checked, up to record {}.", plural(s.records as usize, "record"), s.head.seq)}</p> }.into_any(),
                Some(b) => view! { <p role="alert" class="rounded-md bg-rose-50 px-3 py-2 text-sm text-rose-800" data-testid="chain-status" data-value="broken">{format!("Broken: {}. Intact up to record {}.", b.describe(), s.head.seq)}</p> }.into_any(),
            },
            Err(e) => view! { <p role="alert" class="text-sm text-rose-700">{e.message}</p> }.into_any(),
        })}
    }
}
