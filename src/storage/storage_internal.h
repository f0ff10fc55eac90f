/*
 * storage_internal.h - what the storage engine's files share: the entry
 * encoding, iterators, memtables, SSTables, the block cache, the commit log,
 * the manifest, and the table itself. Not for use outside src/storage.
 *
 * The engine stores "entries": (key, value) pairs in one total order per table.
 * An entry is one cell, one row marker, or one tombstone:
 *
 *   key   := token+2^63 (u64 BE) | varint len | partition key | kind | rest
 *   kind  := 0 partition deletion | 1 static cell | 2 range deletion | 3 row entry
 *   rest  := (static)   u32 slot
 *            (range)    bound start | bound end,  bound := u8 n | n x lenbytes | u8 inclusive
 *            (row)      u8 n | n x lenbytes clustering values | u32 slot
 *   slot  := 0 row deletion | 1 row marker | 2 + column id
 *   value := u8 flags (1 tombstone, 2 expiring) | u64 timestamp (µs, two's complement)
 *            | [u64 local deletion / expiry µs if tombstone or expiring]
 *            | [u32 ttl seconds if expiring] | cell value bytes
 *
 * Order: token (signed), partition key bytes, kind, then for rows the
 * clustering values by their types (DESC reversed), shorter prefixes first,
 * then slot. Keys that stop after the partition key sort before all of that
 * partition's entries (seek sentinels).
 */
#ifndef COFFER_STORAGE_STORAGE_INTERNAL_H
#define COFFER_STORAGE_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "crypto/crypto.h"
#include "storage/storage.h"
#include "util/arena.h"

#define KIND_PARTITION_DEL 0
#define KIND_STATIC 1
#define KIND_RANGE_DEL 2
#define KIND_ROW 3
#define SLOT_ROW_DEL 0
#define SLOT_MARKER 1
#define SLOT_COLUMN0 2

#define CELL_TOMBSTONE 1
#define CELL_EXPIRING 2

/* ---- entries (entry.c) ---------------------------------------------------- */

struct cell {
	uint8_t flags;
	int64_t ts;
	int64_t ldt;   /* local deletion time or expiry, µs; 0 if neither */
	uint32_t ttl;
	struct coffer_slice value;
};

/* A parsed key (borrowing the key bytes). */
struct pkey {
	int64_t token;
	struct coffer_slice pk;
	int kind;                  /* -1: partition-start sentinel */
	uint32_t slot;
	size_t n_ck;
	struct coffer_slice ck[COFFER_MAX_CLUSTERING];
	struct coffer_slice range; /* kind 2: the encoded bounds */
};

void entry_key_partition(struct coffer_buf *b, int64_t token, struct coffer_slice pk);
void entry_key_row(struct coffer_buf *b, int64_t token, struct coffer_slice pk,
		   const struct coffer_slice *ck, size_t n, uint32_t slot);
void entry_key_static(struct coffer_buf *b, int64_t token, struct coffer_slice pk, uint32_t slot);
void entry_key_range(struct coffer_buf *b, int64_t token, struct coffer_slice pk,
		     const struct coffer_bound *start, const struct coffer_bound *end);
void entry_key_pdel(struct coffer_buf *b, int64_t token, struct coffer_slice pk);
void entry_value(struct coffer_buf *b, const struct cell *c);

COFFER_RESULT entry_parse_key(struct coffer_slice k, struct pkey *out);
COFFER_RESULT entry_parse_value(struct coffer_slice v, struct cell *out);
/* Decodes a range deletion's bounds (values point into the key). */
COFFER_RESULT entry_parse_range(struct coffer_slice range, struct coffer_slice *start_v,
				size_t *start_n, bool *start_incl, struct coffer_slice *end_v,
				size_t *end_n, bool *end_incl);
int entry_compare(const struct coffer_table_schema *s, struct coffer_slice a, struct coffer_slice b);
/* Whether a and b are of the same partition (token and key). */
bool entry_same_partition(struct coffer_slice a, struct coffer_slice b);
/* Clustering compare of two value lists under the schema (prefix-aware:
 * equal prefixes compare equal up to the shorter length; *prefix tells). */
