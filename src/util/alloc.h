/*
 * alloc.h - the one allocator wrapper. Out of memory aborts here, so no other
 * code path has to carry an OOM branch (STYLE.md: "Out of memory aborts in one
 * allocator wrapper"). Ownership: whatever these return, the caller frees with
 * free() (after coffer_wipe() when it held anything sensitive).
 */
#ifndef COFFER_UTIL_ALLOC_H
#define COFFER_UTIL_ALLOC_H

#include <stddef.h>

void *coffer_xmalloc(size_t n);
void *coffer_xcalloc(size_t count, size_t size);
void *coffer_xrealloc(void *p, size_t n);
char *coffer_xstrdup(const char *s);
char *coffer_xstrndup(const char *s, size_t n);
/* printf into a fresh string. */
char *coffer_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Wipes `n` bytes at `p` (never optimised away). */
void coffer_wipe(void *p, size_t n);

#define COFFER_NEW(type) ((type *)coffer_xcalloc(1, sizeof(type)))
#define COFFER_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
