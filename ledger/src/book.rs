//! The in-memory view of the rows a batch touches, with an undo log so a refused request can be
//! rolled back without touching the others in its batch. Storage loads a [`Book`], the state
//! machine in [`crate::apply`] changes it, storage writes back what changed.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountKey};
use crate::amount::Units;
use crate::enterprise::Enterprise;
use crate::instrument::{Instrument, Pollutant, Region};
use crate::request::Measure;

/// A table of rows keyed by text, remembering what changed and how to undo it.
///
/// **The prefetch tripwire**: once a batch has [`Table::probe`]d the keys it asked storage
/// for (found or not), naming any other key (`get`, `contains`, `put`) is a bug in
/// `Needs::add_action` (a row never read would be taken as absent, and a balance written from
/// zero over the stored one); debug builds panic there. A table nobody probed (verification
/// builds its own) is not checked.
#[derive(Debug, Clone)]
pub struct Table<V> {
    rows: HashMap<String, V>,
    loaded: BTreeSet<String>,
    dirty: BTreeSet<String>,
    undo: Vec<(String, Option<V>)>,
    /// Keys asked of storage this batch; `None` until probed. Kept in debug builds only.
    probed: Option<HashSet<String>>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            rows: HashMap::new(),
            loaded: BTreeSet::new(),
            dirty: BTreeSet::new(),
            undo: Vec::new(),
            probed: None,
        }
    }
}

impl<V: Clone> Table<V> {
    /// Adds a row as it is in storage: not dirty, not undoable.
    pub fn load(&mut self, key: String, value: V) {
        self.loaded.insert(key.clone());
        self.rows.insert(key, value);
    }

    /// Marks `keys` as asked of storage, found or not: see the tripwire above.
    pub fn probe<'a>(&mut self, keys: impl IntoIterator<Item = &'a String>) {
        if cfg!(debug_assertions) {
            let probed = self.probed.get_or_insert_with(HashSet::new);
            probed.extend(keys.into_iter().cloned());
        }
    }

    fn check_probed(&self, key: &str) {
        if let Some(probed) = &self.probed {
            assert!(
                probed.contains(key) || self.rows.contains_key(key),
                "{key} was never asked of storage this batch: add it in Needs::add_action"
            );
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.check_probed(key);
        self.rows.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.check_probed(key);
        self.rows.contains_key(key)
    }

    pub fn put(&mut self, key: String, value: V) {
        self.check_probed(&key);
        let old = self.rows.insert(key.clone(), value);
        // Most rows a batch changes, it changes many times: clone the key only the first time.
        if !self.dirty.contains(&key) {
            self.dirty.insert(key.clone());
        }
        self.undo.push((key, old));
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.rows.values()
    }

    /// Every row, loaded or changed.
    pub fn rows(&self) -> impl Iterator<Item = (&String, &V)> {
        self.rows.iter()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn mark(&self) -> usize {
        self.undo.len()
    }

    fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((key, old)) = self.undo.pop() else {
                break;
            };
            match old {
                Some(value) => self.rows.insert(key, value),
                None => self.rows.remove(&key),
            };
        }
    }

    fn forget_undo(&mut self) {
        self.undo.clear();
    }

    /// Rows changed since loading, in key order (sorted, so writes lock rows in a stable order).
    pub fn changed(&self) -> impl Iterator<Item = (&String, &V)> {
        self.dirty
            .iter()
            .filter_map(|key| self.rows.get_key_value(key))
    }

    /// Rows that did not exist in storage: for insert-only tables.
    pub fn created(&self) -> impl Iterator<Item = (&String, &V)> {
        self.changed()
            .filter(|(key, _)| !self.loaded.contains(*key))
    }

    /// Whether `key` is a row this batch created (changed, and not in storage).
    pub fn is_created(&self, key: &str) -> bool {
        self.dirty.contains(key) && !self.loaded.contains(key)
    }

    /// Marks every row as written: after a commit, the next batch starts clean.
    pub fn settle(&mut self) {
        self.loaded.extend(
            self.dirty
                .iter()
                .filter(|k| self.rows.contains_key(*k))
                .cloned(),
        );
        self.dirty.clear();
        self.undo.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Open,
    Posted,
    Voided,
    Expired,
    /// Closed by `release_hold_code`: the code may be placed again.
    Released,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Open => "open",
            HoldState::Posted => "posted",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
            HoldState::Released => "released",
        }
    }

    pub fn parse(text: &str) -> Option<HoldState> {
        Some(match text {
            "open" => HoldState::Open,
            "posted" => HoldState::Posted,
            "voided" => HoldState::Voided,
            "expired" => HoldState::Expired,
            "released" => HoldState::Released,
            _ => return None,
        })
    }
}

