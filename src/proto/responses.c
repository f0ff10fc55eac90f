/*
 * responses.c - response messages other than RESULT's kinds (spec 4.2):
 * ERROR with the extras of section 9, READY, AUTHENTICATE, SUPPORTED, EVENT,
 * AUTH_CHALLENGE and AUTH_SUCCESS; whole frames for the common answers; and
 * decoding any response (client side, tests).
 *
 *   A response body may start with (in this order, v4 flags):
 *     0x02 tracing: [uuid] tracing id; 0x08 warning: [string list];
 *     0x04 custom payload: [bytes map].
 *
 *   ERROR          OFFSET  SIZE  MEANING
 *                  0       4     [int] code (enum coffer_cql_error)
 *                  4       var   [string] message
 *                  var     var   extras by code:
 *                   0x1000 Unavailable     [consistency] cl, [int] required, [int] alive
 *                   0x1100 Write_timeout   cl, [int] received, [int] blockfor,
 *                                          [string] write type
 *                   0x1200 Read_timeout    cl, received, blockfor, [byte] data present
 *                   0x1300 Read_failure    cl, received, blockfor, [int] failures,
 *                                          [byte] data present
 *                   0x1400 Function_failure [string] ks, [string] function,
 *                                          [string list] argument types
 *                   0x1500 Write_failure   cl, received, blockfor, failures,
 *                                          [string] write type
 *                   0x2400 Already_exists  [string] ks, [string] table ("" for a ks)
 *                   0x2500 Unprepared      [short bytes] id
 *   READY          0       0     (empty)
 *   AUTHENTICATE   0       var   [string] authenticator class
 *   SUPPORTED      0       var   [string multimap] option -> values
 *   EVENT          0       var   [string] type, then
 *                                TOPOLOGY_CHANGE/STATUS_CHANGE: [string] change, [inet]
 *                                SCHEMA_CHANGE: <schema change> (result.c)
 *   AUTH_CHALLENGE 0       var   [bytes] token
 *   AUTH_SUCCESS   0       var   [bytes] token (null for PasswordAuthenticator)
 */
#include <stdio.h>
#include <string.h>

#include "proto/proto_internal.h"

const char *coffer_cql_error_name(uint32_t code)
{
	switch (code) {
	case COFFER_CQL_SERVER_ERROR: return "Server_error";
	case COFFER_CQL_PROTOCOL_ERROR: return "Protocol_error";
	case COFFER_CQL_BAD_CREDENTIALS: return "Bad_credentials";
	case COFFER_CQL_UNAVAILABLE: return "Unavailable";
	case COFFER_CQL_OVERLOADED: return "Overloaded";
	case COFFER_CQL_IS_BOOTSTRAPPING: return "Is_bootstrapping";
	case COFFER_CQL_TRUNCATE_ERROR: return "Truncate_error";
	case COFFER_CQL_WRITE_TIMEOUT: return "Write_timeout";
	case COFFER_CQL_READ_TIMEOUT: return "Read_timeout";
	case COFFER_CQL_READ_FAILURE: return "Read_failure";
	case COFFER_CQL_FUNCTION_FAILURE: return "Function_failure";
	case COFFER_CQL_WRITE_FAILURE: return "Write_failure";
	case COFFER_CQL_SYNTAX_ERROR: return "Syntax_error";
	case COFFER_CQL_UNAUTHORIZED: return "Unauthorized";
	case COFFER_CQL_INVALID: return "Invalid";
	case COFFER_CQL_CONFIG_ERROR: return "Config_error";
	case COFFER_CQL_ALREADY_EXISTS: return "Already_exists";
	case COFFER_CQL_UNPREPARED: return "Unprepared";
	default: return NULL;
	}
}

/* ---- ERROR -------------------------------------------------------------------- */

