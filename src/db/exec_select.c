/*
 * exec_select.c - SELECT on user tables: the WHERE clause (exec_where.c) to
 * one storage read (partition keys or a token-ordered scan, one clustering
 * slice, forward or reversed), the projection (columns, aliases, COUNT(*),
 * writetime(), ttl(), token()), LIMIT, PER PARTITION LIMIT, DISTINCT,
 * ALLOW FILTERING, and paging.
 *
 * Rows come from the storage callback one at a time. A partition's static
 * row comes first; its cells are kept and shown in every row of the
 * partition. A partition holding only static cells shows one row with null
 * clustering and regular columns, as Cassandra does, unless the query
 * restricts clustering columns.
 *
 * Paging: a page holds at most page_size rows. When a page is full the read
 * goes on until the next row that qualifies: only then is there a next page
 * (so has_more_pages is exact). The paging state records where the last row
 * of the page was, in this layout (integers big-endian):
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     version (1)
 *   1       16    table id (a state is only valid for its table)
 *   17      8     rows returned by earlier pages (LIMIT accounting)
 *   25      var   partition key of the last row (varint length, bytes)
 *   ..      1     1: a clustering position follows; 0: the partition is done
 *   ..      1     n clustering values, then n x (varint length, bytes)
 *   ..      8     rows returned from that partition (PER PARTITION LIMIT)
 *   ..      16    HMAC-SHA256 of the bytes above under the catalog key,
 *                 first 16 bytes (so a forged or damaged state is refused
 *                 as Invalid before storage sees it)
 *
 * From it the next page builds storage's resume cursor (read.c's layout:
 * version 1, partition key, has-clustering flag, clustering values, rows
 * from the partition).
 *
 * Invariants:
 *  1. A row is returned at most once across pages and none is skipped,
 *     given no writes in between (storage's cursor invariant 3, plus the
 *     positions recorded here only for rows actually returned).
 *  2. Filters (where_match) run on every regular row; storage limits are
 *     used only where they cannot change which rows qualify.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "util/alloc.h"

#define PAGING_VERSION 1
#define PAGING_TAG 16

enum sel_kind { SEL_COL, SEL_WRITETIME, SEL_TTL, SEL_TOKEN, SEL_COUNT };

struct sel_col {
	enum sel_kind kind;
	const struct coffer_column *c;
	enum where_src src;
	uint32_t pos;                 /* pk/ck position or storage column id */
	const char *name;
	const struct coffer_datatype *type;
};

struct sel {
	struct coffer_exec *x;
	struct db_table *t;
	const struct coffer_tabledef *d;
	struct sel_col *cols;
	size_t ncols;
	bool count;
	uint64_t counted;
	bool count_have_first;
	struct coffer_buf first_row;  /* COUNT with columns: the first row's cells */
	struct where w;
	struct rows_writer rw;
	bool distinct;
	bool static_rows;             /* static-only partitions show a row */
	uint64_t page_limit;          /* 0: none */
	uint64_t limit_left;          /* 0: none (LIMIT minus earlier pages) */
	uint64_t ppl;
	uint64_t emitted;
	bool more, stop;
	coffer_rc err;
	/* the partition being read */
	struct coffer_buf cur_pk;
	bool in_part;
	struct coffer_slice pkc[COFFER_MAX_CLUSTERING];
	uint64_t part_rows;
	bool part_had_rows;
	bool part_done;               /* DISTINCT: shown */
	struct coffer_cell_view *scells;
	size_t nscells;
	struct coffer_buf sbuf;
	/* where to resume */
	struct coffer_slice resume_pk;
	bool resume_has_ck;
	uint64_t resume_part_rows;
	struct coffer_buf last_pk;
	bool last_has_ck;
	size_t last_n_ck;
	struct coffer_buf last_ck;    /* lenbytes values */
	uint64_t last_part_rows;
	bool have_last;
};

/* ---- projection -------------------------------------------------------------------- */

