/*
 * messages.c - request messages (spec 4.1): decoding what clients send, and
 * encoding the same messages for coffer's own clients and for tests.
 *
 * Every body may begin with a custom payload when header flag 0x04 is set
 * (v4 only); it is a [bytes map] and comes before the layouts below.
 *
 *   STARTUP        OFFSET  SIZE  MEANING
 *                  0       var   [string map] options; CQL_VERSION required,
 *                                COMPRESSION optional (keys case-insensitive)
 *   AUTH_RESPONSE  0       var   [bytes] SASL token
 *   OPTIONS        0       0     (empty)
 *   QUERY          0       var   [long string] query, then <query parameters>
 *   PREPARE        0       var   [long string] query
 *   EXECUTE        0       var   [short bytes] prepared id, then <query parameters>
 *   REGISTER       0       var   [string list] event types
 *
 *   <query parameters>
 *                  0       2     [consistency]
 *                  2       1     [byte] flags: 0x01 values, 0x02 skip metadata,
 *                                0x04 page size, 0x08 paging state, 0x10 serial
 *                                consistency, 0x20 default timestamp, 0x40 names
 *                  3       var   0x01: [short] n, then n x ([string] name if 0x40)
 *                                [value] (v3: [bytes], a negative length is null)
 *                          4     0x04: [int] page size (0 refused; < 0 no paging)
 *                          var   0x08: [bytes] paging state
 *                          2     0x10: [consistency] serial consistency
 *                          8     0x20: [long] timestamp in microseconds
 *
 *   BATCH          0       1     [byte] type: 0 logged, 1 unlogged, 2 counter
 *                  1       2     [short] n statements, each:
 *                                  [byte] kind: 0 [long string] query,
 *                                  1 [short bytes] prepared id;
 *                                  [short] n values, n x [value]
 *                  var     2     [consistency]
 *                  var     1     [byte] flags: only 0x10, 0x20 (the 4 rightmost
 *                                bits "must always be 0"; 0x40 names refused,
 *                                spec: "this feature does not work")
 *                  var     2     0x10: [consistency] serial consistency
 *                  var     8     0x20: [long] timestamp
 *
 * Invariants:
 *  1. Strictness: unknown opcodes and flag bits, counts that the body cannot
 *     hold, and trailing bytes are protocol errors naming what is wrong, so a
 *     value-count mismatch is caught either way.
 *  2. Values, query text and ids are borrowed from the frame body; names and
 *     arrays come from the arena.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/proto_internal.h"


/* ---- query parameters ------------------------------------------------------ */

static coffer_rc read_values(struct coffer_reader *r, struct coffer_arena *a, uint8_t version,
			     bool named, uint16_t *n_out, const struct coffer_proto_value **values_out,
			     const char *const **names_out)
{
	uint16_t n;
	TRY(coffer_proto_read_short(r, "value count", &n));
	TRY(proto_check_count(r, "value count", n, named ? 6 : 4));
	struct coffer_proto_value *values = coffer_arena_zalloc(a, (n ? n : 1) * sizeof *values);
	const char **names = named ? coffer_arena_zalloc(a, (n ? n : 1) * sizeof *names) : NULL;
	for (uint16_t i = 0; i < n; i++) {
		if (named)
			TRY(coffer_proto_read_string(r, a, "value name", &names[i]));
		/* v3 values are [bytes] (any negative length is null); v4 adds
		 * -2 "not set". */
		if (version >= 4)
			TRY(coffer_proto_read_value(r, "value", &values[i]));
		else
			TRY(coffer_proto_read_bytes(r, "value", &values[i]));
	}
	*n_out = n;
	*values_out = values;
	if (names_out)
		*names_out = names;
	return COFFER_OK;
}

static coffer_rc read_timestamp(struct coffer_reader *r, int64_t *out)
{
	TRY(coffer_proto_read_long(r, "default timestamp", out));
	/* Cassandra refuses only Long.MIN_VALUE (its "no timestamp" marker);
	 * drivers may send pre-1970 timestamps, so negatives are kept. */
	if (*out == INT64_MIN)
		return PFAIL(r, "Out of bound timestamp, must be in [%lld, %lld] (got %lld)",
			     (long long)INT64_MIN + 1, (long long)INT64_MAX, (long long)INT64_MIN);
	return COFFER_OK;
}

