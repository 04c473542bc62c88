//! `ets scenario ...`: the clap subcommands and their glue. Data goes to files and stdout,
//! progress to stderr. The root binary mounts [`ScenarioCommand`] and calls [`run_cli`].

use crate::compare::compare;
use crate::mc::run_mc;
use crate::numbers::{fixed, signed};
use crate::output::{
    Manifest, McSummary, TableFormat, create, sweep_long_runs, write_firm_years, write_json,
    write_long_files, write_mc_draws, write_sweep_runs,
};
use crate::params::parse_assignment;
use crate::plots;
use crate::results::RunResult;
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::sweep::{SweepAxis, run_sweep};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Policy scenarios: equilibrium prices, banking, allocation, sweeps and Monte Carlo.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run one scenario and write its tables, summary, manifest and plots.
    ///
    /// Writes OUT/results_long.csv (scenario, run_id, year, region, sector, entity,
    /// variable, unit, value; or .parquet with --format parquet), OUT/firms_yearly.csv (one
    /// row per firm and year), OUT/summary.json, OUT/manifest.json and OUT/plots/*.svg|png.
    Run(RunArgs),
    /// Compare a scenario with a baseline scenario: deltas, winners and losers.
    ///
    /// Writes OUT/comparison.json, both runs' rows in OUT/results_long.csv
    /// (run_id "scenario" and "baseline"), OUT/manifest.json, the scenario's plots and
    /// OUT/plots/price_comparison.svg|png (both price paths).
    Compare(CompareArgs),
    /// Run a grid over named parameters (dotted paths), in parallel.
    ///
    /// Example: --param cap.linear_reduction_factor=0.02:0.05:0.01
    /// --param banking.discount_rate=0.03,0.05. Writes OUT/sweep_runs.csv (one row per
    /// grid point), OUT/results_long.csv (market rows by run_id), OUT/manifest.json and
    /// OUT/plots/sweep.svg|png (prices over one parameter, a heat map over two).
    Sweep(SweepArgs),
    /// Monte Carlo over the scenario's uncertain parameters, seeded and parallel.
    ///
    /// Draw i uses ChaCha20 seeded from SHA-256(seed, i), so results are identical
    /// whatever --threads is. Writes OUT/mc_draws.csv, OUT/mc_summary.json (p5/p50/p95
    /// bands per year), OUT/manifest.json and OUT/plots/price_path.svg|png with bands.
    Mc(McArgs),
    /// Check scenario files without running them, or reproduce the published cases.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (.toml or .json).
    pub scenario: PathBuf,
    /// Output directory.
    #[arg(short, long, default_value = "scenario-out")]
    pub out: PathBuf,
    /// Formats of the long table: csv, parquet, or both (`--format csv,parquet`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<TableFormat>,
    /// Override a scalar: PATH=VALUE, e.g. cap.linear_reduction_factor=0.03 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Skip the SVG/PNG plots.
    #[arg(long)]
    pub no_plots: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Baseline scenario file to compare against.
    #[arg(short, long)]
    pub baseline: PathBuf,
    /// Output directory.
    #[arg(short, long, default_value = "scenario-out")]
    pub out: PathBuf,
    /// Formats of the long table: csv, parquet, or both (`--format csv,parquet`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<TableFormat>,
    /// Override a scalar of the scenario (not the baseline): PATH=VALUE (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Skip the SVG/PNG plots.
    #[arg(long)]
    pub no_plots: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// A swept parameter: PATH=V1,V2,... or PATH=START:STOP:STEP (repeatable; grid).
    #[arg(short, long = "param", value_name = "PATH=VALUES", required = true)]
    pub params: Vec<String>,
    /// Output directory.
    #[arg(short, long, default_value = "scenario-out")]
    pub out: PathBuf,
    /// Formats of the long table: csv, parquet, or both (`--format csv,parquet`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    pub format: Vec<TableFormat>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the plot (a line for one swept parameter, a heat map for two).
    #[arg(long)]
    pub no_plots: bool,
}

