/*
 * result.c - RESULT messages (spec 4.2.5): column types as [option] trees,
 * result metadata, and the Void, Rows, Set_keyspace, Prepared and
 * Schema_change kinds; plus the schema-change body that SCHEMA_CHANGE events
 * share.
 *
 *   RESULT           OFFSET  SIZE  MEANING
 *                    0       4     [int] kind: 1 Void, 2 Rows, 3 Set_keyspace,
 *                                  4 Prepared, 5 Schema_change
 *   Rows             4       var   <metadata>
 *                    var     4     [int] rows_count
 *                    var     var   rows_count x columns_count [bytes]
 *   Set_keyspace     4       var   [string] keyspace
 *   Prepared         4       var   [short bytes] id, <bind metadata>,
 *                                  <metadata> of the result
 *   Schema_change    4       var   <schema change>
 *
 *   <metadata>       0       4     [int] flags: 0x1 global tables spec,
 *                                  0x2 has more pages, 0x4 no metadata
 *                    4       4     [int] columns_count
 *                    8       var   0x2: [bytes] paging state
 *                    var     var   unless 0x4: 0x1: [string] ks, [string] table;
 *                                  columns_count x ([string] ks, [string] table
 *                                  unless 0x1; [string] name; [option] type)
 *   <bind metadata>  0       4     [int] flags (0x1 only)
 *                    4       4     [int] columns_count
 *                    8       4     v4: [int] pk_count, then pk_count x [short]
 *                    var     var   as <metadata> after its paging state
 *   <schema change>  0       var   [string] change: CREATED, UPDATED, DROPPED
 *                    var     var   [string] target: KEYSPACE, TABLE, TYPE,
 *                                  FUNCTION, AGGREGATE (v4)
 *                    var     var   [string] keyspace; TABLE/TYPE: [string] name;
 *                                  FUNCTION/AGGREGATE: [string] name,
 *                                  [string list] argument types
 *   [option] type    0       2     [short] id; CUSTOM: [string] class;
 *                                  LIST/SET: [option]; MAP: 2 [option];
 *                                  UDT: [string] ks, [string] name, [short] n,
 *                                  n x ([string] field, [option]);
 *                                  TUPLE: [short] n, n x [option]
 *
 * Invariants:
 *  1. Type trees nest at most COFFER_PROTO_TYPE_MAX_DEPTH deep (decoding
 *     recursion is bounded).
 *  2. Encoders refuse metadata that disagrees with its own flags (a column
 *     array missing, a type with the wrong number of sub-types) with
 *     COFFER_E_INVALID rather than writing a body a driver would misread.
 */
#include <string.h>

#include "proto/proto_internal.h"

/* ---- types ------------------------------------------------------------------ */

static bool known_type_id(uint16_t id)
{
	return id <= COFFER_PROTO_TYPE_INET || (id >= COFFER_PROTO_TYPE_DATE &&
						 id <= COFFER_PROTO_TYPE_TINYINT) ||
	       (id >= COFFER_PROTO_TYPE_LIST && id <= COFFER_PROTO_TYPE_SET) ||
	       id == COFFER_PROTO_TYPE_UDT || id == COFFER_PROTO_TYPE_TUPLE;
}

