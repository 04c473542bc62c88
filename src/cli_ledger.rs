//! `ets ledger …`: balances, the journal, verification and scripted requests.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ledger::{Ledger, LedgerOptions, Request};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Create (or migrate) the database and record the genesis entry.
    Init,
    /// Submit requests from a file (`-` for stdin): JSON requests, one per line or pretty-printed, or arrays of them.
    ///
    /// Each request is `{"idempotency_key": "...", "actor": "...", "actions": [...]}` and is applied
    /// atomically. Requests are submitted concurrently and group-committed; re-running the same
    /// file replays the recorded outcomes instead of applying anything twice.
    Apply {
        /// The requests: a JSON file, or `-` for standard input.
        file: String,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// Balances of every account, or of one owner's (a credit code, or `bureau`).
    Balances {
        /// Only this owner's accounts: a credit code, or `bureau`.
        #[arg(long)]
        owner: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The audit journal, oldest first, one page at a time.
    Journal {
        /// Start after this entry (the cursor from the previous page).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Entries on the page (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print each entry's full JSON body.
        #[arg(long)]
        json: bool,
    },
    /// Replay the whole journal and check the hash chain, postings and every balance.
    ///
    /// Exits with status 3 if any problem is found.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Certified reductions: capacity freed by upgrades, now in the bureau's reserve.
    Reductions {
        /// Print JSON (amounts as decimal strings) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: LedgerCommand, database_url: &str) -> Result<ExitCode> {
    let ledger = Ledger::open(database_url, LedgerOptions::default())
        .await
        .with_context(|| format!("opening the ledger at {database_url}"))?;
    match command {
        LedgerCommand::Init => {
            let (seq, hash) = ledger.store().head().await?;
            println!(
                "ledger ready at {database_url} ({}): head entry {seq}, hash {hash}",
                ledger.store().backend_name()
            );
        }
        LedgerCommand::Apply { file, concurrency } => apply(&ledger, &file, concurrency).await?,
        LedgerCommand::Balances { owner, json } => {
            let balances = ledger.store().balances(owner.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&balances)?);
            } else {
                let mut table = table(&["account", "balance", ""]);
                right_align(&mut table, 1);
                for b in balances {
                    table.add_row(vec![
                        b.account,
                        b.balance.to_string(),
                        if b.frozen { "frozen" } else { "" }.to_owned(),
                    ]);
                }
                println!("{table}");
            }
        }
        LedgerCommand::Journal { after, limit, json } => {
            let page = ledger.store().journal(after, limit).await?;
            for entry in &page {
                if json {
                    println!("{}", entry.body);
                } else {
                    let parsed: ledger::journal::Entry = serde_json::from_str(&entry.body)?;
                    let actions: Vec<&str> =
                        parsed.request.actions.iter().map(|a| a.name()).collect();
                    println!(
                        "{:>8}  {}  {:<24} {:<10} {} postings  [{}]  {}",
                        entry.seq,
                        entry.recorded_at,
                        entry.idempotency_key,
                        parsed.request.actor,
                        parsed.postings.len(),
                        actions.join(","),
                        &hex::encode(entry.hash)[..16]
                    );
                }
            }
            if let Some(last) = page.last() {
                eprintln!("next page: ets ledger journal --after {}", last.seq);
            }
        }
        LedgerCommand::Verify { json } => {
            let report = ledger::verify(ledger.store()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify(&report);
            }
            if !report.is_ok() {
                return Ok(ExitCode::from(3));
            }
        }
        LedgerCommand::Reductions { json } => {
            let rows = reductions(&ledger).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let mut table = table(&[
                    "reduction",
                    "entry",
                    "enterprise",
                    "name",
                    "instrument",
                    "amount",
                    "unit",
                    "measure",
                    "evidence",
                ]);
                right_align(&mut table, 1);
                right_align(&mut table, 5);
                for r in rows {
                    table.add_row(vec![
                        r.id,
                        r.entry.to_string(),
                        r.enterprise,
                        r.enterprise_name,
                        r.instrument,
                        r.amount.to_string(),
                        r.unit,
                        r.measure,
                        r.evidence,
                    ]);
                }
                println!("{table}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A table for the terminal or a pipe: plain ASCII in Markdown form, never wrapped or coloured.
fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::ASCII_MARKDOWN)
        .set_header(header.to_vec());
    table
}

fn right_align(table: &mut comfy_table::Table, column: usize) {
    if let Some(column) = table.column_mut(column) {
        column.set_cell_alignment(comfy_table::CellAlignment::Right);
    }
}

/// A certified reduction as `ets ledger reductions` shows it: the amount in the instrument's unit
/// (exact, at its scale) and the enterprise's registered name.
#[derive(Debug, Serialize)]
struct ReductionRow {
    id: String,
    entry: u64,
    enterprise: String,
    enterprise_name: String,
    instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    unit: String,
    measure: String,
    evidence: String,
}

async fn reductions(ledger: &Ledger) -> Result<Vec<ReductionRow>> {
    let store = ledger.store();
    let instruments: HashMap<String, ledger::Instrument> = store
        .instruments()
        .await?
        .into_iter()
        .map(|i| (i.code.clone(), i))
        .collect();
    let names: HashMap<String, String> = store
        .enterprises()
        .await?
        .into_iter()
        .map(|e| (e.credit_code.as_str().to_owned(), e.name))
        .collect();
    let mut rows = Vec::new();
    for r in store.reductions().await? {
        let instrument = instruments.get(&r.instrument).with_context(|| {
            format!(
                "reduction {} names unknown instrument {}",
                r.id, r.instrument
            )
        })?;
        let measure = match serde_json::to_value(r.measure)? {
            serde_json::Value::String(name) => name,
            other => other.to_string(),
        };
        rows.push(ReductionRow {
            enterprise_name: names.get(&r.enterprise).cloned().unwrap_or_default(),
            amount: ledger::amount::to_decimal(r.units, instrument.scale),
            unit: instrument.unit.clone(),
            id: r.id,
            entry: r.seq,
            enterprise: r.enterprise,
            instrument: r.instrument,
            measure,
            evidence: r.evidence,
        });
    }
    Ok(rows)
}

pub fn print_verify(report: &ledger::VerifyReport) {
    if report.is_ok() {
        println!(
            "verified: {} journal entries, {} postings, {} accounts, {} holds; chain head {} {}",
            report.entries,
            report.postings,
            report.accounts,
            report.holds,
            report.head_seq,
            report.head_hash
        );
    } else {
        println!("verification FAILED: {} problem(s)", report.problem_count);
        for problem in &report.problems {
            println!("  - {problem}");
        }
    }
}

/// Reads requests (see [`parse_requests`]) and submits them concurrently.
/// The requests in `text`: JSON values one after another (one request per line, or pretty-printed
/// over many), each a request object or an array of them.
fn parse_requests(text: &str) -> Result<Vec<Request>> {
    let mut requests = Vec::new();
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    loop {
        let rest = &text[values.byte_offset()..];
        let start = text.len() - rest.trim_start().len();
        let line = || text[..start].matches('\n').count() + 1;
        let Some(value) = values.next() else { break };
        let value = value.context("the file is not a sequence of JSON values")?;
        let items = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        for item in items {
            let request = serde_json::from_value(item).with_context(|| {
                format!(
                    "request {} (from line {}) is not a ledger request",
                    requests.len() + 1,
                    line()
                )
            })?;
            requests.push(request);
        }
    }
    Ok(requests)
}

async fn apply(ledger: &Ledger, file: &str, concurrency: usize) -> Result<()> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin().lock().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    let requests = parse_requests(&text)?;
    if requests.is_empty() {
        bail!("{file} holds no requests");
    }
    let total = requests.len();
    let mut accepted = 0;
    let mut replayed = 0;
    let mut refused = 0;
    let mut chunks = requests.into_iter().peekable();
    while chunks.peek().is_some() {
        let chunk: Vec<Request> = chunks.by_ref().take(concurrency.max(1)).collect();
        let keys: Vec<String> = chunk.iter().map(|r| r.idempotency_key.clone()).collect();
        for (key, outcome) in keys.iter().zip(ledger.submit_many(chunk).await?) {
            match outcome {
                Ok(receipt) if receipt.replayed => replayed += 1,
                Ok(_) => accepted += 1,
                Err(error) => {
                    refused += 1;
                    eprintln!("refused {key}: {error}");
                }
            }
        }
    }
    println!(
        "{total} requests: {accepted} recorded, {replayed} replayed (already recorded), {refused} refused"
    );
    if refused > 0 {
        bail!("{refused} request(s) refused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_requests;

    const ONE: &str = r#"{"idempotency_key": "k1", "actor": "bureau", "actions": [
        {"type": "annotate", "note": "first"}
    ]}"#;

    #[test]
    fn requests_may_be_pretty_printed_one_per_line_or_in_arrays() {
        let pretty = parse_requests(ONE).expect("a pretty-printed object");
        assert_eq!(pretty.len(), 1);
        assert_eq!(pretty[0].idempotency_key, "k1");
        let flat = ONE.replace('\n', " ");
        let lines = parse_requests(&format!("{flat}\n\n{}\n", flat.replace("k1", "k2")))
            .expect("JSON lines");
        let keys: Vec<&str> = lines.iter().map(|r| r.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"]);
        let array =
            parse_requests(&format!("[{ONE}, {}]", ONE.replace("k1", "k3"))).expect("array");
        assert_eq!(array[1].idempotency_key, "k3");
    }

    #[test]
    fn a_bad_request_is_named_by_its_number_and_line() {
        let text = format!("{ONE}\n{{\"idempotency_key\": \"k2\"}}");
        let error = format!("{:#}", parse_requests(&text).expect_err("refused"));
        assert!(error.contains("request 2 (from line 4)"), "{error}");
    }
}
