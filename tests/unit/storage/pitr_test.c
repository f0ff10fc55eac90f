/* pitr_test.c - point-in-time recovery (issue 7): restores at several points
 * with exact contents (later writes excluded at µs precision), through
 * flushes, compactions, reopening and two key changes; expiry; disabling
 * erases history; retire and restore without PITR; restores refused while the
 * KMS refuses the key; no plaintext in backup/; tampered backups detected;
 * CFCLOG01 segments still replayed. Times come from the manual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "storage_helper.h"
#include "util/alloc.h"
#include "util/fs.h"

#define DAY COFFER_US_PER_DAY
#define SEC COFFER_US_PER_SEC

static int setup(void **state)
{
	*state = senv_new("pitr");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

static int64_t now_us(struct senv *e)
{
	return coffer_clock_now_us(&e->clock.clock);
}

static void tick(struct senv *e)
{
	coffer_manual_clock_advance(&e->clock, 1);
}

static int dst_counter;

struct prog {
	uint64_t last, total, calls;
	bool monotonic;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog *p = arg;
	if (done < p->last || done > total)
		p->monotonic = false;
	p->last = done;
	p->total = total;
	p->calls++;
}

/* Restores src (live t, or retired when t is NULL) at `at` into a new table
 * and renders it; *rc_out gets restore_open's result (NULL: must succeed). */
static char *restore_render_kms(struct senv *e, struct coffer_table *t, int64_t at, const char *kms_key,
				coffer_rc *rc_out)
{
	struct coffer_restore *r = NULL;
	coffer_rc rc = coffer_restore_open(&e->cfg, &e->desc, t, at, &r);
	if (rc_out) {
		*rc_out = rc;
		if (rc != COFFER_OK)
			return NULL;
	} else if (rc != COFFER_OK) {
		fail_msg("restore_open: %s (%s)", coffer_error_msg(), coffer_rc_name(rc));
	}
	char id[40];
	snprintf(id, sizeof(id), "7e57d000-0000-4000-8000-%012d", ++dst_counter);
	struct coffer_table_desc dd = e->desc;
	dd.name = "restored";
	dd.table_id = id;
	struct coffer_table *dst = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &dd, kms_key ? kms_key : e->svc_key, &dst), COFFER_OK);
	struct prog p = {.monotonic = true};
	rc = coffer_restore_run(r, dst, on_progress, &p);
	if (rc != COFFER_OK)
		fail_msg("restore_run: %s", coffer_error_msg());
	assert_true(p.monotonic);
	assert_int_equal(p.last, coffer_restore_total_bytes(r));
	coffer_restore_close(r);
	/* durable: the restored table reopens with the same contents */
	char *got = render(dst, NULL);
	coffer_table_close(dst);
	assert_int_equal(coffer_table_open(&e->cfg, &dd, &dst), COFFER_OK);
	char *again = render(dst, NULL);
	assert_string_equal(got, again);
	free(again);
	assert_int_equal(coffer_table_drop(dst), COFFER_OK);
	return got;
}

