//! SQLite, the embedded default: one file in WAL mode with `synchronous=FULL`, so a commit is
//! durable when it returns. One writer connection (SQLite allows one writer anyway) takes the write
//! lock with `BEGIN IMMEDIATE`; readers use their own pool and never block it.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::rows;
use crate::batch::{Backend, Needs, Writes};
use crate::book::Book;
use crate::error::LedgerError;
use crate::journal::{Hash, StoredEntry, format_time, hash_from_slice};

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
            // 32 MiB of page cache (the default is 2 MiB): the journal's key index and the
            // accounts a batch touches stay in memory as the file grows.
            .pragma("cache_size", "-32768")
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

/// Rows per multi-row `INSERT … VALUES`. sqlx caches prepared statements by their text, so every
/// full chunk reuses one statement; a remainder is split into powers of two, so each table has at
/// most a handful of statement shapes and none is prepared twice.
const CHUNK: usize = 128;

/// Inserts `$rows` with bound parameters, `CHUNK` rows per statement: cheaper than unpacking JSON
/// in SQLite, which re-parses a row's text for every column it extracts. `$bind` binds one row.
macro_rules! insert_values {
    ($tx:expr, $head:expr, $columns:expr, $tail:expr, $rows:expr, |$query:ident, $row:pat_param| $bind:expr) => {{
        let mut rest = &$rows[..];
        while !rest.is_empty() {
            let n = if rest.len() >= CHUNK {
                CHUNK
            } else {
                1 << rest.len().ilog2()
            };
            let (chunk, tail_rows) = rest.split_at(n);
            rest = tail_rows;
            let sql = values_sql($head, $columns, n, $tail);
            let mut $query = sqlx::query(&sql);
            for $row in chunk {
                $query = $bind;
            }
            $query.execute(&mut **$tx).await?;
        }
    }};
}

fn values_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut row = String::from("(?");
    row.push_str(&",?".repeat(columns - 1));
    row.push(')');
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 1) + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&row);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

type Tx = Transaction<'static, Sqlite>;

impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Tx = Tx;
    type Reader = PoolConnection<Sqlite>;

    async fn begin(&self) -> Result<(Tx, u64, Hash), LedgerError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        let hash = hash_from_slice(&hash)
            .ok_or_else(|| LedgerError::Corrupt("chain head hash is not 32 bytes".into()))?;
        Ok((tx, seq as u64, hash))
    }

    async fn reader(&self) -> Result<PoolConnection<Sqlite>, LedgerError> {
        Ok(self.reader.acquire().await?)
    }

    async fn find_keys(
        conn: &mut SqliteConnection,
        keys: &[String],
    ) -> Result<HashMap<String, StoredEntry>, LedgerError> {
        let rows = sqlx::query(
            "SELECT seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash FROM journal
             WHERE idempotency_key IN (SELECT value FROM json_each(?1))",
        )
        .bind(json(&keys)?)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| stored_entry(row).map(|e| (e.idempotency_key.clone(), e)))
            .collect()
    }

    async fn load_holds(
        conn: &mut SqliteConnection,
        ids: &BTreeSet<String>,
        expired_at: Option<DateTime<Utc>>,
        book: &mut Book,
    ) -> Result<(), LedgerError> {
        // Two statements, not one with `OR`, so each uses its index (the primary key; the
        // partial index of open holds by expiry) instead of a scan of every hold.
        let mut rows = Vec::new();
        if !ids.is_empty() {
            rows = sqlx::query(
                "SELECT id, instrument, holder, amount, remaining, expires_at, state FROM holds
                 WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .bind(json(ids)?)
            .fetch_all(&mut *conn)
            .await?;
        }
        if let Some(at) = expired_at {
            rows.extend(
                sqlx::query(
                    "SELECT id, instrument, holder, amount, remaining, expires_at, state FROM holds
                     WHERE state = 'open' AND expires_at <= ?1",
                )
                .bind(format_time(at))
                .fetch_all(&mut *conn)
                .await?,
            );
        }
        for row in rows {
            let hold = rows::hold(
                row.try_get("id")?,
                row.try_get("instrument")?,
                row.try_get("holder")?,
                row.try_get("amount")?,
                row.try_get("remaining")?,
                row.try_get("expires_at")?,
                row.try_get("state")?,
            )?;
            book.holds.load(hold.id.clone(), hold);
        }
        Ok(())
    }

    async fn load(
        conn: &mut SqliteConnection,
        needs: &Needs,
        book: &mut Book,
    ) -> Result<(), LedgerError> {
        for row in select_in(
            conn,
            "SELECT code AS key, record FROM pollutants WHERE code",
            &needs.pollutants,
        )
        .await?
        {
            book.pollutants
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(
            conn,
            "SELECT code AS key, record FROM regions WHERE code",
            &needs.regions,
        )
        .await?
        {
            book.regions
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(
            conn,
            "SELECT code AS key, record FROM instruments WHERE code",
            &needs.instruments,
        )
        .await?
        {
            book.instruments
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_in(
            conn,
            "SELECT credit_code AS key FROM enterprises WHERE credit_code",
            &needs.enterprises,
        )
        .await?
        {
            book.enterprises.load(row.try_get("key")?, None);
        }
        for row in select_in(
            conn,
            "SELECT id AS key FROM reductions WHERE id",
            &needs.reductions,
        )
        .await?
        {
            let id: String = row.try_get("key")?;
            book.reductions.load(id.clone(), rows::reduction_stub(id));
        }
        let select =
            "SELECT id AS key, debits, credits, frozen, freeze_note FROM accounts WHERE id";
        for row in select_in(conn, select, &needs.accounts).await? {
            let account = rows::account(
                row.try_get("key")?,
                row.try_get("debits")?,
                row.try_get("credits")?,
                row.try_get("frozen")?,
                row.try_get("freeze_note")?,
            )?;
            book.accounts.load(account.key.id(), account);
        }
        Ok(())
    }

    async fn write(tx: &mut Tx, writes: Writes<'_>) -> Result<(), LedgerError> {
        let book = writes.book;
        insert_values!(
            tx,
            "INSERT INTO journal (seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash)",
            7,
            "",
            writes.entries,
            |q, e| q
                .bind(e.seq as i64)
                .bind(e.idempotency_key.as_str())
                .bind(&e.fingerprint[..])
                .bind(e.recorded_at.as_str())
                .bind(e.body.as_str())
                .bind(&e.prev_hash[..])
                .bind(&e.hash[..])
        );
        let records = [
            (
                "pollutants",
                "code",
                rows::records(book.pollutants.created())?,
            ),
            ("regions", "code", rows::records(book.regions.created())?),
        ];
        for (table, key, list) in &records {
            let sql = format!(
                "INSERT INTO {table} ({key}, record) SELECT value->>0, value->>1 FROM json_each(?1)"
            );
            insert_json(tx, &sql, list).await?;
        }
        let instruments: Vec<_> = book
            .instruments
            .created()
            .map(|(code, i)| Ok((code, i.scale, serde_json::to_string(i)?)))
            .collect::<Result<_, LedgerError>>()?;
        insert_json(tx, "INSERT INTO instruments (code, scale, record) SELECT value->>0, value->>1, value->>2 FROM json_each(?1)", &instruments).await?;
        let enterprises = rows::enterprise_records(book.enterprises.changed())?;
        insert_json(
            tx,
            "INSERT INTO enterprises (credit_code, record) SELECT value->>0, value->>1 FROM json_each(?1) WHERE true
             ON CONFLICT (credit_code) DO UPDATE SET record = excluded.record",
            &enterprises,
        )
        .await?;
        let reductions: Vec<_> = book
            .reductions
            .created()
            .map(|(_, r)| {
                (
                    &r.id,
                    &r.enterprise,
                    &r.instrument,
                    r.units,
                    rows::measure(r.measure),
                    &r.evidence,
                    r.seq,
                )
            })
            .collect();
        insert_json(
            tx,
            "INSERT INTO reductions (id, enterprise, instrument, units, measure, evidence, seq)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM json_each(?1)",
            &reductions,
        )
        .await?;
        let accounts: Vec<_> = book.accounts.changed().collect();
        insert_values!(
            tx,
            "INSERT INTO accounts (id, owner, kind, instrument, debits, credits, frozen, freeze_note)",
            8,
            "ON CONFLICT (id) DO UPDATE SET debits = excluded.debits, credits = excluded.credits, frozen = excluded.frozen, freeze_note = excluded.freeze_note",
            &accounts,
            |q, (id, a)| q
                .bind(id.as_str())
                .bind(a.key.owner.as_str())
                .bind(a.key.kind.as_str())
                .bind(a.key.instrument.as_str())
                .bind(a.debits)
                .bind(a.credits)
                .bind(a.frozen)
                .bind(rows::freeze_note(a))
        );
        let holds: Vec<_> = book
            .holds
            .changed()
            .map(|(id, h)| {
                (
                    id,
                    &h.instrument,
                    h.holder.id(),
                    h.amount,
                    h.remaining,
                    format_time(h.expires_at),
                    h.state.as_str(),
                )
            })
            .collect();
        insert_json(
            tx,
            "INSERT INTO holds (id, instrument, holder, amount, remaining, expires_at, state)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM json_each(?1) WHERE true
             ON CONFLICT (id) DO UPDATE SET instrument = excluded.instrument, holder = excluded.holder,
                 amount = excluded.amount, remaining = excluded.remaining, expires_at = excluded.expires_at,
                 state = excluded.state",
            &holds,
        )
        .await?;
        let (seq, hash) = writes.head;
        sqlx::query("UPDATE chain_head SET seq = ?1, hash = ?2 WHERE id = 1")
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

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, LedgerError> {
    Ok(serde_json::to_string(value)?)
}

/// `… WHERE column IN (keys)`: the keys travel as one JSON array, not one bound parameter each,
/// which is what makes loading a large batch cheap in SQLite.
async fn select_in(
    conn: &mut SqliteConnection,
    select_where: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<SqliteRow>, LedgerError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{select_where} IN (SELECT value FROM json_each(?1))");
    Ok(sqlx::query(&sql)
        .bind(json(keys)?)
        .fetch_all(&mut *conn)
        .await?)
}

/// Inserts many rows with one statement and one bound parameter: the rows as a JSON array of
/// arrays, unpacked by `json_each` inside SQLite. Binding thousands of parameters one by one costs
/// more than the insert itself.
async fn insert_json<T: serde::Serialize>(
    tx: &mut Tx,
    sql: &str,
    rows: &[T],
) -> Result<(), LedgerError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(sql)
        .bind(json(rows)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) fn stored_entry(row: &SqliteRow) -> Result<StoredEntry, LedgerError> {
    let seq: i64 = row.try_get("seq")?;
    let bytes = |name: &str| -> Result<Hash, LedgerError> {
        let value: Vec<u8> = row.try_get(name)?;
        hash_from_slice(&value).ok_or_else(|| {
            LedgerError::Corrupt(format!("journal entry {seq}: {name} is not 32 bytes"))
        })
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
