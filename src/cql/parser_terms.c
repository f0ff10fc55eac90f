/*
 * parser_terms.c - the lower half of the CQL parser: token helpers and
 * Cassandra-style error messages, identifiers (reserved words refused unless
 * quoted), CQL types, and terms (literals, bind markers, collection and tuple
 * literals, function calls, type hints). parser.c builds statements on these.
 *
 * Invariants:
 *  1. The token cursor never passes the final EOF token.
 *  2. Recursion in types and terms is bounded (COFFER_DT_MAX_DEPTH,
 *     COFFER_CQL_MAX_DEPTH); past it the parse fails with COFFER_E_LIMIT.
 *  3. Heap memory (growing arrays, bind names) is either copied into the
 *     arena and freed, or freed on the failure path.
 */
#include "cql/parser_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
/* Cassandra's reserved keywords (cql3 docs, appendix A). */
static const char *const reserved[] = {
	"add", "allow", "alter", "and", "apply", "asc", "authorize", "batch", "begin", "by",
	"columnfamily", "create", "delete", "desc", "describe", "drop", "entries", "execute",
	"from", "full", "grant", "if", "in", "index", "infinity", "insert", "into", "keyspace",
	"limit", "modify", "nan", "norecursive", "not", "null", "of", "on", "or", "order",
	"primary", "rename", "replace", "revoke", "schema", "select", "set", "table", "to",
	"token", "truncate", "unlogged", "update", "use", "using", "view", "where", "with",
};

static bool is_reserved(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(reserved[i], s) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------ growable arrays */



void *coffer_cqlp_vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->items = coffer_xrealloc(v->items, v->cap * v->size);
	}
	memset((char *)v->items + v->n * v->size, 0, v->size);
	return (char *)v->items + v->size * v->n++;
}

void *coffer_cqlp_vec_finish(struct parser *p, struct vec *v, size_t *n)
{
	void *out = NULL;

	if (v->n)
		out = coffer_arena_memdup(p->a, v->items, v->n * v->size);
	*n = v->n;
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
	return out;
}

void coffer_cqlp_vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
}


/* ------------------------------------------------------------ tokens */

struct coffer_cql_token *coffer_cqlp_peek(struct parser *p)
{
	return &p->t[p->pos];
}

struct coffer_cql_token *coffer_cqlp_peek_at(struct parser *p, size_t k)
{
	size_t i = p->pos + k;

	return &p->t[i < p->n ? i : p->n - 1];
}

struct coffer_cql_token *coffer_cqlp_next(struct parser *p)
{
	struct coffer_cql_token *t = &p->t[p->pos];

	if (t->kind != COFFER_CQL_TOK_EOF)
		p->pos++;
	return t;
}

bool coffer_cqlp_tok_is_kw(const struct coffer_cql_token *t, const char *kw)
{
	return t->kind == COFFER_CQL_TOK_IDENT && strcmp(t->text, kw) == 0;
}

bool coffer_cqlp_tok_is_punct(const struct coffer_cql_token *t, const char *s)
{
	return t->kind == COFFER_CQL_TOK_PUNCT && strcmp(t->text, s) == 0;
}

bool coffer_cqlp_is_kw(struct parser *p, const char *kw)
{
	return coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), kw);
}

bool coffer_cqlp_is_punct(struct parser *p, const char *s)
{
	return coffer_cqlp_tok_is_punct(coffer_cqlp_peek(p), s);
}

/* The token as the user wrote it, shortened for messages. */
static void tok_show(struct parser *p, const struct coffer_cql_token *t, char *buf, size_t n)
{
	size_t len;

	if (t->kind == COFFER_CQL_TOK_EOF) {
		snprintf(buf, n, "<EOF>");
		return;
	}
	len = t->end - t->start;
	if (len > 64)
		snprintf(buf, n, "%.*s...", 64, p->text + t->start);
	else
		snprintf(buf, n, "%.*s", (int)len, p->text + t->start);
}

coffer_rc coffer_cqlp_err_mismatch(struct parser *p, const struct coffer_cql_token *t, const char *want)
{
	char show[80];

	tok_show(p, t, show, sizeof(show));
	BAIL(COFFER_E_SYNTAX, "line %d:%d mismatched input '%s' expecting %s", t->line, t->col, show,
	     want);
}

