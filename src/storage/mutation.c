/*
 * mutation.c - building writes. A mutation is one partition's worth of
 * entries (storage_internal.h), encoded once, here, in the form the commit log
 * seals and the memtable stores:
 *
 *   entries := (varint key length | key | varint value length | value)*
 *
 * Invariants:
 *  1. Rows and cells carry exactly the table's number of clustering values;
 *     range deletions take prefixes. A mutation that breaks this is refused
 *     whole by coffer_table_apply (COFFER_E_INVALID) and nothing is written.
 *  2. Deletions and TTLs record the local time of the write (µs) for gc grace
 *     and expiry, from the table's injectable clock.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

struct coffer_mutation {
	struct coffer_table *t;
	struct coffer_buf pk;
	int64_t token;
	int64_t now;
	struct coffer_buf entries;
	struct coffer_buf kb, vb;
	const char *invalid; /* first problem found, or NULL */
};

void entries_put(struct coffer_buf *b, struct coffer_slice k, struct coffer_slice v)
{
	coffer_buf_put_lenbytes(b, k.ptr, k.len);
	coffer_buf_put_lenbytes(b, v.ptr, v.len);
}

coffer_rc entries_next(struct coffer_reader *r, struct coffer_slice *k, struct coffer_slice *v)
{
	/* fast path: both lengths one-byte varints and in bounds */
	size_t left = r->len - r->off;
	const uint8_t *p = r->ptr + r->off;
	if (left >= 2 && p[0] < 0x80 && (size_t)p[0] + 2 <= left && p[1 + p[0]] < 0x80 &&
	    (size_t)p[0] + 2 + p[1 + p[0]] <= left) {
		size_t kl = p[0], vl = p[1 + kl];
		*k = coffer_slice_of(p + 1, kl);
		*v = coffer_slice_of(p + 2 + kl, vl);
		r->off += 2 + kl + vl;
		return COFFER_OK;
	}
	TRY(coffer_reader_lenbytes(r, 1 << 28, k));
	return coffer_reader_lenbytes(r, 1 << 28, v);
}

struct coffer_mutation *coffer_mutation_new(struct coffer_table *t, const struct coffer_slice *pk,
					    size_t n)
{
	struct coffer_mutation *m = COFFER_NEW(struct coffer_mutation);
	m->t = t;
	if (n != t->schema.n_partition || n == 0)
		m->invalid = "wrong number of partition key components";
	coffer_partition_key_encode(pk, n, &m->pk);
	if (m->pk.len > 65535)
		m->invalid = "partition key longer than 65535 bytes";
	m->token = coffer_token(coffer_buf_slice(&m->pk));
	m->now = coffer_clock_now_us(t->clock);
	/* room for a typical row at once: growing from empty took a realloc
	 * per doubling, several per write */
	coffer_buf_reserve(&m->entries, 512);
	coffer_buf_reserve(&m->vb, 256);
	return m;
}

void coffer_mutation_free(struct coffer_mutation *m)
{
	if (!m)
		return;
	coffer_buf_free(&m->pk);
	coffer_wipe(m->entries.ptr, m->entries.len);
	coffer_buf_free(&m->entries);
	coffer_buf_free(&m->kb);
	coffer_buf_free(&m->vb);
	free(m);
}

static void add(struct coffer_mutation *m, const struct cell *c)
{
	coffer_buf_reset(&m->vb);
	entry_value(&m->vb, c);
	entries_put(&m->entries, coffer_buf_slice(&m->kb), coffer_buf_slice(&m->vb));
}

static bool check_ck(struct coffer_mutation *m, size_t n, uint32_t column)
{
	if (n != m->t->schema.n_clustering) {
		m->invalid = "wrong number of clustering values";
		return false;
	}
	if (column > INT32_MAX) {
		m->invalid = "column id out of range";
		return false;
	}
	return true;
}

static struct cell live(const struct coffer_mutation *m, struct coffer_slice v, int64_t ts, uint32_t ttl)
{
	struct cell c = {.flags = 0, .ts = ts, .value = v};
	if (ttl) {
		c.flags = CELL_EXPIRING;
		c.ttl = ttl;
		c.ldt = m->now + (int64_t)ttl * COFFER_US_PER_SEC;
	}
	return c;
}

static struct cell tomb(const struct coffer_mutation *m, int64_t ts)
{
	struct cell c = {.flags = CELL_TOMBSTONE, .ts = ts, .ldt = m->now};
	return c;
}

void coffer_mutation_set(struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
			 uint32_t column, struct coffer_slice value, int64_t ts, uint32_t ttl)
{
	if (!check_ck(m, n_ck, column))
		return;
	coffer_buf_reset(&m->kb);
	entry_key_row(&m->kb, m->token, coffer_buf_slice(&m->pk), ck, n_ck, SLOT_COLUMN0 + column);
	struct cell c = live(m, value, ts, ttl);
	add(m, &c);
}

