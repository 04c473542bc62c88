//! The public audit of a closed auction: anyone may re-run it. The clearing rules in the form
//! `ets auction clear --rules` reads, the revealed seed (whose SHA-256 is the commitment
//! published at the open), and every bid in submission order under its bidder's number (names
//! stay with the bureau), so `ets auction clear` on `rules` and `bids` gives the same price,
//! awards and tie draw as the registry.

use market::auction::{AuctionRecord, Clearing, Pricing, UndersubscribedPolicy};
use market::{Auction, InstrumentSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auctions::ContainmentBody;
use super::units::{price, tonnes};

/// A closed auction, re-runnable by anyone (see the module's documentation).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuctionAudit {
    /// The rules as `ets auction clear --rules` reads them (JSON), seed included.
    pub rules: AuditRules,
    /// Every bid in submission order; quantity 0 is a withdrawn bid.
    pub bids: Vec<AuditBid>,
    /// Tied bidders in the order drawn from the seed (empty without a tie).
    pub tie_draw: Vec<String>,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub unsold: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub containment_sold: Decimal,
}

/// The clearing rules of an auction, field for field those of `ets auction clear --rules`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRules {
    pub auction: u64,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub supply: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub reserve_price: Decimal,
    pub lot: u64,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub tick: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub bidder_cap_percent: Decimal,
    /// `uniform` or `pay_as_bid`.
    pub pricing: String,
    /// `sell_available` or `cancel`.
    pub undersubscribed: String,
    /// The revealed seed (hex).
    pub seed: String,
    pub seed_commitment: String,
    /// As the auction was opened with it.
    pub containment: Option<ContainmentBody>,
}

/// One bid as the audit shows it: `bidder-N` is the Nth bidder to bid.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditBid {
    pub bid: String,
    pub bidder: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

fn bidder_label(index: u32) -> String {
    format!("bidder-{}", index + 1)
}

/// The audit of `auction`, once it is closed (None while bids are sealed).
pub(super) fn audit(auction: &Auction, spec: &InstrumentSpec) -> Option<AuctionAudit> {
    let record = auction.record()?;
    let (tie_draw, unsold, containment_sold) = match &record.clearing {
        Clearing::Cleared(c) => (
            c.tie_break.as_ref().map_or(Vec::new(), |t| {
                t.draw.iter().map(|&i| bidder_label(i)).collect()
            }),
            tonnes(spec, c.unsold_lots),
            tonnes(spec, c.containment_sold_lots),
        ),
        Clearing::Cancelled { .. } => (
            Vec::new(),
            tonnes(spec, record.config.volume_lots),
            Decimal::ZERO,
        ),
    };
    let bids = record
        .bids
        .iter()
        .map(|b| AuditBid {
            bid: format!("b{}", b.bid.0),
            bidder: bidder_label(b.bidder),
            price: price(spec, b.price_ticks),
            quantity: tonnes(spec, b.lots),
        })
        .collect();
    Some(AuctionAudit {
        rules: rules(record, spec),
        bids,
        tie_draw,
        unsold,
        containment_sold,
    })
}

fn rules(record: &AuctionRecord, spec: &InstrumentSpec) -> AuditRules {
    let config = &record.config;
    AuditRules {
        auction: config.id.0,
        supply: tonnes(spec, config.volume_lots),
        reserve_price: price(spec, config.reserve_price_ticks),
        lot: config.lot_t,
        tick: price(spec, 1),
        bidder_cap_percent: Decimal::new(config.bidder_cap_bp as i64, 2).normalize(),
        pricing: match config.pricing {
            Pricing::Uniform => "uniform",
            Pricing::PayAsBid => "pay_as_bid",
        }
        .into(),
        undersubscribed: match config.undersubscribed {
            UndersubscribedPolicy::SellAvailable => "sell_available",
            UndersubscribedPolicy::Cancel => "cancel",
        }
        .into(),
        seed: hex::encode(record.seed),
        seed_commitment: hex::encode(record.seed_commitment),
        containment: config.containment.as_ref().map(|c| ContainmentBody {
            trigger_price: price(spec, c.trigger_price_ticks),
            volume: tonnes(spec, c.volume_lots),
        }),
    }
}
