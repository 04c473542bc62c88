//! Durable orders per second through the ledger: the market engine with the settlement bridge
//! (`exchange::LedgerMarket`) on a real ledger, SQLite (temp file) and PostgreSQL (a fresh database
//! on `ETS_TEST_PG_URL`, e.g. under `scripts/with-postgres`).
//!
//! An order counts when the command returned and every ledger request it caused (its hold, each
//! trade's delivery-versus-payment, the release of an IOC remainder) is committed. Two modes:
//!
//! * one at a time: `submit_order` per order, each awaited (one or more commits per order);
//! * group commit: `execute_batch` of B orders: the engine runs them in order against the
//!   write-through balance view, then all their requests go to the ledger in one `submit_many`,
//!   which its writer commits in one transaction (up to its `batch_max`, 8,192 requests);
//! * pipelined: `execute_pipelined` of 2,048-order batches with 2 in flight: the engine runs
//!   the next batch while the ledger commits the previous one.

use chrono::{Duration, Utc};
use exchange::{HoldHorizons, LedgerMapping, LedgerMarket, OrderCommand};
use ledger::enterprise::CreditCode;
use ledger::{Action, Ledger, LedgerOptions, Party, Quantity, Request};
use market::{
    AccountId, AccountRules, InstrumentId, InstrumentSpec, Market, OrderPrice, OrderRequest,
    SelfTradePrevention, Side, TimeInForce, Timestamp,
};
use rust_decimal::Decimal;
use std::time::Instant;

const RIGHTS: InstrumentId = InstrumentId(1);
pub const COD: &str = "COD.bench.2025";
pub const CLOSE_TICKS: u64 = 10_000;
pub const ENTERPRISES: u64 = 16;
/// The mode marker for pipelined group commit (2,048-order batches, 2 in flight).
const PIPELINED: usize = usize::MAX;

/// One row of the results table.
pub struct Row {
    pub backend: &'static str,
    pub mode: String,
    pub orders: usize,
    pub requests: u64,
    pub seconds: f64,
}

impl Row {
    pub fn orders_per_s(&self) -> f64 {
        self.orders as f64 / self.seconds
    }
}

/// Deterministic stream: limit orders around the close (about a third cross), 1–5 lots,
/// rotating owners; no cancels (a cancel is one void, cheaper than an order).
pub fn orders(count: usize, seed: u64) -> Vec<OrderRequest> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let r = next();
            let side = if r & 1 == 0 { Side::Buy } else { Side::Sell };
            let offset = (r >> 8) % 60;
            let price_ticks = match side {
                Side::Buy => CLOSE_TICKS + 20 - offset,
                Side::Sell => CLOSE_TICKS - 20 + offset,
            };
            OrderRequest {
                owner: AccountId(1 + (i as u64 % ENTERPRISES)),
                side,
                price: OrderPrice::Limit { price_ticks },
                lots: 1 + (r >> 20) % 5,
                time_in_force: TimeInForce::Day,
            }
        })
        .collect()
}

pub fn enterprise(n: u64) -> String {
    CreditCode::from_parts("91", "500103", &format!("MB7Q{n:04}"))
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default()
}

/// Defines the instrument and cash, registers and funds the enterprises.
pub async fn seed(ledger: &Ledger) -> Result<(), Box<dyn std::error::Error>> {
    let mut actions: Vec<Action> = serde_json::from_value(serde_json::json!([
        {"type": "define_region", "region": {"code": "bench-basin", "name": "Bench basin", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": COD, "kind": "discharge_right", "pollutant": "COD",
         "region": "bench-basin", "valid_from": "2025-01-01", "valid_to": "2029-12-31", "scale": 3, "unit": "t/a"}},
        {"type": "define_instrument", "instrument": {"code": "CNY", "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"}},
    ]))?;
    for n in 1..=ENTERPRISES {
        let code = enterprise(n);
        actions.push(Action::RegisterEnterprise {
            enterprise: serde_json::from_value(serde_json::json!({
                "credit_code": code, "name": format!("Bench {n}"), "district": "500103",
                "industry_codes": ["3961"], "declared_tags": [], "credit_grade": "good",
                "zoning": "general", "distance_to_river_m": 4200, "permit_number": format!("{code}001P"),
            }))?,
        });
        actions.push(Action::Issue {
            instrument: COD.into(),
            to: Party::Enterprise(code.clone()),
            amount: Quantity(Decimal::from(100_000_000_u64)),
        });
        actions.push(Action::Deposit {
            instrument: "CNY".into(),
            enterprise: code.clone(),
            amount: Quantity(Decimal::from(100_000_000_000_u64)),
        });
    }
    ledger
        .submit(Request {
            idempotency_key: "bench-setup".into(),
            actor: "bench".into(),
            memo: None,
            actions,
        })
        .await?;
    Ok(())
}

