/*
 * proto_helper.h - shared helpers for the proto unit tests: hex bytes,
 * byte-exact comparisons and one-call frame/body decoding.
 */
#ifndef COFFER_TEST_PROTO_HELPER_H
#define COFFER_TEST_PROTO_HELPER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Hex (spaces ignored) to fresh heap bytes; *len gets the length. */
uint8_t *ph_hex(const char *hex, size_t *len);
/* Asserts that b holds exactly the bytes spelled by hex. */
void ph_assert_hex(const uint8_t *p, size_t n, const char *hex);
/* Asserts that `msg` contains `part`, printing both when it does not. */
void ph_assert_contains(const char *msg, const char *part);
/* A frame over `body` with the given header fields (no copy). */
struct coffer_proto_frame ph_frame(uint8_t version, uint8_t flags, int16_t stream,
				   uint8_t opcode, const struct coffer_buf *body);
/* Decodes the single complete frame in `in` with a server config; asserts
 * it is complete and spans all of `in`. */
void ph_decode_frame(struct coffer_slice in, bool responses, struct coffer_proto_frame *f);

#endif
