-- 003_suppressions.sql - every suppression keeps who made it, why and
-- when (src/store/suppression.c owns the table; "herald suppress" is its CLI).
--
-- Before: reason was an ENUM naming the cause. After: source names who
-- or what suppressed the address (operator, import, bounce, unsubscribe,
-- complaint), reason is free text ("asked by phone", "bounced"), detail
-- the longer evidence when there is some (a bounce's status and the
-- remote server's words), created_at the time.
-- Each statement is safe to run again (migrations are re-run after an
-- interruption: MariaDB commits every DDL statement on its own).

ALTER TABLE suppressions
  ADD COLUMN IF NOT EXISTS source ENUM('operator','import','bounce','unsubscribe','complaint')
    NOT NULL DEFAULT 'operator' AFTER email;

-- The old ENUM value says where an entry came from. It stays as the
-- entry's reason text, so running this again finds the same words.
UPDATE suppressions SET source = CASE reason
  WHEN 'bounced' THEN 'bounce'
  WHEN 'unsubscribed' THEN 'unsubscribe'
  WHEN 'complained' THEN 'complaint'
  ELSE source END;

ALTER TABLE suppressions DROP INDEX IF EXISTS suppressions_reason;
ALTER TABLE suppressions MODIFY reason VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE suppressions ADD INDEX IF NOT EXISTS suppressions_source (source);

-- A worker turns the rows of addresses suppressed since staging into
-- "suppressed" (a MyISAM stage table, outside any transaction); the
-- batch remembers how many of its rows the mailing's suppressed_count
-- already holds, so each is counted once whatever fails in between.
ALTER TABLE batches
  ADD COLUMN IF NOT EXISTS suppressed_count INT UNSIGNED NOT NULL DEFAULT 0 AFTER failed_count;
