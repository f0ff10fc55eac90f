/*
 * responses_test.c - response messages: ERROR with every code of spec
 * section 9 and its extras (and the v3 downgrades), READY, AUTHENTICATE,
 * SUPPORTED, RESULT Void / Rows (global spec, paging, no metadata, every
 * column type shape) / Set_keyspace / Prepared (v4 pk indexes, v3 without) /
 * Schema_change (every target; v3 fallback), EVENTs on stream -1,
 * AUTH_CHALLENGE and AUTH_SUCCESS; byte-exact bodies for a few; malformed
 * responses and encoder refusals.
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

/* wraps the body appended since `start` (a frame_begin offset) and decodes it */
static void finish_and_decode(struct coffer_buf *b, size_t start, struct coffer_proto_response *r)
{
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	assert_int_equal(coffer_proto_frame_end(b, start, 0), COFFER_OK);
	ph_decode_frame(coffer_slice_of(b->ptr + start, b->len - start), true, &f);
	coffer_rc rc = coffer_proto_response_decode(&f, &arena, r, &err);
	if (rc != COFFER_OK)
		fprintf(stderr, "decode: %s\n", err.message);
	assert_int_equal(rc, COFFER_OK);
}

static void decode_bad(uint8_t version, uint8_t opcode, const char *hex, const char *part)
{
	size_t n;
	uint8_t *p = ph_hex(hex, &n);
	struct coffer_buf body = {0};
	struct coffer_proto_response r;
	struct coffer_proto_err err;
	coffer_buf_put(&body, p, n);
	struct coffer_proto_frame f = ph_frame(version, 0, 1, opcode, &body);
	f.hdr.response = true;
	if (coffer_proto_response_decode(&f, &arena, &r, &err) == COFFER_OK)
		fprintf(stderr, "decoded: %s\n", hex);
	assert_int_equal(coffer_proto_response_decode(&f, &arena, &r, &err), COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, part);
	coffer_buf_free(&body);
	free(p);
}

/* ---- ERROR --------------------------------------------------------------------------- */

static const uint32_t all_codes[] = {
	0x0000, 0x000A, 0x0100, 0x1000, 0x1001, 0x1002, 0x1003, 0x1100, 0x1200,
	0x1300, 0x1400, 0x1500, 0x2000, 0x2100, 0x2200, 0x2300, 0x2400, 0x2500,
};

static void test_error_every_code(void **state)
{
	const char *args[] = {"int", "text"};
	for (size_t i = 0; i < sizeof all_codes / sizeof all_codes[0]; i++) {
		struct coffer_buf b = {0};
		struct coffer_proto_response r;
		struct coffer_proto_error_body e = {
			.code = all_codes[i], .message = "something failed", .consistency = 6,
			.required = 3, .alive = 1, .received = 2, .blockfor = 3, .num_failures = 1,
			.data_present = true, .write_type = "BATCH_LOG", .keyspace = "ks",
			.table = "tbl", .function = "fn", .arg_types = {2, args},
			.id = coffer_slice_of("\x01\x02\x03", 3)};
		assert_non_null(coffer_cql_error_name(all_codes[i]));
		size_t start = coffer_proto_frame_begin(&b, 4, true, 0, 9, COFFER_PROTO_OP_ERROR);
		assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
		finish_and_decode(&b, start, &r);
		const struct coffer_proto_error_body *g = &r.u.error;
		assert_int_equal(r.opcode, COFFER_PROTO_OP_ERROR);
		assert_int_equal(r.stream, 9);
		assert_int_equal(g->code, all_codes[i]);
		assert_string_equal(g->message, "something failed");
		switch (all_codes[i]) {
		case COFFER_CQL_UNAVAILABLE:
			assert_int_equal(g->consistency, 6);
			assert_int_equal(g->required, 3);
			assert_int_equal(g->alive, 1);
			break;
		case COFFER_CQL_WRITE_TIMEOUT:
		case COFFER_CQL_WRITE_FAILURE:
			assert_int_equal(g->received, 2);
			assert_int_equal(g->blockfor, 3);
			assert_int_equal(g->num_failures,
					 all_codes[i] == COFFER_CQL_WRITE_FAILURE ? 1 : 0);
			assert_string_equal(g->write_type, "BATCH_LOG");
			break;
		case COFFER_CQL_READ_TIMEOUT:
		case COFFER_CQL_READ_FAILURE:
			assert_int_equal(g->consistency, 6);
			assert_true(g->data_present);
			break;
		case COFFER_CQL_FUNCTION_FAILURE:
			assert_string_equal(g->keyspace, "ks");
			assert_string_equal(g->function, "fn");
			assert_int_equal(g->arg_types.n, 2);
			assert_string_equal(g->arg_types.items[1], "text");
			break;
		case COFFER_CQL_ALREADY_EXISTS:
			assert_string_equal(g->keyspace, "ks");
			assert_string_equal(g->table, "tbl");
			break;
		case COFFER_CQL_UNPREPARED:
			assert_int_equal(g->id.len, 3);
			assert_memory_equal(g->id.ptr, "\x01\x02\x03", 3);
			break;
		default:
			assert_null(g->keyspace);
		}
		coffer_buf_free(&b);
	}
	assert_null(coffer_cql_error_name(0x0001));
	assert_string_equal(coffer_cql_error_name(0x2500), "Unprepared");
}

