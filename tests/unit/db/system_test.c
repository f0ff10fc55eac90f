/* system_test.c - exec_system.c: the exact queries the Python and Node.js
 * drivers send on connect (reference/cql-drivers.md), column names and
 * types, WHERE (literal and bound), projection, LIMIT, COUNT(*), the
 * Keyspaces tables, and unknown tables answering 0x2200. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt_helper.h"
#include "util/alloc.h"

static struct dbt *with_schema(const char *tag)
{
	struct dbt *e = dbt_new(tag);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
	dbt_ok(e, "CREATE TABLE ks.t (a int, b text, c bigint, d map<text, int>, s text static, "
		  "PRIMARY KEY ((a), b, c)) WITH CLUSTERING ORDER BY (b ASC, c DESC)");
	return e;
}

/* Every query both drivers send on connect answers ROWS. */
static void test_driver_connect_queries(void **state)
{
	(void)state;
	struct dbt *e = with_schema("connect");
	static const char *const queries[] = {
		/* Python */
		"SELECT * FROM system.peers_v2",
		"SELECT * FROM system.local WHERE key='local'",
		"SELECT * FROM system_schema.keyspaces",
		"SELECT * FROM system_schema.tables",
		"SELECT * FROM system_schema.columns",
		"SELECT * FROM system_schema.types",
		"SELECT * FROM system_schema.functions",
		"SELECT * FROM system_schema.aggregates",
		"SELECT * FROM system_schema.triggers",
		"SELECT * FROM system_schema.indexes",
		"SELECT * FROM system_schema.views",
		"SELECT peer, data_center, host_id, rack, release_version, rpc_address, schema_version, tokens FROM system.peers",
		"SELECT schema_version FROM system.local WHERE key='local'",
		"SELECT peer, rpc_address, schema_version FROM system.peers",
		/* Node */
		"SELECT * FROM system.local WHERE key='local'",
		"SELECT * FROM system.peers",
		"SELECT * FROM system_schema.keyspaces",
		"SELECT * FROM system_schema.tables WHERE keyspace_name='ks' AND table_name='t'",
		"SELECT * FROM system_schema.columns WHERE keyspace_name='ks' AND table_name='t'",
		"SELECT * FROM system_schema.indexes WHERE keyspace_name='ks' AND table_name='t'",
		"SELECT * FROM system_schema.keyspaces WHERE keyspace_name='ks'",
		"SELECT * FROM system_schema.dropped_columns",
		"select * from system.local",
	};
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		assert_int_equal(dbt_ok(e, queries[i]), COFFER_PROTO_RESULT_ROWS);
	/* peers are empty on one node */
	assert_string_equal(dbt_rows(e, "SELECT * FROM system.peers"), "");
	assert_string_equal(dbt_rows(e, "SELECT * FROM system.peers_v2"), "");
	dbt_free(e);
}

static void test_system_local(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("local");
	struct coffer_proto_response r;
	dbt_query(e, "SELECT * FROM system.local WHERE key='local'", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "key:text,bootstrapped:text,broadcast_address:inet,broadcast_port:int,cluster_name:text,"
			    "cql_version:text,data_center:text,gossip_generation:int,host_id:uuid,listen_address:inet,"
			    "listen_port:int,native_protocol_version:text,partitioner:text,rack:text,release_version:text,"
			    "rpc_address:inet,rpc_port:int,schema_version:uuid,thrift_version:text,tokens:set<text>,"
			    "truncated_at:map<uuid, blob>");
	assert_int_equal(r.u.result.rows_count, 1);
	assert_true(r.u.result.metadata.flags & COFFER_PROTO_MF_GLOBAL_TABLES_SPEC);
	assert_string_equal(r.u.result.metadata.keyspace, "system");
	assert_string_equal(r.u.result.metadata.table, "local");
	assert_string_equal(dbt_rows(e, "SELECT key, cluster_name, data_center, rack, partitioner, release_version, "
					"rpc_address, rpc_port, tokens, native_protocol_version, truncated_at "
					"FROM system.local WHERE key = 'local'"),
			    "local|coffer|datacenter1|rack1|org.apache.cassandra.dht.Murmur3Partitioner|3.11.16|"
			    "127.0.0.1|9042|{0}|4|null\n");
	/* no dse_version */
	dbt_err(e, "SELECT dse_version FROM system.local", COFFER_CQL_INVALID, "Undefined column name dse_version");
	/* WHERE that matches nothing */
	assert_string_equal(dbt_rows(e, "SELECT key FROM system.local WHERE key = 'other'"), "");
	/* aliases and order as asked */
	dbt_query(e, "SELECT release_version AS v, key FROM system.local", &r);
	assert_string_equal(dbt_columns(e, &r), "v:text,key:text");
	dbt_free(e);
}

