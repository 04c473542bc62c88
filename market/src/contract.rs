//! The settlement contract, written once: which instructions are valid against the open holds
//! and the balances, and what they change.
//!
//! [`HoldBook`] owns the open holds and makes every check; a [`HoldStore`] keeps the balances,
//! the one thing its users store differently: [`crate::LedgerModel`] (posted and held amounts)
//! here, and in the `exchange` crate the settlement bridge's `LedgerBalances` (the ledger's
//! balances net of holds) and the durable market's `Overlay` (changes over the journal view).

use crate::ids::AccountId;
use crate::settlement::{Asset, HoldId, Settlement};
use std::collections::{BTreeSet, HashMap};
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

/// Balances as one user of [`HoldBook`] keeps them. The book calls the changes only after its
/// checks passed, so they cannot fail.
pub trait HoldStore {
    /// What `holder` may put on hold of `asset` now.
    fn available(&self, holder: AccountId, asset: Asset) -> u64;
    /// `amount` goes from `holder`'s available balance into a hold.
    fn hold(&mut self, holder: AccountId, asset: Asset, amount: u64);
    /// `amount` of `holder`'s holds goes back to its available balance.
    fn release(&mut self, holder: AccountId, asset: Asset, amount: u64);
    /// `amount` of `holder`'s holds is delivered to `to`.
    fn post(&mut self, holder: AccountId, to: AccountId, asset: Asset, amount: u64);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenHold {
    holder: AccountId,
    asset: Asset,
    remaining: u64,
}

/// The open holds, checked and changed by each instruction.
#[derive(Clone, Debug, Default)]
pub struct HoldBook {
    open: HashMap<HoldId, OpenHold>,
    /// Holds closed so far, kept only by [`HoldBook::remembering_closed`] (the model), which
    /// then refuses to place a closed hold again; the bridges check the open holds only.
    closed: Option<BTreeSet<HoldId>>,
}

impl HoldBook {
    pub fn remembering_closed() -> Self {
        HoldBook {
            open: HashMap::new(),
            closed: Some(BTreeSet::new()),
        }
    }

    pub fn open_holds(&self) -> usize {
        self.open.len()
    }

    /// Checks one instruction against the contract and `store`'s balances, then applies it to
    /// both; on a violation nothing changes. Both legs of a delivery are checked before either
    /// is posted: one atomic batch.
    pub fn apply(
        &mut self,
        store: &mut impl HoldStore,
        settlement: &Settlement,
    ) -> Result<(), ContractViolation> {
        match *settlement {
            Settlement::PlaceHold {
                hold,
                holder,
                asset,
                amount,
            } => {
                let closed = self.closed.as_ref().is_some_and(|c| c.contains(&hold));
                if closed || self.open.contains_key(&hold) {
                    return Err(ContractViolation::DuplicateHold(hold));
                }
                if amount == 0 {
                    return Err(ContractViolation::EmptyHold(hold));
                }
                let available = store.available(holder, asset);
                if available < amount {
                    return Err(ContractViolation::Insufficient {
                        holder,
                        asset,
                        amount,
                        available,
                    });
                }
                store.hold(holder, asset, amount);
                self.open.insert(
                    hold,
                    OpenHold {
                        holder,
                        asset,
                        remaining: amount,
                    },
                );
            }
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
                let rights = Asset::Rights(instrument);
                self.check_post(rights_hold, seller, rights, quantity_t)?;
                self.check_post(cash_hold, buyer, Asset::CashFen, cash_fen)?;
                self.post(store, rights_hold, buyer, quantity_t);
                self.post(store, cash_hold, cash_to, cash_fen);
            }
            Settlement::ReleaseHold {
                hold,
                holder,
                asset,
                amount,
            } => {
                let open = self.find(hold, holder, asset)?;
                if amount == 0 || amount != open.remaining {
                    return Err(ContractViolation::ReleaseMismatch {
                        hold,
                        remaining: open.remaining,
                        amount,
                    });
                }
                self.close(hold);
                store.release(holder, asset, amount);
            }
        }
        Ok(())
    }

    /// The open hold `hold`, if it is `holder`'s hold of `asset`.
    fn find(
        &self,
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
    ) -> Result<OpenHold, ContractViolation> {
        let open = *self
            .open
            .get(&hold)
            .ok_or(ContractViolation::UnknownHold(hold))?;
        if open.holder != holder || open.asset != asset {
            return Err(ContractViolation::Mismatch(hold));
        }
        Ok(open)
    }

    fn check_post(
        &self,
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    ) -> Result<(), ContractViolation> {
        let open = self.find(hold, holder, asset)?;
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
    fn post(&mut self, store: &mut impl HoldStore, hold: HoldId, to: AccountId, amount: u64) {
        let Some(open) = self.open.get_mut(&hold) else {
            return;
        };
        open.remaining -= amount;
        let OpenHold {
            holder,
            asset,
            remaining,
        } = *open;
        if remaining == 0 {
            self.close(hold);
        }
        store.post(holder, to, asset, amount);
    }

    fn close(&mut self, hold: HoldId) {
        self.open.remove(&hold);
        if let Some(closed) = &mut self.closed {
            closed.insert(hold);
        }
    }
}