COFFER_RESULT proto_read_type(struct coffer_reader *r, struct coffer_arena *a, unsigned depth,
			      struct coffer_proto_type *t)
{
	size_t at = r->off;
	memset(t, 0, sizeof *t);
	if (depth >= COFFER_PROTO_TYPE_MAX_DEPTH)
		return PFAIL(r, "column type at offset %zu nests deeper than %d levels", at,
			     COFFER_PROTO_TYPE_MAX_DEPTH);
	TRY(coffer_proto_read_short(r, "type id", &t->id));
	/* 0x000A (text) was removed from the protocol before v3. */
	if (!known_type_id(t->id) || t->id == 0x000A)
		return PFAIL(r, "unknown column type option id 0x%04x at offset %zu", t->id, at);
	switch (t->id) {
	case COFFER_PROTO_TYPE_CUSTOM:
		return coffer_proto_read_string(r, a, "custom type class", &t->custom);
	case COFFER_PROTO_TYPE_LIST:
	case COFFER_PROTO_TYPE_SET:
	case COFFER_PROTO_TYPE_MAP:
		t->n = t->id == COFFER_PROTO_TYPE_MAP ? 2 : 1;
		break;
	case COFFER_PROTO_TYPE_UDT:
		TRY(coffer_proto_read_string(r, a, "UDT keyspace", &t->keyspace));
		TRY(coffer_proto_read_string(r, a, "UDT name", &t->name));
		TRY(coffer_proto_read_short(r, "UDT field count", &t->n));
		TRY(proto_check_count(r, "UDT field count", t->n, 4));
		break;
	case COFFER_PROTO_TYPE_TUPLE:
		TRY(coffer_proto_read_short(r, "tuple size", &t->n));
		TRY(proto_check_count(r, "tuple size", t->n, 2));
		break;
	default:
		return COFFER_OK;
	}
	struct coffer_proto_type *sub = coffer_arena_zalloc(a, (t->n ? t->n : 1) * sizeof *sub);
	const char **names = NULL;
	if (t->id == COFFER_PROTO_TYPE_UDT)
		names = coffer_arena_zalloc(a, (t->n ? t->n : 1) * sizeof *names);
	for (uint16_t i = 0; i < t->n; i++) {
		if (names)
			TRY(coffer_proto_read_string(r, a, "UDT field name", &names[i]));
		TRY(proto_read_type(r, a, depth + 1, &sub[i]));
	}
	t->sub = sub;
	t->field_names = names;
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_read_type(struct coffer_reader *r, struct coffer_arena *a,
				     struct coffer_proto_type *out)
{
	return proto_read_type(r, a, 0, out);
}

COFFER_RESULT coffer_proto_read_option_list(struct coffer_reader *r, struct coffer_arena *a,
					    uint16_t *n, const struct coffer_proto_type **out)
{
	TRY(coffer_proto_read_short(r, "option count", n));
	TRY(proto_check_count(r, "option count", *n, 2));
	struct coffer_proto_type *t = coffer_arena_zalloc(a, (*n ? *n : 1) * sizeof *t);
	for (uint16_t i = 0; i < *n; i++)
		TRY(proto_read_type(r, a, 0, &t[i]));
	*out = t;
	return COFFER_OK;
}

static const char *v3_custom_class(uint16_t id)
{
	/* v3 has no date/time/smallint/tinyint ids (spec 10 "Add the date and
	 * time data types", "Add the tinyint and smallint data types"); Cassandra
	 * sends them to v3 clients as custom types with these classes. */
	switch (id) {
	case COFFER_PROTO_TYPE_DATE: return "org.apache.cassandra.db.marshal.SimpleDateType";
	case COFFER_PROTO_TYPE_TIME: return "org.apache.cassandra.db.marshal.TimeType";
	case COFFER_PROTO_TYPE_SMALLINT: return "org.apache.cassandra.db.marshal.ShortType";
	case COFFER_PROTO_TYPE_TINYINT: return "org.apache.cassandra.db.marshal.ByteType";
	default: return NULL;
	}
}

static coffer_rc put_type(struct coffer_buf *b, uint8_t version,
			  const struct coffer_proto_type *t, unsigned depth)
{
	ENSURE(t, COFFER_E_INVALID, "a column has no type");
	ENSURE(depth < COFFER_PROTO_TYPE_MAX_DEPTH, COFFER_E_INVALID,
	       "a column type nests deeper than %d levels", COFFER_PROTO_TYPE_MAX_DEPTH);
	ENSURE(known_type_id(t->id) && t->id != 0x000A, COFFER_E_INVALID,
	       "unknown column type id 0x%04x", t->id);
	const char *v3 = version < 4 ? v3_custom_class(t->id) : NULL;
	if (v3) {
		coffer_proto_put_short(b, COFFER_PROTO_TYPE_CUSTOM);
		return coffer_proto_put_string(b, v3);
	}
	coffer_proto_put_short(b, t->id);
	switch (t->id) {
	case COFFER_PROTO_TYPE_CUSTOM:
		ENSURE(t->custom, COFFER_E_INVALID, "a custom type has no class name");
		return coffer_proto_put_string(b, t->custom);
	case COFFER_PROTO_TYPE_LIST:
	case COFFER_PROTO_TYPE_SET:
		ENSURE(t->n == 1 && t->sub, COFFER_E_INVALID,
		       "a list or set type needs 1 element type, not %u", t->n);
		return put_type(b, version, &t->sub[0], depth + 1);
	case COFFER_PROTO_TYPE_MAP:
		ENSURE(t->n == 2 && t->sub, COFFER_E_INVALID,
		       "a map type needs 2 sub-types, not %u", t->n);
		TRY(put_type(b, version, &t->sub[0], depth + 1));
		return put_type(b, version, &t->sub[1], depth + 1);
	case COFFER_PROTO_TYPE_UDT:
		ENSURE(t->n == 0 || (t->sub && t->field_names), COFFER_E_INVALID,
		       "a UDT type has %u fields but no field array", t->n);
		TRY(coffer_proto_put_string(b, t->keyspace));
		TRY(coffer_proto_put_string(b, t->name));
		coffer_proto_put_short(b, t->n);
		for (uint16_t i = 0; i < t->n; i++) {
			TRY(coffer_proto_put_string(b, t->field_names[i]));
			TRY(put_type(b, version, &t->sub[i], depth + 1));
		}
		return COFFER_OK;
	case COFFER_PROTO_TYPE_TUPLE:
		ENSURE(t->n == 0 || t->sub, COFFER_E_INVALID,
		       "a tuple type has %u components but no array", t->n);
		coffer_proto_put_short(b, t->n);
		for (uint16_t i = 0; i < t->n; i++)
			TRY(put_type(b, version, &t->sub[i], depth + 1));
		return COFFER_OK;
	default:
		return COFFER_OK;
	}
}

COFFER_RESULT coffer_proto_put_type(struct coffer_buf *b, uint8_t version,
				    const struct coffer_proto_type *t)
{
	size_t start = b->len;
	coffer_rc rc = put_type(b, version, t, 0);
	if (rc != COFFER_OK)
		b->len = start;
	return rc;
}

/* ---- metadata --------------------------------------------------------------- */

COFFER_RESULT proto_read_metadata(struct coffer_reader *r, struct coffer_arena *a,
				  uint8_t version, bool bind, struct coffer_proto_metadata *m)
{
	int32_t flags;
	size_t at = r->off;
	memset(m, 0, sizeof *m);
	TRY(coffer_proto_read_int(r, "metadata flags", &flags));
	m->flags = (uint32_t)flags;
	TRY(coffer_proto_read_int(r, "column count", &m->n_columns));
	if (m->n_columns < 0)
		return PFAIL(r, "negative column count %d in the metadata at offset %zu",
			     (int)m->n_columns, at);
	if (bind && version >= 4) {
		TRY(coffer_proto_read_int(r, "pk count", &m->n_pk));
		if (m->n_pk < 0)
			return PFAIL(r, "negative pk count %d in the metadata", (int)m->n_pk);
		TRY(proto_check_count(r, "pk count", (size_t)m->n_pk, 2));
		uint16_t *pk = coffer_arena_alloc(a, (m->n_pk ? (size_t)m->n_pk : 1) * sizeof *pk);
		for (int32_t i = 0; i < m->n_pk; i++)
			TRY(coffer_proto_read_short(r, "pk index", &pk[i]));
		m->pk_indexes = pk;
	}
	if (!bind && (m->flags & COFFER_PROTO_MF_HAS_MORE_PAGES)) {
		struct coffer_proto_value ps;
		TRY(coffer_proto_read_bytes(r, "paging state", &ps));
		m->paging_state = ps.bytes;
	}
	if (!bind && (m->flags & COFFER_PROTO_MF_NO_METADATA))
		return COFFER_OK;
	bool global = (m->flags & COFFER_PROTO_MF_GLOBAL_TABLES_SPEC) != 0;
	if (global) {
		TRY(coffer_proto_read_string(r, a, "keyspace", &m->keyspace));
		TRY(coffer_proto_read_string(r, a, "table", &m->table));
	}
	TRY(proto_check_count(r, "column count", (size_t)m->n_columns, global ? 4 : 8));
	struct coffer_proto_column *cols =
		coffer_arena_zalloc(a, (m->n_columns ? (size_t)m->n_columns : 1) * sizeof *cols);
	for (int32_t i = 0; i < m->n_columns; i++) {
		if (global) {
			cols[i].keyspace = m->keyspace;
			cols[i].table = m->table;
		} else {
			TRY(coffer_proto_read_string(r, a, "column keyspace", &cols[i].keyspace));
			TRY(coffer_proto_read_string(r, a, "column table", &cols[i].table));
		}
		TRY(coffer_proto_read_string(r, a, "column name", &cols[i].name));
		struct coffer_proto_type *t = coffer_arena_alloc(a, sizeof *t);
		TRY(proto_read_type(r, a, 0, t));
		cols[i].type = t;
	}
	m->columns = cols;
	return COFFER_OK;
}

COFFER_RESULT proto_put_metadata(struct coffer_buf *b, uint8_t version, bool bind,
				 const struct coffer_proto_metadata *m)
{
	uint32_t allowed = bind ? COFFER_PROTO_MF_GLOBAL_TABLES_SPEC
				: (COFFER_PROTO_MF_GLOBAL_TABLES_SPEC | COFFER_PROTO_MF_HAS_MORE_PAGES |
				   COFFER_PROTO_MF_NO_METADATA);
	ENSURE(!(m->flags & ~allowed), COFFER_E_INVALID, "metadata flags 0x%x are not allowed here",
	       m->flags);
	ENSURE(m->n_columns >= 0, COFFER_E_INVALID, "negative column count %d", (int)m->n_columns);
	coffer_proto_put_int(b, (int32_t)m->flags);
	coffer_proto_put_int(b, m->n_columns);
	if (bind && version >= 4) {
		ENSURE(m->n_pk >= 0 && (m->n_pk == 0 || m->pk_indexes), COFFER_E_INVALID,
		       "pk count %d without pk indexes", (int)m->n_pk);
		coffer_proto_put_int(b, m->n_pk);
		for (int32_t i = 0; i < m->n_pk; i++)
			coffer_proto_put_short(b, m->pk_indexes[i]);
	}
	if (m->flags & COFFER_PROTO_MF_HAS_MORE_PAGES) {
		struct coffer_proto_value ps = {COFFER_PROTO_VALUE, m->paging_state};
		TRY(coffer_proto_put_bytes(b, &ps));
	}
	if (m->flags & COFFER_PROTO_MF_NO_METADATA)
		return COFFER_OK;
	bool global = (m->flags & COFFER_PROTO_MF_GLOBAL_TABLES_SPEC) != 0;
	ENSURE(m->n_columns == 0 || m->columns, COFFER_E_INVALID,
	       "metadata has %d columns but no column array", (int)m->n_columns);
	if (global) {
		TRY(coffer_proto_put_string(b, m->keyspace));
		TRY(coffer_proto_put_string(b, m->table));
	}
	for (int32_t i = 0; i < m->n_columns; i++) {
		const struct coffer_proto_column *c = &m->columns[i];
		if (!global) {
			TRY(coffer_proto_put_string(b, c->keyspace));
			TRY(coffer_proto_put_string(b, c->table));
		}
		TRY(coffer_proto_put_string(b, c->name));
		TRY(put_type(b, version, c->type, 0));
	}
	return COFFER_OK;
}

/* ---- result kinds ------------------------------------------------------------ */

void coffer_proto_put_result_void(struct coffer_buf *b)
{
	coffer_proto_put_int(b, COFFER_PROTO_RESULT_VOID);
}

COFFER_RESULT coffer_proto_put_result_set_keyspace(struct coffer_buf *b, const char *keyspace)
{
	size_t start = b->len;
	coffer_proto_put_int(b, COFFER_PROTO_RESULT_SET_KEYSPACE);
	coffer_rc rc = coffer_proto_put_string(b, keyspace);
	if (rc != COFFER_OK)
		b->len = start;
	return rc;
}

COFFER_RESULT coffer_proto_rows_begin(struct coffer_buf *b, uint8_t version,
				      const struct coffer_proto_metadata *m, size_t *count_off)
{
	size_t start = b->len;
	coffer_proto_put_int(b, COFFER_PROTO_RESULT_ROWS);
	coffer_rc rc = proto_put_metadata(b, version, false, m);
	if (rc != COFFER_OK) {
		b->len = start;
		return rc;
	}
	*count_off = b->len;
	coffer_proto_put_int(b, 0);
	return COFFER_OK;
}

void coffer_proto_rows_end(struct coffer_buf *b, size_t count_off, int32_t rows_count)
{
	coffer_buf_patch_u32(b, count_off, (uint32_t)rows_count);
}

COFFER_RESULT coffer_proto_put_result_prepared(struct coffer_buf *b, uint8_t version,
					       struct coffer_slice id,
					       const struct coffer_proto_metadata *bind,
					       const struct coffer_proto_metadata *result)
{
	coffer_rc rc;
	size_t start = b->len;
	coffer_proto_put_int(b, COFFER_PROTO_RESULT_PREPARED);
	TRY_FAIL(coffer_proto_put_short_bytes(b, id.ptr, id.len));
	TRY_FAIL(proto_put_metadata(b, version, true, bind));
	TRY_FAIL(proto_put_metadata(b, version, false, result));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

/* ---- schema changes ------------------------------------------------------------ */

enum target { T_KEYSPACE, T_TABLE, T_TYPE, T_FUNCTION, T_AGGREGATE, T_UNKNOWN };

static enum target target_of(const char *s)
{
	static const char *const names[] = {"KEYSPACE", "TABLE", "TYPE", "FUNCTION", "AGGREGATE"};
	for (int i = 0; s && i < T_UNKNOWN; i++)
		if (!strcmp(s, names[i]))
			return (enum target)i;
	return T_UNKNOWN;
}

static bool known_change(const char *s)
{
	return s && (!strcmp(s, "CREATED") || !strcmp(s, "UPDATED") || !strcmp(s, "DROPPED"));
}

coffer_rc proto_put_schema_change(struct coffer_buf *b, uint8_t version,
				  const struct coffer_proto_schema_change *sc)
{
	enum target t = target_of(sc->target);
	ENSURE(known_change(sc->change), COFFER_E_INVALID, "unknown schema change type");
	ENSURE(t != T_UNKNOWN, COFFER_E_INVALID, "unknown schema change target");
	ENSURE(sc->keyspace, COFFER_E_INVALID, "a schema change without a keyspace");
	if (version < 4 && (t == T_FUNCTION || t == T_AGGREGATE)) {
		/* v3 knows no function targets; Cassandra reports the keyspace
		 * as updated instead. */
		TRY(coffer_proto_put_string(b, "UPDATED"));
		TRY(coffer_proto_put_string(b, "KEYSPACE"));
		return coffer_proto_put_string(b, sc->keyspace);
	}
	TRY(coffer_proto_put_string(b, sc->change));
	TRY(coffer_proto_put_string(b, sc->target));
	TRY(coffer_proto_put_string(b, sc->keyspace));
	if (t == T_KEYSPACE)
		return COFFER_OK;
	ENSURE(sc->name, COFFER_E_INVALID, "a %s schema change without a name", sc->target);
	TRY(coffer_proto_put_string(b, sc->name));
	if (t == T_FUNCTION || t == T_AGGREGATE)
		TRY(coffer_proto_put_string_list(b, &sc->arg_types));
	return COFFER_OK;
}

COFFER_RESULT coffer_proto_put_result_schema_change(struct coffer_buf *b, uint8_t version,
						    const struct coffer_proto_schema_change *sc)
{
	size_t start = b->len;
	coffer_proto_put_int(b, COFFER_PROTO_RESULT_SCHEMA_CHANGE);
	coffer_rc rc = proto_put_schema_change(b, version, sc);
	if (rc != COFFER_OK)
		b->len = start;
	return rc;
}

COFFER_RESULT proto_read_schema_change(struct coffer_reader *r, struct coffer_arena *a,
				       struct coffer_proto_schema_change *sc)
{
	memset(sc, 0, sizeof *sc);
	TRY(coffer_proto_read_string(r, a, "change type", &sc->change));
	if (!known_change(sc->change))
		return PFAIL(r, "unknown schema change type '%.20s'", sc->change);
	TRY(coffer_proto_read_string(r, a, "change target", &sc->target));
	enum target t = target_of(sc->target);
	if (t == T_UNKNOWN)
		return PFAIL(r, "unknown schema change target '%.20s'", sc->target);
	TRY(coffer_proto_read_string(r, a, "keyspace", &sc->keyspace));
	if (t == T_KEYSPACE)
		return COFFER_OK;
	TRY(coffer_proto_read_string(r, a, "name", &sc->name));
	if (t == T_FUNCTION || t == T_AGGREGATE)
		TRY(coffer_proto_read_string_list(r, a, "argument types", &sc->arg_types));
	return COFFER_OK;
}
