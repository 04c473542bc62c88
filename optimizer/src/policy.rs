//! Allocation policy as versioned data: every rule carries the citation the bureau publishes with
//! a decision. Load it from TOML or JSON with serde; nothing here is hard-coded law.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Lowest priority tier; tier 1 is served first.
pub const TIER_MAX: u8 = 5;

/// The rules of one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: String,
    #[serde(default)]
    pub objective: Objective,
    /// Share of each pool the bureau holds back as its own reserve, in `[0, 1)`.
    #[serde(default)]
    pub reserve_share: Decimal,
    #[serde(default)]
    pub reserve_citation: String,
    /// Tier classification: the first rule whose tags match decides.
    #[serde(default)]
    pub tiers: Vec<TierRule>,
    /// Tier of a project no rule matches (4 = general).
    pub default_tier: u8,
    #[serde(default)]
    pub eligibility: Eligibility,
    #[serde(default)]
    pub replacement_ratios: Vec<ReplacementRule>,
    #[serde(default)]
    pub caps: Vec<RegionalCap>,
    #[serde(default)]
    pub enterprise_share_max: Option<ShareLimit>,
}

/// What a tier maximises once the higher tiers are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Maximise the value added of the granted shares: capacity goes where a tonne adds most.
    #[default]
    ValueAddedPerTonne,
    /// Max-min (leximin) fill rate: every project in the tier grows at the same rate until a
    /// constraint stops it.
    FillRateFairness,
}

/// Projects carrying any of `any_tags` belong to `tier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub tier: u8,
    pub any_tags: Vec<String>,
    pub citation: String,
}

/// A rule that needs nothing but its citation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub citation: String,
}

/// Hard gates. A missing rule is not applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// No emission increase in a priority-protection zoning unit.
    #[serde(default)]
    pub priority_protection: Option<Rule>,
    /// No project of these industries within `distance_m_min` of the Yangtze or a main tributary.
    #[serde(default)]
    pub river_distance: Option<RiverDistanceRule>,
    /// No new industrial park (tagged `tag`) within `distance_m_min` of the river.
    #[serde(default)]
    pub new_park_distance: Option<NewParkRule>,
    #[serde(default)]
    pub negative_lists: Vec<NegativeList>,
    /// Credit grade `poor` is excluded.
    #[serde(default)]
    pub credit_poor: Option<Rule>,
    /// Credit grade `warning` moves down one tier.
    #[serde(default)]
    pub credit_warning_demotion: Option<Rule>,
    /// Districts under 约谈限批 get nothing.
    #[serde(default)]
    pub approval_freeze: Option<FreezeRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiverDistanceRule {
    pub distance_m_min: u32,
    pub industries: Vec<String>,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewParkRule {
    pub distance_m_min: u32,
    #[serde(default = "new_park_tag")]
    pub tag: String,
    pub citation: String,
}

fn new_park_tag() -> String {
    "new_industrial_park".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegativeList {
    pub id: String,
    pub tags: Vec<String>,
    pub citation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRule {
    pub districts: Vec<String>,
    pub citation: String,
}

/// A region: district, basin or airshed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Area {
    District(String),
    Basin(String),
    Airshed(String),
}

/// Tonnes of freed capacity drawn per tonne granted (倍量替代). The largest matching ratio applies;
/// without a match the ratio is 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRule {
    /// `None` = every pollutant.
    #[serde(default)]
    pub pollutant: Option<String>,
    /// `None` = everywhere.
    #[serde(default)]
    pub scope: Option<Area>,
    pub ratio: Decimal,
    pub citation: String,
}

/// A regional total on granted quantities: `Σ coefficient(district) × grant ≤ cap`. Without
/// coefficients every project inside `scope` counts fully; a listed district's coefficient
/// replaces that (a transfer or source–receptor coefficient, possibly for a district outside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalCap {
    pub id: String,
    pub pollutant: String,
    pub scope: Area,
    pub cap: Decimal,
    #[serde(default)]
    pub transfer_coefficients: BTreeMap<String, Decimal>,
    pub citation: String,
}

/// No enterprise draws more than `share_max` of any pool's available capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareLimit {
    pub share_max: Decimal,
    pub citation: String,
}
