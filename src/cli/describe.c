/*
 * describe.c - the shell's DESCRIBE: KEYSPACES, TABLES, KEYSPACE [k],
 * TABLE [ks.]t (also COLUMNFAMILY), and DESCRIBE name (a keyspace, else a
 * table of the current keyspace).
 *
 * The CQL printed recreates the schema; it is built from the server's
 * system_schema.keyspaces and system_schema.columns and from
 * system_schema_mcs.tables (default_time_to_live, comment and the
 * custom_properties map, printed as CUSTOM_PROPERTIES = {...}):
 *
 *     CREATE KEYSPACE ks WITH replication = {'class': '...'} AND durable_writes = true;
 *
 *     CREATE TABLE ks.t (
 *         a int,
 *         b text,
 *         c list<text>,
 *         PRIMARY KEY ((a), b)      <- "a int PRIMARY KEY," with one key column
 *     ) WITH CLUSTERING ORDER BY (b DESC)
 *         AND comment = ''
 *         AND default_time_to_live = 0
 *         AND CUSTOM_PROPERTIES = {'capacity_mode': {...}, ...};
 *
 * Columns come in Cassandra's order: partition key by position, clustering
 * by position, then the others by name. Names that are not plain lower-case
 * identifiers, or are reserved words, are double-quoted.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "util/alloc.h"

#define SHELL_DESCRIBE_PAGE 1000

/* ---- helpers ------------------------------------------------------------------ */

/* Runs a query; false with *msg set (heap) on a failure. */
bool coffer_shell_query(struct coffer_shell *sh, const char *cql, struct coffer_client_result *res,
		  char **msg)
{
	if (coffer_client_query(sh->client, cql, SHELL_DESCRIBE_PAGE, res) != COFFER_OK) {
		*msg = coffer_xasprintf("ConnectionError: %s", coffer_error_msg());
		coffer_client_result_free(res);
		return false;
	}
	if (res->kind == COFFER_CLIENT_ERROR) {
		*msg = coffer_client_error_text(res);
		coffer_client_result_free(res);
		return false;
	}
	if (res->kind != COFFER_CLIENT_ROWS) {
		*msg = coffer_xasprintf("unexpected answer to %s", cql);
		coffer_client_result_free(res);
		return false;
	}
	return true;
}

/* A cell as text (heap), quoted as a CQL literal when `quote`. */
char *coffer_shell_cell_text(const struct coffer_client_result *r, size_t row, size_t col, bool quote)
{
	struct coffer_buf b = {0};
	coffer_cli_format_value(r->types[col], coffer_client_cell(r, row, col), quote, &b, NULL);
	char *s = coffer_xstrdup(coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return s;
}

/* 'it''s' */
void coffer_shell_put_literal(struct coffer_buf *b, const char *s)
{
	coffer_buf_put_u8(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			coffer_buf_put_u8(b, '\'');
		coffer_buf_put_u8(b, (uint8_t)*s);
	}
	coffer_buf_put_u8(b, '\'');
}

static const char *const reserved[] = {
	"add", "allow", "alter", "and", "apply", "asc", "authorize", "batch", "begin", "by",
	"columnfamily", "create", "delete", "desc", "describe", "drop", "entries", "execute",
	"from", "full", "grant", "if", "in", "index", "infinity", "insert", "into", "is",
	"keyspace", "limit", "materialized", "mbean", "mbeans", "modify", "nan", "norecursive",
	"not", "null", "of", "on", "or", "order", "primary", "rename", "replace", "revoke",
	"schema", "select", "set", "table", "to", "token", "truncate", "unlogged", "update",
	"use", "using", "view", "where", "with",
};

void coffer_shell_put_ident(struct coffer_buf *b, const char *s)
{
	bool plain = *s && islower((unsigned char)*s);
	for (const char *p = s; *p && plain; p++)
		plain = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_';
	for (size_t i = 0; plain && i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(s, reserved[i]) == 0)
			plain = false;
	if (plain) {
		coffer_buf_put(b, s, strlen(s));
		return;
	}
	coffer_buf_put_u8(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			coffer_buf_put_u8(b, '"');
		coffer_buf_put_u8(b, (uint8_t)*s);
	}
	coffer_buf_put_u8(b, '"');
}

/* Parses one identifier at *p (quoted exact, else folded to lower case) and
 * advances *p; NULL when there is none. */
char *coffer_shell_parse_ident(const char **p)
{
	const char *s = *p;
	struct coffer_buf b = {0};
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '"') {
		s++;
		for (;;) {
			if (!*s) {
				coffer_buf_free(&b);
				return NULL;
			}
			if (*s == '"' && s[1] == '"') {
				coffer_buf_put_u8(&b, '"');
				s += 2;
			} else if (*s == '"') {
				s++;
				break;
			} else {
				coffer_buf_put_u8(&b, (uint8_t)*s++);
			}
		}
	} else {
		while (isalnum((unsigned char)*s) || *s == '_')
			coffer_buf_put_u8(&b, (uint8_t)tolower((unsigned char)*s++));
		if (!b.len)
			return NULL;
	}
	*p = s;
	char *out = coffer_xstrdup(coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints names two spaces apart, wrapped at 80 columns, as cqlsh lists them. */
static void print_names(struct coffer_shell *sh, char **names, size_t n)
{
	struct coffer_buf line = {0};
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(names[i]);
		if (line.len && line.len + 2 + w > 80) {
			coffer_shell_line(sh, coffer_buf_cstr(&line));
			coffer_buf_reset(&line);
		}
		if (line.len)
			coffer_buf_put(&line, "  ", 2);
		coffer_buf_put(&line, names[i], w);
	}
	if (line.len)
		coffer_shell_line(sh, coffer_buf_cstr(&line));
	coffer_buf_free(&line);
}

static void print_block(struct coffer_shell *sh, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *l = coffer_xstrndup(p, n);
		coffer_shell_line(sh, l);
		free(l);
		p += n + (nl ? 1 : 0);
	}
}

