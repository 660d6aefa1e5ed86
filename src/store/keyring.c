/*
 * keyring.c - the token keys in use (see keyring.h).
 *
 * Every statement here lives in this file and binds its values; the
 * secret goes to the server as a bound value and comes back only in
 * keyring_read(), never into a message.
 */
#include "keyring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

#define KEYRING_SECRET_MAX 1024	/* token_keys.secret */

int
keyring_configured(const struct herald_config *cfg)
{
	return cfg->token_key != NULL;
}

struct read_state {
	struct token_keys *keys;
	struct buf *err;
	int failed;
};

static int
read_row(void *arg, unsigned ncolumns, char **col)
{
	struct read_state *r = arg;

	(void)ncolumns;
	if (token_keys_add(r->keys, col[0], col[1] ? col[1] : "",
	    "table token_keys", r->err) != 0) {
		r->failed = 1;
		return 1;
	}
	return 0;
}

struct token_keys *
keyring_read(const struct herald_config *cfg, MYSQL *db, struct buf *err)
{
	struct read_state r = { NULL, err, 0 };

	if (keyring_configured(cfg))
		return token_keys_from_config(cfg, err);
	r.keys = token_keys_new();
	if (db_query_strings(db, "SELECT id, secret FROM token_keys WHERE "
	    "retired_at IS NULL ORDER BY seq", 0, NULL, read_row, &r,
	    err) != 0) {
		if (mysql_errno(db) == 1146)	/* ER_NO_SUCH_TABLE */
			buf_append_str(err, ": the database predates the "
			    "token_keys table; run \"herald db migrate\"");
		goto fail;
	}
	if (r.failed)
		goto fail;
	if (token_keys_count(r.keys) == 0) {
		buf_append_str(err, "the database holds no token key in use: "
		    "\"herald key rotate\" makes one (\"herald db migrate\" "
		    "imports the keys of older versions)");
		goto fail;
	}
	return r.keys;
fail:
	token_keys_free(r.keys);
	return NULL;
}

/* --- the cache of a long-running process ------------------------------ */

struct keyring {
	const struct herald_config *cfg;
	struct token_keys *keys;
	double read_at;		/* monotonic seconds; 0: never */
};

static double
keyring_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

struct keyring *
keyring_new(const struct herald_config *cfg)
{
	struct keyring *ring = xcalloc(1, sizeof(*ring));

	ring->cfg = cfg;
	return ring;
}

void
keyring_free(struct keyring *ring)
{
	if (ring == NULL)
		return;
	token_keys_free(ring->keys);
	free(ring);
}

/* Reads the keys again now; on failure keeps those held (logged). */
static void
keyring_reread(struct keyring *ring, MYSQL *db, struct buf *err)
{
	struct buf why = BUF_INIT;
	struct token_keys *fresh = NULL;

	ring->read_at = keyring_now();
	if (db != NULL || keyring_configured(ring->cfg))
		fresh = keyring_read(ring->cfg, db, &why);
	else
		buf_append_str(&why, "no database connection");
	if (fresh != NULL) {
		token_keys_free(ring->keys);
		ring->keys = fresh;
	} else if (ring->keys != NULL) {
		msg_warn("cannot read the token keys again (%s); keeping "
		    "those read before", buf_str(&why));
	} else {
		buf_append_str(err, buf_str(&why));
	}
	buf_free(&why);
}

const struct token_keys *
keyring_keys(struct keyring *ring, MYSQL *db, struct buf *err)
{
	if (ring->keys == NULL || keyring_now() - ring->read_at >=
	    KEYRING_REFRESH_SECONDS)
		keyring_reread(ring, db, err);
	return ring->keys;
}

const struct token_keys *
keyring_refresh(struct keyring *ring, MYSQL *db, struct buf *err)
{
	keyring_reread(ring, db, err);
	return ring->keys;
}

/* verify(keys) under the ring's keys, read again once on a miss; the
 * database is asked for (db_of) only when the keys are to be read. */
static int
keyring_verify_with(struct keyring *ring, keyring_db_fn *db_of,
    void *db_arg, int (*verify)(const struct token_keys *, void *,
    struct buf *), void *arg, struct buf *why)
{
	int rc;

	if (ring->keys == NULL || keyring_now() - ring->read_at >=
	    KEYRING_REFRESH_SECONDS)
		keyring_reread(ring, db_of(db_arg), why);
	if (ring->keys == NULL)
		return -1;
	rc = verify(ring->keys, arg, why);
	if (rc == TOKEN_UNKNOWN_KEY && !keyring_configured(ring->cfg) &&
	    keyring_now() - ring->read_at >= KEYRING_MISS_SECONDS) {
		keyring_reread(ring, db_of(db_arg), why);
		buf_reset(why);
		rc = verify(ring->keys, arg, why);
	}
	return rc == 0 ? 0 : -1;
}

