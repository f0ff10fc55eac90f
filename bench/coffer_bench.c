/*
 * coffer_bench.c - a load generator for cofferd over the CQL native protocol
 * v4 (issue 5): N connections, M requests in flight on each (pipelined by
 * stream id), prepared INSERTs and SELECTs of 100-byte blobs on random keys,
 * and the figures a reader compares with the target: operations per
 * second and p50/p99/p99.9 latency, plus errors counted by CQL error code.
 *
 *   coffer-bench [--host H] [--port P] [--user U] [--password P | --password-file F]
 *                [--mode write|read|mixed] [--connections N] [--inflight M]
 *                [--threads T] [--duration S | --requests N] [--keys K]
 *                [--value-size B]
 *
 * It creates keyspace `bench` and table `bench.kv (k bigint PRIMARY KEY, v
 * blob)` when missing. Reads (modes read and mixed) ask only for keys that
 * exist: unless a previous run left the marker row (key -K, outside the range
 * random keys come from) saying [0, K) was filled, a write phase first inserts
 * every key of the range, then writes the marker.
 *
 * Each thread drives its share of the connections from one epoll loop. The
 * latency of a request runs from just before its frame is queued for writing
 * to the moment its answer is decoded, so it includes the load generator's
 * own queueing: with 2 vCPUs shared with the server that is part of the
 * figure the issue asks for ("load generator included").
 *
 * Invariants:
 *  1. A stream id is in flight on at most one request per connection; an
 *     answer on a stream with nothing in flight is a protocol failure.
 *  2. Every request sent is either answered (counted as done or as an error)
 *     or counted as a timeout when the drain deadline passes; the run never
 *     reports fewer errors than it saw.
 *  3. Any error (a CQL ERROR, a read that finds no row, a connection failure,
 *     a timeout) makes the exit status non-zero.
 *
 * Exit status: 0 all requests succeeded; 1 errors or failure; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/bytes.h"

#define BENCH_HANDSHAKE_TIMEOUT_MS 10000
#define BENCH_CONNECT_TIMEOUT_MS 5000
/* How long answers may take to arrive after the last request was sent. */
#define BENCH_DRAIN_TIMEOUT_NS (10ull * 1000000000ull)
#define BENCH_MAX_ERROR_CODES 32

enum op_kind { OP_WRITE = 0, OP_READ = 1, OP_KINDS = 2 };
static const char *const op_names[OP_KINDS] = {"write", "read"};

enum bench_mode { MODE_WRITE, MODE_READ, MODE_MIXED, MODE_PREFILL };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram ---------------------------------------------------------
 *
 * HdrHistogram's layout with 2 significant binary digits of 7 bits: values
 * below 128 ns have a bucket each; above, every power-of-two range
 * [2^b, 2^(b+1)) is cut into 64 equal buckets, so a bucket is at most 1/64
 * (1.6%) of its values wide. A percentile reports the highest value of its
 * bucket (HdrHistogram's "highest equivalent value"), never less than the
 * truth.
 */
#define HIST_SUB 128u
#define HIST_HALF 64u
#define HIST_BUCKETS (HIST_SUB + 57u * HIST_HALF)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t n;
	uint64_t max;
	uint64_t sum;
};

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned b = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
	unsigned shift = b - 6u;
	unsigned m = (unsigned)(v >> shift); /* in [64, 128) */
	return HIST_SUB + (shift - 1u) * HIST_HALF + (m - HIST_HALF);
}

static uint64_t hist_highest(unsigned idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned shift = (idx - HIST_SUB) / HIST_HALF + 1u;
	uint64_t m = HIST_HALF + (idx - HIST_SUB) % HIST_HALF;
	return ((m + 1u) << shift) - 1u;
}

