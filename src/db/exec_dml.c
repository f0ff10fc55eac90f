/*
 * exec_dml.c - INSERT, UPDATE, DELETE and BATCH: statements to storage
 * mutations, applied with one coffer_table_apply per table. A LOGGED batch
 * over several tables is first written to the batch log (batchlog.c), so a
 * crash between two tables' applies is completed at the next start.
 *
 * Storage layout of a row (column ids from db_column_id):
 *   - INSERT writes a row marker (the row exists with every column null);
 *     UPDATE does not, as in Cassandra.
 *   - A regular or static column is one cell holding the serialized value.
 *   - Non-frozen collections are stored as whole values too (storage cells
 *     have no element path): SET replaces the value; append, prepend,
 *     element set, element and value removal read the current value and
 *     write the new one (read-modify-write). An empty result deletes the
 *     cell, so an empty collection reads as null, as in Cassandra.
 *   - Counters are 8-byte bigints updated by read-modify-write.
 * Read-modify-write and conditions (IF ...) run under the table's stripe of
 * db->dml_locks, held from the read until the write is durable, so two such
 * statements on one table never interleave. A plain write does not take it.
 *
 * Timestamps: USING TIMESTAMP, else the batch's, else x->timestamp_us (the
 * client's or now). A read-modify-write writes at max(ts, old ts + 1) so an
 * increment or append is never lost to a tie or a lagging client clock.
 * TTL: USING TTL, else the table's default_time_to_live; TTL 0 is none.
 *
 * Invariants:
 *  1. A statement either applies all its mutations or none (one apply per
 *     table; a conditional statement or batch applies only when every
 *     condition holds; across tables, a logged batch is made whole by the
 *     batch log's replay after a crash).
 *  2. No user value reaches a message or a log line; messages name columns.
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/alloc.h"

#define MAX_TTL 630720000 /* 20 years, Cassandra's MAX_TTL */

/* Mutations of one table, applied together. */
struct group {
	struct db_table *t;
	struct coffer_mutation **m;
	size_t n, cap;
};

/* A value written earlier in the same statement or batch that a later
 * read-modify-write must see (counter + counter in one batch). */
struct pending {
	struct db_table *t;
	struct coffer_slice pk;
	struct coffer_slice ck[COFFER_MAX_CLUSTERING];
	size_t n_ck;
	uint32_t col;
	bool is_static;
	struct coffer_slice value;
	bool is_null;
	int64_t ts;
};

/* A column of the [applied] result. */
struct applied_col {
	const char *name;
	const struct coffer_datatype *type;
	struct coffer_slice v;
	bool is_null;
};

struct dml {
	struct coffer_exec *x;
	struct group *groups;
	size_t ngroups;
	struct pending *pend;
	size_t npend;
	bool conditional;          /* some statement has IF */
	bool applied;
	struct applied_col *acols; /* the not-applied answer */
	size_t nacols;
	const struct coffer_tabledef *adef;
	int64_t batch_ts;          /* batch USING TIMESTAMP, or INT64_MIN */
	bool counter_batch;
	int batch_kind;            /* -1: not a batch */
	struct db_blog *blog;      /* a logged multi-table batch's record, or NULL */
};

/* The stored state of one row, copied into the arena. */
struct snap_cell {
	uint32_t col;
	struct coffer_slice v;
	int64_t ts;
	uint32_t ttl;
};
struct snapshot {
	bool row_exists;     /* a live marker or regular cell */
	bool static_exists;
	struct snap_cell *cells, *scells;
	size_t n, ns;
	size_t cap, scap;
};

/* ---- helpers ---------------------------------------------------------------------- */

static struct coffer_mutation *new_mutation(struct dml *d, struct db_table *t, const struct coffer_slice *pk, size_t n)
{
	struct group *g = NULL;
	for (size_t i = 0; i < d->ngroups; i++)
		if (d->groups[i].t == t)
			g = &d->groups[i];
	if (!g) {
		d->groups = coffer_xrealloc(d->groups, sizeof(*d->groups) * (d->ngroups + 1));
		g = &d->groups[d->ngroups++];
		memset(g, 0, sizeof(*g));
		g->t = t;
	}
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->m = coffer_xrealloc(g->m, sizeof(*g->m) * g->cap);
	}
	struct coffer_mutation *m = coffer_mutation_new(t->store, pk, n);
	g->m[g->n++] = m;
	db_blog_mutation(d->blog, t, m, pk, n);
	return m;
}

static void dml_free(struct dml *d)
{
	for (size_t i = 0; i < d->ngroups; i++) {
		for (size_t j = 0; j < d->groups[i].n; j++)
			coffer_mutation_free(d->groups[i].m[j]);
		free(d->groups[i].m);
	}
	free(d->groups);
	free(d->pend);
	db_blog_free(d->blog);
}

static COFFER_RESULT using_ts(struct dml *d, const struct coffer_cql_using *u, int64_t *out)
{
	struct coffer_exec *x = d->x;
	if (u->timestamp) {
		struct coffer_slice v;
		bool is_null, is_unset;
		TRY(exec_term_value(x, u->timestamp, coffer_datatype_of(COFFER_DT_BIGINT), "[timestamp]", &v, &is_null,
				    &is_unset));
		ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value of timestamp");
		if (!is_unset && v.len == 8) {
			*out = (int64_t)coffer_load_u64(v.ptr);
			ENSURE(*out != INT64_MIN, COFFER_E_INVALID, "Invalid timestamp");
			return COFFER_OK;
		}
	}
	*out = d->batch_ts != INT64_MIN ? d->batch_ts : x->timestamp_us;
	return COFFER_OK;
}

static COFFER_RESULT using_ttl(struct dml *d, const struct coffer_cql_using *u, const struct coffer_tabledef *def,
			       uint32_t *out)
{
	struct coffer_exec *x = d->x;
	*out = def->default_time_to_live > 0 ? (uint32_t)def->default_time_to_live : 0;
	if (!u->ttl)
		return COFFER_OK;
	struct coffer_slice v;
	bool is_null, is_unset;
	TRY(exec_term_value(x, u->ttl, coffer_datatype_of(COFFER_DT_INT), "[ttl]", &v, &is_null, &is_unset));
	ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value of TTL");
	if (is_unset || v.len != 4)
		return COFFER_OK;
	int32_t ttl = (int32_t)coffer_load_u32(v.ptr);
	ENSURE(ttl >= 0, COFFER_E_INVALID, "A TTL must be greater or equal to 0, but was %d", ttl);
	ENSURE(ttl <= MAX_TTL, COFFER_E_INVALID, "ttl is too large. requested (%d) maximum (%d)", ttl, MAX_TTL);
	*out = (uint32_t)ttl;
	return COFFER_OK;
}

static bool is_counter_table(const struct coffer_tabledef *d)
{
	for (size_t i = 0; i < d->ncolumns; i++)
		if (d->columns[i].type->kind == COFFER_DT_COUNTER)
			return true;
	return false;
}

static COFFER_RESULT open_table(struct coffer_exec *x, const struct coffer_cql_qname *name, struct db_table **t)
{
	const char *ks = name->keyspace ? name->keyspace : x->session->keyspace;
	ENSURE(!ks || !ks[0] || !db_is_system_keyspace(ks), COFFER_E_DENIED,
	       "%s keyspace is not user-modifiable.", ks ? ks : "");
	TRY(db_find_table(x, name, t));
	TRY(db_table_usable(*t));
	ENSURE((*t)->store, COFFER_E_UNAVAILABLE, "Table %s.%s is not available", (*t)->def->keyspace, (*t)->def->name);
	return COFFER_OK;
}

