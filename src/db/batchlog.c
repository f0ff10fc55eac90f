/*
 * batchlog.c - the batch log: a LOGGED batch that writes to more than one
 * table is made durable as one sealed file before any table sees it, so a
 * crash between the per-table applies cannot leave half a batch (DESIGN.md
 * section 2 rule 8: multi-row atomic work that needs temporary storage is
 * protected under the service-owned key while in flight).
 *
 * Why only multi-table batches: every table applies its share of a statement
 * as one commit-log group (coffer_table_apply), which is already atomic for
 * any number of partitions of that table. Only the step from one table to the
 * next can be torn by a crash, so that is what the log covers. UNLOGGED and
 * COUNTER batches are never logged (as in Cassandra; a counter replay would
 * not be idempotent anyway).
 *
 * Life of a logged batch (exec_dml.c's run()):
 *
 *   build mutations ──► record them (struct db_blog) ──► seal + write
 *   DIR/batchlog/<id>.blog (temp, fsync, rename, fsync dir) ──► apply per
 *   table (each durable) ──► unlink the file
 *
 * coffer_db_open replays every file left by a crash: the recorded mutations
 * are rebuilt and applied again, table by table, then the file is removed.
 * Writes are idempotent (cells carry their original timestamps; last write
 * wins), so applying a batch twice is the same as once.
 *
 * Keys: a batchlog key from GenerateDataKey on the service key with
 * encryption context {"coffer:purpose": "batchlog"}, made at the first
 * logged batch and kept in secret memory, so batches make no KMS call while
 * it lives. Like a cached table key it does not live for ever: it is wiped
 * after BLOG_KEY_IDLE_US without a batch (by the key-health pass's sweep or
 * the next batch) and replaced after BLOG_KEY_LIFETIME_US; files already
 * written keep their own KMS ciphertext, so replay is unaffected. Every file gets its own key,
 * HKDF-SHA256(batchlog key, salt = the file's 16-byte id,
 * info = "coffer:batchlog:file"), and a random nonce; the KMS ciphertext of
 * the batchlog key is in each file's header, so a replay needs only Decrypt.
 *
 * File layout (integers big-endian):
 *   OFFSET   SIZE  MEANING
 *   0        4     magic "CFBL"
 *   4        1     format version (1)
 *   5        16    batch id (the file is named <id as uuid text>.blog)
 *   21       2     W: length of the wrapped key
 *   23       W     KMS ciphertext blob of the batchlog key
 *   23+W     12    GCM nonce
 *   35+W     n     ciphertext of the body below
 *   35+W+n   16    GCM tag
 *   AAD = "coffer:batchlog" | bytes 0 .. 23+W (header and wrapped key)
 *
 * Body: a stream of records (lenbytes = LEB128 length + bytes; ck =
 * varint count, then lenbytes each; ts u64; ttl, column u32):
 *   'M' lenbytes storage table id (uuid text), varint partition key
 *       component count, lenbytes each              - mutation number k (0, 1, ...)
 *   op: u8 kind, varint mutation number, then by kind
 *       1 SET          ck, column, lenbytes value, ts, ttl
 *       2 SET_STATIC   column, lenbytes value, ts, ttl
 *       3 DEL_CELL     ck, column, ts
 *       4 DEL_STATIC   column, ts
 *       5 ROW_MARKER   ck, ts, ttl
 *       6 DEL_ROW      ck, ts
 *       7 DEL_RANGE    ck start, u8 inclusive, ck end, u8 inclusive, ts
 *       8 DEL_PARTITION ts
 *
 * Invariants:
 *  1. A batch is acknowledged only after its file is durable and every
 *     table's apply is durable; the file is removed only after that.
 *  2. The body never reaches the disk unsealed (it is built in secret memory
 *     and wiped when freed); nothing in the header is a user value.
 *  3. A file that fails to authenticate or decode is an error naming it: it
 *     is logged, left in place for the operator, and never applied in part
 *     (the body is decoded whole before anything is applied). The database
 *     still opens.
 *  4. A file naming a table whose key is unreachable is kept and retried at
 *     the next open (the other tables' shares are applied: idempotent). A
 *     table that no longer exists (dropped or truncated since) is skipped.
 *  5. A TTL or tombstone replayed after a crash counts its local time from
 *     the replay (the storage API stamps it), so a TTL'd cell of a replayed
 *     batch lives at most the downtime longer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "util/alloc.h"

#define BLOG_MAGIC "CFBL"
#define BLOG_FORMAT 1
#define BLOG_ID_OFF 5
#define BLOG_WLEN_OFF 21
#define BLOG_FIXED 23
#define BLOG_MAX_BYTES (1u << 30)
#define BLOG_AAD "coffer:batchlog"
#define BLOG_INFO "coffer:batchlog:file"
#define BLOG_SUFFIX ".blog"
/* The batchlog key's life, as the key cache's defaults for table keys. */
#define BLOG_KEY_IDLE_US (5 * 60 * COFFER_US_PER_SEC)
#define BLOG_KEY_LIFETIME_US (60 * 60 * COFFER_US_PER_SEC)

