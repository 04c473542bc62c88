//! The exchange: the pure `market` engine run against the real `ledger`.
//!
//! * [`DurableMarket`] ([`durable`]): the market that production runs. The ledger journal is
//!   its command log: each durable step is one ledger request whose actions are the commands'
//!   settlements and whose memo is the commands themselves ([`durable::LogRecord`]); every
//!   process's market is the replay of those entries through the engine.
//! * [`LedgerMarket`] ([`ledger_bridge`]): the first settlement bridge, which posts each
//!   command's instructions as they come. Production no longer opens it; the market benches
//!   keep it as their baseline, and [`LedgerMapping`] / [`LedgerBalances`] (the translation of
//!   one instruction into one ledger request, and the balances view) are shared with the
//!   durable market.
//!
//! Invariants: the engine never sees the ledger (it gets a [`market::Balances`] view and
//! returns instructions); every balance the market moves is moved by a journaled ledger
//! request; a replay that the engine refuses, or whose settlements differ from the logged
//! actions, is [`BridgeError::Corrupt`], never skipped.
//!
//! Deliberately absent: HTTP, identities and authorisation (the API decides who may run a
//! command), and the wall clock (every command carries the caller's time).

#[cfg(test)]
mod contract_tests;
pub mod durable;
pub mod ledger_bridge;

pub use durable::{CommandOutcome, DurableMarket, MarketCommand, MarketInit};
pub use ledger_bridge::{
    BridgeError, HoldHorizons, LedgerBalances, LedgerMapping, LedgerMarket, OrderCommand,
    OrderOutcome,
};
