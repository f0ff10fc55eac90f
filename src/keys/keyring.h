/*
 * keyring.h - a table's keyring: its table key and key registry
 * (DESIGN.md section 2).
 *
 *   KMS key ──GenerateDataKey(ctx)──► TK_n ──wraps──► TK_0..TK_n-1
 *                                       └───wraps──► data key of every live file
 *
 * The registry lives in the table's directory (file "keys.reg") next to the data
 * it protects. It holds the KMS ciphertext of the current table key TK_n and
 * the ARN of the KMS key that protects it, the previous table keys wrapped
 * under TK_n, and every live data key wrapped under TK_n. The encryption
 * context of the table key is
 *   {"coffer:keyspace": ks, "coffer:table": table, "coffer:table-id": uuid}.
 *
 * Cost: adding or deleting a data key appends one authenticated record
 * (O(change)); the file is rewritten only by compaction of dead records and by
 * a key change, each as a new generation written in full and switched to with
 * an atomic rename.
 *
 * Thread-safety: all functions may be called from any thread; a keyring has
 * one mutex, so a key change blocks only new-data-key and unwrap calls for the
 * time of a registry rewrite, never reads of already-open files.
 */
#ifndef COFFER_KEYS_KEYRING_H
#define COFFER_KEYS_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "keys/cache.h"
#include "keys/provider.h"
#include "keys/vfs.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

#define COFFER_KEYRING_FILE "keys.reg"
#define COFFER_TABLE_ID_LEN 36 /* uuid text */

/* What a data key protects; bound into its wrapping AAD. */
enum coffer_key_purpose {
	COFFER_KEY_PURPOSE_COMMITLOG = 1,
	COFFER_KEY_PURPOSE_SSTABLE = 2,
	COFFER_KEY_PURPOSE_MANIFEST = 3,
	COFFER_KEY_PURPOSE_BACKUP = 4, /* the backup journal (PITR); retained files keep their own */
};

struct coffer_keyring_config {
	struct coffer_vfs *vfs;              /* NULL: POSIX */
	const char *dir;                     /* the table's directory (exists) */
	const char *table_id;                /* 36-char uuid text */
	const char *keyspace;
	const char *table;
	struct coffer_key_provider *provider; /* borrowed */
	struct coffer_key_cache *cache;      /* borrowed; shared by all tables */
	const struct coffer_clock *clock;    /* NULL: system */
	const struct coffer_log *log;        /* NULL: discard */
	struct coffer_key_grants grants;     /* copied */
	bool no_fsync;                       /* tests on throwaway dirs only */
	/* How long a successful liveness check stays good before the next
	 * coffer_keyring_check() consults the cache again (0: 1 second). */
	int64_t check_interval_us;
	/* Notification hook (issue 6): called, outside the keyring's lock, each
	 * time coffer_keyring_check() finds the table key's accessibility changed:
	 * rc is COFFER_OK when access returned, else the provider's error (the
	 * thread's error message says which key and why). May be NULL. */
	void (*on_key_state)(void *arg, const char *table_id, coffer_rc rc);
	void *on_key_state_arg;
};

struct coffer_keyring;

/* One KMS call made by a keyring (coffer_keyring_kms_stats). */
struct coffer_keyring_kms_call {
	int64_t time_us;                  /* wall clock; 0: none known */
	enum coffer_key_provider_op op;
	char result[48];                  /* "Success" or the error's name */
};

/* A new table: asks the provider for a table key under `kms_key_ref` with the
 * table's context and writes generation 1 of the registry. Fails with
 * COFFER_E_EXISTS if a registry is there already. */
COFFER_RESULT coffer_keyring_create(const struct coffer_keyring_config *cfg,
				    const char *kms_key_ref, struct coffer_keyring **out);
/* An existing table: reads the registry, gets the table key (cache or
 * Decrypt), and authenticates every record. A torn last record is dropped
 * (and truncated away); any other bad record is COFFER_E_CORRUPT naming the
 * file and record. A KMS refusal is returned as its COFFER_E_KMS_* code. */
COFFER_RESULT coffer_keyring_open(const struct coffer_keyring_config *cfg,
				  struct coffer_keyring **out);
void coffer_keyring_close(struct coffer_keyring *kr);

/* The hot-path liveness check: OK while the table key is cached (touching its
 * idle timer at most once per check interval); otherwise Decrypt through the
 * provider, returning its error if refused. No KMS call while cached. */
COFFER_RESULT coffer_keyring_check(struct coffer_keyring *kr);
/* Whether coffer_keyring_check would answer OK at once, from its last good
 * check within the interval: no lock, no cache and no KMS call. A caller
 * that must not block (the event loop) runs the write elsewhere when false. */
bool coffer_keyring_fresh(struct coffer_keyring *kr);

/* A fresh random data key for file `file_id`, wrapped under TK_n and appended
 * durably to the registry before it is returned (the caller owns `key`). */
COFFER_RESULT coffer_keyring_new_data_key(struct coffer_keyring *kr, uint64_t file_id,
					  enum coffer_key_purpose purpose,
					  struct coffer_secret *key);
/* Unwraps the data key of `file_id`. No entry, or a wrong purpose:
 * COFFER_E_CORRUPT naming the file id (a file that does not belong here). */
