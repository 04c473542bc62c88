//! The engine's [`Balances`] view, derived from the ledger journal alone.
//!
//! [`JournalView`] folds every journal entry's postings (and its instrument definitions,
//! enterprise registrations and freezes) into exact ledger units per ledger account, so a fresh
//! process rebuilds it from the journal with no other read. [`Overlay`] holds what the commands
//! of the batch being executed have held or delivered but the ledger has not committed yet (in
//! market units), plus the market's own open holds for the settlement-contract checks.

use crate::ledger_bridge::LedgerMapping;
use ledger::{AccountKey, AccountKind, Action, Party, Posting, PostingCode};
use market::ids::{AccountId, InstrumentId};
use market::settlement::{Asset, Balances, Settlement};
use market::{ContractViolation, HoldBook, HoldStore};
use std::collections::{BTreeSet, HashMap};

/// A ledger hold as the postings show it.
#[derive(Clone, Debug)]
struct LedgerHold {
    holder: String,
    remaining: i128,
}

/// Exact ledger balances (in the instrument's minor units) of every holding and reserve
/// account, open holds by holder, frozen accounts, instrument scales and registered
/// enterprises, as of journal entry `cursor`.
#[derive(Clone, Debug, Default)]
pub struct JournalView {
    /// `owner/kind/instrument` → credits − debits.
    balance: HashMap<String, i128>,
    /// holder account → its amounts in open holds.
    held: HashMap<String, i128>,
    holds: HashMap<String, LedgerHold>,
    frozen: BTreeSet<String>,
    /// instrument code → (scale, is cash).
    instruments: HashMap<String, (u32, bool)>,
    enterprises: BTreeSet<String>,
    /// (market account, asset) → (ledger account id, minor units per market unit).
    resolved: HashMap<(AccountId, Asset), (String, i128)>,
}

impl JournalView {
    /// Folds one entry's actions (definitions, registrations, freezes) and postings in.
    pub fn apply_entry(&mut self, actions: &[Action], postings: &[Posting]) {
        for action in actions {
            match action {
                Action::DefineInstrument { instrument } => {
                    self.instruments.insert(
                        instrument.code.clone(),
                        (instrument.scale, instrument.is_cash()),
                    );
                }
                Action::RegisterEnterprise { enterprise } => {
                    self.enterprises
                        .insert(enterprise.credit_code.as_str().to_owned());
                }
                Action::Freeze {
                    instrument, holder, ..
                } => {
                    self.frozen.insert(party_account(holder, instrument));
                }
                Action::Unfreeze { instrument, holder } => {
                    self.frozen.remove(&party_account(holder, instrument));
                }
                _ => {}
            }
        }
        for posting in postings {
            self.apply_posting(posting);
        }
    }

