/* ddl_test.c - exec_ddl.c: USE, keyspaces, tables (customer managed keys,
 * ALTER ADD/DROP/WITH and the online key change, DROP, TRUNCATE), roles, the
 * SCHEMA_CHANGE results and events, and every error's code and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "dbt_helper.h"
#include "util/alloc.h"

#define SIMPLE "{'class': 'SimpleStrategy', 'replication_factor': 1}"

/* Files under DIR/data/<ks> (recursively). */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = coffer_xasprintf("%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			n += count_files(p);
		else
			n++;
		free(p);
	}
	closedir(d);
	return n;
}

/* Files of the keyspace's tables. Table directories are named by id only
 * (no names on disk), and these tests keep one keyspace at a time, so that
 * is every file under DIR/data. */
static int ks_files(struct dbt *e, const char *ks)
{
	(void)ks;
	char *p = coffer_xasprintf("%s/data", e->dir);
	int n = count_files(p);
	free(p);
	return n;
}

static void test_use_and_keyspaces(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("ks");
	struct coffer_proto_response r;
	dbt_err(e, "USE nope", COFFER_CQL_INVALID, "Keyspace 'nope' does not exist");

	dbt_query(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE, &r);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_RESULT);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SCHEMA_CHANGE);
	assert_string_equal(r.u.result.schema.change, "CREATED");
	assert_string_equal(r.u.result.schema.target, "KEYSPACE");
	assert_string_equal(r.u.result.schema.keyspace, "ks");
	assert_int_equal(e->schema_events, 1);
	assert_string_equal(e->last_event, "CREATED KEYSPACE ks");

	dbt_query(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE, &r);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
	assert_int_equal(r.u.error.code, COFFER_CQL_ALREADY_EXISTS);
	assert_string_equal(r.u.error.message, "Cannot add already existing keyspace \"ks\"");
	assert_string_equal(r.u.error.keyspace, "ks");
	assert_string_equal(r.u.error.table, "");
	assert_int_equal(dbt_ok(e, "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = " SIMPLE),
			 COFFER_PROTO_RESULT_VOID);
	assert_int_equal(e->schema_events, 1);
	dbt_err(e, "CREATE KEYSPACE system WITH replication = " SIMPLE, COFFER_CQL_ALREADY_EXISTS, "system");
	dbt_err(e, "CREATE KEYSPACE k2 WITH replication = {'replication_factor': 1}", COFFER_CQL_CONFIG_ERROR,
		"Missing replication strategy class");
	dbt_err(e, "CREATE KEYSPACE k2 WITH replication = {'class': 'FooStrategy'}", COFFER_CQL_CONFIG_ERROR,
		"Unable to find replication strategy class 'org.apache.cassandra.locator.FooStrategy'");
	dbt_err(e, "CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy'}", COFFER_CQL_CONFIG_ERROR,
		"SimpleStrategy requires a replication_factor strategy option.");
	dbt_err(e, "CREATE KEYSPACE \"bad-name\" WITH replication = " SIMPLE, COFFER_CQL_INVALID,
		"is not a valid keyspace name");
	dbt_ok(e, "CREATE KEYSPACE k3 WITH replication = {'class': 'SingleRegionStrategy'}");
	dbt_ok(e, "CREATE KEYSPACE k4 WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3} "
		  "AND durable_writes = false");
	assert_string_equal(dbt_rows(e, "SELECT durable_writes, replication FROM system_schema.keyspaces WHERE "
					"keyspace_name IN ('k3', 'k4')"),
			    "true|{class:SingleRegionStrategy}\n"
			    "false|{class:org.apache.cassandra.locator.NetworkTopologyStrategy,dc1:3}\n");

	/* USE */
	assert_int_equal(dbt_ok(e, "USE ks"), COFFER_PROTO_RESULT_SET_KEYSPACE);
	assert_string_equal(e->session.keyspace, "ks");

	/* ALTER */
	dbt_ok(e, "ALTER KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 1}");
	assert_string_equal(e->last_event, "UPDATED KEYSPACE ks");
	dbt_ok(e, "ALTER KEYSPACE ks WITH durable_writes = false");
	assert_string_equal(dbt_rows(e, "SELECT durable_writes, replication FROM system_schema.keyspaces WHERE "
					"keyspace_name = 'ks'"),
			    "false|{class:org.apache.cassandra.locator.NetworkTopologyStrategy,datacenter1:1}\n");
	dbt_err(e, "ALTER KEYSPACE nope WITH durable_writes = false", COFFER_CQL_INVALID, "Unknown keyspace nope");
	dbt_err(e, "ALTER KEYSPACE system_schema WITH durable_writes = false", COFFER_CQL_UNAUTHORIZED,
		"not user-modifiable");

	/* DROP (with tables: their storage is shredded) */
	dbt_ok(e, "CREATE TABLE t1 (k int PRIMARY KEY, v text)");
	dbt_ok(e, "CREATE TABLE t2 (k int PRIMARY KEY, v text)");
	assert_true(ks_files(e, "ks") > 0);
	dbt_query(e, "DROP KEYSPACE ks", &r);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SCHEMA_CHANGE);
	assert_string_equal(r.u.result.schema.change, "DROPPED");
	assert_int_equal(ks_files(e, "ks"), 0);
	assert_string_equal(e->session.keyspace, "");
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'"), "");
	dbt_err(e, "DROP KEYSPACE ks", COFFER_CQL_CONFIG_ERROR, "Cannot drop non existing keyspace 'ks'.");
	assert_int_equal(dbt_ok(e, "DROP KEYSPACE IF EXISTS ks"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "DROP KEYSPACE system", COFFER_CQL_UNAUTHORIZED, NULL);
	/* persisted */
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name IN "
					"('ks', 'k3', 'k4')"), "k3\nk4\n");
	dbt_free(e);
}

