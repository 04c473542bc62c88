//! Replaying the first answer to a retried POST. Accepted requests need nothing here: the ledger
//! itself keeps each key's receipt and returns it, marked replayed, on a retry. Refusals write
//! nothing to the ledger, so their answer is kept in `api_idempotency`, by caller and key, to be
//! replayed the same way: a retry never turns a refusal into a success by accident.

use sqlx::Row;

use crate::db::{Db, on_db};
use crate::error::ApiError;

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
