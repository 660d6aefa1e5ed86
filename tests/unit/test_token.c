/*
 * test_token.c - unit tests of src/mail/token.c and src/mail/returnpath.c: tokens
 * round-trip for each purpose, a token of one purpose is refused for
 * every other, altered or unknown-key tokens are refused, keys rotate,
 * unsubscribe tokens made before purposes existed still verify, and
 * return paths are signed, survive a change of case and refuse forgery,
 * and derived keys are HMACs of the newest key.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "encode.h"
#include "returnpath.h"
#include "token.h"

#define SECRET_1 "0123456789abcdef0123456789abcdef-first"
#define SECRET_2 "0123456789abcdef0123456789abcdef-second"

/* Keys from a configuration file holding lines (mode 600). */
static struct token_keys *
keys_from(const char *lines)
{
	char path[] = "/tmp/test_token.XXXXXX";
	int fd = mkstemp(path);
	struct herald_config cfg;
	struct buf err = BUF_INIT;
	struct token_keys *keys;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, lines, strlen(lines)),
	    (ssize_t)strlen(lines));
	close(fd);
	config_defaults(&cfg);
	if (config_load(&cfg, path, &err) != 0)
		ck_abort_msg("config: %s", buf_str(&err));
	keys = token_keys_from_config(&cfg, &err);
	if (keys == NULL)
		ck_abort_msg("keys: %s", buf_str(&err));
	unlink(path);
	config_free(&cfg);
	buf_free(&err);
	return keys;
}

static struct token_keys *
one_key(void)
{
	return keys_from("token_key k1 = " SECRET_1 "\n");
}

/* Verifying text for purpose fails with a reason containing want. */
static void
expect_refused(const struct token_keys *keys, enum token_purpose purpose,
    const char *text, const char *want)
{
	struct buf why = BUF_INIT;
	uint64_t m = 0, r = 0;

	ck_assert_int_ne(token_verify(keys, purpose, text, &m, &r, &why), 0);
	if (strstr(buf_str(&why), want) == NULL)
		ck_abort_msg("\"%s\" for %s: \"%s\" lacks \"%s\"", text,
		    token_purpose_name(purpose), buf_str(&why), want);
	buf_free(&why);
}

START_TEST(each_purpose_round_trips)
{
	struct token_keys *keys = one_key();

	for (int p = 0; p < TOKEN_PURPOSE_COUNT; p++) {
		struct buf token = BUF_INIT, why = BUF_INIT;
		uint64_t m = 0, r = 0;

		if (p == TOKEN_CLICK)
			continue;	/* its own test: it names a link */
		token_make(keys, (enum token_purpose)p, 42, 1234567, &token);
		if (token_verify(keys, (enum token_purpose)p, buf_str(&token),
		    &m, &r, &why) != 0)
			ck_abort_msg("%s: %s", buf_str(&token), buf_str(&why));
		ck_assert_uint_eq(m, 42);
		ck_assert_uint_eq(r, 1234567);
		buf_free(&token);
		buf_free(&why);
	}
	token_keys_free(keys);
}
END_TEST

START_TEST(a_token_is_refused_for_every_other_purpose)
{
	struct token_keys *keys = one_key();

	for (int made = 0; made < TOKEN_PURPOSE_COUNT; made++)
		for (int used = 0; used < TOKEN_PURPOSE_COUNT; used++) {
			struct buf token = BUF_INIT, why = BUF_INIT;
			uint64_t m, r;

			if (made == used || made == TOKEN_CLICK ||
			    used == TOKEN_CLICK)
				continue;
			token_make(keys, (enum token_purpose)made, 42, 7,
			    &token);
			ck_assert_int_eq(token_verify(keys,
			    (enum token_purpose)used, buf_str(&token), &m, &r,
			    &why), -1);
			buf_free(&token);
			buf_free(&why);
		}
	token_keys_free(keys);
}
END_TEST

