//! Public market data of one book: the trade tape with sequence numbers, depth, and the day's
//! open, high, low, last and volume-weighted average price (the close).

use crate::ids::{AccountId, InstrumentId, OrderId, Side, Timestamp};
use serde::{Deserialize, Serialize};

/// One execution. `seq` is gapless per instrument and starts at 1; it doubles as the resume
/// point of a market-data feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub seq: u64,
    pub instrument: InstrumentId,
    pub price_ticks: u64,
    pub lots: u64,
    pub buyer: AccountId,
    pub seller: AccountId,
    pub buy_order: OrderId,
    pub sell_order: OrderId,
    /// The side of the incoming order that took liquidity.
    pub aggressor: Side,
    pub at: Timestamp,
}

/// Aggregated book level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthLevel {
    pub price_ticks: u64,
    pub lots: u64,
    pub orders: u32,
}

/// The best levels of both sides, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    pub bids: Vec<DepthLevel>,
    pub asks: Vec<DepthLevel>,
}

/// Open, high, low, last and VWAP of one trading day, in ticks and lots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyStats {
    pub open_ticks: Option<u64>,
    pub high_ticks: Option<u64>,
    pub low_ticks: Option<u64>,
    pub last_ticks: Option<u64>,
    pub volume_lots: u64,
    /// Σ price × lots, the VWAP numerator.
    pub turnover_tick_lots: u128,
    pub trades: u64,
}

impl DailyStats {
    pub(crate) fn record(&mut self, price_ticks: u64, lots: u64) {
        self.open_ticks.get_or_insert(price_ticks);
        self.high_ticks = Some(self.high_ticks.map_or(price_ticks, |h| h.max(price_ticks)));
        self.low_ticks = Some(self.low_ticks.map_or(price_ticks, |l| l.min(price_ticks)));
        self.last_ticks = Some(price_ticks);
        self.volume_lots += lots;
        self.turnover_tick_lots += u128::from(price_ticks) * u128::from(lots);
        self.trades += 1;
    }

    /// The day's volume-weighted average price, rounded half up to the tick grid so it can be
    /// the next day's reference price.
    pub fn vwap_ticks(&self) -> Option<u64> {
        if self.volume_lots == 0 {
            return None;
        }
        let volume = u128::from(self.volume_lots);
        let rounded = (2 * self.turnover_tick_lots + volume) / (2 * volume);
        // The VWAP lies between the day's low and high, so it fits in u64.
        u64::try_from(rounded).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vwap_rounds_half_up_to_the_tick() {
        let mut day = DailyStats::default();
        day.record(100, 1);
        day.record(101, 1);
        assert_eq!(day.vwap_ticks(), Some(101));
        day.record(100, 2);
        assert_eq!(day.vwap_ticks(), Some(100));
        assert_eq!(
            (day.open_ticks, day.high_ticks, day.low_ticks),
            (Some(100), Some(101), Some(100))
        );
    }
}
