/*
 * fs.c - durable file operations (DESIGN.md section 4).
 *
 * A file that must survive a crash is written as: create a temporary file in
 * the same directory (O_EXCL, so two writers never share one), write it all,
 * fsync it, rename it over the target, then fsync the directory so the rename
 * itself is durable. A crash at any point leaves either the old file or the
 * new one, never a mix; at worst a stray "<name>.tmp.*" file remains.
 *
 * Invariants:
 *  1. Every error names the path and the failing call and carries strerror;
 *     ENOSPC (and EDQUOT) is COFFER_E_NOSPACE, every other errno COFFER_E_IO.
 *  2. write_atomic never leaves its temporary file behind on a returned error.
 *  3. The file's mode is exactly `mode` (set with fchmod, so the umask does
 *     not weaken or change it).
 */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"

coffer_rc coffer_fs_errno(int err, const char *where, const char *call, const char *path)
{
	char ebuf[128];
	const char *es = strerror_r(err, ebuf, sizeof(ebuf));
	coffer_rc code = (err == ENOSPC || err == EDQUOT) ? COFFER_E_NOSPACE : COFFER_E_IO;

	return coffer_error_set(code, where, "%s %s: %s", call, path ? path : "(fd)", es);
}

/* The directory part of path ("." if there is none), as a fresh string. */
static char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return coffer_xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return coffer_xstrdup("/");
	return coffer_xstrndup(path, (size_t)(slash - path));
}

COFFER_RESULT coffer_fs_write_full(int fd, const void *p, size_t n, const char *path)
{
	const uint8_t *at = p;

	while (n > 0) {
		ssize_t w = write(fd, at, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return COFFER_FS_ERR(errno, "write", path);
		/* write(2) of a non-zero count returning 0 means the device is full. */
		if (w == 0)
			return COFFER_FS_ERR(ENOSPC, "write", path);
		at += w;
		n -= (size_t)w;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_fs_pread_full(int fd, void *p, size_t n, off_t off, const char *path)
{
	uint8_t *at = p;
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, at + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return COFFER_FS_ERR(errno, "pread", path);
		ENSURE(r > 0, COFFER_E_CORRUPT,
		       "%s: file too short: wanted %zu bytes at offset %lld, got %zu", path, n,
		       (long long)off, done);
		done += (size_t)r;
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_fs_fsync(int fd, const char *path)
{
	while (fsync(fd) != 0) {
		if (errno != EINTR)
			return COFFER_FS_ERR(errno, "fsync", path);
	}
	return COFFER_OK;
}

COFFER_RESULT coffer_fs_sync_dir(const char *dir)
{
	struct stat st;
	char *target = NULL;
	coffer_rc rc = COFFER_OK;
	int fd = -1;

	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		target = coffer_xstrdup(dir);
	else
		target = path_dirname(dir);
	fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		TRY_FAIL(COFFER_FS_ERR(errno, "open directory", target));
	/* Some filesystems cannot fsync a directory (EINVAL); nothing to make durable. */
	while (fsync(fd) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EINVAL)
			TRY_FAIL(COFFER_FS_ERR(errno, "fsync directory", target));
		break;
	}
fail:
	if (fd >= 0)
		close(fd);
	free(target);
	return rc;
}

COFFER_RESULT coffer_fs_write_atomic(const char *path, struct coffer_slice data, mode_t mode)
{
	static unsigned long counter;
	unsigned long seq = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	char *tmp = coffer_xasprintf("%s.tmp.%ld.%lu", path, (long)getpid(), seq);
	coffer_rc rc;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = COFFER_FS_ERR(errno, "open", tmp);
		free(tmp);
		return rc;
	}
	if (fchmod(fd, mode) != 0)
		TRY_FAIL(COFFER_FS_ERR(errno, "fchmod", tmp));
	TRY_FAIL(coffer_fs_write_full(fd, data.ptr, data.len, tmp));
	TRY_FAIL(coffer_fs_fsync(fd, tmp));
	if (close(fd) != 0) {
		fd = -1;
		TRY_FAIL(COFFER_FS_ERR(errno, "close", tmp));
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		TRY_FAIL(COFFER_FS_ERR(errno, "rename to", path));
	free(tmp);
	return coffer_fs_sync_dir(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

COFFER_RESULT coffer_fs_read_all(const char *path, size_t max, struct coffer_buf *out)
{
	size_t start = out->len;
	struct stat st;
	coffer_rc rc;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return COFFER_FS_ERR(errno, "open", path);
	if (fstat(fd, &st) != 0)
		TRY_FAIL(COFFER_FS_ERR(errno, "fstat", path));
	ENSURE_FAIL((uint64_t)st.st_size <= max, COFFER_E_LIMIT,
		    "%s: file is %lld bytes, more than the limit of %zu", path, (long long)st.st_size,
		    max);
	coffer_buf_reserve(out, (size_t)st.st_size + 1);
	for (;;) {
		size_t left = max - (out->len - start);
		size_t room;
		ssize_t r;

		/* The file may grow after fstat; the limit holds regardless. */
		coffer_buf_reserve(out, 4096);
		room = out->cap - out->len;
		/* One byte past the limit is enough to detect that it was exceeded. */
		if (room - 1 > left)
			room = left + 1;
		r = read(fd, out->ptr + out->len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			TRY_FAIL(COFFER_FS_ERR(errno, "read", path));
		if (r == 0)
			break;
		out->len += (size_t)r;
		ENSURE_FAIL(out->len - start <= max, COFFER_E_LIMIT,
			    "%s: file is larger than the limit of %zu bytes", path, max);
	}
	close(fd);
	return COFFER_OK;
fail:
	close(fd);
	if (out->ptr && out->len > start)
		coffer_wipe(out->ptr + start, out->len - start);
	out->len = start;
	return rc;
}

COFFER_RESULT coffer_fs_mkdirs(const char *path, mode_t mode)
{
	struct stat st;
	coffer_rc rc = COFFER_OK;
	char *p, *at;

	ENSURE(path && *path, COFFER_E_INVALID, "mkdir: empty path");
	p = coffer_xstrdup(path);

	/* Create each prefix in turn: "a", "a/b", "a/b/c". */
	for (at = p + 1;; at++) {
		char saved = *at;

		if (saved != '/' && saved != '\0')
			continue;
		*at = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST)
			TRY_FAIL(COFFER_FS_ERR(errno, "mkdir", p));
		*at = saved;
		if (saved == '\0')
			break;
	}
	if (stat(path, &st) != 0)
		TRY_FAIL(COFFER_FS_ERR(errno, "stat", path));
	ENSURE_FAIL(S_ISDIR(st.st_mode), COFFER_E_IO, "mkdir %s: exists and is not a directory", path);
fail:
	free(p);
	return rc;
}

bool coffer_fs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

char *coffer_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la == 0)
		return coffer_xstrdup(b);
	if (*b == '\0')
		return coffer_xstrdup(a);
	while (*b == '/')
		b++;
	if (a[la - 1] == '/')
		return coffer_xasprintf("%s%s", a, b);
	return coffer_xasprintf("%s/%s", a, b);
}
