/*
 * provider_remote.c - the key provider over a remote KMS (a coffer-kms, or
 * AWS KMS) reached with the SigV4-signing client (kmsapi/kms_client.h).
 *
 * The remote KMS authenticates the access key the client signs with, so the
 * provider acts as whichever principal owns those credentials (for cofferd:
 * the built-in "coffer-service" principal of coffer-kms). Everything else is
 * as in provider_embedded.c, so code above cannot tell the two apart:
 *
 *  1. Same calls, same arguments: the table's grant tokens travel as the
 *     request's GrantTokens; ReEncrypt keeps the context (source = target).
 *  2. Same error codes: the client maps the reply's __type to the engine's
 *     COFFER_E_KMS_* codes; a KMS that cannot be reached after the client's
 *     retries is COFFER_E_UNAVAILABLE.
 *  3. DescribeKey's KeyState maps Enabled / PendingDeletion / anything else
 *     (Disabled, PendingImport, Unavailable...) to the three provider states;
 *     KeyManager "AWS" is the service-owned key.
 *  4. A grant with no grantee or retiring principal goes to the provider's
 *     own principal. A SigV4 client cannot ask who it is (coffer-kms has no
 *     STS), so that principal is arn:<partition>:iam::<account>:user/
 *     coffer-service, with partition and account taken from the key's ARN:
 *     the service principal's ARN on a coffer-kms.
 *
 * The secret access key lives only inside the client (secret memory); this
 * file never sees it after creation and never logs anything.
 */
#include "keys/provider.h"
#include "keys/provider_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms/kms.h"
#include "kmsapi/kms_client.h"
#include "util/alloc.h"

struct remote {
	struct coffer_kms_client *client;
	char *endpoint;                      /* for messages */
	pthread_mutex_t lock;                /* guards principal */
	char principal[COFFER_KEY_ARN_MAX];  /* "" until learned (invariant 4) */
};

static struct remote *remote_of(struct coffer_key_provider *self)
{
	return self->impl;
}

static void caller_of(const struct coffer_key_grants *g, struct coffer_kms_caller *c)
{
	c->principal_arn = NULL; /* the access key decides */
	c->grant_tokens = g ? g->tokens : NULL;
	c->n_grant_tokens = g ? g->n : 0;
}

static coffer_rc r_generate(struct coffer_key_provider *self, const char *key_ref,
			    const struct coffer_key_context *ctx, const struct coffer_key_grants *grants,
			    struct coffer_secret *plaintext, struct coffer_buf *blob,
			    char key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	TRY(coffer_kms_client_generate_data_key(remote_of(self)->client, &c, key_ref, COFFER_KEY_BYTES,
						&kctx, plaintext, blob, arn));
	coffer_key_copy_arn(key_arn, arn);
	return COFFER_OK;
}

static coffer_rc r_decrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			   const struct coffer_key_context *ctx, const char *key_ref,
			   const struct coffer_key_grants *grants, struct coffer_secret *plaintext,
			   char key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	TRY(coffer_kms_client_decrypt(remote_of(self)->client, &c, blob, &kctx, key_ref, plaintext, arn));
	coffer_key_copy_arn(key_arn, arn);
	return COFFER_OK;
}

static coffer_rc r_reencrypt(struct coffer_key_provider *self, struct coffer_slice blob,
			     const struct coffer_key_context *ctx, const char *src_key_ref,
			     const char *dst_key_ref, const struct coffer_key_grants *grants,
			     struct coffer_buf *blob_out, char dst_key_arn[COFFER_KEY_ARN_MAX])
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char src_arn[COFFER_KMS_ARN_MAX] = {0}, dst_arn[COFFER_KMS_ARN_MAX] = {0};
	caller_of(grants, &c);
	coffer_key_ctx_to_kms(ctx, pairs, &kctx);
	TRY(coffer_kms_client_reencrypt(remote_of(self)->client, &c, blob, &kctx, src_key_ref,
					dst_key_ref, &kctx, blob_out, src_arn, dst_arn));
	coffer_key_copy_arn(dst_key_arn, dst_arn);
	return COFFER_OK;
}

static coffer_rc r_describe(struct coffer_key_provider *self, const char *key_ref,
			    struct coffer_key_description *out)
{
	struct coffer_kms_caller c;
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	caller_of(NULL, &c);
	TRY(coffer_kms_client_describe_key(remote_of(self)->client, &c, key_ref, &info));
	snprintf(out->key_id, sizeof(out->key_id), "%s", info.key_id);
	coffer_key_copy_arn(out->arn, info.arn);
	out->service_owned = info.service_owned;
	switch (info.state) {
	case COFFER_KMS_KEY_ENABLED: out->state = COFFER_KEY_STATE_ENABLED; break;
	case COFFER_KMS_KEY_PENDING_DELETION: out->state = COFFER_KEY_STATE_PENDING_DELETION; break;
	default: out->state = COFFER_KEY_STATE_DISABLED; break;
	}
	coffer_kms_key_info_free(&info);
	return COFFER_OK;
}

