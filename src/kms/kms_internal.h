/*
 * kms_internal.h - the KMS engine's private structures, shared by the files of
 * src/kms and by nothing else.
 *
 * The engine state is a set of objects (principals, keys, aliases, grants)
 * held in memory and mirrored, record by record, in the sealed store
 * (store.c). Every mutation goes: check -> build the new object -> append its
 * record to the store (durable) -> swap it into memory. A failed append leaves
 * memory unchanged, so memory never runs ahead of disk.
 *
 * Invariants:
 *  1. All state is touched only with kms->lock held.
 *  2. Backing-key material lives only in struct coffer_secret (locked memory)
 *     and in sealed store records; it never reaches a log, an error or the
 *     audit trail.
 *  3. A destroyed key keeps only a tombstone (id, deletion time): no material.
 */
#ifndef COFFER_KMS_INTERNAL_H
#define COFFER_KMS_INTERNAL_H

#include <pthread.h>

#include <jansson.h>

#include "kms/kms.h"
#include "util/util.h"

#define KMS_BACKING_KEY_BYTES 32

struct kms_access_key {
	char id[COFFER_KMS_ACCESS_KEY_ID_MAX];
	struct coffer_secret secret; /* COFFER_KMS_SECRET_KEY_LEN bytes */
	int64_t created_us;
};

struct kms_principal {
	char *name;
	char arn[COFFER_KMS_ARN_MAX];
	int64_t created_us;
	struct kms_access_key *keys;
	size_t n_keys;
	/* Token bucket for cryptographic operations (not persisted). */
	double tokens;
	int64_t bucket_mono_us;
};

struct kms_backing_key {
	uint32_t version;      /* 1, 2, ... */
	int64_t created_us;
	struct coffer_secret material; /* 32 bytes */
};

/* A parsed key policy statement (policy.c). */
struct kms_policy_stmt {
	bool allow;            /* Effect */
	char **principals;     /* ARNs or "*" */
	size_t n_principals;
	char **actions;        /* "kms:Encrypt", "kms:*", "kms:Generate*", "*" */
	size_t n_actions;
};
struct kms_policy {
	char *text;            /* the document as given (returned by GetKeyPolicy) */
	struct kms_policy_stmt *stmts;
	size_t n_stmts;
};

struct kms_grant {
	char id[COFFER_KMS_GRANT_ID_MAX];
	char *name;            /* may be NULL */
	int64_t created_us;
	char grantee[COFFER_KMS_ARN_MAX];
	char retiring[COFFER_KMS_ARN_MAX];
	char issuer[COFFER_KMS_ARN_MAX];
	uint64_t operations;
	bool has_subset, has_equals;
	struct coffer_kms_context_pair *subset; /* owned strings */
	size_t n_subset;
	struct coffer_kms_context_pair *equals;
	size_t n_equals;
};

struct kms_key {
	char id[COFFER_KMS_KEY_ID_MAX];
	uint8_t id_bin[16];
	char arn[COFFER_KMS_ARN_MAX];
	char creator[COFFER_KMS_ARN_MAX];
	char *description;
	int64_t created_us;
	enum coffer_kms_key_state state;
	bool destroyed;        /* tombstone: no material, every use is NotFound */
	int64_t deletion_us;   /* PendingDeletion: when; destroyed: when it happened */
	uint32_t pending_days;
	bool service_owned;
	bool rotation_enabled;
	uint32_t rotation_days;
	int64_t next_rotation_us;
	int64_t last_rotation_us;
	int64_t on_demand_rotation_us;
	struct kms_backing_key *versions; /* index i holds version i+1 */
	size_t n_versions;
	struct kms_policy policy;
	struct kms_grant **grants;
	size_t n_grants;
	size_t cap_grants;
	uint64_t usage[COFFER_KMS_OP_COUNT];
};

struct kms_alias {
	char *name;            /* "alias/..." */
	char target[COFFER_KMS_KEY_ID_MAX];
	int64_t created_us;
	int64_t updated_us;
};

struct kms_store; /* store.c */

