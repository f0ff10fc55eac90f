/*
 * keys.c - KMS keys: creation, description, listing, states, rotation and
 * policies.
 *
 * State diagram (kms-semantics.md):
 *
 *   CreateKey ─► Enabled ◄──EnableKey/DisableKey──► Disabled
 *                  │                                   ▲   │
 *                  └──ScheduleKeyDeletion──► PendingDeletion
 *                                 CancelKeyDeletion ──┘   │ window (7-30 d) ends
 *                                                         ▼
 *                                                     destroyed (tombstone, no material)
 *
 * Invariants:
 *  1. A key is changed by cloning it, changing the clone, persisting the clone
 *     (kms_key_commit) and swapping it in: memory never runs ahead of disk.
 *  2. Backing keys are only ever added; version i+1 sits at versions[i].
 *     Rotation keeps every earlier version so every old blob decrypts.
 *  3. The service-owned key is never disabled, scheduled for deletion or
 *     re-policied, whoever asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_call.h"
#include "kms/kms_internal.h"

void kms_key_free(struct kms_key *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n_versions; i++)
		coffer_secret_free(&k->versions[i].material);
	free(k->versions);
	for (size_t i = 0; i < k->n_grants; i++)
		kms_grant_free(k->grants[i]);
	free(k->grants);
	kms_policy_free(&k->policy);
	free(k->description);
	free(k);
}

struct kms_key *kms_key_clone(const struct kms_key *k)
{
	struct kms_key *c = COFFER_NEW(struct kms_key);
	*c = *k;
	c->description = kms_strdup_or_null(k->description);
	c->versions = k->n_versions ? coffer_xcalloc(k->n_versions, sizeof(*c->versions)) : NULL;
	for (size_t i = 0; i < k->n_versions; i++) {
		c->versions[i] = k->versions[i];
		coffer_secret_from(&c->versions[i].material, k->versions[i].material.ptr,
				   k->versions[i].material.len);
	}
	/* The policy parsed before, so it parses again. */
	memset(&c->policy, 0, sizeof(c->policy));
	if (kms_policy_parse(k->policy.text, &c->policy) != COFFER_OK)
		abort();
	/* Grants stay with the live key; kms_key_commit moves them over. */
	c->grants = NULL;
	c->n_grants = c->cap_grants = 0;
	return c;
}

COFFER_RESULT kms_key_add_version(struct coffer_kms *kms, struct kms_key *k)
{
	struct coffer_secret m;
	coffer_secret_alloc(&m, KMS_BACKING_KEY_BYTES);
	coffer_rc rc = coffer_random_bytes(m.ptr, m.len);
	if (rc != COFFER_OK) {
		coffer_secret_free(&m);
		return rc;
	}
	k->versions = coffer_xrealloc(k->versions, (k->n_versions + 1) * sizeof(*k->versions));
	k->versions[k->n_versions].version = (uint32_t)k->n_versions + 1;
	k->versions[k->n_versions].created_us = kms_now(kms);
	k->versions[k->n_versions].material = m;
	k->n_versions++;
	return COFFER_OK;
}

