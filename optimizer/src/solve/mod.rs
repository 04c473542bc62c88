//! One tier's continuous (or mixed-integer) problem and the methods that solve it.
//!
//! A tier is `max Σ w_i y_i` subject to `Σ_i a_ri y_i ≤ b_r` and `y_i ∈ {0} ∪ [m_i, 1]`: a
//! knapsack-like problem with a handful of coupling rows and many columns. Small tiers go straight
//! to HiGHS; large ones are solved by sifting ([`sift`]), which prices every column against
//! HiGHS duals of a small working set and stops only with a full dual-feasibility certificate,
//! so its optimum is the full LP's optimum.

pub(crate) mod fair;
pub(crate) mod highs_lp;
pub(crate) mod naive;
pub(crate) mod ranging;
pub(crate) mod sift;

use crate::policy::Objective;

/// Column-major tier problem. Rows are local (only those that can still bind), with `rhs > 0`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TierLp {
    pub rhs: Vec<f64>,
    /// Per row: its shadow-price range is published (pools and caps), so worth computing.
    pub ranged: Vec<bool>,
    pub weight: Vec<f64>,
    pub min_share: Vec<f64>,
    pub start: Vec<usize>,
    pub index: Vec<u32>,
    pub value: Vec<f64>,
}

impl TierLp {
    pub fn rows(&self) -> usize {
        self.rhs.len()
    }

    pub fn cols(&self) -> usize {
        self.weight.len()
    }

    pub fn column(&self, j: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.start[j]..self.start[j + 1];
        self.index[range.clone()]
            .iter()
            .map(|&r| r as usize)
            .zip(self.value[range].iter().copied())
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TierSolution {
    pub y: Vec<f64>,
    /// Per local row, objective units per row unit; `None` in fairness mode.
    pub duals: Option<Vec<f64>>,
    /// Per local row, the rhs interval in which the dual holds (row units), when known.
    pub ranges: Option<Vec<ranging::Range>>,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub method: String,
}

/// Which algorithm solves a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Structure-exploiting: direct HiGHS when small, sifting when large.
    Structured,
    /// The same model built naively through good_lp and solved by HiGHS with default options.
    NaiveGoodLp,
}

/// Solver settings. The defaults are what the bureau runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    pub method: Method,
    /// Up to this many columns a tier's LP goes to HiGHS whole.
    pub direct_columns_max: usize,
    /// Up to this many columns an all-or-nothing tier is solved as one MILP; above, only the
    /// sifting working set is left free and the rest keeps its LP value (gap reported).
    pub milp_columns_max: usize,
    pub milp_time_limit_s: f64,
    pub milp_rel_gap: f64,
    /// Smallest sifting working set (grown by 8 per row).
    pub sift_working_min: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Structured,
            direct_columns_max: 3_000,
            milp_columns_max: 5_000,
            milp_time_limit_s: 10.0,
            milp_rel_gap: 1e-6,
            sift_working_min: 1_000,
        }
    }
}

pub(crate) fn solve_tier(
    lp: &TierLp,
    objective: Objective,
    options: &Options,
) -> Result<TierSolution, String> {
    if lp.cols() == 0 {
        return Ok(TierSolution {
            method: "empty".into(),
            ..TierSolution::default()
        });
    }
    if objective == Objective::FillRateFairness {
        return Ok(fair::solve(lp));
    }
    let mut solution = match options.method {
        Method::NaiveGoodLp => naive::solve(lp, options)?,
        Method::Structured => solve_value(lp, options)?,
    };
    // A MILP tier's conditional LP has columns resting at their minimum share, so its basis
    // cannot be read off the solution: no ranges there.
    if solution.duals.is_some() && !solution.method.contains("milp") {
        let duals = solution.duals.as_deref().unwrap_or_default();
        solution.ranges = Some(ranging::ranges(lp, &solution.y, duals));
    }
    Ok(solution)
}

const SHARE_TOLERANCE: f64 = 1e-9;

/// A MILP stopped within its gap may leave capacity a cheap column could still use; raise such
/// columns in priority (column) order so a tier never passes usable capacity down. Columns at 0
/// with a minimum share stay at 0 (switching them on is the MILP's decision).
fn fill_up(lp: &TierLp, y: &mut [f64]) {
    let mut slack = lp.rhs.clone();
    for (j, &v) in y.iter().enumerate() {
        for (r, a) in lp.column(j) {
            slack[r] -= a * v;
        }
    }
    for (j, value) in y.iter_mut().enumerate() {
        if *value >= 1.0 || (lp.min_share[j] > 0.0 && *value <= SHARE_TOLERANCE) {
            continue;
        }
        let room = lp
            .column(j)
            .map(|(r, a)| slack[r].max(0.0) / a)
            .fold(1.0 - *value, f64::min);
        if room > 1e-9 {
            *value += room;
            for (r, a) in lp.column(j) {
                slack[r] -= a * room;
            }
        }
    }
}

/// HiGHS's MIP feasibility tolerance (its default, which we do not change): a semi-continuous
/// column within it of 0 is "off" for HiGHS, within it of its minimum share "on".
pub(crate) const MIP_FEASIBILITY_TOLERANCE: f64 = 1e-6;

/// Reads a semi-continuous column's value the way HiGHS decided it. HiGHS accepts a value within
/// its feasibility tolerance of 0 as off, but the value itself can be nonzero (e.g. 7.7e-7 of a
/// project whose bundle is a million times what a row has left: exactly what fills that row).
/// Taken literally it is "on" below its minimum share, and the fixed-decision LP, which then
/// demands at least the minimum share, is infeasible. Off means 0, on means at least `m`.
fn snap_semi_continuous(m: f64, value: f64) -> f64 {
    if m <= 0.0 {
        value
    } else if value < m - MIP_FEASIBILITY_TOLERANCE {
        0.0
    } else {
        value.max(m)
    }
}

