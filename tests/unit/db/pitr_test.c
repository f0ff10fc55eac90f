/* pitr_test.c - pitr.c through CQL (issue 7): custom_properties with
 * point_in_time_recovery's status and earliest_restorable_timestamp; RESTORE
 * TABLE to several points in time with the exact contents at each (later
 * writes excluded at microsecond precision), under a new encryption
 * specification, and every refusal (target exists, no source, PITR off,
 * outside the window, the source's key disabled then enabled again); DROP
 * TABLE keeping a restorable backup across a restart, ended by CREATE of the
 * same name or by the retention; the key grace period's expiry (backup
 * taken, table deleted, events) then RESTORE; a restart during a restore.
 * The embedded KMS and the tables run on the manual clock; passes are run
 * with db_keyhealth_run_once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/db_internal.h"
#include "dbt_helper.h"
#include "keys/cache.h"
#include "util/alloc.h"

#define SIMPLE "{'class': 'SimpleStrategy', 'replication_factor': 1}"
#define PITR_ON "CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'enabled'}}"
#define RETENTION (3600 * COFFER_US_PER_SEC)
#define GRACE (600 * COFFER_US_PER_SEC)
#define IDLE (COFFER_KEY_CACHE_DEFAULT_IDLE_US + COFFER_US_PER_SEC)

static struct dbt *open_env(const char *tag)
{
	struct dbt *e = dbt_env(tag);
	e->cfg.key_check_interval_us = -1;
	e->cfg.backup_retention_us = RETENTION;
	e->cfg.key_grace_period_us = GRACE;
	assert_int_equal(dbt_open(e), COFFER_OK);
	dbt_ok(e, "CREATE KEYSPACE ks WITH replication = " SIMPLE);
	return e;
}

static const char *status_of(struct dbt *e, const char *table)
{
	static char q[256];
	snprintf(q, sizeof(q), "SELECT status FROM system_schema_mcs.tables WHERE keyspace_name = 'ks' AND "
			       "table_name = '%s'", table);
	return dbt_rows(e, q);
}

static const char *props_of(struct dbt *e, const char *table)
{
	static char q[256];
	snprintf(q, sizeof(q), "SELECT custom_properties FROM system_schema_mcs.tables WHERE keyspace_name = 'ks' "
			       "AND table_name = '%s'", table);
	return dbt_rows(e, q);
}

/* Waits for the background restore of ks.table to end; its final status
 * ("ACTIVE\n", or "" once a failed restore removed the table). */
static const char *restored(struct dbt *e, const char *table)
{
	for (int i = 0; i < 3000; i++) {
		const char *st = status_of(e, table);
		if (strcmp(st, "RESTORING\n") != 0)
			return st;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fail_msg("the restore of ks.%s did not end", table);
	return NULL;
}

static void iso(int64_t us, char out[40])
{
	time_t s = (time_t)(us / COFFER_US_PER_SEC);
	struct tm tm;
	gmtime_r(&s, &tm);
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%.19s.%06dZ", day, (int)(us % COFFER_US_PER_SEC));
}

static int64_t now_us(struct dbt *e)
{
	return coffer_clock_now_us(&e->clock.clock);
}

static void restore_at(struct dbt *e, const char *target, const char *source, int64_t at)
{
	char ts[40];
	iso(at, ts);
	char *q = coffer_xasprintf("RESTORE TABLE ks.%s FROM TABLE ks.%s WITH restore_timestamp = '%s'", target,
				   source, ts);
	dbt_ok(e, q);
	free(q);
	assert_string_equal(restored(e, target), "ACTIVE\n");
}

static void step(struct dbt *e)
{
	coffer_manual_clock_advance(&e->clock, 1000 * 1000);
}

/* CREATE TABLE ks.<name> (k int PRIMARY KEY, v text) on a customer managed
 * key, with or without PITR. */
static void create_cmk(struct dbt *e, const char *name, const char *key, bool pitr)
{
	char *q = coffer_xasprintf("CREATE TABLE ks.%s (k int PRIMARY KEY, v text) WITH CUSTOM_PROPERTIES = "
				   "{'encryption_specification': {'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', "
				   "'kms_key_identifier': '%s'}%s}",
				   name, key, pitr ? ", 'point_in_time_recovery': {'status': 'enabled'}" : "");
	dbt_ok(e, q);
	free(q);
}

/* A table on key k made INACCESSIBLE (k disabled, the next pass). */
static void make_inaccessible(struct dbt *e, const char *name, char k[COFFER_KMS_ARN_MAX])
{
	dbt_cmk(e, k);
	create_cmk(e, name, k, false);
	char *q = coffer_xasprintf("INSERT INTO ks.%s (k, v) VALUES (1, 'survives')", name);
	dbt_ok(e, q);
	free(q);
	dbt_key_disable(e, k);
	coffer_manual_clock_advance(&e->clock, IDLE);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, name), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
}

