//! The integration tests, one binary (a binary per file linked the whole app eighteen times):
//! real HTTP against the built router, each case on SQLite and on PostgreSQL, and the `nofx`
//! binary itself for the CLI, crash and two-instance tests. `tests/integration/common` starts the
//! apps and throw-away databases.

#[macro_use]
mod common;

mod api_approvals;
mod api_audit;
mod api_auth;
mod api_backlog;
mod api_comparisons;
mod api_execution;
mod api_keys;
mod api_overrides;
mod api_planner;
mod api_webhooks;
mod authorisation;
mod cli_gate;
mod cli_worker;
mod crash_restart;
mod http_hygiene;
mod reviewer_doors;
mod security;
mod two_instances;
