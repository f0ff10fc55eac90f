/*
 * exec_prepare.c - the metadata of a PREPARED result (native protocol v4
 * 4.2.5.4): one column spec per bind marker, in marker order, with the type
 * the marker binds and Cassandra's name for it (the column; "in(c)" for
 * IN ?; "key(m)"/"value(m)"/"idx(l)" for elements; "[ttl]",
 * "[timestamp]", "[limit]", "[per_partition_limit]"; "partition key token"
 * for token(...) > ?), the partition key indexes drivers use for token-aware
 * routing, and for SELECT the result columns.
 *
 * Invariants:
 *  1. A marker the walk does not reach keeps type blob and name "?" rather
 *     than failing the PREPARE: EXECUTE validates the value anyway.
 *  2. Everything returned lives in the execution's arena.
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/alloc.h"

struct binds {
	struct coffer_exec *x;
	const struct coffer_tabledef *d;
	struct coffer_proto_column *cols;
	int n;
	int *pk_marker; /* per partition key column: the marker binding it with =, or -1 */
};

static void set_marker(struct binds *b, const struct coffer_cql_term *t, const char *name,
		       const struct coffer_datatype *type)
{
	if (!t || !type)
		return;
	if (t->kind == COFFER_CQL_TERM_BIND) {
		if (t->bind_index < 0 || t->bind_index >= b->n)
			return;
		struct coffer_proto_column *c = &b->cols[t->bind_index];
		c->name = t->bind_name ? t->bind_name : name;
		c->type = rows_proto_type(b->x->arena, type);
		return;
	}
	/* Markers inside literals: elements, tuple fields, function arguments. */
	if (t->kind == COFFER_CQL_TERM_LIST || t->kind == COFFER_CQL_TERM_SET || t->kind == COFFER_CQL_TERM_MAP ||
	    t->kind == COFFER_CQL_TERM_TUPLE) {
		for (size_t i = 0; i < t->nitems; i++) {
			const struct coffer_datatype *et = NULL;
			if (type->kind == COFFER_DT_TUPLE && i < type->nparams)
				et = type->params[i];
			else if (type->kind == COFFER_DT_MAP)
				et = type->params[i % 2];
			else if (type->nparams)
				et = type->params[0];
			set_marker(b, t->items[i], name, et);
		}
		return;
	}
	if (t->kind == COFFER_CQL_TERM_FUNCTION) {
		for (size_t i = 0; i < t->nitems; i++)
			set_marker(b, t->items[i], name, coffer_datatype_of(COFFER_DT_TIMESTAMP));
	}
}

/* "fn(column)" */
static char *arena_fmt(struct coffer_exec *x, const char *fn, const char *a)
{
	char *s = coffer_xasprintf("%s(%s)", fn, a);
	char *r = coffer_arena_strdup(x->arena, s);
	free(s);
	return r;
}

static struct coffer_datatype *wrap(struct coffer_exec *x, enum coffer_datatype_kind k, const struct coffer_datatype *t)
{
	struct coffer_datatype *out = NULL;
	struct coffer_datatype *p = (struct coffer_datatype *)t;
	if (coffer_datatype_make(x->arena, k, true, &p, 1, &out) != COFFER_OK)
		return NULL;
	return out;
}

static void using_markers(struct binds *b, const struct coffer_cql_using *u)
{
	set_marker(b, u->ttl, "[ttl]", coffer_datatype_of(COFFER_DT_INT));
	set_marker(b, u->timestamp, "[timestamp]", coffer_datatype_of(COFFER_DT_BIGINT));
}

