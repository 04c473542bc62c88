//! Instrument specifications and the decimal edge: prices and quantities arrive as
//! `rust_decimal::Decimal` and leave this module as integer ticks and lots.
//!
//! Inside the engine a price is a count of ticks (`u64`, one tick = `tick_fen` fen per tonne)
//! and a quantity is a count of lots (`u64`, one lot = `lot_t` tonnes). Cash is in fen.

use crate::error::MarketError;
use crate::ids::InstrumentId;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// Prices are quoted in CNY with at most two decimal places (fen).
pub const PRICE_DECIMAL_PLACES_MAX: u32 = 2;
/// Basis points in 100%.
pub const BASIS_POINTS: u64 = 10_000;
/// Upper bound on live orders per book, so a book's memory is bounded.
pub const ORDERS_PER_BOOK_MAX: u32 = 4_000_000;
/// Upper bound on the width of the regular band in ticks (the dense ladder is this long).
pub const BAND_TICKS_MAX: u64 = 4_000_000;

/// The static rules of one instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSpec {
    pub id: InstrumentId,
    /// Price tick in fen per tonne (1 = CNY 0.01).
    pub tick_fen: u64,
    /// Lot size in tonnes.
    pub lot_t: u64,
    /// Orders at or above this size are block trades, negotiated bilaterally, not in the book.
    pub block_min_t: u64,
    /// Regular band: orders within ± this many basis points of the previous close (1000 = 10%).
    pub regular_band_bp: u64,
    /// Block band: block trades within ± this many basis points of the previous close.
    pub block_band_bp: u64,
    /// Largest order accepted, in lots.
    pub order_lots_max: u64,
    /// Most live orders the book keeps.
    pub orders_max: u32,
}

/// An inclusive price band in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    pub lower_ticks: u64,
    pub upper_ticks: u64,
}

impl Band {
    pub fn contains(&self, price_ticks: u64) -> bool {
        (self.lower_ticks..=self.upper_ticks).contains(&price_ticks)
    }
}

impl InstrumentSpec {
    /// A spec with the Chinese national market's defaults: ±10% regular band, ±30% block band,
    /// block trades from 100,000 t.
    pub fn new(id: InstrumentId, tick_fen: u64, lot_t: u64) -> Result<Self, MarketError> {
        let spec = InstrumentSpec {
            id,
            tick_fen,
            lot_t,
            block_min_t: 100_000,
            regular_band_bp: 1_000,
            block_band_bp: 3_000,
            order_lots_max: 1_000_000_000,
            orders_max: ORDERS_PER_BOOK_MAX,
        };
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), MarketError> {
        let problem = if self.tick_fen == 0 {
            Some("tick must be positive")
        } else if self.lot_t == 0 {
            Some("lot must be positive")
        } else if self.regular_band_bp >= BASIS_POINTS || self.block_band_bp >= BASIS_POINTS {
            Some("bands must be below 100%")
        } else if self.block_band_bp < self.regular_band_bp {
            Some("the block band must be at least as wide as the regular band")
        } else if self.orders_max == 0 || self.orders_max > ORDERS_PER_BOOK_MAX {
            Some("orders_max must be in 1..=ORDERS_PER_BOOK_MAX")
        } else {
            None
        };
        problem.map_or(Ok(()), |why| Err(MarketError::InvalidConfig(why)))
    }

    /// Converts a price in CNY per tonne to ticks; refuses more than two decimal places, zero,
    /// negatives and prices off the tick grid.
    pub fn price_ticks(&self, price_cny_per_t: Decimal) -> Result<u64, MarketError> {
        let normalized = price_cny_per_t.normalize();
        if normalized.scale() > PRICE_DECIMAL_PLACES_MAX {
            return Err(MarketError::TooManyDecimalPlaces {
                value: price_cny_per_t,
                places_max: PRICE_DECIMAL_PLACES_MAX,
            });
        }
        let off_grid = || MarketError::NotMultipleOfTick {
            price: price_cny_per_t,
            tick: self.tick_cny(),
        };
        if normalized <= Decimal::ZERO {
            return Err(off_grid());
        }
        let fen = (normalized * Decimal::ONE_HUNDRED)
            .to_u64()
            .ok_or(MarketError::OutOfRange(price_cny_per_t))?;
        if fen % self.tick_fen != 0 {
            return Err(off_grid());
        }
        Ok(fen / self.tick_fen)
    }

    /// Converts a quantity in tonnes to lots; refuses fractions of a tonne, zero and sizes off
    /// the lot grid.
    pub fn quantity_lots(&self, quantity_t: Decimal) -> Result<u64, MarketError> {
        let normalized = quantity_t.normalize();
        if normalized.scale() > 0 {
            return Err(MarketError::TooManyDecimalPlaces {
                value: quantity_t,
                places_max: 0,
            });
        }
        let tonnes = normalized
            .to_u64()
            .ok_or(MarketError::OutOfRange(quantity_t))?;
        if tonnes == 0 || tonnes % self.lot_t != 0 {
            return Err(MarketError::NotMultipleOfLot {
                quantity: quantity_t,
                lot_t: self.lot_t,
            });
        }
        Ok(tonnes / self.lot_t)
    }

