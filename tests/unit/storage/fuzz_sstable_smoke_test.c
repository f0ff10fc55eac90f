/*
 * fuzz_sstable_smoke_test.c - the libFuzzer target fuzz/sstable_read_fuzz.c (the
 * SSTable reader (sst_open, iteration, seek)) run briefly inside `make test` and under ASan+UBSan in
 * test-asan: every seed of fuzz/corpus/sstable_read/ (fuzz/make_storage_seeds.py)
 * and 1,500 deterministic mutations of them (tests/unit/fuzz_smoke.h). The
 * target aborts unless every file is read or refused as corruption naming
 * it, so passing means no crash, no sanitizer report and no other error. The
 * long runs are `make fuzz` (fuzz/run-all).
 */
#define COFFER_FUZZ_ENTRY fuzz_sstable_read
#include "../../../fuzz/sstable_read_fuzz.c"

#include "fuzz_smoke.h"

static const char *const dict[] = {"CFSST001", "CFSSTEND", "\xff\xff\xff\xff", "\x80\x80\x80\x80\x80", "\x01\x28\xb5\x2f\xfd", "\x7f"};

static const struct fuzz_smoke smoke = {
	.name = "sstable_read",
	.one = fuzz_sstable_read,
	.min_seeds = 8,
	.dict = dict,
	.n_dict = COFFER_ARRAY_LEN(dict),
	.mutations = 1500,
};

int main(void)
{
	return fuzz_smoke_main(&smoke);
}
