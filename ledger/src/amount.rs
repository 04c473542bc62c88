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
/// JSON readers never turn it into a float, and read only in its plain form ([`plain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(#[serde(with = "plain")] pub Decimal);

/// Whether `text` is a decimal in its one plain spelling: an optional `-`, digits, and optionally
/// a point followed by digits (`12`, `-0.5`, `100.000`). Exponents (`1e2`), a leading `+`, a bare
/// point (`.5`, `1.`), spaces and digit separators are refused, so an amount has one spelling and
/// a reader never guesses.
pub fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

/// Parses a plain decimal ([`is_plain_decimal`]) exactly, keeping its scale (`1.50` has two
/// places), or says why not.
pub fn parse_plain(text: &str) -> Result<Decimal, String> {
    if !is_plain_decimal(text) {
        return Err(format!(
            "{text:?} is not a plain decimal: write digits with an optional `-` and `.` (e.g. \"12.5\"); no exponent, sign `+` or bare point"
        ));
    }
    Decimal::from_str_exact(text).map_err(|error| format!("{text:?}: {error}"))
}

/// Serde for decimals as plain strings (`#[serde(with = "ledger::amount::plain")]`): written as
/// `rust_decimal` writes them, read only in their plain spelling ([`parse_plain`]).
pub mod plain {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str::serialize(value, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::parse_plain(&text).map_err(serde::de::Error::custom)
    }
}

/// [`plain`] for optional decimals (`null` or absent is `None`).
pub mod plain_option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str_option::serialize(value, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        match <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)? {
            Some(text) => super::parse_plain(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

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
    fn only_plain_decimals_are_read() {
        for good in ["0", "12", "-1", "1.50", "0.001", "99999999999999999999"] {
            assert!(is_plain_decimal(good), "{good}");
            let quantity: Quantity = serde_json::from_str(&format!("\"{good}\"")).unwrap();
            assert_eq!(quantity.0.to_string(), good);
        }
        for bad in [
            "1e2", "1E-3", "+1", ".5", "1.", "", "-", " 1", "1 ", "1_000", "1,5", "0x10", "١",
            "--1", "1.2.3", "NaN", "inf",
        ] {
            assert!(!is_plain_decimal(bad), "{bad}");
            let read = serde_json::from_str::<Quantity>(&format!("\"{bad}\""));
            assert!(read.is_err(), "{bad} was read");
        }
        assert_eq!(parse_plain("1.50").unwrap().scale(), 2);
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
