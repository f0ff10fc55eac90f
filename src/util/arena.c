/*
 * arena.c - a bump allocator for request-scoped objects.
 *
 * Chunks form a singly linked list, newest first; allocations bump `used` in
 * the head chunk. A request larger than a quarter of the chunk size gets a
 * chunk of its own, linked behind the head so the head keeps serving small
 * requests.
 *
 * Invariants:
 *  1. Every pointer handed out is 16-byte aligned (the address, not just the
 *     offset, is rounded, so malloc's own alignment does not matter).
 *  2. used <= cap in every chunk; nothing is freed individually.
 *  3. After reset, at most one chunk remains (one of the standard size) and
 *     it is empty; total is 0.
 */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_CHUNK (16 * 1024)

struct coffer_arena_chunk {
	struct coffer_arena_chunk *next;
	size_t cap;  /* usable bytes in data[], including alignment slack */
	size_t used;
	unsigned char data[];
};

static void arena_abort(void) __attribute__((noreturn));

static void arena_abort(void)
{
	static const char msg[] = "coffer: arena: allocation size overflow\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more can be done */
	}
	abort();
}

void coffer_arena_init(struct coffer_arena *a, size_t chunk_size)
{
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK;
	a->total = 0;
}

static struct coffer_arena_chunk *chunk_new(size_t cap)
{
	struct coffer_arena_chunk *c;

	if (cap > SIZE_MAX - sizeof(*c))
		arena_abort();
	c = coffer_xmalloc(sizeof(*c) + cap);
	c->next = NULL;
	c->cap = cap;
	c->used = 0;
	return c;
}

/* Returns an aligned pointer to n bytes in c, or NULL if they do not fit. */
static void *chunk_take(struct coffer_arena_chunk *c, size_t n)
{
	uintptr_t base = (uintptr_t)c->data;
	uintptr_t at = (base + c->used + (ARENA_ALIGN - 1)) & ~(uintptr_t)(ARENA_ALIGN - 1);
	size_t off = (size_t)(at - base);

	if (off > c->cap || c->cap - off < n)
		return NULL;
	c->used = off + n;
	return c->data + off;
}

void *coffer_arena_alloc(struct coffer_arena *a, size_t n)
{
	struct coffer_arena_chunk *c;
	void *p;

	/* Zero-byte requests still get a distinct pointer. */
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - 2 * ARENA_ALIGN)
		arena_abort();
	a->total += n;
	if (a->head && (p = chunk_take(a->head, n)))
		return p;
	if (n > a->chunk_size / 4) {
		/* Alone in its own chunk: +ALIGN for the rounding of data[]. */
		c = chunk_new(n + ARENA_ALIGN);
		if (a->head) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			a->head = c;
		}
		return chunk_take(c, n);
	}
	c = chunk_new(a->chunk_size + ARENA_ALIGN);
	c->next = a->head;
	a->head = c;
	return chunk_take(c, n);
}

void *coffer_arena_zalloc(struct coffer_arena *a, size_t n)
{
	void *p = coffer_arena_alloc(a, n);

	memset(p, 0, n);
	return p;
}

char *coffer_arena_strdup(struct coffer_arena *a, const char *s)
{
	return coffer_arena_strndup(a, s, strlen(s));
}

char *coffer_arena_strndup(struct coffer_arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p;

	if (len == SIZE_MAX)
		arena_abort();
	p = coffer_arena_alloc(a, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *coffer_arena_memdup(struct coffer_arena *a, const void *p, size_t n)
{
	void *q = coffer_arena_alloc(a, n);

	if (n)
		memcpy(q, p, n);
	return q;
}

void coffer_arena_reset(struct coffer_arena *a)
{
	struct coffer_arena_chunk *keep = NULL;
	struct coffer_arena_chunk *c = a->head;

	while (c) {
		struct coffer_arena_chunk *next = c->next;

		if (!keep && c->cap == a->chunk_size + ARENA_ALIGN) {
			keep = c;
			keep->next = NULL;
			keep->used = 0;
		} else {
			free(c);
		}
		c = next;
	}
	a->head = keep;
	a->total = 0;
}

void coffer_arena_free(struct coffer_arena *a)
{
	struct coffer_arena_chunk *c = a->head;

	while (c) {
		struct coffer_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}
