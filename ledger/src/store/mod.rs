//! Storage: SQLite (the embedded default, a file) or PostgreSQL (chosen by a `postgres://` URL).
//! Writes go through [`crate::batch::Backend`]; reads for reports, verification and the API are
//! here, written once with `$n` placeholders, which both databases accept.

pub(crate) mod postgres;
pub(crate) mod rows;
pub(crate) mod sqlite;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::account::{Account, AccountKind};
use crate::amount::to_decimal;
use crate::book::{Hold, Reduction};
use crate::error::LedgerError;
use crate::instrument::{Instrument, Pollutant, Region};
use crate::journal::StoredEntry;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// An open database.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs the same read on whichever database is open; `$map` turns each row into a value.
macro_rules! read_rows {
    ($store:expr, $sql:expr, [$($bind:expr),*], |$row:ident| $map:expr) => {
        match $store {
            Store::Sqlite(s) => {
                let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&s.reader).await?;
                rows.iter().map(|$row| $map).collect::<Result<Vec<_>, LedgerError>>()
            }
            Store::Postgres(p) => {
                let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&p.pool).await?;
                rows.iter().map(|$row| $map).collect::<Result<Vec<_>, LedgerError>>()
            }
        }
    };
}

/// Runs a read of journal rows (`seq, idempotency_key, fingerprint, recorded_at, body,
/// prev_hash, hash`) on whichever database is open.
macro_rules! read_entries {
    ($store:expr, $sql:expr, [$($bind:expr),*]) => {
        match $store {
            Store::Sqlite(s) => {
                let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&s.reader).await?;
                rows.iter().map(sqlite::stored_entry).collect::<Result<Vec<_>, LedgerError>>()
            }
            Store::Postgres(p) => {
                let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(&p.pool).await?;
                rows.iter().map(postgres::stored_entry).collect::<Result<Vec<_>, LedgerError>>()
            }
        }
    };
}

/// The columns [`read_entries`] expects.
const ENTRY_COLUMNS: &str = "seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash";

/// An account as reports show it: the balance as a decimal at the instrument's scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    pub account: String,
    pub owner: String,
    pub kind: AccountKind,
    pub instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
    pub frozen: bool,
}

/// A `Balance` from a row of `accounts` joined with its instrument's scale: the same mapping
/// for both backends' row types.
macro_rules! balance {
    ($row:ident) => {{
        let account = rows::account(
            $row.try_get("id")?,
            $row.try_get("debits")?,
            $row.try_get("credits")?,
            $row.try_get("frozen")?,
            None,
        )?;
        let scale: i64 = $row.try_get("scale")?;
        Ok(Balance {
            account: account.key.id(),
            owner: account.key.owner.clone(),
            kind: account.key.kind,
            instrument: account.key.instrument.clone(),
            balance: to_decimal(account.credits - account.debits, scale as u32),
            frozen: account.frozen,
        })
    }};
}

