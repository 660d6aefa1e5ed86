/*
 * test_gmetric.c - unit tests of src/daemon/gmetric.c and the pure parts of
 * src/daemon/monitor.c: the XDR packets (decoded here field by field, as
 * gm_protocol.x lays them out), reading gmond.conf, counting postqueue's
 * output and naming metrics. The packets are also checked against a real
 * gmond by tests/integration/ganglia.sh.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmetric.h"
#include "monitor.h"

struct xdr_reader {
	const unsigned char *p, *end;
};

static uint32_t
read_u32(struct xdr_reader *r)
{
	uint32_t v;

	ck_assert_int_ge(r->end - r->p, 4);
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

/* Checks that the next XDR string is expected (length, bytes, padding
 * with zeros to a multiple of four). */
static void
expect_string(struct xdr_reader *r, const char *expected)
{
	uint32_t len = read_u32(r);
	uint32_t padded = (len + 3) & ~3u;

	ck_assert_uint_eq(len, strlen(expected));
	ck_assert_int_ge(r->end - r->p, padded);
	ck_assert(memcmp(r->p, expected, len) == 0);
	for (uint32_t i = len; i < padded; i++)
		ck_assert_int_eq(r->p[i], 0);
	r->p += padded;
}

START_TEST(metadata_packet_follows_gm_protocol)
{
	struct gmetric_definition def = {
		.name = "herald_sent_rate", .units = "messages/s",
		.slope = GMETRIC_SLOPE_BOTH, .tmax = 15, .dmax = 150,
		.group = "herald", .title = "Messages sent",
		.description = "d",
	};
	struct buf b = BUF_INIT;
	struct xdr_reader r;

	gmetric_encode_metadata(&b, "node1", &def);
	r.p = (const unsigned char *)b.data;
	r.end = r.p + b.len;
	ck_assert_uint_eq(read_u32(&r), 128);		/* gmetadata_full */
	expect_string(&r, "node1");
	expect_string(&r, "herald_sent_rate");
	ck_assert_uint_eq(read_u32(&r), 0);		/* spoof */
	expect_string(&r, "double");
	expect_string(&r, "herald_sent_rate");
	expect_string(&r, "messages/s");
	ck_assert_uint_eq(read_u32(&r), 3);		/* slope both */
	ck_assert_uint_eq(read_u32(&r), 15);
	ck_assert_uint_eq(read_u32(&r), 150);
	ck_assert_uint_eq(read_u32(&r), 3);		/* extra data */
	expect_string(&r, "GROUP");
	expect_string(&r, "herald");
	expect_string(&r, "TITLE");
	expect_string(&r, "Messages sent");
	expect_string(&r, "DESC");
	expect_string(&r, "d");
	ck_assert(r.p == r.end);
	buf_free(&b);
}
END_TEST

START_TEST(value_packet_carries_an_ieee_double)
{
	struct buf b = BUF_INIT;
	struct xdr_reader r;
	uint64_t bits;
	double value;

	gmetric_encode_double(&b, "n", "herald_backlog", 1234.5);
	r.p = (const unsigned char *)b.data;
	r.end = r.p + b.len;
	ck_assert_uint_eq(read_u32(&r), 135);		/* gmetric_double */
	expect_string(&r, "n");
	expect_string(&r, "herald_backlog");
	ck_assert_uint_eq(read_u32(&r), 0);
	expect_string(&r, "%.2f");
	bits = (uint64_t)read_u32(&r) << 32;
	bits |= read_u32(&r);
	memcpy(&value, &bits, sizeof(value));
	ck_assert(value == 1234.5);
	ck_assert(r.p == r.end);
	buf_free(&b);
}
END_TEST

/* Writes text to a temporary gmond.conf and reads it back. */
static int
read_conf(const char *text, char *host, long *port, struct buf *err)
{
	char path[] = "/tmp/test_gmetric.XXXXXX";
	int fd = mkstemp(path), rc;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = gmetric_read_gmond_conf(path, host, 256, port, err);
	unlink(path);
	return rc;
}

START_TEST(gmond_conf_first_udp_send_channel)
{
	char host[256];
	long port = 0;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(read_conf(
	    "/* Ganglia */\n"
	    "globals {\n  daemonize = yes\n  host = \"not.this\"\n}\n"
	    "cluster { name = \"c\" }\n"
	    "udp_recv_channel { port = 1 }\n"
	    "udp_send_channel {\n"
	    "  #host = commented.out\n"
	    "  mcast_join = 239.2.11.71 // multicast\n"
	    "  port = 8650\n  ttl = 1\n}\n"
	    "udp_send_channel { host = second port = 9 }\n",
	    host, &port, &err), 0);
	ck_assert_str_eq(host, "239.2.11.71");
	ck_assert_int_eq(port, 8650);
	buf_free(&err);
}
END_TEST

