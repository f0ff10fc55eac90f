/*
 * messages_test.c - request messages: every request round-trips through
 * encode -> frame decode -> request decode; every malformed body is refused
 * with Protocol_error (0x000A) and a message naming the problem: unknown
 * and response opcodes, lengths past the end and negative lengths, value
 * count mismatches, bad consistency, bad flag bits, page size 0, BATCH kind
 * 2 / type 3 / named values, bad UTF-8 and NULs, unknown event types, a
 * custom payload in v3, and every truncation of a full QUERY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto_helper.h"

static struct coffer_arena arena;

static int setup(void **state)
{
	coffer_arena_init(&arena, 0);
	return 0;
}

static int teardown(void **state)
{
	coffer_arena_free(&arena);
	return 0;
}

/* encode q, find the frame, decode it into *got */
static void round_trip(const struct coffer_proto_request *q, struct coffer_buf *wire,
		       struct coffer_proto_request *got)
{
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	assert_int_equal(coffer_proto_request_encode(wire, q), COFFER_OK);
	ph_decode_frame(coffer_buf_slice(wire), false, &f);
	coffer_rc rc = coffer_proto_request_decode(&f, &arena, got, &err);
	if (rc != COFFER_OK)
		fprintf(stderr, "decode: %s\n", err.message);
	assert_int_equal(rc, COFFER_OK);
	assert_int_equal(got->opcode, q->opcode);
	assert_int_equal(got->version, q->version);
	assert_int_equal(got->stream, q->stream);
	assert_int_equal(got->tracing, q->tracing);
	/* encoding what was decoded gives the same bytes */
	struct coffer_buf again = {0};
	assert_int_equal(coffer_proto_request_encode(&again, got), COFFER_OK);
	assert_int_equal(again.len, wire->len);
	assert_memory_equal(again.ptr, wire->ptr, wire->len);
	coffer_buf_free(&again);
}

static void assert_slice(struct coffer_slice s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.ptr, want, s.len);
}

/* decode a hand-made body; expect a protocol error whose message has `part` */
static void expect_bad(uint8_t version, uint8_t flags, uint8_t opcode, const struct coffer_buf *body,
		       const char *part)
{
	struct coffer_proto_frame f = ph_frame(version, flags, 77, opcode, body);
	struct coffer_proto_request q;
	struct coffer_proto_err err;
	memset(&err, 0, sizeof err);
	assert_int_equal(coffer_proto_request_decode(&f, &arena, &q, &err), COFFER_E_PROTOCOL);
	assert_int_equal(err.code, COFFER_CQL_PROTOCOL_ERROR);
	assert_int_equal(err.stream, 77);
	assert_int_equal(err.version, 0x80 | version);
	assert_false(err.close);
	ph_assert_contains(err.message, part);
	assert_string_equal(err.message, coffer_error_msg());
}

/* ---- round trips ----------------------------------------------------------------- */

static void test_startup(void **state)
{
	const char *keys[] = {"CQL_VERSION", "DRIVER_NAME", "DRIVER_VERSION"};
	const char *vals[] = {"3.0.0", "DataStax Python Driver", "3.25.0"};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_STARTUP, .version = 4};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	q.u.startup.options = (struct coffer_proto_string_map){3, keys, vals};
	round_trip(&q, &b, &got);
	assert_string_equal(got.u.startup.cql_version, "3.0.0");
	assert_null(got.u.startup.compression);
	assert_int_equal(got.u.startup.options.n, 3);
	assert_string_equal(got.u.startup.options.keys[1], "DRIVER_NAME");
	assert_string_equal(got.u.startup.options.values[1], "DataStax Python Driver");

	/* keys are case-insensitive, as in Cassandra; an empty COMPRESSION is none */
	const char *k2[] = {"cql_version", "compression"};
	const char *v2[] = {"3.4.5", ""};
	coffer_buf_reset(&b);
	q.u.startup.options = (struct coffer_proto_string_map){2, k2, v2};
	round_trip(&q, &b, &got);
	assert_string_equal(got.u.startup.cql_version, "3.4.5");
	assert_null(got.u.startup.compression);
	coffer_buf_free(&b);
}

