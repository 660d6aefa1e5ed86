/*
 * test_segment.c - the segment language: exact SQL and bound values for
 * valid expressions, and "column N: ..." for invalid ones. That the SQL
 * runs and selects the right rows is checked against MariaDB by
 * tests/integration/stage.sh.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"

#define TODAY "2026-11-24"

static void
expect_sql(const char *expr, const char *sql, const char *params)
{
	struct segment_sql s;
	struct buf err = BUF_INIT, joined = BUF_INIT;

	segment_sql_init(&s);
	ck_assert_msg(segment_compile(expr, TODAY, &s, &err) == 0,
	    "%s: %s", expr, buf_str(&err));
	ck_assert_msg(strcmp(buf_str(&s.where), sql) == 0, "%s:\n got  %s\n "
	    "want %s", expr, buf_str(&s.where), sql);
	for (unsigned i = 0; i < s.count; i++)
		buf_printf(&joined, "%s%s", i ? "|" : "", s.params[i]);
	ck_assert_msg(strcmp(buf_str(&joined), params) == 0, "%s: params "
	    "%s, want %s", expr, buf_str(&joined), params);
	segment_sql_free(&s);
	buf_free(&err);
	buf_free(&joined);
}

static void
expect_error(const char *expr, const char *message)
{
	struct segment_sql s;
	struct buf err = BUF_INIT;

	segment_sql_init(&s);
	ck_assert_msg(segment_compile(expr, TODAY, &s, &err) == -1,
	    "%s compiled", expr);
	ck_assert_msg(strstr(buf_str(&err), message) != NULL, "%s:\n got  "
	    "%s\n want %s", expr, buf_str(&err), message);
	ck_assert_uint_eq(s.count, 0);
	segment_sql_free(&s);
	buf_free(&err);
}

START_TEST(valid_expressions)
{
	expect_sql("all", "1 = 1", "");
	expect_sql("ALL", "1 = 1", "");
	expect_sql("state = OH", "(r.state = ?)", "OH");
	expect_sql("state in (OH, PA) and donated_total >= 100 and not "
	    "received(1234)", "(r.state IN (?, ?)) AND (r.donated_total >= ?) "
	    "AND NOT EXISTS (SELECT 1 FROM history h WHERE h.recipient_id = "
	    "r.id AND h.mailing_id = ? AND h.delivery_state = 'sent' AND NOT "
	    "EXISTS (SELECT 1 FROM bounces b WHERE b.mailing_id = h.mailing_id "
	    "AND b.recipient_id = h.recipient_id))",
	    "OH|PA|100|1234");
	expect_sql("state != OH or zip <> '43004'", "(r.state <> ?) OR "
	    "(r.zip <> ?)", "OH|43004");
	expect_sql("(state = OH or state = PA) and donation_count > 2",
	    "((r.state = ?) OR (r.state = ?)) AND (r.donation_count > ?)",
	    "OH|PA|2");
	expect_sql("country not in (US)", "(r.country NOT IN (?))", "US");
	expect_sql("donated_total between 10 and 12.50",
	    "(r.donated_total BETWEEN ? AND ?)", "10|12.50");
	expect_sql("last_name starts with \"O'B\"", "(r.last_name LIKE ? "
	    "ESCAPE '\\\\')", "O'B%");
	expect_sql("email contains \"100%_x\"", "(r.email LIKE ? ESCAPE '\\\\')",
	    "%100\\%\\_x%");
	expect_sql("city is empty", "((r.city = '') IS NOT FALSE)", "");
	expect_sql("city is not empty", "((r.city = '') IS FALSE)", "");
	expect_sql("last_donation_at > 2026-01-01", "(r.last_donation_at > ?)",
	    "2026-01-01");
	expect_sql("last_donation_at >= 30 days ago",
	    "(r.last_donation_at >= ?)", "2026-10-25");
	expect_sql("created_at < today", "(r.created_at < ?)", "2026-11-24");
	expect_sql("list = donors", "EXISTS (SELECT 1 FROM list_members lm "
	    "JOIN lists l ON l.id = lm.list_id WHERE lm.recipient_id = r.id "
	    "AND l.name = ?)", "donors");
	expect_sql("list != 'big givers'", "NOT EXISTS (SELECT 1 FROM "
	    "list_members lm JOIN lists l ON l.id = lm.list_id WHERE "
	    "lm.recipient_id = r.id AND l.name = ?)", "big givers");
	expect_sql("attributes.member.level = gold", "(JSON_UNQUOTE("
	    "JSON_EXTRACT(r.attributes, ?)) = ?)", "$.\"member\".\"level\"|"
	    "gold");
	expect_sql("attributes.tag is not empty", "((JSON_UNQUOTE("
	    "JSON_EXTRACT(r.attributes, ?)) = '') IS FALSE)", "$.\"tag\"");
	expect_sql("status = unsubscribed", "(r.status = ?)", "unsubscribed");
	expect_sql("not not state = OH", "NOT NOT (r.state = ?)", "OH");
	expect_sql("email = p3@example.net", "(r.email = ?)",
	    "p3@example.net");
}
END_TEST

START_TEST(words_are_utf8)
{
	expect_sql("first_name = Zoë", "(r.first_name = ?)", "Zoë");
	expect_sql("city in (München, Zürich)", "(r.city IN (?, ?))",
	    "München|Zürich");
	expect_sql("attributes.lang = 日本語", "(JSON_UNQUOTE(JSON_EXTRACT("
	    "r.attributes, ?)) = ?)", "$.\"lang\"|日本語");
	/* Columns count characters, not bytes. */
	expect_error("city = Zoë ; x", "column 12: unexpected character ';'");
	expect_error("city = Zo\xeb", "column 10: byte 0xeb is not UTF-8 "
	    "text");
}
END_TEST

