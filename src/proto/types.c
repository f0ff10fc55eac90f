/*
 * types.c - the notations of the native protocol (spec section 3): readers
 * over a bounds-checked struct coffer_reader and writers onto a coffer_buf.
 *
 * Every notation is big-endian. Layouts (n is the leading count or length):
 *
 *   NOTATION          OFFSET  SIZE   MEANING
 *   [byte]            0       1      unsigned byte
 *   [short]           0       2      unsigned 16-bit integer
 *   [int]             0       4      signed 32-bit integer
 *   [long]            0       8      signed 64-bit integer
 *   [string]          0       2      n: [short] length
 *                     2       n      UTF-8 bytes
 *   [long string]     0       4      n: [int] length (n >= 0)
 *                     4       n      UTF-8 bytes
 *   [uuid]            0       16     the UUID's bytes
 *   [string list]     0       2      n: [short] count, then n [string]
 *   [bytes]           0       4      n: [int] length; n < 0 means null
 *                     4       n      bytes (only when n >= 0)
 *   [value]           0       4      n: [int]; -1 null, -2 not set, < -2 invalid
 *                     4       n      bytes (only when n >= 0)
 *   [short bytes]     0       2      n: [short] length
 *                     2       n      bytes
 *   [option]          0       2      id: [short]; then a value that depends on id
 *   [option list]     0       2      n: [short] count, then n [option]
 *   [inet]            0       1      n: [byte] address size (4 or 16)
 *                     1       n      address bytes
 *                     1+n     4      port: [int]
 *   [inetaddr]        0       1      n: [byte] address size (4 or 16)
 *                     1       n      address bytes
 *   [consistency]     0       2      [short] 0x0000 ANY .. 0x000A LOCAL_ONE
 *   [string map]      0       2      n: [short], then n pairs <[string] [string]>
 *   [string multimap] 0       2      n: [short], then n pairs <[string] [string list]>
 *   [bytes map]       0       2      n: [short], then n pairs <[string] [bytes]>
 *
 * Invariants:
 *  1. No read goes past the reader's end; every failure is COFFER_E_PROTOCOL
 *     with "<message>: <item> at offset <n>: <problem>" and no input bytes.
 *  2. A count read from the wire is checked against the bytes left (each
 *     element needs at least its minimal encoding) before anything is
 *     allocated, so allocation is bounded by the frame size.
 *  3. Writers append all or nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto_internal.h"
#include "util/alloc.h"

#define RFAIL(r, item, at, fmt, ...)                                             \
	proto_fail((r), COFFER_WHERE, "%s at offset %zu: " fmt, (item), (size_t)(at),  \
		   ##__VA_ARGS__)

coffer_rc proto_fail(const struct coffer_reader *r, const char *where, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return coffer_error_set(COFFER_E_PROTOCOL, where, "%s: %s", r->what, msg);
}

static coffer_rc need(struct coffer_reader *r, const char *item, const char *notation, size_t n)
{
	if (coffer_reader_left(r) >= n)
		return COFFER_OK;
	return RFAIL(r, item, r->off, "%s needs %zu bytes but only %zu remain in the body",
		     notation, n, coffer_reader_left(r));
}

void proto_err_fill(struct coffer_proto_err *err, uint32_t code, uint8_t version, int16_t stream,
		    bool close, size_t discard)
{
	if (!err)
		return;
	err->code = code;
	err->version = version;
	err->stream = stream;
	err->close = close;
	err->discard = discard;
	snprintf(err->message, sizeof err->message, "%s", coffer_error_msg());
}

COFFER_RESULT proto_check_count(struct coffer_reader *r, const char *item, size_t count,
				size_t min_each)
{
	size_t left = coffer_reader_left(r);
	if (min_each == 0 || count <= left / min_each)
		return COFFER_OK;
	return RFAIL(r, item, r->off,
		     "count %zu needs at least %zu bytes but only %zu remain in the body", count,
		     count * min_each, left);
}

bool proto_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

/* ---- readers -------------------------------------------------------------- */

