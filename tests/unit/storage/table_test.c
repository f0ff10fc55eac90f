/* table_test.c - the data model end to end through the storage API: last write
 * wins, TTLs, every tombstone kind, static columns, clustering orders,
 * slices, IN, scans in token order with paging, limits, counts; and that all
 * of it survives flush, reopen (commit-log replay) and compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_helper.h"
#include "util/alloc.h"
#include "util/fs.h"

#define SEC COFFER_US_PER_SEC

static int setup(void **state)
{
	*state = senv_new("table");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

static void expect(struct coffer_table *t, const char *pk, const char *want)
{
	char *got = render_partition(t, pk);
	if (strcmp(got, want) != 0)
		fail_msg("partition %s:\n got: [%s]\nwant: [%s]", pk, got, want);
	free(got);
}

/* Runs check() on the table live, after flush, after reopen, after compaction. */
typedef void (*check_fn)(struct coffer_table *t);
static void in_every_state(struct senv *e, struct coffer_table **tp, check_fn check)
{
	check(*tp);
	assert_int_equal(coffer_table_flush(*tp), COFFER_OK);
	check(*tp);
	coffer_table_close(*tp);
	*tp = senv_open(e);
	check(*tp);
	assert_int_equal(coffer_table_compact(*tp), COFFER_OK);
	check(*tp);
}

static void check_lww(struct coffer_table *t)
{
	expect(t, "p1", "p1:1,b:1=new\np1:1,a:1=x,2=y\n");
}

