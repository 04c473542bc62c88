//! A load generator against a real `ets serve` process on loopback, in the manner of `wrk`: many
//! keep-alive connections, each sending one request and reading its answer before the next (closed
//! loop), through a minimal HTTP/1.1 client so that the generator costs far less CPU than the
//! server.
//!
//! The bench starts the release `ets` binary found next to its own executable (or `--server-bin`)
//! as `ets serve --bind 127.0.0.1:0` on a fresh SQLite file (WAL, `synchronous=FULL`: every
//! acknowledged transfer is durable) or on `--database-url`, reads the bound address from the
//! server's first line, makes its keys with `ets admin create-key`, sets up a register over HTTP,
//! and then drives the phases from this process:
//! - `health`: `GET /health`, no authentication or database;
//! - `reads`: `GET /v1/accounts?owner=…` with an enterprise key: auth, rate limiter, one SQL read;
//! - `transfers`: `POST /v1/transfers`, each with a new `Idempotency-Key`, acknowledged after the
//!   ledger's group commit.
//!
//! Run: `cargo build --release -p ets -p bench-api && target/release/bench-api --help`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const A: &str = "91500103MA5U00011H";
const B: &str = "91500104MA5U0002XP";
const COD: &str = "COD.yangtze-cq.2024";

#[derive(Parser, Debug)]
#[command(
    about = "HTTP API load against an `ets serve` process: small reads/s and durable transfers/s on loopback"
)]
struct Args {
    /// Seconds per phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent connections for the read phases.
    #[arg(long, default_value_t = 64)]
    read_connections: usize,
    /// Concurrent connections for the transfer phase (group commit needs many in flight).
    #[arg(long, default_value_t = 512)]
    write_connections: usize,
    /// Worker threads of the server's runtime (`TOKIO_WORKER_THREADS` of the server process).
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The `ets` binary to serve with; by default the `ets` next to this bench's executable
    /// (`cargo build --release -p ets` puts it there).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Serve this database instead of a fresh SQLite file (it must not hold the bench's register
    /// yet, e.g. a new PostgreSQL database).
    #[arg(long)]
    database_url: Option<String>,
}

