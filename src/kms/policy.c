/*
 * policy.c - key policies: the AWS policy JSON subset coffer understands, and
 * its evaluation.
 *
 * Accepted document:
 *   {"Version": "2012-10-17", "Id": "...",
 *    "Statement": [ {"Sid": "...", "Effect": "Allow" | "Deny",
 *                    "Principal": "*" | {"AWS": "<arn>" | "*" | ["<arn>", ...]},
 *                    "Action": "kms:<Op>" | "kms:*" | "kms:<Prefix>*" | "*" | [...],
 *                    "Resource": "*" | [...]} , ... ] }
 * "Statement" may be a single object. "NotPrincipal", "NotAction" and
 * "Condition" are refused with MalformedPolicyDocumentException: coffer would
 * rather refuse a rule than silently ignore part of it.
 *
 * Evaluation (as IAM's): an explicit Deny matching the principal and action
 * wins; otherwise an Allow grants; otherwise nothing is said (a grant may still
 * allow). "arn:aws:iam::<account>:root" names the admin principal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_internal.h"

void kms_policy_free(struct kms_policy *p)
{
	for (size_t i = 0; i < p->n_stmts; i++) {
		struct kms_policy_stmt *s = &p->stmts[i];
		for (size_t j = 0; j < s->n_principals; j++)
			free(s->principals[j]);
		for (size_t j = 0; j < s->n_actions; j++)
			free(s->actions[j]);
		free(s->principals);
		free(s->actions);
	}
	free(p->stmts);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

/* Reads a string or an array of strings into a fresh array. */
static COFFER_RESULT string_list(json_t *v, const char *field, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (json_is_string(v)) {
		*out = coffer_xcalloc(1, sizeof(char *));
		(*out)[0] = coffer_xstrdup(json_string_value(v));
		*n = 1;
		return COFFER_OK;
	}
	ENSURE(json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= 1000,
	       COFFER_E_KMS_MALFORMED_POLICY, "%s must be a string or a non-empty array of strings", field);
	*out = coffer_xcalloc(json_array_size(v), sizeof(char *));
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			for (size_t j = 0; j < *n; j++)
				free((*out)[j]);
			free(*out);
			*out = NULL;
			*n = 0;
			BAIL(COFFER_E_KMS_MALFORMED_POLICY, "%s[%zu] must be a string", field, i);
		}
		(*out)[(*n)++] = coffer_xstrdup(json_string_value(e));
	}
	return COFFER_OK;
}

