//! The crate's typed errors: one variant per broken rule, carrying the offending values.

use std::path::PathBuf;

/// Everything that can go wrong while loading, solving or writing a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not valid TOML/JSON or does not match the schema (unknown key, wrong type).
    #[error("cannot parse scenario: {0}")]
    Parse(String),
    /// A key has a value the engine refuses; `key` is the dotted path in the file.
    #[error("invalid scenario: {key}: {reason}")]
    Invalid { key: String, reason: String },
    /// A file referenced by the scenario (or given on the command line) cannot be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A CSV row of firms is malformed.
    #[error("{path}:{line}: {reason}")]
    Csv {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// No price up to `price_max` clears the market: abatement potential plus reserves
    /// cannot meet the cap. Add a ceiling, borrowing, offsets or abatement potential.
    #[error(
        "no market-clearing price up to {price_max} in {year}: abatement potential and reserves cannot meet the cap"
    )]
    Infeasible { year: i32, price_max: f64 },
    /// An allowance account failed to balance. This is a bug in the engine (or in a
    /// reallocation hook), never bad input; it is reported instead of panicking so a
    /// server that runs scenarios stays up.
    #[error(
        "allowance conservation violated in {year}, account {account}: expected {expected}, got {actual}"
    )]
    Conservation {
        year: i32,
        account: &'static str,
        expected: f64,
        actual: f64,
    },
    /// A reallocation hook returned grants that break its contract.
    #[error("reallocation hook broke its contract in {year}: {reason}")]
    Reallocation { year: i32, reason: String },
    /// A parameter override (sweep, Monte Carlo, CLI `--set`) names no scalar in the scenario.
    #[error("parameter {path}: {reason}")]
    Parameter { path: String, reason: String },
    /// Writing an output (JSON, CSV, plot) failed.
    #[error("output {what}: {reason}")]
    Output { what: String, reason: String },
}

impl ScenarioError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ScenarioError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;
