-- Plan execution: one run per plan, one row per step (its current state, the lease a worker holds,
-- the counters the executor's state machine keeps), and one row per attempt (the run timeline).
-- Every transition is one committed change of these rows together with its event.

create table plan_runs (
    plan_id integer primary key references plans(id),
    status text not null,
    stop_reason text,
    approval_id integer,
    requested_by text not null,
    requested_at integer not null,
    approved_by text,
    approved_at integer,
    started_at integer,
    finished_at integer,
    steps_total integer not null,
    steps_succeeded integer not null default 0,
    updated_at integer not null
);
create unique index plan_runs_approval on plan_runs(approval_id) where approval_id is not null;
create index plan_runs_status on plan_runs(status);

create table step_runs (
    plan_id integer not null references plan_runs(plan_id),
    idx integer not null,
    step_id text not null,
    tool text not null,
    state text not null,
    job text not null,
    attempt integer not null default 0,
    fence integer not null default 0,
    lease_worker text,
    lease_expires_at integer,
    not_before integer not null default 0,
    -- when a worker may claim it (null: not claimable)
    claim_at integer,
    waiting_on integer not null,
    needs_approval integer not null,
    stop_requested integer not null default 0,
    approval_id integer,
    undo text not null,
    dependencies text not null,
    dependents text not null,
    work text not null,
    output text,
    error text,
    started_at integer,
    finished_at integer,
    updated_at integer not null,
    primary key (plan_id, idx)
);
create unique index step_runs_step on step_runs(plan_id, step_id);
-- In claim order, so the next claimable step of a tool is the first entry of its range.
create index step_runs_claim on step_runs(tool, claim_at, plan_id, idx) where claim_at is not null;
create index step_runs_lease on step_runs(lease_expires_at) where lease_expires_at is not null;
create unique index step_runs_approval on step_runs(approval_id) where approval_id is not null;
create index step_runs_waiting on step_runs(state) where state = 'waiting_approval';

create table step_attempts (
    id integer primary key autoincrement,
    plan_id integer not null,
    step_idx integer not null,
    job text not null,
    attempt integer not null,
    fence integer not null,
    worker text not null,
    started_at integer not null,
    ended_at integer,
    outcome text not null,
    exit_code integer,
    output text,
    error text
);
create index step_attempts_step on step_attempts(plan_id, step_idx, fence);
