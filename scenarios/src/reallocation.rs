//! The adapter to the optimizer crate: each year's freed capacity is reallocated by
//! `optimizer::allocate` under a reallocation policy (tiers by tags, eligibility rules with
//! citations, the bureau's reserve share, replacement ratios, regional caps, enterprise
//! shares), exactly as a real round would be.
//!
//! One round per year with freed capacity:
//! - one pollutant (`allocation.reallocation.pollutant`, medium global, ledger scale
//!   `allocation.reallocation.scale`) and one pool, funded by that year's freed capacity;
//! - one application per candidate firm (every active firm with uncovered need), asking
//!   for its need; its tags are its sector's `tags` plus its own, its location, credit
//!   grade, value added, minimum share and filing time come from `[firms.applicant]`
//!   (defaults: district = region, basin and airshed `all`, zone `general`, credit
//!   `good`, value added 0, share 0, filed at 0);
//! - the round's district, basin and airshed lists are the firms' plus those the policy
//!   names, so a policy written for a real province validates against any scenario.
//!
//! The optimizer is exact at the ledger scale: the freed capacity and each need are
//! rounded *down* to a ledger unit (so a grant never exceeds either); the dust below one
//! unit, the reserve the policy holds back and whatever no eligible applicant can use are
//! auctioned by the scenario; `drawn − granted` (replacement ratios) is retired.

use crate::allocation::{CandidateDecision, ReallocationOutcome, ReallocationRequest, Reallocator};
use crate::error::{Result, ScenarioError};
use crate::spec::{ApplicantSpec, FirmSpec, ReallocationSpec, SectorSpec};
use optimizer::{
    Allocation, Application, Area, Location, Medium, Policy, PollutantSpec, Pool, Request, Round,
    Source, Status,
};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};

/// Largest ledger amount the adapter hands the optimizer, in ledger units (the optimizer
/// accepts up to 10^18).
const UNITS_MAX: f64 = 1e17;

/// Reallocates freed capacity with the optimizer crate under a policy.
#[derive(Clone, Debug)]
pub struct OptimizerReallocator {
    policy: Policy,
    pollutant: String,
    scale: u32,
    /// One application template per model firm (requests filled per round).
    applicants: Vec<Application>,
    districts: Vec<String>,
    basins: Vec<String>,
    airsheds: Vec<String>,
}

