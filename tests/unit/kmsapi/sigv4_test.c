/*
 * sigv4_test.c - SigV4 (sigv4.c) against published and reference vectors, and
 * server-side verification against a real engine:
 *  - the signing-key derivation example of the AWS General Reference
 *    ("Examples of how to derive a signing key", secret wJalr...EXAMPLEKEY,
 *    20120215/us-east-1/iam -> f4780e2d...);
 *  - "get-vanilla" of the AWS SigV4 test suite (signature 5fa00fa3...);
 *  - a KMS ListKeys request and a path/query/header normalisation case, both
 *    signed by botocore 1.29 (SigV4Auth with a fixed clock) for reference;
 *  - Authorization header parsing, canonicalisation and date parsing, with
 *    the malformed cases;
 *  - coffer_sigv4_verify: success names the principal; a tampered body, a
 *    wrong secret, skew beyond 5 minutes either way, another region or
 *    service, a scope date that is not the request date, a missing signed
 *    header, a mismatching x-amz-content-sha256, an unknown access key and a
 *    missing Authorization header each fail with the AWS error name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "kmsapi/kmsapi_internal.h"
#include "util/alloc.h"

static const char *const example_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

static void test_derive_key_aws_example(void **state)
{
	uint8_t k[32];
	char *hex;

	coffer_sigv4_derive_key(coffer_slice_str(example_secret), "20120215", "us-east-1", "iam", k);
	hex = coffer_hex_encode(k, 32);
	assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
	free(hex);
}

static char *sign_with(const struct coffer_http_request *req, const char *region,
		       const char *service, const char *signed_headers)
{
	uint8_t k[32];

	coffer_sigv4_derive_key(coffer_slice_str(example_secret), "20150830", region, service, k);
	return coffer_sigv4_sign(req, k, "AKIDEXAMPLE", "20150830T123600Z", region, service,
				 signed_headers);
}

static void test_get_vanilla(void **state)
{
	struct coffer_http_header h[] = {{"Host", "example.amazonaws.com"},
					 {"X-Amz-Date", "20150830T123600Z"}};
	struct coffer_http_request req = {"GET", "/", h, 2, {NULL, 0}};
	char *auth = sign_with(&req, "us-east-1", "service", "host;x-amz-date");

	assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
				  "service/aws4_request, SignedHeaders=host;x-amz-date, "
				  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	free(auth);
}

static void test_kms_request_botocore(void **state)
{
	struct coffer_http_header h[] = {{"Content-Type", "application/x-amz-json-1.1"},
					 {"X-Amz-Target", "TrentService.ListKeys"},
					 {"Host", "127.0.0.1:9000"},
					 {"X-Amz-Date", "20150830T123600Z"}};
	struct coffer_http_request req = {"POST", "/", h, 4, {(const uint8_t *)"{}", 2}};
	char *auth = sign_with(&req, "local", "kms", "content-type;host;x-amz-date;x-amz-target");

	assert_non_null(strstr(auth, "Signature=148ab2ac350e006a9623f1e709795ca1bb8992c2305769c9c0ab83b4617d9c2b"));
	free(auth);
}

static void test_normalisation_botocore(void **state)
{
	struct coffer_http_header h[] = {{"Host", "example.amazonaws.com"},
					 {"My-Header1", "  a   b  c "},
					 {"X-Amz-Date", "20150830T123600Z"}};
	struct coffer_http_request req = {"GET", "/a/./b/../c%20d//e?b=2&a=x%2Fy&a=1&z", h, 3,
					  {NULL, 0}};
	struct coffer_buf creq = {0};
	char *auth;

	assert_int_equal(coffer_sigv4_canonical_request(
				 &req, "host;my-header1;x-amz-date",
				 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				 &creq),
			 COFFER_OK);
	assert_string_equal(coffer_buf_cstr(&creq),
			    "GET\n/a/c%2520d/e\na=1&a=x%2Fy&b=2&z=\nhost:example.amazonaws.com\n"
			    "my-header1:a b c\nx-amz-date:20150830T123600Z\n\n"
			    "host;my-header1;x-amz-date\n"
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	coffer_buf_free(&creq);
	auth = sign_with(&req, "us-east-1", "service", "host;my-header1;x-amz-date");
	assert_non_null(strstr(auth, "Signature=c31ede1d351e53588c464a9d7d56ad6ee7b228204053b08a96e6dc32cded4e5d"));
	free(auth);
}

static void test_canonical_pieces(void **state)
{
	struct coffer_buf b = {0};
	struct coffer_http_header h[] = {{"host", "x"}, {"X-Dup", "1"}, {"x-dup", " 2 "}};
	struct coffer_http_request req = {"POST", "/", h, 3, {NULL, 0}};
	static const char *const bad_lists[] = {"x-dup;host", "Host", "host;", "host;;x-dup",
						"host;missing", "", "host;host"};

	coffer_sigv4_canonical_uri("", 0, &b);
	assert_string_equal(coffer_buf_cstr(&b), "/");
	coffer_buf_reset(&b);
	coffer_sigv4_canonical_uri("/../..//", 8, &b);
	assert_string_equal(coffer_buf_cstr(&b), "/");
	coffer_buf_reset(&b);
	coffer_sigv4_canonical_uri("/x y/é~", strlen("/x y/é~"), &b);
	assert_string_equal(coffer_buf_cstr(&b), "/x%20y/%C3%A9~");
	coffer_buf_reset(&b);
	assert_int_equal(coffer_sigv4_canonical_query("a=%zz", 5, &b), COFFER_E_SYNTAX);
	assert_int_equal(coffer_sigv4_canonical_query("a=%2", 4, &b), COFFER_E_SYNTAX);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_sigv4_canonical_query("&&b=%41&a", 9, &b), COFFER_OK);
	assert_string_equal(coffer_buf_cstr(&b), "a=&b=A");
	coffer_buf_reset(&b);

	assert_int_equal(coffer_sigv4_canonical_request(&req, "host;x-dup", "00", &b), COFFER_OK);
	assert_string_equal(coffer_buf_cstr(&b), "POST\n/\n\nhost:x\nx-dup:1,2\n\nhost;x-dup\n00");
	for (size_t i = 0; i < COFFER_ARRAY_LEN(bad_lists); i++) {
		coffer_buf_reset(&b);
		assert_int_equal(coffer_sigv4_canonical_request(&req, bad_lists[i], "00", &b),
				 COFFER_E_SYNTAX);
	}
	coffer_buf_free(&b);
}

static void test_parse_authorization(void **state)
{
	struct coffer_sigv4_auth a;
	const char *sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
	char good[512], v[512];
	static const char *const bad[] = {
		"",
		"AWS4-HMAC-SHA1 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=@",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s, SignedHeaders=host, Signature=@",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request/x, SignedHeaders=host, Signature=@",
		"AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request, SignedHeaders=host, Signature=@",
		"AWS4-HMAC-SHA256 Credential=/20150830/r/s/aws4_request, SignedHeaders=host, Signature=@",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Signature=@",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31a",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=@, Extra=1",
		"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=@, Signature=@",
		"AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=@",
		/* one element, split over two lines (parenthesised: clang warns otherwise) */
		("AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
		 "Signature=zz00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
	};

	snprintf(good, sizeof(good),
		 "AWS4-HMAC-SHA256 Credential=AKID/20150830/local/kms/aws4_request,"
		 "SignedHeaders=host;x-amz-date,   Signature=%s",
		 sig);
	assert_int_equal(coffer_sigv4_parse_authorization(good, &a), COFFER_OK);
	assert_string_equal(a.access_key_id, "AKID");
	assert_string_equal(a.date8, "20150830");
	assert_string_equal(a.region, "local");
	assert_string_equal(a.service, "kms");
	assert_string_equal(a.signed_headers, "host;x-amz-date");
	assert_int_equal(a.signature[0], 0x5f);
	for (size_t i = 0; i < COFFER_ARRAY_LEN(bad); i++) {
		size_t o = 0;

		/* '@' stands for a valid signature */
		for (const char *p = bad[i]; *p && o + 65 < sizeof(v); p++) {
			if (*p == '@') {
				memcpy(v + o, sig, 64);
				o += 64;
			} else {
				v[o++] = *p;
			}
		}
		v[o] = '\0';
		assert_int_equal(coffer_sigv4_parse_authorization(v, &a), COFFER_E_SYNTAX);
	}
}

