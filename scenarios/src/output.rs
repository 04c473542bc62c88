//! Writing results: a tidy long CSV, a JSON summary and `manifest.json`.
//!
//! The long table has one value per row, `scenario, run_id, year, region, sector, entity,
//! variable, unit, value`, the shape pandas, polars and R's tidyverse pivot directly.

use crate::error::{Result, ScenarioError};
use crate::mc::{Bands, McResult};
use crate::numbers::{cell as cell_text, unsign_json_zeros};
use crate::results::RunResult;
use crate::scenario::Scenario;
use crate::sweep::{SweepAxis, SweepRun};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The engine's version, recorded in every manifest.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the engine was built from (`build.rs`); empty when built outside a checkout.
pub const COMMIT: &str = env!("ETS_GIT_COMMIT");

/// Header of the long table.
pub const LONG_HEADER: &str = "scenario,run_id,year,region,sector,entity,variable,unit,value";

fn output_error(what: &Path, error: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Output {
        what: what.display().to_string(),
        reason: error.to_string(),
    }
}

/// Creates `path` for writing, with a buffered writer.
pub fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ScenarioError::Io {
            action: "cannot create directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let file = std::fs::File::create(path).map_err(|source| ScenarioError::Io {
        action: "cannot create",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(std::io::BufWriter::new(file))
}

/// Writes `value` as pretty JSON to `path` (negative zeros written as `0.0`).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = json_text(value).map_err(|e| output_error(path, e))?;
    let mut writer = create(path)?;
    writeln!(writer, "{text}").map_err(|e| output_error(path, e))?;
    writer.flush().map_err(|e| output_error(path, e))
}

/// Tags identifying where a value of the long table belongs.
pub struct Row<'a> {
    pub year: i32,
    pub region: &'a str,
    pub sector: &'a str,
    pub entity: &'a str,
}

/// One row of the long table.
fn put_long(
    csv: &mut ::csv::Writer<impl Write>,
    (scenario, run_id): (&str, &str),
    row: &Row<'_>,
    (variable, unit, value): (&str, &str, f64),
) -> std::io::Result<()> {
    let year = row.year.to_string();
    let value = cell_text(value);
    let record = [
        scenario, run_id, &year, row.region, row.sector, row.entity, variable, unit, &value,
    ];
    csv.write_record(record).map_err(std::io::Error::other)
}

/// Writes the long rows of one run (market, sectors, regions, firms) to `writer`, quoted by the
/// `csv` crate (a comma or a quote in a firm's name stays inside its field).
pub fn write_long_rows(
    writer: &mut impl Write,
    result: &RunResult,
    run_id: &str,
) -> std::io::Result<()> {
    let mut csv = ::csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(writer);
    for_each_long_row(result, |row, variable, unit, value| {
        put_long(
            &mut csv,
            (&result.scenario, run_id),
            row,
            (variable, unit, value),
        )
    })?;
    csv.flush()
}

/// Calls `put(tags, variable, unit, value)` for every value of the long table of one run, in
/// the table's order: market, sectors, regions, firms. The CSV and Parquet writers share it.
pub fn for_each_long_row(
    result: &RunResult,
    mut put: impl FnMut(&Row<'_>, &str, &str, f64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    market_rows(result, &mut put)?;
    group_rows(result, &mut put)?;
    firm_rows(result, &mut put)
}

/// A `put` of [`for_each_long_row`]: (tags, variable, unit, value).
type Put<'p> = dyn FnMut(&Row<'_>, &str, &str, f64) -> std::io::Result<()> + 'p;

