//! The ledger as callers use it: [`Ledger::submit`] sends a request to one writer task per process,
//! which takes whatever requests are waiting (up to [`LedgerOptions::batch_max`]) and commits them
//! in one transaction. Under load, batches grow by themselves; when idle, a request commits alone
//! without waiting, so there is no added latency. While one batch is written and committed, the
//! writer already works out the next one (see `spawn_writer`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Backend, Cache, Prepared, WorkTimes, Worked, Writes, run_begun, work_timed};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::instrument::default_pollutants;
use crate::journal::{Receipt, StoredEntry};
use crate::request::{Action, Request};
use crate::store::Store;
use crate::text::check_request_text;

/// The time source. Tests and replays pass their own; the default is the system clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Clone)]
pub struct LedgerOptions {
    /// Most requests committed in one transaction.
    pub batch_max: usize,
    pub clock: Clock,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            batch_max: 8_192,
            clock: Arc::new(Utc::now),
        }
    }
}

struct Job {
    requests: Vec<Request>,
    /// Computed by the submitter, so the single writer does less per request.
    prepared: Vec<Prepared>,
    reply: oneshot::Sender<Result<Vec<Result<Receipt, LedgerError>>, LedgerError>>,
}

/// A handle to an open ledger; cheap to clone, shared by every task of a process.
#[derive(Clone)]
pub struct Ledger {
    store: Store,
    jobs: mpsc::Sender<Job>,
    stats: Arc<Stats>,
    clock: Clock,
}

/// The idempotency key of the entry that defines the default pollutants in a new ledger.
pub const GENESIS_KEY: &str = "genesis";

impl Ledger {
    /// Opens the database at `url` (migrating it) and starts the writer. A new ledger's first
    /// journal entry defines the default pollutants, so verification replays from nothing.
    pub async fn open(url: &str, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        let store = Store::open(url).await?;
        let lists = Arc::new(
            ClassificationLists::embedded().map_err(|e| LedgerError::Corrupt(e.to_string()))?,
        );
        // Room for several full batches of waiting requests; beyond that, submitters wait.
        let (jobs, inbox) = mpsc::channel(4 * options.batch_max.max(1));
        let stats = Arc::new(Stats::default());
        match &store {
            Store::Sqlite(backend) => spawn_writer(
                backend.clone(),
                inbox,
                options.clone(),
                lists,
                stats.clone(),
            ),
            Store::Postgres(backend) => spawn_writer(
                backend.clone(),
                inbox,
                options.clone(),
                lists,
                stats.clone(),
            ),
        }
        let ledger = Ledger {
            store,
            jobs,
            stats,
            clock: options.clock,
        };
        ledger.submit(genesis()).await?;
        Ok(ledger)
    }

    /// What the writer has done so far (counts and time per phase), for benchmarks and monitoring.
    pub fn writer_stats(&self) -> WriterStats {
        self.stats.snapshot()
    }

    /// The time by the ledger's clock: the one every entry is stamped with, and the one the
    /// layers above use to decide what is valid today (tests move it; nothing else reads the
    /// system clock to decide).
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Reads go straight to storage.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Applies one request atomically; a retry with the same key returns the first receipt.
    pub async fn submit(&self, request: Request) -> Result<Receipt, LedgerError> {
        let mut results = self.submit_many(vec![request]).await?;
        results.pop().unwrap_or(Err(LedgerError::WriterStopped))
    }

    /// Submits several independent requests together; each succeeds or fails on its own. A
    /// request outside the text policy ([`crate::text`]) is refused here, before it reaches a
    /// batch.
    pub async fn submit_many(
        &self,
        requests: Vec<Request>,
    ) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
        let checks: Vec<Result<(), LedgerError>> =
            requests.iter().map(check_request_text).collect();
        if checks.iter().all(Result::is_ok) {
            return self.send(requests).await;
        }
        let good: Vec<Request> = requests
            .into_iter()
            .zip(&checks)
            .filter_map(|(request, check)| check.is_ok().then_some(request))
            .collect();
        let answers = match good.is_empty() {
            true => Vec::new(),
            false => self.send(good).await?,
        };
        Ok(crate::batch::merge_checked(checks, answers))
    }

    /// Hands requests to the writer and waits for their outcomes.
    async fn send(
        &self,
        requests: Vec<Request>,
    ) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
        let (reply, answer) = oneshot::channel();
        let prepared = requests.iter().map(Prepared::new).collect();
        self.jobs
            .send(Job {
                requests,
                prepared,
                reply,
            })
            .await
            .map_err(|_| LedgerError::WriterStopped)?;
        answer.await.map_err(|_| LedgerError::WriterStopped)?
    }
}