static void test_startup_refusals(void **state)
{
	struct coffer_buf b = {0};
	const char *k1[] = {"DRIVER_NAME"};
	const char *v1[] = {"x"};
	struct coffer_proto_string_map m = {1, k1, v1};
	assert_int_equal(coffer_proto_put_string_map(&b, &m), COFFER_OK);
	expect_bad(4, 0, COFFER_PROTO_OP_STARTUP, &b, "Missing value CQL_VERSION in STARTUP message");

	const char *k2[] = {"CQL_VERSION", "COMPRESSION"};
	const char *v2[] = {"3.0.0", "lz4"};
	coffer_buf_reset(&b);
	m = (struct coffer_proto_string_map){2, k2, v2};
	assert_int_equal(coffer_proto_put_string_map(&b, &m), COFFER_OK);
	expect_bad(4, 0, COFFER_PROTO_OP_STARTUP, &b, "Unknown compression algorithm: lz4");

	const char *bad_versions[] = {"2.0.0", "4.0", "3.x", "3..1", "", "3.0.0.1", "3."};
	for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
		const char *v3[] = {bad_versions[i]};
		coffer_buf_reset(&b);
		m = (struct coffer_proto_string_map){1, k2, v3};
		assert_int_equal(coffer_proto_put_string_map(&b, &m), COFFER_OK);
		expect_bad(4, 0, COFFER_PROTO_OP_STARTUP, &b, "unsupported CQL_VERSION");
	}

	/* a NUL inside a [string] */
	coffer_buf_reset(&b);
	coffer_buf_put(&b, "\x00\x01\x00\x0b" "CQL_VERSION" "\x00\x03" "3\x00" "0", 4 + 11 + 5);
	expect_bad(4, 0, COFFER_PROTO_OP_STARTUP, &b, "contains a NUL byte");
	/* a map that claims more pairs than the body holds */
	coffer_buf_reset(&b);
	coffer_buf_put(&b, "\x00\x09\x00\x00\x00\x00", 6);
	expect_bad(4, 0, COFFER_PROTO_OP_STARTUP, &b, "count 9 needs at least 36 bytes");
	coffer_buf_free(&b);
}

static void test_auth_response(void **state)
{
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_AUTH_RESPONSE, .version = 4,
					 .stream = 3};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	q.u.auth_response.token = coffer_proto_value_of("\0u\0p", 4);
	round_trip(&q, &b, &got);
	assert_int_equal(got.u.auth_response.token.kind, COFFER_PROTO_VALUE);
	assert_int_equal(got.u.auth_response.token.bytes.len, 4);
	assert_memory_equal(got.u.auth_response.token.bytes.ptr, "\0u\0p", 4);
	coffer_buf_reset(&b);
	q.u.auth_response.token = coffer_proto_value_null();
	round_trip(&q, &b, &got);
	assert_int_equal(got.u.auth_response.token.kind, COFFER_PROTO_VALUE_NULL);
	coffer_buf_free(&b);
}

static void test_options_register(void **state)
{
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_OPTIONS, .version = 3,
					 .stream = 0x7fff};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	round_trip(&q, &b, &got);

	const char *types[] = {"SCHEMA_CHANGE", "STATUS_CHANGE", "TOPOLOGY_CHANGE"};
	coffer_buf_reset(&b);
	q = (struct coffer_proto_request){.opcode = COFFER_PROTO_OP_REGISTER, .version = 4};
	q.u.reg.types = (struct coffer_proto_string_list){3, types};
	round_trip(&q, &b, &got);
	assert_int_equal(got.u.reg.mask, COFFER_PROTO_EVENT_SCHEMA_CHANGE |
						 COFFER_PROTO_EVENT_STATUS_CHANGE |
						 COFFER_PROTO_EVENT_TOPOLOGY_CHANGE);
	assert_int_equal(got.u.reg.types.n, 3);

	const char *bad[] = {"SCHEMA_CHANGE", "KEYSPACE_CHANGE"};
	coffer_buf_reset(&b);
	struct coffer_proto_string_list l = {2, bad};
	assert_int_equal(coffer_proto_put_string_list(&b, &l), COFFER_OK);
	expect_bad(4, 0, COFFER_PROTO_OP_REGISTER, &b, "Invalid event type 'KEYSPACE_CHANGE'");

	/* OPTIONS must be empty */
	coffer_buf_reset(&b);
	coffer_buf_put_u8(&b, 0);
	expect_bad(4, 0, COFFER_PROTO_OP_OPTIONS, &b, "1 unexpected bytes after the message");
	coffer_buf_free(&b);
}