static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	/* back up to the start of a code point */
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static coffer_rc put_error_body(struct coffer_buf *b, uint8_t version,
				const struct coffer_proto_error_body *e)
{
	uint32_t code = e->code;
	ENSURE(coffer_cql_error_name(code), COFFER_E_INVALID, "unknown CQL error code 0x%04x",
	       code);
	if (version < 4) {
		/* v3 has no failure codes (spec v4 section 10); Cassandra sends
		 * the nearest v3 error instead. */
		if (code == COFFER_CQL_READ_FAILURE)
			code = COFFER_CQL_READ_TIMEOUT;
		else if (code == COFFER_CQL_WRITE_FAILURE)
			code = COFFER_CQL_WRITE_TIMEOUT;
		else if (code == COFFER_CQL_FUNCTION_FAILURE)
			code = COFFER_CQL_INVALID;
	}
	const char *msg = e->message ? e->message : "";
	coffer_proto_put_int(b, (int32_t)code);
	TRY(coffer_proto_put_string_n(b, msg, utf8_cut(msg, strlen(msg), UINT16_MAX)));
	switch (code) {
	case COFFER_CQL_UNAVAILABLE:
		coffer_proto_put_consistency(b, e->consistency);
		coffer_proto_put_int(b, e->required);
		coffer_proto_put_int(b, e->alive);
		return COFFER_OK;
	case COFFER_CQL_WRITE_TIMEOUT:
	case COFFER_CQL_WRITE_FAILURE:
		coffer_proto_put_consistency(b, e->consistency);
		coffer_proto_put_int(b, e->received);
		coffer_proto_put_int(b, e->blockfor);
		if (code == COFFER_CQL_WRITE_FAILURE)
			coffer_proto_put_int(b, e->num_failures);
		return coffer_proto_put_string(b, e->write_type ? e->write_type : "SIMPLE");
	case COFFER_CQL_READ_TIMEOUT:
	case COFFER_CQL_READ_FAILURE:
		coffer_proto_put_consistency(b, e->consistency);
		coffer_proto_put_int(b, e->received);
		coffer_proto_put_int(b, e->blockfor);
		if (code == COFFER_CQL_READ_FAILURE)
			coffer_proto_put_int(b, e->num_failures);
		coffer_proto_put_byte(b, e->data_present ? 1 : 0);
		return COFFER_OK;
	case COFFER_CQL_FUNCTION_FAILURE:
		TRY(coffer_proto_put_string(b, e->keyspace));
		TRY(coffer_proto_put_string(b, e->function));
		return coffer_proto_put_string_list(b, &e->arg_types);
	case COFFER_CQL_ALREADY_EXISTS:
		TRY(coffer_proto_put_string(b, e->keyspace));
		return coffer_proto_put_string(b, e->table ? e->table : "");
	case COFFER_CQL_UNPREPARED:
		return coffer_proto_put_short_bytes(b, e->id.ptr, e->id.len);
	default:
		return COFFER_OK;
	}
}

COFFER_RESULT coffer_proto_put_error(struct coffer_buf *b, uint8_t version,
				     const struct coffer_proto_error_body *e)
{
	size_t start = b->len;
	coffer_rc rc = put_error_body(b, version, e);
	if (rc != COFFER_OK)
		b->len = start;
	return rc;
}

