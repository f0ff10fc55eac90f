/*
 * literals.c - coercion of a literal term to the serialized (protocol v4)
 * value of a column's type, with Cassandra's refusals.
 *
 * Accepted, by target type (beyond Cassandra, marked +):
 *   ascii, text          STRING
 *   int, bigint,         INTEGER in range; + FLOAT with an integral value in
 *   smallint, tinyint,     range (Node's unprepared queries send JS numbers
 *   counter, varint        as doubles)
 *   decimal              INTEGER, FLOAT (exact: unscaled digits and scale)
 *   float, double        INTEGER, FLOAT, NaN, Infinity, -Infinity
 *   boolean              true / false
 *   blob                 0x...
 *   uuid, timeuuid       bare UUID; + a quoted UUID string; timeuuid: version 1
 *   timestamp            INTEGER (ms), + integral FLOAT, STRING (date/time forms)
 *   date                 STRING 'YYYY-MM-DD' or raw digits, INTEGER (raw u32)
 *   time                 STRING 'HH:MM:SS[.fffffffff]' or digits, INTEGER (ns)
 *   inet                 STRING holding an IPv4 or IPv6 address
 *   duration             1y2mo3w4d5h6m7s8ms9us10ns forms, optionally negative
 *   list / set / map     [..] / {..} (or {}) / {k: v}, recursively; no nulls inside
 *   tuple                (a, b, ...) with at most as many fields as the type; nulls ok
 * and NULL for every type (reported through *is_null).
 *
 * Invariants:
 *  1. On error nothing is appended to `out` (work happens in a scratch buffer).
 *  2. Messages follow Cassandra's Constants/Lists/Sets/Maps/Tuples wording and
 *     name the receiver ("age", or "value(l)" / "key(m)" inside collections)
 *     and the CQL type.
 *  3. Set and map values come out in the type's canonical order, deduplicated
 *     (coffer_value_normalize), as Cassandra builds them from a sorted set/map.
 */
#include "cql/cql.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

static const char *const_kind(const struct coffer_cql_term *t)
{
	switch (t->kind) {
	case COFFER_CQL_TERM_STRING: return "STRING";
	case COFFER_CQL_TERM_INTEGER: return "INTEGER";
	case COFFER_CQL_TERM_FLOAT:
	case COFFER_CQL_TERM_NAN:
	case COFFER_CQL_TERM_INFINITY: return "FLOAT";
	case COFFER_CQL_TERM_BOOLEAN: return "BOOLEAN";
	case COFFER_CQL_TERM_HEX: return "HEX";
	case COFFER_CQL_TERM_UUID: return "UUID";
	case COFFER_CQL_TERM_DURATION: return "DURATION";
	default: return "literal";
	}
}

/* "Invalid STRING constant (abc) for "id" of type uuid" */
static coffer_rc bad_constant(const struct coffer_cql_term *t, const char *recv,
			      const struct coffer_datatype *type)
{
	struct coffer_buf ty = {0};
	const char *shown = t->kind == COFFER_CQL_TERM_STRING ? t->text : (t->src ? t->src : t->text);
	size_t n = t->kind == COFFER_CQL_TERM_STRING ? t->len : strlen(shown);
	coffer_rc rc;

	coffer_datatype_format(type, &ty);
	rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
			      "Invalid %s constant (%.*s%s) for \"%s\" of type %s", const_kind(t),
			      (int)(n > 128 ? 128 : n), shown, n > 128 ? "..." : "", recv,
			      coffer_buf_cstr(&ty));
	coffer_buf_free(&ty);
	return rc;
}

static const char *literal_name(const struct coffer_cql_term *t)
{
	return t->kind == COFFER_CQL_TERM_LIST ? "list" : t->kind == COFFER_CQL_TERM_SET ? "set"
	       : t->kind == COFFER_CQL_TERM_MAP ? "map" : "tuple";
}

/* "Invalid list literal for l of type set<int>" */
static coffer_rc bad_literal(const char *what, const char *recv, const struct coffer_datatype *type)
{
	struct coffer_buf ty = {0};
	coffer_rc rc;

	coffer_datatype_format(type, &ty);
	rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE, "Invalid %s literal for %s of type %s",
			      what, recv, coffer_buf_cstr(&ty));
	coffer_buf_free(&ty);
	return rc;
}

