/* dml_test.c - INSERT, UPDATE, DELETE and BATCH through coffer_db_handle:
 * key checks, timestamps and last-write-wins, TTL expiry on the manual
 * clock, every tombstone kind, static columns, collections, counters,
 * conditional statements and their [applied] rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dmlt_helper.h"

static void test_insert_select(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-ins");
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY, v text, n bigint)");
	dmlt_ok(e, "INSERT INTO t (id, v, n) VALUES (1, 'one', 10)");
	dmlt_ok(e, "INSERT INTO t (id, v) VALUES (2, 'two')");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 1"), "1|10|one\n");
	assert_string_equal(dmlt_rows(e, "SELECT id, v FROM t WHERE id = 2"), "2|two\n");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 3"), "");
	/* the row marker keeps a row whose columns are all null */
	dmlt_ok(e, "INSERT INTO t (id) VALUES (4)");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 4"), "4|null|null\n");
	/* upsert */
	dmlt_ok(e, "INSERT INTO t (id, v) VALUES (1, 'uno')");
	assert_string_equal(dmlt_rows(e, "SELECT v, n FROM t WHERE id = 1"), "uno|10\n");
	/* insert null deletes the cell */
	dmlt_ok(e, "INSERT INTO t (id, n) VALUES (1, null)");
	assert_string_equal(dmlt_rows(e, "SELECT v, n FROM t WHERE id = 1"), "uno|null\n");
	dbt_err(e, "INSERT INTO t (v) VALUES ('x')", 0x2200, "Some partition key parts are missing: id");
	dbt_err(e, "INSERT INTO t (id, zz) VALUES (1, 2)", 0x2200, "Undefined column name zz");
	dbt_err(e, "INSERT INTO t (id, v) VALUES ('a', 'b')", 0x2200, "for \"id\" of type int");
	dbt_err(e, "INSERT INTO t (id, n) VALUES (1, 'x')", 0x2200, "of type bigint");
	dbt_err(e, "INSERT INTO nope (id) VALUES (1)", 0x2200, NULL);
	dbt_free(e);
}

static void test_clustering_keys(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-ck");
	dmlt_ok(e, "CREATE TABLE t (p text, c1 int, c2 text, v int, PRIMARY KEY (p, c1, c2))");
	dbt_err(e, "INSERT INTO t (p, c1, v) VALUES ('a', 1, 1)", 0x2200, "Some clustering keys are missing: c2");
	dmlt_ok(e, "INSERT INTO t (p, c1, c2, v) VALUES ('a', 1, 'x', 1)");
	dmlt_ok(e, "INSERT INTO t (p, c1, c2, v) VALUES ('a', 1, 'y', 2)");
	dmlt_ok(e, "INSERT INTO t (p, c1, c2, v) VALUES ('a', 2, 'x', 3)");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE p = 'a'"), "a|1|x|1\na|1|y|2\na|2|x|3\n");
	dmlt_ok(e, "UPDATE t SET v = 9 WHERE p = 'a' AND c1 = 1 AND c2 = 'y'");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 'a' AND c1 = 1 AND c2 = 'y'"), "9\n");
	dbt_err(e, "UPDATE t SET v = 9 WHERE p = 'a' AND c1 = 1", 0x2200, "Some clustering keys are missing: c2");
	dbt_err(e, "UPDATE t SET c1 = 9 WHERE p = 'a' AND c1 = 1 AND c2 = 'x'", 0x2200, "PRIMARY KEY part c1 found in SET part");
	dbt_err(e, "UPDATE t SET v = 1 WHERE c1 = 1 AND c2 = 'x'", 0x2200, "Some partition key parts are missing: p");
	dbt_free(e);
}

static void test_timestamps_lww(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-ts");
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY, v text)");
	dmlt_ok(e, "INSERT INTO t (id, v) VALUES (1, 'new') USING TIMESTAMP 2000");
	dmlt_ok(e, "INSERT INTO t (id, v) VALUES (1, 'old') USING TIMESTAMP 1000");
	assert_string_equal(dmlt_rows(e, "SELECT v, writetime(v) FROM t WHERE id = 1"), "new|2000\n");
	dmlt_ok(e, "DELETE FROM t USING TIMESTAMP 1500 WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE id = 1"), "new\n");
	dmlt_ok(e, "DELETE FROM t USING TIMESTAMP 2500 WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE id = 1"), "");
	dmlt_ok(e, "UPDATE t USING TIMESTAMP 2400 SET v = 'late' WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE id = 1"), "");
	dmlt_ok(e, "UPDATE t SET v = 'now' WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE id = 1"), "now\n");
	dbt_free(e);
}

