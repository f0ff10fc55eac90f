/* dbt_helper.c - see dbt_helper.h. */
#include "dbt_helper.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "schema/schema.h"
#include "util/alloc.h"

char *dbt_tmpdir(const char *tag)
{
	char *t = coffer_xasprintf("/tmp/coffer-db-%s-XXXXXX", tag);
	if (!mkdtemp(t))
		abort();
	return t;
}

void dbt_rmtree(const char *dir)
{
	char *cmd = coffer_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "rmtree %s failed\n", dir);
	free(cmd);
}

bool dbt_file_contains(const char *path, const char *needle)
{
	struct coffer_buf b = {0};
	bool found = false;
	if (coffer_fs_read_all(path, 1u << 28, &b) != COFFER_OK)
		fail_msg("cannot read %s", path);
	size_t n = strlen(needle);
	for (size_t i = 0; n && i + n <= b.len && !found; i++)
		found = memcmp(b.ptr + i, needle, n) == 0;
	coffer_buf_free(&b);
	return found;
}

static void on_schema_change(void *arg, const struct coffer_proto_schema_change *sc)
{
	struct dbt *e = arg;
	e->schema_events++;
	snprintf(e->last_event, sizeof(e->last_event), "%s %s %s%s%s", sc->change, sc->target, sc->keyspace,
		 sc->name ? " " : "", sc->name ? sc->name : "");
}

static void open_kms(struct dbt *e)
{
	char *kdir = coffer_xasprintf("%s/kms", e->dir);
	struct coffer_kms_config kc;
	coffer_kms_config_default(&kc);
	kc.data_dir = kdir;
	kc.fsync = false;
	kc.audit_fd = -2;
	kc.clock = &e->clock.clock;
	assert_int_equal(coffer_kms_open(&kc, &e->kms), COFFER_OK);
	free(kdir);
	assert_int_equal(coffer_kms_service_key(e->kms, e->svc_key), COFFER_OK);
	e->provider = coffer_key_provider_embedded(e->kms);
	struct coffer_key_cache_config cc = {.clock = &e->clock.clock};
	e->cache = coffer_key_cache_new(&cc);
}

static void close_kms(struct dbt *e)
{
	coffer_key_cache_free(e->cache);
	coffer_key_provider_free(e->provider);
	coffer_kms_close(e->kms);
	e->cache = NULL;
	e->provider = NULL;
	e->kms = NULL;
}

struct dbt *dbt_env(const char *tag)
{
	coffer_crypto_init(false);
	struct dbt *e = COFFER_NEW(struct dbt);
	e->dir = dbt_tmpdir(tag);
	coffer_manual_clock_init(&e->clock, 1764000000LL * COFFER_US_PER_SEC);
	open_kms(e);
	coffer_arena_init(&e->arena, 0);
	e->cfg = (struct coffer_db_config){
		.data_dir = e->dir,
		.provider = e->provider,
		.cache = e->cache,
		.service_key = e->svc_key,
		.clock = &e->clock.clock,
		.superuser_password = "pw",
		.cluster_name = "coffer",
		.data_center = "datacenter1",
		.rack = "rack1",
		.rpc_address = "127.0.0.1",
		.rpc_port = 9042,
		.password_iterations = 1000,
		.no_sync = true,
		.on_schema_change = on_schema_change,
		.on_schema_change_arg = e,
	};
	e->session.version = 4;
	e->session.user = "coffer";
	return e;
}

coffer_rc dbt_open(struct dbt *e)
{
	e->cfg.provider = e->provider;
	e->cfg.cache = e->cache;
	return coffer_db_open(&e->cfg, &e->db);
}

void dbt_close_db(struct dbt *e)
{
	coffer_db_close(e->db);
	e->db = NULL;
}

struct dbt *dbt_new(const char *tag)
{
	struct dbt *e = dbt_env(tag);
	coffer_rc rc = dbt_open(e);
	if (rc != COFFER_OK)
		fail_msg("db open: %s", coffer_error_msg());
	return e;
}

struct dbt *dbt_new_generated(const char *tag)
{
	struct dbt *e = dbt_env(tag);
	e->cfg.superuser_password = NULL;
	coffer_rc rc = dbt_open(e);
	if (rc != COFFER_OK)
		fail_msg("db open: %s", coffer_error_msg());
	return e;
}

