/*
 * fsync_bench.c - what one durable commit-log group costs the disk, written
 * the two ways a log can be: appended to the end of the file (every
 * fdatasync also writes the inode, whose size changed) or written over blocks
 * a zero fill made exist beforehand (fdatasync writes the data only). The
 * commit log preallocates for this reason (docs/storage.md section 4).
 *
 *   coffer-fsync-bench [--dir DIR] [--count N] [--size BYTES]
 *
 * For each way, N writes of BYTES bytes at consecutive offsets, each followed
 * by fdatasync, timed one by one; prints writes/s and p50/p90/p99/max in µs.
 * The two runs alternate in 4 rounds so that a change in the machine's load
 * hits both alike; figures are over all rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 4

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

/* One round: n timed writes into a fresh file; prealloc: zero-filled first. */
static double round_run(const char *path, int n, size_t size, int prealloc, double *lat)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open", path);
	char *buf = malloc(size);
	memset(buf, 0x5a, size);
	if (prealloc) {
		static char zeros[1 << 16];
		off_t total = (off_t)n * (off_t)size;
		for (off_t o = 0; o < total; o += (off_t)sizeof(zeros))
			if (pwrite(fd, zeros, sizeof(zeros), o) != (ssize_t)sizeof(zeros))
				die("pwrite", path);
		if (fdatasync(fd) != 0)
			die("fdatasync", path);
	}
	double start = now_us();
	for (int i = 0; i < n; i++) {
		double t = now_us();
		if (pwrite(fd, buf, size, (off_t)i * (off_t)size) != (ssize_t)size)
			die("pwrite", path);
		if (fdatasync(fd) != 0)
			die("fdatasync", path);
		lat[i] = now_us() - t;
	}
	double took = now_us() - start;
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
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			size = (size_t)atol(argv[++i]);
		else {
			fprintf(stderr, "usage: coffer-fsync-bench [--dir DIR] [--count N] [--size BYTES]\n");
			return 2;
		}
	}
	if (count < ROUNDS || size == 0) {
		fprintf(stderr, "coffer-fsync-bench: --count must be >= %d and --size > 0\n", ROUNDS);
		return 2;
	}
	int per = count / ROUNDS;
	char path[4096];
	snprintf(path, sizeof(path), "%s/coffer-fsync-bench.%d", dir, (int)getpid());
	double *lat[2] = {calloc((size_t)per * ROUNDS, sizeof(double)), calloc((size_t)per * ROUNDS, sizeof(double))};
	double took[2] = {0, 0};
	for (int r = 0; r < ROUNDS; r++)
		for (int way = 0; way < 2; way++)
			took[way] += round_run(path, per, size, way, lat[way] + (size_t)r * per);
	printf("%d writes of %zu bytes, each + fdatasync, in %s (%d alternating rounds)\n", per * ROUNDS, size, dir,
	       ROUNDS);
	printf("%-28s %9s %9s %9s %9s %9s\n", "way", "writes/s", "p50 us", "p90 us", "p99 us", "max us");
	report("append", lat[0], per * ROUNDS, took[0]);
	report("overwrite zero-filled", lat[1], per * ROUNDS, took[1]);
	free(lat[0]);
	free(lat[1]);
	return 0;
}
