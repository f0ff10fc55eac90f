/*
 * commitlog.c - the table's commit log: segments, each under its own data key,
 * holding AES-256-GCM-sealed groups of writes; group commit; replay.
 *
 * Segment file CL-<id>.log (integers big-endian):
 *
 *   OFFSET  SIZE  MEANING
 *   0       8     magic "CFCLOG02" (segments written before PITR: "CFCLOG01",
 *                 still read; their groups have no time and count as time 0)
 *   8       36    table id (uuid text; also bound into every group's AAD)
 *   44      8     segment id (a file id; selects the data key in the registry)
 *   52      var   groups, each:
 *   +0      4       n = plaintext length
 *   +4      4       n xor 0xFFFFFFFF (a damaged length is corruption, not a tear)
 *   +8      8       group sequence number s (0, 1, 2, ... within the segment)
 *   +16     n+16    AES-256-GCM ciphertext || tag of the plaintext, sealed as
 *                   block kind 6 number s (block.c: nonce and AAD from s)
 *   plaintext (CFCLOG02):
 *   +0      8       group time: the leader's wall clock, µs since the epoch
 *                   (table_wall_now: never below an earlier group's time)
 *   +8      n-8     entries (varint klen | key | varint vlen | value)*
 *   plaintext (CFCLOG01): the entries only
 *
 * The group time is inside the sealed plaintext, so it is authenticated and
 * does not show on disk; point-in-time restores keep exactly the groups with
 * time <= the restore point (restore.c). A segment's groups all have times >=
 * the time its creation was recorded in the backup journal (backup.c).
 *
 * Group commit (DESIGN.md section 4): a writer appends its entries to the
 * pending group and either parks on its own futex word (commitlog_write) or
 * leaves a completion behind and returns (commitlog_write_async: the caller
 * gets its answer through done(arg, rc, msg) later). A writer that finds no
 * leader becomes the leader: it takes everything pending, seals it as one
 * group, writes it and fsyncs once. As soon as the group is durable it passes
 * leadership on: to a commitlog_exclusive caller if one waits, else to the
 * oldest parked writer (waking that one thread only), else, when the oldest
 * pending writer is a completion, to the leader pool (a few process-wide
 * threads; without them the leader leads the next group itself afterwards).
 * Only then does it apply its group to the memtable, wake exactly the parked
 * writers of its group and run its completions - so the next group's write
 * and fsync overlap this group's memtable insert and answers instead of
 * waiting for them. One fsync thus serves all writes that arrived meanwhile,
 * no wake-up makes threads outside the group fight for the mutex, and a
 * completed write costs no thread a park or a wake-up at all.
 *
 *   writer: PENDING ──(leader took it)──► IN FLIGHT ──fsync ok──► APPLIED ──► returns OK
 *                                              │                              (or done(OK))
 *                                              └──write/fsync failed──► returns the error
 *                                                                      (or done(rc, msg))
 *
 * Invariants:
 *  1. A write returns OK (or its completion runs with OK) only after its
 *     group is durable (fsync succeeded; unless the table was opened no_sync
 *     for benchmarks) and applied to the memtable, so a reader never sees a
 *     write that could be lost.
 *  2. Exactly one leader at a time: it alone writes the segment and inserts
 *     into the memtable (memtable invariant 1).
 *  3. A group that failed is cut off the segment (ftruncate to the last good
 *     offset) before anything else is written; if even that fails the log is
 *     "broken" and refuses writes until the table is reopened, so a damaged
 *     group can never end up in the middle of a segment.
 *  4. On replay, only the last group of the newest segment may be torn
 *     (incomplete, a damaged header, or failing authentication, with nothing
 *     but zeros after it); it is truncated away. Anything else that fails is
 *     COFFER_E_CORRUPT naming the file and group.
 *  5. While anything is pending, someone leads or is being woken to lead:
 *     a completion never waits for a writer that will not come. Whoever is
 *     made leader by commitlog_write_async (*lead) must call commitlog_lead;
 *     commitlog_drain (table close) leads what is left.
 *  6. Groups reach the memtable in the order they were taken (each takes a
 *     ticket; its applier waits until `applied` equals it), so the memtable
 *     keeps one writer and sees writes in log order even though the next
 *     group is already being written.
 *  7. Whatever needs the log to itself (a memtable freeze rolls the segment
 *     and swaps the memtable together; flush, PITR switches, close) runs via
 *     commitlog_exclusive, which waits until no leader is active AND every
 *     taken group is applied: a freeze can never strand a durable group of
 *     the old segment in the new memtable.
 *  8. Only the newest segment may end in zeros (preallocated space, below):
 *     a segment is cut back to its last group before the log moves on or
 *     closes, and the leader never writes where a zero fill is running.
 *     Replay and verify read the newest segment up to its last non-zero
 *     byte.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "util/fs.h"
#include "util/alloc.h"

#define CL_MAGIC "CFCLOG02"
#define CL_MAGIC_V1 "CFCLOG01"
#define CL_HEADER 52
#define GROUP_HEADER 16
#define GROUP_TIME 8

/* A writer waiting for its group. A parked writer's lives on its own stack
 * and it sleeps on its own futex word, so a finished group wakes exactly its
 * writers (and the next leader), never every thread parked in the log. A
 * completion's (done != NULL) is allocated by commitlog_write_async and freed
 * by the leader once done has run. */
