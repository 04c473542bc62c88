//! A sealed-bid auction from files, cleared by the registry's own clearing
//! ([`market::auction::clear_revealed`]) so the awards are exactly what the registry would give.
//!
//! Rules (TOML, or JSON when the label ends in `.json`), every quantity in tonnes and every
//! price in CNY per tonne:
//!
//! ```toml
//! auction = 7                  # the registry's auction number: it keys the tie draw
//! supply = "1000"
//! reserve_price = "30.00"
//! lot = 1                      # tonnes per lot (default 1)
//! tick = "0.01"                # price tick (default CNY 0.01)
//! bidder_cap_percent = "25"    # most one bidder may win, % of the supply (default 100)
//! pricing = "uniform"          # or "pay_as_bid"
//! undersubscribed = "sell_available"   # or "cancel"
//! seed = "…64 hex digits…"     # the revealed seed; ties are shared pro rata, then drawn
//! seed_commitment = "…"        # optional: checked against SHA-256(seed)
//! [containment]                # optional cost-containment reserve
//! trigger_price = "60"
//! volume = "100"
//! ```
//!
//! Bids: CSV with `bidder, price, quantity` and an optional `bid` label, or a JSON array of
//! objects with those fields, in submission order. A bid below the reserve price is recorded
//! unfilled (`below_reserve`), not refused; quantity 0 is a withdrawn bid (`withdrawn`: it keeps
//! its place in the bidders' numbering, as in the registry's public audit of an auction); a
//! price off the tick or a quantity off the lot is refused with its line, as the registry
//! refuses it.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use market::auction::{Clearing, ClearingRules, Pricing, SealedBid, UndersubscribedPolicy};
use market::{AuctionId, BidId, InstrumentId, InstrumentSpec, seed_commitment};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::FormatError;
use crate::document::{self, Format};
use crate::round::Input;
use crate::table::Table;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub auction: u64,
    pub supply: Decimal,
    pub reserve_price: Decimal,
    #[serde(default = "one_tonne")]
    pub lot: u64,
    #[serde(default = "one_fen")]
    pub tick: Decimal,
    #[serde(default = "all_of_it")]
    pub bidder_cap_percent: Decimal,
    #[serde(default)]
    pub pricing: PricingRule,
    #[serde(default)]
    pub undersubscribed: Undersubscribed,
    pub seed: String,
    #[serde(default)]
    pub seed_commitment: Option<String>,
    #[serde(default)]
    pub containment: Option<Containment>,
}