START_TEST(attributes_ordered_against_numbers_compare_as_numbers)
{
	expect_sql("attributes.member_level >= 5", "(CAST(NULLIF("
	    "REGEXP_SUBSTR(JSON_UNQUOTE(JSON_EXTRACT(r.attributes, ?)), "
	    "'^-?[0-9]+([.][0-9]+)?$'), '') AS DECIMAL(65,30)) >= CAST(? AS "
	    "DECIMAL(65,30)))", "$.\"member_level\"|5");
	expect_sql("attributes.score between -1.5 and 10", "(CAST(NULLIF("
	    "REGEXP_SUBSTR(JSON_UNQUOTE(JSON_EXTRACT(r.attributes, ?)), "
	    "'^-?[0-9]+([.][0-9]+)?$'), '') AS DECIMAL(65,30)) BETWEEN "
	    "CAST(? AS DECIMAL(65,30)) AND CAST(? AS DECIMAL(65,30)))",
	    "$.\"score\"|-1.5|10");
	/* Equality and text stay text comparisons. */
	expect_sql("attributes.member_level = 5", "(JSON_UNQUOTE("
	    "JSON_EXTRACT(r.attributes, ?)) = ?)", "$.\"member_level\"|5");
	expect_sql("attributes.member_level >= gold", "(JSON_UNQUOTE("
	    "JSON_EXTRACT(r.attributes, ?)) >= ?)",
	    "$.\"member_level\"|gold");
	expect_error("attributes.score between 1 and lots", "column 32: "
	    "attributes.score is compared as a number here: expected a "
	    "number, found \"lots\"");
}
END_TEST