static void test_ttl(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-ttl");
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY, a text, b text)");
	dmlt_ok(e, "INSERT INTO t (id, a) VALUES (1, 'x') USING TTL 10");
	dmlt_ok(e, "UPDATE t USING TTL 100 SET b = 'y' WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT a, ttl(a), b, ttl(b) FROM t WHERE id = 1"), "x|10|y|100\n");
	coffer_manual_clock_advance(&e->clock, 11 * COFFER_US_PER_SEC);
	assert_string_equal(dmlt_rows(e, "SELECT a, b FROM t WHERE id = 1"), "null|y\n");
	coffer_manual_clock_advance(&e->clock, 100 * COFFER_US_PER_SEC);
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 1"), "");
	dbt_err(e, "INSERT INTO t (id, a) VALUES (1, 'x') USING TTL -1", 0x2200, "A TTL must be greater or equal to 0");
	dbt_err(e, "INSERT INTO t (id, a) VALUES (1, 'x') USING TTL 999999999", 0x2200, "ttl is too large");
	/* the table default */
	dmlt_ok(e, "CREATE TABLE d (id int PRIMARY KEY, a text) WITH default_time_to_live = 5");
	dmlt_ok(e, "INSERT INTO d (id, a) VALUES (1, 'x')");
	dmlt_ok(e, "INSERT INTO d (id, a) VALUES (2, 'x') USING TTL 0");
	assert_string_equal(dmlt_rows(e, "SELECT ttl(a) FROM d WHERE id = 1"), "5\n");
	coffer_manual_clock_advance(&e->clock, 6 * COFFER_US_PER_SEC);
	assert_string_equal(dmlt_rows(e, "SELECT id FROM d"), "2\n");
	dbt_free(e);
}

static void test_tombstones(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-del");
	dmlt_ok(e, "CREATE TABLE t (p int, c int, v int, w int, PRIMARY KEY (p, c))");
	for (int p = 1; p <= 2; p++)
		for (int c = 1; c <= 6; c++)
			dmlt_ok(e, "INSERT INTO t (p, c, v, w) VALUES (%d, %d, %d, %d)", p, c, c * 10, c * 100);
	/* a cell */
	dmlt_ok(e, "DELETE v FROM t WHERE p = 1 AND c = 1");
	assert_string_equal(dmlt_rows(e, "SELECT v, w FROM t WHERE p = 1 AND c = 1"), "null|100\n");
	/* a row */
	dmlt_ok(e, "DELETE FROM t WHERE p = 1 AND c = 2");
	/* a range */
	dmlt_ok(e, "DELETE FROM t WHERE p = 1 AND c > 3 AND c <= 5");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM t WHERE p = 1"), "1\n3\n6\n");
	/* IN on rows */
	dmlt_ok(e, "DELETE FROM t WHERE p = 1 AND c IN (1, 6)");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM t WHERE p = 1"), "3\n");
	/* a partition */
	dmlt_ok(e, "DELETE FROM t WHERE p = 2");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM t WHERE p = 2"), "");
	/* writes after the deletion live again */
	dmlt_ok(e, "INSERT INTO t (p, c, v) VALUES (2, 1, 1)");
	assert_string_equal(dmlt_rows(e, "SELECT c, v FROM t WHERE p = 2"), "1|1\n");
	dbt_err(e, "DELETE v FROM t WHERE p = 1 AND c > 1", 0x2200, "Range deletions are not supported for specific columns");
	dbt_err(e, "DELETE FROM t WHERE p = 1 AND v = 1", 0x2200, "Non PRIMARY KEY columns found in where clause: v");
	dbt_free(e);
}

