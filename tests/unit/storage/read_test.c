/*
 * read_test.c - the point-read path (read.c read_one) against a model:
 *  - random writes, cell and row deletions, partition deletions with
 *    timestamps out of order, spread over the memtable and several SSTables
 *    of tiny blocks (partitions span more blocks than a read pins, so both
 *    the borrowed and the copied entry paths run) under a block cache too
 *    small to hold them (CLOCK eviction on nearly every read): every
 *    partition reads exactly as the model says, alone and as one IN list;
 *  - IN lists paged with every small limit (a page can stop on a partition
 *    boundary, where the cursor names a row of an earlier partition): the
 *    pages add up to the one-shot read;
 *  - point readers on several threads while SSTables are compacted away
 *    under them (blocks dropped from the cache, slot arrays freed): every
 *    read finds its rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "storage_helper.h"
#include "util/alloc.h"

#define PARTS 24
#define ROWS 40
#define COLS 2

static int setup(void **state)
{
	*state = senv_new("read");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

/* ---- the model ---------------------------------------------------------- */

struct mcell {
	int64_t ts; /* 0: never written */
	bool tomb;
	char value[8];
};

struct model {
	struct mcell c[PARTS][ROWS][COLS];
	int64_t rowdel[PARTS][ROWS];
	int64_t pdel[PARTS];
};

/* Cassandra's reconcile: higher timestamp; on a tie a tombstone, then the
 * greater value (all values have the same length here). */
static void model_write(struct mcell *c, int64_t ts, bool tomb, const char *v)
{
	if (c->ts) {
		if (ts < c->ts)
			return;
		if (ts == c->ts) {
			if (c->tomb)
				return;
			if (!tomb && strcmp(v, c->value) <= 0)
				return;
		}
	}
	c->ts = ts;
	c->tomb = tomb;
	snprintf(c->value, sizeof(c->value), "%s", tomb ? "" : v);
}

static char *model_render(const struct model *m, int p)
{
	struct coffer_buf b = {0};
	for (int r = 0; r < ROWS; r++) {
		int64_t shadow = m->rowdel[p][r] > m->pdel[p] ? m->rowdel[p][r] : m->pdel[p];
		bool any = false;
		for (int col = 0; col < COLS; col++) {
			const struct mcell *c = &m->c[p][r][col];
			if (!c->ts || c->tomb || c->ts <= shadow)
				continue;
			if (!any)
				coffer_buf_printf(&b, "p%02d:%d,c:", p, r);
			coffer_buf_printf(&b, "%s%d=%s", any ? "," : "", col + 1, c->value);
			any = true;
		}
		if (any)
			coffer_buf_printf(&b, "\n");
	}
	coffer_buf_put(&b, "", 1);
	return (char *)b.ptr;
}

static void apply_one(struct coffer_table *t, struct coffer_mutation *m)
{
	if (coffer_table_apply(t, &m, 1) != COFFER_OK)
		fail_msg("apply: %s", coffer_error_msg());
	coffer_mutation_free(m);
}

/* One random operation on the table and the model. */
static void random_op(struct coffer_table *t, struct model *m, unsigned *seed)
{
	int p = (int)(rand_r(seed) % PARTS), r = (int)(rand_r(seed) % ROWS);
	int col = (int)(rand_r(seed) % COLS);
	int64_t ts = 1 + rand_r(seed) % 400; /* out of order, with ties */
	int kind = (int)(rand_r(seed) % 100);
	char pk[8], v[8];
	snprintf(pk, sizeof(pk), "p%02d", p);
	snprintf(v, sizeof(v), "v%04d", (int)(rand_r(seed) % 10000));
	uint8_t b[4];
	struct coffer_slice ps = coffer_slice_str(pk);
	struct coffer_slice ck[2] = {be32(r, b), coffer_slice_str("c")};
	struct coffer_mutation *mu = coffer_mutation_new(t, &ps, 1);
	if (kind < 80) {
		coffer_mutation_set(mu, ck, 2, (uint32_t)col + 1, coffer_slice_str(v), ts, 0);
		model_write(&m->c[p][r][col], ts, false, v);
	} else if (kind < 92) {
		coffer_mutation_delete_cell(mu, ck, 2, (uint32_t)col + 1, ts);
		model_write(&m->c[p][r][col], ts, true, "");
	} else if (kind < 99) {
		coffer_mutation_delete_row(mu, ck, 2, ts);
		if (ts > m->rowdel[p][r])
			m->rowdel[p][r] = ts;
	} else {
		ts /= 4; /* old enough to shadow only part of the partition */
		coffer_mutation_delete_partition(mu, ts);
		if (ts > m->pdel[p])
			m->pdel[p] = ts;
	}
	apply_one(t, mu);
}

