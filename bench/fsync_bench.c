/*
 * fsync_bench.c - what one durable commit-log group costs the disk, written
 * the ways a log can be: appended to the end of the file (every fdatasync
 * also writes the inode, whose size changed); written over blocks a zero fill
 * made exist beforehand (fdatasync writes the data only); or written over
 * them with O_DIRECT, whole 4 KiB blocks from the one the group starts in
 * (so no page cache and no writeback by the fdatasync). The commit log
 * preallocates for the second (docs/storage.md section 4); the third is
 * measured as a candidate.
 *
 *   coffer-fsync-bench [--dir DIR] [--count N] [--size BYTES] [--busy K]
 *
 * For each way, N writes of BYTES bytes at consecutive offsets, each followed
 * by fdatasync, timed one by one; prints writes/s and p50/p90/p99/max in µs.
 * The runs alternate in 4 rounds so that a change in the machine's load hits
 * them alike; figures are over all rounds. --busy K runs K processes that
 * only spin meanwhile, to show the tails when the CPUs are contended, as
 * they are when cofferd and its load generator share this 2-vCPU machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 4
#define WAYS 3
#define BLOCK 4096

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "coffer-fsync-bench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* One round: n timed writes into a fresh file. way 0: appended; 1:
 * zero-filled first, then written through the page cache; 2: zero-filled,
 * then written with O_DIRECT in whole blocks. */
static double round_run(const char *path, int n, size_t size, int way, double *lat)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), dfd = -1;
	if (fd < 0)
		die("open", path);
	char *buf;
	if (posix_memalign((void **)&buf, BLOCK, size + 2 * BLOCK) != 0)
		die("posix_memalign", path);
	memset(buf, 0x5a, size + 2 * BLOCK);
	if (way > 0) {
		static char zeros[1 << 16];
		off_t total = (off_t)n * (off_t)size + BLOCK;
		for (off_t o = 0; o < total; o += (off_t)sizeof(zeros))
			if (pwrite(fd, zeros, sizeof(zeros), o) != (ssize_t)sizeof(zeros))
				die("pwrite", path);
		if (fdatasync(fd) != 0)
			die("fdatasync", path);
	}
	if (way == 2 && (dfd = open(path, O_WRONLY | O_DIRECT)) < 0)
		die("open (O_DIRECT)", path);
	double start = now_us();
	for (int i = 0; i < n; i++) {
		double t = now_us();
		off_t off = (off_t)i * (off_t)size;
		if (way == 2) {
			off_t from = off & ~(off_t)(BLOCK - 1);
			size_t len = (size_t)(((off + (off_t)size + BLOCK - 1) & ~(off_t)(BLOCK - 1)) - from);
			if (pwrite(dfd, buf, len, from) != (ssize_t)len)
				die("pwrite (O_DIRECT)", path);
		} else if (pwrite(fd, buf, size, off) != (ssize_t)size) {
			die("pwrite", path);
		}
		if (fdatasync(way == 2 ? dfd : fd) != 0)
			die("fdatasync", path);
		lat[i] = now_us() - t;
	}
	double took = now_us() - start;
	if (dfd >= 0)
		close(dfd);
	close(fd);
	unlink(path);
	free(buf);
	return took;
}

static void report(const char *name, double *lat, int n, double took_us)
{
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	printf("%-28s %9.0f %9.0f %9.0f %9.0f %9.0f\n", name, n / (took_us / 1e6), lat[n / 2], lat[n * 9 / 10],
	       lat[n * 99 / 100], lat[n - 1]);
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp";
	int count = 2000;
	size_t size = 4096;
	int busy = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			size = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--busy") == 0 && i + 1 < argc)
			busy = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: coffer-fsync-bench [--dir DIR] [--count N] [--size BYTES] [--busy K]\n");
			return 2;
		}
	}
	if (count < ROUNDS || size == 0 || busy < 0 || busy > 64) {
		fprintf(stderr, "coffer-fsync-bench: --count must be >= %d, --size > 0, --busy 0..64\n", ROUNDS);
		return 2;
	}
	int per = count / ROUNDS;
	char path[4096];
	snprintf(path, sizeof(path), "%s/coffer-fsync-bench.%d", dir, (int)getpid());
	double *lat[WAYS], took[WAYS] = {0};
	for (int w = 0; w < WAYS; w++)
		lat[w] = calloc((size_t)per * ROUNDS, sizeof(double));
	pid_t spinners[64];
	for (int k = 0; k < busy; k++) {
		spinners[k] = fork();
		if (spinners[k] < 0)
			die("fork", "a spinner");
		if (spinners[k] == 0)
			for (volatile unsigned long x = 0;; x++)
				;
	}
	for (int r = 0; r < ROUNDS; r++)
		for (int way = 0; way < WAYS; way++)
			took[way] += round_run(path, per, size, way, lat[way] + (size_t)r * per);
	for (int k = 0; k < busy; k++) {
		kill(spinners[k], SIGKILL);
		waitpid(spinners[k], NULL, 0);
	}
	printf("%d writes of %zu bytes, each + fdatasync, in %s (%d alternating rounds, %d spinning processes)\n",
	       per * ROUNDS, size, dir, ROUNDS, busy);
	printf("%-28s %9s %9s %9s %9s %9s\n", "way", "writes/s", "p50 us", "p90 us", "p99 us", "max us");
	report("append", lat[0], per * ROUNDS, took[0]);
	report("overwrite zero-filled", lat[1], per * ROUNDS, took[1]);
	report("overwrite, O_DIRECT blocks", lat[2], per * ROUNDS, took[2]);
	for (int w = 0; w < WAYS; w++)
		free(lat[w]);
	return 0;
}
