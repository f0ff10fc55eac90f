/*
 * codec.c - serialized CQL values (native protocol v4 forms): validation,
 * Cassandra's clustering order, CQL literal formatting, and the canonical
 * order of sets and maps.
 *
 * Wire forms (all integers big-endian):
 *   TYPE        SIZE        MEANING
 *   int         4           signed
 *   bigint      8           signed (counter, timestamp in ms: the same)
 *   smallint    2           signed
 *   tinyint     1           signed
 *   varint      any         two's complement, minimal or not
 *   decimal     4 + any     i32 scale, then the unscaled varint
 *   float       4           IEEE 754 binary32
 *   double      8           IEEE 754 binary64
 *   boolean     1           0 = false, anything else = true
 *   uuid        16          RFC 4122 bytes; timeuuid: version nibble 1
 *   date        4           u32 days, 2^31 = 1970-01-01
 *   time        8           i64 nanoseconds since midnight, 0..86399999999999
 *   inet        4 or 16     IPv4 or IPv6 address
 *   ascii       any         bytes < 0x80
 *   text        any         UTF-8 (strict: no overlongs, no surrogates)
 *   duration    3 vints     months, days, nanoseconds (zig-zag, Cassandra VInt)
 *   list, set   4 + ...     i32 n, then n x ([i32 len][len bytes]); no nulls
 *   map         4 + ...     i32 n, then n x (key [i32 len][bytes], value ...)
 *   tuple       ...         per field [i32 len][bytes], len -1 = null; fewer
 *                           fields than the type are allowed, more are not
 * Scalars also accept the empty (zero-byte) value, as Cassandra's serializers do.
 *
 * Invariants:
 *  1. Nothing here reads outside the slice it is given, valid or not:
 *     every length is checked against what remains before use.
 *  2. Error messages name the type and the problem, never the value's bytes.
 *  3. Recursion follows the type tree, whose depth is bounded by
 *     COFFER_DT_MAX_DEPTH.
 */
#include "schema/schema.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

/* ------------------------------------------------------------ helpers */

static int64_t load_i64(const uint8_t *p)
{
	return (int64_t)coffer_load_u64(p);
}

/* Reads an i32 length if 4 bytes remain. */
static bool rd_i32(struct coffer_reader *r, int32_t *v)
{
	if (coffer_reader_left(r) < 4)
		return false;
	*v = (int32_t)coffer_load_u32(r->ptr + r->off);
	r->off += 4;
	return true;
}

/* Reads [i32 len][bytes]; len -1 gives *is_null. False if short or len < -1. */
static bool rd_value(struct coffer_reader *r, struct coffer_slice *v, bool *is_null)
{
	int32_t len;
	size_t save = r->off;

	if (!rd_i32(r, &len))
		return false;
	*is_null = len < 0;
	if (len < -1 || (len >= 0 && (size_t)len > coffer_reader_left(r))) {
		r->off = save;
		return false;
	}
	if (len < 0) {
		*v = coffer_slice_of(NULL, 0);
		return true;
	}
	*v = coffer_slice_of(r->ptr + r->off, (size_t)len);
	r->off += (size_t)len;
	return true;
}

void coffer_uuid_format(const uint8_t u[16], char out[COFFER_UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 15];
	}
	out[o] = '\0';
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

bool coffer_uuid_parse(const char *s, size_t n, uint8_t out[16])
{
	size_t i, o = 0;

	if (n != COFFER_UUID_STR_LEN)
		return false;
	for (i = 0; i < n;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0 || (i + 1 == 8 || i + 1 == 13 || i + 1 == 18 || i + 1 == 23))
			return false;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return o == 16;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t coffer_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void coffer_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Cassandra's VIntCoding: the count of leading one bits of the first byte is
 * the count of extra bytes; the rest of the first byte and the extra bytes are
 * the value, big-endian. Signed values are zig-zag encoded. */
static bool rd_vint(struct coffer_reader *r, int64_t *out)
{
	uint8_t first;
	unsigned extra = 0, i;
	uint64_t v;

	if (coffer_reader_left(r) < 1)
		return false;
	first = r->ptr[r->off];
	while (extra < 8 && (first & (0x80 >> extra)))
		extra++;
	if (coffer_reader_left(r) < 1 + (size_t)extra)
		return false;
	v = extra >= 8 ? 0 : (first & (0xffu >> extra));
	for (i = 0; i < extra; i++)
		v = (v << 8) | r->ptr[r->off + 1 + i];
	r->off += 1 + extra;
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return true;
}

/* ------------------------------------------------------------ validation */

static coffer_rc bad(const struct coffer_datatype *t, const char *problem)
{
	struct coffer_buf b = {0};
	coffer_rc rc;

	coffer_datatype_format(t, &b);
	rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Invalid value for %s: %s",
			      coffer_buf_cstr(&b), problem);
	coffer_buf_free(&b);
	return rc;
}

