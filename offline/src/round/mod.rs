//! A reallocation round from files: applications and pools as CSV, or a whole
//! [`optimizer::Round`] as JSON or TOML, plus a policy.
//!
//! `pools.csv`: `pollutant`, `amount` (tonnes), `region` (its basin or airshed; empty for a
//! global pollutant such as CO2); optional `reduction` (the certified reduction's id, several rows
//! per pool when a pool has several), `medium` (`water`, `air`, `global`: otherwise inferred from
//! whether the region is an applicant's basin or airshed), `scale` (decimal places, default 3) and
//! `unit` (default `t/a`).
//!
//! `applications.csv`: `id`, `enterprise`, `district`, `basin`, `airshed`, `value_added` (CNY a
//! year) and one column per pollutant of the pools file, named by its id in any case, holding the
//! requested tonnes (empty or 0: not requested). Optional: `tier` (fixes the tier, overriding the
//! policy's tag rules), `tags` (`;`-separated), `credit`, `zone`, `river_distance_m`,
//! `min_viable_share`, `jobs`, `project`, `filed_at_unix_s`.

pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use optimizer::{
    Application, CreditGrade, Location, Medium, Policy, PollutantSpec, Pool, Request, Round,
    Source, TIER_MAX, TierRule, ZoneType,
};
use rust_decimal::Decimal;

use crate::FormatError;
use crate::document::{self, Format};
use crate::table::{Row, Table};

/// Decimal places of a pollutant whose pools file gives no `scale` (3 = kilograms of tonnes).
pub const DEFAULT_SCALE: u32 = 3;

/// A named input: `label` (usually the path) names it in errors and citations.
pub struct Input<R> {
    pub label: String,
    pub reader: R,
}

/// Reads the round `id` from its applications and pools tables under `policy`.
pub fn from_tables(
    id: &str,
    applications: Input<impl Read>,
    pools: Input<impl Read>,
    mut policy: Policy,
) -> Result<Round, FormatError> {
    let pool_rows = read_pools(pools)?;
    let scales: BTreeMap<String, u32> = (pool_rows.pollutants.iter())
        .map(|(id, declared)| (id.clone(), declared.scale.unwrap_or(DEFAULT_SCALE)))
        .collect();
    let read = read_applications(applications, &scales)?;
    if let Some(file) = &read.tier_column_of {
        policy.tiers.splice(0..0, tier_rules(file));
    }
    let pollutants = pool_rows.specs(&read.basins, &read.airsheds)?;
    let mut basins = read.basins;
    let mut airsheds = read.airsheds;
    for spec in &pollutants {
        let regions = pool_rows.pools.keys().filter(|(p, _)| p == &spec.id);
        for (_, region) in regions.filter(|(_, r)| !r.is_empty()) {
            match spec.medium {
                Medium::Water => basins.insert(region.clone()),
                Medium::Air => airsheds.insert(region.clone()),
                Medium::Global => false,
            };
        }
    }
    Ok(Round {
        id: id.to_owned(),
        pollutants,
        districts: read.districts.into_iter().collect(),
        basins: basins.into_iter().collect(),
        airsheds: airsheds.into_iter().collect(),
        pools: pool_rows.into_pools(),
        applications: read.applications,
        policy,
    })
}

/// A whole round as JSON or TOML (by `label`'s extension: `.toml` is TOML, anything else JSON);
/// `policy`, when given, replaces the round's own.
pub fn from_document(
    input: Input<impl Read>,
    policy: Option<Policy>,
) -> Result<Round, FormatError> {
    let mut round: Round = document::read(input, Format::Json)?;
    if let Some(policy) = policy {
        round.policy = policy;
    }
    Ok(round)
}

/// A policy file: TOML by default, JSON when `label` ends in `.json`.
pub fn policy_from(input: Input<impl Read>) -> Result<Policy, FormatError> {
    document::read(input, Format::Toml)
}

/// The tag an application with a `tier` column value of `tier` carries.
fn tier_tag(tier: u8) -> String {
    format!("tier:{tier}")
}

/// Rules placed before the policy's own, so a `tier` column decides an application's tier.
fn tier_rules(file: &str) -> Vec<TierRule> {
    (1..=TIER_MAX)
        .map(|tier| TierRule {
            tier,
            any_tags: vec![tier_tag(tier)],
            citation: format!("`tier` column of {file}"),
        })
        .collect()
}

