//! bench-market: the market engine against simple baselines, in the same process and run.
//!
//! * Mixed add / cancel / market-order stream at 1k and 100k live orders: the engine's dense
//!   tick ladder (with balance checks and settlement output, `Unlimited` balances) against a
//!   `BTreeMap<price, VecDeque>` book. Mean ns/op from passes without per-op timing, best of
//!   7 alternating runs, as wall-clock time and as time on a CPU (`/proc/thread-self/schedstat`,
//!   which leaves out the time other tenants of the shared VM ran; tick granularity, so only
//!   meaningful for runs of 100 ms and more); p50/p99/p99.9 from a further pass timing each
//!   operation with `Instant::now()` (adds ~20-40 ns per op).
//! * Sealed-bid clearing of 100k and 1M bids: counting-sort clearing with caps and the seeded
//!   pro-rata tie-break against a plain sort-then-walk.
//!
//! * `--log`: durable orders per second through the market's command log
//!   (`exchange::DurableMarket`: one journal entry per batch); see [`log`].
//! * `--durable`: durable orders per second through the ledger (SQLite, and PostgreSQL when
//!   `ETS_TEST_PG_URL` is set, e.g. under `scripts/with-postgres`), one at a time and with group
//!   commit; see [`durable`].
//!
//! * `--rebuild`: rebuild of the durable market's projection after a lost race with a large
//!   journal (100k resting orders), full replay against the checkpoint; see [`rebuild`].
//!
//! `--quick` runs a tenth of the operations.

mod baseline;
mod durable;
mod log;
mod rebuild;
mod workload;

use market::auction::{ClearingRules, Pricing, UndersubscribedPolicy, clear};
use market::{AccountId, AccountRules, Book, SelfTradePrevention, Timestamp, Unlimited};
use std::hint::black_box;
use std::time::{Duration, Instant};
use workload::{CLOSE_TICKS, Op, Workload};

const REPEATS: usize = 7;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let log = std::env::args().any(|a| a == "--log");
    if std::env::args().any(|a| a == "--rebuild") {
        match rebuild::run(quick) {
            Ok(rows) => {
                println!(
                    "| backend | what | from entry | entries replayed | wall ms | process CPU ms |"
                );
                println!("|---|---|---|---|---|---|");
                let opt = |v: Option<u64>| v.map_or("–".to_owned(), |v| v.to_string());
                for r in rows {
                    println!(
                        "| {} | {} | {} | {} | {:.1} | {:.0} |",
                        r.backend,
                        r.what,
                        opt(r.from_entry),
                        opt(r.entries_replayed),
                        r.wall_ms,
                        r.cpu_ms
                    );
                }
            }
            Err(error) => {
                eprintln!("bench-market --rebuild: {error}");
                std::process::exit(1);
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "--durable") || log {
        let rows = if log {
            log::run(quick)
        } else {
            durable::run(quick)
        };
        match rows {
            Ok(rows) => {
                println!(
                    "| backend | mode | orders | ledger requests | seconds | durable orders/s |"
                );
                println!("|---|---|---|---|---|---|");
                for r in rows {
                    println!(
                        "| {} | {} | {} | {} | {:.2} | {:.0} |",
                        r.backend,
                        r.mode,
                        r.orders,
                        r.requests,
                        r.seconds,
                        r.orders_per_s()
                    );
                }
            }
            Err(error) => {
                eprintln!("bench-market --durable: {error}");
                std::process::exit(1);
            }
        }
        return;
    }
    let ops = if quick { 300_000 } else { 3_000_000 };
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (live, spread) in [(1_000, 300), (100_000, 3_000)] {
        let w = workload::mixed(live, ops, spread, 0x5eed + live as u64);
        eprintln!(
            "{} live: {} ops ({} limit, {} cancel, {} market)",
            live,
            w.ops.len(),
            w.adds,
            w.cancels,
            w.markets
        );
        let ((engine, engine_lots), (base, base_lots)) =
            best_of_alternating(|| engine_run(&w, None), || baseline_run(&w, None));
        assert_eq!(
            engine_lots, base_lots,
            "both books must make the same trades"
        );
        let n = w.ops.len() as f64;
        for (clock, e, b) in [
            ("wall clock", engine.wall, base.wall),
            ("on CPU", engine.cpu, base.cpu),
        ] {
            let (e_ops, b_ops) = (n / e.as_secs_f64(), n / b.as_secs_f64());
            rows.push([
                format!("mixed ops/s, {live} live orders ({clock})"),
                format!("{:.2} M/s ({:.0} ns/op)", e_ops / 1e6, 1e9 / e_ops),
                format!("{:.2} M/s ({:.0} ns/op)", b_ops / 1e6, 1e9 / b_ops),
                format!("{:.2}×", e_ops / b_ops),
            ]);
        }
        // Pre-touched so page faults of the sample buffers do not show up as latency.
        let mut engine_lat = vec![0_u32; w.ops.len()];
        engine_run(&w, Some(&mut engine_lat));
        let mut base_lat = vec![0_u32; w.ops.len()];
        baseline_run(&w, Some(&mut base_lat));
        for (label, q) in [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)] {
            let (e, b) = (percentile(&mut engine_lat, q), percentile(&mut base_lat, q));
            rows.push([
                format!("{label} per op, {live} live orders"),
                format!("{e} ns"),
                format!("{b} ns"),
                format!("{:.2}×", b as f64 / e.max(1) as f64),
            ]);
        }
    }
    for count in [100_000, 1_000_000] {
        rows.push(clearing_row(count));
    }
    println!("| metric | engine | baseline | engine advantage |");
    println!("|---|---|---|---|");
    for [a, b, c, d] in rows {
        println!("| {a} | {b} | {c} | {d} |");
    }
}

