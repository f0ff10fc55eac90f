/*
 * table.c - a table: its directory, keyring, memtables, SSTables, commit log,
 * manifest commits, flushes and the background thread; create, close, drop,
 * key change and backups. Opening with recovery is in recovery.c.
 *
 * Directory data_dir/<table id without dashes>. Keyspace and table names are
 * kept out of paths as they are kept out of file contents: the catalog that
 * maps names to ids is encrypted (src/db), so a directory listing tells
 * nothing about the schema. The directory holds:
 *   keys.reg         key registry (keys/keyring.c)
 *   MANIFEST         live SSTables and replay point (manifest.c)
 *   CL-<id>.log      commit-log segments (commitlog.c)
 *   SST-<id>.db      SSTables (sstable_write.c)
 *   backup/          with PITR on: retained files and the backup journal (backup.c)
 *   RETIRED          a retired table's retire time (backup.c)
 *
 * Invariants:
 *  1. The memtable a commit-log group is applied to, and the segment it was
 *     written to, switch together (under the leader role): every write in
 *     segments < imm_replay[i] is in imm[i] or older, so once imm[i] is in an
 *     SSTable named by the manifest, those segments can go.
 *  2. Flushes commit in memtable order (oldest first, under file_mu), and the
 *     manifest names the new SSTable and the new replay point together.
 *  3. Obsolete files are deleted, with their data keys, only after the
 *     manifest that drops them is durable; with PITR on, a file the backup
 *     links keeps its data key (table_delete_file, backup.c invariant 1).
 *  4. The lists (active, imm, ssts) change only under the state lock held
 *     exclusively; reads hold it shared for their whole duration, so nothing
 *     they use is freed under them.
 *
 *   memtable: ACTIVE ──freeze (segment rolls)──► IMMUTABLE ──flush──► SSTable in manifest
 *   SSTable:  WRITTEN ──manifest──► LIVE ──compaction's manifest──► DELETED (+ key)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

static void ignore(coffer_rc rc)
{
	(void)rc;
}

uint64_t table_alloc_file_id(struct coffer_table *t)
{
	return __atomic_fetch_add(&t->next_file_id, 1, __ATOMIC_RELAXED);
}

coffer_rc table_apply_entries(struct coffer_table *t, struct coffer_slice entries)
{
	struct coffer_reader r;
	struct coffer_slice k, v;
	coffer_reader_init(&r, entries, "mutation");
	while (!coffer_reader_done(&r)) {
		TRY(entries_next(&r, &k, &v));
		memtable_put(t->active, k, v);
	}
	return COFFER_OK;
}

static size_t n_imm(struct coffer_table *t)
{
	pthread_rwlock_rdlock(&t->state);
	size_t n = t->n_imm;
	pthread_rwlock_unlock(&t->state);
	return n;
}

coffer_rc table_freeze_memtable(struct coffer_table *t)
{
	if (memtable_count(t->active) == 0)
		return COFFER_OK;
	ENSURE(n_imm(t) < MAX_IMMUTABLE, COFFER_E_STATE,
	       "table %s.%s: %d memtables wait for a flush that keeps failing", t->keyspace, t->name,
	       MAX_IMMUTABLE);
	/* invariant 1: roll the segment and the memtable together */
	uint64_t seg;
	TRY(commitlog_roll(t->clog, &seg));
	pthread_rwlock_wrlock(&t->state);
	t->imm[t->n_imm] = t->active;
	t->imm_replay[t->n_imm] = seg;
	t->n_imm++;
	t->active = memtable_new(&t->schema, t->memtable_bytes);
	pthread_rwlock_unlock(&t->state);
	return COFFER_OK;
}

static bool must_wait(struct coffer_table *t)
{
	return memtable_bytes(t->active) >= t->memtable_bytes && n_imm(t) >= MAX_IMMUTABLE;
}

