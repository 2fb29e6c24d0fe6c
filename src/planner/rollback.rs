//! Rollback instructions: a tool's recipe with the step's placeholders filled in.

use crate::backlog::model::BacklogItem;

/// Fills a rollback recipe's placeholders (`{item_id}`, `{item_title}`, `{pack}`, `{tool}`,
/// `{token}`) for one step, in one pass: text that comes in through a placeholder (a title
/// with braces, say) is never read as a placeholder itself.
pub fn render_rollback(recipe: &str, item: &BacklogItem, tool: &str, token: &str) -> String {
    let mut out = String::with_capacity(recipe.len() + item.title.len() + token.len());
    let mut rest = recipe;
    let mut digits = itoa::Buffer::new();
    let item_id = digits.format(item.id);
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let (value, len): (&str, usize) = if rest.starts_with("{item_id}") {
            (item_id, "{item_id}".len())
        } else if rest.starts_with("{item_title}") {
            (&item.title, "{item_title}".len())
        } else if rest.starts_with("{pack}") {
            (&item.pack_name, "{pack}".len())
        } else if rest.starts_with("{tool}") {
            (tool, "{tool}".len())
        } else if rest.starts_with("{token}") {
            (token, "{token}".len())
        } else {
            ("{", 1)
        };
        out.push_str(value);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}
