/*
 * random_test.c - random bytes and version-4 UUIDs: format (RFC 4122 4.4
 * version and variant bits), distinctness, and the edge sizes.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static void check_uuid_v4(const char *u)
{
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			assert_int_equal(u[i], '-');
			continue;
		}
		/* lower-case hex only (RFC 4122 3: output is lower case) */
		assert_true(isxdigit((unsigned char)u[i]));
		assert_false(isupper((unsigned char)u[i]));
	}
	/* version nibble: first hex digit of the third group is 4 */
	assert_int_equal(u[14], '4');
	/* variant: first hex digit of the fourth group is 8, 9, a or b */
	assert_non_null(strchr("89ab", u[19]));
}

static void test_uuid_format(void **state)
{
	char u[37];

	for (int i = 0; i < 1000; i++) {
		memset(u, 'x', sizeof u);
		assert_int_equal(coffer_random_uuid(u), COFFER_OK);
		check_uuid_v4(u);
	}
}

static void test_uuid_differ(void **state)
{
	char a[37], b[37];

	assert_int_equal(coffer_random_uuid(a), COFFER_OK);
	assert_int_equal(coffer_random_uuid(b), COFFER_OK);
	assert_string_not_equal(a, b);
}

static void test_uuid_bits_vary(void **state)
{
	/* Across many UUIDs every random hex position takes more than one value;
	 * catches a generator that leaves some byte fixed. */
	char u[37];
	unsigned seen[36] = {0};

	for (int i = 0; i < 200; i++) {
		assert_int_equal(coffer_random_uuid(u), COFFER_OK);
		for (int j = 0; j < 36; j++)
			seen[j] |= 1u << (isdigit((unsigned char)u[j]) ? u[j] - '0' :
					  u[j] == '-' ? 0 : u[j] - 'a' + 10);
	}
	for (int j = 0; j < 36; j++) {
		if (j == 8 || j == 13 || j == 18 || j == 23 || j == 14)
			continue;
		assert_true(__builtin_popcount(seen[j]) > 1);
	}
}

static void test_random_bytes(void **state)
{
	uint8_t a[64], b[64];
	static uint8_t big[1 << 20];

	assert_int_equal(coffer_random_bytes(a, sizeof a), COFFER_OK);
	assert_int_equal(coffer_random_bytes(b, sizeof b), COFFER_OK);
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(coffer_random_bytes(NULL, 0), COFFER_OK);
	assert_int_equal(coffer_random_bytes(big, sizeof big), COFFER_OK);
	/* 1 MiB of random bytes contains every byte value */
	unsigned char seen[256] = {0};
	for (size_t i = 0; i < sizeof big; i++)
		seen[big[i]] = 1;
	for (int v = 0; v < 256; v++)
		assert_true(seen[v]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_format),
		cmocka_unit_test(test_uuid_differ),
		cmocka_unit_test(test_uuid_bits_vary),
		cmocka_unit_test(test_random_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
