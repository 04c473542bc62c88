//! Instruments: what the ledger counts. A discharge right is one pollutant in one basin or airshed
//! for one validity period; a carbon allowance or offset credit is one vintage; cash is CNY.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::amount::SCALE_MAX;
use crate::error::LedgerError;

/// Where a pollutant's rights are valid: water pollutants in a river basin, air pollutants in an
/// airshed. A right never crosses from one to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Water,
    Air,
}

impl Medium {
    /// The kind of region a right for this medium lives in.
    pub fn region_kind(self) -> RegionKind {
        match self {
            Medium::Water => RegionKind::Basin,
            Medium::Air => RegionKind::Airshed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    Basin,
    Airshed,
}

/// A pollutant the register knows (COD, NH3-N, SO2, NOx by default; more by configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pollutant {
    pub code: String,
    pub name: String,
    pub medium: Medium,
}

/// A river basin or an airshed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub kind: RegionKind,
}

/// Discharge rights are re-verified every five years, so no right is valid for longer.
pub const VALIDITY_YEARS_MAX: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InstrumentKind {
    /// 排污权: tonnes per year of one pollutant in one basin or airshed, valid from..to inclusive.
    DischargeRight {
        pollutant: String,
        region: String,
        valid_from: NaiveDate,
        valid_to: NaiveDate,
    },
    /// 碳配额: one tCO2e allowance of a vintage.
    CarbonAllowance { vintage: i32 },
    /// Offset credits such as CCER, by scheme and vintage.
    OffsetCredit { scheme: String, vintage: i32 },
    /// Settlement cash.
    Cash { currency: String },
}

/// An instrument's definition: immutable once recorded. (Unknown fields are refused by the
/// flattened kind, which sees every field the outer struct does not take.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub code: String,
    #[serde(flatten)]
    pub kind: InstrumentKind,
    /// Decimal places of the unit (e.g. 3 for tonnes of a pollutant, 2 for CNY).
    pub scale: u32,
    /// The unit amounts are counted in, e.g. "t/a", "tCO2e", "CNY".
    pub unit: String,
}

impl Instrument {
    /// The last day the instrument can be used, if it expires.
    pub fn valid_to(&self) -> Option<NaiveDate> {
        match &self.kind {
            InstrumentKind::DischargeRight { valid_to, .. } => Some(*valid_to),
            _ => None,
        }
    }

    pub fn is_cash(&self) -> bool {
        matches!(self.kind, InstrumentKind::Cash { .. })
    }

    /// Refuses use after the validity period has ended.
    pub fn check_usable(&self, today: NaiveDate) -> Result<(), LedgerError> {
        match self.valid_to() {
            Some(valid_to) if today > valid_to => Err(LedgerError::InstrumentExpired {
                instrument: self.code.clone(),
                valid_to,
            }),
            _ => Ok(()),
        }
    }

    /// Checks the definition on its own: code, scale and validity period. Pollutant and region are
    /// checked against the register by the caller, which knows them.
    pub fn validate_shape(&self) -> Result<(), LedgerError> {
        let invalid = |reason: String| LedgerError::InvalidInstrument {
            instrument: self.code.clone(),
            reason,
        };
        validate_code(&self.code).map_err(invalid)?;
        if self.scale > SCALE_MAX {
            return Err(invalid(format!(
                "scale {} exceeds the maximum of {SCALE_MAX}",
                self.scale
            )));
        }
        if self.unit.trim().is_empty() {
            return Err(invalid("unit must not be empty".into()));
        }
        match &self.kind {
            InstrumentKind::DischargeRight {
                valid_from,
                valid_to,
                ..
            } => {
                if valid_to < valid_from {
                    return Err(invalid(format!(
                        "valid_to {valid_to} is before valid_from {valid_from}"
                    )));
                }
                let limit = valid_from
                    .with_year(valid_from.year() + VALIDITY_YEARS_MAX)
                    .unwrap_or(*valid_from);
                if *valid_to >= limit {
                    return Err(invalid(format!(
                        "validity {valid_from}..{valid_to} exceeds {VALIDITY_YEARS_MAX} years; rights are re-verified every {VALIDITY_YEARS_MAX} years"
                    )));
                }
            }
            InstrumentKind::CarbonAllowance { vintage }
            | InstrumentKind::OffsetCredit { vintage, .. } => {
                if !(2000..=2100).contains(vintage) {
                    return Err(invalid(format!("vintage {vintage} is outside 2000..=2100")));
                }
            }
            InstrumentKind::Cash { currency } => {
                if currency != "CNY" {
                    return Err(invalid(format!(
                        "settlement currency must be CNY, not {currency}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Codes of instruments, pollutants and regions: 1-64 characters of `A-Z a-z 0-9 . _ -`, so they
/// are safe in account keys, URLs and file names.
pub fn validate_code(code: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > 64 {
        return Err(format!("code {code:?} must be 1 to 64 characters long"));
    }
    match code
        .chars()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(at) => Err(format!(
            "code {code:?} has a character outside A-Z a-z 0-9 . _ - at position {}",
            at + 1
        )),
        None => Ok(()),
    }
}

/// The pollutants every register starts with (national total-quantity control list, plus VOCs and
/// total phosphorus which newer regimes add).
pub fn default_pollutants() -> Vec<Pollutant> {
    let p = |code: &str, name: &str, medium| Pollutant {
        code: code.into(),
        name: name.into(),
        medium,
    };
    vec![
        p("COD", "chemical oxygen demand", Medium::Water),
        p("NH3-N", "ammonia nitrogen", Medium::Water),
        p("TP", "total phosphorus", Medium::Water),
        p("SO2", "sulphur dioxide", Medium::Air),
        p("NOx", "nitrogen oxides", Medium::Air),
        p("VOCs", "volatile organic compounds", Medium::Air),
    ]
}
