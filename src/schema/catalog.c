/*
 * catalog.c - keyspaces and tables as data structures (no storage): building
 * and checking table definitions, name lookups with Cassandra's identifier
 * rules, and a serialized form of a table and a keyspace so the server can
 * persist its schema.
 *
 * Invariants:
 *  1. A table's columns stay in Cassandra's order: partition key columns by
 *     position, clustering columns by position, then static and regular
 *     columns by name (byte order). Every insertion re-sorts.
 *  2. Names are stored exactly as declared after identifier folding: an
 *     unquoted identifier is lower-cased by the parser, a quoted one kept.
 *     Lookups with quoted=false fold the given name first, then compare
 *     exactly, so "MyTable" (quoted at creation) is never found unquoted.
 *  3. Every pointer the catalog hands out is owned by it and lives until the
 *     thing is dropped or the catalog freed.
 *  4. Decoding never trusts a count or length: each is checked against the
 *     bytes left, and the decoded table must pass coffer_tabledef_validate().
 *
 * Serialized table (integers big-endian, "lenbytes" = LEB128 length + bytes):
 *   OFFSET  SIZE      MEANING
 *   0       4         magic "CTB1"
 *   4       1         format version (1)
 *   5       lenbytes  keyspace name
 *   .       lenbytes  table name
 *   .       16        table id (uuid)
 *   .       4         default_time_to_live (i32)
 *   .       lenbytes  comment
 *   .       1         encryption type (0 AWS owned, 1 customer managed)
 *   .       lenbytes  kms_key_identifier ("" when none)
 *   .       1         point-in-time recovery enabled (0/1)
 *   .       varint    column count, then per column:
 *             lenbytes name, 1 kind, 4 position (i32), 1 clustering order,
 *             lenbytes type text (system_schema spelling)
 *   .       varint    custom property count, then lenbytes key, lenbytes value
 *   .       varint    option count, then lenbytes key, lenbytes value
 * Serialized keyspace:
 *   0 4 magic "CKS1", 4 1 version (1), lenbytes name, 1 durable_writes,
 *   varint replication count, then lenbytes key, lenbytes value.
 */
#include "schema/schema.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define NAME_MAX_LEN 65535
#define TEXT_MAX_LEN (1u << 20)
#define MAX_COLUMNS 65535
#define MAX_PROPS 4096

const char *coffer_column_kind_name(enum coffer_column_kind k)
{
	switch (k) {
	case COFFER_COLUMN_PARTITION_KEY: return "partition_key";
	case COFFER_COLUMN_CLUSTERING: return "clustering";
	case COFFER_COLUMN_REGULAR: return "regular";
	case COFFER_COLUMN_STATIC: return "static";
	}
	return "regular";
}

const char *coffer_clustering_order_name(enum coffer_clustering_order o)
{
	switch (o) {
	case COFFER_ORDER_ASC: return "asc";
	case COFFER_ORDER_DESC: return "desc";
	case COFFER_ORDER_NONE: break;
	}
	return "none";
}

/* ------------------------------------------------------------ strmap */

static struct coffer_strmap_entry *strmap_find(const struct coffer_strmap *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->items[i].key, key) == 0)
			return &m->items[i];
	return NULL;
}

void coffer_strmap_set(struct coffer_strmap *m, const char *key, const char *value)
{
	struct coffer_strmap_entry *e = strmap_find(m, key);

	if (e) {
		char *v = coffer_xstrdup(value);

		free(e->value);
		e->value = v;
		return;
	}
	m->items = coffer_xrealloc(m->items, sizeof(*m->items) * (m->n + 1));
	m->items[m->n].key = coffer_xstrdup(key);
	m->items[m->n].value = coffer_xstrdup(value);
	m->n++;
}

const char *coffer_strmap_get(const struct coffer_strmap *m, const char *key)
{
	struct coffer_strmap_entry *e = strmap_find(m, key);

	return e ? e->value : NULL;
}

bool coffer_strmap_remove(struct coffer_strmap *m, const char *key)
{
	struct coffer_strmap_entry *e = strmap_find(m, key);
	size_t i;

	if (!e)
		return false;
	i = (size_t)(e - m->items);
	free(e->key);
	free(e->value);
	memmove(&m->items[i], &m->items[i + 1], sizeof(*m->items) * (m->n - i - 1));
	m->n--;
	return true;
}

