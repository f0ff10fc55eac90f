/*
 * restore.c - restoring a table's state at a point in time into another table
 * (point-in-time recovery, issue 7; the history is kept by backup.c).
 *
 * Sources:
 *   - an open table with PITR on: its backup/ directory and journal (in
 *     memory); the window is [earliest restorable, now];
 *   - a retired directory with a journal (PITR was on when it retired): the
 *     same from backup/, the window ending at the retire time;
 *   - a retired directory without a journal: its MANIFEST and live commit-log
 *     segments, restorable at the retire time only.
 *
 * A restore at T reads the newest BASE with time <= T (its SSTables) and
 * every group with time <= T of the segments that base and the later
 * SEGMENT records with time <= T name (backup.c). Cost: the state at T plus
 * the log since that base, not the whole window.
 *
 * The destination gets new SSTables under its own data keys (dst's keyring,
 * so under dst's KMS key whatever the source's): each source SSTable is
 * re-sealed block by block (sst_reseal: every block authenticated and
 * decrypted with the source's data key, sealed unchanged under a new data
 * key of dst; nothing decompressed or parsed) on worker threads (one per CPU,
 * at most 4; the base's SSTables are independent) while
 * the calling thread gathers the log's entries (up to dst's memtable size at
 * a time), sorts them and writes them out likewise; one manifest commit then makes them all live
 * (durable: SSTables fsynced before it). Only the calling thread calls the
 * progress callback. Entries are copied as stored: write timestamps, TTLs and
 * expiry, tombstones and static cells are kept as they were.
 *
 * Invariants:
 *  1. Nothing of the source is written: a restore reads (the journal of a
 *     retired table is read without repairing a torn tail).
 *  2. While a restore of an open table exists, that table's history is
 *     pinned: expiry and disabling wait (t->restores).
 *  3. A failure leaves dst without any of the restore's SSTables (their files
 *     and keys are removed); the caller drops dst.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

struct coffer_restore {
	struct coffer_table *live;   /* borrowed; NULL for a retired source */
	struct coffer_table *src;    /* reader: dir = where the files are */
	bool own_kr;
	int64_t at;
	uint64_t *ssts;
	size_t n_sst;
	uint64_t *segs;
	size_t n_seg;
	uint64_t total;
};

static void ignore(coffer_rc rc)
{
	(void)rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void window_error(const char *ks, const char *name, int64_t at, int64_t lo, int64_t hi)
{
	char a[32], l[32], h[32];
	coffer_time_iso8601(at, a);
	coffer_time_iso8601(lo, l);
	coffer_time_iso8601(hi, h);
	coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
			 "table %s.%s: restore time %s is outside the restorable window [%s, %s]", ks, name,
			 a, l, h);
}

/* Chooses the files for a restore at `at` from journal records. */
static void plan_from_journal(struct coffer_restore *r, const struct bk_rec *recs, size_t n)
{
	size_t base = 0;
	for (size_t i = 0; i < n; i++)
		if (recs[i].type == BK_BASE && recs[i].time <= r->at)
			base = i;
	const struct bk_rec *b = &recs[base];
	r->n_sst = b->n_sst;
	r->ssts = coffer_xcalloc(b->n_sst + 1, sizeof(uint64_t));
	if (b->n_sst)
		memcpy(r->ssts, b->ids, b->n_sst * sizeof(uint64_t));
	size_t cap = b->n_segs + 8;
	r->segs = coffer_xcalloc(cap, sizeof(uint64_t));
	for (size_t i = 0; i < b->n_segs; i++)
		r->segs[r->n_seg++] = b->ids[b->n_sst + i];
	for (size_t i = base + 1; i < n; i++) {
		if (recs[i].type != BK_SEGMENT || recs[i].time > r->at || recs[i].seg < b->replay)
			continue;
		if (r->n_seg == cap) {
			cap *= 2;
			r->segs = coffer_xrealloc(r->segs, cap * sizeof(uint64_t));
		}
		r->segs[r->n_seg++] = recs[i].seg;
	}
	qsort(r->segs, r->n_seg, sizeof(uint64_t), cmp_u64);
	size_t w = 0;
	for (size_t i = 0; i < r->n_seg; i++)
		if (w == 0 || r->segs[w - 1] != r->segs[i])
			r->segs[w++] = r->segs[i];
	r->n_seg = w;
}

