/*
 * test_mailing.c - unit tests of src/store/mailing.c: the state table, pair by
 * pair, against the life of a mailing written out here independently;
 * names both ways; and an illegal move refused before any database is
 * touched (no connection is given).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "mailing.h"

/* Every legal move, as DESIGN.md and mailing.h describe them. */
static const char *const legal[] = {
	"draft queued", "draft cancelled",
	"queued staging", "queued paused", "queued cancelled",
	"staging ready", "staging done", "staging queued",
	"ready sending", "ready done", "ready paused", "ready cancelled",
	"ready pulled",
	"sending done", "sending blocked", "sending paused",
	"sending cancelled", "sending pulled",
	"blocked sending", "blocked paused", "blocked cancelled",
	"blocked pulled",
	"paused queued", "paused ready", "paused done", "paused cancelled",
	"paused pulled",
	"pulled queued", "pulled ready", "pulled done", "pulled cancelled",
};

static int
listed(const char *from, const char *to)
{
	char pair[40];

	snprintf(pair, sizeof(pair), "%s %s", from, to);
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (strcmp(legal[i], pair) == 0)
			return 1;
	return 0;
}

START_TEST(every_pair_is_legal_exactly_when_listed)
{
	unsigned count = 0;

	for (int from = 0; from < MAILING_STATE_COUNT; from++) {
		for (int to = 0; to < MAILING_STATE_COUNT; to++) {
			const char *f = mailing_state_name(from);
			const char *t = mailing_state_name(to);

			ck_assert_msg(mailing_move_legal(from, to) ==
			    listed(f, t), "%s -> %s: table says %d", f, t,
			    mailing_move_legal(from, to));
			count += mailing_move_legal(from, to);
		}
	}
	/* And nothing in the list is missing from the table. */
	ck_assert_uint_eq(count, sizeof(legal) / sizeof(legal[0]));
}
END_TEST

START_TEST(no_state_moves_to_itself)
{
	for (int s = 0; s < MAILING_STATE_COUNT; s++)
		ck_assert_int_eq(mailing_move_legal(s, s), 0);
}
END_TEST

START_TEST(out_of_range_states_are_never_legal)
{
	ck_assert_int_eq(mailing_move_legal(MAILING_STATE_COUNT,
	    MAILING_QUEUED), 0);
	ck_assert_int_eq(mailing_move_legal(MAILING_QUEUED,
	    MAILING_STATE_COUNT), 0);
	ck_assert_int_eq(mailing_move_legal((enum mailing_state)-1,
	    MAILING_QUEUED), 0);
	ck_assert_str_eq(mailing_state_name(MAILING_STATE_COUNT), "unknown");
}
END_TEST

START_TEST(names_match_the_schema_and_parse_back)
{
	/* The ENUM of mailings.state (sql/001, sql/004), in its order. */
	static const char *const schema[] = { "draft", "queued", "staging",
	    "ready", "sending", "blocked", "paused", "done", "cancelled",
	    "pulled" };
	enum mailing_state parsed;

	ck_assert_int_eq(MAILING_STATE_COUNT, 10);
	for (int s = 0; s < MAILING_STATE_COUNT; s++) {
		ck_assert_str_eq(mailing_state_name(s), schema[s]);
		ck_assert_int_eq(mailing_state_parse(schema[s], &parsed), 0);
		ck_assert_int_eq(parsed, s);
	}
	parsed = MAILING_READY;
	ck_assert_int_eq(mailing_state_parse("Sending", &parsed), -1);
	ck_assert_int_eq(mailing_state_parse("", &parsed), -1);
	ck_assert_int_eq(mailing_state_parse(NULL, &parsed), -1);
	ck_assert_int_eq(parsed, MAILING_READY);
}
END_TEST

START_TEST(final_and_sending_states)
{
	for (int s = 0; s < MAILING_STATE_COUNT; s++) {
		int moves = 0;

		for (int t = 0; t < MAILING_STATE_COUNT; t++)
			moves += mailing_move_legal(s, t);
		ck_assert_int_eq(mailing_state_final(s), moves == 0);
		ck_assert_int_eq(mailing_state_sends(s), s == MAILING_READY ||
		    s == MAILING_SENDING);
	}
	ck_assert(mailing_state_final(MAILING_DONE));
	ck_assert(mailing_state_final(MAILING_CANCELLED));
	ck_assert(!mailing_state_final(MAILING_PULLED));
}
END_TEST

/* Refused before the database: a NULL connection is never used. */
START_TEST(illegal_move_is_refused_without_the_database)
{
	struct buf err = BUF_INIT;

	for (int from = 0; from < MAILING_STATE_COUNT; from++) {
		for (int to = 0; to < MAILING_STATE_COUNT; to++) {
			char want[80];

			if (mailing_move_legal(from, to))
				continue;
			buf_reset(&err);
			ck_assert_int_eq(mailing_move(NULL, 42, from, to, NULL,
			    &err), -1);
			snprintf(want, sizeof(want), "mailing 42 cannot go "
			    "from %s to %s", mailing_state_name(from),
			    mailing_state_name(to));
			ck_assert_str_eq(buf_str(&err), want);
		}
	}
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mailing");
	TCase *tc = tcase_create("states");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, every_pair_is_legal_exactly_when_listed);
	tcase_add_test(tc, no_state_moves_to_itself);
	tcase_add_test(tc, out_of_range_states_are_never_legal);
	tcase_add_test(tc, names_match_the_schema_and_parse_back);
	tcase_add_test(tc, final_and_sending_states);
	tcase_add_test(tc, illegal_move_is_refused_without_the_database);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
