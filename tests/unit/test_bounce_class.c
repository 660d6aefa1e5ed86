/*
 * test_bounce_class.c - unit tests of src/mail/bounce_class.c and of the
 * report reading of src/mail/dsn.c on whole messages: DSNs in the styles of
 * Postfix, Exim, Sendmail, Exchange and Gmail and ARF reports in the
 * styles of two providers (tests/data/feedback/, written for herald),
 * each recipient classified as herald feedback would.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_class.h"
#include "dsn.h"

static void
expect(const char *status, const char *text, const char *reason, int hard)
{
	struct bounce_class c;

	bounce_classify(status, text, &c);
	ck_assert_msg(strcmp(bounce_reason_name(c.reason), reason) == 0,
	    "status \"%s\", text \"%s\": %s, wanted %s", status ? status :
	    "(null)", text ? text : "(null)", bounce_reason_name(c.reason),
	    reason);
	ck_assert_msg(c.hard == hard, "\"%s\" \"%s\": hard %d, wanted %d",
	    status ? status : "", text ? text : "", c.hard, hard);
}

START_TEST(the_words_decide_first)
{
	expect("5.0.0", "550 Mailbox full", "mailboxfull", 0);
	expect("5.1.1", "550 5.1.1 <a@b>: Recipient address rejected: User "
	    "unknown in virtual mailbox table", "userunknown", 1);
	expect("5.7.1", "554 5.7.1 Service unavailable; Client host "
	    "[192.0.2.1] blocked using zen.spamhaus.org", "blocked", 0);
	expect(NULL, "host mx.example[192.0.2.1] said: 421 4.7.0 [192.0.2.9] "
	    "Service unavailable, blocked using rbl.example (in reply to RCPT "
	    "TO command)", "blocked", 0);
	expect("5.7.1", "550 5.7.1 Our system has detected that this message "
	    "is likely unsolicited mail", "spamdetected", 0);
	expect("5.7.1", "554 5.7.1 <a@b>: Relay access denied", "norelaying",
	    0);
	expect("5.0.0", "Unrouteable address", "hostunknown", 1);
	expect("5.4.4", "Host or domain name not found. Name service error "
	    "for name=x type=A: Host not found", "hostunknown", 1);
	expect("5.7.26", "550 5.7.26 Unauthenticated email is not accepted: "
	    "DMARC policy", "securityerror", 0);
	expect("5.3.4", "552 5.3.4 Message size exceeds fixed limit",
	    "mesgtoobig", 0);
	expect("4.7.0", "421 4.7.0 Too many connections from your IP",
	    "toomanyconn", 0);
	expect("5.2.1", "550 5.2.1 The email account is disabled",
	    "suspend", 0);
	expect("5.1.6", "550 5.1.6 user has moved to another address",
	    "hasmoved", 1);
	expect("4.4.1", "connect to mx.example[192.0.2.1]:25: Connection "
	    "timed out", "networkerror", 0);
	expect("5.7.1", "550 5.7.1 Sender address rejected: Access denied",
	    "rejected", 0);
	expect("5.6.0", "554 5.6.0 Message rejected: malformed header",
	    "notcompliantrfc", 0);
	expect("5.7.1", "550 5.7.1 Message rejected due to content filter "
	    "policy", "filtered", 0);
}
END_TEST

START_TEST(then_the_status_code)
{
	expect("5.1.1", "", "userunknown", 1);
	expect("5.1.2", NULL, "hostunknown", 1);
	expect("5.2.2", "", "mailboxfull", 0);
	expect("4.2.2", "", "mailboxfull", 0);
	expect("4.4.7", "", "expired", 0);
	expect("5.7.1", "", "rejected", 0);
	expect("5.7.13", "", "suspend", 0);
	expect("5.3.0", "Error: command failed", "systemerror", 0);
	expect("5.6.1", "", "notcompliantrfc", 0);
	expect("5.7.9", "", "securityerror", 0);
}
END_TEST

START_TEST(then_the_reply_code_else_undefined)
{
	expect("", "552 Requested action aborted", "mailboxfull", 0);
	expect(NULL, "421 Service not available", "toomanyconn", 0);
	/* Nothing says why: permanent is hard, temporary soft. */
	expect("5.0.0", "", "undefined", 1);
	expect("4.0.0", "", "undefined", 0);
	expect("", "", "undefined", 0);
	expect("", "500 whatever", "undefined", 1);
}
END_TEST

