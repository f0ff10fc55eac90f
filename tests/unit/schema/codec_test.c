/*
 * codec_test.c - serialized values: every type's validation (valid, empty and
 * invalid forms with their messages), Cassandra's clustering order (negative
 * numbers, varints of different lengths, decimals of different scales, NaN and
 * -0.0, uuid versions, timeuuid timestamps and signed low bytes, tuples with
 * nulls, frozen collections), CQL literal formatting, set/map normalisation,
 * and the shared uuid/date/varint helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

static struct coffer_datatype *T(const char *text)
{
	struct coffer_datatype *t = NULL;

	if (coffer_datatype_parse(text, strlen(text), NULL, &t) != COFFER_OK)
		fail_msg("type %s: %s", text, coffer_error_msg());
	return t;
}

static struct coffer_slice S(const void *p, size_t n)
{
	return coffer_slice_of(p, n);
}

static coffer_rc V(const char *type, const void *p, size_t n)
{
	struct coffer_datatype *t = T(type);
	coffer_rc rc = coffer_value_validate(t, S(p, n));

	coffer_datatype_free(t);
	return rc;
}

static int C(const char *type, const void *a, size_t na, const void *b, size_t nb)
{
	struct coffer_datatype *t = T(type);
	int c = coffer_value_compare(t, S(a, na), S(b, nb));
	int r = coffer_value_compare(t, S(b, nb), S(a, na));

	/* antisymmetry always */
	assert_int_equal(c < 0, r > 0);
	assert_int_equal(c == 0, r == 0);
	coffer_datatype_free(t);
	return c;
}

static void expect_fmt(const char *type, const void *p, size_t n, const char *want)
{
	struct coffer_datatype *t = T(type);
	struct coffer_buf b = {0};

	coffer_value_format(t, S(p, n), &b);
	assert_string_equal(coffer_buf_cstr(&b), want);
	coffer_buf_free(&b);
	coffer_datatype_free(t);
}

static void test_fixed_width(void **state)
{
	static const uint8_t z[17] = {0};
	static const struct {
		const char *type;
		size_t size;
	} cases[] = {{"int", 4},   {"bigint", 8},    {"smallint", 2}, {"tinyint", 1},
		     {"float", 4}, {"double", 8},    {"boolean", 1},  {"uuid", 16},
		     {"date", 4},  {"timestamp", 8}, {"counter", 8}};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(V(cases[i].type, z, cases[i].size), COFFER_OK);
		assert_int_equal(V(cases[i].type, z, 0), COFFER_OK); /* the empty value */
		assert_int_equal(V(cases[i].type, z, cases[i].size + 1), COFFER_E_INVALID);
		assert_non_null(strstr(coffer_error_msg(), cases[i].type));
		assert_non_null(strstr(coffer_error_msg(), "expected"));
		if (cases[i].size > 1)
			assert_int_equal(V(cases[i].type, z, cases[i].size - 1), COFFER_E_INVALID);
	}
	assert_int_equal(V("int", z, 3), COFFER_E_INVALID);
	assert_string_equal(coffer_error_msg(), "Invalid value for int: expected 4 bytes, got 3");
}

