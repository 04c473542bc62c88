//! Listing instruments for continuous trading (bureau; the first listing creates the market)
//! and reading them back with tick, lot and today's band.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use exchange::DurableMarket;
use exchange::durable::MarketCommand;
use market::{InstrumentId, InstrumentSpec, MarketError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::command::{Open, Planned, execute};
use super::lookup::code_of;
use super::units::price;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::internal;
use crate::state::AppState;

/// An instrument listed for continuous trading (bureau).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInstrumentBody {
    /// Ledger instrument code of a right or allowance.
    pub instrument: String,
    /// Price tick in CNY per tonne (e.g. `0.01`).
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub tick: Decimal,
    /// Lot size in tonnes.
    pub lot_t: u64,
    /// Reference price (previous close) in CNY per tonne: the band is ±10% around it.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    /// Quantities at or above this are block trades (bilateral only). Default 100,000 t.
    #[serde(default)]
    pub block_min_t: Option<u64>,
}

/// A listed instrument as traded: tick, lot, block size and today's price band (CNY per tonne).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarketInstrumentBody {
    pub instrument: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub tick: Decimal,
    pub lot_t: u64,
    pub block_min_t: u64,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub band_lower: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub band_upper: Decimal,
    /// The regular band in percent of the previous close, as set: a change applies from the
    /// next day's close, so today's `band_lower`/`band_upper` may still follow the old one.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub regular_band_pct: Decimal,
    /// The block-trade band in percent of the previous close, as set (from the next close too).
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub block_band_pct: Decimal,
}

fn instrument_body(market: &DurableMarket, id: InstrumentId) -> Option<MarketInstrumentBody> {
    let book = market.market().book(id).ok()?;
    let spec = book.spec();
    let band = book.band();
    let (regular_bp, block_bp) = book.bands_from_next_close();
    Some(MarketInstrumentBody {
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
        regular_band_pct: Decimal::new(regular_bp as i64, 2).normalize(),
        block_band_pct: Decimal::new(block_bp as i64, 2).normalize(),
    })
}

fn list_command(
    body: &ListInstrumentBody,
    id: InstrumentId,
    tick_fen: u64,
) -> Result<MarketCommand, MarketError> {
    let mut spec = InstrumentSpec::new(id, tick_fen, body.lot_t)?;
    if let Some(block) = body.block_min_t {
        spec.block_min_t = block;
    }
    spec.validate()?;
    let previous_close_ticks = spec.price_ticks(body.previous_close)?;
    Ok(MarketCommand::ListInstrument {
        spec,
        previous_close_ticks,
    })
}

/// List an instrument for continuous trading (bureau). The first listing creates the market.
#[utoipa::path(
    post, path = "/v1/market/instruments", tag = "market",
    request_body = ListInstrumentBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = MarketInstrumentBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_instrument(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<ListInstrumentBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "listing an instrument")?;
    let tick_fen = exchange::ledger_bridge::market_units(market::Asset::CashFen, body.tick);
    if body.tick <= Decimal::ZERO || Decimal::from(tick_fen) != body.tick * Decimal::ONE_HUNDRED {
        return Err(ApiError::field(
            "tick",
            "must be a positive multiple of CNY 0.01",
        ));
    }
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::OrCreate,
        async |market| {
            // A new instrument's id is mapped with the listing, only if it is accepted.
            let id = market.instrument_for(&body.instrument).map_err(internal)?;
            Ok(Planned::checked(list_command(&body, id, tick_fen), id))
        },
        |market, _, id| {
            instrument_body(market, id)
                .ok_or_else(|| ApiError::Internal("listed but not found".into()))
        },
    )
    .await
}

/// Instruments listed for trading, with tick, lot and today's band (everyone).
#[utoipa::path(
    get, path = "/v1/market/instruments", tag = "market", operation_id = "get_market_instruments",
    responses(
        (status = 200, body = Vec<MarketInstrumentBody>),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn get_instruments(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<MarketInstrumentBody>>, ApiError> {
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
