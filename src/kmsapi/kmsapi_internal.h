/*
 * kmsapi_internal.h - pieces of the KMS API shared inside src/kmsapi (server,
 * client, fuzz targets and unit tests), not by other modules.
 *
 *  - struct coffer_http_request: one HTTP request as the server received it or
 *    as the client is about to send it. Both sides sign/verify exactly this
 *    view, so there is ONE canonicalisation (sigv4.c).
 *  - SigV4 (sigv4.c): canonical request, string to sign, signing, verifying.
 *  - A small JSON writer (json_write.c) that writes straight into a coffer_buf,
 *    so responses holding key material never pass through jansson's heap.
 *  - Error names and HTTP statuses (errors.c), metrics (metrics.c), the
 *    operation table (json_ops.c) and the request pipeline (dispatch.c).
 *  - The HTTP/1.1 response parser of the client (http_response.c).
 *
 * Ownership: every struct here borrows the strings it points to unless a
 * field says "owned".
 */
#ifndef COFFER_KMSAPI_KMSAPI_INTERNAL_H
#define COFFER_KMSAPI_KMSAPI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kms/kms.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

/* ---- HTTP request view ------------------------------------------------------ */

struct coffer_http_header {
	const char *name;
	const char *value;
};

struct coffer_http_request {
	const char *method;                      /* "POST" */
	const char *uri;                         /* request-target as sent: path[?query] */
	const struct coffer_http_header *headers;
	size_t n_headers;
	struct coffer_slice body;
};

/* The first header named `name` (case-insensitive), or NULL. */
const char *coffer_http_header_get(const struct coffer_http_request *req, const char *name);

struct coffer_http_response {
	int status;
	const char *content_type;                /* static */
	struct coffer_buf body;                  /* owned; wiped when freed */
	const char *result;                      /* static: "Success" or an error name, for metrics */
	int op_index;                            /* index in the op table, -1 if unknown */
};
void coffer_http_response_free(struct coffer_http_response *r);

/* ---- SigV4 (sigv4.c) ------------------------------------------------------- */

#define COFFER_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define COFFER_SIGV4_MAX_SKEW_US (5 * 60 * COFFER_US_PER_SEC)
#define COFFER_SIGV4_SIGNED_HEADERS_MAX 1024
#define COFFER_SIGV4_FIELD_MAX 128

/* The parsed Authorization header. */
struct coffer_sigv4_auth {
	char access_key_id[COFFER_SIGV4_FIELD_MAX];
	char date8[9];
	char region[COFFER_SIGV4_FIELD_MAX];
	char service[COFFER_SIGV4_FIELD_MAX];
	char signed_headers[COFFER_SIGV4_SIGNED_HEADERS_MAX];
	uint8_t signature[32];
};

/* Parses "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
 * SignedHeaders=a;b, Signature=hex". COFFER_E_SYNTAX when malformed. */
COFFER_RESULT coffer_sigv4_parse_authorization(const char *value, struct coffer_sigv4_auth *out);

/* Canonical URI of a raw (percent-encoded) path: dot segments and empty
 * segments removed, then each byte outside A-Za-z0-9-_.~/ percent-encoded
 * (so an encoded path is encoded a second time, as AWS does for every
 * service but S3). Appends to out. */
void coffer_sigv4_canonical_uri(const char *path, size_t len, struct coffer_buf *out);
/* Canonical query string: pairs decoded, re-encoded strictly, sorted by key
 * then value. COFFER_E_SYNTAX on a bad percent escape. Appends to out. */
COFFER_RESULT coffer_sigv4_canonical_query(const char *query, size_t len, struct coffer_buf *out);
/* The whole canonical request for the headers named in signed_headers
 * ("host;x-amz-date", lowercase, sorted). COFFER_E_SYNTAX if signed_headers is
 * not lowercase-sorted-unique or names a header the request lacks. */
COFFER_RESULT coffer_sigv4_canonical_request(const struct coffer_http_request *req,
					     const char *signed_headers,
					     const char *payload_hash_hex, struct coffer_buf *out);
/* "AWS4-HMAC-SHA256\n<amz_date>\n<date8>/<region>/<service>/aws4_request\n<hex sha256(creq)>" */
void coffer_sigv4_string_to_sign(const char *amz_date, const char *date8, const char *region,
				 const char *service, struct coffer_slice canonical_request,
				 struct coffer_buf *out);