/* ---- reading the current state (conditions, read-modify-write) ---------------------- */

struct snap_ctx {
	struct coffer_exec *x;
	struct snapshot *s;
};

static void snap_push(struct coffer_exec *x, struct snap_cell **arr, size_t *n, size_t *cap,
		      const struct coffer_cell_view *c)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct snap_cell *a = coffer_arena_zalloc(x->arena, sizeof(*a) * nc);
		if (*n)
			memcpy(a, *arr, sizeof(*a) * *n);
		*arr = a;
		*cap = nc;
	}
	struct snap_cell *d = &(*arr)[(*n)++];
	d->col = c->column;
	d->v = coffer_slice_of(db_memdup(x->arena, c->value.ptr, c->value.len), c->value.len);
	d->ts = c->ts;
	d->ttl = c->ttl;
}

static bool snap_fn(void *arg, const struct coffer_row_view *row)
{
	struct snap_ctx *c = arg;
	struct snapshot *s = c->s;
	for (size_t i = 0; i < row->n_cells; i++) {
		if (row->is_static)
			snap_push(c->x, &s->scells, &s->ns, &s->scap, &row->cells[i]);
		else
			snap_push(c->x, &s->cells, &s->n, &s->cap, &row->cells[i]);
	}
	if (row->is_static)
		s->static_exists = row->n_cells > 0;
	else
		s->row_exists = true;
	return true;
}

/* Reads one row (and the partition's static row). n_ck 0 on a table with
 * clustering reads only the static row. */
static COFFER_RESULT read_row(struct coffer_exec *x, struct db_table *t, struct coffer_slice pk,
			      const struct coffer_slice *ck, size_t n_ck, struct snapshot *s)
{
	struct coffer_read q;
	struct coffer_read_result res = {0};
	struct snap_ctx c = {x, s};
	memset(&q, 0, sizeof(q));
	memset(s, 0, sizeof(*s));
	q.partitions = &pk;
	q.n_partitions = 1;
	if (t->def->nclustering) {
		q.lower = (struct coffer_bound){ck, n_ck, true};
		q.upper = (struct coffer_bound){ck, n_ck, true};
		if (n_ck == 0)
			q.limit = 1; /* the static row comes first; rows are not needed */
	}
	coffer_rc rc = coffer_table_read(t->store, &q, snap_fn, &c, &res);
	coffer_buf_free(&res.cursor);
	if (n_ck == 0 && t->def->nclustering)
		s->row_exists = false;
	return rc;
}

static const struct snap_cell *snap_get(const struct snapshot *s, uint32_t col, bool is_static)
{
	const struct snap_cell *a = is_static ? s->scells : s->cells;
	size_t n = is_static ? s->ns : s->n;
	for (size_t i = 0; i < n; i++)
		if (a[i].col == col)
			return &a[i];
	return NULL;
}

static struct pending *pending_find(struct dml *d, struct db_table *t, struct coffer_slice pk,
				    const struct coffer_slice *ck, size_t n_ck, uint32_t col, bool is_static)
{
	for (size_t i = d->npend; i-- > 0;) {
		struct pending *p = &d->pend[i];
		if (p->t != t || p->col != col || p->is_static != is_static || !coffer_slice_eq(p->pk, pk))
			continue;
		if (!is_static) {
			if (p->n_ck != n_ck)
				continue;
			size_t j = 0;
			while (j < n_ck && coffer_slice_eq(p->ck[j], ck[j]))
				j++;
			if (j < n_ck)
				continue;
		}
		return p;
	}
	return NULL;
}

static void pending_add(struct dml *d, struct db_table *t, struct coffer_slice pk, const struct coffer_slice *ck,
			size_t n_ck, uint32_t col, bool is_static, struct coffer_slice v, bool is_null, int64_t ts)
{
	d->pend = coffer_xrealloc(d->pend, sizeof(*d->pend) * (d->npend + 1));
	struct pending *p = &d->pend[d->npend++];
	memset(p, 0, sizeof(*p));
	p->t = t;
	p->pk = pk;
	if (n_ck)
		memcpy(p->ck, ck, sizeof(ck[0]) * n_ck);
	p->n_ck = n_ck;
	p->col = col;
	p->is_static = is_static;
	p->value = v;
	p->is_null = is_null;
	p->ts = ts;
}

/* The current value of a cell for read-modify-write. */
static COFFER_RESULT current_value(struct dml *d, struct db_table *t, struct coffer_slice pk, const struct coffer_slice *ck,
				   size_t n_ck, uint32_t col, bool is_static, struct coffer_slice *v, bool *present,
				   int64_t *ts)
{
	struct pending *p = pending_find(d, t, pk, ck, n_ck, col, is_static);
	if (p) {
		*v = p->value;
		*present = !p->is_null;
		*ts = p->ts;
		return COFFER_OK;
	}
	struct snapshot s;
	TRY(read_row(d->x, t, pk, ck, is_static ? 0 : n_ck, &s));
	const struct snap_cell *c = snap_get(&s, col, is_static);
	*present = c != NULL;
	*v = c ? c->v : coffer_slice_of(NULL, 0);
	*ts = c ? c->ts : INT64_MIN;
	return COFFER_OK;
}

/* ---- collections (whole values) ----------------------------------------------------- */

struct elems {
	struct coffer_slice *k, *v; /* v only for maps */
	size_t n;
};

static COFFER_RESULT split(struct coffer_exec *x, struct coffer_slice val, bool present, bool map, struct elems *e)
{
	struct coffer_reader r;
	uint32_t cnt;
	memset(e, 0, sizeof(*e));
	if (!present || val.len == 0)
		return COFFER_OK;
	coffer_reader_init(&r, val, "collection");
	TRY(coffer_reader_u32(&r, &cnt));
	ENSURE(cnt <= COFFER_VALUE_MAX_ELEMENTS, COFFER_E_CORRUPT, "collection: too many elements");
	e->k = coffer_arena_zalloc(x->arena, sizeof(*e->k) * ((size_t)cnt + 1));
	e->v = coffer_arena_zalloc(x->arena, sizeof(*e->v) * ((size_t)cnt + 1));
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t len;
		TRY(coffer_reader_u32(&r, &len));
		TRY(coffer_reader_bytes(&r, len, &e->k[i]));
		if (map) {
			TRY(coffer_reader_u32(&r, &len));
			TRY(coffer_reader_bytes(&r, len, &e->v[i]));
		}
		e->n++;
	}
	return COFFER_OK;
}

static void join_into(struct coffer_buf *b, const struct elems *e, bool map, const bool *skip)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n; i++)
		n += !(skip && skip[i]);
	coffer_buf_put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < e->n; i++) {
		if (skip && skip[i])
			continue;
		coffer_buf_put_u32(b, (uint32_t)e->k[i].len);
		coffer_buf_put(b, e->k[i].ptr, e->k[i].len);
		if (map) {
			coffer_buf_put_u32(b, (uint32_t)e->v[i].len);
			coffer_buf_put(b, e->v[i].ptr, e->v[i].len);
		}
	}
}

/* ---- writing one column ------------------------------------------------------------ */

/* Where a statement writes: one row (or the static row). */
struct target {
	struct db_table *t;
	struct coffer_mutation *m;
	struct coffer_slice pk;               /* serialized */
	const struct coffer_slice *ck;
	size_t n_ck;
	int64_t ts;
	uint32_t ttl;
};

