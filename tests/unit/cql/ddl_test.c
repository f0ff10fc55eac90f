/*
 * ddl_test.c - CREATE TABLE and ALTER ... WITH statements turned into catalog
 * tables: keys (inline and clause, composite), STATIC, CLUSTERING ORDER,
 * default_time_to_live, comment, Keyspaces' custom_properties (encryption
 * specification, point-in-time recovery, other groups), other options as text,
 * keyspace replication options; RESTORE TABLE's options (restore_timestamp at
 * microsecond precision, the target's custom_properties); and every refusal
 * with Cassandra's message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cql/cql.h"

static const uint8_t ID[16] = {0xaa, 1, 2, 3, 4, 5, 0x40, 7, 0x80, 9, 10, 11, 12, 13, 14, 15};
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

static struct coffer_cql_stmt *P(const char *q)
{
	struct coffer_cql_stmt *s = NULL;

	if (coffer_cql_parse(&arena, q, strlen(q), &s) != COFFER_OK)
		fail_msg("parse '%s': %s", q, coffer_error_msg());
	return s;
}

static struct coffer_tabledef *build(const char *q)
{
	struct coffer_tabledef *t = NULL;

	if (coffer_cql_build_table(&P(q)->u.create_table, "dflt", ID, &t) != COFFER_OK)
		fail_msg("build '%s': %s", q, coffer_error_msg());
	return t;
}

static void refused(const char *q, const char *msg)
{
	struct coffer_tabledef *t = NULL;
	coffer_rc rc = coffer_cql_build_table(&P(q)->u.create_table, "dflt", ID, &t);

	if (rc != COFFER_E_INVALID)
		fail_msg("'%s': got %s", q, coffer_rc_name(rc));
	if (msg && strcmp(coffer_error_msg(), msg) != 0)
		fail_msg("'%s': '%s' want '%s'", q, coffer_error_msg(), msg);
}

static void test_build(void **state)
{
	struct coffer_tabledef *t = build(
		"CREATE TABLE ks.events (tenant uuid, day date, ts timestamp, seq int, \"Body\" blob, "
		"owner text STATIC, PRIMARY KEY ((tenant, day), ts, seq)) "
		"WITH CLUSTERING ORDER BY (ts DESC, seq ASC) AND default_time_to_live = 60 "
		"AND comment = 'c' AND CUSTOM_PROPERTIES = {'encryption_specification': "
		"{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': 'alias/k'}, "
		"'point_in_time_recovery': {'status': 'enabled'}, "
		"'capacity_mode': {'throughput_mode': 'PAY_PER_REQUEST'}} "
		"AND compaction = {'class': 'LeveledCompactionStrategy'}");

	assert_string_equal(t->keyspace, "ks");
	assert_string_equal(t->name, "events");
	assert_memory_equal(t->id, ID, 16);
	assert_int_equal(t->npartition, 2);
	assert_int_equal(t->nclustering, 2);
	assert_string_equal(t->columns[0].name, "tenant");
	assert_string_equal(t->columns[1].name, "day");
	assert_int_equal(t->columns[1].position, 1);
	assert_string_equal(t->columns[2].name, "ts");
	assert_int_equal(t->columns[2].order, COFFER_ORDER_DESC);
	assert_int_equal(t->columns[3].order, COFFER_ORDER_ASC);
	assert_string_equal(t->columns[4].name, "Body");
	assert_int_equal(t->columns[5].kind, COFFER_COLUMN_STATIC);
	assert_int_equal(t->default_time_to_live, 60);
	assert_string_equal(t->comment, "c");
	assert_int_equal(t->encryption, COFFER_ENC_CUSTOMER_MANAGED);
	assert_string_equal(t->kms_key_identifier, "alias/k");
	assert_true(t->pitr_enabled);
	assert_string_equal(coffer_strmap_get(&t->custom_properties, "capacity_mode.throughput_mode"),
			    "PAY_PER_REQUEST");
	assert_string_equal(coffer_strmap_get(&t->options, "compaction"),
			    "{'class': 'LeveledCompactionStrategy'}");
	coffer_tabledef_free(t);

	t = build("CREATE TABLE t (k int PRIMARY KEY, v text)");
	assert_string_equal(t->keyspace, "dflt");
	assert_int_equal(t->npartition, 1);
	assert_int_equal(t->nclustering, 0);
	assert_int_equal(t->encryption, COFFER_ENC_AWS_OWNED);
	assert_false(t->pitr_enabled);
	coffer_tabledef_free(t);

	t = build("CREATE TABLE t (k int, c1 int, c2 text, PRIMARY KEY (k, c1, c2))");
	assert_int_equal(t->columns[1].order, COFFER_ORDER_ASC);
	assert_int_equal(t->columns[2].position, 1);
	coffer_tabledef_free(t);
}

static void test_build_refusals(void **state)
{
	struct coffer_tabledef *t = NULL;

	refused("CREATE TABLE t (k int, v int)", "No PRIMARY KEY specifed (exactly one required)");
	refused("CREATE TABLE t (k int PRIMARY KEY, v int PRIMARY KEY)",
		"Multiple PRIMARY KEYs specified (exactly one required)");
	refused("CREATE TABLE t (k int PRIMARY KEY, v int, PRIMARY KEY (v))",
		"Multiple PRIMARY KEYs specified (exactly one required)");
	refused("CREATE TABLE t (k int, PRIMARY KEY (x))", "Unknown definition x referenced in PRIMARY KEY");
	refused("CREATE TABLE t (k int, c int, PRIMARY KEY (k, k))",
		"Column k appears twice in the PRIMARY KEY");
	refused("CREATE TABLE t (k int, v int, v text, PRIMARY KEY (k))",
		"Multiple definition of identifier v");
	refused("CREATE TABLE t (k int, c int STATIC, PRIMARY KEY (k, c))",
		"Static column c cannot be part of the PRIMARY KEY");
	refused("CREATE TABLE t (k int, s int STATIC, PRIMARY KEY (k))", NULL);
	assert_non_null(strstr(coffer_error_msg(), "Static columns"));
	refused("CREATE TABLE t (k int, a int, b int, PRIMARY KEY (k, a, b)) WITH CLUSTERING ORDER BY (b DESC, a ASC)",
		"The order of columns in the CLUSTERING ORDER directive must be the one of the "
		"clustering key (a must appear before b)");
	refused("CREATE TABLE t (k int, a int, v int, PRIMARY KEY (k, a)) WITH CLUSTERING ORDER BY (v DESC)",
		"Only clustering key columns can be defined in CLUSTERING ORDER directive");
	refused("CREATE TABLE t (k int, a int, b int, PRIMARY KEY (k, a, b)) WITH CLUSTERING ORDER BY (a DESC)",
		"Missing CLUSTERING ORDER for column b");
	refused("CREATE TABLE t (k list<int> PRIMARY KEY)", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY, c counter, v int)",
		"Cannot mix counter and non counter columns in the same table");
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH default_time_to_live = -1", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH default_time_to_live = 'x'", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH comment = 5", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = {'encryption_specification': "
		"{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY'}}",
		"CUSTOMER_MANAGED_KMS_KEY requires kms_key_identifier");
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = {'encryption_specification': "
		"{'encryption_type': 'NONE'}}", NULL);
	assert_non_null(strstr(coffer_error_msg(), "Invalid encryption_type 'NONE'"));
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = {'encryption_specification': "
		"{'encryption_type': 'AWS_OWNED_KMS_KEY', 'kms_key_identifier': 'k'}}", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = {'point_in_time_recovery': "
		"{'status': 'maybe'}}", NULL);
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = 'x'",
		"custom_properties must be a map");
	refused("CREATE TABLE t (k int PRIMARY KEY) WITH COMPACT STORAGE", NULL);
	assert_int_equal(coffer_cql_build_table(&P("CREATE TABLE t (k int PRIMARY KEY)")->u.create_table,
						NULL, ID, &t), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "No keyspace has been specified"));
}

static void test_alter_options(void **state)
{
	struct coffer_tabledef *t = build("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = "
				       "{'encryption_specification': {'encryption_type': "
				       "'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': 'k1'}}");
	struct coffer_cql_stmt *s;

	s = P("ALTER TABLE t WITH CUSTOM_PROPERTIES = {'encryption_specification': "
	      "{'encryption_type': 'AWS_OWNED_KMS_KEY'}} AND comment = 'now owned'");
	assert_int_equal(coffer_cql_apply_table_options(t, &s->u.alter_table.options), COFFER_OK);
	assert_int_equal(t->encryption, COFFER_ENC_AWS_OWNED);
	assert_null(t->kms_key_identifier);
	assert_string_equal(t->comment, "now owned");
	/* a refused ALTER changes nothing, even options listed before the bad one */
	s = P("ALTER TABLE t WITH comment = 'changed' AND default_time_to_live = -5");
	assert_int_equal(coffer_cql_apply_table_options(t, &s->u.alter_table.options),
			 COFFER_E_INVALID);
	assert_string_equal(t->comment, "now owned");
	assert_int_equal(t->default_time_to_live, 0);
	s = P("ALTER TABLE t WITH CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'enabled'}}");
	assert_int_equal(coffer_cql_apply_table_options(t, &s->u.alter_table.options), COFFER_OK);
	assert_true(t->pitr_enabled);
	assert_int_equal(t->encryption, COFFER_ENC_AWS_OWNED);
	coffer_tabledef_free(t);
}

