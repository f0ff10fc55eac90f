/*
 * engine.c - the KMS engine's life cycle and the checks every operation shares:
 * opening the data directory and seal key, resolving key references, deciding
 * whether a caller may do something (key policy, then grants), key states,
 * time-driven transitions (deletion, automatic rotation) and quotas.
 *
 * Invariants:
 *  1. Every public entry point takes kms->lock for its whole duration
 *     (kms_call_begin / kms_call_end) and writes exactly one audit line.
 *  2. Time-driven transitions are applied to a key before any decision about
 *     it, so a key past its deletion date is never usable, even if no tick ran.
 *  3. An explicit Deny in the key policy beats every Allow and every grant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms/kms_call.h"
#include "kms/kms_internal.h"

static const char *const op_names[COFFER_KMS_OP_COUNT] = {
	[COFFER_KMS_OP_CREATE_KEY] = "CreateKey",
	[COFFER_KMS_OP_DESCRIBE_KEY] = "DescribeKey",
	[COFFER_KMS_OP_LIST_KEYS] = "ListKeys",
	[COFFER_KMS_OP_CREATE_ALIAS] = "CreateAlias",
	[COFFER_KMS_OP_LIST_ALIASES] = "ListAliases",
	[COFFER_KMS_OP_UPDATE_ALIAS] = "UpdateAlias",
	[COFFER_KMS_OP_DELETE_ALIAS] = "DeleteAlias",
	[COFFER_KMS_OP_ENABLE_KEY] = "EnableKey",
	[COFFER_KMS_OP_DISABLE_KEY] = "DisableKey",
	[COFFER_KMS_OP_SCHEDULE_KEY_DELETION] = "ScheduleKeyDeletion",
	[COFFER_KMS_OP_CANCEL_KEY_DELETION] = "CancelKeyDeletion",
	[COFFER_KMS_OP_ENABLE_KEY_ROTATION] = "EnableKeyRotation",
	[COFFER_KMS_OP_DISABLE_KEY_ROTATION] = "DisableKeyRotation",
	[COFFER_KMS_OP_GET_KEY_ROTATION_STATUS] = "GetKeyRotationStatus",
	[COFFER_KMS_OP_ROTATE_KEY_ON_DEMAND] = "RotateKeyOnDemand",
	[COFFER_KMS_OP_GET_KEY_POLICY] = "GetKeyPolicy",
	[COFFER_KMS_OP_PUT_KEY_POLICY] = "PutKeyPolicy",
	[COFFER_KMS_OP_ENCRYPT] = "Encrypt",
	[COFFER_KMS_OP_DECRYPT] = "Decrypt",
	[COFFER_KMS_OP_REENCRYPT_FROM] = "ReEncryptFrom",
	[COFFER_KMS_OP_REENCRYPT_TO] = "ReEncryptTo",
	[COFFER_KMS_OP_GENERATE_DATA_KEY] = "GenerateDataKey",
	[COFFER_KMS_OP_GENERATE_DATA_KEY_WITHOUT_PLAINTEXT] = "GenerateDataKeyWithoutPlaintext",
	[COFFER_KMS_OP_GENERATE_RANDOM] = "GenerateRandom",
	[COFFER_KMS_OP_CREATE_GRANT] = "CreateGrant",
	[COFFER_KMS_OP_LIST_GRANTS] = "ListGrants",
	[COFFER_KMS_OP_LIST_RETIRABLE_GRANTS] = "ListRetirableGrants",
	[COFFER_KMS_OP_RETIRE_GRANT] = "RetireGrant",
	[COFFER_KMS_OP_REVOKE_GRANT] = "RevokeGrant",
};

const char *coffer_kms_op_name(enum coffer_kms_op op)
{
	if ((int)op < 0 || op >= COFFER_KMS_OP_COUNT)
		return NULL;
	return op_names[op];
}

int coffer_kms_op_parse(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < COFFER_KMS_OP_COUNT; i++)
		if (strcmp(op_names[i], name) == 0)
			return i;
	return -1;
}

const char *coffer_kms_key_state_name(enum coffer_kms_key_state s)
{
	switch (s) {
	case COFFER_KMS_KEY_ENABLED: return "Enabled";
	case COFFER_KMS_KEY_DISABLED: return "Disabled";
	case COFFER_KMS_KEY_PENDING_DELETION: return "PendingDeletion";
	}
	return "Unknown";
}

void coffer_kms_config_default(struct coffer_kms_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->region = "local";
	cfg->account = "000000000000";
	cfg->default_rotation_days = 365;
	cfg->max_grants_per_key = COFFER_KMS_DEFAULT_GRANT_LIMIT;
	cfg->quota_rate = 10000;
	cfg->quota_burst = 20000;
	cfg->audit_fd = -1;
	cfg->fsync = true;
}

int64_t kms_now(const struct coffer_kms *kms)
{
	return coffer_clock_now_us(kms->clock);
}

const char *coffer_kms_region(const struct coffer_kms *kms) { return kms->region; }
const char *coffer_kms_account(const struct coffer_kms *kms) { return kms->account; }
const char *coffer_kms_service_principal(const struct coffer_kms *kms) { return kms->service_arn; }
const char *coffer_kms_admin_principal(const struct coffer_kms *kms) { return kms->admin_arn; }

void kms_format_key_arn(const struct coffer_kms *kms, const char *id, char out[COFFER_KMS_ARN_MAX])
{
	snprintf(out, COFFER_KMS_ARN_MAX, "arn:aws:kms:%s:%s:key/%s", kms->region, kms->account, id);
}

char *kms_strdup_or_null(const char *s)
{
	return s ? coffer_xstrdup(s) : NULL;
}

/* ---- lookups ------------------------------------------------------------- */

