-- 014_keys.sql - the token keys, shared by every node (issue #19).
--
-- The keys that sign unsubscribe, view-online and click tokens and the
-- VERP return path, and key the draw of recipients into variants
-- (src/mail/token.h). Kept here rather than in each node's files, so
-- every heraldd and herald-web signs and verifies with the same keys
-- and a rotation reaches them all without a restart (src/store/keyring.c
-- reads them again every few seconds, and at once when a token names a
-- key it does not hold).
--
-- The unretired key created last (highest seq) signs; every unretired
-- key verifies; a retired key verifies nothing and stays as a record
-- (its id is never reused). herald key rotate adds a key, herald key
-- retire ID retires one; herald db init and db migrate import the keys
-- of older versions (token_key lines, STATE/token-keys) once.
-- Secrets are readable by the operator and by the accounts that sign
-- or verify (daemon, intake, web: src/store/dbaccount.c) only.
-- Every statement can be run again.
CREATE TABLE IF NOT EXISTS token_keys (
  seq         INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id          VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret      VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  origin      VARCHAR(255) NOT NULL,
  created_at  DATETIME(3) NOT NULL,
  retired_at  DATETIME(3) NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY token_keys_id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The settings every node must agree on, as herald db init or db migrate
-- last recorded them from the configuration it ran with: the domains and
-- URLs written into every message (src/store/cluster_settings.c lists
-- them). Two
-- nodes with different values would send one mailing's recipients
-- different links and return paths, some of which may reach neither
-- herald-web nor the intake; so a worker whose configuration differs
-- sends nothing and logs why, and the other nodes go on.
CREATE TABLE IF NOT EXISTS cluster_settings (
  name        VARCHAR(64) CHARACTER SET ascii NOT NULL,
  value       VARCHAR(1024) NOT NULL,
  recorded_at DATETIME(3) NOT NULL,
  recorded_by VARCHAR(255) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
