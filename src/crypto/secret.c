/*
 * secret.c - secret memory: the process-wide pool that holds key material,
 * and constant-time comparison.
 *
 * Small secrets (keys, HMAC keys, plaintext data keys) are carved from chunks:
 * anonymous mappings of COFFER_SECRET_CHUNK bytes, each serving one size class
 * (64, 256, 512, 1024 or 4096-byte slots; 512 fits the AEAD context's
 * libsodium state exactly) and tracking its slots with a bitmap.
 * A request larger than the biggest class gets a mapping of its own, released
 * to the kernel on free. The bookkeeping (struct chunk) lives on the ordinary
 * heap: it holds addresses and counts, never secret bytes.
 *
 * Invariants:
 *  1. Every byte handed out lies in a mapping that was madvise(MADV_DONTDUMP)ed
 *     before first use, and mlock()ed unless the kernel refused; each
 *     allocation served from an unlocked mapping adds one to `unlocked`.
 *  2. A free slot is all zero: a fresh mapping is zero, and free cleanses the
 *     whole slot (not just the bytes the caller asked for) before clearing its
 *     bit. So alloc returns zeroed memory without writing it.
 *  3. Chunks are never unmapped: a freed slot stays readable (as zeros), which
 *     the tests rely on and which keeps a stale pointer from faulting into some
 *     unrelated mapping later.
 *  4. All pool state is guarded by pool.lock; the pool is process-wide like
 *     malloc (crypto.h), so any thread may free what another allocated.
 *  5. Freeing a pointer the pool did not hand out, or freeing twice, aborts:
 *     it is a bug that would otherwise corrupt the bitmap silently.
 *  6. Every pointer handed out is COFFER_SECRET_ALIGN-aligned (crypto.h):
 *     mappings start on a page, and a slot lies a whole number of slot sizes
 *     (each a multiple of COFFER_SECRET_ALIGN) past its chunk's base. The
 *     AEAD context's libsodium state, which needs 16, relies on it.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"
#include "util/alloc.h"

#define COFFER_SECRET_CHUNK (16 * 1024)
#define COFFER_SECRET_MAX_LEN ((size_t)1 << 20) /* crypto.h: 1..1 MiB */
#define N_CLASSES 5
#define MIN_SLOT 64
#define MAX_SLOTS (COFFER_SECRET_CHUNK / MIN_SLOT)
#define BITMAP_WORDS (MAX_SLOTS / 64)

static const size_t class_slot[N_CLASSES] = {64, 256, 512, 1024, 4096};
/* Invariant 6: every class is a multiple of MIN_SLOT (1, 4, 8, 16, 64 x 64). */
_Static_assert(MIN_SLOT % COFFER_SECRET_ALIGN == 0, "slots must keep COFFER_SECRET_ALIGN");

struct chunk {
	struct chunk *next;
	uint8_t *base;
	size_t len;    /* bytes mapped */
	size_t slot;   /* slot size; a large allocation is one slot of `len` */
	size_t nslots;
	size_t nused;
	bool locked;
	uint64_t used[BITMAP_WORDS]; /* bit i set: slot i is handed out */
};

static struct {
	pthread_mutex_t lock;
	struct chunk *classes[N_CLASSES]; /* chunks per size class, newest first */
	struct chunk *large;              /* one-allocation mappings */
	size_t unlocked;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void pool_lock(void)
{
	if (pthread_mutex_lock(&pool.lock) != 0)
		coffer_crypto_die("secret memory: pthread_mutex_lock failed");
}

static void pool_unlock(void)
{
	(void)pthread_mutex_unlock(&pool.lock);
}

/* Maps `len` (a multiple of the page size) bytes excluded from core dumps and,
 * if the kernel allows, locked. Aborts when the mapping cannot be made. */
static uint8_t *map_secret(size_t len, bool *locked)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		char msg[128];
		snprintf(msg, sizeof msg, "secret memory: mmap of %zu bytes failed: %s", len,
			 strerror(errno));
		coffer_crypto_die(msg);
	}
	/* Not optional: a key in a core file is a key handed to whoever reads it. */
	if (madvise(p, len, MADV_DONTDUMP) != 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "secret memory: madvise(MADV_DONTDUMP) failed: %s",
			 strerror(errno));
		coffer_crypto_die(msg);
	}
	/* mlock can fail under RLIMIT_MEMLOCK; the memory is still usable and
	 * still kept out of core dumps, so carry on and let the count say so. */
	*locked = mlock(p, len) == 0;
	return p;
}

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

static int class_of(size_t n)
{
	for (int c = 0; c < N_CLASSES; c++)
		if (n <= class_slot[c])
			return c;
	return -1;
}

/* Takes a free slot from chunk `ch` (which has one); returns its index. */
static size_t chunk_take(struct chunk *ch)
{
	for (size_t w = 0; w < BITMAP_WORDS; w++) {
		uint64_t freebits = ~ch->used[w];
		if (freebits == 0)
			continue;
		size_t i = w * 64 + (size_t)__builtin_ctzll(freebits);
		if (i >= ch->nslots)
			break;
		ch->used[w] |= (uint64_t)1 << (i % 64);
		ch->nused++;
		return i;
	}
	coffer_crypto_die("secret memory: chunk bitmap disagrees with its use count");
}

