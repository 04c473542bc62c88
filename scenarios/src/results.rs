//! What a run produces: a yearly balance sheet, firm-year rows, group totals and the
//! comparison with command-and-control. Plain data, serialisable for the JSON summary.

use crate::allocation::ReallocationRecord;
use serde::Serialize;

/// The market's balance sheet and prices for one year. Quantities in t, money in currency.
#[derive(Clone, Debug, Default, Serialize)]
pub struct YearResult {
    pub year: i32,
    /// Allowance price (positive, currency per t).
    pub price: f64,
    pub price_low: f64,
    pub price_high: f64,
    /// Share taken of the abatement and supply steps sitting exactly at the price.
    pub tie_fraction: f64,
    pub cap_t: f64,
    pub free_t: f64,
    pub reallocated_t: f64,
    pub freed_t: f64,
    /// Freed capacity retired by the reallocation rule (replacement ratios).
    pub reallocation_retired_t: f64,
    pub auction_offered_t: f64,
    pub auction_sold_t: f64,
    pub auction_unsold_t: f64,
    pub auction_revenue: f64,
    pub msr_intake_t: f64,
    pub msr_release_t: f64,
    pub msr_invalidated_t: f64,
    pub msr_pool_t: f64,
    pub ccr_released_t: f64,
    pub offsets_used_t: f64,
    pub ceiling_sales_t: f64,
    pub floor_withdrawn_t: f64,
    /// Surplus left unused at a zero price when banking is off.
    pub lapsed_t: f64,
    pub baseline_t: f64,
    pub emissions_t: f64,
    pub abatement_t: f64,
    pub abatement_cost: f64,
    /// Allowances held at the end of the year (TNAC); negative when borrowed.
    pub bank_t: f64,
    pub cac_emissions_t: f64,
    pub cac_abatement_cost: f64,
}

/// One firm in one year.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FirmYear {
    pub emissions_t: f64,
    pub abatement_t: f64,
    pub free_t: f64,
    pub reallocated_t: f64,
    /// Emissions minus free allocation: positive buys, negative sells. Firm-level banking
    /// is not determined by a competitive equilibrium, so the bank is the market's row.
    pub net_purchase_t: f64,
    pub abatement_cost: f64,
    /// Price × net purchase (negative: sales revenue).
    pub allowance_cost: f64,
    pub cac_abatement_t: f64,
    pub cac_abatement_cost: f64,
}

/// One firm over the horizon, undiscounted, with the change against command-and-control.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FirmSummary {
    pub id: String,
    pub sector: String,
    pub region: String,
    pub abatement_cost: f64,
    pub net_cost: f64,
    pub cac_abatement_cost: f64,
    /// Net cost under trading minus abatement cost under command-and-control; negative gains.
    pub net_cost_change_vs_cac: f64,
}

/// A sector's or region's yearly figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupSeries {
    pub name: String,
    pub emissions_t: Vec<f64>,
    pub free_t: Vec<f64>,
    pub abatement_cost: Vec<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub emissions_t: f64,
    pub abatement_t: f64,
    pub abatement_cost: f64,
    pub abatement_cost_pv: f64,
    pub cac_abatement_cost: f64,
    pub cac_abatement_cost_pv: f64,
    /// Command-and-control abatement cost minus trading abatement cost.
    pub cost_savings: f64,
    pub cost_savings_pv: f64,
    pub auction_revenue: f64,
    /// Firm-years whose command-and-control target exceeded their abatement potential.
    pub cac_infeasible_firm_years: usize,
    pub winners_vs_cac: usize,
    pub losers_vs_cac: usize,
}

/// Solver facts recorded in the manifest and summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SolverReport {
    pub method: &'static str,
    pub price_pick: String,
    pub price_tolerance_relative: f64,
    pub msr_iterations: u32,
    pub msr_converged: bool,
    pub reallocator: String,
    /// Years whose clearing price is an interval (step curves).
    pub price_interval_years: Vec<i32>,
}

/// A full run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunResult {
    pub scenario: String,
    pub currency: String,
    pub years: Vec<i32>,
    pub market: Vec<YearResult>,
    pub totals: Totals,
    pub sectors: Vec<GroupSeries>,
    pub regions: Vec<GroupSeries>,
    pub firms: Vec<FirmSummary>,
    /// Firm-major firm-year rows (empty when the run asked for no firm detail).
    #[serde(skip)]
    pub firm_years: Vec<FirmYear>,
    /// Every reallocation candidate's tier, status, grant and reasons, by year (empty
    /// without reallocation or without firm detail).
    pub reallocation: Vec<ReallocationRecord>,
    pub solver: SolverReport,
}

impl RunResult {
    pub fn prices(&self) -> Vec<f64> {
        self.market.iter().map(|y| y.price).collect()
    }
}