void coffer_strmap_free(struct coffer_strmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

static void strmap_copy(struct coffer_strmap *dst, const struct coffer_strmap *src)
{
	size_t i;

	for (i = 0; src && i < src->n; i++)
		coffer_strmap_set(dst, src->items[i].key, src->items[i].value);
}

/* ------------------------------------------------------------ identifiers */

bool coffer_ident_matches(const char *stored, const char *given, bool quoted)
{
	size_t i;

	if (quoted)
		return strcmp(stored, given) == 0;
	for (i = 0; given[i]; i++)
		if (stored[i] != (char)tolower((unsigned char)given[i]))
			return false;
	return stored[i] == '\0';
}

/* ------------------------------------------------------------ tables */

struct coffer_tabledef *coffer_tabledef_new(const char *keyspace, const char *name, const uint8_t id[16])
{
	struct coffer_tabledef *t = COFFER_NEW(struct coffer_tabledef);

	t->keyspace = coffer_xstrdup(keyspace);
	t->name = coffer_xstrdup(name);
	if (id)
		memcpy(t->id, id, 16);
	t->comment = coffer_xstrdup("");
	t->encryption = COFFER_ENC_AWS_OWNED;
	return t;
}

static void column_free(struct coffer_column *c)
{
	free(c->name);
	coffer_datatype_free(c->type);
}

void coffer_tabledef_free(struct coffer_tabledef *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ncolumns; i++)
		column_free(&t->columns[i]);
	free(t->columns);
	free(t->keyspace);
	free(t->name);
	free(t->comment);
	free(t->kms_key_identifier);
	coffer_strmap_free(&t->custom_properties);
	coffer_strmap_free(&t->options);
	free(t);
}

static int column_rank(const struct coffer_column *c)
{
	return c->kind == COFFER_COLUMN_PARTITION_KEY ? 0 : c->kind == COFFER_COLUMN_CLUSTERING ? 1 : 2;
}

static int column_cmp(const void *pa, const void *pb)
{
	const struct coffer_column *a = pa, *b = pb;
	int ra = column_rank(a), rb = column_rank(b);

	if (ra != rb)
		return ra - rb;
	if (ra < 2)
		return a->position < b->position ? -1 : a->position > b->position;
	return strcmp(a->name, b->name);
}

static void table_recount(struct coffer_tabledef *t)
{
	size_t i;

	t->npartition = t->nclustering = 0;
	for (i = 0; i < t->ncolumns; i++) {
		if (t->columns[i].kind == COFFER_COLUMN_PARTITION_KEY)
			t->npartition++;
		else if (t->columns[i].kind == COFFER_COLUMN_CLUSTERING)
			t->nclustering++;
	}
	qsort(t->columns, t->ncolumns, sizeof(*t->columns), column_cmp);
}

static bool type_contains_counter_or_multicell(const struct coffer_datatype *t)
{
	return t->kind == COFFER_DT_COUNTER || coffer_datatype_is_multicell(t);
}

