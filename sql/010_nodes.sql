-- 010_nodes.sql - the heraldd nodes sharing this database, and their
-- relays (src/store/node.c owns both tables).
--
-- Each heraldd's monitor registers its node when it starts (name is
-- node_name, or the host name: the name batch leases carry in
-- batches.owner_node) and beats every few seconds with what its
-- scoreboard shows: workers, totals, send rate, and per relay whether
-- it is up, its rate and totals. herald status lists every node; one
-- whose heartbeat is older than node_timeout is shown dead, and its
-- batches go back to the others when their leases expire. Times are
-- the database server's UTC clock, so nodes' clocks need not agree.
-- stopped_at is set when heraldd stops cleanly and cleared when it
-- starts again.
-- Each statement is safe to run again.

CREATE TABLE IF NOT EXISTS nodes (
  name             VARCHAR(255) NOT NULL,
  host             VARCHAR(255) NOT NULL,
  pid              INT UNSIGNED NOT NULL,
  version          VARCHAR(64) NOT NULL,
  started_at       DATETIME(3) NOT NULL,
  heartbeat_at     DATETIME(3) NOT NULL,
  stopped_at       DATETIME(3) NULL,
  workers          INT UNSIGNED NOT NULL DEFAULT 0,
  workers_sending  INT UNSIGNED NOT NULL DEFAULT 0,
  sent_count       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  deferred_count   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  failed_count     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  sent_per_second  DOUBLE NOT NULL DEFAULT 0,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS node_relays (
  node             VARCHAR(255) NOT NULL,
  relay            VARCHAR(100) NOT NULL,
  up               TINYINT(1) NOT NULL,
  sent_per_second  DOUBLE NOT NULL DEFAULT 0,
  sent_count       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  deferred_count   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  failed_count     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (node, relay)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
