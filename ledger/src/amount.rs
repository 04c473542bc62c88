//! Exact amounts: a decimal at the edge, an integer count of minor units inside.
//!
//! Every instrument declares a scale (decimal places). An amount is stored as `i64` minor units
//! (`value × 10^scale`), so SQLite never sees a float and sums are exact. Input with more places
//! than the scale is refused, never rounded.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;

/// The largest scale any instrument may declare. Nine places keep 9.2 × 10^9 whole units
/// representable in an `i64`, far above any regional cap or cash balance.
pub const SCALE_MAX: u32 = 9;

/// A non-negative whole number of an instrument's minor units.
pub type Units = i64;

/// Converts `value` to minor units at `scale`, refusing more places than the scale allows,
/// zero and negative amounts, and values that do not fit.
pub fn to_units(instrument: &str, value: Decimal, scale: u32) -> Result<Units, LedgerError> {
    if value <= Decimal::ZERO {
        return Err(LedgerError::NonPositiveAmount {
            instrument: instrument.to_owned(),
            amount: value,
        });
    }
    // 1.500 at scale 3 is fine; trailing zeros carry no extra precision.
    let normalized = value.normalize();
    if normalized.scale() > scale {
        return Err(LedgerError::TooManyDecimalPlaces {
            instrument: instrument.to_owned(),
            amount: value,
            scale,
        });
    }
    let widen = 10_i128.pow(scale - normalized.scale());
    normalized
        .mantissa()
        .checked_mul(widen)
        .and_then(|units| i64::try_from(units).ok())
        .ok_or(LedgerError::AmountOutOfRange {
            instrument: instrument.to_owned(),
            amount: value,
        })
}

/// The decimal value of `units` minor units at `scale`.
pub fn to_decimal(units: Units, scale: u32) -> Decimal {
    Decimal::new(units, scale)
}

/// A decimal amount as it travels in requests, receipts and reports: serialized as a string so
/// JSON readers never turn it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(#[serde(with = "rust_decimal::serde::str")] pub Decimal);

impl From<Decimal> for Quantity {
    fn from(value: Decimal) -> Self {
        Quantity(value)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn converts_exactly_within_scale() {
        assert_eq!(to_units("COD", d("12.345"), 3).unwrap(), 12_345);
        assert_eq!(to_units("COD", d("12.3"), 3).unwrap(), 12_300);
        assert_eq!(to_units("COD", d("12.3000"), 3).unwrap(), 12_300);
        assert_eq!(to_decimal(12_345, 3), d("12.345"));
    }

    #[test]
    fn refuses_extra_places_zero_negative_and_overflow() {
        assert!(matches!(
            to_units("CNY", d("1.005"), 2),
            Err(LedgerError::TooManyDecimalPlaces { scale: 2, .. })
        ));
        assert!(matches!(
            to_units("CNY", d("0"), 2),
            Err(LedgerError::NonPositiveAmount { .. })
        ));
        assert!(matches!(
            to_units("CNY", d("-1"), 2),
            Err(LedgerError::NonPositiveAmount { .. })
        ));
        assert!(matches!(
            to_units("CNY", d("100000000000000000000"), 2),
            Err(LedgerError::AmountOutOfRange { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(units in 1_i64..i64::MAX / 2, scale in 0_u32..=SCALE_MAX) {
            let value = to_decimal(units, scale);
            proptest::prop_assert_eq!(to_units("X", value, scale).unwrap(), units);
        }
    }
}