/* ------------------------------------------------------------ numbers */

/* An INTEGER token's text, or a FLOAT with an integral value (+), as int64. */
static bool term_int64(const struct coffer_cql_term *t, int64_t *out)
{
	char *end;

	errno = 0;
	if (t->kind == COFFER_CQL_TERM_INTEGER) {
		long long v = strtoll(t->text, &end, 10);

		if (errno || *end)
			return false;
		*out = v;
		return true;
	}
	if (t->kind == COFFER_CQL_TERM_FLOAT) {
		double d = strtod(t->text, &end);

		if (*end || !isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
		    d >= 9223372036854775808.0)
			return false;
		*out = (int64_t)d;
		return true;
	}
	return false;
}

static void put_be(struct coffer_buf *out, int64_t v, size_t width)
{
	size_t i;

	for (i = width; i-- > 0;)
		coffer_buf_put_u8(out, (uint8_t)((uint64_t)v >> (8 * i)));
}

/* Decimal text (1.25e-3) into i32 scale + unscaled varint. */
static bool decimal_from_text(const char *s, struct coffer_buf *out)
{
	struct coffer_buf digits = {0};
	size_t i = 0;
	long long frac = 0, exp = 0, scale;
	bool ok = false, any = false;

	if (s[i] == '-' || s[i] == '+')
		coffer_buf_put_u8(&digits, (uint8_t)s[i++]);
	for (; isdigit((unsigned char)s[i]); i++, any = true)
		coffer_buf_put_u8(&digits, (uint8_t)s[i]);
	if (s[i] == '.')
		for (i++; isdigit((unsigned char)s[i]); i++, any = true, frac++)
			coffer_buf_put_u8(&digits, (uint8_t)s[i]);
	if (!any)
		goto done;
	if (s[i] == 'e' || s[i] == 'E') {
		char *end;

		errno = 0;
		exp = strtoll(s + i + 1, &end, 10);
		if (errno || *end || end == s + i + 1)
			goto done;
	} else if (s[i]) {
		goto done;
	}
	scale = frac - exp;
	if (scale < INT32_MIN || scale > INT32_MAX)
		goto done;
	coffer_buf_put_u32(out, (uint32_t)(int32_t)scale);
	ok = coffer_varint_from_decimal((const char *)digits.ptr, digits.len, out) == COFFER_OK;
done:
	coffer_buf_free(&digits);
	return ok;
}

