//! `ets serve` and `ets admin …`: the HTTP API and its keys.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

/// `ets serve`: where to listen and the limits the server enforces. Every limit can also be set
/// with the environment variable named in its help.
#[derive(Args, Debug)]
#[command(
    after_help = "Once listening, the first line on stdout is `listening on ADDR` \
    (the bound address, so `--bind 127.0.0.1:0` picks a free port). Stops on Ctrl-C or SIGTERM."
)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line of stdout).
    #[arg(long, env = "ETS_BIND", default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Largest request body in bytes; larger bodies get 413 before any parsing.
    #[arg(long, env = "ETS_BODY_LIMIT", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    body_limit: u64,
    /// Sustained requests per second per API key (a token bucket; over it: 429 with Retry-After).
    #[arg(long, visible_alias = "rate-limit-per-second", env = "ETS_RATE_PER_SECOND", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_per_second: u32,
    /// Requests a key may send at once above the sustained rate (the bucket's size).
    #[arg(long, env = "ETS_RATE_BURST", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: u32,
    /// Largest `limit` of a journal page.
    #[arg(long, env = "ETS_PAGE_MAX", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    page_max: u32,
    /// Seconds a looked-up API key is trusted before it is read again: a revoked key stops
    /// working on every server process within this time.
    #[arg(long, env = "ETS_KEY_CACHE_SECONDS", default_value_t = 30)]
    key_cache_seconds: u64,
    /// Scenarios this process runs at once (`POST /v1/scenarios/run`); more get 503 with
    /// Retry-After.
    #[arg(long, env = "ETS_SCENARIO_RUNS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    scenario_runs: u32,
    /// Seconds a scenario may run over HTTP (fractions allowed) before it is answered 422; its run
    /// slot stays taken until the engine stops.
    #[arg(long, env = "ETS_SCENARIO_SECONDS", default_value_t = 20.0, value_parser = positive_seconds)]
    scenario_seconds: f64,
    /// Seconds a request may take to be answered (fractions allowed) before it gets 503
    /// problem+json; the event feeds (/v1/stream/…) are exempt. A POST cut off may still be
    /// recorded: retry it with the same Idempotency-Key.
    #[arg(long, env = "ETS_REQUEST_TIMEOUT_SECONDS", default_value_t = 30.0, value_parser = positive_seconds)]
    request_timeout_seconds: f64,
    /// An origin (`https://host[:port]`) whose pages may call the API from a browser (CORS);
    /// repeat for several. None by default: no CORS headers, so other origins' pages cannot read
    /// answers.
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "ETS_CORS_ORIGINS",
          value_delimiter = ',', value_parser = origin)]
    cors_origins: Vec<String>,
    /// Log lines on stderr: `text` (colours only on a terminal) or `json` (one object per line,
    /// with the request's span: method, route, request id). The level is `ETS_LOG` (default
    /// `warn`; `ETS_LOG=info` logs every request).
    #[arg(long, env = "ETS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Seconds between runs of the time-driven duties (each trading day closed at the
    /// calendar's close, expired transfers released, auctions past their close reported); 0:
    /// never, for operators who run `ets tick` from cron instead.
    #[arg(long, env = "ETS_DUTY_SECONDS", default_value_t = 30)]
    duty_seconds: u64,
    #[command(flatten)]
    calendar: crate::cli_tick::CalendarArgs,
}

/// How `ets serve` writes its log lines.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A CORS origin: `http://` or `https://`, a host and an optional port, nothing after it.
fn origin(text: &str) -> Result<String, String> {
    let origin = text.trim_end_matches('/');
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{text:?} is not an origin: it must start with http:// or https://")
        })?;
    let ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(origin.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an origin: scheme://host[:port] with no path, e.g. https://bureau.example.cn"
        ))
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
        Ok(seconds)
    } else {
        Err(format!(
            "{text} s is out of range: more than 0 and at most 86400"
        ))
    }
}

