//! Assembles the published [`Allocation`]: exact decimals, statuses with reasons, per-pool and
//! per-cap accounts, shadow prices and the provenance flows (north-west corner over sources in
//! reduction-id order and grants in priority order, so flows are deterministic).

use std::collections::BTreeSet;

use rayon::prelude::*;

use crate::allocation::{
    Allocation, ApplicationResult, Binding, CapResult, Constraint, Flow, Grant, PoolResult,
    ShadowPrice, Status,
};
use crate::engine::Outcome;
use crate::model::Round;
use crate::policy::{Objective, TIER_MAX};
use crate::prepare::{COEF_PLACES, Prepared, RowKind, to_decimal};

pub(crate) fn assemble(round: &Round, prep: &Prepared, outcome: &Outcome) -> Allocation {
    // Priority order (tier, credit grade, filing time, id; excluded last): the ranked list the
    // bureau publishes, and independent of the input order.
    // Each result depends only on its own project: built in parallel, collected in order.
    let (applications, flows) = rayon::join(
        || {
            (0..prep.apps.len())
                .into_par_iter()
                .with_min_len(4_096)
                .map(|i| application(round, prep, outcome, i))
                .collect::<Vec<ApplicationResult>>()
        },
        || flows(round, prep, outcome),
    );
    Allocation {
        round_id: round.id.clone(),
        policy_version: round.policy.version.clone(),
        objective: round.policy.objective,
        applications,
        pools: pools(round, prep, outcome),
        caps: caps(round, prep, outcome),
        mip_gap: outcome.tiers.iter().map(|t| t.mip_gap).fold(0.0, f64::max),
        tiers: outcome.tiers.clone(),
        flows,
    }
}

fn constraint(round: &Round, prep: &Prepared, row: usize) -> Constraint {
    match &prep.rows[row].kind {
        RowKind::Pool(p) => Constraint::Pool {
            pool: round.pools[prep.pools[*p].input].id.clone(),
        },
        RowKind::Cap(c) => Constraint::Cap {
            cap: round.policy.caps[*c].id.clone(),
        },
        RowKind::Share { pool, enterprise } => Constraint::EnterpriseShare {
            enterprise: enterprise.clone(),
            pool: round.pools[prep.pools[*pool].input].id.clone(),
        },
    }
}

fn application(round: &Round, prep: &Prepared, outcome: &Outcome, i: usize) -> ApplicationResult {
    let app = &prep.apps[i];
    let input = &round.applications[app.input];
    let q = &outcome.grants[i];
    let grants: Vec<Grant> = app
        .items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let scale = prep.pollutants[item.pollutant].scale;
            let drawn = app
                .entries
                .iter()
                .find(|e| Some(e.row) == item.pool && e.item == k)
                .map_or(0, |e| prep.rows[e.row].usage_of(e.coef, q[k]));
            Grant {
                pollutant: prep.pollutants[item.pollutant].id.clone(),
                pool: item
                    .pool
                    .map(|p| round.pools[prep.pools[p].input].id.clone()),
                requested: to_decimal(item.requested, scale),
                granted: to_decimal(q[k], scale),
                drawn: to_decimal(drawn, scale),
            }
        })
        .collect();
    let fill_rate = app
        .items
        .iter()
        .zip(q)
        .map(|(item, &g)| g as f64 / item.requested as f64)
        .fold(if app.items.is_empty() { 0.0 } else { 1.0 }, f64::min);
    let full = !app.items.is_empty() && app.items.iter().zip(q).all(|(it, &g)| g == it.requested);
    let status = if app.tier.is_none() {
        Status::Excluded
    } else if full {
        Status::Full
    } else if q.iter().any(|&g| g > 0) {
        Status::Partial
    } else {
        Status::None
    };
    let binding = match status {
        Status::Partial | Status::None => binding(round, prep, outcome, i),
        _ => Vec::new(),
    };
    ApplicationResult {
        id: input.id.clone(),
        enterprise: input.enterprise.clone(),
        tier: app.tier,
        status,
        exclusions: app.exclusions.clone(),
        notes: app.notes.clone(),
        fill_rate,
        grants,
        binding,
    }
}