impl Store {
    /// Opens (creating if needed) the database at `url`: `sqlite:PATH` / `sqlite://PATH` or
    /// `postgres://…`. Migrations run on open.
    pub async fn open(url: &str) -> Result<Store, LedgerError> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::open(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::open(url).await?))
        } else {
            Err(LedgerError::UnsupportedDatabase(url.to_owned()))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Balances of every account, or of one owner's, in account order.
    pub async fn balances(&self, owner: Option<&str>) -> Result<Vec<Balance>, LedgerError> {
        // Two statements rather than `($1 IS NULL OR owner = $1)`, which keeps SQLite from using
        // the `accounts_by_owner` index and scans the whole register for one owner.
        const ALL: &str =
            "SELECT a.id, a.owner, a.kind, a.instrument, a.debits, a.credits, a.frozen, i.scale
               FROM accounts a JOIN instruments i ON i.code = a.instrument ORDER BY a.id";
        const ONE: &str =
            "SELECT a.id, a.owner, a.kind, a.instrument, a.debits, a.credits, a.frozen, i.scale
               FROM accounts a JOIN instruments i ON i.code = a.instrument
              WHERE a.owner = $1 ORDER BY a.id";
        match owner {
            Some(owner) => read_rows!(self, ONE, [owner], |row| balance!(row)),
            None => read_rows!(self, ALL, [], |row| balance!(row)),
        }
    }

    /// The accounts holding a positive balance of `instrument`, in account order: who holds
    /// what is left of an instrument (its expiry's write-off reads this).
    pub async fn positive_balances(&self, instrument: &str) -> Result<Vec<Balance>, LedgerError> {
        const SQL: &str =
            "SELECT a.id, a.owner, a.kind, a.instrument, a.debits, a.credits, a.frozen, i.scale
               FROM accounts a JOIN instruments i ON i.code = a.instrument
              WHERE a.instrument = $1 AND a.credits > a.debits ORDER BY a.id";
        read_rows!(self, SQL, [instrument], |row| balance!(row))
    }

    /// Every account with its raw totals, for verification.
    pub async fn accounts(&self) -> Result<Vec<Account>, LedgerError> {
        let sql = "SELECT id, debits, credits, frozen, freeze_note FROM accounts ORDER BY id";
        read_rows!(self, sql, [], |row| rows::account(
            row.try_get("id")?,
            row.try_get("debits")?,
            row.try_get("credits")?,
            row.try_get("frozen")?,
            row.try_get("freeze_note")?
        ))
    }

    pub async fn holds(&self) -> Result<Vec<Hold>, LedgerError> {
        let sql = "SELECT id, instrument, holder, amount, remaining, expires_at, state FROM holds ORDER BY id";
        read_rows!(self, sql, [], |row| rows::hold(
            row.try_get("id")?,
            row.try_get("instrument")?,
            row.try_get("holder")?,
            row.try_get("amount")?,
            row.try_get("remaining")?,
            row.try_get("expires_at")?,
            row.try_get("state")?
        ))
    }

    pub async fn instruments(&self) -> Result<Vec<Instrument>, LedgerError> {
        read_rows!(
            self,
            "SELECT record FROM instruments ORDER BY code",
            [],
            |row| rows::record(row.try_get("record")?)
        )
    }

    /// Every pollutant the register defines, with its medium (water pollutants are pooled by
    /// basin, air pollutants by airshed).
    pub async fn pollutants(&self) -> Result<Vec<Pollutant>, LedgerError> {
        read_rows!(
            self,
            "SELECT record FROM pollutants ORDER BY code",
            [],
            |row| rows::record(row.try_get("record")?)
        )
    }

    /// Each pollutant's medium, by pollutant code: what pools it by basin or by airshed.
    pub async fn pollutant_media(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::instrument::Medium>, LedgerError> {
        let pollutants = self.pollutants().await?;
        Ok(pollutants.into_iter().map(|p| (p.code, p.medium)).collect())
    }

    /// Every basin and airshed the register defines.
    pub async fn regions(&self) -> Result<Vec<Region>, LedgerError> {
        read_rows!(
            self,
            "SELECT record FROM regions ORDER BY code",
            [],
            |row| rows::record(row.try_get("record")?)
        )
    }

    pub async fn enterprises(&self) -> Result<Vec<crate::enterprise::Enterprise>, LedgerError> {
        read_rows!(
            self,
            "SELECT record FROM enterprises ORDER BY credit_code",
            [],
            |row| rows::record(row.try_get("record")?)
        )
    }

    pub async fn reductions(&self) -> Result<Vec<Reduction>, LedgerError> {
        let sql = "SELECT id, enterprise, instrument, units, measure, evidence, seq FROM reductions ORDER BY seq, id";
        read_rows!(self, sql, [], |row| {
            let measure: String = row.try_get("measure")?;
            let seq: i64 = row.try_get("seq")?;
            Ok(Reduction {
                id: row.try_get("id")?,
                enterprise: row.try_get("enterprise")?,
                instrument: row.try_get("instrument")?,
                units: row.try_get("units")?,
                measure: serde_json::from_value(serde_json::Value::String(measure))?,
                evidence: row.try_get("evidence")?,
                seq: seq as u64,
            })
        })
    }

    /// Up to `limit` journal entries after `after_seq`, in order: the audit trail, paged.
    pub async fn journal(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2");
        read_entries!(self, &sql, [after_seq as i64, i64::from(limit)])
    }

    /// The entry recorded under `key`, if any.
    pub async fn entry_by_key(&self, key: &str) -> Result<Option<StoredEntry>, LedgerError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM journal WHERE idempotency_key = $1");
        Ok(read_entries!(self, &sql, [key])?.pop())
    }

    /// Up to `limit` entries after `after_seq` whose idempotency key starts with `prefix`, in
    /// order: one service's entries (e.g. every committed reallocation round) without reading
    /// the rest of the journal. (`substr`, not `LIKE`: SQLite's `LIKE` ignores case, and a
    /// PostgreSQL range on text follows the database's collation, not byte order.)
    pub async fn journal_keyed(
        &self,
        prefix: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM journal
             WHERE seq > $1 AND substr(idempotency_key, 1, length($2)) = $2
             ORDER BY seq LIMIT $3"
        );
        read_entries!(self, &sql, [after_seq as i64, prefix, i64::from(limit)])
    }

    /// The stored postings of entries `from..=to`, as `(seq, idx, posting)`. Read from the
    /// entries' text and parsed here, not through the `postings` SQL view: no stored text can make
    /// this read fail (PostgreSQL's `jsonb` refuses `\u0000`, which a journal body may hold).
    pub async fn postings(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, u32, crate::apply::Posting)>, LedgerError> {
        let mut out = Vec::new();
        let mut after = from.saturating_sub(1);
        while after < to {
            let limit = u32::try_from((to - after).min(1_000)).unwrap_or(1_000);
            let page = self.journal(after, limit).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for stored in page.iter().filter(|e| e.seq >= from && e.seq <= to) {
                let entry: crate::journal::Entry = serde_json::from_str(&stored.body)?;
                let numbered = entry.postings.into_iter().enumerate();
                out.extend(numbered.map(|(idx, p)| (stored.seq, idx as u32, p)));
            }
        }
        Ok(out)
    }

    /// The chain head: the last seq and its hash.
    pub async fn head(&self) -> Result<(u64, String), LedgerError> {
        let rows = read_rows!(
            self,
            "SELECT seq, hash FROM chain_head WHERE id = 1",
            [],
            |row| {
                let seq: i64 = row.try_get("seq")?;
                let hash: Vec<u8> = row.try_get("hash")?;
                Ok((seq as u64, hex::encode(hash)))
            }
        )?;
        rows.into_iter()
            .next()
            .ok_or_else(|| LedgerError::Corrupt("chain head row is missing".into()))
    }
}