static void test_query_all_flags(void **state)
{
	const char *names[] = {"a", "b", "c"};
	struct coffer_proto_value values[3] = {coffer_proto_value_of("\x00\x00\x00\x07", 4),
					       coffer_proto_value_null(),
					       {COFFER_PROTO_VALUE_UNSET, {NULL, 0}}};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_QUERY, .version = 4,
					 .stream = 12, .tracing = true};
	struct coffer_proto_params *p = &q.u.query.params;
	struct coffer_proto_request got;
	struct coffer_buf b = {0};

	q.u.query.query = coffer_slice_str("SELECT * FROM ks.t WHERE a = :a AND b = :b AND c = :c");
	p->consistency = COFFER_PROTO_CL_LOCAL_QUORUM;
	p->flags = 0x7f;
	p->n_values = 3;
	p->values = values;
	p->names = names;
	p->page_size = 5000;
	p->paging_state = coffer_slice_of("\x01\x02\x03", 3);
	p->serial_consistency = COFFER_PROTO_CL_LOCAL_SERIAL;
	p->timestamp = 1700000000123456;
	round_trip(&q, &b, &got);

	const struct coffer_proto_params *g = &got.u.query.params;
	assert_slice(got.u.query.query, "SELECT * FROM ks.t WHERE a = :a AND b = :b AND c = :c");
	assert_true(got.tracing);
	assert_int_equal(g->consistency, COFFER_PROTO_CL_LOCAL_QUORUM);
	assert_int_equal(g->flags, 0x7f);
	assert_int_equal(g->n_values, 3);
	assert_string_equal(g->names[0], "a");
	assert_string_equal(g->names[2], "c");
	assert_int_equal(g->values[0].kind, COFFER_PROTO_VALUE);
	assert_int_equal(g->values[0].bytes.len, 4);
	assert_int_equal(g->values[0].bytes.ptr[3], 7);
	assert_int_equal(g->values[1].kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(g->values[2].kind, COFFER_PROTO_VALUE_UNSET);
	assert_int_equal(g->page_size, 5000);
	assert_int_equal(g->paging_state.len, 3);
	assert_int_equal(g->serial_consistency, COFFER_PROTO_CL_LOCAL_SERIAL);
	assert_int_equal(g->timestamp, 1700000000123456);
	coffer_buf_free(&b);
}

static void test_query_defaults(void **state)
{
	/* what both drivers send by default: 0x04 page size and 0x20 timestamp */
	struct coffer_buf b = {0};
	struct coffer_proto_request got;
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	size_t n;
	uint8_t *body = ph_hex("0000000c 53454c45435420 2a2046524f4d"  /* long string */
			       "0001 24 00001388 0005f0f4b7e4c3a0", &n);
	/* fix the query length to the 12 bytes "SELECT * FROM" actually holds */
	body[3] = 13;
	coffer_buf_put(&b, body, n);
	f = ph_frame(4, 0, 1, COFFER_PROTO_OP_QUERY, &b);
	assert_int_equal(coffer_proto_request_decode(&f, &arena, &got, &err), COFFER_OK);
	assert_slice(got.u.query.query, "SELECT * FROM");
	assert_int_equal(got.u.query.params.consistency, COFFER_PROTO_CL_ONE);
	assert_int_equal(got.u.query.params.page_size, 5000);
	assert_int_equal(got.u.query.params.serial_consistency, COFFER_PROTO_CL_SERIAL);
	assert_int_equal(got.u.query.params.timestamp, 0x0005f0f4b7e4c3a0);
	assert_int_equal(got.u.query.params.n_values, 0);
	free(body);
	coffer_buf_free(&b);
}