/// The server process; killed when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Target {
    addr: SocketAddr,
    key: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench's directory")?
            .join(format!("ets{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.is_file() {
        bail!(
            "no server binary at {}: run `cargo build --release -p ets` first, or pass --server-bin",
            bin.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let server = spawn_server(&bin, &url, args.server_threads)?;
    let bureau = create_key(&bin, &url, &["--role", "bureau"])?;
    let key = create_key(&bin, &url, &["--role", "enterprise", "--enterprise", A])?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    let target = client.block_on(setup(server.addr, &bureau, key))?;
    let seconds = Duration::from_secs(args.seconds);
    let server_pid = server.child.id();
    println!(
        "bench-api: {} s per phase, server `{}` (pid {server_pid}, {} threads, {}), client threads {}, load average {}",
        args.seconds,
        bin.display(),
        args.server_threads,
        url.split(':').next().unwrap_or("?"),
        args.client_threads,
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    );
    println!(
        "| phase | connections | requests | errors | req/s | mean latency | server CPU µs/request | generator CPU µs/request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (phase, connections) in [
        ("health", args.read_connections),
        ("reads", args.read_connections),
        ("transfers", args.write_connections),
    ] {
        let server_before = bench_support::cpu_seconds(Some(server_pid));
        let client_before = bench_support::cpu_seconds(None);
        let result = client.block_on(run_phase(&target, phase, connections, seconds))?;
        let server_cpu = bench_support::cpu_seconds(Some(server_pid)) - server_before;
        let client_cpu = bench_support::cpu_seconds(None) - client_before;
        let requests = (result.ok + result.errors).max(1) as f64;
        println!(
            "| {phase} | {connections} | {} | {} | {:.0} | {:.2} ms | {:.1} | {:.1} |",
            result.ok,
            result.errors,
            result.ok as f64 / result.elapsed.as_secs_f64(),
            result.latency_ms,
            server_cpu * 1e6 / requests,
            client_cpu * 1e6 / requests,
        );
    }
    drop(server);
    Ok(())
}

/// `ets serve --bind 127.0.0.1:0` on `url`, with a rate limit the bench never meets (it measures
/// the server, not the limiter's refusals); waits for its `listening on ADDR` line.
fn spawn_server(bin: &PathBuf, url: &str, threads: usize) -> Result<ServerProcess> {
    let mut child = Command::new(bin)
        .env("ETS_DATABASE_URL", url)
        .env("TOKIO_WORKER_THREADS", threads.to_string())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--rate-per-second",
            "10000000",
            "--rate-burst",
            "10000000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let mut server = ServerProcess {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    server.addr = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("the server's first line {line:?}"))?
        .parse()
        .context("the server's address")?;
    Ok(server)
}

/// `ets admin create-key …` on `url`: the key it prints.
fn create_key(bin: &PathBuf, url: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(bin)
        .env("ETS_DATABASE_URL", url)
        .args(["admin", "create-key", "--label", "bench"])
        .args(args)
        .output()?;
    if !output.status.success() {
        bail!(
            "ets admin create-key: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The register the phases use, by the bureau over HTTP.
async fn setup(addr: SocketAddr, bureau: &str, key: String) -> Result<Target> {
    let setup = json!({"actions": [
        {"type": "define_region", "region": {"code": "yangtze-cq", "name": "Yangtze", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": COD, "kind": "discharge_right", "pollutant": "COD", "region": "yangtze-cq",
            "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
        {"type": "register_enterprise", "enterprise": enterprise(A, "500103")},
        {"type": "register_enterprise", "enterprise": enterprise(B, "500104")},
        {"type": "issue", "instrument": COD, "to": A, "amount": "1000000000"},
    ]});
    let mut connection = Connection::open(addr).await?;
    let (status, body) = connection
        .request(
            "POST",
            "/v1/requests",
            bureau,
            Some("setup"),
            Some(&setup.to_string()),
        )
        .await?;
    if status != 201 {
        bail!("setup failed: {status} {body}");
    }
    Ok(Target { addr, key })
}

fn enterprise(code: &str, district: &str) -> serde_json::Value {
    json!({"credit_code": code, "name": format!("Bench {district}"), "district": district, "industry_codes": ["3961"],
           "declared_tags": [], "free_tags": [], "zoning": "general", "distance_to_river_m": 4200})
}

struct PhaseResult {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latency_ms: f64,
}

async fn run_phase(
    target: &Target,
    phase: &'static str,
    connections: usize,
    duration: Duration,
) -> Result<PhaseResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latency_us = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for worker in 0..connections {
        let (stop, ok, errors, latency_us) =
            (stop.clone(), ok.clone(), errors.clone(), latency_us.clone());
        let (addr, key) = (target.addr, target.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(addr).await?;
            let mut n = 0_u64;
            let transfer =
                json!({"instrument": COD, "from": A, "to": B, "amount": "0.001"}).to_string();
            let accounts = format!("/v1/accounts?owner={A}");
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = Instant::now();
                let (status, expected) = match phase {
                    "health" => (
                        connection
                            .request("GET", "/health", "", None, None)
                            .await?
                            .0,
                        200,
                    ),
                    "reads" => (
                        connection
                            .request("GET", &accounts, &key, None, None)
                            .await?
                            .0,
                        200,
                    ),
                    _ => {
                        let idempotency = format!("w{worker}-{n}");
                        (
                            connection
                                .request(
                                    "POST",
                                    "/v1/transfers",
                                    &key,
                                    Some(&idempotency),
                                    Some(&transfer),
                                )
                                .await?
                                .0,
                            201,
                        )
                    }
                };
                latency_us.fetch_add(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
                if status == expected {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let ok = ok.load(Ordering::Relaxed);
    let errors = errors.load(Ordering::Relaxed);
    let latency_ms =
        latency_us.load(Ordering::Relaxed) as f64 / 1000.0 / (ok + errors).max(1) as f64;
    Ok(PhaseResult {
        ok,
        errors,
        elapsed,
        latency_ms,
    })
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time and reads answers with a
/// `Content-Length` (as the server always sends for these routes).
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        key: &str,
        idempotency: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n");
        if !key.is_empty() {
            head.push_str(&format!("authorization: Bearer {key}\r\n"));
        }
        if let Some(idempotency) = idempotency {
            head.push_str(&format!("idempotency-key: {idempotency}\r\n"));
        }
        let body = body.unwrap_or("");
        if method == "POST" {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.stream.write_all(head.as_bytes()).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> Result<(u16, String)> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end])?.to_owned();
                let status: u16 = head.split(' ').nth(1).context("status line")?.parse()?;
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .context("content-length")?;
                while self.buffer.len() < end + 4 + length {
                    self.fill().await?;
                }
                let body =
                    String::from_utf8_lossy(&self.buffer[end + 4..end + 4 + length]).into_owned();
                self.buffer.drain(..end + 4 + length);
                return Ok((status, body));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0_u8; 8192];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("connection closed");
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
