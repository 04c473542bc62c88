//! Group commit: many requests, one storage transaction. The writer takes the chain-head lock,
//! loads every row the batch touches, runs each request through the pure state machine (a refused
//! request is rolled back alone), then writes all changes and the new journal entries at once.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::account::{AccountKey, AccountKind};
use crate::apply::apply_request;
use crate::book::{Book, Hold};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::instrument::InstrumentKind;
use crate::journal::{
    Hash, Receipt, StoredEntry, actions_json, chain_hash, entry_body, fingerprint_parts,
    format_time,
};
use crate::request::{Action, Party, Request};

/// The keys of every row a batch may read.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    pub pollutants: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    pub instruments: BTreeSet<String>,
    pub enterprises: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    pub holds: BTreeSet<String>,
    pub reductions: BTreeSet<String>,
    /// Load every open hold that has expired by this time (for `expire_holds`).
    pub expired_holds_at: Option<DateTime<Utc>>,
}

impl Needs {
    fn party(&mut self, party: &Party, instrument: &str) {
        match party {
            Party::Reserve => self.bureau(AccountKind::Reserve, instrument),
            Party::Enterprise(code) => self.holding(code, instrument),
        }
    }

    fn holding(&mut self, code: &str, instrument: &str) {
        self.enterprises.insert(code.to_owned());
        self.accounts
            .insert(AccountKey::holding(code, instrument).id());
    }

    fn bureau(&mut self, kind: AccountKind, instrument: &str) {
        self.accounts
            .insert(AccountKey::bureau(kind, instrument).id());
    }

    /// First pass: everything an action names directly.
    fn add_action(&mut self, action: &Action, now: DateTime<Utc>) {
        let instrument = |needs: &mut Needs, code: &str| {
            needs.instruments.insert(code.to_owned());
        };
        match action {
            Action::DefinePollutant { pollutant } => {
                self.pollutants.insert(pollutant.code.clone());
            }
            Action::DefineRegion { region } => {
                self.regions.insert(region.code.clone());
            }
            Action::DefineInstrument {
                instrument: defined,
            } => {
                self.instruments.insert(defined.code.clone());
                if let InstrumentKind::DischargeRight {
                    pollutant, region, ..
                } = &defined.kind
                {
                    self.pollutants.insert(pollutant.clone());
                    self.regions.insert(region.clone());
                }
            }
            Action::RegisterEnterprise { enterprise } | Action::UpdateEnterprise { enterprise } => {
                self.enterprises
                    .insert(enterprise.credit_code.trim().to_owned());
            }
            Action::Issue {
                instrument: i, to, ..
            } => {
                instrument(self, i);
                self.bureau(AccountKind::Issuance, i);
                self.party(to, i);
            }
            Action::Allocate {
                instrument: i, to, ..
            } => {
                instrument(self, i);
                self.bureau(AccountKind::Reserve, i);
                self.holding(to, i);
            }
            Action::Transfer {
                instrument: i,
                from,
                to,
                ..
            } => {
                instrument(self, i);
                self.party(from, i);
                self.party(to, i);
            }
            Action::Deposit {
                instrument: i,
                enterprise,
                ..
            }
            | Action::Withdraw {
                instrument: i,
                enterprise,
                ..
            } => {
                instrument(self, i);
                self.bureau(AccountKind::SettlementBank, i);
                self.holding(enterprise, i);
            }
            Action::PlaceHold {
                hold,
                instrument: i,
                from,
                ..
            } => {
                instrument(self, i);
                self.holds.insert(hold.clone());
                self.party(from, i);
                self.bureau(AccountKind::Escrow, i);
            }
            Action::PostHold { hold, .. } | Action::VoidHold { hold } => {
                self.holds.insert(hold.clone());
            }
            Action::ExpireHolds {} => self.expired_holds_at = Some(now),
            Action::Surrender {
                instrument: i,
                enterprise,
                ..
            } => {
                instrument(self, i);
                self.holding(enterprise, i);
                self.bureau(AccountKind::Surrender, i);
            }
            Action::Cancel {
                instrument: i,
                from,
                ..
            } => {
                instrument(self, i);
                self.party(from, i);
                self.bureau(AccountKind::Cancellation, i);
            }
            Action::Freeze {
                instrument: i,
                holder,
            }
            | Action::Unfreeze {
                instrument: i,
                holder,
            } => {
                instrument(self, i);
                self.party(holder, i);
            }
            Action::CertifyReduction {
                reduction,
                enterprise,
                instrument: i,
                ..
            } => {
                instrument(self, i);
                self.reductions.insert(reduction.clone());
                self.holding(enterprise, i);
                self.bureau(AccountKind::Reserve, i);
            }
        }
    }

    /// Second pass, once holds are loaded: the accounts and instruments those holds involve.
    fn add_hold_dependents<'a>(
        &mut self,
        requests: &[Request],
        holds: impl Iterator<Item = &'a Hold>,
    ) {
        let mut instrument_of: HashMap<String, String> = HashMap::new();
        for hold in holds {
            instrument_of.insert(hold.id.clone(), hold.instrument.clone());
            self.instruments.insert(hold.instrument.clone());
            self.accounts.insert(hold.holder.id());
            self.bureau(AccountKind::Escrow, &hold.instrument);
            if hold.holder.kind == AccountKind::Holding {
                self.enterprises.insert(hold.holder.owner.clone());
            }
        }
        let actions = requests.iter().flat_map(|r| r.actions.iter());
        for action in actions.clone() {
            if let Action::PlaceHold {
                hold, instrument, ..
            } = action
            {
                instrument_of
                    .entry(hold.clone())
                    .or_insert_with(|| instrument.clone());
            }
        }
        for action in actions {
            if let Action::PostHold { hold, to, .. } = action
                && let Some(instrument) = instrument_of.get(hold)
            {
                self.party(to, &instrument.clone());
            }
        }
    }
}