enum {
	OP_SET = 1,
	OP_SET_STATIC,
	OP_DEL_CELL,
	OP_DEL_STATIC,
	OP_ROW_MARKER,
	OP_DEL_ROW,
	OP_DEL_RANGE,
	OP_DEL_PARTITION,
	REC_MUTATION = 'M',
};

static const struct coffer_key_context_pair blog_ctx_pairs[] = {
	{"coffer:purpose", "batchlog"},
};
static const struct coffer_key_context blog_ctx = {blog_ctx_pairs, 1};

struct db_blog {
	struct coffer_buf body;                    /* secure */
	const struct coffer_mutation **muts;       /* mutation number -> builder */
	size_t n, cap;
};

/* ---- recording -------------------------------------------------------------------- */

struct db_blog *db_blog_new(void)
{
	struct db_blog *b = COFFER_NEW(struct db_blog);
	coffer_buf_init_secure(&b->body);
	return b;
}

void db_blog_free(struct db_blog *b)
{
	if (!b)
		return;
	coffer_buf_free(&b->body);
	free(b->muts);
	free(b);
}

static void put_ck(struct coffer_buf *o, const struct coffer_slice *ck, size_t n)
{
	coffer_buf_put_varint(o, n);
	for (size_t i = 0; i < n; i++)
		coffer_buf_put_lenbytes(o, ck[i].ptr, ck[i].len);
}

void db_blog_mutation(struct db_blog *b, const struct db_table *t, const struct coffer_mutation *m,
		      const struct coffer_slice *pk, size_t n)
{
	if (!b)
		return;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->muts = coffer_xrealloc(b->muts, sizeof(*b->muts) * b->cap);
	}
	b->muts[b->n++] = m;
	coffer_buf_put_u8(&b->body, REC_MUTATION);
	coffer_buf_put_str(&b->body, t->storage_id);
	put_ck(&b->body, pk, n);
}

/* Starts an op record on mutation m (its number, searched from the newest). */
static struct coffer_buf *op(struct db_blog *b, const struct coffer_mutation *m, uint8_t kind)
{
	size_t i = b->n;
	while (i > 0 && b->muts[i - 1] != m)
		i--;
	/* A mutation not registered with db_blog_mutation is a bug of the
	 * caller; number it past the end so the batch fails to replay
	 * loudly rather than apply to the wrong partition. */
	size_t k = i > 0 ? i - 1 : SIZE_MAX;
	coffer_buf_put_u8(&b->body, kind);
	coffer_buf_put_varint(&b->body, k);
	return &b->body;
}

void db_mut_set(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		uint32_t column, struct coffer_slice value, int64_t ts, uint32_t ttl)
{
	coffer_mutation_set(m, ck, n_ck, column, value, ts, ttl);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_SET);
	put_ck(o, ck, n_ck);
	coffer_buf_put_u32(o, column);
	coffer_buf_put_lenbytes(o, value.ptr, value.len);
	coffer_buf_put_u64(o, (uint64_t)ts);
	coffer_buf_put_u32(o, ttl);
}

void db_mut_set_static(struct db_blog *b, struct coffer_mutation *m, uint32_t column, struct coffer_slice value,
		       int64_t ts, uint32_t ttl)
{
	coffer_mutation_set_static(m, column, value, ts, ttl);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_SET_STATIC);
	coffer_buf_put_u32(o, column);
	coffer_buf_put_lenbytes(o, value.ptr, value.len);
	coffer_buf_put_u64(o, (uint64_t)ts);
	coffer_buf_put_u32(o, ttl);
}

