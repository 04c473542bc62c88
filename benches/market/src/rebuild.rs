//! Rebuild after a lost race with a large journal (`--rebuild`): one process (`a`) logs N
//! resting orders through the durable market (group commit, 500 orders per entry), a second
//! one commits an order behind its back, and `a` submits blind
//! (`execute_without_catching_up`): its key is taken, so it rebuilds its projection and
//! retries. Timed: that whole call (rebuild + retry commit), in three modes, on the same
//! journal and handle, alternating:
//!
//! * full replay: no checkpoint (`set_checkpoint_every(0)`), the rebuild replays the journal
//!   from the beginning, as before checkpoints;
//! * checkpoint (policy): the checkpoint the default policy left while `a` logged the orders
//!   (one sample, the first rebuild after logging);
//! * checkpoint 50 entries back: `a` checkpoints, then `b` logs 50 entries of 500
//!   immediate-or-cancel orders that do not cross (each places and voids a hold, so the book
//!   keeps its size), about the tail the default policy allows at 100k resting orders
//!   (a quarter of the open holds);
//! * checkpoint 1 entry back.
//!
//! Also timed: one checkpoint (deep copy of the projection) and a fresh process's start (full
//! replay of the journal). Wall clock and process CPU time (`/proc/self/stat`, 10 ms ticks;
//! PostgreSQL's own CPU is not in it).

use crate::durable::{CLOSE_TICKS, ENTERPRISES, fresh_pg};
use crate::log::{RIGHTS, open};
use chrono::Utc;
use exchange::DurableMarket;
use exchange::durable::{CHECKPOINT_EVERY, MarketCommand};
use ledger::{Ledger, LedgerOptions};
use market::{AccountId, OrderPrice, OrderRequest, Side, TimeInForce, Timestamp};
use std::time::Instant;

const BATCH: usize = 500;
const REPEATS: usize = 3;
const LAG_ENTRIES: usize = 50;

pub struct RebuildRow {
    pub backend: &'static str,
    pub what: String,
    pub from_entry: Option<u64>,
    pub entries_replayed: Option<u64>,
    pub wall_ms: f64,
    pub cpu_ms: f64,
}

/// Orders that never cross: buys below the close, sells above it, 1 lot each.
fn resting(count: usize) -> Vec<OrderRequest> {
    (0..count)
        .map(|i| {
            let side = if i.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            };
            let offset = 1 + (i as u64 * 7919) % 400;
            OrderRequest {
                owner: AccountId(1 + (i as u64 % ENTERPRISES)),
                side,
                price: OrderPrice::Limit {
                    price_ticks: match side {
                        Side::Buy => CLOSE_TICKS - offset,
                        Side::Sell => CLOSE_TICKS + offset,
                    },
                },
                lots: 1,
                time_in_force: TimeInForce::Day,
            }
        })
        .collect()
}

struct Clock(Instant, f64);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), bench_support::cpu_seconds(None) * 1e3)
    }
    fn stop(&self) -> (f64, f64) {
        (
            self.0.elapsed().as_secs_f64() * 1e3,
            bench_support::cpu_seconds(None) * 1e3 - self.1,
        )
    }
}

fn order(request: OrderRequest, now: Timestamp) -> MarketCommand {
    MarketCommand::SubmitOrder {
        instrument: RIGHTS,
        request,
        now,
    }
}

/// `b` commits an order, then `a` submits blind and loses the race: returns the time of `a`'s
/// call and its rebuild.
async fn lost_race(
    a: &mut DurableMarket,
    b: &mut DurableMarket,
    k: u64,
) -> Result<(f64, f64, exchange::durable::RebuildStats), Box<dyn std::error::Error>> {
    let now = Timestamp(Utc::now().timestamp_millis());
    let far = |side, n: u64| OrderRequest {
        owner: AccountId(1 + n % ENTERPRISES),
        side,
        price: OrderPrice::Limit {
            price_ticks: match side {
                Side::Buy => CLOSE_TICKS - 900 - n % 50,
                _ => CLOSE_TICKS + 900 + n % 50,
            },
        },
        lots: 1,
        time_in_force: TimeInForce::Day,
    };
    for outcome in b.execute(&[order(far(Side::Buy, k), now)]).await? {
        outcome?;
    }
    let rebuilds = a.rebuilds();
    let clock = Clock::start();
    for outcome in a
        .execute_without_catching_up(&[order(far(Side::Sell, k), now)])
        .await?
    {
        outcome?;
    }
    let (wall, cpu) = clock.stop();
    if a.rebuilds() != rebuilds + 1 {
        return Err("the blind write did not lose the race".into());
    }
    let stats = a.replay_stats().last_rebuild.ok_or("no rebuild recorded")?;
    Ok((wall, cpu, stats))
}

