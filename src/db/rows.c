/*
 * rows.c - writing ROWS results (native protocol v4 section 4.2.5.2): the
 * metadata (global table spec, column specs, has_more_pages with its paging
 * state, or NO_METADATA when the client asked to skip it), the row count and
 * the cells; and the protocol type tree of a schema datatype.
 *
 * The metadata precedes the rows on the wire, but whether there are more
 * pages is known only once the rows are read. So a writer gathers the cells
 * in its own buffer and rows_end() writes kind, metadata, count and cells to
 * the output in one go.
 *
 * Invariants:
 *  1. Callers append exactly md.n_columns cells per row, then rows_end_row.
 *  2. Cell bytes are the stored serialized values, never re-encoded.
 */
#include <string.h>

#include "db/db_internal.h"

COFFER_RESULT rows_begin(struct rows_writer *w, struct coffer_exec *x, const struct coffer_proto_metadata *md)
{
	struct coffer_buf probe = {0};
	size_t off;

	memset(w, 0, sizeof(*w));
	w->out = x->out;
	w->md = *md;
	w->version = x->version;
	w->ncols = md->n_columns;
	if (x->skip_metadata)
		w->md.flags |= COFFER_PROTO_MF_NO_METADATA;
	/* Encode once now so an unencodable name fails here, not in rows_end. */
	coffer_rc rc = coffer_proto_rows_begin(&probe, w->version, &w->md, &off);
	coffer_buf_free(&probe);
	return rc;
}

void rows_cell(struct rows_writer *w, struct coffer_slice v, bool is_null)
{
	struct coffer_proto_value pv = is_null ? coffer_proto_value_null() : coffer_proto_value_of(v.ptr, v.len);

	/* [bytes] takes an int length; a stored value never reaches 2 GiB. */
	if (!is_null && v.len > INT32_MAX)
		pv = coffer_proto_value_null();
	if (coffer_proto_put_bytes(&w->cells, &pv) != COFFER_OK)
		coffer_proto_put_int(&w->cells, -1);
}

void rows_end_row(struct rows_writer *w)
{
	w->rows++;
}

void rows_set_paging_state(struct rows_writer *w, struct coffer_slice ps)
{
	w->paging_state = ps;
	if (ps.len)
		w->md.flags |= COFFER_PROTO_MF_HAS_MORE_PAGES;
	else
		w->md.flags &= ~(uint32_t)COFFER_PROTO_MF_HAS_MORE_PAGES;
	w->md.paging_state = ps;
}

void rows_end(struct rows_writer *w)
{
	size_t start = w->out->len;

	if (coffer_proto_rows_begin(w->out, w->version, &w->md, &w->count_off) != COFFER_OK) {
		/* Checked by rows_begin; only the paging state could differ, and
		 * it is small. Fall back to an empty result without paging. */
		w->out->len = start;
		w->md.flags &= ~(uint32_t)COFFER_PROTO_MF_HAS_MORE_PAGES;
		if (coffer_proto_rows_begin(w->out, w->version, &w->md, &w->count_off) != COFFER_OK) {
			w->out->len = start;
			coffer_buf_free(&w->cells);
			return;
		}
	}
	coffer_buf_put(w->out, w->cells.ptr, w->cells.len);
	coffer_proto_rows_end(w->out, w->count_off, w->rows);
	coffer_buf_free(&w->cells);
}

void rows_abort(struct rows_writer *w)
{
	coffer_buf_free(&w->cells);
}

const struct coffer_proto_type *rows_proto_type(struct coffer_arena *a, const struct coffer_datatype *t)
{
	struct coffer_proto_type *p = coffer_arena_zalloc(a, sizeof(*p));

	if (t->kind == COFFER_DT_DURATION || t->kind == COFFER_DT_CUSTOM) {
		const char *cls = coffer_datatype_custom_class(t);
		p->id = COFFER_PROTO_TYPE_CUSTOM;
		p->custom = cls ? cls : "org.apache.cassandra.db.marshal.BytesType";
		return p;
	}
	/* Protocol v2+ has no separate text id: text and varchar are 0x000D. */
	p->id = t->kind == COFFER_DT_TEXT ? COFFER_PROTO_TYPE_VARCHAR : (uint16_t)t->kind;
	if (t->nparams) {
		struct coffer_proto_type *sub = coffer_arena_zalloc(a, sizeof(*sub) * t->nparams);
		for (uint32_t i = 0; i < t->nparams; i++)
			sub[i] = *rows_proto_type(a, t->params[i]);
		p->sub = sub;
		p->n = (uint16_t)t->nparams;
	}
	return p;
}