struct verify_args {
	enum token_purpose purpose;
	const char *token;
	uint64_t *mailing, *recipient, *link;
};

static int
verify_one(const struct token_keys *keys, void *arg, struct buf *why)
{
	struct verify_args *a = arg;

	return token_verify(keys, a->purpose, a->token, a->mailing,
	    a->recipient, why);
}

static int
verify_click(const struct token_keys *keys, void *arg, struct buf *why)
{
	struct verify_args *a = arg;

	return token_verify_click(keys, a->token, a->mailing, a->recipient,
	    a->link, why);
}

int
keyring_verify(struct keyring *ring, keyring_db_fn *db_of, void *db_arg,
    enum token_purpose purpose, const char *token, uint64_t *mailing,
    uint64_t *recipient, struct buf *why)
{
	struct verify_args a = { purpose, token, mailing, recipient, NULL };

	return keyring_verify_with(ring, db_of, db_arg, verify_one, &a, why);
}

int
keyring_verify_click(struct keyring *ring, keyring_db_fn *db_of,
    void *db_arg, const char *token, uint64_t *mailing,
    uint64_t *recipient, uint64_t *link, struct buf *why)
{
	struct verify_args a = { TOKEN_CLICK, token, mailing, recipient,
	    link };

	return keyring_verify_with(ring, db_of, db_arg, verify_click, &a,
	    why);
}

/* --- herald key ------------------------------------------------------ */

struct list_state {
	keyring_list_fn *fn;
	void *arg;
};

static int
list_row(void *arg, unsigned ncolumns, char **col)
{
	struct list_state *l = arg;
	struct keyring_entry e = { col[0], col[1], col[2], col[3],
	    col[4] && strcmp(col[4], "1") == 0 };

	(void)ncolumns;
	return l->fn(l->arg, &e);
}

int
keyring_list(MYSQL *db, keyring_list_fn *fn, void *arg, struct buf *err)
{
	struct list_state l = { fn, arg };
	int status;

	status = db_query_strings(db, "SELECT id, origin, "
	    "DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), "
	    "DATE_FORMAT(retired_at, '%Y-%m-%d %H:%i:%s'), "
	    "retired_at IS NULL AND seq = (SELECT MAX(seq) FROM token_keys "
	    "WHERE retired_at IS NULL) FROM token_keys ORDER BY seq", 0, NULL,
	    list_row, &l, err);
	if (status != 0 && mysql_errno(db) == 1146)	/* no such table */
		buf_append_str(err, ": run \"herald db migrate\"");
	return status;
}

/* Adds (id or a generated "kN", secret) unless id is taken: *added. */
static int
keyring_insert(MYSQL *db, const char *id, unsigned offset,
    const char *secret, const char *origin, int *added, struct buf *err)
{
	unsigned long long affected = 0;
	char offset_text[16];
	const char *params[4] = { id, offset_text, secret, origin };

	snprintf(offset_text, sizeof(offset_text), "%u", offset);
	if (db_execute(db, "INSERT IGNORE INTO token_keys (id, secret, "
	    "origin, created_at) SELECT IFNULL(?, CONCAT('k', "
	    "IFNULL(MAX(seq), 0) + 1 + ?)), ?, ?, UTC_TIMESTAMP(3) FROM "
	    "token_keys", 4, params, &affected, err) != 0)
		return -1;
	*added = affected > 0;
	return 0;
}

int
keyring_rotate(MYSQL *db, struct buf *id, struct buf *err)
{
	struct buf secret = BUF_INIT;
	int added = 0, status = -1;

	if (token_key_generate(&secret, err) != 0)
		goto out;
	/* An imported key may hold the next "kN": try the ones above. */
	for (unsigned offset = 0; offset < 100 && !added; offset++)
		if (keyring_insert(db, NULL, offset, buf_str(&secret),
		    "generated", &added, err) != 0)
			goto out;
	if (!added) {
		buf_append_str(err, "no free key id among the next 100 kN");
		goto out;
	}
	buf_reset(id);
	if (db_query_strings(db, "SELECT id FROM token_keys WHERE seq = "
	    "LAST_INSERT_ID()", 0, NULL, db_first_value, id, err) != 0)
		goto out;
	status = 0;
out:
	if (secret.data)
		memset(secret.data, 0, secret.len);
	buf_free(&secret);
	return status;
}

