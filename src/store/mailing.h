/*
 * mailing.h - a mailing's state and the only ways to change it.
 *
 * A mailing's life is a small state machine. Its states, their names in
 * the mailings table and the legal moves between them live in one place,
 * mailing.c; the stager, the workers, maintenance and the CLI are its
 * clients and never compare or write a state name themselves:
 *
 *	draft   -> queued | cancelled
 *	queued  -> staging | paused | cancelled           (stager, operator)
 *	staging -> ready | done (nobody selected) | queued (interrupted)
 *	ready   -> sending | done | paused | cancelled | pulled  (claim, ...)
 *	sending -> done | blocked | paused | cancelled | pulled
 *	blocked -> sending | paused | cancelled | pulled  (fixed, ...)
 *	paused  -> queued | ready | done | cancelled | pulled  (resume, ...)
 *	pulled  -> queued | ready | done | cancelled      (resume, ...)
 *	done, cancelled: final
 *
 * pulled: the brake (brake.h) stopped it, complaints or hard bounces
 * running too high; the reason is kept on the mailing. Resuming it
 * re-arms the brake from that moment.
 *
 * done from ready or paused: the last batch finished after a pause (or
 * after its resume) that came while its last session was out.
 *
 * blocked: a worker could not build the mailing's messages (a template
 * that no longer compiles, say); its batches wait, and the reason is
 * kept on the mailing until a worker builds them again, which makes the
 * mailing sending once more.
 *
 * mailing_move() is the one function that changes a state in the
 * database: a single UPDATE ... WHERE id = ? AND state = ? with bound
 * values. A move the table does not allow is refused before the
 * database is touched. Functions return -1 with a sentence in err.
 */
#ifndef HERALD_MAILING_H
#define HERALD_MAILING_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"

enum mailing_state {
	MAILING_DRAFT,
	MAILING_QUEUED,
	MAILING_STAGING,
	MAILING_READY,
	MAILING_SENDING,
	MAILING_BLOCKED,
	MAILING_PAUSED,
	MAILING_DONE,
	MAILING_CANCELLED,
	MAILING_PULLED,
};
#define MAILING_STATE_COUNT (MAILING_PULLED + 1)

/* The state's name as the mailings table and the CLI spell it. */
const char *mailing_state_name(enum mailing_state state);

/* Parses a name from the mailings table; -1 when it is not a state. */
int mailing_state_parse(const char *name, enum mailing_state *state);

/* 1 when the table allows from -> to, else 0. */
int mailing_move_legal(enum mailing_state from, enum mailing_state to);

/* 1 for ready and sending: workers send the mailing's batches. */
int mailing_state_sends(enum mailing_state state);

/* 1 for done and cancelled: nothing moves it any more. */
int mailing_state_final(enum mailing_state state);

/*
 * Moves mailing id from `from` to `to` in one statement. reason is
 * kept with a move to blocked or pulled (NULL otherwise); any other move
 * clears it. A move out of pulled re-arms the brake. A move to a final state sets finished_at. Returns 1 when moved,
 * 0 when the mailing was not in `from` (nothing changed), -1 on a
 * database error or a move the table does not allow (nothing changed).
 * Runs inside the caller's transaction when there is one.
 */
int mailing_move(MYSQL *db, uint64_t id, enum mailing_state from,
    enum mailing_state to, const char *reason, struct buf *err);

/*
 * Reads mailing id's state. *found is 0 (and *state untouched) when it
 * does not exist. stage_table, when not NULL, gets the mailing's stage
 * table name ("" when not staged), of at most 64 characters.
 */
int mailing_read_state(MYSQL *db, uint64_t id, enum mailing_state *state,
    char stage_table[65], int *found, struct buf *err);

/*
 * A worker could not build mailing id's messages: sending -> blocked
 * with reason; a mailing already blocked gets the new reason. Any other
 * state is left alone (a pause or cancel wins).
 */
int mailing_block(MYSQL *db, uint64_t id, const char *reason,
    struct buf *err);

/*
 * Every row of mailing id is final (its last batch is done): moves it to
 * done from ready, sending or paused. Returns 1 when moved, 0 when it is
 * in none of those (cancelled meanwhile, say), -1 on a database error.
 */
int mailing_finish(MYSQL *db, uint64_t id, struct buf *err);

/* What an operator asks of a mailing (herald mailing pause ID, ...). */
enum mailing_request {
	MAILING_PAUSE,
	MAILING_RESUME,
	MAILING_CANCEL,
};

/*
 * Carries out an operator's request on mailing id: pause (to paused),
 * resume a paused or pulled one (to ready when staged, else queued) or cancel (to cancelled).
 * Refuses, changing nothing, when the mailing does not exist or its
 * state does not allow the request: err names the state and the states
 * that would. stage_table gets the mailing's stage table ("" when not
 * staged) for a cancel's clean-up. Returns 0 or -1.
 */
int mailing_request(MYSQL *db, uint64_t id, enum mailing_request request,
    char stage_table[65], struct buf *err);

#endif
