/*
 * alloc.c - the one allocator wrapper (STYLE.md: "Out of memory aborts in one
 * allocator wrapper"). Every function here either returns usable memory or
 * writes one line to stderr and aborts; none returns NULL, so callers carry no
 * OOM branch.
 *
 * Invariants:
 *  1. A zero-byte request still returns a unique, freeable pointer (malloc(0)
 *     may return NULL, which callers would mistake for failure).
 *  2. coffer_wipe() is never removed by the optimiser (explicit_bzero).
 */
#include "util/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void coffer_oom(const char *call, size_t n) __attribute__((noreturn));

static void coffer_oom(const char *call, size_t n)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "coffer: out of memory in %s (%zu bytes)\n", call, n);

	/* write(2), not stdio: the heap is exhausted and stdio may allocate. */
	if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
		/* nothing more can be done */
	}
	abort();
}

void *coffer_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		coffer_oom("malloc", n);
	return p;
}

void *coffer_xcalloc(size_t count, size_t size)
{
	void *p;

	if (count == 0 || size == 0)
		count = size = 1;
	p = calloc(count, size);
	if (!p)
		coffer_oom("calloc", count * size);
	return p;
}

void *coffer_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		coffer_oom("realloc", n);
	return q;
}

char *coffer_xstrdup(const char *s)
{
	return coffer_xstrndup(s, strlen(s));
}

char *coffer_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p;

	if (len == SIZE_MAX)
		coffer_oom("strndup", len);
	p = coffer_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *coffer_xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		coffer_oom("asprintf", 0);
	return s;
}

void coffer_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}
