/*
 * backup.c - continuous backup of a table for point-in-time recovery (issue 7;
 * docs/storage.md section 8): retained files, the backup journal, enabling,
 * disabling, expiry, retire and purge. Restores are in restore.c.
 *
 * With PITR on, <table dir>/backup/ holds
 *   JOURNAL       the backup journal (below)
 *   SST-<id>.db   a hard link to every SSTable the manifest ever named in the window
 *   CL-<id>.log   a hard link to every commit-log segment since the oldest kept
 *                 base's replay point, made when the segment is created (appends
 *                 show through both names)
 * Deleting a live name (compaction, flush) leaves the backup's name, and the
 * file's data key stays in keys.reg while either name exists
 * (table_delete_file), so a key change re-wraps it like any live key: backups
 * stay readable after any number of key changes with the table's current KMS
 * key only. Nothing is ever decrypted or re-encrypted to be retained.
 *
 * File backup/JOURNAL (integers big-endian):
 *
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CFBKJN01"
 *   8       36    table id (uuid text)
 *   44      8     journal id j (a file id: its data key, purpose 4 "backup", in keys.reg)
 *   52      var   records, each:
 *   +0      4       n = plaintext length
 *   +4      4       n xor 0xFFFFFFFF
 *   +8      8       record number r (0, 1, 2, ... within this journal file)
 *   +16     n+16    AES-256-GCM ciphertext || tag, sealed under j's data key as
 *                   block kind 8 number r (block.c: AAD binds table id, j, kind, r)
 *   plaintext:
 *   +0      1       type: 1 BASE (a manifest commit), 2 SEGMENT (a segment created)
 *   +1      8       time, µs since the epoch (table_wall_now)
 *   BASE:   u64 replay-from segment | varint count + u64 SSTable ids |
 *           varint count + u64 ids of the archived segments >= replay-from
 *   SEGMENT: u64 segment id
 *
 * Restoring at T (restore.c) = the newest BASE with time <= T (its SSTables)
 * + every group with time <= T of its segments and of the segments whose
 * SEGMENT record has time <= T (a segment's groups are never older than its
 * record: commitlog.c takes group times after the roll, table_wall_now never
 * goes back). The first record is always a BASE; its time is the earliest
 * restorable point.
 *
 * Invariants:
 *  1. A file is linked into backup/ before any record names it, and before
 *     its live name can be deleted (segments: at creation; SSTables: right
 *     after the manifest that names them, under file_mu, before any deletion
 *     that manifest allows).
 *  2. Records are appended and fsynced; only a torn last record is dropped at
 *     open. The journal is rewritten (expiry) whole under a NEW journal id and
 *     data key (no nonce is ever reused), renamed into place, and only then are
 *     files no kept record needs removed, then the old journal key.
 *  3. backup/ without a JOURNAL, or a JOURNAL without a BASE, is an
 *     interrupted enable or disable: open removes it (PITR off; the catalog's
 *     coffer_table_set_pitr call starts a new history if it says enabled).
 *  4. Lock order: leader role > file_mu > backup.mu. t->bk changes only with
 *     the leader role and file_mu both held.
 *
 * File <table dir>/RETIRED (written by coffer_table_retire; plaintext: it holds
 * no secret and needs no key, so a table whose key the KMS refuses can retire):
 *
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CFRETIR1"
 *   8       36    table id
 *   44      8     retire time, µs since the epoch
 *
 * It is not authenticated: altering it changes only which restore point a
 * restore of the retired table accepts; every byte restored is authenticated.
 *
 *   PITR: OFF ──set_pitr(on)──► ON (history from now) ──set_pitr(off)──► OFF (history erased)
 *                                 └──retire──► RETIRED dir ──purge──► gone (keys shredded)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

#define JN_MAGIC "CFBKJN01"
#define JN_HEADER 52
#define JN_REC_HEADER 16
#define RETIRED_MAGIC "CFRETIR1"
#define RETIRED_BYTES 52

static void ignore(coffer_rc rc)
{
	(void)rc;
}

/* ---- wall time ------------------------------------------------------------------------ */

