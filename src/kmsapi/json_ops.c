/*
 * json_ops.c - every KMS API operation as a mapping between the AWS JSON 1.1
 * request/response shapes (botocore's kms/2014-11-01 service model) and one
 * call of the engine (kms.h).
 *
 * Field types on the wire:
 *   TYPE        JSON        NOTES
 *   string      string      no embedded NUL
 *   integer     number      integral; range checked per field
 *   boolean     true/false
 *   blob        string      standard base64, padded (Plaintext, CiphertextBlob)
 *   timestamp   number      epoch seconds, millisecond fraction
 *   context     object      string -> string, at most 64 pairs
 *   list        array
 *
 * Invariants:
 *  1. A field of the wrong JSON type is COFFER_E_SYNTAX, which the reply names
 *     SerializationException (as AWS does); a missing required field or a value
 *     out of range is ValidationException; fields coffer does not implement
 *     (custom key stores, asymmetric key specs, tags) are refused with
 *     UnsupportedOperationException instead of being ignored.
 *  2. Decoded plaintext lives only in coffer_secret / secure buffers and is
 *     written back out base64-encoded straight into the response buffer.
 *  3. Each function makes exactly one engine call (so one audit line).
 */
#include "kmsapi/kmsapi_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define SYMMETRIC_DEFAULT "SYMMETRIC_DEFAULT"

/* ---- request field readers ------------------------------------------------ */

static json_t *field(json_t *in, const char *k)
{
	json_t *v = json_object_get(in, k);

	return (v && !json_is_null(v)) ? v : NULL;
}

static COFFER_RESULT get_str(json_t *in, const char *k, bool required, const char **out)
{
	json_t *v = field(in, k);

	*out = NULL;
	if (!v) {
		ENSURE(!required, COFFER_E_KMS_VALIDATION,
		       "1 validation error detected: Value null at '%s' failed to satisfy "
		       "constraint: Member must not be null",
		       k);
		return COFFER_OK;
	}
	ENSURE(json_is_string(v), COFFER_E_SYNTAX, "%s must be a string", k);
	ENSURE(strlen(json_string_value(v)) == json_string_length(v), COFFER_E_SYNTAX,
	       "%s contains a NUL character", k);
	ENSURE(!required || json_string_length(v) > 0, COFFER_E_KMS_VALIDATION,
	       "1 validation error detected: Value at '%s' failed to satisfy constraint: "
	       "Member must have length greater than or equal to 1",
	       k);
	*out = json_string_value(v);
	return COFFER_OK;
}

static COFFER_RESULT get_u32(json_t *in, const char *k, bool required, uint32_t min, uint32_t max,
			     uint32_t *out, bool *present)
{
	json_t *v = field(in, k);
	json_int_t n;

	if (present)
		*present = v != NULL;
	if (!v) {
		ENSURE(!required, COFFER_E_KMS_VALIDATION,
		       "1 validation error detected: Value null at '%s' failed to satisfy "
		       "constraint: Member must not be null",
		       k);
		return COFFER_OK;
	}
	ENSURE(json_is_integer(v), COFFER_E_SYNTAX, "%s must be an integer", k);
	n = json_integer_value(v);
	ENSURE(n >= (json_int_t)min && n <= (json_int_t)max, COFFER_E_KMS_VALIDATION,
	       "1 validation error detected: Value '%" JSON_INTEGER_FORMAT
	       "' at '%s' failed to satisfy constraint: Member must have value between %u and %u",
	       n, k, min, max);
	*out = (uint32_t)n;
	return COFFER_OK;
}

static COFFER_RESULT get_bool(json_t *in, const char *k, bool *out)
{
	json_t *v = field(in, k);

	*out = false;
	if (!v)
		return COFFER_OK;
	ENSURE(json_is_boolean(v), COFFER_E_SYNTAX, "%s must be a boolean", k);
	*out = json_is_true(v);
	return COFFER_OK;
}

/* Base64 field into `out` (secure if the caller made it so), 1..max bytes. */
static COFFER_RESULT get_blob(json_t *in, const char *k, size_t max, struct coffer_buf *out)
{
	const char *s;

	TRY(get_str(in, k, true, &s));
	if (coffer_base64_decode(s, strlen(s), out) != COFFER_OK)
		BAIL(COFFER_E_SYNTAX, "%s is not valid base64", k);
	ENSURE(out->len >= 1 && out->len <= max, COFFER_E_KMS_VALIDATION,
	       "1 validation error detected: Value at '%s' failed to satisfy constraint: Member "
	       "must have length between 1 and %zu",
	       k, max);
	return COFFER_OK;
}

/* An optional value that must be one of `allowed` (NULL-terminated); any
 * other string is refused with `code`. */
static COFFER_RESULT expect_enum(json_t *in, const char *k, const char *const *allowed,
				 coffer_rc code, const char **out)
{
	const char *s;

	TRY(get_str(in, k, false, &s));
	if (out)
		*out = s;
	if (!s)
		return COFFER_OK;
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(s, allowed[i]) == 0)
			return COFFER_OK;
	BAIL(code, "%s %s is not supported by coffer-kms", k, s);
}

