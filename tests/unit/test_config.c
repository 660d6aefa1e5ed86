/*
 * test_config.c - unit tests of src/core/config.c: defaults, every error path
 * (each reported with FILE:LINE and the key, and leaving the
 * configuration unchanged), comments after values, suggestions for
 * unknown keys, secrets, token keys, lists, file lookup and the key
 * documentation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char test_dir[] = "/tmp/herald-test-config-XXXXXX";
static char path[512];

static void
write_config(const char *text, mode_t mode)
{
	FILE *fp;

	snprintf(path, sizeof(path), "%s/herald.conf", test_dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* Loads text; returns the error text (owned by a static buf) or NULL. */
static const char *
load(const char *text, mode_t mode, struct herald_config *cfg)
{
	static struct buf err;

	buf_free(&err);
	write_config(text, mode);
	config_defaults(cfg);
	if (config_load(cfg, path, &err) == 0)
		return NULL;
	return buf_str(&err);
}

/* Expects text to be refused with a message containing every needle. */
static void
expect_error(const char *text, const char *needle1, const char *needle2)
{
	struct herald_config cfg;
	const char *err = load(text, 0600, &cfg);

	ck_assert_msg(err != NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, path) != NULL, "no file name in: %s", err);
	ck_assert_msg(strstr(err, needle1) != NULL, "\"%s\" not in: %s",
	    needle1, err);
	if (needle2)
		ck_assert_msg(strstr(err, needle2) != NULL,
		    "\"%s\" not in: %s", needle2, err);
	/* Nothing changed: the defaults are intact. */
	ck_assert_str_eq(cfg.database_name, "herald");
	ck_assert_int_eq(cfg.database_port, 3306);
	ck_assert_ptr_null(cfg.path);
	config_free(&cfg);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void
teardown(void)
{
	unlink(path);
	rmdir(test_dir);
	strcpy(test_dir, "/tmp/herald-test-config-XXXXXX");
}

START_TEST(defaults_are_documented_values)
{
	struct herald_config cfg;

	config_defaults(&cfg);
	ck_assert_str_eq(cfg.database_name, "herald");
	ck_assert_str_eq(cfg.database_host, "");
	ck_assert_int_eq(cfg.database_port, 3306);
	ck_assert_int_eq(cfg.database_connect_timeout, 10);
	ck_assert_int_eq(cfg.embedded_port, 0);
	ck_assert(config_uses_embedded_database(&cfg));
	config_free(&cfg);
}
END_TEST

START_TEST(values_override_defaults)
{
	struct herald_config cfg;
	const char *err = load(
	    "# a comment\n"
	    "\n"
	    "   database_name   =  mail_db  \n"
	    "database_port=3307\r\n"
	    "database_connect_timeout = 2m\n"
	    "state_directory = /tmp/x y\n", 0644, &cfg);

	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_str_eq(cfg.database_name, "mail_db");
	ck_assert_int_eq(cfg.database_port, 3307);
	ck_assert_int_eq(cfg.database_connect_timeout, 120);
	ck_assert_str_eq(cfg.state_directory, "/tmp/x y");
	ck_assert_str_eq(cfg.path, path);
	config_free(&cfg);
}
END_TEST

START_TEST(missing_file_is_an_error)
{
	struct herald_config cfg;
	struct buf err = BUF_INIT;

	config_defaults(&cfg);
	ck_assert_int_eq(config_load(&cfg, "/nonexistent/herald.conf", &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "/nonexistent/herald.conf"));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "No such file"));
	buf_free(&err);
	config_free(&cfg);
}
END_TEST

START_TEST(line_without_equals)
{
	expect_error("database_name = x\njust words\n", ":2:", "key = value");
}
END_TEST

START_TEST(missing_key_name)
{
	expect_error(" = value\n", ":1:", "missing key name");
}
END_TEST

START_TEST(bad_key_characters)
{
	expect_error("Database-Name = x\n", ":1:", "bad key name");
}
END_TEST

START_TEST(unknown_key_lists_known_keys)
{
	char long_name[320];

	expect_error("\n\ndatabase_nmae = x\n", ":3:", "database_nmae");
	/* Nothing close: every key is listed. */
	expect_error("databse = x\n", "known keys:", "database_name");
	expect_error("databse = x\n", "known keys:", "token_key");
	memset(long_name, 'q', 300);
	strcpy(long_name + 300, " = x\n");
	expect_error(long_name, "known keys:", "relay_host");
}
END_TEST