START_TEST(codes_are_found_in_the_text)
{
	struct bounce_class c;

	/* A Postfix deferral's delay_reason (issue #20 reuses this). */
	bounce_classify(NULL, "host mx.example[192.0.2.1] said: 452 4.2.2 "
	    "<a@b>: quota exceeded (in reply to RCPT TO command)", &c);
	ck_assert_str_eq(c.status, "4.2.2");
	ck_assert_str_eq(c.reply_code, "452");
	ck_assert_str_eq(bounce_reason_name(c.reason), "mailboxfull");
	ck_assert_int_eq(c.hard, 0);
	/* Gmail's continuation lines: 550-5.1.1 */
	bounce_classify("5.1.1", "550-5.1.1 The email account that you tried "
	    "to reach does not exist.", &c);
	ck_assert_str_eq(c.reply_code, "550");
	ck_assert_str_eq(c.status, "5.1.1");
	/* A malformed Status is not kept; the text's is. */
	bounce_classify("9.9", "550 5.1.1 no such user", &c);
	ck_assert_str_eq(c.status, "5.1.1");
	/* Numbers that are no codes. */
	bounce_classify(NULL, "port 25000 and 5.1.1.1 and 1550", &c);
	ck_assert_str_eq(c.status, "");
	ck_assert_str_eq(c.reply_code, "");
}
END_TEST

START_TEST(names_parse_back)
{
	enum bounce_reason r;

	for (int i = 0; i < BOUNCE_REASON_COUNT; i++) {
		ck_assert_int_eq(bounce_reason_parse(bounce_reason_name(i),
		    &r), 0);
		ck_assert_int_eq(r, i);
	}
	ck_assert_int_eq(bounce_reason_parse("feedback", &r), -1);
	ck_assert_str_eq(bounce_reason_name(BOUNCE_REASON_COUNT),
	    "undefined");
}
END_TEST

/* Reads tests/data/feedback/NAME and parses it. */
static void
parse_sample(const char *name, struct dsn *dsn)
{
	char path[1024], *text;
	struct buf err = BUF_INIT;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/feedback/%s",
	    HERALD_SRCDIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	ck_assert_msg(dsn_parse(text, (size_t)n, dsn, &err) == 0, "%s: %s",
	    name, buf_str(&err));
	free(text);
	buf_free(&err);
}

static const struct {
	const char *file, *recipient, *status, *reply, *reason;
	int hard;
} dsn_samples[] = {
	{ "postfix-userunknown.eml", "nadia@mail.example.net", "5.1.1", "550",
	    "userunknown", 1 },
	{ "exim-hostunknown.eml", "quentin@no-such-domain.example", "5.0.0",
	    "", "hostunknown", 1 },
	{ "sendmail-blocked.eml", "rosa@campus.example.edu", "5.7.1", "554",
	    "blocked", 0 },
	{ "exchange-userunknown.eml", "sam@corp.example.com", "5.1.10", "550",
	    "userunknown", 1 },
	{ "gmail-userunknown.eml", "tara@gmail.example", "5.1.1", "550",
	    "userunknown", 1 },
	{ "gmail-spam.eml", "ugo@gmail.example", "5.7.1", "550",
	    "spamdetected", 0 },
};

START_TEST(dsn_samples_are_classified)
{
	struct bounce_class c;
	struct dsn dsn;

	for (size_t i = 0; i < sizeof(dsn_samples) / sizeof(dsn_samples[0]);
	    i++) {
		const char *file = dsn_samples[i].file;

		parse_sample(file, &dsn);
		ck_assert_int_eq(dsn.kind, DSN_KIND_DELIVERY);
		ck_assert_uint_eq(dsn.recipient_count, 1);
		ck_assert_int_eq(dsn.recipients[0].action, DSN_ACTION_FAILED);
		ck_assert_msg(strcmp(dsn.recipients[0].final_recipient,
		    dsn_samples[i].recipient) == 0, "%s: recipient %s", file,
		    dsn.recipients[0].final_recipient);
		bounce_classify(dsn.recipients[0].status,
		    dsn.recipients[0].diagnostic, &c);
		ck_assert_msg(strcmp(c.status, dsn_samples[i].status) == 0 &&
		    strcmp(c.reply_code, dsn_samples[i].reply) == 0 &&
		    strcmp(bounce_reason_name(c.reason),
		    dsn_samples[i].reason) == 0 && c.hard ==
		    dsn_samples[i].hard, "%s: %s %s %s hard %d", file,
		    c.status, c.reply_code, bounce_reason_name(c.reason),
		    c.hard);
		ck_assert_msg(dsn.verp[0] != '\0', "%s: no return path", file);
	}
}
END_TEST