/* ---- CREATE statements -------------------------------------------------------- */

static bool keyspace_cql(struct coffer_shell *sh, const char *ks, struct coffer_buf *out,
			 char **msg)
{
	struct coffer_client_result r;
	struct coffer_buf q = {0};
	coffer_buf_printf(&q, "SELECT durable_writes, replication FROM system_schema.keyspaces "
			      "WHERE keyspace_name = ");
	coffer_shell_put_literal(&q, ks);
	bool ok = coffer_shell_query(sh, coffer_buf_cstr(&q), &r, msg);
	coffer_buf_free(&q);
	if (!ok)
		return false;
	if (r.n_rows != 1 || r.n_columns != 2) {
		*msg = coffer_xasprintf("Keyspace '%s' not found", ks);
		coffer_client_result_free(&r);
		return false;
	}
	char *durable = coffer_shell_cell_text(&r, 0, 0, false);
	char *repl = coffer_shell_cell_text(&r, 0, 1, true);
	coffer_buf_printf(out, "CREATE KEYSPACE ");
	coffer_shell_put_ident(out, ks);
	coffer_buf_printf(out, " WITH replication = %s AND durable_writes = %s;\n", repl,
			  strcmp(durable, "False") == 0 ? "false" : "true");
	free(durable);
	free(repl);
	coffer_client_result_free(&r);
	return true;
}

static int cmp_col(const void *pa, const void *pb)
{
	const struct coffer_shell_column *a = pa, *b = pb;
	if (a->rank != b->rank)
		return a->rank - b->rank;
	if (a->rank < 2)
		return a->position - b->position;
	return strcmp(a->name, b->name);
}

bool coffer_shell_table_columns(struct coffer_shell *sh, const char *ks, const char *t,
				struct coffer_shell_column **out, size_t *count, char **msg)
{
	struct coffer_client_result cr;
	struct coffer_buf q = {0};
	struct coffer_shell_column *cols;
	size_t n;
	bool ok;

	*out = NULL;
	*count = 0;
	coffer_buf_printf(&q, "SELECT column_name, kind, clustering_order, type, position "
			      "FROM system_schema.columns WHERE keyspace_name = ");
	coffer_shell_put_literal(&q, ks);
	coffer_buf_printf(&q, " AND table_name = ");
	coffer_shell_put_literal(&q, t);
	ok = coffer_shell_query(sh, coffer_buf_cstr(&q), &cr, msg);
	coffer_buf_free(&q);
	if (!ok)
		return false;