static void test_create_table_forms_and_errors(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("tables");
	struct coffer_proto_response r;
	dbt_err(e, "CREATE TABLE t (k int PRIMARY KEY)", COFFER_CQL_INVALID,
		"No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename");
	dbt_err(e, "CREATE TABLE nope.t (k int PRIMARY KEY)", COFFER_CQL_INVALID, "Keyspace nope does not exist");
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_query(e, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c)) WITH default_time_to_live = 60", &r);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SCHEMA_CHANGE);
	assert_string_equal(r.u.result.schema.target, "TABLE");
	assert_string_equal(r.u.result.schema.name, "t");
	assert_string_equal(e->last_event, "CREATED TABLE ks t");
	dbt_query(e, "CREATE TABLE ks.t (k int PRIMARY KEY)", &r);
	assert_int_equal(r.u.error.code, COFFER_CQL_ALREADY_EXISTS);
	assert_string_equal(r.u.error.message, "Cannot add already existing table \"t\" to keyspace \"ks\"");
	assert_string_equal(r.u.error.keyspace, "ks");
	assert_string_equal(r.u.error.table, "t");
	assert_int_equal(dbt_ok(e, "CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY)"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "CREATE TABLE ks.u (k int)", COFFER_CQL_INVALID, NULL);
	dbt_err(e, "CREATE TABLE ks.u (k int PRIMARY KEY, v nosuchtype)", COFFER_CQL_INVALID, NULL);
	dbt_err(e, "CREATE TABLE system.u (k int PRIMARY KEY)", COFFER_CQL_UNAUTHORIZED, NULL);
	dbt_ok(e, "USE ks");
	dbt_ok(e, "CREATE TABLE \"Quoted\" (k int PRIMARY KEY)");
	assert_string_equal(dbt_rows(e, "SELECT table_name, default_time_to_live FROM system_schema.tables "
					"WHERE keyspace_name = 'ks'"), "t|60\nQuoted|0\n");
	dbt_err(e, "CREATE TABLE \"bad/name\" (k int PRIMARY KEY)", COFFER_CQL_INVALID,
		"non-alphanumeric-underscore");
	dbt_free(e);
}

static char *cmk_create(const char *table, const char *key)
{
	return coffer_xasprintf("CREATE TABLE ks.%s (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
				"{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				"'kms_key_identifier': '%s'}}", table, key);
}

static const char *status_of(struct dbt *e, const char *table)
{
	static char q[256];
	snprintf(q, sizeof(q), "SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'ks' AND "
			       "table_name = '%s'", table);
	return dbt_rows(e, q);
}

