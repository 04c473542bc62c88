//! Auctions: the bureau's reserve auctions and an enterprise's one-way bidding sessions of its
//! own rights: open (the seed commitment is published), read (never another's sealed bid before
//! the result), close with the seed (awards settle delivery-versus-payment). Bids are in
//! `bids`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use exchange::DurableMarket;
use exchange::durable::MarketCommand;
use market::auction::{ContainmentReserve, Pricing, UndersubscribedPolicy};
use market::{
    AccountId, AuctionConfig, AuctionId, AuctionKind, AuctionState, InstrumentId, InstrumentSpec,
    MarketError, Timestamp,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{AuctionAudit, audit};
use super::bids::BidView;
use super::command::{Open, Planned, execute};
use super::lookup::{
    auction_of, auction_spec, code_of, known_account, listed, own_account, viewer,
};
use super::units::{now, price, time_of, tonnes};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::{BUREAU_ACCOUNT, party_name};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PricingBody {
    Uniform,
    PayAsBid,
}

/// A reserve auction (bureau) or a one-way bidding session of the caller's own rights
/// (enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuctionBody {
    pub auction: u64,
    pub instrument: String,
    /// Tonnes offered, a multiple of the instrument's lot.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    /// CNY per tonne; bids below are refused.
    #[serde(with = "ledger::amount::plain")]
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
    /// A cost-containment reserve (reserve auctions only): more tonnes from the bureau's
    /// reserve, sold only when the auction clears at or above the trigger price.
    #[serde(default)]
    pub containment: Option<ContainmentBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainmentBody {
    /// CNY per tonne, at or above the reserve price.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub trigger_price: Decimal,
    /// Tonnes held back for it, a multiple of the instrument's lot.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub volume: Decimal,
}

fn uniform() -> PricingBody {
    PricingBody::Uniform
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAuctionBody {
    /// The seed (hex, 32 bytes) whose SHA-256 was published at the open.
    pub seed: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AwardBody {
    pub bidder: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "ledger::amount::plain")]
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
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub volume: Decimal,
    #[serde(with = "ledger::amount::plain")]
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
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub clearing_price: Option<Decimal>,
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub sold: Option<Decimal>,
    /// Awards, once cleared.
    pub awards: Vec<AwardBody>,
    /// The caller's own bids (an enterprise), every bid after the result (bureau); never
    /// anyone else's sealed bid before the result.
    pub bids: Vec<BidView>,
    /// Once closed, for everyone: the rules, the revealed seed and the anonymised bids, enough
    /// to re-run the clearing with `ets auction clear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuctionAudit>,
}

fn auction_view(
    market: &DurableMarket,
    auction: &market::Auction,
    viewer: Option<AccountId>,
    bureau: bool,
) -> Result<AuctionView, ApiError> {
    let config = auction.config();
    let spec = auction_spec(auction)?;
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
    let bids = visible_bids(market, auction, &spec, (viewer, bureau));
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
        audit: audit(auction, &spec),
    })
}

/// The bids `viewer` may see: after the result the bureau sees every bid and an enterprise its
/// own; while sealed an enterprise sees its own; nobody else sees any.
fn visible_bids(
    market: &DurableMarket,
    auction: &market::Auction,
    spec: &InstrumentSpec,
    (viewer, bureau): (Option<AccountId>, bool),
) -> Vec<BidView> {
    let record = auction.record();
    match (record, viewer) {
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
                    price: price(spec, b.price_ticks),
                    quantity: tonnes(spec, b.lots),
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
                price: price(spec, b.price_ticks),
                quantity: tonnes(spec, b.lots),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The view of `auction` right after a command on it (`done`: what the command did).
fn view_after(
    market: &DurableMarket,
    auction: u64,
    (me, bureau): (Option<AccountId>, bool),
    done: &str,
) -> Result<AuctionView, ApiError> {
    let found = market
        .market()
        .auction(AuctionId(auction))
        .ok_or_else(|| ApiError::Internal(format!("{done} but not found")))?;
    auction_view(market, found, me, bureau)
}

/// 32 bytes written as 64 hex digits (a seed or its SHA-256 commitment).
fn hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok())
}

