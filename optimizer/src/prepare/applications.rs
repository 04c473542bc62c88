//! Per-application validation and the integer columns: items, pools, tier, exclusions.

use rayon::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::eligibility::{exclusions, tier_of};
use super::validate::{Ids, PoolIndex, check_unit, in_range, quantity};
use super::{App, FastMap, Item, Pollutant};
use crate::allocation::Constraint;
use crate::error::Problem;
use crate::model::{Medium, Round};

pub(super) fn build_apps(
    round: &Round,
    ids: &Ids,
    pollutants: &[Pollutant],
    pool_index: &PoolIndex,
    problems: &mut Vec<Problem>,
) -> Vec<App> {
    // Duplicate ids first (sequential: the first occurrence wins), then every application on its
    // own, in parallel; problems are merged back in input order, so the report does not depend on
    // the thread count.
    let mut seen: FastMap<&str, ()> =
        FastMap::with_capacity_and_hasher(round.applications.len(), Default::default());
    let duplicate: Vec<bool> = round
        .applications
        .iter()
        .map(|a| seen.insert(a.id.as_str(), ()).is_some())
        .collect();
    drop(seen);
    let built: Vec<(Option<App>, Vec<Problem>)> = round
        .applications
        .par_iter()
        .enumerate()
        .with_min_len(4_096)
        .map(|(input, a)| {
            let mut problems = Vec::new();
            if duplicate[input] {
                problems.push(Problem::DuplicateId {
                    kind: "application",
                    id: a.id.clone(),
                });
                return (None, problems);
            }
            let app = build_app(round, ids, pollutants, pool_index, input, &mut problems);
            (Some(app), problems)
        })
        .collect();
    let mut apps = Vec::with_capacity(round.applications.len());
    for (app, mut found) in built {
        problems.append(&mut found);
        apps.extend(app);
    }
    apps
}

fn build_app(
    round: &Round,
    ids: &Ids,
    pollutants: &[Pollutant],
    pool_index: &PoolIndex,
    input: usize,
    problems: &mut Vec<Problem>,
) -> App {
    let a = &round.applications[input];
    {
        let context = || format!("application `{}`", a.id);
        let loc = &a.location;
        let place @ [_, basin, airshed] = [
            ("district", &loc.district, &ids.districts),
            ("basin", &loc.basin, &ids.basins),
            ("airshed", &loc.airshed, &ids.airsheds),
        ]
        .map(|(kind, id, map)| {
            let found = map.get(id.as_str()).copied();
            if found.is_none() {
                problems.push(Problem::UnknownRegion {
                    context: context(),
                    kind,
                    id: id.clone(),
                });
            }
            found.unwrap_or(usize::MAX - 1)
        });
        in_range(
            a.min_viable_share,
            Decimal::ZERO,
            Decimal::ONE,
            "[0, 1]",
            || format!("application `{}` min_viable_share", a.id),
            problems,
        );
        if a.value_added_cny_per_year.is_sign_negative() && !a.value_added_cny_per_year.is_zero() {
            problems.push(Problem::NegativeQuantity {
                context: format!("application `{}` value added", a.id),
                quantity: a.value_added_cny_per_year,
            });
        }
        if a.requests.is_empty() {
            problems.push(Problem::BadRequest {
                application: a.id.clone(),
                detail: "requests nothing".into(),
            });
        }
        let mut items: Vec<Item> = Vec::with_capacity(a.requests.len());
        let mut missing = Vec::new();
        for r in &a.requests {
            let Some(&p) = ids.pollutants.get(r.pollutant.as_str()) else {
                problems.push(Problem::UnknownPollutant {
                    context: context(),
                    pollutant: r.pollutant.clone(),
                });
                continue;
            };
            if items.iter().any(|i| i.pollutant == p) {
                problems.push(Problem::BadRequest {
                    application: a.id.clone(),
                    detail: format!("requests `{}` twice", r.pollutant),
                });
                continue;
            }
            let qcontext = || format!("application `{}` request `{}`", a.id, r.pollutant);
            let requested = quantity(r.quantity, pollutants[p].scale, qcontext, problems);
            check_unit(
                r.unit.as_deref(),
                &round.pollutants[p].unit,
                qcontext,
                problems,
            );
            let (area, area_name) = match round.pollutants[p].medium {
                Medium::Water => (basin, loc.basin.as_str()),
                Medium::Air => (airshed, loc.airshed.as_str()),
                Medium::Global => (usize::MAX, "the province"),
            };
            let pool = pool_index.get(&(p, area)).copied();
            if pool.is_none() {
                missing.push(Constraint::MissingPool {
                    pollutant: r.pollutant.clone(),
                    area: area_name.to_owned(),
                });
            }
            // A zero request is not part of the bundle.
            if requested > 0 {
                items.push(Item {
                    pollutant: p,
                    requested,
                    pool,
                });
            }
        }
        let mut notes = Vec::new();
        let excluded = exclusions(round, a);
        let tier = tier_of(round, a, &mut notes);
        let blocked = !excluded.is_empty() || !missing.is_empty() || items.is_empty();
        let va = a.value_added_cny_per_year.to_f64().unwrap_or(0.0).max(0.0);
        App {
            input,
            tier: excluded.is_empty().then_some(tier),
            exclusions: excluded,
            notes,
            items,
            entries: Vec::new(),
            missing,
            place,
            min_share: if blocked {
                1.0
            } else {
                a.min_viable_share.to_f64().unwrap_or(1.0)
            },
            // Value added; the positive floor is added per tier once tiers are known (rows.rs).
            weight: va,
        }
    }
}
