/* keyhealth_test.c - keyhealth.c and notify.c: a table whose KMS key is
 * disabled, whose grants are revoked, or whose key is scheduled for deletion
 * goes INACCESSIBLE_ENCRYPTION_CREDENTIALS (reads and writes fail naming
 * table, key and reason; other tables unaffected), raises an event (the
 * system_coffer.events row and the notify command), and comes back ACTIVE
 * with its data when access returns; grants made at CREATE, retired at DROP
 * (the backup one after the release delay, across a restart); a key at its
 * grant limit fails the CREATE clearly; the background thread does the same
 * on its own. The embedded KMS runs on a manual clock; passes are driven with
 * db_keyhealth_run_once (key_check_interval_us < 0) except in the thread
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "dbt_helper.h"
#include "keys/cache.h"
#include "util/alloc.h"

#define SIMPLE "{'class': 'SimpleStrategy', 'replication_factor': 1}"
#define IDLE (COFFER_KEY_CACHE_DEFAULT_IDLE_US + COFFER_US_PER_SEC)

struct env {
	struct dbt *e;
	char *events_file;
	char *command;
};

/* A db over the embedded KMS with the notify command appending one line per
 * event to a file, and passes driven by the test. */
static void env_open(struct env *v, const char *tag, int64_t interval_us)
{
	v->e = dbt_env(tag);
	v->events_file = coffer_xasprintf("%s/events.txt", v->e->dir);
	v->command = coffer_xasprintf("printf '%%s|%%s|%%s|%%s\\n' \"$COFFER_EVENT\" \"$COFFER_KEYSPACE\" "
				      "\"$COFFER_TABLE\" \"$COFFER_KMS_KEY\" >> '%s'",
				      v->events_file);
	v->e->cfg.key_check_interval_us = interval_us;
	v->e->cfg.notify_command = v->command;
	v->e->cfg.grant_release_delay_us = 3600 * COFFER_US_PER_SEC;
	assert_int_equal(dbt_open(v->e), COFFER_OK);
	dbt_ok(v->e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
}

static void env_close(struct env *v)
{
	dbt_free(v->e);
	free(v->events_file);
	free(v->command);
}

static char *events_text(struct env *v)
{
	struct coffer_buf b = {0};
	if (access(v->events_file, F_OK) != 0)
		return coffer_xstrdup("");
	assert_int_equal(coffer_fs_read_all(v->events_file, 1 << 20, &b), COFFER_OK);
	char *s = coffer_xstrndup((const char *)b.ptr, b.len);
	coffer_buf_free(&b);
	return s;
}

static const char *status_of(struct dbt *e, const char *table)
{
	static char q[256];
	snprintf(q, sizeof(q), "SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'ks' AND "
			       "table_name = '%s'", table);
	return dbt_rows(e, q);
}

static void create_cmk_table(struct dbt *e, const char *name, const char *arn)
{
	char *q = coffer_xasprintf("CREATE TABLE ks.%s (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
				   "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				   "'kms_key_identifier': '%s'}}",
				   name, arn);
	dbt_ok(e, q);
	free(q);
}

/* A key with the KMS's default policy: coffer may only describe it and
 * create grants, so the table runs on its grants. */
static void default_key(struct dbt *e, char arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	struct coffer_kms_create_key_req req = {.description = "default policy"};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(coffer_kms_create_key(e->kms, &admin, &req, &info), COFFER_OK);
	snprintf(arn, COFFER_KMS_ARN_MAX, "%s", info.arn);
	coffer_kms_key_info_free(&info);
}

static size_t grant_count(struct dbt *e, const char *arn)
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(coffer_kms_list_grants(e->kms, &admin, arn, NULL, NULL, 1000, NULL, &l), COFFER_OK);
	size_t n = l.n;
	coffer_kms_grant_list_free(&l);
	return n;
}

static struct db_table *table_handle(struct dbt *e, const char *name)
{
	for (size_t i = 0; i < e->db->n_tables; i++)
		if (strcmp(e->db->tables[i]->def->name, name) == 0)
			return e->db->tables[i];
	fail_msg("no table %s", name);
	return NULL;
}

