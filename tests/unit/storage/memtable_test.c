/*
 * memtable_test.c - overwrites in the memtable: the path that finds an
 * existing key through the partition index (memtable.c find_in_partition)
 * and the skiplist search it falls back to beyond the first nodes of a
 * partition both reconcile by timestamp (a newer write replaces, an older one
 * is dropped, a tie goes to the greater value) and never add a second node
 * for a key; point reads and scans then see exactly one value per cell.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "storage_helper.h"
#include "util/alloc.h"

static int setup(void **state)
{
	*state = senv_new("memtable");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

/* The wide partition's rendering: rows 0..n-1 (ck1 "c"), column 1 = value(i). */
static char *wide(int n, const char *(*value)(int i))
{
	struct coffer_buf b = {0};
	/* ck1 is DESC, ck0 ASC: rows in ck0 order */
	for (int i = 0; i < n; i++) {
		char line[96];
		snprintf(line, sizeof(line), "w:%d,c:1=%s\n", i, value(i));
		coffer_buf_put(&b, line, strlen(line));
	}
	coffer_buf_put(&b, "", 1);
	return (char *)b.ptr;
}

static const char *v_first(int i)
{
	return i % 3 == 0 ? "new" : "first";
}

static void test_overwrites(void **state)
{
	struct senv *e = *state;
	e->cfg.memtable_bytes = 64 << 20; /* everything stays in the memtable */
	struct coffer_table *t = senv_create(e);
	enum { ROWS = 40 }; /* well past the 8 nodes the index path walks */
	for (int i = 0; i < ROWS; i++)
		put(t, "w", i, "c", 1, "first", 10, 0);
	put(t, "x", 1, "c", 1, "other", 10, 0);
	size_t count = memtable_count(t->active);
	assert_int_equal(count, ROWS + 1);
	/* newer writes win, on rows near the partition's head and far from it */
	for (int i = 0; i < ROWS; i += 3)
		put(t, "w", i, "c", 1, "new", 20, 0);
	/* older writes lose, everywhere */
	for (int i = 0; i < ROWS; i++)
		put(t, "w", i, "c", 1, "stale", 5, 0);
	/* a tie at the same timestamp goes to the greater value */
	put(t, "x", 1, "c", 1, "zzz", 10, 0);
	put(t, "x", 1, "c", 1, "aaa", 10, 0);
	assert_int_equal(memtable_count(t->active), count); /* no node added */
	char *want = wide(ROWS, v_first), *got = render_partition(t, "w");
	assert_string_equal(got, want);
	free(got);
	free(want);
	got = render_partition(t, "x");
	assert_string_equal(got, "x:1,c:1=zzz\n");
	free(got);
	/* the same after a restart (replayed through the same path) */
	coffer_table_close(t);
	t = senv_open(e);
	want = wide(ROWS, v_first);
	got = render_partition(t, "w");
	assert_string_equal(got, want);
	free(got);
	free(want);
	coffer_table_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overwrites, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
