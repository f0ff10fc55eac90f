/*
 * storage.h - coffer's storage engine: a log-structured store for Cassandra's
 * data model in which every file is encrypted under its own data key, wrapped
 * by the table key (DESIGN.md section 2; docs/storage.md).
 *
 * A table is a directory holding its key registry (keys.reg), its manifest
 * (MANIFEST), commit-log segments (CL-*.log) and SSTables (SST-*.db); with
 * point-in-time recovery on, backup/ holds the retained files and the backup
 * journal (backup.c), and a retired table has a RETIRED marker.
 * Writes go to the commit log (group commit: a write returns once durable) and
 * a memtable; memtables are flushed to SSTables; size-tiered compaction merges
 * SSTables and purges deleted and expired data after gc grace.
 *
 * Data model, as Cassandra's: a partition key of 1+ columns (the caller passes
 * the component values; tokens are Murmur3 as Cassandra's Murmur3Partitioner
 * computes them), clustering columns each ASC or DESC with type-aware
 * comparators, static and regular columns identified by a caller-chosen
 * column id, cells with a write timestamp (µs) and optional TTL, last write
 * wins; tombstones for cells, rows, partitions and clustering ranges.
 *
 * Ownership: every struct coffer_table is owned by its opener and closed with
 * coffer_table_close(). Row views passed to a read callback are valid only
 * during the callback. Thread-safety: all table functions may be called from
 * any thread concurrently.
 */
#ifndef COFFER_STORAGE_STORAGE_H
#define COFFER_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/keys.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

/* ---- types and tokens ------------------------------------------------------ */

/* Value types, for clustering order. Values are the CQL wire serialisation. */
enum coffer_type {
	COFFER_TYPE_BLOB,
	COFFER_TYPE_ASCII,
	COFFER_TYPE_TEXT,      /* also varchar; UTF-8 sorts bytewise = by code point */
	COFFER_TYPE_INT,       /* signed big-endian, 4 bytes */
	COFFER_TYPE_BIGINT,    /* 8 bytes; also counter */
	COFFER_TYPE_SMALLINT,  /* 2 bytes */
	COFFER_TYPE_TINYINT,   /* 1 byte */
	COFFER_TYPE_TIMESTAMP, /* signed ms since epoch, 8 bytes */
	COFFER_TYPE_UUID,      /* Cassandra's UUIDType: version, then time for v1, then bytes */
	COFFER_TYPE_TIMEUUID,  /* by embedded time, then bytes (signed) */
	COFFER_TYPE_BOOLEAN,   /* false < true */
	COFFER_TYPE_DOUBLE,    /* IEEE order; NaN last */
	COFFER_TYPE_FLOAT,
	COFFER_TYPE_VARINT,    /* numeric order of two's-complement big-endian */
	COFFER_TYPE_DECIMAL,   /* bytewise for now (documented limitation) */
	COFFER_TYPE_DATE,      /* unsigned 4 bytes, days with 2^31 = epoch */
	COFFER_TYPE_TIME,      /* signed ns of day, 8 bytes */
	COFFER_TYPE_INET,      /* bytewise (v4 before v6 by length) */
};

/* <0, 0, >0 as a sorts before, equal to, after b (ascending order). Empty
 * values sort first, as in Cassandra. */
int coffer_type_compare(enum coffer_type t, struct coffer_slice a, struct coffer_slice b);

/* Cassandra's MurmurHash3_x64_128 (including its sign-extension of tail
 * bytes), seed 0; h[0], h[1]. */
void coffer_murmur3_x64_128(const void *p, size_t n, uint64_t h[2]);
/* Murmur3Partitioner token of a serialised partition key. */
int64_t coffer_token(struct coffer_slice partition_key);
/* Serialises partition key components as Cassandra does: one component as
 * is; several as (u16 length, bytes, 0x00) each. Appends to out. */
void coffer_partition_key_encode(const struct coffer_slice *components, size_t n,
				 struct coffer_buf *out);

/* ---- tables ------------------------------------------------------------------ */

#define COFFER_MAX_CLUSTERING 16

struct coffer_clustering_column {
	enum coffer_type type;
	bool desc; /* CLUSTERING ORDER BY ... DESC */
};

struct coffer_table_schema {
	size_t n_partition; /* partition key columns, >= 1 */
	size_t n_clustering;
	struct coffer_clustering_column clustering[COFFER_MAX_CLUSTERING];
	int64_t gc_grace_us; /* 0: 10 days, as Cassandra's gc_grace_seconds default */
};