static COFFER_RESULT src_of(struct db_table *t, const struct coffer_column *c, enum where_src *src, uint32_t *pos)
{
	switch (c->kind) {
	case COFFER_COLUMN_PARTITION_KEY: *src = WHERE_PK; *pos = (uint32_t)c->position; return COFFER_OK;
	case COFFER_COLUMN_CLUSTERING: *src = WHERE_CK; *pos = (uint32_t)c->position; return COFFER_OK;
	case COFFER_COLUMN_STATIC: *src = WHERE_STATIC; break;
	case COFFER_COLUMN_REGULAR: *src = WHERE_REGULAR; break;
	}
	return db_column_id(t, c->name, false, pos);
}

static COFFER_RESULT projection(struct coffer_exec *x, struct db_table *t, const struct coffer_cql_select *s,
				struct sel_col **out, size_t *n)
{
	const struct coffer_tabledef *d = t->def;
	struct sel_col *cols;
	if (s->star) {
		cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (d->ncolumns + 1));
		for (size_t i = 0; i < d->ncolumns; i++) {
			cols[i].kind = SEL_COL;
			cols[i].c = &d->columns[i];
			cols[i].name = d->columns[i].name;
			cols[i].type = d->columns[i].type;
			TRY(src_of(t, cols[i].c, &cols[i].src, &cols[i].pos));
		}
		*out = cols;
		*n = d->ncolumns;
		return COFFER_OK;
	}
	cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (s->nselectors + 1));
	for (size_t i = 0; i < s->nselectors; i++) {
		const struct coffer_cql_selector *sl = s->selectors[i];
		struct sel_col *c = &cols[i];
		switch (sl->kind) {
		case COFFER_CQL_SEL_COLUMN:
		case COFFER_CQL_SEL_WRITETIME:
		case COFFER_CQL_SEL_TTL:
			c->c = coffer_tabledef_column(d, sl->name, true);
			ENSURE(c->c, COFFER_E_INVALID, "Undefined column name %s", sl->name);
			TRY(src_of(t, c->c, &c->src, &c->pos));
			if (sl->kind == COFFER_CQL_SEL_COLUMN) {
				c->kind = SEL_COL;
				c->type = c->c->type;
				c->name = sl->alias ? sl->alias : c->c->name;
				break;
			}
			ENSURE(c->src == WHERE_REGULAR || c->src == WHERE_STATIC, COFFER_E_INVALID,
			       "Cannot use selection function %s on PRIMARY KEY part %s",
			       sl->kind == COFFER_CQL_SEL_TTL ? "ttl" : "writeTime", c->c->name);
			ENSURE(!coffer_datatype_is_multicell(c->c->type) && c->c->type->kind != COFFER_DT_COUNTER,
			       COFFER_E_INVALID, "Cannot use selection function %s on %s %s",
			       sl->kind == COFFER_CQL_SEL_TTL ? "ttl" : "writeTime",
			       c->c->type->kind == COFFER_DT_COUNTER ? "counter" : "collection", c->c->name);
			c->kind = sl->kind == COFFER_CQL_SEL_TTL ? SEL_TTL : SEL_WRITETIME;
			c->type = coffer_datatype_of(sl->kind == COFFER_CQL_SEL_TTL ? COFFER_DT_INT : COFFER_DT_BIGINT);
			if (sl->alias) {
				c->name = sl->alias;
			} else {
				char *nm = coffer_xasprintf("%s(%s)", sl->kind == COFFER_CQL_SEL_TTL ? "ttl" : "writetime",
							    c->c->name);
				c->name = coffer_arena_strdup(x->arena, nm);
				free(nm);
			}
			break;
		case COFFER_CQL_SEL_COUNT_STAR:
			c->kind = SEL_COUNT;
			c->type = coffer_datatype_of(COFFER_DT_BIGINT);
			c->name = sl->alias ? sl->alias : "count";
			break;
		case COFFER_CQL_SEL_TOKEN: {
			ENSURE(sl->nargs == d->npartition, COFFER_E_INVALID,
			       "Invalid number of arguments in call to function system.token: %zu required but %zu provided",
			       d->npartition, sl->nargs);
			for (size_t j = 0; j < sl->nargs; j++)
				ENSURE(sl->args[j]->kind == COFFER_CQL_SEL_COLUMN && strcmp(sl->args[j]->name, d->columns[j].name) == 0,
				       COFFER_E_INVALID, "The token function arguments must be the partition key columns in order");
			c->kind = SEL_TOKEN;
			c->type = coffer_datatype_of(COFFER_DT_BIGINT);
			if (sl->alias) {
				c->name = sl->alias;
			} else {
				struct coffer_buf b = {0};
				coffer_buf_printf(&b, "system.token(");
				for (size_t j = 0; j < d->npartition; j++)
					coffer_buf_printf(&b, "%s%s", j ? ", " : "", d->columns[j].name);
				coffer_buf_printf(&b, ")");
				c->name = coffer_arena_strdup(x->arena, coffer_buf_cstr(&b));
				coffer_buf_free(&b);
			}
			break;
		}
		default:
			BAIL(COFFER_E_INVALID, "Selector %s is not supported by coffer", sl->src ? sl->src : "?");
		}
	}
	*out = cols;
	*n = s->nselectors;
	return COFFER_OK;
}