static coffer_rc bad_size(const struct coffer_datatype *t, size_t want, size_t got)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "expected %zu bytes, got %zu", want, got);
	return bad(t, msg);
}

static bool utf8_valid(struct coffer_slice v, size_t *at)
{
	size_t i = 0;

	while (i < v.len) {
		uint8_t c = v.ptr[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			*at = i;
			return false;
		}
		if (v.len - i <= n) {
			*at = i;
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if ((v.ptr[i + k] & 0xc0) != 0x80) {
				*at = i;
				return false;
			}
			cp = (cp << 6) | (v.ptr[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*at = i;
			return false;
		}
		i += n + 1;
	}
	return true;
}

static coffer_rc validate_elements(const struct coffer_datatype *t, struct coffer_slice v)
{
	struct coffer_reader r;
	int32_t n, i;
	uint32_t per = t->kind == COFFER_DT_MAP ? 2 : 1, k;
	char msg[96];

	coffer_reader_init(&r, v, "collection");
	if (!rd_i32(&r, &n))
		return bad(t, "truncated element count");
	if (n < 0)
		return bad(t, "negative element count");
	/* each element needs at least its 4-byte length */
	if ((uint64_t)n * per * 4 > coffer_reader_left(&r) || (uint32_t)n > COFFER_VALUE_MAX_ELEMENTS)
		return bad(t, "element count larger than the value");
	for (i = 0; i < n; i++) {
		for (k = 0; k < per; k++) {
			struct coffer_slice e;
			bool is_null;
			coffer_rc rc;

			if (!rd_value(&r, &e, &is_null)) {
				snprintf(msg, sizeof(msg), "element %d truncated or bad length", (int)i);
				return bad(t, msg);
			}
			if (is_null)
				return bad(t, "null is not supported inside collections");
			rc = coffer_value_validate(t->params[k], e);
			if (rc != COFFER_OK)
				return coffer_error_wrap("element %d of %s", (int)i,
							 coffer_datatype_kind_name(t->kind));
		}
	}
	if (!coffer_reader_done(&r))
		return bad(t, "trailing bytes after the last element");
	return COFFER_OK;
}

static coffer_rc validate_tuple(const struct coffer_datatype *t, struct coffer_slice v)
{
	struct coffer_reader r;
	uint32_t i = 0;
	char msg[96];

	coffer_reader_init(&r, v, "tuple");
	while (!coffer_reader_done(&r)) {
		struct coffer_slice e;
		bool is_null;

		if (i >= t->nparams) {
			snprintf(msg, sizeof(msg), "more than %u fields", t->nparams);
			return bad(t, msg);
		}
		if (!rd_value(&r, &e, &is_null)) {
			snprintf(msg, sizeof(msg), "field %u truncated or bad length", i);
			return bad(t, msg);
		}
		if (!is_null && coffer_value_validate(t->params[i], e) != COFFER_OK)
			return coffer_error_wrap("field %u of tuple", i);
		i++;
	}
	return COFFER_OK;
}

static coffer_rc validate_duration(const struct coffer_datatype *t, struct coffer_slice v)
{
	struct coffer_reader r;
	int64_t months, days, nanos;

	coffer_reader_init(&r, v, "duration");
	if (!rd_vint(&r, &months) || !rd_vint(&r, &days) || !rd_vint(&r, &nanos))
		return bad(t, "truncated");
	if (!coffer_reader_done(&r))
		return bad(t, "trailing bytes");
	if (months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX)
		return bad(t, "months or days out of range");
	if (!((months >= 0 && days >= 0 && nanos >= 0) || (months <= 0 && days <= 0 && nanos <= 0)))
		return bad(t, "months, days and nanoseconds must all have the same sign");
	return COFFER_OK;
}

COFFER_RESULT coffer_value_validate(const struct coffer_datatype *t, struct coffer_slice v)
{
	size_t fixed = 0, at = 0;
	char msg[96];

	switch (t->kind) {
	case COFFER_DT_INT:
	case COFFER_DT_FLOAT:
	case COFFER_DT_DATE:
		fixed = 4;
		break;
	case COFFER_DT_BIGINT:
	case COFFER_DT_COUNTER:
	case COFFER_DT_DOUBLE:
	case COFFER_DT_TIMESTAMP:
		fixed = 8;
		break;
	case COFFER_DT_SMALLINT:
		fixed = 2;
		break;
	case COFFER_DT_TINYINT:
	case COFFER_DT_BOOLEAN:
		fixed = 1;
		break;
	case COFFER_DT_UUID:
		fixed = 16;
		break;
	case COFFER_DT_TIMEUUID:
		if (v.len != 0 && v.len != 16)
			return bad_size(t, 16, v.len);
		if (v.len == 16 && (v.ptr[6] >> 4) != 1)
			return bad(t, "not a version 1 (time-based) UUID");
		return COFFER_OK;
	case COFFER_DT_TIME:
		if (v.len != 0 && v.len != 8)
			return bad_size(t, 8, v.len);
		if (v.len == 8 && (load_i64(v.ptr) < 0 || load_i64(v.ptr) > COFFER_TIME_MAX))
			return bad(t, "nanoseconds since midnight out of range 0..86399999999999");
		return COFFER_OK;
	case COFFER_DT_INET:
		if (v.len != 0 && v.len != 4 && v.len != 16) {
			snprintf(msg, sizeof(msg), "expected 4 or 16 bytes, got %zu", v.len);
			return bad(t, msg);
		}
		return COFFER_OK;
	case COFFER_DT_DECIMAL:
		if (v.len != 0 && v.len < 4) {
			snprintf(msg, sizeof(msg), "expected at least 4 bytes, got %zu", v.len);
			return bad(t, msg);
		}
		return COFFER_OK;
	case COFFER_DT_VARINT:
	case COFFER_DT_BLOB:
		return COFFER_OK;
	case COFFER_DT_ASCII:
		for (at = 0; at < v.len; at++) {
			if (v.ptr[at] & 0x80) {
				snprintf(msg, sizeof(msg), "non-ASCII byte at offset %zu", at);
				return bad(t, msg);
			}
		}
		return COFFER_OK;
	case COFFER_DT_TEXT:
		if (!utf8_valid(v, &at)) {
			snprintf(msg, sizeof(msg), "invalid UTF-8 at offset %zu", at);
			return bad(t, msg);
		}
		return COFFER_OK;
	case COFFER_DT_DURATION:
		if (v.len == 0)
			return COFFER_OK;
		return validate_duration(t, v);
	case COFFER_DT_LIST:
	case COFFER_DT_SET:
	case COFFER_DT_MAP:
		return validate_elements(t, v);
	case COFFER_DT_TUPLE:
		return validate_tuple(t, v);
	case COFFER_DT_CUSTOM:
		break;
	}
	if (fixed == 0)
		return bad(t, "unsupported type");
	if (v.len != 0 && v.len != fixed)
		return bad_size(t, fixed, v.len);
	return COFFER_OK;
}

/* ------------------------------------------------------------ comparison */

static int cmp_bytes(struct coffer_slice a, struct coffer_slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;

	if (c)
		return c < 0 ? -1 : 1;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int64_t load_signed(struct coffer_slice v)
{
	int64_t x = (v.ptr[0] & 0x80) ? -1 : 0;
	size_t i;

	for (i = 0; i < v.len; i++)
		x = (int64_t)((uint64_t)x << 8 | v.ptr[i]);
	return x;
}

/* Two's complement integers of any length, numerically. */
static int cmp_varint(struct coffer_slice a, struct coffer_slice b)
{
	bool na = a.len && (a.ptr[0] & 0x80), nb = b.len && (b.ptr[0] & 0x80);
	uint8_t sa = na ? 0xff : 0x00, sb = nb ? 0xff : 0x00;
	size_t i;

	if (na != nb)
		return na ? -1 : 1;
	/* drop sign-extension bytes, then the longer magnitude decides */
	while (a.len > 1 && a.ptr[0] == sa && ((a.ptr[1] & 0x80) == (sa & 0x80))) {
		a.ptr++;
		a.len--;
	}
	while (b.len > 1 && b.ptr[0] == sb && ((b.ptr[1] & 0x80) == (sb & 0x80))) {
		b.ptr++;
		b.len--;
	}
	if (a.len != b.len) {
		int longer = a.len > b.len ? 1 : -1;

		return na ? -longer : longer;
	}
	for (i = 0; i < a.len; i++)
		if (a.ptr[i] != b.ptr[i])
			return a.ptr[i] < b.ptr[i] ? -1 : 1;
	return 0;
}

/* A decimal as sign, significant digits (no leading or trailing zeros) and
 * the exponent e such that value = 0.DIGITS x 10^e. */
struct dec_norm {
	int sign;
	struct coffer_buf digits;
	int64_t exp;
};

static void dec_normalise(struct coffer_slice v, struct dec_norm *d)
{
	int32_t scale = (int32_t)coffer_load_u32(v.ptr);
	struct coffer_buf s = {0};
	const char *p;
	size_t n;

	coffer_varint_to_decimal(coffer_slice_of(v.ptr + 4, v.len - 4), &s);
	p = coffer_buf_cstr(&s);
	d->sign = 1;
	if (*p == '-') {
		d->sign = -1;
		p++;
	}
	while (*p == '0')
		p++;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '0')
		n--;
	if (n == 0)
		d->sign = 0;
	memset(&d->digits, 0, sizeof(d->digits));
	coffer_buf_put(&d->digits, p, n);
	/* value = digits(total length L incl. stripped trailing zeros) x 10^-scale */
	d->exp = (int64_t)strlen(p) - (int64_t)scale;
	coffer_buf_free(&s);
}

static int cmp_decimal(struct coffer_slice a, struct coffer_slice b)
{
	struct dec_norm x, y;
	int c;

	if (a.len < 4 || b.len < 4)
		return cmp_bytes(a, b);
	dec_normalise(a, &x);
	dec_normalise(b, &y);
	if (x.sign != y.sign) {
		c = x.sign < y.sign ? -1 : 1;
	} else if (x.sign == 0) {
		c = 0;
	} else if (x.exp != y.exp) {
		c = (x.exp < y.exp ? -1 : 1) * x.sign;
	} else {
		c = cmp_bytes(coffer_buf_slice(&x.digits), coffer_buf_slice(&y.digits)) * x.sign;
	}
	coffer_buf_free(&x.digits);
	coffer_buf_free(&y.digits);
	return c;
}

/* Java's Float.compare / Double.compare: -0.0 < 0.0, every NaN equal and above
 * +Infinity. Map the bits to an unsigned key that orders that way. */
static uint64_t float_key(uint64_t bits, unsigned width)
{
	uint64_t sign = (uint64_t)1 << (width - 1);
	uint64_t expmask = width == 32 ? 0x7f800000ull : 0x7ff0000000000000ull;
	uint64_t fracmask = width == 32 ? 0x007fffffull : 0x000fffffffffffffull;

	if ((bits & expmask) == expmask && (bits & fracmask))
		bits = expmask | (fracmask + 1) / 2; /* canonical NaN */
	return (bits & sign) ? ~bits & (sign | (sign - 1)) : bits | sign;
}

/* TimeUUIDType.reorderTimestampBytes: time_hi, time_mid, time_low. */
static uint64_t uuid_time(const uint8_t *p)
{
	uint64_t msb = coffer_load_u64(p);

	return (msb << 48) | ((msb << 16) & 0xffff00000000ull) | (msb >> 32);
}

static int cmp_signed_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int8_t)a[i] < (int8_t)b[i] ? -1 : 1;
	return 0;
}

