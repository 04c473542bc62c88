//! The demo's market over several trading days, through the same durable path the API serves
//! (`exchange::DurableMarket`: the ledger journal is the market's command log): on the first
//! day a reserve auction of carbon allowances (uniform price, reserve price, per-bidder cap)
//! with bids from several covered enterprises and a bilateral transfer nobody answers; on each
//! day continuous trading in group-committed batches; at each close but the last, the duties
//! `ets serve` performs (`api::services::duties::run_due`: the day closed at its VWAP, the
//! transfer expired, the seasonal permit written off). The last day is left open (resting
//! orders stay on the book), so `ets serve` on the demo database shows the book and the trades,
//! closes the day on time and trades on.
//!
//! Every choice comes from the demo's seeded RNG; the times are the demo's trading days (see
//! `days.rs`), so the same seed gives the same quantities on any date.

use anyhow::{Context, Result, bail};
use api::services::duties::DutyReport;
use api::services::market::MarketService;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use exchange::durable::{MarketCommand, MarketInit};
use exchange::{CommandOutcome, DurableMarket};
use ledger::{Ledger, Party};
use market::auction::{Clearing, Pricing, UndersubscribedPolicy};
use market::{
    AccountId, AuctionConfig, AuctionId, AuctionKind, InstrumentId, InstrumentSpec, OrderPrice,
    OrderRequest, SelfTradePrevention, Side, TimeInForce, Timestamp, TransferRequest,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::dataset::Firm;
use super::days::DemoClock;
use super::{CEA, CNY};

/// The API's conventions (`api::services::market`), so `ets serve` continues this market.
const NAMESPACE: &str = "mkt";
const BUREAU: AccountId = AccountId(0);
const ALLOWANCES: InstrumentId = InstrumentId(1);
/// CNY 80.00 per tCO2e at a tick of CNY 0.01.
const CLOSE_TICKS: u64 = 8_000;
const LOT_T: u64 = 100;
/// The reserve auction's id.
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
    /// The trading days, oldest first.
    pub days: Vec<DayLine>,
    /// The transfer proposed on the first day that nobody accepts.
    pub stale_transfer: Option<u64>,
    pub resting_orders: u32,
    pub journal_entries: u64,
}

