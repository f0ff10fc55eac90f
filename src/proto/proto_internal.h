/*
 * proto_internal.h - helpers shared by the files of src/proto only.
 */
#ifndef COFFER_PROTO_PROTO_INTERNAL_H
#define COFFER_PROTO_PROTO_INTERNAL_H

#include "proto/proto.h"

/* Fills `err` (when not NULL) from this thread's current error detail. */
void proto_err_fill(struct coffer_proto_err *err, uint32_t code, uint8_t version, int16_t stream,
		    bool close, size_t discard);

/* Fails with COFFER_E_PROTOCOL and "<r->what>: <formatted message>". */
coffer_rc proto_fail(const struct coffer_reader *r, const char *where, const char *fmt, ...)
	COFFER_PRINTF(3, 4);
#define PFAIL(r, ...) proto_fail((r), COFFER_WHERE, __VA_ARGS__)

/* Checks that the reader holds at least count * min_each more bytes, so a
 * count read from the wire never makes us allocate more than the input can
 * fill (a 2-byte count cannot ask for megabytes). */
COFFER_RESULT proto_check_count(struct coffer_reader *r, const char *item, size_t count,
				size_t min_each);

/* Whether [p, p+n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
bool proto_utf8_valid(const uint8_t *p, size_t n);

/* Option types (result.c). */
COFFER_RESULT proto_read_type(struct coffer_reader *r, struct coffer_arena *a, unsigned depth,
			      struct coffer_proto_type *out);
COFFER_RESULT proto_read_metadata(struct coffer_reader *r, struct coffer_arena *a,
				  uint8_t version, bool prepared_bind,
				  struct coffer_proto_metadata *out);
COFFER_RESULT proto_put_metadata(struct coffer_buf *b, uint8_t version, bool prepared_bind,
				 const struct coffer_proto_metadata *m);
coffer_rc proto_put_schema_change(struct coffer_buf *b, uint8_t version,
				  const struct coffer_proto_schema_change *sc);
COFFER_RESULT proto_read_schema_change(struct coffer_reader *r, struct coffer_arena *a,
				       struct coffer_proto_schema_change *out);

#endif
