/*
 * literals_test.c - literal terms coerced to column types: every scalar type
 * from the literal kinds drivers send (including Node's doubles for integer
 * columns and strings for uuids), ranges, dates, times and timestamps in
 * their accepted forms, collections (sorted, deduplicated, nested), tuples,
 * durations, and the refusals in Cassandra's words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cql/cql.h"

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

static const struct coffer_cql_term *term(const char *lit)
{
	char q[1024];
	struct coffer_cql_stmt *s = NULL;

	snprintf(q, sizeof(q), "INSERT INTO t (c) VALUES (%s)", lit);
	if (coffer_cql_parse(&arena, q, strlen(q), &s) != COFFER_OK)
		fail_msg("parse %s: %s", q, coffer_error_msg());
	return s->u.insert.values[0];
}

static coffer_rc co(const char *lit, const char *type, struct coffer_buf *out)
{
	struct coffer_datatype *t = NULL;
	bool is_null = false;
	coffer_rc rc;

	coffer_buf_reset(out);
	if (coffer_datatype_parse(type, strlen(type), NULL, &t) != COFFER_OK)
		fail_msg("type %s", type);
	rc = coffer_cql_literal_coerce(term(lit), t, "c", out, &is_null);
	if (rc == COFFER_OK)
		assert_int_equal(coffer_value_validate(t, coffer_buf_slice(out)), COFFER_OK);
	coffer_datatype_free(t);
	return rc;
}

/* Coerces and formats back as a CQL literal. */
static void ok_fmt(const char *lit, const char *type, const char *want)
{
	struct coffer_buf b = {0}, f = {0};
	struct coffer_datatype *t = NULL;

	if (co(lit, type, &b) != COFFER_OK)
		fail_msg("%s as %s: %s", lit, type, coffer_error_msg());
	assert_int_equal(coffer_datatype_parse(type, strlen(type), NULL, &t), COFFER_OK);
	coffer_value_format(t, coffer_buf_slice(&b), &f);
	if (strcmp(coffer_buf_cstr(&f), want) != 0)
		fail_msg("%s as %s: got %s want %s", lit, type, coffer_buf_cstr(&f), want);
	coffer_datatype_free(t);
	coffer_buf_free(&b);
	coffer_buf_free(&f);
}

static void ok_bytes(const char *lit, const char *type, const void *want, size_t n)
{
	struct coffer_buf b = {0};

	if (co(lit, type, &b) != COFFER_OK)
		fail_msg("%s as %s: %s", lit, type, coffer_error_msg());
	assert_int_equal(b.len, n);
	if (n)
		assert_memory_equal(b.ptr, want, n);
	coffer_buf_free(&b);
}

static void refused(const char *lit, const char *type, const char *msg)
{
	struct coffer_buf b = {0};
	coffer_rc rc = co(lit, type, &b);

	if (rc != COFFER_E_INVALID)
		fail_msg("%s as %s: got %s", lit, type, coffer_rc_name(rc));
	if (msg && strcmp(coffer_error_msg(), msg) != 0)
		fail_msg("%s as %s: '%s' want '%s'", lit, type, coffer_error_msg(), msg);
	assert_int_equal(b.len, 0);
	coffer_buf_free(&b);
}

