/*
 * parser.c - a hand-written recursive-descent parser for the CQL statements
 * coffer serves (issue 5 and RESTORE TABLE of issue 7), producing an AST in
 * an arena. This file holds the statement grammar; tokens, identifiers,
 * types and terms are in parser_terms.c (shared through parser_internal.h).
 *
 * Grammar notes (after Cassandra's Parser.g):
 *  - keywords are unquoted identifiers compared after folding; the reserved
 *    ones (reserved[] below) cannot name a column, table or keyspace unless
 *    quoted, exactly as in Cassandra;
 *  - terms: literals, bind markers (? and :name), collection and tuple
 *    literals, function calls, type hints "(int) ?";
 *  - one statement per text; a trailing ';' is allowed.
 *
 * Errors are COFFER_E_SYNTAX in ANTLR's words, which drivers and users know
 * from Cassandra: "line L:C mismatched input 'X' expecting Y" when one thing
 * was expected, "line L:C no viable alternative at input 'X'" otherwise.
 *
 * Invariants:
 *  1. The token cursor never passes the final EOF token.
 *  2. Recursion (terms, selectors, types) is bounded by COFFER_CQL_MAX_DEPTH
 *     and COFFER_DT_MAX_DEPTH; past it the parse fails with COFFER_E_LIMIT.
 *  3. Everything reachable from the returned statement is in the arena; the
 *     only heap memory (growing arrays) is copied into the arena and freed
 *     before returning, on success and on failure alike.
 */
#include "cql/parser_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

/* ------------------------------------------------------------ options */

/* name = term (AND name = term)*; a name is an identifier or keyword. */
static coffer_rc option(struct parser *p, struct vec *v)
{
	struct coffer_cql_token *t = coffer_cqlp_peek(p);
	struct coffer_cql_option *o;

	if (t->kind != COFFER_CQL_TOK_IDENT && t->kind != COFFER_CQL_TOK_QIDENT)
		return coffer_cqlp_err_noviable(p, t);
	coffer_cqlp_next(p);
	o = coffer_cqlp_vec_push(v);
	o->name = t->text;
	TRY(coffer_cqlp_expect_punct(p, "="));
	/* a bare identifier value (e.g. "caching = ALL") is kept as a string */
	if (coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_IDENT && !coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), "true") &&
	    !coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), "false") && !coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), "null") &&
	    !coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), "nan") && !coffer_cqlp_tok_is_kw(coffer_cqlp_peek(p), "infinity") &&
	    !coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "(")) {
		struct coffer_cql_token *vt = coffer_cqlp_next(p);
		struct coffer_cql_term *term = coffer_cqlp_term_new(p, COFFER_CQL_TERM_STRING, vt);

		term->text = vt->text;
		term->len = vt->len;
		term->src = coffer_cqlp_src_span(p, p->pos - 1, p->pos);
		o->value = term;
		return COFFER_OK;
	}
	return coffer_cqlp_parse_term(p, &o->value);
}

static coffer_rc options_finish(struct parser *p, struct vec *v, struct coffer_cql_options *o)
{
	size_t i, j;

	o->items = coffer_cqlp_vec_finish(p, v, &o->n);
	for (i = 0; i < o->n; i++)
		for (j = i + 1; j < o->n; j++)
			ENSURE(strcmp(o->items[i].name, o->items[j].name) != 0, COFFER_E_SYNTAX,
			       "Multiple definition for property %s", o->items[i].name);
	return COFFER_OK;
}

static coffer_rc with_options(struct parser *p, struct coffer_cql_options *o)
{
	struct vec v = VEC(struct coffer_cql_option);
	coffer_rc rc;

	do {
		TRY_FAIL(option(p, &v));
	} while (coffer_cqlp_accept_kw(p, "and"));
	return options_finish(p, &v, o);
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

const struct coffer_cql_term *coffer_cql_option(const struct coffer_cql_options *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->items[i].name, name) == 0)
			return o->items[i].value;
	return NULL;
}

/* ------------------------------------------------------------ keyspaces */

static coffer_rc if_not_exists(struct parser *p, bool *out)
{
	if (!coffer_cqlp_accept_kw(p, "if"))
		return COFFER_OK;
	TRY(coffer_cqlp_expect_kw(p, "not"));
	TRY(coffer_cqlp_expect_kw(p, "exists"));
	*out = true;
	return COFFER_OK;
}

static coffer_rc if_exists(struct parser *p, bool *out)
{
	if (!coffer_cqlp_accept_kw(p, "if"))
		return COFFER_OK;
	TRY(coffer_cqlp_expect_kw(p, "exists"));
	*out = true;
	return COFFER_OK;
}

static coffer_rc keyspace_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_keyspace_stmt *k = &s->u.keyspace;

	if (s->kind == COFFER_CQL_CREATE_KEYSPACE)
		TRY(if_not_exists(p, &k->if_not_exists));
	if (s->kind == COFFER_CQL_DROP_KEYSPACE)
		TRY(if_exists(p, &k->if_exists));
	TRY(coffer_cqlp_ident(p, &k->name));
	if (s->kind == COFFER_CQL_DROP_KEYSPACE)
		return COFFER_OK;
	TRY(coffer_cqlp_expect_kw(p, "with"));
	return with_options(p, &k->options);
}

/* ------------------------------------------------------------ tables */

static coffer_rc column_def(struct parser *p, struct coffer_cql_column_def *c)
{
	TRY(coffer_cqlp_ident(p, &c->name));
	TRY(coffer_cqlp_parse_type(p, false, 1, &c->type));
	if (coffer_cqlp_accept_kw(p, "static"))
		c->is_static = true;
	if (coffer_cqlp_accept_kw(p, "primary")) {
		TRY(coffer_cqlp_expect_kw(p, "key"));
		c->primary_key = true;
	}
	return COFFER_OK;
}

