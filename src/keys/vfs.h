/*
 * vfs.h - the file layer under the key registry and the storage engine.
 *
 * Every byte the registry, the commit log, SSTables and the manifest write goes
 * through a struct coffer_vfs, a small vtable over the POSIX calls. Production
 * uses coffer_vfs_posix(); tests install a fault-injecting layer (short write,
 * torn write, ENOSPC, EIO, failed fsync) and count bytes written (SQLite
 * test6.c). The vtable lives in src/keys because keys is the lowest module that
 * writes files crash-safely; it belongs in util and moves there when util
 * grows one.
 *
 * Contract of the ops (checked by the wrappers below):
 *  1. Ops return -1 with errno set on failure, like the system calls; the
 *     wrappers turn that into COFFER_E_IO / COFFER_E_NOSPACE naming the path.
 *  2. pwrite/write may write fewer bytes than asked (the wrappers loop).
 *  3. The layer never sees key material: only ciphertext and framing pass here.
 */
#ifndef COFFER_KEYS_VFS_H
#define COFFER_KEYS_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/bytes.h"
#include "util/result.h"

struct coffer_vfs;

struct coffer_vfs_ops {
	int (*open)(struct coffer_vfs *v, const char *path, int flags, mode_t mode);
	ssize_t (*pwrite)(struct coffer_vfs *v, int fd, const void *p, size_t n, off_t off);
	ssize_t (*pread)(struct coffer_vfs *v, int fd, void *p, size_t n, off_t off);
	int (*fsync)(struct coffer_vfs *v, int fd);
	int (*ftruncate)(struct coffer_vfs *v, int fd, off_t len);
	int (*close)(struct coffer_vfs *v, int fd);
	int (*rename)(struct coffer_vfs *v, const char *from, const char *to);
	int (*unlink)(struct coffer_vfs *v, const char *path);
	/* fsync of a directory (open O_DIRECTORY + fsync). */
	int (*sync_dir)(struct coffer_vfs *v, const char *dir);
};

struct coffer_vfs {
	const struct coffer_vfs_ops *ops;
	void *impl; /* the layer's own state */
};

/* The POSIX layer (static; never freed). */
struct coffer_vfs *coffer_vfs_posix(void);

/* Wrappers: each names `path` in its error. fd-based ones take the path only
 * for the message. */
COFFER_RESULT coffer_vfs_open(struct coffer_vfs *v, const char *path, int flags, mode_t mode,
			      int *fd_out);
COFFER_RESULT coffer_vfs_pwrite_full(struct coffer_vfs *v, int fd, const void *p, size_t n,
				     off_t off, const char *path);
/* A short file is COFFER_E_CORRUPT ("truncated") naming the path. */
COFFER_RESULT coffer_vfs_pread_full(struct coffer_vfs *v, int fd, void *p, size_t n, off_t off,
				    const char *path);
COFFER_RESULT coffer_vfs_fsync(struct coffer_vfs *v, int fd, const char *path);
COFFER_RESULT coffer_vfs_ftruncate(struct coffer_vfs *v, int fd, off_t len, const char *path);
void coffer_vfs_close(struct coffer_vfs *v, int fd);
COFFER_RESULT coffer_vfs_rename(struct coffer_vfs *v, const char *from, const char *to);
/* Missing file is not an error. */
COFFER_RESULT coffer_vfs_unlink(struct coffer_vfs *v, const char *path);
COFFER_RESULT coffer_vfs_sync_dir(struct coffer_vfs *v, const char *dir);
/* Size of an open file (fstat; not a vfs op since it writes nothing). */
COFFER_RESULT coffer_vfs_size(int fd, const char *path, uint64_t *out);
/* Durable replace (DESIGN.md 4): write `path`.tmp, fsync, rename, fsync dir. */
COFFER_RESULT coffer_vfs_write_atomic(struct coffer_vfs *v, const char *path,
				      struct coffer_slice data);
/* Reads a whole file (appending to out); fails above max bytes. */
COFFER_RESULT coffer_vfs_read_all(struct coffer_vfs *v, const char *path, size_t max,
				  struct coffer_buf *out);

#endif
