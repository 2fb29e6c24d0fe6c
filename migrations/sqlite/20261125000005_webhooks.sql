-- Webhooks. Inbound: the ids of accepted deliveries (a second delivery with the same
-- `webhook-id` is a replay and is refused). Outbound: one row per event and target URL, with
-- its attempts, so every delivery and its outcome can be inspected.

create table webhook_inbound (
    webhook_id text primary key,
    source text not null,
    received_at integer not null
);

create table webhook_deliveries (
    id integer primary key autoincrement,
    webhook_id text not null,
    url text not null,
    event_id integer not null,
    event_kind text not null,
    body text not null,
    status text not null,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    last_status integer,
    last_error text,
    created_at integer not null,
    delivered_at integer,
    unique (event_id, url)
);
create index webhook_deliveries_due on webhook_deliveries(status, next_attempt_at);
