/*
 * types.c - the CQL type system: names, construction with Cassandra's rules,
 * parsing of type text, the system_schema spelling, and protocol [option]s.
 *
 * Invariants:
 *  1. A type tree is immutable once built and comes wholly from one allocator
 *     (an arena, or the heap); builders deep-copy their inputs, so no two trees
 *     share a node and coffer_datatype_free() can free recursively.
 *  2. Every tree built here obeys the rules checked in type_check(): tuples
 *     are frozen; a collection or tuple inside a collection or tuple is frozen;
 *     counters stand alone; parameter counts match the kind.
 *  3. Nesting is bounded (COFFER_DT_MAX_DEPTH), so recursion over a tree is
 *     bounded too.
 *
 * Printing follows Cassandra's system_schema.columns.type: lower-case names,
 * ", " between parameters, frozen<> written out at every frozen level
 * ("frozen<list<frozen<set<int>>>>"), varchar shown as text.
 */
#include "schema/schema.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

struct kind_name {
	const char *name;
	enum coffer_datatype_kind kind;
};

static const struct kind_name kind_names[] = {
	{"ascii", COFFER_DT_ASCII},       {"bigint", COFFER_DT_BIGINT},
	{"blob", COFFER_DT_BLOB},         {"boolean", COFFER_DT_BOOLEAN},
	{"counter", COFFER_DT_COUNTER},   {"decimal", COFFER_DT_DECIMAL},
	{"double", COFFER_DT_DOUBLE},     {"float", COFFER_DT_FLOAT},
	{"int", COFFER_DT_INT},           {"text", COFFER_DT_TEXT},
	{"varchar", COFFER_DT_TEXT},      {"timestamp", COFFER_DT_TIMESTAMP},
	{"uuid", COFFER_DT_UUID},         {"varint", COFFER_DT_VARINT},
	{"timeuuid", COFFER_DT_TIMEUUID}, {"inet", COFFER_DT_INET},
	{"date", COFFER_DT_DATE},         {"time", COFFER_DT_TIME},
	{"smallint", COFFER_DT_SMALLINT}, {"tinyint", COFFER_DT_TINYINT},
	{"duration", COFFER_DT_DURATION}, {"list", COFFER_DT_LIST},
	{"map", COFFER_DT_MAP},           {"set", COFFER_DT_SET},
	{"tuple", COFFER_DT_TUPLE},
};

const char *coffer_datatype_kind_name(enum coffer_datatype_kind k)
{
	size_t i;

	for (i = 0; i < COFFER_ARRAY_LEN(kind_names); i++)
		if (kind_names[i].kind == k)
			return kind_names[i].name; /* "text" precedes "varchar" */
	return NULL;
}

bool coffer_datatype_kind_lookup(const char *name, size_t n, enum coffer_datatype_kind *out)
{
	size_t i;

	for (i = 0; i < COFFER_ARRAY_LEN(kind_names); i++) {
		if (strlen(kind_names[i].name) == n && strncasecmp(kind_names[i].name, name, n) == 0) {
			*out = kind_names[i].kind;
			return true;
		}
	}
	return false;
}

bool coffer_datatype_kind_is_collection(enum coffer_datatype_kind k)
{
	return k == COFFER_DT_LIST || k == COFFER_DT_SET || k == COFFER_DT_MAP;
}

static bool kind_is_parameterised(enum coffer_datatype_kind k)
{
	return coffer_datatype_kind_is_collection(k) || k == COFFER_DT_TUPLE;
}

/* One static instance per simple kind, indexed by the option id. */
#define SIMPLE(k) [k] = {k, false, 0, NULL}
static const struct coffer_datatype simple_types[0x16] = {
	SIMPLE(COFFER_DT_ASCII),    SIMPLE(COFFER_DT_BIGINT),   SIMPLE(COFFER_DT_BLOB),
	SIMPLE(COFFER_DT_BOOLEAN),  SIMPLE(COFFER_DT_COUNTER),  SIMPLE(COFFER_DT_DECIMAL),
	SIMPLE(COFFER_DT_DOUBLE),   SIMPLE(COFFER_DT_FLOAT),    SIMPLE(COFFER_DT_INT),
	SIMPLE(COFFER_DT_TEXT),     SIMPLE(COFFER_DT_TIMESTAMP), SIMPLE(COFFER_DT_UUID),
	SIMPLE(COFFER_DT_VARINT),   SIMPLE(COFFER_DT_TIMEUUID), SIMPLE(COFFER_DT_INET),
	SIMPLE(COFFER_DT_DATE),     SIMPLE(COFFER_DT_TIME),     SIMPLE(COFFER_DT_SMALLINT),
	SIMPLE(COFFER_DT_TINYINT),  SIMPLE(COFFER_DT_DURATION),
};
#undef SIMPLE

