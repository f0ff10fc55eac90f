/*
 * keyring.c - the table key registry (keyring.h).
 *
 * File "keys.reg" = one header then appended records. Integers big-endian.
 *
 *   OFFSET  SIZE  MEANING
 *   0       4     header length H (bytes from offset 4 to the header MAC)
 *   4       8     magic "CFKEYREG"
 *   12      1     format version (1)
 *   13      36    table id (uuid text)
 *   49      8     generation g (u64; +1 per rewrite)
 *   57      4     current table key version n (u32)
 *   61      var   varint length + KMS key ARN protecting TK_n
 *   ..      var   varint length + KMS ciphertext blob of TK_n
 *   ..      var   varint count of previous table keys, each:
 *                   u32 version | varint len + KMS ARN | 12 nonce | 32 wrapped | 16 tag
 *                 (AES-256-GCM under TK_n; AAD = "coffer:tk" | table id | u32 version)
 *   4+H     32    SHA-256(bytes 4 .. 4+H): damage is reported as corruption of this
 *                 file before the KMS is asked about a garbled blob
 *   36+H    32    HMAC-SHA256(M, bytes 4 .. 4+H): tampering
 *   then records until end of file, each:
 *   +0      4     record length L (type + payload)
 *   +4      4     L xor 0xFFFFFFFF (a damaged length is corruption, not a torn tail)
 *   +8      1     type: 1 ADD data key, 2 DELETE data key
 *   +9      L-1   payload
 *             ADD:  u64 file id | u8 purpose | u32 tk version | 12 nonce | 32 wrapped | 16 tag
 *                   (AES-256-GCM under TK_n; AAD = "coffer:dk" | table id | u64 file id |
 *                    u8 purpose | u32 tk version)
 *             DEL:  u64 file id
 *             KMS (type 16): u64 wall-clock us | u8 provider op | varint len +
 *                   result name ("Success"): the keyring's last successful KMS
 *                   call, appended after it; each one makes the previous dead
 *   +8+L    32    HMAC-SHA256(M, u64 g | u64 record index | type | payload)
 *
 * M = HKDF-SHA256(TK_n, salt = table id, info = "coffer registry mac"). A
 * record's MAC binds its generation and index, so a record cannot be dropped
 * from the middle, reordered, or carried over from another generation or table.
 *
 * Invariants:
 *  1. The registry on disk is always one complete generation plus a prefix of
 *     its records; a torn last record is the only damage dropped silently
 *     (it was never acknowledged: appends return after fsync).
 *  2. A data key is appended (durably) before any byte it encrypts is written.
 *  3. Rewrites (compaction, key change) go to "keys.reg.tmp", are fsynced and
 *     renamed over "keys.reg", then the directory is fsynced; the in-memory
 *     state switches only after the rename succeeded.
 *  4. Plaintext table and data keys exist only in struct coffer_secret (and in
 *     OpenSSL's key schedule inside one AEAD call); stack temporaries are wiped.
 *
 * States of a keyring:
 *
 *   create/open ──► OPEN ──change_key──► (writing gen g+1) ──rename──► OPEN (TK_n+1)
 *                    │                         │ failure: gen g stays, OPEN (TK_n)
 *                    └──destroy──► SHREDDED (registry overwritten and unlinked)
 */
#include "keys/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/bytes.h"
#include "util/fs.h"

#define MAGIC "CFKEYREG"
#define FORMAT 1
#define MAC_BYTES 32
#define WRAP_BYTES (COFFER_AEAD_NONCE_BYTES + COFFER_KEY_BYTES + COFFER_AEAD_TAG_BYTES)
#define REC_ADD 1
#define REC_DEL 2
#define REC_KMS 16 /* far from 1, 2: other record types may be added below it */
#define MAX_REGISTRY (256u << 20)

struct wrapped {
	uint8_t nonce[COFFER_AEAD_NONCE_BYTES];
	uint8_t ct[COFFER_KEY_BYTES];
	uint8_t tag[COFFER_AEAD_TAG_BYTES];
};

struct data_key {
	uint64_t file_id;
	uint8_t purpose;
	uint32_t version;
	struct wrapped w;
};

struct prev_key {
	uint32_t version;
	char *arn;
	struct wrapped w;
};

struct coffer_keyring {
	pthread_mutex_t mu;
	struct coffer_vfs *vfs;
	char *dir;
	char *path;
	char table_id[COFFER_TABLE_ID_LEN + 1];
	char *keyspace;
	char *table;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	const struct coffer_clock *clock;
	const struct coffer_log *log;
	char **grant_tokens;
	size_t n_grant_tokens;
	bool no_fsync;
	int64_t check_interval_us;
	int64_t last_ok_us; /* atomic; mono time of the last good check */
	coffer_rc key_state; /* last result of check(), for on_key_state */
	void (*on_key_state)(void *arg, const char *table_id, coffer_rc rc);
	void *on_key_state_arg;

	/* current generation */
	uint64_t generation;
	uint32_t version;
	char arn[COFFER_KEY_ARN_MAX];
	struct coffer_buf blob;
	struct prev_key *prev;
	size_t n_prev;
	struct data_key *keys;
	size_t n_keys, cap_keys;
	uint64_t records; /* records appended in this generation */
	uint64_t dead;    /* records that no longer describe a live key */
	int fd;           /* open for appends */
	uint64_t end;     /* append offset */

	/* KMS calls (coffer_keyring_kms_stats) */
	int64_t verified_us;                     /* mono: last KMS Decrypt/Generate OK */
	uint64_t kms_calls[COFFER_KEY_OP_COUNT];
	struct coffer_keyring_kms_call last_call; /* newest known (memory or disk) */
	struct coffer_keyring_kms_call disk_call; /* newest in the registry */
	bool last_unsaved;                       /* last_call succeeded, not yet appended */
	bool kms_record;                         /* this generation holds a KMS record */
};

/* ---- small helpers ------------------------------------------------------- */

/* For cleanup calls whose failure the caller already reports otherwise. */
static void ignore(coffer_rc rc)
{
	(void)rc;
}

static void context_of(const struct coffer_keyring *kr, struct coffer_key_context_pair pairs[3],
		       struct coffer_key_context *ctx)
{
	pairs[0].key = "coffer:keyspace";
	pairs[0].value = kr->keyspace;
	pairs[1].key = "coffer:table";
	pairs[1].value = kr->table;
	pairs[2].key = "coffer:table-id";
	pairs[2].value = kr->table_id;
	ctx->pairs = pairs;
	ctx->n = 3;
}

