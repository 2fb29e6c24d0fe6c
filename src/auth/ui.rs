//! The sign-in page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::fns::Login;
use crate::ui::{FormError, BUTTON, INPUT, LABEL};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_else(|| "/".into());
    view! {
        <div class="min-h-screen flex items-center justify-center bg-gradient-to-br from-slate-900 via-slate-800 to-indigo-900 px-4">
            <div class="w-full max-w-sm">
                <div class="mb-6 text-center text-white">
                    <div class="mx-auto mb-3 inline-flex h-12 w-12 items-center justify-center rounded-xl bg-indigo-500 text-lg font-bold">"NX"</div>
                    <h1 class="text-2xl font-semibold tracking-tight">"NOFX Control Plane"</h1>
                    <p class="mt-1 text-sm text-slate-300">"Plan the backlog, gate the risky bits, keep humans in charge."</p>
                </div>
                // A region: a failed sign-in comes back in place, the username kept.
                <div class="rounded-xl bg-white p-6 shadow-xl" data-region="main">
                    <FormError/>
                    <ActionForm action=login>
                        <input type="hidden" name="next" value=next/>
                        <div class="space-y-4">
                            <div>
                                <label class=LABEL for="username">"Username"</label>
                                <input class=INPUT id="username" name="username" autocomplete="username" required autofocus/>
                            </div>
                            <div>
                                <label class=LABEL for="password">"Password"</label>
                                <input class=INPUT id="password" name="password" type="password" autocomplete="current-password" required/>
                            </div>
                            <button type="submit" class=format!("{BUTTON} w-full justify-center")>"Sign in"</button>
                        </div>
                    </ActionForm>
                </div>
            </div>
        </div>
    }
}