/// Fastest of `REPEATS` runs of each, alternating so both see the same machine load.
fn best_of_alternating(
    mut engine: impl FnMut() -> (Timing, u64),
    mut baseline: impl FnMut() -> (Timing, u64),
) -> ((Timing, u64), (Timing, u64)) {
    let mut best = ((Timing::MAX, 0), (Timing::MAX, 0));
    for _ in 0..REPEATS {
        let e = engine();
        best.0 = (best.0.0.min(e.0), e.1);
        let b = baseline();
        best.1 = (best.1.0.min(b.0), b.1);
    }
    best
}

/// Wall-clock time and time actually on a CPU (from `/proc/thread-self/schedstat`, ns): on a
/// shared VM the difference is time the thread waited while other tenants ran.
#[derive(Clone, Copy, Debug)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl Timing {
    const MAX: Timing = Timing {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };

    /// Element-wise minimum: the least disturbed of several runs.
    fn min(self, other: Timing) -> Timing {
        Timing {
            wall: self.wall.min(other.wall),
            cpu: self.cpu.min(other.cpu),
        }
    }
}

struct Stopwatch {
    wall: Instant,
    cpu_ns: u64,
}

impl Stopwatch {
    fn start() -> Self {
        Stopwatch {
            cpu_ns: on_cpu_ns(),
            wall: Instant::now(),
        }
    }

    fn stop(&self) -> Timing {
        let wall = self.wall.elapsed();
        let cpu = Duration::from_nanos(on_cpu_ns().saturating_sub(self.cpu_ns));
        // Without schedstat (not Linux), report wall time for both.
        Timing {
            wall,
            cpu: if cpu.is_zero() { wall } else { cpu },
        }
    }
}

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn engine_run(w: &Workload, mut latencies: Option<&mut [u32]>) -> (Timing, u64) {
    let mut book = Book::new(
        workload::spec(),
        CLOSE_TICKS,
        SelfTradePrevention::CancelResting,
    )
    .expect("valid book");
    let rules = AccountRules::default();
    let mut out = Vec::with_capacity(1_024);
    for op in &w.prefill {
        engine_op(&mut book, &rules, op, &mut out);
    }
    let prefill_lots = book.daily().volume_lots;
    let watch = Stopwatch::start();
    for (i, op) in w.ops.iter().enumerate() {
        let before = latencies.is_some().then(Instant::now);
        engine_op(&mut book, &rules, op, &mut out);
        if let (Some(lat), Some(before)) = (latencies.as_deref_mut(), before) {
            lat[i] = before.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
        }
        if i % 4_096 == 0 {
            book.discard_trades_through(u64::MAX);
        }
    }
    let elapsed = watch.stop();
    (elapsed, book.daily().volume_lots - prefill_lots)
}

