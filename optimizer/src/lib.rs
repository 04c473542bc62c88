//! Reallocation of freed discharge capacity (排污权) and carbon quotas to applicants, by strict
//! priority tier, within pools, regional caps and policy rules.
//!
//! [`allocate`] maps a [`Round`] (pools of certified reductions, applications, a versioned
//! [`Policy`]) to an [`Allocation`]: exact decimal grants per application and pollutant at each
//! pollutant's ledger scale, statuses with the excluding rule and its citation, tiers, fill rates,
//! binding constraints with shadow prices, per-pool and per-cap accounts, the MILP gap, and the
//! provenance flows (which certified reduction funded which grant) a ledger posts from.
//!
//! The crate is a pure function of its input: no I/O, no clock, no randomness, no dependency on
//! the other crates of the workspace. It does not post to the ledger, persist anything, serve
//! HTTP or read files; the caller loads the round (serde: TOML or JSON) and commits the result.
//!
//! Invariants every [`Allocation`] satisfies (asserted in tests and property tests): a grant never
//! exceeds its request; a pool's draws never exceed its available capacity and `used + left =
//! available` exactly; no regional cap or enterprise share is exceeded; excluded projects get
//! nothing; a tier's grants do not depend on any lower tier; the result does not depend on the
//! order of the input.

mod allocation;
mod engine;
mod error;
mod explain;
mod model;
mod policy;
mod prepare;
mod rounding;
mod solve;

pub use allocation::{
    Allocation, ApplicationResult, Binding, CapResult, Constraint, Flow, Grant, PoolResult,
    RuleHit, ShadowPrice, Status, TierResult,
};
pub use error::{Error, Problem};
pub use model::{
    Application, CreditGrade, Location, Medium, PollutantSpec, Pool, Request, Round, Source,
    ZoneType,
};
pub use policy::{
    Area, Eligibility, FreezeRule, NegativeList, NewParkRule, Objective, Policy, RegionalCap,
    ReplacementRule, RiverDistanceRule, Rule, ShareLimit, TIER_MAX, TierRule,
};
pub use prepare::{APPLICATIONS_MAX, POLLUTANTS_MAX, SCALE_MAX};
pub use solve::{Method, Options};

/// Allocates a round with the default [`Options`] (structured solver).
pub fn allocate(round: &Round) -> Result<Allocation, Error> {
    allocate_with(round, &Options::default())
}

/// Allocates a round with explicit solver options; [`Method::NaiveGoodLp`] solves the same model
/// through good_lp as a reference.
pub fn allocate_with(round: &Round, options: &Options) -> Result<Allocation, Error> {
    allocate_timed(round, options).0
}

/// Wall-clock seconds per phase of one [`allocate_timed`] call, for the benchmark. The clock is
/// read only to fill this in; it never influences the allocation.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// Validation, eligibility, tiers, rows.
    pub prepare: f64,
    /// Building the tier problems (pruning included).
    pub build: f64,
    /// HiGHS / sifting / MILP, prices and their ranges.
    pub solve: f64,
    /// Exact rounding to ledger units.
    pub rounding: f64,
    /// The published `Allocation`: statuses, bindings, decimals, flows.
    pub explain: f64,
}

/// [`allocate_with`] that also reports where the time went.
#[doc(hidden)]
pub fn allocate_timed(round: &Round, options: &Options) -> (Result<Allocation, Error>, Phases) {
    let mut phases = Phases::default();
    let started = std::time::Instant::now();
    let prepared = match prepare::prepare(round) {
        Ok(prepared) => prepared,
        Err(problems) => return (Err(Error::InvalidRound(problems)), phases),
    };
    phases.prepare = started.elapsed().as_secs_f64();
    let outcome = match engine::run(&prepared, round.policy.objective, options, &mut phases) {
        Ok(outcome) => outcome,
        Err((tier, detail)) => return (Err(Error::Solver { tier, detail }), phases),
    };
    let started = std::time::Instant::now();
    let allocation = explain::assemble(round, &prepared, &outcome);
    phases.explain = started.elapsed().as_secs_f64();
    (Ok(allocation), phases)
}
