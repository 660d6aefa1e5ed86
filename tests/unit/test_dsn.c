/*
 * test_dsn.c - unit tests of src/mail/dsn.c: delivery status notifications
 * as Postfix writes them, the variations RFC 3464 allows, inputs that are
 * not DSNs (each refused with the line it concerns), and the shape of
 * VERP return paths (their signatures: test_token.c).
 * tests/integration/bounce.sh feeds it bounces a real Postfix
 * generated.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "returnpath.h"

/* A bounce as Postfix's bounce(8) lays it out (LF line ends here; CRLF
 * variants are made from it). */
static const char postfix_bounce[] =
    "Return-Path: <>\n"
    "X-Original-To: bounces+12-345@bounce.example\n"
    "Delivered-To: bounces+12-345@bounce.example\n"
    "From: MAILER-DAEMON@mx.example (Mail Delivery System)\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "To: bounces+12-345@bounce.example\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    "\tboundary=\"4Ly3Xq0ZQdz9sKn.1764470000/mx.example\"\n"
    "\n"
    "This is a MIME-encapsulated message.\n"
    "\n"
    "--4Ly3Xq0ZQdz9sKn.1764470000/mx.example\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients.\n"
    "\n"
    "--4Ly3Xq0ZQdz9sKn.1764470000/mx.example\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example\n"
    "X-Postfix-Queue-ID: 4Ly3Xq0ZQdz9sKn\n"
    "X-Postfix-Sender: rfc822; bounces+12-345@bounce.example\n"
    "Arrival-Date: Mon, 30 Nov 2026 03:00:00 +0000 (UTC)\n"
    "\n"
    "Final-Recipient: rfc822; zoe@example.org\n"
    "Original-Recipient: rfc822;zoe@example.org\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; in.example.org\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <zoe@example.org>: Recipient address\n"
    "    rejected: User unknown in local recipient table\n"
    "\n"
    "--4Ly3Xq0ZQdz9sKn.1764470000/mx.example\n"
    "Content-Description: Undelivered Message Headers\n"
    "Content-Type: text/rfc822-headers\n"
    "\n"
    "Message-ID: <herald.12.345@bounce.example>\n"
    "\n"
    "--4Ly3Xq0ZQdz9sKn.1764470000/mx.example--\n";

/* text with one substring replaced (the result is malloc'd). */
static char *
replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	ck_assert_ptr_nonnull(at);
	snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from));
	return out;
}

/* Parses text, expecting failure with err containing want. */
static void
expect_refused(const char *text, const char *want)
{
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(text, strlen(text), &dsn, &err), -1);
	if (strstr(buf_str(&err), want) == NULL)
		ck_abort_msg("error \"%s\" lacks \"%s\"", buf_str(&err), want);
	buf_free(&err);
}

START_TEST(postfix_bounce_is_read)
{
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(postfix_bounce, strlen(postfix_bounce),
	    &dsn, &err), 0);
	ck_assert_str_eq(dsn.verp, "bounces+12-345@bounce.example");
	ck_assert_int_eq(dsn.action, DSN_ACTION_FAILED);
	ck_assert_str_eq(dsn.status, "5.1.1");
	ck_assert_str_eq(dsn.final_recipient, "zoe@example.org");
	/* Unfolded, the continuation's indentation one space. */
	ck_assert_str_eq(dsn.diagnostic, "550 5.1.1 <zoe@example.org>: "
	    "Recipient address rejected: User unknown in local recipient "
	    "table");
	buf_free(&err);
}
END_TEST

START_TEST(crlf_lines_read_the_same)
{
	size_t n = strlen(postfix_bounce);
	char *crlf = malloc(2 * n + 1), *o = crlf;
	struct dsn dsn;
	struct buf err = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (postfix_bounce[i] == '\n')
			*o++ = '\r';
		*o++ = postfix_bounce[i];
	}
	*o = '\0';
	ck_assert_int_eq(dsn_parse(crlf, strlen(crlf), &dsn, &err), 0);
	ck_assert_str_eq(dsn.status, "5.1.1");
	ck_assert_str_eq(dsn.final_recipient, "zoe@example.org");
	ck_assert(strchr(dsn.diagnostic, '\r') == NULL);
	free(crlf);
	buf_free(&err);
}
END_TEST

