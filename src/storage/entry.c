/*
 * entry.c - the entry encoding and the table order (storage_internal.h gives
 * the layout). Every memtable, SSTable and merge compares keys with
 * entry_compare(), so this file defines what "sorted" means on disk.
 *
 * Invariants:
 *  1. entry_compare is a total order consistent with Cassandra's: token
 *     (signed), then partition key bytes, then static before rows, rows by
 *     clustering values under their types and directions.
 *  2. Parsing is bounds-checked (coffer_reader); a key that does not parse is
 *     COFFER_E_CORRUPT, never a crash. entry_compare, which cannot fail,
 *     orders unparseable keys bytewise after parseable ones.
 *  3. Last write wins (cell_reconcile): higher timestamp; on a tie a
 *     tombstone beats a live cell, then the later deletion/expiry, then the
 *     greater value (Cassandra's Cells.reconcile).
 */
#include <errno.h>
#include <string.h>

#include "storage/storage_internal.h"
#include "util/fs.h"

static void put_prefix(struct coffer_buf *b, int64_t token, struct coffer_slice pk)
{
	coffer_buf_put_u64(b, (uint64_t)token ^ (UINT64_C(1) << 63));
	coffer_buf_put_lenbytes(b, pk.ptr, pk.len);
}

void entry_key_partition(struct coffer_buf *b, int64_t token, struct coffer_slice pk)
{
	put_prefix(b, token, pk);
}

void entry_key_pdel(struct coffer_buf *b, int64_t token, struct coffer_slice pk)
{
	put_prefix(b, token, pk);
	coffer_buf_put_u8(b, KIND_PARTITION_DEL);
}

void entry_key_static(struct coffer_buf *b, int64_t token, struct coffer_slice pk, uint32_t slot)
{
	put_prefix(b, token, pk);
	coffer_buf_put_u8(b, KIND_STATIC);
	coffer_buf_put_u32(b, slot);
}

