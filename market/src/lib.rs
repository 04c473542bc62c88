//! The market: continuous order books, sealed-bid primary auctions, one-way bidding and
//! bilateral transfers for pollutant rights and carbon allowances.
//!
//! The engine is a pure, deterministic, in-memory library. It never touches a balance, a
//! database, the network, the OS clock or a thread RNG: every command takes the caller's clock
//! (and, for auctions, a committed seed) and returns its result plus explicit settlement
//! instructions ([`Settlement`]) that the ledger integrator posts as holds and
//! delivery-versus-payment batches. Funds and rights are checked through the [`Balances`] view
//! before anything is held, so every match can settle.
//!
//! Prices and quantities are integers inside (ticks, lots, tonnes, fen); `rust_decimal`
//! appears only at the edge ([`InstrumentSpec::price_ticks`], [`InstrumentSpec::quantity_lots`]).
//!
//! The crate depends on no crate of this workspace, so Cargo keeps it pure: running the engine
//! against the real ledger (the settlement bridge, the durable market whose command log is the
//! journal) is the `exchange` crate's job. The one rule both share, which settlement
//! instructions are valid against the open holds, is written once here ([`HoldBook`] behind
//! the small [`HoldStore`] trait).
//!
//! Deliberately left out: HTTP, identities and authorisation (the caller states who acts; the
//! bureau-only operations are separate commands for the caller to guard).

pub mod auction;
pub mod book;
pub mod calendar;
mod contract;
pub mod error;
mod fx;
pub mod ids;
pub mod instrument;
mod market;
pub mod model;
pub mod rules;
pub mod settlement;
pub mod transfer;

pub use auction::{
    Auction, AuctionConfig, AuctionKind, AuctionRecord, AuctionState, ContainmentReserve,
    seed_commitment,
};
pub use book::{
    Book, DailyStats, DayClose, Depth, DepthLevel, OrderAck, OrderPrice, OrderRequest, OrderStatus,
    RestingOrder, SelfTradePrevention, TimeInForce, Trade,
};
pub use calendar::{CalendarError, Session, TradingCalendar};
pub use contract::{HoldBook, HoldStore};
pub use error::MarketError;
pub use ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, Side, Timestamp, TransferId};
pub use instrument::{Band, InstrumentSpec};
pub use market::{DecimalOrder, FreezeReport, Market};
pub use model::{ContractViolation, LedgerModel};
pub use rules::{AccountRules, LimitTable};
pub use settlement::{Asset, Balances, HoldId, Settlement, SettlementRef, Unlimited};
pub use transfer::{Transfer, TransferRequest, TransferState, Transfers};
