/*
 * memtable_test.c - overwrites in the memtable: the path that finds an
 * existing key through the partition index (memtable.c find_in_partition)
 * and the skiplist search it falls back to beyond the first nodes of a
 * partition both reconcile by timestamp (a newer write replaces, an older one
 * is dropped, a tie goes to the greater value) and never add a second node
 * for a key; point reads and scans then see exactly one value per cell.
 *
 * Then the skiplist itself (token-caching towers, memtable.c invariant 6)
 * under one writer and concurrent readers: readers always see keys in strict
 * table order, find every key whose insert finished, and the final contents
 * are exactly the model's winners; and keys too short for the token shortcut
 * still sort as entry_compare says.
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

/* ---- one writer, concurrent readers ----------------------------------------- */

#define MP 300 /* partitions */
#define MR 12  /* rows per partition: several nodes share a token */
#define PUTS 30000

static const struct coffer_table_schema mschema = {
	.n_partition = 1, .n_clustering = 1, .clustering = {{COFFER_TYPE_INT, false}}};

struct mshared {
	struct memtable *m;
	int done[MP][MR];  /* atomic: the key's first insert has returned */
	int64_t win_ts[MP][MR];
	int win_v[MP][MR]; /* the model's winner (written by the writer only) */
	int stop;          /* atomic */
	int errors;        /* atomic */
	long scans, lookups;
};

static void mkey(struct coffer_buf *b, int p, int r)
{
	char pk[16];
	uint8_t ck[4];
	snprintf(pk, sizeof(pk), "m%d", p);
	struct coffer_slice ps = coffer_slice_str(pk);
	struct coffer_slice c = be32(r, ck);
	coffer_buf_reset(b);
	entry_key_row(b, coffer_token(ps), ps, &c, 1, SLOT_COLUMN0);
}

static void mvalue(struct coffer_buf *b, int64_t ts, int v)
{
	char s[16];
	snprintf(s, sizeof(s), "v%05d", v);
	struct cell c = {.ts = ts, .value = coffer_slice_str(s)};
	coffer_buf_reset(b);
	entry_value(b, &c);
}

static void *mwriter(void *arg)
{
	struct mshared *s = arg;
	struct coffer_buf k = {0}, v = {0};
	unsigned seed = 99;
	for (int i = 0; i < PUTS; i++) {
		int p = (int)(rand_r(&seed) % MP), r = (int)(rand_r(&seed) % MR);
		int64_t ts = 1 + rand_r(&seed) % 50;
		int val = (int)(rand_r(&seed) % 100000);
		mkey(&k, p, r);
		mvalue(&v, ts, val);
		memtable_put(s->m, coffer_buf_slice(&k), coffer_buf_slice(&v));
		/* the model: higher timestamp, then the greater value (same length) */
		if (ts > s->win_ts[p][r] || (ts == s->win_ts[p][r] && val > s->win_v[p][r])) {
			s->win_ts[p][r] = ts;
			s->win_v[p][r] = val;
		}
		__atomic_store_n(&s->done[p][r], 1, __ATOMIC_RELEASE);
	}
	coffer_buf_free(&k);
	coffer_buf_free(&v);
	return NULL;
}

static void *mreader(void *arg)
{
	struct mshared *s = arg;
	struct coffer_buf k = {0}, prev = {0};
	unsigned seed = (unsigned)(uintptr_t)&seed;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		/* a scan: strictly increasing keys, every value a cell */
		struct iter *it = memtable_iter(s->m);
		int bad = it->ops->seek(it, coffer_slice_of(NULL, 0)) != COFFER_OK;
		coffer_buf_reset(&prev);
		while (!bad && it->valid) {
			struct cell c;
			if ((prev.len && entry_compare(&mschema, coffer_buf_slice(&prev), it->key) >= 0) ||
			    entry_parse_value(it->value, &c) != COFFER_OK)
				bad = 1;
			coffer_buf_reset(&prev);
			coffer_buf_put(&prev, it->key.ptr, it->key.len);
			if (it->ops->next(it) != COFFER_OK)
				bad = 1;
		}
		it->ops->close(it);
		/* point lookups of keys whose insert returned */
		for (int j = 0; j < 50 && !bad; j++) {
			int p = (int)(rand_r(&seed) % MP), r = (int)(rand_r(&seed) % MR);
			if (!__atomic_load_n(&s->done[p][r], __ATOMIC_ACQUIRE))
				continue;
			mkey(&k, p, r);
			struct mem_iter mi;
			struct pkey pk;
			if (entry_parse_key(coffer_buf_slice(&k), &pk) != COFFER_OK) {
				bad = 1;
				break;
			}
			/* the partition prefix: the key up to its kind byte */
			size_t plen = (size_t)(pk.pk.ptr + pk.pk.len - k.ptr);
			memtable_iter_init_partition(&mi, s->m, coffer_slice_of(k.ptr, plen));
			bool found = false;
			while (mi.it.valid && !found) {
				found = coffer_slice_eq(mi.it.key, coffer_buf_slice(&k));
				if (mi.it.ops->next(&mi.it) != COFFER_OK)
					bad = 1;
			}
			if (!found)
				bad = 1;
			__atomic_fetch_add(&s->lookups, 1, __ATOMIC_RELAXED);
		}
		if (bad)
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->scans, 1, __ATOMIC_RELAXED);
	}
	coffer_buf_free(&k);
	coffer_buf_free(&prev);
	return NULL;
}