START_TEST(a_click_token_names_its_link_and_nothing_else)
{
	struct token_keys *keys = one_key();
	struct buf click = BUF_INIT, other = BUF_INIT, why = BUF_INIT;
	uint64_t m = 0, r = 0, l = 0;

	token_make_click(keys, 42, 7, 1001, &click);
	ck_assert_int_eq(strncmp(buf_str(&click), "k1.42.7.1001.", 13), 0);
	if (token_verify_click(keys, buf_str(&click), &m, &r, &l, &why) != 0)
		ck_abort_msg("%s: %s", buf_str(&click), buf_str(&why));
	ck_assert_uint_eq(m, 42);
	ck_assert_uint_eq(r, 7);
	ck_assert_uint_eq(l, 1001);
	/* Another link, recipient or mailing with the same MAC. */
	buf_append_str(&other, "k1.42.7.1002.");
	buf_append_str(&other, strrchr(buf_str(&click), '.') + 1);
	ck_assert_int_eq(token_verify_click(keys, buf_str(&other), &m, &r,
	    &l, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "bad signature"));
	/* An unsubscribe token is not a click token, nor the reverse. */
	buf_reset(&other);
	token_make(keys, TOKEN_UNSUBSCRIBE, 42, 7, &other);
	buf_reset(&why);
	ck_assert_int_eq(token_verify_click(keys, buf_str(&other), &m, &r,
	    &l, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "malformed click"));
	expect_refused(keys, TOKEN_UNSUBSCRIBE, buf_str(&click), "malformed");
	/* Garbled: a leading zero, a sign, an empty id. */
	ck_assert_int_eq(token_verify_click(keys, "k1.42.07.1.AAAA", &m, &r,
	    &l, &why), -1);
	ck_assert_int_eq(token_verify_click(keys, "k1.42.7..AAAA", &m, &r,
	    &l, &why), -1);
	ck_assert_int_eq(token_verify_click(keys, "k1.42.-7.1.AAAA", &m, &r,
	    &l, &why), -1);
	buf_free(&click);
	buf_free(&other);
	buf_free(&why);
	token_keys_free(keys);
}
END_TEST

START_TEST(the_view_online_token_says_it_cannot_unsubscribe)
{
	struct token_keys *keys = one_key();
	struct buf view = BUF_INIT, unsubscribe = BUF_INIT;

	token_make(keys, TOKEN_VIEW_ONLINE, 42, 7, &view);
	token_make(keys, TOKEN_UNSUBSCRIBE, 42, 7, &unsubscribe);
	ck_assert_str_ne(buf_str(&view), buf_str(&unsubscribe));
	expect_refused(keys, TOKEN_UNSUBSCRIBE, buf_str(&view),
	    "this is a view-online token; it cannot be used as a "
	    "unsubscribe token");
	buf_free(&view);
	buf_free(&unsubscribe);
	token_keys_free(keys);
}
END_TEST

/* Tokens herald made before purposes existed: HMAC over
 * "herald-unsubscribe:KID.M.R", computed here independently. */
START_TEST(unsubscribe_tokens_of_before_still_verify)
{
	struct token_keys *keys = one_key();
	static const char message[] = "herald-unsubscribe:k1.42.7";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned length = 0;
	struct buf token = BUF_INIT, made = BUF_INIT, why = BUF_INIT;
	uint64_t m, r;

	HMAC(EVP_sha256(), SECRET_1, (int)strlen(SECRET_1),
	    (const unsigned char *)message, strlen(message), mac, &length);
	buf_append_str(&token, "k1.42.7.");
	encode_base64(mac, 16, 1, &token);
	ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
	    buf_str(&token), &m, &r, &why), 0);
	token_make(keys, TOKEN_UNSUBSCRIBE, 42, 7, &made);
	ck_assert_str_eq(buf_str(&made), buf_str(&token));
	buf_free(&token);
	buf_free(&made);
	buf_free(&why);
	token_keys_free(keys);
}
END_TEST

