/*
 * testphase.h - a mailing's test phase: its variants to a test share of
 * the recipients first, the winner to the rest.
 *
 * "herald mailing create --test-share 20% --test-wait 2h --winner
 * clicks|conversions|revenue" stores the phase on the mailing
 * (sql/012_test_phase.sql). At staging (stage.c, variant.h) the HMAC
 * ranking gives the first floor(N * share) ranks to the test cell,
 * split among A and the variants by their shares, and stages the rest,
 * the holdout, as A in batches that are held: no worker claims a held
 * batch (batch.c claims ready ones only), and the mailing is not done
 * while one is left.
 *
 * The clock. The test cell is sent when none of its batches waits for
 * its first pass any more (every test-cell row has had its first
 * attempt; a deferred row's retries do not hold the clock):
 * test_phase_check() then records test_sent_at, and the wait of
 * --test-wait runs from there.
 *
 * The decision (winner.h's rule, on the test cell's figures: messages
 * delivered, i.e. accepted by the relay, clickers, converters and
 * revenue of the conversions attributed to the mailing). Once the wait
 * is over the variant with the best rate wins; before, only a
 * significant lead wins (z >= 3.29 over every other variant and at
 * least 1,000 delivered to each). The decision is one transaction led
 * by one row update, UPDATE mailings ... WHERE winner_variant_id IS
 * NULL: of several monitors (nodes) checking at once exactly one
 * decides, the others find it decided and do nothing. In it the figures
 * go to test_results, the holdout's rows get the winner's variant, and
 * its batches become ready; the decision and its figures are logged.
 *
 * Functions returning int give 0, or -1 with a sentence in err.
 */
#ifndef HERALD_TESTPHASE_H
#define HERALD_TESTPHASE_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "winner.h"

/* Seconds between the monitor's checks of the test phases. */
#define TEST_PHASE_CHECK_INTERVAL 5

/* The longest --test-wait: 30 days. */
#define TEST_PHASE_WAIT_MAX (30UL * 86400)

/*
 * Parses a wait: a whole number followed by s, m or h ("90s", "30m",
 * "2h"), more than 0 and at most TEST_PHASE_WAIT_MAX. -1 with why.
 */
int test_phase_wait_parse(const char *text, unsigned long *seconds,
    struct buf *why);

/* Appends seconds in the largest unit that divides it: "2h", "90s". */
void test_phase_wait_format(unsigned long seconds, struct buf *out);

enum test_phase_state {
	TEST_PHASE_NONE,	/* no test phase */
	TEST_PHASE_UNSTAGED,	/* not staged yet */
	TEST_PHASE_TESTING,	/* the test cell is being sent */
	TEST_PHASE_WAITING,	/* sent; the winner is not chosen yet */
	TEST_PHASE_DECIDED,	/* the winner goes to the holdout */
};

/* "none", "to be staged", "testing", "waiting", "decided". */
const char *test_phase_state_name(enum test_phase_state state);

/* A mailing's test phase as stored. */
struct test_phase {
	int found;			/* the mailing exists */
	enum test_phase_state state;
	unsigned share;			/* basis points */
	unsigned long wait;		/* seconds */
	enum winner_metric metric;
	char table[65];			/* its stage table, "" before */
	uint64_t staged, cell_rows;	/* rows in all, rows in the cell */
	char sent_at[32];		/* UTC, "" while testing */
	char wait_ends[32];		/* sent_at + wait, "" while testing */
	uint32_t winner;		/* when decided: 0 = A */
	char winner_name[101];
	char winner_at[32];
	char reason[2001];		/* winner.h's line */
};

/* Reads mailing's test phase into tp (found 0: no such mailing). */
int test_phase_read(MYSQL *db, uint64_t mailing, struct test_phase *tp,
    struct buf *err);

/* One variant's figures in the test cell. */
struct test_phase_row {
	uint32_t variant;		/* 0 = A */
	char name[101];
	struct winner_figures figures;	/* figures.name points at name */
	double rate;			/* winner_rate() */
	double z;			/* the leader's (winner's) z over it */
	int has_z;			/* 0 for the leader itself */
};

struct test_phase_figures {
	struct test_phase_row *rows;	/* A first, then variants by id */
	unsigned count;
	int recorded;			/* from test_results (decided) */
};

/*
 * The figures of tp's mailing (tp read by test_phase_read and staged):
 * those the winner was chosen on when it is decided, else the test
 * cell's so far, with z of the current leader. Free with
 * test_phase_figures_free().
 */
int test_phase_figures_read(MYSQL *db, uint64_t mailing,
    const struct test_phase *tp, struct test_phase_figures *f,
    struct buf *err);

void test_phase_figures_free(struct test_phase_figures *f);

/*
 * For the stager, before it touches mailing: *share gets its test
 * share (0 without a test phase). A test phase with no variant to test
 * is refused: the mailing stays queued and nothing changes.
 */
int test_phase_stage_check(MYSQL *db, uint64_t mailing, unsigned *share,
    struct buf *err);

/* For the stager, in its publishing transaction: the test cell's size. */
int test_phase_staged(MYSQL *db, const char *mailing_id,
    uint64_t cell_rows, struct buf *err);

/*
 * heraldd's monitor, every TEST_PHASE_CHECK_INTERVAL seconds: for each
 * staged mailing in a test phase with no winner yet, starts the clock
 * when its test cell is sent, and decides and releases when the rule
 * says so (see the top). *decided counts the decisions this call made.
 */
int test_phase_check(MYSQL *db, unsigned *decided, struct buf *err);

#endif