int64_t table_wall_now(struct coffer_table *t)
{
	int64_t now = coffer_clock_now_us(t->clock);
	int64_t last = __atomic_load_n(&t->last_wall, __ATOMIC_RELAXED);
	while (now > last) {
		if (__atomic_compare_exchange_n(&t->last_wall, &last, now, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return now;
	}
	return last;
}

void table_wall_floor(struct coffer_table *t, int64_t us)
{
	int64_t last = __atomic_load_n(&t->last_wall, __ATOMIC_RELAXED);
	while (us > last &&
	       !__atomic_compare_exchange_n(&t->last_wall, &last, us, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED)) {
	}
}

/* ---- records ---------------------------------------------------------------------------- */

void bk_rec_free(struct bk_rec *r)
{
	free(r->ids);
	memset(r, 0, sizeof(*r));
}

static void bk_rec_copy(struct bk_rec *dst, const struct bk_rec *src)
{
	*dst = *src;
	size_t n = src->n_sst + src->n_segs;
	dst->ids = coffer_xcalloc(n ? n : 1, sizeof(uint64_t));
	if (n)
		memcpy(dst->ids, src->ids, n * sizeof(uint64_t));
}

static void rec_encode(const struct bk_rec *r, struct coffer_buf *b)
{
	coffer_buf_put_u8(b, r->type);
	coffer_buf_put_u64(b, (uint64_t)r->time);
	if (r->type == BK_SEGMENT) {
		coffer_buf_put_u64(b, r->seg);
		return;
	}
	coffer_buf_put_u64(b, r->replay);
	coffer_buf_put_varint(b, r->n_sst);
	for (size_t i = 0; i < r->n_sst; i++)
		coffer_buf_put_u64(b, r->ids[i]);
	coffer_buf_put_varint(b, r->n_segs);
	for (size_t i = 0; i < r->n_segs; i++)
		coffer_buf_put_u64(b, r->ids[r->n_sst + i]);
}

static coffer_rc rec_decode(struct coffer_slice pt, const char *path, uint64_t no, struct bk_rec *r)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_reader rd;
	uint64_t u, n1, n2;
	memset(r, 0, sizeof(*r));
	coffer_reader_init(&rd, pt, path);
	TRY_FAIL(coffer_reader_u8(&rd, &r->type));
	TRY_FAIL(coffer_reader_u64(&rd, &u));
	r->time = (int64_t)u;
	if (r->type == BK_SEGMENT) {
		TRY_FAIL(coffer_reader_u64(&rd, &r->seg));
	} else {
		ENSURE_FAIL(r->type == BK_BASE, COFFER_E_CORRUPT, "%s: record %llu has unknown type %u", path,
			    (unsigned long long)no, r->type);
		TRY_FAIL(coffer_reader_u64(&rd, &r->replay));
		TRY_FAIL(coffer_reader_varint(&rd, &n1));
		ENSURE_FAIL(n1 <= coffer_reader_left(&rd) / 8, COFFER_E_CORRUPT, "%s: record %llu: bad count",
			    path, (unsigned long long)no);
		r->ids = coffer_xcalloc(n1 + 1, sizeof(uint64_t));
		for (uint64_t i = 0; i < n1; i++)
			TRY_FAIL(coffer_reader_u64(&rd, &r->ids[i]));
		TRY_FAIL(coffer_reader_varint(&rd, &n2));
		ENSURE_FAIL(n2 <= coffer_reader_left(&rd) / 8, COFFER_E_CORRUPT, "%s: record %llu: bad count",
			    path, (unsigned long long)no);
		r->ids = coffer_xrealloc(r->ids, (n1 + n2 + 1) * sizeof(uint64_t));
		for (uint64_t i = 0; i < n2; i++)
			TRY_FAIL(coffer_reader_u64(&rd, &r->ids[n1 + i]));
		r->n_sst = (size_t)n1;
		r->n_segs = (size_t)n2;
	}
	TRY_FAIL(coffer_reader_end(&rd));
	return COFFER_OK;
fail:
	bk_rec_free(r);
	return rc == COFFER_E_CORRUPT ? rc
				      : coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "%s: record %llu is malformed",
							 path, (unsigned long long)no);
}

static void recs_push(struct bk_rec **recs, size_t *n, size_t *cap, struct bk_rec *r)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*recs = coffer_xrealloc(*recs, *cap * sizeof(**recs));
	}
	(*recs)[(*n)++] = *r;
	memset(r, 0, sizeof(*r));
}

void bk_recs_free(struct bk_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bk_rec_free(&recs[i]);
	free(recs);
}

/* ---- the journal file -------------------------------------------------------------------- */

struct backup {
	pthread_mutex_t mu;   /* appends; links vs. the directory scan of a BASE */
	char *dir;            /* <table dir>/backup */
	char *path;           /* backup/JOURNAL */
	uint64_t journal_id;
	struct block_ctx bc;
	bool bc_ok;
	int fd;
	uint64_t off;         /* append offset */
	uint64_t next_no;     /* number of the next record */
	struct bk_rec *recs;  /* in memory, in order */
	size_t n, cap;
	bool sweep_due;       /* leftovers of an interrupted expiry may exist */
};

char *backup_dir_of(const char *table_dir)
{
	return coffer_path_join(table_dir, "backup");
}