START_TEST(gmond_conf_host_and_default_port)
{
	char host[256];
	long port = 0;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(read_conf("udp_send_channel {\n host = "
	    "\"gmond.example.org\"\n}\n", host, &port, &err), 0);
	ck_assert_str_eq(host, "gmond.example.org");
	ck_assert_int_eq(port, 8649);
	buf_free(&err);
}
END_TEST

START_TEST(gmond_conf_errors_say_where)
{
	char host[256];
	long port;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(read_conf("globals { }\n", host, &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "no udp_send_channel"));
	buf_reset(&err);
	ck_assert_int_eq(read_conf("\n\nudp_send_channel {\n host = h\n",
	    host, &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), ":3: udp_send_channel is "
	    "not closed"));
	buf_reset(&err);
	ck_assert_int_eq(read_conf("udp_send_channel {\n host = h\n port = "
	    "x9\n}\n", host, &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), ":3: port \"x9\""));
	buf_reset(&err);
	ck_assert_int_eq(read_conf("udp_send_channel { port = 1 }", host,
	    &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "neither host nor "
	    "mcast_join"));
	buf_reset(&err);
	ck_assert_int_eq(read_conf("}\n", host, &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), ":1: '}' without '{'"));
	buf_reset(&err);
	ck_assert_int_eq(gmetric_read_gmond_conf("/nonexistent/gmond.conf",
	    host, sizeof(host), &port, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "/nonexistent/gmond.conf"));
	buf_free(&err);
}
END_TEST

START_TEST(postqueue_lines_are_counted_by_queue)
{
	struct postfix_queue_counts c;

	memset(&c, 0, sizeof(c));
	monitor_count_postqueue_line("{\"queue_name\": \"active\", "
	    "\"queue_id\": \"4F\"}", &c);
	monitor_count_postqueue_line("{\"queue_name\":\"deferred\"}", &c);
	monitor_count_postqueue_line("{\"queue_name\": \"deferred\", "
	    "\"recipients\": [{\"address\": \"queue_name\"}]}", &c);
	monitor_count_postqueue_line("{\"queue_name\": \"incoming\"}", &c);
	monitor_count_postqueue_line("{\"queue_name\": \"hold\"}", &c);
	monitor_count_postqueue_line("{\"queue_id\": \"no name\"}", &c);
	ck_assert_int_eq(c.active, 1);
	ck_assert_int_eq(c.deferred, 2);
	ck_assert_int_eq(c.incoming, 1);
	ck_assert_int_eq(c.hold, 1);
	ck_assert_int_eq(c.maildrop, 0);
}
END_TEST

START_TEST(metric_names_are_sanitized)
{
	char name[64];

	monitor_metric_name(name, sizeof(name), "herald_relay_",
	    "relay-2.example.org:25", "_up");
	ck_assert_str_eq(name, "herald_relay_relay_2_example_org_25_up");
}
END_TEST

START_TEST(sending_to_nobody_does_not_block)
{
	struct gmetric_sender s;
	struct gmetric_definition def = { .name = "x", .units = "",
	    .slope = GMETRIC_SLOPE_BOTH, .tmax = 1, .group = "herald" };
	struct buf err = BUF_INIT;

	/* Port 9 (discard) on loopback: nothing listens. The first send
	 * succeeds; later ones may report the ICMP refusal; none waits. */
	ck_assert_int_eq(gmetric_open(&s, "127.0.0.1", 9, &err), 0);
	for (int i = 0; i < 1000; i++)
		(void)gmetric_send(&s, &def, i, &err);
	gmetric_close(&s);
	buf_reset(&err);
	ck_assert_int_eq(gmetric_open(&s, "no-such-host.invalid", 8649, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "no-such-host.invalid"));
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("gmetric");
	TCase *tc = tcase_create("gmetric");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, metadata_packet_follows_gm_protocol);
	tcase_add_test(tc, value_packet_carries_an_ieee_double);
	tcase_add_test(tc, gmond_conf_first_udp_send_channel);
	tcase_add_test(tc, gmond_conf_host_and_default_port);
	tcase_add_test(tc, gmond_conf_errors_say_where);
	tcase_add_test(tc, postqueue_lines_are_counted_by_queue);
	tcase_add_test(tc, metric_names_are_sanitized);
	tcase_add_test(tc, sending_to_nobody_does_not_block);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