/* ------------------------------------------------------------ dates and times */

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Reads exactly `k` digits. */
static bool digits_n(const char *s, size_t n, size_t *i, size_t k, unsigned *v)
{
	size_t j;

	if (*i + k > n)
		return false;
	*v = 0;
	for (j = 0; j < k; j++) {
		if (!isdigit((unsigned char)s[*i + j]))
			return false;
		*v = *v * 10 + (unsigned)(s[*i + j] - '0');
	}
	*i += k;
	return true;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

/* [+-]YYYY-MM-DD (4 or more year digits) at s[*i]; days since the epoch. */
static bool parse_ymd(const char *s, size_t n, size_t *i, int64_t *days)
{
	int64_t y = 0;
	unsigned m, d, nd = 0;
	bool neg = false;

	if (*i < n && (s[*i] == '-' || s[*i] == '+'))
		neg = s[(*i)++] == '-';
	while (*i < n && isdigit((unsigned char)s[*i]) && nd < 9) {
		y = y * 10 + (s[(*i)++] - '0');
		nd++;
	}
	if (nd < 4 || *i >= n || s[*i] != '-')
		return false;
	(*i)++;
	if (!digits_n(s, n, i, 2, &m) || *i >= n || s[*i] != '-')
		return false;
	(*i)++;
	if (!digits_n(s, n, i, 2, &d))
		return false;
	if (neg)
		y = -y;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return false;
	*days = coffer_days_from_civil(y, m, d);
	return true;
}

/* HH:MM[:SS[.fffffffff]] at s[*i]; nanoseconds into the day. */
static bool parse_hms(const char *s, size_t n, size_t *i, bool need_seconds, int64_t *ns)
{
	unsigned h, mi, sec = 0;
	int64_t frac = 0;
	int fd = 0;

	if (!digits_n(s, n, i, 2, &h) || *i >= n || s[*i] != ':')
		return false;
	(*i)++;
	if (!digits_n(s, n, i, 2, &mi))
		return false;
	if (*i < n && s[*i] == ':') {
		(*i)++;
		if (!digits_n(s, n, i, 2, &sec))
			return false;
		if (*i < n && s[*i] == '.') {
			(*i)++;
			while (*i < n && isdigit((unsigned char)s[*i]) && fd < 9) {
				frac = frac * 10 + (s[(*i)++] - '0');
				fd++;
			}
			if (fd == 0)
				return false;
			for (; fd < 9; fd++)
				frac *= 10;
		}
	} else if (need_seconds) {
		return false;
	}
	if (h > 23 || mi > 59 || sec > 59)
		return false;
	*ns = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000000LL + frac;
	return true;
}

COFFER_RESULT coffer_cql_parse_timestamp_us(const char *s, size_t n, int64_t *us)
{
	size_t i = 0;
	int64_t days, ns = 0, offset_min = 0;

	if (n > 0 && (all_digits(s, n) || (s[0] == '-' && all_digits(s + 1, n - 1)))) {
		char buf[32];
		char *end;
		long long ms;

		ENSURE(n < sizeof(buf), COFFER_E_INVALID, "timestamp out of range");
		memcpy(buf, s, n);
		buf[n] = '\0';
		errno = 0;
		ms = strtoll(buf, &end, 10);
		ENSURE(!errno && ms >= INT64_MIN / 1000 && ms <= INT64_MAX / 1000, COFFER_E_INVALID,
		       "timestamp out of range");
		*us = ms * 1000;
		return COFFER_OK;
	}
	ENSURE(parse_ymd(s, n, &i, &days), COFFER_E_INVALID, "Unable to parse a date in the timestamp");
	if (i < n && (s[i] == 'T' || s[i] == ' ') && i + 1 < n && isdigit((unsigned char)s[i + 1])) {
		i++;
		ENSURE(parse_hms(s, n, &i, false, &ns), COFFER_E_INVALID,
		       "Unable to parse a time in the timestamp");
	}
	if (i < n && s[i] == ' ')
		i++;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		bool neg = s[i++] == '-';
		unsigned oh, om = 0;

		ENSURE(digits_n(s, n, &i, 2, &oh), COFFER_E_INVALID, "Unable to parse a time zone");
		if (i < n && s[i] == ':')
			i++;
		if (i < n)
			ENSURE(digits_n(s, n, &i, 2, &om), COFFER_E_INVALID, "Unable to parse a time zone");
		ENSURE(oh <= 18 && om <= 59, COFFER_E_INVALID, "Unable to parse a time zone");
		offset_min = (neg ? -1 : 1) * (int64_t)(oh * 60 + om);
	}
	ENSURE(i == n, COFFER_E_INVALID, "Unable to parse trailing text in the timestamp");
	ENSURE(days > -106751991LL && days < 106751991LL, COFFER_E_INVALID, "timestamp out of range");
	*us = days * 86400000000LL + ns / 1000 - offset_min * 60000000LL;
	return COFFER_OK;
}

static bool parse_date(const char *s, size_t n, uint32_t *out)
{
	size_t i = 0;
	int64_t days;

	if (all_digits(s, n)) {
		char buf[24];
		unsigned long long v;

		if (n >= sizeof(buf))
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		v = strtoull(buf, NULL, 10);
		if (v > UINT32_MAX)
			return false;
		*out = (uint32_t)v;
		return true;
	}
	if (!parse_ymd(s, n, &i, &days) || i != n)
		return false;
	days += COFFER_DATE_EPOCH;
	if (days < 0 || days > (int64_t)UINT32_MAX)
		return false;
	*out = (uint32_t)days;
	return true;
}