coffer_rc table_before_write(struct coffer_table *t)
{
	/* Backpressure: a full memtable that cannot be frozen (the flusher is
	 * MAX_IMMUTABLE behind) blocks the group before anything is written, so a
	 * write refused here was not applied. */
	while (must_wait(t)) {
		if (t->foreground) {
			TRY(table_flush_one(t));
			continue;
		}
		pthread_mutex_lock(&t->bg_mu);
		coffer_rc e = t->bg_error;
		if (e == COFFER_OK && must_wait(t)) {
			struct timespec ts;
			storage_deadline(&ts, 100);
			pthread_cond_timedwait(&t->bg_cv, &t->bg_mu, &ts);
		}
		pthread_mutex_unlock(&t->bg_mu);
		if (e != COFFER_OK)
			BAIL(e, "table %s.%s: flushes are failing; write refused", t->keyspace, t->name);
	}
	return COFFER_OK;
}

bool table_memtable_full(struct coffer_table *t)
{
	pthread_rwlock_rdlock(&t->state);
	bool full = memtable_bytes(t->active) >= t->memtable_bytes && t->n_imm < MAX_IMMUTABLE;
	pthread_rwlock_unlock(&t->state);
	return full;
}

void table_after_write(struct coffer_table *t)
{
	/* The group is durable and applied: nothing here may fail the writes in
	 * it. Problems are logged and retried (by the next write or the flusher). */
	if (memtable_bytes(t->active) < t->memtable_bytes || n_imm(t) >= MAX_IMMUTABLE)
		return;
	coffer_rc rc = table_freeze_memtable(t);
	if (rc == COFFER_OK && t->foreground) {
		rc = table_flush_one(t);
		if (rc == COFFER_OK && !t->no_compaction)
			rc = compaction_run(t, false);
	}
	if (rc != COFFER_OK)
		coffer_log_warn(t->log, "storage", "table %s.%s: flush after write failed (will retry): %s",
				t->keyspace, t->name, coffer_error_msg());
	if (!t->foreground) {
		pthread_mutex_lock(&t->bg_mu);
		pthread_cond_broadcast(&t->bg_cv);
		pthread_mutex_unlock(&t->bg_mu);
	}
}

/* Writes a manifest naming `ssts` (caller holds file_mu). */
static coffer_rc write_manifest(struct coffer_table *t, struct sstable **ssts, size_t n,
				uint64_t replay_from)
{
	struct manifest m = {
		.generation = t->manifest_gen + 1,
		.next_file_id = __atomic_load_n(&t->next_file_id, __ATOMIC_RELAXED),
		.replay_from = replay_from,
		.n_sst = n,
		.sst_ids = coffer_xcalloc(n ? n : 1, sizeof(uint64_t)),
	};
	for (size_t i = 0; i < n; i++)
		m.sst_ids[i] = ssts[i]->file_id;
	coffer_rc rc = manifest_write(t, &m);
	if (rc == COFFER_OK) {
		t->manifest_gen = m.generation;
		t->replay_from = replay_from;
		backup_on_manifest(t, &m);
	}
	manifest_free(&m);
	return rc;
}

coffer_rc table_commit_manifest(struct coffer_table *t)
{
	pthread_rwlock_rdlock(&t->state);
	size_t n = t->n_ssts;
	struct sstable **l = coffer_xcalloc(n ? n : 1, sizeof(*l));
	if (n)
		memcpy(l, t->ssts, n * sizeof(*l));
	pthread_rwlock_unlock(&t->state);
	coffer_rc rc = write_manifest(t, l, n, t->replay_from);
	free(l);
	return rc;
}

void table_delete_file(struct coffer_table *t, const char *path, uint64_t id)
{
	ignore(coffer_vfs_unlink(t->vfs, path));
	if (t->bk) {
		/* PITR: the backup's link keeps the file, and so its key */
		char *bdir = backup_dir_of(t->dir);
		char *bpath = coffer_path_join(bdir, strrchr(path, '/') + 1);
		bool kept = coffer_fs_exists(bpath);
		free(bpath);
		free(bdir);
		if (kept)
			return;
	}
	ignore(coffer_keyring_delete_data_key(t->kr, id));
}

