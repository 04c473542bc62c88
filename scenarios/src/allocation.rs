//! Free allocation (grandfathering, benchmark × output, explicit), the auctioned rest,
//! and priority reallocation of freed capacity.
//!
//! "Freed capacity" is free-pool volume nobody is entitled to in a year: the share of a
//! closed firm (zero baseline) under grandfathering, or benchmark room left unused. A
//! [`Reallocator`] decides who gets it; the engine checks the outcome against the trait's
//! contract and auctions whatever is neither granted nor retired. [`TieredReallocator`]
//! is the built-in rule; [`crate::reallocation::OptimizerReallocator`] runs the optimizer
//! crate's rules (`rule = "optimizer"` in the scenario file).

use crate::error::{Result, ScenarioError};
use crate::model::Model;
use crate::spec::{AllocationMethod, ReallocationRuleKind};
use serde::Serialize;

/// A firm that may receive freed capacity in one year.
#[derive(Clone, Debug, PartialEq)]
pub struct ReallocationCandidate {
    pub firm: usize,
    /// Position of the firm's tier in `allocation.reallocation.tiers` (0 = first served);
    /// 0 for every candidate under the optimizer rule, whose policy assigns tiers.
    pub tier_rank: usize,
    /// Most this firm may receive: uncovered need × `recipient_cap_share`.
    pub need_t: f64,
}

/// What a reallocation rule is asked to split.
#[derive(Clone, Debug)]
pub struct ReallocationRequest<'a> {
    pub year: i32,
    pub freed_t: f64,
    pub candidates: &'a [ReallocationCandidate],
}

/// How one candidate fared.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CandidateDecision {
    /// The tier it was served in (a tier name, or the optimizer's tier number); `None`
    /// when it was excluded.
    pub tier: Option<String>,
    /// `full`, `partial`, `none` or `excluded`.
    pub status: String,
    /// Freed capacity drawn for it: its grant plus what a replacement ratio retires.
    pub drawn_t: f64,
    /// Rules that excluded or demoted it, and constraints that stopped it, with citations.
    pub reasons: Vec<String>,
}

/// What a rule decided: one grant per candidate, the freed capacity it retired, and
/// optionally one decision per candidate for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReallocationOutcome {
    pub grants: Vec<f64>,
    /// Freed capacity drawn but cancelled rather than granted (replacement ratios).
    pub retired_t: f64,
    /// Empty, or one per candidate in the same order.
    pub decisions: Vec<CandidateDecision>,
}

/// A rule that splits freed capacity among candidates.
///
/// Contract, checked by the engine: one grant per candidate in the same order, each in
/// `[0, need_t]`; grants plus `retired_t` (≥ 0) at most `freed_t`; `decisions` empty or
/// one per candidate. The rest is auctioned. An `Err` is reported as
/// `ScenarioError::Reallocation` for that year. Implementations must be deterministic
/// (Monte Carlo results may not depend on thread scheduling).
pub trait Reallocator: Send + Sync {
    fn name(&self) -> &str;
    fn reallocate(
        &self,
        request: &ReallocationRequest<'_>,
    ) -> std::result::Result<ReallocationOutcome, String>;
}

/// Tiers served in order; inside a tier, pro rata to need; leftovers go to auction.
#[derive(Clone, Copy, Debug, Default)]
pub struct TieredReallocator;

impl Reallocator for TieredReallocator {
    fn name(&self) -> &str {
        "tiered-pro-rata"
    }

    fn reallocate(
        &self,
        request: &ReallocationRequest<'_>,
    ) -> std::result::Result<ReallocationOutcome, String> {
        let mut grants = vec![0.0; request.candidates.len()];
        let mut left_t = request.freed_t;
        let tiers = request
            .candidates
            .iter()
            .map(|c| c.tier_rank)
            .max()
            .map_or(0, |m| m + 1);
        for tier in 0..tiers {
            let need_t: f64 = request
                .candidates
                .iter()
                .filter(|c| c.tier_rank == tier)
                .map(|c| c.need_t)
                .sum();
            if need_t <= 0.0 || left_t <= 0.0 {
                continue;
            }
            let ratio = (left_t / need_t).min(1.0);
            for (grant, candidate) in grants.iter_mut().zip(request.candidates) {
                if candidate.tier_rank == tier {
                    *grant = candidate.need_t * ratio;
                }
            }
            left_t -= need_t * ratio;
        }
        let decisions = grants
            .iter()
            .zip(request.candidates)
            .map(|(grant, candidate)| CandidateDecision {
                // The engine names the tier (from `allocation.reallocation.tiers`).
                tier: Some(candidate.tier_rank.to_string()),
                status: status_of(*grant, candidate.need_t).to_string(),
                drawn_t: *grant,
                reasons: Vec::new(),
            })
            .collect();
        Ok(ReallocationOutcome {
            grants,
            retired_t: 0.0,
            decisions,
        })
    }
}