impl OptimizerReallocator {
    /// Builds the adapter for `firms` (model order) and checks the policy against them by
    /// allocating a probe round, so a bad policy fails when the scenario loads.
    /// `policy_key` names the policy in errors (`allocation.reallocation.policy` or
    /// `…policy_file`).
    pub fn new(
        spec: &ReallocationSpec,
        policy: Policy,
        policy_key: &str,
        firms: &[(&FirmSpec, Option<&SectorSpec>)],
    ) -> Result<OptimizerReallocator> {
        if spec.pollutant.trim().is_empty() {
            return Err(ScenarioError::invalid(
                "allocation.reallocation.pollutant",
                "must not be empty",
            ));
        }
        if spec.scale > optimizer::SCALE_MAX {
            return Err(ScenarioError::invalid(
                "allocation.reallocation.scale",
                format!("{} places, at most {}", spec.scale, optimizer::SCALE_MAX),
            ));
        }
        let default_applicant = ApplicantSpec::default_values();
        let applicants: Vec<Application> = firms
            .iter()
            .map(|(firm, sector)| {
                let applicant = firm.applicant.as_ref().unwrap_or(&default_applicant);
                let mut tags: Vec<String> = sector.map(|s| s.tags.clone()).unwrap_or_default();
                tags.extend(firm.tags.iter().cloned());
                Application {
                    id: firm.id.clone(),
                    enterprise: firm.id.clone(),
                    project: String::new(),
                    requests: Vec::new(),
                    min_viable_share: applicant.min_viable_share,
                    location: Location {
                        district: applicant
                            .district
                            .clone()
                            .unwrap_or_else(|| firm.region.clone()),
                        basin: applicant.basin.clone(),
                        airshed: applicant.airshed.clone(),
                        zone: applicant.zone,
                        river_distance_m: applicant.river_distance_m,
                    },
                    tags,
                    credit: applicant.credit,
                    value_added_cny_per_year: applicant.value_added_cny_per_year,
                    jobs: applicant.jobs,
                    filed_at_unix_s: applicant.filed_at_unix_s,
                }
            })
            .collect();
        let mut districts = BTreeSet::new();
        let mut basins = BTreeSet::new();
        let mut airsheds = BTreeSet::new();
        for application in &applicants {
            districts.insert(application.location.district.clone());
            basins.insert(application.location.basin.clone());
            airsheds.insert(application.location.airshed.clone());
        }
        let mut add_area = |area: &Area| match area {
            Area::District(id) => districts.insert(id.clone()),
            Area::Basin(id) => basins.insert(id.clone()),
            Area::Airshed(id) => airsheds.insert(id.clone()),
        };
        for rule in &policy.replacement_ratios {
            if let Some(area) = &rule.scope {
                add_area(area);
            }
        }
        for cap in &policy.caps {
            add_area(&cap.scope);
            for district in cap.transfer_coefficients.keys() {
                add_area(&Area::District(district.clone()));
            }
        }
        if let Some(freeze) = &policy.eligibility.approval_freeze {
            for district in &freeze.districts {
                add_area(&Area::District(district.clone()));
            }
        }
        let adapter = OptimizerReallocator {
            policy,
            pollutant: spec.pollutant.clone(),
            scale: spec.scale,
            applicants,
            districts: districts.into_iter().collect(),
            basins: basins.into_iter().collect(),
            airsheds: airsheds.into_iter().collect(),
        };
        // Probe: one ledger unit for every firm, from a pool of one unit. It validates the
        // policy and every applicant (tiers, shares, ratios, regions, pollutants) at load.
        let unit = Decimal::new(1, adapter.scale);
        let probe = adapter.round(
            "probe",
            unit,
            adapter
                .applicants
                .iter()
                .enumerate()
                .map(|(firm, _)| (firm, unit)),
        );
        if let Err(error) = optimizer::allocate(&probe) {
            return Err(ScenarioError::invalid(policy_key, error.to_string()));
        }
        Ok(adapter)
    }

    /// The policy's version label.
    pub fn policy_version(&self) -> &str {
        &self.policy.version
    }

    /// Tonnes → ledger units, rounded down; `None` if too large for the optimizer.
    fn units_down(&self, tonnes: f64) -> Option<Decimal> {
        let units = (tonnes * 10f64.powi(self.scale as i32)).floor();
        if !(units.is_finite() && units <= UNITS_MAX) {
            return None;
        }
        Some(Decimal::from_i128_with_scale(
            units.max(0.0) as i128,
            self.scale,
        ))
    }

    fn tonnes(value: Decimal) -> f64 {
        // Exact integer mantissa over a power of ten: the nearest double.
        value.mantissa() as f64 / 10f64.powi(value.scale() as i32)
    }

    /// The round for one year: `requests` are (firm index, quantity) pairs.
    fn round(
        &self,
        id: &str,
        pool: Decimal,
        requests: impl Iterator<Item = (usize, Decimal)>,
    ) -> Round {
        let applications = requests
            .map(|(firm, quantity)| {
                let mut application = self.applicants[firm].clone();
                application.requests = vec![Request {
                    pollutant: self.pollutant.clone(),
                    quantity,
                    unit: None,
                }];
                application
            })
            .collect();
        Round {
            id: id.to_string(),
            pollutants: vec![PollutantSpec {
                id: self.pollutant.clone(),
                medium: Medium::Global,
                scale: self.scale,
                unit: "t".to_string(),
            }],
            districts: self.districts.clone(),
            basins: self.basins.clone(),
            airsheds: self.airsheds.clone(),
            pools: vec![Pool {
                id: format!("freed-{id}"),
                pollutant: self.pollutant.clone(),
                area: None,
                sources: vec![Source {
                    reduction_id: format!("freed-capacity-{id}"),
                    quantity: pool,
                    unit: None,
                }],
            }],
            applications,
            policy: self.policy.clone(),
        }
    }

