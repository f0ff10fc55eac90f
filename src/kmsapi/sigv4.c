/*
 * sigv4.c - AWS Signature Version 4, the one implementation of request
 * canonicalisation used by both the coffer-kms server (to verify) and the
 * client (to sign), so the two can never disagree.
 *
 * The canonical request (AWS General Reference, "Create a canonical request"):
 *
 *   LINE  MEANING
 *   1     HTTP method, as sent ("POST")
 *   2     canonical URI: the raw path with dot and empty segments removed, then
 *         URI-encoded again (every byte outside A-Z a-z 0-9 - _ . ~ / becomes
 *         %XX, upper-case hex); "" becomes "/"
 *   3     canonical query: name=value pairs decoded, re-encoded strictly (also
 *         '/'), sorted by name then value, joined with '&'
 *   4..n  one "name:value\n" per signed header, lower-case names in sorted
 *         order; values trimmed, inner runs of spaces/tabs collapsed to one
 *         space, repeated headers joined with ','
 *   n+1   "" (the header block ends with an empty line)
 *   n+2   the signed header names, ';'-separated
 *   n+3   hex SHA-256 of the payload
 *
 * String to sign: "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" hex(sha256(creq)),
 * scope = date8 "/" region "/" service "/aws4_request"; signature =
 * hex(HMAC(kSigning, string to sign)).
 *
 * Authorization header grammar accepted (components in any order, separated
 * by ',' with optional spaces):
 *   "AWS4-HMAC-SHA256" SP "Credential=" akid "/" date8 "/" region "/" service
 *   "/aws4_request" "," "SignedHeaders=" h1 *(";" hN) "," "Signature=" 64HEX
 *
 * Invariants:
 *  1. The server never sees a secret key: it gets kSigning from the engine
 *     (coffer_kms_sigv4_signing_key) and wipes it after use.
 *  2. Signatures are compared in constant time (coffer_ct_equal).
 *  3. Nothing here logs or puts the Authorization header or a signature into
 *     an error message.
 *  4. A verified request signed host, x-amz-date and x-amz-target, with a
 *     scope of (date of x-amz-date, this region, "kms") and a date within 5
 *     minutes of the server clock.
 */
#include "kmsapi/kmsapi_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/alloc.h"

const char *coffer_http_header_get(const struct coffer_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* ---- encoding helpers ----------------------------------------------------- */

static bool is_unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static void uri_encode(const char *s, size_t n, bool keep_slash, struct coffer_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			coffer_buf_put_u8(out, c);
		} else {
			coffer_buf_put_u8(out, '%');
			coffer_buf_put_u8(out, (uint8_t)hex[c >> 4]);
			coffer_buf_put_u8(out, (uint8_t)hex[c & 15]);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static COFFER_RESULT uri_decode(const char *s, size_t n, struct coffer_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			coffer_buf_put_u8(out, (uint8_t)s[i]);
			continue;
		}
		ENSURE(i + 2 < n, COFFER_E_SYNTAX, "query string: truncated percent escape");
		int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);

		ENSURE(hi >= 0 && lo >= 0, COFFER_E_SYNTAX, "query string: bad percent escape");
		coffer_buf_put_u8(out, (uint8_t)(hi << 4 | lo));
		i += 2;
	}
	return COFFER_OK;
}

/* ---- canonical URI ----------------------------------------------------------- */

void coffer_sigv4_canonical_uri(const char *path, size_t len, struct coffer_buf *out)
{
	/* Segment start offsets into `path` of the normalised path (a stack, so
	 * ".." can pop). */
	size_t n_seg = 0, cap = 8;
	size_t *seg_off = coffer_xmalloc(cap * sizeof(size_t));
	size_t *seg_len = coffer_xmalloc(cap * sizeof(size_t));
	size_t i = 0;

	while (i < len) {
		size_t start, n;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		n = i - start;
		if (n == 0 || (n == 1 && path[start] == '.'))
			continue;
		if (n == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (n_seg > 0)
				n_seg--;
			continue;
		}
		if (n_seg == cap) {
			cap *= 2;
			seg_off = coffer_xrealloc(seg_off, cap * sizeof(size_t));
			seg_len = coffer_xrealloc(seg_len, cap * sizeof(size_t));
		}
		seg_off[n_seg] = start;
		seg_len[n_seg] = n;
		n_seg++;
	}
	coffer_buf_put_u8(out, '/');
	for (size_t k = 0; k < n_seg; k++) {
		if (k > 0)
			coffer_buf_put_u8(out, '/');
		uri_encode(path + seg_off[k], seg_len[k], false, out);
	}
	/* A trailing slash is kept (botocore's normalisation does the same). */
	if (n_seg > 0 && len > 0 && path[len - 1] == '/')
		coffer_buf_put_u8(out, '/');
	free(seg_off);
	free(seg_len);
}

