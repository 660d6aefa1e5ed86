/*
 * dbaccount.h - herald's database accounts, one per role.
 *
 *	operator   database_user: herald's commands; everything (it creates
 *	           the others, and grants them each stage table).
 *	daemon     daemon_database_user: heraldd. Reads and updates mailings
 *	           and batches (claims, counters, states), reads variants and
 *	           the suppression list, the token keys and the cluster's
 *	           settings, reads and
 *	           records the rows of each stage table. No access to recipients, no DDL: it cannot
 *	           drop a table or read the recipients' other data.
 *	intake     intake_database_user: herald bounce. Reads a mailing's
 *	           stage table name, marks a recipient bounced (status only),
 *	           adds suppressions, reads and marks the stage row of the
 *	           bounce (address and state columns only), counts refusals;
 *	           reads the row of a late bounce in a monthly archive
 *	           (ids and address only); reads the token keys.
 *	web        web_database_user: herald-web. Reads a token's recipient
 *	           (id, address, status), marks it unsubscribed (status
 *	           only), reads and adds suppressions, reads the token
 *	           keys. No stage tables.
 *
 * Stage tables are created per mailing, and MariaDB grants by table name
 * only one table at a time (a wildcard is for database names): a grant
 * on the whole database would let the daemon read recipients. So the
 * stager, as the operator, grants each new stage table to the daemon and
 * the intake, and herald maintain each new monthly archive to the intake
 * (dbaccount_grant_history_table()); "herald db init" or "db migrate"
 * grants the stage tables and archives that exist. (Grants follow a
 * table's name, so the packed copy renamed over an archive keeps them.)
 *
 * An account is created only when its user is configured, and never
 * without a password; an empty user means the role uses database_user.
 */
#ifndef HERALD_DBACCOUNT_H
#define HERALD_DBACCOUNT_H

#include <mysql.h>

#include "buf.h"
#include "config.h"

/*
 * Creates the configured role accounts (or sets their passwords again)
 * with their grants, stage tables included. Connected as the operator,
 * in cfg->database_name. 0, or -1 with the reason in err.
 */
int dbaccount_apply(const struct herald_config *cfg, MYSQL *db,
    struct buf *err);

/*
 * Grants the configured role accounts what they need on table, a stage
 * table just staged or a monthly archive just created. 0, or -1 with
 * the reason in err.
 */
int dbaccount_grant_history_table(const struct herald_config *cfg,
    MYSQL *db, const char *table, struct buf *err);

#endif