static void test_customer_managed_keys(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("cmk");
	char good[COFFER_KMS_ARN_MAX], off[COFFER_KMS_ARN_MAX], gone[COFFER_KMS_ARN_MAX];
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_cmk(e, good);
	dbt_cmk(e, off);
	dbt_cmk(e, gone);
	dbt_key_disable(e, off);
	dbt_key_schedule_deletion(e, gone);
	char *q;

	q = cmk_create("a", good);
	dbt_ok(e, q);
	free(q);
	assert_string_equal(status_of(e, "a"), "ACTIVE\n");

	q = cmk_create("b", "arn:aws:kms:local:000000000000:key/00000000-0000-4000-8000-000000000000");
	dbt_err(e, q, COFFER_CQL_INVALID, "the KMS key does not exist");
	free(q);
	q = cmk_create("b", off);
	dbt_err(e, q, COFFER_CQL_INVALID, "is disabled");
	free(q);
	q = cmk_create("b", gone);
	dbt_err(e, q, COFFER_CQL_INVALID, "is pending deletion");
	free(q);
	q = cmk_create("b", e->svc_key);
	dbt_err(e, q, COFFER_CQL_INVALID, "service key");
	free(q);
	/* a key whose policy does not let coffer use it (the default policy
	 * lets coffer describe the key and create grants: enough for a table,
	 * which then runs on its grants) */
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	char *admin_only = coffer_xasprintf("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
					    "\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}",
					    coffer_kms_admin_principal(e->kms));
	struct coffer_kms_create_key_req req = {.description = "not for coffer", .policy = admin_only};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(coffer_kms_create_key(e->kms, &admin, &req, &info), COFFER_OK);
	q = cmk_create("b", info.arn);
	dbt_err(e, q, COFFER_CQL_INVALID, "not allowed");
	free(q);
	coffer_kms_key_info_free(&info);
	free(admin_only);
	/* the failures created nothing */
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'"), "a\n");
	/* an alias resolves to its key's ARN */
	assert_int_equal(coffer_kms_create_alias(e->kms, &admin, "alias/dbtest", good), COFFER_OK);
	q = cmk_create("c", "alias/dbtest");
	dbt_ok(e, q);
	free(q);
	char *want = coffer_xasprintf("{encryption_specification:{encryption_type:CUSTOMER_MANAGED_KMS_KEY,"
				      "kms_key_identifier:%s},point_in_time_recovery:{status:disabled}}\n", good);
	assert_string_equal(dbt_rows(e, "SELECT custom_properties FROM system_schema_mcs.tables WHERE "
					"keyspace_name = 'ks' AND table_name = 'c'"), want);
	free(want);
	dbt_free(e);
}

static struct db_table *table_handle(struct dbt *e, const char *name)
{
	for (size_t i = 0; i < e->db->n_tables; i++)
		if (strcmp(e->db->tables[i]->def->name, name) == 0)
			return e->db->tables[i];
	fail_msg("no table %s", name);
	return NULL;
}

static void test_alter_table(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("alter");
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_ok(e, "CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))");
	dbt_ok(e, "CREATE TABLE ks.nock (k int PRIMARY KEY, v text)");
	uint32_t v1, v2, w;
	assert_int_equal(db_column_id(table_handle(e, "t"), "v", false, &v1), COFFER_OK);

	dbt_ok(e, "ALTER TABLE ks.t ADD w list<int>");
	assert_string_equal(e->last_event, "UPDATED TABLE ks t");
	dbt_ok(e, "ALTER TABLE ks.t ADD s int static");
	dbt_err(e, "ALTER TABLE ks.t ADD v int", COFFER_CQL_INVALID, "conflicts with an existing column");
	dbt_err(e, "ALTER TABLE ks.nock ADD s int static", COFFER_CQL_INVALID, "Static columns");
	dbt_err(e, "ALTER TABLE ks.t DROP k", COFFER_CQL_INVALID, "Cannot drop PRIMARY KEY part k");
	dbt_err(e, "ALTER TABLE ks.t DROP nope", COFFER_CQL_INVALID, "Column nope was not found in table t");
	dbt_err(e, "ALTER TABLE ks.nope ADD x int", COFFER_CQL_INVALID, "unconfigured table nope");
	dbt_err(e, "ALTER TABLE nope.t ADD x int", COFFER_CQL_INVALID, "Keyspace nope does not exist");
	assert_int_equal(db_column_id(table_handle(e, "t"), "w", false, &w), COFFER_OK);

	/* DROP then re-ADD: a fresh storage id (never the dropped one's cells) */
	dbt_ok(e, "ALTER TABLE ks.t DROP v");
	assert_int_not_equal(db_column_id(table_handle(e, "t"), "v", false, &v2), COFFER_OK);
	dbt_ok(e, "ALTER TABLE ks.t ADD v text");
	assert_int_equal(db_column_id(table_handle(e, "t"), "v", false, &v2), COFFER_OK);
	assert_int_not_equal(v1, v2);
	assert_true(v2 > w);
	assert_string_equal(dbt_rows(e, "SELECT column_name, kind, type FROM system_schema.columns WHERE "
					"keyspace_name = 'ks' AND table_name = 't'"),
			    "k|partition_key|int\nc|clustering|int\ns|static|int\nv|regular|text\nw|regular|list<int>\n");

	/* options */
	dbt_ok(e, "ALTER TABLE ks.t WITH comment = 'note' AND default_time_to_live = 5");
	assert_string_equal(dbt_rows(e, "SELECT comment, default_time_to_live FROM system_schema.tables WHERE "
					"keyspace_name = 'ks' AND table_name = 't'"), "note|5\n");
	dbt_err(e, "ALTER TABLE ks.t WITH default_time_to_live = -1", COFFER_CQL_INVALID, NULL);

	/* persisted with the column ids */
	dbt_reopen(e);
	uint32_t v3;
	assert_int_equal(db_column_id(table_handle(e, "t"), "v", false, &v3), COFFER_OK);
	assert_int_equal(v3, v2);
	assert_string_equal(dbt_rows(e, "SELECT comment FROM system_schema.tables WHERE keyspace_name = 'ks' AND "
					"table_name = 't'"), "note\n");
	dbt_free(e);
}