static void test_error_bytes(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_error_body e = {.code = COFFER_CQL_UNAVAILABLE, .message = "x",
					    .consistency = 4, .required = 3, .alive = 1};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00001000 0001 78 0004 00000003 00000001");
	coffer_buf_reset(&b);
	e = (struct coffer_proto_error_body){.code = COFFER_CQL_UNPREPARED, .message = "",
					     .id = coffer_slice_of("\xab\xcd", 2)};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00002500 0000 0002 abcd");
	coffer_buf_reset(&b);
	e = (struct coffer_proto_error_body){.code = COFFER_CQL_ALREADY_EXISTS, .message = "",
					     .keyspace = "k"};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00002400 0000 0001 6b 0000");
	coffer_buf_reset(&b);
	e = (struct coffer_proto_error_body){.code = COFFER_CQL_BAD_CREDENTIALS,
		.message = "Provided username bob and/or password are incorrect"};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
	assert_int_equal(coffer_load_u32(b.ptr), 0x0100);
	coffer_buf_free(&b);
}

static void test_error_v3_downgrades(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_error_body e = {.code = COFFER_CQL_READ_FAILURE, .message = "m",
					    .consistency = 1, .received = 0, .blockfor = 1,
					    .num_failures = 1, .data_present = false};
	assert_int_equal(coffer_proto_put_error(&b, 3, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00001200 0001 6d 0001 00000000 00000001 00");
	coffer_buf_reset(&b);
	e.code = COFFER_CQL_WRITE_FAILURE;
	e.write_type = "SIMPLE";
	assert_int_equal(coffer_proto_put_error(&b, 3, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00001100 0001 6d 0001 00000000 00000001 0006 53494d504c45");
	coffer_buf_reset(&b);
	e.code = COFFER_CQL_FUNCTION_FAILURE;
	assert_int_equal(coffer_proto_put_error(&b, 3, &e), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00002200 0001 6d");
	coffer_buf_free(&b);
}

static void test_error_refusals_and_long_message(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_error_body e = {.code = 0x1234, .message = "m"};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_E_INVALID);
	assert_int_equal(b.len, 0);

	/* a message longer than a [string] is cut at a code point boundary */
	size_t n = 70001;
	char *msg = malloc(n + 1);
	for (size_t i = 0; i < n; i += 2)
		memcpy(msg + i, "\xc3\xa9", 2); /* é */
	msg[n - 1] = 'x';
	msg[n] = '\0';
	e = (struct coffer_proto_error_body){.code = COFFER_CQL_INVALID, .message = msg};
	assert_int_equal(coffer_proto_put_error(&b, 4, &e), COFFER_OK);
	size_t len = (size_t)(b.ptr[4] << 8 | b.ptr[5]);
	assert_int_equal(len, 65534);
	assert_int_equal(b.len, 6 + len);
	free(msg);
	coffer_buf_free(&b);
}

/* ---- simple responses ---------------------------------------------------------------- */

static void test_authenticate_supported_tokens(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_response r;
	size_t start = coffer_proto_frame_begin(&b, 4, true, 0, 0, COFFER_PROTO_OP_AUTHENTICATE);
	assert_int_equal(coffer_proto_put_authenticate(&b, COFFER_PROTO_PASSWORD_AUTHENTICATOR),
			 COFFER_OK);
	finish_and_decode(&b, start, &r);
	assert_string_equal(r.u.authenticate, "org.apache.cassandra.auth.PasswordAuthenticator");

	start = b.len;
	assert_int_equal(coffer_proto_encode_supported(&b, 4, 3, "3.4.5"), COFFER_OK);
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	ph_decode_frame(coffer_slice_of(b.ptr + start, b.len - start), true, &f);
	assert_int_equal(coffer_proto_response_decode(&f, &arena, &r, &err), COFFER_OK);
	assert_int_equal(r.u.supported.n, 2);
	assert_string_equal(r.u.supported.keys[0], "CQL_VERSION");
	assert_string_equal(r.u.supported.values[0].items[0], "3.4.5");
	assert_string_equal(r.u.supported.keys[1], "COMPRESSION");
	assert_int_equal(r.u.supported.values[1].n, 0);

	struct coffer_proto_value tok = coffer_proto_value_of("chal", 4);
	start = coffer_proto_frame_begin(&b, 4, true, 0, 0, COFFER_PROTO_OP_AUTH_CHALLENGE);
	assert_int_equal(coffer_proto_put_auth_token(&b, &tok), COFFER_OK);
	finish_and_decode(&b, start, &r);
	assert_int_equal(r.u.token.bytes.len, 4);

	tok = coffer_proto_value_null();
	start = coffer_proto_frame_begin(&b, 4, true, 0, 0, COFFER_PROTO_OP_AUTH_SUCCESS);
	assert_int_equal(coffer_proto_put_auth_token(&b, &tok), COFFER_OK);
	ph_assert_hex(b.ptr + start + 9, 4, "ffffffff");
	finish_and_decode(&b, start, &r);
	assert_int_equal(r.u.token.kind, COFFER_PROTO_VALUE_NULL);

	/* [bytes] cannot carry `not set` */
	tok.kind = COFFER_PROTO_VALUE_UNSET;
	assert_int_equal(coffer_proto_put_auth_token(&b, &tok), COFFER_E_INVALID);

	start = b.len;
	assert_int_equal(coffer_proto_encode_ready(&b, 4, 8), COFFER_OK);
	ph_decode_frame(coffer_slice_of(b.ptr + start, b.len - start), true, &f);
	assert_int_equal(coffer_proto_response_decode(&f, &arena, &r, &err), COFFER_OK);
	assert_int_equal(r.opcode, COFFER_PROTO_OP_READY);
	coffer_buf_free(&b);
}

/* ---- RESULT --------------------------------------------------------------------------- */

static void assert_same_type(const struct coffer_proto_type *a, const struct coffer_proto_type *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->n, b->n);
	if (a->id == COFFER_PROTO_TYPE_CUSTOM)
		assert_string_equal(a->custom, b->custom);
	if (a->id == COFFER_PROTO_TYPE_UDT) {
		assert_string_equal(a->keyspace, b->keyspace);
		assert_string_equal(a->name, b->name);
	}
	for (uint16_t i = 0; i < a->n; i++) {
		if (a->id == COFFER_PROTO_TYPE_UDT)
			assert_string_equal(a->field_names[i], b->field_names[i]);
		assert_same_type(&a->sub[i], &b->sub[i]);
	}
}

static const struct coffer_proto_type t_int = {.id = COFFER_PROTO_TYPE_INT};
static const struct coffer_proto_type t_text = {.id = COFFER_PROTO_TYPE_VARCHAR};
static const struct coffer_proto_type t_uuid = {.id = COFFER_PROTO_TYPE_UUID};
static const struct coffer_proto_type t_date = {.id = COFFER_PROTO_TYPE_DATE};
static const struct coffer_proto_type t_list_int = {.id = COFFER_PROTO_TYPE_LIST, .n = 1,
						    .sub = &t_int};
static const struct coffer_proto_type map_kv[2] = {{.id = COFFER_PROTO_TYPE_VARCHAR},
						   {.id = COFFER_PROTO_TYPE_LIST, .n = 1, .sub = &t_int}};
static const struct coffer_proto_type t_map = {.id = COFFER_PROTO_TYPE_MAP, .n = 2, .sub = map_kv};
static const struct coffer_proto_type t_set = {.id = COFFER_PROTO_TYPE_SET, .n = 1, .sub = &t_uuid};
static const struct coffer_proto_type tuple_parts[3] = {{.id = COFFER_PROTO_TYPE_INT},
							{.id = COFFER_PROTO_TYPE_VARCHAR},
							{.id = COFFER_PROTO_TYPE_DATE}};
static const struct coffer_proto_type t_tuple = {.id = COFFER_PROTO_TYPE_TUPLE, .n = 3,
						 .sub = tuple_parts};
static const char *const udt_names[2] = {"street", "zip"};
static const struct coffer_proto_type udt_fields[2] = {{.id = COFFER_PROTO_TYPE_VARCHAR},
						       {.id = COFFER_PROTO_TYPE_INT}};
static const struct coffer_proto_type t_udt = {.id = COFFER_PROTO_TYPE_UDT, .keyspace = "ks",
					       .name = "address", .n = 2, .sub = udt_fields,
					       .field_names = udt_names};
static const struct coffer_proto_type t_custom = {.id = COFFER_PROTO_TYPE_CUSTOM,
						  .custom = "org.example.MyType"};

static void test_rows(void **state)
{
	struct coffer_proto_column cols[8] = {
		{"ks", "t", "k", &t_int},   {"ks", "t", "m", &t_map},
		{"ks", "t", "s", &t_set},   {"ks", "t", "tu", &t_tuple},
		{"ks", "t", "u", &t_udt},   {"ks", "t", "c", &t_custom},
		{"ks", "t", "l", &t_list_int}, {"ks", "t", "d", &t_date},
	};
	const uint32_t flag_sets[] = {COFFER_PROTO_MF_GLOBAL_TABLES_SPEC, 0,
				      COFFER_PROTO_MF_GLOBAL_TABLES_SPEC |
					      COFFER_PROTO_MF_HAS_MORE_PAGES,
				      COFFER_PROTO_MF_NO_METADATA | COFFER_PROTO_MF_HAS_MORE_PAGES};
	for (size_t fs = 0; fs < 4; fs++) {
		struct coffer_buf b = {0};
		struct coffer_proto_response r;
		struct coffer_proto_metadata m = {.flags = flag_sets[fs], .n_columns = 8,
						  .keyspace = "ks", .table = "t", .columns = cols,
						  .paging_state = coffer_slice_of("PS", 2)};
		size_t count_off;
		size_t start = coffer_proto_frame_begin(&b, 4, true, 0, 2, COFFER_PROTO_OP_RESULT);
		assert_int_equal(coffer_proto_rows_begin(&b, 4, &m, &count_off), COFFER_OK);
		for (int row = 0; row < 3; row++)
			for (int c = 0; c < 8; c++) {
				struct coffer_proto_value v = c == 2 ? coffer_proto_value_null()
								     : coffer_proto_value_of("abcd", 4);
				assert_int_equal(coffer_proto_put_bytes(&b, &v), COFFER_OK);
			}
		coffer_proto_rows_end(&b, count_off, 3);
		finish_and_decode(&b, start, &r);
		assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_ROWS);
		assert_int_equal(r.u.result.rows_count, 3);
		assert_int_equal(r.u.result.rows_content.len, 3 * (7 * 8 + 4));
		const struct coffer_proto_metadata *g = &r.u.result.metadata;
		assert_int_equal(g->flags, flag_sets[fs]);
		assert_int_equal(g->n_columns, 8);
		if (flag_sets[fs] & COFFER_PROTO_MF_HAS_MORE_PAGES) {
			assert_int_equal(g->paging_state.len, 2);
			assert_memory_equal(g->paging_state.ptr, "PS", 2);
		}
		if (flag_sets[fs] & COFFER_PROTO_MF_NO_METADATA) {
			assert_null(g->columns);
		} else {
			for (int c = 0; c < 8; c++) {
				assert_string_equal(g->columns[c].keyspace, "ks");
				assert_string_equal(g->columns[c].table, "t");
				assert_string_equal(g->columns[c].name, cols[c].name);
				assert_same_type(g->columns[c].type, cols[c].type);
			}
		}
		coffer_buf_free(&b);
	}
}

static void test_rows_bytes(void **state)
{
	struct coffer_proto_column col = {"k", "t", "a", &t_int};
	struct coffer_proto_metadata m = {.flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC,
					  .n_columns = 1, .keyspace = "k", .table = "t",
					  .columns = &col};
	struct coffer_buf b = {0};
	size_t off;
	assert_int_equal(coffer_proto_rows_begin(&b, 4, &m, &off), COFFER_OK);
	struct coffer_proto_value v = coffer_proto_value_of("\x00\x00\x00\x01", 4);
	assert_int_equal(coffer_proto_put_bytes(&b, &v), COFFER_OK);
	coffer_proto_rows_end(&b, off, 1);
	ph_assert_hex(b.ptr, b.len,
		      "00000002 00000001 00000001 0001 6b 0001 74 0001 61 0009"
		      "00000001 00000004 00000001");
	coffer_buf_reset(&b);
	coffer_proto_put_result_void(&b);
	ph_assert_hex(b.ptr, b.len, "00000001");
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_result_set_keyspace(&b, "ks"), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00000003 0002 6b73");
	coffer_buf_free(&b);
}

static void test_v3_types(void **state)
{
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_put_type(&b, 3, &t_date), COFFER_OK);
	const char *cls = "org.apache.cassandra.db.marshal.SimpleDateType";
	assert_int_equal(coffer_load_u32(b.ptr) >> 16, 0);
	assert_int_equal(b.ptr[2] << 8 | b.ptr[3], strlen(cls));
	assert_memory_equal(b.ptr + 4, cls, strlen(cls));
	coffer_buf_reset(&b);
	const struct coffer_proto_type small = {.id = COFFER_PROTO_TYPE_SMALLINT};
	const struct coffer_proto_type l = {.id = COFFER_PROTO_TYPE_LIST, .n = 1, .sub = &small};
	assert_int_equal(coffer_proto_put_type(&b, 3, &l), COFFER_OK);
	ph_assert_hex(b.ptr, 4, "0020 0000");
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_type(&b, 4, &l), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "0020 0013");
	coffer_buf_free(&b);
}

