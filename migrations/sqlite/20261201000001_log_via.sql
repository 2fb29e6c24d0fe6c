-- Decisions that arrived by webhook name it (`zig-todo`); null for the browser and the API.
alter table approval_log add column via text;