static void *alloc_small(int c)
{
	struct chunk *ch;

	pool_lock();
	for (ch = pool.classes[c]; ch; ch = ch->next)
		if (ch->nused < ch->nslots)
			break;
	if (!ch) {
		ch = COFFER_NEW(struct chunk);
		ch->len = COFFER_SECRET_CHUNK;
		ch->slot = class_slot[c];
		ch->nslots = COFFER_SECRET_CHUNK / class_slot[c];
		ch->base = map_secret(ch->len, &ch->locked);
		ch->next = pool.classes[c];
		pool.classes[c] = ch;
	}
	size_t i = chunk_take(ch);
	if (!ch->locked)
		pool.unlocked++;
	pool_unlock();
	return ch->base + i * ch->slot;
}

static void *alloc_large(size_t n)
{
	struct chunk *ch = COFFER_NEW(struct chunk);

	ch->len = page_round(n);
	ch->slot = ch->len;
	ch->nslots = 1;
	ch->nused = 1;
	ch->base = map_secret(ch->len, &ch->locked);
	pool_lock();
	ch->next = pool.large;
	pool.large = ch;
	if (!ch->locked)
		pool.unlocked++;
	pool_unlock();
	return ch->base;
}

static bool chunk_has(const struct chunk *ch, const void *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)ch->base;
	return a >= b && a - b < ch->len;
}

/* The small-class chunk holding p, or NULL. Caller holds pool.lock. */
static struct chunk *find_small(const void *p)
{
	for (int c = 0; c < N_CLASSES; c++)
		for (struct chunk *ch = pool.classes[c]; ch; ch = ch->next)
			if (chunk_has(ch, p))
				return ch;
	return NULL;
}

void *coffer_secret_raw_alloc(size_t n)
{
	/* A zero-byte request still gets a distinct, freeable pointer. */
	int c = class_of(n ? n : 1);
	return c >= 0 ? alloc_small(c) : alloc_large(n);
}

void coffer_secret_raw_free(void *p, size_t n)
{
	if (!p)
		return;
	pool_lock();
	struct chunk *ch = find_small(p);
	if (ch) {
		size_t off = (size_t)((uint8_t *)p - ch->base);
		size_t i = off / ch->slot;
		uint64_t bit = (uint64_t)1 << (i % 64);
		if (off % ch->slot != 0 || !(ch->used[i / 64] & bit) || n > ch->slot) {
			pool_unlock();
			coffer_crypto_die("secret memory: free of a pointer not allocated "
					  "(double free, or wrong pointer or size)");
		}
		OPENSSL_cleanse(p, ch->slot);
		ch->used[i / 64] &= ~bit;
		ch->nused--;
		pool_unlock();
		return;
	}
	struct chunk **link = &pool.large;
	while (*link && (*link)->base != p)
		link = &(*link)->next;
	ch = *link;
	if (!ch || n > ch->len) {
		pool_unlock();
		coffer_crypto_die("secret memory: free of a pointer not allocated "
				  "(double free, or wrong pointer or size)");
	}
	*link = ch->next;
	pool_unlock();
	/* Only this thread can reach the mapping now: wipe and release unlocked. */
	OPENSSL_cleanse(ch->base, ch->len);
	if (ch->locked)
		(void)munlock(ch->base, ch->len);
	if (munmap(ch->base, ch->len) != 0)
		coffer_crypto_die("secret memory: munmap failed");
	free(ch);
}

void coffer_secret_alloc(struct coffer_secret *s, size_t len)
{
	if (len == 0 || len > COFFER_SECRET_MAX_LEN)
		coffer_crypto_die("coffer_secret_alloc: length outside 1..1 MiB");
	s->ptr = coffer_secret_raw_alloc(len);
	s->len = len;
}

void coffer_secret_from(struct coffer_secret *s, const void *p, size_t len)
{
	coffer_secret_alloc(s, len);
	memcpy(s->ptr, p, len);
}

void coffer_secret_free(struct coffer_secret *s)
{
	if (!s->ptr)
		return;
	coffer_secret_raw_free(s->ptr, s->len);
	s->ptr = NULL;
	s->len = 0;
}

size_t coffer_secret_unlocked_count(void)
{
	pool_lock();
	size_t n = pool.unlocked;
	pool_unlock();
	return n;
}

bool coffer_secret_contains(const void *p)
{
	bool found;

	pool_lock();
	found = find_small(p) != NULL;
	for (struct chunk *ch = pool.large; ch && !found; ch = ch->next)
		found = chunk_has(ch, p);
	pool_unlock();
	return found;
}

bool coffer_ct_equal(const void *a, const void *b, size_t n)
{
	/* CRYPTO_memcmp's time depends only on n, never on where bytes differ. */
	return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}