fn market_rows(result: &RunResult, put: &mut Put<'_>) -> std::io::Result<()> {
    let currency = result.currency.as_str();
    let per_t = format!("{currency}/t");
    for y in &result.market {
        let row = Row {
            year: y.year,
            region: "all",
            sector: "all",
            entity: "market",
        };
        put(&row, "price", &per_t, y.price)?;
        put(&row, "price_low", &per_t, y.price_low)?;
        put(&row, "price_high", &per_t, y.price_high)?;
        put(&row, "tie_fraction", "share", y.tie_fraction)?;
        for (name, value) in [
            ("cap", y.cap_t),
            ("free_allocation", y.free_t),
            ("reallocated", y.reallocated_t),
            ("freed_capacity", y.freed_t),
            ("reallocation_retired", y.reallocation_retired_t),
            ("auction_offered", y.auction_offered_t),
            ("auction_sold", y.auction_sold_t),
            ("auction_unsold", y.auction_unsold_t),
            ("msr_intake", y.msr_intake_t),
            ("msr_release", y.msr_release_t),
            ("msr_invalidated", y.msr_invalidated_t),
            ("msr_pool", y.msr_pool_t),
            ("ccr_released", y.ccr_released_t),
            ("offsets_used", y.offsets_used_t),
            ("ceiling_sales", y.ceiling_sales_t),
            ("floor_withdrawn", y.floor_withdrawn_t),
            ("lapsed", y.lapsed_t),
            ("baseline_emissions", y.baseline_t),
            ("emissions", y.emissions_t),
            ("abatement", y.abatement_t),
            ("bank", y.bank_t),
            ("cac_emissions", y.cac_emissions_t),
        ] {
            put(&row, name, "t", value)?;
        }
        put(&row, "auction_revenue", currency, y.auction_revenue)?;
        put(&row, "abatement_cost", currency, y.abatement_cost)?;
        put(&row, "cac_abatement_cost", currency, y.cac_abatement_cost)?;
    }
    Ok(())
}

fn group_rows(result: &RunResult, put: &mut Put<'_>) -> std::io::Result<()> {
    let currency = result.currency.as_str();
    for (groups, is_sector) in [(&result.sectors, true), (&result.regions, false)] {
        for group in groups {
            for (t, year) in result.years.iter().enumerate() {
                let (region, sector) = if is_sector {
                    ("all", group.name.as_str())
                } else {
                    (group.name.as_str(), "all")
                };
                let row = Row {
                    year: *year,
                    region,
                    sector,
                    entity: if is_sector { "sector" } else { "region" },
                };
                put(&row, "emissions", "t", group.emissions_t[t])?;
                put(&row, "free_allocation", "t", group.free_t[t])?;
                put(&row, "abatement_cost", currency, group.abatement_cost[t])?;
            }
        }
    }
    Ok(())
}

fn firm_rows(result: &RunResult, put: &mut Put<'_>) -> std::io::Result<()> {
    let currency = result.currency.as_str();
    let years = result.years.len();
    if result.firm_years.len() == result.firms.len() * years {
        for (index, firm) in result.firms.iter().enumerate() {
            for (t, year) in result.years.iter().enumerate() {
                let cell = &result.firm_years[index * years + t];
                let row = Row {
                    year: *year,
                    region: &firm.region,
                    sector: &firm.sector,
                    entity: &firm.id,
                };
                put(&row, "emissions", "t", cell.emissions_t)?;
                put(&row, "abatement", "t", cell.abatement_t)?;
                put(&row, "free_allocation", "t", cell.free_t)?;
                put(&row, "reallocated", "t", cell.reallocated_t)?;
                put(&row, "purchases", "t", cell.net_purchase_t.max(0.0))?;
                put(&row, "sales", "t", (-cell.net_purchase_t).max(0.0))?;
                put(&row, "abatement_cost", currency, cell.abatement_cost)?;
                put(&row, "allowance_cost", currency, cell.allowance_cost)?;
                put(&row, "cac_abatement", "t", cell.cac_abatement_t)?;
                put(
                    &row,
                    "cac_abatement_cost",
                    currency,
                    cell.cac_abatement_cost,
                )?;
            }
        }
    }
    Ok(())
}

/// `firms_yearly.csv`: one row per firm and year (`firm, region, sector, year`, then one column
/// per firm variable of the long table, in its order), the wide table a paper's per-firm results
/// come from. Written from the long rows, so the two tables always agree. Empty (no file) for a
/// run without firm detail.
pub fn write_firm_years(out: impl Write, result: &RunResult) -> std::io::Result<()> {
    let mut wide = Wide {
        csv: ::csv::Writer::from_writer(out),
        header: ["firm", "region", "sector", "year"]
            .map(String::from)
            .to_vec(),
        record: Vec::new(),
        rows: 0,
    };
    let mut key: Option<(String, i32)> = None;
    firm_rows(result, &mut |row, variable, _unit, value| {
        if key
            .as_ref()
            .is_none_or(|(firm, year)| firm != row.entity || *year != row.year)
        {
            wide.end_row()?;
            key = Some((row.entity.to_owned(), row.year));
            let year = row.year.to_string();
            let tags = [row.entity, row.region, row.sector, year.as_str()];
            wide.record.extend(tags.map(String::from));
        }
        if wide.rows == 0 {
            wide.header.push(variable.to_owned());
        }
        wide.record.push(cell_text(value));
        Ok(())
    })?;
    wide.end_row()?;
    wide.csv.flush()
}

