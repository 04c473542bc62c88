//! SQLite, the embedded default: one file in WAL mode with `synchronous=FULL`, so a commit is
//! durable when it returns. One writer connection (SQLite allows one writer anyway) takes the write
//! lock with `BEGIN IMMEDIATE`; readers use their own pool and never block it.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use super::rows;
use crate::account::Account;
use crate::apply::Posting;
use crate::batch::{Backend, Needs, Writes};
use crate::book::Book;
use crate::error::LedgerError;
use crate::journal::{Hash, StoredEntry, format_time, hash_from_slice};

/// SQLite allows 32,766 bound parameters per statement; stay well below.
const BINDS_MAX: usize = 30_000;

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, LedgerError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, reader })
    }
}

type Tx = Transaction<'static, Sqlite>;

impl Backend for SqliteStore {
    type Tx = Tx;

    async fn begin(&self) -> Result<(Tx, u64, Hash), LedgerError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        let hash = hash_from_slice(&hash).ok_or_else(|| LedgerError::Corrupt("chain head hash is not 32 bytes".into()))?;
        Ok((tx, seq as u64, hash))
    }

    async fn find_keys(tx: &mut Tx, keys: &[String]) -> Result<HashMap<String, StoredEntry>, LedgerError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BINDS_MAX) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash FROM journal WHERE idempotency_key IN (",
            );
            let mut list = query.separated(", ");
            for key in chunk {
                list.push_bind(key.as_str());
            }
            query.push(")");
            for row in query.build().fetch_all(&mut **tx).await? {
                let entry = stored_entry(&row)?;
                found.insert(entry.idempotency_key.clone(), entry);
            }
        }
        Ok(found)
    }

    async fn load_holds(
        tx: &mut Tx,
        ids: &BTreeSet<String>,
        expired_at: Option<DateTime<Utc>>,
        book: &mut Book,
    ) -> Result<(), LedgerError> {
        let select = "SELECT id, instrument, holder, amount, remaining, expires_at, state FROM holds";
        for row in select_in(tx, select, "id", ids).await? {
            let hold = rows::hold(row.try_get("id")?, row.try_get("instrument")?, row.try_get("holder")?, row.try_get("amount")?, row.try_get("remaining")?, row.try_get("expires_at")?, row.try_get("state")?)?;
            book.holds.load(hold.id.clone(), hold);
        }
        if let Some(at) = expired_at {
            let rows = sqlx::query(&format!("{select} WHERE state = 'open' AND expires_at <= ?"))
                .bind(format_time(at))
                .fetch_all(&mut **tx)
                .await?;
            for row in rows {
                let hold = rows::hold(row.try_get("id")?, row.try_get("instrument")?, row.try_get("holder")?, row.try_get("amount")?, row.try_get("remaining")?, row.try_get("expires_at")?, row.try_get("state")?)?;
                book.holds.load(hold.id.clone(), hold);
            }
        }
        Ok(())
    }

    async fn load(tx: &mut Tx, needs: &Needs, book: &mut Book) -> Result<(), LedgerError> {
        for row in select_in(tx, "SELECT code, record FROM pollutants", "code", &needs.pollutants).await? {
            book.pollutants.load(row.try_get("code")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(tx, "SELECT code, record FROM regions", "code", &needs.regions).await? {
            book.regions.load(row.try_get("code")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(tx, "SELECT code, record FROM instruments", "code", &needs.instruments).await? {
            book.instruments.load(row.try_get("code")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(tx, "SELECT credit_code, record FROM enterprises", "credit_code", &needs.enterprises).await? {
            book.enterprises.load(row.try_get("credit_code")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(tx, "SELECT id FROM reductions", "id", &needs.reductions).await? {
            let id: String = row.try_get("id")?;
            book.reductions.load(id.clone(), rows::reduction_stub(id));
        }
        let select = "SELECT id, debits, credits, frozen FROM accounts";
        for row in select_in(tx, select, "id", &needs.accounts).await? {
            let account = rows::account(row.try_get("id")?, row.try_get("debits")?, row.try_get("credits")?, row.try_get::<i64, _>("frozen")? != 0)?;
            book.accounts.load(account.key.id(), account);
        }
        Ok(())
    }

    async fn write(tx: &mut Tx, writes: Writes<'_>) -> Result<(), LedgerError> {
        let book = writes.book;
        insert_rows(tx, "INSERT INTO journal (seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash) ", "", 7, writes.entries.iter(), |row, e| {
            row.push_bind(e.seq as i64)
                .push_bind(e.idempotency_key.as_str())
                .push_bind(&e.fingerprint[..])
                .push_bind(e.recorded_at.as_str())
                .push_bind(e.body.as_str())
                .push_bind(&e.prev_hash[..])
                .push_bind(&e.hash[..]);
        })
        .await?;
        let postings = posting_rows(writes.postings);
        insert_rows(tx, "INSERT INTO postings (seq, idx, instrument, debit, credit, units, code, reference) ", "", 8, postings.into_iter(), |row, (seq, idx, p)| {
            row.push_bind(seq as i64)
                .push_bind(idx as i64)
                .push_bind(p.instrument.as_str())
                .push_bind(p.debit.as_str())
                .push_bind(p.credit.as_str())
                .push_bind(p.units)
                .push_bind(p.code.as_str())
                .push_bind(p.reference.as_deref());
        })
        .await?;
        let records = [
            ("pollutants", "code", rows::records(book.pollutants.created())?),
            ("regions", "code", rows::records(book.regions.created())?),
        ];
        for (table, key, list) in &records {
            let sql = format!("INSERT INTO {table} ({key}, record) ");
            insert_rows(tx, &sql, "", 2, list.iter(), |row, (k, record)| {
                row.push_bind(k.as_str()).push_bind(record.as_str());
            })
            .await?;
        }
        let instruments = rows::records(book.instruments.created())?;
        insert_rows(tx, "INSERT INTO instruments (code, scale, record) ", "", 3, instruments.iter().zip(book.instruments.created()), |row, ((code, record), (_, instrument))| {
            row.push_bind(code.as_str())
                .push_bind(i64::from(instrument.scale))
                .push_bind(record.as_str());
        })
        .await?;
        let enterprises = rows::records(book.enterprises.changed())?;
        insert_rows(tx, "INSERT INTO enterprises (credit_code, record) ", " ON CONFLICT (credit_code) DO UPDATE SET record = excluded.record", 2, enterprises.iter(), |row, (code, record)| {
            row.push_bind(code.as_str()).push_bind(record.as_str());
        })
        .await?;
        insert_rows(tx, "INSERT INTO reductions (id, enterprise, instrument, units, measure, evidence, seq) ", "", 7, values(book.reductions.created()).into_iter(), |row, r| {
            row.push_bind(r.id.as_str())
                .push_bind(r.enterprise.as_str())
                .push_bind(r.instrument.as_str())
                .push_bind(r.units)
                .push_bind(rows::measure(r.measure))
                .push_bind(r.evidence.as_str())
                .push_bind(r.seq as i64);
        })
        .await?;
        insert_rows(tx, "INSERT INTO accounts (id, owner, kind, instrument, debits, credits, frozen) ", " ON CONFLICT (id) DO UPDATE SET debits = excluded.debits, credits = excluded.credits, frozen = excluded.frozen", 7, values(book.accounts.changed()).into_iter(), |row, a: &Account| {
            row.push_bind(a.key.id())
                .push_bind(a.key.owner.as_str())
                .push_bind(a.key.kind.as_str())
                .push_bind(a.key.instrument.as_str())
                .push_bind(a.debits)
                .push_bind(a.credits)
                .push_bind(i64::from(a.frozen));
        })
        .await?;
        insert_rows(tx, "INSERT INTO holds (id, instrument, holder, amount, remaining, expires_at, state) ", " ON CONFLICT (id) DO UPDATE SET remaining = excluded.remaining, state = excluded.state", 7, values(book.holds.changed()).into_iter(), |row, h| {
            row.push_bind(h.id.as_str())
                .push_bind(h.instrument.as_str())
                .push_bind(h.holder.id())
                .push_bind(h.amount)
                .push_bind(h.remaining)
                .push_bind(format_time(h.expires_at))
                .push_bind(h.state.as_str());
        })
        .await?;
        let (seq, hash) = writes.head;
        sqlx::query("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1")
            .bind(seq as i64)
            .bind(&hash[..])
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn commit(tx: Tx) -> Result<(), LedgerError> {
        tx.commit().await?;
        Ok(())
    }
}

/// Rows as a plain list, so no closure lives across an await.
fn values<'a, V>(rows: impl Iterator<Item = (&'a String, &'a V)>) -> Vec<&'a V> {
    rows.map(|(_, value)| value).collect()
}

/// Each posting with its entry's seq and its index within the entry.
pub(crate) fn posting_rows(postings: &[(u64, Vec<Posting>)]) -> Vec<(u64, usize, &Posting)> {
    let mut rows = Vec::new();
    for (seq, list) in postings {
        for (idx, posting) in list.iter().enumerate() {
            rows.push((*seq, idx, posting));
        }
    }
    rows
}

/// `SELECT … WHERE column IN (keys)`, in chunks that respect the bind limit.
async fn select_in(tx: &mut Tx, select: &str, column: &str, keys: &BTreeSet<String>) -> Result<Vec<SqliteRow>, LedgerError> {
    let mut out = Vec::new();
    let keys: Vec<&String> = keys.iter().collect();
    for chunk in keys.chunks(BINDS_MAX) {
        let mut query = QueryBuilder::<Sqlite>::new(select);
        query.push(format!(" WHERE {column} IN ("));
        let mut list = query.separated(", ");
        for key in chunk {
            list.push_bind(key.as_str());
        }
        query.push(")");
        out.extend(query.build().fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// Multi-row `INSERT … VALUES (…), (…)`: one statement per chunk instead of one per row, which is
/// most of what makes group commit fast.
async fn insert_rows<'r, T: 'r>(
    tx: &mut Tx,
    insert: &str,
    suffix: &str,
    columns: usize,
    rows: impl Iterator<Item = T>,
    mut bind: impl FnMut(&mut sqlx::query_builder::Separated<'_, 'r, Sqlite, &'static str>, T),
) -> Result<(), LedgerError> {
    let per_statement = BINDS_MAX / columns;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut query = QueryBuilder::<Sqlite>::new(insert);
        query.push_values(rows.by_ref().take(per_statement), |mut row, item| bind(&mut row, item));
        query.push(suffix);
        query.build().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(crate) fn stored_entry(row: &SqliteRow) -> Result<StoredEntry, LedgerError> {
    let seq: i64 = row.try_get("seq")?;
    let bytes = |name: &str| -> Result<Hash, LedgerError> {
        let value: Vec<u8> = row.try_get(name)?;
        hash_from_slice(&value).ok_or_else(|| LedgerError::Corrupt(format!("journal entry {seq}: {name} is not 32 bytes")))
    };
    Ok(StoredEntry {
        seq: seq as u64,
        idempotency_key: row.try_get("idempotency_key")?,
        fingerprint: bytes("fingerprint")?,
        recorded_at: row.try_get("recorded_at")?,
        body: row.try_get("body")?,
        prev_hash: bytes("prev_hash")?,
        hash: bytes("hash")?,
    })
}