static struct coffer_key_grants grants_of(const struct coffer_keyring *kr)
{
	struct coffer_key_grants g = {(const char *const *)kr->grant_tokens, kr->n_grant_tokens};
	return g;
}

static void mac_key(const struct coffer_keyring *kr, const struct coffer_secret *tk,
		    struct coffer_secret *m)
{
	static const char info[] = "coffer registry mac";
	coffer_secret_alloc(m, MAC_BYTES);
	if (coffer_hkdf_sha256(tk->ptr, tk->len, kr->table_id, COFFER_TABLE_ID_LEN, info,
			       sizeof(info) - 1, m->ptr, MAC_BYTES) != COFFER_OK)
		abort(); /* HKDF of fixed sizes cannot fail short of a broken libcrypto */
}

static void dk_aad(const struct coffer_keyring *kr, uint64_t file_id, uint8_t purpose,
		   uint32_t version, struct coffer_buf *aad)
{
	coffer_buf_put(aad, "coffer:dk", 9);
	coffer_buf_put(aad, kr->table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u64(aad, file_id);
	coffer_buf_put_u8(aad, purpose);
	coffer_buf_put_u32(aad, version);
}

static void tk_aad(const struct coffer_keyring *kr, uint32_t version, struct coffer_buf *aad)
{
	coffer_buf_put(aad, "coffer:tk", 9);
	coffer_buf_put(aad, kr->table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u32(aad, version);
}

static coffer_rc wrap(const struct coffer_secret *kek, struct coffer_slice aad,
		      const struct coffer_secret *key, struct wrapped *w)
{
	TRY(coffer_random_bytes(w->nonce, sizeof(w->nonce)));
	return coffer_aead_seal(kek->ptr, w->nonce, aad, coffer_slice_of(key->ptr, key->len), w->ct,
				w->tag);
}

static coffer_rc unwrap(const struct coffer_secret *kek, struct coffer_slice aad,
			const struct wrapped *w, struct coffer_secret *key, const char *what,
			const char *path)
{
	coffer_secret_alloc(key, COFFER_KEY_BYTES);
	coffer_rc rc = coffer_aead_open(kek->ptr, w->nonce, aad,
					coffer_slice_of(w->ct, sizeof(w->ct)), w->tag, key->ptr);
	if (rc != COFFER_OK) {
		coffer_secret_free(key);
		BAIL(COFFER_E_CORRUPT, "%s: %s does not authenticate under the table key", path, what);
	}
	return COFFER_OK;
}

static struct data_key *find_key(struct coffer_keyring *kr, uint64_t file_id)
{
	for (size_t i = 0; i < kr->n_keys; i++)
		if (kr->keys[i].file_id == file_id)
			return &kr->keys[i];
	return NULL;
}

static void add_key(struct coffer_keyring *kr, const struct data_key *k)
{
	struct data_key *old = find_key(kr, k->file_id);
	if (old) {
		*old = *k;
		kr->dead++;
		return;
	}
	if (kr->n_keys == kr->cap_keys) {
		kr->cap_keys = kr->cap_keys ? kr->cap_keys * 2 : 16;
		kr->keys = coffer_xrealloc(kr->keys, kr->cap_keys * sizeof(*kr->keys));
	}
	kr->keys[kr->n_keys++] = *k;
}

static bool del_key(struct coffer_keyring *kr, uint64_t file_id)
{
	struct data_key *k = find_key(kr, file_id);
	if (!k)
		return false;
	*k = kr->keys[--kr->n_keys];
	return true;
}

/* ---- the table key ------------------------------------------------------- */

static coffer_rc append_record(struct coffer_keyring *kr, const struct coffer_secret *tk,
			       uint8_t type, struct coffer_slice payload);

/* Counts a KMS call; caller holds mu (or owns kr alone). */
static void kms_note(struct coffer_keyring *kr, enum coffer_key_provider_op op, coffer_rc rc)
{
	kr->kms_calls[op]++;
	kr->last_call.time_us = coffer_clock_now_us(kr->clock);
	kr->last_call.op = op;
	snprintf(kr->last_call.result, sizeof(kr->last_call.result), "%s",
		 rc == COFFER_OK ? "Success" : coffer_rc_name(rc));
	kr->last_unsaved = rc == COFFER_OK;
	if (rc == COFFER_OK)
		kr->verified_us = coffer_clock_mono_us(kr->clock);
}

static void kms_payload(const struct coffer_keyring *kr, struct coffer_buf *p)
{
	coffer_buf_put_u64(p, (uint64_t)kr->last_call.time_us);
	coffer_buf_put_u8(p, (uint8_t)kr->last_call.op);
	coffer_buf_put_lenbytes(p, kr->last_call.result, strlen(kr->last_call.result));
}

/* Appends the last call if it is not on disk yet (needs TK_n for the MAC and
 * the registry open for appends). A failure only costs the record: logged. */
static void kms_persist(struct coffer_keyring *kr, const struct coffer_secret *tk)
{
	if (!kr->last_unsaved || kr->fd < 0)
		return;
	struct coffer_buf p = {0};
	kms_payload(kr, &p);
	coffer_rc rc = append_record(kr, tk, REC_KMS, coffer_buf_slice(&p));
	coffer_buf_free(&p);
	if (rc != COFFER_OK) {
		coffer_log_warn(kr->log, "keys", "%s: recording the last KMS call: %s", kr->path,
				coffer_error_msg());
		return;
	}
	if (kr->kms_record)
		kr->dead++;
	kr->kms_record = true;
	kr->last_unsaved = false;
	kr->disk_call = kr->last_call;
}

/* Decrypt of TK_n's blob through the provider (no cache). Caller holds mu. */
static coffer_rc kms_decrypt_tk(struct coffer_keyring *kr, struct coffer_secret *tk)
{
	struct coffer_key_context_pair pairs[3];
	struct coffer_key_context ctx;
	struct coffer_key_grants g = grants_of(kr);
	char arn[COFFER_KEY_ARN_MAX];
	context_of(kr, pairs, &ctx);
	coffer_rc rc = coffer_key_provider_decrypt(kr->provider, coffer_buf_slice(&kr->blob), &ctx,
						   kr->arn, &g, tk, arn);
	kms_note(kr, COFFER_KEY_OP_DECRYPT, rc);
	if (rc != COFFER_OK)
		return coffer_error_wrap("table %s.%s (%s): table key under %s", kr->keyspace,
					 kr->table, kr->table_id, kr->arn);
	return COFFER_OK;
}

/* TK_n from the cache, or from the provider (then cached). Caller holds mu. */
static coffer_rc current_tk(struct coffer_keyring *kr, struct coffer_secret *tk)
{
	if (coffer_key_cache_get(kr->cache, kr->table_id, kr->version, tk))
		return COFFER_OK;
	TRY(kms_decrypt_tk(kr, tk));
	coffer_key_cache_put(kr->cache, kr->table_id, kr->version, tk);
	kms_persist(kr, tk);
	return COFFER_OK;
}

/* ---- encoding ------------------------------------------------------------ */

static void put_wrapped(struct coffer_buf *b, const struct wrapped *w)
{
	coffer_buf_put(b, w->nonce, sizeof(w->nonce));
	coffer_buf_put(b, w->ct, sizeof(w->ct));
	coffer_buf_put(b, w->tag, sizeof(w->tag));
}

static coffer_rc get_wrapped(struct coffer_reader *r, struct wrapped *w)
{
	TRY(coffer_reader_copy(r, w->nonce, sizeof(w->nonce)));
	TRY(coffer_reader_copy(r, w->ct, sizeof(w->ct)));
	return coffer_reader_copy(r, w->tag, sizeof(w->tag));
}

/* Header for generation `gen` of the given state, MAC'd with key m. */
static void encode_header(const struct coffer_keyring *kr, uint64_t gen, uint32_t version,
			  const char *arn, struct coffer_slice blob, const struct prev_key *prev,
			  size_t n_prev, const struct coffer_secret *m, struct coffer_buf *out)
{
	size_t start = out->len;
	coffer_buf_put_u32(out, 0);
	coffer_buf_put(out, MAGIC, 8);
	coffer_buf_put_u8(out, FORMAT);
	coffer_buf_put(out, kr->table_id, COFFER_TABLE_ID_LEN);
	coffer_buf_put_u64(out, gen);
	coffer_buf_put_u32(out, version);
	coffer_buf_put_str(out, arn);
	coffer_buf_put_lenbytes(out, blob.ptr, blob.len);
	coffer_buf_put_varint(out, n_prev);
	for (size_t i = 0; i < n_prev; i++) {
		coffer_buf_put_u32(out, prev[i].version);
		coffer_buf_put_str(out, prev[i].arn);
		put_wrapped(out, &prev[i].w);
	}
	size_t h = out->len - start - 4;
	coffer_buf_patch_u32(out, start, (uint32_t)h);
	uint8_t *sum = coffer_buf_extend(out, COFFER_SHA256_BYTES);
	coffer_sha256(out->ptr + start + 4, h, sum);
	uint8_t *mac = coffer_buf_extend(out, MAC_BYTES);
	coffer_hmac_sha256(m->ptr, m->len, out->ptr + start + 4, h, mac);
}

static void encode_record(uint64_t gen, uint64_t index, uint8_t type, struct coffer_slice payload,
			  const struct coffer_secret *m, struct coffer_buf *out)
{
	struct coffer_buf macin = {0};
	coffer_buf_put_u64(&macin, gen);
	coffer_buf_put_u64(&macin, index);
	coffer_buf_put_u8(&macin, type);
	coffer_buf_put(&macin, payload.ptr, payload.len);
	coffer_buf_put_u32(out, (uint32_t)(payload.len + 1));
	coffer_buf_put_u32(out, ~(uint32_t)(payload.len + 1));
	coffer_buf_put_u8(out, type);
	coffer_buf_put(out, payload.ptr, payload.len);
	uint8_t *mac = coffer_buf_extend(out, MAC_BYTES);
	coffer_hmac_sha256(m->ptr, m->len, macin.ptr, macin.len, mac);
	coffer_buf_free(&macin);
}

static void add_payload(const struct data_key *k, struct coffer_buf *p)
{
	coffer_buf_put_u64(p, k->file_id);
	coffer_buf_put_u8(p, k->purpose);
	coffer_buf_put_u32(p, k->version);
	put_wrapped(p, &k->w);
}

/* ---- append -------------------------------------------------------------- */

static coffer_rc append_record(struct coffer_keyring *kr, const struct coffer_secret *tk,
			       uint8_t type, struct coffer_slice payload)
{
	struct coffer_secret m;
	struct coffer_buf rec = {0};
	coffer_rc rc = COFFER_OK;
	mac_key(kr, tk, &m);
	encode_record(kr->generation, kr->records, type, payload, &m, &rec);
	coffer_secret_free(&m);
	TRY_FAIL(coffer_vfs_pwrite_full(kr->vfs, kr->fd, rec.ptr, rec.len, (off_t)kr->end, kr->path));
	if (!kr->no_fsync)
		TRY_FAIL(coffer_vfs_fsync(kr->vfs, kr->fd, kr->path));
	kr->end += rec.len;
	kr->records++;
	coffer_buf_free(&rec);
	return COFFER_OK;
fail:
	/* The record may be partly on disk; cut it off so the next append does not
	 * land after garbage (invariant 1). If even that fails, the next open
	 * treats it as a torn tail. */
	ignore(coffer_vfs_ftruncate(kr->vfs, kr->fd, (off_t)kr->end, kr->path));
	coffer_buf_free(&rec);
	return rc;
}

/* ---- whole-generation writes --------------------------------------------- */

/* Writes generation `gen` with the given table key state and data keys to
 * keys.reg.tmp, then renames it into place (invariant 3). On success the
 * appending fd points at the new file. */
static coffer_rc write_generation(struct coffer_keyring *kr, uint64_t gen, uint32_t version,
				  const char *arn, struct coffer_slice blob,
				  const struct prev_key *prev, size_t n_prev,
				  const struct data_key *keys, size_t n_keys,
				  const struct coffer_secret *tk)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret m;
	struct coffer_buf out = {0}, payload = {0};
	char *tmp = coffer_xasprintf("%s.tmp", kr->path);
	int fd = -1;
	mac_key(kr, tk, &m);
	encode_header(kr, gen, version, arn, blob, prev, n_prev, &m, &out);
	for (size_t i = 0; i < n_keys; i++) {
		coffer_buf_reset(&payload);
		add_payload(&keys[i], &payload);
		encode_record(gen, i, REC_ADD, coffer_buf_slice(&payload), &m, &out);
	}
	/* The last KMS call moves into the new generation. */
	bool kms = kr->last_call.time_us != 0;
	if (kms) {
		coffer_buf_reset(&payload);
		kms_payload(kr, &payload);
		encode_record(gen, n_keys, REC_KMS, coffer_buf_slice(&payload), &m, &out);
	}
	coffer_secret_free(&m);
	TRY_FAIL(coffer_vfs_open(kr->vfs, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600, &fd));
	TRY_FAIL(coffer_vfs_pwrite_full(kr->vfs, fd, out.ptr, out.len, 0, tmp));
	if (!kr->no_fsync)
		TRY_FAIL(coffer_vfs_fsync(kr->vfs, fd, tmp));
	TRY_FAIL(coffer_vfs_rename(kr->vfs, tmp, kr->path));
	if (!kr->no_fsync)
		TRY_FAIL(coffer_vfs_sync_dir(kr->vfs, kr->dir));
	coffer_vfs_close(kr->vfs, kr->fd);
	kr->fd = fd;
	kr->end = out.len;
	kr->records = n_keys + (kms ? 1 : 0);
	kr->dead = 0;
	kr->kms_record = kms;
	kr->last_unsaved = false;
	if (kms)
		kr->disk_call = kr->last_call;
	kr->generation = gen;
	coffer_buf_free(&out);
	coffer_buf_free(&payload);
	free(tmp);
	return COFFER_OK;
fail:
	coffer_vfs_close(kr->vfs, fd);
	ignore(coffer_vfs_unlink(kr->vfs, tmp));
	coffer_buf_free(&out);
	coffer_buf_free(&payload);
	free(tmp);
	return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void free_grants(struct coffer_keyring *kr)
{
	for (size_t i = 0; i < kr->n_grant_tokens; i++)
		free(kr->grant_tokens[i]);
	free(kr->grant_tokens);
	kr->grant_tokens = NULL;
	kr->n_grant_tokens = 0;
}

/* Caller holds mu (or owns kr alone). */
static void copy_grants(struct coffer_keyring *kr, const struct coffer_key_grants *g)
{
	free_grants(kr);
	kr->n_grant_tokens = g->n;
	if (g->n) {
		kr->grant_tokens = coffer_xcalloc(g->n, sizeof(char *));
		for (size_t i = 0; i < g->n; i++)
			kr->grant_tokens[i] = coffer_xstrdup(g->tokens[i]);
	}
}

void coffer_keyring_set_grants(struct coffer_keyring *kr, const struct coffer_key_grants *grants)
{
	pthread_mutex_lock(&kr->mu);
	copy_grants(kr, grants);
	pthread_mutex_unlock(&kr->mu);
}

static struct coffer_keyring *alloc_keyring(const struct coffer_keyring_config *cfg)
{
	struct coffer_keyring *kr = COFFER_NEW(struct coffer_keyring);
	pthread_mutex_init(&kr->mu, NULL);
	kr->vfs = cfg->vfs ? cfg->vfs : coffer_vfs_posix();
	kr->dir = coffer_xstrdup(cfg->dir);
	kr->path = coffer_path_join(cfg->dir, COFFER_KEYRING_FILE);
	snprintf(kr->table_id, sizeof(kr->table_id), "%s", cfg->table_id);
	kr->keyspace = coffer_xstrdup(cfg->keyspace);
	kr->table = coffer_xstrdup(cfg->table);
	kr->provider = cfg->provider;
	kr->cache = cfg->cache;
	kr->clock = cfg->clock ? cfg->clock : coffer_clock_system();
	kr->log = cfg->log ? cfg->log : coffer_log_null();
	kr->no_fsync = cfg->no_fsync;
	kr->check_interval_us = cfg->check_interval_us > 0 ? cfg->check_interval_us : COFFER_US_PER_SEC;
	kr->last_ok_us = INT64_MIN / 2;
	kr->on_key_state = cfg->on_key_state;
	kr->on_key_state_arg = cfg->on_key_state_arg;
	copy_grants(kr, &cfg->grants);
	kr->fd = -1;
	return kr;
}

static coffer_rc check_config(const struct coffer_keyring_config *cfg)
{
	ENSURE(cfg && cfg->dir && cfg->provider && cfg->cache && cfg->keyspace && cfg->table,
	       COFFER_E_INVALID, "keyring: incomplete configuration");
	ENSURE(cfg->table_id && strlen(cfg->table_id) == COFFER_TABLE_ID_LEN, COFFER_E_INVALID,
	       "keyring: table id must be a 36-character uuid");
	return COFFER_OK;
}

static void free_prev(struct prev_key *prev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(prev[i].arn);
	free(prev);
}

void coffer_keyring_close(struct coffer_keyring *kr)
{
	if (!kr)
		return;
	coffer_vfs_close(kr->vfs, kr->fd);
	free_prev(kr->prev, kr->n_prev);
	coffer_wipe(kr->keys, kr->cap_keys * sizeof(*kr->keys));
	free(kr->keys);
	coffer_buf_free(&kr->blob);
	free_grants(kr);
	free(kr->dir);
	free(kr->path);
	free(kr->keyspace);
	free(kr->table);
	pthread_mutex_destroy(&kr->mu);
	free(kr);
}

coffer_rc coffer_keyring_create(const struct coffer_keyring_config *cfg, const char *kms_key_ref,
				struct coffer_keyring **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	TRY(check_config(cfg));
	struct coffer_keyring *kr = alloc_keyring(cfg);
	ENSURE_FAIL(!coffer_fs_exists(kr->path), COFFER_E_EXISTS, "%s exists already", kr->path);
	struct coffer_key_context_pair pairs[3];
	struct coffer_key_context ctx;
	struct coffer_key_grants g = grants_of(kr);
	context_of(kr, pairs, &ctx);
	rc = coffer_key_provider_generate_data_key(kr->provider, kms_key_ref, &ctx, &g, &tk, &kr->blob,
						   kr->arn);
	kms_note(kr, COFFER_KEY_OP_GENERATE_DATA_KEY, rc);
	TRY_FAIL(rc);
	kr->version = 1;
	TRY_FAIL(write_generation(kr, 1, 1, kr->arn, coffer_buf_slice(&kr->blob), NULL, 0, NULL, 0,
				  &tk));
	coffer_key_cache_put(kr->cache, kr->table_id, kr->version, &tk);
	coffer_secret_free(&tk);
	coffer_log_info(kr->log, "keys", "table %s.%s (%s): table key v1 under %s", kr->keyspace,
			kr->table, kr->table_id, kr->arn);
	*out = kr;
	return COFFER_OK;
fail:
	coffer_secret_free(&tk);
	coffer_keyring_close(kr);
	return rc;
}

/* Parses the header: fills kr's generation, version, arn, blob, prev. Returns
 * in *mac_at the offset of the header MAC (after the checksum). */
static coffer_rc parse_header(struct coffer_keyring *kr, struct coffer_slice file, size_t *mac_at)
{
	struct coffer_reader r;
	uint32_t h;
	struct coffer_slice s;
	char *arn = NULL;
	coffer_reader_init(&r, file, kr->path);
	TRY(coffer_reader_u32(&r, &h));
	ENSURE(h <= file.len - 4 && file.len - 4 - h >= COFFER_SHA256_BYTES + MAC_BYTES,
	       COFFER_E_CORRUPT, "%s: header length %u beyond the file", kr->path, h);
	uint8_t sum[COFFER_SHA256_BYTES];
	coffer_sha256(file.ptr + 4, h, sum);
	ENSURE(memcmp(sum, file.ptr + 4 + h, sizeof(sum)) == 0, COFFER_E_CORRUPT,
	       "%s: header damaged (checksum mismatch)", kr->path);
	coffer_reader_init(&r, coffer_slice_of(file.ptr + 4, h), kr->path);
	TRY(coffer_reader_bytes(&r, 8, &s));
	ENSURE(memcmp(s.ptr, MAGIC, 8) == 0, COFFER_E_CORRUPT, "%s: not a key registry", kr->path);
	uint8_t format;
	TRY(coffer_reader_u8(&r, &format));
	ENSURE(format == FORMAT, COFFER_E_CORRUPT, "%s: unknown format %u", kr->path, format);
	TRY(coffer_reader_bytes(&r, COFFER_TABLE_ID_LEN, &s));
	ENSURE(memcmp(s.ptr, kr->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
	       "%s: registry of another table", kr->path);
	TRY(coffer_reader_u64(&r, &kr->generation));
	TRY(coffer_reader_u32(&r, &kr->version));
	TRY(coffer_reader_str(&r, COFFER_KEY_ARN_MAX - 1, &arn));
	snprintf(kr->arn, sizeof(kr->arn), "%s", arn);
	free(arn);
	TRY(coffer_reader_lenbytes(&r, COFFER_KEY_PROVIDER_MAX_BLOB, &s));
	coffer_buf_put(&kr->blob, s.ptr, s.len);
	uint64_t n;
	TRY(coffer_reader_varint(&r, &n));
	ENSURE(n < 1000000, COFFER_E_CORRUPT, "%s: %llu previous keys", kr->path,
	       (unsigned long long)n);
	kr->prev = coffer_xcalloc(n ? n : 1, sizeof(*kr->prev));
	for (size_t i = 0; i < n; i++) {
		TRY(coffer_reader_u32(&r, &kr->prev[i].version));
		TRY(coffer_reader_str(&r, COFFER_KEY_ARN_MAX - 1, &kr->prev[i].arn));
		kr->n_prev = i + 1;
		TRY(get_wrapped(&r, &kr->prev[i].w));
	}
	TRY(coffer_reader_end(&r));
	*mac_at = 4 + h + COFFER_SHA256_BYTES;
	return COFFER_OK;
}

static coffer_rc apply_record(struct coffer_keyring *kr, uint8_t type, struct coffer_slice payload,
			      uint64_t index)
{
	struct coffer_reader r;
	coffer_reader_init(&r, payload, kr->path);
	if (type == REC_ADD) {
		struct data_key k;
		TRY(coffer_reader_u64(&r, &k.file_id));
		TRY(coffer_reader_u8(&r, &k.purpose));
		TRY(coffer_reader_u32(&r, &k.version));
		TRY(get_wrapped(&r, &k.w));
		TRY(coffer_reader_end(&r));
		add_key(kr, &k);
	} else if (type == REC_DEL) {
		uint64_t id;
		TRY(coffer_reader_u64(&r, &id));
		TRY(coffer_reader_end(&r));
		if (del_key(kr, id))
			kr->dead++;
		kr->dead++;
	} else if (type == REC_KMS) {
		uint64_t t;
		uint8_t op;
		struct coffer_slice res;
		TRY(coffer_reader_u64(&r, &t));
		TRY(coffer_reader_u8(&r, &op));
		TRY(coffer_reader_lenbytes(&r, sizeof(kr->last_call.result) - 1, &res));
		TRY(coffer_reader_end(&r));
		ENSURE(op < COFFER_KEY_OP_COUNT, COFFER_E_CORRUPT, "%s: record %llu names KMS operation %u",
		       kr->path, (unsigned long long)index, op);
		if (kr->kms_record)
			kr->dead++;
		kr->kms_record = true;
		kr->disk_call.time_us = (int64_t)t;
		kr->disk_call.op = (enum coffer_key_provider_op)op;
		snprintf(kr->disk_call.result, sizeof(kr->disk_call.result), "%.*s", (int)res.len,
			 (const char *)res.ptr);
		/* The open's own Decrypt (noted before the records are read) is newer. */
		if (kr->disk_call.time_us > kr->last_call.time_us)
			kr->last_call = kr->disk_call;
	} else {
		BAIL(COFFER_E_CORRUPT, "%s: record %llu has unknown type %u", kr->path,
		     (unsigned long long)index, type);
	}
	return COFFER_OK;
}

coffer_rc coffer_keyring_open(const struct coffer_keyring_config *cfg, struct coffer_keyring **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf file = {0};
	struct coffer_secret tk = {0}, m = {0};
	TRY(check_config(cfg));
	struct coffer_keyring *kr = alloc_keyring(cfg);
	/* A leftover from a rewrite that did not reach its rename (invariant 3). */
	char *tmp = coffer_xasprintf("%s.tmp", kr->path);
	ignore(coffer_vfs_unlink(kr->vfs, tmp));
	free(tmp);

	TRY_FAIL(coffer_vfs_read_all(kr->vfs, kr->path, MAX_REGISTRY, &file));
	size_t off = 0;
	TRY_FAIL(parse_header(kr, coffer_buf_slice(&file), &off));
	TRY_FAIL(current_tk(kr, &tk));
	mac_key(kr, &tk, &m);
	uint8_t mac[MAC_BYTES];
	coffer_hmac_sha256(m.ptr, m.len, file.ptr + 4, off - 4 - COFFER_SHA256_BYTES, mac);
	ENSURE_FAIL(coffer_ct_equal(mac, file.ptr + off, MAC_BYTES), COFFER_E_CORRUPT,
		    "%s: header does not authenticate under the table key", kr->path);
	off += MAC_BYTES;

	struct coffer_buf macin = {0};
	while (off < file.len) {
		size_t left = file.len - off;
		uint32_t len = left >= 8 ? coffer_load_u32(file.ptr + off) : 0;
		if (left >= 8 && len != ~coffer_load_u32(file.ptr + off + 4)) {
			coffer_buf_free(&macin);
			BAIL_FAIL(COFFER_E_CORRUPT, "%s: record %llu (offset %zu) has a damaged length",
				  kr->path, (unsigned long long)kr->records, off);
		}
		bool torn = left < 8 || len == 0 || (uint64_t)len + 8 + MAC_BYTES > left;
		if (!torn) {
			coffer_buf_reset(&macin);
			coffer_buf_put_u64(&macin, kr->generation);
			coffer_buf_put_u64(&macin, kr->records);
			coffer_buf_put(&macin, file.ptr + off + 8, len);
			coffer_hmac_sha256(m.ptr, m.len, macin.ptr, macin.len, mac);
			if (!coffer_ct_equal(mac, file.ptr + off + 8 + len, MAC_BYTES)) {
				if (off + 8 + len + MAC_BYTES == file.len) {
					torn = true;
				} else {
					coffer_buf_free(&macin);
					BAIL_FAIL(COFFER_E_CORRUPT,
						  "%s: record %llu (offset %zu) does not authenticate",
						  kr->path, (unsigned long long)kr->records, off);
				}
			}
		}
		if (torn) {
			/* Invariant 1: the unacknowledged last append; cut it away. */
			coffer_log_warn(kr->log, "keys", "%s: dropping torn record at offset %zu",
					kr->path, off);
			break;
		}
		rc = apply_record(kr, file.ptr[off + 8],
				  coffer_slice_of(file.ptr + off + 9, len - 1), kr->records);
		if (rc != COFFER_OK) {
			coffer_buf_free(&macin);
			goto fail;
		}
		kr->records++;
		off += 8 + len + MAC_BYTES;
	}
	coffer_buf_free(&macin);
	TRY_FAIL(coffer_vfs_open(kr->vfs, kr->path, O_RDWR, 0600, &kr->fd));
	if (off < file.len)
		TRY_FAIL(coffer_vfs_ftruncate(kr->vfs, kr->fd, (off_t)off, kr->path));
	kr->end = off;
	coffer_secret_free(&m);
	coffer_secret_free(&tk);
	coffer_wipe(file.ptr, file.len);
	coffer_buf_free(&file);
	*out = kr;
	return COFFER_OK;
fail:
	coffer_secret_free(&m);
	coffer_secret_free(&tk);
	coffer_buf_free(&file);
	coffer_keyring_close(kr);
	return rc;
}

/* ---- operations ---------------------------------------------------------- */

bool coffer_keyring_fresh(struct coffer_keyring *kr)
{
	int64_t now = coffer_clock_mono_us(kr->clock);
	return now - __atomic_load_n(&kr->last_ok_us, __ATOMIC_RELAXED) < kr->check_interval_us;
}

coffer_rc coffer_keyring_check(struct coffer_keyring *kr)
{
	if (coffer_keyring_fresh(kr))
		return COFFER_OK;
	int64_t now = coffer_clock_mono_us(kr->clock);
	pthread_mutex_lock(&kr->mu);
	coffer_rc rc = COFFER_OK;
	if (!coffer_key_cache_touch(kr->cache, kr->table_id, kr->version)) {
		struct coffer_secret tk;
		rc = current_tk(kr, &tk);
		coffer_secret_free(&tk);
	}
	if (rc == COFFER_OK)
		__atomic_store_n(&kr->last_ok_us, now, __ATOMIC_RELAXED);
	bool changed = rc != kr->key_state;
	kr->key_state = rc;
	pthread_mutex_unlock(&kr->mu);
	if (changed && kr->on_key_state) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		kr->on_key_state(kr->on_key_state_arg, kr->table_id, rc);
		if (rc != COFFER_OK) /* the hook may have overwritten the detail */
			coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	}
	return rc;
}

coffer_rc coffer_keyring_new_data_key(struct coffer_keyring *kr, uint64_t file_id,
				      enum coffer_key_purpose purpose, struct coffer_secret *key)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	struct coffer_buf aad = {0}, payload = {0};
	key->ptr = NULL;
	key->len = 0;
	pthread_mutex_lock(&kr->mu);
	ENSURE_FAIL(!find_key(kr, file_id), COFFER_E_EXISTS, "%s: file %llu has a data key already",
		    kr->path, (unsigned long long)file_id);
	TRY_FAIL(current_tk(kr, &tk));
	coffer_secret_alloc(key, COFFER_KEY_BYTES);
	TRY_FAIL(coffer_random_bytes(key->ptr, key->len));
	struct data_key k = {.file_id = file_id, .purpose = (uint8_t)purpose, .version = kr->version};
	dk_aad(kr, file_id, k.purpose, k.version, &aad);
	TRY_FAIL(wrap(&tk, coffer_buf_slice(&aad), key, &k.w));
	add_payload(&k, &payload);
	TRY_FAIL(append_record(kr, &tk, REC_ADD, coffer_buf_slice(&payload)));
	add_key(kr, &k);
	goto out;
fail:
	coffer_secret_free(key);
out:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	coffer_buf_free(&aad);
	coffer_buf_free(&payload);
	return rc;
}

coffer_rc coffer_keyring_data_key(struct coffer_keyring *kr, uint64_t file_id,
				  enum coffer_key_purpose purpose, struct coffer_secret *key)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	struct coffer_buf aad = {0};
	key->ptr = NULL;
	key->len = 0;
	pthread_mutex_lock(&kr->mu);
	struct data_key *k = find_key(kr, file_id);
	ENSURE_FAIL(k && k->purpose == purpose, COFFER_E_CORRUPT,
		    "%s: no data key for file %llu: the file does not belong to table %s",
		    kr->path, (unsigned long long)file_id, kr->table_id);
	TRY_FAIL(current_tk(kr, &tk));
	dk_aad(kr, file_id, k->purpose, k->version, &aad);
	TRY_FAIL(unwrap(&tk, coffer_buf_slice(&aad), &k->w, key, "wrapped data key", kr->path));
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	coffer_buf_free(&aad);
	return rc;
}

