/*
 * returnpath.c - signed VERP return paths (see returnpath.h).
 */
#include "returnpath.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"

#define RETURN_PATH_PREFIX "bounces+"
#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)

void
return_path_make(const struct token_keys *keys, uint64_t mailing,
    uint64_t recipient, const char *domain, struct buf *out)
{
	buf_append_str(out, RETURN_PATH_PREFIX);
	token_make(keys, TOKEN_RETURN_PATH, mailing, recipient, out);
	buf_printf(out, "@%s", domain);
}

/* A decimal id of 1 to 19 digits, no leading zero, not 0; end past it. */
static int
return_path_id(const char *s, const char **end, uint64_t *id)
{
	size_t n = 0;

	while (isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
		return -1;
	*id = strtoull(s, NULL, 10);
	*end = s + n;
	return *id == 0 ? -1 : 0;
}

int
return_path_parse(const char *address, struct return_path *rp)
{
	const char *p = address, *local, *at;

	memset(rp, 0, sizeof(*rp));
	/* "Name <address>": the part in angle brackets. */
	if ((at = strchr(p, '<')) != NULL)
		p = at + 1;
	if (strncasecmp(p, RETURN_PATH_PREFIX, strlen(RETURN_PATH_PREFIX)))
		return -1;
	local = p += strlen(RETURN_PATH_PREFIX);
	if (return_path_id(p, &p, &rp->mailing) != 0 || *p++ != '-' ||
	    return_path_id(p, &p, &rp->recipient) != 0)
		return -1;
	if (*p == '-') {
		/* -KID-MAC: a key id and a MAC, checked by verify. */
		rp->is_signed = 1;
		p += strcspn(p, "@> \t");
	}
	at = p;
	if (*at != '@' || at[1] == '\0' || at[1] == '>' ||
	    (size_t)(at - local) >= sizeof(rp->token))
		return -1;
	memcpy(rp->token, local, (size_t)(at - local));
	rp->token[at - local] = '\0';
	return 0;
}

int
return_path_verify(const struct token_keys *keys,
    const struct return_path *rp, struct buf *why)
{
	uint64_t mailing, recipient;

	if (!rp->is_signed) {
		buf_append_str(why, "the return path is not signed");
		return -1;
	}
	return token_verify(keys, TOKEN_RETURN_PATH, rp->token, &mailing,
	    &recipient, why) == 0 ? 0 : -1;
}

struct grace_read {
	int found;
	int staged_before, within;
	char upgrade[32];
};

static int
grace_row(void *arg, unsigned ncolumns, char **col)
{
	struct grace_read *g = arg;

	(void)ncolumns;
	g->found = 1;
	g->staged_before = col[0] && strcmp(col[0], "1") == 0;
	g->within = col[1] && strcmp(col[1], "1") == 0;
	snprintf(g->upgrade, sizeof(g->upgrade), "%s", col[2] ? col[2] : "");
	return 1;
}

int
return_path_unsigned_accepted(MYSQL *db, uint64_t mailing, int *accepted,
    struct buf *why, struct buf *err)
{
	struct grace_read g = { 0 };
	char id[24];
	const char *params[1] = { id };

	snprintf(id, sizeof(id), "%" PRIu64, mailing);
	/*
	 * The upgrade is when the migration that brought signed return
	 * paths was applied; found by its name, whatever number it has.
	 */
	if (db_query_strings(db, "SELECT m.staged_at < s.applied_at, "
	    "UTC_TIMESTAMP() < s.applied_at + INTERVAL "
	    TEXT_OF(RETURN_PATH_GRACE_DAYS) " DAY, s.applied_at "
	    "FROM mailings m, schema_migrations s WHERE m.id = ? AND "
	    "s.name LIKE '%\\_signed\\_return\\_paths.sql' "
	    "ORDER BY s.version LIMIT 1", 1, params, grace_row, &g, err) != 0)
		return -1;
	*accepted = g.found && g.staged_before && g.within;
	if (!g.found)
		buf_printf(why, "mailing %s does not exist", id);
	else if (!g.staged_before)
		buf_printf(why, "mailing %s was staged after return paths were "
		    "signed (%s UTC)", id, g.upgrade);
	else if (!g.within)
		buf_printf(why, "unsigned return paths of mailings staged "
		    "before %s UTC were accepted for %d days after it", g.upgrade,
		    RETURN_PATH_GRACE_DAYS);
	return 0;
}

static int
count_row(void *arg, unsigned ncolumns, char **col)
{
	unsigned long long *count = arg;

	(void)ncolumns;
	*count = col[0] ? strtoull(col[0], NULL, 10) : 0;
	return 1;
}

int
return_path_count_refused(MYSQL *db, const char *reason,
    unsigned long long *today, struct buf *err)
{
	const char *params[1] = { reason };

	*today = 0;
	if (db_execute(db, "INSERT INTO feedback_refused (day, reason, count) "
	    "VALUES (UTC_DATE(), ?, 1) ON DUPLICATE KEY UPDATE count = "
	    "count + 1", 1, params, NULL, err) != 0)
		return -1;
	return db_query_strings(db, "SELECT count FROM feedback_refused WHERE "
	    "day = UTC_DATE() AND reason = ?", 1, params, count_row, today,
	    err);
}
