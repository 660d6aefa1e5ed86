/*
 * test_variant.c - unit tests of src/store/variant.c: shares parse and print
 * back, names are checked, the cuts give every variant its share of any
 * number of recipients to within one, and the pads the server hashes
 * with give exactly OpenSSL's HMAC-SHA256 (the integration test
 * variants.sh checks the server's assignment against Python's hmac).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "variant.h"

START_TEST(shares_parse)
{
	static const struct { const char *text; unsigned want; } good[] = {
		{ "10%", 1000 }, { "12.5%", 1250 }, { "0.25%", 25 },
		{ "7.05%", 705 }, { "100%", 10000 }, { "0.01%", 1 },
		{ "33.33%", 3333 }, { "050%", 5000 },
	};
	static const char *const bad[] = { "0%", "0.00%", "100.01%", "10",
	    "%", ".5%", "5.%", "1.234%", "abc", "-5%", "10 %", "10%%",
	    "10000%", "", "1e1%", "99999999999999999999%" };

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct buf why = BUF_INIT;
		unsigned bp = 0;

		ck_assert_msg(variant_share_parse(good[i].text, &bp, &why) == 0,
		    "%s: %s", good[i].text, buf_str(&why));
		ck_assert_uint_eq(bp, good[i].want);
		buf_free(&why);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf why = BUF_INIT;
		unsigned bp = 7;

		ck_assert_msg(variant_share_parse(bad[i], &bp, &why) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_uint_eq(bp, 7);
		ck_assert_ptr_nonnull(strstr(buf_str(&why), "%"));
		buf_free(&why);
	}
}
END_TEST

START_TEST(shares_print_back)
{
	for (unsigned bp = 1; bp <= VARIANT_SHARE_WHOLE; bp++) {
		struct buf text = BUF_INIT, why = BUF_INIT;
		unsigned back = 0;

		variant_share_format(bp, &text);
		ck_assert_msg(variant_share_parse(buf_str(&text), &back,
		    &why) == 0, "%u: %s", bp, buf_str(&why));
		ck_assert_uint_eq(back, bp);
		buf_free(&text);
		buf_free(&why);
	}
}
END_TEST

START_TEST(names_are_checked)
{
	static const char *const good[] = { "B", "subject-2", "v1.b_c" };
	static const char *const bad[] = { "", "A", "a", "two words",
	    "semi;colon", "quo'te", "x\n" };
	char long_name[VARIANT_NAME_MAX + 2];
	struct buf why = BUF_INIT;

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_int_eq(variant_name_check(good[i], &why), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&why);
		ck_assert_msg(variant_name_check(bad[i], &why) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(buf_str(&why), "variant name"));
	}
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert_int_eq(variant_name_check(long_name, &why), -1);
	long_name[VARIANT_NAME_MAX] = '\0';
	ck_assert_int_eq(variant_name_check(long_name, &why), 0);
	buf_free(&why);
}
END_TEST

/* Shares (in basis points) cut n: each count within one of its exact
 * share, the counts adding up to n, A taking the rest. */
static void
check_cuts(uint64_t n, const unsigned *shares, unsigned count)
{
	uint64_t previous = 0, total = 0;
	unsigned upto = 0;

	for (unsigned i = 0; i <= count; i++) {
		unsigned share = i < count ? shares[i] :
		    VARIANT_SHARE_WHOLE - upto;
		uint64_t cut, got;
		double want;

		upto += share;
		cut = variant_cut(n, upto);
		got = cut - previous;
		want = (double)n * share / VARIANT_SHARE_WHOLE;
		ck_assert_msg(got + 1 > want && got < want + 1, "n %llu: "
		    "variant %u of share %u got %llu, want %.2f",
		    (unsigned long long)n, i, share, (unsigned long long)got,
		    want);
		total += got;
		previous = cut;
	}
	ck_assert_uint_eq(total, n);
}

START_TEST(cuts_are_exact_to_one_recipient)
{
	static const unsigned ten_thirty[] = { 1000, 3000 };
	static const unsigned thirds[] = { 3333, 3333 };
	static const unsigned odd[] = { 1, 1250, 705, 2500, 17 };
	unsigned random_shares[6];

	for (uint64_t n = 0; n <= 2000; n++) {
		check_cuts(n, ten_thirty, 2);
		check_cuts(n, thirds, 2);
		check_cuts(n, odd, 5);
	}
	check_cuts(10000, ten_thirty, 2);
	check_cuts(150000000, odd, 5);
	srand(18);
	for (unsigned round = 0; round < 2000; round++) {
		unsigned count = 1 + (unsigned)rand() % 6, left =
		    VARIANT_SHARE_WHOLE;

		for (unsigned i = 0; i < count; i++) {
			random_shares[i] = left ? 1 + (unsigned)rand() % left :
			    0;
			left -= random_shares[i];
		}
		check_cuts((uint64_t)rand() % 1000000, random_shares, count);
	}
}
END_TEST

static void
unhex(const char *hex, unsigned char *out, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		unsigned value;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &value), 1);
		out[i] = (unsigned char)value;
	}
}

/* SHA-256 of a then b, as the server's SHA2(CONCAT(a, b)). */
static void
sha256_two(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned length = 0;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(EVP_DigestUpdate(ctx, a, alen), 1);
	ck_assert_int_eq(EVP_DigestUpdate(ctx, b, blen), 1);
	ck_assert_int_eq(EVP_DigestFinal_ex(ctx, out, &length), 1);
	ck_assert_uint_eq(length, 32);
	EVP_MD_CTX_free(ctx);
}

START_TEST(pads_give_openssl_hmac)
{
	unsigned char key[64], ipad[64], opad[64], inner[32], outer[32],
	    want[32];
	char ipad_hex[129], opad_hex[129], message[48];
	unsigned want_length = 0;

	srand(9);
	for (unsigned round = 0; round < 200; round++) {
		size_t key_length = round % 2 ? 32 : (size_t)(round % 65);
		int length;

		for (size_t i = 0; i < key_length; i++)
			key[i] = (unsigned char)rand();
		variant_rank_pads(key, key_length, ipad_hex, opad_hex);
		ck_assert_uint_eq(strlen(ipad_hex), 128);
		ck_assert_uint_eq(strspn(opad_hex, "0123456789abcdef"), 128);
		unhex(ipad_hex, ipad, 64);
		unhex(opad_hex, opad, 64);
		length = snprintf(message, sizeof(message), "%u.%d", round,
		    rand());
		sha256_two(ipad, 64, (unsigned char *)message, (size_t)length,
		    inner);
		sha256_two(opad, 64, inner, 32, outer);
		HMAC(EVP_sha256(), key, (int)key_length,
		    (unsigned char *)message, (size_t)length, want,
		    &want_length);
		ck_assert_uint_eq(want_length, 32);
		ck_assert_msg(memcmp(outer, want, 32) == 0, "round %u", round);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("variant");
	TCase *tc = tcase_create("variant");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, shares_parse);
	tcase_add_test(tc, shares_print_back);
	tcase_add_test(tc, names_are_checked);
	tcase_add_test(tc, cuts_are_exact_to_one_recipient);
	tcase_add_test(tc, pads_give_openssl_hmac);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