COFFER_RESULT coffer_tabledef_add_column(struct coffer_tabledef *t, const char *name,
				      enum coffer_column_kind kind, int32_t position,
				      enum coffer_clustering_order order,
				      const struct coffer_datatype *type)
{
	struct coffer_column *c;
	bool is_key = kind == COFFER_COLUMN_PARTITION_KEY || kind == COFFER_COLUMN_CLUSTERING;
	size_t i;

	ENSURE(name && *name, COFFER_E_INVALID, "A column name may not be empty");
	ENSURE(strlen(name) <= NAME_MAX_LEN, COFFER_E_INVALID, "Column name too long");
	ENSURE(kind <= COFFER_COLUMN_STATIC, COFFER_E_INVALID, "Unknown column kind");
	for (i = 0; i < t->ncolumns; i++)
		ENSURE(strcmp(t->columns[i].name, name) != 0, COFFER_E_INVALID,
		       "Multiple definition of identifier %s", name);
	if (is_key) {
		ENSURE(position >= 0, COFFER_E_INVALID, "Key column %s needs a position", name);
		for (i = 0; i < t->ncolumns; i++)
			ENSURE(t->columns[i].kind != kind || t->columns[i].position != position,
			       COFFER_E_INVALID, "Two key columns at position %d", (int)position);
		ENSURE(!type_contains_counter_or_multicell(type), COFFER_E_INVALID,
		       "Invalid %s type for PRIMARY KEY component %s",
		       type->kind == COFFER_DT_COUNTER ? "counter" : "non-frozen collection", name);
		ENSURE(type->kind != COFFER_DT_DURATION, COFFER_E_INVALID,
		       "duration type is not supported for PRIMARY KEY column '%s'", name);
	} else {
		position = -1;
	}
	if (kind == COFFER_COLUMN_CLUSTERING)
		ENSURE(order == COFFER_ORDER_ASC || order == COFFER_ORDER_DESC, COFFER_E_INVALID,
		       "Clustering column %s needs an order", name);
	else
		order = COFFER_ORDER_NONE;
	/* Counter tables hold only counters besides the key. */
	if (!is_key) {
		for (i = 0; i < t->ncolumns; i++) {
			const struct coffer_column *o = &t->columns[i];

			if (o->kind == COFFER_COLUMN_PARTITION_KEY || o->kind == COFFER_COLUMN_CLUSTERING)
				continue;
			ENSURE((o->type->kind == COFFER_DT_COUNTER) == (type->kind == COFFER_DT_COUNTER),
			       COFFER_E_INVALID, "Cannot mix counter and non counter columns in the same table");
		}
	}
	t->columns = coffer_xrealloc(t->columns, sizeof(*t->columns) * (t->ncolumns + 1));
	c = &t->columns[t->ncolumns++];
	c->name = coffer_xstrdup(name);
	c->kind = kind;
	c->position = position;
	c->order = order;
	c->type = coffer_datatype_clone(type, NULL);
	table_recount(t);
	return COFFER_OK;
}

COFFER_RESULT coffer_tabledef_drop_column(struct coffer_tabledef *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncolumns; i++) {
		struct coffer_column *c = &t->columns[i];

		if (strcmp(c->name, name) != 0)
			continue;
		ENSURE(c->kind == COFFER_COLUMN_REGULAR || c->kind == COFFER_COLUMN_STATIC,
		       COFFER_E_INVALID, "Cannot drop PRIMARY KEY part %s", name);
		column_free(c);
		memmove(c, c + 1, sizeof(*c) * (t->ncolumns - i - 1));
		t->ncolumns--;
		table_recount(t);
		return COFFER_OK;
	}
	BAIL(COFFER_E_INVALID, "Column %s was not found in table %s", name, t->name);
}

COFFER_RESULT coffer_tabledef_validate(const struct coffer_tabledef *t)
{
	size_t i, j, nstatic = 0;

	ENSURE(t->keyspace && *t->keyspace && t->name && *t->name, COFFER_E_INVALID,
	       "A table needs a keyspace and a name");
	ENSURE(t->npartition > 0, COFFER_E_INVALID, "No PRIMARY KEY specifed for table %s (exactly one required)",
	       t->name);
	for (i = 0; i < t->ncolumns; i++) {
		const struct coffer_column *c = &t->columns[i];

		if (c->kind == COFFER_COLUMN_STATIC)
			nstatic++;
		if (c->kind == COFFER_COLUMN_PARTITION_KEY)
			ENSURE(c->position == (int32_t)i, COFFER_E_INVALID,
			       "Partition key positions of %s are not 0..n-1", t->name);
		if (c->kind == COFFER_COLUMN_CLUSTERING)
			ENSURE(c->position == (int32_t)(i - t->npartition), COFFER_E_INVALID,
			       "Clustering positions of %s are not 0..n-1", t->name);
		for (j = i + 1; j < t->ncolumns; j++)
			ENSURE(strcmp(c->name, t->columns[j].name) != 0, COFFER_E_INVALID,
			       "Multiple definition of identifier %s", c->name);
	}
	ENSURE(nstatic == 0 || t->nclustering > 0, COFFER_E_INVALID,
	       "Static columns are only useful (and thus allowed) if the table has at least one clustering column");
	ENSURE(t->default_time_to_live >= 0, COFFER_E_INVALID,
	       "default_time_to_live must be greater than or equal to 0 (got %d)",
	       (int)t->default_time_to_live);
	ENSURE(t->default_time_to_live <= 630720000, COFFER_E_INVALID,
	       "default_time_to_live must be less than or equal to 630720000 (got %d)",
	       (int)t->default_time_to_live);
	ENSURE((t->encryption == COFFER_ENC_CUSTOMER_MANAGED) ==
		       (t->kms_key_identifier != NULL && *t->kms_key_identifier),
	       COFFER_E_INVALID,
	       "kms_key_identifier is required with CUSTOMER_MANAGED_KMS_KEY and not allowed otherwise");
	ENSURE(t->comment != NULL, COFFER_E_INVALID, "A table comment may not be null");
	return COFFER_OK;
}

