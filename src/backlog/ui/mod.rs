//! Backlog pages.

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