void dbt_reopen(struct dbt *e)
{
	dbt_close_db(e);
	close_kms(e);
	open_kms(e);
	coffer_rc rc = dbt_open(e);
	if (rc != COFFER_OK)
		fail_msg("db reopen: %s", coffer_error_msg());
}

void dbt_free(struct dbt *e)
{
	dbt_close_db(e);
	close_kms(e);
	coffer_arena_free(&e->arena);
	coffer_buf_free(&e->frame);
	dbt_rmtree(e->dir);
	free(e->dir);
	free(e);
}

/* ---- keys ------------------------------------------------------------------------ */

void dbt_cmk(struct dbt *e, char arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	char *policy = coffer_xasprintf(
		"{\"Version\":\"2012-10-17\",\"Statement\":["
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},"
		"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"%s\"},\"Action\":[\"kms:Decrypt\",\"kms:Encrypt\","
		"\"kms:GenerateDataKey*\",\"kms:ReEncrypt*\",\"kms:DescribeKey\",\"kms:CreateGrant\"],\"Resource\":\"*\"}]}",
		coffer_kms_admin_principal(e->kms), coffer_kms_service_principal(e->kms));
	struct coffer_kms_create_key_req req = {.description = "db test cmk", .policy = policy};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(coffer_kms_create_key(e->kms, &admin, &req, &info), COFFER_OK);
	snprintf(arn, COFFER_KMS_ARN_MAX, "%s", info.arn);
	coffer_kms_key_info_free(&info);
	free(policy);
}

void dbt_key_disable(struct dbt *e, const char *arn)
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_disable_key(e->kms, &admin, arn), COFFER_OK);
}

void dbt_key_enable(struct dbt *e, const char *arn)
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	assert_int_equal(coffer_kms_enable_key(e->kms, &admin, arn), COFFER_OK);
}

void dbt_key_schedule_deletion(struct dbt *e, const char *arn)
{
	struct coffer_kms_caller admin = {.principal_arn = coffer_kms_admin_principal(e->kms)};
	struct coffer_kms_key_info info;
	memset(&info, 0, sizeof(info));
	assert_int_equal(coffer_kms_schedule_key_deletion(e->kms, &admin, arn, 7, &info), COFFER_OK);
	coffer_kms_key_info_free(&info);
}

/* ---- queries ------------------------------------------------------------------------ */

void dbt_request(struct coffer_proto_request *req, const char *cql)
{
	memset(req, 0, sizeof(*req));
	req->opcode = COFFER_PROTO_OP_QUERY;
	req->version = 4;
	req->stream = 7;
	req->u.query.query = coffer_slice_str(cql);
	req->u.query.params.consistency = COFFER_PROTO_CL_ONE;
	req->u.query.params.page_size = -1;
}

void dbt_query_values(struct dbt *e, const char *cql, const struct coffer_proto_value *values, size_t n,
		      struct coffer_proto_response *r)
{
	struct coffer_proto_request req;
	dbt_request(&req, cql);
	if (n) {
		req.u.query.params.flags |= COFFER_PROTO_QF_VALUES;
		req.u.query.params.values = values;
		req.u.query.params.n_values = (uint16_t)n;
	}
	coffer_buf_reset(&e->frame);
	coffer_arena_reset(&e->arena);
	coffer_db_handle(e->db, &e->session, &req, &e->frame);
	struct coffer_proto_config pc = {.expect_responses = true};
	struct coffer_proto_frame f;
	enum coffer_proto_status st;
	struct coffer_proto_err perr;
	assert_int_equal(coffer_proto_frame_decode(&pc, coffer_buf_slice(&e->frame), &f, &st, NULL, &perr), COFFER_OK);
	assert_int_equal(st, COFFER_PROTO_COMPLETE);
	assert_int_equal(f.size, e->frame.len);
	assert_int_equal(f.hdr.stream, 7);
	memset(r, 0, sizeof(*r));
	if (coffer_proto_response_decode(&f, &e->arena, r, &perr) != COFFER_OK)
		fail_msg("response to [%s] does not decode: %s", cql, coffer_error_msg());
}

void dbt_query(struct dbt *e, const char *cql, struct coffer_proto_response *r)
{
	dbt_query_values(e, cql, NULL, 0, r);
}

