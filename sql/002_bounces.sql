-- 002_bounces.sql - bounces recorded apart from the rows they concern.
--
-- A bounce can arrive days after its message was sent (Postfix returns
-- a DSN only after maximal_queue_lifetime, 5 days by default), when
-- "herald maintain" may already have moved the mailing's rows from its
-- stage table into a monthly archive, and packed that archive
-- (read-only). So "herald bounce" records each one here, whatever table
-- the row lives in; "herald report", "herald history" and received(N)
-- read a row with a bounce here as bounced. One row per message: the
-- primary key makes recording the same bounce again change nothing.
CREATE TABLE IF NOT EXISTS bounces (
  mailing_id    BIGINT UNSIGNED NOT NULL,
  recipient_id  BIGINT UNSIGNED NOT NULL,
  email         VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  reply         VARCHAR(512) NULL,
  bounced_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (mailing_id, recipient_id),
  KEY bounces_recipient (recipient_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
