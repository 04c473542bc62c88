//! The market over HTTP: continuous trading, the bureau's reserve auctions (and one-way
//! bidding), bilateral transfers, market data and a server-sent-events feed.
//!
//! Every write is one market command, logged durably in the ledger journal (`market/<n>`
//! entries, see `exchange::durable`) with the caller's `Idempotency-Key` as its tag: a retry, on
//! any server process, answers the first outcome. Refusals change nothing and are kept in
//! `api_idempotency` like ledger refusals. Every write handler goes through
//! [`command::execute`]: lock the market, plan the command (instrument, the caller's account),
//! run it under the key's tag, answer the outcome or the refusal. Who may do what:
//!
//! * enterprise: orders (limit/market, day/IOC/FOK), cancels, own orders; bids and own bids;
//!   transfers it is party to; one-way bidding sessions of its own rights;
//! * bureau: lists instruments, opens and closes reserve auctions (the seed commitment is
//!   published at open, the seed at close), vetoes transfers, freezes accounts, sets the
//!   market's rules (holding and purchase limits, price bands, with who and why), reads all;
//! * everyone (economist too): book depth, trades, daily OHLC and VWAP, auction results (never
//!   sealed bids before the result) and the feed.
//!
//! Files: `instruments` (listing), `orders` (orders, cancels), `data` (book, trades, daily),
//! `auctions` (open, read, close), `bids` (bid, withdraw), `transfers` (propose, decide, list),
//! `oversight` (freezes), `rules` (limits and bands), `stream` (the feed); `command` is the write path, `refusal` a market refusal in public words, `lookup` the
//! name ↔ id look-ups under the lock, `units` ticks and lots ↔ CNY and tonnes, `types` the
//! bodies several files share.

mod auctions;
mod audit;
mod bids;
mod command;
mod data;
mod instruments;
mod lookup;
mod orders;
mod oversight;
mod refusal;
mod rules;
mod stream;
mod transfers;
mod types;
mod units;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub use auctions::{
    AuctionBody, AuctionView, AwardBody, CloseAuctionBody, ContainmentBody, PricingBody,
};
pub use bids::{BidAckBody, BidBody, BidView};
pub use data::{
    BookBody, DailyBody, InstrumentQuery, LevelBody, TradeBody, TradesPage, TradesQuery,
};
pub use instruments::{ListInstrumentBody, MarketInstrumentBody};
pub use orders::{
    CancelBody, OrderAckBody, OrderBody, OrderType, OrdersQuery, RestingOrderBody, TimeInForceBody,
};
pub use oversight::MarketFreezeBody;
pub use rules::{MarketRuleBody, MarketRuleRecord, MarketRulesBody, RuleKind};
pub use stream::StreamQuery;
pub use transfers::{TransferProposalBody, TransferView};
pub use types::{DoneBody, SideBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            instruments::post_instrument,
            instruments::get_instruments
        ))
        .routes(routes!(orders::post_order, orders::get_orders))
        .routes(routes!(orders::post_cancel))
        .routes(routes!(data::get_book))
        .routes(routes!(data::get_trades))
        .routes(routes!(data::get_daily))
        .routes(routes!(auctions::post_auction))
        .routes(routes!(auctions::get_auction))
        .routes(routes!(bids::post_bid))
        .routes(routes!(bids::post_withdraw_bid))
        .routes(routes!(auctions::post_close_auction))
        .routes(routes!(transfers::post_transfer, transfers::get_transfers))
        .routes(routes!(transfers::post_transfer_decision))
        .routes(routes!(oversight::post_freeze))
        .routes(routes!(oversight::post_unfreeze))
        .routes(routes!(rules::post_rule, rules::get_rules))
        .routes(routes!(stream::stream_market))
}