static void test_static(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-static");
	dmlt_ok(e, "CREATE TABLE t (p int, c int, s text STATIC, v int, PRIMARY KEY (p, c))");
	dmlt_ok(e, "INSERT INTO t (p, c, s, v) VALUES (1, 1, 'S', 10)");
	dmlt_ok(e, "INSERT INTO t (p, c, v) VALUES (1, 2, 20)");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE p = 1"), "1|1|S|10\n1|2|S|20\n");
	dmlt_ok(e, "UPDATE t SET s = 'T' WHERE p = 1");
	assert_string_equal(dmlt_rows(e, "SELECT c, s FROM t WHERE p = 1"), "1|T\n2|T\n");
	/* a partition with only static data shows one row */
	dmlt_ok(e, "INSERT INTO t (p, s) VALUES (2, 'only')");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE p = 2"), "2|null|only|null\n");
	assert_string_equal(dmlt_rows(e, "SELECT DISTINCT p, s FROM t"), "1|T\n2|only\n");
	dmlt_ok(e, "DELETE s FROM t WHERE p = 1");
	assert_string_equal(dmlt_rows(e, "SELECT c, s FROM t WHERE p = 1"), "1|null\n2|null\n");
	dbt_free(e);
}

static void test_collections(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-coll");
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY, l list<int>, s set<text>, m map<text, int>, f frozen<list<int>>)");
	dmlt_ok(e, "INSERT INTO t (id, l, s, m, f) VALUES (1, [1, 2], {'b', 'a'}, {'x': 1}, [7])");
	assert_string_equal(dmlt_rows(e, "SELECT l, s, m, f FROM t WHERE id = 1"), "[1,2]|{a,b}|{x:1}|[7]\n");
	dmlt_ok(e, "UPDATE t SET l = l + [3], s = s + {'c'}, m = m + {'y': 2} WHERE id = 1");
	dmlt_ok(e, "UPDATE t SET l = [0] + l WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT l, s, m FROM t WHERE id = 1"), "[0,1,2,3]|{a,b,c}|{x:1,y:2}\n");
	dmlt_ok(e, "UPDATE t SET l = l - [1, 3], s = s - {'a'}, m = m - {'x'} WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT l, s, m FROM t WHERE id = 1"), "[0,2]|{b,c}|{y:2}\n");
	dmlt_ok(e, "UPDATE t SET l[1] = 9, m['z'] = 3 WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT l, m FROM t WHERE id = 1"), "[0,9]|{y:2,z:3}\n");
	dmlt_ok(e, "DELETE l[0], m['y'], s['b'] FROM t WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT l, s, m FROM t WHERE id = 1"), "[9]|{c}|{z:3}\n");
	dmlt_ok(e, "UPDATE t SET s = s - {'c'} WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT s FROM t WHERE id = 1"), "null\n");
	dmlt_ok(e, "UPDATE t SET s = {} WHERE id = 1");
	assert_string_equal(dmlt_rows(e, "SELECT s FROM t WHERE id = 1"), "null\n");
	dbt_err(e, "UPDATE t SET l[5] = 1 WHERE id = 1", 0x2200, "List index 5 out of bound");
	dbt_err(e, "UPDATE t SET f = f + [1] WHERE id = 1", 0x2200, "for non counter column f");
	/* appends on a missing row create it */
	dmlt_ok(e, "UPDATE t SET l = l + [5] WHERE id = 2");
	assert_string_equal(dmlt_rows(e, "SELECT l FROM t WHERE id = 2"), "[5]\n");
	dbt_free(e);
}

static void test_counters(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-cnt");
	dmlt_ok(e, "CREATE TABLE c (id int PRIMARY KEY, n counter, m counter)");
	dmlt_ok(e, "UPDATE c SET n = n + 5 WHERE id = 1");
	dmlt_ok(e, "UPDATE c SET n = n + 2, m = m - 3 WHERE id = 1");
	dmlt_ok(e, "UPDATE c SET n = n - 1 WHERE id = 1");
	/* (dbt_render shows counters in hex) */
	assert_string_equal(dmlt_rows(e, "SELECT n, m FROM c WHERE id = 1"), "0x0000000000000006|0xfffffffffffffffd\n");
	/* same timestamp twice (the clock does not move): still both counted */
	dbt_ok(e, "UPDATE c SET n = n + 1 WHERE id = 1");
	dbt_ok(e, "UPDATE c SET n = n + 1 WHERE id = 1");
	assert_string_equal(dbt_rows(e, "SELECT n FROM c WHERE id = 1"), "0x0000000000000008\n");
	dbt_err(e, "UPDATE c SET n = 3 WHERE id = 1", 0x2200, "Cannot set the value of counter column n");
	dbt_err(e, "INSERT INTO c (id, n) VALUES (1, 1)", 0x2200, "INSERT statements are not allowed on counter tables");
	dmlt_ok(e, "BEGIN COUNTER BATCH UPDATE c SET n = n + 10 WHERE id = 1; UPDATE c SET n = n + 10 WHERE id = 1; APPLY BATCH");
	assert_string_equal(dmlt_rows(e, "SELECT n FROM c WHERE id = 1"), "0x000000000000001c\n");
	dbt_free(e);
}