static void put_cell(struct dml *d, struct target *g, const struct coffer_column *c, uint32_t id,
		     struct coffer_slice v, bool is_null, int64_t ts, bool rmw)
{
	bool st = c->kind == COFFER_COLUMN_STATIC;
	/* An empty non-frozen collection is no collection. */
	if (!is_null && coffer_datatype_is_multicell(c->type) && v.len >= 4 && coffer_load_u32(v.ptr) == 0)
		is_null = true;
	if (is_null) {
		if (st)
			db_mut_delete_static(d->blog, g->m, id, ts);
		else
			db_mut_delete_cell(d->blog, g->m, g->ck, g->n_ck, id, ts);
	} else if (st) {
		db_mut_set_static(d->blog, g->m, id, v, ts, g->ttl);
	} else {
		db_mut_set(d->blog, g->m, g->ck, g->n_ck, id, v, ts, g->ttl);
	}
	if (rmw || c->type->kind == COFFER_DT_COUNTER || coffer_datatype_is_multicell(c->type))
		pending_add(d, g->t, g->pk, g->ck, g->n_ck, id, st, v, is_null, ts);
}

static COFFER_RESULT assign(struct dml *d, struct target *g, const struct coffer_column *c,
			    const struct coffer_cql_assignment *a)
{
	struct coffer_exec *x = d->x;
	const struct coffer_datatype *ty = c->type;
	uint32_t id;
	struct coffer_slice v, k;
	bool is_null, is_unset;
	bool st = c->kind == COFFER_COLUMN_STATIC;

	TRY(db_column_id(g->t, c->name, false, &id));
	if (ty->kind == COFFER_DT_COUNTER) {
		ENSURE(a->op == COFFER_CQL_SET_ADD || a->op == COFFER_CQL_SET_REMOVE, COFFER_E_INVALID,
		       "Cannot set the value of counter column %s (counters can only be incremented/decremented, not set)",
		       c->name);
		TRY(exec_term_value(x, a->value, coffer_datatype_of(COFFER_DT_BIGINT), c->name, &v, &is_null, &is_unset));
		ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value for counter increment");
		if (is_unset)
			return COFFER_OK;
		ENSURE(v.len == 8, COFFER_E_INVALID, "Invalid counter increment for %s", c->name);
		int64_t delta = (int64_t)coffer_load_u64(v.ptr);
		if (a->op == COFFER_CQL_SET_REMOVE)
			delta = (int64_t)(0 - (uint64_t)delta);
		struct coffer_slice old;
		bool present;
		int64_t old_ts;
		TRY(current_value(d, g->t, g->pk, g->ck, g->n_ck, id, st, &old, &present, &old_ts));
		int64_t base = present && old.len == 8 ? (int64_t)coffer_load_u64(old.ptr) : 0;
		uint8_t *nb = coffer_arena_alloc(x->arena, 8);
		coffer_store_u64(nb, (uint64_t)base + (uint64_t)delta);
		int64_t ts = g->ts > old_ts ? g->ts : old_ts + 1;
		uint32_t keep_ttl = g->ttl;
		g->ttl = 0; /* counters carry no TTL */
		put_cell(d, g, c, id, coffer_slice_of(nb, 8), false, ts, true);
		g->ttl = keep_ttl;
		return COFFER_OK;
	}
	bool multicell = coffer_datatype_is_multicell(ty);
	if (a->op == COFFER_CQL_SET_VALUE) {
		TRY(exec_term_value(x, a->value, ty, c->name, &v, &is_null, &is_unset));
		if (is_unset)
			return COFFER_OK;
		put_cell(d, g, c, id, v, is_null, g->ts, false);
		return COFFER_OK;
	}
	if (!multicell) {
		if (a->op == COFFER_CQL_SET_ELEMENT)
			BAIL(COFFER_E_INVALID, "Invalid operation (%s[...] = ...) for %s column %s", c->name,
			     coffer_datatype_kind_is_collection(ty->kind) ? "frozen collection" : "non collection", c->name);
		BAIL(COFFER_E_INVALID, "Invalid operation (%s = %s %s ...) for non counter column %s", c->name, c->name,
		     a->op == COFFER_CQL_SET_REMOVE ? "-" : "+", c->name);
	}
	bool map = ty->kind == COFFER_DT_MAP;
	struct coffer_slice old;
	bool present;
	int64_t old_ts;
	TRY(current_value(d, g->t, g->pk, g->ck, g->n_ck, id, st, &old, &present, &old_ts));
	struct elems cur, add;
	TRY(split(x, old, present, map, &cur));
	struct coffer_buf nb = {0};
	coffer_rc rc = COFFER_OK;
	int64_t ts = g->ts > old_ts ? g->ts : old_ts + 1;

	if (a->op == COFFER_CQL_SET_ELEMENT) {
		if (ty->kind == COFFER_DT_LIST) {
			TRY(exec_term_value(x, a->key, coffer_datatype_of(COFFER_DT_INT), c->name, &k, &is_null, &is_unset));
			ENSURE(!is_null && !is_unset && k.len == 4, COFFER_E_INVALID, "Invalid null value for list index of %s",
			       c->name);
			int32_t idx = (int32_t)coffer_load_u32(k.ptr);
			ENSURE(idx >= 0 && (size_t)idx < cur.n, COFFER_E_INVALID, "List index %d out of bound, list has size %zu",
			       idx, cur.n);
			TRY(exec_term_value(x, a->value, ty->params[0], c->name, &v, &is_null, &is_unset));
			if (is_unset)
				return COFFER_OK;
			bool *skip = coffer_arena_zalloc(x->arena, cur.n + 1);
			if (is_null)
				skip[idx] = true;
			else
				cur.k[idx] = v;
			join_into(&nb, &cur, false, skip);
		} else if (map) {
			TRY(exec_term_value(x, a->key, ty->params[0], c->name, &k, &is_null, &is_unset));
			ENSURE(!is_null && !is_unset, COFFER_E_INVALID, "Invalid null value for map key of %s", c->name);
			TRY(exec_term_value(x, a->value, ty->params[1], c->name, &v, &is_null, &is_unset));
			if (is_unset)
				return COFFER_OK;
			bool *skip = coffer_arena_zalloc(x->arena, cur.n + 2);
			struct elems e = cur;
			e.k = coffer_arena_zalloc(x->arena, sizeof(*e.k) * (cur.n + 1));
			e.v = coffer_arena_zalloc(x->arena, sizeof(*e.v) * (cur.n + 1));
			if (cur.n) {
				memcpy(e.k, cur.k, sizeof(*e.k) * cur.n);
				memcpy(e.v, cur.v, sizeof(*e.v) * cur.n);
			}
			for (size_t i = 0; i < cur.n; i++)
				if (coffer_value_compare(ty->params[0], cur.k[i], k) == 0)
					skip[i] = true;
			if (!is_null) {
				e.k[e.n] = k;
				e.v[e.n] = v;
				e.n++;
			}
			join_into(&nb, &e, true, skip);
		} else {
			BAIL(COFFER_E_INVALID, "Invalid operation (%s[...] = ...) for set column %s", c->name, c->name);
		}
	} else if (a->op == COFFER_CQL_SET_REMOVE) {
		const struct coffer_datatype *rt = ty;
		struct coffer_datatype *st_type = NULL;
		if (map) {
			struct coffer_datatype *kp = ty->params[0];
			TRY(coffer_datatype_make(x->arena, COFFER_DT_SET, true, &kp, 1, &st_type));
			rt = st_type;
		}
		TRY(exec_term_value(x, a->value, rt, c->name, &v, &is_null, &is_unset));
		if (is_unset)
			return COFFER_OK;
		ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value for %s removal", c->name);
		TRY(split(x, v, true, false, &add));
		bool *skip = coffer_arena_zalloc(x->arena, cur.n + 1);
		const struct coffer_datatype *et = ty->params[0];
		for (size_t i = 0; i < cur.n; i++)
			for (size_t j = 0; j < add.n && !skip[i]; j++)
				skip[i] = coffer_value_compare(et, cur.k[i], add.k[j]) == 0;
		join_into(&nb, &cur, map, skip);
	} else {
		/* SET_ADD (append, union, merge) or SET_PREPEND. */
		ENSURE(a->op != COFFER_CQL_SET_PREPEND || ty->kind == COFFER_DT_LIST, COFFER_E_INVALID,
		       "Invalid operation (%s = ... + %s) for non list column %s", c->name, c->name, c->name);
		TRY(exec_term_value(x, a->value, ty, c->name, &v, &is_null, &is_unset));
		if (is_unset)
			return COFFER_OK;
		if (is_null)
			v = coffer_slice_of(NULL, 0);
		TRY(split(x, v, !is_null, map, &add));
		struct elems all;
		all.n = cur.n + add.n;
		all.k = coffer_arena_zalloc(x->arena, sizeof(*all.k) * (all.n + 1));
		all.v = coffer_arena_zalloc(x->arena, sizeof(*all.v) * (all.n + 1));
		const struct elems *first = a->op == COFFER_CQL_SET_PREPEND ? &add : &cur;
		const struct elems *second = a->op == COFFER_CQL_SET_PREPEND ? &cur : &add;
		for (size_t i = 0; i < first->n; i++) {
			all.k[i] = first->k[i];
			all.v[i] = first->v[i];
		}
		for (size_t i = 0; i < second->n; i++) {
			all.k[first->n + i] = second->k[i];
			all.v[first->n + i] = second->v[i];
		}
		join_into(&nb, &all, map, NULL);
	}
	if (ty->kind != COFFER_DT_LIST) {
		struct coffer_buf norm = {0};
		rc = coffer_value_normalize(ty, coffer_buf_slice(&nb), &norm);
		if (rc == COFFER_OK) {
			coffer_buf_reset(&nb);
			coffer_buf_put(&nb, norm.ptr, norm.len);
		}
		coffer_buf_free(&norm);
	}
	if (rc == COFFER_OK) {
		struct coffer_slice nv = coffer_slice_of(db_memdup(x->arena, nb.ptr, nb.len), nb.len);
		put_cell(d, g, c, id, nv, nb.len <= 4 && (nb.len < 4 || coffer_load_u32(nb.ptr) == 0), ts, true);
	}
	coffer_buf_free(&nb);
	return rc;
}

