//! Turning stored rows back into ledger values, shared by both backends.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::account::{Account, AccountKey};
use crate::book::{Hold, HoldState, Reduction};
use crate::error::LedgerError;
use crate::request::Measure;

pub fn record<T: DeserializeOwned>(text: String) -> Result<T, LedgerError> {
    Ok(serde_json::from_str(&text)?)
}

/// `(key, json)` for each row, ready to bind.
pub fn records<'a, T: Serialize + 'a>(
    rows: impl Iterator<Item = (&'a String, &'a T)>,
) -> Result<Vec<(String, String)>, LedgerError> {
    rows.map(|(key, value)| Ok((key.clone(), serde_json::to_string(value)?)))
        .collect()
}

/// `(code, json)` for each enterprise record written by a batch.
pub fn enterprise_records<'a>(
    rows: impl Iterator<Item = (&'a String, &'a Option<crate::enterprise::Enterprise>)>,
) -> Result<Vec<(String, String)>, LedgerError> {
    rows.filter_map(|(code, record)| record.as_ref().map(|r| (code, r)))
        .map(|(code, record)| Ok((code.clone(), serde_json::to_string(record)?)))
        .collect()
}

/// An account row; `freeze` is the freeze note's JSON text, if any.
pub fn account(
    id: String,
    debits: i64,
    credits: i64,
    frozen: bool,
    freeze: Option<String>,
) -> Result<Account, LedgerError> {
    let key = AccountKey::parse(&id)
        .ok_or_else(|| LedgerError::Corrupt(format!("account id {id:?} is malformed")))?;
    let freeze = freeze.map(|text| serde_json::from_str(&text)).transpose()?;
    Ok(Account {
        key,
        debits,
        credits,
        frozen,
        freeze,
    })
}

/// The freeze note as stored: JSON text, or NULL.
pub fn freeze_note(account: &Account) -> Option<String> {
    account
        .freeze
        .as_ref()
        .and_then(|note| serde_json::to_string(note).ok())
}

#[allow(clippy::too_many_arguments)]
pub fn hold(
    id: String,
    instrument: String,
    holder: String,
    amount: i64,
    remaining: i64,
    expires_at: String,
    state: String,
) -> Result<Hold, LedgerError> {
    let corrupt = |what: &str| LedgerError::Corrupt(format!("hold {id:?}: {what}"));
    Ok(Hold {
        holder: AccountKey::parse(&holder).ok_or_else(|| corrupt("malformed holder"))?,
        expires_at: chrono::DateTime::parse_from_rfc3339(&expires_at)
            .map_err(|_| corrupt("malformed expiry"))?
            .to_utc(),
        state: HoldState::parse(&state).ok_or_else(|| corrupt("unknown state"))?,
        id,
        instrument,
        amount,
        remaining,
    })
}

/// Batches only need to know that a reduction id is taken.
pub fn reduction_stub(id: String) -> Reduction {
    Reduction {
        id,
        enterprise: String::new(),
        instrument: String::new(),
        units: 0,
        measure: Measure::Upgrade,
        evidence: String::new(),
        seq: 0,
    }
}

pub fn measure(measure: Measure) -> String {
    serde_json::to_value(measure)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
