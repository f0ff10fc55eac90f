/*
 * exec_where.c - the WHERE clause of SELECT, UPDATE and DELETE turned into
 * what storage reads and writes: partition keys (= and IN on every partition
 * key column, or a token range), a clustering slice (an = prefix, then one
 * range, single- or multi-column), the full clustering tuples of = / IN
 * (DML on several rows), and the relations left to check row by row.
 *
 * Clustering order: a slice is given to storage in clustering order, so a
 * range on a DESC column swaps its sides (c > 5 on a DESC column is an upper
 * bound in storage order). A multi-column range whose columns mix ASC and
 * DESC is checked row by row instead.
 *
 * Invariants:
 *  1. A relation either shapes the storage read exactly (partition keys,
 *     token range, = prefix, slice) or becomes a filter; never both half-way.
 *     Filters are checked on every row where_match() sees, so extra filters
 *     cost time, never correctness.
 *  2. Every value here is arena memory of the statement's execution.
 *  3. Messages quote Cassandra's, and name columns, never values.
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/alloc.h"

static const struct coffer_column *find_col(struct db_table *t, const char *name)
{
	return coffer_tabledef_column(t->def, name, true);
}

COFFER_RESULT where_values(struct coffer_exec *x, const struct coffer_cql_term *term,
			   struct coffer_cql_term *const *in_values, size_t nin, bool is_in,
			   const struct coffer_datatype *type, const char *column,
			   struct coffer_slice **out, size_t *n)
{
	bool is_null, is_unset;
	struct coffer_slice v;

	if (!is_in) {
		*out = coffer_arena_zalloc(x->arena, sizeof(**out));
		TRY(exec_term_value(x, term, type, column, &v, &is_null, &is_unset));
		ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value in condition for column %s", column);
		ENSURE(!is_unset, COFFER_E_INVALID, "Invalid unset value for column %s", column);
		(*out)[0] = v;
		*n = 1;
		return COFFER_OK;
	}
	if (!term || term->kind != COFFER_CQL_TERM_BIND) {
		*out = coffer_arena_zalloc(x->arena, sizeof(**out) * (nin + 1));
		*n = 0;
		for (size_t i = 0; i < nin; i++) {
			TRY(exec_term_value(x, in_values[i], type, column, &v, &is_null, &is_unset));
			ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value in condition for column %s", column);
			if (is_unset)
				continue;
			(*out)[(*n)++] = v;
		}
		return COFFER_OK;
	}
	/* IN ?: the marker stands for a list<type>. */
	struct coffer_datatype *lt;
	struct coffer_datatype *param = (struct coffer_datatype *)type;
	TRY(coffer_datatype_make(x->arena, COFFER_DT_LIST, true, &param, 1, &lt));
	TRY(exec_term_value(x, term, lt, column, &v, &is_null, &is_unset));
	ENSURE(!is_null, COFFER_E_INVALID, "Invalid null value for IN restriction on %s", column);
	ENSURE(!is_unset, COFFER_E_INVALID, "Invalid unset value for IN restriction on %s", column);
	struct coffer_reader r;
	uint32_t cnt;
	coffer_reader_init(&r, v, "IN list");
	TRY(coffer_reader_u32(&r, &cnt));
	ENSURE(cnt <= COFFER_VALUE_MAX_ELEMENTS, COFFER_E_INVALID, "IN list for %s is too long", column);
	*out = coffer_arena_zalloc(x->arena, sizeof(**out) * ((size_t)cnt + 1));
	*n = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t len;
		struct coffer_slice e;
		TRY(coffer_reader_u32(&r, &len));
		ENSURE(len != UINT32_MAX, COFFER_E_INVALID, "Invalid null value in condition for column %s", column);
		TRY(coffer_reader_bytes(&r, len, &e));
		(*out)[(*n)++] = e;
	}
	return COFFER_OK;
}