static void test_schema_version_changes(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("schemaver");
	char v1[64], v2[64], v3[64];
	snprintf(v1, sizeof(v1), "%s", dbt_rows(e, "SELECT schema_version FROM system.local WHERE key='local'"));
	assert_int_equal(strlen(v1), 37);
	dbt_ok(e, "CREATE KEYSPACE k2 WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 1}");
	snprintf(v2, sizeof(v2), "%s", dbt_rows(e, "SELECT schema_version FROM system.local"));
	assert_string_not_equal(v1, v2);
	dbt_ok(e, "CREATE TABLE k2.x (k int PRIMARY KEY)");
	snprintf(v3, sizeof(v3), "%s", dbt_rows(e, "SELECT schema_version FROM system.local"));
	assert_string_not_equal(v2, v3);
	/* a statement that changes nothing keeps it */
	dbt_ok(e, "CREATE TABLE IF NOT EXISTS k2.x (k int PRIMARY KEY)");
	assert_string_equal(dbt_rows(e, "SELECT schema_version FROM system.local"), v3);
	dbt_free(e);
}

static void test_schema_tables_columns_and_types(void **state)
{
	(void)state;
	struct dbt *e = with_schema("schema");
	struct coffer_proto_response r;
	dbt_query(e, "SELECT * FROM system_schema.keyspaces", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,durable_writes:boolean,replication:map<text, text>");
	assert_string_equal(dbt_render(e, &r),
			    "system|true|{class:org.apache.cassandra.locator.LocalStrategy}\n"
			    "system_schema|true|{class:org.apache.cassandra.locator.LocalStrategy}\n"
			    "system_schema_mcs|true|{class:org.apache.cassandra.locator.LocalStrategy}\n"
			    "ks|true|{class:org.apache.cassandra.locator.SimpleStrategy,replication_factor:1}\n");
	dbt_query(e, "SELECT * FROM system_schema.tables WHERE keyspace_name='ks' AND table_name='t'", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,table_name:text,bloom_filter_fp_chance:double,caching:map<text, text>,"
			    "cdc:boolean,comment:text,compaction:map<text, text>,compression:map<text, text>,"
			    "crc_check_chance:double,dclocal_read_repair_chance:double,default_time_to_live:int,"
			    "extensions:map<text, blob>,flags:set<text>,gc_grace_seconds:int,id:uuid,"
			    "max_index_interval:int,memtable_flush_period_in_ms:int,min_index_interval:int,"
			    "read_repair_chance:double,speculative_retry:text");
	assert_int_equal(r.u.result.rows_count, 1);
	assert_string_equal(dbt_rows(e, "SELECT flags, default_time_to_live, gc_grace_seconds, comment, caching "
					"FROM system_schema.tables WHERE keyspace_name='ks' AND table_name='t'"),
			    "{compound}|0|864000||{keys:ALL,rows_per_partition:NONE}\n");
	dbt_query(e, "SELECT * FROM system_schema.columns WHERE keyspace_name='ks' AND table_name='t'", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,table_name:text,column_name:text,clustering_order:text,"
			    "column_name_bytes:blob,kind:text,position:int,type:text");
	assert_string_equal(dbt_rows(e, "SELECT column_name, kind, position, clustering_order, type "
					"FROM system_schema.columns WHERE keyspace_name='ks' AND table_name='t'"),
			    "a|partition_key|0|none|int\n"
			    "b|clustering|0|asc|text\n"
			    "c|clustering|1|desc|bigint\n"
			    "d|regular|-1|none|map<text, int>\n"
			    "s|static|-1|none|text\n");
	/* the system tables describe themselves */
	assert_string_equal(dbt_rows(e, "SELECT column_name, kind, type FROM system_schema.columns WHERE "
					"keyspace_name = 'system' AND table_name = 'local' AND column_name = 'tokens'"),
			    "tokens|regular|set<text>\n");
	/* the empty tables have Cassandra 3.11's columns */
	dbt_query(e, "SELECT * FROM system_schema.types", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,type_name:text,field_names:list<text>,field_types:list<text>");
	dbt_query(e, "SELECT * FROM system_schema.functions", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,function_name:text,argument_types:list<text>,argument_names:list<text>,"
			    "body:text,called_on_null_input:boolean,language:text,return_type:text");
	dbt_query(e, "SELECT * FROM system_schema.indexes", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,table_name:text,index_name:text,kind:text,options:map<text, text>");
	dbt_query(e, "SELECT * FROM system_schema.triggers", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "keyspace_name:text,table_name:text,trigger_name:text,options:map<text, text>");
	dbt_query(e, "SELECT * FROM system_schema.aggregates", &r);
	assert_int_equal(r.u.result.metadata.n_columns, 8);
	dbt_query(e, "SELECT * FROM system_schema.views", &r);
	assert_int_equal(r.u.result.metadata.n_columns, 23);
	dbt_free(e);
}

static void test_where_bound_in_limit_count(void **state)
{
	(void)state;
	struct dbt *e = with_schema("where");
	dbt_ok(e, "CREATE TABLE ks.u (k int PRIMARY KEY)");
	struct coffer_proto_response r;
	struct coffer_proto_value v[2] = {coffer_proto_value_of("ks", 2), coffer_proto_value_of("u", 1)};
	dbt_query_values(e, "SELECT keyspace_name, table_name, status FROM system_schema_mcs.tables "
			    "WHERE keyspace_name=? AND table_name=?", v, 2, &r);
	assert_string_equal(dbt_render(e, &r), "ks|u|ACTIVE\n");
	dbt_query_values(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name=:ks", v, 1, &r);
	assert_string_equal(dbt_render(e, &r), "t\nu\n");
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks' "
					"AND table_name IN ('u', 'zz')"), "u\n");
	assert_string_equal(dbt_rows(e, "SELECT keyspace_name FROM system_schema.keyspaces LIMIT 2"),
			    "system\nsystem_schema\n");
	assert_string_equal(dbt_rows(e, "SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = 'ks'"), "2\n");
	dbt_err(e, "SELECT nope FROM system_schema.tables", COFFER_CQL_INVALID, "Undefined column name nope");
	dbt_err(e, "SELECT * FROM system_schema.tables WHERE keyspace_name > 'a'", COFFER_CQL_INVALID, NULL);
	dbt_err(e, "SELECT * FROM system_schema.tables WHERE nope = 'a'", COFFER_CQL_INVALID, "nope");
	dbt_err(e, "SELECT * FROM system.local LIMIT 0", COFFER_CQL_INVALID, "LIMIT");
	dbt_free(e);
}

static void test_unknown_system_tables(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("unknown");
	dbt_err(e, "SELECT * FROM system_virtual_schema.keyspaces", COFFER_CQL_INVALID, NULL);
	dbt_err(e, "SELECT * FROM system.nope", COFFER_CQL_INVALID, "unconfigured table nope");
	dbt_err(e, "SELECT * FROM system_auth.roles", COFFER_CQL_INVALID, "unconfigured table roles");
	/* USE system then unqualified */
	assert_int_equal(dbt_ok(e, "USE system"), COFFER_PROTO_RESULT_SET_KEYSPACE);
	assert_string_equal(dbt_rows(e, "SELECT key FROM local"), "local\n");
	dbt_free(e);
}

static void test_mcs_tables_custom_properties(void **state)
{
	(void)state;
	struct dbt *e = with_schema("mcs");
	char cmk[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, cmk);
	char *q = coffer_xasprintf("CREATE TABLE ks.c (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = "
				   "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				   "'kms_key_identifier': '%s'}, 'point_in_time_recovery': {'status': 'enabled'}}", cmk);
	dbt_ok(e, q);
	struct coffer_proto_response r;
	dbt_query(e, "SELECT keyspace_name, table_name, status, custom_properties FROM system_schema_mcs.tables "
		     "WHERE keyspace_name = 'ks'", &r);
	assert_string_equal(dbt_columns(e, &r), "keyspace_name:text,table_name:text,status:text,"
						"custom_properties:map<text, map<text, text>>");
	char *want = coffer_xasprintf(
		"ks|t|ACTIVE|{encryption_specification:{encryption_type:AWS_OWNED_KMS_KEY},"
		"point_in_time_recovery:{status:disabled}}\n"
		"ks|c|ACTIVE|{encryption_specification:{encryption_type:CUSTOMER_MANAGED_KMS_KEY,kms_key_identifier:%s},"
		"point_in_time_recovery:{earliest_restorable_timestamp:2025-11-24T16:00:00.000000Z,status:enabled}}\n",
		cmk); /* history starts at CREATE: the manual clock's start */
	assert_string_equal(dbt_render(e, &r), want);
	assert_string_equal(dbt_rows(e, "SELECT keyspace_name, replication FROM system_schema_mcs.keyspaces "
					"WHERE keyspace_name = 'ks'"),
			    "ks|{class:org.apache.cassandra.locator.SimpleStrategy,replication_factor:1}\n");
	/* system_schema.tables has no status nor custom_properties */
	dbt_err(e, "SELECT status FROM system_schema.tables", COFFER_CQL_INVALID, "Undefined column name status");
	free(want);
	free(q);
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_driver_connect_queries),
		cmocka_unit_test(test_system_local),
		cmocka_unit_test(test_schema_version_changes),
		cmocka_unit_test(test_schema_tables_columns_and_types),
		cmocka_unit_test(test_where_bound_in_limit_count),
		cmocka_unit_test(test_unknown_system_tables),
		cmocka_unit_test(test_mcs_tables_custom_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