	n = cr.n_rows;
	cols = coffer_xcalloc(n ? n : 1, sizeof(*cols));
	for (size_t i = 0; i < n; i++) {
		char *pos = coffer_shell_cell_text(&cr, i, 4, false);
		cols[i].name = coffer_shell_cell_text(&cr, i, 0, false);
		cols[i].kind = coffer_shell_cell_text(&cr, i, 1, false);
		cols[i].order = coffer_shell_cell_text(&cr, i, 2, false);
		cols[i].type = coffer_shell_cell_text(&cr, i, 3, false);
		cols[i].position = atoi(pos);
		free(pos);
		cols[i].rank = strcmp(cols[i].kind, "partition_key") == 0 ? 0
			       : strcmp(cols[i].kind, "clustering") == 0 ? 1 : 2;
	}
	qsort(cols, n, sizeof(*cols), cmp_col);
	coffer_client_result_free(&cr);
	*out = cols;
	*count = n;
	return true;
}

void coffer_shell_columns_free(struct coffer_shell_column *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(cols[i].name);
		free(cols[i].kind);
		free(cols[i].order);
		free(cols[i].type);
	}
	free(cols);
}

static bool table_cql(struct coffer_shell *sh, const char *ks, const char *t,
		      struct coffer_buf *out, char **msg)
{
	struct coffer_client_result tr;
	struct coffer_buf q = {0};
	struct coffer_shell_column *cols = NULL;
	size_t n = 0, npk = 0, nck = 0;

	coffer_buf_printf(&q, "SELECT default_time_to_live, comment, custom_properties "
			      "FROM system_schema_mcs.tables WHERE keyspace_name = ");
	coffer_shell_put_literal(&q, ks);
	coffer_buf_printf(&q, " AND table_name = ");
	coffer_shell_put_literal(&q, t);
	bool ok = coffer_shell_query(sh, coffer_buf_cstr(&q), &tr, msg);
	coffer_buf_free(&q);
	if (!ok)
		return false;
	if (tr.n_rows != 1 || tr.n_columns != 3) {
		*msg = coffer_xasprintf("'%s' not found in keyspace '%s'", t, ks);
		coffer_client_result_free(&tr);
		return false;
	}
	ok = coffer_shell_table_columns(sh, ks, t, &cols, &n, msg);
	if (!ok) {
		coffer_client_result_free(&tr);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		npk += cols[i].rank == 0;
		nck += cols[i].rank == 1;
	}

	coffer_buf_printf(out, "CREATE TABLE ");
	coffer_shell_put_ident(out, ks);
	coffer_buf_put_u8(out, '.');
	coffer_shell_put_ident(out, t);
	coffer_buf_printf(out, " (\n");
	bool inline_pk = npk == 1 && nck == 0;
	for (size_t i = 0; i < n; i++) {
		coffer_buf_printf(out, "    ");
		coffer_shell_put_ident(out, cols[i].name);
		coffer_buf_printf(out, " %s", cols[i].type);
		if (strcmp(cols[i].kind, "static") == 0)
			coffer_buf_printf(out, " static");
		if (inline_pk && cols[i].rank == 0)
			coffer_buf_printf(out, " PRIMARY KEY");
		coffer_buf_printf(out, "%s\n", inline_pk && i + 1 == n ? "" : ",");
	}
	if (!inline_pk) {
		coffer_buf_printf(out, "    PRIMARY KEY (");
		if (npk > 1)
			coffer_buf_put_u8(out, '(');
		for (size_t i = 0; i < npk + nck && i < n; i++) {
			if (i == npk && npk > 1)
				coffer_buf_put_u8(out, ')');
			if (i)
				coffer_buf_printf(out, ", ");
			coffer_shell_put_ident(out, cols[i].name);
		}
		if (npk > 1 && nck == 0)
			coffer_buf_put_u8(out, ')');
		coffer_buf_printf(out, ")\n");
	}
	coffer_buf_printf(out, ")");

	const char *sep = " WITH ";
	if (nck) {
		coffer_buf_printf(out, "%sCLUSTERING ORDER BY (", sep);
		for (size_t i = npk; i < npk + nck && i < n; i++) {
			if (i > npk)
				coffer_buf_printf(out, ", ");
			coffer_shell_put_ident(out, cols[i].name);
			coffer_buf_printf(out, " %s",
					  strcmp(cols[i].order, "desc") == 0 ? "DESC" : "ASC");
		}
		coffer_buf_printf(out, ")");
		sep = "\n    AND ";
	}
	char *ttl = coffer_shell_cell_text(&tr, 0, 0, false);
	coffer_buf_printf(out, "%scomment = ", sep);
	sep = "\n    AND ";
	{
		/* The raw text, not cqlsh's display form (which escapes newlines). */
		struct coffer_slice c = coffer_client_cell(&tr, 0, 1);
		char *raw = coffer_xstrndup(c.ptr ? (const char *)c.ptr : "", c.len);
		coffer_shell_put_literal(out, raw);
		free(raw);
	}
	coffer_buf_printf(out, "%sdefault_time_to_live = %s", sep, *ttl ? ttl : "0");
	if (coffer_client_cell(&tr, 0, 2).ptr) {
		/* Settings only: restore status is not CREATE TABLE's (progress.c). */
		struct coffer_buf w = {0}, props = {0};
		coffer_cli_writable_properties(coffer_client_cell(&tr, 0, 2), &w);
		coffer_cli_format_value(tr.types[2], coffer_buf_slice(&w), true, &props, NULL);
		coffer_buf_printf(out, "%sCUSTOM_PROPERTIES = %s", sep, coffer_buf_cstr(&props));
		coffer_buf_free(&w);
		coffer_buf_free(&props);
	}
	coffer_buf_printf(out, ";\n");
	free(ttl);

