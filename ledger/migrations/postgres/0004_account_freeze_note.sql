-- What a freeze said about itself (its reason and reference, as JSON), so every refusal it causes
-- can name them. NULL for accounts that are not frozen and for freezes that gave neither.
ALTER TABLE accounts ADD COLUMN freeze_note TEXT;
