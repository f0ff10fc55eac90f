/*
 * http_response.c - parses one HTTP/1.1 response from the bytes the client has
 * received so far (RFC 9112). The server may be anything that answers on the
 * endpoint, so every byte is untrusted: the parser is bounds-checked, bounded
 * (headers COFFER_HTTP_MAX_HEADER_BYTES, body max_body), and fuzzed
 * (fuzz/kms_client_response_fuzz.c).
 *
 * Layout accepted:
 *   PART          FORM
 *   status line   "HTTP/1." DIGIT SP 3DIGIT [SP reason] CRLF
 *   header        name ":" OWS value OWS CRLF     (name: token characters)
 *   end           CRLF
 *   body          Content-Length bytes, or chunked:
 *                 1*HEX [";" ext] CRLF data CRLF ... "0" [";" ext] CRLF
 *                 *(trailer CRLF) CRLF
 *                 (no length at all only for 204 and 304: empty body)
 *
 * Invariants:
 *  1. No read outside `in`; a response that does not fit the limits, or whose
 *     framing is contradictory (both Content-Length and chunked, two different
 *     Content-Lengths, a bad chunk size), is COFFER_E_PROTOCOL.
 *  2. *complete is false exactly when a prefix of a valid response was seen.
 *  3. Interim 1xx responses are skipped (their bytes count as consumed).
 */
#include "kmsapi/kmsapi_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define COFFER_HTTP_MAX_HEADER_BYTES (64 * 1024)
#define COFFER_HTTP_MAX_CHUNK_LINE 1024

/* Offset of the first CRLF at or after `from`, or -1. */
static long find_crlf(struct coffer_slice in, size_t from)
{
	for (size_t i = from; i + 1 < in.len; i++)
		if (in.ptr[i] == '\r' && in.ptr[i + 1] == '\n')
			return (long)i;
	return -1;
}

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool name_is(const uint8_t *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp((const char *)p, name, n) == 0;
}

static bool value_has_token(const uint8_t *p, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++) {
		if (strncasecmp((const char *)p + i, tok, tl) != 0)
			continue;
		if ((i == 0 || p[i - 1] == ',' || p[i - 1] == ' ') &&
		    (i + tl == n || p[i + tl] == ',' || p[i + tl] == ' '))
			return true;
	}
	return false;
}

struct head {
	int status;
	int minor;
	bool chunked;
	bool have_length;
	bool close;
	bool keep_alive_header;
	uint64_t length;
	size_t end; /* offset of the body */
};

static COFFER_RESULT parse_head(struct coffer_slice in, size_t start, struct head *h,
				char amz_type[COFFER_SIGV4_FIELD_MAX], bool *complete)
{
	long eol = find_crlf(in, start);
	size_t pos;

	memset(h, 0, sizeof(*h));
	*complete = false;
	if (eol < 0) {
		ENSURE(in.len - start < COFFER_HTTP_MAX_HEADER_BYTES, COFFER_E_PROTOCOL,
		       "HTTP response: status line too long");
		return COFFER_OK;
	}
	/* "HTTP/1.x SSS" */
	ENSURE((size_t)eol - start >= 12 && memcmp(in.ptr + start, "HTTP/1.", 7) == 0 &&
		       (in.ptr[start + 7] == '0' || in.ptr[start + 7] == '1') &&
		       in.ptr[start + 8] == ' ',
	       COFFER_E_PROTOCOL, "HTTP response: bad status line");
	h->minor = in.ptr[start + 7] - '0';
	for (int i = 0; i < 3; i++) {
		uint8_t d = in.ptr[start + 9 + i];

		ENSURE(d >= '0' && d <= '9', COFFER_E_PROTOCOL, "HTTP response: bad status code");
		h->status = h->status * 10 + (d - '0');
	}
	ENSURE(h->status >= 100 && ((size_t)eol - start == 12 || in.ptr[start + 12] == ' '),
	       COFFER_E_PROTOCOL, "HTTP response: bad status line");
	pos = (size_t)eol + 2;
	for (;;) {
		size_t colon, vs, ve;

		eol = find_crlf(in, pos);
		if (eol < 0) {
			ENSURE(in.len - start < COFFER_HTTP_MAX_HEADER_BYTES, COFFER_E_PROTOCOL,
			       "HTTP response: headers too long");
			return COFFER_OK;
		}
		ENSURE((size_t)eol - start < COFFER_HTTP_MAX_HEADER_BYTES, COFFER_E_PROTOCOL,
		       "HTTP response: headers too long");
		if ((size_t)eol == pos)
			break;
		colon = pos;
		while (colon < (size_t)eol && is_tchar(in.ptr[colon]))
			colon++;
		ENSURE(colon > pos && colon < (size_t)eol && in.ptr[colon] == ':', COFFER_E_PROTOCOL,
		       "HTTP response: bad header line");
		vs = colon + 1;
		ve = (size_t)eol;
		while (vs < ve && (in.ptr[vs] == ' ' || in.ptr[vs] == '\t'))
			vs++;
		while (ve > vs && (in.ptr[ve - 1] == ' ' || in.ptr[ve - 1] == '\t'))
			ve--;
		for (size_t i = vs; i < ve; i++)
			ENSURE(in.ptr[i] >= 0x20 || in.ptr[i] == '\t', COFFER_E_PROTOCOL,
			       "HTTP response: control character in a header");
		if (name_is(in.ptr + pos, colon - pos, "content-length")) {
			uint64_t n = 0;

			ENSURE(ve > vs && ve - vs <= 15, COFFER_E_PROTOCOL,
			       "HTTP response: bad Content-Length");
			for (size_t i = vs; i < ve; i++) {
				ENSURE(in.ptr[i] >= '0' && in.ptr[i] <= '9', COFFER_E_PROTOCOL,
				       "HTTP response: bad Content-Length");
				n = n * 10 + (uint64_t)(in.ptr[i] - '0');
			}
			ENSURE(!h->have_length || h->length == n, COFFER_E_PROTOCOL,
			       "HTTP response: conflicting Content-Length headers");
			h->have_length = true;
			h->length = n;
		} else if (name_is(in.ptr + pos, colon - pos, "transfer-encoding")) {
			ENSURE(ve - vs == 7 && strncasecmp((const char *)in.ptr + vs, "chunked", 7) == 0,
			       COFFER_E_PROTOCOL, "HTTP response: unsupported Transfer-Encoding");
			h->chunked = true;
		} else if (name_is(in.ptr + pos, colon - pos, "connection")) {
			if (value_has_token(in.ptr + vs, ve - vs, "close"))
				h->close = true;
			if (value_has_token(in.ptr + vs, ve - vs, "keep-alive"))
				h->keep_alive_header = true;
		} else if (name_is(in.ptr + pos, colon - pos, "x-amzn-errortype")) {
			size_t n = ve - vs < COFFER_SIGV4_FIELD_MAX - 1 ? ve - vs
								  : COFFER_SIGV4_FIELD_MAX - 1;

			memcpy(amz_type, in.ptr + vs, n);
			amz_type[n] = '\0';
		}
		pos = (size_t)eol + 2;
	}
	ENSURE(!(h->chunked && h->have_length), COFFER_E_PROTOCOL,
	       "HTTP response: both Content-Length and chunked");
	h->end = (size_t)eol + 2;
	*complete = true;
	return COFFER_OK;
}

