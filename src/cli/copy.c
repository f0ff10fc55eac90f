/*
 * copy.c - the shell's COPY, after cqlsh's:
 *
 *     COPY [ks.]t [(c1, c2, ...)] TO 'file.csv' [WITH opt = v [AND opt = v ...]]
 *     COPY [ks.]t [(c1, c2, ...)] FROM 'file.csv' [WITH ...]
 *
 * TO pages through the table (SELECT token(pk), columns ... PAGESIZE rows a
 * page) and writes one CSV record per row; FROM reads CSV records, turns
 * each field into the column's value on the client, and sends prepared
 * INSERTs (UPDATE ... SET c = c + ? for a counter table) in UNLOGGED
 * (COUNTER) batches of MAXBATCHSIZE rows, MAXINFLIGHTMESSAGES batches in
 * flight at once on one connection.
 *
 * The CSV (RFC 4180): fields split at DELIMITER (','), a field holding the
 * delimiter, QUOTE ('"'), CR or LF is quoted with the quote doubled inside;
 * records end at LF or CRLF; blank lines are skipped. Values are written as
 * cqlsh writes them (format.c): text as it is, blobs 0x.., booleans
 * True/False, timestamps 2026-01-02 03:04:05.678000+0000, dates, times,
 * uuids, inets, collections ['a', 'b'] {1, 2} {'k': 1}, tuples (1, 'a'),
 * with two departures so that TO then FROM gives back every value exactly:
 * floats and doubles carry as many digits as they need (cqlsh cuts at
 * FLOATPRECISION 5 / DOUBLEPRECISION 12), and text is not backslash-escaped.
 * A null is the NULL string unquoted (default: empty); a non-null value
 * whose text equals it (an empty text) is written quoted, and a quoted field
 * is never null.
 *
 * Reading a field into its column's value is copy_value.c's
 * (coffer_copy_field_value): a CQL literal term chosen by the column's
 * type, coerced by the CQL module with Cassandra's checks and words.
 *
 * Invariants:
 *  1. A record with a bad field is never sent: its error names the file, the
 *     line the record starts on, and the field (number and column).
 *  2. A batch the server refuses is retried row by row on its own stream, so
 *     each failing row is reported by line and the good ones still land.
 *  3. Rows are counted as imported only when the server acknowledged them.
 *  4. COPY fails (the shell's exit status 1 in -e/-f mode) when any row was
 *     not imported or exported, and says how many.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "util/alloc.h"

#define COPY_PROGRESS_EVERY_NS 100000000LL /* redraw the bar at most 10 times a second */
#define COPY_BAR_WIDTH 30
#define COPY_TO_STREAM 2

/* ---- options ------------------------------------------------------------------ */

struct copy_opts {
	bool header;
	char delim;
	char quote;
	char *null;             /* heap */
	long page_size;         /* TO */
	long long max_rows;     /* -1: all */
	long long skip_rows;    /* FROM: data records skipped first */
	long max_batch;         /* FROM */
	long max_inflight;      /* FROM */
	long long max_parse_errors;  /* FROM; -1: no limit */
	long long max_insert_errors; /* FROM; -1: no limit */
};

struct copy_cmd {
	char *ks, *table;
	char **cols;            /* NULL: all */
	size_t n_cols;
	bool to;                /* TO (export), else FROM */
	char *file;
	struct copy_opts o;
};

static void copy_cmd_free(struct copy_cmd *c)
{
	free(c->ks);
	free(c->table);
	for (size_t i = 0; i < c->n_cols; i++)
		free(c->cols[i]);
	free(c->cols);
	free(c->file);
	free(c->o.null);
}