static void expect_inaccessible_errors(struct dbt *e, const char *table, const char *arn, const char *why)
{
	char *q[2] = {coffer_xasprintf("SELECT * FROM ks.%s", table),
		      coffer_xasprintf("INSERT INTO ks.%s (k, v) VALUES (9, 'x')", table)};
	char *name = coffer_xasprintf("ks.%s", table);
	for (size_t i = 0; i < 2; i++) {
		struct coffer_proto_response r;
		dbt_query(e, q[i], &r);
		assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
		assert_int_equal(r.u.error.code, COFFER_CQL_INVALID);
		assert_non_null(strstr(r.u.error.message, name));
		assert_non_null(strstr(r.u.error.message, arn));
		assert_non_null(strstr(r.u.error.message, why));
		assert_non_null(strstr(r.u.error.message, "INACCESSIBLE_ENCRYPTION_CREDENTIALS"));
		free(q[i]);
	}
	free(name);
}

static void test_disable_then_enable(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-disable", -1);
	struct dbt *e = v.e;
	char cmk[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, cmk);
	create_cmk_table(e, "cm", cmk);
	dbt_ok(e, "CREATE TABLE ks.own (k int PRIMARY KEY, v text)");
	dbt_ok(e, "INSERT INTO ks.cm (k, v) VALUES (1, 'one')");
	dbt_ok(e, "INSERT INTO ks.own (k, v) VALUES (1, 'uno')");
	/* healthy: a pass changes nothing and makes no Decrypt while cached */
	uint64_t dec = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_DECRYPT);
	db_keyhealth_run_once(e->db);
	assert_int_equal(coffer_key_provider_calls(e->provider, COFFER_KEY_OP_DECRYPT), dec);
	assert_string_equal(status_of(e, "cm"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT * FROM system_coffer.events"), "");

	dbt_key_disable(e, cmk);
	coffer_manual_clock_advance(&e->clock, IDLE);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "cm"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	assert_string_equal(status_of(e, "own"), "ACTIVE\n");
	expect_inaccessible_errors(e, "cm", cmk, "DisabledException");
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.own WHERE k = 1"), "uno\n");
	dbt_ok(e, "INSERT INTO ks.own (k, v) VALUES (2, 'dos')");
	/* the event: a CQL row and the command's line */
	char *want = coffer_xasprintf("ks|cm|INACCESSIBLE_ENCRYPTION_CREDENTIALS|%s\n", cmk);
	assert_string_equal(dbt_rows(e, "SELECT keyspace_name, table_name, event, kms_key FROM system_coffer.events"),
			    want);
	free(want);
	char *reason = coffer_xstrdup(dbt_rows(e, "SELECT reason FROM system_coffer.events"));
	assert_non_null(strstr(reason, "ks.cm"));
	assert_non_null(strstr(reason, "DisabledException"));
	free(reason);
	char *ev = events_text(&v);
	want = coffer_xasprintf("INACCESSIBLE_ENCRYPTION_CREDENTIALS|ks|cm|%s\n", cmk);
	assert_string_equal(ev, want);
	free(want);
	free(ev);
	/* a second pass raises nothing new */
	db_keyhealth_run_once(e->db);
	assert_string_equal(dbt_rows(e, "SELECT count(*) FROM system_coffer.events"), "1\n");

	/* the status and the event survive a restart */
	dbt_reopen(e);
	assert_string_equal(status_of(e, "cm"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	assert_string_equal(dbt_rows(e, "SELECT count(*) FROM system_coffer.events"), "1\n");

	/* access returns: ACTIVE by itself, data intact */
	dbt_key_enable(e, cmk);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "cm"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.cm WHERE k = 1"), "one\n");
	dbt_ok(e, "INSERT INTO ks.cm (k, v) VALUES (2, 'two')");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events"),
			    "INACCESSIBLE_ENCRYPTION_CREDENTIALS\nACTIVE\n");
	ev = events_text(&v);
	want = coffer_xasprintf("INACCESSIBLE_ENCRYPTION_CREDENTIALS|ks|cm|%s\nACTIVE|ks|cm|%s\n", cmk, cmk);
	assert_string_equal(ev, want);
	free(want);
	free(ev);
	env_close(&v);
}

static void test_pending_deletion(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-pending", -1);
	struct dbt *e = v.e;
	char cmk[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, cmk);
	create_cmk_table(e, "cm", cmk);
	dbt_key_schedule_deletion(e, cmk);
	/* DescribeKey sees it within one pass, cached or not */
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "cm"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	expect_inaccessible_errors(e, "cm", cmk, "pending deletion");
	env_close(&v);
}

static void test_grants_revoked_then_restored(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-revoke", -1);
	struct dbt *e = v.e;
	char key[COFFER_KMS_ARN_MAX];
	default_key(e, key);
	create_cmk_table(e, "g", key);
	dbt_ok(e, "INSERT INTO ks.g (k, v) VALUES (1, 'one')");
	assert_int_equal(grant_count(e, key), 2);
	struct db_table *t = table_handle(e, "g");
	assert_true(t->grant_ids[0][0] && t->grant_ids[1][0]);
	assert_non_null(t->grant_tokens[0]);
	/* the grants' constraint is the table's context */
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	struct coffer_kms_grant_list l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(coffer_kms_list_grants(e->kms, &admin, key, t->grant_ids[0], NULL, 10, NULL, &l), COFFER_OK);
	assert_int_equal(l.n, 1);
	assert_true(l.grants[0].has_context_subset);
	assert_int_equal(l.grants[0].n_context_subset, 2);
	char want_name[80];
	snprintf(want_name, sizeof(want_name), "coffer-%s-ops", t->storage_id);
	assert_string_equal(l.grants[0].name, want_name);
	coffer_kms_grant_list_free(&l);

	/* coffer's grants revoked: nothing changes while the key is cached... */
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(coffer_kms_revoke_grant(e->kms, &admin, key, t->grant_ids[i]), COFFER_OK);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "ACTIVE\n");
	/* ...and after the cache's idle period the next check asks the KMS */
	coffer_manual_clock_advance(&e->clock, IDLE);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	expect_inaccessible_errors(e, "g", key, "AccessDenied");

	/* access restored by a key policy that allows coffer */
	char *policy = coffer_xasprintf(
		"{\"Version\":\"2012-10-17\",\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":[\"kms:Decrypt\","
		"\"kms:GenerateDataKey*\",\"kms:DescribeKey\",\"kms:CreateGrant\"],\"Resource\":\"*\"}]}",
		coffer_kms_admin_principal(e->kms), coffer_kms_service_principal(e->kms));
	assert_int_equal(coffer_kms_put_key_policy(e->kms, &admin, key, "default", policy, false), COFFER_OK);
	free(policy);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.g WHERE k = 1"), "one\n");
	env_close(&v);
}

static void test_drop_retires_grants(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-drop", -1);
	struct dbt *e = v.e;
	char key[COFFER_KMS_ARN_MAX];
	default_key(e, key);
	create_cmk_table(e, "a", key);
	create_cmk_table(e, "b", key);
	assert_int_equal(grant_count(e, key), 4);
	dbt_ok(e, "DROP TABLE ks.a");
	/* the operations grant at once; the backup grant waits */
	assert_int_equal(grant_count(e, key), 3);
	assert_int_equal(e->db->n_releases, 1);
	/* durable across a restart */
	dbt_reopen(e);
	assert_int_equal(e->db->n_releases, 1);
	db_keyhealth_run_once(e->db);
	assert_int_equal(grant_count(e, key), 3);
	coffer_manual_clock_advance(&e->clock, 3601 * COFFER_US_PER_SEC);
	db_keyhealth_run_once(e->db);
	assert_int_equal(grant_count(e, key), 2);
	assert_int_equal(e->db->n_releases, 0);
	dbt_reopen(e);
	assert_int_equal(e->db->n_releases, 0);
	/* the other table still runs on its grants */
	dbt_ok(e, "INSERT INTO ks.b (k, v) VALUES (1, 'one')");
	/* DROP KEYSPACE releases its tables' grants too */
	dbt_ok(e, "DROP KEYSPACE ks");
	assert_int_equal(grant_count(e, key), 1);
	env_close(&v);
}

static void test_grant_limit(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-limit", -1);
	struct dbt *e = v.e;
	char key[COFFER_KMS_ARN_MAX];
	default_key(e, key);
	/* fill the key up to one grant short of its limit with the admin's grants */
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	for (int i = 0; i < COFFER_KMS_DEFAULT_GRANT_LIMIT - 1; i++) {
		char id[COFFER_KMS_GRANT_ID_MAX];
		char *tok = NULL;
		struct coffer_kms_create_grant_req req = {
			.key_ref = key,
			.grantee_principal = coffer_kms_admin_principal(e->kms),
			.operations = COFFER_KMS_OP_BIT(COFFER_KMS_OP_DESCRIBE_KEY),
		};
		assert_int_equal(coffer_kms_create_grant(e->kms, &admin, &req, id, &tok), COFFER_OK);
		free(tok);
	}
	char *q = coffer_xasprintf("CREATE TABLE ks.crowded (k int PRIMARY KEY) WITH CUSTOM_PROPERTIES = "
				   "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				   "'kms_key_identifier': '%s'}}",
				   key);
	dbt_err(e, q, COFFER_CQL_INVALID, "LimitExceededException");
	dbt_err(e, q, COFFER_CQL_INVALID, "50,000");
	free(q);
	/* the half-made table left nothing behind: its first grant was retired,
	 * so the key has room for exactly one more grant */
	for (int i = 0; i < 2; i++) {
		char id[COFFER_KMS_GRANT_ID_MAX];
		char *tok = NULL;
		struct coffer_kms_create_grant_req req = {
			.key_ref = key,
			.grantee_principal = coffer_kms_admin_principal(e->kms),
			.operations = COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT),
		};
		assert_int_equal(coffer_kms_create_grant(e->kms, &admin, &req, id, &tok),
				 i == 0 ? COFFER_OK : COFFER_E_KMS_LIMIT_EXCEEDED);
		free(tok);
	}
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'"), "");
	/* each refusal raised an event: a row and the notify command */
	assert_string_equal(dbt_rows(e, "SELECT table_name, event FROM system_coffer.events"),
			    "crowded|CREATE_TABLE_REFUSED\ncrowded|CREATE_TABLE_REFUSED\n");
	char *ev = events_text(&v);
	assert_non_null(strstr(ev, "CREATE_TABLE_REFUSED|ks|crowded|"));
	free(ev);
	env_close(&v);
}

