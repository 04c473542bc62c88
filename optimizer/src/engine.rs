//! Strict priority: tiers are solved one after another, each against what the higher tiers left,
//! and each tier's exact (rounded) result is fixed before the next starts. A lower tier therefore
//! never gets capacity a higher tier could use, and nothing a lower tier does can change a higher
//! tier's grants.

use crate::allocation::TierResult;
use crate::policy::{Objective, TIER_MAX};
use crate::prepare::{Prepared, RowKind};
use crate::rounding::round_tier;
use crate::solve::{Method, Options, TierLp, solve_tier};

/// What the tiers produced, in prepared (priority) order.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub residual: Vec<i128>,
    /// Units per item of every app.
    pub grants: Vec<Vec<i128>>,
    /// Per tier (index tier-1), per global row: dual in objective units per row unit, when the row
    /// was in that tier's LP; and its rhs range (row units) when known.
    pub duals: Vec<Vec<Option<f64>>>,
    pub ranges: Vec<Vec<crate::solve::ranging::Range>>,
    /// Per tier, what was left of every row before and after it.
    pub residual_before_tier: Vec<Vec<i128>>,
    pub residual_after_tier: Vec<Vec<i128>>,
    /// Per tier, per global row: tight in the tier's continuous solution. Rounding down to ledger
    /// units can leave a little room in a row that stopped projects; they are still stopped by it.
    pub tight: Vec<Vec<bool>>,
    pub tiers: Vec<TierResult>,
}

pub(crate) fn run(
    prep: &Prepared,
    objective: Objective,
    options: &Options,
    phases: &mut crate::Phases,
) -> Result<Outcome, (u8, String)> {
    let clock = std::time::Instant::now;
    let rows = prep.rows.len();
    let mut outcome = Outcome {
        residual: prep.rows.iter().map(|r| r.rhs).collect(),
        grants: prep.apps.iter().map(|a| vec![0; a.items.len()]).collect(),
        duals: Vec::new(),
        ranges: Vec::new(),
        residual_before_tier: Vec::new(),
        residual_after_tier: Vec::new(),
        tight: Vec::new(),
        tiers: Vec::new(),
    };
    let mut start = 0;
    for tier in 1..=TIER_MAX {
        let end = start
            + prep.apps[start..]
                .iter()
                .take_while(|a| a.tier == Some(tier))
                .count();
        let members: Vec<usize> = (start..end).collect();
        start = end;
        let started = clock();
        let (lp, columns, local_rows, mut y) =
            build_lp(prep, &members, &outcome.residual, options.method);
        phases.build += started.elapsed().as_secs_f64();
        let started = clock();
        let solution = solve_tier(&lp, objective, options).map_err(|e| (tier, e))?;
        phases.solve += started.elapsed().as_secs_f64();
        let started = clock();
        // Projects filled without the LP (no row could bind) count in the tier's objective.
        let free: f64 = (0..members.len())
            .filter(|&k| y[k] > 0.0)
            .map(|k| prep.apps[members[k]].weight * y[k])
            .sum();
        for (k, &m) in columns.iter().enumerate() {
            y[m] = solution.y[k];
        }
        let mut activity = vec![0.0; lp.rows()];
        for (j, &v) in solution.y.iter().enumerate() {
            for (r, a) in lp.column(j) {
                activity[r] += a * v;
            }
        }
        let mut tight = vec![false; rows];
        for (local, &global) in local_rows.iter().enumerate() {
            tight[global] = lp.rhs[local] - activity[local] <= 1e-7 * lp.rhs[local].max(1.0);
        }
        outcome.tight.push(tight);
        let mut tier_duals = vec![None; rows];
        let mut tier_ranges = vec![None; rows];
        for (local, &global) in local_rows.iter().enumerate() {
            if let Some(d) = &solution.duals {
                tier_duals[global] = Some(d[local]);
            }
            if let Some(r) = &solution.ranges {
                tier_ranges[global] = r[local];
            }
        }
        outcome.residual_before_tier.push(outcome.residual.clone());
        round_tier(
            prep,
            &members,
            &y,
            &mut outcome.residual,
            &mut outcome.grants,
        );
        outcome.residual_after_tier.push(outcome.residual.clone());
        phases.rounding += started.elapsed().as_secs_f64();
        outcome.duals.push(tier_duals);
        outcome.ranges.push(tier_ranges);
        outcome.tiers.push(TierResult {
            tier,
            applications: members.len(),
            columns: lp.cols(),
            rows: lp.rows(),
            objective: solution.objective + free,
            bound: solution.bound + free,
            mip_gap: solution.gap,
            method: solution.method,
        });
    }
    Ok(outcome)
}

