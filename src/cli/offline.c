/*
 * offline.c - what the offline commands (verify, dump, keys status) share:
 * opening cofferd's data directory while cofferd is stopped. That means the
 * embedded KMS in DIR/kms (its lock admits one engine, so a running cofferd
 * makes this fail clearly), the sealed catalog DIR/schema/catalog.{key,bin},
 * and a storage configuration over DIR/data for src/storage's read-only
 * entry points (verify.c).
 *
 * The catalog layout is db.c's (its file comment is the reference). Only the
 * prefix every format shares is read: host id, roles (skipped), then the
 * keyspaces and their tables with KMS key ARN, storage id and column ids;
 * whatever a later format appends after that is ignored. TODO(issue 8): the
 * db module should export a read-only catalog loader so this decoder goes.
 *
 * Invariants:
 *  1. Nothing is written under DIR/schema or DIR/data (the KMS appends its
 *     own audit records of the Decrypt calls made here, as for any caller).
 *  2. The catalog key and the decrypted catalog live in secret memory and are
 *     wiped before the call returns; role password hashes are skipped, never
 *     kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "crypto/crypto.h"
#include "kms/kms.h"
#include "util/alloc.h"
#include "db/db.h"
#include "util/fs.h"

#define CATALOG_HEADER 13
#define CATALOG_MAX_BYTES (256u << 20)
#define NAME_MAX_BYTES 65535

static const struct coffer_key_context_pair catalog_ctx_pairs[] = {
	{"coffer:purpose", "catalog"},
};
static const struct coffer_key_context catalog_ctx = {catalog_ctx_pairs, 1};

static void build_desc(struct coffer_offline_table *t)
{
	coffer_db_table_desc(t->def, t->storage_id, &t->desc);
}

static COFFER_RESULT skip_roles(struct coffer_reader *r)
{
	uint64_t n;
	TRY(coffer_reader_varint(r, &n));
	ENSURE(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "role count past the end");
	for (uint64_t i = 0; i < n; i++) {
		struct coffer_slice s;
		TRY(coffer_reader_lenbytes(r, NAME_MAX_BYTES, &s));
		TRY(coffer_reader_skip(r, 1));
		TRY(coffer_reader_lenbytes(r, 4096, &s));
	}
	return COFFER_OK;
}

static COFFER_RESULT decode_table(struct coffer_offline *o, struct coffer_reader *r)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_slice s;
	struct coffer_tabledef *def = NULL;
	char *arn = NULL, *sid = NULL;
	uint8_t status;
	uint32_t next_id;
	uint64_t n;
	TRY(coffer_reader_lenbytes(r, CATALOG_MAX_BYTES, &s));
	TRY(coffer_tabledef_decode(s, &def));
	TRY_FAIL(coffer_reader_u8(r, &status));
	TRY_FAIL(coffer_reader_str(r, COFFER_KEY_ARN_MAX - 1, &arn));
	TRY_FAIL(coffer_reader_str(r, COFFER_UUID_STR_LEN, &sid));
	ENSURE_FAIL(strlen(sid) == COFFER_UUID_STR_LEN, COFFER_E_CORRUPT, "bad storage id");
	TRY_FAIL(coffer_reader_u32(r, &next_id));
	TRY_FAIL(coffer_reader_varint(r, &n));
	ENSURE_FAIL(n <= coffer_reader_left(r), COFFER_E_CORRUPT, "column id count past the end");
	o->tables = coffer_xrealloc(o->tables, (o->n_tables + 1) * sizeof(*o->tables));
	struct coffer_offline_table *t = &o->tables[o->n_tables++];
	memset(t, 0, sizeof(*t));
	t->def = def;
	def = NULL;
	snprintf(t->kms_key_arn, sizeof(t->kms_key_arn), "%s", arn);
	memcpy(t->storage_id, sid, COFFER_UUID_STR_LEN + 1);
	t->col_ids = coffer_xcalloc(n ? n : 1, sizeof(*t->col_ids));
	for (uint64_t i = 0; i < n; i++) {
		TRY_FAIL(coffer_reader_str(r, NAME_MAX_BYTES, &t->col_ids[i].name));
		t->n_col_ids = i + 1;
		TRY_FAIL(coffer_reader_u32(r, &t->col_ids[i].id));
	}
	build_desc(t);
fail:
	coffer_tabledef_free(def);
	free(arn);
	free(sid);
	return rc;
}

static COFFER_RESULT decode_payload(struct coffer_offline *o, struct coffer_slice p)
{
	struct coffer_reader r;
	uint64_t nks;
	coffer_reader_init(&r, p, "catalog");
	TRY(coffer_reader_skip(&r, 16)); /* host id */
	TRY(skip_roles(&r));
	TRY(coffer_reader_varint(&r, &nks));
	ENSURE(nks <= coffer_reader_left(&r), COFFER_E_CORRUPT, "keyspace count past the end");
	for (uint64_t i = 0; i < nks; i++) {
		struct coffer_slice s;
		uint64_t nt;
		TRY(coffer_reader_lenbytes(&r, CATALOG_MAX_BYTES, &s));
		TRY(coffer_reader_varint(&r, &nt));
		ENSURE(nt <= coffer_reader_left(&r), COFFER_E_CORRUPT, "table count past the end");
		for (uint64_t j = 0; j < nt; j++)
			TRY(decode_table(o, &r));
	}
	return COFFER_OK; /* later formats append more: not needed here */
}