static coffer_rc primary_key_clause(struct parser *p, struct coffer_cql_create_table *ct)
{
	struct vec pk = VEC(const char *), ck = VEC(const char *);
	coffer_rc rc;

	TRY(coffer_cqlp_expect_punct(p, "("));
	if (coffer_cqlp_accept_punct(p, "(")) {
		do {
			TRY_FAIL(coffer_cqlp_ident(p, coffer_cqlp_vec_push(&pk)));
		} while (coffer_cqlp_accept_punct(p, ","));
		TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
	} else {
		TRY_FAIL(coffer_cqlp_ident(p, coffer_cqlp_vec_push(&pk)));
	}
	while (coffer_cqlp_accept_punct(p, ","))
		TRY_FAIL(coffer_cqlp_ident(p, coffer_cqlp_vec_push(&ck)));
	TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
	ct->partition_key = coffer_cqlp_vec_finish(p, &pk, &ct->npartition_key);
	ct->clustering = coffer_cqlp_vec_finish(p, &ck, &ct->nclustering);
	ct->has_primary_key_clause = true;
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&pk);
	coffer_cqlp_vec_free(&ck);
	return rc;
}

static coffer_rc clustering_order(struct parser *p, struct coffer_cql_create_table *ct)
{
	struct vec v = VEC(struct coffer_cql_order);
	coffer_rc rc;

	TRY(coffer_cqlp_expect_kw(p, "order"));
	TRY(coffer_cqlp_expect_kw(p, "by"));
	TRY(coffer_cqlp_expect_punct(p, "("));
	do {
		struct coffer_cql_order *o = coffer_cqlp_vec_push(&v);

		TRY_FAIL(coffer_cqlp_ident(p, &o->column));
		if (coffer_cqlp_accept_kw(p, "desc"))
			o->desc = true;
		else
			(void)coffer_cqlp_accept_kw(p, "asc");
	} while (coffer_cqlp_accept_punct(p, ","));
	TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
	ENSURE_FAIL(ct->clustering_order == NULL, COFFER_E_SYNTAX,
		    "Multiple definition for property clustering_order");
	ct->clustering_order = coffer_cqlp_vec_finish(p, &v, &ct->nclustering_order);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static coffer_rc table_options(struct parser *p, struct coffer_cql_create_table *ct,
			       struct coffer_cql_options *opts)
{
	struct vec v = VEC(struct coffer_cql_option);
	coffer_rc rc;

	do {
		if (ct && coffer_cqlp_accept_kw(p, "clustering")) {
			TRY_FAIL(clustering_order(p, ct));
		} else if (ct && coffer_cqlp_accept_kw(p, "compact")) {
			TRY_FAIL(coffer_cqlp_expect_kw(p, "storage"));
			ct->compact_storage = true;
		} else {
			TRY_FAIL(option(p, &v));
		}
	} while (coffer_cqlp_accept_kw(p, "and"));
	return options_finish(p, &v, opts);
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static coffer_rc create_table(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_create_table *ct = &s->u.create_table;
	struct vec cols = VEC(struct coffer_cql_column_def);
	coffer_rc rc;

	TRY(if_not_exists(p, &ct->if_not_exists));
	TRY(coffer_cqlp_qname(p, &ct->table));
	TRY(coffer_cqlp_expect_punct(p, "("));
	do {
		if (coffer_cqlp_is_punct(p, ")"))
			break; /* tolerate a trailing comma, as Cassandra does */
		if (coffer_cqlp_is_kw(p, "primary")) {
			coffer_cqlp_next(p);
			TRY_FAIL(coffer_cqlp_expect_kw(p, "key"));
			ENSURE_FAIL(!ct->has_primary_key_clause, COFFER_E_INVALID,
				    "Multiple PRIMARY KEYs specified (exactly one required)");
			TRY_FAIL(primary_key_clause(p, ct));
		} else {
			TRY_FAIL(column_def(p, coffer_cqlp_vec_push(&cols)));
		}
	} while (coffer_cqlp_accept_punct(p, ","));
	TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
	ct->columns = coffer_cqlp_vec_finish(p, &cols, &ct->ncolumns);
	if (coffer_cqlp_accept_kw(p, "with"))
		TRY(table_options(p, ct, &ct->options));
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&cols);
	return rc;
}

static coffer_rc alter_table(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_alter_table *at = &s->u.alter_table;
	struct vec v = VEC(struct coffer_cql_column_def);
	struct vec from = VEC(const char *), to = VEC(const char *);
	coffer_rc rc;

	TRY(coffer_cqlp_qname(p, &at->table));
	if (coffer_cqlp_accept_kw(p, "add")) {
		at->kind = COFFER_CQL_ALTER_ADD;
		if (coffer_cqlp_accept_punct(p, "(")) {
			do {
				TRY_FAIL(column_def(p, coffer_cqlp_vec_push(&v)));
			} while (coffer_cqlp_accept_punct(p, ","));
			TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
		} else {
			TRY_FAIL(column_def(p, coffer_cqlp_vec_push(&v)));
		}
		at->add = coffer_cqlp_vec_finish(p, &v, &at->nadd);
		for (size_t i = 0; i < at->nadd; i++)
			ENSURE(!at->add[i].primary_key, COFFER_E_INVALID,
			       "Cannot add a PRIMARY KEY column %s", at->add[i].name);
		return COFFER_OK;
	}
	if (coffer_cqlp_accept_kw(p, "drop")) {
		at->kind = COFFER_CQL_ALTER_DROP;
		if (coffer_cqlp_accept_punct(p, "(")) {
			TRY(coffer_cqlp_ident_list(p, &at->drop, &at->ndrop));
			return coffer_cqlp_expect_punct(p, ")");
		}
		at->drop = coffer_arena_zalloc(p->a, sizeof(*at->drop));
		at->ndrop = 1;
		return coffer_cqlp_ident(p, &at->drop[0]);
	}
	if (coffer_cqlp_accept_kw(p, "with")) {
		at->kind = COFFER_CQL_ALTER_WITH;
		return table_options(p, NULL, &at->options);
	}
	if (coffer_cqlp_accept_kw(p, "rename")) {
		at->kind = COFFER_CQL_ALTER_RENAME;
		do {
			TRY_FAIL(coffer_cqlp_ident(p, coffer_cqlp_vec_push(&from)));
			TRY_FAIL(coffer_cqlp_expect_kw(p, "to"));
			TRY_FAIL(coffer_cqlp_ident(p, coffer_cqlp_vec_push(&to)));
		} while (coffer_cqlp_accept_kw(p, "and"));
		at->rename_from = coffer_cqlp_vec_finish(p, &from, &at->nrename);
		at->rename_to = coffer_cqlp_vec_finish(p, &to, &at->nrename);
		return COFFER_OK;
	}
	return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
fail:
	coffer_cqlp_vec_free(&v);
	coffer_cqlp_vec_free(&from);
	coffer_cqlp_vec_free(&to);
	return rc;
}

/* ------------------------------------------------------------ DML pieces */

static coffer_rc using_clause(struct parser *p, struct coffer_cql_using *u, bool ttl_allowed)
{
	if (!coffer_cqlp_accept_kw(p, "using"))
		return COFFER_OK;
	do {
		if (ttl_allowed && coffer_cqlp_accept_kw(p, "ttl")) {
			ENSURE(!u->ttl, COFFER_E_SYNTAX, "line %d:%d duplicate USING TTL", coffer_cqlp_peek(p)->line,
			       coffer_cqlp_peek(p)->col);
			TRY(coffer_cqlp_parse_term(p, &u->ttl));
		} else if (coffer_cqlp_accept_kw(p, "timestamp")) {
			ENSURE(!u->timestamp, COFFER_E_SYNTAX, "line %d:%d duplicate USING TIMESTAMP",
			       coffer_cqlp_peek(p)->line, coffer_cqlp_peek(p)->col);
			TRY(coffer_cqlp_parse_term(p, &u->timestamp));
		} else {
			return coffer_cqlp_err_mismatch(p, coffer_cqlp_peek(p), ttl_allowed ? "TTL or TIMESTAMP" : "TIMESTAMP");
		}
	} while (coffer_cqlp_accept_kw(p, "and"));
	return COFFER_OK;
}

static bool relation_op(struct parser *p, enum coffer_cql_op *op)
{
	static const struct {
		const char *s;
		enum coffer_cql_op op;
	} ops[] = {{"=", COFFER_CQL_OP_EQ}, {"<", COFFER_CQL_OP_LT},  {"<=", COFFER_CQL_OP_LE},
		   {">", COFFER_CQL_OP_GT}, {">=", COFFER_CQL_OP_GE}, {"!=", COFFER_CQL_OP_NEQ}};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (coffer_cqlp_accept_punct(p, ops[i].s)) {
			*op = ops[i].op;
			return true;
		}
	}
	return false;
}