static char *restore_render(struct senv *e, struct coffer_table *t, int64_t at)
{
	return restore_render_kms(e, t, at, NULL, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of s sorted (rows render in token order; tests list them in any). */
static char *sorted_lines(const char *s)
{
	char *copy = coffer_xstrdup(s), *p = copy, *line, *lines[512];
	size_t n = 0;
	while ((line = strsep(&p, "\n")) && n < 512)
		if (*line)
			lines[n++] = line;
	qsort(lines, n, sizeof(*lines), cmp_str);
	struct coffer_buf b = {0};
	for (size_t i = 0; i < n; i++)
		coffer_buf_printf(&b, "%s\n", lines[i]);
	char *out = coffer_xstrdup(b.len ? coffer_buf_cstr(&b) : "");
	coffer_buf_free(&b);
	free(copy);
	return out;
}

static void expect_restore(struct senv *e, struct coffer_table *t, int64_t at, const char *want_any)
{
	char *raw = restore_render(e, t, at);
	char *got = sorted_lines(raw), *want = sorted_lines(want_any);
	free(raw);
	if (strcmp(got, want) != 0)
		fail_msg("restore at %lld:\n got:\n%s want:\n%s", (long long)at, got, want);
	free(got);
	free(want);
}

static int count_files(const char *dir, const char *prefix)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static char *bdir_of(struct coffer_table *t)
{
	return coffer_path_join(coffer_table_dir(t), "backup");
}

static void del_row(struct coffer_table *t, const char *pk, int32_t ck0, const char *ck1, int64_t ts)
{
	uint8_t b[4];
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_slice ck[2] = {be32(ck0, b), coffer_slice_str(ck1)};
	struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
	coffer_mutation_delete_row(m, ck, 2, ts);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
}

static void put_static(struct coffer_table *t, const char *pk, uint32_t col, const char *v, int64_t ts)
{
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
	coffer_mutation_set_static(m, col, coffer_slice_str(v), ts, 0);
	assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
	coffer_mutation_free(m);
}

/* Several points, each with its exact state; history through flush,
 * compaction and reopening; µs precision. */
static void test_points_in_time(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	put(t, "p", 0, "old", 1, "before-pitr", 5, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_earliest_restorable(t), 0);
	tick(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	int64_t t0 = now_us(e);
	assert_int_equal(coffer_table_earliest_restorable(t), t0);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK); /* idempotent */
	assert_int_equal(coffer_table_earliest_restorable(t), t0);

	coffer_manual_clock_advance(&e->clock, SEC);
	put(t, "a", 1, "x", 1, "a1", 10, 0);
	int64_t t1 = now_us(e);
	tick(e);
	put(t, "b", 1, "x", 1, "b1", 10, 0); /* one µs later: excluded at t1 */
	int64_t t1b = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, SEC);
	put(t, "a", 1, "x", 1, "a2", 20, 0);
	put_static(t, "a", 7, "st", 20);
	put(t, "c", 2, "y", 3, "ttl", 20, 3600);
	int64_t t2 = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, SEC);
	del_row(t, "b", 1, "x", 30);
	int64_t t3 = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_compact(t), COFFER_OK); /* old SSTables leave the table */
	put(t, "d", 4, "z", 1, "d-log-only", 40, 0);
	int64_t t4 = now_us(e);
	tick(e);

	const char *s0 = "p:0,old:1=before-pitr\n";
	char want1[256], want1b[256], want2[256], want3[256], want4[256];
	snprintf(want1, sizeof(want1), "a:1,x:1=a1\n%s", s0);
	snprintf(want1b, sizeof(want1b), "a:1,x:1=a1\nb:1,x:1=b1\n%s", s0);
	snprintf(want2, sizeof(want2), "a:S:7=st\na:1,x:1=a2\nb:1,x:1=b1\nc:2,y:3=ttl\n%s", s0);
	snprintf(want3, sizeof(want3), "a:S:7=st\na:1,x:1=a2\nc:2,y:3=ttl\n%s", s0);
	snprintf(want4, sizeof(want4), "a:S:7=st\na:1,x:1=a2\nc:2,y:3=ttl\nd:4,z:1=d-log-only\n%s", s0);
	/* the live table's order is the token order; compare against it */
	char *live = render(t, NULL);
	char *r4 = restore_render(e, t, t4);
	assert_string_equal(r4, live);
	free(r4);
	free(live);

	struct { int64_t at; const char *want; } pts[] = {
		{t0, s0}, {t1 - 1, s0}, {t1, want1}, {t1b, want1b}, {t2, want2}, {t3, want3}, {t4, want4},
	};
	for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		char *got = restore_render(e, t, pts[i].at);
		/* compare as sets of lines (token order differs from the literal order) */
		char *g = got, *line;
		int n_got = 0, n_want = 0;
		for (const char *w = pts[i].want; *w; w++)
			n_want += *w == '\n';
		while ((line = strsep(&g, "\n")) && *line) {
			n_got++;
			char *needle = coffer_xasprintf("%s\n", line);
			if (!strstr(pts[i].want, needle))
				fail_msg("point %zu: unexpected row %s", i, line);
			free(needle);
		}
		assert_int_equal(n_got, n_want);
		free(got);
	}
	/* the TTL and timestamps are kept: the restored cell expires as the source's */
	/* outside the window */
	coffer_rc rc;
	assert_null(restore_render_kms(e, t, t0 - 1, NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);
	assert_non_null(strstr(coffer_error_msg(), "outside the restorable window"));
	assert_null(restore_render_kms(e, t, now_us(e) + SEC, NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);

	/* reopened: history and earliest point stay */
	coffer_table_close(t);
	t = senv_open(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	assert_int_equal(coffer_table_earliest_restorable(t), t0);
	put(t, "e", 5, "w", 1, "after-reopen", 50, 0);
	int64_t t5 = now_us(e);
	char *got = restore_render(e, t, t1b);
	assert_non_null(strstr(got, "b:1,x:1=b1"));
	assert_null(strstr(got, "a2"));
	free(got);
	got = restore_render(e, t, t5);
	assert_non_null(strstr(got, "after-reopen"));
	assert_non_null(strstr(got, "d-log-only"));
	assert_null(strstr(got, "b1"));
	free(got);
	coffer_table_close(t);
}

/* TTL'd cells restore with their original expiry; tombstones shadow as before. */
static void test_ttl_and_tombstones_exact(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "k", 1, "a", 1, "short", 10, 60); /* expires in 60 s */
	put(t, "k", 2, "a", 1, "long", 10, 0);
	del_row(t, "k", 2, "a", 5); /* older than the write: does not shadow it */
	int64_t at = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	expect_restore(e, t, at, "k:1,a:1=short\nk:2,a:1=long\n");
	/* past the TTL the restored copy has expired too (the expiry was kept) */
	coffer_manual_clock_advance(&e->clock, 61 * SEC);
	expect_restore(e, t, at, "k:2,a:1=long\n");
	coffer_table_close(t);
}

/* The wall clock stepping back does not reorder history: group times never
 * go below one handed out before, and "now" covers every written group. */
static void test_clock_steps_back(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 10 * SEC);
	put(t, "a", 1, "x", 1, "first", 10, 0);
	int64_t high = now_us(e);
	coffer_manual_clock_advance(&e->clock, -5 * SEC); /* NTP steps the clock back */
	put(t, "b", 1, "x", 1, "second", 10, 0);          /* recorded at `high`, not 5 s earlier */
	expect_restore(e, t, 0, "a:1,x:1=first\nb:1,x:1=second\n");
	expect_restore(e, t, high, "a:1,x:1=first\nb:1,x:1=second\n");
	expect_restore(e, t, high - 1, "");
	coffer_table_close(t);
}