static const char *const sym_only[] = {SYMMETRIC_DEFAULT, NULL};

static COFFER_RESULT refuse_present(json_t *in, const char *k)
{
	ENSURE(field(in, k) == NULL, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "%s is not supported by coffer-kms", k);
	return COFFER_OK;
}

/* Pairs of an encryption context; the strings are borrowed from the JSON. */
struct ctx_holder {
	struct coffer_kms_context_pair pairs[COFFER_KMS_MAX_CONTEXT_PAIRS];
	struct coffer_kms_context ctx;
	bool present;
};

static COFFER_RESULT get_context(json_t *in, const char *k, struct ctx_holder *h)
{
	json_t *v = field(in, k), *val;
	const char *key;
	size_t n = 0;

	memset(h, 0, sizeof(*h));
	h->ctx.pairs = h->pairs;
	if (!v)
		return COFFER_OK;
	ENSURE(json_is_object(v), COFFER_E_SYNTAX, "%s must be a map of strings", k);
	ENSURE(json_object_size(v) <= COFFER_KMS_MAX_CONTEXT_PAIRS, COFFER_E_KMS_VALIDATION,
	       "%s has more than %d pairs", k, COFFER_KMS_MAX_CONTEXT_PAIRS);
	json_object_foreach(v, key, val) {
		ENSURE(json_is_string(val), COFFER_E_SYNTAX, "%s values must be strings", k);
		ENSURE(strlen(json_string_value(val)) == json_string_length(val) &&
			       strlen(key) > 0,
		       COFFER_E_KMS_VALIDATION, "%s has an empty key or a NUL character", k);
		h->pairs[n].key = key;
		h->pairs[n].value = json_string_value(val);
		n++;
	}
	h->ctx.n = n;
	h->present = true;
	return COFFER_OK;
}

static COFFER_RESULT get_limit_marker(json_t *in, uint32_t *limit, const char **marker)
{
	*limit = 0;
	TRY(get_u32(in, "Limit", false, 1, 1000, limit, NULL));
	TRY(get_str(in, "Marker", false, marker));
	return COFFER_OK;
}

/* ARN of a key reference that names a key by id or ARN (for replies of
 * operations whose engine call returns nothing). */
static void key_arn_of(const struct coffer_kmsapi *api, const char *ref, char out[COFFER_KMS_ARN_MAX])
{
	int n;

	if (strncmp(ref, "arn:", 4) == 0)
		n = snprintf(out, COFFER_KMS_ARN_MAX, "%s", ref);
	else
		n = snprintf(out, COFFER_KMS_ARN_MAX, "arn:aws:kms:%s:%s:key/%s", api->region,
			     api->account, ref);
	if (n < 0 || n >= COFFER_KMS_ARN_MAX)
		out[0] = '\0'; /* an over-long reference was refused by the engine already */
}

/* ---- response writers --------------------------------------------------------- */

static void write_key_metadata(struct coffer_jw *w, const struct coffer_kmsapi *api,
			       const struct coffer_kms_key_info *k)
{
	coffer_jw_key(w, "KeyMetadata");
	coffer_jw_obj_begin(w);
	coffer_jw_kstr(w, "AWSAccountId", api->account);
	coffer_jw_kstr(w, "KeyId", k->key_id);
	coffer_jw_kstr(w, "Arn", k->arn);
	coffer_jw_ktime(w, "CreationDate", k->creation_us);
	coffer_jw_kbool(w, "Enabled", k->state == COFFER_KMS_KEY_ENABLED);
	coffer_jw_kstr(w, "Description", k->description ? k->description : "");
	coffer_jw_kstr(w, "KeyUsage", "ENCRYPT_DECRYPT");
	coffer_jw_kstr(w, "KeyState", coffer_kms_key_state_name(k->state));
	if (k->state == COFFER_KMS_KEY_PENDING_DELETION)
		coffer_jw_ktime(w, "DeletionDate", k->deletion_us);
	coffer_jw_kstr(w, "Origin", "AWS_KMS");
	coffer_jw_kstr(w, "KeyManager", k->service_owned ? "AWS" : "CUSTOMER");
	coffer_jw_kstr(w, "CustomerMasterKeySpec", SYMMETRIC_DEFAULT);
	coffer_jw_kstr(w, "KeySpec", SYMMETRIC_DEFAULT);
	coffer_jw_key(w, "EncryptionAlgorithms");
	coffer_jw_arr_begin(w);
	coffer_jw_str(w, SYMMETRIC_DEFAULT);
	coffer_jw_arr_end(w);
	coffer_jw_kbool(w, "MultiRegion", false);
	coffer_jw_obj_end(w);
}

static void write_pairs(struct coffer_jw *w, const char *k, const struct coffer_kms_context_pair *p,
			size_t n)
{
	coffer_jw_key(w, k);
	coffer_jw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		coffer_jw_kstr(w, p[i].key, p[i].value);
	coffer_jw_obj_end(w);
}

