/*
 * offline.c - what the offline commands (verify, dump, keys status) share:
 * opening cofferd's data directory while cofferd is stopped. That means a
 * key provider - the embedded KMS in DIR/kms (its lock admits one engine,
 * so a running cofferd makes this fail clearly), or a remote coffer-kms /
 * AWS KMS given with --kms URL and the coffer-service principal's
 * credentials, as cofferd takes them - the sealed catalog (read by the db
 * module's read-only loader, coffer_db_catalog_load_readonly), and a
 * storage configuration over DIR/data for src/storage's read-only entry
 * points (verify.c).
 *
 * Invariants:
 *  1. Nothing is written under DIR/schema or DIR/data (the KMS appends its
 *     own audit records of the Decrypt calls made here, as for any caller).
 *  2. The catalog key, the decrypted catalog and the remote KMS secret live
 *     in secret memory and are wiped when freed.
 *  3. A remote KMS is reached over https unless its host is a loopback
 *     address (as cofferd insists), and a KMS that cannot be reached fails
 *     within seconds with the endpoint named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "db/db.h"
#include "kms/kms.h"
#include "kmsapi/kms_client.h"
#include "kmsapi/kmsapi.h"
#include "util/alloc.h"
#include "util/fs.h"

/* http:// only to a loopback host (invariant 3); false after saying why. */
static COFFER_RESULT check_kms_url(const char *url)
{
	char host[256];
	if (strncmp(url, "https://", 8) == 0)
		return COFFER_OK;
	ENSURE(strncmp(url, "http://", 7) == 0, COFFER_E_INVALID,
	       "--kms %s: expected an http(s):// URL", url);
	const char *h = url + 7;
	bool bracket = *h == '[';
	size_t n = bracket ? strcspn(++h, "]") : strcspn(h, ":/");
	ENSURE(n > 0 && n < sizeof(host), COFFER_E_INVALID, "--kms %s: no host", url);
	memcpy(host, h, n);
	host[n] = 0;
	ENSURE(coffer_kmsapi_is_loopback(host), COFFER_E_INVALID,
	       "--kms %s: refusing plaintext HTTP to %s, which is not a loopback address (use https)",
	       url, host);
	return COFFER_OK;
}

/* The remote provider, signing with --kms-credentials' profile (given, else
 * "default", else "coffer-service", as cofferd reads them). */
static COFFER_RESULT open_remote(struct coffer_offline *o, const struct coffer_offline_opts *opts)
{
	char *akid = NULL;
	struct coffer_secret secret = {0};
	coffer_rc rc;
	TRY(check_kms_url(opts->kms_url));
	ENSURE(opts->kms_credentials, COFFER_E_INVALID,
	       "--kms %s needs --kms-credentials FILE (the coffer-service principal's access key)",
	       opts->kms_url);
	rc = coffer_kms_client_read_service_credentials(opts->kms_credentials, opts->kms_profile, &akid,
							&secret);
	if (rc != COFFER_OK) {
		coffer_error_wrap("--kms-credentials %s", opts->kms_credentials);
		return rc;
	}
	struct coffer_kms_client_config cfg;
	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = opts->kms_url;
	cfg.region = opts->kms_region ? opts->kms_region : "local";
	cfg.access_key_id = akid;
	cfg.secret_access_key = coffer_slice_of(secret.ptr, secret.len);
	cfg.ca_file = opts->kms_ca;
	cfg.timeout_us = 3 * COFFER_US_PER_SEC;
	cfg.max_attempts = 2;
	cfg.backoff_base_us = 100000;
	cfg.backoff_max_us = 500000;
	rc = coffer_key_provider_remote(&cfg, &o->provider);
	free(akid);
	coffer_secret_free(&secret);
	if (rc != COFFER_OK)
		coffer_error_wrap("--kms %s", opts->kms_url);
	return rc;
}

static COFFER_RESULT open_embedded(struct coffer_offline *o)
{
	coffer_rc rc;
	o->kms_dir = coffer_path_join(o->data_dir, "kms");
	ENSURE(coffer_fs_exists(o->kms_dir), COFFER_E_NOT_FOUND,
	       "%s: no embedded KMS here (is %s cofferd's --data directory? With a remote KMS "
	       "give --kms URL --kms-credentials FILE)", o->kms_dir, o->data_dir);
	struct coffer_kms_config kcfg;
	coffer_kms_config_default(&kcfg);
	kcfg.data_dir = o->kms_dir;
	rc = coffer_kms_open(&kcfg, &o->kms);
	if (rc != COFFER_OK) {
		coffer_error_wrap("opening the embedded KMS (stop cofferd first: one engine at a time)");
		return rc;
	}
	o->provider = coffer_key_provider_embedded(o->kms);
	return COFFER_OK;
}

coffer_rc coffer_offline_open(const struct coffer_offline_opts *opts, struct coffer_offline **out)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_offline *o = COFFER_NEW(struct coffer_offline);
	o->data_dir = coffer_xstrdup(opts->data_dir);
	o->storage_dir = coffer_path_join(opts->data_dir, "data");
	ENSURE_FAIL(coffer_fs_exists(o->storage_dir), COFFER_E_NOT_FOUND,
		    "%s: no table data here (is %s cofferd's --data directory?)", o->storage_dir,
		    o->data_dir);
	if (opts->kms_url)
		TRY_FAIL(open_remote(o, opts));
	else
		TRY_FAIL(open_embedded(o));
	struct coffer_key_cache_config ccfg;
	memset(&ccfg, 0, sizeof(ccfg));
	o->cache = coffer_key_cache_new(&ccfg);
	o->scfg.data_dir = o->storage_dir;
	o->scfg.provider = o->provider;
	o->scfg.cache = o->cache;
	o->scfg.foreground = true;
	o->scfg.block_cache_bytes = 1u << 20;
	TRY_FAIL(coffer_db_catalog_load_readonly(o->data_dir, o->provider, &o->catalog));
	o->tables = o->catalog->tables;
	o->n_tables = o->catalog->n_tables;
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
	coffer_db_catalog_free(o->catalog);
	coffer_key_cache_free(o->cache);
	if (o->provider)
		coffer_key_provider_free(o->provider);
	coffer_kms_close(o->kms);
	free(o->data_dir);
	free(o->kms_dir);
	free(o->storage_dir);
	free(o);
}
