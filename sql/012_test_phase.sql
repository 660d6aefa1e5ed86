-- 012_test_phase.sql - a mailing's test phase: its variants go to a test
-- share of the recipients first, the rest (the holdout) waits, and the
-- winner goes to the holdout (issue #18; src/store/testphase.c owns the
-- columns and test_results, the stager fills test_cell_rows).
--
-- mailings: test_share_basis_points, the test cell's share of the
-- recipients (hundredths of a percent, 20% = 2000), NULL for a mailing
-- without a test phase; test_wait_seconds, how long after the test cell
-- was sent the winner is chosen at the latest; test_metric, what wins.
-- test_cell_rows: how many staged rows (row_id 1 .. test_cell_rows) form
-- the test cell; the rows after it are the holdout. test_sent_at: when
-- heraldd's monitor first saw every test-cell batch through its first
-- pass (the wait starts then). winner_variant_id (0 = A), winner_at and
-- winner_reason: the decision, made once (UPDATE ... WHERE
-- winner_variant_id IS NULL).
--
-- batches.state 'held': a holdout batch, never claimed until the winner
-- is chosen and it is made 'ready'.
--
-- test_results: the figures the winner was chosen on, one row per
-- variant of the test cell: delivered, the metric's count (clickers or
-- converters; for revenue, converters too), revenue, the rate the rule
-- compared, and the winner's z over that variant (NULL for the winner).
-- Each statement is safe to run again.

ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS test_share_basis_points SMALLINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS test_wait_seconds INT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS test_metric ENUM('clicks','conversions','revenue') NULL,
  ADD COLUMN IF NOT EXISTS test_cell_rows BIGINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS test_sent_at DATETIME NULL,
  ADD COLUMN IF NOT EXISTS winner_variant_id INT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS winner_at DATETIME NULL,
  ADD COLUMN IF NOT EXISTS winner_reason VARCHAR(2000) NULL;

ALTER TABLE batches
  MODIFY COLUMN state ENUM('ready','claimed','done','held') NOT NULL DEFAULT 'ready';

CREATE TABLE IF NOT EXISTS test_results (
  mailing_id  BIGINT UNSIGNED NOT NULL,
  variant_id  INT UNSIGNED NOT NULL,
  name        VARCHAR(100) NOT NULL,
  delivered   BIGINT UNSIGNED NOT NULL,
  events      BIGINT UNSIGNED NOT NULL,
  revenue     DECIMAL(16,2) NOT NULL,
  rate        DOUBLE NOT NULL,
  z           DOUBLE NULL,
  PRIMARY KEY (mailing_id, variant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
