/*
 * test_throttle.c - unit tests of src/relay/throttle.c. The clock is passed in,
 * so the limits are checked exactly, without timing anything.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "throttle.h"

#define MINUTE_US 60000000LL

static int
compare_times(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

START_TEST(no_limit_means_now)
{
	struct throttle_table *t = throttle_table_create(16);

	ck_assert_int_eq(throttle_reserve(t, "node", 0, 1234), 1234);
	throttle_table_free(t);
}
END_TEST

/* Reserving as fast as possible for ten minutes: every sliding minute
 * holds at most the limit plus the burst, i.e. within 5%. */
START_TEST(saturated_bucket_holds_the_rate_per_minute)
{
	struct throttle_table *t = throttle_table_create(16);
	const double per_hour = 60000;		/* 1000 a minute */
	int64_t start = 100 * MINUTE_US, times[12000];
	unsigned n = 0;

	while (n < 12000) {
		int64_t at = throttle_reserve(t, "domain:gmail.com", per_hour,
		    start);

		if (at >= start + 10 * MINUTE_US)
			break;
		times[n++] = at;
	}
	/* Ten minutes at 1000 a minute, plus the initial burst. */
	ck_assert_int_ge(n, 10000);
	ck_assert_int_le(n, 10000 + 1 + THROTTLE_BURST_US / 60000);
	for (unsigned i = 0, j = 0; i < n; i++) {
		while (j < n && times[j] < times[i] + MINUTE_US)
			j++;
		ck_assert_msg(j - i <= 1050, "%u messages in the minute from "
		    "%lld", j - i, (long long)times[i]);
	}
	throttle_table_free(t);
}
END_TEST

START_TEST(keys_are_independent)
{
	struct throttle_table *t = throttle_table_create(16);
	int64_t now = MINUTE_US;

	/* Exhaust the burst of key a: 1/s with a 1 s burst. */
	ck_assert_int_eq(throttle_reserve(t, "a", 3600, now), now);
	ck_assert_int_eq(throttle_reserve(t, "a", 3600, now), now);
	ck_assert_int_gt(throttle_reserve(t, "a", 3600, now), now);
	ck_assert_int_eq(throttle_reserve(t, "b", 3600, now), now);
	throttle_table_free(t);
}
END_TEST

START_TEST(idle_bucket_allows_only_a_short_burst)
{
	struct throttle_table *t = throttle_table_create(16);
	int64_t now = 10 * MINUTE_US;
	unsigned immediate = 0;

	throttle_reserve(t, "a", 36000, now);	/* 10/s */
	now += MINUTE_US;			/* idle a minute */
	while (throttle_reserve(t, "a", 36000, now) == now)
		immediate++;
	/* One second's worth (10), not a minute's worth (600). */
	ck_assert_int_le(immediate, 11);
	ck_assert_int_ge(immediate, 9);
	throttle_table_free(t);
}
END_TEST

START_TEST(full_table_does_not_block)
{
	struct throttle_table *t = throttle_table_create(2);

	throttle_reserve(t, "a", 1, MINUTE_US);
	throttle_reserve(t, "b", 1, MINUTE_US);
	ck_assert_int_eq(throttle_reserve(t, "c", 1, MINUTE_US), MINUTE_US);
	throttle_table_free(t);
}
END_TEST

/*
 * A daemon that runs for months sees far more keys (mailings, domains)
 * than the table has buckets: 10,000 rate-limited mailings, one after
 * the other, through the daemon's 4,096 buckets. Each must be limited.
 */
START_TEST(idle_buckets_are_reused_past_the_slot_count)
{
	struct throttle_table *t = throttle_table_create(4096);
	int64_t now = MINUTE_US;
	char key[32];

	for (unsigned i = 0; i < 10000; i++, now += 1000) {
		snprintf(key, sizeof(key), "mailing:%u", i);
		/* 1/s with a 1 s burst: the third message waits. */
		ck_assert_int_eq(throttle_reserve(t, key, 3600, now), now);
		ck_assert_int_eq(throttle_reserve(t, key, 3600, now), now);
		ck_assert_msg(throttle_reserve(t, key, 3600, now) > now,
		    "mailing %u is not limited", i);
	}
	throttle_table_free(t);
}
END_TEST

