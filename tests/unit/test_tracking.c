/*
 * test_tracking.c - unit tests of src/mail/tracking.c and the link slots of
 * src/mail/template.c: which links of an HTML or text template are tracked
 * (anchors only, literal URLs only, the {{! notrack }} marker), that a
 * URL used twice is one slot, that rendering puts each slot's value in
 * place of the link (escaped as a variable), and the UTM parameters.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "tracking.h"

/* Compiles source, finds its links and renders it with each slot's
 * value "[N]" (N its slot), or with the URLs themselves when plain. */
static char *
rendered(const char *source, int html, struct tracking_links *links,
    int plain)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct template *t = template_compile_strict("t", source, NULL, NULL,
	    &err);
	struct tvalue data = { .type = TV_MAP }, values[16];
	char names[16][16];

	if (t == NULL)
		ck_abort_msg("compile: %s", buf_str(&err));
	tracking_find(t, html, links);
	ck_assert_uint_le(links->count, 16);
	for (unsigned i = 0; i < links->count; i++) {
		snprintf(names[i], sizeof(names[i]), "[%u]", i);
		values[i].type = TV_STRING;
		values[i].string = plain ? links->urls[i] : names[i];
		values[i].length = strlen(values[i].string);
	}
	ck_assert_int_eq(template_render_links(t, &data, html ? ESCAPE_HTML :
	    ESCAPE_TEXT, values, links->count, &out), 0);
	template_free(t);
	buf_free(&err);
	return buf_steal(&out);
}

START_TEST(html_anchors_are_tracked_and_nothing_else)
{
	struct tracking_links links = { 0 };
	char *out = rendered(
	    "<link rel=\"stylesheet\" href=\"https://cdn.example/s.css\">\n"
	    "<a href=\"https://example.org/give?a=1&amp;b=2\">Give</a>\n"
	    "<img src=\"https://example.org/logo.png\">\n"
	    "<a class=\"{{c}}\" href='https://example.org/more'>more</a>\n"
	    "<a href=\"mailto:x@example.org\">mail</a>\n"
	    "<a href=\"https://example.org/p/{{id}}\">yours</a>\n"
	    "<A HREF=\"https://example.org/give?a=1&amp;b=2\">again</A>\n"
	    "<area shape=\"rect\" href=\"http://example.org/map\">\n"
	    "<a href=\"/relative\">rel</a> https://example.org/visible\n",
	    1, &links, 0);

	ck_assert_str_eq(out,
	    "<link rel=\"stylesheet\" href=\"https://cdn.example/s.css\">\n"
	    "<a href=\"[0]\">Give</a>\n"
	    "<img src=\"https://example.org/logo.png\">\n"
	    "<a class=\"\" href='[1]'>more</a>\n"
	    "<a href=\"mailto:x@example.org\">mail</a>\n"
	    "<a href=\"https://example.org/p/\">yours</a>\n"
	    "<A HREF=\"[0]\">again</A>\n"
	    "<area shape=\"rect\" href=\"[2]\">\n"
	    "<a href=\"/relative\">rel</a> https://example.org/visible\n");
	ck_assert_uint_eq(links.count, 3);
	/* As a browser reads it: &amp; is &. */
	ck_assert_str_eq(links.urls[0], "https://example.org/give?a=1&b=2");
	ck_assert_str_eq(links.urls[1], "https://example.org/more");
	ck_assert_str_eq(links.urls[2], "http://example.org/map");
	tracking_links_free(&links);
	free(out);
}
END_TEST

START_TEST(a_slot_value_is_escaped_in_html_and_written_back_as_was)
{
	struct tracking_links links = { 0 };
	char *out = rendered("<a href=\"https://example.org/?a=1&amp;b=2\">x"
	    "</a>", 1, &links, 1);

	/* The decoded URL is escaped again: the same bytes as written. */
	ck_assert_str_eq(out, "<a href=\"https://example.org/?a=1&amp;b=2\">"
	    "x</a>");
	tracking_links_free(&links);
	free(out);
}
END_TEST

START_TEST(the_notrack_marker_excludes_the_next_link_only)
{
	struct tracking_links links = { 0 };
	char *out = rendered(
	    "{{! notrack }}<a href=\"https://example.org/a\">a</a>\n"
	    "<a href=\"https://example.org/b\">b</a>\n"
	    "{{!notrack}}\n"
	    "<a href=\"https://example.org/c\">c</a>\n", 1, &links, 0);

	ck_assert_str_eq(out,
	    "<a href=\"https://example.org/a\">a</a>\n"
	    "<a href=\"[0]\">b</a>\n"
	    "<a href=\"https://example.org/c\">c</a>\n");
	ck_assert_uint_eq(links.count, 1);
	tracking_links_free(&links);
	free(out);
	out = rendered("Read https://example.org/a. Then\n"
	    "{{! notrack }}https://example.org/b and (https://example.org/c)\n"
	    "<https://example.org/d> xhttps://example.org/e\n"
	    "https://example.org/f/{{id}} HTTPS://example.org/g", 0, &links,
	    0);
	ck_assert_str_eq(out, "Read [0]. Then\n"
	    "https://example.org/b and ([1])\n"
	    "<[2]> xhttps://example.org/e\n"
	    "https://example.org/f/ [3]");
	ck_assert_str_eq(links.urls[0], "https://example.org/a");
	ck_assert_str_eq(links.urls[3], "HTTPS://example.org/g");
	tracking_links_free(&links);
	free(out);
}
END_TEST

