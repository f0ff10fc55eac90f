/*
 * frame.c - the frame header of the native protocol (spec section 2): finding
 * frames in a byte stream that may hold partial or several of them, and
 * writing headers.
 *
 *   OFFSET  SIZE  MEANING
 *   0       1     version: bit 7 direction (0 request, 1 response), bits 0-6
 *                 the protocol version (3 or 4 here)
 *   1       1     flags: 0x01 compression, 0x02 tracing, 0x04 custom payload,
 *                 0x08 warning; other bits "unused and ignored" (spec 2.2)
 *   2       2     stream id, a signed [short]; requests use >= 0, EVENTs -1
 *   4       1     opcode (spec 2.4)
 *   5       4     body length, an [int] (at most max_body; never negative)
 *   9       n     body
 *
 * v1 and v2 had an 8-byte header with a 1-byte stream id at offset 2; they are
 * refused, but the stream byte is read from where they put it so that the
 * refusal names the request's stream.
 *
 * Invariants:
 *  1. Nothing past the header is trusted until the header checks pass; an
 *     oversize length is refused before any body byte is awaited.
 *  2. The outcome is one of: need more bytes (how many, when known); one
 *     whole frame (body borrowed from the input); or a refusal saying what to
 *     answer and whether the stream can continue (skip err->discard bytes) or
 *     must be closed (the version byte or length cannot be trusted).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto_internal.h"

static const char *const opcode_names[] = {
	[COFFER_PROTO_OP_ERROR] = "ERROR",
	[COFFER_PROTO_OP_STARTUP] = "STARTUP",
	[COFFER_PROTO_OP_READY] = "READY",
	[COFFER_PROTO_OP_AUTHENTICATE] = "AUTHENTICATE",
	[COFFER_PROTO_OP_OPTIONS] = "OPTIONS",
	[COFFER_PROTO_OP_SUPPORTED] = "SUPPORTED",
	[COFFER_PROTO_OP_QUERY] = "QUERY",
	[COFFER_PROTO_OP_RESULT] = "RESULT",
	[COFFER_PROTO_OP_PREPARE] = "PREPARE",
	[COFFER_PROTO_OP_EXECUTE] = "EXECUTE",
	[COFFER_PROTO_OP_REGISTER] = "REGISTER",
	[COFFER_PROTO_OP_EVENT] = "EVENT",
	[COFFER_PROTO_OP_BATCH] = "BATCH",
	[COFFER_PROTO_OP_AUTH_CHALLENGE] = "AUTH_CHALLENGE",
	[COFFER_PROTO_OP_AUTH_RESPONSE] = "AUTH_RESPONSE",
	[COFFER_PROTO_OP_AUTH_SUCCESS] = "AUTH_SUCCESS",
};

const char *coffer_proto_opcode_name(unsigned opcode)
{
	return opcode < sizeof opcode_names / sizeof opcode_names[0] ? opcode_names[opcode] : NULL;
}

bool coffer_proto_opcode_is_request(unsigned opcode)
{
	switch (opcode) {
	case COFFER_PROTO_OP_STARTUP:
	case COFFER_PROTO_OP_OPTIONS:
	case COFFER_PROTO_OP_QUERY:
	case COFFER_PROTO_OP_PREPARE:
	case COFFER_PROTO_OP_EXECUTE:
	case COFFER_PROTO_OP_REGISTER:
	case COFFER_PROTO_OP_BATCH:
	case COFFER_PROTO_OP_AUTH_RESPONSE:
		return true;
	default:
		return false;
	}
}

static uint32_t max_body_of(uint32_t max_body)
{
	return max_body ? max_body : COFFER_PROTO_DEFAULT_MAX_BODY;
}

/* Fails with a protocol error detail, filling err. */
static coffer_rc refuse(struct coffer_proto_err *err, coffer_rc rc, const char *where,
			uint8_t version, int16_t stream, bool close, size_t discard, const char *fmt,
			...) COFFER_PRINTF(8, 9);
static coffer_rc refuse(struct coffer_proto_err *err, coffer_rc rc, const char *where,
			uint8_t version, int16_t stream, bool close, size_t discard, const char *fmt,
			...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	coffer_error_set(rc, where, "%s", msg);
	proto_err_fill(err, COFFER_CQL_PROTOCOL_ERROR, version, stream, close, discard);
	return rc;
}

COFFER_RESULT coffer_proto_frame_decode(struct coffer_proto_config *cfg, struct coffer_slice in,
					struct coffer_proto_frame *out,
					enum coffer_proto_status *status, size_t *need,
					struct coffer_proto_err *err)
{
	const uint8_t answer_v4 = COFFER_PROTO_DIRECTION_RESPONSE | COFFER_PROTO_VERSION_MAX;
	size_t want = COFFER_PROTO_HEADER_BYTES;

	*status = COFFER_PROTO_NEED_MORE;
	if (need)
		*need = want;
	if (in.len == 0)
		return COFFER_OK;