#[derive(Debug, Args)]
pub struct McArgs {
    /// Scenario file with an uncertainty block.
    pub scenario: PathBuf,
    /// Number of draws (default: uncertainty.draws).
    #[arg(short = 'n', long)]
    pub draws: Option<u32>,
    /// Master seed (default: uncertainty.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory.
    #[arg(short, long, default_value = "scenario-out")]
    pub out: PathBuf,
    /// Skip the plots.
    #[arg(long)]
    pub no_plots: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check (parse, schema, values, CSV firm files).
    pub files: Vec<PathBuf>,
    /// Reproduce the published validation cases P1-P3 and print each check.
    #[arg(long)]
    pub cases: bool,
}

/// Runs one `ets scenario` subcommand.
pub fn run_cli(command: ScenarioCommand) -> anyhow::Result<()> {
    match command {
        ScenarioCommand::Run(args) => run_command(&args),
        ScenarioCommand::Compare(args) => compare_command(&args),
        ScenarioCommand::Sweep(args) => with_threads(args.threads, || sweep_command(&args)),
        ScenarioCommand::Mc(args) => with_threads(args.threads, || mc_command(&args)),
        ScenarioCommand::Validate(args) => validate_command(&args),
    }
}

fn with_threads(
    threads: Option<usize>,
    job: impl FnOnce() -> anyhow::Result<()> + Send,
) -> anyhow::Result<()> {
    match threads {
        None => job(),
        Some(count) => rayon::ThreadPoolBuilder::new()
            .num_threads(count.max(1))
            .build()
            .context("cannot start the worker threads")?
            .install(job),
    }
}

fn load(path: &Path, set: &[String]) -> anyhow::Result<(Scenario, Vec<(String, f64)>)> {
    let scenario =
        Scenario::from_path(path).with_context(|| format!("loading {}", path.display()))?;
    let overrides = set
        .iter()
        .map(|s| parse_assignment(s))
        .collect::<Result<Vec<_>, _>>()?;
    let scenario = scenario.with_overrides(&overrides)?;
    Ok((scenario, overrides))
}

fn now_unix_s() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn progress(length: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}

fn run_command(args: &RunArgs) -> anyhow::Result<()> {
    let (scenario, overrides) = load(&args.scenario, &args.set)?;
    let result = scenario.run(&RunOptions::default())?;
    let mut files = write_long_files(&args.out, &args.format, &[(&result, "0")])?;
    write_json(&args.out.join("summary.json"), &result)?;
    files.push("summary.json".to_string());
    if !result.firm_years.is_empty() {
        let mut firms = create(&args.out.join("firms_yearly.csv"))?;
        write_firm_years(&mut firms, &result)?;
        firms.flush()?;
        files.push("firms_yearly.csv".to_string());
    }
    if !args.no_plots {
        // Plots are a convenience: a machine without fonts still gets its tables.
        match plots::all(&args.out.join("plots"), scenario.model(), &result, None) {
            Ok(paths) => files.extend(paths.iter().map(|p| relative(&args.out, p))),
            Err(error) => eprintln!("warning: plots skipped: {error}"),
        }
    }
    let mut manifest = Manifest::new("run", &scenario, Some(&result));
    manifest.overrides = overrides;
    manifest.created_unix_s = now_unix_s();
    manifest.files = files;
    write_json(&args.out.join("manifest.json"), &manifest)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "year  price  emissions_t  bank_t  abatement_cost")?;
    for row in &result.market {
        writeln!(
            stdout,
            "{}  {}  {}  {}  {}",
            row.year,
            fixed(row.price, 4),
            fixed(row.emissions_t, 3),
            fixed(row.bank_t, 3),
            fixed(row.abatement_cost, 2)
        )?;
    }
    writeln!(
        stdout,
        "total abatement cost {} vs {} without trading (savings {}); outputs in {}",
        fixed(result.totals.abatement_cost, 2),
        fixed(result.totals.cac_abatement_cost, 2),
        fixed(result.totals.cost_savings, 2),
        args.out.display()
    )?;
    Ok(())
}

fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn compare_command(args: &CompareArgs) -> anyhow::Result<()> {
    let (scenario, overrides) = load(&args.scenario, &args.set)?;
    let (baseline, _) = load(&args.baseline, &[])?;
    let result = scenario.run(&RunOptions::default())?;
    let baseline_result = baseline.run(&RunOptions::default())?;
    let comparison = compare(&result, &baseline_result);
    write_json(&args.out.join("comparison.json"), &comparison)?;
    let runs = [(&result, "scenario"), (&baseline_result, "baseline")];
    let mut files = vec!["comparison.json".to_string()];
    files.extend(write_long_files(&args.out, &args.format, &runs)?);
    if !args.no_plots {
        let dir = args.out.join("plots");
        let drawn = plots::price_comparison(&dir, &result, &baseline_result).and_then(|mut p| {
            p.extend(plots::all(&dir, scenario.model(), &result, None)?);
            Ok(p)
        });
        match drawn {
            Ok(paths) => files.extend(paths.iter().map(|p| relative(&args.out, p))),
            Err(error) => eprintln!("warning: plots skipped: {error}"),
        }
    }
    let mut manifest = Manifest::new("compare", &scenario, Some(&result));
    manifest.baseline_hash = Some(baseline.content_hash());
    manifest.overrides = overrides;
    manifest.created_unix_s = now_unix_s();
    manifest.files = files;
    write_json(&args.out.join("manifest.json"), &manifest)?;
    writeln!(
        std::io::stdout(),
        "{} vs {}: emissions {} t, abatement cost {}, auction revenue {}; {} firms gain, {} lose",
        comparison.scenario,
        comparison.baseline,
        signed(comparison.emissions_t_change, 3),
        signed(comparison.abatement_cost_change, 2),
        signed(comparison.auction_revenue_change, 2),
        comparison.winners,
        comparison.losers
    )?;
    Ok(())
}

