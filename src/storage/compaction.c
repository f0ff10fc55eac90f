/*
 * compaction.c - size-tiered compaction: SSTables of similar size (each within
 * 0.5x..1.5x of the bucket's average) are merged into one new SSTable, under a
 * new data key, once a bucket holds `compaction_threshold` of them; a major
 * compaction merges all of them. Merging reconciles versions, drops data
 * shadowed by tombstones, turns expired cells into tombstones, and purges
 * tombstones older than gc grace when nothing outside the merge can hold data
 * they shadow.
 *
 * Invariants:
 *  1. The new file becomes live, and the old ones dead, in one manifest write;
 *     a crash before it leaves the old files live and the new one an orphan
 *     (recovery deletes it and its key); after it, the old files and their
 *     data keys are deleted (and, if that is interrupted, recovery finishes it).
 *  2. A tombstone is purged only if its timestamp is below the minimum
 *     timestamp of every memtable and every SSTable not in the merge, so no
 *     shadowed data can resurrect (merge.c invariant 3).
 *  3. Readers that hold an old SSTable keep it open (reference count) until
 *     they finish; its file is unlinked after it leaves the table's list.
 *
 *   bucket due ──► MERGING ──manifest──► COMMITTED ──► old files + keys deleted
 *                     └── error: new file + key deleted, old files stay live
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

static void ignore(coffer_rc rc)
{
	(void)rc;
}

static int by_size(const void *a, const void *b)
{
	const struct sstable *x = *(struct sstable *const *)a, *y = *(struct sstable *const *)b;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* Picks a bucket (sorted by size) of at least `threshold` similar SSTables. */
static size_t pick(struct sstable **sorted, size_t n, int threshold, size_t *start)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = i + 1;
		double sum = (double)sorted[i]->size;
		while (j < n) {
			double avg = sum / (double)(j - i);
			if ((double)sorted[j]->size > 1.5 * avg && sorted[j]->size > (4u << 20))
				break;
			sum += (double)sorted[j]->size;
			j++;
		}
		if ((int)(j - i) >= threshold) {
			*start = i;
			return j - i > 32 ? 32 : j - i;
		}
	}
	return 0;
}

coffer_rc compaction_run(struct coffer_table *t, bool all)
{
	coffer_rc rc = COFFER_OK;
	struct sst_writer *w = NULL;
	struct sstable *out = NULL;
	struct iter *it = NULL;
	struct partition p;
	partition_init(&p);
	pthread_mutex_lock(&t->file_mu);

	pthread_rwlock_rdlock(&t->state);
	size_t n = t->n_ssts;
	struct sstable **sorted = coffer_xcalloc(n ? n : 1, sizeof(*sorted));
	if (n)
		memcpy(sorted, t->ssts, n * sizeof(*sorted));
	int64_t mem_min = memtable_min_ts(t->active);
	for (size_t i = 0; i < t->n_imm; i++)
		if (memtable_min_ts(t->imm[i]) < mem_min)
			mem_min = memtable_min_ts(t->imm[i]);
	pthread_rwlock_unlock(&t->state);

	size_t start = 0, cnt;
	if (all) {
		cnt = n;
	} else {
		qsort(sorted, n, sizeof(*sorted), by_size);
		cnt = pick(sorted, n, t->compaction_threshold, &start);
	}
	if (cnt < (all ? 1u : 2u))
		goto done;
	struct sstable **in = sorted + start;

	/* invariant 2: the oldest data that could hide outside the merge */
	int64_t max_purgeable = mem_min;
	for (size_t i = 0; i < n; i++) {
		bool inside = false;
		for (size_t j = 0; j < cnt; j++)
			inside |= in[j] == sorted[i];
		if (!inside && sorted[i]->stats.min_ts < max_purgeable)
			max_purgeable = sorted[i]->stats.min_ts;
	}
	int64_t now = coffer_clock_now_us(t->clock);
	int64_t purge_before = now - t->schema.gc_grace_us;

	struct iter **ch = coffer_xcalloc(cnt, sizeof(*ch));
	uint64_t expected = 0;
	for (size_t i = 0; i < cnt; i++) {
		ch[i] = sst_iter(in[i]);
		expected += in[i]->stats.partitions;
	}
	it = merge_iter(&t->schema, ch, cnt);
	free(ch);
	uint64_t id = table_alloc_file_id(t);
	TRY_FAIL(sst_writer_open(t, id, expected, &w));
	uint64_t written = 0;
	TRY_FAIL(it->ops->seek(it, coffer_slice_of(NULL, 0)));
	while (it->valid) {
		TRY_FAIL(partition_load(it, &p));
		partition_compact(&t->schema, &p, now, purge_before, max_purgeable);
		for (size_t i = 0; i < p.n; i++) {
			TRY_FAIL(sst_writer_add(w, p.e[i].key, p.e[i].value));
			written++;
		}
	}
	it->ops->close(it);
	it = NULL;
	if (written) {
		uint64_t size;
		rc = sst_writer_finish(w, &size);
		w = NULL;
		if (rc != COFFER_OK)
			goto fail;
		TRY_FAIL(sst_open(t, id, &out));
	} else {
		sst_writer_abort(w);
		w = NULL;
	}

	/* the new list: everything not merged, plus the output */
	pthread_rwlock_rdlock(&t->state);
	size_t nn = 0;
	struct sstable **next = coffer_xcalloc(t->n_ssts + 1, sizeof(*next));
	for (size_t i = 0; i < t->n_ssts; i++) {
		bool merged = false;
		for (size_t j = 0; j < cnt; j++)
			merged |= in[j] == t->ssts[i];
		if (!merged)
			next[nn++] = t->ssts[i];
	}
	pthread_rwlock_unlock(&t->state);
	if (out)
		next[nn++] = out;
	struct manifest m = {
		.generation = t->manifest_gen + 1,
		.next_file_id = __atomic_load_n(&t->next_file_id, __ATOMIC_RELAXED),
		.replay_from = t->replay_from,
		.n_sst = nn,
		.sst_ids = coffer_xcalloc(nn ? nn : 1, sizeof(uint64_t)),
	};
	for (size_t i = 0; i < nn; i++)
		m.sst_ids[i] = next[i]->file_id;
	rc = manifest_write(t, &m);
	if (rc != COFFER_OK) {
		manifest_free(&m);
		free(next);
		goto fail;
	}
	t->manifest_gen++;
	backup_on_manifest(t, &m);
	pthread_rwlock_wrlock(&t->state);
	free(t->ssts);
	t->ssts = next;
	t->n_ssts = nn;
	pthread_rwlock_unlock(&t->state);
	manifest_free(&m);
	out = NULL;
	/* invariant 1: old files and their keys go after the commit */
	for (size_t j = 0; j < cnt; j++) {
		struct sstable *s = in[j];
		block_cache_drop_file(t->cache, s->file_id);
		table_delete_file(t, s->path, s->file_id);
		sst_unref(s);
	}
	atomic_fetch_add(&t->compactions, 1);
	goto done;
fail:
	if (it)
		it->ops->close(it);
	if (w)
		sst_writer_abort(w);
	if (out) {
		uint64_t oid = out->file_id;
		char *path = coffer_xstrdup(out->path);
		sst_unref(out);
		ignore(coffer_vfs_unlink(t->vfs, path));
		free(path);
		ignore(coffer_keyring_delete_data_key(t->kr, oid));
	}
done:
	free(sorted);
	partition_free(&p);
	pthread_mutex_unlock(&t->file_mu);
	return rc;
}