pub async fn measure(
    backend: &'static str,
    url: &str,
    n: usize,
) -> Result<Vec<RebuildRow>, Box<dyn std::error::Error>> {
    let mut a = open(url).await?;
    let now = Timestamp(Utc::now().timestamp_millis());
    let log_clock = Clock::start();
    for chunk in resting(n).chunks(BATCH) {
        let commands: Vec<MarketCommand> = chunk.iter().map(|&r| order(r, now)).collect();
        for outcome in a.execute(&commands).await? {
            outcome?;
        }
    }
    let (log_wall, _) = log_clock.stop();
    a.refresh().await?;
    let live = a.market().book(RIGHTS)?.resting_orders(Side::Buy).len()
        + a.market().book(RIGHTS)?.resting_orders(Side::Sell).len();
    let journal = format!(
        "{} entries, {} orders logged, {live} resting",
        a.cursor(),
        a.commands_logged()
    );
    eprintln!(
        "{backend}: logged {n} orders in {log_wall:.0} ms ({} checkpoints on the way); {journal}",
        a.replay_stats().checkpoints_taken
    );
    let mut rows = Vec::new();
    // A fresh process: full replay.
    let clock = Clock::start();
    let mut b =
        DurableMarket::open_existing(Ledger::open(url, LedgerOptions::default()).await?).await?;
    let (wall, cpu) = clock.stop();
    rows.push(RebuildRow {
        backend,
        what: format!("process start (full replay); {journal}"),
        from_entry: Some(0),
        entries_replayed: Some(b.replay_stats().entries_replayed),
        wall_ms: wall,
        cpu_ms: cpu,
    });
    // The checkpoint the policy left while logging.
    let policy_at = a.checkpoint_cursor();
    let (wall, cpu, stats) = lost_race(&mut a, &mut b, 0).await?;
    if Some(stats.from_entry) != policy_at {
        return Err(format!("rebuilt from {} not {policy_at:?}", stats.from_entry).into());
    }
    rows.push(RebuildRow {
        backend,
        what: "lost race, checkpoint left by the default policy".into(),
        from_entry: Some(stats.from_entry),
        entries_replayed: Some(stats.entries_replayed),
        wall_ms: wall,
        cpu_ms: cpu,
    });
    let mut full = (f64::MAX, f64::MAX, None);
    let mut recent = (f64::MAX, f64::MAX, None);
    let mut lagging = (f64::MAX, f64::MAX, None);
    let mut copy = (f64::MAX, f64::MAX);
    for k in 0..REPEATS as u64 {
        a.set_checkpoint_every(0);
        let (wall, cpu, stats) = lost_race(&mut a, &mut b, 1 + 2 * k).await?;
        if wall < full.0 {
            full = (wall, cpu, Some(stats));
        }
        a.set_checkpoint_every(CHECKPOINT_EVERY);
        let clock = Clock::start();
        a.checkpoint_now().await?;
        let (wall, cpu) = clock.stop();
        if wall < copy.0 {
            copy = (wall, cpu);
        }
        let (wall, cpu, stats) = lost_race(&mut a, &mut b, 2 + 2 * k).await?;
        if wall < recent.0 {
            recent = (wall, cpu, Some(stats));
        }
        a.checkpoint_now().await?;
        for entry in 0..LAG_ENTRIES {
            let commands: Vec<MarketCommand> = (0..BATCH)
                .map(|i| {
                    let n = (entry * BATCH + i) as u64;
                    let side = if n.is_multiple_of(2) {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    order(
                        OrderRequest {
                            owner: AccountId(1 + n % ENTERPRISES),
                            side,
                            price: OrderPrice::Limit {
                                price_ticks: match side {
                                    Side::Buy => CLOSE_TICKS - 500,
                                    _ => CLOSE_TICKS + 500,
                                },
                            },
                            lots: 1,
                            time_in_force: TimeInForce::ImmediateOrCancel,
                        },
                        now,
                    )
                })
                .collect();
            for outcome in b.execute(&commands).await? {
                outcome?;
            }
        }
        let (wall, cpu, stats) = lost_race(&mut a, &mut b, 100 + k).await?;
        if wall < lagging.0 {
            lagging = (wall, cpu, Some(stats));
        }
    }
    for (what, (wall, cpu, stats)) in [
        ("lost race, no checkpoint (full replay, as before)", full),
        ("lost race, checkpoint 1 entry back", recent),
        (
            "lost race, checkpoint 51 entries (25,000 orders) back",
            lagging,
        ),
    ] {
        rows.push(RebuildRow {
            backend,
            what: format!("{what}, best of {REPEATS}"),
            from_entry: stats.map(|s| s.from_entry),
            entries_replayed: stats.map(|s| s.entries_replayed),
            wall_ms: wall,
            cpu_ms: cpu,
        });
    }
    rows.push(RebuildRow {
        backend,
        what: format!("one checkpoint (deep copy, {live} resting orders), best of {REPEATS}"),
        from_entry: None,
        entries_replayed: None,
        wall_ms: copy.0,
        cpu_ms: copy.1,
    });
    a.refresh().await?;
    b.refresh().await?;
    if a.digest() != b.digest() {
        return Err(format!("{backend}: the two projections differ").into());
    }
    a.verify_projection().await?;
    Ok(rows)
}

pub fn run(quick: bool) -> Result<Vec<RebuildRow>, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let n = if quick { 10_000 } else { 100_000 };
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("rebuild.db").display());
        let mut rows = measure("SQLite", &url, n).await?;
        if let Ok(admin) = std::env::var("ETS_TEST_PG_URL") {
            let url = fresh_pg(&admin, 200).await?;
            rows.extend(measure("PostgreSQL", &url, n).await?);
        }
        Ok(rows)
    })
}
