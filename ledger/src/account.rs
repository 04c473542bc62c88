//! Accounts: one per (owner, kind, instrument). Enterprises have holding accounts; the bureau has
//! the reserve and the system accounts that every double-entry posting needs a side in.

use serde::{Deserialize, Serialize};

use crate::amount::Units;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// An enterprise's rights, quotas or cash.
    Holding,
    /// The bureau's reserve: freed capacity, unallocated quota, auction proceeds.
    Reserve,
    /// Where new units come from; its balance is minus everything issued.
    Issuance,
    /// Units surrendered for compliance.
    Surrender,
    /// Units cancelled or retired.
    Cancellation,
    /// Amounts held (escrowed) for pending operations: orders, bids, proposed transfers.
    Escrow,
    /// The settlement bank's side of cash deposits and withdrawals; minus all cash in the system.
    SettlementBank,
}

impl AccountKind {
    /// Source accounts may go below zero (their negative balance is what was put into the system);
    /// every other account must stay at or above zero.
    pub fn may_go_negative(self) -> bool {
        matches!(self, AccountKind::Issuance | AccountKind::SettlementBank)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Holding => "holding",
            AccountKind::Reserve => "reserve",
            AccountKind::Issuance => "issuance",
            AccountKind::Surrender => "surrender",
            AccountKind::Cancellation => "cancellation",
            AccountKind::Escrow => "escrow",
            AccountKind::SettlementBank => "settlement_bank",
        }
    }

    pub fn parse(text: &str) -> Option<AccountKind> {
        Some(match text {
            "holding" => AccountKind::Holding,
            "reserve" => AccountKind::Reserve,
            "issuance" => AccountKind::Issuance,
            "surrender" => AccountKind::Surrender,
            "cancellation" => AccountKind::Cancellation,
            "escrow" => AccountKind::Escrow,
            "settlement_bank" => AccountKind::SettlementBank,
            _ => return None,
        })
    }
}

/// The owner of every system account.
pub const BUREAU: &str = "bureau";

/// An account's identity. Its text form `owner/kind/instrument` is the primary key in storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountKey {
    /// A unified social credit code, or `bureau`.
    pub owner: String,
    pub kind: AccountKind,
    pub instrument: String,
}

impl AccountKey {
    pub fn holding(owner: &str, instrument: &str) -> AccountKey {
        AccountKey {
            owner: owner.to_owned(),
            kind: AccountKind::Holding,
            instrument: instrument.to_owned(),
        }
    }

    pub fn bureau(kind: AccountKind, instrument: &str) -> AccountKey {
        AccountKey {
            owner: BUREAU.to_owned(),
            kind,
            instrument: instrument.to_owned(),
        }
    }

    pub fn id(&self) -> String {
        AccountKey::id_of(&self.owner, self.kind, &self.instrument)
    }

    /// The id of the account `owner/kind/instrument`, without building its key first. Called
    /// several times per posting, so it assembles the text directly rather than through `format!`.
    pub fn id_of(owner: &str, kind: AccountKind, instrument: &str) -> String {
        let kind = kind.as_str();
        let mut id = String::with_capacity(owner.len() + kind.len() + instrument.len() + 2);
        id.push_str(owner);
        id.push('/');
        id.push_str(kind);
        id.push('/');
        id.push_str(instrument);
        id
    }

    pub fn parse(id: &str) -> Option<AccountKey> {
        let mut parts = id.splitn(3, '/');
        let owner = parts.next()?;
        let kind = AccountKind::parse(parts.next()?)?;
        let instrument = parts.next()?;
        Some(AccountKey {
            owner: owner.to_owned(),
            kind,
            instrument: instrument.to_owned(),
        })
    }
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.owner,
            self.kind.as_str(),
            self.instrument
        )
    }
}

/// An account's running totals. Balance is `credits − debits`: every posting adds its amount to
/// one account's credits and another's debits, so balances per instrument always sum to zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub key: AccountKey,
    pub debits: Units,
    pub credits: Units,
    pub frozen: bool,
    /// Why the account is frozen, when the freeze said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<FreezeNote>,
}

/// What a freeze action said about itself: named in every refusal the freeze causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeNote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl FreezeNote {
    /// The note of a freeze with this reason and reference, `None` if it gave neither.
    pub fn of(reason: &Option<String>, reference: &Option<String>) -> Option<FreezeNote> {
        (reason.is_some() || reference.is_some()).then(|| FreezeNote {
            reason: reason.clone(),
            reference: reference.clone(),
        })
    }
}

impl Account {
    pub fn new(key: AccountKey) -> Account {
        Account {
            key,
            debits: 0,
            credits: 0,
            frozen: false,
            freeze: None,
        }
    }

    pub fn balance(&self) -> i128 {
        i128::from(self.credits) - i128::from(self.debits)
    }
}
