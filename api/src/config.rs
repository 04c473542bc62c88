//! What a server needs to start: where to listen, which database, and the limits it enforces.

use std::net::SocketAddr;
use std::time::Duration;

/// A server's configuration. `database_url` is `sqlite:PATH` (the embedded default) or
/// `postgres://…`; several servers may share one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub limits: Limits,
    /// Origins (`https://host[:port]`) whose pages may call the API from a browser (CORS). Empty,
    /// the default: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// The market's trading days and sessions: when the time-driven duties close each day.
    pub calendar: market::TradingCalendar,
    /// How often `ets serve` performs the duties that are due; `None`: never (an operator runs
    /// `ets tick` from cron instead).
    pub duty_interval: Option<Duration>,
}

/// Limits that protect the server and the ledger from any one client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted; larger bodies get 413 before any parsing.
    pub body_bytes: usize,
    /// Sustained requests per second per API key.
    pub rate_per_second: u32,
    /// Requests a key may send at once above the sustained rate.
    pub rate_burst: u32,
    /// Largest `limit` of a journal page.
    pub page_max: u32,
    /// How long a looked-up API key is trusted before it is read again (so a revocation takes
    /// effect within this time on every server process).
    pub key_cache_ttl: Duration,
    /// Scenarios one server process runs at once; more get 503 with `Retry-After`.
    pub scenario_runs: usize,
    /// Longest a scenario may run over HTTP before it is answered 422 (the engine's thread keeps
    /// its run slot until it actually stops).
    pub scenario_time: Duration,
    /// Longest a request may take to be answered before it gets 503 problem+json; the event
    /// feeds (`/v1/stream/…`) are exempt.
    pub request_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1024 * 1024,
            rate_per_second: 200,
            rate_burst: 400,
            page_max: 1_000,
            key_cache_ttl: Duration::from_secs(30),
            scenario_runs: 2,
            scenario_time: Duration::from_secs(20),
            request_time: Duration::from_secs(30),
        }
    }
}

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:ets.db";

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            limits: Limits::default(),
            cors_origins: Vec::new(),
            calendar: market::TradingCalendar::default(),
            duty_interval: Some(Duration::from_secs(30)),
        }
    }
}
