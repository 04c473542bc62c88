//! Right-hand-side ranging: the interval of a tight row's capacity in which its dual stays valid.
//!
//! At a basic optimum the basic variables are the fractional columns and the slacks of loose
//! rows. Moving row k's capacity by δ moves them by `δ · B⁻¹ e_k`; the dual holds while they stay
//! within their bounds. When the basis cannot be read off the solution (degenerate: fewer
//! fractional columns and loose rows than rows), the range is reported as unknown.

use super::TierLp;

const TOLERANCE: f64 = 1e-9;
pub(crate) const ROWS_MAX: usize = 400;

/// Per row: `Some((low, high))` in row units (`None` inside = unbounded on that side) for tight
/// rows with a known basis; `None` otherwise.
pub(crate) type Range = Option<(Option<f64>, Option<f64>)>;

pub(crate) fn ranges(lp: &TierLp, y: &[f64]) -> Vec<Range> {
    let m = lp.rows();
    let mut out = vec![None; m];
    if m == 0 || m > ROWS_MAX {
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
    if loose.len() + fractional.len() != m {
        return out;
    }
    // Dense basis, column by column: fractional columns, then unit columns of loose slacks.
    let mut basis = vec![vec![0.0; m]; m];
    for (c, &j) in fractional.iter().enumerate() {
        for (r, a) in lp.column(j) {
            basis[r][c] = a;
        }
    }
    for (c, &r) in loose.iter().enumerate() {
        basis[r][fractional.len() + c] = 1.0;
    }
    let Some(lu) = Lu::factor(basis) else {
        return out;
    };
    let mut is_loose = vec![false; m];
    for &r in &loose {
        is_loose[r] = true;
    }
    for k in (0..m).filter(|&k| !is_loose[k]) {
        let mut e = vec![0.0; m];
        e[k] = 1.0;
        let z = lu.solve(e);
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
            limit(y[j], z[c], 0.0, 1.0);
        }
        for (c, &r) in loose.iter().enumerate() {
            limit(
                lp.rhs[r] - activity[r],
                z[fractional.len() + c],
                0.0,
                f64::INFINITY,
            );
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
            for i in k + 1..n {
                let f = a[i][k] / a[k][k];
                a[i][k] = f;
                if f != 0.0 {
                    for j in k + 1..n {
                        a[i][j] -= f * a[k][j];
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
