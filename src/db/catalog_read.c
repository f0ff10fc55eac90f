/*
 * catalog_read.c - reading the sealed catalog: the pieces cofferd's open
 * (db.c) and the offline tools share, and the read-only loader the offline
 * tools use (coffer_db_catalog_load_readonly in db.h).
 *
 * The file layouts (catalog.key, catalog.bin and the payload) are in db.c's
 * file comment, next to the writer. Here: the key file's blob, the seal of
 * catalog.bin, and a loader that decodes the payload with db.c's own
 * decoder (db_catalog_decode) into a bare database object that never opens
 * storage, then lists its tables.
 *
 * Invariants:
 *  1. Nothing is written: no file under DIR is created, changed or locked
 *     (the KMS records its own audit entries of the Decrypt call, as for any
 *     caller).
 *  2. The catalog key and the decrypted payload live in secret memory
 *     (coffer_secret, a secure coffer_buf) and are wiped when freed; the
 *     loader frees the payload before it returns and the key with the view.
 *  3. The status shown is the one stored: the format-2 extras carry
 *     INACCESSIBLE_ENCRYPTION_CREDENTIALS and its reason as cofferd last
 *     saw them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "db/db_internal.h"

static const struct coffer_key_context_pair catalog_ctx_pairs[] = {
	{"coffer:purpose", "catalog"},
};
const struct coffer_key_context db_catalog_ctx = {catalog_ctx_pairs, 1};

COFFER_RESULT db_catalog_key_blob(struct coffer_slice file, struct coffer_slice *blob)
{
	struct coffer_reader r;
	coffer_reader_init(&r, file, "catalog key");
	ENSURE(file.len > 5 && memcmp(file.ptr, CATALOG_KEY_MAGIC, 4) == 0 &&
		       file.ptr[4] == CATALOG_KEY_FORMAT,
	       COFFER_E_CORRUPT, "not a coffer catalog key file");
	TRY(coffer_reader_skip(&r, 5));
	TRY(coffer_reader_lenbytes(&r, COFFER_KEY_PROVIDER_MAX_BLOB, blob));
	return coffer_reader_end(&r);
}

COFFER_RESULT db_catalog_unseal(const struct coffer_secret *key, const char *path,
				struct coffer_buf *pt, uint8_t *format, uint64_t *version)
{
	coffer_rc rc;
	struct coffer_buf file = {0}, aad = {0};
	TRY_FAIL(coffer_fs_read_all(path, CATALOG_MAX_BYTES, &file));
	ENSURE_FAIL(file.len >= CATALOG_HEADER + COFFER_AEAD_NONCE_BYTES + COFFER_AEAD_TAG_BYTES &&
			    memcmp(file.ptr, CATALOG_MAGIC, 4) == 0,
		    COFFER_E_CORRUPT, "not a coffer catalog (bad magic or truncated)");
	ENSURE_FAIL(file.ptr[4] >= 1 && file.ptr[4] <= CATALOG_FORMAT, COFFER_E_CORRUPT,
		    "unknown catalog format %u", file.ptr[4]);
	*format = file.ptr[4];
	*version = coffer_load_u64(file.ptr + 5);
	size_t ct_len = file.len - CATALOG_HEADER - COFFER_AEAD_NONCE_BYTES - COFFER_AEAD_TAG_BYTES;
	coffer_buf_put(&aad, "coffer:catalog", 14);
	coffer_buf_put(&aad, file.ptr, CATALOG_HEADER);
	coffer_buf_reset(pt);
	uint8_t *out = coffer_buf_extend(pt, ct_len ? ct_len : 1);
	const uint8_t *ct = file.ptr + CATALOG_HEADER + COFFER_AEAD_NONCE_BYTES;
	rc = coffer_aead_open(key->ptr, file.ptr + CATALOG_HEADER, coffer_buf_slice(&aad),
			      coffer_slice_of(ct, ct_len), ct + ct_len, out);
	if (rc != COFFER_OK)
		BAIL_FAIL(COFFER_E_CORRUPT, "the catalog does not authenticate (tampered, truncated or "
					    "sealed under another key)");
	pt->len = ct_len;
fail:
	coffer_buf_free(&file);
	coffer_buf_free(&aad);
	return rc;
}

/* Unwraps catalog.key's blob with one Decrypt (no retries: an operator's
 * tool reports an unreachable KMS at once). */
