/*
 * commitlog_read_fuzz.c - libFuzzer target for the commit-log segment reader:
 * commitlog_replay() (src/storage/commitlog.c) over a segment file built from
 * the input, replayed into a fresh memtable as recovery does.
 *
 * Input layout:
 *   OFFSET  SIZE  MEANING
 *   0       1     flags: bit 0 = sealed: the groups are built from the input
 *                 and sealed under the segment's real data key (so the group
 *                 parser behind authentication is reached); else raw bytes.
 *                 bit 1 = raw: the input follows a correct 52-byte segment
 *                 header (else it is the whole file). sealed: each group is
 *                 preceded by a u8 added to its sequence number.
 *                 bit 2 = sealed: drop the last (last input byte) bytes of
 *                 the file (a torn tail)
 *                 bit 3 = the header says CFCLOG02 (each group's plaintext
 *                 starts with its u64 time), else CFCLOG01
 *   1       ...   raw: file bytes. sealed: groups, each u16 length + that
 *                 many plaintext bytes (entries: varint klen | key | varint
 *                 vlen | value, or anything else)
 *
 * Checked on every input (abort otherwise): replay succeeds, or fails with
 * COFFER_E_CORRUPT whose message names the segment file. Never a crash or a
 * sanitizer report. The unit test tests/unit/storage/fuzz_commitlog_smoke_test.c
 * runs the seeds of fuzz/corpus/commitlog_read/ and mutations of them in every
 * build; COFFER_FUZZ_ENTRY lets it call the entry directly.
 */
#include "storage_fuzz_env.h"

#ifndef COFFER_FUZZ_ENTRY
#define COFFER_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size);

static void put_fn(void *arg, int64_t time, struct coffer_slice k, struct coffer_slice v)
{
	(void)time;
	memtable_put(arg, k, v);
}

int COFFER_FUZZ_ENTRY(const uint8_t *data, size_t size)
{
	static uint64_t id;
	static struct block_ctx bc;
	struct coffer_table *t = sfz_table();
	if (!id)
		id = sfz_new_file(COFFER_KEY_PURPOSE_COMMITLOG, &bc);
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct coffer_buf file = {0};
	uint8_t hdr[52];
	/* flag 8: the current format (each group's plaintext starts with its
	 * time), else the pre-PITR one */
	memcpy(hdr, (flags & 8) ? "CFCLOG02" : "CFCLOG01", 8);
	memcpy(hdr + 8, t->table_id, COFFER_TABLE_ID_LEN);
	coffer_store_u64(hdr + 44, id);
	if (!(flags & 1)) {
		if (flags & 2)
			coffer_buf_put(&file, hdr, sizeof(hdr));
		coffer_buf_put(&file, p, n);
	} else {
		coffer_buf_put(&file, hdr, sizeof(hdr));
		size_t cut = (flags & 4) && n ? p[n - 1] : 0;
		for (uint64_t seq = 0; n > 0 && seq < 4096; seq++) {
			uint64_t s = seq;
			if (flags & 2) {
				s += p[0];
				p++;
				n--;
			}
			struct coffer_slice pt = sfz_take(&p, &n);
			coffer_buf_put_u32(&file, (uint32_t)pt.len);
			coffer_buf_put_u32(&file, ~(uint32_t)pt.len);
			coffer_buf_put_u64(&file, s);
			if (block_seal(&bc, BLOCK_COMMIT, s, pt, &file) != COFFER_OK)
				abort();
		}
		file.len -= cut < file.len ? cut : file.len;
	}
	char *path = commitlog_segment_path(t, id);
	sfz_write(path, &file);
	struct memtable *m = memtable_new(&t->schema, 1 << 16);
	uint64_t max_id = 0;
	coffer_rc rc = commitlog_replay(t, id, put_fn, m, &max_id);
	sfz_check(rc, "CL-");
	memtable_free(m);
	coffer_buf_free(&file);
	free(path);
	return 0;
}