/* Deletes commit-log segments below `before` and their keys (invariant 3). */
static void delete_segments_before(struct coffer_table *t, uint64_t before)
{
	DIR *d = opendir(t->dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned long long id;
		if (sscanf(de->d_name, "CL-%16llx.log", &id) == 1 && strlen(de->d_name) == 23 && id < before) {
			char *p = coffer_path_join(t->dir, de->d_name);
			table_delete_file(t, p, id);
			free(p);
		}
	}
	closedir(d);
}

coffer_rc table_write_sst(struct coffer_table *t, struct iter *it, uint64_t expected,
			  void (*tick)(void *arg, uint64_t entries), void *arg, struct sstable **out)
{
	struct sst_writer *w;
	uint64_t id = table_alloc_file_id(t), size, count = 0;
	TRY(sst_writer_open(t, id, expected, &w));
	coffer_rc rc = it->ops->seek(it, coffer_slice_of(NULL, 0));
	while (rc == COFFER_OK && it->valid) {
		rc = sst_writer_add(w, it->key, it->value);
		if (rc == COFFER_OK)
			rc = it->ops->next(it);
		if (tick && ++count % 1024 == 0)
			tick(arg, count);
	}
	if (rc == COFFER_OK)
		rc = sst_writer_finish(w, &size);
	else
		sst_writer_abort(w);
	if (rc != COFFER_OK)
		return rc;
	return sst_open_written(t, id, out);
}

coffer_rc table_flush_one(struct coffer_table *t)
{
	coffer_rc rc = COFFER_OK;
	struct sstable *s = NULL;
	pthread_mutex_lock(&t->file_mu);
	pthread_rwlock_rdlock(&t->state);
	struct memtable *m = t->n_imm ? t->imm[0] : NULL;
	uint64_t replay = t->n_imm ? t->imm_replay[0] : 0;
	size_t n = t->n_ssts;
	struct sstable **l = coffer_xcalloc(n + 1, sizeof(*l));
	if (n)
		memcpy(l, t->ssts, n * sizeof(*l));
	pthread_rwlock_unlock(&t->state);
	if (!m)
		goto fail;
	if (memtable_count(m)) {
		struct iter *it = memtable_iter(m);
		rc = table_write_sst(t, it, memtable_count(m), NULL, NULL, &s);
		it->ops->close(it);
		if (rc != COFFER_OK)
			goto fail;
		l[n++] = s;
	}
	rc = write_manifest(t, l, n, replay);
	if (rc != COFFER_OK) {
		if (s) {
			char *p = sst_path(t, s->file_id);
			uint64_t id = s->file_id;
			sst_unref(s);
			ignore(coffer_vfs_unlink(t->vfs, p));
			free(p);
			ignore(coffer_keyring_delete_data_key(t->kr, id));
		}
		goto fail;
	}
	pthread_rwlock_wrlock(&t->state);
	if (s) {
		t->ssts = coffer_xrealloc(t->ssts, (t->n_ssts + 1) * sizeof(*t->ssts));
		t->ssts[t->n_ssts++] = s;
	}
	if (t->n_imm > 1)
		memmove(t->imm, t->imm + 1, (t->n_imm - 1) * sizeof(t->imm[0]));
	if (t->n_imm > 1)
		memmove(t->imm_replay, t->imm_replay + 1, (t->n_imm - 1) * sizeof(t->imm_replay[0]));
	t->n_imm--;
	pthread_rwlock_unlock(&t->state);
	memtable_free(m);
	delete_segments_before(t, replay);
	atomic_fetch_add(&t->flushes, 1);
fail:
	free(l);
	pthread_mutex_unlock(&t->file_mu);
	return rc;
}