fn one_tonne() -> u64 {
    1
}
fn one_fen() -> Decimal {
    Decimal::new(1, 2)
}
fn all_of_it() -> Decimal {
    Decimal::ONE_HUNDRED
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingRule {
    #[default]
    Uniform,
    PayAsBid,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Undersubscribed {
    #[default]
    SellAvailable,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Containment {
    pub trigger_price: Decimal,
    pub volume: Decimal,
}

/// One bid as the file gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidLine {
    #[serde(default)]
    pub bid: Option<String>,
    pub bidder: String,
    pub price: Decimal,
    pub quantity: Decimal,
}

/// The rules in the registry's units, checked.
pub struct Prepared {
    pub auction: AuctionId,
    pub spec: InstrumentSpec,
    pub rules: ClearingRules,
    pub seed: [u8; 32],
}

impl Prepared {
    fn tonnes(&self, lots: u64) -> Decimal {
        Decimal::from(u128::from(lots) * u128::from(self.spec.lot_t))
    }

    /// A price in yuan with its two places (58.00), as the registry shows it.
    fn yuan(&self, ticks: u64) -> Decimal {
        let mut price = self.spec.price_cny_per_t(ticks);
        price.rescale(2);
        price
    }
}

pub fn rules_from(input: Input<impl Read>) -> Result<Prepared, FormatError> {
    let label = input.label.clone();
    let rules: Rules = document::read(input, Format::Toml)?;
    prepare(&rules).map_err(|(field, reason)| FormatError::Setting {
        file: label,
        field: field.to_owned(),
        reason,
    })
}

/// Converts the rules to lots and ticks as the registry would, naming the field at fault.
pub fn prepare(rules: &Rules) -> Result<Prepared, (&'static str, String)> {
    let tick_fen = (rules.tick * Decimal::ONE_HUNDRED)
        .normalize()
        .to_string()
        .parse::<u64>()
        .map_err(|_| {
            (
                "tick",
                format!("{} is not a whole number of fen", rules.tick),
            )
        })?;
    let spec = InstrumentSpec::new(InstrumentId(0), tick_fen, rules.lot)
        .map_err(|e| ("lot", e.to_string()))?;
    let volume_lots = spec
        .quantity_lots(rules.supply)
        .map_err(|e| ("supply", e.to_string()))?;
    let reserve_price_ticks = spec
        .price_ticks(rules.reserve_price)
        .map_err(|e| ("reserve_price", e.to_string()))?;
    let bidder_cap_lots = cap_lots(rules.bidder_cap_percent, volume_lots)?;
    let containment = match &rules.containment {
        Some(c) => Some(containment_of(&spec, c, reserve_price_ticks)?),
        None => None,
    };
    let seed: [u8; 32] = hex::decode(&rules.seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(("seed", "must be 64 hex digits".to_owned()))?;
    if let Some(commitment) = &rules.seed_commitment
        && !commitment.eq_ignore_ascii_case(&hex::encode(seed_commitment(&seed)))
    {
        return Err(("seed_commitment", "is not SHA-256 of the seed".into()));
    }
    Ok(Prepared {
        auction: AuctionId(rules.auction),
        spec,
        rules: ClearingRules {
            volume_lots,
            reserve_price_ticks,
            bidder_cap_lots,
            containment,
            pricing: match rules.pricing {
                PricingRule::Uniform => Pricing::Uniform,
                PricingRule::PayAsBid => Pricing::PayAsBid,
            },
            undersubscribed: match rules.undersubscribed {
                Undersubscribed::SellAvailable => UndersubscribedPolicy::SellAvailable,
                Undersubscribed::Cancel => UndersubscribedPolicy::Cancel,
            },
        },
        seed,
    })
}

/// Lots one bidder may win: `percent` of the supply, rounded down, at least one lot.
fn cap_lots(percent: Decimal, volume_lots: u64) -> Result<u64, (&'static str, String)> {
    let field = "bidder_cap_percent";
    let cap_bp: u64 = match (percent * Decimal::ONE_HUNDRED)
        .normalize()
        .to_string()
        .parse()
    {
        Ok(bp) if (1..=10_000).contains(&bp) => bp,
        _ => {
            return Err((
                field,
                "must be above 0 and at most 100, in steps of 0.01".into(),
            ));
        }
    };
    match (u128::from(volume_lots) * u128::from(cap_bp) / 10_000) as u64 {
        0 => Err((field, "allows no whole lot of the supply".into())),
        lots => Ok(lots),
    }
}

/// The containment reserve as (trigger in ticks, lots).
fn containment_of(
    spec: &InstrumentSpec,
    c: &Containment,
    reserve_price_ticks: u64,
) -> Result<(u64, u64), (&'static str, String)> {
    let trigger = spec
        .price_ticks(c.trigger_price)
        .map_err(|e| ("containment.trigger_price", e.to_string()))?;
    if trigger < reserve_price_ticks {
        return Err((
            "containment.trigger_price",
            "is below the reserve price".into(),
        ));
    }
    let lots = spec
        .quantity_lots(c.volume)
        .map_err(|e| ("containment.volume", e.to_string()))?;
    Ok((trigger, lots))
}

/// Bids from CSV, or from JSON when the label ends in `.json`.
pub fn bids_from(input: Input<impl Read>) -> Result<Vec<(u64, BidLine)>, FormatError> {
    if input.label.ends_with(".json") {
        let Input { label, reader } = input;
        let bids: Vec<BidLine> = serde_json::from_reader(reader)
            .map_err(|e| FormatError::file(&label, e.to_string()))?;
        return Ok((1..).zip(bids).collect());
    }
    let mut table = Table::open(&input.label, input.reader)?;
    let known = ["bid", "bidder", "price", "quantity"];
    table.refuse_unknown(|c| known.contains(&c), &known.join(", "))?;
    let (bidder, price, quantity) = (
        table.require(&["bidder"])?,
        table.require(&["price"])?,
        table.require(&["quantity"])?,
    );
    let label = table.column("bid");
    let mut bids = Vec::new();
    table.rows(|row| {
        bids.push((
            row.line(),
            BidLine {
                bid: row.text_at(label).map(str::to_owned),
                bidder: row.required(bidder)?.to_owned(),
                price: row
                    .decimal(price)?
                    .ok_or_else(|| row.error(price, "is empty"))?,
                quantity: row
                    .decimal(quantity)?
                    .ok_or_else(|| row.error(quantity, "is empty"))?,
            },
        ));
        Ok(())
    })?;
    Ok(bids)
}

/// One bid's outcome, as `awards.csv` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwardLine {
    pub bid: String,
    pub bidder: String,
    pub price: Decimal,
    pub quantity: Decimal,
    pub awarded: Decimal,
    /// Price paid per tonne (the clearing price, or the bid's own under pay-as-bid).
    pub pays: Option<Decimal>,
    pub amount_cny: Decimal,
    /// `filled`, `partial`, `unfilled`, `below_reserve` or `cancelled`.
    pub status: &'static str,
}

/// The clearing as `clearing.json` gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub auction: u64,
    pub seed: String,
    pub seed_commitment: String,
    /// `cleared` or `cancelled`.
    pub state: &'static str,
    pub clearing_price: Option<Decimal>,
    pub supply: Decimal,
    pub sold: Decimal,
    pub containment_sold: Decimal,
    pub unsold: Decimal,
    /// Tonnes bid at or above the reserve price.
    pub demand: Decimal,
    pub revenue_cny: Decimal,
    pub bids: usize,
    pub bidders: usize,
    pub below_reserve: usize,
    /// Tied bidders in the order drawn from the seed, and the lots handed out one at a time.
    pub tie_draw: Vec<String>,
    pub tie_leftover_lots: u64,
    #[serde(skip)]
    pub awards: Vec<AwardLine>,
}

/// Clears `bids` under `prepared` exactly as the registry's close would: bids at or above the
/// reserve enter in file order, bidders numbered by their first such bid.
pub fn clear(
    prepared: &Prepared,
    bids: &[(u64, BidLine)],
    file: &str,
) -> Result<Outcome, FormatError> {
    let spec = &prepared.spec;
    let mut sealed = Vec::new();
    let mut entered = Vec::with_capacity(bids.len());
    let mut bidders: BTreeMap<&str, u32> = BTreeMap::new();
    let mut names: Vec<&str> = Vec::new();
    for (line, b) in bids {
        let field = |column: &str, e: market::MarketError| FormatError::Field {
            file: file.to_owned(),
            line: *line,
            column: column.to_owned(),
            reason: e.to_string(),
        };
        let price_ticks = spec.price_ticks(b.price).map_err(|e| field("price", e))?;
        // Quantity 0 is a withdrawn bid (as the registry's audit lists it): it numbers its
        // bidder in submission order, as the registry does, and is never filled.
        let lots = match b.quantity.is_zero() {
            true => 0,
            false => spec
                .quantity_lots(b.quantity)
                .map_err(|e| field("quantity", e))?,
        };
        if price_ticks < prepared.rules.reserve_price_ticks {
            entered.push(None);
            continue;
        }
        let next = names.len() as u32;
        let bidder = *bidders.entry(b.bidder.as_str()).or_insert(next);
        if bidder == next {
            names.push(&b.bidder);
        }
        entered.push(Some(sealed.len()));
        sealed.push(SealedBid {
            bid: BidId(sealed.len() as u32),
            bidder,
            price_ticks,
            lots,
        });
    }
    let clearing = market::auction::clear_revealed(
        &prepared.rules,
        prepared.auction,
        &prepared.seed,
        &sealed,
        names.len(),
    );
    Ok(outcome(
        prepared, bids, &entered, &sealed, &names, &clearing,
    ))
}

fn outcome(
    prepared: &Prepared,
    bids: &[(u64, BidLine)],
    entered: &[Option<usize>],
    sealed: &[SealedBid],
    names: &[&str],
    clearing: &Clearing,
) -> Outcome {
    let (tonnes, price) = (|lots| prepared.tonnes(lots), |ticks| prepared.yuan(ticks));
    let demand_lots: u64 = sealed.iter().map(|b| b.lots).sum();
    let mut outcome = Outcome {
        auction: prepared.auction.0,
        seed: hex::encode(prepared.seed),
        seed_commitment: hex::encode(seed_commitment(&prepared.seed)),
        state: "cancelled",
        clearing_price: None,
        supply: tonnes(prepared.rules.volume_lots),
        sold: Decimal::ZERO,
        containment_sold: Decimal::ZERO,
        unsold: tonnes(prepared.rules.volume_lots),
        demand: tonnes(demand_lots),
        revenue_cny: Decimal::new(0, 2),
        bids: bids.len(),
        bidders: names.len(),
        below_reserve: entered.iter().filter(|e| e.is_none()).count(),
        tie_draw: Vec::new(),
        tie_leftover_lots: 0,
        awards: Vec::with_capacity(bids.len()),
    };
    let mut awarded: Vec<Option<(u64, u64)>> = vec![None; sealed.len()];
    if let Clearing::Cleared(c) = clearing {
        outcome.state = "cleared";
        outcome.clearing_price = Some(price(c.clearing_price_ticks));
        outcome.sold = tonnes(c.sold_lots);
        outcome.containment_sold = tonnes(c.containment_sold_lots);
        outcome.unsold = tonnes(c.unsold_lots);
        if let Some(tie) = &c.tie_break {
            outcome.tie_draw = tie
                .draw
                .iter()
                .map(|&i| names[i as usize].to_owned())
                .collect();
            outcome.tie_leftover_lots = tie.leftover_lots;
        }
        for award in &c.awards {
            awarded[award.bid.0 as usize] = Some((award.lots, award.price_ticks));
        }
    }
    outcome.awards = award_lines(prepared, bids, entered, &awarded, clearing);
    outcome.revenue_cny = outcome.awards.iter().map(|a| a.amount_cny).sum::<Decimal>();
    outcome.revenue_cny.rescale(2);
    outcome
}

/// Each bid's line of `awards.csv`, in file order; `awarded[i]` is the (lots, price in ticks) of
/// the `i`th entered bid.
fn award_lines(
    prepared: &Prepared,
    bids: &[(u64, BidLine)],
    entered: &[Option<usize>],
    awarded: &[Option<(u64, u64)>],
    clearing: &Clearing,
) -> Vec<AwardLine> {
    let (tonnes, price) = (|lots| prepared.tonnes(lots), |ticks| prepared.yuan(ticks));
    let mut lines = Vec::with_capacity(bids.len());
    for ((line, b), entry) in bids.iter().zip(entered) {
        let won = entry.and_then(|i| awarded[i]);
        let (lots, pays) = won.map_or((0, None), |(lots, ticks)| (lots, Some(price(ticks))));
        let amount = pays.map_or(Decimal::new(0, 2), |p| p * tonnes(lots));
        let status = match (entry, clearing) {
            (None, _) => "below_reserve",
            (Some(_), _) if b.quantity.is_zero() => "withdrawn",
            (Some(_), Clearing::Cancelled { .. }) => "cancelled",
            (Some(_), _) if tonnes(lots) == b.quantity => "filled",
            (Some(_), _) if lots > 0 => "partial",
            _ => "unfilled",
        };
        lines.push(AwardLine {
            bid: b.bid.clone().unwrap_or_else(|| line.to_string()),
            bidder: b.bidder.clone(),
            price: b.price,
            quantity: b.quantity,
            awarded: tonnes(lots),
            pays,
            amount_cny: amount,
            status,
        });
    }
    lines
}

/// `awards.csv`: one row per bid in file order.
pub fn write_awards(outcome: &Outcome, out: impl Write, file: &str) -> Result<(), FormatError> {
    let mut writer = csv::Writer::from_writer(out);
    let error = |source| FormatError::Csv {
        file: file.to_owned(),
        source,
    };
    for award in &outcome.awards {
        writer.serialize(award).map_err(error)?;
    }
    if outcome.awards.is_empty() {
        writer
            .write_record([
                "bid",
                "bidder",
                "price",
                "quantity",
                "awarded",
                "pays",
                "amount_cny",
                "status",
            ])
            .map_err(error)?;
    }
    writer
        .flush()
        .map_err(|e| FormatError::file(file, format!("cannot be written: {e}")))
}