enum { WAITER_PARKED, WAITER_DONE, WAITER_LEAD };

struct waiter {
	struct waiter *next;  /* pending list, under mu; the group's, leader-owned */
	int state;            /* WAITER_*: set once by a leader, atomically */
	coffer_rc rc;         /* DONE: the group's result, written before state */
	char msg[256];        /* its message when rc != COFFER_OK */
	commitlog_done_fn done; /* NULL: a parked writer */
	void *arg;
};

struct commitlog {
	struct coffer_table *t;
	pthread_mutex_t mu;
	pthread_cond_t excl_cv;         /* commitlog_exclusive waits here for the leader */
	pthread_cond_t apply_cv;        /* appliers wait here for their turn (invariant 6) */
	unsigned excl_waiting;
	bool leader;                    /* someone leads (or a waiter is being woken to) */
	uint64_t taken, applied;        /* groups taken by leaders / past their apply turn */
	bool freeze_due;                /* a full memtable waits for the next leader to freeze it */
	bool draining;                  /* closing: the closer leads what is left, no hand-off */
	/* preallocation (invariant 8), under mu */
	pthread_cond_t zero_cv;         /* the leader and close wait here for a zero fill */
	uint64_t zeroed;                /* the segment holds zeros (or groups) up to here, size durable */
	uint64_t claimed;               /* everything below is written or being zero-filled */
	bool zeroing;                   /* a pool thread fills [zeroed, claimed) with zeros */
	bool zero_failed;               /* a zero fill failed: this segment is appended to */
	int zero_jobs;                  /* zero fills queued or running (roll and close wait) */
	struct coffer_buf pending;
	struct waiter *head, *tail;     /* the writers whose entries are in pending */
	bool broken;
	/* leader-owned */
	bool open;
	int fd;
	char *path;
	uint64_t seg_id, off, seq;
	struct block_ctx bc;
	struct coffer_buf frame;
	struct coffer_buf plain;        /* group time | entries, sealed into frame */
	uint64_t groups, writes, pending_writes;
	uint64_t last_group_writes;
};

char *commitlog_segment_path(const struct coffer_table *t, uint64_t id)
{
	char name[64];
	snprintf(name, sizeof(name), "CL-%016llx.log", (unsigned long long)id);
	return coffer_path_join(t->dir, name);
}

static void ignore(coffer_rc rc)
{
	(void)rc;
}

/* ---- the leader pool ---------------------------------------------------------
 *
 * A group whose oldest pending writer is a completion has no parked thread to
 * lead it. Rather than have the leader of the previous group lead it after
 * applying its own (the memtable insert and the completions would then sit
 * between two fsyncs), the log is handed to one of a few process-wide threads
 * that do nothing else. They start with the first hand-off; when they cannot
 * be started the previous leader leads on itself, as before. */

#define POOL_THREADS 2

struct pool_job {
	struct pool_job *next;
	void (*fn)(void *arg);
	void *arg;
};

static struct {
	pthread_once_t once;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_job *head, *tail;
	int threads;
} pool = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *pool_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head)
			pthread_cond_wait(&pool.cv, &pool.mu);
		struct pool_job *j = pool.head;
		pool.head = j->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.mu);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&pool.mu);
	}
	return NULL;
}

/* A child of fork() has none of the pool's threads: it leads and appends by
 * itself (pool_run says no). */
static void pool_after_fork(void)
{
	pool.threads = 0;
	pool.head = pool.tail = NULL;
	pthread_mutex_init(&pool.mu, NULL);
	pthread_cond_init(&pool.cv, NULL);
}

static void pool_start(void)
{
	pthread_atfork(NULL, NULL, pool_after_fork);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < POOL_THREADS; i++) {
		pthread_t th;
		if (pthread_create(&th, &at, pool_main, NULL) == 0)
			pool.threads++;
	}
	pthread_attr_destroy(&at);
}

/* Runs fn(arg) on a pool thread soon; false when the pool has no thread. */
static bool pool_run(void (*fn)(void *arg), void *arg)
{
	pthread_once(&pool.once, pool_start);
	if (!pool.threads)
		return false;
	struct pool_job *j = COFFER_NEW(struct pool_job);
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&pool.mu);
	if (pool.tail)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	return true;
}

static void lead_job(void *arg)
{
	commitlog_lead(arg);
}

/* ---- preallocation (invariant 8) -----------------------------------------------
 *
 * Appending to a file makes every fdatasync write the inode too (its size
 * changed); overwriting blocks that already exist does not, and on the
 * development VM's ext4 such a sync takes about half as long with a much
 * shorter tail (bench/README.md). So a pool thread zero-fills the segment a
 * chunk ahead of the leader and makes that durable; the leader then writes
 * groups over zeros. Zeros after the last group are not a torn write:
 * replay and verify stop at the last non-zero byte of the newest segment, and
 * a segment is cut to its last group when the log moves to the next one or
 * closes, so only the newest segment ever ends in zeros. */