/// A wide table being written: the header is complete once the first row is.
struct Wide<W: Write> {
    csv: ::csv::Writer<W>,
    header: Vec<String>,
    record: Vec<String>,
    rows: usize,
}

impl<W: Write> Wide<W> {
    fn end_row(&mut self) -> std::io::Result<()> {
        if self.record.is_empty() {
            return Ok(());
        }
        if self.rows == 0 {
            self.csv
                .write_record(&self.header)
                .map_err(std::io::Error::other)?;
        }
        assert_eq!(
            self.record.len(),
            self.header.len(),
            "every firm-year has the same variables"
        );
        self.csv
            .write_record(&self.record)
            .map_err(std::io::Error::other)?;
        self.record.clear();
        self.rows += 1;
        Ok(())
    }
}

/// Writes the long table of `runs` (each with its run id) as CSV: the header, then every row.
pub fn write_long_table(out: &mut impl Write, runs: &[(&RunResult, &str)]) -> std::io::Result<()> {
    writeln!(out, "{LONG_HEADER}")?;
    for (result, run_id) in runs {
        write_long_rows(out, result, run_id)?;
    }
    Ok(())
}

/// A file format of the long table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// `results_long.csv`
    Csv,
    /// `results_long.parquet`
    Parquet,
}

/// Writes the long table of `runs` into `dir` in each of `formats`; returns the file names.
pub fn write_long_files(
    dir: &Path,
    formats: &[TableFormat],
    runs: &[(&RunResult, &str)],
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for format in formats {
        let name = match format {
            TableFormat::Csv => "results_long.csv",
            TableFormat::Parquet => "results_long.parquet",
        };
        if names.iter().any(|n| n == name) {
            continue;
        }
        let path = dir.join(name);
        let mut writer = create(&path)?;
        match format {
            TableFormat::Csv => {
                write_long_table(&mut writer, runs).map_err(|e| output_error(&path, e))
            }
            TableFormat::Parquet => crate::parquet_table::write_long_parquet(&mut writer, runs)
                .map_err(|e| output_error(&path, e)),
        }?;
        writer.flush().map_err(|e| output_error(&path, e))?;
        names.push(name.to_string());
    }
    Ok(names)
}

/// Solver settings recorded for reproducibility.
#[derive(Clone, Debug, Serialize)]
pub struct SolverSettingsRecord {
    pub method: String,
    pub price_pick: String,
    pub price_tolerance_relative: f64,
    pub price_max: f64,
    pub msr_iterations_max: u32,
    pub reallocator: String,
}

/// `manifest.json`: what produced an output folder.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub engine: &'static str,
    pub version: &'static str,
    /// The git commit of the build, when known.
    pub commit: Option<&'static str>,
    /// Worker threads the run had (rayon's pool); results never depend on it.
    pub threads: usize,
    pub mode: String,
    pub scenario: String,
    /// SHA-256 of the canonical scenario (see `Scenario::content_hash`).
    pub scenario_hash: String,
    pub baseline_hash: Option<String>,
    pub seed: Option<u64>,
    pub draws: Option<u32>,
    pub overrides: Vec<(String, f64)>,
    pub solver: SolverSettingsRecord,
    /// Seconds since the Unix epoch, passed in by the caller (the library reads no clock).
    pub created_unix_s: Option<u64>,
    pub files: Vec<String>,
}

impl Manifest {
    pub fn new(mode: &str, scenario: &Scenario, result: Option<&RunResult>) -> Manifest {
        let solver = &scenario.model().solver;
        Manifest {
            engine: "scenarios",
            version: VERSION,
            commit: (!COMMIT.is_empty()).then_some(COMMIT),
            threads: rayon::current_num_threads(),
            mode: mode.to_string(),
            scenario: scenario.model().name.clone(),
            scenario_hash: scenario.content_hash(),
            baseline_hash: None,
            seed: None,
            draws: None,
            overrides: Vec::new(),
            solver: SolverSettingsRecord {
                method: result.map_or("", |r| r.solver.method).to_string(),
                price_pick: format!("{:?}", solver.price_pick).to_lowercase(),
                price_tolerance_relative: crate::curve::PRICE_TOLERANCE_RELATIVE,
                price_max: solver.price_max,
                msr_iterations_max: solver.msr_iterations_max,
                reallocator: result.map_or(String::new(), |r| r.solver.reallocator.clone()),
            },
            created_unix_s: None,
            files: Vec::new(),
        }
    }
}