/* Appends a filter on one column. */
static struct where_filter *add_filter(struct coffer_exec *x, struct where *w, size_t ncols)
{
	struct where_filter *f;
	struct where_filter *nf = coffer_arena_zalloc(x->arena, sizeof(*nf) * (w->nfilters + 1));
	if (w->nfilters)
		memcpy(nf, w->filters, sizeof(*nf) * w->nfilters);
	w->filters = nf;
	f = &nf[w->nfilters++];
	f->ncols = ncols;
	f->cols = coffer_arena_zalloc(x->arena, sizeof(*f->cols) * ncols);
	f->src = coffer_arena_zalloc(x->arena, sizeof(*f->src) * ncols);
	f->pos = coffer_arena_zalloc(x->arena, sizeof(*f->pos) * ncols);
	return f;
}

static COFFER_RESULT fill_src(struct db_table *t, const struct coffer_column *c, struct where_filter *f, size_t i)
{
	f->cols[i] = c;
	switch (c->kind) {
	case COFFER_COLUMN_PARTITION_KEY: f->src[i] = WHERE_PK; f->pos[i] = (uint32_t)c->position; break;
	case COFFER_COLUMN_CLUSTERING: f->src[i] = WHERE_CK; f->pos[i] = (uint32_t)c->position; break;
	case COFFER_COLUMN_STATIC:
	case COFFER_COLUMN_REGULAR:
		f->src[i] = c->kind == COFFER_COLUMN_STATIC ? WHERE_STATIC : WHERE_REGULAR;
		TRY(db_column_id(t, c->name, false, &f->pos[i]));
		break;
	}
	return COFFER_OK;
}

/* A clustering restriction as gathered before the slice is chosen. */
struct ck_rel {
	const struct coffer_cql_relation *rel;
	size_t first, ncols;                 /* clustering positions covered */
	struct coffer_slice **vals;          /* tuples of ncols */
	size_t nvals;
	enum coffer_cql_op op;
	bool used;
};

static COFFER_RESULT token_bound(struct coffer_exec *x, struct db_table *t, const struct coffer_cql_relation *rel,
				 int64_t *v)
{
	const struct coffer_cql_term *term = rel->value;
	struct coffer_slice s;
	bool is_null, is_unset;

	if (term && term->kind == COFFER_CQL_TERM_FUNCTION && strcmp(term->text, "token") == 0) {
		/* token(?) / token('a', 1): the token of a partition key. */
		const struct coffer_tabledef *d = t->def;
		ENSURE(term->nitems == d->npartition, COFFER_E_INVALID,
		       "Invalid number of arguments in call to function system.token: %zu required but %zu provided",
		       d->npartition, term->nitems);
		struct coffer_slice comps[COFFER_MAX_CLUSTERING];
		for (size_t i = 0; i < d->npartition; i++) {
			TRY(exec_term_value(x, term->items[i], d->columns[i].type, d->columns[i].name, &comps[i],
					    &is_null, &is_unset));
			ENSURE(!is_null && !is_unset, COFFER_E_INVALID, "Invalid null value for partition key part %s",
			       d->columns[i].name);
		}
		struct coffer_buf pk = {0};
		coffer_partition_key_encode(comps, d->npartition, &pk);
		*v = coffer_token(coffer_buf_slice(&pk));
		coffer_buf_free(&pk);
		return COFFER_OK;
	}
	TRY(exec_term_value(x, term, coffer_datatype_of(COFFER_DT_BIGINT), "partition key token", &s, &is_null,
			    &is_unset));
	ENSURE(!is_null && !is_unset && s.len == 8, COFFER_E_INVALID, "Invalid null value for token restriction");
	*v = (int64_t)coffer_load_u64(s.ptr);
	return COFFER_OK;
}

