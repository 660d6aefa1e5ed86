-- 005_signed_return_paths.sql - return paths are signed from here on.
--
-- herald signs its VERP return paths (src/mail/returnpath.h) and refuses
-- bounces to an unsigned or badly signed one. When this migration was
-- applied (schema_migrations.applied_at, found by this file's name) is
-- the upgrade: unsigned return paths of mailings staged before it stay
-- accepted for 14 days after it, so their late bounces still count.
--
-- Each return path refused is counted here, per day and reason
-- ("unsigned", "forged"), so an operator sees forgery attempts.
CREATE TABLE IF NOT EXISTS feedback_refused (
  day     DATE NOT NULL,
  reason  VARCHAR(32) CHARACTER SET ascii NOT NULL,
  count   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (day, reason)
) ENGINE=InnoDB;
