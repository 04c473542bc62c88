//! Who is calling: the [`Caller`] extractor reads `Authorization: Bearer ets_…`, finds the key
//! (through a short-lived cache), applies the key's rate limit, and hands the handler a principal
//! whose checks ([`Caller::require`], [`Caller::require_owner`]) answer 403 with the reason.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as GovernorLimiter};

use crate::error::ApiError;
use crate::keys::{KEY_PREFIX, Principal, Role, find_by_hash, hash_key};
use crate::state::AppState;

/// An authenticated, rate-checked caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Refuses unless the caller has one of `roles`; the answer names the role it has and the
    /// ones the operation needs.
    pub fn require(&self, roles: &[Role], operation: &str) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            return Ok(());
        }
        let needed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "{operation} needs a {} key; this key's role is {}",
            needed.join(" or "),
            self.0.role
        )))
    }

    /// The credit code of an enterprise caller.
    pub fn enterprise(&self) -> Option<&str> {
        self.0.enterprise.as_deref()
    }

    /// Refuses an enterprise caller acting on anything but its own accounts; the bureau may act on
    /// any owner.
    pub fn require_owner(&self, owner: &str, operation: &str) -> Result<(), ApiError> {
        match self.0.role {
            Role::Bureau => Ok(()),
            Role::Enterprise if self.enterprise() == Some(owner) => Ok(()),
            Role::Enterprise => Err(ApiError::forbidden(format!(
                "{operation}: this key acts for enterprise {}, not {owner}; an enterprise key reaches its own accounts only",
                self.enterprise().unwrap_or("?")
            ))),
            Role::Economist => Err(ApiError::forbidden(format!(
                "{operation}: an economist key reads market data and anonymised aggregates only, never an enterprise's holdings"
            ))),
        }
    }

    /// The actor recorded in the journal: role and key id, never the secret.
    pub fn actor(&self) -> String {
        match &self.0.enterprise {
            Some(code) => format!("{}:{}:{}", self.0.role, code, self.0.key_id),
            None => format!("{}:{}", self.0.role, self.0.key_id),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::MissingKey)?;
        let text = header.to_str().map_err(|_| ApiError::UnknownKey)?;
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(ApiError::MissingKey)?;
        if !key.starts_with(KEY_PREFIX) {
            return Err(ApiError::UnknownKey);
        }
        let principal = state
            .keys()
            .lookup(state, &hash_key(key))
            .await?
            .ok_or(ApiError::UnknownKey)?;
        state.limiter().check(state, &principal.key_id)?;
        Ok(Caller(principal))
    }
}

/// Keys already looked up, by hash, for a short time: most requests then need no key query.
/// Unknown keys are remembered too, more briefly, so a client retrying a bad key cannot make every
/// request a database read. Two moka caches, each bounded in size and lifetime: a revoked key
/// stops working on every server within the known-key lifetime (`--key-cache-seconds`).
pub(crate) struct KeyCache {
    known: moka::sync::Cache<String, Principal>,
    unknown: moka::sync::Cache<String, ()>,
}

const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(2);
const KEY_CACHE_MAX: u64 = 10_000;

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            known: moka::sync::Cache::builder()
                .max_capacity(KEY_CACHE_MAX)
                .time_to_live(ttl)
                .build(),
            unknown: moka::sync::Cache::builder()
                .max_capacity(KEY_CACHE_MAX)
                .time_to_live(UNKNOWN_KEY_TTL)
                .build(),
        }
    }

    async fn lookup(&self, state: &AppState, hash: &str) -> Result<Option<Principal>, ApiError> {
        if let Some(found) = self.known.get(hash) {
            return Ok(Some(found));
        }
        if self.unknown.contains_key(hash) {
            return Ok(None);
        }
        let found = find_by_hash(state.db(), hash).await?;
        match &found {
            Some(principal) => self.known.insert(hash.to_owned(), principal.clone()),
            None => self.unknown.insert(hash.to_owned(), ()),
        }
        Ok(found)
    }
}

/// A token bucket per key (governor's GCRA: `per_second` sustained, `burst` at once). Per
/// process: with several servers a key's allowance is per server, which bounds the load each
/// server takes, the purpose of the limit.
pub(crate) struct RateLimiter {
    per_second: u32,
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// Keys seen before the limiter forgets the idle ones (whose buckets are full again anyway).
const RATE_KEYS_RETAINED: usize = 10_000;

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimiter {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let clock = DefaultClock::default();
        RateLimiter {
            per_second: per_second.get(),
            limiter: GovernorLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock,
        }
    }

    fn check(&self, state: &AppState, key_id: &str) -> Result<(), ApiError> {
        if self.limiter.len() > RATE_KEYS_RETAINED {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&key_id.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                state.metrics().rate_limited();
                let wait = not_until.wait_time_from(self.clock.now());
                Err(ApiError::RateLimited {
                    per_second: self.per_second,
                    retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
            }
        }
    }
}
