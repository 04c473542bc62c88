//! One run of a model: allocation, market curves, the MSR fixed point, clearing, then the
//! balance sheet, firm rows and comparisons, with conservation checked every year.

use crate::allocation::{Allocation, Reallocator, TieredReallocator, allocate};
use crate::curve::jump_share;
use crate::equilibrium::{BankRules, SolverSettings, YearPoint, solve_banked, solve_year};
use crate::error::{Result, ScenarioError};
use crate::market::{SupplyKind, YearMarket};
use crate::model::Model;
use crate::results::{
    FirmSummary, FirmYear, GroupSeries, RunResult, SolverReport, Totals, YearResult,
};
use crate::spec::UnsoldDestination;
use rayon::prelude::*;
use std::sync::Arc;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Keep firm-year rows and reallocation records (the Monte Carlo drops them to save
    /// memory).
    pub firm_detail: bool,
    /// The rule of `allocation.reallocation.rule = "tiered"` (the default): the built-in
    /// [`TieredReallocator`], or a custom hook. A file with `rule = "optimizer"` runs the
    /// optimizer adapter its model carries instead.
    pub reallocator: Arc<dyn Reallocator>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            firm_detail: true,
            reallocator: Arc::new(TieredReallocator),
        }
    }
}

/// Relative size below which a bank is floating-point dust of an empty bank.
const DUST_RELATIVE: f64 = 1e-12;

/// Firm-year cells above which the yearly curves are built in parallel.
const PARALLEL_BUILD_CELLS_MIN: usize = 50_000;

/// Runs `model`.
pub fn run_model(model: &Model, options: &RunOptions) -> Result<RunResult> {
    let reallocator: &dyn Reallocator = match &model.allocation.optimizer {
        Some(adapter) => adapter.as_ref(),
        None => options.reallocator.as_ref(),
    };
    let mut allocation = allocate(model, reallocator)?;
    let records = std::mem::take(&mut allocation.records);
    let years = model.year_count();
    let firms = model.firms.len();
    let free_total = |year: usize| -> f64 {
        (0..firms)
            .map(|f| {
                allocation.free_t[f * years + year] + allocation.reallocated_t[f * years + year]
            })
            .sum()
    };
    let build = |year: usize| YearMarket::build(model, year, free_total(year));
    let markets: Vec<YearMarket> = if firms * years >= PARALLEL_BUILD_CELLS_MIN {
        (0..years).into_par_iter().map(build).collect()
    } else {
        (0..years).map(build).collect()
    };
    let cleared = clear_with_msr(model, &markets, &allocation)?;
    let mut result = account(model, &markets, &allocation, &cleared)?;
    firm_rows(model, &allocation, &mut result, options.firm_detail)?;
    result.solver.reallocator = match &model.allocation.optimizer {
        Some(adapter) => format!("optimizer (policy {})", adapter.policy_version()),
        None => reallocator.name().to_string(),
    };
    if options.firm_detail {
        result.reallocation = records;
    }
    Ok(result)
}

/// Prices and reserve flows after the MSR fixed point.
struct Cleared {
    points: Vec<YearPoint>,
    intake_t: Vec<f64>,
    release_t: Vec<f64>,
    iterations: u32,
    converged: bool,
}

fn settings(model: &Model) -> SolverSettings {
    SolverSettings {
        pick: model.solver.price_pick,
        price_max: model.solver.price_max,
    }
}

fn clear(model: &Model, markets: &[YearMarket], auction_t: &[f64]) -> Result<Vec<YearPoint>> {
    let settings = settings(model);
    if model.banking.enabled {
        let rules = BankRules {
            discount_rate: model.banking.discount_rate,
            initial_bank_t: model.banking.initial_bank_t,
            bank_min_t: if model.banking.borrowing_unlimited {
                f64::NEG_INFINITY
            } else {
                -model.banking.borrowing_limit_t
            },
        };
        solve_banked(markets, auction_t, rules, settings, &model.years)
    } else {
        markets
            .iter()
            .zip(auction_t)
            .zip(&model.years)
            .map(|((market, auction), year)| solve_year(market, *auction, settings, *year))
            .collect()
    }
}