/// A row binds a project when it was tight in the tier's continuous solution, or cannot give the
/// project one more ledger unit after the tier's exact rounding (later tiers only take more).
fn binding(round: &Round, prep: &Prepared, outcome: &Outcome, i: usize) -> Vec<Binding> {
    let app = &prep.apps[i];
    if !app.missing.is_empty() {
        return app
            .missing
            .iter()
            .map(|c| Binding {
                constraint: c.clone(),
                shadow_price: None,
            })
            .collect();
    }
    let Some(tier) = app.tier else {
        return Vec::new();
    };
    let after = &outcome.residual_after_tier[usize::from(tier) - 1];
    let tight = &outcome.tight[usize::from(tier) - 1];
    let q = &outcome.grants[i];
    let mut rows = BTreeSet::new();
    for e in &app.entries {
        let row = &prep.rows[e.row];
        let extra = row.usage_of(e.coef, q[e.item] + 1) - row.usage_of(e.coef, q[e.item]);
        if extra > after[e.row] || tight[e.row] {
            rows.insert(e.row);
        }
    }
    let mut out: Vec<Binding> = rows
        .into_iter()
        .map(|r| Binding {
            constraint: constraint(round, prep, r),
            shadow_price: outcome.duals[usize::from(tier) - 1][r]
                .map(|d| d * prep.rows[r].units_per_tonne),
        })
        .collect();
    if out.is_empty() && app.min_share > 0.0 {
        out.push(Binding {
            constraint: Constraint::MinimumViableShare,
            shadow_price: None,
        });
    }
    out
}

fn shadow_price(
    round: &Round,
    prep: &Prepared,
    outcome: &Outcome,
    row: usize,
    used: i128,
) -> Option<ShadowPrice> {
    if round.policy.objective == Objective::FillRateFairness {
        return None;
    }
    let per_tonne = prep.rows[row].units_per_tonne;
    let capacity = prep.rows[row].rhs as f64;
    let priced = outcome.duals.iter().enumerate().find_map(|(t, duals)| {
        let dual = duals[row]?;
        let range = outcome.ranges[t][row];
        let valued = dual > 1e-12 || range.is_some_and(|p| p.down > 1e-12 || p.up > 1e-12);
        if !valued {
            return None;
        }
        // The LP's rhs was what was left before tier t; restate the range as the capacity itself.
        let before = outcome.residual_before_tier[t][row] as f64;
        let to_capacity = |v: f64| (capacity + (v - before)) / per_tonne;
        Some(ShadowPrice {
            tier: t as u8 + 1,
            value: dual * per_tonne,
            value_up: range.map(|p| p.up * per_tonne),
            value_down: range.map(|p| p.down * per_tonne),
            interval: range.is_some_and(|p| p.down - p.up > 1e-9 * p.down.abs().max(1e-12)),
            range_known: range.is_some(),
            range_low: range.map(|p| to_capacity(p.low).max(0.0)),
            range_high: range.and_then(|p| p.high).map(to_capacity),
        })
    });
    // No tier values it: every tier's dual is 0 and stays 0 down to what was finally used (the
    // value of the last unit is 0 too unless nothing is left).
    let left = prep.rows[row].rhs - used;
    priced.or_else(|| {
        Some(ShadowPrice {
            tier: TIER_MAX,
            value: 0.0,
            value_up: Some(0.0),
            value_down: (left > 0).then_some(0.0),
            interval: false,
            range_known: true,
            range_low: Some(used as f64 / per_tonne),
            range_high: None,
        })
    })
}