/* Invariant 4: "arn:P:kms:R:A:key/ID" -> "arn:P:iam::A:user/coffer-service". */
static COFFER_RESULT principal_from_key_arn(const char *key_arn, char out[COFFER_KEY_ARN_MAX])
{
	const char *f[6] = {0};
	const char *p = key_arn;
	int n = 0;
	while (n < 6 && p) {
		f[n++] = p;
		p = strchr(p, ':');
		if (p)
			p++;
	}
	ENSURE(n == 6 && strncmp(key_arn, "arn:", 4) == 0, COFFER_E_KMS_INTERNAL,
	       "the KMS returned a key ARN '%.200s' that is not arn:partition:kms:region:account:key/id",
	       key_arn);
	int plen = (int)(f[2] - f[1] - 1), alen = (int)(f[5] - f[4] - 1);
	snprintf(out, COFFER_KEY_ARN_MAX, "arn:%.*s:iam::%.*s:user/%s", plen, f[1], alen, f[4],
		 COFFER_KMS_SERVICE_PRINCIPAL_NAME);
	return COFFER_OK;
}

static COFFER_RESULT own_principal(struct coffer_key_provider *self, const char *key_ref,
				   char out[COFFER_KEY_ARN_MAX])
{
	struct remote *r = remote_of(self);
	pthread_mutex_lock(&r->lock);
	snprintf(out, COFFER_KEY_ARN_MAX, "%s", r->principal);
	pthread_mutex_unlock(&r->lock);
	if (out[0])
		return COFFER_OK;
	struct coffer_key_description d;
	memset(&d, 0, sizeof(d));
	TRY(r_describe(self, key_ref, &d));
	TRY(principal_from_key_arn(d.arn, out));
	pthread_mutex_lock(&r->lock);
	snprintf(r->principal, sizeof(r->principal), "%s", out);
	pthread_mutex_unlock(&r->lock);
	return COFFER_OK;
}

