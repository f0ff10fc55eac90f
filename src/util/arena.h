/*
 * arena.h - a bump allocator for short-lived, request-scoped objects (a parsed
 * statement, a decoded frame). Everything allocated from an arena is freed at
 * once by coffer_arena_reset()/coffer_arena_free(). Not for secrets: use
 * crypto/secret.h. Not thread-safe; one arena belongs to one request.
 */
#ifndef COFFER_UTIL_ARENA_H
#define COFFER_UTIL_ARENA_H

#include <stddef.h>

struct coffer_arena_chunk;
struct coffer_arena {
	struct coffer_arena_chunk *head;
	size_t chunk_size;
	size_t total; /* bytes handed out since the last reset */
};

/* chunk_size 0 means 16 KiB. */
void coffer_arena_init(struct coffer_arena *a, size_t chunk_size);
/* 16-byte aligned; aborts on OOM. Valid until reset/free. */
void *coffer_arena_alloc(struct coffer_arena *a, size_t n);
void *coffer_arena_zalloc(struct coffer_arena *a, size_t n);
char *coffer_arena_strdup(struct coffer_arena *a, const char *s);
char *coffer_arena_strndup(struct coffer_arena *a, const char *s, size_t n);
void *coffer_arena_memdup(struct coffer_arena *a, const void *p, size_t n);
/* Frees all but the first chunk and makes it empty again. */
void coffer_arena_reset(struct coffer_arena *a);
void coffer_arena_free(struct coffer_arena *a);

#endif