START_TEST(delay_notice_is_delayed)
{
	char *a = replaced(postfix_bounce, "Action: failed", "Action: delayed");
	char *b = replaced(a, "Status: 5.1.1", "Status: 4.4.1");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(b, strlen(b), &dsn, &err), 0);
	ck_assert_int_eq(dsn.action, DSN_ACTION_DELAYED);
	ck_assert_str_eq(dsn.status, "4.4.1");
	free(a);
	free(b);
	buf_free(&err);
}
END_TEST

START_TEST(the_most_serious_group_wins)
{
	/* A delayed group before the failed one: failed is kept. */
	char *two = replaced(postfix_bounce, "Final-Recipient: rfc822; zoe",
	    "Final-Recipient: rfc822; other@example.org\n"
	    "Action: delayed\nStatus: 4.2.0\n\n"
	    "Final-Recipient: rfc822; zoe");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(two, strlen(two), &dsn, &err), 0);
	ck_assert_int_eq(dsn.action, DSN_ACTION_FAILED);
	ck_assert_str_eq(dsn.final_recipient, "zoe@example.org");
	free(two);
	buf_free(&err);
}
END_TEST

START_TEST(part_may_end_without_blank_line)
{
	char *tight = replaced(postfix_bounce,
	    "local recipient table\n\n--4Ly",
	    "local recipient table\n--4Ly");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(tight, strlen(tight), &dsn, &err), 0);
	ck_assert_str_eq(dsn.status, "5.1.1");
	free(tight);
	buf_free(&err);
}
END_TEST

START_TEST(control_bytes_never_reach_the_values)
{
	char *dirty = replaced(postfix_bounce, "User unknown",
	    "User\x01\x7f\xc3\xa9 unknown");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(dirty, strlen(dirty), &dsn, &err), 0);
	for (const char *p = dsn.diagnostic; *p; p++)
		ck_assert(*p >= ' ' && *p < 0x7f);
	ck_assert(strstr(dsn.diagnostic, "User unknown") != NULL);
	free(dirty);
	buf_free(&err);
}
END_TEST

START_TEST(what_is_not_a_dsn_is_refused)
{
	char *text;

	expect_refused("From: a@example.org\nSubject: hi\n\nhello\n",
	    "Content-Type is missing, not multipart/report");
	text = replaced(postfix_bounce, "multipart/report;", "multipart/mixed;");
	expect_refused(text, "line 8: Content-Type is multipart/mixed; report-type");
	free(text);
	text = replaced(postfix_bounce, "\tboundary=\"4Ly3Xq0ZQdz9sKn."
	    "1764470000/mx.example\"\n", "\tcharset=us-ascii\n");
	expect_refused(text, "line 8: the multipart/report has no usable "
	    "boundary");
	free(text);
	text = replaced(postfix_bounce, "message/delivery-status",
	    "text/plain");
	expect_refused(text, "no message/delivery-status or "
	    "message/feedback-report part");
	free(text);
	text = replaced(postfix_bounce, "Status: 5.1.1", "Status: 9.9");
	expect_refused(text, "line 32: Status \"9.9\" is no status code");
	free(text);
	text = replaced(postfix_bounce, "Action: failed\n",
	    "Action: failed\nthis line is no field\n");
	expect_refused(text, "line 32: not a \"Name: value\" field");
	free(text);
	text = replaced(postfix_bounce, "Action: failed", "Action: vanished");
	expect_refused(text, "without a known Action");
	free(text);
	text = replaced(postfix_bounce, "\nFinal-Recipient: rfc822; zoe@"
	    "example.org\nOriginal-Recipient: rfc822;zoe@example.org\nAction: "
	    "failed\nStatus: 5.1.1\nRemote-MTA: dns; in.example.org\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <zoe@example.org>: Recipient "
	    "address\n    rejected: User unknown in local recipient table\n",
	    "");
	expect_refused(text, "names no recipient");
	free(text);
	expect_refused("", "Content-Type is missing");
	expect_refused("Subject hi\n\n", "line 1: not a header line");
}
END_TEST

