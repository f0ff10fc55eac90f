/*
 * result.c - the per-thread error detail behind COFFER_RESULT.
 *
 * Each thread owns one record (code, "file:line", message). coffer_error_set()
 * overwrites it; coffer_error_wrap() prefixes context to the message while
 * keeping the code and the location of the original detection, so the line
 * that found the problem survives however many layers pass it up.
 *
 * Invariants:
 *  1. msg is always NUL-terminated and at most sizeof(msg)-1 bytes; longer
 *     messages are truncated, never overflowed.
 *  2. where is NULL or a static string; it is never freed.
 *  3. Formatting goes through a temporary, so an argument may be the current
 *     message itself (coffer_error_set(c, w, "%s", coffer_error_msg())).
 */
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define COFFER_ERROR_MSG_MAX 512

struct coffer_error_record {
	coffer_rc code;
	const char *where;
	char msg[COFFER_ERROR_MSG_MAX];
};

static __thread struct coffer_error_record tls_error;

coffer_rc coffer_error_set(coffer_rc code, const char *where, const char *fmt, ...)
{
	char tmp[COFFER_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	tls_error.code = code;
	tls_error.where = where;
	memcpy(tls_error.msg, tmp, sizeof(tmp));
	return code;
}

const char *coffer_error_msg(void)
{
	return tls_error.msg;
}

const char *coffer_error_where(void)
{
	return tls_error.where ? tls_error.where : "";
}

coffer_rc coffer_error_code(void)
{
	return tls_error.code;
}

void coffer_error_clear(void)
{
	tls_error.code = COFFER_OK;
	tls_error.where = NULL;
	tls_error.msg[0] = '\0';
}

/* Appends s to dst[0..n), truncating at the record's size; returns the new length. */
static size_t append(char dst[COFFER_ERROR_MSG_MAX], size_t n, const char *s)
{
	size_t len = strnlen(s, COFFER_ERROR_MSG_MAX - 1 - n);

	memcpy(dst + n, s, len);
	dst[n + len] = '\0';
	return n + len;
}

coffer_rc coffer_error_wrap(const char *fmt, ...)
{
	char prefix[COFFER_ERROR_MSG_MAX];
	char joined[COFFER_ERROR_MSG_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	n = append(joined, 0, prefix);
	if (tls_error.msg[0] != '\0') {
		n = append(joined, n, ": ");
		n = append(joined, n, tls_error.msg);
	}
	memcpy(tls_error.msg, joined, n + 1);
	return tls_error.code;
}

const char *coffer_rc_name(coffer_rc code)
{
	switch (code) {
	case COFFER_OK: return "COFFER_OK";
	case COFFER_E_INVALID: return "COFFER_E_INVALID";
	case COFFER_E_IO: return "COFFER_E_IO";
	case COFFER_E_CORRUPT: return "COFFER_E_CORRUPT";
	case COFFER_E_NOT_FOUND: return "COFFER_E_NOT_FOUND";
	case COFFER_E_EXISTS: return "COFFER_E_EXISTS";
	case COFFER_E_CRYPTO: return "COFFER_E_CRYPTO";
	case COFFER_E_AUTH: return "COFFER_E_AUTH";
	case COFFER_E_LIMIT: return "COFFER_E_LIMIT";
	case COFFER_E_STATE: return "COFFER_E_STATE";
	case COFFER_E_UNAVAILABLE: return "COFFER_E_UNAVAILABLE";
	case COFFER_E_TIMEOUT: return "COFFER_E_TIMEOUT";
	case COFFER_E_DENIED: return "COFFER_E_DENIED";
	case COFFER_E_INTERNAL: return "COFFER_E_INTERNAL";
	case COFFER_E_NOSPACE: return "COFFER_E_NOSPACE";
	case COFFER_E_SYNTAX: return "COFFER_E_SYNTAX";
	case COFFER_E_PROTOCOL: return "COFFER_E_PROTOCOL";

	/* The exception names of the AWS KMS API reference, "Errors" sections. */
	case COFFER_E_KMS_NOT_FOUND: return "NotFoundException";
	case COFFER_E_KMS_DISABLED: return "DisabledException";
	case COFFER_E_KMS_INVALID_STATE: return "KMSInvalidStateException";
	case COFFER_E_KMS_INVALID_CIPHERTEXT: return "InvalidCiphertextException";
	case COFFER_E_KMS_INCORRECT_KEY: return "IncorrectKeyException";
	case COFFER_E_KMS_INVALID_KEY_USAGE: return "InvalidKeyUsageException";
	case COFFER_E_KMS_LIMIT_EXCEEDED: return "LimitExceededException";
	case COFFER_E_KMS_ALREADY_EXISTS: return "AlreadyExistsException";
	case COFFER_E_KMS_INVALID_GRANT_TOKEN: return "InvalidGrantTokenException";
	case COFFER_E_KMS_INVALID_GRANT_ID: return "InvalidGrantIdException";
	case COFFER_E_KMS_INVALID_ALIAS_NAME: return "InvalidAliasNameException";
	case COFFER_E_KMS_VALIDATION: return "ValidationException";
	case COFFER_E_KMS_ACCESS_DENIED: return "AccessDeniedException";
	case COFFER_E_KMS_THROTTLING: return "ThrottlingException";
	case COFFER_E_KMS_UNRECOGNIZED_CLIENT: return "UnrecognizedClientException";
	case COFFER_E_KMS_INVALID_SIGNATURE: return "InvalidSignatureException";
	case COFFER_E_KMS_INTERNAL: return "KMSInternalException";
	case COFFER_E_KMS_DEPENDENCY_TIMEOUT: return "DependencyTimeoutException";
	case COFFER_E_KMS_MALFORMED_POLICY: return "MalformedPolicyDocumentException";
	case COFFER_E_KMS_INVALID_MARKER: return "InvalidMarkerException";
	case COFFER_E_KMS_UNSUPPORTED_OPERATION: return "UnsupportedOperationException";
	case COFFER_E_KMS_INVALID_ARN: return "InvalidArnException";
	case COFFER_E_KMS_LAST: break;
	}
	return "COFFER_E_UNKNOWN";
}