START_TEST(altered_and_unknown_tokens_are_refused)
{
	struct token_keys *keys = one_key();
	struct buf token = BUF_INIT;
	char *moved;

	token_make(keys, TOKEN_UNSUBSCRIBE, 42, 7, &token);
	moved = strdup(buf_str(&token));
	moved[6] = '8';			/* k1.42.8.MAC: another recipient */
	expect_refused(keys, TOKEN_UNSUBSCRIBE, moved, "bad signature");
	expect_refused(keys, TOKEN_UNSUBSCRIBE, "k9.42.7.AAAAAAAAAAAAAAAAAAAAAA",
	    "key \"k9\", which is not among the keys in use");
	/* Only an unknown key is told apart: the keyring reads the keys
	 * again then (keyring.h). */
	{
		struct buf why = BUF_INIT;
		uint64_t m, r, l;

		ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
		    "k9.42.7.AAAAAAAAAAAAAAAAAAAAAA", &m, &r, &why),
		    TOKEN_UNKNOWN_KEY);
		ck_assert_int_eq(token_verify_click(keys,
		    "k9.42.7.1.AAAAAAAAAAAAAAAAAAAAAA", &m, &r, &l, &why),
		    TOKEN_UNKNOWN_KEY);
		ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE, moved,
		    &m, &r, &why), -1);
		ck_assert_int_eq(token_verify(keys, TOKEN_UNSUBSCRIBE,
		    "k9.42", &m, &r, &why), -1);
		buf_free(&why);
	}
	expect_refused(keys, TOKEN_UNSUBSCRIBE, "k1.42.7", "malformed");
	expect_refused(keys, TOKEN_UNSUBSCRIBE, "k1.042.7.x", "malformed");
	expect_refused(keys, TOKEN_RETURN_PATH, "42-7-k1", "malformed");
	expect_refused(keys, TOKEN_RETURN_PATH, "42-7-k1-aaaaaaaaaaaaa",
	    "bad signature");
	free(moved);
	buf_free(&token);
	token_keys_free(keys);
}
END_TEST

START_TEST(keys_rotate)
{
	struct token_keys *old = one_key();
	struct token_keys *both = keys_from("token_key k1 = " SECRET_1 "\n"
	    "token_key k2 = " SECRET_2 "\n");
	struct token_keys *new = keys_from("token_key k2 = " SECRET_2 "\n");
	struct buf before = BUF_INIT, after = BUF_INIT, why = BUF_INIT;

	return_path_make(old, 42, 7, "b.example", &before);
	return_path_make(both, 42, 7, "b.example", &after);
	ck_assert_ptr_nonnull(strstr(buf_str(&before), "-k1-"));
	ck_assert_ptr_nonnull(strstr(buf_str(&after), "-k2-"));
	/* While both keys are listed, mail signed with either verifies. */
	{
		struct return_path rp;

		ck_assert_int_eq(return_path_parse(buf_str(&before), &rp), 0);
		ck_assert_int_eq(return_path_verify(both, &rp, &why), 0);
		ck_assert_int_eq(return_path_parse(buf_str(&after), &rp), 0);
		ck_assert_int_eq(return_path_verify(both, &rp, &why), 0);
		/* Once k1 is removed, its addresses are refused. */
		ck_assert_int_eq(return_path_parse(buf_str(&before), &rp), 0);
		ck_assert_int_eq(return_path_verify(new, &rp, &why), -1);
		ck_assert_ptr_nonnull(strstr(buf_str(&why), "not among the keys"));
	}
	buf_free(&before);
	buf_free(&after);
	buf_free(&why);
	token_keys_free(old);
	token_keys_free(both);
	token_keys_free(new);
}
END_TEST

