/* storage_helper.c - see storage_helper.h. */
#include "storage_helper.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/fs.h"

char *test_tmpdir(const char *tag)
{
	char *t = coffer_xasprintf("/tmp/coffer-%s-XXXXXX", tag);
	if (!mkdtemp(t))
		abort();
	return t;
}

void rmtree(const char *dir)
{
	char *cmd = coffer_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "rmtree %s failed\n", dir);
	free(cmd);
}

void senv_new_cmk(struct senv *e, char arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	char *policy = coffer_xasprintf(
		"{\"Version\":\"2012-10-17\",\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":[\"kms:Decrypt\",\"kms:GenerateDataKey\",\"kms:DescribeKey\"],\"Resource\":\"*\"}]}",
		coffer_kms_admin_principal(e->kms), coffer_kms_service_principal(e->kms));
	struct coffer_kms_create_key_req req = {.description = "test cmk", .policy = policy};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(coffer_kms_create_key(e->kms, &admin, &req, &info), COFFER_OK);
	snprintf(arn, COFFER_KMS_ARN_MAX, "%s", info.arn);
	coffer_kms_key_info_free(&info);
	free(policy);
}

struct senv *senv_new(const char *tag)
{
	return senv_at(test_tmpdir(tag), true);
}

struct senv *senv_at(char *dir, bool fresh)
{
	coffer_crypto_init(false);
	struct senv *e = COFFER_NEW(struct senv);
	e->dir = dir;
	e->keep_dir = !fresh;
	char *kdir = coffer_xasprintf("%s/kms", e->dir);
	struct coffer_kms_config kc;
	coffer_kms_config_default(&kc);
	kc.data_dir = kdir;
	kc.fsync = !fresh;
	kc.audit_fd = -2;
	assert_int_equal(coffer_kms_open(&kc, &e->kms), COFFER_OK);
	free(kdir);
	assert_int_equal(coffer_kms_service_key(e->kms, e->svc_key), COFFER_OK);
	if (fresh)
		senv_new_cmk(e, e->cmk);
	e->provider = coffer_key_provider_embedded(e->kms);
	coffer_manual_clock_init(&e->clock, 1764000000LL * COFFER_US_PER_SEC);
	struct coffer_key_cache_config cc = {.clock = &e->clock.clock};
	e->cache = coffer_key_cache_new(&cc);
	e->fault = coffer_vfs_fault_new();
	char *data = coffer_xasprintf("%s/data", e->dir);
	e->cfg = (struct coffer_storage_config){
		.data_dir = data,
		.provider = e->provider,
		.cache = e->cache,
		.vfs = coffer_vfs_fault_vfs(e->fault),
		.clock = &e->clock.clock,
		.memtable_bytes = 1 << 20,
		.segment_bytes = 1 << 20,
		.block_bytes = 4096,
		.foreground = true,
	};
	e->desc = (struct coffer_table_desc){
		.keyspace = "ks",
		.name = "t",
		.table_id = "5a1f0c2e-7d3b-4c8a-9e6f-0b1c2d3e4f50",
		.schema = {.n_partition = 1, .n_clustering = 2,
			   .clustering = {{COFFER_TYPE_INT, false}, {COFFER_TYPE_TEXT, true}}},
	};
	return e;
}

void senv_free(struct senv *e)
{
	coffer_key_cache_free(e->cache);
	coffer_key_provider_free(e->provider);
	coffer_kms_close(e->kms);
	coffer_vfs_fault_free(e->fault);
	if (!e->keep_dir)
		rmtree(e->dir);
	free((char *)e->cfg.data_dir);
	free(e->dir);
	free(e);
}

struct coffer_table *senv_create(struct senv *e)
{
	struct coffer_table *t = NULL;
	coffer_rc rc = coffer_table_create(&e->cfg, &e->desc, e->svc_key, &t);
	if (rc != COFFER_OK)
		fail_msg("create: %s", coffer_error_msg());
	return t;
}

struct coffer_table *senv_open(struct senv *e)
{
	struct coffer_table *t = NULL;
	coffer_rc rc = coffer_table_open(&e->cfg, &e->desc, &t);
	if (rc != COFFER_OK)
		fail_msg("open: %s (%s)", coffer_error_msg(), coffer_rc_name(rc));
	return t;
}

struct coffer_slice be32(int32_t v, uint8_t buf[4])
{
	coffer_store_u32(buf, (uint32_t)v);
	return coffer_slice_of(buf, 4);
}

void put(struct coffer_table *t, const char *pk, int32_t ck0, const char *ck1, uint32_t col,
	 const char *value, int64_t ts, uint32_t ttl)
{
	uint8_t b[4];
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_slice ck[2] = {be32(ck0, b), coffer_slice_str(ck1)};
	struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
	coffer_mutation_set(m, ck, 2, col, coffer_slice_str(value), ts, ttl);
	coffer_rc rc = coffer_table_apply(t, &m, 1);
	if (rc != COFFER_OK)
		fail_msg("apply: %s", coffer_error_msg());
	coffer_mutation_free(m);
}

static bool render_fn(void *arg, const struct coffer_row_view *r)
{
	struct coffer_buf *b = arg;
	coffer_buf_printf(b, "%.*s:", (int)r->partition_key.len, (const char *)r->partition_key.ptr);
	if (r->is_static) {
		coffer_buf_printf(b, "S");
	} else {
		for (size_t i = 0; i < r->n_ck; i++) {
			if (i)
				coffer_buf_printf(b, ",");
			if (i == 0 && r->ck[0].len == 4)
				coffer_buf_printf(b, "%d", (int32_t)coffer_load_u32(r->ck[0].ptr));
			else
				coffer_buf_printf(b, "%.*s", (int)r->ck[i].len, (const char *)r->ck[i].ptr);
		}
	}
	coffer_buf_printf(b, ":");
	for (size_t i = 0; i < r->n_cells; i++)
		coffer_buf_printf(b, "%s%u=%.*s", i ? "," : "", r->cells[i].column,
				  (int)r->cells[i].value.len, (const char *)r->cells[i].value.ptr);
	coffer_buf_printf(b, "\n");
	return true;
}

char *render(struct coffer_table *t, const struct coffer_read *q)
{
	struct coffer_read all = {0};
	struct coffer_buf b = {0};
	struct coffer_read_result res = {0};
	coffer_rc rc = coffer_table_read(t, q ? q : &all, render_fn, &b, &res);
	if (rc != COFFER_OK)
		fail_msg("read: %s", coffer_error_msg());
	coffer_buf_free(&res.cursor);
	char *s = coffer_xstrdup(b.len ? coffer_buf_cstr(&b) : "");
	coffer_buf_free(&b);
	return s;
}

char *render_partition(struct coffer_table *t, const char *pk)
{
	struct coffer_slice p = coffer_slice_str(pk);
	struct coffer_read q = {.partitions = &p, .n_partitions = 1};
	return render(t, &q);
}

int scan_tree(const char *dir, const char *needle, int *files)
{
	int hits = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = coffer_path_join(dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			hits += scan_tree(p, needle, files);
		} else if (S_ISREG(st.st_mode)) {
			struct coffer_buf b = {0};
			if (coffer_fs_read_all(p, 1 << 30, &b) == COFFER_OK && b.len) {
				(*files)++;
				if (memmem(b.ptr, b.len, needle, strlen(needle)))
					hits++;
			}
			coffer_buf_free(&b);
		}
		free(p);
	}
	if (d)
		closedir(d);
	return hits;
}
