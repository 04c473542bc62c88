//! The trading calendar: which local dates trade, and when each trading day closes.
//!
//! Pure: every question takes the time it is asked about. A day closes at the end of its last
//! session in the market's local time (a fixed UTC offset: Chongqing keeps +08:00 all year);
//! weekends (when closed) and listed holidays do not trade. The defaults are the Chongqing
//! exchange's: 09:30–11:30 and 13:00–15:00, +08:00, weekends closed.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

/// The longest run of closed days a calendar may have; a calendar that never trades is refused.
pub const CLOSED_DAYS_MAX: u64 = 366;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CalendarError {
    #[error("a calendar needs at least one session")]
    NoSession,
    #[error("session {index} opens at {open} but closes at {close}: it must close after it opens")]
    EmptySession {
        index: usize,
        open: NaiveTime,
        close: NaiveTime,
    },
    #[error("session {index} opens at {open}, before session {previous} closes")]
    Overlap {
        index: usize,
        previous: usize,
        open: NaiveTime,
    },
    #[error("UTC offset {0} minutes is outside ±18 hours")]
    Offset(i32),
    #[error("no trading day within {CLOSED_DAYS_MAX} days after {0}")]
    NeverTrades(NaiveDate),
}

/// One trading session, local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

/// A market's trading days and sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingCalendar {
    /// Local time's offset from UTC, in minutes (Chongqing: 480).
    pub utc_offset_minutes: i32,
    /// In order, not overlapping.
    pub sessions: Vec<Session>,
    #[serde(default = "yes")]
    pub weekends_closed: bool,
    /// Local dates that do not trade.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Whether orders are taken only during sessions (`true`: one placed outside them is
    /// refused) or at any time (`false`, the default: one placed at night rests in the book of
    /// the day open next, as on a venue that queues orders before the open).
    #[serde(default)]
    pub orders_in_sessions_only: bool,
}

fn yes() -> bool {
    true
}

fn time(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time of day")
}

impl Default for TradingCalendar {
    /// Chongqing: 09:30–11:30 and 13:00–15:00 at +08:00, weekends closed, no holidays listed.
    fn default() -> Self {
        TradingCalendar {
            utc_offset_minutes: 8 * 60,
            sessions: vec![
                Session {
                    open: time(9, 30),
                    close: time(11, 30),
                },
                Session {
                    open: time(13, 0),
                    close: time(15, 0),
                },
            ],
            weekends_closed: true,
            holidays: BTreeSet::new(),
            orders_in_sessions_only: false,
        }
    }
}

impl TradingCalendar {
    /// Checks the sessions and the offset, and that some day within [`CLOSED_DAYS_MAX`] of
    /// 2000-01-01 trades (a calendar closed every day would make every question unanswerable).
    pub fn validate(&self) -> Result<(), CalendarError> {
        self.offset()?;
        if self.sessions.is_empty() {
            return Err(CalendarError::NoSession);
        }
        let mut previous_close = None;
        for (index, session) in self.sessions.iter().enumerate() {
            if session.close <= session.open {
                return Err(CalendarError::EmptySession {
                    index,
                    open: session.open,
                    close: session.close,
                });
            }
            if let Some(close) = previous_close
                && session.open < close
            {
                return Err(CalendarError::Overlap {
                    index,
                    previous: index - 1,
                    open: session.open,
                });
            }
            previous_close = Some(session.close);
        }
        let start = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
        self.trading_day_on_or_after(start).map(drop)
    }

    /// Local time's offset from UTC.
    pub fn offset(&self) -> Result<FixedOffset, CalendarError> {
        FixedOffset::east_opt(self.utc_offset_minutes * 60)
            .ok_or(CalendarError::Offset(self.utc_offset_minutes))
    }