/* Backups stay readable after two key changes and with the first key disabled. */
static void test_across_key_changes(void **state)
{
	struct senv *e = *state;
	char cmk2[COFFER_KMS_ARN_MAX];
	senv_new_cmk(e, cmk2);
	struct coffer_table *t = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &e->desc, e->cmk, &t), COFFER_OK);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "k", 1, "a", 1, "under-cmk1", 10, 0);
	int64_t p1 = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_change_key(t, cmk2), COFFER_OK);
	put(t, "k", 1, "a", 1, "under-cmk2", 20, 0);
	int64_t p2 = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	assert_int_equal(coffer_table_change_key(t, e->svc_key), COFFER_OK);
	put(t, "k", 1, "a", 1, "under-svc", 30, 0);
	int64_t p3 = now_us(e);
	tick(e);
	/* the first two keys are no longer needed: disable them */
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, cmk2), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 301 * SEC); /* cached keys evicted */
	expect_restore(e, t, p1, "k:1,a:1=under-cmk1\n");
	expect_restore(e, t, p2, "k:1,a:1=under-cmk2\n");
	expect_restore(e, t, p3, "k:1,a:1=under-svc\n");
	/* and after a reopen (registry read back from disk) */
	coffer_table_close(t);
	t = senv_open(e);
	expect_restore(e, t, p1, "k:1,a:1=under-cmk1\n");
	/* restored under a different KMS key than the source's */
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, cmk2), COFFER_OK);
	char *got = restore_render_kms(e, t, p2, cmk2, NULL);
	assert_string_equal(got, "k:1,a:1=under-cmk2\n");
	free(got);
	coffer_table_close(t);
}

/* The KMS refusing the table key refuses the restore, naming the key; once
 * enabled again the restore works. */
static void test_refused_while_key_disabled(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &e->desc, e->cmk, &t), COFFER_OK);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "k", 1, "a", 1, "v", 10, 0);
	int64_t at = now_us(e);
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 301 * SEC);
	coffer_rc rc;
	assert_null(restore_render_kms(e, t, at, NULL, &rc));
	assert_int_equal(rc, COFFER_E_KMS_DISABLED);
	assert_non_null(strstr(coffer_error_msg(), e->cmk));
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, e->cmk), COFFER_OK);
	expect_restore(e, t, at, "k:1,a:1=v\n");
	coffer_table_close(t);
}

/* Expiry keeps what restores inside the window need, removes the rest (files
 * and data keys), and moves the earliest restorable point. */
static void test_expiry(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, 100 * SEC), COFFER_OK);
	int64_t start = now_us(e);
	int64_t at[6];
	for (int i = 0; i < 6; i++) {
		coffer_manual_clock_advance(&e->clock, 30 * SEC);
		char v[16];
		snprintf(v, sizeof(v), "v%d", i);
		put(t, "k", i, "a", 1, v, 10 + i, 0);
		at[i] = now_us(e);
		tick(e);
		assert_int_equal(coffer_table_flush(t), COFFER_OK);
		assert_int_equal(coffer_table_compact(t), COFFER_OK);
	}
	char *bdir = bdir_of(t);
	int before = count_files(bdir, "SST-") + count_files(bdir, "CL-");
	struct coffer_keyring_info ki;
	coffer_keyring_info(coffer_table_keyring(t), &ki);
	size_t keys_before = ki.data_keys;
	/* nothing due yet is cheap and removes nothing */
	int64_t cutoff = now_us(e) - 100 * SEC;
	assert_true(cutoff > start);
	assert_int_equal(coffer_table_earliest_restorable(t), cutoff);
	assert_int_equal(coffer_table_backup_expire(t), COFFER_OK);
	int after = count_files(bdir, "SST-") + count_files(bdir, "CL-");
	assert_true(after < before);
	coffer_keyring_info(coffer_table_keyring(t), &ki);
	assert_true(ki.data_keys < keys_before);
	/* a point before the window is refused; every point inside restores */
	coffer_rc rc;
	assert_null(restore_render_kms(e, t, at[0], NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);
	for (int i = 3; i < 6; i++) {
		char *got = restore_render(e, t, at[i]);
		int lines = 0;
		for (char *c = got; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, i + 1);
		free(got);
	}
	/* a restore pins the history: expiry waits */
	struct coffer_restore *r;
	assert_int_equal(coffer_restore_open(&e->cfg, &e->desc, t, at[3], &r), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 1000 * SEC);
	int pinned = count_files(bdir, "SST-") + count_files(bdir, "CL-");
	assert_int_equal(coffer_table_backup_expire(t), COFFER_OK);
	assert_int_equal(count_files(bdir, "SST-") + count_files(bdir, "CL-"), pinned);
	assert_int_equal(coffer_table_set_pitr(t, false, 0), COFFER_E_STATE);
	coffer_restore_close(r);
	assert_int_equal(coffer_table_backup_expire(t), COFFER_OK);
	assert_true(count_files(bdir, "SST-") + count_files(bdir, "CL-") < pinned);
	/* survives a reopen */
	coffer_table_close(t);
	t = senv_open(e);
	assert_int_equal(coffer_table_set_pitr(t, true, 100 * SEC), COFFER_OK);
	char *got = restore_render(e, t, 0);
	assert_non_null(strstr(got, "v5"));
	free(got);
	free(bdir);
	coffer_table_close(t);
}

