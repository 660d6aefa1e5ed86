-- 013_pull.sql - the value check: pulling a mailing whose projected
-- revenue falls short of its expected value (src/store/pull.c owns
-- these columns; issue #18).
--
-- pull_check: 'watched' while heraldd's monitor checks the mailing
-- (every pull_check_interval, once it has its sample); 'pulled' once
-- the check pulled it (a plain "herald mailing resume" is then refused);
-- 'exempt' after "herald mailing resume --force": the operator chose to
-- send it anyway, so the check leaves it alone from then on.
-- pull_figures: the sentence of the last check's figures (delivered,
-- revenue, the share of conversions that should have arrived, projected
-- and expected revenue per 1,000 delivered), shown by "herald mailing
-- show" and "herald status"; pull_checked_at: when.
-- Each statement is safe to run again; ADD COLUMN is instant in InnoDB.

ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS pull_check ENUM('watched','pulled','exempt') NOT NULL DEFAULT 'watched',
  ADD COLUMN IF NOT EXISTS pull_figures VARCHAR(1000) NULL,
  ADD COLUMN IF NOT EXISTS pull_checked_at DATETIME NULL;