/* ALTER TABLE between keys, observed from inside: a provider wrapper runs
 * statements in the middle of the key change (at the new table key's
 * GenerateDataKey, schema_lock then held for reading by the ALTER): the
 * table is UPDATING and its reads and writes succeed (another ALTER or a
 * TRUNCATE of an UPDATING table is refused as retryable). Afterwards it is ACTIVE on the
 * new key with two grants there, the old key's operations grant retired and
 * its backup grant in the release list; a restart keeps all of it. */
struct alter_probe {
	struct dbt *e;
	bool armed;
	char status[64];
	bool insert_ok, select_ok;
};

static void in_key_change(void *arg, const char *ks, const char *table, enum coffer_key_provider_op op,
			  coffer_rc rc)
{
	struct alter_probe *p = arg;
	(void)ks;
	if (!p->armed || op != COFFER_KEY_OP_GENERATE_DATA_KEY || rc != COFFER_OK || !table ||
	    strcmp(table, "alt") != 0)
		return;
	p->armed = false;
	struct dbt e2 = *p->e; /* its own response buffers */
	coffer_arena_init(&e2.arena, 0);
	e2.frame = (struct coffer_buf){0};
	snprintf(p->status, sizeof(p->status), "%s", status_of(&e2, "alt"));
	struct coffer_proto_response r;
	dbt_query(&e2, "INSERT INTO ks.alt (k, v) VALUES (100, 'during')", &r);
	p->insert_ok = r.opcode == COFFER_PROTO_OP_RESULT;
	dbt_query(&e2, "SELECT v FROM ks.alt WHERE k = 1", &r);
	p->select_ok = r.opcode == COFFER_PROTO_OP_RESULT;
	coffer_arena_free(&e2.arena);
	coffer_buf_free(&e2.frame);
}

