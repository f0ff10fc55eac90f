/* types_test.c - every type of the CQL issue round-tripped through an
 * INSERT literal and through bound values (the bytes read back are the bytes
 * written), prepared bind metadata, functions (now(), uuid(),
 * toTimestamp(now())), and the Invalid messages for type mismatches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmlt_helper.h"
#include "util/alloc.h"

static const char *COLS[] = {"a_ascii", "a_text", "a_varchar", "a_int", "a_bigint", "a_smallint", "a_tinyint",
			     "a_varint", "a_decimal", "a_float", "a_double", "a_boolean", "a_blob", "a_uuid",
			     "a_timeuuid", "a_timestamp", "a_date", "a_time", "a_inet", "a_list", "a_set", "a_map",
			     "a_flist", "a_tuple"};
static const char *TYPES[] = {"ascii", "text", "varchar", "int", "bigint", "smallint", "tinyint", "varint",
			      "decimal", "float", "double", "boolean", "blob", "uuid", "timeuuid", "timestamp",
			      "date", "time", "inet", "list<int>", "set<text>", "map<text, int>",
			      "frozen<list<text>>", "tuple<int, text>"};
static const char *LITS[] = {"'abc'", "'héllo'", "'v'", "-42", "9000000000", "-300", "7", "123456789012345678901234567890",
			     "3.14159", "1.5", "-2.25e10", "true", "0xcafe", "5a1f0c2e-7d3b-4c8a-9e6f-0b1c2d3e4f50",
			     "d2177dd0-eaa2-11de-a572-001b779c76e3", "'2024-01-02T03:04:05.678Z'", "'2024-02-29'",
			     "'13:14:15.123456789'", "'192.168.1.2'", "[3, 1, 2]", "{'b', 'a'}", "{'k': 1, 'j': 2}",
			     "['x', 'y']", "(1, 'one')"};
#define NT (sizeof(COLS) / sizeof(COLS[0]))

static void create(struct dbt *e)
{
	struct coffer_buf b = {0};
	coffer_buf_printf(&b, "CREATE TABLE all_types (id int PRIMARY KEY");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&b, ", %s %s", COLS[i], TYPES[i]);
	coffer_buf_printf(&b, ")");
	dmlt_ok(e, "%s", coffer_buf_cstr(&b));
	coffer_buf_free(&b);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("types-rt");
	struct coffer_proto_response r;
	create(e);
	struct coffer_buf q = {0};
	coffer_buf_printf(&q, "INSERT INTO all_types (id");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&q, ", %s", COLS[i]);
	coffer_buf_printf(&q, ") VALUES (1");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&q, ", %s", LITS[i]);
	coffer_buf_printf(&q, ")");
	dmlt_ok(e, "%s", coffer_buf_cstr(&q));
	/* read back literal-written bytes */
	struct coffer_buf sel = {0};
	coffer_buf_printf(&sel, "SELECT ");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&sel, "%s%s", i ? ", " : "", COLS[i]);
	coffer_buf_printf(&sel, " FROM all_types WHERE id = ?");
	uint8_t sid[64];
	size_t sidn = dmlt_prepare(e, coffer_buf_cstr(&sel), sid, &r);
	assert_int_equal(r.u.result.metadata.n_columns, (int32_t)NT);
	struct coffer_proto_value k1 = dmlt_int(1);
	dmlt_execute(e, sid, sidn, &k1, 1, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_ok(&r, "select 1");
	assert_int_equal(r.u.result.rows_count, 1);
	struct coffer_buf row1 = {0};
	coffer_buf_put(&row1, r.u.result.rows_content.ptr, r.u.result.rows_content.len);
	/* every cell present, then the same bytes bound into row 2 */
	struct coffer_proto_value vals[NT + 1];
	struct coffer_reader rd;
	coffer_reader_init(&rd, coffer_buf_slice(&row1), "row");
	vals[0] = dmlt_int(2);
	for (size_t i = 0; i < NT; i++) {
		uint32_t len;
		struct coffer_slice v;
		assert_int_equal(coffer_reader_u32(&rd, &len), COFFER_OK);
		if (len == UINT32_MAX)
			fail_msg("column %s read back null", COLS[i]);
		assert_int_equal(coffer_reader_bytes(&rd, len, &v), COFFER_OK);
		vals[i + 1] = coffer_proto_value_of(v.ptr, v.len);
	}
	coffer_buf_reset(&q);
	coffer_buf_printf(&q, "INSERT INTO all_types (id");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&q, ", %s", COLS[i]);
	coffer_buf_printf(&q, ") VALUES (?");
	for (size_t i = 0; i < NT; i++)
		coffer_buf_printf(&q, ", ?");
	coffer_buf_printf(&q, ")");
	uint8_t iid[64];
	size_t iidn = dmlt_prepare(e, coffer_buf_cstr(&q), iid, &r);
	assert_int_equal(r.u.result.bind.n_columns, (int32_t)NT + 1);
	assert_int_equal(r.u.result.bind.n_pk, 1);
	assert_int_equal(r.u.result.bind.pk_indexes[0], 0);
	dmlt_execute(e, iid, iidn, vals, NT + 1, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_ok(&r, "insert bound");
	struct coffer_proto_value k2 = dmlt_int(2);
	dmlt_execute(e, sid, sidn, &k2, 1, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_ok(&r, "select 2");
	assert_int_equal(r.u.result.rows_content.len, row1.len);
	assert_memory_equal(r.u.result.rows_content.ptr, row1.ptr, row1.len);
	/* sets and maps come back sorted */
	assert_string_equal(dmlt_rows(e, "SELECT a_set, a_map, a_list FROM all_types WHERE id = 1"),
			    "{a,b}|{j:2,k:1}|[3,1,2]\n");
	/* unset leaves a column untouched; null deletes it */
	struct coffer_proto_value un[3] = {dmlt_int(1), {COFFER_PROTO_VALUE_UNSET, {NULL, 0}}, coffer_proto_value_null()};
	dmlt_query(e, "UPDATE all_types SET a_int = ?, a_text = ? WHERE id = ?", (struct coffer_proto_value[]){un[1], un[2], un[0]}, 3,
		   -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_ok(&r, "update unset/null");
	assert_string_equal(dmlt_rows(e, "SELECT a_int, a_text FROM all_types WHERE id = 1"), "-42|null\n");
	coffer_buf_free(&q);
	coffer_buf_free(&sel);
	coffer_buf_free(&row1);
	dbt_free(e);
}

static void test_mismatch(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("types-bad");
	struct coffer_proto_response r;
	create(e);
	dbt_err(e, "INSERT INTO all_types (id, a_int) VALUES (1, 'x')", 0x2200, "Invalid STRING constant (x) for \"a_int\" of type int");
	dbt_err(e, "INSERT INTO all_types (id, a_uuid) VALUES (1, 'nope')", 0x2200, "of type uuid");
	dbt_err(e, "INSERT INTO all_types (id, a_set) VALUES (1, [1])", 0x2200, "a_set of type set<text>");
	dbt_err(e, "INSERT INTO all_types (id, a_int) VALUES (1, now())", 0x2200,
		"cannot assign result of function system.now (type timeuuid) to a_int (type int)");
	struct coffer_proto_value v[2] = {dmlt_int(1), coffer_proto_value_of("abc", 3)};
	dmlt_query(e, "INSERT INTO all_types (id, a_int) VALUES (?, ?)", v, 2, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_err(&r, 0x2200, "a_int of type int");
	v[1] = coffer_proto_value_of("\xff\xfe", 2);
	dmlt_query(e, "INSERT INTO all_types (id, a_text) VALUES (?, ?)", v, 2, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_err(&r, 0x2200, "a_text of type text");
	dbt_free(e);
}

static void test_functions(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("types-fn");
	create(e);
	dmlt_ok(e, "INSERT INTO all_types (id, a_timeuuid, a_uuid, a_timestamp, a_date) VALUES (1, now(), uuid(), toTimestamp(now()), currentDate())");
	const char *s = dmlt_rows(e, "SELECT a_timestamp FROM all_types WHERE id = 1");
	long long ms = strtoll(s, NULL, 10);
	long long now_ms = coffer_clock_now_us(&e->clock.clock) / 1000;
	assert_true(ms <= now_ms && ms >= now_ms - 10);
	s = dmlt_rows(e, "SELECT a_timeuuid, a_uuid FROM all_types WHERE id = 1");
	assert_int_equal(s[14], '1'); /* version 1 */
	assert_int_equal(s[37 + 14], '4'); /* version 4 */
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_functions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