COFFER_RESULT coffer_keyring_data_key(struct coffer_keyring *kr, uint64_t file_id,
				      enum coffer_key_purpose purpose, struct coffer_secret *key);
bool coffer_keyring_has_data_key(struct coffer_keyring *kr, uint64_t file_id);
/* Destroys a data key (appends a deletion record). Unknown ids are ignored. */
COFFER_RESULT coffer_keyring_delete_data_key(struct coffer_keyring *kr, uint64_t file_id);
/* Keeps only the data keys of the given files (recovery drops keys of files
 * that never committed). */
COFFER_RESULT coffer_keyring_retain(struct coffer_keyring *kr, const uint64_t *live, size_t n);

/* Online key change (DESIGN.md rule 5): a new table key TK_n+1 from
 * `new_kms_key_ref`; every live data key and every previous table key
 * re-wrapped under it; TK_n wrapped under it too. Writes the new registry
 * generation in full, then renames it over the old: a crash leaves either
 * generation, each complete. No data file is touched. */
COFFER_RESULT coffer_keyring_change_key(struct coffer_keyring *kr, const char *new_kms_key_ref);
/* Re-validation (rule 6 for busy tables): while the table key is cached and
 * in use it would never be asked of the KMS again, so a revoked grant or a
 * key policy that stopped allowing coffer would go unnoticed. When the last
 * KMS answer for TK_n is at least `max_age_us` old this asks the KMS again
 * (Decrypt of TK_n's blob with the keyring's grant tokens), without touching
 * the cache (an idle key still expires), and returns its refusal if any.
 * With the health check calling it every interval and max_age_us the cache's
 * idle period, a busy table costs at most one Decrypt per idle period. */
COFFER_RESULT coffer_keyring_revalidate(struct coffer_keyring *kr, int64_t max_age_us);

/* KMS calls made by the keyring (Decrypt, GenerateDataKey), counted since
 * it was opened, and the last one. The last successful call is also kept in
 * the registry (a KMS-call record appended with the table key at hand), so
 * an offline reader sees it after a restart: coffer_keyring_last_kms_call
 * returns the newer of the one in memory and the one read at open. */
struct coffer_keyring_kms_stats {
	uint64_t calls[COFFER_KEY_OP_COUNT];
	struct coffer_keyring_kms_call last;
};
void coffer_keyring_kms_stats(struct coffer_keyring *kr, struct coffer_keyring_kms_stats *out);
/* False if no KMS call is known for this registry. */
bool coffer_keyring_last_kms_call(struct coffer_keyring *kr, struct coffer_keyring_kms_call *out);

/* Replaces the grant tokens sent with the keyring's KMS calls (copied): an
 * ALTER TABLE that moves the table to a key with new grants sets them just
 * before coffer_keyring_change_key. */
void coffer_keyring_set_grants(struct coffer_keyring *kr, const struct coffer_key_grants *grants);
/* Rewrites the registry without dead records (same table key). */
COFFER_RESULT coffer_keyring_compact(struct coffer_keyring *kr);

/* Unwraps table key version `version` (current or previous) into `out`. */
COFFER_RESULT coffer_keyring_table_key(struct coffer_keyring *kr, uint32_t version,
				       struct coffer_secret *out);


struct coffer_keyring_info {
	uint32_t version;                 /* n of the current TK_n */
	char kms_key_arn[COFFER_KEY_ARN_MAX];
	size_t data_keys;                 /* live wrapped data keys */
	size_t previous_keys;             /* wrapped TK_0..TK_n-1 */
	uint64_t generation;              /* registry file generation */
	uint64_t records;                 /* records in the current generation */
	/* The newest KMS call recorded in the registry (time 0: none), what an
	 * offline reader shows as the table's last KMS call: the registry is
	 * appended to only by the process serving the table (its Decrypt and
	 * GenerateDataKey calls after open), never by opening it. */
	struct coffer_keyring_kms_call recorded_kms_call;
};
void coffer_keyring_info(struct coffer_keyring *kr, struct coffer_keyring_info *out);
/* The table key version that wraps `file_id`'s data key, 0 if none. */
uint32_t coffer_keyring_data_key_version(struct coffer_keyring *kr, uint64_t file_id);

/* Copies the registry file, as stored (still encrypted), to `dst_path`
 * durably; backups carry it with the files they protect. */
COFFER_RESULT coffer_keyring_export(struct coffer_keyring *kr, const char *dst_path);

/* Crypto-shredding for DROP TABLE: overwrites and deletes the registry, wipes
 * the cached table key, and closes the keyring (kr is freed either way). */
COFFER_RESULT coffer_keyring_destroy(struct coffer_keyring *kr);

/* Crypto-shredding of a table whose registry is not open and whose table
 * key may be refused (purge of a retired table, PITR): overwrites
 * <dir>/keys.reg with zeros, fsyncs, unlinks it and drops the table's cached
 * keys. No KMS call. A missing registry is OK. vfs NULL: POSIX. */
COFFER_RESULT coffer_keyring_shred(struct coffer_vfs *vfs, const char *dir,
				   struct coffer_key_cache *cache, const char *table_id);

#endif
