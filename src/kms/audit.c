/*
 * audit.c - the audit trail: one JSON line per KMS call, appended to the audit
 * file (or descriptor) with a single write(2), and per-key usage counters.
 *
 *   {"time":"2026-11-28T01:02:03.456Z","principal":"arn:aws:iam::...:user/alice",
 *    "operation":"Decrypt","key":"arn:aws:kms:...:key/...","encryption_context":{...},
 *    "grant":"<grant id>","result":"OK" | "<AWS error name>","message":"..."}
 *
 * Invariants:
 *  1. Never key material or plaintext: only ids, names, the encryption context
 *     (not secret, kms-semantics.md) and results.
 *  2. Writing the audit line does not disturb the thread's error detail, so
 *     the caller still sees the message of the failure being audited.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kms/kms_internal.h"

void kms_audit(struct coffer_kms *kms, const struct kms_audit *a)
{
	if (kms->audit_fd < 0)
		return;
	char when[32];
	coffer_time_iso8601(kms_now(kms), when);
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "principal",
			    json_string(a->caller && a->caller->principal_arn ? a->caller->principal_arn : ""));
	json_object_set_new(o, "operation", json_string(coffer_kms_op_name(a->op)));
	if (a->key_id) {
		char arn[COFFER_KMS_ARN_MAX];
		kms_format_key_arn(kms, a->key_id, arn);
		json_object_set_new(o, "key", json_string(arn));
	}
	if (a->ctx && a->ctx->n) {
		json_t *c = json_object();
		for (size_t i = 0; i < a->ctx->n; i++)
			if (a->ctx->pairs[i].key && a->ctx->pairs[i].value)
				json_object_set_new(c, a->ctx->pairs[i].key, json_string(a->ctx->pairs[i].value));
		json_object_set_new(o, "encryption_context", c);
	}
	if (a->grant_used && a->grant_used[0])
		json_object_set_new(o, "grant", json_string(a->grant_used));
	json_object_set_new(o, "result", json_string(a->rc == COFFER_OK ? "OK" : coffer_rc_name(a->rc)));
	if (a->rc != COFFER_OK)
		json_object_set_new(o, "message", json_string(coffer_error_msg()));
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!line)
		return;
	size_t n = strlen(line);
	line = realloc(line, n + 2);
	if (!line)
		abort();
	line[n] = '\n';
	ssize_t w = write(kms->audit_fd, line, n + 1);
	if (w != (ssize_t)(n + 1))
		coffer_log_error(kms->log, "kms", "audit log write failed (%zd of %zu bytes)", w, n + 1);
	free(line);
}