/* ---- paging state ---------------------------------------------------------------------- */

static void paging_tag(struct sel *s, const uint8_t *p, size_t n, uint8_t tag[COFFER_SHA256_BYTES])
{
	const struct coffer_secret *k = &s->x->db->catalog_key;
	if (k->ptr && k->len)
		coffer_hmac_sha256(k->ptr, k->len, p, n, tag);
	else
		coffer_hmac_sha256(s->d->id, 16, p, n, tag);
}

static void paging_make(struct sel *s, uint64_t returned, struct coffer_buf *out)
{
	uint8_t tag[COFFER_SHA256_BYTES];
	coffer_buf_put_u8(out, PAGING_VERSION);
	coffer_buf_put(out, s->d->id, 16);
	coffer_buf_put_u64(out, returned);
	coffer_buf_put_lenbytes(out, s->last_pk.ptr, s->last_pk.len);
	coffer_buf_put_u8(out, s->last_has_ck);
	coffer_buf_put_u8(out, (uint8_t)s->last_n_ck);
	coffer_buf_put(out, s->last_ck.ptr, s->last_ck.len);
	coffer_buf_put_u64(out, s->last_part_rows);
	paging_tag(s, out->ptr, out->len, tag);
	coffer_buf_put(out, tag, PAGING_TAG);
}

/* Parses a paging state into the returned count and storage's cursor. */
static COFFER_RESULT paging_parse(struct sel *s, struct coffer_slice ps, uint64_t *returned, struct coffer_buf *cursor)
{
	uint8_t tag[COFFER_SHA256_BYTES];
	struct coffer_reader r;
	uint8_t v, has, n;
	struct coffer_slice id, pk;
	const char *bad = "Invalid value for the paging state";

	ENSURE(ps.len > 1 + 16 + 8 + PAGING_TAG, COFFER_E_INVALID, "%s", bad);
	paging_tag(s, ps.ptr, ps.len - PAGING_TAG, tag);
	ENSURE(coffer_ct_equal(tag, ps.ptr + ps.len - PAGING_TAG, PAGING_TAG), COFFER_E_INVALID, "%s", bad);
	coffer_reader_init(&r, coffer_slice_of(ps.ptr, ps.len - PAGING_TAG), "paging state");
	ENSURE(coffer_reader_u8(&r, &v) == COFFER_OK && v == PAGING_VERSION, COFFER_E_INVALID, "%s", bad);
	ENSURE(coffer_reader_bytes(&r, 16, &id) == COFFER_OK && memcmp(id.ptr, s->d->id, 16) == 0, COFFER_E_INVALID,
	       "%s: it belongs to another table", bad);
	ENSURE(coffer_reader_u64(&r, returned) == COFFER_OK, COFFER_E_INVALID, "%s", bad);
	ENSURE(coffer_reader_lenbytes(&r, 1 << 16, &pk) == COFFER_OK, COFFER_E_INVALID, "%s", bad);
	ENSURE(coffer_reader_u8(&r, &has) == COFFER_OK && coffer_reader_u8(&r, &n) == COFFER_OK &&
		       n <= COFFER_MAX_CLUSTERING,
	       COFFER_E_INVALID, "%s", bad);
	coffer_buf_put_u8(cursor, 1);
	coffer_buf_put_lenbytes(cursor, pk.ptr, pk.len);
	coffer_buf_put_u8(cursor, has);
	coffer_buf_put_u8(cursor, n);
	for (uint8_t i = 0; i < n; i++) {
		struct coffer_slice c;
		ENSURE(coffer_reader_lenbytes(&r, 1 << 24, &c) == COFFER_OK, COFFER_E_INVALID, "%s", bad);
		coffer_buf_put_lenbytes(cursor, c.ptr, c.len);
	}
	uint64_t pr;
	ENSURE(coffer_reader_u64(&r, &pr) == COFFER_OK && coffer_reader_done(&r), COFFER_E_INVALID, "%s", bad);
	coffer_buf_put_u64(cursor, pr);
	s->resume_pk = coffer_slice_of(db_memdup(s->x->arena, pk.ptr, pk.len), pk.len);
	s->resume_has_ck = has;
	s->resume_part_rows = pr;
	return COFFER_OK;
}