static void test_keyspace_options(void **state)
{
	struct coffer_strmap m = {0};
	bool dw = false;
	struct coffer_cql_stmt *s = P("CREATE KEYSPACE k WITH replication = {'class': "
				      "'SimpleStrategy', 'replication_factor': 3} AND durable_writes = false");

	assert_int_equal(coffer_cql_keyspace_options(&s->u.keyspace.options, &m, &dw), COFFER_OK);
	assert_string_equal(coffer_strmap_get(&m, "class"), "SimpleStrategy");
	assert_string_equal(coffer_strmap_get(&m, "replication_factor"), "3");
	assert_false(dw);
	coffer_strmap_free(&m);
	s = P("CREATE KEYSPACE k WITH replication = {'replication_factor': 3}");
	assert_int_equal(coffer_cql_keyspace_options(&s->u.keyspace.options, &m, &dw), COFFER_E_INVALID);
	assert_string_equal(coffer_error_msg(), "Missing replication strategy class");
	s = P("CREATE KEYSPACE k WITH replication = {'class': 'S'} AND foo = 1");
	assert_int_equal(coffer_cql_keyspace_options(&s->u.keyspace.options, &m, &dw), COFFER_E_SYNTAX);
	s = P("CREATE KEYSPACE k WITH replication = {'class': {'a': 1}}");
	assert_int_equal(coffer_cql_keyspace_options(&s->u.keyspace.options, &m, &dw), COFFER_E_SYNTAX);
	s = P("ALTER KEYSPACE k WITH durable_writes = true");
	assert_int_equal(coffer_cql_keyspace_options(&s->u.keyspace.options, &m, &dw), COFFER_OK);
	assert_true(dw);
	assert_int_equal(m.n, 0);
}