static void test_integers(void **state)
{
	ok_bytes("42", "int", "\0\0\0\x2a", 4);
	ok_bytes("-1", "int", "\xff\xff\xff\xff", 4);
	ok_bytes("2147483647", "int", "\x7f\xff\xff\xff", 4);
	ok_bytes("-2147483648", "int", "\x80\0\0\0", 4);
	ok_bytes("-9223372036854775808", "bigint", "\x80\0\0\0\0\0\0\0", 8);
	ok_bytes("32767", "smallint", "\x7f\xff", 2);
	ok_bytes("-128", "tinyint", "\x80", 1);
	ok_bytes("5", "counter", "\0\0\0\0\0\0\0\x05", 8);
	/* Node sends numbers as doubles: integral values are accepted */
	ok_bytes("7.0", "int", "\0\0\0\x07", 4);
	ok_bytes("1e3", "bigint", "\0\0\0\0\0\0\x03\xe8", 8);
	ok_fmt("123456789012345678901234567890", "varint", "123456789012345678901234567890");
	ok_fmt("-129", "varint", "-129");
	ok_fmt("12.0", "varint", "12");
	refused("2147483648", "int", "Invalid INTEGER constant (2147483648) for \"c\" of type int");
	refused("-129", "tinyint", "Invalid INTEGER constant (-129) for \"c\" of type tinyint");
	refused("32768", "smallint", NULL);
	refused("9223372036854775808", "bigint", NULL);
	refused("1.5", "int", "Invalid FLOAT constant (1.5) for \"c\" of type int");
	refused("'12'", "int", "Invalid STRING constant (12) for \"c\" of type int");
	refused("true", "int", "Invalid BOOLEAN constant (true) for \"c\" of type int");
	refused("NaN", "int", "Invalid FLOAT constant (NaN) for \"c\" of type int");
	refused("1.5", "varint", NULL);
	refused("[1]", "int", "Invalid list literal for c of type int");
}

static void test_floats(void **state)
{
	ok_fmt("1.5", "double", "1.5");
	ok_fmt("-2", "double", "-2.0");
	ok_fmt("NaN", "double", "NaN");
	ok_fmt("Infinity", "float", "Infinity");
	ok_fmt("-Infinity", "double", "-Infinity");
	ok_fmt("0.1", "float", "0.1");
	ok_fmt("1.25e-3", "decimal", "0.00125");
	ok_fmt("-12.50", "decimal", "-12.50");
	ok_fmt("1E+3", "decimal", "1E3");
	ok_fmt("42", "decimal", "42");
	ok_bytes("1.5", "decimal", "\0\0\0\x01\x0f", 5);
	refused("NaN", "decimal", "Invalid FLOAT constant (NaN) for \"c\" of type decimal");
	refused("'1.5'", "double", "Invalid STRING constant (1.5) for \"c\" of type double");
	refused("0x01", "float", "Invalid HEX constant (0x01) for \"c\" of type float");
}

static void test_text_blob_bool(void **state)
{
	ok_bytes("'it''s'", "text", "it's", 4);
	ok_bytes("$$a$$", "varchar", "a", 1);
	ok_bytes("''", "text", "", 0);
	ok_bytes("'caf\xc3\xa9'", "text", "caf\xc3\xa9", 5);
	ok_bytes("'abc'", "ascii", "abc", 3);
	refused("'caf\xc3\xa9'", "ascii", NULL);
	refused("'a\xff'", "text", NULL);
	refused("1", "text", "Invalid INTEGER constant (1) for \"c\" of type text");
	ok_bytes("0xCAFE", "blob", "\xca\xfe", 2);
	ok_bytes("0x", "blob", "", 0);
	refused("0xABC", "blob", "Invalid HEX constant (0xABC) for \"c\" of type blob");
	refused("'cafe'", "blob", "Invalid STRING constant (cafe) for \"c\" of type blob");
	ok_bytes("TRUE", "boolean", "\x01", 1);
	ok_bytes("false", "boolean", "\x00", 1);
	refused("'true'", "boolean", NULL);
	refused("1", "boolean", NULL);
}

static void test_uuids(void **state)
{
	ok_fmt("123e4567-e89b-12d3-a456-426614174000", "uuid", "123e4567-e89b-12d3-a456-426614174000");
	ok_fmt("'123E4567-E89B-12D3-A456-426614174000'", "uuid",
	       "123e4567-e89b-12d3-a456-426614174000");
	ok_fmt("123e4567-e89b-12d3-a456-426614174000", "timeuuid",
	       "123e4567-e89b-12d3-a456-426614174000");
	refused("123e4567-e89b-42d3-a456-426614174000", "timeuuid",
		"Invalid UUID constant (123e4567-e89b-42d3-a456-426614174000) for \"c\" of type timeuuid");
	refused("'abc'", "uuid", "Invalid STRING constant (abc) for \"c\" of type uuid");
	refused("12", "uuid", "Invalid INTEGER constant (12) for \"c\" of type uuid");
	refused("123e4567-e89b-12d3-a456-426614174000", "text", NULL);
}