static void test_concurrent_order(void **state)
{
	(void)state;
	struct mshared *s = coffer_xcalloc(1, sizeof(*s));
	s->m = memtable_new(&mschema, 4 << 20);
	pthread_t w, r[2];
	pthread_create(&r[0], NULL, mreader, s);
	pthread_create(&r[1], NULL, mreader, s);
	pthread_create(&w, NULL, mwriter, s);
	pthread_join(w, NULL);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(r[0], NULL);
	pthread_join(r[1], NULL);
	assert_int_equal(s->errors, 0);
	assert_true(s->scans > 0);
	/* exactly the model's keys, in order, with its winners */
	size_t distinct = 0;
	for (int p = 0; p < MP; p++)
		for (int q = 0; q < MR; q++)
			distinct += s->done[p][q] != 0;
	assert_int_equal(memtable_count(s->m), distinct);
	struct iter *it = memtable_iter(s->m);
	assert_int_equal(it->ops->seek(it, coffer_slice_of(NULL, 0)), COFFER_OK);
	struct coffer_buf k = {0}, v = {0};
	size_t n = 0;
	for (; it->valid; n++) {
		struct pkey pk;
		assert_int_equal(entry_parse_key(it->key, &pk), COFFER_OK);
		int p = atoi((const char *)pk.pk.ptr + 1), q = (int)coffer_load_u32(pk.ck[0].ptr);
		mkey(&k, p, q);
		assert_true(coffer_slice_eq(it->key, coffer_buf_slice(&k)));
		mvalue(&v, s->win_ts[p][q], s->win_v[p][q]);
		assert_true(coffer_slice_eq(it->value, coffer_buf_slice(&v)));
		assert_int_equal(it->ops->next(it), COFFER_OK);
	}
	assert_int_equal(n, distinct);
	it->ops->close(it);
	coffer_buf_free(&k);
	coffer_buf_free(&v);
	memtable_free(s->m);
	free(s);
}

/* Keys under 8 bytes (never made by mutation.c) turn the writer's token
 * shortcut off; the order stays entry_compare's. */
static int cmp_keys(const void *a, const void *b)
{
	const struct coffer_buf *x = a, *y = b;
	return entry_compare(&mschema, coffer_buf_slice(x), coffer_buf_slice(y));
}

static void test_short_keys(void **state)
{
	(void)state;
	struct memtable *m = memtable_new(&mschema, 1 << 20);
	enum { N = 400 };
	struct coffer_buf keys[N];
	struct coffer_buf v = {0};
	mvalue(&v, 1, 1);
	unsigned seed = 5;
	for (int i = 0; i < N; i++) {
		keys[i] = (struct coffer_buf){0};
		if (i % 40 == 7) { /* short garbage: 0..7 bytes */
			for (int j = 0; j < i % 8; j++)
				coffer_buf_put_u8(&keys[i], (uint8_t)('a' + j + i));
		} else {
			mkey(&keys[i], (int)(rand_r(&seed) % 1000), i);
		}
		memtable_put(m, coffer_buf_slice(&keys[i]), coffer_buf_slice(&v));
	}
	qsort(keys, N, sizeof(keys[0]), cmp_keys);
	struct iter *it = memtable_iter(m);
	assert_int_equal(it->ops->seek(it, coffer_slice_of(NULL, 0)), COFFER_OK);
	for (int i = 0; i < N; i++) {
		if (i && cmp_keys(&keys[i - 1], &keys[i]) == 0)
			continue; /* the same short key twice: one node */
		assert_true(it->valid);
		assert_true(coffer_slice_eq(it->key, coffer_buf_slice(&keys[i])));
		assert_int_equal(it->ops->next(it), COFFER_OK);
	}
	assert_false(it->valid);
	it->ops->close(it);
	for (int i = 0; i < N; i++)
		coffer_buf_free(&keys[i]);
	coffer_buf_free(&v);
	memtable_free(m);
}

/* Values larger than a quarter of the memtable's chunk get chunks of their
 * own while small ones keep filling the current chunk: all read back. */
static void test_big_values(void **state)
{
	(void)state;
	struct memtable *m = memtable_new(&mschema, 1 << 20); /* 1 MiB chunks */
	static const size_t sizes[] = {100, 300 << 10, 20, 3 << 20, 1, 256 << 10, 7};
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct coffer_buf k = {0}, v[N];
	for (int i = 0; i < N; i++) {
		uint8_t *big = coffer_xmalloc(sizes[i]);
		memset(big, 'a' + i, sizes[i]);
		struct cell c = {.ts = 1, .value = coffer_slice_of(big, sizes[i])};
		v[i] = (struct coffer_buf){0};
		entry_value(&v[i], &c);
		free(big);
		mkey(&k, i, 0);
		memtable_put(m, coffer_buf_slice(&k), coffer_buf_slice(&v[i]));
	}
	for (int i = 0; i < N; i++) {
		struct mem_iter mi;
		struct pkey pk;
		mkey(&k, i, 0);
		assert_int_equal(entry_parse_key(coffer_buf_slice(&k), &pk), COFFER_OK);
		memtable_iter_init_partition(&mi, m, coffer_slice_of(k.ptr, (size_t)(pk.pk.ptr + pk.pk.len - k.ptr)));
		assert_true(mi.it.valid);
		assert_true(coffer_slice_eq(mi.it.value, coffer_buf_slice(&v[i])));
		coffer_buf_free(&v[i]);
	}
	assert_int_equal(memtable_count(m), N);
	coffer_buf_free(&k);
	memtable_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overwrites, setup, teardown),
		cmocka_unit_test(test_concurrent_order),
		cmocka_unit_test(test_short_keys),
		cmocka_unit_test(test_big_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
