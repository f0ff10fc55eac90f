/*
 * cql_parse_fuzz.c - libFuzzer target for CQL text: arbitrary bytes parsed as
 * one statement; when a statement parses, every literal it carries (INSERT
 * values, UPDATE assignments, WHERE terms) is coerced to a spread of column
 * types, and each coerced value is validated, formatted, compared with
 * itself and normalised.
 *
 * Input: the statement text, as is. Seeds: the statements of the corpus in
 * tests/data/cql/ (one record per seed file; see that folder's README.md).
 *
 * CREATE TABLE statements are also built into catalog tables, serialised and
 * decoded again.
 *
 * Checked on every input (abort otherwise): a refusal is COFFER_E_SYNTAX,
 * COFFER_E_INVALID or COFFER_E_LIMIT; a coerced value passes validation, orders
 * equal to itself, and normalises to a value that also validates.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cql/cql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
	"text", "ascii", "int", "bigint", "tinyint", "varint", "decimal", "double", "float",
	"boolean", "blob", "uuid", "timeuuid", "timestamp", "date", "time", "inet", "duration",
	"list<int>", "set<text>", "map<text, frozen<list<int>>>", "tuple<int, text, uuid>",
	"frozen<set<frozen<map<int, text>>>>",
};

static void exercise(const struct coffer_cql_term *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct coffer_datatype *ty = NULL;
		struct coffer_buf v = {0}, f = {0}, n = {0};
		bool is_null = false;
		coffer_rc rc;

		if (coffer_datatype_parse(types[i], strlen(types[i]), NULL, &ty) != COFFER_OK)
			abort();
		rc = coffer_cql_literal_coerce(t, ty, "c", &v, &is_null);
		if (rc != COFFER_OK && rc != COFFER_E_INVALID && rc != COFFER_E_LIMIT)
			abort();
		if (rc == COFFER_OK && !is_null) {
			if (coffer_value_validate(ty, coffer_buf_slice(&v)) != COFFER_OK)
				abort();
			if (coffer_value_compare(ty, coffer_buf_slice(&v), coffer_buf_slice(&v)) != 0)
				abort();
			coffer_value_format(ty, coffer_buf_slice(&v), &f);
			if (coffer_value_normalize(ty, coffer_buf_slice(&v), &n) != COFFER_OK ||
			    coffer_value_validate(ty, coffer_buf_slice(&n)) != COFFER_OK)
				abort();
		}
		coffer_buf_free(&v);
		coffer_buf_free(&f);
		coffer_buf_free(&n);
		coffer_datatype_free(ty);
	}
}

static void exercise_stmt(const struct coffer_cql_stmt *s)
{
	size_t i;

	switch (s->kind) {
	case COFFER_CQL_INSERT:
		for (i = 0; i < s->u.insert.ncolumns; i++)
			exercise(s->u.insert.values[i]);
		break;
	case COFFER_CQL_UPDATE:
		for (i = 0; i < s->u.update.nassignments; i++)
			exercise(s->u.update.assignments[i].value);
		for (i = 0; i < s->u.update.nwhere; i++)
			exercise(s->u.update.where[i].value);
		break;
	case COFFER_CQL_SELECT:
		for (i = 0; i < s->u.select.nwhere; i++)
			exercise(s->u.select.where[i].value);
		break;
	case COFFER_CQL_CREATE_TABLE: {
		static const uint8_t id[16];
		struct coffer_tabledef *t = NULL;
		coffer_rc rc = coffer_cql_build_table(&s->u.create_table, "ks", id, &t);

		if (rc == COFFER_OK) {
			struct coffer_buf b = {0};
			struct coffer_tabledef *d = NULL;

			/* a built table serialises and reads back */
			coffer_tabledef_encode(t, &b);
			if (coffer_tabledef_decode(coffer_buf_slice(&b), &d) != COFFER_OK)
				abort();
			coffer_tabledef_free(d);
			coffer_buf_free(&b);
			(void)coffer_cql_apply_table_options(t, &s->u.create_table.options);
		} else if (rc != COFFER_E_INVALID) {
			abort();
		}
		coffer_tabledef_free(t);
		break;
	}
	case COFFER_CQL_BATCH:
		for (i = 0; i < s->u.batch.nstmts; i++)
			exercise_stmt(s->u.batch.stmts[i]);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coffer_arena a;
	struct coffer_cql_stmt *s = NULL;
	coffer_rc rc;

	coffer_arena_init(&a, 0);
	rc = coffer_cql_parse(&a, (const char *)data, size, &s);
	if (rc == COFFER_OK)
		exercise_stmt(s);
	else if (rc != COFFER_E_SYNTAX && rc != COFFER_E_INVALID && rc != COFFER_E_LIMIT)
		abort();
	coffer_arena_free(&a);
	return 0;
}