int clustering_compare(const struct coffer_table_schema *s, const struct coffer_slice *a, size_t na,
		       const struct coffer_slice *b, size_t nb);
/* Last write wins: <0 if a loses to b. */
int cell_reconcile(const struct cell *a, const struct cell *b);

/* ---- iterators -------------------------------------------------------------- */

struct iter;
struct iter_ops {
	COFFER_RESULT (*seek)(struct iter *it, struct coffer_slice key); /* first >= key */
	COFFER_RESULT (*next)(struct iter *it);
	void (*close)(struct iter *it);
};
struct iter {
	const struct iter_ops *ops;
	bool valid;
	/* key and value stay valid after the iterator moves on, for as long as
	 * the source does (memtables) or its pins are held (sst_iter_init): a
	 * reader may keep them without copying */
	bool stable;
	struct coffer_slice key, value;
};

/* ---- memtable (memtable.c) --------------------------------------------------- */

struct memtable;
struct memtable *memtable_new(const struct coffer_table_schema *s, size_t expected_bytes);
void memtable_free(struct memtable *m);
/* Single writer. Inserts or reconciles with an equal key. */
void memtable_put(struct memtable *m, struct coffer_slice key, struct coffer_slice value);
size_t memtable_bytes(const struct memtable *m);
size_t memtable_count(const struct memtable *m);
int64_t memtable_min_ts(const struct memtable *m);
struct iter *memtable_iter(struct memtable *m);
/* An iterator already positioned at the first entry of the partition whose
 * key prefix (token + partition key) is given, found by hash; invalid if the
 * memtable has none. Only next() may be called on it. */
struct iter *memtable_iter_partition(struct memtable *m, struct coffer_slice partition_key);
/* The same two in caller-owned memory (nothing to close or free); the
 * entries' bytes stay valid while the memtable lives. */
struct node;
struct mem_iter {
	struct iter it;
	struct memtable *m;
	struct node *cur;
};
void memtable_iter_init(struct mem_iter *mi, struct memtable *m);
void memtable_iter_init_partition(struct mem_iter *mi, struct memtable *m,
				  struct coffer_slice partition_key);
/* Starts loading what memtable_iter_init_partition will read, in stages,
 * each once the previous one's load has had time to land: 0 the index
 * bucket, 1 the first node it holds, 2 that node's value. */
void memtable_prefetch(struct memtable *m, struct coffer_slice partition_key, int stage);

/* ---- blocks (block.c): framing + AEAD + compression ----------------------------- */

enum block_kind {
	BLOCK_DATA = 1,
	BLOCK_INDEX = 2,
	BLOCK_BLOOM = 3,
	BLOCK_STATS = 4,
	BLOCK_FOOTER = 5,
	BLOCK_COMMIT = 6,
	BLOCK_MANIFEST = 7,
	BLOCK_JOURNAL = 8, /* backup journal records (backup.c) */
};
#define BLOCK_TAG COFFER_AEAD_TAG_BYTES

struct block_ctx {
	struct coffer_aead_ctx *aead;
	char table_id[COFFER_TABLE_ID_LEN + 1];
	uint64_t file_id;
};
COFFER_RESULT block_ctx_init(struct block_ctx *b, const struct coffer_secret *key,
			     const char *table_id, uint64_t file_id);
void block_ctx_free(struct block_ctx *b);
/* Seals pt (appending ct||tag to out), nonce from the block number. */
COFFER_RESULT block_seal(struct block_ctx *b, enum block_kind kind, uint64_t block_no,
			 struct coffer_slice pt, struct coffer_buf *out);
/* Opens ct||tag into out (replacing its contents). COFFER_E_CORRUPT naming
 * `path` and the block on failure. */
COFFER_RESULT block_open(struct block_ctx *b, enum block_kind kind, uint64_t block_no,
			 struct coffer_slice ct_tag, struct coffer_buf *out, const char *path);