static int cmp_uuid(bool timeuuid, struct coffer_slice a, struct coffer_slice b)
{
	int va, vb, c;

	if (a.len != 16 || b.len != 16)
		return cmp_bytes(a, b);
	if (timeuuid) {
		/* TimeUUIDType: timestamp, then the low 8 bytes as signed bytes */
		c = cmp_i64((int64_t)uuid_time(a.ptr), (int64_t)uuid_time(b.ptr));
		return c ? c : cmp_signed_bytes(a.ptr + 8, b.ptr + 8, 8);
	}
	/* UUIDType: version, then the timestamp for v1 (else the high 8 bytes
	 * unsigned), then the low 8 bytes unsigned */
	va = a.ptr[6] >> 4;
	vb = b.ptr[6] >> 4;
	if (va != vb)
		return va < vb ? -1 : 1;
	if (va == 1) {
		c = cmp_i64((int64_t)uuid_time(a.ptr), (int64_t)uuid_time(b.ptr));
		if (c)
			return c;
	} else {
		c = memcmp(a.ptr, b.ptr, 8);
		if (c)
			return c < 0 ? -1 : 1;
	}
	c = memcmp(a.ptr + 8, b.ptr + 8, 8);
	return c < 0 ? -1 : c > 0;
}

/* Frozen list/set/map (CollectionType.compareListOrSet / MapType.compareMaps):
 * element by element (key then value for maps), then the count. */