COFFER_RESULT kms_key_commit(struct coffer_kms *kms, struct kms_key *next)
{
	struct coffer_buf rec;
	coffer_buf_init_secure(&rec);
	kms_encode_key(next, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	if (rc != COFFER_OK) {
		kms_key_free(next);
		return rc;
	}
	for (size_t i = 0; i < kms->n_keys; i++) {
		if (strcmp(kms->keys[i]->id, next->id) != 0)
			continue;
		struct kms_key *old = kms->keys[i];
		next->grants = old->grants;
		next->n_grants = old->n_grants;
		next->cap_grants = old->cap_grants;
		memcpy(next->usage, old->usage, sizeof(next->usage));
		old->grants = NULL;
		old->n_grants = old->cap_grants = 0;
		kms->keys[i] = next;
		kms_key_free(old);
		return COFFER_OK;
	}
	kms->keys = coffer_xrealloc(kms->keys, (kms->n_keys + 1) * sizeof(*kms->keys));
	kms->keys[kms->n_keys++] = next;
	return COFFER_OK;
}

void kms_key_fill_info(const struct kms_key *k, struct coffer_kms_key_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->key_id, sizeof(out->key_id), "%s", k->id);
	snprintf(out->arn, sizeof(out->arn), "%s", k->arn);
	snprintf(out->creator_arn, sizeof(out->creator_arn), "%s", k->creator);
	out->description = coffer_xstrdup(k->description ? k->description : "");
	out->creation_us = k->created_us;
	out->state = k->state;
	out->deletion_us = k->state == COFFER_KMS_KEY_PENDING_DELETION ? k->deletion_us : 0;
	out->pending_window_days = k->state == COFFER_KMS_KEY_PENDING_DELETION ? k->pending_days : 0;
	out->service_owned = k->service_owned;
	out->rotation_enabled = k->rotation_enabled;
	out->rotation_period_days = k->rotation_days;
	out->next_rotation_us = k->rotation_enabled ? k->next_rotation_us : 0;
	out->backing_versions = (uint32_t)k->n_versions;
	out->last_rotation_us = k->last_rotation_us;
}

void coffer_kms_key_info_free(struct coffer_kms_key_info *info)
{
	if (!info)
		return;
	free(info->description);
	info->description = NULL;
}

COFFER_RESULT kms_key_create_locked(struct coffer_kms *kms, const char *creator,
				    const char *description, const char *policy, bool service_owned,
				    struct kms_key **out)
{
	coffer_rc rc = COFFER_OK;
	ENSURE(!description || strlen(description) <= COFFER_KMS_MAX_DESCRIPTION,
	       COFFER_E_KMS_VALIDATION, "Description is longer than %d characters",
	       COFFER_KMS_MAX_DESCRIPTION);
	struct kms_key *k = COFFER_NEW(struct kms_key);
	TRY_FAIL(coffer_random_uuid(k->id));
	/* id_bin: the uuid's 16 bytes, for blob headers. */
	struct coffer_buf hex = {0};
	for (const char *p = k->id; *p; p++)
		if (*p != '-')
			coffer_buf_put_u8(&hex, (uint8_t)*p);
	struct coffer_buf bin = {0};
	rc = coffer_hex_decode(coffer_buf_cstr(&hex), &bin);
	if (rc == COFFER_OK)
		memcpy(k->id_bin, bin.ptr, 16);
	coffer_buf_free(&hex);
	coffer_buf_free(&bin);
	TRY_FAIL(rc);
	kms_format_key_arn(kms, k->id, k->arn);
	snprintf(k->creator, sizeof(k->creator), "%s", creator);
	k->description = coffer_xstrdup(description ? description : "");
	k->created_us = kms_now(kms);
	k->state = COFFER_KMS_KEY_ENABLED;
	k->service_owned = service_owned;
	k->rotation_days = kms->default_rotation_days;
	char *text = policy ? coffer_xstrdup(policy) : kms_policy_default(kms, creator, service_owned);
	rc = kms_policy_parse(text, &k->policy);
	free(text);
	TRY_FAIL(rc);
	TRY_FAIL(kms_key_add_version(kms, k));
	*out = k;
	return COFFER_OK;
fail:
	kms_key_free(k);
	return rc;
}

/* Whether a policy still lets `who` change it (PutKeyPolicy lockout check). */
static COFFER_RESULT lockout_check(struct coffer_kms *kms, const struct kms_policy *p, const char *who)
{
	if (kms_policy_eval(kms, p, who, COFFER_KMS_OP_PUT_KEY_POLICY) > 0)
		return COFFER_OK;
	BAIL(COFFER_E_KMS_MALFORMED_POLICY,
	     "The new key policy will not allow you (%s) to update the key policy in the future", who);
}

/* ---- CreateKey / DescribeKey / ListKeys ------------------------------------- */