static void test_alter_encryption_online(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("rekey");
	char k1[COFFER_KMS_ARN_MAX], off[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, k1);
	dbt_cmk(e, off);
	dbt_key_disable(e, off);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_ok(e, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
	struct db_table *t = table_handle(e, "t");
	assert_string_equal(t->kms_key_arn, e->svc_key);

	char *q = coffer_xasprintf("ALTER TABLE ks.t WITH CUSTOM_PROPERTIES = {'encryption_specification': "
				   "{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '%s'}}", k1);
	dbt_ok(e, q);
	free(q);
	assert_string_equal(t->kms_key_arn, k1);
	assert_string_equal(status_of(e, "t"), "ACTIVE\n");
	assert_string_equal(e->last_event, "UPDATED TABLE ks t");
	/* to a disabled key: refused, nothing changes */
	q = coffer_xasprintf("ALTER TABLE ks.t WITH CUSTOM_PROPERTIES = {'encryption_specification': "
			     "{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '%s'}}", off);
	dbt_err(e, q, COFFER_CQL_INVALID, "is disabled");
	free(q);
	assert_string_equal(t->kms_key_arn, k1);
	assert_string_equal(status_of(e, "t"), "ACTIVE\n");
	/* the change survives a restart, and the table opens under the new key */
	dbt_reopen(e);
	t = table_handle(e, "t");
	assert_string_equal(t->kms_key_arn, k1);
	assert_string_equal(status_of(e, "t"), "ACTIVE\n");
	/* back to the service key */
	dbt_ok(e, "ALTER TABLE ks.t WITH CUSTOM_PROPERTIES = {'encryption_specification': "
		  "{'encryption_type': 'AWS_OWNED_KMS_KEY'}}");
	assert_string_equal(table_handle(e, "t")->kms_key_arn, e->svc_key);
	/* with k1 disabled the table still opens: it no longer needs k1 */
	dbt_close_db(e);
	dbt_key_disable(e, k1);
	dbt_reopen(e);
	assert_string_equal(status_of(e, "t"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT custom_properties FROM system_schema_mcs.tables WHERE "
					"keyspace_name = 'ks' AND table_name = 't'"),
			    "{encryption_specification:{encryption_type:AWS_OWNED_KMS_KEY},"
			    "point_in_time_recovery:{status:disabled}}\n");
	dbt_free(e);
}

static void test_drop_and_truncate(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("drop");
	struct coffer_proto_response r;
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	dbt_ok(e, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
	dbt_ok(e, "CREATE TABLE ks.keep (k int PRIMARY KEY, v text)");
	char old_id[40];
	snprintf(old_id, sizeof(old_id), "%s", table_handle(e, "t")->storage_id);
	char *id_before = coffer_xstrdup(dbt_rows(e, "SELECT id FROM system_schema.tables WHERE keyspace_name = 'ks' "
						     "AND table_name = 't'"));
	assert_int_equal(dbt_ok(e, "TRUNCATE ks.t"), COFFER_PROTO_RESULT_VOID);
	assert_string_not_equal(table_handle(e, "t")->storage_id, old_id);
	assert_string_equal(dbt_rows(e, "SELECT id FROM system_schema.tables WHERE keyspace_name = 'ks' AND "
					"table_name = 't'"), id_before);
	assert_int_equal(dbt_ok(e, "TRUNCATE TABLE ks.t"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "TRUNCATE ks.nope", COFFER_CQL_INVALID, "unconfigured table nope");
	dbt_reopen(e);
	assert_string_equal(status_of(e, "t"), "ACTIVE\n");

	int before = ks_files(e, "ks");
	dbt_query(e, "DROP TABLE ks.t", &r);
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_SCHEMA_CHANGE);
	assert_string_equal(r.u.result.schema.change, "DROPPED");
	assert_string_equal(e->last_event, "DROPPED TABLE ks t");
	assert_true(ks_files(e, "ks") < before);
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'"),
			    "keep\n");
	dbt_err(e, "DROP TABLE ks.t", COFFER_CQL_CONFIG_ERROR, "Cannot drop non existing table 't' in keyspace 'ks'.");
	assert_int_equal(dbt_ok(e, "DROP TABLE IF EXISTS ks.t"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "DROP TABLE nope.t", COFFER_CQL_INVALID, "Keyspace nope does not exist");
	dbt_err(e, "DROP TABLE system.local", COFFER_CQL_UNAUTHORIZED, NULL);
	/* the same name again is a new, empty table */
	dbt_ok(e, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'"),
			    "keep\nt\n");
	free(id_before);
	dbt_free(e);
}

static void test_roles(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("roles");
	assert_int_equal(dbt_ok(e, "CREATE ROLE alice WITH PASSWORD = 'a' AND LOGIN = true"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "CREATE ROLE alice WITH PASSWORD = 'a'", COFFER_CQL_INVALID, "alice already exists");
	assert_int_equal(dbt_ok(e, "CREATE ROLE IF NOT EXISTS alice"), COFFER_PROTO_RESULT_VOID);
	dbt_ok(e, "CREATE ROLE ops WITH SUPERUSER = true AND LOGIN = false");
	dbt_ok(e, "CREATE USER carol WITH PASSWORD 'c' NOSUPERUSER");
	struct coffer_proto_response r;
	dbt_query(e, "LIST ROLES", &r);
	assert_string_equal(dbt_columns(e, &r), "role:text,super:boolean,login:boolean,options:map<text, text>");
	assert_string_equal(dbt_render(e, &r), "alice|false|true|{}\ncarol|false|true|{}\n"
					       "coffer|true|true|{}\nops|true|false|{}\n");
	dbt_query(e, "LIST USERS", &r);
	assert_string_equal(dbt_columns(e, &r), "name:text,super:boolean");
	assert_string_equal(dbt_render(e, &r), "alice|false\ncarol|false\ncoffer|true\n");

	/* a non-superuser */
	e->session.user = "alice";
	dbt_err(e, "CREATE ROLE x WITH LOGIN = true", COFFER_CQL_UNAUTHORIZED,
		"User alice does not have sufficient privileges");
	dbt_err(e, "DROP ROLE carol", COFFER_CQL_UNAUTHORIZED, NULL);
	dbt_err(e, "ALTER ROLE carol WITH PASSWORD = 'z'", COFFER_CQL_UNAUTHORIZED, NULL);
	dbt_err(e, "ALTER ROLE alice WITH SUPERUSER = true", COFFER_CQL_UNAUTHORIZED, NULL);
	dbt_ok(e, "ALTER ROLE alice WITH PASSWORD = 'a2'");
	assert_string_equal(dbt_rows(e, "LIST ROLES"), "alice|false|true|{}\n");
	bool ok = false;
	assert_int_equal(coffer_db_login(e->db, coffer_slice_str("alice"), coffer_slice_str("a2"), &ok), COFFER_OK);
	assert_true(ok);

	e->session.user = "coffer";
	dbt_err(e, "DROP ROLE coffer", COFFER_CQL_INVALID, "Cannot DROP primary role for current login");
	dbt_err(e, "DROP ROLE nope", COFFER_CQL_INVALID, "nope doesn't exist");
	assert_int_equal(dbt_ok(e, "DROP ROLE IF EXISTS nope"), COFFER_PROTO_RESULT_VOID);
	dbt_err(e, "ALTER ROLE nope WITH LOGIN = true", COFFER_CQL_INVALID, "nope doesn't exist");
	dbt_err(e, "CREATE ROLE e WITH PASSWORD = ''", COFFER_CQL_INVALID, "empty");
	dbt_ok(e, "DROP ROLE carol");
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, "LIST USERS"), "alice|false\ncoffer|true\n");
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_use_and_keyspaces),
		cmocka_unit_test(test_create_table_forms_and_errors),
		cmocka_unit_test(test_customer_managed_keys),
		cmocka_unit_test(test_alter_table),
		cmocka_unit_test(test_alter_encryption_online),
		cmocka_unit_test(test_drop_and_truncate),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
