/*
 * principals.c - principals and their access keys, and the SigV4 signing-key
 * derivation that lets the API layer verify signatures without ever holding a
 * secret access key.
 *
 * Invariants:
 *  1. Secret access keys live only in struct coffer_secret and in sealed store
 *     records; coffer_kms_principal_create hands the caller one copy, once.
 *  2. Access key ids are "CKIA" + 16 characters of [A-Z2-7]; secrets are 40
 *     characters of base64's alphabet, 240 bits of randomness.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_internal.h"

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void coffer_kms_access_key_free(struct coffer_kms_access_key *k)
{
	if (!k)
		return;
	coffer_secret_free(&k->secret);
	memset(k, 0, sizeof(*k));
}

static COFFER_RESULT check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	ENSURE(n >= 1 && n <= 64 &&
		       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") == n,
	       COFFER_E_KMS_VALIDATION, "Principal name '%.80s' must be 1 to 64 of A-Z a-z 0-9 +=,.@_-",
	       name ? name : "");
	return COFFER_OK;
}

static COFFER_RESULT new_access_key(struct coffer_kms *kms, struct kms_principal *p,
				    struct coffer_kms_access_key *out)
{
	coffer_rc rc = COFFER_OK;
	uint8_t rnd[16 + COFFER_KMS_SECRET_KEY_LEN];
	struct kms_access_key ak = {0};
	TRY_FAIL(coffer_random_bytes(rnd, sizeof(rnd)));
	memcpy(ak.id, "CKIA", 4);
	for (int i = 0; i < 16; i++)
		ak.id[4 + i] = b32[rnd[i] & 31];
	ak.id[20] = 0;
	coffer_secret_alloc(&ak.secret, COFFER_KMS_SECRET_KEY_LEN);
	for (int i = 0; i < COFFER_KMS_SECRET_KEY_LEN; i++)
		ak.secret.ptr[i] = (uint8_t)b64[rnd[16 + i] & 63];
	ak.created_us = kms_now(kms);

	struct kms_principal next = *p;
	next.keys = coffer_xcalloc(p->n_keys + 1, sizeof(*next.keys));
	if (p->n_keys)
		memcpy(next.keys, p->keys, p->n_keys * sizeof(*next.keys));
	next.keys[p->n_keys] = ak;
	next.n_keys = p->n_keys + 1;
	struct coffer_buf rec;
	coffer_buf_init_secure(&rec);
	kms_encode_principal(&next, &rec);
	rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	if (rc != COFFER_OK) {
		free(next.keys);
		goto fail;
	}
	free(p->keys);
	p->keys = next.keys;
	p->n_keys = next.n_keys;
	memset(out, 0, sizeof(*out));
	snprintf(out->access_key_id, sizeof(out->access_key_id), "%s", ak.id);
	snprintf(out->principal_arn, sizeof(out->principal_arn), "%s", p->arn);
	coffer_secret_from(&out->secret, ak.secret.ptr, ak.secret.len);
	coffer_log_info(kms->log, "kms", "issued access key %s for %s", ak.id, p->arn);
	coffer_wipe(rnd, sizeof(rnd));
	return COFFER_OK;
fail:
	coffer_secret_free(&ak.secret);
	coffer_wipe(rnd, sizeof(rnd));
	return rc;
}

COFFER_RESULT coffer_kms_principal_create(struct coffer_kms *kms, const char *name,
					  struct coffer_kms_access_key *out)
{
	coffer_rc rc = COFFER_OK;
	memset(out, 0, sizeof(*out));
	TRY(check_name(name));
	pthread_mutex_lock(&kms->lock);
	struct kms_principal *p = kms_principal_by_name(kms, name);
	if (p) {
		/* The built-in principals exist from the first open without access
		 * keys; "creating" them issues their first key. */
		if (p->n_keys > 0) {
			rc = coffer_error_set(COFFER_E_KMS_ALREADY_EXISTS, COFFER_WHERE,
					      "Principal %s already exists", p->arn);
			goto out;
		}
		rc = new_access_key(kms, p, out);
		goto out;
	}
	p = COFFER_NEW(struct kms_principal);
	p->name = coffer_xstrdup(name);
	snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:user/%s", kms->account, name);
	p->created_us = kms_now(kms);
	rc = new_access_key(kms, p, out);
	if (rc != COFFER_OK) {
		free(p->name);
		free(p);
		goto out;
	}
	kms->principals = coffer_xrealloc(kms->principals, (kms->n_principals + 1) * sizeof(*kms->principals));
	kms->principals[kms->n_principals++] = p;