void db_mut_delete_cell(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
			uint32_t column, int64_t ts)
{
	coffer_mutation_delete_cell(m, ck, n_ck, column, ts);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_DEL_CELL);
	put_ck(o, ck, n_ck);
	coffer_buf_put_u32(o, column);
	coffer_buf_put_u64(o, (uint64_t)ts);
}

void db_mut_delete_static(struct db_blog *b, struct coffer_mutation *m, uint32_t column, int64_t ts)
{
	coffer_mutation_delete_static(m, column, ts);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_DEL_STATIC);
	coffer_buf_put_u32(o, column);
	coffer_buf_put_u64(o, (uint64_t)ts);
}

void db_mut_row_marker(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		       int64_t ts, uint32_t ttl)
{
	coffer_mutation_row_marker(m, ck, n_ck, ts, ttl);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_ROW_MARKER);
	put_ck(o, ck, n_ck);
	coffer_buf_put_u64(o, (uint64_t)ts);
	coffer_buf_put_u32(o, ttl);
}

void db_mut_delete_row(struct db_blog *b, struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
		       int64_t ts)
{
	coffer_mutation_delete_row(m, ck, n_ck, ts);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_DEL_ROW);
	put_ck(o, ck, n_ck);
	coffer_buf_put_u64(o, (uint64_t)ts);
}

void db_mut_delete_range(struct db_blog *b, struct coffer_mutation *m, const struct coffer_bound *start,
			 const struct coffer_bound *end, int64_t ts)
{
	coffer_mutation_delete_range(m, start, end, ts);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_DEL_RANGE);
	put_ck(o, start->values, start->n);
	coffer_buf_put_u8(o, start->inclusive ? 1 : 0);
	put_ck(o, end->values, end->n);
	coffer_buf_put_u8(o, end->inclusive ? 1 : 0);
	coffer_buf_put_u64(o, (uint64_t)ts);
}

void db_mut_delete_partition(struct db_blog *b, struct coffer_mutation *m, int64_t ts)
{
	coffer_mutation_delete_partition(m, ts);
	if (!b)
		return;
	struct coffer_buf *o = op(b, m, OP_DEL_PARTITION);
	coffer_buf_put_u64(o, (uint64_t)ts);
}

/* ---- files ----------------------------------------------------------------------------- */

static void id_text(const uint8_t id[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = 0;
}

static COFFER_RESULT file_key(const struct coffer_secret *master, const uint8_t id[16], struct coffer_secret *out)
{
	coffer_secret_alloc(out, COFFER_AEAD_KEY_BYTES);
	coffer_rc rc = coffer_hkdf_sha256(master->ptr, master->len, id, 16, BLOG_INFO, strlen(BLOG_INFO), out->ptr,
					  COFFER_AEAD_KEY_BYTES);
	if (rc != COFFER_OK)
		coffer_secret_free(out);
	return rc;
}

static char *blog_dir(const struct coffer_db *db)
{
	return coffer_path_join(db->data_dir, "batchlog");
}

void db_batchlog_init(struct coffer_db *db)
{
	pthread_mutex_init(&db->blog_lock, NULL);
}

void db_batchlog_close(struct coffer_db *db)
{
	coffer_secret_free(&db->blog_key);
	coffer_buf_free(&db->blog_blob);
	pthread_mutex_destroy(&db->blog_lock);
}

/* Whether the batchlog key has outlived BLOG_KEY_LIFETIME_US or sat unused
 * for BLOG_KEY_IDLE_US; caller holds blog_lock. */
static bool key_stale(const struct coffer_db *db, int64_t now)
{
	return now - db->blog_key_made_us >= BLOG_KEY_LIFETIME_US || now - db->blog_key_used_us >= BLOG_KEY_IDLE_US;
}

static void key_drop(struct coffer_db *db)
{
	coffer_secret_free(&db->blog_key);
	coffer_buf_reset(&db->blog_blob);
}

void db_batchlog_sweep(struct coffer_db *db)
{
	int64_t now = coffer_clock_now_us(db->clock);
	pthread_mutex_lock(&db->blog_lock);
	if (db->blog_key.ptr && key_stale(db, now))
		key_drop(db);
	pthread_mutex_unlock(&db->blog_lock);
}

/* The key of a new batch-log file: derived from the current batchlog key
 * (made, or replaced when stale, here) with the file's id, and that key's
 * KMS ciphertext copied into *blob; all under blog_lock, so a replacement
 * by another thread never pulls the key from under this one. */
static COFFER_RESULT file_key_for_write(struct coffer_db *db, const uint8_t id[16], struct coffer_secret *key,
					struct coffer_buf *blob)
{
	coffer_rc rc = COFFER_OK;
	int64_t now = coffer_clock_now_us(db->clock);
	pthread_mutex_lock(&db->blog_lock);
	if (db->blog_key.ptr && key_stale(db, now))
		key_drop(db);
	if (!db->blog_key.ptr) {
		char arn[COFFER_KEY_ARN_MAX];
		coffer_buf_reset(&db->blog_blob);
		rc = coffer_key_provider_generate_data_key(db->cfg.provider, db->service_key, &blog_ctx, NULL,
							   &db->blog_key, &db->blog_blob, arn);
		if (rc == COFFER_OK && (db->blog_blob.len == 0 || db->blog_blob.len > UINT16_MAX)) {
			key_drop(db);
			rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE, "batchlog key blob of %zu bytes",
					      db->blog_blob.len);
		}
		db->blog_key_made_us = now;
	}
	if (rc == COFFER_OK) {
		db->blog_key_used_us = now;
		rc = file_key(&db->blog_key, id, key);
		coffer_buf_put(blob, db->blog_blob.ptr, db->blog_blob.len);
	}
	pthread_mutex_unlock(&db->blog_lock);
	if (rc != COFFER_OK)
		coffer_error_wrap("batchlog key: ");
	return rc;
}

