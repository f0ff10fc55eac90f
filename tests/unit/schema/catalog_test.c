/*
 * catalog_test.c - keyspaces and tables: column ordering, definition rules
 * and their refusals, identifier lookups (unquoted folded, quoted exact),
 * the serialized forms round-tripping, and every truncation or corruption of
 * a serialized table refused without crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

static const uint8_t ID[16] = {1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16};

static struct coffer_datatype *T(const char *text)
{
	struct coffer_datatype *t = NULL;

	if (coffer_datatype_parse(text, strlen(text), NULL, &t) != COFFER_OK)
		fail_msg("type %s: %s", text, coffer_error_msg());
	return t;
}

static void add(struct coffer_tabledef *t, const char *name, enum coffer_column_kind k, int32_t pos,
		enum coffer_clustering_order o, const char *type)
{
	struct coffer_datatype *ty = T(type);

	if (coffer_tabledef_add_column(t, name, k, pos, o, ty) != COFFER_OK)
		fail_msg("add %s: %s", name, coffer_error_msg());
	coffer_datatype_free(ty);
}

static coffer_rc try_add(struct coffer_tabledef *t, const char *name, enum coffer_column_kind k,
			 int32_t pos, enum coffer_clustering_order o, const char *type)
{
	struct coffer_datatype *ty = T(type);
	coffer_rc rc = coffer_tabledef_add_column(t, name, k, pos, o, ty);

	coffer_datatype_free(ty);
	return rc;
}

/* ks.Events: PRIMARY KEY ((tenant, day), ts, seq) WITH CLUSTERING ORDER BY (ts DESC) */
static struct coffer_tabledef *sample(void)
{
	struct coffer_tabledef *t = coffer_tabledef_new("ks", "Events", ID);

	add(t, "zeta", COFFER_COLUMN_REGULAR, -1, COFFER_ORDER_NONE, "map<text, frozen<list<int>>>");
	add(t, "seq", COFFER_COLUMN_CLUSTERING, 1, COFFER_ORDER_ASC, "int");
	add(t, "day", COFFER_COLUMN_PARTITION_KEY, 1, COFFER_ORDER_NONE, "date");
	add(t, "alpha", COFFER_COLUMN_STATIC, -1, COFFER_ORDER_NONE, "text");
	add(t, "ts", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_DESC, "timestamp");
	add(t, "tenant", COFFER_COLUMN_PARTITION_KEY, 0, COFFER_ORDER_NONE, "uuid");
	add(t, "Body", COFFER_COLUMN_REGULAR, 7, COFFER_ORDER_ASC, "blob");
	t->default_time_to_live = 3600;
	coffer_tabledef_set_comment(t, "it's a comment");
	coffer_tabledef_set_kms_key(t, COFFER_ENC_CUSTOMER_MANAGED,
				 "arn:aws:kms:us-east-1:111122223333:key/abc");
	t->pitr_enabled = true;
	coffer_strmap_set(&t->custom_properties, "capacity_mode.throughput_mode", "PAY_PER_REQUEST");
	coffer_strmap_set(&t->options, "compaction", "{'class': 'SizeTieredCompactionStrategy'}");
	return t;
}

static void test_column_order(void **state)
{
	struct coffer_tabledef *t = sample();
	static const char *want[] = {"tenant", "day", "ts", "seq", "Body", "alpha", "zeta"};
	size_t i;

	assert_int_equal(t->ncolumns, 7);
	for (i = 0; i < 7; i++)
		assert_string_equal(t->columns[i].name, want[i]);
	assert_int_equal(t->npartition, 2);
	assert_int_equal(t->nclustering, 2);
	assert_int_equal(t->columns[4].position, -1);
	assert_int_equal(t->columns[4].order, COFFER_ORDER_NONE);
	assert_int_equal(t->columns[2].order, COFFER_ORDER_DESC);
	assert_int_equal(coffer_tabledef_validate(t), COFFER_OK);
	assert_string_equal(coffer_column_kind_name(t->columns[5].kind), "static");
	assert_string_equal(coffer_clustering_order_name(t->columns[2].order), "desc");
	assert_string_equal(coffer_clustering_order_name(t->columns[5].order), "none");
	coffer_tabledef_free(t);
}

