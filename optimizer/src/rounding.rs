//! Exact conversion of a tier's continuous solution into ledger units.
//!
//! 1. Floor every share `y × requested` to whole units (exact at `y = 0` and `y = 1`).
//! 2. Repair: if an exactly-computed row (draws use `ceil(ratio × grant)`) still exceeds what is
//!    left, take units back from the lowest-priority projects on it; an all-or-nothing project
//!    loses its whole grant rather than fall below its minimum.
//! 3. Largest remainder per pool: the pool's rounded continuous total is restored by giving one
//!    unit to the largest fractional parts (ties: priority order), each only if every row it
//!    touches still has room.
//!
//! So a grant never exceeds its request, a row never exceeds what is left, and a pool split three
//! ways sums to the pool to the last unit.

use std::collections::BTreeMap;

use crate::prepare::{App, COEF_ONE, Prepared, Usage};

/// `members` are app indices in priority order; `y` their shares. Updates `residual` and
/// `grants` (units per item).
pub(crate) fn round_tier(
    prep: &Prepared,
    members: &[usize],
    y: &[f64],
    residual: &mut [i128],
    grants: &mut [Vec<i128>],
) {
    // Projects at 0 keep their zero grants: only the others need rounding.
    let (members, y): (Vec<usize>, Vec<f64>) = members
        .iter()
        .zip(y)
        .filter(|(_, share)| **share > 1e-12)
        .map(|(&i, &s)| (i, s))
        .unzip();
    let members = members.as_slice();
    let exact: Vec<Vec<f64>> = members
        .iter()
        .zip(&y)
        .map(|(&i, &share)| {
            prep.apps[i]
                .items
                .iter()
                .map(|item| share * item.requested as f64)
                .collect()
        })
        .collect();
    for (k, &i) in members.iter().enumerate() {
        let app = &prep.apps[i];
        grants[i] = app
            .items
            .iter()
            .zip(&exact[k])
            .map(|(item, &x)| {
                if y[k] >= 1.0 - 1e-12 {
                    item.requested
                } else if y[k] <= 1e-12 {
                    0
                } else {
                    ((x + 1e-6).floor() as i128).clamp(0, item.requested)
                }
            })
            .collect();
    }
    let mut usage = vec![0i128; prep.rows.len()];
    for &i in members {
        add_usage(prep, &prep.apps[i], &grants[i], &mut usage, 1);
    }
    repair(prep, members, residual, grants, &mut usage);
    largest_remainder(prep, members, &exact, residual, grants, &mut usage);
    for (r, u) in usage.iter().enumerate() {
        residual[r] -= u;
        debug_assert!(residual[r] >= 0 || *u == 0, "row {r} overdrawn");
    }
}

fn add_usage(prep: &Prepared, app: &App, q: &[i128], usage: &mut [i128], sign: i128) {
    for e in &app.entries {
        usage[e.row] += sign * prep.rows[e.row].usage_of(e.coef, q[e.item]);
    }
}

fn set_item(
    prep: &Prepared,
    app: &App,
    q: &mut [i128],
    item: usize,
    value: i128,
    usage: &mut [i128],
) {
    for e in app.entries.iter().filter(|e| e.item == item) {
        let row = &prep.rows[e.row];
        usage[e.row] += row.usage_of(e.coef, value) - row.usage_of(e.coef, q[item]);
    }
    q[item] = value;
}

fn repair(
    prep: &Prepared,
    members: &[usize],
    residual: &[i128],
    grants: &mut [Vec<i128>],
    usage: &mut [i128],
) {
    for r in 0..prep.rows.len() {
        // Flexible projects give back first, all-or-nothing ones only if that is not enough.
        for pass_strict in [false, true] {
            for &i in members.iter().rev() {
                if usage[r] <= residual[r] {
                    break;
                }
                let app = &prep.apps[i];
                if (app.min_share > 0.0) != pass_strict {
                    continue;
                }
                let Some(e) = app
                    .entries
                    .iter()
                    .find(|e| e.row == r && grants[i][e.item] > 0)
                else {
                    continue;
                };
                if pass_strict {
                    for item in 0..app.items.len() {
                        set_item(prep, app, &mut grants[i], item, 0, usage);
                    }
                    continue;
                }
                let row = &prep.rows[r];
                let current = row.usage_of(e.coef, grants[i][e.item]);
                let allowed = current - (usage[r] - residual[r]);
                let value = if allowed <= 0 {
                    0
                } else {
                    match row.usage {
                        Usage::Draw => allowed * COEF_ONE / e.coef,
                        Usage::Exact => allowed / e.coef,
                    }
                };
                let value = value.min(grants[i][e.item]);
                set_item(prep, app, &mut grants[i], e.item, value, usage);
            }
        }
    }
}

/// Per pool: continuous total, floored total, candidates (fraction, member position, item).
type PoolRemainders = (f64, i128, Vec<(f64, usize, usize)>);

fn largest_remainder(
    prep: &Prepared,
    members: &[usize],
    exact: &[Vec<f64>],
    residual: &[i128],
    grants: &mut [Vec<i128>],
    usage: &mut [i128],
) {
    // (pool) -> candidates (fraction, member position, item)
    let mut by_pool: BTreeMap<usize, PoolRemainders> = BTreeMap::new();
    for (k, &i) in members.iter().enumerate() {
        for (item_index, item) in prep.apps[i].items.iter().enumerate() {
            let Some(pool) = item.pool else { continue };
            let entry = by_pool.entry(pool).or_insert((0.0, 0, Vec::new()));
            let x = exact[k][item_index];
            let q = grants[i][item_index];
            entry.0 += x;
            entry.1 += q;
            let fraction = x - q as f64;
            if fraction > 1e-9 && q < item.requested {
                entry.2.push((fraction, k, item_index));
            }
        }
    }
    for (_, (total, floored, mut candidates)) in by_pool {
        let mut deficit = total.round() as i128 - floored;
        if deficit <= 0 {
            continue;
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, k, item) in candidates {
            if deficit == 0 {
                break;
            }
            let i = members[k];
            let app = &prep.apps[i];
            let q = grants[i][item];
            let fits = app.entries.iter().filter(|e| e.item == item).all(|e| {
                let row = &prep.rows[e.row];
                let extra = row.usage_of(e.coef, q + 1) - row.usage_of(e.coef, q);
                usage[e.row] + extra <= residual[e.row]
            });
            if fits {
                set_item(prep, app, &mut grants[i], item, q + 1, usage);
                deficit -= 1;
            }
        }
    }
}