coffer_rc table_add_ssts(struct coffer_table *t, struct sstable **ssts, size_t n)
{
	pthread_mutex_lock(&t->file_mu);
	pthread_rwlock_rdlock(&t->state);
	size_t nl = t->n_ssts;
	struct sstable **l = coffer_xcalloc(nl + n + 1, sizeof(*l));
	if (nl)
		memcpy(l, t->ssts, nl * sizeof(*l));
	pthread_rwlock_unlock(&t->state);
	if (n)
		memcpy(l + nl, ssts, n * sizeof(*l));
	coffer_rc rc = write_manifest(t, l, nl + n, t->replay_from);
	if (rc == COFFER_OK) {
		pthread_rwlock_wrlock(&t->state);
		free(t->ssts);
		t->ssts = l;
		t->n_ssts = nl + n;
		pthread_rwlock_unlock(&t->state);
	} else {
		free(l);
	}
	pthread_mutex_unlock(&t->file_mu);
	return rc;
}

static coffer_rc freeze_fn(struct coffer_table *t, void *arg)
{
	(void)arg;
	return table_freeze_memtable(t);
}

coffer_rc coffer_table_flush(struct coffer_table *t)
{
	TRY(coffer_keyring_check(t->kr));
	while (n_imm(t) >= MAX_IMMUTABLE)
		TRY(table_flush_one(t));
	TRY(commitlog_exclusive(t->clog, freeze_fn, NULL));
	while (n_imm(t) > 0)
		TRY(table_flush_one(t));
	return COFFER_OK;
}

coffer_rc coffer_table_compact(struct coffer_table *t)
{
	TRY(coffer_keyring_check(t->kr));
	return compaction_run(t, true);
}

coffer_rc coffer_table_maybe_compact(struct coffer_table *t)
{
	TRY(coffer_keyring_check(t->kr));
	return compaction_run(t, false);
}

/* ---- background ------------------------------------------------------------ */

static void *bg_main(void *arg)
{
	struct coffer_table *t = arg;
	pthread_mutex_lock(&t->bg_mu);
	while (!t->bg_stop) {
		if (n_imm(t) == 0) {
			pthread_cond_wait(&t->bg_cv, &t->bg_mu);
			continue;
		}
		pthread_mutex_unlock(&t->bg_mu);
		coffer_rc rc = table_flush_one(t);
		if (rc != COFFER_OK)
			coffer_log_error(t->log, "storage", "table %s.%s: flush failed (retrying): %s",
					 t->keyspace, t->name, coffer_error_msg());
		if (rc == COFFER_OK && !t->no_compaction) {
			coffer_rc crc = compaction_run(t, false);
			if (crc != COFFER_OK)
				coffer_log_warn(t->log, "storage", "table %s.%s: compaction failed: %s",
						t->keyspace, t->name, coffer_error_msg());
		}
		pthread_mutex_lock(&t->bg_mu);
		t->bg_error = rc;
		pthread_cond_broadcast(&t->bg_cv);
		if (rc != COFFER_OK && !t->bg_stop) {
			/* back off, then retry: ENOSPC and EIO can be transient */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&t->bg_cv, &t->bg_mu, &ts);
		}
	}
	pthread_mutex_unlock(&t->bg_mu);
	return NULL;
}

void table_start_background(struct coffer_table *t);
void table_start_background(struct coffer_table *t)
{
	if (t->foreground)
		return;
	if (pthread_create(&t->bg, NULL, bg_main, t) == 0)
		t->bg_running = true;
	else
		t->foreground = true;
}

static void stop_background(struct coffer_table *t)
{
	if (!t->bg_running)
		return;
	pthread_mutex_lock(&t->bg_mu);
	t->bg_stop = true;
	pthread_cond_broadcast(&t->bg_cv);
	pthread_mutex_unlock(&t->bg_mu);
	pthread_join(t->bg, NULL);
	t->bg_running = false;
}