static void test_restore_options(void **state)
{
	struct coffer_tabledef *t = build("CREATE TABLE t (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = "
				       "{'encryption_specification': {'encryption_type': "
				       "'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': 'k1'}, "
				       "'point_in_time_recovery': {'status': 'enabled'}}");
	struct coffer_cql_stmt *s;
	int64_t at = -1;

	/* no options: now, and the source's specification */
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_OK);
	assert_int_equal(at, 0);
	assert_int_equal(t->encryption, COFFER_ENC_CUSTOMER_MANAGED);
	assert_string_equal(t->kms_key_identifier, "k1");
	/* microseconds kept, zones applied */
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = '2024-06-30T04:05:00.123456Z'");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_OK);
	assert_int_equal(at, 1719720300123456LL);
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = '2024-06-30T06:05:00.000001+0200'");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_OK);
	assert_int_equal(at, 1719720300000001LL);
	/* a new specification for the target; the rest stays the source's */
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = '2024-06-30 04:05:00' AND "
	      "custom_properties = {'encryption_specification': {'encryption_type': 'AWS_OWNED_KMS_KEY'}, "
	      "'point_in_time_recovery': {'status': 'disabled'}}");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_OK);
	assert_int_equal(at, 1719720300000000LL);
	assert_int_equal(t->encryption, COFFER_ENC_AWS_OWNED);
	assert_null(t->kms_key_identifier);
	assert_false(t->pitr_enabled);
	/* refusals leave the definition and *at_us alone */
	at = 7;
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = 'yesterday'");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Invalid restore_timestamp 'yesterday'"));
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = '1960-01-01T00:00:00Z'");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_E_INVALID);
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = true");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "ISO-8601"));
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH comment = 'x'");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "Unknown property 'comment' for RESTORE TABLE"));
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH restore_timestamp = 1719720300123");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_OK);
	assert_int_equal(at, 1719720300123000LL);
	at = 7;
	s = P("RESTORE TABLE ks.n FROM TABLE ks.t WITH custom_properties = {'encryption_specification': "
	      "{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY'}}");
	assert_int_equal(coffer_cql_restore_options(&s->u.restore.options, t, &at), COFFER_E_INVALID);
	assert_string_equal(coffer_error_msg(), "CUSTOMER_MANAGED_KMS_KEY requires kms_key_identifier");
	assert_int_equal(at, 7);
	assert_int_equal(t->encryption, COFFER_ENC_AWS_OWNED);
	coffer_tabledef_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_alter_options),
		cmocka_unit_test(test_keyspace_options),
		cmocka_unit_test(test_restore_options),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
