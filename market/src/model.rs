//! An in-memory ledger with holds that applies settlement instructions and checks the contract
//! strictly: the executable specification of what the real ledger integrator must do, and the
//! balance model of the property tests. The checks themselves are `crate::contract`'s, shared with
//! the bridges' balance views.

use crate::contract::{HoldBook, HoldStore};
use crate::ids::{AccountId, InstrumentId};
use crate::settlement::{Asset, Balances, Settlement};
use std::collections::BTreeMap;

pub use crate::contract::ContractViolation;

#[derive(Clone, Debug)]
pub struct LedgerModel {
    amounts: Amounts,
    book: HoldBook,
}

impl Default for LedgerModel {
    fn default() -> Self {
        LedgerModel {
            amounts: Amounts::default(),
            // Strict: a hold id is never placed twice, even after it closed.
            book: HoldBook::remembering_closed(),
        }
    }
}

/// Posted balances (held amounts included) and the held part of them.
#[derive(Clone, Debug, Default)]
struct Amounts {
    posted: BTreeMap<(AccountId, Asset), u64>,
    held: BTreeMap<(AccountId, Asset), u64>,
}

impl HoldStore for Amounts {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        get(&self.posted, holder, asset) - get(&self.held, holder, asset)
    }

    fn hold(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.held.entry((holder, asset)).or_default() += amount;
    }

    fn release(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.held.entry((holder, asset)).or_default() -= amount;
    }

    fn post(&mut self, holder: AccountId, to: AccountId, asset: Asset, amount: u64) {
        *self.held.entry((holder, asset)).or_default() -= amount;
        *self.posted.entry((holder, asset)).or_default() -= amount;
        *self.posted.entry((to, asset)).or_default() += amount;
    }
}

fn get(map: &BTreeMap<(AccountId, Asset), u64>, holder: AccountId, asset: Asset) -> u64 {
    map.get(&(holder, asset)).copied().unwrap_or(0)
}

impl LedgerModel {
    /// Credits an account from outside the market (allocation, cash deposit).
    pub fn deposit(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.amounts.posted.entry((holder, asset)).or_default() += amount;
    }

    pub fn apply_all(&mut self, settlements: &[Settlement]) -> Result<(), ContractViolation> {
        settlements.iter().try_for_each(|s| self.apply(s))
    }

    pub fn apply(&mut self, settlement: &Settlement) -> Result<(), ContractViolation> {
        self.book.apply(&mut self.amounts, settlement)
    }

    pub fn posted(&self, holder: AccountId, asset: Asset) -> u64 {
        get(&self.amounts.posted, holder, asset)
    }

    pub fn held(&self, holder: AccountId, asset: Asset) -> u64 {
        get(&self.amounts.held, holder, asset)
    }

    /// Σ posted balances of `asset` over all accounts: constant under settlement.
    pub fn total(&self, asset: Asset) -> u64 {
        self.amounts
            .posted
            .iter()
            .filter(|((_, a), _)| *a == asset)
            .map(|(_, &v)| v)
            .sum()
    }

    pub fn open_holds(&self) -> usize {
        self.book.open_holds()
    }
}

impl Balances for LedgerModel {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        self.amounts.available(holder, asset)
    }

    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64 {
        self.posted(holder, Asset::Rights(instrument))
    }
}
