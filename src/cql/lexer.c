/*
 * lexer.c - CQL text to tokens, following Cassandra's Lexer.g where drivers
 * depend on it: identifiers (unquoted folded to lower case, "quoted" with ""
 * escaping), '...' strings with '' escaping, $$...$$ strings, integers and
 * floats, 0x blobs, bare UUIDs, durations (1h30m), punctuation, and comments
 * (-- and // to the end of the line, non-nesting block comments).
 *
 * A '-' is always its own token: the parser joins it to a following number,
 * so that "c = c -1" and "c = c - 1" both read as a subtraction.
 *
 * Invariants:
 *  1. Every token records its byte span [start, end) in the input and its
 *     position (line 1-based, column 0-based) for error messages.
 *  2. The lexer only reads inside [text, text+len); embedded NULs are refused
 *     as unrecognised characters outside strings.
 *  3. The token list always ends with one EOF token.
 */
#include "cql/cql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

struct lexer {
	struct coffer_arena *a;
	const char *s;
	size_t len;
	size_t pos;
	int line;
	size_t line_start;
	struct coffer_cql_token *toks;
	size_t n, cap;
};

static bool is_ident_start(char c)
{
	return isalpha((unsigned char)c);
}

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool is_hex(char c)
{
	return isxdigit((unsigned char)c);
}

static int col_of(const struct lexer *l, size_t pos)
{
	return (int)(pos - l->line_start);
}

static coffer_rc lex_error(const struct lexer *l, size_t pos, const char *fmt, ...)
	COFFER_PRINTF(3, 4);

static coffer_rc lex_error(const struct lexer *l, size_t pos, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	BAIL(COFFER_E_SYNTAX, "line %d:%d %s", l->line, col_of(l, pos), msg);
}

static void push(struct lexer *l, enum coffer_cql_token_kind kind, const char *text, size_t tlen,
		 size_t start, int line, int col)
{
	struct coffer_cql_token *t;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->toks = coffer_xrealloc(l->toks, l->cap * sizeof(*l->toks));
	}
	t = &l->toks[l->n++];
	t->kind = kind;
	t->text = text;
	t->len = tlen;
	t->start = start;
	t->end = l->pos;
	t->line = line;
	t->col = col;
}

/* Skips whitespace and comments; tracks lines. */
static coffer_rc skip_blank(struct lexer *l)
{
	while (l->pos < l->len) {
		char c = l->s[l->pos];

		if (c == '\n') {
			l->pos++;
			l->line++;
			l->line_start = l->pos;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
			l->pos++;
		} else if ((c == '-' || c == '/') && l->pos + 1 < l->len && l->s[l->pos + 1] == c) {
			while (l->pos < l->len && l->s[l->pos] != '\n')
				l->pos++;
		} else if (c == '/' && l->pos + 1 < l->len && l->s[l->pos + 1] == '*') {
			size_t start = l->pos;
			int sline = l->line;
			size_t sls = l->line_start;

			l->pos += 2;
			for (;;) {
				if (l->pos + 1 >= l->len) {
					struct lexer at = *l;

					at.line = sline;
					at.line_start = sls;
					return lex_error(&at, start, "unterminated comment");
				}
				if (l->s[l->pos] == '*' && l->s[l->pos + 1] == '/') {
					l->pos += 2;
					break;
				}
				if (l->s[l->pos] == '\n') {
					l->line++;
					l->line_start = l->pos + 1;
				}
				l->pos++;
			}
		} else {
			break;
		}
	}
	return COFFER_OK;
}

