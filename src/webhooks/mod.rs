//! Webhooks in both directions, signed per Standard Webhooks: outbound approval events to
//! configured URLs (retried, every delivery logged) and inbound decisions from Zig Todo.

pub mod signature;