static void test_type_refusals(void **state)
{
	struct coffer_buf b = {0};
	const struct coffer_proto_type bad_list = {.id = COFFER_PROTO_TYPE_LIST, .n = 2,
						   .sub = map_kv};
	const struct coffer_proto_type bad_map = {.id = COFFER_PROTO_TYPE_MAP, .n = 1, .sub = &t_int};
	const struct coffer_proto_type bad_id = {.id = 0x000A};
	const struct coffer_proto_type bad_custom = {.id = COFFER_PROTO_TYPE_CUSTOM};
	const struct coffer_proto_type bad_udt = {.id = COFFER_PROTO_TYPE_UDT, .keyspace = "k",
						  .name = "n", .n = 1};
	const struct coffer_proto_type *bad[] = {&bad_list, &bad_map, &bad_id, &bad_custom, &bad_udt};
	coffer_buf_put(&b, "x", 1);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(coffer_proto_put_type(&b, 4, bad[i]), COFFER_E_INVALID);
		assert_int_equal(b.len, 1);
	}
	/* metadata that contradicts itself */
	struct coffer_proto_metadata m = {.n_columns = 2};
	size_t off;
	assert_int_equal(coffer_proto_rows_begin(&b, 4, &m, &off), COFFER_E_INVALID);
	m = (struct coffer_proto_metadata){.flags = 0x8};
	assert_int_equal(coffer_proto_rows_begin(&b, 4, &m, &off), COFFER_E_INVALID);
	m = (struct coffer_proto_metadata){.n_columns = -1, .flags = COFFER_PROTO_MF_NO_METADATA};
	assert_int_equal(coffer_proto_rows_begin(&b, 4, &m, &off), COFFER_E_INVALID);
	assert_int_equal(b.len, 1);
	coffer_buf_free(&b);
}

