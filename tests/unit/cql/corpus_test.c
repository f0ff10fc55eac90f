/*
 * corpus_test.c - feeds every record of the .txt files in tests/data/cql/ (format in that
 * folder's README.md) through the parser: "ok" records must parse, "error"
 * records must fail with the given code and message. Every prefix of every
 * good statement must parse or fail cleanly, which exercises the error paths
 * at every token boundary (and under ASan, their memory handling).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/cql.h"
#include "util/alloc.h"

static int records, prefixes;

static coffer_rc code_named(const char *s)
{
	if (strcmp(s, "SYNTAX") == 0)
		return COFFER_E_SYNTAX;
	if (strcmp(s, "INVALID") == 0)
		return COFFER_E_INVALID;
	if (strcmp(s, "LIMIT") == 0)
		return COFFER_E_LIMIT;
	fail_msg("unknown code %s in corpus", s);
	return COFFER_OK;
}

static void check_record(const char *file, int line, const char *header, const char *stmt,
			 size_t len)
{
	struct coffer_arena a;
	struct coffer_cql_stmt *s = NULL;
	coffer_rc rc;
	size_t i;

	coffer_arena_init(&a, 0);
	rc = coffer_cql_parse(&a, stmt, len, &s);
	records++;
	if (strncmp(header, "ok", 2) == 0) {
		if (rc != COFFER_OK)
			fail_msg("%s:%d: expected to parse: %s", file, line, coffer_error_msg());
		for (i = 0; i < len; i++) {
			coffer_arena_reset(&a);
			rc = coffer_cql_parse(&a, stmt, i, &s);
			if (rc != COFFER_OK && rc != COFFER_E_SYNTAX && rc != COFFER_E_INVALID &&
			    rc != COFFER_E_LIMIT)
				fail_msg("%s:%d: prefix %zu: %s", file, line, i, coffer_rc_name(rc));
			prefixes++;
		}
	} else if (strncmp(header, "error ", 6) == 0) {
		char code[16] = {0};
		const char *msg;

		sscanf(header + 6, "%15s", code);
		msg = header + 6 + strlen(code);
		while (*msg == ' ')
			msg++;
		if (rc != code_named(code))
			fail_msg("%s:%d: expected %s, got %s (%s)", file, line, code, coffer_rc_name(rc),
				 rc ? coffer_error_msg() : "");
		if (*msg && strcmp(coffer_error_msg(), msg) != 0)
			fail_msg("%s:%d: message '%s', want '%s'", file, line, coffer_error_msg(), msg);
	} else {
		fail_msg("%s:%d: bad record header '%s'", file, line, header);
	}
	coffer_arena_free(&a);
}

static void run_file(const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *header = NULL;
	size_t cap = 0;
	ssize_t n;
	struct coffer_buf stmt = {0};
	int lineno = 0, start = 0;
	bool in_record = false;

	assert_non_null(f);
	for (;;) {
		n = getline(&line, &cap, f);
		lineno++;
		if (n < 0 || strncmp(line, "===", 3) == 0) {
			if (in_record) {
				size_t len = stmt.len;

				if (len && stmt.ptr[len - 1] == '\n')
					len--;
				check_record(name, start, header, (const char *)stmt.ptr ? (const char *)stmt.ptr : "",
					     len);
			}
			if (n < 0)
				break;
			free(header);
			line[strcspn(line, "\n")] = '\0';
			header = coffer_xstrdup(line + 4);
			coffer_buf_reset(&stmt);
			in_record = true;
			start = lineno;
			continue;
		}
		if (!in_record)
			continue; /* comments before the first record */
		coffer_buf_put(&stmt, line, (size_t)n);
	}
	free(header);
	free(line);
	coffer_buf_free(&stmt);
	fclose(f);
}

static void test_corpus(void **state)
{
	const char *base = getenv("COFFER_TEST_DATA");
	char dir[1024], path[2048];
	DIR *d;
	struct dirent *e;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/cql", base ? base : "tests/data");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		run_file(path, e->d_name);
		files++;
	}
	closedir(d);
	assert_true(files >= 4);
	assert_true(records >= 60);
	print_message("corpus: %d files, %d records, %d prefixes\n", files, records, prefixes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
