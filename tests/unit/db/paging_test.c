/* paging_test.c - paging through ROWS results: 50,000 rows in pages of
 * 5000 with none lost or repeated (scan, one big partition, prepared),
 * has_more_pages exactness, LIMIT across pages, filtering with paging,
 * static-only partitions, and garbage paging states refused as Invalid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmlt_helper.h"
#include "util/alloc.h"

/* Pages through cql; returns rows seen; checks each first int column value
 * appears once in seen[] (sized n). */
static size_t page_all(struct dbt *e, const char *cql, int32_t page, uint8_t *seen, size_t n, size_t *pages)
{
	struct coffer_proto_response r;
	struct coffer_buf ps = {0};
	size_t total = 0;
	*pages = 0;
	for (;;) {
		dmlt_query(e, cql, NULL, 0, page, coffer_buf_slice(&ps), &r);
		dmlt_is_ok(&r, cql);
		(*pages)++;
		assert_true(r.u.result.rows_count <= page);
		struct coffer_reader rd;
		coffer_reader_init(&rd, r.u.result.rows_content, "rows");
		for (int32_t i = 0; i < r.u.result.rows_count; i++) {
			for (int32_t c = 0; c < r.u.result.metadata.n_columns; c++) {
				uint32_t len;
				struct coffer_slice v;
				assert_int_equal(coffer_reader_u32(&rd, &len), COFFER_OK);
				assert_int_equal(coffer_reader_bytes(&rd, len, &v), COFFER_OK);
				if (c == 0 && seen) {
					int32_t k = (int32_t)coffer_load_u32(v.ptr);
					assert_true(k >= 0 && (size_t)k < n);
					assert_int_equal(seen[k], 0);
					seen[k] = 1;
				}
			}
		}
		total += (size_t)r.u.result.rows_count;
		if (!(r.u.result.metadata.flags & COFFER_PROTO_MF_HAS_MORE_PAGES))
			break;
		coffer_buf_reset(&ps);
		coffer_buf_put(&ps, r.u.result.metadata.paging_state.ptr, r.u.result.metadata.paging_state.len);
	}
	coffer_buf_free(&ps);
	return total;
}

static void test_50k_rows(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("paging-50k");
	dmlt_ok(e, "CREATE TABLE s (id int PRIMARY KEY, v text)");
	dmlt_ok(e, "CREATE TABLE w (p int, c int, v text, PRIMARY KEY (p, c))");
	/* 50,000 rows: 10 prepared batches per 1000 keeps it quick */
	uint8_t id[64], id2[64];
	struct coffer_proto_response r;
	size_t idn = dmlt_prepare(e, "INSERT INTO s (id, v) VALUES (?, 'value')", id, &r);
	size_t idn2 = dmlt_prepare(e, "INSERT INTO w (p, c, v) VALUES (?, ?, 'value')", id2, &r);
	for (int32_t i = 0; i < 50000; i++) {
		struct coffer_proto_value v = dmlt_int(i);
		dmlt_execute(e, id, idn, &v, 1, -1, coffer_slice_of(NULL, 0), &r);
		dmlt_is_ok(&r, "insert s");
		struct coffer_proto_value v2[2] = {dmlt_int(i % 3), dmlt_int(i)};
		dmlt_execute(e, id2, idn2, v2, 2, -1, coffer_slice_of(NULL, 0), &r);
		dmlt_is_ok(&r, "insert w");
	}
	uint8_t *seen = coffer_xcalloc(50000, 1);
	size_t pages;
	assert_int_equal(page_all(e, "SELECT id, v FROM s", 5000, seen, 50000, &pages), 50000);
	assert_int_equal(pages, 10); /* exact has_more_pages: no empty 11th page */
	memset(seen, 0, 50000);
	/* across partitions with clustering, reversed within each */
	size_t n = 0;
	for (int p = 0; p < 3; p++) {
		char q[128];
		snprintf(q, sizeof(q), "SELECT c FROM w WHERE p = %d ORDER BY c DESC", p);
		n += page_all(e, q, 5000, seen, 50000, &pages);
	}
	assert_int_equal(n, 50000);
	memset(seen, 0, 50000);
	assert_int_equal(page_all(e, "SELECT c FROM w WHERE p IN (0, 1, 2)", 5000, seen, 50000, &pages), 50000);
	memset(seen, 0, 50000);
	assert_int_equal(page_all(e, "SELECT c FROM w", 4999, seen, 50000, &pages), 50000);
	free(seen);
	/* LIMIT over pages, filtering over pages */
	assert_int_equal(page_all(e, "SELECT id FROM s LIMIT 12345", 5000, NULL, 0, &pages), 12345);
	assert_int_equal(pages, 3);
	assert_int_equal(page_all(e, "SELECT id FROM s WHERE id < 7000 ALLOW FILTERING", 5000, NULL, 0, &pages), 7000);
	assert_int_equal(page_all(e, "SELECT c FROM w PER PARTITION LIMIT 2", 1, NULL, 0, &pages), 6);
	dbt_free(e);
}

