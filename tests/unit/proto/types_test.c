/*
 * types_test.c - the notations of spec section 3: each writer's bytes, each
 * reader's round trip, every bounds failure naming the item and offset, the
 * UTF-8 rules, [value] null / not set / invalid lengths, [inet] sizes, and
 * writers that refuse oversize input without appending anything.
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

static struct coffer_arena arena;

static int setup(void **state)
{
	coffer_arena_init(&arena, 0);
	return 0;
}

static int teardown(void **state)
{
	coffer_arena_free(&arena);
	return 0;
}

static struct coffer_reader reader_of(const struct coffer_buf *b)
{
	struct coffer_reader r;
	coffer_reader_init(&r, coffer_buf_slice(b), "TEST");
	return r;
}

static void test_scalars(void **state)
{
	struct coffer_buf b = {0};
	coffer_proto_put_byte(&b, 0xab);
	coffer_proto_put_short(&b, 0xfffe);
	coffer_proto_put_int(&b, -2);
	coffer_proto_put_long(&b, INT64_MIN + 1);
	coffer_proto_put_consistency(&b, COFFER_PROTO_CL_EACH_QUORUM);
	ph_assert_hex(b.ptr, b.len, "ab fffe fffffffe 8000000000000001 0007");
	struct coffer_reader r = reader_of(&b);
	uint8_t u8;
	uint16_t u16;
	int32_t i32;
	int64_t i64;
	assert_int_equal(coffer_proto_read_byte(&r, "b", &u8), COFFER_OK);
	assert_int_equal(u8, 0xab);
	assert_int_equal(coffer_proto_read_short(&r, "s", &u16), COFFER_OK);
	assert_int_equal(u16, 0xfffe);
	assert_int_equal(coffer_proto_read_int(&r, "i", &i32), COFFER_OK);
	assert_int_equal(i32, -2);
	assert_int_equal(coffer_proto_read_long(&r, "l", &i64), COFFER_OK);
	assert_true(i64 == INT64_MIN + 1);
	assert_int_equal(coffer_proto_read_consistency(&r, "cl", &u16), COFFER_OK);
	assert_int_equal(u16, 7);
	assert_true(coffer_reader_done(&r));
	assert_int_equal(coffer_proto_read_byte(&r, "more", &u8), COFFER_E_PROTOCOL);
	assert_string_equal(coffer_error_msg(),
			    "TEST: more at offset 17: [byte] needs 1 bytes but only 0 remain in the body");
	coffer_buf_free(&b);
}

static void test_strings(void **state)
{
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_put_string(&b, "héllo"), COFFER_OK);
	assert_int_equal(coffer_proto_put_long_string(&b, "SELECT", 6), COFFER_OK);
	assert_int_equal(coffer_proto_put_string(&b, NULL), COFFER_OK); /* NULL writes "" */
	ph_assert_hex(b.ptr, b.len, "0006 68c3a96c6c6f 00000006 53454c454354 0000");
	struct coffer_reader r = reader_of(&b);
	const char *s;
	struct coffer_slice ls;
	assert_int_equal(coffer_proto_read_string(&r, &arena, "s", &s), COFFER_OK);
	assert_string_equal(s, "héllo");
	assert_int_equal(coffer_proto_read_long_string(&r, "ls", &ls), COFFER_OK);
	assert_int_equal(ls.len, 6);
	assert_int_equal(coffer_proto_read_string(&r, &arena, "e", &s), COFFER_OK);
	assert_string_equal(s, "");
	assert_true(coffer_reader_done(&r));

	/* a [string] of 65535 bytes is the largest */
	char *big = malloc(65536);
	memset(big, 'a', 65536);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_string_n(&b, big, 65535), COFFER_OK);
	assert_int_equal(b.len, 65537);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_string_n(&b, big, 65536), COFFER_E_LIMIT);
	assert_int_equal(b.len, 0);
	assert_int_equal(coffer_proto_put_short_bytes(&b, big, 65536), COFFER_E_LIMIT);
	assert_int_equal(b.len, 0);
	/* a list whose second item is too long leaves nothing behind */
	big[65535] = '\0';
	const char *items[] = {"ok", big};
	struct coffer_proto_string_list l = {2, items};
	coffer_buf_put_u8(&b, 1);
	assert_int_equal(coffer_proto_put_string_list(&b, &l), COFFER_OK);
	big[65535] = 'a';
	char *bigger = malloc(65537);
	memset(bigger, 'b', 65536);
	bigger[65536] = '\0';
	items[1] = bigger;
	size_t before = b.len;
	assert_int_equal(coffer_proto_put_string_list(&b, &l), COFFER_E_LIMIT);
	assert_int_equal(b.len, before);
	free(big);
	free(bigger);
	coffer_buf_free(&b);
}