/* zstd level 1, with a one-byte method prefix (0 raw, 1 zstd). */
void block_compress(struct coffer_slice in, struct coffer_buf *out);
COFFER_RESULT block_decompress(struct coffer_slice in, struct coffer_buf *out, const char *path,
			       uint64_t block_no);

/* ---- block cache (cache.c) ---------------------------------------------------- */

/* A decoded data block as the cache holds it: one allocation with this
 * header, then per entry the high 32 bits of its key's first 8 bytes (the
 * biased token), then per entry its offset in the block, then the block's
 * bytes. The token halves order entries whose keys have 8 bytes or more
 * (entry_compare's first step; by_tok: all of them do), so a seek
 * binary-searches two short arrays and touches the block only at the entry
 * it lands on; they sit right after the header the lookup already read. */
struct cached_block {
	atomic_int refs;
	bool referenced;          /* CLOCK's second chance (blockcache.c; under the shard lock) */
	bool by_tok;
	uint32_t n;               /* entries */
	const uint32_t *off;      /* n offsets into data */
	struct coffer_slice data;
	uint64_t file_id, block_no;
	struct cached_block *_Atomic *slot; /* the SSTable's slot pointing here while cached */
	struct cached_block *ring_prev, *ring_next;
	uint32_t tok[];           /* n token halves; then off[], then data */
};
/* Builds a block to cache from its decoded bytes (copied): one pass over the
 * entries, which also checks that they parse to the block's end (an error
 * names `path` and the block). */
COFFER_RESULT cached_block_new(struct coffer_slice data, uint64_t file_id, uint64_t block_no,
			       const char *path, struct cached_block **out);

/* The cache finds a block through its SSTable's slot array (one pointer per
 * data block, sstable.slots), read and written only under the lock of the
 * block's shard; blocks point back at their slot to clear it when evicted. */
struct block_cache;
struct block_cache *block_cache_new(size_t capacity);
void block_cache_free(struct block_cache *c);
struct cached_block *block_cache_get(struct block_cache *c, struct cached_block *_Atomic *slot,
				     uint64_t file_id, uint64_t block_no);
/* Takes ownership of b (from cached_block_new); returns the cached block
 * (b, or the one another reader put first) with a reference. */
struct cached_block *block_cache_put(struct block_cache *c, struct cached_block *_Atomic *slot,
				     struct cached_block *b);
void block_cache_release(struct block_cache *c, struct cached_block *b);
/* Starts loading the cached block a slot points to, if any, without a lock
 * or a reference: a hint for a lookup soon after. */
void block_cache_prefetch(struct cached_block *_Atomic *slot);
void block_cache_drop_file(struct block_cache *c, uint64_t file_id);
/* Drops the cached blocks of an SSTable being closed, whose slot array
 * (n slots) is about to be freed. */
void block_cache_drop_slots(struct block_cache *c, struct cached_block *_Atomic *slots, uint64_t file_id,
			    size_t n);
void block_cache_stats(struct block_cache *c, uint64_t *hits, uint64_t *misses);

/* ---- SSTables (sstable_write.c, sstable_read.c) -------------------------------- */

struct sst_stats {
	uint64_t entries;
	uint64_t partitions;
	int64_t min_ts, max_ts;
	int64_t max_ldt;
	uint64_t tombstones;
	uint64_t data_blocks;
};

struct sst_writer;
COFFER_RESULT sst_writer_open(struct coffer_table *t, uint64_t file_id, uint64_t expected_partitions,
			      struct sst_writer **out);
COFFER_RESULT sst_writer_add(struct sst_writer *w, struct coffer_slice key, struct coffer_slice value);
/* Finishes and fsyncs the file; returns its size. Consumes w either way (on
 * failure the file and its data key are removed). */
COFFER_RESULT sst_writer_finish(struct sst_writer *w, uint64_t *size);
/* Closes and deletes an unfinished file. */
void sst_writer_abort(struct sst_writer *w);

