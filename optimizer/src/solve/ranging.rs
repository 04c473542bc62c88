//! Right-hand-side ranging: a tight row's price and the interval of its capacity in which it holds.
//!
//! The tier's optimum `v(b)` is concave and piecewise linear in a row's capacity `b_k`; its price
//! is the derivative. Two cases:
//!
//! - **Non-degenerate** (the fractional columns and the slacks of loose rows make a basis): the
//!   derivative is unique, the dual. Moving `b_k` by δ moves the basic variables by `δ · B⁻¹ e_k`;
//!   the price holds while they stay within their bounds.
//! - **Degenerate** (fewer fractional columns and loose rows than rows, e.g. a pool filled exactly
//!   by whole projects): `b_k` sits on a kink and the price is an interval: the right derivative
//!   (value of one more unit) `v'(b_k+) = max { w·d : A_T d <= e_k, d_j >= 0 at 0, d_j <= 0 at 1 }`
//!   and the left derivative (value of the last unit) `v'(b_k-) = -max { w·d : A_T d <= -e_k, … }`
//!   over the tight rows T; by LP duality they are the smallest and largest row-k price over all
//!   optimal duals. These small directional LPs are solved by HiGHS with column generation (start
//!   from the columns with the smallest reduced costs, add any column whose reduced cost under the
//!   directional duals has the wrong sign, stop when none has), so they are exact for the whole
//!   tier. A ratio test along the optimal direction gives how far each derivative holds (a
//!   guaranteed interval: the price may hold further).

use std::ops::Bound;

use highs::{ColProblem, HighsModelStatus, Sense};

use super::TierLp;

const TOLERANCE: f64 = 1e-9;
/// Largest number of tight rows whose basis is factored densely.
pub(crate) const ROWS_MAX: usize = 400;

/// Largest `rows × nonzeros × rounds` spent on degenerate rows before giving up (unknown).
const DIRECTIONAL_WORK_MAX: f64 = 4e8;
const DIRECTIONAL_ROUNDS_MAX: usize = 40;

/// A tight row's price in objective units per row unit and where it holds (row units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Price {
    /// Right derivative: the value of one more unit; holds for capacities in `[b, high]`.
    pub up: f64,
    /// Left derivative: the value of the last unit; holds for capacities in `[low, b]`.
    /// Equal to `up` unless the optimum is degenerate.
    pub down: f64,
    pub low: f64,
    /// `None`: unbounded.
    pub high: Option<f64>,
}

/// Per row: its price for tight, published rows when it could be established; `None` otherwise.
pub(crate) type Range = Option<Price>;

