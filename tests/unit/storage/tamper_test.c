/* tamper_test.c - tampering with stored files is detected as corruption that
 * names the file, and never yields a wrong row: flipped bytes anywhere in an
 * SSTable, two blocks swapped, truncation, a file moved from another table,
 * and flipped bytes inside the commit log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_helper.h"
#include "util/alloc.h"
#include "util/fs.h"

static int setup(void **state)
{
	*state = senv_new("tamper");
	return 0;
}

static int teardown(void **state)
{
	senv_free(*state);
	return 0;
}

/* First file in dir whose name starts with prefix (fresh string). */
static char *find_file(const char *dir, const char *prefix, int skip)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && !strstr(de->d_name, ".tmp") &&
		    skip-- == 0) {
			found = coffer_path_join(dir, de->d_name);
			break;
		}
	if (d)
		closedir(d);
	return found;
}

static void fill(struct coffer_table *t, int n, bool random_values)
{
	for (int i = 0; i < n; i++) {
		char pk[16];
		uint8_t v[300];
		snprintf(pk, sizeof(pk), "p%03d", i);
		uint8_t b[4];
		struct coffer_slice p = coffer_slice_str(pk);
		struct coffer_slice ck[2] = {be32(i, b), coffer_slice_str("c")};
		if (random_values)
			assert_int_equal(coffer_random_bytes(v, sizeof(v)), COFFER_OK);
		else
			memset(v, 'a' + i % 26, sizeof(v));
		for (size_t j = 0; j < sizeof(v); j++) /* no NUL, so rows compare as strings */
			v[j] = random_values ? (uint8_t)(1 + v[j] % 255) : (uint8_t)('A' + v[j] % 26);
		struct coffer_mutation *m = coffer_mutation_new(t, &p, 1);
		coffer_mutation_set(m, ck, 2, 1, coffer_slice_of(v, sizeof(v)), 1, 0);
		assert_int_equal(coffer_table_apply(t, &m, 1), COFFER_OK);
		coffer_mutation_free(m);
	}
}

struct check {
	const char *orig;
	int wrong;
	struct coffer_buf line;
};

static bool check_fn(void *arg, const struct coffer_row_view *r)
{
	struct check *c = arg;
	coffer_buf_reset(&c->line);
	coffer_buf_printf(&c->line, "%.*s:%d,%.*s:1=%.*s\n", (int)r->partition_key.len,
			  (const char *)r->partition_key.ptr, (int32_t)coffer_load_u32(r->ck[0].ptr),
			  (int)r->ck[1].len, (const char *)r->ck[1].ptr, (int)r->cells[0].value.len,
			  (const char *)r->cells[0].value.ptr);
	if (!strstr(c->orig, coffer_buf_cstr(&c->line)))
		c->wrong++;
	return true;
}

/* Opens and reads everything: returns the first error (or OK) and fails the
 * test if any row returned is not one of the original rows. */
static coffer_rc open_and_read(struct senv *e, const char *orig, const char *must_name)
{
	struct coffer_table *t = NULL;
	coffer_rc rc = coffer_table_open(&e->cfg, &e->desc, &t);
	if (rc == COFFER_OK) {
		struct check c = {.orig = orig};
		struct coffer_read q = {0};
		struct coffer_read_result res = {0};
		rc = coffer_table_read(t, &q, check_fn, &c, &res);
		coffer_buf_free(&res.cursor);
		coffer_buf_free(&c.line);
		coffer_table_close(t);
		assert_int_equal(c.wrong, 0);
	}
	if (rc != COFFER_OK && must_name && !strstr(coffer_error_msg(), must_name))
		fail_msg("error does not name %s: %s", must_name, coffer_error_msg());
	return rc;
}

static void write_back(const char *path, const struct coffer_buf *b)
{
	assert_int_equal(coffer_fs_write_atomic(path, coffer_buf_slice(b), 0600), COFFER_OK);
}

