/*
 * context.c - encryption context: validation, the canonical form that blobs
 * authenticate, and the grant constraints (EncryptionContextSubset/Equals).
 *
 * Canonical form (the AAD suffix of a blob), pairs sorted by key bytewise:
 *   OFFSET  SIZE  MEANING
 *   0       2     number of pairs, big-endian
 *   2       var   per pair: u16 key length, key bytes, u16 value length, value bytes
 * Keys are case-sensitive and unique; the order given by the caller does not
 * matter (kms-semantics.md: "order free, case-sensitive").
 */
#include <stdlib.h>
#include <string.h>

#include "kms/kms_internal.h"

COFFER_RESULT kms_context_check(const struct coffer_kms_context *ctx)
{
	if (!ctx || ctx->n == 0)
		return COFFER_OK;
	ENSURE(ctx->n <= COFFER_KMS_MAX_CONTEXT_PAIRS, COFFER_E_KMS_VALIDATION,
	       "EncryptionContext has %zu pairs; at most %d are allowed", ctx->n,
	       COFFER_KMS_MAX_CONTEXT_PAIRS);
	size_t total = 0;
	for (size_t i = 0; i < ctx->n; i++) {
		const char *k = ctx->pairs[i].key, *v = ctx->pairs[i].value;
		ENSURE(k && v && k[0], COFFER_E_KMS_VALIDATION,
		       "EncryptionContext keys must be non-empty strings and values strings");
		total += strlen(k) + strlen(v);
		for (size_t j = 0; j < i; j++)
			ENSURE(strcmp(ctx->pairs[j].key, k) != 0, COFFER_E_KMS_VALIDATION,
			       "EncryptionContext has the key '%.64s' twice", k);
	}
	ENSURE(total <= 8192, COFFER_E_KMS_VALIDATION, "EncryptionContext is larger than 8192 bytes");
	return COFFER_OK;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct coffer_kms_context_pair *const *pa = a, *const *pb = b;
	return strcmp((*pa)->key, (*pb)->key);
}

void kms_context_canonical(const struct coffer_kms_context *ctx, struct coffer_buf *out)
{
	size_t n = ctx ? ctx->n : 0;
	coffer_buf_put_u16(out, (uint16_t)n);
	if (n == 0)
		return;
	const struct coffer_kms_context_pair **sorted = coffer_xcalloc(n, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = &ctx->pairs[i];
	qsort(sorted, n, sizeof(*sorted), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(sorted[i]->key), vl = strlen(sorted[i]->value);
		coffer_buf_put_u16(out, (uint16_t)kl);
		coffer_buf_put(out, sorted[i]->key, kl);
		coffer_buf_put_u16(out, (uint16_t)vl);
		coffer_buf_put(out, sorted[i]->value, vl);
	}
	free(sorted);
}

static const char *ctx_get(const struct coffer_kms_context *ctx, const char *key)
{
	for (size_t i = 0; ctx && i < ctx->n; i++)
		if (strcmp(ctx->pairs[i].key, key) == 0)
			return ctx->pairs[i].value;
	return NULL;
}

bool kms_context_subset_ok(const struct coffer_kms_context_pair *need, size_t n_need,
			   const struct coffer_kms_context *ctx)
{
	for (size_t i = 0; i < n_need; i++) {
		const char *v = ctx_get(ctx, need[i].key);
		if (!v || strcmp(v, need[i].value) != 0)
			return false;
	}
	return true;
}

bool kms_context_equals_ok(const struct coffer_kms_context_pair *need, size_t n_need,
			   const struct coffer_kms_context *ctx)
{
	size_t n = ctx ? ctx->n : 0;
	return n == n_need && kms_context_subset_ok(need, n_need, ctx);
}

char *kms_context_json(const struct coffer_kms_context *ctx)
{
	json_t *o = json_object();
	for (size_t i = 0; ctx && i < ctx->n; i++)
		json_object_set_new(o, ctx->pairs[i].key, json_string(ctx->pairs[i].value));
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

struct coffer_kms_context_pair *kms_context_copy(const struct coffer_kms_context *ctx, size_t *n)
{
	*n = ctx ? ctx->n : 0;
	if (*n == 0)
		return NULL;
	struct coffer_kms_context_pair *p = coffer_xcalloc(*n, sizeof(*p));
	for (size_t i = 0; i < *n; i++) {
		p[i].key = coffer_xstrdup(ctx->pairs[i].key);
		p[i].value = coffer_xstrdup(ctx->pairs[i].value);
	}
	return p;
}

void kms_pairs_free(struct coffer_kms_context_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)p[i].key);
		free((char *)p[i].value);
	}
	free(p);
}