struct sstable {
	uint64_t file_id;
	uint64_t size;
	char *path;
	int fd;
	struct coffer_table *t;
	struct block_ctx bc;
	struct sst_stats stats;
	/* index: per data block, last key and its extent */
	size_t n_blocks;
	struct coffer_slice *last_keys;
	uint32_t *last_toks;          /* high half of each last key's first 8 bytes ... */
	bool by_tok;                  /* ... which orders them (all have 8+ bytes) */
	struct cached_block *_Atomic *slots; /* per data block, its cached copy (blockcache.c) */
	uint64_t *offsets;
	uint32_t *lengths;
	struct coffer_buf index_buf;
	struct coffer_buf bloom;
	uint32_t bloom_k;
	uint64_t bloom_bits;          /* (bloom.len - 4) * 8 */
	__uint128_t bloom_m;          /* fastmod_m(bloom_bits) */
	/* the footer: frame offset and length of the index, bloom, statistics */
	uint64_t index_off, bloom_off, stats_off;
	uint32_t index_len, bloom_len, stats_len;
	atomic_int refs;
};
COFFER_RESULT sst_open(struct coffer_table *t, uint64_t file_id, struct sstable **out);
void sst_ref(struct sstable *s);
void sst_unref(struct sstable *s); /* closes at zero */
bool sst_may_contain(const struct sstable *s, struct coffer_slice pk);
/* The same with pk's bloom_hash() computed once by the caller (it is also
 * the partition's token: coffer_token), for a read that asks every SSTable. */
bool sst_may_contain_hash(const struct sstable *s, const uint64_t h[2]);
struct iter *sst_iter(struct sstable *s);
/* Blocks a read keeps referenced so that entries it gathered from them need
 * no copy; released together once the read is done with the entries. */
#define BLOCK_PINS 8
struct block_pins {
	struct cached_block *b[BLOCK_PINS];
	size_t n;
};
void block_pins_release(struct block_cache *c, struct block_pins *p);
/* An iterator in caller-owned memory that borrows s (no reference taken):
 * for a read holding the table's state lock, which keeps s open. Closed by
 * sst_iter_fini, never through ops->close. With `pins`, each block it loads
 * while the set has room stays referenced there (entries from it are
 * it.stable) until the caller releases the set. */
struct sst_iter {
	struct iter it;
	struct sstable *s;
	size_t block;
	struct cached_block *cb;
	bool cb_pinned;
	struct block_pins *pins;
	struct coffer_slice pending; /* sst_iter_position's key */
	struct coffer_reader r;
};
void sst_iter_init(struct sst_iter *si, struct sstable *s, struct block_pins *pins);
/* A seek in stages, so the cache misses of several SSTables overlap: the
 * data block a seek to key lands in (n_blocks: past the end; its slot is
 * prefetched); the cached block itself prefetched (a hint: the next stage
 * still looks it up properly); the iterator placed in that block by token
 * halves alone, the entry there prefetched; then sst_iter_finish decodes
 * and steps to the first entry >= key, as ops->seek would have. `key` must
 * outlive the finish. */
size_t sst_find_block(struct sstable *s, struct coffer_slice key);
void sst_prefetch_block(struct sstable *s, size_t block);
COFFER_RESULT sst_iter_position(struct sst_iter *si, struct coffer_slice key, size_t block);
COFFER_RESULT sst_iter_finish(struct sst_iter *si);
void sst_iter_fini(struct sst_iter *si);
char *sst_path(const struct coffer_table *t, uint64_t file_id);
void bloom_hash(struct coffer_slice pk, uint64_t h[2]);
/* a % d without a division (Lemire, Kaser, Kurz: "Faster remainder by direct
 * computation", 2019), for the bloom probes' (h0 + i h1) % bits: m is
 * fastmod_m(d), computed once per SSTable; exact for every 64-bit a and d > 0. */