/* Disabling erases the history: backup/ gone, only live keys left; enabling
 * again starts from now. */
static void test_disable_erases_history(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	struct coffer_keyring_info ki;
	coffer_keyring_info(coffer_table_keyring(t), &ki);
	size_t keys0 = ki.data_keys;
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	for (int i = 0; i < 4; i++) {
		tick(e);
		put(t, "k", i, "a", 1, "v", 10, 0);
		assert_int_equal(coffer_table_flush(t), COFFER_OK);
	}
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	int64_t at = now_us(e);
	char *bdir = bdir_of(t);
	assert_true(count_files(bdir, "SST-") >= 4);
	assert_int_equal(coffer_table_set_pitr(t, false, 0), COFFER_OK);
	assert_false(coffer_fs_exists(bdir));
	assert_int_equal(coffer_table_earliest_restorable(t), 0);
	coffer_keyring_info(coffer_table_keyring(t), &ki);
	/* manifest + live segment + one SSTable, as before PITR (+1 SSTable) */
	assert_int_equal(ki.data_keys, keys0 + 1);
	coffer_rc rc;
	assert_null(restore_render_kms(e, t, at, NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);
	assert_int_equal(coffer_table_set_pitr(t, false, 0), COFFER_OK); /* idempotent */
	coffer_manual_clock_advance(&e->clock, SEC);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	assert_int_equal(coffer_table_earliest_restorable(t), now_us(e));
	assert_null(restore_render_kms(e, t, at, NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);
	/* a half-done disable (journal gone) is finished at open */
	char *j = coffer_path_join(bdir, "JOURNAL");
	assert_int_equal(unlink(j), 0);
	coffer_table_close(t);
	t = senv_open(e);
	assert_false(coffer_fs_exists(bdir));
	assert_int_equal(coffer_table_earliest_restorable(t), 0);
	free(j);
	free(bdir);
	coffer_table_close(t);
}

/* A table without PITR retired while its key is refused; restorable at its
 * retire time once the key is back; purge removes it without the key. */
static void test_retire_without_pitr(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &e->desc, e->cmk, &t), COFFER_OK);
	put(t, "k", 1, "a", 1, "flushed", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	put(t, "k", 2, "a", 1, "log-only", 10, 0);
	put_static(t, "k", 3, "s", 10);
	del_row(t, "k", 1, "a", 20);
	char *want = render(t, NULL);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 301 * SEC);
	int64_t retired = now_us(e);
	uint64_t calls = coffer_key_provider_total_calls(e->provider);
	assert_int_equal(coffer_table_retire(t), COFFER_OK); /* no key needed */
	assert_int_equal(coffer_key_provider_total_calls(e->provider), calls);
	coffer_rc rc;
	assert_null(restore_render_kms(e, NULL, 0, NULL, &rc));
	assert_int_equal(rc, COFFER_E_KMS_DISABLED);
	assert_non_null(strstr(coffer_error_msg(), e->cmk));
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, e->cmk), COFFER_OK);
	char *got = restore_render(e, NULL, 0);
	assert_string_equal(got, want);
	free(got);
	got = restore_render(e, NULL, retired);
	assert_string_equal(got, want);
	free(got);
	assert_null(restore_render_kms(e, NULL, retired - 1, NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID);
	/* nothing of the source changed: a second restore gives the same */
	got = restore_render(e, NULL, 0);
	assert_string_equal(got, want);
	free(got);
	/* purge without the key */
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	assert_int_equal(coffer_table_purge(&e->cfg, &e->desc), COFFER_OK);
	assert_false(coffer_fs_exists(dir));
	assert_int_equal(coffer_table_purge(&e->cfg, &e->desc), COFFER_OK);
	assert_null(restore_render_kms(e, NULL, 0, NULL, &rc));
	assert_int_equal(rc, COFFER_E_NOT_FOUND);
	free(want);
	free(dir);
}

/* A table whose open failed (key refused) is retired without opening it. */
static void test_retire_closed(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = NULL;
	assert_int_equal(coffer_table_create(&e->cfg, &e->desc, e->cmk, &t), COFFER_OK);
	put(t, "k", 1, "a", 1, "v", 10, 0);
	coffer_table_close(t);
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, e->cmk), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, 301 * SEC);
	assert_int_equal(coffer_table_open(&e->cfg, &e->desc, &t), COFFER_E_KMS_DISABLED);
	coffer_rc rc;
	assert_null(restore_render_kms(e, NULL, 0, NULL, &rc));
	assert_int_equal(rc, COFFER_E_STATE); /* not retired yet */
	int64_t when = now_us(e);
	assert_int_equal(coffer_table_retire_closed(&e->cfg, &e->desc), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, SEC);
	assert_int_equal(coffer_table_retire_closed(&e->cfg, &e->desc), COFFER_OK); /* keeps its time */
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, e->cmk), COFFER_OK);
	expect_restore(e, NULL, when, "k:1,a:1=v\n");
	assert_int_equal(coffer_table_purge(&e->cfg, &e->desc), COFFER_OK);
}