static void test_variable_scalars(void **state)
{
	static const uint8_t t1[16] = {0, 0, 0, 0, 0, 0, 0x11, 0, 0x80};
	static const uint8_t t4[16] = {0, 0, 0, 0, 0, 0, 0x41, 0, 0x80};
	uint8_t tm[8];

	assert_int_equal(V("varint", "", 0), COFFER_OK);
	assert_int_equal(V("varint", "\x01\x02\x03", 3), COFFER_OK);
	assert_int_equal(V("decimal", "\0\0\0\x02\x05", 5), COFFER_OK);
	assert_int_equal(V("decimal", "\0\0\0", 3), COFFER_E_INVALID);
	assert_int_equal(V("timeuuid", t1, 16), COFFER_OK);
	assert_int_equal(V("timeuuid", t4, 16), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "version 1"));
	assert_int_equal(V("timeuuid", t1, 15), COFFER_E_INVALID);
	assert_int_equal(V("uuid", t4, 16), COFFER_OK);
	coffer_store_u64(tm, (uint64_t)COFFER_TIME_MAX);
	assert_int_equal(V("time", tm, 8), COFFER_OK);
	coffer_store_u64(tm, (uint64_t)COFFER_TIME_MAX + 1);
	assert_int_equal(V("time", tm, 8), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "time"));
	coffer_store_u64(tm, (uint64_t)-1);
	assert_int_equal(V("time", tm, 8), COFFER_E_INVALID);
	assert_int_equal(V("time", tm, 4), COFFER_E_INVALID);
	assert_int_equal(V("inet", "\x7f\0\0\x01", 4), COFFER_OK);
	assert_int_equal(V("inet", tm, 8), COFFER_E_INVALID);
	assert_int_equal(V("inet", t1, 16), COFFER_OK);
	assert_int_equal(V("inet", t1, 5), COFFER_E_INVALID);
	assert_int_equal(V("ascii", "hello", 5), COFFER_OK);
	assert_int_equal(V("ascii", "h\xc3\xa9", 3), COFFER_E_INVALID);
	assert_string_equal(coffer_error_msg(), "Invalid value for ascii: non-ASCII byte at offset 1");
	assert_int_equal(V("text", "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12), COFFER_OK);
	assert_int_equal(V("text", "\xc3", 1), COFFER_E_INVALID);            /* truncated */
	assert_int_equal(V("text", "\xc0\xaf", 2), COFFER_E_INVALID);        /* overlong */
	assert_int_equal(V("text", "\xed\xa0\x80", 3), COFFER_E_INVALID);    /* surrogate */
	assert_int_equal(V("text", "\xf4\x90\x80\x80", 4), COFFER_E_INVALID); /* > U+10FFFF */
	assert_int_equal(V("text", "a\xff", 2), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "UTF-8 at offset 1"));
	assert_int_equal(V("blob", "\xff\x00", 2), COFFER_OK);
	/* duration: months 1, days 2, nanos 3 zig-zag: 2, 4, 6 */
	assert_int_equal(V("duration", "\x02\x04\x06", 3), COFFER_OK);
	assert_int_equal(V("duration", "\x02\x04", 2), COFFER_E_INVALID);
	assert_int_equal(V("duration", "\x02\x03\x06", 3), COFFER_E_INVALID); /* mixed signs */
	assert_int_equal(V("duration", "\x02\x04\x06\x00", 4), COFFER_E_INVALID);
	assert_int_equal(V("duration", "\xc0\x01", 2), COFFER_E_INVALID); /* truncated vint */
}