/* Decodes a chunked body starting at `pos`. */
static COFFER_RESULT parse_chunked(struct coffer_slice in, size_t pos, size_t max_body,
				   struct coffer_buf *out, size_t *end, bool *complete)
{
	*complete = false;
	coffer_buf_reset(out);
	for (;;) {
		long eol = find_crlf(in, pos);
		uint64_t size = 0;
		size_t i = pos;
		int digits = 0;

		if (eol < 0) {
			ENSURE(in.len - pos < COFFER_HTTP_MAX_CHUNK_LINE, COFFER_E_PROTOCOL,
			       "HTTP response: chunk size line too long");
			return COFFER_OK;
		}
		for (; i < (size_t)eol; i++) {
			uint8_t c = in.ptr[i];
			int v = (c >= '0' && c <= '9')   ? c - '0'
				: (c >= 'a' && c <= 'f') ? c - 'a' + 10
				: (c >= 'A' && c <= 'F') ? c - 'A' + 10
							 : -1;

			if (v < 0)
				break;
			ENSURE(++digits <= 8, COFFER_E_PROTOCOL, "HTTP response: chunk too large");
			size = size * 16 + (uint64_t)v;
		}
		ENSURE(digits > 0 && (i == (size_t)eol || in.ptr[i] == ';' || in.ptr[i] == ' '),
		       COFFER_E_PROTOCOL, "HTTP response: bad chunk size");
		pos = (size_t)eol + 2;
		if (size == 0) {
			/* trailers, then the empty line */
			for (;;) {
				eol = find_crlf(in, pos);
				if (eol < 0) {
					ENSURE(in.len - pos < COFFER_HTTP_MAX_HEADER_BYTES,
					       COFFER_E_PROTOCOL, "HTTP response: trailers too long");
					return COFFER_OK;
				}
				if ((size_t)eol == pos)
					break;
				pos = (size_t)eol + 2;
			}
			*end = pos + 2;
			*complete = true;
			return COFFER_OK;
		}
		ENSURE(out->len + size <= max_body, COFFER_E_PROTOCOL,
		       "HTTP response: body larger than %zu bytes", max_body);
		if (in.len - pos < size + 2)
			return COFFER_OK;
		ENSURE(in.ptr[pos + size] == '\r' && in.ptr[pos + size + 1] == '\n',
		       COFFER_E_PROTOCOL, "HTTP response: chunk not followed by CRLF");
		coffer_buf_put(out, in.ptr + pos, (size_t)size);
		pos += (size_t)size + 2;
	}
}

COFFER_RESULT coffer_http_response_parse(struct coffer_slice in, size_t max_body,
					 struct coffer_http_parsed *out, struct coffer_buf *chunked,
					 bool *complete)
{
	struct head h;
	size_t start = 0, end;
	bool done;

	memset(out, 0, sizeof(*out));
	*complete = false;
	for (;;) {
		TRY(parse_head(in, start, &h, out->amz_type, &done));
		if (!done)
			return COFFER_OK;
		if (h.status >= 200)
			break;
		start = h.end; /* interim 1xx: skip */
	}
	out->status = h.status;
	out->keep_alive = !h.close && (h.minor == 1 || h.keep_alive_header);
	if (h.chunked) {
		TRY(parse_chunked(in, h.end, max_body, chunked, &end, &done));
		if (!done)
			return COFFER_OK;
		out->body = coffer_buf_slice(chunked);
	} else if (h.have_length) {
		ENSURE(h.length <= max_body, COFFER_E_PROTOCOL,
		       "HTTP response: body larger than %zu bytes", max_body);
		if (in.len - h.end < h.length)
			return COFFER_OK;
		out->body = coffer_slice_of(in.ptr + h.end, (size_t)h.length);
		end = h.end + (size_t)h.length;
	} else {
		ENSURE(h.status == 204 || h.status == 304, COFFER_E_PROTOCOL,
		       "HTTP response: no Content-Length and not chunked");
		out->body = coffer_slice_of(in.ptr + h.end, 0);
		end = h.end;
	}
	out->consumed = end;
	*complete = true;
	return COFFER_OK;
}