/// The pools table, grouped by (pollutant, region).
struct PoolRows {
    /// Pollutant id → (medium, scale, unit) as the file gives them, if it does.
    pollutants: BTreeMap<String, Declared>,
    pools: BTreeMap<(String, String), Vec<Source>>,
    file: String,
}

#[derive(Default, Clone, PartialEq)]
struct Declared {
    medium: Option<Medium>,
    scale: Option<u32>,
    unit: Option<String>,
    /// A region of this pollutant (to infer the medium), and the line it is on.
    regions: Vec<(String, u64)>,
}

const POOL_COLUMNS: [&str; 7] = [
    "pollutant",
    "region",
    "amount",
    "reduction",
    "medium",
    "scale",
    "unit",
];

fn read_pools(input: Input<impl Read>) -> Result<PoolRows, FormatError> {
    let mut table = Table::open(&input.label, input.reader)?;
    table.refuse_unknown(|c| POOL_COLUMNS.contains(&c), &POOL_COLUMNS.join(", "))?;
    let pollutant = table.require(&["pollutant"])?;
    let amount = table.require(&["amount"])?;
    let [region, reduction, medium, scale, unit] =
        ["region", "reduction", "medium", "scale", "unit"].map(|c| table.column(c));
    let mut rows = PoolRows {
        pollutants: BTreeMap::new(),
        pools: BTreeMap::new(),
        file: table.file().to_owned(),
    };
    table.rows(|row| {
        let id = row.required(pollutant)?.to_owned();
        let area = row.text_at(region).unwrap_or("").to_owned();
        let quantity = row.decimal(amount)?.ok_or_else(|| row.error(amount, "is empty"))?;
        let declared = rows.pollutants.entry(id.clone()).or_default();
        declare(row, declared, (medium, scale, unit))?;
        declared.regions.push((area.clone(), row.line()));
        let pool_id = pool_id(&id, &area);
        let sources = rows.pools.entry((id, area)).or_default();
        let reduction_id = row.text_at(reduction).unwrap_or(&pool_id).to_owned();
        if sources.iter().any(|s| s.reduction_id == reduction_id) {
            let column = reduction.unwrap_or(pollutant);
            return Err(row.error(
                column,
                format!("pool `{pool_id}` already has reduction `{reduction_id}` (give a `reduction` column to list several)"),
            ));
        }
        sources.push(Source {
            reduction_id,
            quantity,
            unit: None,
        });
        Ok(())
    })?;
    if rows.pools.is_empty() {
        return Err(FormatError::file(
            &rows.file,
            "no pools: at least one row is required",
        ));
    }
    Ok(rows)
}