static coffer_rc read_params(struct coffer_reader *r, struct coffer_arena *a, uint8_t version,
			     struct coffer_proto_params *p)
{
	memset(p, 0, sizeof *p);
	p->page_size = -1;
	p->serial_consistency = COFFER_PROTO_CL_SERIAL;
	TRY(coffer_proto_read_consistency(r, "consistency", &p->consistency));
	size_t at = r->off;
	TRY(coffer_proto_read_byte(r, "query flags", &p->flags));
	if (p->flags & 0x80)
		return PFAIL(r, "query flags 0x%02x at offset %zu have unknown bits 0x80", p->flags,
			     at);
	if (p->flags & COFFER_PROTO_QF_VALUES)
		TRY(read_values(r, a, version, (p->flags & COFFER_PROTO_QF_NAMES) != 0,
				&p->n_values, &p->values, &p->names));
	if (p->flags & COFFER_PROTO_QF_PAGE_SIZE) {
		int32_t ps;
		TRY(coffer_proto_read_int(r, "page size", &ps));
		if (ps == 0)
			return PFAIL(r, "The page size cannot be 0");
		p->page_size = ps > 0 ? ps : -1;
	}
	if (p->flags & COFFER_PROTO_QF_PAGING_STATE) {
		struct coffer_proto_value ps;
		TRY(coffer_proto_read_bytes(r, "paging state", &ps));
		if (ps.kind == COFFER_PROTO_VALUE)
			p->paging_state = ps.bytes;
		else
			p->flags &= (uint8_t)~COFFER_PROTO_QF_PAGING_STATE;
	}
	if (p->flags & COFFER_PROTO_QF_SERIAL_CONSISTENCY)
		TRY(coffer_proto_read_consistency(r, "serial consistency",
						  &p->serial_consistency));
	if (p->flags & COFFER_PROTO_QF_TIMESTAMP)
		TRY(read_timestamp(r, &p->timestamp));
	return COFFER_OK;
}

/* ---- messages --------------------------------------------------------------- */

static bool valid_cql_version(const char *v)
{
	/* "3", "3.0", "3.4.5": CQL 3 is the only language spoken. */
	if (v[0] != '3')
		return false;
	int parts = 1;
	for (const char *p = v + 1; *p; p++) {
		if (*p == '.') {
			if (!p[1] || p[1] == '.' || ++parts > 3)
				return false;
		} else if (*p < '0' || *p > '9') {
			return false;
		}
	}
	return true;
}

static coffer_rc decode_startup(struct coffer_reader *r, struct coffer_arena *a,
				struct coffer_proto_request *q)
{
	struct coffer_proto_string_map *m = &q->u.startup.options;
	TRY(coffer_proto_read_string_map(r, a, "options", m));
	for (uint16_t i = 0; i < m->n; i++) {
		if (!strcasecmp(m->keys[i], "CQL_VERSION") && !q->u.startup.cql_version)
			q->u.startup.cql_version = m->values[i];
		else if (!strcasecmp(m->keys[i], "COMPRESSION") && !q->u.startup.compression)
			q->u.startup.compression = m->values[i];
	}
	if (!q->u.startup.cql_version)
		return PFAIL(r, "Missing value CQL_VERSION in STARTUP message");
	if (!valid_cql_version(q->u.startup.cql_version))
		return PFAIL(r, "Invalid or unsupported CQL_VERSION '%.32s' (this server speaks CQL 3)",
			     q->u.startup.cql_version);
	const char *c = q->u.startup.compression;
	if (c && *c)
		/* SUPPORTED lists COMPRESSION as an empty list. */
		return PFAIL(r, "Unknown compression algorithm: %.32s (this server supports none)",
			     c);
	q->u.startup.compression = NULL;
	return COFFER_OK;
}