int
keyring_retire(MYSQL *db, const char *id, struct buf *err)
{
	const char *params[1] = { id };
	unsigned long long affected = 0;
	struct buf state = BUF_INIT;
	int status = -1;

	/* The newest unretired key is never retired: something must sign.
	 * (The derived table lets the statement read the table it
	 * updates.) */
	if (db_execute(db, "UPDATE token_keys SET retired_at = "
	    "UTC_TIMESTAMP(3) WHERE id = ? AND retired_at IS NULL AND seq < "
	    "(SELECT newest FROM (SELECT MAX(seq) AS newest FROM token_keys "
	    "WHERE retired_at IS NULL) AS n)", 1, params, &affected,
	    err) != 0)
		goto out;
	if (affected == 1) {
		status = 0;
		goto out;
	}
	if (db_query_strings(db, "SELECT IF(retired_at IS NULL, 'signs', "
	    "DATE_FORMAT(retired_at, '%Y-%m-%d %H:%i:%s')) FROM token_keys "
	    "WHERE id = ?", 1, params, db_first_value, &state, err) != 0)
		goto out;
	if (state.len == 0)
		buf_printf(err, "no token key \"%s\" (herald key list shows "
		    "them)", id);
	else if (strcmp(buf_str(&state), "signs") == 0)
		buf_printf(err, "key \"%s\" signs new tokens: run \"herald key "
		    "rotate\" first, then retire it", id);
	else
		buf_printf(err, "key \"%s\" was already retired at %s UTC", id,
		    buf_str(&state));
out:
	buf_free(&state);
	return status;
}

/* Imports keys (from where), oldest first. */
static int
keyring_import_set(MYSQL *db, const struct token_keys *keys,
    const char *where, struct buf *report, struct buf *err)
{
	struct buf same = BUF_INIT, origin = BUF_INIT;
	int status = 0;

	buf_printf(&origin, "imported from %s", where);
	for (unsigned i = 0; i < token_keys_count(keys) && !status; i++) {
		const char *id = token_keys_id(keys, i);
		const char *params[2] = { token_keys_secret(keys, i), id };
		int added = 0;

		/* The column's size: IGNORE would cut a longer one short. */
		if (strlen(params[0]) > KEYRING_SECRET_MAX) {
			buf_printf(err, "%s: token key %s is longer than %d "
			    "characters", where, id, KEYRING_SECRET_MAX);
			status = -1;
			break;
		}
		status = keyring_insert(db, id, 0, params[0],
		    buf_str(&origin), &added, err);
		if (status || added) {
			if (added)
				buf_printf(report, "token key %s imported from "
				    "%s\n", id, where);
			continue;
		}
		status = db_query_strings(db, "SELECT secret = ? FROM "
		    "token_keys WHERE id = ?", 2, params, db_first_value,
		    &same, err);
		if (!status && strcmp(buf_str(&same), "1") != 0 &&
		    same.len > 0)
			buf_printf(report, "token key %s of %s not "
			    "imported: the database holds another key of that "
			    "id (tokens this one signed will not verify)\n", id,
			    where);
	}
	buf_free(&same);
	buf_free(&origin);
	return status;
}

int
keyring_import(const struct herald_config *cfg, MYSQL *db,
    struct buf *report, struct buf *err)
{
	struct buf path = BUF_INIT, count = BUF_INIT, id = BUF_INIT;
	struct token_keys *keys = NULL;
	int status = -1;

	/* An sql_directory without 014_keys.sql (a test's): no table. */
	if (db_query_strings(db, "SELECT COUNT(*) FROM information_schema."
	    "TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
	    "'token_keys'", 0, NULL, db_first_value, &count, err) != 0)
		goto out;
	if (strcmp(buf_str(&count), "0") == 0) {
		status = 0;
		goto out;
	}
	/* The state file first: it was used only where no token_key line
	 * was, so the configuration's keys are the newer. */
	buf_printf(&path, "%s/token-keys", cfg->state_directory);
	if (access(buf_str(&path), F_OK) == 0) {
		keys = token_keys_read_file(buf_str(&path), err);
		if (keys == NULL || keyring_import_set(db, keys,
		    buf_str(&path), report, err) != 0)
			goto out;
		token_keys_free(keys);
		keys = NULL;
	} else if (errno != ENOENT) {
		buf_printf(err, "%s: %s", buf_str(&path), strerror(errno));
		goto out;
	}
	if (keyring_configured(cfg)) {
		keys = token_keys_from_config(cfg, err);
		if (keys == NULL || keyring_import_set(db, keys, cfg->path ?
		    cfg->path : "the configuration", report, err) != 0)
			goto out;
	}
	if (db_query_strings(db, "SELECT COUNT(*) FROM token_keys WHERE "
	    "retired_at IS NULL", 0, NULL, db_first_value, &count, err) != 0)
		goto out;
	if (strcmp(buf_str(&count), "0") == 0) {
		if (keyring_rotate(db, &id, err) != 0)
			goto out;
		buf_printf(report, "token key %s generated\n", buf_str(&id));
	}
	status = 0;
out:
	token_keys_free(keys);
	buf_free(&path);
	buf_free(&count);
	buf_free(&id);
	return status;
}