static COFFER_RESULT add_token(struct coffer_exec *x, struct db_table *t, struct where *w,
			       const struct coffer_cql_relation *rel)
{
	const struct coffer_tabledef *d = t->def;
	int64_t v = 0;

	ENSURE(rel->ncolumns == d->npartition, COFFER_E_INVALID,
	       "The token() function must be applied to all partition key components or none of them");
	for (size_t i = 0; i < rel->ncolumns; i++)
		ENSURE(strcmp(rel->columns[i], d->columns[i].name) == 0, COFFER_E_INVALID,
		       "The token function arguments must be in the partition key order: %s", d->columns[i].name);
	if (!w->has_token) {
		w->has_token = true;
		w->token_min = INT64_MIN;
		w->token_max = INT64_MAX;
	}
	TRY(token_bound(x, t, rel, &v));
	switch (rel->op) {
	case COFFER_CQL_OP_EQ:
		w->token_min = v > w->token_min ? v : w->token_min;
		w->token_max = v < w->token_max ? v : w->token_max;
		break;
	case COFFER_CQL_OP_GT:
		if (v == INT64_MAX)
			w->token_empty = true;
		else if (v + 1 > w->token_min)
			w->token_min = v + 1;
		break;
	case COFFER_CQL_OP_GE:
		if (v > w->token_min)
			w->token_min = v;
		break;
	case COFFER_CQL_OP_LT:
		if (v == INT64_MIN)
			w->token_empty = true;
		else if (v - 1 < w->token_max)
			w->token_max = v - 1;
		break;
	case COFFER_CQL_OP_LE:
		if (v < w->token_max)
			w->token_max = v;
		break;
	default:
		BAIL(COFFER_E_INVALID, "Unsupported operator %s on token()", coffer_cql_op_name(rel->op));
	}
	if (w->token_min > w->token_max)
		w->token_empty = true;
	return COFFER_OK;
}

static bool is_slice_op(enum coffer_cql_op op)
{
	return op == COFFER_CQL_OP_LT || op == COFFER_CQL_OP_LE || op == COFFER_CQL_OP_GT || op == COFFER_CQL_OP_GE;
}

/* Sets one side of the slice: prefix (eq values) + tuple, in storage order. */
static void set_bound(struct where *w, bool value_lower, bool desc, const struct coffer_slice *tuple, size_t nt,
		      bool inclusive)
{
	bool lower = desc ? !value_lower : value_lower;
	struct coffer_slice *dst = lower ? w->lower_v : w->upper_v;
	struct coffer_bound *b = lower ? &w->lower : &w->upper;

	memcpy(dst, w->eq, sizeof(w->eq[0]) * w->n_eq);
	if (nt)
		memcpy(dst + w->n_eq, tuple, sizeof(tuple[0]) * nt);
	b->values = dst;
	b->n = w->n_eq + nt;
	b->inclusive = inclusive;
}

/* Cartesian product of = / IN on every clustering column (DML on rows). */
static void build_ck_rows(struct coffer_exec *x, struct where *w, struct ck_rel **per_pos, size_t nck)
{
	size_t total = 1;
	for (size_t i = 0; i < nck;) {
		struct ck_rel *r = per_pos[i];
		if (!r || (r->op != COFFER_CQL_OP_EQ && r->op != COFFER_CQL_OP_IN) || r->first != i)
			return;
		total *= r->nvals;
		if (total > 65536)
			return;
		i += r->ncols;
	}
	w->ck_rows = coffer_arena_zalloc(x->arena, sizeof(*w->ck_rows) * (total + 1));
	w->n_ck_rows = total;
	for (size_t k = 0; k < total; k++)
		w->ck_rows[k] = coffer_arena_zalloc(x->arena, sizeof(struct coffer_slice) * (nck + 1));
	size_t repeat = total;
	for (size_t i = 0; i < nck;) {
		struct ck_rel *r = per_pos[i];
		repeat = r->nvals ? repeat / r->nvals : repeat;
		for (size_t k = 0; k < total; k++) {
			size_t vi = r->nvals ? (k / (repeat ? repeat : 1)) % r->nvals : 0;
			for (size_t j = 0; j < r->ncols; j++)
				w->ck_rows[k][i + j] = r->vals[vi][j];
		}
		i += r->ncols;
	}
}

