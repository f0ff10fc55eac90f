/*
 * bytes.c - slices, growable buffers, bounds-checked readers, hex and base64.
 *
 * Every codec in coffer goes through these, so they are the one place where
 * bounds are checked. Integers are big-endian; varints are unsigned LEB128
 * (seven bits per byte, least significant group first, high bit = "more").
 *
 * Invariants:
 *  1. A reader never touches bytes outside [ptr, ptr+len), and a failed read
 *     leaves r->off unchanged (callers may report the offset of the failure).
 *  2. A varint is accepted only in its canonical (shortest) form and only if
 *     it fits 64 bits: at most 10 bytes, no trailing zero group, and the 10th
 *     byte carries at most the single top bit.
 *  3. A secure buffer's bytes only ever live in memory from the secure hooks;
 *     growth allocates fresh secure memory, copies, then wipes and frees the
 *     old block, so no stale copy is left behind by realloc.
 *  4. Decoders (hex, base64) append to `out` only on success: on failure the
 *     partial output is wiped and out->len restored.
 *  5. Misuse that is a bug in coffer (size overflow, patch past the end)
 *     aborts; bad input is always a returned error.
 */
#include "util/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"

static void bytes_abort(const char *why) __attribute__((noreturn));

static void bytes_abort(const char *why)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "coffer: bytes: %s\n", why);

	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing more can be done */
	}
	abort();
}

/* ---- slices ---------------------------------------------------------- */

struct coffer_slice coffer_slice_str(const char *s)
{
	return coffer_slice_of(s, s ? strlen(s) : 0);
}

/* Not constant time: for tags and MACs use the crypto module's comparison. */
bool coffer_slice_eq(struct coffer_slice a, struct coffer_slice b)
{
	if (a.len != b.len)
		return false;
	return a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* ---- secure hooks ---------------------------------------------------- */

static void *heap_secure_alloc(size_t n)
{
	return coffer_xcalloc(1, n);
}

static void heap_secure_free(void *p, size_t n)
{
	coffer_wipe(p, n);
	free(p);
}

/* Set once at startup, before any secure buffer holds memory: a block must be
 * released by the same hooks that allocated it. */
static struct coffer_secure_alloc secure_hooks = {heap_secure_alloc, heap_secure_free};

void coffer_buf_set_secure_alloc(const struct coffer_secure_alloc *a)
{
	if (a && a->alloc && a->free) {
		secure_hooks = *a;
	} else {
		secure_hooks.alloc = heap_secure_alloc;
		secure_hooks.free = heap_secure_free;
	}
}

/* ---- buffers --------------------------------------------------------- */

void coffer_buf_init_secure(struct coffer_buf *b)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->secure = true;
}