static void test_alter_moves_grants_online(void **state)
{
	(void)state;
	struct alter_probe p;
	memset(&p, 0, sizeof(p));
	struct env v;
	v.e = dbt_env("kh-alter");
	v.events_file = coffer_xasprintf("%s/events.txt", v.e->dir);
	v.command = NULL;
	struct dbt *e = v.e;
	p.e = e;
	struct coffer_key_provider *inner = e->provider;
	e->provider = coffer_key_provider_counting(inner, in_key_change, &p);
	e->cfg.key_check_interval_us = -1;
	e->cfg.grant_release_delay_us = 3600 * COFFER_US_PER_SEC;
	assert_int_equal(dbt_open(e), COFFER_OK);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	char a[COFFER_KMS_ARN_MAX], b[COFFER_KMS_ARN_MAX];
	default_key(e, a);
	default_key(e, b);
	create_cmk_table(e, "alt", a);
	dbt_ok(e, "INSERT INTO ks.alt (k, v) VALUES (1, 'one')");
	assert_int_equal(grant_count(e, a), 2);

	p.armed = true;
	char *q = coffer_xasprintf("ALTER TABLE ks.alt WITH CUSTOM_PROPERTIES = {'encryption_specification': "
				   "{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '%s'}}",
				   b);
	dbt_ok(e, q);
	free(q);
	assert_false(p.armed);
	assert_string_equal(p.status, "UPDATING\n");
	assert_true(p.insert_ok);
	assert_true(p.select_ok);
	assert_string_equal(status_of(e, "alt"), "ACTIVE\n");
	/* (they take schema_lock for writing, so they are tried here, with the
	 * status set as the ALTER sets it) */
	table_handle(e, "alt")->status = COFFER_STATUS_UPDATING;
	dbt_err(e, "ALTER TABLE ks.alt WITH comment = 'no'", COFFER_CQL_INVALID, "is UPDATING");
	dbt_err(e, "TRUNCATE ks.alt", COFFER_CQL_INVALID, "is UPDATING");
	table_handle(e, "alt")->status = COFFER_STATUS_ACTIVE;
	assert_string_equal(table_handle(e, "alt")->kms_key_arn, b);
	assert_int_equal(grant_count(e, b), 2);
	assert_int_equal(grant_count(e, a), 1); /* ops retired now, backup released later */
	assert_int_equal(e->db->n_releases, 1);
	assert_string_equal(e->db->releases[0].key_arn, a);
	/* the table runs on the new key's grants (cache dropped: a Decrypt) */
	coffer_key_cache_drop(e->cache, table_handle(e, "alt")->storage_id);
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.alt WHERE k = 100"), "during\n");
	/* and the move is in the catalog */
	dbt_close_db(e);
	assert_int_equal(dbt_open(e), COFFER_OK);
	assert_string_equal(table_handle(e, "alt")->kms_key_arn, b);
	assert_int_equal(e->db->n_releases, 1);
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.alt WHERE k = 1"), "one\n");
	/* DROP retires the new key's operations grant */
	dbt_ok(e, "DROP TABLE ks.alt");
	assert_int_equal(grant_count(e, b), 1);
	dbt_close_db(e);
	coffer_key_provider_free(e->provider);
	e->provider = inner;
	env_close(&v);
}