COFFER_RESULT coffer_proto_read_byte(struct coffer_reader *r, const char *item, uint8_t *v)
{
	TRY(need(r, item, "[byte]", 1));
	TRY(coffer_reader_u8(r, v));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_short(struct coffer_reader *r, const char *item, uint16_t *v)
{
	TRY(need(r, item, "[short]", 2));
	TRY(coffer_reader_u16(r, v));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_int(struct coffer_reader *r, const char *item, int32_t *v)
{
	uint32_t u;
	TRY(need(r, item, "[int]", 4));
	TRY(coffer_reader_u32(r, &u));
	*v = (int32_t)u;
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_long(struct coffer_reader *r, const char *item, int64_t *v)
{
	uint64_t u;
	TRY(need(r, item, "[long]", 8));
	TRY(coffer_reader_u64(r, &u));
	*v = (int64_t)u;
	return COFFER_OK;
}

static coffer_rc read_string_slice(struct coffer_reader *r, const char *item,
				   struct coffer_slice *out)
{
	size_t at = r->off;
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	if (coffer_reader_left(r) < n)
		return RFAIL(r, item, at,
			     "[string] length %u runs past the end of the body (%zu bytes remain)",
			     n, coffer_reader_left(r));
	TRY(coffer_reader_bytes(r, n, out));
	if (!proto_utf8_valid(out->ptr, out->len))
		return RFAIL(r, item, at, "[string] of %u bytes is not valid UTF-8", n);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_string(struct coffer_reader *r, struct coffer_arena *a,
				       const char *item, const char **out)
{
	size_t at = r->off;
	struct coffer_slice s;
	TRY(read_string_slice(r, item, &s));
	if (s.len == 0) {
		*out = ""; /* no allocation: an empty string costs 2 input bytes */
		return COFFER_OK;
	}
	if (memchr(s.ptr, '\0', s.len))
		return RFAIL(r, item, at, "[string] contains a NUL byte");
	*out = coffer_arena_strndup(a, (const char *)s.ptr, s.len);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_long_string(struct coffer_reader *r, const char *item,
					    struct coffer_slice *out)
{
	size_t at = r->off;
	int32_t n;
	TRY(coffer_proto_read_int(r, item, &n));
	if (n < 0)
		return RFAIL(r, item, at, "[long string] has negative length %d", (int)n);
	if (coffer_reader_left(r) < (size_t)n)
		return RFAIL(r, item, at,
			     "[long string] length %d runs past the end of the body (%zu bytes remain)",
			     (int)n, coffer_reader_left(r));
	TRY(coffer_reader_bytes(r, (size_t)n, out));
	if (!proto_utf8_valid(out->ptr, out->len))
		return RFAIL(r, item, at, "[long string] of %d bytes is not valid UTF-8", (int)n);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_uuid(struct coffer_reader *r, const char *item, uint8_t out[16])
{
	TRY(need(r, item, "[uuid]", 16));
	TRY(coffer_reader_copy(r, out, 16));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_string_list(struct coffer_reader *r, struct coffer_arena *a,
					    const char *item, struct coffer_proto_string_list *out)
{
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	TRY(proto_check_count(r, item, n, 2));
	const char **items = coffer_arena_alloc(a, (n ? n : 1) * sizeof *items);
	for (uint16_t i = 0; i < n; i++)
		TRY(coffer_proto_read_string(r, a, item, &items[i]));
	out->n = n;
	out->items = items;
	return COFFER_OK;
}

static coffer_rc read_sized(struct coffer_reader *r, const char *item, const char *notation,
			    bool allow_unset, struct coffer_proto_value *out)
{
	size_t at = r->off;
	int32_t n;
	TRY(coffer_proto_read_int(r, item, &n));
	if (n >= 0) {
		if (coffer_reader_left(r) < (size_t)n)
			return RFAIL(r, item, at,
				     "%s length %d runs past the end of the body (%zu bytes remain)",
				     notation, (int)n, coffer_reader_left(r));
		out->kind = COFFER_PROTO_VALUE;
		TRY(coffer_reader_bytes(r, (size_t)n, &out->bytes));
		return COFFER_OK;
	}
	out->bytes = coffer_slice_of(NULL, 0);
	if (!allow_unset || n == -1) {
		/* Spec 3: [bytes] "If n < 0, no byte should follow and the value
		 * represented is `null`". */
		out->kind = COFFER_PROTO_VALUE_NULL;
		return COFFER_OK;
	}
	if (n == -2) {
		out->kind = COFFER_PROTO_VALUE_UNSET;
		return COFFER_OK;
	}
	/* Spec 3: [value] "n < -2 is an invalid value and results in an error." */
	return RFAIL(r, item, at, "[value] has invalid length %d (only -1 null and -2 not set "
		     "may be negative)", (int)n);
}

COFFER_RESULT coffer_proto_read_bytes(struct coffer_reader *r, const char *item,
				      struct coffer_proto_value *out)
{
	return read_sized(r, item, "[bytes]", false, out);
}

COFFER_RESULT coffer_proto_read_value(struct coffer_reader *r, const char *item,
				      struct coffer_proto_value *out)
{
	return read_sized(r, item, "[value]", true, out);
}

COFFER_RESULT coffer_proto_read_short_bytes(struct coffer_reader *r, const char *item,
					    struct coffer_slice *out)
{
	size_t at = r->off;
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	if (coffer_reader_left(r) < n)
		return RFAIL(r, item, at,
			     "[short bytes] length %u runs past the end of the body (%zu bytes remain)",
			     n, coffer_reader_left(r));
	TRY(coffer_reader_bytes(r, n, out));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_inetaddr(struct coffer_reader *r, const char *item,
					 struct coffer_proto_inet *out)
{
	size_t at = r->off;
	uint8_t n;
	TRY(coffer_proto_read_byte(r, item, &n));
	if (n != 4 && n != 16)
		return RFAIL(r, item, at, "address size %u is neither 4 (IPv4) nor 16 (IPv6)", n);
	TRY(need(r, item, "address", n));
	memset(out, 0, sizeof *out);
	out->len = n;
	TRY(coffer_reader_copy(r, out->addr, n));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_inet(struct coffer_reader *r, const char *item,
				     struct coffer_proto_inet *out)
{
	TRY(coffer_proto_read_inetaddr(r, item, out));
	TRY(coffer_proto_read_int(r, item, &out->port));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_consistency(struct coffer_reader *r, const char *item,
					    uint16_t *out)
{
	size_t at = r->off;
	uint16_t cl;
	TRY(coffer_proto_read_short(r, item, &cl));
	if (cl > COFFER_PROTO_CL_LOCAL_ONE)
		return RFAIL(r, item, at, "unknown code 0x%04x for a consistency level", cl);
	*out = cl;
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_string_map(struct coffer_reader *r, struct coffer_arena *a,
					   const char *item, struct coffer_proto_string_map *out)
{
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	TRY(proto_check_count(r, item, n, 4));
	const char **keys = coffer_arena_alloc(a, (n ? n : 1) * sizeof *keys);
	const char **values = coffer_arena_alloc(a, (n ? n : 1) * sizeof *values);
	for (uint16_t i = 0; i < n; i++) {
		TRY(coffer_proto_read_string(r, a, item, &keys[i]));
		TRY(coffer_proto_read_string(r, a, item, &values[i]));
	}
	out->n = n;
	out->keys = keys;
	out->values = values;
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_string_multimap(struct coffer_reader *r, struct coffer_arena *a,
						const char *item,
						struct coffer_proto_string_multimap *out)
{
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	TRY(proto_check_count(r, item, n, 4));
	const char **keys = coffer_arena_alloc(a, (n ? n : 1) * sizeof *keys);
	struct coffer_proto_string_list *values =
		coffer_arena_alloc(a, (n ? n : 1) * sizeof *values);
	for (uint16_t i = 0; i < n; i++) {
		TRY(coffer_proto_read_string(r, a, item, &keys[i]));
		TRY(coffer_proto_read_string_list(r, a, item, &values[i]));
	}
	out->n = n;
	out->keys = keys;
	out->values = values;
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_bytes_map(struct coffer_reader *r, struct coffer_arena *a,
					  const char *item, struct coffer_proto_bytes_map *out)
{
	uint16_t n;
	TRY(coffer_proto_read_short(r, item, &n));
	TRY(proto_check_count(r, item, n, 6));
	const char **keys = coffer_arena_alloc(a, (n ? n : 1) * sizeof *keys);
	struct coffer_proto_value *values = coffer_arena_alloc(a, (n ? n : 1) * sizeof *values);
	for (uint16_t i = 0; i < n; i++) {
		TRY(coffer_proto_read_string(r, a, item, &keys[i]));
		TRY(coffer_proto_read_bytes(r, item, &values[i]));
	}
	out->n = n;
	out->keys = keys;
	out->values = values;
	return COFFER_OK;
}

/* ---- writers -------------------------------------------------------------- */

void coffer_proto_put_byte(struct coffer_buf *b, uint8_t v)
{
	coffer_buf_put_u8(b, v);
}

void coffer_proto_put_short(struct coffer_buf *b, uint16_t v)
{
	coffer_buf_put_u16(b, v);
}

void coffer_proto_put_int(struct coffer_buf *b, int32_t v)
{
	coffer_buf_put_u32(b, (uint32_t)v);
}

void coffer_proto_put_long(struct coffer_buf *b, int64_t v)
{
	coffer_buf_put_u64(b, (uint64_t)v);
}

COFFER_RESULT coffer_proto_put_string_n(struct coffer_buf *b, const void *p, size_t n)
{
	ENSURE(n <= UINT16_MAX, COFFER_E_LIMIT, "a [string] of %zu bytes exceeds 65535", n);
	coffer_buf_put_u16(b, (uint16_t)n);
	coffer_buf_put(b, p, n);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_put_string(struct coffer_buf *b, const char *s)
{
	if (!s)
		s = "";
	return coffer_proto_put_string_n(b, s, strlen(s));
}

COFFER_RESULT coffer_proto_put_long_string(struct coffer_buf *b, const void *p, size_t n)
{
	ENSURE(n <= INT32_MAX, COFFER_E_LIMIT, "a [long string] of %zu bytes exceeds 2^31-1", n);
	coffer_buf_put_u32(b, (uint32_t)n);
	coffer_buf_put(b, p, n);
	return COFFER_OK;
}

void coffer_proto_put_uuid(struct coffer_buf *b, const uint8_t uuid[16])
{
	coffer_buf_put(b, uuid, 16);
}

COFFER_RESULT coffer_proto_put_string_list(struct coffer_buf *b,
					   const struct coffer_proto_string_list *l)
{
	size_t start = b->len;
	coffer_buf_put_u16(b, l->n);
	for (uint16_t i = 0; i < l->n; i++) {
		coffer_rc rc = coffer_proto_put_string(b, l->items[i]);
		if (rc != COFFER_OK) {
			b->len = start;
			return rc;
		}
	}
	return COFFER_OK;
}

static coffer_rc put_sized(struct coffer_buf *b, const struct coffer_proto_value *v,
			   bool allow_unset)
{
	switch (v->kind) {
	case COFFER_PROTO_VALUE:
		ENSURE(v->bytes.len <= INT32_MAX, COFFER_E_LIMIT,
		       "a value of %zu bytes exceeds 2^31-1", v->bytes.len);
		coffer_buf_put_u32(b, (uint32_t)v->bytes.len);
		coffer_buf_put(b, v->bytes.ptr, v->bytes.len);
		return COFFER_OK;
	case COFFER_PROTO_VALUE_NULL:
		coffer_buf_put_u32(b, (uint32_t)-1);
		return COFFER_OK;
	case COFFER_PROTO_VALUE_UNSET:
		ENSURE(allow_unset, COFFER_E_INVALID, "a [bytes] cannot be `not set`");
		coffer_buf_put_u32(b, (uint32_t)-2);
		return COFFER_OK;
	}
	BAIL(COFFER_E_INVALID, "unknown value kind %d", (int)v->kind);
}

COFFER_RESULT coffer_proto_put_bytes(struct coffer_buf *b, const struct coffer_proto_value *v)
{
	return put_sized(b, v, false);
}

COFFER_RESULT coffer_proto_put_value(struct coffer_buf *b, const struct coffer_proto_value *v)
{
	return put_sized(b, v, true);
}

COFFER_RESULT coffer_proto_put_short_bytes(struct coffer_buf *b, const void *p, size_t n)
{
	ENSURE(n <= UINT16_MAX, COFFER_E_LIMIT, "[short bytes] of %zu bytes exceed 65535", n);
	coffer_buf_put_u16(b, (uint16_t)n);
	coffer_buf_put(b, p, n);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_put_inetaddr(struct coffer_buf *b, const struct coffer_proto_inet *a)
{
	ENSURE(a->len == 4 || a->len == 16, COFFER_E_INVALID,
	       "an address must have 4 or 16 bytes, not %u", a->len);
	coffer_buf_put_u8(b, a->len);
	coffer_buf_put(b, a->addr, a->len);
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_put_inet(struct coffer_buf *b, const struct coffer_proto_inet *a)
{
	TRY(coffer_proto_put_inetaddr(b, a));
	coffer_buf_put_u32(b, (uint32_t)a->port);
	return COFFER_OK;
}

void coffer_proto_put_consistency(struct coffer_buf *b, uint16_t cl)
{
	coffer_buf_put_u16(b, cl);
}

COFFER_RESULT coffer_proto_put_string_map(struct coffer_buf *b,
					  const struct coffer_proto_string_map *m)
{
	coffer_rc rc;
	size_t start = b->len;
	coffer_buf_put_u16(b, m->n);
	for (uint16_t i = 0; i < m->n; i++) {
		TRY_FAIL(coffer_proto_put_string(b, m->keys[i]));
		TRY_FAIL(coffer_proto_put_string(b, m->values[i]));
	}
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

COFFER_RESULT coffer_proto_put_string_multimap(struct coffer_buf *b,
					       const struct coffer_proto_string_multimap *m)
{
	coffer_rc rc;
	size_t start = b->len;
	coffer_buf_put_u16(b, m->n);
	for (uint16_t i = 0; i < m->n; i++) {
		TRY_FAIL(coffer_proto_put_string(b, m->keys[i]));
		TRY_FAIL(coffer_proto_put_string_list(b, &m->values[i]));
	}
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

COFFER_RESULT coffer_proto_put_bytes_map(struct coffer_buf *b,
					 const struct coffer_proto_bytes_map *m)
{
	coffer_rc rc;
	size_t start = b->len;
	coffer_buf_put_u16(b, m->n);
	for (uint16_t i = 0; i < m->n; i++) {
		TRY_FAIL(coffer_proto_put_string(b, m->keys[i]));
		TRY_FAIL(coffer_proto_put_bytes(b, &m->values[i]));
	}
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

/* ---- names ---------------------------------------------------------------- */

const char *coffer_proto_consistency_name(unsigned cl)
{
	static const char *const names[] = {
		"ANY",	 "ONE",		 "TWO",		"THREE",	"QUORUM",   "ALL",
		"LOCAL_QUORUM", "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE",
	};
	return cl < COFFER_ARRAY_LEN(names) ? names[cl] : NULL;
}