static void test_prepared(void **state)
{
	struct coffer_proto_column bind_cols[2] = {{"ks", "t", "k", &t_int}, {"ks", "t", "v", &t_text}};
	const uint16_t pk[1] = {0};
	struct coffer_proto_metadata bind = {.flags = COFFER_PROTO_MF_GLOBAL_TABLES_SPEC,
					     .n_columns = 2, .keyspace = "ks", .table = "t",
					     .columns = bind_cols, .n_pk = 1, .pk_indexes = pk};
	struct coffer_proto_metadata res = {.flags = COFFER_PROTO_MF_NO_METADATA};
	for (uint8_t v = 3; v <= 4; v++) {
		struct coffer_buf b = {0};
		struct coffer_proto_response r;
		size_t start = coffer_proto_frame_begin(&b, v, true, 0, 1, COFFER_PROTO_OP_RESULT);
		assert_int_equal(coffer_proto_put_result_prepared(&b, v, coffer_slice_of("ID", 2),
								  &bind, &res),
				 COFFER_OK);
		/* kind, id, flags, count, then v4's pk count */
		ph_assert_hex(b.ptr + start + 9, 18, v == 4 ? "00000004 0002 4944 00000001 00000002 0000"
							   : "00000004 0002 4944 00000001 00000002 0002");
		finish_and_decode(&b, start, &r);
		assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_PREPARED);
		assert_int_equal(r.u.result.id.len, 2);
		assert_int_equal(r.u.result.bind.n_columns, 2);
		assert_int_equal(r.u.result.bind.n_pk, v == 4 ? 1 : 0);
		assert_string_equal(r.u.result.bind.columns[1].name, "v");
		assert_int_equal(r.u.result.metadata.flags, COFFER_PROTO_MF_NO_METADATA);
		assert_int_equal(r.u.result.metadata.n_columns, 0);
		coffer_buf_free(&b);
	}
	/* bind metadata cannot have paging flags */
	struct coffer_buf b = {0};
	bind.flags |= COFFER_PROTO_MF_HAS_MORE_PAGES;
	assert_int_equal(coffer_proto_put_result_prepared(&b, 4, coffer_slice_of("ID", 2), &bind,
							  &res),
			 COFFER_E_INVALID);
	assert_int_equal(b.len, 0);
	coffer_buf_free(&b);
}