START_TEST(nul_byte_is_refused)
{
	char text[] = "Content-Type: multipart/report; boundary=x\n\0\n";
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(text, sizeof(text) - 1, &dsn, &err), -1);
	ck_assert(strstr(buf_str(&err), "NUL") != NULL);
	buf_free(&err);
}
END_TEST

START_TEST(verp_addresses)
{
	struct return_path rp;

	ck_assert_int_eq(return_path_parse("bounces+12-345@b.example", &rp), 0);
	ck_assert_uint_eq(rp.mailing, 12);
	ck_assert_uint_eq(rp.recipient, 345);
	ck_assert_int_eq(rp.is_signed, 0);
	ck_assert_int_eq(return_path_parse("Bounce <BOUNCES+7-8@b.example>",
	    &rp), 0);
	ck_assert_uint_eq(rp.mailing, 7);
	ck_assert_uint_eq(rp.recipient, 8);
	/* Signed: the key id and MAC follow; verify checks them. */
	ck_assert_int_eq(return_path_parse("<bounces+7-8-k-1-abcdefghijklm@"
	    "b.example>", &rp), 0);
	ck_assert_int_eq(rp.is_signed, 1);
	ck_assert_str_eq(rp.token, "7-8-k-1-abcdefghijklm");
	ck_assert_int_eq(return_path_parse("bounces+12@b.example", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+12-@b.example", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+0-1@b.example", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+012-1@b.example", &rp),
	    -1);
	ck_assert_int_eq(return_path_parse("bounces+1-2x@b.example", &rp),
	    -1);
	ck_assert_int_eq(return_path_parse("bounces+1-2@", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+1-2", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+1-2-k1-mac", &rp), -1);
	ck_assert_int_eq(return_path_parse("zoe@example.org", &rp), -1);
	ck_assert_int_eq(return_path_parse("bounces+99999999999999999999-1@b",
	    &rp), -1);
}
END_TEST

START_TEST(signed_verp_is_found_in_the_headers)
{
	char *a = replaced(postfix_bounce, "X-Original-To: bounces+12-345@",
	    "X-Original-To: bounces+12-345-k1-mfrggzdfmztwq2lk@");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(a, strlen(a), &dsn, &err), 0);
	ck_assert_str_eq(dsn.verp, "bounces+12-345-k1-mfrggzdfmztwq2lk@"
	    "bounce.example");
	free(a);
	buf_free(&err);
}
END_TEST

START_TEST(verp_comes_from_the_first_header_naming_one)
{
	char *a = replaced(postfix_bounce, "X-Original-To: bounces+12-345",
	    "X-Original-To: postmaster");
	char *b = replaced(a, "Delivered-To: bounces+12-345",
	    "Delivered-To: bounces+13-346");
	struct dsn dsn;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(dsn_parse(b, strlen(b), &dsn, &err), 0);
	ck_assert_str_eq(dsn.verp, "bounces+13-346@bounce.example");
	free(a);
	free(b);
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dsn");
	TCase *tc = tcase_create("dsn");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, postfix_bounce_is_read);
	tcase_add_test(tc, crlf_lines_read_the_same);
	tcase_add_test(tc, delay_notice_is_delayed);
	tcase_add_test(tc, the_most_serious_group_wins);
	tcase_add_test(tc, part_may_end_without_blank_line);
	tcase_add_test(tc, control_bytes_never_reach_the_values);
	tcase_add_test(tc, what_is_not_a_dsn_is_refused);
	tcase_add_test(tc, nul_byte_is_refused);
	tcase_add_test(tc, verp_addresses);
	tcase_add_test(tc, signed_verp_is_found_in_the_headers);
	tcase_add_test(tc, verp_comes_from_the_first_header_naming_one);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