static int cmp_collection(const struct coffer_datatype *t, struct coffer_slice a, struct coffer_slice b)
{
	struct coffer_reader ra, rb;
	int32_t na, nb, i;
	uint32_t per = t->kind == COFFER_DT_MAP ? 2 : 1, k;

	if (a.len == 0 || b.len == 0)
		return a.len ? 1 : b.len ? -1 : 0;
	coffer_reader_init(&ra, a, "collection");
	coffer_reader_init(&rb, b, "collection");
	if (!rd_i32(&ra, &na) || !rd_i32(&rb, &nb))
		return cmp_bytes(a, b);
	for (i = 0; i < na && i < nb; i++) {
		for (k = 0; k < per; k++) {
			struct coffer_slice ea, eb;
			bool za, zb;
			int c;

			if (!rd_value(&ra, &ea, &za) || !rd_value(&rb, &eb, &zb))
				return cmp_bytes(a, b);
			c = coffer_value_compare(t->params[k], ea, eb);
			if (c)
				return c;
		}
	}
	return na < nb ? -1 : na > nb;
}

/* TupleType.compareCustom: field by field, null first; the shorter first. */
static int cmp_tuple(const struct coffer_datatype *t, struct coffer_slice a, struct coffer_slice b)
{
	struct coffer_reader ra, rb;
	uint32_t i;

	coffer_reader_init(&ra, a, "tuple");
	coffer_reader_init(&rb, b, "tuple");
	for (i = 0; !coffer_reader_done(&ra) && !coffer_reader_done(&rb); i++) {
		struct coffer_slice ea, eb;
		bool za, zb;
		int c;

		if (i >= t->nparams || !rd_value(&ra, &ea, &za) || !rd_value(&rb, &eb, &zb))
			return cmp_bytes(a, b);
		if (za || zb) {
			if (za && zb)
				continue;
			return za ? -1 : 1;
		}
		c = coffer_value_compare(t->params[i], ea, eb);
		if (c)
			return c;
	}
	if (coffer_reader_done(&ra))
		return coffer_reader_done(&rb) ? 0 : -1;
	return 1;
}

