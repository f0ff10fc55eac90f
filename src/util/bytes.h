/*
 * bytes.h - byte slices, growable buffers and bounds-checked readers.
 *
 * Every disk and wire codec in coffer reads through a struct coffer_reader and
 * writes through a struct coffer_buf (after s2n's stuffer): no parser does raw
 * pointer arithmetic. Multi-byte integers are big-endian everywhere (on disk and
 * on the CQL wire alike), so one set of helpers serves both.
 *
 * Invariants:
 *  1. A reader never reads outside [ptr, ptr+len); a short read returns
 *     COFFER_E_CORRUPT with a message naming what was being read, and leaves the
 *     position where it was.
 *  2. A buffer in secure mode keeps its bytes only in secret memory (see
 *     crypto/secret.h via the hooks below) and wipes every copy it drops.
 */
#ifndef COFFER_UTIL_BYTES_H
#define COFFER_UTIL_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/result.h"

/* A borrowed view of bytes; the owner of the memory says how long it lives. */
struct coffer_slice {
	const uint8_t *ptr;
	size_t len;
};

static inline struct coffer_slice coffer_slice_of(const void *p, size_t n)
{
	struct coffer_slice s = {(const uint8_t *)p, n};
	return s;
}
struct coffer_slice coffer_slice_str(const char *s);
bool coffer_slice_eq(struct coffer_slice a, struct coffer_slice b);

/* A growable, owned byte buffer. Zero-initialised is a valid empty buffer. */
struct coffer_buf {
	uint8_t *ptr;
	size_t len;
	size_t cap;
	bool secure; /* bytes live in locked secret memory and are wiped on growth/free */
};

/* Hooks for secure buffers, set by the crypto module at startup so that util
 * does not depend on it. Until set, secure buffers use the heap and wipe. */
struct coffer_secure_alloc {
	void *(*alloc)(size_t n);      /* zeroed, locked memory; aborts on failure */
	void (*free)(void *p, size_t n); /* wipes then releases */
};
void coffer_buf_set_secure_alloc(const struct coffer_secure_alloc *a);

void coffer_buf_init_secure(struct coffer_buf *b);
void coffer_buf_reserve(struct coffer_buf *b, size_t extra);
/* Frees the storage (wiping it first in secure mode). */
void coffer_buf_free(struct coffer_buf *b);
void coffer_buf_reset(struct coffer_buf *b); /* len = 0, keeps storage (wipes in secure mode) */
/* Appends n bytes and returns a pointer to them (for in-place fills). */
uint8_t *coffer_buf_extend(struct coffer_buf *b, size_t n);
void coffer_buf_put(struct coffer_buf *b, const void *p, size_t n);
void coffer_buf_put_u8(struct coffer_buf *b, uint8_t v);
void coffer_buf_put_u16(struct coffer_buf *b, uint16_t v);
void coffer_buf_put_u32(struct coffer_buf *b, uint32_t v);
void coffer_buf_put_u64(struct coffer_buf *b, uint64_t v);
void coffer_buf_put_varint(struct coffer_buf *b, uint64_t v); /* LEB128, unsigned */
/* varint length followed by the bytes */
void coffer_buf_put_lenbytes(struct coffer_buf *b, const void *p, size_t n);
void coffer_buf_put_str(struct coffer_buf *b, const char *s); /* lenbytes of strlen(s) */
void coffer_buf_printf(struct coffer_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Overwrites 4 bytes at `off` (which must be within len). */
void coffer_buf_patch_u32(struct coffer_buf *b, size_t off, uint32_t v);
static inline struct coffer_slice coffer_buf_slice(const struct coffer_buf *b)
{
	return coffer_slice_of(b->ptr, b->len);
}
/* NUL-terminates (not counted in len) and returns the string; aborts on OOM. */
const char *coffer_buf_cstr(struct coffer_buf *b);

static inline void coffer_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}
static inline uint32_t coffer_load_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void coffer_store_u64(uint8_t *p, uint64_t v)
{
	coffer_store_u32(p, (uint32_t)(v >> 32));
	coffer_store_u32(p + 4, (uint32_t)v);
}
static inline uint64_t coffer_load_u64(const uint8_t *p)
{
	return ((uint64_t)coffer_load_u32(p) << 32) | coffer_load_u32(p + 4);
}

/* A bounds-checked cursor over borrowed bytes. `what` names the structure being
 * parsed and appears in every error message ("ciphertext blob: ..."). */
struct coffer_reader {
	const uint8_t *ptr;
	size_t len;
	size_t off;
	const char *what;
};

static inline void coffer_reader_init(struct coffer_reader *r, struct coffer_slice s,
				      const char *what)
{
	r->ptr = s.ptr;
	r->len = s.len;
	r->off = 0;
	r->what = what ? what : "input";
}
static inline size_t coffer_reader_left(const struct coffer_reader *r)
{
	return r->len - r->off;
}
static inline bool coffer_reader_done(const struct coffer_reader *r)
{
	return r->off == r->len;
}
COFFER_RESULT coffer_reader_u8(struct coffer_reader *r, uint8_t *v);
COFFER_RESULT coffer_reader_u16(struct coffer_reader *r, uint16_t *v);
COFFER_RESULT coffer_reader_u32(struct coffer_reader *r, uint32_t *v);
COFFER_RESULT coffer_reader_u64(struct coffer_reader *r, uint64_t *v);
COFFER_RESULT coffer_reader_varint(struct coffer_reader *r, uint64_t *v);
/* Borrows n bytes (no copy). */
COFFER_RESULT coffer_reader_bytes(struct coffer_reader *r, size_t n, struct coffer_slice *out);
COFFER_RESULT coffer_reader_copy(struct coffer_reader *r, void *dst, size_t n);
/* A varint length then that many bytes; `max` bounds the length. */
COFFER_RESULT coffer_reader_lenbytes(struct coffer_reader *r, size_t max, struct coffer_slice *out);
/* lenbytes into a fresh NUL-terminated heap string (rejects embedded NULs). */
COFFER_RESULT coffer_reader_str(struct coffer_reader *r, size_t max, char **out);
COFFER_RESULT coffer_reader_skip(struct coffer_reader *r, size_t n);
/* Fails unless the whole input was consumed. */
COFFER_RESULT coffer_reader_end(const struct coffer_reader *r);

/* Hex and base64 (standard alphabet, padded). Encoders return fresh strings. */
char *coffer_hex_encode(const void *p, size_t n);
COFFER_RESULT coffer_hex_decode(const char *s, struct coffer_buf *out);
char *coffer_base64_encode(const void *p, size_t n);
/* Strict: rejects bad characters, bad padding, and non-canonical trailing bits. */
COFFER_RESULT coffer_base64_decode(const char *s, size_t n, struct coffer_buf *out);

#endif