fn open_command(
    body: &AuctionBody,
    instrument: InstrumentId,
    spec: &InstrumentSpec,
    (kind, seller): (AuctionKind, AccountId),
    seed_commitment: [u8; 32],
) -> Result<MarketCommand, MarketError> {
    let settle_by = crate::services::market::auction_settle_by(body.closes_at);
    Ok(MarketCommand::OpenAuction {
        config: AuctionConfig {
            id: AuctionId(body.auction),
            kind,
            instrument,
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
            containment: match &body.containment {
                // Held from the seller, the bureau's reserve (only the bureau may add one).
                Some(c) => Some(ContainmentReserve {
                    account: seller,
                    trigger_price_ticks: spec.price_ticks(c.trigger_price)?,
                    volume_lots: spec.quantity_lots(c.volume)?,
                }),
                None => None,
            },
            undersubscribed: UndersubscribedPolicy::SellAvailable,
            closes_at: Timestamp(body.closes_at.timestamp_millis()),
            bids_max: 100_000,
        },
        seed_commitment,
        settle_by_ms: settle_by.timestamp_millis(),
    })
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
pub(super) async fn post_auction(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<AuctionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "opening an auction")?;
    let commitment = hex32(&body.seed_commitment)
        .ok_or_else(|| ApiError::field("seed_commitment", "must be 64 hex digits (SHA-256)"))?;
    if body.bidder_cap_percent == 0 || body.bidder_cap_percent > 100 {
        return Err(ApiError::field("bidder_cap_percent", "must be 1 to 100"));
    }
    if body.containment.is_some() && caller.role() != Role::Bureau {
        return Err(ApiError::field(
            "containment",
            "only the bureau's reserve auctions have a cost-containment reserve",
        ));
    }
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::Existing,
        async |market| {
            let (id, spec) = listed(market, &body.instrument)?;
            let offer = match caller.role() {
                Role::Bureau => (AuctionKind::Primary, BUREAU_ACCOUNT),
                _ => (AuctionKind::OneWay, own_account(&caller, market)?),
            };
            let command = open_command(&body, id, &spec, offer, commitment);
            Ok(Planned::checked(command, viewer(&caller, market)))
        },
        |market, _, seen_by| view_after(market, body.auction, seen_by, "opened"),
    )
    .await
}

/// An auction: its terms, state and seed commitment; bid count while sealed; the clearing
/// price and awards once cleared, and the public `audit` (rules, revealed seed, anonymised bids:
/// `ets auction clear` re-runs it). An enterprise sees its own bids only; nobody sees another's
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
pub(super) async fn get_auction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(auction): ApiPath<u64>,
) -> Result<Json<AuctionView>, ApiError> {
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let (me, bureau) = viewer(&caller, market);
    auction_view(market, auction_of(market, auction)?, me, bureau).map(Json)
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
pub(super) async fn post_close_auction(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiPath(auction): ApiPath<u64>,
    ApiJson(body): ApiJson<CloseAuctionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "closing an auction")?;
    let seed = hex32(&body.seed).ok_or_else(|| ApiError::field("seed", "must be 64 hex digits"))?;
    execute(
        &state,
        &caller,
        key,
        &(auction, &body),
        Open::Existing,
        async |market| {
            let seller = auction_of(market, auction)?.config().seller;
            if caller.role() == Role::Enterprise && known_account(&caller, market) != Some(seller) {
                return Err(ApiError::forbidden(
                    "only the bureau, or the enterprise offering a one-way session, closes it",
                ));
            }
            let command = MarketCommand::CloseAuction {
                auction: AuctionId(auction),
                seed,
                now: now(&state),
            };
            Ok(Planned::new(command, viewer(&caller, market)))
        },
        |market, _, seen_by| view_after(market, auction, seen_by, "closed"),
    )
    .await
}