COFFER_RESULT db_batchlog_write(struct coffer_db *db, const struct db_blog *b, char **path_out)
{
	coffer_rc rc;
	struct coffer_buf file = {0}, aad = {0}, blob = {0};
	struct coffer_secret key = {0};
	uint8_t id[16];
	char name[37 + sizeof(BLOG_SUFFIX)];
	char *dir = blog_dir(db), *path = NULL;
	*path_out = NULL;
	TRY_FAIL(coffer_random_bytes(id, sizeof(id)));
	TRY_FAIL(file_key_for_write(db, id, &key, &blob));
	id_text(id, name);
	strcat(name, BLOG_SUFFIX);
	path = coffer_path_join(dir, name);
	coffer_buf_put(&file, BLOG_MAGIC, 4);
	coffer_buf_put_u8(&file, BLOG_FORMAT);
	coffer_buf_put(&file, id, 16);
	coffer_buf_put_u16(&file, (uint16_t)blob.len);
	coffer_buf_put(&file, blob.ptr, blob.len);
	coffer_buf_put(&aad, BLOG_AAD, strlen(BLOG_AAD));
	coffer_buf_put(&aad, file.ptr, file.len);
	uint8_t *nonce = coffer_buf_extend(&file, COFFER_AEAD_NONCE_BYTES);
	TRY_FAIL(coffer_random_bytes(nonce, COFFER_AEAD_NONCE_BYTES));
	size_t hdr = file.len;
	coffer_buf_extend(&file, b->body.len + COFFER_AEAD_TAG_BYTES);
	TRY_FAIL(coffer_aead_seal(key.ptr, file.ptr + hdr - COFFER_AEAD_NONCE_BYTES, coffer_buf_slice(&aad),
				  coffer_buf_slice(&b->body), file.ptr + hdr, file.ptr + hdr + b->body.len));
	TRY_FAIL(coffer_fs_write_atomic(path, coffer_buf_slice(&file), 0600));
	*path_out = path;
	path = NULL;
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("writing the batch log: ");
	coffer_secret_free(&key);
	coffer_buf_free(&file);
	coffer_buf_free(&aad);
	coffer_buf_free(&blob);
	free(dir);
	free(path);
	return rc;
}

COFFER_RESULT db_batchlog_done(struct coffer_db *db, const char *path)
{
	(void)db;
	if (unlink(path) != 0 && errno != ENOENT)
		return COFFER_FS_ERR(errno, "unlink", path);
	/* No directory fsync: a file that comes back after a crash is only
	 * replayed again, which is harmless (idempotent). */
	return COFFER_OK;
}

/* ---- replay ---------------------------------------------------------------------------- */

struct replay {
	struct coffer_db *db;
	const char *name;               /* the file, for messages */
	struct coffer_mutation **m;     /* by mutation number; NULL: table gone */
	struct db_table **t;
	size_t n, cap;
	bool unavailable;               /* some table's store is not open */
	const char *unavailable_table;
};

