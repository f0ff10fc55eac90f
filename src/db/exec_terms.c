/*
 * exec_terms.c - the value of a CQL term for a column type: literals coerced
 * (coffer_cql_literal_coerce), bound values validated, collection and tuple
 * literals that hold markers or function calls built element by element, and
 * the functions a term may call: now(), uuid(), currentTimestamp(),
 * currentDate(), currentTime(), currentTimeUUID(), toTimestamp(),
 * toDate(), toUnixTimestamp(), dateOf(), unixTimestampOf(), minTimeuuid(),
 * maxTimeuuid().
 *
 * Invariants:
 *  1. A value handed out is valid for its type (coffer_value_validate) and,
 *     for sets and maps, in canonical order (coffer_value_normalize).
 *  2. Values live in the execution's arena (or borrow the request frame).
 *  3. Errors name the column and the types, never the value.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"

/* 100 ns intervals between 1582-10-15 and 1970-01-01 (RFC 4122 4.1.4). */
#define UUID_EPOCH_OFFSET INT64_C(0x01B21DD213814000)

static struct coffer_slice arena_copy(struct coffer_exec *x, const void *p, size_t n)
{
	return coffer_slice_of(db_memdup(x->arena, p, n), n);
}

static char *type_name(struct coffer_exec *x, const struct coffer_datatype *t)
{
	struct coffer_buf b = {0};
	coffer_datatype_format(t, &b);
	char *s = coffer_arena_strdup(x->arena, coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return s;
}

/* A version 1 (time-based) uuid for `us`, with random clock sequence and
 * node so that two in the same microsecond differ. */
static COFFER_RESULT make_timeuuid(int64_t us, uint8_t u[16], bool min, bool max)
{
	uint64_t ts = (uint64_t)(us * 10 + UUID_EPOCH_OFFSET);
	coffer_store_u32(u, (uint32_t)ts);
	u[4] = (uint8_t)(ts >> 40);
	u[5] = (uint8_t)(ts >> 32);
	u[6] = (uint8_t)(((ts >> 56) & 0x0f) | 0x10);
	u[7] = (uint8_t)(ts >> 48);
	if (min) {
		/* Cassandra's minTimeuuid: the lowest clock/node (signed bytes). */
		memset(u + 8, 0x80, 8);
		u[8] = 0x80;
		return COFFER_OK;
	}
	if (max) {
		memset(u + 8, 0x7f, 8);
		u[8] = 0xbf;
		return COFFER_OK;
	}
	TRY(coffer_random_bytes(u + 8, 8));
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	u[10] |= 0x01; /* multicast bit: a random node, not a MAC address */
	return COFFER_OK;
}

/* The µs time in a timeuuid value. */
static bool timeuuid_us(struct coffer_slice v, int64_t *us)
{
	if (v.len != 16 || (v.ptr[6] >> 4) != 1)
		return false;
	uint64_t ts = ((uint64_t)(v.ptr[6] & 0x0f) << 56) | ((uint64_t)v.ptr[7] << 48) | ((uint64_t)v.ptr[4] << 40) |
		      ((uint64_t)v.ptr[5] << 32) | coffer_load_u32(v.ptr);
	*us = ((int64_t)ts - UUID_EPOCH_OFFSET) / 10;
	return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool name_is(const char *n, const char *want)
{
	if (strncmp(n, "system.", 7) == 0)
		n += 7;
	return strcmp(n, want) == 0;
}

/* Evaluates a function call: its result bytes and type kind. */
static COFFER_RESULT eval_function(struct coffer_exec *x, const struct coffer_cql_term *f, struct coffer_buf *out,
				   enum coffer_datatype_kind *kind, int depth)
{
	const char *n = f->text;
	uint8_t u[16];
	ENSURE(depth < 8, COFFER_E_INVALID, "Function calls nested too deeply");
	if (name_is(n, "now") || name_is(n, "currenttimeuuid")) {
		ENSURE(f->nitems == 0, COFFER_E_INVALID, "Invalid number of arguments in call to function system.%s", n);
		TRY(make_timeuuid(x->now_us, u, false, false));
		coffer_buf_put(out, u, 16);
		*kind = COFFER_DT_TIMEUUID;
		return COFFER_OK;
	}
	if (name_is(n, "uuid")) {
		TRY(coffer_random_bytes(u, 16));
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
		u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
		coffer_buf_put(out, u, 16);
		*kind = COFFER_DT_UUID;
		return COFFER_OK;
	}
	int64_t us = x->now_us;
	bool have_time = false;
	if (f->nitems == 1) {
		const struct coffer_cql_term *a = f->items[0];
		if (a->kind == COFFER_CQL_TERM_FUNCTION) {
			struct coffer_buf inner = {0};
			enum coffer_datatype_kind ik;
			coffer_rc rc = eval_function(x, a, &inner, &ik, depth + 1);
			if (rc == COFFER_OK) {
				if (ik == COFFER_DT_TIMEUUID)
					have_time = timeuuid_us(coffer_buf_slice(&inner), &us);
				else if (ik == COFFER_DT_TIMESTAMP && inner.len == 8)
					have_time = true, us = (int64_t)coffer_load_u64(inner.ptr) * 1000;
				else if (ik == COFFER_DT_DATE && inner.len == 4)
					have_time = true,
					us = ((int64_t)coffer_load_u32(inner.ptr) - (int64_t)COFFER_DATE_EPOCH) * COFFER_US_PER_DAY;
			}
			coffer_buf_free(&inner);
			TRY(rc);
		} else if (a->kind == COFFER_CQL_TERM_STRING || a->kind == COFFER_CQL_TERM_INTEGER ||
			   a->kind == COFFER_CQL_TERM_BIND) {
			struct coffer_slice v;
			bool is_null, is_unset;
			TRY(exec_term_value(x, a, coffer_datatype_of(COFFER_DT_TIMESTAMP), n, &v, &is_null, &is_unset));
			ENSURE(!is_null && !is_unset && v.len == 8, COFFER_E_INVALID, "Invalid null argument to %s", n);
			us = (int64_t)coffer_load_u64(v.ptr) * 1000;
			have_time = true;
		}
		ENSURE(have_time, COFFER_E_INVALID, "Invalid argument in call to function system.%s", n);
	} else {
		ENSURE(f->nitems == 0, COFFER_E_INVALID, "Invalid number of arguments in call to function system.%s", n);
	}
	bool from_now = f->nitems == 0;
	if ((from_now && name_is(n, "currenttimestamp")) || (!from_now && (name_is(n, "totimestamp") || name_is(n, "dateof")))) {
		coffer_buf_put_u64(out, (uint64_t)floor_div(us, 1000));
		*kind = COFFER_DT_TIMESTAMP;
		return COFFER_OK;
	}
	if ((from_now && name_is(n, "currentdate")) || (!from_now && name_is(n, "todate"))) {
		coffer_buf_put_u32(out, (uint32_t)(floor_div(us, COFFER_US_PER_DAY) + (int64_t)COFFER_DATE_EPOCH));
		*kind = COFFER_DT_DATE;
		return COFFER_OK;
	}
	if (from_now && name_is(n, "currenttime")) {
		int64_t day = floor_div(us, COFFER_US_PER_DAY);
		coffer_buf_put_u64(out, (uint64_t)((us - day * COFFER_US_PER_DAY) * 1000));
		*kind = COFFER_DT_TIME;
		return COFFER_OK;
	}
	if (!from_now && (name_is(n, "tounixtimestamp") || name_is(n, "unixtimestampof"))) {
		coffer_buf_put_u64(out, (uint64_t)floor_div(us, 1000));
		*kind = COFFER_DT_BIGINT;
		return COFFER_OK;
	}
	if (!from_now && (name_is(n, "mintimeuuid") || name_is(n, "maxtimeuuid"))) {
		TRY(make_timeuuid(floor_div(us, 1000) * 1000 + (name_is(n, "maxtimeuuid") ? 999 : 0), u,
				  name_is(n, "mintimeuuid"), name_is(n, "maxtimeuuid")));
		coffer_buf_put(out, u, 16);
		*kind = COFFER_DT_TIMEUUID;
		return COFFER_OK;
	}
	BAIL(COFFER_E_INVALID, "Unknown function '%s' or wrong arguments for it", n);
}

static bool has_dynamic(const struct coffer_cql_term *t)
{
	if (t->kind == COFFER_CQL_TERM_BIND || t->kind == COFFER_CQL_TERM_FUNCTION)
		return true;
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i] && has_dynamic(t->items[i]))
			return true;
	return false;
}

