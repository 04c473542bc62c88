//! The scenario file as written by users: plain serde types that mirror the TOML schema.
//!
//! Nothing here is validated; `crate::model::Model::compile` checks every value and
//! turns the file into the engine's model. Keeping the two apart lets the HTTP API and
//! the CLI share one schema while the engine works on checked, dense data.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current schema version; files must declare it so old files fail loudly on change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole scenario file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub schema_version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Currency label for prices and costs (e.g. "CNY"); quantities are in tonnes.
    #[serde(default = "default_currency")]
    pub currency: String,
    pub years: YearsSpec,
    pub cap: CapSpec,
    #[serde(default)]
    pub allocation: AllocationSpec,
    #[serde(default)]
    pub auction: AuctionSpec,
    #[serde(default)]
    pub price_controls: PriceControlsSpec,
    /// Cost-containment reserve tiers.
    #[serde(default)]
    pub ccr: Vec<CcrTierSpec>,
    #[serde(default)]
    pub msr: Option<MsrSpec>,
    #[serde(default)]
    pub banking: BankingSpec,
    #[serde(default)]
    pub offsets: Option<OffsetsSpec>,
    #[serde(default)]
    pub adjust: AdjustSpec,
    #[serde(default)]
    pub solver: SolverSpec,
    #[serde(default)]
    pub sectors: Vec<SectorSpec>,
    #[serde(default)]
    pub firms: Vec<FirmSpec>,
    #[serde(default)]
    pub firm_files: Vec<FirmFileSpec>,
    #[serde(default)]
    pub uncertainty: Option<UncertaintySpec>,
}

fn default_currency() -> String {
    "CNY".to_string()
}

/// Consecutive model years, both ends included. Banking assumes one-year spacing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearsSpec {
    pub start: i32,
    pub end: i32,
}

/// A number for every year, or a table `{ "2030" = 4000 }`. Missing years in a table are
/// filled by carrying the last given value forward (and the first one backward).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Series {
    Constant(f64),
    ByYear(BTreeMap<String, f64>),
}

/// The cap: either `by_year`, or `base_year` + `base_t` + `linear_reduction_factor`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    pub by_year: Option<Series>,
    pub base_year: Option<i32>,
    pub base_t: Option<f64>,
    /// Share of the base-year cap removed each year (EU-style LRF, 0.022 = 2.2 %/yr).
    pub linear_reduction_factor: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationMethod {
    /// Free pool split by each firm's baseline in the base year.
    #[default]
    Grandfathering,
    /// Sector benchmark (t per unit of output) × firm output, scaled down to the pool.
    Benchmark,
    /// Each firm's `free_t` as given.
    Explicit,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationSpec {
    #[serde(default)]
    pub method: AllocationMethod,
    /// Share of the cap sold at auction; the rest is the free pool (ignored for `explicit`).
    #[serde(default)]
    pub auction_share: f64,
    /// Year whose baselines weight grandfathering; default: the first model year.
    pub base_year: Option<i32>,
    #[serde(default)]
    pub reallocation: Option<ReallocationSpec>,
}

/// Priority reallocation of freed free-allocation capacity (closures, unused benchmark room).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReallocationSpec {
    /// Which rule splits the freed capacity.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rule: ReallocationRuleKind,
    /// `tiered`: tier names in priority order; sectors name their tier with `tier = "..."`.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// A recipient gets at most this share of its uncovered need (baseline − free).
    #[serde(default = "one")]
    pub recipient_cap_share: f64,
    /// `optimizer`: the reallocation policy inline (the optimizer crate's `Policy` schema,
    /// as in `data/policies/*.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<optimizer::Policy>,
    /// `optimizer`: path of a policy TOML file, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<String>,
    /// `optimizer`: pollutant id of the allowances in the round (policy rules that name a
    /// pollutant must name this one).
    #[serde(
        default = "default_pollutant",
        skip_serializing_if = "is_default_pollutant"
    )]
    pub pollutant: String,
    /// `optimizer`: decimal places of the ledger unit grants are rounded down to (3 = kg).
    #[serde(default = "default_scale", skip_serializing_if = "is_default_scale")]
    pub scale: u32,
}

fn default_pollutant() -> String {
    "allowances".to_string()
}

fn default_scale() -> u32 {
    3
}