static void hist_record(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

/* The value at or below which a fraction q of the samples fall. */
static uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->n + 0.999999);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = hist_highest(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* ---- options ---------------------------------------------------------------------- */

struct opts {
	const char *host;
	const char *port;
	const char *user;
	char *password;
	enum bench_mode mode;
	int connections;
	int inflight;
	int threads;
	double duration;
	uint64_t requests; /* 0: run for `duration` */
	uint64_t keys;
	size_t value_size;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coffer-bench [options]\n"
		"  --host HOST            cofferd's CQL host (default 127.0.0.1)\n"
		"  --port PORT            CQL port (default 9042)\n"
		"  --user USER            role to log in as (default coffer)\n"
		"  --password PW          its password (or env COFFER_PASSWORD)\n"
		"  --password-file FILE   read the password from the first line of FILE\n"
		"  --mode MODE            write, read or mixed (50/50) (default write)\n"
		"  --connections N        connections (default 4)\n"
		"  --inflight M           requests in flight on each connection (default 16)\n"
		"  --threads T            load-generator threads (default 1)\n"
		"  --duration S           seconds of load (default 10)\n"
		"  --requests N           stop after N requests instead of a duration\n"
		"  --keys K               random keys come from [0, K) (default 100000)\n"
		"  --value-size B         bytes per value (default 100)\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static char *read_password_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "coffer-bench: --password-file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char line[1024];
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	if (!got) {
		fprintf(stderr, "coffer-bench: --password-file %s: empty\n", path);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	char *pw = coffer_xstrdup(line);
	coffer_wipe(line, sizeof(line));
	return pw;
}

/* 0 on success, 2 on a usage error (already reported). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"user", required_argument, NULL, 'u'},
		{"password", required_argument, NULL, 'w'},
		{"password-file", required_argument, NULL, 'W'},
		{"mode", required_argument, NULL, 'm'},
		{"connections", required_argument, NULL, 'c'},
		{"inflight", required_argument, NULL, 'i'},
		{"threads", required_argument, NULL, 't'},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'n'},
		{"keys", required_argument, NULL, 'k'},
		{"value-size", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *password_file = NULL;
	uint64_t v;
	int ch, li = -1;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = "9042";
	o->user = "coffer";
	o->mode = MODE_WRITE;
	o->connections = 4;
	o->inflight = 16;
	o->threads = 1;
	o->duration = 10;
	o->keys = 100000;
	o->value_size = 100;
	while ((ch = getopt_long(argc, argv, "", longs, &li)) != -1) {
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'p':
			if (!parse_u64(optarg, 1, 65535, &v))
				goto bad;
			o->port = optarg;
			break;
		case 'u': o->user = optarg; break;
		case 'w':
			free(o->password);
			o->password = coffer_xstrdup(optarg);
			break;
		case 'W': password_file = optarg; break;
		case 'm':
			if (!strcmp(optarg, "write"))
				o->mode = MODE_WRITE;
			else if (!strcmp(optarg, "read"))
				o->mode = MODE_READ;
			else if (!strcmp(optarg, "mixed"))
				o->mode = MODE_MIXED;
			else
				goto bad;
			break;
		case 'c':
			if (!parse_u64(optarg, 1, 1024, &v))
				goto bad;
			o->connections = (int)v;
			break;
		case 'i':
			/* spec 2.3: stream ids of requests are non-negative 16-bit */
			if (!parse_u64(optarg, 1, 32768, &v))
				goto bad;
			o->inflight = (int)v;
			break;
		case 't':
			if (!parse_u64(optarg, 1, 64, &v))
				goto bad;
			o->threads = (int)v;
			break;
		case 'd': {
			char *end;
			o->duration = strtod(optarg, &end);
			if (end == optarg || *end || !(o->duration > 0) || o->duration > 86400)
				goto bad;
			break;
		}
		case 'n':
			if (!parse_u64(optarg, 1, UINT64_MAX / 2, &o->requests))
				goto bad;
			break;
		case 'k':
			if (!parse_u64(optarg, 1, (uint64_t)1 << 62, &o->keys))
				goto bad;
			break;
		case 'v':
			if (!parse_u64(optarg, 0, 1 << 20, &v))
				goto bad;
			o->value_size = (size_t)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coffer-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (password_file) {
		free(o->password);
		o->password = read_password_file(password_file);
		if (!o->password)
			return 2;
	}
	if (!o->password && getenv("COFFER_PASSWORD"))
		o->password = coffer_xstrdup(getenv("COFFER_PASSWORD"));
	if (o->threads > o->connections)
		o->threads = o->connections;
	return 0;
bad:
	fprintf(stderr, "coffer-bench: bad value for --%s: '%s'\n", li >= 0 ? longs[li].name : "?",
		optarg);
	usage(stderr);
	return 2;
}

/* ---- one connection ------------------------------------------------------------------ */

struct slot {
	uint64_t t0;
	uint8_t kind;
	bool busy;
};

struct conn {
	int fd;
	struct coffer_proto_config pcfg;
	struct coffer_buf in;
	struct coffer_buf out;
	size_t out_off;
	bool want_out;    /* EPOLLOUT is armed */
	struct coffer_arena arena;
	struct slot *slots;
	int16_t *free_ids;
	int n_free;
	int inflight;     /* the configured depth */
	uint64_t rng;
	struct coffer_buf prepared[OP_KINDS]; /* prepared ids */
	uint8_t *value;   /* value_size bytes, refilled per write */
};

/* xorshift64*: fast, good enough to spread keys and fill values. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	coffer_buf_free(&c->in);
	coffer_buf_free(&c->out);
	coffer_arena_free(&c->arena);
	for (int k = 0; k < OP_KINDS; k++)
		coffer_buf_free(&c->prepared[k]);
	free(c->slots);
	free(c->free_ids);
	free(c->value);
}

/* Nonblocking connect with a deadline. Returns the socket or -1 with `err`. */
static int connect_to(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	int saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int n = poll(&p, 1, BENCH_CONNECT_TIMEOUT_MS);
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			saved = n == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
		} else {
			saved = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port,
			 strerror(saved ? saved : ECONNREFUSED));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Writes all of c->out (blocking with poll); handshakes only. */
static bool conn_flush_blocking(struct conn *c, char *err, size_t errlen)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.ptr + c->out_off, c->out.len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};
			if (poll(&p, 1, BENCH_HANDSHAKE_TIMEOUT_MS) == 1)
				continue;
		}
		snprintf(err, errlen, "write: %s", n < 0 ? strerror(errno) : "no progress");
		return false;
	}
	coffer_buf_reset(&c->out);
	c->out_off = 0;
	return true;
}

