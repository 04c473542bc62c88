-- The `postings` view cast each whole journal body to `jsonb`, which PostgreSQL refuses for any
-- body holding `\u0000` (text cannot hold NUL): one such entry made every read of the view, and so
-- `ets ledger verify`, fail for ever. The ledger no longer reads the view (verify and every read
-- parse the bodies in Rust); the view stays for people querying with SQL, and no longer fails:
-- it reads each body with every `\u0000` replaced by `\ufffd` (the replacement character), so a
-- NUL in a posting's reference shows as U+FFFD here and only here. (The text replaced is the
-- six characters `\u0000`; inside a body's JSON a backslash only ever starts an escape, so at
-- worst an escaped backslash followed by `u0000` in some text shows as `\ufffd` in this view.)
DROP VIEW IF EXISTS postings;
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
CROSS JOIN LATERAL json_array_elements(replace(j.body, '\u0000', '\ufffd')::json -> 'postings')
    WITH ORDINALITY AS p(value, ordinality);
