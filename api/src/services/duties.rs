//! Time-driven duties: what the registry does because time passed, performed by `ets serve`
//! every few seconds and by `ets tick` (for operators who prefer cron).
//!
//! * **Day close**: every trading day whose close (the calendar's) is due is ended in order, each
//!   at its VWAP (the engine re-centres the band, expires day orders and releases their holds
//!   exactly); the next day's order holds then expire in the ledger [`DAY_HOLD_GRACE`] after its
//!   close. A server down over a weekend catches up day by day, oldest first.
//! * **Transfer expiry**: bilateral transfers past their deadline expire and release the
//!   seller's rights.
//! * **Auctions past `closes_at`** are reported to the bureau, never closed: closing needs the
//!   seed the bureau reveals.
//! * **Write-off**: what is left of an instrument after its validity ends goes to cancellation,
//!   one ledger entry per instrument (`write_off`, with the reason on every posting). Units
//!   still on hold then come home when the hold ends, and the next day's write-off takes them.
//!
//! **Exactly once**: each duty runs as a market command (or, for a write-off, a ledger request)
//! keyed by the duty and its period (`duty/day-close/2026-12-04`,
//! `duty/write-off/SO2.cq-main.2024/2025-01-01`), so several servers on one database, a restart
//! in the middle or a `tick` beside a server perform it once; the others find the key in the
//! journal. Time is the caller's argument; nothing here reads a clock (the ledger stamps and
//! judges a write-off by its own, so a drill ahead of it reports the write-off as failed).

use chrono::{DateTime, NaiveDate, Utc};
use exchange::DurableMarket;
use exchange::durable::{CommandTag, MarketCommand};
use ledger::{AccountKind, Action, Ledger, LedgerError, Party, Request};
use market::{AuctionState, Timestamp, TradingCalendar, TransferState};
use serde::Serialize;

use crate::error::ApiError;
use crate::services::market::{MarketService, calendar_error, day_end, day_of, internal};

/// Who the journal names for what the registry does on its own because time passed.
pub const DUTY_ACTOR: &str = "registry";

/// Most day closes one run catches up (a year and a half of trading days); the next run goes on.
pub const DAY_CLOSES_MAX: usize = 400;

/// What one run performed (or, for auctions, found waiting for the bureau).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DutyReport {
    /// Trading days ended, oldest first.
    pub days_closed: Vec<NaiveDate>,
    /// Transfers expired.
    pub transfers_expired: Vec<u64>,
    /// Open auctions whose `closes_at` has passed: the bureau closes them with the seed.
    pub auctions_to_close: Vec<u64>,
    /// Expired instruments whose remaining units were written off.
    pub written_off: Vec<WrittenOff>,
    /// Duties that failed, each with why; the others were still performed, and the next run
    /// tries the failed ones again.
    pub failed: Vec<String>,
}

impl DutyReport {
    pub fn is_empty(&self) -> bool {
        self.days_closed.is_empty()
            && self.transfers_expired.is_empty()
            && self.auctions_to_close.is_empty()
            && self.written_off.is_empty()
            && self.failed.is_empty()
    }
}

/// One expired instrument's write-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenOff {
    pub instrument: String,
    pub valid_to: NaiveDate,
    /// The units written off, at the instrument's scale.
    pub amount: String,
    /// How many holders (enterprises and the reserve) had units left.
    pub holders: usize,
    /// The journal entry that wrote them off.
    pub entry: u64,
}

/// Performs every duty due at `now`; one that fails does not keep the others from running
/// (it is named in [`DutyReport::failed`]). No market yet: only write-offs can be due.
pub async fn run_due(service: &MarketService, now: DateTime<Utc>) -> Result<DutyReport, ApiError> {
    let mut report = DutyReport::default();
    if let Err(error) = run_market_duties(service, now, &mut report).await {
        report.failed.push(format!("market: {error}"));
    }
    // Last: what a day close or a transfer expiry just released is written off in this run.
    if let Err(error) = write_off_expired(service.ledger(), now, &mut report).await {
        report.failed.push(format!("write-off: {error}"));
    }
    Ok(report)
}

/// The market's duties (day closes, transfer expiry, auctions to close), into `report`. No
/// market yet: none.
async fn run_market_duties(
    service: &MarketService,
    now: DateTime<Utc>,
    report: &mut DutyReport,
) -> Result<(), ApiError> {
    let mut market = match service.lock(false).await {
        Ok(market) => market,
        Err(ApiError::NotFound(_)) => return Ok(()),
        Err(other) => return Err(other),
    };
    let calendar = service.calendar();
    if let Err(error) = close_due_days(&mut market, calendar, now, &mut report.days_closed).await {
        report.failed.push(format!("day close: {error}"));
    }
    let now_ms = Timestamp(now.timestamp_millis());
    match expire_due_transfers(&mut market, now_ms).await {
        Ok(expired) => report.transfers_expired = expired,
        Err(error) => report.failed.push(format!("transfer expiry: {error}")),
    }
    report.auctions_to_close = market
        .market()
        .auctions()
        .filter(|a| a.state() == AuctionState::Open && a.config().closes_at <= now_ms)
        .map(|a| a.config().id.0)
        .collect();
    Ok(())
}