/// `full`, `partial` or `none` for a grant against a need.
pub fn status_of(grant_t: f64, need_t: f64) -> &'static str {
    if grant_t <= 0.0 {
        "none"
    } else if grant_t >= need_t * (1.0 - 1e-12) {
        "full"
    } else {
        "partial"
    }
}

/// One firm's reallocation in one year, as reported in the run's summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReallocationRecord {
    pub year: i32,
    pub firm: String,
    pub requested_t: f64,
    pub granted_t: f64,
    #[serde(flatten)]
    pub decision: CandidateDecision,
}

/// Free allocation per firm-year and the auction volume per year, before the MSR.
#[derive(Clone, Debug, Default)]
pub struct Allocation {
    /// Firm-major, like `Model::baseline_t`.
    pub free_t: Vec<f64>,
    pub reallocated_t: Vec<f64>,
    /// Auction volume offered per year before MSR intake and release.
    pub auction_t: Vec<f64>,
    pub freed_t: Vec<f64>,
    /// Freed capacity the reallocation rule retired (cancelled) per year.
    pub retired_t: Vec<f64>,
    /// Every candidate's reallocation, year by year.
    pub records: Vec<ReallocationRecord>,
}

/// Computes the allocation of every year.
pub fn allocate(model: &Model, reallocator: &dyn Reallocator) -> Result<Allocation> {
    let years = model.year_count();
    let firms = model.firms.len();
    let mut allocation = Allocation {
        free_t: vec![0.0; firms * years],
        reallocated_t: vec![0.0; firms * years],
        auction_t: vec![0.0; years],
        freed_t: vec![0.0; years],
        retired_t: vec![0.0; years],
        records: Vec::new(),
    };
    for year in 0..years {
        let freed_t = free_allocation(model, year, &mut allocation.free_t);
        let (granted_t, retired_t) =
            reallocate_year(model, year, freed_t, reallocator, &mut allocation)?;
        let free_total: f64 = (0..firms)
            .map(|f| allocation.free_t[f * years + year])
            .sum();
        allocation.freed_t[year] = freed_t;
        allocation.retired_t[year] = retired_t;
        // The auction gets what the free pool, reallocation and retirement leave; clamp
        // rounding dust.
        allocation.auction_t[year] =
            (model.cap_t[year] - free_total - granted_t - retired_t).max(0.0);
    }
    Ok(allocation)
}

/// Fills this year's free allocation and returns the freed volume.
fn free_allocation(model: &Model, year: usize, free_t: &mut [f64]) -> f64 {
    let years = model.year_count();
    let pool_t = (1.0 - model.allocation.auction_share) * model.cap_t[year];
    match model.allocation.method {
        AllocationMethod::Explicit => {
            for firm in 0..model.firms.len() {
                free_t[firm * years + year] = model.explicit_free_t[firm * years + year];
            }
            0.0
        }
        AllocationMethod::Grandfathering => {
            let base = model.allocation.base_year_index;
            let weight_total: f64 = (0..model.firms.len())
                .map(|f| model.baseline(f, base))
                .sum();
            if weight_total <= 0.0 {
                return pool_t;
            }
            let mut freed_t = 0.0;
            for firm in 0..model.firms.len() {
                let share_t = pool_t * model.baseline(firm, base) / weight_total;
                // A firm with no emissions this year has closed: its share is freed.
                if model.baseline(firm, year) > 0.0 {
                    free_t[firm * years + year] = share_t;
                } else {
                    freed_t += share_t;
                }
            }
            freed_t
        }
        AllocationMethod::Benchmark => {
            let demand = |firm: usize| -> f64 {
                let sector = &model.sectors[model.firms[firm].sector];
                let active = model.baseline(firm, year) > 0.0;
                if active {
                    sector.benchmark_t_per_unit.unwrap_or(0.0) * model.output[firm * years + year]
                } else {
                    0.0
                }
            };
            let demand_total: f64 = (0..model.firms.len()).map(demand).sum();
            // A uniform correction factor keeps the total within the pool (EU CSCF-style).
            let factor = if demand_total > pool_t {
                pool_t / demand_total
            } else {
                1.0
            };
            for firm in 0..model.firms.len() {
                free_t[firm * years + year] = demand(firm) * factor;
            }
            (pool_t - demand_total * factor).max(0.0)
        }
    }
}

/// The firms that may receive this year's freed capacity: under `tiered`, firms of a
/// sector with a listed tier; under `optimizer`, every active firm (its policy decides).
fn candidates(model: &Model, year: usize, free_t: &[f64]) -> Vec<ReallocationCandidate> {
    let Some(rule) = &model.allocation.reallocation else {
        return Vec::new();
    };
    let years = model.year_count();
    (0..model.firms.len())
        .filter_map(|firm| {
            let tier_rank = match rule.rule {
                ReallocationRuleKind::Tiered => {
                    let tier = model.sectors[model.firms[firm].sector].tier.as_ref()?;
                    rule.tiers.iter().position(|t| t == tier)?
                }
                ReallocationRuleKind::Optimizer => 0,
            };
            let need_t = (model.baseline(firm, year) - free_t[firm * years + year]).max(0.0)
                * rule.recipient_cap_share;
            (need_t > 0.0).then_some(ReallocationCandidate {
                firm,
                tier_rank,
                need_t,
            })
        })
        .collect()
}