struct coffer_storage_config {
	const char *data_dir;                 /* tables live in data_dir/<table id without dashes> */
	struct coffer_key_provider *provider; /* borrowed */
	struct coffer_key_cache *cache;       /* borrowed */
	struct coffer_vfs *vfs;               /* NULL: POSIX */
	const struct coffer_clock *clock;     /* NULL: system */
	const struct coffer_log *log;         /* NULL: discard */
	size_t memtable_bytes;                /* 0: 64 MiB */
	size_t segment_bytes;                 /* 0: 32 MiB */
	size_t block_bytes;                   /* 0: 8 KiB of uncompressed entries per block */
	size_t block_cache_bytes;             /* 0: 64 MiB */
	int compaction_threshold;             /* 0: 4 SSTables of similar size */
	/* false only for benchmarks: the commit log is written for every write
	 * but fsynced only when a segment closes (db_bench --sync=false). */
	bool no_sync;
	/* Run flushes and compactions in the writing thread instead of a
	 * background thread (deterministic tests). */
	bool foreground;
	bool no_compaction;                   /* tests that count files */
	struct coffer_key_grants grants;      /* the table's grant tokens */
	/* Key-status notifications (keyring.h): access to the table key lost
	 * (rc = the KMS's error) or regained (COFFER_OK). May be NULL. */
	void (*on_key_state)(void *arg, const char *table_id, coffer_rc rc);
	void *on_key_state_arg;
};

struct coffer_table_desc {
	const char *keyspace;
	const char *name;
	const char *table_id; /* 36-char uuid text */
	struct coffer_table_schema schema;
};

struct coffer_table;

/* Creates a table: its directory, its table key under `kms_key_ref`, an
 * empty manifest. */
COFFER_RESULT coffer_table_create(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *desc, const char *kms_key_ref,
				  struct coffer_table **out);
/* Opens a table and recovers it: replays the commit log (a torn tail is
 * dropped; corruption elsewhere is COFFER_E_CORRUPT naming file and block).
 * A KMS refusal is returned as its COFFER_E_KMS_* code. A retired directory
 * (coffer_table_retire) is refused with COFFER_E_STATE. */
COFFER_RESULT coffer_table_open(const struct coffer_storage_config *cfg,
				const struct coffer_table_desc *desc, struct coffer_table **out);
/* Stops background work and closes (no flush: the commit log has it). */
void coffer_table_close(struct coffer_table *t);
/* DROP TABLE: destroys the table's keys (crypto-shredding) and files; t is freed. */
COFFER_RESULT coffer_table_drop(struct coffer_table *t);
/* The directory of a table (owned by t). */
const char *coffer_table_dir(const struct coffer_table *t);

/* ---- writes ------------------------------------------------------------------ */

/* A mutation of one partition, built then applied. Column ids are the
 * caller's (0..2^31). TTL in seconds, 0 for none. Timestamps in µs. */
struct coffer_mutation;
struct coffer_mutation *coffer_mutation_new(struct coffer_table *t,
					    const struct coffer_slice *pk_components, size_t n);
void coffer_mutation_free(struct coffer_mutation *m);
void coffer_mutation_set(struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
			 uint32_t column, struct coffer_slice value, int64_t ts, uint32_t ttl);
void coffer_mutation_set_static(struct coffer_mutation *m, uint32_t column,
				struct coffer_slice value, int64_t ts, uint32_t ttl);
void coffer_mutation_delete_cell(struct coffer_mutation *m, const struct coffer_slice *ck,
				 size_t n_ck, uint32_t column, int64_t ts);
void coffer_mutation_delete_static(struct coffer_mutation *m, uint32_t column, int64_t ts);
/* INSERT's row marker: the row exists even if all its columns are null. */
void coffer_mutation_row_marker(struct coffer_mutation *m, const struct coffer_slice *ck,
				size_t n_ck, int64_t ts, uint32_t ttl);
void coffer_mutation_delete_row(struct coffer_mutation *m, const struct coffer_slice *ck,
				size_t n_ck, int64_t ts);

/* A clustering bound: a prefix of clustering values (n = 0: unbounded). */
struct coffer_bound {
	const struct coffer_slice *values;
	size_t n;
	bool inclusive;
};
void coffer_mutation_delete_range(struct coffer_mutation *m, const struct coffer_bound *start,
				  const struct coffer_bound *end, int64_t ts);
