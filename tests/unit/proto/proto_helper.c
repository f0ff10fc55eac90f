/*
 * proto_helper.c - see proto_helper.h.
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

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8_t *ph_hex(const char *hex, size_t *len)
{
	size_t n = 0, cap = strlen(hex) / 2 + 1;
	uint8_t *out = malloc(cap);
	int hi = -1;
	assert_non_null(out);
	for (const char *p = hex; *p; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t')
			continue;
		int v = nibble(*p);
		assert_true(v >= 0);
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	assert_true(hi < 0);
	*len = n;
	return out;
}

void ph_assert_hex(const uint8_t *p, size_t n, const char *hex)
{
	size_t len;
	uint8_t *want = ph_hex(hex, &len);
	if (len != n || memcmp(p, want, n) != 0) {
		fprintf(stderr, "want: %s\ngot:  ", hex);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%02x", p[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(len, n);
	assert_memory_equal(p, want, n);
	free(want);
}

void ph_assert_contains(const char *msg, const char *part)
{
	if (!strstr(msg, part))
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, part);
	assert_non_null(strstr(msg, part));
}

struct coffer_proto_frame ph_frame(uint8_t version, uint8_t flags, int16_t stream,
				   uint8_t opcode, const struct coffer_buf *body)
{
	struct coffer_proto_frame f;
	memset(&f, 0, sizeof f);
	f.hdr.version = version;
	f.hdr.flags = flags;
	f.hdr.stream = stream;
	f.hdr.opcode = opcode;
	f.hdr.length = (uint32_t)(body ? body->len : 0);
	f.body = body ? coffer_buf_slice(body) : coffer_slice_of(NULL, 0);
	f.size = COFFER_PROTO_HEADER_BYTES + f.hdr.length;
	return f;
}

void ph_decode_frame(struct coffer_slice in, bool responses, struct coffer_proto_frame *f)
{
	struct coffer_proto_config cfg = {.expect_responses = responses};
	struct coffer_proto_err err;
	enum coffer_proto_status st;
	size_t need;
	coffer_rc rc = coffer_proto_frame_decode(&cfg, in, f, &st, &need, &err);
	if (rc != COFFER_OK)
		fprintf(stderr, "frame decode: %s\n", coffer_error_msg());
	assert_int_equal(rc, COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
	assert_int_equal(f->size, in.len);
}