bool coffer_keyring_has_data_key(struct coffer_keyring *kr, uint64_t file_id)
{
	pthread_mutex_lock(&kr->mu);
	bool has = find_key(kr, file_id) != NULL;
	pthread_mutex_unlock(&kr->mu);
	return has;
}

uint32_t coffer_keyring_data_key_version(struct coffer_keyring *kr, uint64_t file_id)
{
	pthread_mutex_lock(&kr->mu);
	struct data_key *k = find_key(kr, file_id);
	uint32_t v = k ? k->version : 0;
	pthread_mutex_unlock(&kr->mu);
	return v;
}

/* Compacts when dead records outnumber live keys (caller holds mu). */
static coffer_rc maybe_compact_locked(struct coffer_keyring *kr, const struct coffer_secret *tk)
{
	if (kr->dead < 64 || kr->dead < kr->n_keys)
		return COFFER_OK;
	return write_generation(kr, kr->generation + 1, kr->version, kr->arn,
				coffer_buf_slice(&kr->blob), kr->prev, kr->n_prev, kr->keys,
				kr->n_keys, tk);
}

static coffer_rc delete_locked(struct coffer_keyring *kr, const struct coffer_secret *tk,
			       uint64_t file_id)
{
	if (!find_key(kr, file_id))
		return COFFER_OK;
	uint8_t payload[8];
	coffer_store_u64(payload, file_id);
	TRY(append_record(kr, tk, REC_DEL, coffer_slice_of(payload, 8)));
	del_key(kr, file_id);
	kr->dead += 2;
	return COFFER_OK;
}