static COFFER_RESULT create_key_locked(struct kms_call *c, const struct coffer_kms_create_key_req *req,
				       struct coffer_kms_key_info *out)
{
	struct coffer_kms *kms = c->kms;
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(kms, who));
	ENSURE(!req->policy || strlen(req->policy) <= COFFER_KMS_MAX_POLICY, COFFER_E_KMS_VALIDATION,
	       "Policy is longer than %d characters", COFFER_KMS_MAX_POLICY);
	struct kms_key *k;
	TRY(kms_key_create_locked(kms, who, req->description, req->policy, false, &k));
	if (req->policy && !req->bypass_policy_lockout_safety_check) {
		coffer_rc rc = lockout_check(kms, &k->policy, who);
		if (rc != COFFER_OK) {
			kms_key_free(k);
			return rc;
		}
	}
	kms_call_key(c, k);
	TRY(kms_key_commit(kms, k)); /* frees k on failure */
	kms_key_fill_info(k, out);
	coffer_log_info(kms->log, "kms", "key %s created by %s", k->arn, who);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_create_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				    const struct coffer_kms_create_key_req *req,
				    struct coffer_kms_key_info *out)
{
	struct coffer_kms_create_key_req none = {0};
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_CREATE_KEY, caller);
	return kms_call_end(&c, create_key_locked(&c, req ? req : &none, out));
}

/* Resolves, records and authorizes in one step: the common head of key calls. */
static COFFER_RESULT key_for_call(struct kms_call *c, const char *ref, bool allow_alias,
				  struct kms_key **out)
{
	struct kms_key *k;
	TRY(kms_resolve_live(c->kms, ref, allow_alias, &k));
	kms_call_key(c, k);
	k->usage[c->op]++;
	TRY(kms_authorize(c->kms, c->caller, k, c->op, c->ctx, &c->grant_used));
	*out = k;
	return COFFER_OK;
}

static COFFER_RESULT describe_locked(struct kms_call *c, const char *ref, struct coffer_kms_key_info *out)
{
	struct kms_key *k;
	TRY(key_for_call(c, ref, true, &k));
	kms_key_fill_info(k, out);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_describe_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				      const char *key_ref, struct coffer_kms_key_info *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_DESCRIBE_KEY, caller);
	return kms_call_end(&c, describe_locked(&c, key_ref, out));
}

COFFER_RESULT kms_page_limit(uint32_t limit, uint32_t *out)
{
	if (limit == 0)
		limit = 100;
	ENSURE(limit <= 1000, COFFER_E_KMS_VALIDATION, "Limit must be between 1 and 1000, got %u", limit);
	*out = limit;
	return COFFER_OK;
}