START_TEST(every_recipient_group_is_kept)
{
	struct bounce_class c;
	struct dsn dsn;

	parse_sample("postfix-two-recipients.eml", &dsn);
	ck_assert_uint_eq(dsn.recipient_count, 2);
	ck_assert_uint_eq(dsn.recipients_seen, 2);
	ck_assert_str_eq(dsn.recipients[0].final_recipient,
	    "omar@full.example.com");
	bounce_classify(dsn.recipients[0].status, dsn.recipients[0].diagnostic,
	    &c);
	ck_assert_str_eq(bounce_reason_name(c.reason), "mailboxfull");
	ck_assert_str_eq(c.reply_code, "552");
	ck_assert_str_eq(dsn.recipients[1].final_recipient,
	    "pia@slow.example.com");
	bounce_classify(dsn.recipients[1].status, dsn.recipients[1].diagnostic,
	    &c);
	ck_assert_str_eq(bounce_reason_name(c.reason), "networkerror");
	ck_assert_int_eq(c.hard, 0);
	/* The first failed group is the one herald records. */
	ck_assert_str_eq(dsn.status, "5.2.2");
}
END_TEST

START_TEST(arf_reports_are_read)
{
	struct dsn dsn;

	parse_sample("arf-yahoo-abuse.eml", &dsn);
	ck_assert_int_eq(dsn.kind, DSN_KIND_FEEDBACK);
	ck_assert_str_eq(dsn.feedback_type, "abuse");
	ck_assert_str_eq(dsn.original_mail_from, "<RETURN_PATH>");
	ck_assert_str_eq(dsn.original_rcpt_to, "<redacted@yahoo.example>");
	ck_assert_str_eq(dsn.original_return_path, "<RETURN_PATH>");
	ck_assert_ptr_nonnull(strstr(dsn.original_unsubscribe,
	    "?t=UNSUBSCRIBE_TOKEN>"));
	ck_assert_uint_eq(dsn.recipient_count, 0);

	/* Headers only, upper-case type, no Original-Mail-From. */
	parse_sample("arf-comcast-headers.eml", &dsn);
	ck_assert_int_eq(dsn.kind, DSN_KIND_FEEDBACK);
	ck_assert_str_eq(dsn.feedback_type, "abuse");
	ck_assert_str_eq(dsn.original_mail_from, "");
	ck_assert_str_eq(dsn.original_return_path, "");
	ck_assert_ptr_nonnull(strstr(dsn.original_unsubscribe,
	    "unsubscribe%20UNSUBSCRIBE_TOKEN"));
}
END_TEST

START_TEST(arf_without_feedback_type_is_refused)
{
	static const char text[] =
	    "Content-Type: multipart/report; report-type=feedback-report; "
	    "boundary=x\n\n--x\nContent-Type: message/feedback-report\n\n"
	    "User-Agent: nobody\nVersion: 1\n\n--x--\n";
	struct buf err = BUF_INIT;
	struct dsn dsn;

	ck_assert_int_eq(dsn_parse(text, strlen(text), &dsn, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "no Feedback-Type"));
	buf_free(&err);
}
END_TEST

START_TEST(a_plain_mail_keeps_its_subject)
{
	struct buf err = BUF_INIT;
	struct dsn dsn;
	static const char text[] = "From: v@example.net\nSubject: unsubscribe "
	    "k1.7.9.abc\n\nplease\n";

	ck_assert_int_eq(dsn_parse(text, strlen(text), &dsn, &err), -1);
	ck_assert_str_eq(dsn.subject, "unsubscribe k1.7.9.abc");
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("bounce_class");
	TCase *tc = tcase_create("bounce_class");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, the_words_decide_first);
	tcase_add_test(tc, then_the_status_code);
	tcase_add_test(tc, then_the_reply_code_else_undefined);
	tcase_add_test(tc, codes_are_found_in_the_text);
	tcase_add_test(tc, names_parse_back);
	tcase_add_test(tc, dsn_samples_are_classified);
	tcase_add_test(tc, every_recipient_group_is_kept);
	tcase_add_test(tc, arf_reports_are_read);
	tcase_add_test(tc, arf_without_feedback_type_is_refused);
	tcase_add_test(tc, a_plain_mail_keeps_its_subject);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