fn engine_op(book: &mut Book, rules: &AccountRules, op: &Op, out: &mut Vec<market::Settlement>) {
    match *op {
        Op::Cancel { add, order } => {
            let result = book.cancel(order, AccountId(u64::from(add)), out);
            debug_assert!(result.is_ok());
            black_box(result.is_ok());
        }
        Op::Add { .. } => {
            let request = workload::request(op).expect("an add");
            let ack = book
                .submit(&request, &Unlimited, rules, Timestamp(0), out)
                .expect("valid order");
            black_box(ack.order);
        }
    }
    out.clear();
}

fn baseline_run(w: &Workload, mut latencies: Option<&mut [u32]>) -> (Timing, u64) {
    let mut book = baseline::BTreeBook::default();
    let mut next_id = 0_u64;
    let mut traded = 0_u64;
    for op in &w.prefill {
        baseline_op(&mut book, op, &mut next_id);
    }
    book.trades.clear();
    let watch = Stopwatch::start();
    for (i, op) in w.ops.iter().enumerate() {
        let before = latencies.is_some().then(Instant::now);
        baseline_op(&mut book, op, &mut next_id);
        if let (Some(lat), Some(before)) = (latencies.as_deref_mut(), before) {
            lat[i] = before.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
        }
        if i % 4_096 == 0 {
            traded += book.trades.iter().map(|t| t.2).sum::<u64>();
            book.trades.clear();
        }
    }
    let elapsed = watch.stop();
    traded += book.trades.iter().map(|t| t.2).sum::<u64>();
    (elapsed, traded)
}

fn baseline_op(book: &mut baseline::BTreeBook, op: &Op, next_id: &mut u64) {
    match *op {
        Op::Cancel { add, .. } => {
            black_box(book.cancel(u64::from(add)));
        }
        Op::Add {
            side,
            price_ticks,
            lots,
            ..
        } => {
            book.submit(*next_id, side, price_ticks, lots);
            *next_id += 1;
        }
    }
}

fn percentile(samples: &mut [u32], q: f64) -> u32 {
    samples.sort_unstable();
    let k = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[k]
}

fn clearing_row(count: usize) -> [String; 4] {
    let bidders = 10_000_u32;
    let reserve = 1_000;
    let bids = workload::sealed_bids(count, bidders, reserve, 7);
    let demand: u64 = bids.iter().map(|b| b.lots).sum();
    let volume = demand * 3 / 10;
    let rules = ClearingRules {
        volume_lots: volume,
        reserve_price_ticks: reserve,
        bidder_cap_lots: volume / 4,
        containment: None,
        pricing: Pricing::Uniform,
        undersubscribed: UndersubscribedPolicy::SellAvailable,
    };
    let mut engine_price = 0;
    let mut base_price = 0;
    let ((engine, _), (base, _)) = best_of_alternating(
        || {
            let watch = Stopwatch::start();
            let result = clear(&rules, &bids, bidders as usize, [9; 32]);
            let elapsed = watch.stop();
            if let market::auction::Clearing::Cleared(r) = black_box(result) {
                engine_price = r.clearing_price_ticks;
            }
            (elapsed, 0)
        },
        || {
            let watch = Stopwatch::start();
            let (price, _) = black_box(baseline::sort_clear(
                &bids,
                bidders as usize,
                volume,
                volume / 4,
                9,
            ));
            base_price = price;
            (watch.stop(), 0)
        },
    );
    assert_eq!(engine_price, base_price, "same clearing price");
    [
        format!("clear {count} sealed bids (uniform, 25% cap; wall / on CPU)"),
        format!("{:.1} / {:.1} ms", ms(engine.wall), ms(engine.cpu)),
        format!("{:.1} / {:.1} ms", ms(base.wall), ms(base.cpu)),
        format!(
            "{:.2}×",
            base.wall.as_secs_f64() / engine.wall.as_secs_f64()
        ),
    ]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
