//! Validation of ids, quantities, regions and policy parameters; every problem is collected.

use std::collections::HashMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{FastMap, Pollutant, PoolInfo, UNITS_MAX, coef, to_decimal, units};
use crate::error::Problem;
use crate::model::{Medium, Round};
use crate::policy::{Area, TIER_MAX};

pub(super) struct Ids<'a> {
    pub pollutants: FastMap<&'a str, usize>,
    pub districts: FastMap<&'a str, usize>,
    pub basins: FastMap<&'a str, usize>,
    pub airsheds: FastMap<&'a str, usize>,
}

pub(super) fn index<'a>(
    kind: &'static str,
    ids: impl Iterator<Item = &'a str>,
    problems: &mut Vec<Problem>,
) -> FastMap<&'a str, usize> {
    let mut map = FastMap::default();
    for (i, id) in ids.enumerate() {
        if map.insert(id, i).is_some() {
            problems.push(Problem::DuplicateId {
                kind,
                id: id.to_owned(),
            });
        }
    }
    map
}

pub(super) fn check_area(ids: &Ids, area: &Area, context: &str, problems: &mut Vec<Problem>) {
    let (kind, id, map) = match area {
        Area::District(id) => ("district", id, &ids.districts),
        Area::Basin(id) => ("basin", id, &ids.basins),
        Area::Airshed(id) => ("airshed", id, &ids.airsheds),
    };
    if !map.contains_key(id.as_str()) {
        problems.push(Problem::UnknownRegion {
            context: context.to_owned(),
            kind,
            id: id.clone(),
        });
    }
}

pub(super) fn quantity(
    d: Decimal,
    scale: u32,
    context: impl Fn() -> String,
    problems: &mut Vec<Problem>,
) -> i128 {
    if d.is_sign_negative() && !d.is_zero() {
        problems.push(Problem::NegativeQuantity {
            context: context(),
            quantity: d,
        });
        return 0;
    }
    match units(d, scale) {
        Ok(u) => u,
        Err("scale") => {
            problems.push(Problem::BeyondScale {
                context: context(),
                quantity: d,
                scale,
            });
            0
        }
        Err(_) => {
            problems.push(Problem::TooLarge {
                context: context(),
                quantity: d,
            });
            0
        }
    }
}

pub(super) fn in_range(
    value: Decimal,
    low: Decimal,
    high: Decimal,
    range: &'static str,
    context: impl Fn() -> String,
    problems: &mut Vec<Problem>,
) -> bool {
    let ok = value >= low && value <= high && coef(value).is_some();
    if !ok {
        problems.push(Problem::OutOfRange {
            context: context(),
            value: value.to_string(),
            range,
        });
    }
    ok
}

pub(super) fn check_policy(
    round: &Round,
    ids: &Ids,
    pollutants: &[Pollutant],
    problems: &mut Vec<Problem>,
) {
    let policy = &round.policy;
    let tier_ok = |t: u8| (1..=TIER_MAX).contains(&t);
    if !tier_ok(policy.default_tier) {
        problems.push(Problem::OutOfRange {
            context: "policy default_tier".into(),
            value: policy.default_tier.to_string(),
            range: "1..=5",
        });
    }
    for rule in &policy.tiers {
        if !tier_ok(rule.tier) {
            problems.push(Problem::OutOfRange {
                context: "policy tier rule".into(),
                value: rule.tier.to_string(),
                range: "1..=5",
            });
        }
    }
    let reserve_ok = policy.reserve_share < Decimal::ONE;
    if reserve_ok {
        in_range(
            policy.reserve_share,
            Decimal::ZERO,
            Decimal::ONE,
            "[0, 1)",
            || "policy reserve_share".into(),
            problems,
        );
    } else {
        problems.push(Problem::OutOfRange {
            context: "policy reserve_share".into(),
            value: policy.reserve_share.to_string(),
            range: "[0, 1)",
        });
    }
    if let Some(limit) = &policy.enterprise_share_max {
        in_range(
            limit.share_max,
            Decimal::ZERO,
            Decimal::ONE,
            "[0, 1]",
            || "policy enterprise_share_max".into(),
            problems,
        );
    }
    for (i, rule) in policy.replacement_ratios.iter().enumerate() {
        let context = || format!("replacement ratio #{i}");
        in_range(
            rule.ratio,
            Decimal::ONE,
            Decimal::from(100),
            "[1, 100]",
            context,
            problems,
        );
        if let Some(p) = &rule.pollutant
            && !ids.pollutants.contains_key(p.as_str())
        {
            problems.push(Problem::UnknownPollutant {
                context: context(),
                pollutant: p.clone(),
            });
        }
        if let Some(area) = &rule.scope {
            check_area(ids, area, &context(), problems);
        }
    }
    let mut cap_ids = HashMap::new();
    for cap in &policy.caps {
        let context = || format!("cap `{}`", cap.id);
        if cap_ids.insert(cap.id.as_str(), ()).is_some() {
            problems.push(Problem::DuplicateId {
                kind: "cap",
                id: cap.id.clone(),
            });
        }
        check_area(ids, &cap.scope, &context(), problems);
        match ids.pollutants.get(cap.pollutant.as_str()) {
            Some(&p) => {
                quantity(cap.cap, pollutants[p].scale, context, problems);
            }
            None => problems.push(Problem::UnknownPollutant {
                context: context(),
                pollutant: cap.pollutant.clone(),
            }),
        }
        for (district, value) in &cap.transfer_coefficients {
            if !ids.districts.contains_key(district.as_str()) {
                problems.push(Problem::UnknownRegion {
                    context: context(),
                    kind: "district",
                    id: district.clone(),
                });
            }
            in_range(
                *value,
                Decimal::ZERO,
                Decimal::from(100),
                "[0, 100]",
                context,
                problems,
            );
        }
    }
    if let Some(freeze) = &policy.eligibility.approval_freeze {
        for district in &freeze.districts {
            check_area(
                ids,
                &Area::District(district.clone()),
                "approval freeze",
                problems,
            );
        }
    }
}

