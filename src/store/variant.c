/*
 * variant.c - a mailing's variants and their assignment (see variant.h).
 */
#include "variant.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "db.h"
#include "mailing.h"
#include "keyring.h"
#include "token.h"

#define HMAC_BLOCK 64	/* SHA-256's block size */

/* --- shares and names ---------------------------------------------------- */

int
variant_share_parse(const char *text, unsigned *basis_points,
    struct buf *why)
{
	const char *p = text;
	unsigned long whole = 0, hundredths = 0, digits = 0;

	while (isdigit((unsigned char)*p) && digits < 4) {
		whole = whole * 10 + (unsigned long)(*p++ - '0');
		digits++;
	}
	if (digits > 0 && *p == '.') {
		unsigned decimals = 0;

		for (p++; isdigit((unsigned char)*p) && decimals < 2; p++) {
			hundredths = hundredths * 10 + (unsigned long)(*p - '0');
			decimals++;
		}
		if (decimals == 0)
			digits = 0;
		for (; decimals < 2; decimals++)
			hundredths *= 10;
	}
	if (digits == 0 || strcmp(p, "%") != 0) {
		buf_printf(why, "\"%s\": expected a percentage such as 10%% or "
		    "12.5%% (two decimals at most)", text);
		return -1;
	}
	whole = whole * 100 + hundredths;
	if (whole == 0 || whole > VARIANT_SHARE_WHOLE) {
		buf_printf(why, "\"%s\": a share is more than 0%% and at most "
		    "100%%", text);
		return -1;
	}
	*basis_points = (unsigned)whole;
	return 0;
}

void
variant_share_format(unsigned basis_points, struct buf *out)
{
	unsigned hundredths = basis_points % 100;

	buf_printf(out, "%u", basis_points / 100);
	if (hundredths % 10)
		buf_printf(out, ".%02u", hundredths);
	else if (hundredths)
		buf_printf(out, ".%u", hundredths / 10);
	buf_append_char(out, '%');
}

int
variant_name_check(const char *name, struct buf *why)
{
	size_t length = strlen(name);

	if (length == 0 || length > VARIANT_NAME_MAX || strspn(name,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	    "._-") != length) {
		buf_printf(why, "variant name \"%s\": expected 1 to %d "
		    "letters, digits, '.', '_' or '-'", name,
		    VARIANT_NAME_MAX);
		return -1;
	}
	if (strcasecmp(name, VARIANT_OWN_NAME) == 0) {
		buf_printf(why, "variant name \"%s\": %s is the mailing's own "
		    "content, which gets the recipients the variants' shares "
		    "leave; choose another name", name, VARIANT_OWN_NAME);
		return -1;
	}
	return 0;
}

uint64_t
variant_cut(uint64_t n, unsigned upto_basis_points)
{
	return n * upto_basis_points / VARIANT_SHARE_WHOLE;
}

/* --- assignment ------------------------------------------------------------ */

void
variant_rank_pads(const unsigned char *key, size_t key_length,
    char ipad_hex[129], char opad_hex[129])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < HMAC_BLOCK; i++) {
		unsigned char k = i < key_length ? key[i] : 0;
		unsigned char in = k ^ 0x36, out = k ^ 0x5c;

		ipad_hex[2 * i] = hex[in >> 4];
		ipad_hex[2 * i + 1] = hex[in & 15];
		opad_hex[2 * i] = hex[out >> 4];
		opad_hex[2 * i + 1] = hex[out & 15];
	}
	ipad_hex[2 * HMAC_BLOCK] = opad_hex[2 * HMAC_BLOCK] = '\0';
}

struct share_cuts {
	struct buf ids, cuts;
	unsigned count, upto;
};

static int
share_row(void *arg, unsigned ncolumns, char **col)
{
	struct share_cuts *s = arg;

	(void)ncolumns;
	/* Both are our own unsigned integer columns: digits only. */
	s->upto += (unsigned)strtoul(col[1], NULL, 10);
	buf_printf(&s->ids, ", %lu", strtoul(col[0], NULL, 10));
	/* Rank position p = ceil(rank * 10000 / N) is at or below the cut
	 * C exactly when p < C + 1: INTERVAL() counts the cuts passed. */
	buf_printf(&s->cuts, "%s%u", s->count ? ", " : "", s->upto + 1);
	s->count++;
	return 0;
}

int
variant_assignment_prepare(const struct herald_config *cfg, MYSQL *db,
    const char *mailing_id, unsigned test_share, struct variant_assignment *a,
    struct buf *err)
{
	struct share_cuts s = { BUF_INIT, BUF_INIT, 0, 0 };
	const char *params[1] = { mailing_id };
	unsigned char key[TOKEN_DERIVED_KEY_BYTES];
	struct token_keys *keys;
	int status = -1;