static void test_lookups(void **state)
{
	struct coffer_tabledef *t = sample();

	assert_non_null(coffer_tabledef_column(t, "TENANT", false));
	assert_null(coffer_tabledef_column(t, "TENANT", true));
	assert_non_null(coffer_tabledef_column(t, "tenant", true));
	/* "Body" was quoted at creation: found only quoted and exact */
	assert_null(coffer_tabledef_column(t, "Body", false));
	assert_null(coffer_tabledef_column(t, "body", false));
	assert_non_null(coffer_tabledef_column(t, "Body", true));
	assert_true(coffer_ident_matches("abc", "ABC", false));
	assert_false(coffer_ident_matches("abc", "ABC", true));
	assert_false(coffer_ident_matches("abc", "ab", false));
	coffer_tabledef_free(t);
}

static void test_rules(void **state)
{
	struct coffer_tabledef *t = coffer_tabledef_new("ks", "t", ID);

	/* no partition key */
	assert_int_equal(coffer_tabledef_validate(t), COFFER_E_INVALID);
	add(t, "k", COFFER_COLUMN_PARTITION_KEY, 0, COFFER_ORDER_NONE, "int");
	assert_int_equal(coffer_tabledef_validate(t), COFFER_OK);
	assert_int_equal(try_add(t, "k", COFFER_COLUMN_REGULAR, -1, COFFER_ORDER_NONE, "int"),
			 COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Multiple definition of identifier k"));
	assert_int_equal(try_add(t, "k2", COFFER_COLUMN_PARTITION_KEY, 0, COFFER_ORDER_NONE, "int"),
			 COFFER_E_INVALID);
	assert_int_equal(try_add(t, "c", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_NONE, "int"),
			 COFFER_E_INVALID);
	assert_int_equal(try_add(t, "c", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_ASC, "list<int>"),
			 COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "non-frozen collection"));
	assert_int_equal(try_add(t, "c", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_ASC, "counter"),
			 COFFER_E_INVALID);
	assert_int_equal(try_add(t, "c", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_ASC, "duration"),
			 COFFER_E_INVALID);
	assert_int_equal(try_add(t, "c", COFFER_COLUMN_CLUSTERING, 0, COFFER_ORDER_ASC,
				 "frozen<list<int>>"), COFFER_OK);
	/* a gap in clustering positions */
	add(t, "c3", COFFER_COLUMN_CLUSTERING, 2, COFFER_ORDER_ASC, "int");
	assert_int_equal(coffer_tabledef_validate(t), COFFER_E_INVALID);
	assert_int_equal(coffer_tabledef_drop_column(t, "c3"), COFFER_E_INVALID);
	coffer_tabledef_free(t);

	t = coffer_tabledef_new("ks", "t", ID);
	add(t, "k", COFFER_COLUMN_PARTITION_KEY, 0, COFFER_ORDER_NONE, "int");
	add(t, "s", COFFER_COLUMN_STATIC, -1, COFFER_ORDER_NONE, "int");
	assert_int_equal(coffer_tabledef_validate(t), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Static columns"));
	assert_int_equal(coffer_tabledef_drop_column(t, "s"), COFFER_OK);
	assert_int_equal(coffer_tabledef_drop_column(t, "s"), COFFER_E_INVALID);
	assert_int_equal(coffer_tabledef_drop_column(t, "k"), COFFER_E_INVALID);
	add(t, "n", COFFER_COLUMN_REGULAR, -1, COFFER_ORDER_NONE, "counter");
	assert_int_equal(try_add(t, "v", COFFER_COLUMN_REGULAR, -1, COFFER_ORDER_NONE, "int"),
			 COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "counter"));
	t->default_time_to_live = -1;
	assert_int_equal(coffer_tabledef_validate(t), COFFER_E_INVALID);
	t->default_time_to_live = 0;
	coffer_tabledef_set_kms_key(t, COFFER_ENC_CUSTOMER_MANAGED, NULL);
	assert_int_equal(coffer_tabledef_validate(t), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "kms_key_identifier"));
	coffer_tabledef_set_kms_key(t, COFFER_ENC_AWS_OWNED, "ignored");
	assert_null(t->kms_key_identifier);
	assert_int_equal(coffer_tabledef_validate(t), COFFER_OK);
	coffer_tabledef_free(t);
}