/* kSigning from a secret access key (client side; the server asks the engine). */
void coffer_sigv4_derive_key(struct coffer_slice secret, const char *date8, const char *region,
			     const char *service, uint8_t out[32]);
/* Parses "YYYYMMDDTHHMMSSZ" into epoch microseconds. */
COFFER_RESULT coffer_sigv4_parse_amz_date(const char *s, int64_t *out_us);
/* Formats epoch microseconds as "YYYYMMDDTHHMMSSZ" (17 bytes with NUL). */
void coffer_sigv4_format_amz_date(int64_t us, char out[17]);

/* Signs req (which must already carry host, x-amz-date and every header in
 * signed_headers) and returns the Authorization header value (owned). */
char *coffer_sigv4_sign(const struct coffer_http_request *req, const uint8_t signing_key[32],
			const char *access_key_id, const char *amz_date, const char *region,
			const char *service, const char *signed_headers);

/* What verification found out; `detail` is the AWS error name to use when the
 * call fails (the rc alone cannot say IncompleteSignature vs MissingToken). */
struct coffer_sigv4_verified {
	char principal_arn[COFFER_KMS_ARN_MAX];
	char access_key_id[COFFER_SIGV4_FIELD_MAX];
	const char *error_name;   /* static, set on failure */
};
/* Verifies the request against the engine's keys. Errors:
 *  MissingAuthenticationTokenException (no Authorization header),
 *  IncompleteSignatureException (malformed header / missing required parts),
 *  UnrecognizedClientException (unknown access key),
 *  InvalidSignatureException (bad signature, scope, skew, payload hash). */
COFFER_RESULT coffer_sigv4_verify(struct coffer_kms *kms, const struct coffer_http_request *req,
				  int64_t now_us, const char *region, const char *service,
				  struct coffer_sigv4_verified *out);

/* ---- JSON writer (json_write.c) ------------------------------------------- */

#define COFFER_JW_DEPTH 16
struct coffer_jw {
	struct coffer_buf *b;
	int depth;
	bool first[COFFER_JW_DEPTH];
};
void coffer_jw_init(struct coffer_jw *w, struct coffer_buf *b);
void coffer_jw_obj_begin(struct coffer_jw *w);
void coffer_jw_obj_end(struct coffer_jw *w);
void coffer_jw_arr_begin(struct coffer_jw *w);
void coffer_jw_arr_end(struct coffer_jw *w);
void coffer_jw_key(struct coffer_jw *w, const char *k);
void coffer_jw_str(struct coffer_jw *w, const char *s);
void coffer_jw_strn(struct coffer_jw *w, const char *s, size_t n);
/* Base64 straight into the output, no temporary copy of the bytes. */
void coffer_jw_b64(struct coffer_jw *w, const void *p, size_t n);
void coffer_jw_int(struct coffer_jw *w, int64_t v);
void coffer_jw_bool(struct coffer_jw *w, bool v);
/* Epoch seconds with millisecond precision, as AWS timestamps are sent. */
void coffer_jw_time(struct coffer_jw *w, int64_t us);
/* Key/value shorthands. */
void coffer_jw_kstr(struct coffer_jw *w, const char *k, const char *v);
void coffer_jw_kint(struct coffer_jw *w, const char *k, int64_t v);
void coffer_jw_kbool(struct coffer_jw *w, const char *k, bool v);
void coffer_jw_ktime(struct coffer_jw *w, const char *k, int64_t us);
void coffer_jw_kb64(struct coffer_jw *w, const char *k, const void *p, size_t n);

/* ---- errors (errors.c) ---------------------------------------------------- */

/* The AWS error name of a code: KMS codes by coffer_rc_name(), COFFER_E_SYNTAX
 * as SerializationException, COFFER_E_INVALID as ValidationException,
 * UNAVAILABLE/TIMEOUT as DependencyTimeoutException, anything else as
 * KMSInternalException. */
const char *coffer_kmsapi_error_name(coffer_rc rc);
/* 500 for KMSInternalException and DependencyTimeoutException, else 400. */
int coffer_kmsapi_error_status(const char *name);
/* The code the embedded engine would return for an AWS error name (anything
 * before '#' is ignored); unknown names are COFFER_E_KMS_INTERNAL. */
