/* keys_helper.c - see keys_helper.h. */
#include "keys_helper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/alloc.h"

static int find(struct fake_kms *fk, const char *ref)
{
	for (int i = 0; i < fk->n_keys; i++)
		if (strcmp(fk->ids[i], ref) == 0 ||
		    (strncmp(ref, "arn:fake:", 9) == 0 && strcmp(fk->ids[i], ref + 9) == 0))
			return i;
	return -1;
}

static void aad_of(const char *id, const struct coffer_key_context *ctx, struct coffer_buf *b)
{
	coffer_buf_put_str(b, id);
	for (size_t i = 0; ctx && i < ctx->n; i++) {
		coffer_buf_put_str(b, ctx->pairs[i].key);
		coffer_buf_put_str(b, ctx->pairs[i].value);
	}
}

static coffer_rc fk_generate(struct coffer_key_provider *self, const char *key_ref,
			     const struct coffer_key_context *ctx, const struct coffer_key_grants *g,
			     struct coffer_secret *pt, struct coffer_buf *blob,
			     char key_arn[COFFER_KEY_ARN_MAX])
{
	struct fake_kms *fk = self->impl;
	(void)g;
	int i = find(fk, key_ref);
	if (i < 0)
		BAIL(COFFER_E_KMS_NOT_FOUND, "no key %s", key_ref);
	if (fk->disabled[i])
		BAIL(COFFER_E_KMS_DISABLED, "key %s is disabled", fk->ids[i]);
	if (fk->misbehave == 2)
		BAIL(COFFER_E_IO, "bad provider");
	coffer_secret_alloc(pt, fk->misbehave == 1 ? 16 : 32);
	TRY(coffer_random_bytes(pt->ptr, pt->len));
	struct coffer_buf aad = {0};
	aad_of(fk->ids[i], ctx, &aad);
	coffer_buf_put_str(blob, fk->ids[i]);
	uint8_t *nonce = coffer_buf_extend(blob, 12);
	TRY(coffer_random_bytes(nonce, 12));
	uint8_t *ct = coffer_buf_extend(blob, pt->len + 16);
	nonce = ct - 12;
	TRY(coffer_aead_seal(fk->master[i], nonce, coffer_buf_slice(&aad),
			     coffer_slice_of(pt->ptr, pt->len), ct, ct + pt->len));
	coffer_buf_free(&aad);
	snprintf(key_arn, COFFER_KEY_ARN_MAX, "arn:fake:%s", fk->ids[i]);
	return COFFER_OK;
}

static coffer_rc fk_decrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			    const struct coffer_key_context *ctx, const char *key_ref,
			    const struct coffer_key_grants *g, struct coffer_secret *pt,
			    char key_arn[COFFER_KEY_ARN_MAX])
{
	struct fake_kms *fk = self->impl;
	(void)g;
	struct coffer_reader r;
	char *id = NULL;
	struct coffer_slice nonce, ct;
	coffer_reader_init(&r, blob, "fake blob");
	if (coffer_reader_str(&r, 31, &id) != COFFER_OK ||
	    coffer_reader_bytes(&r, 12, &nonce) != COFFER_OK || coffer_reader_left(&r) != 48 ||
	    coffer_reader_bytes(&r, 48, &ct) != COFFER_OK) {
		free(id);
		BAIL(COFFER_E_KMS_INVALID_CIPHERTEXT, "bad blob");
	}
	int i = find(fk, id);
	free(id);
	if (i < 0)
		BAIL(COFFER_E_KMS_INVALID_CIPHERTEXT, "unknown key");
	if (key_ref && find(fk, key_ref) != i)
		BAIL(COFFER_E_KMS_INCORRECT_KEY, "wrong key");
	if (fk->disabled[i])
		BAIL(COFFER_E_KMS_DISABLED, "key %s is disabled", fk->ids[i]);
	struct coffer_buf aad = {0};
	aad_of(fk->ids[i], ctx, &aad);
	coffer_secret_alloc(pt, 32);
	coffer_rc rc = coffer_aead_open(fk->master[i], nonce.ptr, coffer_buf_slice(&aad),
					coffer_slice_of(ct.ptr, 32), ct.ptr + 32, pt->ptr);
	coffer_buf_free(&aad);
	if (rc != COFFER_OK) {
		coffer_secret_free(pt);
		BAIL(COFFER_E_KMS_INVALID_CIPHERTEXT, "does not decrypt");
	}
	snprintf(key_arn, COFFER_KEY_ARN_MAX, "arn:fake:%s", fk->ids[i]);
	return COFFER_OK;
}

static coffer_rc fk_describe(struct coffer_key_provider *self, const char *key_ref,
			     struct coffer_key_description *out)
{
	struct fake_kms *fk = self->impl;
	int i = find(fk, key_ref);
	if (i < 0)
		BAIL(COFFER_E_KMS_NOT_FOUND, "no key %s", key_ref);
	snprintf(out->key_id, sizeof(out->key_id), "%s", fk->ids[i]);
	snprintf(out->arn, sizeof(out->arn), "arn:fake:%s", fk->ids[i]);
	out->state = fk->disabled[i] ? COFFER_KEY_STATE_DISABLED : COFFER_KEY_STATE_ENABLED;
	return COFFER_OK;
}

static const struct coffer_key_provider_ops fake_ops = {
	.name = "fake",
	.generate_data_key = fk_generate,
	.decrypt = fk_decrypt,
	.describe_key = fk_describe,
};

struct coffer_key_provider *fake_provider_new(struct fake_kms *fk)
{
	memset(fk, 0, sizeof(*fk));
	fk->n_keys = 3;
	const char *names[] = {"key-a", "key-b", "key-c"};
	for (int i = 0; i < 3; i++) {
		snprintf(fk->ids[i], sizeof(fk->ids[i]), "%s", names[i]);
		if (coffer_random_bytes(fk->master[i], 32) != COFFER_OK)
			abort();
	}
	struct coffer_key_provider *p = COFFER_NEW(struct coffer_key_provider);
	p->ops = &fake_ops;
	p->impl = fk;
	return p;
}

void fake_kms_disable(struct fake_kms *fk, const char *id, bool disabled)
{
	int i = find(fk, id);
	if (i >= 0)
		fk->disabled[i] = disabled;
}

char *test_tmpdir(const char *tag)
{
	char *t = coffer_xasprintf("/tmp/coffer-%s-XXXXXX", tag);
	if (!mkdtemp(t))
		abort();
	return t;
}

void rmtree(const char *dir)
{
	char *cmd = coffer_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "rmtree %s failed\n", dir);
	free(cmd);
}