coffer_rc coffer_keyring_delete_data_key(struct coffer_keyring *kr, uint64_t file_id)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	pthread_mutex_lock(&kr->mu);
	if (!find_key(kr, file_id))
		goto fail;
	TRY_FAIL(current_tk(kr, &tk));
	TRY_FAIL(delete_locked(kr, &tk, file_id));
	TRY_FAIL(maybe_compact_locked(kr, &tk));
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	return rc;
}

coffer_rc coffer_keyring_retain(struct coffer_keyring *kr, const uint64_t *live, size_t n)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	pthread_mutex_lock(&kr->mu);
	for (size_t i = 0; i < kr->n_keys;) {
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = live[j] == kr->keys[i].file_id;
		if (keep) {
			i++;
			continue;
		}
		if (!tk.ptr)
			TRY_FAIL(current_tk(kr, &tk));
		coffer_log_info(kr->log, "keys", "%s: dropping data key of uncommitted file %llu",
				kr->path, (unsigned long long)kr->keys[i].file_id);
		TRY_FAIL(delete_locked(kr, &tk, kr->keys[i].file_id)); /* swaps in the last */
	}
	if (tk.ptr)
		TRY_FAIL(maybe_compact_locked(kr, &tk));
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	return rc;
}

coffer_rc coffer_keyring_compact(struct coffer_keyring *kr)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	pthread_mutex_lock(&kr->mu);
	TRY_FAIL(current_tk(kr, &tk));
	TRY_FAIL(write_generation(kr, kr->generation + 1, kr->version, kr->arn,
				  coffer_buf_slice(&kr->blob), kr->prev, kr->n_prev, kr->keys,
				  kr->n_keys, &tk));
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	return rc;
}

