/*
 * kmsapi_test_helper.c - see kmsapi_test_helper.h.
 */
#include "kmsapi/kmsapi_test_helper.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kmsapi/kms_client.h"

const char *kat_binary(void)
{
	static char path[PATH_MAX];
	const char *b = getenv("COFFER_BUILD");

	snprintf(path, sizeof(path), "%s/coffer-kms", b ? b : "build");
	return access(path, X_OK) == 0 ? path : NULL;
}

void kat_init(struct kat_server *s, bool tls)
{
	char cmd[3 * PATH_MAX];

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/coffer-kmsapi-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	if (tls) {
		snprintf(s->cert, sizeof(s->cert), "%s/cert.pem", s->dir);
		snprintf(cmd, sizeof(cmd),
			 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			 "-keyout %s/key.pem -out %s -days 2 -subj /CN=localhost "
			 "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
			 s->dir, s->cert);
		assert_int_equal(system(cmd), 0);
	}
}

void kat_start(struct kat_server *s, uint16_t port, const char *const *extra)
{
	const char *argv[32];
	char listen_arg[64], key[PATH_MAX + 16], line[256];
	int out[2], n = 0;
	size_t len = 0;
	struct timespec t0, t;

	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", port);
	argv[n++] = kat_binary();
	argv[n++] = "--data";
	argv[n++] = s->data;
	argv[n++] = "--listen";
	argv[n++] = listen_arg;
	argv[n++] = "--log-level";
	argv[n++] = "warn";
	if (s->cert[0]) {
		snprintf(key, sizeof(key), "%s/key.pem", s->dir);
		argv[n++] = "--tls-cert";
		argv[n++] = s->cert;
		argv[n++] = "--tls-key";
		argv[n++] = key;
	}
	for (size_t i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	assert_int_equal(pipe(out), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (len < sizeof(line) - 1) {
		struct pollfd p = {out[0], POLLIN, 0};
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 20)
			break;
		if (poll(&p, 1, 200) <= 0)
			continue;
		r = read(out[0], line + len, 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (line[len - 1] == '\n')
			break;
	}
	line[len] = '\0';
	close(out[0]);
	if (strncmp(line, "coffer-kms listening on ", 24) != 0) {
		fprintf(stderr, "coffer-kms did not start: '%s'\n", line);
		fail();
	}
	line[strcspn(line, "\n")] = '\0';
	snprintf(s->url, sizeof(s->url), "%s", line + 24);
	s->port = (uint16_t)atoi(strrchr(s->url, ':') + 1);
	if (!s->akid) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/admin.credentials", s->data);
		assert_int_equal(coffer_kms_client_read_credentials(path, NULL, &s->akid, &s->secret),
				 COFFER_OK);
	}
}

int kat_stop(struct kat_server *s)
{
	int st = -1;

	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void kat_cleanup(struct kat_server *s)
{
	char cmd[PATH_MAX + 16];

	kat_stop(s);
	if (s->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
	}
	free(s->akid);
	s->akid = NULL;
	coffer_secret_free(&s->secret);
}
