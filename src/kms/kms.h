/*
 * kms.h - the KMS engine: coffer's root of trust, as a library hosted by both
 * `coffer-kms` and `cofferd --kms embedded`. It reproduces AWS KMS semantics for
 * symmetric keys (../shared/reference/kms-semantics.md): keys and their states,
 * aliases, backing-key rotation, encryption context as authenticated data,
 * self-describing ciphertext blobs, key policies, grants, quotas and an audit
 * log, with every record persisted sealed under a seal key.
 *
 * Every operation takes the authenticated caller (a principal ARN, plus grant
 * tokens) and answers with the error codes of AWS KMS (COFFER_E_KMS_*, named
 * by coffer_rc_name()); each message names the key it is about.
 *
 * Thread-safety: every function may be called from any thread; the engine
 * serialises on one internal lock. Operations that change state return only
 * after the change is durable (appended to the sealed store and fsynced).
 *
 * Ownership: output structs are filled by the engine and released by the
 * matching *_free function; key material is returned only in struct
 * coffer_secret, which the caller wipes with coffer_secret_free().
 */
#ifndef COFFER_KMS_KMS_H
#define COFFER_KMS_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

struct coffer_kms;

#define COFFER_KMS_KEY_ID_MAX 37       /* uuid text + NUL */
#define COFFER_KMS_ARN_MAX 256
#define COFFER_KMS_GRANT_ID_MAX 65     /* 64 hex + NUL */
#define COFFER_KMS_ACCESS_KEY_ID_MAX 21 /* "CKIA" + 16 chars + NUL */
#define COFFER_KMS_SECRET_KEY_LEN 40
#define COFFER_KMS_MAX_PLAINTEXT 4096   /* Encrypt */
#define COFFER_KMS_MAX_DATA_KEY 1024    /* GenerateDataKey NumberOfBytes */
#define COFFER_KMS_MAX_BLOB 6144
#define COFFER_KMS_MAX_DESCRIPTION 8192
#define COFFER_KMS_MAX_POLICY 32768
#define COFFER_KMS_MAX_CONTEXT_PAIRS 64
#define COFFER_KMS_DEFAULT_GRANT_LIMIT 50000
#define COFFER_KMS_SERVICE_PRINCIPAL_NAME "coffer-service"
#define COFFER_KMS_ADMIN_PRINCIPAL_NAME "admin"

/* ---- configuration ------------------------------------------------------- */

struct coffer_kms_config {
	const char *data_dir;          /* required; created 0700 if missing */
	const char *seal_key_path;     /* NULL: <data_dir>/seal.key, created 0600 on first open */
	const char *region;            /* "local" */
	const char *account;           /* "000000000000" */
	const struct coffer_clock *clock; /* NULL: the system clock */
	const struct coffer_log *log;  /* NULL: discard */
	uint32_t default_rotation_days; /* 365; EnableKeyRotation without a period */
	uint32_t max_grants_per_key;   /* 50,000 */
	double quota_rate;             /* per principal, cryptographic operations per second */
	double quota_burst;            /* bucket size */
	int audit_fd;                  /* -1: append to <data_dir>/audit.log; -2: no audit */
	bool fsync;                    /* true; false only for tests on throwaway dirs */
};

/* Fills the defaults listed above (data_dir NULL). */
void coffer_kms_config_default(struct coffer_kms_config *cfg);

/* Opens (creating on first use) the engine over cfg->data_dir. A store that
 * fails authentication, or a wrong seal key, is COFFER_E_CORRUPT naming the
 * file; never a silent reset. The config strings are copied. */
COFFER_RESULT coffer_kms_open(const struct coffer_kms_config *cfg, struct coffer_kms **out);
/* Wipes every key in memory and closes. NULL is a no-op. */
void coffer_kms_close(struct coffer_kms *kms);

/* Applies what time has made due: key material of keys whose deletion window
 * ended is destroyed; keys whose rotation date passed get a new backing key.
 * Every operation does this for the keys it touches; call this periodically to
 * do it for all keys. */
COFFER_RESULT coffer_kms_tick(struct coffer_kms *kms);

/* The region and account ("local", "000000000000" by default). */
const char *coffer_kms_region(const struct coffer_kms *kms);
const char *coffer_kms_account(const struct coffer_kms *kms);

/* ---- operations ---------------------------------------------------------- */