fn violates_min_share(lp: &TierLp, y: &[f64], j: usize) -> bool {
    let m = lp.min_share[j];
    m > 0.0 && y[j] > SHARE_TOLERANCE && y[j] < m - SHARE_TOLERANCE
}

fn solve_value(lp: &TierLp, options: &Options) -> Result<TierSolution, String> {
    let all: Vec<usize> = (0..lp.cols()).collect();
    let (relaxed, working) = if lp.cols() <= options.direct_columns_max {
        let raw = highs_lp::solve(lp, &all, &lp.rhs, highs_lp::Kind::Lp, options)?;
        (raw.into_solution(lp, &all, "highs"), all.clone())
    } else {
        sift::solve(lp, options)?
    };
    if !(0..lp.cols()).any(|j| violates_min_share(lp, &relaxed.y, j)) {
        return Ok(relaxed);
    }
    // Some fractional column is below its minimum viable share: branch with HiGHS. Outside the
    // candidate set every column sits at 0 or 1 in the LP, which any minimum share accepts.
    let whole = lp.cols() <= options.milp_columns_max;
    let candidates = if whole { all } else { working };
    let mut rhs = lp.rhs.clone();
    let mut in_set = vec![false; lp.cols()];
    for &j in &candidates {
        in_set[j] = true;
    }
    let mut y = relaxed.y.clone();
    for j in (0..lp.cols()).filter(|&j| !in_set[j]) {
        y[j] = if y[j] >= 0.5 { 1.0 } else { 0.0 };
        for (r, a) in lp.column(j) {
            rhs[r] -= a * y[j];
        }
    }
    for b in &mut rhs {
        *b = b.max(0.0);
    }
    let raw = highs_lp::solve(lp, &candidates, &rhs, highs_lp::Kind::Milp, options)?;
    let milp_gap = raw.mip_gap;
    for (k, &j) in candidates.iter().enumerate() {
        y[j] = snap_semi_continuous(lp.min_share[j], raw.y[k]);
    }
    fill_up(lp, &mut y);
    // Conditional duals: fix the on/off decisions and re-solve the LP. With the decisions snapped
    // as HiGHS took them, the fixed-decision LP contains the MILP's point, so it is feasible; should
    // HiGHS still refuse it, the MILP's own solution stands without conditional duals (they are
    // only an explanation), and the method says so.
    let fixed = highs_lp::Kind::Conditional(&y);
    let (conditional, note) = match highs_lp::solve(lp, &candidates, &rhs, fixed, options) {
        Ok(conditional) => (conditional, ""),
        Err(_) => (raw, ", no conditional duals"),
    };
    let objective: f64 = (0..lp.cols()).map(|j| lp.weight[j] * y[j]).sum();
    let bound = relaxed.bound.max(objective);
    // Whole MILP: HiGHS's proven gap. Restricted: the LP relaxation of the whole tier bounds it.
    let gap = if whole {
        milp_gap
    } else if bound > 0.0 {
        ((bound - objective) / bound).max(0.0)
    } else {
        0.0
    };
    let mut solution = conditional.into_solution(lp, &candidates, "milp");
    solution.y = y;
    solution.objective = objective;
    solution.bound = bound;
    solution.gap = gap;
    solution.method = format!("{}+milp({} free{note})", relaxed.method, candidates.len());
    Ok(solution)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tier of proptest case `seed = 3445640961015221738, n = 49` (regression file): a cap
    /// row with 9 000 sub-units left and projects whose bundles are up to 1.3 million times that.
    /// HiGHS's MILP returns 7.68e-7 for the second column (min share 0.5): "off" within its
    /// tolerance, yet exactly what fills row 2. Read literally as "on", the fixed-decision LP
    /// demanded y >= 0.5 there and was infeasible.
    fn tolerance_case() -> TierLp {
        TierLp {
            rhs: vec![17258.0, 26813.0, 9000.0],
            ranged: vec![true; 3],
            weight: vec![
                72714.88945239999,
                81678.3194524,
                74290.8694524,
                75078.2394524,
            ],
            min_share: vec![0.5, 0.5, 0.5, 1.0],
            start: vec![0, 1, 3, 6, 8],
            index: vec![2, 1, 2, 0, 1, 2, 0, 2],
            value: vec![
                384296000.0,
                17139.0,
                11715000000.0,
                26971.5,
                11518.0,
                2175701000.0,
                38596.5,
                3113451000.0,
            ],
        }
    }

    #[test]
    fn semi_continuous_values_are_read_as_highs_decided() {
        assert_eq!(snap_semi_continuous(0.5, 7.682458386683739e-7), 0.0);
        assert_eq!(snap_semi_continuous(0.5, 0.5 - 1e-7), 0.5);
        assert_eq!(snap_semi_continuous(0.5, 0.75), 0.75);
        assert_eq!(snap_semi_continuous(0.0, 1e-8), 1e-8);
    }

    #[test]
    fn conditional_lp_of_the_tolerance_case_is_feasible() {
        let lp = tolerance_case();
        let solution = solve_value(&lp, &Options::default()).expect("solves");
        assert!(solution.method.contains("milp"), "{}", solution.method);
        assert!(
            !solution.method.contains("no conditional duals"),
            "{}",
            solution.method
        );
        assert!(solution.duals.is_some());
        // Nothing fits at its minimum share: every column is off, none sits in (0, m).
        for (j, &v) in solution.y.iter().enumerate() {
            assert!(v == 0.0 || v >= lp.min_share[j], "column {j}: {v}");
        }
    }
}
