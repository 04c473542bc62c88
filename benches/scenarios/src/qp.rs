//! The straightforward baseline: the banked market as one optimisation through HiGHS.
//!
//! minimise Σ_t δ^t Σ_i C_i(a_it)  subject to, for each year t,
//!   Σ_i a_it − b_t + b_{t−1} = E_t − S_t   (emissions + bank change = supply)
//! with 0 ≤ a_it ≤ E_it and b_t ≥ 0. Linear MACs give C_i(a) = c a + s a²/2 (a QP with a
//! diagonal Hessian); step MACs give one bounded column per step (an LP). The price of
//! year t is the row dual scaled back by (1+r)^t.

use highs::{ColProblem, HessianFormat, HighsModelStatus, Sense};
use scenarios::curve::Piece;
use scenarios::model::Model;

pub fn solve(model: &Model) -> anyhow::Result<Vec<f64>> {
    let years = model.year_count();
    let discount: Vec<f64> = (0..years)
        .map(|t| (1.0 + model.banking.discount_rate).powi(-(t as i32)))
        .collect();
    let mut problem = ColProblem::new();
    let rows: Vec<_> = (0..years)
        .map(|t| {
            let baseline: f64 = (0..model.firms.len()).map(|f| model.baseline(f, t)).sum();
            let rhs = baseline - model.cap_t[t];
            problem.add_row(rhs..=rhs)
        })
        .collect();
    let mut hessian: Vec<Vec<(i32, f64)>> = Vec::new();
    for (index, firm) in model.firms.iter().enumerate() {
        for t in 0..years {
            let baseline = model.baseline(index, t);
            firm.curve
                .for_each_piece(baseline, firm.mac_scale, |piece| {
                    let column = hessian.len() as i32;
                    match piece {
                        Piece::Ramp {
                            price_start,
                            price_end,
                            quantity_t,
                        } => {
                            let slope = (price_end - price_start) / quantity_t;
                            problem.add_column(
                                discount[t] * price_start,
                                0.0..=quantity_t,
                                [(rows[t], 1.0)],
                            );
                            hessian.push(vec![(column, discount[t] * slope)]);
                        }
                        Piece::Jump { price, quantity_t } => {
                            problem.add_column(
                                discount[t] * price,
                                0.0..=quantity_t,
                                [(rows[t], 1.0)],
                            );
                            hessian.push(Vec::new());
                        }
                    }
                });
        }
    }
    for t in 0..years {
        let mut factors = vec![(rows[t], -1.0)];
        if t + 1 < years {
            factors.push((rows[t + 1], 1.0));
        }
        problem.add_column(0.0, 0.0.., factors);
        hessian.push(Vec::new());
    }
    let mut solver = problem.optimise(Sense::Minimise);
    solver.make_quiet();
    // Bounded so the benchmark ends; a run that hits the limit is reported as failed.
    let _ = solver.try_set_option("time_limit", 300.0);
    // The QP solver refuses null spaces above 4,000 by default; lift it so it can try.
    let _ = solver.try_set_option("qp_nullspace_limit", 100_000);
    // HiGHS keeps one task scheduler per calling thread, sized by the first solve on it; the
    // optimizer (used later on this thread by the reallocation case) runs with one thread,
    // and a second size on the same thread is a HiGHS error. One thread everywhere.
    let _ = solver.try_set_option("threads", 1);
    if hessian.iter().any(|c| !c.is_empty()) {
        solver.try_pass_hessian(HessianFormat::Triangular, hessian)?;
    }
    let solved = solver
        .try_solve()
        .map_err(|s| anyhow::anyhow!("HiGHS: {s:?}"))?;
    if solved.status() != HighsModelStatus::Optimal {
        anyhow::bail!("HiGHS status {:?}", solved.status());
    }
    let duals = solved.get_solution().dual_rows().to_vec();
    Ok(duals
        .iter()
        .zip(&discount)
        .map(|(d, f)| (d / f).abs())
        .collect())
}