void backup_remove_tree(struct coffer_vfs *vfs, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = coffer_path_join(dir, de->d_name);
		ignore(coffer_vfs_unlink(vfs, p));
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

void backup_free(struct backup *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	if (b->bc_ok)
		block_ctx_free(&b->bc);
	bk_recs_free(b->recs, b->n);
	pthread_mutex_destroy(&b->mu);
	free(b->dir);
	free(b->path);
	free(b);
}

static struct backup *backup_new(const char *table_dir)
{
	struct backup *b = COFFER_NEW(struct backup);
	pthread_mutex_init(&b->mu, NULL);
	b->dir = backup_dir_of(table_dir);
	b->path = coffer_path_join(b->dir, "JOURNAL");
	b->fd = -1;
	return b;
}

static void seal_record(struct block_ctx *bc, uint64_t no, const struct bk_rec *r, struct coffer_buf *out)
{
	struct coffer_buf pt = {0};
	rec_encode(r, &pt);
	coffer_buf_put_u32(out, (uint32_t)pt.len);
	coffer_buf_put_u32(out, ~(uint32_t)pt.len);
	coffer_buf_put_u64(out, no);
	if (block_seal(bc, BLOCK_JOURNAL, no, coffer_buf_slice(&pt), out) != COFFER_OK)
		abort(); /* sealing with a valid context cannot fail short of a broken libcrypto */
	coffer_buf_free(&pt);
}

/* Appends r durably (b->mu held); on success r is moved into b->recs. */
static coffer_rc journal_append(struct coffer_table *t, struct backup *b, struct bk_rec *r)
{
	struct coffer_buf frame = {0};
	seal_record(&b->bc, b->next_no, r, &frame);
	coffer_rc rc = coffer_vfs_pwrite_full(t->vfs, b->fd, frame.ptr, frame.len, (off_t)b->off, b->path);
	if (rc == COFFER_OK)
		rc = coffer_vfs_fsync(t->vfs, b->fd, b->path);
	if (rc != COFFER_OK) {
		/* as the commit log: a failed record is cut off before the next one */
		ignore(coffer_vfs_ftruncate(t->vfs, b->fd, (off_t)b->off, b->path));
		coffer_buf_free(&frame);
		return rc;
	}
	b->off += frame.len;
	b->next_no++;
	coffer_buf_free(&frame);
	recs_push(&b->recs, &b->n, &b->cap, r);
	return COFFER_OK;
}

/* Writes a new journal file (new id and key) holding recs, renames it over
 * backup/JOURNAL and makes it b's (invariant 2). b->mu held or b private. The
 * previous journal's key is deleted after the rename. */
static coffer_rc journal_rewrite(struct coffer_table *t, struct backup *b, const struct bk_rec *recs, size_t n)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret key = {0};
	struct coffer_buf file = {0};
	struct block_ctx bc;
	bool bc_ok = false;
	int fd = -1;
	uint64_t id = table_alloc_file_id(t);
	char *tmp = coffer_xasprintf("%s.tmp", b->path);
	TRY_FAIL(coffer_keyring_new_data_key(t->kr, id, COFFER_KEY_PURPOSE_BACKUP, &key));
	TRY_FAIL(block_ctx_init(&bc, &key, t->table_id, id));
	bc_ok = true;
	coffer_buf_put(&file, JN_MAGIC, 8);
	coffer_buf_put(&file, t->table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u64(&file, id);
	for (size_t i = 0; i < n; i++)
		seal_record(&bc, i, &recs[i], &file);
	TRY_FAIL(coffer_vfs_open(t->vfs, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd));
	TRY_FAIL(coffer_vfs_pwrite_full(t->vfs, fd, file.ptr, file.len, 0, tmp));
	TRY_FAIL(coffer_vfs_fsync(t->vfs, fd, tmp));
	coffer_vfs_close(t->vfs, fd);
	fd = -1;
	TRY_FAIL(coffer_vfs_rename(t->vfs, tmp, b->path));
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, b->dir));
	TRY_FAIL(coffer_vfs_open(t->vfs, b->path, O_WRONLY, 0600, &fd));
	uint64_t old = b->journal_id;
	if (b->fd >= 0)
		close(b->fd);
	if (b->bc_ok)
		block_ctx_free(&b->bc);
	b->fd = fd;
	b->bc = bc;
	b->bc_ok = true;
	bc_ok = false;
	fd = -1;
	b->journal_id = id;
	b->off = file.len;
	b->next_no = n;
	if (old)
		ignore(coffer_keyring_delete_data_key(t->kr, old));
	id = 0;
fail:
	if (fd >= 0)
		coffer_vfs_close(t->vfs, fd);
	if (bc_ok)
		block_ctx_free(&bc);
	if (id) {
		ignore(coffer_vfs_unlink(t->vfs, tmp));
		ignore(coffer_keyring_delete_data_key(t->kr, id));
	}
	coffer_secret_free(&key);
	coffer_buf_free(&file);
	free(tmp);
	return rc;
}