/* An unknown key that is close to known ones names them, and only them. */
static void
expect_suggestion(const char *text, const char *suggestion)
{
	struct herald_config cfg;
	const char *err = load(text, 0600, &cfg);

	ck_assert_msg(err != NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, suggestion) != NULL, "\"%s\" not in: %s",
	    suggestion, err);
	ck_assert_msg(strstr(err, "known keys") == NULL, "lists every key: %s",
	    err);
	config_free(&cfg);
}

START_TEST(unknown_key_suggests_the_closest)
{
	expect_suggestion("relay_hots = 127.0.0.1\n",
	    ":1: unknown key \"relay_hots\" (did you mean relay_host?)");
	expect_suggestion("database_nmae = x\n",
	    "(did you mean database_name?)");
	expect_suggestion("relay_hst = x\n", "(did you mean relay_host?)");
	expect_suggestion("worker_counts = 2\n",
	    "(did you mean worker_count?)");
	/* A list key's name is the word before its argument. */
	expect_suggestion("tokne_key k1 = x\n", "(did you mean token_key?)");
	/* Ties: every key at the smallest distance, in table order. */
	expect_suggestion("database_hort = x\n",
	    "(did you mean database_host or database_port?)");
	expect_suggestion("database_uoet = x\n",
	    "(did you mean database_host, database_port or database_user?)");
}
END_TEST

START_TEST(key_set_twice)
{
	expect_error("database_port = 1\ndatabase_port = 2\n", ":2:",
	    "set twice");
}
END_TEST

START_TEST(not_a_number)
{
	expect_error("database_port = 33o6\n", ":1:", "whole number");
	expect_error("database_port =\n", ":1:", "database_port");
}
END_TEST

START_TEST(number_out_of_range)
{
	expect_error("database_port = 70000\n", "out of range", "65535");
	expect_error("database_port = 0\n", "out of range", "database_port");
}
END_TEST

START_TEST(bad_duration)
{
	expect_error("database_connect_timeout = 5 minutes\n", ":1:",
	    "duration");
	expect_error("database_connect_timeout = 5x\n", "duration", NULL);
	expect_error("database_connect_timeout = 0\n", "out of range", NULL);
}
END_TEST

