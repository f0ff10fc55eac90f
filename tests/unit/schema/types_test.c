/*
 * types_test.c - CQL type text: parse and print round trips in the
 * system_schema spelling, implicit freezing, Cassandra's refusals (non-frozen
 * nested collections, counters inside collections, frozen scalars), syntax
 * errors, depth limits, [option] ids and their encoding, arena and heap trees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

static void round_trip(const char *in, const char *want)
{
	struct coffer_datatype *t = NULL;
	char *s;

	if (coffer_datatype_parse(in, strlen(in), NULL, &t) != COFFER_OK)
		fail_msg("parse of '%s' failed: %s", in, coffer_error_msg());
	s = coffer_datatype_to_string(t);
	assert_string_equal(s, want);
	free(s);
	coffer_datatype_free(t);
}

static coffer_rc parse_rc(const char *in)
{
	struct coffer_datatype *t = NULL;
	coffer_rc rc = coffer_datatype_parse(in, strlen(in), NULL, &t);

	if (rc == COFFER_OK)
		coffer_datatype_free(t);
	return rc;
}

static void test_simple_round_trips(void **state)
{
	static const char *names[] = {"ascii", "bigint", "blob", "boolean", "counter", "decimal",
				      "double", "float", "int", "text", "timestamp", "uuid",
				      "varint", "timeuuid", "inet", "date", "time", "smallint",
				      "tinyint", "duration"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		round_trip(names[i], names[i]);
	round_trip("varchar", "text");
	round_trip("  INT ", "int");
	round_trip("TimeUUID", "timeuuid");
}

static void test_collection_round_trips(void **state)
{
	round_trip("list<int>", "list<int>");
	round_trip("set< text >", "set<text>");
	round_trip("map<text,int>", "map<text, int>");
	round_trip("map<text, frozen<list<int>>>", "map<text, frozen<list<int>>>");
	round_trip("frozen<map<text, int>>", "frozen<map<text, int>>");
	round_trip("FROZEN<set<varchar>>", "frozen<set<text>>");
	/* tuples are always frozen, and so is what they hold */
	round_trip("tuple<int, text>", "frozen<tuple<int, text>>");
	round_trip("tuple<int, list<int>>", "frozen<tuple<int, frozen<list<int>>>>");
	round_trip("frozen<tuple<int>>", "frozen<tuple<int>>");
	/* frozen<> freezes everything inside */
	round_trip("frozen<list<list<int>>>", "frozen<list<frozen<list<int>>>>");
	round_trip("list<frozen<map<int, frozen<set<uuid>>>>>",
		   "list<frozen<map<int, frozen<set<uuid>>>>>");
	round_trip("map<frozen<tuple<int, int>>, blob>", "map<frozen<tuple<int, int>>, blob>");
}

static void test_refusals(void **state)
{
	assert_int_equal(parse_rc("list<list<int>>"), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Non-frozen collections are not allowed"));
	assert_int_equal(parse_rc("map<text, set<int>>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("list<counter>"), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "ounter"));
	assert_int_equal(parse_rc("frozen<int>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("set<duration>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("map<duration, int>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("bogus"), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Unknown type bogus"));
	assert_int_equal(parse_rc("list"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("list<>"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("list<int"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("list<int>>"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("map<int>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("list<int, int>"), COFFER_E_INVALID);
	assert_int_equal(parse_rc("int<int>"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc(""), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("frozen"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("frozen<list<int>"), COFFER_E_SYNTAX);
	assert_int_equal(parse_rc("tuple<>"), COFFER_E_SYNTAX);
}

static void test_depth_limit(void **state)
{
	char buf[2048];
	size_t n = 0;
	int i;

	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "frozen<list<");
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "int");
	for (i = 0; i < 80; i++)
		buf[n++] = '>';
	buf[n] = '\0';
	assert_int_equal(parse_rc(buf), COFFER_E_LIMIT);
	assert_int_equal(parse_rc("frozen<list<frozen<list<frozen<list<int>>>>>>"), COFFER_OK);
}

static void test_make_rules(void **state)
{
	struct coffer_datatype *l = NULL, *m = NULL, *tu = NULL;
	struct coffer_datatype *params[2];

	params[0] = (struct coffer_datatype *)coffer_datatype_of(COFFER_DT_INT);
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_LIST, false, params, 1, &l), COFFER_OK);
	params[0] = (struct coffer_datatype *)coffer_datatype_of(COFFER_DT_TEXT);
	params[1] = l;
	/* a non-frozen list inside a map is refused... */
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_MAP, false, params, 2, &m),
			 COFFER_E_INVALID);
	/* ...but inside a frozen map it is frozen implicitly */
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_MAP, true, params, 2, &m), COFFER_OK);
	assert_true(m->frozen);
	assert_true(m->params[1]->frozen);
	assert_false(l->frozen); /* the input was copied, not changed */
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_TUPLE, false, params, 2, &tu), COFFER_OK);
	assert_true(tu->frozen);
	assert_true(coffer_datatype_is_multicell(l));
	assert_false(coffer_datatype_is_multicell(m));
	assert_false(coffer_datatype_equal(l, m));
	{
		struct coffer_datatype *c = coffer_datatype_clone(m, NULL);

		assert_true(coffer_datatype_equal(c, m));
		coffer_datatype_free(c);
	}
	coffer_datatype_free(m);
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_INT, true, NULL, 0, &m), COFFER_E_INVALID);
	assert_int_equal(coffer_datatype_make(NULL, COFFER_DT_TUPLE, false, NULL, 0, &m), COFFER_E_INVALID);
	coffer_datatype_free(l);
	coffer_datatype_free(tu);
	m = NULL;
	assert_null(coffer_datatype_of(COFFER_DT_LIST));
	assert_int_equal(coffer_datatype_of(COFFER_DT_UUID)->kind, COFFER_DT_UUID);
}