/* DELETE l[i], m[k], s[v]: remove one element (read-modify-write). */
static COFFER_RESULT delete_element(struct dml *d, struct target *g, const struct coffer_column *c,
				    const struct coffer_cql_term *elem)
{
	struct coffer_exec *x = d->x;
	const struct coffer_datatype *ty = c->type;
	ENSURE(coffer_datatype_is_multicell(ty), COFFER_E_INVALID,
	       "Invalid deletion operation for %s column %s",
	       coffer_datatype_kind_is_collection(ty->kind) ? "frozen collection" : "non-collection", c->name);
	uint32_t id;
	TRY(db_column_id(g->t, c->name, false, &id));
	bool st = c->kind == COFFER_COLUMN_STATIC;
	struct coffer_slice old, k;
	bool present, is_null, is_unset;
	int64_t old_ts;
	TRY(current_value(d, g->t, g->pk, g->ck, g->n_ck, id, st, &old, &present, &old_ts));
	bool map = ty->kind == COFFER_DT_MAP;
	struct elems cur;
	TRY(split(x, old, present, map, &cur));
	bool *skip = coffer_arena_zalloc(x->arena, cur.n + 1);
	if (ty->kind == COFFER_DT_LIST) {
		TRY(exec_term_value(x, elem, coffer_datatype_of(COFFER_DT_INT), c->name, &k, &is_null, &is_unset));
		ENSURE(!is_null && !is_unset && k.len == 4, COFFER_E_INVALID, "Invalid null value for list index of %s", c->name);
		int32_t idx = (int32_t)coffer_load_u32(k.ptr);
		ENSURE(idx >= 0 && (size_t)idx < cur.n, COFFER_E_INVALID, "List index %d out of bound, list has size %zu", idx,
		       cur.n);
		skip[idx] = true;
	} else {
		TRY(exec_term_value(x, elem, ty->params[0], c->name, &k, &is_null, &is_unset));
		ENSURE(!is_null && !is_unset, COFFER_E_INVALID, "Invalid null value for %s element", c->name);
		for (size_t i = 0; i < cur.n; i++)
			skip[i] = coffer_value_compare(ty->params[0], cur.k[i], k) == 0;
	}
	struct coffer_buf nb = {0};
	join_into(&nb, &cur, map, skip);
	struct coffer_slice nv = coffer_slice_of(db_memdup(x->arena, nb.ptr, nb.len), nb.len);
	coffer_buf_free(&nb);
	int64_t ts = g->ts > old_ts ? g->ts : old_ts + 1;
	put_cell(d, g, c, id, nv, coffer_load_u32(nv.ptr) == 0, ts, true);
	return COFFER_OK;
}

/* ---- conditions -------------------------------------------------------------------- */

static void applied_add(struct dml *d, const struct coffer_column *c, const struct snap_cell *sc)
{
	struct coffer_exec *x = d->x;
	for (size_t i = 0; i < d->nacols; i++)
		if (strcmp(d->acols[i].name, c->name) == 0)
			return;
	struct applied_col *a = coffer_arena_zalloc(x->arena, sizeof(*a) * (d->nacols + 1));
	if (d->nacols)
		memcpy(a, d->acols, sizeof(*a) * d->nacols);
	a[d->nacols].name = c->name;
	a[d->nacols].type = c->type;
	a[d->nacols].is_null = sc == NULL;
	if (sc)
		a[d->nacols].v = sc->v;
	d->acols = a;
	d->nacols++;
}

static void applied_add_key(struct dml *d, const struct coffer_column *c, struct coffer_slice v)
{
	struct snap_cell sc = {0};
	sc.v = v;
	applied_add(d, c, &sc);
}

/* Evaluates IF conditions on a snapshot; records the current values of the
 * columns named when they do not all hold. */
