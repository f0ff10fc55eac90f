/*
 * kms_http_bench.c - coffer-kms over the network: Decrypt and GenerateDataKey
 * requests per second through the C client (src/kmsapi/kms_client.h) on
 * keep-alive connections, over plaintext HTTP and over HTTPS, with one
 * connection and with N threads sharing one client (N pooled connections).
 *
 * It starts its own build/coffer-kms (next to this program) on 127.0.0.1 with
 * a temporary data directory, a self-signed certificate for the HTTPS run
 * (openssl req), and quotas effectively off (--quota-rate 1e9), and stops it
 * at the end. Every request is a full SigV4-signed AWS JSON exchange that the
 * server verifies and audits.
 *
 * usage: coffer-kms-bench [seconds-per-figure] [threads]
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "kmsapi/kms_client.h"
#include "util/util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct server {
	char dir[64];
	char data[128];
	char cert[128];
	char key[128];
	char url[256];
	pid_t pid;
};

static void die(const char *what)
{
	fprintf(stderr, "coffer-kms-bench: %s: %s (%s)\n", what, coffer_error_msg(),
		coffer_rc_name(coffer_error_code()));
	exit(1);
}

static int start_server(struct server *s, const char *bin, bool tls)
{
	char line[256];
	size_t len = 0;
	int out[2];
	double t0 = now_s();

	if (pipe(out) != 0)
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		const char *argv[16] = {bin,	       "--data",      s->data,      "--listen",
					"127.0.0.1:0", "--quota-rate", "1000000000", "--log-level",
					"error",       NULL};

		if (tls) {
			argv[9] = "--tls-cert";
			argv[10] = s->cert;
			argv[11] = "--tls-key";
			argv[12] = s->key;
			argv[13] = NULL;
		}
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	while (len < sizeof(line) - 1 && now_s() - t0 < 20) {
		struct pollfd p = {out[0], POLLIN, 0};

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (read(out[0], line + len, 1) != 1)
			break;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	close(out[0]);
	if (strncmp(line, "coffer-kms listening on ", 24) != 0)
		return -1;
	line[strcspn(line, "\n")] = '\0';
	snprintf(s->url, sizeof(s->url), "%s", line + 24);
	return 0;
}

static void stop_server(struct server *s)
{
	int st;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &st, 0);
		s->pid = -1;
	}
}

struct worker {
	struct coffer_kms_client *c;
	const char *key;
	const struct coffer_buf *blob;
	const struct coffer_kms_context *ctx;
	int op; /* 0 GenerateDataKey, 1 Decrypt */
	double seconds;
	unsigned long long count;
	int errors;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	double end = now_s() + w->seconds;

	while (w->count % 16 || now_s() < end) {
		struct coffer_secret pt = {0};
		struct coffer_buf out = {0};
		coffer_rc rc;

		if (w->op == 0)
			rc = coffer_kms_client_generate_data_key(w->c, NULL, w->key, 32, w->ctx, &pt,
								 &out, NULL);
		else
			rc = coffer_kms_client_decrypt(w->c, NULL, coffer_buf_slice(w->blob), w->ctx,
						       NULL, &pt, NULL);
		if (rc != COFFER_OK && w->errors++ == 0)
			fprintf(stderr, "request failed: %s\n", coffer_error_msg());
		coffer_secret_free(&pt);
		coffer_buf_free(&out);
		w->count++;
	}
	return NULL;
}

static const struct coffer_kms_context_pair pairs[] = {
	{"coffer:keyspace", "bench"},
	{"coffer:table", "events"},
	{"coffer:table-id", "5b6f9c2e-8a31-4e52-9d7b-0c1f2e3d4a5b"},
};

static double measure(struct coffer_kms_client *c, const char *key, const struct coffer_buf *blob,
		      int op, int threads, double seconds)
{
	struct coffer_kms_context ctx = {pairs, 3};
	struct worker w[64];
	pthread_t th[64];
	unsigned long long total = 0;
	double t0 = now_s(), dt;

	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){c, key, blob, &ctx, op, seconds, 0, 0};
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].count;
	}
	dt = now_s() - t0;
	return (double)total / dt;
}

