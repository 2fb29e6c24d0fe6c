-- Human tool approvals: one row per request (its current state), the append-only log of what
-- happened to it (never updated in place), and one vote row per reviewer that approved (the
-- primary key makes a reviewer count once towards the quorum, however many times they click).

create table approvals (
    id integer primary key autoincrement,
    tool_id text not null,
    args text not null,
    context text not null,
    plan_id integer,
    step_id text,
    backlog_item_id integer,
    pack_id integer,
    requester text not null,
    status text not null,
    required_approvals integer not null,
    expires_at integer not null,
    expiry_outcome text not null,
    created_at integer not null,
    decided_at integer,
    decided_by text,
    updated_at integer not null
);
create index approvals_status_expires on approvals(status, expires_at);
create index approvals_created on approvals(created_at);

create table approval_log (
    id integer primary key autoincrement,
    approval_id integer not null references approvals(id),
    actor text not null,
    kind text not null,
    note text not null,
    at integer not null
);
create index approval_log_approval on approval_log(approval_id, id);

create table approval_votes (
    approval_id integer not null references approvals(id),
    reviewer text not null,
    at integer not null,
    primary key (approval_id, reviewer)
);