/* '...' with '' standing for one quote, or "..." likewise (quoted names). */
static coffer_rc lex_quoted(struct lexer *l, char q, enum coffer_cql_token_kind kind)
{
	size_t start = l->pos, i;
	int line = l->line, col = col_of(l, start);
	struct coffer_buf b = {0};
	char *text;

	l->pos++;
	for (;;) {
		if (l->pos >= l->len) {
			coffer_buf_free(&b);
			return lex_error(l, l->pos, "mismatched character '<EOF>' expecting '%c'", q);
		}
		if (l->s[l->pos] == q) {
			if (l->pos + 1 < l->len && l->s[l->pos + 1] == q) {
				coffer_buf_put_u8(&b, (uint8_t)q);
				l->pos += 2;
				continue;
			}
			l->pos++;
			break;
		}
		if (l->s[l->pos] == '\n') {
			l->line++;
			l->line_start = l->pos + 1;
		}
		coffer_buf_put_u8(&b, (uint8_t)l->s[l->pos]);
		l->pos++;
	}
	if (kind == COFFER_CQL_TOK_QIDENT && b.len == 0) {
		coffer_buf_free(&b);
		struct lexer at = *l;

		at.line = line;
		return lex_error(&at, start, "no viable alternative at character '%s'", "\"");
	}
	text = coffer_arena_alloc(l->a, b.len + 1);
	for (i = 0; i < b.len; i++)
		text[i] = (char)b.ptr[i];
	text[b.len] = '\0';
	push(l, kind, text, b.len, start, line, col);
	coffer_buf_free(&b);
	return COFFER_OK;
}

static coffer_rc lex_dollar(struct lexer *l)
{
	size_t start = l->pos, body;
	int line = l->line, col = col_of(l, start);
	char *text;

	l->pos += 2;
	body = l->pos;
	for (;;) {
		if (l->pos + 1 >= l->len) {
			l->pos = l->len;
			return lex_error(l, l->pos, "mismatched character '<EOF>' expecting '%s'", "$");
		}
		if (l->s[l->pos] == '$' && l->s[l->pos + 1] == '$')
			break;
		if (l->s[l->pos] == '\n') {
			l->line++;
			l->line_start = l->pos + 1;
		}
		l->pos++;
	}
	text = coffer_arena_strndup(l->a, l->s + body, l->pos - body);
	l->pos += 2;
	push(l, COFFER_CQL_TOK_STRING, text, (size_t)(l->pos - 2 - body), start, line, col);
	return COFFER_OK;
}

static bool looks_like_uuid(const struct lexer *l)
{
	size_t i;

	if (l->len - l->pos < 36)
		return false;
	for (i = 0; i < 36; i++) {
		char c = l->s[l->pos + i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!is_hex(c)) {
			return false;
		}
	}
	return l->pos + 36 == l->len || !is_ident_char(l->s[l->pos + 36]);
}

/* Duration units (Cassandra's Duration.java), longest first. */
static size_t duration_unit(const char *s, size_t n)
{
	static const char *units[] = {"mo", "ms", "us", "ns", "y", "w", "d", "h", "m", "s"};
	size_t i;

	if (n >= 3 && (unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xb5 &&
	    (s[2] == 's' || s[2] == 'S'))
		return 3; /* µs */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t k = strlen(units[i]);

		if (n >= k && strncasecmp(s, units[i], k) == 0)
			return k;
	}
	return 0;
}

/* Length of a (digits unit)+ duration at s, or 0. */
static size_t match_duration(const char *s, size_t n)
{
	size_t i = 0, groups = 0;

	while (i < n && isdigit((unsigned char)s[i])) {
		size_t u;

		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		u = duration_unit(s + i, n - i);
		if (u == 0)
			return 0;
		i += u;
		groups++;
	}
	if (groups == 0 || (i < n && is_ident_char(s[i])))
		return 0;
	return i;
}

static coffer_rc lex_number(struct lexer *l)
{
	size_t start = l->pos, d;
	int line = l->line, col = col_of(l, start);
	bool is_float = false;

	d = match_duration(l->s + l->pos, l->len - l->pos);
	if (d) {
		l->pos += d;
		push(l, COFFER_CQL_TOK_DURATION, coffer_arena_strndup(l->a, l->s + start, d), d, start,
		     line, col);
		return COFFER_OK;
	}
	while (l->pos < l->len && isdigit((unsigned char)l->s[l->pos]))
		l->pos++;
	if (l->pos < l->len && l->s[l->pos] == '.' &&
	    !(l->pos + 1 < l->len && l->s[l->pos + 1] == '.')) {
		is_float = true;
		l->pos++;
		while (l->pos < l->len && isdigit((unsigned char)l->s[l->pos]))
			l->pos++;
	}
	if (l->pos < l->len && (l->s[l->pos] == 'e' || l->s[l->pos] == 'E')) {
		size_t e = l->pos + 1;

		if (e < l->len && (l->s[e] == '+' || l->s[e] == '-'))
			e++;
		if (e < l->len && isdigit((unsigned char)l->s[e])) {
			is_float = true;
			l->pos = e;
			while (l->pos < l->len && isdigit((unsigned char)l->s[l->pos]))
				l->pos++;
		}
	}
	push(l, is_float ? COFFER_CQL_TOK_FLOAT : COFFER_CQL_TOK_INTEGER,
	     coffer_arena_strndup(l->a, l->s + start, l->pos - start), l->pos - start, start, line, col);
	return COFFER_OK;
}

