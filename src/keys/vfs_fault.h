/*
 * vfs_fault.h - a fault-injecting file layer for tests (after SQLite's
 * test6.c). It forwards to the POSIX layer, counts what is written per path,
 * and, when armed, makes one chosen operation fail: a write that fails outright
 * (EIO or ENOSPC), a short write (half the bytes land, then an error), a torn
 * write (half the bytes land but success is reported, as when power fails
 * after the call), a failed fsync, or a failed rename.
 *
 * Not used by any production path; it is compiled into coffer_keys so that the
 * keys and storage tests share one implementation.
 */
#ifndef COFFER_KEYS_VFS_FAULT_H
#define COFFER_KEYS_VFS_FAULT_H

#include <stdint.h>

#include "keys/vfs.h"

enum coffer_fault_kind {
	COFFER_FAULT_NONE,
	COFFER_FAULT_WRITE_ERROR,  /* pwrite returns -1 with `err`, nothing written */
	COFFER_FAULT_SHORT_WRITE,  /* half written, then -1 with `err` */
	COFFER_FAULT_TORN_WRITE,   /* half written, success reported */
	COFFER_FAULT_FSYNC,        /* fsync returns -1 with `err` */
	COFFER_FAULT_RENAME,       /* rename returns -1 with `err` */
};

struct coffer_vfs_fault;

struct coffer_vfs_fault *coffer_vfs_fault_new(void);
void coffer_vfs_fault_free(struct coffer_vfs_fault *f);
struct coffer_vfs *coffer_vfs_fault_vfs(struct coffer_vfs_fault *f);

/* Arms one fault: the (skip+1)-th matching operation of that kind on a path
 * containing `path_substr` (NULL: any) fails as described, once. */
void coffer_vfs_fault_arm(struct coffer_vfs_fault *f, enum coffer_fault_kind kind,
			  const char *path_substr, uint64_t skip, int err);
/* Whether the armed fault has fired. */
bool coffer_vfs_fault_fired(struct coffer_vfs_fault *f);
void coffer_vfs_fault_disarm(struct coffer_vfs_fault *f);

/* Bytes written (pwrite) to paths containing `substr` (NULL: all) since the
 * last reset; and the count of fsyncs. */
uint64_t coffer_vfs_fault_bytes(struct coffer_vfs_fault *f, const char *substr);
uint64_t coffer_vfs_fault_fsyncs(struct coffer_vfs_fault *f);
void coffer_vfs_fault_reset_counts(struct coffer_vfs_fault *f);

#endif