int coffer_value_compare(const struct coffer_datatype *t, struct coffer_slice a, struct coffer_slice b)
{
	/* The empty value sorts before every other value of a scalar type. */
	if ((a.len == 0 || b.len == 0) && t->kind != COFFER_DT_TUPLE)
		return a.len ? 1 : b.len ? -1 : 0;
	switch (t->kind) {
	case COFFER_DT_INT:
	case COFFER_DT_BIGINT:
	case COFFER_DT_SMALLINT:
	case COFFER_DT_TINYINT:
	case COFFER_DT_COUNTER:
	case COFFER_DT_TIMESTAMP:
	case COFFER_DT_TIME:
		if (a.len != b.len || a.len > 8)
			return cmp_bytes(a, b);
		return cmp_i64(load_signed(a), load_signed(b));
	case COFFER_DT_VARINT:
		return cmp_varint(a, b);
	case COFFER_DT_DECIMAL:
		return cmp_decimal(a, b);
	case COFFER_DT_FLOAT:
		if (a.len != 4 || b.len != 4)
			return cmp_bytes(a, b);
		{
			uint64_t ka = float_key(coffer_load_u32(a.ptr), 32);
			uint64_t kb = float_key(coffer_load_u32(b.ptr), 32);

			return ka < kb ? -1 : ka > kb;
		}
	case COFFER_DT_DOUBLE:
		if (a.len != 8 || b.len != 8)
			return cmp_bytes(a, b);
		{
			uint64_t ka = float_key(coffer_load_u64(a.ptr), 64);
			uint64_t kb = float_key(coffer_load_u64(b.ptr), 64);

			return ka < kb ? -1 : ka > kb;
		}
	case COFFER_DT_BOOLEAN:
		return cmp_i64(a.ptr[0] != 0, b.ptr[0] != 0);
	case COFFER_DT_UUID:
		return cmp_uuid(false, a, b);
	case COFFER_DT_TIMEUUID:
		return cmp_uuid(true, a, b);
	case COFFER_DT_LIST:
	case COFFER_DT_SET:
	case COFFER_DT_MAP:
		return cmp_collection(t, a, b);
	case COFFER_DT_TUPLE:
		return cmp_tuple(t, a, b);
	default:
		/* text, ascii, blob, inet, date (unsigned), duration: bytewise */
		return cmp_bytes(a, b);
	}
}

/* ------------------------------------------------------------ formatting */

static void fmt_quoted(struct coffer_slice v, struct coffer_buf *out)
{
	size_t i;

	coffer_buf_put_u8(out, '\'');
	for (i = 0; i < v.len; i++) {
		if (v.ptr[i] == '\'')
			coffer_buf_put_u8(out, '\'');
		coffer_buf_put_u8(out, v.ptr[i]);
	}
	coffer_buf_put_u8(out, '\'');
}

static void fmt_blob(struct coffer_slice v, struct coffer_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	coffer_buf_put(out, "0x", 2);
	for (i = 0; i < v.len; i++) {
		coffer_buf_put_u8(out, (uint8_t)hex[v.ptr[i] >> 4]);
		coffer_buf_put_u8(out, (uint8_t)hex[v.ptr[i] & 15]);
	}
}