pub(crate) fn ranges(lp: &TierLp, y: &[f64], duals: &[f64]) -> Vec<Range> {
    let m = lp.rows();
    let mut out = vec![None; m];
    if m == 0 {
        return out;
    }
    let mut activity = vec![0.0; m];
    for (j, &v) in y.iter().enumerate() {
        for (r, a) in lp.column(j) {
            activity[r] += a * v;
        }
    }
    let loose: Vec<usize> = (0..m)
        .filter(|&r| lp.rhs[r] - activity[r] > TOLERANCE * lp.rhs[r].max(1.0))
        .collect();
    let fractional: Vec<usize> = (0..y.len())
        .filter(|&j| y[j] > TOLERANCE && y[j] < 1.0 - TOLERANCE)
        .collect();
    let ranged = |k: usize| lp.ranged.get(k).copied().unwrap_or(true);
    if loose.len() + fractional.len() != m {
        let mut is_loose = vec![false; m];
        for &r in &loose {
            is_loose[r] = true;
        }
        let rows: Vec<usize> = (0..m).filter(|&k| !is_loose[k] && ranged(k)).collect();
        let work = rows.len() as f64 * lp.index.len() as f64 * 4.0;
        if work <= DIRECTIONAL_WORK_MAX {
            let directional = Directional::new(lp, y, duals, &is_loose, &activity);
            for k in rows {
                out[k] = directional.price(k);
            }
        }
        return out;
    }
    if !duals.iter().any(|&d| d > 1e-12) {
        return out;
    }
    // The basis is [A_F | I_S]. Loose slacks absorb their own rows, so B z = e_k reduces to the
    // tight rows T: A_F[T, ·] z_F = e_k[T], then z_S = -A_F[S, ·] z_F. |T| = |F| is small.
    let mut is_loose = vec![false; m];
    for &r in &loose {
        is_loose[r] = true;
    }
    let tight: Vec<usize> = (0..m).filter(|&r| !is_loose[r]).collect();
    let mut position = vec![usize::MAX; m];
    for (t, &r) in tight.iter().enumerate() {
        position[r] = t;
    }
    let size = tight.len();
    if size > ROWS_MAX {
        return out;
    }
    let mut reduced = vec![vec![0.0; size]; size];
    for (c, &j) in fractional.iter().enumerate() {
        for (r, a) in lp.column(j) {
            if position[r] != usize::MAX {
                reduced[position[r]][c] = a;
            }
        }
    }
    let lu = if size == 0 { None } else { Lu::factor(reduced) };
    // Only priced rows need a range; a zero dual holds trivially.
    for k in (0..m).filter(|&k| !is_loose[k] && duals[k] > 1e-12 && ranged(k)) {
        let Some(lu) = &lu else { break };
        let mut e = vec![0.0; size];
        e[position[k]] = 1.0;
        let z_fractional = lu.solve(e);
        let mut z_loose = vec![0.0; m];
        for (c, &j) in fractional.iter().enumerate() {
            for (r, a) in lp.column(j) {
                if is_loose[r] {
                    z_loose[r] -= a * z_fractional[c];
                }
            }
        }
        let (mut up, mut down) = (f64::INFINITY, f64::INFINITY);
        let mut limit = |value: f64, rate: f64, low: f64, high: f64| {
            if rate > TOLERANCE {
                up = up.min((high - value) / rate);
                down = down.min((value - low) / rate);
            } else if rate < -TOLERANCE {
                up = up.min((value - low) / -rate);
                down = down.min((high - value) / -rate);
            }
        };
        for (c, &j) in fractional.iter().enumerate() {
            limit(y[j], z_fractional[c], 0.0, 1.0);
        }
        for &r in &loose {
            limit(lp.rhs[r] - activity[r], z_loose[r], 0.0, f64::INFINITY);
        }
        out[k] = Some(Price {
            up: duals[k],
            down: duals[k],
            low: if down.is_finite() {
                (lp.rhs[k] - down.max(0.0)).max(0.0)
            } else {
                0.0
            },
            high: up.is_finite().then(|| lp.rhs[k] + up.max(0.0)),
        });
    }
    out
}

/// Rows are scaled to their capacity (at least one row unit: the naive model keeps exhausted rows).
fn unit(lp: &TierLp, r: usize) -> f64 {
    lp.rhs[r].max(1.0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    Zero,
    One,
    Between,
}

/// The directional LPs of a degenerate optimum, over the columns touching a tight row.
struct Directional<'a> {
    lp: &'a TierLp,
    y: &'a [f64],
    /// Per row: tight (its position among the tight rows) or loose (`usize::MAX`).
    position: Vec<usize>,
    tight: Vec<usize>,
    slack: Vec<f64>,
    /// Columns touching a tight row, and where every column sits.
    columns: Vec<usize>,
    at: Vec<At>,
    /// Start of column generation: the columns with the smallest relative reduced cost.
    seed: Vec<usize>,
    w_max: f64,
}