START_TEST(percentages)
{
	struct herald_config cfg;
	const char *err;

	config_defaults(&cfg);
	ck_assert_int_eq(cfg.brake_complaint_rate, 3000);	/* 0.3% */
	ck_assert_int_eq(cfg.brake_bounce_rate, 50000);		/* 5% */
	config_free(&cfg);
	err = load("brake_complaint_rate = 0.1%\n"
	    "brake_bounce_rate = 0.025\n", 0600, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_int_eq(cfg.brake_complaint_rate, 1000);
	ck_assert_int_eq(cfg.brake_bounce_rate, 25000);	/* a fraction */
	config_free(&cfg);
	err = load("brake_complaint_rate = 100%\n", 0600, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_int_eq(cfg.brake_complaint_rate, 1000000);
	config_free(&cfg);
	expect_error("brake_complaint_rate = 0.3 %\n", ":1:", "percentage");
	expect_error("brake_complaint_rate = 101%\n", "percentage", NULL);
	expect_error("brake_complaint_rate = 0.00001%\n", "percentage",
	    NULL);
	expect_error("brake_complaint_rate = %\n", "percentage", NULL);
	expect_error("brake_complaint_rate = 0%\n", "out of range", NULL);
}
END_TEST

START_TEST(control_character_in_value)
{
	expect_error("database_name = a\tb\x01\n", ":1:", "control character");
}
END_TEST

START_TEST(nul_byte_in_line)
{
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/herald.conf", test_dir);
	fp = fopen(path, "w");
	fwrite("database_name = a\0b\n", 1, 20, fp);
	fclose(fp);
	config_defaults(&cfg);
	ck_assert_int_eq(config_load(&cfg, path, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), ":1: line contains a NUL"));
	buf_free(&err);
	config_free(&cfg);
}
END_TEST

START_TEST(argument_on_plain_key)
{
	expect_error("database_name extra = x\n", ":1:", "takes no argument");
}
END_TEST

START_TEST(readable_secret_is_refused)
{
	struct herald_config cfg;
	const char *err;

	err = load("database_password = s3cret\n", 0644, &cfg);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert_ptr_nonnull(strstr(err, "644"));
	ck_assert_str_eq(cfg.database_password, "");
	config_free(&cfg);

	err = load("database_password = s3cret\n", 0640, &cfg);
	ck_assert_ptr_nonnull(err);
	config_free(&cfg);

	err = load("database_password = s3cret\n", 0600, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_str_eq(cfg.database_password, "s3cret");
	config_free(&cfg);

	/* A readable file without a secret is fine. */
	err = load("database_password =\n", 0644, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	config_free(&cfg);
}
END_TEST

START_TEST(password_keeps_semicolons_and_hashes)
{
	struct herald_config cfg;
	const char *err = load("database_password = a ;b #c\n", 0600, &cfg);

	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_str_eq(cfg.database_password, "a ;b #c");
	config_free(&cfg);
}
END_TEST

/* "key = value # comment" is refused: herald.conf has no inline comments. */
START_TEST(comment_after_value_is_refused)
{
	expect_error("relay_host = 127.0.0.1 # local postfix\n", ":1:",
	    "key \"relay_host\": value \"127.0.0.1 # local postfix\" has a "
	    "comment after it");
	expect_error("\nrelay_host = 127.0.0.1\t# tab before\n", ":2:",
	    "comment after it");
	expect_error("relay_host = # nothing\n", ":1:", "comment after it");
	expect_error("relay_host =#nothing\n", ":1:", "comment after it");
	expect_error("state_directory = /srv/herald # state\n", ":1:",
	    "comment after it");
	/* Numbers, durations, rates and schedules: the comment is named,
	 * not a bad number. */
	expect_error("worker_count = 4 # four\n", "comment after it",
	    "worker_count");
	expect_error("batch_lease = 5m # five\n", "comment after it", NULL);
	expect_error("rate_limit = 5/s # five\n", "comment after it", NULL);
	expect_error("retry_schedule = 5m 1h # two\n", "comment after it",
	    NULL);
	/* List keys: named with their argument. */
	expect_error("route gmail.com = relay2 # gmail\n", ":1:",
	    "key \"route gmail.com\": value \"relay2 # gmail\" has a comment");
	expect_error("domain_rate_limit gmail.com = 5/s # x\n", ":1:",
	    "key \"domain_rate_limit gmail.com\"");
}
END_TEST

START_TEST(hash_inside_a_value_and_comment_lines)
{
	struct herald_config cfg;
	const char *err = load(
	    "# a comment\n"
	    "   # an indented comment\n"
	    "\t# after a tab\n"
	    "view_online_url = https://example.org/view#top\n"
	    "state_directory = /srv/a#b;c\n"
	    "database_name = a;b\n", 0644, &cfg);

	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_str_eq(cfg.view_online_url, "https://example.org/view#top");
	ck_assert_str_eq(cfg.state_directory, "/srv/a#b;c");
	ck_assert_str_eq(cfg.database_name, "a;b");
	config_free(&cfg);
}
END_TEST

/* Secrets are verbatim: a password may hold " #" and ";". */
START_TEST(secrets_keep_hashes_after_blanks)
{
	struct herald_config cfg;
	const char *err = load(
	    "database_password = # starts with a hash\n"
	    "token_key k1 = 0123456789abcdef0123456789abcdef # and more\n",
	    0600, &cfg);

	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_str_eq(cfg.database_password, "# starts with a hash");
	ck_assert_str_eq(config_list_lookup(cfg.token_key, "k1"),
	    "0123456789abcdef0123456789abcdef # and more");
	config_free(&cfg);
}
END_TEST

/* The token module's rule, applied when the file is read. */
START_TEST(token_keys_are_checked)
{
	struct herald_config cfg;
	const char *err;

	expect_error("token_key k1 = short\n", ":1:",
	    "key \"token_key k1\": token key \"k1\" is shorter than 32 "
	    "characters");
	expect_error("token_key k1 = 0123456789abcdef0123456789abcde\n",
	    ":1:", "shorter than 32");
	expect_error("token_key k!1 = 0123456789abcdef0123456789abcdef\n",
	    ":1:", "must be 1-16 letters, digits, '-' or '_'");
	expect_error("token_key k1234567890123456 = "
	    "0123456789abcdef0123456789abcdef\n", ":1:", "must be 1-16");
	err = load("token_key k-2026_a = 0123456789abcdef0123456789abcdef\n"
	    "token_key k123456789012345 = 0123456789abcdef0123456789abcdef\n",
	    0600, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	config_free(&cfg);
}
END_TEST

START_TEST(route_values_are_checked)
{
	expect_error("route gmail.com = relay2:99999\n", ":1:",
	    "key \"route gmail.com\": expected HOST or HOST:PORT, found "
	    "\"relay2:99999\"");
	expect_error("route gmail.com = :25\n", ":1:", "HOST:PORT");
	expect_error("route_alternate gmail.com = relay3:0\n", ":1:",
	    "key \"route_alternate gmail.com\": expected HOST or HOST:PORT, "
	    "found \"relay3:0\"");
}
END_TEST

/* Every key is documented: herald.conf(5)'s KEYS section is made of this. */
START_TEST(every_key_has_documentation)
{
	struct config_key_doc doc;
	size_t count = 0;

	for (size_t i = 0; config_key_doc(i, &doc) == 0; i++, count++) {
		ck_assert_ptr_nonnull(doc.name);
		ck_assert_msg(doc.group != NULL, "%s: no group", doc.name);
		ck_assert_msg(doc.description && strlen(doc.description) > 10,
		    "%s: no description", doc.name);
		ck_assert_msg(doc.type != NULL, "%s: no type", doc.name);
		ck_assert_msg((doc.argument == NULL) ==
		    (doc.default_value != NULL), "%s: a list key has an "
		    "argument and no default", doc.name);
		if (doc.ranged)
			ck_assert_msg(doc.min <= doc.max, "%s", doc.name);
	}
	ck_assert_uint_gt(count, 50);
	ck_assert_int_eq(config_key_doc(count, &doc), -1);
	ck_assert_int_eq(config_key_doc(0, &doc), 0);
	ck_assert_str_eq(doc.name, "state_directory");
	ck_assert_str_eq(doc.documented_default, "/var/lib/herald");
}
END_TEST

START_TEST(print_masks_secrets)
{
	struct herald_config cfg;
	char text[8192];
	FILE *out;
	size_t got;

	ck_assert_ptr_null(load("database_password = s3cret\n", 0600, &cfg));
	out = tmpfile();
	config_print(&cfg, out);
	rewind(out);
	got = fread(text, 1, sizeof(text) - 1, out);
	text[got] = '\0';
	fclose(out);
	ck_assert_ptr_null(strstr(text, "s3cret"));
	ck_assert_ptr_nonnull(strstr(text, "database_password = (set, hidden)"));
	ck_assert_ptr_nonnull(strstr(text, "database_name = herald\n"));
	config_free(&cfg);
}
END_TEST

START_TEST(duration_parser)
{
	ck_assert_int_eq(config_parse_duration("0"), 0);
	ck_assert_int_eq(config_parse_duration("45"), 45);
	ck_assert_int_eq(config_parse_duration("45s"), 45);
	ck_assert_int_eq(config_parse_duration("3m"), 180);
	ck_assert_int_eq(config_parse_duration("2h"), 7200);
	ck_assert_int_eq(config_parse_duration("1d"), 86400);
	ck_assert_int_eq(config_parse_duration(""), -1);
	ck_assert_int_eq(config_parse_duration("-1"), -1);
	ck_assert_int_eq(config_parse_duration("1w"), -1);
	ck_assert_int_eq(config_parse_duration("1hh"), -1);
	ck_assert_int_eq(config_parse_duration("99999999999999999999"), -1);
}
END_TEST

START_TEST(locate_uses_environment)
{
	struct herald_config cfg;
	struct buf err = BUF_INIT;

	write_config("database_name = from_env\n", 0644);
	setenv("HERALD_CONFIG", path, 1);
	config_defaults(&cfg);
	ck_assert_int_eq(config_locate_and_load(&cfg, NULL, &err), 0);
	ck_assert_str_eq(cfg.database_name, "from_env");
	config_free(&cfg);

	/* An explicit file wins over the environment. */
	config_defaults(&cfg);
	ck_assert_int_eq(config_locate_and_load(&cfg, "/nonexistent.conf",
	    &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "/nonexistent.conf"));
	unsetenv("HERALD_CONFIG");
	config_free(&cfg);
	buf_free(&err);
}
END_TEST

START_TEST(embedded_socket_path)
{
	struct herald_config cfg;
	char *socket;

	ck_assert_ptr_null(load("state_directory = /srv/h\n", 0600, &cfg));
	socket = config_database_socket(&cfg);
	ck_assert_str_eq(socket, "/srv/h/mariadb/mysqld.sock");
	free(socket);
	config_free(&cfg);

	ck_assert_ptr_null(load("database_host = db1\n", 0600, &cfg));
	ck_assert(!config_uses_embedded_database(&cfg));
	ck_assert_ptr_null(config_database_socket(&cfg));
	config_free(&cfg);
}
END_TEST

/* embedded_port opens TCP only with the daemon's account and password. */
START_TEST(embedded_port_needs_a_password)
{
	struct herald_config cfg;

	expect_error("embedded_port = 3307\n", "embedded_port = 3307",
	    "daemon_database_password");
	expect_error("embedded_port = 3307\ndaemon_database_user = d\n",
	    "embedded_port = 3307", "daemon_database_password");
	expect_error("embedded_port = 3307\ndaemon_database_password = "
	    "a-password\n", "embedded_port = 3307", "daemon_database_user");
	ck_assert_ptr_null(load("embedded_port = 3307\ndaemon_database_user = "
	    "d\ndaemon_database_password = a-password\n", 0600, &cfg));
	config_free(&cfg);
	/* No embedded server, nothing to open: the key does not matter. */
	ck_assert_ptr_null(load("embedded_port = 3307\ndatabase_host = db1\n",
	    0600, &cfg));
	config_free(&cfg);
	ck_assert_ptr_null(load("embedded_port = 0\n", 0600, &cfg));
	config_free(&cfg);
}
END_TEST

START_TEST(rates)
{
	struct herald_config cfg;
	const char *err;

	ck_assert_int_eq(config_parse_rate("20000/h"), 20000);
	ck_assert_int_eq(config_parse_rate("300/m"), 18000);
	ck_assert_int_eq(config_parse_rate("5/s"), 18000);
	ck_assert_int_eq(config_parse_rate("0"), 0);
	ck_assert_int_eq(config_parse_rate("5"), -1);
	ck_assert_int_eq(config_parse_rate("5/d"), -1);
	ck_assert_int_eq(config_parse_rate("/h"), -1);
	ck_assert_int_eq(config_parse_rate("5/hh"), -1);
	err = load("rate_limit = 300/m\n"
	    "domain_rate_limit gmail.com = 20000/h\n"
	    "domain_rate_limit yahoo.com = 10/s\n", 0644, &cfg);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_int_eq(cfg.rate_limit, 18000);
	ck_assert_str_eq(config_list_lookup(cfg.domain_rate_limit,
	    "gmail.com"), "20000/h");
	ck_assert_str_eq(config_list_lookup(cfg.domain_rate_limit,
	    "yahoo.com"), "10/s");
	ck_assert_ptr_null(config_list_lookup(cfg.domain_rate_limit,
	    "aol.com"));
	ck_assert_uint_eq(cfg.domain_rate_limit->line, 2);
	config_free(&cfg);
}
END_TEST

START_TEST(bad_rates_and_lists)
{
	expect_error("rate_limit = fast\n", ":1:", "rate such as");
	expect_error("domain_rate_limit gmail.com = lots\n", ":1:",
	    "bad rate");
	expect_error("domain_rate_limit = 5/s\n", ":1:", "needs one argument");
	expect_error("domain_rate_limit a b = 5/s\n", ":1:",
	    "needs one argument");
	expect_error("domain_rate_limit a = 5/s\ndomain_rate_limit a = 6/s\n",
	    ":2:", "set twice");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_are_documented_values);
	tcase_add_test(tc, values_override_defaults);
	tcase_add_test(tc, missing_file_is_an_error);
	tcase_add_test(tc, line_without_equals);
	tcase_add_test(tc, missing_key_name);
	tcase_add_test(tc, bad_key_characters);
	tcase_add_test(tc, unknown_key_lists_known_keys);
	tcase_add_test(tc, unknown_key_suggests_the_closest);
	tcase_add_test(tc, key_set_twice);
	tcase_add_test(tc, not_a_number);
	tcase_add_test(tc, number_out_of_range);
	tcase_add_test(tc, bad_duration);
	tcase_add_test(tc, percentages);
	tcase_add_test(tc, control_character_in_value);
	tcase_add_test(tc, nul_byte_in_line);
	tcase_add_test(tc, argument_on_plain_key);
	tcase_add_test(tc, readable_secret_is_refused);
	tcase_add_test(tc, password_keeps_semicolons_and_hashes);
	tcase_add_test(tc, comment_after_value_is_refused);
	tcase_add_test(tc, hash_inside_a_value_and_comment_lines);
	tcase_add_test(tc, secrets_keep_hashes_after_blanks);
	tcase_add_test(tc, token_keys_are_checked);
	tcase_add_test(tc, route_values_are_checked);
	tcase_add_test(tc, every_key_has_documentation);
	tcase_add_test(tc, print_masks_secrets);
	tcase_add_test(tc, duration_parser);
	tcase_add_test(tc, locate_uses_environment);
	tcase_add_test(tc, embedded_socket_path);
	tcase_add_test(tc, embedded_port_needs_a_password);
	tcase_add_test(tc, rates);
	tcase_add_test(tc, bad_rates_and_lists);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