static COFFER_RESULT check_conditions(struct dml *d, struct db_table *t, const struct snapshot *s,
				      const struct coffer_cql_condition *conds, size_t n, bool *ok)
{
	struct coffer_exec *x = d->x;
	*ok = true;
	for (size_t i = 0; i < n; i++) {
		const struct coffer_cql_condition *cd = &conds[i];
		const struct coffer_column *c = coffer_tabledef_column(t->def, cd->column, true);
		ENSURE(c, COFFER_E_INVALID, "Undefined column name %s", cd->column);
		ENSURE(c->kind == COFFER_COLUMN_REGULAR || c->kind == COFFER_COLUMN_STATIC, COFFER_E_INVALID,
		       "PRIMARY KEY column '%s' cannot have IF conditions", c->name);
		uint32_t id;
		TRY(db_column_id(t, c->name, false, &id));
		const struct snap_cell *sc = snap_get(s, id, c->kind == COFFER_COLUMN_STATIC);
		struct coffer_slice cur = sc ? sc->v : coffer_slice_of(NULL, 0);
		bool cur_null = sc == NULL;
		const struct coffer_datatype *ty = c->type;
		if (cd->element) {
			ENSURE(ty->kind == COFFER_DT_MAP || ty->kind == COFFER_DT_LIST, COFFER_E_INVALID,
			       "Invalid element access (%s[...]) for a non list/map column", c->name);
			struct elems e;
			struct coffer_slice k;
			bool kn, ku;
			TRY(split(x, cur, !cur_null, ty->kind == COFFER_DT_MAP, &e));
			cur_null = true;
			if (ty->kind == COFFER_DT_MAP) {
				TRY(exec_term_value(x, cd->element, ty->params[0], c->name, &k, &kn, &ku));
				for (size_t j = 0; j < e.n; j++)
					if (!kn && coffer_value_compare(ty->params[0], e.k[j], k) == 0)
						cur = e.v[j], cur_null = false;
				ty = ty->params[1];
			} else {
				TRY(exec_term_value(x, cd->element, coffer_datatype_of(COFFER_DT_INT), c->name, &k, &kn, &ku));
				int32_t idx = !kn && k.len == 4 ? (int32_t)coffer_load_u32(k.ptr) : -1;
				if (idx >= 0 && (size_t)idx < e.n)
					cur = e.k[idx], cur_null = false;
				ty = ty->params[0];
			}
		}
		struct coffer_slice *vals;
		size_t nv = 0;
		bool holds;
		if (cd->op == COFFER_CQL_OP_IN) {
			TRY(where_values(x, cd->value, cd->in_values, cd->nin, true, ty, c->name, &vals, &nv));
			struct coffer_slice **pv = coffer_arena_zalloc(x->arena, sizeof(*pv) * (nv + 1));
			for (size_t j = 0; j < nv; j++)
				pv[j] = &vals[j];
			holds = where_compare(ty, cd->op, cur, cur_null, pv, nv, 0);
		} else {
			struct coffer_slice v;
			bool vn, vu;
			TRY(exec_term_value(x, cd->value, ty, c->name, &v, &vn, &vu));
			ENSURE(!vu, COFFER_E_INVALID, "Invalid unset value for column %s", c->name);
			if (vn) {
				ENSURE(cd->op == COFFER_CQL_OP_EQ || cd->op == COFFER_CQL_OP_NEQ, COFFER_E_INVALID,
				       "Invalid comparison with null for operator \"%s\"", coffer_cql_op_name(cd->op));
				holds = (cd->op == COFFER_CQL_OP_EQ) == cur_null;
			} else {
				struct coffer_slice *one = &v;
				holds = where_compare(ty, cd->op, cur, cur_null, &one, 1, 0);
			}
		}
		applied_add(d, c, sc);
		if (!holds)
			*ok = false;
	}
	return COFFER_OK;
}

/* ---- INSERT -------------------------------------------------------------------------- */

static COFFER_RESULT build_insert(struct dml *d, const struct coffer_cql_stmt *st)
{
	struct coffer_exec *x = d->x;
	const struct coffer_cql_insert *ins = &st->u.insert;
	struct db_table *t;
	TRY(open_table(x, &ins->table, &t));
	const struct coffer_tabledef *def = t->def;
	ENSURE(!ins->json, COFFER_E_INVALID, "INSERT JSON is not supported by coffer");
	ENSURE(!is_counter_table(def), COFFER_E_INVALID, "INSERT statements are not allowed on counter tables, use UPDATE instead");

	size_t nkey = def->npartition + def->nclustering;
	struct coffer_slice key[2 * COFFER_MAX_CLUSTERING];
	bool have[2 * COFFER_MAX_CLUSTERING] = {0};
	const struct coffer_column **cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (ins->ncolumns + 1));
	bool only_static = true;
	for (size_t i = 0; i < ins->ncolumns; i++) {
		const struct coffer_column *c = coffer_tabledef_column(def, ins->columns[i], true);
		ENSURE(c, COFFER_E_INVALID, "Undefined column name %s", ins->columns[i]);
		for (size_t j = 0; j < i; j++)
			ENSURE(cols[j] != c, COFFER_E_INVALID, "Multiple definitions found for column %s", c->name);
		cols[i] = c;
		if (c->kind == COFFER_COLUMN_PARTITION_KEY || c->kind == COFFER_COLUMN_CLUSTERING) {
			size_t p = (c->kind == COFFER_COLUMN_CLUSTERING ? def->npartition : 0) + (size_t)c->position;
			bool is_null, is_unset;
			TRY(exec_term_value(x, ins->values[i], c->type, c->name, &key[p], &is_null, &is_unset));
			ENSURE(!is_unset, COFFER_E_INVALID, "Invalid unset value for column %s", c->name);
			ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value in condition for column %s", c->name);
			have[p] = true;
		} else if (c->kind == COFFER_COLUMN_REGULAR) {
			only_static = false;
		}
	}
	for (size_t p = 0; p < def->npartition; p++)
		ENSURE(have[p], COFFER_E_INVALID, "Some partition key parts are missing: %s", def->columns[p].name);
	bool ck_given = false;
	for (size_t p = def->npartition; p < nkey; p++)
		ck_given = ck_given || have[p];
	bool static_row = only_static && !ck_given && def->nclustering;
	if (!static_row)
		for (size_t p = def->npartition; p < nkey; p++)
			ENSURE(have[p], COFFER_E_INVALID, "Some clustering keys are missing: %s", def->columns[p].name);
	if (def->npartition == 1)
		ENSURE(key[0].len > 0, COFFER_E_INVALID, "Key may not be empty");

	struct target g;
	memset(&g, 0, sizeof(g));
	g.t = t;
	TRY(using_ts(d, &ins->using_, &g.ts));
	TRY(using_ttl(d, &ins->using_, def, &g.ttl));
	struct coffer_buf pkb = {0};
	coffer_partition_key_encode(key, def->npartition, &pkb);
	g.pk = coffer_slice_of(db_memdup(x->arena, pkb.ptr, pkb.len), pkb.len);
	coffer_buf_free(&pkb);
	g.ck = coffer_arena_memdup(x->arena, key + def->npartition, sizeof(key[0]) * (def->nclustering + 1));
	g.n_ck = static_row ? 0 : def->nclustering;

	if (ins->if_not_exists) {
		struct snapshot s;
		d->conditional = true;
		TRY(read_row(x, t, g.pk, g.ck, g.n_ck, &s));
		bool exists = static_row ? s.static_exists : s.row_exists;
		if (exists) {
			d->applied = false;
			d->adef = def;
			/* Cassandra answers the existing row: key, then columns. */
			for (size_t i = 0; i < def->ncolumns; i++) {
				const struct coffer_column *c = &def->columns[i];
				uint32_t id;
				if (c->kind == COFFER_COLUMN_PARTITION_KEY || c->kind == COFFER_COLUMN_CLUSTERING) {
					size_t p = (c->kind == COFFER_COLUMN_CLUSTERING ? def->npartition : 0) + (size_t)c->position;
					if (have[p])
						applied_add_key(d, c, key[p]);
					continue;
				}
				if (db_column_id(t, c->name, false, &id) != COFFER_OK)
					continue;
				applied_add(d, c, snap_get(&s, id, c->kind == COFFER_COLUMN_STATIC));
			}
			return COFFER_OK;
		}
	}
	g.m = new_mutation(d, t, key, def->npartition);
	if (!static_row)
		db_mut_row_marker(d->blog, g.m, g.ck, g.n_ck, g.ts, g.ttl);
	for (size_t i = 0; i < ins->ncolumns; i++) {
		const struct coffer_column *c = cols[i];
		if (c->kind == COFFER_COLUMN_PARTITION_KEY || c->kind == COFFER_COLUMN_CLUSTERING)
			continue;
		uint32_t id;
		struct coffer_slice v;
		bool is_null, is_unset;
		TRY(db_column_id(t, c->name, false, &id));
		TRY(exec_term_value(x, ins->values[i], c->type, c->name, &v, &is_null, &is_unset));
		if (is_unset)
			continue;
		put_cell(d, &g, c, id, v, is_null, g.ts, false);
	}
	return COFFER_OK;
}