/// One trading day: its continuous trading, and what its close brought.
pub struct DayLine {
    pub day: NaiveDate,
    pub orders: usize,
    pub refused_orders: usize,
    pub trades: u64,
    pub traded_t: u64,
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub last: Option<Decimal>,
    pub vwap: Option<Decimal>,
    /// What the duties did at the day's close (`None`: left open for `ets serve`), and the
    /// close the band moved to.
    pub closed: Option<(DutyReport, Decimal)>,
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

/// The market over the demo's trading days: on the first, the reserve auction, a transfer
/// proposal nobody accepts and a busy session; on each, continuous trading; at each close but
/// the last, the duties `ets serve` performs (the last day is left open for the server).
pub async fn session(
    ledger: &Ledger,
    clock: &DemoClock,
    days: &[NaiveDate],
    firms: &[Firm],
    rng: &mut ChaCha8Rng,
) -> Result<MarketReport> {
    let mut report = MarketReport::default();
    let before = ledger.store().head().await?.0;
    let calendar = market::TradingCalendar::default();
    let covered: Vec<&Firm> = firms.iter().filter(|f| f.carbon_t > 0).collect();
    if covered.len() < 4 {
        bail!("the market session needs at least 4 covered enterprises");
    }
    let first_open = calendar.open_of(days[0])?;
    clock.set(first_open);
    let mut market = open_market(ledger, &calendar, days[0], &covered).await?;
    let settle_by = api::services::market::day_end(&calendar, days[0])?;
    auction(
        &mut market,
        ledger,
        &covered,
        rng,
        first_open,
        settle_by,
        &mut report,
    )
    .await?;
    let service = MarketService::new(ledger.clone(), calendar.clone());
    for (i, &day) in days.iter().enumerate() {
        // The last day's orders arrive now, as at a server: they rest in the book open now.
        let start = match (i, i + 1 < days.len()) {
            // The first day's trading starts once the auction has closed (an hour in).
            (0, _) => first_open + Duration::minutes(65),
            (_, true) => calendar.open_of(day)? + Duration::minutes(5),
            (_, false) => Utc::now(),
        };
        clock.set(start);
        let orders = if i == 0 { 240 } else { 80 };
        let mut line = trade_day(&mut market, &covered, rng, day, start, orders).await?;
        if i == 0 {
            // In the afternoon, after the morning's orders: the market's time only goes on.
            report.stale_transfer = propose_stale_transfer(&mut market, &calendar, days).await?;
        }
        if i + 1 < days.len() {
            let after_close = calendar.close_of(day)? + Duration::minutes(1);
            clock.set(after_close);
            let duties = api::services::duties::run_due(&service, after_close).await?;
            market.refresh().await?;
            let close = price(market.market().book(ALLOWANCES)?.previous_close_ticks());
            line.closed = Some((duties, close));
        }
        report.days.push(line);
    }
    report.resting_orders = market.market().book(ALLOWANCES)?.live_orders();
    report.journal_entries = ledger.store().head().await?.0 - before;
    Ok(report)
}

/// The market as the API runs it, its first trading day `first_day`: the bureau, the covered
/// enterprises and the allowances mapped, the allowances listed at CNY 80.00.
async fn open_market(
    ledger: &Ledger,
    calendar: &market::TradingCalendar,
    first_day: NaiveDate,
    covered: &[&Firm],
) -> Result<DurableMarket> {
    let init = MarketInit {
        namespace: NAMESPACE.into(),
        cash_instrument: CNY.into(),
        self_trade: SelfTradePrevention::CancelResting,
        trading_day_end: api::services::market::day_end(calendar, first_day)?,
        transfer_grace: Duration::hours(1),
    };
    let mut market = DurableMarket::open(ledger.clone(), init).await?;
    // Mapping and listing: logged commands like everything else.
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
    Ok(market)
}

/// The reserve auction: an eighth of the reserve, uniform price, reserve CNY 60, 25% cap per
/// bidder; bids from the first minutes of `open`, closed an hour after it.
async fn auction(
    market: &mut DurableMarket,
    ledger: &Ledger,
    covered: &[&Firm],
    rng: &mut ChaCha8Rng,
    open: DateTime<Utc>,
    settle_by: DateTime<Utc>,
    report: &mut MarketReport,
) -> Result<()> {
    let at = |minutes: i64| Timestamp((open + Duration::minutes(minutes)).timestamp_millis());
    let volume_lots = reserve_t(ledger).await? / 8 / LOT_T;
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
        closes_at: at(60),
        bids_max: 10_000,
    };
    report.auction_volume_t = volume_lots * LOT_T;
    let open_auction = MarketCommand::OpenAuction {
        config,
        seed_commitment: market::seed_commitment(&seed),
        settle_by_ms: settle_by.timestamp_millis(),
    };
    run_all(market, &[open_auction]).await?;
    let bidders = covered.len().min(8);
    let bids = bids(rng, bidders, volume_lots, at);
    report.bidders = bidders;
    for outcome in market.execute(&bids).await? {
        match outcome {
            Ok(_) => report.bids += 1,
            // A bid beyond the bidder's cash: refused, nothing held.
            Err(error) if error.is_refusal() => {}
            Err(error) => return Err(error.into()),
        }
    }
    let close = MarketCommand::CloseAuction {
        auction: AUCTION,
        seed,
        now: at(61),
    };
    let closed = market.execute_one(close).await?;
    record_awards(closed, covered, report);
    Ok(())
}

/// The allowances in the bureau's reserve, in tonnes.
async fn reserve_t(ledger: &Ledger) -> Result<u64> {
    let bureau = ledger.store().balances(Some("bureau")).await?;
    let reserve = bureau
        .into_iter()
        .find(|b| b.instrument == CEA && b.kind == ledger::AccountKind::Reserve);
    let units = |b: ledger::Balance| {
        exchange::ledger_bridge::market_units(market::Asset::Rights(ALLOWANCES), b.balance)
    };
    Ok(reserve.map(units).unwrap_or(0))
}

/// Two sealed bids from each of the first `bidders` enterprises, minutes apart.
fn bids(
    rng: &mut ChaCha8Rng,
    bidders: usize,
    volume_lots: u64,
    at: impl Fn(i64) -> Timestamp,
) -> Vec<MarketCommand> {
    let mut bids = Vec::new();
    for i in 0..bidders {
        for _ in 0..2 {
            bids.push(MarketCommand::SubmitBid {
                auction: AUCTION,
                bidder: AccountId(i as u64 + 1),
                price_ticks: rng.random_range(6_000..9_500),
                lots: (volume_lots * rng.random_range(3..20) / 100).max(1),
                now: at(10 + i as i64),
            });
        }
    }
    bids
}

fn record_awards(closed: CommandOutcome, covered: &[&Firm], report: &mut MarketReport) {
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
}

