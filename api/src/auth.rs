//! Who is calling: the [`Caller`] extractor reads `Authorization: Bearer ets_…`, finds the key
//! (through a short-lived cache), applies the key's rate limit, and hands the handler a principal
//! whose checks ([`Caller::require`], [`Caller::require_owner`]) answer 403 with the reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

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
        state.limiter().check(&principal.key_id)?;
        Ok(Caller(principal))
    }
}

/// Keys already looked up, by hash, for a short time: most requests then need no key query.
/// Unknown keys are remembered too, more briefly, so a client retrying a bad key cannot make every
/// request a database read.
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Option<Principal>, Instant)>>,
}

const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(2);
const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn lookup(&self, state: &AppState, hash: &str) -> Result<Option<Principal>, ApiError> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock()
            && let Some((found, at)) = entries.get(hash)
        {
            let ttl = if found.is_some() {
                self.ttl
            } else {
                UNKNOWN_KEY_TTL
            };
            if now.duration_since(*at) < ttl {
                return Ok(found.clone());
            }
        }
        let found = find_by_hash(state.db(), hash).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(hash.to_owned(), (found.clone(), now));
        }
        Ok(found)
    }
}

/// A token bucket per key. Per process: with several servers a key's allowance is per server,
/// which bounds the load each server takes, the purpose of the limit.
pub(crate) struct RateLimiter {
    per_second: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: per_second.max(1),
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key_id: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let (tokens, last) = buckets
            .entry(key_id.to_owned())
            .or_insert((f64::from(self.burst), now));
        let refill = now.duration_since(*last).as_secs_f64() * f64::from(self.per_second);
        *tokens = (*tokens + refill).min(f64::from(self.burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / f64::from(self.per_second);
            Err(ApiError::RateLimited {
                per_second: self.per_second,
                retry_after_s: wait.ceil().max(1.0) as u64,
            })
        }
    }
}
