/*
 * grants.c - grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
 * RevokeGrant, and the grant tokens that name them.
 *
 * Grant token (base64 of 65 bytes):
 *   OFFSET  SIZE  MEANING
 *   0       1     token format version (1)
 *   1       16    key id (uuid bytes)
 *   17      32    grant id (the 64-hex id's bytes)
 *   49      16    HMAC-SHA256(token key, bytes [0, 49)) truncated; the token key
 *                 derives from the seal key, so only this KMS mints valid tokens
 *
 * Invariants:
 *  1. A key holds at most max_grants live grants (50,000 by default); the next
 *     CreateGrant is LimitExceededException.
 *  2. A named grant retried with the same parameters returns the existing grant
 *     (no duplicate); different parameters make a new grant (AWS semantics).
 *  3. A retired or revoked grant is removed at once and authorizes nothing.
 *  4. A principal that holds CreateGrant only through a grant cannot hand out
 *     more operations than that grant has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_call.h"
#include "kms/kms_internal.h"

#define TOKEN_BYTES 65

void kms_grant_free(struct kms_grant *g)
{
	if (!g)
		return;
	free(g->name);
	kms_pairs_free(g->subset, g->n_subset);
	kms_pairs_free(g->equals, g->n_equals);
	free(g);
}

bool kms_grant_allows(const struct kms_grant *g, enum coffer_kms_op op,
		      const struct coffer_kms_context *ctx)
{
	if (!(g->operations & COFFER_KMS_OP_BIT(op)))
		return false;
	if (g->has_subset && !kms_context_subset_ok(g->subset, g->n_subset, ctx))
		return false;
	if (g->has_equals && !kms_context_equals_ok(g->equals, g->n_equals, ctx))
		return false;
	return true;
}

static char *token_make(struct coffer_kms *kms, const struct kms_key *k, const char *grant_id)
{
	uint8_t t[TOKEN_BYTES];
	uint8_t mac[COFFER_HMAC_SHA256_BYTES];
	struct coffer_buf gid = {0};
	t[0] = 1;
	memcpy(t + 1, k->id_bin, 16);
	if (coffer_hex_decode(grant_id, &gid) != COFFER_OK || gid.len != 32)
		abort(); /* ids are made here, always 64 hex */
	memcpy(t + 17, gid.ptr, 32);
	coffer_buf_free(&gid);
	coffer_hmac_sha256(kms->token_key.ptr, kms->token_key.len, t, 49, mac);
	memcpy(t + 49, mac, 16);
	return coffer_base64_encode(t, sizeof(t));
}

COFFER_RESULT kms_grant_token_parse(struct coffer_kms *kms, const char *token,
				    char key_id[COFFER_KMS_KEY_ID_MAX], char grant_id[COFFER_KMS_GRANT_ID_MAX])
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf raw = {0};
	uint8_t mac[COFFER_HMAC_SHA256_BYTES];
	ENSURE(token && strlen(token) <= 8192, COFFER_E_KMS_INVALID_GRANT_TOKEN, "The grant token is missing or too long");
	if (coffer_base64_decode(token, strlen(token), &raw) != COFFER_OK || raw.len != TOKEN_BYTES ||
	    raw.ptr[0] != 1)
		BAIL_FAIL(COFFER_E_KMS_INVALID_GRANT_TOKEN, "The grant token is not a grant token of this KMS");
	coffer_hmac_sha256(kms->token_key.ptr, kms->token_key.len, raw.ptr, 49, mac);
	ENSURE_FAIL(coffer_ct_equal(mac, raw.ptr + 49, 16), COFFER_E_KMS_INVALID_GRANT_TOKEN,
		    "The grant token is not a grant token of this KMS");
	const uint8_t *b = raw.ptr + 1;
	snprintf(key_id, COFFER_KMS_KEY_ID_MAX,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	char *hex = coffer_hex_encode(raw.ptr + 17, 32);
	snprintf(grant_id, COFFER_KMS_GRANT_ID_MAX, "%s", hex);
	free(hex);
fail:
	coffer_buf_free(&raw);
	return rc;
}