/* After IN: a bind marker for the whole list, or ( terms ). */
static coffer_rc in_values(struct parser *p, struct coffer_cql_term **value,
			   struct coffer_cql_term ***items, size_t *n)
{
	if (coffer_cqlp_is_punct(p, "?") || coffer_cqlp_is_punct(p, ":"))
		return coffer_cqlp_parse_term(p, value);
	TRY(coffer_cqlp_expect_punct(p, "("));
	return coffer_cqlp_term_list(p, ")", items, n);
}

static coffer_rc relation(struct parser *p, struct coffer_cql_relation *r)
{
	struct coffer_cql_token *t = coffer_cqlp_peek(p);

	if (coffer_cqlp_tok_is_punct(t, "(")) {
		/* (c1, c2) op (v1, v2) | (c1, c2) IN ((..), ..) | ... ? */
		coffer_cqlp_next(p);
		r->kind = COFFER_CQL_REL_MULTI;
		TRY(coffer_cqlp_ident_list(p, &r->columns, &r->ncolumns));
		TRY(coffer_cqlp_expect_punct(p, ")"));
		if (coffer_cqlp_accept_kw(p, "in")) {
			r->op = COFFER_CQL_OP_IN;
			return in_values(p, &r->value, &r->in_values, &r->nin);
		}
		if (!relation_op(p, &r->op))
			return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
		return coffer_cqlp_parse_term(p, &r->value);
	}
	if (coffer_cqlp_tok_is_kw(t, "token") && coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "(")) {
		coffer_cqlp_next(p);
		coffer_cqlp_next(p);
		r->kind = COFFER_CQL_REL_TOKEN;
		TRY(coffer_cqlp_ident_list(p, &r->columns, &r->ncolumns));
		TRY(coffer_cqlp_expect_punct(p, ")"));
		if (!relation_op(p, &r->op))
			return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
		return coffer_cqlp_parse_term(p, &r->value);
	}
	r->kind = COFFER_CQL_REL_SINGLE;
	r->columns = coffer_arena_zalloc(p->a, sizeof(*r->columns));
	r->ncolumns = 1;
	TRY(coffer_cqlp_ident(p, &r->columns[0]));
	if (coffer_cqlp_accept_punct(p, "[")) {
		TRY(coffer_cqlp_parse_term(p, &r->map_key));
		TRY(coffer_cqlp_expect_punct(p, "]"));
	}
	if (coffer_cqlp_accept_kw(p, "in")) {
		r->op = COFFER_CQL_OP_IN;
		return in_values(p, &r->value, &r->in_values, &r->nin);
	}
	if (coffer_cqlp_accept_kw(p, "contains")) {
		r->op = coffer_cqlp_accept_kw(p, "key") ? COFFER_CQL_OP_CONTAINS_KEY : COFFER_CQL_OP_CONTAINS;
		return coffer_cqlp_parse_term(p, &r->value);
	}
	if (coffer_cqlp_accept_kw(p, "like")) {
		r->op = COFFER_CQL_OP_LIKE;
		return coffer_cqlp_parse_term(p, &r->value);
	}
	if (!relation_op(p, &r->op))
		return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
	return coffer_cqlp_parse_term(p, &r->value);
}