struct kms_key *kms_key_by_id(struct coffer_kms *kms, const char *id)
{
	for (size_t i = 0; i < kms->n_keys; i++)
		if (strcmp(kms->keys[i]->id, id) == 0)
			return kms->keys[i];
	return NULL;
}

struct kms_principal *kms_principal_by_arn(struct coffer_kms *kms, const char *arn)
{
	if (!arn)
		return NULL;
	if (strcmp(arn, kms->root_arn) == 0)
		arn = kms->admin_arn;
	for (size_t i = 0; i < kms->n_principals; i++)
		if (strcmp(kms->principals[i]->arn, arn) == 0)
			return kms->principals[i];
	return NULL;
}

struct kms_principal *kms_principal_by_name(struct coffer_kms *kms, const char *name)
{
	for (size_t i = 0; i < kms->n_principals; i++)
		if (strcmp(kms->principals[i]->name, name) == 0)
			return kms->principals[i];
	return NULL;
}

struct kms_alias *kms_alias_by_name(struct coffer_kms *kms, const char *name)
{
	for (size_t i = 0; i < kms->n_aliases; i++)
		if (strcmp(kms->aliases[i]->name, name) == 0)
			return kms->aliases[i];
	return NULL;
}

COFFER_RESULT kms_require_principal(struct coffer_kms *kms, const char *who)
{
	ENSURE(who && kms_principal_by_arn(kms, who), COFFER_E_KMS_ACCESS_DENIED,
	       "%s is not a known principal of this KMS", who ? who : "(anonymous)");
	return COFFER_OK;
}

bool kms_is_service_caller(const struct coffer_kms *kms, const struct coffer_kms_caller *caller)
{
	return caller && caller->principal_arn && strcmp(caller->principal_arn, kms->service_arn) == 0;
}