static void test_properties(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-props");
	dbt_ok(e, "CREATE TABLE ks.p (k int PRIMARY KEY, v text) WITH " PITR_ON);
	char ts[40], *want;
	iso(now_us(e), ts);
	want = coffer_xasprintf("{encryption_specification:{encryption_type:AWS_OWNED_KMS_KEY},"
				"point_in_time_recovery:{earliest_restorable_timestamp:%s,status:enabled}}\n", ts);
	assert_string_equal(props_of(e, "p"), want);
	free(want);
	/* disabling erases the history; enabling again starts it anew */
	step(e);
	dbt_ok(e, "ALTER TABLE ks.p WITH CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'disabled'}}");
	assert_non_null(strstr(props_of(e, "p"), "point_in_time_recovery:{status:disabled}"));
	step(e);
	dbt_ok(e, "ALTER TABLE ks.p WITH " PITR_ON);
	iso(now_us(e), ts);
	assert_non_null(strstr(props_of(e, "p"), ts));
	/* kept across a restart */
	dbt_reopen(e);
	assert_non_null(strstr(props_of(e, "p"), ts));
	dbt_free(e);
}

static void test_restore_points(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-points");
	dbt_ok(e, "CREATE TABLE ks.src (k int, c int, v text, s int static, PRIMARY KEY (k, c)) WITH " PITR_ON);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, c, v, s) VALUES (1, 1, 'a', 10)");
	int64_t t1 = now_us(e);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, c, v) VALUES (1, 2, 'b')");
	dbt_ok(e, "UPDATE ks.src SET v = 'A' WHERE k = 1 AND c = 1");
	int64_t t2 = now_us(e);
	step(e);
	dbt_ok(e, "DELETE FROM ks.src WHERE k = 1 AND c = 2");
	dbt_ok(e, "INSERT INTO ks.src (k, c, v) VALUES (2, 1, 'x') USING TTL 100000");
	int64_t t3 = now_us(e);
	coffer_manual_clock_advance(&e->clock, 1); /* one microsecond later */
	dbt_ok(e, "INSERT INTO ks.src (k, c, v) VALUES (3, 1, 'late')");

	restore_at(e, "r1", "src", t1);
	assert_string_equal(dbt_rows(e, "SELECT k, c, v, s FROM ks.r1"), "1|1|a|10\n");
	restore_at(e, "r2", "src", t2);
	assert_string_equal(dbt_rows(e, "SELECT k, c, v, s FROM ks.r2"), "1|1|A|10\n1|2|b|10\n");
	restore_at(e, "r3", "src", t3);
	assert_string_equal(dbt_rows(e, "SELECT k, c, v FROM ks.r3"), "1|1|A\n2|1|x\n");
	/* write times and TTLs come along */
	char *w = coffer_xasprintf("%lld\n", (long long)t1);
	assert_string_equal(dbt_rows(e, "SELECT writetime(s) FROM ks.r3 WHERE k = 1 LIMIT 1"), w);
	free(w);
	assert_string_not_equal(dbt_rows(e, "SELECT ttl(v) FROM ks.r3 WHERE k = 2"), "null\n");
	/* without a timestamp: now, the late write included */
	dbt_ok(e, "RESTORE TABLE ks.rnow FROM TABLE ks.src");
	assert_string_equal(restored(e, "rnow"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, c, v FROM ks.rnow"), "1|1|A\n2|1|x\n3|1|late\n");
	/* the restored table is a table like any other */
	dbt_ok(e, "INSERT INTO ks.r1 (k, c, v) VALUES (5, 5, 'new')");
	assert_string_equal(dbt_rows(e, "SELECT v FROM ks.r1 WHERE k = 5"), "new\n");
	/* and stays so across a restart */
	dbt_reopen(e);
	assert_string_equal(dbt_rows(e, "SELECT k, c, v FROM ks.r2"), "1|1|A\n1|2|b\n");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events WHERE table_name = 'r1' "
					"ALLOW FILTERING"),
			    "RESTORING\nRESTORED\n");
	dbt_free(e);
}

