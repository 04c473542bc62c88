//! The HTTP API (axum) and the application services it shares with the `ets` CLI: services read
//! the ledger, call the pure cores (optimizer, market, scenarios) and post the results.

pub mod services;
