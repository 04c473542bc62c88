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

impl Entry {
    /// The entry's stored text. Struct fields serialize in declaration order and nothing in an
    /// entry is a hash map, so the text is a pure function of the entry.
    pub fn to_body(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
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
    #[derive(Serialize)]
    struct Fingerprinted<'a> {
        actor: &'a str,
        memo: &'a Option<String>,
        actions: &'a [crate::request::Action],
    }
    let text = serde_json::to_string(&Fingerprinted {
        actor: &request.actor,
        memo: &request.memo,
        actions: &request.actions,
    })
    .unwrap_or_default();
    Sha256::digest(text.as_bytes()).into()
}

/// Timestamps are stored as fixed-width RFC 3339 text so they sort as they compare.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
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
