//! `ets round solve` and `ets auction clear`: a reallocation round and a sealed-bid auction from
//! files, with no database and no server. The formats are the `offline` crate's; this module
//! opens the files, times the run, hashes the inputs into `manifest.json` and prints a summary.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use offline::round::{Input, report};
use sha2::{Digest, Sha256};

#[derive(Args, Debug)]
pub struct SolveArgs {
    /// Applications CSV: id, enterprise, district, basin, airshed, value_added and one column of
    /// requested tonnes per pollutant (optional: tier, tags, credit, zone, river_distance_m,
    /// min_viable_share, jobs, project, filed_at_unix_s). See optimizer/examples/README.md.
    #[arg(long, requires = "pools", conflicts_with = "round")]
    applications: Option<PathBuf>,
    /// Pools CSV: pollutant, region (basin or airshed; empty = global), amount (optional:
    /// reduction, medium, scale, unit).
    #[arg(long, requires = "applications")]
    pools: Option<PathBuf>,
    /// A whole optimizer Round as JSON or TOML (.toml), instead of the two CSV files.
    #[arg(long)]
    round: Option<PathBuf>,
    /// Policy: a TOML (or .json) file, or a stored policy id (chongqing-2020-r1). Required with
    /// the CSV files; with --round it replaces the round's own policy.
    #[arg(long)]
    policy: Option<String>,
    /// Folder for grants.csv, pools.csv, summary.json and manifest.json (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Round id written into the results (with the CSV files).
    #[arg(long, default_value = "offline")]
    id: String,
    /// Also write allocation.json: the full published allocation (flows, bindings, tiers).
    #[arg(long)]
    allocation_json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuctionCommand {
    /// Clear a sealed-bid auction from a rules file and a bid file, exactly as the registry
    /// would. Writes OUT/awards.csv (one row per bid) and OUT/clearing.json.
    Clear(ClearArgs),
}

#[derive(Args, Debug)]
pub struct ClearArgs {
    /// Rules (TOML, or .json): auction, supply, reserve_price, lot, tick, bidder_cap_percent,
    /// pricing, undersubscribed, seed, seed_commitment, [containment].
    #[arg(long)]
    rules: PathBuf,
    /// Bids: CSV (bidder, price, quantity, optional bid) or a .json array, in submission order.
    #[arg(long)]
    bids: PathBuf,
    /// Folder for awards.csv and clearing.json (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn input(path: &Path) -> Result<Input<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Input {
        label: path.display().to_string(),
        reader: BufReader::with_capacity(1 << 20, file),
    })
}

fn output(dir: &Path, name: &str) -> Result<(BufWriter<File>, String)> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok((
        BufWriter::with_capacity(1 << 20, file),
        path.display().to_string(),
    ))
}

/// SHA-256 of each input file, for the manifest.
fn hashes(paths: &[&Path]) -> Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for path in paths {
        let mut hasher = Sha256::new();
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        std::io::copy(&mut file, &mut hasher)?;
        out.insert(
            path.display().to_string(),
            hex::encode(hasher.finalize()).into(),
        );
    }
    Ok(out.into())
}

fn policy(text: &str) -> Result<optimizer::Policy> {
    if api::services::rounds::POLICIES
        .iter()
        .any(|(id, _)| *id == text)
    {
        return api::services::rounds::policy_by_id(text)
            .map_err(|p| anyhow::anyhow!("{}: {}", p.field, p.reason));
    }
    Ok(offline::round::policy_from(input(Path::new(text))?)?)
}