void coffer_mutation_delete_partition(struct coffer_mutation *m, int64_t ts);

/* Applies mutations atomically as one commit-log group; returns once durable
 * (unless cfg.no_sync). The mutations stay owned by the caller. */
COFFER_RESULT coffer_table_apply(struct coffer_table *t, struct coffer_mutation *const *m, size_t n);

/* The same write answered through a callback instead of by returning: the
 * mutations are copied into the commit log's pending group (they stay owned by
 * the caller and may be freed at once) and done(arg, rc, msg) runs exactly
 * once, after the group is durable and applied (rc COFFER_OK, msg NULL) or
 * failed (rc and a message naming the problem), on the thread leading the
 * group: it must not block, nor write to or close this table. An error
 * returned here (invalid mutation, key unavailable, log failed) means done
 * will not run and nothing was written.
 * *must_lead set: nobody is writing the group yet and the caller must call
 * coffer_table_lead(t) - after releasing any lock that done or closing the
 * table needs; done may run inside that call. A closing table waits for it.
 * No worker thread parks while its write waits for the fsync. */
COFFER_RESULT coffer_table_apply_async(struct coffer_table *t, struct coffer_mutation *const *m, size_t n,
				       void (*done)(void *arg, coffer_rc rc, const char *msg), void *arg,
				       bool *must_lead);
/* Writes pending groups until someone else leads or nothing is pending. */
void coffer_table_lead(struct coffer_table *t);
/* The same on the commit log's leader pool: returns at once. For a caller
 * that must not wait for a write and an fsync (the event loop); leads on
 * the calling thread only in a forked child, which has no pool. */
void coffer_table_lead_soon(struct coffer_table *t);
/* Whether a write may be queued without blocking: the table key's last
 * liveness check is recent (coffer_keyring_fresh), so
 * coffer_table_apply_async will not ask the KMS. */
bool coffer_table_write_ready(struct coffer_table *t);

/* ---- reads ------------------------------------------------------------------- */

struct coffer_cell_view {
	uint32_t column;
	struct coffer_slice value;
	int64_t ts;
	uint32_t ttl;         /* 0: none */
	int64_t expires_us;   /* 0: never */
};

struct coffer_row_view {
	struct coffer_slice partition_key; /* serialised */
	int64_t token;
	bool is_static;
	struct coffer_slice ck[COFFER_MAX_CLUSTERING];
	size_t n_ck;
	bool has_marker;
	int64_t marker_ts;
	const struct coffer_cell_view *cells;
	size_t n_cells;
};

/* false stops the read. */
typedef bool (*coffer_row_fn)(void *arg, const struct coffer_row_view *row);

struct coffer_read {
	/* Partitions by serialised key (IN); none: a token-ordered scan over
	 * [token_min, token_max] (both 0: the whole ring). */
	const struct coffer_slice *partitions;
	size_t n_partitions;
	int64_t token_min, token_max;
	bool token_range;           /* token_min/token_max are meaningful */
	struct coffer_bound lower;  /* clustering slice */
	struct coffer_bound upper;
	bool reversed;
	uint64_t limit;             /* rows; 0: none */
	uint64_t per_partition_limit;
	bool skip_static;           /* do not report static rows */
	/* Resume after this point (from coffer_read_result.cursor). */
	struct coffer_slice cursor;
};

struct coffer_read_result {
	uint64_t rows;
	uint64_t partitions;
	bool more;                 /* stopped at the limit with rows left */
	struct coffer_buf cursor;  /* owned by the caller (coffer_buf_free) */
};

COFFER_RESULT coffer_table_read(struct coffer_table *t, const struct coffer_read *q,
				coffer_row_fn fn, void *arg, struct coffer_read_result *res);
/* Counts rows (non-static, live) matching q. */
COFFER_RESULT coffer_table_count(struct coffer_table *t, const struct coffer_read *q,
				 uint64_t *count);

/* ---- maintenance ----------------------------------------------------------------- */

/* Flushes the memtable to an SSTable and waits for it. */
COFFER_RESULT coffer_table_flush(struct coffer_table *t);
/* Compacts all SSTables into one (purging what gc grace allows). */
COFFER_RESULT coffer_table_compact(struct coffer_table *t);
/* Runs one round of size-tiered compaction if a bucket is due. */
COFFER_RESULT coffer_table_maybe_compact(struct coffer_table *t);