static COFFER_RESULT list_keys_locked(struct kms_call *c, uint32_t limit, const char *marker,
				      struct coffer_kms_key_list *out)
{
	struct coffer_kms *kms = c->kms;
	const char *who = c->caller ? c->caller->principal_arn : NULL;
	TRY(kms_require_principal(kms, who));
	TRY(kms_page_limit(limit, &limit));
	bool service = kms_is_service_caller(kms, c->caller);
	size_t start = 0;
	if (marker && marker[0]) {
		for (start = 0; start < kms->n_keys; start++)
			if (strcmp(kms->keys[start]->id, marker) == 0)
				break;
		ENSURE(start < kms->n_keys, COFFER_E_KMS_INVALID_MARKER, "Marker '%.64s' is not valid", marker);
	}
	out->keys = coffer_xcalloc(limit, sizeof(*out->keys));
	for (size_t i = start; i < kms->n_keys; i++) {
		TRY(kms_key_apply_time(kms, kms->keys[i]));
		struct kms_key *k = kms->keys[i]; /* after any swap */
		if (k->destroyed || (k->service_owned && !service))
			continue;
		if (out->n == limit) {
			out->truncated = true;
			out->next_marker = coffer_xstrdup(k->id);
			break;
		}
		snprintf(out->keys[out->n].key_id, COFFER_KMS_KEY_ID_MAX, "%s", k->id);
		snprintf(out->keys[out->n].arn, COFFER_KMS_ARN_MAX, "%s", k->arn);
		out->n++;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_list_keys(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				   uint32_t limit, const char *marker, struct coffer_kms_key_list *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_LIST_KEYS, caller);
	coffer_rc rc = list_keys_locked(&c, limit, marker, out);
	if (rc != COFFER_OK)
		coffer_kms_key_list_free(out);
	return kms_call_end(&c, rc);
}

void coffer_kms_key_list_free(struct coffer_kms_key_list *l)
{
	if (!l)
		return;
	free(l->keys);
	free(l->next_marker);
	memset(l, 0, sizeof(*l));
}

/* ---- state changes ---------------------------------------------------------- */

static COFFER_RESULT refuse_service_key(const struct kms_key *k, enum coffer_kms_op op)
{
	ENSURE(!k->service_owned, COFFER_E_KMS_ACCESS_DENIED,
	       "kms:%s is not allowed on %s: it is the coffer service's own key", coffer_kms_op_name(op),
	       k->arn);
	return COFFER_OK;
}

/* The clone-change-commit step shared by every state change. */
typedef coffer_rc (*key_change_fn)(struct coffer_kms *kms, struct kms_key *next, const void *arg);

static COFFER_RESULT change_key(struct kms_call *c, const char *ref, bool allow_service,
				key_change_fn fn, const void *arg)
{
	struct kms_key *k;
	TRY(key_for_call(c, ref, false, &k));
	if (!allow_service)
		TRY(refuse_service_key(k, c->op));
	struct kms_key *next = kms_key_clone(k);
	coffer_rc rc = fn(c->kms, next, arg);
	if (rc != COFFER_OK) {
		kms_key_free(next);
		return rc;
	}
	TRY(kms_key_commit(c->kms, next));
	coffer_log_info(c->kms->log, "kms", "key %s: %s by %s", next->arn, coffer_kms_op_name(c->op),
			c->caller->principal_arn);
	return COFFER_OK;
}

static coffer_rc do_enable(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	(void)kms;
	(void)arg;
	ENSURE(k->state != COFFER_KMS_KEY_PENDING_DELETION, COFFER_E_KMS_INVALID_STATE,
	       "%s is pending deletion.", k->arn);
	k->state = COFFER_KMS_KEY_ENABLED;
	return COFFER_OK;
}

static coffer_rc do_disable(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	(void)kms;
	(void)arg;
	ENSURE(k->state != COFFER_KMS_KEY_PENDING_DELETION, COFFER_E_KMS_INVALID_STATE,
	       "%s is pending deletion.", k->arn);
	k->state = COFFER_KMS_KEY_DISABLED;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_enable_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				    const char *key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_ENABLE_KEY, caller);
	return kms_call_end(&c, change_key(&c, key_ref, false, do_enable, NULL));
}

COFFER_RESULT coffer_kms_disable_key(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
				     const char *key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_DISABLE_KEY, caller);
	return kms_call_end(&c, change_key(&c, key_ref, false, do_disable, NULL));
}

static coffer_rc do_schedule(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	uint32_t days = *(const uint32_t *)arg;
	ENSURE(k->state != COFFER_KMS_KEY_PENDING_DELETION, COFFER_E_KMS_INVALID_STATE,
	       "%s is pending deletion.", k->arn);
	k->state = COFFER_KMS_KEY_PENDING_DELETION;
	k->pending_days = days;
	k->deletion_us = kms_now(kms) + (int64_t)days * COFFER_US_PER_DAY;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_schedule_key_deletion(struct coffer_kms *kms,
					       const struct coffer_kms_caller *caller,
					       const char *key_ref, uint32_t pending_days,
					       struct coffer_kms_key_info *out)
{
	struct kms_call c;
	if (out)
		memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_SCHEDULE_KEY_DELETION, caller);
	if (pending_days == 0)
		pending_days = 30;
	coffer_rc rc;
	if (pending_days < 7 || pending_days > 30) {
		rc = coffer_error_set(COFFER_E_KMS_VALIDATION, COFFER_WHERE,
				      "PendingWindowInDays must be between 7 and 30, got %u (key %s)",
				      pending_days, key_ref ? key_ref : "");
	} else {
		rc = change_key(&c, key_ref, false, do_schedule, &pending_days);
		if (rc == COFFER_OK && out)
			kms_key_fill_info(kms_key_by_id(kms, c.key_id), out);
	}
	return kms_call_end(&c, rc);
}

