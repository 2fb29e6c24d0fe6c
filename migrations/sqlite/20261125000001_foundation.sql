-- Foundation schema (SQLite). Times are epoch milliseconds, flags are integers 0/1 and lists live
-- in join tables so filters stay indexable; the PostgreSQL twin is in migrations/postgres.

create table users (
    id integer primary key autoincrement,
    username text not null unique,
    password_hash text not null,
    role text not null,
    created_at integer not null
);

create table sessions (
    token_hash text primary key,
    user_id integer not null references users(id) on delete cascade,
    csrf_token text not null,
    created_at integer not null,
    expires_at integer not null
);
create index sessions_user on sessions(user_id);

create table api_keys (
    id integer primary key autoincrement,
    name text not null unique,
    key_prefix text not null,
    key_hash text not null unique,
    role text not null,
    created_at integer not null,
    last_used_at integer,
    revoked_at integer
);

create table packs (
    id integer primary key autoincrement,
    slug text not null unique,
    name text not null,
    description text not null default '',
    created_at integer not null,
    updated_at integer not null
);

create table tools (
    id text primary key,
    description text not null default '',
    sensitive integer not null default 0,
    required_approvals integer not null default 0,
    mutating integer not null default 0,
    rollback text,
    risk_weight real not null default 1.0,
    created_at integer not null,
    updated_at integer not null
);

create table backlog_items (
    id integer primary key autoincrement,
    pack_id integer not null references packs(id),
    title text not null,
    description text not null default '',
    risk text not null,
    estimate_minutes integer not null,
    status text not null,
    created_at integer not null,
    updated_at integer not null
);
create index backlog_items_pack on backlog_items(pack_id);
create index backlog_items_status on backlog_items(status);

create table item_dependencies (
    item_id integer not null references backlog_items(id) on delete cascade,
    depends_on_id integer not null references backlog_items(id),
    primary key (item_id, depends_on_id)
);
create index item_dependencies_target on item_dependencies(depends_on_id);

create table item_tools (
    item_id integer not null references backlog_items(id) on delete cascade,
    position integer not null,
    tool_id text not null references tools(id),
    primary key (item_id, position)
);
create index item_tools_tool on item_tools(tool_id);

create table item_labels (
    item_id integer not null references backlog_items(id) on delete cascade,
    label text not null,
    primary key (item_id, label)
);
create index item_labels_label on item_labels(label);

create table tool_metrics (
    id integer primary key autoincrement,
    tool_id text not null references tools(id) on delete cascade,
    duration_ms integer not null,
    cost_usd real not null,
    tokens integer not null,
    recorded_at integer not null
);
create index tool_metrics_tool on tool_metrics(tool_id, recorded_at);
