/*
 * auth_test.c - SASL PLAIN parsing of the first AUTH_RESPONSE: the forms
 * drivers send, and every malformed token refused as Bad credentials
 * (0x0100) with a message that quotes none of the token's bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto_helper.h"

static void test_plain_forms(void **state)
{
	struct coffer_proto_plain p;
	struct coffer_proto_err err = {.version = 0x84, .stream = 4};
	/* what the Python and Node drivers send: empty authzid */
	struct coffer_proto_value t = coffer_proto_value_of("\0cassandra\0cassandra", 20);
	assert_int_equal(coffer_proto_sasl_plain_parse(&t, &p, &err), COFFER_OK);
	assert_int_equal(p.authzid.len, 0);
	assert_int_equal(p.username.len, 9);
	assert_memory_equal(p.username.ptr, "cassandra", 9);
	assert_int_equal(p.password.len, 9);
	/* authzid equal to the username */
	t = coffer_proto_value_of("bob\0bob\0pw with spaces \xc3\xa9", 23);
	assert_int_equal(coffer_proto_sasl_plain_parse(&t, &p, &err), COFFER_OK);
	assert_int_equal(p.authzid.len, 3);
	assert_int_equal(p.password.len, 15);
	/* a password may contain anything but NUL, even invalid UTF-8 */
	t = coffer_proto_value_of("\0u\0\xff\xfe", 5);
	assert_int_equal(coffer_proto_sasl_plain_parse(&t, &p, &err), COFFER_OK);
	assert_int_equal(p.password.len, 2);
}

static void expect_bad(const void *tok, size_t n, bool null, const char *part)
{
	struct coffer_proto_plain p;
	struct coffer_proto_err err = {.version = 0x84, .stream = 4};
	struct coffer_proto_value t = null ? coffer_proto_value_null() : coffer_proto_value_of(tok, n);
	assert_int_equal(coffer_proto_sasl_plain_parse(&t, &p, &err), COFFER_E_INVALID);
	assert_int_equal(err.code, COFFER_CQL_BAD_CREDENTIALS);
	assert_int_equal(err.version, 0x84); /* the caller's answer fields stay */
	assert_int_equal(err.stream, 4);
	ph_assert_contains(err.message, "SASL PLAIN: ");
	ph_assert_contains(err.message, part);
	assert_null(strstr(err.message, "hunter2"));
	assert_null(strstr(err.message, "alice"));
}

static void test_plain_refusals(void **state)
{
	expect_bad(NULL, 0, true, "token is null");
	expect_bad("", 0, false, "no NUL separator");
	expect_bad("alicehunter2", 12, false, "no NUL separator");
	expect_bad("alice\0hunter2", 13, false, "one NUL separator");
	expect_bad("\0alice\0hunter2\0", 15, false, "more than two NUL separators");
	expect_bad("\0\0hunter2", 9, false, "username is empty");
	expect_bad("\0alice\0", 7, false, "password is empty");
	expect_bad("\0al\xc0\xafice\0hunter2", 15, false, "username is not valid UTF-8");
	expect_bad("root\0alice\0hunter2", 18, false, "authorization identity other than the "
		   "username");
	char *big = calloc(1, 16385);
	memcpy(big, "\0alice\0", 7);
	memset(big + 7, 'h', 16385 - 7);
	expect_bad(big, 16385, false, "longer than 16384 bytes");
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_forms),
		cmocka_unit_test(test_plain_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