static coffer_rc where_clause(struct parser *p, struct coffer_cql_relation **out, size_t *n)
{
	struct vec v = VEC(struct coffer_cql_relation);
	coffer_rc rc;

	do {
		TRY_FAIL(relation(p, coffer_cqlp_vec_push(&v)));
	} while (coffer_cqlp_accept_kw(p, "and"));
	*out = coffer_cqlp_vec_finish(p, &v, n);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* IF EXISTS | IF cond AND cond ... (UPDATE and DELETE) */
static coffer_rc conditions(struct parser *p, bool *exists, struct coffer_cql_condition **out,
			    size_t *n)
{
	struct vec v = VEC(struct coffer_cql_condition);
	coffer_rc rc;

	if (!coffer_cqlp_accept_kw(p, "if"))
		return COFFER_OK;
	if (coffer_cqlp_accept_kw(p, "exists")) {
		*exists = true;
		return COFFER_OK;
	}
	do {
		struct coffer_cql_condition *c = coffer_cqlp_vec_push(&v);

		TRY_FAIL(coffer_cqlp_ident(p, &c->column));
		if (coffer_cqlp_accept_punct(p, "[")) {
			TRY_FAIL(coffer_cqlp_parse_term(p, &c->element));
			TRY_FAIL(coffer_cqlp_expect_punct(p, "]"));
		}
		if (coffer_cqlp_accept_kw(p, "in")) {
			c->op = COFFER_CQL_OP_IN;
			TRY_FAIL(in_values(p, &c->value, &c->in_values, &c->nin));
			continue;
		}
		if (!relation_op(p, &c->op)) {
			rc = coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
			goto fail;
		}
		TRY_FAIL(coffer_cqlp_parse_term(p, &c->value));
	} while (coffer_cqlp_accept_kw(p, "and"));
	*out = coffer_cqlp_vec_finish(p, &v, n);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* ------------------------------------------------------------ DML */

static coffer_rc insert_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_insert *in = &s->u.insert;
	const struct coffer_cql_token *vt;
	size_t nvalues;
	int round;

	TRY(coffer_cqlp_expect_kw(p, "into"));
	TRY(coffer_cqlp_qname(p, &in->table));
	if (coffer_cqlp_accept_kw(p, "json")) {
		TRY(coffer_cqlp_parse_term(p, &in->json));
		if (coffer_cqlp_accept_kw(p, "default")) {
			if (coffer_cqlp_accept_kw(p, "unset"))
				in->json_default_unset = true;
			else
				TRY(coffer_cqlp_expect_kw(p, "null"));
		}
	} else {
		TRY(coffer_cqlp_expect_punct(p, "("));
		TRY(coffer_cqlp_ident_list(p, &in->columns, &in->ncolumns));
		TRY(coffer_cqlp_expect_punct(p, ")"));
		TRY(coffer_cqlp_expect_kw(p, "values"));
		vt = coffer_cqlp_peek(p);
		TRY(coffer_cqlp_expect_punct(p, "("));
		TRY(coffer_cqlp_term_list(p, ")", &in->values, &nvalues));
		ENSURE(nvalues == in->ncolumns, COFFER_E_INVALID, "Unmatched column names/values");
		(void)vt;
	}
	/* IF NOT EXISTS and USING, in either order */
	for (round = 0; round < 2; round++) {
		if (coffer_cqlp_is_kw(p, "if"))
			TRY(if_not_exists(p, &in->if_not_exists));
		if (coffer_cqlp_is_kw(p, "using") && !in->using_.ttl && !in->using_.timestamp)
			TRY(using_clause(p, &in->using_, true));
	}
	return COFFER_OK;
}

static coffer_rc assignment(struct parser *p, struct coffer_cql_assignment *as)
{
	TRY(coffer_cqlp_ident(p, &as->column));
	if (coffer_cqlp_accept_punct(p, "[")) {
		as->op = COFFER_CQL_SET_ELEMENT;
		TRY(coffer_cqlp_parse_term(p, &as->key));
		TRY(coffer_cqlp_expect_punct(p, "]"));
		TRY(coffer_cqlp_expect_punct(p, "="));
		return coffer_cqlp_parse_term(p, &as->value);
	}
	if (coffer_cqlp_accept_punct(p, "+=")) {
		as->op = COFFER_CQL_SET_ADD;
		return coffer_cqlp_parse_term(p, &as->value);
	}
	if (coffer_cqlp_accept_punct(p, "-=")) {
		as->op = COFFER_CQL_SET_REMOVE;
		return coffer_cqlp_parse_term(p, &as->value);
	}
	TRY(coffer_cqlp_expect_punct(p, "="));
	/* c = c + v | c = c - v */
	if ((coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_IDENT || coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_QIDENT) &&
	    strcmp(coffer_cqlp_peek(p)->text, as->column) == 0 &&
	    (coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "+") || coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "-"))) {
		coffer_cqlp_next(p);
		as->op = coffer_cqlp_tok_is_punct(coffer_cqlp_next(p), "+") ? COFFER_CQL_SET_ADD : COFFER_CQL_SET_REMOVE;
		return coffer_cqlp_parse_term(p, &as->value);
	}
	as->op = COFFER_CQL_SET_VALUE;
	TRY(coffer_cqlp_parse_term(p, &as->value));
	/* c = v + c (prepend) */
	if (coffer_cqlp_accept_punct(p, "+")) {
		const char *col;
		const struct coffer_cql_token *t = coffer_cqlp_peek(p);

		TRY(coffer_cqlp_ident(p, &col));
		if (strcmp(col, as->column) != 0)
			BAIL(COFFER_E_INVALID, "line %d:%d Only expressions of the form X = <value> + X "
			     "are supported.", t->line, t->col);
		as->op = COFFER_CQL_SET_PREPEND;
	}
	return COFFER_OK;
}