/* ---- UPDATE and DELETE: the rows a WHERE names -------------------------------------- */

static COFFER_RESULT dml_where(struct dml *d, struct db_table *t, const struct coffer_cql_relation *rels, size_t n,
			       bool is_delete, struct where *w, struct coffer_slice **pks, size_t *npk)
{
	struct coffer_exec *x = d->x;
	const struct coffer_tabledef *def = t->def;
	TRY(where_build(x, t, rels, n, w));
	for (size_t i = 0; i < w->nfilters; i++) {
		const struct where_filter *f = &w->filters[i];
		for (size_t j = 0; j < f->ncols; j++)
			ENSURE(f->src[j] == WHERE_PK || f->src[j] == WHERE_CK, COFFER_E_INVALID,
			       "Non PRIMARY KEY columns found in where clause: %s", f->cols[j]->name);
	}
	ENSURE(!w->has_token, COFFER_E_INVALID, "The token function cannot be used in WHERE clauses for %s statements",
	       is_delete ? "DELETE" : "UPDATE");
	for (size_t p = 0; p < def->npartition; p++)
		ENSURE(w->pk_restricted[p], COFFER_E_INVALID, "Some partition key parts are missing: %s", def->columns[p].name);
	for (size_t i = 0; i < w->nfilters; i++)
		ENSURE(w->filters[i].op == COFFER_CQL_OP_EQ || w->filters[i].op == COFFER_CQL_OP_IN || is_delete,
		       COFFER_E_INVALID, "Slice restrictions are not supported on the clustering columns in UPDATE statements");
	TRY(where_partitions(x, w, false, pks, npk));
	return COFFER_OK;
}

/* The first clustering column no relation names (for the message). */
static const char *first_missing_ck(const struct coffer_tabledef *def, const struct coffer_cql_relation *rels, size_t n)
{
	for (size_t p = 0; p < def->nclustering; p++) {
		const char *name = def->columns[def->npartition + p].name;
		bool named = false;
		for (size_t i = 0; i < n && !named; i++)
			for (size_t j = 0; j < rels[i].ncolumns && !named; j++)
				named = strcmp(rels[i].columns[j], name) == 0 && rels[i].kind != COFFER_CQL_REL_TOKEN;
		if (!named)
			return name;
	}
	return def->nclustering ? def->columns[def->npartition + def->nclustering - 1].name : "";
}

static COFFER_RESULT build_update(struct dml *d, const struct coffer_cql_stmt *st)
{
	struct coffer_exec *x = d->x;
	const struct coffer_cql_update *up = &st->u.update;
	struct db_table *t;
	TRY(open_table(x, &up->table, &t));
	const struct coffer_tabledef *def = t->def;
	bool counter = is_counter_table(def);
	bool only_static = true;
	const struct coffer_column **cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (up->nassignments + 1));
	for (size_t i = 0; i < up->nassignments; i++) {
		const struct coffer_column *c = coffer_tabledef_column(def, up->assignments[i].column, true);
		ENSURE(c, COFFER_E_INVALID, "Undefined column name %s", up->assignments[i].column);
		ENSURE(c->kind != COFFER_COLUMN_PARTITION_KEY && c->kind != COFFER_COLUMN_CLUSTERING, COFFER_E_INVALID,
		       "PRIMARY KEY part %s found in SET part", c->name);
		if (c->kind == COFFER_COLUMN_REGULAR)
			only_static = false;
		cols[i] = c;
	}
	if (d->batch_kind == COFFER_CQL_BATCH_COUNTER)
		ENSURE(counter, COFFER_E_INVALID, "Only counter mutations are allowed in COUNTER batches");
	else if (d->batch_kind >= 0)
		ENSURE(!counter, COFFER_E_INVALID, "Counter mutations are only allowed in COUNTER batches");
	struct where w;
	struct coffer_slice *pks;
	size_t npk = 0;
	TRY(dml_where(d, t, up->where, up->nwhere, false, &w, &pks, &npk));
	bool static_only = only_static && def->nclustering && !w.ck_restricted;
	struct coffer_slice **rows = w.ck_rows;
	size_t nrows = w.n_ck_rows;
	if (!static_only) {
		if (def->nclustering) {
			ENSURE(rows, COFFER_E_INVALID, "Some clustering keys are missing: %s",
			       first_missing_ck(def, up->where, up->nwhere));
		} else {
			static struct coffer_slice none[1];
			static struct coffer_slice *none_row[1] = {none};
			rows = none_row;
			nrows = 1;
		}
	} else {
		static struct coffer_slice none[1];
		static struct coffer_slice *none_row[1] = {none};
		rows = none_row;
		nrows = 1;
	}
	struct target g;
	memset(&g, 0, sizeof(g));
	g.t = t;
	TRY(using_ts(d, &up->using_, &g.ts));
	TRY(using_ttl(d, &up->using_, def, &g.ttl));
	ENSURE(!counter || !up->using_.ttl, COFFER_E_INVALID, "Cannot provide custom TTL for counter updates");
	if (up->if_exists || up->nconditions) {
		ENSURE(npk == 1, COFFER_E_INVALID, "IN on the partition key is not supported with conditional updates");
		ENSURE(nrows == 1, COFFER_E_INVALID, "IN on the clustering key columns is not supported with conditional updates");
		ENSURE(!counter, COFFER_E_INVALID, "Conditional updates are not supported on counter tables");
		struct snapshot s;
		d->conditional = true;
		TRY(read_row(x, t, pks[0], rows[0], static_only ? 0 : def->nclustering, &s));
		bool ok = true;
		if (up->if_exists)
			ok = static_only ? s.static_exists : s.row_exists;
		else
			TRY(check_conditions(d, t, &s, up->conditions, up->nconditions, &ok));
		if (!ok) {
			d->applied = false;
			d->adef = def;
			if (up->if_exists)
				d->nacols = 0;
			return COFFER_OK;
		}
		d->nacols = 0;
	}
	for (size_t p = 0; p < npk; p++) {
		struct coffer_slice comps[COFFER_MAX_CLUSTERING];
		TRY(where_pk_split(x->arena, pks[p], def->npartition, comps));
		g.pk = pks[p];
		g.m = new_mutation(d, t, comps, def->npartition);
		for (size_t r = 0; r < nrows; r++) {
			g.ck = rows[r];
			g.n_ck = static_only ? 0 : def->nclustering;
			for (size_t i = 0; i < up->nassignments; i++)
				TRY(assign(d, &g, cols[i], &up->assignments[i]));
		}
	}
	return COFFER_OK;
}

