/* select_test.c - SELECT on user tables: projections, aliases, COUNT,
 * writetime/ttl/token, partition = and IN, clustering =, ranges, IN, tuple
 * relations, DESC clustering and ORDER BY reversal, LIMIT, PER PARTITION
 * LIMIT, DISTINCT, token ranges, ALLOW FILTERING, and the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmlt_helper.h"

static struct dbt *setup(const char *tag)
{
	struct dbt *e = dmlt_new(tag);
	dmlt_ok(e, "CREATE TABLE t (p int, a int, b text, v int, w text, PRIMARY KEY (p, a, b))");
	dmlt_ok(e, "CREATE TABLE d (p int, c int, v int, PRIMARY KEY (p, c)) WITH CLUSTERING ORDER BY (c DESC)");
	for (int p = 1; p <= 3; p++)
		for (int a = 1; a <= 3; a++) {
			dmlt_ok(e, "INSERT INTO t (p, a, b, v, w) VALUES (%d, %d, 'x', %d, 'w%d')", p, a, p * 10 + a, a);
			dmlt_ok(e, "INSERT INTO t (p, a, b, v) VALUES (%d, %d, 'y', %d)", p, a, p * 100 + a);
			dmlt_ok(e, "INSERT INTO d (p, c, v) VALUES (%d, %d, %d)", p, a, a);
		}
	return e;
}

static void test_projection(void **state)
{
	(void)state;
	struct dbt *e = setup("sel-proj");
	struct coffer_proto_response r;
	dbt_query(e, "SELECT b AS bee, v, writetime(v), ttl(v), token(p) FROM t WHERE p = 1 AND a = 1 AND b = 'x'", &r);
	assert_string_equal(dbt_columns(e, &r),
			    "bee:text,v:int,writetime(v):bigint,ttl(v):int,system.token(p):bigint");
	assert_int_equal(r.u.result.rows_count, 1);
	assert_string_equal(dmlt_rows(e, "SELECT COUNT(*) FROM t"), "18\n");
	assert_string_equal(dmlt_rows(e, "SELECT COUNT(1) FROM t WHERE p = 2"), "6\n");
	assert_string_equal(dmlt_rows(e, "SELECT count(*) FROM t WHERE p = 9"), "0\n");
	dbt_err(e, "SELECT zz FROM t", 0x2200, "Undefined column name zz");
	dbt_err(e, "SELECT writetime(a) FROM t", 0x2200, "Cannot use selection function writeTime on PRIMARY KEY part a");
	dbt_free(e);
}

static void test_where(void **state)
{
	(void)state;
	struct dbt *e = setup("sel-where");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND a = 2"), "12\n102\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND a > 1 AND a < 3"), "12\n102\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND a >= 3"), "13\n103\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND a = 2 AND b > 'x'"), "102\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND a IN (3, 1) AND b = 'x'"), "11\n13\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND (a, b) > (2, 'x') AND a < 3"), "102\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND (a, b) >= (3, 'y')"), "103\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND (a, b) IN ((1, 'y'), (2, 'x'))"), "101\n12\n");
	/* IN is answered in token order, each partition once */
	const char *in = dmlt_rows(e, "SELECT p FROM t WHERE p IN (3, 1, 3) AND a = 1 AND b = 'x'");
	assert_true(strcmp(in, "1\n3\n") == 0 || strcmp(in, "3\n1\n") == 0);
	dbt_err(e, "SELECT v FROM t WHERE v = 11", 0x2200,
		"Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. "
		"If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING");
	dbt_err(e, "SELECT v FROM t WHERE p = 1 AND b = 'x'", 0x2200, "use ALLOW FILTERING");
	assert_string_equal(dmlt_rows(e, "SELECT p, v FROM t WHERE v = 22 ALLOW FILTERING"), "2|22\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND b = 'y' AND v > 101 ALLOW FILTERING"), "102\n103\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 1 AND w = 'w2' ALLOW FILTERING"), "12\n");
	dbt_free(e);
}

static void test_order(void **state)
{
	(void)state;
	struct dbt *e = setup("sel-order");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM d WHERE p = 1"), "3\n2\n1\n");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM d WHERE p = 1 ORDER BY c ASC"), "1\n2\n3\n");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM d WHERE p = 1 AND c > 1"), "3\n2\n");
	assert_string_equal(dmlt_rows(e, "SELECT c FROM d WHERE p = 1 AND c <= 2 ORDER BY c ASC"), "1\n2\n");
	assert_string_equal(dmlt_rows(e, "SELECT a, b FROM t WHERE p = 1 ORDER BY a DESC, b DESC LIMIT 3"), "3|y\n3|x\n2|y\n");
	dbt_err(e, "SELECT a FROM t WHERE p = 1 ORDER BY b DESC", 0x2200, "Order by currently only supports");
	dbt_err(e, "SELECT a FROM t ORDER BY a DESC", 0x2200, "ORDER BY is only supported when the partition key is restricted");
	dbt_free(e);
}

static void test_limits(void **state)
{
	(void)state;
	struct dbt *e = setup("sel-limit");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 2 LIMIT 2"), "21\n201\n");
	assert_string_equal(dmlt_rows(e, "SELECT COUNT(*) FROM t PER PARTITION LIMIT 2"), "6\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM t WHERE p = 2 PER PARTITION LIMIT 1"), "21\n");
	assert_string_equal(dmlt_rows(e, "SELECT DISTINCT p FROM t WHERE p = 3"), "3\n");
	dbt_err(e, "SELECT DISTINCT p FROM t WHERE p IN (1, 2, 3) AND p = 1", 0x2200, "cannot be restricted by more than one relation");
	dbt_free(e);
}

static void test_tokens(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("sel-token");
	dmlt_ok(e, "CREATE TABLE k (id int PRIMARY KEY, v int)");
	for (int i = 0; i < 50; i++)
		dmlt_ok(e, "INSERT INTO k (id, v) VALUES (%d, %d)", i, i);
	/* scans come in token order and token() ranges split the ring */
	const char *all = dmlt_rows(e, "SELECT token(id) FROM k");
	long long prev = INT64_MIN;
	int n = 0;
	for (const char *s = all; *s; s = strchr(s, '\n') + 1, n++) {
		long long t = strtoll(s, NULL, 10);
		assert_true(t >= prev);
		prev = t;
	}
	assert_int_equal(n, 50);
	const char *lo = dmlt_rows(e, "SELECT COUNT(*) FROM k WHERE token(id) <= 0");
	long long nlo = strtoll(lo, NULL, 10);
	const char *hi = dmlt_rows(e, "SELECT COUNT(*) FROM k WHERE token(id) > 0");
	assert_int_equal(nlo + strtoll(hi, NULL, 10), 50);
	assert_string_equal(dmlt_rows(e, "SELECT v FROM k WHERE token(id) = token(7)"), "7\n");
	assert_string_equal(dmlt_rows(e, "SELECT v FROM k WHERE token(id) > token(7) AND token(id) < token(7)"), "");
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_projection),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