	memset(a, 0, sizeof(*a));
	if (db_query_strings(db, "SELECT id, share_basis_points FROM variants "
	    "WHERE mailing_id = ? AND share_basis_points > 0 ORDER BY id", 1,
	    params, share_row, &s, err) != 0)
		goto out;
	if (s.count == 0 && test_share == 0) {
		buf_append_str(&a->expression, "0");
		status = 0;
		goto out;
	}
	if (s.upto > VARIANT_SHARE_WHOLE) {
		buf_printf(err, "mailing %s: its variants' shares add up to "
		    "more than 100%%; remove one (herald mailing variant list "
		    "%s)", mailing_id, mailing_id);
		goto out;
	}
	keys = keyring_read(cfg, db, err);
	if (keys == NULL)
		goto out;
	token_derive_key(keys, VARIANT_RANK_LABEL, key);
	token_keys_free(keys);
	variant_rank_pads(key, sizeof(key), a->ipad, a->opad);
	OPENSSL_cleanse(key, sizeof(key));
	buf_append_str(&a->rank, "ROW_NUMBER() OVER (ORDER BY SHA2(CONCAT("
	    "UNHEX(?), UNHEX(SHA2(CONCAT(UNHEX(?), ?, '.', r.id), 256))), "
	    "256), r.id)");
	if (test_share == 0)
		buf_printf(&a->expression, "ELT(1 + INTERVAL((%s * %d + "
		    "COUNT(*) OVER () - 1) DIV COUNT(*) OVER (), %s)%s, 0)",
		    buf_str(&a->rank), VARIANT_SHARE_WHOLE, buf_str(&s.cuts),
		    buf_str(&s.ids));
	else if (s.count == 0)
		buf_append_str(&a->expression, "0");
	else
		/* GREATEST: T may be 0, and then no rank is at or below
		 * it, but the division must not fail meanwhile. */
		buf_printf(&a->expression, "IF(q.rk <= q.nt, ELT(1 + "
		    "INTERVAL((q.rk * %d + q.nt - 1) DIV GREATEST(q.nt, 1), "
		    "%s)%s, 0), 0)", VARIANT_SHARE_WHOLE, buf_str(&s.cuts),
		    buf_str(&s.ids));
	a->params[0] = a->opad;
	a->params[1] = a->ipad;
	a->params[2] = mailing_id;
	a->nparams = 3;
	status = 0;
out:
	buf_free(&s.ids);
	buf_free(&s.cuts);
	return status;
}

void
variant_assignment_free(struct variant_assignment *a)
{
	buf_free(&a->expression);
	buf_free(&a->rank);
	OPENSSL_cleanse(a->ipad, sizeof(a->ipad));
	OPENSSL_cleanse(a->opad, sizeof(a->opad));
}

/* --- adding and removing ------------------------------------------------------ */

static int
ignore_row(void *arg, unsigned ncolumns, char **col)
{
	(void)arg;
	(void)ncolumns;
	(void)col;
	return 0;
}

/*
 * In the caller's transaction: locks mailing's row, so the stager
 * cannot start on it until the transaction ends, and refuses unless it
 * is still to be staged.
 */
static int
variant_mailing_lock(MYSQL *db, uint64_t mailing, struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };
	enum mailing_state state = MAILING_DRAFT;
	char table[65];
	int found = 0;

	if (db_query_values(db, "SELECT id FROM mailings WHERE id = ? FOR "
	    "UPDATE", 1, params, ignore_row, NULL, err) != 0 ||
	    mailing_read_state(db, mailing, &state, table, &found, err) != 0)
		return -1;
	if (!found) {
		buf_printf(err, "mailing %" PRIu64 " does not exist (herald "
		    "mailing list)", mailing);
		return -1;
	}
	if (table[0] || (state != MAILING_DRAFT && state != MAILING_QUEUED &&
	    state != MAILING_PAUSED)) {
		buf_printf(err, "mailing %" PRIu64 " is %s%s%s: variants "
		    "change only before staging (draft, queued, or paused "
		    "before it was staged); create a new mailing instead",
		    mailing, mailing_state_name(state), table[0] ?
		    ", staged into " : "", table);
		return -1;
	}
	return 0;
}

/* Runs change (inside a transaction, after the lock): all or nothing. */
static int
variant_change(MYSQL *db, uint64_t mailing,
    int (*change)(MYSQL *, uint64_t, const void *, struct buf *),
    const void *arg, struct buf *err)
{
	struct buf ignored = BUF_INIT;
	int status;

	status = db_exec(db, "START TRANSACTION", err);
	if (status)
		return -1;
	status = variant_mailing_lock(db, mailing, err);
	if (!status)
		status = change(db, mailing, arg, err);
	if (!status)
		status = db_exec(db, "COMMIT", err);
	else
		db_exec(db, "ROLLBACK", &ignored);
	buf_free(&ignored);
	return status;
}

