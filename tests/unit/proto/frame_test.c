/*
 * frame_test.c - frame headers: byte-exact frames assembled by hand from the
 * spec (OPTIONS, READY, SUPPORTED, ERROR), partial input, several frames in
 * one buffer, and every refusal: unsupported versions 0, 1, 2, 5, 0x42 and
 * 0x7f with the exact message drivers look for, oversize and negative
 * lengths, compression without negotiation, the wrong direction, and a
 * version change mid-connection.
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

static void test_options_request_bytes(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_OPTIONS, .version = 4,
					 .stream = 1};
	struct coffer_proto_frame f;
	struct coffer_proto_request got;
	struct coffer_proto_err err;
	struct coffer_arena a;

	coffer_arena_init(&a, 0);
	assert_int_equal(coffer_proto_request_encode(&b, &q), COFFER_OK);
	/* spec 2: version 0x04, flags 0, stream 0x0001, opcode 0x05, length 0 */
	ph_assert_hex(b.ptr, b.len, "04 00 0001 05 00000000");
	ph_decode_frame(coffer_buf_slice(&b), false, &f);
	assert_int_equal(f.hdr.version, 4);
	assert_false(f.hdr.response);
	assert_int_equal(f.hdr.stream, 1);
	assert_int_equal(f.hdr.opcode, COFFER_PROTO_OP_OPTIONS);
	assert_int_equal(f.hdr.length, 0);
	assert_int_equal(coffer_proto_request_decode(&f, &a, &got, &err), COFFER_OK);
	assert_int_equal(got.opcode, COFFER_PROTO_OP_OPTIONS);
	assert_int_equal(got.stream, 1);
	coffer_buf_free(&b);
	coffer_arena_free(&a);
}

static void test_ready_bytes(void **state)
{
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_encode_ready(&b, 4, 1), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "84 00 0001 02 00000000");
	coffer_buf_reset(&b);
	assert_int_equal(coffer_proto_encode_ready(&b, 3, 0x1234), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "83 00 1234 02 00000000");
	coffer_buf_free(&b);
}

static void test_supported_bytes(void **state)
{
	struct coffer_buf b = {0};
	assert_int_equal(coffer_proto_encode_supported(&b, 4, 1, "3.4.5"), COFFER_OK);
	/* [string multimap] of 2: CQL_VERSION -> ["3.4.5"], COMPRESSION -> [] */
	ph_assert_hex(b.ptr, b.len,
		      "84 00 0001 06 00000027"
		      "0002"
		      "000b 43514c5f56455253494f4e" "0001 0005 332e342e35"
		      "000b 434f4d5052455353494f4e" "0000");
	coffer_buf_free(&b);
}

static void test_error_frame_bytes(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_err err = {.code = COFFER_CQL_INVALID, .version = 0x84, .stream = 5};
	snprintf(err.message, sizeof err.message, "bad");
	assert_int_equal(coffer_proto_encode_error_frame(&b, &err), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "84 00 0005 00 00000009 00002200 0003 626164");
	coffer_buf_free(&b);
}

static void test_header_fields_round_trip(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_frame f;
	size_t start = coffer_proto_frame_begin(&b, 4, true, COFFER_PROTO_FLAG_TRACING |
						COFFER_PROTO_FLAG_WARNING, -1,
						COFFER_PROTO_OP_EVENT);
	coffer_buf_put(&b, "xyz", 3);
	assert_int_equal(coffer_proto_frame_end(&b, start, 0), COFFER_OK);
	ph_assert_hex(b.ptr, b.len, "84 0a ffff 0c 00000003 78797a");
	ph_decode_frame(coffer_buf_slice(&b), true, &f);
	assert_true(f.hdr.response);
	assert_int_equal(f.hdr.stream, -1);
	assert_int_equal(f.hdr.flags, 0x0a);
	assert_int_equal(f.body.len, 3);
	assert_memory_equal(f.body.ptr, "xyz", 3);
	coffer_buf_free(&b);
}

