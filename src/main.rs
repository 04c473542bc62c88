//! `ets`: the command line of the emissions-trading and pollution-rights engine. Thin by design:
//! it parses arguments, opens the ledger, calls the crates and prints. Data goes to stdout,
//! progress and diagnostics to stderr.
//!
//! Exit codes: 0 success; 1 the command failed (bad input, refused request, storage error);
//! 2 bad command-line usage (from clap); 3 `ledger verify` found problems.

/// `println!` for a command-line tool, shadowing std's in this crate: when the reader has closed
/// the pipe (`ets ledger journal | head -1`) the process ends quietly with status 0, as a tool
/// killed by SIGPIPE would, instead of panicking; any other failure to write still panics.
macro_rules! println {
    () => { $crate::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::print_line(format_args!($($arg)*)) };
}

mod cli_api;
mod cli_ledger;
mod cli_market;
mod cli_offline;
mod cli_round;
mod cli_server;
mod cli_tick;
mod demo;
mod http_client;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
}

/// The database of a command that opens one (global within it: before or after its subcommand).
#[derive(Args, Debug)]
pub struct Database {
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, global = true, env = "ETS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Args, Debug)]
struct LedgerArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: cli_ledger::LedgerCommand,
}

#[derive(Args, Debug)]
struct RoundArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: cli_round::RoundCommand,
}

#[derive(Args, Debug)]
struct AdminArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: cli_server::AdminCommand,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a realistic synthetic Chongqing-like dataset and run the full cycle on it.
    Demo {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        args: demo::DemoArgs,
    },
    /// Inspect and operate the ledger: balances, journal, verification, scripted requests.
    Ledger(LedgerArgs),
    /// Reallocation rounds: dry-run or commit a round over the pending capacity applications, or
    /// solve one from files (`ets round solve`, no database).
    Round(RoundArgs),
    /// Sealed-bid auctions from files, no database or server: clear a bid stack exactly as the
    /// registry would.
    #[command(subcommand)]
    Auction(cli_offline::AuctionCommand),
    /// Trade from scripts: orders, auctions, transfers and market data, through a running
    /// `ets serve` with your API key.
    Market(cli_market::MarketArgs),
    /// Call any endpoint of a running `ets serve` (GET or POST JSON) with your API key.
    Api(cli_api::ApiArgs),
    /// Serve the HTTP API (OpenAPI at /openapi.json) on the same database.
    Serve {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        args: cli_server::ServeArgs,
    },
    /// Perform the time-driven duties that are due (day closes, expired transfers, auctions
    /// past their close), as `ets serve` does by itself; for cron.
    Tick {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        args: cli_tick::TickArgs,
    },
    /// Administration: API keys.
    Admin(AdminArgs),
    /// Policy scenarios for economists: run, compare, sweep, Monte Carlo, validate.
    #[command(subcommand)]
    Scenario(scenarios::cli::ScenarioCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (log_format, serving) = match &cli.command {
        Command::Serve { args, .. } => (args.log_format(), true),
        _ => (cli_server::LogFormat::Text, false),
    };
    init_logging(log_format);
    let outcome = match cli.command {
        // Scenario runs are CPU-bound (rayon) and need no runtime.
        Command::Scenario(command) => scenarios::cli::run_cli(command).map(|()| ExitCode::SUCCESS),
        // Offline tools read files only.
        Command::Auction(command) => cli_offline::auction(command).map(|()| ExitCode::SUCCESS),
        Command::Round(RoundArgs {
            command: cli_round::RoundCommand::Solve(args),
            ..
        }) => cli_offline::solve(args).map(|()| ExitCode::SUCCESS),
        command => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(run(command)),
            Err(error) => Err(error.into()),
        },
    };
    match outcome {
        Ok(code) => code,
        // A reader that went away (`ets ledger journal | head -1`) is not a failure of ours; a
        // server that cannot announce its address is (it never served).
        Err(error) if !serving && closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout for [`println!`].
fn print_line(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"));
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => panic!("failed printing to stdout: {error}"),
    }
}

/// Logs to stderr, filtered by `ETS_LOG` (default `warn`): JSON lines, or text with colours only
/// when stderr is a terminal.
fn init_logging(format: cli_server::LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("ETS_LOG").unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli_server::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        cli_server::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Whether `error` is, or was caused by, writing to a pipe whose reader has closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo { database, args } => demo::run(args, &database.database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Ledger(LedgerArgs { database, command }) => {
            cli_ledger::run(command, &database.database_url).await
        }
        Command::Round(RoundArgs { database, command }) => {
            cli_round::run(command, &database.database_url)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Market(args) => cli_market::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Api(args) => cli_api::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Serve { database, args } => cli_server::serve(args, &database.database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Tick { database, args } => cli_tick::tick(args, &database.database_url)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Admin(AdminArgs { database, command }) => {
            cli_server::admin(command, &database.database_url)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Scenario(_) | Command::Auction(_) => unreachable!("handled without a runtime"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Every command, flag and argument says what it is for in `--help`.
    #[test]
    fn every_command_flag_and_argument_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut command = super::Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "ets", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }
}