static void test_collections(void **state)
{
	/* list<int> [1, 2] */
	static const uint8_t l2[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2};
	/* map<text, int> {'a': 1} */
	static const uint8_t m1[] = {0, 0, 0, 1, 0, 0, 0, 1, 'a', 0, 0, 0, 4, 0, 0, 0, 1};
	static const uint8_t lnull[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t lneg[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t lhuge[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	static const uint8_t lbad_elem[] = {0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3};
	static const uint8_t lbadlen[] = {0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3};
	/* tuple<int, text>: (7, null) and (7) */
	static const uint8_t tu[] = {0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t tu3[] = {0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff};

	assert_int_equal(V("list<int>", l2, sizeof(l2)), COFFER_OK);
	assert_int_equal(V("set<int>", l2, sizeof(l2)), COFFER_OK);
	assert_int_equal(V("list<int>", l2, sizeof(l2) - 1), COFFER_E_INVALID);
	assert_int_equal(V("list<int>", "\0\0\0\0", 4), COFFER_OK);
	assert_int_equal(V("list<int>", "\0\0\0\0\0", 5), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "trailing"));
	assert_int_equal(V("list<int>", "", 0), COFFER_E_INVALID);
	assert_int_equal(V("list<int>", lnull, sizeof(lnull)), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "null is not supported inside collections"));
	assert_int_equal(V("list<int>", lneg, sizeof(lneg)), COFFER_E_INVALID);
	assert_int_equal(V("list<int>", lhuge, sizeof(lhuge)), COFFER_E_INVALID);
	assert_int_equal(V("list<int>", lbad_elem, sizeof(lbad_elem)), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "element 0 of list"));
	assert_non_null(strstr(coffer_error_msg(), "Invalid value for int"));
	assert_int_equal(V("list<int>", lbadlen, sizeof(lbadlen)), COFFER_E_INVALID);
	assert_int_equal(V("map<text, int>", m1, sizeof(m1)), COFFER_OK);
	assert_int_equal(V("map<text, int>", m1, sizeof(m1) - 4), COFFER_E_INVALID);
	assert_int_equal(V("map<int, int>", m1, sizeof(m1)), COFFER_E_INVALID);
	assert_int_equal(V("tuple<int, text>", tu, sizeof(tu)), COFFER_OK);
	assert_int_equal(V("tuple<int, text>", tu, 8), COFFER_OK); /* fewer fields */
	assert_int_equal(V("tuple<int, text>", "", 0), COFFER_OK);
	assert_int_equal(V("tuple<int, text>", tu3, sizeof(tu3)), COFFER_E_INVALID);
	assert_int_equal(V("tuple<int, text>", tu, 6), COFFER_E_INVALID);
	assert_int_equal(V("tuple<text, text>", tu, sizeof(tu)), COFFER_OK);
	assert_int_equal(V("tuple<bigint, text>", tu, sizeof(tu)), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "field 0"));
}

static void be32(uint8_t *p, int32_t v) { coffer_store_u32(p, (uint32_t)v); }

static void test_compare_integers(void **state)
{
	uint8_t a[8], b[8];

	be32(a, -5);
	be32(b, 3);
	assert_true(C("int", a, 4, b, 4) < 0);
	be32(a, INT32_MIN);
	be32(b, INT32_MAX);
	assert_true(C("int", a, 4, b, 4) < 0);
	assert_true(C("int", a, 4, a, 4) == 0);
	coffer_store_u64(a, (uint64_t)-1);
	coffer_store_u64(b, 0);
	assert_true(C("bigint", a, 8, b, 8) < 0);
	assert_true(C("timestamp", a, 8, b, 8) < 0);
	assert_true(C("smallint", "\xff\xff", 2, "\x00\x01", 2) < 0);
	assert_true(C("tinyint", "\x80", 1, "\x7f", 1) < 0);
	/* date is unsigned: 2^31 (epoch) after 2^31 - 1 */
	assert_true(C("date", "\x80\0\0\0", 4, "\x7f\xff\xff\xff", 4) > 0);
	/* empty sorts first */
	assert_true(C("int", "", 0, "\x80\0\0\0", 4) < 0);
	assert_true(C("boolean", "\x00", 1, "\x01", 1) < 0);
	assert_true(C("text", "abc", 3, "abd", 3) < 0);
	assert_true(C("text", "ab", 2, "abc", 3) < 0);
	assert_true(C("blob", "\x01", 1, "\xff", 1) < 0);
	assert_true(C("ascii", "Z", 1, "a", 1) < 0);
	assert_true(C("inet", "\x0a\0\0\x01", 4, "\x0a\0\0\x02", 4) < 0);
}

