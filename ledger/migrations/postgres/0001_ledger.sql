-- The ledger's tables. Amounts are BIGINT minor units; timestamps are fixed-width RFC 3339 text
-- (the same text the hash chain covers).

-- One row: the last journal entry. Every writer locks it FOR UPDATE first, so writers in any
-- number of processes take turns and the chain stays a single line.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash BYTEA   NOT NULL
) WITH (fillfactor = 10);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE journal (
    seq             BIGINT PRIMARY KEY,
    idempotency_key TEXT   NOT NULL UNIQUE,
    fingerprint     BYTEA  NOT NULL,
    recorded_at     TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    prev_hash       BYTEA  NOT NULL,
    hash            BYTEA  NOT NULL
);

-- Postings as rows. They are stored once, in each journal entry's body (so the hash chain covers
-- them); writing them a second time into their own table cost more than the journal insert itself.
-- The view is not updatable, so postings stay append-only with the journal.
CREATE VIEW postings AS
SELECT j.seq                            AS seq,
       p.ordinality - 1                 AS idx,
       p.value ->> 'instrument'         AS instrument,
       p.value ->> 'debit'              AS debit,
       p.value ->> 'credit'             AS credit,
       (p.value ->> 'units')::bigint    AS units,
       p.value ->> 'code'               AS code,
       p.value ->> 'reference'          AS reference
FROM journal j
CROSS JOIN LATERAL jsonb_array_elements(j.body::jsonb -> 'postings') WITH ORDINALITY AS p(value, ordinality);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE pollutants (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE regions (code TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE instruments (code TEXT PRIMARY KEY, scale BIGINT NOT NULL, record TEXT NOT NULL);
CREATE TABLE enterprises (credit_code TEXT PRIMARY KEY, record TEXT NOT NULL);

CREATE TABLE accounts (
    id         TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    instrument TEXT    NOT NULL,
    debits     BIGINT  NOT NULL CHECK (debits >= 0),
    credits    BIGINT  NOT NULL CHECK (credits >= 0),
    frozen     BOOLEAN NOT NULL,
    CHECK (credits >= debits OR kind IN ('issuance', 'settlement_bank'))
) WITH (fillfactor = 50);
-- Every batch rewrites the balances it touched. Free space on each page lets those updates stay
-- heap-only (no index entries, dead versions pruned in place) instead of bloating both indexes.
CREATE INDEX accounts_by_owner ON accounts (owner, instrument);

CREATE TABLE holds (
    id         TEXT   PRIMARY KEY,
    instrument TEXT   NOT NULL,
    holder     TEXT   NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount > 0),
    remaining  BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at TEXT   NOT NULL,
    state      TEXT   NOT NULL
);
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE state = 'open';

CREATE TABLE reductions (
    id         TEXT   PRIMARY KEY,
    enterprise TEXT   NOT NULL,
    instrument TEXT   NOT NULL,
    units      BIGINT NOT NULL CHECK (units > 0),
    measure    TEXT   NOT NULL,
    evidence   TEXT   NOT NULL,
    seq        BIGINT NOT NULL
);