/* Reads what the socket has into c->in. 1: got bytes, 0: would block,
 * -1: EOF or error (message in err). */
static int conn_read(struct conn *c, char *err, size_t errlen)
{
	int got = 0;
	for (;;) {
		if (c->in.cap - c->in.len < 16384)
			coffer_buf_reserve(&c->in, 65536);
		ssize_t n = read(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			got = 1;
			if (c->in.len < c->in.cap)
				return got; /* a short read: the socket is drained */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return got;
		snprintf(err, errlen, "%s", n == 0 ? "the server closed the connection"
						   : strerror(errno));
		return -1;
	}
}

/* Drops the first `n` bytes of c->in. */
static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->in.ptr, c->in.ptr + n, c->in.len - n);
	c->in.len -= n;
}

/* Sends one request and waits (blocking) for the answer on its stream; the
 * response borrows c->in and c->arena until the next call. EVENTs are
 * skipped. The caller consumes *size bytes when done with the response. */
static bool conn_call(struct conn *c, const struct coffer_proto_request *q,
		      struct coffer_proto_response *resp, size_t *size, char *err, size_t errlen)
{
	if (coffer_proto_request_encode(&c->out, q) != COFFER_OK) {
		snprintf(err, errlen, "encoding %s: %s", coffer_proto_opcode_name(q->opcode),
			 coffer_error_msg());
		return false;
	}
	if (!conn_flush_blocking(c, err, errlen))
		return false;
	coffer_arena_reset(&c->arena);
	for (;;) {
		struct coffer_proto_frame f;
		struct coffer_proto_err perr;
		enum coffer_proto_status st = COFFER_PROTO_NEED_MORE;
		if (c->in.len &&
		    coffer_proto_frame_decode(&c->pcfg, coffer_buf_slice(&c->in), &f, &st, NULL,
					      &perr) != COFFER_OK) {
			snprintf(err, errlen, "bad frame from the server: %.400s", perr.message);
			return false;
		}
		if (st == COFFER_PROTO_COMPLETE) {
			if (coffer_proto_response_decode(&f, &c->arena, resp, &perr) != COFFER_OK) {
				snprintf(err, errlen, "bad %s from the server: %.400s",
					 coffer_proto_opcode_name(f.hdr.opcode), perr.message);
				return false;
			}
			if (resp->stream == q->stream) {
				*size = f.size;
				return true;
			}
			conn_consume(c, f.size); /* an EVENT or a stray answer */
			continue;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int n = poll(&p, 1, BENCH_HANDSHAKE_TIMEOUT_MS);
		if (n == 0) {
			snprintf(err, errlen, "no answer to %s within %d ms",
				 coffer_proto_opcode_name(q->opcode), BENCH_HANDSHAKE_TIMEOUT_MS);
			return false;
		}
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return false;
		}
		if (conn_read(c, err, errlen) < 0)
			return false;
	}
}

static void describe_error(const struct coffer_proto_response *r, char *err, size_t errlen,
			   const char *what)
{
	const char *name = coffer_cql_error_name(r->u.error.code);
	snprintf(err, errlen, "%s: %s (0x%04x): %s", what, name ? name : "unknown error",
		 r->u.error.code, r->u.error.message ? r->u.error.message : "");
}

/* STARTUP, then SASL PLAIN when the server asks for authentication. */
static bool conn_login(struct conn *c, const struct opts *o, char *err, size_t errlen)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;

	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_STARTUP;
	q.version = 4;
	q.stream = 0;
	q.u.startup.cql_version = "3.0.0";
	if (!conn_call(c, &q, &r, &size, err, errlen))
		return false;
	conn_consume(c, size);
	if (r.opcode == COFFER_PROTO_OP_READY)
		return true;
	if (r.opcode == COFFER_PROTO_OP_ERROR) {
		describe_error(&r, err, errlen, "STARTUP refused");
		return false;
	}
	if (r.opcode != COFFER_PROTO_OP_AUTHENTICATE) {
		snprintf(err, errlen, "unexpected %s after STARTUP",
			 coffer_proto_opcode_name(r.opcode));
		return false;
	}
	if (!o->password) {
		snprintf(err, errlen, "the server asks for a password: give --password, "
				      "--password-file or COFFER_PASSWORD");
		return false;
	}
	/* RFC 4616: [authzid] NUL authcid NUL passwd */
	size_t ul = strlen(o->user), pl = strlen(o->password);
	uint8_t *tok = coffer_xmalloc(ul + pl + 2);
	tok[0] = 0;
	memcpy(tok + 1, o->user, ul);
	tok[1 + ul] = 0;
	memcpy(tok + 2 + ul, o->password, pl);
	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_AUTH_RESPONSE;
	q.version = 4;
	q.stream = 1;
	q.u.auth_response.token = coffer_proto_value_of(tok, ul + pl + 2);
	bool ok = conn_call(c, &q, &r, &size, err, errlen);
	coffer_wipe(tok, ul + pl + 2);
	free(tok);
	if (!ok)
		return false;
	conn_consume(c, size);
	if (r.opcode == COFFER_PROTO_OP_AUTH_SUCCESS)
		return true;
	if (r.opcode == COFFER_PROTO_OP_ERROR)
		describe_error(&r, err, errlen, "login refused");
	else
		snprintf(err, errlen, "unexpected %s after AUTH_RESPONSE",
			 coffer_proto_opcode_name(r.opcode));
	return false;
}