    /// The tick as a decimal price in CNY per tonne.
    pub fn tick_cny(&self) -> Decimal {
        Decimal::new(i64::try_from(self.tick_fen).unwrap_or(i64::MAX), 2)
    }

    /// A price in ticks as CNY per tonne.
    pub fn price_cny_per_t(&self, price_ticks: u64) -> Decimal {
        let fen = u128::from(price_ticks) * u128::from(self.tick_fen);
        Decimal::from(fen) / Decimal::ONE_HUNDRED
    }

    /// Regular (continuous trading) band around the previous close.
    pub fn regular_band(&self, previous_close_ticks: u64) -> Band {
        band_around(previous_close_ticks, self.regular_band_bp)
    }

    /// Block-trade band around the previous close.
    pub fn block_band(&self, previous_close_ticks: u64) -> Band {
        band_around(previous_close_ticks, self.block_band_bp)
    }

    /// Tonnes in `lots`.
    pub fn tonnes(&self, lots: u64) -> Result<u64, MarketError> {
        lots.checked_mul(self.lot_t).ok_or(MarketError::Overflow)
    }

    /// Cash in fen for `lots` at `price_ticks`.
    pub fn cash_fen(&self, lots: u64, price_ticks: u64) -> Result<u64, MarketError> {
        cash_fen(self.lot_t, self.tick_fen, lots, price_ticks)
    }
}

/// Cash in fen for `lots` lots of `lot_t` tonnes at `price_ticks` ticks of `tick_fen` fen.
pub(crate) fn cash_fen(
    lot_t: u64,
    tick_fen: u64,
    lots: u64,
    price_ticks: u64,
) -> Result<u64, MarketError> {
    let fen = u128::from(lots) * u128::from(lot_t) * u128::from(price_ticks) * u128::from(tick_fen);
    u64::try_from(fen).map_err(|_| MarketError::Overflow)
}

/// The band is rounded inwards (lower bound up, upper bound down) so no price in it is more than
/// `bp` away from the close; it never reaches zero.
fn band_around(close_ticks: u64, bp: u64) -> Band {
    let close = u128::from(close_ticks);
    let lower = (close * u128::from(BASIS_POINTS - bp)).div_ceil(u128::from(BASIS_POINTS));
    let upper = close * u128::from(BASIS_POINTS + bp) / u128::from(BASIS_POINTS);
    Band {
        lower_ticks: u64::try_from(lower).unwrap_or(u64::MAX).max(1),
        upper_ticks: u64::try_from(upper).unwrap_or(u64::MAX).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn spec() -> InstrumentSpec {
        InstrumentSpec::new(InstrumentId(1), 5, 10).unwrap_or_else(|e| panic!("{e}"))
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn price_edge_accepts_grid_and_refuses_the_rest() {
        let spec = spec();
        assert_eq!(spec.price_ticks(dec("50.05")), Ok(1001));
        assert_eq!(spec.price_ticks(dec("50.050")), Ok(1001));
        assert!(matches!(
            spec.price_ticks(dec("50.051")),
            Err(MarketError::TooManyDecimalPlaces { .. })
        ));
        assert!(matches!(
            spec.price_ticks(dec("50.01")),
            Err(MarketError::NotMultipleOfTick { .. })
        ));
        assert!(matches!(
            spec.price_ticks(dec("-1")),
            Err(MarketError::NotMultipleOfTick { .. })
        ));
        assert_eq!(spec.price_cny_per_t(1001), dec("50.05"));
    }

    #[test]
    fn quantity_edge_accepts_whole_lots_only() {
        let spec = spec();
        assert_eq!(spec.quantity_lots(dec("120")), Ok(12));
        assert!(matches!(
            spec.quantity_lots(dec("125")),
            Err(MarketError::NotMultipleOfLot { .. })
        ));
        assert!(matches!(
            spec.quantity_lots(dec("10.5")),
            Err(MarketError::TooManyDecimalPlaces { .. })
        ));
        assert!(matches!(
            spec.quantity_lots(dec("0")),
            Err(MarketError::NotMultipleOfLot { .. })
        ));
    }

    #[test]
    fn bands_round_inwards() {
        let spec = spec();
        assert_eq!(
            spec.regular_band(1005),
            Band {
                lower_ticks: 905,
                upper_ticks: 1105
            }
        );
        assert_eq!(spec.regular_band(9).lower_ticks, 9);
        assert_eq!(spec.block_band(1000).upper_ticks, 1300);
    }
}