static void hold(struct dbt *e, bool on)
{
	pthread_mutex_lock(&e->db->pitr_mu);
	e->db->pitr_test_hold = on;
	pthread_cond_broadcast(&e->db->pitr_cv);
	pthread_mutex_unlock(&e->db->pitr_mu);
}

/* While a restore runs: RESTORING with its progress and source shown, the
 * target neither readable nor writable, neither side droppable. */
static void test_while_restoring(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-during");
	dbt_ok(e, "CREATE TABLE ks.src (k int PRIMARY KEY, v text) WITH " PITR_ON);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (1, 'a')");
	int64_t at = now_us(e);
	step(e);
	hold(e, true);
	char ts[40];
	iso(at, ts);
	char *q = coffer_xasprintf("RESTORE TABLE ks.dst FROM TABLE ks.src WITH restore_timestamp = '%s'", ts);
	dbt_ok(e, q);
	free(q);
	assert_string_equal(status_of(e, "dst"), "RESTORING\n");
	char *want = coffer_xasprintf("restore:{progress:0%%,restore_timestamp:%s,source_table:ks.src}}\n", ts);
	const char *props = props_of(e, "dst");
	assert_non_null(strstr(props, want));
	free(want);
	dbt_err(e, "SELECT * FROM ks.dst", COFFER_CQL_INVALID, "ks.dst is RESTORING");
	dbt_err(e, "INSERT INTO ks.dst (k, v) VALUES (2, 'b')", COFFER_CQL_INVALID, "RESTORING");
	dbt_err(e, "DROP TABLE ks.dst", COFFER_CQL_INVALID, "the target of a running restore");
	dbt_err(e, "DROP TABLE ks.src", COFFER_CQL_INVALID, "the source of a running restore (ks.dst from ks.src)");
	dbt_err(e, "TRUNCATE ks.src", COFFER_CQL_INVALID, "running restore");
	dbt_err(e, "ALTER TABLE ks.src WITH CUSTOM_PROPERTIES = {'point_in_time_recovery': {'status': 'disabled'}}",
		COFFER_CQL_INVALID, "running restore");
	dbt_err(e, "DROP KEYSPACE ks", COFFER_CQL_INVALID, "running restore");
	/* the source keeps working meanwhile */
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (3, 'c')");
	hold(e, false);
	assert_string_equal(restored(e, "dst"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.dst"), "1|a\n");
	assert_null(strstr(props_of(e, "dst"), "restore:"));
	dbt_ok(e, "DROP TABLE ks.src");
	dbt_free(e);
}

/* Flips one byte inside the first data block (sstable_write.c: blocks
 * start at offset 52) of every SST-* file under dir and its backup/, once
 * per file (a backup/ name is a hard link of the same file: inodes are
 * remembered in seen[]); returns how many. */
static int damage_sstables(const char *dir, ino_t *seen, int n)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *path = coffer_xasprintf("%s/%s", dir, de->d_name);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		bool dup = false;
		for (int i = 0; i < n; i++)
			dup = dup || seen[i] == st.st_ino;
		if (strcmp(de->d_name, "backup") == 0) {
			n = damage_sstables(path, seen, n);
		} else if (strncmp(de->d_name, "SST-", 4) == 0 && !dup && n < 64) {
			int fd = open(path, O_RDWR);
			assert_true(fd >= 0);
			uint8_t b = 0;
			assert_int_equal(pread(fd, &b, 1, 70), 1);
			b ^= 0x80;
			assert_int_equal(pwrite(fd, &b, 1, 70), 1);
			close(fd);
			seen[n++] = st.st_ino;
		}
		free(path);
	}
	closedir(d);
	return n;
}

/* A restore that fails while running: the half-made table is removed and
 * RESTORE_FAILED names the damage. */
