//! Idempotency tokens: a digest of the plan input, the item's content, the tool, its rollback
//! recipe and the step's position, so the same input always gives the same tokens.

use sha2::{Digest, Sha256};

use crate::backlog::model::{BacklogItem, Tool};
use crate::plan::model::PlanRequest;

/// A short, stable fingerprint of the plan input, part of every step's token: a digest, so
/// hashing it per step costs the same for a 10-item and a 10,000-item request.
pub(super) fn request_fingerprint(request: &PlanRequest, selected: &[i64]) -> String {
    let mut ids: Vec<i64> = selected.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let budget = request.budget_usd.map(|b| format!("{b:.6}")).unwrap_or_default();
    let text = format!("items={ids:?};pack={:?};deps={};budget={budget}", request.pack_id, request.include_dependencies);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Length-prefixed fields, so that no two different inputs produce the same byte stream.
pub(super) struct TokenHasher(Sha256);

impl TokenHasher {
    fn field(&mut self, name: &str, value: &str) {
        self.0.update(name.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
    }

    /// A field whose value is `parts` joined by `sep`, hashed without building the joined text.
    fn joined(&mut self, name: &str, parts: &[String], sep: &str) {
        let len = parts.iter().map(String::len).sum::<usize>() + sep.len() * parts.len().saturating_sub(1);
        self.0.update(name.as_bytes());
        self.0.update((len as u64).to_le_bytes());
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self.0.update(sep.as_bytes());
            }
            self.0.update(p.as_bytes());
        }
    }

    fn number(&mut self, name: &str, value: i64) {
        self.field(name, itoa::Buffer::new().format(value));
    }
}

/// The item's part of its steps' tokens, hashed once per item:
/// `sha256(version, plan input, the item's content, …)`.
pub(super) fn item_token_prefix(fingerprint: &str, item: &BacklogItem, scratch: &mut String) -> TokenHasher {
    let mut h = TokenHasher(Sha256::new());
    h.field("v", "nofx-step-token-1");
    h.field("input", fingerprint);
    h.number("item", item.id);
    h.number("pack", item.pack_id);
    h.field("title", &item.title);
    h.field("description", &item.description);
    // `[1, 2, 3]`, as the first version wrote it (with `{:?}`).
    scratch.clear();
    scratch.push('[');
    let mut digits = itoa::Buffer::new();
    for (i, d) in item.depends_on.iter().enumerate() {
        if i > 0 {
            scratch.push_str(", ");
        }
        scratch.push_str(digits.format(*d));
    }
    scratch.push(']');
    h.field("depends_on", scratch);
    h.joined("tools", &item.tools, "\u{1f}");
    h.joined("labels", &item.labels, "\u{1f}");
    h.field("risk", item.risk.as_str());
    h.number("estimate", item.estimate_minutes);
    h
}

/// `sha256(item prefix, tool, rollback recipe, position)`, hex, 32 characters.
pub(super) fn idempotency_token(prefix: &TokenHasher, tool: &str, tool_def: Option<&Tool>, position: usize) -> String {
    let mut h = TokenHasher(prefix.0.clone());
    h.field("tool", tool);
    h.field("rollback", tool_def.and_then(|t| t.rollback.as_deref()).unwrap_or(""));
    h.number("position", position as i64);
    let digest = h.0.finalize();
    let mut hex = [0u8; 32];
    hex::encode_to_slice(&digest[..16], &mut hex).expect("16 bytes are 32 hex digits");
    String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
}