void coffer_mutation_set_static(struct coffer_mutation *m, uint32_t column, struct coffer_slice value,
				int64_t ts, uint32_t ttl)
{
	if (column > INT32_MAX) {
		m->invalid = "column id out of range";
		return;
	}
	coffer_buf_reset(&m->kb);
	entry_key_static(&m->kb, m->token, coffer_buf_slice(&m->pk), SLOT_COLUMN0 + column);
	struct cell c = live(m, value, ts, ttl);
	add(m, &c);
}

void coffer_mutation_delete_cell(struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
				 uint32_t column, int64_t ts)
{
	if (!check_ck(m, n_ck, column))
		return;
	coffer_buf_reset(&m->kb);
	entry_key_row(&m->kb, m->token, coffer_buf_slice(&m->pk), ck, n_ck, SLOT_COLUMN0 + column);
	struct cell c = tomb(m, ts);
	add(m, &c);
}

void coffer_mutation_delete_static(struct coffer_mutation *m, uint32_t column, int64_t ts)
{
	coffer_buf_reset(&m->kb);
	entry_key_static(&m->kb, m->token, coffer_buf_slice(&m->pk), SLOT_COLUMN0 + column);
	struct cell c = tomb(m, ts);
	add(m, &c);
}

void coffer_mutation_row_marker(struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
				int64_t ts, uint32_t ttl)
{
	if (!check_ck(m, n_ck, 0))
		return;
	coffer_buf_reset(&m->kb);
	entry_key_row(&m->kb, m->token, coffer_buf_slice(&m->pk), ck, n_ck, SLOT_MARKER);
	struct cell c = live(m, coffer_slice_of(NULL, 0), ts, ttl);
	add(m, &c);
}

void coffer_mutation_delete_row(struct coffer_mutation *m, const struct coffer_slice *ck, size_t n_ck,
				int64_t ts)
{
	if (!check_ck(m, n_ck, 0))
		return;
	coffer_buf_reset(&m->kb);
	entry_key_row(&m->kb, m->token, coffer_buf_slice(&m->pk), ck, n_ck, SLOT_ROW_DEL);
	struct cell c = tomb(m, ts);
	add(m, &c);
}

void coffer_mutation_delete_range(struct coffer_mutation *m, const struct coffer_bound *start,
				  const struct coffer_bound *end, int64_t ts)
{
	size_t nc = m->t->schema.n_clustering;
	if ((start && start->n > nc) || (end && end->n > nc) || nc == 0) {
		m->invalid = "range deletion bound longer than the clustering key";
		return;
	}
	coffer_buf_reset(&m->kb);
	entry_key_range(&m->kb, m->token, coffer_buf_slice(&m->pk), start, end);
	struct cell c = tomb(m, ts);
	add(m, &c);
}

void coffer_mutation_delete_partition(struct coffer_mutation *m, int64_t ts)
{
	coffer_buf_reset(&m->kb);
	entry_key_pdel(&m->kb, m->token, coffer_buf_slice(&m->pk));
	struct cell c = tomb(m, ts);
	add(m, &c);
}

/* The entries of m[0..n) as slices (into `stack` when n <= 16), once every
 * mutation is checked against t and the table key is usable. */
static coffer_rc mutation_slices(struct coffer_table *t, struct coffer_mutation *const *m, size_t n,
				 struct coffer_slice stack[16], struct coffer_slice **out)
{
	for (size_t i = 0; i < n; i++)
		if (m[i]->t != t || m[i]->invalid)
			BAIL(COFFER_E_INVALID, "table %s.%s: mutation refused: %s", t->keyspace, t->name,
			     m[i]->t != t ? "built for another table" : m[i]->invalid);
	TRY(coffer_keyring_check(t->kr));
	struct coffer_slice *s = n <= 16 ? stack : coffer_xcalloc(n, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s[i] = coffer_buf_slice(&m[i]->entries);
	*out = s;
	return COFFER_OK;
}

coffer_rc coffer_table_apply(struct coffer_table *t, struct coffer_mutation *const *m, size_t n)
{
	struct coffer_slice stack[16], *s;
	TRY(mutation_slices(t, m, n, stack, &s));
	coffer_rc rc = commitlog_write(t->clog, s, n);
	if (s != stack)
		free(s);
	return rc;
}

coffer_rc coffer_table_apply_async(struct coffer_table *t, struct coffer_mutation *const *m, size_t n,
				   void (*done)(void *arg, coffer_rc rc, const char *msg), void *arg,
				   bool *must_lead)
{
	struct coffer_slice stack[16], *s;
	*must_lead = false;
	TRY(mutation_slices(t, m, n, stack, &s));
	coffer_rc rc = commitlog_write_async(t->clog, s, n, done, arg, must_lead);
	if (s != stack)
		free(s);
	return rc;
}

void coffer_table_lead(struct coffer_table *t)
{
	commitlog_lead(t->clog);
}

void coffer_table_lead_soon(struct coffer_table *t)
{
	commitlog_lead_soon(t->clog);
}

bool coffer_table_write_ready(struct coffer_table *t)
{
	return coffer_keyring_fresh(t->kr);
}