static void test_partial_frames(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_proto_request q = {.opcode = COFFER_PROTO_OP_PREPARE, .version = 4,
					 .stream = 9};
	q.u.prepare.query = coffer_slice_str("SELECT * FROM t");
	assert_int_equal(coffer_proto_request_encode(&b, &q), COFFER_OK);
	assert_int_equal(coffer_proto_request_encode(&b, &q), COFFER_OK);
	size_t one = b.len / 2;

	for (size_t n = 0; n < one; n++) {
		struct coffer_proto_config cfg = {0};
		struct coffer_proto_frame f;
		struct coffer_proto_err err;
		enum coffer_proto_status st = COFFER_PROTO_COMPLETE;
		size_t need = 0;
		assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(b.ptr, n), &f, &st,
							   &need, &err),
				 COFFER_OK);
		assert_int_equal(st, COFFER_PROTO_NEED_MORE);
		assert_int_equal(need, n < COFFER_PROTO_HEADER_BYTES ? COFFER_PROTO_HEADER_BYTES
								      : one);
		assert_int_equal(cfg.version, 0); /* nothing fixed until a whole frame */
	}
	/* two frames back to back, then one byte of a third */
	coffer_buf_put_u8(&b, 0x04);
	struct coffer_proto_config cfg = {0};
	size_t off = 0, frames = 0;
	for (;;) {
		struct coffer_proto_frame f;
		struct coffer_proto_err err;
		enum coffer_proto_status st;
		assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(b.ptr + off,
										   b.len - off),
							   &f, &st, NULL, &err),
				 COFFER_OK);
		if (st == COFFER_PROTO_NEED_MORE)
			break;
		assert_int_equal(f.size, one);
		assert_int_equal(f.hdr.stream, 9);
		off += f.size;
		frames++;
	}
	assert_int_equal(frames, 2);
	assert_int_equal(off, 2 * one);
	assert_int_equal(cfg.version, 4);
	coffer_buf_free(&b);
}

static void expect_unsupported(const char *hex, unsigned version, int16_t stream)
{
	size_t n;
	uint8_t *in = ph_hex(hex, &n);
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	char want[128];
	struct coffer_buf b = {0};

	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(in, n), &f, &st, NULL,
						   &err),
			 COFFER_E_PROTOCOL);
	snprintf(want, sizeof want,
		 "Invalid or unsupported protocol version (%u); supported versions are (3/v3, 4/v4)",
		 version);
	assert_string_equal(err.message, want);
	assert_int_equal(err.code, COFFER_CQL_PROTOCOL_ERROR);
	assert_int_equal(err.version, 0x84);
	assert_int_equal(err.stream, stream);
	assert_true(err.close);

	/* the answer: a v4 response frame carrying ERROR 0x000A and the message */
	assert_int_equal(coffer_proto_encode_error_frame(&b, &err), COFFER_OK);
	assert_int_equal(b.ptr[0], 0x84);
	assert_int_equal((int16_t)(b.ptr[2] << 8 | b.ptr[3]), stream);
	assert_int_equal(b.ptr[4], COFFER_PROTO_OP_ERROR);
	assert_int_equal(coffer_load_u32(b.ptr + 9), 0x000A);
	assert_int_equal(b.ptr[13] << 8 | b.ptr[14], strlen(want));
	assert_memory_equal(b.ptr + 15, want, strlen(want));
	assert_int_equal(b.len, 15 + strlen(want));
	coffer_buf_free(&b);
	free(in);
}

static void test_unsupported_versions(void **state)
{
	/* v1/v2 header: version, flags, 1-byte stream, opcode, length */
	expect_unsupported("01 00 07 05 00000000", 1, 7);
	expect_unsupported("02 00 03 01 00000016", 2, 3);
	/* v3+ layout with a 2-byte stream */
	expect_unsupported("05 00 0102 05 00000000", 5, 0x0102);
	/* the Python driver's first try: DSE_V2 0x42 */
	expect_unsupported("42 00 0000 05 00000000", 0x42, 0);
	expect_unsupported("41 00 0011 01 00000000", 0x41, 0x11);
	expect_unsupported("00 00 0000 05 00000000", 0, 0);
	expect_unsupported("7f 00 0001 05 00000000", 0x7f, 1);
	expect_unsupported("85 00 0001 05 00000000", 5, 1); /* response bit, version 5 */
	/* the refusal needs only the stream id, not the whole header */
	expect_unsupported("42 00 0003", 0x42, 3);
	expect_unsupported("02 00 04", 2, 4);
}