static void expect_read_fail(const char *hex, int which, const char *part)
{
	size_t n;
	uint8_t *p = ph_hex(hex, &n);
	struct coffer_reader r;
	coffer_reader_init(&r, coffer_slice_of(p, n), "TEST");
	const char *s;
	struct coffer_slice sl;
	struct coffer_proto_value v;
	struct coffer_proto_inet in;
	struct coffer_proto_string_list l;
	struct coffer_proto_string_map m;
	struct coffer_proto_string_multimap mm;
	struct coffer_proto_bytes_map bm;
	uint8_t uuid[16];
	uint16_t cl;
	coffer_rc rc = COFFER_OK;
	switch (which) {
	case 0: rc = coffer_proto_read_string(&r, &arena, "item", &s); break;
	case 1: rc = coffer_proto_read_long_string(&r, "item", &sl); break;
	case 2: rc = coffer_proto_read_bytes(&r, "item", &v); break;
	case 3: rc = coffer_proto_read_value(&r, "item", &v); break;
	case 4: rc = coffer_proto_read_short_bytes(&r, "item", &sl); break;
	case 5: rc = coffer_proto_read_inet(&r, "item", &in); break;
	case 6: rc = coffer_proto_read_string_list(&r, &arena, "item", &l); break;
	case 7: rc = coffer_proto_read_string_map(&r, &arena, "item", &m); break;
	case 8: rc = coffer_proto_read_string_multimap(&r, &arena, "item", &mm); break;
	case 9: rc = coffer_proto_read_bytes_map(&r, &arena, "item", &bm); break;
	case 10: rc = coffer_proto_read_uuid(&r, "item", uuid); break;
	case 11: rc = coffer_proto_read_consistency(&r, "item", &cl); break;
	case 12: rc = coffer_proto_read_inetaddr(&r, "item", &in); break;
	}
	assert_int_equal(rc, COFFER_E_PROTOCOL);
	ph_assert_contains(coffer_error_msg(), "TEST: item at offset ");
	ph_assert_contains(coffer_error_msg(), part);
	free(p);
}