coffer_rc bk_journal_read(struct coffer_table *t, const char *path, bool repair, uint64_t *journal_id,
			  uint64_t *end, struct bk_rec **recs_out, size_t *n_out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf file = {0}, pt = {0};
	struct coffer_secret key = {0};
	struct block_ctx bc;
	bool bc_ok = false;
	struct bk_rec *recs = NULL, r = {0};
	size_t n = 0, cap = 0;
	TRY_FAIL(coffer_vfs_read_all(t->vfs, path, (size_t)1 << 30, &file));
	ENSURE_FAIL(file.len >= JN_HEADER && memcmp(file.ptr, JN_MAGIC, 8) == 0, COFFER_E_CORRUPT,
		    "%s: not a backup journal", path);
	ENSURE_FAIL(memcmp(file.ptr + 8, t->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
		    "%s: backup journal of another table", path);
	*journal_id = coffer_load_u64(file.ptr + 44);
	rc = coffer_keyring_data_key(t->kr, *journal_id, COFFER_KEY_PURPOSE_BACKUP, &key);
	if (rc != COFFER_OK) {
		coffer_error_wrap("%s: ", path);
		goto fail;
	}
	TRY_FAIL(block_ctx_init(&bc, &key, t->table_id, *journal_id));
	bc_ok = true;
	uint64_t off = JN_HEADER, no = 0;
	while (off < file.len) {
		size_t left = file.len - off;
		bool torn = left < JN_REC_HEADER;
		uint32_t len = 0;
		if (!torn) {
			len = coffer_load_u32(file.ptr + off);
			ENSURE_FAIL(len == ~coffer_load_u32(file.ptr + off + 4), COFFER_E_CORRUPT,
				    "%s: record %llu has a damaged length", path, (unsigned long long)no);
			ENSURE_FAIL(coffer_load_u64(file.ptr + off + 8) == no, COFFER_E_CORRUPT,
				    "%s: record %llu out of sequence", path, (unsigned long long)no);
			torn = (uint64_t)len + JN_REC_HEADER + BLOCK_TAG > left;
		}
		if (!torn) {
			rc = block_open(&bc, BLOCK_JOURNAL, no, coffer_slice_of(file.ptr + off + JN_REC_HEADER,
										len + BLOCK_TAG),
					&pt, path);
			if (rc != COFFER_OK) {
				if (off + JN_REC_HEADER + len + BLOCK_TAG != file.len)
					goto fail; /* names the file and the record */
				torn = true;
			}
		}
		if (torn) {
			/* invariant 2: only the last append may be torn */
			coffer_log_warn(t->log, "storage", "%s: dropping a torn last record", path);
			if (repair) {
				int fd = -1;
				TRY_FAIL(coffer_vfs_open(t->vfs, path, O_RDWR, 0600, &fd));
				rc = coffer_vfs_ftruncate(t->vfs, fd, (off_t)off, path);
				if (rc == COFFER_OK)
					rc = coffer_vfs_fsync(t->vfs, fd, path);
				coffer_vfs_close(t->vfs, fd);
				if (rc != COFFER_OK)
					goto fail;
			}
			break;
		}
		TRY_FAIL(rec_decode(coffer_buf_slice(&pt), path, no, &r));
		ENSURE_FAIL(n > 0 || r.type == BK_BASE, COFFER_E_CORRUPT, "%s: first record is not a base", path);
		recs_push(&recs, &n, &cap, &r);
		off += JN_REC_HEADER + len + BLOCK_TAG;
		no++;
	}
	*end = off;
	*recs_out = recs;
	*n_out = n;
	recs = NULL;
	n = 0;
	rc = COFFER_OK;
fail:
	bk_recs_free(recs, n);
	if (bc_ok)
		block_ctx_free(&bc);
	coffer_secret_free(&key);
	if (pt.ptr)
		coffer_wipe(pt.ptr, pt.cap);
	coffer_buf_free(&pt);
	coffer_buf_free(&file);
	return rc;
}

/* ---- links -------------------------------------------------------------------------------- */

static coffer_rc link_into(struct coffer_table *t, const char *bdir, const char *name)
{
	char *src = coffer_path_join(t->dir, name);
	char *dst = coffer_path_join(bdir, name);
	coffer_rc rc = COFFER_OK;
	if (link(src, dst) != 0 && errno != EEXIST)
		rc = COFFER_FS_ERR(errno, "link", dst);
	free(src);
	free(dst);
	return rc;
}

static void sst_name(uint64_t id, char name[32])
{
	snprintf(name, 32, "SST-%016llx.db", (unsigned long long)id);
}

static void seg_name(uint64_t id, char name[32])
{
	snprintf(name, 32, "CL-%016llx.log", (unsigned long long)id);
}

/* The kind and id of a backup/ file name: 'S' SSTable, 'C' segment, 0 other. */
static int file_kind(const char *name, uint64_t *id)
{
	unsigned long long v;
	size_t len = strlen(name);
	if (len == 23 && sscanf(name, "SST-%16llx.db", &v) == 1 && strcmp(name + 20, ".db") == 0) {
		*id = v;
		return 'S';
	}
	if (len == 23 && sscanf(name, "CL-%16llx.log", &v) == 1 && strcmp(name + 19, ".log") == 0) {
		*id = v;
		return 'C';
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Archived segment ids >= from in bdir, ascending. */
static void archived_segments(const char *bdir, uint64_t from, uint64_t **ids, size_t *n)
{
	size_t cap = 8;
	*ids = coffer_xcalloc(cap, sizeof(uint64_t));
	*n = 0;
	DIR *d = opendir(bdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t id;
		if (file_kind(de->d_name, &id) != 'C' || id < from)
			continue;
		if (*n == cap) {
			cap *= 2;
			*ids = coffer_xrealloc(*ids, cap * sizeof(uint64_t));
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	qsort(*ids, *n, sizeof(uint64_t), cmp_u64);
}

/* A BASE record of the given state (b->mu held: the segment scan must not
 * race a segment's link + record, invariant 1). */
static void make_base(struct coffer_table *t, struct backup *b, const uint64_t *ssts, size_t n_sst,
		      uint64_t replay, struct bk_rec *r)
{
	uint64_t *segs;
	size_t n_segs;
	archived_segments(b->dir, replay, &segs, &n_segs);
	memset(r, 0, sizeof(*r));
	r->type = BK_BASE;
	r->time = table_wall_now(t);
	r->replay = replay;
	r->n_sst = n_sst;
	r->n_segs = n_segs;
	r->ids = coffer_xcalloc(n_sst + n_segs + 1, sizeof(uint64_t));
	if (n_sst)
		memcpy(r->ids, ssts, n_sst * sizeof(uint64_t));
	if (n_segs)
		memcpy(r->ids + n_sst, segs, n_segs * sizeof(uint64_t));
	free(segs);
}

static bool same_base(const struct backup *b, const uint64_t *ssts, size_t n, uint64_t replay)
{
	for (size_t i = b->n; i-- > 0;) {
		const struct bk_rec *r = &b->recs[i];
		if (r->type != BK_BASE)
			continue;
		if (r->replay != replay || r->n_sst != n)
			return false;
		for (size_t j = 0; j < n; j++)
			if (r->ids[j] != ssts[j])
				return false;
		return true;
	}
	return false;
}

/* Links the SSTables and records a base unless the last base is this state
 * (file_mu held). */
static coffer_rc record_base(struct coffer_table *t, const uint64_t *ssts, size_t n, uint64_t replay)
{
	struct backup *b = t->bk;
	coffer_rc rc = COFFER_OK;
	struct bk_rec r = {0};
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		sst_name(ssts[i], name);
		TRY_FAIL(link_into(t, b->dir, name));
	}
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, b->dir));
	if (!same_base(b, ssts, n, replay)) {
		make_base(t, b, ssts, n, replay, &r);
		TRY_FAIL(journal_append(t, b, &r));
	}
fail:
	bk_rec_free(&r);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

coffer_rc backup_on_segment(struct coffer_table *t, uint64_t id, const char *path)
{
	struct backup *b = t->bk;
	if (!b)
		return COFFER_OK;
	(void)path;
	char name[32];
	seg_name(id, name);
	coffer_rc rc = COFFER_OK;
	struct bk_rec r = {.type = BK_SEGMENT, .seg = id};
	pthread_mutex_lock(&b->mu);
	TRY_FAIL(link_into(t, b->dir, name));
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, b->dir));
	r.time = table_wall_now(t);
	rc = journal_append(t, b, &r);
	if (rc != COFFER_OK) {
		char *p = coffer_path_join(b->dir, name);
		ignore(coffer_vfs_unlink(t->vfs, p));
		free(p);
	}
fail:
	pthread_mutex_unlock(&b->mu);
	if (rc != COFFER_OK)
		coffer_error_wrap("table %s.%s: archiving a new commit-log segment: ", t->keyspace, t->name);
	return rc;
}

void backup_on_manifest(struct coffer_table *t, const struct manifest *m)
{
	if (!t->bk)
		return;
	if (record_base(t, m->sst_ids, m->n_sst, m->replay_from) != COFFER_OK)
		coffer_log_error(t->log, "storage",
				 "table %s.%s: recording a backup base failed (the next commit retries): %s",
				 t->keyspace, t->name, coffer_error_msg());
}

/* ---- open ------------------------------------------------------------------------------------ */

static void push_id(uint64_t **ids, size_t *n, size_t *cap, uint64_t id)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*ids = coffer_xrealloc(*ids, *cap * sizeof(uint64_t));
	}
	(*ids)[(*n)++] = id;
}