static bool parse_time(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;

	if (all_digits(s, n)) {
		char buf[24];
		long long v;

		if (n >= sizeof(buf))
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		errno = 0;
		v = strtoll(buf, NULL, 10);
		if (errno || v > COFFER_TIME_MAX)
			return false;
		*out = v;
		return true;
	}
	return parse_hms(s, n, &i, true, out) && i == n;
}

/* ------------------------------------------------------------ durations */

static void put_vint(struct coffer_buf *out, int64_t sv)
{
	uint64_t v = ((uint64_t)sv << 1) ^ (uint64_t)(sv >> 63); /* zig-zag */
	int lz = __builtin_clzll(v | 1);
	size_t size = (size_t)((639 - lz * 9) >> 6), i;
	uint8_t b[9];

	if (size == 9) {
		coffer_buf_put_u8(out, 0xff);
		coffer_buf_put_u64(out, v);
		return;
	}
	for (i = size; i-- > 0;) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
	b[0] |= (uint8_t)~(0xffu >> (size - 1));
	coffer_buf_put(out, b, size);
}

static bool parse_duration(const char *s, struct coffer_buf *out)
{
	static const struct {
		const char *u;
		int field; /* 0 months, 1 days, 2 nanos */
		int64_t mul;
	} units[] = {{"mo", 0, 1}, {"ms", 2, 1000000}, {"us", 2, 1000}, {"\xc2\xb5s", 2, 1000},
		     {"ns", 2, 1}, {"y", 0, 12}, {"w", 1, 7}, {"d", 1, 1},
		     {"h", 2, 3600000000000LL}, {"m", 2, 60000000000LL}, {"s", 2, 1000000000}};
	int64_t f[3] = {0, 0, 0};
	bool neg = false;
	size_t i = 0, k;

	if (s[0] == '-') {
		neg = true;
		i++;
	}
	if (!isdigit((unsigned char)s[i]))
		return false;
	while (s[i]) {
		int64_t v = 0, add;

		if (!isdigit((unsigned char)s[i]))
			return false;
		while (isdigit((unsigned char)s[i])) {
			if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
				return false;
			i++;
		}
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (strncasecmp(s + i, units[k].u, strlen(units[k].u)) == 0)
				break;
		if (k == sizeof(units) / sizeof(units[0]))
			return false;
		i += strlen(units[k].u);
		if (__builtin_mul_overflow(v, units[k].mul, &add) ||
		    __builtin_add_overflow(f[units[k].field], add, &f[units[k].field]))
			return false;
	}
	if (f[0] > INT32_MAX || f[1] > INT32_MAX)
		return false;
	for (k = 0; k < 3; k++)
		put_vint(out, neg ? -f[k] : f[k]);
	return true;
}

/* ------------------------------------------------------------ coercion */

static coffer_rc coerce(const struct coffer_cql_term *t, const struct coffer_datatype *type,
			const char *recv, struct coffer_buf *out, bool *is_null, int depth);

static coffer_rc put_element(const struct coffer_cql_term *t, const struct coffer_datatype *type,
			     const char *recv, struct coffer_buf *out, int depth)
{
	struct coffer_buf tmp = {0};
	bool z = false;
	coffer_rc rc = coerce(t, type, recv, &tmp, &z, depth + 1);

	if (rc == COFFER_OK && z)
		rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
				      "null is not supported inside collections");
	if (rc == COFFER_OK) {
		coffer_buf_put_u32(out, (uint32_t)tmp.len);
		coffer_buf_put(out, tmp.ptr, tmp.len);
	}
	coffer_buf_free(&tmp);
	return rc;
}

