//! Durable transfers per second through the ledger, on SQLite and PostgreSQL, side by side with a
//! naive baseline (one SQL transaction per transfer, same durability) in the same run.
//!
//! Modes:
//! - `single`: one request at a time, each waiting for its commit (latency-bound);
//! - `batched`: many concurrent clients; the writer group-commits whatever is waiting;
//! - `naive`: a hand-written `BEGIN; SELECT; UPDATE; UPDATE; INSERT; COMMIT` per transfer;
//! - with `--per-request K[,K…]`, also batched clients that each send K transfers per request.
//!
//! A group commit holds (requests waiting when the writer took its batch) × (transfers per
//! request); for each mode the bench prints the number of group commits, the mean requests per
//! commit, and the writer's time per commit in each phase (`Ledger::writer_stats`).
//!
//! Every mode is fully durable: SQLite in WAL mode with `synchronous=FULL`, PostgreSQL with
//! `synchronous_commit=on`. Run: `cargo run --release -p bench-ledger -- --help`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use ledger::{Action, Ledger, LedgerOptions, Party, Purpose, Quantity, Request};
use rust_decimal::Decimal;
use sqlx::Connection;

#[derive(Parser, Debug)]
#[command(
    about = "Durable ledger transfers per second: ledger single, ledger batched, naive baseline"
)]
struct Args {
    /// Seconds to run each measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent clients in batched mode.
    #[arg(long, default_value_t = 4096)]
    clients: usize,
    /// Enterprises transfers are spread over.
    #[arg(long, default_value_t = 1000)]
    enterprises: usize,
    /// Also measure clients that send this many transfers per request (one journal entry each);
    /// comma-separated for several runs, e.g. `64,256`.
    #[arg(long, value_delimiter = ',')]
    per_request: Vec<usize>,
    /// PostgreSQL server URL (a database named ets_bench_<n> is created); SQLite only if absent.
    #[arg(long, env = "ETS_TEST_PG_URL")]
    postgres: Option<String>,
}

const INSTRUMENT: &str = "COD.bench";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    if let Some(server) = &args.postgres {
        targets.push((
            "postgres",
            fresh_pg_database(server, "ets_bench_ledger").await?,
        ));
    }
    println!("{}", machine());
    println!();
    println!("| backend | mode | transfers/s | p50 commit ms | p99 commit ms | vs naive |");
    println!("|---|---|---:|---:|---:|---:|");
    for (backend, url) in &targets {
        let ledger = setup(url, args.enterprises).await?;
        let naive = naive(url, backend, &args).await?;
        let single = single(&ledger, &args).await?;
        let one = batched(&ledger, &args, 1).await?;
        let mut rows = vec![
            ("naive (1 tx per transfer)".to_owned(), 1, naive),
            ("ledger single".to_owned(), 1, single),
            ("ledger batched".to_owned(), 1, one),
        ];
        for &k in &args.per_request {
            if k > 1 {
                let many = batched(&ledger, &args, k).await?;
                rows.push((format!("ledger batched, {k} per request"), k, many));
            }
        }
        let naive = &rows[0].2;
        for (mode, _, m) in &rows {
            println!(
                "| {backend} | {mode} | {:.0} | {:.2} | {:.2} | {:.1}× |",
                m.rate,
                m.p50_ms,
                m.p99_ms,
                m.rate / naive.rate
            );
        }
        for (mode, per_request, m) in &rows {
            eprintln!(
                "{backend} {mode}: {:.1} µs of bench-process CPU per transfer",
                m.cpu_us
            );
            if let Some(writer) = &m.writer {
                eprintln!("    {}", describe(writer, *per_request));
            }
        }
        let report = ledger::verify(ledger.store()).await?;
        anyhow::ensure!(
            report.is_ok(),
            "verify after the benchmark: {:?}",
            report.problems
        );
        eprintln!(
            "{backend}: verified {} journal entries, {} postings",
            report.entries, report.postings
        );
    }
    Ok(())
}

struct Measured {
    /// What the writer did during the run: batches (group commits), requests, phase times.
    writer: Option<ledger::WriterStats>,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of this process (clients and ledger; not the PostgreSQL server) per transfer.
    cpu_us: f64,
}

/// The machine and date the numbers come from, and how busy it was.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "machine: {cores} cores, {model}; date: {}; load average at start: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load.join(" ")
    )
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    Duration::from_secs_f64(bench_support::cpu_seconds(None))
}

fn measured(
    count: u64,
    elapsed: Duration,
    cpu: Duration,
    mut latencies: Vec<Duration>,
) -> Measured {
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Measured {
        writer: None,
        rate: count as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        cpu_us: cpu.as_secs_f64() * 1e6 / count.max(1) as f64,
    }
}