/* Unwraps a previous table key under TK_n (caller holds mu). */
static coffer_rc prev_tk(struct coffer_keyring *kr, const struct coffer_secret *tk,
			 const struct prev_key *p, struct coffer_secret *out)
{
	struct coffer_buf aad = {0};
	tk_aad(kr, p->version, &aad);
	coffer_rc rc = unwrap(tk, coffer_buf_slice(&aad), &p->w, out, "wrapped previous table key",
			      kr->path);
	coffer_buf_free(&aad);
	return rc;
}

coffer_rc coffer_keyring_table_key(struct coffer_keyring *kr, uint32_t version,
				   struct coffer_secret *out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	out->ptr = NULL;
	out->len = 0;
	pthread_mutex_lock(&kr->mu);
	TRY_FAIL(current_tk(kr, &tk));
	if (version == kr->version) {
		*out = tk;
		tk.ptr = NULL;
		tk.len = 0;
		goto fail;
	}
	for (size_t i = 0; i < kr->n_prev; i++)
		if (kr->prev[i].version == version) {
			TRY_FAIL(prev_tk(kr, &tk, &kr->prev[i], out));
			goto fail;
		}
	BAIL_FAIL(COFFER_E_NOT_FOUND, "%s: no table key version %u", kr->path, version);
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	return rc;
}