/// The MSR changes next year's auction from this year's bank, which depends on prices:
/// iterate prices ↔ reserve flows until they stop changing (as Bruninx et al. do).
fn clear_with_msr(
    model: &Model,
    markets: &[YearMarket],
    allocation: &Allocation,
) -> Result<Cleared> {
    let years = model.year_count();
    let mut intake_t = vec![0.0; years];
    let mut release_t = vec![0.0; years];
    let Some(msr) = &model.msr else {
        let points = clear(model, markets, &allocation.auction_t)?;
        return Ok(Cleared {
            points,
            intake_t,
            release_t,
            iterations: 0,
            converged: true,
        });
    };
    let scale = model.cap_t.iter().copied().fold(1.0, f64::max);
    for iteration in 1..=model.solver.msr_iterations_max {
        let auction: Vec<f64> = (0..years)
            .map(|t| allocation.auction_t[t] - intake_t[t] + release_t[t])
            .collect();
        let points = clear(model, markets, &auction)?;
        let mut bank = model.banking.initial_bank_t;
        let mut pool = msr.initial_t;
        let mut next_intake = vec![0.0; years];
        let mut next_release = vec![0.0; years];
        for t in 0..years {
            // Next year's adjustment reads this year's closing bank (one-year lag).
            if bank > msr.upper_threshold_t {
                next_intake[t] = (msr.intake_rate * bank).min(allocation.auction_t[t]);
            } else if bank < msr.lower_threshold_t {
                next_release[t] = msr.release_t.min(pool);
            }
            pool += next_intake[t] - next_release[t];
            let market = &markets[t];
            let point = &points[t];
            let unsold = auction[t] * (1.0 - market.auction_share(point.price, point.theta));
            if model.unsold == UnsoldDestination::Msr {
                pool += unsold;
            }
            if let Some(limit) = msr.invalidation_threshold_t {
                pool = pool.min(limit);
            }
            let net = market.net_t(point.price, point.theta, auction[t]);
            bank += net - point.surplus_t + point.ceiling_sales_t;
        }
        let change = next_intake
            .iter()
            .zip(&intake_t)
            .chain(next_release.iter().zip(&release_t))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if change <= 1e-9 * scale {
            return Ok(Cleared {
                points,
                intake_t,
                release_t,
                iterations: iteration,
                converged: true,
            });
        }
        intake_t = next_intake;
        release_t = next_release;
    }
    let auction: Vec<f64> = (0..years)
        .map(|t| allocation.auction_t[t] - intake_t[t] + release_t[t])
        .collect();
    let points = clear(model, markets, &auction)?;
    Ok(Cleared {
        points,
        intake_t,
        release_t,
        iterations: model.solver.msr_iterations_max,
        converged: false,
    })
}

fn conservation(
    year: i32,
    account: &'static str,
    expected: f64,
    actual: f64,
    tolerance: f64,
) -> Result<()> {
    if (expected - actual).abs() <= tolerance {
        Ok(())
    } else {
        Err(ScenarioError::Conservation {
            year,
            account,
            expected,
            actual,
        })
    }
}

/// Price-dependent supply and abatement of one cleared year.
struct Flows {
    sold: f64,
    ccr: f64,
    offsets: f64,
    abatement: f64,
}

fn flows(market: &YearMarket, point: &YearPoint, offered: f64) -> Flows {
    let (price, theta) = (point.price, point.theta);
    let step_total = |kind: SupplyKind| -> f64 {
        market
            .steps
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.volume_t * jump_share(s.price, price, theta))
            .sum()
    };
    let (lower, upper) = (market.curve.lower_t(price), market.curve.upper_t(price));
    Flows {
        sold: offered * market.auction_share(price, theta),
        ccr: step_total(SupplyKind::Ccr),
        offsets: step_total(SupplyKind::Offsets),
        abatement: lower + theta * (upper - lower),
    }
}

/// The MSR after year `t`: intake, release, unsold auction volume, invalidation.
struct ReserveStep {
    pool_t: f64,
    cancelled_t: f64,
    invalidated_t: f64,
}