static void replay_free(struct replay *r)
{
	for (size_t i = 0; i < r->n; i++)
		coffer_mutation_free(r->m[i]);
	free(r->m);
	free(r->t);
}

static COFFER_RESULT read_ck(struct coffer_reader *rd, struct coffer_slice *ck, size_t *n)
{
	uint64_t cnt;
	TRY(coffer_reader_varint(rd, &cnt));
	ENSURE(cnt <= COFFER_MAX_CLUSTERING, COFFER_E_CORRUPT, "%llu key values (at most %d)",
	       (unsigned long long)cnt, COFFER_MAX_CLUSTERING);
	for (uint64_t i = 0; i < cnt; i++)
		TRY(coffer_reader_lenbytes(rd, BLOG_MAX_BYTES, &ck[i]));
	*n = (size_t)cnt;
	return COFFER_OK;
}

static COFFER_RESULT read_i64(struct coffer_reader *rd, int64_t *v)
{
	uint64_t u;
	TRY(coffer_reader_u64(rd, &u));
	*v = (int64_t)u;
	return COFFER_OK;
}

static COFFER_RESULT replay_mutation(struct replay *r, struct coffer_reader *rd)
{
	struct coffer_slice id, pk[COFFER_MAX_CLUSTERING];
	size_t npk = 0;
	TRY(coffer_reader_lenbytes(rd, 64, &id));
	TRY(read_ck(rd, pk, &npk));
	ENSURE(npk > 0, COFFER_E_CORRUPT, "a mutation without a partition key");
	struct db_table *t = NULL;
	for (size_t i = 0; i < r->db->n_tables && !t; i++) {
		struct db_table *c = r->db->tables[i];
		if (strlen(c->storage_id) == id.len && memcmp(c->storage_id, id.ptr, id.len) == 0)
			t = c;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->m = coffer_xrealloc(r->m, sizeof(*r->m) * r->cap);
		r->t = coffer_xrealloc(r->t, sizeof(*r->t) * r->cap);
	}
	r->m[r->n] = NULL;
	r->t[r->n] = t;
	if (t && !t->store) {
		r->unavailable = true;
		r->unavailable_table = t->def->name;
		r->t[r->n] = NULL;
	} else if (t) {
		ENSURE(npk == t->def->npartition, COFFER_E_CORRUPT, "a mutation of %s.%s with %zu key components",
		       t->def->keyspace, t->def->name, npk);
		r->m[r->n] = coffer_mutation_new(t->store, pk, npk);
	}
	r->n++;
	return COFFER_OK;
}

static COFFER_RESULT replay_op(struct replay *r, uint8_t kind, struct coffer_reader *rd)
{
	uint64_t k;
	struct coffer_slice ck[COFFER_MAX_CLUSTERING], ck2[COFFER_MAX_CLUSTERING], v;
	size_t n = 0, n2 = 0;
	uint32_t col = 0, ttl = 0;
	uint8_t inc = 0, inc2 = 0;
	int64_t ts;
	TRY(coffer_reader_varint(rd, &k));
	ENSURE(k < r->n, COFFER_E_CORRUPT, "an operation on mutation %llu of %zu", (unsigned long long)k, r->n);
	struct coffer_mutation *m = r->m[k];
	switch (kind) {
	case OP_SET:
		TRY(read_ck(rd, ck, &n));
		/* fallthrough */
	case OP_SET_STATIC:
		TRY(coffer_reader_u32(rd, &col));
		TRY(coffer_reader_lenbytes(rd, BLOG_MAX_BYTES, &v));
		TRY(read_i64(rd, &ts));
		TRY(coffer_reader_u32(rd, &ttl));
		if (m && kind == OP_SET)
			coffer_mutation_set(m, ck, n, col, v, ts, ttl);
		else if (m)
			coffer_mutation_set_static(m, col, v, ts, ttl);
		return COFFER_OK;
	case OP_DEL_CELL:
		TRY(read_ck(rd, ck, &n));
		/* fallthrough */
	case OP_DEL_STATIC:
		TRY(coffer_reader_u32(rd, &col));
		TRY(read_i64(rd, &ts));
		if (m && kind == OP_DEL_CELL)
			coffer_mutation_delete_cell(m, ck, n, col, ts);
		else if (m)
			coffer_mutation_delete_static(m, col, ts);
		return COFFER_OK;
	case OP_ROW_MARKER:
		TRY(read_ck(rd, ck, &n));
		TRY(read_i64(rd, &ts));
		TRY(coffer_reader_u32(rd, &ttl));
		if (m)
			coffer_mutation_row_marker(m, ck, n, ts, ttl);
		return COFFER_OK;
	case OP_DEL_ROW:
		TRY(read_ck(rd, ck, &n));
		TRY(read_i64(rd, &ts));
		if (m)
			coffer_mutation_delete_row(m, ck, n, ts);
		return COFFER_OK;
	case OP_DEL_RANGE: {
		TRY(read_ck(rd, ck, &n));
		TRY(coffer_reader_u8(rd, &inc));
		TRY(read_ck(rd, ck2, &n2));
		TRY(coffer_reader_u8(rd, &inc2));
		TRY(read_i64(rd, &ts));
		struct coffer_bound lo = {ck, n, inc != 0}, hi = {ck2, n2, inc2 != 0};
		if (m)
			coffer_mutation_delete_range(m, &lo, &hi, ts);
		return COFFER_OK;
	}
	case OP_DEL_PARTITION:
		TRY(read_i64(rd, &ts));
		if (m)
			coffer_mutation_delete_partition(m, ts);
		return COFFER_OK;
	default:
		BAIL(COFFER_E_CORRUPT, "unknown record kind %u", kind);
	}
}