static void test_times(void **state)
{
	int64_t us;

	ok_fmt("1704164645678", "timestamp", "'2024-01-02T03:04:05.678Z'");
	ok_fmt("-1", "timestamp", "'1969-12-31T23:59:59.999Z'");
	ok_fmt("'2024-01-02T03:04:05.678Z'", "timestamp", "'2024-01-02T03:04:05.678Z'");
	ok_fmt("'2024-01-02 03:04:05+0000'", "timestamp", "'2024-01-02T03:04:05.000Z'");
	ok_fmt("'2024-01-02 03:04:05.1+01:00'", "timestamp", "'2024-01-02T02:04:05.100Z'");
	ok_fmt("'2024-01-02T03:04-0130'", "timestamp", "'2024-01-02T04:34:00.000Z'");
	ok_fmt("'2024-01-02'", "timestamp", "'2024-01-02T00:00:00.000Z'");
	ok_fmt("'2024-01-02 03:04:05 +0000'", "timestamp", "'2024-01-02T03:04:05.000Z'");
	ok_fmt("'1704164645678'", "timestamp", "'2024-01-02T03:04:05.678Z'");
	ok_fmt("'1969-12-31T23:59:59.9999Z'", "timestamp", "'1969-12-31T23:59:59.999Z'");
	refused("'2024-13-02'", "timestamp",
		"Invalid STRING constant (2024-13-02) for \"c\" of type timestamp");
	refused("'2023-02-29'", "timestamp", NULL);
	refused("'2024-01-02T25:00'", "timestamp", NULL);
	refused("'2024-01-02 03:04:05 junk'", "timestamp", NULL);
	refused("'yesterday'", "timestamp", NULL);
	refused("1.5", "timestamp", NULL);
	assert_int_equal(coffer_cql_parse_timestamp_us("2024-01-02T03:04:05.123456Z", 27, &us),
			 COFFER_OK);
	assert_int_equal(us, 1704164645123456LL);

	ok_fmt("'2024-02-29'", "date", "'2024-02-29'");
	ok_fmt("'1970-01-01'", "date", "'1970-01-01'");
	ok_fmt("'-0001-01-01'", "date", "2146763755");
	ok_bytes("2147483648", "date", "\x80\0\0\0", 4);
	ok_bytes("'2147483648'", "date", "\x80\0\0\0", 4);
	refused("'2023-02-29'", "date", "Invalid STRING constant (2023-02-29) for \"c\" of type date");
	refused("'2024-1-2'", "date", NULL);
	refused("4294967296", "date", NULL);
	refused("1.0", "date", NULL);

	ok_fmt("'03:04:05'", "time", "'03:04:05.000000000'");
	ok_fmt("'03:04:05.123456789'", "time", "'03:04:05.123456789'");
	ok_fmt("'23:59:59.5'", "time", "'23:59:59.500000000'");
	ok_fmt("3723000000001", "time", "'01:02:03.000000001'");
	refused("'24:00:00'", "time", NULL);
	refused("'03:04'", "time", NULL);
	refused("86400000000000", "time", NULL);
	refused("'03:04:05.1234567890'", "time", NULL);

	ok_fmt("'127.0.0.1'", "inet", "'127.0.0.1'");
	ok_fmt("'::1'", "inet", "'::1'");
	ok_fmt("'2001:db8::ff00:42:8329'", "inet", "'2001:db8::ff00:42:8329'");
	refused("'256.0.0.1'", "inet", "Invalid STRING constant (256.0.0.1) for \"c\" of type inet");
	refused("'localhost'", "inet", NULL);
}

static void test_durations(void **state)
{
	ok_bytes("1mo2d3ns", "duration", "\x02\x04\x06", 3);
	ok_fmt("1y2mo", "duration", "1y2mo");
	ok_fmt("-1h30m", "duration", "-1h30m");
	ok_fmt("2w", "duration", "14d");
	ok_fmt("1s500ms", "duration", "1s500ms");
	ok_fmt("7us", "duration", "7us");
	refused("1h", "int", "Invalid DURATION constant (1h) for \"c\" of type int");
	refused("'1h'", "duration", NULL);
	refused("99999999999y", "duration", NULL);
}