/* ---- lifecycle --------------------------------------------------------------- */

struct coffer_table *table_alloc(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc);
struct coffer_table *table_alloc(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc)
{
	struct coffer_table *t = COFFER_NEW(struct coffer_table);
	t->vfs = cfg->vfs ? cfg->vfs : coffer_vfs_posix();
	t->clock = cfg->clock ? cfg->clock : coffer_clock_system();
	t->log = cfg->log ? cfg->log : coffer_log_null();
	t->memtable_bytes = cfg->memtable_bytes ? cfg->memtable_bytes : (64u << 20);
	t->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : (32u << 20);
	t->block_bytes = cfg->block_bytes ? cfg->block_bytes : 8192;
	t->compaction_threshold = cfg->compaction_threshold ? cfg->compaction_threshold : 4;
	t->no_sync = cfg->no_sync;
	t->foreground = cfg->foreground;
	t->no_compaction = cfg->no_compaction;
	char *nodash = coffer_xstrdup(desc->table_id);
	char *w = nodash;
	for (const char *p = desc->table_id; *p; p++)
		if (*p != '-')
			*w++ = *p;
	*w = 0;
	t->dir = coffer_xasprintf("%s/%s", cfg->data_dir, nodash);
	free(nodash);
	t->keyspace = coffer_xstrdup(desc->keyspace);
	t->name = coffer_xstrdup(desc->name);
	snprintf(t->table_id, sizeof(t->table_id), "%s", desc->table_id);
	t->schema = desc->schema;
	if (!t->schema.gc_grace_us)
		t->schema.gc_grace_us = 10 * COFFER_US_PER_DAY;
	t->cache = block_cache_new(cfg->block_cache_bytes ? cfg->block_cache_bytes : (64u << 20));
	pthread_rwlock_init(&t->state, NULL);
	pthread_mutex_init(&t->file_mu, NULL);
	pthread_mutex_init(&t->bg_mu, NULL);
	pthread_cond_init(&t->bg_cv, NULL);
	t->next_file_id = MANIFEST_FILE_ID + 1;
	return t;
}

coffer_rc table_check_desc(const struct coffer_storage_config *cfg, const struct coffer_table_desc *d);
coffer_rc table_check_desc(const struct coffer_storage_config *cfg, const struct coffer_table_desc *d)
{
	ENSURE(cfg && cfg->data_dir && cfg->provider && cfg->cache, COFFER_E_INVALID,
	       "storage: incomplete configuration");
	ENSURE(d && d->keyspace && d->name && d->table_id && strlen(d->table_id) == COFFER_TABLE_ID_LEN,
	       COFFER_E_INVALID, "storage: incomplete table description");
	ENSURE(d->schema.n_partition >= 1 && d->schema.n_clustering <= COFFER_MAX_CLUSTERING,
	       COFFER_E_INVALID, "table %s.%s: bad key shape", d->keyspace, d->name);
	ENSURE(!strchr(d->keyspace, '/') && !strchr(d->name, '/') && d->keyspace[0] != '.' &&
	       d->name[0] != '.', COFFER_E_INVALID, "storage: bad keyspace or table name");
	return COFFER_OK;
}

void table_keyring_config(const struct coffer_storage_config *cfg, struct coffer_table *t,
			  struct coffer_keyring_config *kc);
void table_keyring_config(const struct coffer_storage_config *cfg, struct coffer_table *t,
			  struct coffer_keyring_config *kc)
{
	*kc = (struct coffer_keyring_config){
		.vfs = t->vfs,
		.dir = t->dir,
		.table_id = t->table_id,
		.keyspace = t->keyspace,
		.table = t->name,
		.provider = cfg->provider,
		.cache = cfg->cache,
		.clock = t->clock,
		.log = t->log,
		.grants = cfg->grants,
		.on_key_state = cfg->on_key_state,
		.on_key_state_arg = cfg->on_key_state_arg,
	};
}

