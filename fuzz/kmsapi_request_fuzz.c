/*
 * kmsapi_request_fuzz.c - libFuzzer target for the KMS API's request path:
 * HTTP request line and headers as evhttp hands them over, SigV4 parsing and
 * canonicalisation (URI, query, headers), and the JSON request mapping of
 * every operation, all through coffer_kmsapi_handle() on a real engine.
 *
 * Input layout:
 *   OFFSET  SIZE  MEANING
 *   0       1     flags: bit 0 = sign the request with a valid key (so the
 *                 JSON layer is reached), bit 1 = sign 10 minutes in the past
 *   1       ...   "METHOD URI\n" then "Name: value\n" lines, then "\n", then
 *                 the body (everything after the first empty line)
 *
 * Checked on every input: the reply status is 200, 400, 413 or 500 and the
 * reply body is one JSON object (never a crash, never a malformed reply).
 *
 * The engine lives in a temporary directory created on the first input, with
 * fsync off, no audit log and no quota. COFFER_FUZZ_ENTRY lets the unit test
 * fuzz_request_smoke_test.c include this file and call the entry directly.
 */
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "kmsapi/kmsapi_internal.h"
#include "util/alloc.h"

#ifndef COFFER_FUZZ_ENTRY
#define COFFER_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size);

#define FUZZ_MAX_HEADERS 32

static struct {
	bool ready;
	char dir[64];
	struct coffer_kms *kms;
	struct coffer_kmsapi api;
	struct coffer_kms_access_key key;
} fz;

/* The engine's files (seal key, store, lock) live in a temporary directory
 * that goes when the process exits, fuzzing run or smoke test alike. */
static void fuzz_cleanup(void)
{
	static const char *const files[] = {"seal.key", "store.log", "kms.lock", "audit.log"};
	char path[128];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fz.dir, files[i]);
		unlink(path);
	}
	rmdir(fz.dir);
}

static void fuzz_init(void)
{
	struct coffer_kms_config cfg;
	struct coffer_kms_key_info info = {0};
	struct coffer_kms_caller admin = {0};

	coffer_crypto_init(false);
	snprintf(fz.dir, sizeof(fz.dir), "/tmp/coffer-fuzz-kmsapi-XXXXXX");
	if (!mkdtemp(fz.dir))
		abort();
	atexit(fuzz_cleanup);
	coffer_kms_config_default(&cfg);
	cfg.data_dir = fz.dir;
	cfg.audit_fd = -2;
	cfg.fsync = false;
	cfg.quota_rate = 0;
	if (coffer_kms_open(&cfg, &fz.kms) != COFFER_OK ||
	    coffer_kms_principal_create(fz.kms, "fuzz", &fz.key) != COFFER_OK)
		abort();
	admin.principal_arn = coffer_kms_admin_principal(fz.kms);
	if (coffer_kms_create_key(fz.kms, &admin, &(struct coffer_kms_create_key_req){0}, &info) !=
		    COFFER_OK ||
	    coffer_kms_create_alias(fz.kms, &admin, "alias/fuzz", info.key_id) != COFFER_OK)
		abort();
	coffer_kms_key_info_free(&info);
	coffer_kmsapi_init(&fz.api, fz.kms, NULL, NULL, NULL);
	fz.ready = true;
}

/* Splits off one line (without '\n') from [*p, end). */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p = nl ? nl + 1 : end;
	return true;
}

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	struct coffer_http_header h[FUZZ_MAX_HEADERS + 4];
	char *strings[2 * FUZZ_MAX_HEADERS + 8];
	size_t n_strings = 0, n = 0, len;
	struct coffer_http_request req;
	struct coffer_http_response resp;
	char *text, *method, *uri, date[17];
	const char *p, *end, *line;
	uint8_t flags;
	json_t *j;

	if (!fz.ready)
		fuzz_init();
	if (size < 1 || size > 64 * 1024)
		return 0;
	flags = data[0];
	/* a NUL-terminated copy (headers with NULs end there, as C strings do) */
	text = coffer_xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	p = text;
	end = text + (size - 1);
	memset(&req, 0, sizeof(req));

	/* request line */
	if (!next_line(&p, end, &line, &len))
		len = 0, line = p;
	{
		const char *sp = memchr(line, ' ', len);

		method = coffer_xstrndup(line, sp ? (size_t)(sp - line) : len);
		uri = coffer_xstrndup(sp ? sp + 1 : "/", sp ? len - (size_t)(sp + 1 - line) : 1);
	}
	strings[n_strings++] = method;
	strings[n_strings++] = uri;
	/* headers until an empty line */
	while (n < FUZZ_MAX_HEADERS && next_line(&p, end, &line, &len) && len > 0) {
		const char *colon = memchr(line, ':', len);
		char *name, *value;

		if (!colon)
			continue;
		name = coffer_xstrndup(line, (size_t)(colon - line));
		value = coffer_xstrndup(colon + 1, len - (size_t)(colon + 1 - line));
		strings[n_strings++] = name;
		strings[n_strings++] = value;
		h[n++] = (struct coffer_http_header){name, value};
	}
	req.method = method;
	req.uri = uri;
	req.headers = h;
	req.body = coffer_slice_of(p, (size_t)(end - p));

	if (flags & 1) {
		int64_t now = coffer_clock_now_us(coffer_clock_system());
		uint8_t k[32];
		char date8[9], *auth;

		if (flags & 2)
			now -= 600 * COFFER_US_PER_SEC;
		coffer_sigv4_format_amz_date(now, date);
		memcpy(date8, date, 8);
		date8[8] = '\0';
		req.n_headers = n;
		if (!coffer_http_header_get(&req, "host"))
			h[n++] = (struct coffer_http_header){"Host", "127.0.0.1:1"};
		if (!coffer_http_header_get(&req, "x-amz-target"))
			h[n++] = (struct coffer_http_header){"X-Amz-Target", "TrentService.ListKeys"};
		h[n++] = (struct coffer_http_header){"X-Amz-Date", date};
		req.n_headers = n;
		coffer_sigv4_derive_key(coffer_slice_of(fz.key.secret.ptr, fz.key.secret.len), date8,
					"local", "kms", k);
		auth = coffer_sigv4_sign(&req, k, fz.key.access_key_id, date, "local", "kms",
					 "host;x-amz-date;x-amz-target");
		if (auth) {
			strings[n_strings++] = auth;
			h[n++] = (struct coffer_http_header){"Authorization", auth};
		}
	}
	req.n_headers = n;

	coffer_kmsapi_handle(&fz.api, &req, &resp);
	if (resp.status != 200 && resp.status != 400 && resp.status != 413 && resp.status != 500)
		abort();
	j = json_loadb((const char *)resp.body.ptr, resp.body.len, 0, NULL);
	if (!j || !json_is_object(j))
		abort();
	if (resp.status != 200 && !json_is_string(json_object_get(j, "__type")))
		abort();
	json_decref(j);
	coffer_http_response_free(&resp);
	for (size_t i = 0; i < n_strings; i++)
		free(strings[i]);
	free(text);
	return 0;
}