static coffer_rc lex_one(struct lexer *l)
{
	static const char *two[] = {"<=", ">=", "!=", "+=", "-="};
	size_t start = l->pos, i;
	int line = l->line, col = col_of(l, start);
	char c = l->s[l->pos];
	char bad[8];

	if (looks_like_uuid(l)) {
		l->pos += 36;
		push(l, COFFER_CQL_TOK_UUID, coffer_arena_strndup(l->a, l->s + start, 36), 36, start,
		     line, col);
		return COFFER_OK;
	}
	if (c == '0' && l->pos + 1 < l->len && (l->s[l->pos + 1] == 'x' || l->s[l->pos + 1] == 'X')) {
		l->pos += 2;
		while (l->pos < l->len && is_hex(l->s[l->pos]))
			l->pos++;
		if (l->pos < l->len && is_ident_char(l->s[l->pos]))
			return lex_error(l, l->pos, "token recognition error at: '%c'",
					 l->s[l->pos]);
		push(l, COFFER_CQL_TOK_HEX, coffer_arena_strndup(l->a, l->s + start + 2, l->pos - start - 2),
		     l->pos - start - 2, start, line, col);
		return COFFER_OK;
	}
	if (isdigit((unsigned char)c))
		return lex_number(l);
	if (is_ident_start(c)) {
		char *text;

		while (l->pos < l->len && is_ident_char(l->s[l->pos]))
			l->pos++;
		text = coffer_arena_strndup(l->a, l->s + start, l->pos - start);
		for (i = 0; text[i]; i++)
			text[i] = (char)tolower((unsigned char)text[i]);
		push(l, COFFER_CQL_TOK_IDENT, text, l->pos - start, start, line, col);
		return COFFER_OK;
	}
	if (c == '\'')
		return lex_quoted(l, '\'', COFFER_CQL_TOK_STRING);
	if (c == '"')
		return lex_quoted(l, '"', COFFER_CQL_TOK_QIDENT);
	if (c == '$' && l->pos + 1 < l->len && l->s[l->pos + 1] == '$')
		return lex_dollar(l);
	for (i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
		if (l->pos + 1 < l->len && c == two[i][0] && l->s[l->pos + 1] == two[i][1]) {
			l->pos += 2;
			push(l, COFFER_CQL_TOK_PUNCT, two[i], 2, start, line, col);
			return COFFER_OK;
		}
	}
	if (strchr("(),;.*=<>[]{}:?+-", c) && c != '\0') {
		l->pos++;
		push(l, COFFER_CQL_TOK_PUNCT, coffer_arena_strndup(l->a, &c, 1), 1, start, line, col);
		return COFFER_OK;
	}
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		snprintf(bad, sizeof(bad), "%c", c);
	else
		snprintf(bad, sizeof(bad), "\\x%02x", (unsigned char)c);
	return lex_error(l, start, "token recognition error at: '%s'", bad);
}

COFFER_RESULT coffer_cql_lex(struct coffer_arena *a, const char *text, size_t len,
			     struct coffer_cql_token **out, size_t *ntokens)
{
	struct lexer l = {a, text, len, 0, 1, 0, NULL, 0, 0};
	coffer_rc rc = COFFER_OK;

	ENSURE(len <= COFFER_CQL_MAX_TEXT, COFFER_E_LIMIT, "Query text longer than %u bytes",
	       COFFER_CQL_MAX_TEXT);
	for (;;) {
		TRY_FAIL(skip_blank(&l));
		if (l.pos >= l.len)
			break;
		TRY_FAIL(lex_one(&l));
	}
	push(&l, COFFER_CQL_TOK_EOF, "<EOF>", 5, l.pos, l.line, col_of(&l, l.pos));
	*out = coffer_arena_memdup(a, l.toks, l.n * sizeof(*l.toks));
	*ntokens = l.n;
fail:
	free(l.toks);
	return rc;
}
