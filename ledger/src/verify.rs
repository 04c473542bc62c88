//! `ets ledger verify`: replays the whole journal through the state machine and checks it against
//! what is stored. Every problem found is reported; verification never stops at the first. It reads
//! only the entries' stored text and parses it here, so no stored content (a `\u0000` that
//! PostgreSQL's `jsonb` refuses, say) can make it fail.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::account::AccountKind;
use crate::apply::apply_request;
use crate::book::{Book, HoldState};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::journal::{Entry, GENESIS_HASH, chain_hash, fingerprint};
use crate::store::Store;

const PAGE: u32 = 5_000;
/// Stop listing after this many problems; the count is still exact.
const PROBLEMS_LISTED_MAX: usize = 100;

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub postings: u64,
    pub accounts: usize,
    pub holds: usize,
    pub head_seq: u64,
    pub head_hash: String,
    pub problem_count: usize,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_LISTED_MAX {
            self.problems.push(text);
        }
    }
}

/// Replays the journal from its first entry and compares hashes, postings and final balances.
pub async fn verify(store: &Store) -> Result<VerifyReport, LedgerError> {
    let lists = ClassificationLists::embedded().map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    let mut report = VerifyReport::default();
    let mut book = Book::default();
    let mut expected_seq = 1;
    let mut prev = GENESIS_HASH;
    loop {
        let page = store.journal(expected_seq - 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for stored in &page {
            let seq = stored.seq;
            if seq != expected_seq {
                report.problem(format!(
                    "journal gap: expected entry {expected_seq}, found {seq}"
                ));
            }
            if stored.prev_hash != prev {
                report.problem(format!(
                    "entry {seq}: prev_hash does not match the previous entry's hash"
                ));
            }
            if chain_hash(&stored.prev_hash, seq, &stored.body) != stored.hash {
                report.problem(format!(
                    "entry {seq}: hash does not match its content (edited?)"
                ));
            }
            prev = stored.hash;
            expected_seq = seq + 1;
            report.entries += 1;
            let entry: Entry = match serde_json::from_str(&stored.body) {
                Ok(entry) => entry,
                Err(error) => {
                    report.problem(format!("entry {seq}: unreadable body: {error}"));
                    continue;
                }
            };
            if entry.request.idempotency_key != stored.idempotency_key
                || fingerprint(&entry.request) != stored.fingerprint
            {
                report.problem(format!(
                    "entry {seq}: idempotency key or fingerprint differs from the body"
                ));
            }
            report.postings += entry.postings.len() as u64;
            match apply_request(&mut book, &entry.request, seq, entry.recorded_at, &lists) {
                Ok(replayed) if replayed == entry.postings => {}
                Ok(_) => report.problem(format!(
                    "entry {seq}: replaying the request gives different postings"
                )),
                Err(error) => {
                    report.problem(format!("entry {seq}: replaying the request fails: {error}"))
                }
            }
        }
    }
    let (head_seq, head_hash) = store.head().await?;
    report.head_seq = head_seq;
    report.head_hash = head_hash.clone();
    if head_seq != expected_seq - 1 || head_hash != hex::encode(prev) {
        report.problem(format!(
            "chain head ({head_seq}) does not match the last journal entry ({})",
            expected_seq - 1
        ));
    }
    compare_state(store, &book, &mut report).await?;
    Ok(report)
}

/// Stored accounts and holds must equal the replayed ones; balances must obey the rules.
async fn compare_state(
    store: &Store,
    book: &Book,
    report: &mut VerifyReport,
) -> Result<(), LedgerError> {
    let stored_accounts = store.accounts().await?;
    report.accounts = stored_accounts.len();
    let mut seen = 0;
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    for account in &stored_accounts {
        let id = account.key.id();
        match book.accounts.get(&id) {
            Some(replayed) if replayed == account => seen += 1,
            Some(replayed) => {
                seen += 1;
                report.problem(format!(
                    "account {id}: stored debits {} credits {} frozen {}, replay gives {} {} {}",
                    account.debits,
                    account.credits,
                    account.frozen,
                    replayed.debits,
                    replayed.credits,
                    replayed.frozen
                ));
            }
            None => report.problem(format!(
                "account {id} exists in storage but not in the journal"
            )),
        }
        *sums.entry(account.key.instrument.clone()).or_default() += account.balance();
        if account.balance() < 0 && !account.key.kind.may_go_negative() {
            report.problem(format!(
                "account {id} has a negative balance {}",
                account.balance()
            ));
        }
    }
    if seen != book.accounts.values().count() {
        report.problem("some accounts in the journal are missing from storage".to_owned());
    }
    for (instrument, sum) in sums {
        if sum != 0 {
            report.problem(format!("balances of {instrument} sum to {sum}, not zero"));
        }
    }
    let stored_holds = store.holds().await?;
    report.holds = stored_holds.len();
    let mut held: BTreeMap<String, i128> = BTreeMap::new();
    for hold in &stored_holds {
        if book.holds.get(&hold.id) != Some(hold) {
            report.problem(format!(
                "hold {}: stored state differs from the replay",
                hold.id
            ));
        }
        if hold.state == HoldState::Open {
            *held.entry(hold.instrument.clone()).or_default() += i128::from(hold.remaining);
        }
    }
    for account in stored_accounts
        .iter()
        .filter(|a| a.key.kind == AccountKind::Escrow)
    {
        let open = held.remove(&account.key.instrument).unwrap_or(0);
        if account.balance() != open {
            report.problem(format!(
                "escrow {} holds {} but open holds total {open}",
                account.key.id(),
                account.balance()
            ));
        }
    }
    for (instrument, open) in held {
        report.problem(format!(
            "open holds of {instrument} total {open} but there is no escrow account"
        ));
    }
    Ok(())
}