static coffer_rc read_error_body(struct coffer_reader *r, struct coffer_arena *a,
				 struct coffer_proto_error_body *e)
{
	int32_t code;
	uint8_t dp;
	TRY(coffer_proto_read_int(r, "error code", &code));
	e->code = (uint32_t)code;
	TRY(coffer_proto_read_string(r, a, "error message", &e->message));
	switch (e->code) {
	case COFFER_CQL_UNAVAILABLE:
		TRY(coffer_proto_read_consistency(r, "consistency", &e->consistency));
		TRY(coffer_proto_read_int(r, "required", &e->required));
		return coffer_proto_read_int(r, "alive", &e->alive);
	case COFFER_CQL_WRITE_TIMEOUT:
	case COFFER_CQL_WRITE_FAILURE:
		TRY(coffer_proto_read_consistency(r, "consistency", &e->consistency));
		TRY(coffer_proto_read_int(r, "received", &e->received));
		TRY(coffer_proto_read_int(r, "blockfor", &e->blockfor));
		if (e->code == COFFER_CQL_WRITE_FAILURE)
			TRY(coffer_proto_read_int(r, "failures", &e->num_failures));
		return coffer_proto_read_string(r, a, "write type", &e->write_type);
	case COFFER_CQL_READ_TIMEOUT:
	case COFFER_CQL_READ_FAILURE:
		TRY(coffer_proto_read_consistency(r, "consistency", &e->consistency));
		TRY(coffer_proto_read_int(r, "received", &e->received));
		TRY(coffer_proto_read_int(r, "blockfor", &e->blockfor));
		if (e->code == COFFER_CQL_READ_FAILURE)
			TRY(coffer_proto_read_int(r, "failures", &e->num_failures));
		TRY(coffer_proto_read_byte(r, "data present", &dp));
		e->data_present = dp != 0;
		return COFFER_OK;
	case COFFER_CQL_FUNCTION_FAILURE:
		TRY(coffer_proto_read_string(r, a, "keyspace", &e->keyspace));
		TRY(coffer_proto_read_string(r, a, "function", &e->function));
		return coffer_proto_read_string_list(r, a, "argument types", &e->arg_types);
	case COFFER_CQL_ALREADY_EXISTS:
		TRY(coffer_proto_read_string(r, a, "keyspace", &e->keyspace));
		return coffer_proto_read_string(r, a, "table", &e->table);
	case COFFER_CQL_UNPREPARED:
		return coffer_proto_read_short_bytes(r, "prepared id", &e->id);
	default:
		return COFFER_OK;
	}
}

/* ---- other bodies ---------------------------------------------------------------- */

COFFER_RESULT coffer_proto_put_authenticate(struct coffer_buf *b, const char *class_name)
{
	return coffer_proto_put_string(b, class_name);
}

COFFER_RESULT coffer_proto_put_supported(struct coffer_buf *b,
					 const struct coffer_proto_string_multimap *m)
{
	return coffer_proto_put_string_multimap(b, m);
}

COFFER_RESULT coffer_proto_put_auth_token(struct coffer_buf *b,
					  const struct coffer_proto_value *token)
{
	return coffer_proto_put_bytes(b, token);
}

static bool node_event(const char *type)
{
	return !strcmp(type, "TOPOLOGY_CHANGE") || !strcmp(type, "STATUS_CHANGE");
}

static bool node_change_valid(const char *type, const char *change)
{
	if (!strcmp(type, "TOPOLOGY_CHANGE"))
		return !strcmp(change, "NEW_NODE") || !strcmp(change, "REMOVED_NODE") ||
		       !strcmp(change, "MOVED_NODE");
	return !strcmp(change, "UP") || !strcmp(change, "DOWN");
}