fn msr_step(model: &Model, cleared: &Cleared, t: usize, pool_t: f64, unsold_t: f64) -> ReserveStep {
    // Unsold auction volume goes to the MSR when there is one and the file says so;
    // otherwise it is cancelled.
    let (to_pool, cancelled_t) = if model.unsold == UnsoldDestination::Msr && model.msr.is_some() {
        (unsold_t, 0.0)
    } else {
        (0.0, unsold_t)
    };
    let mut pool_t = pool_t + cleared.intake_t[t] - cleared.release_t[t] + to_pool;
    let mut invalidated_t = 0.0;
    if let Some(limit) = model.msr.as_ref().and_then(|m| m.invalidation_threshold_t) {
        invalidated_t = (pool_t - limit).max(0.0);
        pool_t -= invalidated_t;
    }
    ReserveStep {
        pool_t,
        cancelled_t,
        invalidated_t,
    }
}

/// The yearly balance sheet; checks that every allowance is accounted for.
fn account(
    model: &Model,
    markets: &[YearMarket],
    allocation: &Allocation,
    cleared: &Cleared,
) -> Result<RunResult> {
    let years = model.year_count();
    let firms = model.firms.len();
    let mut rows = Vec::with_capacity(years);
    let mut bank = model.banking.initial_bank_t;
    let mut pool = model.msr.as_ref().map_or(0.0, |m| m.initial_t);
    #[allow(clippy::needless_range_loop)] // t indexes five parallel per-year vectors
    for t in 0..years {
        let market = &markets[t];
        let point = cleared.points[t];
        let (price, theta) = (point.price, point.theta);
        let year = model.years[t];
        let tolerance = 1e-6 * (market.baseline_t + model.cap_t[t] + bank.abs()).max(1.0);
        let free: f64 = (0..firms).map(|f| allocation.free_t[f * years + t]).sum();
        let reallocated: f64 = (0..firms)
            .map(|f| allocation.reallocated_t[f * years + t])
            .sum();
        let retired = allocation.retired_t[t];
        conservation(
            year,
            "cap",
            model.cap_t[t],
            free + reallocated + retired + allocation.auction_t[t],
            tolerance,
        )?;
        let offered = allocation.auction_t[t] - cleared.intake_t[t] + cleared.release_t[t];
        let Flows {
            sold,
            ccr,
            offsets,
            abatement,
        } = flows(market, &point, offered);
        let emissions = market.baseline_t - abatement;
        let at_floor = market.floor > 0.0 && price <= market.floor;
        let (withdrawn, lapsed) = if at_floor || model.banking.enabled {
            (point.surplus_t, 0.0)
        } else {
            (0.0, point.surplus_t)
        };
        let opening = bank;
        bank += free + reallocated + sold + ccr + offsets + point.ceiling_sales_t
            - withdrawn
            - lapsed
            - emissions;
        // Pair check: the solver's own net flow must give the same bank.
        let solver_bank =
            opening + market.net_t(price, theta, offered) - point.surplus_t + point.ceiling_sales_t;
        conservation(year, "bank", solver_bank, bank, tolerance)?;
        check_bank_bounds(model, t, bank, tolerance)?;
        // Without banking the bank is zero by definition (checked just above); with it,
        // floating-point dust on an empty bank is reported, and carried, as exactly zero
        // (never `-0.000`).
        if !model.banking.enabled
            || bank.abs() <= DUST_RELATIVE * (market.baseline_t + model.cap_t[t]).max(1.0)
        {
            bank = 0.0;
        }
        let unsold = offered - sold;
        let pool_opening = pool;
        let reserve = msr_step(model, cleared, t, pool, unsold);
        pool = reserve.pool_t;
        let (cancelled, invalidated) = (reserve.cancelled_t, reserve.invalidated_t);
        if pool < -tolerance {
            return Err(ScenarioError::Conservation {
                year,
                account: "msr_pool",
                expected: 0.0,
                actual: pool,
            });
        }
        // Whole system: everything issued this year (cap, reserves, offsets, ceiling sales)
        // is emitted, held in the bank or the MSR, cancelled, retired by reallocation,
        // withdrawn or lapsed.
        let issued = model.cap_t[t] + ccr + offsets + point.ceiling_sales_t;
        let accounted = emissions
            + (bank - opening)
            + (pool - pool_opening)
            + cancelled
            + retired
            + invalidated
            + withdrawn
            + lapsed;
        conservation(year, "system", issued, accounted, tolerance)?;
        rows.push(YearResult {
            year,
            price,
            price_low: point.price_low,
            price_high: point.price_high,
            tie_fraction: theta,
            cap_t: model.cap_t[t],
            free_t: free,
            reallocated_t: reallocated,
            freed_t: allocation.freed_t[t],
            reallocation_retired_t: retired,
            auction_offered_t: offered,
            auction_sold_t: sold,
            auction_unsold_t: unsold,
            auction_revenue: sold * price,
            msr_intake_t: cleared.intake_t[t],
            msr_release_t: cleared.release_t[t],
            msr_invalidated_t: invalidated,
            msr_pool_t: pool,
            ccr_released_t: ccr,
            offsets_used_t: offsets,
            ceiling_sales_t: point.ceiling_sales_t,
            floor_withdrawn_t: withdrawn,
            lapsed_t: lapsed,
            baseline_t: market.baseline_t,
            emissions_t: emissions,
            abatement_t: abatement,
            bank_t: bank,
            ..YearResult::default()
        });
    }
    let price_interval_years = rows
        .iter()
        .filter(|r| r.price_high - r.price_low > 1e-9 * r.price_high.abs().max(1.0))
        .map(|r| r.year)
        .collect();
    Ok(RunResult {
        scenario: model.name.clone(),
        currency: model.currency.clone(),
        years: model.years.clone(),
        market: rows,
        solver: SolverReport {
            method: if model.banking.enabled {
                "hotelling-segments-bisection"
            } else {
                "yearly-bisection"
            },
            price_pick: format!("{:?}", model.solver.price_pick).to_lowercase(),
            price_tolerance_relative: crate::curve::PRICE_TOLERANCE_RELATIVE,
            msr_iterations: cleared.iterations,
            msr_converged: cleared.converged,
            price_interval_years,
            ..SolverReport::default()
        },
        ..RunResult::default()
    })
}

