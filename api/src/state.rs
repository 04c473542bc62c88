//! What every handler shares: the ledger, the API's own tables and per-process caches. Nothing
//! here is authoritative: keys and refusals live in the database, so any number of server
//! processes can serve the same ledger.

use std::sync::Arc;

use ledger::Ledger;

use crate::auth::{KeyCache, RateLimiter};
use crate::config::Config;
use crate::convert::Scales;
use crate::db::Db;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    db: Db,
    config: Config,
    keys: KeyCache,
    limiter: RateLimiter,
    metrics: Metrics,
    scales: Scales,
    market: crate::services::market::MarketService,
    scenario_runs: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Opens the ledger and the API's tables at `config.database_url`.
    pub async fn open(config: Config) -> Result<AppState, crate::error::ApiError> {
        let ledger = Ledger::open(&config.database_url, ledger::LedgerOptions::default()).await?;
        AppState::with_ledger(config, ledger).await
    }

    /// Serves an already open ledger (tests pass one with their own clock).
    pub async fn with_ledger(
        config: Config,
        ledger: Ledger,
    ) -> Result<AppState, crate::error::ApiError> {
        let db = Db::open(&config.database_url).await?;
        let market =
            crate::services::market::MarketService::new(ledger.clone(), config.calendar.clone());
        let scenario_runs = Arc::new(tokio::sync::Semaphore::new(config.limits.scenario_runs));
        let metrics = Metrics::new(ledger.clone());
        Ok(AppState {
            inner: Arc::new(Inner {
                keys: KeyCache::new(config.limits.key_cache_ttl),
                limiter: RateLimiter::new(config.limits.rate_per_second, config.limits.rate_burst),
                ledger,
                db,
                config,
                metrics,
                scales: Scales::default(),
                market,
                scenario_runs,
            }),
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// The time by the ledger's clock: every handler and service decides by it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.ledger.now()
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn scales(&self) -> &Scales {
        &self.inner.scales
    }

    /// The market, projected from the journal (see `services::market`).
    pub fn market(&self) -> &crate::services::market::MarketService {
        &self.inner.market
    }

    /// Scenario runs holding a slot now.
    pub fn scenario_runs_active(&self) -> usize {
        self.config()
            .limits
            .scenario_runs
            .saturating_sub(self.inner.scenario_runs.available_permits())
    }

    /// The scenario run slots (`Limits::scenario_runs`): a run holds one until its engine stops.
    pub(crate) fn scenario_runs(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.scenario_runs
    }
}