static void test_sstable_flips(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill(t, 120, false);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	char *orig = render(t, NULL);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	coffer_table_close(t);
	char *path = find_file(dir, "SST-", 0);
	assert_non_null(path);
	const char *name = strrchr(path, '/') + 1;
	struct coffer_buf file = {0};
	assert_int_equal(coffer_fs_read_all(path, 1 << 24, &file), COFFER_OK);
	size_t step = file.len / 150 + 1;
	int tried = 0, detected = 0;
	for (size_t off = 0; off < file.len; off += (off < 60 || off > file.len - 80) ? 1 : step) {
		struct coffer_buf b = {0};
		coffer_buf_put(&b, file.ptr, file.len);
		b.ptr[off] ^= 0x01;
		write_back(path, &b);
		coffer_rc rc = open_and_read(e, orig, name);
		tried++;
		if (rc == COFFER_E_CORRUPT)
			detected++;
		else
			fail_msg("flip at %zu of %zu not detected (%s)", off, file.len, coffer_rc_name(rc));
		coffer_buf_free(&b);
	}
	print_message("%d flips, %d detected\n", tried, detected);
	/* truncation at several points */
	size_t cuts[] = {0, 10, 52, file.len / 2, file.len - 69, file.len - 1};
	for (size_t i = 0; i < COFFER_ARRAY_LEN(cuts); i++) {
		struct coffer_buf b = {0};
		coffer_buf_put(&b, file.ptr, cuts[i]);
		write_back(path, &b);
		assert_int_equal(open_and_read(e, orig, name), COFFER_E_CORRUPT);
		coffer_buf_free(&b);
	}
	write_back(path, &file);
	assert_int_equal(open_and_read(e, orig, NULL), COFFER_OK);
	coffer_buf_free(&file);
	free(path);
	free(dir);
	free(orig);
}

static void test_swap_blocks(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill(t, 120, true); /* incompressible, equal-sized blocks */
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	char *orig = render(t, NULL);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	coffer_table_close(t);
	char *path = find_file(dir, "SST-", 0);
	struct coffer_buf file = {0};
	assert_int_equal(coffer_fs_read_all(path, 1 << 24, &file), COFFER_OK);
	/* frames from offset 52: u32 length, sealed bytes; find two data blocks
	 * of equal size, so only their order differs */
	size_t off[10], len[10], i1 = 0, i2 = 0;
	off[0] = 52;
	for (int i = 0; i < 10; i++) {
		len[i] = 4 + coffer_load_u32(file.ptr + off[i]);
		if (i + 1 < 10)
			off[i + 1] = off[i] + len[i];
	}
	for (size_t i = 0; i < 10 && !i2; i++)
		for (size_t j = i + 1; j < 10 && !i2; j++)
			if (len[i] == len[j]) {
				i1 = i;
				i2 = j;
			}
	assert_true(i2 > 0);
	struct coffer_buf b = {0};
	coffer_buf_put(&b, file.ptr, file.len);
	memcpy(b.ptr + off[i1], file.ptr + off[i2], len[i2]);
	memcpy(b.ptr + off[i2], file.ptr + off[i1], len[i1]);
	write_back(path, &b);
	assert_int_equal(open_and_read(e, orig, strrchr(path, '/') + 1), COFFER_E_CORRUPT);
	char want[32];
	snprintf(want, sizeof(want), "data block %zu", i1);
	assert_non_null(strstr(coffer_error_msg(), want));
	write_back(path, &file);
	coffer_buf_free(&b);
	coffer_buf_free(&file);
	free(path);
	free(dir);
	free(orig);
}

