/*
 * result.h - coffer's one result type and its guard macros.
 *
 * Every fallible function returns COFFER_RESULT, an enum coffer_rc whose value 0
 * is COFFER_OK; the compiler warns when a caller drops it. The code comes from
 * the documented set below. The human-readable detail (a message naming the
 * thing that failed, and the file:line that detected it, as SQLite's
 * SQLITE_CORRUPT_BKPT does) is kept per thread in a small record, as s2n-tls
 * keeps its error string, and read with coffer_error_msg() / coffer_error_where().
 *
 * Invariants:
 *  1. A function that returns a non-OK code has set the detail for that code
 *     (BAIL/ENSURE do it; TRY passes the callee's detail up untouched).
 *  2. Messages never contain key material or user values; callers format ids,
 *     names and sizes only.
 *  3. Out of memory never reaches here: coffer_xmalloc() aborts.
 *
 * The guard family is TRY, ENSURE and BAIL. Each returns from the function;
 * each has a _FAIL twin for functions that own resources, which stores the code
 * in a local `rc` and jumps to the function's single `fail:` exit.
 */
#ifndef COFFER_UTIL_RESULT_H
#define COFFER_UTIL_RESULT_H

#include <stddef.h>

enum coffer_rc {
	COFFER_OK = 0,

	/* General */
	COFFER_E_INVALID = 1,      /* bad argument or request from the caller */
	COFFER_E_IO = 2,           /* a system call on a file or socket failed */
	COFFER_E_CORRUPT = 3,      /* stored bytes fail validation or authentication */
	COFFER_E_NOT_FOUND = 4,    /* a named thing does not exist */
	COFFER_E_EXISTS = 5,       /* a named thing exists already */
	COFFER_E_CRYPTO = 6,       /* the crypto library failed (not an auth failure) */
	COFFER_E_AUTH = 7,         /* an authentication tag or signature did not verify */
	COFFER_E_LIMIT = 8,        /* a size or count limit was reached */
	COFFER_E_STATE = 9,        /* the object is in a state that forbids the call */
	COFFER_E_UNAVAILABLE = 10, /* a dependency cannot be reached; retry later */
	COFFER_E_TIMEOUT = 11,     /* a deadline passed */
	COFFER_E_DENIED = 12,      /* the caller is not allowed to do this */
	COFFER_E_INTERNAL = 13,    /* a bug: an invariant of coffer itself broke */
	COFFER_E_NOSPACE = 14,     /* the disk is full */
	COFFER_E_SYNTAX = 15,      /* text (CQL, JSON, a flag) could not be parsed */
	COFFER_E_PROTOCOL = 16,    /* a peer broke the wire protocol */

	/* KMS errors, by the names AWS KMS gives them (coffer_kms_error_name()).
	 * The embedded engine and the remote client return the same codes, so code
	 * above cannot tell one provider from the other. */
	COFFER_E_KMS_NOT_FOUND = 100,          /* NotFoundException */
	COFFER_E_KMS_DISABLED,                 /* DisabledException */
	COFFER_E_KMS_INVALID_STATE,            /* KMSInvalidStateException */
	COFFER_E_KMS_INVALID_CIPHERTEXT,       /* InvalidCiphertextException */
	COFFER_E_KMS_INCORRECT_KEY,            /* IncorrectKeyException */
	COFFER_E_KMS_INVALID_KEY_USAGE,        /* InvalidKeyUsageException */
	COFFER_E_KMS_LIMIT_EXCEEDED,           /* LimitExceededException */
	COFFER_E_KMS_ALREADY_EXISTS,           /* AlreadyExistsException */
	COFFER_E_KMS_INVALID_GRANT_TOKEN,      /* InvalidGrantTokenException */
	COFFER_E_KMS_INVALID_GRANT_ID,         /* InvalidGrantIdException */
	COFFER_E_KMS_INVALID_ALIAS_NAME,       /* InvalidAliasNameException */
	COFFER_E_KMS_VALIDATION,               /* ValidationException */
	COFFER_E_KMS_ACCESS_DENIED,            /* AccessDeniedException */
	COFFER_E_KMS_THROTTLING,               /* ThrottlingException */
	COFFER_E_KMS_UNRECOGNIZED_CLIENT,      /* UnrecognizedClientException */
	COFFER_E_KMS_INVALID_SIGNATURE,        /* InvalidSignatureException */
	COFFER_E_KMS_INTERNAL,                 /* KMSInternalException */
	COFFER_E_KMS_DEPENDENCY_TIMEOUT,       /* DependencyTimeoutException */
	COFFER_E_KMS_MALFORMED_POLICY,         /* MalformedPolicyDocumentException */
	COFFER_E_KMS_INVALID_MARKER,           /* InvalidMarkerException */
	COFFER_E_KMS_UNSUPPORTED_OPERATION,    /* UnsupportedOperationException */
	COFFER_E_KMS_INVALID_ARN,              /* InvalidArnException */
	COFFER_E_KMS_LAST
};