static void write_grants(struct coffer_jw *w, const struct coffer_kmsapi *api,
			 const struct coffer_kms_grant_list *l)
{
	char issuing[COFFER_KMS_ARN_MAX];

	snprintf(issuing, sizeof(issuing), "arn:aws:iam::%s:root", api->account);
	coffer_jw_key(w, "Grants");
	coffer_jw_arr_begin(w);
	for (size_t i = 0; i < l->n; i++) {
		const struct coffer_kms_grant_info *g = &l->grants[i];

		coffer_jw_obj_begin(w);
		coffer_jw_kstr(w, "KeyId", g->key_arn);
		coffer_jw_kstr(w, "GrantId", g->grant_id);
		if (g->name)
			coffer_jw_kstr(w, "Name", g->name);
		coffer_jw_ktime(w, "CreationDate", g->creation_us);
		coffer_jw_kstr(w, "GranteePrincipal", g->grantee_principal);
		if (g->retiring_principal[0])
			coffer_jw_kstr(w, "RetiringPrincipal", g->retiring_principal);
		coffer_jw_kstr(w, "IssuingAccount", issuing);
		coffer_jw_key(w, "Operations");
		coffer_jw_arr_begin(w);
		for (int op = 0; op < COFFER_KMS_OP_COUNT; op++)
			if (g->operations & COFFER_KMS_OP_BIT(op))
				coffer_jw_str(w, coffer_kms_op_name((enum coffer_kms_op)op));
		coffer_jw_arr_end(w);
		if (g->has_context_subset || g->has_context_equals) {
			coffer_jw_key(w, "Constraints");
			coffer_jw_obj_begin(w);
			if (g->has_context_subset)
				write_pairs(w, "EncryptionContextSubset", g->context_subset,
					    g->n_context_subset);
			if (g->has_context_equals)
				write_pairs(w, "EncryptionContextEquals", g->context_equals,
					    g->n_context_equals);
			coffer_jw_obj_end(w);
		}
		coffer_jw_obj_end(w);
	}
	coffer_jw_arr_end(w);
	coffer_jw_kbool(w, "Truncated", l->truncated);
	if (l->truncated && l->next_marker)
		coffer_jw_kstr(w, "NextMarker", l->next_marker);
}

/* ---- keys ----------------------------------------------------------------------- */

static coffer_rc op_create_key(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			       json_t *in, struct coffer_jw *out)
{
	static const char *const usage[] = {"ENCRYPT_DECRYPT", NULL};
	static const char *const origin[] = {"AWS_KMS", NULL};
	struct coffer_kms_create_key_req req = {0};
	struct coffer_kms_key_info info = {0};
	json_t *tags = field(in, "Tags");
	bool multi;

	TRY(get_str(in, "Description", false, &req.description));
	ENSURE(!req.description || strlen(req.description) <= COFFER_KMS_MAX_DESCRIPTION,
	       COFFER_E_KMS_VALIDATION, "Description is longer than %d characters",
	       COFFER_KMS_MAX_DESCRIPTION);
	TRY(get_str(in, "Policy", false, &req.policy));
	TRY(get_bool(in, "BypassPolicyLockoutSafetyCheck", &req.bypass_policy_lockout_safety_check));
	TRY(expect_enum(in, "KeyUsage", usage, COFFER_E_KMS_UNSUPPORTED_OPERATION, NULL));
	TRY(expect_enum(in, "KeySpec", sym_only, COFFER_E_KMS_UNSUPPORTED_OPERATION, NULL));
	TRY(expect_enum(in, "CustomerMasterKeySpec", sym_only, COFFER_E_KMS_UNSUPPORTED_OPERATION,
			NULL));
	TRY(expect_enum(in, "Origin", origin, COFFER_E_KMS_UNSUPPORTED_OPERATION, NULL));
	TRY(refuse_present(in, "CustomKeyStoreId"));
	TRY(refuse_present(in, "XksKeyId"));
	TRY(get_bool(in, "MultiRegion", &multi));
	ENSURE(!multi, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "multi-Region keys are not supported by coffer-kms");
	ENSURE(!tags || json_is_array(tags), COFFER_E_SYNTAX, "Tags must be a list");
	ENSURE(!tags || json_array_size(tags) == 0, COFFER_E_KMS_UNSUPPORTED_OPERATION,
	       "Tags are not supported by coffer-kms");
	TRY(coffer_kms_create_key(api->kms, caller, &req, &info));
	coffer_jw_obj_begin(out);
	write_key_metadata(out, api, &info);
	coffer_jw_obj_end(out);
	coffer_kms_key_info_free(&info);
	return COFFER_OK;
}

static coffer_rc op_describe_key(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	struct coffer_kms_key_info info = {0};
	const char *key;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(coffer_kms_describe_key(api->kms, caller, key, &info));
	coffer_jw_obj_begin(out);
	write_key_metadata(out, api, &info);
	coffer_jw_obj_end(out);
	coffer_kms_key_info_free(&info);
	return COFFER_OK;
}