out:
	pthread_mutex_unlock(&kms->lock);
	return rc;
}

COFFER_RESULT coffer_kms_principal_add_access_key(struct coffer_kms *kms, const char *name,
						  struct coffer_kms_access_key *out)
{
	coffer_rc rc;
	memset(out, 0, sizeof(*out));
	TRY(check_name(name));
	pthread_mutex_lock(&kms->lock);
	struct kms_principal *p = kms_principal_by_name(kms, name);
	if (!p)
		rc = coffer_error_set(COFFER_E_KMS_NOT_FOUND, COFFER_WHERE, "Principal '%s' does not exist", name);
	else
		rc = new_access_key(kms, p, out);
	pthread_mutex_unlock(&kms->lock);
	return rc;
}

bool coffer_kms_principal_exists(struct coffer_kms *kms, const char *name)
{
	pthread_mutex_lock(&kms->lock);
	bool found = name && kms_principal_by_name(kms, name) != NULL;
	pthread_mutex_unlock(&kms->lock);
	return found;
}

COFFER_RESULT coffer_kms_sigv4_signing_key(struct coffer_kms *kms, const char *access_key_id,
					   const char *date8, const char *region,
					   const char *service, uint8_t out[32],
					   char principal_arn[COFFER_KMS_ARN_MAX])
{
	coffer_rc rc = COFFER_OK;
	ENSURE(access_key_id && date8 && region && service, COFFER_E_INVALID,
	       "sigv4 signing key: missing argument");
	pthread_mutex_lock(&kms->lock);
	const struct kms_access_key *found = NULL;
	const struct kms_principal *owner = NULL;
	for (size_t i = 0; i < kms->n_principals && !found; i++) {
		const struct kms_principal *p = kms->principals[i];
		for (size_t j = 0; j < p->n_keys; j++) {
			if (strcmp(p->keys[j].id, access_key_id) == 0) {
				found = &p->keys[j];
				owner = p;
				break;
			}
		}
	}
	if (!found) {
		rc = coffer_error_set(COFFER_E_KMS_UNRECOGNIZED_CLIENT, COFFER_WHERE,
				      "The security token included in the request is invalid: unknown access key %.32s",
				      access_key_id);
		goto out;
	}
	/* kSecret = "AWS4" + secret; kDate = HMAC(kSecret, date); ... */
	struct coffer_secret k;
	coffer_secret_alloc(&k, 4 + found->secret.len);
	memcpy(k.ptr, "AWS4", 4);
	memcpy(k.ptr + 4, found->secret.ptr, found->secret.len);
	uint8_t a[32], b[32];
	coffer_hmac_sha256(k.ptr, k.len, date8, strlen(date8), a);
	coffer_hmac_sha256(a, 32, region, strlen(region), b);
	coffer_hmac_sha256(b, 32, service, strlen(service), a);
	coffer_hmac_sha256(a, 32, "aws4_request", 12, out);
	coffer_wipe(a, sizeof(a));
	coffer_wipe(b, sizeof(b));
	coffer_secret_free(&k);
	if (principal_arn)
		snprintf(principal_arn, COFFER_KMS_ARN_MAX, "%s", owner->arn);
out:
	pthread_mutex_unlock(&kms->lock);
	return rc;
}
