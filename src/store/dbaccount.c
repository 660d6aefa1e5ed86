/*
 * dbaccount.c - herald's database accounts, one per role (see
 * dbaccount.h).
 *
 * Account statements take no bound parameters, so what goes into them
 * is checked here: account names are letters, digits and '_', table and
 * database names were checked by their owners, passwords are escaped by
 * the client library.
 */
#include "dbaccount.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "db.h"
#include "history.h"

/* Both: over the socket ('localhost') and over TCP ('%'). */
static const char *const account_hosts[] = { "localhost", "%", NULL };

/* What each role may do on the fixed tables. */
struct grant {
	const char *privileges;
	const char *table;
};

static const struct grant daemon_grants[] = {
	{ "SELECT, UPDATE", "mailings" },
	{ "SELECT, UPDATE", "batches" },
	{ "SELECT", "variants" },
	/* suppressions checked again when a batch is read (their
	 * source and reason go into the row's reply) */
	{ "SELECT", "suppressions" },
	/* the monitor registers its node and beats (node.h) */
	{ "SELECT, INSERT, UPDATE, DELETE", "nodes" },
	{ "SELECT, INSERT, UPDATE, DELETE", "node_relays" },
	/* the monitor publishes bounce and complaint rates */
	{ "SELECT", "bounces" },
	{ "SELECT", "complaints" },
	/* a mailing's tracked links, registered when a worker compiles
	 * its templates (links.h; the update is the no-op of ON
	 * DUPLICATE KEY) */
	{ "SELECT, INSERT, UPDATE", "links" },
	/* the monitor's test phases (testphase.h): the test cell's
	 * clickers and converters, and the figures of the decision; its
	 * value check (pull.h): the revenue so far, and the delays of past
	 * conversions after their delivery */
	{ "SELECT (mailing_id, recipient_id)", "clicks" },
	{ "SELECT (mailing_id, recipient_id, amount, converted_at)",
	    "conversions" },
	{ "SELECT, INSERT, UPDATE", "test_results" },
	{ "SELECT (mailing_id, recipient_id, delivered_at)", "history" },
	/* the token keys its workers sign with (keyring.h), and the
	 * settings they must share (cluster_settings.h) */
	{ "SELECT (id, secret, seq, retired_at)", "token_keys" },
	{ "SELECT", "cluster_settings" },
	{ NULL, NULL }
};
static const struct grant intake_grants[] = {
	/* the counters, and the brake's move to pulled (mailing.h) */
	{ "SELECT (id, state, stage_table, staged_at, finished_at, sent_count, "
	    "bounced_count, complained_count, brake_armed_at), "
	    "UPDATE (state, bounced_count, complained_count, blocked_reason, "
	    "blocked_at, finished_at, pulled_reason, pulled_at, "
	    "brake_armed_at)", "mailings" },
	/* the address: a mailto unsubscribe suppresses it (unsubscribe.h) */
	{ "SELECT (id, email, status), UPDATE (status)", "recipients" },
	{ "SELECT (email), INSERT", "suppressions" },
	/* a bounce is recorded there whatever table its row lives in */
	{ "SELECT, INSERT", "bounces" },
	{ "SELECT, INSERT", "complaints" },
	{ "SELECT (version, name, applied_at)", "schema_migrations" },
	{ "SELECT, INSERT, UPDATE", "feedback_refused" },
	/* the keys that verify return paths and unsubscribe tokens */
	{ "SELECT (id, secret, seq, retired_at)", "token_keys" },
	{ NULL, NULL }
};

/*
 * On each monthly archive: a bounce arriving after its mailing was
 * archived (herald maintain) finds its row there (history_find_row()),
 * and is recorded in the bounces table only.
 */
#define INTAKE_ARCHIVE_GRANT "SELECT (mailing_id, recipient_id, email, " \
	"variant_id)"

/*
 * herald-web: an unsubscribe (unsubscribe.c), whatever its channel;
 * click redirects (links.h, clicks.h) and posted conversions
 * (conversion.h: who, the last click or delivery).
 */
static const struct grant web_grants[] = {
	{ "SELECT (id)", "mailings" },
	{ "SELECT (id, email, status), UPDATE (status)", "recipients" },
	{ "SELECT (email), INSERT", "suppressions" },
	{ "SELECT (id, mailing_id, url)", "links" },
	{ "SELECT, INSERT, UPDATE", "clicks" },
	{ "SELECT, INSERT, UPDATE", "conversions" },
	{ "SELECT (mailing_id, recipient_id, delivery_state, delivered_at)",
	    "history" },
	/* the keys that verify tokens (keyring.h) */
	{ "SELECT (id, secret, seq, retired_at)", "token_keys" },
	{ NULL, NULL }
};

/* On each stage table (after ON `DB`.`TABLE`); NULL: none. */
#define DAEMON_STAGE_GRANT "SELECT, UPDATE"
#define INTAKE_STAGE_GRANT "SELECT (mailing_id, recipient_id, variant_id, " \
	"email, delivery_state, delivered_at), UPDATE (delivery_state, " \
	"relay_reply)"

struct role {
	const char *user_key;
	const char *user, *password;
	const struct grant *grants;
	const char *stage_grant, *archive_grant;	/* NULL: none */
};

#define ROLES_MAX 3

