//! Backlog pages, and the backlog's pills and chips that other pages show too.

use leptos::prelude::*;

use crate::backlog::model::{ItemStatus, Risk};
use crate::ui::{LockIcon, Pill, Tone};

mod detail;
mod form;
mod list;
mod packs;
mod tools;

pub use detail::ItemPage;
pub use form::{EditItemPage, NewItemPage};
pub use list::BacklogPage;
pub use packs::PacksPage;
pub use tools::ToolsPage;

pub fn status_pill(status: ItemStatus) -> impl IntoView {
    let tone = match status {
        ItemStatus::Todo => Tone::Neutral,
        ItemStatus::InProgress => Tone::Active,
        ItemStatus::Blocked => Tone::Bad,
        ItemStatus::Done => Tone::Good,
    };
    view! { <Pill tone text=status.label() value=status.as_str()/> }
}

pub fn risk_pill(risk: Risk) -> impl IntoView {
    let tone = match risk {
        Risk::Low => Tone::Good,
        Risk::Medium => Tone::Caution,
        Risk::High => Tone::Bad,
    };
    view! { <Pill tone text=format!("{} risk", risk.as_str()) value=risk.as_str()/> }
}

pub fn label_chip(label: String) -> impl IntoView {
    let class = match label.as_str() {
        "pii" => "bg-fuchsia-50 text-fuchsia-700 ring-fuchsia-200",
        "prod" => "bg-rose-50 text-rose-700 ring-rose-200",
        "security" => "bg-orange-50 text-orange-700 ring-orange-200",
        _ => "bg-slate-50 text-slate-600 ring-slate-200",
    };
    view! { <span class=format!("inline-flex items-center rounded-md px-1.5 py-0.5 text-xs ring-1 ring-inset {class}")>"#" {label}</span> }
}

pub fn tool_chip(tool: String, sensitive: bool) -> impl IntoView {
    if sensitive {
        view! {
            <span class="inline-flex items-center gap-1 whitespace-nowrap rounded-md bg-amber-50 px-1.5 py-0.5 font-mono text-xs text-amber-800 ring-1 ring-inset ring-amber-300" title="Sensitive: needs human approval">
                <LockIcon/> {tool} <span class="sr-only">" (sensitive: needs human approval)"</span>
            </span>
        }
        .into_any()
    } else {
        view! { <span class="inline-flex items-center whitespace-nowrap rounded-md bg-indigo-50 px-1.5 py-0.5 font-mono text-xs text-indigo-700 ring-1 ring-inset ring-indigo-200">{tool}</span> }.into_any()
    }
}