int dbt_ok(struct dbt *e, const char *cql)
{
	struct coffer_proto_response r;
	dbt_query(e, cql, &r);
	if (r.opcode != COFFER_PROTO_OP_RESULT)
		fail_msg("[%s] failed: 0x%04x %s", cql, r.u.error.code, r.u.error.message);
	return r.u.result.kind;
}

void dbt_err(struct dbt *e, const char *cql, uint32_t code, const char *substr)
{
	struct coffer_proto_response r;
	dbt_query(e, cql, &r);
	if (r.opcode != COFFER_PROTO_OP_ERROR)
		fail_msg("[%s] succeeded; expected error 0x%04x", cql, code);
	if (r.u.error.code != code)
		fail_msg("[%s]: error 0x%04x (%s); expected 0x%04x", cql, r.u.error.code, r.u.error.message, code);
	if (substr && !strstr(r.u.error.message, substr))
		fail_msg("[%s]: message \"%s\" lacks \"%s\"", cql, r.u.error.message, substr);
}

/* ---- rendering ------------------------------------------------------------------------ */

static void render_value(const struct coffer_proto_type *t, struct coffer_slice v, struct coffer_buf *out);

static void render_collection(const struct coffer_proto_type *t, struct coffer_slice v, struct coffer_buf *out)
{
	struct coffer_reader r;
	uint32_t n;
	bool map = t->id == COFFER_PROTO_TYPE_MAP;
	coffer_reader_init(&r, v, "collection");
	assert_int_equal(coffer_reader_u32(&r, &n), COFFER_OK);
	coffer_buf_put(out, t->id == COFFER_PROTO_TYPE_LIST ? "[" : "{", 1);
	for (uint32_t i = 0; i < n; i++) {
		for (int k = 0; k < (map ? 2 : 1); k++) {
			uint32_t len;
			struct coffer_slice e;
			assert_int_equal(coffer_reader_u32(&r, &len), COFFER_OK);
			assert_int_equal(coffer_reader_bytes(&r, len, &e), COFFER_OK);
			if (k == 1)
				coffer_buf_put(out, ":", 1);
			else if (i)
				coffer_buf_put(out, ",", 1);
			render_value(&t->sub[map ? k : 0], e, out);
		}
	}
	assert_true(coffer_reader_done(&r));
	coffer_buf_put(out, t->id == COFFER_PROTO_TYPE_LIST ? "]" : "}", 1);
}

static void render_value(const struct coffer_proto_type *t, struct coffer_slice v, struct coffer_buf *out)
{
	switch (t->id) {
	case COFFER_PROTO_TYPE_VARCHAR:
	case COFFER_PROTO_TYPE_ASCII:
		coffer_buf_put(out, v.ptr, v.len);
		return;
	case COFFER_PROTO_TYPE_INT:
		assert_int_equal(v.len, 4);
		coffer_buf_printf(out, "%d", (int32_t)coffer_load_u32(v.ptr));
		return;
	case COFFER_PROTO_TYPE_BIGINT:
	case COFFER_PROTO_TYPE_TIMESTAMP:
		assert_int_equal(v.len, 8);
		coffer_buf_printf(out, "%lld", (long long)(int64_t)coffer_load_u64(v.ptr));
		return;
	case COFFER_PROTO_TYPE_BOOLEAN:
		assert_int_equal(v.len, 1);
		coffer_buf_printf(out, "%s", v.ptr[0] ? "true" : "false");
		return;
	case COFFER_PROTO_TYPE_DOUBLE: {
		assert_int_equal(v.len, 8);
		uint64_t u = coffer_load_u64(v.ptr);
		double d;
		memcpy(&d, &u, 8);
		coffer_buf_printf(out, "%g", d);
		return;
	}
	case COFFER_PROTO_TYPE_UUID:
	case COFFER_PROTO_TYPE_TIMEUUID: {
		char s[COFFER_UUID_STR_LEN + 1];
		assert_int_equal(v.len, 16);
		coffer_uuid_format(v.ptr, s);
		coffer_buf_printf(out, "%s", s);
		return;
	}
	case COFFER_PROTO_TYPE_INET: {
		char s[64];
		assert_true(v.len == 4 || v.len == 16);
		inet_ntop(v.len == 4 ? AF_INET : AF_INET6, v.ptr, s, sizeof(s));
		coffer_buf_printf(out, "%s", s);
		return;
	}
	case COFFER_PROTO_TYPE_LIST:
	case COFFER_PROTO_TYPE_SET:
	case COFFER_PROTO_TYPE_MAP:
		render_collection(t, v, out);
		return;
	default: {
		char *h = coffer_hex_encode(v.ptr, v.len);
		coffer_buf_printf(out, "0x%s", h);
		free(h);
	}
	}
}

