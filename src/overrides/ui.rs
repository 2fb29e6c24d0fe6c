//! The plan page's override parts: the banner of overrides in force (who overrode what, why,
//! until when, with Revoke), and the form to override a verdict or a pending request.

use leptos::prelude::*;

use super::fns::{Choice, CreateOverride, OverrideRules, RevokeOverride};
use super::model::{Override, OverrideStatus, Target};
use crate::ui::*;

/// Everything the plan page shows about overrides.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverridesView {
    /// Newest first, each with its status now.
    pub overrides: Vec<Override>,
    /// What the viewer could override (empty when nothing blocks or waits).
    pub choices: Vec<Choice>,
    /// The viewer's role may override (the policy's `roles`).
    pub can_override: bool,
    pub rules: OverrideRules,
    /// The viewer (`user:alice`): the author of an override may revoke it.
    pub me: String,
}

fn status_tone(s: OverrideStatus) -> Tone {
    match s {
        OverrideStatus::Active | OverrideStatus::Applied => Tone::Caution,
        OverrideStatus::Pending => Tone::Active,
        OverrideStatus::Rejected | OverrideStatus::Revoked => Tone::Quiet,
        OverrideStatus::Expired => Tone::Neutral,
    }
}

/// The expiry choices, capped by the policy.
fn expiries(max_hours: i64) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> =
        [(30, "30 minutes"), (60, "1 hour"), (240, "4 hours"), (1440, "1 day"), (4320, "3 days"), (10080, "7 days")]
            .into_iter()
            .filter(|(m, _)| *m <= max_hours * 60)
            .map(|(m, l)| (m, l.to_string()))
            .collect();
    if out.last().is_none_or(|(m, _)| *m < max_hours * 60) {
        out.push((max_hours * 60, format!("{max_hours} hours (the most the policy allows)")));
    }
    out
}