fn sweep_command(args: &SweepArgs) -> anyhow::Result<()> {
    let (scenario, _) = load(&args.scenario, &[])?;
    let axes = args
        .params
        .iter()
        .map(|p| SweepAxis::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let total = axes.iter().map(|a| a.values.len() as u64).product();
    let bar = progress(total, "sweep");
    let runs = run_sweep(&scenario, &axes, Some(&bar))?;
    bar.finish_and_clear();
    let failed = write_sweep_runs(create(&args.out.join("sweep_runs.csv"))?, &axes, &runs)?;
    let long = sweep_long_runs(&runs);
    let long: Vec<(&RunResult, &str)> = long.iter().map(|(r, id)| (*r, id.as_str())).collect();
    let long_files = write_long_files(&args.out, &args.format, &long)?;
    let mut manifest = Manifest::new(
        "sweep",
        &scenario,
        runs.iter().find_map(|r| r.outcome.as_ref().ok()),
    );
    manifest.created_unix_s = now_unix_s();
    manifest.files = vec!["sweep_runs.csv".into()];
    manifest.files.extend(long_files);
    if !args.no_plots {
        let name = &scenario.model().name;
        match plots::sweep(&args.out.join("plots"), name, &axes, &runs) {
            Ok(paths) => manifest
                .files
                .extend(paths.iter().map(|p| relative(&args.out, p))),
            Err(error) => eprintln!("warning: plots skipped: {error}"),
        }
    }
    write_json(&args.out.join("manifest.json"), &manifest)?;
    writeln!(
        std::io::stdout(),
        "{} runs ({failed} failed); outputs in {}",
        runs.len(),
        args.out.display()
    )?;
    Ok(())
}

fn mc_command(args: &McArgs) -> anyhow::Result<()> {
    let (scenario, _) = load(&args.scenario, &[])?;
    let Some(uncertainty) = &scenario.spec().uncertainty else {
        bail!("{} has no [uncertainty] block", args.scenario.display());
    };
    let draws = args.draws.unwrap_or(uncertainty.draws);
    if draws == 0 || draws > crate::limits::DRAWS_MAX {
        bail!("--draws must be in 1..={}", crate::limits::DRAWS_MAX);
    }
    let seed = args.seed.unwrap_or(uncertainty.seed);
    let bar = progress(u64::from(draws), "monte carlo");
    let mc = run_mc(&scenario, draws, seed, Some(&bar))?;
    bar.finish_and_clear();
    write_mc_draws(create(&args.out.join("mc_draws.csv"))?, &mc)?;
    write_json(
        &args.out.join("mc_summary.json"),
        &McSummary::of(&mc, draws),
    )?;
    let mut files = vec!["mc_draws.csv".to_string(), "mc_summary.json".to_string()];
    let central = scenario.run(&RunOptions::default()).ok();
    if let (false, Some(central)) = (args.no_plots, central.as_ref()) {
        match plots::price_path(
            &args.out.join("plots"),
            scenario.model(),
            central,
            Some(&mc),
        ) {
            Ok(paths) => files.extend(paths.iter().map(|p| relative(&args.out, p))),
            Err(error) => eprintln!("warning: plots skipped: {error}"),
        }
    }
    let mut manifest = Manifest::new("mc", &scenario, central.as_ref());
    manifest.seed = Some(seed);
    manifest.draws = Some(draws);
    manifest.created_unix_s = now_unix_s();
    manifest.files = files;
    write_json(&args.out.join("manifest.json"), &manifest)?;
    writeln!(std::io::stdout(), "year  price_p5  price_p50  price_p95")?;
    for (t, year) in mc.years.iter().enumerate() {
        if let (Some(p5), Some(p50), Some(p95)) = (
            mc.price_bands.p5.get(t),
            mc.price_bands.p50.get(t),
            mc.price_bands.p95.get(t),
        ) {
            writeln!(
                std::io::stdout(),
                "{year}  {}  {}  {}",
                fixed(*p5, 4),
                fixed(*p50, 4),
                fixed(*p95, 4)
            )?;
        }
    }
    writeln!(
        std::io::stdout(),
        "{draws} draws ({} failed), seed {seed}; outputs in {}",
        mc.failed_draws,
        args.out.display()
    )?;
    Ok(())
}

fn validate_command(args: &ValidateArgs) -> anyhow::Result<()> {
    if args.files.is_empty() && !args.cases {
        bail!("nothing to validate: give scenario files or --cases");
    }
    let mut failures = 0;
    for path in &args.files {
        match Scenario::from_path(path) {
            Ok(scenario) => writeln!(
                std::io::stdout(),
                "ok  {}: {} firms, {} years, hash {}",
                path.display(),
                scenario.model().firms.len(),
                scenario.model().years.len(),
                &scenario.content_hash()[..12]
            )?,
            Err(error) => {
                failures += 1;
                writeln!(std::io::stdout(), "err {}: {error}", path.display())?;
            }
        }
    }
    if args.cases {
        for check in crate::cases::run_published_cases()? {
            if !check.passed {
                failures += 1;
            }
            writeln!(
                std::io::stdout(),
                "{} {:<16} {:<32} expected {:>12} got {:>12}",
                if check.passed { "pass" } else { "FAIL" },
                check.case,
                check.quantity,
                fixed(check.expected, 6),
                fixed(check.actual, 6)
            )?;
        }
    }
    if failures > 0 {
        bail!("{failures} check(s) failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        command: ScenarioCommand,
    }

    #[test]
    fn command_definition_is_consistent() {
        Wrapper::command().debug_assert();
    }

    #[test]
    fn parses_a_sweep() {
        let parsed =
            Wrapper::try_parse_from(["ets", "sweep", "s.toml", "--param", "cap.base_t=1,2"])
                .expect("parses");
        assert!(matches!(parsed.command, ScenarioCommand::Sweep(ref a) if a.params.len() == 1));
    }
}