fn check_bank_bounds(model: &Model, t: usize, bank: f64, tolerance: f64) -> Result<()> {
    let year = model.years[t];
    let last = t + 1 == model.year_count();
    if !model.banking.enabled {
        return conservation(year, "bank_without_banking", 0.0, bank, tolerance);
    }
    let minimum = if last {
        0.0
    } else if model.banking.borrowing_unlimited {
        f64::NEG_INFINITY
    } else {
        -model.banking.borrowing_limit_t
    };
    if bank < minimum - tolerance {
        return Err(ScenarioError::Conservation {
            year,
            account: "bank_lower_bound",
            expected: minimum,
            actual: bank,
        });
    }
    Ok(())
}

/// One firm in one year at the market's price, and whether its command-and-control
/// target exceeded its abatement potential.
fn firm_year(
    model: &Model,
    allocation: &Allocation,
    index: usize,
    t: usize,
    market: &YearResult,
) -> (FirmYear, bool) {
    let firm = &model.firms[index];
    let baseline = model.baseline(index, t);
    let cell = index * model.year_count() + t;
    let abatement =
        firm.curve
            .response_t(baseline, firm.mac_scale, market.price, market.tie_fraction);
    let emissions = baseline - abatement;
    let free = allocation.free_t[cell];
    let reallocated = allocation.reallocated_t[cell];
    // Command-and-control: no trading, each firm keeps to its own endowment
    // (free + reallocated + its baseline-weighted share of the auction).
    let auction_share = if market.baseline_t > 0.0 {
        baseline / market.baseline_t
    } else {
        0.0
    };
    let endowment = free + reallocated + allocation.auction_t[t] * auction_share;
    let required = (baseline - endowment).max(0.0);
    let potential = firm.curve.potential_t(baseline);
    let cac_abatement = required.min(potential);
    let net_purchase = emissions - free - reallocated;
    let row = FirmYear {
        emissions_t: emissions,
        abatement_t: abatement,
        free_t: free,
        reallocated_t: reallocated,
        net_purchase_t: net_purchase,
        abatement_cost: firm.curve.cost(baseline, firm.mac_scale, abatement),
        allowance_cost: net_purchase * market.price,
        cac_abatement_t: cac_abatement,
        cac_abatement_cost: firm.curve.cost(baseline, firm.mac_scale, cac_abatement),
    };
    (row, required > potential * (1.0 + 1e-12) + 1e-12)
}