static void test_read_failures(void **state)
{
	expect_read_fail("", 0, "[short] needs 2 bytes but only 0 remain");
	expect_read_fail("0005 6162", 0, "[string] length 5 runs past the end of the body (2 bytes");
	expect_read_fail("0002 ff61", 0, "[string] of 2 bytes is not valid UTF-8");
	expect_read_fail("0003 610062", 0, "contains a NUL byte");
	expect_read_fail("000000", 1, "[int] needs 4 bytes but only 3 remain");
	expect_read_fail("80000000", 1, "[long string] has negative length -2147483648");
	expect_read_fail("7fffffff 00", 1, "[long string] length 2147483647 runs past the end");
	expect_read_fail("00000003 0000", 2, "[bytes] length 3 runs past the end");
	expect_read_fail("00000003 0000", 3, "[value] length 3 runs past the end");
	expect_read_fail("fffffffd", 3, "[value] has invalid length -3");
	expect_read_fail("0003 00", 4, "[short bytes] length 3 runs past the end");
	expect_read_fail("06 010203040506 00000000", 5, "address size 6 is neither 4");
	expect_read_fail("04 010203", 5, "address needs 4 bytes but only 3 remain");
	expect_read_fail("04 01020304 0000", 5, "[int] needs 4 bytes but only 2 remain");
	expect_read_fail("10 0102030405060708", 12, "address needs 16 bytes");
	expect_read_fail("00", 12, "address size 0");
	expect_read_fail("ffff 0000", 6, "count 65535 needs at least 131070 bytes but only 2 remain");
	expect_read_fail("0002 0001 61 00", 6, "[short] needs 2 bytes but only 1 remain");
	expect_read_fail("0001 0001 61 00", 7, "[short] needs 2 bytes but only 1 remain");
	expect_read_fail("0002 0000 0000", 7, "count 2 needs at least 8 bytes");
	expect_read_fail("0001 0001 61 0001", 8, "count 1 needs at least 2 bytes but only 0 remain");
	expect_read_fail("0001 0001 61 000200", 9, "[int] needs 4 bytes but only 3 remain");
	expect_read_fail("0001 0000 00000005 00", 9, "[bytes] length 5 runs past");
	expect_read_fail("00112233445566778899aabbccddee", 10, "[uuid] needs 16 bytes but only 15");
	expect_read_fail("000b", 11, "unknown code 0x000b for a consistency level");
}