static coffer_rc update_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_update *up = &s->u.update;
	struct vec v = VEC(struct coffer_cql_assignment);
	coffer_rc rc;

	TRY(coffer_cqlp_qname(p, &up->table));
	TRY(using_clause(p, &up->using_, true));
	TRY(coffer_cqlp_expect_kw(p, "set"));
	do {
		TRY_FAIL(assignment(p, coffer_cqlp_vec_push(&v)));
	} while (coffer_cqlp_accept_punct(p, ","));
	up->assignments = coffer_cqlp_vec_finish(p, &v, &up->nassignments);
	TRY(coffer_cqlp_expect_kw(p, "where"));
	TRY(where_clause(p, &up->where, &up->nwhere));
	return conditions(p, &up->if_exists, &up->conditions, &up->nconditions);
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static coffer_rc delete_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_delete *d = &s->u.del;
	struct vec v = VEC(struct coffer_cql_deletion);
	coffer_rc rc;

	if (!coffer_cqlp_is_kw(p, "from")) {
		do {
			struct coffer_cql_deletion *c = coffer_cqlp_vec_push(&v);

			TRY_FAIL(coffer_cqlp_ident(p, &c->column));
			if (coffer_cqlp_accept_punct(p, "[")) {
				TRY_FAIL(coffer_cqlp_parse_term(p, &c->element));
				TRY_FAIL(coffer_cqlp_expect_punct(p, "]"));
			}
		} while (coffer_cqlp_accept_punct(p, ","));
	}
	d->columns = coffer_cqlp_vec_finish(p, &v, &d->ncolumns);
	TRY(coffer_cqlp_expect_kw(p, "from"));
	TRY(coffer_cqlp_qname(p, &d->table));
	TRY(using_clause(p, &d->using_, false));
	TRY(coffer_cqlp_expect_kw(p, "where"));
	TRY(where_clause(p, &d->where, &d->nwhere));
	return conditions(p, &d->if_exists, &d->conditions, &d->nconditions);
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static coffer_rc statement(struct parser *p, struct coffer_cql_stmt **out, bool in_batch);

static coffer_rc batch_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_batch *b = &s->u.batch;
	struct vec v = VEC(struct coffer_cql_stmt *);
	coffer_rc rc;

	if (coffer_cqlp_accept_kw(p, "unlogged"))
		b->type = COFFER_CQL_BATCH_UNLOGGED;
	else if (coffer_cqlp_accept_kw(p, "counter"))
		b->type = COFFER_CQL_BATCH_COUNTER;
	else if (coffer_cqlp_accept_kw(p, "logged"))
		b->type = COFFER_CQL_BATCH_LOGGED;
	TRY(coffer_cqlp_expect_kw(p, "batch"));
	TRY(using_clause(p, &b->using_, false));
	while (!coffer_cqlp_is_kw(p, "apply")) {
		if (coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_EOF) {
			rc = coffer_cqlp_err_mismatch(p, coffer_cqlp_peek(p), "APPLY");
			goto fail;
		}
		TRY_FAIL(statement(p, coffer_cqlp_vec_push(&v), true));
		while (coffer_cqlp_accept_punct(p, ";"))
			;
	}
	coffer_cqlp_next(p);
	TRY_FAIL(coffer_cqlp_expect_kw(p, "batch"));
	b->stmts = coffer_cqlp_vec_finish(p, &v, &b->nstmts);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* ------------------------------------------------------------ SELECT */

static coffer_rc selector(struct parser *p, struct coffer_cql_selector **out);

