/*
 * format.c - values as cqlsh shows them (cqlsh's formatting.py, Cassandra
 * 3.11): text plain at the top level and quoted ('it''s') inside
 * collections, blobs 0x.., booleans True/False, floats with 5 and doubles
 * with 12 significant digits, timestamps "2026-01-02 03:04:05.678000+0000",
 * dates, times with nanoseconds, collections ['a', 'b'] / {'k': 1}, tuples
 * (1, 'a'), user types {f: 1}, and null as "null".
 *
 * Values arrive as protocol [bytes] with a protocol type tree
 * (struct coffer_proto_type); decimal, varint and duration are formatted by
 * the schema module's codec through a one-line mapping of the type id.
 * A value that does not parse as its type is shown as a blob, so a bad cell
 * never stops the output.
 *
 * Colours follow cqlsh's default colour map: text yellow, numbers, dates and
 * ids green, blobs dark magenta, null red, collection punctuation blue.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/cli_internal.h"
#include "schema/schema.h"

#define C_RESET "\x1b[0m"
#define C_TEXT "\x1b[0;1;33m"
#define C_NUM "\x1b[0;1;32m"
#define C_BLOB "\x1b[0;35m"
#define C_NULL "\x1b[0;1;31m"
#define C_PUNCT "\x1b[0;1;34m"

/* Where formatted text goes: plain always, colored when wanted. `exact`
 * is COPY TO's mode: text unescaped, floats that read back bit for bit. */
struct out {
	struct coffer_buf *plain;
	struct coffer_buf *colored;
	bool exact;
};

static void emit(struct out *o, const char *color, const char *s, size_t n)
{
	coffer_buf_put(o->plain, s, n);
	if (o->colored) {
		coffer_buf_put(o->colored, color, strlen(color));
		coffer_buf_put(o->colored, s, n);
		coffer_buf_put(o->colored, C_RESET, strlen(C_RESET));
	}
}

static void emits(struct out *o, const char *color, const char *s)
{
	emit(o, color, s, strlen(s));
}

static void emit_buf(struct out *o, const char *color, struct coffer_buf *b)
{
	emit(o, color, (const char *)b->ptr, b->len);
	coffer_buf_free(b);
}

size_t coffer_cli_text_width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			w++;
	return w;
}

static void fmt_blob(struct out *o, struct coffer_slice v)
{
	static const char hex[] = "0123456789abcdef";
	struct coffer_buf b = {0};
	coffer_buf_put(&b, "0x", 2);
	for (size_t i = 0; i < v.len; i++) {
		coffer_buf_put_u8(&b, (uint8_t)hex[v.ptr[i] >> 4]);
		coffer_buf_put_u8(&b, (uint8_t)hex[v.ptr[i] & 15]);
	}
	emit_buf(o, C_BLOB, &b);
}

/* cqlsh shows control characters escaped, and inside collections quotes the
 * text with '' for a quote. */
static void fmt_text(struct out *o, struct coffer_slice v, bool quote)
{
	struct coffer_buf b = {0};
	if (quote)
		coffer_buf_put_u8(&b, '\'');
	for (size_t i = 0; i < v.len; i++) {
		uint8_t ch = v.ptr[i];
		if (ch == '\'' && quote)
			coffer_buf_put(&b, "''", 2);
		else if (o->exact)
			coffer_buf_put_u8(&b, ch);
		else if (ch == '\n')
			coffer_buf_put(&b, "\\n", 2);
		else if (ch == '\t')
			coffer_buf_put(&b, "\\t", 2);
		else if (ch == '\r')
			coffer_buf_put(&b, "\\r", 2);
		else if (ch < 0x20 || ch == 0x7f)
			coffer_buf_printf(&b, "\\x%02x", ch);
		else
			coffer_buf_put_u8(&b, ch);
	}
	if (quote)
		coffer_buf_put_u8(&b, '\'');
	emit_buf(o, C_TEXT, &b);
}

static int64_t be_int(struct coffer_slice v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < v.len; i++)
		x = (x << 8) | v.ptr[i];
	/* sign-extend from v.len bytes */
	if (v.len && v.len < 8 && (v.ptr[0] & 0x80))
		x |= ~(uint64_t)0 << (v.len * 8);
	return (int64_t)x;
}

/* cqlsh's format_floating_point_type: %g with the precision widened by the
 * digits left of the point, so 123.456 stays 123.456 at precision 5. In
 * exact mode the precision grows further until the text reads back as the
 * same float (single: `is_float`) or double: COPY must round-trip, where
 * cqlsh's COPY loses digits past FLOATPRECISION/DOUBLEPRECISION. */