void coffer_buf_reserve(struct coffer_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		bytes_abort("buffer size overflow");
	need = b->len + extra;
	if (b->ptr && need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	if (!b->secure) {
		b->ptr = coffer_xrealloc(b->ptr, cap);
		b->cap = cap;
		return;
	}
	p = secure_hooks.alloc(cap);
	if (!p)
		bytes_abort("secure allocation failed");
	if (b->ptr) {
		if (b->len)
			memcpy(p, b->ptr, b->len);
		secure_hooks.free(b->ptr, b->cap);
	}
	b->ptr = p;
	b->cap = cap;
}

void coffer_buf_free(struct coffer_buf *b)
{
	if (b->ptr) {
		if (b->secure)
			secure_hooks.free(b->ptr, b->cap);
		else
			free(b->ptr);
	}
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	/* b->secure is kept: a secure buffer stays secure if reused. */
}

void coffer_buf_reset(struct coffer_buf *b)
{
	if (b->secure && b->ptr)
		coffer_wipe(b->ptr, b->len);
	b->len = 0;
}

uint8_t *coffer_buf_extend(struct coffer_buf *b, size_t n)
{
	uint8_t *p;

	coffer_buf_reserve(b, n);
	p = b->ptr + b->len;
	b->len += n;
	return p;
}

void coffer_buf_put(struct coffer_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(coffer_buf_extend(b, n), p, n);
}

void coffer_buf_put_u8(struct coffer_buf *b, uint8_t v)
{
	*coffer_buf_extend(b, 1) = v;
}

void coffer_buf_put_u16(struct coffer_buf *b, uint16_t v)
{
	uint8_t *p = coffer_buf_extend(b, 2);

	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void coffer_buf_put_u32(struct coffer_buf *b, uint32_t v)
{
	coffer_store_u32(coffer_buf_extend(b, 4), v);
}

void coffer_buf_put_u64(struct coffer_buf *b, uint64_t v)
{
	coffer_store_u64(coffer_buf_extend(b, 8), v);
}

void coffer_buf_put_varint(struct coffer_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	coffer_buf_put(b, tmp, n);
}

void coffer_buf_put_lenbytes(struct coffer_buf *b, const void *p, size_t n)
{
	coffer_buf_put_varint(b, n);
	coffer_buf_put(b, p, n);
}

void coffer_buf_put_str(struct coffer_buf *b, const char *s)
{
	coffer_buf_put_lenbytes(b, s, strlen(s));
}

void coffer_buf_printf(struct coffer_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		bytes_abort("printf format error");
	}
	/* +1 for the NUL vsnprintf writes; it is not counted in len. */
	coffer_buf_reserve(b, (size_t)n + 1);
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
}

void coffer_buf_patch_u32(struct coffer_buf *b, size_t off, uint32_t v)
{
	if (off > b->len || b->len - off < 4)
		bytes_abort("patch_u32 past the end of the buffer");
	coffer_store_u32(b->ptr + off, v);
}

const char *coffer_buf_cstr(struct coffer_buf *b)
{
	coffer_buf_reserve(b, 1);
	b->ptr[b->len] = '\0';
	return (const char *)b->ptr;
}

/* ---- readers --------------------------------------------------------- */

static coffer_rc reader_need(const struct coffer_reader *r, size_t n, const char *item,
			     const char *where)
{
	if (coffer_reader_left(r) >= n)
		return COFFER_OK;
	return coffer_error_set(COFFER_E_CORRUPT, where,
				"%s: truncated reading %s at offset %zu (%zu bytes needed, %zu left)",
				r->what, item, r->off, n, coffer_reader_left(r));
}

COFFER_RESULT coffer_reader_u8(struct coffer_reader *r, uint8_t *v)
{
	TRY(reader_need(r, 1, "u8", COFFER_WHERE));
	*v = r->ptr[r->off];
	r->off += 1;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_u16(struct coffer_reader *r, uint16_t *v)
{
	TRY(reader_need(r, 2, "u16", COFFER_WHERE));
	*v = (uint16_t)((r->ptr[r->off] << 8) | r->ptr[r->off + 1]);
	r->off += 2;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_u32(struct coffer_reader *r, uint32_t *v)
{
	TRY(reader_need(r, 4, "u32", COFFER_WHERE));
	*v = coffer_load_u32(r->ptr + r->off);
	r->off += 4;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_u64(struct coffer_reader *r, uint64_t *v)
{
	TRY(reader_need(r, 8, "u64", COFFER_WHERE));
	*v = coffer_load_u64(r->ptr + r->off);
	r->off += 8;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_varint(struct coffer_reader *r, uint64_t *v)
{
	uint64_t val = 0;
	size_t i;

	for (i = 0; i < 10; i++) {
		uint8_t byte;

		ENSURE(i < coffer_reader_left(r), COFFER_E_CORRUPT,
		       "%s: truncated reading varint at offset %zu (%zu bytes left)",
		       r->what, r->off, coffer_reader_left(r));
		byte = r->ptr[r->off + i];
		/* Byte 10 holds bit 63 only; anything more does not fit 64 bits. */
		ENSURE(i < 9 || byte <= 1, COFFER_E_CORRUPT,
		       "%s: varint at offset %zu overflows 64 bits", r->what, r->off);
		val |= (uint64_t)(byte & 0x7f) << (7 * i);
		if (byte & 0x80)
			continue;
		/* A final zero group after the first byte is a longer spelling of a
		 * shorter varint; accepting it would give one value two encodings. */
		ENSURE(i == 0 || byte != 0, COFFER_E_CORRUPT,
		       "%s: overlong varint at offset %zu (%zu bytes)", r->what, r->off, i + 1);
		r->off += i + 1;
		*v = val;
		return COFFER_OK;
	}
	/* Unreachable: the 10th byte is at most 1, so it ends the loop above. */
	BAIL(COFFER_E_CORRUPT, "%s: varint at offset %zu longer than 10 bytes", r->what, r->off);
}

COFFER_RESULT coffer_reader_bytes(struct coffer_reader *r, size_t n, struct coffer_slice *out)
{
	TRY(reader_need(r, n, "bytes", COFFER_WHERE));
	*out = coffer_slice_of(r->ptr + r->off, n);
	r->off += n;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_copy(struct coffer_reader *r, void *dst, size_t n)
{
	TRY(reader_need(r, n, "bytes", COFFER_WHERE));
	if (n)
		memcpy(dst, r->ptr + r->off, n);
	r->off += n;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_lenbytes(struct coffer_reader *r, size_t max, struct coffer_slice *out)
{
	size_t start = r->off;
	uint64_t n = 0; /* set by the varint read; GCC -O3 cannot see that */
	coffer_rc rc;

	TRY(coffer_reader_varint(r, &n));
	ENSURE_FAIL(n <= max, COFFER_E_CORRUPT, "%s: length %llu at offset %zu exceeds the limit %zu",
		    r->what, (unsigned long long)n, start, max);
	TRY_FAIL(coffer_reader_bytes(r, (size_t)n, out));
	return COFFER_OK;
fail:
	r->off = start;
	return rc;
}

COFFER_RESULT coffer_reader_str(struct coffer_reader *r, size_t max, char **out)
{
	size_t start = r->off;
	struct coffer_slice s = {0};
	coffer_rc rc;

	TRY(coffer_reader_lenbytes(r, max, &s));
	ENSURE_FAIL(s.len == 0 || !memchr(s.ptr, '\0', s.len), COFFER_E_CORRUPT,
		    "%s: string at offset %zu contains a NUL byte", r->what, start);
	*out = coffer_xmalloc(s.len + 1);
	if (s.len)
		memcpy(*out, s.ptr, s.len);
	(*out)[s.len] = '\0';
	return COFFER_OK;
fail:
	r->off = start;
	return rc;
}

COFFER_RESULT coffer_reader_skip(struct coffer_reader *r, size_t n)
{
	TRY(reader_need(r, n, "skipped bytes", COFFER_WHERE));
	r->off += n;
	return COFFER_OK;
}

COFFER_RESULT coffer_reader_end(const struct coffer_reader *r)
{
	ENSURE(coffer_reader_done(r), COFFER_E_CORRUPT, "%s: %zu trailing bytes at offset %zu",
	       r->what, coffer_reader_left(r), r->off);
	return COFFER_OK;
}

/* ---- hex ------------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

char *coffer_hex_encode(const void *p, size_t n)
{
	const uint8_t *in = p;
	char *s;
	size_t i;

	if (n > (SIZE_MAX - 1) / 2)
		bytes_abort("hex encode size overflow");
	s = coffer_xmalloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		s[2 * i] = hex_digits[in[i] >> 4];
		s[2 * i + 1] = hex_digits[in[i] & 0xf];
	}
	s[2 * n] = '\0';
	return s;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Drops what a failed decoder appended (it may be secret). */
static void buf_truncate_wipe(struct coffer_buf *out, size_t len)
{
	if (out->ptr && out->len > len)
		coffer_wipe(out->ptr + len, out->len - len);
	out->len = len;
}

COFFER_RESULT coffer_hex_decode(const char *s, struct coffer_buf *out)
{
	size_t start = out->len;
	size_t n = strlen(s);
	coffer_rc rc;
	uint8_t *dst;
	size_t i;

	ENSURE(n % 2 == 0, COFFER_E_SYNTAX, "hex: odd length %zu", n);
	dst = coffer_buf_extend(out, n / 2);
	for (i = 0; i < n; i += 2) {
		int hi = hex_value(s[i]);
		int lo = hex_value(s[i + 1]);

		ENSURE_FAIL(hi >= 0 && lo >= 0, COFFER_E_SYNTAX, "hex: invalid character at offset %zu",
			    hi < 0 ? i : i + 1);
		dst[i / 2] = (uint8_t)((hi << 4) | lo);
	}
	return COFFER_OK;
fail:
	buf_truncate_wipe(out, start);
	return rc;
}

/* ---- base64 (RFC 4648 section 4, standard alphabet, padded) ------------ */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *coffer_base64_encode(const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t groups = n / 3 + (n % 3 != 0);
	size_t i, o = 0;
	char *s;

	if (groups > (SIZE_MAX - 1) / 4)
		bytes_abort("base64 encode size overflow");
	s = coffer_xmalloc(groups * 4 + 1);
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];

		s[o++] = b64_alphabet[(v >> 18) & 63];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = b64_alphabet[(v >> 6) & 63];
		s[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		s[o++] = b64_alphabet[(v >> 18) & 63];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = '=';
		s[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);

		s[o++] = b64_alphabet[(v >> 18) & 63];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = b64_alphabet[(v >> 6) & 63];
		s[o++] = '=';
	}
	s[o] = '\0';
	return s;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

COFFER_RESULT coffer_base64_decode(const char *s, size_t n, struct coffer_buf *out)
{
	size_t start = out->len;
	coffer_rc rc;
	size_t i;

	/* RFC 4648 3.2: padded output is a multiple of 4 characters. */
	ENSURE(n % 4 == 0, COFFER_E_SYNTAX, "base64: length %zu is not a multiple of 4", n);
	coffer_buf_reserve(out, n / 4 * 3);
	for (i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int v[4];
		int pad = 0;
		size_t k;

		/* Padding may only end the final quantum: "xx==" or "xxx=". */
		if (last && s[i + 3] == '=')
			pad = s[i + 2] == '=' ? 2 : 1;
		for (k = 0; k < 4 - (size_t)pad; k++) {
			v[k] = b64_value(s[i + k]);
			ENSURE_FAIL(v[k] >= 0, COFFER_E_SYNTAX,
				    s[i + k] == '=' ? "base64: misplaced padding at offset %zu"
						    : "base64: invalid character at offset %zu",
				    i + k);
		}
		if (pad == 0) {
			uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) |
				     ((uint32_t)v[2] << 6) | (uint32_t)v[3];
			uint8_t *d = coffer_buf_extend(out, 3);

			d[0] = (uint8_t)(w >> 16);
			d[1] = (uint8_t)(w >> 8);
			d[2] = (uint8_t)w;
		} else if (pad == 1) {
			/* RFC 4648 3.5: the unused low bits must be zero. */
			ENSURE_FAIL((v[2] & 0x3) == 0, COFFER_E_SYNTAX,
				    "base64: nonzero trailing bits at offset %zu", i + 2);
			coffer_buf_put_u8(out, (uint8_t)((v[0] << 2) | (v[1] >> 4)));
			coffer_buf_put_u8(out, (uint8_t)(((v[1] & 0xf) << 4) | (v[2] >> 2)));
		} else {
			ENSURE_FAIL((v[1] & 0xf) == 0, COFFER_E_SYNTAX,
				    "base64: nonzero trailing bits at offset %zu", i + 1);
			coffer_buf_put_u8(out, (uint8_t)((v[0] << 2) | (v[1] >> 4)));
		}
	}
	return COFFER_OK;
fail:
	buf_truncate_wipe(out, start);
	return rc;
}