struct coffer_kms {
	pthread_mutex_t lock;
	char *data_dir;
	char *region;
	char *account;
	const struct coffer_clock *clock;
	const struct coffer_log *log;
	uint32_t default_rotation_days;
	uint32_t max_grants;
	double quota_rate, quota_burst;
	int audit_fd;
	bool own_audit_fd;
	int lock_fd;                     /* flock on <data_dir>/kms.lock: one engine per directory */
	bool fsync;

	struct coffer_secret seal_key;   /* 32 bytes */
	struct coffer_secret token_key;  /* HMAC key for grant tokens, derived from seal */
	struct kms_store *store;

	char admin_arn[COFFER_KMS_ARN_MAX];
	char service_arn[COFFER_KMS_ARN_MAX];
	char root_arn[COFFER_KMS_ARN_MAX];

	struct kms_principal **principals;
	size_t n_principals;
	struct kms_key **keys;
	size_t n_keys;
	struct kms_alias **aliases;
	size_t n_aliases;
	char service_key_id[COFFER_KMS_KEY_ID_MAX]; /* "" until created */
};

/* ---- engine.c: lookups and authorization ---- */
struct kms_key *kms_key_by_id(struct coffer_kms *kms, const char *id);
/* Resolves a key reference; allow_alias says whether aliases are accepted.
 * Destroyed keys resolve (so callers can say so) unless the caller checks. */
COFFER_RESULT kms_resolve(struct coffer_kms *kms, const char *ref, bool allow_alias,
			  struct kms_key **out);
/* Resolve and require the key not be destroyed. */
COFFER_RESULT kms_resolve_live(struct coffer_kms *kms, const char *ref, bool allow_alias,
			       struct kms_key **out);
struct kms_principal *kms_principal_by_arn(struct coffer_kms *kms, const char *arn);
struct kms_principal *kms_principal_by_name(struct coffer_kms *kms, const char *name);
struct kms_alias *kms_alias_by_name(struct coffer_kms *kms, const char *name);
/* Whether `caller` may call `op` on `key`: policy allows (and no explicit
 * deny), or a live grant does (constraints checked against ctx). Sets
 * *grant_used to the grant id that allowed it ("" if the policy did). */
COFFER_RESULT kms_authorize(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
			    struct kms_key *key, enum coffer_kms_op op,
			    const struct coffer_kms_context *ctx, const char **grant_used);
/* Crypto operations need the key Enabled: Disabled / PendingDeletion errors. */
COFFER_RESULT kms_require_enabled(struct coffer_kms *kms, struct kms_key *key);
/* Applies due deletion/rotation to one key (lock held). */
COFFER_RESULT kms_key_apply_time(struct coffer_kms *kms, struct kms_key *key);
/* Token bucket; COFFER_E_KMS_THROTTLING when empty. */
COFFER_RESULT kms_quota_take(struct coffer_kms *kms, const struct coffer_kms_caller *caller);
int64_t kms_now(const struct coffer_kms *kms);
void kms_format_key_arn(const struct coffer_kms *kms, const char *id, char out[COFFER_KMS_ARN_MAX]);
bool kms_is_service_caller(const struct coffer_kms *kms, const struct coffer_kms_caller *caller);
/* AccessDeniedException unless `who` is a principal of this KMS. */
COFFER_RESULT kms_require_principal(struct coffer_kms *kms, const char *who);

/* ---- keys.c ---- */
void kms_key_free(struct kms_key *k);
/* A deep copy of a key (materials included, in secret memory). */
struct kms_key *kms_key_clone(const struct kms_key *k);
COFFER_RESULT kms_key_add_version(struct coffer_kms *kms, struct kms_key *k);
/* Persists `next` and swaps it in place of the key with the same id. */
COFFER_RESULT kms_key_commit(struct coffer_kms *kms, struct kms_key *next);
void kms_key_fill_info(const struct kms_key *k, struct coffer_kms_key_info *out);
COFFER_RESULT kms_key_create_locked(struct coffer_kms *kms, const char *creator,
				    const char *description, const char *policy, bool service_owned,
				    struct kms_key **out);

/* Limit for list calls: 0 means 100; above 1000 is a ValidationException. */
COFFER_RESULT kms_page_limit(uint32_t limit, uint32_t *out);