START_TEST(return_paths_are_signed_and_survive_case_changes)
{
	struct token_keys *keys = keys_from("token_key Key-1 = " SECRET_1
	    "\n");
	struct buf address = BUF_INIT, why = BUF_INIT;
	struct return_path rp;
	const char *at;
	char *upper;

	return_path_make(keys, 42, 7, "b.example", &address);
	at = strchr(buf_str(&address), '@');
	ck_assert_ptr_nonnull(at);
	/* RFC 5321: a local part has at most 64 octets. */
	ck_assert_int_le(at - buf_str(&address), 64);
	ck_assert_int_eq(return_path_parse(buf_str(&address), &rp), 0);
	ck_assert_int_eq(rp.is_signed, 1);
	/* 64 bits of MAC as 13 lowercase base32 characters. */
	ck_assert_uint_eq(strspn(at - 13, "abcdefghijklmnopqrstuvwxyz234567"),
	    13);
	ck_assert_int_eq(at[-14], '-');
	ck_assert_uint_eq(rp.mailing, 42);
	ck_assert_uint_eq(rp.recipient, 7);
	ck_assert_int_eq(return_path_verify(keys, &rp, &why), 0);
	/* A mail system that uppercases the local part. */
	upper = strdup(buf_str(&address));
	for (char *c = upper; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	ck_assert_int_eq(return_path_parse(upper, &rp), 0);
	if (return_path_verify(keys, &rp, &why) != 0)
		ck_abort_msg("%s: %s", upper, buf_str(&why));
	free(upper);
	buf_free(&address);
	buf_free(&why);
	token_keys_free(keys);
}
END_TEST

START_TEST(forged_return_paths_are_refused)
{
	struct token_keys *keys = one_key();
	struct buf address = BUF_INIT, why = BUF_INIT;
	struct return_path rp;
	char forged[128];

	/* The address of recipient 7, moved to recipient 8. */
	return_path_make(keys, 42, 7, "b.example", &address);
	snprintf(forged, sizeof(forged), "bounces+42-8%s",
	    buf_str(&address) + strlen("bounces+42-7"));
	ck_assert_int_eq(return_path_parse(forged, &rp), 0);
	ck_assert_int_eq(return_path_verify(keys, &rp, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "bad signature"));
	/* The unsigned form of before is never "verified". */
	buf_free(&why);
	ck_assert_int_eq(return_path_parse("bounces+42-7@b.example", &rp), 0);
	ck_assert_int_eq(return_path_verify(keys, &rp, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "not signed"));
	buf_free(&address);
	buf_free(&why);
	token_keys_free(keys);
}
END_TEST

START_TEST(derived_keys_are_hmacs_of_the_newest_key)
{
	static const char label[] = "herald-variant-assignment:";
	struct token_keys *keys = one_key(), *rotated;
	unsigned char got[TOKEN_DERIVED_KEY_BYTES], want[EVP_MAX_MD_SIZE],
	    other[TOKEN_DERIVED_KEY_BYTES];
	unsigned want_length = 0;

	token_derive_key(keys, label, got);
	HMAC(EVP_sha256(), SECRET_1, (int)strlen(SECRET_1),
	    (const unsigned char *)label, strlen(label), want, &want_length);
	ck_assert_uint_eq(want_length, TOKEN_DERIVED_KEY_BYTES);
	ck_assert_int_eq(memcmp(got, want, TOKEN_DERIVED_KEY_BYTES), 0);
	/* Another label, another key; the newest key is the one used. */
	token_derive_key(keys, "herald-unsubscribe:", other);
	ck_assert_int_ne(memcmp(got, other, TOKEN_DERIVED_KEY_BYTES), 0);
	rotated = keys_from("token_key k1 = " SECRET_1 "\n"
	    "token_key k2 = " SECRET_2 "\n");
	token_derive_key(rotated, label, other);
	HMAC(EVP_sha256(), SECRET_2, (int)strlen(SECRET_2),
	    (const unsigned char *)label, strlen(label), want, &want_length);
	ck_assert_int_eq(memcmp(other, want, TOKEN_DERIVED_KEY_BYTES), 0);
	token_keys_free(rotated);
	token_keys_free(keys);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, each_purpose_round_trips);
	tcase_add_test(tc, a_token_is_refused_for_every_other_purpose);
	tcase_add_test(tc, a_click_token_names_its_link_and_nothing_else);
	tcase_add_test(tc, the_view_online_token_says_it_cannot_unsubscribe);
	tcase_add_test(tc, unsubscribe_tokens_of_before_still_verify);
	tcase_add_test(tc, altered_and_unknown_tokens_are_refused);
	tcase_add_test(tc, keys_rotate);
	tcase_add_test(tc, return_paths_are_signed_and_survive_case_changes);
	tcase_add_test(tc, forged_return_paths_are_refused);
	tcase_add_test(tc, derived_keys_are_hmacs_of_the_newest_key);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