static coffer_rc op_list_keys(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			      json_t *in, struct coffer_jw *out)
{
	struct coffer_kms_key_list l = {0};
	const char *marker;
	uint32_t limit;

	TRY(get_limit_marker(in, &limit, &marker));
	TRY(coffer_kms_list_keys(api->kms, caller, limit, marker, &l));
	coffer_jw_obj_begin(out);
	coffer_jw_key(out, "Keys");
	coffer_jw_arr_begin(out);
	for (size_t i = 0; i < l.n; i++) {
		coffer_jw_obj_begin(out);
		coffer_jw_kstr(out, "KeyId", l.keys[i].key_id);
		coffer_jw_kstr(out, "KeyArn", l.keys[i].arn);
		coffer_jw_obj_end(out);
	}
	coffer_jw_arr_end(out);
	coffer_jw_kbool(out, "Truncated", l.truncated);
	if (l.truncated && l.next_marker)
		coffer_jw_kstr(out, "NextMarker", l.next_marker);
	coffer_jw_obj_end(out);
	coffer_kms_key_list_free(&l);
	return COFFER_OK;
}

/* Operations that take one KeyId and return {} or {"KeyId": arn}. */
typedef coffer_rc (*key_fn)(struct coffer_kms *, const struct coffer_kms_caller *, const char *);

static coffer_rc key_only(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			  json_t *in, struct coffer_jw *out, key_fn fn, bool reply_arn)
{
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(fn(api->kms, caller, key));
	coffer_jw_obj_begin(out);
	if (reply_arn) {
		key_arn_of(api, key, arn);
		coffer_jw_kstr(out, "KeyId", arn);
	}
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_enable_key(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			       json_t *in, struct coffer_jw *out)
{
	return key_only(api, caller, in, out, coffer_kms_enable_key, false);
}

static coffer_rc op_disable_key(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				json_t *in, struct coffer_jw *out)
{
	return key_only(api, caller, in, out, coffer_kms_disable_key, false);
}

static coffer_rc op_cancel_key_deletion(struct coffer_kmsapi *api,
					const struct coffer_kms_caller *caller, json_t *in,
					struct coffer_jw *out)
{
	return key_only(api, caller, in, out, coffer_kms_cancel_key_deletion, true);
}

static coffer_rc op_disable_key_rotation(struct coffer_kmsapi *api,
					 const struct coffer_kms_caller *caller, json_t *in,
					 struct coffer_jw *out)
{
	return key_only(api, caller, in, out, coffer_kms_disable_key_rotation, false);
}

static coffer_rc op_rotate_key_on_demand(struct coffer_kmsapi *api,
					 const struct coffer_kms_caller *caller, json_t *in,
					 struct coffer_jw *out)
{
	return key_only(api, caller, in, out, coffer_kms_rotate_key_on_demand, true);
}

static coffer_rc op_schedule_key_deletion(struct coffer_kmsapi *api,
					  const struct coffer_kms_caller *caller, json_t *in,
					  struct coffer_jw *out)
{
	struct coffer_kms_key_info info = {0};
	const char *key;
	uint32_t days = 0;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_u32(in, "PendingWindowInDays", false, 7, 30, &days, NULL));
	TRY(coffer_kms_schedule_key_deletion(api->kms, caller, key, days, &info));
	coffer_jw_obj_begin(out);
	coffer_jw_kstr(out, "KeyId", info.arn);
	coffer_jw_ktime(out, "DeletionDate", info.deletion_us);
	coffer_jw_kstr(out, "KeyState", coffer_kms_key_state_name(info.state));
	coffer_jw_kint(out, "PendingWindowInDays", info.pending_window_days ? info.pending_window_days
									    : (days ? days : 30));
	coffer_jw_obj_end(out);
	coffer_kms_key_info_free(&info);
	return COFFER_OK;
}

static coffer_rc op_enable_key_rotation(struct coffer_kmsapi *api,
					const struct coffer_kms_caller *caller, json_t *in,
					struct coffer_jw *out)
{
	const char *key;
	uint32_t days = 0;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_u32(in, "RotationPeriodInDays", false, 90, 2560, &days, NULL));
	TRY(coffer_kms_enable_key_rotation(api->kms, caller, key, days));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_get_key_rotation_status(struct coffer_kmsapi *api,
					    const struct coffer_kms_caller *caller, json_t *in,
					    struct coffer_jw *out)
{
	struct coffer_kms_rotation_status st = {0};
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(coffer_kms_get_key_rotation_status(api->kms, caller, key, &st));
	key_arn_of(api, key, arn);
	coffer_jw_obj_begin(out);
	coffer_jw_kbool(out, "KeyRotationEnabled", st.enabled);
	coffer_jw_kstr(out, "KeyId", arn);
	if (st.enabled) {
		coffer_jw_kint(out, "RotationPeriodInDays", st.period_days);
		coffer_jw_ktime(out, "NextRotationDate", st.next_rotation_us);
	}
	if (st.on_demand_rotation_us)
		coffer_jw_ktime(out, "OnDemandRotationStartDate", st.on_demand_rotation_us);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_get_key_policy(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				   json_t *in, struct coffer_jw *out)
{
	const char *key, *name;
	char *policy = NULL;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_str(in, "PolicyName", false, &name));
	if (!name)
		name = "default";
	TRY(coffer_kms_get_key_policy(api->kms, caller, key, name, &policy));
	coffer_jw_obj_begin(out);
	coffer_jw_kstr(out, "Policy", policy);
	coffer_jw_kstr(out, "PolicyName", name);
	coffer_jw_obj_end(out);
	free(policy);
	return COFFER_OK;
}

