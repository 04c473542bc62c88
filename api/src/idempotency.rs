//! Replaying the first answer to a retried POST. Accepted requests need nothing here: the ledger
//! itself keeps each key's receipt and returns it, marked replayed, on a retry. Refusals write
//! nothing to the ledger, so their answer is kept in `api_idempotency`, by caller and key, to be
//! replayed the same way: a retry never turns a refusal into a success by accident.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::Row;

use crate::db::{Db, on_db};
use crate::error::ApiError;
use crate::extract::IdempotencyKey;

/// Set on an answer that repeats the first answer to the same `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A stored answer to a refused request.
pub struct StoredAnswer {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

pub async fn find(db: &Db, principal: &str, key: &str) -> Result<Option<StoredAnswer>, ApiError> {
    let sql =
        "SELECT fingerprint, status, body FROM api_idempotency WHERE principal = $1 AND key = $2";
    let found = on_db!(db, |pool| {
        match sqlx::query(sql)
            .bind(principal)
            .bind(key)
            .fetch_optional(pool)
            .await?
        {
            Some(row) => Some(StoredAnswer {
                fingerprint: row.try_get("fingerprint")?,
                status: u16::try_from(row.try_get::<i32, _>("status")?).unwrap_or(500),
                body: row.try_get("body")?,
            }),
            None => None,
        }
    });
    Ok(found)
}

/// Claims `key` for this caller, endpoint and request (`fingerprint`) on its first use; refuses
/// it, naming the first use, when it was first used on another endpoint or for another request.
/// Every POST claims its key before it runs, so a key means one request across the whole API
/// (the ledger's and the market's own records of keys each see only their own requests).
pub async fn claim(
    db: &Db,
    principal: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<(), ApiError> {
    let insert = "INSERT INTO api_key_uses (principal, key, endpoint, fingerprint, first_used_at)
                  VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    let select = "SELECT endpoint, fingerprint, first_used_at FROM api_key_uses
                  WHERE principal = $1 AND key = $2";
    let now = ledger::journal::format_time(chrono::Utc::now());
    let (endpoint, first, at): (String, String, String) = on_db!(db, |pool| {
        sqlx::query(insert)
            .bind(principal)
            .bind(&key.key)
            .bind(&key.endpoint)
            .bind(fingerprint)
            .bind(&now)
            .execute(pool)
            .await?;
        let row = sqlx::query(select)
            .bind(principal)
            .bind(&key.key)
            .fetch_one(pool)
            .await?;
        (
            row.try_get("endpoint")?,
            row.try_get("fingerprint")?,
            row.try_get("first_used_at")?,
        )
    });
    if endpoint == key.endpoint && first == fingerprint {
        return Ok(());
    }
    let what = if endpoint == key.endpoint {
        "another body"
    } else {
        "another endpoint"
    };
    Err(ApiError::IdempotencyMismatch {
        key: key.key.clone(),
        first_use: format!(" ({what}: first used on {endpoint} at {at})"),
    })
}

/// The stored answer to `(principal, key)` if there is one: replayed when the request is the
/// same (`fingerprint`), refused when the key was used for another request. Every POST checks
/// this before it writes; it claims the key first ([`claim`]).
pub async fn replay(
    db: &Db,
    principal: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Option<Response>, ApiError> {
    claim(db, principal, key, fingerprint).await?;
    let key = key.key.as_str();
    match find(db, principal, key).await? {
        Some(stored) if stored.fingerprint == fingerprint => {
            let status =
                StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let media = if status.is_success() {
                "application/json"
            } else {
                crate::error::PROBLEM_JSON
            };
            let response = (status, [(CONTENT_TYPE, media)], stored.body).into_response();
            Ok(Some(replayed(response)))
        }
        Some(_) => Err(ApiError::IdempotencyMismatch {
            key: key.to_owned(),
            first_use: String::new(),
        }),
        None => Ok(None),
    }
}

/// Marks `response` as the repeat of the first answer to its key ([`REPLAYED_HEADER`]).
pub fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// Keeps a refusal; if another process stored one for the same key first, its answer stands.
pub async fn store(
    db: &Db,
    principal: &str,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), ApiError> {
    let sql = "INSERT INTO api_idempotency (principal, key, fingerprint, status, body, created_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
    let now = ledger::journal::format_time(chrono::Utc::now());
    on_db!(db, |pool| sqlx::query(sql)
        .bind(principal)
        .bind(key)
        .bind(&answer.fingerprint)
        .bind(i32::from(answer.status))
        .bind(&answer.body)
        .bind(&now)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

/// The answer to an accepted request that writes only the API's own tables (applications,
/// rounds), kept by caller and key in the same transaction as the write, so a retry replays it.
pub struct Keyed<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    /// Of the method, path and body: the same key with another request is refused.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

impl Keyed<'_> {
    pub fn stored(&self) -> StoredAnswer {
        StoredAnswer {
            fingerprint: self.fingerprint.clone(),
            status: self.status,
            body: self.body.clone(),
        }
    }
}

/// Fingerprint of a request that is not a ledger request: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

pub(crate) const INSERT_KEYED: &str =
    "INSERT INTO api_idempotency (principal, key, fingerprint, status, body, created_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

/// Inside a transaction `$tx` (either backend): stores `$keyed`; true if this call stored it,
/// false if the key was already taken (the caller rolls back and replays the stored answer).
macro_rules! store_keyed {
    ($tx:expr, $keyed:expr, $now:expr) => {
        sqlx::query($crate::idempotency::INSERT_KEYED)
            .bind($keyed.principal)
            .bind($keyed.key)
            .bind(&$keyed.fingerprint)
            .bind(i32::from($keyed.status))
            .bind(&$keyed.body)
            .bind(&$now)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1
    };
}
pub(crate) use store_keyed;
