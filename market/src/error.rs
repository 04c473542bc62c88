//! The market's error type: one variant per broken rule, carrying the offending values.
//!
//! Every error is returned before anything is held or recorded, so a refused command leaves the
//! engine and the settlement output exactly as they were.

use crate::ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, Timestamp, TransferId};
use crate::settlement::Asset;
use rust_decimal::Decimal;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MarketError {
    #[error("unknown {0}")]
    UnknownInstrument(InstrumentId),
    #[error("{0} is not frozen")]
    NotFrozen(AccountId),
    #[error("{0} is already listed")]
    DuplicateInstrument(InstrumentId),
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),

    #[error("{value} has more than {places_max} decimal places")]
    TooManyDecimalPlaces { value: Decimal, places_max: u32 },
    #[error("price {price} is not a positive multiple of the tick {tick}")]
    NotMultipleOfTick { price: Decimal, tick: Decimal },
    #[error("quantity {quantity} t is not a positive multiple of the lot {lot_t} t")]
    NotMultipleOfLot { quantity: Decimal, lot_t: u64 },
    #[error("value {0} is out of range")]
    OutOfRange(Decimal),
    #[error("quantity must be at least one lot")]
    ZeroQuantity,
    #[error("amount overflows 64 bits")]
    Overflow,

    #[error(
        "price {} is outside today's band {}..={} CNY/t",
        cny(*price_ticks, *tick_fen), cny(*lower_ticks, *tick_fen), cny(*upper_ticks, *tick_fen)
    )]
    OutsideBand {
        price_ticks: u64,
        lower_ticks: u64,
        upper_ticks: u64,
        /// The instrument's tick, so the message speaks prices.
        tick_fen: u64,
    },
    #[error("{quantity_t} t is at or above the block size {block_min_t} t: use a block trade")]
    BlockSizeInBook { quantity_t: u64, block_min_t: u64 },
    #[error("{quantity_t} t is below the block size {block_min_t} t")]
    BelowBlockSize { quantity_t: u64, block_min_t: u64 },
    #[error("order of {lots} lots exceeds the limit of {lots_max} lots")]
    OrderTooLarge { lots: u64, lots_max: u64 },
    #[error("the book of {instrument} is full ({orders_max} live orders)")]
    BookFull {
        instrument: InstrumentId,
        orders_max: u32,
    },

    #[error("{holder} has {available} {asset} available, {needed} needed")]
    InsufficientBalance {
        holder: AccountId,
        asset: Asset,
        needed: u64,
        available: u64,
    },
    #[error("{0} is frozen")]
    AccountFrozen(AccountId),
    #[error("{holder} would hold {would_hold_t} t of {instrument}, above its limit {limit_t} t")]
    HoldingLimitExceeded {
        holder: AccountId,
        instrument: InstrumentId,
        would_hold_t: u64,
        limit_t: u64,
    },
    #[error(
        "{holder} would buy {would_buy_t} t of {instrument} today, above its limit {limit_t} t"
    )]
    PurchaseLimitExceeded {
        holder: AccountId,
        instrument: InstrumentId,
        would_buy_t: u64,
        limit_t: u64,
    },

    #[error("unknown {0}")]
    UnknownOrder(OrderId),
    #[error("{order} does not belong to {account}")]
    NotOrderOwner { order: OrderId, account: AccountId },

    #[error("unknown {0}")]
    UnknownAuction(AuctionId),
    #[error("{0} already exists")]
    DuplicateAuction(AuctionId),
    #[error("bidding in {auction} closed at {closes_at} (now {now})")]
    BiddingClosed {
        auction: AuctionId,
        closes_at: Timestamp,
        now: Timestamp,
    },
    #[error("{auction} cannot be closed before {closes_at} (now {now})")]
    BiddingStillOpen {
        auction: AuctionId,
        closes_at: Timestamp,
        now: Timestamp,
    },
    #[error("{0} is no longer open")]
    AuctionNotOpen(AuctionId),
    #[error(
        "bid price {} is below the reserve price {} CNY/t",
        cny(*price_ticks, *tick_fen), cny(*reserve_ticks, *tick_fen)
    )]
    BelowReservePrice {
        tick_fen: u64,
        price_ticks: u64,
        reserve_ticks: u64,
    },
    #[error("{auction} already holds {bids_max} bids")]
    TooManyBids { auction: AuctionId, bids_max: u32 },
    #[error("unknown bid {} in {auction}", bid.0)]
    UnknownBid { auction: AuctionId, bid: BidId },
    #[error("the seller may not bid in its own {0}")]
    SellerCannotBid(AuctionId),
    #[error("the revealed seed does not match the commitment published at the opening of {0}")]
    SeedMismatch(AuctionId),
    #[error("re-running {0} from its stored inputs gives a different result")]
    ResultMismatch(AuctionId),

    #[error("unknown {0}")]
    UnknownTransfer(TransferId),
    #[error("{0} is no longer pending")]
    TransferNotPending(TransferId),
    #[error("{account} is not the counterparty of {transfer}")]
    NotCounterparty {
        transfer: TransferId,
        account: AccountId,
    },
    #[error("{transfer} expired at {expires_at}")]
    TransferExpired {
        transfer: TransferId,
        expires_at: Timestamp,
    },
    #[error("seller and buyer are the same account")]
    SameAccount,
}

/// A price in CNY per tonne from ticks of `tick_fen` fen.
fn cny(ticks: u64, tick_fen: u64) -> rust_decimal::Decimal {
    let fen = i128::from(ticks) * i128::from(tick_fen);
    rust_decimal::Decimal::from_i128_with_scale(fen, 2)
}