/// Ends every trading day whose close is at or before `now`, oldest first, into `closed`.
async fn close_due_days(
    market: &mut DurableMarket,
    calendar: &TradingCalendar,
    now: DateTime<Utc>,
    closed: &mut Vec<NaiveDate>,
) -> Result<(), ApiError> {
    while closed.len() < DAY_CLOSES_MAX {
        let end = market.trading_day_end();
        let (day, legacy) = open_day(calendar, end)?;
        if calendar.close_of(day).map_err(calendar_error)? > now {
            break;
        }
        // A legacy market's next day is today's: the days in between had no market day to end.
        let next = match legacy {
            false => calendar.next_trading_day(day),
            true => calendar.open_day_at(now),
        };
        let command = MarketCommand::EndDay {
            next_day_end_ms: day_end(calendar, next.map_err(calendar_error)?)?.timestamp_millis(),
        };
        run_once(market, command, format!("duty/day-close/{day}")).await?;
        if market.trading_day_end() == end {
            // The tag was in the log but the day did not move: another calendar closed it.
            return Err(ApiError::Internal(format!(
                "the close of {day} is logged but the trading day did not move: do all servers and ticks use the same --calendar?"
            )));
        }
        closed.push(day);
    }
    Ok(())
}

/// The trading day whose orders' holds expire at `end`, and whether `end` is a legacy value
/// (a market opened before day closes existed set it to the UTC midnight two days after its
/// first day, which no calendar day ends at).
fn open_day(calendar: &TradingCalendar, end: DateTime<Utc>) -> Result<(NaiveDate, bool), ApiError> {
    let day = day_of(calendar, end)?;
    if day_end(calendar, day)? == end {
        return Ok((day, false));
    }
    let first = end.date_naive() - chrono::Days::new(2);
    let legacy = calendar
        .trading_day_on_or_after(first)
        .map_err(calendar_error)?;
    Ok((legacy, true))
}

/// Expires the transfers whose deadline has passed; returns their ids.
async fn expire_due_transfers(
    market: &mut DurableMarket,
    now: Timestamp,
) -> Result<Vec<u64>, ApiError> {
    let due: Vec<u64> = market
        .market()
        .transfers()
        .filter(|t| t.state == TransferState::Proposed && t.request.expires_at <= now)
        .map(|t| t.id.0)
        .collect();
    let (Some(first), Some(last)) = (due.first(), due.last()) else {
        return Ok(due);
    };
    // The same due set gives the same key on every process; a larger set (one more came due
    // meanwhile) runs again and expires only what is still pending.
    let key = format!("duty/expire-transfers/{first}-{last}-{}", due.len());
    run_once(market, MarketCommand::ExpireTransfers { now }, key).await?;
    Ok(due)
}

/// Writes off every expired instrument that still has units outside holds, one ledger entry
/// each, into `report` (a refusal is named in its `failed` and tried again on the next run).
async fn write_off_expired(
    ledger: &Ledger,
    now: DateTime<Utc>,
    report: &mut DutyReport,
) -> Result<(), ApiError> {
    let today = now.date_naive();
    let instruments = ledger.store().instruments().await?;
    let expired = instruments
        .iter()
        .filter(|i| !i.is_cash())
        .filter_map(|i| Some((i, i.valid_to().filter(|&to| today > to)?)));
    for (instrument, valid_to) in expired {
        let left = ledger.store().positive_balances(&instrument.code).await?;
        let holders: Vec<Party> = left
            .iter()
            .filter_map(|b| match b.kind {
                AccountKind::Holding => Some(Party::Enterprise(b.owner.clone())),
                AccountKind::Reserve => Some(Party::Reserve),
                _ => None,
            })
            .collect();
        if holders.is_empty() {
            continue;
        }
        let reason = format!("validity ended {valid_to}: remaining units written off");
        let request = Request {
            idempotency_key: format!("duty/write-off/{}/{today}", instrument.code),
            actor: DUTY_ACTOR.into(),
            memo: Some(reason.clone()),
            actions: vec![Action::WriteOff {
                instrument: instrument.code.clone(),
                holders: holders.clone(),
                reason,
            }],
        };
        match ledger.submit(request).await {
            // Another process wrote this instrument off today with the same holders: done.
            Ok(receipt) if receipt.replayed => {}
            Ok(receipt) => report.written_off.push(WrittenOff {
                instrument: instrument.code.clone(),
                valid_to,
                amount: written_off_amount(&receipt.postings, instrument.scale),
                holders: receipt.postings.len(),
                entry: receipt.seq,
            }),
            // Another process wrote it off today from balances read a moment apart: done.
            Err(error) if matches!(error.root(), LedgerError::IdempotencyConflict { .. }) => {}
            Err(error) => report
                .failed
                .push(format!("write-off of {}: {error}", instrument.code)),
        }
    }
    Ok(())
}

/// The total of a write-off's postings, at the instrument's scale.
fn written_off_amount(postings: &[ledger::Posting], scale: u32) -> String {
    let units: i64 = postings.iter().map(|p| p.units).sum();
    ledger::amount::to_decimal(units, scale).to_string()
}

/// Runs `command` tagged with the duty's `key`: once, whichever process gets there first.
async fn run_once(
    market: &mut DurableMarket,
    command: MarketCommand,
    key: String,
) -> Result<(), ApiError> {
    let tag = CommandTag {
        fingerprint: key.clone(),
        key,
    };
    let mut outcomes = market
        .execute_tagged(&[command], &[Some(tag)])
        .await
        .map_err(internal)?;
    match outcomes.pop() {
        Some(Ok(_)) => Ok(()),
        Some(Err(error)) => Err(internal(error)),
        None => Err(ApiError::Internal("a duty got no outcome".into())),
    }
}