/* Key status for the key-health checker (issue 6): OK while the table key is
 * usable; the provider's error otherwise. No KMS call while cached. */
COFFER_RESULT coffer_table_key_check(struct coffer_table *t);
/* Online KMS key change: re-wraps keys; no data rewritten; reads and writes
 * continue. */
COFFER_RESULT coffer_table_change_key(struct coffer_table *t, const char *new_kms_key_ref);
struct coffer_keyring *coffer_table_keyring(struct coffer_table *t);

/* A backup taken without decrypting: flushes, then hard-links (or copies) the
 * live SSTables and copies the manifest and key registry into dst_dir. */
COFFER_RESULT coffer_table_backup(struct coffer_table *t, const char *dst_dir);

/* ---- point-in-time recovery (pitr.c, backup.c, restore.c; docs/storage.md) --- */

/* Continuous backup of a table. Enabling starts history now (earliest
 * restorable = now) and keeps it for retention_us (> 0); enabling a table
 * whose history is on keeps that history and only updates the retention, so
 * the caller calls this after every coffer_table_open() with the catalog's
 * setting. Disabling erases the history (retained files, archived segments,
 * the journal and their data keys). Idempotent. */
COFFER_RESULT coffer_table_set_pitr(struct coffer_table *t, bool enabled, int64_t retention_us);
/* Earliest restorable time, µs since the epoch; 0 while PITR is off. */
int64_t coffer_table_earliest_restorable(struct coffer_table *t);
/* Removes backup artifacts no restore inside the window needs (keeping the
 * newest base at or before now - retention and everything after it). Cheap
 * when nothing is due; waits for nothing (skipped while a restore of t runs). */
COFFER_RESULT coffer_table_backup_expire(struct coffer_table *t);
/* DROP of a table with retained history, and the key grace-period expiry:
 * stops background work and frees t, keeping its directory, key registry and
 * files as they are. Needs no key and decrypts nothing (works while the KMS
 * refuses the table key). The directory stays restorable at its retire time
 * (coffer_restore_open with live_or_null = NULL) until coffer_table_purge. */
COFFER_RESULT coffer_table_retire(struct coffer_table *t);
/* The same for a table directory that is not open (e.g. its open failed while
 * the KMS refused the key): writes the RETIRED marker with the current time;
 * a directory already retired keeps its time. No key needed. Nothing else
 * may have the table open. */
COFFER_RESULT coffer_table_retire_closed(const struct coffer_storage_config *cfg,
					 const struct coffer_table_desc *desc);
/* Destroys a retired table's keys and files (crypto-shredding). A directory
 * already gone is OK. Must not be called on an open table. */
COFFER_RESULT coffer_table_purge(const struct coffer_storage_config *cfg,
				 const struct coffer_table_desc *desc);

/* A restore of a table's state at a point in time into another table. */
struct coffer_restore;
/* live_or_null: the open source table (its history is pinned: expiry waits
 * and disabling or retiring is refused while the restore exists; the table
 * must stay open until coffer_restore_close) or NULL for a retired directory
 * (cfg->data_dir + src->table_id). at_us == 0 means now (live) or the retire time (retired).
 * at_us outside the restorable window: COFFER_E_INVALID with a message giving
 * the window. The KMS refusing the table key: the provider's COFFER_E_KMS_*
 * code (or COFFER_E_UNAVAILABLE) with a message naming the key. */
COFFER_RESULT coffer_restore_open(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *src,
				  struct coffer_table *live_or_null, int64_t at_us,
				  struct coffer_restore **out);
/* The restore point chosen (µs; at_us, or the resolved "now"/retire time). */
int64_t coffer_restore_point(struct coffer_restore *r);
/* Bytes of source files the run reads (for progress). */
uint64_t coffer_restore_total_bytes(struct coffer_restore *r);
/* Writes into dst exactly the state of the source at the restore point (every
 * entry with its write timestamp, TTL, tombstones, static cells) under dst's
 * own keys, then flushes dst durably. progress (may be NULL) is called from
 * the calling thread as source bytes are consumed. dst must be a fresh table
 * with the source's schema. */
COFFER_RESULT coffer_restore_run(struct coffer_restore *r, struct coffer_table *dst,
				 void (*progress)(void *arg, uint64_t done_bytes,
						  uint64_t total_bytes),
				 void *arg);