static coffer_rc r_create_grant(struct coffer_key_provider *self,
				const struct coffer_key_grant_request *req,
				char grant_id[COFFER_KEY_GRANT_ID_MAX], char **grant_token)
{
	struct coffer_kms_caller c;
	struct coffer_kms_context_pair pairs[COFFER_KEY_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context kctx;
	char id[COFFER_KMS_GRANT_ID_MAX] = {0};
	char me[COFFER_KEY_ARN_MAX] = {0};
	caller_of(NULL, &c);
	coffer_key_ctx_to_kms(req->context_subset, pairs, &kctx);
	if (!req->grantee_principal || !req->retiring_principal)
		TRY(own_principal(self, req->key_ref, me));
	struct coffer_kms_create_grant_req kreq = {
		.key_ref = req->key_ref,
		.grantee_principal = req->grantee_principal ? req->grantee_principal : me,
		.retiring_principal = req->retiring_principal ? req->retiring_principal : me,
		.operations = COFFER_KEY_GRANT_OPERATIONS,
		.context_subset = req->context_subset ? &kctx : NULL,
		.context_equals = NULL,
		.name = req->name,
	};
	TRY(coffer_kms_client_create_grant(remote_of(self)->client, &c, &kreq, id, grant_token));
	snprintf(grant_id, COFFER_KEY_GRANT_ID_MAX, "%s", id);
	return COFFER_OK;
}

static coffer_rc r_retire_grant(struct coffer_key_provider *self, const char *key_ref,
				const char *grant_id, const char *grant_token)
{
	struct coffer_kms_caller c;
	caller_of(NULL, &c);
	return coffer_kms_client_retire_grant(remote_of(self)->client, &c, grant_token, key_ref,
					      grant_id);
}

static void r_destroy(struct coffer_key_provider *self)
{
	struct remote *r = self->impl;
	if (!r)
		return;
	coffer_kms_client_free(r->client);
	pthread_mutex_destroy(&r->lock);
	free(r->endpoint);
	free(r);
	self->impl = NULL;
}

static const struct coffer_key_provider_ops remote_ops = {
	.name = "remote",
	.generate_data_key = r_generate,
	.decrypt = r_decrypt,
	.reencrypt = r_reencrypt,
	.describe_key = r_describe,
	.create_grant = r_create_grant,
	.retire_grant = r_retire_grant,
	.destroy = r_destroy,
};

COFFER_RESULT coffer_key_provider_remote(const struct coffer_kms_client_config *cfg,
					 struct coffer_key_provider **out)
{
	struct coffer_kms_client *client = NULL;
	*out = NULL;
	TRY(coffer_kms_client_new(cfg, &client));
	struct remote *r = COFFER_NEW(struct remote);
	r->client = client;
	r->endpoint = coffer_xstrdup(cfg->endpoint);
	pthread_mutex_init(&r->lock, NULL);
	struct coffer_key_provider *p = COFFER_NEW(struct coffer_key_provider);
	p->ops = &remote_ops;
	p->impl = r;
	*out = p;
	return COFFER_OK;
}

const char *coffer_key_provider_remote_endpoint(const struct coffer_key_provider *p)
{
	if (!p || p->ops != &remote_ops)
		return NULL;
	return ((const struct remote *)p->impl)->endpoint;
}

/* ---- finding the coffer service key ---------------------------------------------- */

/* One ListKeys page: appends the key ids to *ids (n, cap) and sets *marker
 * (owned) to the next page's marker or NULL. */
static COFFER_RESULT list_keys_page(struct remote *r, const char *marker, char ***ids, size_t *n,
				    char **next)
{
	char req[160];
	char *resp = NULL;
	json_t *root = NULL;
	coffer_rc rc = COFFER_OK;
	*next = NULL;
	/* Markers are key ids coffer-kms or AWS handed out: [A-Za-z0-9-], no
	 * escaping needed; anything else is refused rather than sent. */
	if (marker) {
		ENSURE(strlen(marker) < 100 &&
			       strspn(marker, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					      "0123456789-_=+/") == strlen(marker),
		       COFFER_E_KMS_INTERNAL, "ListKeys: the KMS at %s returned an unusable marker",
		       r->endpoint);
		snprintf(req, sizeof(req), "{\"Limit\":100,\"Marker\":\"%s\"}", marker);
	} else {
		snprintf(req, sizeof(req), "{\"Limit\":100}");
	}
	TRY(coffer_kms_client_call(r->client, "ListKeys", coffer_slice_str(req), &resp));
	root = json_loads(resp, 0, NULL);
	json_t *keys = root ? json_object_get(root, "Keys") : NULL;
	ENSURE_FAIL(json_is_array(keys), COFFER_E_KMS_INTERNAL,
		    "ListKeys: the KMS at %s sent a reply without Keys", r->endpoint);
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *id = json_object_get(json_array_get(keys, i), "KeyId");
		if (!json_is_string(id))
			continue;
		*ids = coffer_xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = coffer_xstrdup(json_string_value(id));
	}
	json_t *trunc = json_object_get(root, "Truncated");
	json_t *nm = json_object_get(root, "NextMarker");
	if (json_is_true(trunc) && json_is_string(nm))
		*next = coffer_xstrdup(json_string_value(nm));
fail:
	if (root)
		json_decref(root);
	free(resp);
	return rc;
}

COFFER_RESULT coffer_key_provider_remote_service_key(struct coffer_key_provider *p,
						     char key_arn[COFFER_KEY_ARN_MAX])
{
	ENSURE(p && p->ops == &remote_ops, COFFER_E_INVALID, "not a remote key provider");
	struct remote *r = p->impl;
	char **ids = NULL, *marker = NULL;
	size_t n = 0;
	coffer_rc rc = COFFER_OK;
	key_arn[0] = 0;
	/* At most 100 pages (10,000 keys): the service key is normally the
	 * first one, created when coffer-kms first started. */
	for (int page = 0; page < 100; page++) {
		char *next = NULL;
		TRY_FAIL(list_keys_page(r, marker, &ids, &n, &next));
		free(marker);
		marker = next;
		if (!marker)
			break;
	}
	for (size_t i = 0; i < n && !key_arn[0]; i++) {
		struct coffer_key_description d;
		memset(&d, 0, sizeof(d));
		rc = r_describe(p, ids[i], &d);
		if (rc == COFFER_E_KMS_ACCESS_DENIED || rc == COFFER_E_KMS_NOT_FOUND) {
			rc = COFFER_OK; /* a key we may not see, or one deleted meanwhile */
			continue;
		}
		if (rc != COFFER_OK)
			goto fail;
		if (d.service_owned)
			coffer_key_copy_arn(key_arn, d.arn);
	}
	ENSURE_FAIL(key_arn[0], COFFER_E_KMS_NOT_FOUND,
		    "the KMS at %s shows these credentials no coffer service key: use the "
		    "coffer-service principal's credentials of a coffer-kms (which creates the key at "
		    "start), or name a key with --kms-service-key",
		    r->endpoint);
fail:
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(marker);
	return rc;
}