/* Decodes the whole body into mutations, then applies them table by table
 * (in the order the tables first appear, as run() did). */
static COFFER_RESULT replay_body(struct replay *r, struct coffer_slice body)
{
	struct coffer_reader rd;
	coffer_reader_init(&rd, body, "batchlog body");
	while (coffer_reader_left(&rd) > 0) {
		uint8_t kind;
		TRY(coffer_reader_u8(&rd, &kind));
		coffer_rc drc = kind == REC_MUTATION ? replay_mutation(r, &rd) : replay_op(r, kind, &rd);
		/* Sealed bytes that authenticate but do not decode: still corruption. */
		if (drc != COFFER_OK)
			return coffer_error_set(COFFER_E_CORRUPT, COFFER_WHERE, "%s", coffer_error_msg());
	}
	struct coffer_mutation **group = coffer_xcalloc(r->n + 1, sizeof(*group));
	bool *done = coffer_xcalloc(r->n + 1, sizeof(*done));
	coffer_rc rc = COFFER_OK;
	for (size_t i = 0; i < r->n && rc == COFFER_OK; i++) {
		if (done[i] || !r->m[i])
			continue;
		size_t ng = 0;
		for (size_t j = i; j < r->n; j++)
			if (!done[j] && r->m[j] && r->t[j] == r->t[i]) {
				group[ng++] = r->m[j];
				done[j] = true;
			}
		rc = coffer_table_apply(r->t[i]->store, group, ng);
		if (rc != COFFER_OK)
			coffer_error_wrap("applying to %s.%s: ", r->t[i]->def->keyspace, r->t[i]->def->name);
	}
	free(group);
	free(done);
	return rc;
}