static uint64_t prealloc_chunk(const struct coffer_table *t)
{
	uint64_t c = t->segment_bytes / 8;
	return c < (64u << 10) ? (64u << 10) : c > (1u << 20) ? (1u << 20) : c;
}

/* The zeros go in with O_DIRECT where the file system allows it: the leader's
 * fdatasync writes back every dirty page of the file, so zeros left in the
 * page cache would make the group that happens to sync next pay for the
 * whole chunk (a multi-millisecond stall every chunk). Written directly they
 * are on the device before the job's own fdatasync, which then only makes
 * the new size durable. The fill starts at a block boundary: the bytes
 * between the last group and it lie in a block the segment already has. */
#define ZERO_ALIGN 4096

static void zero_fill_job(void *arg)
{
	static const uint8_t zeros[64 << 10] __attribute__((aligned(ZERO_ALIGN)));
	struct commitlog *l = arg;
	struct coffer_table *t = l->t;
	pthread_mutex_lock(&l->mu);
	bool skip = !l->open || l->zeroing || l->zero_failed;
	uint64_t from = (l->claimed + ZERO_ALIGN - 1) & ~(uint64_t)(ZERO_ALIGN - 1);
	uint64_t to = from + prealloc_chunk(t);
	int fd = l->fd, dfd = -1;
	const char *path = l->path;
	if (!skip) {
		l->zeroing = true;
		l->claimed = to;
	}
	pthread_mutex_unlock(&l->mu);
	coffer_rc rc = COFFER_OK;
	if (!skip && coffer_vfs_open(t->vfs, path, O_WRONLY | O_DIRECT, 0600, &dfd) != COFFER_OK) {
		coffer_error_clear(); /* no O_DIRECT here (tmpfs, say): through the page cache */
		dfd = -1;
	}
	for (uint64_t o = from; !skip && rc == COFFER_OK && o < to; o += sizeof(zeros)) {
		rc = coffer_vfs_pwrite_full(t->vfs, dfd >= 0 ? dfd : fd, zeros, sizeof(zeros), (off_t)o, path);
		if (rc != COFFER_OK && dfd >= 0 && o == from) {
			/* refused at the first write (alignment rules of the device):
			 * the page cache it is */
			coffer_error_clear();
			coffer_vfs_close(t->vfs, dfd);
			dfd = -1;
			rc = coffer_vfs_pwrite_full(t->vfs, fd, zeros, sizeof(zeros), (off_t)o, path);
		}
	}
	if (!skip && rc == COFFER_OK)
		rc = coffer_vfs_fsync(t->vfs, fd, path);
	/* Zeros written directly are not in the page cache, and a group that
	 * starts inside a page the cache lacks makes its write() read that page
	 * from the disk first, synchronously, on the leader's path (about one
	 * read per group under load). Read the chunk in now, off that path. */
	if (!skip && rc == COFFER_OK && dfd >= 0)
		(void)posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_WILLNEED);
	if (dfd >= 0)
		coffer_vfs_close(t->vfs, dfd);
	if (!skip && rc != COFFER_OK)
		coffer_log_warn(t->log, "storage", "%s: preallocating commit-log space failed (%s); appending instead",
				path, coffer_error_msg());
	pthread_mutex_lock(&l->mu);
	if (!skip) {
		if (rc == COFFER_OK)
			l->zeroed = to;
		else
			l->zero_failed = true;
		l->zeroing = false;
	}
	l->zero_jobs--;
	pthread_cond_broadcast(&l->zero_cv);
	pthread_mutex_unlock(&l->mu);
}

/* The leader, before writing [l->off, end): waits while those bytes are being
 * zero-filled, claims them, and starts the next zero fill when the zeros run
 * low. */
static void prealloc_claim(struct commitlog *l, uint64_t end)
{
	struct coffer_table *t = l->t;
	uint64_t chunk = prealloc_chunk(t);
	pthread_mutex_lock(&l->mu);
	while (l->zeroing && end > l->zeroed)
		pthread_cond_wait(&l->zero_cv, &l->mu);
	if (end > l->claimed)
		l->claimed = end;
	/* only a busy segment (a chunk written already): a table written now
	 * and then does not get a chunk of zeros per segment */
	bool ahead = !t->no_sync && !l->zero_failed && l->zero_jobs == 0 && end >= chunk &&
		     l->zeroed < end + chunk / 2 && l->claimed < t->segment_bytes + chunk;
	if (ahead)
		l->zero_jobs++;
	pthread_mutex_unlock(&l->mu);
	if (ahead && !pool_run(zero_fill_job, l)) {
		pthread_mutex_lock(&l->mu);
		l->zero_jobs--;
		l->zero_failed = true; /* no pool thread: append */
		pthread_mutex_unlock(&l->mu);
	}
}