COFFER_RESULT where_build(struct coffer_exec *x, struct db_table *t, const struct coffer_cql_relation *rels,
			  size_t n, struct where *w)
{
	const struct coffer_tabledef *d = t->def;
	size_t nck = d->nclustering;
	struct ck_rel *ckr = coffer_arena_zalloc(x->arena, sizeof(*ckr) * (n + 1));
	size_t nckr = 0;
	struct ck_rel *per_pos[COFFER_MAX_CLUSTERING] = {0};

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		const struct coffer_cql_relation *rel = &rels[i];
		bool in = rel->op == COFFER_CQL_OP_IN;

		if (rel->kind == COFFER_CQL_REL_TOKEN) {
			TRY(add_token(x, t, w, rel));
			continue;
		}
		if (rel->kind == COFFER_CQL_REL_MULTI) {
			struct ck_rel *c = &ckr[nckr++];
			c->rel = rel;
			c->ncols = rel->ncolumns;
			c->op = rel->op;
			for (size_t j = 0; j < rel->ncolumns; j++) {
				const struct coffer_column *col = find_col(t, rel->columns[j]);
				ENSURE(col, COFFER_E_INVALID, "Undefined column name %s", rel->columns[j]);
				ENSURE(col->kind == COFFER_COLUMN_CLUSTERING, COFFER_E_INVALID,
				       "Multi-column relations can only be applied to clustering columns but was applied to: %s",
				       col->name);
				if (j == 0)
					c->first = (size_t)col->position;
				ENSURE((size_t)col->position == c->first + j, COFFER_E_INVALID,
				       "Clustering columns must appear in the PRIMARY KEY order in multi-column relations");
			}
			/* The right side: a tuple, a list of tuples (IN), or markers. */
			struct coffer_datatype **ptypes = coffer_arena_zalloc(x->arena, sizeof(*ptypes) * c->ncols);
			for (size_t j = 0; j < c->ncols; j++)
				ptypes[j] = d->columns[d->npartition + c->first + j].type;
			struct coffer_datatype *tt;
			TRY(coffer_datatype_make(x->arena, COFFER_DT_TUPLE, true, ptypes, (uint32_t)c->ncols, &tt));
			struct coffer_slice *tv;
			size_t ntv;
			TRY(where_values(x, rel->value, rel->in_values, rel->nin, in, tt, "tuple", &tv, &ntv));
			c->vals = coffer_arena_zalloc(x->arena, sizeof(*c->vals) * (ntv + 1));
			for (size_t k = 0; k < ntv; k++) {
				struct coffer_reader r;
				coffer_reader_init(&r, tv[k], "tuple value");
				c->vals[k] = coffer_arena_zalloc(x->arena, sizeof(struct coffer_slice) * c->ncols);
				for (size_t j = 0; j < c->ncols; j++) {
					uint32_t len;
					TRY(coffer_reader_u32(&r, &len));
					ENSURE(len != UINT32_MAX, COFFER_E_INVALID,
					       "Invalid null value in condition for column %s", rel->columns[j]);
					TRY(coffer_reader_bytes(&r, len, &c->vals[k][j]));
				}
			}
			c->nvals = ntv;
			w->ck_restricted = true;
			continue;
		}
		const struct coffer_column *col = find_col(t, rel->columns[0]);
		ENSURE(col, COFFER_E_INVALID, "Undefined column name %s", rel->columns[0]);
		ENSURE(!rel->map_key, COFFER_E_INVALID, "Element restrictions (%s[...]) are not supported", col->name);
		if (col->kind == COFFER_COLUMN_PARTITION_KEY && (rel->op == COFFER_CQL_OP_EQ || in)) {
			size_t p = (size_t)col->position;
			ENSURE(!w->pk_restricted[p], COFFER_E_INVALID,
			       "%s cannot be restricted by more than one relation if it includes an Equal", col->name);
			TRY(where_values(x, rel->value, rel->in_values, rel->nin, in, col->type, col->name, &w->pk_vals[p],
					 &w->pk_n[p]));
			w->pk_restricted[p] = true;
			if (w->pk_n[p] != 1)
				w->pk_in = true;
			continue;
		}
		if (col->kind == COFFER_COLUMN_CLUSTERING &&
		    (rel->op == COFFER_CQL_OP_EQ || in || is_slice_op(rel->op))) {
			struct ck_rel *c = &ckr[nckr++];
			struct coffer_slice *v;
			size_t nv;
			c->rel = rel;
			c->first = (size_t)col->position;
			c->ncols = 1;
			c->op = rel->op;
			TRY(where_values(x, rel->value, rel->in_values, rel->nin, in, col->type, col->name, &v, &nv));
			c->vals = coffer_arena_zalloc(x->arena, sizeof(*c->vals) * (nv + 1));
			for (size_t k = 0; k < nv; k++)
				c->vals[k] = &v[k];
			c->nvals = nv;
			w->ck_restricted = true;
			continue;
		}
		/* Anything else is checked row by row. */
		ENSURE(rel->op != COFFER_CQL_OP_LIKE, COFFER_E_INVALID, "LIKE restriction is only supported on properly indexed columns");
		struct where_filter *f = add_filter(x, w, 1);
		TRY(fill_src(t, col, f, 0));
		f->op = rel->op;
		const struct coffer_datatype *vt = col->type;
		if ((rel->op == COFFER_CQL_OP_CONTAINS || rel->op == COFFER_CQL_OP_CONTAINS_KEY) &&
		    coffer_datatype_kind_is_collection(col->type->kind)) {
			vt = col->type->kind == COFFER_DT_MAP && rel->op == COFFER_CQL_OP_CONTAINS ? col->type->params[1]
											 : col->type->params[0];
		} else {
			ENSURE(rel->op != COFFER_CQL_OP_CONTAINS && rel->op != COFFER_CQL_OP_CONTAINS_KEY, COFFER_E_INVALID,
			       "Cannot use CONTAINS on non-collection column %s", col->name);
		}
		struct coffer_slice *v;
		size_t nv;
		TRY(where_values(x, rel->value, rel->in_values, rel->nin, in, vt, col->name, &v, &nv));
		f->vals = coffer_arena_zalloc(x->arena, sizeof(*f->vals) * (nv + 1));
		for (size_t k = 0; k < nv; k++)
			f->vals[k] = &v[k];
		f->nvals = nv;
		w->needs_filtering = true;
		if (!w->filter_column)
			w->filter_column = col->name;
	}

	/* Partition key: all or nothing (a partial key scans and filters). */
	w->pk_all = true;
	bool pk_any = false;
	for (size_t i = 0; i < d->npartition; i++) {
		w->pk_all = w->pk_all && w->pk_restricted[i];
		pk_any = pk_any || w->pk_restricted[i];
	}
	if (!w->pk_all && pk_any) {
		for (size_t i = 0; i < d->npartition; i++) {
			if (!w->pk_restricted[i])
				continue;
			struct where_filter *f = add_filter(x, w, 1);
			TRY(fill_src(t, &d->columns[i], f, 0));
			f->op = w->pk_n[i] == 1 ? COFFER_CQL_OP_EQ : COFFER_CQL_OP_IN;
			f->vals = coffer_arena_zalloc(x->arena, sizeof(*f->vals) * (w->pk_n[i] + 1));
			for (size_t k = 0; k < w->pk_n[i]; k++)
				f->vals[k] = &w->pk_vals[i][k];
			f->nvals = w->pk_n[i];
		}
		w->needs_filtering = true;
	}
	/* A partition key given both ways: exec_select drops the keys whose
	 * token falls outside the range. */

	/* Clustering: walk the positions, = prefix first. */
	for (size_t i = 0; i < nckr; i++) {
		struct ck_rel *c = &ckr[i];
		for (size_t j = 0; j < c->ncols; j++) {
			if (per_pos[c->first + j] && c->op == COFFER_CQL_OP_EQ && per_pos[c->first + j]->op == COFFER_CQL_OP_EQ)
				BAIL(COFFER_E_INVALID, "%s cannot be restricted by more than one relation if it includes an Equal",
				     d->columns[d->npartition + c->first + j].name);
		}
		if (!per_pos[c->first] || (is_slice_op(per_pos[c->first]->op) && !is_slice_op(c->op)))
			for (size_t j = 0; j < c->ncols; j++)
				per_pos[c->first + j] = c;
	}
	build_ck_rows(x, w, per_pos, nck);
	size_t pos = 0;
	while (pos < nck && per_pos[pos] && per_pos[pos]->op == COFFER_CQL_OP_EQ && per_pos[pos]->first == pos &&
	       per_pos[pos]->nvals == 1) {
		struct ck_rel *c = per_pos[pos];
		for (size_t j = 0; j < c->ncols; j++)
			w->eq[w->n_eq++] = c->vals[0][j];
		c->used = true;
		pos += c->ncols;
	}
	if (w->n_eq) {
		set_bound(w, true, false, NULL, 0, true);
		set_bound(w, false, false, NULL, 0, true);
	}
	if (pos < nck && per_pos[pos] && per_pos[pos]->first == pos) {
		struct ck_rel *c = per_pos[pos];
		bool same = true;
		bool desc = d->columns[d->npartition + pos].order == COFFER_ORDER_DESC;
		for (size_t j = 1; j < c->ncols; j++)
			same = same && ((d->columns[d->npartition + pos + j].order == COFFER_ORDER_DESC) == desc);
		if (is_slice_op(c->op) && same) {
			/* Up to two ranges on this position (c > a AND c < b). */
			for (size_t i = 0; i < nckr; i++) {
				struct ck_rel *r = &ckr[i];
				if (r->first != pos || !is_slice_op(r->op) || r->ncols != c->ncols)
					continue;
				bool lower = r->op == COFFER_CQL_OP_GT || r->op == COFFER_CQL_OP_GE;
				bool incl = r->op == COFFER_CQL_OP_GE || r->op == COFFER_CQL_OP_LE;
				set_bound(w, lower, desc, r->vals[0], r->ncols, incl);
				r->used = true;
				w->has_slice = true;
			}
		} else if (c->op == COFFER_CQL_OP_IN && c->nvals && (c->ncols == 1 || same)) {
			/* IN: read from the smallest to the largest, check membership. */
			const struct coffer_datatype *ty = d->columns[d->npartition + pos].type;
			size_t lo = 0, hi = 0;
			for (size_t k = 1; k < c->nvals; k++) {
				if (coffer_value_compare(ty, c->vals[k][0], c->vals[lo][0]) < 0)
					lo = k;
				if (coffer_value_compare(ty, c->vals[k][0], c->vals[hi][0]) > 0)
					hi = k;
			}
			set_bound(w, true, desc, &c->vals[lo][0], 1, true);
			set_bound(w, false, desc, &c->vals[hi][0], 1, true);
			w->ck_in = true;
			w->has_slice = true;
		}
	}
	/* What the slice did not take is a filter. */
	for (size_t i = 0; i < nckr; i++) {
		struct ck_rel *c = &ckr[i];
		if (c->used)
			continue;
		struct where_filter *f = add_filter(x, w, c->ncols);
		for (size_t j = 0; j < c->ncols; j++)
			TRY(fill_src(t, &d->columns[d->npartition + c->first + j], f, j));
		f->op = c->op;
		f->vals = c->vals;
		f->nvals = c->nvals;
		/* IN at the slice position and what follows an IN are served by
		 * the read plus this check; a gap in the key needs filtering. */
		bool gap = false;
		for (size_t p = 0; p < c->first; p++)
			gap = gap || !per_pos[p];
		if (gap)
			w->needs_filtering = true;
	}
	return COFFER_OK;
}

