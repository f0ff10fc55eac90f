/*
 * result_test.c - the per-thread error record, wrapping, the guard macros and
 * the code names (general and AWS KMS exception names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "util/result.h"

static coffer_rc guard_bail(int x)
{
	ENSURE(x > 0, COFFER_E_INVALID, "x must be positive, got %d", x);
	if (x == 7)
		BAIL(COFFER_E_LIMIT, "seven is too many");
	return COFFER_OK;
}

static coffer_rc guard_try(int x)
{
	TRY(guard_bail(x));
	return COFFER_OK;
}

static int cleaned;

static coffer_rc guard_fail(int x)
{
	coffer_rc rc = COFFER_OK;

	cleaned = 0;
	TRY_FAIL(guard_bail(x));
	ENSURE_FAIL(x != 3, COFFER_E_STATE, "three is forbidden");
	if (x == 4)
		BAIL_FAIL(COFFER_E_CORRUPT, "four is corrupt");
fail:
	cleaned = 1;
	return rc;
}

static void test_set_and_read(void **state)
{
	coffer_error_clear();
	assert_string_equal(coffer_error_msg(), "");
	assert_string_equal(coffer_error_where(), "");
	assert_int_equal(coffer_error_code(), COFFER_OK);

	assert_int_equal(coffer_error_set(COFFER_E_IO, "a.c:1", "disk %s", "gone"), COFFER_E_IO);
	assert_string_equal(coffer_error_msg(), "disk gone");
	assert_string_equal(coffer_error_where(), "a.c:1");
	assert_int_equal(coffer_error_code(), COFFER_E_IO);

	coffer_error_clear();
	assert_string_equal(coffer_error_msg(), "");
	assert_int_equal(coffer_error_code(), COFFER_OK);
}

static void test_guards(void **state)
{
	assert_int_equal(guard_try(1), COFFER_OK);
	assert_int_equal(guard_try(-2), COFFER_E_INVALID);
	assert_string_equal(coffer_error_msg(), "x must be positive, got -2");
	assert_non_null(strstr(coffer_error_where(), "result_test.c:"));

	assert_int_equal(guard_try(7), COFFER_E_LIMIT);
	assert_string_equal(coffer_error_msg(), "seven is too many");

	assert_int_equal(guard_fail(1), COFFER_OK);
	assert_int_equal(cleaned, 1);
	assert_int_equal(guard_fail(-1), COFFER_E_INVALID);
	assert_int_equal(cleaned, 1);
	assert_int_equal(guard_fail(3), COFFER_E_STATE);
	assert_string_equal(coffer_error_msg(), "three is forbidden");
	assert_int_equal(guard_fail(4), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(), "four is corrupt");
}

static void test_wrap(void **state)
{
	coffer_error_set(COFFER_E_CORRUPT, "b.c:9", "block %d bad tag", 3);
	assert_int_equal(coffer_error_wrap("reading table %s", "t1"), COFFER_E_CORRUPT);
	assert_string_equal(coffer_error_msg(), "reading table t1: block 3 bad tag");
	assert_string_equal(coffer_error_where(), "b.c:9");
	assert_int_equal(coffer_error_code(), COFFER_E_CORRUPT);
	coffer_error_wrap("opening");
	assert_string_equal(coffer_error_msg(), "opening: reading table t1: block 3 bad tag");

	/* Wrapping an empty message gives just the prefix. */
	coffer_error_clear();
	coffer_error_wrap("ctx");
	assert_string_equal(coffer_error_msg(), "ctx");
}

static void test_self_reference_and_truncation(void **state)
{
	char big[2000];
	size_t i;

	coffer_error_set(COFFER_E_IO, "x", "inner");
	coffer_error_set(COFFER_E_IO, "x", "outer(%s)", coffer_error_msg());
	assert_string_equal(coffer_error_msg(), "outer(inner)");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	coffer_error_set(COFFER_E_IO, "x", "%s", big);
	assert_int_equal(strlen(coffer_error_msg()), 511);
	for (i = 0; i < 5; i++)
		coffer_error_wrap("%s", big);
	assert_int_equal(strlen(coffer_error_msg()), 511);
}

static void *thread_main(void *arg)
{
	coffer_error_set(COFFER_E_TIMEOUT, "t.c:1", "in thread");
	return NULL;
}

static void test_thread_local(void **state)
{
	pthread_t t;

	coffer_error_set(COFFER_E_AUTH, "m.c:1", "main");
	assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(coffer_error_msg(), "main");
	assert_int_equal(coffer_error_code(), COFFER_E_AUTH);
}

static void test_names(void **state)
{
	int c;

	assert_string_equal(coffer_rc_name(COFFER_OK), "COFFER_OK");
	assert_string_equal(coffer_rc_name(COFFER_E_CORRUPT), "COFFER_E_CORRUPT");
	assert_string_equal(coffer_rc_name(COFFER_E_INVALID), "COFFER_E_INVALID");
	assert_string_equal(coffer_rc_name(COFFER_E_NOSPACE), "COFFER_E_NOSPACE");
	assert_string_equal(coffer_rc_name(COFFER_E_PROTOCOL), "COFFER_E_PROTOCOL");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_NOT_FOUND), "NotFoundException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_DISABLED), "DisabledException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INVALID_STATE), "KMSInvalidStateException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INVALID_CIPHERTEXT),
			    "InvalidCiphertextException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_VALIDATION), "ValidationException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INTERNAL), "KMSInternalException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_MALFORMED_POLICY),
			    "MalformedPolicyDocumentException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INVALID_MARKER), "InvalidMarkerException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_UNSUPPORTED_OPERATION),
			    "UnsupportedOperationException");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_INVALID_ARN), "InvalidArnException");

	/* Every defined code has a real name, and out-of-range codes do not crash. */
	for (c = COFFER_E_INVALID; c <= COFFER_E_PROTOCOL; c++)
		assert_int_equal(strncmp(coffer_rc_name((coffer_rc)c), "COFFER_E_", 9), 0);
	for (c = COFFER_E_KMS_NOT_FOUND; c < COFFER_E_KMS_LAST; c++) {
		const char *n = coffer_rc_name((coffer_rc)c);

		assert_string_not_equal(n, "COFFER_E_UNKNOWN");
		assert_non_null(strstr(n, "Exception"));
	}
	assert_string_equal(coffer_rc_name((coffer_rc)17), "COFFER_E_UNKNOWN");
	assert_string_equal(coffer_rc_name(COFFER_E_KMS_LAST), "COFFER_E_UNKNOWN");
	assert_string_equal(coffer_rc_name((coffer_rc)-1), "COFFER_E_UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_and_read),
		cmocka_unit_test(test_guards),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_self_reference_and_truncation),
		cmocka_unit_test(test_thread_local),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