static void check_all(struct coffer_table *t, const struct model *m)
{
	struct coffer_buf want_all = {0};
	struct coffer_slice pks[PARTS];
	char names[PARTS][8];
	for (int p = PARTS - 1; p >= 0; p--) { /* IN order: as given, not token order */
		snprintf(names[p], sizeof(names[p]), "p%02d", p);
		pks[PARTS - 1 - p] = coffer_slice_str(names[p]);
		char *want = model_render(m, p), *got = render_partition(t, names[p]);
		assert_string_equal(got, want);
		coffer_buf_put(&want_all, want, strlen(want));
		free(got);
		free(want);
	}
	coffer_buf_put(&want_all, "", 1);
	struct coffer_read q = {.partitions = pks, .n_partitions = PARTS};
	char *got = render(t, &q);
	assert_string_equal(got, (char *)want_all.ptr);
	free(got);
	coffer_buf_free(&want_all);
}

static void test_point_reads_match_model(void **state)
{
	struct senv *e = *state;
	e->cfg.block_bytes = 256;              /* a partition spans ~10 blocks */
	e->cfg.block_cache_bytes = 16 << 10;  /* far less than the data: evictions */
	e->cfg.memtable_bytes = 64 << 10;
	e->cfg.no_compaction = true;          /* keep every SSTable as a source */
	struct coffer_table *t = senv_create(e);
	struct model *m = coffer_xcalloc(1, sizeof(*m));
	unsigned seed = 4242;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 1500; i++)
			random_op(t, m, &seed);
		if (round < 3)
			assert_int_equal(coffer_table_flush(t), COFFER_OK);
		check_all(t, m);
	}
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	assert_true(st.sstables >= 3);
	assert_true(st.block_cache_misses > 0);
	/* the same after a restart (memtable replayed, cache cold) */
	coffer_table_close(t);
	t = senv_open(e);
	check_all(t, m);
	/* and after compaction into one SSTable */
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	check_all(t, m);
	coffer_table_close(t);
	free(m);
}

/* ---- IN lists in pages ------------------------------------------------------ */

static bool append_fn(void *arg, const struct coffer_row_view *r)
{
	struct coffer_buf *b = arg;
	coffer_buf_printf(b, "%.*s/%d;", (int)r->partition_key.len, (const char *)r->partition_key.ptr,
			  (int32_t)coffer_load_u32(r->ck[0].ptr));
	return true;
}

static void test_in_list_paging(void **state)
{
	struct senv *e = *state;
	e->cfg.block_bytes = 256;
	e->cfg.block_cache_bytes = 4 << 10; /* released blocks are soon freed */
	struct coffer_table *t = senv_create(e);
	/* partitions of 0..3 rows: in the SSTable, the memtable, or both;
	 * more SSTable blocks than the cache holds, so a block a read let go
	 * of is soon freed (a cursor must not point into one) */
	enum { N = 40 };
	char names[N][8];
	struct coffer_slice pks[N];
	for (int p = 0; p < N; p++) {
		snprintf(names[p], sizeof(names[p]), "in%d", p);
		pks[p] = coffer_slice_str(names[p]);
		for (int r = 0; r < p % 4; r++)
			put(t, names[p], r, "c", 1, "old", 1, 0);
	}
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	for (int p = 0; p < N; p += 5)
		for (int r = 0; r < p % 4; r++)
			put(t, names[p], r + 1, "c", 1, "new", 2, 0);
	struct coffer_read q = {.partitions = pks, .n_partitions = N};
	struct coffer_buf all = {0};
	struct coffer_read_result res = {0};
	assert_int_equal(coffer_table_read(t, &q, append_fn, &all, &res), COFFER_OK);
	assert_false(res.more);
	assert_true(res.rows > 10);
	for (uint64_t limit = 1; limit <= 5; limit++) {
		struct coffer_buf pages = {0}, cur = {0};
		int npages = 0;
		for (;;) {
			struct coffer_read pq = {.partitions = pks, .n_partitions = N, .limit = limit,
						 .cursor = coffer_buf_slice(&cur)};
			struct coffer_read_result r = {0};
			assert_int_equal(coffer_table_read(t, &pq, append_fn, &pages, &r), COFFER_OK);
			assert_true(r.rows <= limit);
			coffer_buf_reset(&cur);
			coffer_buf_put(&cur, r.cursor.ptr, r.cursor.len);
			coffer_buf_free(&r.cursor);
			assert_true(++npages < 200);
			if (!r.more)
				break;
		}
		assert_int_equal(pages.len, all.len);
		assert_memory_equal(pages.ptr, all.ptr, all.len);
		coffer_buf_free(&pages);
		coffer_buf_free(&cur);
	}
	coffer_buf_free(&all);
	coffer_buf_free(&res.cursor);
	coffer_table_close(t);
}