static void where_markers(struct binds *b, const struct coffer_cql_relation *rels, size_t n)
{
	const struct coffer_tabledef *d = b->d;
	for (size_t i = 0; i < n; i++) {
		const struct coffer_cql_relation *r = &rels[i];
		if (r->kind == COFFER_CQL_REL_TOKEN) {
			if (r->value && r->value->kind == COFFER_CQL_TERM_FUNCTION) {
				for (size_t j = 0; j < r->value->nitems && j < d->npartition; j++)
					set_marker(b, r->value->items[j], d->columns[j].name, d->columns[j].type);
			} else {
				set_marker(b, r->value, "partition key token", coffer_datatype_of(COFFER_DT_BIGINT));
			}
			continue;
		}
		if (r->kind == COFFER_CQL_REL_MULTI) {
			struct coffer_datatype *ps[COFFER_MAX_CLUSTERING];
			size_t k = 0;
			for (size_t j = 0; j < r->ncolumns && j < COFFER_MAX_CLUSTERING; j++) {
				const struct coffer_column *c = coffer_tabledef_column(d, r->columns[j], true);
				if (!c)
					return;
				ps[k++] = c->type;
			}
			struct coffer_datatype *tt = NULL;
			if (coffer_datatype_make(b->x->arena, COFFER_DT_TUPLE, true, ps, (uint32_t)k, &tt) != COFFER_OK)
				continue;
			if (r->op == COFFER_CQL_OP_IN && !r->in_values)
				set_marker(b, r->value, "in(tuple)", wrap(b->x, COFFER_DT_LIST, tt));
			else if (r->op == COFFER_CQL_OP_IN)
				for (size_t j = 0; j < r->nin; j++)
					set_marker(b, r->in_values[j], "tuple", tt);
			else
				set_marker(b, r->value, "tuple", tt);
			continue;
		}
		const struct coffer_column *c = coffer_tabledef_column(d, r->columns[0], true);
		if (!c)
			continue;
		const struct coffer_datatype *vt = c->type;
		if ((r->op == COFFER_CQL_OP_CONTAINS || r->op == COFFER_CQL_OP_CONTAINS_KEY) && c->type->nparams)
			vt = c->type->kind == COFFER_DT_MAP && r->op == COFFER_CQL_OP_CONTAINS ? c->type->params[1]
											: c->type->params[0];
		if (r->op == COFFER_CQL_OP_IN) {
			if (r->in_values) {
				for (size_t j = 0; j < r->nin; j++)
					set_marker(b, r->in_values[j], c->name, vt);
			} else {
				set_marker(b, r->value, arena_fmt(b->x, "in", c->name), wrap(b->x, COFFER_DT_LIST, vt));
			}
			continue;
		}
		set_marker(b, r->value, c->name, vt);
		if (c->kind == COFFER_COLUMN_PARTITION_KEY && r->op == COFFER_CQL_OP_EQ && r->value &&
		    r->value->kind == COFFER_CQL_TERM_BIND)
			b->pk_marker[c->position] = r->value->bind_index;
	}
}

static void condition_markers(struct binds *b, const struct coffer_cql_condition *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct coffer_column *c = coffer_tabledef_column(b->d, cs[i].column, true);
		if (!c)
			continue;
		const struct coffer_datatype *vt = c->type;
		if (cs[i].element && c->type->nparams) {
			bool map = c->type->kind == COFFER_DT_MAP;
			set_marker(b, cs[i].element, arena_fmt(b->x, map ? "key" : "idx", c->name),
				   map ? c->type->params[0] : coffer_datatype_of(COFFER_DT_INT));
			vt = map ? c->type->params[1] : c->type->params[0];
		}
		if (cs[i].op == COFFER_CQL_OP_IN && !cs[i].in_values)
			set_marker(b, cs[i].value, arena_fmt(b->x, "in", c->name), wrap(b->x, COFFER_DT_LIST, vt));
		else if (cs[i].op == COFFER_CQL_OP_IN)
			for (size_t j = 0; j < cs[i].nin; j++)
				set_marker(b, cs[i].in_values[j], c->name, vt);
		else
			set_marker(b, cs[i].value, c->name, vt);
	}
}