	coffer_shell_columns_free(cols, n);
	coffer_client_result_free(&tr);
	return true;
}

/* Table names of one keyspace, or of all when ks is NULL (with their
 * keyspace in *kss). */
static bool list_tables(struct coffer_shell *sh, const char *ks, char ***names, char ***kss,
			size_t *n, char **msg)
{
	struct coffer_client_result r;
	struct coffer_buf q = {0};
	coffer_buf_printf(&q, "SELECT keyspace_name, table_name FROM system_schema.tables");
	if (ks) {
		coffer_buf_printf(&q, " WHERE keyspace_name = ");
		coffer_shell_put_literal(&q, ks);
	}
	bool ok = coffer_shell_query(sh, coffer_buf_cstr(&q), &r, msg);
	coffer_buf_free(&q);
	if (!ok)
		return false;
	*n = r.n_rows;
	*names = coffer_xcalloc(r.n_rows + 1, sizeof(char *));
	if (kss)
		*kss = coffer_xcalloc(r.n_rows + 1, sizeof(char *));
	for (size_t i = 0; i < r.n_rows; i++) {
		(*names)[i] = coffer_shell_cell_text(&r, i, 1, false);
		if (kss)
			(*kss)[i] = coffer_shell_cell_text(&r, i, 0, false);
	}
	coffer_client_result_free(&r);
	return true;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static bool keyspace_names(struct coffer_shell *sh, char ***names, size_t *n, char **msg)
{
	struct coffer_client_result r;
	if (!coffer_shell_query(sh, "SELECT keyspace_name FROM system_schema.keyspaces", &r, msg))
		return false;
	*n = r.n_rows;
	*names = coffer_xcalloc(r.n_rows + 1, sizeof(char *));
	for (size_t i = 0; i < r.n_rows; i++)
		(*names)[i] = coffer_shell_cell_text(&r, i, 0, false);
	coffer_client_result_free(&r);
	return true;
}

/* ---- the commands ------------------------------------------------------------- */

static bool describe_keyspaces(struct coffer_shell *sh, char **msg)
{
	char **names;
	size_t n;
	if (!keyspace_names(sh, &names, &n, msg))
		return false;
	coffer_shell_line(sh, "");
	print_names(sh, names, n);
	coffer_shell_line(sh, "");
	free_names(names, n);
	return true;
}

static bool describe_tables(struct coffer_shell *sh, char **msg)
{
	char **names, **kss = NULL;
	size_t n;
	if (sh->keyspace[0]) {
		if (!list_tables(sh, sh->keyspace, &names, NULL, &n, msg))
			return false;
		coffer_shell_line(sh, "");
		print_names(sh, names, n);
		coffer_shell_line(sh, "");
		free_names(names, n);
		return true;
	}
	char **ksn;
	size_t nks;
	if (!keyspace_names(sh, &ksn, &nks, msg))
		return false;
	if (!list_tables(sh, NULL, &names, &kss, &n, msg)) {
		free_names(ksn, nks);
		return false;
	}
	qsort(ksn, nks, sizeof(*ksn), cmp_str);
	coffer_shell_line(sh, "");
	for (size_t k = 0; k < nks; k++) {
		char **mine = coffer_xcalloc(n + 1, sizeof(char *));
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(kss[i], ksn[k]) == 0)
				mine[m++] = names[i];
		struct coffer_buf h = {0};
		coffer_buf_printf(&h, "Keyspace %s", ksn[k]);
		coffer_shell_line(sh, coffer_buf_cstr(&h));
		for (size_t i = 0; i < h.len; i++)
			h.ptr[i] = '-';
		coffer_shell_line(sh, coffer_buf_cstr(&h));
		coffer_buf_free(&h);
		print_names(sh, mine, m);
		coffer_shell_line(sh, "");
		free(mine);
	}
	free_names(ksn, nks);
	free_names(names, n);
	free_names(kss, n);
	return true;
}