    fn apply_posting(&mut self, posting: &Posting) {
        let units = i128::from(posting.units);
        *self.balance.entry(posting.debit.clone()).or_default() -= units;
        *self.balance.entry(posting.credit.clone()).or_default() += units;
        let Some(reference) = &posting.reference else {
            return;
        };
        match posting.code {
            PostingCode::Hold => {
                *self.held.entry(posting.debit.clone()).or_default() += units;
                self.holds.insert(
                    reference.clone(),
                    LedgerHold {
                        holder: posting.debit.clone(),
                        remaining: units,
                    },
                );
            }
            PostingCode::Trade
            | PostingCode::Auction
            | PostingCode::Transfer
            | PostingCode::Allocation
            | PostingCode::HoldVoid
            | PostingCode::HoldExpiry => {
                // Out of escrow under a hold: a post, a void or an expiry.
                if let Some(hold) = self.holds.get_mut(reference) {
                    hold.remaining -= units;
                    *self.held.entry(hold.holder.clone()).or_default() -= units;
                    if hold.remaining <= 0 {
                        self.holds.remove(reference);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn instrument(&self, code: &str) -> Option<(u32, bool)> {
        self.instruments.get(code).copied()
    }

    pub fn is_registered(&self, credit_code: &str) -> bool {
        self.enterprises.contains(credit_code)
    }

    /// Recomputes which ledger account backs each mapped (account, asset): after a mapping
    /// change or a new instrument definition.
    pub fn resolve(&mut self, mapping: &LedgerMapping) {
        self.resolved.clear();
        let mut assets: Vec<(Asset, &str)> = vec![(Asset::CashFen, mapping.cash_instrument())];
        assets.extend(
            mapping
                .instruments()
                .map(|(id, code)| (Asset::Rights(id), code)),
        );
        for (account, party) in mapping.accounts() {
            for &(asset, code) in &assets {
                let Some((scale, _)) = self.instrument(code) else {
                    continue;
                };
                // Cash is counted in fen, rights in whole tonnes.
                let market_scale = if asset == Asset::CashFen { 2 } else { 0 };
                let factor = 10_i128.pow(scale.saturating_sub(market_scale));
                self.resolved
                    .insert((account, asset), (party_account(party, code), factor));
            }
        }
    }

    fn units(&self, map: &HashMap<String, i128>, holder: AccountId, asset: Asset) -> i128 {
        match self.resolved.get(&(holder, asset)) {
            Some((id, factor)) => map.get(id).copied().unwrap_or(0) / factor,
            None => 0,
        }
    }

    fn is_frozen(&self, holder: AccountId, asset: Asset) -> bool {
        !self.frozen.is_empty()
            && self
                .resolved
                .get(&(holder, asset))
                .is_some_and(|(id, _)| self.frozen.contains(id))
    }

    /// The ledger balance of a mapped account in market units (rounded down), net of holds.
    pub fn balance(&self, holder: AccountId, asset: Asset) -> i128 {
        self.units(&self.balance, holder, asset)
    }

    /// What a mapped account has in open ledger holds, in market units (rounded down).
    pub fn held(&self, holder: AccountId, asset: Asset) -> i128 {
        self.units(&self.held, holder, asset)
    }
}

/// The ledger account id of a party's holding (or the bureau's reserve) of an instrument.
pub fn party_account(party: &Party, instrument: &str) -> String {
    match party {
        Party::Reserve => AccountKey::bureau(AccountKind::Reserve, instrument).id(),
        Party::Enterprise(code) => AccountKey::holding(code, instrument).id(),
    }
}

/// The market's open holds (for the contract checks) and the not-yet-committed effect of the
/// batch being executed.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    book: HoldBook,
    /// (balance, held) changes since the last commit, in market units.
    delta: Delta,
}

type Delta = HashMap<(AccountId, Asset), (i128, i128)>;

impl Overlay {
    pub fn open_holds(&self) -> usize {
        self.book.open_holds()
    }

    /// Credits `amount` in the batch's changes: for tests without a journal.
    #[cfg(test)]
    pub(crate) fn deposit(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        self.delta.entry((holder, asset)).or_default().0 += i128::from(amount);
    }

    /// The batch was committed (its postings are in the journal view now) or abandoned.
    pub fn clear_delta(&mut self) {
        self.delta.clear();
    }

    /// Applies one instruction after checking it against the settlement contract and the
    /// balances it sees; on a violation nothing changes.
    pub fn apply(
        &mut self,
        view: &JournalView,
        settlement: &Settlement,
    ) -> Result<(), ContractViolation> {
        let mut pending = Pending {
            view,
            delta: &mut self.delta,
        };
        self.book.apply(&mut pending, settlement)
    }
}

/// The journal view with the batch's changes, as the contract checks read and change them.
struct Pending<'a> {
    view: &'a JournalView,
    delta: &'a mut Delta,
}

impl HoldStore for Pending<'_> {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        available(self.view, self.delta, holder, asset)
    }

    fn hold(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        let entry = self.delta.entry((holder, asset)).or_default();
        entry.0 -= i128::from(amount);
        entry.1 += i128::from(amount);
    }

    fn release(&mut self, holder: AccountId, asset: Asset, amount: u64) {
        let entry = self.delta.entry((holder, asset)).or_default();
        entry.0 += i128::from(amount);
        entry.1 -= i128::from(amount);
    }

    fn post(&mut self, holder: AccountId, to: AccountId, asset: Asset, amount: u64) {
        self.delta.entry((holder, asset)).or_default().1 -= i128::from(amount);
        self.delta.entry((to, asset)).or_default().0 += i128::from(amount);
    }
}

/// The journal view plus the batch's overlay: what the engine reads.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub view: &'a JournalView,
    pub overlay: &'a Overlay,
}

/// The (balance, held) change of one account in `delta`.
fn change(delta: &Delta, holder: AccountId, asset: Asset) -> (i128, i128) {
    if delta.is_empty() {
        return (0, 0);
    }
    delta.get(&(holder, asset)).copied().unwrap_or((0, 0))
}

/// What `holder` may hold: nothing on a ledger-frozen account, else its balance with the batch's
/// changes.
fn available(view: &JournalView, delta: &Delta, holder: AccountId, asset: Asset) -> u64 {
    if view.is_frozen(holder, asset) {
        return 0;
    }
    clamp(view.balance(holder, asset) + change(delta, holder, asset).0)
}

fn clamp(value: i128) -> u64 {
    u64::try_from(value.max(0)).unwrap_or(u64::MAX)
}

impl Balances for View<'_> {
    fn available(&self, holder: AccountId, asset: Asset) -> u64 {
        available(self.view, &self.overlay.delta, holder, asset)
    }

    fn is_frozen(&self, holder: AccountId, asset: Asset) -> bool {
        self.view.is_frozen(holder, asset)
    }

    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64 {
        let asset = Asset::Rights(instrument);
        let (balance, held) = change(&self.overlay.delta, holder, asset);
        clamp(self.view.balance(holder, asset) + self.view.held(holder, asset) + balance + held)
    }
}
