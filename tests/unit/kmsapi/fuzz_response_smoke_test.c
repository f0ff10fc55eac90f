/*
 * fuzz_response_smoke_test.c - the libFuzzer target fuzz/kms_client_response_fuzz.c
 * run briefly inside `make test` (and under ASan+UBSan in test-asan): every
 * seed of fuzz/corpus/kms_client_response/, a list of tricky inputs, and 20,000
 * deterministic mutations of the seeds. The target itself aborts on
 * a reply that is not a well-formed JSON error or success, so passing means
 * no crash, no sanitizer report and no malformed reply. The long runs are
 * `make fuzz` (fuzz/run-all).
 */
#define COFFER_FUZZ_ENTRY fuzz_kms_client_response
#include "../../../fuzz/kms_client_response_fuzz.c"

#include "fuzz_smoke.h"

static const char *const dict[] = {"\r\n", "\r\n\r\n", ":", " ", "0", "f", ";", "chunked",
				     "Content-Length: ", "Transfer-Encoding: ", "Connection: close",
				     "HTTP/1.1 ", "100", "204", "#", "9999999"};

static const struct fuzz_smoke smoke = {
	.name = "kms_client_response",
	.one = fuzz_kms_client_response,
	.min_seeds = 5,
	.dict = dict,
	.n_dict = COFFER_ARRAY_LEN(dict),
	.mutations = 20000,
};

static void run(const void *p, size_t n)
{
	assert_int_equal(fuzz_kms_client_response(p, n), 0);
}

static void test_seeds_and_tricky_inputs(void **state)
{
	static const char *const tricky[] = {
		"",
		"H",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
		"HTTP/1.1 400 x\r\nx-amzn-ErrorType: #\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 400 x\r\nx-amzn-ErrorType: a#b#c:d\r\nContent-Length: 0\r\n\r\n",
		};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(tricky); i++)
		run(tricky[i], strlen(tricky[i]));
	fuzz_smoke_seeds(&smoke);
}

static void test_mutations(void **state)
{
	(void)state;
	fuzz_smoke_mutations(&smoke);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_and_tricky_inputs),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