static coffer_rc coerce_collection(const struct coffer_cql_term *t, const struct coffer_datatype *type,
				   const char *recv, struct coffer_buf *out, int depth)
{
	struct coffer_buf raw = {0};
	char *vname = coffer_xasprintf("value(%s)", recv);
	char *kname = coffer_xasprintf("key(%s)", recv);
	size_t i;
	coffer_rc rc = COFFER_OK;

	if (!(type->kind == COFFER_DT_LIST ? t->kind == COFFER_CQL_TERM_LIST
	      : type->kind == COFFER_DT_SET ? (t->kind == COFFER_CQL_TERM_SET ||
						 (t->kind == COFFER_CQL_TERM_MAP && t->nitems == 0))
	      : t->kind == COFFER_CQL_TERM_MAP)) {
		rc = bad_literal(literal_name(t), recv, type);
		goto fail;
	}
	ENSURE_FAIL(t->nitems <= COFFER_VALUE_MAX_ELEMENTS, COFFER_E_LIMIT,
		    "Collection literal for %s has too many elements", recv);
	if (type->kind == COFFER_DT_MAP) {
		coffer_buf_put_u32(&raw, (uint32_t)(t->nitems / 2));
		for (i = 0; i + 1 < t->nitems; i += 2) {
			TRY_FAIL(put_element(t->items[i], type->params[0], kname, &raw, depth));
			TRY_FAIL(put_element(t->items[i + 1], type->params[1], vname, &raw, depth));
		}
	} else {
		coffer_buf_put_u32(&raw, (uint32_t)t->nitems);
		for (i = 0; i < t->nitems; i++)
			TRY_FAIL(put_element(t->items[i], type->params[0], vname, &raw, depth));
	}
	if (type->kind == COFFER_DT_LIST) {
		coffer_buf_put(out, raw.ptr, raw.len);
	} else {
		struct coffer_buf norm = {0};

		rc = coffer_value_normalize(type, coffer_buf_slice(&raw), &norm);
		if (rc == COFFER_OK)
			coffer_buf_put(out, norm.ptr, norm.len);
		coffer_buf_free(&norm);
	}
fail:
	coffer_buf_free(&raw);
	free(vname);
	free(kname);
	return rc;
}

static coffer_rc coerce_tuple(const struct coffer_cql_term *t, const struct coffer_datatype *type,
			      const char *recv, struct coffer_buf *out, int depth)
{
	size_t i;

	if (t->kind != COFFER_CQL_TERM_TUPLE)
		return bad_literal(literal_name(t), recv, type);
	if (t->nitems > type->nparams) {
		struct coffer_buf ty = {0};
		coffer_rc rc;

		coffer_datatype_format(type, &ty);
		rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
				      "Invalid tuple literal for %s: too many elements. Type %s "
				      "expects %u but got %zu", recv, coffer_buf_cstr(&ty),
				      type->nparams, t->nitems);
		coffer_buf_free(&ty);
		return rc;
	}
	for (i = 0; i < t->nitems; i++) {
		struct coffer_buf tmp = {0};
		bool z = false;
		char *fname = coffer_xasprintf("%s[%zu]", recv, i);
		coffer_rc rc = coerce(t->items[i], type->params[i], fname, &tmp, &z, depth + 1);

		free(fname);
		if (rc == COFFER_OK) {
			if (z) {
				coffer_buf_put_u32(out, UINT32_MAX);
			} else {
				coffer_buf_put_u32(out, (uint32_t)tmp.len);
				coffer_buf_put(out, tmp.ptr, tmp.len);
			}
		}
		coffer_buf_free(&tmp);
		TRY(rc);
	}
	return COFFER_OK;
}