/// Firm-year rows, group series, command-and-control comparison and totals.
fn firm_rows(
    model: &Model,
    allocation: &Allocation,
    result: &mut RunResult,
    keep: bool,
) -> Result<()> {
    let years = model.year_count();
    let firms = model.firms.len();
    let discount = |t: usize| (1.0 + model.banking.discount_rate).powi(-(t as i32));
    let group = |names: Vec<String>| -> Vec<GroupSeries> {
        names
            .into_iter()
            .map(|name| GroupSeries {
                name,
                emissions_t: vec![0.0; years],
                free_t: vec![0.0; years],
                abatement_cost: vec![0.0; years],
            })
            .collect()
    };
    let mut sectors = group(model.sectors.iter().map(|s| s.name.clone()).collect());
    let mut regions = group(model.regions.clone());
    let mut rows = Vec::with_capacity(if keep { firms * years } else { 0 });
    let mut summaries = Vec::with_capacity(firms);
    let mut totals = Totals::default();
    let mut emissions_by_year = vec![0.0; years];
    for (index, firm) in model.firms.iter().enumerate() {
        let mut summary = FirmSummary {
            id: firm.id.clone(),
            sector: model.sectors[firm.sector].name.clone(),
            region: model.regions[firm.region].clone(),
            ..FirmSummary::default()
        };
        #[allow(clippy::needless_range_loop)] // t indexes the market rows and firm-year cells
        for t in 0..years {
            let market = &result.market[t];
            let (row, cac_infeasible) = firm_year(model, allocation, index, t, market);
            totals.cac_infeasible_firm_years += usize::from(cac_infeasible);
            let baseline = model.baseline(index, t);
            let (emissions, abatement_cost, cac_cost) =
                (row.emissions_t, row.abatement_cost, row.cac_abatement_cost);
            let (free, reallocated, cac_abatement) =
                (row.free_t, row.reallocated_t, row.cac_abatement_t);
            emissions_by_year[t] += emissions;
            for series in [&mut sectors[firm.sector], &mut regions[firm.region]] {
                series.emissions_t[t] += emissions;
                series.free_t[t] += free + reallocated;
                series.abatement_cost[t] += abatement_cost;
            }
            let year_row = &mut result.market[t];
            year_row.abatement_cost += abatement_cost;
            year_row.cac_abatement_cost += cac_cost;
            year_row.cac_emissions_t += baseline - cac_abatement;
            totals.abatement_cost_pv += abatement_cost * discount(t);
            totals.cac_abatement_cost_pv += cac_cost * discount(t);
            summary.abatement_cost += abatement_cost;
            summary.net_cost += abatement_cost + row.allowance_cost;
            summary.cac_abatement_cost += cac_cost;
            if keep {
                rows.push(row);
            }
        }
        summary.net_cost_change_vs_cac = summary.net_cost - summary.cac_abatement_cost;
        if summary.net_cost_change_vs_cac < -1e-9 {
            totals.winners_vs_cac += 1;
        } else if summary.net_cost_change_vs_cac > 1e-9 {
            totals.losers_vs_cac += 1;
        }
        summaries.push(summary);
    }
    // Pair check: firm responses must add up to the aggregate curve's emissions.
    for (t, row) in result.market.iter().enumerate() {
        let tolerance = 1e-6 * row.baseline_t.max(1.0);
        conservation(
            row.year,
            "firm_emissions",
            row.emissions_t,
            emissions_by_year[t],
            tolerance,
        )?;
    }
    for row in &result.market {
        totals.emissions_t += row.emissions_t;
        totals.abatement_t += row.abatement_t;
        totals.abatement_cost += row.abatement_cost;
        totals.cac_abatement_cost += row.cac_abatement_cost;
        totals.auction_revenue += row.auction_revenue;
    }
    totals.cost_savings = totals.cac_abatement_cost - totals.abatement_cost;
    totals.cost_savings_pv = totals.cac_abatement_cost_pv - totals.abatement_cost_pv;
    result.totals = totals;
    result.sectors = sectors;
    result.regions = regions;
    result.firms = summaries;
    result.firm_years = rows;
    Ok(())
}
