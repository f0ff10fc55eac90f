/*
 * copy_value.c - COPY FROM's reading of one CSV field into the serialized
 * value of its column (copy.c does the CSV, the batches and the rest).
 *
 * The column's type picks how the text is read into a CQL literal term:
 * text and ascii as they are (a STRING); integers as INTEGER; float,
 * double and decimal as INTEGER, FLOAT, NaN or [-]Infinity; blobs as HEX
 * after 0x; booleans true/false in any case; uuids, timestamps (also
 * integer milliseconds), dates, times and inets as the STRING forms the CQL
 * module takes; durations as DURATION; collections and tuples are parsed
 * here, element by element: a '...' string ('' for a quote), null (tuples),
 * a nested group, or bare text up to the next ',' or closing bracket (for a
 * map key of a type whose text may hold ':' - timestamps, times, inets -
 * up to a ':' followed by a blank, as COPY TO writes `{k: v}`). The term
 * then goes through coffer_cql_literal_coerce(), which checks it and
 * serializes it with Cassandra's rules and words, sets and maps sorted and
 * deduplicated.
 *
 * Invariants:
 *  1. A text the type cannot take still becomes a term (a STRING), so the
 *     error is the CQL module's ("Invalid STRING constant (abc) for "n" of
 *     type int"), never a silent default.
 *  2. Structural errors name the character where reading stopped.
 *  3. Nesting is bounded by COFFER_DT_MAX_DEPTH (the stack stays small).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "cql/cql.h"
#include "util/alloc.h"

/* A literal being read: text s[0..n), position i. */
struct lit {
	struct coffer_arena *a;
	const char *s;
	size_t n, i;
	char *err;  /* heap: the first structural problem */
};

static struct coffer_cql_term *term_new(struct coffer_arena *a, enum coffer_cql_term_kind k,
					const char *s, size_t n)
{
	struct coffer_cql_term *t = coffer_arena_zalloc(a, sizeof(*t));
	t->kind = k;
	t->text = coffer_arena_strndup(a, s, n);
	t->len = n;
	t->src = t->text;
	return t;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i = n && (s[0] == '-' || s[0] == '+');
	if (i == n)
		return false;
	for (; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A decimal number as CQL writes one (1, -2.5, 3e10): only digits, signs,
 * '.', 'e', at least one digit, and strtod takes all of it. */
static bool is_number(const char *s, size_t n)
{
	bool digit = false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]) && !strchr("+-.eE", s[i]))
			return false;
		digit |= isdigit((unsigned char)s[i]) != 0;
	}
	if (!digit)
		return false;
	char *tmp = coffer_xstrndup(s, n), *end;
	(void)strtod(tmp, &end);
	bool ok = *end == 0;
	free(tmp);
	return ok;
}

/* A scalar's text (already unquoted) as the literal term its type reads. A
 * text the type cannot take still becomes a term (a STRING), so that the
 * coercion names the problem in Cassandra's words. */
static struct coffer_cql_term *scalar_term(struct coffer_arena *a,
					   const struct coffer_datatype *type, const char *s,
					   size_t n)
{
	enum coffer_datatype_kind k = type->kind;
	if (k == COFFER_DT_TEXT || k == COFFER_DT_ASCII)
		return term_new(a, COFFER_CQL_TERM_STRING, s, n);
	/* Other types ignore surrounding blanks. */
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	switch (k) {
	case COFFER_DT_BLOB:
		if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			struct coffer_cql_term *t = term_new(a, COFFER_CQL_TERM_HEX, s + 2, n - 2);
			t->src = coffer_arena_strndup(a, s, n);
			return t;
		}
		break;
	case COFFER_DT_BOOLEAN:
		if ((n == 4 && strncasecmp(s, "true", 4) == 0) ||
		    (n == 5 && strncasecmp(s, "false", 5) == 0)) {
			struct coffer_cql_term *t = term_new(a, COFFER_CQL_TERM_BOOLEAN, s, n);
			t->boolean = n == 4;
			return t;
		}
		break;
	case COFFER_DT_INT:
	case COFFER_DT_BIGINT:
	case COFFER_DT_SMALLINT:
	case COFFER_DT_TINYINT:
	case COFFER_DT_VARINT:
	case COFFER_DT_COUNTER:
		if (all_digits(s, n))
			return term_new(a, COFFER_CQL_TERM_INTEGER, s + (s[0] == '+'),
					n - (s[0] == '+'));
		break;
	case COFFER_DT_TIMESTAMP:
		if (all_digits(s, n))
			return term_new(a, COFFER_CQL_TERM_INTEGER, s, n);
		break;
	case COFFER_DT_FLOAT:
	case COFFER_DT_DOUBLE:
	case COFFER_DT_DECIMAL:
		if (n == 3 && strncasecmp(s, "nan", 3) == 0)
			return term_new(a, COFFER_CQL_TERM_NAN, s, n);
		if ((n == 8 && strncasecmp(s, "infinity", 8) == 0) ||
		    (n == 9 && (s[0] == '-' || s[0] == '+') && strncasecmp(s + 1, "infinity", 8) == 0)) {
			struct coffer_cql_term *t = term_new(a, COFFER_CQL_TERM_INFINITY, s, n);
			t->negative = s[0] == '-';
			return t;
		}
		if (all_digits(s, n))
			return term_new(a, COFFER_CQL_TERM_INTEGER, s + (s[0] == '+'),
					n - (s[0] == '+'));
		if (is_number(s, n))
			return term_new(a, COFFER_CQL_TERM_FLOAT, s, n);
		break;
	case COFFER_DT_DURATION:
		return term_new(a, COFFER_CQL_TERM_DURATION, s, n);
	default:
		break;
	}
	return term_new(a, COFFER_CQL_TERM_STRING, s, n);
}