static void test_conditions(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-lwt");
	struct coffer_proto_response r;
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY, v text, n int)");
	assert_string_equal(dmlt_rows(e, "INSERT INTO t (id, v, n) VALUES (1, 'a', 1) IF NOT EXISTS"), "true\n");
	dbt_query(e, "INSERT INTO t (id, v, n) VALUES (1, 'b', 2) IF NOT EXISTS", &r);
	assert_string_equal(dbt_columns(e, &r), "[applied]:boolean,id:int,n:int,v:text");
	assert_string_equal(dbt_render(e, &r), "false|1|1|a\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE id = 1"), "a\n");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'c' WHERE id = 1 IF v = 'zz'"), "false|a\n");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'c' WHERE id = 1 IF v = 'a' AND n = 1"), "true\n");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'd' WHERE id = 1 IF n > 5"), "false|1\n");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'd' WHERE id = 2 IF EXISTS"), "false\n");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 2"), "");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'd' WHERE id = 1 IF EXISTS"), "true\n");
	assert_string_equal(dmlt_rows(e, "DELETE FROM t WHERE id = 1 IF v = 'x'"), "false|d\n");
	assert_string_equal(dmlt_rows(e, "DELETE FROM t WHERE id = 1 IF EXISTS"), "true\n");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM t WHERE id = 1"), "");
	assert_string_equal(dmlt_rows(e, "DELETE FROM t WHERE id = 1 IF EXISTS"), "false\n");
	assert_string_equal(dmlt_rows(e, "UPDATE t SET v = 'e' WHERE id = 3 IF v = null"), "true\n");
	dbt_err(e, "UPDATE t SET v = 'd' WHERE id IN (1, 2) IF EXISTS", 0x2200, "IN on the partition key is not supported");
	dbt_free(e);
}

static void test_batches(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("dml-batch");
	dmlt_ok(e, "CREATE TABLE a (id int PRIMARY KEY, v text)");
	dmlt_ok(e, "CREATE TABLE b (id int, c int, v text, PRIMARY KEY (id, c))");
	dmlt_ok(e, "BEGIN BATCH INSERT INTO a (id, v) VALUES (1, 'x'); INSERT INTO b (id, c, v) VALUES (1, 1, 'y'); "
		   "UPDATE b SET v = 'z' WHERE id = 1 AND c = 2; DELETE FROM a WHERE id = 9; APPLY BATCH");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM a"), "1|x\n");
	assert_string_equal(dmlt_rows(e, "SELECT * FROM b"), "1|1|y\n1|2|z\n");
	dmlt_ok(e, "BEGIN UNLOGGED BATCH USING TIMESTAMP 5 INSERT INTO a (id, v) VALUES (2, 'p'); "
		   "INSERT INTO a (id, v) VALUES (3, 'q'); APPLY BATCH");
	assert_string_equal(dmlt_rows(e, "SELECT writetime(v) FROM a WHERE id = 3"), "5\n");
	/* markers across the whole batch */
	struct coffer_proto_value v[4] = {dmlt_int(4), dmlt_text("m"), dmlt_int(5), dmlt_text("n")};
	struct coffer_proto_response r;
	dmlt_query(e, "BEGIN BATCH INSERT INTO a (id, v) VALUES (?, ?); INSERT INTO a (id, v) VALUES (?, ?); APPLY BATCH",
		   v, 4, -1, coffer_slice_of(NULL, 0), &r);
	dmlt_is_ok(&r, "batch with markers");
	/* IN answers in token order, as a ring scan would */
	assert_string_equal(dmlt_rows(e, "SELECT v FROM a WHERE id IN (4, 5)"), "n\nm\n");
	/* conditional batch on one partition */
	assert_string_equal(dmlt_rows(e, "BEGIN BATCH UPDATE b SET v = 'q' WHERE id = 1 AND c = 1 IF v = 'nope'; "
					 "INSERT INTO b (id, c, v) VALUES (1, 3, 'w'); APPLY BATCH"),
			    "false|y\n");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM b WHERE id = 1"), "1\n2\n");
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_select),
		cmocka_unit_test(test_clustering_keys),
		cmocka_unit_test(test_timestamps_lww),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_tombstones),
		cmocka_unit_test(test_static),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
