/*
 * fuzz.c - one entry point that pushes arbitrary bytes through every decoder
 * of this module, shared by the libFuzzer target (fuzz/proto_frame_fuzz.c)
 * and by the unit test that replays tests/data/proto/ under plain ctest.
 *
 * The bytes are read as a connection's stream: frames one after another
 * (64 KiB body limit), refused frames answered and skipped as a server would.
 * Each complete body is decoded as a request and as a response; an
 * AUTH_RESPONSE token also goes through SASL PLAIN. A request that decodes
 * is re-encoded, decoded again and re-encoded once more, and the two
 * encodings must be identical: the codec is its own oracle. A broken
 * property aborts, which is what a fuzzer (and a test) notices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto_internal.h"

#define FUZZ_MAX_BODY (64u * 1024u)

static void check_round_trip(const struct coffer_proto_request *q)
{
	struct coffer_buf first = {0}, second = {0};
	struct coffer_arena a;
	struct coffer_proto_config cfg = {.max_body = 0};
	struct coffer_proto_frame f;
	struct coffer_proto_request again;
	struct coffer_proto_err err;
	enum coffer_proto_status st;

	coffer_arena_init(&a, 0);
	if (coffer_proto_request_encode(&first, q) != COFFER_OK)
		goto out; /* e.g. a STARTUP whose options do not fit: nothing to compare */
	if (coffer_proto_frame_decode(&cfg, coffer_buf_slice(&first), &f, &st, NULL, &err) !=
		    COFFER_OK ||
	    st != COFFER_PROTO_COMPLETE || f.size != first.len) {
		fprintf(stderr, "proto fuzz: re-encoded %s frame does not decode: %s\n",
			coffer_proto_opcode_name(q->opcode), coffer_error_msg());
		abort();
	}
	if (coffer_proto_request_decode(&f, &a, &again, &err) != COFFER_OK) {
		fprintf(stderr, "proto fuzz: re-encoded %s body does not decode: %s\n",
			coffer_proto_opcode_name(q->opcode), coffer_error_msg());
		abort();
	}
	if (coffer_proto_request_encode(&second, &again) != COFFER_OK ||
	    second.len != first.len || memcmp(second.ptr, first.ptr, first.len) != 0) {
		fprintf(stderr, "proto fuzz: %s encoding is not stable\n",
			coffer_proto_opcode_name(q->opcode));
		abort();
	}
out:
	coffer_buf_free(&first);
	coffer_buf_free(&second);
	coffer_arena_free(&a);
}

size_t coffer_proto_fuzz_one(const uint8_t *data, size_t size)
{
	struct coffer_proto_config cfg = {.max_body = FUZZ_MAX_BODY};
	struct coffer_arena a;
	struct coffer_buf answers = {0};
	size_t off = 0, frames = 0;

	coffer_arena_init(&a, 0);
	while (off < size) {
		struct coffer_proto_frame f;
		struct coffer_proto_err err;
		enum coffer_proto_status st;
		size_t need;
		coffer_rc rc = coffer_proto_frame_decode(&cfg, coffer_slice_of(data + off, size - off),
							 &f, &st, &need, &err);
		if (rc != COFFER_OK) {
			if (coffer_proto_encode_error_frame(&answers, &err) != COFFER_OK)
				abort(); /* answering a refusal must always work */
			if (err.close || err.discard == 0 || err.discard > size - off)
				break;
			off += err.discard;
			continue;
		}
		if (st == COFFER_PROTO_NEED_MORE) {
			if (need <= size - off)
				abort(); /* asked for bytes it already had */
			break;
		}
		frames++;

		struct coffer_proto_request q;
		if (coffer_proto_request_decode(&f, &a, &q, &err) == COFFER_OK) {
			check_round_trip(&q);
			if (q.opcode == COFFER_PROTO_OP_AUTH_RESPONSE) {
				struct coffer_proto_plain plain;
				if (coffer_proto_sasl_plain_parse(&q.u.auth_response.token,
								  &plain, &err) == COFFER_OK &&
				    plain.username.len == 0)
					abort(); /* a parsed credential always names a user */
			}
		} else if (coffer_proto_encode_error_frame(&answers, &err) != COFFER_OK) {
			abort();
		}

		struct coffer_proto_response resp;
		if (coffer_proto_response_decode(&f, &a, &resp, &err) == COFFER_OK &&
		    resp.opcode != f.hdr.opcode)
			abort();

		coffer_arena_reset(&a);
		off += f.size;
	}
	coffer_buf_free(&answers);
	coffer_arena_free(&a);
	return frames;
}