coffer_rc backup_load(struct coffer_table *t, uint64_t **live, size_t *n_live, size_t *cap)
{
	coffer_rc rc = COFFER_OK;
	char *bdir = backup_dir_of(t->dir);
	struct backup *b = NULL;
	if (!coffer_fs_exists(bdir))
		goto out;
	b = backup_new(t->dir);
	if (!coffer_fs_exists(b->path)) {
		/* invariant 3 */
		coffer_log_info(t->log, "storage", "table %s.%s: removing the backup of an interrupted "
				"enable or disable of point-in-time recovery", t->keyspace, t->name);
		backup_remove_tree(t->vfs, bdir);
		goto out;
	}
	uint64_t end;
	TRY_FAIL(bk_journal_read(t, b->path, true, &b->journal_id, &end, &b->recs, &b->n));
	b->cap = b->n;
	if (b->n == 0) {
		coffer_log_info(t->log, "storage", "table %s.%s: removing a backup journal without a base",
				t->keyspace, t->name);
		backup_remove_tree(t->vfs, bdir);
		goto out;
	}
	struct coffer_secret key = {0};
	TRY_FAIL(coffer_keyring_data_key(t->kr, b->journal_id, COFFER_KEY_PURPOSE_BACKUP, &key));
	rc = block_ctx_init(&b->bc, &key, t->table_id, b->journal_id);
	coffer_secret_free(&key);
	if (rc != COFFER_OK)
		goto fail;
	b->bc_ok = true;
	TRY_FAIL(coffer_vfs_open(t->vfs, b->path, O_WRONLY, 0600, &b->fd));
	b->off = end;
	b->next_no = b->n;
	b->sweep_due = true;
	table_wall_floor(t, b->recs[b->n - 1].time);
	__atomic_store_n(&t->history_from, b->recs[0].time, __ATOMIC_RELAXED);
	push_id(live, n_live, cap, b->journal_id);
	DIR *d = opendir(bdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			uint64_t id;
			size_t len = strlen(de->d_name);
			if (file_kind(de->d_name, &id))
				push_id(live, n_live, cap, id);
			else if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
				char *p = coffer_path_join(bdir, de->d_name);
				ignore(coffer_vfs_unlink(t->vfs, p));
				free(p);
			}
		}
		closedir(d);
	}
	t->bk = b;
	b = NULL;
	goto out;