/* ---- canonical query ------------------------------------------------------------ */

struct qpair {
	char *key;   /* encoded, NUL-terminated */
	char *value;
};

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static char *reencode(const char *s, size_t n, coffer_rc *rc)
{
	struct coffer_buf dec = {0}, enc = {0};
	char *r;

	*rc = uri_decode(s, n, &dec);
	if (*rc != COFFER_OK) {
		coffer_buf_free(&dec);
		return NULL;
	}
	uri_encode((const char *)dec.ptr, dec.len, false, &enc);
	r = coffer_xstrndup(enc.ptr ? (const char *)enc.ptr : "", enc.len);
	coffer_buf_free(&dec);
	coffer_buf_free(&enc);
	return r;
}

COFFER_RESULT coffer_sigv4_canonical_query(const char *query, size_t len, struct coffer_buf *out)
{
	struct qpair *pairs = NULL;
	size_t n = 0, cap = 0, i = 0;
	coffer_rc rc = COFFER_OK;

	while (i < len) {
		size_t start = i, eq;

		while (i < len && query[i] != '&')
			i++;
		if (i > start) {
			eq = start;
			while (eq < i && query[eq] != '=')
				eq++;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				pairs = coffer_xrealloc(pairs, cap * sizeof(*pairs));
			}
			pairs[n].key = reencode(query + start, eq - start, &rc);
			if (rc != COFFER_OK)
				goto fail;
			pairs[n].value = eq < i ? reencode(query + eq + 1, i - eq - 1, &rc)
						: coffer_xstrdup("");
			if (rc != COFFER_OK) {
				free(pairs[n].key);
				goto fail;
			}
			n++;
		}
		i++; /* skip '&' */
	}
	if (n > 1)
		qsort(pairs, n, sizeof(*pairs), qpair_cmp);
	for (size_t k = 0; k < n; k++) {
		if (k > 0)
			coffer_buf_put_u8(out, '&');
		coffer_buf_printf(out, "%s=%s", pairs[k].key, pairs[k].value);
	}
fail:
	for (size_t k = 0; k < n; k++) {
		free(pairs[k].key);
		free(pairs[k].value);
	}
	free(pairs);
	return rc;
}

/* ---- canonical request ----------------------------------------------------------- */

/* Appends the header value trimmed, with inner whitespace runs collapsed. */
static void put_header_value(struct coffer_buf *out, const char *v)
{
	size_t n = strlen(v), a = 0, b = n;
	bool space = false;

	while (a < b && (v[a] == ' ' || v[a] == '\t'))
		a++;
	while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
		b--;
	for (size_t i = a; i < b; i++) {
		if (v[i] == ' ' || v[i] == '\t') {
			space = true;
			continue;
		}
		if (space)
			coffer_buf_put_u8(out, ' ');
		space = false;
		coffer_buf_put_u8(out, (uint8_t)v[i]);
	}
}

