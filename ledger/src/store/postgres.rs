//! PostgreSQL, for scale and for several server processes sharing one database. Each batch locks
//! the chain-head row `FOR UPDATE` before reading anything, so batches from any number of processes
//! run one after another and each sees every earlier commit: no double spending, one chain.
//! Rows are written with `UNNEST` over arrays: one statement per table per batch.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use std::str::FromStr;

use super::rows;
use crate::batch::{Backend, Needs, Writes};
use crate::book::{Book, Hold};
use crate::error::LedgerError;
use crate::journal::{Hash, StoredEntry, format_time, hash_from_slice};

#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<PgStore, LedgerError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        // Several processes may start at once: migrations take their own advisory lock.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

type Tx = Transaction<'static, Postgres>;

impl Backend for PgStore {
    type Conn = PgConnection;
    type Tx = Tx;
    type Reader = PoolConnection<Postgres>;

    async fn begin(&self) -> Result<(Tx, u64, Hash), LedgerError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        let hash = hash_from_slice(&hash)
            .ok_or_else(|| LedgerError::Corrupt("chain head hash is not 32 bytes".into()))?;
        Ok((tx, seq as u64, hash))
    }

    async fn reader(&self) -> Result<PoolConnection<Postgres>, LedgerError> {
        Ok(self.pool.acquire().await?)
    }

    async fn find_keys(
        conn: &mut PgConnection,
        keys: &[String],
    ) -> Result<HashMap<String, StoredEntry>, LedgerError> {
        // One unique-index probe per key, whatever the planner thinks of the table. With
        // `idempotency_key = ANY($1)`, the cached generic plan of a young (never analyzed) journal
        // was a sequential scan comparing every row with every key: seconds per batch. `LIMIT 1`
        // keeps the lateral subquery from being flattened into a hash join.
        let rows = sqlx::query(
            "SELECT j.seq, j.idempotency_key, j.fingerprint, j.recorded_at, j.body, j.prev_hash, j.hash
             FROM UNNEST($1::text[]) AS k(key)
             CROSS JOIN LATERAL (SELECT * FROM journal WHERE idempotency_key = k.key LIMIT 1) AS j",
        )
        .bind(keys)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| stored_entry(row).map(|e| (e.idempotency_key.clone(), e)))
            .collect()
    }

    async fn load_holds(
        conn: &mut PgConnection,
        ids: &BTreeSet<String>,
        expired_at: Option<DateTime<Utc>>,
        book: &mut Book,
    ) -> Result<(), LedgerError> {
        // Two statements, not one with `OR`: `id IN (…) OR (state = 'open' AND $2 IS NOT NULL
        // AND …)` cannot use either index, so every batch scanned the whole holds table (43 ms a
        // batch at 200 k holds, more than half the writer's time on a market entry of 256
        // orders). By id: one primary-key probe per id (`LIMIT 1` keeps the lateral subquery a
        // nested loop whatever the statistics of a young table say); expired: the partial index
        // of open holds by expiry, and only when asked.
        let mut rows = Vec::new();
        if !ids.is_empty() {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            rows = sqlx::query(
                "SELECT h.id, h.instrument, h.holder, h.amount, h.remaining, h.expires_at, h.state
                 FROM UNNEST($1::text[]) AS k(id)
                 CROSS JOIN LATERAL (SELECT * FROM holds WHERE id = k.id LIMIT 1) AS h",
            )
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
        }
        if let Some(at) = expired_at {
            rows.extend(
                sqlx::query(
                    "SELECT id, instrument, holder, amount, remaining, expires_at, state FROM holds
                     WHERE state = 'open' AND expires_at <= $1",
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
        conn: &mut PgConnection,
        needs: &Needs,
        book: &mut Book,
    ) -> Result<(), LedgerError> {
        for row in select_any(
            conn,
            "SELECT code AS key, record FROM pollutants WHERE code IN (SELECT UNNEST($1::text[]))",
            &needs.pollutants,
        )
        .await?
        {
            book.pollutants
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_any(
            conn,
            "SELECT code AS key, record FROM regions WHERE code IN (SELECT UNNEST($1::text[]))",
            &needs.regions,
        )
        .await?
        {
            book.regions
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_any(
            conn,
            "SELECT code AS key, record FROM instruments WHERE code IN (SELECT UNNEST($1::text[]))",
            &needs.instruments,
        )
        .await?
        {
            book.instruments
                .load(row.try_get("key")?, rows::record(row.try_get("record")?)?);
        }
        for row in select_any(conn, "SELECT credit_code AS key FROM enterprises WHERE credit_code IN (SELECT UNNEST($1::text[]))", &needs.enterprises).await? {
            book.enterprises.load(row.try_get("key")?, None);
        }
        for row in select_any(
            conn,
            "SELECT id FROM reductions WHERE id IN (SELECT UNNEST($1::text[]))",
            &needs.reductions,
        )
        .await?
        {
            let id: String = row.try_get("id")?;
            book.reductions.load(id.clone(), rows::reduction_stub(id));
        }
        let select = "SELECT id, debits, credits, frozen, freeze_note FROM accounts WHERE id IN (SELECT UNNEST($1::text[]))";
        for row in select_any(conn, select, &needs.accounts).await? {
            let account = rows::account(
                row.try_get("id")?,
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
        let entries = writes.entries;
        sqlx::query(
            "INSERT INTO journal (seq, idempotency_key, fingerprint, recorded_at, body, prev_hash, hash)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::bytea[], $7::bytea[])",
        )
        .bind(entries.iter().map(|e| e.seq as i64).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| e.idempotency_key.as_str()).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| &e.fingerprint[..]).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| e.recorded_at.as_str()).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| e.body.as_str()).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| &e.prev_hash[..]).collect::<Vec<_>>())
        .bind(entries.iter().map(|e| &e.hash[..]).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;

        insert_records(
            tx,
            "pollutants",
            "code",
            "",
            rows::records(book.pollutants.created())?,
        )
        .await?;
        insert_records(
            tx,
            "regions",
            "code",
            "",
            rows::records(book.regions.created())?,
        )
        .await?;
        let conflict = " ON CONFLICT (credit_code) DO UPDATE SET record = excluded.record";
        insert_records(
            tx,
            "enterprises",
            "credit_code",
            conflict,
            rows::enterprise_records(book.enterprises.changed())?,
        )
        .await?;
        let instruments = rows::records(book.instruments.created())?;
        let scales: Vec<i64> = book
            .instruments
            .created()
            .map(|(_, i)| i64::from(i.scale))
            .collect();
        // Tables a batch did not touch cost no round trip (most batches define nothing).
        if !instruments.is_empty() {
            sqlx::query("INSERT INTO instruments (code, scale, record) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])")
                .bind(instruments.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
                .bind(&scales)
                .bind(instruments.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
                .execute(&mut **tx)
                .await?;
        }

        let reductions: Vec<_> = book.reductions.created().map(|(_, r)| r).collect();
        if !reductions.is_empty() {
            sqlx::query(
                "INSERT INTO reductions (id, enterprise, instrument, units, measure, evidence, seq)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])",
            )
            .bind(reductions.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| r.enterprise.as_str()).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| r.instrument.as_str()).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| r.units).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| rows::measure(r.measure)).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| r.evidence.as_str()).collect::<Vec<_>>())
            .bind(reductions.iter().map(|r| r.seq as i64).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }

        let accounts: Vec<_> = book.accounts.changed().map(|(_, a)| a).collect();
        sqlx::query(
            "INSERT INTO accounts (id, owner, kind, instrument, debits, credits, frozen, freeze_note)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bool[], $8::text[])
             ON CONFLICT (id) DO UPDATE SET debits = excluded.debits, credits = excluded.credits, frozen = excluded.frozen, freeze_note = excluded.freeze_note",
        )
        .bind(accounts.iter().map(|a| a.key.id()).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.key.owner.as_str()).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.key.kind.as_str()).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.key.instrument.as_str()).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.debits).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.credits).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| a.frozen).collect::<Vec<_>>())
        .bind(accounts.iter().map(|a| rows::freeze_note(a)).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;

        // New holds are plain inserts; only holds loaded from storage go through `ON CONFLICT DO
        // UPDATE`, which costs about half again as much per row (a speculative insertion), and a
        // market entry of 2,048 orders places 2,048 new holds.
        let (created, updated): (Vec<&Hold>, Vec<&Hold>) = book
            .holds
            .changed()
            .map(|(_, h)| h)
            .partition(|h| book.holds.is_created(&h.id));
        if !created.is_empty() {
            sqlx::query(
                "INSERT INTO holds (id, instrument, holder, amount, remaining, expires_at, state)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])",
            )
            .bind(created.iter().map(|h| h.id.as_str()).collect::<Vec<_>>())
            .bind(created.iter().map(|h| h.instrument.as_str()).collect::<Vec<_>>())
            .bind(created.iter().map(|h| h.holder.id()).collect::<Vec<_>>())
            .bind(created.iter().map(|h| h.amount).collect::<Vec<_>>())
            .bind(created.iter().map(|h| h.remaining).collect::<Vec<_>>())
            .bind(created.iter().map(|h| format_time(h.expires_at)).collect::<Vec<_>>())
            .bind(created.iter().map(|h| h.state.as_str()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }
        if !updated.is_empty() {
            // An upsert rather than `UPDATE … FROM UNNEST(…)`: the conflict check always probes
            // the primary key, where a join may be planned as a scan of every hold.
            sqlx::query(
                "INSERT INTO holds (id, instrument, holder, amount, remaining, expires_at, state)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
                 ON CONFLICT (id) DO UPDATE SET instrument = excluded.instrument, holder = excluded.holder,
                 amount = excluded.amount, remaining = excluded.remaining, expires_at = excluded.expires_at,
                 state = excluded.state",
            )
            .bind(updated.iter().map(|h| h.id.as_str()).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| h.instrument.as_str()).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| h.holder.id()).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| h.amount).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| h.remaining).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| format_time(h.expires_at)).collect::<Vec<_>>())
            .bind(updated.iter().map(|h| h.state.as_str()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
        }

        let (seq, hash) = writes.head;
        sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
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

/// `sql` selects `… WHERE key IN (SELECT UNNEST($1::text[]))`: a semi-join the planner can run
/// with a hash or the index. `key = ANY($1)` in a cached generic plan compares each row with each
/// key in turn, which is quadratic in the batch size.
async fn select_any(
    conn: &mut PgConnection,
    sql: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<PgRow>, LedgerError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    Ok(sqlx::query(sql).bind(&keys).fetch_all(&mut *conn).await?)
}

async fn insert_records(
    tx: &mut Tx,
    table: &str,
    key: &str,
    suffix: &str,
    records: Vec<(String, String)>,
) -> Result<(), LedgerError> {
    if records.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {table} ({key}, record) SELECT * FROM UNNEST($1::text[], $2::text[]){suffix}"
    );
    sqlx::query(&sql)
        .bind(records.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) fn stored_entry(row: &PgRow) -> Result<StoredEntry, LedgerError> {
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
