//! Output of a round: exact grants, the reasons behind them and the provenance the ledger posts.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::policy::Objective;

/// The published result of one round. Applications are in priority order (tier, credit grade,
/// filing time, id; excluded last); pools and caps by id; flows by pool, source, then priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub round_id: String,
    pub policy_version: String,
    pub objective: Objective,
    pub applications: Vec<ApplicationResult>,
    pub pools: Vec<PoolResult>,
    pub caps: Vec<CapResult>,
    pub tiers: Vec<TierResult>,
    /// Who funded whom: every drawn quantity, by certified reduction.
    pub flows: Vec<Flow>,
    /// Largest relative MILP gap over the tiers (0 when every tier is a proven optimum).
    pub mip_gap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationResult {
    pub id: String,
    pub enterprise: String,
    /// Tier after demotions; `None` when excluded.
    pub tier: Option<u8>,
    pub status: Status,
    /// Every eligibility rule that excluded the project (empty unless `status` is `Excluded`).
    pub exclusions: Vec<RuleHit>,
    /// Rules that changed the project without excluding it (credit-warning demotion).
    pub notes: Vec<RuleHit>,
    /// Smallest granted/requested ratio over the bundle, in `[0, 1]`.
    pub fill_rate: f64,
    pub grants: Vec<Grant>,
    /// Constraints that stopped the project from getting more (empty when full or excluded).
    pub binding: Vec<Binding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Excluded,
    Full,
    Partial,
    None,
}

/// A policy rule applied to a project, with what the bureau cites for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    pub rule: String,
    pub citation: String,
}

/// One pollutant of one application. `drawn - granted` is retired under the replacement ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub pollutant: String,
    /// Pool the grant is drawn from; `None` when no pool holds this pollutant in the project's area.
    pub pool: Option<String>,
    pub requested: Decimal,
    pub granted: Decimal,
    pub drawn: Decimal,
}

/// A constraint that was tight for a project, with its tier's shadow price (objective units per
/// tonne of the constraint; `None` in fairness mode or when the constraint was exhausted before
/// the tier started).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub constraint: Constraint,
    pub shadow_price: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    Pool {
        pool: String,
    },
    Cap {
        cap: String,
    },
    EnterpriseShare {
        enterprise: String,
        pool: String,
    },
    /// No pool of this pollutant in the project's basin or airshed.
    MissingPool {
        pollutant: String,
        area: String,
    },
    /// The project's minimum viable share could not be met with what was left.
    MinimumViableShare,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolResult {
    pub id: String,
    pub pollutant: String,
    pub area: Option<String>,
    /// Sum of the sources.
    pub total: Decimal,
    /// Held back as the bureau's reserve.
    pub held_back: Decimal,
    pub available: Decimal,
    /// Drawn by grants (granted plus retired).
    pub used: Decimal,
    pub granted: Decimal,
    pub retired: Decimal,
    /// `available - used`.
    pub left: Decimal,
    /// Value of one more tonne: the dual of the first tier (in priority order) that values it.
    pub shadow_price: Option<ShadowPrice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapResult {
    pub id: String,
    pub pollutant: String,
    pub cap: Decimal,
    /// `Σ coefficient × grant`, exact.
    pub used: Decimal,
    pub left: Decimal,
    pub shadow_price: Option<ShadowPrice>,
}

/// The value of capacity of a pool or cap, in objective units per tonne (value added in CNY/yr
/// per tonne in value mode; a policy shadow value, not a market price), from the LP of `tier`:
/// the first tier, in priority order, that values the constraint.
///
/// The tier's optimum is concave and piecewise linear in the constraint's capacity, so the price
/// is a derivative. `value_up` is the value of one more tonne (right derivative) and
/// `value_down` the value of the last tonne (left derivative). They are equal at a
/// non-degenerate optimum; at a degenerate one (e.g. a pool filled exactly by whole projects) the
/// price is the interval `[value_up, value_down]` and `interval` is true. `value` is the dual the
/// solver returned, a point of that interval (conditional duals for MILP tiers, which have no
/// derivatives: `value_up`/`value_down` are `None` there).
///
/// When `range_known`: `value_down` holds for capacities in `[range_low, capacity]` and
/// `value_up` in `[capacity, range_high]` tonnes, `capacity` being the pool's `available` (the
/// cap's `cap`); `None` = unbounded. These intervals are guaranteed; the price may hold further.
///
/// A constraint no tier values gets price 0 (`tier` = the last tier, [`crate::TIER_MAX`]), holding
/// from its final usage up to unbounded. `None` in fairness mode (no prices there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowPrice {
    pub tier: u8,
    pub value: f64,
    #[serde(default)]
    pub value_up: Option<f64>,
    #[serde(default)]
    pub value_down: Option<f64>,
    #[serde(default)]
    pub interval: bool,
    pub range_known: bool,
    pub range_low: Option<f64>,
    pub range_high: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierResult {
    pub tier: u8,
    pub applications: usize,
    /// Projects that entered the optimisation (eligible, not blocked before the tier).
    pub columns: usize,
    /// Rows that could still bind in this tier.
    pub rows: usize,
    /// Objective of the tier's continuous solution before exact rounding.
    pub objective: f64,
    /// The LP relaxation's optimum: an upper bound (equals `objective` without all-or-nothing).
    pub bound: f64,
    /// Relative MILP gap: HiGHS's proven gap when the whole tier was one MILP, otherwise
    /// `(bound - objective) / bound` against the relaxation; 0 for an LP.
    pub mip_gap: f64,
    /// How the tier was solved, e.g. `greedy`, `highs`, `sifting(4)`, `milp`, `progressive-filling`.
    pub method: String,
}

/// `quantity` of `reduction_id` in `pool` funds `application`'s draw of `pollutant`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub pool: String,
    pub reduction_id: String,
    pub application: String,
    pub pollutant: String,
    pub quantity: Decimal,
}