coffer_rc coffer_cqlp_err_noviable(struct parser *p, const struct coffer_cql_token *t)
{
	char show[80];

	tok_show(p, t, show, sizeof(show));
	BAIL(COFFER_E_SYNTAX, "line %d:%d no viable alternative at input '%s'", t->line, t->col, show);
}

bool coffer_cqlp_accept_kw(struct parser *p, const char *kw)
{
	if (!coffer_cqlp_is_kw(p, kw))
		return false;
	coffer_cqlp_next(p);
	return true;
}

bool coffer_cqlp_accept_punct(struct parser *p, const char *s)
{
	if (!coffer_cqlp_is_punct(p, s))
		return false;
	coffer_cqlp_next(p);
	return true;
}

coffer_rc coffer_cqlp_expect_kw(struct parser *p, const char *kw)
{
	char up[32];
	size_t i;

	if (coffer_cqlp_accept_kw(p, kw))
		return COFFER_OK;
	for (i = 0; kw[i] && i + 1 < sizeof(up); i++)
		up[i] = (char)(kw[i] >= 'a' && kw[i] <= 'z' ? kw[i] - 32 : kw[i]);
	up[i] = '\0';
	return coffer_cqlp_err_mismatch(p, coffer_cqlp_peek(p), up);
}

coffer_rc coffer_cqlp_expect_punct(struct parser *p, const char *s)
{
	char want[8];

	if (coffer_cqlp_accept_punct(p, s))
		return COFFER_OK;
	snprintf(want, sizeof(want), "'%s'", s);
	return coffer_cqlp_err_mismatch(p, coffer_cqlp_peek(p), want);
}

const char *coffer_cqlp_src_span(struct parser *p, size_t from_tok, size_t to_tok_excl)
{
	size_t s, e;

	if (to_tok_excl <= from_tok)
		return coffer_arena_strdup(p->a, "");
	s = p->t[from_tok].start;
	e = p->t[to_tok_excl - 1].end;
	return coffer_arena_strndup(p->a, p->text + s, e - s);
}

/* ------------------------------------------------------------ identifiers */

bool coffer_cqlp_at_ident(struct parser *p)
{
	const struct coffer_cql_token *t = coffer_cqlp_peek(p);

	return t->kind == COFFER_CQL_TOK_QIDENT ||
	       (t->kind == COFFER_CQL_TOK_IDENT && !is_reserved(t->text));
}

/* An identifier (column, table, keyspace, alias): unquoted and not reserved,
 * or quoted. */
coffer_rc coffer_cqlp_ident(struct parser *p, const char **out)
{
	if (!coffer_cqlp_at_ident(p))
		return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
	*out = coffer_cqlp_next(p)->text;
	return COFFER_OK;
}

coffer_rc coffer_cqlp_qname(struct parser *p, struct coffer_cql_qname *q)
{
	const char *first;

	TRY(coffer_cqlp_ident(p, &first));
	if (coffer_cqlp_accept_punct(p, ".")) {
		q->keyspace = first;
		return coffer_cqlp_ident(p, &q->name);
	}
	q->keyspace = NULL;
	q->name = first;
	return COFFER_OK;
}