static coffer_rc selector_inner(struct parser *p, struct coffer_cql_selector *sel)
{
	struct coffer_cql_token *t = coffer_cqlp_peek(p);
	struct vec v = VEC(struct coffer_cql_selector *);
	coffer_rc rc;

	if (t->kind == COFFER_CQL_TOK_IDENT && coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), "(")) {
		const char *fn = t->text;

		coffer_cqlp_next(p);
		coffer_cqlp_next(p);
		if (strcmp(fn, "count") == 0 &&
		    (coffer_cqlp_is_punct(p, "*") || (coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_INTEGER &&
					  strcmp(coffer_cqlp_peek(p)->text, "1") == 0)) &&
		    coffer_cqlp_tok_is_punct(coffer_cqlp_peek_at(p, 1), ")")) {
			coffer_cqlp_next(p);
			coffer_cqlp_next(p);
			sel->kind = COFFER_CQL_SEL_COUNT_STAR;
			sel->name = "count";
			return COFFER_OK;
		}
		if (strcmp(fn, "writetime") == 0 || strcmp(fn, "ttl") == 0) {
			sel->kind = fn[0] == 'w' ? COFFER_CQL_SEL_WRITETIME : COFFER_CQL_SEL_TTL;
			TRY(coffer_cqlp_ident(p, &sel->name));
			return coffer_cqlp_expect_punct(p, ")");
		}
		if (strcmp(fn, "cast") == 0) {
			sel->kind = COFFER_CQL_SEL_CAST;
			sel->name = "cast";
			sel->args = coffer_arena_zalloc(p->a, sizeof(*sel->args));
			sel->nargs = 1;
			TRY(selector(p, &sel->args[0]));
			TRY(coffer_cqlp_expect_kw(p, "as"));
			TRY(coffer_cqlp_parse_type(p, false, 1, &sel->cast_type));
			return coffer_cqlp_expect_punct(p, ")");
		}
		sel->kind = strcmp(fn, "token") == 0 ? COFFER_CQL_SEL_TOKEN : COFFER_CQL_SEL_FUNCTION;
		sel->name = fn;
		if (!coffer_cqlp_is_punct(p, ")")) {
			do {
				TRY_FAIL(selector(p, coffer_cqlp_vec_push(&v)));
			} while (coffer_cqlp_accept_punct(p, ","));
		}
		TRY_FAIL(coffer_cqlp_expect_punct(p, ")"));
		sel->args = coffer_cqlp_vec_finish(p, &v, &sel->nargs);
		if (sel->kind == COFFER_CQL_SEL_TOKEN)
			for (size_t i = 0; i < sel->nargs; i++)
				ENSURE(sel->args[i]->kind == COFFER_CQL_SEL_COLUMN, COFFER_E_INVALID,
				       "line %d:%d token() takes column names", t->line, t->col);
		return COFFER_OK;
	}
	if (coffer_cqlp_at_ident(p)) {
		sel->kind = COFFER_CQL_SEL_COLUMN;
		return coffer_cqlp_ident(p, &sel->name);
	}
	/* a literal as a selector */
	if (t->kind == COFFER_CQL_TOK_IDENT && !coffer_cqlp_tok_is_kw(t, "null") && !coffer_cqlp_tok_is_kw(t, "nan") &&
	    !coffer_cqlp_tok_is_kw(t, "infinity"))
		return coffer_cqlp_err_noviable(p, t);
	sel->kind = COFFER_CQL_SEL_TERM;
	return coffer_cqlp_parse_term(p, &sel->term);
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

static coffer_rc selector(struct parser *p, struct coffer_cql_selector **out)
{
	struct coffer_cql_selector *sel = coffer_arena_zalloc(p->a, sizeof(*sel));
	size_t start = p->pos;
	coffer_rc rc;

	ENSURE(p->depth < COFFER_CQL_MAX_DEPTH, COFFER_E_LIMIT,
	       "line %d:%d selectors nested deeper than %d levels", coffer_cqlp_peek(p)->line, coffer_cqlp_peek(p)->col,
	       COFFER_CQL_MAX_DEPTH);
	p->depth++;
	rc = selector_inner(p, sel);
	p->depth--;
	TRY(rc);
	sel->src = coffer_cqlp_src_span(p, start, p->pos);
	*out = sel;
	return COFFER_OK;
}

static coffer_rc order_by(struct parser *p, struct coffer_cql_select *sel)
{
	struct vec v = VEC(struct coffer_cql_order);
	coffer_rc rc;

	TRY(coffer_cqlp_expect_kw(p, "by"));
	do {
		struct coffer_cql_order *o = coffer_cqlp_vec_push(&v);

		TRY_FAIL(coffer_cqlp_ident(p, &o->column));
		if (coffer_cqlp_accept_kw(p, "desc"))
			o->desc = true;
		else
			(void)coffer_cqlp_accept_kw(p, "asc");
	} while (coffer_cqlp_accept_punct(p, ","));
	sel->order_by = coffer_cqlp_vec_finish(p, &v, &sel->norder_by);
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* "json" and "distinct" are not reserved: they are keywords here only when
 * what follows cannot continue a selector named so. */
static bool select_modifier(struct parser *p, const char *kw)
{
	const struct coffer_cql_token *n1 = coffer_cqlp_peek_at(p, 1);

	if (!coffer_cqlp_is_kw(p, kw))
		return false;
	if (coffer_cqlp_tok_is_kw(n1, "from") || coffer_cqlp_tok_is_kw(n1, "as") || coffer_cqlp_tok_is_punct(n1, ",") ||
	    coffer_cqlp_tok_is_punct(n1, "("))
		return false;
	coffer_cqlp_next(p);
	return true;
}

static coffer_rc select_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_select *sel = &s->u.select;
	struct vec v = VEC(struct coffer_cql_selector *);
	coffer_rc rc;

	sel->json = select_modifier(p, "json");
	sel->distinct = select_modifier(p, "distinct");
	if (coffer_cqlp_accept_punct(p, "*")) {
		sel->star = true;
	} else {
		do {
			struct coffer_cql_selector **slot = coffer_cqlp_vec_push(&v);

			TRY_FAIL(selector(p, slot));
			if (coffer_cqlp_accept_kw(p, "as"))
				TRY_FAIL(coffer_cqlp_ident(p, &(*slot)->alias));
		} while (coffer_cqlp_accept_punct(p, ","));
		sel->selectors = coffer_cqlp_vec_finish(p, &v, &sel->nselectors);
	}
	TRY(coffer_cqlp_expect_kw(p, "from"));
	TRY(coffer_cqlp_qname(p, &sel->table));
	if (coffer_cqlp_accept_kw(p, "where"))
		TRY(where_clause(p, &sel->where, &sel->nwhere));
	if (coffer_cqlp_accept_kw(p, "group")) {
		TRY(coffer_cqlp_expect_kw(p, "by"));
		TRY(coffer_cqlp_ident_list(p, &sel->group_by, &sel->ngroup_by));
	}
	if (coffer_cqlp_accept_kw(p, "order"))
		TRY(order_by(p, sel));
	if (coffer_cqlp_accept_kw(p, "per")) {
		TRY(coffer_cqlp_expect_kw(p, "partition"));
		TRY(coffer_cqlp_expect_kw(p, "limit"));
		TRY(coffer_cqlp_parse_term(p, &sel->per_partition_limit));
	}
	if (coffer_cqlp_accept_kw(p, "limit"))
		TRY(coffer_cqlp_parse_term(p, &sel->limit));
	if (coffer_cqlp_accept_kw(p, "allow")) {
		TRY(coffer_cqlp_expect_kw(p, "filtering"));
		sel->allow_filtering = true;
	}
	return COFFER_OK;
fail:
	coffer_cqlp_vec_free(&v);
	return rc;
}