typedef enum coffer_rc coffer_rc;

#define COFFER_MUST_USE __attribute__((warn_unused_result))
#define COFFER_RESULT COFFER_MUST_USE coffer_rc
#define COFFER_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Records the detail of an error for this thread and returns `code`.
 * `where` is a static "file:line" string. */
coffer_rc coffer_error_set(coffer_rc code, const char *where, const char *fmt, ...)
	COFFER_PRINTF(3, 4);

/* The message of the last error set on this thread (never NULL; "" if none).
 * Valid until the next coffer_error_set() on this thread. */
const char *coffer_error_msg(void);
/* "file:line" of the last error set on this thread, or "". */
const char *coffer_error_where(void);
/* The code of the last error set on this thread. */
coffer_rc coffer_error_code(void);
/* Clears this thread's error detail. */
void coffer_error_clear(void);
/* Prefixes the current message with context ("opening table x: ..."), keeping
 * the code and location. Returns the current code. */
coffer_rc coffer_error_wrap(const char *fmt, ...) COFFER_PRINTF(1, 2);

/* A stable name for a code: "COFFER_E_CORRUPT", or the AWS name for KMS codes. */
const char *coffer_rc_name(coffer_rc code);

#define COFFER_STR2(x) #x
#define COFFER_STR(x) COFFER_STR2(x)
#define COFFER_WHERE (__FILE__ ":" COFFER_STR(__LINE__))

/* Returns `code` with a formatted message. */
#define BAIL(code, ...) return coffer_error_set((code), COFFER_WHERE, __VA_ARGS__)
/* Returns `code` with a message unless `cond` holds. */
#define ENSURE(cond, code, ...)                                                    \
	do {                                                                       \
		if (__builtin_expect(!(cond), 0))                                  \
			BAIL(code, __VA_ARGS__);                                   \
	} while (0)
/* Returns the callee's code, keeping its detail, unless it is COFFER_OK. */
#define TRY(expr)                                                                  \
	do {                                                                       \
		coffer_rc try_rc_ = (expr);                                        \
		if (__builtin_expect(try_rc_ != COFFER_OK, 0))                     \
			return try_rc_;                                            \
	} while (0)

/* The _FAIL twins: set the caller's local `rc` and `goto fail`. */
#define BAIL_FAIL(code, ...)                                                       \
	do {                                                                       \
		rc = coffer_error_set((code), COFFER_WHERE, __VA_ARGS__);          \
		goto fail;                                                         \
	} while (0)
#define ENSURE_FAIL(cond, code, ...)                                               \
	do {                                                                       \
		if (__builtin_expect(!(cond), 0))                                  \
			BAIL_FAIL(code, __VA_ARGS__);                              \
	} while (0)
#define TRY_FAIL(expr)                                                             \
	do {                                                                       \
		rc = (expr);                                                       \
		if (__builtin_expect(rc != COFFER_OK, 0))                          \
			goto fail;                                                 \
	} while (0)

#endif