fail:
	coffer_error_wrap("table %s.%s: backup journal: ", t->keyspace, t->name);
out:
	backup_free(b);
	free(bdir);
	return rc;
}

/* Links live segments >= replay the backup misses (file_mu and b->mu free). */
static coffer_rc link_live_segments(struct coffer_table *t, struct backup *b)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	coffer_rc rc = commitlog_list(t, &ids, &n);
	for (size_t i = 0; i < n && rc == COFFER_OK; i++) {
		char name[32];
		if (ids[i] < t->replay_from)
			continue;
		seg_name(ids[i], name);
		rc = link_into(t, b->dir, name);
	}
	free(ids);
	return rc;
}

static void live_ssts(struct coffer_table *t, uint64_t **ids, size_t *n)
{
	pthread_rwlock_rdlock(&t->state);
	*n = t->n_ssts;
	*ids = coffer_xcalloc(*n + 1, sizeof(uint64_t));
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = t->ssts[i]->file_id;
	pthread_rwlock_unlock(&t->state);
}

coffer_rc backup_resync(struct coffer_table *t)
{
	if (!t->bk)
		return COFFER_OK;
	uint64_t *ids;
	size_t n;
	pthread_mutex_lock(&t->file_mu);
	coffer_rc rc = link_live_segments(t, t->bk);
	live_ssts(t, &ids, &n);
	if (rc == COFFER_OK)
		rc = record_base(t, ids, n, t->replay_from);
	pthread_mutex_unlock(&t->file_mu);
	free(ids);
	return rc;
}

/* ---- enable / disable --------------------------------------------------------------------- */

static coffer_rc enable_fn(struct coffer_table *t, void *arg)
{
	(void)arg;
	coffer_rc rc = COFFER_OK;
	struct backup *b = backup_new(t->dir);
	struct bk_rec r = {0};
	uint64_t *ids = NULL;
	size_t n = 0;
	pthread_mutex_lock(&t->file_mu);
	if (t->bk)
		goto out; /* raced with another enable */
	backup_remove_tree(t->vfs, b->dir);
	if (mkdir(b->dir, 0700) != 0) {
		rc = COFFER_FS_ERR(errno, "mkdir", b->dir);
		goto out;
	}
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, t->dir));
	/* invariant 1: every file of the first base is linked before it is named */
	TRY_FAIL(link_live_segments(t, b));
	live_ssts(t, &ids, &n);
	for (size_t i = 0; i < n; i++) {
		char name[32];
		sst_name(ids[i], name);
		TRY_FAIL(link_into(t, b->dir, name));
	}
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, b->dir));
	make_base(t, b, ids, n, t->replay_from, &r);
	TRY_FAIL(journal_rewrite(t, b, &r, 1));
	recs_push(&b->recs, &b->n, &b->cap, &r);
	t->bk = b;
	__atomic_store_n(&t->history_from, b->recs[0].time, __ATOMIC_RELAXED);
	b = NULL;
	coffer_log_info(t->log, "storage", "table %s.%s: point-in-time recovery enabled", t->keyspace,
			t->name);
	goto out;
fail:
	backup_remove_tree(t->vfs, b->dir);
out:
	pthread_mutex_unlock(&t->file_mu);
	bk_rec_free(&r);
	free(ids);
	backup_free(b);
	return rc;
}

/* Removes backup/NAME; its key too unless the live name still exists. */
static void drop_retained(struct coffer_table *t, const char *bdir, const char *name, uint64_t id)
{
	char *p = coffer_path_join(bdir, name);
	char *lp = coffer_path_join(t->dir, name);
	ignore(coffer_vfs_unlink(t->vfs, p));
	if (!coffer_fs_exists(lp))
		ignore(coffer_keyring_delete_data_key(t->kr, id));
	free(p);
	free(lp);
}