/* Every API operation, for policies ("kms:Encrypt"), grants, audit and usage. */
enum coffer_kms_op {
	COFFER_KMS_OP_CREATE_KEY,
	COFFER_KMS_OP_DESCRIBE_KEY,
	COFFER_KMS_OP_LIST_KEYS,
	COFFER_KMS_OP_CREATE_ALIAS,
	COFFER_KMS_OP_LIST_ALIASES,
	COFFER_KMS_OP_UPDATE_ALIAS,
	COFFER_KMS_OP_DELETE_ALIAS,
	COFFER_KMS_OP_ENABLE_KEY,
	COFFER_KMS_OP_DISABLE_KEY,
	COFFER_KMS_OP_SCHEDULE_KEY_DELETION,
	COFFER_KMS_OP_CANCEL_KEY_DELETION,
	COFFER_KMS_OP_ENABLE_KEY_ROTATION,
	COFFER_KMS_OP_DISABLE_KEY_ROTATION,
	COFFER_KMS_OP_GET_KEY_ROTATION_STATUS,
	COFFER_KMS_OP_ROTATE_KEY_ON_DEMAND,
	COFFER_KMS_OP_GET_KEY_POLICY,
	COFFER_KMS_OP_PUT_KEY_POLICY,
	COFFER_KMS_OP_ENCRYPT,
	COFFER_KMS_OP_DECRYPT,
	COFFER_KMS_OP_REENCRYPT_FROM,
	COFFER_KMS_OP_REENCRYPT_TO,
	COFFER_KMS_OP_GENERATE_DATA_KEY,
	COFFER_KMS_OP_GENERATE_DATA_KEY_WITHOUT_PLAINTEXT,
	COFFER_KMS_OP_GENERATE_RANDOM,
	COFFER_KMS_OP_CREATE_GRANT,
	COFFER_KMS_OP_LIST_GRANTS,
	COFFER_KMS_OP_LIST_RETIRABLE_GRANTS,
	COFFER_KMS_OP_RETIRE_GRANT,
	COFFER_KMS_OP_REVOKE_GRANT,
	COFFER_KMS_OP_COUNT
};
#define COFFER_KMS_OP_BIT(op) (UINT64_C(1) << (op))
/* The operations a grant may allow (kms-semantics.md, Grants). */
#define COFFER_KMS_GRANTABLE_OPS                                                          \
	(COFFER_KMS_OP_BIT(COFFER_KMS_OP_DECRYPT) | COFFER_KMS_OP_BIT(COFFER_KMS_OP_ENCRYPT) | \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY) |                                \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_GENERATE_DATA_KEY_WITHOUT_PLAINTEXT) |              \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_REENCRYPT_FROM) |                                   \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_REENCRYPT_TO) |                                     \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_CREATE_GRANT) |                                     \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT) |                                     \
	 COFFER_KMS_OP_BIT(COFFER_KMS_OP_DESCRIBE_KEY))

/* "Encrypt", "GenerateDataKey", ... (the X-Amz-Target suffix and the policy
 * action without "kms:"). NULL for an out-of-range op. */
const char *coffer_kms_op_name(enum coffer_kms_op op);
/* The op of an API name; -1 if unknown. */
int coffer_kms_op_parse(const char *name);

/* ---- callers and principals ---------------------------------------------- */

/* Who is calling: set by the API layer from the SigV4-authenticated access key,
 * or by cofferd to coffer_kms_service_principal() in embedded mode. */
struct coffer_kms_caller {
	const char *principal_arn;
	const char *const *grant_tokens; /* GrantTokens of the request (may be NULL) */
	size_t n_grant_tokens;
};

/* Principal ARNs: arn:aws:iam::<account>:user/<name>. The account root
 * (arn:aws:iam::<account>:root) in a key policy names the admin principal. */
const char *coffer_kms_service_principal(const struct coffer_kms *kms);
const char *coffer_kms_admin_principal(const struct coffer_kms *kms);

/* A freshly issued access key. The secret is shown once; the caller writes it
 * where it belongs (a 0600 credentials file) and frees it. */
struct coffer_kms_access_key {
	char access_key_id[COFFER_KMS_ACCESS_KEY_ID_MAX];
	char principal_arn[COFFER_KMS_ARN_MAX];
	struct coffer_secret secret; /* COFFER_KMS_SECRET_KEY_LEN ASCII bytes, no NUL */
};
void coffer_kms_access_key_free(struct coffer_kms_access_key *k);

/* Creates principal `name` ([A-Za-z0-9+=,.@_-]{1,64}) with one access key.
 * COFFER_E_KMS_ALREADY_EXISTS if the name is taken by a principal that has an
 * access key. The built-in principals ("admin", "coffer-service") exist from
 * the first open without access keys: the first create of one of them issues
 * its first access key (how coffer-kms writes admin.credentials). */
