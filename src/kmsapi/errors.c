/*
 * errors.c - AWS error names and HTTP statuses for coffer result codes, both
 * ways: the server turns a code into {"__type": name, "message": ...}, and the
 * client turns a name back into the code the embedded engine would have
 * returned, so code above the KMS provider cannot tell them apart.
 *
 * Error body (AWS JSON 1.1 protocol):
 *   FIELD     TYPE    MEANING
 *   __type    string  the exception name; clients drop anything up to '#'
 *   message   string  human-readable; names keys, never secrets or values
 *
 * Invariants:
 *  1. Only KMSInternalException and DependencyTimeoutException are 5xx (faults
 *     a client may retry); every other error is the client's and is 400 (413
 *     for an oversized body is chosen by the HTTP layer).
 *  2. coffer_kmsapi_error_code(coffer_kmsapi_error_name(rc)) == rc for every
 *     COFFER_E_KMS_* code.
 */
#include "kmsapi/kmsapi_internal.h"

#include <string.h>

#include "util/alloc.h"

const char *coffer_kmsapi_error_name(coffer_rc rc)
{
	if (rc >= COFFER_E_KMS_NOT_FOUND && rc < COFFER_E_KMS_LAST)
		return coffer_rc_name(rc);
	switch (rc) {
	case COFFER_E_SYNTAX:
		return "SerializationException";
	case COFFER_E_INVALID:
		return "ValidationException";
	case COFFER_E_UNAVAILABLE:
	case COFFER_E_TIMEOUT:
		return "DependencyTimeoutException";
	default:
		return "KMSInternalException";
	}
}

int coffer_kmsapi_error_status(const char *name)
{
	if (strcmp(name, "KMSInternalException") == 0 ||
	    strcmp(name, "DependencyTimeoutException") == 0)
		return 500;
	return 400;
}

/* Names other services or the front end use, mapped onto the closest code. */
static const struct {
	const char *name;
	coffer_rc rc;
} extra_names[] = {
	{"SerializationException", COFFER_E_KMS_VALIDATION},
	{"UnknownOperationException", COFFER_E_KMS_UNSUPPORTED_OPERATION},
	{"MissingAuthenticationTokenException", COFFER_E_KMS_INVALID_SIGNATURE},
	{"IncompleteSignatureException", COFFER_E_KMS_INVALID_SIGNATURE},
	{"ExpiredTokenException", COFFER_E_KMS_INVALID_SIGNATURE},
	{"InvalidClientTokenId", COFFER_E_KMS_UNRECOGNIZED_CLIENT},
	{"SignatureDoesNotMatch", COFFER_E_KMS_INVALID_SIGNATURE},
	{"InvalidKeyId", COFFER_E_KMS_NOT_FOUND},
	{"ThrottlingException", COFFER_E_KMS_THROTTLING},
	{"Throttling", COFFER_E_KMS_THROTTLING},
	{"TooManyRequestsException", COFFER_E_KMS_THROTTLING},
	{"RequestLimitExceeded", COFFER_E_KMS_THROTTLING},
	{"KMSInvalidSignatureException", COFFER_E_KMS_INVALID_SIGNATURE},
};

coffer_rc coffer_kmsapi_error_code(const char *name, size_t len)
{
	const char *hash = memchr(name, '#', len);
	const char *colon;

	if (hash) {
		len -= (size_t)(hash + 1 - name);
		name = hash + 1;
	}
	/* x-amzn-ErrorType may carry ":http://..." after the name. */
	colon = memchr(name, ':', len);
	if (colon)
		len = (size_t)(colon - name);
	for (int rc = COFFER_E_KMS_NOT_FOUND; rc < COFFER_E_KMS_LAST; rc++) {
		const char *n = coffer_rc_name((coffer_rc)rc);

		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return (coffer_rc)rc;
	}
	for (size_t i = 0; i < sizeof(extra_names) / sizeof(extra_names[0]); i++)
		if (strlen(extra_names[i].name) == len && memcmp(extra_names[i].name, name, len) == 0)
			return extra_names[i].rc;
	return COFFER_E_KMS_INTERNAL;
}

void coffer_kmsapi_error_reply(struct coffer_http_response *resp, int status, const char *name,
			       const char *msg)
{
	struct coffer_jw w;

	coffer_buf_free(&resp->body);
	resp->status = status;
	resp->content_type = COFFER_KMSAPI_CONTENT_TYPE;
	resp->result = name;
	coffer_jw_init(&w, &resp->body);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "__type", name);
	coffer_jw_kstr(&w, "message", msg ? msg : "");
	coffer_jw_obj_end(&w);
}

void coffer_http_response_free(struct coffer_http_response *r)
{
	if (r->body.ptr)
		coffer_wipe(r->body.ptr, r->body.len);
	coffer_buf_free(&r->body);
}
