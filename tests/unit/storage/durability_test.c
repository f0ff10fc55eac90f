/* durability_test.c - the fault-injecting file layer against the commit log,
 * flushes, the manifest and the key registry: every failure is reported to the
 * writer, acknowledged data is kept (live and after reopening), unacknowledged
 * data never half-appears, and the table keeps working afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_helper.h"
#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

static int setup(void **state)
{
	*state = senv_new("durability");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

static coffer_rc try_put(struct coffer_table *t, const char *pk, const char *v)
{
	uint8_t b[4];
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_slice ck[2] = {be32(1, b), coffer_slice_str("c")};
	struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
	coffer_mutation_set(m, ck, 2, 1, coffer_slice_str(v), 1, 0);
	coffer_rc rc = coffer_table_apply(t, &m, 1);
	coffer_mutation_free(m);
	return rc;
}

static void expect_v(struct coffer_table *t, const char *pk, const char *v)
{
	char *got = render_partition(t, pk);
	char *want = v ? coffer_xasprintf("%s:1,c:1=%s\n", pk, v) : coffer_xstrdup("");
	if (strcmp(got, want) != 0)
		fail_msg("%s: got [%s] want [%s]", pk, got, want);
	free(got);
	free(want);
}

struct fault_case {
	enum coffer_fault_kind kind;
	int err;
	coffer_rc want;
};

static void test_commitlog_faults(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	struct fault_case cases[] = {
		{COFFER_FAULT_WRITE_ERROR, ENOSPC, COFFER_E_NOSPACE},
		{COFFER_FAULT_WRITE_ERROR, EIO, COFFER_E_IO},
		{COFFER_FAULT_SHORT_WRITE, EIO, COFFER_E_IO},
		{COFFER_FAULT_FSYNC, EIO, COFFER_E_IO},
	};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cases); i++) {
		char ok[16], bad[16];
		snprintf(ok, sizeof(ok), "ok%zu", i);
		snprintf(bad, sizeof(bad), "bad%zu", i);
		assert_int_equal(try_put(t, ok, "acked"), COFFER_OK);
		coffer_vfs_fault_arm(e->fault, cases[i].kind, "CL-", 0, cases[i].err);
		coffer_rc rc = try_put(t, bad, "refused");
		assert_true(coffer_vfs_fault_fired(e->fault));
		assert_int_equal(rc, cases[i].want);
		assert_non_null(strstr(coffer_error_msg(), "CL-"));
		coffer_vfs_fault_disarm(e->fault);
		expect_v(t, ok, "acked");
		expect_v(t, bad, NULL); /* a refused write is not visible */
		/* the log goes on working */
		char after[16];
		snprintf(after, sizeof(after), "after%zu", i);
		assert_int_equal(try_put(t, after, "acked"), COFFER_OK);
	}
	coffer_table_close(t);
	t = senv_open(e);
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cases); i++) {
		char k[16];
		snprintf(k, sizeof(k), "ok%zu", i);
		expect_v(t, k, "acked");
		snprintf(k, sizeof(k), "after%zu", i);
		expect_v(t, k, "acked");
		snprintf(k, sizeof(k), "bad%zu", i);
		expect_v(t, k, NULL);
	}
	coffer_table_close(t);
}

static void test_torn_write_then_crash(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(try_put(t, k, "v"), COFFER_OK);
	}
	/* power fails mid-write: half the group reaches the disk */
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_TORN_WRITE, "CL-", 0, 0);
	(void)try_put(t, "torn", "v");
	coffer_table_close(t); /* "crash": nothing else reaches the log */
	coffer_vfs_fault_disarm(e->fault);
	t = senv_open(e);
	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		expect_v(t, k, "v");
	}
	expect_v(t, "torn", NULL);
	assert_int_equal(try_put(t, "later", "v"), COFFER_OK);
	coffer_table_close(t);
	t = senv_open(e); /* the truncated segment replays cleanly again */
	expect_v(t, "later", "v");
	coffer_table_close(t);
}