static void lit_skip(struct lit *l)
{
	while (l->i < l->n && isspace((unsigned char)l->s[l->i]))
		l->i++;
}

static bool lit_fail(struct lit *l, const char *what)
{
	if (!l->err)
		l->err = coffer_xasprintf("%s at character %zu of the value", what, l->i + 1);
	return false;
}

static bool type_text_has_colon(const struct coffer_datatype *t)
{
	return t->kind == COFFER_DT_TIMESTAMP || t->kind == COFFER_DT_TIME ||
	       t->kind == COFFER_DT_INET || t->kind == COFFER_DT_TEXT ||
	       t->kind == COFFER_DT_ASCII;
}

static bool lit_value(struct lit *l, const struct coffer_datatype *t, bool map_key,
		      struct coffer_cql_term **out, int depth);

/* [a, b] {a, b} {k: v} (a, b): the items of a collection or tuple. */
static bool lit_group(struct lit *l, const struct coffer_datatype *t, struct coffer_cql_term **out,
		      int depth)
{
	bool map = t->kind == COFFER_DT_MAP, tuple = t->kind == COFFER_DT_TUPLE;
	char open = t->kind == COFFER_DT_LIST ? '[' : tuple ? '(' : '{';
	char close = open == '[' ? ']' : open == '(' ? ')' : '}';
	struct coffer_cql_term *g;
	struct coffer_cql_term **items = NULL;
	size_t n = 0;

	if (depth > COFFER_DT_MAX_DEPTH)
		return lit_fail(l, "nested too deeply");
	lit_skip(l);
	if (l->i >= l->n || l->s[l->i] != open) {
		char what[40];
		snprintf(what, sizeof(what), "expected '%c'", open);
		return lit_fail(l, what);
	}
	l->i++;
	g = term_new(l->a, t->kind == COFFER_DT_LIST ? COFFER_CQL_TERM_LIST
			   : map ? COFFER_CQL_TERM_MAP : tuple ? COFFER_CQL_TERM_TUPLE
			   : COFFER_CQL_TERM_SET, "", 0);
	lit_skip(l);
	if (l->i < l->n && l->s[l->i] == close) {
		l->i++;
		*out = g;
		return true;
	}
	for (size_t k = 0;; k++) {
		struct coffer_cql_term *item;
		const struct coffer_datatype *et = tuple ? (k < t->nparams ? t->params[k] : NULL)
					      : t->params[0];
		if (!et)
			return free(items), lit_fail(l, "more fields than the tuple type has");
		if (!lit_value(l, et, map, &item, depth + 1))
			return free(items), false;
		items = coffer_xrealloc(items, (n + 2) * sizeof(*items));
		items[n++] = item;
		lit_skip(l);
		if (map) {
			if (l->i >= l->n || l->s[l->i] != ':')
				return free(items), lit_fail(l, "expected ':'");
			l->i++;
			if (!lit_value(l, t->params[1], false, &item, depth + 1))
				return free(items), false;
			items[n++] = item;
			lit_skip(l);
		}
		if (l->i < l->n && l->s[l->i] == ',') {
			l->i++;
			continue;
		}
		if (l->i < l->n && l->s[l->i] == close) {
			l->i++;
			break;
		}
		char what[40];
		snprintf(what, sizeof(what), "expected ',' or '%c'", close);
		return free(items), lit_fail(l, what);
	}
	g->items = coffer_arena_zalloc(l->a, n * sizeof(*items));
	memcpy(g->items, items, n * sizeof(*items));
	g->nitems = n;
	free(items);
	*out = g;
	return true;
}

