//! Group commit: many requests, one storage transaction. The writer takes the chain-head lock,
//! loads every row the batch touches, runs each request through the pure state machine (a refused
//! request is rolled back alone), then writes all changes and the new journal entries at once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::ops::DerefMut;

use chrono::{DateTime, Utc};

use crate::account::{AccountKey, AccountKind};
use crate::apply::apply_request;
use crate::book::{Book, Hold};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::instrument::InstrumentKind;
use crate::journal::{
    Hash, Receipt, StoredEntry, actions_json, chain_hash, entry_body_at, fingerprint_parts,
    format_time,
};
use crate::request::{Action, Party, Request};
use crate::text::check_request_text;

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
        if !self.enterprises.contains(code) {
            self.enterprises.insert(code.to_owned());
        }
        self.accounts
            .insert(AccountKey::id_of(code, AccountKind::Holding, instrument));
    }

    fn bureau(&mut self, kind: AccountKind, instrument: &str) {
        self.accounts
            .insert(AccountKey::id_of(crate::account::BUREAU, kind, instrument));
    }

    /// Definitions and the register: what a record action names.
    fn add_record(&mut self, action: &Action) {
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
            _ => debug_assert!(false, "not a record action: {}", action.name()),
        }
    }

    /// First pass: everything an action names directly.
    fn add_action(&mut self, action: &Action, now: DateTime<Utc>) {
        let instrument = |needs: &mut Needs, code: &str| {
            if !needs.instruments.contains(code) {
                needs.instruments.insert(code.to_owned());
            }
        };
        match action {
            Action::DefinePollutant { .. }
            | Action::DefineRegion { .. }
            | Action::DefineInstrument { .. }
            | Action::RegisterEnterprise { .. }
            | Action::UpdateEnterprise { .. } => self.add_record(action),
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
            Action::PostHold { hold, .. }
            | Action::VoidHold { hold }
            | Action::ReleaseHoldCode { hold, .. } => {
                self.holds.insert(hold.clone());
            }
            Action::ExpireHolds {} => self.expired_holds_at = Some(now),
            Action::Annotate { .. } => {}
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
            Action::WriteOff {
                instrument: i,
                holders,
                ..
            } => {
                instrument(self, i);
                holders.iter().for_each(|holder| self.party(holder, i));
                self.bureau(AccountKind::Cancellation, i);
            }
            Action::Freeze {
                instrument: i,
                holder,
                ..
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
pub trait Backend: Send + Sync + 'static {
    /// A database connection: reads run on one inside the write transaction, or, to prepare the
    /// next batch while one commits, on a separate reader ([`Backend::reader`]).
    type Conn: Send;
    type Tx: Send + DerefMut<Target = Self::Conn> + 'static;
    type Reader: Send + DerefMut<Target = Self::Conn>;

    /// Starts a write transaction and locks the chain head, so writers (even in other processes)
    /// take turns. Returns the last seq and hash.
    fn begin(&self) -> impl Future<Output = Result<(Self::Tx, u64, Hash), LedgerError>> + Send;
    /// A connection outside any write transaction, seeing committed state.
    fn reader(&self) -> impl Future<Output = Result<Self::Reader, LedgerError>> + Send;
    /// Entries already recorded under any of these keys.
    fn find_keys(
        conn: &mut Self::Conn,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, StoredEntry>, LedgerError>> + Send;
    /// Loads holds by id, and every open hold expired by `expired_at` if given.
    fn load_holds(
        conn: &mut Self::Conn,
        ids: &BTreeSet<String>,
        expired_at: Option<DateTime<Utc>>,
        book: &mut Book,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// Loads every other row named in `needs`.
    fn load(
        conn: &mut Self::Conn,
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

/// Runs a batch in one transaction, after refusing the requests outside the text policy
/// ([`crate::text`]). The outer error is a storage failure (nothing was written);
/// the inner results are each request's own outcome.
pub async fn run_batch<B: Backend>(
    backend: &B,
    requests: &[Request],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let checks: Vec<Result<(), LedgerError>> = requests.iter().map(check_request_text).collect();
    let good: Vec<Request> = requests
        .iter()
        .zip(&checks)
        .filter(|(_, check)| check.is_ok())
        .map(|(request, _)| request.clone())
        .collect();
    let prepared: Vec<Prepared> = good.iter().map(Prepared::new).collect();
    let answers = match good.is_empty() {
        true => Vec::new(),
        false => run_prepared_batch(backend, &good, &prepared, now, lists).await?,
    };
    Ok(merge_checked(checks, answers))
}

/// Each request's outcome: its text-policy refusal, or the next of `answers` (the outcomes of
/// the requests that passed, in order).
pub(crate) fn merge_checked(
    checks: Vec<Result<(), LedgerError>>,
    answers: Vec<Result<Receipt, LedgerError>>,
) -> Vec<Result<Receipt, LedgerError>> {
    let mut answers = answers.into_iter();
    checks
        .into_iter()
        .map(|check| match check {
            Ok(()) => answers.next().unwrap_or(Err(LedgerError::WriterStopped)),
            Err(refused) => Err(refused),
        })
        .collect()
}

/// [`run_batch`] with each request's [`Prepared`] part already computed (`prepared[i]` for
/// `requests[i]`), for requests that have already passed the text policy.
pub async fn run_prepared_batch<B: Backend>(
    backend: &B,
    requests: &[Request],
    prepared: &[Prepared],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let begun = backend.begin().await?;
    run_begun::<B>(begun, requests, prepared, now, lists).await
}

/// [`run_prepared_batch`] in a transaction already begun (with the chain head it locked), reading
/// everything inside it.
pub(crate) async fn run_begun<B: Backend>(
    (mut tx, seq, hash): (B::Tx, u64, Hash),
    requests: &[Request],
    prepared: &[Prepared],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let cache = Cache::default();
    let worked = work::<B>(
        &mut tx,
        (seq, hash),
        &cache,
        &[],
        requests,
        prepared,
        now,
        lists,
    )
    .await?;
    if !worked.entries.is_empty() {
        let writes = Writes {
            book: &worked.book,
            entries: &worked.entries,
            head: worked.head,
        };
        write::<B>(&mut tx, writes).await?;
        B::commit(tx).await?;
    }
    Ok(worked.results)
}

/// Writes a batch: [`Backend::write`], behind the test-only failpoint.
pub(crate) async fn write<B: Backend>(
    tx: &mut B::Tx,
    writes: Writes<'_>,
) -> Result<(), LedgerError> {
    failpoint(writes.entries)?;
    B::write(tx, writes).await
}

/// In this crate's own tests, storage refuses any batch holding an entry whose memo is this
/// marker, as PostgreSQL refuses text it cannot store: how the tests reach the writer's isolation
/// of a faulty request.
#[cfg(test)]
pub(crate) const FAILPOINT_MEMO: &str = "failpoint: storage refuses this entry";

fn failpoint(entries: &[StoredEntry]) -> Result<(), LedgerError> {
    #[cfg(test)]
    {
        let marker = format!("\"memo\":\"{FAILPOINT_MEMO}\"");
        if entries.iter().any(|e| e.body.contains(&marker)) {
            return Err(LedgerError::Storage(sqlx::Error::Protocol(
                "failpoint: storage refused the batch".into(),
            )));
        }
    }
    let _ = entries;
    Ok(())
}

/// Rows as storage will hold them once every batch this writer has worked out commits, kept
/// across batches so they are not read again. Valid only while the chain head is where this writer
/// left it (`head`): the writer checks that under the chain-head lock at every batch and clears the
/// cache when it is not (another process wrote) or when a commit failed. A row absent from the
/// cache is read from storage; rows the in-flight batch touched are always in it.
#[derive(Debug, Default)]
pub struct Cache {
    /// The chain head the cached rows belong to; `None` when empty.
    pub head: Option<(u64, Hash)>,
    pollutants: HashMap<String, crate::instrument::Pollutant>,
    regions: HashMap<String, crate::instrument::Region>,
    instruments: HashMap<String, crate::instrument::Instrument>,
    enterprises: HashMap<String, Option<crate::enterprise::Enterprise>>,
    accounts: HashMap<String, crate::account::Account>,
    holds: HashMap<String, Hold>,
    reductions: HashMap<String, crate::book::Reduction>,
}

/// Rows kept beyond this many, the cache starts again (memory stays bounded).
const CACHE_ROWS_MAX: usize = 1_000_000;

impl Cache {
    pub fn clear(&mut self) {
        *self = Cache::default();
    }

    fn len(&self) -> usize {
        self.pollutants.len()
            + self.regions.len()
            + self.instruments.len()
            + self.enterprises.len()
            + self.accounts.len()
            + self.holds.len()
            + self.reductions.len()
    }

    /// Takes in a worked-out batch's rows: what it changed, and what it read from storage.
    pub fn absorb(&mut self, book: &Book, head: (u64, Hash)) {
        fn merge<V: Clone>(map: &mut HashMap<String, V>, table: &crate::book::Table<V>) {
            for (key, value) in table.changed() {
                map.insert(key.clone(), value.clone());
            }
            for (key, value) in table.rows() {
                if !map.contains_key(key) {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        if self.len() > CACHE_ROWS_MAX {
            self.clear();
        }
        merge(&mut self.pollutants, &book.pollutants);
        merge(&mut self.regions, &book.regions);
        merge(&mut self.instruments, &book.instruments);
        merge(&mut self.enterprises, &book.enterprises);
        merge(&mut self.accounts, &book.accounts);
        merge(&mut self.holds, &book.holds);
        merge(&mut self.reductions, &book.reductions);
        self.head = Some(head);
    }
}

impl Needs {
    /// Moves the cached rows among these needs into `book` (probing every key, found or not:
    /// see `Table`'s tripwire); returns what is left to read from storage (holds are read
    /// before, with their dependents).
    fn take_cached(&self, book: &mut Book, cache: &Cache) -> Needs {
        book.probe(self);
        Needs {
            pollutants: from_cache(&mut book.pollutants, &cache.pollutants, &self.pollutants),
            regions: from_cache(&mut book.regions, &cache.regions, &self.regions),
            instruments: from_cache(&mut book.instruments, &cache.instruments, &self.instruments),
            enterprises: from_cache(&mut book.enterprises, &cache.enterprises, &self.enterprises),
            accounts: from_cache(&mut book.accounts, &cache.accounts, &self.accounts),
            holds: BTreeSet::new(),
            reductions: from_cache(&mut book.reductions, &cache.reductions, &self.reductions),
            expired_holds_at: None,
        }
    }
}

/// Moves the cached rows among `keys` into `table`; returns the keys left to read from storage.
fn from_cache<V: Clone>(
    table: &mut crate::book::Table<V>,
    cache: &HashMap<String, V>,
    keys: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut missing = BTreeSet::new();
    for key in keys {
        match cache.get(key) {
            Some(value) => table.load(key.clone(), value.clone()),
            None => {
                missing.insert(key.clone());
            }
        }
    }
    missing
}

/// A batch worked out against the chain at `base`: each request's outcome, and what to write.
pub struct Worked {
    /// The chain head this was worked out on; it is only valid to write while the head is there.
    pub base: (u64, Hash),
    pub results: Vec<Result<Receipt, LedgerError>>,
    pub book: Book,
    pub entries: Vec<StoredEntry>,
    /// The chain head after the new entries.
    pub head: (u64, Hash),
}

/// Seconds spent reading (idempotency keys and rows) and applying (state machine, journal bodies,
/// hashes) while working out a batch, for the writer's statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkTimes {
    pub read: std::time::Duration,
    pub apply: std::time::Duration,
}

/// Works out a batch: looks up its idempotency keys, loads the rows it touches, runs each request
/// through the state machine (a refused request is rolled back alone), and builds the journal
/// entries chained on `base`. Rows come from `cache` (which must belong to `base`) or from `conn`:
/// the write transaction, or a reader while the batch before this one is still committing; that
/// batch's entries are `pending` (storage may not have them yet). Nothing is written.
#[allow(clippy::too_many_arguments)]
pub async fn work<B: Backend>(
    conn: &mut B::Conn,
    base: (u64, Hash),
    cache: &Cache,
    pending: &[StoredEntry],
    requests: &[Request],
    prepared: &[Prepared],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Worked, LedgerError> {
    work_timed::<B>(
        conn,
        base,
        cache,
        pending,
        requests,
        prepared,
        now,
        lists,
        &mut WorkTimes::default(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn work_timed<B: Backend>(
    conn: &mut B::Conn,
    base: (u64, Hash),
    cache: &Cache,
    pending: &[StoredEntry],
    requests: &[Request],
    prepared: &[Prepared],
    now: DateTime<Utc>,
    lists: &ClassificationLists,
    times: &mut WorkTimes,
) -> Result<Worked, LedgerError> {
    assert_eq!(requests.len(), prepared.len(), "one Prepared per request");
    let started = std::time::Instant::now();
    let (mut seq, mut hash) = base;
    let keys: Vec<String> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
    let mut recorded = B::find_keys(conn, &keys).await?;
    if !pending.is_empty() {
        let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
        for entry in pending {
            if wanted.contains(entry.idempotency_key.as_str()) {
                recorded.insert(entry.idempotency_key.clone(), entry.clone());
            }
        }
    }

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
    let missing_holds = from_cache(&mut book.holds, &cache.holds, &needs.holds);
    if !missing_holds.is_empty() || needs.expired_holds_at.is_some() {
        B::load_holds(conn, &missing_holds, needs.expired_holds_at, &mut book).await?;
    }
    if let Some(at) = needs.expired_holds_at {
        // Storage lists the holds open and expired as it stands; the cache knows better for
        // every hold it has (it may have been closed, or created, since).
        for hold in cache.holds.values() {
            let expired = hold.state == crate::book::HoldState::Open && hold.expires_at <= at;
            if expired || book.holds.contains(&hold.id) {
                book.holds.load(hold.id.clone(), hold.clone());
            }
        }
    }
    needs.add_hold_dependents(requests, book.holds.values());
    let missing = needs.take_cached(&mut book, cache);
    B::load(conn, &missing, &mut book).await?;
    let loaded = std::time::Instant::now();
    times.read += loaded - started;

    let recorded_at = format_time(now);
    let recorded_at_json = serde_json::to_string(&now)?;
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
                let body = entry_body_at(seq, &recorded_at_json, request, actions, &posted);
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
    times.apply += loaded.elapsed();
    book.assert_sound();
    Ok(Worked {
        base,
        results,
        book,
        entries,
        head: (seq, hash),
    })
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