static coffer_rc op_put_key_policy(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				   json_t *in, struct coffer_jw *out)
{
	const char *key, *name, *policy;
	bool bypass;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_str(in, "PolicyName", false, &name));
	TRY(get_str(in, "Policy", true, &policy));
	ENSURE(strlen(policy) <= COFFER_KMS_MAX_POLICY, COFFER_E_KMS_VALIDATION,
	       "Policy is longer than %d characters", COFFER_KMS_MAX_POLICY);
	TRY(get_bool(in, "BypassPolicyLockoutSafetyCheck", &bypass));
	TRY(coffer_kms_put_key_policy(api->kms, caller, key, name ? name : "default", policy,
				      bypass));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

/* ---- aliases ------------------------------------------------------------------ */

static coffer_rc op_create_alias(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	const char *alias, *target;

	TRY(get_str(in, "AliasName", true, &alias));
	TRY(get_str(in, "TargetKeyId", true, &target));
	TRY(coffer_kms_create_alias(api->kms, caller, alias, target));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_update_alias(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	const char *alias, *target;

	TRY(get_str(in, "AliasName", true, &alias));
	TRY(get_str(in, "TargetKeyId", true, &target));
	TRY(coffer_kms_update_alias(api->kms, caller, alias, target));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_delete_alias(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	const char *alias;

	TRY(get_str(in, "AliasName", true, &alias));
	TRY(coffer_kms_delete_alias(api->kms, caller, alias));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_list_aliases(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	struct coffer_kms_alias_list l = {0};
	const char *key, *marker;
	uint32_t limit;

	TRY(get_str(in, "KeyId", false, &key));
	TRY(get_limit_marker(in, &limit, &marker));
	TRY(coffer_kms_list_aliases(api->kms, caller, key, limit, marker, &l));
	coffer_jw_obj_begin(out);
	coffer_jw_key(out, "Aliases");
	coffer_jw_arr_begin(out);
	for (size_t i = 0; i < l.n; i++) {
		const struct coffer_kms_alias_entry *a = &l.aliases[i];

		coffer_jw_obj_begin(out);
		coffer_jw_kstr(out, "AliasName", a->alias_name);
		coffer_jw_kstr(out, "AliasArn", a->alias_arn);
		if (a->target_key_id[0])
			coffer_jw_kstr(out, "TargetKeyId", a->target_key_id);
		if (a->creation_us)
			coffer_jw_ktime(out, "CreationDate", a->creation_us);
		if (a->last_updated_us)
			coffer_jw_ktime(out, "LastUpdatedDate", a->last_updated_us);
		coffer_jw_obj_end(out);
	}
	coffer_jw_arr_end(out);
	coffer_jw_kbool(out, "Truncated", l.truncated);
	if (l.truncated && l.next_marker)
		coffer_jw_kstr(out, "NextMarker", l.next_marker);
	coffer_jw_obj_end(out);
	coffer_kms_alias_list_free(&l);
	return COFFER_OK;
}

/* ---- cryptographic operations ------------------------------------------------- */

static coffer_rc op_encrypt(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			    json_t *in, struct coffer_jw *out)
{
	struct coffer_buf pt, blob = {0};
	struct ctx_holder ctx;
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;
	coffer_rc rc;

	coffer_buf_init_secure(&pt);
	TRY_FAIL(get_str(in, "KeyId", true, &key));
	TRY_FAIL(get_blob(in, "Plaintext", COFFER_KMS_MAX_PLAINTEXT, &pt));
	TRY_FAIL(get_context(in, "EncryptionContext", &ctx));
	TRY_FAIL(expect_enum(in, "EncryptionAlgorithm", sym_only, COFFER_E_KMS_INVALID_KEY_USAGE,
			     NULL));
	TRY_FAIL(coffer_kms_encrypt(api->kms, caller, key, coffer_buf_slice(&pt), &ctx.ctx, &blob,
				    arn));
	coffer_jw_obj_begin(out);
	coffer_jw_kb64(out, "CiphertextBlob", blob.ptr, blob.len);
	coffer_jw_kstr(out, "KeyId", arn);
	coffer_jw_kstr(out, "EncryptionAlgorithm", SYMMETRIC_DEFAULT);
	coffer_jw_obj_end(out);
	rc = COFFER_OK;
fail:
	coffer_buf_free(&pt);
	coffer_buf_free(&blob);
	return rc;
}

static coffer_rc op_decrypt(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			    json_t *in, struct coffer_jw *out)
{
	struct coffer_buf blob = {0};
	struct coffer_secret pt = {0};
	struct ctx_holder ctx;
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;
	coffer_rc rc;

	TRY_FAIL(get_blob(in, "CiphertextBlob", COFFER_KMS_MAX_BLOB, &blob));
	TRY_FAIL(get_context(in, "EncryptionContext", &ctx));
	TRY_FAIL(get_str(in, "KeyId", false, &key));
	TRY_FAIL(expect_enum(in, "EncryptionAlgorithm", sym_only, COFFER_E_KMS_INVALID_KEY_USAGE,
			     NULL));
	TRY_FAIL(refuse_present(in, "Recipient"));
	TRY_FAIL(coffer_kms_decrypt(api->kms, caller, coffer_buf_slice(&blob), &ctx.ctx, key, &pt,
				    arn));
	coffer_jw_obj_begin(out);
	coffer_jw_kstr(out, "KeyId", arn);
	coffer_jw_kb64(out, "Plaintext", pt.ptr, pt.len);
	coffer_jw_kstr(out, "EncryptionAlgorithm", SYMMETRIC_DEFAULT);
	coffer_jw_obj_end(out);
	rc = COFFER_OK;
fail:
	coffer_secret_free(&pt);
	coffer_buf_free(&blob);
	return rc;
}

static coffer_rc op_reencrypt(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
			      json_t *in, struct coffer_jw *out)
{
	struct coffer_buf blob = {0}, out_blob = {0};
	struct ctx_holder src_ctx, dst_ctx;
	char src_arn[COFFER_KMS_ARN_MAX], dst_arn[COFFER_KMS_ARN_MAX];
	const char *src_key, *dst_key;
	coffer_rc rc;

	TRY_FAIL(get_blob(in, "CiphertextBlob", COFFER_KMS_MAX_BLOB, &blob));
	TRY_FAIL(get_context(in, "SourceEncryptionContext", &src_ctx));
	TRY_FAIL(get_str(in, "SourceKeyId", false, &src_key));
	TRY_FAIL(get_str(in, "DestinationKeyId", true, &dst_key));
	TRY_FAIL(get_context(in, "DestinationEncryptionContext", &dst_ctx));
	TRY_FAIL(expect_enum(in, "SourceEncryptionAlgorithm", sym_only,
			     COFFER_E_KMS_INVALID_KEY_USAGE, NULL));
	TRY_FAIL(expect_enum(in, "DestinationEncryptionAlgorithm", sym_only,
			     COFFER_E_KMS_INVALID_KEY_USAGE, NULL));
	TRY_FAIL(coffer_kms_reencrypt(api->kms, caller, coffer_buf_slice(&blob), &src_ctx.ctx,
				      src_key, dst_key, &dst_ctx.ctx, &out_blob, src_arn, dst_arn));
	coffer_jw_obj_begin(out);
	coffer_jw_kb64(out, "CiphertextBlob", out_blob.ptr, out_blob.len);
	coffer_jw_kstr(out, "SourceKeyId", src_arn);
	coffer_jw_kstr(out, "KeyId", dst_arn);
	coffer_jw_kstr(out, "SourceEncryptionAlgorithm", SYMMETRIC_DEFAULT);
	coffer_jw_kstr(out, "DestinationEncryptionAlgorithm", SYMMETRIC_DEFAULT);
	coffer_jw_obj_end(out);
	rc = COFFER_OK;
fail:
	coffer_buf_free(&blob);
	coffer_buf_free(&out_blob);
	return rc;
}

/* KeySpec (AES_256 | AES_128) or NumberOfBytes (1..1024), exactly one. */
static COFFER_RESULT data_key_size(json_t *in, uint32_t *nbytes)
{
	static const char *const specs[] = {"AES_256", "AES_128", NULL};
	const char *spec;
	bool have_n;

	*nbytes = 0;
	TRY(expect_enum(in, "KeySpec", specs, COFFER_E_KMS_VALIDATION, &spec));
	TRY(get_u32(in, "NumberOfBytes", false, 1, COFFER_KMS_MAX_DATA_KEY, nbytes, &have_n));
	ENSURE((spec != NULL) != have_n, COFFER_E_KMS_VALIDATION,
	       "Please specify either number of bytes or key spec.");
	if (spec)
		*nbytes = strcmp(spec, "AES_256") == 0 ? 32 : 16;
	return COFFER_OK;
}

static coffer_rc op_generate_data_key(struct coffer_kmsapi *api,
				      const struct coffer_kms_caller *caller, json_t *in,
				      struct coffer_jw *out)
{
	struct coffer_buf blob = {0};
	struct coffer_secret pt = {0};
	struct ctx_holder ctx;
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;
	uint32_t nbytes;
	coffer_rc rc;

	TRY_FAIL(get_str(in, "KeyId", true, &key));
	TRY_FAIL(get_context(in, "EncryptionContext", &ctx));
	TRY_FAIL(data_key_size(in, &nbytes));
	TRY_FAIL(refuse_present(in, "Recipient"));
	TRY_FAIL(coffer_kms_generate_data_key(api->kms, caller, key, nbytes, &ctx.ctx, &pt, &blob,
					      arn));
	coffer_jw_obj_begin(out);
	coffer_jw_kb64(out, "CiphertextBlob", blob.ptr, blob.len);
	coffer_jw_kb64(out, "Plaintext", pt.ptr, pt.len);
	coffer_jw_kstr(out, "KeyId", arn);
	coffer_jw_obj_end(out);
	rc = COFFER_OK;
fail:
	coffer_secret_free(&pt);
	coffer_buf_free(&blob);
	return rc;
}

static coffer_rc op_generate_data_key_without_plaintext(struct coffer_kmsapi *api,
							const struct coffer_kms_caller *caller,
							json_t *in, struct coffer_jw *out)
{
	struct coffer_buf blob = {0};
	struct ctx_holder ctx;
	char arn[COFFER_KMS_ARN_MAX];
	const char *key;
	uint32_t nbytes;
	coffer_rc rc;

	TRY_FAIL(get_str(in, "KeyId", true, &key));
	TRY_FAIL(get_context(in, "EncryptionContext", &ctx));
	TRY_FAIL(data_key_size(in, &nbytes));
	TRY_FAIL(coffer_kms_generate_data_key_without_plaintext(api->kms, caller, key, nbytes,
								&ctx.ctx, &blob, arn));
	coffer_jw_obj_begin(out);
	coffer_jw_kb64(out, "CiphertextBlob", blob.ptr, blob.len);
	coffer_jw_kstr(out, "KeyId", arn);
	coffer_jw_obj_end(out);
	rc = COFFER_OK;
fail:
	coffer_buf_free(&blob);
	return rc;
}

static coffer_rc op_generate_random(struct coffer_kmsapi *api,
				    const struct coffer_kms_caller *caller, json_t *in,
				    struct coffer_jw *out)
{
	struct coffer_secret r = {0};
	uint32_t n = 0;

	TRY(get_u32(in, "NumberOfBytes", true, 1, 1024, &n, NULL));
	TRY(refuse_present(in, "CustomKeyStoreId"));
	TRY(refuse_present(in, "Recipient"));
	TRY(coffer_kms_generate_random(api->kms, caller, n, &r));
	coffer_jw_obj_begin(out);
	coffer_jw_kb64(out, "Plaintext", r.ptr, r.len);
	coffer_jw_obj_end(out);
	coffer_secret_free(&r);
	return COFFER_OK;
}

/* ---- grants --------------------------------------------------------------------- */

static coffer_rc op_create_grant(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	struct coffer_kms_create_grant_req req = {0};
	struct ctx_holder subset, equals;
	char grant_id[COFFER_KMS_GRANT_ID_MAX];
	char *token = NULL;
	json_t *ops = field(in, "Operations"), *cons = field(in, "Constraints"), *v;
	size_t i;

	TRY(get_str(in, "KeyId", true, &req.key_ref));
	TRY(get_str(in, "GranteePrincipal", true, &req.grantee_principal));
	TRY(get_str(in, "RetiringPrincipal", false, &req.retiring_principal));
	TRY(get_str(in, "Name", false, &req.name));
	ENSURE(ops, COFFER_E_KMS_VALIDATION,
	       "1 validation error detected: Value null at 'Operations' failed to satisfy "
	       "constraint: Member must not be null");
	ENSURE(json_is_array(ops), COFFER_E_SYNTAX, "Operations must be a list");
	ENSURE(json_array_size(ops) >= 1, COFFER_E_KMS_VALIDATION,
	       "Operations must name at least one operation");
	json_array_foreach(ops, i, v) {
		int op;

		ENSURE(json_is_string(v), COFFER_E_SYNTAX, "Operations must be a list of strings");
		op = coffer_kms_op_parse(json_string_value(v));
		ENSURE(op >= 0 && (COFFER_KMS_GRANTABLE_OPS & COFFER_KMS_OP_BIT(op)),
		       COFFER_E_KMS_VALIDATION, "Operations: %s is not a grant operation",
		       json_string_value(v));
		req.operations |= COFFER_KMS_OP_BIT(op);
	}
	memset(&subset, 0, sizeof(subset));
	memset(&equals, 0, sizeof(equals));
	if (cons) {
		ENSURE(json_is_object(cons), COFFER_E_SYNTAX, "Constraints must be a structure");
		TRY(get_context(cons, "EncryptionContextSubset", &subset));
		TRY(get_context(cons, "EncryptionContextEquals", &equals));
	}
	req.context_subset = subset.present ? &subset.ctx : NULL;
	req.context_equals = equals.present ? &equals.ctx : NULL;
	TRY(coffer_kms_create_grant(api->kms, caller, &req, grant_id, &token));
	coffer_jw_obj_begin(out);
	coffer_jw_kstr(out, "GrantToken", token);
	coffer_jw_kstr(out, "GrantId", grant_id);
	coffer_jw_obj_end(out);
	free(token);
	return COFFER_OK;
}

static coffer_rc op_list_grants(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				json_t *in, struct coffer_jw *out)
{
	struct coffer_kms_grant_list l = {0};
	const char *key, *grant_id, *grantee, *marker;
	uint32_t limit;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_str(in, "GrantId", false, &grant_id));
	TRY(get_str(in, "GranteePrincipal", false, &grantee));
	TRY(get_limit_marker(in, &limit, &marker));
	TRY(coffer_kms_list_grants(api->kms, caller, key, grant_id, grantee, limit, marker, &l));
	coffer_jw_obj_begin(out);
	write_grants(out, api, &l);
	coffer_jw_obj_end(out);
	coffer_kms_grant_list_free(&l);
	return COFFER_OK;
}

static coffer_rc op_list_retirable_grants(struct coffer_kmsapi *api,
					  const struct coffer_kms_caller *caller, json_t *in,
					  struct coffer_jw *out)
{
	struct coffer_kms_grant_list l = {0};
	const char *retiring, *marker;
	uint32_t limit;

	TRY(get_str(in, "RetiringPrincipal", true, &retiring));
	TRY(get_limit_marker(in, &limit, &marker));
	TRY(coffer_kms_list_retirable_grants(api->kms, caller, retiring, limit, marker, &l));
	coffer_jw_obj_begin(out);
	write_grants(out, api, &l);
	coffer_jw_obj_end(out);
	coffer_kms_grant_list_free(&l);
	return COFFER_OK;
}

static coffer_rc op_retire_grant(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	const char *token, *key, *grant_id;

	TRY(get_str(in, "GrantToken", false, &token));
	TRY(get_str(in, "KeyId", false, &key));
	TRY(get_str(in, "GrantId", false, &grant_id));
	ENSURE(token || (key && grant_id), COFFER_E_KMS_VALIDATION,
	       "RetireGrant needs a GrantToken, or a KeyId and a GrantId");
	TRY(coffer_kms_retire_grant(api->kms, caller, token, key, grant_id));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

static coffer_rc op_revoke_grant(struct coffer_kmsapi *api, const struct coffer_kms_caller *caller,
				 json_t *in, struct coffer_jw *out)
{
	const char *key, *grant_id;

	TRY(get_str(in, "KeyId", true, &key));
	TRY(get_str(in, "GrantId", true, &grant_id));
	TRY(coffer_kms_revoke_grant(api->kms, caller, key, grant_id));
	coffer_jw_obj_begin(out);
	coffer_jw_obj_end(out);
	return COFFER_OK;
}

/* ---- the table ---------------------------------------------------------------- */

static const struct coffer_kmsapi_op ops[] = {
	{"CreateKey", op_create_key},
	{"DescribeKey", op_describe_key},
	{"ListKeys", op_list_keys},
	{"CreateAlias", op_create_alias},
	{"ListAliases", op_list_aliases},
	{"UpdateAlias", op_update_alias},
	{"DeleteAlias", op_delete_alias},
	{"EnableKey", op_enable_key},
	{"DisableKey", op_disable_key},
	{"ScheduleKeyDeletion", op_schedule_key_deletion},
	{"CancelKeyDeletion", op_cancel_key_deletion},
	{"EnableKeyRotation", op_enable_key_rotation},
	{"DisableKeyRotation", op_disable_key_rotation},
	{"GetKeyRotationStatus", op_get_key_rotation_status},
	{"RotateKeyOnDemand", op_rotate_key_on_demand},
	{"GetKeyPolicy", op_get_key_policy},
	{"PutKeyPolicy", op_put_key_policy},
	{"Encrypt", op_encrypt},
	{"Decrypt", op_decrypt},
	{"ReEncrypt", op_reencrypt},
	{"GenerateDataKey", op_generate_data_key},
	{"GenerateDataKeyWithoutPlaintext", op_generate_data_key_without_plaintext},
	{"GenerateRandom", op_generate_random},
	{"CreateGrant", op_create_grant},
	{"ListGrants", op_list_grants},
	{"ListRetirableGrants", op_list_retirable_grants},
	{"RetireGrant", op_retire_grant},
	{"RevokeGrant", op_revoke_grant},
};

const struct coffer_kmsapi_op *coffer_kmsapi_op_find(const char *name, int *index)
{
	for (size_t i = 0; i < COFFER_ARRAY_LEN(ops); i++) {
		if (strcmp(ops[i].name, name) == 0) {
			*index = (int)i;
			return &ops[i];
		}
	}
	*index = -1;
	return NULL;
}

size_t coffer_kmsapi_op_count(void)
{
	return COFFER_ARRAY_LEN(ops);
}

const char *coffer_kmsapi_op_name(size_t index)
{
	return index < COFFER_ARRAY_LEN(ops) ? ops[index].name : "unknown";
}