/* One value inside a collection or tuple: a group, a '...' string, null, or
 * bare text up to the next ',' or closing bracket (for a map key, up to a
 * ':' followed by a blank when the key's own text may hold colons). */
static bool lit_value(struct lit *l, const struct coffer_datatype *t, bool map_key,
		      struct coffer_cql_term **out, int depth)
{
	lit_skip(l);
	if (t->kind == COFFER_DT_TUPLE || coffer_datatype_kind_is_collection(t->kind)) {
		if (l->i + 4 <= l->n && strncasecmp(l->s + l->i, "null", 4) == 0) {
			l->i += 4;
			*out = term_new(l->a, COFFER_CQL_TERM_NULL, "null", 4);
			return true;
		}
		return lit_group(l, t, out, depth);
	}
	if (l->i < l->n && l->s[l->i] == '\'') {
		struct coffer_buf b = {0};
		for (l->i++;; l->i++) {
			if (l->i >= l->n) {
				coffer_buf_free(&b);
				return lit_fail(l, "a quoted string never closes");
			}
			if (l->s[l->i] == '\'' && l->i + 1 < l->n && l->s[l->i + 1] == '\'')
				l->i++;
			else if (l->s[l->i] == '\'')
				break;
			coffer_buf_put_u8(&b, (uint8_t)l->s[l->i]);
		}
		l->i++;
		*out = scalar_term(l->a, t, b.len ? (const char *)b.ptr : "", b.len);
		coffer_buf_free(&b);
		return true;
	}
	size_t start = l->i;
	while (l->i < l->n) {
		char ch = l->s[l->i];
		if (ch == ',' || ch == ']' || ch == '}' || ch == ')')
			break;
		if (map_key && ch == ':' &&
		    (!type_text_has_colon(t) ||
		     (l->i + 1 < l->n && isspace((unsigned char)l->s[l->i + 1]))))
			break;
		l->i++;
	}
	size_t len = l->i - start;
	while (len && isspace((unsigned char)l->s[start + len - 1]))
		len--;
	if (!len)
		return lit_fail(l, "a value is missing");
	if (len == 4 && strncasecmp(l->s + start, "null", 4) == 0)
		*out = term_new(l->a, COFFER_CQL_TERM_NULL, "null", 4);
	else
		*out = scalar_term(l->a, t, l->s + start, len);
	return true;
}

bool coffer_copy_field_value(struct coffer_arena *a, const struct coffer_copy_column *col,
			     const char *s, size_t n, struct coffer_buf *out, bool *is_null,
			     char **err)
{
	struct coffer_cql_term *term;
	const struct coffer_datatype *t = col->type;
	if (t->kind == COFFER_DT_TUPLE || coffer_datatype_kind_is_collection(t->kind)) {
		struct lit l = {a, s, n, 0, NULL};
		if (!lit_group(&l, t, &term, 0)) {
			*err = coffer_xasprintf("Invalid %s literal for %s of type %s: %s",
						t->kind == COFFER_DT_TUPLE ? "tuple"
						: t->kind == COFFER_DT_LIST ? "list"
						: t->kind == COFFER_DT_SET ? "set" : "map",
						col->name, col->type_text, l.err);
			free(l.err);
			return false;
		}
		lit_skip(&l);
		if (l.i != l.n) {
			*err = coffer_xasprintf("Invalid literal for %s of type %s: unexpected text "
						"after the closing bracket", col->name, col->type_text);
			return false;
		}
	} else {
		term = scalar_term(a, t, s, n);
	}
	if (coffer_cql_literal_coerce(term, t, col->name, out, is_null) != COFFER_OK) {
		*err = coffer_xstrdup(coffer_error_msg());
		coffer_error_clear();
		return false;
	}
	return true;
}