/* Appends the bytes of every SSTable in dir to out. */
static void read_sstables(const char *dir, struct coffer_buf *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "SST-", 4) == 0) {
			char *p = coffer_path_join(dir, de->d_name);
			assert_int_equal(coffer_fs_read_all(p, 1 << 26, out), COFFER_OK);
			free(p);
		}
	closedir(d);
}

/* Restored SSTables are sealed under the new table's own data keys: their
 * bytes differ from the source's, and they stay readable after the source's
 * keys are destroyed. */
static void test_restored_files_are_reencrypted(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	for (int i = 0; i < 300; i++) {
		char v[32];
		snprintf(v, sizeof(v), "value-%d", i);
		put(t, "k", i, "a", 1, v, 10, 0);
	}
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	char *want = render(t, NULL);
	struct coffer_restore *r;
	assert_int_equal(coffer_restore_open(&e->cfg, &e->desc, t, 0, &r), COFFER_OK);
	struct coffer_table_desc dd = e->desc;
	dd.name = "restored";
	dd.table_id = "7e57d000-0000-4000-8000-00000000abcd";
	struct coffer_table *dst;
	assert_int_equal(coffer_table_create(&e->cfg, &dd, e->cmk, &dst), COFFER_OK);
	assert_int_equal(coffer_restore_run(r, dst, NULL, NULL), COFFER_OK);
	coffer_restore_close(r);
	/* one SSTable each: same size (blocks re-sealed as they were), other bytes */
	struct coffer_table_stats a, b;
	coffer_table_stats(t, &a);
	coffer_table_stats(dst, &b);
	assert_int_equal(a.sstables, 1);
	assert_int_equal(b.sstables, 1);
	assert_int_equal(a.sstable_bytes, b.sstable_bytes);
	struct coffer_buf fa = {0}, fb = {0};
	read_sstables(coffer_table_dir(t), &fa);
	read_sstables(coffer_table_dir(dst), &fb);
	assert_int_equal(fa.len, fb.len);
	size_t same = 0;
	for (size_t i = 52; i + 8 < fa.len; i++)
		same += fa.ptr[i] == fb.ptr[i];
	/* frame lengths match; the sealed bytes look independent (~1/256 equal
	 * by chance, plus the frame lengths): far from a copy */
	assert_true(same < (fa.len - 60) / 8);
	coffer_buf_free(&fa);
	coffer_buf_free(&fb);
	/* the source's keys destroyed: the restored table reads on its own */
	assert_int_equal(coffer_table_drop(t), COFFER_OK);
	coffer_table_close(dst);
	assert_int_equal(coffer_table_open(&e->cfg, &dd, &dst), COFFER_OK);
	char *got = render(dst, NULL);
	assert_string_equal(got, want);
	free(got);
	free(want);
	assert_int_equal(coffer_table_drop(dst), COFFER_OK);
}

/* A restored table with PITR on has its restored state in its own history
 * from the start: restoring it again gives the same rows. */
static void test_restore_of_a_restore(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	put(t, "k", 1, "a", 1, "base", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	put(t, "k", 2, "a", 1, "log", 10, 0);
	tick(e);
	char *want = render(t, NULL);
	struct coffer_restore *r;
	assert_int_equal(coffer_restore_open(&e->cfg, &e->desc, t, 0, &r), COFFER_OK);
	struct coffer_table_desc dd = e->desc;
	dd.name = "restored";
	dd.table_id = "7e57d000-0000-4000-8000-00000000beef";
	struct coffer_table *dst;
	assert_int_equal(coffer_table_create(&e->cfg, &dd, e->svc_key, &dst), COFFER_OK);
	assert_int_equal(coffer_table_set_pitr(dst, true, DAY), COFFER_OK);
	assert_int_equal(coffer_restore_run(r, dst, NULL, NULL), COFFER_OK);
	coffer_restore_close(r);
	tick(e);
	/* the restore's SSTables are in dst's backup/ and journal */
	char *bdir = bdir_of(dst);
	assert_true(count_files(bdir, "SST-") >= 2);
	free(bdir);
	assert_int_equal(coffer_restore_open(&e->cfg, &dd, dst, 0, &r), COFFER_OK);
	struct coffer_table_desc d2 = e->desc;
	d2.name = "again";
	d2.table_id = "7e57d000-0000-4000-8000-00000000cafe";
	struct coffer_table *again;
	assert_int_equal(coffer_table_create(&e->cfg, &d2, e->svc_key, &again), COFFER_OK);
	assert_int_equal(coffer_restore_run(r, again, NULL, NULL), COFFER_OK);
	coffer_restore_close(r);
	char *got = render(again, NULL);
	assert_string_equal(got, want);
	free(got);
	free(want);
	assert_int_equal(coffer_table_drop(again), COFFER_OK);
	assert_int_equal(coffer_table_drop(dst), COFFER_OK);
	coffer_table_close(t);
}

/* A table with PITR retired (DROP): restorable at any point of its window. */
static void test_retire_with_pitr(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "k", 1, "a", 1, "first", 10, 0);
	int64_t p1 = now_us(e);
	tick(e);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	put(t, "k", 1, "a", 1, "second", 20, 0);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	tick(e);
	assert_int_equal(coffer_table_retire(t), COFFER_OK);
	coffer_manual_clock_advance(&e->clock, SEC);
	/* a retired directory is not opened as a table (that would append to it) */
	assert_int_equal(coffer_table_open(&e->cfg, &e->desc, &t), COFFER_E_STATE);
	assert_non_null(strstr(coffer_error_msg(), "retired"));
	expect_restore(e, NULL, p1, "k:1,a:1=first\n");
	expect_restore(e, NULL, 0, "k:1,a:1=second\n");
	coffer_rc rc;
	assert_null(restore_render_kms(e, NULL, now_us(e), NULL, &rc));
	assert_int_equal(rc, COFFER_E_INVALID); /* after the retire time */
	assert_int_equal(coffer_table_purge(&e->cfg, &e->desc), COFFER_OK);
}

