-- Plans (the planner's output as JSON plus summary columns), the backlog items and packs each plan
-- covers (for audit links), every gate verdict per plan/step/model, and idempotency keys.

create table plans (
    id integer primary key autoincrement,
    status text not null,
    planner text not null,
    request text not null,
    graph text not null,
    verdict_counts text not null,
    packs text not null,
    item_count integer not null,
    step_count integer not null,
    created_by text not null,
    created_at integer not null,
    updated_at integer not null
);
create index plans_created on plans(created_at);

create table plan_items (
    plan_id integer not null references plans(id) on delete cascade,
    item_id integer not null,
    pack_id integer not null,
    pulled_in integer not null default 0,
    primary key (plan_id, item_id)
);
create index plan_items_item on plan_items(item_id);
create index plan_items_pack on plan_items(pack_id);

create table plan_evaluations (
    id integer primary key autoincrement,
    plan_id integer not null references plans(id) on delete cascade,
    step_id text,
    gate text not null,
    verdict text not null,
    enforcement text not null,
    rules text not null,
    reasons text not null,
    remediation text not null,
    planner text not null,
    provider text not null,
    created_at integer not null
);
create index plan_evaluations_plan on plan_evaluations(plan_id);

create table idempotency_keys (
    principal text not null,
    endpoint text not null,
    idem_key text not null,
    request_hash text not null,
    status text not null,
    response_status integer,
    response_body text,
    created_at integer not null,
    primary key (principal, endpoint, idem_key)
);
create index idempotency_keys_created on idempotency_keys(created_at);