static void test_schema_change(void **state)
{
	const char *args[] = {"int", "frozen<list<text>>"};
	const struct coffer_proto_schema_change changes[] = {
		{"CREATED", "KEYSPACE", "ks", NULL, {0, NULL}},
		{"UPDATED", "TABLE", "ks", "t", {0, NULL}},
		{"DROPPED", "TYPE", "ks", "addr", {0, NULL}},
		{"CREATED", "FUNCTION", "ks", "f", {2, args}},
		{"DROPPED", "AGGREGATE", "ks", "agg", {1, args}},
	};
	for (size_t i = 0; i < 5; i++) {
		struct coffer_buf b = {0};
		struct coffer_proto_response r;
		size_t start = coffer_proto_frame_begin(&b, 4, true, 0, 1, COFFER_PROTO_OP_RESULT);
		assert_int_equal(coffer_proto_put_result_schema_change(&b, 4, &changes[i]), COFFER_OK);
		finish_and_decode(&b, start, &r);
		const struct coffer_proto_schema_change *g = &r.u.result.schema;
		assert_string_equal(g->change, changes[i].change);
		assert_string_equal(g->target, changes[i].target);
		assert_string_equal(g->keyspace, "ks");
		if (changes[i].name)
			assert_string_equal(g->name, changes[i].name);
		assert_int_equal(g->arg_types.n, changes[i].arg_types.n);
		coffer_buf_free(&b);
	}
	/* byte-exact TABLE change */
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_put_result_schema_change(&b, 4, &changes[1]), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00000005 0007 55504441544544 0005 5441424c45 0002 6b73 0001 74");
	/* v3: a FUNCTION change goes out as UPDATED KEYSPACE */
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_result_schema_change(&b, 3, &changes[3]), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "00000005 0007 55504441544544 0008 4b45595350414345 0002 6b73");
	/* refusals */
	const struct coffer_proto_schema_change bad[] = {
		{"CHANGED", "TABLE", "ks", "t", {0, NULL}},
		{"CREATED", "INDEX", "ks", "t", {0, NULL}},
		{"CREATED", "TABLE", "ks", NULL, {0, NULL}},
		{"CREATED", "TABLE", NULL, "t", {0, NULL}},
	};
	coffer_buf_reset(&b);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(coffer_proto_put_result_schema_change(&b, 4, &bad[i]),
				 COFFER_E_INVALID);
		assert_int_equal(b.len, 0);
	}
	coffer_buf_free(&b);
}

