/* batchlog_test.c - the batch log of logged multi-table batches
 * (batchlog.c, DESIGN.md rule 8): a crash simulated after the log is
 * durable and before any table applies is completed by the next open; the
 * log holds no plaintext; a normal batch leaves no log behind; unlogged and
 * single-table batches never write one; a tampered, truncated or renamed log
 * is reported naming the file, kept, never applied, and the db still opens. */
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
#include <unistd.h>

#include "db/db_internal.h"
#include "dmlt_helper.h"
#include "util/alloc.h"

#define CANARY_A "CANARY-alpha-7731"
#define CANARY_B "CANARY-beta-5520"
#define CANARY_K "CANARY-key-p9"
#define CANARY_S "CANARY-static-41"

/* The names of DIR/batchlog's files, '\n'-joined (static buffer). */
static const char *blog_files(struct dbt *e, int *count)
{
	static char out[4096];
	char *dir = coffer_xasprintf("%s/batchlog", e->dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	out[0] = 0;
	*count = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		strncat(out, de->d_name, sizeof(out) - strlen(out) - 2);
		strcat(out, "\n");
		(*count)++;
	}
	closedir(d);
	free(dir);
	return out;
}

/* Path of the only batch log (caller frees). */
static char *only_blog(struct dbt *e)
{
	int n;
	const char *names = blog_files(e, &n);
	assert_int_equal(n, 1);
	char *name = coffer_xstrdup(names);
	name[strcspn(name, "\n")] = 0;
	char *p = coffer_xasprintf("%s/batchlog/%s", e->dir, name);
	free(name);
	return p;
}

static void schema(struct dbt *e)
{
	dmlt_ok(e, "CREATE TABLE a (id int PRIMARY KEY, v text, n bigint)");
	dmlt_ok(e, "CREATE TABLE b (p text, c int, v text, s text static, l list<int>, PRIMARY KEY (p, c))");
	dmlt_ok(e, "INSERT INTO a (id, v) VALUES (9, 'gone')");
	dmlt_ok(e, "INSERT INTO b (p, c, v) VALUES ('q', 1, 'one')");
	dmlt_ok(e, "INSERT INTO b (p, c, v) VALUES ('q', 2, 'two')");
	dmlt_ok(e, "INSERT INTO b (p, c, v) VALUES ('q', 3, 'three')");
	dmlt_ok(e, "INSERT INTO b (p, c, v) VALUES ('r', 1, 'r1')");
}

/* Every op kind the batch log records: row marker, cells, static cell,
 * cell deletion, row deletion, range deletion, partition deletion, TTL. */
static const char *BATCH =
	"BEGIN BATCH "
	"INSERT INTO a (id, v, n) VALUES (1, '" CANARY_A "', 77); "
	"INSERT INTO a (id, v) VALUES (2, 'ttl') USING TTL 100000; "
	"UPDATE a SET n = null WHERE id = 1; "
	"DELETE FROM a WHERE id = 9; "
	"UPDATE b SET v = '" CANARY_B "', l = [1, 2] WHERE p = '" CANARY_K "' AND c = 5; "
	"UPDATE b SET s = '" CANARY_S "' WHERE p = '" CANARY_K "'; "
	"DELETE FROM b WHERE p = 'q' AND c >= 2; "
	"DELETE FROM b WHERE p = 'r'; "
	"APPLY BATCH";

static void check_applied(struct dbt *e)
{
	assert_string_equal(dmlt_rows(e, "SELECT id, v, n FROM a WHERE id = 1"), "1|" CANARY_A "|null\n");
	assert_string_equal(dmlt_rows(e, "SELECT id, v, n FROM a WHERE id = 2"), "2|ttl|null\n");
	assert_string_equal(dmlt_rows(e, "SELECT id FROM a WHERE id = 9"), "");
	assert_string_equal(dmlt_rows(e, "SELECT p, c, s, v, l FROM b WHERE p = '" CANARY_K "'"),
			    CANARY_K "|5|" CANARY_S "|" CANARY_B "|[1,2]\n");
	assert_string_equal(dmlt_rows(e, "SELECT c, v FROM b WHERE p = 'q'"), "1|one\n");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM b WHERE p = 'r'"), "");
	/* the TTL survived the replay */
	assert_string_not_equal(dmlt_rows(e, "SELECT ttl(v) FROM a WHERE id = 2"), "null\n");
}

