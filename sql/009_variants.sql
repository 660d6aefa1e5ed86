-- 009_variants.sql - variants made by "herald mailing variant add"
-- (src/store/variant.c owns the table).
--
-- share_basis_points: the variant's share of the mailing's recipients,
-- in hundredths of a percent (10% = 1000). The shares of a mailing's
-- variants add up to at most 10000; the rest of its recipients get the
-- mailing's own content (variant A, variant_id 0 in the stage table).
-- It replaces weight, which was relative and never written by herald.
-- from_address: the variant's own From, NULL for the mailing's.
-- Each statement is safe to run again.

ALTER TABLE variants
  ADD COLUMN IF NOT EXISTS share_basis_points SMALLINT UNSIGNED NOT NULL DEFAULT 0 AFTER name;
ALTER TABLE variants
  ADD COLUMN IF NOT EXISTS from_address VARCHAR(320) NULL AFTER subject;
ALTER TABLE variants
  DROP COLUMN IF EXISTS weight;
