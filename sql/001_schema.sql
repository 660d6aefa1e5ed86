-- 001_schema.sql - herald schema v1 (DESIGN.md section 5).
--
-- Applied by "herald db init" / "herald db migrate", which records the
-- version in schema_migrations after the whole file succeeded. MariaDB
-- commits each DDL statement on its own, so every statement here is
-- written to be re-run safely (IF NOT EXISTS): a migration interrupted
-- half-way is completed by the next run.

-- Recipients: designed for 150 M rows. Emails are ASCII (herald's SMTP
-- client has no SMTPUTF8) and compared without case, so John@x and
-- john@x are one person.
CREATE TABLE IF NOT EXISTS recipients (
  id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  email                VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  first_name           VARCHAR(100) NULL,
  last_name            VARCHAR(100) NULL,
  address              VARCHAR(255) NULL,
  city                 VARCHAR(100) NULL,
  state                VARCHAR(64)  NULL,
  zip                  VARCHAR(16)  NULL,
  country              CHAR(2) CHARACTER SET ascii NULL,
  donated_total        DECIMAL(14,2) NOT NULL DEFAULT 0,
  donation_count       INT UNSIGNED NOT NULL DEFAULT 0,
  last_donation_amount DECIMAL(14,2) NULL,
  last_donation_at     DATE NULL,
  status               ENUM('active','unsubscribed','bounced','complained') NOT NULL DEFAULT 'active',
  attributes           JSON NULL,
  created_at           TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at           TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY recipients_email (email),
  KEY recipients_status (status),
  KEY recipients_geography (country, state, zip),
  KEY recipients_last_donation (last_donation_at),
  KEY recipients_donated_total (donated_total)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Addresses never to mail again, whether or not they are recipients.
CREATE TABLE IF NOT EXISTS suppressions (
  email       VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  reason      ENUM('unsubscribed','bounced','complained','manual') NOT NULL,
  mailing_id  BIGINT UNSIGNED NULL,
  detail      VARCHAR(512) NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (email),
  KEY suppressions_reason (reason)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Named lists ("herald import --list donors"); membership by recipient.
CREATE TABLE IF NOT EXISTS lists (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(100) NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY lists_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS list_members (
  list_id       INT UNSIGNED NOT NULL,
  recipient_id  BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (list_id, recipient_id),
  KEY list_members_recipient (recipient_id)
) ENGINE=InnoDB;

-- Named segment expressions (compiled to SQL by herald, never run as SQL).
CREATE TABLE IF NOT EXISTS segments (
  id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name        VARCHAR(100) NOT NULL,
  expression  TEXT NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY segments_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Mailings. Times are UTC. The counters are kept by the workers and the
-- stager; the stage table holds the truth per recipient.
CREATE TABLE IF NOT EXISTS mailings (
  id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name                VARCHAR(200) NOT NULL,
  template_dir        VARCHAR(1024) NOT NULL,
  subject             VARCHAR(998) NOT NULL,
  from_address        VARCHAR(320) NOT NULL,
  reply_to            VARCHAR(320) NULL,
  segment_id          INT UNSIGNED NULL,
  segment_expression  TEXT NOT NULL,
  send_at             DATETIME NOT NULL,
  priority            INT NOT NULL DEFAULT 0,
  rate_limit_per_hour INT UNSIGNED NULL,
  expected_value      DECIMAL(14,2) NULL,
  state               ENUM('draft','queued','staging','ready','sending','paused','done','cancelled','pulled') NOT NULL DEFAULT 'draft',
  stage_table         VARCHAR(64) CHARACTER SET ascii NULL,
  staged_count        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  sent_count          BIGINT UNSIGNED NOT NULL DEFAULT 0,
  deferred_count      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  failed_count        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  bounced_count       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  suppressed_count    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  cancelled_count     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  created_at          TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at          TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  staged_at           DATETIME NULL,
  finished_at         DATETIME NULL,
  PRIMARY KEY (id),
  KEY mailings_due (state, send_at, priority),
  KEY mailings_segment (segment_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A/B cells of a mailing: each may override the template or the subject.
CREATE TABLE IF NOT EXISTS variants (
  id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
  mailing_id    BIGINT UNSIGNED NOT NULL,
  name          VARCHAR(100) NOT NULL,
  weight        INT UNSIGNED NOT NULL DEFAULT 1,
  template_dir  VARCHAR(1024) NULL,
  subject       VARCHAR(998) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY variants_mailing_name (mailing_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Batches of about 1,000 staged rows. Workers claim them with
-- SELECT ... FOR UPDATE SKIP LOCKED under READ COMMITTED (InnoDB only),
-- holding a lease they renew; an expired lease frees the batch for
-- another worker, which resumes after checkpoint_row.
CREATE TABLE IF NOT EXISTS batches (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  mailing_id        BIGINT UNSIGNED NOT NULL,
  stage_table       VARCHAR(64) CHARACTER SET ascii NOT NULL,
  first_row         INT UNSIGNED NOT NULL,
  last_row          INT UNSIGNED NOT NULL,
  state             ENUM('ready','claimed','done') NOT NULL DEFAULT 'ready',
  owner_node        VARCHAR(255) NULL,
  owner_pid         INT UNSIGNED NULL,
  lease_expires_at  DATETIME(3) NULL,
  checkpoint_row    INT UNSIGNED NOT NULL DEFAULT 0,
  sent_count        INT UNSIGNED NOT NULL DEFAULT 0,
  deferred_count    INT UNSIGNED NOT NULL DEFAULT 0,
  failed_count      INT UNSIGNED NOT NULL DEFAULT 0,
  claim_count       INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at   DATETIME NULL,
  created_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY batches_claimable (state, lease_expires_at),
  KEY batches_mailing (mailing_id, state)
) ENGINE=InnoDB;

-- The stage-table definition. Each mailing is staged into a fresh
-- MyISAM copy of this table (CREATE TABLE stage_N LIKE stage_template),
-- so every child of the history MERGE table has the identical definition
-- that MRG_MyISAM requires. It holds a snapshot of each recipient's
-- personalization fields at staging time and the delivery state.
CREATE TABLE IF NOT EXISTS stage_template (
  mailing_id           BIGINT UNSIGNED NOT NULL,
  row_id               INT UNSIGNED NOT NULL,
  recipient_id         BIGINT UNSIGNED NOT NULL,
  variant_id           INT UNSIGNED NOT NULL DEFAULT 0,
  email                VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  first_name           VARCHAR(100) NULL,
  last_name            VARCHAR(100) NULL,
  city                 VARCHAR(100) NULL,
  state                VARCHAR(64)  NULL,
  zip                  VARCHAR(16)  NULL,
  country              CHAR(2) CHARACTER SET ascii NULL,
  donated_total        DECIMAL(14,2) NOT NULL DEFAULT 0,
  last_donation_amount DECIMAL(14,2) NULL,
  last_donation_at     DATE NULL,
  attributes           TEXT NULL,
  delivery_state       ENUM('pending','sent','deferred','failed','bounced','suppressed','cancelled') NOT NULL DEFAULT 'pending',
  attempts             TINYINT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at      DATETIME NULL,
  queue_id             VARCHAR(64) CHARACTER SET ascii NULL,
  relay_reply          VARCHAR(512) NULL,
  delivered_at         DATETIME NULL,
  PRIMARY KEY (mailing_id, row_id),
  KEY stage_recipient (recipient_id),
  KEY stage_email (email)
) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The delivery history ("who got what"): a MERGE table over every stage
-- table. The stager adds each new stage table to its UNION; an empty
-- UNION is valid until the first mailing is staged.
CREATE TABLE IF NOT EXISTS history (
  mailing_id           BIGINT UNSIGNED NOT NULL,
  row_id               INT UNSIGNED NOT NULL,
  recipient_id         BIGINT UNSIGNED NOT NULL,
  variant_id           INT UNSIGNED NOT NULL DEFAULT 0,
  email                VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  first_name           VARCHAR(100) NULL,
  last_name            VARCHAR(100) NULL,
  city                 VARCHAR(100) NULL,
  state                VARCHAR(64)  NULL,
  zip                  VARCHAR(16)  NULL,
  country              CHAR(2) CHARACTER SET ascii NULL,
  donated_total        DECIMAL(14,2) NOT NULL DEFAULT 0,
  last_donation_amount DECIMAL(14,2) NULL,
  last_donation_at     DATE NULL,
  attributes           TEXT NULL,
  delivery_state       ENUM('pending','sent','deferred','failed','bounced','suppressed','cancelled') NOT NULL DEFAULT 'pending',
  attempts             TINYINT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at      DATETIME NULL,
  queue_id             VARCHAR(64) CHARACTER SET ascii NULL,
  relay_reply          VARCHAR(512) NULL,
  delivered_at         DATETIME NULL,
  KEY history_mailing_row (mailing_id, row_id),
  KEY history_recipient (recipient_id),
  KEY history_email (email)
) ENGINE=MRG_MyISAM UNION=() INSERT_METHOD=NO DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