static void test_canary_in_backups(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	const char *canary = "PITRCANARY9f3e";
	for (int i = 0; i < 200; i++) {
		char pk[64], v[64];
		snprintf(pk, sizeof(pk), "%s-pk-%d", canary, i);
		snprintf(v, sizeof(v), "%s-value-%d", canary, i);
		put(t, pk, i, canary, 1, v, 10, 0);
		if (i % 50 == 49)
			assert_int_equal(coffer_table_flush(t), COFFER_OK);
	}
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	put(t, "log", 1, canary, 1, canary, 10, 0);
	char *bdir = bdir_of(t);
	int files = 0;
	assert_int_equal(scan_tree(bdir, canary, &files), 0);
	assert_true(files >= 6); /* journal, 4+1 SSTables, segments */
	files = 0;
	assert_int_equal(scan_tree(e->cfg.data_dir, canary, &files), 0);
	char *got = restore_render(e, t, 0);
	assert_non_null(strstr(got, canary));
	free(got);
	free(bdir);
	coffer_table_close(t);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Journal write failures: a failed BASE append does not fail the flush (the
 * history stays restorable from the previous base and the archived log; the
 * next commit records the state); a failed SEGMENT append fails that write
 * cleanly and the next one goes through; a torn last record (power loss) is
 * dropped at open. Every acknowledged write is restorable throughout. */
static void test_journal_faults(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "a", 1, "x", 1, "va", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	/* BASE append fails (ENOSPC): the flush still succeeds */
	put(t, "b", 1, "x", 1, "vb", 10, 0);
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_WRITE_ERROR, "JOURNAL", 1, ENOSPC);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_true(coffer_vfs_fault_fired(e->fault));
	coffer_vfs_fault_disarm(e->fault);
	tick(e);
	expect_restore(e, t, 0, "a:1,x:1=va\nb:1,x:1=vb\n");
	/* SEGMENT append fails: the roll fails, the next write opens a segment */
	put(t, "c", 1, "x", 1, "vc", 10, 0);
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_WRITE_ERROR, "JOURNAL", 0, EIO);
	assert_int_not_equal(coffer_table_flush(t), COFFER_OK);
	assert_true(coffer_vfs_fault_fired(e->fault));
	coffer_vfs_fault_disarm(e->fault);
	put(t, "d", 1, "x", 1, "vd", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	tick(e);
	expect_restore(e, t, 0, "a:1,x:1=va\nb:1,x:1=vb\nc:1,x:1=vc\nd:1,x:1=vd\n");
	/* a torn last append (the flush's BASE, after its segment's record),
	 * then the process "dies" (closed without anything else) */
	put(t, "e", 1, "x", 1, "ve", 10, 0);
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_TORN_WRITE, "JOURNAL", 1, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_true(coffer_vfs_fault_fired(e->fault));
	coffer_vfs_fault_disarm(e->fault);
	coffer_table_close(t);
	t = senv_open(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	expect_restore(e, t, 0, "a:1,x:1=va\nb:1,x:1=vb\nc:1,x:1=vc\nd:1,x:1=vd\ne:1,x:1=ve\n");
	coffer_table_close(t);
}

struct vf {
	char first[512];
	char all[4096];
};

static void vf_fn(void *arg, bool problem, const char *file, const char *msg)
{
	struct vf *v = arg;
	if (!problem)
		return;
	if (!v->first[0])
		snprintf(v->first, sizeof(v->first), "%s: %s", file, msg);
	size_t l = strlen(v->all);
	snprintf(v->all + l, sizeof(v->all) - l, "%s: %s\n", file, msg);
}

/* coffer verify on a PITR table: the retained files and the journal are
 * checked and a clean table has no problem. */
static void test_verify_clean(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	for (int i = 0; i < 3; i++) {
		tick(e);
		put(t, "k", i, "a", 1, "v", 10, 0);
		assert_int_equal(coffer_table_flush(t), COFFER_OK);
	}
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	put(t, "k", 9, "a", 1, "log", 10, 0);
	coffer_table_close(t);
	struct vf v = {0};
	struct coffer_verify_result res;
	assert_int_equal(coffer_storage_verify(&e->cfg, &e->desc, vf_fn, &v, &res), COFFER_OK);
	if (res.problems)
		fail_msg("problems: %s", v.all);
	assert_true(res.files >= 10); /* keys.reg, MANIFEST, live + retained files, journal */
}

/* A tampered retained file fails the restore naming the file; a tampered
 * journal fails the open naming the journal. */
static void test_tamper_detected(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	tick(e);
	put(t, "k", 1, "a", 1, "v1", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	int64_t p1 = now_us(e);
	tick(e);
	put(t, "k", 2, "a", 1, "v2", 10, 0);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	/* the first SSTable lives on only in backup/ now */
	char *bdir = bdir_of(t);
	DIR *d = opendir(bdir);
	struct dirent *de;
	char *victim = NULL;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "SST-", 4) != 0)
			continue;
		char *live = coffer_path_join(coffer_table_dir(t), de->d_name);
		if (!coffer_fs_exists(live) && !victim)
			victim = coffer_path_join(bdir, de->d_name);
		free(live);
	}
	closedir(d);
	assert_non_null(victim);
	flip_byte(victim, 60);
	struct coffer_restore *r;
	assert_int_equal(coffer_restore_open(&e->cfg, &e->desc, t, p1, &r), COFFER_OK);
	struct coffer_table_desc dd = e->desc;
	dd.name = "restored";
	dd.table_id = "7e57d000-0000-4000-8000-999999999999";
	struct coffer_table *dst;
	assert_int_equal(coffer_table_create(&e->cfg, &dd, e->svc_key, &dst), COFFER_OK);
	assert_int_equal(coffer_restore_run(r, dst, NULL, NULL), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), strrchr(victim, '/') + 1));
	coffer_restore_close(r);
	char *empty = render(dst, NULL);
	assert_string_equal(empty, ""); /* nothing half-restored */
	free(empty);
	assert_int_equal(coffer_table_drop(dst), COFFER_OK);
	/* the journal */
	char *j = coffer_path_join(bdir, "JOURNAL");
	coffer_table_close(t);
	/* coffer verify (offline) checks backup/ too: the tampered SSTable */
	struct vf v = {0};
	struct coffer_verify_result res;
	assert_int_equal(coffer_storage_verify(&e->cfg, &e->desc, vf_fn, &v, &res), COFFER_OK);
	assert_int_equal(res.problems, 1);
	assert_non_null(strstr(v.first, strrchr(victim, '/') + 1));
	flip_byte(j, 60);
	v = (struct vf){0};
	assert_int_equal(coffer_storage_verify(&e->cfg, &e->desc, vf_fn, &v, &res), COFFER_OK);
	assert_true(res.problems >= 1);
	assert_non_null(strstr(v.all, "JOURNAL"));
	t = NULL;
	coffer_rc rc = coffer_table_open(&e->cfg, &e->desc, &t);
	assert_int_equal(rc, COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), "JOURNAL"));
	free(j);
	free(victim);
	free(bdir);
}