static void test_crash_then_replay(void **state)
{
	(void)state;
	int n;
	struct dbt *e = dmlt_new("blog-crash");
	schema(e);
	e->db->batchlog_test_skip_apply = true;
	dmlt_ok(e, "%s", BATCH);
	/* "crashed": nothing applied, the log is durable */
	assert_string_equal(dmlt_rows(e, "SELECT id FROM a WHERE id = 1"), "");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM b WHERE p = 'q'"), "1\n2\n3\n");
	char *path = only_blog(e);
	const char *canaries[] = {CANARY_A, CANARY_B, CANARY_K, CANARY_S, "gone", "three", "ttl"};
	for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
		assert_false(dbt_file_contains(path, canaries[i]));
	assert_true(dbt_file_contains(path, "CFBL"));
	/* the process "restarts": the open replays the log and removes it */
	dbt_reopen(e);
	check_applied(e);
	blog_files(e, &n);
	assert_int_equal(n, 0);
	/* a second reopen applies nothing more and finds nothing */
	dbt_reopen(e);
	check_applied(e);
	free(path);
	dbt_free(e);
}

static void test_normal_batches_leave_no_log(void **state)
{
	(void)state;
	int n;
	struct dbt *e = dmlt_new("blog-normal");
	schema(e);
	dmlt_ok(e, "%s", BATCH);
	check_applied(e);
	blog_files(e, &n);
	assert_int_equal(n, 0);
	/* with the hook on, only logged multi-table batches write a log */
	e->db->batchlog_test_skip_apply = true;
	dmlt_ok(e, "BEGIN UNLOGGED BATCH INSERT INTO a (id, v) VALUES (20, 'u'); "
		   "INSERT INTO b (p, c, v) VALUES ('u', 1, 'u') APPLY BATCH");
	dmlt_ok(e, "BEGIN BATCH INSERT INTO a (id, v) VALUES (21, 'x'); INSERT INTO a (id, v) VALUES (22, 'y') "
		   "APPLY BATCH");
	blog_files(e, &n);
	assert_int_equal(n, 0);
	assert_string_equal(dmlt_rows(e, "SELECT v FROM a WHERE id = 20"), "u\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM a WHERE id = 22"), "y\n");
	/* a conditional batch that does not apply writes nothing either */
	dbt_query(e, "BEGIN BATCH INSERT INTO a (id, v) VALUES (21, 'z') IF NOT EXISTS; "
		     "INSERT INTO b (p, c, v) VALUES ('z', 1, 'z') APPLY BATCH", &(struct coffer_proto_response){0});
	blog_files(e, &n);
	assert_int_equal(n, 0);
	dbt_free(e);
}

/* The batchlog key makes one GenerateDataKey for many batches, is wiped by
 * the key-health sweep once idle, and is replaced once old. */
static void test_batchlog_key_life(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("blog-keylife");
	schema(e);
	uint64_t g0 = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY);
	for (int i = 0; i < 5; i++)
		dmlt_ok(e, "%s", BATCH);
	uint64_t g1 = coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY);
	assert_int_equal(g1 - g0, 1);
	assert_non_null(e->db->blog_key.ptr);
	/* idle: the sweep wipes it */
	coffer_manual_clock_advance(&e->clock, 6 * 60 * COFFER_US_PER_SEC);
	db_batchlog_sweep(e->db);
	assert_null(e->db->blog_key.ptr);
	dmlt_ok(e, "%s", BATCH);
	assert_int_equal(coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY) - g1, 1);
	/* in use but old: replaced at the next batch after an hour */
	for (int i = 0; i < 15; i++) {
		coffer_manual_clock_advance(&e->clock, 4 * 60 * COFFER_US_PER_SEC);
		db_batchlog_sweep(e->db);
		dmlt_ok(e, "%s", BATCH);
	}
	assert_int_equal(coffer_key_provider_calls(e->provider, COFFER_KEY_OP_GENERATE_DATA_KEY) - g1, 2);
	check_applied(e);
	dbt_free(e);
}

static void flip_byte(const char *path, long from_end)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, end - from_end), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, end - from_end), 1);
	close(fd);
}

