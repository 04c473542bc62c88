//! Durable orders per second through the market's command log (`exchange::DurableMarket`): each
//! durable step is one ledger request carrying the orders' commands in its memo and all their
//! settlements as its actions (`market/<n>`), so group commit is one journal entry per batch.
//! Same ledger setup and order stream as [`crate::durable`]; the projection catches up with the
//! journal before every batch (one read that finds nothing new).

use crate::durable::{ENTERPRISES, Row, enterprise, fresh_pg, orders, seed};
use chrono::{Duration, Utc};
use exchange::DurableMarket;
use exchange::durable::{MarketCommand, MarketInit};
use ledger::{Ledger, LedgerOptions, Party};
use market::{
    AccountId, InstrumentId, InstrumentSpec, OrderRequest, SelfTradePrevention, Timestamp,
};
use std::time::Instant;

pub const RIGHTS: InstrumentId = InstrumentId(1);

pub async fn open(url: &str) -> Result<DurableMarket, Box<dyn std::error::Error>> {
    let ledger = Ledger::open(url, LedgerOptions::default()).await?;
    seed(&ledger).await?;
    let init = MarketInit {
        namespace: "bench".into(),
        cash_instrument: "CNY".into(),
        self_trade: SelfTradePrevention::CancelResting,
        trading_day_end: Utc::now() + Duration::days(1),
        transfer_grace: Duration::hours(1),
    };
    let mut market = DurableMarket::open(ledger, init).await?;
    let mut spec = InstrumentSpec::new(RIGHTS, 1, 1)?;
    spec.orders_max = 4_000_000;
    let mut setup = vec![
        MarketCommand::MapAccount {
            account: AccountId(0),
            party: Party::Reserve,
        },
        MarketCommand::MapInstrument {
            instrument: RIGHTS,
            code: crate::durable::COD.into(),
        },
    ];
    for n in 1..=ENTERPRISES {
        setup.push(MarketCommand::MapAccount {
            account: AccountId(n),
            party: Party::Enterprise(enterprise(n)),
        });
    }
    setup.push(MarketCommand::ListInstrument {
        spec,
        previous_close_ticks: crate::durable::CLOSE_TICKS,
    });
    for outcome in market.execute(&setup).await? {
        outcome?;
    }
    Ok(market)
}

async fn run_batches(
    market: &mut DurableMarket,
    stream: &[OrderRequest],
    batch: usize,
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let before = market.entries_written();
    let now = Timestamp(Utc::now().timestamp_millis());
    let started = Instant::now();
    for chunk in stream.chunks(batch) {
        let commands: Vec<MarketCommand> = chunk
            .iter()
            .map(|&request| MarketCommand::SubmitOrder {
                instrument: RIGHTS,
                request,
                now,
            })
            .collect();
        for outcome in market.execute(&commands).await? {
            outcome?;
        }
    }
    Ok((
        market.entries_written() - before,
        started.elapsed().as_secs_f64(),
    ))
}

pub async fn measure(
    backend: &'static str,
    url: &str,
    batch: usize,
    n: usize,
) -> Result<Row, Box<dyn std::error::Error>> {
    let mut market = open(url).await?;
    let stream = orders(n, 0x0d0e_5eed);
    let server = postmaster(url).await;
    let server_before = server.map_or(0.0, server_cpu_seconds);
    let stats_before = market.ledger().writer_stats();
    let cpu_before = bench_support::cpu_seconds(None);
    let (entries, seconds) = run_batches(&mut market, &stream, batch).await?;
    let cpu = bench_support::cpu_seconds(None) - cpu_before;
    let server_cpu = server.map(|pid| server_cpu_seconds(pid) - server_before);
    let stats = market.ledger().writer_stats();
    eprintln!(
        "  writer: {} batches, read {:.2} s, apply {:.2} s, wait {:.2} s, write {:.2} s, commit {:.2} s; process CPU {:.2} s{}",
        stats.batches - stats_before.batches,
        (stats.read - stats_before.read).as_secs_f64(),
        (stats.apply - stats_before.apply).as_secs_f64(),
        (stats.wait - stats_before.wait).as_secs_f64(),
        (stats.write - stats_before.write).as_secs_f64(),
        (stats.commit - stats_before.commit).as_secs_f64(),
        cpu,
        server_cpu.map_or(String::new(), |s| format!(
            ", PostgreSQL server CPU {s:.2} s"
        )),
    );
    let report = ledger::verify(market.ledger().store()).await?;
    if !report.is_ok() {
        return Err(format!("{backend}: verify failed: {:?}", report.problems).into());
    }
    // The projection a fresh process rebuilds from the journal equals the live one.
    let ledger = Ledger::open(url, LedgerOptions::default()).await?;
    let replayed = DurableMarket::open_existing(ledger).await?;
    if replayed.digest() != market.digest() {
        return Err(format!("{backend}: the replayed projection differs").into());
    }
    let mode = if batch == 1 {
        "market log, one at a time".to_owned()
    } else {
        format!("market log, group commit, {batch} orders")
    };
    eprintln!(
        "{backend} {mode}: {n} orders, {entries} journal entries in {seconds:.2} s ({:.0} orders/s); verified, replayed",
        n as f64 / seconds
    );
    Ok(Row {
        backend,
        mode,
        orders: n,
        requests: entries,
        seconds,
    })
}

/// One at a time and group commit through the command log, on SQLite and (when configured)
/// PostgreSQL; a fresh database per row.
pub fn run(quick: bool) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let single_n = if quick { 1_000 } else { 5_000 };
        let grouped_n = if quick { 20_000 } else { 200_000 };
        let dir = tempfile::tempdir()?;
        // `--batches=256,2048` runs only those rows (1 = one at a time); `--postgres-only`
        // skips SQLite. For profiling one backend or one size.
        let modes: Vec<usize> = std::env::args()
            .find_map(|a| a.strip_prefix("--batches=").map(str::to_owned))
            .map(|list| list.split(',').filter_map(|b| b.parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 256, 2_048, 8_192]);
        let sqlite = !std::env::args().any(|a| a == "--postgres-only");
        let mut rows = Vec::new();
        for (i, &batch) in modes.iter().enumerate().filter(|_| sqlite) {
            let url = format!("sqlite://{}", dir.path().join(format!("m{i}.db")).display());
            let n = if batch == 1 { single_n } else { grouped_n };
            rows.push(measure("SQLite", &url, batch, n).await?);
        }
        if let Ok(admin) = std::env::var("ETS_TEST_PG_URL") {
            for (i, &batch) in modes.iter().enumerate() {
                let url = fresh_pg(&admin, 100 + i).await?;
                let n = if batch == 1 { single_n } else { grouped_n };
                rows.push(measure("PostgreSQL", &url, batch, n).await?);
            }
        }
        Ok(rows)
    })
}

/// The PostgreSQL postmaster behind `url`, when it runs on this machine.
async fn postmaster(url: &str) -> Option<u32> {
    use sqlx::Connection;
    if !url.starts_with("postgres") {
        return None;
    }
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    bench_support::parent(u32::try_from(pid).ok()?)
}

/// CPU seconds of the postmaster and every live child (the backends, the WAL writer…); a
/// backend that exits in between is not counted.
fn server_cpu_seconds(postmaster: u32) -> f64 {
    let mut total = bench_support::cpu_seconds(Some(postmaster));
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                && bench_support::parent(pid) == Some(postmaster)
            {
                total += bench_support::cpu_seconds(Some(pid));
            }
        }
    }
    total
}
