//! The sign-in page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::fns::Login;
use crate::ui::{action_error, FormError, BUTTON, INPUT, LABEL};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_else(|| "/backlog".into());
    view! {
        <div class="min-h-screen flex items-center justify-center bg-gradient-to-br from-slate-900 via-slate-800 to-indigo-900 px-4">
            <div class="w-full max-w-sm">
                <div class="mb-6 text-center text-white">
                    <div class="mx-auto mb-3 inline-flex h-12 w-12 items-center justify-center rounded-xl bg-indigo-500 text-lg font-bold">"NX"</div>
                    <h1 class="text-2xl font-semibold tracking-tight">"NOFX Control Plane"</h1>
                    <p class="mt-1 text-sm text-slate-300">"Plan the backlog, gate the risky bits, keep humans in charge."</p>
                </div>
                <div class="rounded-xl bg-white p-6 shadow-xl">
                    <FormError error=action_error(login)/>
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
                            <button type="submit" class=format!("{BUTTON} w-full justify-center") disabled=move || login.pending().get()>
                                {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                            </button>
                        </div>
                    </ActionForm>
                </div>
            </div>
        </div>
    }
}
