/* concurrency_test.c - writers, point readers and scanners at once while the
 * background thread flushes and compacts (small memtable): no read fails,
 * every row a reader sees is well-formed, point reads of rows acknowledged
 * before the read started always find them, and the final contents are
 * exact. Run under ASan this also checks the memtable/SSTable lifetimes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_helper.h"

#define WRITERS 3
#define PER_WRITER 1500

struct shared {
	struct coffer_table *t;
	int acked[WRITERS]; /* atomic: highest acknowledged index + 1 */
	volatile int stop;
	int errors;
	long reads, scans;
};

static void *writer(void *p)
{
	struct shared *s = ((void **)p)[0];
	int id = (int)(intptr_t)((void **)p)[1];
	for (int i = 0; i < PER_WRITER; i++) {
		char pk[32], v[32];
		snprintf(pk, sizeof(pk), "w%d-%d", id, i % 300);
		snprintf(v, sizeof(v), "%d", i);
		uint8_t b[4];
		struct coffer_slice p1 = coffer_slice_str(pk);
		struct coffer_slice ck[2] = {be32(i, b), coffer_slice_str("c")};
		struct coffer_mutation *m = coffer_mutation_new(s->t, &p1, 1);
		coffer_mutation_set(m, ck, 2, 1, coffer_slice_str(v), i + 1, 0);
		if (coffer_table_apply(s->t, &m, 1) != COFFER_OK)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		coffer_mutation_free(m);
		__atomic_store_n(&s->acked[id], i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static bool count_fn(void *arg, const struct coffer_row_view *r)
{
	long *n = arg;
	if (r->n_cells == 1 && r->cells[0].value.len > 0)
		(*n)++;
	return true;
}

static void *reader(void *p)
{
	struct shared *s = p;
	unsigned seed = 7;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		int id = (int)(rand_r(&seed) % WRITERS);
		int upto = __atomic_load_n(&s->acked[id], __ATOMIC_ACQUIRE);
		if (upto == 0)
			continue;
		int i = (int)(rand_r(&seed) % (unsigned)upto);
		char pk[32];
		snprintf(pk, sizeof(pk), "w%d-%d", id, i % 300);
		uint8_t b[4];
		struct coffer_slice p1 = coffer_slice_str(pk);
		struct coffer_slice lo = be32(i, b);
		struct coffer_read q = {.partitions = &p1, .n_partitions = 1,
					.lower = {&lo, 1, true}, .upper = {&lo, 1, true}};
		struct coffer_read_result res = {0};
		long n = 0;
		if (coffer_table_read(s->t, &q, count_fn, &n, &res) != COFFER_OK || n != 1)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		coffer_buf_free(&res.cursor);
		__atomic_fetch_add(&s->reads, 1, __ATOMIC_RELAXED); /* two readers */
	}
	return NULL;
}

static void *scanner(void *p)
{
	struct shared *s = p;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct coffer_read q = {.limit = 500};
		struct coffer_read_result res = {0};
		long n = 0;
		if (coffer_table_read(s->t, &q, count_fn, &n, &res) != COFFER_OK)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		coffer_buf_free(&res.cursor);
		s->scans++;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct senv *e = senv_new("concurrency");
	e->cfg.foreground = false;
	e->cfg.memtable_bytes = 48 << 10;
	e->cfg.compaction_threshold = 3;
	e->cfg.clock = NULL;
	struct shared s = {.t = senv_create(e)};
	pthread_t w[WRITERS], r[2], sc;
	void *args[WRITERS][2];
	pthread_create(&r[0], NULL, reader, &s);
	pthread_create(&r[1], NULL, reader, &s);
	pthread_create(&sc, NULL, scanner, &s);
	for (int i = 0; i < WRITERS; i++) {
		args[i][0] = &s;
		args[i][1] = (void *)(intptr_t)i;
		pthread_create(&w[i], NULL, writer, args[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(r[0], NULL);
	pthread_join(r[1], NULL);
	pthread_join(sc, NULL);
	struct coffer_table_stats st;
	coffer_table_stats(s.t, &st);
	print_message("%ld point reads, %ld scans; %llu flushes, %llu compactions, %zu SSTables\n",
		      s.reads, s.scans, (unsigned long long)st.flushes,
		      (unsigned long long)st.compactions, st.sstables);
	assert_int_equal(s.errors, 0);
	assert_true(st.flushes > 0);
	uint64_t n;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(s.t, &all, &n), COFFER_OK);
	assert_int_equal(n, WRITERS * PER_WRITER);
	coffer_table_close(s.t);
	senv_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