/* A QUERY whose answer must be a RESULT (DDL). */
static bool conn_query(struct conn *c, const char *cql, char *err, size_t errlen)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;

	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_QUERY;
	q.version = 4;
	q.stream = 2;
	q.u.query.query = coffer_slice_str(cql);
	q.u.query.params.consistency = COFFER_PROTO_CL_ONE;
	q.u.query.params.page_size = -1;
	if (!conn_call(c, &q, &r, &size, err, errlen))
		return false;
	bool ok = r.opcode == COFFER_PROTO_OP_RESULT;
	if (r.opcode == COFFER_PROTO_OP_ERROR)
		describe_error(&r, err, errlen, cql);
	else if (!ok)
		snprintf(err, errlen, "%s: unexpected %s", cql, coffer_proto_opcode_name(r.opcode));
	conn_consume(c, size);
	return ok;
}

static bool conn_prepare(struct conn *c, const char *cql, struct coffer_buf *id, char *err,
			 size_t errlen)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	size_t size;

	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_PREPARE;
	q.version = 4;
	q.stream = 3;
	q.u.prepare.query = coffer_slice_str(cql);
	if (!conn_call(c, &q, &r, &size, err, errlen))
		return false;
	bool ok = r.opcode == COFFER_PROTO_OP_RESULT &&
		  r.u.result.kind == COFFER_PROTO_RESULT_PREPARED;
	if (ok) {
		coffer_buf_reset(id);
		coffer_buf_put(id, r.u.result.id.ptr, r.u.result.id.len);
	} else if (r.opcode == COFFER_PROTO_OP_ERROR) {
		describe_error(&r, err, errlen, cql);
	} else {
		snprintf(err, errlen, "PREPARE %s: unexpected answer", cql);
	}
	conn_consume(c, size);
	return ok;
}

static const char cql_keyspace[] =
	"CREATE KEYSPACE IF NOT EXISTS bench WITH replication = {'class':'SingleRegionStrategy'}";
static const char cql_table[] = "CREATE TABLE IF NOT EXISTS bench.kv (k bigint PRIMARY KEY, v blob)";
static const char cql_insert[] = "INSERT INTO bench.kv (k, v) VALUES (?, ?)";
static const char cql_select[] = "SELECT v FROM bench.kv WHERE k = ?";

static bool conn_open(struct conn *c, const struct opts *o, uint64_t seed, char *err,
		      size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = connect_to(o->host, o->port, err, errlen);
	if (c->fd < 0)
		return false;
	c->pcfg.expect_responses = true;
	coffer_arena_init(&c->arena, 0);
	c->inflight = o->inflight;
	c->slots = coffer_xcalloc((size_t)o->inflight, sizeof(*c->slots));
	c->free_ids = coffer_xcalloc((size_t)o->inflight, sizeof(*c->free_ids));
	for (int i = 0; i < o->inflight; i++)
		c->free_ids[i] = (int16_t)(o->inflight - 1 - i);
	c->n_free = o->inflight;
	c->rng = seed | 1;
	c->value = coffer_xmalloc(o->value_size ? o->value_size : 1);
	if (!conn_login(c, o, err, errlen))
		return false;
	return true;
}

static bool conn_prepare_all(struct conn *c, char *err, size_t errlen)
{
	return conn_prepare(c, cql_insert, &c->prepared[OP_WRITE], err, errlen) &&
	       conn_prepare(c, cql_select, &c->prepared[OP_READ], err, errlen);
}