static int64_t token_of(struct coffer_slice pk)
{
	return coffer_token(pk);
}

struct pk_sort {
	int64_t token;
	struct coffer_slice pk;
};

static int pk_sort_cmp(const void *a, const void *b)
{
	const struct pk_sort *x = a, *y = b;
	if (x->token != y->token)
		return x->token < y->token ? -1 : 1;
	size_t n = x->pk.len < y->pk.len ? x->pk.len : y->pk.len;
	int c = n ? memcmp(x->pk.ptr, y->pk.ptr, n) : 0;
	if (c)
		return c;
	return x->pk.len < y->pk.len ? -1 : x->pk.len > y->pk.len;
}

COFFER_RESULT where_partitions(struct coffer_exec *x, const struct where *w, bool sorted, struct coffer_slice **out,
			       size_t *n)
{
	size_t np = 0, total = 1;
	while (np < COFFER_MAX_CLUSTERING && w->pk_restricted[np])
		np++;
	for (size_t i = 0; i < np; i++)
		total *= w->pk_n[i];
	ENSURE(total <= 65536, COFFER_E_INVALID, "IN restrictions select too many partitions (%zu)", total);
	struct pk_sort *ps = coffer_arena_zalloc(x->arena, sizeof(*ps) * (total + 1));
	for (size_t k = 0; k < total; k++) {
		struct coffer_slice comps[COFFER_MAX_CLUSTERING];
		size_t rem = k;
		for (size_t i = np; i-- > 0;) {
			comps[i] = w->pk_vals[i][rem % w->pk_n[i]];
			rem /= w->pk_n[i];
		}
		struct coffer_buf b = {0};
		coffer_partition_key_encode(comps, np, &b);
		ps[k].pk = coffer_slice_of(db_memdup(x->arena, b.ptr, b.len), b.len);
		ps[k].token = token_of(ps[k].pk);
		coffer_buf_free(&b);
	}
	if (sorted && total > 1)
		qsort(ps, total, sizeof(*ps), pk_sort_cmp);
	*out = coffer_arena_zalloc(x->arena, sizeof(**out) * (total + 1));
	*n = 0;
	for (size_t k = 0; k < total; k++) {
		if (sorted && *n && pk_sort_cmp(&ps[k], &ps[k - 1]) == 0)
			continue;
		(*out)[(*n)++] = ps[k].pk;
	}
	return COFFER_OK;
}