static void test_query_v3_values(void **state)
{
	/* v3 values are [bytes]: every negative length is null, -2 included */
	struct coffer_buf b = {0};
	struct coffer_proto_request got;
	struct coffer_proto_err err;
	assert_int_equal(coffer_proto_put_long_string(&b, "x", 1), COFFER_OK);
	coffer_buf_put(&b, "\x00\x01\x01\x00\x03\xff\xff\xff\xfe\xff\xff\xff\x80\x00\x00\x00\x01\x41",
		       18);
	struct coffer_proto_frame f = ph_frame(3, 0, 1, COFFER_PROTO_OP_QUERY, &b);
	assert_int_equal(coffer_proto_request_decode(&f, &arena, &got, &err), COFFER_OK);
	assert_int_equal(got.u.query.params.n_values, 3);
	assert_int_equal(got.u.query.params.values[0].kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(got.u.query.params.values[1].kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(got.u.query.params.values[2].kind, COFFER_PROTO_VALUE);
	coffer_buf_free(&b);
}

static void test_prepare_execute(void **state)
{
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_PREPARE, .version = 4,
					 .stream = 2};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	q.u.prepare.query = coffer_slice_str("INSERT INTO t (k, v) VALUES (?, ?) — ünïcode");
	round_trip(&q, &b, &got);
	assert_slice(got.u.prepare.query, "INSERT INTO t (k, v) VALUES (?, ?) — ünïcode");

	struct coffer_proto_value values[2] = {coffer_proto_value_of("k", 1),
					       coffer_proto_value_of("", 0)};
	coffer_buf_reset(&b);
	q = (struct coffer_proto_request){.opcode = COFFER_PROTO_OP_EXECUTE, .version = 4,
					  .stream = 3};
	q.u.execute.id = coffer_slice_of("\xde\xad\xbe\xef\x00\x01", 6);
	q.u.execute.params.consistency = COFFER_PROTO_CL_QUORUM;
	q.u.execute.params.flags = COFFER_PROTO_QF_VALUES | COFFER_PROTO_QF_SKIP_METADATA;
	q.u.execute.params.n_values = 2;
	q.u.execute.params.values = values;
	round_trip(&q, &b, &got);
	assert_int_equal(got.u.execute.id.len, 6);
	assert_memory_equal(got.u.execute.id.ptr, "\xde\xad\xbe\xef\x00\x01", 6);
	assert_int_equal(got.u.execute.params.n_values, 2);
	assert_int_equal(got.u.execute.params.values[1].kind, COFFER_PROTO_VALUE);
	assert_int_equal(got.u.execute.params.values[1].bytes.len, 0);
	assert_null(got.u.execute.params.names);
	assert_int_equal(got.u.execute.params.page_size, -1);
	coffer_buf_free(&b);
}

static void test_batch(void **state)
{
	struct coffer_proto_value v1[2] = {coffer_proto_value_of("a", 1), coffer_proto_value_null()};
	struct coffer_proto_batch_stmt stmts[3] = {
		{.kind = 0, .query = coffer_slice_str("INSERT INTO t (k) VALUES (1)")},
		{.kind = 1, .id = coffer_slice_of("\x01\x02", 2), .n_values = 2, .values = v1},
		{.kind = 0, .query = coffer_slice_str("DELETE FROM t WHERE k = ?"), .n_values = 1,
		 .values = v1},
	};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_BATCH, .version = 4,
					 .stream = 4};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	q.u.batch = (struct coffer_proto_batch){
		.type = COFFER_PROTO_BATCH_UNLOGGED, .n = 3, .stmts = stmts,
		.consistency = COFFER_PROTO_CL_ALL,
		.flags = COFFER_PROTO_QF_SERIAL_CONSISTENCY | COFFER_PROTO_QF_TIMESTAMP,
		.serial_consistency = COFFER_PROTO_CL_LOCAL_SERIAL, .timestamp = 42};
	round_trip(&q, &b, &got);
	const struct coffer_proto_batch *g = &got.u.batch;
	assert_int_equal(g->type, COFFER_PROTO_BATCH_UNLOGGED);
	assert_int_equal(g->n, 3);
	assert_int_equal(g->stmts[0].kind, 0);
	assert_slice(g->stmts[0].query, "INSERT INTO t (k) VALUES (1)");
	assert_int_equal(g->stmts[1].kind, 1);
	assert_int_equal(g->stmts[1].id.len, 2);
	assert_int_equal(g->stmts[1].n_values, 2);
	assert_int_equal(g->stmts[1].values[1].kind, COFFER_PROTO_VALUE_NULL);
	assert_int_equal(g->stmts[2].n_values, 1);
	assert_int_equal(g->consistency, COFFER_PROTO_CL_ALL);
	assert_int_equal(g->serial_consistency, COFFER_PROTO_CL_LOCAL_SERIAL);
	assert_int_equal(g->timestamp, 42);

	/* a counter batch with no flags; serial consistency defaults to SERIAL */
	coffer_buf_reset(&b);
	q.u.batch = (struct coffer_proto_batch){.type = COFFER_PROTO_BATCH_COUNTER, .n = 1,
						.stmts = stmts, .consistency = 1};
	round_trip(&q, &b, &got);
	assert_int_equal(got.u.batch.type, COFFER_PROTO_BATCH_COUNTER);
	assert_int_equal(got.u.batch.serial_consistency, COFFER_PROTO_CL_SERIAL);
	coffer_buf_free(&b);
}

