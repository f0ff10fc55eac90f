/*
 * fs.h - durable file operations, the only way coffer writes files that must
 * survive a crash (DESIGN.md section 4): write to a temporary name, fsync,
 * rename over the target, fsync the directory.
 *
 * All functions return COFFER_E_IO (or COFFER_E_NOSPACE for ENOSPC) with a
 * message naming the path and the failing call.
 */
#ifndef COFFER_UTIL_FS_H
#define COFFER_UTIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/bytes.h"
#include "util/result.h"

/* Atomically replaces `path` with `data` (mode bits `mode`). */
COFFER_RESULT coffer_fs_write_atomic(const char *path, struct coffer_slice data, mode_t mode);
/* Reads a whole file into `out` (appending). Fails if larger than max. */
COFFER_RESULT coffer_fs_read_all(const char *path, size_t max, struct coffer_buf *out);
/* fsync the directory that holds `path` (or `path` itself if it is a directory). */
COFFER_RESULT coffer_fs_sync_dir(const char *dir);
/* mkdir -p with mode. */
COFFER_RESULT coffer_fs_mkdirs(const char *path, mode_t mode);
/* write(2) all n bytes, retrying on EINTR and short writes. */
COFFER_RESULT coffer_fs_write_full(int fd, const void *p, size_t n, const char *path);
/* pread all n bytes at off; a short file is COFFER_E_CORRUPT naming path. */
COFFER_RESULT coffer_fs_pread_full(int fd, void *p, size_t n, off_t off, const char *path);
COFFER_RESULT coffer_fs_fsync(int fd, const char *path);
bool coffer_fs_exists(const char *path);
/* Joins two path parts into a fresh string. */
char *coffer_path_join(const char *a, const char *b);
/* Maps errno to COFFER_E_NOSPACE or COFFER_E_IO and sets the message. */
coffer_rc coffer_fs_errno(int err, const char *where, const char *call, const char *path);
#define COFFER_FS_ERR(err, call, path) coffer_fs_errno((err), COFFER_WHERE, (call), (path))

#endif
