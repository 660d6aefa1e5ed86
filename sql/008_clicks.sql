-- 008_clicks.sql - click tracking and conversions: the links of each
-- mailing, the clicks on them, the conversions, and each mailing's
-- tracking options (src/store/links.c owns links, src/web/clicks.c clicks,
-- src/store/conversion.c conversions; herald-web writes clicks).
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

-- conversions: one row per conversion (a donation, a sign-up), by the
-- id its source gives it, so importing or posting it again changes
-- nothing (src/store/conversion.c owns it). recipient_id is who converted;
-- claimed_mailing_id the mailing the row named (a click token's, or the
-- one given with the email). mailing_id is the mailing it is attributed
-- to: the last click of the recipient within attribution_window before
-- converted_at (link_id set, attribution 'click'), else the last
-- mailing delivered to the recipient within it ('delivery'), else none
-- ('none', mailing_id NULL).
CREATE TABLE IF NOT EXISTS conversions (
  conversion_id       VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  amount              DECIMAL(14,2) NOT NULL,
  currency            CHAR(3) CHARACTER SET ascii NOT NULL,
  converted_at        DATETIME NOT NULL,
  recipient_id        BIGINT UNSIGNED NOT NULL,
  claimed_mailing_id  BIGINT UNSIGNED NULL,
  mailing_id          BIGINT UNSIGNED NULL,
  link_id             BIGINT UNSIGNED NULL,
  attribution         ENUM('click','delivery','none') NOT NULL,
  source              ENUM('import','post') NOT NULL,
  created_at          TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (conversion_id),
  KEY conversions_mailing (mailing_id),
  KEY conversions_recipient (recipient_id)
) ENGINE=InnoDB;