/* Splits "arn:aws:kms:<region>:<account>:<rest>" and checks region/account. */
static const char *arn_resource(const struct coffer_kms *kms, const char *ref)
{
	char prefix[COFFER_KMS_ARN_MAX];
	int n = snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:", kms->region, kms->account);
	if (n <= 0 || (size_t)n >= sizeof(prefix) || strncmp(ref, prefix, (size_t)n) != 0)
		return NULL;
	return ref + n;
}

COFFER_RESULT kms_resolve(struct coffer_kms *kms, const char *ref, bool allow_alias,
			  struct kms_key **out)
{
	ENSURE(ref && ref[0], COFFER_E_KMS_VALIDATION, "KeyId is required");
	ENSURE(strlen(ref) <= 2048, COFFER_E_KMS_VALIDATION, "KeyId is longer than 2048 characters");
	const char *id = ref;
	if (strncmp(ref, "arn:", 4) == 0) {
		const char *res = arn_resource(kms, ref);
		if (!res)
			BAIL(COFFER_E_KMS_NOT_FOUND, "Key '%s' does not exist in region %s, account %s",
			     ref, kms->region, kms->account);
		if (strncmp(res, "key/", 4) == 0) {
			id = res + 4;
		} else if (strncmp(res, "alias/", 6) == 0) {
			ENSURE(allow_alias, COFFER_E_KMS_NOT_FOUND,
			       "Invalid keyId %s: this operation takes a key id or key ARN, not an alias", ref);
			struct kms_alias *a = kms_alias_by_name(kms, res);
			ENSURE(a, COFFER_E_KMS_NOT_FOUND, "Alias %s is not found.", ref);
			id = a->target;
		} else {
			BAIL(COFFER_E_KMS_NOT_FOUND, "Invalid arn %s", ref);
		}
	} else if (strncmp(ref, "alias/", 6) == 0) {
		ENSURE(allow_alias, COFFER_E_KMS_NOT_FOUND,
		       "Invalid keyId %s: this operation takes a key id or key ARN, not an alias", ref);
		struct kms_alias *a = kms_alias_by_name(kms, ref);
		ENSURE(a, COFFER_E_KMS_NOT_FOUND, "Alias %s:%s:%s is not found.", kms->region,
		       kms->account, ref);
		id = a->target;
	}
	struct kms_key *k = kms_key_by_id(kms, id);
	ENSURE(k, COFFER_E_KMS_NOT_FOUND, "Key 'arn:aws:kms:%s:%s:key/%.64s' does not exist",
	       kms->region, kms->account, id);
	/* A due transition swaps in a new version of the key: look it up again. */
	char kid[COFFER_KMS_KEY_ID_MAX];
	snprintf(kid, sizeof(kid), "%s", k->id);
	TRY(kms_key_apply_time(kms, k));
	*out = kms_key_by_id(kms, kid);
	return COFFER_OK;
}

COFFER_RESULT kms_resolve_live(struct coffer_kms *kms, const char *ref, bool allow_alias,
			       struct kms_key **out)
{
	struct kms_key *k;
	TRY(kms_resolve(kms, ref, allow_alias, &k));
	if (k->destroyed) {
		char when[32];
		coffer_time_iso8601(k->deletion_us, when);
		BAIL(COFFER_E_KMS_NOT_FOUND,
		     "Key '%s' does not exist: it was deleted and its key material destroyed at %s",
		     k->arn, when);
	}
	*out = k;
	return COFFER_OK;
}

COFFER_RESULT kms_require_enabled(struct coffer_kms *kms, struct kms_key *key)
{
	(void)kms;
	switch (key->state) {
	case COFFER_KMS_KEY_ENABLED:
		return COFFER_OK;
	case COFFER_KMS_KEY_DISABLED:
		BAIL(COFFER_E_KMS_DISABLED, "%s is disabled.", key->arn);
	case COFFER_KMS_KEY_PENDING_DELETION:
		BAIL(COFFER_E_KMS_INVALID_STATE, "%s is pending deletion.", key->arn);
	}
	BAIL(COFFER_E_INTERNAL, "%s has an unknown state", key->arn);
}

