/*
 * storage_fuzz_env.h - the table the storage fuzz targets (sstable_read_fuzz.c,
 * commitlog_read_fuzz.c) hand their files to: an embedded KMS engine, a key
 * cache and one table (pk blob; clustering int ASC, text DESC, as the storage
 * unit tests use), created on the first input in a temporary directory that
 * goes when the process exits, fuzzing run or smoke test alike.
 *
 * Header-only (static functions) so that each target stays one .c file that
 * the unit tests can #include, as with the other targets.
 */
#ifndef COFFER_FUZZ_STORAGE_FUZZ_ENV_H
#define COFFER_FUZZ_STORAGE_FUZZ_ENV_H

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "keys/cache.h"
#include "keys/keyring.h"
#include "keys/provider.h"
#include "kms/kms.h"
#include "storage/storage_internal.h"
#include "util/alloc.h"

static struct {
	bool ready;
	char dir[64];
	char *data_dir;
	struct coffer_kms *kms;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	struct coffer_table *t;
} sfz;

static int sfz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void sfz_cleanup(void)
{
	coffer_table_close(sfz.t);
	coffer_key_cache_free(sfz.cache);
	coffer_key_provider_free(sfz.provider);
	coffer_kms_close(sfz.kms);
	free(sfz.data_dir);
	nftw(sfz.dir, sfz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static struct coffer_table *sfz_table(void)
{
	if (sfz.ready)
		return sfz.t;
	char svc[COFFER_KMS_ARN_MAX];
	struct coffer_kms_config kc;
	coffer_crypto_init(false);
	snprintf(sfz.dir, sizeof(sfz.dir), "/tmp/coffer-fuzz-storage-XXXXXX");
	if (!mkdtemp(sfz.dir))
		abort();
	atexit(sfz_cleanup);
	char *kdir = coffer_xasprintf("%s/kms", sfz.dir);
	coffer_kms_config_default(&kc);
	kc.data_dir = kdir;
	kc.fsync = false;
	kc.audit_fd = -2;
	if (coffer_kms_open(&kc, &sfz.kms) != COFFER_OK || coffer_kms_service_key(sfz.kms, svc) != COFFER_OK)
		abort();
	free(kdir);
	sfz.provider = coffer_key_provider_embedded(sfz.kms);
	struct coffer_key_cache_config cc = {0};
	sfz.cache = coffer_key_cache_new(&cc);
	sfz.data_dir = coffer_xasprintf("%s/data", sfz.dir);
	struct coffer_storage_config cfg = {
		.data_dir = sfz.data_dir,
		.provider = sfz.provider,
		.cache = sfz.cache,
		.memtable_bytes = 1 << 20,
		.segment_bytes = 1 << 20,
		.block_bytes = 4096,
		.foreground = true,
		.no_sync = true,
	};
	struct coffer_table_desc desc = {
		.keyspace = "fuzz",
		.name = "t",
		.table_id = "5a1f0c2e-7d3b-4c8a-9e6f-0b1c2d3e4f50",
		.schema = {.n_partition = 1,
			   .n_clustering = 2,
			   .clustering = {{COFFER_TYPE_INT, false}, {COFFER_TYPE_TEXT, true}}},
	};
	if (coffer_table_create(&cfg, &desc, svc, &sfz.t) != COFFER_OK) {
		fprintf(stderr, "fuzz: cannot create the table: %s\n", coffer_error_msg());
		abort();
	}
	sfz.ready = true;
	return sfz.t;
}

/* A new file id of the table with its data key registered for `purpose`, and
 * a block context sealing under that key (as the writers do). */
static uint64_t sfz_new_file(enum coffer_key_purpose purpose, struct block_ctx *bc)
{
	struct coffer_table *t = sfz_table();
	struct coffer_secret key = {0};
	uint64_t id = table_alloc_file_id(t);
	if (coffer_keyring_new_data_key(t->kr, id, purpose, &key) != COFFER_OK ||
	    block_ctx_init(bc, &key, t->table_id, id) != COFFER_OK)
		abort();
	coffer_secret_free(&key);
	return id;
}

/* Consumes a big-endian u16 length and that many bytes (fewer at the end). */
static struct coffer_slice sfz_take(const uint8_t **p, size_t *n)
{
	size_t len = 0;
	if (*n >= 2) {
		len = (size_t)(*p)[0] << 8 | (*p)[1];
		*p += 2;
		*n -= 2;
	} else {
		*p += *n;
		*n = 0;
	}
	if (len > *n)
		len = *n;
	struct coffer_slice s = coffer_slice_of(*p, len);
	*p += len;
	*n -= len;
	return s;
}

/* Writes the whole file (replacing it). */
static void sfz_write(const char *path, const struct coffer_buf *b)
{
	FILE *f = fopen(path, "wb");
	if (!f || (b->len && fwrite(b->ptr, 1, b->len, f) != b->len) || fclose(f) != 0)
		abort();
}

/* A refusal must be a corruption report naming the file (`name` is in the
 * message); anything else is a bug the fuzzer should stop at. */
static void sfz_check(coffer_rc rc, const char *name)
{
	if (rc == COFFER_OK)
		return;
	if (rc != COFFER_E_CORRUPT || !strstr(coffer_error_msg(), name)) {
		fprintf(stderr, "fuzz: unexpected %s: %s\n", coffer_rc_name(rc), coffer_error_msg());
		abort();
	}
}

#endif
