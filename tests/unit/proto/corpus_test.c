/*
 * corpus_test.c - replays the tests/data/proto/ corpus (.bin files) through
 * coffer_proto_fuzz_one(), the entry the libFuzzer target uses, so every
 * build (and the ASan+UBSan one) exercises the tricky inputs without clang's
 * fuzzer: each file whole and each of its prefixes (partial frames). For
 * some files the number of frames decoded is pinned: a refused frame that
 * can be skipped must be skipped, and one that cannot must stop the stream.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto_helper.h"

static const struct {
	const char *name;
	size_t frames;
} expected[] = {
	{"options_v4.bin", 1},
	{"python_connect.bin", 7},
	{"pipelined_options.bin", 50},
	{"version_probe_0x42.bin", 0},      /* refused and closed: the v4 frame after is not read */
	{"version_1.bin", 0},
	{"version_5.bin", 0},
	{"version_switch.bin", 2},          /* the v3 frame is skipped */
	{"oversize_then_options.bin", 1},   /* the 70000-byte body is skipped */
	{"oversize_truncated.bin", 0},
	{"negative_length.bin", 0},
	{"compressed_flag.bin", 1},
	{"response_direction.bin", 0},
	{"unknown_opcodes.bin", 10},        /* frames are whole; only the bodies are refused */
	{"partial_tail.bin", 1},
	{"sasl_variants.bin", 10},
	{"error_extras.bin", 9},
};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	uint8_t *p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void test_corpus(void **state)
{
	const char *data = getenv("COFFER_TEST_DATA");
	char dir[1024], path[2048];
	assert_non_null(data);
	snprintf(dir, sizeof dir, "%s/proto", data);
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t files = 0, pinned = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl < 5 || strcmp(e->d_name + nl - 4, ".bin") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t len;
		uint8_t *bytes = slurp(path, &len);
		size_t frames = coffer_proto_fuzz_one(bytes, len);
		for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
			if (strcmp(expected[i].name, e->d_name) != 0)
				continue;
			if (frames != expected[i].frames)
				fprintf(stderr, "%s: %zu frames, expected %zu\n", e->d_name, frames,
					expected[i].frames);
			assert_int_equal(frames, expected[i].frames);
			pinned++;
		}
		/* every prefix is a partial stream; a copy makes ASan see the end */
		for (size_t n = 0; n < len; n++) {
			uint8_t *cut = malloc(n ? n : 1);
			memcpy(cut, bytes, n);
			size_t got = coffer_proto_fuzz_one(cut, n);
			assert_true(got <= frames + 1);
			free(cut);
		}
		free(bytes);
		files++;
	}
	closedir(d);
	assert_true(files >= 40);
	assert_int_equal(pinned, sizeof expected / sizeof expected[0]);
}

static void test_fuzz_entry_edges(void **state)
{
	assert_int_equal(coffer_proto_fuzz_one(NULL, 0), 0);
	const uint8_t one[1] = {0x04};
	assert_int_equal(coffer_proto_fuzz_one(one, 1), 0);
	/* deterministic pseudo-random streams that start like a v4 frame */
	uint32_t x = 12345;
	uint8_t buf[256];
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < sizeof buf; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		buf[0] = 0x04;
		buf[5] = buf[6] = buf[7] = 0;
		buf[8] = (uint8_t)(buf[8] % 64);
		buf[4] = (uint8_t)(buf[4] % 0x11);
		(void)coffer_proto_fuzz_one(buf, sizeof buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_fuzz_entry_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
