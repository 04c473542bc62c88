//! Continuous trading (enterprise): place an order, cancel one's own, list resting orders
//! (one's own; the bureau all).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use exchange::CommandOutcome;
use exchange::durable::MarketCommand;
use market::{
    AccountId, InstrumentId, InstrumentSpec, MarketError, OrderId, OrderPrice, OrderRequest, Side,
    TimeInForce, Timestamp,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::command::{Open, Planned, execute, unexpected};
use super::lookup::{code_of, listed, own_account, viewer};
use super::types::SideBody;
use super::units::{now, price, side_body, tonnes};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::{instrument_of, party_name};
use crate::state::AppState;

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
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    pub instrument: String,
    pub side: SideBody,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// CNY per tonne, a multiple of the tick; required for limit orders, absent for market.
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// Tonnes, a multiple of the lot.
    #[serde(with = "ledger::amount::plain")]
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
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub filled: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub resting: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    #[serde(default)]
    pub instrument: Option<String>,
}

fn order_command(
    body: &OrderBody,
    instrument: InstrumentId,
    spec: &InstrumentSpec,
    owner: AccountId,
    now: Timestamp,
) -> Result<MarketCommand, MarketError> {
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
        instrument,
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
        now,
    })
}

/// Place an order (enterprise): limit or market; day, IOC or FOK. Funds (cash at the limit or
/// band price for a buy, rights for a sell) are held until the order fills or ends.
#[utoipa::path(
    post, path = "/v1/market/orders", tag = "market",
    request_body = OrderBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = OrderAckBody),
        (status = "4XX", description = "Refused (tick, lot, band, balance, frozen, unknown instrument, outside the sessions of a calendar that takes orders in sessions only); nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_order(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "placing an order")?;
    state.market().check_in_session(state.now())?;
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::Existing,
        async |market| {
            let (id, spec) = listed(market, &body.instrument)?;
            let owner = own_account(&caller, market)?;
            Ok(Planned::checked(
                order_command(&body, id, &spec, owner, now(&state)),
                spec,
            ))
        },
        |_, outcome, spec| match outcome {
            CommandOutcome::Order { ack } => Ok(OrderAckBody {
                instrument: body.instrument.clone(),
                order: ack.order.0,
                status: format!("{:?}", ack.status).to_lowercase(),
                filled: tonnes(&spec, ack.filled_lots),
                resting: tonnes(&spec, ack.resting_lots),
            }),
            other => Err(unexpected(other)),
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
pub(super) async fn post_cancel(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "cancelling an order")?;
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::Existing,
        async |market| {
            let (id, spec) = listed(market, &body.instrument)?;
            let owner = own_account(&caller, market)?;
            let command = MarketCommand::CancelOrder {
                instrument: id,
                order: OrderId(body.order),
                owner,
            };
            Ok(Planned::new(command, spec))
        },
        |market, outcome, spec| match outcome {
            CommandOutcome::Cancelled { order } => Ok(RestingOrderBody {
                instrument: body.instrument.clone(),
                order: order.order.0,
                owner: party_name(market, order.owner),
                side: side_body(order.side),
                price: price(&spec, order.price_ticks),
                quantity: tonnes(&spec, order.lots),
            }),
            other => Err(unexpected(other)),
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
pub(super) async fn get_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<RestingOrderBody>>, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "reading orders")?;
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let only = match viewer(&caller, market) {
        (_, true) => None,
        (Some(account), false) => Some(account),
        // An enterprise without a market account has no orders.
        (None, false) => return Ok(Json(Vec::new())),
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