static void test_collections(void **state)
{
	ok_fmt("[3, 1, 3]", "list<int>", "[3, 1, 3]");
	ok_fmt("{3, 1, 3}", "set<int>", "{1, 3}");
	ok_fmt("{'b': 1, 'a': 2, 'b': 3}", "map<text, int>", "{'a': 2, 'b': 3}");
	ok_fmt("{}", "map<text, int>", "{}");
	ok_fmt("{}", "set<int>", "{}");
	ok_fmt("[]", "list<int>", "[]");
	ok_fmt("{'k': [1, 2]}", "map<text, frozen<list<int>>>", "{'k': [1, 2]}");
	ok_fmt("{{2, 1}, {1}}", "set<frozen<set<int>>>", "{{1}, {1, 2}}");
	ok_fmt("[-1.5, 2]", "frozen<list<double>>", "[-1.5, 2.0]");
	ok_fmt("(1, 'x', null)", "tuple<int, text, uuid>", "(1, 'x', null)");
	ok_fmt("(1)", "tuple<int, text>", "(1)");
	ok_fmt("[(1, 'a')]", "list<frozen<tuple<int, text>>>", "[(1, 'a')]");
	refused("[1, 2]", "set<int>", "Invalid list literal for c of type set<int>");
	refused("{1, 2}", "list<int>", "Invalid set literal for c of type list<int>");
	refused("{1: 2}", "set<int>", "Invalid map literal for c of type set<int>");
	refused("{1, 2}", "map<int, int>", "Invalid set literal for c of type map<int, int>");
	refused("(1, 2)", "list<int>", "Invalid tuple literal for c of type list<int>");
	refused("[1, null]", "list<int>", "null is not supported inside collections");
	refused("{'a': null}", "map<text, int>", "null is not supported inside collections");
	refused("[1, 'x']", "list<int>", "Invalid STRING constant (x) for \"value(c)\" of type int");
	refused("{1: 2}", "map<text, int>", "Invalid INTEGER constant (1) for \"key(c)\" of type text");
	refused("(1, 2, 3)", "tuple<int, int>",
		"Invalid tuple literal for c: too many elements. Type frozen<tuple<int, int>> "
		"expects 2 but got 3");
	refused("('a', 2)", "tuple<int, int>", "Invalid STRING constant (a) for \"c[0]\" of type int");
	refused("[1]", "tuple<int>", "Invalid list literal for c of type frozen<tuple<int>>");
	refused("'[1]'", "list<int>", "Invalid STRING constant ([1]) for \"c\" of type list<int>");
}

static void test_special_terms(void **state)
{
	struct coffer_buf b = {0};
	bool is_null = false;

	assert_int_equal(coffer_cql_literal_coerce(term("NULL"), coffer_datatype_of(COFFER_DT_INT), "c",
						   &b, &is_null), COFFER_OK);
	assert_true(is_null);
	assert_int_equal(b.len, 0);
	assert_int_equal(coffer_cql_literal_coerce(term("?"), coffer_datatype_of(COFFER_DT_INT), "c",
						   &b, &is_null), COFFER_E_INVALID);
	assert_int_equal(coffer_cql_literal_coerce(term("now()"), coffer_datatype_of(COFFER_DT_TIMEUUID),
						   "c", &b, &is_null), COFFER_E_INVALID);
	assert_int_equal(coffer_cql_literal_coerce(term("(int) 5"), coffer_datatype_of(COFFER_DT_INT),
						   "c", &b, &is_null), COFFER_OK);
	assert_int_equal(b.len, 4);
	assert_int_equal(coffer_cql_literal_coerce(term("(bigint) 5"), coffer_datatype_of(COFFER_DT_INT),
						   "c", &b, &is_null), COFFER_E_INVALID);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_text_blob_bool),
		cmocka_unit_test(test_uuids),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_special_terms),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
