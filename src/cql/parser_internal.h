/*
 * parser_internal.h - what the two halves of the CQL parser share: the parser
 * state, growable arrays copied into the arena, token helpers and error
 * messages, identifiers, types and terms (parser_terms.c), used by the
 * statement grammar (parser.c). Private to src/cql.
 */
#ifndef COFFER_CQL_PARSER_INTERNAL_H
#define COFFER_CQL_PARSER_INTERNAL_H

#include "cql/cql.h"

struct parser {
	struct coffer_arena *a;
	const char *text;
	struct coffer_cql_token *t;
	size_t n;
	size_t pos;
	int depth;
	/* bind marker names, in order (heap; copied at the end) */
	const char **binds;
	int nbind;
};

/* A heap vector of pointers/structs, copied into the arena when done. */
struct vec {
	void *items;
	size_t n, cap, size;
};

#define VEC(type) {NULL, 0, 0, sizeof(type)}

struct coffer_cql_token *coffer_cqlp_peek(struct parser *p);
struct coffer_cql_token *coffer_cqlp_peek_at(struct parser *p, size_t k);
struct coffer_cql_token *coffer_cqlp_next(struct parser *p);
bool coffer_cqlp_tok_is_kw(const struct coffer_cql_token *t, const char *kw);
bool coffer_cqlp_tok_is_punct(const struct coffer_cql_token *t, const char *s);
bool coffer_cqlp_is_kw(struct parser *p, const char *kw);
bool coffer_cqlp_is_punct(struct parser *p, const char *s);
COFFER_RESULT coffer_cqlp_err_mismatch(struct parser *p, const struct coffer_cql_token *t, const char *want);
COFFER_RESULT coffer_cqlp_err_noviable(struct parser *p, const struct coffer_cql_token *t);
bool coffer_cqlp_accept_kw(struct parser *p, const char *kw);
bool coffer_cqlp_accept_punct(struct parser *p, const char *s);
COFFER_RESULT coffer_cqlp_expect_kw(struct parser *p, const char *kw);
COFFER_RESULT coffer_cqlp_expect_punct(struct parser *p, const char *s);
const char *coffer_cqlp_src_span(struct parser *p, size_t from_tok, size_t to_tok_excl);
bool coffer_cqlp_at_ident(struct parser *p);
COFFER_RESULT coffer_cqlp_ident(struct parser *p, const char **out);
COFFER_RESULT coffer_cqlp_qname(struct parser *p, struct coffer_cql_qname *q);
COFFER_RESULT coffer_cqlp_ident_list(struct parser *p, const char ***out, size_t *n);
COFFER_RESULT coffer_cqlp_parse_type(struct parser *p, bool freeze, int depth, struct coffer_datatype **out);
COFFER_RESULT coffer_cqlp_parse_term(struct parser *p, struct coffer_cql_term **out);
struct coffer_cql_term *coffer_cqlp_term_new(struct parser *p, enum coffer_cql_term_kind k,
					const struct coffer_cql_token *at);
void *coffer_cqlp_vec_push(struct vec *v);
void *coffer_cqlp_vec_finish(struct parser *p, struct vec *v, size_t *n);
void coffer_cqlp_vec_free(struct vec *v);
struct coffer_cql_term *coffer_cqlp_bind_new(struct parser *p, const struct coffer_cql_token *at,
					const char *name);
COFFER_RESULT coffer_cqlp_term_list(struct parser *p, const char *close, struct coffer_cql_term ***items,
			   size_t *n);

#endif
