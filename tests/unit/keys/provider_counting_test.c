/* provider_counting_test.c - the counting provider: every call forwarded to
 * the inner provider (whose own counters still count it) and reported to the
 * hook with the table read from the call's encryption context or grant
 * constraint; calls naming no table reported without one; a failure's code
 * and message reach the caller unchanged whatever the hook does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keys.h"
#include "keys_helper.h"

struct seen {
	int n;
	char ks[8][32], table[8][32];
	enum coffer_key_provider_op op[8];
	coffer_rc rc[8];
};

static void hook(void *arg, const char *ks, const char *table, enum coffer_key_provider_op op, coffer_rc rc)
{
	struct seen *s = arg;
	assert_true(s->n < 8);
	snprintf(s->ks[s->n], sizeof(s->ks[0]), "%s", ks ? ks : "-");
	snprintf(s->table[s->n], sizeof(s->table[0]), "%s", table ? table : "-");
	s->op[s->n] = op;
	s->rc[s->n] = rc;
	s->n++;
	coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE, "the hook's own error"); /* must not leak */
}

static void test_counting(void **state)
{
	(void)state;
	coffer_crypto_init(false);
	struct fake_kms fk;
	struct seen s;
	memset(&s, 0, sizeof(s));
	struct coffer_key_provider *inner = fake_provider_new(&fk);
	struct coffer_key_provider *p = coffer_key_provider_counting(inner, hook, &s);
	const struct coffer_key_context_pair pairs[] = {
		{"coffer:keyspace", "shop"}, {"coffer:table", "orders"}, {"coffer:table-id", "x"}};
	const struct coffer_key_context ctx = {pairs, 3};
	const struct coffer_key_context_pair other[] = {{"coffer:purpose", "catalog"}};
	const struct coffer_key_context octx = {other, 1};
	struct coffer_secret pt, pt2;
	struct coffer_buf blob = {0};
	char arn[COFFER_KEY_ARN_MAX];

	assert_int_equal(coffer_key_provider_generate_data_key(p, "key-a", &ctx, NULL, &pt, &blob, arn), COFFER_OK);
	assert_int_equal(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &ctx, NULL, NULL, &pt2, arn),
			 COFFER_OK);
	assert_memory_equal(pt.ptr, pt2.ptr, 32);
	coffer_secret_free(&pt2);
	struct coffer_key_description d;
	assert_int_equal(coffer_key_provider_describe_key(p, "key-a", &d), COFFER_OK);
	struct coffer_buf b2 = {0};
	assert_int_equal(coffer_key_provider_generate_data_key(p, "key-a", &octx, NULL, &pt2, &b2, arn), COFFER_OK);
	coffer_secret_free(&pt2);
	/* a refusal: code and message as the inner provider said */
	fake_kms_disable(&fk, "key-a", true);
	assert_int_equal(coffer_key_provider_decrypt(p, coffer_buf_slice(&blob), &ctx, NULL, NULL, &pt2, arn),
			 COFFER_E_KMS_DISABLED);
	assert_null(strstr(coffer_error_msg(), "hook"));
	assert_null(pt2.ptr);

	assert_int_equal(s.n, 5);
	assert_string_equal(s.ks[0], "shop");
	assert_string_equal(s.table[0], "orders");
	assert_int_equal(s.op[0], COFFER_KEY_OP_GENERATE_DATA_KEY);
	assert_int_equal(s.op[1], COFFER_KEY_OP_DECRYPT);
	assert_string_equal(s.table[1], "orders");
	assert_int_equal(s.op[2], COFFER_KEY_OP_DESCRIBE_KEY);
	assert_string_equal(s.table[2], "-");
	assert_string_equal(s.table[3], "-"); /* no table in the context */
	assert_int_equal(s.rc[4], COFFER_E_KMS_DISABLED);
	assert_string_equal(s.table[4], "orders");
	/* the inner provider counted every call too */
	assert_int_equal(coffer_key_provider_total_calls(inner), 5);
	assert_int_equal(coffer_key_provider_calls(inner, COFFER_KEY_OP_DECRYPT), 2);

	coffer_secret_free(&pt);
	coffer_buf_free(&blob);
	coffer_buf_free(&b2);
	coffer_key_provider_free(p);
	coffer_key_provider_free(inner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