impl<'a> Directional<'a> {
    fn new(
        lp: &'a TierLp,
        y: &'a [f64],
        duals: &[f64],
        is_loose: &[bool],
        activity: &[f64],
    ) -> Self {
        let m = lp.rows();
        let tight: Vec<usize> = (0..m).filter(|&r| !is_loose[r]).collect();
        let mut position = vec![usize::MAX; m];
        for (t, &r) in tight.iter().enumerate() {
            position[r] = t;
        }
        let slack = (0..m).map(|r| (lp.rhs[r] - activity[r]).max(0.0)).collect();
        let at: Vec<At> = y
            .iter()
            .map(|&v| {
                if v <= TOLERANCE {
                    At::Zero
                } else if v >= 1.0 - TOLERANCE {
                    At::One
                } else {
                    At::Between
                }
            })
            .collect();
        let columns: Vec<usize> = (0..lp.cols())
            .filter(|&j| lp.column(j).any(|(r, _)| position[r] != usize::MAX))
            .collect();
        let relative = |j: usize| {
            let rc = lp.weight[j] - lp.column(j).map(|(r, a)| a * duals[r]).sum::<f64>();
            (rc / lp.weight[j].max(f64::MIN_POSITIVE)).abs()
        };
        let mut seed: Vec<(f64, usize)> = columns
            .iter()
            .map(|&j| {
                (
                    if at[j] == At::Between {
                        -1.0
                    } else {
                        relative(j)
                    },
                    j,
                )
            })
            .collect();
        let keep = (4 * tight.len() + 32).min(seed.len());
        if keep < seed.len() {
            seed.select_nth_unstable_by(keep, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            seed.truncate(keep);
        }
        let mut seed: Vec<usize> = seed.into_iter().map(|(_, j)| j).collect();
        seed.sort_unstable();
        Directional {
            lp,
            y,
            position,
            tight,
            slack,
            columns,
            at,
            seed,
            w_max: super::highs_lp::weight_max(lp),
        }
    }

    fn price(&self, k: usize) -> Option<Price> {
        let (up, extent_up) = self.derivative(k, 1.0)?;
        let (down, extent_down) = self.derivative(k, -1.0)?;
        let b = self.lp.rhs[k];
        Some(Price {
            up,
            down,
            low: (b - extent_down).max(0.0),
            high: extent_up.is_finite().then_some(b + extent_up),
        })
    }

    /// `sign = 1`: right derivative; `-1`: left derivative. Returns it per row unit and how far
    /// (row units) it is guaranteed to hold.
    fn derivative(&self, k: usize, sign: f64) -> Option<(f64, f64)> {
        let lp = self.lp;
        let mut in_set = vec![false; lp.cols()];
        let mut set: Vec<usize> = self.seed.clone();
        for &j in &set {
            in_set[j] = true;
        }
        for _ in 0..DIRECTIONAL_ROUNDS_MAX {
            let (objective, d, mu) = self.solve(k, sign, &set)?;
            // Price every column touching a tight row against the directional duals.
            let mut added = false;
            for &j in &self.columns {
                if in_set[j] {
                    continue;
                }
                let rc = lp.weight[j] / self.w_max
                    - lp.column(j)
                        .filter(|&(r, _)| self.position[r] != usize::MAX)
                        .map(|(r, a)| a / unit(lp, r) * mu[self.position[r]])
                        .sum::<f64>();
                let wrong = match self.at[j] {
                    At::Zero => rc > 1e-9,
                    At::One => rc < -1e-9,
                    At::Between => true,
                };
                if wrong {
                    in_set[j] = true;
                    set.push(j);
                    added = true;
                }
            }
            if !added {
                let rate = objective * self.w_max / unit(lp, k);
                return Some((rate * sign, self.extent(&set, &d) * unit(lp, k)));
            }
        }
        None
    }

    /// Solves the directional LP over `set` (row k scaled to `sign`). Returns its objective (in
    /// scaled units), the direction per column of `set` and the tight rows' duals.
    fn solve(&self, k: usize, sign: f64, set: &[usize]) -> Option<(f64, Vec<f64>, Vec<f64>)> {
        let lp = self.lp;
        let mut problem = ColProblem::new();
        let rows: Vec<highs::Row> = self
            .tight
            .iter()
            .map(|&r| problem.add_row(..=if r == k { sign } else { 0.0 }))
            .collect();
        for &j in set {
            let factors: Vec<(highs::Row, f64)> = lp
                .column(j)
                .filter(|&(r, _)| self.position[r] != usize::MAX)
                .map(|(r, a)| (rows[self.position[r]], a / unit(lp, r)))
                .collect();
            let bounds: (Bound<f64>, Bound<f64>) = match self.at[j] {
                At::Zero => (Bound::Included(0.0), Bound::Unbounded),
                At::One => (Bound::Unbounded, Bound::Included(0.0)),
                At::Between => (Bound::Unbounded, Bound::Unbounded),
            };
            problem.add_column(lp.weight[j] / self.w_max, bounds, factors);
        }
        let mut model = match problem.try_optimise(Sense::Maximise) {
            Ok(model) => model,
            Err(_) => return None,
        };
        model.make_quiet();
        model.try_set_option("threads", 1i32).ok()?;
        let solved = model.try_solve().ok()?;
        if solved.status() != HighsModelStatus::Optimal {
            return None;
        }
        let solution = solved.get_solution();
        let mu = solution.dual_rows().iter().map(|d| d.max(0.0)).collect();
        Some((solved.objective_value(), solution.columns().to_vec(), mu))
    }

    /// Largest step along `d` (per unit of the scaled row) keeping every column in [0, 1] and
    /// every loose row within its capacity.
    fn extent(&self, set: &[usize], d: &[f64]) -> f64 {
        let lp = self.lp;
        let mut t = f64::INFINITY;
        let mut rate = vec![0.0; lp.rows()];
        for (&j, &dj) in set.iter().zip(d) {
            if dj > TOLERANCE {
                t = t.min((1.0 - self.y[j]) / dj);
            } else if dj < -TOLERANCE {
                t = t.min(self.y[j] / -dj);
            } else {
                continue;
            }
            for (r, a) in lp.column(j) {
                if self.position[r] == usize::MAX {
                    rate[r] += a * dj;
                }
            }
        }
        for (r, &v) in rate.iter().enumerate() {
            if v > TOLERANCE * lp.rhs[r].max(1.0) * 1e-3 {
                t = t.min(self.slack[r] / v);
            }
        }
        t.max(0.0)
    }
}

/// LU with partial pivoting of a small dense matrix.
struct Lu {
    a: Vec<Vec<f64>>,
    pivot: Vec<usize>,
}

impl Lu {
    fn factor(mut a: Vec<Vec<f64>>) -> Option<Lu> {
        let n = a.len();
        let mut pivot: Vec<usize> = (0..n).collect();
        for k in 0..n {
            let p = (k..n).max_by(|&x, &y| a[x][k].abs().total_cmp(&a[y][k].abs()))?;
            if a[p][k].abs() < 1e-12 {
                return None;
            }
            a.swap(k, p);
            pivot.swap(k, p);
            let (upper, lower) = a.split_at_mut(k + 1);
            let pivot_row = &upper[k];
            for row in lower.iter_mut() {
                let f = row[k] / pivot_row[k];
                row[k] = f;
                if f != 0.0 {
                    for (x, p) in row[k + 1..].iter_mut().zip(&pivot_row[k + 1..]) {
                        *x -= f * p;
                    }
                }
            }
        }
        Some(Lu { a, pivot })
    }

    fn solve(&self, b: Vec<f64>) -> Vec<f64> {
        let n = self.a.len();
        let mut x: Vec<f64> = self.pivot.iter().map(|&p| b[p]).collect();
        for i in 0..n {
            for j in 0..i {
                x[i] -= self.a[i][j] * x[j];
            }
        }
        for i in (0..n).rev() {
            for j in i + 1..n {
                x[i] -= self.a[i][j] * x[j];
            }
            x[i] /= self.a[i][i];
        }
        x
    }
}
