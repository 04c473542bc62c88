//! Rows (pools, caps, enterprise shares) and the entries linking projects to them.

use std::collections::HashMap;

use rayon::prelude::*;

use super::eligibility::ratio;
use super::{
    App, COEF_ONE, COEF_PLACES, Entry, FastMap, Pollutant, PoolInfo, Prepared, RowDef, RowKind,
    Usage, ceil_div, coef, units,
};
use crate::model::Round;
use crate::policy::Area;

/// Sorts projects into priority order and attaches every row they touch.
pub(super) fn build_rows(
    round: &Round,
    pollutants: &[Pollutant],
    pools: Vec<PoolInfo>,
    apps: Vec<App>,
) -> Prepared {
    // Sort small keys, then move each app once: apps are large and ids are unique.
    let mut keys: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(k, app)| {
            let a = &round.applications[app.input];
            (
                app.tier.unwrap_or(u8::MAX),
                a.credit,
                a.filed_at_unix_s,
                a.id.as_str(),
                k,
            )
        })
        .collect();
    // Keys are unique (ids are), so the parallel sort's order is the only one.
    keys.par_sort_unstable();
    let mut slots: Vec<Option<App>> = apps.into_iter().map(Some).collect();
    let mut apps: Vec<App> = keys.iter().filter_map(|key| slots[key.4].take()).collect();
    // A tiny positive floor on every weight, so capacity a tier can use is never left to a lower
    // tier. Per tier (from that tier's largest value added): a floor taken over the whole round
    // would let a lower tier's value added reorder a higher tier's projects.
    let mut start = 0;
    while start < apps.len() {
        let tier = apps[start].tier;
        let end = start + apps[start..].iter().take_while(|a| a.tier == tier).count();
        let floor = 1e-6
            * (apps[start..end]
                .iter()
                .map(|a| a.weight)
                .fold(0.0, f64::max)
                + 1.0);
        for app in &mut apps[start..end] {
            app.weight += floor;
        }
        start = end;
    }
    let per_tonne = |p: usize, extra: u32| 10f64.powi((pollutants[p].scale + extra) as i32);
    let mut rows: Vec<RowDef> = pools
        .iter()
        .enumerate()
        .map(|(i, pool)| RowDef {
            kind: RowKind::Pool(i),
            pollutant: pool.pollutant,
            usage: Usage::Draw,
            rhs: pool.available,
            units_per_tonne: per_tonne(pool.pollutant, 0),
        })
        .collect();
    let policy = &round.policy;
    let mut caps: Vec<usize> = (0..policy.caps.len()).collect();
    caps.sort_by(|&a, &b| policy.caps[a].id.cmp(&policy.caps[b].id));
    let pollutant_index: HashMap<&str, usize> = pollutants
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let cap_row0 = rows.len();
    for &c in &caps {
        let cap = &policy.caps[c];
        let p = pollutant_index[cap.pollutant.as_str()];
        let cap_units = units(cap.cap, pollutants[p].scale).unwrap_or(0);
        rows.push(RowDef {
            kind: RowKind::Cap(c),
            pollutant: p,
            usage: Usage::Exact,
            rhs: cap_units * COEF_ONE,
            units_per_tonne: per_tonne(p, COEF_PLACES),
        });
    }
    // Caps touching a project: by scope, plus districts named in transfer coefficients.
    let mut cap_lookup: HashMap<(usize, Area), Vec<usize>> = HashMap::new();
    for (k, &c) in caps.iter().enumerate() {
        let cap = &policy.caps[c];
        let p = pollutant_index[cap.pollutant.as_str()];
        cap_lookup
            .entry((p, cap.scope.clone()))
            .or_default()
            .push(cap_row0 + k);
        for district in cap.transfer_coefficients.keys() {
            let area = Area::District(district.clone());
            if area != cap.scope {
                cap_lookup.entry((p, area)).or_default().push(cap_row0 + k);
            }
        }
    }
    // Cap rows and replacement ratios depend only on where a project is and the pollutant:
    // computed once per location, as (ratio, cap rows) per pollutant.
    type PerPollutant = Vec<(i128, Vec<(usize, i128)>)>;
    let mut by_location: FastMap<[usize; 3], PerPollutant> = FastMap::default();
    for app in apps.iter().filter(|a| a.tier.is_some()) {
        if by_location.contains_key(&app.place) {
            continue;
        }
        let a = &round.applications[app.input];
        let loc = &a.location;
        by_location.insert(app.place, {
            let areas = [
                Area::District(loc.district.clone()),
                Area::Basin(loc.basin.clone()),
                Area::Airshed(loc.airshed.clone()),
            ];
            (0..pollutants.len())
                .map(|p| {
                    let mut touched: Vec<usize> = areas
                        .iter()
                        .filter_map(|area| cap_lookup.get(&(p, area.clone())))
                        .flatten()
                        .copied()
                        .collect();
                    touched.sort_unstable();
                    touched.dedup();
                    let caps = touched
                        .into_iter()
                        .filter_map(|row| {
                            let RowKind::Cap(c) = rows[row].kind else {
                                return None;
                            };
                            let cap = &policy.caps[c];
                            let coef = match cap.transfer_coefficients.get(&loc.district) {
                                Some(value) => coef(*value).unwrap_or(0),
                                None if areas.contains(&cap.scope) => COEF_ONE,
                                None => 0,
                            };
                            (coef > 0).then_some((row, coef))
                        })
                        .collect();
                    (ratio(round, a, &pollutants[p].id), caps)
                })
                .collect()
        });
    }
    // Every project's entries from its location's rows: independent, so in parallel.
    apps.par_iter_mut()
        .with_min_len(4_096)
        .filter(|a| a.tier.is_some())
        .for_each(|app| {
            let cap_rows = &by_location[&app.place];
            let needed: usize = app
                .items
                .iter()
                .map(|item| 1 + cap_rows[item.pollutant].1.len())
                .sum();
            app.entries.reserve_exact(needed);
            for (item_index, item) in app.items.iter().enumerate() {
                if let Some(pool) = item.pool {
                    let coef = cap_rows[item.pollutant].0;
                    app.entries.push(Entry {
                        row: pool,
                        item: item_index,
                        coef,
                    });
                }
                for &(row, coef) in &cap_rows[item.pollutant].1 {
                    app.entries.push(Entry {
                        row,
                        item: item_index,
                        coef,
                    });
                }
            }
        });
    add_share_rows(round, &pools, &mut rows, &mut apps);
    Prepared {
        pollutants: pollutants.to_vec(),
        pools,
        rows,
        apps,
    }
}

