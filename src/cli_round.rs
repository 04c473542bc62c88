//! `ets round …`: reallocation rounds from the command line, the same service as
//! `POST /v1/rounds/{id}/dry-run|commit` (pending applications filed over HTTP, a stored or
//! given policy, one idempotent ledger request per committed round).

use anyhow::{Context, Result};
use api::services::rounds::{self, RoundSpec};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RoundCommand {
    /// Plan a round over the pending applications and print its explanation; writes nothing.
    DryRun(RoundArgs),
    /// Plan and commit a round: every grant in one atomic, idempotent ledger request. Running it
    /// again with the same arguments prints the committed result and writes nothing.
    Commit(RoundArgs),
    /// Solve a round from files, with no database: applications and pools CSV (or a Round
    /// JSON/TOML) and a policy in; grants.csv, pools.csv, summary.json and manifest.json out.
    Solve(crate::cli_offline::SolveArgs),
    /// List capacity applications (all enterprises), optionally of one status.
    Applications {
        /// pending, withdrawn, granted, partial, none or excluded.
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct RoundArgs {
    /// The round id (1 to 64 of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    id: String,
    /// A stored policy id (e.g. chongqing-2020-r1), or a path to a policy TOML file.
    #[arg(long, default_value = "chongqing-2020-r1")]
    policy: String,
    /// Print the full published result as JSON instead of the summary.
    #[arg(long)]
    json: bool,
}

pub async fn run(command: RoundCommand, database_url: &str) -> Result<()> {
    let ledger = ledger::Ledger::open(database_url, ledger::LedgerOptions::default())
        .await
        .with_context(|| format!("opening the ledger at {database_url}"))?;
    let db = api::db::Db::open(database_url).await?;
    match command {
        RoundCommand::Solve(_) => unreachable!("solved without a database in main"),
        RoundCommand::Applications { status } => {
            let status = match status {
                Some(text) => Some(
                    api::services::applications::Status::parse(&text)
                        .with_context(|| format!("unknown status {text:?}"))?,
                ),
                None => None,
            };
            let mut after: Option<String> = None;
            loop {
                let page =
                    api::services::applications::list(&db, None, status, after.as_deref(), 1_000)
                        .await?;
                for stored in &page {
                    let a = &stored.application;
                    let requests: Vec<String> = a
                        .requests
                        .iter()
                        .map(|r| format!("{} {}", r.pollutant, r.quantity))
                        .collect();
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        a.id,
                        a.enterprise,
                        stored.status.as_str(),
                        requests.join(", "),
                        a.project
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 1_000 => after = Some(last.application.id.clone()),
                    _ => break,
                }
            }
            Ok(())
        }
        RoundCommand::DryRun(args) => {
            let (spec, _) = spec(&args)?;
            let plan = rounds::plan(&ledger, &db, spec).await.map_err(explain)?;
            print(&args, &plan.allocation, &plan.request, None)
        }
        RoundCommand::Commit(args) => {
            let (spec, body) = spec(&args)?;
            let fingerprint = api::idempotency::fingerprint(
                "POST",
                &format!("/v1/rounds/{}/commit", args.id),
                &body,
            );
            let committed = rounds::commit(&ledger, &db, spec, &fingerprint)
                .await
                .map_err(explain)?;
            if committed.replayed {
                eprintln!(
                    "round {} was already committed with these arguments: nothing new written",
                    args.id
                );
            }
            let round = &committed.round;
            print(&args, &round.allocation, &round.request, round.journal_seq)
        }
    }
}

/// The round spec and the equivalent HTTP body (so a CLI commit and an HTTP commit of the same
/// round and policy are recognised as the same input).
fn spec(args: &RoundArgs) -> Result<(RoundSpec, Vec<u8>)> {
    rounds::check_round_id(&args.id).map_err(explain)?;
    let (policy, body) = if rounds::POLICIES.iter().any(|(id, _)| *id == args.policy) {
        let policy = rounds::policy_by_id(&args.policy)
            .map_err(|p| anyhow::anyhow!("{}: {}", p.field, p.reason))?;
        (policy, serde_json::json!({"policy_id": args.policy}))
    } else {
        let text = std::fs::read_to_string(&args.policy).with_context(|| {
            format!(
                "{:?} is neither a stored policy ({}) nor a readable file",
                args.policy,
                rounds::POLICIES
                    .iter()
                    .map(|(id, _)| *id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let policy = rounds::parse_policy_toml(&text)
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", args.policy))?;
        (policy, serde_json::json!({"policy_toml": text}))
    };
    let spec = RoundSpec {
        id: args.id.clone(),
        policy,
        application_ids: None,
        inline: Vec::new(),
    };
    Ok((spec, serde_json::to_vec(&body)?))
}

/// Every problem of a refused round, one per line.
fn explain(error: api::ApiError) -> anyhow::Error {
    match &error {
        api::ApiError::Invalid(problems) => anyhow::anyhow!(
            "the round is invalid:\n{}",
            problems
                .iter()
                .map(|p| format!("  {}", p.reason))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        _ => anyhow::anyhow!("{error}"),
    }
}

fn print(
    args: &RoundArgs,
    allocation: &optimizer::Allocation,
    request: &ledger::Request,
    journal_seq: Option<u64>,
) -> Result<()> {
    if args.json {
        let out = serde_json::json!({
            "round_id": args.id,
            "journal_seq": journal_seq,
            "allocation": allocation,
            "ledger_request": request,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let outcome = api::services::reallocation::RoundOutcome {
        allocation: allocation.clone(),
        request: request.clone(),
        receipt: None,
    };
    crate::demo::round::print(&outcome);
    match journal_seq {
        Some(seq) => println!("  committed as journal entry {seq}"),
        None if request.actions.is_empty() => println!("  nothing to grant"),
        None => println!(
            "  dry run: nothing written ({} ledger actions would be posted)",
            request.actions.len()
        ),
    }
    Ok(())
}