static COFFER_RESULT parse_stmt(json_t *js, size_t idx, struct kms_policy_stmt *s)
{
	ENSURE(json_is_object(js), COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu] must be an object", idx);
	const char *k;
	json_t *v;
	json_object_foreach(js, k, v) {
		if (strcmp(k, "Sid") && strcmp(k, "Effect") && strcmp(k, "Principal") &&
		    strcmp(k, "Action") && strcmp(k, "Resource"))
			BAIL(COFFER_E_KMS_MALFORMED_POLICY,
			     "Statement[%zu]: element '%.40s' is not supported by coffer", idx, k);
	}
	json_t *effect = json_object_get(js, "Effect");
	ENSURE(json_is_string(effect), COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Effect is required", idx);
	if (strcmp(json_string_value(effect), "Allow") == 0)
		s->allow = true;
	else if (strcmp(json_string_value(effect), "Deny") == 0)
		s->allow = false;
	else
		BAIL(COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Effect must be Allow or Deny", idx);

	json_t *pr = json_object_get(js, "Principal");
	ENSURE(pr, COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Principal is required", idx);
	if (json_is_string(pr)) {
		ENSURE(strcmp(json_string_value(pr), "*") == 0, COFFER_E_KMS_MALFORMED_POLICY,
		       "Statement[%zu]: Principal must be \"*\" or {\"AWS\": ...}", idx);
		TRY(string_list(pr, "Principal", &s->principals, &s->n_principals));
	} else {
		ENSURE(json_is_object(pr) && json_object_size(pr) == 1 && json_object_get(pr, "AWS"),
		       COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Principal must be {\"AWS\": ...}", idx);
		TRY(string_list(json_object_get(pr, "AWS"), "Principal.AWS", &s->principals, &s->n_principals));
		for (size_t i = 0; i < s->n_principals; i++)
			ENSURE(strcmp(s->principals[i], "*") == 0 || kms_arn_valid_principal(s->principals[i]),
			       COFFER_E_KMS_MALFORMED_POLICY,
			       "Statement[%zu]: Principal '%.100s' is not an IAM ARN or \"*\"", idx, s->principals[i]);
	}
	json_t *act = json_object_get(js, "Action");
	ENSURE(act, COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Action is required", idx);
	TRY(string_list(act, "Action", &s->actions, &s->n_actions));
	for (size_t i = 0; i < s->n_actions; i++)
		ENSURE(strcmp(s->actions[i], "*") == 0 || strncmp(s->actions[i], "kms:", 4) == 0,
		       COFFER_E_KMS_MALFORMED_POLICY, "Statement[%zu]: Action '%.100s' is not a kms: action",
		       idx, s->actions[i]);
	json_t *res = json_object_get(js, "Resource");
	if (res) {
		char **r;
		size_t nr;
		TRY(string_list(res, "Resource", &r, &nr));
		for (size_t i = 0; i < nr; i++)
			free(r[i]);
		free(r);
	}
	return COFFER_OK;
}

COFFER_RESULT kms_policy_parse(const char *text, struct kms_policy *out)
{
	coffer_rc rc = COFFER_OK;
	memset(out, 0, sizeof(*out));
	ENSURE(text, COFFER_E_KMS_MALFORMED_POLICY, "Policy is empty");
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	ENSURE(doc, COFFER_E_KMS_MALFORMED_POLICY, "Policy is not valid JSON: %s at line %d column %d",
	       jerr.text, jerr.line, jerr.column);
	ENSURE_FAIL(json_is_object(doc), COFFER_E_KMS_MALFORMED_POLICY, "Policy must be a JSON object");
	json_t *st = json_object_get(doc, "Statement");
	ENSURE_FAIL(st && (json_is_array(st) || json_is_object(st)), COFFER_E_KMS_MALFORMED_POLICY,
		    "Policy needs a Statement array");
	size_t n = json_is_array(st) ? json_array_size(st) : 1;
	ENSURE_FAIL(n > 0 && n <= 100, COFFER_E_KMS_MALFORMED_POLICY, "Policy needs 1 to 100 statements");
	out->stmts = coffer_xcalloc(n, sizeof(*out->stmts));
	for (size_t i = 0; i < n; i++) {
		out->n_stmts = i + 1;
		TRY_FAIL(parse_stmt(json_is_array(st) ? json_array_get(st, i) : st, i, &out->stmts[i]));
	}
	out->text = coffer_xstrdup(text);
	json_decref(doc);
	return COFFER_OK;
fail:
	json_decref(doc);
	kms_policy_free(out);
	return rc;
}

char *kms_policy_default(const struct coffer_kms *kms, const char *creator, bool service_owned)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "Version", json_string("2012-10-17"));
	json_object_set_new(doc, "Id", json_string(service_owned ? "coffer-service-key" : "key-default-1"));
	json_t *st = json_array();
	json_t *s;
	if (service_owned) {
		s = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid", "Only the coffer service",
			      "Effect", "Allow", "Principal", "AWS", kms->service_arn, "Action", "kms:*",
			      "Resource", "*");
		json_array_append_new(st, s);
	} else {
		s = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid", "Enable the account admin", "Effect",
			      "Allow", "Principal", "AWS", kms->root_arn, "Action", "kms:*", "Resource", "*");
		json_array_append_new(st, s);
		if (strcmp(creator, kms->admin_arn) != 0 && strcmp(creator, kms->root_arn) != 0) {
			s = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid", "Allow the key creator",
				      "Effect", "Allow", "Principal", "AWS", creator, "Action", "kms:*",
				      "Resource", "*");
			json_array_append_new(st, s);
		}
		s = json_pack("{s:s, s:s, s:{s:s}, s:[s,s], s:s}", "Sid",
			      "Allow the coffer service to describe the key and create grants", "Effect",
			      "Allow", "Principal", "AWS", kms->service_arn, "Action", "kms:DescribeKey",
			      "kms:CreateGrant", "Resource", "*");
		json_array_append_new(st, s);
	}
	json_object_set_new(doc, "Statement", st);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!text)
		abort();
	char *copy = coffer_xstrdup(text);
	free(text);
	return copy;
}

static bool principal_matches(const struct coffer_kms *kms, const char *pat, const char *who)
{
	if (strcmp(pat, "*") == 0 || strcmp(pat, who) == 0)
		return true;
	/* The account root stands for the admin principal. */
	return strcmp(pat, kms->root_arn) == 0 && strcmp(who, kms->admin_arn) == 0;
}

static bool action_matches(const char *pat, enum coffer_kms_op op)
{
	const char *name = coffer_kms_op_name(op);
	if (strcmp(pat, "*") == 0 || strcmp(pat, "kms:*") == 0)
		return true;
	pat += 4; /* "kms:", checked at parse time */
	size_t n = strlen(pat);
	if (n > 0 && pat[n - 1] == '*')
		return strncmp(pat, name, n - 1) == 0;
	if (strcmp(pat, name) == 0)
		return true;
	/* IAM's action for both halves of ReEncrypt is one name each:
	 * kms:ReEncryptFrom / kms:ReEncryptTo. Nothing else to alias. */
	return false;
}

int kms_policy_eval(const struct coffer_kms *kms, const struct kms_policy *p, const char *who,
		    enum coffer_kms_op op)
{
	int verdict = 0;
	for (size_t i = 0; i < p->n_stmts; i++) {
		const struct kms_policy_stmt *s = &p->stmts[i];
		bool pm = false, am = false;
		for (size_t j = 0; j < s->n_principals && !pm; j++)
			pm = principal_matches(kms, s->principals[j], who);
		for (size_t j = 0; j < s->n_actions && !am; j++)
			am = action_matches(s->actions[j], op);
		if (!pm || !am)
			continue;
		if (!s->allow)
			return -1;
		verdict = 1;
	}
	return verdict;
}

bool kms_arn_valid_principal(const char *s)
{
	/* arn:aws:iam::<12 digits>:user/<name> | :root | :role/<name> */
	if (strncmp(s, "arn:aws:iam::", 13) != 0)
		return false;
	const char *acct = s + 13;
	if (strspn(acct, "0123456789") != 12 || acct[12] != ':')
		return false;
	const char *rest = acct + 13;
	return strcmp(rest, "root") == 0 || (strncmp(rest, "user/", 5) == 0 && rest[5]) ||
	       (strncmp(rest, "role/", 5) == 0 && rest[5]);
}