static void assignment_markers(struct binds *b, const struct coffer_cql_assignment *as, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct coffer_cql_assignment *a = &as[i];
		const struct coffer_column *c = coffer_tabledef_column(b->d, a->column, true);
		if (!c)
			continue;
		const struct coffer_datatype *t = c->type;
		if (t->kind == COFFER_DT_COUNTER) {
			set_marker(b, a->value, c->name, coffer_datatype_of(COFFER_DT_BIGINT));
			continue;
		}
		if (a->op == COFFER_CQL_SET_ELEMENT && t->nparams) {
			bool map = t->kind == COFFER_DT_MAP;
			set_marker(b, a->key, arena_fmt(b->x, map ? "key" : "idx", c->name),
				   map ? t->params[0] : coffer_datatype_of(COFFER_DT_INT));
			set_marker(b, a->value, arena_fmt(b->x, "value", c->name), map ? t->params[1] : t->params[0]);
			continue;
		}
		if (a->op == COFFER_CQL_SET_REMOVE && t->kind == COFFER_DT_MAP) {
			set_marker(b, a->value, c->name, wrap(b->x, COFFER_DT_SET, t->params[0]));
			continue;
		}
		set_marker(b, a->value, c->name, t);
	}
}

static COFFER_RESULT stmt_markers(struct binds *b, const struct coffer_cql_stmt *st)
{
	struct coffer_exec *x = b->x;
	const struct coffer_cql_qname *name = NULL;
	struct db_table *t;
	switch (st->kind) {
	case COFFER_CQL_INSERT: name = &st->u.insert.table; break;
	case COFFER_CQL_UPDATE: name = &st->u.update.table; break;
	case COFFER_CQL_DELETE: name = &st->u.del.table; break;
	case COFFER_CQL_SELECT: name = &st->u.select.table; break;
	case COFFER_CQL_BATCH:
		for (size_t i = 0; i < st->u.batch.nstmts; i++)
			TRY(stmt_markers(b, st->u.batch.stmts[i]));
		using_markers(b, &st->u.batch.using_);
		return COFFER_OK;
	default: return COFFER_OK;
	}
	TRY(db_find_table(x, name, &t));
	b->d = t->def;
	for (size_t i = 0; i < b->d->npartition && i < COFFER_MAX_CLUSTERING; i++)
		b->pk_marker[i] = -1;
	switch (st->kind) {
	case COFFER_CQL_INSERT:
		for (size_t i = 0; i < st->u.insert.ncolumns; i++) {
			const struct coffer_column *c = coffer_tabledef_column(b->d, st->u.insert.columns[i], true);
			if (!c)
				continue;
			const struct coffer_cql_term *v = st->u.insert.values[i];
			set_marker(b, v, c->name, c->type);
			if (c->kind == COFFER_COLUMN_PARTITION_KEY && v->kind == COFFER_CQL_TERM_BIND)
				b->pk_marker[c->position] = v->bind_index;
		}
		using_markers(b, &st->u.insert.using_);
		break;
	case COFFER_CQL_UPDATE:
		using_markers(b, &st->u.update.using_);
		assignment_markers(b, st->u.update.assignments, st->u.update.nassignments);
		where_markers(b, st->u.update.where, st->u.update.nwhere);
		condition_markers(b, st->u.update.conditions, st->u.update.nconditions);
		break;
	case COFFER_CQL_DELETE:
		for (size_t i = 0; i < st->u.del.ncolumns; i++) {
			const struct coffer_column *c = coffer_tabledef_column(b->d, st->u.del.columns[i].column, true);
			if (c && st->u.del.columns[i].element && c->type->nparams)
				set_marker(b, st->u.del.columns[i].element, arena_fmt(x, "key", c->name),
					   c->type->kind == COFFER_DT_LIST ? coffer_datatype_of(COFFER_DT_INT) : c->type->params[0]);
		}
		using_markers(b, &st->u.del.using_);
		where_markers(b, st->u.del.where, st->u.del.nwhere);
		condition_markers(b, st->u.del.conditions, st->u.del.nconditions);
		break;
	case COFFER_CQL_SELECT:
		where_markers(b, st->u.select.where, st->u.select.nwhere);
		set_marker(b, st->u.select.per_partition_limit, "[per_partition_limit]", coffer_datatype_of(COFFER_DT_INT));
		set_marker(b, st->u.select.limit, "[limit]", coffer_datatype_of(COFFER_DT_INT));
		break;
	default:
		break;
	}
	return COFFER_OK;
}