/* ---- rows ----------------------------------------------------------------------------- */

static bool cell_find(const struct coffer_cell_view *cells, size_t n, uint32_t col, const struct coffer_cell_view **out)
{
	for (size_t i = 0; i < n; i++)
		if (cells[i].column == col) {
			*out = &cells[i];
			return true;
		}
	return false;
}

struct row_ctx {
	struct sel *s;
	const struct coffer_row_view *r; /* NULL for a static-only row */
};

static bool row_cell(void *arg, uint32_t column, bool is_static, struct coffer_slice *v)
{
	struct row_ctx *c = arg;
	const struct coffer_cell_view *cv;
	bool found = is_static ? cell_find(c->s->scells, c->s->nscells, column, &cv)
			       : (c->r && cell_find(c->r->cells, c->r->n_cells, column, &cv));
	if (found)
		*v = cv->value;
	return found;
}

static void put_bytes(struct coffer_buf *out, struct coffer_slice v, bool null)
{
	if (null) {
		coffer_proto_put_int(out, -1);
		return;
	}
	coffer_proto_put_int(out, (int32_t)v.len);
	coffer_buf_put(out, v.ptr, v.len);
}

/* Appends the cells of one row to `out` ([bytes] each). */
static void put_row(struct sel *s, const struct coffer_row_view *r, struct coffer_buf *out)
{
	for (size_t i = 0; i < s->ncols; i++) {
		const struct sel_col *c = &s->cols[i];
		const struct coffer_cell_view *cv = NULL;
		struct coffer_slice v = {0};
		bool null = true;
		uint8_t b8[8];
		switch (c->kind) {
		case SEL_COUNT:
			continue; /* filled when the count is known */
		case SEL_TOKEN:
			coffer_store_u64(b8, (uint64_t)coffer_token(coffer_buf_slice(&s->cur_pk)));
			v = coffer_slice_of(b8, 8);
			null = false;
			break;
		case SEL_COL:
			if (c->src == WHERE_PK) {
				v = s->pkc[c->pos];
				null = false;
			} else if (c->src == WHERE_CK) {
				if (r && c->pos < r->n_ck) {
					v = r->ck[c->pos];
					null = false;
				}
			} else if (c->src == WHERE_STATIC ? cell_find(s->scells, s->nscells, c->pos, &cv)
							  : (r && cell_find(r->cells, r->n_cells, c->pos, &cv))) {
				v = cv->value;
				null = false;
			}
			break;
		case SEL_WRITETIME:
		case SEL_TTL:
			if (c->src == WHERE_STATIC ? cell_find(s->scells, s->nscells, c->pos, &cv)
						   : (r && cell_find(r->cells, r->n_cells, c->pos, &cv))) {
				if (c->kind == SEL_WRITETIME) {
					coffer_store_u64(b8, (uint64_t)cv->ts);
					v = coffer_slice_of(b8, 8);
					null = false;
				} else if (cv->expires_us) {
					int64_t left = cv->expires_us - s->x->now_us;
					int32_t secs = left <= 0 ? 0 : (int32_t)((left + COFFER_US_PER_SEC - 1) / COFFER_US_PER_SEC);
					coffer_store_u32(b8, (uint32_t)secs);
					v = coffer_slice_of(b8, 4);
					null = false;
				}
			}
			break;
		}
		put_bytes(out, v, null);
	}
}

