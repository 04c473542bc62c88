//! The market over HTTP: continuous trading, the bureau's reserve auctions (and one-way
//! bidding), bilateral transfers, market data and a server-sent-events feed.
//!
//! Every write is one market command, logged durably in the ledger journal (`market/<n>`
//! entries, see `market::durable`) with the caller's `Idempotency-Key` as its tag: a retry, on
//! any server process, answers the first outcome. Refusals change nothing and are kept in
//! `api_idempotency` like ledger refusals. Who may do what:
//!
//! * enterprise: orders (limit/market, day/IOC/FOK), cancels, own orders; bids and own bids;
//!   transfers it is party to; one-way bidding sessions of its own rights;
//! * bureau: lists instruments, opens and closes reserve auctions (the seed commitment is
//!   published at open, the seed at close), vetoes transfers, freezes accounts, reads all;
//! * everyone (economist too): book depth, trades, daily OHLC and VWAP, auction results (never
//!   sealed bids before the result) and the feed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use market::auction::{Pricing, UndersubscribedPolicy};
use market::durable::{CommandTag, MarketCommand};
use market::{
    AccountId, AuctionConfig, AuctionId, AuctionKind, AuctionState, BidId, BridgeError,
    CommandOutcome, DurableMarket, InstrumentId, InstrumentSpec, MarketError, OrderId, OrderPrice,
    OrderRequest, Side, TimeInForce, Timestamp, TransferId, TransferRequest,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem, problem_response};
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey, resume_after};
use crate::idempotency::{self, StoredAnswer};
use crate::keys::Role;
use crate::routes::submit::REPLAYED_HEADER;
use crate::services::market::{
    BUREAU_ACCOUNT, account_of, instrument_of, internal, party_name, run_tagged,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_instrument, get_instruments))
        .routes(routes!(post_order, get_orders))
        .routes(routes!(post_cancel))
        .routes(routes!(get_book))
        .routes(routes!(get_trades))
        .routes(routes!(get_daily))
        .routes(routes!(post_auction))
        .routes(routes!(get_auction))
        .routes(routes!(post_bid))
        .routes(routes!(post_withdraw_bid))
        .routes(routes!(post_close_auction))
        .routes(routes!(post_transfer, get_transfers))
        .routes(routes!(post_transfer_decision))
        .routes(routes!(post_freeze))
        .routes(routes!(post_unfreeze))
        .routes(routes!(stream_market))
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// An instrument listed for continuous trading (bureau).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListInstrumentBody {
    /// Ledger instrument code of a right or allowance.
    pub instrument: String,
    /// Price tick in CNY per tonne (e.g. `0.01`).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub tick: Decimal,
    /// Lot size in tonnes.
    pub lot_t: u64,
    /// Reference price (previous close) in CNY per tonne: the band is ±10% around it.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    /// Quantities at or above this are block trades (bilateral only). Default 100,000 t.
    #[serde(default)]
    pub block_min_t: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstrumentBody {
    pub instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub tick: Decimal,
    pub lot_t: u64,
    pub block_min_t: u64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub band_lower: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub band_upper: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideBody {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Limit,
    Market,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForceBody {
    #[default]
    Day,
    Ioc,
    Fok,
}

/// An order (enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderBody {
    pub instrument: String,
    pub side: SideBody,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// CNY per tonne, a multiple of the tick; required for limit orders, absent for market.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// Tonnes, a multiple of the lot.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(default)]
    pub time_in_force: TimeInForceBody,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderAckBody {
    pub instrument: String,
    pub order: u64,
    /// `resting`, `filled`, `cancelled` (IOC/market remainder, self-trade) or `killed` (FOK).
    pub status: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub filled: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub resting: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelBody {
    pub instrument: String,
    pub order: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestingOrderBody {
    pub instrument: String,
    pub order: u64,
    pub owner: String,
    pub side: SideBody,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InstrumentQuery {
    /// Ledger instrument code.
    pub instrument: String,
    /// Levels per side (book depth), default 10.
    #[serde(default)]
    pub levels: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrdersQuery {
    #[serde(default)]
    pub instrument: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LevelBody {
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    pub orders: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookBody {
    pub instrument: String,
    /// The last trade's sequence number (0 before the first).
    pub last_trade_seq: u64,
    pub bids: Vec<LevelBody>,
    pub asks: Vec<LevelBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TradesQuery {
    pub instrument: String,
    /// Trades with a sequence number after this (cursor), default 0.
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TradeBody {
    pub seq: u64,
    pub instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    pub aggressor: SideBody,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TradesPage {
    pub trades: Vec<TradeBody>,
    pub has_more: bool,
    pub next_after: Option<u64>,
}

/// The trading day so far: OHLC, volume and VWAP (CNY per tonne).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DailyBody {
    pub instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub open: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub high: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub low: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub last: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    pub trades: u64,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub vwap: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PricingBody {
    Uniform,
    PayAsBid,
}

/// A reserve auction (bureau) or a one-way bidding session of the caller's own rights
/// (enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuctionBody {
    pub auction: u64,
    pub instrument: String,
    /// Tonnes offered, a multiple of the instrument's lot.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    /// CNY per tonne; bids below are refused.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub reserve_price: Decimal,
    /// Most one bidder may win, in percent of the volume (e.g. `25`).
    pub bidder_cap_percent: u64,
    #[serde(default = "uniform")]
    pub pricing: PricingBody,
    #[schema(value_type = String, format = DateTime)]
    pub closes_at: DateTime<Utc>,
    /// SHA-256 (hex) of the seed that breaks ties, revealed at the close.
    pub seed_commitment: String,
}

fn uniform() -> PricingBody {
    PricingBody::Uniform
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidBody {
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CloseAuctionBody {
    /// The seed (hex, 32 bytes) whose SHA-256 was published at the open.
    pub seed: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidView {
    pub bid: u32,
    pub bidder: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AwardBody {
    pub bidder: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuctionView {
    pub auction: u64,
    pub instrument: String,
    /// `primary` or `one_way`.
    pub kind: String,
    pub seller: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub reserve_price: Decimal,
    #[schema(value_type = String, format = DateTime)]
    pub closes_at: DateTime<Utc>,
    /// `open`, `cleared` or `cancelled`.
    pub state: String,
    pub seed_commitment: String,
    /// Bids submitted so far, withdrawn ones included (all anyone but the bidder sees before
    /// the result).
    pub bid_count: usize,
    /// Present once cleared: the uniform clearing price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub clearing_price: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub sold: Option<Decimal>,
    /// Awards, once cleared.
    pub awards: Vec<AwardBody>,
    /// The caller's own bids (an enterprise), every bid after the result (bureau); never
    /// anyone else's sealed bid before the result.
    pub bids: Vec<BidView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidAckBody {
    pub auction: u64,
    pub bid: u32,
}

/// A bilateral transfer proposal by the seller (enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferProposalBody {
    pub instrument: String,
    /// The buyer's credit code.
    pub buyer: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    pub transfer: u64,
    pub instrument: String,
    pub seller: String,
    pub buyer: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub price: Decimal,
    pub is_block: bool,
    /// `proposed`, `settled`, `rejected`, `withdrawn`, `vetoed` or `expired`.
    pub state: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarketFreezeBody {
    /// The enterprise to freeze in the market (its orders are cancelled, pending transfers
    /// vetoed).
    pub enterprise: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DoneBody {
    pub done: bool,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn now() -> Timestamp {
    Timestamp(Utc::now().timestamp_millis())
}

fn time_of(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.0).unwrap_or_default()
}

/// CNY per tonne, always with its two decimal places.
fn price(spec: &InstrumentSpec, ticks: u64) -> Decimal {
    let mut value = spec.price_cny_per_t(ticks);
    value.rescale(2);
    value
}

fn tonnes(spec: &InstrumentSpec, lots: u64) -> Decimal {
    Decimal::from(lots.saturating_mul(spec.lot_t))
}

fn side_body(side: Side) -> SideBody {
    match side {
        Side::Buy => SideBody::Buy,
        Side::Sell => SideBody::Sell,
    }
}

fn fingerprint(value: &impl Serialize) -> String {
    use sha2::Digest;
    let text = serde_json::to_string(value).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Status, code and field of a market refusal.
fn refusal(error: &BridgeError) -> (StatusCode, &'static str, Option<&'static str>) {
    use MarketError as M;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let conflict = StatusCode::CONFLICT;
    match error {
        BridgeError::Market(e) => match e {
            M::UnknownInstrument(_) => (
                StatusCode::NOT_FOUND,
                "unknown_instrument",
                Some("instrument"),
            ),
            M::UnknownOrder(_) => (StatusCode::NOT_FOUND, "unknown_order", Some("order")),
            M::UnknownAuction(_) => (StatusCode::NOT_FOUND, "unknown_auction", Some("auction")),
            M::UnknownTransfer(_) => (StatusCode::NOT_FOUND, "unknown_transfer", Some("transfer")),
            M::UnknownBid { .. } => (StatusCode::NOT_FOUND, "unknown_bid", Some("bid")),
            M::NotMultipleOfTick { .. } | M::TooManyDecimalPlaces { .. } => {
                (unprocessable, "not_multiple_of_tick", Some("price"))
            }
            M::NotMultipleOfLot { .. } | M::ZeroQuantity => {
                (unprocessable, "not_multiple_of_lot", Some("quantity"))
            }
            M::OutOfRange(_) | M::Overflow => (unprocessable, "out_of_range", None),
            M::OutsideBand { .. } => (unprocessable, "outside_band", Some("price")),
            M::BlockSizeInBook { .. } | M::BelowBlockSize { .. } | M::OrderTooLarge { .. } => {
                (unprocessable, "invalid_size", Some("quantity"))
            }
            M::BelowReservePrice { .. } => (unprocessable, "below_reserve_price", Some("price")),
            M::InvalidConfig(_) | M::SameAccount => (unprocessable, "invalid_field", None),
            M::SeedMismatch(_) => (unprocessable, "seed_mismatch", Some("seed")),
            M::InsufficientBalance { .. } => (conflict, "insufficient_balance", None),
            M::AccountFrozen(_) => (conflict, "account_frozen", None),
            M::HoldingLimitExceeded { .. } | M::PurchaseLimitExceeded { .. } => {
                (conflict, "limit_exceeded", Some("quantity"))
            }
            M::BiddingClosed { .. } | M::AuctionNotOpen(_) => (conflict, "bidding_closed", None),
            M::BiddingStillOpen { .. } => (conflict, "bidding_still_open", None),
            M::NotOrderOwner { .. } | M::NotCounterparty { .. } | M::SellerCannotBid(_) => {
                (StatusCode::FORBIDDEN, "forbidden", None)
            }
            M::DuplicateInstrument(_) | M::DuplicateAuction(_) => {
                (conflict, "already_exists", None)
            }
            _ => (conflict, "market_refused", None),
        },
        BridgeError::UnmappedAccount(_) | BridgeError::UnmappedInstrument(_) => {
            (StatusCode::NOT_FOUND, "not_found", None)
        }
        BridgeError::Settlement { .. } => (conflict, "settlement_refused", None),
        _ => (unprocessable, "invalid_field", None),
    }
}

fn refusal_problem(error: &BridgeError) -> Problem {
    let (status, code, field) = refusal(error);
    Problem {
        kind: format!("/problems/{}", code.replace('_', "-")),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: error.to_string(),
        code: code.to_owned(),
        field: field.map(str::to_owned),
        errors: Vec::new(),
    }
}

fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// The write path of every market POST: a stored refusal for this key is answered again; the
/// command runs (or its logged outcome is found) under the key's tag; a refusal is stored.
async fn write<B: Serialize>(
    state: &AppState,
    caller: &Caller,
    IdempotencyKey(key): IdempotencyKey,
    request: &impl Serialize,
    market: &mut DurableMarket,
    command: Result<MarketCommand, BridgeError>,
    answer: impl FnOnce(&DurableMarket, CommandOutcome) -> Result<B, ApiError>,
) -> Result<Response, ApiError> {
    let principal = caller.0.key_id.as_str();
    let fingerprint = fingerprint(request);
    if let Some(stored) = idempotency::find(state.db(), principal, &key).await? {
        if stored.fingerprint != fingerprint {
            return Err(ApiError::IdempotencyMismatch { key });
        }
        let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CONFLICT);
        let problem: Problem =
            serde_json::from_str(&stored.body).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(replayed(problem_response(status, &problem)));
    }
    let tag = CommandTag {
        key: format!("{principal}:{key}"),
        fingerprint: fingerprint.clone(),
    };
    let (outcome, was_replayed) = match command {
        Ok(command) => run_tagged(market, command, tag).await?,
        Err(error) => (Err(error), false),
    };
    match outcome {
        Ok(outcome) => {
            let body = answer(market, outcome)?;
            let response = (StatusCode::CREATED, Json(body)).into_response();
            Ok(if was_replayed {
                replayed(response)
            } else {
                response
            })
        }
        Err(error) if error.is_refusal() || matches!(error, BridgeError::Settlement { .. }) => {
            let problem = refusal_problem(&error);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
            let stored = StoredAnswer {
                fingerprint,
                status: problem.status,
                body: serde_json::to_string(&problem).unwrap_or_default(),
            };
            idempotency::store(state.db(), principal, &key, &stored).await?;
            Ok(problem_response(status, &problem))
        }
        Err(error) => Err(internal(error)),
    }
}

fn spec_of(market: &DurableMarket, id: InstrumentId) -> Result<InstrumentSpec, ApiError> {
    market
        .market()
        .book(id)
        .map(|b| b.spec().clone())
        .map_err(|e| ApiError::NotFound(e.to_string()))
}

fn code_of(market: &DurableMarket, id: InstrumentId) -> String {
    market
        .mapping()
        .and_then(|m| m.instrument_code(id).ok())
        .unwrap_or_default()
        .to_owned()
}

/// The enterprise caller's market account (mapped on first use).
async fn own_account(caller: &Caller, market: &mut DurableMarket) -> Result<AccountId, ApiError> {
    let code = caller
        .enterprise()
        .ok_or_else(|| ApiError::forbidden("this needs an enterprise key"))?
        .to_owned();
    account_of(market, &code).await
}

fn instrument_body(market: &DurableMarket, id: InstrumentId) -> Option<InstrumentBody> {
    let book = market.market().book(id).ok()?;
    let spec = book.spec();
    let band = book.band();
    Some(InstrumentBody {
        instrument: code_of(market, id),
        tick: {
            let mut tick = spec.tick_cny();
            tick.rescale(2);
            tick
        },
        lot_t: spec.lot_t,
        block_min_t: spec.block_min_t,
        previous_close: price(spec, book.previous_close_ticks()),
        band_lower: price(spec, band.lower_ticks),
        band_upper: price(spec, band.upper_ticks),
    })
}

// ---------------------------------------------------------------------------------------------
// Instruments

/// List an instrument for continuous trading (bureau). The first listing creates the market.
#[utoipa::path(
    post, path = "/v1/market/instruments", tag = "market",
    request_body = ListInstrumentBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = InstrumentBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_instrument(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<ListInstrumentBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "listing an instrument")?;
    let tick_fen = market::ledger_bridge::market_units(market::Asset::CashFen, body.tick);
    if body.tick <= Decimal::ZERO || Decimal::from(tick_fen) != body.tick * Decimal::ONE_HUNDRED {
        return Err(ApiError::field(
            "tick",
            "must be a positive multiple of CNY 0.01",
        ));
    }
    let service = state.market();
    let mut guard = service.lock(true).await?;
    let market = &mut *guard;
    let id = match market
        .mapping()
        .and_then(|m| m.instrument_of(&body.instrument))
    {
        Some(id) => id,
        None => {
            let next = market
                .mapping()
                .map(|m| m.instruments().map(|(i, _)| i.0 + 1).max().unwrap_or(1))
                .unwrap_or(1);
            let id = InstrumentId(next);
            match market
                .execute_one(MarketCommand::MapInstrument {
                    instrument: id,
                    code: body.instrument.clone(),
                })
                .await
            {
                Ok(_) => id,
                Err(BridgeError::InvalidMapping(why)) => {
                    return Err(ApiError::field("instrument", why));
                }
                Err(error) if error.is_refusal() => market
                    .mapping()
                    .and_then(|m| m.instrument_of(&body.instrument))
                    .ok_or_else(|| ApiError::field("instrument", error.to_string()))?,
                Err(error) => return Err(internal(error)),
            }
        }
    };
    let command = (|| {
        let mut spec = InstrumentSpec::new(id, tick_fen, body.lot_t)?;
        if let Some(block) = body.block_min_t {
            spec.block_min_t = block;
        }
        spec.validate()?;
        let previous_close_ticks = spec.price_ticks(body.previous_close)?;
        Ok::<_, MarketError>(MarketCommand::ListInstrument {
            spec,
            previous_close_ticks,
        })
    })()
    .map_err(BridgeError::Market);
    write(&state, &caller, key, &body, market, command, |m, _| {
        instrument_body(m, id).ok_or_else(|| ApiError::Internal("listed but not found".into()))
    })
    .await
}

/// Instruments listed for trading, with tick, lot and today's band (everyone).
#[utoipa::path(
    get, path = "/v1/market/instruments", tag = "market",
    responses(
        (status = 200, body = Vec<InstrumentBody>),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_instruments(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<InstrumentBody>>, ApiError> {
    let service = state.market();
    let market = match service.lock(false).await {
        Ok(market) => market,
        Err(ApiError::NotFound(_)) => return Ok(Json(Vec::new())),
        Err(e) => return Err(e),
    };
    Ok(Json(
        market
            .market()
            .books()
            .filter_map(|(id, _)| instrument_body(&market, id))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Orders

/// Place an order (enterprise): limit or market; day, IOC or FOK. Funds (cash at the limit or
/// band price for a buy, rights for a sell) are held until the order fills or ends.
#[utoipa::path(
    post, path = "/v1/market/orders", tag = "market",
    request_body = OrderBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = OrderAckBody),
        (status = "4XX", description = "Refused (tick, lot, band, balance, frozen, unknown instrument); nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_order(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "placing an order")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let id = instrument_of(market, &body.instrument)?;
    let spec = spec_of(market, id)?;
    let owner = own_account(&caller, market).await?;
    let command = (|| {
        let price = match (body.order_type, body.price) {
            (OrderType::Limit, Some(p)) => OrderPrice::Limit {
                price_ticks: spec.price_ticks(p)?,
            },
            (OrderType::Market, None) => OrderPrice::Market,
            _ => {
                return Err(MarketError::InvalidConfig(
                    "a limit order needs a price; a market order has none",
                ));
            }
        };
        Ok(MarketCommand::SubmitOrder {
            instrument: id,
            request: OrderRequest {
                owner,
                side: match body.side {
                    SideBody::Buy => Side::Buy,
                    SideBody::Sell => Side::Sell,
                },
                price,
                lots: spec.quantity_lots(body.quantity)?,
                time_in_force: match body.time_in_force {
                    TimeInForceBody::Day => TimeInForce::Day,
                    TimeInForceBody::Ioc => TimeInForce::ImmediateOrCancel,
                    TimeInForceBody::Fok => TimeInForce::FillOrKill,
                },
            },
            now: now(),
        })
    })()
    .map_err(BridgeError::Market);
    let code = body.instrument.clone();
    write(
        &state,
        &caller,
        key,
        &body,
        market,
        command,
        move |_, outcome| match outcome {
            CommandOutcome::Order { ack } => Ok(OrderAckBody {
                instrument: code,
                order: ack.order.0,
                status: format!("{:?}", ack.status).to_lowercase(),
                filled: tonnes(&spec, ack.filled_lots),
                resting: tonnes(&spec, ack.resting_lots),
            }),
            other => Err(ApiError::Internal(format!("unexpected {other:?}"))),
        },
    )
    .await
}

/// Cancel one of the caller's resting orders (enterprise); the rest of its hold is released.
#[utoipa::path(
    post, path = "/v1/market/orders/cancel", tag = "market",
    request_body = CancelBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = RestingOrderBody),
        (status = "4XX", description = "Refused; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_cancel(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "cancelling an order")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let id = instrument_of(market, &body.instrument)?;
    let spec = spec_of(market, id)?;
    let owner = own_account(&caller, market).await?;
    let command = Ok(MarketCommand::CancelOrder {
        instrument: id,
        order: OrderId(body.order),
        owner,
    });
    let code = body.instrument.clone();
    write(
        &state,
        &caller,
        key,
        &body,
        market,
        command,
        move |m, outcome| match outcome {
            CommandOutcome::Cancelled { order } => Ok(RestingOrderBody {
                instrument: code,
                order: order.order.0,
                owner: party_name(m, order.owner),
                side: side_body(order.side),
                price: price(&spec, order.price_ticks),
                quantity: tonnes(&spec, order.lots),
            }),
            other => Err(ApiError::Internal(format!("unexpected {other:?}"))),
        },
    )
    .await
}

/// Resting orders: an enterprise's own, or everyone's (bureau).
#[utoipa::path(
    get, path = "/v1/market/orders", tag = "market",
    params(OrdersQuery),
    responses(
        (status = 200, body = Vec<RestingOrderBody>),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<RestingOrderBody>>, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "reading orders")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let only = match caller.role() {
        Role::Enterprise => {
            let party = ledger::Party::Enterprise(caller.enterprise().unwrap_or_default().into());
            match market.mapping().and_then(|m| m.account_of(&party)) {
                Some(account) => Some(account),
                None => return Ok(Json(Vec::new())),
            }
        }
        _ => None,
    };
    let wanted = match &query.instrument {
        Some(code) => Some(instrument_of(market, code)?),
        None => None,
    };
    let mut out = Vec::new();
    for (id, book) in market.market().books() {
        if wanted.is_some_and(|w| w != id) {
            continue;
        }
        let spec = book.spec();
        for side in [Side::Buy, Side::Sell] {
            for order in book.resting_orders(side) {
                if only.is_some_and(|o| o != order.owner) {
                    continue;
                }
                out.push(RestingOrderBody {
                    instrument: code_of(market, id),
                    order: order.order.0,
                    owner: party_name(market, order.owner),
                    side: side_body(order.side),
                    price: price(spec, order.price_ticks),
                    quantity: tonnes(spec, order.lots),
                });
            }
        }
    }
    Ok(Json(out))
}

// ---------------------------------------------------------------------------------------------
// Market data

fn book_body(market: &DurableMarket, id: InstrumentId, levels: usize) -> Option<BookBody> {
    let book = market.market().book(id).ok()?;
    let spec = book.spec();
    let depth = book.depth(levels);
    let level = |l: &market::DepthLevel| LevelBody {
        price: price(spec, l.price_ticks),
        quantity: tonnes(spec, l.lots),
        orders: l.orders,
    };
    Some(BookBody {
        instrument: code_of(market, id),
        last_trade_seq: book.trades_after(0).last().map_or(0, |t| t.seq),
        bids: depth.bids.iter().map(level).collect(),
        asks: depth.asks.iter().map(level).collect(),
    })
}

/// Book depth: aggregated price levels per side, best first (everyone).
#[utoipa::path(
    get, path = "/v1/market/book", tag = "market data",
    params(InstrumentQuery),
    responses(
        (status = 200, body = BookBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_book(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<InstrumentQuery>,
) -> Result<Json<BookBody>, ApiError> {
    let levels = query.levels.unwrap_or(10);
    if levels == 0 || levels > 1_000 {
        return Err(ApiError::field("levels", "must be between 1 and 1000"));
    }
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let id = instrument_of(market, &query.instrument)?;
    book_body(market, id, levels)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(query.instrument))
}

fn trade_body(spec: &InstrumentSpec, code: &str, t: &market::Trade) -> TradeBody {
    TradeBody {
        seq: t.seq,
        instrument: code.to_owned(),
        price: price(spec, t.price_ticks),
        quantity: tonnes(spec, t.lots),
        aggressor: side_body(t.aggressor),
        at: time_of(t.at),
    }
}

/// Trades after a sequence number, oldest first (cursor-paged; everyone). Counterparties are
/// not shown.
#[utoipa::path(
    get, path = "/v1/market/trades", tag = "market data",
    params(TradesQuery),
    responses(
        (status = 200, body = TradesPage),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_trades(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<TradesQuery>,
) -> Result<Json<TradesPage>, ApiError> {
    let max = state.config().limits.page_max;
    let limit = query.limit.unwrap_or(100.min(max));
    if limit == 0 || limit > max {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let id = instrument_of(market, &query.instrument)?;
    let book = market
        .market()
        .book(id)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    let all = book.trades_after(query.after);
    let has_more = all.len() > limit as usize;
    let trades: Vec<TradeBody> = all
        .iter()
        .take(limit as usize)
        .map(|t| trade_body(book.spec(), &query.instrument, t))
        .collect();
    let next_after = if has_more {
        trades.last().map(|t| t.seq)
    } else {
        None
    };
    Ok(Json(TradesPage {
        trades,
        has_more,
        next_after,
    }))
}

/// The trading day so far: open, high, low, last, volume and VWAP (everyone).
#[utoipa::path(
    get, path = "/v1/market/daily", tag = "market data",
    params(InstrumentQuery),
    responses(
        (status = 200, body = DailyBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_daily(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<InstrumentQuery>,
) -> Result<Json<DailyBody>, ApiError> {
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let id = instrument_of(market, &query.instrument)?;
    let book = market
        .market()
        .book(id)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    let spec = book.spec();
    let d = book.daily();
    let p = |t: Option<u64>| t.map(|t| price(spec, t));
    let vwap = (d.volume_lots > 0).then(|| {
        Decimal::from_i128_with_scale(d.turnover_tick_lots as i128, 0)
            / Decimal::from(d.volume_lots)
            * spec.tick_cny()
    });
    Ok(Json(DailyBody {
        instrument: query.instrument,
        previous_close: price(spec, book.previous_close_ticks()),
        open: p(d.open_ticks),
        high: p(d.high_ticks),
        low: p(d.low_ticks),
        last: p(d.last_ticks),
        volume: tonnes(spec, d.volume_lots),
        trades: d.trades,
        vwap: vwap.map(|mut v| {
            v.rescale(4);
            v
        }),
    }))
}

// ---------------------------------------------------------------------------------------------
// Auctions

fn auction_view(
    market: &DurableMarket,
    auction: &market::Auction,
    viewer: Option<AccountId>,
    bureau: bool,
) -> Result<AuctionView, ApiError> {
    let config = auction.config();
    let spec = config
        .spec()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let record = auction.record();
    let (clearing_price, sold, awards) = match record.map(|r| (&r.clearing, r)) {
        Some((market::auction::Clearing::Cleared(c), r)) => (
            Some(price(&spec, c.clearing_price_ticks)),
            Some(tonnes(&spec, c.sold_lots)),
            c.awards
                .iter()
                .map(|a| AwardBody {
                    bidder: r
                        .bidder(a.bidder)
                        .map(|b| party_name(market, b))
                        .unwrap_or_default(),
                    quantity: tonnes(&spec, a.lots),
                    price: price(&spec, a.price_ticks),
                })
                .collect(),
        ),
        _ => (None, None, Vec::new()),
    };
    let bids = match (record, viewer) {
        // After the result the bureau sees every bid, an enterprise its own.
        (Some(r), _) if bureau || viewer.is_some() => r
            .bids
            .iter()
            .filter(|b| b.lots > 0)
            .filter_map(|b| {
                let bidder = r.bidder(b.bidder)?;
                (bureau || Some(bidder) == viewer).then(|| BidView {
                    bid: b.bid.0,
                    bidder: party_name(market, bidder),
                    price: price(&spec, b.price_ticks),
                    quantity: tonnes(&spec, b.lots),
                })
            })
            .collect(),
        (None, Some(me)) => auction
            .bids_of(me)
            .into_iter()
            .filter(|b| b.lots > 0)
            .map(|b| BidView {
                bid: b.bid.0,
                bidder: party_name(market, me),
                price: price(&spec, b.price_ticks),
                quantity: tonnes(&spec, b.lots),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(AuctionView {
        auction: config.id.0,
        instrument: code_of(market, config.instrument),
        kind: match config.kind {
            AuctionKind::Primary => "primary".into(),
            AuctionKind::OneWay => "one_way".into(),
        },
        seller: party_name(market, config.seller),
        volume: tonnes(&spec, config.volume_lots),
        reserve_price: price(&spec, config.reserve_price_ticks),
        closes_at: time_of(config.closes_at),
        state: match auction.state() {
            AuctionState::Open => "open".into(),
            AuctionState::Cleared => "cleared".into(),
            AuctionState::Cancelled => "cancelled".into(),
        },
        seed_commitment: auction.seed_commitment_hex(),
        bid_count: auction.bid_count(),
        clearing_price,
        sold,
        awards,
        bids,
    })
}

fn viewer(caller: &Caller, market: &DurableMarket) -> (Option<AccountId>, bool) {
    match caller.role() {
        Role::Bureau => (None, true),
        Role::Enterprise => {
            let party = ledger::Party::Enterprise(caller.enterprise().unwrap_or_default().into());
            (market.mapping().and_then(|m| m.account_of(&party)), false)
        }
        Role::Economist => (None, false),
    }
}

/// Open an auction: a reserve auction (bureau: uniform price, reserve price, per-bidder cap,
/// supply held from the reserve) or one-way bidding of the caller's own rights (enterprise).
/// The seed commitment is published; the seed is revealed at the close.
#[utoipa::path(
    post, path = "/v1/market/auctions", tag = "market",
    request_body = AuctionBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = AuctionView),
        (status = "4XX", description = "Refused; nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_auction(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<AuctionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "opening an auction")?;
    let commitment: [u8; 32] = hex::decode(&body.seed_commitment)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::field("seed_commitment", "must be 64 hex digits (SHA-256)"))?;
    if body.bidder_cap_percent == 0 || body.bidder_cap_percent > 100 {
        return Err(ApiError::field("bidder_cap_percent", "must be 1 to 100"));
    }
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let id = instrument_of(market, &body.instrument)?;
    let spec = spec_of(market, id)?;
    let (kind, seller) = match caller.role() {
        Role::Bureau => (AuctionKind::Primary, BUREAU_ACCOUNT),
        _ => (AuctionKind::OneWay, own_account(&caller, market).await?),
    };
    let closes_at = Timestamp(body.closes_at.timestamp_millis());
    let settle_by = crate::services::market::day_end(body.closes_at);
    let command = (|| {
        Ok(MarketCommand::OpenAuction {
            config: AuctionConfig {
                id: AuctionId(body.auction),
                kind,
                instrument: id,
                seller,
                proceeds_to: seller,
                lot_t: spec.lot_t,
                tick_fen: spec.tick_fen,
                volume_lots: spec.quantity_lots(body.volume)?,
                reserve_price_ticks: spec.price_ticks(body.reserve_price)?,
                bidder_cap_bp: body.bidder_cap_percent * 100,
                pricing: match body.pricing {
                    PricingBody::Uniform => Pricing::Uniform,
                    PricingBody::PayAsBid => Pricing::PayAsBid,
                },
                containment: None,
                undersubscribed: UndersubscribedPolicy::SellAvailable,
                closes_at,
                bids_max: 100_000,
            },
            seed_commitment: commitment,
            settle_by_ms: settle_by.timestamp_millis(),
        })
    })()
    .map_err(BridgeError::Market);
    let auction_id = AuctionId(body.auction);
    let (me, bureau) = viewer(&caller, market);
    write(&state, &caller, key, &body, market, command, move |m, _| {
        let auction = m
            .market()
            .auction(auction_id)
            .ok_or_else(|| ApiError::Internal("opened but not found".into()))?;
        auction_view(m, auction, me, bureau)
    })
    .await
}

/// An auction: its terms, state and seed commitment; bid count while sealed; the clearing
/// price and awards once cleared. An enterprise sees its own bids only; nobody sees another's
/// sealed bid before the result (everyone).
#[utoipa::path(
    get, path = "/v1/market/auctions/{auction}", tag = "market",
    params(("auction" = u64, Path, description = "Auction id")),
    responses(
        (status = 200, body = AuctionView),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_auction(
    State(state): State<AppState>,
    caller: Caller,
    Path(auction): Path<u64>,
) -> Result<Json<AuctionView>, ApiError> {
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let (me, bureau) = viewer(&caller, market);
    let found = market
        .market()
        .auction(AuctionId(auction))
        .ok_or_else(|| ApiError::NotFound(format!("auction {auction}")))?;
    auction_view(market, found, me, bureau).map(Json)
}

/// Bid in an open auction (enterprise): the full bid value is held as its guarantee.
#[utoipa::path(
    post, path = "/v1/market/auctions/{auction}/bids", tag = "market",
    request_body = BidBody,
    params(("auction" = u64, Path, description = "Auction id"), ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = BidAckBody),
        (status = "4XX", description = "Refused (closed, below reserve, balance, frozen); nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_bid(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(auction): Path<u64>,
    ApiJson(body): ApiJson<BidBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "bidding")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let found = market
        .market()
        .auction(AuctionId(auction))
        .ok_or_else(|| ApiError::NotFound(format!("auction {auction}")))?;
    let spec = found
        .config()
        .spec()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let bidder = own_account(&caller, market).await?;
    let command = (|| {
        Ok(MarketCommand::SubmitBid {
            auction: AuctionId(auction),
            bidder,
            price_ticks: spec.price_ticks(body.price)?,
            lots: spec.quantity_lots(body.quantity)?,
            now: now(),
        })
    })()
    .map_err(BridgeError::Market);
    let request = (auction, &body);
    write(
        &state,
        &caller,
        key,
        &request,
        market,
        command,
        move |_, outcome| match outcome {
            CommandOutcome::BidSubmitted { bid } => Ok(BidAckBody {
                auction,
                bid: bid.0,
            }),
            other => Err(ApiError::Internal(format!("unexpected {other:?}"))),
        },
    )
    .await
}

/// Withdraw one's own sealed bid before bidding closes (enterprise): its guarantee is released.
#[utoipa::path(
    post, path = "/v1/market/auctions/{auction}/bids/{bid}/withdraw", tag = "market",
    params(
        ("auction" = u64, Path, description = "Auction id"),
        ("bid" = u32, Path, description = "Bid id, as answered when the bid was placed"),
        ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry"),
    ),
    responses(
        (status = 201, body = DoneBody),
        (status = "4XX", description = "Refused (not your bid, unknown, bidding closed); nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_withdraw_bid(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((auction, bid)): Path<(u64, u32)>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "withdrawing a bid")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let bidder = own_account(&caller, market).await?;
    let command = Ok(MarketCommand::WithdrawBid {
        auction: AuctionId(auction),
        bidder,
        bid: BidId(bid),
        now: now(),
    });
    let request = (auction, bid);
    write(&state, &caller, key, &request, market, command, |_, _| {
        Ok(DoneBody { done: true })
    })
    .await
}

/// Close and clear an auction with its seed (bureau; the offering enterprise for one-way
/// bidding): awards settle delivery-versus-payment, everything else is released.
#[utoipa::path(
    post, path = "/v1/market/auctions/{auction}/close", tag = "market",
    request_body = CloseAuctionBody,
    params(("auction" = u64, Path, description = "Auction id"), ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = AuctionView),
        (status = "4XX", description = "Refused; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_close_auction(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(auction): Path<u64>,
    ApiJson(body): ApiJson<CloseAuctionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "closing an auction")?;
    let seed: [u8; 32] = hex::decode(&body.seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::field("seed", "must be 64 hex digits"))?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let found = market
        .market()
        .auction(AuctionId(auction))
        .ok_or_else(|| ApiError::NotFound(format!("auction {auction}")))?;
    if caller.role() == Role::Enterprise {
        let seller = found.config().seller;
        let me = own_account(&caller, market).await?;
        if me != seller {
            return Err(ApiError::forbidden(
                "only the bureau, or the enterprise offering a one-way session, closes it",
            ));
        }
    }
    let command = Ok(MarketCommand::CloseAuction {
        auction: AuctionId(auction),
        seed,
        now: now(),
    });
    let (me, bureau) = viewer(&caller, market);
    let request = (auction, &body);
    write(
        &state,
        &caller,
        key,
        &request,
        market,
        command,
        move |m, _| {
            let found = m
                .market()
                .auction(AuctionId(auction))
                .ok_or_else(|| ApiError::Internal("closed but not found".into()))?;
            auction_view(m, found, me, bureau)
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Transfers and freezes

fn transfer_view(market: &DurableMarket, t: &market::Transfer) -> TransferView {
    let spec = market
        .market()
        .book(t.request.instrument)
        .ok()
        .map(|b| b.spec().clone());
    let (quantity, price_cny) = match &spec {
        Some(spec) => (
            tonnes(spec, t.request.lots),
            price(spec, t.request.price_ticks),
        ),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    TransferView {
        transfer: t.id.0,
        instrument: code_of(market, t.request.instrument),
        seller: party_name(market, t.request.seller),
        buyer: party_name(market, t.request.buyer),
        quantity,
        price: price_cny,
        is_block: t.is_block,
        state: format!("{:?}", t.state).to_lowercase(),
        expires_at: time_of(t.request.expires_at),
    }
}

/// Propose a bilateral transfer to a buyer (the seller, an enterprise): the rights are held.
/// At or above the block size it is a block trade (±30% band).
#[utoipa::path(
    post, path = "/v1/market/transfers", tag = "market",
    request_body = TransferProposalBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = TransferView),
        (status = "4XX", description = "Refused; nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_transfer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<TransferProposalBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "proposing a transfer")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let id = instrument_of(market, &body.instrument)?;
    let spec = spec_of(market, id)?;
    let seller = own_account(&caller, market).await?;
    let buyer = account_of(market, &body.buyer).await?;
    let command = (|| {
        Ok(MarketCommand::ProposeTransfer {
            request: TransferRequest {
                instrument: id,
                seller,
                buyer,
                lots: spec.quantity_lots(body.quantity)?,
                price_ticks: spec.price_ticks(body.price)?,
                expires_at: Timestamp(body.expires_at.timestamp_millis()),
            },
            now: now(),
        })
    })()
    .map_err(BridgeError::Market);
    write(
        &state,
        &caller,
        key,
        &body,
        market,
        command,
        |m, outcome| match outcome {
            CommandOutcome::TransferProposed { transfer } => m
                .market()
                .transfer(transfer)
                .map(|t| transfer_view(m, t))
                .ok_or_else(|| ApiError::Internal("proposed but not found".into())),
            other => Err(ApiError::Internal(format!("unexpected {other:?}"))),
        },
    )
    .await
}

/// Transfers: those an enterprise is party to, or all (bureau).
#[utoipa::path(
    get, path = "/v1/market/transfers", tag = "market",
    responses(
        (status = 200, body = Vec<TransferView>),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_transfers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TransferView>>, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "reading transfers")?;
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let (me, bureau) = viewer(&caller, market);
    Ok(Json(
        market
            .market()
            .transfers()
            .filter(|t| bureau || Some(t.request.seller) == me || Some(t.request.buyer) == me)
            .map(|t| transfer_view(market, t))
            .collect(),
    ))
}

/// Decide a transfer: the buyer `accept`s or `reject`s, the seller `withdraw`s, the bureau
/// `veto`es.
#[utoipa::path(
    post, path = "/v1/market/transfers/{transfer}/{decision}", tag = "market",
    params(
        ("transfer" = u64, Path, description = "Transfer id"),
        ("decision" = String, Path, description = "accept, reject, withdraw or veto"),
        ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry"),
    ),
    responses(
        (status = 201, body = TransferView),
        (status = "4XX", description = "Refused; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_transfer_decision(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path((transfer, decision)): Path<(u64, String)>,
) -> Result<Response, ApiError> {
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let id = TransferId(transfer);
    let t = now();
    let command = match decision.as_str() {
        "veto" => {
            caller.require(&[Role::Bureau], "vetoing a transfer")?;
            MarketCommand::VetoTransfer {
                transfer: id,
                now: t,
            }
        }
        "accept" | "reject" | "withdraw" => {
            caller.require(&[Role::Enterprise], "deciding a transfer")?;
            let me = own_account(&caller, market).await?;
            match decision.as_str() {
                "accept" => MarketCommand::AcceptTransfer {
                    transfer: id,
                    buyer: me,
                    now: t,
                },
                "reject" => MarketCommand::RejectTransfer {
                    transfer: id,
                    buyer: me,
                    now: t,
                },
                _ => MarketCommand::WithdrawTransfer {
                    transfer: id,
                    seller: me,
                    now: t,
                },
            }
        }
        other => {
            return Err(ApiError::field(
                "decision",
                format!("{other:?} is not accept, reject, withdraw or veto"),
            ));
        }
    };
    let request = (transfer, &decision);
    write(
        &state,
        &caller,
        key,
        &request,
        market,
        Ok(command),
        move |m, _| {
            m.market()
                .transfer(id)
                .map(|t| transfer_view(m, t))
                .ok_or_else(|| ApiError::Internal("decided but not found".into()))
        },
    )
    .await
}

/// Freeze an enterprise in the market (bureau): its resting orders are cancelled, its pending
/// transfers vetoed, and it can no longer order, bid or transfer.
#[utoipa::path(
    post, path = "/v1/market/freezes", tag = "market",
    request_body = MarketFreezeBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = DoneBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_freeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<MarketFreezeBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "freezing an account in the market")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let account = account_of(market, &body.enterprise).await?;
    let command = Ok(MarketCommand::Freeze {
        account,
        now: now(),
    });
    write(&state, &caller, key, &body, market, command, |_, _| {
        Ok(DoneBody { done: true })
    })
    .await
}

/// Lift a market freeze (bureau): the enterprise may order, bid and transfer again.
#[utoipa::path(
    post, path = "/v1/market/unfreezes", tag = "market",
    request_body = MarketFreezeBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = DoneBody),
        (status = "4XX", description = "Refused (e.g. not frozen)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_unfreeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<MarketFreezeBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "unfreezing an account in the market")?;
    let service = state.market();
    let mut guard = service.lock(false).await?;
    let market = &mut *guard;
    let account = account_of(market, &body.enterprise).await?;
    let command = Ok(MarketCommand::Unfreeze { account });
    write(&state, &caller, key, &body, market, command, |_, _| {
        Ok(DoneBody { done: true })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The feed

const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    pub instrument: String,
    /// Resume after this trade sequence number (or send `Last-Event-ID`).
    #[serde(default)]
    pub after: u64,
}

/// Trades and book changes of one instrument as server-sent events (everyone): `trade` events
/// (`id:` = the trade's sequence number, data a TradeBody) and `book` events (data a BookBody,
/// `id:` = the last trade's sequence number). Resumes after `Last-Event-ID`.
#[utoipa::path(
    get, path = "/v1/stream/market", tag = "market data",
    params(StreamQuery, ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this trade seq")),
    responses(
        (status = 200, description = "text/event-stream of `trade` and `book` events", content_type = "text/event-stream"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn stream_market(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_after(&headers, query.after, "trade sequence number")?;
    {
        let service = state.market();
        let guard = service.lock(false).await?;
        let market = &*guard;
        instrument_of(market, &query.instrument)?;
    }
    let feed = Feed {
        state,
        instrument: query.instrument,
        after,
        last_book: None,
        ready: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Feed {
    state: AppState,
    instrument: String,
    after: u64,
    last_book: Option<String>,
    ready: VecDeque<Event>,
}

impl Feed {
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            if let Err(error) = self.poll().await {
                tokio::time::sleep(POLL).await;
                return Event::default().event("error").data(error.to_string());
            }
            if self.ready.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    async fn poll(&mut self) -> Result<(), ApiError> {
        let service = self.state.market();
        let guard = service.lock(false).await?;
        let market = &*guard;
        let id = instrument_of(market, &self.instrument)?;
        let book = market
            .market()
            .book(id)
            .map_err(|e| ApiError::NotFound(e.to_string()))?;
        for trade in book.trades_after(self.after).iter().take(500) {
            let body = trade_body(book.spec(), &self.instrument, trade);
            let data = serde_json::to_string(&body).unwrap_or_default();
            self.ready.push_back(
                Event::default()
                    .event("trade")
                    .id(trade.seq.to_string())
                    .data(data),
            );
            self.after = trade.seq;
        }
        if let Some(body) = book_body(market, id, 10) {
            let key = serde_json::to_string(&(&body.bids, &body.asks)).unwrap_or_default();
            if self.last_book.as_deref() != Some(key.as_str()) {
                let data = serde_json::to_string(&body).unwrap_or_default();
                self.ready.push_back(
                    Event::default()
                        .event("book")
                        .id(self.after.to_string())
                        .data(data),
                );
                self.last_book = Some(key);
            }
        }
        Ok(())
    }
}