static coffer_rc do_cancel(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	(void)kms;
	(void)arg;
	ENSURE(k->state == COFFER_KMS_KEY_PENDING_DELETION, COFFER_E_KMS_INVALID_STATE,
	       "%s is not pending deletion (it is %s).", k->arn, coffer_kms_key_state_name(k->state));
	k->state = COFFER_KMS_KEY_DISABLED;
	k->deletion_us = 0;
	k->pending_days = 0;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_cancel_key_deletion(struct coffer_kms *kms,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_CANCEL_KEY_DELETION, caller);
	return kms_call_end(&c, change_key(&c, key_ref, false, do_cancel, NULL));
}

/* ---- rotation -------------------------------------------------------------- */

static coffer_rc do_enable_rotation(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	uint32_t days = *(const uint32_t *)arg;
	TRY(kms_require_enabled(kms, k));
	if (!k->rotation_enabled || k->rotation_days != days) {
		int64_t base = k->last_rotation_us ? k->last_rotation_us : k->created_us;
		k->next_rotation_us = base + (int64_t)days * COFFER_US_PER_DAY;
		if (k->next_rotation_us < kms_now(kms))
			k->next_rotation_us = kms_now(kms) + (int64_t)days * COFFER_US_PER_DAY;
	}
	k->rotation_enabled = true;
	k->rotation_days = days;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_enable_key_rotation(struct coffer_kms *kms,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, uint32_t period_days)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_ENABLE_KEY_ROTATION, caller);
	if (period_days == 0)
		period_days = kms->default_rotation_days;
	coffer_rc rc;
	if (period_days < 90 || period_days > 2560)
		rc = coffer_error_set(COFFER_E_KMS_VALIDATION, COFFER_WHERE,
				      "RotationPeriodInDays must be between 90 and 2560, got %u (key %s)",
				      period_days, key_ref ? key_ref : "");
	else
		rc = change_key(&c, key_ref, true, do_enable_rotation, &period_days);
	return kms_call_end(&c, rc);
}

static coffer_rc do_disable_rotation(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	(void)arg;
	TRY(kms_require_enabled(kms, k));
	k->rotation_enabled = false;
	k->next_rotation_us = 0;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_disable_key_rotation(struct coffer_kms *kms,
					      const struct coffer_kms_caller *caller,
					      const char *key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_DISABLE_KEY_ROTATION, caller);
	return kms_call_end(&c, change_key(&c, key_ref, false, do_disable_rotation, NULL));
}

static COFFER_RESULT rotation_status_locked(struct kms_call *c, const char *ref,
					    struct coffer_kms_rotation_status *out)
{
	struct kms_key *k;
	TRY(key_for_call(c, ref, false, &k));
	out->enabled = k->rotation_enabled;
	out->period_days = k->rotation_enabled ? k->rotation_days : 0;
	out->next_rotation_us = k->rotation_enabled ? k->next_rotation_us : 0;
	out->on_demand_rotation_us = k->on_demand_rotation_us;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_get_key_rotation_status(struct coffer_kms *kms,
						 const struct coffer_kms_caller *caller,
						 const char *key_ref,
						 struct coffer_kms_rotation_status *out)
{
	struct kms_call c;
	memset(out, 0, sizeof(*out));
	kms_call_begin(kms, &c, COFFER_KMS_OP_GET_KEY_ROTATION_STATUS, caller);
	return kms_call_end(&c, rotation_status_locked(&c, key_ref, out));
}

static coffer_rc do_rotate(struct coffer_kms *kms, struct kms_key *k, const void *arg)
{
	(void)arg;
	TRY(kms_require_enabled(kms, k));
	TRY(kms_key_add_version(kms, k));
	k->on_demand_rotation_us = kms_now(kms);
	k->last_rotation_us = k->on_demand_rotation_us;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_rotate_key_on_demand(struct coffer_kms *kms,
					      const struct coffer_kms_caller *caller,
					      const char *key_ref)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_ROTATE_KEY_ON_DEMAND, caller);
	return kms_call_end(&c, change_key(&c, key_ref, true, do_rotate, NULL));
}