static void test_flush_and_manifest_faults(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	struct {
		enum coffer_fault_kind kind;
		const char *path;
		int err;
	} cases[] = {
		{COFFER_FAULT_WRITE_ERROR, "SST-", ENOSPC},
		{COFFER_FAULT_SHORT_WRITE, "SST-", EIO},
		{COFFER_FAULT_FSYNC, "SST-", EIO},
		{COFFER_FAULT_RENAME, "SST-", EIO},
		{COFFER_FAULT_WRITE_ERROR, "MANIFEST", EIO},
		{COFFER_FAULT_RENAME, "MANIFEST", EIO},
		{COFFER_FAULT_WRITE_ERROR, "keys.reg", ENOSPC},
	};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cases); i++) {
		char k[16];
		snprintf(k, sizeof(k), "f%zu", i);
		assert_int_equal(try_put(t, k, "v"), COFFER_OK);
		coffer_vfs_fault_arm(e->fault, cases[i].kind, cases[i].path, 0, cases[i].err);
		coffer_rc rc = coffer_table_flush(t);
		assert_true(coffer_vfs_fault_fired(e->fault));
		assert_true(rc == COFFER_E_IO || rc == COFFER_E_NOSPACE);
		coffer_vfs_fault_disarm(e->fault);
		expect_v(t, k, "v"); /* still served from the memtable */
	}
	coffer_table_close(t);
	t = senv_open(e);
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cases); i++) {
		char k[16];
		snprintf(k, sizeof(k), "f%zu", i);
		expect_v(t, k, "v");
	}
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	assert_int_equal(coffer_table_compact(t), COFFER_OK);
	coffer_table_close(t);
	t = senv_open(e);
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cases); i++) {
		char k[16];
		snprintf(k, sizeof(k), "f%zu", i);
		expect_v(t, k, "v");
	}
	/* nothing but live files is left behind */
	struct coffer_table_stats st;
	coffer_table_stats(t, &st);
	assert_int_equal(st.sstables, 1);
	struct coffer_keyring_info info;
	coffer_keyring_info(coffer_table_keyring(t), &info);
	/* manifest, SSTable, the (empty) segment replayed at open, the open segment */
	assert_int_equal(info.data_keys, 4);
	coffer_table_close(t);
}

struct gc_arg {
	struct coffer_table *t;
	int id;
	int failures;
};

