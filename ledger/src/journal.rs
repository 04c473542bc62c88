//! The append-only journal: one entry per accepted request, each hash-chained to the one before.
//! The hash covers the stored text of the entry, so any edit to a recorded entry, or a removed or
//! reordered one, breaks the chain from that point on.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::Posting;
use crate::request::Request;

pub type Hash = [u8; 32];

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: Hash = [0; 32];

/// What is recorded for an accepted request, and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub request: Request,
    pub postings: Vec<Posting>,
}

/// A recorded entry as stored: its text and chain links.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: u64,
    pub idempotency_key: String,
    pub fingerprint: Hash,
    pub recorded_at: String,
    pub body: String,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// The chain link: `sha256(prev_hash ‖ seq as 8 big-endian bytes ‖ body)`.
pub fn chain_hash(prev: &Hash, seq: u64, body: &str) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(seq.to_be_bytes());
    hasher.update(body.as_bytes());
    hasher.finalize().into()
}

/// What makes two requests "the same" for idempotency: everything but the key itself.
pub fn fingerprint(request: &Request) -> Hash {
    fingerprint_parts(
        &request.actor,
        request.memo.as_deref(),
        &actions_json(request),
    )
}

/// The request's actions as JSON: computed once per request, used for its fingerprint and body.
pub fn actions_json(request: &Request) -> String {
    // Plain structs and enums of strings and numbers always serialize.
    serde_json::to_string(&request.actions).unwrap_or_default()
}

pub fn fingerprint_parts(actor: &str, memo: Option<&str>, actions_json: &str) -> Hash {
    let mut hasher = Sha256::new();
    for part in [actor, memo.unwrap_or("\u{0}"), actions_json] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// The stored text of an entry, assembled around the already-serialized actions so a request is
/// serialized once. It reads back as an [`Entry`].
pub fn entry_body(
    seq: u64,
    recorded_at: DateTime<Utc>,
    request: &Request,
    actions_json: &str,
    postings: &[Posting],
) -> String {
    let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
    let memo = request
        .memo
        .as_deref()
        .map(|m| format!("\"memo\":{},", text(m)))
        .unwrap_or_default();
    format!(
        "{{\"seq\":{seq},\"recorded_at\":{},\"request\":{{\"idempotency_key\":{},\"actor\":{},{memo}\"actions\":{actions_json}}},\"postings\":{}}}",
        serde_json::to_string(&recorded_at).unwrap_or_default(),
        text(&request.idempotency_key),
        text(&request.actor),
        serde_json::to_string(postings).unwrap_or_default(),
    )
}

/// Timestamps are stored as fixed-width RFC 3339 text so they sort as they compare.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn hash_from_slice(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// What the caller gets back: where the request was recorded and what it posted. A retry with the
/// same key gets the same receipt, marked `replayed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub hash: String,
    pub postings: Vec<Posting>,
    pub replayed: bool,
}

impl Receipt {
    pub fn from_stored(stored: &StoredEntry, replayed: bool) -> Result<Receipt, serde_json::Error> {
        let entry: Entry = serde_json::from_str(&stored.body)?;
        Ok(Receipt {
            seq: stored.seq,
            recorded_at: entry.recorded_at,
            hash: hex::encode(stored.hash),
            postings: entry.postings,
            replayed,
        })
    }
}
