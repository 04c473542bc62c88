//! Typed errors. Bad input is reported all at once: one [`Error::InvalidRound`] lists every
//! problem found, so a clerk fixes a round in one pass.

use rust_decimal::Decimal;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid round: {} problem(s): {}", .0.len(), join(.0))]
    InvalidRound(Vec<Problem>),
    /// HiGHS failed on a model we built; a bug or a numerical breakdown, not bad input.
    #[error("solver failed in tier {tier}: {detail}")]
    Solver { tier: u8, detail: String },
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("duplicate {kind} id `{id}`")]
    DuplicateId { kind: &'static str, id: String },
    #[error("{kind} limit exceeded: {count} > {max}")]
    TooMany {
        kind: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{context}: unknown pollutant `{pollutant}`")]
    UnknownPollutant { context: String, pollutant: String },
    #[error("{context}: unknown {kind} `{id}`")]
    UnknownRegion {
        context: String,
        kind: &'static str,
        id: String,
    },
    #[error("{context}: negative quantity {quantity}")]
    NegativeQuantity { context: String, quantity: Decimal },
    #[error("{context}: {quantity} has more decimal places than the pollutant scale {scale}")]
    BeyondScale {
        context: String,
        quantity: Decimal,
        scale: u32,
    },
    #[error("{context}: unit `{unit}` is not the pollutant's unit `{expected}`")]
    InconsistentUnit {
        context: String,
        unit: String,
        expected: String,
    },
    #[error("{context}: quantity {quantity} is too large")]
    TooLarge { context: String, quantity: Decimal },
    #[error("{context}: {value} is outside {range}")]
    OutOfRange {
        context: String,
        value: String,
        range: &'static str,
    },
    #[error("pollutant `{pollutant}`: scale {scale} exceeds {max}")]
    ScaleTooFine {
        pollutant: String,
        scale: u32,
        max: u32,
    },
    #[error("pool `{pool}`: {detail}")]
    PoolArea { pool: String, detail: String },
    #[error("pools `{first}` and `{second}` both hold pollutant `{pollutant}` in {area}")]
    DuplicatePool {
        first: String,
        second: String,
        pollutant: String,
        area: String,
    },
    #[error("application `{application}`: {detail}")]
    BadRequest { application: String, detail: String },
}
