//! The HTTP API end to end: every test starts real `ets serve` processes (`--bind 127.0.0.1:0`,
//! the address read from their first line of output) on a fresh SQLite file and, when
//! `ETS_TEST_PG_URL` is set, on a fresh PostgreSQL database, makes its keys with
//! `ets admin create-key`, and talks to the servers over HTTP with reqwest. Nothing of the server
//! runs in the test process; the few checks that look under the API (open holds, a round posted
//! outside it) open their own ledger handle on the same database.

mod access;
mod bad_input;
mod cli_client;
pub mod common;
mod duties;
mod hostile;
mod idempotency;
mod jobs;
mod late_duties;
mod market;
mod market_rules;
mod openapi;
mod ops;
mod process;
mod reallocation;
mod scenario_runs;
mod statistics;
mod stream;