	uint8_t version = in.ptr[0] & 0x7F;
	bool response = (in.ptr[0] & COFFER_PROTO_DIRECTION_RESPONSE) != 0;
	if (version < COFFER_PROTO_VERSION_MIN || version > COFFER_PROTO_VERSION_MAX) {
		/* cql-drivers.md: answer ERROR 0x000A with this exact message, in a
		 * frame with version 0x84 and the request's stream id, then close.
		 * Python walks down from 0x42 on seeing it. */
		size_t stream_end = version < COFFER_PROTO_VERSION_MIN ? 3 : 4;
		if (in.len < stream_end)
			return COFFER_OK;
		int16_t stream = version < COFFER_PROTO_VERSION_MIN
					 ? (int16_t)(int8_t)in.ptr[2]
					 : (int16_t)((in.ptr[2] << 8) | in.ptr[3]);
		return refuse(err, COFFER_E_PROTOCOL, COFFER_WHERE, answer_v4, stream, true, 0,
			      "Invalid or unsupported protocol version (%u); supported versions "
			      "are (3/v3, 4/v4)", version);
	}
	if (in.len < COFFER_PROTO_HEADER_BYTES)
		return COFFER_OK;

	struct coffer_reader r;
	struct coffer_proto_header h;
	uint8_t vbyte;
	uint16_t stream;
	coffer_reader_init(&r, in, "frame header");
	TRY(coffer_reader_u8(&r, &vbyte));
	TRY(coffer_reader_u8(&r, &h.flags));
	TRY(coffer_reader_u16(&r, &stream));
	TRY(coffer_reader_u8(&r, &h.opcode));
	TRY(coffer_reader_u32(&r, &h.length));
	h.version = version;
	h.response = response;
	h.stream = (int16_t)stream;

	uint8_t answer = COFFER_PROTO_DIRECTION_RESPONSE | version;
	uint32_t max = max_body_of(cfg->max_body);
	size_t total = COFFER_PROTO_HEADER_BYTES + (size_t)h.length;

	if (h.length > INT32_MAX)
		/* Spec 2.5: the length is an [int]; a negative one cannot be skipped. */
		return refuse(err, COFFER_E_PROTOCOL, COFFER_WHERE, answer, h.stream, true, 0,
			      "Invalid frame: body length %d is negative", (int)(int32_t)h.length);
	if (h.length > max)
		/* Cassandra's words; the frame is skipped as it arrives. */
		return refuse(err, COFFER_E_LIMIT, COFFER_WHERE, answer, h.stream, false, total,
			      "Request is too big: length %u exceeds maximum allowed length %u "
			      "(native_transport_max_frame_size)", h.length, max);
	if (response != cfg->expect_responses)
		return refuse(err, COFFER_E_PROTOCOL, COFFER_WHERE, answer, h.stream, true, 0,
			      "Wrong protocol direction (expected %s, got %s)",
			      cfg->expect_responses ? "RESPONSE" : "REQUEST",
			      response ? "RESPONSE" : "REQUEST");

	if (in.len < total) {
		if (need)
			*need = total;
		return COFFER_OK;
	}
	if (cfg->version && cfg->version != version)
		/* Spec 2.1: "only one version of messages is accepted on a given
		 * connection". */
		return refuse(err, COFFER_E_PROTOCOL, COFFER_WHERE,
			      COFFER_PROTO_DIRECTION_RESPONSE | cfg->version, h.stream, false, total,
			      "Invalid message version. Got v%u but previous messages on this "
			      "connection had version v%u", version, cfg->version);
	if ((h.flags & COFFER_PROTO_FLAG_COMPRESSION) && !cfg->compression)
		return refuse(err, COFFER_E_PROTOCOL, COFFER_WHERE, answer, h.stream, false, total,
			      "Frame with the compression flag (0x01) set, but no compression was "
			      "negotiated in STARTUP (this server supports none)");

	if (!cfg->version)
		cfg->version = version;
	out->hdr = h;
	out->body = coffer_slice_of(in.ptr + COFFER_PROTO_HEADER_BYTES, h.length);
	out->size = total;
	if (need)
		*need = total;
	*status = COFFER_PROTO_COMPLETE;
	return COFFER_OK;
}

size_t coffer_proto_frame_begin(struct coffer_buf *b, uint8_t version, bool response,
				uint8_t flags, int16_t stream, uint8_t opcode)
{
	size_t start = b->len;
	coffer_buf_put_u8(b, (uint8_t)((version & 0x7F) |
				       (response ? COFFER_PROTO_DIRECTION_RESPONSE : 0)));
	coffer_buf_put_u8(b, flags);
	coffer_buf_put_u16(b, (uint16_t)stream);
	coffer_buf_put_u8(b, opcode);
	coffer_buf_put_u32(b, 0);
	return start;
}

COFFER_RESULT coffer_proto_frame_end(struct coffer_buf *b, size_t start, uint32_t max_body)
{
	ENSURE(start + COFFER_PROTO_HEADER_BYTES <= b->len, COFFER_E_INTERNAL,
	       "frame end without a frame begun at offset %zu", start);
	size_t body = b->len - start - COFFER_PROTO_HEADER_BYTES;
	uint32_t max = max_body_of(max_body);
	if (body > max) {
		b->len = start;
		BAIL(COFFER_E_LIMIT, "a frame body of %zu bytes exceeds the limit of %u bytes", body,
		     max);
	}
	coffer_buf_patch_u32(b, start + 5, (uint32_t)body);
	return COFFER_OK;
}