static coffer_rc disable_fn(struct coffer_table *t, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&t->file_mu);
	if (atomic_load(&t->restores) > 0) {
		/* checked under file_mu, where coffer_restore_open pins (restore.c) */
		pthread_mutex_unlock(&t->file_mu);
		BAIL(COFFER_E_STATE, "table %s.%s: a restore from its history is running; disable "
		     "point-in-time recovery after it", t->keyspace, t->name);
	}
	struct backup *b = t->bk;
	t->bk = NULL;
	__atomic_store_n(&t->history_from, 0, __ATOMIC_RELAXED);
	if (!b) {
		pthread_mutex_unlock(&t->file_mu);
		return COFFER_OK;
	}
	/* the journal first (its key, then the file): without it the rest is
	 * removed at the next open if this is interrupted (invariant 3) */
	ignore(coffer_keyring_delete_data_key(t->kr, b->journal_id));
	ignore(coffer_vfs_unlink(t->vfs, b->path));
	DIR *d = opendir(b->dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			uint64_t id;
			if (file_kind(de->d_name, &id))
				drop_retained(t, b->dir, de->d_name, id);
		}
		closedir(d);
	}
	backup_remove_tree(t->vfs, b->dir);
	coffer_rc rc = coffer_vfs_sync_dir(t->vfs, t->dir);
	coffer_log_info(t->log, "storage", "table %s.%s: point-in-time recovery disabled, history erased",
			t->keyspace, t->name);
	pthread_mutex_unlock(&t->file_mu);
	backup_free(b);
	return rc;
}

coffer_rc coffer_table_set_pitr(struct coffer_table *t, bool enabled, int64_t retention_us)
{
	if (enabled) {
		ENSURE(retention_us > 0, COFFER_E_INVALID, "table %s.%s: backup retention must be positive",
		       t->keyspace, t->name);
		__atomic_store_n(&t->retention_us, retention_us, __ATOMIC_RELAXED);
		pthread_mutex_lock(&t->file_mu);
		bool on = t->bk != NULL;
		pthread_mutex_unlock(&t->file_mu);
		if (on)
			return COFFER_OK;
		TRY(coffer_keyring_check(t->kr));
		return commitlog_exclusive(t->clog, enable_fn, NULL);
	}
	return commitlog_exclusive(t->clog, disable_fn, NULL);
}

/* ---- window and expiry ------------------------------------------------------------------------ */

int64_t coffer_table_earliest_restorable(struct coffer_table *t)
{
	/* lock-free: the catalog asks often, and file_mu is held across flushes */
	int64_t e = __atomic_load_n(&t->history_from, __ATOMIC_RELAXED);
	int64_t ret = __atomic_load_n(&t->retention_us, __ATOMIC_RELAXED);
	if (e && ret > 0) {
		int64_t floor = coffer_clock_now_us(t->clock) - ret;
		if (floor > e)
			e = floor;
	}
	return e;
}

coffer_rc backup_snapshot(struct coffer_table *t, struct bk_rec **recs, size_t *n)
{
	*recs = NULL;
	*n = 0;
	struct backup *b = t->bk;
	ENSURE(b, COFFER_E_INVALID, "table %s.%s: point-in-time recovery is not enabled", t->keyspace,
	       t->name);
	pthread_mutex_lock(&b->mu);
	*recs = coffer_xcalloc(b->n, sizeof(**recs));
	for (size_t i = 0; i < b->n; i++)
		bk_rec_copy(&(*recs)[i], &b->recs[i]);
	*n = b->n;
	pthread_mutex_unlock(&b->mu);
	return COFFER_OK;
}

static bool id_in(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Removes backup/ files no record from k on needs (file_mu held). */
static void sweep_unneeded(struct coffer_table *t, struct backup *b)
{
	uint64_t min_replay = b->recs[0].replay;
	DIR *d = opendir(b->dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t id;
		int kind = file_kind(de->d_name, &id);
		bool needed = true;
		if (kind == 'C') {
			needed = id >= min_replay;
		} else if (kind == 'S') {
			needed = false;
			for (size_t i = 0; i < b->n && !needed; i++)
				needed = b->recs[i].type == BK_BASE &&
					 id_in(b->recs[i].ids, b->recs[i].n_sst, id);
		}
		if (!needed)
			drop_retained(t, b->dir, de->d_name, id);
	}
	closedir(d);
}

coffer_rc coffer_table_backup_expire(struct coffer_table *t)
{
	coffer_rc rc = COFFER_OK;
	int64_t ret = __atomic_load_n(&t->retention_us, __ATOMIC_RELAXED);
	if (ret <= 0 || atomic_load(&t->restores) > 0)
		return COFFER_OK; /* pinned by a restore: the next pass does it */
	pthread_mutex_lock(&t->file_mu);
	struct backup *b = t->bk;
	if (!b || atomic_load(&t->restores) > 0) /* re-checked where restores pin */
		goto out;
	int64_t cutoff = coffer_clock_now_us(t->clock) - ret;
	pthread_mutex_lock(&b->mu);
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->recs[i].type == BK_BASE && b->recs[i].time <= cutoff)
			k = i;
	if (k > 0) {
		/* invariant 2: the new journal first, then the files */
		rc = journal_rewrite(t, b, b->recs + k, b->n - k);
		if (rc == COFFER_OK) {
			for (size_t i = 0; i < k; i++)
				bk_rec_free(&b->recs[i]);
			memmove(b->recs, b->recs + k, (b->n - k) * sizeof(*b->recs));
			b->n -= k;
			b->sweep_due = true;
			__atomic_store_n(&t->history_from, b->recs[0].time, __ATOMIC_RELAXED);
			coffer_log_info(t->log, "storage", "table %s.%s: expired %zu backup records", t->keyspace,
					t->name, k);
		}
	}
	if (rc == COFFER_OK && b->sweep_due) {
		sweep_unneeded(t, b);
		b->sweep_due = false;
	}
	pthread_mutex_unlock(&b->mu);
out:
	pthread_mutex_unlock(&t->file_mu);
	return rc;
}