/* ---- EVENT ------------------------------------------------------------------------------ */

static void test_events(void **state)
{
	struct coffer_proto_event evs[3] = {
		{.type = "TOPOLOGY_CHANGE", .change = "NEW_NODE",
		 .node = {.len = 4, .addr = {127, 0, 0, 2}, .port = 9042}},
		{.type = "STATUS_CHANGE", .change = "DOWN",
		 .node = {.len = 16, .addr = {0xfe, 0x80, [15] = 1}, .port = 9142}},
		{.type = "SCHEMA_CHANGE",
		 .schema = {"CREATED", "TABLE", "ks", "t", {0, NULL}}},
	};
	for (size_t i = 0; i < 3; i++) {
		struct coffer_buf b = {0};
		struct coffer_proto_response r;
		size_t start = coffer_proto_frame_begin(&b, 4, true, 0, COFFER_PROTO_EVENT_STREAM,
							COFFER_PROTO_OP_EVENT);
		assert_int_equal(coffer_proto_put_event(&b, 4, &evs[i]), COFFER_OK);
		assert_int_equal(b.ptr[2], 0xff);
		assert_int_equal(b.ptr[3], 0xff);
		finish_and_decode(&b, start, &r);
		assert_int_equal(r.stream, -1);
		assert_string_equal(r.u.event.type, evs[i].type);
		if (i < 2) {
			assert_string_equal(r.u.event.change, evs[i].change);
			assert_int_equal(r.u.event.node.len, evs[i].node.len);
			assert_memory_equal(r.u.event.node.addr, evs[i].node.addr, evs[i].node.len);
			assert_int_equal(r.u.event.node.port, evs[i].node.port);
		} else {
			assert_string_equal(r.u.event.schema.name, "t");
		}
		coffer_buf_free(&b);
	}
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_encode_event(&b, 4, &evs[1]), COFFER_OK);
	ph_assert_hex(b.ptr, 9, "84 00 ffff 0c 0000002a");
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_put_event(&b, 4, &evs[0]), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "000f 544f504f4c4f47595f4348414e4745 0008 4e45575f4e4f4445"
				    "04 7f000002 00002352");
	coffer_buf_reset(&b);
	struct coffer_proto_event bad = {.type = "STATUS_CHANGE", .change = "SIDEWAYS",
					 .node = {.len = 4}};
	assert_int_equal(coffer_proto_put_event(&b, 4, &bad), COFFER_E_INVALID);
	bad = (struct coffer_proto_event){.type = "STATUS_CHANGE", .change = "UP", .node = {.len = 5}};
	assert_int_equal(coffer_proto_put_event(&b, 4, &bad), COFFER_E_INVALID);
	bad = (struct coffer_proto_event){.type = "GOSSIP"};
	assert_int_equal(coffer_proto_put_event(&b, 4, &bad), COFFER_E_INVALID);
	assert_int_equal(b.len, 0);
	coffer_buf_free(&b);
}