/* Opens one file and applies it; COFFER_OK means it may be removed. */
static COFFER_RESULT replay_file(struct coffer_db *db, const char *path, const char *name,
				 struct coffer_buf *last_blob, struct coffer_secret *last_key)
{
	coffer_rc rc;
	struct coffer_buf file = {0}, pt, aad = {0};
	struct coffer_secret key = {0};
	struct replay r = {.db = db, .name = name};
	coffer_buf_init_secure(&pt);
	TRY_FAIL(coffer_fs_read_all(path, BLOG_MAX_BYTES, &file));
	ENSURE_FAIL(file.len >= BLOG_FIXED && memcmp(file.ptr, BLOG_MAGIC, 4) == 0, COFFER_E_CORRUPT,
		    "not a coffer batch log (bad magic or truncated)");
	ENSURE_FAIL(file.ptr[4] == BLOG_FORMAT, COFFER_E_CORRUPT, "unknown batch log format %u", file.ptr[4]);
	char idt[37 + sizeof(BLOG_SUFFIX)];
	id_text(file.ptr + BLOG_ID_OFF, idt);
	strcat(idt, BLOG_SUFFIX);
	ENSURE_FAIL(strcmp(idt, name) == 0, COFFER_E_CORRUPT, "the header's batch id does not match the file name");
	size_t w = ((size_t)file.ptr[BLOG_WLEN_OFF] << 8) | file.ptr[BLOG_WLEN_OFF + 1];
	size_t hdr = BLOG_FIXED + w;
	ENSURE_FAIL(w > 0 && file.len >= hdr + COFFER_AEAD_NONCE_BYTES + COFFER_AEAD_TAG_BYTES, COFFER_E_CORRUPT,
		    "truncated batch log");
	struct coffer_slice blob = coffer_slice_of(file.ptr + BLOG_FIXED, w);
	if (!last_key->ptr || last_blob->len != w || memcmp(last_blob->ptr, blob.ptr, w) != 0) {
		char arn[COFFER_KEY_ARN_MAX];
		coffer_secret_free(last_key);
		coffer_buf_reset(last_blob);
		TRY_FAIL(coffer_key_provider_decrypt(db->cfg.provider, blob, &blog_ctx, NULL, NULL, last_key, arn));
		coffer_buf_put(last_blob, blob.ptr, w);
	}
	TRY_FAIL(file_key(last_key, file.ptr + BLOG_ID_OFF, &key));
	coffer_buf_put(&aad, BLOG_AAD, strlen(BLOG_AAD));
	coffer_buf_put(&aad, file.ptr, hdr);
	size_t ct_len = file.len - hdr - COFFER_AEAD_NONCE_BYTES - COFFER_AEAD_TAG_BYTES;
	const uint8_t *ct = file.ptr + hdr + COFFER_AEAD_NONCE_BYTES;
	uint8_t *out = coffer_buf_extend(&pt, ct_len ? ct_len : 1);
	if (coffer_aead_open(key.ptr, file.ptr + hdr, coffer_buf_slice(&aad), coffer_slice_of(ct, ct_len),
			     ct + ct_len, out) != COFFER_OK)
		BAIL_FAIL(COFFER_E_CORRUPT, "the batch log does not authenticate (tampered, truncated or sealed "
					    "under another key)");
	pt.len = ct_len;
	TRY_FAIL(replay_body(&r, coffer_buf_slice(&pt)));
	ENSURE_FAIL(!r.unavailable, COFFER_E_UNAVAILABLE,
		    "table %s is not available (its key cannot be reached); kept for the next start",
		    r.unavailable_table);
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("batch log %s: ", path);
	replay_free(&r);
	coffer_secret_free(&key);
	coffer_buf_free(&file);
	coffer_buf_free(&pt);
	coffer_buf_free(&aad);
	return rc;
}

static bool is_blog_name(const char *n)
{
	size_t l = strlen(n), s = strlen(BLOG_SUFFIX);
	return l == 36 + s && strcmp(n + 36, BLOG_SUFFIX) == 0;
}

COFFER_RESULT db_batchlog_replay(struct coffer_db *db, size_t *replayed)
{
	coffer_rc rc, first = COFFER_OK;
	char first_msg[1024] = "";
	char *dir = blog_dir(db);
	char **names = NULL;
	size_t n = 0;
	struct coffer_buf last_blob = {0};
	struct coffer_secret last_key = {0};
	*replayed = 0;
	TRY_FAIL(coffer_fs_mkdirs(dir, 0700));
	DIR *d = opendir(dir);
	if (!d) {
		rc = COFFER_FS_ERR(errno, "opendir", dir);
		goto fail;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!is_blog_name(e->d_name))
			continue;
		names = coffer_xrealloc(names, sizeof(*names) * (n + 1));
		names[n++] = coffer_xstrdup(e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		char *path = coffer_path_join(dir, names[i]);
		rc = replay_file(db, path, names[i], &last_blob, &last_key);
		if (rc == COFFER_OK) {
			rc = db_batchlog_done(db, path);
			if (rc == COFFER_OK) {
				(*replayed)++;
				coffer_log_info(db->log, "db", "batch log %s replayed", path);
			}
		}
		if (rc != COFFER_OK) {
			/* The file stays for the operator (invariant 3). */
			coffer_log_error(db->log, "db", "%s (%s)", coffer_error_msg(), coffer_rc_name(rc));
			if (first == COFFER_OK) {
				first = rc;
				snprintf(first_msg, sizeof(first_msg), "%s", coffer_error_msg());
			}
		}
		free(path);
	}
	if (first != COFFER_OK)
		rc = coffer_error_set(first, COFFER_WHERE, "%s", first_msg);
	else if (n)
		rc = coffer_fs_sync_dir(dir);
fail:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	coffer_secret_free(&last_key);
	coffer_buf_free(&last_blob);
	free(dir);
	return rc;
}