/// Records a row's medium, scale and unit, refusing one that contradicts an earlier row.
fn declare(
    row: &Row<'_>,
    declared: &mut Declared,
    (medium, scale, unit): (Option<usize>, Option<usize>, Option<usize>),
) -> Result<(), FormatError> {
    fn agree<T: PartialEq + std::fmt::Debug>(
        row: &Row<'_>,
        column: usize,
        slot: &mut Option<T>,
        value: Option<T>,
    ) -> Result<(), FormatError> {
        match (slot.as_ref(), value) {
            (Some(old), Some(new)) if *old != new => Err(row.error(
                column,
                format!("{new:?} contradicts {old:?} on an earlier row of this pollutant"),
            )),
            (_, Some(new)) => {
                *slot = Some(new);
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }
    if let Some(c) = medium {
        agree(
            row,
            c,
            &mut declared.medium,
            row.named(c, "water, air, global")?,
        )?;
    }
    if let Some(c) = scale {
        agree(
            row,
            c,
            &mut declared.scale,
            row.parsed(c, "a number of decimal places")?,
        )?;
    }
    if let Some(c) = unit {
        agree(
            row,
            c,
            &mut declared.unit,
            row.text_at(Some(c)).map(str::to_owned),
        )?;
    }
    Ok(())
}

fn pool_id(pollutant: &str, region: &str) -> String {
    if region.is_empty() {
        pollutant.to_owned()
    } else {
        format!("{pollutant}.{region}")
    }
}

impl PoolRows {
    /// Each pollutant's spec; a medium the file does not give is inferred from its regions.
    fn specs(
        &self,
        basins: &BTreeSet<String>,
        airsheds: &BTreeSet<String>,
    ) -> Result<Vec<PollutantSpec>, FormatError> {
        self.pollutants
            .iter()
            .map(|(id, declared)| {
                let medium = match declared.medium {
                    Some(medium) => medium,
                    None => self.infer_medium(id, &declared.regions, basins, airsheds)?,
                };
                Ok(PollutantSpec {
                    id: id.clone(),
                    medium,
                    scale: declared.scale.unwrap_or(DEFAULT_SCALE),
                    unit: declared.unit.clone().unwrap_or_else(|| "t/a".to_owned()),
                })
            })
            .collect()
    }

    /// The medium of a pollutant's regions: global when it has no region; otherwise the one
    /// medium of those regions that are an applicant's basin or airshed (a pool in a region no
    /// applicant is in takes its siblings' medium). Refused when they disagree or none is known.
    fn infer_medium(
        &self,
        pollutant: &str,
        regions: &[(String, u64)],
        basins: &BTreeSet<String>,
        airsheds: &BTreeSet<String>,
    ) -> Result<Medium, FormatError> {
        let unclear = |line: u64, why: &str| FormatError::Field {
            file: self.file.clone(),
            line,
            column: "region".into(),
            reason: format!(
                "cannot tell whether `{pollutant}` is water or air: {why}; add a `medium` column"
            ),
        };
        let mut found: Option<(Medium, &str)> = None;
        for (region, line) in regions {
            let here = match (
                region.is_empty(),
                basins.contains(region),
                airsheds.contains(region),
            ) {
                (true, _, _) => Medium::Global,
                (false, true, false) => Medium::Water,
                (false, false, true) => Medium::Air,
                (false, true, true) => {
                    return Err(unclear(
                        *line,
                        &format!("`{region}` is both a basin and an airshed"),
                    ));
                }
                (false, false, false) => continue,
            };
            match found {
                Some((medium, other)) if medium != here => {
                    return Err(unclear(
                        *line,
                        &format!("`{region}` and `{other}` are of different kinds"),
                    ));
                }
                _ => found = Some((here, region)),
            }
        }
        match found {
            Some((medium, _)) => Ok(medium),
            None => Err(unclear(
                regions.first().map_or(0, |r| r.1),
                "no applicant is in any of its regions",
            )),
        }
    }

    fn into_pools(self) -> Vec<Pool> {
        self.pools
            .into_iter()
            .map(|((pollutant, area), sources)| Pool {
                id: pool_id(&pollutant, &area),
                area: (!area.is_empty()).then_some(area),
                pollutant,
                sources,
            })
            .collect()
    }
}

/// The applications table as the round needs it.
struct Applications {
    applications: Vec<Application>,
    districts: BTreeSet<String>,
    basins: BTreeSet<String>,
    airsheds: BTreeSet<String>,
    /// The file's label when it has a `tier` column.
    tier_column_of: Option<String>,
}

const APPLICATION_COLUMNS: [&str; 16] = [
    "id",
    "enterprise",
    "district",
    "basin",
    "airshed",
    "value_added",
    "value_added_cny_per_year",
    "tier",
    "tags",
    "credit",
    "zone",
    "river_distance_m",
    "min_viable_share",
    "jobs",
    "project",
    "filed_at_unix_s",
];

/// Column indices of the applications table.
struct AppColumns {
    id: usize,
    enterprise: usize,
    district: usize,
    basin: usize,
    airshed: usize,
    value_added: usize,
    optional: [Option<usize>; 8],
    /// (column, pollutant id, its scale) of every requested-quantity column.
    pollutants: Vec<(usize, String, u32)>,
}

impl AppColumns {
    fn of(table: &Table<impl Read>, scales: &BTreeMap<String, u32>) -> Result<Self, FormatError> {
        let pollutant_ids: Vec<&str> = scales.keys().map(String::as_str).collect();
        let pollutant_of = |column: &str| scales.iter().find(|(p, _)| p.to_lowercase() == column);
        let pollutants: Vec<(usize, String, u32)> = table
            .columns()
            .iter()
            .enumerate()
            .filter_map(|(i, c)| pollutant_of(c).map(|(p, scale)| (i, p.clone(), *scale)))
            .collect();
        if pollutants.is_empty() {
            return Err(FormatError::file(
                table.file(),
                format!(
                    "no requested-quantity column: name one after a pollutant of the pools file ({})",
                    pollutant_ids.join(", ")
                ),
            ));
        }
        Ok(AppColumns {
            id: table.require(&["id"])?,
            enterprise: table.require(&["enterprise"])?,
            district: table.require(&["district"])?,
            basin: table.require(&["basin"])?,
            airshed: table.require(&["airshed"])?,
            value_added: table.require(&["value_added", "value_added_cny_per_year"])?,
            optional: [
                "tier",
                "tags",
                "credit",
                "zone",
                "river_distance_m",
                "min_viable_share",
                "jobs",
                "project",
            ]
            .map(|c| table.column(c)),
            pollutants,
        })
    }
}

fn read_applications(
    input: Input<impl Read>,
    scales: &BTreeMap<String, u32>,
) -> Result<Applications, FormatError> {
    let pollutant_ids: Vec<String> = scales.keys().cloned().collect();
    let mut table = Table::open(&input.label, input.reader)?;
    let pollutant_of = |column: &str| pollutant_ids.iter().find(|p| p.to_lowercase() == column);
    let listing = format!(
        "{} and the pools file's pollutants ({})",
        APPLICATION_COLUMNS.join(", "),
        pollutant_ids.join(", ")
    );
    table.refuse_unknown(
        |c| APPLICATION_COLUMNS.contains(&c) || pollutant_of(c).is_some(),
        &listing,
    )?;
    let columns = AppColumns::of(&table, scales)?;
    let filed_at = table.column("filed_at_unix_s");
    let mut read = Applications {
        applications: Vec::new(),
        districts: BTreeSet::new(),
        basins: BTreeSet::new(),
        airsheds: BTreeSet::new(),
        tier_column_of: columns.optional[0].map(|_| table.file().to_owned()),
    };
    table.rows(|row| {
        let mut application = application(row, &columns)?;
        application.filed_at_unix_s = match filed_at {
            Some(c) => row.parsed(c, "whole seconds since 1970")?.unwrap_or(0),
            None => 0,
        };
        let location = &application.location;
        note(&mut read.districts, &location.district);
        note(&mut read.basins, &location.basin);
        note(&mut read.airsheds, &location.airshed);
        read.applications.push(application);
        Ok(())
    })?;
    Ok(read)
}

/// Adds `id` to `set` without allocating when it is already there (most rows repeat a region).
fn note(set: &mut BTreeSet<String>, id: &str) {
    if !set.contains(id) {
        set.insert(id.to_owned());
    }
}

fn application(row: &Row<'_>, c: &AppColumns) -> Result<Application, FormatError> {
    let [tier, tags, credit, zone, river, share, jobs, project] = c.optional;
    let mut requests = Vec::with_capacity(c.pollutants.len());
    for (column, pollutant, scale) in &c.pollutants {
        match row.decimal_at_scale(*column, *scale)? {
            Some(quantity) if !quantity.is_zero() => requests.push(Request {
                pollutant: pollutant.clone(),
                quantity,
                unit: None,
            }),
            _ => {}
        }
    }
    let mut tag_list: Vec<String> = row
        .text_at(tags)
        .map(|t| {
            t.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(column) = tier {
        match row.parsed::<u8>(column, "a tier number")? {
            Some(n) if (1..=TIER_MAX).contains(&n) => tag_list.push(tier_tag(n)),
            Some(n) => return Err(row.error(column, format!("tier {n} is outside 1..={TIER_MAX}"))),
            None => {}
        }
    }
    let value_added = row
        .decimal(c.value_added)?
        .ok_or_else(|| row.error(c.value_added, "is empty"))?;
    let at = |column: Option<usize>| column.map_or(Ok(None), |c| row.decimal(c));
    Ok(Application {
        id: row.required(c.id)?.to_owned(),
        enterprise: row.required(c.enterprise)?.to_owned(),
        project: row.text_at(project).unwrap_or("").to_owned(),
        requests,
        min_viable_share: at(share)?.unwrap_or(Decimal::ZERO),
        location: Location {
            district: row.required(c.district)?.to_owned(),
            basin: row.required(c.basin)?.to_owned(),
            airshed: row.required(c.airshed)?.to_owned(),
            zone: match zone {
                Some(z) => row.named(z, "priority_protection, key_control, general")?,
                None => None,
            }
            .unwrap_or(ZoneType::General),
            river_distance_m: match river {
                Some(r) => row.parsed(r, "whole metres")?,
                None => None,
            },
        },
        tags: tag_list,
        credit: match credit {
            Some(g) => row.named(g, "exemplary, good, warning, poor")?,
            None => None,
        }
        .unwrap_or(CreditGrade::Good),
        value_added_cny_per_year: value_added,
        jobs: match jobs {
            Some(j) => row.parsed(j, "a whole number")?.unwrap_or(0),
            None => 0,
        },
        filed_at_unix_s: 0,
    })
}