/* Sizes of the planned files; a missing one is COFFER_E_CORRUPT naming it. */
static coffer_rc measure(struct coffer_restore *r)
{
	r->total = 0;
	for (size_t i = 0; i < r->n_sst + r->n_seg; i++) {
		bool seg = i >= r->n_sst;
		uint64_t id = seg ? r->segs[i - r->n_sst] : r->ssts[i];
		char *p = seg ? commitlog_segment_path(r->src, id) : sst_path(r->src, id);
		struct stat st;
		int e = stat(p, &st);
		if (e != 0) {
			coffer_rc rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE,
							"%s: a file of the table's history is missing", p);
			free(p);
			return rc;
		}
		r->total += (uint64_t)st.st_size;
		free(p);
	}
	return COFFER_OK;
}

static coffer_rc open_live(struct coffer_restore *r, const struct coffer_storage_config *cfg,
			   const struct coffer_table_desc *src, struct coffer_table *t, int64_t at)
{
	coffer_rc rc = COFFER_OK;
	struct bk_rec *recs = NULL;
	size_t n = 0;
	ENSURE(strcmp(t->table_id, src->table_id) == 0, COFFER_E_INVALID,
	       "restore: the open table is not table %s", src->table_id);
	pthread_mutex_lock(&t->file_mu);
	rc = backup_snapshot(t, &recs, &n);
	if (rc == COFFER_OK)
		atomic_fetch_add(&t->restores, 1); /* invariant 2, before expiry can run again */
	pthread_mutex_unlock(&t->file_mu);
	TRY(rc);
	r->live = t;
	/* "now" is never before a group already written (table_wall_now's floor,
	 * should the clock have stepped back) */
	int64_t lo = coffer_table_earliest_restorable(t), hi = coffer_clock_now_us(t->clock);
	int64_t newest = __atomic_load_n(&t->last_wall, __ATOMIC_RELAXED);
	if (newest > hi)
		hi = newest;
	r->at = at ? at : hi;
	if (r->at < lo || r->at > hi) {
		window_error(t->keyspace, t->name, r->at, lo, hi);
		rc = COFFER_E_INVALID;
		goto out;
	}
	rc = coffer_keyring_check(t->kr);
	if (rc != COFFER_OK) {
		coffer_error_wrap("table %s.%s: cannot restore: ", t->keyspace, t->name);
		goto out;
	}
	r->src = table_alloc(cfg, src);
	free(r->src->dir);
	r->src->dir = backup_dir_of(t->dir);
	r->src->vfs = t->vfs;
	r->src->kr = t->kr;
	plan_from_journal(r, recs, n);
out:
	bk_recs_free(recs, n);
	return rc;
}