static COFFER_RESULT unwrap_key(struct coffer_db *db, struct coffer_key_provider *provider,
				const char *path)
{
	coffer_rc rc;
	struct coffer_buf file = {0};
	struct coffer_slice blob;
	char arn[COFFER_KEY_ARN_MAX];
	TRY_FAIL(coffer_fs_read_all(path, 1u << 16, &file));
	TRY_FAIL(db_catalog_key_blob(coffer_buf_slice(&file), &blob));
	rc = coffer_key_provider_decrypt(provider, blob, &db_catalog_ctx, NULL, NULL,
					 &db->catalog_key, arn);
	if (rc != COFFER_OK)
		coffer_error_wrap("cannot unwrap the catalog key");
fail:
	if (rc != COFFER_OK)
		coffer_error_wrap("%s", path);
	coffer_buf_free(&file);
	return rc;
}

COFFER_RESULT coffer_db_catalog_load_readonly(const char *data_dir,
					      struct coffer_key_provider *provider,
					      struct coffer_db_catalog **out)
{
	coffer_rc rc;
	struct coffer_buf pt;
	uint8_t format;
	uint64_t version;
	struct coffer_db_catalog *c = COFFER_NEW(struct coffer_db_catalog);
	struct coffer_db *db = COFFER_NEW(struct coffer_db);
	char *kpath = coffer_path_join(data_dir, "schema/catalog.key");
	char *cpath = coffer_path_join(data_dir, "schema/catalog.bin");
	coffer_buf_init_secure(&pt);
	db_init_bare(db);
	db->data_dir = coffer_xstrdup(data_dir);
	db->log = coffer_log_null();
	db->clock = coffer_clock_system();
	c->db = db;
	TRY_FAIL(unwrap_key(db, provider, kpath));
	rc = db_catalog_unseal(&db->catalog_key, cpath, &pt, &format, &version);
	if (rc == COFFER_OK)
		rc = db_catalog_decode(db, coffer_buf_slice(&pt), format);
	if (rc != COFFER_OK) {
		coffer_error_wrap("catalog %s", cpath);
		goto fail;
	}
	db->catalog_version = version;
	c->tables = coffer_xcalloc(db->n_tables ? db->n_tables : 1, sizeof(*c->tables));
	for (size_t i = 0; i < db->n_tables; i++) {
		const struct db_table *t = db->tables[i];
		struct coffer_db_catalog_table *ct = &c->tables[c->n_tables++];
		ct->def = t->def;
		ct->kms_key_arn = t->kms_key_arn;
		ct->storage_id = t->storage_id;
		ct->status = coffer_table_status_name(t->status);
		ct->status_reason = t->status_reason;
		ct->internal = t;
		coffer_db_table_desc(t->def, t->storage_id, &ct->desc);
	}
	*out = c;
	c = NULL;
fail:
	coffer_buf_free(&pt);
	free(kpath);
	free(cpath);
	coffer_db_catalog_free(c);
	return rc;
}

const char *coffer_db_catalog_column_name(const struct coffer_db_catalog_table *t, uint32_t id)
{
	const struct db_table *dt = t->internal;
	for (size_t i = 0; i < dt->n_col_ids; i++)
		if (dt->col_ids[i].id == id)
			return dt->col_ids[i].name;
	return NULL;
}

void coffer_db_catalog_free(struct coffer_db_catalog *c)
{
	if (!c)
		return;
	free(c->tables);
	coffer_db_close(c->db); /* frees the catalog, tables and the catalog key */
	free(c);
}