static void test_compare_varint(void **state)
{
	/* -129 (2 bytes) < -128 (1 byte) < -1 < 0 < 127 < 128 (2 bytes) < 65536 */
	static const struct {
		const char *b;
		size_t n;
	} v[] = {{"\xfe\xfe\xff", 3}, {"\xff\x7f", 2}, {"\x80", 1}, {"\xff", 1}, {"\x00", 1},
		 {"\x7f", 1}, {"\x00\x80", 2}, {"\x01\x00\x00", 3}};
	size_t i, j;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (j = 0; j < sizeof(v) / sizeof(v[0]); j++) {
			int c = C("varint", v[i].b, v[i].n, v[j].b, v[j].n);

			assert_int_equal(c < 0, i < j);
			assert_int_equal(c == 0, i == j);
		}
	/* a non-minimal encoding equals the minimal one */
	assert_int_equal(C("varint", "\x00\x00\x05", 3, "\x05", 1), 0);
	assert_int_equal(C("varint", "\xff\xff\xfb", 3, "\xfb", 1), 0);
}

static void test_compare_decimal(void **state)
{
	/* 1.5 (15, scale 1) == 1.50 (150, scale 2) < 2 (2, scale 0) < 10 (1, scale -1) */
	static const uint8_t d15[] = {0, 0, 0, 1, 15};
	static const uint8_t d150[] = {0, 0, 0, 2, 0, 150};
	static const uint8_t d2[] = {0, 0, 0, 0, 2};
	static const uint8_t d10[] = {0xff, 0xff, 0xff, 0xff, 1};
	static const uint8_t dm1[] = {0, 0, 0, 0, 0xff};       /* -1 */
	static const uint8_t dm01[] = {0, 0, 0, 1, 0xff};      /* -0.1 */
	static const uint8_t dzero[] = {0, 0, 0, 5, 0};        /* 0.00000 */
	static const uint8_t dsmall[] = {0, 0, 0, 30, 1};      /* 1e-30 */

	assert_int_equal(C("decimal", d15, 5, d150, 6), 0);
	assert_true(C("decimal", d15, 5, d2, 5) < 0);
	assert_true(C("decimal", d2, 5, d10, 5) < 0);
	assert_true(C("decimal", dm1, 5, dm01, 5) < 0);
	assert_true(C("decimal", dm01, 5, dzero, 5) < 0);
	assert_true(C("decimal", dzero, 5, dsmall, 5) < 0);
	assert_true(C("decimal", dsmall, 5, d15, 5) < 0);
}

static void put_float(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	coffer_store_u32(p, u);
}

static void put_double(uint8_t *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	coffer_store_u64(p, u);
}

static void test_compare_floats(void **state)
{
	const double ds[] = {-INFINITY, -1e300, -1.5, -0.0, 0.0, 1e-300, 2.5, INFINITY, NAN};
	size_t i, j;
	uint8_t a[8], b[8];

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
		for (j = 0; j < sizeof(ds) / sizeof(ds[0]); j++) {
			put_double(a, ds[i]);
			put_double(b, ds[j]);
			assert_int_equal(C("double", a, 8, b, 8) < 0, i < j);
			put_float(a, (float)ds[i]);
			put_float(b, (float)ds[j]);
			if ((float)ds[i] != (float)ds[j] || signbit(ds[i]) != signbit(ds[j]))
				assert_int_equal(C("float", a, 4, b, 4) < 0, i < j);
		}
	/* every NaN is equal to every other */
	coffer_store_u64(a, 0x7ff8000000000001ull);
	coffer_store_u64(b, 0xfff8000000000000ull);
	assert_int_equal(C("double", a, 8, b, 8), 0);
	put_double(b, INFINITY);
	assert_true(C("double", a, 8, b, 8) > 0);
}

