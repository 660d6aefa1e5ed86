/*
 * cluster_settings.h - the settings every node must agree on.
 *
 * Most settings are a node's own (its relay, workers, rates within its
 * share, state directory). A few are written into every message, and
 * nodes sending one mailing must agree on them, or its recipients get
 * links and return paths of different hosts:
 *
 *	message_domain, bounce_domain, track_domain, unsubscribe_url,
 *	unsubscribe_mailto, view_online_url
 *
 * herald db init and db migrate record them from the configuration they
 * run with in the cluster_settings table (sql/014_keys.sql): run them
 * with the reference configuration. A worker whose configuration
 * differs from the record sends nothing, releases its batch and logs
 * which key differs; the other nodes go on. (The token keys are shared
 * too, but live in their own table: keyring.h.)
 *
 * Functions give 0, or -1 with a sentence in err.
 */
#ifndef HERALD_CLUSTER_SETTINGS_H
#define HERALD_CLUSTER_SETTINGS_H

#include <mysql.h>

#include "buf.h"
#include "config.h"

/* Records cfg's values as the cluster's; appends each change to report
 * ("cluster setting KEY = VALUE recorded"). */
int cluster_settings_record(const struct herald_config *cfg, MYSQL *db,
    struct buf *report, struct buf *err);

/*
 * Compares cfg with the record: 0 and *differs 0 when every recorded
 * key agrees (or nothing is recorded yet), *differs 1 with the first
 * difference in why (key, both values, what to do).
 */
int cluster_settings_check(const struct herald_config *cfg, MYSQL *db,
    int *differs, struct buf *why, struct buf *err);

#endif
