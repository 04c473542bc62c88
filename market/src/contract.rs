//! The settlement contract, written once: which instructions are valid against the open holds
//! and the balances, and what they change.
//!
//! [`HoldBook`] owns the open holds and makes every check; a [`HoldStore`] keeps the balances,
//! the one thing its users store differently: [`crate::LedgerModel`] (posted and held amounts),
//! [`crate::LedgerBalances`] (the ledger's balances net of holds) and the durable market's
//! [`crate::durable::Overlay`] (changes over the journal view).

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
pub(crate) trait HoldStore {
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
pub(crate) struct HoldBook {
    open: HashMap<HoldId, OpenHold>,
    /// Holds closed so far, kept only by [`HoldBook::remembering_closed`] (the model), which
    /// then refuses to place a closed hold again; the bridges check the open holds only.
    closed: Option<BTreeSet<HoldId>>,
}

impl HoldBook {
    pub(crate) fn remembering_closed() -> Self {
        HoldBook {
            open: HashMap::new(),
            closed: Some(BTreeSet::new()),
        }
    }

    pub(crate) fn open_holds(&self) -> usize {
        self.open.len()
    }

    /// Checks one instruction against the contract and `store`'s balances, then applies it to
    /// both; on a violation nothing changes. Both legs of a delivery are checked before either
    /// is posted: one atomic batch.
    pub(crate) fn apply(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::{JournalView, Overlay, View};
    use crate::ids::{InstrumentId, TransferId};
    use crate::settlement::{Balances, SettlementRef};
    use crate::{LedgerBalances, LedgerModel};
    use ContractViolation::*;

    const SELLER: AccountId = AccountId(1);
    const BUYER: AccountId = AccountId(2);
    const INSTRUMENT: InstrumentId = InstrumentId(1);
    const RIGHTS: Asset = Asset::Rights(INSTRUMENT);
    const CASH: Asset = Asset::CashFen;

    fn rights_hold(n: u64) -> HoldId {
        HoldId::TransferRights {
            transfer: TransferId(n),
        }
    }

    fn cash_hold(n: u64) -> HoldId {
        HoldId::TransferCash {
            transfer: TransferId(n),
        }
    }

    fn place(hold: HoldId, holder: AccountId, asset: Asset, amount: u64) -> Settlement {
        Settlement::PlaceHold {
            hold,
            holder,
            asset,
            amount,
        }
    }

    fn release(hold: HoldId, holder: AccountId, asset: Asset, amount: u64) -> Settlement {
        Settlement::ReleaseHold {
            hold,
            holder,
            asset,
            amount,
        }
    }

    /// SELLER delivers `quantity_t` from `rights` against `cash_fen` from BUYER's `cash`.
    fn dvp(rights: HoldId, cash: HoldId, quantity_t: u64, cash_fen: u64) -> Settlement {
        Settlement::DeliveryVersusPayment {
            reference: SettlementRef::Transfer {
                transfer: TransferId(0),
            },
            instrument: INSTRUMENT,
            seller: SELLER,
            buyer: BUYER,
            quantity_t,
            rights_hold: rights,
            cash_fen,
            cash_hold: cash,
            cash_to: SELLER,
        }
    }

    /// Instructions and what the contract answers, starting from 10 t of SELLER and 1,000 fen
    /// of BUYER: every violation once, each next to the valid instruction it differs from.
    fn script() -> Vec<(Settlement, Result<(), ContractViolation>)> {
        let (r1, c1, r2) = (rights_hold(1), cash_hold(1), rights_hold(2));
        let insufficient = Insufficient {
            holder: SELLER,
            asset: RIGHTS,
            amount: 11,
            available: 10,
        };
        let over = |hold, remaining, amount| OverPost {
            hold,
            remaining,
            amount,
        };
        let mismatch = |hold, remaining, amount| ReleaseMismatch {
            hold,
            remaining,
            amount,
        };
        vec![
            (place(r1, SELLER, RIGHTS, 0), Err(EmptyHold(r1))),
            (place(r1, SELLER, RIGHTS, 11), Err(insufficient)),
            (place(r1, SELLER, RIGHTS, 6), Ok(())),
            (place(r1, SELLER, RIGHTS, 1), Err(DuplicateHold(r1))),
            (place(c1, BUYER, CASH, 600), Ok(())),
            (dvp(r1, c1, 7, 100), Err(over(r1, 6, 7))),
            // The rights leg alone is valid: nothing is posted either.
            (dvp(r1, c1, 2, 601), Err(over(c1, 600, 601))),
            (dvp(c1, c1, 2, 200), Err(Mismatch(c1))),
            (dvp(r1, r2, 2, 200), Err(UnknownHold(r2))),
            (dvp(r1, c1, 2, 200), Ok(())),
            (release(r1, SELLER, RIGHTS, 3), Err(mismatch(r1, 4, 3))),
            (release(r1, BUYER, RIGHTS, 4), Err(Mismatch(r1))),
            (release(c1, BUYER, CASH, 0), Err(mismatch(c1, 400, 0))),
            (release(r1, SELLER, RIGHTS, 4), Ok(())),
            (release(r1, SELLER, RIGHTS, 4), Err(UnknownHold(r1))),
            (place(r2, SELLER, RIGHTS, 8), Ok(())),
            // Used up exactly: both holds close.
            (dvp(r2, c1, 8, 400), Ok(())),
            (dvp(r2, c1, 0, 0), Err(UnknownHold(r2))),
        ]
    }

    /// The model, the bridge's balances and the durable overlay give the same answer to every
    /// instruction and end with the same balances, since they share the book.
    #[test]
    fn every_store_answers_the_contract_alike() {
        let mut model = LedgerModel::default();
        let mut bridge = LedgerBalances::default();
        let (journal, mut overlay) = (JournalView::default(), Overlay::default());
        for (holder, asset, amount) in [(SELLER, RIGHTS, 10), (BUYER, CASH, 1_000)] {
            model.deposit(holder, asset, amount);
            bridge.deposit(holder, asset, amount);
            overlay.deposit(holder, asset, amount);
        }
        for (step, (settlement, expected)) in script().into_iter().enumerate() {
            assert_eq!(model.apply(&settlement), expected, "model, step {step}");
            assert_eq!(bridge.apply(&settlement), expected, "bridge, step {step}");
            let durable = overlay.apply(&journal, &settlement);
            assert_eq!(durable, expected, "overlay, step {step}");
            let view = View {
                view: &journal,
                overlay: &overlay,
            };
            for (holder, asset) in [
                (SELLER, RIGHTS),
                (BUYER, RIGHTS),
                (SELLER, CASH),
                (BUYER, CASH),
            ] {
                let available = model.available(holder, asset);
                assert_eq!(bridge.available(holder, asset), available, "step {step}");
                assert_eq!(view.available(holder, asset), available, "step {step}");
            }
            assert_eq!(bridge.open_holds(), model.open_holds(), "step {step}");
            assert_eq!(overlay.open_holds(), model.open_holds(), "step {step}");
        }
        assert_eq!(model.open_holds(), 0);
        assert_eq!(model.posted(BUYER, RIGHTS), 10);
        assert_eq!(model.posted(SELLER, RIGHTS), 0);
        assert_eq!(model.posted(SELLER, CASH), 600);
        assert_eq!(model.posted(BUYER, CASH), 400);
        assert_eq!(bridge.position_t(BUYER, INSTRUMENT), 10);
    }

    /// Only the model remembers closed holds; the bridges check the open ones.
    #[test]
    fn only_the_model_refuses_a_closed_hold_again() {
        let hold = rights_hold(1);
        let mut model = LedgerModel::default();
        let mut bridge = LedgerBalances::default();
        model.deposit(SELLER, RIGHTS, 2);
        bridge.deposit(SELLER, RIGHTS, 2);
        for settlement in [
            place(hold, SELLER, RIGHTS, 1),
            release(hold, SELLER, RIGHTS, 1),
        ] {
            assert_eq!(model.apply(&settlement), Ok(()));
            assert_eq!(bridge.apply(&settlement), Ok(()));
        }
        let again = place(hold, SELLER, RIGHTS, 1);
        assert_eq!(model.apply(&again), Err(DuplicateHold(hold)));
        assert_eq!(bridge.apply(&again), Ok(()));
    }
}
