//! Market data (everyone): book depth, trades after a cursor, and the trading day's OHLC,
//! volume and VWAP.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use exchange::DurableMarket;
use market::{InstrumentId, InstrumentSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::lookup::{book_of, code_of};
use super::types::SideBody;
use super::units::{price, side_body, time_of, tonnes};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::services::market::instrument_of;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InstrumentQuery {
    /// Ledger instrument code.
    pub instrument: String,
    /// Levels per side (book depth), default 10.
    #[serde(default)]
    pub levels: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LevelBody {
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
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
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
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
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub previous_close: Decimal,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub open: Option<Decimal>,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub high: Option<Decimal>,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub low: Option<Decimal>,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub last: Option<Decimal>,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    pub trades: u64,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub vwap: Option<Decimal>,
}

pub(super) fn book_body(
    market: &DurableMarket,
    id: InstrumentId,
    levels: usize,
) -> Option<BookBody> {
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
pub(super) async fn get_book(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<InstrumentQuery>,
) -> Result<Json<BookBody>, ApiError> {
    let levels = query.levels.unwrap_or(10);
    if levels == 0 || levels > 1_000 {
        return Err(ApiError::param(
            crate::error::Location::Query,
            "levels",
            "must be between 1 and 1000",
        ));
    }
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let id = instrument_of(market, &query.instrument)?;
    book_body(market, id, levels)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(query.instrument))
}

pub(super) fn trade_body(spec: &InstrumentSpec, code: &str, t: &market::Trade) -> TradeBody {
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
pub(super) async fn get_trades(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<TradesQuery>,
) -> Result<Json<TradesPage>, ApiError> {
    let max = state.config().limits.page_max;
    let limit = query.limit.unwrap_or(100.min(max));
    if limit == 0 || limit > max {
        return Err(ApiError::param(
            crate::error::Location::Query,
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let (_, book) = book_of(market, &query.instrument)?;
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
pub(super) async fn get_daily(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<InstrumentQuery>,
) -> Result<Json<DailyBody>, ApiError> {
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let (_, book) = book_of(market, &query.instrument)?;
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