    /// Runs the optimizer on one year's request and returns its raw allocation (for
    /// callers that want every explanation), or `None` when nothing is to be split.
    pub fn allocate_year(
        &self,
        request: &ReallocationRequest<'_>,
    ) -> std::result::Result<Option<Allocation>, String> {
        let too_large = |what: &str, tonnes: f64| {
            format!(
                "{what} {tonnes} t is too large for ledger scale {}",
                self.scale
            )
        };
        let pool = self
            .units_down(request.freed_t)
            .ok_or_else(|| too_large("freed capacity", request.freed_t))?;
        let mut requests = Vec::with_capacity(request.candidates.len());
        for candidate in request.candidates {
            let need = self
                .units_down(candidate.need_t)
                .ok_or_else(|| too_large("need", candidate.need_t))?;
            if !need.is_zero() {
                requests.push((candidate.firm, need));
            }
        }
        if pool.is_zero() || requests.is_empty() {
            return Ok(None);
        }
        let round = self.round(&request.year.to_string(), pool, requests.into_iter());
        optimizer::allocate(&round)
            .map(Some)
            .map_err(|e| format!("optimizer: {e}"))
    }
}

impl ApplicantSpec {
    /// The applicant every key of which is its default (serde's defaults).
    fn default_values() -> ApplicantSpec {
        ApplicantSpec {
            district: None,
            basin: "all".to_string(),
            airshed: "all".to_string(),
            zone: optimizer::ZoneType::General,
            river_distance_m: None,
            credit: optimizer::CreditGrade::Good,
            value_added_cny_per_year: Decimal::ZERO,
            min_viable_share: Decimal::ZERO,
            jobs: 0,
            filed_at_unix_s: 0,
        }
    }
}

impl Reallocator for OptimizerReallocator {
    fn name(&self) -> &str {
        "optimizer"
    }

    fn reallocate(
        &self,
        request: &ReallocationRequest<'_>,
    ) -> std::result::Result<ReallocationOutcome, String> {
        let count = request.candidates.len();
        let mut outcome = ReallocationOutcome {
            grants: vec![0.0; count],
            retired_t: 0.0,
            decisions: vec![
                CandidateDecision {
                    tier: None,
                    status: "none".to_string(),
                    drawn_t: 0.0,
                    reasons: vec!["need below one ledger unit or nothing to split".into()],
                };
                count
            ],
        };
        let Some(allocation) = self.allocate_year(request)? else {
            return Ok(outcome);
        };
        let index: HashMap<&str, usize> = request
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (self.applicants[c.firm].id.as_str(), i))
            .collect();
        let mut retired = Decimal::ZERO;
        for result in &allocation.applications {
            let Some(&i) = index.get(result.id.as_str()) else {
                return Err(format!(
                    "optimizer returned unknown application {}",
                    result.id
                ));
            };
            let (granted, drawn) = result
                .grants
                .iter()
                .fold((Decimal::ZERO, Decimal::ZERO), |(g, d), grant| {
                    (g + grant.granted, d + grant.drawn)
                });
            retired += drawn - granted;
            outcome.grants[i] = Self::tonnes(granted);
            let mut reasons: Vec<String> = result
                .exclusions
                .iter()
                .chain(&result.notes)
                .map(|hit| format!("{} ({})", hit.rule, hit.citation))
                .collect();
            reasons.extend(
                result
                    .binding
                    .iter()
                    .map(|b| format!("limited by {:?}", b.constraint)),
            );
            outcome.decisions[i] = CandidateDecision {
                tier: result.tier.map(|t| t.to_string()),
                status: match result.status {
                    Status::Excluded => "excluded",
                    Status::Full => "full",
                    Status::Partial => "partial",
                    Status::None => "none",
                }
                .to_string(),
                drawn_t: Self::tonnes(drawn),
                reasons,
            };
        }
        outcome.retired_t = Self::tonnes(retired);
        Ok(outcome)
    }
}