COFFER_RESULT where_pk_split(struct coffer_arena *a, struct coffer_slice pk, size_t n, struct coffer_slice *out)
{
	struct coffer_reader r;
	(void)a;
	if (n == 1) {
		out[0] = pk;
		return COFFER_OK;
	}
	coffer_reader_init(&r, pk, "partition key");
	for (size_t i = 0; i < n; i++) {
		uint16_t len;
		uint8_t eoc;
		TRY(coffer_reader_u16(&r, &len));
		TRY(coffer_reader_bytes(&r, len, &out[i]));
		TRY(coffer_reader_u8(&r, &eoc));
	}
	return COFFER_OK;
}

/* Collection element lookups for CONTAINS / CONTAINS KEY. */
static bool collection_contains(const struct coffer_datatype *t, struct coffer_slice v, bool key,
				struct coffer_slice needle)
{
	struct coffer_reader r;
	uint32_t cnt;
	coffer_reader_init(&r, v, "collection");
	if (coffer_reader_u32(&r, &cnt) != COFFER_OK)
		return false;
	bool map = t->kind == COFFER_DT_MAP;
	const struct coffer_datatype *et = map && !key ? t->params[1] : t->params[0];
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t len;
		struct coffer_slice k, val;
		if (coffer_reader_u32(&r, &len) != COFFER_OK || coffer_reader_bytes(&r, len, &k) != COFFER_OK)
			return false;
		val = k;
		if (map && (coffer_reader_u32(&r, &len) != COFFER_OK || coffer_reader_bytes(&r, len, &val) != COFFER_OK))
			return false;
		if (coffer_value_compare(et, key ? k : val, needle) == 0)
			return true;
	}
	return false;
}