static void test_unsupported_version_waits_for_stream(void **state)
{
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	const uint8_t v5[] = {0x05, 0x00, 0x00};
	const uint8_t v1[] = {0x01, 0x00};
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(v5, 3), &f, &st, NULL,
						   &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_NEED_MORE);
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(v1, 2), &f, &st, NULL,
						   &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_NEED_MORE);
}

static void test_oversize_frame(void **state)
{
	struct coffer_proto_config cfg = {.max_body = 100};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	uint8_t hdr[9 + 100] = {0x04, 0x00, 0x00, 0x2a, 0x07, 0x00, 0x00, 0x00, 101};

	/* refused from the header alone: no body byte is awaited */
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(hdr, 9), &f, &st, NULL,
						   &err),
			 COFFER_E_LIMIT);
	assert_int_equal(err.code, COFFER_CQL_PROTOCOL_ERROR);
	ph_assert_contains(err.message, "length 101 exceeds maximum allowed length 100");
	assert_int_equal(err.stream, 42);
	assert_int_equal(err.version, 0x84);
	assert_false(err.close);
	assert_int_equal(err.discard, 110);
	assert_int_equal(cfg.version, 0);

	/* exactly the limit is fine */
	hdr[8] = 100;
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(hdr, sizeof hdr), &f, &st,
						   NULL, &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);

	/* the default limit is Cassandra's 256 MiB */
	struct coffer_proto_config def = {0};
	uint8_t big[9] = {0x04, 0, 0, 1, 0x07, 0x10, 0x00, 0x00, 0x01};
	assert_int_equal(coffer_proto_frame_decode(&def, coffer_slice_of(big, 9), &f, &st, NULL,
						   &err),
			 COFFER_E_LIMIT);
	ph_assert_contains(err.message, "exceeds maximum allowed length 268435456");
	big[5] = 0x0f, big[6] = 0xff, big[7] = 0xff, big[8] = 0xff;
	size_t need = 0;
	assert_int_equal(coffer_proto_frame_decode(&def, coffer_slice_of(big, 9), &f, &st, &need,
						   &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_NEED_MORE);
	assert_int_equal(need, 9 + 0x0fffffffu);
}

static void test_negative_length(void **state)
{
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	const uint8_t hdr[9] = {0x04, 0x00, 0x00, 0x03, 0x07, 0xff, 0xff, 0xff, 0xfe};
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(hdr, 9), &f, &st, NULL,
						   &err),
			 COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "body length -2 is negative");
	assert_true(err.close);
	assert_int_equal(err.stream, 3);
}

static void test_compression_refused(void **state)
{
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	const uint8_t fr[11] = {0x04, 0x01, 0x00, 0x06, 0x07, 0, 0, 0, 2, 0xaa, 0xbb};
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(fr, 11), &f, &st, NULL,
						   &err),
			 COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "compression flag");
	ph_assert_contains(err.message, "no compression was negotiated");
	assert_false(err.close);
	assert_int_equal(err.discard, 11);
	assert_int_equal(err.stream, 6);
	/* the connection continues with the next frame */
	cfg.compression = true;
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(fr, 11), &f, &st, NULL,
						   &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
}

static void test_wrong_direction(void **state)
{
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	const uint8_t resp[9] = {0x84, 0x00, 0x00, 0x01, 0x02, 0, 0, 0, 0};
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(resp, 9), &f, &st, NULL,
						   &err),
			 COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "expected REQUEST, got RESPONSE");
	struct coffer_proto_config client = {.expect_responses = true};
	const uint8_t req[9] = {0x04, 0x00, 0x00, 0x01, 0x05, 0, 0, 0, 0};
	assert_int_equal(coffer_proto_frame_decode(&client, coffer_slice_of(req, 9), &f, &st,
						   NULL, &err),
			 COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "expected RESPONSE, got REQUEST");
	assert_int_equal(coffer_proto_frame_decode(&client, coffer_slice_of(resp, 9), &f, &st,
						   NULL, &err),
			 COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
}

