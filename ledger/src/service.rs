//! The ledger as callers use it: [`Ledger::submit`] sends a request to one writer task per process,
//! which takes whatever requests are waiting (up to [`LedgerOptions::batch_max`]) and commits them
//! in one transaction. Under load, batches grow by themselves; when idle, a request commits alone
//! without waiting, so there is no added latency.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{Backend, Prepared, run_prepared_batch};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::instrument::default_pollutants;
use crate::journal::Receipt;
use crate::request::{Action, Request};
use crate::store::Store;

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
        match &store {
            Store::Sqlite(backend) => spawn_writer(backend.clone(), inbox, options.clone(), lists),
            Store::Postgres(backend) => {
                spawn_writer(backend.clone(), inbox, options.clone(), lists)
            }
        }
        let ledger = Ledger { store, jobs };
        ledger.submit(genesis()).await?;
        Ok(ledger)
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

    /// Submits several independent requests together; each succeeds or fails on its own.
    pub async fn submit_many(
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

fn spawn_writer<B: Backend + 'static>(
    backend: B,
    mut inbox: mpsc::Receiver<Job>,
    options: LedgerOptions,
    lists: Arc<ClassificationLists>,
) {
    tokio::spawn(async move {
        while let Some(first) = inbox.recv().await {
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
            let now = (options.clock)();
            let outcome = run_prepared_batch(&backend, &requests, &prepared, now, &lists).await;
            reply_all(jobs, &sizes, outcome);
        }
    });
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
