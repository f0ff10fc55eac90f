/* catalog_test.c - db.c: first start (superuser, password file), the sealed
 * catalog across reopen, tamper detection, no plaintext names on disk, roles
 * and logins, and tables whose key is unreachable at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbt_helper.h"
#include "util/alloc.h"

static bool login(struct dbt *e, const char *user, const char *pw)
{
	bool ok = true;
	assert_int_equal(coffer_db_login(e->db, coffer_slice_str(user), coffer_slice_str(pw), &ok), COFFER_OK);
	return ok;
}

static void test_first_start_generated_password(void **state)
{
	(void)state;
	struct dbt *e = dbt_new_generated("first");
	char *path = coffer_xasprintf("%s/superuser.password", e->dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct coffer_buf b = {0};
	assert_int_equal(coffer_fs_read_all(path, 1024, &b), COFFER_OK);
	assert_true(b.len >= 21 && b.ptr[b.len - 1] == '\n');
	char *pw = coffer_xstrndup((const char *)b.ptr, b.len - 1);
	assert_true(strlen(pw) >= 20);
	assert_true(login(e, "coffer", pw));
	assert_false(login(e, "coffer", "wrong"));
	assert_false(login(e, "nobody", pw));
	assert_false(login(e, "", ""));
	/* a restart does not regenerate it */
	unlink(path);
	dbt_reopen(e);
	assert_false(coffer_fs_exists(path));
	assert_true(login(e, "coffer", pw));
	/* superuser row */
	assert_string_equal(dbt_rows(e, "LIST ROLES"), "coffer|true|true|{}\n");
	coffer_buf_free(&b);
	free(pw);
	free(path);
	dbt_free(e);
}

static void test_given_password_writes_no_file(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("given");
	char *path = coffer_xasprintf("%s/superuser.password", e->dir);
	assert_false(coffer_fs_exists(path));
	assert_true(login(e, "coffer", "pw"));
	free(path);
	dbt_free(e);
}

static const char *const NAMES[] = {"ks_plain_zq", "tbl_secret_zq", "col_ssn_zq", "role_alice_zq"};

static void make_schema(struct dbt *e)
{
	dbt_ok(e, "CREATE KEYSPACE ks_plain_zq WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
	dbt_ok(e, "CREATE TABLE ks_plain_zq.tbl_secret_zq (id int, c text, col_ssn_zq text, s int static, "
		  "PRIMARY KEY (id, c)) WITH CLUSTERING ORDER BY (c DESC) AND comment = 'hello'");
	dbt_ok(e, "CREATE ROLE role_alice_zq WITH PASSWORD = 'alicepw' AND LOGIN = true");
}

static void test_reopen_keeps_schema_and_roles(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("reopen");
	make_schema(e);
	char host[64];
	snprintf(host, sizeof(host), "%s", dbt_rows(e, "SELECT host_id FROM system.local"));
	const char *cols = "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns "
			   "WHERE keyspace_name = 'ks_plain_zq' AND table_name = 'tbl_secret_zq'";
	char *before = coffer_xstrdup(dbt_rows(e, cols));
	assert_string_equal(before, "id|partition_key|0|none|int\n"
				    "c|clustering|0|desc|text\n"
				    "col_ssn_zq|regular|-1|none|text\n"
				    "s|static|-1|none|int\n");
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, cols), before);
	assert_string_equal(dbt_rows(e, "SELECT host_id FROM system.local"), host);
	assert_string_equal(dbt_rows(e, "SELECT keyspace_name, replication FROM system_schema.keyspaces "
					"WHERE keyspace_name = 'ks_plain_zq'"),
			    "ks_plain_zq|{class:org.apache.cassandra.locator.SimpleStrategy,replication_factor:1}\n");
	assert_string_equal(dbt_rows(e, "SELECT comment FROM system_schema.tables WHERE keyspace_name = 'ks_plain_zq'"),
			    "hello\n");
	assert_true(login(e, "role_alice_zq", "alicepw"));
	assert_false(login(e, "role_alice_zq", "x"));
	free(before);
	dbt_free(e);
}

static void test_catalog_has_no_plaintext(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("plain");
	make_schema(e);
	char *cat = coffer_xasprintf("%s/schema/catalog.bin", e->dir);
	char *key = coffer_xasprintf("%s/schema/catalog.key", e->dir);
	for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
		assert_false(dbt_file_contains(cat, NAMES[i]));
		assert_false(dbt_file_contains(key, NAMES[i]));
	}
	assert_false(dbt_file_contains(cat, "pbkdf2"));
	assert_false(dbt_file_contains(cat, "hello"));
	free(cat);
	free(key);
	dbt_free(e);
}

static void flip_byte(const char *path, long off_from_end)
{
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, -off_from_end, SEEK_END), 0);
	int c = fgetc(f);
	assert_int_equal(fseek(f, -off_from_end, SEEK_END), 0);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static void expect_open_fails(struct dbt *e, const char *file)
{
	dbt_close_db(e);
	coffer_rc rc = dbt_open(e);
	assert_int_not_equal(rc, COFFER_OK);
	assert_non_null(strstr(coffer_error_msg(), file));
	assert_null(e->db);
}