/* A collection or tuple literal holding markers or calls, element by element. */
static COFFER_RESULT build_composite(struct coffer_exec *x, const struct coffer_cql_term *term,
				     const struct coffer_datatype *type, const char *column, struct coffer_slice *out)
{
	struct coffer_buf b = {0};
	coffer_rc rc = COFFER_OK;
	bool tuple = type->kind == COFFER_DT_TUPLE;
	bool map = type->kind == COFFER_DT_MAP;

	if (tuple) {
		ENSURE(term->kind == COFFER_CQL_TERM_TUPLE && term->nitems <= type->nparams, COFFER_E_INVALID,
		       "Invalid tuple literal for %s of type %s", column, type_name(x, type));
	} else {
		bool ok = type->kind == COFFER_DT_LIST ? term->kind == COFFER_CQL_TERM_LIST
			  : type->kind == COFFER_DT_SET ? term->kind == COFFER_CQL_TERM_SET
							 : term->kind == COFFER_CQL_TERM_MAP;
		ENSURE(ok, COFFER_E_INVALID, "Invalid collection literal for %s of type %s", column, type_name(x, type));
		coffer_buf_put_u32(&b, (uint32_t)(map ? term->nitems / 2 : term->nitems));
	}
	for (size_t i = 0; i < term->nitems; i++) {
		const struct coffer_datatype *et = tuple ? type->params[i] : map ? type->params[i % 2] : type->params[0];
		struct coffer_slice v;
		bool is_null, is_unset;
		TRY_FAIL(exec_term_value(x, term->items[i], et, column, &v, &is_null, &is_unset));
		if (is_null || is_unset) {
			ENSURE_FAIL(tuple, COFFER_E_INVALID, "null is not supported inside collections");
			coffer_buf_put_u32(&b, UINT32_MAX);
			continue;
		}
		coffer_buf_put_u32(&b, (uint32_t)v.len);
		coffer_buf_put(&b, v.ptr, v.len);
	}
	if (type->kind == COFFER_DT_SET || map) {
		struct coffer_buf norm = {0};
		rc = coffer_value_normalize(type, coffer_buf_slice(&b), &norm);
		if (rc == COFFER_OK)
			*out = arena_copy(x, norm.ptr, norm.len);
		coffer_buf_free(&norm);
	} else {
		*out = arena_copy(x, b.ptr, b.len);
	}
fail:
	coffer_buf_free(&b);
	return rc;
}