static void assert_tables_equal(const struct coffer_tabledef *a, const struct coffer_tabledef *b)
{
	size_t i;

	assert_string_equal(a->keyspace, b->keyspace);
	assert_string_equal(a->name, b->name);
	assert_memory_equal(a->id, b->id, 16);
	assert_int_equal(a->ncolumns, b->ncolumns);
	for (i = 0; i < a->ncolumns; i++) {
		assert_string_equal(a->columns[i].name, b->columns[i].name);
		assert_int_equal(a->columns[i].kind, b->columns[i].kind);
		assert_int_equal(a->columns[i].position, b->columns[i].position);
		assert_int_equal(a->columns[i].order, b->columns[i].order);
		assert_true(coffer_datatype_equal(a->columns[i].type, b->columns[i].type));
	}
	assert_int_equal(a->npartition, b->npartition);
	assert_int_equal(a->nclustering, b->nclustering);
	assert_int_equal(a->default_time_to_live, b->default_time_to_live);
	assert_string_equal(a->comment, b->comment);
	assert_int_equal(a->encryption, b->encryption);
	if (a->kms_key_identifier)
		assert_string_equal(a->kms_key_identifier, b->kms_key_identifier);
	else
		assert_null(b->kms_key_identifier);
	assert_int_equal(a->pitr_enabled, b->pitr_enabled);
	assert_int_equal(a->custom_properties.n, b->custom_properties.n);
	assert_int_equal(a->options.n, b->options.n);
	for (i = 0; i < a->options.n; i++)
		assert_string_equal(coffer_strmap_get(&b->options, a->options.items[i].key),
				    a->options.items[i].value);
}

static void test_encode_round_trip(void **state)
{
	struct coffer_tabledef *t = sample(), *d = NULL, *c;
	struct coffer_buf b = {0};

	coffer_tabledef_encode(t, &b);
	assert_int_equal(coffer_tabledef_decode(coffer_buf_slice(&b), &d), COFFER_OK);
	assert_tables_equal(t, d);
	c = coffer_tabledef_clone(t);
	assert_tables_equal(t, c);
	coffer_tabledef_free(c);
	coffer_tabledef_free(d);
	coffer_tabledef_free(t);
	coffer_buf_free(&b);
}

static void test_decode_refusals(void **state)
{
	struct coffer_tabledef *t = sample(), *d = NULL;
	struct coffer_buf b = {0};
	size_t n;

	coffer_tabledef_encode(t, &b);
	/* every truncation fails cleanly */
	for (n = 0; n < b.len; n++) {
		assert_int_equal(coffer_tabledef_decode(coffer_slice_of(b.ptr, n), &d), COFFER_E_CORRUPT);
	}
	/* every single-byte change either fails or decodes to a valid table */
	for (n = 0; n < b.len; n++) {
		uint8_t save = b.ptr[n];
		coffer_rc rc;

		b.ptr[n] ^= 0x5a;
		rc = coffer_tabledef_decode(coffer_buf_slice(&b), &d);
		if (rc == COFFER_OK) {
			assert_int_equal(coffer_tabledef_validate(d), COFFER_OK);
			coffer_tabledef_free(d);
		} else {
			assert_int_equal(rc, COFFER_E_CORRUPT);
		}
		b.ptr[n] = save;
	}
	b.ptr[0] = 'X';
	assert_int_equal(coffer_tabledef_decode(coffer_buf_slice(&b), &d), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "magic"));
	b.ptr[0] = 'C';
	coffer_buf_put_u8(&b, 0);
	assert_int_equal(coffer_tabledef_decode(coffer_buf_slice(&b), &d), COFFER_E_CORRUPT);
	coffer_buf_free(&b);
	coffer_tabledef_free(t);
}