static void test_version_fixed_per_connection(void **state)
{
	struct coffer_proto_config cfg = {0};
	struct coffer_proto_frame f;
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	const uint8_t v3[9] = {0x03, 0x00, 0x00, 0x01, 0x05, 0, 0, 0, 0};
	const uint8_t v4[9] = {0x04, 0x00, 0x00, 0x02, 0x05, 0, 0, 0, 0};
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(v3, 9), &f, &st, NULL,
						   &err),
			 COFFER_OK);
	assert_int_equal(cfg.version, 3);
	assert_int_equal(coffer_proto_frame_decode(&cfg, coffer_slice_of(v4, 9), &f, &st, NULL,
						   &err),
			 COFFER_E_PROTOCOL);
	ph_assert_contains(err.message, "Got v4 but previous messages on this connection had "
			   "version v3");
	assert_int_equal(err.version, 0x83);
	assert_int_equal(err.stream, 2);
	assert_int_equal(err.discard, 9);
	assert_false(err.close);
}

static void test_unknown_header_flags_ignored(void **state)
{
	/* spec 2.2: "The rest of flags is currently unused and ignored." */
	struct coffer_proto_frame f;
	const uint8_t fr[9] = {0x04, 0xf0, 0x00, 0x01, 0x05, 0, 0, 0, 0};
	ph_decode_frame(coffer_slice_of(fr, 9), false, &f);
	assert_int_equal(f.hdr.flags, 0xf0);
}

static void test_frame_end_limit(void **state)
{
	struct coffer_buf b = {0};
	coffer_buf_put(&b, "keep", 4);
	size_t start = coffer_proto_frame_begin(&b, 4, true, 0, 1, COFFER_PROTO_OP_RESULT);
	uint8_t *body = coffer_buf_extend(&b, 65);
	memset(body, 0, 65);
	assert_int_equal(coffer_proto_frame_end(&b, start, 64), COFFER_E_LIMIT);
	ph_assert_contains(coffer_error_msg(), "65 bytes exceeds the limit of 64");
	assert_int_equal(b.len, 4); /* the partial frame is gone, earlier bytes stay */
	coffer_buf_free(&b);
}

static void test_names(void **state)
{
	assert_string_equal(coffer_proto_opcode_name(COFFER_PROTO_OP_AUTH_SUCCESS), "AUTH_SUCCESS");
	assert_null(coffer_proto_opcode_name(0x04));
	assert_null(coffer_proto_opcode_name(0x11));
	assert_true(coffer_proto_opcode_is_request(COFFER_PROTO_OP_BATCH));
	assert_false(coffer_proto_opcode_is_request(COFFER_PROTO_OP_RESULT));
	assert_string_equal(coffer_proto_consistency_name(COFFER_PROTO_CL_LOCAL_ONE), "LOCAL_ONE");
	assert_null(coffer_proto_consistency_name(11));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_request_bytes),
		cmocka_unit_test(test_ready_bytes),
		cmocka_unit_test(test_supported_bytes),
		cmocka_unit_test(test_error_frame_bytes),
		cmocka_unit_test(test_header_fields_round_trip),
		cmocka_unit_test(test_partial_frames),
		cmocka_unit_test(test_unsupported_versions),
		cmocka_unit_test(test_unsupported_version_waits_for_stream),
		cmocka_unit_test(test_oversize_frame),
		cmocka_unit_test(test_negative_length),
		cmocka_unit_test(test_compression_refused),
		cmocka_unit_test(test_wrong_direction),
		cmocka_unit_test(test_version_fixed_per_connection),
		cmocka_unit_test(test_unknown_header_flags_ignored),
		cmocka_unit_test(test_frame_end_limit),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