impl ServeArgs {
    fn limits(&self) -> api::Limits {
        api::Limits {
            // Bounded to 1 GiB by the parser, so this fits in usize on every supported target.
            body_bytes: usize::try_from(self.body_limit).unwrap_or(usize::MAX),
            rate_per_second: self.rate_per_second,
            rate_burst: self.rate_burst,
            page_max: self.page_max,
            key_cache_ttl: Duration::from_secs(self.key_cache_seconds),
            scenario_runs: self.scenario_runs as usize,
            scenario_time: Duration::from_secs_f64(self.scenario_seconds),
            request_time: Duration::from_secs_f64(self.request_timeout_seconds),
        }
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an API key and print it once (only its SHA-256 hash is stored).
    ///
    /// Bootstrap the first bureau key with `ets admin create-key --role bureau`.
    CreateKey {
        /// What the key may do: the bureau everything, an enterprise its own accounts, an
        /// economist market data and anonymised aggregates.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The enterprise's unified social credit code (enterprise keys only).
        #[arg(long)]
        enterprise: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Revoke an API key: every server refuses it within its key-cache time
    /// (`ets serve --key-cache-seconds`, 30 s by default).
    RevokeKey {
        /// The key itself (`ets_…`) or its public id (16 hex digits, printed by `create-key`
        /// on stderr and answered by `GET /v1/whoami`).
        key_or_id: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    /// The ecology-and-environment bureau: every operation.
    Bureau,
    /// One enterprise (`--enterprise CREDIT_CODE`): its own accounts, orders and applications.
    Enterprise,
    /// An economist: market data, published rounds and anonymised aggregates.
    Economist,
}

pub async fn serve(args: ServeArgs, database_url: &str) -> Result<()> {
    let config = api::Config {
        bind: args.bind,
        database_url: database_url.to_owned(),
        limits: args.limits(),
        cors_origins: args.cors_origins.clone(),
        calendar: args.calendar.load()?,
        duty_interval: (args.duty_seconds > 0).then(|| Duration::from_secs(args.duty_seconds)),
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let state = api::AppState::open(config)
        .await
        .with_context(|| format!("opening the ledger at {database_url}"))?;
    // The machine-readable first line: scripts and tests read the address from it.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}").context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    eprintln!(
        "serving the ETS API on http://{addr} (database {database_url}); OpenAPI at /openapi.json"
    );
    api::serve_on(listener, state, api::shutdown_signal())
        .await
        .context("running the API server")
}

pub async fn admin(command: AdminCommand, database_url: &str) -> Result<()> {
    match command {
        AdminCommand::CreateKey {
            role,
            enterprise,
            label,
        } => {
            let role = match role {
                RoleArg::Bureau => api::Role::Bureau,
                RoleArg::Enterprise => api::Role::Enterprise,
                RoleArg::Economist => api::Role::Economist,
            };
            if matches!(role, api::Role::Enterprise) && enterprise.is_none() {
                bail!("an enterprise key needs --enterprise CREDIT_CODE");
            }
            let key = api::create_key(database_url, role, enterprise.as_deref(), &label).await?;
            println!("{key}");
            eprintln!(
                "keep this key: it is shown once. Send it as `Authorization: Bearer <key>`. Its id (to revoke it): {}",
                key_id(&key)
            );
            Ok(())
        }
        AdminCommand::RevokeKey { key_or_id } => {
            let id = if key_or_id.starts_with(api::keys::KEY_PREFIX) {
                key_id(&key_or_id)
            } else if key_or_id.len() == 16 && key_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                key_or_id.to_ascii_lowercase()
            } else {
                bail!("{key_or_id:?} is neither a key (`ets_…`) nor a key id (16 hex digits)");
            };
            if !api::revoke_key(database_url, &id).await? {
                bail!("no live key with id {id} (unknown, or already revoked)");
            }
            eprintln!("revoked key {id}");
            Ok(())
        }
    }
}

/// A key's public id: the first 16 hex digits of its SHA-256.
fn key_id(key: &str) -> String {
    api::keys::hash_key(key)[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: super::ServeArgs,
    }

    /// The flags' defaults are the library's: `ets serve` without flags enforces `Limits::default()`.
    #[test]
    fn serve_defaults_are_the_library_limits() {
        let serve = Serve::try_parse_from(["serve"]).expect("no flags needed");
        let limits = serve.args.limits();
        let default = api::Limits::default();
        assert_eq!(limits.body_bytes, default.body_bytes);
        assert_eq!(limits.rate_per_second, default.rate_per_second);
        assert_eq!(limits.rate_burst, default.rate_burst);
        assert_eq!(limits.page_max, default.page_max);
        assert_eq!(limits.key_cache_ttl, default.key_cache_ttl);
        assert_eq!(limits.scenario_runs, default.scenario_runs);
        assert_eq!(limits.scenario_time, default.scenario_time);
        assert_eq!(limits.request_time, default.request_time);
        assert!(serve.args.cors_origins.is_empty(), "CORS is off by default");
        assert_eq!(serve.args.bind, api::Config::default().bind);
    }

    #[test]
    fn bad_limits_are_refused_by_name() {
        for (bad, flag) in [
            ("--scenario-seconds=0", "--scenario-seconds"),
            ("--scenario-seconds=-1", "--scenario-seconds"),
            ("--scenario-seconds=inf", "--scenario-seconds"),
            ("--rate-burst=0", "--rate-burst"),
            ("--body-limit=0", "--body-limit"),
            ("--request-timeout-seconds=0", "--request-timeout-seconds"),
            ("--cors-origin=example.cn", "--cors-origin"),
            ("--cors-origin=https://example.cn/app", "--cors-origin"),
            ("--log-format=xml", "--log-format"),
        ] {
            let error = Serve::try_parse_from(["serve", bad])
                .err()
                .expect("refused");
            assert!(error.to_string().contains(flag), "{bad}: {error}");
        }
    }
}
