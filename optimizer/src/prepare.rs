//! Validation, eligibility and tiering: turns a [`Round`] into integer rows and columns.
//!
//! Quantities become integers in ledger units (10^-scale of the pollutant's unit) so rounding and
//! conservation are exact. Two kinds of row exist:
//! - *draw* rows (pools, enterprise shares): usage = Σ ceil(ratio × grant), in units, because a
//!   draw is posted at the ledger scale and must cover the replacement ratio;
//! - *exact* rows (regional caps): usage = Σ coefficient × grant, in sub-units of 10^-(scale+6).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::allocation::{Constraint, RuleHit};
use crate::error::Problem;
use crate::model::{CreditGrade, Medium, Round, ZoneType};
use crate::policy::{Area, TIER_MAX};

/// Decimal places allowed in ratios, transfer coefficients and shares.
pub(crate) const COEF_PLACES: u32 = 6;
pub(crate) const COEF_ONE: i128 = 1_000_000;
pub const SCALE_MAX: u32 = 9;
pub const APPLICATIONS_MAX: usize = 5_000_000;
pub const POLLUTANTS_MAX: usize = 32;
/// Largest quantity in ledger units; keeps every sum and product inside i128.
pub(crate) const UNITS_MAX: i128 = 1_000_000_000_000_000_000;
const RATIO_MAX: i128 = 100 * COEF_ONE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    /// ceil(coef × q / 10^6), ledger units.
    Draw,
    /// coef × q, sub-units.
    Exact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowKind {
    Pool(usize),
    Cap(usize),
    Share { pool: usize, enterprise: String },
}

#[derive(Debug, Clone)]
pub(crate) struct RowDef {
    pub kind: RowKind,
    pub pollutant: usize,
    pub usage: Usage,
    pub rhs: i128,
    /// Row units per tonne, to report shadow prices per tonne.
    pub units_per_tonne: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub pollutant: usize,
    pub requested: i128,
    pub pool: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub row: usize,
    pub item: usize,
    pub coef: i128,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub input: usize,
    pub tier: Option<u8>,
    pub exclusions: Vec<RuleHit>,
    pub notes: Vec<RuleHit>,
    pub items: Vec<Item>,
    pub entries: Vec<Entry>,
    pub missing: Vec<Constraint>,
    /// District, basin and airshed indices.
    pub place: [usize; 3],
    pub min_share: f64,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct PoolInfo {
    pub input: usize,
    pub pollutant: usize,
    pub total: i128,
    pub held: i128,
    pub available: i128,
    /// (reduction id, units), sorted by reduction id.
    pub sources: Vec<(String, i128)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pollutant {
    pub id: String,
    pub scale: u32,
}

/// The validated, integer form of a round. `apps` is in priority order: tier, credit grade,
/// filing time, id; excluded projects last.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub pollutants: Vec<Pollutant>,
    pub pools: Vec<PoolInfo>,
    pub rows: Vec<RowDef>,
    pub apps: Vec<App>,
}

/// FNV-1a. Keys are ids we validate ourselves, so hash flooding is no concern, and SipHash was the
/// largest cost of preparing a million applications.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub(crate) fn units(d: Decimal, scale: u32) -> Result<i128, &'static str> {
    let d = d.normalize();
    if d.scale() > scale {
        return Err("scale");
    }
    let factor = 10i128.pow(scale - d.scale());
    match d.mantissa().checked_mul(factor) {
        Some(u) if u.abs() <= UNITS_MAX => Ok(u),
        _ => Err("large"),
    }
}

pub(crate) fn to_decimal(units: i128, scale: u32) -> Decimal {
    // UNITS_MAX keeps every amount far below Decimal's 96-bit mantissa.
    Decimal::from_i128_with_scale(units, scale)
}

fn coef(d: Decimal) -> Option<i128> {
    units(d, COEF_PLACES).ok()
}

struct Ids<'a> {
    pollutants: FastMap<&'a str, usize>,
    districts: FastMap<&'a str, usize>,
    basins: FastMap<&'a str, usize>,
    airsheds: FastMap<&'a str, usize>,
}

