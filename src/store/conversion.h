/*
 * conversion.h - recording conversions and attributing them to
 * mailings.
 *
 * A conversion (a donation, a sign-up) comes from "herald conversion
 * import" (a CSV row) or from herald-web's POST /v (a signed body). It
 * names: its id (the source's own, 1 to 100 of A-Z a-z 0-9 . _ : -),
 * the amount (digits, optionally . and one or two decimals), the
 * currency (ISO 4217, three capital letters), the time (as
 * date_parse_time() reads it: "YYYY-MM-DD HH:MM[:SS] [ZONE]"), and who
 * converted: a click token (token.h), or the recipient's email and the
 * mailing id, never both.
 *
 * It is attributed to the mailing of the recipient's last click within
 * attribution_window before its time; failing that, to the last
 * mailing delivered to the recipient within the window (the history
 * table); failing that, to none. It is recorded once: the same id again
 * changes nothing (CONVERSION_ALREADY), whatever else it says.
 */
#ifndef HERALD_CONVERSION_H
#define HERALD_CONVERSION_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "token.h"

/* The fields as given (NUL-terminated text; NULL or "" = absent). */
struct conversion {
	const char *id, *amount, *currency, *time;
	const char *token;			/* a click token, or */
	const char *email, *mailing;		/* the recipient and mailing */
};

enum conversion_source { CONVERSION_IMPORT, CONVERSION_POST };

enum conversion_outcome {
	CONVERSION_RECORDED,
	CONVERSION_ALREADY,	/* that id was recorded before */
	CONVERSION_REFUSED,	/* why says which field and what */
};

struct conversion_result {
	enum conversion_outcome outcome;
	uint64_t recipient_id;
	uint64_t mailing_id;		/* attributed; 0 = none */
	const char *attribution;	/* "click", "delivery" or "none" */
	struct buf why;			/* the caller frees it */
};

/* The field names a row or a body uses, in struct conversion order,
 * NULL-terminated: id, amount, currency, time, token, email, mailing. */
extern const char *const conversion_field_names[];

/* Sets field name of c to value: 0, or -1 when name is no field. */
int conversion_set_field(struct conversion *c, const char *name,
    const char *value);

/*
 * Checks c, attributes it (window: attribution_window in seconds) and
 * records it. Returns 0 with r->outcome, or -1 with err set when the
 * database failed (nothing recorded).
 */
int conversion_record(MYSQL *db, const struct token_keys *keys, long window,
    const struct conversion *c, enum conversion_source source,
    struct conversion_result *r, struct buf *err);

#endif
