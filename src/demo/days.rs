//! The demo's time: it replays the last few trading days before now on the ledger's clock,
//! moved forward by the demo (never past the wall clock), so the day closes, the expiry of a
//! transfer nobody accepted and the write-off of a permit whose validity ended all happen as
//! the duties of `ets serve` perform them. A seasonal permit, valid through the first day only,
//! gives the write-off something to do.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{Result, bail};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ledger::{Action, Ledger, LedgerOptions, Party};
use market::TradingCalendar;

use super::dataset::{AIRSHEDS, Firm};
use super::{q, submit};

/// How many trading days the demo's market runs.
pub const DAYS: usize = 3;

/// The demo's clock: the ledger reads it; the demo sets it.
#[derive(Clone)]
pub struct DemoClock(Arc<AtomicI64>);

impl DemoClock {
    pub fn starting(at: DateTime<Utc>) -> DemoClock {
        DemoClock(Arc::new(AtomicI64::new(at.timestamp_micros())))
    }

    /// Moves the clock to `at`; never backwards (the journal's times only go forward).
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.fetch_max(at.timestamp_micros(), Ordering::SeqCst);
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }

    pub fn options(&self) -> LedgerOptions {
        let me = self.clone();
        LedgerOptions {
            clock: Arc::new(move || me.now()),
            ..LedgerOptions::default()
        }
    }
}

/// The demo's trading days, oldest first: the last `DAYS - 1` whose close is before `now`,
/// then the day open at `now` (or the next to open), which the demo trades in at `now` and
/// leaves open, as `ets serve` would.
pub fn demo_days(calendar: &TradingCalendar, now: DateTime<Utc>) -> Result<Vec<NaiveDate>> {
    let current = calendar.open_day_at(now)?;
    let mut days = Vec::new();
    let mut day = calendar.local_date(now)? - Duration::days(40);
    loop {
        day = calendar.next_trading_day(day)?;
        if day >= current {
            break;
        }
        days.push(day);
    }
    if days.len() < DAYS - 1 {
        bail!("the default calendar has fewer than {DAYS} trading days in the last 40 days");
    }
    let mut days = days.split_off(days.len() - (DAYS - 1));
    days.push(current);
    Ok(days)
}

/// The seasonal permit's code: NOx in the main-city airshed for the heating season ending `day`.
pub fn seasonal_code(day: NaiveDate) -> String {
    format!("NOx.{}.season-{}", AIRSHEDS[0].0, day.format("%Y%m%d"))
}

/// The seasonal permit, valid through `day`: 60 t in the reserve and 12.5 t to each of the
/// first four enterprises in its airshed.
pub async fn issue_seasonal(ledger: &Ledger, firms: &[Firm], day: NaiveDate) -> Result<()> {
    let code = seasonal_code(day);
    let definition = serde_json::json!({"type": "define_instrument", "instrument": {
        "code": code, "kind": "discharge_right", "pollutant": "NOx", "region": AIRSHEDS[0].0,
        "valid_from": (day - Duration::days(120)).to_string(), "valid_to": day.to_string(),
        "scale": 3, "unit": "t/a"}});
    let mut actions = vec![serde_json::from_value(definition)?];
    actions.push(Action::Issue {
        instrument: code.clone(),
        to: Party::Reserve,
        amount: q(60_000, 3),
    });
    let in_airshed = firms.iter().filter(|f| f.district.airshed == AIRSHEDS[0].0);
    for firm in in_airshed.take(4) {
        actions.push(Action::Issue {
            instrument: code.clone(),
            to: Party::Enterprise(firm.code.clone()),
            amount: q(12_500, 3),
        });
    }
    submit(ledger, "seasonal-permit", actions).await?;
    Ok(())
}