const struct coffer_column *coffer_tabledef_column(const struct coffer_tabledef *t, const char *name,
						bool quoted)
{
	size_t i;

	for (i = 0; i < t->ncolumns; i++)
		if (coffer_ident_matches(t->columns[i].name, name, quoted))
			return &t->columns[i];
	return NULL;
}

void coffer_tabledef_set_comment(struct coffer_tabledef *t, const char *comment)
{
	char *c = coffer_xstrdup(comment ? comment : "");

	free(t->comment);
	t->comment = c;
}

void coffer_tabledef_set_kms_key(struct coffer_tabledef *t, enum coffer_encryption_type e,
			      const char *kms_key_identifier)
{
	char *k = kms_key_identifier && e == COFFER_ENC_CUSTOMER_MANAGED
			  ? coffer_xstrdup(kms_key_identifier) : NULL;

	free(t->kms_key_identifier);
	t->kms_key_identifier = k;
	t->encryption = e;
}

struct coffer_tabledef *coffer_tabledef_clone(const struct coffer_tabledef *t)
{
	struct coffer_tabledef *c = coffer_tabledef_new(t->keyspace, t->name, t->id);
	size_t i;

	c->columns = coffer_xcalloc(t->ncolumns ? t->ncolumns : 1, sizeof(*c->columns));
	for (i = 0; i < t->ncolumns; i++) {
		c->columns[i] = t->columns[i];
		c->columns[i].name = coffer_xstrdup(t->columns[i].name);
		c->columns[i].type = coffer_datatype_clone(t->columns[i].type, NULL);
	}
	c->ncolumns = t->ncolumns;
	c->npartition = t->npartition;
	c->nclustering = t->nclustering;
	c->default_time_to_live = t->default_time_to_live;
	coffer_tabledef_set_comment(c, t->comment);
	coffer_tabledef_set_kms_key(c, t->encryption, t->kms_key_identifier);
	c->pitr_enabled = t->pitr_enabled;
	strmap_copy(&c->custom_properties, &t->custom_properties);
	strmap_copy(&c->options, &t->options);
	return c;
}

/* ------------------------------------------------------------ encoding */

static void put_strmap(struct coffer_buf *out, const struct coffer_strmap *m)
{
	size_t i;

	coffer_buf_put_varint(out, m->n);
	for (i = 0; i < m->n; i++) {
		coffer_buf_put_str(out, m->items[i].key);
		coffer_buf_put_str(out, m->items[i].value);
	}
}

static coffer_rc get_strmap(struct coffer_reader *r, struct coffer_strmap *m)
{
	uint64_t n, i;

	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= MAX_PROPS && n * 2 <= coffer_reader_left(r), COFFER_E_CORRUPT,
	       "%s: property count %llu too large", r->what, (unsigned long long)n);
	for (i = 0; i < n; i++) {
		char *k = NULL, *v = NULL;
		coffer_rc rc;

		TRY(coffer_reader_str(r, TEXT_MAX_LEN, &k));
		rc = coffer_reader_str(r, TEXT_MAX_LEN, &v);
		if (rc != COFFER_OK) {
			free(k);
			return rc;
		}
		ENSURE(coffer_strmap_get(m, k) == NULL, COFFER_E_CORRUPT, "%s: duplicate property",
		       r->what);
		coffer_strmap_set(m, k, v);
		free(k);
		free(v);
	}
	return COFFER_OK;
}