/// Whether an all-or-nothing (or minimum-share) project's minimum alone fits every row it touches.
/// One that does not can only be 0; left in the MILP it is a column whose bundle can be a million
/// times a row's capacity, which invites HiGHS to park it at a tolerance-sized "zero".
fn minimum_fits(prep: &Prepared, app: &crate::prepare::App, residual: &[i128]) -> bool {
    let mut need: Vec<f64> = Vec::new();
    let mut rows: Vec<usize> = Vec::new();
    for e in &app.entries {
        let usage = app.min_share
            * prep.rows[e.row].float_coef(e.coef)
            * app.items[e.item].requested as f64;
        match rows.iter().position(|&r| r == e.row) {
            Some(k) => need[k] += usage,
            None => {
                rows.push(e.row);
                need.push(usage);
            }
        }
    }
    rows.iter()
        .zip(&need)
        .all(|(&r, &u)| u <= residual[r] as f64 * (1.0 + 1e-9))
}

/// Builds the tier's problem from what is left. Structured: a project touching an exhausted row
/// is out (fixed proportions), so is one whose minimum share alone overfills a row, a row whose
/// whole potential demand fits with room to spare is
/// dropped (it cannot bind), and a project with no row left gets everything. Naive: every
/// eligible project and every row it touches, as written.
///
/// Returns the LP, the member positions of its columns, the global ids of its rows and the
/// initial shares of all members.
fn build_lp(
    prep: &Prepared,
    members: &[usize],
    residual: &[i128],
    method: Method,
) -> (TierLp, Vec<usize>, Vec<usize>, Vec<f64>) {
    let naive = method == Method::NaiveGoodLp;
    let mut y = vec![0.0; members.len()];
    let candidate: Vec<bool> = members
        .iter()
        .map(|&i| {
            let app = &prep.apps[i];
            app.missing.is_empty()
                && !app.items.is_empty()
                && (naive || app.entries.iter().all(|e| residual[e.row] > 0))
                && (naive || app.min_share <= 0.0 || minimum_fits(prep, app, residual))
        })
        .collect();
    let mut potential = vec![0i128; prep.rows.len()];
    for (_, &i) in members.iter().enumerate().filter(|(k, _)| candidate[*k]) {
        let app = &prep.apps[i];
        for e in &app.entries {
            potential[e.row] += prep.rows[e.row].usage_of(e.coef, app.items[e.item].requested);
        }
    }
    // A row the demand fills exactly stays: it cannot stop anyone, but its price is an interval
    // (the last unit is worth something, one more is not) that only its LP can tell.
    let binding: Vec<bool> = (0..prep.rows.len())
        .map(|r| potential[r] > 0 && (naive || potential[r] >= residual[r]))
        .collect();
    let mut local = vec![usize::MAX; prep.rows.len()];
    let mut global_rows = Vec::new();
    for r in (0..prep.rows.len()).filter(|&r| binding[r]) {
        local[r] = global_rows.len();
        global_rows.push(r);
    }
    let mut lp = TierLp {
        rhs: global_rows
            .iter()
            .map(|&r| residual[r].max(0) as f64)
            .collect(),
        ranged: global_rows
            .iter()
            .map(|&r| matches!(prep.rows[r].kind, RowKind::Pool(_) | RowKind::Cap(_)))
            .collect(),
        start: vec![0],
        ..TierLp::default()
    };
    let mut columns = Vec::new();
    let mut scratch: Vec<(u32, f64)> = Vec::new();
    for (k, &i) in members.iter().enumerate() {
        if !candidate[k] {
            continue;
        }
        let app = &prep.apps[i];
        scratch.clear();
        for e in app.entries.iter().filter(|e| binding[e.row]) {
            let value = prep.rows[e.row].float_coef(e.coef) * app.items[e.item].requested as f64;
            let row = local[e.row] as u32;
            match scratch.iter_mut().find(|(r, _)| *r == row) {
                Some(slot) => slot.1 += value,
                None => scratch.push((row, value)),
            }
        }
        if scratch.is_empty() {
            y[k] = 1.0;
            continue;
        }
        scratch.sort_by_key(|&(r, _)| r);
        for &(r, v) in &scratch {
            lp.index.push(r);
            lp.value.push(v);
        }
        lp.start.push(lp.index.len());
        lp.weight.push(app.weight);
        lp.min_share.push(app.min_share);
        columns.push(k);
    }
    (lp, columns, global_rows, y)
}