COFFER_RESULT kms_authorize(struct coffer_kms *kms, const struct coffer_kms_caller *caller,
			    struct kms_key *key, enum coffer_kms_op op,
			    const struct coffer_kms_context *ctx, const char **grant_used)
{
	*grant_used = "";
	const char *who = caller ? caller->principal_arn : NULL;
	TRY(kms_require_principal(kms, who));
	if (key->service_owned && strcmp(who, kms->service_arn) != 0)
		BAIL(COFFER_E_KMS_ACCESS_DENIED,
		     "%s is not authorized to perform kms:%s on %s: it is owned by the coffer service",
		     who, coffer_kms_op_name(op), key->arn);

	/* Grant tokens of the request must at least be well-formed tokens of this KMS. */
	for (size_t i = 0; caller->grant_tokens && i < caller->n_grant_tokens; i++) {
		char kid[COFFER_KMS_KEY_ID_MAX], gid[COFFER_KMS_GRANT_ID_MAX];
		TRY(kms_grant_token_parse(kms, caller->grant_tokens[i], kid, gid));
	}

	int verdict = kms_policy_eval(kms, &key->policy, who, op);
	if (verdict < 0)
		BAIL(COFFER_E_KMS_ACCESS_DENIED,
		     "%s is not authorized to perform kms:%s on %s: the key policy denies it explicitly",
		     who, coffer_kms_op_name(op), key->arn);
	if (verdict > 0)
		return COFFER_OK;
	for (size_t i = 0; i < key->n_grants; i++) {
		struct kms_grant *g = key->grants[i];
		if (strcmp(g->grantee, who) == 0 && kms_grant_allows(g, op, ctx)) {
			*grant_used = g->id;
			return COFFER_OK;
		}
	}
	BAIL(COFFER_E_KMS_ACCESS_DENIED,
	     "%s is not authorized to perform kms:%s on %s: no key policy statement or grant allows it",
	     who, coffer_kms_op_name(op), key->arn);
}

COFFER_RESULT kms_quota_take(struct coffer_kms *kms, const struct coffer_kms_caller *caller)
{
	if (kms->quota_rate <= 0)
		return COFFER_OK;
	struct kms_principal *p = kms_principal_by_arn(kms, caller ? caller->principal_arn : NULL);
	if (!p)
		return COFFER_OK; /* authorization refuses unknown principals */
	int64_t now = coffer_clock_mono_us(kms->clock);
	if (p->bucket_mono_us == 0) {
		p->tokens = kms->quota_burst;
	} else if (now > p->bucket_mono_us) {
		p->tokens += (double)(now - p->bucket_mono_us) * kms->quota_rate / 1e6;
		if (p->tokens > kms->quota_burst)
			p->tokens = kms->quota_burst;
	}
	p->bucket_mono_us = now;
	if (p->tokens < 1.0)
		BAIL(COFFER_E_KMS_THROTTLING,
		     "Rate exceeded for %s: at most %.0f cryptographic requests per second (burst %.0f)",
		     p->arn, kms->quota_rate, kms->quota_burst);
	p->tokens -= 1.0;
	return COFFER_OK;
}

/* ---- time ------------------------------------------------------------------ */