const char *dbt_render(struct dbt *e, const struct coffer_proto_response *r)
{
	static struct coffer_buf out;
	coffer_buf_reset(&out);
	assert_int_equal(r->opcode, COFFER_PROTO_OP_RESULT);
	assert_int_equal(r->u.result.kind, COFFER_PROTO_RESULT_ROWS);
	const struct coffer_proto_metadata *md = &r->u.result.metadata;
	struct coffer_reader rd;
	coffer_reader_init(&rd, r->u.result.rows_content, "rows");
	for (int32_t i = 0; i < r->u.result.rows_count; i++) {
		for (int32_t c = 0; c < md->n_columns; c++) {
			uint32_t len;
			struct coffer_slice v;
			if (c)
				coffer_buf_put(&out, "|", 1);
			assert_int_equal(coffer_reader_u32(&rd, &len), COFFER_OK);
			if ((int32_t)len < 0) {
				coffer_buf_put(&out, "null", 4);
				continue;
			}
			assert_int_equal(coffer_reader_bytes(&rd, len, &v), COFFER_OK);
			render_value(md->columns[c].type, v, &out);
		}
		coffer_buf_put(&out, "\n", 1);
	}
	assert_true(coffer_reader_done(&rd));
	(void)e;
	return coffer_buf_cstr(&out);
}

const char *dbt_rows(struct dbt *e, const char *cql)
{
	struct coffer_proto_response r;
	dbt_query(e, cql, &r);
	if (r.opcode != COFFER_PROTO_OP_RESULT)
		fail_msg("[%s] failed: 0x%04x %s", cql, r.u.error.code, r.u.error.message);
	return dbt_render(e, &r);
}

static void type_text(const struct coffer_proto_type *t, struct coffer_buf *out)
{
	static const struct {
		uint16_t id;
		const char *name;
	} names[] = {
		{COFFER_PROTO_TYPE_ASCII, "ascii"},   {COFFER_PROTO_TYPE_BIGINT, "bigint"},
		{COFFER_PROTO_TYPE_BLOB, "blob"},     {COFFER_PROTO_TYPE_BOOLEAN, "boolean"},
		{COFFER_PROTO_TYPE_DOUBLE, "double"}, {COFFER_PROTO_TYPE_INT, "int"},
		{COFFER_PROTO_TYPE_TIMESTAMP, "timestamp"}, {COFFER_PROTO_TYPE_UUID, "uuid"},
		{COFFER_PROTO_TYPE_VARCHAR, "text"},  {COFFER_PROTO_TYPE_INET, "inet"},
		{COFFER_PROTO_TYPE_LIST, "list"},     {COFFER_PROTO_TYPE_SET, "set"},
		{COFFER_PROTO_TYPE_MAP, "map"},
	};
	const char *n = "?";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].id == t->id)
			n = names[i].name;
	coffer_buf_printf(out, "%s", n);
	if (t->n) {
		coffer_buf_put(out, "<", 1);
		for (uint16_t i = 0; i < t->n; i++) {
			if (i)
				coffer_buf_put(out, ", ", 2);
			type_text(&t->sub[i], out);
		}
		coffer_buf_put(out, ">", 1);
	}
}

const char *dbt_columns(struct dbt *e, const struct coffer_proto_response *r)
{
	static struct coffer_buf out;
	coffer_buf_reset(&out);
	const struct coffer_proto_metadata *md = &r->u.result.metadata;
	for (int32_t c = 0; c < md->n_columns; c++) {
		if (c)
			coffer_buf_put(&out, ",", 1);
		coffer_buf_printf(&out, "%s:", md->columns[c].name);
		type_text(md->columns[c].type, &out);
	}
	(void)e;
	return coffer_buf_cstr(&out);
}
