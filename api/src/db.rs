//! The API's own tables (API keys, stored refusals for idempotent replay), kept in the ledger's
//! database so that every server process sharing it sees the same keys. Created with plain
//! `CREATE TABLE IF NOT EXISTS`, valid on SQLite and PostgreSQL alike.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::error::ApiError;

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        enterprise TEXT,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )",
    "CREATE TABLE IF NOT EXISTS api_idempotency (
        principal TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (principal, key)
    )",
    // The first use of every idempotency key, by caller: a key names one request on one
    // endpoint, whatever the endpoint (`idempotency::claim`).
    "CREATE TABLE IF NOT EXISTS api_key_uses (
        principal TEXT NOT NULL,
        key TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        first_used_at TEXT NOT NULL,
        PRIMARY KEY (principal, key)
    )",
];

/// A connection pool to the same database the ledger uses.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs one statement on whichever database is open.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    /// Connects to `url` and creates the API's tables if they are missing.
    pub async fn open(url: &str) -> Result<Db, ApiError> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                // The ledger's writer holds the write lock for a batch at a time: wait for it.
                .busy_timeout(Duration::from_secs(30));
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(ApiError::Internal(format!(
                "unsupported database url {url:?}: use sqlite:PATH or postgres://…"
            )));
        };
        db.create_tables().await?;
        Ok(db)
    }

    async fn create_tables(&self) -> Result<(), ApiError> {
        match self {
            Db::Sqlite(pool) => {
                for statement in SCHEMA.iter().chain(&crate::services::applications::SCHEMA) {
                    sqlx::query(statement).execute(pool).await?;
                }
            }
            Db::Postgres(pool) => {
                // Two processes starting at once could both try to create the same table and
                // one would fail on the catalog's unique index: a transaction-scoped advisory
                // lock makes them take turns.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7405390021)")
                    .execute(&mut *tx)
                    .await?;
                for statement in SCHEMA.iter().chain(&crate::services::applications::SCHEMA) {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