fn genesis() -> Request {
    Request {
        idempotency_key: GENESIS_KEY.into(),
        actor: "system".into(),
        memo: Some("default pollutants".into()),
        actions: default_pollutants()
            .into_iter()
            .map(|pollutant| Action::DefinePollutant { pollutant })
            .collect(),
    }
}

/// Requests gathered from the inbox to be committed together.
struct Gathered {
    jobs: Vec<Job>,
    sizes: Vec<usize>,
    requests: Vec<Request>,
    prepared: Vec<Prepared>,
    now: DateTime<Utc>,
}

impl Gathered {
    fn failed(self, error: LedgerError) -> Failed {
        Failed {
            jobs: self.jobs,
            sizes: self.sizes,
            requests: self.requests,
            prepared: self.prepared,
            now: self.now,
            error,
        }
    }
}

fn gather(first: Job, inbox: &mut mpsc::Receiver<Job>, options: &LedgerOptions) -> Gathered {
    let mut jobs = vec![first];
    let mut count = jobs[0].requests.len();
    while count < options.batch_max {
        match inbox.try_recv() {
            Ok(job) => {
                count += job.requests.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    let sizes: Vec<usize> = jobs.iter().map(|job| job.requests.len()).collect();
    let requests: Vec<Request> = jobs
        .iter_mut()
        .flat_map(|job| std::mem::take(&mut job.requests))
        .collect();
    let prepared: Vec<Prepared> = jobs
        .iter_mut()
        .flat_map(|job| std::mem::take(&mut job.prepared))
        .collect();
    Gathered {
        jobs,
        sizes,
        requests,
        prepared,
        now: (options.clock)(),
    }
}

/// A batch whose rows are being written and committed by its own task, which answers its
/// submitters when it commits; if it fails, it hands its members back for [`isolate`].
struct InFlight {
    commit: tokio::task::JoinHandle<Result<(), Option<Box<Failed>>>>,
    /// Its journal entries, which storage may not have yet.
    entries: Arc<Vec<StoredEntry>>,
}

/// A batch that storage refused as a whole: its members, not yet answered.
struct Failed {
    jobs: Vec<Job>,
    sizes: Vec<usize>,
    requests: Vec<Request>,
    prepared: Vec<Prepared>,
    now: DateTime<Utc>,
    error: LedgerError,
}

/// Waits for a committing batch; if storage refused it, retries its members in isolation (before
/// anything else is written, so the journal keeps their order). True if it committed.
async fn settle<B: Backend>(
    backend: &B,
    joined: Result<Result<(), Option<Box<Failed>>>, tokio::task::JoinError>,
    lists: &ClassificationLists,
) -> bool {
    match joined {
        Ok(Ok(())) => true,
        Ok(Err(Some(failed))) => {
            isolate(backend, *failed, lists).await;
            false
        }
        _ => false,
    }
}

/// The members of a batch that storage refused, retried so that only a faulty one fails: halves
/// in order, each in its own transaction, split again while they fail, down to single requests.
/// A request that still fails alone gets the error; every other one commits (or is refused by the
/// rules) exactly as it would have on its own. If a transaction cannot even begin, storage is
/// down, and every member not yet answered gets that error.
async fn isolate<B: Backend>(backend: &B, failed: Failed, lists: &ClassificationLists) {
    let count = failed.requests.len();
    tracing::warn!(error = %failed.error, requests = count, "batch refused by storage; isolating its requests");
    let mut results: Vec<Option<Result<Receipt, LedgerError>>> = (0..count).map(|_| None).collect();
    let mut ranges = std::collections::VecDeque::from([(0, count)]);
    while let Some((from, to)) = ranges.pop_front() {
        let begun = match backend.begin().await {
            Ok(begun) => begun,
            Err(error) => {
                let message = error.to_string();
                for slot in results.iter_mut().filter(|r| r.is_none()) {
                    *slot = Some(Err(LedgerError::BatchFailed(message.clone())));
                }
                break;
            }
        };
        let (requests, prepared) = (&failed.requests[from..to], &failed.prepared[from..to]);
        match run_begun::<B>(begun, requests, prepared, failed.now, lists).await {
            Ok(outcomes) => {
                for (slot, outcome) in results[from..to].iter_mut().zip(outcomes) {
                    *slot = Some(outcome);
                }
            }
            Err(error) if to - from == 1 => {
                results[from] = Some(Err(LedgerError::BatchFailed(error.to_string())));
            }
            Err(_) => {
                let middle = from + (to - from) / 2;
                ranges.push_front((middle, to));
                ranges.push_front((from, middle));
            }
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or(Err(LedgerError::WriterStopped)))
        .collect();
    reply_all(failed.jobs, &failed.sizes, Ok(results));
}

/// The writer: one per process. Batch N+1 is worked out (keys looked up on a reader connection,
/// rows taken from the writer's [`Cache`] or read there, requests applied) while batch N is
/// written and committed; the cache already holds N's rows, and N's entries are known. N+1 then
/// begins its own transaction, which locks the chain head, and is written only if the head is
/// exactly where N left it, i.e. N committed and no other writer (another process) committed in
/// between. Otherwise the cache is dropped and N+1 is worked out again inside its transaction,
/// as without the pipeline. A batch that storage refuses as a whole is retried in isolation
/// ([`isolate`]) before the next one is written.
fn spawn_writer<B: Backend>(
    backend: B,
    mut inbox: mpsc::Receiver<Job>,
    options: LedgerOptions,
    lists: Arc<ClassificationLists>,
    stats: Arc<Stats>,
) {
    tokio::spawn(async move {
        let mut inflight: Option<InFlight> = None;
        let mut cache = Cache::default();
        loop {
            let first = match inflight.as_mut() {
                None => match inbox.recv().await {
                    Some(job) => job,
                    None => break,
                },
                Some(running) => tokio::select! {
                    biased;
                    joined = &mut running.commit => {
                        inflight = None;
                        if !settle(&backend, joined, &lists).await {
                            cache.clear();
                        }
                        continue;
                    }
                    job = inbox.recv() => match job {
                        Some(job) => job,
                        None => break,
                    },
                },
            };
            let batch = gather(first, &mut inbox, &options);
            inflight = write_batch(&backend, batch, inflight, &mut cache, &lists, &stats).await;
        }
        if let Some(running) = inflight {
            settle(&backend, running.commit.await, &lists).await;
        }
    });
}

/// Works out one gathered batch (ahead, if the one before is still committing) and starts its
/// commit; returns it in flight, or `None` if it had nothing to write or could not be worked out.
async fn write_batch<B: Backend>(
    backend: &B,
    batch: Gathered,
    inflight: Option<InFlight>,
    cache: &mut Cache,
    lists: &ClassificationLists,
    stats: &Arc<Stats>,
) -> Option<InFlight> {
    let mut times = WorkTimes::default();
    // Work ahead only if the batch before is still committing; otherwise it is as cheap to read
    // inside this batch's own transaction.
    let ahead = match &inflight {
        Some(running) if !running.commit.is_finished() => {
            work_ahead(backend, cache, &running.entries, &batch, lists, &mut times).await
        }
        _ => None,
    };
    let waited = Instant::now();
    let committed = match inflight {
        Some(running) => settle(backend, running.commit.await, lists).await,
        None => true,
    };
    if !committed {
        cache.clear();
    }
    let (mut tx, seq, hash) = match backend.begin().await {
        Ok(begun) => begun,
        Err(error) => {
            cache.clear();
            reply_all(batch.jobs, &batch.sizes, Err(error));
            return None;
        }
    };
    stats.add(&stats.wait_ns, waited);
    if cache.head != Some((seq, hash)) {
        // Another writer moved the chain (or nothing is cached yet): read everything.
        cache.clear();
    }
    let worked = match ahead {
        Some(worked) if committed && worked.base == (seq, hash) => {
            stats.pipelined.fetch_add(1, Ordering::Relaxed);
            worked
        }
        _ => {
            let outcome = work_timed::<B>(
                &mut tx,
                (seq, hash),
                cache,
                &[],
                &batch.requests,
                &batch.prepared,
                batch.now,
                lists,
                &mut times,
            )
            .await;
            match outcome {
                Ok(worked) => worked,
                Err(error) => {
                    // Reading failed: perhaps because of one request's keys. Isolate it.
                    cache.clear();
                    drop(tx);
                    isolate(backend, batch.failed(error), lists).await;
                    return None;
                }
            }
        }
    };
    stats.record(&batch, &times);
    if worked.entries.is_empty() {
        // Nothing accepted (every request refused or replayed): nothing to write.
        drop(tx);
        reply_all(batch.jobs, &batch.sizes, Ok(worked.results));
        return None;
    }
    let absorbed = Instant::now();
    cache.absorb(&worked.book, worked.head);
    stats.add(&stats.apply_ns, absorbed);
    Some(spawn_commit::<B>(tx, batch, worked, stats.clone()))
}

/// Writes and commits a worked-out batch on its own task, which answers the submitters if it
/// commits, and otherwise hands the batch back (see [`settle`]).
fn spawn_commit<B: Backend>(
    mut tx: B::Tx,
    batch: Gathered,
    worked: Worked,
    stats: Arc<Stats>,
) -> InFlight {
    let (book, head, results) = (worked.book, worked.head, worked.results);
    let entries = Arc::new(worked.entries);
    let pending = entries.clone();
    let commit = tokio::spawn(async move {
        let started = Instant::now();
        let writes = Writes {
            book: &book,
            entries: &entries,
            head,
        };
        let written = crate::batch::write::<B>(&mut tx, writes).await;
        let wrote = Instant::now();
        stats.add(&stats.write_ns, started);
        let outcome = match written {
            Ok(()) => B::commit(tx).await,
            Err(error) => {
                drop(tx);
                Err(error)
            }
        };
        stats.add(&stats.commit_ns, wrote);
        match outcome {
            Ok(()) => {
                // Through the `metrics` facade: a no-op unless the process installed a recorder.
                metrics::histogram!(COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
                metrics::histogram!(GROUP_REQUESTS).record(batch.requests.len() as f64);
                reply_all(batch.jobs, &batch.sizes, Ok(results));
                Ok(())
            }
            Err(error) => Err(Some(Box::new(batch.failed(error)))),
        }
    });
    InFlight {
        commit,
        entries: pending,
    }
}

/// Works out `batch` on a reader connection, on top of the cache (which already has the rows of
/// the batch still committing, whose entries are `pending`). `None` if storage could not be read:
/// the batch is then worked out inside its transaction.
async fn work_ahead<B: Backend>(
    backend: &B,
    cache: &Cache,
    pending: &[StoredEntry],
    batch: &Gathered,
    lists: &ClassificationLists,
    times: &mut WorkTimes,
) -> Option<Worked> {
    let head = cache.head?;
    let mut reader = backend.reader().await.ok()?;
    work_timed::<B>(
        &mut reader,
        head,
        cache,
        pending,
        &batch.requests,
        &batch.prepared,
        batch.now,
        lists,
        times,
    )
    .await
    .ok()
}

/// Histogram of the time from writing a group's rows to its durable commit, in seconds.
pub const COMMIT_SECONDS: &str = "ets_ledger_commit_seconds";
/// Histogram of the number of requests per committed group.
pub const GROUP_REQUESTS: &str = "ets_ledger_group_commit_requests";

/// What the writer has done so far, for benchmarks and monitoring: counts, and the wall-clock
/// time spent in each phase (phases of consecutive batches overlap, so they need not add up).
#[derive(Debug, Default)]
struct Stats {
    batches: AtomicU64,
    requests: AtomicU64,
    pipelined: AtomicU64,
    read_ns: AtomicU64,
    apply_ns: AtomicU64,
    wait_ns: AtomicU64,
    write_ns: AtomicU64,
    commit_ns: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Batches worked out (including ones with nothing to write).
    pub batches: u64,
    /// Requests in them.
    pub requests: u64,
    /// Batches worked out ahead, while the one before committed, and kept.
    pub pipelined: u64,
    /// Looking up idempotency keys and reading rows.
    pub read: Duration,
    /// The state machine, journal bodies and hashes.
    pub apply: Duration,
    /// Waiting for the previous batch's commit and taking the chain-head lock.
    pub wait: Duration,
    /// Writing rows and journal entries.
    pub write: Duration,
    /// Committing (the durable flush).
    pub commit: Duration,
}

impl Stats {
    fn add(&self, counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn record(&self, batch: &Gathered, times: &WorkTimes) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests
            .fetch_add(batch.requests.len() as u64, Ordering::Relaxed);
        self.read_ns
            .fetch_add(times.read.as_nanos() as u64, Ordering::Relaxed);
        self.apply_ns
            .fetch_add(times.apply.as_nanos() as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WriterStats {
        let ns = |c: &AtomicU64| Duration::from_nanos(c.load(Ordering::Relaxed));
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            pipelined: self.pipelined.load(Ordering::Relaxed),
            read: ns(&self.read_ns),
            apply: ns(&self.apply_ns),
            wait: ns(&self.wait_ns),
            write: ns(&self.write_ns),
            commit: ns(&self.commit_ns),
        }
    }
}

/// Hands each job its share of the batch's results, in order.
fn reply_all(
    jobs: Vec<Job>,
    sizes: &[usize],
    outcome: Result<Vec<Result<Receipt, LedgerError>>, LedgerError>,
) {
    match outcome {
        Ok(results) => {
            let mut results = results.into_iter();
            for (job, &size) in jobs.into_iter().zip(sizes) {
                let _ = job.reply.send(Ok(results.by_ref().take(size).collect()));
            }
        }
        Err(error) => {
            let message = error.to_string();
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(LedgerError::BatchFailed(message.clone())));
            }
        }
    }
}