void coffer_tabledef_encode(const struct coffer_tabledef *t, struct coffer_buf *out)
{
	size_t i;

	coffer_buf_put(out, "CTB1", 4);
	coffer_buf_put_u8(out, 1);
	coffer_buf_put_str(out, t->keyspace);
	coffer_buf_put_str(out, t->name);
	coffer_buf_put(out, t->id, 16);
	coffer_buf_put_u32(out, (uint32_t)t->default_time_to_live);
	coffer_buf_put_str(out, t->comment ? t->comment : "");
	coffer_buf_put_u8(out, (uint8_t)t->encryption);
	coffer_buf_put_str(out, t->kms_key_identifier ? t->kms_key_identifier : "");
	coffer_buf_put_u8(out, t->pitr_enabled ? 1 : 0);
	coffer_buf_put_varint(out, t->ncolumns);
	for (i = 0; i < t->ncolumns; i++) {
		const struct coffer_column *c = &t->columns[i];
		char *ty = coffer_datatype_to_string(c->type);

		coffer_buf_put_str(out, c->name);
		coffer_buf_put_u8(out, (uint8_t)c->kind);
		coffer_buf_put_u32(out, (uint32_t)c->position);
		coffer_buf_put_u8(out, (uint8_t)c->order);
		coffer_buf_put_str(out, ty);
		free(ty);
	}
	put_strmap(out, &t->custom_properties);
	put_strmap(out, &t->options);
}

static coffer_rc decode_column(struct coffer_reader *r, struct coffer_tabledef *t)
{
	char *name = NULL, *ty = NULL;
	uint8_t kind, order;
	uint32_t pos;
	struct coffer_datatype *type = NULL;
	coffer_rc rc;

	TRY(coffer_reader_str(r, NAME_MAX_LEN, &name));
	TRY_FAIL(coffer_reader_u8(r, &kind));
	TRY_FAIL(coffer_reader_u32(r, &pos));
	TRY_FAIL(coffer_reader_u8(r, &order));
	TRY_FAIL(coffer_reader_str(r, TEXT_MAX_LEN, &ty));
	ENSURE_FAIL(kind <= COFFER_COLUMN_STATIC && order <= COFFER_ORDER_DESC, COFFER_E_CORRUPT,
		    "%s: bad column kind or order", r->what);
	rc = coffer_datatype_parse(ty, strlen(ty), NULL, &type);
	ENSURE_FAIL(rc == COFFER_OK, COFFER_E_CORRUPT, "%s: bad column type", r->what);
	rc = coffer_tabledef_add_column(t, name, (enum coffer_column_kind)kind, (int32_t)pos,
				     (enum coffer_clustering_order)order, type);
	ENSURE_FAIL(rc == COFFER_OK, COFFER_E_CORRUPT, "%s: bad column: %s", r->what,
		    coffer_error_msg());
fail:
	coffer_datatype_free(type);
	free(name);
	free(ty);
	return rc;
}