/* Waits until no zero fill is queued or running (leader or close). */
static void prealloc_quiesce(struct commitlog *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->zero_jobs)
		pthread_cond_wait(&l->zero_cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

static void close_segment(struct commitlog *l)
{
	if (!l->open)
		return;
	coffer_vfs_close(l->t->vfs, l->fd);
	block_ctx_free(&l->bc);
	free(l->path);
	l->path = NULL;
	l->open = false;
}

static coffer_rc open_segment(struct commitlog *l)
{
	coffer_rc rc = COFFER_OK;
	struct coffer_table *t = l->t;
	struct coffer_secret key = {0};
	uint8_t hdr[CL_HEADER];
	uint64_t id = table_alloc_file_id(t);
	char *path = commitlog_segment_path(t, id);
	int fd = -1;
	bool bc = false;
	/* keyring invariant 2: the key is durable before the file exists */
	TRY_FAIL(coffer_keyring_new_data_key(t->kr, id, COFFER_KEY_PURPOSE_COMMITLOG, &key));
	TRY_FAIL(block_ctx_init(&l->bc, &key, t->table_id, id));
	bc = true;
	TRY_FAIL(coffer_vfs_open(t->vfs, path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd));
	memcpy(hdr, CL_MAGIC, 8);
	memcpy(hdr + 8, t->table_id, COFFER_TABLE_ID_LEN);
	coffer_store_u64(hdr + 44, id);
	TRY_FAIL(coffer_vfs_pwrite_full(t->vfs, fd, hdr, sizeof(hdr), 0, path));
	TRY_FAIL(coffer_vfs_fsync(t->vfs, fd, path));
	TRY_FAIL(coffer_vfs_sync_dir(t->vfs, t->dir));
	/* PITR: archived from creation on (appends show through both names) */
	TRY_FAIL(backup_on_segment(t, id, path));
	coffer_secret_free(&key);
	l->open = true;
	l->fd = fd;
	l->path = path;
	l->seg_id = id;
	l->off = CL_HEADER;
	l->seq = 0;
	pthread_mutex_lock(&l->mu);
	l->zeroed = l->claimed = CL_HEADER;
	l->zero_failed = false;
	pthread_mutex_unlock(&l->mu);
	return COFFER_OK;
fail:
	coffer_secret_free(&key);
	if (bc)
		block_ctx_free(&l->bc);
	coffer_vfs_close(t->vfs, fd);
	ignore(coffer_vfs_unlink(t->vfs, path));
	ignore(coffer_keyring_delete_data_key(t->kr, id));
	free(path);
	return rc;
}

/* Ends the open segment: no zero fill left running, the preallocated zeros
 * cut off (invariant 8), durable. */
static coffer_rc end_segment(struct commitlog *l)
{
	pthread_mutex_lock(&l->mu);
	l->zero_failed = true; /* a queued fill skips */
	bool zeros = l->claimed > l->off;
	pthread_mutex_unlock(&l->mu);
	prealloc_quiesce(l);
	if (zeros)
		TRY(coffer_vfs_ftruncate(l->t->vfs, l->fd, (off_t)l->off, l->path));
	return coffer_vfs_fsync(l->t->vfs, l->fd, l->path);
}

coffer_rc commitlog_roll(struct commitlog *l, uint64_t *next_segment_id)
{
	if (l->open) {
		TRY(end_segment(l));
		close_segment(l);
	}
	TRY(open_segment(l));
	*next_segment_id = l->seg_id;
	return COFFER_OK;
}

coffer_rc commitlog_open(struct coffer_table *t, struct commitlog **out)
{
	struct commitlog *l = COFFER_NEW(struct commitlog);
	l->t = t;
	l->fd = -1;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->excl_cv, NULL);
	pthread_cond_init(&l->apply_cv, NULL);
	pthread_cond_init(&l->zero_cv, NULL);
	coffer_rc rc = open_segment(l);
	if (rc != COFFER_OK) {
		commitlog_close(l);
		return rc;
	}
	*out = l;
	return COFFER_OK;
}