static void bench_endpoint(struct server *s, const char *label, double seconds, int threads)
{
	struct coffer_kms_client_config cfg;
	struct coffer_kms_client *c;
	struct coffer_kms_key_info info = {0};
	struct coffer_kms_context ctx = {pairs, 3};
	struct coffer_kms_client_stats st;
	struct coffer_buf blob = {0};
	struct coffer_secret secret, pt = {0};
	char path[256], *akid;

	snprintf(path, sizeof(path), "%s/admin.credentials", s->data);
	if (coffer_kms_client_read_credentials(path, NULL, &akid, &secret) != COFFER_OK)
		die("reading the admin credentials");
	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = s->url;
	cfg.access_key_id = akid;
	cfg.secret_access_key = coffer_slice_of(secret.ptr, secret.len);
	cfg.ca_file = s->cert[0] ? s->cert : NULL;
	cfg.max_idle = (uint32_t)threads + 1;
	if (coffer_kms_client_new(&cfg, &c) != COFFER_OK)
		die("creating the client");
	if (coffer_kms_client_create_key(c, NULL, NULL, &info) != COFFER_OK ||
	    coffer_kms_client_generate_data_key(c, NULL, info.key_id, 32, &ctx, &pt, &blob, NULL) !=
		    COFFER_OK)
		die("creating the key");
	printf("%-44s %10.0f req/s\n", "GenerateDataKey (32 B), 1 connection",
	       measure(c, info.key_id, &blob, 0, 1, seconds));
	printf("%-44s %10.0f req/s\n", "Decrypt (32 B key), 1 connection",
	       measure(c, info.key_id, &blob, 1, 1, seconds));
	if (threads > 1) {
		char l[64];

		snprintf(l, sizeof(l), "GenerateDataKey, %d threads/connections", threads);
		printf("%-44s %10.0f req/s\n", l, measure(c, info.key_id, &blob, 0, threads, seconds));
		snprintf(l, sizeof(l), "Decrypt, %d threads/connections", threads);
		printf("%-44s %10.0f req/s\n", l, measure(c, info.key_id, &blob, 1, threads, seconds));
	}
	coffer_kms_client_stats(c, &st);
	printf("(%s: %llu requests on %llu connections, %llu retries)\n", label,
	       (unsigned long long)st.requests, (unsigned long long)st.connects,
	       (unsigned long long)st.retries);
	coffer_secret_free(&pt);
	coffer_secret_free(&secret);
	coffer_buf_free(&blob);
	coffer_kms_key_info_free(&info);
	coffer_kms_client_free(c);
	free(akid);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	char bin[PATH_MAX], cmd[512];
	const char *env = getenv("COFFER_KMS_BIN");
	struct server s;
	char *slash;

	if (seconds <= 0)
		seconds = 2.0;
	if (threads < 1 || threads > 64)
		threads = 4;
	signal(SIGPIPE, SIG_IGN);
	coffer_crypto_init(false);
	snprintf(bin, sizeof(bin), "%s", env ? env : argv[0]);
	if (!env) {
		slash = strrchr(bin, '/');
		snprintf(slash ? slash + 1 : bin, sizeof(bin) - (size_t)(slash ? slash + 1 - bin : 0),
			 "coffer-kms");
	}
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "coffer-kms-bench: %s not found (set COFFER_KMS_BIN)\n", bin);
		return 1;
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.dir, sizeof(s.dir), "/tmp/coffer-kms-bench-XXXXXX");
	if (!mkdtemp(s.dir))
		return 1;
	snprintf(s.data, sizeof(s.data), "%s/data", s.dir);
	snprintf(s.cert, sizeof(s.cert), "%s/cert.pem", s.dir);
	snprintf(s.key, sizeof(s.key), "%s/key.pem", s.dir);

	printf("coffer-kms over keep-alive HTTP, C client, %.1f s per figure\n", seconds);
	if (start_server(&s, bin, false) != 0) {
		fprintf(stderr, "coffer-kms-bench: coffer-kms did not start\n");
		return 1;
	}
	bench_endpoint(&s, "http", seconds, threads);
	stop_server(&s);

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
		 "-out %s -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
		 ">/dev/null 2>&1",
		 s.key, s.cert);
	if (system(cmd) == 0) {
		printf("\ncoffer-kms over keep-alive HTTPS (TLS 1.3, P-256), C client\n");
		if (start_server(&s, bin, true) != 0) {
			fprintf(stderr, "coffer-kms-bench: coffer-kms (TLS) did not start\n");
			return 1;
		}
		bench_endpoint(&s, "https", seconds, threads);
		stop_server(&s);
	} else {
		printf("\nHTTPS skipped: openssl could not make a certificate\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "coffer-kms-bench: could not remove %s\n", s.dir);
	return 0;
}