/* Queues one EXECUTE (no I/O). */
static void conn_queue(struct conn *c, enum op_kind kind, int64_t key, size_t value_size,
		       uint64_t t0)
{
	int16_t id = c->free_ids[--c->n_free];
	uint8_t kb[8];
	struct coffer_proto_value vals[2];
	struct coffer_proto_request q;

	coffer_store_u64(kb, (uint64_t)key);
	vals[0] = coffer_proto_value_of(kb, sizeof(kb));
	if (kind == OP_WRITE) {
		for (size_t i = 0; i < value_size; i += 8) {
			uint64_t r = rng_next(&c->rng);
			memcpy(c->value + i, &r, value_size - i < 8 ? value_size - i : 8);
		}
		vals[1] = coffer_proto_value_of(c->value, value_size);
	}
	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_EXECUTE;
	q.version = 4;
	q.stream = id;
	q.u.execute.id = coffer_buf_slice(&c->prepared[kind]);
	q.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
	q.u.execute.params.flags = COFFER_PROTO_QF_VALUES | COFFER_PROTO_QF_SKIP_METADATA;
	q.u.execute.params.n_values = kind == OP_WRITE ? 2 : 1;
	q.u.execute.params.values = vals;
	q.u.execute.params.page_size = -1;
	if (coffer_proto_request_encode(&c->out, &q) != COFFER_OK) {
		/* only a value past the frame limit fails, and --value-size bounds it */
		fprintf(stderr, "coffer-bench: encoding EXECUTE: %s\n", coffer_error_msg());
		exit(1);
	}
	c->slots[id].busy = true;
	c->slots[id].kind = (uint8_t)kind;
	c->slots[id].t0 = t0;
}

/* ---- a load phase ------------------------------------------------------------------- */

struct error_count {
	uint32_t code;
	uint64_t n;
};

struct results {
	struct hist hist[OP_KINDS];
	struct error_count errors[BENCH_MAX_ERROR_CODES];
	int n_error_codes;
	uint64_t error_other;  /* codes past the table */
	uint64_t read_misses;  /* a read of an existing key found no row */
	uint64_t timeouts;     /* in flight when the drain deadline passed */
	char fatal[512];       /* a connection failure; "" if none */
};

struct bench;

struct worker {
	struct bench *b;
	pthread_t thread;
	int epfd;
	struct conn **conns;
	int n_conns;
	struct results res;
};

struct bench {
	struct opts o;
	enum bench_mode mode;  /* of the current phase */
	uint64_t limit;        /* requests in this phase; 0: until the deadline */
	uint64_t deadline;     /* CLOCK_MONOTONIC ns; 0 with a limit */
	atomic_uint_fast64_t issued;
	atomic_bool stop;      /* a worker failed: everyone stops issuing */
};

static void results_error(struct results *r, uint32_t code)
{
	for (int i = 0; i < r->n_error_codes; i++) {
		if (r->errors[i].code == code) {
			r->errors[i].n++;
			return;
		}
	}
	if (r->n_error_codes < BENCH_MAX_ERROR_CODES) {
		r->errors[r->n_error_codes].code = code;
		r->errors[r->n_error_codes].n = 1;
		r->n_error_codes++;
	} else {
		r->error_other++;
	}
}

static void results_merge(struct results *into, const struct results *from)
{
	for (int k = 0; k < OP_KINDS; k++)
		hist_merge(&into->hist[k], &from->hist[k]);
	for (int i = 0; i < from->n_error_codes; i++)
		for (uint64_t j = 0; j < from->errors[i].n; j++)
			results_error(into, from->errors[i].code);
	into->error_other += from->error_other;
	into->read_misses += from->read_misses;
	into->timeouts += from->timeouts;
	if (!into->fatal[0] && from->fatal[0])
		memcpy(into->fatal, from->fatal, sizeof(into->fatal));
}

static uint64_t results_errors(const struct results *r)
{
	uint64_t n = r->error_other + r->read_misses + r->timeouts + (r->fatal[0] ? 1 : 0);
	for (int i = 0; i < r->n_error_codes; i++)
		n += r->errors[i].n;
	return n;
}

/* Picks the next request of the phase; false when the phase is over. */
static bool next_request(struct bench *b, struct conn *c, uint64_t now, enum op_kind *kind,
			 int64_t *key)
{
	if (atomic_load_explicit(&b->stop, memory_order_relaxed))
		return false;
	uint64_t n = 0;
	if (b->limit) {
		n = atomic_fetch_add_explicit(&b->issued, 1, memory_order_relaxed);
		if (n >= b->limit)
			return false;
	} else if (now >= b->deadline) {
		return false;
	}
	switch (b->mode) {
	case MODE_PREFILL:
		*kind = OP_WRITE;
		*key = (int64_t)n;
		return true;
	case MODE_WRITE: *kind = OP_WRITE; break;
	case MODE_READ: *kind = OP_READ; break;
	case MODE_MIXED: *kind = (rng_next(&c->rng) >> 32) & 1 ? OP_READ : OP_WRITE; break;
	}
	*key = (int64_t)(rng_next(&c->rng) % b->o.keys);
	return true;
}

static void worker_fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void worker_fail(struct worker *w, const char *fmt, ...)
{
	if (!w->res.fatal[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->res.fatal, sizeof(w->res.fatal), fmt, ap);
		va_end(ap);
	}
	atomic_store(&w->b->stop, true);
}

