/*
 * verify.c - offline, read-only access to a table's files for the operator's
 * commands (`coffer verify`, `coffer dump`, `coffer keys status`; issue 8):
 * checking every block tag and every key-registry record, and decoding one
 * SSTable or commit-log segment into its entries.
 *
 * These run while cofferd is stopped, so nothing else has the table open. They
 * reuse the engine's readers (keyring, manifest_read, sst_open, block_open,
 * block_decompress, entries_next) but never coffer_table_open(), which
 * recovers: it replays and truncates the commit log, deletes leftovers and
 * starts a new segment. Formats are those of sstable_write.c (SSTables),
 * commitlog.c (segments: header 52 bytes, then groups of u32 n | u32 ~n |
 * u64 sequence | n+16 sealed bytes; CFCLOG02 groups start with their time),
 * manifest.c, backup.c (journal) and keys/keyring.c.
 *
 * Invariants:
 *  1. Nothing in the table's directory is written: every file goes through a
 *     read-only file layer (struct ro_layer) that opens read-only and refuses
 *     writes, renames and unlinks with EROFS; the registry's cut of a torn
 *     tail is noted, not done.
 *  2. Every entry handed to a dump callback comes out of block_open
 *     (authenticated) and parses as an entry; nothing unauthenticated is shown.
 *  3. A problem is reported with its file and block (or group, or record), and
 *     the check goes on with the next block and the next file, so one run
 *     lists every problem. A torn last group of the newest segment (a write
 *     never acknowledged; recovery drops it) is a note, not a problem.
 *  4. No value, key or plaintext reaches a report: messages name files,
 *     blocks and offsets only. Values go only to the dump callback.
 *
 *   verify: keyring ──► manifest ──► SSTables (meta, then every data block)
 *                                └─► commit-log segments (every group)
 *                                └─► backup/ (PITR): journal records, every file they
 *                                    name present with its key, each retained file
 *                                └─► registry covers every live file
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

/* table.c and recovery.c helpers (declared there the same way). */
struct coffer_table *table_alloc(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc);
coffer_rc table_check_desc(const struct coffer_storage_config *cfg, const struct coffer_table_desc *d);
void table_keyring_config(const struct coffer_storage_config *cfg, struct coffer_table *t,
			  struct coffer_keyring_config *kc);
void table_destroy(struct coffer_table *t);

#define SST_HEADER 52
#define SST_FOOTER (44 + BLOCK_TAG + 8)
#define CL_HEADER 52
#define GROUP_HEADER 16
#define MAX_SEGMENT ((size_t)4 << 30)

/* ---- the read-only file layer (invariant 1) ----------------------------------- */

static int ro_open(struct coffer_vfs *v, const char *path, int flags, mode_t mode)
{
	(void)v;
	(void)mode;
	if (flags & (O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)) {
		errno = EROFS;
		return -1;
	}
	/* The registry asks for O_RDWR to append later; reading is all we do. */
	return open(path, (flags & ~O_RDWR) | O_RDONLY | O_CLOEXEC);
}

static ssize_t ro_pwrite(struct coffer_vfs *v, int fd, const void *p, size_t n, off_t off)
{
	(void)v, (void)fd, (void)p, (void)n, (void)off;
	errno = EROFS;
	return -1;
}

static ssize_t ro_pread(struct coffer_vfs *v, int fd, void *p, size_t n, off_t off)
{
	(void)v;
	return pread(fd, p, n, off);
}

static int ro_fd_refuse(struct coffer_vfs *v, int fd)
{
	(void)v, (void)fd;
	errno = EROFS;
	return -1;
}

/* The registry cuts a torn last record away when it opens (keyring invariant
 * 1). Here nothing is cut: the layer notes that it was asked to, and the
 * registry goes on as if it had been (it ignores that record either way). */
struct ro_layer {
	struct coffer_vfs vfs;
	bool torn_tail;
};

static int ro_ftruncate(struct coffer_vfs *v, int fd, off_t len)
{
	(void)fd, (void)len;
	((struct ro_layer *)v->impl)->torn_tail = true;
	return 0;
}

