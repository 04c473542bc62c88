//! Max-min fill-rate fairness by progressive filling: every project of the tier grows at the same
//! rate; when a row fills, the projects on it stop. For packing rows this yields the leximin
//! (max-min fair) fill vector, which is unique, so no tie-break is needed.
//!
//! A project below its minimum viable share is dropped to 0; the dropped ones are then re-admitted
//! one by one in priority order if what is left reaches their minimum, and filling resumes for
//! everyone not yet stopped, so capacity the tier can use never passes to a lower tier.

use super::{TierLp, TierSolution};

const EPS: f64 = 1e-12;

pub(crate) fn solve(lp: &TierLp) -> TierSolution {
    let n = lp.cols();
    let mut y = vec![0.0; n];
    let mut active = vec![true; n];
    let transpose = transpose(lp);
    progressive(lp, &transpose, &mut y, &mut active);
    let violators: Vec<usize> = (0..n)
        .filter(|&j| lp.min_share[j] > 0.0 && y[j] > 1e-9 && y[j] < lp.min_share[j] - 1e-9)
        .collect();
    let mut method = "progressive-filling".to_owned();
    if !violators.is_empty() {
        for &j in &violators {
            y[j] = 0.0;
        }
        let mut used = usage(lp, &y);
        for &j in &violators {
            let room = lp
                .column(j)
                .map(|(r, a)| ((lp.rhs[r] - used[r]) / a).max(0.0))
                .fold(1.0f64, f64::min);
            if room >= lp.min_share[j] {
                y[j] = room;
                for (r, a) in lp.column(j) {
                    used[r] += a * room;
                }
            }
        }
        let mut active: Vec<bool> = (0..n)
            .map(|j| y[j] < 1.0 - 1e-9 && (lp.min_share[j] == 0.0 || y[j] > 0.0))
            .collect();
        progressive(lp, &transpose, &mut y, &mut active);
        method.push_str(&format!("+min-share repair({})", violators.len()));
    }
    let objective = (0..n).map(|j| lp.weight[j] * y[j]).sum();
    TierSolution {
        y,
        duals: None,
        ranges: None,
        objective,
        bound: objective,
        gap: 0.0,
        method,
    }
}

fn usage(lp: &TierLp, y: &[f64]) -> Vec<f64> {
    let mut used = vec![0.0; lp.rows()];
    for (j, &v) in y.iter().enumerate() {
        for (r, a) in lp.column(j) {
            used[r] += a * v;
        }
    }
    used
}

fn transpose(lp: &TierLp) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); lp.rows()];
    for j in 0..lp.cols() {
        for (r, _) in lp.column(j) {
            rows[r].push(j);
        }
    }
    rows
}

/// Raises every active column at the same rate from its current value until a row fills or it
/// reaches 1. Runs in O(nonzeros + events × rows).
fn progressive(lp: &TierLp, transpose: &[Vec<usize>], y: &mut [f64], active: &mut [bool]) {
    let mut used = usage(lp, y);
    let mut rate = vec![0.0; lp.rows()];
    for j in (0..lp.cols()).filter(|&j| active[j]) {
        for (r, a) in lp.column(j) {
            rate[r] += a;
        }
    }
    // Active columns reach 1 in order of their starting value, highest first.
    let mut by_start: Vec<usize> = (0..lp.cols()).filter(|&j| active[j]).collect();
    by_start.sort_by(|&a, &b| y[b].total_cmp(&y[a]).then(a.cmp(&b)));
    let start: Vec<f64> = y.to_vec();
    let mut next_full = 0;
    let mut elapsed = 0.0;
    let mut row_open = vec![true; lp.rows()];
    let freeze = |j: usize, value: f64, y: &mut [f64], rate: &mut [f64], active: &mut [bool]| {
        y[j] = value.min(1.0);
        active[j] = false;
        for (r, a) in lp.column(j) {
            rate[r] -= a;
        }
    };
    loop {
        while next_full < by_start.len() && !active[by_start[next_full]] {
            next_full += 1;
        }
        let mut step = match by_start.get(next_full) {
            Some(&j) => 1.0 - (start[j] + elapsed),
            None => break,
        };
        let mut first_full: Option<usize> = None;
        for r in (0..lp.rows()).filter(|&r| row_open[r] && rate[r] > EPS) {
            let t = ((lp.rhs[r] - used[r]) / rate[r]).max(0.0);
            if t < step {
                step = t;
                first_full = Some(r);
            }
        }
        elapsed += step;
        for r in 0..lp.rows() {
            used[r] += rate[r] * step;
        }
        for r in 0..lp.rows() {
            let full = Some(r) == first_full
                || (rate[r] > EPS && used[r] >= lp.rhs[r] * (1.0 - 1e-12) - EPS);
            if row_open[r] && full {
                row_open[r] = false;
                for &j in &transpose[r] {
                    if active[j] {
                        freeze(j, start[j] + elapsed, y, &mut rate, active);
                    }
                }
            }
        }
        while let Some(&j) = by_start.get(next_full) {
            if active[j] && start[j] + elapsed >= 1.0 - EPS {
                freeze(j, 1.0, y, &mut rate, active);
            } else if active[j] {
                break;
            }
            next_full += 1;
        }
    }
}
