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
    let at = serde_json::to_string(&recorded_at).unwrap_or_default();
    entry_body_at(seq, &at, request, actions_json, postings)
}

/// [`entry_body`] with the time already as JSON (`recorded_at_json`), as a batch computes it once
/// for all its entries. Appends into one buffer instead of formatting.
pub fn entry_body_at(
    seq: u64,
    recorded_at_json: &str,
    request: &Request,
    actions_json: &str,
    postings: &[Posting],
) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(
        160 + actions_json.len() + request.idempotency_key.len() + 192 * postings.len(),
    );
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"recorded_at\":");
    out.extend_from_slice(recorded_at_json.as_bytes());
    out.extend_from_slice(b",\"request\":{\"idempotency_key\":");
    append_json(&mut out, &request.idempotency_key);
    out.extend_from_slice(b",\"actor\":");
    append_json(&mut out, &request.actor);
    if let Some(memo) = &request.memo {
        out.extend_from_slice(b",\"memo\":");
        append_json(&mut out, memo);
    }
    out.extend_from_slice(b",\"actions\":");
    out.extend_from_slice(actions_json.as_bytes());
    out.extend_from_slice(b"},\"postings\":");
    append_json(&mut out, postings);
    out.push(b'}');
    // Every piece is UTF-8 (JSON text from serde_json, or the caller's JSON strings).
    String::from_utf8(out).unwrap_or_default()
}

/// Writing to a `Vec` cannot fail, and strings and plain structs always serialize.
fn append_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::PostingCode;

    /// The text `entry_body` produced before it appended into one buffer: bodies already stored
    /// and hashed must not change shape.
    fn formatted(seq: u64, at: DateTime<Utc>, request: &Request, postings: &[Posting]) -> String {
        let text = |value: &str| serde_json::to_string(value).unwrap();
        let memo = request
            .memo
            .as_deref()
            .map(|m| format!("\"memo\":{},", text(m)))
            .unwrap_or_default();
        format!(
            "{{\"seq\":{seq},\"recorded_at\":{},\"request\":{{\"idempotency_key\":{},\"actor\":{},{memo}\"actions\":{}}},\"postings\":{}}}",
            serde_json::to_string(&at).unwrap(),
            text(&request.idempotency_key),
            text(&request.actor),
            actions_json(request),
            serde_json::to_string(postings).unwrap(),
        )
    }

    #[test]
    fn entry_body_text_is_unchanged_and_reads_back() {
        let at = DateTime::parse_from_rfc3339("2025-03-01T08:00:00.123456789Z")
            .unwrap()
            .to_utc();
        let postings = vec![Posting {
            instrument: "COD.x".into(),
            debit: "a/holding/COD.x".into(),
            credit: "b/holding/COD.x".into(),
            units: 1500,
            code: PostingCode::Trade,
            reference: Some("h\"1".into()),
        }];
        for memo in [None, Some("a \"quoted\" memo, 排污权\n".to_owned())] {
            let request = Request {
                idempotency_key: "key \\ \"1\"".into(),
                actor: "bureau".into(),
                memo,
                actions: vec![crate::request::Action::ExpireHolds {}],
            };
            let body = entry_body(42, at, &request, &actions_json(&request), &postings);
            assert_eq!(body, formatted(42, at, &request, &postings));
            let entry: Entry = serde_json::from_str(&body).unwrap();
            assert_eq!(entry.seq, 42);
            assert_eq!(entry.recorded_at, at);
            assert_eq!(entry.request, request);
            assert_eq!(entry.postings, postings);
        }
    }

    /// The entry text is the permanent format (its hash is in the chain): a literal entry
    /// written by today's code is what today's code writes and reads back.
    #[test]
    fn a_literal_entry_is_written_and_read_byte_for_byte() {
        const LITERAL: &str = r#"{"seq":7,"recorded_at":"2025-03-01T08:00:00.500Z","request":{"idempotency_key":"k-1","actor":"bureau","memo":"why","actions":[{"type":"expire_holds"}]},"postings":[{"instrument":"COD.x","debit":"a/holding/COD.x","credit":"b/holding/COD.x","units":1500,"code":"trade"}]}"#;
        let at = DateTime::parse_from_rfc3339("2025-03-01T08:00:00.5Z")
            .unwrap()
            .to_utc();
        let request = Request {
            idempotency_key: "k-1".into(),
            actor: "bureau".into(),
            memo: Some("why".into()),
            actions: vec![crate::request::Action::ExpireHolds {}],
        };
        let postings = vec![Posting {
            instrument: "COD.x".into(),
            debit: "a/holding/COD.x".into(),
            credit: "b/holding/COD.x".into(),
            units: 1500,
            code: PostingCode::Trade,
            reference: None,
        }];
        let body = entry_body(7, at, &request, &actions_json(&request), &postings);
        assert_eq!(body, LITERAL);
        let entry: Entry = serde_json::from_str(LITERAL).unwrap();
        assert_eq!((entry.seq, entry.recorded_at), (7, at));
        assert_eq!((entry.request, entry.postings), (request, postings));
    }
}
