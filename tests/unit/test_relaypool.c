/*
 * test_relaypool.c - unit tests of src/relay/relaypool.c: which relay a
 * recipient domain goes to, through the route index (case-insensitive,
 * every one of RELAYPOOL_ROUTES_MAX routes found), its alternates, and
 * the general relays when a route's relay is down or a domain has none.
 * No session connects: relaypool_init() only sets them up.
 */
#include <check.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "relaypool.h"

static struct herald_config cfg;
static struct relaypool pool;
static struct ev_loop *loop;

/* A configuration with relay_host, relay_backup_host and
 * RELAYPOOL_ROUTES_MAX routed domains d0.example ... alternating between
 * two route relays; d1.example also has an alternate. */
static void
setup(void)
{
	char path[] = "/tmp/test_relaypool.XXXXXX";
	struct buf err = BUF_INIT;
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "relay_host = 127.0.0.1\nrelay_port = 2501\n"
	    "relay_backup_host = 127.0.0.1\nrelay_backup_port = 2502\n");
	for (unsigned i = 0; i < RELAYPOOL_ROUTES_MAX; i++)
		fprintf(f, "route d%u.example = 127.0.0.1:%u\n", i,
		    2510 + i % 2);
	fprintf(f, "route_alternate d1.example = 127.0.0.1:2520\n");
	fclose(f);
	config_defaults(&cfg);
	if (config_load(&cfg, path, &err) != 0)
		ck_abort_msg("config: %s", buf_str(&err));
	unlink(path);
	loop = ev_loop_new(EVFLAG_AUTO);
	if (relaypool_init(&pool, &cfg, "test.example", loop, &err) != 0)
		ck_abort_msg("relaypool_init: %s", buf_str(&err));
	buf_free(&err);
}

static void
teardown(void)
{
	relaypool_free(&pool);
	ev_loop_destroy(loop);
	config_free(&cfg);
}

START_TEST(every_route_is_found_without_case)
{
	int64_t retry = 0;

	ck_assert_uint_eq(pool.route_count, RELAYPOOL_ROUTES_MAX);
	for (unsigned i = 0; i < RELAYPOOL_ROUTES_MAX; i++) {
		char domain[64], name[32];
		struct relaypool_entry *e;

		snprintf(domain, sizeof(domain), i % 3 ? "d%u.example" :
		    "D%u.EXAMPLE", i);
		snprintf(name, sizeof(name), "127.0.0.1:%u", 2510 + i % 2);
		e = relaypool_pick_for(&pool, domain, 0, 0, &retry);
		ck_assert_ptr_nonnull(e);
		ck_assert_str_eq(e->name, name);
	}
}
END_TEST

START_TEST(a_domain_without_route_goes_to_the_primary)
{
	int64_t retry = 0;
	struct relaypool_entry *e;

	e = relaypool_pick_for(&pool, "elsewhere.example", 0, 0, &retry);
	ck_assert_str_eq(e->name, "127.0.0.1:2501");
	ck_assert_uint_eq(relaypool_route_count(&pool, "elsewhere.example"),
	    1);
}
END_TEST

START_TEST(alternates_and_a_down_route_relay)
{
	int64_t retry = 0;
	struct relaypool_entry *e;

	ck_assert_uint_eq(relaypool_route_count(&pool, "D1.example"), 2);
	ck_assert_uint_eq(relaypool_route_count(&pool, "d2.example"), 1);
	e = relaypool_pick_for(&pool, "d1.example", 1, 0, &retry);
	ck_assert_str_eq(e->name, "127.0.0.1:2520");
	/* Its route relay down: the primary until it is up again. */
	e = relaypool_pick_for(&pool, "d1.example", 0, 0, &retry);
	e->down_until_ms = 1000;
	ck_assert_str_eq(relaypool_pick_for(&pool, "d1.example", 0, 500,
	    &retry)->name, "127.0.0.1:2501");
	ck_assert_str_eq(relaypool_pick_for(&pool, "d1.example", 0, 1000,
	    &retry)->name, "127.0.0.1:2511");
}
END_TEST

static Suite *
relaypool_suite(void)
{
	Suite *s = suite_create("relaypool");
	TCase *tc = tcase_create("routes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_route_is_found_without_case);
	tcase_add_test(tc, a_domain_without_route_goes_to_the_primary);
	tcase_add_test(tc, alternates_and_a_down_route_relay);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(relaypool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
