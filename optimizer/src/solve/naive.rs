//! The reference: the same tier model built naively through good_lp (one variable per project,
//! one expression per row, binaries for minimum shares) and solved by HiGHS with its default
//! options. Used by the tests to check the structured solver and by the benchmark.

use good_lp::solvers::highs::highs;
use good_lp::{
    DualValues, Expression, ResolutionError, Solution, SolutionWithDual, SolverModel, Variable,
    WithTimeLimit, variable, variables,
};

use super::{Options, TierLp, TierSolution};

pub(crate) fn solve(lp: &TierLp, options: &Options) -> Result<TierSolution, String> {
    let n = lp.cols();
    let mut vars = variables!();
    let y: Vec<Variable> = (0..n).map(|_| vars.add(variable().min(0).max(1))).collect();
    let integer = lp.min_share.iter().any(|&m| m > 0.0);
    let z: Vec<Option<Variable>> = lp
        .min_share
        .iter()
        .map(|&m| (m > 0.0).then(|| vars.add(variable().binary())))
        .collect();
    let mut objective = Expression::with_capacity(n);
    let mut rows: Vec<Expression> = (0..lp.rows()).map(|_| Expression::default()).collect();
    for (j, &var) in y.iter().enumerate() {
        objective.add_mul(lp.weight[j], var);
        for (r, a) in lp.column(j) {
            rows[r].add_mul(a, var);
        }
    }
    let mut model = vars.maximise(objective).using(highs).set_threads(1);
    if integer {
        model = model.with_time_limit(options.milp_time_limit_s);
    }
    let references: Vec<_> = rows
        .into_iter()
        .zip(&lp.rhs)
        .map(|(e, &b)| model.add_constraint(e.leq(b)))
        .collect();
    for j in 0..n {
        if let Some(z) = z[j] {
            model.add_constraint((y[j] - lp.min_share[j] * z).geq(0));
            model.add_constraint((y[j] - z).leq(0));
        }
    }
    let mut solution = model.solve().map_err(|e: ResolutionError| e.to_string())?;
    let values: Vec<f64> = y
        .iter()
        .map(|&v| solution.value(v).clamp(0.0, 1.0))
        .collect();
    let duals = (!integer).then(|| {
        let dual = solution.compute_dual();
        references
            .iter()
            .map(|c| dual.dual(c.clone()).max(0.0))
            .collect()
    });
    let objective = (0..n).map(|j| lp.weight[j] * values[j]).sum();
    Ok(TierSolution {
        y: values,
        duals,
        ranges: None,
        objective,
        bound: objective,
        // good_lp does not expose the achieved MIP gap.
        gap: 0.0,
        method: "good_lp+highs".into(),
    })
}
