/*
 * provider_embedded.c - the key provider over the in-process KMS engine.
 *
 * Every call is made as the service principal (coffer_kms_service_principal),
 * with the table's grant tokens, exactly as a remote cofferd would call a
 * coffer-kms or AWS KMS; so policies, grants and key states apply the same way
 * in both deployments.
 *
 * The engine's per-principal quota answers ThrottlingException past its
 * rate; GenerateDataKey, Decrypt and ReEncrypt (the quota'd operations) are
 * then retried with backoff (EMBEDDED_ATTEMPTS in all, 25 ms doubling), as
 * the remote client retries a throttling coffer-kms; what is still
 * throttled after that goes up as COFFER_E_KMS_THROTTLING (a retryable
 * Overloaded for CQL clients).
 */
#include "keys/provider.h"
#include "keys/provider_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms/kms.h"
#include "util/alloc.h"

struct embedded {
	struct coffer_kms *kms;
};

static struct coffer_kms *kms_of(struct coffer_key_provider *self)
{
	return ((struct embedded *)self->impl)->kms;
}

static void caller_of(struct coffer_key_provider *self, const struct coffer_key_grants *g,
		      struct coffer_kms_caller *c)
{
	c->principal_arn = coffer_kms_service_principal(kms_of(self));
	c->grant_tokens = g ? g->tokens : NULL;
	c->n_grant_tokens = g ? g->n : 0;
}

#define EMBEDDED_ATTEMPTS 4

/* Whether to try again after `rc`: throttled and attempts left (then it
 * has slept). */
static bool throttled_retry(coffer_rc rc, int *attempt)
{
	if (rc != COFFER_E_KMS_THROTTLING || ++*attempt >= EMBEDDED_ATTEMPTS)
		return false;
	long ms = 25L << (*attempt - 1);
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
	return true;
}

static coffer_rc e_generate(struct coffer_key_provider *self, const char *key_ref,
			    const struct coffer_key_context *ctx, const struct coffer_key_grants *grants,
			    struct coffer_secret *plaintext, struct coffer_buf *blob,
			    char key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(self, grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	coffer_rc rc;
	int attempt = 0;
	do
		rc = coffer_kms_generate_data_key(kms_of(self), &c, key_ref, COFFER_KEY_BYTES, &kctx, plaintext, blob,
						  arn);
	while (throttled_retry(rc, &attempt));
	TRY(rc);
	coffer_key_copy_arn(key_arn, arn);
	return COFFER_OK;
}

static coffer_rc e_decrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			   const struct coffer_key_context *ctx, const char *key_ref,
			   const struct coffer_key_grants *grants, struct coffer_secret *plaintext,
			   char key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(self, grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	coffer_rc rc;
	int attempt = 0;
	do
		rc = coffer_kms_decrypt(kms_of(self), &c, blob, &kctx, key_ref, plaintext, arn);
	while (throttled_retry(rc, &attempt));
	TRY(rc);
	coffer_key_copy_arn(key_arn, arn);
	return COFFER_OK;
}

static coffer_rc e_reencrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			     const struct coffer_key_context *ctx, const char *src_key_ref,
			     const char *dst_key_ref, const struct coffer_key_grants *grants,
			     struct coffer_buf *blob_out, char dst_key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char src_arn[COFFER_KMS_ARN_MAX] = {0}, dst_arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(self, grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	coffer_rc rc;
	int attempt = 0;
	do
		rc = coffer_kms_reencrypt(kms_of(self), &c, blob, &kctx, src_key_ref, dst_key_ref, &kctx, blob_out,
					  src_arn, dst_arn);
	while (throttled_retry(rc, &attempt));
	TRY(rc);
	coffer_key_copy_arn(dst_key_arn, dst_arn);
	return COFFER_OK;
}

static coffer_rc e_describe(struct coffer_key_provider *self, const char *key_ref,
			    struct coffer_key_description *out)
{
	struct coffer_kms_caller c;
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	caller_of(self, NULL, &c);
	TRY(coffer_kms_describe_key(kms_of(self), &c, key_ref, &info));
	snprintf(out->key_id, sizeof(out->key_id), "%s", info.key_id);
	coffer_key_copy_arn(out->arn, info.arn);
	out->service_owned = info.service_owned;
	switch (info.state) {
	case COFFER_KMS_KEY_ENABLED: out->state = COFFER_KEY_STATE_ENABLED; break;
	case COFFER_KMS_KEY_DISABLED: out->state = COFFER_KEY_STATE_DISABLED; break;
	default: out->state = COFFER_KEY_STATE_PENDING_DELETION; break;
	}
	coffer_kms_key_info_free(&info);
	return COFFER_OK;
}

static coffer_rc e_create_grant(struct coffer_key_provider *self,
				const struct coffer_key_grant_request *req,
				char grant_id[COFFER_KEY_GRANT_ID_MAX], char **grant_token)
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char id[COFFER_KMS_GRANT_ID_MAX] = {0};
	caller_of(self, NULL, &c);
	coffer_key_ctx_to_kms(req->context_subset, pairs, &kctx);
	struct coffer_kms_create_grant_req kreq = {
		.key_ref = req->key_ref,
		.grantee_principal =
			req->grantee_principal ? req->grantee_principal : c.principal_arn,
		.retiring_principal =
			req->retiring_principal ? req->retiring_principal : c.principal_arn,
		.operations = COFFER_KEY_GRANT_OPERATIONS,
		.context_subset = req->context_subset ? &kctx : NULL,
		.context_equals = NULL,
		.name = req->name,
	};
	TRY(coffer_kms_create_grant(kms_of(self), &c, &kreq, id, grant_token));
	snprintf(grant_id, COFFER_KEY_GRANT_ID_MAX, "%s", id);
	return COFFER_OK;
}

static coffer_rc e_retire_grant(struct coffer_key_provider *self, const char *key_ref,
				const char *grant_id, const char *grant_token)
{
	struct coffer_kms_caller c;
	caller_of(self, NULL, &c);
	return coffer_kms_retire_grant(kms_of(self), &c, grant_token, key_ref, grant_id);
}

static void e_destroy(struct coffer_key_provider *self)
{
	free(self->impl);
	self->impl = NULL;
}

static const struct coffer_key_provider_ops embedded_ops = {
	.name = "embedded",
	.generate_data_key = e_generate,
	.decrypt = e_decrypt,
	.reencrypt = e_reencrypt,
	.describe_key = e_describe,
	.create_grant = e_create_grant,
	.retire_grant = e_retire_grant,
	.destroy = e_destroy,
};

struct coffer_key_provider *coffer_key_provider_embedded(struct coffer_kms *kms)
{
	struct coffer_key_provider *p = COFFER_NEW(struct coffer_key_provider);
	struct embedded *e = COFFER_NEW(struct embedded);
	e->kms = kms;
	p->ops = &embedded_ops;
	p->impl = e;
	return p;
}
