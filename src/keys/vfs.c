/*
 * vfs.c - the POSIX file layer and the wrappers that check its contract
 * (vfs.h). Loops over short writes, retries EINTR, and maps errno to coffer
 * codes with the path in the message.
 */
#include "keys/vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/fs.h"

static int posix_open(struct coffer_vfs *v, const char *path, int flags, mode_t mode)
{
	(void)v;
	return open(path, flags | O_CLOEXEC, mode);
}
static ssize_t posix_pwrite(struct coffer_vfs *v, int fd, const void *p, size_t n, off_t off)
{
	(void)v;
	return pwrite(fd, p, n, off);
}
static ssize_t posix_pread(struct coffer_vfs *v, int fd, void *p, size_t n, off_t off)
{
	(void)v;
	return pread(fd, p, n, off);
}
static int posix_fsync(struct coffer_vfs *v, int fd)
{
	(void)v;
	return fdatasync(fd);
}
static int posix_ftruncate(struct coffer_vfs *v, int fd, off_t len)
{
	(void)v;
	return ftruncate(fd, len);
}
static int posix_close(struct coffer_vfs *v, int fd)
{
	(void)v;
	return close(fd);
}
static int posix_rename(struct coffer_vfs *v, const char *from, const char *to)
{
	(void)v;
	return rename(from, to);
}
static int posix_unlink(struct coffer_vfs *v, const char *path)
{
	(void)v;
	return unlink(path);
}
static int posix_sync_dir(struct coffer_vfs *v, const char *dir)
{
	(void)v;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static const struct coffer_vfs_ops posix_ops = {
	.open = posix_open,
	.pwrite = posix_pwrite,
	.pread = posix_pread,
	.fsync = posix_fsync,
	.ftruncate = posix_ftruncate,
	.close = posix_close,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.sync_dir = posix_sync_dir,
};
static struct coffer_vfs posix_vfs = {&posix_ops, NULL};

struct coffer_vfs *coffer_vfs_posix(void)
{
	return &posix_vfs;
}

coffer_rc coffer_vfs_open(struct coffer_vfs *v, const char *path, int flags, mode_t mode, int *fd_out)
{
	int fd;
	do {
		fd = v->ops->open(v, path, flags, mode);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return COFFER_FS_ERR(errno, "open", path);
	*fd_out = fd;
	return COFFER_OK;
}

coffer_rc coffer_vfs_pwrite_full(struct coffer_vfs *v, int fd, const void *p, size_t n, off_t off,
				 const char *path)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = v->ops->pwrite(v, fd, b, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return COFFER_FS_ERR(errno, "pwrite", path);
		if (w == 0)
			return COFFER_FS_ERR(EIO, "pwrite (no progress)", path);
		b += w;
		n -= (size_t)w;
		off += w;
	}
	return COFFER_OK;
}

coffer_rc coffer_vfs_pread_full(struct coffer_vfs *v, int fd, void *p, size_t n, off_t off,
				const char *path)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = v->ops->pread(v, fd, b, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return COFFER_FS_ERR(errno, "pread", path);
		if (r == 0)
			BAIL(COFFER_E_CORRUPT, "%s: truncated (wanted %zu more bytes at offset %lld)",
			     path, n, (long long)off);
		b += r;
		n -= (size_t)r;
		off += r;
	}
	return COFFER_OK;
}

coffer_rc coffer_vfs_fsync(struct coffer_vfs *v, int fd, const char *path)
{
	if (v->ops->fsync(v, fd) != 0)
		return COFFER_FS_ERR(errno, "fsync", path);
	return COFFER_OK;
}

coffer_rc coffer_vfs_ftruncate(struct coffer_vfs *v, int fd, off_t len, const char *path)
{
	if (v->ops->ftruncate(v, fd, len) != 0)
		return COFFER_FS_ERR(errno, "ftruncate", path);
	return COFFER_OK;
}

void coffer_vfs_close(struct coffer_vfs *v, int fd)
{
	if (fd >= 0)
		(void)v->ops->close(v, fd);
}

coffer_rc coffer_vfs_rename(struct coffer_vfs *v, const char *from, const char *to)
{
	if (v->ops->rename(v, from, to) != 0)
		return COFFER_FS_ERR(errno, "rename", to);
	return COFFER_OK;
}

coffer_rc coffer_vfs_unlink(struct coffer_vfs *v, const char *path)
{
	if (v->ops->unlink(v, path) != 0 && errno != ENOENT)
		return COFFER_FS_ERR(errno, "unlink", path);
	return COFFER_OK;
}

coffer_rc coffer_vfs_sync_dir(struct coffer_vfs *v, const char *dir)
{
	if (v->ops->sync_dir(v, dir) != 0)
		return COFFER_FS_ERR(errno, "fsync directory", dir);
	return COFFER_OK;
}

coffer_rc coffer_vfs_size(int fd, const char *path, uint64_t *out)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return COFFER_FS_ERR(errno, "fstat", path);
	*out = (uint64_t)st.st_size;
	return COFFER_OK;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return coffer_xstrdup(".");
	if (slash == path)
		return coffer_xstrdup("/");
	return coffer_xstrndup(path, (size_t)(slash - path));
}

coffer_rc coffer_vfs_write_atomic(struct coffer_vfs *v, const char *path, struct coffer_slice data)
{
	coffer_rc rc = COFFER_OK;
	int fd = -1;
	char *tmp = coffer_xasprintf("%s.tmp", path);
	char *dir = dir_of(path);

	TRY_FAIL(coffer_vfs_open(v, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd));
	TRY_FAIL(coffer_vfs_pwrite_full(v, fd, data.ptr, data.len, 0, tmp));
	TRY_FAIL(coffer_vfs_fsync(v, fd, tmp));
	coffer_vfs_close(v, fd);
	fd = -1;
	TRY_FAIL(coffer_vfs_rename(v, tmp, path));
	TRY_FAIL(coffer_vfs_sync_dir(v, dir));
	free(tmp);
	free(dir);
	return COFFER_OK;
fail:
	coffer_vfs_close(v, fd);
	(void)v->ops->unlink(v, tmp);
	free(tmp);
	free(dir);
	return rc;
}

coffer_rc coffer_vfs_read_all(struct coffer_vfs *v, const char *path, size_t max, struct coffer_buf *out)
{
	coffer_rc rc = COFFER_OK;
	int fd = -1;
	uint64_t size;
	TRY(coffer_vfs_open(v, path, O_RDONLY, 0, &fd));
	TRY_FAIL(coffer_vfs_size(fd, path, &size));
	ENSURE_FAIL(size <= max, COFFER_E_LIMIT, "%s: %llu bytes, more than %zu", path,
		    (unsigned long long)size, max);
	uint8_t *p = coffer_buf_extend(out, (size_t)size);
	TRY_FAIL(coffer_vfs_pread_full(v, fd, p, (size_t)size, 0, path));
	coffer_vfs_close(v, fd);
	return COFFER_OK;
fail:
	coffer_vfs_close(v, fd);
	return rc;
}
