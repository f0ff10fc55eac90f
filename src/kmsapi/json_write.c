/*
 * json_write.c - a minimal JSON writer that appends to a coffer_buf.
 *
 * Responses that carry key material (Decrypt, GenerateDataKey,
 * GenerateRandom) and client requests that carry plaintext (Encrypt) are
 * written here rather than through jansson, so the base64 of a secret exists
 * in exactly one buffer, which its owner wipes when done (jansson would leave
 * unwiped copies in its heap).
 *
 * Invariants:
 *  1. Output is always valid JSON if calls nest properly (begin/end pairs);
 *     strings are escaped per RFC 8259 section 7 (", \, and control bytes).
 *  2. Nesting deeper than COFFER_JW_DEPTH is a bug and aborts.
 *  3. Base64 is encoded straight into the output buffer, with no temporary.
 */
#include "kmsapi/kmsapi_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coffer_jw_init(struct coffer_jw *w, struct coffer_buf *b)
{
	memset(w, 0, sizeof(*w));
	w->b = b;
	w->depth = 0;
	w->first[0] = true;
}

/* Before a value or a key: a comma unless it is the first in its container.
 * After a key, the value follows directly (keys clear `first` themselves). */
static void sep(struct coffer_jw *w)
{
	if (!w->first[w->depth])
		coffer_buf_put_u8(w->b, ',');
	w->first[w->depth] = false;
}

static void push(struct coffer_jw *w, uint8_t c)
{
	sep(w);
	coffer_buf_put_u8(w->b, c);
	if (w->depth + 1 >= COFFER_JW_DEPTH)
		abort();
	w->depth++;
	w->first[w->depth] = true;
}

void coffer_jw_obj_begin(struct coffer_jw *w)
{
	push(w, '{');
}

void coffer_jw_obj_end(struct coffer_jw *w)
{
	w->depth--;
	coffer_buf_put_u8(w->b, '}');
}

void coffer_jw_arr_begin(struct coffer_jw *w)
{
	push(w, '[');
}

void coffer_jw_arr_end(struct coffer_jw *w)
{
	w->depth--;
	coffer_buf_put_u8(w->b, ']');
}

static void put_escaped(struct coffer_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	coffer_buf_put_u8(b, '"');
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c == '"' || c == '\\') {
			coffer_buf_put_u8(b, '\\');
			coffer_buf_put_u8(b, c);
		} else if (c < 0x20) {
			coffer_buf_printf(b, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		} else {
			coffer_buf_put_u8(b, c);
		}
	}
	coffer_buf_put_u8(b, '"');
}

void coffer_jw_key(struct coffer_jw *w, const char *k)
{
	sep(w);
	put_escaped(w->b, k, strlen(k));
	coffer_buf_put_u8(w->b, ':');
	/* the value that follows takes no comma */
	w->first[w->depth] = true;
}

void coffer_jw_strn(struct coffer_jw *w, const char *s, size_t n)
{
	sep(w);
	put_escaped(w->b, s, n);
}

void coffer_jw_str(struct coffer_jw *w, const char *s)
{
	coffer_jw_strn(w, s, strlen(s));
}

void coffer_jw_b64(struct coffer_jw *w, const void *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *in = p;
	uint8_t *o;
	size_t i;

	sep(w);
	coffer_buf_put_u8(w->b, '"');
	o = coffer_buf_extend(w->b, (n + 2) / 3 * 4);
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = (uint8_t)tbl[v >> 18];
		*o++ = (uint8_t)tbl[(v >> 12) & 63];
		*o++ = (uint8_t)tbl[(v >> 6) & 63];
		*o++ = (uint8_t)tbl[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*o++ = (uint8_t)tbl[v >> 18];
		*o++ = (uint8_t)tbl[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*o++ = (uint8_t)tbl[v >> 18];
		*o++ = (uint8_t)tbl[(v >> 12) & 63];
		*o++ = (uint8_t)tbl[(v >> 6) & 63];
		*o++ = '=';
	}
	coffer_buf_put_u8(w->b, '"');
}

void coffer_jw_int(struct coffer_jw *w, int64_t v)
{
	sep(w);
	coffer_buf_printf(w->b, "%" PRId64, v);
}

void coffer_jw_bool(struct coffer_jw *w, bool v)
{
	sep(w);
	coffer_buf_printf(w->b, "%s", v ? "true" : "false");
}

void coffer_jw_time(struct coffer_jw *w, int64_t us)
{
	int64_t ms = us / 1000;

	if (us < 0 && us % 1000)
		ms--;
	sep(w);
	if (ms < 0)
		coffer_buf_printf(w->b, "%" PRId64, ms / 1000);
	else
		coffer_buf_printf(w->b, "%" PRId64 ".%03d", ms / 1000, (int)(ms % 1000));
}

void coffer_jw_kstr(struct coffer_jw *w, const char *k, const char *v)
{
	coffer_jw_key(w, k);
	coffer_jw_str(w, v);
}

void coffer_jw_kint(struct coffer_jw *w, const char *k, int64_t v)
{
	coffer_jw_key(w, k);
	coffer_jw_int(w, v);
}

void coffer_jw_kbool(struct coffer_jw *w, const char *k, bool v)
{
	coffer_jw_key(w, k);
	coffer_jw_bool(w, v);
}

void coffer_jw_ktime(struct coffer_jw *w, const char *k, int64_t us)
{
	coffer_jw_key(w, k);
	coffer_jw_time(w, us);
}

void coffer_jw_kb64(struct coffer_jw *w, const char *k, const void *p, size_t n)
{
	coffer_jw_key(w, k);
	coffer_jw_b64(w, p, n);
}
