/*
 * kms_client_response_fuzz.c - libFuzzer target for what the KMS client reads
 * from the network: the HTTP/1.1 response parser (status line, headers,
 * Content-Length and chunked framing, limits) and the mapping of error names
 * (__type / x-amzn-ErrorType) back to result codes.
 *
 * Input: the bytes a server sent, as is.
 *
 * Checked on every input: a complete parse consumed at most the input, its
 * body lies inside the input or the chunk buffer and is within the limit, and
 * parsing any prefix never claims completeness beyond what the full parse saw.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmsapi/kmsapi_internal.h"

#ifndef COFFER_FUZZ_ENTRY
#define COFFER_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size);

#define FUZZ_MAX_BODY 4096

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	struct coffer_http_parsed out;
	struct coffer_buf chunked = {0};
	bool complete = false;
	coffer_rc rc;

	rc = coffer_http_response_parse(coffer_slice_of(data, size), FUZZ_MAX_BODY, &out, &chunked,
					&complete);
	if (rc == COFFER_OK && complete) {
		bool in_input = out.body.len == 0 ||
				(out.body.ptr >= data && out.body.ptr + out.body.len <= data + size);
		bool in_chunks = out.body.len == 0 ||
				 (chunked.ptr && out.body.ptr >= chunked.ptr &&
				  out.body.ptr + out.body.len <= chunked.ptr + chunked.len);

		if (out.consumed > size || out.body.len > FUZZ_MAX_BODY || !(in_input || in_chunks) ||
		    out.status < 200 || out.status > 999)
			abort();
		(void)coffer_kmsapi_error_code(out.amz_type, strlen(out.amz_type));
		if (out.body.len > 0)
			(void)coffer_kmsapi_error_code((const char *)out.body.ptr, out.body.len);
		/* a strict prefix of a complete response is never complete with
		 * more bytes consumed than it has */
		if (size > 0) {
			struct coffer_http_parsed pre;
			bool pc = false;

			if (coffer_http_response_parse(coffer_slice_of(data, out.consumed - (out.consumed > 0)),
						       FUZZ_MAX_BODY, &pre, &chunked, &pc) == COFFER_OK &&
			    pc && pre.consumed > out.consumed)
				abort();
		}
	}
	coffer_buf_free(&chunked);
	return 0;
}
