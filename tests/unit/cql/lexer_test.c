/*
 * lexer_test.c - CQL tokens: identifiers folded or quoted ("" escapes),
 * strings ('' escapes, $$ strings, embedded newlines), numbers, floats,
 * blobs, bare UUIDs, durations, punctuation, comments, positions, and the
 * lexical errors (unterminated strings and comments, stray characters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cql/cql.h"

static struct coffer_arena arena;

static int setup(void **state)
{
	coffer_arena_init(&arena, 0);
	return 0;
}

static int teardown(void **state)
{
	coffer_arena_free(&arena);
	return 0;
}

static size_t lex(const char *s, struct coffer_cql_token **t)
{
	size_t n = 0;

	if (coffer_cql_lex(&arena, s, strlen(s), t, &n) != COFFER_OK)
		fail_msg("lex '%s': %s", s, coffer_error_msg());
	return n;
}

static void lex_fail(const char *s, const char *msg)
{
	struct coffer_cql_token *t;
	size_t n;

	assert_int_equal(coffer_cql_lex(&arena, s, strlen(s), &t, &n), COFFER_E_SYNTAX);
	assert_string_equal(coffer_error_msg(), msg);
}

static void test_identifiers(void **state)
{
	struct coffer_cql_token *t;
	size_t n = lex("SELECT MyCol, \"MyCol\", \"a\"\"b\" FROM ks.T_1", &t);

	assert_int_equal(n, 11);
	assert_int_equal(t[0].kind, COFFER_CQL_TOK_IDENT);
	assert_string_equal(t[0].text, "select");
	assert_string_equal(t[1].text, "mycol");
	assert_int_equal(t[3].kind, COFFER_CQL_TOK_QIDENT);
	assert_string_equal(t[3].text, "MyCol");
	assert_string_equal(t[5].text, "a\"b");
	assert_string_equal(t[9].text, "t_1");
	assert_int_equal(t[10].kind, COFFER_CQL_TOK_EOF);
}

static void test_strings(void **state)
{
	struct coffer_cql_token *t;
	size_t n = lex("'it''s' $$a 'quoted' $ string$$ '' 'two\nlines' $$$$", &t);

	assert_int_equal(n, 6);
	assert_int_equal(t[0].kind, COFFER_CQL_TOK_STRING);
	assert_string_equal(t[0].text, "it's");
	assert_string_equal(t[1].text, "a 'quoted' $ string");
	assert_int_equal(t[2].len, 0);
	assert_string_equal(t[3].text, "two\nlines");
	assert_int_equal(t[4].len, 0);
	assert_int_equal(t[4].line, 2);
}

static void test_numbers(void **state)
{
	struct coffer_cql_token *t;
	size_t n = lex("42 -7 1.5 3. 2e10 1.5E-3 0xCAFE 0x 1h30m 2mo 5us 1e", &t);

	assert_int_equal(n, 15);
	assert_int_equal(t[0].kind, COFFER_CQL_TOK_INTEGER);
	assert_int_equal(t[1].kind, COFFER_CQL_TOK_PUNCT); /* '-' stands alone */
	assert_int_equal(t[2].kind, COFFER_CQL_TOK_INTEGER);
	assert_int_equal(t[3].kind, COFFER_CQL_TOK_FLOAT);
	assert_int_equal(t[4].kind, COFFER_CQL_TOK_FLOAT);
	assert_string_equal(t[4].text, "3.");
	assert_int_equal(t[5].kind, COFFER_CQL_TOK_FLOAT);
	assert_int_equal(t[6].kind, COFFER_CQL_TOK_FLOAT);
	assert_int_equal(t[7].kind, COFFER_CQL_TOK_HEX);
	assert_string_equal(t[7].text, "CAFE");
	assert_int_equal(t[8].kind, COFFER_CQL_TOK_HEX);
	assert_int_equal(t[8].len, 0);
	assert_int_equal(t[9].kind, COFFER_CQL_TOK_DURATION);
	assert_string_equal(t[9].text, "1h30m");
	assert_int_equal(t[10].kind, COFFER_CQL_TOK_DURATION);
	assert_int_equal(t[11].kind, COFFER_CQL_TOK_DURATION);
	assert_int_equal(t[12].kind, COFFER_CQL_TOK_INTEGER); /* "1e": 1 then e */
	assert_int_equal(t[13].kind, COFFER_CQL_TOK_IDENT);
}

static void test_uuids(void **state)
{
	struct coffer_cql_token *t;
	size_t n = lex("123e4567-e89b-12d3-a456-426614174000 ABCDEF01-2345-6789-abcd-ef0123456789 "
		       "123e4567-e89b-12d3-a456-42661417400", &t);

	assert_int_equal(t[0].kind, COFFER_CQL_TOK_UUID);
	assert_int_equal(t[1].kind, COFFER_CQL_TOK_UUID);
	assert_string_equal(t[1].text, "ABCDEF01-2345-6789-abcd-ef0123456789");
	/* one digit short: not a uuid */
	assert_int_not_equal(t[2].kind, COFFER_CQL_TOK_UUID);
	assert_true(n > 4);
}

static void test_punct_and_comments(void **state)
{
	struct coffer_cql_token *t;
	size_t n = lex("a<=b -- comment\n>= != += -= // more\n/* block\n comment */ ? :n [ ] { } ;", &t);
	static const char *want[] = {"a", "<=", "b", ">=", "!=", "+=", "-=", "?", ":", "n",
				     "[", "]", "{", "}", ";"};
	size_t i;

	assert_int_equal(n, sizeof(want) / sizeof(want[0]) + 1);
	for (i = 0; i < n - 1; i++)
		assert_string_equal(t[i].text, want[i]);
	assert_int_equal(t[3].line, 2);
	assert_int_equal(t[3].col, 0);
	assert_int_equal(t[7].line, 4);
	assert_int_equal(t[7].col, 12);
}

static void test_errors(void **state)
{
	lex_fail("SELECT 'abc", "line 1:11 mismatched character '<EOF>' expecting '''");
	lex_fail("SELECT \"abc", "line 1:11 mismatched character '<EOF>' expecting '\"'");
	lex_fail("SELECT $$abc", "line 1:12 mismatched character '<EOF>' expecting '$'");
	lex_fail("SELECT /* x", "line 1:7 unterminated comment");
	lex_fail("SELECT # FROM", "line 1:7 token recognition error at: '#'");
	lex_fail("SELECT \"\" FROM", "line 1:7 no viable alternative at character '\"'");
	lex_fail("a\n  @", "line 2:2 token recognition error at: '@'");
	lex_fail("x = 0xZZ", "line 1:6 token recognition error at: 'Z'");
	{
		static const char nul[] = {'a', ' ', '\0', 'b'};
		struct coffer_cql_token *t;
		size_t n;

		assert_int_equal(coffer_cql_lex(&arena, nul, sizeof(nul), &t, &n), COFFER_E_SYNTAX);
		assert_string_equal(coffer_error_msg(), "line 1:2 token recognition error at: '\\x00'");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identifiers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_uuids),
		cmocka_unit_test(test_punct_and_comments),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
