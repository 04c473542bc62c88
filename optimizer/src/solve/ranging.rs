//! Right-hand-side ranging: the interval of a tight row's capacity in which its dual stays valid.
//!
//! At a basic optimum the basic variables are the fractional columns and the slacks of loose
//! rows. Moving row k's capacity by δ moves them by `δ · B⁻¹ e_k`; the dual holds while they stay
//! within their bounds. When the basis cannot be read off the solution (degenerate: fewer
//! fractional columns and loose rows than rows), the range is reported as unknown.

use super::TierLp;

const TOLERANCE: f64 = 1e-9;
/// Largest number of tight rows whose basis is factored densely.
pub(crate) const ROWS_MAX: usize = 400;

/// Per row: `Some((low, high))` in row units (`None` inside = unbounded on that side) for tight
/// rows with a known basis; `None` otherwise.
pub(crate) type Range = Option<(Option<f64>, Option<f64>)>;

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
    if loose.len() + fractional.len() != m || !duals.iter().any(|&d| d > 1e-12) {
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
    let ranged = |k: usize| lp.ranged.get(k).copied().unwrap_or(true);
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
        let finite = |v: f64| v.is_finite().then_some(v.max(0.0));
        out[k] = Some((
            finite(down).map(|d| (lp.rhs[k] - d).max(0.0)).or(Some(0.0)),
            finite(up).map(|u| lp.rhs[k] + u),
        ));
    }
    out
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
