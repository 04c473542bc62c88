//! What `ets round solve` writes: the grants table (one row per application, with its
//! explanation), the pools table (use and shadow prices) and a summary, all from an
//! [`optimizer::Allocation`]. Quantities are the allocation's exact decimals; shadow prices and
//! fill rates (floats by nature) are printed as scenario files print them
//! ([`scenarios::numbers::cell`]: at most six decimal places, no float noise).

use std::collections::BTreeMap;
use std::io::Write;

use optimizer::{Allocation, ApplicationResult, Constraint, Round, ShadowPrice, Status};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::FormatError;

/// A float as a CSV cell, the same rule as the scenario files.
pub use scenarios::numbers::cell as float_cell;

fn csv_error(file: &str) -> impl Fn(csv::Error) -> FormatError + '_ {
    move |source| FormatError::Csv {
        file: file.to_owned(),
        source,
    }
}

/// `grants.csv`: `application, enterprise, tier, status, fill_rate`, then `<p>_requested`,
/// `<p>_granted`, `<p>_drawn` per pollutant of the round (empty when not requested), then
/// `excluded_by` and `binding` (`;`-separated: rule ids with citations, constraints with their
/// shadow prices), `notes`.
pub fn write_grants(
    round: &Round,
    allocation: &Allocation,
    out: impl Write,
    file: &str,
) -> Result<(), FormatError> {
    let mut writer = csv::Writer::from_writer(out);
    let pollutants: Vec<&str> = round.pollutants.iter().map(|p| p.id.as_str()).collect();
    let mut header: Vec<String> = ["application", "enterprise", "tier", "status", "fill_rate"]
        .map(str::to_owned)
        .to_vec();
    for p in &pollutants {
        header.extend(["requested", "granted", "drawn"].map(|k| format!("{p}_{k}")));
    }
    header.extend(["excluded_by", "binding", "notes"].map(str::to_owned));
    writer.write_record(&header).map_err(csv_error(file))?;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for application in &allocation.applications {
        record.clear();
        grant_row(application, &pollutants, &mut record);
        writer.write_record(&record).map_err(csv_error(file))?;
    }
    writer
        .flush()
        .map_err(|e| FormatError::file(file, format!("cannot be written: {e}")))
}

fn grant_row(a: &ApplicationResult, pollutants: &[&str], record: &mut Vec<String>) {
    record.push(a.id.clone());
    record.push(a.enterprise.clone());
    record.push(a.tier.map_or(String::new(), |t| t.to_string()));
    record.push(status_name(a.status).to_owned());
    record.push(fill_rate(a));
    for p in pollutants {
        match a.grants.iter().find(|g| g.pollutant == *p) {
            Some(g) => record.extend([g.requested, g.granted, g.drawn].map(|d| d.to_string())),
            None => record.extend([String::new(), String::new(), String::new()]),
        }
    }
    let hits = |hits: &[optimizer::RuleHit]| {
        hits.iter()
            .map(|h| format!("{} ({})", h.rule, h.citation))
            .collect::<Vec<_>>()
            .join("; ")
    };
    record.push(hits(&a.exclusions));
    let binding: Vec<String> = a
        .binding
        .iter()
        .map(|b| match b.shadow_price {
            Some(price) => format!("{} @ {}", constraint_name(&b.constraint), float_cell(price)),
            None => constraint_name(&b.constraint),
        })
        .collect();
    record.push(binding.join("; "));
    record.push(hits(&a.notes));
}

/// The smallest granted/requested ratio of the bundle, computed from the exact decimals.
fn fill_rate(a: &ApplicationResult) -> String {
    let ratio = a
        .grants
        .iter()
        .filter(|g| !g.requested.is_zero())
        .map(|g| g.granted / g.requested)
        .min()
        .unwrap_or(Decimal::ZERO);
    ratio
        .round_dp(scenarios::numbers::CELL_PLACES as u32)
        .normalize()
        .to_string()
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Excluded => "excluded",
        Status::Full => "full",
        Status::Partial => "partial",
        Status::None => "none",
    }
}

/// A constraint as one short word: `pool:cod.B0`, `cap:…`, `share:E1/cod.B0`, `missing:cod@B9`.
pub fn constraint_name(constraint: &Constraint) -> String {
    match constraint {
        Constraint::Pool { pool } => format!("pool:{pool}"),
        Constraint::Cap { cap } => format!("cap:{cap}"),
        Constraint::EnterpriseShare { enterprise, pool } => format!("share:{enterprise}/{pool}"),
        Constraint::MissingPool { pollutant, area } => format!("missing:{pollutant}@{area}"),
        Constraint::MinimumViableShare => "minimum_viable_share".to_owned(),
    }
}

