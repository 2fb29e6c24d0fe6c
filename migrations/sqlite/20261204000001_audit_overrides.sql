-- The audit trail (a hash chain: each record's hash covers the previous record's hash), the links
-- of records to backlog items and packs (for filtering), gate overrides, and API key expiry.

create table audit_log (
    seq integer primary key,
    at integer not null,
    actor text not null,
    role text,
    door text not null,
    action text not null,
    subject text not null,
    plan_id integer,
    step_id text,
    approval_id integer,
    override_id integer,
    items text not null,
    packs text not null,
    summary text not null,
    fields text not null,
    prev_hash text not null,
    hash text not null
);
create index audit_log_plan on audit_log(plan_id, seq) where plan_id is not null;
create index audit_log_approval on audit_log(approval_id, seq) where approval_id is not null;
create index audit_log_override on audit_log(override_id, seq) where override_id is not null;

-- One row per (item or pack, record): which records concern an item or a pack.
create table audit_subjects (
    kind text not null,
    id integer not null,
    seq integer not null,
    primary key (kind, id, seq)
) without rowid;

create table overrides (
    id integer primary key autoincrement,
    plan_id integer not null references plans(id),
    target text not null,
    gate text,
    step_id text,
    approval_id integer,
    justification text not null,
    status text not null,
    created_by text not null,
    created_role text not null,
    review_approval_id integer,
    expires_at integer not null,
    created_at integer not null,
    in_force_at integer,
    ended_at integer,
    ended_by text,
    end_note text
);
create index overrides_plan on overrides(plan_id, id);
create index overrides_live on overrides(status, expires_at);
create unique index overrides_review on overrides(review_approval_id) where review_approval_id is not null;

-- Until when the overrides in force lift every blocking verdict of a blocked plan (null: they
-- do not). Read against the clock wherever the plan's status is computed.
alter table plans add column unblocked_until integer;

alter table api_keys add column expires_at integer;