COFFER_RESULT coffer_kms_principal_create(struct coffer_kms *kms, const char *name,
					  struct coffer_kms_access_key *out);
/* Issues another access key for an existing principal (e.g. the service
 * principal, for a cofferd that reaches this KMS remotely). */
COFFER_RESULT coffer_kms_principal_add_access_key(struct coffer_kms *kms, const char *name,
						  struct coffer_kms_access_key *out);
/* Whether a principal exists. */
bool coffer_kms_principal_exists(struct coffer_kms *kms, const char *name);

/* SigV4 support without handing out the secret: derives
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service), "aws4_request")
 * for the access key and names its principal. Unknown access key:
 * COFFER_E_KMS_UNRECOGNIZED_CLIENT. */
COFFER_RESULT coffer_kms_sigv4_signing_key(struct coffer_kms *kms, const char *access_key_id,
					   const char *date8, const char *region,
					   const char *service, uint8_t out[32],
					   char principal_arn[COFFER_KMS_ARN_MAX]);

/* ---- encryption context ---------------------------------------------------- */

struct coffer_kms_context_pair {
	const char *key;
	const char *value;
};
/* Borrowed pairs; order free, keys unique, case-sensitive. n = 0 means none. */
struct coffer_kms_context {
	const struct coffer_kms_context_pair *pairs;
	size_t n;
};

/* ---- keys -------------------------------------------------------------------- */

enum coffer_kms_key_state {
	COFFER_KMS_KEY_ENABLED,
	COFFER_KMS_KEY_DISABLED,
	COFFER_KMS_KEY_PENDING_DELETION,
};
/* "Enabled", "Disabled", "PendingDeletion". */
const char *coffer_kms_key_state_name(enum coffer_kms_key_state s);

struct coffer_kms_key_info {
	char key_id[COFFER_KMS_KEY_ID_MAX];
	char arn[COFFER_KMS_ARN_MAX];
	char creator_arn[COFFER_KMS_ARN_MAX];
	char *description;             /* owned */
	int64_t creation_us;
	enum coffer_kms_key_state state;
	int64_t deletion_us;           /* when PendingDeletion: when the material is destroyed */
	uint32_t pending_window_days;  /* when PendingDeletion */
	bool service_owned;            /* the coffer service's own key (KeyManager "AWS") */
	bool rotation_enabled;
	uint32_t rotation_period_days;
	int64_t next_rotation_us;      /* when rotation is enabled */
	uint32_t backing_versions;     /* how many backing keys (1 + rotations) */
	int64_t last_rotation_us;      /* 0 if never rotated */
};
void coffer_kms_key_info_free(struct coffer_kms_key_info *info);

struct coffer_kms_create_key_req {
	const char *description;   /* may be NULL */
	const char *policy;        /* JSON key policy; NULL: the default policy */
	bool bypass_policy_lockout_safety_check;
};

/* Key references: a key id, a key ARN, "alias/<name>" or an alias ARN. Where AWS
 * accepts only a key id or ARN (management operations), an alias is
 * COFFER_E_KMS_NOT_FOUND. */
COFFER_RESULT coffer_kms_create_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				    const struct coffer_kms_create_key_req *req,
				    struct coffer_kms_key_info *out);
COFFER_RESULT coffer_kms_describe_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, struct coffer_kms_key_info *out);

struct coffer_kms_key_entry {
	char key_id[COFFER_KMS_KEY_ID_MAX];
	char arn[COFFER_KMS_ARN_MAX];
};
struct coffer_kms_key_list {
	struct coffer_kms_key_entry *keys;
	size_t n;
	bool truncated;
	char *next_marker;         /* owned; NULL unless truncated */
};
void coffer_kms_key_list_free(struct coffer_kms_key_list *l);
/* limit 1..1000 (0 means 100); marker from a previous page or NULL. The
 * service-owned key is listed only to the service principal. */
COFFER_RESULT coffer_kms_list_keys(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				   uint32_t limit, const char *marker, struct coffer_kms_key_list *out);

COFFER_RESULT coffer_kms_enable_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				    const char *key_ref);
COFFER_RESULT coffer_kms_disable_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				     const char *key_ref);
/* pending_days 7..30; 0 means 30. Returns the deletion time. */
COFFER_RESULT coffer_kms_schedule_key_deletion(struct coffer_kms *kms,
					       const struct coffer_kms_caller *caller,
					       const char *key_ref, uint32_t pending_days,
					       struct coffer_kms_key_info *out);