coffer_rc coffer_keyring_change_key(struct coffer_keyring *kr, const char *new_kms_key_ref)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0}, ntk = {0}, k = {0};
	struct coffer_buf blob = {0}, aad = {0};
	char arn[COFFER_KEY_ARN_MAX];
	struct prev_key *prev = NULL;
	struct data_key *keys = NULL;
	size_t n_prev = 0;

	pthread_mutex_lock(&kr->mu);
	TRY_FAIL(current_tk(kr, &tk));
	struct coffer_key_context_pair pairs[3];
	struct coffer_key_context ctx;
	struct coffer_key_grants g = grants_of(kr);
	context_of(kr, pairs, &ctx);
	rc = coffer_key_provider_generate_data_key(kr->provider, new_kms_key_ref, &ctx, &g, &ntk, &blob,
						   arn);
	kms_note(kr, COFFER_KEY_OP_GENERATE_DATA_KEY, rc);
	TRY_FAIL(rc);
	uint32_t nv = kr->version + 1;

	/* Previous keys: TK_0..TK_n-1 re-wrapped, then TK_n itself. */
	prev = coffer_xcalloc(kr->n_prev + 1, sizeof(*prev));
	for (size_t i = 0; i < kr->n_prev; i++) {
		TRY_FAIL(prev_tk(kr, &tk, &kr->prev[i], &k));
		prev[i].version = kr->prev[i].version;
		prev[i].arn = coffer_xstrdup(kr->prev[i].arn);
		n_prev = i + 1;
		coffer_buf_reset(&aad);
		tk_aad(kr, prev[i].version, &aad);
		TRY_FAIL(wrap(&ntk, coffer_buf_slice(&aad), &k, &prev[i].w));
		coffer_secret_free(&k);
	}
	prev[n_prev].version = kr->version;
	prev[n_prev].arn = coffer_xstrdup(kr->arn);
	coffer_buf_reset(&aad);
	tk_aad(kr, kr->version, &aad);
	TRY_FAIL(wrap(&ntk, coffer_buf_slice(&aad), &tk, &prev[n_prev].w));
	n_prev++;

	/* Live data keys re-wrapped: the files themselves are not touched. */
	keys = coffer_xcalloc(kr->n_keys ? kr->n_keys : 1, sizeof(*keys));
	for (size_t i = 0; i < kr->n_keys; i++) {
		struct data_key *o = &kr->keys[i];
		coffer_buf_reset(&aad);
		dk_aad(kr, o->file_id, o->purpose, o->version, &aad);
		TRY_FAIL(unwrap(&tk, coffer_buf_slice(&aad), &o->w, &k, "wrapped data key", kr->path));
		keys[i] = *o;
		keys[i].version = nv;
		coffer_buf_reset(&aad);
		dk_aad(kr, o->file_id, o->purpose, nv, &aad);
		TRY_FAIL(wrap(&ntk, coffer_buf_slice(&aad), &k, &keys[i].w));
		coffer_secret_free(&k);
	}

	TRY_FAIL(write_generation(kr, kr->generation + 1, nv, arn, coffer_buf_slice(&blob), prev,
				  n_prev, keys, kr->n_keys, &ntk));
	/* Committed: switch the in-memory state (invariant 3). */
	free_prev(kr->prev, kr->n_prev);
	kr->prev = prev;
	kr->n_prev = n_prev;
	prev = NULL;
	coffer_wipe(kr->keys, kr->cap_keys * sizeof(*kr->keys));
	free(kr->keys);
	kr->keys = keys;
	kr->cap_keys = kr->n_keys ? kr->n_keys : 1;
	keys = NULL;
	coffer_buf_free(&kr->blob);
	kr->blob = blob;
	blob = (struct coffer_buf){0};
	snprintf(kr->arn, sizeof(kr->arn), "%s", arn);
	uint32_t old = kr->version;
	kr->version = nv;
	coffer_key_cache_drop(kr->cache, kr->table_id);
	coffer_key_cache_put(kr->cache, kr->table_id, nv, &ntk);
	coffer_log_info(kr->log, "keys", "table %s.%s (%s): table key v%u -> v%u under %s",
			kr->keyspace, kr->table, kr->table_id, old, nv, kr->arn);