/* Writes what the socket takes; arms or disarms EPOLLOUT. false on failure. */
static bool conn_flush(struct worker *w, struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.ptr + c->out_off, c->out.len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		worker_fail(w, "write: %s", n < 0 ? strerror(errno) : "no progress");
		return false;
	}
	bool pending = c->out_off < c->out.len;
	if (!pending) {
		coffer_buf_reset(&c->out);
		c->out_off = 0;
	}
	if (pending != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (pending ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = pending;
	}
	return true;
}

/* Fills every free stream of c with new requests, as the phase allows. */
static void conn_fill(struct worker *w, struct conn *c, uint64_t now)
{
	enum op_kind kind = OP_WRITE;
	int64_t key = 0;
	while (c->n_free > 0 && next_request(w->b, c, now, &kind, &key))
		conn_queue(c, kind, key, w->b->o.value_size, now);
}

/* Decodes every complete answer in c->in. false on a protocol failure. */
static bool conn_answers(struct worker *w, struct conn *c)
{
	size_t off = 0;
	uint64_t now = now_ns();
	bool ok = true;
	coffer_arena_reset(&c->arena);
	while (off < c->in.len) {
		struct coffer_proto_frame f;
		struct coffer_proto_err perr;
		struct coffer_proto_response r;
		enum coffer_proto_status st = COFFER_PROTO_NEED_MORE;
		struct coffer_slice in = coffer_slice_of(c->in.ptr + off, c->in.len - off);
		if (coffer_proto_frame_decode(&c->pcfg, in, &f, &st, NULL, &perr) != COFFER_OK) {
			worker_fail(w, "bad frame from the server: %s", perr.message);
			ok = false;
			break;
		}
		if (st != COFFER_PROTO_COMPLETE)
			break;
		off += f.size;
		if (f.hdr.stream < 0)
			continue; /* an EVENT: nothing was registered, ignore it */
		if (f.hdr.stream >= c->inflight || !c->slots[f.hdr.stream].busy) {
			worker_fail(w, "answer on stream %d, which has no request in flight",
				    f.hdr.stream);
			ok = false;
			break;
		}
		struct slot *s = &c->slots[f.hdr.stream];
		if (coffer_proto_response_decode(&f, &c->arena, &r, &perr) != COFFER_OK) {
			worker_fail(w, "bad %s from the server: %s",
				    coffer_proto_opcode_name(f.hdr.opcode), perr.message);
			ok = false;
			break;
		}
		if (r.opcode == COFFER_PROTO_OP_ERROR) {
			results_error(&w->res, r.u.error.code);
		} else if (r.opcode != COFFER_PROTO_OP_RESULT) {
			worker_fail(w, "unexpected %s answering EXECUTE",
				    coffer_proto_opcode_name(r.opcode));
			ok = false;
			break;
		} else if (s->kind == OP_READ && (r.u.result.kind != COFFER_PROTO_RESULT_ROWS ||
						  r.u.result.rows_count != 1)) {
			w->res.read_misses++;
		} else {
			hist_record(&w->res.hist[s->kind], now - s->t0);
		}
		s->busy = false;
		c->free_ids[c->n_free++] = f.hdr.stream;
	}
	conn_consume(c, off);
	return ok;
}

static int conn_busy(const struct conn *c)
{
	return c->inflight - c->n_free;
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct bench *b = w->b;
	struct epoll_event evs[64];
	uint64_t now = now_ns();
	uint64_t drain_deadline = 0;

	for (int i = 0; i < w->n_conns; i++) {
		conn_fill(w, w->conns[i], now);
		if (!conn_flush(w, w->conns[i]))
			goto out;
	}
	for (;;) {
		int busy = 0;
		for (int i = 0; i < w->n_conns; i++)
			busy += conn_busy(w->conns[i]);
		if (busy == 0)
			break; /* every connection is idle and could not issue more */
		int n = epoll_wait(w->epfd, evs, (int)COFFER_ARRAY_LEN(evs), 100);
		if (n < 0 && errno != EINTR) {
			worker_fail(w, "epoll_wait: %s", strerror(errno));
			goto out;
		}
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			char err[256];
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				int got = conn_read(c, err, sizeof(err));
				if (got < 0) {
					worker_fail(w, "%s", err);
					goto out;
				}
				if (got > 0 && !conn_answers(w, c))
					goto out;
				conn_fill(w, c, now);
			}
			if (!conn_flush(w, c))
				goto out;
		}
		/* Past the end, answers still due get a deadline of their own. */
		bool over = atomic_load(&b->stop) || (b->limit ? atomic_load(&b->issued) >= b->limit
							       : now >= b->deadline);
		if (over && !drain_deadline)
			drain_deadline = now + BENCH_DRAIN_TIMEOUT_NS;
		if (drain_deadline && now >= drain_deadline) {
			for (int i = 0; i < w->n_conns; i++)
				w->res.timeouts += (uint64_t)conn_busy(w->conns[i]);
			break;
		}
	}
out:
	return NULL;
}

/* Runs one phase over all connections; returns merged results and the
 * elapsed seconds. */
