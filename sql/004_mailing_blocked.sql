-- 004_mailing_blocked.sql - the blocked state of a mailing and its reason.
--
-- A worker that cannot build a mailing's messages (a template broken
-- mid-send) leaves its batches waiting; the mailing says so, with the
-- reason, until a worker builds its messages again (src/store/mailing.h).
-- Safe to re-run, like every migration.
ALTER TABLE mailings
  MODIFY COLUMN state ENUM('draft','queued','staging','ready','sending','blocked','paused','done','cancelled','pulled') NOT NULL DEFAULT 'draft',
  ADD COLUMN IF NOT EXISTS blocked_reason VARCHAR(1000) NULL AFTER state,
  ADD COLUMN IF NOT EXISTS blocked_at DATETIME NULL AFTER blocked_reason;