static COFFER_RESULT build_delete(struct dml *d, const struct coffer_cql_stmt *st)
{
	struct coffer_exec *x = d->x;
	const struct coffer_cql_delete *del = &st->u.del;
	struct db_table *t;
	TRY(open_table(x, &del->table, &t));
	const struct coffer_tabledef *def = t->def;
	struct where w;
	struct coffer_slice *pks;
	size_t npk = 0;
	TRY(dml_where(d, t, del->where, del->nwhere, true, &w, &pks, &npk));
	ENSURE(!del->using_.ttl, COFFER_E_INVALID, "Cannot provide custom TTL for DELETE statements");
	bool only_static = del->ncolumns > 0;
	const struct coffer_column **cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * (del->ncolumns + 1));
	for (size_t i = 0; i < del->ncolumns; i++) {
		const struct coffer_column *c = coffer_tabledef_column(def, del->columns[i].column, true);
		ENSURE(c, COFFER_E_INVALID, "Undefined column name %s", del->columns[i].column);
		ENSURE(c->kind != COFFER_COLUMN_PARTITION_KEY && c->kind != COFFER_COLUMN_CLUSTERING, COFFER_E_INVALID,
		       "Invalid identifier %s for deletion (should not be a PRIMARY KEY part)", c->name);
		if (c->kind != COFFER_COLUMN_STATIC)
			only_static = false;
		cols[i] = c;
	}
	int64_t ts;
	TRY(using_ts(d, &del->using_, &ts));
	bool full_rows = def->nclustering == 0 || w.ck_rows != NULL;
	bool any_filter = w.nfilters > 0 && !w.ck_rows;
	if (del->ncolumns && !only_static) {
		ENSURE(full_rows && !any_filter, COFFER_E_INVALID,
		       "Range deletions are not supported for specific columns");
	}
	if (del->if_exists || del->nconditions) {
		ENSURE(npk == 1, COFFER_E_INVALID, "IN on the partition key is not supported with conditional deletions");
		ENSURE(full_rows && (w.n_ck_rows <= 1), COFFER_E_INVALID,
		       "DELETE statements must restrict all PRIMARY KEY columns with equality relations in order to use IF conditions");
		struct snapshot s;
		d->conditional = true;
		const struct coffer_slice *ck = w.ck_rows ? w.ck_rows[0] : NULL;
		TRY(read_row(x, t, pks[0], ck, ck ? def->nclustering : 0, &s));
		bool ok = true;
		if (del->if_exists)
			ok = def->nclustering && !ck ? s.static_exists : s.row_exists;
		else
			TRY(check_conditions(d, t, &s, del->conditions, del->nconditions, &ok));
		if (!ok) {
			d->applied = false;
			d->adef = def;
			if (del->if_exists)
				d->nacols = 0;
			return COFFER_OK;
		}
		d->nacols = 0;
	}
	ENSURE(!any_filter, COFFER_E_INVALID,
	       "A range deletion needs the clustering columns restricted in order: an = prefix, then one range");
	for (size_t p = 0; p < npk; p++) {
		struct coffer_slice comps[COFFER_MAX_CLUSTERING];
		struct target g;
		memset(&g, 0, sizeof(g));
		g.t = t;
		g.ts = ts;
		g.pk = pks[p];
		TRY(where_pk_split(x->arena, pks[p], def->npartition, comps));
		g.m = new_mutation(d, t, comps, def->npartition);
		if (del->ncolumns) {
			size_t nrows = only_static || def->nclustering == 0 ? 1 : w.n_ck_rows;
			for (size_t r = 0; r < nrows; r++) {
				g.ck = only_static || def->nclustering == 0 ? NULL : w.ck_rows[r];
				g.n_ck = g.ck ? def->nclustering : 0;
				for (size_t i = 0; i < del->ncolumns; i++) {
					const struct coffer_column *c = cols[i];
					if (del->columns[i].element) {
						TRY(delete_element(d, &g, c, del->columns[i].element));
						continue;
					}
					uint32_t id;
					TRY(db_column_id(t, c->name, false, &id));
					put_cell(d, &g, c, id, coffer_slice_of(NULL, 0), true, ts, false);
				}
			}
			continue;
		}
		if (def->nclustering == 0 || (!w.ck_restricted)) {
			if (def->nclustering == 0)
				db_mut_delete_row(d->blog, g.m, NULL, 0, ts);
			else
				db_mut_delete_partition(d->blog, g.m, ts);
			continue;
		}
		if (w.ck_rows) {
			for (size_t r = 0; r < w.n_ck_rows; r++)
				db_mut_delete_row(d->blog, g.m, w.ck_rows[r], def->nclustering, ts);
			continue;
		}
		/* A prefix and/or a range: a range tombstone. */
		db_mut_delete_range(d->blog, g.m, &w.lower, &w.upper, ts);
	}
	return COFFER_OK;
}

/* ---- running ------------------------------------------------------------------------- */

static COFFER_RESULT build(struct dml *d, const struct coffer_cql_stmt *st)
{
	switch (st->kind) {
	case COFFER_CQL_INSERT: return build_insert(d, st);
	case COFFER_CQL_UPDATE: return build_update(d, st);
	case COFFER_CQL_DELETE: return build_delete(d, st);
	default: BAIL(COFFER_E_INVALID, "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.");
	}
}

static bool needs_lock(const struct coffer_cql_stmt *st)
{
	switch (st->kind) {
	case COFFER_CQL_INSERT: return st->u.insert.if_not_exists;
	case COFFER_CQL_UPDATE:
		if (st->u.update.if_exists || st->u.update.nconditions)
			return true;
		for (size_t i = 0; i < st->u.update.nassignments; i++)
			if (st->u.update.assignments[i].op != COFFER_CQL_SET_VALUE)
				return true;
		return false;
	case COFFER_CQL_DELETE:
		if (st->u.del.if_exists || st->u.del.nconditions)
			return true;
		for (size_t i = 0; i < st->u.del.ncolumns; i++)
			if (st->u.del.columns[i].element)
				return true;
		return false;
	default: return false;
	}
}

static const struct coffer_cql_qname *stmt_table(const struct coffer_cql_stmt *st)
{
	switch (st->kind) {
	case COFFER_CQL_INSERT: return &st->u.insert.table;
	case COFFER_CQL_UPDATE: return &st->u.update.table;
	case COFFER_CQL_DELETE: return &st->u.del.table;
	default: return NULL;
	}
}

static bool stmt_using_ts_set(const struct coffer_cql_stmt *st)
{
	switch (st->kind) {
	case COFFER_CQL_INSERT: return st->u.insert.using_.timestamp != NULL;
	case COFFER_CQL_UPDATE: return st->u.update.using_.timestamp != NULL;
	case COFFER_CQL_DELETE: return st->u.del.using_.timestamp != NULL;
	default: return false;
	}
}

static size_t lock_stripe(const struct db_table *t)
{
	uintptr_t p = (uintptr_t)t;
	return (size_t)((p >> 4) ^ (p >> 12)) % DB_DML_LOCKS;
}

