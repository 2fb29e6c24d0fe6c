-- Events: increasing ids so clients can resume from the last one they saw.

create table events (
    id integer primary key autoincrement,
    kind text not null,
    subject text not null,
    payload text not null,
    created_at integer not null
);
create index events_subject on events(subject);
