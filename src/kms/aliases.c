/*
 * aliases.c - aliases: friendly names ("alias/orders") that point at a key.
 *
 * Invariants:
 *  1. Alias names are "alias/" + [A-Za-z0-9/_-]{1,250}; "alias/aws/" is
 *     reserved (InvalidAliasNameException), as in AWS.
 *  2. An alias names exactly one live key; changing one needs permission on
 *     the keys involved (kms:CreateAlias / kms:UpdateAlias / kms:DeleteAlias).
 *  3. Aliases of a destroyed key disappear with it (ListAliases skips them,
 *     resolution fails as NotFound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_call.h"
#include "kms/kms_internal.h"

static COFFER_RESULT check_alias_name(const char *name)
{
	ENSURE(name && strncmp(name, "alias/", 6) == 0, COFFER_E_KMS_INVALID_ALIAS_NAME,
	       "Alias '%.100s' must begin with 'alias/'", name ? name : "");
	size_t n = strlen(name + 6);
	ENSURE(n >= 1 && n <= 250 && strspn(name + 6,
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_-") == n,
	       COFFER_E_KMS_INVALID_ALIAS_NAME,
	       "Alias '%.100s' must be alias/ followed by 1 to 250 of A-Z a-z 0-9 / _ -", name);
	ENSURE(strncmp(name, "alias/aws/", 10) != 0, COFFER_E_KMS_INVALID_ALIAS_NAME,
	       "Alias '%.100s': the alias/aws/ prefix is reserved", name);
	return COFFER_OK;
}

static COFFER_RESULT persist_alias(struct coffer_kms *kms, const struct kms_alias *a)
{
	struct coffer_buf rec = {0};
	kms_encode_alias(a, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	return rc;
}

/* The target key of an alias change: live, not the service key, authorized. */
static COFFER_RESULT alias_target(struct kms_call *c, const char *ref, struct kms_key **out)
{
	struct kms_key *k;
	TRY(kms_resolve_live(c->kms, ref, false, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	ENSURE(!k->service_owned, COFFER_E_KMS_ACCESS_DENIED,
	       "Aliases cannot point at %s: it is the coffer service's own key", k->arn);
	TRY(kms_authorize(c->kms, c->caller, k, c->op, NULL, &c->grant_used));
	*out = k;
	return COFFER_OK;
}

static COFFER_RESULT create_alias_locked(struct kms_call *c, const char *name, const char *ref)
{
	struct kms_key *k;
	TRY(check_alias_name(name));
	TRY(alias_target(c, ref, &k));
	struct kms_alias *old = kms_alias_by_name(c->kms, name);
	ENSURE(!old, COFFER_E_KMS_ALREADY_EXISTS, "An alias with the name arn:aws:kms:%s:%s:%s already exists",
	       c->kms->region, c->kms->account, name);
	struct kms_alias *a = COFFER_NEW(struct kms_alias);
	a->name = coffer_xstrdup(name);
	snprintf(a->target, sizeof(a->target), "%s", k->id);
	a->created_us = a->updated_us = kms_now(c->kms);
	coffer_rc rc = persist_alias(c->kms, a);
	if (rc != COFFER_OK) {
		free(a->name);
		free(a);
		return rc;
	}
	struct coffer_kms *kms = c->kms;
	kms->aliases = coffer_xrealloc(kms->aliases, (kms->n_aliases + 1) * sizeof(*kms->aliases));
	kms->aliases[kms->n_aliases++] = a;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_create_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name, const char *target_key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_CREATE_ALIAS, caller);
	return kms_call_end(&c, create_alias_locked(&c, alias_name, target_key_ref));
}

static COFFER_RESULT update_alias_locked(struct kms_call *c, const char *name, const char *ref)
{
	struct kms_key *k, *old_target;
	TRY(check_alias_name(name));
	struct kms_alias *a = kms_alias_by_name(c->kms, name);
	ENSURE(a, COFFER_E_KMS_NOT_FOUND, "Alias arn:aws:kms:%s:%s:%s is not found.", c->kms->region,
	       c->kms->account, name);
	/* Permission on the key it points at now, then on the new target. */
	old_target = kms_key_by_id(c->kms, a->target);
	if (old_target && !old_target->destroyed) {
		const char *g;
		TRY(kms_authorize(c->kms, c->caller, old_target, c->op, NULL, &g));
	}
	TRY(alias_target(c, ref, &k));
	struct kms_alias next = *a;
	snprintf(next.target, sizeof(next.target), "%s", k->id);
	next.updated_us = kms_now(c->kms);
	TRY(persist_alias(c->kms, &next));
	*a = next;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_update_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name, const char *target_key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_UPDATE_ALIAS, caller);
	return kms_call_end(&c, update_alias_locked(&c, alias_name, target_key_ref));
}