static void test_static_and_distinct_pages(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("paging-static");
	size_t pages;
	dmlt_ok(e, "CREATE TABLE t (p int, c int, s int STATIC, PRIMARY KEY (p, c))");
	for (int p = 0; p < 20; p++) {
		if (p % 2)
			dmlt_ok(e, "INSERT INTO t (p, s) VALUES (%d, %d)", p, p);
		else
			for (int c = 0; c < 3; c++)
				dmlt_ok(e, "INSERT INTO t (p, c, s) VALUES (%d, %d, %d)", p, c, p);
	}
	/* 10 static-only rows + 30 rows */
	assert_int_equal(page_all(e, "SELECT p FROM t", 3, NULL, 0, &pages), 40);
	uint8_t seen[20] = {0};
	assert_int_equal(page_all(e, "SELECT DISTINCT p FROM t", 3, seen, 20, &pages), 20);
	dbt_free(e);
}

static void test_bad_paging_state(void **state)
{
	(void)state;
	struct dbt *e = dmlt_new("paging-bad");
	struct coffer_proto_response r;
	dmlt_ok(e, "CREATE TABLE t (id int PRIMARY KEY)");
	dmlt_ok(e, "CREATE TABLE u (id int PRIMARY KEY)");
	for (int i = 0; i < 10; i++) {
		dmlt_ok(e, "INSERT INTO t (id) VALUES (%d)", i);
		dmlt_ok(e, "INSERT INTO u (id) VALUES (%d)", i);
	}
	dmlt_query(e, "SELECT * FROM t", NULL, 0, 3, coffer_slice_of(NULL, 0), &r);
	assert_true(r.u.result.metadata.flags & COFFER_PROTO_MF_HAS_MORE_PAGES);
	struct coffer_buf ps = {0};
	coffer_buf_put(&ps, r.u.result.metadata.paging_state.ptr, r.u.result.metadata.paging_state.len);
	/* another table's state */
	dmlt_query(e, "SELECT * FROM u", NULL, 0, 3, coffer_buf_slice(&ps), &r);
	dmlt_is_err(&r, 0x2200, "paging state");
	/* a flipped bit, a truncation, garbage */
	ps.ptr[ps.len / 2] ^= 1;
	dmlt_query(e, "SELECT * FROM t", NULL, 0, 3, coffer_buf_slice(&ps), &r);
	dmlt_is_err(&r, 0x2200, "paging state");
	dmlt_query(e, "SELECT * FROM t", NULL, 0, 3, coffer_slice_of(ps.ptr, 5), &r);
	dmlt_is_err(&r, 0x2200, "paging state");
	dmlt_query(e, "SELECT * FROM t", NULL, 0, 3, coffer_slice_str("garbage garbage garbage garbage garbage garbage"), &r);
	dmlt_is_err(&r, 0x2200, "paging state");
	coffer_buf_free(&ps);
	dbt_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_50k_rows),
		cmocka_unit_test(test_static_and_distinct_pages),
		cmocka_unit_test(test_bad_paging_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
