/*
 * vfs_fault.c - the fault-injecting file layer (vfs_fault.h). Keeps a map from
 * fd to path so faults and counts can be selected by file name, and a list of
 * per-path byte counts.
 */
#include "keys/vfs_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define MAX_FD 65536

struct path_count {
	char *path;
	uint64_t bytes;
};

struct coffer_vfs_fault {
	struct coffer_vfs vfs;
	pthread_mutex_t mu;
	char *fd_path[MAX_FD];
	struct path_count *counts;
	size_t n_counts, cap_counts;
	uint64_t fsyncs;
	enum coffer_fault_kind kind;
	char *substr;
	uint64_t skip;
	int err;
	bool fired;
};

static struct coffer_vfs_fault *F(struct coffer_vfs *v)
{
	return v->impl;
}

static bool matches(const char *path, const char *substr)
{
	return !substr || (path && strstr(path, substr));
}

/* Whether the armed fault of `kind` fires for this op (caller holds mu). */
static bool fire(struct coffer_vfs_fault *f, enum coffer_fault_kind kind, const char *path)
{
	if (f->fired || f->kind == COFFER_FAULT_NONE)
		return false;
	bool kind_ok = f->kind == kind ||
		       (kind == COFFER_FAULT_WRITE_ERROR && (f->kind == COFFER_FAULT_SHORT_WRITE ||
							     f->kind == COFFER_FAULT_TORN_WRITE));
	if (!kind_ok || !matches(path, f->substr))
		return false;
	if (f->skip > 0) {
		f->skip--;
		return false;
	}
	f->fired = true;
	return true;
}

static void count(struct coffer_vfs_fault *f, const char *path, uint64_t n)
{
	if (!path)
		return;
	for (size_t i = 0; i < f->n_counts; i++)
		if (strcmp(f->counts[i].path, path) == 0) {
			f->counts[i].bytes += n;
			return;
		}
	if (f->n_counts == f->cap_counts) {
		f->cap_counts = f->cap_counts ? 2 * f->cap_counts : 64;
		f->counts = coffer_xrealloc(f->counts, f->cap_counts * sizeof(*f->counts));
	}
	f->counts[f->n_counts].path = coffer_xstrdup(path);
	f->counts[f->n_counts++].bytes = n;
}

static int f_open(struct coffer_vfs *v, const char *path, int flags, mode_t mode)
{
	struct coffer_vfs *p = coffer_vfs_posix();
	int fd = p->ops->open(p, path, flags, mode);
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&F(v)->mu);
		free(F(v)->fd_path[fd]);
		F(v)->fd_path[fd] = coffer_xstrdup(path);
		pthread_mutex_unlock(&F(v)->mu);
	}
	return fd;
}

static ssize_t f_pwrite(struct coffer_vfs *v, int fd, const void *b, size_t n, off_t off)
{
	struct coffer_vfs_fault *f = F(v);
	struct coffer_vfs *p = coffer_vfs_posix();
	pthread_mutex_lock(&f->mu);
	const char *path = fd >= 0 && fd < MAX_FD ? f->fd_path[fd] : NULL;
	enum coffer_fault_kind k = fire(f, COFFER_FAULT_WRITE_ERROR, path) ? f->kind : COFFER_FAULT_NONE;
	int err = f->err ? f->err : EIO;
	pthread_mutex_unlock(&f->mu);
	if (k == COFFER_FAULT_WRITE_ERROR) {
		errno = err;
		return -1;
	}
	size_t want = k == COFFER_FAULT_NONE ? n : n / 2;
	ssize_t w = want ? p->ops->pwrite(p, fd, b, want, off) : 0;
	if (w > 0) {
		pthread_mutex_lock(&f->mu);
		count(f, path, (uint64_t)w);
		pthread_mutex_unlock(&f->mu);
	}
	if (k == COFFER_FAULT_SHORT_WRITE) {
		errno = err;
		return -1;
	}
	if (k == COFFER_FAULT_TORN_WRITE)
		return (ssize_t)n;
	return w;
}

static ssize_t f_pread(struct coffer_vfs *v, int fd, void *b, size_t n, off_t off)
{
	(void)v;
	struct coffer_vfs *p = coffer_vfs_posix();
	return p->ops->pread(p, fd, b, n, off);
}

static int f_fsync(struct coffer_vfs *v, int fd)
{
	struct coffer_vfs_fault *f = F(v);
	struct coffer_vfs *p = coffer_vfs_posix();
	pthread_mutex_lock(&f->mu);
	const char *path = fd >= 0 && fd < MAX_FD ? f->fd_path[fd] : NULL;
	bool fail = fire(f, COFFER_FAULT_FSYNC, path);
	int err = f->err ? f->err : EIO;
	f->fsyncs++;
	pthread_mutex_unlock(&f->mu);
	if (fail) {
		errno = err;
		return -1;
	}
	return p->ops->fsync(p, fd);
}

