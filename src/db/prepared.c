/*
 * prepared.c - the prepared-statement cache: parsed statements by their
 * 16-byte id (SHA-256 of the keyspace and the text, so the same text
 * prepares to the same id across restarts and connections), in a hash table
 * bounded by a number of statements and by the memory their parses take.
 * When either bound is passed, the least recently used statements are
 * evicted; an EXECUTE of an evicted id gets ERROR 0x2500 Unprepared and the
 * drivers prepare it again, as with Cassandra's own bounded cache.
 *
 *   find/get ──► refs + 1 (a request holds it) ──release──► refs - 1
 *   insert ──► cached ──evicted (LRU)──► out of the table ──refs == 0──► freed
 *
 * Invariants:
 *  1. An entry is freed only once it is out of the table AND no request
 *     holds it (refs == 0), so a statement being executed while another
 *     thread evicts it stays valid until that request releases it.
 *  2. Everything but refs, `cached` and the links is immutable once the
 *     entry is in the table; refs, the table, the LRU list and the totals
 *     change only under mu.
 *  3. One entry per id: a parse that lost a race to insert the same id is
 *     dropped and the winner is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"
#include "util/alloc.h"

#define DEFAULT_MAX_ENTRIES 10000
#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define BUCKETS 4096 /* a power of two */

static size_t bucket_of(const uint8_t id[DB_PREPARED_ID_BYTES])
{
	size_t h;
	memcpy(&h, id, sizeof(h)); /* the id is a hash already */
	return h & (BUCKETS - 1);
}

void db_prepared_cache_init(struct db_prepared_cache *c, size_t max_entries, size_t max_bytes)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->buckets = coffer_xcalloc(BUCKETS, sizeof(*c->buckets));
	c->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
	c->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
}

static void entry_free(struct db_prepared *p)
{
	coffer_arena_free(&p->arena);
	free(p);
}

void db_prepared_cache_free(struct db_prepared_cache *c)
{
	if (!c->buckets)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		for (struct db_prepared *p = c->buckets[b], *next; p; p = next) {
			next = p->hnext;
			entry_free(p); /* no request runs once the db closes */
		}
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof(*c));
}

void db_prepared_id(const char *keyspace, struct coffer_slice query, uint8_t id[DB_PREPARED_ID_BYTES])
{
	struct coffer_sha256_ctx *h = coffer_sha256_new();
	uint8_t d[COFFER_SHA256_BYTES];
	coffer_sha256_update(h, keyspace, strlen(keyspace) + 1);
	coffer_sha256_update(h, query.ptr, query.len);
	coffer_sha256_final(h, d);
	memcpy(id, d, DB_PREPARED_ID_BYTES);
}

/* ---- under mu ---- */

static struct db_prepared *lookup(struct db_prepared_cache *c, const uint8_t *id)
{
	for (struct db_prepared *p = c->buckets[bucket_of(id)]; p; p = p->hnext)
		if (memcmp(p->id, id, DB_PREPARED_ID_BYTES) == 0)
			return p;
	return NULL;
}

static void lru_unlink(struct db_prepared_cache *c, struct db_prepared *p)
{
	if (p->lru_prev)
		p->lru_prev->lru_next = p->lru_next;
	else
		c->lru_head = p->lru_next;
	if (p->lru_next)
		p->lru_next->lru_prev = p->lru_prev;
	else
		c->lru_tail = p->lru_prev;
	p->lru_prev = p->lru_next = NULL;
}

static void lru_push_front(struct db_prepared_cache *c, struct db_prepared *p)
{
	p->lru_prev = NULL;
	p->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = p;
	c->lru_head = p;
	if (!c->lru_tail)
		c->lru_tail = p;
}

static void evict(struct db_prepared_cache *c, struct db_prepared *p)
{
	struct db_prepared **pp = &c->buckets[bucket_of(p->id)];
	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	lru_unlink(c, p);
	p->cached = false;
	c->entries--;
	c->bytes -= p->bytes;
	c->evictions++;
	if (p->refs == 0)
		entry_free(p);
}

/* Holds p (refs + 1) and marks it most recently used. */
static struct db_prepared *hold(struct db_prepared_cache *c, struct db_prepared *p)
{
	p->refs++;
	lru_unlink(c, p);
	lru_push_front(c, p);
	return p;
}

/* ---- API ---- */

struct db_prepared *db_prepared_find(struct db_prepared_cache *c, struct coffer_slice id)
{
	if (id.len != DB_PREPARED_ID_BYTES)
		return NULL;
	pthread_mutex_lock(&c->mu);
	struct db_prepared *p = lookup(c, id.ptr);
	if (p)
		hold(c, p);
	pthread_mutex_unlock(&c->mu);
	return p;
}

COFFER_RESULT db_prepared_get(struct db_prepared_cache *c, const char *keyspace, struct coffer_slice query,
			      struct db_prepared **out)
{
	uint8_t id[DB_PREPARED_ID_BYTES];
	db_prepared_id(keyspace, query, id);
	*out = db_prepared_find(c, coffer_slice_of(id, DB_PREPARED_ID_BYTES));
	if (*out)
		return COFFER_OK;

	struct db_prepared *fresh = COFFER_NEW(struct db_prepared);
	memcpy(fresh->id, id, DB_PREPARED_ID_BYTES);
	snprintf(fresh->keyspace, sizeof(fresh->keyspace), "%s", keyspace);
	coffer_arena_init(&fresh->arena, 0);
	coffer_rc rc = coffer_cql_parse(&fresh->arena, (const char *)query.ptr, query.len, &fresh->stmt);
	if (rc != COFFER_OK) {
		entry_free(fresh);
		return rc;
	}
	fresh->bytes = sizeof(*fresh) + fresh->arena.total;

	pthread_mutex_lock(&c->mu);
	struct db_prepared *won = lookup(c, id); /* invariant 3 */
	if (won) {
		*out = hold(c, won);
		pthread_mutex_unlock(&c->mu);
		entry_free(fresh);
		return COFFER_OK;
	}
	size_t b = bucket_of(id);
	fresh->hnext = c->buckets[b];
	c->buckets[b] = fresh;
	fresh->cached = true;
	c->entries++;
	c->bytes += fresh->bytes;
	lru_push_front(c, fresh);
	fresh->refs = 1;
	*out = fresh;
	/* The newest entry stays even if it alone passes the byte bound: its
	 * preparer is about to use it. */
	while ((c->entries > c->max_entries || c->bytes > c->max_bytes) && c->lru_tail != fresh)
		evict(c, c->lru_tail);
	pthread_mutex_unlock(&c->mu);
	return COFFER_OK;
}

void db_prepared_release(struct db_prepared_cache *c, struct db_prepared *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&c->mu);
	bool gone = --p->refs == 0 && !p->cached;
	pthread_mutex_unlock(&c->mu);
	if (gone)
		entry_free(p); /* invariant 1: out of the table and unheld */
}

void db_prepared_stats(struct db_prepared_cache *c, size_t *entries, size_t *bytes, uint64_t *evictions)
{
	pthread_mutex_lock(&c->mu);
	*entries = c->entries;
	*bytes = c->bytes;
	*evictions = c->evictions;
	pthread_mutex_unlock(&c->mu);
}