/* ------------------------------------------------------------ roles */

static coffer_rc role_name(struct parser *p, const char **out)
{
	if (coffer_cqlp_peek(p)->kind == COFFER_CQL_TOK_STRING) {
		*out = coffer_cqlp_next(p)->text;
		return COFFER_OK;
	}
	return coffer_cqlp_ident(p, out);
}

static coffer_rc role_options(struct parser *p, struct coffer_cql_role *r)
{
	do {
		struct coffer_cql_token *t = coffer_cqlp_peek(p);
		struct coffer_cql_term **slot;

		if (coffer_cqlp_tok_is_kw(t, "password"))
			slot = &r->password;
		else if (coffer_cqlp_tok_is_kw(t, "login"))
			slot = &r->login;
		else if (coffer_cqlp_tok_is_kw(t, "superuser"))
			slot = &r->superuser;
		else if (coffer_cqlp_tok_is_kw(t, "options"))
			slot = &r->options;
		else
			return coffer_cqlp_err_mismatch(p, t, "PASSWORD, LOGIN, SUPERUSER or OPTIONS");
		ENSURE(*slot == NULL, COFFER_E_SYNTAX, "Multiple definition for property %s", t->text);
		coffer_cqlp_next(p);
		TRY(coffer_cqlp_expect_punct(p, "="));
		TRY(coffer_cqlp_parse_term(p, slot));
	} while (coffer_cqlp_accept_kw(p, "and"));
	return COFFER_OK;
}

/* CREATE/ALTER USER name [WITH PASSWORD 'x'] [SUPERUSER | NOSUPERUSER] */
static coffer_rc user_options(struct parser *p, struct coffer_cql_role *r)
{
	const struct coffer_cql_token *t;

	r->user_syntax = true;
	if (coffer_cqlp_accept_kw(p, "with")) {
		TRY(coffer_cqlp_expect_kw(p, "password"));
		TRY(coffer_cqlp_parse_term(p, &r->password));
	}
	t = coffer_cqlp_peek(p);
	if (coffer_cqlp_accept_kw(p, "superuser") || coffer_cqlp_accept_kw(p, "nosuperuser")) {
		r->superuser = coffer_cqlp_term_new(p, COFFER_CQL_TERM_BOOLEAN, t);
		r->superuser->boolean = t->text[0] == 's';
		r->superuser->text = r->superuser->boolean ? "true" : "false";
		r->superuser->src = r->superuser->text;
		r->superuser->len = strlen(r->superuser->text);
	}
	r->login = coffer_cqlp_term_new(p, COFFER_CQL_TERM_BOOLEAN, t);
	r->login->boolean = true;
	r->login->text = r->login->src = "true";
	r->login->len = 4;
	return COFFER_OK;
}

static coffer_rc role_stmt(struct parser *p, struct coffer_cql_stmt *s, bool user)
{
	struct coffer_cql_role *r = &s->u.role;

	r->user_syntax = user;
	if (s->kind == COFFER_CQL_CREATE_ROLE)
		TRY(if_not_exists(p, &r->if_not_exists));
	if (s->kind == COFFER_CQL_DROP_ROLE)
		TRY(if_exists(p, &r->if_exists));
	TRY(role_name(p, &r->name));
	if (s->kind == COFFER_CQL_DROP_ROLE)
		return COFFER_OK;
	if (user)
		return user_options(p, r);
	if (coffer_cqlp_accept_kw(p, "with"))
		return role_options(p, r);
	if (s->kind != COFFER_CQL_CREATE_ROLE)
		return coffer_cqlp_err_mismatch(p, coffer_cqlp_peek(p), "WITH");
	return COFFER_OK;
}

static coffer_rc list_stmt(struct parser *p, struct coffer_cql_stmt *s)
{
	struct coffer_cql_role *r = &s->u.role;

	s->kind = COFFER_CQL_LIST_ROLES;
	if (coffer_cqlp_accept_kw(p, "users")) {
		r->user_syntax = true;
		return COFFER_OK;
	}
	TRY(coffer_cqlp_expect_kw(p, "roles"));
	if (coffer_cqlp_accept_kw(p, "of"))
		TRY(role_name(p, &r->of));
	if (coffer_cqlp_accept_kw(p, "norecursive"))
		r->norecursive = true;
	return COFFER_OK;
}

/* ------------------------------------------------------------ statements */

