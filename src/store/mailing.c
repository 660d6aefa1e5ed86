/*
 * mailing.c - a mailing's states and the moves between them (see
 * mailing.h). The table of legal moves below is the state machine; every
 * other file asks it.
 */
#include "mailing.h"
#include "db.h"
#include "encode.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mailing_state_names[MAILING_STATE_COUNT] = {
	[MAILING_DRAFT] = "draft",
	[MAILING_QUEUED] = "queued",
	[MAILING_STAGING] = "staging",
	[MAILING_READY] = "ready",
	[MAILING_SENDING] = "sending",
	[MAILING_BLOCKED] = "blocked",
	[MAILING_PAUSED] = "paused",
	[MAILING_DONE] = "done",
	[MAILING_CANCELLED] = "cancelled",
	[MAILING_PULLED] = "pulled",
};

#define TO(state) (1u << (state))

/* For each state, the states it may move to. */
static const unsigned mailing_moves[MAILING_STATE_COUNT] = {
	[MAILING_DRAFT] = TO(MAILING_QUEUED) | TO(MAILING_CANCELLED),
	[MAILING_QUEUED] = TO(MAILING_STAGING) | TO(MAILING_PAUSED) |
	    TO(MAILING_CANCELLED),
	/* Staged; nobody selected; an interrupted staging undone. */
	[MAILING_STAGING] = TO(MAILING_READY) | TO(MAILING_DONE) |
	    TO(MAILING_QUEUED),
	[MAILING_READY] = TO(MAILING_SENDING) | TO(MAILING_DONE) |
	    TO(MAILING_PAUSED) | TO(MAILING_CANCELLED) | TO(MAILING_PULLED),
	[MAILING_SENDING] = TO(MAILING_DONE) | TO(MAILING_BLOCKED) |
	    TO(MAILING_PAUSED) | TO(MAILING_CANCELLED) | TO(MAILING_PULLED),
	[MAILING_BLOCKED] = TO(MAILING_SENDING) | TO(MAILING_PAUSED) |
	    TO(MAILING_CANCELLED) | TO(MAILING_PULLED),
	/* Resumed: back to the stager when never staged, else ready. */
	[MAILING_PAUSED] = TO(MAILING_QUEUED) | TO(MAILING_READY) |
	    TO(MAILING_DONE) | TO(MAILING_CANCELLED) | TO(MAILING_PULLED),
	/* Pulled by the brake (brake.h): resumed like a paused one. */
	[MAILING_PULLED] = TO(MAILING_QUEUED) | TO(MAILING_READY) |
	    TO(MAILING_DONE) | TO(MAILING_CANCELLED),
	[MAILING_DONE] = 0,
	[MAILING_CANCELLED] = 0,
};

static int
mailing_state_valid(enum mailing_state state)
{
	return (unsigned)state < MAILING_STATE_COUNT;
}

const char *
mailing_state_name(enum mailing_state state)
{
	return mailing_state_valid(state) ? mailing_state_names[state] :
	    "unknown";
}

int
mailing_state_parse(const char *name, enum mailing_state *state)
{
	for (unsigned i = 0; name && i < MAILING_STATE_COUNT; i++) {
		if (strcmp(name, mailing_state_names[i]) == 0) {
			*state = (enum mailing_state)i;
			return 0;
		}
	}
	return -1;
}

int
mailing_move_legal(enum mailing_state from, enum mailing_state to)
{
	return mailing_state_valid(from) && mailing_state_valid(to) &&
	    (mailing_moves[from] & TO(to)) != 0;
}

int
mailing_state_sends(enum mailing_state state)
{
	return state == MAILING_READY || state == MAILING_SENDING;
}

int
mailing_state_final(enum mailing_state state)
{
	return mailing_state_valid(state) && mailing_moves[state] == 0;
}

