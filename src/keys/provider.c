/*
 * provider.c - the contract-checking wrappers around key providers
 * (provider.h invariants 1-4). Providers are trusted code, but a remote one
 * parses bytes from the network; the wrappers make sure that whatever it
 * returns, callers see either a well-formed 32-byte key or a KMS error code
 * with nothing left behind.
 */
#include "keys/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "keys/provider_internal.h"

static void count(struct coffer_key_provider *p, enum coffer_key_provider_op op)
{
	__atomic_fetch_add(&p->calls[op], 1, __ATOMIC_RELAXED);
}

/* Invariant 3: only KMS and transport codes leave a provider. */
static coffer_rc check_code(coffer_rc rc)
{
	if (rc == COFFER_OK)
		return rc;
	if ((rc >= COFFER_E_KMS_NOT_FOUND && rc < COFFER_E_KMS_LAST) ||
	    rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT)
		return rc;
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	return coffer_error_set(COFFER_E_KMS_INTERNAL, COFFER_WHERE, "key provider returned %s: %s",
				coffer_rc_name(rc), msg);
}

static coffer_rc check_ref(const char *ref)
{
	ENSURE(ref && ref[0], COFFER_E_INVALID, "key provider: empty key reference");
	return COFFER_OK;
}

static coffer_rc check_ctx(const struct coffer_key_context *ctx)
{
	if (!ctx)
		return COFFER_OK;
	ENSURE(ctx->n <= COFFER_KEY_MAX_CONTEXT_PAIRS, COFFER_E_INVALID,
	       "key provider: %zu context pairs (at most %d)", ctx->n,
	       COFFER_KEY_MAX_CONTEXT_PAIRS);
	for (size_t i = 0; i < ctx->n; i++)
		ENSURE(ctx->pairs[i].key && ctx->pairs[i].value, COFFER_E_INVALID,
		       "key provider: context pair %zu has a NULL string", i);
	return COFFER_OK;
}

static coffer_rc check_blob(struct coffer_slice blob)
{
	ENSURE(blob.len > 0 && blob.len <= COFFER_KEY_PROVIDER_MAX_BLOB, COFFER_E_INVALID,
	       "key provider: ciphertext blob of %zu bytes", blob.len);
	return COFFER_OK;
}

coffer_rc coffer_key_provider_generate_data_key(struct coffer_key_provider *p, const char *key_ref,
						const struct coffer_key_context *ctx,
						const struct coffer_key_grants *grants,
						struct coffer_secret *plaintext, struct coffer_buf *blob,
						char key_arn[COFFER_KEY_ARN_MAX])
{
	TRY(check_ref(key_ref));
	TRY(check_ctx(ctx));
	count(p, COFFER_KEY_OP_GENERATE_DATA_KEY);
	ENSURE(p->ops->generate_data_key, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: GenerateDataKey unsupported", p->ops->name);
	size_t blob_len0 = blob->len;
	plaintext->ptr = NULL;
	plaintext->len = 0;
	key_arn[0] = 0;
	coffer_rc rc = check_code(p->ops->generate_data_key(p, key_ref, ctx, grants, plaintext,
							     blob, key_arn));
	if (rc == COFFER_OK && (plaintext->len != COFFER_KEY_BYTES || blob->len == blob_len0 ||
				blob->len - blob_len0 > COFFER_KEY_PROVIDER_MAX_BLOB || !key_arn[0]))
		rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE,
				      "key provider %s: GenerateDataKey broke its contract",
				      p->ops->name);
	if (rc != COFFER_OK) {
		coffer_secret_free(plaintext);
		blob->len = blob_len0;
		key_arn[0] = 0;
	}
	return rc;
}

coffer_rc coffer_key_provider_decrypt(struct coffer_key_provider *p, struct coffer_slice blob,
				      const struct coffer_key_context *ctx, const char *key_ref,
				      const struct coffer_key_grants *grants,
				      struct coffer_secret *plaintext, char key_arn[COFFER_KEY_ARN_MAX])
{
	TRY(check_blob(blob));
	TRY(check_ctx(ctx));
	count(p, COFFER_KEY_OP_DECRYPT);
	ENSURE(p->ops->decrypt, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: Decrypt unsupported", p->ops->name);
	plaintext->ptr = NULL;
	plaintext->len = 0;
	key_arn[0] = 0;
	coffer_rc rc = check_code(p->ops->decrypt(p, blob, ctx, key_ref, grants, plaintext, key_arn));
	if (rc == COFFER_OK && (plaintext->len != COFFER_KEY_BYTES || !key_arn[0]))
		rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE,
				      "key provider %s: Decrypt broke its contract", p->ops->name);
	if (rc != COFFER_OK) {
		coffer_secret_free(plaintext);
		key_arn[0] = 0;
	}
	return rc;
}