/* Shortest %g that reads back to the same value. */
static void fmt_double(double d, bool is_float, struct coffer_buf *out)
{
	char tmp[64];
	int prec;

	if (isnan(d)) {
		coffer_buf_printf(out, "NaN");
		return;
	}
	if (isinf(d)) {
		coffer_buf_printf(out, d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (is_float ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
			break;
	}
	coffer_buf_printf(out, "%s", tmp);
	if (!strpbrk(tmp, ".eE"))
		coffer_buf_printf(out, ".0");
}

static void fmt_timestamp(int64_t ms, struct coffer_buf *out)
{
	int64_t days = ms / 86400000, rem = ms % 86400000, y;
	unsigned m, d;

	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	coffer_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		coffer_buf_printf(out, "%lld", (long long)ms);
		return;
	}
	coffer_buf_printf(out, "'%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ'", (long long)y, m, d,
			  (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
			  (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
}

static void fmt_date(uint32_t raw, struct coffer_buf *out)
{
	int64_t y;
	unsigned m, d;

	coffer_civil_from_days((int64_t)raw - (int64_t)COFFER_DATE_EPOCH, &y, &m, &d);
	if (y < 0 || y > 9999) {
		coffer_buf_printf(out, "%u", raw); /* the raw form reads back */
		return;
	}
	coffer_buf_printf(out, "'%04lld-%02u-%02u'", (long long)y, m, d);
}

static void fmt_time(int64_t ns, struct coffer_buf *out)
{
	int64_t s = ns / 1000000000;

	coffer_buf_printf(out, "'%02lld:%02lld:%02lld.%09lld'", (long long)(s / 3600),
			  (long long)(s / 60 % 60), (long long)(s % 60),
			  (long long)(ns % 1000000000));
}

static void fmt_duration(struct coffer_slice v, struct coffer_buf *out)
{
	struct coffer_reader r;
	int64_t mo, d, ns;
	uint64_t a;
	size_t start = out->len;

	coffer_reader_init(&r, v, "duration");
	if (!rd_vint(&r, &mo) || !rd_vint(&r, &d) || !rd_vint(&r, &ns)) {
		fmt_blob(v, out);
		return;
	}
	if (mo < 0 || d < 0 || ns < 0) {
		coffer_buf_put_u8(out, '-');
		start++;
	}
#define UABS(x) ((x) < 0 ? (uint64_t)0 - (uint64_t)(x) : (uint64_t)(x))
	if (UABS(mo) / 12)
		coffer_buf_printf(out, "%lluy", (unsigned long long)(UABS(mo) / 12));
	if (UABS(mo) % 12)
		coffer_buf_printf(out, "%llumo", (unsigned long long)(UABS(mo) % 12));
	if (d)
		coffer_buf_printf(out, "%llud", (unsigned long long)UABS(d));
	a = UABS(ns);
#undef UABS
	if (a / 3600000000000ull)
		coffer_buf_printf(out, "%lluh", (unsigned long long)(a / 3600000000000ull));
	if (a / 60000000000ull % 60)
		coffer_buf_printf(out, "%llum", (unsigned long long)(a / 60000000000ull % 60));
	if (a / 1000000000ull % 60)
		coffer_buf_printf(out, "%llus", (unsigned long long)(a / 1000000000ull % 60));
	if (a / 1000000 % 1000)
		coffer_buf_printf(out, "%llums", (unsigned long long)(a / 1000000 % 1000));
	if (a / 1000 % 1000)
		coffer_buf_printf(out, "%lluus", (unsigned long long)(a / 1000 % 1000));
	if (a % 1000)
		coffer_buf_printf(out, "%lluns", (unsigned long long)(a % 1000));
	if (out->len == start)
		coffer_buf_printf(out, "0s");
}

static void fmt_elements(const struct coffer_datatype *t, struct coffer_slice v, struct coffer_buf *out)
{
	struct coffer_reader r;
	int32_t n = 0, i; /* stays 0 (no elements shown) if the count cannot be read */
	char open = t->kind == COFFER_DT_LIST ? '[' : '{';

	coffer_reader_init(&r, v, "collection");
	rd_i32(&r, &n);
	coffer_buf_put_u8(out, (uint8_t)open);
	for (i = 0; i < n; i++) {
		struct coffer_slice e;
		bool z;

		if (i)
			coffer_buf_put(out, ", ", 2);
		(void)rd_value(&r, &e, &z);
		coffer_value_format(t->params[0], e, out);
		if (t->kind == COFFER_DT_MAP) {
			coffer_buf_put(out, ": ", 2);
			(void)rd_value(&r, &e, &z);
			coffer_value_format(t->params[1], e, out);
		}
	}
	coffer_buf_put_u8(out, open == '[' ? ']' : '}');
}

static void fmt_tuple(const struct coffer_datatype *t, struct coffer_slice v, struct coffer_buf *out)
{
	struct coffer_reader r;
	uint32_t i;

	coffer_reader_init(&r, v, "tuple");
	coffer_buf_put_u8(out, '(');
	for (i = 0; !coffer_reader_done(&r); i++) {
		struct coffer_slice e;
		bool z;

		if (i)
			coffer_buf_put(out, ", ", 2);
		(void)rd_value(&r, &e, &z);
		if (z)
			coffer_buf_printf(out, "null");
		else
			coffer_value_format(t->params[i], e, out);
	}
	coffer_buf_put_u8(out, ')');
}

void coffer_value_format(const struct coffer_datatype *t, struct coffer_slice v, struct coffer_buf *out)
{
	char tmp[INET6_ADDRSTRLEN + COFFER_UUID_STR_LEN + 8];

	if (coffer_value_validate(t, v) != COFFER_OK) {
		coffer_error_clear();
		fmt_blob(v, out);
		return;
	}
	if (v.len == 0 && t->kind != COFFER_DT_TEXT && t->kind != COFFER_DT_ASCII &&
	    t->kind != COFFER_DT_BLOB && t->kind != COFFER_DT_TUPLE) {
		/* the empty value of a scalar has no literal of its own */
		coffer_buf_printf(out, "null");
		return;
	}
	switch (t->kind) {
	case COFFER_DT_ASCII:
	case COFFER_DT_TEXT:
		fmt_quoted(v, out);
		return;
	case COFFER_DT_INT:
	case COFFER_DT_BIGINT:
	case COFFER_DT_SMALLINT:
	case COFFER_DT_TINYINT:
	case COFFER_DT_COUNTER:
		coffer_buf_printf(out, "%lld", (long long)load_signed(v));
		return;
	case COFFER_DT_VARINT:
		coffer_varint_to_decimal(v, out);
		return;
	case COFFER_DT_DECIMAL: {
		/* unscaled x 10^-scale, written as <unscaled>E<-scale> when needed */
		int32_t scale = (int32_t)coffer_load_u32(v.ptr);
		struct coffer_buf s = {0};
		const char *p, *digits;
		size_t n;
		bool neg;

		coffer_varint_to_decimal(coffer_slice_of(v.ptr + 4, v.len - 4), &s);
		p = coffer_buf_cstr(&s);
		neg = *p == '-';
		digits = p + neg;
		n = strlen(digits);
		if (neg)
			coffer_buf_put_u8(out, '-');
		if (scale == 0) {
			coffer_buf_put(out, digits, n);
		} else if (scale > 0 && (size_t)scale < n) {
			coffer_buf_put(out, digits, n - (size_t)scale);
			coffer_buf_put_u8(out, '.');
			coffer_buf_put(out, digits + n - (size_t)scale, (size_t)scale);
		} else if (scale > 0 && scale <= 30) {
			coffer_buf_put(out, "0.", 2);
			for (size_t k = n; k < (size_t)scale; k++)
				coffer_buf_put_u8(out, '0');
			coffer_buf_put(out, digits, n);
		} else {
			coffer_buf_put(out, digits, n);
			coffer_buf_printf(out, "E%lld", -(long long)scale);
		}
		coffer_buf_free(&s);
		return;
	}
	case COFFER_DT_FLOAT: {
		float f;
		uint32_t bits = coffer_load_u32(v.ptr);

		memcpy(&f, &bits, 4);
		fmt_double(f, true, out);
		return;
	}
	case COFFER_DT_DOUBLE: {
		double d;
		uint64_t bits = coffer_load_u64(v.ptr);

		memcpy(&d, &bits, 8);
		fmt_double(d, false, out);
		return;
	}
	case COFFER_DT_BOOLEAN:
		coffer_buf_printf(out, v.ptr[0] ? "true" : "false");
		return;
	case COFFER_DT_BLOB:
		fmt_blob(v, out);
		return;
	case COFFER_DT_UUID:
	case COFFER_DT_TIMEUUID:
		coffer_uuid_format(v.ptr, tmp);
		coffer_buf_printf(out, "%s", tmp);
		return;
	case COFFER_DT_TIMESTAMP:
		fmt_timestamp(load_i64(v.ptr), out);
		return;
	case COFFER_DT_DATE:
		fmt_date(coffer_load_u32(v.ptr), out);
		return;
	case COFFER_DT_TIME:
		fmt_time(load_i64(v.ptr), out);
		return;
	case COFFER_DT_INET:
		if (!inet_ntop(v.len == 4 ? AF_INET : AF_INET6, v.ptr, tmp, sizeof(tmp))) {
			fmt_blob(v, out);
			return;
		}
		coffer_buf_printf(out, "'%s'", tmp);
		return;
	case COFFER_DT_DURATION:
		fmt_duration(v, out);
		return;
	case COFFER_DT_LIST:
	case COFFER_DT_SET:
	case COFFER_DT_MAP:
		fmt_elements(t, v, out);
		return;
	case COFFER_DT_TUPLE:
		fmt_tuple(t, v, out);
		return;
	case COFFER_DT_CUSTOM:
		break;
	}
	fmt_blob(v, out);
}

/* ------------------------------------------------------------ normalisation */

struct norm_entry {
	struct coffer_buf key;   /* normalised element (set) or key (map) */
	struct coffer_buf value; /* map only */
	size_t index;            /* original position, for stability */
};

static int norm_cmp(const void *pa, const void *pb, void *arg)
{
	const struct norm_entry *a = pa, *b = pb;
	const struct coffer_datatype *t = arg;
	int c = coffer_value_compare(t, coffer_buf_slice(&a->key), coffer_buf_slice(&b->key));

	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

static bool type_needs_normalising(const struct coffer_datatype *t)
{
	uint32_t i;

	if (t->kind == COFFER_DT_SET || t->kind == COFFER_DT_MAP)
		return true;
	for (i = 0; i < t->nparams; i++)
		if (type_needs_normalising(t->params[i]))
			return true;
	return false;
}

static void put_value(struct coffer_buf *out, struct coffer_slice v)
{
	coffer_buf_put_u32(out, (uint32_t)v.len);
	coffer_buf_put(out, v.ptr, v.len);
}

static coffer_rc normalize_into(const struct coffer_datatype *t, struct coffer_slice v,
				struct coffer_buf *out);

static coffer_rc normalize_elem(const struct coffer_datatype *t, struct coffer_slice v,
				struct coffer_buf *out)
{
	if (!type_needs_normalising(t)) {
		coffer_buf_put(out, v.ptr, v.len);
		return COFFER_OK;
	}
	return normalize_into(t, v, out);
}

static coffer_rc normalize_into(const struct coffer_datatype *t, struct coffer_slice v,
				struct coffer_buf *out)
{
	struct coffer_reader r;
	struct norm_entry *e = NULL;
	int32_t n = 0, i;
	size_t kept = 0;
	coffer_rc rc = COFFER_OK;
	bool is_map = t->kind == COFFER_DT_MAP;

	TRY(coffer_value_validate(t, v));
	if (t->kind == COFFER_DT_TUPLE) {
		uint32_t f;

		coffer_reader_init(&r, v, "tuple");
		for (f = 0; !coffer_reader_done(&r); f++) {
			struct coffer_slice fv;
			bool z;
			struct coffer_buf tmp = {0};

			(void)rd_value(&r, &fv, &z);
			if (z) {
				coffer_buf_put_u32(out, UINT32_MAX);
				continue;
			}
			rc = normalize_elem(t->params[f], fv, &tmp);
			put_value(out, coffer_buf_slice(&tmp));
			coffer_buf_free(&tmp);
			TRY(rc);
		}
		return COFFER_OK;
	}
	if (!coffer_datatype_kind_is_collection(t->kind)) {
		coffer_buf_put(out, v.ptr, v.len);
		return COFFER_OK;
	}
	coffer_reader_init(&r, v, "collection");
	(void)rd_i32(&r, &n);
	e = coffer_xcalloc((size_t)n + 1, sizeof(*e));
	for (i = 0; i < n; i++) {
		struct coffer_slice k, val;
		bool z;

		(void)rd_value(&r, &k, &z);
		e[i].index = (size_t)i;
		TRY_FAIL(normalize_elem(t->params[0], k, &e[i].key));
		if (is_map) {
			(void)rd_value(&r, &val, &z);
			TRY_FAIL(normalize_elem(t->params[1], val, &e[i].value));
		}
	}
	if (t->kind != COFFER_DT_LIST && n > 1)
		qsort_r(e, (size_t)n, sizeof(*e), norm_cmp, (void *)t->params[0]);
	/* count survivors: of a run of equal keys the last (latest) wins */
	for (i = 0; i < n; i++)
		if (t->kind == COFFER_DT_LIST || i + 1 == n ||
		    coffer_value_compare(t->params[0], coffer_buf_slice(&e[i].key),
					 coffer_buf_slice(&e[i + 1].key)) != 0)
			kept++;
	coffer_buf_put_u32(out, (uint32_t)kept);
	for (i = 0; i < n; i++) {
		if (t->kind != COFFER_DT_LIST && i + 1 < n &&
		    coffer_value_compare(t->params[0], coffer_buf_slice(&e[i].key),
					 coffer_buf_slice(&e[i + 1].key)) == 0)
			continue;
		put_value(out, coffer_buf_slice(&e[i].key));
		if (is_map)
			put_value(out, coffer_buf_slice(&e[i].value));
	}
fail:
	for (i = 0; i < n; i++) {
		coffer_buf_free(&e[i].key);
		coffer_buf_free(&e[i].value);
	}
	free(e);
	return rc;
}

COFFER_RESULT coffer_value_normalize(const struct coffer_datatype *t, struct coffer_slice v,
				     struct coffer_buf *out)
{
	struct coffer_buf tmp = {0};
	coffer_rc rc = normalize_into(t, v, &tmp);

	if (rc == COFFER_OK) {
		coffer_buf_reset(out);
		coffer_buf_put(out, tmp.ptr, tmp.len);
	}
	coffer_buf_free(&tmp);
	return rc;
}
