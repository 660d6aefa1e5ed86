-- 011_send_windows.sql - time-zone send windows (issue #19).
--
-- A recipient's zone (an IANA name, checked against zoneinfo at
-- import), a list's default zone for the rows imported into it without
-- one, and a mailing's window: the local hours (minutes after midnight)
-- and weekdays (bit 0 Monday ... bit 6 Sunday) in which each recipient
-- is mailed, and the zone of recipients who have none.
--
-- Staging writes each row's due time into the stage table's
-- next_attempt_at (the moment its first attempt may start: the column
-- a deferred row's retry time already uses), so stage tables, and the
-- history MERGE table over them, keep their definition; a batch's
-- next_attempt_at is the due time of its first row, and claims take
-- only due batches through batches_due.
--
-- Every statement can be run again (IF NOT EXISTS), and ADD COLUMN of
-- a NULL column is instant in InnoDB: no table copy of recipients.
ALTER TABLE recipients
  ADD COLUMN IF NOT EXISTS time_zone VARCHAR(64) CHARACTER SET ascii NULL;

ALTER TABLE lists
  ADD COLUMN IF NOT EXISTS default_time_zone VARCHAR(64) CHARACTER SET ascii NULL;

ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS window_start SMALLINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS window_end SMALLINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS window_days TINYINT UNSIGNED NOT NULL DEFAULT 127,
  ADD COLUMN IF NOT EXISTS time_zone VARCHAR(64) CHARACTER SET ascii NULL;

ALTER TABLE batches
  ADD INDEX IF NOT EXISTS batches_due (mailing_id, state, next_attempt_at);