static bool pairs_equal(const struct coffer_kms_context_pair *a, size_t na,
			const struct coffer_kms_context *b)
{
	size_t nb = b ? b->n : 0;
	return na == nb && kms_context_subset_ok(a, na, b);
}

static bool same_grant(const struct kms_grant *g, const struct coffer_kms_create_grant_req *r,
		       const char *issuer)
{
	return g->name && r->name && strcmp(g->name, r->name) == 0 &&
	       strcmp(g->grantee, r->grantee_principal) == 0 &&
	       strcmp(g->retiring, r->retiring_principal ? r->retiring_principal : "") == 0 &&
	       strcmp(g->issuer, issuer) == 0 && g->operations == r->operations &&
	       g->has_subset == (r->context_subset != NULL) &&
	       g->has_equals == (r->context_equals != NULL) &&
	       (!g->has_subset || pairs_equal(g->subset, g->n_subset, r->context_subset)) &&
	       (!g->has_equals || pairs_equal(g->equals, g->n_equals, r->context_equals));
}

void kms_key_add_grant(struct kms_key *k, struct kms_grant *g)
{
	if (k->n_grants == k->cap_grants) {
		k->cap_grants = k->cap_grants ? 2 * k->cap_grants : 8;
		k->grants = coffer_xrealloc(k->grants, k->cap_grants * sizeof(*k->grants));
	}
	k->grants[k->n_grants++] = g;
}