/* Leaves the key Disabled (AWS semantics). */
COFFER_RESULT coffer_kms_cancel_key_deletion(struct coffer_kms *kms,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref);

struct coffer_kms_rotation_status {
	bool enabled;
	uint32_t period_days;
	int64_t next_rotation_us;      /* 0 when disabled */
	int64_t on_demand_rotation_us; /* last on-demand rotation, 0 if none */
};
/* period_days 90..2560; 0 means the configured default (365). */
COFFER_RESULT coffer_kms_enable_key_rotation(struct coffer_kms *kms,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, uint32_t period_days);
COFFER_RESULT coffer_kms_disable_key_rotation(struct coffer_kms *kms,
					      const struct coffer_kms_caller *caller,
					      const char *key_ref);
COFFER_RESULT coffer_kms_get_key_rotation_status(struct coffer_kms *kms,
						 const struct coffer_kms_caller *caller,
						 const char *key_ref,
						 struct coffer_kms_rotation_status *out);
/* Adds a backing key now; earlier ones stay for decryption. */
COFFER_RESULT coffer_kms_rotate_key_on_demand(struct coffer_kms *kms,
					      const struct coffer_kms_caller *caller,
					      const char *key_ref);

/* Policies: AWS policy JSON ({"Version":..., "Statement":[{"Sid", "Effect":
 * "Allow"|"Deny", "Principal": {"AWS": arn|"*"|[...]} | "*", "Action": "kms:Op" |
 * "kms:*" | "kms:Generate*" | [...], "Resource": "*"}]}). An explicit Deny wins;
 * otherwise an Allow or a grant is needed. "Condition" is refused as
 * unsupported (MalformedPolicyDocumentException) rather than ignored. The only
 * policy name is "default". PutKeyPolicy refuses a policy that would stop the
 * caller from calling PutKeyPolicy again unless the lockout check is bypassed. */
COFFER_RESULT coffer_kms_get_key_policy(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					const char *key_ref, const char *policy_name, char **out);
COFFER_RESULT coffer_kms_put_key_policy(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					const char *key_ref, const char *policy_name,
					const char *policy, bool bypass_policy_lockout_safety_check);

/* The coffer service's own key (Keyspaces' "AWS owned key"): created on first
 * call, owned by the service principal; it cannot be disabled, scheduled for
 * deletion or re-policied, and no other principal may use or see it. */
COFFER_RESULT coffer_kms_service_key(struct coffer_kms *kms, char key_arn[COFFER_KMS_ARN_MAX]);

/* ---- aliases ------------------------------------------------------------------ */

/* alias_name: "alias/" + [A-Za-z0-9/_-]{1,250}; "alias/aws/" is reserved. */
COFFER_RESULT coffer_kms_create_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name, const char *target_key_ref);
COFFER_RESULT coffer_kms_update_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name, const char *target_key_ref);
COFFER_RESULT coffer_kms_delete_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name);
struct coffer_kms_alias_entry {
	char *alias_name;          /* owned */
	char *alias_arn;           /* owned */
	char target_key_id[COFFER_KMS_KEY_ID_MAX];
	int64_t creation_us;
	int64_t last_updated_us;
};
struct coffer_kms_alias_list {
	struct coffer_kms_alias_entry *aliases;
	size_t n;
	bool truncated;
	char *next_marker;
};
void coffer_kms_alias_list_free(struct coffer_kms_alias_list *l);
/* key_ref NULL: all aliases; else only those pointing at that key. */
COFFER_RESULT coffer_kms_list_aliases(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, uint32_t limit, const char *marker,
				      struct coffer_kms_alias_list *out);

/* ---- cryptographic operations ------------------------------------------------ */

/* Encrypt 1..4096 bytes. blob_out receives the ciphertext blob (appended). */
COFFER_RESULT coffer_kms_encrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				 const char *key_ref, struct coffer_slice plaintext,
				 const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
				 char key_arn[COFFER_KMS_ARN_MAX]);
/* key_ref may be NULL; if given and not the blob's key: IncorrectKeyException.
 * A wrong context or a tampered blob: InvalidCiphertextException. */