static void apply_fn(void *arg, int64_t time, struct coffer_slice k, struct coffer_slice v)
{
	(void)arg;
	(void)time;
	(void)k;
	(void)v;
}

/* A CFCLOG01 segment (written before PITR: groups without a time) is still
 * replayed, and counts as time 0 for restores. */
static void test_old_segment_format_replayed(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	/* an entry encoded as a mutation would: reuse a real group's plaintext */
	put(t, "old", 1, "a", 1, "from-v1", 10, 0);
	uint64_t id = 1u << 20;
	struct coffer_secret key = {0};
	assert_int_equal(coffer_keyring_new_data_key(coffer_table_keyring(t), id, COFFER_KEY_PURPOSE_COMMITLOG,
						     &key),
			 COFFER_OK);
	/* build the entries by reading back the current segment's group */
	struct coffer_buf entries = {0};
	{
		struct coffer_buf k = {0}, v = {0};
		uint8_t b[4];
		struct coffer_slice pk = coffer_slice_str("v1row");
		struct coffer_slice ck[2] = {be32(9, b), coffer_slice_str("z")};
		entry_key_row(&k, coffer_token(pk), pk, ck, 2, SLOT_COLUMN0 + 1);
		struct cell c = {.ts = 10, .value = coffer_slice_str("v1-value")};
		entry_value(&v, &c);
		entries_put(&entries, coffer_buf_slice(&k), coffer_buf_slice(&v));
		coffer_buf_free(&k);
		coffer_buf_free(&v);
	}
	struct block_ctx bc;
	assert_int_equal(block_ctx_init(&bc, &key, e->desc.table_id, id), COFFER_OK);
	struct coffer_buf file = {0};
	coffer_buf_put(&file, "CFCLOG01", 8);
	coffer_buf_put(&file, e->desc.table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u64(&file, id);
	coffer_buf_put_u32(&file, (uint32_t)entries.len);
	coffer_buf_put_u32(&file, ~(uint32_t)entries.len);
	coffer_buf_put_u64(&file, 0);
	assert_int_equal(block_seal(&bc, BLOCK_COMMIT, 0, coffer_buf_slice(&entries), &file), COFFER_OK);
	block_ctx_free(&bc);
	coffer_secret_free(&key);
	char name[64];
	snprintf(name, sizeof(name), "CL-%016llx.log", (unsigned long long)id);
	char *path = coffer_path_join(coffer_table_dir(t), name);
	assert_int_equal(coffer_fs_write_atomic(path, coffer_buf_slice(&file), 0600), COFFER_OK);
	coffer_table_close(t);
	t = senv_open(e);
	char *got = render_partition(t, "v1row");
	assert_string_equal(got, "v1row:9,z:1=v1-value\n");
	free(got);
	/* the v1 segment is archived by enabling and counts as time 0 */
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK);
	got = restore_render(e, t, 0);
	assert_non_null(strstr(got, "v1-value"));
	assert_non_null(strstr(got, "from-v1"));
	free(got);
	uint64_t torn;
	struct coffer_table *tt = t;
	assert_int_equal(commitlog_scan(tt, id, false, 0, apply_fn, NULL, &torn, NULL), COFFER_OK);
	free(path);
	coffer_buf_free(&file);
	coffer_buf_free(&entries);
	coffer_table_close(t);
}

