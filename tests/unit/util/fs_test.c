/*
 * fs_test.c - durable file operations against a fresh directory under /tmp:
 * atomic replace and mode, no stray temporaries, read limits, errors that
 * name the path and call, mkdirs, pread_full, path joining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/fs.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/coffer-fs-test-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((e = readdir(d))) {
			char *child;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			child = coffer_path_join(path, e->d_name);
			rm_rf(child);
			free(child);
		}
		closedir(d);
	}
	rmdir(path);
}

static int teardown(void **state)
{
	rm_rf(tmpdir);
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_atomic_replace_and_mode(void **state)
{
	char *path = coffer_path_join(tmpdir, "file.bin");
	struct coffer_buf b = {0};
	struct stat st;

	assert_false(coffer_fs_exists(path));
	assert_int_equal(coffer_fs_write_atomic(path, coffer_slice_str("first version"), 0600),
			 COFFER_OK);
	assert_true(coffer_fs_exists(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(coffer_fs_read_all(path, 1024, &b), COFFER_OK);
	assert_string_equal(coffer_buf_cstr(&b), "first version");

	/* Replace with shorter content and a different mode. */
	assert_int_equal(coffer_fs_write_atomic(path, coffer_slice_str("v2"), 0640), COFFER_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_fs_read_all(path, 1024, &b), COFFER_OK);
	assert_string_equal(coffer_buf_cstr(&b), "v2");

	/* Empty content, and the umask does not change the requested mode. */
	{
		mode_t old = umask(077);

		assert_int_equal(coffer_fs_write_atomic(path, coffer_slice_of(NULL, 0), 0644),
				 COFFER_OK);
		umask(old);
	}
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 0);

	/* No temporary files left behind. */
	assert_int_equal(count_entries(tmpdir), 1);
	coffer_buf_free(&b);
	free(path);
}

static void test_write_atomic_errors(void **state)
{
	char *path = coffer_path_join(tmpdir, "no/such/dir/file");
	char *dirpath = coffer_path_join(tmpdir, "adir");

	assert_int_equal(coffer_fs_write_atomic(path, coffer_slice_str("x"), 0600), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "open"));
	assert_non_null(strstr(coffer_error_msg(), "no/such/dir/file"));
	assert_non_null(strstr(coffer_error_msg(), strerror(ENOENT)));

	/* rename over a directory fails; the temporary is cleaned up. */
	assert_int_equal(mkdir(dirpath, 0700), 0);
	assert_int_equal(coffer_fs_write_atomic(dirpath, coffer_slice_str("x"), 0600), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "rename"));
	assert_non_null(strstr(coffer_error_msg(), dirpath));
	assert_int_equal(count_entries(tmpdir), 1);
	rmdir(dirpath);
	free(path);
	free(dirpath);
}

static void test_read_all_limits(void **state)
{
	char *path = coffer_path_join(tmpdir, "limit.bin");
	char data[1000];
	struct coffer_buf b = {0};

	memset(data, 'z', sizeof(data));
	assert_int_equal(coffer_fs_write_atomic(path, coffer_slice_of(data, sizeof(data)), 0600),
			 COFFER_OK);
	/* Exactly the limit is fine, and read_all appends. */
	coffer_buf_put(&b, "pre", 3);
	assert_int_equal(coffer_fs_read_all(path, 1000, &b), COFFER_OK);
	assert_int_equal(b.len, 1003);
	assert_memory_equal(b.ptr, "pre", 3);
	assert_memory_equal(b.ptr + 3, data, sizeof(data));

	/* One byte over the limit fails and leaves the buffer as it was. */
	assert_int_equal(coffer_fs_read_all(path, 999, &b), COFFER_E_LIMIT);
	assert_non_null(strstr(coffer_error_msg(), path));
	assert_non_null(strstr(coffer_error_msg(), "999"));
	assert_int_equal(b.len, 1003);
	assert_int_equal(coffer_fs_read_all(path, 0, &b), COFFER_E_LIMIT);
	assert_int_equal(coffer_fs_read_all(path, SIZE_MAX, &b), COFFER_OK);
	assert_int_equal(b.len, 2003);
	coffer_buf_free(&b);
	free(path);
}

static void test_read_all_special_files(void **state)
{
	struct coffer_buf b = {0};

	/* /proc files report size 0 but have content; the read loop still works. */
	assert_int_equal(coffer_fs_read_all("/proc/self/stat", 1 << 20, &b), COFFER_OK);
	assert_true(b.len > 0);
	coffer_buf_reset(&b);
	assert_int_equal(coffer_fs_read_all("/proc/self/stat", 3, &b), COFFER_E_LIMIT);
	assert_int_equal(b.len, 0);
	/* Reading a directory is an I/O error naming the call. */
	assert_int_equal(coffer_fs_read_all(tmpdir, 1 << 20, &b), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "read"));
	assert_non_null(strstr(coffer_error_msg(), tmpdir));
	coffer_buf_free(&b);
}

