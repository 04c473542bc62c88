//! The market as the API serves it: one [`DurableMarket`] per process, behind a lock, caught
//! up with the journal before every read and write (so several server processes on one
//! database serve one book), plus the id plumbing between the API's names (ledger instrument
//! codes, credit codes) and the market's integer ids, which are themselves logged commands.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use exchange::durable::{CommandTag, MarketCommand, MarketInit};
use exchange::{BridgeError, CommandOutcome, DurableMarket};
use ledger::{Ledger, Party};
use market::{AccountId, InstrumentId, SelfTradePrevention, TradingCalendar};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::error::ApiError;

/// The bureau's one market account: the reserve, auction seller and proceeds account.
pub const BUREAU_ACCOUNT: AccountId = AccountId(0);
/// The hold-code namespace of the API's market.
pub const NAMESPACE: &str = "mkt";
pub const CASH: &str = "CNY";

/// The process's market handle.
pub struct MarketService {
    ledger: Ledger,
    market: Mutex<Option<DurableMarket>>,
    calendar: TradingCalendar,
}

/// How long after its day's close an order hold expires in the ledger. The day close voids it
/// long before; the expiry is the ledger's backstop (its `expire_holds` returns the funds if no
/// process ever closes the day). A late close still voids holds past their expiry.
pub const DAY_HOLD_GRACE: Duration = Duration::days(7);

/// When an auction closing at `closes_at` must be settled by: its bid guarantees expire in the
/// ledger at the UTC midnight a day after the close, so a bureau that closes late is not
/// overtaken by hold expiry.
pub fn auction_settle_by(closes_at: DateTime<Utc>) -> DateTime<Utc> {
    (closes_at.date_naive() + Duration::days(2))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// When the order holds of the trading day `day` expire in the ledger.
pub fn day_end(calendar: &TradingCalendar, day: NaiveDate) -> Result<DateTime<Utc>, ApiError> {
    Ok(calendar.close_of(day).map_err(calendar_error)? + DAY_HOLD_GRACE)
}

/// The trading day whose orders' holds expire at `day_end` (the inverse of [`day_end`]).
pub fn day_of(calendar: &TradingCalendar, day_end: DateTime<Utc>) -> Result<NaiveDate, ApiError> {
    let close = day_end - DAY_HOLD_GRACE;
    calendar
        .open_day_at(close - Duration::milliseconds(1))
        .map_err(calendar_error)
}

/// A calendar the server was started with that cannot answer (validated at start, so a bug).
pub fn calendar_error(error: market::CalendarError) -> ApiError {
    ApiError::Internal(format!("the trading calendar: {error}"))
}

impl MarketService {
    pub fn new(ledger: Ledger, calendar: TradingCalendar) -> MarketService {
        MarketService {
            ledger,
            market: Mutex::new(None),
            calendar,
        }
    }

    /// The ledger the market settles in.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn calendar(&self) -> &TradingCalendar {
        &self.calendar
    }

    /// Refuses an order at `now` outside the sessions when the calendar takes orders in
    /// sessions only, naming the next open in the market's local time.
    pub fn check_in_session(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        let calendar = &self.calendar;
        if !calendar.orders_in_sessions_only || calendar.in_session(now).map_err(calendar_error)? {
            return Ok(());
        }
        let next = calendar.next_open(now).map_err(calendar_error)?;
        let offset = calendar.offset().map_err(calendar_error)?;
        Err(ApiError::MarketClosed {
            next_open: next.with_timezone(&offset).to_rfc3339(),
        })
    }

    /// The market, caught up with the journal. With `create`, a journal that has no market yet
    /// gets one (the bureau listing the first instrument); otherwise that is a 404, so a
    /// caller always holds an open market.
    pub async fn lock(
        &self,
        create: bool,
    ) -> Result<MappedMutexGuard<'_, DurableMarket>, ApiError> {
        let mut guard = self.market.lock().await;
        match guard.as_mut() {
            Some(market) => market.refresh().await.map_err(internal)?,
            None => {
                let opened = match DurableMarket::open_existing(self.ledger.clone()).await {
                    Ok(market) => Some(market),
                    Err(BridgeError::InvalidMapping(_)) if create => {
                        let today = self
                            .calendar
                            .open_day_at(self.ledger.now())
                            .map_err(calendar_error)?;
                        let init = MarketInit {
                            namespace: NAMESPACE.into(),
                            cash_instrument: CASH.into(),
                            self_trade: SelfTradePrevention::CancelResting,
                            trading_day_end: day_end(&self.calendar, today)?,
                            transfer_grace: Duration::hours(1),
                        };
                        let mut market = DurableMarket::open(self.ledger.clone(), init)
                            .await
                            .map_err(|e| match e {
                                BridgeError::InvalidMapping(why) => ApiError::field("market", why),
                                other => internal(other),
                            })?;
                        if market
                            .mapping()
                            .is_some_and(|m| m.party(BUREAU_ACCOUNT).is_err())
                        {
                            market
                                .execute_one(MarketCommand::MapAccount {
                                    account: BUREAU_ACCOUNT,
                                    party: Party::Reserve,
                                })
                                .await
                                .or_else(ignore_refusal)?;
                        }
                        Some(market)
                    }
                    Err(BridgeError::InvalidMapping(_)) => None,
                    Err(other) => return Err(internal(other)),
                };
                *guard = opened;
            }
        }
        MutexGuard::try_map(guard, Option::as_mut).map_err(|_| {
            ApiError::NotFound(
                "no market yet: the bureau lists an instrument for trading first".into(),
            )
        })
    }
}