static void remember(struct sel *s, const struct coffer_row_view *r)
{
	coffer_buf_reset(&s->last_pk);
	coffer_buf_put(&s->last_pk, s->cur_pk.ptr, s->cur_pk.len);
	coffer_buf_reset(&s->last_ck);
	s->last_has_ck = r != NULL && !s->distinct;
	s->last_n_ck = s->last_has_ck ? r->n_ck : 0;
	for (size_t i = 0; i < s->last_n_ck; i++)
		coffer_buf_put_lenbytes(&s->last_ck, r->ck[i].ptr, r->ck[i].len);
	s->last_part_rows = s->part_rows;
	s->have_last = true;
}

/* Offers one result row (r NULL: the static-only row of the partition).
 * Returns false to stop the read. */
static bool offer(struct sel *s, const struct coffer_row_view *r)
{
	struct row_ctx rc = {s, r};
	struct where_row wr = {s->pkc, r ? r->ck : NULL, r ? r->n_ck : 0, row_cell, &rc};
	if (s->w.nfilters && !where_match(&s->w, &wr))
		return true;
	if (s->limit_left && s->emitted >= s->limit_left) {
		s->stop = true;
		return false;
	}
	if (s->count) {
		if (!s->count_have_first) {
			put_row(s, r, &s->first_row);
			s->count_have_first = true;
		}
		s->counted++;
		s->emitted++;
		s->part_rows++;
		return true;
	}
	if (s->page_limit && s->emitted >= s->page_limit) {
		s->more = true;
		return false;
	}
	s->part_rows++;
	put_row(s, r, &s->rw.cells);
	rows_end_row(&s->rw);
	s->emitted++;
	remember(s, r);
	return true;
}

/* The partition ends: its static-only row, if it is one. */
static bool finish_partition(struct sel *s)
{
	bool go = true;
	if (s->in_part && !s->distinct && s->static_rows && s->nscells && !s->part_had_rows)
		go = offer(s, NULL);
	s->in_part = false;
	return go;
}