/* A bucket still in use is never taken from its key. */
START_TEST(busy_buckets_are_not_taken)
{
	struct throttle_table *t = throttle_table_create(2);
	int64_t now = MINUTE_US;

	throttle_reserve(t, "a", 3600, now);
	throttle_reserve(t, "a", 3600, now);	/* a: next slot now + 1 s */
	throttle_reserve(t, "b", 3600, now);
	throttle_reserve(t, "b", 3600, now);
	ck_assert_int_eq(throttle_reserve(t, "c", 3600, now + 500000),
	    now + 500000);			/* every bucket busy */
	ck_assert_int_eq(throttle_reserve(t, "a", 3600, now + 500000),
	    now + 1000000);			/* a kept its place */
	/* Once b has been idle a whole burst, c takes its bucket. */
	now += 2 * THROTTLE_BURST_US + 1;
	throttle_reserve(t, "a", 3600, now);
	throttle_reserve(t, "c", 3600, now);
	throttle_reserve(t, "c", 3600, now);
	ck_assert_int_gt(throttle_reserve(t, "c", 3600, now), now);
	throttle_table_free(t);
}
END_TEST

/* Four processes reserving at once share one bucket: no reservation is
 * lost or given twice. */
START_TEST(processes_share_buckets)
{
	struct throttle_table *t = throttle_table_create(64);
	int64_t now = MINUTE_US;
	int status;

	for (int p = 0; p < 4; p++) {
		if (fork() == 0) {
			for (int i = 0; i < 5000; i++)
				throttle_reserve(t, "node", 3600000, now);
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++) {
		wait(&status);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* 20,000 reservations at 1,000/s: the next one is due 20 s after
	 * the burst allowance. */
	ck_assert_int_eq(throttle_reserve(t, "node", 3600000, now),
	    now - THROTTLE_BURST_US + 20000 * 1000);
	throttle_table_free(t);
}
END_TEST

/* Until the monitor has counted the nodes, a limited message waits;
 * then each of N nodes takes 1/N, until the count is too old. */
START_TEST(cluster_share_waits_then_divides)
{
	struct throttle_table *t = throttle_table_create(4);
	int64_t now = MINUTE_US;

	ck_assert(throttle_share(t, 6000, now) < 0);
	ck_assert(throttle_share(t, 0, now) == 0);	/* no limit: no wait */
	ck_assert(throttle_share(NULL, 6000, now) == 6000);
	throttle_set_share(t, 3, now + 10000000);
	ck_assert(throttle_share(t, 6000, now) == 2000);
	ck_assert(throttle_share(t, 6000, now + 10000000) == 2000);
	ck_assert(throttle_share(t, 6000, now + 10000001) < 0);
	throttle_set_share(t, 0, 0);	/* a node not yet seen by the others */
	ck_assert(throttle_share(t, 6000, now) < 0);
	throttle_table_free(t);
}
END_TEST

/* Three nodes, each with its own table at its share, saturated for ten
 * minutes: together they hold the cluster-wide limit within 5% over
 * every sliding minute. */
START_TEST(three_shares_hold_the_cluster_limit)
{
	struct throttle_table *t[3];
	const double per_hour = 60000;		/* 1000 a minute */
	int64_t start = 100 * MINUTE_US, times[12000];
	unsigned n = 0;

	for (int k = 0; k < 3; k++) {
		t[k] = throttle_table_create(4);
		throttle_set_share(t[k], 3, start + 20 * MINUTE_US);
	}
	for (int k = 0; k < 3; k++)
		for (;;) {
			int64_t at = throttle_reserve(t[k], "domain:x",
			    throttle_share(t[k], per_hour, start), start);

			if (at >= start + 10 * MINUTE_US)
				break;
			ck_assert_uint_lt(n, 12000);
			times[n++] = at;
		}
	qsort(times, n, sizeof(times[0]), compare_times);
	ck_assert_int_ge(n, 10000);
	for (unsigned i = 0, j = 0; i < n; i++) {
		while (j < n && times[j] < times[i] + MINUTE_US)
			j++;
		ck_assert_msg(j - i <= 1050, "%u messages in the minute from "
		    "%lld", j - i, (long long)times[i]);
	}
	for (int k = 0; k < 3; k++)
		throttle_table_free(t[k]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("throttle");
	TCase *tc = tcase_create("throttle");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, no_limit_means_now);
	tcase_add_test(tc, saturated_bucket_holds_the_rate_per_minute);
	tcase_add_test(tc, keys_are_independent);
	tcase_add_test(tc, idle_bucket_allows_only_a_short_burst);
	tcase_add_test(tc, full_table_does_not_block);
	tcase_add_test(tc, idle_buckets_are_reused_past_the_slot_count);
	tcase_add_test(tc, busy_buckets_are_not_taken);
	tcase_add_test(tc, processes_share_buckets);
	tcase_add_test(tc, cluster_share_waits_then_divides);
	tcase_add_test(tc, three_shares_hold_the_cluster_limit);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