static void *gc_run(void *p)
{
	struct gc_arg *a = p;
	for (int i = 0; i < 50; i++) {
		char k[32];
		snprintf(k, sizeof(k), "g%d-%d", a->id, i);
		if (try_put(a->t, k, "v") != COFFER_OK)
			a->failures++;
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	struct senv *e = *state;
	e->cfg.foreground = false;
	struct coffer_table *t = senv_create(e);
	enum { THREADS = 8 };
	pthread_t th[THREADS];
	struct gc_arg args[THREADS];
	struct coffer_table_stats before, after;
	coffer_table_stats(t, &before);
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct gc_arg){t, i, 0};
		pthread_create(&th[i], NULL, gc_run, &args[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	coffer_table_stats(t, &after);
	uint64_t groups = after.commit_groups - before.commit_groups;
	assert_int_equal(after.commit_writes - before.commit_writes, THREADS * 50);
	/* one fsync served several writes */
	print_message("400 durable writes in %llu groups\n", (unsigned long long)groups);
	assert_true(groups < THREADS * 50);
	uint64_t n;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
	assert_int_equal(n, THREADS * 50);
	coffer_table_close(t);
}

/* ---- completions (coffer_table_apply_async) ---------------------------------- */

struct done_rec {
	pthread_mutex_t mu;
	int calls;
	coffer_rc rc;
	char msg[256];
	struct coffer_table *t;
	char pk[32];
	bool visible; /* the write was readable when done ran */
};

static void rec_done(void *arg, coffer_rc rc, const char *msg)
{
	struct done_rec *r = arg;
	char *got = render_partition(r->t, r->pk);
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->rc = rc;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->visible = got[0] != 0;
	pthread_mutex_unlock(&r->mu);
	free(got);
}

/* Queues one write; returns whether the caller must lead. */
static coffer_rc put_async(struct coffer_table *t, struct done_rec *r, const char *pk, bool *lead)
{
	uint8_t b[4];
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_slice ck[2] = {be32(1, b), coffer_slice_str("c")};
	struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
	coffer_mutation_set(m, ck, 2, 1, coffer_slice_str("v"), 1, 0);
	pthread_mutex_init(&r->mu, NULL);
	r->t = t;
	snprintf(r->pk, sizeof(r->pk), "%s", pk);
	coffer_rc rc = coffer_table_apply_async(t, &m, 1, rec_done, r, lead);
	coffer_mutation_free(m); /* copied: the caller's to free at once */
	return rc;
}

/* done runs once, only after the group is durable and applied (the write is
 * readable from inside done), and not before the caller that must lead does;
 * a failed fsync reaches done with its error and the write stays invisible;
 * an invalid mutation is refused at once and done never runs. */
static void test_apply_async(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	struct done_rec r = {0};
	bool lead = false;
	assert_int_equal(put_async(t, &r, "a1", &lead), COFFER_OK);
	assert_true(lead); /* nobody else was writing */
	assert_int_equal(r.calls, 0);
	expect_v(t, "a1", NULL); /* queued, not written */
	coffer_table_lead(t);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, COFFER_OK);
	assert_true(r.visible);
	expect_v(t, "a1", "v");

	/* failure: the commit log's fsync fails */
	struct done_rec f = {0};
	assert_int_equal(put_async(t, &f, "a2", &lead), COFFER_OK);
	assert_true(lead);
	coffer_vfs_fault_arm(e->fault, COFFER_FAULT_FSYNC, "CL-", 0, EIO);
	coffer_table_lead(t);
	assert_true(coffer_vfs_fault_fired(e->fault));
	coffer_vfs_fault_disarm(e->fault);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.rc, COFFER_E_IO);
	assert_non_null(strstr(f.msg, "CL-"));
	assert_false(f.visible);
	expect_v(t, "a2", NULL);

	/* refused up front: another table's mutation */
	struct coffer_table *t2 = NULL;
	{
		struct senv *e2 = senv_new("durability-other");
		t2 = senv_create(e2);
		struct coffer_slice p = coffer_slice_str("x");
		struct coffer_mutation *m = coffer_mutation_new(t2, &p, 1);
		struct done_rec n = {0};
		assert_int_equal(coffer_table_apply_async(t, &m, 1, rec_done, &n, &lead), COFFER_E_INVALID);
		assert_false(lead);
		assert_int_equal(n.calls, 0);
		coffer_mutation_free(m);
		coffer_table_close(t2);
		senv_free(e2);
	}
	coffer_table_close(t);
	t = senv_open(e);
	expect_v(t, "a1", "v");
	expect_v(t, "a2", NULL);
	coffer_table_close(t);
}

struct mix_arg {
	struct coffer_table *t;
	int id;
	struct done_rec recs[40];
	int sync_failures;
};

static void *mix_run(void *p)
{
	struct mix_arg *a = p;
	for (int i = 0; i < 40; i++) {
		char k[32];
		snprintf(k, sizeof(k), "m%d-%d", a->id, i);
		if (i % 3 == 0) {
			a->recs[i].calls = 1; /* not a completion */
			a->recs[i].rc = COFFER_OK;
			if (try_put(a->t, k, "v") != COFFER_OK)
				a->sync_failures++;
			continue;
		}
		bool lead;
		assert_int_equal(put_async(a->t, &a->recs[i], k, &lead), COFFER_OK);
		if (lead)
			coffer_table_lead(a->t);
	}
	return NULL;
}

/* Parked writers and completions share groups; every completion runs exactly
 * once with OK and its write readable; a close waits for what is pending. */