const struct coffer_datatype *coffer_datatype_of(enum coffer_datatype_kind k)
{
	if ((unsigned)k >= COFFER_ARRAY_LEN(simple_types) || simple_types[k].kind != k ||
	    k == COFFER_DT_CUSTOM)
		return NULL;
	return &simple_types[k];
}

static void *type_alloc(struct coffer_arena *a, size_t n)
{
	if (n == 0)
		n = 1;
	return a ? coffer_arena_zalloc(a, n) : coffer_xcalloc(1, n);
}

static unsigned type_depth(const struct coffer_datatype *t)
{
	unsigned d = 0;
	uint32_t i;

	for (i = 0; i < t->nparams; i++) {
		unsigned pd = type_depth(t->params[i]);

		if (pd > d)
			d = pd;
	}
	return d + 1;
}

struct coffer_datatype *coffer_datatype_clone(const struct coffer_datatype *t, struct coffer_arena *a)
{
	struct coffer_datatype *c = type_alloc(a, sizeof(*c));
	uint32_t i;

	c->kind = t->kind;
	c->frozen = t->frozen;
	c->nparams = t->nparams;
	if (t->nparams) {
		c->params = type_alloc(a, sizeof(*c->params) * t->nparams);
		for (i = 0; i < t->nparams; i++)
			c->params[i] = coffer_datatype_clone(t->params[i], a);
	}
	return c;
}

void coffer_datatype_free(struct coffer_datatype *t)
{
	uint32_t i;

	if (!t)
		return;
	for (i = 0; i < t->nparams; i++)
		coffer_datatype_free(t->params[i]);
	free(t->params);
	free(t);
}

bool coffer_datatype_equal(const struct coffer_datatype *a, const struct coffer_datatype *b)
{
	uint32_t i;

	if (a->kind != b->kind || a->frozen != b->frozen || a->nparams != b->nparams)
		return false;
	for (i = 0; i < a->nparams; i++)
		if (!coffer_datatype_equal(a->params[i], b->params[i]))
			return false;
	return true;
}

bool coffer_datatype_is_multicell(const struct coffer_datatype *t)
{
	return coffer_datatype_kind_is_collection(t->kind) && !t->frozen;
}

/* The rules Cassandra applies when a type is declared (CQL3Type.Raw). */
static coffer_rc type_check(enum coffer_datatype_kind kind, bool frozen,
			    struct coffer_datatype *const *params, uint32_t n)
{
	const char *name = coffer_datatype_kind_name(kind);
	uint32_t want = 0, i;

	ENSURE(name != NULL && kind != COFFER_DT_CUSTOM, COFFER_E_INVALID,
	       "Unknown type kind 0x%04x", (unsigned)kind);
	if (kind == COFFER_DT_LIST || kind == COFFER_DT_SET)
		want = 1;
	else if (kind == COFFER_DT_MAP)
		want = 2;
	if (kind == COFFER_DT_TUPLE) {
		ENSURE(n >= 1, COFFER_E_INVALID, "A tuple type needs at least one field");
		ENSURE(n <= COFFER_DT_MAX_TUPLE, COFFER_E_LIMIT,
		       "A tuple type may have at most %d fields", COFFER_DT_MAX_TUPLE);
	} else {
		ENSURE(n == want, COFFER_E_INVALID, "Type %s takes %u parameter(s), got %u", name,
		       want, n);
	}
	ENSURE(!frozen || kind_is_parameterised(kind), COFFER_E_INVALID,
	       "frozen<> is only allowed on collections, tuples and user types");
	for (i = 0; i < n; i++) {
		const struct coffer_datatype *p = params[i];

		ENSURE(p->kind != COFFER_DT_COUNTER, COFFER_E_INVALID,
		       "Counters are not allowed inside collections: %s", name);
		ENSURE(frozen || !(coffer_datatype_kind_is_collection(p->kind) && !p->frozen), COFFER_E_INVALID,
		       "Non-frozen collections are not allowed inside collections: %s<%s>", name,
		       coffer_datatype_kind_name(p->kind));
		ENSURE(p->kind != COFFER_DT_DURATION || kind != COFFER_DT_SET, COFFER_E_INVALID,
		       "Durations are not allowed inside sets");
		ENSURE(p->kind != COFFER_DT_DURATION || kind != COFFER_DT_MAP || i != 0,
		       COFFER_E_INVALID, "Durations are not allowed as map keys");
	}
	return COFFER_OK;
}

