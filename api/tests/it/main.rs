//! End-to-end tests over real HTTP: each starts the server on 127.0.0.1:0 (in-process, or as a
//! separate process in `process.rs`) on SQLite and, when `ETS_TEST_PG_URL` is set, on a fresh
//! PostgreSQL database, and talks to it with reqwest.

mod access;
mod bad_input;
mod common;
mod idempotency;
mod jobs;
mod market;
mod openapi;
mod process;
mod reallocation;
mod scenario_runs;
mod statistics;
mod stream;