/// `/keys`: API keys for admins: who holds which role, when each was last used, expiry,
/// revocation, and new keys (shown once).
#[component]
pub fn KeysPage() -> impl IntoView {
    use super::fns::{load_keys, RevokeKey};
    use super::model::KeyStatus;
    use crate::ui::*;
    let revoke = ServerAction::<RevokeKey>::new();
    let data = Resource::new(|| (), |_| load_keys());
    let query = leptos_router::hooks::use_query_map();
    // Without JavaScript a failed creation comes back as `?form_error=` (the island cannot read
    // the address itself: it runs outside the router in the browser).
    let create_error =
        move || query.with_untracked(|q| (q.get("form_for").as_deref() == Some("create_key")).then(|| q.get("form_error")).flatten());
    let session = crate::layout::use_session();
    let tone = |s: KeyStatus| match s {
        KeyStatus::Active => Tone::Good,
        KeyStatus::Expired => Tone::Neutral,
        KeyStatus::Revoked => Tone::Bad,
    };
    view! {
        <PageHeader title="API keys".to_string() subtitle="Keys let automation, workers and Zig Todo call the JSON API. Only a key's first characters are kept readable; the key itself is shown once.".to_string()/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match session.with(data).await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok((info, keys)) => {
                        let csrf = info.csrf.clone();
                        view! {
                            <div class="grid grid-cols-1 gap-6 lg:grid-cols-3">
                                <div class="lg:col-span-2">
                                    {if keys.is_empty() {
                                        view! { <EmptyState title="No API keys" hint="Create one here, with `nofx api-key create`, or POST /api/keys."/> }.into_any()
                                    } else {
                                        view! {
                                            <ul class=format!("{CARD} divide-y divide-slate-100") data-testid="keys">
                                                {keys.into_iter().map(|k| {
                                                    let csrf = csrf.clone();
                                                    let name = k.name.clone();
                                                    view! {
                                                        <li class="p-4" data-testid="key" data-name=k.name.clone()>
                                                            <div class="flex flex-wrap items-center gap-2">
                                                                <span class="break-all font-medium text-slate-900">{k.name.clone()}</span>
                                                                <Pill tone=Tone::Neutral text=k.role.as_str()/>
                                                                <Pill tone=tone(k.status) text=k.status.as_str() testid="key-status" value=k.status.as_str()/>
                                                                <code class="font-mono text-xs text-slate-500">{k.prefix.clone()} "…"</code>
                                                            </div>
                                                            <p class="mt-1 text-xs text-slate-500">
                                                                "Created " {format_time(k.created_at)}
                                                                " · last used " {k.last_used_at.map(format_time).unwrap_or_else(|| "never".into())}
                                                                " · " {match (k.revoked_at, k.expires_at) {
                                                                    (Some(at), _) => format!("revoked {}", format_time(at)),
                                                                    (None, Some(at)) => format!("expires {}", format_time(at)),
                                                                    (None, None) => "never expires".to_string(),
                                                                }}
                                                            </p>
                                                            {(k.status == KeyStatus::Active).then(|| view! {
                                                                <details class="mt-2 text-sm" data-testid="revoke-key">
                                                                    <summary class="cursor-pointer font-medium text-rose-700">"Revoke…"</summary>
                                                                    <ActionForm action=revoke attr:class="mt-2 flex flex-wrap items-center gap-2">
                                                                        <input type="hidden" name="csrf" value=csrf/>
                                                                        <input type="hidden" name="id" value=k.id.to_string()/>
                                                                        <span class="text-slate-600">"Every request with this key is refused from now on."</span>
                                                                        <button type="submit" class=BUTTON_DANGER data-testid="confirm-revoke-key">"Revoke " {name}</button>
                                                                    </ActionForm>
                                                                </details>
                                                            })}
                                                        </li>
                                                    }
                                                }).collect_view()}
                                            </ul>
                                        }.into_any()
                                    }}
                                    <FormError form="revoke_key"/>
                                </div>
                                // Kept as it is when the page script refreshes the list: it shows the new key once.
                                <section class=format!("{CARD} space-y-3 p-4") data-testid="new-key" data-keep="new-key">
                                    <NewKey csrf=csrf.clone() error=create_error()/>
                                </section>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The new-key form: an island, because the key is shown once, in place, from the server
/// function's answer (a redirect would lose it). A created key refreshes the list beside it.
#[island]
fn NewKey(csrf: String, error: Option<String>) -> impl IntoView {
    use super::fns::CreateKey;
    use super::model::Role;
    use crate::ui::{BUTTON, INPUT, LABEL};
    let create = ServerAction::<CreateKey>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            #[cfg(feature = "hydrate")]
            crate::ui::script::ask_refresh();
        }
    });
    let message = move || create.value().get().and_then(|r| r.err()).map(|e| e.message).or_else(|| error.clone());
    view! {
        <h2 class="text-sm font-semibold text-slate-900">"New key"</h2>
        {move || message().map(|m| view! {
            <div role="alert" data-testid="form-error" class="mb-4 rounded-lg border border-rose-200 bg-rose-50 px-4 py-3 text-sm text-rose-800">{m}</div>
        })}
        {move || create.value().get().and_then(|r| r.ok()).map(|k| view! {
            <div role="status" class="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-900" data-testid="created-key">
                <p class="font-semibold">{format!("Created {}. Copy it now: it is not shown again.", k.info.name)}</p>
                <code class="mt-2 block select-all break-all rounded bg-white px-2 py-1 font-mono text-xs text-slate-900" data-testid="created-key-value">{k.key.clone()}</code>
            </div>
        })}
        <ActionForm action=create attr:class="space-y-3">
            <input type="hidden" name="csrf" value=csrf/>
            <div>
                <label class=LABEL for="key-name">"Name"</label>
                <input id="key-name" name="name" class=INPUT required maxlength="40" pattern="[A-Za-z0-9_.\\-]{2,40}" placeholder="ci-deployer"/>
                <p class="mt-1 text-xs text-slate-500">"2–40 letters, digits, '_', '-' or '.'"</p>
            </div>
            <div>
                <label class=LABEL for="key-role">"Role"</label>
                <select id="key-role" name="role" class=INPUT required>
                    <option value="" selected>"Choose a role"</option>
                    {Role::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                </select>
            </div>
            <div>
                <label class=LABEL for="key-expiry">"Expires after (days)"</label>
                <input id="key-expiry" name="expires_in_days" class=INPUT inputmode="numeric" placeholder="never"/>
            </div>
            <button type="submit" class=BUTTON data-testid="create-key">"Create key"</button>
            <noscript><p class="text-xs text-slate-500">"The new key is shown by this page's script; without JavaScript use `nofx api-key create` or POST /api/keys."</p></noscript>
        </ActionForm>
    }
}