static coffer_rc coerce_scalar(const struct coffer_cql_term *t, const struct coffer_datatype *type,
			       const char *recv, struct coffer_buf *out)
{
	int64_t v;
	uint8_t u[16];
	enum coffer_cql_term_kind k = t->kind;

	switch (type->kind) {
	case COFFER_DT_ASCII:
	case COFFER_DT_TEXT:
		if (k != COFFER_CQL_TERM_STRING ||
		    coffer_value_validate(type, coffer_slice_of(t->text, t->len)) != COFFER_OK)
			break;
		coffer_buf_put(out, t->text, t->len);
		return COFFER_OK;
	case COFFER_DT_INT:
	case COFFER_DT_BIGINT:
	case COFFER_DT_SMALLINT:
	case COFFER_DT_TINYINT:
	case COFFER_DT_COUNTER: {
		size_t width = type->kind == COFFER_DT_INT ? 4 : type->kind == COFFER_DT_SMALLINT ? 2
			       : type->kind == COFFER_DT_TINYINT ? 1 : 8;
		int64_t lim = width == 8 ? INT64_MAX : ((int64_t)1 << (width * 8 - 1)) - 1;

		if (!term_int64(t, &v) || v > lim || v < -lim - 1)
			break;
		put_be(out, v, width);
		return COFFER_OK;
	}
	case COFFER_DT_VARINT:
		if (k == COFFER_CQL_TERM_INTEGER) {
			struct coffer_buf tmp = {0};
			coffer_rc rc = coffer_varint_from_decimal(t->text, t->len, &tmp);

			if (rc == COFFER_OK)
				coffer_buf_put(out, tmp.ptr, tmp.len);
			coffer_buf_free(&tmp);
			if (rc == COFFER_OK)
				return COFFER_OK;
			coffer_error_clear();
		} else if (term_int64(t, &v)) {
			char num[32];
			struct coffer_buf tmp = {0};

			snprintf(num, sizeof(num), "%lld", (long long)v);
			if (coffer_varint_from_decimal(num, strlen(num), &tmp) == COFFER_OK)
				coffer_buf_put(out, tmp.ptr, tmp.len);
			coffer_buf_free(&tmp);
			return COFFER_OK;
		}
		break;
	case COFFER_DT_DECIMAL: {
		struct coffer_buf tmp = {0};
		bool ok = (k == COFFER_CQL_TERM_INTEGER || k == COFFER_CQL_TERM_FLOAT) &&
			  decimal_from_text(t->text, &tmp);

		if (ok)
			coffer_buf_put(out, tmp.ptr, tmp.len);
		coffer_buf_free(&tmp);
		if (ok)
			return COFFER_OK;
		break;
	}
	case COFFER_DT_FLOAT:
	case COFFER_DT_DOUBLE: {
		double d;
		char *end;

		if (k == COFFER_CQL_TERM_NAN) {
			d = NAN;
		} else if (k == COFFER_CQL_TERM_INFINITY) {
			d = t->negative ? -INFINITY : INFINITY;
		} else if (k == COFFER_CQL_TERM_INTEGER || k == COFFER_CQL_TERM_FLOAT) {
			d = strtod(t->text, &end);
			if (*end)
				break;
		} else {
			break;
		}
		if (type->kind == COFFER_DT_FLOAT) {
			float f = (float)d;
			uint32_t bits;

			memcpy(&bits, &f, 4);
			coffer_buf_put_u32(out, bits);
		} else {
			uint64_t bits;

			memcpy(&bits, &d, 8);
			coffer_buf_put_u64(out, bits);
		}
		return COFFER_OK;
	}
	case COFFER_DT_BOOLEAN:
		if (k != COFFER_CQL_TERM_BOOLEAN)
			break;
		coffer_buf_put_u8(out, t->boolean ? 1 : 0);
		return COFFER_OK;
	case COFFER_DT_BLOB: {
		struct coffer_buf tmp = {0};
		coffer_rc rc;

		if (k != COFFER_CQL_TERM_HEX)
			break;
		if (t->len == 0)
			return COFFER_OK;
		rc = coffer_hex_decode(t->text, &tmp);
		if (rc == COFFER_OK)
			coffer_buf_put(out, tmp.ptr, tmp.len);
		coffer_buf_free(&tmp);
		if (rc == COFFER_OK)
			return COFFER_OK;
		coffer_error_clear();
		break;
	}
	case COFFER_DT_UUID:
	case COFFER_DT_TIMEUUID:
		if ((k != COFFER_CQL_TERM_UUID && k != COFFER_CQL_TERM_STRING) ||
		    !coffer_uuid_parse(t->text, t->len, u))
			break;
		if (type->kind == COFFER_DT_TIMEUUID && (u[6] >> 4) != 1)
			break;
		coffer_buf_put(out, u, 16);
		return COFFER_OK;
	case COFFER_DT_TIMESTAMP:
		if (k == COFFER_CQL_TERM_STRING) {
			int64_t us;

			if (coffer_cql_parse_timestamp_us(t->text, t->len, &us) != COFFER_OK) {
				coffer_error_clear();
				break;
			}
			/* floor to milliseconds */
			v = us / 1000 - (us % 1000 < 0 ? 1 : 0);
		} else if (!term_int64(t, &v)) {
			break;
		}
		put_be(out, v, 8);
		return COFFER_OK;
	case COFFER_DT_DATE: {
		uint32_t d;

		if (k == COFFER_CQL_TERM_STRING || k == COFFER_CQL_TERM_INTEGER) {
			if (!parse_date(t->text, t->len, &d))
				break;
			coffer_buf_put_u32(out, d);
			return COFFER_OK;
		}
		break;
	}
	case COFFER_DT_TIME:
		if ((k != COFFER_CQL_TERM_STRING && k != COFFER_CQL_TERM_INTEGER) ||
		    !parse_time(t->text, t->len, &v))
			break;
		put_be(out, v, 8);
		return COFFER_OK;
	case COFFER_DT_INET: {
		char buf[64];

		if (k != COFFER_CQL_TERM_STRING || t->len >= sizeof(buf))
			break;
		memcpy(buf, t->text, t->len);
		buf[t->len] = '\0';
		if (inet_pton(AF_INET, buf, u) == 1) {
			coffer_buf_put(out, u, 4);
			return COFFER_OK;
		}
		if (inet_pton(AF_INET6, buf, u) == 1) {
			coffer_buf_put(out, u, 16);
			return COFFER_OK;
		}
		break;
	}
	case COFFER_DT_DURATION: {
		struct coffer_buf tmp = {0};
		bool ok = k == COFFER_CQL_TERM_DURATION && parse_duration(t->text, &tmp);

		if (ok)
			coffer_buf_put(out, tmp.ptr, tmp.len);
		coffer_buf_free(&tmp);
		if (ok)
			return COFFER_OK;
		break;
	}
	default:
		break;
	}
	return bad_constant(t, recv, type);
}