/* Reopens with the db's log going to a file; returns the log's text. */
static char *reopen_logged(struct dbt *e)
{
	char *lp = coffer_xasprintf("%s/db.log", e->dir);
	int fd = open(lp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	struct coffer_log log;
	coffer_log_init(&log, fd, COFFER_LOG_INFO, NULL);
	e->cfg.log = &log;
	dbt_reopen(e);
	e->cfg.log = NULL;
	struct coffer_buf b = {0};
	assert_int_equal(coffer_fs_read_all(lp, 1 << 20, &b), COFFER_OK);
	char *s = coffer_xasprintf("%.*s", (int)b.len, (const char *)b.ptr);
	coffer_buf_free(&b);
	/* the db keeps the log pointer only while open: point it at nothing */
	dbt_close_db(e);
	assert_int_equal(dbt_open(e), COFFER_OK);
	close(fd);
	free(lp);
	return s;
}

static void expect_reported(struct dbt *e, const char *path, const char *why)
{
	const char *name = strrchr(path, '/') + 1;
	char *log = reopen_logged(e);
	assert_non_null(strstr(log, name));
	assert_non_null(strstr(log, "ERROR"));
	free(log);
	/* kept for the operator, not applied */
	assert_true(coffer_fs_exists(path));
	assert_string_equal(dmlt_rows(e, "SELECT id FROM a WHERE id = 1"), "");
	/* and the replay says so, naming the file */
	size_t replayed = 99;
	assert_int_equal(db_batchlog_replay(e->db, &replayed), COFFER_E_CORRUPT);
	assert_int_equal(replayed, 0);
	assert_non_null(strstr(coffer_error_msg(), name));
	assert_non_null(strstr(coffer_error_msg(), why));
	/* the database is still usable */
	dmlt_ok(e, "INSERT INTO a (id, v) VALUES (30, 'ok')");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM a WHERE id = 30"), "ok\n");
}

static void test_tampered_log_reported(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("blog-tamper");
	schema(e);
	e->db->batchlog_test_skip_apply = true;
	dmlt_ok(e, "%s", BATCH);
	char *path = only_blog(e);
	flip_byte(path, 40); /* in the ciphertext */
	expect_reported(e, path, "does not authenticate");
	flip_byte(path, 40); /* restored: now it replays */
	dbt_reopen(e);
	check_applied(e);
	assert_false(coffer_fs_exists(path));
	free(path);
	dbt_free(e);
}

static void test_truncated_and_renamed_logs_reported(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("blog-trunc");
	schema(e);
	e->db->batchlog_test_skip_apply = true;
	dmlt_ok(e, "%s", BATCH);
	char *path = only_blog(e);
	/* renamed: the header's id no longer matches */
	char *other = coffer_xasprintf("%s/batchlog/00000000-0000-4000-8000-000000000000.blog", e->dir);
	assert_int_equal(rename(path, other), 0);
	expect_reported(e, other, "does not match the file name");
	assert_int_equal(rename(other, path), 0);
	/* truncated */
	assert_int_equal(truncate(path, 30), 0);
	expect_reported(e, path, "truncated");
	assert_int_equal(truncate(path, 0), 0);
	expect_reported(e, path, "bad magic or truncated");
	free(other);
	free(path);
	dbt_free(e);
}

/* A log naming a table dropped since is applied to the tables that remain. */
static void test_dropped_table_skipped(void **state)
{
	(void)state;
	int n;
	struct dbt *e = dmlt_new("blog-drop");
	schema(e);
	e->db->batchlog_test_skip_apply = true;
	dmlt_ok(e, "%s", BATCH);
	e->db->batchlog_test_skip_apply = false;
	dmlt_ok(e, "DROP TABLE b");
	dbt_reopen(e);
	assert_string_equal(dmlt_rows(e, "SELECT id, v FROM a WHERE id = 1"), "1|" CANARY_A "\n");
	assert_string_equal(dmlt_rows(e, "SELECT id FROM a WHERE id = 9"), "");
	blog_files(e, &n);
	assert_int_equal(n, 0);
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_then_replay),
		cmocka_unit_test(test_normal_batches_leave_no_log),
		cmocka_unit_test(test_batchlog_key_life),
		cmocka_unit_test(test_tampered_log_reported),
		cmocka_unit_test(test_truncated_and_renamed_logs_reported),
		cmocka_unit_test(test_dropped_table_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