static coffer_rc open_retired(struct coffer_restore *r, const struct coffer_storage_config *cfg,
			      const struct coffer_table_desc *src, int64_t at)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_keyring_config kc;
	struct bk_rec *recs = NULL;
	size_t n = 0;
	struct manifest m = {0};
	int64_t retired;
	struct coffer_table *s = table_alloc(cfg, src);
	r->src = s;
	ENSURE(coffer_fs_exists(s->dir), COFFER_E_NOT_FOUND, "table %s.%s (%s): no such table directory",
	       s->keyspace, s->name, s->table_id);
	TRY(backup_read_retired(s, &retired));
	table_keyring_config(cfg, s, &kc);
	rc = coffer_keyring_open(&kc, &s->kr);
	if (rc != COFFER_OK)
		return coffer_error_wrap("table %s.%s: cannot restore: ", s->keyspace, s->name);
	r->own_kr = true;
	char *bdir = backup_dir_of(s->dir);
	char *jpath = coffer_path_join(bdir, "JOURNAL");
	if (coffer_fs_exists(jpath)) {
		uint64_t jid, end;
		TRY_FAIL(bk_journal_read(s, jpath, false, &jid, &end, &recs, &n));
		ENSURE_FAIL(n > 0, COFFER_E_CORRUPT, "%s: no base record", jpath);
		r->at = at ? at : retired;
		if (r->at < recs[0].time || r->at > retired) {
			window_error(s->keyspace, s->name, r->at, recs[0].time, retired);
			rc = COFFER_E_INVALID;
			goto fail;
		}
		free(s->dir);
		s->dir = bdir;
		bdir = NULL;
		plan_from_journal(r, recs, n);
	} else {
		/* no history: the state at the retire time, from the live files */
		r->at = at ? at : retired;
		if (r->at != retired) {
			window_error(s->keyspace, s->name, r->at, retired, retired);
			rc = COFFER_E_INVALID;
			goto fail;
		}
		TRY_FAIL(manifest_read(s, &m));
		r->n_sst = m.n_sst;
		r->ssts = m.sst_ids;
		m.sst_ids = NULL;
		uint64_t *ids;
		size_t ni;
		TRY_FAIL(commitlog_list(s, &ids, &ni));
		r->segs = coffer_xcalloc(ni + 1, sizeof(uint64_t));
		for (size_t i = 0; i < ni; i++)
			if (ids[i] >= m.replay_from)
				r->segs[r->n_seg++] = ids[i];
		free(ids);
	}
fail:
	manifest_free(&m);
	bk_recs_free(recs, n);
	free(bdir);
	free(jpath);
	return rc;
}

coffer_rc coffer_restore_open(const struct coffer_storage_config *cfg, const struct coffer_table_desc *src,
			      struct coffer_table *live_or_null, int64_t at_us, struct coffer_restore **out)
{
	*out = NULL;
	TRY(table_check_desc(cfg, src));
	ENSURE(at_us >= 0, COFFER_E_INVALID, "restore: negative restore time");
	struct coffer_restore *r = COFFER_NEW(struct coffer_restore);
	coffer_rc rc = live_or_null ? open_live(r, cfg, src, live_or_null, at_us)
				    : open_retired(r, cfg, src, at_us);
	if (rc == COFFER_OK)
		rc = measure(r);
	if (rc != COFFER_OK) {
		coffer_restore_close(r);
		return rc;
	}
	*out = r;
	return COFFER_OK;
}

int64_t coffer_restore_point(struct coffer_restore *r)
{
	return r->at;
}

uint64_t coffer_restore_total_bytes(struct coffer_restore *r)
{
	return r->total;
}

void coffer_restore_close(struct coffer_restore *r)
{
	if (!r)
		return;
	if (r->src) {
		if (!r->own_kr)
			r->src->kr = NULL; /* borrowed from the live table */
		table_destroy(r->src);
	}
	if (r->live)
		atomic_fetch_sub(&r->live->restores, 1);
	free(r->ssts);
	free(r->segs);
	free(r);
}

/* ---- run ------------------------------------------------------------------------------------ */

/* The run's shared state. SSTable copies run on worker threads (the base's
 * SSTables are independent); the calling thread reads the log meanwhile and
 * is the only one to call the progress callback. */
struct run {
	struct coffer_restore *r;
	struct coffer_table *dst;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next;                  /* next base SSTable to copy (mu) */
	size_t running;               /* workers not finished (mu) */
	coffer_rc rc;                 /* first failure (mu) */
	char msg[512];
	struct outlist *o;            /* new SSTables (mu) */
	atomic_uint_fast64_t done;    /* source bytes consumed */
	void (*fn)(void *arg, uint64_t done, uint64_t total);
	void *arg;
	uint64_t reported;
};

