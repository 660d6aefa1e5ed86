/*
 * test_reputation.c - unit tests of src/relay/reputation.c and
 * src/daemon/reputation_watch.c: reading recipients and delay_reasons from
 * "postqueue -j" lines, the table workers and the monitor share, and the
 * rule: move after the minimum volume at the block rate, hold with no
 * alternate left, probe, back off while refused, return when delivered,
 * count a deferred recipient once.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reputation.h"
#include "reputation_watch.h"
#include "scoreboard.h"

#define BLOCKED "host mx[192.0.2.1] said: 421 4.7.0 [192.0.2.9] Service " \
    "unavailable, blocked using rbl.example (in reply to RCPT TO command)"

struct seen {
	unsigned count;
	char queue_id[4][32], address[4][64], reason[4][256];
};

static void
collect(void *arg, const char *queue_id, const char *address,
    const char *reason)
{
	struct seen *s = arg;

	if (s->count == 4)
		return;
	snprintf(s->queue_id[s->count], 32, "%s", queue_id);
	snprintf(s->address[s->count], 64, "%s", address);
	snprintf(s->reason[s->count], 256, "%s", reason);
	s->count++;
}

START_TEST(postqueue_lines_give_each_recipient_and_reason)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(reputation_parse_postqueue_line("{\"queue_name\": "
	    "\"deferred\", \"queue_id\": \"4F1A2B\", \"arrival_time\": 1, "
	    "\"sender\": \"b@x.org\", \"recipients\": [{\"address\": "
	    "\"a@blocked.example\", \"delay_reason\": \"said: \\\"421\\\" "
	    "blocked using rbl\"}, {\"address\": \"c@example.net\"}]}",
	    collect, &s), 2);
	ck_assert_str_eq(s.queue_id[0], "4F1A2B");
	ck_assert_str_eq(s.address[0], "a@blocked.example");
	ck_assert_str_eq(s.reason[0], "said: \"421\" blocked using rbl");
	ck_assert_str_eq(s.address[1], "c@example.net");
	ck_assert_str_eq(s.reason[1], "");
	ck_assert_uint_eq(reputation_parse_postqueue_line("postqueue: "
	    "warning: no JSON", collect, &s), 0);
}
END_TEST

static struct reputation_table *
new_table(void)
{
	struct reputation_table *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(queue_ids_remember_their_route)
{
	struct reputation_table *t = new_table();

	reputation_note_relayed(t, "Example.NET", 1, "7A2C");
	ck_assert_int_eq(reputation_route_of(t, "7A2C"), 1);
	ck_assert_int_eq(reputation_route_of(t, "7A2D"), -1);
	ck_assert_uint_eq(atomic_load(&reputation_domain(t, "example.net", 0,
	    0)->routes[1].relayed), 1);
	ck_assert_ptr_null(reputation_domain(t, "other.example", 0, 0));
	free(t);
}
END_TEST

static struct herald_config cfg;
static struct config_entry alternate = { "blocked.example",
    "127.0.0.1:2526", 1, NULL };

static void
setup_config(int with_alternate)
{
	config_defaults(&cfg);
	cfg.reputation_block_rate = 500000;	/* 50% */
	cfg.reputation_min_messages = 5;
	cfg.reputation_window = 60;
	cfg.reputation_probe_interval = 3;
	cfg.reputation_throttle = 100000;	/* 10% */
	cfg.route_alternate = with_alternate ? &alternate : NULL;
}

static void
teardown_config(void)
{
	cfg.route_alternate = NULL;
	config_free(&cfg);
}

/* n messages relayed on the domain's current route, then one queue
 * reading where the first `blocked` of them are deferred as blocked. */
static void
send_and_read(struct reputation_table *t, struct reputation_watch *w,
    const char *prefix, unsigned n, unsigned blocked, int64_t now)
{
	char id[32];
	int probe;

	for (unsigned i = 0; i < n; i++) {
		unsigned route = reputation_pick_route(t, "blocked.example",
		    reputation_route_count(&cfg, "blocked.example"), 0, &probe);

		snprintf(id, sizeof(id), "%s%u", prefix, i);
		reputation_note_relayed(t, "blocked.example", route, id);
	}
	reputation_watch_begin(w, now);
	for (unsigned i = 0; i < blocked; i++) {
		snprintf(id, sizeof(id), "%s%u", prefix, i);
		reputation_watch_recipient(w, id, "r@blocked.example", BLOCKED);
	}
	reputation_watch_end(w, now);
}