static COFFER_RESULT persist_grant(struct coffer_kms *kms, const struct kms_key *k, const struct kms_grant *g)
{
	struct coffer_buf rec = {0};
	kms_encode_grant(k->id, g, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	return rc;
}

static COFFER_RESULT create_grant_locked(struct kms_call *c, const struct coffer_kms_create_grant_req *r,
					 char grant_id[COFFER_KMS_GRANT_ID_MAX], char **token)
{
	struct coffer_kms *kms = c->kms;
	struct kms_key *k;
	coffer_rc rc = COFFER_OK;
	TRY(kms_resolve_live(kms, r->key_ref, false, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	ENSURE(r->grantee_principal && kms_arn_valid_principal(r->grantee_principal),
	       COFFER_E_KMS_VALIDATION, "GranteePrincipal must be an IAM principal ARN (key %s)", k->arn);
	ENSURE(!r->retiring_principal || kms_arn_valid_principal(r->retiring_principal),
	       COFFER_E_KMS_VALIDATION, "RetiringPrincipal must be an IAM principal ARN (key %s)", k->arn);
	ENSURE(r->operations && !(r->operations & ~COFFER_KMS_GRANTABLE_OPS), COFFER_E_KMS_VALIDATION,
	       "Operations must name one or more of the grantable operations (key %s)", k->arn);
	ENSURE(!r->name || (r->name[0] && strlen(r->name) <= 256), COFFER_E_KMS_VALIDATION,
	       "Name must be 1 to 256 characters (key %s)", k->arn);
	if (r->context_subset)
		TRY(kms_context_check(r->context_subset));
	if (r->context_equals)
		TRY(kms_context_check(r->context_equals));
	TRY(kms_authorize(kms, c->caller, k, COFFER_KMS_OP_CREATE_GRANT, NULL, &c->grant_used));
	if (c->grant_used[0]) {
		for (size_t i = 0; i < k->n_grants; i++)
			if (strcmp(k->grants[i]->id, c->grant_used) == 0)
				ENSURE(!(r->operations & ~k->grants[i]->operations), COFFER_E_KMS_ACCESS_DENIED,
				       "%s may only create grants with the operations of its own grant on %s",
				       c->caller->principal_arn, k->arn);
	}
	if (k->service_owned)
		ENSURE(strcmp(r->grantee_principal, kms->service_arn) == 0, COFFER_E_KMS_ACCESS_DENIED,
		       "Grants on %s may only be given to the coffer service", k->arn);
	const char *issuer = c->caller->principal_arn;
	for (size_t i = 0; r->name && i < k->n_grants; i++) {
		if (same_grant(k->grants[i], r, issuer)) {
			snprintf(grant_id, COFFER_KMS_GRANT_ID_MAX, "%s", k->grants[i]->id);
			*token = token_make(kms, k, grant_id);
			return COFFER_OK;
		}
	}
	ENSURE(k->n_grants < kms->max_grants, COFFER_E_KMS_LIMIT_EXCEEDED,
	       "The request would exceed the limit of %u grants on key %s", kms->max_grants, k->arn);

	struct kms_grant *g = COFFER_NEW(struct kms_grant);
	uint8_t idb[32];
	TRY_FAIL(coffer_random_bytes(idb, sizeof(idb)));
	char *hex = coffer_hex_encode(idb, sizeof(idb));
	snprintf(g->id, sizeof(g->id), "%s", hex);
	free(hex);
	g->name = kms_strdup_or_null(r->name);
	g->created_us = kms_now(kms);
	snprintf(g->grantee, sizeof(g->grantee), "%s", r->grantee_principal);
	snprintf(g->retiring, sizeof(g->retiring), "%s", r->retiring_principal ? r->retiring_principal : "");
	snprintf(g->issuer, sizeof(g->issuer), "%s", issuer);
	g->operations = r->operations;
	g->has_subset = r->context_subset != NULL;
	g->subset = kms_context_copy(r->context_subset, &g->n_subset);
	g->has_equals = r->context_equals != NULL;
	g->equals = kms_context_copy(r->context_equals, &g->n_equals);
	TRY_FAIL(persist_grant(kms, k, g));
	kms_key_add_grant(k, g);
	snprintf(grant_id, COFFER_KMS_GRANT_ID_MAX, "%s", g->id);
	*token = token_make(kms, k, g->id);
	return COFFER_OK;
fail:
	kms_grant_free(g);
	return rc;
}

COFFER_RESULT coffer_kms_create_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const struct coffer_kms_create_grant_req *req,
				      char grant_id[COFFER_KMS_GRANT_ID_MAX], char **grant_token_out)
{
	struct kms_call c;
	*grant_token_out = NULL;
	grant_id[0] = 0;
	kms_call_begin(kms, &c, COFFER_KMS_OP_CREATE_GRANT, caller);
	return kms_call_end(&c, create_grant_locked(&c, req, grant_id, grant_token_out));
}

/* ---- listing ---------------------------------------------------------------- */

static void fill_grant_info(const struct kms_key *k, const struct kms_grant *g,
			    struct coffer_kms_grant_info *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->grant_id, sizeof(o->grant_id), "%s", g->id);
	snprintf(o->key_arn, sizeof(o->key_arn), "%s", k->arn);
	o->name = kms_strdup_or_null(g->name);
	o->creation_us = g->created_us;
	snprintf(o->grantee_principal, sizeof(o->grantee_principal), "%s", g->grantee);
	snprintf(o->retiring_principal, sizeof(o->retiring_principal), "%s", g->retiring);
	snprintf(o->issuing_principal, sizeof(o->issuing_principal), "%s", g->issuer);
	o->operations = g->operations;
	struct coffer_kms_context sub = {g->subset, g->n_subset}, eq = {g->equals, g->n_equals};
	o->has_context_subset = g->has_subset;
	o->context_subset = kms_context_copy(&sub, &o->n_context_subset);
	o->has_context_equals = g->has_equals;
	o->context_equals = kms_context_copy(&eq, &o->n_context_equals);
}

void coffer_kms_grant_list_free(struct coffer_kms_grant_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->grants[i].name);
		kms_pairs_free(l->grants[i].context_subset, l->grants[i].n_context_subset);
		kms_pairs_free(l->grants[i].context_equals, l->grants[i].n_context_equals);
	}
	free(l->grants);
	free(l->next_marker);
	memset(l, 0, sizeof(*l));
}

/* Pages through (key, grant) pairs that `want` accepts; the marker is the
 * grant id of the first grant of the next page. */