static int ro_close(struct coffer_vfs *v, int fd)
{
	(void)v;
	return close(fd);
}

static int ro_rename(struct coffer_vfs *v, const char *from, const char *to)
{
	(void)v, (void)from, (void)to;
	errno = EROFS;
	return -1;
}

static int ro_path_refuse(struct coffer_vfs *v, const char *path)
{
	(void)v, (void)path;
	errno = EROFS;
	return -1;
}

static const struct coffer_vfs_ops ro_ops = {
	.open = ro_open,
	.pwrite = ro_pwrite,
	.pread = ro_pread,
	.fsync = ro_fd_refuse,
	.ftruncate = ro_ftruncate,
	.close = ro_close,
	.rename = ro_rename,
	.unlink = ro_path_refuse,
	.sync_dir = ro_path_refuse,
};

static void ro_layer_init(struct ro_layer *ro)
{
	ro->vfs.ops = &ro_ops;
	ro->vfs.impl = ro;
	ro->torn_tail = false;
}

/* ---- opening a table without recovering it ------------------------------------- */

/* A table struct with its keyring open, through the read-only layer `ro`
 * (which must outlive the table). A refusal of the table key is returned as the provider's code. */
static COFFER_RESULT offline_open(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *desc, struct ro_layer *ro,
				  struct coffer_table **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_storage_config c = *cfg;
	struct coffer_keyring_config kc;
	ro_layer_init(ro);
	c.vfs = &ro->vfs;
	TRY(table_check_desc(&c, desc));
	struct coffer_table *t = table_alloc(&c, desc);
	ENSURE_FAIL(coffer_fs_exists(t->dir), COFFER_E_NOT_FOUND, "table %s.%s: %s does not exist",
		    t->keyspace, t->name, t->dir);
	table_keyring_config(&c, t, &kc);
	TRY_FAIL(coffer_keyring_open(&kc, &t->kr));
	*out = t;
	return COFFER_OK;
fail:
	table_destroy(t);
	return rc;
}

struct checker {
	struct coffer_table *t;
	coffer_verify_fn fn;
	void *arg;
	struct coffer_verify_result *res;
};

static void problem(struct checker *ck, const char *file, const char *msg)
{
	ck->res->problems++;
	ck->fn(ck->arg, true, file, msg);
}

static void note(struct checker *ck, const char *file, const char *msg)
{
	ck->fn(ck->arg, false, file, msg);
}

/* Reports the thread's current error as a problem of `file`. */
static void problem_current(struct checker *ck, const char *file)
{
	problem(ck, file, coffer_error_msg());
}

/* ---- entries ---------------------------------------------------------------------- */

/* Turns one stored entry into the dump's form. */
static COFFER_RESULT dump_entry_of(struct coffer_slice key, struct coffer_slice value, uint64_t block,
				   struct coffer_dump_entry *e)
{
	struct pkey k;
	struct cell c;
	memset(e, 0, sizeof(*e));
	TRY(entry_parse_key(key, &k));
	TRY(entry_parse_value(value, &c));
	e->block = block;
	e->token = k.token;
	e->partition_key = k.pk;
	e->ts = c.ts;
	e->tombstone = c.flags & CELL_TOMBSTONE;
	e->expiring = c.flags & CELL_EXPIRING;
	e->ttl = c.ttl;
	e->ldt_us = c.ldt;
	e->value = c.value;
	switch (k.kind) {
	case KIND_PARTITION_DEL:
		e->kind = COFFER_DUMP_PARTITION_DELETE;
		return COFFER_OK;
	case KIND_RANGE_DEL:
		e->kind = COFFER_DUMP_RANGE_DELETE;
		return entry_parse_range(k.range, e->ck, &e->n_ck, &e->start_inclusive, e->end_ck,
					 &e->n_end_ck, &e->end_inclusive);
	case KIND_STATIC:
	case KIND_ROW:
		e->n_ck = k.n_ck;
		for (size_t i = 0; i < k.n_ck; i++)
			e->ck[i] = k.ck[i];
		if (k.slot == SLOT_ROW_DEL)
			e->kind = COFFER_DUMP_ROW_DELETE;
		else if (k.slot == SLOT_MARKER)
			e->kind = COFFER_DUMP_ROW_MARKER;
		else
			e->kind = k.kind == KIND_STATIC ? COFFER_DUMP_STATIC_CELL : COFFER_DUMP_CELL;
		e->column = k.slot >= SLOT_COLUMN0 ? k.slot - SLOT_COLUMN0 : 0;
		return COFFER_OK;
	default:
		BAIL(COFFER_E_CORRUPT, "entry of unknown kind %d", k.kind);
	}
}