static void test_thread_on_its_own(void **state)
{
	(void)state;
	struct env v;
	env_open(&v, "kh-thread", 20 * 1000); /* 20 ms */
	struct dbt *e = v.e;
	char cmk[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, cmk);
	create_cmk_table(e, "cm", cmk);
	dbt_ok(e, "INSERT INTO ks.cm (k, v) VALUES (1, 'one')");
	dbt_key_disable(e, cmk);
	const char *want = "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n";
	for (int i = 0; i < 250 && strcmp(status_of(e, "cm"), want) != 0; i++)
		usleep(20 * 1000);
	assert_string_equal(status_of(e, "cm"), want);
	dbt_key_enable(e, cmk);
	for (int i = 0; i < 250 && strcmp(status_of(e, "cm"), "ACTIVE\n") != 0; i++)
		usleep(20 * 1000);
	assert_string_equal(status_of(e, "cm"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.cm WHERE k = 1"), "one\n");
	env_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disable_then_enable),
		cmocka_unit_test(test_pending_deletion),
		cmocka_unit_test(test_grants_revoked_then_restored),
		cmocka_unit_test(test_drop_retires_grants),
		cmocka_unit_test(test_grant_limit),
		cmocka_unit_test(test_alter_moves_grants_online),
		cmocka_unit_test(test_thread_on_its_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