static coffer_rc decode_batch(struct coffer_reader *r, struct coffer_arena *a, uint8_t version,
			      struct coffer_proto_batch *b)
{
	size_t at = r->off;
	TRY(coffer_proto_read_byte(r, "batch type", &b->type));
	if (b->type > COFFER_PROTO_BATCH_COUNTER)
		return PFAIL(r, "Unknown batch type %u at offset %zu (0 logged, 1 unlogged, 2 counter)",
			     b->type, at);
	TRY(coffer_proto_read_short(r, "statement count", &b->n));
	/* the smallest statement: kind, an empty [short bytes] id, no values */
	TRY(proto_check_count(r, "statement count", b->n, 5));
	struct coffer_proto_batch_stmt *s = coffer_arena_zalloc(a, (b->n ? b->n : 1) * sizeof *s);
	for (uint16_t i = 0; i < b->n; i++) {
		at = r->off;
		TRY(coffer_proto_read_byte(r, "statement kind", &s[i].kind));
		if (s[i].kind == 0)
			TRY(coffer_proto_read_long_string(r, "statement query", &s[i].query));
		else if (s[i].kind == 1)
			TRY(coffer_proto_read_short_bytes(r, "statement id", &s[i].id));
		else
			return PFAIL(r, "Invalid query kind in BATCH messages. Must be 0 or 1 but "
				     "got %u (statement %u at offset %zu)", s[i].kind, i, at);
		/* Names would come here with flag 0x40, but the flags follow the
		 * statements; the spec calls the feature broken and it is refused
		 * below once the flags are known. */
		TRY(read_values(r, a, version, false, &s[i].n_values, &s[i].values, NULL));
	}
	b->stmts = s;
	b->serial_consistency = COFFER_PROTO_CL_SERIAL;
	TRY(coffer_proto_read_consistency(r, "consistency", &b->consistency));
	at = r->off;
	TRY(coffer_proto_read_byte(r, "batch flags", &b->flags));
	if (b->flags & 0x0F)
		return PFAIL(r, "batch flags 0x%02x at offset %zu: the 4 rightmost bits must be 0",
			     b->flags, at);
	if (b->flags & COFFER_PROTO_QF_NAMES)
		return PFAIL(r, "batch flags 0x%02x: named values (0x40) are not supported in BATCH "
			     "(the spec says this feature does not work, CASSANDRA-10246)", b->flags);
	if (b->flags & 0x80)
		return PFAIL(r, "batch flags 0x%02x at offset %zu have unknown bits 0x80", b->flags,
			     at);
	if (b->flags & COFFER_PROTO_QF_SERIAL_CONSISTENCY)
		TRY(coffer_proto_read_consistency(r, "serial consistency", &b->serial_consistency));
	if (b->flags & COFFER_PROTO_QF_TIMESTAMP)
		TRY(read_timestamp(r, &b->timestamp));
	return COFFER_OK;
}

static coffer_rc decode_register(struct coffer_reader *r, struct coffer_arena *a,
				 struct coffer_proto_request *q)
{
	TRY(coffer_proto_read_string_list(r, a, "event types", &q->u.reg.types));
	for (uint16_t i = 0; i < q->u.reg.types.n; i++) {
		const char *t = q->u.reg.types.items[i];
		if (!strcmp(t, "TOPOLOGY_CHANGE"))
			q->u.reg.mask |= COFFER_PROTO_EVENT_TOPOLOGY_CHANGE;
		else if (!strcmp(t, "STATUS_CHANGE"))
			q->u.reg.mask |= COFFER_PROTO_EVENT_STATUS_CHANGE;
		else if (!strcmp(t, "SCHEMA_CHANGE"))
			q->u.reg.mask |= COFFER_PROTO_EVENT_SCHEMA_CHANGE;
		else
			return PFAIL(r, "Invalid event type '%.40s' (expected TOPOLOGY_CHANGE, "
				     "STATUS_CHANGE or SCHEMA_CHANGE)", t);
	}
	return COFFER_OK;
}