#[component]
pub fn OverridePanel(
    plan_id: i64,
    v: OverridesView,
    /// Until when the overrides in force lift every block (the plan reads ready until then).
    unblocked_until: Option<i64>,
    csrf: String,
    create: ServerAction<CreateOverride>,
    revoke: ServerAction<RevokeOverride>,
) -> impl IntoView {
    let live: Vec<Override> = v.overrides.iter().filter(|o| o.status.is_live()).cloned().collect();
    let ended: Vec<Override> = v.overrides.iter().filter(|o| !o.status.is_live()).cloned().collect();
    let selectable = v.choices.iter().any(|c| c.refused.is_none());
    let show_form = v.can_override && !v.choices.is_empty();
    let nothing = live.is_empty() && ended.is_empty() && !show_form && v.choices.is_empty();
    let rules = v.rules.clone();
    let me = v.me.clone();
    let can_override = v.can_override;
    let csrf_revoke = csrf.clone();
    let who_may = rules.roles.join(", ");
    let ask_someone = !can_override && selectable;
    (!nothing).then(move || view! {
        <section class="mb-6 space-y-3" data-testid="overrides">
            {unblocked_until.map(|until| view! {
                <div role="status" class="rounded-xl border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900" data-testid="override-banner">
                    <p class="font-semibold">"Ready only because of overrides, until " {format_time(until)}</p>
                    <p class="mt-1">"The gates block this plan; the overrides below lift every block until then. After that it is blocked again, also if it has not started."</p>
                </div>
            })}
            {(!live.is_empty()).then(|| view! {
                <ul class=format!("{CARD} divide-y divide-slate-100") data-testid="live-overrides">
                    {live.into_iter().map(|o| {
                        let may_revoke = can_override || o.created_by == me;
                        let csrf = csrf_revoke.clone();
                        view! { <OverrideRow o=o.clone() plan_id>
                            {may_revoke.then(|| view! {
                                <details class="mt-2 text-sm" data-testid="revoke">
                                    <summary class="cursor-pointer font-medium text-rose-700">"Revoke…"</summary>
                                    <ActionForm action=revoke attr:class="mt-2 flex flex-col gap-2 sm:flex-row sm:items-end">
                                        <input type="hidden" name="csrf" value=csrf/>
                                        <input type="hidden" name="id" value=o.id.to_string()/>
                                        <input type="hidden" name="plan_id" value=plan_id.to_string()/>
                                        <div class="flex-1">
                                            <label class=LABEL for=format!("revoke-reason-{}", o.id)>"Why " <span class="font-normal text-slate-500">"(optional)"</span></label>
                                            <input id=format!("revoke-reason-{}", o.id) name="reason" class=INPUT maxlength="1000"/>
                                        </div>
                                        <button type="submit" class=BUTTON_DANGER data-testid="confirm-revoke">"Revoke override"</button>
                                    </ActionForm>
                                </details>
                            })}
                        </OverrideRow> }
                    }).collect_view()}
                </ul>
            })}
            <FormError form="revoke_override"/>
            {show_form.then(|| view! {
                <details class=format!("{CARD} p-4") data-testid="override-form" open=move || create.value().get().is_some_and(|r| r.is_err())>
                    <summary class="cursor-pointer text-sm font-semibold text-slate-900">"Override a verdict or request…"</summary>
                    <p class="mt-2 text-sm text-slate-600">
                        "An override lets this plan proceed past a soft-mandatory verdict (or decides a pending request) for a limited time. It is recorded in the audit trail with your justification"
                        {if rules.require_approval { ", and a second person must approve it before it takes effect." } else { "." }}
                        " Hard-mandatory verdicts can never be overridden."
                    </p>
                    <FormError form="create_override"/>
                    {if selectable {
                        view! {
                            <ActionForm action=create attr:class="mt-3 space-y-3">
                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                <input type="hidden" name="plan_id" value=plan_id.to_string()/>
                                <div>
                                    <label class=LABEL for="override-target">"What to override"</label>
                                    <select id="override-target" name="target" class=INPUT required data-testid="override-target">
                                        {v.choices.iter().map(|c| view! {
                                            <option value=c.value.clone() disabled=c.refused.is_some()>
                                                {match &c.refused { Some(why) => format!("{} — {why}", c.label), None => c.label.clone() }}
                                            </option>
                                        }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <label class=LABEL for="override-justification">"Justification"</label>
                                    <textarea id="override-justification" name="justification" rows="3" class=INPUT required
                                        minlength=rules.min_justification_chars.to_string() maxlength="2000"
                                        placeholder="Why it is right to proceed anyway: who decided, the ticket, the risk you accept."
                                        data-testid="override-justification"></textarea>
                                    <p class="mt-1 text-xs text-slate-500">{format!("At least {} characters; reviewers and auditors read it.", rules.min_justification_chars)}</p>
                                </div>
                                <div>
                                    <label class=LABEL for="override-expiry">"In force for"</label>
                                    <select id="override-expiry" name="expires_in_minutes" class=INPUT data-testid="override-expiry">
                                        {expiries(rules.max_hours).into_iter().map(|(m, l)| view! { <option value=m.to_string()>{l}</option> }).collect_view()}
                                    </select>
                                </div>
                                <button type="submit" class=BUTTON data-testid="submit-override">
                                    {if rules.require_approval { "Ask for the override" } else { "Override" }}
                                </button>
                            </ActionForm>
                        }.into_any()
                    } else {
                        view! {
                            <ul class="mt-3 list-disc pl-5 text-sm text-slate-700">
                                {v.choices.iter().map(|c| view! { <li>{c.label.clone()} " — " {c.refused.clone().unwrap_or_default()}</li> }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </details>
            })}
            {ask_someone.then(|| view! {
                <p class="text-xs text-slate-500" data-testid="override-who">{format!("Soft-mandatory blocks can be overridden by: {who_may}.")}</p>
            })}
            {(!ended.is_empty()).then(|| view! {
                <details class="text-sm text-slate-600">
                    <summary class="cursor-pointer">{format!("Earlier overrides ({})", ended.len())}</summary>
                    <ul class=format!("{CARD} mt-2 divide-y divide-slate-100")>
                        {ended.into_iter().map(|o| view! { <OverrideRow o plan_id/> }).collect_view()}
                    </ul>
                </details>
            })}
        </section>
    })
}

#[component]
fn OverrideRow(o: Override, plan_id: i64, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    let until = match o.status {
        OverrideStatus::Active => format!("in force until {}", format_time(o.expires_at)),
        OverrideStatus::Pending => format!("waits for a second person's approval; lapses at {}", format_time(o.expires_at)),
        OverrideStatus::Applied => "decided the request".to_string(),
        OverrideStatus::Expired => format!("expired at {}", format_time(o.expires_at)),
        OverrideStatus::Revoked => format!("revoked by {}", o.ended_by.clone().unwrap_or_default()),
        OverrideStatus::Rejected => "not approved; never took effect".to_string(),
    };
    let target = match &o.target {
        Target::StepVerdict { step_id, .. } => view! {
            <a href=format!("/plans/{plan_id}?step={}#step", crate::audit::fns::encode(step_id)) class="text-indigo-600 hover:underline">{o.target.label()}</a>
        }.into_any(),
        Target::Approval { approval_id } => view! {
            <a href=format!("/approvals/{approval_id}") class="text-indigo-600 hover:underline">{o.target.label()}</a>
        }.into_any(),
        Target::PlanVerdict { .. } => view! { <span>{o.target.label()}</span> }.into_any(),
    };
    view! {
        <li class="p-4" data-testid="override" data-status=o.status.as_str()>
            <div class="flex flex-wrap items-center gap-2 text-sm">
                <Pill tone=status_tone(o.status) text=o.status.as_str() value=o.status.as_str()/>
                <span class="font-medium text-slate-900 break-all">{o.created_by.clone()}</span>
                <span class="text-slate-600">"overrode " {target}</span>
            </div>
            <blockquote class="mt-2 border-l-2 border-amber-300 pl-3 text-sm text-slate-800 break-words" data-testid="override-justification-text">{o.justification.clone()}</blockquote>
            <p class="mt-1 text-xs text-slate-500">
                {until} " · created " {format_time(o.created_at)}
                {o.review_approval_id.map(|a| view! { " · " <a href=format!("/approvals/{a}") class="underline">"review #" {a}</a> })}
                {o.end_note.clone().map(|n| view! { <span class="break-words">" · “" {n} "”"</span> })}
            </p>
            {children.map(|c| c())}
        </li>
    }
}
