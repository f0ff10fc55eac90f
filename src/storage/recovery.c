/*
 * recovery.c - opening a table after a clean close or a crash.
 *
 *   1. keyring: table key from the cache or the KMS; registry authenticated
 *   2. manifest: the live SSTables and the replay point
 *   3. SSTables named by the manifest are opened (footer, index, bloom, stats
 *      authenticated); any failure is COFFER_E_CORRUPT naming the file
 *   4. commit-log segments >= replay point are replayed into a fresh memtable
 *      (torn tail of the newest dropped; corruption elsewhere reported)
 *   5. files the manifest does not name (SSTables of a flush or compaction that
 *      did not commit, *.tmp) are deleted, and the registry keeps only the keys
 *      of live files
 *   6. a new commit-log segment is started; the replayed memtable stays active
 *      and is flushed when full, like any other
 *   (a retired directory, with a RETIRED marker, is refused: backup.c)
 *
 * Invariants:
 *  1. Every write acknowledged before the crash is in a live SSTable or in a
 *     replayed segment (commitlog invariant 1, table invariant 1).
 *  2. Recovery never silently drops anything but the torn tail of the newest
 *     segment, which no writer was told was durable.
 *  3. next_file_id is above every id in use (manifest, SSTables, segments), so
 *     no file id, and no data key, is ever reused.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

void table_start_background(struct coffer_table *t);

static void ignore(coffer_rc rc)
{
	(void)rc;
}

static void replay_fn(void *arg, int64_t time, struct coffer_slice k, struct coffer_slice v)
{
	struct coffer_table *t = arg;
	table_wall_floor(t, time);
	memtable_put(t->active, k, v);
}

/* Deletes files not part of the table; collects live ids for the keyring. */
static coffer_rc sweep(struct coffer_table *t, const struct manifest *m, uint64_t **live, size_t *n_live,
		       size_t *cap_out, uint64_t *max_id)
{
	size_t cap = 16 + m->n_sst;
	*live = coffer_xcalloc(cap, sizeof(uint64_t));
	*n_live = 0;
	(*live)[(*n_live)++] = MANIFEST_FILE_ID;
	for (size_t i = 0; i < m->n_sst; i++) {
		(*live)[(*n_live)++] = m->sst_ids[i];
		if (m->sst_ids[i] > *max_id)
			*max_id = m->sst_ids[i];
	}
	DIR *d = opendir(t->dir);
	if (!d)
		return COFFER_FS_ERR(errno, "opendir", t->dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned long long id;
		size_t len = strlen(de->d_name);
		bool tmp = len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0;
		bool orphan = false;
		if (!tmp && sscanf(de->d_name, "SST-%16llx.db", &id) == 1 && len == 23) {
			orphan = true;
			for (size_t i = 0; i < m->n_sst; i++)
				if (m->sst_ids[i] == id)
					orphan = false;
		} else if (!tmp && sscanf(de->d_name, "CL-%16llx.log", &id) == 1 && len == 23) {
			if (id > *max_id)
				*max_id = id;
			if (id < m->replay_from)
				continue; /* flushed; replay deletes it, retain drops its key */
			if (*n_live == cap) {
				cap *= 2;
				*live = coffer_xrealloc(*live, cap * sizeof(uint64_t));
			}
			(*live)[(*n_live)++] = id;
		}
		if (tmp || orphan) {
			char *p = coffer_path_join(t->dir, de->d_name);
			coffer_log_info(t->log, "storage", "%s: removing file of an uncommitted flush or compaction", p);
			ignore(coffer_vfs_unlink(t->vfs, p));
			free(p);
		}
	}
	closedir(d);
	*cap_out = cap;
	return COFFER_OK;
}

coffer_rc coffer_table_open(const struct coffer_storage_config *cfg, const struct coffer_table_desc *desc,
			    struct coffer_table **out)
{
	coffer_rc rc = COFFER_OK;
	struct manifest m = {0};
	struct coffer_keyring_config kc;
	uint64_t *live = NULL;
	size_t n_live = 0, cap_live = 0;
	TRY(table_check_desc(cfg, desc));
	struct coffer_table *t = table_alloc(cfg, desc);
	ENSURE_FAIL(coffer_fs_exists(t->dir), COFFER_E_NOT_FOUND, "table %s.%s (%s) does not exist",
		    t->keyspace, t->name, t->table_id);
	/* a retired directory is history, restorable into a new table, not a
	 * table to append to (its commit log is part of what it restores) */
	int64_t retired;
	if (backup_read_retired(t, &retired) == COFFER_OK) {
		char iso[32];
		coffer_time_iso8601(retired, iso);
		BAIL_FAIL(COFFER_E_STATE, "table %s.%s (%s) was retired at %s: restore it into a new table",
			  t->keyspace, t->name, t->table_id, iso);
	}
	coffer_error_clear();
	table_keyring_config(cfg, t, &kc);
	TRY_FAIL(coffer_keyring_open(&kc, &t->kr));
	TRY_FAIL(manifest_read(t, &m));
	t->manifest_gen = m.generation;
	t->replay_from = m.replay_from;
	uint64_t max_id = MANIFEST_FILE_ID;

	/* 5 before 3-4: leftovers must not be mistaken for live files */
	TRY_FAIL(sweep(t, &m, &live, &n_live, &cap_live, &max_id));
	/* PITR: the journal, and the retained files whose keys stay */
	TRY_FAIL(backup_load(t, &live, &n_live, &cap_live));
	for (size_t i = 0; i < n_live; i++)
		if (live[i] > max_id)
			max_id = live[i];

	t->ssts = coffer_xcalloc(m.n_sst ? m.n_sst : 1, sizeof(*t->ssts));
	for (size_t i = 0; i < m.n_sst; i++) {
		TRY_FAIL(sst_open(t, m.sst_ids[i], &t->ssts[i]));
		t->n_ssts = i + 1;
	}

	t->active = memtable_new(&t->schema, t->memtable_bytes);
	uint64_t seg_max = 0;
	TRY_FAIL(commitlog_replay(t, m.replay_from, replay_fn, t, &seg_max));
	if (seg_max > max_id)
		max_id = seg_max;
	t->next_file_id = m.next_file_id > max_id + 1 ? m.next_file_id : max_id + 1;
	TRY_FAIL(coffer_keyring_retain(t->kr, live, n_live));
	TRY_FAIL(commitlog_open(t, &t->clog));
	TRY_FAIL(backup_resync(t));
	coffer_log_info(t->log, "storage", "table %s.%s: opened with %zu SSTables, %zu replayed entries",
			t->keyspace, t->name, t->n_ssts, memtable_count(t->active));
	table_start_background(t);
	free(live);
	manifest_free(&m);
	*out = t;
	return COFFER_OK;
fail:
	free(live);
	manifest_free(&m);
	table_destroy(t);
	return rc;
}