static bool kind_assignable(enum coffer_datatype_kind from, enum coffer_datatype_kind to)
{
	return from == to || (from == COFFER_DT_TIMEUUID && to == COFFER_DT_UUID) ||
	       (from == COFFER_DT_BIGINT && to == COFFER_DT_COUNTER);
}

COFFER_RESULT exec_term_value(struct coffer_exec *x, const struct coffer_cql_term *term,
			      const struct coffer_datatype *type, const char *column, struct coffer_slice *out,
			      bool *is_null, bool *is_unset)
{
	*is_null = false;
	*is_unset = false;
	*out = coffer_slice_of(NULL, 0);
	ENSURE(term, COFFER_E_INTERNAL, "no term for %s", column);
	switch (term->kind) {
	case COFFER_CQL_TERM_BIND: {
		ENSURE(term->bind_index >= 0 && (size_t)term->bind_index < x->n_values && x->values, COFFER_E_INVALID,
		       "No value has been bound for %s (marker %d)", column, term->bind_index);
		const struct coffer_proto_value *pv = &x->values[term->bind_index];
		if (pv->kind == COFFER_PROTO_VALUE_NULL) {
			*is_null = true;
			return COFFER_OK;
		}
		if (pv->kind == COFFER_PROTO_VALUE_UNSET) {
			*is_unset = true;
			return COFFER_OK;
		}
		const struct coffer_datatype *vt = type->kind == COFFER_DT_COUNTER ? coffer_datatype_of(COFFER_DT_BIGINT) : type;
		if (coffer_value_validate(vt, pv->bytes) != COFFER_OK) {
			char *why = coffer_arena_strdup(x->arena, coffer_error_msg());
			BAIL(COFFER_E_INVALID, "Invalid value bound for %s of type %s: %s", column, type_name(x, type), why);
		}
		if (type->kind == COFFER_DT_SET || type->kind == COFFER_DT_MAP) {
			struct coffer_buf norm = {0};
			coffer_rc rc = coffer_value_normalize(type, pv->bytes, &norm);
			if (rc == COFFER_OK)
				*out = arena_copy(x, norm.ptr, norm.len);
			coffer_buf_free(&norm);
			return rc;
		}
		*out = pv->bytes;
		return COFFER_OK;
	}
	case COFFER_CQL_TERM_FUNCTION: {
		struct coffer_buf b = {0};
		enum coffer_datatype_kind k;
		coffer_rc rc = eval_function(x, term, &b, &k, 0);
		if (rc == COFFER_OK && !kind_assignable(k, type->kind))
			rc = coffer_error_set(COFFER_E_INVALID, COFFER_WHERE,
					      "Type error: cannot assign result of function system.%s (type %s) to %s (type %s)",
					      term->text, coffer_datatype_kind_name(k), column, type_name(x, type));
		if (rc == COFFER_OK)
			*out = arena_copy(x, b.ptr, b.len);
		coffer_buf_free(&b);
		return rc;
	}
	case COFFER_CQL_TERM_LIST:
	case COFFER_CQL_TERM_SET:
	case COFFER_CQL_TERM_MAP:
	case COFFER_CQL_TERM_TUPLE:
		if (has_dynamic(term) && (coffer_datatype_kind_is_collection(type->kind) || type->kind == COFFER_DT_TUPLE))
			return build_composite(x, term, type, column, out);
		break;
	default:
		break;
	}
	struct coffer_buf b = {0};
	const struct coffer_datatype *ct = type->kind == COFFER_DT_COUNTER ? coffer_datatype_of(COFFER_DT_BIGINT) : type;
	coffer_rc rc = coffer_cql_literal_coerce(term, ct, column, &b, is_null);
	if (rc == COFFER_OK)
		*out = arena_copy(x, b.ptr, b.len);
	coffer_buf_free(&b);
	return rc;
}