pub fn solve(args: SolveArgs) -> Result<()> {
    let started = Instant::now();
    let policy = args.policy.as_deref().map(policy).transpose()?;
    let (round, inputs) = match (&args.round, &args.applications, &args.pools) {
        (Some(path), _, _) => (
            offline::round::from_document(input(path)?, policy)?,
            vec![path.as_path()],
        ),
        (None, Some(applications), Some(pools)) => {
            let Some(policy) = policy else {
                bail!("--policy is required with --applications and --pools");
            };
            let round =
                offline::round::from_tables(&args.id, input(applications)?, input(pools)?, policy)?;
            (round, vec![applications.as_path(), pools.as_path()])
        }
        _ => bail!("give --round FILE, or --applications FILE and --pools FILE"),
    };
    let read_s = started.elapsed().as_secs_f64();
    eprintln!(
        "read {} applications and {} pools in {read_s:.2} s; allocating…",
        round.applications.len(),
        round.pools.len()
    );
    let solving = Instant::now();
    let allocation = optimizer::allocate(&round).map_err(|e| anyhow::anyhow!("{e}"))?;
    let solve_s = solving.elapsed().as_secs_f64();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let writing = Instant::now();
    let (out, name) = output(&args.out, "grants.csv")?;
    report::write_grants(&round, &allocation, out, &name)?;
    let (out, name) = output(&args.out, "pools.csv")?;
    report::write_pools(&allocation, out, &name)?;
    let summary = report::summary(&allocation);
    let mut files = vec!["grants.csv", "pools.csv", "summary.json", "manifest.json"];
    write_json(&args.out, "summary.json", &summary)?;
    if args.allocation_json {
        write_json(&args.out, "allocation.json", &allocation)?;
        files.push("allocation.json");
    }
    let manifest = serde_json::json!({
        "tool": "ets round solve",
        "version": scenarios::output::VERSION,
        "commit": commit(),
        // HiGHS runs on one thread (optimizer/src/solve/highs_lp.rs), so results never depend on it.
        "threads": 1,
        "inputs_sha256": hashes(&inputs)?,
        "policy": args.policy,
        "policy_version": allocation.policy_version,
        "solver": format!("{:?}", optimizer::Options::default()),
        "seconds": {"read": ms(read_s), "allocate": ms(solve_s), "write": ms(writing.elapsed().as_secs_f64())},
        "files": files,
    });
    write_json(&args.out, "manifest.json", &manifest)?;
    print_summary(&summary, &args.out);
    Ok(())
}

/// The git commit of this build, or null when it was built outside a checkout.
fn commit() -> serde_json::Value {
    match scenarios::output::COMMIT {
        "" => serde_json::Value::Null,
        commit => commit.into(),
    }
}

/// Seconds to the millisecond, for the manifest (no `1.1098648309999999`).
fn ms(seconds: f64) -> serde_json::Value {
    serde_json::Number::from_f64((seconds * 1000.0).round() / 1000.0)
        .map_or(serde_json::Value::Null, Into::into)
}

fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> Result<()> {
    let (mut out, path) = output(dir, name)?;
    serde_json::to_writer_pretty(&mut out, value).with_context(|| format!("writing {path}"))?;
    std::io::Write::write_all(&mut out, b"\n")?;
    std::io::Write::flush(&mut out).with_context(|| format!("writing {path}"))
}

fn print_summary(summary: &report::Summary, out: &Path) {
    let statuses: Vec<String> = summary
        .by_status
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    println!(
        "round {} under {}: {} applications ({})",
        summary.round_id,
        summary.policy_version,
        summary.applications,
        statuses.join(", ")
    );
    for (pollutant, t) in &summary.pollutants {
        println!(
            "  {pollutant}: granted {} of {} requested, {} available",
            t.granted, t.requested, t.available
        );
    }
    for tier in summary.tiers.iter().filter(|t| t.applications > 0) {
        println!(
            "  tier {}: {} applications, {}, objective {}",
            tier.tier,
            tier.applications,
            tier.method,
            report::float_cell(tier.objective)
        );
    }
    println!("  written to {}", out.display());
}

pub fn auction(command: AuctionCommand) -> Result<()> {
    let AuctionCommand::Clear(args) = command;
    let prepared = offline::auction::rules_from(input(&args.rules)?)?;
    let bids_input = input(&args.bids)?;
    let label = bids_input.label.clone();
    let bids = offline::auction::bids_from(bids_input)?;
    let outcome = offline::auction::clear(&prepared, &bids, &label)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (out, name) = output(&args.out, "awards.csv")?;
    offline::auction::write_awards(&outcome, out, &name)?;
    let mut clearing = serde_json::to_value(&outcome)?;
    clearing["inputs_sha256"] = hashes(&[&args.rules, &args.bids])?;
    clearing["version"] = scenarios::output::VERSION.into();
    clearing["commit"] = commit();
    write_json(&args.out, "clearing.json", &clearing)?;
    match outcome.clearing_price {
        Some(price) => println!(
            "auction {}: cleared at {price} CNY/t; sold {} of {} t (containment reserve {}), unsold {}; revenue {} CNY",
            outcome.auction,
            outcome.sold,
            outcome.supply,
            outcome.containment_sold,
            outcome.unsold,
            outcome.revenue_cny
        ),
        None => println!(
            "auction {}: cancelled, bids for {} t do not cover the supply of {} t",
            outcome.auction, outcome.demand, outcome.supply
        ),
    }
    println!(
        "  {} bids from {} bidders ({} below the reserve price); written to {}",
        outcome.bids,
        outcome.bidders,
        outcome.below_reserve,
        args.out.display()
    );
    Ok(())
}