static bool row_fn(void *arg, const struct coffer_row_view *r)
{
	struct sel *s = arg;
	if (!s->in_part || !coffer_slice_eq(coffer_buf_slice(&s->cur_pk), r->partition_key)) {
		if (!finish_partition(s))
			return false;
		coffer_buf_reset(&s->cur_pk);
		coffer_buf_put(&s->cur_pk, r->partition_key.ptr, r->partition_key.len);
		if (where_pk_split(s->x->arena, coffer_buf_slice(&s->cur_pk), s->d->npartition, s->pkc) != COFFER_OK) {
			s->err = COFFER_E_CORRUPT;
			return false;
		}
		s->in_part = true;
		s->nscells = 0;
		coffer_buf_reset(&s->sbuf);
		bool resumed = s->resume_pk.ptr && coffer_slice_eq(s->resume_pk, r->partition_key);
		s->part_rows = resumed ? s->resume_part_rows : 0;
		s->part_had_rows = resumed && s->resume_has_ck;
		s->part_done = false;
	}
	if (r->is_static) {
		/* Keep the static cells for every row of the partition. */
		size_t total = 0;
		for (size_t i = 0; i < r->n_cells; i++)
			total += r->cells[i].value.len;
		coffer_buf_reset(&s->sbuf);
		coffer_buf_reserve(&s->sbuf, total + r->n_cells * sizeof(struct coffer_cell_view) + 16);
		s->scells = (struct coffer_cell_view *)coffer_buf_extend(&s->sbuf, r->n_cells * sizeof(struct coffer_cell_view));
		uint8_t *p = coffer_buf_extend(&s->sbuf, total);
		for (size_t i = 0; i < r->n_cells; i++) {
			s->scells[i] = r->cells[i];
			if (r->cells[i].value.len)
				memcpy(p, r->cells[i].value.ptr, r->cells[i].value.len);
			s->scells[i].value = coffer_slice_of(p, r->cells[i].value.len);
			p += r->cells[i].value.len;
		}
		s->nscells = r->n_cells;
		if (s->distinct && !s->part_done && !s->part_had_rows) {
			s->part_done = true;
			s->part_had_rows = true;
			return offer(s, NULL);
		}
		return true;
	}
	s->part_had_rows = true;
	if (s->distinct) {
		if (s->part_done)
			return true;
		s->part_done = true;
		return offer(s, NULL);
	}
	if (s->ppl && s->part_rows >= s->ppl)
		return true;
	return offer(s, r);
}

/* ---- the statement ---------------------------------------------------------------------- */

static COFFER_RESULT limit_value(struct coffer_exec *x, const struct coffer_cql_term *term, const char *name,
				 uint64_t *out)
{
	struct coffer_slice v;
	bool is_null, is_unset;
	*out = 0;
	if (!term)
		return COFFER_OK;
	TRY(exec_term_value(x, term, coffer_datatype_of(COFFER_DT_INT), name, &v, &is_null, &is_unset));
	ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value of limit");
	if (is_unset)
		return COFFER_OK;
	ENSURE(v.len == 4, COFFER_E_INVALID, "Invalid limit value");
	int32_t l = (int32_t)coffer_load_u32(v.ptr);
	ENSURE(l > 0, COFFER_E_INVALID, "%s must be strictly positive",
	       strcmp(name, "[limit]") == 0 ? "LIMIT" : "PER PARTITION LIMIT");
	*out = (uint64_t)l;
	return COFFER_OK;
}

static COFFER_RESULT result_metadata(struct coffer_exec *x, const struct coffer_tabledef *d, const struct sel_col *cols,
				     size_t n, struct coffer_proto_metadata *md)
{
	struct coffer_proto_column *pc = coffer_arena_zalloc(x->arena, sizeof(*pc) * (n + 1));
	for (size_t i = 0; i < n; i++) {
		pc[i].keyspace = d->keyspace;
		pc[i].table = d->name;
		pc[i].name = cols[i].name;
		pc[i].type = rows_proto_type(x->arena, cols[i].type);
	}
	memset(md, 0, sizeof(*md));
	md->flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
	md->n_columns = (int32_t)n;
	md->keyspace = d->keyspace;
	md->table = d->name;
	md->columns = pc;
	return COFFER_OK;
}

/* ORDER BY: only the clustering order or its reverse. */
static COFFER_RESULT order_by(const struct coffer_tabledef *d, const struct coffer_cql_select *q, bool *reversed)
{
	*reversed = false;
	for (size_t i = 0; i < q->norder_by; i++) {
		const struct coffer_column *c = coffer_tabledef_column(d, q->order_by[i].column, true);
		ENSURE(c, COFFER_E_INVALID, "Undefined column name %s", q->order_by[i].column);
		ENSURE(c->kind == COFFER_COLUMN_CLUSTERING, COFFER_E_INVALID,
		       "Order by is currently only supported on the clustered columns of the PRIMARY KEY, got %s", c->name);
		ENSURE((size_t)c->position == i, COFFER_E_INVALID,
		       "Order by currently only supports the ordering of columns following their declared order in the PRIMARY KEY");
		bool rev = q->order_by[i].desc != (c->order == COFFER_ORDER_DESC);
		if (i == 0)
			*reversed = rev;
		ENSURE(rev == *reversed, COFFER_E_INVALID, "Unsupported order by relation");
	}
	return COFFER_OK;
}