static void test_missing_file(void **state)
{
	char *path = coffer_path_join(tmpdir, "missing.txt");
	struct coffer_buf b = {0};

	assert_int_equal(coffer_fs_read_all(path, 100, &b), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), path));
	assert_non_null(strstr(coffer_error_msg(), "open"));
	assert_non_null(strstr(coffer_error_msg(), "No such file or directory"));
	assert_non_null(strstr(coffer_error_where(), "fs.c:"));
	assert_int_equal(b.len, 0);
	coffer_buf_free(&b);
	free(path);
}

static void test_pread_write_full(void **state)
{
	char *path = coffer_path_join(tmpdir, "pread.bin");
	char got[8];
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(coffer_fs_write_full(fd, "0123456789", 10, path), COFFER_OK);
	assert_int_equal(coffer_fs_fsync(fd, path), COFFER_OK);
	assert_int_equal(coffer_fs_pread_full(fd, got, 4, 3, path), COFFER_OK);
	assert_memory_equal(got, "3456", 4);
	assert_int_equal(coffer_fs_pread_full(fd, got, 8, 5, path), COFFER_E_CORRUPT);
	assert_non_null(strstr(coffer_error_msg(), path));
	assert_non_null(strstr(coffer_error_msg(), "wanted 8 bytes at offset 5, got 5"));
	close(fd);

	/* A closed descriptor: errors name the call and the path. */
	assert_int_equal(coffer_fs_write_full(fd, "x", 1, path), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "write"));
	assert_non_null(strstr(coffer_error_msg(), path));
	assert_int_equal(coffer_fs_pread_full(fd, got, 1, 0, path), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "pread"));
	assert_int_equal(coffer_fs_fsync(fd, path), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "fsync"));
	free(path);
}

static void test_errno_mapping(void **state)
{
	assert_int_equal(coffer_fs_errno(ENOSPC, "w:1", "write", "/x/y"), COFFER_E_NOSPACE);
	assert_non_null(strstr(coffer_error_msg(), "write /x/y"));
	assert_non_null(strstr(coffer_error_msg(), strerror(ENOSPC)));
	assert_string_equal(coffer_error_where(), "w:1");
	assert_int_equal(COFFER_FS_ERR(EIO, "read", "/z"), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_where(), "fs_test.c:"));
	assert_int_equal(COFFER_FS_ERR(EACCES, "open", "/z"), COFFER_E_IO);
}

static void test_mkdirs_and_sync_dir(void **state)
{
	char *deep = coffer_path_join(tmpdir, "a/b/c/");
	char *file = coffer_path_join(tmpdir, "a/b/c/f");
	char *blocked = coffer_path_join(tmpdir, "a/b/c/f/g");
	struct stat st;

	assert_int_equal(coffer_fs_mkdirs(deep, 0700), COFFER_OK);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Again: existing directories are fine. */
	assert_int_equal(coffer_fs_mkdirs(deep, 0700), COFFER_OK);
	assert_int_equal(coffer_fs_sync_dir(deep), COFFER_OK);

	assert_int_equal(coffer_fs_write_atomic(file, coffer_slice_str("f"), 0600), COFFER_OK);
	/* A file path syncs its directory. */
	assert_int_equal(coffer_fs_sync_dir(file), COFFER_OK);
	/* A file in the way. */
	assert_int_equal(coffer_fs_mkdirs(blocked, 0700), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "mkdir"));
	assert_int_equal(coffer_fs_mkdirs(file, 0700), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "not a directory"));
	assert_int_equal(coffer_fs_mkdirs("", 0700), COFFER_E_INVALID);
	/* The directory of a missing path that does not exist either. */
	assert_int_equal(coffer_fs_sync_dir("/nonexistent-coffer-dir/x"), COFFER_E_IO);
	assert_non_null(strstr(coffer_error_msg(), "/nonexistent-coffer-dir"));
	free(deep);
	free(file);
	free(blocked);
}

static void test_path_join(void **state)
{
	char *p;

	p = coffer_path_join("a", "b");
	assert_string_equal(p, "a/b");
	free(p);
	p = coffer_path_join("a/", "b");
	assert_string_equal(p, "a/b");
	free(p);
	p = coffer_path_join("a", "/b");
	assert_string_equal(p, "a/b");
	free(p);
	p = coffer_path_join("", "b");
	assert_string_equal(p, "b");
	free(p);
	p = coffer_path_join("/", "b");
	assert_string_equal(p, "/b");
	free(p);
	p = coffer_path_join("a", "");
	assert_string_equal(p, "a");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_atomic_replace_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_all_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_all_special_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pread_write_full, setup, teardown),
		cmocka_unit_test(test_errno_mapping),
		cmocka_unit_test_setup_teardown(test_mkdirs_and_sync_dir, setup, teardown),
		cmocka_unit_test(test_path_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