static void test_failed_restore(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-fail");
	dbt_ok(e, "CREATE TABLE ks.d (k int PRIMARY KEY, v text) WITH " PITR_ON);
	for (int i = 0; i < 50; i++) {
		char *q = coffer_xasprintf("INSERT INTO ks.d (k, v) VALUES (%d, 'row %d')", i, i);
		dbt_ok(e, q);
		free(q);
	}
	assert_int_equal(coffer_db_flush_all(e->db), COFFER_OK);
	step(e);
	dbt_ok(e, "DROP TABLE ks.d");
	char hex[33];
	size_t n = 0;
	for (const char *p = e->db->retired[0]->storage_id; *p; p++)
		if (*p != '-')
			hex[n++] = *p;
	hex[n] = 0;
	hold(e, true);
	dbt_ok(e, "RESTORE TABLE ks.back FROM TABLE ks.d");
	char *dir = coffer_xasprintf("%s/data/%s", e->dir, hex);
	ino_t seen[64];
	assert_true(damage_sstables(dir, seen, 0) > 0);
	free(dir);
	hold(e, false);
	assert_string_equal(restored(e, "back"), "");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events WHERE table_name = 'back' "
					"ALLOW FILTERING"),
			    "RESTORING\nRESTORE_FAILED\n");
	const char *why = dbt_rows(e, "SELECT reason FROM system_coffer.events WHERE event = 'RESTORE_FAILED' "
				      "ALLOW FILTERING");
	assert_non_null(strstr(why, "ks.d (dropped)"));
	assert_non_null(strstr(why, "SST-"));
	/* nothing half-made is left: the name is free again */
	dbt_ok(e, "CREATE TABLE ks.back (k int PRIMARY KEY)");
	dbt_free(e);
}

static void test_refusals(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-refuse");
	dbt_ok(e, "CREATE TABLE ks.src (k int PRIMARY KEY, v text) WITH " PITR_ON);
	dbt_ok(e, "CREATE TABLE ks.plain (k int PRIMARY KEY, v text)");
	int64_t start = now_us(e);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (1, 'a')");
	dbt_err(e, "RESTORE TABLE ks.plain FROM TABLE ks.src", COFFER_CQL_ALREADY_EXISTS, "plain");
	dbt_err(e, "RESTORE TABLE ks.n FROM TABLE ks.nosuch", COFFER_CQL_INVALID,
		"no dropped table of that name is restorable");
	dbt_err(e, "RESTORE TABLE ks.n FROM TABLE ks.plain", COFFER_CQL_INVALID,
		"point-in-time recovery is not enabled");
	dbt_err(e, "RESTORE TABLE nks.n FROM TABLE ks.src", COFFER_CQL_INVALID, "Keyspace nks does not exist");
	dbt_err(e, "RESTORE TABLE ks.n FROM TABLE ks.src WITH restore_timestamp = 'soon'", COFFER_CQL_INVALID,
		"Invalid restore_timestamp 'soon'");
	char ts[40], *q;
	iso(start - COFFER_US_PER_SEC, ts);
	q = coffer_xasprintf("RESTORE TABLE ks.n FROM TABLE ks.src WITH restore_timestamp = '%s'", ts);
	dbt_err(e, q, COFFER_CQL_INVALID, "Cannot restore from table ks.src: restore time");
	dbt_err(e, q, COFFER_CQL_INVALID, "is outside the restorable window");
	free(q);
	iso(now_us(e) + 60 * COFFER_US_PER_SEC, ts);
	q = coffer_xasprintf("RESTORE TABLE ks.n FROM TABLE ks.src WITH restore_timestamp = '%s'", ts);
	dbt_err(e, q, COFFER_CQL_INVALID, "ks.src");
	free(q);
	/* nothing was left behind by the refusals */
	assert_string_equal(status_of(e, "n"), "");
	dbt_free(e);
}