static bool describe_keyspace(struct coffer_shell *sh, const char *ks, char **msg)
{
	struct coffer_buf out = {0};
	char **names;
	size_t n;
	if (!keyspace_cql(sh, ks, &out, msg)) {
		coffer_buf_free(&out);
		return false;
	}
	if (!list_tables(sh, ks, &names, NULL, &n, msg)) {
		coffer_buf_free(&out);
		return false;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		coffer_buf_put_u8(&out, '\n');
		ok = table_cql(sh, ks, names[i], &out, msg);
	}
	if (ok) {
		coffer_shell_line(sh, "");
		print_block(sh, coffer_buf_cstr(&out));
		coffer_shell_line(sh, "");
	}
	free_names(names, n);
	coffer_buf_free(&out);
	return ok;
}

static bool describe_table(struct coffer_shell *sh, const char *ks, const char *t, char **msg)
{
	struct coffer_buf out = {0};
	if (!ks || !*ks) {
		*msg = coffer_xstrdup("No keyspace specified and no current keyspace");
		return false;
	}
	bool ok = table_cql(sh, ks, t, &out, msg);
	if (ok) {
		coffer_shell_line(sh, "");
		print_block(sh, coffer_buf_cstr(&out));
		coffer_shell_line(sh, "");
	}
	coffer_buf_free(&out);
	return ok;
}

static bool rest_is_empty(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return !*p;
}

/* [ks.]t into *ks (NULL when absent) and *t. */
bool coffer_shell_parse_qualified(const char **p, char **ks, char **t)
{
	*ks = NULL;
	*t = coffer_shell_parse_ident(p);
	if (!*t)
		return false;
	if (**p == '.') {
		(*p)++;
		*ks = *t;
		*t = coffer_shell_parse_ident(p);
		if (!*t) {
			free(*ks);
			*ks = NULL;
			return false;
		}
	}
	return true;
}

bool coffer_shell_describe(struct coffer_shell *sh, const char *args, char **msg)
{
	const char *p = args;
	char *w = coffer_shell_parse_ident(&p), *ks = NULL, *t = NULL;
	bool ok = false;
	*msg = NULL;
	if (!w) {
		*msg = coffer_xstrdup("Improper DESCRIBE command: describe what?");
		return false;
	}
	if (strcmp(w, "keyspaces") == 0 && rest_is_empty(p)) {
		ok = describe_keyspaces(sh, msg);
	} else if ((strcmp(w, "tables") == 0 || strcmp(w, "columnfamilies") == 0) &&
		   rest_is_empty(p)) {
		ok = describe_tables(sh, msg);
	} else if (strcmp(w, "keyspace") == 0 || strcmp(w, "schema") == 0) {
		ks = coffer_shell_parse_ident(&p);
		if (!ks && sh->keyspace[0])
			ks = coffer_xstrdup(sh->keyspace);
		if (!ks || !rest_is_empty(p))
			*msg = coffer_xstrdup("Improper DESCRIBE KEYSPACE command: give a keyspace "
					      "or USE one");
		else
			ok = describe_keyspace(sh, ks, msg);
	} else if (strcmp(w, "table") == 0 || strcmp(w, "columnfamily") == 0) {
		if (!coffer_shell_parse_qualified(&p, &ks, &t) || !rest_is_empty(p))
			*msg = coffer_xstrdup("Improper DESCRIBE TABLE command: give [keyspace.]table");
		else
			ok = describe_table(sh, ks ? ks : sh->keyspace, t, msg);
	} else {
		/* DESCRIBE name: a keyspace, else a table. */
		p = args;
		if (!coffer_shell_parse_qualified(&p, &ks, &t) || !rest_is_empty(p)) {
			*msg = coffer_xstrdup("Improper DESCRIBE command");
		} else if (!ks) {
			char *m2 = NULL;
			ok = describe_keyspace(sh, t, &m2);
			if (!ok) {
				free(m2);
				if (sh->keyspace[0])
					ok = describe_table(sh, sh->keyspace, t, msg);
				else
					*msg = coffer_xasprintf("'%s' not found in keyspaces", t);
			}
		} else {
			ok = describe_table(sh, ks, t, msg);
		}
	}
	free(w);
	free(ks);
	free(t);
	return ok;
}