#define CW_THREADS 3
#define CW_MAX 100000

struct cw {
	struct coffer_table *t;
	int id;
	atomic_int acked; /* highest i whose write returned */
	atomic_bool stop;
};

static void *cw_writer(void *p)
{
	struct cw *w = p;
	for (int i = 0; i < CW_MAX && !atomic_load(&w->stop); i++) {
		char pk[32];
		snprintf(pk, sizeof(pk), "w%d-%06d", w->id, i);
		put(w->t, pk, i, "c", 1, "v", 10, 0);
		atomic_store(&w->acked, i);
	}
	return NULL;
}

/* Writers run with background flushes and compactions while the main thread
 * takes restore points: the state restored at each point holds, per writer,
 * exactly a prefix of its writes that includes every write acknowledged
 * before the point (and nothing written after the clock moved on). */
static void test_concurrent_writers(void **state)
{
	struct senv *e = *state;
	e->cfg.foreground = false;
	e->cfg.no_sync = true; /* many groups quickly; group commit as usual */
	e->cfg.memtable_bytes = 32 << 10;
	e->cfg.segment_bytes = 32 << 10;
	e->cfg.compaction_threshold = 3;
	struct coffer_table *t = senv_create(e);
	struct cw w[CW_THREADS];
	pthread_t th[CW_THREADS];
	for (int i = 0; i < CW_THREADS; i++) {
		w[i] = (struct cw){.t = t, .id = i};
		atomic_init(&w[i].acked, -1);
		atomic_init(&w[i].stop, false);
		pthread_create(&th[i], NULL, cw_writer, &w[i]);
	}
	usleep(20000);
	assert_int_equal(coffer_table_set_pitr(t, true, DAY), COFFER_OK); /* while writing */
	enum { POINTS = 4 };
	int64_t at[POINTS];
	int acked_at[POINTS][CW_THREADS];
	for (int p = 0; p < POINTS; p++) {
		usleep(60000);
		for (int i = 0; i < CW_THREADS; i++)
			acked_at[p][i] = atomic_load(&w[i].acked);
		at[p] = now_us(e);
		coffer_manual_clock_advance(&e->clock, SEC);
	}
	for (int i = 0; i < CW_THREADS; i++) {
		atomic_store(&w[i].stop, true);
		pthread_join(th[i], NULL);
	}
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	print_message("%llu flushes, %llu compactions, %llu groups\n", (unsigned long long)st.flushes,
		      (unsigned long long)st.compactions, (unsigned long long)st.commit_groups);
	assert_true(st.flushes > 2);
	for (int p = 0; p < POINTS; p++) {
		char *got = restore_render(e, t, at[p]);
		int max[CW_THREADS], count[CW_THREADS];
		for (int i = 0; i < CW_THREADS; i++)
			max[i] = -1, count[i] = 0;
		char *g = got, *line;
		while ((line = strsep(&g, "\n")) && *line) {
			int id, i;
			if (sscanf(line, "w%d-%d", &id, &i) == 2 && id >= 0 && id < CW_THREADS) {
				count[id]++;
				if (i > max[id])
					max[id] = i;
			}
		}
		for (int i = 0; i < CW_THREADS; i++) {
			if (max[i] < acked_at[p][i])
				fail_msg("point %d: writer %d acknowledged %d before it, restored up to %d", p, i,
					 acked_at[p][i], max[i]);
			assert_int_equal(count[i], max[i] + 1); /* a prefix: no gaps */
			if (p + 1 < POINTS)
				assert_true(max[i] <= acked_at[p + 1][i] + 1);
		}
		free(got);
	}
	coffer_table_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_points_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_and_tombstones_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_steps_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_across_key_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_while_key_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disable_erases_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retire_without_pitr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retire_with_pitr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_files_are_reencrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_of_a_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retire_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canary_in_backups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_segment_format_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