/* ---- header extras and malformed responses ------------------------------------------------ */

static void test_tracing_warning_payload(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_response r;
	const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	const char *warn[] = {"Aggregation query used without partition key"};
	const char *keys[] = {"p"};
	struct coffer_proto_value vals[] = {coffer_proto_value_of("q", 1)};
	size_t start = coffer_proto_frame_begin(&b, 4, true, 0x0e, 1, COFFER_PROTO_OP_RESULT);
	coffer_proto_put_uuid(&b, uuid);
	struct coffer_proto_string_list wl = {1, warn};
	struct coffer_proto_bytes_map pm = {1, keys, vals};
	assert_int_equal(coffer_proto_put_string_list(&b, &wl), COFFER_OK);
	assert_int_equal(coffer_proto_put_bytes_map(&b, &pm), COFFER_OK);
	coffer_proto_put_result_void(&b);
	finish_and_decode(&b, start, &r);
	assert_true(r.has_tracing_id);
	assert_memory_equal(r.tracing_id, uuid, 16);
	assert_int_equal(r.warnings.n, 1);
	assert_string_equal(r.warnings.items[0], warn[0]);
	assert_true(r.has_payload);
	assert_string_equal(r.payload.keys[0], "p");
	assert_int_equal(r.u.result.kind, COFFER_PROTO_RESULT_VOID);
	coffer_buf_free(&b);
}

