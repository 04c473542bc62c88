//! Sealed bids (enterprise): bid in an open auction (the full bid value is held as its
//! guarantee), withdraw one's own before bidding closes.

use axum::extract::State;
use axum::response::Response;
use exchange::CommandOutcome;
use exchange::durable::MarketCommand;
use market::{AuctionId, BidId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::command::{Open, Planned, execute, unexpected};
use super::lookup::{auction_of, auction_spec, own_account};
use super::types::DoneBody;
use super::units::now;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, IdempotencyKey};
use crate::keys::Role;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidBody {
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidView {
    pub bid: u32,
    pub bidder: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BidAckBody {
    pub auction: u64,
    pub bid: u32,
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
pub(super) async fn post_bid(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiPath(auction): ApiPath<u64>,
    ApiJson(body): ApiJson<BidBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "bidding")?;
    execute(
        &state,
        &caller,
        key,
        &(auction, &body),
        Open::Existing,
        async |market| {
            let spec = auction_spec(auction_of(market, auction)?)?;
            let bidder = own_account(&caller, market)?;
            let command = (|| {
                Ok(MarketCommand::SubmitBid {
                    auction: AuctionId(auction),
                    bidder,
                    price_ticks: spec.price_ticks(body.price)?,
                    lots: spec.quantity_lots(body.quantity)?,
                    now: now(&state),
                })
            })();
            Ok(Planned::checked(command, ()))
        },
        |_, outcome, ()| match outcome {
            CommandOutcome::BidSubmitted { bid } => Ok(BidAckBody {
                auction,
                bid: bid.0,
            }),
            other => Err(unexpected(other)),
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
pub(super) async fn post_withdraw_bid(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiPath((auction, bid)): ApiPath<(u64, u32)>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "withdrawing a bid")?;
    execute(
        &state,
        &caller,
        key,
        &(auction, bid),
        Open::Existing,
        async |market| {
            let command = MarketCommand::WithdrawBid {
                auction: AuctionId(auction),
                bidder: own_account(&caller, market)?,
                bid: BidId(bid),
                now: now(&state),
            };
            Ok(Planned::new(command, ()))
        },
        |_, _, ()| Ok(DoneBody { done: true }),
    )
    .await
}