START_TEST(a_blocked_domain_moves_probes_and_returns)
{
	struct reputation_table *t = new_table();
	struct reputation_watch *w;
	struct reputation_domain *d;
	int64_t now = scoreboard_now_ms();
	int probe;

	setup_config(1);
	w = reputation_watch_new(&cfg, t);
	/* Under the minimum volume, even all blocked: no decision. */
	send_and_read(t, w, "A", 4, 4, now);
	d = reputation_domain(t, "blocked.example", 0, 0);
	ck_assert_int_eq(atomic_load(&d->decision), REPUTATION_NORMAL);
	/* 6 more relayed, 4 more blocked: 8 of 10, 80% >= 50%. */
	send_and_read(t, w, "C", 6, 4, now + 100);
	ck_assert_int_eq(atomic_load(&d->decision), REPUTATION_MOVED);
	ck_assert_uint_eq(reputation_pick_route(t, "blocked.example", 2, 1,
	    &probe), 1);
	ck_assert_int_eq(probe, 0);
	/* The same deferred recipients seen again count once. */
	reputation_watch_begin(w, now + 200);
	for (unsigned i = 0; i < 4; i++) {
		char id[8];

		snprintf(id, sizeof(id), "C%u", i);
		reputation_watch_recipient(w, id, "r@blocked.example", BLOCKED);
	}
	reputation_watch_end(w, now + 200);
	ck_assert_uint_eq(atomic_load(&d->routes[0].blocked), 8);
	/* After the interval the next message probes route 0, once. */
	reputation_watch_begin(w, now + 3200);
	reputation_watch_end(w, now + 3200);
	ck_assert_uint_eq(reputation_pick_route(t, "blocked.example", 2, 1,
	    &probe), 0);
	ck_assert_int_eq(probe, 1);
	ck_assert_uint_eq(reputation_pick_route(t, "blocked.example", 2, 1,
	    &probe), 1);
	ck_assert_int_eq(probe, 0);
	reputation_probe_sent(t, "blocked.example", "P1");
	/* Deferred again: back off, twice as long. */
	reputation_watch_begin(w, scoreboard_now_ms() + 4000);
	reputation_watch_recipient(w, "P1", "r@blocked.example", BLOCKED);
	reputation_watch_end(w, scoreboard_now_ms() + 4000);
	ck_assert_int_eq(atomic_load(&d->probe), REPUTATION_PROBE_NONE);
	ck_assert_uint_eq(atomic_load(&d->backoff_s), 6);
	ck_assert_int_eq(atomic_load(&d->decision), REPUTATION_MOVED);
	/* The next probe leaves the queue delivered: back on route 0. */
	reputation_watch_begin(w, atomic_load(&d->probe_due_ms));
	reputation_watch_end(w, atomic_load(&d->probe_due_ms));
	ck_assert_uint_eq(reputation_pick_route(t, "blocked.example", 2, 1,
	    &probe), 0);
	ck_assert_int_eq(probe, 1);
	reputation_probe_sent(t, "blocked.example", "P2");
	reputation_watch_begin(w, scoreboard_now_ms() + 20000);
	reputation_watch_end(w, scoreboard_now_ms() + 20000);
	ck_assert_int_eq(atomic_load(&d->decision), REPUTATION_NORMAL);
	ck_assert_uint_eq(atomic_load(&d->route), 0);
	/* Its old figures do not move it again. */
	send_and_read(t, w, "B", 1, 0, scoreboard_now_ms() + 21000);
	ck_assert_int_eq(atomic_load(&d->decision), REPUTATION_NORMAL);
	reputation_watch_free(w);
	teardown_config();
	free(t);
}
END_TEST

START_TEST(with_no_alternate_it_is_held_at_its_throttle)
{
	struct reputation_table *t = new_table();
	struct reputation_watch *w;
	int64_t now = scoreboard_now_ms();

	setup_config(0);
	w = reputation_watch_new(&cfg, t);
	ck_assert_double_eq(reputation_held_rate(t, "blocked.example"), 0.0);
	send_and_read(t, w, "A", 600, 600, now);
	/* 600 in 60 s is 36,000/h; a tenth of it. */
	ck_assert_double_eq(reputation_held_rate(t, "blocked.example"),
	    3600.0);
	ck_assert_int_eq(atomic_load(&reputation_domain(t, "blocked.example",
	    0, 0)->decision), REPUTATION_HELD);
	reputation_watch_free(w);
	teardown_config();
	free(t);
}
END_TEST

START_TEST(other_classes_do_not_move_it)
{
	struct reputation_table *t = new_table();
	struct reputation_watch *w;
	char id[8];

	setup_config(1);
	w = reputation_watch_new(&cfg, t);
	for (unsigned i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "Q%u", i);
		reputation_note_relayed(t, "blocked.example", 0, id);
	}
	reputation_watch_begin(w, scoreboard_now_ms());
	for (unsigned i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "Q%u", i);
		reputation_watch_recipient(w, id, "r@blocked.example",
		    "host mx[192.0.2.1] said: 452 4.2.2 mailbox full");
	}
	reputation_watch_end(w, scoreboard_now_ms());
	ck_assert_int_eq(atomic_load(&reputation_domain(t, "blocked.example",
	    0, 0)->decision), REPUTATION_NORMAL);
	ck_assert_uint_eq(atomic_load(&reputation_domain(t, "blocked.example",
	    0, 0)->routes[0].deferred[BOUNCE_MAILBOXFULL]), 10);
	reputation_watch_free(w);
	teardown_config();
	free(t);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("reputation");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, postqueue_lines_give_each_recipient_and_reason);
	tcase_add_test(tc, queue_ids_remember_their_route);
	tcase_add_test(tc, a_blocked_domain_moves_probes_and_returns);
	tcase_add_test(tc, with_no_alternate_it_is_held_at_its_throttle);
	tcase_add_test(tc, other_classes_do_not_move_it);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