fn index<'a>(
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

fn check_area(ids: &Ids, area: &Area, context: &str, problems: &mut Vec<Problem>) {
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

fn quantity(
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

fn in_range(
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

/// Validates `round` and builds the integer model; every problem found is returned at once.
pub(crate) fn prepare(round: &Round) -> Result<Prepared, Vec<Problem>> {
    let mut problems = Vec::new();
    let ids = Ids {
        pollutants: index(
            "pollutant",
            round.pollutants.iter().map(|p| p.id.as_str()),
            &mut problems,
        ),
        districts: index(
            "district",
            round.districts.iter().map(String::as_str),
            &mut problems,
        ),
        basins: index(
            "basin",
            round.basins.iter().map(String::as_str),
            &mut problems,
        ),
        airsheds: index(
            "airshed",
            round.airsheds.iter().map(String::as_str),
            &mut problems,
        ),
    };
    if round.pollutants.len() > POLLUTANTS_MAX {
        problems.push(Problem::TooMany {
            kind: "pollutant",
            count: round.pollutants.len(),
            max: POLLUTANTS_MAX,
        });
    }
    if round.applications.len() > APPLICATIONS_MAX {
        problems.push(Problem::TooMany {
            kind: "application",
            count: round.applications.len(),
            max: APPLICATIONS_MAX,
        });
    }
    let pollutants: Vec<Pollutant> = round
        .pollutants
        .iter()
        .map(|p| {
            if p.scale > SCALE_MAX {
                problems.push(Problem::ScaleTooFine {
                    pollutant: p.id.clone(),
                    scale: p.scale,
                    max: SCALE_MAX,
                });
            }
            Pollutant {
                id: p.id.clone(),
                scale: p.scale.min(SCALE_MAX),
            }
        })
        .collect();
    check_policy(round, &ids, &pollutants, &mut problems);
    let (pools, pool_index) = build_pools(round, &ids, &pollutants, &mut problems);
    let apps = build_apps(round, &ids, &pollutants, &pool_index, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(build_rows(round, &pollutants, pools, apps))
}

fn check_policy(round: &Round, ids: &Ids, pollutants: &[Pollutant], problems: &mut Vec<Problem>) {
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
type PoolIndex = FastMap<(usize, usize), usize>;

fn build_pools(
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

fn hit(rule: &str, citation: &str) -> RuleHit {
    RuleHit {
        rule: rule.to_owned(),
        citation: citation.to_owned(),
    }
}

/// Hard gates, in a fixed order so the exclusion list is stable.
fn exclusions(round: &Round, a: &crate::model::Application) -> Vec<RuleHit> {
    let e = &round.policy.eligibility;
    let has = |tag: &str| a.tags.iter().any(|t| t == tag);
    let mut out = Vec::new();
    if let Some(r) = &e.priority_protection
        && a.location.zone == ZoneType::PriorityProtection
    {
        out.push(hit("priority_protection", &r.citation));
    }
    let near = |min: u32| a.location.river_distance_m.is_some_and(|d| d < min);
    if let Some(r) = &e.river_distance
        && near(r.distance_m_min)
        && r.industries.iter().any(|i| has(i))
    {
        out.push(hit("river_distance", &r.citation));
    }
    if let Some(r) = &e.new_park_distance
        && near(r.distance_m_min)
        && has(&r.tag)
    {
        out.push(hit("new_park_distance", &r.citation));
    }
    for list in &e.negative_lists {
        if list.tags.iter().any(|t| has(t)) {
            out.push(hit(&format!("negative_list:{}", list.id), &list.citation));
        }
    }
    if let Some(r) = &e.credit_poor
        && a.credit == CreditGrade::Poor
    {
        out.push(hit("credit_poor", &r.citation));
    }
    if let Some(r) = &e.approval_freeze
        && r.districts.contains(&a.location.district)
    {
        out.push(hit("approval_freeze", &r.citation));
    }
    out
}

fn tier_of(round: &Round, a: &crate::model::Application, notes: &mut Vec<RuleHit>) -> u8 {
    let policy = &round.policy;
    let base = policy
        .tiers
        .iter()
        .find(|r| r.any_tags.iter().any(|t| a.tags.contains(t)))
        .map_or(policy.default_tier, |r| r.tier);
    match &policy.eligibility.credit_warning_demotion {
        Some(r) if a.credit == CreditGrade::Warning => {
            notes.push(hit("credit_warning_demotion", &r.citation));
            (base + 1).min(TIER_MAX)
        }
        _ => base,
    }
}

fn ratio(round: &Round, a: &crate::model::Application, pollutant: &str) -> i128 {
    round
        .policy
        .replacement_ratios
        .iter()
        .filter(|r| r.pollutant.as_deref().is_none_or(|p| p == pollutant))
        .filter(|r| match &r.scope {
            None => true,
            Some(Area::District(d)) => *d == a.location.district,
            Some(Area::Basin(b)) => *b == a.location.basin,
            Some(Area::Airshed(s)) => *s == a.location.airshed,
        })
        .filter_map(|r| coef(r.ratio))
        .fold(COEF_ONE, i128::max)
        .min(RATIO_MAX)
}

fn build_apps(
    round: &Round,
    ids: &Ids,
    pollutants: &[Pollutant],
    pool_index: &PoolIndex,
    problems: &mut Vec<Problem>,
) -> Vec<App> {
    let va_max = round
        .applications
        .iter()
        .filter_map(|a| a.value_added_cny_per_year.to_f64())
        .fold(0.0f64, f64::max);
    // A tiny positive floor: capacity a tier can use is never left to a lower tier.
    let weight_floor = 1e-6 * (va_max + 1.0);
    let mut seen: FastMap<&str, ()> =
        FastMap::with_capacity_and_hasher(round.applications.len(), Default::default());
    let mut apps = Vec::with_capacity(round.applications.len());
    for (input, a) in round.applications.iter().enumerate() {
        if seen.insert(a.id.as_str(), ()).is_some() {
            problems.push(Problem::DuplicateId {
                kind: "application",
                id: a.id.clone(),
            });
            continue;
        }
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
        apps.push(App {
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
            weight: va + weight_floor,
        });
    }
    apps
}

/// Sorts projects into priority order and attaches every row they touch.
fn build_rows(
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
    keys.sort_unstable();
    let mut slots: Vec<Option<App>> = apps.into_iter().map(Some).collect();
    let mut apps: Vec<App> = keys.iter().filter_map(|key| slots[key.4].take()).collect();
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
    // Cap rows depend only on where a project is: computed once per location.
    let mut by_location: FastMap<[usize; 3], Vec<Vec<(usize, i128)>>> = FastMap::default();
    for app in apps.iter_mut().filter(|a| a.tier.is_some()) {
        let a = &round.applications[app.input];
        let loc = &a.location;
        let cap_rows = by_location.entry(app.place).or_insert_with(|| {
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
                    touched
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
                        .collect()
                })
                .collect()
        });
        for (item_index, item) in app.items.iter().enumerate() {
            if let Some(pool) = item.pool {
                let coef = ratio(round, a, &pollutants[item.pollutant].id);
                app.entries.push(Entry {
                    row: pool,
                    item: item_index,
                    coef,
                });
            }
            for &(row, coef) in &cap_rows[item.pollutant] {
                app.entries.push(Entry {
                    row,
                    item: item_index,
                    coef,
                });
            }
        }
    }
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

pub(crate) fn ceil_div(a: i128, b: i128) -> i128 {
    // Operands are non-negative here: quantities were validated.
    (a + b - 1) / b
}

impl RowDef {
    /// Usage of this row by `q` ledger units of an entry with coefficient `coef`.
    pub(crate) fn usage_of(&self, coef: i128, q: i128) -> i128 {
        match self.usage {
            Usage::Draw => ceil_div(coef * q, COEF_ONE),
            Usage::Exact => coef * q,
        }
    }

    /// Coefficient of the continuous model: row units per unit of the item.
    pub(crate) fn float_coef(&self, coef: i128) -> f64 {
        match self.usage {
            Usage::Draw => coef as f64 / COEF_ONE as f64,
            Usage::Exact => coef as f64,
        }
    }
}