static void test_tampered_catalog_is_an_error(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("tamper");
	make_schema(e);
	char *cat = coffer_xasprintf("%s/schema/catalog.bin", e->dir);
	struct coffer_buf orig = {0};
	assert_int_equal(coffer_fs_read_all(cat, 1 << 20, &orig), COFFER_OK);

	/* a flipped bit in the ciphertext, the tag, and the version counter */
	long offs[] = {40, 1, (long)orig.len - 6};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(coffer_fs_write_atomic(cat, coffer_buf_slice(&orig), 0600), COFFER_OK);
		flip_byte(cat, offs[i]);
		expect_open_fails(e, "catalog.bin");
		assert_int_equal(coffer_error_code(), COFFER_E_CORRUPT);
		e->db = NULL;
	}
	/* truncated */
	assert_int_equal(coffer_fs_write_atomic(cat, coffer_slice_of(orig.ptr, 20), 0600), COFFER_OK);
	expect_open_fails(e, "catalog.bin");
	/* the file is still there: never reset */
	assert_true(coffer_fs_exists(cat));
	/* restored: opens again with everything */
	assert_int_equal(coffer_fs_write_atomic(cat, coffer_buf_slice(&orig), 0600), COFFER_OK);
	assert_int_equal(dbt_open(e), COFFER_OK);
	assert_string_equal(dbt_rows(e, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks_plain_zq'"),
			    "tbl_secret_zq\n");
	/* a tampered key file names the key file */
	char *key = coffer_xasprintf("%s/schema/catalog.key", e->dir);
	flip_byte(key, 10);
	expect_open_fails(e, "catalog.key");
	/* a missing catalog beside table data is not a first start */
	flip_byte(key, 10);
	unlink(cat);
	expect_open_fails(e, "catalog.bin");
	assert_int_equal(coffer_fs_write_atomic(cat, coffer_buf_slice(&orig), 0600), COFFER_OK);
	assert_int_equal(dbt_open(e), COFFER_OK);
	coffer_buf_free(&orig);
	free(cat);
	free(key);
	dbt_free(e);
}

static void test_role_without_login_refused(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("login");
	dbt_ok(e, "CREATE ROLE bob WITH PASSWORD = 'bobpw' AND LOGIN = false");
	assert_false(login(e, "bob", "bobpw"));
	dbt_ok(e, "ALTER ROLE bob WITH LOGIN = true");
	assert_true(login(e, "bob", "bobpw"));
	dbt_ok(e, "ALTER ROLE bob WITH PASSWORD = 'newpw'");
	assert_false(login(e, "bob", "bobpw"));
	assert_true(login(e, "bob", "newpw"));
	dbt_ok(e, "CREATE ROLE nopw WITH LOGIN = true");
	assert_false(login(e, "nopw", ""));
	dbt_ok(e, "DROP ROLE bob");
	assert_false(login(e, "bob", "newpw"));
	dbt_reopen(e);
	assert_false(login(e, "bob", "newpw"));
	dbt_free(e);
}

static void test_inaccessible_table_at_open(void **state)
{
	(void)state;
	struct dbt *e = dbt_new("inacc");
	char cmk[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, cmk);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
	char *q = coffer_xasprintf("CREATE TABLE ks.cm (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
				   "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				   "'kms_key_identifier': '%s'}}", cmk);
	dbt_ok(e, q);
	dbt_ok(e, "CREATE TABLE ks.own (k int PRIMARY KEY, v text)");
	dbt_close_db(e);
	dbt_key_disable(e, cmk);
	dbt_reopen(e); /* fresh key cache: the table key must come from the KMS */
	const char *st = "SELECT table_name, status FROM system_schema_mcs.tables WHERE keyspace_name = 'ks'";
	assert_string_equal(dbt_rows(e, st), "cm|INACCESSIBLE_ENCRYPTION_CREDENTIALS\nown|ACTIVE\n");
	/* its use fails naming table, key and reason */
	struct coffer_proto_response r;
	dbt_query(e, "TRUNCATE ks.cm", &r);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
	assert_int_equal(r.u.error.code, COFFER_CQL_INVALID);
	assert_non_null(strstr(r.u.error.message, "ks.cm"));
	assert_non_null(strstr(r.u.error.message, cmk));
	assert_non_null(strstr(r.u.error.message, "DisabledException"));
	/* the other table still works */
	dbt_ok(e, "TRUNCATE ks.own");
	/* access restored: ACTIVE again at the next open */
	dbt_key_enable(e, cmk);
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, st), "cm|ACTIVE\nown|ACTIVE\n");
	free(q);
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_start_generated_password),
		cmocka_unit_test(test_given_password_writes_no_file),
		cmocka_unit_test(test_reopen_keeps_schema_and_roles),
		cmocka_unit_test(test_catalog_has_no_plaintext),
		cmocka_unit_test(test_tampered_catalog_is_an_error),
		cmocka_unit_test(test_role_without_login_refused),
		cmocka_unit_test(test_inaccessible_table_at_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