static void test_file_from_another_table(void **state)
{
	struct senv *e = *state;
	struct coffer_table *a = senv_create(e);
	fill(a, 50, false);
	assert_int_equal(coffer_table_flush(a), COFFER_OK);
	char *dir_a = coffer_xstrdup(coffer_table_dir(a));
	coffer_table_close(a);
	struct coffer_table_desc da = e->desc;
	e->desc.name = "other";
	e->desc.table_id = "99999999-8888-4777-8666-555555555555";
	struct coffer_table *b = senv_create(e);
	fill(b, 30, false);
	assert_int_equal(coffer_table_flush(b), COFFER_OK);
	char *orig_b = render(b, NULL);
	char *dir_b = coffer_xstrdup(coffer_table_dir(b));
	coffer_table_close(b);
	char *sa = find_file(dir_a, "SST-", 0), *sb = find_file(dir_b, "SST-", 0);
	struct coffer_buf fa = {0}, fb = {0};
	assert_int_equal(coffer_fs_read_all(sa, 1 << 24, &fa), COFFER_OK);
	assert_int_equal(coffer_fs_read_all(sb, 1 << 24, &fb), COFFER_OK);
	/* A's file under B's name */
	write_back(sb, &fa);
	assert_int_equal(open_and_read(e, orig_b, strrchr(sb, '/') + 1), COFFER_E_CORRUPT);
	/* ...even with its plaintext header edited to claim B's table and id */
	struct coffer_buf forged = {0};
	coffer_buf_put(&forged, fa.ptr, fa.len);
	memcpy(forged.ptr, fb.ptr, 52);
	write_back(sb, &forged);
	assert_int_equal(open_and_read(e, orig_b, strrchr(sb, '/') + 1), COFFER_E_CORRUPT);
	write_back(sb, &fb);
	assert_int_equal(open_and_read(e, orig_b, NULL), COFFER_OK);
	e->desc = da;
	coffer_buf_free(&fa);
	coffer_buf_free(&fb);
	coffer_buf_free(&forged);
	free(sa);
	free(sb);
	free(dir_a);
	free(dir_b);
	free(orig_b);
}

static void test_commitlog_tamper(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill(t, 40, false); /* 40 groups in one segment, not flushed */
	char *orig = render(t, NULL);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	coffer_table_close(t);
	char *path = find_file(dir, "CL-", 0);
	struct coffer_buf file = {0};
	assert_int_equal(coffer_fs_read_all(path, 1 << 24, &file), COFFER_OK);
	/* flip bytes in the first 39 groups' region: corruption naming file and group */
	size_t group = (file.len - 52) / 40;
	for (size_t off = 0; off < 52 + 38 * group; off += 97) {
		struct coffer_buf b = {0};
		coffer_buf_put(&b, file.ptr, file.len);
		b.ptr[off] ^= 0x80;
		write_back(path, &b);
		coffer_rc rc = open_and_read(e, orig, strrchr(path, '/') + 1);
		if (rc != COFFER_E_CORRUPT)
			fail_msg("commit-log flip at %zu: %s", off, coffer_rc_name(rc));
		if (off >= 52)
			assert_non_null(strstr(coffer_error_msg(), "group"));
		coffer_buf_free(&b);
	}
	write_back(path, &file);
	assert_int_equal(open_and_read(e, orig, NULL), COFFER_OK);
	coffer_buf_free(&file);
	free(path);
	free(dir);
	free(orig);
}

static void test_manifest_and_registry_tamper(void **state)
{
	struct senv *e = *state;
	struct coffer_table *t = senv_create(e);
	fill(t, 20, false);
	assert_int_equal(coffer_table_flush(t), COFFER_OK);
	char *orig = render(t, NULL);
	char *dir = coffer_xstrdup(coffer_table_dir(t));
	coffer_table_close(t);
	const char *files[] = {"MANIFEST", "keys.reg"};
	for (size_t f = 0; f < 2; f++) {
		char *path = coffer_path_join(dir, files[f]);
		struct coffer_buf file = {0};
		assert_int_equal(coffer_fs_read_all(path, 1 << 24, &file), COFFER_OK);
		/* the registry's last record may legitimately read as a torn tail */
		size_t end = f == 0 ? file.len : file.len - 120;
		for (size_t off = 0; off < end; off += 7) {
			struct coffer_buf b = {0};
			coffer_buf_put(&b, file.ptr, file.len);
			b.ptr[off] ^= 0x04;
			write_back(path, &b);
			coffer_key_cache_drop(e->cache, e->desc.table_id);
			coffer_rc rc = open_and_read(e, orig, files[f]);
			if (rc != COFFER_E_CORRUPT)
				fail_msg("%s: flip at %zu: %s", files[f], off, coffer_rc_name(rc));
			coffer_buf_free(&b);
		}
		write_back(path, &file);
		assert_int_equal(open_and_read(e, orig, NULL), COFFER_OK);
		coffer_buf_free(&file);
		free(path);
	}
	free(dir);
	free(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sstable_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_from_another_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commitlog_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_and_registry_tamper, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