/* ---- policies -------------------------------------------------------------- */

static COFFER_RESULT check_policy_name(const char *name)
{
	ENSURE(!name || !name[0] || strcmp(name, "default") == 0, COFFER_E_KMS_NOT_FOUND,
	       "Policy '%.64s' does not exist: the only policy name is 'default'", name);
	return COFFER_OK;
}

static COFFER_RESULT get_policy_locked(struct kms_call *c, const char *ref, const char *name, char **out)
{
	struct kms_key *k;
	TRY(check_policy_name(name));
	TRY(key_for_call(c, ref, false, &k));
	*out = coffer_xstrdup(k->policy.text);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_get_key_policy(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					const char *key_ref, const char *policy_name, char **out)
{
	struct kms_call c;
	*out = NULL;
	kms_call_begin(kms, &c, COFFER_KMS_OP_GET_KEY_POLICY, caller);
	return kms_call_end(&c, get_policy_locked(&c, key_ref, policy_name, out));
}

struct put_policy_arg {
	const char *text;
	bool bypass;
	const char *who;
};

static coffer_rc do_put_policy(struct coffer_kms *kms, struct kms_key *k, const void *argp)
{
	const struct put_policy_arg *arg = argp;
	ENSURE(arg->text && strlen(arg->text) <= COFFER_KMS_MAX_POLICY, COFFER_E_KMS_VALIDATION,
	       "Policy is required and at most %d characters (key %s)", COFFER_KMS_MAX_POLICY, k->arn);
	struct kms_policy p = {0};
	TRY(kms_policy_parse(arg->text, &p));
	if (!arg->bypass) {
		coffer_rc rc = lockout_check(kms, &p, arg->who);
		if (rc != COFFER_OK) {
			kms_policy_free(&p);
			return rc;
		}
	}
	kms_policy_free(&k->policy);
	k->policy = p;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_put_key_policy(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
					const char *key_ref, const char *policy_name,
					const char *policy, bool bypass)
{
	struct kms_call c;
	kms_call_begin(kms, &c, COFFER_KMS_OP_PUT_KEY_POLICY, caller);
	coffer_rc rc = check_policy_name(policy_name);
	if (rc == COFFER_OK) {
		struct put_policy_arg arg = {policy, bypass, caller ? caller->principal_arn : ""};
		rc = change_key(&c, key_ref, false, do_put_policy, &arg);
	}
	return kms_call_end(&c, rc);
}

/* ---- the service-owned key ------------------------------------------------------ */

COFFER_RESULT coffer_kms_service_key(struct coffer_kms *kms, char key_arn[COFFER_KMS_ARN_MAX])
{
	coffer_rc rc = COFFER_OK;
	pthread_mutex_lock(&kms->lock);
	struct kms_key *k = kms->service_key_id[0] ? kms_key_by_id(kms, kms->service_key_id) : NULL;
	if (!k) {
		rc = kms_key_create_locked(kms, kms->service_arn,
					   "Default key owned by the coffer service", NULL, true, &k);
		if (rc == COFFER_OK) {
			/* The service key rotates yearly, like an AWS owned key. */
			k->rotation_enabled = true;
			k->next_rotation_us = k->created_us + (int64_t)kms->default_rotation_days * COFFER_US_PER_DAY;
			rc = kms_key_commit(kms, k);
		}
		if (rc == COFFER_OK) {
			snprintf(kms->service_key_id, sizeof(kms->service_key_id), "%s", k->id);
			coffer_log_info(kms->log, "kms", "created the coffer service key %s", k->arn);
		}
	}
	if (rc == COFFER_OK)
		snprintf(key_arn, COFFER_KMS_ARN_MAX, "%s", k->arn);
	pthread_mutex_unlock(&kms->lock);
	return rc;
}