coffer_rc coffer_cqlp_ident_list(struct parser *p, const char ***out, size_t *n)
{
	struct vec v = VEC(const char *);
	coffer_rc rc;

	do {
		const char **slot = coffer_cqlp_vec_push(&v);

		TRY_FAIL(coffer_cqlp_ident(p, slot));
	} while (coffer_cqlp_accept_punct(p, ","));
	*out = coffer_cqlp_vec_finish(p, &v, n);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* ------------------------------------------------------------ types */


/* Puts the position in front of a type rule's message. */
static coffer_rc type_error(const struct coffer_cql_token *t)
{
	return coffer_error_wrap("line %d:%d", t->line, t->col);
}

coffer_rc coffer_cqlp_parse_type(struct parser *p, bool freeze, int depth, struct coffer_datatype **out)
{
	struct coffer_cql_token *t = coffer_cqlp_peek(p);
	enum coffer_datatype_kind kind;
	struct vec params = VEC(struct coffer_datatype *);
	struct coffer_datatype **pv;
	size_t np;
	coffer_rc rc;

	ENSURE(depth <= COFFER_DT_MAX_DEPTH, COFFER_E_LIMIT,
	       "line %d:%d type nesting deeper than %d levels", t->line, t->col, COFFER_DT_MAX_DEPTH);
	if (t->kind == COFFER_CQL_TOK_STRING)
		BAIL(COFFER_E_INVALID, "line %d:%d custom types are not supported", t->line, t->col);
	if (t->kind != COFFER_CQL_TOK_IDENT && t->kind != COFFER_CQL_TOK_QIDENT)
		return coffer_cqlp_err_noviable(p, t);
	if (coffer_cqlp_tok_is_kw(t, "frozen")) {
		struct coffer_datatype *inner = NULL;

		coffer_cqlp_next(p);
		TRY(coffer_cqlp_expect_punct(p, "<"));
		TRY(coffer_cqlp_parse_type(p, true, depth + 1, &inner));
		TRY(coffer_cqlp_expect_punct(p, ">"));
		if (!coffer_datatype_kind_is_collection(inner->kind) && inner->kind != COFFER_DT_TUPLE)
			BAIL(COFFER_E_INVALID,
			     "frozen<> is only allowed on collections, tuples, and user-defined types");
		inner->frozen = true;
		*out = inner;
		return COFFER_OK;
	}
	if (t->kind == COFFER_CQL_TOK_QIDENT || !coffer_datatype_kind_lookup(t->text, strlen(t->text), &kind)) {
		/* user-defined types are not supported (yet) */
		if (coffer_cqlp_peek_at(p, 1)->kind == COFFER_CQL_TOK_PUNCT && coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "."))
			BAIL(COFFER_E_INVALID, "line %d:%d Unknown type %s.%s", t->line, t->col, t->text,
			     coffer_cqlp_peek_at(p, 2)->text);
		BAIL(COFFER_E_INVALID, "line %d:%d Unknown type %s", t->line, t->col, t->text);
	}
	coffer_cqlp_next(p);
	if (coffer_datatype_kind_is_collection(kind) || kind == COFFER_DT_TUPLE) {
		TRY(coffer_cqlp_expect_punct(p, "<"));
		do {
			struct coffer_datatype **slot = coffer_cqlp_vec_push(&params);

			TRY_FAIL(coffer_cqlp_parse_type(p, freeze || kind == COFFER_DT_TUPLE, depth + 1, slot));
		} while (coffer_cqlp_accept_punct(p, ","));
		TRY_FAIL(coffer_cqlp_expect_punct(p, ">"));
	}
	pv = coffer_cqlp_vec_finish(p, &params, &np);
	rc = coffer_datatype_make(p->a, kind, freeze && (coffer_datatype_kind_is_collection(kind) ||
						     kind == COFFER_DT_TUPLE),
			      pv, (uint32_t)np, out);
	if (rc != COFFER_OK)
		return type_error(t);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&params);
	return rc;
}

/* ------------------------------------------------------------ terms */

struct coffer_cql_term *coffer_cqlp_term_new(struct parser *p, enum coffer_cql_term_kind k,
					const struct coffer_cql_token *at)
{
	struct coffer_cql_term *t = coffer_arena_zalloc(p->a, sizeof(*t));

	t->kind = k;
	t->line = at->line;
	t->col = at->col;
	return t;
}


struct coffer_cql_term *coffer_cqlp_bind_new(struct parser *p, const struct coffer_cql_token *at,
					const char *name)
{
	struct coffer_cql_term *t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_BIND, at);

	t->bind_index = p->nbind;
	t->bind_name = name;
	p->binds = coffer_xrealloc(p->binds, sizeof(*p->binds) * (size_t)(p->nbind + 1));
	p->binds[p->nbind++] = name;
	return t;
}