bool where_compare(const struct coffer_datatype *t, enum coffer_cql_op op, struct coffer_slice v, bool is_null,
		   struct coffer_slice *const *vals, size_t nvals, size_t idx)
{
	if (op == COFFER_CQL_OP_IN) {
		for (size_t k = 0; k < nvals; k++)
			if (!is_null && coffer_value_compare(t, v, vals[k][idx]) == 0)
				return true;
		return false;
	}
	if (nvals == 0)
		return false;
	if (is_null)
		return op == COFFER_CQL_OP_NEQ;
	if (op == COFFER_CQL_OP_CONTAINS || op == COFFER_CQL_OP_CONTAINS_KEY)
		return coffer_datatype_kind_is_collection(t->kind) &&
		       collection_contains(t, v, op == COFFER_CQL_OP_CONTAINS_KEY, vals[0][idx]);
	int c = coffer_value_compare(t, v, vals[0][idx]);
	switch (op) {
	case COFFER_CQL_OP_EQ: return c == 0;
	case COFFER_CQL_OP_NEQ: return c != 0;
	case COFFER_CQL_OP_LT: return c < 0;
	case COFFER_CQL_OP_LE: return c <= 0;
	case COFFER_CQL_OP_GT: return c > 0;
	case COFFER_CQL_OP_GE: return c >= 0;
	default: return false;
	}
}