START_TEST(links_in_sections_are_slots_too)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct tracking_links links = { 0 };
	struct template *t;
	struct tvalue items[2] = {
		{ .type = TV_STRING, .string = "x", .length = 1 },
		{ .type = TV_STRING, .string = "y", .length = 1 },
	};
	struct tvalue list = { .type = TV_LIST, .count = 2, .items = items };
	const char *keys[] = { "l" };
	struct tvalue data = { .type = TV_MAP, .count = 1, .keys = keys,
	    .items = &list };
	struct tvalue value = { .type = TV_STRING, .string = "T",
	    .length = 1 };

	t = template_compile_strict("t", "{{#l}}{{.}} https://a.example/\n"
	    "{{/l}}", NULL, NULL, &err);
	ck_assert_ptr_nonnull(t);
	tracking_find(t, 0, &links);
	ck_assert_uint_eq(links.count, 1);
	ck_assert_int_eq(template_render_links(t, &data, ESCAPE_TEXT, &value,
	    1, &out), 0);
	ck_assert_str_eq(buf_str(&out), "x T\ny T\n");
	/* Without values, the links stay as written. */
	buf_reset(&out);
	ck_assert_int_eq(template_render(t, &data, ESCAPE_TEXT, &out), 0);
	ck_assert_str_eq(buf_str(&out), "x https://a.example/\n"
	    "y https://a.example/\n");
	template_free(t);
	tracking_links_free(&links);
	buf_free(&err);
	buf_free(&out);
}
END_TEST

static const char *
partial_source(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "footer") == 0 ?
	    "<a href=\"https://example.org/donate\">Donate</a>" : NULL;
}

START_TEST(a_partials_links_are_found)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct tracking_links links = { 0 };
	struct tvalue data = { .type = TV_MAP };
	struct tvalue value = { .type = TV_STRING, .string = "C",
	    .length = 1 };
	struct template *t = template_compile_strict("t", "<p>{{> footer}}</p>",
	    partial_source, NULL, &err);

	ck_assert_ptr_nonnull(t);
	tracking_find(t, 1, &links);
	ck_assert_uint_eq(links.count, 1);
	ck_assert_int_eq(template_render_links(t, &data, ESCAPE_HTML, &value,
	    1, &out), 0);
	ck_assert_str_eq(buf_str(&out), "<p><a href=\"C\">Donate</a></p>");
	template_free(t);
	tracking_links_free(&links);
	buf_free(&err);
	buf_free(&out);
}
END_TEST

START_TEST(utm_parameters_join_the_query_before_the_fragment)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "https://e.org/", "https://e.org/?utm_source=h&utm_medium=m" },
		{ "https://e.org/?a=1", "https://e.org/?a=1&utm_source=h&"
		    "utm_medium=m" },
		{ "https://e.org/?", "https://e.org/?utm_source=h&utm_medium=m" },
		{ "https://e.org/p#top", "https://e.org/p?utm_source=h&"
		    "utm_medium=m#top" },
		{ "https://e.org/?utm_source=own", "https://e.org/?"
		    "utm_source=own" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;

		tracking_target(cases[i].url, "utm_source=h&utm_medium=m", &out);
		ck_assert_str_eq(buf_str(&out), cases[i].want);
		buf_reset(&out);
		tracking_target(cases[i].url, NULL, &out);
		ck_assert_str_eq(buf_str(&out), cases[i].url);
		buf_free(&out);
	}
}
END_TEST

START_TEST(utm_parameters_are_checked)
{
	struct buf why = BUF_INIT;

	ck_assert_int_eq(tracking_check_utm("utm_source=herald&utm_medium="
	    "email&utm_campaign=spring-2026%20appeal", &why), 0);
	ck_assert_int_eq(tracking_check_utm("", &why), -1);
	ck_assert_int_eq(tracking_check_utm("source=x", &why), -1);
	ck_assert_int_eq(tracking_check_utm("utm_source=a b", &why), -1);
	ck_assert_int_eq(tracking_check_utm("utm_source=x&", &why), -1);
	ck_assert_int_eq(tracking_check_utm("utm_source=", &why), -1);
	ck_assert_int_eq(tracking_check_utm("utm_source=x#y", &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "URL-encode"));
	buf_free(&why);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tracking");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, html_anchors_are_tracked_and_nothing_else);
	tcase_add_test(tc,
	    a_slot_value_is_escaped_in_html_and_written_back_as_was);
	tcase_add_test(tc, the_notrack_marker_excludes_the_next_link_only);
	tcase_add_test(tc, links_in_sections_are_slots_too);
	tcase_add_test(tc, a_partials_links_are_found);
	tcase_add_test(tc, utm_parameters_join_the_query_before_the_fragment);
	tcase_add_test(tc, utm_parameters_are_checked);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
