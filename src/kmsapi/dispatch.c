/*
 * dispatch.c - the request pipeline of the KMS API, independent of the HTTP
 * transport (so the fuzz target and unit tests drive exactly what the server
 * runs):
 *
 *   1. X-Amz-Target must be "TrentService.<Operation>" for a known operation,
 *      else 400 UnknownOperationException.
 *   2. SigV4 (sigv4.c) names the calling principal, else 400
 *      MissingAuthenticationToken / IncompleteSignature / UnrecognizedClient /
 *      InvalidSignature.
 *   3. The body must be one JSON object (empty body = {}), else 400
 *      SerializationException. GrantTokens (a list of at most 10 strings) is
 *      taken for every operation and passed to the engine with the caller.
 *   4. The operation (json_ops.c) calls the engine; its error code becomes the
 *      AWS error name (errors.c).
 *
 * Invariants:
 *  1. Every request gets exactly one reply and one metrics record.
 *  2. Nothing from the request body or the Authorization header is logged;
 *     a failure logs the operation, the access key id and the error name.
 *  3. Internal errors (5xx) are reported to the client as "internal error"
 *     with no detail; the detail goes to the log.
 */
#include "kmsapi/kmsapi_internal.h"

#include <stdio.h>
#include <string.h>

#include "util/alloc.h"

#define MAX_GRANT_TOKENS 10

void coffer_kmsapi_init(struct coffer_kmsapi *api, struct coffer_kms *kms,
			const struct coffer_clock *clock, const struct coffer_log *log,
			struct coffer_kmsapi_metrics *metrics)
{
	memset(api, 0, sizeof(*api));
	api->kms = kms;
	api->clock = clock ? clock : coffer_clock_system();
	api->log = log ? log : coffer_log_null();
	api->metrics = metrics;
	snprintf(api->region, sizeof(api->region), "%s", coffer_kms_region(kms));
	snprintf(api->account, sizeof(api->account), "%s", coffer_kms_account(kms));
}

static void reply_rc(struct coffer_kmsapi *api, struct coffer_http_response *resp, coffer_rc rc,
		     const char *op, const char *akid)
{
	const char *name = coffer_kmsapi_error_name(rc);
	int status = coffer_kmsapi_error_status(name);

	if (status >= 500) {
		coffer_log_error(api->log, "kmsapi", "%s by %s failed: %s (%s at %s)", op, akid,
				 name, coffer_error_msg(), coffer_error_where());
		coffer_kmsapi_error_reply(resp, status, name, "internal error");
		return;
	}
	coffer_log_debug(api->log, "kmsapi", "%s by %s: %s", op, akid, name);
	coffer_kmsapi_error_reply(resp, status, name, coffer_error_msg());
}

static COFFER_RESULT grant_tokens(json_t *body, const char **tokens, size_t *n)
{
	json_t *v = json_object_get(body, "GrantTokens"), *t;
	size_t i;

	*n = 0;
	if (!v || json_is_null(v))
		return COFFER_OK;
	ENSURE(json_is_array(v), COFFER_E_SYNTAX, "GrantTokens must be a list of strings");
	ENSURE(json_array_size(v) <= MAX_GRANT_TOKENS, COFFER_E_KMS_VALIDATION,
	       "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: "
	       "Member must have length less than or equal to %d",
	       MAX_GRANT_TOKENS);
	json_array_foreach(v, i, t) {
		ENSURE(json_is_string(t), COFFER_E_SYNTAX, "GrantTokens must be a list of strings");
		tokens[i] = json_string_value(t);
	}
	*n = json_array_size(v);
	return COFFER_OK;
}

static void handle(struct coffer_kmsapi *api, const struct coffer_http_request *req,
		   struct coffer_http_response *resp)
{
	const char *target = coffer_http_header_get(req, "x-amz-target");
	const size_t prefix = strlen(COFFER_KMSAPI_TARGET_PREFIX);
	const struct coffer_kmsapi_op *op = NULL;
	struct coffer_sigv4_verified who;
	struct coffer_kms_caller caller;
	const char *tokens[MAX_GRANT_TOKENS];
	struct coffer_jw w;
	json_error_t jerr;
	json_t *body = NULL;
	coffer_rc rc;

	if (target && strncmp(target, COFFER_KMSAPI_TARGET_PREFIX, prefix) == 0)
		op = coffer_kmsapi_op_find(target + prefix, &resp->op_index);
	if (!op) {
		coffer_kmsapi_error_reply(resp, 400, "UnknownOperationException",
					  target ? "The X-Amz-Target operation is not known."
						 : "The request has no X-Amz-Target header.");
		return;
	}
	if (strcmp(req->method, "POST") != 0) {
		coffer_kmsapi_error_reply(resp, 400, "UnknownOperationException",
					  "KMS operations are called with POST.");
		return;
	}
	rc = coffer_sigv4_verify(api->kms, req, coffer_clock_now_us(api->clock), api->region,
				 "kms", &who);
	if (rc != COFFER_OK) {
		const char *name = who.error_name ? who.error_name : coffer_kmsapi_error_name(rc);
		int status = coffer_kmsapi_error_status(name);

		coffer_log_info(api->log, "kmsapi", "%s refused: %s (access key %s)", op->name, name,
				who.access_key_id[0] ? who.access_key_id : "-");
		coffer_kmsapi_error_reply(resp, status, name,
					  status >= 500 ? "internal error" : coffer_error_msg());
		return;
	}
	if (req->body.len == 0) {
		body = json_object();
	} else {
		body = json_loadb((const char *)req->body.ptr, req->body.len,
				  JSON_REJECT_DUPLICATES, &jerr);
		if (!body || !json_is_object(body)) {
			coffer_kmsapi_error_reply(resp, 400, "SerializationException",
						  body ? "The request body must be a JSON object."
						       : "The request body is not valid JSON.");
			goto done;
		}
	}
	memset(&caller, 0, sizeof(caller));
	caller.principal_arn = who.principal_arn;
	if (grant_tokens(body, tokens, &caller.n_grant_tokens) != COFFER_OK) {
		reply_rc(api, resp, coffer_error_code(), op->name, who.access_key_id);
		goto done;
	}
	caller.grant_tokens = caller.n_grant_tokens ? tokens : NULL;

	coffer_buf_free(&resp->body);
	coffer_jw_init(&w, &resp->body);
	rc = op->fn(api, &caller, body, &w);
	if (rc != COFFER_OK) {
		reply_rc(api, resp, rc, op->name, who.access_key_id);
		goto done;
	}
	resp->status = 200;
	resp->content_type = COFFER_KMSAPI_CONTENT_TYPE;
	resp->result = "Success";
done:
	json_decref(body);
}

void coffer_kmsapi_handle(struct coffer_kmsapi *api, const struct coffer_http_request *req,
			  struct coffer_http_response *resp)
{
	int64_t start = coffer_clock_mono_us(coffer_clock_system());

	memset(resp, 0, sizeof(*resp));
	resp->op_index = -1;
	handle(api, req, resp);
	if (api->metrics)
		coffer_kmsapi_metrics_record(api->metrics, resp->op_index, resp->result,
					     coffer_clock_mono_us(coffer_clock_system()) - start);
}