static void test_custom_payload(void **state)
{
	const char *keys[] = {"k1", "k2"};
	struct coffer_proto_value vals[2] = {coffer_proto_value_of("v", 1), coffer_proto_value_null()};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_PREPARE, .version = 4,
					 .has_payload = true};
	struct coffer_proto_request got;
	struct coffer_buf b = {0};
	q.payload = (struct coffer_proto_bytes_map){2, keys, vals};
	q.u.prepare.query = coffer_slice_str("SELECT 1");
	round_trip(&q, &b, &got);
	assert_int_equal(b.ptr[1], COFFER_PROTO_FLAG_CUSTOM_PAYLOAD);
	assert_true(got.has_payload);
	assert_int_equal(got.payload.n, 2);
	assert_string_equal(got.payload.keys[1], "k2");
	assert_int_equal(got.payload.values[0].bytes.len, 1);
	assert_int_equal(got.payload.values[1].kind, COFFER_PROTO_VALUE_NULL);
	assert_slice(got.u.prepare.query, "SELECT 1");

	/* the payload is skipped correctly for any request, e.g. OPTIONS */
	struct coffer_buf body = {0};
	assert_int_equal(coffer_proto_put_bytes_map(&body, &q.payload), COFFER_OK);
	struct coffer_proto_frame f = ph_frame(4, COFFER_PROTO_FLAG_CUSTOM_PAYLOAD, 1,
					       COFFER_PROTO_OP_OPTIONS, &body);
	struct coffer_proto_err err;
	assert_int_equal(coffer_proto_request_decode(&f, &arena, &got, &err), COFFER_OK);
	assert_int_equal(got.payload.n, 2);

	/* v3 has no custom payload */
	expect_bad(3, COFFER_PROTO_FLAG_CUSTOM_PAYLOAD, COFFER_PROTO_OP_OPTIONS, &body,
		   "CUSTOM_PAYLOAD flag for native protocol version < 4");
	/* a payload cut short */
	body.len -= 2;
	expect_bad(4, COFFER_PROTO_FLAG_CUSTOM_PAYLOAD, COFFER_PROTO_OP_OPTIONS, &body,
		   "custom payload");
	coffer_buf_free(&body);
	coffer_buf_free(&b);
}

/* ---- refusals --------------------------------------------------------------------- */

