/*
 * provider.h - key providers: where a table key's root lives.
 *
 * A provider is a small vtable over the KMS operations the key hierarchy needs
 * (GenerateDataKey, Decrypt, ReEncrypt, DescribeKey, CreateGrant, RetireGrant).
 * Code above calls it only through the coffer_key_provider_* wrappers, which
 * check the contract both ways (aws-encryption-sdk-c keyring style):
 *
 *  1. Inputs: a key reference is non-empty, a blob is 1..COFFER_KEY_PROVIDER_MAX_BLOB
 *     bytes, the context has at most 64 pairs with non-NULL strings.
 *  2. Outputs: on success a plaintext key is exactly COFFER_KEY_BYTES bytes in
 *     a struct coffer_secret, a blob is non-empty, a key ARN is non-empty; a
 *     provider that breaks this gets COFFER_E_INTERNAL and its outputs wiped.
 *  3. On failure every output is left empty (secret freed, blob unchanged in
 *     length) and the code is a COFFER_E_KMS_* code, COFFER_E_UNAVAILABLE or
 *     COFFER_E_TIMEOUT (transport), never anything else: a provider returning
 *     another code gets it mapped to COFFER_E_KMS_INTERNAL.
 *  4. Every call is counted per operation (successful or not), so tests and the
 *     metrics endpoint can check that the hot path makes no KMS call.
 *
 * The interface uses only its own types, so the remote provider (an AWS-KMS
 * JSON client) plugs in without the engine's structs.
 */
#ifndef COFFER_KEYS_PROVIDER_H
#define COFFER_KEYS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/result.h"

#define COFFER_KEY_BYTES 32
#define COFFER_KEY_PROVIDER_MAX_BLOB 6144
#define COFFER_KEY_ARN_MAX 256
#define COFFER_KEY_ID_MAX 64
#define COFFER_KEY_GRANT_ID_MAX 68
#define COFFER_KEY_MAX_CONTEXT_PAIRS 64

/* Encryption context: borrowed pairs, authenticated by the KMS with the key. */
struct coffer_key_context_pair {
	const char *key;
	const char *value;
};
struct coffer_key_context {
	const struct coffer_key_context_pair *pairs;
	size_t n;
};

/* Grant tokens a table holds for its key (borrowed; may be empty). */
struct coffer_key_grants {
	const char *const *tokens;
	size_t n;
};

enum coffer_key_state {
	COFFER_KEY_STATE_ENABLED,
	COFFER_KEY_STATE_DISABLED,
	COFFER_KEY_STATE_PENDING_DELETION,
};

struct coffer_key_description {
	char key_id[COFFER_KEY_ID_MAX];
	char arn[COFFER_KEY_ARN_MAX];
	enum coffer_key_state state;
	bool service_owned;
};

struct coffer_key_grant_request {
	const char *key_ref;
	const char *grantee_principal;     /* NULL: the provider's own principal */
	const char *retiring_principal;    /* NULL: the provider's own principal */
	const struct coffer_key_context *context_subset; /* constraint; may be NULL */
	const char *name;                  /* may be NULL */
};

enum coffer_key_provider_op {
	COFFER_KEY_OP_GENERATE_DATA_KEY,
	COFFER_KEY_OP_DECRYPT,
	COFFER_KEY_OP_REENCRYPT,
	COFFER_KEY_OP_DESCRIBE_KEY,
	COFFER_KEY_OP_CREATE_GRANT,
	COFFER_KEY_OP_RETIRE_GRANT,
	COFFER_KEY_OP_COUNT
};

struct coffer_key_provider;

/* The vtable. `self` is the provider; its state is self->impl. Ops may be
 * NULL where a provider cannot do something (the wrapper answers
 * COFFER_E_KMS_UNSUPPORTED_OPERATION). */
struct coffer_key_provider_ops {
	const char *name; /* "embedded", "remote" */
	coffer_rc (*generate_data_key)(struct coffer_key_provider *self, const char *key_ref,
				       const struct coffer_key_context *ctx,
				       const struct coffer_key_grants *grants,
				       struct coffer_secret *plaintext, struct coffer_buf *blob,
				       char key_arn[COFFER_KEY_ARN_MAX]);
	coffer_rc (*decrypt)(struct coffer_key_provider *self, struct coffer_slice blob,
			     const struct coffer_key_context *ctx, const char *key_ref,
			     const struct coffer_key_grants *grants, struct coffer_secret *plaintext,
			     char key_arn[COFFER_KEY_ARN_MAX]);
	coffer_rc (*reencrypt)(struct coffer_key_provider *self, struct coffer_slice blob,
			       const struct coffer_key_context *ctx, const char *src_key_ref,
			       const char *dst_key_ref, const struct coffer_key_grants *grants,
			       struct coffer_buf *blob_out, char dst_key_arn[COFFER_KEY_ARN_MAX]);
	coffer_rc (*describe_key)(struct coffer_key_provider *self, const char *key_ref,
				  struct coffer_key_description *out);
	coffer_rc (*create_grant)(struct coffer_key_provider *self,
				  const struct coffer_key_grant_request *req,
				  char grant_id[COFFER_KEY_GRANT_ID_MAX], char **grant_token);
	coffer_rc (*retire_grant)(struct coffer_key_provider *self, const char *key_ref,
				  const char *grant_id, const char *grant_token);
	void (*destroy)(struct coffer_key_provider *self);
};

