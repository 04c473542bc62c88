//! The engine's [`Balances`] view of the ledger: a snapshot loaded from storage, then kept current
//! by applying every settlement the bridge posts (write-through), so each command sees the holds
//! placed by earlier ones without a database read per order.

use super::BridgeError;
use super::mapping::{LedgerMapping, market_units};
use ledger::{AccountKind, Ledger};
use market::ids::{AccountId, InstrumentId};
use market::settlement::{Asset, Balances, Settlement};
use market::{ContractViolation, HoldBook, HoldStore};
use std::collections::{BTreeSet, HashMap};

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
    amounts: Amounts,
    /// Holds placed through the bridge and still open, to check each post and release.
    book: HoldBook,
}

/// The ledger's amounts: balances net of holds, what is held, and the frozen accounts.
#[derive(Clone, Debug, Default)]
struct Amounts {
    balance: HashMap<(AccountId, Asset), u64>,
    held: HashMap<(AccountId, Asset), u64>,
    frozen: BTreeSet<(AccountId, Asset)>,
}

impl HoldStore for Amounts {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        if self.frozen.contains(&(holder, asset)) {
            return 0;
        }
        get(&self.balance, holder, asset)
    }

    fn hold(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.balance.entry((holder, asset)).or_default() -= amount;
        *self.held.entry((holder, asset)).or_default() += amount;
    }

    fn release(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.held.entry((holder, asset)).or_default() -= amount;
        *self.balance.entry((holder, asset)).or_default() += amount;
    }

    fn post(&mut self, holder: AccountId, to: AccountId, asset: Asset, amount: u64) {
        *self.held.entry((holder, asset)).or_default() -= amount;
        *self.balance.entry((to, asset)).or_default() += amount;
    }
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
            out.amounts
                .balance
                .insert((account, asset), market_units(asset, row.balance));
            if row.frozen {
                out.amounts.frozen.insert((account, asset));
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
            *out.amounts.held.entry((account, asset)).or_default() += market_units(asset, value);
        }
        Ok(out)
    }

    /// Takes the amounts of a fresh snapshot, keeping the holds tracked here.
    pub(crate) fn replace_amounts(&mut self, fresh: LedgerBalances) {
        self.amounts = fresh.amounts;
    }

    /// Every mapped account and asset with a balance or an open hold, as
    /// `(account, asset, balance, held)`, sorted: for comparisons in tests and reports.
    pub fn entries(&self) -> Vec<(AccountId, Asset, u64, u64)> {
        let mut keys: Vec<(AccountId, Asset)> = self
            .amounts
            .balance
            .keys()
            .chain(self.amounts.held.keys())
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
        get(&self.amounts.balance, holder, asset)
    }

    /// What `holder` has in open holds of `asset`.
    pub fn held(&self, holder: AccountId, asset: Asset) -> u64 {
        get(&self.amounts.held, holder, asset)
    }

    /// Credits `amount` as if the ledger had it: for tests without a database.
    #[cfg(test)]
    pub(crate) fn deposit(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        *self.amounts.balance.entry((holder, asset)).or_default() += amount;
    }

    /// Open holds placed through this bridge.
    pub fn open_holds(&self) -> usize {
        self.book.open_holds()
    }

    /// Applies one instruction, checking it against the settlement contract first (the checks of
    /// [`market::LedgerModel`], over the open holds only); on a violation nothing changes.
    pub fn apply(&mut self, settlement: &Settlement) -> Result<(), ContractViolation> {
        self.book.apply(&mut self.amounts, settlement)
    }
}

impl Balances for LedgerBalances {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        self.amounts.available(holder, asset)
    }

    fn is_frozen(&self, holder: AccountId, asset: Asset) -> bool {
        self.amounts.frozen.contains(&(holder, asset))
    }

    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64 {
        let asset = Asset::Rights(instrument);
        self.balance(holder, asset) + self.held(holder, asset)
    }
}

fn get(map: &HashMap<(AccountId, Asset), u64>, holder: AccountId, asset: Asset) -> u64 {
    map.get(&(holder, asset)).copied().unwrap_or(0)
}

fn asset_of(mapping: &LedgerMapping, code: &str) -> Option<Asset> {
    if code == mapping.cash_instrument() {
        Some(Asset::CashFen)
    } else {
        mapping.instrument_of(code).map(Asset::Rights)
    }
}