static int
variant_insert(MYSQL *db, uint64_t mailing, const void *arg,
    struct buf *err)
{
	const struct variant_spec *v = arg;
	struct variant_list list;
	struct buf share = BUF_INIT;
	struct db_value params[6];
	int status = -1;

	if (variant_list_read(db, mailing, &list, err) != 0)
		return -1;
	for (unsigned i = 0; i < list.count; i++)
		if (strcasecmp(list.rows[i].name, v->name) == 0) {
			buf_printf(err, "mailing %" PRIu64 " already has a "
			    "variant named %s (herald mailing variant remove "
			    "%" PRIu64 " --name %s first)", mailing,
			    list.rows[i].name, mailing, list.rows[i].name);
			goto out;
		}
	if (list.share_total + v->share > VARIANT_SHARE_WHOLE) {
		buf_append_str(&share, "--share ");
		variant_share_format(v->share, &share);
		buf_append_str(&share, ": its variants already take ");
		variant_share_format(list.share_total, &share);
		buf_printf(err, "mailing %" PRIu64 ": %s; at most ", mailing,
		    buf_str(&share));
		variant_share_format(VARIANT_SHARE_WHOLE - list.share_total,
		    err);
		buf_append_str(err, " is left (the variants' shares add up to "
		    "100% at most; the rest gets the mailing's own content, "
		    "variant " VARIANT_OWN_NAME ")");
		goto out;
	}
	params[0] = db_bind_u64(mailing);
	params[1] = db_bind_text(v->name);
	params[2] = db_bind_u64(v->share);
	params[3] = db_bind_text(v->template_dir);
	params[4] = db_bind_text(v->subject);
	params[5] = db_bind_text(v->from);
	status = db_execute_values(db, "INSERT INTO variants (mailing_id, name, "
	    "share_basis_points, template_dir, subject, from_address) VALUES "
	    "(?, ?, ?, ?, ?, ?)", 6, params, NULL, err);
out:
	variant_list_free(&list);
	buf_free(&share);
	return status;
}

int
variant_add(MYSQL *db, uint64_t mailing, const struct variant_spec *v,
    struct buf *err)
{
	return variant_change(db, mailing, variant_insert, v, err);
}

static int
variant_delete(MYSQL *db, uint64_t mailing, const void *arg,
    struct buf *err)
{
	const struct db_value params[2] = { db_bind_u64(mailing),
	    db_bind_text(arg) };
	unsigned long long affected = 0;

	if (db_execute_values(db, "DELETE FROM variants WHERE mailing_id = ? "
	    "AND name = ?", 2, params, &affected, err) != 0)
		return -1;
	if (affected == 0) {
		buf_printf(err, "mailing %" PRIu64 " has no variant named "
		    "\"%s\" (herald mailing variant list %" PRIu64 ")",
		    mailing, (const char *)arg, mailing);
		return -1;
	}
	return 0;
}

int
variant_remove(MYSQL *db, uint64_t mailing, const char *name,
    struct buf *err)
{
	return variant_change(db, mailing, variant_delete, name, err);
}

/* --- listing ------------------------------------------------------------------ */

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static int
list_row(void *arg, unsigned ncolumns, char **col)
{
	struct variant_list *l = arg;
	struct variant_row *r;

	(void)ncolumns;
	l->rows = xrealloc(l->rows, (l->count + 1) * sizeof(*l->rows));
	r = &l->rows[l->count++];
	r->id = (uint32_t)strtoul(col[0], NULL, 10);
	r->name = xstrdup(col[1]);
	r->share = (unsigned)strtoul(col[2], NULL, 10);
	r->subject = dup_or_null(col[3]);
	r->template_dir = dup_or_null(col[4]);
	r->from = dup_or_null(col[5]);
	l->share_total += r->share;
	return 0;
}

static int
found_row(void *arg, unsigned ncolumns, char **col)
{
	(void)ncolumns;
	(void)col;
	*(int *)arg = 1;
	return 0;
}

int
variant_list_read(MYSQL *db, uint64_t mailing, struct variant_list *list,
    struct buf *err)
{
	const struct db_value params[1] = { db_bind_u64(mailing) };

	memset(list, 0, sizeof(*list));
	if (db_query_values(db, "SELECT 1 FROM mailings WHERE id = ?", 1,
	    params, found_row, &list->mailing_found, err) != 0 ||
	    db_query_values(db, "SELECT id, name, share_basis_points, subject, "
	    "template_dir, from_address FROM variants WHERE mailing_id = ? "
	    "ORDER BY id", 1, params, list_row, list, err) != 0) {
		variant_list_free(list);
		return -1;
	}
	return 0;
}

void
variant_list_free(struct variant_list *list)
{
	for (unsigned i = 0; i < list->count; i++) {
		free(list->rows[i].name);
		free(list->rows[i].subject);
		free(list->rows[i].template_dir);
		free(list->rows[i].from);
	}
	free(list->rows);
	memset(list, 0, sizeof(*list));
}