/// `pools.csv`: one row per pool and per regional cap (`kind` tells which), with its account
/// and the shadow price: `price` (the solver's dual), `price_low`..`price_high` (the interval at
/// a degenerate optimum), `price_tier`.
pub fn write_pools(
    allocation: &Allocation,
    out: impl Write,
    file: &str,
) -> Result<(), FormatError> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
            "kind",
            "id",
            "pollutant",
            "area",
            "total",
            "held_back",
            "available",
            "used",
            "granted",
            "retired",
            "left",
            "price",
            "price_low",
            "price_high",
            "price_tier",
        ])
        .map_err(csv_error(file))?;
    for record in allocation
        .pools
        .iter()
        .map(pool_record)
        .chain(allocation.caps.iter().map(cap_record))
    {
        writer.write_record(&record).map_err(csv_error(file))?;
    }
    writer
        .flush()
        .map_err(|e| FormatError::file(file, format!("cannot be written: {e}")))
}

fn pool_record(pool: &optimizer::PoolResult) -> Vec<String> {
    let mut record = vec![
        "pool".to_owned(),
        pool.id.clone(),
        pool.pollutant.clone(),
        pool.area.clone().unwrap_or_default(),
    ];
    let amounts = [
        pool.total,
        pool.held_back,
        pool.available,
        pool.used,
        pool.granted,
        pool.retired,
        pool.left,
    ];
    record.extend(amounts.map(|d| d.to_string()));
    record.extend(price_cells(pool.shadow_price.as_ref()));
    record
}

/// A regional cap in the pools table's columns: `total` and `available` are the cap.
fn cap_record(cap: &optimizer::CapResult) -> Vec<String> {
    let blank = String::new;
    let mut record = vec![
        "cap".to_owned(),
        cap.id.clone(),
        cap.pollutant.clone(),
        blank(),
    ];
    record.extend([
        cap.cap.to_string(),
        blank(),
        cap.cap.to_string(),
        cap.used.to_string(),
    ]);
    record.extend([blank(), blank(), cap.left.to_string()]);
    record.extend(price_cells(cap.shadow_price.as_ref()));
    record
}

fn price_cells(price: Option<&ShadowPrice>) -> [String; 4] {
    let cell = |v: Option<f64>| v.map(float_cell).unwrap_or_default();
    match price {
        Some(p) => {
            let (low, high) = match (p.value_up, p.value_down) {
                (Some(up), Some(down)) => (Some(up.min(down)), Some(up.max(down))),
                _ => (None, None),
            };
            [
                float_cell(p.value),
                cell(low),
                cell(high),
                p.tier.to_string(),
            ]
        }
        None => Default::default(),
    }
}

/// The numbers a reader looks at first, also written as `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub round_id: String,
    pub policy_version: String,
    pub applications: usize,
    /// Applications by status (`full`, `partial`, `none`, `excluded`).
    pub by_status: BTreeMap<&'static str, usize>,
    /// Per pollutant: requested, granted and drawn tonnes, exact.
    pub pollutants: BTreeMap<String, Totals>,
    pub tiers: Vec<TierLine>,
    pub mip_gap: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requested: Decimal,
    pub granted: Decimal,
    pub drawn: Decimal,
    pub available: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierLine {
    pub tier: u8,
    pub applications: usize,
    pub method: String,
    pub objective: f64,
}

pub fn summary(allocation: &Allocation) -> Summary {
    let mut by_status = BTreeMap::new();
    let mut pollutants: BTreeMap<String, Totals> = BTreeMap::new();
    for a in &allocation.applications {
        *by_status.entry(status_name(a.status)).or_insert(0) += 1;
        for g in &a.grants {
            let totals = pollutants.entry(g.pollutant.clone()).or_default();
            totals.requested += g.requested;
            totals.granted += g.granted;
            totals.drawn += g.drawn;
        }
    }
    for pool in &allocation.pools {
        pollutants
            .entry(pool.pollutant.clone())
            .or_default()
            .available += pool.available;
    }
    Summary {
        round_id: allocation.round_id.clone(),
        policy_version: allocation.policy_version.clone(),
        applications: allocation.applications.len(),
        by_status,
        pollutants,
        tiers: allocation
            .tiers
            .iter()
            .map(|t| TierLine {
                tier: t.tier,
                applications: t.applications,
                method: t.method.clone(),
                objective: t.objective,
            })
            .collect(),
        mip_gap: allocation.mip_gap,
    }
}