static void test_compare_uuids(void **state)
{
	/* v1 uuids: time_low, time_mid, time_hi|version; t_early has a smaller
	 * timestamp but a bigger time_low */
	static const uint8_t t_early[16] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x11, 0x00, 0x80};
	static const uint8_t t_late[16] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00, 0x80};
	static const uint8_t t_late_neg[16] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00,
					       0x80, 0, 0, 0, 0, 0, 0, 0x80};
	static const uint8_t t_late_pos[16] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00,
					       0x80, 0, 0, 0, 0, 0, 0, 0x7f};
	static const uint8_t v4a[16] = {0x00, 0, 0, 0, 0, 0, 0x40};
	static const uint8_t v4b[16] = {0x10, 0, 0, 0, 0, 0, 0x40};

	assert_true(C("timeuuid", t_early, 16, t_late, 16) < 0);
	assert_true(C("uuid", t_early, 16, t_late, 16) < 0);
	/* timeuuid: low bytes compared signed, so 0x80 < 0x7f */
	assert_true(C("timeuuid", t_late_neg, 16, t_late_pos, 16) < 0);
	/* uuid: low bytes unsigned */
	assert_true(C("uuid", t_late_neg, 16, t_late_pos, 16) > 0);
	/* uuid: version first: any v1 sorts before any v4 */
	assert_true(C("uuid", t_late, 16, v4a, 16) < 0);
	assert_true(C("uuid", v4a, 16, v4b, 16) < 0);
	assert_int_equal(C("uuid", v4a, 16, v4a, 16), 0);
}

