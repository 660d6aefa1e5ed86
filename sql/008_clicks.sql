-- 008_clicks.sql - click tracking: the links of each mailing, the clicks
-- on them, and each mailing's tracking options (src/links.c owns links,
-- src/clicks.c owns clicks; herald-web writes clicks).
--
-- links: one row per distinct target URL of a mailing's tracked links
-- (UTM parameters included), made when a worker or "herald preview"
-- compiles the mailing's templates, never per message. Its id is the
-- LINK a click token signs (token.h); url_hash (SHA-256 of url) keeps it
-- unique per mailing, since a TEXT column cannot be a unique key.
--
-- clicks: one row per (mailing, recipient, link): when it was first and
-- last clicked and how many times in all. herald-web adds to it in
-- batches (INSERT ... ON DUPLICATE KEY UPDATE), so the sum of clicks is
-- the number of redirects served.
--
-- mailings.track_clicks: 0 turns tracking off for one mailing (it also
-- needs track_domain in herald.conf); utm_parameters: a query string
-- added to the target of every tracked link, or NULL.
-- Each statement is safe to run again.

CREATE TABLE IF NOT EXISTS links (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  mailing_id  BIGINT UNSIGNED NOT NULL,
  url_hash    BINARY(32) NOT NULL,
  url         TEXT NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY links_mailing_url (mailing_id, url_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS clicks (
  mailing_id    BIGINT UNSIGNED NOT NULL,
  recipient_id  BIGINT UNSIGNED NOT NULL,
  link_id       BIGINT UNSIGNED NOT NULL,
  first_at      DATETIME(3) NOT NULL,
  last_at       DATETIME(3) NOT NULL,
  clicks        INT UNSIGNED NOT NULL,
  PRIMARY KEY (mailing_id, recipient_id, link_id),
  KEY clicks_recipient (recipient_id, last_at)
) ENGINE=InnoDB;

ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS track_clicks TINYINT(1) NOT NULL DEFAULT 1;
ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS utm_parameters VARCHAR(500) CHARACTER SET ascii NULL;