fail:
	pthread_mutex_unlock(&kr->mu);
	if (prev)
		free_prev(prev, n_prev);
	if (keys) {
		coffer_wipe(keys, kr->n_keys * sizeof(*keys));
		free(keys);
	}
	coffer_secret_free(&tk);
	coffer_secret_free(&ntk);
	coffer_secret_free(&k);
	coffer_buf_free(&blob);
	coffer_buf_free(&aad);
	return rc;
}

coffer_rc coffer_keyring_revalidate(struct coffer_keyring *kr, int64_t max_age_us)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_secret tk = {0};
	pthread_mutex_lock(&kr->mu);
	if (coffer_clock_mono_us(kr->clock) - kr->verified_us >= max_age_us) {
		/* The answer is only looked at, never cached: the cache's idle
		 * timer is the requests' business (rule 6). */
		rc = kms_decrypt_tk(kr, &tk);
		if (rc == COFFER_OK)
			kms_persist(kr, &tk);
	}
	pthread_mutex_unlock(&kr->mu);
	coffer_secret_free(&tk);
	return rc;
}

void coffer_keyring_kms_stats(struct coffer_keyring *kr, struct coffer_keyring_kms_stats *out)
{
	pthread_mutex_lock(&kr->mu);
	memcpy(out->calls, kr->kms_calls, sizeof(out->calls));
	out->last = kr->last_call;
	pthread_mutex_unlock(&kr->mu);
}

