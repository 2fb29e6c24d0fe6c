//! Packs: the bundles backlog items belong to. List, create, delete.

use leptos::prelude::*;

use crate::auth::fns::SessionInfo;
use crate::backlog::fns::{list_packs, CreatePack, DeletePack};
use crate::layout::use_session;
use crate::ui::*;

fn can_edit(info: &SessionInfo) -> bool {
    info.can.edit_backlog
}

#[component]
pub fn PacksPage() -> impl IntoView {
    let create = ServerAction::<CreatePack>::new();
    let delete = ServerAction::<DeletePack>::new();
    // A created pack comes back as a fresh page: the list with it, the form empty for the next.
    let packs = Resource::new(|| (), |_| list_packs());
    let session = use_session();
    view! {
        <PageHeader title="Packs".to_string() subtitle="Rule packs bundle the items of one area of work.".to_string()/>
        <div class="grid grid-cols-1 gap-6 lg:grid-cols-3">
            <div class="lg:col-span-2">
                <FormError/>
                <Transition fallback=|| view! { <p class="text-slate-500">"Loading packs…"</p> }>
                    {move || Suspend::new(async move {
                        match session.with(packs).await {
                            Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                            Ok((_, list)) if list.is_empty() => view! { <EmptyState title="No packs yet" hint="Create the first pack with the form."/> }.into_any(),
                            Ok((info, list)) => {
                                let can_edit = can_edit(&info);
                                let read_audit = info.can.read_audit;
                                let csrf = info.csrf;
                                view! {
                                    <ul class=format!("{CARD} divide-y divide-slate-100") data-testid="pack-list">
                                        {list.into_iter().map(|p| {
                                            let csrf = csrf.clone();
                                            let confirm = format!("Delete pack “{}”? Only an empty pack can go; this cannot be undone.", p.name);
                                            view! {
                                            <li class="flex items-center gap-4 px-5 py-4">
                                                <div class="min-w-0 flex-1">
                                                    <a href=format!("/backlog?pack_id={}", p.id) class="font-medium text-slate-900 hover:text-indigo-600">{p.name.clone()}</a>
                                                    <span class="ml-2 font-mono text-xs text-slate-500">{p.slug.clone()}</span>
                                                    <p class="truncate text-sm text-slate-500">{p.description.clone()}</p>
                                                </div>
                                                <span class="text-sm text-slate-600 tabular-nums">{format!("{} items", p.item_count)}</span>
                                                {read_audit.then(|| view! {
                                                    <a href=format!("/audit?pack={}", p.id) class="text-sm text-indigo-600 hover:underline">"Audit trail"</a>
                                                })}
                                                {can_edit.then(|| view! {
                                                    <a href=format!("/backlog/new?pack_id={}", p.id) class="text-sm text-indigo-600 hover:underline">"+ item"</a>
                                                    <details class="relative text-sm" data-testid="delete-pack">
                                                        <summary class="cursor-pointer list-none text-rose-600 hover:underline [&::-webkit-details-marker]:hidden">"Delete…"</summary>
                                                        <div class="absolute right-0 z-20 mt-2 w-64 max-w-[calc(100vw-2rem)] rounded-xl bg-white p-4 shadow-xl ring-1 ring-slate-200">
                                                            <p class="text-slate-700">{confirm}</p>
                                                            <ActionForm action=delete attr:class="mt-3">
                                                                <input type="hidden" name="csrf" value=csrf/>
                                                                <input type="hidden" name="id" value=p.id.to_string()/>
                                                                <button type="submit" class=BUTTON_DANGER data-testid="confirm-delete-pack">"Delete pack"</button>
                                                            </ActionForm>
                                                        </div>
                                                    </details>
                                                })}
                                            </li>
                                        }}).collect_view()}
                                    </ul>
                                }.into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
            // Its own Suspense on the session only: refetching the list must not clear what is typed here.
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let info = session.info().await.ok().filter(can_edit)?;
                    Some(view! {
                        <section class=format!("{CARD} p-5 h-fit")>
                            <h2 class="mb-4 text-sm font-semibold text-slate-900">"New pack"</h2>
                            <FormError/>
                            <ActionForm action=create attr:data-testid="pack-form" attr:class="space-y-4">
                                <input type="hidden" name="csrf" value=info.csrf.clone()/>
                                <div>
                                    <label class=LABEL for="pack-name">"Name"</label>
                                    <input class=INPUT id="pack-name" name="name" required maxlength="100" placeholder="e.g. Billing"/>
                                </div>
                                <div>
                                    <label class=LABEL for="pack-slug">"Slug " <span class="font-normal text-slate-500">"(optional)"</span></label>
                                    <input class=format!("{INPUT} font-mono") id="pack-slug" name="slug" placeholder="billing"/>
                                </div>
                                <div>
                                    <label class=LABEL for="pack-description">"Description"</label>
                                    <textarea class=INPUT id="pack-description" name="description" rows="3"></textarea>
                                </div>
                                <button type="submit" class=BUTTON data-testid="create-pack">"Create pack"</button>
                            </ActionForm>
                        </section>
                    })
                })}
            </Suspense>
        </div>
    }
}
