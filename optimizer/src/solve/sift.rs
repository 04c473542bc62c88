//! Sifting for tiers with many columns and few rows.
//!
//! 1. Solve a small LP over an evenly spaced sample of the columns, with the right-hand sides
//!    scaled by the sample's share, to estimate the row prices λ.
//! 2. Price every column: `d_j = w_j - a_j·λ`. Columns far above zero start at their upper bound
//!    (set U), far below at zero (set L), the uncertain middle forms the working set W. If U alone
//!    overfills a row, its weakest columns move to W, so the restricted LP is always feasible.
//! 3. Solve the LP over W with `b - A_U·1`, re-price every column outside W, and move any with the
//!    wrong reduced-cost sign (L with `d > 0`, U with `d < 0`) into W. Repeat.
//!
//! It stops only when no column outside W prices out, i.e. with a dual-feasible, primal-feasible
//! pair for the *whole* LP: the result is the full LP's optimum, not an approximation.

use super::highs_lp::{self, Kind, weight_max};
use super::{Options, TierLp, TierSolution};

const PRICE_TOLERANCE: f64 = 1e-7;
const ROUNDS_MAX: usize = 60;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Lower,
    Upper,
    Working,
}

fn reduced_cost(lp: &TierLp, j: usize, duals: &[f64]) -> f64 {
    lp.weight[j] - lp.column(j).map(|(r, a)| a * duals[r]).sum::<f64>()
}

/// Returns the optimum and the final working set (sorted).
pub(crate) fn solve(lp: &TierLp, options: &Options) -> Result<(TierSolution, Vec<usize>), String> {
    let n = lp.cols();
    // The sample must be large enough per row for its prices to be a fair estimate.
    let sample_size = (8 * lp.rows() + options.sift_working_min)
        .max(n / 12)
        .min(n);
    let target = (3 * sample_size / 2).min(n);
    let step = n as f64 / sample_size as f64;
    let mut sample: Vec<usize> = (0..sample_size)
        .map(|i| ((i as f64 + 0.5) * step) as usize)
        .collect();
    sample.dedup();
    let share = sample.len() as f64 / n as f64;
    let rhs_sample: Vec<f64> = lp.rhs.iter().map(|b| b * share).collect();
    let estimate = highs_lp::solve(lp, &sample, &rhs_sample, Kind::Lp, options)?;

    let relative: Vec<f64> = (0..n)
        .map(|j| reduced_cost(lp, j, &estimate.duals) / lp.weight[j])
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    let nth = target.min(n - 1);
    order.select_nth_unstable_by(nth, |&a, &b| {
        relative[a]
            .abs()
            .total_cmp(&relative[b].abs())
            .then(a.cmp(&b))
    });
    let mut set: Vec<Set> = relative
        .iter()
        .map(|&d| if d > 0.0 { Set::Upper } else { Set::Lower })
        .collect();
    for &j in &order[..target] {
        set[j] = Set::Working;
    }
    let mut upper_usage = vec![0.0; lp.rows()];
    for j in (0..n).filter(|&j| set[j] == Set::Upper) {
        for (r, a) in lp.column(j) {
            upper_usage[r] += a;
        }
    }
    make_upper_feasible(lp, &relative, &mut set, &mut upper_usage);

    let w_tolerance = PRICE_TOLERANCE * weight_max(lp);
    for round in 1..=ROUNDS_MAX {
        let working: Vec<usize> = (0..n).filter(|&j| set[j] == Set::Working).collect();
        let rhs: Vec<f64> = lp
            .rhs
            .iter()
            .zip(&upper_usage)
            .map(|(b, u)| (b - u).max(0.0))
            .collect();
        let raw = highs_lp::solve(lp, &working, &rhs, Kind::Lp, options)?;
        let mut wrong: Vec<(f64, usize)> = (0..n)
            .filter_map(|j| {
                let d = match set[j] {
                    Set::Working => return None,
                    Set::Lower => reduced_cost(lp, j, &raw.duals),
                    Set::Upper => -reduced_cost(lp, j, &raw.duals),
                };
                (d > w_tolerance).then_some((d, j))
            })
            .collect();
        if wrong.is_empty() {
            let mut y: Vec<f64> = set
                .iter()
                .map(|s| if *s == Set::Upper { 1.0 } else { 0.0 })
                .collect();
            for (k, &j) in working.iter().enumerate() {
                y[j] = raw.y[k];
            }
            let objective = (0..n).map(|j| lp.weight[j] * y[j]).sum();
            let solution = TierSolution {
                y,
                duals: Some(raw.duals),
                ranges: None,
                objective,
                bound: objective,
                gap: 0.0,
                method: format!("sifting({round} rounds, {} working)", working.len()),
            };
            return Ok((solution, working));
        }
        // Most wrong first; at most doubling the working set per round keeps the LP small while
        // converging in a few rounds.
        let take = wrong.len().min(working.len().max(10_000));
        if take < wrong.len() {
            wrong.select_nth_unstable_by(take, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        }
        for &(_, j) in &wrong[..take] {
            if set[j] == Set::Upper {
                for (r, a) in lp.column(j) {
                    upper_usage[r] -= a;
                }
            }
            set[j] = Set::Working;
        }
    }
    // Not converged (never seen in tests): fall back to the whole LP, which is always correct.
    let all: Vec<usize> = (0..n).collect();
    let raw = highs_lp::solve(lp, &all, &lp.rhs, Kind::Lp, options)?;
    Ok((raw.into_solution(lp, &all, "highs(sifting fallback)"), all))
}

/// Moves the least attractive upper-set columns of every overfilled row into the working set.
fn make_upper_feasible(lp: &TierLp, relative: &[f64], set: &mut [Set], usage: &mut [f64]) {
    let over: Vec<bool> = (0..lp.rows()).map(|r| usage[r] > lp.rhs[r]).collect();
    if !over.iter().any(|&o| o) {
        return;
    }
    let mut touching: Vec<Vec<usize>> = vec![Vec::new(); lp.rows()];
    for j in (0..lp.cols()).filter(|&j| set[j] == Set::Upper) {
        for (r, _) in lp.column(j) {
            if over[r] {
                touching[r].push(j);
            }
        }
    }
    for (r, list) in touching.iter_mut().enumerate() {
        list.sort_by(|&a, &b| relative[a].total_cmp(&relative[b]).then(a.cmp(&b)));
        for &j in list.iter() {
            if usage[r] <= lp.rhs[r] {
                break;
            }
            if set[j] != Set::Upper {
                continue;
            }
            for (row, a) in lp.column(j) {
                usage[row] -= a;
            }
            set[j] = Set::Working;
        }
    }
}