/* ---- retire and purge ---------------------------------------------------------------------- */

coffer_rc backup_write_retired(struct coffer_table *t, int64_t when)
{
	uint8_t buf[RETIRED_BYTES];
	memcpy(buf, RETIRED_MAGIC, 8);
	memcpy(buf + 8, t->table_id, COFFER_TABLE_ID_LEN);
	coffer_store_u64(buf + 44, (uint64_t)when);
	char *p = coffer_path_join(t->dir, "RETIRED");
	coffer_rc rc = coffer_vfs_write_atomic(t->vfs, p, coffer_slice_of(buf, sizeof(buf)));
	free(p);
	return rc;
}

coffer_rc backup_read_retired(struct coffer_table *t, int64_t *when)
{
	struct coffer_buf b = {0};
	char *p = coffer_path_join(t->dir, "RETIRED");
	coffer_rc rc = COFFER_OK;
	if (!coffer_fs_exists(p)) {
		rc = coffer_error_set(COFFER_E_STATE, COFFER_WHERE, "table %s.%s (%s) is not retired",
				      t->keyspace, t->name, t->table_id);
		goto out;
	}
	rc = coffer_vfs_read_all(t->vfs, p, 4096, &b);
	if (rc == COFFER_OK && (b.len != RETIRED_BYTES || memcmp(b.ptr, RETIRED_MAGIC, 8) != 0 ||
				memcmp(b.ptr + 8, t->table_id, COFFER_TABLE_ID_LEN) != 0))
		rc = coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "%s: damaged", p);
	if (rc == COFFER_OK)
		*when = (int64_t)coffer_load_u64(b.ptr + 44);
out:
	coffer_buf_free(&b);
	free(p);
	return rc;
}

coffer_rc coffer_table_retire_closed(const struct coffer_storage_config *cfg,
				     const struct coffer_table_desc *desc)
{
	TRY(table_check_desc(cfg, desc));
	struct coffer_table *t = table_alloc(cfg, desc);
	coffer_rc rc = COFFER_OK;
	int64_t when;
	if (!coffer_fs_exists(t->dir))
		rc = coffer_error_set(COFFER_E_NOT_FOUND, COFFER_WHERE, "table %s.%s (%s) does not exist",
				      t->keyspace, t->name, t->table_id);
	else if (backup_read_retired(t, &when) != COFFER_OK) {
		when = coffer_clock_now_us(t->clock);
		rc = backup_write_retired(t, when);
		if (rc == COFFER_OK)
			rc = coffer_vfs_sync_dir(t->vfs, t->dir);
		if (rc == COFFER_OK)
			coffer_log_info(t->log, "storage", "table %s.%s (%s): retired (not open)", t->keyspace,
					t->name, t->table_id);
	}
	table_destroy(t);
	return rc;
}

coffer_rc coffer_table_purge(const struct coffer_storage_config *cfg, const struct coffer_table_desc *desc)
{
	TRY(table_check_desc(cfg, desc));
	struct coffer_table *t = table_alloc(cfg, desc);
	coffer_rc rc = COFFER_OK;
	if (!coffer_fs_exists(t->dir))
		goto out;
	/* crypto-shredding first, without the KMS: the registry is overwritten */
	TRY_FAIL(coffer_keyring_shred(t->vfs, t->dir, cfg->cache, t->table_id));
	char *bdir = backup_dir_of(t->dir);
	backup_remove_tree(t->vfs, bdir);
	free(bdir);
	backup_remove_tree(t->vfs, t->dir);
	if (coffer_fs_exists(t->dir))
		rc = coffer_error_set(COFFER_E_IO, COFFER_WHERE, "%s: could not be removed", t->dir);
	else
		coffer_log_info(t->log, "storage", "table %s.%s (%s): retired table purged", t->keyspace,
				t->name, t->table_id);
	goto out;
fail:
	coffer_error_wrap("purging table %s.%s: ", t->keyspace, t->name);
out:
	table_destroy(t);
	return rc;
}