int
mailing_move(MYSQL *db, uint64_t id, enum mailing_state from,
    enum mailing_state to, const char *reason, struct buf *err)
{
	struct buf kept = BUF_INIT;
	struct db_value params[9];
	unsigned long long affected = 0;
	int keeps_reason = to == MAILING_BLOCKED || to == MAILING_PULLED;
	int status;

	if (!mailing_move_legal(from, to)) {
		buf_printf(err, "mailing %" PRIu64 " cannot go from %s to %s",
		    id, mailing_state_name(from), mailing_state_name(to));
		return -1;
	}
	/* The reason quotes files and errors: keep it valid UTF-8. */
	if (keeps_reason && reason)
		encode_utf8_clean(reason, strlen(reason), &kept);
	else if (keeps_reason)
		buf_append_str(&kept, "no reason given");
	params[0] = db_bind_text(mailing_state_name(to));
	params[1] = db_bind_text(to == MAILING_BLOCKED ? buf_str(&kept) :
	    NULL);
	params[2] = params[1];
	params[3] = db_bind_text(mailing_state_final(to) ? "final" : NULL);
	params[4] = db_bind_text(to == MAILING_PULLED ? buf_str(&kept) :
	    NULL);
	params[5] = params[4];
	/* Leaving pulled re-arms the brake from now (brake.h). */
	params[6] = db_bind_text(from == MAILING_PULLED ? "rearm" : NULL);
	params[7] = db_bind_u64(id);
	params[8] = db_bind_text(mailing_state_name(from));
	/* A move from one state to another always changes the row, so the
	 * affected count is the matched count with or without
	 * CLIENT_FOUND_ROWS. */
	status = db_execute_values(db, "UPDATE mailings SET state = ?, "
	    "blocked_reason = LEFT(?, 1000), blocked_at = IF(? IS NULL, NULL, "
	    "UTC_TIMESTAMP()), finished_at = IF(? IS NULL, finished_at, "
	    "UTC_TIMESTAMP()), pulled_reason = LEFT(?, 1000), pulled_at = "
	    "IF(? IS NULL, NULL, UTC_TIMESTAMP()), brake_armed_at = IF(? IS "
	    "NULL, brake_armed_at, UTC_TIMESTAMP()) WHERE id = ? AND state = "
	    "?", 9, params, &affected, err);
	buf_free(&kept);
	if (status != 0)
		return -1;
	return affected > 0;
}

struct mailing_state_row {
	enum mailing_state state;
	char *stage_table;
	int found;
	int unknown;
};

static int
mailing_state_row(void *arg, unsigned ncolumns, char **col)
{
	struct mailing_state_row *r = arg;

	if (ncolumns != 2)
		return 1;
	r->found = 1;
	r->unknown = mailing_state_parse(col[0], &r->state) != 0;
	if (r->stage_table)
		snprintf(r->stage_table, 65, "%s", col[1] ? col[1] : "");
	return 1;
}

int
mailing_read_state(MYSQL *db, uint64_t id, enum mailing_state *state,
    char stage_table[65], int *found, struct buf *err)
{
	struct mailing_state_row r = { .stage_table = stage_table };
	const struct db_value params[1] = { db_bind_u64(id) };

	if (stage_table)
		stage_table[0] = '\0';
	if (db_query_values(db, "SELECT state, stage_table FROM mailings "
	    "WHERE id = ?", 1, params, mailing_state_row, &r, err) != 0)
		return -1;
	if (r.found && r.unknown) {
		buf_printf(err, "mailing %" PRIu64 " has a state herald does "
		    "not know; is the schema newer than this herald?", id);
		return -1;
	}
	*found = r.found;
	if (r.found)
		*state = r.state;
	return 0;
}