typedef bool (*grant_filter)(const struct kms_grant *g, const void *arg);

static COFFER_RESULT page_grants(struct coffer_kms *kms, struct kms_key *only, grant_filter want,
				 const void *arg, uint32_t limit, const char *marker,
				 struct coffer_kms_grant_list *out)
{
	TRY(kms_page_limit(limit, &limit));
	bool started = !(marker && marker[0]);
	out->grants = coffer_xcalloc(limit, sizeof(*out->grants));
	for (size_t ki = 0; ki < kms->n_keys; ki++) {
		struct kms_key *k = kms->keys[ki];
		if (only && k != only)
			continue;
		for (size_t i = 0; i < k->n_grants; i++) {
			struct kms_grant *g = k->grants[i];
			if (!started) {
				if (strcmp(g->id, marker) != 0)
					continue;
				started = true;
			}
			if (!want(g, arg))
				continue;
			if (out->n == limit) {
				out->truncated = true;
				out->next_marker = coffer_xstrdup(g->id);
				return COFFER_OK;
			}
			fill_grant_info(k, g, &out->grants[out->n++]);
		}
	}
	ENSURE(started, COFFER_E_KMS_INVALID_MARKER, "Marker '%.64s' is not valid", marker);
	return COFFER_OK;
}

struct list_filter {
	const char *grant_id;
	const char *grantee;
};

static bool list_want(const struct kms_grant *g, const void *argp)
{
	const struct list_filter *f = argp;
	return (!f->grant_id || strcmp(g->id, f->grant_id) == 0) &&
	       (!f->grantee || strcmp(g->grantee, f->grantee) == 0);
}

static COFFER_RESULT list_grants_locked(struct kms_call *c, const char *ref, const char *grant_id,
					const char *grantee, uint32_t limit, const char *marker,
					struct coffer_kms_grant_list *out)
{
	struct kms_key *k;
	TRY(kms_resolve_live(c->kms, ref, false, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	TRY(kms_authorize(c->kms, c->caller, k, c->op, NULL, &c->grant_used));
	struct list_filter f = {grant_id && grant_id[0] ? grant_id : NULL,
				grantee && grantee[0] ? grantee : NULL};
	return page_grants(c->kms, k, list_want, &f, limit, marker, out);
}

COFFER_RESULT coffer_kms_list_grants(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				     const char *key_ref, const char *grant_id,
				     const char *grantee_principal, uint32_t limit,
				     const char *marker, struct coffer_kms_grant_list *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_LIST_GRANTS, caller);
	coffer_rc rc = list_grants_locked(&c, key_ref, grant_id, grantee_principal, limit, marker, out);
	if (rc != COFFER_OK)
		coffer_kms_grant_list_free(out);
	return kms_call_end(&c, rc);
}

static bool retirable_want(const struct kms_grant *g, const void *arg)
{
	return strcmp(g->retiring, (const char *)arg) == 0;
}

static COFFER_RESULT list_retirable_locked(struct kms_call *c, const char *retiring, uint32_t limit,
					   const char *marker, struct coffer_kms_grant_list *out)
{
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(c->kms, who));
	ENSURE(retiring && kms_arn_valid_principal(retiring), COFFER_E_KMS_VALIDATION,
	       "RetiringPrincipal must be an IAM principal ARN");
	/* A principal lists the grants it may retire; the admin lists anyone's. */
	ENSURE(strcmp(who, retiring) == 0 || strcmp(who, c->kms->admin_arn) == 0,
	       COFFER_E_KMS_ACCESS_DENIED, "%s may not list the retirable grants of %s", who, retiring);
	return page_grants(c->kms, NULL, retirable_want, retiring, limit, marker, out);
}

COFFER_RESULT coffer_kms_list_retirable_grants(struct coffer_kms *kms,
					       const struct coffer_kms_caller *caller,
					       const char *retiring_principal, uint32_t limit,
					       const char *marker, struct coffer_kms_grant_list *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_LIST_RETIRABLE_GRANTS, caller);
	coffer_rc rc = list_retirable_locked(&c, retiring_principal, limit, marker, out);
	if (rc != COFFER_OK)
		coffer_kms_grant_list_free(out);
	return kms_call_end(&c, rc);
}