static void test_compare_tuples_and_frozen(void **state)
{
	/* (1, null) < (1, 'a') < (2, null); (1) < (1, null)?: shorter first */
	static const uint8_t a[] = {0, 0, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t b[] = {0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 'a'};
	static const uint8_t c[] = {0, 0, 0, 4, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t d[] = {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe}; /* (-2) */
	/* frozen<list<int>>: [1, 2] vs [1, 2, 0] vs [1, 3] vs [-1, 9] */
	static const uint8_t l12[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2};
	static const uint8_t l120[] = {0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2,
				       0, 0, 0, 4, 0, 0, 0, 0};
	static const uint8_t l13[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 3};
	static const uint8_t lm1[] = {0, 0, 0, 2, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff,
				      0, 0, 0, 4, 0, 0, 0, 9};

	assert_true(C("tuple<int, text>", a, sizeof(a), b, sizeof(b)) < 0);
	assert_true(C("tuple<int, text>", b, sizeof(b), c, sizeof(c)) < 0);
	assert_true(C("tuple<int, text>", d, sizeof(d), a, sizeof(a)) < 0);
	assert_true(C("tuple<int, text>", a, 8, a, sizeof(a)) < 0);
	assert_true(C("frozen<list<int>>", l12, sizeof(l12), l120, sizeof(l120)) < 0);
	assert_true(C("frozen<list<int>>", l120, sizeof(l120), l13, sizeof(l13)) < 0);
	assert_true(C("frozen<list<int>>", lm1, sizeof(lm1), l12, sizeof(l12)) < 0);
	assert_true(C("frozen<set<int>>", lm1, sizeof(lm1), l12, sizeof(l12)) < 0);
	/* garbage never crashes */
	assert_true(C("frozen<list<int>>", "\0\0\0\x09\0", 5, l12, sizeof(l12)) != 0 ||
		    C("frozen<list<int>>", "\0\0\0\x09\0", 5, l12, sizeof(l12)) == 0);
	(void)C("tuple<int, text>", "\0\0\0\x09\0", 5, a, sizeof(a));
}

static void test_format(void **state)
{
	uint8_t b[16];
	static const uint8_t u[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
				      0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
	static const uint8_t m1[] = {0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 4, 0, 0, 0, 1,
				     0, 0, 0, 2, 'b', '\'', 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe};
	static const uint8_t tu[] = {0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t l12[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2};

	expect_fmt("text", "it's", 4, "'it''s'");
	expect_fmt("ascii", "", 0, "''");
	expect_fmt("blob", "\xca\xfe", 2, "0xcafe");
	expect_fmt("blob", "", 0, "0x");
	be32(b, -42);
	expect_fmt("int", b, 4, "-42");
	expect_fmt("int", "", 0, "null");
	coffer_store_u64(b, (uint64_t)INT64_MIN);
	expect_fmt("bigint", b, 8, "-9223372036854775808");
	expect_fmt("tinyint", "\x80", 1, "-128");
	expect_fmt("boolean", "\x01", 1, "true");
	expect_fmt("boolean", "\x00", 1, "false");
	expect_fmt("uuid", u, 16, "123e4567-e89b-12d3-a456-426614174000");
	coffer_store_u64(b, 1704164645678ull);
	expect_fmt("timestamp", b, 8, "'2024-01-02T03:04:05.678Z'");
	coffer_store_u64(b, (uint64_t)-1);
	expect_fmt("timestamp", b, 8, "'1969-12-31T23:59:59.999Z'");
	be32(b, (int32_t)(COFFER_DATE_EPOCH + 19724));
	expect_fmt("date", b, 4, "'2024-01-02'");
	be32(b, (int32_t)COFFER_DATE_EPOCH);
	expect_fmt("date", b, 4, "'1970-01-01'");
	be32(b, 0);
	expect_fmt("date", b, 4, "0");
	coffer_store_u64(b, 3723000000001ull);
	expect_fmt("time", b, 8, "'01:02:03.000000001'");
	expect_fmt("inet", "\x7f\0\0\x01", 4, "'127.0.0.1'");
	expect_fmt("inet", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16, "'::1'");
	put_double(b, 1.5);
	expect_fmt("double", b, 8, "1.5");
	put_double(b, 0.1);
	expect_fmt("double", b, 8, "0.1");
	put_double(b, 3.0);
	expect_fmt("double", b, 8, "3.0");
	put_double(b, NAN);
	expect_fmt("double", b, 8, "NaN");
	put_double(b, -INFINITY);
	expect_fmt("double", b, 8, "-Infinity");
	put_float(b, 0.1f);
	expect_fmt("float", b, 4, "0.1");
	expect_fmt("varint", "\xff\x7f", 2, "-129");
	expect_fmt("varint", "\x01\x00\x00\x00\x00\x00\x00\x00\x00", 9, "18446744073709551616");
	expect_fmt("decimal", "\0\0\0\x02\x04\xd2", 6, "12.34");
	expect_fmt("decimal", "\0\0\0\x04\xf6", 5, "-0.0010");
	expect_fmt("decimal", "\xff\xff\xff\xfd\x07", 5, "7E3");
	expect_fmt("decimal", "\0\0\0\0\x07", 5, "7");
	expect_fmt("map<text, int>", m1, sizeof(m1), "{'a': 1, 'b''': -2}");
	expect_fmt("tuple<int, text>", tu, sizeof(tu), "(7, null)");
	expect_fmt("list<int>", l12, sizeof(l12), "[1, 2]");
	expect_fmt("set<int>", l12, sizeof(l12), "{1, 2}");
	expect_fmt("duration", "\x02\x04\x06", 3, "1mo2d3ns");
	expect_fmt("duration", "\x1b\x00\x00", 3, "-1y2mo");
	/* invalid values show as blobs */
	expect_fmt("int", "\x01\x02", 2, "0x0102");
}

static void test_normalize(void **state)
{
	struct coffer_datatype *t = T("set<int>");
	struct coffer_datatype *m = T("map<text, int>");
	struct coffer_buf out = {0};
	/* {3, 1, 3} -> {1, 3} */
	static const uint8_t s[] = {0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1,
				    0, 0, 0, 4, 0, 0, 0, 3};
	static const uint8_t want[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 3};
	/* {'b': 1, 'a': 2, 'b': 3} -> {'a': 2, 'b': 3} */
	static const uint8_t mm[] = {0, 0, 0, 3, 0, 0, 0, 1, 'b', 0, 0, 0, 4, 0, 0, 0, 1,
				     0, 0, 0, 1, 'a', 0, 0, 0, 4, 0, 0, 0, 2,
				     0, 0, 0, 1, 'b', 0, 0, 0, 4, 0, 0, 0, 3};
	static const uint8_t mwant[] = {0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 4, 0, 0, 0, 2,
					0, 0, 0, 1, 'b', 0, 0, 0, 4, 0, 0, 0, 3};

	assert_int_equal(coffer_value_normalize(t, S(s, sizeof(s)), &out), COFFER_OK);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.ptr, want, sizeof(want));
	assert_int_equal(coffer_value_normalize(m, S(mm, sizeof(mm)), &out), COFFER_OK);
	assert_int_equal(out.len, sizeof(mwant));
	assert_memory_equal(out.ptr, mwant, sizeof(mwant));
	assert_int_equal(coffer_value_normalize(t, S(s, 7), &out), COFFER_E_INVALID);
	coffer_buf_free(&out);
	coffer_datatype_free(t);
	coffer_datatype_free(m);
}

static void test_helpers(void **state)
{
	uint8_t u[16];
	char s[COFFER_UUID_STR_LEN + 1];
	struct coffer_buf b = {0};
	int64_t y;
	unsigned m, d;
	static const char *nums[] = {"0", "1", "-1", "127", "128", "-128", "-129", "255", "256",
				     "9223372036854775807", "-9223372036854775808",
				     "123456789012345678901234567890",
				     "-99999999999999999999999999999999999999"};
	size_t i;

	assert_true(coffer_uuid_parse("123E4567-e89b-12d3-a456-426614174000", 36, u));
	coffer_uuid_format(u, s);
	assert_string_equal(s, "123e4567-e89b-12d3-a456-426614174000");
	assert_false(coffer_uuid_parse("123e4567-e89b-12d3-a456-42661417400", 35, u));
	assert_false(coffer_uuid_parse("123e4567-e89b-12d3-a456-42661417400g", 36, u));
	assert_false(coffer_uuid_parse("123e4567ae89b-12d3-a456-426614174000", 36, u));
	assert_int_equal(coffer_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(coffer_days_from_civil(2024, 1, 2), 19724);
	assert_int_equal(coffer_days_from_civil(1969, 12, 31), -1);
	coffer_civil_from_days(-719468, &y, &m, &d);
	assert_int_equal(y, 0);
	assert_int_equal(m, 3);
	assert_int_equal(d, 1);
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct coffer_buf dec = {0};

		coffer_buf_reset(&b);
		assert_int_equal(coffer_varint_from_decimal(nums[i], strlen(nums[i]), &b), COFFER_OK);
		coffer_varint_to_decimal(coffer_buf_slice(&b), &dec);
		assert_string_equal(coffer_buf_cstr(&dec), nums[i]);
		coffer_buf_free(&dec);
	}
	coffer_buf_reset(&b);
	assert_int_equal(coffer_varint_from_decimal("128", 3, &b), COFFER_OK);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.ptr, "\x00\x80", 2);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_varint_from_decimal("-128", 4, &b), COFFER_OK);
	assert_int_equal(b.len, 1);
	assert_memory_equal(b.ptr, "\x80", 1);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_varint_from_decimal("-0", 2, &b), COFFER_OK);
	assert_memory_equal(b.ptr, "\x00", 1);
	assert_int_equal(coffer_varint_from_decimal("12a", 3, &b), COFFER_E_INVALID);
	assert_int_equal(coffer_varint_from_decimal("-", 1, &b), COFFER_E_INVALID);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_width),
		cmocka_unit_test(test_variable_scalars),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_compare_integers),
		cmocka_unit_test(test_compare_varint),
		cmocka_unit_test(test_compare_decimal),
		cmocka_unit_test(test_compare_floats),
		cmocka_unit_test(test_compare_uuids),
		cmocka_unit_test(test_compare_tuples_and_frozen),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
