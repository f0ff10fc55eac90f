/*
 * provider_counting.c - a provider that forwards every call to another one
 * and reports each call, with the table it was made for, to a hook: how
 * cofferd counts KMS calls per table and operation (issue 6) without the
 * keyring or storage knowing about it.
 *
 * The table is read from the call itself: the encryption context of
 * GenerateDataKey, Decrypt and ReEncrypt, the EncryptionContextSubset of
 * CreateGrant ({"coffer:keyspace", "coffer:table"}, as keyring.c and
 * keyhealth.c build them). Calls that carry neither (DescribeKey,
 * RetireGrant, the catalog key) are reported with keyspace and table NULL;
 * their callers attribute them themselves where they know the table.
 *
 * The inner provider is borrowed and must outlive this one; its own counters
 * (coffer_key_provider_calls) keep counting every call too.
 */
#include "keys/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct counting {
	struct coffer_key_provider *inner;
	coffer_key_call_hook hook;
	void *arg;
};

static struct counting *counting_of(struct coffer_key_provider *self)
{
	return self->impl;
}

static const char *ctx_get(const struct coffer_key_context *ctx, const char *key)
{
	for (size_t i = 0; ctx && i < ctx->n; i++)
		if (strcmp(ctx->pairs[i].key, key) == 0)
			return ctx->pairs[i].value;
	return NULL;
}

static coffer_rc report(struct coffer_key_provider *self, const struct coffer_key_context *ctx,
			enum coffer_key_provider_op op, coffer_rc rc)
{
	struct counting *c = counting_of(self);
	const char *ks = ctx_get(ctx, "coffer:keyspace"), *table = ctx_get(ctx, "coffer:table");
	if (!ks || !table)
		ks = table = NULL;
	/* The hook must not clobber the caller's error detail. */
	char msg[512] = "";
	if (rc != COFFER_OK)
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	c->hook(c->arg, ks, table, op, rc);
	if (rc != COFFER_OK)
		coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	return rc;
}

static coffer_rc c_generate_data_key(struct coffer_key_provider *self, const char *key_ref,
				     const struct coffer_key_context *ctx,
				     const struct coffer_key_grants *grants, struct coffer_secret *plaintext,
				     struct coffer_buf *blob, char key_arn[COFFER_KEY_ARN_MAX])
{
	coffer_rc rc = coffer_key_provider_generate_data_key(counting_of(self)->inner, key_ref, ctx, grants,
							     plaintext, blob, key_arn);
	return report(self, ctx, COFFER_KEY_OP_GENERATE_DATA_KEY, rc);
}

static coffer_rc c_decrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			   const struct coffer_key_context *ctx, const char *key_ref,
			   const struct coffer_key_grants *grants, struct coffer_secret *plaintext,
			   char key_arn[COFFER_KEY_ARN_MAX])
{
	coffer_rc rc = coffer_key_provider_decrypt(counting_of(self)->inner, blob, ctx, key_ref, grants,
						   plaintext, key_arn);
	return report(self, ctx, COFFER_KEY_OP_DECRYPT, rc);
}

static coffer_rc c_reencrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			     const struct coffer_key_context *ctx, const char *src_key_ref,
			     const char *dst_key_ref, const struct coffer_key_grants *grants,
			     struct coffer_buf *blob_out, char dst_key_arn[COFFER_KEY_ARN_MAX])
{
	coffer_rc rc = coffer_key_provider_reencrypt(counting_of(self)->inner, blob, ctx, src_key_ref,
						     dst_key_ref, grants, blob_out, dst_key_arn);
	return report(self, ctx, COFFER_KEY_OP_REENCRYPT, rc);
}

static coffer_rc c_describe_key(struct coffer_key_provider *self, const char *key_ref,
				struct coffer_key_description *out)
{
	coffer_rc rc = coffer_key_provider_describe_key(counting_of(self)->inner, key_ref, out);
	return report(self, NULL, COFFER_KEY_OP_DESCRIBE_KEY, rc);
}

static coffer_rc c_create_grant(struct coffer_key_provider *self, const struct coffer_key_grant_request *req,
				char grant_id[COFFER_KEY_GRANT_ID_MAX], char **grant_token)
{
	coffer_rc rc = coffer_key_provider_create_grant(counting_of(self)->inner, req, grant_id, grant_token);
	return report(self, req->context_subset, COFFER_KEY_OP_CREATE_GRANT, rc);
}

static coffer_rc c_retire_grant(struct coffer_key_provider *self, const char *key_ref, const char *grant_id,
				const char *grant_token)
{
	coffer_rc rc = coffer_key_provider_retire_grant(counting_of(self)->inner, key_ref, grant_id, grant_token);
	return report(self, NULL, COFFER_KEY_OP_RETIRE_GRANT, rc);
}

static void c_destroy(struct coffer_key_provider *self)
{
	free(self->impl);
	self->impl = NULL;
}

static const struct coffer_key_provider_ops counting_ops = {
	.name = "counting",
	.generate_data_key = c_generate_data_key,
	.decrypt = c_decrypt,
	.reencrypt = c_reencrypt,
	.describe_key = c_describe_key,
	.create_grant = c_create_grant,
	.retire_grant = c_retire_grant,
	.destroy = c_destroy,
};

struct coffer_key_provider *coffer_key_provider_counting(struct coffer_key_provider *inner,
							 coffer_key_call_hook hook, void *arg)
{
	struct counting *c = COFFER_NEW(struct counting);
	c->inner = inner;
	c->hook = hook;
	c->arg = arg;
	struct coffer_key_provider *p = COFFER_NEW(struct coffer_key_provider);
	p->ops = &counting_ops;
	p->impl = c;
	return p;
}