fn pools(round: &Round, prep: &Prepared, outcome: &Outcome) -> Vec<PoolResult> {
    let mut granted = vec![0i128; prep.pools.len()];
    for (app, q) in prep.apps.iter().zip(&outcome.grants) {
        for (item, &g) in app.items.iter().zip(q) {
            if let Some(p) = item.pool {
                granted[p] += g;
            }
        }
    }
    prep.pools
        .iter()
        .enumerate()
        .map(|(p, pool)| {
            let scale = prep.pollutants[pool.pollutant].scale;
            let left = outcome.residual[p];
            let used = pool.available - left;
            let input = &round.pools[pool.input];
            PoolResult {
                id: input.id.clone(),
                pollutant: input.pollutant.clone(),
                area: input.area.clone(),
                total: to_decimal(pool.total, scale),
                held_back: to_decimal(pool.held, scale),
                available: to_decimal(pool.available, scale),
                used: to_decimal(used, scale),
                granted: to_decimal(granted[p], scale),
                retired: to_decimal(used - granted[p], scale),
                left: to_decimal(left, scale),
                shadow_price: shadow_price(round, prep, outcome, p, used),
            }
        })
        .collect()
}

fn caps(round: &Round, prep: &Prepared, outcome: &Outcome) -> Vec<CapResult> {
    (0..prep.rows.len())
        .filter_map(|r| {
            let RowKind::Cap(c) = prep.rows[r].kind else {
                return None;
            };
            let cap = &round.policy.caps[c];
            let scale = prep.pollutants[prep.rows[r].pollutant].scale + COEF_PLACES;
            let left = outcome.residual[r];
            Some(CapResult {
                id: cap.id.clone(),
                pollutant: cap.pollutant.clone(),
                cap: cap.cap,
                used: to_decimal(prep.rows[r].rhs - left, scale).normalize(),
                left: to_decimal(left, scale).normalize(),
                shadow_price: shadow_price(round, prep, outcome, r, prep.rows[r].rhs - left),
            })
        })
        .collect()
}

fn flows(round: &Round, prep: &Prepared, outcome: &Outcome) -> Vec<Flow> {
    // Draws per pool in priority order; pools are sorted by id and sources by reduction id, so
    // walking them in order yields flows sorted by (pool, reduction, priority) without a sort.
    let mut draws: Vec<Vec<(usize, i128)>> = vec![Vec::new(); prep.pools.len()];
    for (i, app) in prep.apps.iter().enumerate() {
        for e in app.entries.iter().filter(|e| e.row < prep.pools.len()) {
            let draw = prep.rows[e.row].usage_of(e.coef, outcome.grants[i][e.item]);
            if draw > 0 {
                draws[e.row].push((i, draw));
            }
        }
    }
    // Pools are independent: each pool's flows are built in parallel and joined in pool order.
    let per_pool: Vec<Vec<Flow>> = prep
        .pools
        .par_iter()
        .enumerate()
        .map(|(p, pool)| {
            let mut out = Vec::new();
            let pool_id = &round.pools[pool.input].id;
            let pollutant = &prep.pollutants[pool.pollutant];
            let mut source = 0;
            let mut left = pool.sources.first().map_or(0, |s| s.1);
            for &(i, mut draw) in &draws[p] {
                while draw > 0 && source < pool.sources.len() {
                    let take = draw.min(left);
                    if take > 0 {
                        out.push(Flow {
                            pool: pool_id.clone(),
                            reduction_id: pool.sources[source].0.clone(),
                            application: round.applications[prep.apps[i].input].id.clone(),
                            pollutant: pollutant.id.clone(),
                            quantity: to_decimal(take, pollutant.scale),
                        });
                    }
                    draw -= take;
                    left -= take;
                    if left == 0 {
                        source += 1;
                        left = pool.sources.get(source).map_or(0, |s| s.1);
                    }
                }
                assert!(
                    draw == 0,
                    "pool {pool_id} overdrawn: its sources cannot fund the draws"
                );
            }
            out
        })
        .collect();
    per_pool.concat()
}
