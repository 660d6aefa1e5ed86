/*
 * test_template.c - src/mail/template.c against the Mustache specification
 * (../shared/testdata/mustache-spec, read with jansson; skipped with a
 * message when absent), plus herald's own rules: escaping modes, error
 * positions, and data never read as template text.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

/* A tvalue tree built from JSON; everything in one arena list. */
struct arena {
	void **blocks;
	size_t count;
};

static void *
arena_alloc(struct arena *a, size_t size)
{
	void *p = xcalloc(1, size ? size : 1);

	a->blocks = xrealloc(a->blocks, (a->count + 1) * sizeof(*a->blocks));
	a->blocks[a->count++] = p;
	return p;
}

static void
arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->blocks[i]);
	free(a->blocks);
}

static void
from_json(struct arena *a, json_t *j, struct tvalue *v)
{
	char number[64];
	const char *key;
	json_t *item;
	size_t i = 0;

	memset(v, 0, sizeof(*v));
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		struct tvalue *items = arena_alloc(a, json_object_size(j) *
		    sizeof(*items));
		const char **keys = arena_alloc(a, json_object_size(j) *
		    sizeof(*keys));

		json_object_foreach(j, key, item) {
			keys[i] = key;
			from_json(a, item, &items[i++]);
		}
		v->type = TV_MAP;
		v->items = items;
		v->keys = keys;
		v->count = i;
		break;
	}
	case JSON_ARRAY: {
		struct tvalue *items = arena_alloc(a, json_array_size(j) *
		    sizeof(*items));

		json_array_foreach(j, i, item)
			from_json(a, item, &items[i]);
		v->type = TV_LIST;
		v->items = items;
		v->count = json_array_size(j);
		break;
	}
	case JSON_STRING:
		v->type = TV_STRING;
		v->string = json_string_value(j);
		v->length = json_string_length(j);
		break;
	case JSON_INTEGER:
	case JSON_REAL: {
		char *copy;

		if (json_is_integer(j))
			snprintf(number, sizeof(number), "%lld",
			    (long long)json_integer_value(j));
		else
			snprintf(number, sizeof(number), "%.15g",
			    json_real_value(j));
		copy = arena_alloc(a, strlen(number) + 1);
		strcpy(copy, number);
		v->type = TV_STRING;
		v->string = copy;
		v->length = strlen(copy);
		break;
	}
	case JSON_TRUE:
	case JSON_FALSE:
		v->type = TV_BOOL;
		v->boolean = json_is_true(j);
		break;
	case JSON_NULL:
		v->type = TV_NULL;
		break;
	}
}

static const char *
spec_partial(void *arg, const char *name)
{
	json_t *partials = arg;
	json_t *p = partials ? json_object_get(partials, name) : NULL;

	return p ? json_string_value(p) : NULL;
}

/* Runs one spec file; returns failures; prints "file: N/M passed". */
static int
run_spec_file(const char *file)
{
	char path[1024];
	json_error_t jerr;
	json_t *root, *tests, *test;
	size_t i;
	int failures = 0;

	snprintf(path, sizeof(path), "%s/mustache-spec/%s", HERALD_TESTDATA,
	    file);
	root = json_load_file(path, 0, &jerr);
	ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
	tests = json_object_get(root, "tests");
	json_array_foreach(tests, i, test) {
		const char *name = json_string_value(json_object_get(test,
		    "name"));
		const char *source = json_string_value(json_object_get(test,
		    "template"));
		const char *expected = json_string_value(json_object_get(test,
		    "expected"));
		struct arena a = { NULL, 0 };
		struct tvalue data;
		struct buf err = BUF_INIT, out = BUF_INIT;
		struct template *t;

		from_json(&a, json_object_get(test, "data"), &data);
		t = template_compile(name, source, spec_partial,
		    json_object_get(test, "partials"), &err);
		if (t == NULL) {
			printf("  FAIL %s: %s: %s\n", file, name, buf_str(&err));
			failures++;
		} else {
			template_render(t, &data, ESCAPE_HTML, &out);
			if (strcmp(buf_str(&out), expected) != 0) {
				printf("  FAIL %s: %s\n    got:  \"%s\"\n    "
				    "want: \"%s\"\n", file, name,
				    buf_str(&out), expected);
				failures++;
			}
		}
		template_free(t);
		buf_free(&err);
		buf_free(&out);
		arena_free(&a);
	}
	printf("%s: %zu/%zu passed\n", file, json_array_size(tests) -
	    (size_t)failures, json_array_size(tests));
	json_decref(root);
	return failures;
}

START_TEST(mustache_specification)
{
	static const char *const files[] = { "comments.json",
	    "delimiters.json", "interpolation.json", "inverted.json",
	    "partials.json", "sections.json" };
	char probe[1024];
	FILE *fp;
	int failures = 0;

	snprintf(probe, sizeof(probe), "%s/mustache-spec/sections.json",
	    HERALD_TESTDATA);
	fp = fopen(probe, "r");
	if (fp == NULL) {
		printf("SKIPPED: the Mustache spec is not at %s/mustache-spec\n",
		    HERALD_TESTDATA);
		return;
	}
	fclose(fp);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		failures += run_spec_file(files[i]);
	ck_assert_int_eq(failures, 0);
}
END_TEST

static char *
render(const char *source, const struct tvalue *data,
    enum template_escape escape)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct template *t = template_compile("t", source, NULL, NULL, &err);

	ck_assert_msg(t != NULL, "%s", buf_str(&err));
	template_render(t, data, escape, &out);
	template_free(t);
	buf_free(&err);
	return buf_steal(&out);
}

