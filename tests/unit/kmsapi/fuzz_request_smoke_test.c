/*
 * fuzz_request_smoke_test.c - the libFuzzer target fuzz/kmsapi_request_fuzz.c
 * run briefly inside `make test` (and under ASan+UBSan in test-asan): every
 * seed of fuzz/corpus/kmsapi_request/, a list of tricky inputs, and 20,000
 * deterministic mutations of the seeds. The target itself aborts on
 * a reply that is not a well-formed JSON error or success, so passing means
 * no crash, no sanitizer report and no malformed reply. The long runs are
 * `make fuzz` (fuzz/run-all).
 */
#define COFFER_FUZZ_ENTRY fuzz_kmsapi_request
#include "../../../fuzz/kmsapi_request_fuzz.c"

#include "fuzz_smoke.h"

static const char *const dict[] = {"\"", "{", "}", "[", "]", ":", ",", "null", "true", "1e9",
				     "-0", "\\u0000", "%", "\n", ";", "=", "/..", "alias/fuzz",
				     "TrentService.", "\"KeyId\"", "AAAA"};

static const struct fuzz_smoke smoke = {
	.name = "kmsapi_request",
	.one = fuzz_kmsapi_request,
	.min_seeds = 10,
	.dict = dict,
	.n_dict = COFFER_ARRAY_LEN(dict),
	.mutations = 20000,
};

static void run(const void *p, size_t n)
{
	assert_int_equal(fuzz_kmsapi_request(p, n), 0);
}

static void test_seeds_and_tricky_inputs(void **state)
{
	static const char *const tricky[] = {
		"",
		"\x01",
		"\x01\n\n",
		"\x01POST\n\n{}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"\"}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"====\"}",
		"\x01POST /\nX-Amz-Target: TrentService.Decrypt\n\n{\"CiphertextBlob\":\"\\u0000\"}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":1e400}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":-1}",
		"\x01POST /\nX-Amz-Target: TrentService.ListKeys\n\n{\"Limit\":4294967297}",
		"\x01POST /\nX-Amz-Target: TrentService.CreateGrant\n\n{\"KeyId\":\"alias/fuzz\",\"GranteePrincipal\":\"x\",\"Operations\":[]}",
		"\x01POST /\nX-Amz-Target: TrentService.CreateGrant\n\n{\"KeyId\":\"alias/fuzz\",\"GranteePrincipal\":\"x\",\"Operations\":[\"Decrypt\"],\"Constraints\":[]}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"aA==\",\"GrantTokens\":[1]}",
		"\x01POST /\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"aA==\",\"GrantTokens\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
		"\x01POST /%zz?%zz=%\nX-Amz-Target: TrentService.ListKeys\n\n{}",
		"\x01POST /../../..\nX-Amz-Target: TrentService.ListKeys\n\n{}",
		"\x01POST /\nHost:\nX-Amz-Target:\n\n{}",
		"\x00POST /\nAuthorization: AWS4-HMAC-SHA256 \n\n",
		"\x00POST /\nAuthorization: AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;, Signature=\n"
		"X-Amz-Target: TrentService.ListKeys\n\n",
		"\x00POST /\nX-Amz-Target: TrentService.ListKeys\nX-Amz-Date: 99999999T999999Z\n"
		"Authorization: AWS4-HMAC-SHA256 Credential=a/99999999/local/kms/aws4_request, "
		"SignedHeaders=host;x-amz-date;x-amz-target, Signature="
		"0000000000000000000000000000000000000000000000000000000000000000\n\n",
		"\x02GET /metrics\n\n",
	};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(tricky); i++)
		run(tricky[i], i == 0 ? 0
				      : tricky[i][0] ? strlen(tricky[i]) : 1 + strlen(tricky[i] + 1));
	fuzz_smoke_seeds(&smoke);
}

static void test_mutations(void **state)
{
	(void)state;
	fuzz_smoke_mutations(&smoke);
}

static int cleanup(void **state)
{
	char *cmd;

	if (fz.ready) {
		coffer_kms_access_key_free(&fz.key);
		coffer_kms_close(fz.kms);
		cmd = coffer_xasprintf("rm -rf %s", fz.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", fz.dir);
		free(cmd);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_and_tricky_inputs),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup);
}