static inline __uint128_t fastmod_m(uint64_t d)
{
	return ~(__uint128_t)0 / d + 1;
}
static inline uint64_t fastmod(uint64_t a, __uint128_t m, uint64_t d)
{
	__uint128_t low = m * a;
	__uint128_t bottom = ((low & UINT64_MAX) * d) >> 64;
	__uint128_t top = (low >> 64) * d;
	return (uint64_t)((bottom + top) >> 64);
}
/* coffer_token(pk) from bloom_hash(pk): both are pk's MurmurHash3_x64_128,
 * the token its first half with INT64_MIN moved to INT64_MAX (token.c). */
static inline int64_t token_of_hash(const uint64_t h[2])
{
	int64_t t = (int64_t)h[0];
	return t == INT64_MIN ? INT64_MAX : t;
}
/* Re-seals s, block by block and unchanged, as a new SSTable of t under a
 * new data key of t (restores: no decompression, no parsing; the same kinds,
 * numbers and lengths, so offsets stay right). tick gets the bytes of s done. */
/* Opens the SSTable just written as `id`; on failure removes its file and
 * data key (it never became live). */
COFFER_RESULT sst_open_written(struct coffer_table *t, uint64_t id, struct sstable **out);
COFFER_RESULT sst_reseal(struct sstable *s, struct coffer_table *t,
			 void (*tick)(void *arg, uint64_t bytes), void *arg, struct sstable **out);

/* ---- merge (merge.c) ----------------------------------------------------------- */

/* Merges children (taking ownership) into one ordered stream where equal keys
 * are reconciled (last write wins). */
struct iter *merge_iter(const struct coffer_table_schema *s, struct iter **children, size_t n);

/* One partition materialised: reconciled entries, in order. */
struct part_entry {
	struct coffer_slice key, value;
	struct pkey k;
	struct cell c;
};
struct partition {
	struct coffer_buf keybuf;     /* first key of the partition */
	struct coffer_slice pk;
	int64_t token;
	struct part_entry *e;
	size_t n, cap;
	bool e_borrowed;              /* e is the caller's buffer (partition_init_buffer) */
	struct coffer_arena arena;
};
void partition_init(struct partition *p);
/* The same, first filling the caller's buf of n entries (e.g. on the stack:
 * a point read gathers a few) before it allocates. */
void partition_init_buffer(struct partition *p, struct part_entry *buf, size_t n);
void partition_reset(struct partition *p);
void partition_free(struct partition *p);
/* Appends one entry (copied into the partition's arena). */
COFFER_RESULT partition_push(struct partition *p, struct coffer_slice key, struct coffer_slice value);
/* Appends one entry whose bytes outlive the partition's use (a memtable's,
 * read under the table's state lock): not copied. */
COFFER_RESULT partition_push_borrowed(struct partition *p, struct coffer_slice key,
				      struct coffer_slice value);
/* Sorts entries gathered from several sources and keeps each key's winner. */
void partition_reconcile(const struct coffer_table_schema *s, struct partition *p);
/* Reads the partition at the iterator's position (advancing past it). */
COFFER_RESULT partition_load(struct iter *it, struct partition *p);

/* Drops shadowed data, expired cells and (if purge_before > 0) tombstones
 * whose deletion time is before purge_before and whose timestamp is below
 * max_purgeable_ts. Used by compaction. */
void partition_compact(const struct coffer_table_schema *s, struct partition *p, int64_t now_us,
		       int64_t purge_before, int64_t max_purgeable_ts);

/* ---- commit log (commitlog.c) ---------------------------------------------------- */

struct commitlog;
COFFER_RESULT commitlog_open(struct coffer_table *t, struct commitlog **out);
void commitlog_close(struct commitlog *l);
/* Appends mutation bytes (entries) and waits until durable and applied. */
COFFER_RESULT commitlog_write(struct commitlog *l, struct coffer_slice *muts, size_t n);
/* Runs when a commitlog_write_async write is done: on the leader's thread,
 * after the group is durable and applied (rc COFFER_OK, msg NULL) or failed
 * (rc and its message). Must not block or write to the table. */
