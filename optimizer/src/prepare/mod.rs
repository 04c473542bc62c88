//! Validation, eligibility and tiering: turns a [`Round`] into integer rows and columns.
//!
//! Quantities become integers in ledger units (10^-scale of the pollutant's unit) so rounding and
//! conservation are exact. Two kinds of row exist:
//! - *draw* rows (pools, enterprise shares): usage = Σ ceil(ratio × grant), in units, because a
//!   draw is posted at the ledger scale and must cover the replacement ratio;
//! - *exact* rows (regional caps): usage = Σ coefficient × grant, in sub-units of 10^-(scale+6).

mod applications;
mod eligibility;
mod rows;
mod validate;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rust_decimal::Decimal;

use crate::allocation::{Constraint, RuleHit};
use crate::error::Problem;
use crate::model::Round;
use validate::{Ids, check_policy, index};

/// Decimal places allowed in ratios, transfer coefficients and shares.
pub(crate) const COEF_PLACES: u32 = 6;
pub(crate) const COEF_ONE: i128 = 1_000_000;
pub const SCALE_MAX: u32 = 9;
pub const APPLICATIONS_MAX: usize = 5_000_000;
pub const POLLUTANTS_MAX: usize = 32;
/// Largest quantity in ledger units; keeps every sum and product inside i128.
pub(crate) const UNITS_MAX: i128 = 1_000_000_000_000_000_000;
pub(super) const RATIO_MAX: i128 = 100 * COEF_ONE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    /// ceil(coef × q / 10^6), ledger units.
    Draw,
    /// coef × q, sub-units.
    Exact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowKind {
    Pool(usize),
    Cap(usize),
    Share { pool: usize, enterprise: String },
}

#[derive(Debug, Clone)]
pub(crate) struct RowDef {
    pub kind: RowKind,
    pub pollutant: usize,
    pub usage: Usage,
    pub rhs: i128,
    /// Row units per tonne, to report shadow prices per tonne.
    pub units_per_tonne: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub pollutant: usize,
    pub requested: i128,
    pub pool: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub row: usize,
    pub item: usize,
    pub coef: i128,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub input: usize,
    pub tier: Option<u8>,
    pub exclusions: Vec<RuleHit>,
    pub notes: Vec<RuleHit>,
    pub items: Vec<Item>,
    pub entries: Vec<Entry>,
    pub missing: Vec<Constraint>,
    /// District, basin and airshed indices.
    pub place: [usize; 3],
    pub min_share: f64,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct PoolInfo {
    pub input: usize,
    pub pollutant: usize,
    pub total: i128,
    pub held: i128,
    pub available: i128,
    /// (reduction id, units), sorted by reduction id.
    pub sources: Vec<(String, i128)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pollutant {
    pub id: String,
    pub scale: u32,
}

/// The validated, integer form of a round. `apps` is in priority order: tier, credit grade,
/// filing time, id; excluded projects last.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub pollutants: Vec<Pollutant>,
    pub pools: Vec<PoolInfo>,
    pub rows: Vec<RowDef>,
    pub apps: Vec<App>,
}

/// FNV-1a. Keys are ids we validate ourselves, so hash flooding is no concern, and SipHash was the
/// largest cost of preparing a million applications.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub(crate) fn units(d: Decimal, scale: u32) -> Result<i128, &'static str> {
    let d = d.normalize();
    if d.scale() > scale {
        return Err("scale");
    }
    let factor = 10i128.pow(scale - d.scale());
    match d.mantissa().checked_mul(factor) {
        Some(u) if u.abs() <= UNITS_MAX => Ok(u),
        _ => Err("large"),
    }
}

pub(crate) fn to_decimal(units: i128, scale: u32) -> Decimal {
    // UNITS_MAX keeps every amount far below Decimal's 96-bit mantissa.
    Decimal::from_i128_with_scale(units, scale)
}

pub(super) fn coef(d: Decimal) -> Option<i128> {
    units(d, COEF_PLACES).ok()
}

/// Validates `round` and builds the integer model; every problem found is returned at once.
pub(crate) fn prepare(round: &Round) -> Result<Prepared, Vec<Problem>> {
    let mut problems = Vec::new();
    let ids = Ids {
        pollutants: index(
            "pollutant",
            round.pollutants.iter().map(|p| p.id.as_str()),
            &mut problems,
        ),
        districts: index(
            "district",
            round.districts.iter().map(String::as_str),
            &mut problems,
        ),
        basins: index(
            "basin",
            round.basins.iter().map(String::as_str),
            &mut problems,
        ),
        airsheds: index(
            "airshed",
            round.airsheds.iter().map(String::as_str),
            &mut problems,
        ),
    };
    if round.pollutants.len() > POLLUTANTS_MAX {
        problems.push(Problem::TooMany {
            kind: "pollutant",
            count: round.pollutants.len(),
            max: POLLUTANTS_MAX,
        });
    }
    if round.applications.len() > APPLICATIONS_MAX {
        problems.push(Problem::TooMany {
            kind: "application",
            count: round.applications.len(),
            max: APPLICATIONS_MAX,
        });
    }
    let pollutants: Vec<Pollutant> = round
        .pollutants
        .iter()
        .map(|p| {
            if p.scale > SCALE_MAX {
                problems.push(Problem::ScaleTooFine {
                    pollutant: p.id.clone(),
                    scale: p.scale,
                    max: SCALE_MAX,
                });
            }
            Pollutant {
                id: p.id.clone(),
                scale: p.scale.min(SCALE_MAX),
            }
        })
        .collect();
    check_policy(round, &ids, &pollutants, &mut problems);
    let (pools, pool_index) = validate::build_pools(round, &ids, &pollutants, &mut problems);
    let apps = applications::build_apps(round, &ids, &pollutants, &pool_index, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(rows::build_rows(round, &pollutants, pools, apps))
}

pub(crate) fn ceil_div(a: i128, b: i128) -> i128 {
    // Operands are non-negative here: quantities were validated.
    (a + b - 1) / b
}

impl RowDef {
    /// Usage of this row by `q` ledger units of an entry with coefficient `coef`.
    pub(crate) fn usage_of(&self, coef: i128, q: i128) -> i128 {
        match self.usage {
            Usage::Draw => ceil_div(coef * q, COEF_ONE),
            Usage::Exact => coef * q,
        }
    }

    /// Coefficient of the continuous model: row units per unit of the item.
    pub(crate) fn float_coef(&self, coef: i128) -> f64 {
        match self.usage {
            Usage::Draw => coef as f64 / COEF_ONE as f64,
            Usage::Exact => coef as f64,
        }
    }
}