/// What storage must write for a batch.
pub struct Writes<'a> {
    pub book: &'a Book,
    /// The new journal entries; their bodies carry the postings (the `postings` view reads them).
    pub entries: &'a [StoredEntry],
    pub head: (u64, Hash),
}

/// The storage side of a batch; one implementation per database.
pub trait Backend: Send + Sync {
    type Tx: Send;

    /// Starts a write transaction and locks the chain head, so writers (even in other processes)
    /// take turns. Returns the last seq and hash.
    fn begin(&self) -> impl Future<Output = Result<(Self::Tx, u64, Hash), LedgerError>> + Send;
    /// Entries already recorded under any of these keys.
    fn find_keys(
        tx: &mut Self::Tx,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, StoredEntry>, LedgerError>> + Send;
    /// Loads holds by id, and every open hold expired by `expired_at` if given.
    fn load_holds(
        tx: &mut Self::Tx,
        ids: &BTreeSet<String>,
        expired_at: Option<DateTime<Utc>>,
        book: &mut Book,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Loads every other row named in `needs`.
    fn load(
        tx: &mut Self::Tx,
        needs: &Needs,
        book: &mut Book,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
    fn write(
        tx: &mut Self::Tx,
        writes: Writes<'_>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

/// What a request contributes to its journal entry before any state is read: its actions as JSON
/// and its fingerprint. Pure, so submitters compute it on their own threads, off the writer's path.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub actions: String,
    pub fingerprint: Hash,
}

impl Prepared {
    pub fn new(request: &Request) -> Prepared {
        let actions = actions_json(request);
        let fingerprint = fingerprint_parts(&request.actor, request.memo.as_deref(), &actions);
        Prepared {
            actions,
            fingerprint,
        }
    }
}

/// Runs a batch in one transaction. The outer error is a storage failure (nothing was written);
/// the inner results are each request's own outcome.
pub async fn run_batch<B: Backend>(
    backend: &B,
    requests: &[Request],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let prepared: Vec<Prepared> = requests.iter().map(Prepared::new).collect();
    run_prepared_batch(backend, requests, &prepared, now, lists).await
}

/// [`run_batch`] with each request's [`Prepared`] part already computed (`prepared[i]` for
/// `requests[i]`).
pub async fn run_prepared_batch<B: Backend>(
    backend: &B,
    requests: &[Request],
    prepared: &[Prepared],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    assert_eq!(requests.len(), prepared.len(), "one Prepared per request");
    let (mut tx, mut seq, mut hash) = backend.begin().await?;
    let keys: Vec<String> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
    let recorded = B::find_keys(&mut tx, &keys).await?;

    let mut needs = Needs::default();
    for request in requests
        .iter()
        .filter(|r| !recorded.contains_key(&r.idempotency_key))
    {
        for action in &request.actions {
            needs.add_action(action, now);
        }
    }
    let mut book = Book::default();
    B::load_holds(&mut tx, &needs.holds, needs.expired_holds_at, &mut book).await?;
    needs.add_hold_dependents(requests, book.holds.values());
    B::load(&mut tx, &needs, &mut book).await?;

    let recorded_at = format_time(now);
    let mut results = Vec::with_capacity(requests.len());
    let mut entries: Vec<StoredEntry> = Vec::new();
    // Keys accepted earlier in this batch: index into `entries`.
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for (request, prepared) in requests.iter().zip(prepared) {
        let key = request.idempotency_key.as_str();
        let (actions, print) = (&prepared.actions, prepared.fingerprint);
        let earlier = recorded
            .get(key)
            .or_else(|| accepted.get(key).map(|&i| &entries[i]));
        if let Some(stored) = earlier {
            results.push(replay(stored, print));
            continue;
        }
        match apply_request(&mut book, request, seq + 1, now, lists) {
            Ok(posted) => {
                seq += 1;
                let body = entry_body(seq, now, request, actions, &posted);
                let prev_hash = hash;
                hash = chain_hash(&prev_hash, seq, &body);
                results.push(Ok(Receipt {
                    seq,
                    recorded_at: now,
                    hash: hex::encode(hash),
                    postings: posted,
                    replayed: false,
                }));
                accepted.insert(key, entries.len());
                entries.push(StoredEntry {
                    seq,
                    idempotency_key: key.to_owned(),
                    fingerprint: print,
                    recorded_at: recorded_at.clone(),
                    body,
                    prev_hash,
                    hash,
                });
            }
            Err(error) => results.push(Err(error)),
        }
    }
    if !entries.is_empty() {
        B::write(
            &mut tx,
            Writes {
                book: &book,
                entries: &entries,
                head: (seq, hash),
            },
        )
        .await?;
        B::commit(tx).await?;
    }
    Ok(results)
}

/// The outcome of a retry: the original receipt if the request is the same, a conflict otherwise.
fn replay(stored: &StoredEntry, print: Hash) -> Result<Receipt, LedgerError> {
    if stored.fingerprint != print {
        return Err(LedgerError::IdempotencyConflict {
            key: stored.idempotency_key.clone(),
            seq: stored.seq,
        });
    }
    Ok(Receipt::from_stored(stored, true)?)
}