fn code(i: usize) -> String {
    // A valid unified social credit code per enterprise: fixed authority and division, varying
    // organisation code, check characters computed.
    let body = format!("{:08}", i + 1);
    let org = ledger::enterprise::CreditCode::organisation_check_char(&body)
        .map(|c| format!("{body}{c}"));
    let first17 = format!("91500103{}", org.unwrap_or_default());
    ledger::enterprise::CreditCode::with_check_char(&first17)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

async fn setup(url: &str, enterprises: usize) -> Result<Ledger> {
    let ledger = Ledger::open(url, LedgerOptions::default()).await?;
    let mut actions: Vec<Action> = serde_json::from_value(serde_json::json!([
        {"type": "define_region", "region": {"code": "bench-basin", "name": "bench", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": INSTRUMENT, "kind": "discharge_right", "pollutant": "COD",
            "region": "bench-basin", "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
    ]))?;
    for i in 0..enterprises {
        let code = code(i);
        actions.push(serde_json::from_value(serde_json::json!({"type": "register_enterprise", "enterprise": {
            "credit_code": code, "name": format!("Bench {i}"), "district": "500103", "industry_codes": ["3961"],
            "zoning": "general", "distance_to_river_m": 5000}}))?);
        actions.push(Action::Issue {
            instrument: INSTRUMENT.into(),
            to: Party::Enterprise(code),
            amount: Quantity(Decimal::from(1_000_000_000)),
        });
    }
    ledger
        .submit(request("setup".into(), actions))
        .await
        .context("setup")?;
    Ok(ledger)
}

fn request(key: String, actions: Vec<Action>) -> Request {
    Request {
        idempotency_key: key,
        actor: "bench".into(),
        memo: None,
        actions,
    }
}

fn transfer(n: u64, enterprises: usize, codes: &[String]) -> Action {
    let from = (n as usize * 7919) % enterprises;
    let to = (from + 1 + (n as usize % (enterprises - 1))) % enterprises;
    Action::Transfer {
        instrument: INSTRUMENT.into(),
        from: Party::Enterprise(codes[from].clone()),
        to: Party::Enterprise(codes[to].clone()),
        amount: Quantity(Decimal::new(1 + (n % 1000) as i64, 3)),
        purpose: Purpose::Trade,
    }
}

/// One request at a time: what one client waiting on each commit gets.
async fn single(ledger: &Ledger, args: &Args) -> Result<Measured> {
    let before = ledger.writer_stats();
    let codes: Vec<String> = (0..args.enterprises).map(code).collect();
    let (start, cpu) = (Instant::now(), cpu_time());
    let mut latencies = Vec::new();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(args.seconds) {
        let t = Instant::now();
        ledger
            .submit(request(
                format!("single-{n:012}"),
                vec![transfer(n, args.enterprises, &codes)],
            ))
            .await?;
        latencies.push(t.elapsed());
        n += 1;
    }
    let mut m = measured(n, start.elapsed(), cpu_time() - cpu, latencies);
    m.writer = Some(delta(before, ledger.writer_stats()));
    Ok(m)
}

fn delta(before: ledger::WriterStats, after: ledger::WriterStats) -> ledger::WriterStats {
    ledger::WriterStats {
        batches: after.batches - before.batches,
        requests: after.requests - before.requests,
        pipelined: after.pipelined - before.pipelined,
        read: after.read - before.read,
        apply: after.apply - before.apply,
        wait: after.wait - before.wait,
        write: after.write - before.write,
        commit: after.commit - before.commit,
    }
}

/// One line on what a batch was in a mode: requests per group commit, transfers per request, and
/// the writer's time per batch in each phase.
fn describe(writer: &ledger::WriterStats, per_request: usize) -> String {
    let batches = writer.batches.max(1) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / batches;
    format!(
        "{} group commits, {:.1} requests × {per_request} transfers each per commit, {:.0} % worked out ahead; per commit: read {:.2} ms, apply {:.2} ms, wait for previous commit + lock {:.2} ms, write {:.2} ms, commit {:.2} ms",
        writer.batches,
        writer.requests as f64 / batches,
        100.0 * writer.pipelined as f64 / batches,
        ms(writer.read),
        ms(writer.apply),
        ms(writer.wait),
        ms(writer.write),
        ms(writer.commit),
    )
}

/// Many clients at once, each submitting `per_request` transfers per request and waiting for it.
/// With more transfers per request there are proportionally fewer clients, so the number of
/// transfers in flight stays the same.
async fn batched(ledger: &Ledger, args: &Args, per_request: usize) -> Result<Measured> {
    let before = ledger.writer_stats();
    let codes: Arc<Vec<String>> = Arc::new((0..args.enterprises).map(code).collect());
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (start, cpu) = (Instant::now(), cpu_time());
    let mut tasks = Vec::new();
    let clients = (args.clients / per_request).max(1);
    for _ in 0..clients {
        let (ledger, codes, counter) = (ledger.clone(), codes.clone(), counter.clone());
        let enterprises = args.enterprises;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(per_request as u64, Ordering::Relaxed);
                let t = Instant::now();
                let actions = (n..n + per_request as u64)
                    .map(|k| transfer(k, enterprises, &codes))
                    .collect();
                let key = if per_request == 1 {
                    format!("batched-{n:012}")
                } else {
                    format!("many{per_request}-{n:012}")
                };
                ledger.submit(request(key, actions)).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let transfers = (latencies.len() * per_request) as u64;
    let mut m = measured(transfers, start.elapsed(), cpu_time() - cpu, latencies);
    m.writer = Some(delta(before, ledger.writer_stats()));
    Ok(m)
}

/// The baseline: a plain transaction per transfer on its own two tables in the same database,
/// the balance checked with a SELECT, no batching, no journal, no hash chain. It shows what the ledger's group commit buys, not a competitor.
async fn naive(url: &str, backend: &str, args: &Args) -> Result<Measured> {
    let codes: Vec<String> = (0..args.enterprises).map(code).collect();
    let mut latencies = Vec::new();
    let mut n: u64 = 0;
    // Timing starts after the tables are set up and funded.
    macro_rules! run {
        ($conn:expr, $begin:expr, $p:literal) => {{
            let mut conn = $conn;
            let (start, cpu) = (Instant::now(), cpu_time());
            while start.elapsed() < Duration::from_secs(args.seconds) {
                let t = Instant::now();
                let Action::Transfer {
                    from: Party::Enterprise(from),
                    to: Party::Enterprise(to),
                    ..
                } = transfer(n, args.enterprises, &codes)
                else {
                    unreachable!()
                };
                let units = 1 + (n % 1000) as i64;
                sqlx::query($begin).execute(&mut conn).await?;
                let balance: (i64,) = sqlx::query_as(concat!(
                    "SELECT balance FROM naive_accounts WHERE id = ",
                    $p,
                    "1"
                ))
                .bind(&from)
                .fetch_one(&mut conn)
                .await?;
                anyhow::ensure!(balance.0 >= units, "benchmark accounts are funded");
                sqlx::query(concat!(
                    "UPDATE naive_accounts SET balance = balance - ",
                    $p,
                    "1 WHERE id = ",
                    $p,
                    "2"
                ))
                .bind(units)
                .bind(&from)
                .execute(&mut conn)
                .await?;
                sqlx::query(concat!(
                    "UPDATE naive_accounts SET balance = balance + ",
                    $p,
                    "1 WHERE id = ",
                    $p,
                    "2"
                ))
                .bind(units)
                .bind(&to)
                .execute(&mut conn)
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO naive_transfers (debit, credit, units) VALUES (",
                    $p,
                    "1, ",
                    $p,
                    "2, ",
                    $p,
                    "3)"
                ))
                .bind(&from)
                .bind(&to)
                .bind(units)
                .execute(&mut conn)
                .await?;
                sqlx::query("COMMIT").execute(&mut conn).await?;
                latencies.push(t.elapsed());
                n += 1;
            }
            (start.elapsed(), cpu_time() - cpu)
        }};
    }
    let (elapsed, cpu) = if backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA journal_mode=WAL")
            .execute(&mut conn)
            .await?;
        sqlx::query("PRAGMA synchronous=FULL")
            .execute(&mut conn)
            .await?;
        sqlx::query("CREATE TABLE naive_transfers (id INTEGER PRIMARY KEY, debit TEXT, credit TEXT, units INTEGER)").execute(&mut conn).await?;
        sqlx::query("CREATE TABLE naive_accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL)")
            .execute(&mut conn)
            .await?;
        for code in &codes {
            sqlx::query("INSERT INTO naive_accounts VALUES ($1, 1000000000000)")
                .bind(code)
                .execute(&mut conn)
                .await?;
        }
        run!(conn, "BEGIN IMMEDIATE", "$")
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("CREATE TABLE naive_transfers (id BIGSERIAL PRIMARY KEY, debit TEXT, credit TEXT, units BIGINT)").execute(&mut conn).await?;
        sqlx::query("CREATE TABLE naive_accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL)")
            .execute(&mut conn)
            .await?;
        for code in &codes {
            sqlx::query("INSERT INTO naive_accounts VALUES ($1, 1000000000000)")
                .bind(code)
                .execute(&mut conn)
                .await?;
        }
        run!(conn, "BEGIN", "$")
    };
    Ok(measured(n, elapsed, cpu, latencies))
}

async fn fresh_pg_database(server: &str, prefix: &str) -> Result<String> {
    let mut conn = sqlx::PgConnection::connect(server).await?;
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = server
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(server);
    Ok(format!("{base}/{name}"))
}