/* Terms separated by ',' until `close`; items to *items. */
coffer_rc coffer_cqlp_term_list(struct parser *p, const char *close, struct coffer_cql_term ***items,
			   size_t *n)
{
	struct vec v = VEC(struct coffer_cql_term *);
	coffer_rc rc;

	if (!coffer_cqlp_is_punct(p, close)) {
		do {
			struct coffer_cql_term **slot = coffer_cqlp_vec_push(&v);

			TRY_FAIL(coffer_cqlp_parse_term(p, slot));
		} while (coffer_cqlp_accept_punct(p, ","));
	}
	TRY_FAIL(coffer_cqlp_expect_punct(p, close));
	*items = coffer_cqlp_vec_finish(p, &v, n);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* { ... }: a set, a map, or {} (an empty map, which also serves empty sets). */
static coffer_rc brace_term(struct parser *p, struct coffer_cql_term *t)
{
	struct vec v = VEC(struct coffer_cql_term *);
	coffer_rc rc;
	bool map = false;

	t->kind = COFFER_CQL_TERM_MAP;
	if (coffer_cqlp_accept_punct(p, "}")) {
		t->items = NULL;
		t->nitems = 0;
		return COFFER_OK;
	}
	for (size_t i = 0;; i++) {
		struct coffer_cql_term **slot = coffer_cqlp_vec_push(&v);

		TRY_FAIL(coffer_cqlp_parse_term(p, slot));
		if (i == 0)
			map = coffer_cqlp_is_punct(p, ":");
		if (map) {
			TRY_FAIL(coffer_cqlp_expect_punct(p, ":"));
			slot = coffer_cqlp_vec_push(&v);
			TRY_FAIL(coffer_cqlp_parse_term(p, slot));
		}
		if (!coffer_cqlp_accept_punct(p, ","))
			break;
	}
	TRY_FAIL(coffer_cqlp_expect_punct(p, "}"));
	t->kind = map ? COFFER_CQL_TERM_MAP : COFFER_CQL_TERM_SET;
	t->items = coffer_cqlp_vec_finish(p, &v, &t->nitems);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static bool tok_is_type_name(const struct coffer_cql_token *t)
{
	enum coffer_datatype_kind k;

	return t->kind == COFFER_CQL_TOK_IDENT &&
	       (coffer_datatype_kind_lookup(t->text, strlen(t->text), &k) || strcmp(t->text, "frozen") == 0);
}

static coffer_rc parse_term_inner(struct parser *p, struct coffer_cql_term **out)
{
	struct coffer_cql_token *tok = coffer_cqlp_peek(p);
	struct coffer_cql_term *t;

	switch (tok->kind) {
	case COFFER_CQL_TOK_STRING:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_STRING, tok);
		break;
	case COFFER_CQL_TOK_INTEGER:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_INTEGER, tok);
		break;
	case COFFER_CQL_TOK_FLOAT:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_FLOAT, tok);
		break;
	case COFFER_CQL_TOK_HEX:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_HEX, tok);
		break;
	case COFFER_CQL_TOK_UUID:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_UUID, tok);
		break;
	case COFFER_CQL_TOK_DURATION:
		t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_DURATION, tok);
		break;
	case COFFER_CQL_TOK_IDENT:
		if (coffer_cqlp_tok_is_kw(tok, "null")) {
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_NULL, tok);
		} else if (coffer_cqlp_tok_is_kw(tok, "true") || coffer_cqlp_tok_is_kw(tok, "false")) {
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_BOOLEAN, tok);
			t->boolean = tok->text[0] == 't';
		} else if (coffer_cqlp_tok_is_kw(tok, "nan")) {
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_NAN, tok);
		} else if (coffer_cqlp_tok_is_kw(tok, "infinity")) {
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_INFINITY, tok);
		} else if (coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "(") ||
			   (coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), ".") && coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 3), "("))) {
			/* function call: [ks.]name(args) */
			const char *name = tok->text;

			coffer_cqlp_next(p);
			if (coffer_cqlp_accept_punct(p, ".")) {
				if (coffer_cqlp_peek(p)->kind != COFFER_CQL_TOK_IDENT)
					return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
				name = coffer_arena_strdup(p->a, coffer_cqlp_next(p)->text);
			}
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_FUNCTION, tok);
			t->text = name;
			t->len = strlen(name);
			TRY(coffer_cqlp_expect_punct(p, "("));
			TRY(coffer_cqlp_term_list(p, ")", &t->items, &t->nitems));
			*out = t;
			return COFFER_OK;
		} else {
			return coffer_cqlp_err_noviable(p, tok);
		}
		break;
	case COFFER_CQL_TOK_PUNCT:
		if (coffer_cqlp_tok_is_punct(tok, "?")) {
			coffer_cqlp_next(p);
			*out = coffer_cqlp_bind_new(p, tok, NULL);
			return COFFER_OK;
		}
		if (coffer_cqlp_tok_is_punct(tok, ":")) {
			const struct coffer_cql_token *nt = coffer_cqlp_peek_at(p, 1);

			if (nt->kind != COFFER_CQL_TOK_IDENT && nt->kind != COFFER_CQL_TOK_QIDENT)
				return coffer_cqlp_err_noviable(p, nt);
			coffer_cqlp_next(p);
			coffer_cqlp_next(p);
			*out = coffer_cqlp_bind_new(p, tok, nt->text);
			return COFFER_OK;
		}
		if (coffer_cqlp_tok_is_punct(tok, "-")) {
			const struct coffer_cql_token *nt = coffer_cqlp_peek_at(p, 1);
			char *s;

			if (coffer_cqlp_tok_is_kw(nt, "infinity")) {
				coffer_cqlp_next(p);
				coffer_cqlp_next(p);
				t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_INFINITY, tok);
				t->negative = true;
				t->text = "-infinity";
				t->len = 9;
				*out = t;
				return COFFER_OK;
			}
			if (nt->kind != COFFER_CQL_TOK_INTEGER && nt->kind != COFFER_CQL_TOK_FLOAT &&
			    nt->kind != COFFER_CQL_TOK_DURATION)
				return coffer_cqlp_err_noviable(p, nt);
			coffer_cqlp_next(p);
			coffer_cqlp_next(p);
			t = coffer_cqlp_term_new(p, nt->kind == COFFER_CQL_TOK_INTEGER ? COFFER_CQL_TERM_INTEGER
					: nt->kind == COFFER_CQL_TOK_FLOAT ? COFFER_CQL_TERM_FLOAT
									   : COFFER_CQL_TERM_DURATION,
				     tok);
			s = coffer_arena_alloc(p->a, nt->len + 2);
			s[0] = '-';
			memcpy(s + 1, nt->text, nt->len + 1);
			t->text = s;
			t->len = nt->len + 1;
			*out = t;
			return COFFER_OK;
		}
		if (coffer_cqlp_tok_is_punct(tok, "[")) {
			coffer_cqlp_next(p);
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_LIST, tok);
			TRY(coffer_cqlp_term_list(p, "]", &t->items, &t->nitems));
			*out = t;
			return COFFER_OK;
		}
		if (coffer_cqlp_tok_is_punct(tok, "{")) {
			coffer_cqlp_next(p);
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_MAP, tok);
			TRY(brace_term(p, t));
			*out = t;
			return COFFER_OK;
		}
		if (coffer_cqlp_tok_is_punct(tok, "(")) {
			const struct coffer_cql_token *nt = coffer_cqlp_peek_at(p, 1), *nt2 = coffer_cqlp_peek_at(p, 2);

			coffer_cqlp_next(p);
			if (tok_is_type_name(nt) && (coffer_cqlp_tok_is_punct(nt2, ")") || coffer_cqlp_tok_is_punct(nt2, "<"))) {
				t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_CAST, tok);
				TRY(coffer_cqlp_parse_type(p, false, 1, &t->cast_type));
				TRY(coffer_cqlp_expect_punct(p, ")"));
				t->items = coffer_arena_zalloc(p->a, sizeof(*t->items));
				t->nitems = 1;
				TRY(coffer_cqlp_parse_term(p, &t->items[0]));
				*out = t;
				return COFFER_OK;
			}
			t = coffer_cqlp_term_new(p, COFFER_CQL_TERM_TUPLE, tok);
			TRY(coffer_cqlp_term_list(p, ")", &t->items, &t->nitems));
			if (t->nitems == 0)
				return coffer_cqlp_err_noviable(p, &p->t[p->pos - 1]);
			*out = t;
			return COFFER_OK;
		}
		return coffer_cqlp_err_noviable(p, tok);
	default:
		return coffer_cqlp_err_noviable(p, tok);
	}
	coffer_cqlp_next(p);
	if (!t->text) {
		t->text = tok->text;
		t->len = tok->len;
	}
	*out = t;
	return COFFER_OK;
}

coffer_rc coffer_cqlp_parse_term(struct parser *p, struct coffer_cql_term **out)
{
	size_t start = p->pos;
	coffer_rc rc;

	ENSURE(p->depth < COFFER_CQL_MAX_DEPTH, COFFER_E_LIMIT,
	       "line %d:%d terms nested deeper than %d levels", coffer_cqlp_peek(p)->line, coffer_cqlp_peek(p)->col,
	       COFFER_CQL_MAX_DEPTH);
	p->depth++;
	rc = parse_term_inner(p, out);
	p->depth--;
	if (rc == COFFER_OK)
		(*out)->src = coffer_cqlp_src_span(p, start, p->pos);
	return rc;
}

