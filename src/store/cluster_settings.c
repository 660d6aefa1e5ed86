/*
 * cluster_settings.c - the settings every node must agree on (see
 * cluster_settings.h).
 */
#include "cluster_settings.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

/* The keys, and where cfg keeps each (all strings). */
static const struct {
	const char *name;
	size_t offset;
} cluster_keys[] = {
	{ "message_domain", offsetof(struct herald_config, message_domain) },
	{ "bounce_domain", offsetof(struct herald_config, bounce_domain) },
	{ "track_domain", offsetof(struct herald_config, track_domain) },
	{ "unsubscribe_url", offsetof(struct herald_config, unsubscribe_url) },
	{ "unsubscribe_mailto",
	    offsetof(struct herald_config, unsubscribe_mailto) },
	{ "view_online_url", offsetof(struct herald_config, view_online_url) },
};

#define CLUSTER_KEY_COUNT (sizeof(cluster_keys) / sizeof(cluster_keys[0]))

static const char *
cluster_value(const struct herald_config *cfg, size_t i)
{
	const char *value = *(char *const *)((const char *)cfg +
	    cluster_keys[i].offset);

	return value ? value : "";
}

int
cluster_settings_record(const struct herald_config *cfg, MYSQL *db,
    struct buf *report, struct buf *err)
{
	char host[256] = "";
	struct buf by = BUF_INIT;
	int status = 0;

	gethostname(host, sizeof(host) - 1);
	buf_printf(&by, "herald db migrate on %s with %s", host, cfg->path ?
	    cfg->path : "the default configuration");
	for (size_t i = 0; i < CLUSTER_KEY_COUNT && !status; i++) {
		const char *params[3] = { cluster_keys[i].name,
		    cluster_value(cfg, i), buf_str(&by) };
		unsigned long long affected = 0;

		/* Affected: 1 added, 2 changed, 0 the same (FOUND_ROWS off). */
		status = db_execute(db, "INSERT INTO cluster_settings (name, "
		    "value, recorded_at, recorded_by) VALUES (?, ?, "
		    "UTC_TIMESTAMP(3), ?) ON DUPLICATE KEY UPDATE recorded_at "
		    "= IF(value = VALUES(value), recorded_at, "
		    "VALUES(recorded_at)), recorded_by = IF(value = "
		    "VALUES(value), recorded_by, VALUES(recorded_by)), value = "
		    "VALUES(value)", 3, params, &affected, err);
		if (!status && affected > 0)
			buf_printf(report, "cluster setting %s = \"%s\" "
			    "recorded\n", cluster_keys[i].name, params[1]);
	}
	buf_free(&by);
	return status;
}

struct check_state {
	const struct herald_config *cfg;
	int *differs;
	struct buf *why;
};

static int
check_row(void *arg, unsigned ncolumns, char **col)
{
	struct check_state *c = arg;

	(void)ncolumns;
	for (size_t i = 0; i < CLUSTER_KEY_COUNT; i++) {
		const char *mine = cluster_value(c->cfg, i);

		if (strcmp(col[0], cluster_keys[i].name) != 0 ||
		    strcmp(mine, col[1] ? col[1] : "") == 0)
			continue;
		*c->differs = 1;
		buf_printf(c->why, "this node's %s \"%s\" differs from the "
		    "cluster's \"%s\" (recorded by %s at %s UTC): every node "
		    "must use the same value; set it in %s, or record a new "
		    "one with herald db migrate", cluster_keys[i].name, mine,
		    col[1] ? col[1] : "", col[2], col[3], c->cfg->path ?
		    c->cfg->path : "the configuration");
		return 1;
	}
	return 0;
}

int
cluster_settings_check(const struct herald_config *cfg, MYSQL *db,
    int *differs, struct buf *why, struct buf *err)
{
	struct check_state c = { cfg, differs, why };
	struct buf query_err = BUF_INIT;
	int status;

	*differs = 0;
	status = db_query_strings(db, "SELECT name, value, recorded_by, "
	    "DATE_FORMAT(recorded_at, '%Y-%m-%d %H:%i:%s') FROM "
	    "cluster_settings ORDER BY name", 0, NULL, check_row, &c,
	    &query_err);
	/* A database not migrated yet has recorded nothing. */
	if (status != 0 && mysql_errno(db) == 1146)	/* no such table */
		status = 0;
	else if (status != 0)
		buf_append_str(err, buf_str(&query_err));
	buf_free(&query_err);
	return status;
}
