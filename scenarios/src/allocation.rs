//! Free allocation (grandfathering, benchmark × output, explicit), the auctioned rest,
//! and the hook for priority reallocation of freed capacity.
//!
//! "Freed capacity" is free-pool volume nobody is entitled to in a year: the share of a
//! closed firm (zero baseline) under grandfathering, or benchmark room left unused. The
//! [`Reallocator`] trait decides who gets it; the engine checks the grants against the
//! trait's contract and auctions whatever is left. [`TieredReallocator`] is the built-in
//! rule; the optimizer crate's priority rules can be plugged in by implementing the trait.

use crate::error::{Result, ScenarioError};
use crate::model::Model;
use crate::spec::AllocationMethod;

/// A firm that may receive freed capacity in one year.
#[derive(Clone, Debug, PartialEq)]
pub struct ReallocationCandidate {
    pub firm: usize,
    /// Position of the firm's tier in `allocation.reallocation.tiers` (0 = first served).
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

/// A rule that splits freed capacity among candidates.
///
/// Contract, checked by the engine: one grant per candidate in the same order, each in
/// `[0, need_t]`, summing to at most `freed_t`. The rest is auctioned. Implementations
/// must be deterministic (Monte Carlo results may not depend on thread scheduling).
pub trait Reallocator: Send + Sync {
    fn name(&self) -> &str;
    fn reallocate(&self, request: &ReallocationRequest<'_>) -> Vec<f64>;
}

/// Tiers served in order; inside a tier, pro rata to need; leftovers go to auction.
#[derive(Clone, Copy, Debug, Default)]
pub struct TieredReallocator;

impl Reallocator for TieredReallocator {
    fn name(&self) -> &str {
        "tiered-pro-rata"
    }

    fn reallocate(&self, request: &ReallocationRequest<'_>) -> Vec<f64> {
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
        grants
    }
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
    };
    for year in 0..years {
        let freed_t = free_allocation(model, year, &mut allocation.free_t);
        let granted_t = reallocate_year(model, year, freed_t, reallocator, &mut allocation)?;
        let free_total: f64 = (0..firms)
            .map(|f| allocation.free_t[f * years + year])
            .sum();
        allocation.freed_t[year] = freed_t;
        // The auction gets what the free pool and reallocation leave; clamp rounding dust.
        allocation.auction_t[year] = (model.cap_t[year] - free_total - granted_t).max(0.0);
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

fn reallocate_year(
    model: &Model,
    year: usize,
    freed_t: f64,
    reallocator: &dyn Reallocator,
    allocation: &mut Allocation,
) -> Result<f64> {
    let Some(rule) = &model.allocation.reallocation else {
        return Ok(0.0);
    };
    if freed_t <= 0.0 {
        return Ok(0.0);
    }
    let years = model.year_count();
    let candidates: Vec<ReallocationCandidate> = (0..model.firms.len())
        .filter_map(|firm| {
            let tier = model.sectors[model.firms[firm].sector].tier.as_ref()?;
            let tier_rank = rule.tiers.iter().position(|t| t == tier)?;
            let need_t = (model.baseline(firm, year) - allocation.free_t[firm * years + year])
                .max(0.0)
                * rule.recipient_cap_share;
            (need_t > 0.0).then_some(ReallocationCandidate {
                firm,
                tier_rank,
                need_t,
            })
        })
        .collect();
    let request = ReallocationRequest {
        year: model.years[year],
        freed_t,
        candidates: &candidates,
    };
    let grants = reallocator.reallocate(&request);
    check_grants(&request, &grants)?;
    for (candidate, grant) in candidates.iter().zip(&grants) {
        allocation.reallocated_t[candidate.firm * years + year] = *grant;
    }
    Ok(grants.iter().sum())
}

fn check_grants(request: &ReallocationRequest<'_>, grants: &[f64]) -> Result<()> {
    let broken = |reason: String| ScenarioError::Reallocation {
        year: request.year,
        reason,
    };
    if grants.len() != request.candidates.len() {
        return Err(broken(format!(
            "{} grants for {} candidates",
            grants.len(),
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
    let total: f64 = grants.iter().sum();
    if total > request.freed_t + slack {
        return Err(broken(format!(
            "grants {total} exceed freed capacity {}",
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
        let grants = TieredReallocator.reallocate(&request);
        assert_eq!(grants, vec![2.5, 4.0, 7.5]);
        assert!(check_grants(&request, &grants).is_ok());
    }
}