static void run_phase(struct bench *b, struct worker *workers, enum bench_mode mode,
		      uint64_t limit, double seconds, struct results *out, double *elapsed)
{
	b->mode = mode;
	b->limit = limit;
	atomic_store(&b->issued, 0);
	uint64_t t0 = now_ns();
	b->deadline = limit ? 0 : t0 + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < b->o.threads; i++) {
		memset(&workers[i].res, 0, sizeof(workers[i].res));
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			fprintf(stderr, "coffer-bench: cannot start a thread\n");
			exit(1);
		}
	}
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < b->o.threads; i++) {
		pthread_join(workers[i].thread, NULL);
		results_merge(out, &workers[i].res);
	}
	*elapsed = (double)(now_ns() - t0) / 1e9;
}

/* ---- reporting ------------------------------------------------------------------------ */

static void print_row(const char *name, const struct hist *h, double elapsed)
{
	printf("%-8s %10" PRIu64 " %10.0f %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, h->n,
	       elapsed > 0 ? (double)h->n / elapsed : 0.0,
	       h->n ? (double)h->sum / (double)h->n / 1e3 : 0.0, hist_quantile(h, 0.50) / 1e3,
	       hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, h->max / 1e3);
}

static void print_results(const char *title, const struct results *r, double elapsed)
{
	struct hist *all = coffer_xcalloc(1, sizeof(*all));
	int kinds = 0;

	printf("%s (%.2f s)\n", title, elapsed);
	printf("%-8s %10s %10s %9s %9s %9s %9s %9s\n", "op", "count", "ops/s", "mean us",
	       "p50 us", "p99 us", "p99.9 us", "max us");
	for (int k = 0; k < OP_KINDS; k++) {
		if (!r->hist[k].n)
			continue;
		kinds++;
		print_row(op_names[k], &r->hist[k], elapsed);
		hist_merge(all, &r->hist[k]);
	}
	if (kinds != 1)
		print_row("total", all, elapsed);
	free(all);
	uint64_t n = results_errors(r);
	if (!n) {
		printf("errors   0\n");
		return;
	}
	printf("errors   %" PRIu64 ":", n);
	for (int i = 0; i < r->n_error_codes; i++) {
		const char *name = coffer_cql_error_name(r->errors[i].code);
		printf(" %s (0x%04x) %" PRIu64 ";", name ? name : "unknown", r->errors[i].code,
		       r->errors[i].n);
	}
	if (r->error_other)
		printf(" other codes %" PRIu64 ";", r->error_other);
	if (r->read_misses)
		printf(" reads that found no row %" PRIu64 ";", r->read_misses);
	if (r->timeouts)
		printf(" no answer within %llu s %" PRIu64 ";",
		       BENCH_DRAIN_TIMEOUT_NS / 1000000000ull, r->timeouts);
	if (r->fatal[0])
		printf(" connection failure: %s", r->fatal);
	printf("\n");
}

/* ---- main ---------------------------------------------------------------------------- */

static const char *mode_name(enum bench_mode m)
{
	switch (m) {
	case MODE_WRITE: return "write";
	case MODE_READ: return "read";
	case MODE_MIXED: return "mixed";
	case MODE_PREFILL: return "prefill";
	}
	return "?";
}

/* Whether the marker row says [0, keys) was filled by an earlier run. */
static bool prefilled(struct conn *c, uint64_t keys, char *err, size_t errlen, bool *ok)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	struct coffer_proto_value v;
	uint8_t kb[8];
	size_t size;

	coffer_store_u64(kb, (uint64_t)-(int64_t)keys);
	v = coffer_proto_value_of(kb, sizeof(kb));
	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_EXECUTE;
	q.version = 4;
	q.stream = 4;
	q.u.execute.id = coffer_buf_slice(&c->prepared[OP_READ]);
	q.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
	q.u.execute.params.flags = COFFER_PROTO_QF_VALUES | COFFER_PROTO_QF_SKIP_METADATA;
	q.u.execute.params.n_values = 1;
	q.u.execute.params.values = &v;
	q.u.execute.params.page_size = -1;
	*ok = false;
	if (!conn_call(c, &q, &r, &size, err, errlen))
		return false;
	if (r.opcode == COFFER_PROTO_OP_ERROR)
		describe_error(&r, err, errlen, "reading the prefill marker");
	else
		*ok = true;
	bool found = r.opcode == COFFER_PROTO_OP_RESULT &&
		     r.u.result.kind == COFFER_PROTO_RESULT_ROWS && r.u.result.rows_count == 1;
	conn_consume(c, size);
	return found;
}