/* ---- readers while SSTables go away ---------------------------------------- */

struct shared {
	struct coffer_table *t;
	volatile int stop;
	int errors;
	long reads;
};

static bool count_fn(void *arg, const struct coffer_row_view *r)
{
	(void)r;
	(*(long *)arg)++;
	return true;
}

static void *reader(void *arg)
{
	struct shared *s = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		char pk[16];
		snprintf(pk, sizeof(pk), "k%03d", (int)(rand_r(&seed) % 200));
		struct coffer_slice p = coffer_slice_str(pk);
		struct coffer_read q = {.partitions = &p, .n_partitions = 1};
		struct coffer_read_result res = {0};
		long n = 0;
		if (coffer_table_read(s->t, &q, count_fn, &n, &res) != COFFER_OK || n != 5)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		coffer_buf_free(&res.cursor);
		__atomic_fetch_add(&s->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_readers_during_compaction(void **state)
{
	struct senv *e = *state;
	e->cfg.block_bytes = 512;
	e->cfg.block_cache_bytes = 32 << 10;
	e->cfg.no_compaction = true;
	struct shared s = {.t = senv_create(e)};
	/* every partition has 5 rows in each of 4 SSTables (overwrites) */
	for (int gen = 0; gen < 4; gen++) {
		for (int k = 0; k < 200; k++) {
			char pk[16];
			snprintf(pk, sizeof(pk), "k%03d", k);
			for (int r = 0; r < 5; r++)
				put(s.t, pk, r, "c", 1, gen % 2 ? "odd" : "even", gen + 1, 0);
		}
		assert_int_equal(coffer_table_flush(s.t), COFFER_OK);
	}
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader, &s);
	/* compactions replace the SSTables (and free their slot arrays) while
	 * the readers run; more flushes give them something to compact */
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 200; k += 7) {
			char pk[16];
			snprintf(pk, sizeof(pk), "k%03d", k);
			put(s.t, pk, 0, "c", 1, "again", 10 + round, 0);
		}
		assert_int_equal(coffer_table_flush(s.t), COFFER_OK);
		assert_int_equal(coffer_table_compact(s.t), COFFER_OK);
	}
	while (__atomic_load_n(&s.reads, __ATOMIC_RELAXED) < 3000)
		;
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(s.errors, 0);
	struct coffer_table_stats st;
	coffer_table_stats(s.t, &st);
	assert_int_equal(st.sstables, 1);
	coffer_table_close(s.t);
}

/* The bloom probes' division-free remainder equals % for every size a
 * filter can have and any 64-bit hash. */
static void test_fastmod(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t d = i < 1000 ? (uint64_t)i + 1 : (x >> (i % 64)) | 1;
		if (i % 3 == 0)
			d = (d % (1u << 30)) * 8 + 8; /* bloom sizes: whole bytes of bits */
		uint64_t a = x * 0xbf58476d1ce4e5b9ULL;
		if (fastmod(a, fastmod_m(d), d) != a % d)
			fail_msg("fastmod(%llu, %llu)", (unsigned long long)a, (unsigned long long)d);
	}
	assert_int_equal(fastmod(UINT64_MAX, fastmod_m(UINT64_MAX), UINT64_MAX), 0);
	assert_int_equal(fastmod(UINT64_MAX - 1, fastmod_m(UINT64_MAX), UINT64_MAX), UINT64_MAX - 1);
	assert_int_equal(fastmod(12345, fastmod_m(1), 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_point_reads_match_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_during_compaction, setup, teardown),
		cmocka_unit_test(test_fastmod),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