coffer_rc coffer_kmsapi_error_code(const char *name, size_t len);
/* Fills resp with {"__type": name, "message": msg}. */
void coffer_kmsapi_error_reply(struct coffer_http_response *resp, int status, const char *name,
			       const char *msg);

/* ---- operations (json_ops.c) --------------------------------------------- */

struct coffer_kmsapi;

/* One API operation: parses `in` (a JSON object), calls the engine as
 * `caller`, writes the response object into `out`. Wrong JSON types are
 * COFFER_E_SYNTAX (SerializationException); missing or out-of-range fields
 * COFFER_E_KMS_VALIDATION. */
typedef coffer_rc (*coffer_kmsapi_op_fn)(struct coffer_kmsapi *api,
					 const struct coffer_kms_caller *caller, json_t *in,
					 struct coffer_jw *out);
struct coffer_kmsapi_op {
	const char *name;             /* "Encrypt": X-Amz-Target is "TrentService.Encrypt" */
	coffer_kmsapi_op_fn fn;
};
/* The op of an X-Amz-Target suffix, or NULL; *index is its table index. */
const struct coffer_kmsapi_op *coffer_kmsapi_op_find(const char *name, int *index);
size_t coffer_kmsapi_op_count(void);
const char *coffer_kmsapi_op_name(size_t index);

/* ---- metrics (metrics.c) ---------------------------------------------------- */

struct coffer_kmsapi_metrics;
struct coffer_kmsapi_metrics *coffer_kmsapi_metrics_new(void);
void coffer_kmsapi_metrics_free(struct coffer_kmsapi_metrics *m);
/* op_index -1: requests that named no known operation. Thread-safe. */
void coffer_kmsapi_metrics_record(struct coffer_kmsapi_metrics *m, int op_index,
				  const char *result, int64_t latency_us);
void coffer_kmsapi_metrics_connection(struct coffer_kmsapi_metrics *m, int delta);
/* Prometheus text exposition format 0.0.4, appended to out. */
void coffer_kmsapi_metrics_render(struct coffer_kmsapi_metrics *m, struct coffer_buf *out);

/* ---- the request pipeline (dispatch.c) ---------------------------------- */

#define COFFER_KMSAPI_TARGET_PREFIX "TrentService."
#define COFFER_KMSAPI_CONTENT_TYPE "application/x-amz-json-1.1"

struct coffer_kmsapi {
	struct coffer_kms *kms;
	const struct coffer_clock *clock;   /* SigV4 skew checks */
	const struct coffer_log *log;
	struct coffer_kmsapi_metrics *metrics; /* may be NULL */
	char region[COFFER_SIGV4_FIELD_MAX];
	char account[COFFER_SIGV4_FIELD_MAX];
};
void coffer_kmsapi_init(struct coffer_kmsapi *api, struct coffer_kms *kms,
			const struct coffer_clock *clock, const struct coffer_log *log,
			struct coffer_kmsapi_metrics *metrics);
/* Handles one POST: X-Amz-Target, SigV4, JSON, the engine call, the reply.
 * Never fails: every problem becomes an error reply in resp. */
void coffer_kmsapi_handle(struct coffer_kmsapi *api, const struct coffer_http_request *req,
			  struct coffer_http_response *resp);

/* ---- HTTP/1.1 responses (http_response.c, client side) ------------------ */

struct coffer_http_parsed {
	int status;
	bool keep_alive;              /* false: "Connection: close" or HTTP/1.0 */
	char amz_type[COFFER_SIGV4_FIELD_MAX]; /* x-amzn-ErrorType header, "" if none */
	struct coffer_slice body;     /* into the input, or into `chunked` */
	size_t consumed;              /* bytes of input this response took */
};
/* Parses one complete response from `in`. *complete false: need more bytes.
 * Bodies longer than max_body and malformed responses are COFFER_E_PROTOCOL.
 * Chunked bodies are decoded into `chunked` (reset first). */
COFFER_RESULT coffer_http_response_parse(struct coffer_slice in, size_t max_body,
					 struct coffer_http_parsed *out, struct coffer_buf *chunked,
					 bool *complete);

#endif
