//! The demo's market session, through the same durable path the API serves
//! (`exchange::DurableMarket`: the ledger journal is the market's command log): a reserve auction
//! of carbon allowances (uniform price, reserve price, per-bidder cap) with bids from several
//! covered enterprises, then a short session of continuous trading in group-committed batches.
//! The session is left open (resting orders stay on the book), so `ets serve` on the demo
//! database shows the book and the trades.
//!
//! Deterministic: every command's time is on a fixed synthetic clock and every choice comes from
//! the demo's seeded RNG; only the ledger hold expiries follow the wall clock (a hold must expire
//! in the future).

use anyhow::{Context, Result, bail};
use chrono::{Duration, TimeZone, Utc};
use exchange::durable::{MarketCommand, MarketInit};
use exchange::{CommandOutcome, DurableMarket};
use ledger::{Ledger, Party};
use market::auction::{Clearing, Pricing, UndersubscribedPolicy};
use market::{
    AccountId, AuctionConfig, AuctionId, AuctionKind, InstrumentId, InstrumentSpec, OrderPrice,
    OrderRequest, SelfTradePrevention, Side, TimeInForce, Timestamp,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::dataset::Firm;
use super::{CEA, CNY};

/// The API's conventions (`api::services::market`), so `ets serve` continues this market.
const NAMESPACE: &str = "mkt";
const BUREAU: AccountId = AccountId(0);
const ALLOWANCES: InstrumentId = InstrumentId(1);
/// CNY 80.00 per tCO2e at a tick of CNY 0.01.
const CLOSE_TICKS: u64 = 8_000;
const LOT_T: u64 = 100;
/// The December 2025 reserve auction.
const AUCTION: AuctionId = AuctionId(202_512);

/// What the report prints.
#[derive(Default)]
pub struct MarketReport {
    pub auction_volume_t: u64,
    pub bidders: usize,
    pub bids: usize,
    pub clearing_price: Option<Decimal>,
    pub sold_t: u64,
    /// (enterprise name, tonnes, CNY per tonne)
    pub awards: Vec<(String, u64, Decimal)>,
    pub orders: usize,
    pub refused_orders: usize,
    pub trades: u64,
    pub traded_t: u64,
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub last: Option<Decimal>,
    pub vwap: Option<Decimal>,
    pub resting_orders: u32,
    pub journal_entries: u64,
}

fn clock(minutes: i64) -> Timestamp {
    let base = Utc.with_ymd_and_hms(2025, 12, 15, 9, 30, 0).single();
    Timestamp(base.map_or(0, |b| (b + Duration::minutes(minutes)).timestamp_millis()))
}

fn price(ticks: u64) -> Decimal {
    Decimal::new(ticks as i64, 2)
}

async fn run_all(market: &mut DurableMarket, commands: &[MarketCommand]) -> Result<()> {
    for (command, outcome) in commands.iter().zip(market.execute(commands).await?) {
        outcome.with_context(|| format!("{command:?}"))?;
    }
    Ok(())
}

pub async fn session(
    ledger: &Ledger,
    firms: &[Firm],
    rng: &mut ChaCha8Rng,
) -> Result<MarketReport> {
    let mut report = MarketReport::default();
    let before = ledger.store().head().await?.0;
    // Today's trading day by the calendar `ets serve` keeps (its duties close it on time).
    let calendar = market::TradingCalendar::default();
    let today = calendar.open_day_at(ledger.now())?;
    let wall_day_end = api::services::market::day_end(&calendar, today)?;
    let init = MarketInit {
        namespace: NAMESPACE.into(),
        cash_instrument: CNY.into(),
        self_trade: SelfTradePrevention::CancelResting,
        trading_day_end: wall_day_end,
        transfer_grace: Duration::hours(1),
    };
    let mut market = DurableMarket::open(ledger.clone(), init).await?;
    // Mapping and listing: logged commands like everything else.
    let covered: Vec<&Firm> = firms.iter().filter(|f| f.carbon_t > 0).collect();
    if covered.len() < 4 {
        bail!("the market session needs at least 4 covered enterprises");
    }
    let mut setup = vec![
        MarketCommand::MapAccount {
            account: BUREAU,
            party: Party::Reserve,
        },
        MarketCommand::MapInstrument {
            instrument: ALLOWANCES,
            code: CEA.into(),
        },
    ];
    for (i, firm) in covered.iter().enumerate() {
        setup.push(MarketCommand::MapAccount {
            account: AccountId(i as u64 + 1),
            party: Party::Enterprise(firm.code.clone()),
        });
    }
    let spec = InstrumentSpec::new(ALLOWANCES, 1, LOT_T)?;
    setup.push(MarketCommand::ListInstrument {
        spec,
        previous_close_ticks: CLOSE_TICKS,
    });
    run_all(&mut market, &setup).await?;

    // The reserve auction: an eighth of the reserve, uniform price, reserve CNY 60, 25% cap per bidder.
    let reserve_t = ledger
        .store()
        .balances(Some("bureau"))
        .await?
        .into_iter()
        .find(|b| b.instrument == CEA && b.kind == ledger::AccountKind::Reserve)
        .map(|b| {
            exchange::ledger_bridge::market_units(market::Asset::Rights(ALLOWANCES), b.balance)
        })
        .unwrap_or(0);
    let volume_lots = reserve_t / 8 / LOT_T;
    if volume_lots == 0 {
        bail!("the reserve holds no allowances to auction");
    }
    let mut seed = [0_u8; 32];
    rng.fill(&mut seed);
    let config = AuctionConfig {
        id: AUCTION,
        kind: AuctionKind::Primary,
        instrument: ALLOWANCES,
        seller: BUREAU,
        proceeds_to: BUREAU,
        lot_t: LOT_T,
        tick_fen: 1,
        volume_lots,
        reserve_price_ticks: 6_000,
        bidder_cap_bp: 2_500,
        pricing: Pricing::Uniform,
        containment: None,
        undersubscribed: UndersubscribedPolicy::SellAvailable,
        closes_at: clock(60),
        bids_max: 10_000,
    };
    report.auction_volume_t = volume_lots * LOT_T;
    run_all(
        &mut market,
        &[MarketCommand::OpenAuction {
            config,
            seed_commitment: market::seed_commitment(&seed),
            settle_by_ms: wall_day_end.timestamp_millis(),
        }],
    )
    .await?;
    let mut bids = Vec::new();
    let bidders = covered.len().min(8);
    for (i, _) in covered.iter().enumerate().take(bidders) {
        for _ in 0..2 {
            bids.push(MarketCommand::SubmitBid {
                auction: AUCTION,
                bidder: AccountId(i as u64 + 1),
                price_ticks: rng.random_range(6_000..9_500),
                lots: (volume_lots * rng.random_range(3..20) / 100).max(1),
                now: clock(10 + i as i64),
            });
        }
    }
    report.bidders = bidders;
    for outcome in market.execute(&bids).await? {
        match outcome {
            Ok(_) => report.bids += 1,
            // A bid beyond the bidder's cash: refused, nothing held.
            Err(error) if error.is_refusal() => {}
            Err(error) => return Err(error.into()),
        }
    }
    let closed = market
        .execute_one(MarketCommand::CloseAuction {
            auction: AUCTION,
            seed,
            now: clock(61),
        })
        .await?;
    if let CommandOutcome::AuctionClosed { record } = closed
        && let Clearing::Cleared(cleared) = &record.clearing
    {
        report.clearing_price = Some(price(cleared.clearing_price_ticks));
        report.sold_t = cleared.sold_lots * LOT_T;
        for award in &cleared.awards {
            let who = record
                .bidder(award.bidder)
                .and_then(|a| covered.get((a.0 - 1) as usize))
                .map(|f| f.name.clone())
                .unwrap_or_default();
            report
                .awards
                .push((who, award.lots * LOT_T, price(award.price_ticks)));
        }
    }

    // Continuous trading: 240 limit orders around the close, in group-committed batches of 40.
    let mut orders = Vec::new();
    for k in 0..240_i64 {
        let who = rng.random_range(0..covered.len());
        let side = if rng.random_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let offset = rng.random_range(0..120_u64);
        let price_ticks = match side {
            Side::Buy => CLOSE_TICKS + 60 - offset,
            Side::Sell => CLOSE_TICKS - 60 + offset,
        };
        orders.push(MarketCommand::SubmitOrder {
            instrument: ALLOWANCES,
            request: OrderRequest {
                owner: AccountId(who as u64 + 1),
                side,
                price: OrderPrice::Limit { price_ticks },
                lots: rng.random_range(1..=30),
                time_in_force: if k % 10 == 9 {
                    TimeInForce::ImmediateOrCancel
                } else {
                    TimeInForce::Day
                },
            },
            now: clock(90 + k),
        });
    }
    for batch in orders.chunks(40) {
        for outcome in market.execute(batch).await? {
            match outcome {
                Ok(_) => report.orders += 1,
                // An enterprise without the allowances or cash for an order: refused, nothing held.
                Err(error) if error.is_refusal() => report.refused_orders += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }
    let book = market.market().book(ALLOWANCES)?;
    let daily = book.daily();
    report.trades = daily.trades;
    report.traded_t = daily.volume_lots * LOT_T;
    report.open = daily.open_ticks.map(price);
    report.high = daily.high_ticks.map(price);
    report.low = daily.low_ticks.map(price);
    report.last = daily.last_ticks.map(price);
    report.vwap = (daily.volume_lots > 0).then(|| {
        (Decimal::from_i128_with_scale(daily.turnover_tick_lots as i128, 0)
            / Decimal::from(daily.volume_lots)
            / Decimal::ONE_HUNDRED)
            .round_dp(4)
    });
    report.resting_orders = book.live_orders();
    report.journal_entries = ledger.store().head().await?.0 - before;
    Ok(report)
}

pub fn print(report: &MarketReport) {
    println!(
        "\nreserve auction of {CEA}: {} t offered, {} bids from {} enterprises, uniform price, reserve CNY 60.00, cap 25% per bidder",
        report.auction_volume_t, report.bids, report.bidders
    );
    match report.clearing_price {
        Some(p) => println!("  clearing price CNY {p} per t; {} t sold", report.sold_t),
        None => println!("  not cleared"),
    }
    for (who, tonnes, p) in &report.awards {
        println!("  award: {who:<40} {tonnes:>10} t at CNY {p}");
    }
    println!(
        "continuous trading in {CEA}: {} orders accepted ({} refused), {} trades, {} t",
        report.orders, report.refused_orders, report.trades, report.traded_t
    );
    let show = |d: Option<Decimal>| d.map_or("-".to_owned(), |d| d.to_string());
    println!(
        "  OHLC {} / {} / {} / {}, VWAP {}; {} orders rest on the book (see `ets serve`)",
        show(report.open),
        show(report.high),
        show(report.low),
        show(report.last),
        show(report.vwap),
        report.resting_orders
    );
    println!(
        "  the market's commands are {} journal entries (market/<n>): the journal is the market's log",
        report.journal_entries
    );
}