/// A bilateral transfer of one lot, proposed on the first afternoon and due by noon of the
/// second day, that the buyer never answers: the second day's duties expire it and give the
/// seller's allowances back. Its id, unless the seller had nothing to offer.
async fn propose_stale_transfer(
    market: &mut DurableMarket,
    calendar: &market::TradingCalendar,
    days: &[NaiveDate],
) -> Result<Option<u64>> {
    let afternoon = chrono::NaiveTime::from_hms_opt(14, 0, 0).unwrap_or_default();
    let noon = chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default();
    let proposal = MarketCommand::ProposeTransfer {
        request: TransferRequest {
            instrument: ALLOWANCES,
            seller: AccountId(1),
            buyer: AccountId(2),
            lots: 1,
            price_ticks: CLOSE_TICKS,
            expires_at: Timestamp(calendar.at_local(days[1], noon)?.timestamp_millis()),
        },
        now: Timestamp(calendar.at_local(days[0], afternoon)?.timestamp_millis()),
    };
    match market.execute_one(proposal).await {
        Ok(CommandOutcome::TransferProposed { transfer }) => Ok(Some(transfer.0)),
        Ok(_) => Ok(None),
        Err(error) if error.is_refusal() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Continuous trading on `day` from `start`: `count` limit orders around the close, one every
/// 10 seconds, in group-committed batches of 40; a tenth are IOC, the rest day orders.
async fn trade_day(
    market: &mut DurableMarket,
    covered: &[&Firm],
    rng: &mut ChaCha8Rng,
    day: NaiveDate,
    start: DateTime<Utc>,
    count: i64,
) -> Result<DayLine> {
    let close = market.market().book(ALLOWANCES)?.previous_close_ticks();
    let mut orders = Vec::new();
    for k in 0..count {
        let side = if rng.random_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let offset = rng.random_range(0..120_u64);
        let price_ticks = match side {
            Side::Buy => close + 60 - offset,
            Side::Sell => close - 60 + offset,
        };
        let time_in_force = match k % 10 {
            9 => TimeInForce::ImmediateOrCancel,
            _ => TimeInForce::Day,
        };
        orders.push(MarketCommand::SubmitOrder {
            instrument: ALLOWANCES,
            request: OrderRequest {
                owner: AccountId(rng.random_range(0..covered.len()) as u64 + 1),
                side,
                price: OrderPrice::Limit { price_ticks },
                lots: rng.random_range(1..=30),
                time_in_force,
            },
            now: Timestamp((start + Duration::seconds(10 * k)).timestamp_millis()),
        });
    }
    let (mut accepted, mut refused) = (0, 0);
    for batch in orders.chunks(40) {
        for outcome in market.execute(batch).await? {
            match outcome {
                Ok(_) => accepted += 1,
                // An enterprise without the allowances or cash for an order: refused, nothing held.
                Err(error) if error.is_refusal() => refused += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }
    day_line(market, day, accepted, refused)
}

fn day_line(
    market: &DurableMarket,
    day: NaiveDate,
    orders: usize,
    refused_orders: usize,
) -> Result<DayLine> {
    let daily = market.market().book(ALLOWANCES)?.daily();
    let vwap = (daily.volume_lots > 0).then(|| {
        (Decimal::from_i128_with_scale(daily.turnover_tick_lots as i128, 0)
            / Decimal::from(daily.volume_lots)
            / Decimal::ONE_HUNDRED)
            .round_dp(4)
    });
    Ok(DayLine {
        day,
        orders,
        refused_orders,
        trades: daily.trades,
        traded_t: daily.volume_lots * LOT_T,
        open: daily.open_ticks.map(price),
        high: daily.high_ticks.map(price),
        low: daily.low_ticks.map(price),
        last: daily.last_ticks.map(price),
        vwap,
        closed: None,
    })
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
    if let Some(transfer) = report.stale_transfer {
        println!(
            "bilateral transfer {transfer} proposed on the first afternoon, due by noon the next day, never answered"
        );
    }
    println!(
        "continuous trading in {CEA} over {} trading days (Chongqing calendar, 09:30–11:30 and 13:00–15:00 +08:00):",
        report.days.len()
    );
    for line in &report.days {
        print_day(line);
    }
    println!(
        "  {} orders rest on the last day's book (see `ets serve`, whose duties close it and go on)",
        report.resting_orders
    );
    println!(
        "  the market's commands are {} journal entries (market/<n>): the journal is the market's log",
        report.journal_entries
    );
}

fn print_day(line: &DayLine) {
    let show = |d: Option<Decimal>| d.map_or("-".to_owned(), |d| d.to_string());
    println!(
        "  {}: {} orders ({} refused), {} trades, {} t; OHLC {} / {} / {} / {}, VWAP {}",
        line.day,
        line.orders,
        line.refused_orders,
        line.trades,
        line.traded_t,
        show(line.open),
        show(line.high),
        show(line.low),
        show(line.last),
        show(line.vwap),
    );
    let Some((duties, close)) = &line.closed else {
        println!("    left open for `ets serve`, whose duties close it when its close has passed");
        return;
    };
    println!(
        "    closed at CNY {close} (the band re-centres on it; day orders expired, holds released)"
    );
    for transfer in &duties.transfers_expired {
        println!("    transfer {transfer} expired: the seller's allowances are back");
    }
    for w in &duties.written_off {
        println!(
            "    written off: {} t of {} (valid to {}) from {} holders, journal entry {}",
            w.amount, w.instrument, w.valid_to, w.holders, w.entry
        );
    }
    for failed in &duties.failed {
        println!("    duty failed: {failed}");
    }
}