/* ---- retire / revoke ------------------------------------------------------------- */

static COFFER_RESULT find_grant(struct kms_key *k, const char *grant_id, size_t *idx)
{
	ENSURE(grant_id && strlen(grant_id) == 64 && strspn(grant_id, "0123456789abcdef") == 64,
	       COFFER_E_KMS_INVALID_GRANT_ID, "'%.80s' is not a valid grant id (key %s)",
	       grant_id ? grant_id : "", k->arn);
	for (size_t i = 0; i < k->n_grants; i++) {
		if (strcmp(k->grants[i]->id, grant_id) == 0) {
			*idx = i;
			return COFFER_OK;
		}
	}
	BAIL(COFFER_E_KMS_NOT_FOUND, "Grant %s does not exist on key %s", grant_id, k->arn);
}

static COFFER_RESULT remove_grant(struct coffer_kms *kms, struct kms_key *k, size_t idx, const char *why)
{
	struct coffer_buf rec = {0};
	kms_encode_grant_delete(k->id, k->grants[idx]->id, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	TRY(rc);
	coffer_log_info(kms->log, "kms", "grant %s on key %s %s", k->grants[idx]->id, k->arn, why);
	kms_grant_free(k->grants[idx]);
	memmove(&k->grants[idx], &k->grants[idx + 1], (k->n_grants - idx - 1) * sizeof(*k->grants));
	k->n_grants--;
	return COFFER_OK;
}

static COFFER_RESULT retire_locked(struct kms_call *c, const char *token, const char *ref,
				   const char *grant_id)
{
	struct coffer_kms *kms = c->kms;
	char kid[COFFER_KMS_KEY_ID_MAX], gid[COFFER_KMS_GRANT_ID_MAX];
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(kms, who));
	if (token && token[0]) {
		TRY(kms_grant_token_parse(kms, token, kid, gid));
		ref = kid;
		grant_id = gid;
	}
	ENSURE(ref && grant_id, COFFER_E_KMS_VALIDATION,
	       "RetireGrant needs a GrantToken, or a KeyId and a GrantId");
	struct kms_key *k;
	size_t idx;
	TRY(kms_resolve(kms, ref, false, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	TRY(find_grant(k, grant_id, &idx));
	const struct kms_grant *g = k->grants[idx];
	bool may = strcmp(who, g->retiring) == 0 || strcmp(who, g->issuer) == 0 ||
		   strcmp(who, kms->admin_arn) == 0 ||
		   (strcmp(who, g->grantee) == 0 && (g->operations & COFFER_KMS_OP_BIT(COFFER_KMS_OP_RETIRE_GRANT)));
	ENSURE(may, COFFER_E_KMS_ACCESS_DENIED,
	       "%s may not retire grant %s on %s: only its retiring principal, its grantee (with "
	       "RetireGrant), or its creator may",
	       who, g->id, k->arn);
	return remove_grant(kms, k, idx, "retired");
}

COFFER_RESULT coffer_kms_retire_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *grant_token, const char *key_ref,
				      const char *grant_id)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_RETIRE_GRANT, caller);
	return kms_call_end(&c, retire_locked(&c, grant_token, key_ref, grant_id));
}

static COFFER_RESULT revoke_locked(struct kms_call *c, const char *ref, const char *grant_id)
{
	struct kms_key *k;
	size_t idx;
	TRY(kms_resolve(c->kms, ref, false, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	TRY(kms_authorize(c->kms, c->caller, k, c->op, NULL, &c->grant_used));
	TRY(find_grant(k, grant_id, &idx));
	return remove_grant(c->kms, k, idx, "revoked");
}

COFFER_RESULT coffer_kms_revoke_grant(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, const char *grant_id)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_REVOKE_GRANT, caller);
	return kms_call_end(&c, revoke_locked(&c, key_ref, grant_id));
}