/// `value` as pretty JSON text, negative zeros written as `0.0` (what [`write_json`] writes).
pub fn json_text(value: &impl Serialize) -> std::result::Result<String, serde_json::Error> {
    let mut json = serde_json::to_value(value)?;
    unsign_json_zeros(&mut json);
    serde_json::to_string_pretty(&json)
}

/// The header of `sweep_runs.csv`: one column per swept parameter between the run id and totals.
pub fn sweep_header(axes: &[SweepAxis]) -> Vec<&str> {
    let mut header = vec!["run_id"];
    header.extend(axes.iter().map(|a| a.path.as_str()));
    header.extend([
        "status",
        "abatement_cost",
        "abatement_cost_pv",
        "emissions_t",
        "auction_revenue",
        "first_year_price",
        "last_year_price",
        "error",
    ]);
    header
}

/// Writes `sweep_runs.csv` (one row per grid point) and returns how many points failed.
pub fn write_sweep_runs(
    out: impl Write,
    axes: &[SweepAxis],
    runs: &[SweepRun],
) -> ::csv::Result<usize> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(sweep_header(axes))?;
    let mut failed = 0;
    for run in runs {
        let mut record = vec![run.run_id.to_string()];
        record.extend(run.overrides.iter().map(|(_, v)| cell_text(*v)));
        match &run.outcome {
            Ok(result) => {
                let prices = result.prices();
                let totals = &result.totals;
                record.push("ok".into());
                record.extend(
                    [
                        totals.abatement_cost,
                        totals.abatement_cost_pv,
                        totals.emissions_t,
                        totals.auction_revenue,
                        prices.first().copied().unwrap_or(f64::NAN),
                        prices.last().copied().unwrap_or(f64::NAN),
                    ]
                    .map(cell_text),
                );
                record.push(String::new());
            }
            Err(error) => {
                failed += 1;
                record.push("failed".into());
                record.extend(std::iter::repeat_n(String::new(), 6));
                record.push(error.clone());
            }
        }
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(failed)
}

/// The successful points of a sweep with their run ids, for the long table.
pub fn sweep_long_runs(runs: &[SweepRun]) -> Vec<(&RunResult, String)> {
    (runs.iter())
        .filter_map(|run| Some((run.outcome.as_ref().ok()?, run.run_id.to_string())))
        .collect()
}

/// `mc_draws.csv`: one row per draw and year (a failed draw: one row with its error).
pub fn write_mc_draws(out: impl Write, mc: &McResult) -> ::csv::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    let mut header = vec!["draw"];
    header.extend(mc.parameter_paths.iter().map(String::as_str));
    header.extend(["year", "price", "emissions_t", "bank_t", "error"]);
    writer.write_record(&header)?;
    for draw in &mc.draws {
        let mut head = vec![draw.index.to_string()];
        head.extend(draw.parameters.iter().map(|v| cell_text(*v)));
        match &draw.error {
            None => {
                for (t, year) in mc.years.iter().enumerate() {
                    let mut record = head.clone();
                    record.push(year.to_string());
                    let values = [draw.prices[t], draw.emissions_t[t], draw.bank_t[t]];
                    record.extend(values.map(cell_text));
                    record.push(String::new());
                    writer.write_record(&record)?;
                }
            }
            Some(error) => {
                head.extend(std::iter::repeat_n(String::new(), 4));
                head.push(error.clone());
                writer.write_record(&head)?;
            }
        }
    }
    writer.flush()?;
    Ok(())
}

/// `mc_summary.json`: the seed, the draw count and the p5/p50/p95 bands per year.
#[derive(Serialize)]
pub struct McSummary<'a> {
    pub seed: u64,
    pub draws: u32,
    pub failed_draws: usize,
    pub years: &'a [i32],
    pub parameter_paths: &'a [String],
    pub price: &'a Bands,
    pub emissions_t: &'a Bands,
    pub bank_t: &'a Bands,
}

impl<'a> McSummary<'a> {
    pub fn of(mc: &'a McResult, draws: u32) -> McSummary<'a> {
        McSummary {
            seed: mc.seed,
            draws,
            failed_draws: mc.failed_draws,
            years: &mc.years,
            parameter_paths: &mc.parameter_paths,
            price: &mc.price_bands,
            emissions_t: &mc.emissions_bands,
            bank_t: &mc.bank_bands,
        }
    }
}