/* Inside a frozen type everything is frozen (CQL3Type.Raw.freeze()). */
static void freeze_nested(struct coffer_datatype *t)
{
	uint32_t i;

	for (i = 0; i < t->nparams; i++) {
		if (kind_is_parameterised(t->params[i]->kind))
			t->params[i]->frozen = true;
		freeze_nested(t->params[i]);
	}
}

COFFER_RESULT coffer_datatype_make(struct coffer_arena *a, enum coffer_datatype_kind kind, bool frozen,
			       struct coffer_datatype *const *params, uint32_t nparams,
			       struct coffer_datatype **out)
{
	struct coffer_datatype tmp = {kind, frozen, nparams, (struct coffer_datatype **)params};
	unsigned depth;

	if (kind == COFFER_DT_TUPLE)
		tmp.frozen = frozen = true;
	TRY(type_check(kind, frozen, params, nparams));
	depth = type_depth(&tmp);
	ENSURE(depth <= COFFER_DT_MAX_DEPTH, COFFER_E_LIMIT,
	       "Type nesting deeper than %d levels", COFFER_DT_MAX_DEPTH);
	*out = coffer_datatype_clone(&tmp, a);
	if (frozen)
		freeze_nested(*out);
	return COFFER_OK;
}

/* ------------------------------------------------------------ parse */

struct tparser {
	const char *s;
	size_t len;
	size_t pos;
	struct coffer_arena *a;
};

