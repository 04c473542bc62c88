//! Conversions from ledger types to the API's answers. Postings carry integer minor units; the
//! API shows decimals at each instrument's scale, which is immutable once an instrument is
//! defined, so the scales are cached per process and re-read only for an unknown code.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ledger::journal::{Entry, StoredEntry};
use ledger::{Instrument, InstrumentKind, Posting, Receipt};
use rust_decimal::Decimal;

use crate::error::ApiError;
use crate::model::{InstrumentBody, JournalEntryBody, PostingBody, ReceiptBody};
use crate::state::AppState;

#[derive(Default)]
pub(crate) struct Scales(Mutex<HashMap<String, u32>>);

impl Scales {
    fn get(&self, code: &str) -> Option<u32> {
        self.0
            .lock()
            .ok()
            .and_then(|scales| scales.get(code).copied())
    }

    fn fill(&self, instruments: &[Instrument]) {
        if let Ok(mut scales) = self.0.lock() {
            for instrument in instruments {
                scales.insert(instrument.code.clone(), instrument.scale);
            }
        }
    }
}

/// The scales of the instruments `postings` name, reading the register once if one is unknown.
async fn scales_for(
    state: &AppState,
    postings: &[Posting],
) -> Result<HashMap<String, u32>, ApiError> {
    let mut found = HashMap::new();
    let mut missing = false;
    for posting in postings {
        match state.scales().get(&posting.instrument) {
            Some(scale) => {
                found.insert(posting.instrument.clone(), scale);
            }
            None => missing = true,
        }
    }
    if missing {
        let instruments = state.ledger().store().instruments().await?;
        state.scales().fill(&instruments);
        for instrument in instruments {
            found.insert(instrument.code, instrument.scale);
        }
    }
    Ok(found)
}

fn posting_body(posting: Posting, scales: &HashMap<String, u32>) -> PostingBody {
    let scale = scales.get(&posting.instrument).copied().unwrap_or(0);
    PostingBody {
        amount: Decimal::new(posting.units, scale).to_string(),
        instrument: posting.instrument,
        debit: posting.debit,
        credit: posting.credit,
        code: posting.code.as_str().to_owned(),
        reference: posting.reference,
    }
}

pub(crate) async fn receipt_body(
    state: &AppState,
    receipt: Receipt,
) -> Result<ReceiptBody, ApiError> {
    let scales = scales_for(state, &receipt.postings).await?;
    Ok(ReceiptBody {
        seq: receipt.seq,
        recorded_at: ledger::journal::format_time(receipt.recorded_at),
        hash: receipt.hash,
        postings: receipt
            .postings
            .into_iter()
            .map(|p| posting_body(p, &scales))
            .collect(),
        replayed: receipt.replayed,
    })
}

pub(crate) async fn journal_entries(
    state: &AppState,
    stored: Vec<StoredEntry>,
) -> Result<Vec<JournalEntryBody>, ApiError> {
    let mut entries = Vec::with_capacity(stored.len());
    for row in stored {
        let entry: Entry = serde_json::from_str(&row.body)
            .map_err(|e| ApiError::Internal(format!("journal entry {}: {e}", row.seq)))?;
        let scales = scales_for(state, &entry.postings).await?;
        let actions = entry
            .request
            .actions
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::Internal(format!("journal entry {}: {e}", row.seq)))?;
        entries.push(JournalEntryBody {
            seq: row.seq,
            recorded_at: row.recorded_at,
            idempotency_key: row.idempotency_key,
            actor: entry.request.actor,
            memo: entry.request.memo,
            actions,
            postings: entry
                .postings
                .into_iter()
                .map(|p| posting_body(p, &scales))
                .collect(),
            prev_hash: hex::encode(row.prev_hash),
            hash: hex::encode(row.hash),
        });
    }
    Ok(entries)
}

pub(crate) fn instrument_body(instrument: Instrument) -> InstrumentBody {
    let mut details = BTreeMap::new();
    let kind = match instrument.kind {
        InstrumentKind::DischargeRight {
            pollutant,
            region,
            valid_from,
            valid_to,
        } => {
            details.insert("pollutant".to_owned(), pollutant);
            details.insert("region".to_owned(), region);
            details.insert("valid_from".to_owned(), valid_from.to_string());
            details.insert("valid_to".to_owned(), valid_to.to_string());
            "discharge_right"
        }
        InstrumentKind::CarbonAllowance { vintage } => {
            details.insert("vintage".to_owned(), vintage.to_string());
            "carbon_allowance"
        }
        InstrumentKind::OffsetCredit { scheme, vintage } => {
            details.insert("scheme".to_owned(), scheme);
            details.insert("vintage".to_owned(), vintage.to_string());
            "offset_credit"
        }
        InstrumentKind::Cash { currency } => {
            details.insert("currency".to_owned(), currency);
            "cash"
        }
    };
    InstrumentBody {
        code: instrument.code,
        kind: kind.to_owned(),
        scale: instrument.scale,
        unit: instrument.unit,
        details,
    }
}