static int f_ftruncate(struct coffer_vfs *v, int fd, off_t len)
{
	(void)v;
	struct coffer_vfs *p = coffer_vfs_posix();
	return p->ops->ftruncate(p, fd, len);
}

static int f_close(struct coffer_vfs *v, int fd)
{
	struct coffer_vfs *p = coffer_vfs_posix();
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&F(v)->mu);
		free(F(v)->fd_path[fd]);
		F(v)->fd_path[fd] = NULL;
		pthread_mutex_unlock(&F(v)->mu);
	}
	return p->ops->close(p, fd);
}

static int f_rename(struct coffer_vfs *v, const char *from, const char *to)
{
	struct coffer_vfs_fault *f = F(v);
	struct coffer_vfs *p = coffer_vfs_posix();
	pthread_mutex_lock(&f->mu);
	bool fail = fire(f, COFFER_FAULT_RENAME, to);
	int err = f->err ? f->err : EIO;
	pthread_mutex_unlock(&f->mu);
	if (fail) {
		errno = err;
		return -1;
	}
	return p->ops->rename(p, from, to);
}

static int f_unlink(struct coffer_vfs *v, const char *path)
{
	(void)v;
	struct coffer_vfs *p = coffer_vfs_posix();
	return p->ops->unlink(p, path);
}

static int f_sync_dir(struct coffer_vfs *v, const char *dir)
{
	(void)v;
	struct coffer_vfs *p = coffer_vfs_posix();
	return p->ops->sync_dir(p, dir);
}

static const struct coffer_vfs_ops fault_ops = {
	.open = f_open,
	.pwrite = f_pwrite,
	.pread = f_pread,
	.fsync = f_fsync,
	.ftruncate = f_ftruncate,
	.close = f_close,
	.rename = f_rename,
	.unlink = f_unlink,
	.sync_dir = f_sync_dir,
};

struct coffer_vfs_fault *coffer_vfs_fault_new(void)
{
	struct coffer_vfs_fault *f = COFFER_NEW(struct coffer_vfs_fault);
	pthread_mutex_init(&f->mu, NULL);
	f->vfs.ops = &fault_ops;
	f->vfs.impl = f;
	return f;
}

void coffer_vfs_fault_free(struct coffer_vfs_fault *f)
{
	if (!f)
		return;
	for (int i = 0; i < MAX_FD; i++)
		free(f->fd_path[i]);
	for (size_t i = 0; i < f->n_counts; i++)
		free(f->counts[i].path);
	free(f->counts);
	free(f->substr);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

struct coffer_vfs *coffer_vfs_fault_vfs(struct coffer_vfs_fault *f)
{
	return &f->vfs;
}

void coffer_vfs_fault_arm(struct coffer_vfs_fault *f, enum coffer_fault_kind kind,
			  const char *path_substr, uint64_t skip, int err)
{
	pthread_mutex_lock(&f->mu);
	free(f->substr);
	f->substr = path_substr ? coffer_xstrdup(path_substr) : NULL;
	f->kind = kind;
	f->skip = skip;
	f->err = err;
	f->fired = false;
	pthread_mutex_unlock(&f->mu);
}

bool coffer_vfs_fault_fired(struct coffer_vfs_fault *f)
{
	pthread_mutex_lock(&f->mu);
	bool r = f->fired;
	pthread_mutex_unlock(&f->mu);
	return r;
}

void coffer_vfs_fault_disarm(struct coffer_vfs_fault *f)
{
	coffer_vfs_fault_arm(f, COFFER_FAULT_NONE, NULL, 0, 0);
}

uint64_t coffer_vfs_fault_bytes(struct coffer_vfs_fault *f, const char *substr)
{
	uint64_t n = 0;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_counts; i++)
		if (matches(f->counts[i].path, substr))
			n += f->counts[i].bytes;
	pthread_mutex_unlock(&f->mu);
	return n;
}

uint64_t coffer_vfs_fault_fsyncs(struct coffer_vfs_fault *f)
{
	pthread_mutex_lock(&f->mu);
	uint64_t n = f->fsyncs;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void coffer_vfs_fault_reset_counts(struct coffer_vfs_fault *f)
{
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_counts; i++)
		free(f->counts[i].path);
	f->n_counts = 0;
	f->fsyncs = 0;
	pthread_mutex_unlock(&f->mu);
}