// New keys are left out of the canonical JSON while they hold their defaults, so the
// content hash of a file that does not use them stays what it was.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_default_pollutant(value: &String) -> bool {
    *value == default_pollutant()
}

fn is_default_scale(value: &u32) -> bool {
    *value == default_scale()
}

/// The rule that reallocates freed capacity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReallocationRuleKind {
    /// Built in: `tiers` served in order, pro rata to need inside a tier (or a custom
    /// `Reallocator` passed in `RunOptions`).
    #[default]
    Tiered,
    /// The optimizer crate's `allocate` under a policy: tiers by tags, eligibility rules
    /// with citations, reserve share, replacement ratios, caps, enterprise shares.
    Optimizer,
}

/// A firm's attributes as an applicant in an optimizer reallocation round; every key has
/// a default (see the README).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicantSpec {
    /// District (GB/T 2260 code or any label the policy uses); default: the firm's region.
    pub district: Option<String>,
    #[serde(default = "default_tag")]
    pub basin: String,
    #[serde(default = "default_tag")]
    pub airshed: String,
    #[serde(default = "default_zone")]
    pub zone: optimizer::ZoneType,
    pub river_distance_m: Option<u32>,
    #[serde(default = "default_credit")]
    pub credit: optimizer::CreditGrade,
    #[serde(default)]
    pub value_added_cny_per_year: rust_decimal::Decimal,
    #[serde(default)]
    pub min_viable_share: rust_decimal::Decimal,
    #[serde(default)]
    pub jobs: u32,
    #[serde(default)]
    pub filed_at_unix_s: i64,
}

fn default_zone() -> optimizer::ZoneType {
    optimizer::ZoneType::General
}

fn default_credit() -> optimizer::CreditGrade {
    optimizer::CreditGrade::Good
}