/// Enterprise share rows, only where an enterprise could actually exceed its share: a row that
/// can never bind only slows the solver down.
fn add_share_rows(round: &Round, pools: &[PoolInfo], rows: &mut Vec<RowDef>, apps: &mut [App]) {
    let Some(limit) = &round.policy.enterprise_share_max else {
        return;
    };
    let share = coef(limit.share_max).unwrap_or(COEF_ONE);
    let mut enterprises: FastMap<&str, u32> = FastMap::default();
    let mut names: Vec<&str> = Vec::new();
    let enterprise_of: Vec<u32> = apps
        .iter()
        .map(|app| {
            let name = round.applications[app.input].enterprise.as_str();
            *enterprises.entry(name).or_insert_with(|| {
                names.push(name);
                names.len() as u32 - 1
            })
        })
        .collect();
    // Bucket projects by enterprise (counting sort), then total each enterprise's draws per pool.
    let mut start = vec![0usize; names.len() + 1];
    for &e in &enterprise_of {
        start[e as usize + 1] += 1;
    }
    for e in 0..names.len() {
        start[e + 1] += start[e];
    }
    let mut bucket = vec![0usize; apps.len()];
    let mut next = start.clone();
    for (k, &e) in enterprise_of.iter().enumerate() {
        bucket[next[e as usize]] = k;
        next[e as usize] += 1;
    }
    let threshold: Vec<i128> = pools
        .iter()
        .map(|p| p.available * share / COEF_ONE)
        .collect();
    let mut over: Vec<(&str, usize, u32)> = Vec::new();
    let mut totals: Vec<(usize, i128)> = Vec::new();
    for e in 0..names.len() {
        totals.clear();
        for &k in &bucket[start[e]..start[e + 1]] {
            let app = &apps[k];
            if app.tier.is_none() {
                continue;
            }
            for entry in app.entries.iter().filter(|x| x.row < pools.len()) {
                let draw = ceil_div(entry.coef * app.items[entry.item].requested, COEF_ONE);
                match totals.iter_mut().find(|t| t.0 == entry.row) {
                    Some(t) => t.1 += draw,
                    None => totals.push((entry.row, draw)),
                }
            }
        }
        for &(pool, total) in totals.iter() {
            if total > threshold[pool] {
                over.push((names[e], pool, e as u32));
            }
        }
    }
    // Rows in (enterprise, pool) order so row ids follow the ids, not the input order.
    over.sort_unstable();
    let mut share_rows: FastMap<(u32, usize), usize> = FastMap::default();
    let mut limited = vec![false; names.len()];
    for (enterprise, pool, e) in over {
        share_rows.insert((e, pool), rows.len());
        limited[e as usize] = true;
        rows.push(RowDef {
            kind: RowKind::Share {
                pool,
                enterprise: enterprise.to_owned(),
            },
            pollutant: pools[pool].pollutant,
            usage: Usage::Draw,
            rhs: threshold[pool],
            units_per_tonne: rows[pool].units_per_tonne,
        });
    }
    for (k, app) in apps.iter_mut().enumerate() {
        let e = enterprise_of[k];
        if app.tier.is_none() || !limited[e as usize] {
            continue;
        }
        let extra: Vec<Entry> = app
            .entries
            .iter()
            .filter(|x| x.row < pools.len())
            .filter_map(|x| {
                share_rows.get(&(e, x.row)).map(|&row| Entry {
                    row,
                    item: x.item,
                    coef: x.coef,
                })
            })
            .collect();
        app.entries.extend(extra);
    }
}
