-- 006_unsubscribe_channel.sql - how an unsubscribe arrived and from where
-- (src/store/suppression.c owns the table; herald-web and the mailto handler
-- write these columns).
--
-- channel: 'one-click' (RFC 8058 POST from the mailbox provider),
-- 'page' (the confirmation page's button) or 'mailto'; NULL for entries
-- that are not unsubscribes. remote_address: the client's IP address as
-- the web endpoint saw it, NULL when there is none.
-- Each statement is safe to run again.

ALTER TABLE suppressions
  ADD COLUMN IF NOT EXISTS channel ENUM('one-click','page','mailto') NULL AFTER detail;
ALTER TABLE suppressions
  ADD COLUMN IF NOT EXISTS remote_address VARCHAR(45) CHARACTER SET ascii NULL AFTER channel;