/// An amount taken from a holder into escrow, to be posted to someone, voided, or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub instrument: String,
    /// The account the amount came from and returns to.
    pub holder: AccountKey,
    pub amount: Units,
    pub remaining: Units,
    pub expires_at: DateTime<Utc>,
    pub state: HoldState,
}

/// A certified reduction: capacity an enterprise freed, now in the bureau's reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduction {
    pub id: String,
    pub enterprise: String,
    pub instrument: String,
    pub units: Units,
    pub measure: Measure,
    pub evidence: String,
    pub seq: u64,
}

/// Everything a batch reads and writes.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub pollutants: Table<Pollutant>,
    pub regions: Table<Region>,
    pub instruments: Table<Instrument>,
    /// Registered enterprises. Batches load only that a code exists (`None`); a record is held
    /// only where this batch registered or updated it.
    pub enterprises: Table<Option<Enterprise>>,
    pub accounts: Table<Account>,
    pub holds: Table<Hold>,
    pub reductions: Table<Reduction>,
}

/// Where to roll back to if a request is refused.
#[derive(Debug, Clone, Copy)]
pub struct Mark([usize; 7]);

impl Book {
    pub fn mark(&self) -> Mark {
        Mark([
            self.pollutants.mark(),
            self.regions.mark(),
            self.instruments.mark(),
            self.enterprises.mark(),
            self.accounts.mark(),
            self.holds.mark(),
            self.reductions.mark(),
        ])
    }

    pub fn rollback(&mut self, mark: Mark) {
        let [p, r, i, e, a, h, d] = mark.0;
        self.pollutants.rollback(p);
        self.regions.rollback(r);
        self.instruments.rollback(i);
        self.enterprises.rollback(e);
        self.accounts.rollback(a);
        self.holds.rollback(h);
        self.reductions.rollback(d);
    }

    /// A request succeeded: its changes can no longer be rolled back.
    pub fn keep(&mut self) {
        self.pollutants.forget_undo();
        self.regions.forget_undo();
        self.instruments.forget_undo();
        self.enterprises.forget_undo();
        self.accounts.forget_undo();
        self.holds.forget_undo();
        self.reductions.forget_undo();
    }

    /// Marks every key a batch asked for as probed (the tripwire on [`Table`]).
    pub fn probe(&mut self, needs: &crate::batch::Needs) {
        self.pollutants.probe(&needs.pollutants);
        self.regions.probe(&needs.regions);
        self.instruments.probe(&needs.instruments);
        self.enterprises.probe(&needs.enterprises);
        self.accounts.probe(&needs.accounts);
        self.holds.probe(&needs.holds);
        self.reductions.probe(&needs.reductions);
    }

    /// Panics if a batch is about to write an account below zero that may not go there: the
    /// rules refuse every such movement, so this never happens.
    pub fn assert_sound(&self) {
        for (id, account) in self.accounts.changed() {
            assert!(
                account.key.kind.may_go_negative() || account.balance() >= 0,
                "a batch would write {id} at {} units",
                account.balance()
            );
        }
    }

    /// The account's current state, or a new empty one.
    pub fn account(&self, key: &AccountKey) -> Account {
        self.accounts
            .get(&key.id())
            .cloned()
            .unwrap_or_else(|| Account::new(key.clone()))
    }
}