fn one() -> f64 {
    1.0
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsoldDestination {
    /// Unsold auction volume goes to the market stability reserve (cancelled without one).
    #[default]
    Msr,
    Cancel,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionSpec {
    /// Auction reserve price: below it auctioned allowances stay unsold (a soft floor).
    #[serde(default)]
    pub reserve_price: f64,
    #[serde(default)]
    pub escalation_rate: f64,
    /// Year in which `reserve_price` holds; escalation counts from here, not from the first model year.
    pub anchor_year: Option<i32>,
    #[serde(default)]
    pub unsold: UnsoldDestination,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceControlsSpec {
    /// Hard floor: surplus at the floor is withdrawn.
    pub floor: Option<f64>,
    /// Hard ceiling: unlimited allowances are sold at the ceiling.
    pub ceiling: Option<f64>,
    #[serde(default)]
    pub escalation_rate: f64,
    pub anchor_year: Option<i32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcrTierSpec {
    pub trigger_price: f64,
    /// Volume available each year at and above the trigger.
    pub volume_t: f64,
    #[serde(default)]
    pub escalation_rate: f64,
    pub anchor_year: Option<i32>,
}

/// EU-style market stability reserve, applied to the next year's auction volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsrSpec {
    /// Bank (TNAC) above which `intake_rate` × bank is withheld from next year's auctions.
    pub upper_threshold_t: f64,
    /// Bank below which `release_t` is released into next year's auctions.
    pub lower_threshold_t: f64,
    pub intake_rate: f64,
    pub release_t: f64,
    /// Reserve holdings above this are invalidated (cancelled) at the end of each year.
    pub invalidation_threshold_t: Option<f64>,
    #[serde(default)]
    pub initial_t: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankingSpec {
    #[serde(default)]
    pub enabled: bool,
    /// Largest negative bank allowed (0 = no borrowing).
    #[serde(default)]
    pub borrowing_limit_t: f64,
    /// Borrowing without limit (the bank only has to be non-negative at the end).
    #[serde(default)]
    pub borrowing_unlimited: bool,
    /// Discount rate: with a positive bank the price rises at this rate (Hotelling).
    #[serde(default)]
    pub discount_rate: f64,
    #[serde(default)]
    pub initial_bank_t: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsSpec {
    /// Offsets usable each year, as a share of that year's cap.
    pub limit_share: f64,
    /// Marginal cost of offset credits (they enter supply at and above this price).
    pub price: f64,
    /// Offset credits available per year, if smaller than the limit.
    pub supply_t: Option<f64>,
}

/// Scenario-wide multipliers, convenient targets for sweeps and Monte Carlo.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustSpec {
    #[serde(default = "one")]
    pub baseline_scale: f64,
    #[serde(default = "one")]
    pub mac_scale: f64,
    /// Growth of every baseline per year after the first (−0.01 = 1 % decline a year).
    #[serde(default)]
    pub baseline_growth: f64,
}

impl Default for AdjustSpec {
    fn default() -> Self {
        AdjustSpec {
            baseline_scale: 1.0,
            mac_scale: 1.0,
            baseline_growth: 0.0,
        }
    }
}

/// How one price is picked when supply meets demand on a whole price interval (step curves).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricePick {
    /// The lowest clearing price: the marginal cost of the last abated unit.
    #[default]
    Lower,
    Midpoint,
    /// The highest clearing price: the cost of the next unit nobody abates.
    Upper,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSpec {
    #[serde(default)]
    pub price_pick: PricePick,
    /// Prices searched up to this value; beyond it the market is reported infeasible.
    #[serde(default = "default_price_max")]
    pub price_max: f64,
    /// Fixed-point iterations of the market stability reserve.
    #[serde(default = "default_msr_iterations")]
    pub msr_iterations_max: u32,
}

fn default_price_max() -> f64 {
    1e9
}

fn default_msr_iterations() -> u32 {
    100
}

impl Default for SolverSpec {
    fn default() -> Self {
        SolverSpec {
            price_pick: PricePick::Lower,
            price_max: default_price_max(),
            msr_iterations_max: default_msr_iterations(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorSpec {
    pub name: String,
    /// Reallocation tier this sector belongs to (`tiered` rule).
    pub tier: Option<String>,
    /// Tags every firm of the sector carries (the optimizer policy's tier and eligibility
    /// rules match tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Free allocation per unit of output under `benchmark`.
    pub benchmark_t_per_unit: Option<f64>,
    #[serde(default = "one")]
    pub baseline_scale: f64,
    #[serde(default = "one")]
    pub mac_scale: f64,
}

/// Marginal abatement cost curve of one firm.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MacSpec {
    /// MAC(a) = intercept + slope · a, up to `max_abatement_t` (default: the whole baseline).
    Linear {
        intercept: f64,
        slope: f64,
        max_abatement_t: Option<f64>,
    },
    /// Points `[abatement_t, mac]` from `[0, mac0]`, abatement increasing, MAC non-decreasing;
    /// linear in between, no abatement beyond the last point.
    Piecewise { points: Vec<[f64; 2]> },
    /// Steps `[quantity, cost]`; quantities in tonnes, or shares of the year's baseline
    /// with `quantity = "share"`.
    Steps {
        steps: Vec<[f64; 2]>,
        #[serde(default)]
        quantity: StepQuantity,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepQuantity {
    #[default]
    Tonnes,
    Share,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmSpec {
    pub id: String,
    #[serde(default = "default_tag")]
    pub sector: String,
    #[serde(default = "default_tag")]
    pub region: String,
    pub baseline_t: Series,
    /// Output per year, for benchmark allocation.
    pub output: Option<Series>,
    /// Free allocation per year, for `explicit` allocation.
    pub free_t: Option<Series>,
    pub mac: MacSpec,
    /// Tags of this firm, added to its sector's (optimizer reallocation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Attributes as an applicant for freed capacity (optimizer reallocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant: Option<ApplicantSpec>,
}

fn default_tag() -> String {
    "all".to_string()
}

/// A CSV of firms, relative to the scenario file. See the README for its columns.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmFileSpec {
    pub path: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UncertaintySpec {
    #[serde(default = "default_draws")]
    pub draws: u32,
    #[serde(default)]
    pub seed: u64,
    pub parameters: Vec<UncertainParameter>,
}

fn default_draws() -> u32 {
    100
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    Normal,
    Lognormal,
    Uniform,
    Triangular,
}

/// One uncertain scalar, named by its dotted path (e.g. `adjust.baseline_scale`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UncertainParameter {
    pub path: String,
    pub distribution: Distribution,
    /// Normal: mean; lognormal: mean of the variable itself.
    pub mean: Option<f64>,
    /// Normal: standard deviation; lognormal: sd of the variable itself.
    pub sd: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Triangular: the mode.
    pub mode: Option<f64>,
}