static void test_catalog(void **state)
{
	struct coffer_catalog c;
	struct coffer_keyspace *ks = NULL, *ks2 = NULL;
	struct coffer_strmap repl = {0};
	struct coffer_buf b = {0};
	struct coffer_tabledef *t;
	char *name = NULL;
	struct coffer_strmap r2 = {0};
	bool dw = false;

	coffer_catalog_init(&c);
	coffer_strmap_set(&repl, "class", "SimpleStrategy");
	coffer_strmap_set(&repl, "replication_factor", "1");
	coffer_strmap_set(&repl, "replication_factor", "3");
	assert_string_equal(coffer_strmap_get(&repl, "replication_factor"), "3");
	assert_int_equal(repl.n, 2);
	assert_int_equal(coffer_catalog_add_keyspace(&c, "ks", &repl, true, &ks), COFFER_OK);
	assert_int_equal(coffer_catalog_add_keyspace(&c, "ks", &repl, true, NULL), COFFER_E_EXISTS);
	assert_int_equal(coffer_catalog_add_keyspace(&c, "Quoted", NULL, false, &ks2), COFFER_OK);
	assert_ptr_equal(coffer_catalog_keyspace(&c, "KS", false), ks);
	assert_null(coffer_catalog_keyspace(&c, "KS", true));
	assert_null(coffer_catalog_keyspace(&c, "Quoted", false));
	assert_ptr_equal(coffer_catalog_keyspace(&c, "Quoted", true), ks2);
	t = sample();
	assert_int_equal(coffer_keyspace_add_table(ks, t), COFFER_OK);
	t = sample();
	assert_int_equal(coffer_keyspace_add_table(ks, t), COFFER_E_EXISTS);
	assert_int_equal(coffer_keyspace_add_table(ks2, t), COFFER_E_INVALID);
	coffer_tabledef_free(t);
	assert_non_null(coffer_keyspace_table(ks, "Events", true));
	assert_null(coffer_keyspace_table(ks, "Events", false));
	assert_int_equal(coffer_keyspace_drop_table(ks, "events"), COFFER_E_NOT_FOUND);
	coffer_keyspace_encode(ks, &b);
	assert_int_equal(coffer_keyspace_decode(coffer_buf_slice(&b), &name, &r2, &dw), COFFER_OK);
	assert_string_equal(name, "ks");
	assert_true(dw);
	assert_string_equal(coffer_strmap_get(&r2, "class"), "SimpleStrategy");
	assert_int_equal(coffer_keyspace_decode(coffer_slice_of(b.ptr, b.len - 1), &name, &r2, &dw),
			 COFFER_E_CORRUPT);
	free(name);
	coffer_strmap_free(&r2);
	assert_int_equal(coffer_keyspace_drop_table(ks, "Events"), COFFER_OK);
	assert_int_equal(coffer_catalog_drop_keyspace(&c, "nope"), COFFER_E_NOT_FOUND);
	assert_int_equal(coffer_catalog_drop_keyspace(&c, "Quoted"), COFFER_OK);
	assert_true(coffer_strmap_remove(&repl, "class"));
	assert_false(coffer_strmap_remove(&repl, "class"));
	assert_int_equal(coffer_catalog_add_keyspace(&c, "", NULL, true, NULL), COFFER_E_INVALID);
	coffer_strmap_free(&repl);
	coffer_buf_free(&b);
	coffer_catalog_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_column_order),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_refusals),
		cmocka_unit_test(test_catalog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