static void test_arena_types(void **state)
{
	struct coffer_arena a;
	struct coffer_datatype *t = NULL;
	const char *s = "map<text, frozen<list<int>>>";

	coffer_arena_init(&a, 0);
	assert_int_equal(coffer_datatype_parse(s, strlen(s), &a, &t), COFFER_OK);
	assert_int_equal(t->kind, COFFER_DT_MAP);
	assert_int_equal(t->params[1]->params[0]->kind, COFFER_DT_INT);
	coffer_arena_free(&a); /* everything goes with the arena */
}

static void test_option_ids(void **state)
{
	struct coffer_datatype *t = NULL;
	struct coffer_buf b = {0};
	const char *s = "map<text, frozen<tuple<int, duration>>>";
	static const uint8_t want[] = {0x00, 0x21, 0x00, 0x0a, 0x00, 0x31, 0x00, 0x02, 0x00, 0x09,
				       0x00, 0x00, 0x00, 44};

	assert_int_equal(coffer_datatype_option_id(coffer_datatype_of(COFFER_DT_ASCII)), 0x0001);
	assert_int_equal(coffer_datatype_option_id(coffer_datatype_of(COFFER_DT_TINYINT)), 0x0014);
	assert_int_equal(coffer_datatype_option_id(coffer_datatype_of(COFFER_DT_DURATION)), 0x0000);
	assert_string_equal(coffer_datatype_custom_class(coffer_datatype_of(COFFER_DT_DURATION)),
			    "org.apache.cassandra.db.marshal.DurationType");
	assert_null(coffer_datatype_custom_class(coffer_datatype_of(COFFER_DT_INT)));
	assert_int_equal(coffer_datatype_parse(s, strlen(s), NULL, &t), COFFER_OK);
	assert_int_equal(coffer_datatype_option_id(t), 0x0021);
	coffer_datatype_write_option(t, &b);
	assert_int_equal(b.len, sizeof(want) + 44);
	assert_memory_equal(b.ptr, want, sizeof(want));
	assert_memory_equal(b.ptr + sizeof(want), "org.apache.cassandra.db.marshal.DurationType", 44);
	coffer_buf_free(&b);
	coffer_datatype_free(t);
	assert_int_equal(coffer_datatype_parse("list<int>", 9, NULL, &t), COFFER_OK);
	assert_int_equal(coffer_datatype_option_id(t), 0x0020);
	coffer_datatype_free(t);
	assert_int_equal(coffer_datatype_parse("set<int>", 8, NULL, &t), COFFER_OK);
	assert_int_equal(coffer_datatype_option_id(t), 0x0022);
	coffer_datatype_free(t);
}

static void test_kind_names(void **state)
{
	enum coffer_datatype_kind k;

	assert_true(coffer_datatype_kind_lookup("VARCHAR", 7, &k));
	assert_int_equal(k, COFFER_DT_TEXT);
	assert_false(coffer_datatype_kind_lookup("frozen", 6, &k));
	assert_false(coffer_datatype_kind_lookup("in", 2, &k));
	assert_string_equal(coffer_datatype_kind_name(COFFER_DT_TEXT), "text");
	assert_null(coffer_datatype_kind_name(COFFER_DT_CUSTOM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_round_trips),
		cmocka_unit_test(test_collection_round_trips),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_make_rules),
		cmocka_unit_test(test_arena_types),
		cmocka_unit_test(test_option_ids),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
