//! The engine's [`Balances`] view of the ledger: a snapshot loaded from storage, then kept current
//! by applying every settlement the bridge posts (write-through), so each command sees the holds
//! placed by earlier ones without a database read per order.

use super::BridgeError;
use super::mapping::{LedgerMapping, market_units};
use crate::ids::{AccountId, InstrumentId};
use crate::model::ContractViolation;
use crate::settlement::{Asset, Balances, HoldId, Settlement};
use ledger::{AccountKind, Ledger};
use std::collections::{BTreeSet, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OpenHold {
    holder: AccountId,
    asset: Asset,
    remaining: u64,
}

/// Balances of the mapped accounts as the ledger has them, in market units.
///
/// * `available` = the ledger's holding (or reserve) balance, rounded down to whole tonnes or
///   fen; the ledger moves held amounts to escrow, so this is already net of open holds. A
///   ledger-frozen account has nothing available (the ledger would refuse its holds).
/// * `position_t` = that balance plus the holder's open holds of the instrument.
///
/// Accounts and instruments outside the mapping are ignored.
#[derive(Clone, Debug, Default)]
pub struct LedgerBalances {
    balance: HashMap<(AccountId, Asset), u64>,
    held: HashMap<(AccountId, Asset), u64>,
    frozen: BTreeSet<(AccountId, Asset)>,
    /// Holds placed through the bridge and still open, to check each post and release.
    holds: HashMap<HoldId, OpenHold>,
}

impl LedgerBalances {
    /// Reads every mapped account's balance and every open hold from the ledger.
    pub async fn load(ledger: &Ledger, mapping: &LedgerMapping) -> Result<Self, BridgeError> {
        let store = ledger.store();
        let mut out = LedgerBalances::default();
        for row in store.balances(None).await? {
            let party = match row.kind {
                AccountKind::Holding => ledger::Party::Enterprise(row.owner.clone()),
                AccountKind::Reserve => ledger::Party::Reserve,
                _ => continue,
            };
            let (Some(account), Some(asset)) = (
                mapping.account_of(&party),
                asset_of(mapping, &row.instrument),
            ) else {
                continue;
            };
            out.balance
                .insert((account, asset), market_units(asset, row.balance));
            if row.frozen {
                out.frozen.insert((account, asset));
            }
        }
        let scales: HashMap<String, u32> = store
            .instruments()
            .await?
            .into_iter()
            .map(|i| (i.code, i.scale))
            .collect();
        for hold in store.holds().await? {
            if hold.state != ledger::book::HoldState::Open {
                continue;
            }
            let party = match hold.holder.kind {
                AccountKind::Holding => ledger::Party::Enterprise(hold.holder.owner.clone()),
                AccountKind::Reserve => ledger::Party::Reserve,
                _ => continue,
            };
            let (Some(account), Some(asset), Some(&scale)) = (
                mapping.account_of(&party),
                asset_of(mapping, &hold.instrument),
                scales.get(&hold.instrument),
            ) else {
                continue;
            };
            let value = ledger::amount::to_decimal(hold.remaining, scale);
            *out.held.entry((account, asset)).or_default() += market_units(asset, value);
        }
        Ok(out)
    }

    /// Takes the amounts of a fresh snapshot, keeping the holds tracked here.
    pub(crate) fn replace_amounts(&mut self, fresh: LedgerBalances) {
        self.balance = fresh.balance;
        self.held = fresh.held;
        self.frozen = fresh.frozen;
    }

    /// Every mapped account and asset with a balance or an open hold, as
    /// `(account, asset, balance, held)`, sorted: for comparisons in tests and reports.
    pub fn entries(&self) -> Vec<(AccountId, Asset, u64, u64)> {
        let mut keys: Vec<(AccountId, Asset)> = self
            .balance
            .keys()
            .chain(self.held.keys())
            .copied()
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|(a, s)| (a, s, self.balance(a, s), self.held(a, s)))
            .filter(|&(_, _, b, h)| b != 0 || h != 0)
            .collect()
    }

    /// The ledger balance (net of holds, regardless of freezes).
    pub fn balance(&self, holder: AccountId, asset: Asset) -> u64 {
        self.balance.get(&(holder, asset)).copied().unwrap_or(0)
    }

    /// What `holder` has in open holds of `asset`.
    pub fn held(&self, holder: AccountId, asset: Asset) -> u64 {
        self.held.get(&(holder, asset)).copied().unwrap_or(0)
    }

    /// Open holds placed through this bridge.
    pub fn open_holds(&self) -> usize {
        self.holds.len()
    }

    /// Applies one instruction, checking it against the settlement contract first (the same
    /// checks as [`crate::LedgerModel`]); on a violation nothing changes.
    pub fn apply(&mut self, settlement: &Settlement) -> Result<(), ContractViolation> {
        match *settlement {
            Settlement::PlaceHold {
                hold,
                holder,
                asset,
                amount,
            } => {
                if self.holds.contains_key(&hold) {
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
                *self.balance.entry((holder, asset)).or_default() -= amount;
                *self.held.entry((holder, asset)).or_default() += amount;
                self.holds.insert(
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
                self.post(rights_hold, buyer, quantity_t);
                self.post(cash_hold, cash_to, cash_fen);
            }
            Settlement::ReleaseHold {
                hold,
                holder,
                asset,
                amount,
            } => {
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
                *self.held.entry((holder, asset)).or_default() -= amount;
                *self.balance.entry((holder, asset)).or_default() += amount;
            }
        }
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
        }
        *self.held.entry((holder, asset)).or_default() -= amount;
        *self.balance.entry((to, asset)).or_default() += amount;
    }
}

impl Balances for LedgerBalances {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        if self.frozen.contains(&(holder, asset)) {
            return 0;
        }
        self.balance(holder, asset)
    }

    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64 {
        let asset = Asset::Rights(instrument);
        self.balance(holder, asset) + self.held(holder, asset)
    }
}

fn asset_of(mapping: &LedgerMapping, code: &str) -> Option<Asset> {
    if code == mapping.cash_instrument() {
        Some(Asset::CashFen)
    } else {
        mapping.instrument_of(code).map(Asset::Rights)
    }
}