START_TEST(segment_names)
{
	struct buf why = BUF_INIT;

	ck_assert_int_eq(segment_name_check("ohio-donors_2026", &why), 0);
	ck_assert_int_eq(segment_name_check("all", &why), -1);
	ck_assert_msg(strstr(buf_str(&why), "a word of the segment language"),
	    "%s", buf_str(&why));
	buf_reset(&why);
	ck_assert_int_eq(segment_name_check("ALL", &why), -1);
	ck_assert_int_eq(segment_name_check("state", &why), -1);
	ck_assert_int_eq(segment_name_check("received", &why), -1);
	buf_reset(&why);
	ck_assert_int_eq(segment_name_check("bad name!", &why), -1);
	ck_assert_msg(strstr(buf_str(&why), "letters, digits, '_' and '-', "
	    "starting with a letter"), "%s", buf_str(&why));
	ck_assert_int_eq(segment_name_check("", &why), -1);
	ck_assert_int_eq(segment_name_check("1st", &why), -1);
	ck_assert_int_eq(segment_name_check("Zoë", &why), -1);
	buf_free(&why);
}
END_TEST

START_TEST(user_text_is_only_ever_a_value)
{
	expect_sql("first_name = \"x' OR 1=1 -- \"", "(r.first_name = ?)",
	    "x' OR 1=1 -- ");
	expect_sql("first_name = 'a\\'b\\\\'", "(r.first_name = ?)",
	    "a'b\\");
	expect_sql("city in ('); DROP TABLE recipients; --')",
	    "(r.city IN (?))", "); DROP TABLE recipients; --");
}
END_TEST

START_TEST(errors_point_at_the_column)
{
	char deep[400];

	expect_error("", "column 1: empty expression");
	expect_error("donated > 3", "column 1: unknown field \"donated\"; "
	    "known fields: email, first_name,");
	expect_error("state = OH and zipcode = 1", "column 16: unknown field "
	    "\"zipcode\"");
	expect_error("state OH", "column 7: expected a comparison operator");
	expect_error("state = 'OH", "column 9: unterminated string");
	expect_error("(state = OH", "column 12: expected ')' closing the '(' "
	    "at column 1, found \"the end\"");
	expect_error("state = OH)", "column 11: expected and, or or the end, "
	    "found \")\"");
	expect_error("donated_total >= lots", "column 18: donated_total is a "
	    "number");
	expect_error("last_donation_at > 2026-02-30", "column 20: 2026-02-30 "
	    "is not a date: day 30 does not exist in February 2026");
	expect_error("last_donation_at > yesterday", "column 20: "
	    "last_donation_at is a date");
	expect_error("last_donation_at > 3 weeks ago", "column 22: expected "
	    "\"days ago\"");
	/* Huge, negative or fractional counts: refused, never overflowed. */
	expect_error("last_donation_at > 99999999999999999999999 days ago",
	    "column 20: \"99999999999999999999999 days ago\": the number of "
	    "days must be a whole number from 0 to 100000");
	expect_error("last_donation_at > 9223372036854775807 days ago",
	    "column 20: \"9223372036854775807 days ago\"");
	expect_error("last_donation_at > 100001 days ago", "from 0 to 100000");
	expect_error("last_donation_at > -3 days ago", "whole number");
	expect_error("last_donation_at > 1.5 days ago", "whole number");
	expect_error("state in OH", "column 10: expected '(' after in");
	expect_error("state in (OH PA)", "column 14: expected ',' or ')'");
	expect_error("received(x)", "column 10: expected a mailing id");
	expect_error("status = gone", "column 10: status is one of");
	expect_error("all and state = OH", "column 5: \"all\" stands alone");
	expect_error("city is full", "column 9: expected \"empty\"");
	expect_error("state ! OH", "column 7: expected \"!=\"");
	expect_error("state = OH;", "column 11: unexpected character ';'");
	expect_error("attributes.a\"b = 1", "column 13: unterminated string");
	memset(deep, '(', 200);
	strcpy(deep + 200, "state = OH");
	expect_error(deep, "nested more than 64 deep");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("segment");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, valid_expressions);
	tcase_add_test(tc, user_text_is_only_ever_a_value);
	tcase_add_test(tc, words_are_utf8);
	tcase_add_test(tc, attributes_ordered_against_numbers_compare_as_numbers);
	tcase_add_test(tc, segment_names);
	tcase_add_test(tc, errors_point_at_the_column);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