struct copy_tick {
	struct run *run;
	uint64_t credited; /* bytes of the SSTable counted in run->done */
};

static void report(struct run *run)
{
	uint64_t done = atomic_load(&run->done), total = run->r->total;
	if (done > total)
		done = total;
	if (run->fn && done >= run->reported) {
		run->reported = done;
		run->fn(run->arg, done, total);
	}
}

static void fail_run(struct run *run, coffer_rc rc)
{
	pthread_mutex_lock(&run->mu);
	if (run->rc == COFFER_OK) {
		run->rc = rc;
		snprintf(run->msg, sizeof(run->msg), "%s", coffer_error_msg());
	}
	pthread_mutex_unlock(&run->mu);
}

static void sst_tick(void *arg, uint64_t bytes)
{
	struct copy_tick *c = arg;
	if (bytes > c->credited) {
		atomic_fetch_add(&c->run->done, bytes - c->credited);
		c->credited = bytes;
	}
}

static void out_push(struct outlist *o, struct sstable *s);

/* Copies base SSTables until none is left or the run failed. */
static void *copy_worker(void *arg)
{
	struct run *run = arg;
	for (;;) {
		pthread_mutex_lock(&run->mu);
		size_t i = run->next++;
		bool stop = run->rc != COFFER_OK || i >= run->r->n_sst;
		pthread_mutex_unlock(&run->mu);
		if (stop)
			break;
		struct sstable *s, *ns = NULL;
		coffer_rc rc = sst_open(run->r->src, run->r->ssts[i], &s);
		if (rc != COFFER_OK) {
			fail_run(run, rc);
			break;
		}
		struct copy_tick c = {run, 0};
		rc = sst_reseal(s, run->dst, sst_tick, &c, &ns);
		atomic_fetch_add(&run->done, s->size - c.credited);
		sst_unref(s);
		if (rc != COFFER_OK) {
			fail_run(run, rc);
			break;
		}
		if (ns) {
			pthread_mutex_lock(&run->mu);
			out_push(run->o, ns);
			pthread_mutex_unlock(&run->mu);
		}
	}
	pthread_mutex_lock(&run->mu);
	run->running--;
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
	return NULL;
}

/* The log's entries up to the restore point, gathered then sorted once: an
 * array sort by the keys' 8-byte token prefix (entry_compare only on equal
 * tokens) costs far less than skiplist inserts, which miss the cache on
 * every comparison (perf: the memtable's cmp_node was a quarter of a
 * restore's CPU). Equal keys are reconciled as the memtable would. */
struct log_ent {
	uint64_t tok;
	struct coffer_slice k, v;
};

struct logbuf {
	const struct coffer_table_schema *schema;
	struct coffer_arena arena;
	struct log_ent *e;
	size_t n, cap;
	size_t bytes;
};

static void put_fn(void *arg, int64_t time, struct coffer_slice k, struct coffer_slice v)
{
	(void)time;
	struct logbuf *lb = arg;
	if (lb->n == lb->cap) {
		lb->cap = lb->cap ? lb->cap * 2 : 4096;
		lb->e = coffer_xrealloc(lb->e, lb->cap * sizeof(*lb->e));
	}
	struct log_ent *e = &lb->e[lb->n++];
	e->tok = k.len >= 8 ? coffer_load_u64(k.ptr) : 0;
	e->k = coffer_slice_of(coffer_arena_memdup(&lb->arena, k.ptr, k.len), k.len);
	e->v = coffer_slice_of(coffer_arena_memdup(&lb->arena, v.ptr, v.len), v.len);
	lb->bytes += k.len + v.len + sizeof(*e);
}

static int log_cmp(const void *a, const void *b, void *schema)
{
	const struct log_ent *x = a, *y = b;
	if (x->tok != y->tok)
		return x->tok < y->tok ? -1 : 1;
	return entry_compare(schema, x->k, y->k);
}