static coffer_rc decode_body(struct coffer_reader *r, struct coffer_arena *a,
			     const struct coffer_proto_frame *f, struct coffer_proto_request *q)
{
	uint8_t op = f->hdr.opcode;
	if (!coffer_proto_opcode_is_request(op)) {
		const char *name = coffer_proto_opcode_name(op);
		if (name)
			return PFAIL(r, "opcode 0x%02x (%s) is a response; a client cannot send it",
				     op, name);
		return PFAIL(r, "Unknown opcode 0x%02x", op);
	}
	if (f->hdr.flags & COFFER_PROTO_FLAG_CUSTOM_PAYLOAD) {
		if (f->hdr.version < 4)
			return PFAIL(r, "Received frame with CUSTOM_PAYLOAD flag for native protocol "
				     "version < 4");
		q->has_payload = true;
		TRY(coffer_proto_read_bytes_map(r, a, "custom payload", &q->payload));
	}
	switch (op) {
	case COFFER_PROTO_OP_STARTUP:
		return decode_startup(r, a, q);
	case COFFER_PROTO_OP_AUTH_RESPONSE:
		return coffer_proto_read_bytes(r, "token", &q->u.auth_response.token);
	case COFFER_PROTO_OP_OPTIONS:
		return COFFER_OK;
	case COFFER_PROTO_OP_QUERY:
		TRY(coffer_proto_read_long_string(r, "query", &q->u.query.query));
		return read_params(r, a, f->hdr.version, &q->u.query.params);
	case COFFER_PROTO_OP_PREPARE:
		return coffer_proto_read_long_string(r, "query", &q->u.prepare.query);
	case COFFER_PROTO_OP_EXECUTE:
		TRY(coffer_proto_read_short_bytes(r, "prepared id", &q->u.execute.id));
		return read_params(r, a, f->hdr.version, &q->u.execute.params);
	case COFFER_PROTO_OP_BATCH:
		return decode_batch(r, a, f->hdr.version, &q->u.batch);
	case COFFER_PROTO_OP_REGISTER:
		return decode_register(r, a, q);
	}
	return PFAIL(r, "Unknown opcode 0x%02x", op);
}

COFFER_RESULT coffer_proto_request_decode(const struct coffer_proto_frame *f,
					  struct coffer_arena *a,
					  struct coffer_proto_request *out,
					  struct coffer_proto_err *err)
{
	struct coffer_reader r;
	const char *name = coffer_proto_opcode_name(f->hdr.opcode);
	coffer_rc rc;

	memset(out, 0, sizeof *out);
	out->opcode = f->hdr.opcode;
	out->version = f->hdr.version;
	out->stream = f->hdr.stream;
	out->tracing = (f->hdr.flags & COFFER_PROTO_FLAG_TRACING) != 0;
	coffer_reader_init(&r, f->body, name ? name : "request");

	TRY_FAIL(decode_body(&r, a, f, out));
	if (!coffer_reader_done(&r))
		BAIL_FAIL(COFFER_E_PROTOCOL, "%s: %zu unexpected bytes after the message at offset %zu "
			  "(a count or flag does not match the body)", r.what, coffer_reader_left(&r),
			  r.off);
	return COFFER_OK;
fail:
	proto_err_fill(err, COFFER_CQL_PROTOCOL_ERROR,
		       COFFER_PROTO_DIRECTION_RESPONSE | f->hdr.version, f->hdr.stream, false, 0);
	return rc;
}

/* ---- encoding requests (client side) ---------------------------------------- */

static coffer_rc put_values(struct coffer_buf *b, uint16_t n,
			    const struct coffer_proto_value *values, const char *const *names)
{
	coffer_proto_put_short(b, n);
	for (uint16_t i = 0; i < n; i++) {
		if (names)
			TRY(coffer_proto_put_string(b, names[i]));
		TRY(coffer_proto_put_value(b, &values[i]));
	}
	return COFFER_OK;
}

static coffer_rc put_params(struct coffer_buf *b, const struct coffer_proto_params *p)
{
	coffer_proto_put_consistency(b, p->consistency);
	coffer_proto_put_byte(b, p->flags);
	if (p->flags & COFFER_PROTO_QF_VALUES)
		TRY(put_values(b, p->n_values, p->values,
			       (p->flags & COFFER_PROTO_QF_NAMES) ? p->names : NULL));
	if (p->flags & COFFER_PROTO_QF_PAGE_SIZE)
		coffer_proto_put_int(b, p->page_size);
	if (p->flags & COFFER_PROTO_QF_PAGING_STATE) {
		struct coffer_proto_value v = {COFFER_PROTO_VALUE, p->paging_state};
		TRY(coffer_proto_put_bytes(b, &v));
	}
	if (p->flags & COFFER_PROTO_QF_SERIAL_CONSISTENCY)
		coffer_proto_put_consistency(b, p->serial_consistency);
	if (p->flags & COFFER_PROTO_QF_TIMESTAMP)
		coffer_proto_put_long(b, p->timestamp);
	return COFFER_OK;
}