COFFER_RESULT coffer_tabledef_decode(struct coffer_slice in, struct coffer_tabledef **out)
{
	struct coffer_reader r;
	struct coffer_slice magic;
	uint8_t ver, enc, pitr;
	uint32_t ttl;
	uint64_t ncol, i;
	char *ks = NULL, *name = NULL, *comment = NULL, *kms = NULL;
	uint8_t id[16];
	struct coffer_tabledef *t = NULL;
	coffer_rc rc;

	coffer_reader_init(&r, in, "table definition");
	TRY(coffer_reader_bytes(&r, 4, &magic));
	ENSURE(memcmp(magic.ptr, "CTB1", 4) == 0, COFFER_E_CORRUPT, "table definition: bad magic");
	TRY(coffer_reader_u8(&r, &ver));
	ENSURE(ver == 1, COFFER_E_CORRUPT, "table definition: unknown version %u", ver);
	TRY_FAIL(coffer_reader_str(&r, NAME_MAX_LEN, &ks));
	TRY_FAIL(coffer_reader_str(&r, NAME_MAX_LEN, &name));
	TRY_FAIL(coffer_reader_copy(&r, id, 16));
	TRY_FAIL(coffer_reader_u32(&r, &ttl));
	TRY_FAIL(coffer_reader_str(&r, TEXT_MAX_LEN, &comment));
	TRY_FAIL(coffer_reader_u8(&r, &enc));
	TRY_FAIL(coffer_reader_str(&r, TEXT_MAX_LEN, &kms));
	TRY_FAIL(coffer_reader_u8(&r, &pitr));
	ENSURE_FAIL(enc <= COFFER_ENC_CUSTOMER_MANAGED && pitr <= 1, COFFER_E_CORRUPT,
		    "table definition: bad encryption or recovery flag");
	t = coffer_tabledef_new(ks, name, id);
	t->default_time_to_live = (int32_t)ttl;
	coffer_tabledef_set_comment(t, comment);
	coffer_tabledef_set_kms_key(t, (enum coffer_encryption_type)enc, *kms ? kms : NULL);
	t->pitr_enabled = pitr;
	TRY_FAIL(coffer_reader_varint(&r, &ncol));
	ENSURE_FAIL(ncol <= MAX_COLUMNS && ncol <= coffer_reader_left(&r), COFFER_E_CORRUPT,
		    "table definition: column count %llu too large", (unsigned long long)ncol);
	for (i = 0; i < ncol; i++)
		TRY_FAIL(decode_column(&r, t));
	TRY_FAIL(get_strmap(&r, &t->custom_properties));
	TRY_FAIL(get_strmap(&r, &t->options));
	TRY_FAIL(coffer_reader_end(&r));
	rc = coffer_tabledef_validate(t);
	ENSURE_FAIL(rc == COFFER_OK, COFFER_E_CORRUPT, "table definition: %s", coffer_error_msg());
	*out = t;
	t = NULL;
fail:
	coffer_tabledef_free(t);
	free(ks);
	free(name);
	free(comment);
	free(kms);
	return rc;
}

/* ------------------------------------------------------------ keyspaces */

void coffer_catalog_init(struct coffer_catalog *c)
{
	c->keyspaces = NULL;
	c->nkeyspaces = 0;
}

static void keyspace_free(struct coffer_keyspace *ks)
{
	size_t i;

	for (i = 0; i < ks->ntables; i++)
		coffer_tabledef_free(ks->tables[i]);
	free(ks->tables);
	free(ks->name);
	coffer_strmap_free(&ks->replication);
	free(ks);
}

void coffer_catalog_free(struct coffer_catalog *c)
{
	size_t i;

	for (i = 0; i < c->nkeyspaces; i++)
		keyspace_free(c->keyspaces[i]);
	free(c->keyspaces);
	c->keyspaces = NULL;
	c->nkeyspaces = 0;
}

struct coffer_keyspace *coffer_catalog_keyspace(const struct coffer_catalog *c, const char *name,
						bool quoted)
{
	size_t i;

	for (i = 0; i < c->nkeyspaces; i++)
		if (coffer_ident_matches(c->keyspaces[i]->name, name, quoted))
			return c->keyspaces[i];
	return NULL;
}

COFFER_RESULT coffer_catalog_add_keyspace(struct coffer_catalog *c, const char *name,
					  const struct coffer_strmap *replication,
					  bool durable_writes, struct coffer_keyspace **out)
{
	struct coffer_keyspace *ks;

	ENSURE(name && *name && strlen(name) <= 48, COFFER_E_INVALID,
	       "Keyspace name must not be empty, more than 48 characters long");
	ENSURE(coffer_catalog_keyspace(c, name, true) == NULL, COFFER_E_EXISTS,
	       "Keyspace %s already exists", name);
	ks = COFFER_NEW(struct coffer_keyspace);
	ks->name = coffer_xstrdup(name);
	strmap_copy(&ks->replication, replication);
	ks->durable_writes = durable_writes;
	c->keyspaces = coffer_xrealloc(c->keyspaces, sizeof(*c->keyspaces) * (c->nkeyspaces + 1));
	c->keyspaces[c->nkeyspaces++] = ks;
	if (out)
		*out = ks;
	return COFFER_OK;
}