static bool row_value(const struct where_filter *f, size_t j, const struct where_row *r, struct coffer_slice *v)
{
	switch (f->src[j]) {
	case WHERE_PK: *v = r->pk[f->pos[j]]; return true;
	case WHERE_CK:
		if (f->pos[j] >= r->n_ck)
			return false;
		*v = r->ck[f->pos[j]];
		return true;
	case WHERE_REGULAR: return r->cell(r->arg, f->pos[j], false, v);
	case WHERE_STATIC: return r->cell(r->arg, f->pos[j], true, v);
	}
	return false;
}

/* Tuple comparison: lexicographic by value, as CQL compares tuples. */
static int tuple_cmp(const struct where_filter *f, const struct coffer_slice *v, const struct coffer_slice *w)
{
	for (size_t j = 0; j < f->ncols; j++) {
		int c = coffer_value_compare(f->cols[j]->type, v[j], w[j]);
		if (c)
			return c;
	}
	return 0;
}

bool where_match(const struct where *w, const struct where_row *r)
{
	for (size_t i = 0; i < w->nfilters; i++) {
		const struct where_filter *f = &w->filters[i];
		if (f->ncols == 1) {
			struct coffer_slice v = {0};
			bool present = row_value(f, 0, r, &v);
			if (!where_compare(f->cols[0]->type, f->op, v, !present, f->vals, f->nvals, 0))
				return false;
			continue;
		}
		struct coffer_slice tv[COFFER_MAX_CLUSTERING];
		for (size_t j = 0; j < f->ncols && j < COFFER_MAX_CLUSTERING; j++)
			if (!row_value(f, j, r, &tv[j]))
				return false;
		bool ok = false;
		if (f->op == COFFER_CQL_OP_IN) {
			for (size_t k = 0; k < f->nvals && !ok; k++)
				ok = tuple_cmp(f, tv, f->vals[k]) == 0;
		} else if (f->nvals) {
			int c = tuple_cmp(f, tv, f->vals[0]);
			switch (f->op) {
			case COFFER_CQL_OP_EQ: ok = c == 0; break;
			case COFFER_CQL_OP_NEQ: ok = c != 0; break;
			case COFFER_CQL_OP_LT: ok = c < 0; break;
			case COFFER_CQL_OP_LE: ok = c <= 0; break;
			case COFFER_CQL_OP_GT: ok = c > 0; break;
			case COFFER_CQL_OP_GE: ok = c >= 0; break;
			default: ok = false;
			}
		}
		if (!ok)
			return false;
	}
	return true;
}
