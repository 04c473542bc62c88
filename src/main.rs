//! `ets`: the command line of the emissions-trading and pollution-rights engine. Thin by design:
//! it parses arguments, opens the ledger, calls the crates and prints. Data goes to stdout,
//! progress and diagnostics to stderr.
//!
//! Exit codes: 0 success; 1 the command failed (bad input, refused request, storage error);
//! 2 bad command-line usage (from clap); 3 `ledger verify` found problems.

mod cli_api;
mod cli_ledger;
mod cli_market;
mod cli_round;
mod cli_server;
mod demo;
mod http_client;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The default database: an SQLite file in the current directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ets.db";

#[derive(Parser, Debug)]
#[command(
    name = "ets",
    version,
    about = "Emissions trading and pollution-rights allocation: ledger, reallocation, market, scenarios",
    long_about = "Emissions trading and pollution-rights allocation engine.\n\n\
        Keeps an exact, double-entry, hash-chained record of discharge rights (排污权), carbon \
        quotas (碳配额), offset credits and settlement cash on SQLite (default, a file) or \
        PostgreSQL, and runs policy scenarios for economists.\n\n\
        Start with `ets demo`, then look around with `ets ledger balances`, `ets ledger journal` \
        and `ets ledger verify`.",
    propagate_version = true
)]
struct Cli {
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, global = true, env = "ETS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a realistic synthetic Chongqing-like dataset and run the full cycle on it.
    Demo(demo::DemoArgs),
    /// Inspect and operate the ledger: balances, journal, verification, scripted requests.
    #[command(subcommand)]
    Ledger(cli_ledger::LedgerCommand),
    /// Reallocation rounds: dry-run or commit a round over the pending capacity applications.
    #[command(subcommand)]
    Round(cli_round::RoundCommand),
    /// Trade from scripts: orders, auctions, transfers and market data, through a running
    /// `ets serve` with your API key.
    Market(cli_market::MarketArgs),
    /// Call any endpoint of a running `ets serve` (GET or POST JSON) with your API key.
    Api(cli_api::ApiArgs),
    /// Serve the HTTP API (OpenAPI at /openapi.json) on the same database.
    Serve(cli_server::ServeArgs),
    /// Administration: API keys.
    #[command(subcommand)]
    Admin(cli_server::AdminCommand),
    /// Policy scenarios for economists: run, compare, sweep, Monte Carlo, validate.
    #[command(subcommand)]
    Scenario(scenarios::cli::ScenarioCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ETS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        // Scenario runs are CPU-bound (rayon) and need no runtime.
        Command::Scenario(command) => scenarios::cli::run_cli(command).map(|()| ExitCode::SUCCESS),
        command => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(run(command, &cli.database_url)),
            Err(error) => Err(error.into()),
        },
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, database_url: &str) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args, database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Ledger(command) => cli_ledger::run(command, database_url).await,
        Command::Round(command) => cli_round::run(command, database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Market(args) => cli_market::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Api(args) => cli_api::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cli_server::serve(args, database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Admin(command) => cli_server::admin(command, database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Scenario(_) => unreachable!("handled without a runtime"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
