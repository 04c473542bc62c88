//! Input of one reallocation round: pollutants, regions, pools of freed capacity and applications.
//!
//! Every list is keyed by an id; the optimizer sorts by id itself, so the order of the input never
//! changes the result.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::policy::Policy;

/// One reallocation round: everything the optimizer needs, and nothing it has to fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Round {
    pub id: String,
    pub pollutants: Vec<PollutantSpec>,
    pub districts: Vec<String>,
    pub basins: Vec<String>,
    pub airsheds: Vec<String>,
    pub pools: Vec<Pool>,
    pub applications: Vec<Application>,
    pub policy: Policy,
}

/// Where a pollutant's rights may travel: water rights stay in their basin, air rights in their
/// airshed; global ones (carbon quotas) have a single pool per pollutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Water,
    Air,
    Global,
}

/// A pollutant and the ledger scale its quantities are posted at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollutantSpec {
    pub id: String,
    pub medium: Medium,
    /// Decimal places of the ledger amounts (3 = kilograms when the unit is tonnes).
    pub scale: u32,
    /// Unit of every quantity of this pollutant, e.g. `t/a`; informative only.
    #[serde(default)]
    pub unit: String,
}

/// Freed capacity of one pollutant in one basin or airshed (or the whole province for a global
/// pollutant), made of certified reductions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub id: String,
    pub pollutant: String,
    /// Basin id for water, airshed id for air, `None` for a global pollutant.
    #[serde(default)]
    pub area: Option<String>,
    pub sources: Vec<Source>,
}

/// One certified reduction feeding a pool; provenance flows name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub reduction_id: String,
    pub quantity: Decimal,
    /// If given, must equal the pollutant's unit.
    #[serde(default)]
    pub unit: Option<String>,
}

/// An applicant's project asking for capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub id: String,
    pub enterprise: String,
    #[serde(default)]
    pub project: String,
    /// Quantities needed together, in fixed proportion (a Leontief bundle).
    pub requests: Vec<Request>,
    /// 0 = any part helps, 1 = all or nothing; a grant is either 0 or at least this share.
    #[serde(default)]
    pub min_viable_share: Decimal,
    pub location: Location,
    /// Classification tags (e.g. `high_tech`, `strategic_emerging`, `major`, `chemical`,
    /// `new_industrial_park`, negative-list codes); the policy gives them meaning.
    #[serde(default)]
    pub tags: Vec<String>,
    pub credit: CreditGrade,
    pub value_added_cny_per_year: Decimal,
    #[serde(default)]
    pub jobs: u32,
    pub filed_at_unix_s: i64,
}

/// A requested quantity of one pollutant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub pollutant: String,
    pub quantity: Decimal,
    /// If given, must equal the pollutant's unit.
    #[serde(default)]
    pub unit: Option<String>,
}

/// Where the project is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub district: String,
    pub basin: String,
    pub airshed: String,
    pub zone: ZoneType,
    /// Distance to the Yangtze or one of its main tributaries, if known and relevant.
    #[serde(default)]
    pub river_distance_m: Option<u32>,
}

/// 三线一单 environmental control unit type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneType {
    PriorityProtection,
    KeyControl,
    General,
}

/// Environmental credit grade (渝环规〔2021〕7号): 诚信 / 良好 / 警示 / 不良.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditGrade {
    Exemplary,
    Good,
    Warning,
    Poor,
}
