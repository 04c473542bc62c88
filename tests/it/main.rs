//! Whole-system tests: the real `ets` binary, real databases (an SQLite file; a throwaway
//! PostgreSQL server when `ETS_TEST_PG_URL` is set, as `scripts/test` does), real processes.
//! `http/` drives the HTTP API end to end against `ets serve` processes.

mod cli;
mod http;
mod offline;
mod readme;
mod tidy;
mod two_processes;

use std::process::{Command, Output};

/// Runs `ets` with the given database and arguments.
pub fn ets(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .env("ETS_DATABASE_URL", database_url)
        .args(args)
        .output()
        .expect("run the ets binary")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh PostgreSQL database on the test server, if one is configured.
pub async fn postgres_database(prefix: &str) -> Option<String> {
    ledger::testing::postgres_database(prefix)
        .await
        .expect("a test database on ETS_TEST_PG_URL")
}