typedef void (*commitlog_done_fn)(void *arg, coffer_rc rc, const char *msg);
/* Appends mutation bytes (copied) with a completion and returns at once.
 * *must_lead: the caller became the leader and must call commitlog_lead
 * (soon, and not while holding a lock a completion or a table close needs). */
COFFER_RESULT commitlog_write_async(struct commitlog *l, struct coffer_slice *muts, size_t n,
				    commitlog_done_fn done, void *arg, bool *must_lead);
void commitlog_lead(struct commitlog *l);
/* commitlog_lead on the leader pool (the caller holds leadership, as after
 * commitlog_write_async set *must_lead); on this thread without a pool. */
void commitlog_lead_soon(struct commitlog *l);
/* Waits until nothing is pending or in flight, leading what is left (the
 * first step of closing a table). */
void commitlog_drain(struct commitlog *l);
/* Runs fn while holding the leader role (no group in flight). */
COFFER_RESULT commitlog_exclusive(struct commitlog *l, coffer_rc (*fn)(struct coffer_table *t, void *arg),
				  void *arg);
/* Leader only: closes the current segment (fsynced) so the next group starts a
 * new one; returns the id the next segment will have... assigned lazily. */
COFFER_RESULT commitlog_roll(struct commitlog *l, uint64_t *next_segment_id);
char *commitlog_segment_path(const struct coffer_table *t, uint64_t id);
/* One entry of a group, with the group's time (0 for CFCLOG01 segments). */
typedef void (*commitlog_entry_fn)(void *arg, int64_t time, struct coffer_slice key,
				   struct coffer_slice value);
/* Replays segments with id >= from into fn (recovery). Truncates a torn tail
 * of the last segment. Returns the highest segment id seen (0 if none). */
COFFER_RESULT commitlog_replay(struct coffer_table *t, uint64_t from, commitlog_entry_fn fn, void *arg,
			       uint64_t *max_id);
/* Reads segment `id` of t->dir without changing it: the entries of every group
 * with time <= until go to fn. `last`: a torn tail is allowed (its offset is
 * returned in *torn_at, 1 for a torn header; 0 when none), and so is
 * preallocated zero space after the last group (its offset in *torn_at too,
 * with *zero_tail set; zero_tail may be NULL); elsewhere either is
 * COFFER_E_CORRUPT naming the file and group. */
COFFER_RESULT commitlog_scan(struct coffer_table *t, uint64_t id, bool last, int64_t until,
			     commitlog_entry_fn fn, void *arg, uint64_t *torn_at, bool *zero_tail);
/* Checks the header of group `seq` at `off` of a segment image whose groups
 * end at `end` (commitlog_written_end for the newest segment, `last`): *n is
 * its plaintext length; *torn says it is incomplete (or, in the newest
 * segment, a header still being written when nothing but zeros follows). A
 * damaged length or sequence number anywhere else is COFFER_E_CORRUPT naming
 * path, group and offset. */
COFFER_RESULT commitlog_group_head(struct coffer_slice file, uint64_t off, uint64_t seq, uint64_t end,
				   bool last, const char *path, uint32_t *n, bool *torn);
/* The offset just past the last non-zero byte of a segment image (at least
 * the header's length): where a newest segment's written groups end, before
 * its preallocated zeros (commitlog.c invariant 8). */
uint64_t commitlog_written_end(struct coffer_slice file);
/* Segment ids (CL-<id>.log) in t->dir, ascending (caller frees *ids). */
COFFER_RESULT commitlog_list(struct coffer_table *t, uint64_t **ids, size_t *n);
/* A segment header's format: 2 (CFCLOG02), 1 (CFCLOG01), 0 (not a segment). */
int commitlog_format(struct coffer_slice header);
/* Splits a decrypted group of a segment of `format` into its time and entries. */
COFFER_RESULT commitlog_group_split(int format, struct coffer_slice pt, int64_t *time,
				    struct coffer_slice *entries, const char *path, uint64_t seq);
void commitlog_stats(struct commitlog *l, uint64_t *groups, uint64_t *writes);

