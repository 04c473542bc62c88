//! A tier (or a subset of its columns) handed to HiGHS through the `highs` crate's column-wise
//! builder, which matches the model: rows first, then one column per project.
//!
//! Rows are scaled to a right-hand side of at most 1 and the objective to a largest weight of 1,
//! so coefficients stay in a range HiGHS's tolerances suit whatever the units.

use highs::{ColProblem, HighsModelStatus, HighsSolutionStatus, Integrality, Sense};

use super::{Options, TierLp, TierSolution};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<'a> {
    Lp,
    /// Columns with a minimum share become semi-continuous: 0 or within `[m, 1]`.
    Milp,
    /// LP with the MILP's on/off decisions fixed (full-length `y`), for conditional duals.
    Conditional(&'a [f64]),
}

/// Raw result for the columns passed, in their order.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub y: Vec<f64>,
    /// Per local row, in objective units per row unit; `>= 0`.
    pub duals: Vec<f64>,
    /// HiGHS's relative MIP gap (0 for an LP).
    pub mip_gap: f64,
}

pub(crate) fn weight_max(lp: &TierLp) -> f64 {
    lp.weight
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
}

/// Solves `max Σ w y` over `cols` with right-hand sides `rhs` (row units, `0 <= rhs <= lp.rhs`).
pub(crate) fn solve(
    lp: &TierLp,
    cols: &[usize],
    rhs: &[f64],
    kind: Kind,
    options: &Options,
) -> Result<Raw, String> {
    if cols.is_empty() {
        return Ok(Raw {
            y: Vec::new(),
            duals: vec![0.0; lp.rows()],
            mip_gap: 0.0,
        });
    }
    let w_max = weight_max(lp);
    let mut problem = ColProblem::new();
    let rows: Vec<highs::Row> = (0..lp.rows())
        .map(|r| problem.add_row(..=(rhs[r] / lp.rhs[r]).max(0.0)))
        .collect();
    for &j in cols {
        let factors: Vec<(highs::Row, f64)> = lp
            .column(j)
            .map(|(r, a)| (rows[r], a / lp.rhs[r]))
            .collect();
        let cost = lp.weight[j] / w_max;
        let m = lp.min_share[j];
        // Building the column-wise matrix is plain Rust; HiGHS sees it only at `optimise`.
        let (bounds, integrality) = match kind {
            Kind::Milp if m > 0.0 => ((m, 1.0), Integrality::SemiContinuous),
            Kind::Conditional(y) if m > 0.0 && y[j] <= super::SHARE_TOLERANCE => {
                ((0.0, 0.0), Integrality::Continuous)
            }
            Kind::Conditional(_) if m > 0.0 => ((m, 1.0), Integrality::Continuous),
            _ => ((0.0, 1.0), Integrality::Continuous),
        };
        problem.add_column_with_integrality_kind(cost, bounds.0..=bounds.1, factors, integrality);
    }
    let mut model = problem.optimise(Sense::Maximise);
    model.make_quiet();
    let set = |model: &mut highs::Model, name: &str, value: f64| {
        model
            .try_set_option(name, value)
            .map_err(|e| format!("option {name}: {e:?}"))
    };
    // One thread: HiGHS's scheduler is process-wide, and one thread keeps runs reproducible.
    model
        .try_set_option("threads", 1i32)
        .map_err(|e| format!("option threads: {e:?}"))?;
    // A tier LP is a few rows over columns bounded in [0, 1]: HiGHS's presolve finds little to
    // remove but, on the sifting working sets, cost 2-7x the simplex itself (singleton-column
    // stuffing over tens of thousands of columns; measured in benches/optimizer). The MILP keeps
    // it: there presolve feeds the branch and bound.
    if !matches!(kind, Kind::Milp) {
        model
            .try_set_option("presolve", "off")
            .map_err(|e| format!("option presolve: {e:?}"))?;
    }
    if matches!(kind, Kind::Milp) {
        set(&mut model, "time_limit", options.milp_time_limit_s)?;
        set(&mut model, "mip_rel_gap", options.milp_rel_gap)?;
    }
    let solved = model.try_solve().map_err(|e| format!("HiGHS: {e:?}"))?;
    let status = solved.status();
    let usable = match kind {
        Kind::Milp => {
            solved.primal_solution_status() == HighsSolutionStatus::Feasible
                && matches!(
                    status,
                    HighsModelStatus::Optimal
                        | HighsModelStatus::ReachedTimeLimit
                        | HighsModelStatus::ReachedIterationLimit
                        | HighsModelStatus::ReachedSolutionLimit
                )
        }
        _ => status == HighsModelStatus::Optimal,
    };
    if !usable {
        return Err(format!("HiGHS status {status:?}"));
    }
    let mip_gap = match kind {
        Kind::Milp => {
            let gap = solved.mip_gap();
            if gap.is_finite() { gap.max(0.0) } else { 1.0 }
        }
        _ => 0.0,
    };
    let solution = solved.get_solution();
    let y = solution
        .columns()
        .iter()
        .map(|v| v.clamp(0.0, 1.0))
        .collect();
    // Maximising, a tight `<=` row has a non-negative dual in HiGHS's convention; undo scaling.
    let duals = solution
        .dual_rows()
        .iter()
        .enumerate()
        .map(|(r, d)| (d * w_max / lp.rhs[r]).max(0.0))
        .collect();
    Ok(Raw { y, duals, mip_gap })
}

impl Raw {
    /// Spreads the result over every column of the tier (others at 0).
    pub(crate) fn into_solution(self, lp: &TierLp, cols: &[usize], method: &str) -> TierSolution {
        let mut y = vec![0.0; lp.cols()];
        for (k, &j) in cols.iter().enumerate() {
            y[j] = self.y[k];
        }
        let objective = (0..lp.cols()).map(|j| lp.weight[j] * y[j]).sum();
        TierSolution {
            y,
            duals: Some(self.duals),
            ranges: None,
            objective,
            bound: objective,
            gap: 0.0,
            method: method.to_owned(),
        }
    }
}