static void test_last_write_wins_and_order(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	put(t, "p1", 1, "a", 1, "x", 100, 0);
	put(t, "p1", 1, "b", 1, "old", 100, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	put(t, "p1", 1, "b", 1, "new", 200, 0);
	put(t, "p1", 1, "b", 1, "older", 50, 0); /* loses: lower timestamp */
	put(t, "p1", 1, "a", 2, "y", 100, 0);
	/* ck1 is DESC: "b" before "a" */
	in_every_state(e, &t, check_lww);
	coffer_table_close(t);
}

static void check_tombstones(struct coffer_table *t)
{
	expect(t, "cell", "cell:1,a:2=keep\n");
	expect(t, "row", "row:2,a:1=v\n");
	expect(t, "part", "part:9,z:1=after\n");
	expect(t, "range", "range:1,a:1=v\nrange:4,a:1=v\n");
}

static void test_tombstones(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	uint8_t b[4], b2[4];
	/* cell tombstone */
	put(t, "cell", 1, "a", 1, "gone", 10, 0);
	put(t, "cell", 1, "a", 2, "keep", 10, 0);
	struct coffer_slice pk = coffer_slice_str("cell");
	struct coffer_slice ck[2] = {be32(1, b), coffer_slice_str("a")};
	struct coffer_mutation *m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_delete_cell(m, ck, 2, 1, 20);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	/* row tombstone, and an older write after it stays deleted */
	put(t, "row", 1, "a", 1, "v", 10, 0);
	put(t, "row", 2, "a", 1, "v", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	pk = coffer_slice_str("row");
	m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_delete_row(m, ck, 2, 20);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	put(t, "row", 1, "a", 1, "late-but-old", 15, 0);
	/* partition tombstone; newer data survives */
	put(t, "part", 1, "a", 1, "v", 10, 0);
	put(t, "part", 2, "b", 1, "v", 10, 0);
	pk = coffer_slice_str("part");
	m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_delete_partition(m, 20);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	put(t, "part", 9, "z", 1, "after", 30, 0);
	/* range tombstone: ck0 in (1, 3] -> rows 2 and 3 deleted */
	for (int i = 1; i <= 4; i++)
		put(t, "range", i, "a", 1, "v", 10, 0);
	pk = coffer_slice_str("range");
	struct coffer_slice lo = be32(1, b), hi = be32(3, b2);
	struct coffer_bound s = {&lo, 1, false}, en = {&hi, 1, true};
	m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_delete_range(m, &s, &en, 20);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	in_every_state(e, &t, check_tombstones);
	coffer_table_close(t);
}

static void check_static(struct coffer_table *t)
{
	expect(t, "s", "s:S:7=shared\ns:1,a:1=r1\ns:2,a:1=r2\n");
	expect(t, "only", "only:S:7=lonely\n");
}

static void test_static_columns(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	struct coffer_slice pk = coffer_slice_str("s");
	struct coffer_mutation *m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_set_static(m, 7, coffer_slice_str("old"), 5, 0);
	coffer_mutation_set_static(m, 8, coffer_slice_str("deleted"), 5, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_set_static(m, 7, coffer_slice_str("shared"), 6, 0);
	coffer_mutation_delete_static(m, 8, 6);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	put(t, "s", 1, "a", 1, "r1", 5, 0);
	put(t, "s", 2, "a", 1, "r2", 5, 0);
	pk = coffer_slice_str("only");
	m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_set_static(m, 7, coffer_slice_str("lonely"), 5, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	in_every_state(e, &t, check_static);
	/* skip_static */
	struct coffer_slice p = coffer_slice_str("s");
	struct coffer_read q = {.partitions = &p, .n_partitions = 1, .skip_static = true};
	char *got = render(t, &q);
	assert_string_equal(got, "s:1,a:1=r1\ns:2,a:1=r2\n");
	free(got);
	coffer_table_close(t);
}

static void test_ttl_and_row_marker(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	put(t, "ttl", 1, "a", 1, "short", 10, 10);
	put(t, "ttl", 1, "a", 2, "long", 10, 1000);
	uint8_t b[4];
	struct coffer_slice pk = coffer_slice_str("ttl");
	struct coffer_slice ck[2] = {be32(2, b), coffer_slice_str("m")};
	struct coffer_mutation *m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_row_marker(m, ck, 2, 10, 0); /* INSERT with only key columns */
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	expect(t, "ttl", "ttl:1,a:1=short,2=long\nttl:2,m:\n");
	coffer_manual_clock_advance(&e->clock, 11 * SEC);
	expect(t, "ttl", "ttl:1,a:2=long\nttl:2,m:\n");
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	expect(t, "ttl", "ttl:1,a:2=long\nttl:2,m:\n");
	coffer_manual_clock_advance(&e->clock, 1000 * SEC);
	expect(t, "ttl", "ttl:2,m:\n");
	/* ttl/writetime visible to the caller */
	coffer_table_close(t);
}

static void test_purge_after_gc_grace(void **state)
{
	struct senv *e = *state;
	e->desc.schema.gc_grace_us = 100 * SEC;
	struct coffer_table *t = senv_create(e);
	for (int i = 0; i < 50; i++)
		put(t, "gc", i, "a", 1, "value", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	struct coffer_slice pk = coffer_slice_str("gc");
	struct coffer_mutation *m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_delete_partition(m, 20);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	assert_int_equal(st.sstables, 1); /* shadowed rows dropped, tombstone kept */
	expect(t, "gc", "");
	coffer_manual_clock_advance(&e->clock, 101 * SEC);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	coffer_table_stats(t, &st);
	assert_int_equal(st.sstables, 0); /* purged entirely */
	expect(t, "gc", "");
	coffer_table_close(t);
}

static void fill_grid(struct coffer_table *t)
{
	const char *c1[] = {"a", "b", "c"};
	for (int p = 0; p < 20; p++) {
		char pk[16];
		snprintf(pk, sizeof(pk), "k%02d", p);
		for (int i = -2; i <= 2; i++)
			for (int j = 0; j < 3; j++)
				put(t, pk, i, c1[j], 1, "v", 1, 0);
	}
}

static void test_slices(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill_grid(t);
	for (int round = 0; round < 2; round++) {
		uint8_t b1[4], b2[4];
		struct coffer_slice p = coffer_slice_str("k03");
		struct coffer_slice lo[2] = {be32(-1, b1), coffer_slice_str("b")};
		struct coffer_slice hi[1] = {be32(1, b2)};
		/* ck0 >= -1 and ck0 < 1 (a prefix bound), DESC text inside */
		struct coffer_read q = {.partitions = &p, .n_partitions = 1, .lower = {lo, 1, true},
					.upper = {hi, 1, false}};
		char *got = render(t, &q);
		assert_string_equal(got, "k03:-1,c:1=v\nk03:-1,b:1=v\nk03:-1,a:1=v\n"
					 "k03:0,c:1=v\nk03:0,b:1=v\nk03:0,a:1=v\n");
		free(got);
		/* (ck0, ck1) > (-1, 'b') -- 'b' DESC so 'a' follows -- and <= (0, 'b') reversed */
		struct coffer_slice hi2[2] = {be32(0, b2), coffer_slice_str("b")};
		q.lower = (struct coffer_bound){lo, 2, false};
		q.upper = (struct coffer_bound){hi2, 2, true};
		q.reversed = true;
		got = render(t, &q);
		assert_string_equal(got, "k03:0,b:1=v\nk03:0,c:1=v\nk03:-1,a:1=v\n");
		free(got);
		/* equality on a full key */
		q.lower = (struct coffer_bound){hi2, 2, true};
		q.reversed = false;
		got = render(t, &q);
		assert_string_equal(got, "k03:0,b:1=v\n");
		free(got);
		/* IN, per partition limit, and an absent partition */
		struct coffer_slice ps[3] = {coffer_slice_str("k05"), coffer_slice_str("nope"),
					     coffer_slice_str("k01")};
		struct coffer_read qi = {.partitions = ps, .n_partitions = 3, .per_partition_limit = 2};
		got = render(t, &qi);
		assert_string_equal(got, "k05:-2,c:1=v\nk05:-2,b:1=v\nk01:-2,c:1=v\nk01:-2,b:1=v\n");
		free(got);
		uint64_t n;
		struct coffer_read all = {0};
		assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
		assert_int_equal(n, 20 * 15);
		assert_int_equal(coffer_table_flush(t), COFFER_OK);
	}
	coffer_table_close(t);
}

struct collect {
	int64_t last_token;
	int rows;
	bool ordered;
	struct coffer_buf seen;
};

static bool collect_fn(void *arg, const struct coffer_row_view *r)
{
	struct collect *c = arg;
	if (r->token < c->last_token)
		c->ordered = false;
	c->last_token = r->token;
	c->rows++;
	coffer_buf_printf(&c->seen, "%.*s/%d/%.*s;", (int)r->partition_key.len,
			  (const char *)r->partition_key.ptr, (int32_t)coffer_load_u32(r->ck[0].ptr),
			  (int)r->ck[1].len, (const char *)r->ck[1].ptr);
	return true;
}

static void test_scan_paging(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill_grid(t);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	fill_grid(t); /* same rows in memtable and SSTable */
	/* one pass */
	struct collect all = {.last_token = INT64_MIN, .ordered = true};
	struct coffer_read q = {0};
	struct coffer_read_result res = {0};
	assert_int_equal(coffer_table_read(t, &q, collect_fn, &all, &res), COFFER_OK);
	assert_int_equal(all.rows, 300);
	assert_true(all.ordered);
	assert_false(res.more);
	/* pages of 7 (and per-partition limit 4) give the same rows */
	for (int ppl = 0; ppl <= 4; ppl += 4) {
		struct collect pages = {.last_token = INT64_MIN, .ordered = true};
		struct coffer_buf cur = {0};
		int npages = 0;
		for (;;) {
			struct coffer_read pq = {.limit = 7, .per_partition_limit = (uint64_t)ppl,
						 .cursor = coffer_buf_slice(&cur)};
			struct coffer_read_result r = {0};
			assert_int_equal(coffer_table_read(t, &pq, collect_fn, &pages, &r), COFFER_OK);
			npages++;
			assert_true(r.rows <= 7);
			coffer_buf_reset(&cur);
			coffer_buf_put(&cur, r.cursor.ptr, r.cursor.len);
			coffer_buf_free(&r.cursor);
			if (!r.more)
				break;
		}
		assert_true(pages.ordered);
		if (ppl == 0) {
			assert_int_equal(pages.rows, 300);
			assert_int_equal(all.seen.len, pages.seen.len);
			assert_memory_equal(all.seen.ptr, pages.seen.ptr, all.seen.len);
		} else {
			assert_int_equal(pages.rows, 20 * 4);
		}
		assert_true(npages >= pages.rows / 7);
		coffer_buf_free(&cur);
		coffer_buf_free(&pages.seen);
	}
	/* token range */
	struct collect half = {.last_token = INT64_MIN, .ordered = true};
	struct coffer_read tq = {.token_range = true, .token_min = 0, .token_max = INT64_MAX};
	assert_int_equal(coffer_table_read(t, &tq, collect_fn, &half, &res), COFFER_OK);
	assert_true(half.rows > 0 && half.rows < 300);
	assert_true(half.last_token >= 0);
	coffer_buf_free(&half.seen);
	coffer_buf_free(&all.seen);
	coffer_buf_free(&res.cursor);
	coffer_table_close(t);
}

static void test_composite_partition_and_invalid(void **state)
{
	struct senv *e = *state;
	e->desc.schema = (struct coffer_table_schema){.n_partition = 2, .n_clustering = 0};
	struct coffer_table *t = senv_create(e);
	struct coffer_slice pk[2] = {coffer_slice_str("a"), coffer_slice_str("b")};
	struct coffer_mutation *m = coffer_mutation_new(t, pk, 2);
	coffer_mutation_set(m, NULL, 0, 3, coffer_slice_str("v"), 1, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	/* wrong shapes are refused whole */
	m = coffer_mutation_new(t, pk, 1);
	coffer_mutation_set(m, NULL, 0, 3, coffer_slice_str("v"), 1, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_E_INVALID);
	coffer_mutation_free(m);
	struct coffer_buf enc = {0};
	coffer_partition_key_encode(pk, 2, &enc);
	struct coffer_slice p = coffer_buf_slice(&enc);
	struct coffer_read q = {.partitions = &p, .n_partitions = 1};
	uint64_t n;
	assert_int_equal(coffer_table_count(t, &q, &n), COFFER_OK);
	assert_int_equal(n, 1);
	coffer_buf_free(&enc);
	coffer_table_close(t);
}

static void test_many_flushes_and_compaction(void **state)
{
	struct senv *e = *state;
	e->cfg.memtable_bytes = 64 << 10;
	struct coffer_table *t = senv_create(e);
	char pk[32], v[64];
	for (int i = 0; i < 3000; i++) {
		snprintf(pk, sizeof(pk), "p%d", i % 97);
		snprintf(v, sizeof(v), "value-%d", i);
		put(t, pk, i, "c", 1, v, i + 1, 0);
	}
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	print_message("flushes %llu compactions %llu sstables %zu\n", (unsigned long long)st.flushes, (unsigned long long)st.compactions, st.sstables);
	assert_true(st.flushes >= 4);
	assert_true(st.compactions >= 1); /* size-tiered kicked in */
	uint64_t n;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
	assert_int_equal(n, 3000);
	coffer_table_close(t);
	t = senv_open(e);
	assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
	assert_int_equal(n, 3000);
	struct coffer_slice p5 = coffer_slice_str("p5");
	struct coffer_read q5 = {.partitions = &p5, .n_partitions = 1};
	assert_int_equal(coffer_table_count(t, &q5, &n), COFFER_OK);
	assert_int_equal(n, 3000 / 97 + (5 < 3000 % 97));
	coffer_table_close(t);
}

static void test_backup_restore_and_drop(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	put(t, "b1", 1, "a", 1, "in-backup", 10, 0);
	char *bk = coffer_path_join(e->dir, "backup");
	assert_int_equal(coffer_table_backup(t, bk), COFFER_OK);
	put(t, "b2", 1, "a", 1, "after-backup", 10, 0);
	/* the table's key changes after the backup: the backup still restores */
	assert_int_equal(coffer_table_change_key(t, e->cmk), COFFER_OK);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	assert_int_equal(coffer_table_drop(t), COFFER_OK);
	assert_false(coffer_fs_exists(dir));
	assert_int_equal(coffer_table_open(&e->cfg, &e->desc, &t), COFFER_E_NOT_FOUND);

	/* restore: the backup's files, as they are, in a table directory */
	char *data2 = coffer_path_join(e->dir, "restored");
	struct coffer_storage_config cfg2 = e->cfg;
	cfg2.data_dir = data2;
	char *tdir = coffer_xasprintf("%s/%s", data2, "5a1f0c2e7d3b4c8a9e6f0b1c2d3e4f50");
	char *cmd = coffer_xasprintf("mkdir -p '%s' && cp '%s'/* '%s'/", tdir, bk, tdir);
	assert_int_equal(system(cmd), 0);
	coffer_key_cache_drop(e->cache, e->desc.table_id);
	assert_int_equal(coffer_table_open(&cfg2, &e->desc, &t), COFFER_OK);
	expect(t, "b1", "b1:1,a:1=in-backup\n");
	expect(t, "b2", "");
	coffer_table_close(t);
	free(cmd);
	free(tdir);
	free(data2);
	free(dir);
	free(bk);
}

struct wide {
	int next;      /* the ck0 expected next */
	int step;      /* +1 forward, -1 reversed */
	int rows;
	bool ok;
};

static bool wide_fn(void *arg, const struct coffer_row_view *r)
{
	struct wide *w = arg;
	int v = (int32_t)coffer_load_u32(r->ck[0].ptr);
	if (v != w->next)
		w->ok = false;
	w->next += w->step;
	w->rows++;
	return true;
}

static void test_wide_partition_paging(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	for (int i = 0; i < 500; i++) {
		put(t, "wide", i, "x", 1, "v", 1, 0);
		if (i == 250)
			assert_int_equal(coffer_table_flush(t), COFFER_OK); /* rows in two sources */
	}
	for (int rev = 0; rev < 2; rev++) {
		for (int bounded = 0; bounded < 2; bounded++) {
			uint8_t lb[4];
			struct coffer_slice lo = be32(99, lb);
			struct coffer_slice p = coffer_slice_str("wide");
			struct wide w = {.next = rev ? 499 : (bounded ? 100 : 0), .step = rev ? -1 : 1, .ok = true};
			struct coffer_buf cur = {0};
			for (;;) {
				struct coffer_read q = {.partitions = &p, .n_partitions = 1, .limit = 37,
							.reversed = rev, .cursor = coffer_buf_slice(&cur)};
				if (bounded)
					q.lower = (struct coffer_bound){&lo, 1, false};
				struct coffer_read_result r = {0};
				assert_int_equal(coffer_table_read(t, &q, wide_fn, &w, &r), COFFER_OK);
				coffer_buf_reset(&cur);
				coffer_buf_put(&cur, r.cursor.ptr, r.cursor.len);
				coffer_buf_free(&r.cursor);
				if (!r.more)
					break;
			}
			assert_true(w.ok);
			assert_int_equal(w.rows, bounded ? 400 : 500);
			coffer_buf_free(&cur);
		}
	}
	coffer_table_close(t);
}

static int key_events, last_key_event = -1;
static void on_key(void *arg, const char *table_id, coffer_rc rc)
{
	(void)arg;
	(void)table_id;
	key_events++;
	last_key_event = rc;
}

static void test_key_loss_and_recovery(void **state)
{
	struct senv *e = *state;
	e->cfg.on_key_state = on_key;
	struct coffer_table *t = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &e->desc, e->cmk, &t), COFFER_OK);
	put(t, "k", 1, "a", 1, "v", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	/* cached: reads and writes go on, no KMS call */
	uint64_t calls = coffer_key_provider_total_calls(e->provider);
	expect(t, "k", "k:1,a:1=v\n");
	put(t, "k", 2, "a", 1, "w", 10, 0);
	assert_int_equal(coffer_key_provider_total_calls(e->provider), calls);
	/* idle past the cache period: the table fails cleanly, naming itself */
	coffer_manual_clock_advance(&e->clock, 301 * COFFER_US_PER_SEC);
	struct coffer_read_result res = {0};
	struct coffer_read q = {0};
	assert_int_equal(coffer_table_read(t, &q, NULL, NULL, &res), COFFER_E_KMS_DISABLED);
	assert_non_null(strstr(coffer_error_msg(), "ks.t"));
	assert_int_equal(coffer_table_key_check(t), COFFER_E_KMS_DISABLED);
	uint8_t b[4];
	struct coffer_slice pk = coffer_slice_str("k");
	struct coffer_slice ck[2] = {be32(3, b), coffer_slice_str("a")};
	struct coffer_mutation *m = coffer_mutation_new(t, &pk, 1);
	coffer_mutation_set(m, ck, 2, 1, coffer_slice_str("x"), 10, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_E_KMS_DISABLED);
	assert_int_equal(key_events, 1);
	assert_int_equal(last_key_event, COFFER_E_KMS_DISABLED);
	/* access restored: back by itself, nothing lost */
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, e->cmk), COFFER_OK);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
	expect(t, "k", "k:1,a:1=v\nk:2,a:1=w\nk:3,a:1=x\n");
	assert_int_equal(key_events, 2);
	assert_int_equal(last_key_event, COFFER_OK);
	coffer_buf_free(&res.cursor);
	coffer_table_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_last_write_wins_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_static_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_and_row_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_after_gc_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_partition_and_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_flushes_and_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore_and_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_loss_and_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_partition_paging, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