/* ---- manifest (manifest.c) ------------------------------------------------------- */

#define MANIFEST_FILE_ID 1
struct manifest {
	uint64_t generation;
	uint64_t next_file_id;
	uint64_t replay_from;     /* first commit-log segment not yet flushed */
	size_t n_sst;
	uint64_t *sst_ids;
};
void manifest_free(struct manifest *m);
COFFER_RESULT manifest_write(struct coffer_table *t, const struct manifest *m);
/* Not found is COFFER_E_NOT_FOUND. */
COFFER_RESULT manifest_read(struct coffer_table *t, struct manifest *out);

/* ---- the table (table.c) --------------------------------------------------------- */

#define MAX_IMMUTABLE 4

struct coffer_table {
	struct coffer_vfs *vfs;
	const struct coffer_clock *clock;
	const struct coffer_log *log;
	size_t memtable_bytes, segment_bytes, block_bytes;
	int compaction_threshold;
	bool no_sync, foreground, no_compaction;
	char *dir;
	char *keyspace, *name;
	char table_id[COFFER_TABLE_ID_LEN + 1];
	struct coffer_table_schema schema;
	struct coffer_keyring *kr;
	struct block_cache *cache;
	struct commitlog *clog;

	pthread_rwlock_t state;       /* guards the lists below */
	struct memtable *active;
	struct memtable *imm[MAX_IMMUTABLE];
	uint64_t imm_replay[MAX_IMMUTABLE]; /* first segment after each one's data */
	size_t n_imm;
	struct sstable **ssts;
	size_t n_ssts;

	pthread_mutex_t file_mu;      /* manifest writes, file ids, flush/compaction */
	uint64_t next_file_id;        /* atomic */
	uint64_t manifest_gen;
	uint64_t replay_from;

	pthread_t bg;
	bool bg_running;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	bool bg_stop;
	coffer_rc bg_error;

	atomic_uint_fast64_t flushes, compactions;

	/* point-in-time recovery (backup.c) */
	int64_t last_wall;            /* atomic: newest group or journal time (table_wall_now) */
	struct backup *bk;            /* NULL while PITR is off; changes under leader + file_mu */
	int64_t retention_us;         /* atomic; 0: not set (expiry does nothing) */
	int64_t history_from;         /* atomic; the first journal record's time, 0: PITR off */
	atomic_int restores;          /* restores reading this table's history */
};

uint64_t table_alloc_file_id(struct coffer_table *t);
/* Leader-only: freezes the active memtable at a segment boundary. */
COFFER_RESULT table_freeze_memtable(struct coffer_table *t);
/* Applies a group's entries to the active memtable (the group's applier, in
 * group order: commitlog.c invariant 6). */
COFFER_RESULT table_apply_entries(struct coffer_table *t, struct coffer_slice entries);
/* Leader, before writing a group: backpressure (may flush or wait). */
COFFER_RESULT table_before_write(struct coffer_table *t);
/* The active memtable is full and can be frozen (table_after_write would). */
bool table_memtable_full(struct coffer_table *t);
/* With the log to itself (commitlog.c invariant 7), after a group is
 * applied: may freeze and flush; never fails the group (problems are logged
 * and retried). */
void table_after_write(struct coffer_table *t);
COFFER_RESULT table_flush_one(struct coffer_table *t);
COFFER_RESULT table_commit_manifest(struct coffer_table *t);
/* Iterate entries encoded as (varint klen, key, varint vlen, value)*. */
COFFER_RESULT entries_next(struct coffer_reader *r, struct coffer_slice *k, struct coffer_slice *v);
void entries_put(struct coffer_buf *b, struct coffer_slice k, struct coffer_slice v);

/* Deletes a file's live name after a manifest dropped it; its data key goes
 * too unless the backup keeps a link to it (PITR). Caller holds file_mu. */
void table_delete_file(struct coffer_table *t, const char *path, uint64_t id);
/* Writes all entries of `it` (from its start) to a new SSTable of t;
 * tick (may be NULL) is called every 1024 entries with the count so far. */