int
mailing_block(MYSQL *db, uint64_t id, const char *reason, struct buf *err)
{
	struct buf kept = BUF_INIT;
	struct db_value params[3];
	int moved, status;

	moved = mailing_move(db, id, MAILING_SENDING, MAILING_BLOCKED, reason,
	    err);
	if (moved != 0)
		return moved < 0 ? -1 : 0;
	/* Already blocked (another worker said so first): the latest
	 * reason is the one the operator must fix. Not a move. */
	encode_utf8_clean(reason, strlen(reason), &kept);
	params[0] = db_bind_text(buf_str(&kept));
	params[1] = db_bind_u64(id);
	params[2] = db_bind_text(mailing_state_name(MAILING_BLOCKED));
	status = db_execute_values(db, "UPDATE mailings SET blocked_reason = "
	    "LEFT(?, 1000) WHERE id = ? AND state = ?", 3, params, NULL, err);
	buf_free(&kept);
	return status;
}

int
mailing_finish(MYSQL *db, uint64_t id, struct buf *err)
{
	enum mailing_state state;
	int found, moved = 0;

	/* An operator may move it between the read and the move: read
	 * again, a few times at most. */
	for (int attempt = 0; attempt < 3 && moved == 0; attempt++) {
		if (mailing_read_state(db, id, &state, NULL, &found, err) != 0)
			return -1;
		if (!found || (state != MAILING_READY &&
		    state != MAILING_SENDING && state != MAILING_PAUSED))
			return 0;
		moved = mailing_move(db, id, state, MAILING_DONE, NULL, err);
	}
	return moved;
}

/* Appends "a queued, ready or sending" (the states that may go to). */
static void
mailing_append_sources(struct buf *out, enum mailing_state to)
{
	unsigned count = 0, written = 0;

	for (unsigned s = 0; s < MAILING_STATE_COUNT; s++)
		count += mailing_move_legal((enum mailing_state)s, to);
	for (unsigned s = 0; s < MAILING_STATE_COUNT; s++) {
		if (!mailing_move_legal((enum mailing_state)s, to))
			continue;
		written++;
		buf_printf(out, "%s%s", written == 1 ? "a " : written ==
		    count ? " or " : ", ", mailing_state_names[s]);
	}
}

int
mailing_request(MYSQL *db, uint64_t id, enum mailing_request request,
    char stage_table[65], struct buf *err)
{
	static const char *const verbs[] = {
		[MAILING_PAUSE] = "paused",
		[MAILING_RESUME] = "resumed",
		[MAILING_CANCEL] = "cancelled",
	};
	static const enum mailing_state targets[] = {
		[MAILING_PAUSE] = MAILING_PAUSED,
		[MAILING_RESUME] = MAILING_READY,
		[MAILING_CANCEL] = MAILING_CANCELLED,
	};
	enum mailing_state from = MAILING_DRAFT, to = targets[request];
	int found = 0, moved;

	if (mailing_read_state(db, id, &from, stage_table, &found, err) != 0)
		return -1;
	if (!found) {
		buf_printf(err, "mailing %" PRIu64 " does not exist", id);
		return -1;
	}
	/* A mailing never staged goes back to the stager. */
	if (request == MAILING_RESUME && stage_table[0] == '\0')
		to = MAILING_QUEUED;
	/* Resuming is leaving paused (or pulled by the brake), whichever
	 * way the mailing goes. */
	if (request == MAILING_RESUME ? from != MAILING_PAUSED &&
	    from != MAILING_PULLED : !mailing_move_legal(from, to)) {
		buf_printf(err, "mailing %" PRIu64 " is %s: only ", id,
		    mailing_state_name(from));
		if (request == MAILING_RESUME)
			buf_append_str(err, "a paused or pulled");
		else
			mailing_append_sources(err, to);
		buf_printf(err, " mailing can be %s", verbs[request]);
		if (from == MAILING_STAGING)
			buf_append_str(err, "; it is being staged: try again "
			    "in a moment");
		return -1;
	}
	moved = mailing_move(db, id, from, to, NULL, err);
	if (moved < 0)
		return -1;
	if (moved == 0) {
		buf_printf(err, "mailing %" PRIu64 " changed state meanwhile; "
		    "look at it again (herald mailing show %" PRIu64 ")", id,
		    id);
		return -1;
	}
	return 0;
}
