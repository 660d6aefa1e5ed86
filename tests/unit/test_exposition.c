/*
 * test_exposition.c - unit tests of src/core/exposition.c (the Prometheus text
 * format) and src/core/listen_address.c. The whole page is also parsed by
 * python3-prometheus-client in tests/integration/metrics.sh.
 */
#include <check.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exposition.h"
#include "listen_address.h"

START_TEST(family_has_help_and_type)
{
	struct buf page = BUF_INIT;

	exposition_family(&page, "herald_sent_total", EXPOSITION_COUNTER,
	    "Sent.\nA \\ and a \" stay");
	exposition_family(&page, "herald_backlog", EXPOSITION_GAUGE, "B");
	ck_assert_str_eq(buf_str(&page),
	    "# HELP herald_sent_total Sent.\\nA \\\\ and a \" stay\n"
	    "# TYPE herald_sent_total counter\n"
	    "# HELP herald_backlog B\n"
	    "# TYPE herald_backlog gauge\n");
	buf_free(&page);
}
END_TEST

START_TEST(label_values_are_escaped)
{
	struct buf page = BUF_INIT;
	const char *labels[4] = { "node", "n\"1\\", "relay", "a\nb" };

	exposition_sample(&page, "x", labels, 2, 3);
	ck_assert_str_eq(buf_str(&page),
	    "x{node=\"n\\\"1\\\\\",relay=\"a\\nb\"} 3\n");
	buf_free(&page);
}
END_TEST

START_TEST(values_print_exactly)
{
	struct buf page = BUF_INIT;

	exposition_sample(&page, "a", NULL, 0, 9007199254740991.0);
	exposition_sample(&page, "b", NULL, 0, 0.25);
	exposition_sample(&page, "c", NULL, 0, NAN);
	exposition_sample(&page, "d", NULL, 0, -INFINITY);
	exposition_sample(&page, "e", NULL, 0, 0);
	ck_assert_str_eq(buf_str(&page), "a 9007199254740991\nb 0.25\n"
	    "c NaN\nd -Inf\ne 0\n");
	buf_free(&page);
}
END_TEST

START_TEST(listen_addresses)
{
	struct sockaddr_storage addr;
	struct buf err = BUF_INIT;
	struct sockaddr_in any = { 0 };
	socklen_t length = sizeof(any);
	char text[32];
	int fd;

	ck_assert_int_eq(listen_address_parse("k", "127.0.0.1:9257", &addr,
	    &err), 0);
	ck_assert_int_eq(addr.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&addr)->sin_port), 9257);
	ck_assert_int_eq(listen_address_parse("k", "[::1]:80", &addr, &err),
	    0);
	ck_assert_int_eq(addr.ss_family, AF_INET6);
	ck_assert_int_eq(listen_address_parse("metrics_listen", "127.0.0.1",
	    &addr, &err), -1);
	ck_assert_str_eq(buf_str(&err), "metrics_listen \"127.0.0.1\": "
	    "expected IPV4:PORT or [IPV6]:PORT, for example 127.0.0.1:8025");
	buf_reset(&err);
	ck_assert_int_eq(listen_address_parse("k", "host:1", &addr, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "\"host\" is not an IP"));
	buf_reset(&err);
	ck_assert_int_eq(listen_address_parse("k", "1.2.3.4:65536", &addr,
	    &err), -1);
	buf_reset(&err);
	/* A port the kernel calls free, then listened on twice. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	any.sin_family = AF_INET;
	any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&any, &length), 0);
	close(fd);
	snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(any.sin_port));
	fd = listen_address_open("k", text, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(listen_address_open("k", text, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "Address already in use"));
	close(fd);
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("exposition");
	TCase *tc = tcase_create("exposition");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, family_has_help_and_type);
	tcase_add_test(tc, label_values_are_escaped);
	tcase_add_test(tc, values_print_exactly);
	tcase_add_test(tc, listen_addresses);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