COFFER_RESULT coffer_sigv4_canonical_request(const struct coffer_http_request *req,
					     const char *signed_headers,
					     const char *payload_hash_hex, struct coffer_buf *out)
{
	const char *uri = req->uri ? req->uri : "/";
	const char *q = strchr(uri, '?');
	size_t path_len = q ? (size_t)(q - uri) : strlen(uri);
	const char *sh = signed_headers;
	char prev[COFFER_SIGV4_FIELD_MAX] = "";

	ENSURE(req->method && req->method[0], COFFER_E_SYNTAX, "request has no method");
	coffer_buf_printf(out, "%s\n", req->method);
	coffer_sigv4_canonical_uri(uri, path_len, out);
	coffer_buf_put_u8(out, '\n');
	if (q)
		TRY(coffer_sigv4_canonical_query(q + 1, strlen(q + 1), out));
	coffer_buf_put_u8(out, '\n');

	ENSURE(*sh != '\0', COFFER_E_SYNTAX, "SignedHeaders is empty");
	while (*sh) {
		const char *end = strchr(sh, ';');
		size_t n = end ? (size_t)(end - sh) : strlen(sh);
		char name[COFFER_SIGV4_FIELD_MAX];
		bool found = false;

		ENSURE(n > 0 && n < sizeof(name), COFFER_E_SYNTAX,
		       "SignedHeaders has an empty or overlong name");
		memcpy(name, sh, n);
		name[n] = '\0';
		for (size_t i = 0; i < n; i++)
			ENSURE(!isupper((unsigned char)name[i]) && name[i] > ' ' && name[i] != ':',
			       COFFER_E_SYNTAX, "SignedHeaders names must be lower-case tokens");
		ENSURE(strcmp(prev, name) < 0, COFFER_E_SYNTAX,
		       "SignedHeaders must be sorted and unique");
		memcpy(prev, name, n + 1);

		coffer_buf_printf(out, "%s:", name);
		for (size_t i = 0; i < req->n_headers; i++) {
			if (strcasecmp(req->headers[i].name, name) != 0)
				continue;
			if (found)
				coffer_buf_put_u8(out, ',');
			put_header_value(out, req->headers[i].value);
			found = true;
		}
		ENSURE(found, COFFER_E_SYNTAX, "signed header %s is not in the request", name);
		coffer_buf_put_u8(out, '\n');
		sh += n;
		if (*sh == ';') {
			sh++;
			ENSURE(*sh != '\0', COFFER_E_SYNTAX, "SignedHeaders ends with ';'");
		}
	}
	coffer_buf_printf(out, "\n%s\n%s", signed_headers, payload_hash_hex);
	return COFFER_OK;
}

void coffer_sigv4_string_to_sign(const char *amz_date, const char *date8, const char *region,
				 const char *service, struct coffer_slice canonical_request,
				 struct coffer_buf *out)
{
	uint8_t h[COFFER_SHA256_BYTES];
	char *hex;

	coffer_sha256(canonical_request.ptr, canonical_request.len, h);
	hex = coffer_hex_encode(h, sizeof(h));
	coffer_buf_printf(out, "%s\n%s\n%s/%s/%s/aws4_request\n%s", COFFER_SIGV4_ALGORITHM, amz_date,
			  date8, region, service, hex);
	free(hex);
}

void coffer_sigv4_derive_key(struct coffer_slice secret, const char *date8, const char *region,
			     const char *service, uint8_t out[32])
{
	struct coffer_secret k0;
	uint8_t a[32], b[32];

	coffer_secret_alloc(&k0, 4 + secret.len);
	memcpy(k0.ptr, "AWS4", 4);
	memcpy(k0.ptr + 4, secret.ptr, secret.len);
	coffer_hmac_sha256(k0.ptr, k0.len, date8, strlen(date8), a);
	coffer_hmac_sha256(a, 32, region, strlen(region), b);
	coffer_hmac_sha256(b, 32, service, strlen(service), a);
	coffer_hmac_sha256(a, 32, "aws4_request", 12, out);
	coffer_wipe(a, sizeof(a));
	coffer_wipe(b, sizeof(b));
	coffer_secret_free(&k0);
}