    /// Whether the local date `date` trades.
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let closed = (self.weekends_closed && weekend) || self.holidays.contains(&date);
        !closed
    }

    /// The local date of `at`.
    pub fn local_date(&self, at: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        Ok(at.with_timezone(&self.offset()?).date_naive())
    }

    /// When the local date `date` closes (the end of its last session), in UTC.
    pub fn close_of(&self, date: NaiveDate) -> Result<DateTime<Utc>, CalendarError> {
        let last = self.sessions.last().ok_or(CalendarError::NoSession)?;
        self.at_local(date, last.close)
    }

    /// When the local date `date` opens (the start of its first session), in UTC.
    pub fn open_of(&self, date: NaiveDate) -> Result<DateTime<Utc>, CalendarError> {
        let first = self.sessions.first().ok_or(CalendarError::NoSession)?;
        self.at_local(date, first.open)
    }

    /// The local time `time` on `date`, in UTC.
    pub fn at_local(
        &self,
        date: NaiveDate,
        time: NaiveTime,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let local = self
            .offset()?
            .from_local_datetime(&date.and_time(time))
            .single()
            .expect("a fixed offset maps every local time once");
        Ok(local.with_timezone(&Utc))
    }

    /// Whether `at` falls in a session of a trading day (from its open, before its close).
    pub fn in_session(&self, at: DateTime<Utc>) -> Result<bool, CalendarError> {
        let local = at.with_timezone(&self.offset()?);
        let time = local.time();
        Ok(self.is_trading_day(local.date_naive())
            && self
                .sessions
                .iter()
                .any(|s| s.open <= time && time < s.close))
    }

    /// The first session open after `at`.
    pub fn next_open(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let today = self.local_date(at)?;
        if self.is_trading_day(today) {
            for session in &self.sessions {
                let open = self.at_local(today, session.open)?;
                if open > at {
                    return Ok(open);
                }
            }
        }
        self.open_of(self.next_trading_day(today)?)
    }

    /// The first trading day on or after `date`.
    pub fn trading_day_on_or_after(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        (0..=CLOSED_DAYS_MAX)
            .filter_map(|n| date.checked_add_days(Days::new(n)))
            .find(|d| self.is_trading_day(*d))
            .ok_or(CalendarError::NeverTrades(date))
    }

    /// The first trading day after `date`.
    pub fn next_trading_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let next = date
            .checked_add_days(Days::new(1))
            .ok_or(CalendarError::NeverTrades(date))?;
        self.trading_day_on_or_after(next)
    }

    /// The trading day that is open at `at`, or the next one: the first trading day whose
    /// close is after `at`.
    pub fn open_day_at(&self, at: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        let today = self.trading_day_on_or_after(self.local_date(at)?)?;
        if self.close_of(today)? > at {
            Ok(today)
        } else {
            self.next_trading_day(today)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_the_next_open() {
        let calendar = TradingCalendar::default();
        // Friday 2026-12-04, +08:00: lunch break, then the afternoon, then Monday.
        let cases = [
            (
                "2026-12-04T09:29:59+08:00",
                false,
                "2026-12-04T09:30:00+08:00",
            ),
            (
                "2026-12-04T09:30:00+08:00",
                true,
                "2026-12-04T13:00:00+08:00",
            ),
            (
                "2026-12-04T11:30:00+08:00",
                false,
                "2026-12-04T13:00:00+08:00",
            ),
            (
                "2026-12-04T14:59:59+08:00",
                true,
                "2026-12-07T09:30:00+08:00",
            ),
            (
                "2026-12-05T10:00:00+08:00",
                false,
                "2026-12-07T09:30:00+08:00",
            ),
        ];
        for (at, open, next) in cases {
            assert_eq!(calendar.in_session(utc(at)).unwrap(), open, "{at}");
            assert_eq!(calendar.next_open(utc(at)).unwrap(), utc(next), "{at}");
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn chongqing_closes_at_three_in_the_afternoon_local_and_skips_weekends() {
        let calendar = TradingCalendar::default();
        calendar.validate().unwrap();
        // Friday 2026-12-04 closes 15:00 +08:00 = 07:00 UTC.
        assert_eq!(
            calendar.close_of(date("2026-12-04")).unwrap(),
            utc("2026-12-04T07:00:00Z")
        );
        // Friday after the close: the next open day is Monday.
        let after_close = utc("2026-12-04T07:00:00Z");
        assert_eq!(
            calendar.open_day_at(after_close).unwrap(),
            date("2026-12-07")
        );
        // Friday 06:59 UTC (14:59 local): still Friday.
        let before = utc("2026-12-04T06:59:00Z");
        assert_eq!(calendar.open_day_at(before).unwrap(), date("2026-12-04"));
        // Sunday 23:30 UTC is Monday 07:30 local: Monday.
        let sunday = utc("2026-12-06T23:30:00Z");
        assert_eq!(calendar.open_day_at(sunday).unwrap(), date("2026-12-07"));
        assert_eq!(
            calendar.next_trading_day(date("2026-12-04")).unwrap(),
            date("2026-12-07")
        );
    }

    #[test]
    fn holidays_do_not_trade_and_bad_calendars_are_refused() {
        let mut calendar = TradingCalendar::default();
        calendar.holidays.insert(date("2026-12-07"));
        assert_eq!(
            calendar.next_trading_day(date("2026-12-04")).unwrap(),
            date("2026-12-08")
        );
        let mut overlapping = TradingCalendar::default();
        overlapping.sessions[1].open = time(11, 0);
        assert!(matches!(
            overlapping.validate(),
            Err(CalendarError::Overlap { index: 1, .. })
        ));
        let mut never = TradingCalendar {
            weekends_closed: false,
            ..TradingCalendar::default()
        };
        let start = date("2000-01-01");
        never.holidays = (0..=CLOSED_DAYS_MAX)
            .map(|n| start.checked_add_days(Days::new(n)).unwrap())
            .collect();
        assert_eq!(never.validate(), Err(CalendarError::NeverTrades(start)));
        let empty = TradingCalendar {
            sessions: Vec::new(),
            ..TradingCalendar::default()
        };
        assert_eq!(empty.validate(), Err(CalendarError::NoSession));
    }

    proptest::proptest! {
        /// The day open at any time is a trading day that closes after it, and no earlier
        /// trading day does; one millisecond before a day's close, that day is open (the
        /// inversion the day-close duty relies on).
        #[test]
        fn the_open_day_is_the_first_trading_day_closing_later(
            minutes in 0_i64..(60 * 24 * 365 * 3),
            holidays in proptest::collection::btree_set(0_u64..1_100, 0..60),
        ) {
            let start = date("2025-01-01");
            let calendar = TradingCalendar {
                holidays: holidays
                    .into_iter()
                    .map(|n| start.checked_add_days(Days::new(n)).unwrap())
                    .collect(),
                ..TradingCalendar::default()
            };
            let at = utc("2025-01-01T00:00:00Z") + chrono::Duration::minutes(minutes);
            let open = calendar.open_day_at(at).unwrap();
            proptest::prop_assert!(calendar.is_trading_day(open));
            proptest::prop_assert!(calendar.close_of(open).unwrap() > at);
            let mut day = calendar.local_date(at).unwrap();
            while day < open {
                if calendar.is_trading_day(day) {
                    proptest::prop_assert!(calendar.close_of(day).unwrap() <= at);
                }
                day = day.succ_opt().unwrap();
            }
            let just_before = calendar.close_of(open).unwrap() - chrono::Duration::milliseconds(1);
            proptest::prop_assert_eq!(calendar.open_day_at(just_before).unwrap(), open);
        }
    }
}