static COFFER_RESULT select_run(struct coffer_exec *x, struct sel *s)
{
	const struct coffer_cql_select *q = &x->stmt->u.select;
	struct coffer_read rq;
	struct coffer_read_result res = {0};
	struct coffer_buf cursor = {0};
	coffer_rc rc = COFFER_OK;
	struct coffer_slice *pks = NULL;
	size_t npk = 0;
	uint64_t returned = 0, limit = 0;
	bool reversed;
	const struct coffer_tabledef *d = s->d;

	TRY(projection(x, s->t, q, &s->cols, &s->ncols));
	for (size_t i = 0; i < s->ncols; i++)
		s->count = s->count || s->cols[i].kind == SEL_COUNT;
	TRY(where_build(x, s->t, q->where, q->nwhere, &s->w));
	ENSURE(!s->w.needs_filtering || q->allow_filtering, COFFER_E_INVALID,
	       "Cannot execute this query as it might involve data filtering and thus may have unpredictable "
	       "performance. If you want to execute this query despite the performance unpredictability, use ALLOW "
	       "FILTERING");
	ENSURE(s->w.pk_all || !s->w.ck_restricted || q->allow_filtering || s->w.has_token, COFFER_E_INVALID,
	       "Cannot execute this query as it might involve data filtering and thus may have unpredictable "
	       "performance. If you want to execute this query despite the performance unpredictability, use ALLOW "
	       "FILTERING");
	TRY(order_by(d, q, &reversed));
	ENSURE(!q->norder_by || s->w.pk_all, COFFER_E_INVALID,
	       "ORDER BY is only supported when the partition key is restricted by an EQ or an IN.");
	ENSURE(!q->ngroup_by, COFFER_E_INVALID, "GROUP BY is not supported by coffer");
	ENSURE(!q->json, COFFER_E_INVALID, "SELECT JSON is not supported by coffer");
	TRY(limit_value(x, q->limit, "[limit]", &limit));
	TRY(limit_value(x, q->per_partition_limit, "[per_partition_limit]", &s->ppl));
	s->distinct = q->distinct;
	if (s->distinct) {
		for (size_t i = 0; i < s->ncols; i++)
			ENSURE(s->cols[i].kind == SEL_COUNT || s->cols[i].kind == SEL_TOKEN || s->cols[i].src == WHERE_PK ||
				       s->cols[i].src == WHERE_STATIC,
			       COFFER_E_INVALID, "SELECT DISTINCT queries must only request partition key columns and/or static columns (not %s)",
			       s->cols[i].name);
		ENSURE(!s->w.ck_restricted, COFFER_E_INVALID,
		       "SELECT DISTINCT with WHERE clause only supports restriction by partition key and/or static columns.");
	}
	s->static_rows = d->nclustering > 0 && !s->w.ck_restricted;

	if (x->paging_state.len && !s->count) {
		TRY(paging_parse(s, x->paging_state, &returned, &cursor));
	}
	if (limit) {
		if (returned >= limit) {
			/* Nothing left: an empty last page. */
			limit = 0;
			s->stop = true;
		}
		s->limit_left = limit ? limit - returned : 0;
	}
	if (!s->count && x->page_size > 0)
		s->page_limit = (uint64_t)x->page_size;

	memset(&rq, 0, sizeof(rq));
	if (s->w.pk_all) {
		TRY_FAIL(where_partitions(x, &s->w, true, &pks, &npk));
		if (s->w.has_token) {
			size_t k = 0;
			for (size_t i = 0; i < npk; i++) {
				int64_t tk = coffer_token(pks[i]);
				if (!s->w.token_empty && tk >= s->w.token_min && tk <= s->w.token_max)
					pks[k++] = pks[i];
			}
			npk = k;
		}
		rq.partitions = pks;
		rq.n_partitions = npk;
	} else if (s->w.has_token) {
		rq.token_range = true;
		rq.token_min = s->w.token_min;
		rq.token_max = s->w.token_max;
	}
	rq.lower = s->w.lower;
	rq.upper = s->w.upper;
	rq.reversed = reversed;
	rq.cursor = coffer_buf_slice(&cursor);
	if (!s->w.nfilters && !s->distinct)
		rq.per_partition_limit = s->ppl;
	if (s->distinct)
		rq.per_partition_limit = 1;

	struct coffer_proto_metadata md;
	TRY_FAIL(result_metadata(x, d, s->cols, s->ncols, &md));
	TRY_FAIL(rows_begin(&s->rw, x, &md));
	bool empty = (s->w.pk_all && npk == 0) || (s->w.has_token && s->w.token_empty) || s->stop;
	if (!empty) {
		rc = coffer_table_read(s->t->store, &rq, row_fn, s, &res);
		if (rc == COFFER_OK && !s->more && !s->stop && s->err == COFFER_OK)
			finish_partition(s);
		if (rc == COFFER_OK && s->err != COFFER_OK)
			rc = coffer_error_set(s->err, COFFER_WHERE, "a stored partition key does not decode");
		if (rc != COFFER_OK) {
			rows_abort(&s->rw);
			goto fail;
		}
	}
	if (s->count) {
		/* One row: the count, and the first row's other columns. */
		struct coffer_reader r;
		coffer_reader_init(&r, coffer_buf_slice(&s->first_row), "first row");
		for (size_t i = 0; i < s->ncols; i++) {
			if (s->cols[i].kind == SEL_COUNT) {
				uint8_t b8[8];
				coffer_store_u64(b8, s->counted);
				rows_cell(&s->rw, coffer_slice_of(b8, 8), false);
				continue;
			}
			uint32_t len = UINT32_MAX;
			struct coffer_slice v = {0};
			if (s->count_have_first && coffer_reader_u32(&r, &len) == COFFER_OK && len != UINT32_MAX)
				(void)!coffer_reader_bytes(&r, len, &v);
			rows_cell(&s->rw, v, !s->count_have_first || len == UINT32_MAX);
		}
		rows_end_row(&s->rw);
	}
	struct coffer_buf ps = {0};
	if (s->more && s->have_last) {
		paging_make(s, returned + s->emitted, &ps);
		rows_set_paging_state(&s->rw, coffer_buf_slice(&ps));
	}
	rows_end(&s->rw);
	coffer_buf_free(&ps);
fail:
	coffer_buf_free(&res.cursor);
	coffer_buf_free(&cursor);
	return rc;
}