/* Walks the entries of one authenticated block: each must parse, and (with
 * `prev`) keys must increase in table order. */
static COFFER_RESULT walk_entries(struct coffer_table *t, struct coffer_slice pt, uint64_t block,
				  struct coffer_buf *prev, coffer_dump_fn fn, void *arg,
				  uint64_t *count, bool *stopped)
{
	struct coffer_reader r;
	struct coffer_slice k, v;
	coffer_reader_init(&r, pt, "entries");
	while (!coffer_reader_done(&r)) {
		struct coffer_dump_entry e;
		TRY(entries_next(&r, &k, &v));
		TRY(dump_entry_of(k, v, block, &e));
		if (prev) {
			ENSURE(!prev->len || entry_compare(&t->schema, coffer_buf_slice(prev), k) < 0,
			       COFFER_E_CORRUPT, "entries out of order");
			coffer_buf_reset(prev);
			coffer_buf_put(prev, k.ptr, k.len);
		}
		(*count)++;
		if (fn && !fn(arg, &e)) {
			*stopped = true;
			return COFFER_OK;
		}
	}
	return COFFER_OK;
}

/* ---- SSTables ------------------------------------------------------------------------ */

/* Opens, authenticates and decompresses data block `no` into pt. */
static COFFER_RESULT sst_block(struct sstable *s, size_t no, struct coffer_buf *raw,
			       struct coffer_buf *sealed, struct coffer_buf *pt)
{
	uint64_t off = s->offsets[no];
	uint32_t len = s->lengths[no];
	ENSURE(len >= 4 + BLOCK_TAG && off >= SST_HEADER && off + len <= s->size - SST_FOOTER,
	       COFFER_E_CORRUPT, "%s: data block %zu extent out of range", s->path, no);
	coffer_buf_reset(raw);
	uint8_t *p = coffer_buf_extend(raw, len);
	TRY(coffer_vfs_pread_full(s->t->vfs, s->fd, p, len, (off_t)off, s->path));
	ENSURE(coffer_load_u32(p) == len - 4, COFFER_E_CORRUPT, "%s: data block %zu has a bad frame length",
	       s->path, no);
	TRY(block_open(&s->bc, BLOCK_DATA, no, coffer_slice_of(p + 4, len - 4), sealed, s->path));
	return block_decompress(coffer_buf_slice(sealed), pt, s->path, no);
}

static void wipe_buf(struct coffer_buf *b)
{
	if (b->ptr)
		coffer_wipe(b->ptr, b->cap);
	coffer_buf_free(b);
}

/* Reads every data block of an open SSTable; with a checker, reports each
 * bad block and goes on; without, stops at the first error. */
static COFFER_RESULT sst_walk(struct sstable *s, struct checker *ck, coffer_dump_fn fn, void *arg)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf raw = {0}, sealed = {0}, pt = {0}, prev = {0};
	uint64_t entries = 0;
	bool stopped = false;
	for (size_t i = 0; i < s->n_blocks && !stopped; i++) {
		uint64_t before = entries;
		rc = sst_block(s, i, &raw, &sealed, &pt);
		if (rc == COFFER_OK) {
			rc = walk_entries(s->t, coffer_buf_slice(&pt), i, &prev, fn, arg, &entries, &stopped);
			if (rc != COFFER_OK)
				coffer_error_wrap("%s: data block %zu: ", s->path, i);
		}
		if (rc == COFFER_OK && !stopped && entry_compare(&s->t->schema, coffer_buf_slice(&prev),
								 s->last_keys[i]) != 0)
			rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE,
					      "%s: data block %zu does not end with the key its index names",
					      s->path, i);
		if (rc != COFFER_OK) {
			if (!ck)
				goto out;
			problem_current(ck, s->path);
			rc = COFFER_OK;
			entries = before;
			coffer_buf_reset(&prev);
			continue;
		}
		if (ck)
			ck->res->blocks++;
	}
	if (ck && !ck->res->problems && entries != s->stats.entries) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%llu entries in the data blocks, the statistics block says %llu",
			 (unsigned long long)entries, (unsigned long long)s->stats.entries);
		problem(ck, s->path, msg);
	}
