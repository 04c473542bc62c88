//! The system of record: every discharge right (排污权), carbon allowance, offset credit and yuan of
//! settlement cash, as an exact, double-entry, hash-chained journal on SQLite or PostgreSQL.
//!
//! A caller submits a [`Request`]: a list of [`Action`]s that succeed or fail together under one
//! idempotency key. The pure state machine ([`apply`]) turns actions into postings over a [`Book`]
//! of the rows they touch; [`batch`] group-commits many requests in one transaction; [`verify`]
//! replays the journal to prove stored balances and the hash chain. The crate knows nothing of
//! HTTP, the optimizer or the market: they call it.

pub mod account;
pub mod amount;
pub mod apply;
pub mod batch;
pub mod book;
pub mod enterprise;
pub mod error;
pub mod instrument;
pub mod journal;
pub mod namespace;
pub mod request;
pub mod service;
pub mod store;
pub mod testing;
pub mod text;
pub mod verify;

#[cfg(test)]
mod hostile_tests;

pub use account::{AccountKey, AccountKind};
pub use amount::Quantity;
pub use apply::{Posting, PostingCode};
pub use book::Book;
pub use error::LedgerError;
pub use instrument::{Instrument, InstrumentKind, Medium, Pollutant, Region, RegionKind};
pub use journal::Receipt;
pub use namespace::{Component, Namespace, RESERVED_PREFIXES, check_hold_code, hold_namespace};
pub use request::{ACTION_NAMES, Action, Measure, Party, Purpose, Request};
pub use service::{Ledger, LedgerOptions, WriterStats};
pub use store::{Balance, Store};
pub use text::{TextProblem, check_caller_text, check_request_text};
pub use verify::{VerifyReport, verify};