static COFFER_RESULT load_catalog(struct coffer_offline *o)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_buf kf = {0}, file = {0}, aad = {0}, pt;
	struct coffer_secret key = {0};
	struct coffer_reader r;
	struct coffer_slice blob;
	char arn[COFFER_KEY_ARN_MAX];
	char *kpath = coffer_path_join(o->data_dir, "schema/catalog.key");
	char *cpath = coffer_path_join(o->data_dir, "schema/catalog.bin");
	coffer_buf_init_secure(&pt);
	TRY_FAIL(coffer_fs_read_all(kpath, 1u << 16, &kf));
	ENSURE_FAIL(kf.len > 5 && memcmp(kf.ptr, "CFKY", 4) == 0, COFFER_E_CORRUPT,
		    "%s: not a coffer catalog key file", kpath);
	coffer_reader_init(&r, coffer_buf_slice(&kf), kpath);
	TRY_FAIL(coffer_reader_skip(&r, 5));
	TRY_FAIL(coffer_reader_lenbytes(&r, COFFER_KEY_PROVIDER_MAX_BLOB, &blob));
	rc = coffer_key_provider_decrypt(o->provider, blob, &catalog_ctx, NULL, NULL, &key, arn);
	if (rc != COFFER_OK) {
		coffer_error_wrap("cannot unwrap the catalog key %s: ", kpath);
		goto fail;
	}
	TRY_FAIL(coffer_fs_read_all(cpath, CATALOG_MAX_BYTES, &file));
	ENSURE_FAIL(file.len >= CATALOG_HEADER + COFFER_AEAD_NONCE_BYTES + COFFER_AEAD_TAG_BYTES &&
			    memcmp(file.ptr, "CFCT", 4) == 0,
		    COFFER_E_CORRUPT, "%s: not a coffer catalog", cpath);
	size_t ct_len = file.len - CATALOG_HEADER - COFFER_AEAD_NONCE_BYTES - COFFER_AEAD_TAG_BYTES;
	coffer_buf_put(&aad, "coffer:catalog", 14);
	coffer_buf_put(&aad, file.ptr, CATALOG_HEADER);
	uint8_t *out = coffer_buf_extend(&pt, ct_len ? ct_len : 1);
	const uint8_t *ct = file.ptr + CATALOG_HEADER + COFFER_AEAD_NONCE_BYTES;
	rc = coffer_aead_open(key.ptr, file.ptr + CATALOG_HEADER, coffer_buf_slice(&aad),
			      coffer_slice_of(ct, ct_len), ct + ct_len, out);
	ENSURE_FAIL(rc == COFFER_OK, COFFER_E_CORRUPT, "%s: the catalog does not authenticate", cpath);
	pt.len = ct_len;
	rc = decode_payload(o, coffer_buf_slice(&pt));
	if (rc != COFFER_OK)
		coffer_error_wrap("%s: ", cpath);
fail:
	coffer_secret_free(&key);
	coffer_buf_free(&pt);
	coffer_buf_free(&kf);
	coffer_buf_free(&file);
	coffer_buf_free(&aad);
	free(kpath);
	free(cpath);
	return rc;
}

coffer_rc coffer_offline_open(const char *data_dir, struct coffer_offline **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_offline *o = COFFER_NEW(struct coffer_offline);
	o->data_dir = coffer_xstrdup(data_dir);
	o->kms_dir = coffer_path_join(data_dir, "kms");
	o->storage_dir = coffer_path_join(data_dir, "data");
	ENSURE_FAIL(coffer_fs_exists(o->kms_dir), COFFER_E_NOT_FOUND,
		    "%s: no embedded KMS here (is %s cofferd's --data directory?)", o->kms_dir, data_dir);
	struct coffer_kms_config kcfg;
	coffer_kms_config_default(&kcfg);
	kcfg.data_dir = o->kms_dir;
	rc = coffer_kms_open(&kcfg, &o->kms);
	if (rc != COFFER_OK) {
		coffer_error_wrap("opening the embedded KMS (stop cofferd first: one engine at a time): ");
		goto fail;
	}
	o->provider = coffer_key_provider_embedded(o->kms);
	struct coffer_key_cache_config ccfg;
	memset(&ccfg, 0, sizeof(ccfg));
	o->cache = coffer_key_cache_new(&ccfg);
	o->scfg.data_dir = o->storage_dir;
	o->scfg.provider = o->provider;
	o->scfg.cache = o->cache;
	o->scfg.foreground = true;
	o->scfg.block_cache_bytes = 1u << 20;
	TRY_FAIL(load_catalog(o));
	*out = o;
	return COFFER_OK;
fail:
	coffer_offline_close(o);
	return rc;
}

void coffer_offline_close(struct coffer_offline *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_tables; i++) {
		struct coffer_offline_table *t = &o->tables[i];
		coffer_tabledef_free(t->def);
		for (size_t j = 0; j < t->n_col_ids; j++)
			free(t->col_ids[j].name);
		free(t->col_ids);
	}
	free(o->tables);
	coffer_key_cache_free(o->cache);
	if (o->provider)
		coffer_key_provider_free(o->provider);
	coffer_kms_close(o->kms);
	free(o->data_dir);
	free(o->kms_dir);
	free(o->storage_dir);
	free(o);
}

const char *coffer_offline_column_name(const struct coffer_offline_table *t, uint32_t id)
{
	for (size_t i = 0; i < t->n_col_ids; i++)
		if (t->col_ids[i].id == id)
			return t->col_ids[i].name;
	return NULL;
}