COFFER_RESULT coffer_proto_put_event(struct coffer_buf *b, uint8_t version,
				     const struct coffer_proto_event *ev)
{
	coffer_rc rc;
	size_t start = b->len;
	ENSURE(ev->type, COFFER_E_INVALID, "an event without a type");
	if (node_event(ev->type)) {
		ENSURE(ev->change && node_change_valid(ev->type, ev->change), COFFER_E_INVALID,
		       "bad change for a %s event", ev->type);
		TRY_FAIL(coffer_proto_put_string(b, ev->type));
		TRY_FAIL(coffer_proto_put_string(b, ev->change));
		TRY_FAIL(coffer_proto_put_inet(b, &ev->node));
		return COFFER_OK;
	}
	ENSURE(!strcmp(ev->type, "SCHEMA_CHANGE"), COFFER_E_INVALID, "unknown event type");
	TRY_FAIL(coffer_proto_put_string(b, ev->type));
	TRY_FAIL(proto_put_schema_change(b, version, &ev->schema));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

/* ---- whole frames ------------------------------------------------------------------ */

COFFER_RESULT coffer_proto_encode_error_frame(struct coffer_buf *b,
					      const struct coffer_proto_err *err)
{
	coffer_rc rc;
	uint8_t version = err->version & 0x7F;
	if (version < COFFER_PROTO_VERSION_MIN || version > COFFER_PROTO_VERSION_MAX)
		version = COFFER_PROTO_VERSION_MAX;
	struct coffer_proto_error_body e = {.code = err->code, .message = err->message};
	size_t start = coffer_proto_frame_begin(b, version, true, 0, err->stream,
						COFFER_PROTO_OP_ERROR);
	TRY_FAIL(coffer_proto_put_error(b, version, &e));
	TRY_FAIL(coffer_proto_frame_end(b, start, 0));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

COFFER_RESULT coffer_proto_encode_ready(struct coffer_buf *b, uint8_t version, int16_t stream)
{
	size_t start = coffer_proto_frame_begin(b, version, true, 0, stream, COFFER_PROTO_OP_READY);
	return coffer_proto_frame_end(b, start, 0);
}

COFFER_RESULT coffer_proto_encode_supported(struct coffer_buf *b, uint8_t version, int16_t stream,
					    const char *cql_version)
{
	coffer_rc rc;
	const char *cql[1] = {cql_version};
	const char *keys[2] = {"CQL_VERSION", "COMPRESSION"};
	struct coffer_proto_string_list values[2] = {{1, cql}, {0, NULL}};
	struct coffer_proto_string_multimap m = {2, keys, values};
	size_t start = coffer_proto_frame_begin(b, version, true, 0, stream,
						COFFER_PROTO_OP_SUPPORTED);
	TRY_FAIL(coffer_proto_put_supported(b, &m));
	TRY_FAIL(coffer_proto_frame_end(b, start, 0));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

COFFER_RESULT coffer_proto_encode_event(struct coffer_buf *b, uint8_t version,
					const struct coffer_proto_event *ev)
{
	coffer_rc rc;
	size_t start = coffer_proto_frame_begin(b, version, true, 0, COFFER_PROTO_EVENT_STREAM,
						COFFER_PROTO_OP_EVENT);
	TRY_FAIL(coffer_proto_put_event(b, version, ev));
	TRY_FAIL(coffer_proto_frame_end(b, start, 0));
	return COFFER_OK;
fail:
	b->len = start;
	return rc;
}

/* ---- decoding responses --------------------------------------------------------------- */

static coffer_rc read_rows(struct coffer_reader *r, struct coffer_arena *a, uint8_t version,
			   struct coffer_proto_response *out)
{
	TRY(proto_read_metadata(r, a, version, false, &out->u.result.metadata));
	size_t at = r->off;
	TRY(coffer_proto_read_int(r, "rows count", &out->u.result.rows_count));
	if (out->u.result.rows_count < 0)
		return PFAIL(r, "negative rows count %d at offset %zu",
			     (int)out->u.result.rows_count, at);
	uint64_t cells = (uint64_t)out->u.result.rows_count *
			 (uint64_t)out->u.result.metadata.n_columns;
	if (cells > coffer_reader_left(r) / 4)
		return PFAIL(r, "%d rows of %d columns need at least %llu bytes but only %zu remain",
			     (int)out->u.result.rows_count, (int)out->u.result.metadata.n_columns,
			     (unsigned long long)cells * 4, coffer_reader_left(r));
	size_t begin = r->off;
	for (uint64_t i = 0; i < cells; i++) {
		struct coffer_proto_value v;
		TRY(coffer_proto_read_bytes(r, "cell", &v));
	}
	out->u.result.rows_content = coffer_slice_of(r->ptr + begin, r->off - begin);
	return COFFER_OK;
}

static coffer_rc read_result(struct coffer_reader *r, struct coffer_arena *a, uint8_t version,
			     struct coffer_proto_response *out)
{
	size_t at = r->off;
	TRY(coffer_proto_read_int(r, "result kind", &out->u.result.kind));
	switch (out->u.result.kind) {
	case COFFER_PROTO_RESULT_VOID:
		return COFFER_OK;
	case COFFER_PROTO_RESULT_ROWS:
		return read_rows(r, a, version, out);
	case COFFER_PROTO_RESULT_SET_KEYSPACE:
		return coffer_proto_read_string(r, a, "keyspace", &out->u.result.keyspace);
	case COFFER_PROTO_RESULT_PREPARED:
		TRY(coffer_proto_read_short_bytes(r, "prepared id", &out->u.result.id));
		TRY(proto_read_metadata(r, a, version, true, &out->u.result.bind));
		return proto_read_metadata(r, a, version, false, &out->u.result.metadata);
	case COFFER_PROTO_RESULT_SCHEMA_CHANGE:
		return proto_read_schema_change(r, a, &out->u.result.schema);
	}
	return PFAIL(r, "unknown result kind %d at offset %zu", (int)out->u.result.kind, at);
}

static coffer_rc read_event(struct coffer_reader *r, struct coffer_arena *a,
			    struct coffer_proto_event *ev)
{
	TRY(coffer_proto_read_string(r, a, "event type", &ev->type));
	if (node_event(ev->type)) {
		TRY(coffer_proto_read_string(r, a, "change", &ev->change));
		if (!node_change_valid(ev->type, ev->change))
			return PFAIL(r, "unknown %s change '%.20s'", ev->type, ev->change);
		return coffer_proto_read_inet(r, "node", &ev->node);
	}
	if (strcmp(ev->type, "SCHEMA_CHANGE"))
		return PFAIL(r, "unknown event type '%.40s'", ev->type);
	return proto_read_schema_change(r, a, &ev->schema);
}

static coffer_rc read_response(struct coffer_reader *r, struct coffer_arena *a,
			       const struct coffer_proto_frame *f, struct coffer_proto_response *out)
{
	uint8_t op = f->hdr.opcode, flags = f->hdr.flags, version = f->hdr.version;
	const char *name = coffer_proto_opcode_name(op);
	if (!name)
		return PFAIL(r, "Unknown opcode 0x%02x", op);
	if (coffer_proto_opcode_is_request(op))
		return PFAIL(r, "opcode 0x%02x (%s) is a request; a server cannot send it", op,
			     name);
	if (flags & COFFER_PROTO_FLAG_TRACING) {
		out->has_tracing_id = true;
		TRY(coffer_proto_read_uuid(r, "tracing id", out->tracing_id));
	}
	if (version >= 4 && (flags & COFFER_PROTO_FLAG_WARNING))
		TRY(coffer_proto_read_string_list(r, a, "warnings", &out->warnings));
	if (version >= 4 && (flags & COFFER_PROTO_FLAG_CUSTOM_PAYLOAD)) {
		out->has_payload = true;
		TRY(coffer_proto_read_bytes_map(r, a, "custom payload", &out->payload));
	}
	switch (op) {
	case COFFER_PROTO_OP_ERROR:
		return read_error_body(r, a, &out->u.error);
	case COFFER_PROTO_OP_READY:
		return COFFER_OK;
	case COFFER_PROTO_OP_AUTHENTICATE:
		return coffer_proto_read_string(r, a, "authenticator", &out->u.authenticate);
	case COFFER_PROTO_OP_SUPPORTED:
		return coffer_proto_read_string_multimap(r, a, "options", &out->u.supported);
	case COFFER_PROTO_OP_RESULT:
		return read_result(r, a, version, out);
	case COFFER_PROTO_OP_EVENT:
		return read_event(r, a, &out->u.event);
	case COFFER_PROTO_OP_AUTH_CHALLENGE:
	case COFFER_PROTO_OP_AUTH_SUCCESS:
		return coffer_proto_read_bytes(r, "token", &out->u.token);
	}
	return PFAIL(r, "Unknown opcode 0x%02x", op);
}

COFFER_RESULT coffer_proto_response_decode(const struct coffer_proto_frame *f,
					   struct coffer_arena *a,
					   struct coffer_proto_response *out,
					   struct coffer_proto_err *err)
{
	struct coffer_reader r;
	const char *name = coffer_proto_opcode_name(f->hdr.opcode);
	memset(out, 0, sizeof *out);
	out->opcode = f->hdr.opcode;
	out->version = f->hdr.version;
	out->stream = f->hdr.stream;
	coffer_reader_init(&r, f->body, name ? name : "response");
	coffer_rc rc = read_response(&r, a, f, out);
	if (rc != COFFER_OK)
		proto_err_fill(err, COFFER_CQL_PROTOCOL_ERROR, f->hdr.version, f->hdr.stream, true, 0);
	return rc;
}