impl MarketService {
    /// Rebuilds and replay work of the open market, for `/metrics`; `None` when no market is
    /// open yet or a request holds it right now (the last values stand until the next scrape).
    pub fn replay_counters(&self) -> Option<(u64, exchange::durable::ReplayStats)> {
        let guard = self.market.try_lock().ok()?;
        let market = guard.as_ref()?;
        Some((market.rebuilds(), market.replay_stats()))
    }

    /// Carries a ledger freeze (`frozen`) or its lifting into the market, so one freeze means
    /// the same everywhere: frozen in any instrument, the enterprise is frozen in the market
    /// (its resting orders cancelled, its pending transfers vetoed, so nothing it committed
    /// earlier settles); the market freeze is lifted once none of its ledger accounts is frozen.
    /// No market yet, or an enterprise the market has never seen: nothing to carry.
    pub async fn follow_ledger_freeze(
        &self,
        credit_code: &str,
        any_frozen: bool,
        now: market::Timestamp,
    ) -> Result<(), ApiError> {
        let mut market = match self.lock(false).await {
            Ok(market) => market,
            Err(ApiError::NotFound(_)) => return Ok(()),
            Err(error) => return Err(error),
        };
        let party = Party::Enterprise(credit_code.to_owned());
        let Some(account) = market.mapping().and_then(|m| m.account_of(&party)) else {
            return Ok(());
        };
        let command = match (any_frozen, market.market().rules().is_frozen(account)) {
            (true, false) => MarketCommand::Freeze { account, now },
            (false, true) => MarketCommand::Unfreeze { account },
            _ => return Ok(()),
        };
        match market.execute_with_new_ids(command, None).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) | Err(error) => ignore_refusal(error).map(|_| ()),
        }
    }
}

fn ignore_refusal(error: BridgeError) -> Result<CommandOutcome, ApiError> {
    if error.is_refusal() {
        Ok(CommandOutcome::Done)
    } else {
        Err(internal(error))
    }
}

pub fn internal(error: BridgeError) -> ApiError {
    tracing::error!(target: "api::market", "market: {error}");
    ApiError::Internal(error.to_string())
}

/// The market instrument of a ledger code, if listed.
pub fn instrument_of(market: &DurableMarket, code: &str) -> Result<InstrumentId, ApiError> {
    market
        .mapping()
        .and_then(|m| m.instrument_of(code))
        .filter(|id| market.market().book(*id).is_ok())
        .ok_or_else(|| ApiError::NotFound(format!("instrument {code:?} is not listed for trading")))
}

/// The market account of an enterprise, or the id it will get: a new account is mapped by the
/// command it is for, in the same journal entry, and only if that command is accepted
/// (`DurableMarket::account_for`; [`run_tagged`] runs the two together).
pub fn account_of(market: &mut DurableMarket, credit_code: &str) -> Result<AccountId, ApiError> {
    market
        .account_for(&Party::Enterprise(credit_code.to_owned()))
        .map_err(internal)
}

/// The credit code (or `reserve`) of a market account.
pub fn party_name(market: &DurableMarket, account: AccountId) -> String {
    market
        .mapping()
        .and_then(|m| m.party(account).ok())
        .map(|p| p.to_string())
        .unwrap_or_else(|| account.to_string())
}

/// Runs one command with the client's idempotency tag; `Ok((outcome, replayed))`.
pub async fn run_tagged(
    market: &mut DurableMarket,
    command: MarketCommand,
    tag: CommandTag,
) -> Result<(Result<CommandOutcome, BridgeError>, bool), ApiError> {
    if let Some((fingerprint, outcome)) = market.tagged(&tag.key) {
        if *fingerprint != tag.fingerprint {
            return Err(ApiError::IdempotencyMismatch {
                key: tag
                    .key
                    .split_once(':')
                    .map(|(_, k)| k)
                    .unwrap_or(&tag.key)
                    .to_owned(),
                first_use: String::new(),
            });
        }
        return Ok((Ok(outcome.clone()), true));
    }
    let outcome = match market.execute_with_new_ids(command, Some(tag)).await {
        Ok(outcome) => outcome,
        // Another process mapped the planned account ids: the caller plans again.
        Err(BridgeError::IdsTaken(what)) => {
            return Err(ApiError::Busy(format!(
                "market id {what} was taken by another server meanwhile; retry"
            )));
        }
        Err(error) => return Err(internal(error)),
    };
    Ok((outcome, false))
}