COFFER_RESULT kms_key_apply_time(struct coffer_kms *kms, struct kms_key *key)
{
	if (key->destroyed)
		return COFFER_OK;
	int64_t now = kms_now(kms);
	if (key->state == COFFER_KMS_KEY_PENDING_DELETION && now >= key->deletion_us) {
		struct kms_key *next = kms_key_clone(key);
		for (size_t i = 0; i < next->n_versions; i++)
			coffer_secret_free(&next->versions[i].material);
		free(next->versions);
		next->versions = NULL;
		next->n_versions = 0;
		next->destroyed = true;
		TRY(kms_key_commit(kms, next)); /* frees `key` */
		coffer_log_info(kms->log, "kms", "key %s deleted: its key material is destroyed",
				next->arn);
		return COFFER_OK;
	}
	if (key->rotation_enabled && key->state == COFFER_KMS_KEY_ENABLED &&
	    now >= key->next_rotation_us) {
		struct kms_key *next = kms_key_clone(key);
		coffer_rc rc = kms_key_add_version(kms, next);
		if (rc == COFFER_OK) {
			next->last_rotation_us = now;
			next->next_rotation_us = now + (int64_t)next->rotation_days * COFFER_US_PER_DAY;
			rc = kms_key_commit(kms, next);
		} else {
			kms_key_free(next);
		}
		TRY(rc); /* on success `key` is freed, `next` took its place */
		coffer_log_info(kms->log, "kms", "key %s rotated automatically", next->arn);
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_tick(struct coffer_kms *kms)
{
	coffer_rc rc = COFFER_OK;
	pthread_mutex_lock(&kms->lock);
	for (size_t i = 0; i < kms->n_keys && rc == COFFER_OK; i++)
		rc = kms_key_apply_time(kms, kms->keys[i]);
	if (rc == COFFER_OK)
		rc = kms_store_maybe_compact(kms);
	pthread_mutex_unlock(&kms->lock);
	return rc;
}

/* ---- calls ------------------------------------------------------------------- */

void kms_call_begin(struct coffer_kms *kms, struct kms_call *c, enum coffer_kms_op op,
		    const struct coffer_kms_caller *caller)
{
	memset(c, 0, sizeof(*c));
	c->kms = kms;
	c->op = op;
	c->caller = caller;
	c->grant_used = "";
	pthread_mutex_lock(&kms->lock);
}

void kms_call_key(struct kms_call *c, const struct kms_key *k)
{
	snprintf(c->key_id, sizeof(c->key_id), "%s", k->id);
}

coffer_rc kms_call_end(struct kms_call *c, coffer_rc rc)
{
	struct kms_audit a = {
		.op = c->op,
		.caller = c->caller,
		.key_id = c->key_id[0] ? c->key_id : NULL,
		.ctx = c->ctx,
		.grant_used = c->grant_used,
		.rc = rc,
	};
	kms_audit(c->kms, &a);
	pthread_mutex_unlock(&c->kms->lock);
	return rc;
}

/* ---- seal key ------------------------------------------------------------------ */

static COFFER_RESULT load_seal_key(struct coffer_kms *kms, const char *path)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf raw;
	coffer_buf_init_secure(&raw);
	if (!coffer_fs_exists(path)) {
		uint8_t *p = coffer_buf_extend(&raw, KMS_BACKING_KEY_BYTES);
		TRY_FAIL(coffer_random_bytes(p, KMS_BACKING_KEY_BYTES));
		TRY_FAIL(coffer_fs_write_atomic(path, coffer_buf_slice(&raw), 0600));
		coffer_log_info(kms->log, "kms", "created seal key %s", path);
	} else {
		struct stat st;
		ENSURE_FAIL(stat(path, &st) == 0, COFFER_E_IO, "seal key %s: stat: %s", path,
			    strerror(errno));
		if (st.st_mode & 077)
			coffer_log_warn(kms->log, "kms",
					"seal key %s is readable by group or others (mode %03o); it should be 0600",
					path, (unsigned)(st.st_mode & 0777));
		TRY_FAIL(coffer_fs_read_all(path, 64, &raw));
		ENSURE_FAIL(raw.len == KMS_BACKING_KEY_BYTES, COFFER_E_CORRUPT,
			    "seal key %s: expected %d bytes, found %zu", path, KMS_BACKING_KEY_BYTES,
			    raw.len);
	}
	coffer_secret_from(&kms->seal_key, raw.ptr, raw.len);
	coffer_secret_alloc(&kms->token_key, 32);
	TRY_FAIL(coffer_hkdf_sha256(kms->seal_key.ptr, kms->seal_key.len, NULL, 0,
				    "coffer-kms grant token key", 26, kms->token_key.ptr, 32));
fail:
	coffer_buf_free(&raw);
	return rc;
}

/* Creates the built-in principals if this is a first start. */
static COFFER_RESULT ensure_builtin_principal(struct coffer_kms *kms, const char *name)
{
	if (kms_principal_by_name(kms, name))
		return COFFER_OK;
	struct kms_principal *p = COFFER_NEW(struct kms_principal);
	p->name = coffer_xstrdup(name);
	snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:user/%s", kms->account, name);
	p->created_us = kms_now(kms);
	struct coffer_buf rec;
	coffer_buf_init_secure(&rec);
	kms_encode_principal(p, &rec);
	coffer_rc rc = kms_store_append(kms, &rec);
	coffer_buf_free(&rec);
	if (rc != COFFER_OK) {
		free(p->name);
		free(p);
		return rc;
	}
	kms->principals = coffer_xrealloc(kms->principals, (kms->n_principals + 1) * sizeof(*kms->principals));
	kms->principals[kms->n_principals++] = p;
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_open(const struct coffer_kms_config *cfg, struct coffer_kms **out)
{
	coffer_rc rc = COFFER_OK;
	*out = NULL;
	ENSURE(cfg && cfg->data_dir && cfg->data_dir[0], COFFER_E_INVALID, "kms: data_dir is required");
	ENSURE(cfg->region && cfg->region[0] && strlen(cfg->region) < 64, COFFER_E_INVALID,
	       "kms: region must be 1 to 63 characters");
	ENSURE(cfg->account && strlen(cfg->account) == 12 &&
		       strspn(cfg->account, "0123456789") == 12,
	       COFFER_E_INVALID, "kms: account must be 12 digits");
	ENSURE(cfg->default_rotation_days >= 90 && cfg->default_rotation_days <= 2560,
	       COFFER_E_INVALID, "kms: default rotation period must be 90 to 2560 days");

	struct coffer_kms *kms = COFFER_NEW(struct coffer_kms);
	pthread_mutex_init(&kms->lock, NULL);
	kms->data_dir = coffer_xstrdup(cfg->data_dir);
	kms->region = coffer_xstrdup(cfg->region);
	kms->account = coffer_xstrdup(cfg->account);
	kms->clock = cfg->clock ? cfg->clock : coffer_clock_system();
	kms->log = cfg->log ? cfg->log : coffer_log_null();
	kms->default_rotation_days = cfg->default_rotation_days;
	kms->max_grants = cfg->max_grants_per_key ? cfg->max_grants_per_key : COFFER_KMS_DEFAULT_GRANT_LIMIT;
	kms->quota_rate = cfg->quota_rate;
	kms->quota_burst = cfg->quota_burst > 1 ? cfg->quota_burst : 1;
	kms->fsync = cfg->fsync;
	kms->audit_fd = -2;
	kms->lock_fd = -1;
	snprintf(kms->admin_arn, sizeof(kms->admin_arn), "arn:aws:iam::%s:user/%s", kms->account,
		 COFFER_KMS_ADMIN_PRINCIPAL_NAME);
	snprintf(kms->service_arn, sizeof(kms->service_arn), "arn:aws:iam::%s:user/%s",
		 kms->account, COFFER_KMS_SERVICE_PRINCIPAL_NAME);
	snprintf(kms->root_arn, sizeof(kms->root_arn), "arn:aws:iam::%s:root", kms->account);

	TRY_FAIL(coffer_fs_mkdirs(kms->data_dir, 0700));
	/* The store has one writer: a second engine on the same directory (a
	 * second coffer-kms, a cofferd, `coffer-kms principal create` while the
	 * daemon runs) would append behind this one's back. */
	char *lock_path = coffer_path_join(kms->data_dir, "kms.lock");
	kms->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (kms->lock_fd < 0 || flock(kms->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		rc = coffer_error_set(err == EWOULDBLOCK ? COFFER_E_STATE : COFFER_E_IO, COFFER_WHERE,
				      "kms data directory %s is in use by another process (%s on %s)",
				      kms->data_dir, strerror(err), lock_path);
		free(lock_path);
		goto fail;
	}
	free(lock_path);
	char *seal_path = cfg->seal_key_path ? coffer_xstrdup(cfg->seal_key_path)
					     : coffer_path_join(kms->data_dir, "seal.key");
	rc = load_seal_key(kms, seal_path);
	free(seal_path);
	TRY_FAIL(rc);

	if (cfg->audit_fd >= 0) {
		kms->audit_fd = cfg->audit_fd;
	} else if (cfg->audit_fd == -1) {
		char *ap = coffer_path_join(kms->data_dir, "audit.log");
		kms->audit_fd = open(ap, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int err = errno;
		if (kms->audit_fd < 0) {
			rc = COFFER_FS_ERR(err, "open", ap);
			free(ap);
			goto fail;
		}
		free(ap);
		kms->own_audit_fd = true;
	}

	TRY_FAIL(kms_store_open(kms));
	TRY_FAIL(ensure_builtin_principal(kms, COFFER_KMS_ADMIN_PRINCIPAL_NAME));
	TRY_FAIL(ensure_builtin_principal(kms, COFFER_KMS_SERVICE_PRINCIPAL_NAME));
	for (size_t i = 0; i < kms->n_keys; i++) {
		if (kms->keys[i]->service_owned && !kms->keys[i]->destroyed)
			snprintf(kms->service_key_id, sizeof(kms->service_key_id), "%s", kms->keys[i]->id);
	}
	coffer_log_info(kms->log, "kms", "opened %s: %zu keys, %zu aliases, %zu principals",
			kms->data_dir, kms->n_keys, kms->n_aliases, kms->n_principals);
	*out = kms;
	return COFFER_OK;
fail:
	coffer_kms_close(kms);
	return rc;
}

static void principal_free(struct kms_principal *p)
{
	for (size_t i = 0; i < p->n_keys; i++)
		coffer_secret_free(&p->keys[i].secret);
	free(p->keys);
	free(p->name);
	free(p);
}

void coffer_kms_close(struct coffer_kms *kms)
{
	if (!kms)
		return;
	kms_store_close(kms);
	for (size_t i = 0; i < kms->n_keys; i++)
		kms_key_free(kms->keys[i]);
	free(kms->keys);
	for (size_t i = 0; i < kms->n_aliases; i++) {
		free(kms->aliases[i]->name);
		free(kms->aliases[i]);
	}
	free(kms->aliases);
	for (size_t i = 0; i < kms->n_principals; i++)
		principal_free(kms->principals[i]);
	free(kms->principals);
	if (kms->own_audit_fd && kms->audit_fd >= 0)
		close(kms->audit_fd);
	if (kms->lock_fd >= 0)
		close(kms->lock_fd); /* releases the flock */
	coffer_secret_free(&kms->seal_key);
	coffer_secret_free(&kms->token_key);
	free(kms->data_dir);
	free(kms->region);
	free(kms->account);
	pthread_mutex_destroy(&kms->lock);
	free(kms);
}

uint64_t coffer_kms_usage(struct coffer_kms *kms, const char *key_id, enum coffer_kms_op op)
{
	uint64_t n = 0;
	if ((int)op < 0 || op >= COFFER_KMS_OP_COUNT || !key_id)
		return 0;
	pthread_mutex_lock(&kms->lock);
	struct kms_key *k = kms_key_by_id(kms, key_id);
	if (k)
		n = k->usage[op];
	pthread_mutex_unlock(&kms->lock);
	return n;
}