static void table_free(struct coffer_table *t)
{
	/* completions still pending finish first (commitlog invariant 5) */
	commitlog_drain(t->clog);
	stop_background(t);
	commitlog_close(t->clog);
	for (size_t i = 0; i < t->n_ssts; i++)
		sst_unref(t->ssts[i]);
	free(t->ssts);
	memtable_free(t->active);
	for (size_t i = 0; i < t->n_imm; i++)
		memtable_free(t->imm[i]);
	block_cache_free(t->cache);
	backup_free(t->bk);
	coffer_keyring_close(t->kr);
	pthread_rwlock_destroy(&t->state);
	pthread_mutex_destroy(&t->file_mu);
	pthread_mutex_destroy(&t->bg_mu);
	pthread_cond_destroy(&t->bg_cv);
	free(t->dir);
	free(t->keyspace);
	free(t->name);
	free(t);
}

void table_destroy(struct coffer_table *t);
void table_destroy(struct coffer_table *t)
{
	table_free(t);
}

coffer_rc coffer_table_create(const struct coffer_storage_config *cfg, const struct coffer_table_desc *desc,
			      const char *kms_key_ref, struct coffer_table **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret k = {0};
	struct coffer_keyring_config kc;
	TRY(table_check_desc(cfg, desc));
	struct coffer_table *t = table_alloc(cfg, desc);
	ENSURE_FAIL(!coffer_fs_exists(t->dir), COFFER_E_EXISTS, "table %s.%s: %s exists already",
		    t->keyspace, t->name, t->dir);
	TRY_FAIL(coffer_fs_mkdirs(t->dir, 0700));
	table_keyring_config(cfg, t, &kc);
	TRY_FAIL(coffer_keyring_create(&kc, kms_key_ref, &t->kr));
	TRY_FAIL(coffer_keyring_new_data_key(t->kr, MANIFEST_FILE_ID, COFFER_KEY_PURPOSE_MANIFEST, &k));
	coffer_secret_free(&k);
	TRY_FAIL(write_manifest(t, NULL, 0, 0));
	t->active = memtable_new(&t->schema, t->memtable_bytes);
	TRY_FAIL(commitlog_open(t, &t->clog));
	table_start_background(t);
	*out = t;
	return COFFER_OK;
fail:
	table_free(t);
	return rc;
}

void coffer_table_close(struct coffer_table *t)
{
	if (t)
		table_free(t);
}

const char *coffer_table_dir(const struct coffer_table *t)
{
	return t->dir;
}

coffer_rc coffer_table_drop(struct coffer_table *t)
{
	commitlog_drain(t->clog);
	stop_background(t);
	commitlog_close(t->clog);
	t->clog = NULL;
	/* Crypto-shredding first: once the keys are gone the files are noise. */
	struct coffer_keyring *kr = t->kr;
	t->kr = NULL;
	coffer_rc rc = coffer_keyring_destroy(kr);
	backup_free(t->bk);
	t->bk = NULL;
	char *bdir = backup_dir_of(t->dir);
	backup_remove_tree(t->vfs, bdir);
	free(bdir);
	DIR *d = opendir(t->dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char *p = coffer_path_join(t->dir, de->d_name);
			ignore(coffer_vfs_unlink(t->vfs, p));
			free(p);
		}
		closedir(d);
	}
	if (rmdir(t->dir) != 0 && rc == COFFER_OK)
		rc = COFFER_FS_ERR(errno, "rmdir", t->dir);
	char *dir = coffer_xstrdup(t->dir);
	table_free(t);
	free(dir);
	return rc;
}