static void fmt_float(struct out *o, double d, int precision, bool is_float)
{
	char s[64];
	if (isnan(d)) {
		emits(o, C_NUM, "NaN");
		return;
	}
	if (isinf(d)) {
		emits(o, C_NUM, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (fabs(d) > 2.220446049250313e-16) {
		int e = (int)log10(fabs(d)); /* truncates toward zero, as Python's int() */
		if (e >= -4 && e < precision)
			precision += e + 1;
	}
	snprintf(s, sizeof(s), "%.*g", precision, d);
	while (o->exact && precision < 17 &&
	       (is_float ? (float)strtod(s, NULL) != (float)d : strtod(s, NULL) != d))
		snprintf(s, sizeof(s), "%.*g", ++precision, d);
	emits(o, C_NUM, s);
}

static void fmt_timestamp(struct out *o, int64_t ms)
{
	int64_t secs = ms / 1000, rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d;
	coffer_civil_from_days(days, &y, &m, &d);
	char s[80];
	snprintf(s, sizeof(s), "%04lld-%02u-%02u %02d:%02d:%02d.%06d+0000", (long long)y, m, d,
		 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)rem * 1000);
	emits(o, C_NUM, s);
}

static void fmt_date(struct out *o, uint32_t v)
{
	int64_t y;
	unsigned m, d;
	coffer_civil_from_days((int64_t)v - (int64_t)COFFER_DATE_EPOCH, &y, &m, &d);
	char s[48];
	snprintf(s, sizeof(s), "%04lld-%02u-%02u", (long long)y, m, d);
	emits(o, C_NUM, s);
}

static void fmt_time(struct out *o, int64_t ns)
{
	char s[48];
	int64_t sec = ns / 1000000000;
	snprintf(s, sizeof(s), "%02lld:%02lld:%02lld.%09lld", (long long)(sec / 3600),
		 (long long)(sec / 60 % 60), (long long)(sec % 60),
		 (long long)(ns % 1000000000));
	emits(o, C_NUM, s);
}

/* decimal, varint and duration through the schema codec. */
static void fmt_schema(struct out *o, enum coffer_datatype_kind k, struct coffer_slice v)
{
	struct coffer_buf b = {0};
	coffer_value_format(coffer_datatype_of(k), v, &b);
	emit_buf(o, C_NUM, &b);
}

static void fmt_any(const struct coffer_proto_type *t, struct coffer_slice v, bool quote,
		    struct out *o);

/* Reads one [bytes] element of a collection or tuple. */
static bool read_elem(struct coffer_reader *r, struct coffer_slice *e)
{
	uint32_t n;
	if (coffer_reader_u32(r, &n) != COFFER_OK)
		return false;
	if ((int32_t)n < 0) {
		*e = coffer_slice_of(NULL, 0);
		return true;
	}
	return coffer_reader_bytes(r, n, e) == COFFER_OK;
}

static bool fmt_collection(const struct coffer_proto_type *t, struct coffer_slice v,
			   struct out *o)
{
	struct coffer_reader r;
	uint32_t n;
	bool map = t->id == COFFER_PROTO_TYPE_MAP;
	if ((map && t->n != 2) || (!map && t->n != 1))
		return false;
	coffer_reader_init(&r, v, "collection");
	if (coffer_reader_u32(&r, &n) != COFFER_OK || n > COFFER_VALUE_MAX_ELEMENTS)
		return false;
	emits(o, C_PUNCT, t->id == COFFER_PROTO_TYPE_LIST ? "[" : "{");
	for (uint32_t i = 0; i < n; i++) {
		struct coffer_slice k, val;
		if (i)
			emits(o, C_PUNCT, ", ");
		if (!read_elem(&r, &k))
			return false;
		fmt_any(&t->sub[0], k, true, o);
		if (map) {
			if (!read_elem(&r, &val))
				return false;
			emits(o, C_PUNCT, ": ");
			fmt_any(&t->sub[1], val, true, o);
		}
	}
	emits(o, C_PUNCT, t->id == COFFER_PROTO_TYPE_LIST ? "]" : "}");
	return true;
}

/* Tuples (a, b) and user types {f: a}: fields until the bytes end. */
static bool fmt_fields(const struct coffer_proto_type *t, struct coffer_slice v, struct out *o)
{
	struct coffer_reader r;
	bool udt = t->id == COFFER_PROTO_TYPE_UDT;
	coffer_reader_init(&r, v, "tuple");
	emits(o, C_PUNCT, udt ? "{" : "(");
	for (uint16_t i = 0; i < t->n && !coffer_reader_done(&r); i++) {
		struct coffer_slice e;
		if (i)
			emits(o, C_PUNCT, ", ");
		if (!read_elem(&r, &e))
			return false;
		if (udt) {
			emits(o, C_PUNCT, t->field_names[i]);
			emits(o, C_PUNCT, ": ");
		}
		fmt_any(&t->sub[i], e, true, o);
	}
	emits(o, C_PUNCT, udt ? "}" : ")");
	return true;
}

static bool fixed(struct coffer_slice v, size_t n)
{
	return v.len == n;
}

static void fmt_any(const struct coffer_proto_type *t, struct coffer_slice v, bool quote,
		    struct out *o)
{
	char s[64];

	if (!v.ptr) {
		emits(o, C_NULL, "null");
		return;
	}
	/* An empty value of a scalar type (Cassandra allows it) shows as nothing. */
	if (!v.len && t->id != COFFER_PROTO_TYPE_VARCHAR && t->id != COFFER_PROTO_TYPE_ASCII &&
	    t->id != COFFER_PROTO_TYPE_BLOB && t->id != COFFER_PROTO_TYPE_CUSTOM)
		return;
	switch (t->id) {
	case COFFER_PROTO_TYPE_ASCII:
	case COFFER_PROTO_TYPE_VARCHAR:
		fmt_text(o, v, quote);
		return;
	case COFFER_PROTO_TYPE_BLOB:
		fmt_blob(o, v);
		return;
	case COFFER_PROTO_TYPE_BOOLEAN:
		if (fixed(v, 1)) {
			emits(o, C_NUM, v.ptr[0] ? "True" : "False");
			return;
		}
		break;
	case COFFER_PROTO_TYPE_TINYINT:
	case COFFER_PROTO_TYPE_SMALLINT:
	case COFFER_PROTO_TYPE_INT:
	case COFFER_PROTO_TYPE_BIGINT:
	case COFFER_PROTO_TYPE_COUNTER: {
		size_t want = t->id == COFFER_PROTO_TYPE_TINYINT ? 1
			      : t->id == COFFER_PROTO_TYPE_SMALLINT ? 2
			      : t->id == COFFER_PROTO_TYPE_INT ? 4 : 8;
		if (fixed(v, want)) {
			snprintf(s, sizeof(s), "%lld", (long long)be_int(v));
			emits(o, C_NUM, s);
			return;
		}
		break;
	}
	case COFFER_PROTO_TYPE_FLOAT:
		if (fixed(v, 4)) {
			uint32_t u = coffer_load_u32(v.ptr);
			float f;
			memcpy(&f, &u, 4);
			fmt_float(o, f, 5, true);
			return;
		}
		break;
	case COFFER_PROTO_TYPE_DOUBLE:
		if (fixed(v, 8)) {
			uint64_t u = coffer_load_u64(v.ptr);
			double d;
			memcpy(&d, &u, 8);
			fmt_float(o, d, 12, false);
			return;
		}
		break;
	case COFFER_PROTO_TYPE_DECIMAL:
		if (v.len >= 4) {
			fmt_schema(o, COFFER_DT_DECIMAL, v);
			return;
		}
		break;
	case COFFER_PROTO_TYPE_VARINT:
		fmt_schema(o, COFFER_DT_VARINT, v);
		return;
	case COFFER_PROTO_TYPE_TIMESTAMP:
		if (fixed(v, 8)) {
			fmt_timestamp(o, (int64_t)coffer_load_u64(v.ptr));
			return;
		}
		break;
	case COFFER_PROTO_TYPE_DATE:
		if (fixed(v, 4)) {
			fmt_date(o, coffer_load_u32(v.ptr));
			return;
		}
		break;
	case COFFER_PROTO_TYPE_TIME:
		if (fixed(v, 8) && (int64_t)coffer_load_u64(v.ptr) >= 0) {
			fmt_time(o, (int64_t)coffer_load_u64(v.ptr));
			return;
		}
		break;
	case COFFER_PROTO_TYPE_UUID:
	case COFFER_PROTO_TYPE_TIMEUUID:
		if (fixed(v, 16)) {
			char u[COFFER_UUID_STR_LEN + 1];
			coffer_uuid_format(v.ptr, u);
			emits(o, C_NUM, u);
			return;
		}
		break;
	case COFFER_PROTO_TYPE_INET:
		if ((fixed(v, 4) && inet_ntop(AF_INET, v.ptr, s, sizeof(s))) ||
		    (fixed(v, 16) && inet_ntop(AF_INET6, v.ptr, s, sizeof(s)))) {
			emits(o, C_NUM, s);
			return;
		}
		break;
	case COFFER_PROTO_TYPE_LIST:
	case COFFER_PROTO_TYPE_SET:
	case COFFER_PROTO_TYPE_MAP: {
		/* On a malformed collection, start over as a blob. */
		size_t p0 = o->plain->len, c0 = o->colored ? o->colored->len : 0;
		if (fmt_collection(t, v, o))
			return;
		o->plain->len = p0;
		if (o->colored)
			o->colored->len = c0;
		break;
	}
	case COFFER_PROTO_TYPE_TUPLE:
	case COFFER_PROTO_TYPE_UDT: {
		size_t p0 = o->plain->len, c0 = o->colored ? o->colored->len : 0;
		if (fmt_fields(t, v, o))
			return;
		o->plain->len = p0;
		if (o->colored)
			o->colored->len = c0;
		break;
	}
	case COFFER_PROTO_TYPE_CUSTOM:
		if (t->custom && strstr(t->custom, "DurationType")) {
			fmt_schema(o, COFFER_DT_DURATION, v);
			return;
		}
		break;
	default:
		break;
	}
	fmt_blob(o, v);
}

void coffer_cli_format_value(const struct coffer_proto_type *t, struct coffer_slice v,
			     bool quote, struct coffer_buf *plain, struct coffer_buf *colored)
{
	struct out o = {plain, colored, false};
	fmt_any(t, v, quote, &o);
}

void coffer_cli_format_csv(const struct coffer_proto_type *t, struct coffer_slice v,
			   struct coffer_buf *out)
{
	struct out o = {out, NULL, true};
	fmt_any(t, v, false, &o);
}