/* Frees r (unpins the source's history). NULL is a no-op. */
void coffer_restore_close(struct coffer_restore *r);

struct coffer_table_stats {
	size_t sstables;
	uint64_t sstable_bytes;
	size_t memtable_bytes;
	uint64_t flushes;
	uint64_t compactions;
	uint64_t commit_groups;   /* fsync'd groups */
	uint64_t commit_writes;   /* mutations in them */
	uint64_t block_cache_hits, block_cache_misses;
};
void coffer_table_stats(struct coffer_table *t, struct coffer_table_stats *out);

/* ---- offline verification and decoding (verify.c) -------------------------------- */

/* These open a table's files read-only without recovering the table (no replay,
 * no truncation, nothing written), for `coffer verify` and `coffer dump` while
 * cofferd is stopped; nothing else may have the table open. cfg->vfs is
 * ignored (a read-only layer is used). A refusal of the table key is returned
 * as the provider's COFFER_E_KMS_* code (or COFFER_E_UNAVAILABLE). */

struct coffer_verify_result {
	uint64_t files;    /* files looked at */
	uint64_t blocks;   /* blocks, groups and metadata blocks that authenticated */
	uint64_t problems; /* problems reported */
};
/* One finding: `problem` false for a note (e.g. a torn tail recovery will
 * drop). `file` is a path; `msg` names the block, never a value. Both are
 * valid only during the call. */
typedef void (*coffer_verify_fn)(void *arg, bool problem, const char *file, const char *msg);

/* Checks the key registry (every record authenticated), the manifest, every
 * SSTable (header, footer, statistics, bloom filter, index, then each data
 * block's tag, compression, entries and order), every commit-log segment
 * (each group's length, sequence and tag) and that the registry holds a key
 * for every live file. Each problem goes to fn and the check goes on; the
 * call returns OK when it ran, whatever it found (out->problems says). */
COFFER_RESULT coffer_storage_verify(const struct coffer_storage_config *cfg,
				    const struct coffer_table_desc *desc, coffer_verify_fn fn,
				    void *arg, struct coffer_verify_result *out);

enum coffer_dump_kind {
	COFFER_DUMP_PARTITION_DELETE,
	COFFER_DUMP_RANGE_DELETE,
	COFFER_DUMP_ROW_DELETE,
	COFFER_DUMP_ROW_MARKER,
	COFFER_DUMP_STATIC_CELL,
	COFFER_DUMP_CELL,
};

/* One decoded entry; slices borrow the decrypted block and are valid only
 * during the callback. */
struct coffer_dump_entry {
	uint64_t block;                    /* SSTable data block or commit-log group */
	enum coffer_dump_kind kind;
	int64_t token;
	struct coffer_slice partition_key; /* serialised (coffer_partition_key_encode) */
	struct coffer_slice ck[COFFER_MAX_CLUSTERING]; /* clustering; range: start bound */
	size_t n_ck;
	struct coffer_slice end_ck[COFFER_MAX_CLUSTERING]; /* range deletions: end bound */
	size_t n_end_ck;
	bool start_inclusive, end_inclusive;
	uint32_t column;                   /* cells: the caller's column id */
	int64_t ts;                        /* write timestamp, µs */
	bool tombstone, expiring;
	uint32_t ttl;                      /* seconds, expiring cells */
	int64_t ldt_us;                    /* deletion time or expiry, µs; 0 if neither */
	struct coffer_slice value;         /* cells */
};
/* false stops the dump. */
typedef bool (*coffer_dump_fn)(void *arg, const struct coffer_dump_entry *e);

/* Decodes one file of the table, named as in its directory ("SST-<id>.db" or
 * "CL-<id>.log"), entry by entry into fn, authenticating each block before
 * any of its entries is passed on. The first problem stops it with
 * COFFER_E_CORRUPT naming the file and block. */
COFFER_RESULT coffer_storage_dump(const struct coffer_storage_config *cfg,
				  const struct coffer_table_desc *desc, const char *file_name,
				  coffer_dump_fn fn, void *arg);

/* The key registry's summary (table key version, KMS key ARN, data keys),
 * read-only; the table key is unwrapped to authenticate the registry. */
struct coffer_keyring_info;
COFFER_RESULT coffer_storage_key_info(const struct coffer_storage_config *cfg,
				      const struct coffer_table_desc *desc,
				      struct coffer_keyring_info *out);

#endif