static void test_unknown_and_response_opcodes(void **state)
{
	const uint8_t unknown[] = {0x04, 0x11, 0x20, 0x7f, 0xff};
	for (size_t i = 0; i < sizeof unknown; i++) {
		char want[32];
		snprintf(want, sizeof want, "Unknown opcode 0x%02x", unknown[i]);
		expect_bad(4, 0, unknown[i], NULL, want);
	}
	expect_bad(4, 0, COFFER_PROTO_OP_READY, NULL, "opcode 0x02 (READY) is a response");
	expect_bad(4, 0, COFFER_PROTO_OP_RESULT, NULL, "opcode 0x08 (RESULT) is a response");
	expect_bad(4, 0, COFFER_PROTO_OP_AUTH_SUCCESS, NULL, "AUTH_SUCCESS");
}

static void put_hex(struct coffer_buf *b, const char *hex)
{
	size_t n;
	uint8_t *p = ph_hex(hex, &n);
	coffer_buf_reset(b);
	coffer_buf_put(b, p, n);
	free(p);
}

static void test_malformed_query(void **state)
{
	struct coffer_buf b = {0};
	/* query length beyond the body */
	put_hex(&b, "00000064 41");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b,
		   "QUERY: query at offset 0: [long string] length 100 runs past the end");
	/* negative query length */
	put_hex(&b, "ffffffff 0001 00");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[long string] has negative length -1");
	/* a body too short for the length itself */
	put_hex(&b, "0000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[int] needs 4 bytes but only 2 remain");
	/* bad consistency */
	put_hex(&b, "00000001 41 000b 00");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "unknown code 0x000b for a consistency level");
	put_hex(&b, "00000001 41 ffff 00");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "unknown code 0xffff for a consistency level");
	/* missing flags byte */
	put_hex(&b, "00000001 41 0001");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "query flags");
	/* unknown flag bit 0x80 */
	put_hex(&b, "00000001 41 0001 80");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "unknown bits 0x80");
	/* value count larger than the values present */
	put_hex(&b, "00000001 41 0001 01 0003 00000001 61 00000001 62");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "count 3 needs at least 12 bytes");
	put_hex(&b, "00000001 41 0001 01 0002 00000003 616263 00000001");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b,
		   "value at offset 17: [value] length 1 runs past the end of the body");
	put_hex(&b, "00000001 41 0001 01 0009 00000000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "count 9 needs at least 36 bytes");
	/* value count smaller than the values present */
	put_hex(&b, "00000001 41 0001 01 0001 00000001 61 00000001 62");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "5 unexpected bytes after the message");
	/* value length past the end, and an invalid negative length */
	put_hex(&b, "00000001 41 0001 01 0001 00000010 61");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[value] length 16 runs past the end");
	put_hex(&b, "00000001 41 0001 01 0001 fffffffd");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[value] has invalid length -3");
	put_hex(&b, "00000001 41 0001 01 0001 80000000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[value] has invalid length -2147483648");
	/* a named value whose name runs past the end */
	put_hex(&b, "00000001 41 0001 41 0001 0009 6162 0000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[string] length 9 runs past the end");
	/* page size 0 */
	put_hex(&b, "00000001 41 0001 04 00000000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "The page size cannot be 0");
	/* paging state past the end */
	put_hex(&b, "00000001 41 0001 08 00000005 0102");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "paging state");
	/* bad serial consistency */
	put_hex(&b, "00000001 41 0001 10 0020");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "serial consistency");
	/* timestamp: Long.MIN_VALUE, and a truncated one */
	put_hex(&b, "00000001 41 0001 20 8000000000000000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "Out of bound timestamp");
	put_hex(&b, "00000001 41 0001 20 00000000");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "[long] needs 8 bytes but only 4 remain");
	/* query text that is not UTF-8 (an overlong '/', then a lone surrogate) */
	put_hex(&b, "00000002 c0af 0001 00");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "not valid UTF-8");
	put_hex(&b, "00000003 eda080 0001 00");
	expect_bad(4, 0, COFFER_PROTO_OP_QUERY, &b, "not valid UTF-8");
	/* EXECUTE id past the end */
	put_hex(&b, "0010 0102");
	expect_bad(4, 0, COFFER_PROTO_OP_EXECUTE, &b, "[short bytes] length 16 runs past the end");
	/* PREPARE with trailing bytes */
	put_hex(&b, "00000001 41 00");
	expect_bad(4, 0, COFFER_PROTO_OP_PREPARE, &b, "1 unexpected bytes");
	/* AUTH_RESPONSE token past the end */
	put_hex(&b, "00000008 0061");
	expect_bad(4, 0, COFFER_PROTO_OP_AUTH_RESPONSE, &b, "token at offset 0: [bytes] length 8");
	coffer_buf_free(&b);
}