static void tp_skip_ws(struct tparser *p)
{
	while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static bool tp_accept(struct tparser *p, char c)
{
	tp_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static coffer_rc tp_type(struct tparser *p, unsigned depth, bool freeze, struct coffer_datatype **out);

/* Parses "<" params ">" into a temporary heap array of heap types. */
static coffer_rc tp_params(struct tparser *p, unsigned depth, bool freeze,
			   struct coffer_datatype ***params, uint32_t *n)
{
	struct coffer_datatype **v = NULL;
	uint32_t cnt = 0;
	coffer_rc rc = COFFER_OK;

	ENSURE(tp_accept(p, '<'), COFFER_E_SYNTAX, "Invalid type text at offset %zu: expected '<'",
	       p->pos);
	do {
		struct coffer_datatype *t = NULL;

		ENSURE_FAIL(cnt < COFFER_DT_MAX_TUPLE, COFFER_E_LIMIT,
			    "A tuple type may have at most %d fields", COFFER_DT_MAX_TUPLE);
		TRY_FAIL(tp_type(p, depth + 1, freeze, &t));
		v = coffer_xrealloc(v, sizeof(*v) * (cnt + 1));
		v[cnt++] = t;
	} while (tp_accept(p, ','));
	ENSURE_FAIL(tp_accept(p, '>'), COFFER_E_SYNTAX,
		    "Invalid type text at offset %zu: expected ',' or '>'", p->pos);
	*params = v;
	*n = cnt;
	return COFFER_OK;
fail:
	while (cnt)
		coffer_datatype_free(v[--cnt]);
	free(v);
	return rc;
}

/* Parses one type into a heap tree. `freeze` is set inside frozen<> and
 * tuple<>, where Cassandra freezes nested collections implicitly. */
static coffer_rc tp_type(struct tparser *p, unsigned depth, bool freeze, struct coffer_datatype **out)
{
	struct coffer_datatype **params = NULL;
	uint32_t n = 0, i;
	enum coffer_datatype_kind kind;
	size_t start;
	coffer_rc rc;

	ENSURE(depth <= COFFER_DT_MAX_DEPTH, COFFER_E_LIMIT,
	       "Type nesting deeper than %d levels", COFFER_DT_MAX_DEPTH);
	tp_skip_ws(p);
	start = p->pos;
	while (p->pos < p->len && (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
		p->pos++;
	ENSURE(p->pos > start, COFFER_E_SYNTAX, "Invalid type text at offset %zu: expected a type name",
	       start);
	if (p->pos - start == 6 && strncasecmp(p->s + start, "frozen", 6) == 0) {
		struct coffer_datatype *inner_t = NULL;

		ENSURE(tp_accept(p, '<'), COFFER_E_SYNTAX,
		       "Invalid type text at offset %zu: expected '<' after frozen", p->pos);
		TRY(tp_type(p, depth + 1, true, &inner_t));
		if (!tp_accept(p, '>')) {
			coffer_datatype_free(inner_t);
			BAIL(COFFER_E_SYNTAX, "Invalid type text at offset %zu: expected '>'", p->pos);
		}
		if (!kind_is_parameterised(inner_t->kind)) {
			const char *nm = coffer_datatype_kind_name(inner_t->kind);

			coffer_datatype_free(inner_t);
			BAIL(COFFER_E_INVALID, "frozen<> is only allowed on collections, tuples, and "
			     "user-defined types (got %s)", nm);
		}
		inner_t->frozen = true;
		*out = inner_t;
		return COFFER_OK;
	}
	ENSURE(coffer_datatype_kind_lookup(p->s + start, p->pos - start, &kind), COFFER_E_INVALID,
	       "Unknown type %.*s", (int)(p->pos - start > 64 ? 64 : p->pos - start), p->s + start);
	if (kind_is_parameterised(kind))
		TRY(tp_params(p, depth, freeze || kind == COFFER_DT_TUPLE, &params, &n));
	rc = coffer_datatype_make(NULL, kind, freeze && kind_is_parameterised(kind), params, n, out);
	for (i = 0; i < n; i++)
		coffer_datatype_free(params[i]);
	free(params);
	return rc;
}

COFFER_RESULT coffer_datatype_parse(const char *text, size_t len, struct coffer_arena *a,
				struct coffer_datatype **out)
{
	struct tparser p = {text, len, 0, a};
	struct coffer_datatype *t = NULL;
	coffer_rc rc;

	TRY(tp_type(&p, 1, false, &t));
	tp_skip_ws(&p);
	if (p.pos != p.len) {
		coffer_datatype_free(t);
		BAIL(COFFER_E_SYNTAX, "Invalid type text at offset %zu: unexpected trailing text",
		     p.pos);
	}
	/* Re-check the whole tree (frozen flags set after construction). */
	rc = coffer_datatype_make(a, t->kind, t->frozen, t->params, t->nparams, out);
	coffer_datatype_free(t);
	return rc;
}

/* ------------------------------------------------------------ print */

void coffer_datatype_format(const struct coffer_datatype *t, struct coffer_buf *out)
{
	uint32_t i;

	if (t->frozen)
		coffer_buf_printf(out, "frozen<");
	coffer_buf_printf(out, "%s", coffer_datatype_kind_name(t->kind));
	if (t->nparams) {
		coffer_buf_put_u8(out, '<');
		for (i = 0; i < t->nparams; i++) {
			if (i)
				coffer_buf_put(out, ", ", 2);
			coffer_datatype_format(t->params[i], out);
		}
		coffer_buf_put_u8(out, '>');
	}
	if (t->frozen)
		coffer_buf_put_u8(out, '>');
}

char *coffer_datatype_to_string(const struct coffer_datatype *t)
{
	struct coffer_buf b = {0};
	char *s;

	coffer_datatype_format(t, &b);
	s = coffer_xstrdup(coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return s;
}

/* ------------------------------------------------------------ [option] */

#define DURATION_CLASS "org.apache.cassandra.db.marshal.DurationType"

uint16_t coffer_datatype_option_id(const struct coffer_datatype *t)
{
	/* v4 has no duration id: it travels as a custom type. */
	if (t->kind == COFFER_DT_DURATION)
		return COFFER_DT_CUSTOM;
	return (uint16_t)t->kind;
}

const char *coffer_datatype_custom_class(const struct coffer_datatype *t)
{
	return t->kind == COFFER_DT_DURATION ? DURATION_CLASS : NULL;
}

/*
 * Native protocol v4, section 4.2.5.2 ([option] in result metadata):
 *   0x0000 Custom: the value is a [string]       0x0020 List: the value is an [option]
 *   0x0021 Map: two [option]s (key, value)       0x0022 Set: the value is an [option]
 *   0x0031 Tuple: [short] n, then n [option]s
 */
void coffer_datatype_write_option(const struct coffer_datatype *t, struct coffer_buf *out)
{
	uint32_t i;

	coffer_buf_put_u16(out, coffer_datatype_option_id(t));
	if (t->kind == COFFER_DT_DURATION) {
		coffer_buf_put_u16(out, (uint16_t)strlen(DURATION_CLASS));
		coffer_buf_put(out, DURATION_CLASS, strlen(DURATION_CLASS));
		return;
	}
	if (t->kind == COFFER_DT_TUPLE)
		coffer_buf_put_u16(out, (uint16_t)t->nparams);
	for (i = 0; i < t->nparams; i++)
		coffer_datatype_write_option(t->params[i], out);
}