/* ---- policy.c ---- */
COFFER_RESULT kms_policy_parse(const char *text, struct kms_policy *out);
void kms_policy_free(struct kms_policy *p);
char *kms_policy_default(const struct coffer_kms *kms, const char *creator, bool service_owned);
/* 1 allow, -1 explicit deny, 0 not mentioned. */
int kms_policy_eval(const struct coffer_kms *kms, const struct kms_policy *p,
		    const char *principal, enum coffer_kms_op op);

/* ---- context.c ---- */
COFFER_RESULT kms_context_check(const struct coffer_kms_context *ctx);
/* Canonical bytes (sorted by key) appended to out: the AAD of blobs. */
void kms_context_canonical(const struct coffer_kms_context *ctx, struct coffer_buf *out);
bool kms_context_subset_ok(const struct coffer_kms_context_pair *need, size_t n_need,
			   const struct coffer_kms_context *ctx);
bool kms_context_equals_ok(const struct coffer_kms_context_pair *need, size_t n_need,
			   const struct coffer_kms_context *ctx);
/* JSON object text of a context for the audit log (owned string). */
char *kms_context_json(const struct coffer_kms_context *ctx);
struct coffer_kms_context_pair *kms_context_copy(const struct coffer_kms_context *ctx, size_t *n);
void kms_pairs_free(struct coffer_kms_context_pair *p, size_t n);

/* ---- grants.c ---- */
void kms_grant_free(struct kms_grant *g);
/* Appends a grant to a key's list (amortised growth). */
void kms_key_add_grant(struct kms_key *k, struct kms_grant *g);
bool kms_grant_allows(const struct kms_grant *g, enum coffer_kms_op op,
		      const struct coffer_kms_context *ctx);
COFFER_RESULT kms_grant_token_parse(struct coffer_kms *kms, const char *token, char key_id[COFFER_KMS_KEY_ID_MAX],
				    char grant_id[COFFER_KMS_GRANT_ID_MAX]);

/* ---- store.c: the sealed record log ---- */
enum kms_record_type {
	KMS_REC_PRINCIPAL = 1,
	KMS_REC_KEY = 2,
	KMS_REC_ALIAS = 3,
	KMS_REC_ALIAS_DELETE = 4,
	KMS_REC_GRANT = 5,
	KMS_REC_GRANT_DELETE = 6,
};
COFFER_RESULT kms_store_open(struct coffer_kms *kms);
void kms_store_close(struct coffer_kms *kms);
/* Appends one record (plaintext in `rec`, type byte first) durably. */
COFFER_RESULT kms_store_append(struct coffer_kms *kms, const struct coffer_buf *rec);
/* Rewrites the store as a snapshot of memory when the log has grown. */
COFFER_RESULT kms_store_maybe_compact(struct coffer_kms *kms);

/* ---- codec.c: records <-> objects ---- */
void kms_encode_principal(const struct kms_principal *p, struct coffer_buf *out);
void kms_encode_key(const struct kms_key *k, struct coffer_buf *out);
void kms_encode_alias(const struct kms_alias *a, struct coffer_buf *out);
void kms_encode_alias_delete(const char *name, struct coffer_buf *out);
void kms_encode_grant(const char *key_id, const struct kms_grant *g, struct coffer_buf *out);
void kms_encode_grant_delete(const char *key_id, const char *grant_id, struct coffer_buf *out);
/* Applies one decoded record to memory (replay). */
COFFER_RESULT kms_apply_record(struct coffer_kms *kms, struct coffer_slice rec);

/* ---- audit.c ---- */
struct kms_audit {
	enum coffer_kms_op op;
	const struct coffer_kms_caller *caller;
	const char *key_id;          /* may be NULL */
	const struct coffer_kms_context *ctx; /* may be NULL */
	const char *grant_used;      /* may be NULL or "" */
	coffer_rc rc;
};
/* Writes one JSON line and counts usage. Preserves the thread's error detail. */
void kms_audit(struct coffer_kms *kms, const struct kms_audit *a);

/* Small helpers */
bool kms_arn_valid_principal(const char *s);
char *kms_strdup_or_null(const char *s);

#endif