static void test_malformed_batch(void **state)
{
	struct coffer_buf b = {0};
	/* kind 2 */
	put_hex(&b, "00 0001 02 00000001 41 0000 0001 00");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b,
		   "Invalid query kind in BATCH messages. Must be 0 or 1 but got 2");
	/* batch type 3 */
	put_hex(&b, "03 0000 0001 00");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "Unknown batch type 3");
	/* the 4 rightmost flag bits set */
	put_hex(&b, "00 0000 0001 01");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "the 4 rightmost bits must be 0");
	/* named values */
	put_hex(&b, "00 0000 0001 40");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "named values (0x40) are not supported");
	put_hex(&b, "00 0000 0001 80");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "unknown bits 0x80");
	/* more statements than the body holds */
	put_hex(&b, "00 0100 00");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "count 256 needs at least 1280 bytes");
	/* a statement's values cut short */
	put_hex(&b, "00 0001 01 0001 aa 0002 00000001 61");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "count 2 needs at least 8 bytes");
	put_hex(&b, "00 0001 01 0001 aa 0002 00000001 61 00000002 62");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "[value] length 2 runs past the end");
	/* missing consistency */
	put_hex(&b, "00 0001 01 0001 aa 0000");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "consistency");
	/* bad consistency */
	put_hex(&b, "00 0000 0abc 00");
	expect_bad(4, 0, COFFER_PROTO_OP_BATCH, &b, "unknown code 0x0abc for a consistency level");
	coffer_buf_free(&b);
}

static void test_every_truncation_fails(void **state)
{
	const char *names[] = {"n"};
	struct coffer_proto_value values[1] = {coffer_proto_value_of("abc", 3)};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_QUERY, .version = 4};
	struct coffer_buf b = {0};
	q.u.query.query = coffer_slice_str("SELECT");
	q.u.query.params = (struct coffer_proto_params){
		.consistency = 1, .flags = 0x7d, .n_values = 1, .values = values, .names = names,
		.page_size = 10, .paging_state = coffer_slice_of("ps", 2), .serial_consistency = 9,
		.timestamp = 5};
	assert_int_equal(coffer_proto_request_encode(&b, &q), COFFER_OK);
	struct coffer_buf body = {0};
	coffer_buf_put(&body, b.ptr + 9, b.len - 9);
	for (size_t n = 0; n < body.len; n++) {
		struct coffer_buf cut = {0};
		struct coffer_proto_request got;
		struct coffer_proto_err err;
		coffer_buf_put(&cut, body.ptr, n);
		struct coffer_proto_frame f = ph_frame(4, 0, 1, COFFER_PROTO_OP_QUERY, &cut);
		assert_int_equal(coffer_proto_request_decode(&f, &arena, &got, &err),
				 COFFER_E_PROTOCOL);
		assert_int_equal(err.code, COFFER_CQL_PROTOCOL_ERROR);
		ph_assert_contains(err.message, "QUERY: ");
		coffer_buf_free(&cut);
	}
	coffer_buf_free(&body);
	coffer_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup),
		cmocka_unit_test(test_startup_refusals),
		cmocka_unit_test(test_auth_response),
		cmocka_unit_test(test_options_register),
		cmocka_unit_test(test_query_all_flags),
		cmocka_unit_test(test_query_defaults),
		cmocka_unit_test(test_query_v3_values),
		cmocka_unit_test(test_prepare_execute),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_custom_payload),
		cmocka_unit_test(test_unknown_and_response_opcodes),
		cmocka_unit_test(test_malformed_query),
		cmocka_unit_test(test_malformed_batch),
		cmocka_unit_test(test_every_truncation_fails),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