START_TEST(escaping_modes)
{
	static const char *const keys[] = { "v" };
	static const char hostile[] = "a<b>&\"c'\r\nBcc: x\0y";
	struct tvalue value = { .type = TV_STRING, .string = hostile,
	    .length = sizeof(hostile) - 1 };
	struct tvalue data = { .type = TV_MAP, .count = 1, .items = &value,
	    .keys = keys };
	char *s;

	s = render("{{v}}", &data, ESCAPE_HTML);
	ck_assert_str_eq(s, "a&lt;b&gt;&amp;&quot;c&#39;\r\nBcc: x");
	free(s);
	s = render("{{{v}}}|{{&v}}", &data, ESCAPE_HEADER);
	ck_assert_ptr_null(strpbrk(s, "\r\n"));
	/* NUL became a space too: nothing was cut. */
	ck_assert_uint_eq(strlen(s), (sizeof(hostile) - 1) * 2 + 1);
	free(s);
	s = render("{{v}}", &data, ESCAPE_TEXT);
	ck_assert_str_eq(s, "a<b>&\"c'\r\nBcc: x");
	free(s);
}
END_TEST

START_TEST(data_is_never_template_text)
{
	static const char *const keys[] = { "v", "secret" };
	struct tvalue values[2] = {
		{ .type = TV_STRING, .string = "{{secret}}", .length = 10 },
		{ .type = TV_STRING, .string = "leak", .length = 4 },
	};
	struct tvalue data = { .type = TV_MAP, .count = 2, .items = values,
	    .keys = keys };
	char *s = render("{{v}}", &data, ESCAPE_TEXT);

	ck_assert_str_eq(s, "{{secret}}");
	free(s);
}
END_TEST

static void
expect_error(const char *source, const char *want)
{
	struct buf err = BUF_INIT;
	struct template *t = template_compile("html.mustache", source, NULL,
	    NULL, &err);

	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(buf_str(&err), want) != NULL, "\"%s\" not in "
	    "\"%s\"", want, buf_str(&err));
	buf_free(&err);
}

START_TEST(errors_name_line_and_column)
{
	expect_error("a\n  {{#items}}\nx", "html.mustache:2:3: section "
	    "\"items\" is never closed");
	expect_error("{{#a}}\n{{/b}}", "html.mustache:2:1: mismatched closing "
	    "tag: expected {{/a}}, found {{/b}}");
	expect_error("x {{/a}}", "html.mustache:1:3: closing tag \"a\" has no "
	    "open section");
	expect_error("hello {{name", "html.mustache:1:7: unclosed tag");
	expect_error("{{=<% =}}", "html.mustache:1:1: expected two "
	    "delimiters");
	expect_error("{{}}", "html.mustache:1:1: empty tag");
}
END_TEST

static const char *
names_partial(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "footer") == 0)
		return "bye {{last_name}}\n{{> footer}}";	/* recursive */
	return NULL;
}

static void
collect_name(void *arg, const struct template_name *u)
{
	struct buf *out = arg;

	buf_printf(out, "%s%s:%u:%u:%s%s", out->len ? " " : "", u->template,
	    u->line, u->column, u->is_section ? "#" : "", u->name);
	for (unsigned i = 0; i < u->section_count; i++)
		buf_printf(out, "%s%s", i ? "," : "[", u->sections[i]);
	if (u->section_count)
		buf_append_char(out, ']');
}

START_TEST(names_are_walked_with_positions_and_sections)
{
	struct buf err = BUF_INIT, got = BUF_INIT;
	struct template *t = template_compile("t", "Hi {{first_name}}\n"
	    "{{#mailing}}{{name}}{{^x}}{{{y.z}}}{{/x}}{{/mailing}}\n"
	    "  {{> footer}}\n{{> footer}}{{.}}", names_partial, NULL, &err);

	ck_assert_msg(t != NULL, "%s", buf_str(&err));
	template_names(t, collect_name, &got);
	/* Inverted sections push no context; a partial is walked once
	 * per indentation it is compiled with (recursion included), its
	 * columns without the indentation of its tag. */
	ck_assert_str_eq(buf_str(&got), "t:1:4:first_name t:2:1:#mailing "
	    "t:2:13:name[mailing] t:2:21:#x[mailing] t:2:27:y.z[mailing] "
	    "footer:1:5:last_name footer:1:5:last_name t:4:13:.");
	template_free(t);
	buf_free(&err);
	buf_free(&got);
}
END_TEST

START_TEST(render_work_is_bounded)
{
	static const char *const keys[] = { "a" };
	struct tvalue items[8], list = { .type = TV_LIST, .count = 8,
	    .items = items };
	struct tvalue data = { .type = TV_MAP, .count = 1, .items = &list,
	    .keys = keys };
	struct buf src = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
	struct template *t;

	/* 8^20 visits if nothing stopped it. */
	for (int i = 0; i < 8; i++)
		items[i] = data;
	for (int i = 0; i < 20; i++)
		buf_append_str(&src, "{{#a}}x");
	for (int i = 0; i < 20; i++)
		buf_append_str(&src, "{{/a}}");
	t = template_compile("t", buf_str(&src), NULL, NULL, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(template_render(t, &data, ESCAPE_TEXT, &out), -1);
	ck_assert_uint_le(out.len, (size_t)1 << 22);
	template_free(t);
	buf_free(&src);
	buf_free(&err);
	buf_free(&out);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, mustache_specification);
	tcase_add_test(tc, escaping_modes);
	tcase_add_test(tc, data_is_never_template_text);
	tcase_add_test(tc, errors_name_line_and_column);
	tcase_add_test(tc, render_work_is_bounded);
	tcase_add_test(tc, names_are_walked_with_positions_and_sections);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
