//! A scenario against a baseline scenario: price, emissions and cost deltas by year,
//! and who gains and who loses (firms matched by id, sectors and regions by name).

use crate::results::{GroupSeries, RunResult};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Debug, Serialize)]
pub struct YearDelta {
    pub year: i32,
    pub price: f64,
    pub baseline_price: f64,
    pub emissions_t: f64,
    pub baseline_emissions_t: f64,
    pub abatement_cost: f64,
    pub baseline_abatement_cost: f64,
    pub auction_revenue: f64,
    pub baseline_auction_revenue: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FirmDelta {
    pub id: String,
    pub sector: String,
    pub region: String,
    pub net_cost: f64,
    pub baseline_net_cost: f64,
    /// Scenario minus baseline: negative means the firm gains.
    pub change: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupDelta {
    pub name: String,
    pub emissions_t_change: f64,
    pub abatement_cost_change: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub baseline: String,
    pub years: Vec<YearDelta>,
    pub emissions_t_change: f64,
    pub abatement_cost_change: f64,
    pub abatement_cost_pv_change: f64,
    pub auction_revenue_change: f64,
    /// Firms sorted from largest gain to largest loss.
    pub firms: Vec<FirmDelta>,
    pub winners: usize,
    pub losers: usize,
    /// Firms present in only one of the two scenarios.
    pub unmatched_firms: usize,
    pub sectors: Vec<GroupDelta>,
    pub regions: Vec<GroupDelta>,
}

/// Compares `scenario` with `baseline`; years present in only one are left out.
pub fn compare(scenario: &RunResult, baseline: &RunResult) -> Comparison {
    let baseline_years: HashMap<i32, usize> = baseline
        .market
        .iter()
        .enumerate()
        .map(|(i, y)| (y.year, i))
        .collect();
    let years: Vec<YearDelta> = scenario
        .market
        .iter()
        .filter_map(|row| {
            let other = &baseline.market[*baseline_years.get(&row.year)?];
            Some(YearDelta {
                year: row.year,
                price: row.price,
                baseline_price: other.price,
                emissions_t: row.emissions_t,
                baseline_emissions_t: other.emissions_t,
                abatement_cost: row.abatement_cost,
                baseline_abatement_cost: other.abatement_cost,
                auction_revenue: row.auction_revenue,
                baseline_auction_revenue: other.auction_revenue,
            })
        })
        .collect();
    let baseline_firms: HashMap<&str, f64> = baseline
        .firms
        .iter()
        .map(|f| (f.id.as_str(), f.net_cost))
        .collect();
    let mut firms: Vec<FirmDelta> = scenario
        .firms
        .iter()
        .filter_map(|firm| {
            let other = *baseline_firms.get(firm.id.as_str())?;
            Some(FirmDelta {
                id: firm.id.clone(),
                sector: firm.sector.clone(),
                region: firm.region.clone(),
                net_cost: firm.net_cost,
                baseline_net_cost: other,
                change: firm.net_cost - other,
            })
        })
        .collect();
    firms.sort_by(|a, b| a.change.total_cmp(&b.change).then_with(|| a.id.cmp(&b.id)));
    let tolerance = 1e-9;
    let matched = firms.len();
    Comparison {
        scenario: scenario.scenario.clone(),
        baseline: baseline.scenario.clone(),
        emissions_t_change: scenario.totals.emissions_t - baseline.totals.emissions_t,
        abatement_cost_change: scenario.totals.abatement_cost - baseline.totals.abatement_cost,
        abatement_cost_pv_change: scenario.totals.abatement_cost_pv
            - baseline.totals.abatement_cost_pv,
        auction_revenue_change: scenario.totals.auction_revenue - baseline.totals.auction_revenue,
        winners: firms.iter().filter(|f| f.change < -tolerance).count(),
        losers: firms.iter().filter(|f| f.change > tolerance).count(),
        unmatched_firms: scenario.firms.len() + baseline.firms.len() - 2 * matched,
        firms,
        sectors: group_deltas(&scenario.sectors, &baseline.sectors),
        regions: group_deltas(&scenario.regions, &baseline.regions),
        years,
    }
}

fn group_deltas(scenario: &[GroupSeries], baseline: &[GroupSeries]) -> Vec<GroupDelta> {
    let total = |series: &GroupSeries| -> (f64, f64) {
        (
            series.emissions_t.iter().sum(),
            series.abatement_cost.iter().sum(),
        )
    };
    let others: HashMap<&str, (f64, f64)> = baseline
        .iter()
        .map(|g| (g.name.as_str(), total(g)))
        .collect();
    scenario
        .iter()
        .map(|group| {
            let (emissions, cost) = total(group);
            let (other_emissions, other_cost) = others
                .get(group.name.as_str())
                .copied()
                .unwrap_or((0.0, 0.0));
            GroupDelta {
                name: group.name.clone(),
                emissions_t_change: emissions - other_emissions,
                abatement_cost_change: cost - other_cost,
            }
        })
        .collect()
}