static bool write_marker(struct conn *c, uint64_t keys, char *err, size_t errlen)
{
	struct coffer_proto_request q;
	struct coffer_proto_response r;
	struct coffer_proto_value v[2];
	uint8_t kb[8];
	size_t size;

	coffer_store_u64(kb, (uint64_t)-(int64_t)keys);
	v[0] = coffer_proto_value_of(kb, sizeof(kb));
	v[1] = coffer_proto_value_of("prefilled", 9);
	memset(&q, 0, sizeof(q));
	q.opcode = COFFER_PROTO_OP_EXECUTE;
	q.version = 4;
	q.stream = 5;
	q.u.execute.id = coffer_buf_slice(&c->prepared[OP_WRITE]);
	q.u.execute.params.consistency = COFFER_PROTO_CL_ONE;
	q.u.execute.params.flags = COFFER_PROTO_QF_VALUES;
	q.u.execute.params.n_values = 2;
	q.u.execute.params.values = v;
	q.u.execute.params.page_size = -1;
	if (!conn_call(c, &q, &r, &size, err, errlen))
		return false;
	bool ok = r.opcode == COFFER_PROTO_OP_RESULT;
	if (!ok)
		describe_error(&r, err, errlen, "writing the prefill marker");
	conn_consume(c, size);
	return ok;
}

int main(int argc, char **argv)
{
	struct bench b;
	char err[512];
	int status = 0;

	memset(&b, 0, sizeof(b));
	int rc = parse_opts(argc, argv, &b.o);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);

	const struct opts *o = &b.o;
	struct conn *conns = coffer_xcalloc((size_t)o->connections, sizeof(*conns));
	uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
	for (int i = 0; i < o->connections; i++) {
		if (!conn_open(&conns[i], o, rng_next(&seed), err, sizeof(err))) {
			fprintf(stderr, "coffer-bench: connection %d: %s\n", i + 1, err);
			return 1;
		}
		if (i == 0 && (!conn_query(&conns[0], cql_keyspace, err, sizeof(err)) ||
			       !conn_query(&conns[0], cql_table, err, sizeof(err)))) {
			fprintf(stderr, "coffer-bench: creating the schema: %s\n", err);
			return 1;
		}
		if (!conn_prepare_all(&conns[i], err, sizeof(err))) {
			fprintf(stderr, "coffer-bench: connection %d: %s\n", i + 1, err);
			return 1;
		}
	}

	struct worker *workers = coffer_xcalloc((size_t)o->threads, sizeof(*workers));
	for (int t = 0; t < o->threads; t++) {
		struct worker *w = &workers[t];
		w->b = &b;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0) {
			fprintf(stderr, "coffer-bench: epoll_create1: %s\n", strerror(errno));
			return 1;
		}
		w->conns = coffer_xcalloc((size_t)o->connections, sizeof(*w->conns));
	}
	for (int i = 0; i < o->connections; i++) {
		struct worker *w = &workers[i % o->threads];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, conns[i].fd, &ev)) {
			fprintf(stderr, "coffer-bench: epoll_ctl: %s\n", strerror(errno));
			return 1;
		}
		w->conns[w->n_conns++] = &conns[i];
	}

	printf("coffer-bench: %s:%s mode=%s connections=%d inflight=%d (%d in flight) threads=%d "
	       "keys=%" PRIu64 " value=%zu B ",
	       o->host, o->port, mode_name(o->mode), o->connections, o->inflight,
	       o->connections * o->inflight, o->threads, o->keys, o->value_size);
	if (o->requests)
		printf("requests=%" PRIu64 "\n", o->requests);
	else
		printf("duration=%g s\n", o->duration);
	fflush(stdout);

	struct results *res = coffer_xcalloc(1, sizeof(*res));
	double elapsed;
	if (o->mode != MODE_WRITE) {
		bool ok;
		bool have = prefilled(&conns[0], o->keys, err, sizeof(err), &ok);
		if (!ok) {
			fprintf(stderr, "coffer-bench: %s\n", err);
			return 1;
		}
		if (!have) {
			run_phase(&b, workers, MODE_PREFILL, o->keys, 0, res, &elapsed);
			print_results("prefill: every key of the range written once", res, elapsed);
			if (results_errors(res)) {
				fprintf(stderr, "coffer-bench: the prefill phase failed\n");
				return 1;
			}
			if (!write_marker(&conns[0], o->keys, err, sizeof(err))) {
				fprintf(stderr, "coffer-bench: %s\n", err);
				return 1;
			}
		} else {
			printf("prefill: keys [0, %" PRIu64 ") exist from an earlier run\n", o->keys);
		}
	}
	run_phase(&b, workers, o->mode, o->requests, o->duration, res, &elapsed);
	print_results(mode_name(o->mode), res, elapsed);
	if (results_errors(res))
		status = 1;
	if (res->fatal[0])
		fprintf(stderr, "coffer-bench: %s\n", res->fatal);

	for (int t = 0; t < o->threads; t++) {
		close(workers[t].epfd);
		free(workers[t].conns);
	}
	for (int i = 0; i < o->connections; i++)
		conn_close(&conns[i]);
	free(workers);
	free(conns);
	free(res);
	if (b.o.password) {
		coffer_wipe(b.o.password, strlen(b.o.password));
		free(b.o.password);
	}
	return status;
}