coffer_rc coffer_table_retire(struct coffer_table *t)
{
	ENSURE(atomic_load(&t->restores) == 0, COFFER_E_STATE,
	       "table %s.%s: a restore from its history is running; retire it afterwards", t->keyspace,
	       t->name);
	/* No flush and no key: the memtable's writes are in the commit log, which
	 * a restore of the retired directory reads (backup.c). */
	stop_background(t);
	if (t->clog) {
		commitlog_close(t->clog);
		t->clog = NULL;
	}
	int64_t when = table_wall_now(t);
	coffer_rc rc = backup_write_retired(t, when);
	if (rc == COFFER_OK)
		rc = coffer_vfs_sync_dir(t->vfs, t->dir);
	if (rc == COFFER_OK) {
		char iso[32];
		coffer_time_iso8601(when, iso);
		coffer_log_info(t->log, "storage", "table %s.%s (%s): retired at %s, files and keys kept",
				t->keyspace, t->name, t->table_id, iso);
	}
	table_free(t);
	return rc;
}

/* ---- keys ----------------------------------------------------------------------- */

coffer_rc coffer_table_key_check(struct coffer_table *t)
{
	return coffer_keyring_check(t->kr);
}

coffer_rc coffer_table_change_key(struct coffer_table *t, const char *new_kms_key_ref)
{
	/* Only the registry changes; the commit log, memtables and SSTables keep
	 * their data keys and are not touched (DESIGN.md rule 5). */
	return coffer_keyring_change_key(t->kr, new_kms_key_ref);
}

struct coffer_keyring *coffer_table_keyring(struct coffer_table *t)
{
	return t->kr;
}

static coffer_rc copy_file(struct coffer_table *t, const char *src, const char *dst)
{
	struct coffer_buf b = {0};
	coffer_rc rc = coffer_vfs_read_all(t->vfs, src, (size_t)1 << 34, &b);
	if (rc == COFFER_OK)
		rc = coffer_vfs_write_atomic(t->vfs, dst, coffer_buf_slice(&b));
	coffer_buf_free(&b);
	return rc;
}

coffer_rc coffer_table_backup(struct coffer_table *t, const char *dst_dir)
{
	coffer_rc rc = COFFER_OK;
	TRY(coffer_table_flush(t));
	TRY(coffer_fs_mkdirs(dst_dir, 0700));
	pthread_mutex_lock(&t->file_mu);
	pthread_rwlock_rdlock(&t->state);
	for (size_t i = 0; i < t->n_ssts && rc == COFFER_OK; i++) {
		char name[64];
		snprintf(name, sizeof(name), "SST-%016llx.db", (unsigned long long)t->ssts[i]->file_id);
		char *dst = coffer_path_join(dst_dir, name);
		if (link(t->ssts[i]->path, dst) != 0)
			rc = copy_file(t, t->ssts[i]->path, dst);
		free(dst);
	}
	pthread_rwlock_unlock(&t->state);
	if (rc == COFFER_OK) {
		char *src = coffer_path_join(t->dir, "MANIFEST");
		char *dst = coffer_path_join(dst_dir, "MANIFEST");
		rc = copy_file(t, src, dst);
		free(src);
		free(dst);
	}
	if (rc == COFFER_OK) {
		char *dst = coffer_path_join(dst_dir, COFFER_KEYRING_FILE);
		rc = coffer_keyring_export(t->kr, dst);
		free(dst);
	}
	pthread_mutex_unlock(&t->file_mu);
	return rc;
}

void coffer_table_stats(struct coffer_table *t, struct coffer_table_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&t->state);
	out->sstables = t->n_ssts;
	for (size_t i = 0; i < t->n_ssts; i++)
		out->sstable_bytes += t->ssts[i]->size;
	out->memtable_bytes = memtable_bytes(t->active);
	pthread_rwlock_unlock(&t->state);
	out->flushes = atomic_load(&t->flushes);
	out->compactions = atomic_load(&t->compactions);
	commitlog_stats(t->clog, &out->commit_groups, &out->commit_writes);
	block_cache_stats(t->cache, &out->block_cache_hits, &out->block_cache_misses);
}