void commitlog_close(struct commitlog *l)
{
	if (!l)
		return;
	prealloc_quiesce(l); /* before reading `claimed`: a fill may still be running */
	if (l->open && (l->t->no_sync || l->claimed > l->off) && !l->broken)
		ignore(end_segment(l));
	close_segment(l);
	coffer_buf_free(&l->pending);
	coffer_buf_free(&l->frame);
	coffer_wipe(l->plain.ptr, l->plain.cap);
	coffer_buf_free(&l->plain);
	pthread_cond_destroy(&l->excl_cv);
	pthread_cond_destroy(&l->apply_cv);
	pthread_cond_destroy(&l->zero_cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* The leader's work for one group (outside mu): write it and make it durable. */
static coffer_rc commit_group(struct commitlog *l, struct coffer_slice entries)
{
	struct coffer_table *t = l->t;
	TRY(table_before_write(t));
	if (!l->open || l->off >= t->segment_bytes) {
		uint64_t next;
		TRY(commitlog_roll(l, &next));
	}
	/* the time is taken after the roll: a segment's groups are never older
	 * than its creation record in the backup journal */
	coffer_buf_reset(&l->plain);
	coffer_buf_put_u64(&l->plain, (uint64_t)table_wall_now(t));
	coffer_buf_put(&l->plain, entries.ptr, entries.len);
	coffer_buf_reset(&l->frame);
	coffer_buf_put_u32(&l->frame, (uint32_t)l->plain.len);
	coffer_buf_put_u32(&l->frame, ~(uint32_t)l->plain.len);
	coffer_buf_put_u64(&l->frame, l->seq);
	coffer_rc src = block_seal(&l->bc, BLOCK_COMMIT, l->seq, coffer_buf_slice(&l->plain), &l->frame);
	coffer_wipe(l->plain.ptr, l->plain.len);
	TRY(src);
	prealloc_claim(l, l->off + l->frame.len);
	coffer_rc rc = coffer_vfs_pwrite_full(t->vfs, l->fd, l->frame.ptr, l->frame.len, (off_t)l->off,
					      l->path);
	if (rc == COFFER_OK && !t->no_sync)
		rc = coffer_vfs_fsync(t->vfs, l->fd, l->path);
	if (rc != COFFER_OK) {
		/* invariant 3 */
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		if (coffer_vfs_ftruncate(t->vfs, l->fd, (off_t)l->off, l->path) != COFFER_OK ||
		    coffer_vfs_fsync(t->vfs, l->fd, l->path) != COFFER_OK)
			l->broken = true;
		return coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	}
	l->off += l->frame.len;
	l->seq++;
	return COFFER_OK;
}

/* Parks the calling writer until a leader changes w->state (see struct waiter). */
static int waiter_park(struct waiter *w)
{
	for (;;) {
		int st = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);
		if (st != WAITER_PARKED)
			return st;
		/* returns at once if the state changed since the load (EAGAIN) */
		syscall(SYS_futex, &w->state, FUTEX_WAIT_PRIVATE, WAITER_PARKED, NULL, NULL, 0);
	}
}

/* Sets w's final state; after the store the waiter may return and its frame
 * may be gone, so nothing of w is touched afterwards but the futex word's
 * address (a wake on a stale address is at worst a spurious wake-up, which
 * every futex user tolerates). */
static void waiter_wake(struct waiter *w, int state)
{
	__atomic_store_n(&w->state, state, __ATOMIC_RELEASE);
	syscall(SYS_futex, &w->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Passes leadership on once a group is durable (mu held). A
 * commitlog_exclusive caller waiting goes first; otherwise the oldest pending
 * writer: a parked one is woken as the next leader (so only that thread
 * wakes); a completion has no thread, so the log goes to the leader pool, or,
 * without one, true tells the caller to lead the next group itself once its
 * own is applied (invariant 5). With nothing pending the log goes idle. */
static bool release_leadership(struct commitlog *l)
{
	if (l->excl_waiting || !l->head) {
		l->leader = false;
		if (l->excl_waiting)
			pthread_cond_broadcast(&l->excl_cv);
		return false;
	}
	if (l->head->done)
		return l->draining || !pool_run(lead_job, l); /* l->leader stays set for the pool */
	waiter_wake(l->head, WAITER_LEAD);
	return false;
}

/* Invariant 6: group `ticket` is applied after every group taken before it
 * (mu held; waits only while an earlier group's applier is still busy). */
static void apply_turn(struct commitlog *l, uint64_t ticket)
{
	while (l->applied != ticket)
		pthread_cond_wait(&l->apply_cv, &l->mu);
}

static void apply_done(struct commitlog *l)
{
	l->applied++;
	pthread_cond_broadcast(&l->apply_cv);
	if (l->excl_waiting)
		pthread_cond_broadcast(&l->excl_cv);
}

/* Leads groups until leadership passes on (mu held on entry and on return;
 * the caller holds l->leader). `self`, a parked writer leading for itself
 * (or NULL), gets its group's result in self->rc / self->msg. Once this
 * thread has marked its group applied it touches l only while it holds
 * leadership (a close waits for both), so the log may be freed as soon as it
 * lets go of mu. */
static void lead(struct commitlog *l, struct waiter *self)
{
	for (;;) {
		/* The writers the last group woke are about to queue again; with
		 * an fsync to pay for, give them a moment so one fsync serves them
		 * all (at most a few yields; never when alone or not syncing). */
		for (int y = 0; y < 4 && !l->t->no_sync && l->last_group_writes > 1 &&
				l->pending_writes < l->last_group_writes;
		     y++) {
			pthread_mutex_unlock(&l->mu);
			sched_yield();
			pthread_mutex_lock(&l->mu);
		}
		struct coffer_buf taken = l->pending;
		l->pending = (struct coffer_buf){0};
		struct waiter *group = l->head;
		l->head = l->tail = NULL;
		uint64_t nw = l->pending_writes;
		l->pending_writes = 0;
		l->last_group_writes = nw;
		uint64_t ticket = l->taken++;
		bool freeze = l->freeze_due;
		l->freeze_due = false;
		if (freeze)
			apply_turn(l, ticket); /* invariant 7: every earlier group applied */
		pthread_mutex_unlock(&l->mu);
		if (freeze)
			table_after_write(l->t);
		coffer_rc rc = l->broken ? coffer_error_set(COFFER_E_IO, COFFER_WHERE, "commit log failed earlier")
					 : commit_group(l, coffer_buf_slice(&taken));
		char msg[256] = "";
		if (rc != COFFER_OK)
			snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		pthread_mutex_lock(&l->mu);
		if (rc == COFFER_OK) {
			l->groups++;
			l->writes += nw;
		}
		/* the group is durable (or failed and cut off): the next one may
		 * be written while this one is applied */
		bool again = release_leadership(l);
		apply_turn(l, ticket);
		pthread_mutex_unlock(&l->mu);
		if (rc == COFFER_OK) {
			rc = table_apply_entries(l->t, coffer_buf_slice(&taken));
			if (rc != COFFER_OK)
				snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
		}
		bool full = table_memtable_full(l->t);
		coffer_wipe(taken.ptr, taken.len);
		coffer_buf_free(&taken);
		/* invariant 1: only now, after the fsync and the memtable, do
		 * writers return and completions run */
		for (struct waiter *w = group, *next; w; w = next) {
			next = w->next;
			if (w->done) {
				w->done(w->arg, rc, rc == COFFER_OK ? NULL : msg);
				free(w);
				continue;
			}
			w->rc = rc;
			memcpy(w->msg, msg, sizeof(msg));
			if (w != self)
				waiter_wake(w, WAITER_DONE);
		}
		self = NULL; /* its group is done */
		pthread_mutex_lock(&l->mu);
		apply_done(l);
		if (full) {
			/* invariant 7: a freeze needs the log to itself */
			if (!again && l->leader) {
				l->freeze_due = true; /* the next group's leader freezes first */
			} else {
				if (!again) {
					l->leader = true;
					while (l->applied != l->taken)
						pthread_cond_wait(&l->apply_cv, &l->mu);
				}
				pthread_mutex_unlock(&l->mu);
				table_after_write(l->t);
				pthread_mutex_lock(&l->mu);
				if (!again)
					again = release_leadership(l);
			}
		}
		if (!again)
			return;
	}
}

/* Appends the mutations to the pending group and the waiter to its list
 * (mu held); true when the caller became the leader. */
static bool enqueue(struct commitlog *l, struct coffer_slice *muts, size_t n, struct waiter *w)
{
	for (size_t i = 0; i < n; i++)
		coffer_buf_put(&l->pending, muts[i].ptr, muts[i].len);
	l->pending_writes++;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	bool lead = !l->leader;
	l->leader = true;
	return lead;
}

static coffer_rc refuse_broken(struct commitlog *l)
{
	pthread_mutex_unlock(&l->mu);
	BAIL(COFFER_E_IO, "table %s: commit log failed earlier; reopen the table", l->t->table_id);
}

coffer_rc commitlog_write(struct commitlog *l, struct coffer_slice *muts, size_t n)
{
	struct waiter self = {.state = WAITER_PARKED};
	pthread_mutex_lock(&l->mu);
	if (l->broken)
		return refuse_broken(l);
	if (!enqueue(l, muts, n, &self)) {
		pthread_mutex_unlock(&l->mu);
		int st = waiter_park(&self);
		if (st == WAITER_DONE) {
			if (self.rc != COFFER_OK)
				return coffer_error_set(self.rc, COFFER_WHERE, "%s", self.msg);
			return COFFER_OK;
		}
		/* WAITER_LEAD: leadership was handed over; our entries are still pending */
		pthread_mutex_lock(&l->mu);
	}
	lead(l, &self);
	pthread_mutex_unlock(&l->mu);
	if (self.rc != COFFER_OK)
		return coffer_error_set(self.rc, COFFER_WHERE, "%s", self.msg);
	return COFFER_OK;
}

coffer_rc commitlog_write_async(struct commitlog *l, struct coffer_slice *muts, size_t n, commitlog_done_fn done,
				void *arg, bool *must_lead)
{
	*must_lead = false;
	pthread_mutex_lock(&l->mu);
	if (l->broken)
		return refuse_broken(l);
	struct waiter *w = COFFER_NEW(struct waiter);
	w->done = done;
	w->arg = arg;
	*must_lead = enqueue(l, muts, n, w);
	pthread_mutex_unlock(&l->mu);
	return COFFER_OK;
}

void commitlog_lead(struct commitlog *l)
{
	pthread_mutex_lock(&l->mu);
	lead(l, NULL);
	pthread_mutex_unlock(&l->mu);
}

void commitlog_lead_soon(struct commitlog *l)
{
	if (!pool_run(lead_job, l))
		commitlog_lead(l);
}

coffer_rc commitlog_exclusive(struct commitlog *l, coffer_rc (*fn)(struct coffer_table *t, void *arg),
			      void *arg)
{
	pthread_mutex_lock(&l->mu);
	l->excl_waiting++;
	while (l->leader || l->applied != l->taken)
		pthread_cond_wait(&l->excl_cv, &l->mu);
	l->excl_waiting--;
	l->leader = true;
	pthread_mutex_unlock(&l->mu);
	coffer_rc rc = fn(l->t, arg);
	char msg[256] = "";
	if (rc != COFFER_OK)
		snprintf(msg, sizeof(msg), "%s", coffer_error_msg());
	pthread_mutex_lock(&l->mu);
	/* completions queued meanwhile have no thread of their own (invariant 5) */
	if (release_leadership(l))
		lead(l, NULL);
	pthread_mutex_unlock(&l->mu);
	if (rc != COFFER_OK)
		coffer_error_set(rc, COFFER_WHERE, "%s", msg);
	return rc;
}

static coffer_rc nothing(struct coffer_table *t, void *arg)
{
	(void)t;
	(void)arg;
	return COFFER_OK;
}

void commitlog_drain(struct commitlog *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->draining = true;
	pthread_mutex_unlock(&l->mu);
	ignore(commitlog_exclusive(l, nothing, NULL));
}

void commitlog_stats(struct commitlog *l, uint64_t *groups, uint64_t *writes)
{
	pthread_mutex_lock(&l->mu);
	*groups = l->groups;
	*writes = l->writes;
	pthread_mutex_unlock(&l->mu);
}

/* ---- replay ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment ids present in the directory, sorted. */
coffer_rc commitlog_list(struct coffer_table *t, uint64_t **ids, size_t *n)
{
	DIR *d = opendir(t->dir);
	if (!d)
		return COFFER_FS_ERR(errno, "opendir", t->dir);
	size_t cap = 16;
	*ids = coffer_xcalloc(cap, sizeof(**ids));
	*n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned long long id;
		char tail[8];
		if (sscanf(de->d_name, "CL-%16llx.%7s", &id, tail) == 2 && strcmp(tail, "log") == 0 &&
		    strlen(de->d_name) == 23) {
			if (*n == cap) {
				cap *= 2;
				*ids = coffer_xrealloc(*ids, cap * sizeof(**ids));
			}
			(*ids)[(*n)++] = id;
		}
	}
	closedir(d);
	qsort(*ids, *n, sizeof(**ids), cmp_u64);
	return COFFER_OK;
}

static coffer_rc truncate_tail(struct coffer_table *t, const char *path, uint64_t off, bool zeros)
{
	coffer_rc rc = COFFER_OK;
	int fd = -1;
	if (!zeros)
		coffer_log_warn(t->log, "storage", "%s: dropping torn tail at offset %llu", path,
				(unsigned long long)off);
	TRY(coffer_vfs_open(t->vfs, path, O_RDWR, 0600, &fd));
	TRY_FAIL(coffer_vfs_ftruncate(t->vfs, fd, (off_t)off, path));
	TRY_FAIL(coffer_vfs_fsync(t->vfs, fd, path));
fail:
	coffer_vfs_close(t->vfs, fd);
	return rc;
}

coffer_rc commitlog_group_head(struct coffer_slice file, uint64_t off, uint64_t seq, uint64_t end, bool last,
			       const char *path, uint32_t *n, bool *torn)
{
	size_t left = file.len - off;
	*n = 0;
	*torn = left < GROUP_HEADER;
	if (*torn)
		return COFFER_OK;
	*n = coffer_load_u32(file.ptr + off);
	bool len_ok = *n == ~coffer_load_u32(file.ptr + off + 4);
	bool seq_ok = coffer_load_u64(file.ptr + off + 8) == seq;
	if ((!len_ok || !seq_ok) && last && off + GROUP_HEADER >= end) {
		*torn = true; /* the header itself was being written */
		return COFFER_OK;
	}
	ENSURE(len_ok, COFFER_E_CORRUPT, "%s: commit-log group %llu (offset %llu) has a damaged length", path,
	       (unsigned long long)seq, (unsigned long long)off);
	ENSURE(seq_ok, COFFER_E_CORRUPT, "%s: commit-log group %llu (offset %llu) out of sequence", path,
	       (unsigned long long)seq, (unsigned long long)off);
	*torn = (uint64_t)*n + GROUP_HEADER + BLOCK_TAG > left;
	return COFFER_OK;
}

uint64_t commitlog_written_end(struct coffer_slice file)
{
	size_t e = file.len;
	while (e > CL_HEADER && (e & 7))
		if (file.ptr[--e] != 0)
			return e + 1;
	while (e >= CL_HEADER + 8 && coffer_load_u64(file.ptr + e - 8) == 0)
		e -= 8;
	while (e > CL_HEADER && file.ptr[e - 1] == 0)
		e--;
	return e;
}

int commitlog_format(struct coffer_slice header)
{
	if (header.len < 8)
		return 0;
	if (memcmp(header.ptr, CL_MAGIC, 8) == 0)
		return 2;
	if (memcmp(header.ptr, CL_MAGIC_V1, 8) == 0)
		return 1;
	return 0;
}

coffer_rc commitlog_group_split(int format, struct coffer_slice pt, int64_t *time,
				struct coffer_slice *entries, const char *path, uint64_t seq)
{
	if (format == 1) {
		*time = 0;
		*entries = pt;
		return COFFER_OK;
	}
	ENSURE(pt.len >= GROUP_TIME, COFFER_E_CORRUPT, "%s: group %llu has no time", path,
	       (unsigned long long)seq);
	*time = (int64_t)coffer_load_u64(pt.ptr);
	*entries = coffer_slice_of(pt.ptr + GROUP_TIME, pt.len - GROUP_TIME);
	return COFFER_OK;
}

coffer_rc commitlog_scan(struct coffer_table *t, uint64_t id, bool last, int64_t until,
			 commitlog_entry_fn fn, void *arg, uint64_t *torn_at, bool *zero_tail)
{
	coffer_rc rc = COFFER_OK;
	char *path = commitlog_segment_path(t, id);
	struct coffer_buf file = {0}, pt = {0};
	struct coffer_secret key = {0};
	struct block_ctx bc;
	bool bc_ok = false;
	*torn_at = 0;
	if (zero_tail)
		*zero_tail = false;
	TRY_FAIL(coffer_vfs_read_all(t->vfs, path, (size_t)4 << 30, &file));
	if (file.len < CL_HEADER) {
		ENSURE_FAIL(last, COFFER_E_CORRUPT, "%s: truncated segment header", path);
		/* crash while creating the segment: nothing was acknowledged in it */
		*torn_at = 1;
		goto fail;
	}
	int format = commitlog_format(coffer_buf_slice(&file));
	ENSURE_FAIL(format != 0, COFFER_E_CORRUPT, "%s: not a commit-log segment", path);
	ENSURE_FAIL(memcmp(file.ptr + 8, t->table_id, COFFER_TABLE_ID_LEN) == 0, COFFER_E_CORRUPT,
		    "%s: segment of another table", path);
	ENSURE_FAIL(coffer_load_u64(file.ptr + 44) == id, COFFER_E_CORRUPT, "%s: segment id does not match its name",
		    path);
	rc = coffer_keyring_data_key(t->kr, id, COFFER_KEY_PURPOSE_COMMITLOG, &key);
	if (rc != COFFER_OK) {
		coffer_error_wrap("%s: ", path);
		goto fail;
	}
	TRY_FAIL(block_ctx_init(&bc, &key, t->table_id, id));
	bc_ok = true;
	/* invariant 4: in the newest segment only what ends at its last written
	 * byte can be torn; zeros after it are preallocated space */
	uint64_t end = last ? commitlog_written_end(coffer_buf_slice(&file)) : file.len;
	uint64_t off = CL_HEADER, seq = 0;
	while (off < end) {
		bool torn;
		uint32_t n;
		TRY_FAIL(commitlog_group_head(coffer_buf_slice(&file), off, seq, end, last, path, &n, &torn));
		if (!torn) {
			struct coffer_slice ct = coffer_slice_of(file.ptr + off + GROUP_HEADER, n + BLOCK_TAG);
			rc = block_open(&bc, BLOCK_COMMIT, seq, ct, &pt, path);
			if (rc != COFFER_OK) {
				if (off + GROUP_HEADER + n + BLOCK_TAG >= end && last)
					torn = true;
				else
					goto fail; /* names the file and the group */
			}
		}
		if (torn) {
			ENSURE_FAIL(last, COFFER_E_CORRUPT, "%s: group %llu (offset %llu) is incomplete", path,
				    (unsigned long long)seq, (unsigned long long)off);
			*torn_at = off;
			break;
		}
		int64_t time = 0;
		struct coffer_slice entries = {0}; /* both set when the split succeeds */
		TRY_FAIL(commitlog_group_split(format, coffer_buf_slice(&pt), &time, &entries, path, seq));
		if (time <= until) {
			struct coffer_reader r;
			struct coffer_slice k, v;
			coffer_reader_init(&r, entries, path);
			while (!coffer_reader_done(&r)) {
				TRY_FAIL(entries_next(&r, &k, &v));
				fn(arg, time, k, v);
			}
		}
		off += GROUP_HEADER + n + BLOCK_TAG;
		seq++;
	}
	if (!*torn_at && off < file.len) {
		/* preallocated zeros after the last group: trimmed like a tear,
		 * without a warning */
		*torn_at = off;
		if (zero_tail)
			*zero_tail = true;
	}
	rc = COFFER_OK;
fail:
	if (bc_ok)
		block_ctx_free(&bc);
	coffer_secret_free(&key);
	if (pt.ptr)
		coffer_wipe(pt.ptr, pt.cap);
	coffer_buf_free(&pt);
	coffer_buf_free(&file);
	free(path);
	return rc;
}

static coffer_rc replay_segment(struct coffer_table *t, uint64_t id, bool last, commitlog_entry_fn fn,
				void *arg)
{
	uint64_t torn_at;
	bool zeros;
	TRY(commitlog_scan(t, id, last, INT64_MAX, fn, arg, &torn_at, &zeros));
	if (!torn_at)
		return COFFER_OK;
	char *path = commitlog_segment_path(t, id);
	coffer_rc rc = torn_at < CL_HEADER ? coffer_vfs_unlink(t->vfs, path)
					   : truncate_tail(t, path, torn_at, zeros);
	free(path);
	return rc;
}

coffer_rc commitlog_replay(struct coffer_table *t, uint64_t from, commitlog_entry_fn fn, void *arg,
			   uint64_t *max_id)
{
	coffer_rc rc = COFFER_OK;
	uint64_t *ids = NULL;
	size_t n = 0;
	*max_id = 0;
	TRY(commitlog_list(t, &ids, &n));
	for (size_t i = 0; i < n; i++) {
		if (ids[i] > *max_id)
			*max_id = ids[i];
		if (ids[i] < from) {
			/* flushed before the crash; its deletion did not happen yet */
			char *p = commitlog_segment_path(t, ids[i]);
			rc = coffer_vfs_unlink(t->vfs, p);
			free(p);
			if (rc != COFFER_OK)
				goto out;
			continue;
		}
		rc = replay_segment(t, ids[i], i == n - 1, fn, arg);
		if (rc != COFFER_OK)
			goto out;
	}
out:
	free(ids);
	return rc;
}