static COFFER_RESULT delete_alias_locked(struct kms_call *c, const char *name)
{
	struct coffer_kms *kms = c->kms;
	TRY(check_alias_name(name));
	size_t i;
	for (i = 0; i < kms->n_aliases; i++)
		if (strcmp(kms->aliases[i]->name, name) == 0)
			break;
	ENSURE(i < kms->n_aliases, COFFER_E_KMS_NOT_FOUND, "Alias arn:aws:kms:%s:%s:%s is not found.",
	       kms->region, kms->account, name);
	struct kms_key *k = kms_key_by_id(kms, kms->aliases[i]->target);
	if (k && !k->destroyed) {
		kms_call_key(c, k);
		k->usage[c->op]++;
		TRY(kms_authorize(kms, c->caller, k, c->op, NULL, &c->grant_used));
	}
	struct coffer_buf rec = {0};
	kms_encode_alias_delete(name, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	TRY(rc);
	free(kms->aliases[i]->name);
	free(kms->aliases[i]);
	memmove(&kms->aliases[i], &kms->aliases[i + 1], (kms->n_aliases - i - 1) * sizeof(*kms->aliases));
	kms->n_aliases--;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_delete_alias(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *alias_name)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_DELETE_ALIAS, caller);
	return kms_call_end(&c, delete_alias_locked(&c, alias_name));
}

static COFFER_RESULT list_aliases_locked(struct kms_call *c, const char *ref, uint32_t limit,
					 const char *marker, struct coffer_kms_alias_list *out)
{
	struct coffer_kms *kms = c->kms;
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(kms, who));
	TRY(kms_page_limit(limit, &limit));
	struct kms_key *only = NULL;
	if (ref && ref[0]) {
		TRY(kms_resolve_live(kms, ref, false, &only));
		kms_call_key(c, only);
	}
	size_t start = 0;
	if (marker && marker[0]) {
		for (start = 0; start < kms->n_aliases; start++)
			if (strcmp(kms->aliases[start]->name, marker) == 0)
				break;
		ENSURE(start < kms->n_aliases, COFFER_E_KMS_INVALID_MARKER, "Marker '%.64s' is not valid", marker);
	}
	out->aliases = coffer_xcalloc(limit, sizeof(*out->aliases));
	for (size_t i = start; i < kms->n_aliases; i++) {
		struct kms_alias *a = kms->aliases[i];
		struct kms_key *k = kms_key_by_id(kms, a->target);
		if (!k || k->destroyed || (only && k != only))
			continue;
		if (out->n == limit) {
			out->truncated = true;
			out->next_marker = coffer_xstrdup(a->name);
			break;
		}
		struct coffer_kms_alias_entry *e = &out->aliases[out->n++];
		e->alias_name = coffer_xstrdup(a->name);
		e->alias_arn = coffer_xasprintf("arn:aws:kms:%s:%s:%s", kms->region, kms->account, a->name);
		snprintf(e->target_key_id, sizeof(e->target_key_id), "%s", a->target);
		e->creation_us = a->created_us;
		e->last_updated_us = a->updated_us;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_list_aliases(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, uint32_t limit, const char *marker,
				      struct coffer_kms_alias_list *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_LIST_ALIASES, caller);
	coffer_rc rc = list_aliases_locked(&c, key_ref, limit, marker, out);
	if (rc != COFFER_OK)
		coffer_kms_alias_list_free(out);
	return kms_call_end(&c, rc);
}

void coffer_kms_alias_list_free(struct coffer_kms_alias_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->aliases[i].alias_name);
		free(l->aliases[i].alias_arn);
	}
	free(l->aliases);
	free(l->next_marker);
	memset(l, 0, sizeof(*l));
}