COFFER_RESULT coffer_sigv4_parse_amz_date(const char *s, int64_t *out_us)
{
	struct tm tm;
	int v[6];
	static const int width[6] = {4, 2, 2, 2, 2, 2};
	size_t pos = 0;
	time_t t;

	ENSURE(s && strlen(s) == 16 && s[8] == 'T' && s[15] == 'Z', COFFER_E_SYNTAX,
	       "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
	for (int k = 0; k < 6; k++) {
		v[k] = 0;
		if (k == 3)
			pos++; /* 'T' */
		for (int j = 0; j < width[k]; j++, pos++) {
			ENSURE(s[pos] >= '0' && s[pos] <= '9', COFFER_E_SYNTAX,
			       "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
			v[k] = v[k] * 10 + (s[pos] - '0');
		}
	}
	ENSURE(v[1] >= 1 && v[1] <= 12 && v[2] >= 1 && v[2] <= 31 && v[3] <= 23 && v[4] <= 59 &&
		       v[5] <= 60,
	       COFFER_E_SYNTAX, "X-Amz-Date is not a valid time");
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	t = timegm(&tm);
	*out_us = (int64_t)t * COFFER_US_PER_SEC;
	return COFFER_OK;
}

void coffer_sigv4_format_amz_date(int64_t us, char out[17])
{
	time_t t = (time_t)(us / COFFER_US_PER_SEC);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- Authorization header ------------------------------------------------------- */

static COFFER_RESULT copy_field(char *dst, size_t cap, const char *p, size_t n, const char *what)
{
	ENSURE(n > 0 && n < cap, COFFER_E_SYNTAX, "Authorization: %s is empty or too long", what);
	for (size_t i = 0; i < n; i++)
		ENSURE((unsigned char)p[i] > ' ' && p[i] != 0x7f, COFFER_E_SYNTAX,
		       "Authorization: %s has a bad character", what);
	memcpy(dst, p, n);
	dst[n] = '\0';
	return COFFER_OK;
}

static COFFER_RESULT parse_credential(const char *p, size_t n, struct coffer_sigv4_auth *out)
{
	const char *part[5];
	size_t len[5];
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		ENSURE(k < 5, COFFER_E_SYNTAX, "Authorization: Credential has too many parts");
		part[k] = p + start;
		len[k] = i - start;
		k++;
		start = i + 1;
	}
	ENSURE(k == 5, COFFER_E_SYNTAX,
	       "Authorization: Credential must be AKID/date/region/service/aws4_request");
	TRY(copy_field(out->access_key_id, sizeof(out->access_key_id), part[0], len[0],
		       "access key id"));
	TRY(copy_field(out->date8, sizeof(out->date8), part[1], len[1], "credential date"));
	ENSURE(len[1] == 8, COFFER_E_SYNTAX, "Authorization: credential date must be YYYYMMDD");
	TRY(copy_field(out->region, sizeof(out->region), part[2], len[2], "region"));
	TRY(copy_field(out->service, sizeof(out->service), part[3], len[3], "service"));
	ENSURE(len[4] == 12 && memcmp(part[4], "aws4_request", 12) == 0, COFFER_E_SYNTAX,
	       "Authorization: Credential must end with aws4_request");
	return COFFER_OK;
}

COFFER_RESULT coffer_sigv4_parse_authorization(const char *value, struct coffer_sigv4_auth *out)
{
	size_t alg = strlen(COFFER_SIGV4_ALGORITHM);
	const char *p = value;
	bool have_cred = false, have_sh = false, have_sig = false;

	memset(out, 0, sizeof(*out));
	ENSURE(value && strncmp(p, COFFER_SIGV4_ALGORITHM, alg) == 0 && (p[alg] == ' '),
	       COFFER_E_SYNTAX, "Authorization must start with " COFFER_SIGV4_ALGORITHM);
	p += alg;
	while (*p) {
		const char *end, *eq;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		end = p;
		while (*end && *end != ',' && *end != ' ')
			end++;
		n = (size_t)(end - p);
		eq = memchr(p, '=', n);
		ENSURE(eq != NULL, COFFER_E_SYNTAX, "Authorization: component without '='");
		if ((size_t)(eq - p) == 10 && memcmp(p, "Credential", 10) == 0) {
			ENSURE(!have_cred, COFFER_E_SYNTAX, "Authorization: Credential repeated");
			TRY(parse_credential(eq + 1, (size_t)(end - eq - 1), out));
			have_cred = true;
		} else if ((size_t)(eq - p) == 13 && memcmp(p, "SignedHeaders", 13) == 0) {
			ENSURE(!have_sh, COFFER_E_SYNTAX, "Authorization: SignedHeaders repeated");
			TRY(copy_field(out->signed_headers, sizeof(out->signed_headers), eq + 1,
				       (size_t)(end - eq - 1), "SignedHeaders"));
			have_sh = true;
		} else if ((size_t)(eq - p) == 9 && memcmp(p, "Signature", 9) == 0) {
			const char *h = eq + 1;

			ENSURE(!have_sig, COFFER_E_SYNTAX, "Authorization: Signature repeated");
			ENSURE(end - h == 64, COFFER_E_SYNTAX,
			       "Authorization: Signature must be 64 hex digits");
			for (int i = 0; i < 32; i++) {
				int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);

				ENSURE(hi >= 0 && lo >= 0, COFFER_E_SYNTAX,
				       "Authorization: Signature must be 64 hex digits");
				out->signature[i] = (uint8_t)(hi << 4 | lo);
			}
			have_sig = true;
		} else {
			BAIL(COFFER_E_SYNTAX, "Authorization: unknown component");
		}
		p = end;
	}
	ENSURE(have_cred, COFFER_E_SYNTAX, "Authorization header requires 'Credential' parameter.");
	ENSURE(have_sh, COFFER_E_SYNTAX, "Authorization header requires 'SignedHeaders' parameter.");
	ENSURE(have_sig, COFFER_E_SYNTAX, "Authorization header requires 'Signature' parameter.");
	return COFFER_OK;
}

/* ---- signing and verifying ----------------------------------------------------- */

static void payload_hash(struct coffer_slice body, char hex[65])
{
	uint8_t h[COFFER_SHA256_BYTES];
	char *s;

	coffer_sha256(body.ptr, body.len, h);
	s = coffer_hex_encode(h, sizeof(h));
	memcpy(hex, s, 65);
	free(s);
}

static void compute_signature(const struct coffer_http_request *req, const uint8_t key[32],
			      const char *amz_date, const char *date8, const char *region,
			      const char *service, struct coffer_slice creq, uint8_t sig[32])
{
	struct coffer_buf sts = {0};

	coffer_sigv4_string_to_sign(amz_date, date8, region, service, creq, &sts);
	coffer_hmac_sha256(key, 32, sts.ptr, sts.len, sig);
	coffer_buf_free(&sts);
}

char *coffer_sigv4_sign(const struct coffer_http_request *req, const uint8_t signing_key[32],
			const char *access_key_id, const char *amz_date, const char *region,
			const char *service, const char *signed_headers)
{
	struct coffer_buf creq = {0};
	char hash[65], date8[9];
	uint8_t sig[32];
	char *hex, *auth = NULL;

	payload_hash(req->body, hash);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	if (coffer_sigv4_canonical_request(req, signed_headers, hash, &creq) == COFFER_OK) {
		compute_signature(req, signing_key, amz_date, date8, region, service,
				  coffer_buf_slice(&creq), sig);
		hex = coffer_hex_encode(sig, 32);
		auth = coffer_xasprintf("%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
					"Signature=%s",
					COFFER_SIGV4_ALGORITHM, access_key_id, date8, region,
					service, signed_headers, hex);
		free(hex);
	}
	coffer_buf_free(&creq);
	return auth;
}

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

#define VERIFY_FAIL(name, code, ...)                                               \
	do {                                                                       \
		out->error_name = (name);                                          \
		BAIL_FAIL((code), __VA_ARGS__);                                    \
	} while (0)

COFFER_RESULT coffer_sigv4_verify(struct coffer_kms *kms, const struct coffer_http_request *req,
				  int64_t now_us, const char *region, const char *service,
				  struct coffer_sigv4_verified *out)
{
	static const char *const invalid = "InvalidSignatureException";
	static const char *const incomplete = "IncompleteSignatureException";
	struct coffer_sigv4_auth auth;
	struct coffer_buf creq = {0};
	const char *authz = coffer_http_header_get(req, "authorization");
	const char *amz_date = coffer_http_header_get(req, "x-amz-date");
	const char *content_sha = coffer_http_header_get(req, "x-amz-content-sha256");
	char hash[65], now_s[17], limit_s[17];
	uint8_t key[32], sig[32];
	int64_t date_us;
	coffer_rc rc;

	memset(out, 0, sizeof(*out));
	if (!authz)
		VERIFY_FAIL("MissingAuthenticationTokenException", COFFER_E_KMS_INVALID_SIGNATURE,
			    "Missing Authentication Token");
	if (coffer_sigv4_parse_authorization(authz, &auth) != COFFER_OK)
		VERIFY_FAIL(incomplete, COFFER_E_KMS_INVALID_SIGNATURE, "%s", coffer_error_msg());
	snprintf(out->access_key_id, sizeof(out->access_key_id), "%s", auth.access_key_id);
	if (!amz_date)
		VERIFY_FAIL(incomplete, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Authorization header requires existence of a 'X-Amz-Date' header.");
	if (coffer_sigv4_parse_amz_date(amz_date, &date_us) != COFFER_OK)
		VERIFY_FAIL(incomplete, COFFER_E_KMS_INVALID_SIGNATURE, "%s", coffer_error_msg());
	if (!list_has(auth.signed_headers, "host") || !list_has(auth.signed_headers, "x-amz-date") ||
	    !list_has(auth.signed_headers, "x-amz-target"))
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "SignedHeaders must include host, x-amz-date and x-amz-target.");
	if (strcmp(auth.service, service) != 0)
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Credential should be scoped to correct service: '%s'.", service);
	if (strcmp(auth.region, region) != 0)
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Credential should be scoped to a valid region.");
	if (memcmp(auth.date8, amz_date, 8) != 0)
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
			    "version of date from HTTP.");
	/* AWS: "Signature expired: <date> is now earlier than <now - 5 min>". */
	if (date_us < now_us - COFFER_SIGV4_MAX_SKEW_US) {
		coffer_sigv4_format_amz_date(now_us - COFFER_SIGV4_MAX_SKEW_US, limit_s);
		coffer_sigv4_format_amz_date(now_us, now_s);
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Signature expired: %s is now earlier than %s (%s - 5 min.)", amz_date,
			    limit_s, now_s);
	}
	if (date_us > now_us + COFFER_SIGV4_MAX_SKEW_US) {
		coffer_sigv4_format_amz_date(now_us + COFFER_SIGV4_MAX_SKEW_US, limit_s);
		coffer_sigv4_format_amz_date(now_us, now_s);
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			    amz_date, limit_s, now_s);
	}
	rc = coffer_kms_sigv4_signing_key(kms, auth.access_key_id, auth.date8, auth.region,
					  auth.service, key, out->principal_arn);
	if (rc == COFFER_E_KMS_UNRECOGNIZED_CLIENT)
		VERIFY_FAIL("UnrecognizedClientException", COFFER_E_KMS_UNRECOGNIZED_CLIENT,
			    "The security token included in the request is invalid.");
	if (rc != COFFER_OK) {
		out->error_name = coffer_kmsapi_error_name(rc);
		goto fail;
	}
	payload_hash(req->body, hash);
	if (content_sha && strcasecmp(content_sha, hash) != 0)
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "The provided x-amz-content-sha256 header does not match the payload.");
	if (coffer_sigv4_canonical_request(req, auth.signed_headers, hash, &creq) != COFFER_OK)
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE, "%s", coffer_error_msg());
	compute_signature(req, key, amz_date, auth.date8, auth.region, auth.service,
			  coffer_buf_slice(&creq), sig);
	if (!coffer_ct_equal(sig, auth.signature, 32))
		VERIFY_FAIL(invalid, COFFER_E_KMS_INVALID_SIGNATURE,
			    "The request signature we calculated does not match the signature "
			    "you provided. Check your AWS Secret Access Key and signing method. "
			    "Consult the service documentation for details.");
	rc = COFFER_OK;
fail:
	coffer_wipe(key, sizeof(key));
	coffer_buf_free(&creq);
	if (rc != COFFER_OK)
		out->principal_arn[0] = '\0';
	return rc;
}