static coffer_rc coerce(const struct coffer_cql_term *t, const struct coffer_datatype *type,
			const char *recv, struct coffer_buf *out, bool *is_null, int depth)
{
	ENSURE(depth <= COFFER_CQL_MAX_DEPTH, COFFER_E_LIMIT, "Literal nested too deeply");
	*is_null = false;
	switch (t->kind) {
	case COFFER_CQL_TERM_NULL:
		*is_null = true;
		return COFFER_OK;
	case COFFER_CQL_TERM_BIND:
		BAIL(COFFER_E_INVALID, "Bind marker for %s was not bound", recv);
	case COFFER_CQL_TERM_FUNCTION:
		BAIL(COFFER_E_INVALID, "Function call %s() for %s must be evaluated before coercion",
		     t->text, recv);
	case COFFER_CQL_TERM_CAST:
		if (!coffer_datatype_equal(t->cast_type, type)) {
			struct coffer_buf a = {0}, b = {0};
			coffer_rc rc;

			coffer_datatype_format(t->cast_type, &a);
			coffer_datatype_format(type, &b);
			rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
					      "Type error: (%s) value cannot be assigned to %s of type %s",
					      coffer_buf_cstr(&a), recv, coffer_buf_cstr(&b));
			coffer_buf_free(&a);
			coffer_buf_free(&b);
			return rc;
		}
		return coerce(t->items[0], type, recv, out, is_null, depth + 1);
	case COFFER_CQL_TERM_LIST:
	case COFFER_CQL_TERM_SET:
	case COFFER_CQL_TERM_MAP:
	case COFFER_CQL_TERM_TUPLE:
		if (type->kind == COFFER_DT_TUPLE)
			return coerce_tuple(t, type, recv, out, depth);
		if (coffer_datatype_kind_is_collection(type->kind))
			return coerce_collection(t, type, recv, out, depth);
		return bad_literal(literal_name(t), recv, type);
	default:
		return coerce_scalar(t, type, recv, out);
	}
}

COFFER_RESULT coffer_cql_literal_coerce(const struct coffer_cql_term *term,
					const struct coffer_datatype *type, const char *column,
					struct coffer_buf *out, bool *is_null)
{
	struct coffer_buf tmp = {0};
	coffer_rc rc = coerce(term, type, column, &tmp, is_null, 0);

	if (rc == COFFER_OK)
		coffer_buf_put(out, tmp.ptr, tmp.len);
	coffer_buf_free(&tmp);
	return rc;
}