static void test_values(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_value v[4] = {coffer_proto_value_of("ab", 2), coffer_proto_value_of("", 0),
					  coffer_proto_value_null(),
					  {COFFER_PROTO_VALUE_UNSET, {NULL, 0}}};
	for (int i = 0; i < 4; i++)
		assert_int_equal(coffer_proto_put_value(&b, &v[i]), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00000002 6162 00000000 ffffffff fffffffe");
	assert_int_equal(coffer_proto_put_bytes(&b, &v[3]), COFFER_E_INVALID);
	struct coffer_reader r = reader_of(&b);
	struct coffer_proto_value g;
	assert_int_equal(coffer_proto_read_value(&r, "v", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE);
	assert_int_equal(g.bytes.len, 2);
	assert_int_equal(coffer_proto_read_value(&r, "v", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE);
	assert_int_equal(g.bytes.len, 0);
	assert_int_equal(coffer_proto_read_value(&r, "v", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(coffer_proto_read_value(&r, "v", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE_UNSET);
	/* as [bytes], any negative length is null (spec 3: "If n < 0") */
	r = reader_of(&b);
	r.off = 10;
	assert_int_equal(coffer_proto_read_bytes(&r, "b", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(coffer_proto_read_bytes(&r, "b", &g), COFFER_OK);
	assert_int_equal(g.kind, COFFER_PROTO_VALUE_NULL);
	coffer_buf_free(&b);
}

static void test_collections_and_inet(void **state)
{
	struct coffer_buf b = {0};
	const char *items[] = {"a", "bc"};
	const char *keys[] = {"k"};
	const char *vals[] = {"v"};
	struct coffer_proto_string_list lists[1] = {{2, items}};
	struct coffer_proto_value bv[1] = {coffer_proto_value_of("\x01", 1)};
	struct coffer_proto_string_list l = {2, items};
	struct coffer_proto_string_map m = {1, keys, vals};
	struct coffer_proto_string_multimap mm = {1, keys, lists};
	struct coffer_proto_bytes_map bm = {1, keys, bv};
	struct coffer_proto_inet v4 = {.len = 4, .addr = {10, 0, 0, 1}, .port = 9042};
	struct coffer_proto_inet v6 = {.len = 16, .addr = {[15] = 1}, .port = 0};
	const uint8_t uuid[16] = {0xde, 0xad, [15] = 0xef};
	assert_int_equal(coffer_proto_put_string_list(&b, &l), COFFER_OK);
	assert_int_equal(coffer_proto_put_string_map(&b, &m), COFFER_OK);
	assert_int_equal(coffer_proto_put_string_multimap(&b, &mm), COFFER_OK);
	assert_int_equal(coffer_proto_put_bytes_map(&b, &bm), COFFER_OK);
	assert_int_equal(coffer_proto_put_inet(&b, &v4), COFFER_OK);
	assert_int_equal(coffer_proto_put_inetaddr(&b, &v6), COFFER_OK);
	coffer_proto_put_uuid(&b, uuid);
	ph_assert_hex(b.ptr, b.len,
		      "0002 0001 61 0002 6263"
		      "0001 0001 6b 0001 76"
		      "0001 0001 6b 0002 0001 61 0002 6263"
		      "0001 0001 6b 00000001 01"
		      "04 0a000001 00002352"
		      "10 00000000000000000000000000000001"
		      "dead" "00000000000000000000000000" "ef");
	struct coffer_reader r = reader_of(&b);
	struct coffer_proto_string_list gl;
	struct coffer_proto_string_map gm;
	struct coffer_proto_string_multimap gmm;
	struct coffer_proto_bytes_map gbm;
	struct coffer_proto_inet g4, g6;
	uint8_t gu[16];
	assert_int_equal(coffer_proto_read_string_list(&r, &arena, "l", &gl), COFFER_OK);
	assert_string_equal(gl.items[1], "bc");
	assert_int_equal(coffer_proto_read_string_map(&r, &arena, "m", &gm), COFFER_OK);
	assert_string_equal(gm.values[0], "v");
	assert_int_equal(coffer_proto_read_string_multimap(&r, &arena, "mm", &gmm), COFFER_OK);
	assert_int_equal(gmm.values[0].n, 2);
	assert_int_equal(coffer_proto_read_bytes_map(&r, &arena, "bm", &gbm), COFFER_OK);
	assert_int_equal(gbm.values[0].bytes.ptr[0], 1);
	assert_int_equal(coffer_proto_read_inet(&r, "i", &g4), COFFER_OK);
	assert_int_equal(g4.port, 9042);
	assert_memory_equal(g4.addr, v4.addr, 4);
	assert_int_equal(coffer_proto_read_inetaddr(&r, "ia", &g6), COFFER_OK);
	assert_int_equal(g6.len, 16);
	assert_int_equal(g6.addr[15], 1);
	assert_int_equal(coffer_proto_read_uuid(&r, "u", gu), COFFER_OK);
	assert_memory_equal(gu, uuid, 16);
	assert_true(coffer_reader_done(&r));

	struct coffer_proto_inet bad = {.len = 5};
	size_t before = b.len;
	assert_int_equal(coffer_proto_put_inet(&b, &bad), COFFER_E_INVALID);
	assert_int_equal(b.len, before);
	coffer_buf_free(&b);
}

static void test_utf8(void **state)
{
	const char *good[] = {"", "ascii", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
			      "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf"};
	const char *bad[] = {"\x80", "\xc3", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
			     "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf4\x90\x80\x80",
			     "\xf8\x88\x80\x80\x80", "\xff", "\xe2\x82", "\xe2\x28\xa1"};
	struct coffer_buf b = {0};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *s;
		coffer_buf_reset(&b);
		assert_int_equal(coffer_proto_put_string(&b, good[i]), COFFER_OK);
		struct coffer_reader r = reader_of(&b);
		assert_int_equal(coffer_proto_read_string(&r, &arena, "s", &s), COFFER_OK);
		assert_string_equal(s, good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *s;
		coffer_buf_reset(&b);
		assert_int_equal(coffer_proto_put_string(&b, bad[i]), COFFER_OK);
		struct coffer_reader r = reader_of(&b);
		assert_int_equal(coffer_proto_read_string(&r, &arena, "s", &s), COFFER_E_PROTOCOL);
		ph_assert_contains(coffer_error_msg(), "not valid UTF-8");
	}
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_read_failures),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_collections_and_inet),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
