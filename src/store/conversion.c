/*
 * conversion.c - recording and attributing conversions (see
 * conversion.h).
 *
 * A row is checked completely before anything is written, so a refused
 * row changes nothing; the insert itself decides whether the id is new
 * (ON DUPLICATE KEY changes nothing and reports no row affected).
 */
#include "conversion.h"
#include "date.h"
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONVERSION_ID_MAX 100

const char *const conversion_field_names[] = { "id", "amount", "currency",
	"time", "token", "email", "mailing", NULL };

int
conversion_set_field(struct conversion *c, const char *name,
    const char *value)
{
	const char **slots[] = { &c->id, &c->amount, &c->currency, &c->time,
		&c->token, &c->email, &c->mailing };

	for (unsigned i = 0; conversion_field_names[i]; i++)
		if (strcmp(name, conversion_field_names[i]) == 0) {
			*slots[i] = value;
			return 0;
		}
	return -1;
}

static int
given(const char *s)
{
	return s && s[0];
}

/* The fields' syntax; 0, or -1 with the reason in why. */
static int
conversion_check(const struct conversion *c, time_t *at, struct buf *why)
{
	const char *dot;
	struct buf date_why = BUF_INIT;
	int rc = 0;

	if (!given(c->id) || strlen(c->id) > CONVERSION_ID_MAX ||
	    strspn(c->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:-") != strlen(c->id)) {
		buf_printf(why, "id \"%s\": expected 1 to %d letters, digits or "
		    ". _ : -", c->id ? c->id : "", CONVERSION_ID_MAX);
		return -1;
	}
	dot = given(c->amount) ? strchr(c->amount, '.') : NULL;
	if (!given(c->amount) || strspn(c->amount, "0123456789.") !=
	    strlen(c->amount) || c->amount[0] == '.' ||
	    (dot && (strchr(dot + 1, '.') || strlen(dot + 1) < 1 ||
	    strlen(dot + 1) > 2)) || (dot ? (size_t)(dot - c->amount) :
	    strlen(c->amount)) > 12) {
		buf_printf(why, "amount \"%s\": expected an amount such as "
		    "25 or 12.50", c->amount ? c->amount : "");
		return -1;
	}
	if (!given(c->currency) || strlen(c->currency) != 3 ||
	    strspn(c->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
		buf_printf(why, "currency \"%s\": expected an ISO 4217 code "
		    "such as EUR or USD", c->currency ? c->currency : "");
		return -1;
	}
	if (!given(c->time) || date_parse_time(c->time, at, &date_why) != 0) {
		buf_printf(why, "time \"%s\": %s", c->time ? c->time : "",
		    given(c->time) ? buf_str(&date_why) : "expected "
		    "YYYY-MM-DD HH:MM[:SS] [ZONE]");
		rc = -1;
	} else if (given(c->token) == (given(c->email) || given(c->mailing))) {
		buf_printf(why, "give either token (a click token) or email and "
		    "mailing, not %s", given(c->token) ? "both" : "neither");
		rc = -1;
	} else if (!given(c->token) && (!given(c->email) ||
	    !given(c->mailing) || strspn(c->mailing, "0123456789") !=
	    strlen(c->mailing) || strlen(c->mailing) > 19)) {
		buf_printf(why, "%s", !given(c->email) ? "email is missing: it "
		    "goes with mailing" : "mailing: expected a mailing id");
		rc = -1;
	}
	buf_free(&date_why);
	return rc;
}

/* Who converted: from the click token, or the email and the mailing.
 * found 0 with the reason in why when there is no such one. */
static int
conversion_who(MYSQL *db, const struct token_keys *keys,
    const struct conversion *c, uint64_t *recipient, uint64_t *claimed,
    int *found, struct buf *why, struct buf *err)
{
	struct buf value = BUF_INIT;
	uint64_t link;
	int rc = 0;

	*found = 0;
	if (given(c->token)) {
		struct buf reason = BUF_INIT;

		if (token_verify_click(keys, c->token, claimed, recipient,
		    &link, &reason) != 0)
			buf_printf(why, "token: %s", buf_str(&reason));
		else
			*found = 1;
		buf_free(&reason);
		return 0;
	}
	*claimed = strtoull(c->mailing, NULL, 10);
	{
		struct db_value values[2] = { db_bind_u64(*claimed),
		    db_bind_text(c->email) };

		rc = db_query_values(db, "SELECT CONCAT(r.id, ' ', EXISTS "
		    "(SELECT 1 FROM mailings m WHERE m.id = ?)) FROM "
		    "recipients r WHERE r.email = ?", 2, values,
		    db_first_value, &value, err);
	}
	if (rc == 0) {
		/* "RECIPIENT MAILING_EXISTS", or nothing. */
		const char *space = strchr(buf_str(&value), ' ');

		if (space == NULL)
			buf_printf(why, "email \"%s\": no such recipient",
			    c->email);
		else if (space[1] != '1')
			buf_printf(why, "mailing %s does not exist",
			    c->mailing);
		else {
			*recipient = strtoull(buf_str(&value), NULL, 10);
			*found = 1;
		}
	}
	buf_free(&value);
	return rc;
}

/* The attribution: the last click within the window, else the last
 * delivery within it. */
static int
conversion_attribute(MYSQL *db, uint64_t recipient, time_t at, long window,
    struct conversion_result *r, uint64_t *link, struct buf *err)
{
	struct db_value values[4] = { db_bind_u64(recipient),
	    db_bind_i64((int64_t)at), db_bind_i64(window),
	    db_bind_i64((int64_t)at) };
	struct buf value = BUF_INIT;
	int rc;

	*link = 0;
	r->mailing_id = 0;
	r->attribution = "none";
	rc = db_query_values(db, "SELECT CONCAT(mailing_id, ' ', link_id) "
	    "FROM clicks WHERE recipient_id = ? AND last_at BETWEEN "
	    "FROM_UNIXTIME(?) - INTERVAL ? SECOND AND FROM_UNIXTIME(?) "
	    "ORDER BY last_at DESC LIMIT 1", 4, values, db_first_value, &value,
	    err);
	if (rc == 0 && value.len) {
		char *end;

		r->mailing_id = strtoull(buf_str(&value), &end, 10);
		*link = strtoull(end, NULL, 10);
		r->attribution = "click";
	}
	if (rc == 0 && !value.len) {
		rc = db_query_values(db, "SELECT mailing_id FROM history WHERE "
		    "recipient_id = ? AND delivery_state = 'sent' AND "
		    "delivered_at BETWEEN FROM_UNIXTIME(?) - INTERVAL ? SECOND "
		    "AND FROM_UNIXTIME(?) ORDER BY delivered_at DESC LIMIT 1",
		    4, values, db_first_value, &value, err);
		if (rc == 0 && value.len) {
			r->mailing_id = strtoull(buf_str(&value), NULL, 10);
			r->attribution = "delivery";
		}
	}
	buf_free(&value);
	return rc;
}

int
conversion_record(MYSQL *db, const struct token_keys *keys, long window,
    const struct conversion *c, enum conversion_source source,
    struct conversion_result *r, struct buf *err)
{
	uint64_t claimed = 0, link = 0;
	unsigned long long added = 0;
	time_t at;
	int found;

	r->outcome = CONVERSION_REFUSED;
	r->recipient_id = r->mailing_id = 0;
	r->attribution = "none";
	buf_reset(&r->why);
	if (conversion_check(c, &at, &r->why) != 0)
		return 0;
	if (conversion_who(db, keys, c, &r->recipient_id, &claimed, &found,
	    &r->why, err) != 0)
		return -1;
	if (!found)
		return 0;
	if (conversion_attribute(db, r->recipient_id, at, window, r, &link,
	    err) != 0)
		return -1;
	{
		char when[32];
		struct db_value values[10];

		date_format_utc(at, when);
		values[0] = db_bind_text(c->id);
		values[1] = db_bind_text(c->amount);
		values[2] = db_bind_text(c->currency);
		values[3] = db_bind_text(when);
		values[4] = db_bind_u64(r->recipient_id);
		values[5] = db_bind_u64(claimed);
		values[6] = db_bind_u64(r->mailing_id);
		values[7] = db_bind_u64(link);
		values[8] = db_bind_text(r->attribution);
		values[9] = db_bind_text(source == CONVERSION_POST ? "post" :
		    "import");
		if (db_execute_values(db, "INSERT INTO conversions "
		    "(conversion_id, amount, currency, converted_at, "
		    "recipient_id, claimed_mailing_id, mailing_id, link_id, "
		    "attribution, source) VALUES (?, ?, ?, ?, ?, NULLIF(?, 0), "
		    "NULLIF(?, 0), NULLIF(?, 0), ?, ?) ON DUPLICATE KEY UPDATE "
		    "conversion_id = conversion_id", 10, values, &added,
		    err) != 0)
			return -1;
	}
	r->outcome = added ? CONVERSION_RECORDED : CONVERSION_ALREADY;
	return 0;
}