async fn setup(url: &str) -> Result<LedgerMarket, Box<dyn std::error::Error>> {
    let start = Utc::now();
    let ledger = Ledger::open(url, LedgerOptions::default()).await?;
    seed(&ledger).await?;
    let mut mapping = LedgerMapping::new("bench", "market", "CNY")?;
    mapping.map_account(AccountId(0), Party::Reserve)?;
    mapping.map_instrument(RIGHTS, COD)?;
    for n in 1..=ENTERPRISES {
        mapping.map_account(AccountId(n), Party::Enterprise(enterprise(n)))?;
    }
    let mut market = Market::new(AccountRules::default(), SelfTradePrevention::CancelResting);
    let mut spec = InstrumentSpec::new(RIGHTS, 1, 1)?;
    spec.orders_max = 4_000_000;
    market.list_instrument(spec, CLOSE_TICKS)?;
    let horizons = HoldHorizons {
        trading_day_end: start + Duration::days(1),
        transfer_grace: Duration::hours(1),
    };
    Ok(LedgerMarket::open(market, ledger, mapping, horizons).await?)
}

async fn one_at_a_time(
    bridge: &mut LedgerMarket,
    stream: &[OrderRequest],
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let before = bridge.requests_posted();
    let now = Timestamp(Utc::now().timestamp_millis());
    let started = Instant::now();
    for order in stream {
        bridge.submit_order(RIGHTS, order, now).await?;
    }
    Ok((
        bridge.requests_posted() - before,
        started.elapsed().as_secs_f64(),
    ))
}

async fn grouped(
    bridge: &mut LedgerMarket,
    stream: &[OrderRequest],
    batch: usize,
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let before = bridge.requests_posted();
    let now = Timestamp(Utc::now().timestamp_millis());
    let started = Instant::now();
    for chunk in stream.chunks(batch) {
        let commands: Vec<OrderCommand> = chunk
            .iter()
            .map(|&request| OrderCommand::Submit {
                instrument: RIGHTS,
                request,
                now,
            })
            .collect();
        for outcome in bridge.execute_batch(&commands).await? {
            outcome?;
        }
    }
    Ok((
        bridge.requests_posted() - before,
        started.elapsed().as_secs_f64(),
    ))
}

async fn pipelined(
    bridge: &mut LedgerMarket,
    stream: &[OrderRequest],
    batch: usize,
    depth: usize,
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let before = bridge.requests_posted();
    let now = Timestamp(Utc::now().timestamp_millis());
    let started = Instant::now();
    let batches: Vec<Vec<OrderCommand>> = stream
        .chunks(batch)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&request| OrderCommand::Submit {
                    instrument: RIGHTS,
                    request,
                    now,
                })
                .collect()
        })
        .collect();
    for outcomes in bridge.execute_pipelined(&batches, depth).await? {
        for outcome in outcomes {
            outcome?;
        }
    }
    Ok((
        bridge.requests_posted() - before,
        started.elapsed().as_secs_f64(),
    ))
}

/// Runs both modes on SQLite and, when configured, PostgreSQL; each mode on a fresh ledger.
pub fn run(quick: bool) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let single_n = if quick { 1_000 } else { 5_000 };
        let grouped_n = if quick { 20_000 } else { 200_000 };
        let dir = tempfile::tempdir()?;
        let modes: [(&str, usize); 5] = [
            ("one at a time", 1),
            ("group commit, 256 orders", 256),
            ("group commit, 2,048 orders", 2_048),
            ("group commit, 8,192 orders", 8_192),
            ("pipelined, 2,048 orders × 2 in flight", PIPELINED),
        ];
        let mut rows = Vec::new();
        for (i, &(mode, batch)) in modes.iter().enumerate() {
            let url = format!("sqlite://{}", dir.path().join(format!("l{i}.db")).display());
            rows.push(measure("SQLite", &url, mode, batch, single_n, grouped_n).await?);
        }
        if let Ok(admin) = std::env::var("ETS_TEST_PG_URL") {
            for (i, &(mode, batch)) in modes.iter().enumerate() {
                let url = fresh_pg(&admin, i).await?;
                rows.push(measure("PostgreSQL", &url, mode, batch, single_n, grouped_n).await?);
            }
        }
        Ok(rows)
    })
}

pub async fn fresh_pg(admin: &str, i: usize) -> Result<String, Box<dyn std::error::Error>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    let name = format!("ets_bench_market_{}_{i}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

async fn measure(
    backend: &'static str,
    url: &str,
    mode: &str,
    batch: usize,
    single_n: usize,
    grouped_n: usize,
) -> Result<Row, Box<dyn std::error::Error>> {
    let mut bridge = setup(url).await?;
    let n = if batch == 1 { single_n } else { grouped_n };
    let stream = orders(n, 0x0d0e_5eed);
    let (requests, seconds) = if batch == 1 {
        one_at_a_time(&mut bridge, &stream).await?
    } else if batch == PIPELINED {
        pipelined(&mut bridge, &stream, 2_048, 2).await?
    } else {
        grouped(&mut bridge, &stream, batch).await?
    };
    let report = ledger::verify(bridge.ledger().store()).await?;
    if !report.is_ok() {
        return Err(format!("{backend}: verify failed: {:?}", report.problems).into());
    }
    eprintln!(
        "{backend} {mode}: {n} orders, {requests} ledger requests in {seconds:.2} s ({:.0} orders/s); verified",
        n as f64 / seconds
    );
    Ok(Row {
        backend,
        mode: mode.to_owned(),
        orders: n,
        requests,
        seconds,
    })
}