static void test_amz_date(void **state)
{
	int64_t us;
	char s[17];
	static const char *const bad[] = {"", "20150830T123600", "20150830 123600Z",
					  "2015083aT123600Z", "20151330T123600Z", "20150830T253600Z",
					  "20150830T123600Z0"};

	assert_int_equal(coffer_sigv4_parse_amz_date("20150830T123600Z", &us), COFFER_OK);
	assert_int_equal(us, INT64_C(1440938160) * COFFER_US_PER_SEC);
	coffer_sigv4_format_amz_date(us, s);
	assert_string_equal(s, "20150830T123600Z");
	for (size_t i = 0; i < COFFER_ARRAY_LEN(bad); i++)
		assert_int_equal(coffer_sigv4_parse_amz_date(bad[i], &us), COFFER_E_SYNTAX);
}

/* ---- verification against an engine -------------------------------------- */

struct env {
	char dir[64];
	struct coffer_manual_clock clk;
	struct coffer_kms *kms;
	struct coffer_kms_access_key key;
};

static int env_setup(void **state)
{
	struct env *e = COFFER_NEW(struct env);
	struct coffer_kms_config cfg;

	snprintf(e->dir, sizeof(e->dir), "/tmp/coffer-sigv4-test-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	coffer_manual_clock_init(&e->clk, INT64_C(1440938160) * COFFER_US_PER_SEC);
	coffer_kms_config_default(&cfg);
	cfg.data_dir = e->dir;
	cfg.clock = &e->clk.clock;
	cfg.audit_fd = -2;
	cfg.fsync = false;
	assert_int_equal(coffer_kms_open(&cfg, &e->kms), COFFER_OK);
	assert_int_equal(coffer_kms_principal_create(e->kms, "alice", &e->key), COFFER_OK);
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	coffer_kms_access_key_free(&e->key);
	coffer_kms_close(e->kms);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* A signed KMS request; fields can be altered after signing. */
struct signed_req {
	struct coffer_http_header h[6];
	struct coffer_http_request req;
	char date[17];
	char *auth;
};

static void make_signed(struct env *e, struct signed_req *s, int64_t when_us, const char *region,
			const char *service, const char *body, const char *signed_headers,
			const char *secret)
{
	uint8_t k[32];
	char date8[9];

	coffer_sigv4_format_amz_date(when_us, s->date);
	memcpy(date8, s->date, 8);
	date8[8] = '\0';
	s->h[0] = (struct coffer_http_header){"Host", "127.0.0.1:1234"};
	s->h[1] = (struct coffer_http_header){"X-Amz-Date", s->date};
	s->h[2] = (struct coffer_http_header){"X-Amz-Target", "TrentService.ListKeys"};
	s->h[3] = (struct coffer_http_header){"Content-Type", "application/x-amz-json-1.1"};
	s->req = (struct coffer_http_request){"POST", "/", s->h, 4, coffer_slice_str(body)};
	if (secret)
		coffer_sigv4_derive_key(coffer_slice_str(secret), date8, region, service, k);
	else
		coffer_sigv4_derive_key(coffer_slice_of(e->key.secret.ptr, e->key.secret.len), date8,
					region, service, k);
	s->auth = coffer_sigv4_sign(&s->req, k, e->key.access_key_id, s->date, region, service,
				    signed_headers);
	assert_non_null(s->auth);
	s->h[4] = (struct coffer_http_header){"Authorization", s->auth};
	s->req.n_headers = 5;
}

static const char *verify(struct env *e, struct signed_req *s, coffer_rc want)
{
	static struct coffer_sigv4_verified v;
	coffer_rc rc = coffer_sigv4_verify(e->kms, &s->req, coffer_clock_now_us(&e->clk.clock),
					   "local", "kms", &v);

	if (rc != want)
		fprintf(stderr, "verify: %s (%s)\n", coffer_rc_name(rc), coffer_error_msg());
	assert_int_equal(rc, want);
	free(s->auth);
	s->auth = NULL;
	return rc == COFFER_OK ? v.principal_arn : v.error_name;
}

#define ALL_HEADERS "content-type;host;x-amz-date;x-amz-target"

static void test_verify(void **state)
{
	struct env *e = *state;
	int64_t now = coffer_clock_now_us(&e->clk.clock);
	struct signed_req s;
	const char *r;

	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	assert_string_equal(verify(e, &s, COFFER_OK), e->key.principal_arn);

	/* 4 minutes of skew either way is fine */
	make_signed(e, &s, now - 4 * 60 * COFFER_US_PER_SEC, "local", "kms", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_OK);
	make_signed(e, &s, now + 4 * 60 * COFFER_US_PER_SEC, "local", "kms", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_OK);

	/* tampered body */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.req.body = coffer_slice_str("{\"Limit\":1}");
	assert_string_equal(verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE), "InvalidSignatureException");
	/* tampered signed header */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[2].value = "TrentService.CreateKey";
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* wrong secret */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, example_secret);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* stale and future dates */
	make_signed(e, &s, now - 6 * 60 * COFFER_US_PER_SEC, "local", "kms", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	assert_non_null(strstr(coffer_error_msg(), "Signature expired"));
	make_signed(e, &s, now + 6 * 60 * COFFER_US_PER_SEC, "local", "kms", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	assert_non_null(strstr(coffer_error_msg(), "not yet current"));
	/* scope: region, service */
	make_signed(e, &s, now, "us-east-1", "kms", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	make_signed(e, &s, now, "local", "s3", "{}", ALL_HEADERS, NULL);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* scope date differs from X-Amz-Date's */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[1].value = "20150831T000100Z";
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* x-amz-target not signed */
	make_signed(e, &s, now, "local", "kms", "{}", "content-type;host;x-amz-date", NULL);
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* x-amz-content-sha256 that does not match the body */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[5] = (struct coffer_http_header){"X-Amz-Content-Sha256", "00"};
	s.req.n_headers = 6;
	verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE);
	/* ...and one that does */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[5] = (struct coffer_http_header){
		"x-amz-content-sha256", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"};
	s.req.n_headers = 6;
	verify(e, &s, COFFER_OK);
	/* unknown access key */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	free(s.auth);
	s.auth = coffer_xstrdup("AWS4-HMAC-SHA256 Credential=CKIANOBODY/20150830/local/kms/aws4_request, "
				"SignedHeaders=" ALL_HEADERS ", Signature="
				"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	s.h[4].value = s.auth;
	r = verify(e, &s, COFFER_E_KMS_UNRECOGNIZED_CLIENT);
	assert_string_equal(r, "UnrecognizedClientException");
	/* no Authorization, malformed Authorization, no X-Amz-Date */
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.req.n_headers = 4;
	assert_string_equal(verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE),
			    "MissingAuthenticationTokenException");
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[4].value = "AWS4-HMAC-SHA256 Credential=x";
	assert_string_equal(verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE),
			    "IncompleteSignatureException");
	make_signed(e, &s, now, "local", "kms", "{}", ALL_HEADERS, NULL);
	s.h[1].name = "X-Not-Date";
	assert_string_equal(verify(e, &s, COFFER_E_KMS_INVALID_SIGNATURE),
			    "IncompleteSignatureException");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derive_key_aws_example),
		cmocka_unit_test(test_get_vanilla),
		cmocka_unit_test(test_kms_request_botocore),
		cmocka_unit_test(test_normalisation_botocore),
		cmocka_unit_test(test_canonical_pieces),
		cmocka_unit_test(test_parse_authorization),
		cmocka_unit_test(test_amz_date),
		cmocka_unit_test_setup_teardown(test_verify, env_setup, env_teardown),
	};

	coffer_crypto_init(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
