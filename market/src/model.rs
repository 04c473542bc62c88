//! An in-memory ledger with holds that applies settlement instructions and checks the contract
//! strictly: the executable specification of what the real ledger integrator must do, and the
//! balance model of the property tests.

use crate::ids::{AccountId, InstrumentId};
use crate::settlement::{Asset, Balances, HoldId, Settlement};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ContractViolation {
    #[error("hold {0:?} was placed twice")]
    DuplicateHold(HoldId),
    #[error("hold {0:?} is not open")]
    UnknownHold(HoldId),
    #[error("hold of zero for {0:?}")]
    EmptyHold(HoldId),
    #[error("{holder} cannot hold {amount} of {asset:?}: {available} available")]
    Insufficient {
        holder: AccountId,
        asset: Asset,
        amount: u64,
        available: u64,
    },
    #[error("hold {hold:?} has {remaining} left, {amount} posted")]
    OverPost {
        hold: HoldId,
        remaining: u64,
        amount: u64,
    },
    #[error("hold {0:?} is of another asset or holder than the instruction says")]
    Mismatch(HoldId),
    #[error("release of {amount} from {hold:?} whose remainder is {remaining}")]
    ReleaseMismatch {
        hold: HoldId,
        remaining: u64,
        amount: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenHold {
    holder: AccountId,
    asset: Asset,
    remaining: u64,
}

#[derive(Clone, Debug, Default)]
pub struct LedgerModel {
    posted: BTreeMap<(AccountId, Asset), u64>,
    held: BTreeMap<(AccountId, Asset), u64>,
    holds: BTreeMap<HoldId, OpenHold>,
    closed: BTreeSet<HoldId>,
}

impl LedgerModel {
    /// Credits an account from outside the market (allocation, cash deposit).
    pub fn deposit(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.posted.entry((holder, asset)).or_default() += amount;
    }

    pub fn apply_all(&mut self, settlements: &[Settlement]) -> Result<(), ContractViolation> {
        settlements.iter().try_for_each(|s| self.apply(s))
    }

    pub fn apply(&mut self, settlement: &Settlement) -> Result<(), ContractViolation> {
        match *settlement {
            Settlement::PlaceHold {
                hold,
                holder,
                asset,
                amount,
            } => self.place(hold, holder, asset, amount),
            Settlement::DeliveryVersusPayment {
                instrument,
                seller,
                buyer,
                quantity_t,
                rights_hold,
                cash_fen,
                cash_hold,
                cash_to,
                ..
            } => {
                // Both legs are checked before either is applied: one atomic batch.
                self.check_post(rights_hold, seller, Asset::Rights(instrument), quantity_t)?;
                self.check_post(cash_hold, buyer, Asset::CashFen, cash_fen)?;
                self.post(rights_hold, buyer, quantity_t);
                self.post(cash_hold, cash_to, cash_fen);
                Ok(())
            }
            Settlement::ReleaseHold {
                hold,
                holder,
                asset,
                amount,
            } => self.release(hold, holder, asset, amount),
        }
    }

    pub fn posted(&self, holder: AccountId, asset: Asset) -> u64 {
        self.posted.get(&(holder, asset)).copied().unwrap_or(0)
    }

    pub fn held(&self, holder: AccountId, asset: Asset) -> u64 {
        self.held.get(&(holder, asset)).copied().unwrap_or(0)
    }

    /// Σ posted balances of `asset` over all accounts: constant under settlement.
    pub fn total(&self, asset: Asset) -> u64 {
        self.posted
            .iter()
            .filter(|((_, a), _)| *a == asset)
            .map(|(_, &v)| v)
            .sum()
    }

    pub fn open_holds(&self) -> usize {
        self.holds.len()
    }

    fn place(
        &mut self,
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    ) -> Result<(), ContractViolation> {
        if self.holds.contains_key(&hold) || self.closed.contains(&hold) {
            return Err(ContractViolation::DuplicateHold(hold));
        }
        if amount == 0 {
            return Err(ContractViolation::EmptyHold(hold));
        }
        let available = self.available(holder, asset);
        if available < amount {
            return Err(ContractViolation::Insufficient {
                holder,
                asset,
                amount,
                available,
            });
        }
        *self.held.entry((holder, asset)).or_default() += amount;
        self.holds.insert(
            hold,
            OpenHold {
                holder,
                asset,
                remaining: amount,
            },
        );
        Ok(())
    }

    fn check_post(
        &self,
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    ) -> Result<(), ContractViolation> {
        let open = self
            .holds
            .get(&hold)
            .ok_or(ContractViolation::UnknownHold(hold))?;
        if open.holder != holder || open.asset != asset {
            return Err(ContractViolation::Mismatch(hold));
        }
        if amount > open.remaining {
            return Err(ContractViolation::OverPost {
                hold,
                remaining: open.remaining,
                amount,
            });
        }
        Ok(())
    }

    /// Moves `amount` out of a checked hold to `to`; a hold used up exactly is closed.
    fn post(&mut self, hold: HoldId, to: AccountId, amount: u64) {
        let Some(open) = self.holds.get_mut(&hold) else {
            return;
        };
        open.remaining -= amount;
        let OpenHold {
            holder,
            asset,
            remaining,
        } = *open;
        if remaining == 0 {
            self.holds.remove(&hold);
            self.closed.insert(hold);
        }
        *self.held.entry((holder, asset)).or_default() -= amount;
        *self.posted.entry((holder, asset)).or_default() -= amount;
        *self.posted.entry((to, asset)).or_default() += amount;
    }

    fn release(
        &mut self,
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    ) -> Result<(), ContractViolation> {
        let open = *self
            .holds
            .get(&hold)
            .ok_or(ContractViolation::UnknownHold(hold))?;
        if open.holder != holder || open.asset != asset {
            return Err(ContractViolation::Mismatch(hold));
        }
        if amount == 0 || amount != open.remaining {
            return Err(ContractViolation::ReleaseMismatch {
                hold,
                remaining: open.remaining,
                amount,
            });
        }
        self.holds.remove(&hold);
        self.closed.insert(hold);
        *self.held.entry((holder, asset)).or_default() -= amount;
        Ok(())
    }
}

impl Balances for LedgerModel {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        self.posted(holder, asset) - self.held(holder, asset)
    }

    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64 {
        self.posted(holder, Asset::Rights(instrument))
    }
}