static unsigned
roles_of(const struct herald_config *cfg, struct role roles[ROLES_MAX])
{
	unsigned n = 0;

	if (cfg->daemon_database_user[0])
		roles[n++] = (struct role){ "daemon_database_user",
		    cfg->daemon_database_user, cfg->daemon_database_password,
		    daemon_grants, DAEMON_STAGE_GRANT, NULL };
	if (cfg->intake_database_user[0])
		roles[n++] = (struct role){ "intake_database_user",
		    cfg->intake_database_user, cfg->intake_database_password,
		    intake_grants, INTAKE_STAGE_GRANT, INTAKE_ARCHIVE_GRANT };
	if (cfg->web_database_user[0])
		roles[n++] = (struct role){ "web_database_user",
		    cfg->web_database_user, cfg->web_database_password,
		    web_grants, NULL, NULL };
	return n;
}

static int
account_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 32)
		return 0;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && *name != '_')
			return 0;
	return 1;
}

/* Grants r what it needs on table, a stage table or a monthly archive. */
static int
grant_history_table(const struct herald_config *cfg, MYSQL *db,
    const struct role *r, const char *table, struct buf *err)
{
	const char *privileges = history_is_stage_table(table) ?
	    r->stage_grant : r->archive_grant;
	struct buf sql = BUF_INIT;
	int status = 0;

	if (privileges == NULL)
		return 0;
	for (unsigned h = 0; account_hosts[h] && !status; h++) {
		buf_reset(&sql);
		buf_printf(&sql, "GRANT %s ON `%s`.`%s` TO '%s'@'%s'",
		    privileges, cfg->database_name, table, r->user,
		    account_hosts[h]);
		status = db_exec(db, buf_str(&sql), err);
	}
	buf_free(&sql);
	return status;
}

int
dbaccount_grant_history_table(const struct herald_config *cfg, MYSQL *db,
    const char *table, struct buf *err)
{
	struct role roles[ROLES_MAX];
	unsigned n = roles_of(cfg, roles);

	if (n && !history_is_stage_table(table) && !history_is_archive(table)) {
		buf_printf(err, "\"%s\" is neither a stage table nor an "
		    "archive", table);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		if (grant_history_table(cfg, db, &roles[i], table, err) != 0)
			return -1;
	return 0;
}

/* The account, its password (set again) and its grants on fixed tables. */
static int
account_create(const struct herald_config *cfg, MYSQL *db,
    const struct role *r, struct buf *err)
{
	struct buf sql = BUF_INIT;
	char *escaped = xmalloc(strlen(r->password) * 2 + 1);
	int status = 0;

	mysql_real_escape_string(db, escaped, r->password,
	    (unsigned long)strlen(r->password));
	for (unsigned h = 0; account_hosts[h] && !status; h++) {
		const char *host = account_hosts[h];

		buf_reset(&sql);
		buf_printf(&sql, "CREATE USER IF NOT EXISTS '%s'@'%s' "
		    "IDENTIFIED BY '%s'", r->user, host, escaped);
		status = db_exec(db, buf_str(&sql), err);
		buf_reset(&sql);
		buf_printf(&sql, "ALTER USER '%s'@'%s' IDENTIFIED BY '%s'",
		    r->user, host, escaped);
		if (!status)
			status = db_exec(db, buf_str(&sql), err);
		for (const struct grant *g = r->grants; g->privileges &&
		    !status; g++) {
			buf_reset(&sql);
			buf_printf(&sql, "GRANT %s ON `%s`.`%s` TO '%s'@'%s'",
			    g->privileges, cfg->database_name, g->table,
			    r->user, host);
			status = db_exec(db, buf_str(&sql), err);
		}
	}
	memset(escaped, 0, strlen(escaped));
	free(escaped);
	buf_free(&sql);
	return status;
}

struct history_tables {
	char **names;
	unsigned count;
};

static int
history_table_row(void *arg, unsigned ncolumns, char **col)
{
	struct history_tables *t = arg;

	(void)ncolumns;
	if (col[0] && (history_is_stage_table(col[0]) ||
	    history_is_archive(col[0]))) {
		t->names = xrealloc(t->names, (t->count + 1) *
		    sizeof(*t->names));
		t->names[t->count++] = xstrdup(col[0]);
	}
	return 0;
}

int
dbaccount_apply(const struct herald_config *cfg, MYSQL *db, struct buf *err)
{
	struct role roles[ROLES_MAX];
	struct history_tables tables = { NULL, 0 };
	unsigned n = roles_of(cfg, roles);
	int status = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!account_name_ok(roles[i].user)) {
			buf_printf(err, "%s \"%s\": use 1 to 32 letters, digits "
			    "or '_'", roles[i].user_key, roles[i].user);
			return -1;
		}
		if (roles[i].password[0] == '\0') {
			buf_printf(err, "%s \"%s\" has no password (%.*s"
			    "password): herald creates no account without one",
			    roles[i].user_key, roles[i].user,
			    (int)(strlen(roles[i].user_key) - 4),
			    roles[i].user_key);
			return -1;
		}
	}
	if (n == 0)
		return 0;
	if (db_query_strings(db, "SELECT TABLE_NAME FROM "
	    "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
	    "(TABLE_NAME LIKE 'stage\\\\_%' OR TABLE_NAME LIKE "
	    "'history\\\\_%')", 0, NULL, history_table_row, &tables,
	    err) != 0)
		return -1;
	for (unsigned i = 0; i < n && !status; i++) {
		status = account_create(cfg, db, &roles[i], err);
		for (unsigned t = 0; t < tables.count && !status; t++)
			status = grant_history_table(cfg, db, &roles[i],
			    tables.names[t], err);
	}
	for (unsigned t = 0; t < tables.count; t++)
		free(tables.names[t]);
	free(tables.names);
	return status;
}