struct coffer_key_provider {
	const struct coffer_key_provider_ops *ops;
	void *impl;
	uint64_t calls[COFFER_KEY_OP_COUNT]; /* atomic counters; read with _calls() */
};

/* ---- wrappers (the only way to call a provider) ---------------------------- */

COFFER_RESULT coffer_key_provider_generate_data_key(struct coffer_key_provider *p,
						    const char *key_ref,
						    const struct coffer_key_context *ctx,
						    const struct coffer_key_grants *grants,
						    struct coffer_secret *plaintext,
						    struct coffer_buf *blob,
						    char key_arn[COFFER_KEY_ARN_MAX]);
/* key_ref may be NULL (the blob names its key). */
COFFER_RESULT coffer_key_provider_decrypt(struct coffer_key_provider *p, struct coffer_slice blob,
					  const struct coffer_key_context *ctx, const char *key_ref,
					  const struct coffer_key_grants *grants,
					  struct coffer_secret *plaintext,
					  char key_arn[COFFER_KEY_ARN_MAX]);
COFFER_RESULT coffer_key_provider_reencrypt(struct coffer_key_provider *p, struct coffer_slice blob,
					    const struct coffer_key_context *ctx,
					    const char *src_key_ref, const char *dst_key_ref,
					    const struct coffer_key_grants *grants,
					    struct coffer_buf *blob_out,
					    char dst_key_arn[COFFER_KEY_ARN_MAX]);
COFFER_RESULT coffer_key_provider_describe_key(struct coffer_key_provider *p, const char *key_ref,
					       struct coffer_key_description *out);
/* grant_token: owned by the caller (free()). */
COFFER_RESULT coffer_key_provider_create_grant(struct coffer_key_provider *p,
					       const struct coffer_key_grant_request *req,
					       char grant_id[COFFER_KEY_GRANT_ID_MAX],
					       char **grant_token);
COFFER_RESULT coffer_key_provider_retire_grant(struct coffer_key_provider *p, const char *key_ref,
					       const char *grant_id, const char *grant_token);
/* Calls of `op` since creation (successful or not). */
uint64_t coffer_key_provider_calls(const struct coffer_key_provider *p,
				   enum coffer_key_provider_op op);
/* "Decrypt", "GenerateDataKey", ... */
const char *coffer_key_provider_op_name(enum coffer_key_provider_op op);
/* Sum over all ops. */
uint64_t coffer_key_provider_total_calls(const struct coffer_key_provider *p);
void coffer_key_provider_free(struct coffer_key_provider *p);

/* ---- the embedded provider -------------------------------------------------- */

struct coffer_kms;
/* Calls the in-process engine as its service principal
 * (coffer_kms_service_principal()). The engine is borrowed and must outlive
 * the provider. */
struct coffer_key_provider *coffer_key_provider_embedded(struct coffer_kms *kms);

/* ---- the counting provider (provider_counting.c) ---------------------------- */

/* Called after every call, from the calling thread; keyspace and table are
 * NULL when the call does not name a table (no coffer:keyspace/coffer:table
 * in its context or grant constraint). The thread's error detail is kept. */
typedef void (*coffer_key_call_hook)(void *arg, const char *keyspace, const char *table,
				     enum coffer_key_provider_op op, coffer_rc rc);
/* Forwards to `inner` (borrowed) and reports each call to `hook`. */
struct coffer_key_provider *coffer_key_provider_counting(struct coffer_key_provider *inner,
							 coffer_key_call_hook hook, void *arg);

/* ---- the remote provider ---------------------------------------------------- */

struct coffer_kms_client_config;
/* A provider over a remote KMS (coffer-kms or AWS KMS) through the SigV4
 * client (kmsapi/kms_client.h); cfg is copied (the secret into secret
 * memory), and the client connects lazily, so this succeeds while the KMS is
 * down. It acts as the principal owning cfg's access key; grants without an
 * explicit grantee go to arn:<partition>:iam::<account>:user/coffer-service
 * (the account of the key). On success *out is the caller's
 * (coffer_key_provider_free). */
COFFER_RESULT coffer_key_provider_remote(const struct coffer_kms_client_config *cfg,
					 struct coffer_key_provider **out);
/* The KMS's coffer service key (KeyManager "AWS": coffer-kms lists and shows
 * it only to its coffer-service principal), found with ListKeys and
 * DescribeKey. COFFER_E_KMS_NOT_FOUND if the credentials see none,
 * COFFER_E_UNAVAILABLE if the KMS cannot be reached. */
COFFER_RESULT coffer_key_provider_remote_service_key(struct coffer_key_provider *p,
						     char key_arn[COFFER_KEY_ARN_MAX]);
/* The endpoint URL of a remote provider (borrowed, lives as long as p);
 * NULL for any other provider. */
const char *coffer_key_provider_remote_endpoint(const struct coffer_key_provider *p);

#endif