static coffer_rc statement(struct parser *p, struct coffer_cql_stmt **out, bool in_batch)
{
	struct coffer_cql_token *t = coffer_cqlp_peek(p);
	struct coffer_cql_stmt *s = coffer_arena_zalloc(p->a, sizeof(*s));

	*out = s;
	if (in_batch) {
		if (coffer_cqlp_accept_kw(p, "insert")) {
			s->kind = COFFER_CQL_INSERT;
			return insert_stmt(p, s);
		}
		if (coffer_cqlp_accept_kw(p, "update")) {
			s->kind = COFFER_CQL_UPDATE;
			return update_stmt(p, s);
		}
		if (coffer_cqlp_accept_kw(p, "delete")) {
			s->kind = COFFER_CQL_DELETE;
			return delete_stmt(p, s);
		}
		return coffer_cqlp_err_mismatch(p, t, "INSERT, UPDATE, DELETE or APPLY");
	}
	if (t->kind != COFFER_CQL_TOK_IDENT)
		return coffer_cqlp_err_noviable(p, t);
	coffer_cqlp_next(p);
	if (coffer_cqlp_tok_is_kw(t, "select")) {
		s->kind = COFFER_CQL_SELECT;
		return select_stmt(p, s);
	}
	if (coffer_cqlp_tok_is_kw(t, "insert")) {
		s->kind = COFFER_CQL_INSERT;
		return insert_stmt(p, s);
	}
	if (coffer_cqlp_tok_is_kw(t, "update")) {
		s->kind = COFFER_CQL_UPDATE;
		return update_stmt(p, s);
	}
	if (coffer_cqlp_tok_is_kw(t, "delete")) {
		s->kind = COFFER_CQL_DELETE;
		return delete_stmt(p, s);
	}
	if (coffer_cqlp_tok_is_kw(t, "begin")) {
		s->kind = COFFER_CQL_BATCH;
		return batch_stmt(p, s);
	}
	if (coffer_cqlp_tok_is_kw(t, "use")) {
		s->kind = COFFER_CQL_USE;
		return coffer_cqlp_ident(p, &s->u.use_keyspace);
	}
	if (coffer_cqlp_tok_is_kw(t, "truncate")) {
		s->kind = COFFER_CQL_TRUNCATE;
		if (!coffer_cqlp_accept_kw(p, "table"))
			(void)coffer_cqlp_accept_kw(p, "columnfamily");
		return coffer_cqlp_qname(p, &s->u.drop_table.table);
	}
	if (coffer_cqlp_tok_is_kw(t, "list"))
		return list_stmt(p, s);
	if (coffer_cqlp_tok_is_kw(t, "restore")) {
		s->kind = COFFER_CQL_RESTORE_TABLE;
		TRY(coffer_cqlp_expect_kw(p, "table"));
		TRY(coffer_cqlp_qname(p, &s->u.restore.target));
		TRY(coffer_cqlp_expect_kw(p, "from"));
		TRY(coffer_cqlp_expect_kw(p, "table"));
		TRY(coffer_cqlp_qname(p, &s->u.restore.source));
		if (coffer_cqlp_accept_kw(p, "with"))
			TRY(with_options(p, &s->u.restore.options));
		return COFFER_OK;
	}
	if (coffer_cqlp_tok_is_kw(t, "create") || coffer_cqlp_tok_is_kw(t, "alter") || coffer_cqlp_tok_is_kw(t, "drop")) {
		int verb = t->text[0]; /* c, a, d */

		if (coffer_cqlp_accept_kw(p, "keyspace") || coffer_cqlp_accept_kw(p, "schema")) {
			s->kind = verb == 'c' ? COFFER_CQL_CREATE_KEYSPACE
				: verb == 'a' ? COFFER_CQL_ALTER_KEYSPACE : COFFER_CQL_DROP_KEYSPACE;
			return keyspace_stmt(p, s);
		}
		if (coffer_cqlp_accept_kw(p, "table") || coffer_cqlp_accept_kw(p, "columnfamily")) {
			if (verb == 'c') {
				s->kind = COFFER_CQL_CREATE_TABLE;
				return create_table(p, s);
			}
			if (verb == 'a') {
				s->kind = COFFER_CQL_ALTER_TABLE;
				return alter_table(p, s);
			}
			s->kind = COFFER_CQL_DROP_TABLE;
			TRY(if_exists(p, &s->u.drop_table.if_exists));
			return coffer_cqlp_qname(p, &s->u.drop_table.table);
		}
		if (coffer_cqlp_is_kw(p, "role") || coffer_cqlp_is_kw(p, "user")) {
			bool user = coffer_cqlp_next(p)->text[0] == 'u';

			s->kind = verb == 'c' ? COFFER_CQL_CREATE_ROLE
				: verb == 'a' ? COFFER_CQL_ALTER_ROLE : COFFER_CQL_DROP_ROLE;
			return role_stmt(p, s, user);
		}
		return coffer_cqlp_err_noviable(p, coffer_cqlp_peek(p));
	}
	return coffer_cqlp_err_noviable(p, t);
}

COFFER_RESULT coffer_cql_parse(struct coffer_arena *a, const char *text, size_t len,
			       struct coffer_cql_stmt **out)
{
	struct parser p = {0};
	struct coffer_cql_stmt *s = NULL;
	coffer_rc rc;

	p.a = a;
	p.text = text;
	TRY(coffer_cql_lex(a, text, len, &p.t, &p.n));
	TRY_FAIL(statement(&p, &s, false));
	while (coffer_cqlp_accept_punct(&p, ";"))
		;
	if (coffer_cqlp_peek(&p)->kind != COFFER_CQL_TOK_EOF) {
		rc = coffer_cqlp_err_mismatch(&p, coffer_cqlp_peek(&p), "EOF");
		goto fail;
	}
	s->nbind = p.nbind;
	if (p.nbind)
		s->bind_names = coffer_arena_memdup(a, p.binds, sizeof(*p.binds) * (size_t)p.nbind);
	*out = s;
fail:
	free(p.binds);
	return rc;
}

/* ------------------------------------------------------------ names */

const char *coffer_cql_op_name(enum coffer_cql_op op)
{
	static const char *const names[] = {"=", "<", "<=", ">", ">=", "!=", "IN", "CONTAINS",
					    "CONTAINS KEY", "LIKE"};

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *coffer_cql_stmt_kind_name(enum coffer_cql_stmt_kind k)
{
	static const char *const names[] = {
		"USE", "CREATE KEYSPACE", "ALTER KEYSPACE", "DROP KEYSPACE", "CREATE TABLE",
		"ALTER TABLE", "DROP TABLE", "TRUNCATE", "INSERT", "UPDATE", "DELETE", "BATCH",
		"SELECT", "CREATE ROLE", "ALTER ROLE", "DROP ROLE", "LIST ROLES", "RESTORE TABLE"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}