/* Sorts and keeps each key's winner (last write wins, as memtable_put). */
static void log_sort(struct logbuf *lb)
{
	qsort_r(lb->e, lb->n, sizeof(*lb->e), log_cmp, (void *)lb->schema);
	size_t w = 0;
	for (size_t i = 0; i < lb->n; i++) {
		if (w > 0 && log_cmp(&lb->e[w - 1], &lb->e[i], (void *)lb->schema) == 0) {
			struct cell a, b;
			if (entry_parse_value(lb->e[i].v, &a) != COFFER_OK ||
			    entry_parse_value(lb->e[w - 1].v, &b) != COFFER_OK || cell_reconcile(&a, &b) > 0)
				lb->e[w - 1] = lb->e[i];
			continue;
		}
		lb->e[w++] = lb->e[i];
	}
	lb->n = w;
}

static void log_reset(struct logbuf *lb)
{
	coffer_arena_reset(&lb->arena);
	lb->n = 0;
	lb->bytes = 0;
}

/* An iterator over the sorted array (table_write_sst seeks to the start only). */
struct log_iter {
	struct iter it;
	struct logbuf *lb;
	size_t i;
};

static void log_iter_at(struct log_iter *li)
{
	li->it.valid = li->i < li->lb->n;
	if (li->it.valid) {
		li->it.key = li->lb->e[li->i].k;
		li->it.value = li->lb->e[li->i].v;
	}
}

static coffer_rc log_iter_seek(struct iter *it, struct coffer_slice key)
{
	struct log_iter *li = (struct log_iter *)it;
	ENSURE(key.len == 0, COFFER_E_INTERNAL, "restore: the log iterator only starts at the beginning");
	li->i = 0;
	log_iter_at(li);
	return COFFER_OK;
}

static coffer_rc log_iter_next(struct iter *it)
{
	struct log_iter *li = (struct log_iter *)it;
	li->i++;
	log_iter_at(li);
	return COFFER_OK;
}

static void log_iter_close(struct iter *it)
{
	(void)it;
}

static const struct iter_ops log_iter_ops = {log_iter_seek, log_iter_next, log_iter_close};

static bool same_schema(const struct coffer_table_schema *a, const struct coffer_table_schema *b)
{
	if (a->n_partition != b->n_partition || a->n_clustering != b->n_clustering)
		return false;
	for (size_t i = 0; i < a->n_clustering; i++)
		if (a->clustering[i].type != b->clustering[i].type || a->clustering[i].desc != b->clustering[i].desc)
			return false;
	return true;
}

struct outlist {
	struct sstable **s;
	size_t n, cap;
};

static void out_push(struct outlist *o, struct sstable *s)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->s = coffer_xrealloc(o->s, o->cap * sizeof(*o->s));
	}
	o->s[o->n++] = s;
}

/* Writes the gathered log entries to a new SSTable of dst and empties lb. */
static coffer_rc write_log(struct coffer_table *dst, struct logbuf *lb, struct run *run)
{
	if (lb->n == 0)
		return COFFER_OK;
	log_sort(lb);
	struct sstable *s;
	struct log_iter li = {.it = {.ops = &log_iter_ops}, .lb = lb};
	coffer_rc rc = table_write_sst(dst, &li.it, lb->n, NULL, NULL, &s);
	if (rc == COFFER_OK) {
		pthread_mutex_lock(&run->mu);
		out_push(run->o, s);
		pthread_mutex_unlock(&run->mu);
	}
	log_reset(lb);
	return rc;
}

/* Workers for the base's SSTables: one per CPU (at most 4), none for one
 * SSTable on one CPU (the calling thread then copies it after the log). */
static size_t n_workers(size_t n_sst)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t w = cpus > 1 ? (size_t)cpus : 1;
	if (w > 4)
		w = 4;
	return w < n_sst ? w : n_sst;
}