const char *coffer_shell_skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A bare word (letters, digits, _ - .) or a '...' string, as heap text. */
static char *parse_value(const char **p)
{
	const char *s = coffer_shell_skip_ws(*p);
	struct coffer_buf b = {0};
	if (*s == '\'') {
		for (s++;; s++) {
			if (!*s) {
				coffer_buf_free(&b);
				return NULL;
			}
			if (*s == '\'' && s[1] == '\'')
				s++;
			else if (*s == '\'')
				break;
			coffer_buf_put_u8(&b, (uint8_t)*s);
		}
		s++;
	} else {
		while (isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')
			coffer_buf_put_u8(&b, (uint8_t)*s++);
		if (!b.len)
			return NULL;
	}
	*p = s;
	char *out = coffer_xstrdup(coffer_buf_cstr(&b));
	coffer_buf_free(&b);
	return out;
}

bool coffer_shell_keyword(const char **p, const char *kw)
{
	const char *s = coffer_shell_skip_ws(*p);
	size_t n = strlen(kw);
	if (strncasecmp(s, kw, n) != 0 || isalnum((unsigned char)s[n]) || s[n] == '_')
		return false;
	*p = s + n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

static bool parse_count(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

/* One WITH option; false with *msg on a bad name or value. */
static bool set_option(struct copy_cmd *c, const char *name, const char *v, char **msg)
{
	struct copy_opts *o = &c->o;
	long long x = 0; /* set by parse_count when it succeeds */
	bool ok = true;
	if (strcasecmp(name, "header") == 0) {
		ok = parse_bool(v, &o->header);
	} else if (strcasecmp(name, "delimiter") == 0 || strcasecmp(name, "quote") == 0) {
		char ch = v[0];
		ok = strlen(v) == 1 && ch != '\n' && ch != '\r';
		if (strcasecmp(name, "delimiter") == 0)
			o->delim = ch;
		else
			o->quote = ch;
	} else if (strcasecmp(name, "null") == 0 || strcasecmp(name, "nullval") == 0) {
		free(o->null);
		o->null = coffer_xstrdup(v);
	} else if (strcasecmp(name, "pagesize") == 0 && c->to) {
		ok = parse_count(v, 1, 100000, &x);
		o->page_size = (long)x;
	} else if (strcasecmp(name, "maxrows") == 0) {
		ok = parse_count(v, -1, LLONG_MAX, &o->max_rows);
	} else if (strcasecmp(name, "skiprows") == 0 && !c->to) {
		ok = parse_count(v, 0, LLONG_MAX, &o->skip_rows);
	} else if (strcasecmp(name, "maxbatchsize") == 0 && !c->to) {
		ok = parse_count(v, 1, 65535, &x);
		o->max_batch = (long)x;
	} else if (strcasecmp(name, "maxinflightmessages") == 0 && !c->to) {
		ok = parse_count(v, 1, COFFER_CLIENT_MAX_STREAM - 1, &x);
		o->max_inflight = (long)x;
	} else if (strcasecmp(name, "maxparseerrors") == 0 && !c->to) {
		ok = parse_count(v, -1, LLONG_MAX, &o->max_parse_errors);
	} else if (strcasecmp(name, "maxinserterrors") == 0 && !c->to) {
		ok = parse_count(v, -1, LLONG_MAX, &o->max_insert_errors);
	} else {
		*msg = coffer_xasprintf("Unrecognized COPY %s option: %s", c->to ? "TO" : "FROM",
					name);
		return false;
	}
	if (!ok)
		*msg = coffer_xasprintf("Invalid value for COPY option %s: '%s'", name, v);
	return ok;
}

/* COPY [ks.]t [(cols)] TO|FROM 'file' [WITH a = b [AND c = d]]. */
static bool parse_copy(const char *args, const char *cur_ks, struct copy_cmd *c, char **msg)
{
	const char *p = args;
	memset(c, 0, sizeof(*c));
	c->o.delim = ',';
	c->o.quote = '"';
	c->o.null = coffer_xstrdup("");
	c->o.page_size = 1000;
	c->o.max_rows = -1;
	c->o.max_batch = 20;
	c->o.max_inflight = 16;
	c->o.max_parse_errors = -1;
	c->o.max_insert_errors = -1;

	if (!coffer_shell_parse_qualified(&p, &c->ks, &c->table))
		goto syntax;
	if (!c->ks) {
		if (!cur_ks[0]) {
			*msg = coffer_xasprintf("No keyspace for table %s: give ks.%s or USE a keyspace",
						c->table, c->table);
			return false;
		}
		c->ks = coffer_xstrdup(cur_ks);
	}
	p = coffer_shell_skip_ws(p);
	if (*p == '(') {
		p++;
		for (;;) {
			char *col = coffer_shell_parse_ident(&p);
			if (!col)
				goto syntax;
			c->cols = coffer_xrealloc(c->cols, (c->n_cols + 1) * sizeof(char *));
			c->cols[c->n_cols++] = col;
			p = coffer_shell_skip_ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p != ')')
				goto syntax;
			p++;
			break;
		}
	}
	if (coffer_shell_keyword(&p, "to"))
		c->to = true;
	else if (!coffer_shell_keyword(&p, "from"))
		goto syntax;
	p = coffer_shell_skip_ws(p);
	if (*p != '\'') {
		if (coffer_shell_keyword(&p, "stdin") || coffer_shell_keyword(&p, "stdout")) {
			*msg = coffer_xstrdup("COPY to STDOUT or from STDIN is not supported: give a "
					      "file name");
			return false;
		}
		goto syntax;
	}
	c->file = parse_value(&p);
	if (!c->file || !*c->file)
		goto syntax;
	if (c->file[0] == '~' && c->file[1] == '/' && getenv("HOME")) {
		char *full = coffer_xasprintf("%s%s", getenv("HOME"), c->file + 1);
		free(c->file);
		c->file = full;
	}
	if (coffer_shell_keyword(&p, "with")) {
		do {
			char *name = parse_value(&p), *v = NULL;
			p = coffer_shell_skip_ws(p);
			if (!name || *p != '=') {
				free(name);
				goto syntax;
			}
			p++;
			v = parse_value(&p);
			bool ok = v && set_option(c, name, v, msg);
			free(name);
			free(v);
			if (!ok) {
				if (!*msg)
					goto syntax;
				return false;
			}
		} while (coffer_shell_keyword(&p, "and"));
	}
	if (*coffer_shell_skip_ws(p))
		goto syntax;
	return true;
syntax:
	*msg = coffer_xstrdup("Improper COPY command: COPY [ks.]table [(col, ...)] TO|FROM "
			      "'file.csv' [WITH option = value [AND ...]]");
	return false;
}

/* ---- progress --------------------------------------------------------------------- */

struct progress {
	bool tty;
	const char *verb; /* "exported", "imported" */
	int64_t start, last;
	bool drawn;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double rate(uint64_t rows, int64_t ns)
{
	return ns > 0 ? (double)rows * 1e9 / (double)ns : 0;
}

/* Redraws the bar (fraction in 0..1, or < 0 when unknown) on a terminal. */
static void progress_update(struct progress *p, uint64_t rows, double fraction)
{
	if (!p->tty)
		return;
	int64_t t = now_ns();
	if (p->drawn && t - p->last < COPY_PROGRESS_EVERY_NS)
		return;
	p->last = t;
	p->drawn = true;
	if (fraction > 1)
		fraction = 1;
	char bar[COPY_BAR_WIDTH + 1];
	int fill = fraction < 0 ? 0 : (int)(fraction * COPY_BAR_WIDTH);
	for (int i = 0; i < COPY_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[COPY_BAR_WIDTH] = 0;
	printf("\r[%s] %3d%% %llu rows %s, %.0f rows/s  ", bar,
	       fraction < 0 ? 0 : (int)(fraction * 100), (unsigned long long)rows, p->verb,
	       rate(rows, t - p->start));
	fflush(stdout);
}

static void progress_end(struct progress *p, uint64_t rows)
{
	int64_t t = now_ns() - p->start;
	if (p->drawn)
		printf("\r\x1b[K");
	printf("%llu rows %s in %.3f s (%.0f rows/s)\n", (unsigned long long)rows, p->verb,
	       (double)t / 1e9, rate(rows, t));
	fflush(stdout);
}

/* ---- the table -------------------------------------------------------------------- */

struct copy_col {
	struct coffer_copy_column c; /* name and type text borrow the schema column; type heap */
	bool key;                    /* partition key or clustering */
	bool counter;
};

struct copy_table {
	struct coffer_shell_column *schema;
	size_t n_schema;
	struct copy_col *cols;      /* the COPY's columns, in CSV order */
	size_t n;
	bool counter_table;
};

static void copy_table_free(struct copy_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		coffer_datatype_free(t->cols[i].c.type);
	free(t->cols);
	coffer_shell_columns_free(t->schema, t->n_schema);
}

static bool load_table(struct coffer_shell *sh, const struct copy_cmd *c, struct copy_table *t,
		       char **msg)
{
	memset(t, 0, sizeof(*t));
	if (!coffer_shell_table_columns(sh, c->ks, c->table, &t->schema, &t->n_schema, msg))
		return false;
	if (!t->n_schema) {
		*msg = coffer_xasprintf("Table '%s.%s' does not exist", c->ks, c->table);
		return false;
	}
	size_t n = c->cols ? c->n_cols : t->n_schema;
	t->cols = coffer_xcalloc(n, sizeof(*t->cols));
	for (size_t i = 0; i < n; i++) {
		const struct coffer_shell_column *sc = NULL;
		for (size_t j = 0; j < t->n_schema; j++)
			if (c->cols ? strcmp(t->schema[j].name, c->cols[i]) == 0 : j == i)
				sc = &t->schema[j];
		if (!sc) {
			*msg = coffer_xasprintf("Invalid column name %s", c->cols[i]);
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->cols[j].c.name, sc->name) == 0) {
				*msg = coffer_xasprintf("Column %s is given twice", sc->name);
				return false;
			}
		struct copy_col *cc = &t->cols[t->n++];
		cc->c.name = sc->name;
		cc->c.type_text = sc->type;
		cc->key = sc->rank < 2;
		if (coffer_datatype_parse(sc->type, strlen(sc->type), NULL, &cc->c.type) != COFFER_OK) {
			*msg = coffer_xasprintf("Column %s has a type COPY cannot read: %s (%s)",
						sc->name, sc->type, coffer_error_msg());
			return false;
		}
		cc->counter = cc->c.type->kind == COFFER_DT_COUNTER;
	}
	for (size_t j = 0; j < t->n_schema; j++)
		if (strcmp(t->schema[j].type, "counter") == 0)
			t->counter_table = true;
	return true;
}

/* ---- CSV writing ------------------------------------------------------------------ */

static void csv_put(struct coffer_buf *out, const char *s, size_t n, const struct copy_opts *o,
		    bool force_quote)
{
	bool q = force_quote;
	for (size_t i = 0; i < n && !q; i++)
		q = s[i] == o->delim || s[i] == o->quote || s[i] == '\n' || s[i] == '\r';
	if (!q) {
		coffer_buf_put(out, s, n);
		return;
	}
	coffer_buf_put_u8(out, (uint8_t)o->quote);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == o->quote)
			coffer_buf_put_u8(out, (uint8_t)o->quote);
		coffer_buf_put_u8(out, (uint8_t)s[i]);
	}
	coffer_buf_put_u8(out, (uint8_t)o->quote);
}

/* ks.t, quoted where needed. */
static void put_table(struct coffer_buf *q, const struct copy_cmd *c)
{
	coffer_shell_put_ident(q, c->ks);
	coffer_buf_put_u8(q, '.');
	coffer_shell_put_ident(q, c->table);
}

/* SELECT [token(pk), ]cols FROM ks.t into q (replacing it). token(pk)
 * first: rows come in token order, so it says how far along we are. */
static void build_select(struct coffer_buf *q, const struct copy_cmd *c,
			 const struct copy_table *t, bool with_token)
{
	size_t nkey = 0;
	coffer_buf_reset(q);
	coffer_buf_printf(q, "SELECT ");
	if (with_token) {
		coffer_buf_printf(q, "token(");
		for (size_t j = 0; j < t->n_schema; j++)
			if (t->schema[j].rank == 0) {
				coffer_buf_printf(q, nkey++ ? ", " : "");
				coffer_shell_put_ident(q, t->schema[j].name);
			}
		coffer_buf_printf(q, "), ");
	}
	for (size_t i = 0; i < t->n; i++) {
		coffer_buf_printf(q, i ? ", " : "");
		coffer_shell_put_ident(q, t->cols[i].c.name);
	}
	coffer_buf_printf(q, " FROM ");
	put_table(q, c);
}

/* ---- COPY TO ---------------------------------------------------------------------- */

static bool copy_to(struct coffer_shell *sh, struct copy_cmd *c, char **msg)
{
	struct copy_table t;
	struct coffer_buf q = {0}, line = {0}, val = {0};
	struct coffer_client_result res, prev;
	FILE *f = NULL;
	uint64_t rows = 0;
	bool ok = false, pending = false, with_token = true;
	int16_t stream;

	memset(&prev, 0, sizeof(prev));
	if (!load_table(sh, c, &t, msg))
		goto out;
	build_select(&q, c, &t, true);

	f = fopen(c->file, "w");
	if (!f) {
		*msg = coffer_xasprintf("Cannot open %s for writing: %s", c->file, strerror(errno));
		goto out;
	}
	if (c->o.header) {
		for (size_t i = 0; i < t.n; i++) {
			if (i)
				coffer_buf_put_u8(&line, (uint8_t)c->o.delim);
			csv_put(&line, t.cols[i].c.name, strlen(t.cols[i].c.name), &c->o, false);
		}
		coffer_buf_put_u8(&line, '\n');
	}

	struct progress pg = {isatty(STDOUT_FILENO), "exported", now_ns(), 0, false};
	/* The next page is asked for before this one is written out, so the
	 * server reads while we format; an answer still due when COPY stops
	 * early is collected at `out` so no later request meets it. */
	if (coffer_client_send_query(sh->client, COPY_TO_STREAM, coffer_buf_cstr(&q),
				     (int32_t)c->o.page_size, prev.paging_state) != COFFER_OK)
		goto conn_error;
	pending = true;
	for (;;) {
		pending = false;
		if (coffer_client_recv(sh->client, &stream, &res) != COFFER_OK) {
			coffer_client_result_free(&res);
			goto conn_error;
		}
		coffer_client_result_free(&prev);
		prev = res;
		if (res.kind == COFFER_CLIENT_ERROR && with_token && !rows) {
			/* System tables answer columns only: go on without the
			 * progress fraction. */
			with_token = false;
			build_select(&q, c, &t, false);
			if (coffer_client_send_query(sh->client, COPY_TO_STREAM, coffer_buf_cstr(&q),
						     (int32_t)c->o.page_size,
						     coffer_slice_of(NULL, 0)) != COFFER_OK)
				goto conn_error;
			pending = true;
			continue;
		}
		size_t first = with_token ? 1 : 0; /* the first column that is the table's */
		bool more = res.kind == COFFER_CLIENT_ROWS && res.paging_state.len &&
			    (c->o.max_rows < 0 || rows + res.n_rows < (uint64_t)c->o.max_rows);
		if (more && coffer_client_send_query(sh->client, COPY_TO_STREAM, coffer_buf_cstr(&q),
						     (int32_t)c->o.page_size,
						     res.paging_state) != COFFER_OK)
			goto conn_error;
		pending = more;
		if (res.kind == COFFER_CLIENT_ERROR) {
			char *e = coffer_client_error_text(&res);
			*msg = coffer_xasprintf("%s (after %llu rows)", e, (unsigned long long)rows);
			free(e);
			goto out;
		}
		if (res.kind != COFFER_CLIENT_ROWS || res.n_columns != t.n + first) {
			*msg = coffer_xstrdup("unexpected answer to COPY's SELECT");
			goto out;
		}
		double fraction = -1;
		for (size_t r = 0; r < res.n_rows; r++) {
			if (c->o.max_rows >= 0 && rows >= (uint64_t)c->o.max_rows)
				break;
			struct coffer_slice tok = coffer_client_cell(&res, r, 0);
			if (with_token && tok.len == 8)
				fraction = ((double)(int64_t)coffer_load_u64(tok.ptr) + 9.2233720368547758e18) /
					   1.8446744073709552e19;
			for (size_t i = 0; i < t.n; i++) {
				struct coffer_slice v = coffer_client_cell(&res, r, i + first);
				if (i)
					coffer_buf_put_u8(&line, (uint8_t)c->o.delim);
				if (!v.ptr) {
					coffer_buf_put(&line, c->o.null, strlen(c->o.null));
					continue;
				}
				coffer_buf_reset(&val);
				coffer_cli_format_csv(res.types[i + first], v, &val);
				/* A value that reads like a null is quoted (invariant in the
				 * file comment). */
				bool like_null = val.len == strlen(c->o.null) &&
						 memcmp(val.ptr ? (const void *)val.ptr : "", c->o.null,
							val.len) == 0;
				csv_put(&line, (const char *)val.ptr, val.len, &c->o, like_null);
			}
			coffer_buf_put_u8(&line, '\n');
			rows++;
		}
		if (line.len && fwrite(line.ptr, 1, line.len, f) != line.len) {
			*msg = coffer_xasprintf("Cannot write %s: %s", c->file, strerror(errno));
			goto out;
		}
		coffer_buf_reset(&line);
		progress_update(&pg, rows, fraction);
		if (!more)
			break;
	}
	if (fclose(f) != 0) {
		f = NULL;
		*msg = coffer_xasprintf("Cannot write %s: %s", c->file, strerror(errno));
		goto out;
	}
	f = NULL;
	progress_end(&pg, rows);
	ok = true;
	goto out;
conn_error:
	*msg = coffer_xasprintf("ConnectionError: %s (after %llu rows)", coffer_error_msg(),
				(unsigned long long)rows);
	pending = false;
out:
	if (pending) {
		coffer_client_result_free(&prev);
		if (coffer_client_recv(sh->client, &stream, &prev) != COFFER_OK)
			coffer_error_clear();
	}
	if (f)
		fclose(f);
	coffer_client_result_free(&prev);
	coffer_buf_free(&q);
	coffer_buf_free(&line);
	coffer_buf_free(&val);
	copy_table_free(&t);
	return ok;
}

/* ---- CSV reading ------------------------------------------------------------------ */

struct csv_field {
	size_t off, len;  /* in the reader's buf */
	bool quoted;
};

struct csv_reader {
	FILE *f;
	char delim, quote;
	int line;          /* lines consumed so far */
	int record_line;   /* where the last record began */
	struct coffer_buf buf;
	struct csv_field *fields;
	size_t n_fields, cap_fields;
};

static void csv_add_field(struct csv_reader *rd, size_t off, bool quoted)
{
	if (rd->n_fields == rd->cap_fields) {
		rd->cap_fields = rd->cap_fields ? 2 * rd->cap_fields : 32;
		rd->fields = coffer_xrealloc(rd->fields, rd->cap_fields * sizeof(*rd->fields));
	}
	rd->fields[rd->n_fields++] = (struct csv_field){off, rd->buf.len - off, quoted};
	coffer_buf_put_u8(&rd->buf, 0); /* each field NUL-terminated */
}

/* Reads the next record: 1 read, 0 at the end, -1 on a quote never closed.
 * Blank lines are skipped. */
static int csv_next(struct csv_reader *rd)
{
	int ch;
	coffer_buf_reset(&rd->buf);
	rd->n_fields = 0;
	do {
		ch = getc_unlocked(rd->f);
		if (ch == EOF)
			return 0;
		rd->line++;
		if (ch == '\r') {
			ch = getc_unlocked(rd->f);
			if (ch != '\n' && ch != EOF)
				ungetc(ch, rd->f);
			ch = '\n';
		}
	} while (ch == '\n');
	rd->record_line = rd->line;
	size_t off = 0;
	bool quoted = false, in_quotes = false;
	for (;; ch = getc_unlocked(rd->f)) {
		if (in_quotes) {
			if (ch == EOF)
				return -1;
			if (ch == rd->quote) {
				int next = getc_unlocked(rd->f);
				if (next == rd->quote) {
					coffer_buf_put_u8(&rd->buf, (uint8_t)ch);
					continue;
				}
				in_quotes = false;
				if (next != EOF)
					ungetc(next, rd->f);
				continue;
			}
			if (ch == '\n')
				rd->line++;
			coffer_buf_put_u8(&rd->buf, (uint8_t)ch);
			continue;
		}
		if (ch == EOF || ch == '\n' || ch == '\r') {
			if (ch == '\r') {
				int next = getc_unlocked(rd->f);
				if (next != '\n' && next != EOF)
					ungetc(next, rd->f);
			}
			csv_add_field(rd, off, quoted);
			return 1;
		}
		if (ch == rd->delim) {
			csv_add_field(rd, off, quoted);
			off = rd->buf.len;
			quoted = false;
			continue;
		}
		if (ch == rd->quote && rd->buf.len == off && !quoted) {
			quoted = in_quotes = true;
			continue;
		}
		coffer_buf_put_u8(&rd->buf, (uint8_t)ch);
	}
}

/* ---- COPY FROM ---------------------------------------------------------------------- */

/* A batch: rows, their lines and their values (offsets into data, or -1 for
 * null), on one stream. */
struct batch {
	enum { B_FREE, B_SENT, B_RETRY } state;
	size_t n_rows;
	size_t retry_next;      /* B_RETRY: the row now in flight */
	int *lines;
	long *off;              /* n_rows * n_bind */
	size_t *len;
	size_t cap_rows;
	struct coffer_buf data;
};

struct importer {
	struct coffer_shell *sh;
	const struct copy_cmd *c;
	const struct copy_table *t;
	struct coffer_slice id;
	size_t n_bind;
	size_t *bind_of;        /* bind_of[field] = bind index */
	struct batch *b;        /* max_inflight */
	size_t inflight;
	uint64_t imported, failed, parse_errors, insert_errors;
	struct coffer_proto_value *vals;
	size_t cap_vals;
	bool fatal;             /* the connection is gone or a limit is passed */
	bool conn_lost;         /* no answers will come */
	char *fatal_msg;
};

static void batch_values(struct importer *im, struct batch *b, size_t from, size_t rows)
{
	size_t need = rows * im->n_bind;
	if (need > im->cap_vals) {
		im->cap_vals = need;
		im->vals = coffer_xrealloc(im->vals, need * sizeof(*im->vals));
	}
	for (size_t i = 0; i < need; i++) {
		size_t k = from * im->n_bind + i;
		im->vals[i] = b->off[k] < 0 ? coffer_proto_value_null()
			      : coffer_proto_value_of(b->data.ptr + b->off[k], b->len[k]);
	}
}

static bool send_batch(struct importer *im, struct batch *b)
{
	int16_t stream = (int16_t)(2 + (b - im->b));
	coffer_rc rc;
	if (b->state == B_RETRY || b->n_rows == 1) {
		size_t row = b->state == B_RETRY ? b->retry_next : 0;
		batch_values(im, b, row, 1);
		rc = coffer_client_send_execute(im->sh->client, stream, im->id, im->vals,
						(uint16_t)im->n_bind);
	} else {
		batch_values(im, b, 0, b->n_rows);
		rc = coffer_client_send_batch(im->sh->client, stream,
					      im->t->counter_table ? COFFER_PROTO_BATCH_COUNTER
								   : COFFER_PROTO_BATCH_UNLOGGED,
					      im->id, b->n_rows, im->vals, (uint16_t)im->n_bind);
	}
	if (rc != COFFER_OK) {
		im->fatal = im->conn_lost = true;
		free(im->fatal_msg);
		im->fatal_msg = coffer_xasprintf("ConnectionError: %s", coffer_error_msg());
		return false;
	}
	if (b->state == B_FREE)
		b->state = B_SENT;
	im->inflight++;
	return true;
}

static void batch_reset(struct batch *b)
{
	b->state = B_FREE;
	b->n_rows = 0;
	b->retry_next = 0;
	coffer_buf_reset(&b->data);
}

static void row_failed(struct importer *im, int line, const struct coffer_client_result *res)
{
	fflush(stdout);
	char *e = coffer_client_error_text(res);
	fprintf(stderr, "%s:%d: %s\n", im->c->file, line, e);
	free(e);
	im->failed++;
	im->insert_errors++;
	if (im->c->o.max_insert_errors >= 0 &&
	    im->insert_errors > (uint64_t)im->c->o.max_insert_errors && !im->fatal) {
		im->fatal = true;
		im->fatal_msg = coffer_xasprintf("Exceeded the maximum of insert errors (%lld)",
						 im->c->o.max_insert_errors);
	}
}

/* Waits for one answer and acts on it (invariant 2 and 3). */
static bool collect_one(struct importer *im)
{
	struct coffer_client_result res;
	int16_t stream;
	if (coffer_client_recv(im->sh->client, &stream, &res) != COFFER_OK) {
		im->fatal = im->conn_lost = true;
		free(im->fatal_msg);
		im->fatal_msg = coffer_xasprintf("ConnectionError: %s", coffer_error_msg());
		coffer_client_result_free(&res);
		return false;
	}
	size_t slot = (size_t)stream - 2;
	if (slot >= (size_t)im->c->o.max_inflight || im->b[slot].state == B_FREE) {
		coffer_client_result_free(&res);
		return true; /* not ours: ignore */
	}
	struct batch *b = &im->b[slot];
	bool err = res.kind == COFFER_CLIENT_ERROR;
	im->inflight--;
	if (b->state == B_SENT) {
		if (!err) {
			im->imported += b->n_rows;
			batch_reset(b);
		} else if (b->n_rows == 1) {
			row_failed(im, b->lines[0], &res);
			batch_reset(b);
		} else if (im->fatal) {
			im->failed += b->n_rows;
			batch_reset(b);
		} else {
			b->state = B_RETRY;
			b->retry_next = 0;
			send_batch(im, b);
		}
	} else {
		if (err)
			row_failed(im, b->lines[b->retry_next], &res);
		else
			im->imported++;
		if (++b->retry_next < b->n_rows && !im->fatal) {
			send_batch(im, b);
		} else {
			/* Rows never retried because of a fatal stop are failures. */
			im->failed += b->n_rows - b->retry_next;
			batch_reset(b);
		}
	}
	coffer_client_result_free(&res);
	return !im->fatal;
}

static struct batch *free_batch(struct importer *im)
{
	for (;;) {
		for (long i = 0; i < im->c->o.max_inflight; i++)
			if (im->b[i].state == B_FREE)
				return &im->b[i];
		if (!collect_one(im))
			return NULL;
	}
}

/* Appends one row's values to b; false on a bad field (reported). */
static bool add_row(struct importer *im, struct batch *b, struct csv_reader *rd,
		    struct coffer_arena *a)
{
	if (b->n_rows == b->cap_rows) {
		b->cap_rows = b->cap_rows ? 2 * b->cap_rows : 32;
		b->lines = coffer_xrealloc(b->lines, b->cap_rows * sizeof(*b->lines));
		b->off = coffer_xrealloc(b->off, b->cap_rows * im->n_bind * sizeof(*b->off));
		b->len = coffer_xrealloc(b->len, b->cap_rows * im->n_bind * sizeof(*b->len));
	}
	size_t base = b->n_rows * im->n_bind, data0 = b->data.len;
	const struct copy_table *t = im->t;
	for (size_t i = 0; i < t->n; i++) {
		const struct csv_field *fd = &rd->fields[i];
		const char *s = (const char *)rd->buf.ptr + fd->off;
		size_t k = base + im->bind_of[i];
		char *err = NULL;
		bool is_null = false;
		if (!fd->quoted && strcmp(s, im->c->o.null) == 0) {
			is_null = true;
		} else {
			size_t before = b->data.len;
			if (!coffer_copy_field_value(a, &t->cols[i].c, s, fd->len, &b->data, &is_null, &err)) {
				fflush(stdout);
				fprintf(stderr, "%s:%d: field %zu (%s): %s\n", im->c->file,
					rd->record_line, i + 1, t->cols[i].c.name, err);
				free(err);
				b->data.len = data0;
				return false;
			}
			b->off[k] = (long)before;
			b->len[k] = b->data.len - before;
		}
		if (is_null) {
			if (t->cols[i].key) {
				fflush(stdout);
				fprintf(stderr, "%s:%d: field %zu (%s): the primary key column %s "
						"cannot be null\n", im->c->file, rd->record_line, i + 1,
					t->cols[i].c.name, t->cols[i].c.name);
				b->data.len = data0;
				return false;
			}
			b->off[k] = -1;
			b->len[k] = 0;
		}
	}
	b->lines[b->n_rows++] = rd->record_line;
	return true;
}

/* The prepared statement: INSERT INTO ks.t (cols) VALUES (?, ...), or for a
 * counter table UPDATE ks.t SET c = c + ?, ... WHERE k = ? AND ... (binds:
 * the counters in CSV order, then the key columns in CSV order). */
static void build_statement(const struct copy_cmd *c, const struct copy_table *t,
			    struct coffer_buf *q, size_t *bind_of)
{
	size_t nb = 0;
	if (!t->counter_table) {
		coffer_buf_printf(q, "INSERT INTO ");
		put_table(q, c);
		coffer_buf_printf(q, " (");
		for (size_t i = 0; i < t->n; i++) {
			coffer_buf_printf(q, i ? ", " : "");
			coffer_shell_put_ident(q, t->cols[i].c.name);
			bind_of[i] = i;
		}
		coffer_buf_printf(q, ") VALUES (");
		for (size_t i = 0; i < t->n; i++)
			coffer_buf_printf(q, i ? ", ?" : "?");
		coffer_buf_printf(q, ")");
		return;
	}
	coffer_buf_printf(q, "UPDATE ");
	put_table(q, c);
	coffer_buf_printf(q, " SET ");
	for (size_t i = 0; i < t->n; i++) {
		if (t->cols[i].key)
			continue;
		coffer_buf_printf(q, nb ? ", " : "");
		coffer_shell_put_ident(q, t->cols[i].c.name);
		coffer_buf_printf(q, " = ");
		coffer_shell_put_ident(q, t->cols[i].c.name);
		coffer_buf_printf(q, " + ?");
		bind_of[i] = nb++;
	}
	coffer_buf_printf(q, " WHERE ");
	for (size_t i = 0, k = 0; i < t->n; i++) {
		if (!t->cols[i].key)
			continue;
		coffer_buf_printf(q, k++ ? " AND " : "");
		coffer_shell_put_ident(q, t->cols[i].c.name);
		coffer_buf_printf(q, " = ?");
		bind_of[i] = nb++;
	}
}

static bool copy_from(struct coffer_shell *sh, struct copy_cmd *c, char **msg)
{
	struct copy_table t;
	struct importer im;
	struct csv_reader rd;
	struct coffer_buf q = {0};
	struct coffer_client_result prep;
	struct coffer_arena arena;
	bool ok = false, prepared = false;
	uint64_t records = 0;
	off_t size = 0;

	memset(&im, 0, sizeof(im));
	memset(&rd, 0, sizeof(rd));
	coffer_arena_init(&arena, 0);
	if (!load_table(sh, c, &t, msg))
		goto out;
	for (size_t j = 0; j < t.n_schema; j++) {
		bool given = false;
		for (size_t i = 0; i < t.n; i++)
			given |= strcmp(t.cols[i].c.name, t.schema[j].name) == 0;
		if (t.schema[j].rank < 2 && !given) {
			*msg = coffer_xasprintf("The primary key column %s is not among COPY's columns",
						t.schema[j].name);
			goto out;
		}
	}
	rd.f = fopen(c->file, "r");
	if (!rd.f) {
		*msg = coffer_xasprintf("Cannot open %s: %s", c->file, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fileno(rd.f), &st) == 0)
		size = st.st_size;
	rd.delim = c->o.delim;
	rd.quote = c->o.quote;

	im.sh = sh;
	im.c = c;
	im.t = &t;
	im.bind_of = coffer_xcalloc(t.n, sizeof(size_t));
	build_statement(c, &t, &q, im.bind_of);
	im.n_bind = t.n;
	if (coffer_client_prepare(sh->client, coffer_buf_cstr(&q), &prep) != COFFER_OK) {
		*msg = coffer_xasprintf("ConnectionError: %s", coffer_error_msg());
		coffer_client_result_free(&prep);
		goto out;
	}
	prepared = true;
	if (prep.kind == COFFER_CLIENT_ERROR) {
		*msg = coffer_client_error_text(&prep);
		goto out;
	}
	im.id = prep.prepared_id;
	im.b = coffer_xcalloc((size_t)c->o.max_inflight, sizeof(*im.b));

	struct progress pg = {isatty(STDOUT_FILENO), "imported", now_ns(), 0, false};
	bool header = c->o.header;
	long long skip = c->o.skip_rows;
	struct batch *cur = NULL;
	while (!im.fatal) {
		int r = csv_next(&rd);
		if (r == 0)
			break;
		if (r < 0) {
			fflush(stdout);
			fprintf(stderr, "%s:%d: a quoted field opened on this record never closes\n",
				c->file, rd.record_line);
			im.parse_errors++;
			im.failed++;
			break;
		}
		if (header) {
			header = false;
			continue;
		}
		if (skip > 0) {
			skip--;
			continue;
		}
		if (c->o.max_rows >= 0 && records >= (uint64_t)c->o.max_rows)
			break;
		records++;
		bool good;
		if (rd.n_fields != t.n) {
			fflush(stdout);
			fprintf(stderr, "%s:%d: expected %zu fields, found %zu\n", c->file,
				rd.record_line, t.n, rd.n_fields);
			good = false;
		} else {
			if (!cur && !(cur = free_batch(&im)))
				break;
			coffer_arena_reset(&arena);
			good = add_row(&im, cur, &rd, &arena);
		}
		if (!good) {
			im.parse_errors++;
			im.failed++;
			if (c->o.max_parse_errors >= 0 &&
			    im.parse_errors > (uint64_t)c->o.max_parse_errors) {
				im.fatal = true;
				im.fatal_msg = coffer_xasprintf("Exceeded the maximum of parse errors "
								"(%lld)", c->o.max_parse_errors);
			}
			continue;
		}
		if (cur->n_rows >= (size_t)c->o.max_batch) {
			if (!send_batch(&im, cur))
				break;
			cur = NULL;
		}
		if ((records & 1023) == 0)
			progress_update(&pg, im.imported,
					size > 0 ? (double)ftello(rd.f) / (double)size : -1);
	}
	if (cur && cur->n_rows && !im.fatal)
		send_batch(&im, cur);
	else if (cur && cur->n_rows)
		im.failed += cur->n_rows;
	while (im.inflight > 0 && !im.conn_lost)
		(void)collect_one(&im);
	progress_end(&pg, im.imported);
	if (im.fatal_msg) {
		*msg = coffer_xasprintf("%s; %llu rows imported", im.fatal_msg,
					(unsigned long long)im.imported);
		goto out;
	}
	if (im.failed) {
		*msg = coffer_xasprintf("Failed to import %llu rows (%llu parse errors, %llu insert "
					"errors; see above); %llu rows imported",
					(unsigned long long)im.failed,
					(unsigned long long)im.parse_errors,
					(unsigned long long)im.insert_errors,
					(unsigned long long)im.imported);
		goto out;
	}
	ok = true;
out:
	if (rd.f)
		fclose(rd.f);
	coffer_buf_free(&rd.buf);
	free(rd.fields);
	if (im.b) {
		for (long i = 0; i < c->o.max_inflight; i++) {
			free(im.b[i].lines);
			free(im.b[i].off);
			free(im.b[i].len);
			coffer_buf_free(&im.b[i].data);
		}
		free(im.b);
	}
	free(im.bind_of);
	free(im.vals);
	free(im.fatal_msg);
	if (prepared)
		coffer_client_result_free(&prep);
	coffer_buf_free(&q);
	coffer_arena_free(&arena);
	copy_table_free(&t);
	return ok;
}

bool coffer_shell_copy(struct coffer_shell *sh, const char *args, char **msg)
{
	struct copy_cmd c;
	bool ok;
	*msg = NULL;
	if (!parse_copy(args, sh->keyspace, &c, msg)) {
		copy_cmd_free(&c);
		return false;
	}
	ok = c.to ? copy_to(sh, &c, msg) : copy_from(sh, &c, msg);
	copy_cmd_free(&c);
	return ok;
}
