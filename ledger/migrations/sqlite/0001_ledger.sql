-- The ledger's tables. Amounts are INTEGER minor units (never NUMERIC: SQLite would turn
-- decimals into floats); timestamps are fixed-width RFC 3339 text.

-- One row: the last journal entry. Writers update it in every batch, which makes them take turns.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE journal (
    seq             INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    fingerprint     BLOB    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

-- Postings as rows. They are stored once, in each journal entry's body (so the hash chain covers
-- them); writing them a second time into their own table cost more than the journal insert itself.
-- The view is read-only, so postings stay append-only with the journal.
CREATE VIEW postings AS
SELECT j.seq                       AS seq,
       p.key                       AS idx,
       p.value ->> 'instrument'    AS instrument,
       p.value ->> 'debit'         AS debit,
       p.value ->> 'credit'        AS credit,
       p.value ->> 'units'         AS units,
       p.value ->> 'code'          AS code,
       p.value ->> 'reference'     AS reference
FROM journal j, json_each(j.body, '$.postings') p;

CREATE TABLE pollutants (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE regions (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE instruments (code TEXT PRIMARY KEY, scale INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE enterprises (credit_code TEXT PRIMARY KEY, record TEXT NOT NULL);

CREATE TABLE accounts (
    id         TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    instrument TEXT    NOT NULL,
    debits     INTEGER NOT NULL CHECK (debits >= 0),
    credits    INTEGER NOT NULL CHECK (credits >= 0),
    frozen     INTEGER NOT NULL,
    -- Only the issuance and settlement-bank accounts may go below zero.
    CHECK (credits >= debits OR kind IN ('issuance', 'settlement_bank'))
) WITHOUT ROWID;
CREATE INDEX accounts_by_owner ON accounts (owner, instrument);

CREATE TABLE holds (
    id         TEXT    PRIMARY KEY,
    instrument TEXT    NOT NULL,
    holder     TEXT    NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    remaining  INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at TEXT    NOT NULL,
    state      TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE state = 'open';

CREATE TABLE reductions (
    id         TEXT    PRIMARY KEY,
    enterprise TEXT    NOT NULL,
    instrument TEXT    NOT NULL,
    units      INTEGER NOT NULL CHECK (units > 0),
    measure    TEXT    NOT NULL,
    evidence   TEXT    NOT NULL,
    seq        INTEGER NOT NULL
);
