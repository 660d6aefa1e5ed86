/*
 * test_namecheck.c - names nothing fills in a template directory are
 * warned about with FILE:LINE:COLUMN and the name meant when it is
 * clear; names that resolve (fields, attributes, generated values,
 * section contexts) are not. Also suggest.c's choice of the name meant.
 * The database side (attribute keys, segment references) is checked by
 * tests/integration/operator_input.sh.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "namecheck.h"
#include "suggest.h"

static char directory[] = "/tmp/test_namecheck.XXXXXX";

static void
write_file(const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
remove_files(void)
{
	static const char *const names[] = { "text.mustache", "html.mustache",
	    "footer.mustache" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", directory, names[i]);
		unlink(path);
	}
	rmdir(directory);
}

START_TEST(unknown_template_names_are_warned_about)
{
	char *keys[] = { "member_level", "city_code" };
	struct namecheck_list attributes = { keys, 2 };
	struct buf err = BUF_INIT, warnings = BUF_INIT, want = BUF_INIT;
	struct tmplset *set;
	int unchecked = -1;
	unsigned count;

	ck_assert_ptr_nonnull(mkdtemp(directory));
	write_file("text.mustache", "Hi {{frist_name}}, your {{attributes."
	    "no_such}} and {{mailing.nam}}\n"
	    "{{attributes.membr_level}} {{member_level}} {{xyz}}\n"
	    "{{#attributes.kids}}{{anything}}{{/attributes.kids}}"
	    "{{#mailing}}{{name}}{{/mailing}}{{#first_name}}{{fist_name}}"
	    "{{/first_name}}\n"
	    "{{email}} {{unsubscribe_url}} {{view_online_url}} {{token}} "
	    "{{recipient_id}} {{mailing.subject}} {{attributes.city_code}} "
	    "{{.}} {{> footer}}\n");
	write_file("html.mustache", "<p>\n  {{> footer}}\n</p>\n");
	write_file("footer.mustache", "Bye {{lastname}}\n");
	set = tmplset_open(directory, "Hello {{First_name}}", &err);
	ck_assert_msg(set != NULL, "%s", buf_str(&err));

	count = namecheck_templates(set, &attributes, &warnings, &unchecked);
	buf_printf(&want,
	    "--subject:1:7: {{First_name}} names no recipient field, imported "
	    "attribute or generated value; it renders empty; did you mean "
	    "{{first_name}}?\n"
	    "%1$s/text.mustache:1:4: {{frist_name}} names no recipient field, "
	    "imported attribute or generated value; it renders empty; did you "
	    "mean {{first_name}}?\n"
	    "%1$s/text.mustache:1:25: {{attributes.no_such}} names an "
	    "attribute no recipient has (among the newest 10000); it renders "
	    "empty\n"
	    "%1$s/text.mustache:1:52: {{mailing.nam}} is not a field of the "
	    "mailing (mailing.id, mailing.name, mailing.subject); it renders "
	    "empty; did you mean {{mailing.name}}?\n"
	    "%1$s/text.mustache:2:1: {{attributes.membr_level}} names an "
	    "attribute no recipient has (among the newest 10000); it renders "
	    "empty; did you mean {{attributes.member_level}}?\n"
	    "%1$s/text.mustache:2:28: {{member_level}} names no recipient "
	    "field, imported attribute or generated value; it renders empty; "
	    "did you mean {{attributes.member_level}}?\n"
	    "%1$s/text.mustache:2:45: {{xyz}} names no recipient field, "
	    "imported attribute or generated value; it renders empty\n"
	    "%1$s/text.mustache:3:1: {{#attributes.kids}} names an attribute "
	    "no recipient has (among the newest 10000); it renders empty\n"
	    "%1$s/text.mustache:3:100: {{fist_name}} names no recipient field, "
	    "imported attribute or generated value; it renders empty; did you "
	    "mean {{first_name}}?\n"
	    "%1$s/footer.mustache:1:5: {{lastname}} names no recipient field, "
	    "imported attribute or generated value; it renders empty; did you "
	    "mean {{last_name}}?\n", directory);
	ck_assert_str_eq(buf_str(&warnings), buf_str(&want));
	ck_assert_uint_eq(count, 10);
	ck_assert_int_eq(unchecked, 0);

	/* Without the attribute names, attributes are not judged. */
	buf_reset(&warnings);
	count = namecheck_templates(set, NULL, &warnings, &unchecked);
	ck_assert_int_eq(unchecked, 1);
	ck_assert_ptr_null(strstr(buf_str(&warnings), "attributes."));
	ck_assert_uint_eq(count, 7);

	tmplset_free(set);
	remove_files();
	buf_free(&err);
	buf_free(&warnings);
	buf_free(&want);
}
END_TEST

START_TEST(the_name_meant)
{
	static const char *const names[] = { "first_name", "last_name",
	    "email", "name", "city", "state" };
	size_t n = sizeof(names) / sizeof(names[0]);

	ck_assert_str_eq(suggest_closest("frist_name", names, n), "first_name");
	ck_assert_str_eq(suggest_closest("FIRST_NAME", names, n), "first_name");
	ck_assert_str_eq(suggest_closest("lastname", names, n), "last_name");
	ck_assert_str_eq(suggest_closest("emial", names, n), "email");
	ck_assert_str_eq(suggest_closest("nam", names, n), "name");
	/* Too far, or two names as close: no guess. */
	ck_assert_ptr_null(suggest_closest("no_such", names, n));
	ck_assert_ptr_null(suggest_closest("stat", (const char *const[]){
	    "state", "stay" }, 2));
	ck_assert_ptr_null(suggest_closest("x", names, 0));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("namecheck");
	TCase *tc = tcase_create("namecheck");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, unknown_template_names_are_warned_about);
	tcase_add_test(tc, the_name_meant);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_set_fork_status(runner, CK_NOFORK);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