coffer_rc coffer_key_provider_reencrypt(struct coffer_key_provider *p, struct coffer_slice blob,
					const struct coffer_key_context *ctx, const char *src_key_ref,
					const char *dst_key_ref, const struct coffer_key_grants *grants,
					struct coffer_buf *blob_out, char dst_key_arn[COFFER_KEY_ARN_MAX])
{
	TRY(check_blob(blob));
	TRY(check_ctx(ctx));
	TRY(check_ref(dst_key_ref));
	count(p, COFFER_KEY_OP_REENCRYPT);
	ENSURE(p->ops->reencrypt, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: ReEncrypt unsupported", p->ops->name);
	size_t len0 = blob_out->len;
	dst_key_arn[0] = 0;
	coffer_rc rc = check_code(p->ops->reencrypt(p, blob, ctx, src_key_ref, dst_key_ref, grants,
						     blob_out, dst_key_arn));
	if (rc == COFFER_OK && (blob_out->len == len0 || !dst_key_arn[0]))
		rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE,
				      "key provider %s: ReEncrypt broke its contract", p->ops->name);
	if (rc != COFFER_OK) {
		blob_out->len = len0;
		dst_key_arn[0] = 0;
	}
	return rc;
}

coffer_rc coffer_key_provider_describe_key(struct coffer_key_provider *p, const char *key_ref,
					   struct coffer_key_description *out)
{
	TRY(check_ref(key_ref));
	count(p, COFFER_KEY_OP_DESCRIBE_KEY);
	ENSURE(p->ops->describe_key, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: DescribeKey unsupported", p->ops->name);
	memset(out, 0, sizeof(*out));
	coffer_rc rc = check_code(p->ops->describe_key(p, key_ref, out));
	if (rc == COFFER_OK && !out->arn[0])
		rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE,
				      "key provider %s: DescribeKey returned no ARN", p->ops->name);
	if (rc != COFFER_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

coffer_rc coffer_key_provider_create_grant(struct coffer_key_provider *p,
					   const struct coffer_key_grant_request *req,
					   char grant_id[COFFER_KEY_GRANT_ID_MAX], char **grant_token)
{
	ENSURE(req, COFFER_E_INVALID, "key provider: no grant request");
	TRY(check_ref(req->key_ref));
	TRY(check_ctx(req->context_subset));
	count(p, COFFER_KEY_OP_CREATE_GRANT);
	ENSURE(p->ops->create_grant, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: CreateGrant unsupported", p->ops->name);
	grant_id[0] = 0;
	*grant_token = NULL;
	coffer_rc rc = check_code(p->ops->create_grant(p, req, grant_id, grant_token));
	if (rc == COFFER_OK && (!grant_id[0] || !*grant_token))
		rc = coffer_error_set(COFFER_E_INTERNAL, COFFER_WHERE,
				      "key provider %s: CreateGrant broke its contract", p->ops->name);
	if (rc != COFFER_OK) {
		free(*grant_token);
		*grant_token = NULL;
		grant_id[0] = 0;
	}
	return rc;
}

coffer_rc coffer_key_provider_retire_grant(struct coffer_key_provider *p, const char *key_ref,
					   const char *grant_id, const char *grant_token)
{
	ENSURE((grant_token && grant_token[0]) || (key_ref && key_ref[0] && grant_id && grant_id[0]),
	       COFFER_E_INVALID, "key provider: RetireGrant needs a token or a key and grant id");
	count(p, COFFER_KEY_OP_RETIRE_GRANT);
	ENSURE(p->ops->retire_grant, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "key provider %s: RetireGrant unsupported", p->ops->name);
	return check_code(p->ops->retire_grant(p, key_ref, grant_id, grant_token));
}

uint64_t coffer_key_provider_calls(const struct coffer_key_provider *p, enum coffer_key_provider_op op)
{
	if ((int)op < 0 || op >= COFFER_KEY_OP_COUNT)
		return 0;
	return __atomic_load_n(&p->calls[op], __ATOMIC_RELAXED);
}

uint64_t coffer_key_provider_total_calls(const struct coffer_key_provider *p)
{
	uint64_t n = 0;
	for (int i = 0; i < COFFER_KEY_OP_COUNT; i++)
		n += coffer_key_provider_calls(p, (enum coffer_key_provider_op)i);
	return n;
}

const char *coffer_key_provider_op_name(enum coffer_key_provider_op op)
{
	switch (op) {
	case COFFER_KEY_OP_GENERATE_DATA_KEY: return "GenerateDataKey";
	case COFFER_KEY_OP_DECRYPT: return "Decrypt";
	case COFFER_KEY_OP_REENCRYPT: return "ReEncrypt";
	case COFFER_KEY_OP_DESCRIBE_KEY: return "DescribeKey";
	case COFFER_KEY_OP_CREATE_GRANT: return "CreateGrant";
	case COFFER_KEY_OP_RETIRE_GRANT: return "RetireGrant";
	case COFFER_KEY_OP_COUNT: break;
	}
	return "unknown";
}

void coffer_key_provider_free(struct coffer_key_provider *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p);
	free(p);
}

void coffer_key_ctx_to_kms(const struct coffer_key_context *in, struct coffer_kms_context_pair *pairs,
			   struct coffer_kms_context *out)
{
	size_t n = in ? in->n : 0;
	for (size_t i = 0; i < n; i++) {
		pairs[i].key = in->pairs[i].key;
		pairs[i].value = in->pairs[i].value;
	}
	out->pairs = pairs;
	out->n = n;
}

void coffer_key_copy_arn(char dst[COFFER_KEY_ARN_MAX], const char *src)
{
	snprintf(dst, COFFER_KEY_ARN_MAX, "%s", src);
}