COFFER_RESULT coffer_kms_decrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				 struct coffer_slice blob, const struct coffer_kms_context *ctx,
				 const char *key_ref, struct coffer_secret *plaintext,
				 char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_reencrypt(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				   struct coffer_slice blob, const struct coffer_kms_context *src_ctx,
				   const char *src_key_ref, const char *dst_key_ref,
				   const struct coffer_kms_context *dst_ctx, struct coffer_buf *blob_out,
				   char src_key_arn[COFFER_KMS_ARN_MAX],
				   char dst_key_arn[COFFER_KMS_ARN_MAX]);
/* nbytes 1..1024 (32 for AES_256, 16 for AES_128). */
COFFER_RESULT coffer_kms_generate_data_key(struct coffer_kms *kms,
					   const struct coffer_kms_caller *caller,
					   const char *key_ref, uint32_t nbytes,
					   const struct coffer_kms_context *ctx,
					   struct coffer_secret *plaintext, struct coffer_buf *blob_out,
					   char key_arn[COFFER_KMS_ARN_MAX]);
COFFER_RESULT coffer_kms_generate_data_key_without_plaintext(
	struct coffer_kms *kms, const struct coffer_kms_caller *caller, const char *key_ref,
	uint32_t nbytes, const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
	char key_arn[COFFER_KMS_ARN_MAX]);
/* 1..1024 random bytes. */
COFFER_RESULT coffer_kms_generate_random(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					 uint32_t nbytes, struct coffer_secret *out);

/* ---- grants -------------------------------------------------------------------- */

struct coffer_kms_create_grant_req {
	const char *key_ref;               /* key id or ARN */
	const char *grantee_principal;     /* required */
	const char *retiring_principal;    /* may be NULL */
	uint64_t operations;               /* COFFER_KMS_OP_BIT()s within COFFER_KMS_GRANTABLE_OPS */
	const struct coffer_kms_context *context_subset; /* constraint, may be NULL */
	const struct coffer_kms_context *context_equals; /* constraint, may be NULL */
	const char *name;                  /* may be NULL; same name + same grant = same id */
};
/* grant_token_out: owned string, opaque; valid as a GrantToken. */
COFFER_RESULT coffer_kms_create_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const struct coffer_kms_create_grant_req *req,
				      char grant_id[COFFER_KMS_GRANT_ID_MAX], char **grant_token_out);

struct coffer_kms_grant_info {
	char grant_id[COFFER_KMS_GRANT_ID_MAX];
	char key_arn[COFFER_KMS_ARN_MAX];
	char *name;                        /* owned; NULL if none */
	int64_t creation_us;
	char grantee_principal[COFFER_KMS_ARN_MAX];
	char retiring_principal[COFFER_KMS_ARN_MAX]; /* "" if none */
	char issuing_principal[COFFER_KMS_ARN_MAX];
	uint64_t operations;
	/* Constraints, owned: arrays of pairs whose strings are owned. */
	struct coffer_kms_context_pair *context_subset;
	size_t n_context_subset;
	bool has_context_subset;
	struct coffer_kms_context_pair *context_equals;
	size_t n_context_equals;
	bool has_context_equals;
};
struct coffer_kms_grant_list {
	struct coffer_kms_grant_info *grants;
	size_t n;
	bool truncated;
	char *next_marker;
};
void coffer_kms_grant_list_free(struct coffer_kms_grant_list *l);
/* ListGrants: key_ref required; grant_id and grantee filters may be NULL. */
COFFER_RESULT coffer_kms_list_grants(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				     const char *key_ref, const char *grant_id,
				     const char *grantee_principal, uint32_t limit,
				     const char *marker, struct coffer_kms_grant_list *out);
/* ListRetirableGrants: grants whose retiring principal is `retiring_principal`. */
COFFER_RESULT coffer_kms_list_retirable_grants(struct coffer_kms *kms,
					       const struct coffer_kms_caller *caller,
					       const char *retiring_principal, uint32_t limit,
					       const char *marker, struct coffer_kms_grant_list *out);
/* RetireGrant: by grant_token, or by key_ref + grant_id. Allowed to the
 * retiring principal, to the grantee when the grant allows RetireGrant, and to
 * the principal that created the grant. */
COFFER_RESULT coffer_kms_retire_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *grant_token, const char *key_ref,
				      const char *grant_id);
/* RevokeGrant: needs kms:RevokeGrant on the key by policy. */
COFFER_RESULT coffer_kms_revoke_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, const char *grant_id);

/* ---- usage --------------------------------------------------------------------- */

/* Calls of `op` on key `key_id` since open (successful or not, once the key
 * was resolved). */
uint64_t coffer_kms_usage(struct coffer_kms *kms, const char *key_id, enum coffer_kms_op op);

#endif