static void test_apply_async_mixed(void **state)
{
	struct senv *e = *state;
	e->cfg.foreground = false;
	struct coffer_table *t = senv_create(e);
	enum { THREADS = 6 };
	pthread_t th[THREADS];
	struct mix_arg *args = calloc(THREADS, sizeof(*args));
	struct coffer_table_stats before, after;
	coffer_table_stats(t, &before);
	for (int i = 0; i < THREADS; i++) {
		args[i].t = t;
		args[i].id = i;
		pthread_create(&th[i], NULL, mix_run, &args[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* nothing pending is left behind: close drains (and must not hang) */
	coffer_table_stats(t, &after);
	coffer_table_close(t);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(args[i].sync_failures, 0);
		for (int j = 0; j < 40; j++) {
			assert_int_equal(args[i].recs[j].calls, 1);
			assert_int_equal(args[i].recs[j].rc, COFFER_OK);
			if (j % 3)
				assert_true(args[i].recs[j].visible);
		}
	}
	assert_int_equal(after.commit_writes - before.commit_writes, THREADS * 40);
	t = senv_open(e);
	uint64_t n;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
	assert_int_equal(n, THREADS * 40);
	coffer_table_close(t);
	free(args);
}

/* Completions hand the log to the leader pool, and the next group is written
 * while the previous one is applied (commitlog.c invariants 6 and 7): with a
 * small memtable frozen and flushed again and again underneath, every write
 * is answered once, readable when answered, and there after a reopen. */
struct pipe_arg {
	struct coffer_table *t;
	int id;
	struct done_rec *recs;
};

enum { PIPE_THREADS = 4, PIPE_WRITES = 300 };

static void *pipe_run(void *p)
{
	struct pipe_arg *a = p;
	for (int i = 0; i < PIPE_WRITES; i++) {
		char k[32];
		snprintf(k, sizeof(k), "q%d-%d", a->id, i);
		bool lead;
		assert_int_equal(put_async(a->t, &a->recs[i], k, &lead), COFFER_OK);
		if (lead)
			coffer_table_lead(a->t);
	}
	return NULL;
}

static void test_pipeline_under_freezes(void **state)
{
	struct senv *e = *state;
	e->cfg.foreground = false;
	e->cfg.memtable_bytes = 16 << 10;
	struct coffer_table *t = senv_create(e);
	pthread_t th[PIPE_THREADS];
	struct pipe_arg args[PIPE_THREADS];
	for (int i = 0; i < PIPE_THREADS; i++) {
		args[i] = (struct pipe_arg){t, i, calloc(PIPE_WRITES, sizeof(struct done_rec))};
		pthread_create(&th[i], NULL, pipe_run, &args[i]);
	}
	for (int i = 0; i < PIPE_THREADS; i++)
		pthread_join(th[i], NULL);
	/* the memtable was frozen meanwhile: the flusher writes SSTables */
	struct coffer_table_stats st = {0};
	for (int tries = 0; tries < 500 && st.sstables == 0; tries++) {
		usleep(10000);
		coffer_table_stats(t, &st);
	}
	assert_true(st.sstables > 0);
	coffer_table_close(t); /* waits for every pending write */
	for (int i = 0; i < PIPE_THREADS; i++) {
		for (int j = 0; j < PIPE_WRITES; j++) {
			assert_int_equal(args[i].recs[j].calls, 1);
			assert_int_equal(args[i].recs[j].rc, COFFER_OK);
			assert_true(args[i].recs[j].visible);
		}
		free(args[i].recs);
	}
	t = senv_open(e);
	uint64_t n;
	struct coffer_read all = {0};
	assert_int_equal(coffer_table_count(t, &all, &n), COFFER_OK);
	assert_int_equal(n, PIPE_THREADS * PIPE_WRITES);
	coffer_table_close(t);
}

/* ---- preallocated commit-log space (commitlog.c invariant 8) ---------------- */

/* The path of the table's newest segment (caller frees). */
static char *newest_segment(struct coffer_table *t)
{
	DIR *d = opendir(coffer_table_dir(t));
	assert_non_null(d);
	char best[256] = "";
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "CL-", 3) == 0 && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	assert_true(best[0]);
	return coffer_path_join(coffer_table_dir(t), best);
}

static void read_file(const char *path, struct coffer_buf *out)
{
	coffer_buf_reset(out);
	assert_int_equal(coffer_fs_read_all(path, 1 << 26, out), COFFER_OK);
}

static void put_big(struct coffer_table *t, int i)
{
	char k[16], v[1024];
	snprintf(k, sizeof(k), "p%04d", i);
	memset(v, 'a' + i % 26, sizeof(v) - 1);
	v[sizeof(v) - 1] = 0;
	assert_int_equal(try_put(t, k, v), COFFER_OK);
}

static void expect_big(struct coffer_table *t, int i, bool present)
{
	char k[16], v[1024];
	snprintf(k, sizeof(k), "p%04d", i);
	memset(v, 'a' + i % 26, sizeof(v) - 1);
	v[sizeof(v) - 1] = 0;
	expect_v(t, k, present ? v : NULL);
}

static void on_finding(void *arg, bool problem, const char *file, const char *msg)
{
	(void)arg;
	(void)file;
	(void)msg;
	(void)problem;
}

static void verify_clean(struct senv *e)
{
	struct coffer_verify_result res;
	assert_int_equal(coffer_storage_verify(&e->cfg, &e->desc, on_finding, NULL, &res), COFFER_OK);
	assert_int_equal(res.problems, 0);
}

#define PREALLOC_ROWS 400 /* ~420 KiB of groups: past the 128 KiB chunk of a 1 MiB segment */

/* Writes PREALLOC_ROWS rows, waits for the zero fill ahead of them, and
 * returns the newest segment's path and its image as a crash would leave it
 * (zeros after the last group, which ends at *written); the table is closed,
 * which cuts the zeros. */
static char *fill_and_crash_image(struct senv *e, struct coffer_buf *crash, uint64_t *written)
{
	struct coffer_table *t = senv_create(e);
	for (int i = 0; i < PREALLOC_ROWS; i++)
		put_big(t, i);
	char *seg = newest_segment(t);
	struct coffer_buf img = {0};
	for (int tries = 0; tries < 400; tries++) { /* the zero fill runs on a pool thread */
		read_file(seg, &img);
		*written = commitlog_written_end(coffer_buf_slice(&img));
		if (img.len > *written)
			break;
		usleep(10000);
	}
	assert_true(img.len > *written); /* zeros ahead of the last group */
	assert_true(*written > (uint64_t)PREALLOC_ROWS * 1024);
	coffer_buf_reset(crash);
	coffer_buf_put(crash, img.ptr, img.len);
	coffer_table_close(t);
	read_file(seg, &img);
	/* a clean close cuts the zeros: the file ends with its last group (whose
	 * tag may itself end in zero bytes) */
	assert_true(img.len >= *written && img.len < *written + 16);
	assert_memory_equal(img.ptr, crash->ptr, img.len);
	*written = img.len;
	coffer_buf_free(&img);
	return seg;
}

/* A busy segment is zero-filled ahead of its writes and a crash leaves the
 * zeros after the last group: replay keeps every acknowledged write and trims
 * them, and verify sees nothing wrong. */
static void test_prealloc_crash(void **state)
{
	struct senv *e = *state;
	struct coffer_buf crash = {0}, img = {0};
	uint64_t written;
	char *seg = fill_and_crash_image(e, &crash, &written);
	assert_int_equal(coffer_fs_write_atomic(seg, coffer_buf_slice(&crash), 0600), COFFER_OK);
	verify_clean(e);
	struct coffer_table *t = senv_open(e);
	for (int i = 0; i < PREALLOC_ROWS; i++)
		expect_big(t, i, true);
	read_file(seg, &img);
	assert_int_equal(img.len, written); /* trimmed on replay */
	coffer_table_close(t);
	verify_clean(e);
	t = senv_open(e);
	expect_big(t, PREALLOC_ROWS - 1, true);
	coffer_table_close(t);
	coffer_buf_free(&crash);
	coffer_buf_free(&img);
	free(seg);
}

/* A group torn into the zeros (its end never reached the disk) is a torn
 * tail: dropped by replay, a note for verify. */
static void test_prealloc_torn_group(void **state)
{
	struct senv *e = *state;
	struct coffer_buf crash = {0}, img = {0};
	uint64_t written;
	char *seg = fill_and_crash_image(e, &crash, &written);
	memset(crash.ptr + written - 100, 0, 100);
	assert_int_equal(coffer_fs_write_atomic(seg, coffer_buf_slice(&crash), 0600), COFFER_OK);
	verify_clean(e); /* a note, not a problem */
	struct coffer_table *t = senv_open(e);
	for (int i = 0; i < PREALLOC_ROWS - 1; i++)
		expect_big(t, i, true);
	expect_big(t, PREALLOC_ROWS - 1, false);
	read_file(seg, &img);
	assert_true(img.len < written);
	coffer_table_close(t);
	verify_clean(e);
	coffer_buf_free(&crash);
	coffer_buf_free(&img);
	free(seg);
}

/* Only the newest segment may end in zeros: in an older one they are damage,
 * named by replay and by verify. */
static void test_prealloc_zeros_not_newest(void **state)
{
	struct senv *e = *state;
	struct coffer_buf crash = {0};
	uint64_t written;
	char *seg = fill_and_crash_image(e, &crash, &written);
	struct coffer_table *t = senv_open(e); /* starts a newer segment */
	coffer_table_close(t);
	assert_int_equal(coffer_fs_write_atomic(seg, coffer_buf_slice(&crash), 0600), COFFER_OK);
	struct coffer_verify_result res;
	assert_int_equal(coffer_storage_verify(&e->cfg, &e->desc, on_finding, NULL, &res), COFFER_OK);
	assert_true(res.problems > 0);
	t = NULL;
	assert_int_equal(coffer_table_open(&e->cfg, &e->desc, &t), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), strrchr(seg, '/') + 1));
	coffer_buf_free(&crash);
	free(seg);
}