/* Writes the [applied] answer. */
static COFFER_RESULT write_applied(struct dml *d, const struct coffer_tabledef *def)
{
	struct coffer_exec *x = d->x;
	size_t n = 1 + (d->applied ? 0 : d->nacols);
	struct coffer_proto_column *cols = coffer_arena_zalloc(x->arena, sizeof(*cols) * n);
	cols[0].name = "[applied]";
	cols[0].type = rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_BOOLEAN));
	for (size_t i = 1; i < n; i++) {
		cols[i].name = d->acols[i - 1].name;
		cols[i].type = rows_proto_type(x->arena, d->acols[i - 1].type);
	}
	struct coffer_proto_metadata md;
	memset(&md, 0, sizeof(md));
	md.flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
	md.n_columns = (int32_t)n;
	md.keyspace = def->keyspace;
	md.table = def->name;
	md.columns = cols;
	struct rows_writer w;
	bool skip = x->skip_metadata;
	x->skip_metadata = false; /* the columns of [applied] vary: always send them */
	coffer_rc rc = rows_begin(&w, x, &md);
	x->skip_metadata = skip;
	TRY(rc);
	uint8_t b = d->applied ? 1 : 0;
	rows_cell(&w, coffer_slice_of(&b, 1), false);
	for (size_t i = 1; i < n; i++)
		rows_cell(&w, d->acols[i - 1].v, d->acols[i - 1].is_null);
	rows_end_row(&w);
	rows_end(&w);
	return COFFER_OK;
}

/* Builds every statement (children of a batch with their own values), then
 * applies the mutations table by table. */
static COFFER_RESULT run(struct coffer_exec *x, const struct coffer_cql_stmt *const *stmts, size_t n,
			 const struct coffer_cql_stmt *batch)
{
	struct dml d;
	memset(&d, 0, sizeof(d));
	d.x = x;
	d.applied = true;
	d.batch_ts = INT64_MIN;
	d.batch_kind = batch ? (int)batch->u.batch.type : -1;
	coffer_rc rc = COFFER_OK;
	size_t locks[DB_DML_LOCKS];
	size_t nlocks = 0;
	const struct coffer_tabledef *first_def = NULL;
	char *blog_path = NULL;
	const struct coffer_proto_value *saved_values = x->values;
	size_t saved_n = x->n_values;

	if (!x->on_loop)
		pthread_rwlock_rdlock(&x->db->schema_lock);
	else if (pthread_rwlock_tryrdlock(&x->db->schema_lock) != 0)
		return db_decline(x, "the schema is being changed");
	if (batch && batch->u.batch.using_.timestamp)
		TRY_FAIL(using_ts(&d, &batch->u.batch.using_, &d.batch_ts));
	/* Locks first, in stripe order, for the tables that need them. */
	bool want_lock = false;
	bool several_tables = false;
	for (size_t i = 0; i < n; i++)
		want_lock = want_lock || needs_lock(stmts[i]);
	for (size_t i = 0; i < n; i++) {
		struct db_table *t;
		TRY_FAIL(open_table(x, stmt_table(stmts[i]), &t));
		if (!first_def)
			first_def = t->def;
		several_tables = several_tables || t->def != first_def;
		if (!want_lock && !is_counter_table(t->def))
			continue;
		size_t s = lock_stripe(t);
		size_t j = 0;
		while (j < nlocks && locks[j] != s)
			j++;
		if (j == nlocks)
			locks[nlocks++] = s;
	}
	if (x->on_loop && nlocks) {
		nlocks = 0; /* none taken yet */
		TRY_FAIL(db_decline(x, "the write takes a row lock (a counter table)"));
	}
	for (size_t i = 1; i < nlocks; i++)
		for (size_t j = i; j > 0 && locks[j - 1] > locks[j]; j--) {
			size_t tmp = locks[j];
			locks[j] = locks[j - 1];
			locks[j - 1] = tmp;
		}
	for (size_t i = 0; i < nlocks; i++)
		pthread_mutex_lock(&x->db->dml_locks[locks[i]]);
	/* A logged batch over several tables goes through the batch log
	 * (batchlog.c): one table's apply is atomic by itself. */
	if (batch && batch->u.batch.type == COFFER_CQL_BATCH_LOGGED && several_tables)
		d.blog = db_blog_new();
	for (size_t i = 0; i < n; i++) {
		if (batch && x->batch_values) {
			x->values = x->batch_values[i];
			x->n_values = x->batch_n_values[i];
		}
		if (batch)
			ENSURE_FAIL(!stmt_using_ts_set(stmts[i]) || !batch->u.batch.using_.timestamp, COFFER_E_INVALID,
				    "Timestamp must be set either on BATCH or individual statements");
		TRY_FAIL(build(&d, stmts[i]));
	}
	x->values = saved_values;
	x->n_values = saved_n;
	if (d.applied && d.blog && d.ngroups > 1)
		TRY_FAIL(db_batchlog_write(x->db, d.blog, &blog_path));
	if (d.applied && x->finish && !d.blog && nlocks == 0 && !d.conditional && d.ngroups == 1) {
		/* a plain write on one table: answered once durable, without
		 * keeping this thread (coffer_db_handle_async) */
		TRY_FAIL(db_apply_later(x, d.groups[0].t->store, d.groups[0].m, d.groups[0].n));
	} else {
		if (x->on_loop && d.ngroups)
			TRY_FAIL(db_decline(x, "the write is applied synchronously"));
		/* Tests only: "crash" once the log is durable, before any apply. */
		if (d.applied && !(blog_path && x->db->batchlog_test_skip_apply)) {
			for (size_t i = 0; i < d.ngroups; i++)
				TRY_FAIL(coffer_table_apply(d.groups[i].t->store, d.groups[i].m, d.groups[i].n));
			/* Applied and durable: the log is done. On an error above it
			 * stays, and the next start applies the whole batch. */
			if (blog_path && db_batchlog_done(x->db, blog_path) != COFFER_OK)
				/* Applied all the same: a log left behind is only replayed
				 * again at the next start (idempotent). */
				coffer_log_warn(x->db->log, "db", "%s", coffer_error_msg());
		}
		if (d.conditional)
			TRY_FAIL(write_applied(&d, d.adef ? d.adef : first_def));
		else
			coffer_proto_put_result_void(x->out);
	}
fail:
	x->values = saved_values;
	x->n_values = saved_n;
	for (size_t i = nlocks; i-- > 0;)
		pthread_mutex_unlock(&x->db->dml_locks[locks[i]]);
	pthread_rwlock_unlock(&x->db->schema_lock);
	dml_free(&d);
	free(blog_path);
	return rc;
}

bool db_dml_on_loop_ok(const struct coffer_cql_stmt *st)
{
	return (st->kind == COFFER_CQL_INSERT || st->kind == COFFER_CQL_UPDATE || st->kind == COFFER_CQL_DELETE) &&
	       !needs_lock(st);
}

COFFER_RESULT exec_insert(struct coffer_exec *x)
{
	const struct coffer_cql_stmt *st = x->stmt;
	return run(x, &st, 1, NULL);
}

COFFER_RESULT exec_update(struct coffer_exec *x)
{
	const struct coffer_cql_stmt *st = x->stmt;
	return run(x, &st, 1, NULL);
}

COFFER_RESULT exec_delete(struct coffer_exec *x)
{
	const struct coffer_cql_stmt *st = x->stmt;
	return run(x, &st, 1, NULL);
}

COFFER_RESULT exec_batch(struct coffer_exec *x)
{
	const struct coffer_cql_batch *b = &x->stmt->u.batch;
	ENSURE(b->nstmts > 0, COFFER_E_INVALID, "A BATCH needs at least one statement");
	ENSURE(!b->using_.ttl, COFFER_E_INVALID, "Global TTL on the BATCH statement is not supported.");
	return run(x, (const struct coffer_cql_stmt *const *)b->stmts, b->nstmts, x->stmt);
}