/// (pollutant, basin or airshed index; `usize::MAX` for a global pollutant) -> pool.
pub(super) type PoolIndex = FastMap<(usize, usize), usize>;

pub(super) fn build_pools(
    round: &Round,
    ids: &Ids,
    pollutants: &[Pollutant],
    problems: &mut Vec<Problem>,
) -> (Vec<PoolInfo>, PoolIndex) {
    let mut order: Vec<usize> = (0..round.pools.len()).collect();
    order.sort_by(|&a, &b| round.pools[a].id.cmp(&round.pools[b].id));
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut index: PoolIndex = FastMap::default();
    let mut pools = Vec::new();
    let reserve = round.policy.reserve_share;
    for input in order {
        let pool = &round.pools[input];
        if seen.insert(pool.id.as_str(), ()).is_some() {
            problems.push(Problem::DuplicateId {
                kind: "pool",
                id: pool.id.clone(),
            });
            continue;
        }
        let Some(&p) = ids.pollutants.get(pool.pollutant.as_str()) else {
            problems.push(Problem::UnknownPollutant {
                context: format!("pool `{}`", pool.id),
                pollutant: pool.pollutant.clone(),
            });
            continue;
        };
        let medium = round.pollutants[p].medium;
        let area_error = match (medium, &pool.area) {
            (Medium::Water, Some(a)) if ids.basins.contains_key(a.as_str()) => None,
            (Medium::Air, Some(a)) if ids.airsheds.contains_key(a.as_str()) => None,
            (Medium::Global, None) => None,
            (Medium::Water, _) => Some("a water pollutant's pool needs a known basin"),
            (Medium::Air, _) => Some("an air pollutant's pool needs a known airshed"),
            (Medium::Global, Some(_)) => Some("a global pollutant's pool has no area"),
        };
        if let Some(detail) = area_error {
            problems.push(Problem::PoolArea {
                pool: pool.id.clone(),
                detail: detail.into(),
            });
            continue;
        }
        let scale = pollutants[p].scale;
        let mut sources: Vec<(String, i128)> = pool
            .sources
            .iter()
            .map(|s| {
                let context = || format!("pool `{}` source `{}`", pool.id, s.reduction_id);
                check_unit(
                    s.unit.as_deref(),
                    &round.pollutants[p].unit,
                    context,
                    problems,
                );
                (
                    s.reduction_id.clone(),
                    quantity(s.quantity, scale, context, problems),
                )
            })
            .collect();
        sources.sort();
        for pair in sources.windows(2) {
            if pair[0].0 == pair[1].0 {
                problems.push(Problem::DuplicateId {
                    kind: "pool source",
                    id: format!("{}/{}", pool.id, pair[0].0),
                });
            }
        }
        let total: i128 = sources.iter().map(|s| s.1).sum();
        if total > UNITS_MAX {
            problems.push(Problem::TooLarge {
                context: format!("pool `{}`", pool.id),
                quantity: to_decimal(total.min(UNITS_MAX), scale),
            });
        }
        let held = (Decimal::from_i128_with_scale(total.min(UNITS_MAX), 0)
            * reserve.max(Decimal::ZERO))
        .ceil()
        .to_i128()
        .unwrap_or(0)
        .min(total);
        let area_index = match (medium, &pool.area) {
            (Medium::Water, Some(a)) => ids.basins[a.as_str()],
            (Medium::Air, Some(a)) => ids.airsheds[a.as_str()],
            _ => usize::MAX,
        };
        let key = (p, area_index);
        if let Some(&other) = index.get(&key) {
            let first: &PoolInfo = &pools[other];
            problems.push(Problem::DuplicatePool {
                first: round.pools[first.input].id.clone(),
                second: pool.id.clone(),
                pollutant: pool.pollutant.clone(),
                area: pool.area.clone().unwrap_or_else(|| "the province".into()),
            });
            continue;
        }
        index.insert(key, pools.len());
        pools.push(PoolInfo {
            input,
            pollutant: p,
            total,
            held,
            available: total - held,
            sources,
        });
    }
    (pools, index)
}

/// A quantity may name its unit; if it does, it must be the pollutant's (no silent t vs kg).
pub(super) fn check_unit(
    unit: Option<&str>,
    expected: &str,
    context: impl Fn() -> String,
    problems: &mut Vec<Problem>,
) {
    if let Some(unit) = unit
        && unit != expected
    {
        problems.push(Problem::InconsistentUnit {
            context: context(),
            unit: unit.to_owned(),
            expected: expected.to_owned(),
        });
    }
}
