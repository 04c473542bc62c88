//! Policy scenarios for emissions trading: what economists run to ask "what if".
//!
//! A scenario (TOML or JSON, see `README.md`) describes years, a cap, firms with marginal
//! abatement cost curves, allocation, price controls, reserves and banking. The engine
//! finds the allowance market equilibrium of each year, or across years with banking
//! (prices rise at the discount rate while the bank is positive), exactly for linear,
//! piecewise-linear and step curves, and reports prices, emissions, costs, allocation and
//! the bank, with comparisons against command-and-control and a baseline scenario. Run
//! modes: single run, comparison, parameter sweep and seeded Monte Carlo.
//!
//! Freed capacity is reallocated by tier: the built-in tiered rule, or the `optimizer`
//! crate's `allocate` under a reallocation policy ([`reallocation::OptimizerReallocator`],
//! `rule = "optimizer"`). Deliberately left out: the ledger (no holdings are moved) and
//! auctions' bid-level clearing (the `market` crate). The library does no
//! output unless asked (`output`, `plots`); the CLI lives in [`cli`], and [`run_text`] is
//! the entry point for a scenario given as a TOML or JSON string (the HTTP API).

pub mod aggregate;
pub mod allocation;
pub mod cases;
pub mod cli;
pub mod compare;
pub mod csv;
pub mod curve;
pub mod equilibrium;
pub mod error;
pub mod limits;
pub mod market;
pub mod mc;
pub mod model;
pub mod numbers;
pub mod output;
pub mod params;
pub mod parquet_table;
pub mod plots;
pub mod reallocation;
pub mod results;
pub mod run;
pub mod scenario;
pub mod spec;
pub mod sweep;

pub use allocation::{Reallocator, TieredReallocator};
pub use error::{Result, ScenarioError};
pub use reallocation::OptimizerReallocator;
pub use results::RunResult;
pub use run::RunOptions;
pub use scenario::{Scenario, TextFormat, run_text};