bool coffer_keyring_last_kms_call(struct coffer_keyring *kr, struct coffer_keyring_kms_call *out)
{
	pthread_mutex_lock(&kr->mu);
	*out = kr->last_call;
	pthread_mutex_unlock(&kr->mu);
	return out->time_us != 0;
}

void coffer_keyring_info(struct coffer_keyring *kr, struct coffer_keyring_info *out)
{
	pthread_mutex_lock(&kr->mu);
	out->version = kr->version;
	snprintf(out->kms_key_arn, sizeof(out->kms_key_arn), "%s", kr->arn);
	out->data_keys = kr->n_keys;
	out->previous_keys = kr->n_prev;
	out->generation = kr->generation;
	out->records = kr->records;
	out->recorded_kms_call = kr->disk_call;
	pthread_mutex_unlock(&kr->mu);
}

coffer_rc coffer_keyring_export(struct coffer_keyring *kr, const char *dst_path)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf file = {0};
	pthread_mutex_lock(&kr->mu);
	TRY_FAIL(coffer_vfs_read_all(kr->vfs, kr->path, MAX_REGISTRY, &file));
	TRY_FAIL(coffer_vfs_write_atomic(kr->vfs, dst_path, coffer_buf_slice(&file)));
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_buf_free(&file);
	return rc;
}

/* Overwrites the registry's first `len` bytes with zeros, fsyncs, unlinks it
 * and fsyncs its directory: the wrapped keys are what makes the table's files
 * readable, so they should not linger in free blocks. */
static coffer_rc shred_file(struct coffer_vfs *vfs, int fd, uint64_t len, const char *path,
			    const char *dir)
{
	uint8_t zeros[4096] = {0};
	for (uint64_t off = 0; off < len; off += sizeof(zeros)) {
		size_t n = len - off < sizeof(zeros) ? (size_t)(len - off) : sizeof(zeros);
		TRY(coffer_vfs_pwrite_full(vfs, fd, zeros, n, (off_t)off, path));
	}
	TRY(coffer_vfs_fsync(vfs, fd, path));
	TRY(coffer_vfs_unlink(vfs, path));
	return coffer_vfs_sync_dir(vfs, dir);
}

coffer_rc coffer_keyring_shred(struct coffer_vfs *vfs, const char *dir, struct coffer_key_cache *cache,
			       const char *table_id)
{
	if (!vfs)
		vfs = coffer_vfs_posix();
	coffer_key_cache_drop(cache, table_id);
	char *path = coffer_path_join(dir, COFFER_KEYRING_FILE);
	coffer_rc rc = COFFER_OK;
	int fd = -1;
	uint64_t len = 0;
	if (!coffer_fs_exists(path))
		goto out;
	TRY_FAIL(coffer_vfs_open(vfs, path, O_RDWR, 0600, &fd));
	TRY_FAIL(coffer_vfs_size(fd, path, &len));
	TRY_FAIL(shred_file(vfs, fd, len, path, dir));
fail:
out:
	coffer_vfs_close(vfs, fd);
	free(path);
	return rc;
}

coffer_rc coffer_keyring_destroy(struct coffer_keyring *kr)
{
	coffer_rc rc = COFFER_OK;
	pthread_mutex_lock(&kr->mu);
	coffer_key_cache_drop(kr->cache, kr->table_id);
	TRY_FAIL(shred_file(kr->vfs, kr->fd, kr->end, kr->path, kr->dir));
	coffer_log_info(kr->log, "keys", "table %s.%s (%s): keys destroyed", kr->keyspace,
			kr->table, kr->table_id);
fail:
	pthread_mutex_unlock(&kr->mu);
	coffer_keyring_close(kr);
	return rc;
}