coffer_rc coffer_restore_run(struct coffer_restore *r, struct coffer_table *dst,
			     void (*progress)(void *arg, uint64_t done_bytes, uint64_t total_bytes), void *arg)
{
	coffer_rc rc = COFFER_OK;
	struct outlist o = {0};
	struct logbuf lb = {.schema = &dst->schema};
	coffer_arena_init(&lb.arena, 1 << 20);
	ENSURE(same_schema(&r->src->schema, &dst->schema), COFFER_E_INVALID,
	       "restore into %s.%s: its key shape differs from the source table's", dst->keyspace, dst->name);
	ENSURE(dst != r->live, COFFER_E_INVALID, "restore: the destination is the source table");
	TRY(coffer_keyring_check(dst->kr));
	struct run run = {.r = r, .dst = dst, .o = &o, .fn = progress, .arg = arg};
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	atomic_init(&run.done, 0);
	report(&run);
	/* the base's SSTables, re-encrypted under dst's keys, on workers */
	size_t nw = n_workers(r->n_sst);
	pthread_t th[4];
	size_t started = 0;
	run.running = nw;
	for (; started < nw; started++)
		if (pthread_create(&th[started], NULL, copy_worker, &run) != 0)
			break;
	pthread_mutex_lock(&run.mu);
	run.running -= nw - started; /* threads that could not start */
	pthread_mutex_unlock(&run.mu);
	/* meanwhile the log since the base, up to the restore point */
	for (size_t i = 0; i < r->n_seg && rc == COFFER_OK; i++) {
		uint64_t torn;
		char *path = commitlog_segment_path(r->src, r->segs[i]);
		struct stat st;
		uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		free(path);
		rc = commitlog_scan(r->src, r->segs[i], i == r->n_seg - 1, r->at, put_fn, &lb, &torn, NULL);
		if (rc == COFFER_OK && lb.bytes >= dst->memtable_bytes)
			rc = write_log(dst, &lb, &run);
		atomic_fetch_add(&run.done, size);
		report(&run);
	}
	if (rc == COFFER_OK)
		rc = write_log(dst, &lb, &run);
	if (rc != COFFER_OK)
		fail_run(&run, rc);
	if (started == 0) { /* no worker (one CPU, or none could start): copy here */
		run.running = 1;
		copy_worker(&run);
	}
	pthread_mutex_lock(&run.mu);
	while (run.running > 0) {
		struct timespec ts;
		storage_deadline(&ts, 100);
		pthread_cond_timedwait(&run.cv, &run.mu, &ts);
		pthread_mutex_unlock(&run.mu);
		report(&run);
		pthread_mutex_lock(&run.mu);
	}
	pthread_mutex_unlock(&run.mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	rc = run.rc;
	if (rc != COFFER_OK) {
		coffer_error_set(rc, COFFER_WHERE, "%s", run.msg);
		goto fail;
	}
	/* one commit makes them all live */
	TRY_FAIL(table_add_ssts(dst, o.s, o.n));
	o.n = 0;
	atomic_store(&run.done, r->total);
	report(&run);
	goto out;
fail:
	/* invariant 3 */
	for (size_t i = 0; i < o.n; i++) {
		char *path = coffer_xstrdup(o.s[i]->path);
		uint64_t id = o.s[i]->file_id;
		sst_unref(o.s[i]);
		ignore(coffer_vfs_unlink(dst->vfs, path));
		ignore(coffer_keyring_delete_data_key(dst->kr, id));
		free(path);
	}
	coffer_error_wrap("restoring %s.%s into %s.%s: ", r->src->keyspace, r->src->name, dst->keyspace,
			  dst->name);
out:
	coffer_arena_free(&lb.arena);
	free(lb.e);
	free(o.s);
	pthread_cond_destroy(&run.cv);
	pthread_mutex_destroy(&run.mu);
	return rc;
}