/* A child of fork() has none of the leader pool's threads: its completions
 * and zero fills must not wait for them (the pool runs in the parent). */
static void test_pool_after_fork(void **state)
{
	struct senv *e = *state;
	e->cfg.foreground = false;
	struct coffer_table *t = senv_create(e);
	struct done_rec r = {0};
	bool lead;
	assert_int_equal(put_async(t, &r, "parent", &lead), COFFER_OK);
	if (lead)
		coffer_table_lead(t);
	coffer_table_close(t); /* the pool has run a job or not: it exists now */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20); /* a hang is the failure */
		t = senv_open(e);
		struct done_rec recs[40];
		memset(recs, 0, sizeof(recs));
		for (int i = 0; i < 40; i++) {
			char k[16];
			snprintf(k, sizeof(k), "child%d", i);
			if (put_async(t, &recs[i], k, &lead) != COFFER_OK)
				_exit(2);
			if (lead)
				coffer_table_lead(t);
		}
		for (int i = 0; i < PREALLOC_ROWS; i++) /* past a chunk: a zero fill is due */
			put_big(t, i);
		coffer_table_close(t);
		for (int i = 0; i < 40; i++)
			if (recs[i].calls != 1 || recs[i].rc != COFFER_OK)
				_exit(3);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	t = senv_open(e);
	expect_v(t, "child39", "v");
	expect_big(t, PREALLOC_ROWS - 1, true);
	coffer_table_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commitlog_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_write_then_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_manifest_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_async_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_under_freezes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prealloc_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prealloc_torn_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prealloc_zeros_not_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_after_fork, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