COFFER_RESULT exec_prepare_metadata(struct coffer_exec *x, struct coffer_proto_metadata *bind,
				    struct coffer_proto_metadata *result)
{
	const struct coffer_cql_stmt *st = x->stmt;
	struct binds b;
	int pk_marker[COFFER_MAX_CLUSTERING];
	coffer_rc rc = COFFER_OK;

	memset(bind, 0, sizeof(*bind));
	memset(result, 0, sizeof(*result));
	memset(&b, 0, sizeof(b));
	b.x = x;
	b.n = st->nbind > 0 ? st->nbind : 0;
	b.cols = coffer_arena_zalloc(x->arena, sizeof(*b.cols) * ((size_t)b.n + 1));
	b.pk_marker = pk_marker;
	for (int i = 0; i < b.n; i++) {
		b.cols[i].name = st->bind_names && st->bind_names[i] ? st->bind_names[i] : "?";
		b.cols[i].type = rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_BLOB));
	}
	for (size_t i = 0; i < COFFER_MAX_CLUSTERING; i++)
		pk_marker[i] = -1;

	const struct coffer_cql_qname *name = NULL;
	if (st->kind == COFFER_CQL_SELECT)
		name = &st->u.select.table;
	const char *ks = name && name->keyspace ? name->keyspace : x->session->keyspace;
	bool system = st->kind == COFFER_CQL_SELECT && ks && db_is_system_keyspace(ks);

	pthread_rwlock_rdlock(&x->db->schema_lock);
	if (system) {
		/* System tables' keys are text (keyspace_name, table_name, key). */
		for (int i = 0; i < b.n; i++)
			b.cols[i].type = rows_proto_type(x->arena, coffer_datatype_of(COFFER_DT_TEXT));
	} else if (st->kind == COFFER_CQL_INSERT || st->kind == COFFER_CQL_UPDATE || st->kind == COFFER_CQL_DELETE ||
		   st->kind == COFFER_CQL_SELECT || st->kind == COFFER_CQL_BATCH) {
		TRY_FAIL(stmt_markers(&b, st));
	}
	bind->flags = 0;
	bind->n_columns = b.n;
	bind->columns = b.cols;
	if (b.d) {
		/* Per-column keyspace/table (no global spec: batches may mix). */
		for (int i = 0; i < b.n; i++) {
			b.cols[i].keyspace = b.d->keyspace;
			b.cols[i].table = b.d->name;
		}
		bind->flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC;
		bind->keyspace = b.d->keyspace;
		bind->table = b.d->name;
		bool all = st->kind != COFFER_CQL_BATCH;
		for (size_t i = 0; i < b.d->npartition; i++)
			all = all && pk_marker[i] >= 0;
		if (all) {
			uint16_t *idx = coffer_arena_zalloc(x->arena, sizeof(*idx) * b.d->npartition);
			for (size_t i = 0; i < b.d->npartition; i++)
				idx[i] = (uint16_t)pk_marker[i];
			bind->n_pk = (int32_t)b.d->npartition;
			bind->pk_indexes = idx;
		}
	} else {
		for (int i = 0; i < b.n; i++) {
			b.cols[i].keyspace = ks ? ks : "";
			b.cols[i].table = "";
		}
	}
	if (st->kind == COFFER_CQL_SELECT && !system) {
		struct db_table *t;
		TRY_FAIL(db_find_table(x, &st->u.select.table, &t));
		TRY_FAIL(select_result_metadata(x, t, result));
	}
fail:
	pthread_rwlock_unlock(&x->db->schema_lock);
	return rc;
}