static void test_key_change_and_spec(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-keys");
	char k1[COFFER_KMS_ARN_MAX], k2[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, k1);
	dbt_cmk(e, k2);
	create_cmk(e, "src", k1, true);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (1, 'under k1')");
	int64_t t1 = now_us(e);
	step(e);
	char *q = coffer_xasprintf("ALTER TABLE ks.src WITH CUSTOM_PROPERTIES = {'encryption_specification': "
			     "{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '%s'}}", k2);
	dbt_ok(e, q);
	free(q);
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (2, 'under k2')");
	step(e);
	dbt_ok(e, "ALTER TABLE ks.src WITH CUSTOM_PROPERTIES = {'encryption_specification': "
		  "{'encryption_type': 'AWS_OWNED_KMS_KEY'}}");
	step(e);
	/* k1 is not needed any more: disabled, the history still restores */
	dbt_key_disable(e, k1);
	restore_at(e, "r1", "src", t1);
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.r1"), "1|under k1\n");
	/* the target takes the source's specification... */
	assert_non_null(strstr(props_of(e, "r1"), "encryption_type:AWS_OWNED_KMS_KEY"));
	/* ...or its own, re-encrypted under it */
	char ts[40];
	iso(now_us(e), ts);
	q = coffer_xasprintf("RESTORE TABLE ks.r2 FROM TABLE ks.src WITH restore_timestamp = '%s' AND "
			     "custom_properties = {'encryption_specification': {'encryption_type': "
			     "'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '%s'}}", ts, k2);
	dbt_ok(e, q);
	free(q);
	assert_string_equal(restored(e, "r2"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.r2"), "1|under k1\n2|under k2\n");
	q = coffer_xasprintf("kms_key_identifier:%s", k2);
	assert_non_null(strstr(props_of(e, "r2"), q));
	free(q);
	dbt_free(e);
}

static void test_key_disabled_refused(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-kmsoff");
	char k[COFFER_KMS_ARN_MAX];
	dbt_cmk(e, k);
	create_cmk(e, "src", k, true);
	step(e);
	dbt_ok(e, "INSERT INTO ks.src (k, v) VALUES (1, 'a')");
	dbt_key_disable(e, k);
	coffer_manual_clock_advance(&e->clock, IDLE);
	db_keyhealth_run_once(e->db);
	struct coffer_proto_response r;
	dbt_query(e, "RESTORE TABLE ks.n FROM TABLE ks.src", &r);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
	assert_int_equal(r.u.error.code, COFFER_CQL_INVALID);
	assert_non_null(strstr(r.u.error.message, "ks.src"));
	assert_non_null(strstr(r.u.error.message, k));
	assert_string_equal(status_of(e, "n"), "");
	dbt_key_enable(e, k);
	db_keyhealth_run_once(e->db);
	dbt_ok(e, "RESTORE TABLE ks.n FROM TABLE ks.src");
	assert_string_equal(restored(e, "n"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.n"), "1|a\n");
	dbt_free(e);
}

static void test_dropped_table(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-drop");
	dbt_ok(e, "CREATE TABLE ks.d (k int PRIMARY KEY, v text) WITH " PITR_ON);
	step(e);
	dbt_ok(e, "INSERT INTO ks.d (k, v) VALUES (1, 'kept')");
	step(e);
	dbt_ok(e, "DROP TABLE ks.d");
	dbt_err(e, "SELECT * FROM ks.d", COFFER_CQL_INVALID, "unconfigured table d");
	/* the record survives a restart */
	dbt_reopen(e);
	dbt_ok(e, "RESTORE TABLE ks.back FROM TABLE ks.d");
	assert_string_equal(restored(e, "back"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.back"), "1|kept\n");
	/* restoring into the dropped name itself works, and ends the record */
	dbt_ok(e, "RESTORE TABLE ks.d FROM TABLE ks.d");
	assert_string_equal(restored(e, "d"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.d"), "1|kept\n");
	assert_int_equal(e->db->n_retired, 0);
	/* DROP again, then CREATE of the same name: no longer restorable */
	dbt_ok(e, "DROP TABLE ks.d");
	assert_int_equal(e->db->n_retired, 1);
	dbt_ok(e, "CREATE TABLE ks.d (k int PRIMARY KEY)");
	assert_int_equal(e->db->n_retired, 0);
	dbt_err(e, "RESTORE TABLE ks.x FROM TABLE ks.d", COFFER_CQL_INVALID, "not enabled");
	dbt_ok(e, "DROP TABLE ks.d");
	dbt_err(e, "RESTORE TABLE ks.x FROM TABLE ks.d", COFFER_CQL_INVALID, "no dropped table");
	dbt_free(e);
}

static void test_retention(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-retain");
	dbt_ok(e, "CREATE TABLE ks.d (k int PRIMARY KEY, v text) WITH " PITR_ON);
	step(e);
	dbt_ok(e, "INSERT INTO ks.d (k, v) VALUES (1, 'x')");
	dbt_ok(e, "DROP TABLE ks.d");
	/* the retired directory: data/<storage id without dashes> */
	char hex[33], *dir;
	size_t n = 0;
	for (const char *p = e->db->retired[0]->storage_id; *p; p++)
		if (*p != '-')
			hex[n++] = *p;
	hex[n] = 0;
	dir = coffer_xasprintf("%s/data/%s", e->dir, hex);
	assert_int_equal(access(dir, F_OK), 0);
	coffer_manual_clock_advance(&e->clock, RETENTION - COFFER_US_PER_SEC);
	db_keyhealth_run_once(e->db);
	assert_int_equal(e->db->n_retired, 1);
	coffer_manual_clock_advance(&e->clock, 2 * COFFER_US_PER_SEC);
	db_keyhealth_run_once(e->db);
	assert_int_equal(e->db->n_retired, 0);
	assert_int_not_equal(access(dir, F_OK), 0); /* shredded */
	free(dir);
	dbt_err(e, "RESTORE TABLE ks.x FROM TABLE ks.d", COFFER_CQL_INVALID, "no dropped table");
	dbt_reopen(e);
	assert_int_equal(e->db->n_retired, 0);
	dbt_free(e);
}

static void test_grace_expiry(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-grace");
	char k[COFFER_KMS_ARN_MAX];
	/* no PITR needed: the grace period's backup is the table's files */
	make_inaccessible(e, "g", k);
	coffer_manual_clock_advance(&e->clock, GRACE / 2);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	coffer_manual_clock_advance(&e->clock, GRACE / 2 + COFFER_US_PER_SEC);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events WHERE table_name = 'g' "
					"ALLOW FILTERING"),
			    "INACCESSIBLE_ENCRYPTION_CREDENTIALS\nBACKUP_TAKEN\nDELETED\n");
	/* restorable once the key is usable again, not before */
	dbt_err(e, "RESTORE TABLE ks.back FROM TABLE ks.g", COFFER_CQL_INVALID, k);
	dbt_key_enable(e, k);
	dbt_ok(e, "RESTORE TABLE ks.back FROM TABLE ks.g");
	assert_string_equal(restored(e, "back"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.back"), "1|survives\n");
	dbt_free(e);
}

/* The grace period counts from the first pass that saw the table
 * inaccessible, across restarts; a table not open since the restart is
 * retired as it lies and restores too. */
static void test_grace_across_restart(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-grace-rs");
	char k[COFFER_KMS_ARN_MAX];
	make_inaccessible(e, "g", k);
	coffer_manual_clock_advance(&e->clock, GRACE - COFFER_US_PER_SEC);
	dbt_reopen(e);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "INACCESSIBLE_ENCRYPTION_CREDENTIALS\n");
	coffer_manual_clock_advance(&e->clock, 2 * COFFER_US_PER_SEC);
	db_keyhealth_run_once(e->db);
	assert_string_equal(status_of(e, "g"), "");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events WHERE table_name = 'g' "
					"ALLOW FILTERING"),
			    "INACCESSIBLE_ENCRYPTION_CREDENTIALS\nBACKUP_TAKEN\nDELETED\n");
	assert_int_equal(e->db->n_retired, 1);
	/* the record (and the files) outlive a restart */
	dbt_reopen(e);
	assert_int_equal(e->db->n_retired, 1);
	assert_string_equal(e->db->retired[0]->def->name, "g");
	assert_non_null(strstr(e->db->retired[0]->reason, "grace period"));
	/* never opened since the restart, yet restorable once the key is back */
	dbt_key_enable(e, k);
	dbt_ok(e, "RESTORE TABLE ks.back FROM TABLE ks.g");
	assert_string_equal(restored(e, "back"), "ACTIVE\n");
	assert_string_equal(dbt_rows(e, "SELECT k, v FROM ks.back"), "1|survives\n");
	dbt_free(e);
}

static void test_restart_during_restore(void **state)
{
	(void)state;
	struct dbt *e = open_env("pitr-restart");
	dbt_ok(e, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
	/* as a crash in the middle of a restore leaves it */
	pthread_rwlock_wrlock(&e->db->schema_lock);
	e->db->tables[0]->status = COFFER_STATUS_RESTORING;
	assert_int_equal(db_save_catalog(e->db), COFFER_OK);
	pthread_rwlock_unlock(&e->db->schema_lock);
	dbt_reopen(e);
	assert_string_equal(status_of(e, "t"), "");
	assert_string_equal(dbt_rows(e, "SELECT event FROM system_coffer.events"), "RESTORE_FAILED\n");
	assert_non_null(strstr(dbt_rows(e, "SELECT reason FROM system_coffer.events"), "restart"));
	dbt_ok(e, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_restore_points),
		cmocka_unit_test(test_while_restoring),
		cmocka_unit_test(test_failed_restore),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_key_change_and_spec),
		cmocka_unit_test(test_key_disabled_refused),
		cmocka_unit_test(test_dropped_table),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_grace_expiry),
		cmocka_unit_test(test_grace_across_restart),
		cmocka_unit_test(test_restart_during_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