/// Reallocates one year's freed capacity; returns (granted, retired).
fn reallocate_year(
    model: &Model,
    year: usize,
    freed_t: f64,
    reallocator: &dyn Reallocator,
    allocation: &mut Allocation,
) -> Result<(f64, f64)> {
    let Some(rule) = &model.allocation.reallocation else {
        return Ok((0.0, 0.0));
    };
    if freed_t <= 0.0 {
        return Ok((0.0, 0.0));
    }
    let years = model.year_count();
    let candidates = candidates(model, year, &allocation.free_t);
    let request = ReallocationRequest {
        year: model.years[year],
        freed_t,
        candidates: &candidates,
    };
    let outcome =
        reallocator
            .reallocate(&request)
            .map_err(|reason| ScenarioError::Reallocation {
                year: request.year,
                reason,
            })?;
    check_outcome(&request, &outcome)?;
    for (candidate, grant) in candidates.iter().zip(&outcome.grants) {
        allocation.reallocated_t[candidate.firm * years + year] = *grant;
    }
    for (index, candidate) in candidates.iter().enumerate() {
        let mut decision = outcome.decisions.get(index).cloned().unwrap_or_default();
        if rule.rule == ReallocationRuleKind::Tiered {
            // Under the tiered rule the tier is an input: the sector's.
            decision.tier = rule.tiers.get(candidate.tier_rank).cloned();
        }
        let granted_t = outcome.grants[index];
        if decision.status.is_empty() {
            decision.status = status_of(granted_t, candidate.need_t).to_string();
            decision.drawn_t = granted_t;
        }
        allocation.records.push(ReallocationRecord {
            year: request.year,
            firm: model.firms[candidate.firm].id.clone(),
            requested_t: candidate.need_t,
            granted_t,
            decision,
        });
    }
    Ok((outcome.grants.iter().sum(), outcome.retired_t))
}

fn check_outcome(request: &ReallocationRequest<'_>, outcome: &ReallocationOutcome) -> Result<()> {
    let broken = |reason: String| ScenarioError::Reallocation {
        year: request.year,
        reason,
    };
    let grants = &outcome.grants;
    if grants.len() != request.candidates.len() {
        return Err(broken(format!(
            "{} grants for {} candidates",
            grants.len(),
            request.candidates.len()
        )));
    }
    if !outcome.decisions.is_empty() && outcome.decisions.len() != request.candidates.len() {
        return Err(broken(format!(
            "{} decisions for {} candidates",
            outcome.decisions.len(),
            request.candidates.len()
        )));
    }
    let slack = 1e-9 * request.freed_t.max(1.0);
    for (grant, candidate) in grants.iter().zip(request.candidates) {
        if !(grant.is_finite() && *grant >= 0.0 && *grant <= candidate.need_t + slack) {
            return Err(broken(format!(
                "grant {grant} to firm {} outside [0, {}]",
                candidate.firm, candidate.need_t
            )));
        }
    }
    if !(outcome.retired_t.is_finite() && outcome.retired_t >= 0.0) {
        return Err(broken(format!("retired {} is negative", outcome.retired_t)));
    }
    let total: f64 = grants.iter().sum::<f64>() + outcome.retired_t;
    if total > request.freed_t + slack {
        return Err(broken(format!(
            "grants and retirement {total} exceed freed capacity {}",
            request.freed_t
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_served_in_order_and_pro_rata_inside() {
        let candidates = [
            ReallocationCandidate {
                firm: 0,
                tier_rank: 1,
                need_t: 10.0,
            },
            ReallocationCandidate {
                firm: 1,
                tier_rank: 0,
                need_t: 4.0,
            },
            ReallocationCandidate {
                firm: 2,
                tier_rank: 1,
                need_t: 30.0,
            },
        ];
        let request = ReallocationRequest {
            year: 2030,
            freed_t: 14.0,
            candidates: &candidates,
        };
        let outcome = TieredReallocator.reallocate(&request).expect("tiered");
        assert_eq!(outcome.grants, vec![2.5, 4.0, 7.5]);
        assert_eq!(outcome.retired_t, 0.0);
        assert!(check_outcome(&request, &outcome).is_ok());
        let statuses: Vec<&str> = outcome
            .decisions
            .iter()
            .map(|d| d.status.as_str())
            .collect();
        assert_eq!(statuses, ["partial", "full", "partial"]);
        // Grants beyond the freed capacity break the contract.
        let greedy = ReallocationOutcome {
            grants: vec![10.0, 4.0, 1.0],
            ..outcome.clone()
        };
        assert!(check_outcome(&request, &greedy).is_err());
        let retiring = ReallocationOutcome {
            retired_t: 0.5,
            ..outcome
        };
        assert!(check_outcome(&request, &retiring).is_err());
    }
}