static void test_malformed_responses(void **state)
{
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000009", "unknown result kind 9");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000000 ffffffff", "negative column count -1");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000004 00000001 00000001",
		   "1 rows of 1 columns need at least 4 bytes");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000004 00000001 ffffffff",
		   "negative rows count -1");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000001 00000001 0001 6b 0001 74 0001 61 000a",
		   "unknown column type option id 0x000a");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000001 00000001 0001 6b 0001 74 0001 61 0015",
		   "unknown column type option id 0x0015");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000002 00000000 00ffffff",
		   "count 16777215 needs at least 134217720 bytes");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000004 0001 41 00000000 00000000 ffffffff",
		   "negative pk count -1");
	decode_bad(4, COFFER_PROTO_OP_RESULT, "00000005 0007 43524541544544 0005 494e444558",
		   "unknown schema change target 'INDEX'");
	decode_bad(4, COFFER_PROTO_OP_EVENT, "0006 474f53534950", "unknown event type 'GOSSIP'");
	decode_bad(4, COFFER_PROTO_OP_EVENT,
		   "000d 5354415455535f4348414e4745 0002 5550 05 0102030405 00000001",
		   "address size 5 is neither 4 (IPv4) nor 16 (IPv6)");
	decode_bad(4, COFFER_PROTO_OP_ERROR, "00001000 0000 0001 00000003", "alive");
	decode_bad(4, COFFER_PROTO_OP_STARTUP, "", "is a request");
	decode_bad(4, 0x04, "", "Unknown opcode 0x04");

	/* a type nested deeper than the limit: list<list<...<int>...>> */
	struct coffer_buf body = {0};
	coffer_buf_put(&body, "\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01k\x00\x01t\x00\x01" "a",
		       21);
	for (int i = 0; i < COFFER_PROTO_TYPE_MAX_DEPTH + 1; i++)
		coffer_buf_put(&body, "\x00\x20", 2);
	coffer_buf_put(&body, "\x00\x09\x00\x00\x00\x00", 6);
	struct coffer_proto_frame f = ph_frame(4, 0, 1, COFFER_PROTO_OP_RESULT, &body);
	struct coffer_proto_response r;
	struct coffer_proto_err err;
	assert_int_equal(coffer_proto_response_decode(&f, &arena, &r, &err), COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "nests deeper than 32 levels");
	coffer_buf_free(&body);
}

static void test_option_list(void **state)
{
	size_t n;
	uint8_t *p = ph_hex("0003 0009 0020 000d 0021 0030 0002 6b73 0001 75 0000 0031 0000", &n);
	struct coffer_reader r;
	uint16_t count;
	const struct coffer_proto_type *t;
	coffer_reader_init(&r, coffer_slice_of(p, n), "TEST");
	assert_int_equal(coffer_proto_read_option_list(&r, &arena, &count, &t), COFFER_OK);
	assert_int_equal(count, 3);
	assert_int_equal(t[0].id, COFFER_PROTO_TYPE_INT);
	assert_int_equal(t[1].id, COFFER_PROTO_TYPE_LIST);
	assert_int_equal(t[1].sub[0].id, COFFER_PROTO_TYPE_VARCHAR);
	assert_int_equal(t[2].id, COFFER_PROTO_TYPE_MAP);
	assert_int_equal(t[2].sub[0].id, COFFER_PROTO_TYPE_UDT);
	assert_string_equal(t[2].sub[0].name, "u");
	assert_int_equal(t[2].sub[0].n, 0);
	assert_int_equal(t[2].sub[1].id, COFFER_PROTO_TYPE_TUPLE);
	assert_true(coffer_reader_done(&r));
	free(p);
	p = ph_hex("0002 0009 0020", &n);
	coffer_reader_init(&r, coffer_slice_of(p, n), "TEST");
	assert_int_equal(coffer_proto_read_option_list(&r, &arena, &count, &t), COFFER_E_PROTOCOL);
	ph_assert_contains(coffer_error_msg(), "type id at offset 6: [short] needs 2 bytes");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_every_code),
		cmocka_unit_test(test_error_bytes),
		cmocka_unit_test(test_error_v3_downgrades),
		cmocka_unit_test(test_error_refusals_and_long_message),
		cmocka_unit_test(test_authenticate_supported_tokens),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_rows_bytes),
		cmocka_unit_test(test_v3_types),
		cmocka_unit_test(test_type_refusals),
		cmocka_unit_test(test_prepared),
		cmocka_unit_test(test_schema_change),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_tracing_warning_payload),
		cmocka_unit_test(test_malformed_responses),
		cmocka_unit_test(test_option_list),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
