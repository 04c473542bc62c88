//! Per-account rules checked before anything is held or recorded: frozen accounts, holding
//! limits and daily purchase limits, each per instrument with an optional default.

use crate::error::MarketError;
use crate::ids::{AccountId, InstrumentId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A limit in tonnes for one instrument: a default for every account plus per-account overrides
/// (an override may be higher or lower than the default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitTable {
    default_t: BTreeMap<InstrumentId, u64>,
    per_account_t: BTreeMap<(InstrumentId, AccountId), u64>,
}

impl LimitTable {
    pub fn set_default(&mut self, instrument: InstrumentId, limit_t: u64) {
        self.default_t.insert(instrument, limit_t);
    }

    pub fn set_for(&mut self, instrument: InstrumentId, account: AccountId, limit_t: u64) {
        self.per_account_t.insert((instrument, account), limit_t);
    }

    /// Sets (`Some`) or lifts (`None`) the limit of `account`, or the default (`account: None`).
    /// Lifting an account's limit removes its override: the default, if any, applies again.
    pub fn set(
        &mut self,
        instrument: InstrumentId,
        account: Option<AccountId>,
        limit_t: Option<u64>,
    ) {
        match (account, limit_t) {
            (Some(account), Some(limit_t)) => self.set_for(instrument, account, limit_t),
            (None, Some(limit_t)) => self.set_default(instrument, limit_t),
            (Some(account), None) => {
                self.per_account_t.remove(&(instrument, account));
            }
            (None, None) => {
                self.default_t.remove(&instrument);
            }
        }
    }

    /// Whether any account has a limit for `instrument`.
    pub fn applies_to(&self, instrument: InstrumentId) -> bool {
        if self.per_account_t.is_empty() && self.default_t.is_empty() {
            return false;
        }
        self.default_t.contains_key(&instrument)
            || self
                .per_account_t
                .range((instrument, AccountId(0))..=(instrument, AccountId(u64::MAX)))
                .next()
                .is_some()
    }

    /// The limit that applies to `account`, if any.
    pub fn limit_t(&self, instrument: InstrumentId, account: AccountId) -> Option<u64> {
        if self.per_account_t.is_empty() && self.default_t.is_empty() {
            return None;
        }
        self.per_account_t
            .get(&(instrument, account))
            .or_else(|| self.default_t.get(&instrument))
            .copied()
    }
}

/// Rules about accounts, owned by the bureau's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRules {
    frozen: BTreeSet<AccountId>,
    /// Most an account may hold of an instrument, counting open purchases.
    pub holding_limits: LimitTable,
    /// Most an account may buy of an instrument in one trading day, counting open purchases.
    pub purchase_limits_per_day: LimitTable,
}

impl AccountRules {
    pub fn freeze(&mut self, account: AccountId) {
        self.frozen.insert(account);
    }

    pub fn unfreeze(&mut self, account: AccountId) {
        self.frozen.remove(&account);
    }

    pub fn is_frozen(&self, account: AccountId) -> bool {
        !self.frozen.is_empty() && self.frozen.contains(&account)
    }

    /// Whether holding or purchase limits apply to anyone for `instrument`.
    pub fn limits_apply_to(&self, instrument: InstrumentId) -> bool {
        self.holding_limits.applies_to(instrument)
            || self.purchase_limits_per_day.applies_to(instrument)
    }

    pub(crate) fn check_not_frozen(&self, account: AccountId) -> Result<(), MarketError> {
        if self.is_frozen(account) {
            return Err(MarketError::AccountFrozen(account));
        }
        Ok(())
    }

    /// Refuses a purchase that would take `holder` above its holding limit.
    pub(crate) fn check_holding(
        &self,
        holder: AccountId,
        instrument: InstrumentId,
        would_hold_t: u64,
    ) -> Result<(), MarketError> {
        match self.holding_limits.limit_t(instrument, holder) {
            Some(limit_t) if would_hold_t > limit_t => Err(MarketError::HoldingLimitExceeded {
                holder,
                instrument,
                would_hold_t,
                limit_t,
            }),
            _ => Ok(()),
        }
    }

    /// Refuses a purchase that would take `holder` above its daily purchase limit.
    pub(crate) fn check_purchase(
        &self,
        holder: AccountId,
        instrument: InstrumentId,
        would_buy_t: u64,
    ) -> Result<(), MarketError> {
        match self.purchase_limits_per_day.limit_t(instrument, holder) {
            Some(limit_t) if would_buy_t > limit_t => Err(MarketError::PurchaseLimitExceeded {
                holder,
                instrument,
                would_buy_t,
                limit_t,
            }),
            _ => Ok(()),
        }
    }
}