out:
	wipe_buf(&pt);
	wipe_buf(&sealed);
	wipe_buf(&prev);
	coffer_buf_free(&raw);
	return rc;
}

/* ---- commit-log segments ---------------------------------------------------------------- */

/* Reads a segment's groups. `last`: the newest segment (a torn tail there is
 * a note). With a checker every bad group is reported (reading stops at the
 * first one whose length cannot be trusted); without, the first error returns. */
static COFFER_RESULT segment_walk(struct coffer_table *t, uint64_t id, bool last, struct checker *ck,
				  coffer_dump_fn fn, void *arg)
{
	coffer_rc rc = COFFER_OK;
	char *path = commitlog_segment_path(t, id);
	struct coffer_buf file = {0}, pt = {0};
	struct coffer_secret key = {0};
	struct block_ctx bc;
	bool bc_ok = false, stopped = false;
	uint64_t count = 0;
	char msg[512];
	TRY_FAIL(coffer_vfs_read_all(t->vfs, path, MAX_SEGMENT, &file));
	if (file.len < CL_HEADER) {
		ENSURE_FAIL(last, COFFER_E_CORRUPT, "%s: truncated segment header", path);
		if (ck)
			note(ck, path, "segment created but never written (recovery removes it)");
		goto fail;
	}
	int format = commitlog_format(coffer_buf_slice(&file));
	ENSURE_FAIL(format != 0, COFFER_E_CORRUPT, "%s: not a commit-log segment", path);
	ENSURE_FAIL(memcmp(file.ptr + 8, t->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
		    "%s: segment of another table", path);
	ENSURE_FAIL(coffer_load_u64(file.ptr + 44) == id, COFFER_E_CORRUPT,
		    "%s: segment id does not match its name", path);
	rc = coffer_keyring_data_key(t->kr, id, COFFER_KEY_PURPOSE_COMMITLOG, &key);
	if (rc != COFFER_OK) {
		coffer_error_wrap("%s: ", path);
		goto fail;
	}
	TRY_FAIL(block_ctx_init(&bc, &key, t->table_id, id));
	bc_ok = true;
	coffer_secret_free(&key);
	/* the newest segment may end in preallocated zeros (commitlog.c
	 * invariant 8): its groups end at its last non-zero byte */
	uint64_t end = last ? commitlog_written_end(coffer_buf_slice(&file)) : file.len;
	uint64_t off = CL_HEADER, seq = 0;
	while (off < end && !stopped) {
		uint32_t n;
		bool torn;
		TRY_FAIL(commitlog_group_head(coffer_buf_slice(&file), off, seq, end, last, path, &n, &torn));
		if (torn) {
			snprintf(msg, sizeof(msg), "commit-log group %llu (offset %llu) is incomplete",
				 (unsigned long long)seq, (unsigned long long)off);
			ENSURE_FAIL(last, COFFER_E_CORRUPT, "%s: %s", path, msg);
			if (ck)
				note(ck, path, "torn tail (a write never acknowledged; recovery drops it)");
			break;
		}
		struct coffer_slice ct = coffer_slice_of(file.ptr + off + GROUP_HEADER, n + BLOCK_TAG);
		rc = block_open(&bc, BLOCK_COMMIT, seq, ct, &pt, path);
		if (rc != COFFER_OK && last && off + GROUP_HEADER + n + BLOCK_TAG >= end) {
			/* the last written bytes do not authenticate: a torn write,
			 * as replay sees it (commitlog.c invariant 4) */
			rc = COFFER_OK;
			if (ck)
				note(ck, path, "torn tail (a write never acknowledged; recovery drops it)");
			break;
		}
		int64_t gtime;
		struct coffer_slice entries = {0};
		if (rc == COFFER_OK)
			rc = commitlog_group_split(format, coffer_buf_slice(&pt), &gtime, &entries, path, seq);
		if (rc == COFFER_OK) {
			rc = walk_entries(t, entries, seq, NULL, fn, arg, &count, &stopped);
			if (rc != COFFER_OK)
				coffer_error_wrap("%s: commit-log group %llu: ", path, (unsigned long long)seq);
		}
		if (rc != COFFER_OK) {
			if (!ck)
				goto fail;
			problem_current(ck, path);
			rc = COFFER_OK;
		} else if (ck) {
			ck->res->blocks++;
		}
		off += GROUP_HEADER + n + BLOCK_TAG;
		seq++;
	}
	rc = COFFER_OK;
fail:
	if (bc_ok)
		block_ctx_free(&bc);
	coffer_secret_free(&key);
	wipe_buf(&pt);
	coffer_buf_free(&file);
	free(path);
	return rc;
}

/* ---- verify ------------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment ids in the table's directory, ascending. */
static COFFER_RESULT list_files(struct coffer_table *t, const char *prefix, const char *suffix,
				uint64_t **ids, size_t *n)
{
	DIR *d = opendir(t->dir);
	if (!d)
		return COFFER_FS_ERR(errno, "opendir", t->dir);
	size_t cap = 16, pl = strlen(prefix), sl = strlen(suffix);
	*ids = coffer_xcalloc(cap, sizeof(uint64_t));
	*n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len != pl + 16 + sl || strncmp(de->d_name, prefix, pl) != 0 ||
		    strcmp(de->d_name + pl + 16, suffix) != 0)
			continue;
		char hex[17];
		memcpy(hex, de->d_name + pl, 16);
		hex[16] = 0;
		char *end;
		unsigned long long id = strtoull(hex, &end, 16);
		if (*end)
			continue;
		if (*n == cap) {
			cap *= 2;
			*ids = coffer_xrealloc(*ids, cap * sizeof(uint64_t));
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	qsort(*ids, *n, sizeof(uint64_t), cmp_u64);
	return COFFER_OK;
}

static bool contains(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void verify_sstables(struct checker *ck, const struct manifest *m)
{
	struct coffer_table *t = ck->t;
	uint64_t *ids = NULL;
	size_t n = 0;
	if (list_files(t, "SST-", ".db", &ids, &n) != COFFER_OK) {
		problem_current(ck, t->dir);
		return;
	}
	for (size_t i = 0; i < m->n_sst; i++) {
		if (!contains(ids, n, m->sst_ids[i])) {
			char *p = sst_path(t, m->sst_ids[i]);
			problem(ck, p, "named by the manifest but missing");
			free(p);
		}
	}
	for (size_t i = 0; i < n; i++) {
		char *p = sst_path(t, ids[i]);
		struct sstable *s = NULL;
		ck->res->files++;
		if (!contains(m->sst_ids, m->n_sst, ids[i])) {
			note(ck, p, "not named by the manifest (an uncommitted flush or compaction; "
				    "recovery removes it)");
		} else if (sst_open(t, ids[i], &s) != COFFER_OK) {
			/* header, footer, statistics, bloom filter or index */
			problem_current(ck, p);
		} else {
			ck->res->blocks += 4; /* footer, index, bloom, statistics */
			coffer_rc rc = sst_walk(s, ck, NULL, NULL);
			(void)rc; /* with a checker every problem is reported there */
			sst_unref(s);
		}
		free(p);
	}
	free(ids);
}

static void verify_segments(struct checker *ck, const struct manifest *m)
{
	struct coffer_table *t = ck->t;
	uint64_t *ids = NULL;
	size_t n = 0;
	if (list_files(t, "CL-", ".log", &ids, &n) != COFFER_OK) {
		problem_current(ck, t->dir);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *p = commitlog_segment_path(t, ids[i]);
		ck->res->files++;
		if (ids[i] < m->replay_from && !coffer_keyring_has_data_key(t->kr, ids[i])) {
			note(ck, p, "flushed and awaiting deletion (its key is gone)");
		} else if (!coffer_keyring_has_data_key(t->kr, ids[i])) {
			problem(ck, p, "no data key in the key registry (keys.reg)");
		} else if (segment_walk(t, ids[i], i == n - 1, ck, NULL, NULL) != COFFER_OK) {
			problem_current(ck, p);
		}
		free(p);
	}
	free(ids);
}

/* backup/ (PITR, backup.c): the journal (every record authenticated), that
 * every file a record names is there with its data key, and each retained
 * SSTable and segment like the live ones. */
static void verify_backup(struct checker *ck)
{
	struct coffer_table *t = ck->t;
	char *bdir = backup_dir_of(t->dir);
	char *jpath = coffer_path_join(bdir, "JOURNAL");
	struct bk_rec *recs = NULL;
	size_t nrec = 0;
	uint64_t *ssts = NULL, *segs = NULL;
	size_t n_sst = 0, n_seg = 0;
	char *live_dir = t->dir;
	if (!coffer_fs_exists(bdir))
		goto out;
	ck->res->files++;
	uint64_t jid, end;
	if (!coffer_fs_exists(jpath)) {
		note(ck, bdir, "no journal: an interrupted enable or disable of point-in-time recovery "
			       "(the next open removes the directory)");
		goto out;
	}
	if (bk_journal_read(t, jpath, false, &jid, &end, &recs, &nrec) != COFFER_OK) {
		problem_current(ck, jpath);
		goto out;
	}
	ck->res->blocks += nrec;
	t->dir = bdir; /* the retained files are read like live ones */
	if (list_files(t, "SST-", ".db", &ssts, &n_sst) != COFFER_OK ||
	    list_files(t, "CL-", ".log", &segs, &n_seg) != COFFER_OK) {
		problem_current(ck, bdir);
		goto out;
	}
	uint64_t from = nrec ? recs[0].replay : 0;
	for (size_t i = 0; i < nrec; i++) {
		const struct bk_rec *r = &recs[i];
		size_t n = r->type == BK_BASE ? r->n_sst + r->n_segs : 1;
		for (size_t j = 0; j < n; j++) {
			bool sst = r->type == BK_BASE && j < r->n_sst;
			uint64_t id = r->type == BK_BASE ? r->ids[j] : r->seg;
			if (!sst && id < from)
				continue; /* before the oldest kept base: expired */
			if (sst ? contains(ssts, n_sst, id) : contains(segs, n_seg, id))
				continue;
			char *p = sst ? sst_path(t, id) : commitlog_segment_path(t, id);
			problem(ck, p, "named by the backup journal but missing");
			free(p);
		}
	}
	for (size_t i = 0; i < n_sst + n_seg; i++) {
		bool sst = i < n_sst;
		uint64_t id = sst ? ssts[i] : segs[i - n_sst];
		char *p = sst ? sst_path(t, id) : commitlog_segment_path(t, id);
		struct sstable *s = NULL;
		ck->res->files++;
		if (!coffer_keyring_has_data_key(t->kr, id)) {
			problem(ck, p, "retained file without a data key in the key registry (keys.reg)");
		} else if (sst && sst_open(t, id, &s) != COFFER_OK) {
			problem_current(ck, p);
		} else if (sst) {
			ck->res->blocks += 4;
			coffer_rc rc = sst_walk(s, ck, NULL, NULL);
			(void)rc;
			sst_unref(s);
		} else if (segment_walk(t, id, i == n_sst + n_seg - 1, ck, NULL, NULL) != COFFER_OK) {
			problem_current(ck, p);
		}
		free(p);
	}
out:
	t->dir = live_dir;
	free(ssts);
	free(segs);
	bk_recs_free(recs, nrec);
	free(jpath);
	free(bdir);
}

coffer_rc coffer_storage_verify(const struct coffer_storage_config *cfg,
				const struct coffer_table_desc *desc, coffer_verify_fn fn, void *arg,
				struct coffer_verify_result *out)
{
	struct coffer_table *t = NULL;
	struct manifest m = {0};
	memset(out, 0, sizeof(*out));
	struct checker ck = {NULL, fn, arg, out};
	struct ro_layer ro;
	coffer_rc rc = offline_open(cfg, desc, &ro, &t);
	if (rc == COFFER_E_CORRUPT || rc == COFFER_E_IO) {
		/* the registry itself is damaged: report it, nothing else is readable */
		char nodash[COFFER_TABLE_ID_LEN + 1];
		size_t k = 0;
		for (const char *c = desc->table_id; *c && k < COFFER_TABLE_ID_LEN; c++)
			if (*c != '-')
				nodash[k++] = *c;
		nodash[k] = 0;
		char *p = coffer_xasprintf("%s/%s/%s", cfg->data_dir, nodash, COFFER_KEYRING_FILE);
		out->files++;
		problem_current(&ck, p);
		free(p);
		return COFFER_OK;
	}
	TRY(rc);
	ck.t = t;
	out->files++; /* keys.reg: every record authenticated by coffer_keyring_open */
	if (ro.torn_tail) {
		char *kp = coffer_path_join(t->dir, COFFER_KEYRING_FILE);
		note(&ck, kp, "last record torn or not authenticating (an append never acknowledged; "
			      "recovery drops it)");
		free(kp);
	}
	char *mp = coffer_path_join(t->dir, "MANIFEST");
	out->files++;
	if (manifest_read(t, &m) != COFFER_OK) {
		problem_current(&ck, mp);
	} else {
		out->blocks++;
		verify_sstables(&ck, &m);
		verify_segments(&ck, &m);
		verify_backup(&ck);
		/* keyring: every live file has its key */
		for (size_t i = 0; i < m.n_sst; i++) {
			if (!coffer_keyring_has_data_key(t->kr, m.sst_ids[i])) {
				char *p = sst_path(t, m.sst_ids[i]);
				problem(&ck, p, "no data key in the key registry (keys.reg)");
				free(p);
			}
		}
	}
	free(mp);
	manifest_free(&m);
	table_destroy(t);
	return COFFER_OK;
}

/* ---- dump ---------------------------------------------------------------------------------- */

coffer_rc coffer_storage_dump(const struct coffer_storage_config *cfg,
			      const struct coffer_table_desc *desc, const char *file_name,
			      coffer_dump_fn fn, void *arg)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_table *t = NULL;
	unsigned long long id = 0;
	size_t len = strlen(file_name);
	bool sst = len == 23 && sscanf(file_name, "SST-%16llx.db", &id) == 1;
	bool seg = !sst && len == 23 && sscanf(file_name, "CL-%16llx.log", &id) == 1;
	ENSURE(sst || seg, COFFER_E_INVALID,
	       "%s: not an SSTable (SST-<id>.db) or commit-log segment (CL-<id>.log)", file_name);
	struct ro_layer ro;
	TRY(offline_open(cfg, desc, &ro, &t));
	if (sst) {
		struct sstable *s = NULL;
		TRY_FAIL(sst_open(t, id, &s));
		rc = sst_walk(s, NULL, fn, arg);
		sst_unref(s);
	} else {
		/* as the newest segment: a torn tail is not an error here */
		rc = segment_walk(t, id, true, NULL, fn, arg);
	}
fail:
	table_destroy(t);
	return rc;
}

coffer_rc coffer_storage_key_info(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *desc, struct coffer_keyring_info *out)
{
	struct coffer_table *t = NULL;
	struct ro_layer ro;
	memset(out, 0, sizeof(*out));
	TRY(offline_open(cfg, desc, &ro, &t));
	coffer_keyring_info(t->kr, out);
	table_destroy(t);
	return COFFER_OK;
}