COFFER_RESULT exec_select(struct coffer_exec *x)
{
	struct sel s;
	struct db_table *t;
	coffer_rc rc;

	memset(&s, 0, sizeof(s));
	pthread_rwlock_rdlock(&x->db->schema_lock);
	rc = db_find_table(x, &x->stmt->u.select.table, &t);
	if (rc == COFFER_OK)
		rc = db_table_usable(t);
	if (rc == COFFER_OK && !t->store)
		rc = coffer_error_set(COFFER_E_UNAVAILABLE, COFFER_WHERE, "Table %s.%s is not available", t->def->keyspace,
				      t->def->name);
	if (rc == COFFER_OK) {
		s.x = x;
		s.t = t;
		s.d = t->def;
		rc = select_run(x, &s);
	}
	pthread_rwlock_unlock(&x->db->schema_lock);
	coffer_buf_free(&s.first_row);
	coffer_buf_free(&s.cur_pk);
	coffer_buf_free(&s.sbuf);
	coffer_buf_free(&s.last_pk);
	coffer_buf_free(&s.last_ck);
	return rc;
}

COFFER_RESULT select_result_metadata(struct coffer_exec *x, struct db_table *t, struct coffer_proto_metadata *md)
{
	struct sel_col *cols;
	size_t n;
	TRY(projection(x, t, &x->stmt->u.select, &cols, &n));
	return result_metadata(x, t->def, cols, n, md);
}
