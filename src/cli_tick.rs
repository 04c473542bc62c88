//! `ets tick`: performs the time-driven duties that are due (day closes, expired transfers,
//! auctions past their close reported), as `ets serve` does every few seconds, for operators
//! who run it from cron. Safe beside running servers: every duty is performed once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;

/// The calendar flag `ets serve` and `ets tick` share.
#[derive(Args, Debug, Clone)]
pub struct CalendarArgs {
    /// The market's trading calendar, a TOML file: `utc_offset_minutes = 480`, `sessions =
    /// [{ open = "09:30:00", close = "11:30:00" }, …]`, `weekends_closed = true`, `holidays =
    /// ["2027-02-08", …]`, `orders_in_sessions_only = true` (refuse orders outside the
    /// sessions; by default one placed at night rests for the next session). Default:
    /// Chongqing's, 09:30–11:30 and 13:00–15:00 at +08:00, weekends closed, no holidays listed.
    #[arg(long, env = "ETS_CALENDAR", value_name = "FILE")]
    pub calendar: Option<PathBuf>,
}

impl CalendarArgs {
    pub fn load(&self) -> Result<market::TradingCalendar> {
        match &self.calendar {
            None => Ok(market::TradingCalendar::default()),
            Some(path) => load_calendar(path),
        }
    }
}

fn load_calendar(path: &Path) -> Result<market::TradingCalendar> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the calendar {}", path.display()))?;
    let calendar: market::TradingCalendar =
        toml::from_str(&text).with_context(|| format!("the calendar {}", path.display()))?;
    calendar
        .validate()
        .with_context(|| format!("the calendar {}", path.display()))?;
    Ok(calendar)
}

#[derive(Args, Debug)]
pub struct TickArgs {
    #[command(flatten)]
    calendar: CalendarArgs,
    /// Perform what is due at this time (RFC 3339, e.g. 2026-12-07T08:00:00+08:00) instead of
    /// now: for drills on a copy of the database. Duties are never undone, so a time in the
    /// future closes days early.
    #[arg(long, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn tick(args: TickArgs, database_url: &str) -> Result<()> {
    let config = api::Config {
        database_url: database_url.to_owned(),
        calendar: args.calendar.load()?,
        duty_interval: None,
        ..api::Config::default()
    };
    let state = api::AppState::open(config)
        .await
        .with_context(|| format!("opening the ledger at {database_url}"))?;
    let now = args.at.unwrap_or_else(|| state.now());
    let report = api::services::duties::run_due(state.market(), now)
        .await
        .context("performing the duties due")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    match report.failed.first() {
        None => Ok(()),
        Some(_) => bail!("{}", report.failed.join("; ")),
    }
}

fn print_report(report: &api::services::duties::DutyReport) {
    let list = |items: Vec<String>| match items.is_empty() {
        true => "none".to_owned(),
        false => items.join(", "),
    };
    let days = report.days_closed.iter().map(ToString::to_string).collect();
    println!("days closed:        {}", list(days));
    let transfers = report.transfers_expired.iter().map(ToString::to_string);
    println!("transfers expired:  {}", list(transfers.collect()));
    let auctions = report.auctions_to_close.iter().map(ToString::to_string);
    println!("auctions to close:  {}", list(auctions.collect()));
    let written_off = report.written_off.iter().map(|w| {
        format!(
            "{} {} (valid to {}, {} holders, entry {})",
            w.instrument, w.amount, w.valid_to, w.holders, w.entry
        )
    });
    println!("written off:        {}", list(written_off.collect()));
}