static coffer_rc put_request_body(struct coffer_buf *b, const struct coffer_proto_request *q)
{
	switch (q->opcode) {
	case COFFER_PROTO_OP_STARTUP: {
		if (q->u.startup.options.n)
			return coffer_proto_put_string_map(b, &q->u.startup.options);
		const char *keys[2] = {"CQL_VERSION", "COMPRESSION"};
		const char *vals[2] = {q->u.startup.cql_version ? q->u.startup.cql_version : "3.0.0",
				       q->u.startup.compression};
		struct coffer_proto_string_map m = {q->u.startup.compression ? 2 : 1, keys, vals};
		return coffer_proto_put_string_map(b, &m);
	}
	case COFFER_PROTO_OP_AUTH_RESPONSE:
		return coffer_proto_put_bytes(b, &q->u.auth_response.token);
	case COFFER_PROTO_OP_OPTIONS:
		return COFFER_OK;
	case COFFER_PROTO_OP_QUERY:
		TRY(coffer_proto_put_long_string(b, q->u.query.query.ptr, q->u.query.query.len));
		return put_params(b, &q->u.query.params);
	case COFFER_PROTO_OP_PREPARE:
		return coffer_proto_put_long_string(b, q->u.prepare.query.ptr, q->u.prepare.query.len);
	case COFFER_PROTO_OP_EXECUTE:
		TRY(coffer_proto_put_short_bytes(b, q->u.execute.id.ptr, q->u.execute.id.len));
		return put_params(b, &q->u.execute.params);
	case COFFER_PROTO_OP_BATCH: {
		const struct coffer_proto_batch *bt = &q->u.batch;
		coffer_proto_put_byte(b, bt->type);
		coffer_proto_put_short(b, bt->n);
		for (uint16_t i = 0; i < bt->n; i++) {
			const struct coffer_proto_batch_stmt *s = &bt->stmts[i];
			coffer_proto_put_byte(b, s->kind);
			if (s->kind == 0)
				TRY(coffer_proto_put_long_string(b, s->query.ptr, s->query.len));
			else
				TRY(coffer_proto_put_short_bytes(b, s->id.ptr, s->id.len));
			TRY(put_values(b, s->n_values, s->values, NULL));
		}
		coffer_proto_put_consistency(b, bt->consistency);
		coffer_proto_put_byte(b, bt->flags);
		if (bt->flags & COFFER_PROTO_QF_SERIAL_CONSISTENCY)
			coffer_proto_put_consistency(b, bt->serial_consistency);
		if (bt->flags & COFFER_PROTO_QF_TIMESTAMP)
			coffer_proto_put_long(b, bt->timestamp);
		return COFFER_OK;
	}
	case COFFER_PROTO_OP_REGISTER:
		return coffer_proto_put_string_list(b, &q->u.reg.types);
	}
	BAIL(COFFER_E_INVALID, "opcode 0x%02x is not a request", q->opcode);
}

COFFER_RESULT coffer_proto_request_encode(struct coffer_buf *b,
					  const struct coffer_proto_request *q)
{
	coffer_rc rc;
	uint8_t flags = (uint8_t)((q->tracing ? COFFER_PROTO_FLAG_TRACING : 0) |
				  (q->has_payload ? COFFER_PROTO_FLAG_CUSTOM_PAYLOAD : 0));
	size_t start = coffer_proto_frame_begin(b, q->version, false, flags, q->stream, q->opcode);
	if (q->has_payload)
		TRY_FAIL(coffer_proto_put_bytes_map(b, &q->payload));
	TRY_FAIL(put_request_body(b, q));
	TRY_FAIL(coffer_proto_frame_end(b, start, 0));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}