void entry_key_row(struct coffer_buf *b, int64_t token, struct coffer_slice pk,
		   const struct coffer_slice *ck, size_t n, uint32_t slot)
{
	put_prefix(b, token, pk);
	coffer_buf_put_u8(b, KIND_ROW);
	coffer_buf_put_u8(b, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		coffer_buf_put_lenbytes(b, ck[i].ptr, ck[i].len);
	coffer_buf_put_u32(b, slot);
}

static void put_bound(struct coffer_buf *b, const struct coffer_bound *bd)
{
	size_t n = bd ? bd->n : 0;
	coffer_buf_put_u8(b, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		coffer_buf_put_lenbytes(b, bd->values[i].ptr, bd->values[i].len);
	coffer_buf_put_u8(b, bd && n ? bd->inclusive : 1);
}

void entry_key_range(struct coffer_buf *b, int64_t token, struct coffer_slice pk,
		     const struct coffer_bound *start, const struct coffer_bound *end)
{
	put_prefix(b, token, pk);
	coffer_buf_put_u8(b, KIND_RANGE_DEL);
	put_bound(b, start);
	put_bound(b, end);
}

void entry_value(struct coffer_buf *b, const struct cell *c)
{
	coffer_buf_put_u8(b, c->flags);
	coffer_buf_put_u64(b, (uint64_t)c->ts);
	if (c->flags & (CELL_TOMBSTONE | CELL_EXPIRING))
		coffer_buf_put_u64(b, (uint64_t)c->ldt);
	if (c->flags & CELL_EXPIRING)
		coffer_buf_put_u32(b, c->ttl);
	coffer_buf_put(b, c->value.ptr, c->value.len);
}

coffer_rc entry_parse_value(struct coffer_slice v, struct cell *c)
{
	struct coffer_reader r;
	uint64_t u;
	coffer_reader_init(&r, v, "cell");
	memset(c, 0, sizeof(*c));
	TRY(coffer_reader_u8(&r, &c->flags));
	TRY(coffer_reader_u64(&r, &u));
	c->ts = (int64_t)u;
	if (c->flags & (CELL_TOMBSTONE | CELL_EXPIRING)) {
		TRY(coffer_reader_u64(&r, &u));
		c->ldt = (int64_t)u;
	}
	if (c->flags & CELL_EXPIRING)
		TRY(coffer_reader_u32(&r, &c->ttl));
	c->value = coffer_slice_of(r.ptr + r.off, coffer_reader_left(&r));
	return COFFER_OK;
}

static coffer_rc parse_values(struct coffer_reader *r, struct coffer_slice *v, size_t *n)
{
	uint8_t cnt;
	TRY(coffer_reader_u8(r, &cnt));
	ENSURE(cnt <= COFFER_MAX_CLUSTERING, COFFER_E_CORRUPT, "entry key: %u clustering values", cnt);
	for (size_t i = 0; i < cnt; i++)
		TRY(coffer_reader_lenbytes(r, 1 << 24, &v[i]));
	*n = cnt;
	return COFFER_OK;
}

coffer_rc entry_parse_key(struct coffer_slice k, struct pkey *out)
{
	struct coffer_reader r;
	uint64_t u;
	uint8_t kind;
	coffer_reader_init(&r, k, "entry key");
	TRY(coffer_reader_u64(&r, &u));
	out->token = (int64_t)(u ^ (UINT64_C(1) << 63));
	TRY(coffer_reader_lenbytes(&r, 1 << 24, &out->pk));
	out->n_ck = 0;
	out->slot = 0;
	out->range = coffer_slice_of(NULL, 0);
	if (coffer_reader_done(&r)) {
		out->kind = -1;
		return COFFER_OK;
	}
	TRY(coffer_reader_u8(&r, &kind));
	out->kind = kind;
	switch (kind) {
	case KIND_PARTITION_DEL:
		break;
	case KIND_STATIC:
		TRY(coffer_reader_u32(&r, &out->slot));
		break;
	case KIND_RANGE_DEL:
		out->range = coffer_slice_of(r.ptr + r.off, coffer_reader_left(&r));
		r.off = r.len;
		break;
	case KIND_ROW:
		TRY(parse_values(&r, out->ck, &out->n_ck));
		if (coffer_reader_done(&r)) {
			out->slot = 0;
			out->kind = KIND_ROW;
			return COFFER_OK; /* a seek prefix */
		}
		TRY(coffer_reader_u32(&r, &out->slot));
		break;
	case 0xff:
		break; /* partition-end sentinel */
	default:
		BAIL(COFFER_E_CORRUPT, "entry key: unknown kind %u", kind);
	}
	return coffer_reader_end(&r);
}

coffer_rc entry_parse_range(struct coffer_slice range, struct coffer_slice *sv, size_t *sn,
			    bool *si, struct coffer_slice *ev, size_t *en, bool *ei)
{
	struct coffer_reader r;
	uint8_t b;
	coffer_reader_init(&r, range, "range deletion");
	TRY(parse_values(&r, sv, sn));
	TRY(coffer_reader_u8(&r, &b));
	*si = b;
	TRY(parse_values(&r, ev, en));
	TRY(coffer_reader_u8(&r, &b));
	*ei = b;
	return coffer_reader_end(&r);
}

int clustering_compare(const struct coffer_table_schema *s, const struct coffer_slice *a, size_t na,
		       const struct coffer_slice *b, size_t nb)
{
	size_t n = na < nb ? na : nb;
	for (size_t i = 0; i < n; i++) {
		enum coffer_type t = i < s->n_clustering ? s->clustering[i].type : COFFER_TYPE_BLOB;
		int c = coffer_type_compare(t, a[i], b[i]);
		if (c)
			return (i < s->n_clustering && s->clustering[i].desc) ? -c : c;
	}
	return 0;
}

static int slice_cmp(struct coffer_slice a, struct coffer_slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* Reads the prefix (token, pk) without full parsing. */
static bool prefix_of(struct coffer_slice k, struct coffer_slice *pk, size_t *rest)
{
	if (k.len >= 9 && k.ptr[8] < 0x80) { /* one-byte length: the common case */
		size_t n = k.ptr[8];
		if (9 + n > k.len)
			return false;
		*pk = coffer_slice_of(k.ptr + 9, n);
		*rest = 9 + n;
		return true;
	}
	struct coffer_reader r;
	uint64_t u;
	coffer_reader_init(&r, k, NULL);
	if (coffer_reader_u64(&r, &u) != COFFER_OK || coffer_reader_lenbytes(&r, 1 << 24, pk) != COFFER_OK)
		return false;
	*rest = r.off;
	return true;
}

bool entry_same_partition(struct coffer_slice a, struct coffer_slice b)
{
	struct coffer_slice pa, pb;
	size_t ra, rb;
	if (a.len < 8 || b.len < 8 || memcmp(a.ptr, b.ptr, 8) != 0)
		return false;
	if (!prefix_of(a, &pa, &ra) || !prefix_of(b, &pb, &rb))
		return false;
	return slice_cmp(pa, pb) == 0;
}

int entry_compare(const struct coffer_table_schema *s, struct coffer_slice a, struct coffer_slice b)
{
	if (a.len >= 8 && b.len >= 8) {
		/* the biased big-endian token: unsigned order is table order */
		uint64_t x = coffer_load_u64(a.ptr), y = coffer_load_u64(b.ptr);
		if (x != y)
			return x < y ? -1 : 1;
	}
	struct coffer_slice pa, pb;
	size_t ra = 0, rb = 0;
	bool oka = prefix_of(a, &pa, &ra), okb = prefix_of(b, &pb, &rb);
	if (!oka || !okb) {
		if (oka != okb)
			return oka ? -1 : 1;
		return slice_cmp(a, b);
	}
	int c = slice_cmp(pa, pb);
	if (c)
		return c;
	/* Same partition: the kind byte, then per kind. */
	if (ra == a.len || rb == b.len)
		return (ra == a.len ? 0 : 1) - (rb == b.len ? 0 : 1);
	uint8_t ka = a.ptr[ra], kb = b.ptr[rb];
	if (ka != kb)
		return ka < kb ? -1 : 1;
	if (ka != KIND_ROW)
		return slice_cmp(coffer_slice_of(a.ptr + ra, a.len - ra), coffer_slice_of(b.ptr + rb, b.len - rb));
	struct pkey x, y;
	if (entry_parse_key(a, &x) != COFFER_OK || entry_parse_key(b, &y) != COFFER_OK)
		return slice_cmp(a, b);
	c = clustering_compare(s, x.ck, x.n_ck, y.ck, y.n_ck);
	if (c)
		return c;
	if (x.n_ck != y.n_ck)
		return x.n_ck < y.n_ck ? -1 : 1;
	/* A seek key without a slot reads as slot 0, the first of the row. */
	return x.slot < y.slot ? -1 : x.slot > y.slot;
}

int cell_reconcile(const struct cell *a, const struct cell *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	bool da = a->flags & CELL_TOMBSTONE, db = b->flags & CELL_TOMBSTONE;
	if (da != db)
		return da ? 1 : -1;
	if (a->ldt != b->ldt)
		return a->ldt < b->ldt ? -1 : 1;
	return slice_cmp(a->value, b->value);
}