COFFER_RESULT table_write_sst(struct coffer_table *t, struct iter *it, uint64_t expected,
			      void (*tick)(void *arg, uint64_t entries), void *arg,
			      struct sstable **out);
/* Makes the given new SSTables live (manifest commit); durable on return. */
COFFER_RESULT table_add_ssts(struct coffer_table *t, struct sstable **ssts, size_t n);

/* A CLOCK_REALTIME deadline `ms` from now, for pthread_cond_timedwait. */
static inline void storage_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000 * 1000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* ---- point-in-time recovery (backup.c) --------------------------------------------- */

/* Wall-clock µs for group and journal times: never below a time handed out
 * before by this table (a clock stepping back does not reorder history). */
int64_t table_wall_now(struct coffer_table *t);
/* Raises table_wall_now's floor (recovery: the newest replayed time). */
void table_wall_floor(struct coffer_table *t, int64_t us);
/* Recovery, after the manifest is read: loads the journal if PITR is on
 * (finishing an interrupted disable or enable otherwise) and appends the ids
 * of retained files, whose data keys must be kept, to *live. */
COFFER_RESULT backup_load(struct coffer_table *t, uint64_t **live, size_t *n_live, size_t *cap);
/* Recovery, once the table is open: links live files the backup misses and
 * records the current manifest if the journal's last base is not it. */
COFFER_RESULT backup_resync(struct coffer_table *t);
/* Leader, a new segment's header is durable: with PITR on, link it into
 * backup/ and record its creation. On failure the link is gone again. */
COFFER_RESULT backup_on_segment(struct coffer_table *t, uint64_t id, const char *path);
/* After every manifest commit (file_mu held): links the new SSTables and
 * records the base. Never fails the commit: a problem is logged and the next
 * commit (or open) records the state instead. */
void backup_on_manifest(struct coffer_table *t, const struct manifest *m);
void backup_free(struct backup *b);

/* A backup journal record (backup.c file comment). */
#define BK_BASE 1
#define BK_SEGMENT 2
struct bk_rec {
	uint8_t type;
	int64_t time;
	uint64_t replay;      /* BASE: replay-from segment */
	uint64_t seg;         /* SEGMENT: the segment created */
	uint64_t *ids;        /* BASE: n_sst SSTable ids, then n_segs segment ids */
	size_t n_sst, n_segs;
};
void bk_rec_free(struct bk_rec *r);
void bk_recs_free(struct bk_rec *recs, size_t n);
/* Reads a journal (t gives the keyring, table id, vfs, log). repair: truncate
 * a torn last record; otherwise it is ignored. */
COFFER_RESULT bk_journal_read(struct coffer_table *t, const char *path, bool repair,
			      uint64_t *journal_id, uint64_t *end, struct bk_rec **recs, size_t *n);
/* A copy of an open table's journal records (COFFER_E_INVALID if PITR is off). */
COFFER_RESULT backup_snapshot(struct coffer_table *t, struct bk_rec **recs, size_t *n);
/* The RETIRED marker (backup.c file comment). Missing: COFFER_E_STATE. */
COFFER_RESULT backup_write_retired(struct coffer_table *t, int64_t when);
COFFER_RESULT backup_read_retired(struct coffer_table *t, int64_t *when);

/* table.c, recovery.c: a table struct without files opened or threads */
struct coffer_table *table_alloc(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc);
void table_destroy(struct coffer_table *t);
COFFER_RESULT table_check_desc(const struct coffer_storage_config *cfg, const struct coffer_table_desc *d);
void table_keyring_config(const struct coffer_storage_config *cfg, struct coffer_table *t,
			  struct coffer_keyring_config *kc);
/* "<dir>/backup" (caller frees). */
char *backup_dir_of(const char *table_dir);
/* Removes every file in dir and dir itself (nothing if absent). */
void backup_remove_tree(struct coffer_vfs *vfs, const char *dir);

/* compaction.c */
COFFER_RESULT compaction_run(struct coffer_table *t, bool all);

#endif
