-- Who holds an instrument (its expiry's write-off asks) without scanning every account.
CREATE INDEX accounts_by_instrument ON accounts (instrument);