COFFER_RESULT coffer_catalog_drop_keyspace(struct coffer_catalog *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nkeyspaces; i++) {
		if (strcmp(c->keyspaces[i]->name, name) != 0)
			continue;
		keyspace_free(c->keyspaces[i]);
		memmove(&c->keyspaces[i], &c->keyspaces[i + 1],
			sizeof(*c->keyspaces) * (c->nkeyspaces - i - 1));
		c->nkeyspaces--;
		return COFFER_OK;
	}
	BAIL(COFFER_E_NOT_FOUND, "Cannot drop non existing keyspace '%s'.", name);
}

struct coffer_tabledef *coffer_keyspace_table(const struct coffer_keyspace *ks, const char *name,
					   bool quoted)
{
	size_t i;

	for (i = 0; i < ks->ntables; i++)
		if (coffer_ident_matches(ks->tables[i]->name, name, quoted))
			return ks->tables[i];
	return NULL;
}

COFFER_RESULT coffer_keyspace_add_table(struct coffer_keyspace *ks, struct coffer_tabledef *t)
{
	ENSURE(strcmp(t->keyspace, ks->name) == 0, COFFER_E_INVALID,
	       "Table %s belongs to keyspace %s, not %s", t->name, t->keyspace, ks->name);
	ENSURE(coffer_keyspace_table(ks, t->name, true) == NULL, COFFER_E_EXISTS,
	       "Object %s.%s already exists", ks->name, t->name);
	TRY(coffer_tabledef_validate(t));
	ks->tables = coffer_xrealloc(ks->tables, sizeof(*ks->tables) * (ks->ntables + 1));
	ks->tables[ks->ntables++] = t;
	return COFFER_OK;
}

COFFER_RESULT coffer_keyspace_drop_table(struct coffer_keyspace *ks, const char *name)
{
	size_t i;

	for (i = 0; i < ks->ntables; i++) {
		if (strcmp(ks->tables[i]->name, name) != 0)
			continue;
		coffer_tabledef_free(ks->tables[i]);
		memmove(&ks->tables[i], &ks->tables[i + 1], sizeof(*ks->tables) * (ks->ntables - i - 1));
		ks->ntables--;
		return COFFER_OK;
	}
	BAIL(COFFER_E_NOT_FOUND, "Table '%s.%s' doesn't exist", ks->name, name);
}

void coffer_keyspace_encode(const struct coffer_keyspace *ks, struct coffer_buf *out)
{
	coffer_buf_put(out, "CKS1", 4);
	coffer_buf_put_u8(out, 1);
	coffer_buf_put_str(out, ks->name);
	coffer_buf_put_u8(out, ks->durable_writes ? 1 : 0);
	put_strmap(out, &ks->replication);
}

COFFER_RESULT coffer_keyspace_decode(struct coffer_slice in, char **name,
				     struct coffer_strmap *replication, bool *durable_writes)
{
	struct coffer_reader r;
	struct coffer_slice magic;
	uint8_t ver, dw;
	char *n = NULL;
	struct coffer_strmap m = {0};
	coffer_rc rc;

	coffer_reader_init(&r, in, "keyspace definition");
	TRY(coffer_reader_bytes(&r, 4, &magic));
	ENSURE(memcmp(magic.ptr, "CKS1", 4) == 0, COFFER_E_CORRUPT, "keyspace definition: bad magic");
	TRY(coffer_reader_u8(&r, &ver));
	ENSURE(ver == 1, COFFER_E_CORRUPT, "keyspace definition: unknown version %u", ver);
	TRY_FAIL(coffer_reader_str(&r, NAME_MAX_LEN, &n));
	TRY_FAIL(coffer_reader_u8(&r, &dw));
	ENSURE_FAIL(dw <= 1 && *n, COFFER_E_CORRUPT, "keyspace definition: bad fields");
	TRY_FAIL(get_strmap(&r, &m));
	TRY_FAIL(coffer_reader_end(&r));
	*name = n;
	*replication = m;
	*durable_writes = dw;
	return COFFER_OK;
fail:
	free(n);
	coffer_strmap_free(&m);
	return rc;
}
