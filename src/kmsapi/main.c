/*
 * main.c - the coffer-kms program: the KMS engine as a standalone daemon
 * serving the AWS KMS API (docs/kms-api.md).
 *
 *   coffer-kms --data DIR --listen HOST:PORT [--tls-cert F --tls-key F]
 *              [--region R] [--account A] [--quota-rate N] [--timeout SECS]
 *              [--log-level debug|info|warn|error]
 *   coffer-kms principal create NAME --data DIR
 *
 * Invariants:
 *  1. Plaintext HTTP only on loopback; elsewhere the program exits 2 saying why.
 *  2. The first start issues the admin principal an access key and writes it
 *     to DIR/admin.credentials (AWS shared-credentials format, profile
 *     "default", mode 0600, written atomically); later starts never rewrite
 *     it (deleting the file makes the next start issue a fresh key).
 *  3. Secrets are printed once (principal create) or written once (admin),
 *     from secret memory, and never logged.
 *  4. SIGTERM/SIGINT: stop accepting, let in-flight replies drain briefly,
 *     close the engine, exit 0.
 *  5. "coffer-kms listening on http(s)://HOST:PORT" is printed (and flushed)
 *     once, only when the socket accepts connections.
 *  6. Every start makes sure the coffer service key exists (Keyspaces' "AWS
 *     owned key", coffer_kms_service_key) and logs its ARN, so a cofferd that
 *     reaches this KMS remotely with the coffer-service principal's
 *     credentials finds it (ListKeys + DescribeKey, KeyManager "AWS"): the
 *     engine lets no alias point at it and shows it to no other principal.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "kmsapi/kmsapi.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/log.h"

struct options {
	const char *data;
	const char *listen;
	const char *tls_cert;
	const char *tls_key;
	const char *region;
	const char *account;
	double quota_rate;
	int timeout_secs;
	enum coffer_log_level level;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coffer-kms --data DIR --listen HOST:PORT [--tls-cert FILE --tls-key FILE]\n"
		"                  [--region R] [--account A] [--quota-rate N] [--timeout SECS]\n"
		"                  [--log-level debug|info|warn|error]\n"
		"       coffer-kms principal create NAME --data DIR\n");
}

static int die(const char *what, coffer_rc rc)
{
	fprintf(stderr, "coffer-kms: %s: %s (%s)\n", what, coffer_error_msg(), coffer_rc_name(rc));
	return 1;
}

/* "host:port", "[v6]:port". */
static int split_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= cap)
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= cap || colon == s)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* The shared-credentials text for one access key, in secret memory. */
static COFFER_RESULT open_engine(const struct options *o, const struct coffer_log *log,
				 struct coffer_kms **kms)
{
	struct coffer_kms_config cfg;

	coffer_kms_config_default(&cfg);
	cfg.data_dir = o->data;
	if (o->region)
		cfg.region = o->region;
	if (o->account)
		cfg.account = o->account;
	if (o->quota_rate > 0) {
		cfg.quota_rate = o->quota_rate;
		cfg.quota_burst = o->quota_rate;
	}
	cfg.log = log;
	return coffer_kms_open(&cfg, kms);
}

static int principal_create(int argc, char **argv)
{
	struct options o = {0};
	struct coffer_kms_access_key key;
	struct coffer_kms *kms = NULL;
	struct coffer_buf text;
	const char *name = NULL;
	coffer_rc rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			o.data = argv[++i];
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!name || !o.data) {
		usage(stderr);
		return 2;
	}
	rc = open_engine(&o, NULL, &kms);
	if (rc != COFFER_OK)
		return die("opening the KMS", rc);
	memset(&key, 0, sizeof(key));
	rc = coffer_kms_principal_create(kms, name, &key);
	if (rc != COFFER_OK) {
		coffer_kms_close(kms);
		return die("creating the principal", rc);
	}
	coffer_kmsapi_credentials_text(name, &key, &text);
	fwrite(text.ptr, 1, text.len, stdout);
	fflush(stdout);
	coffer_buf_free(&text);
	coffer_kms_access_key_free(&key);
	coffer_kms_close(kms);
	return 0;
}

/* The engine creates the admin principal itself; its first access key is
 * issued here, once: when DIR/admin.credentials does not exist yet. */
struct daemon_ctx {
	struct event_base *base;
	struct coffer_kms *kms;
	struct coffer_kmsapi_server *server;
	const struct coffer_log *log;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *d = arg;
	struct timeval grace = {0, 200000};

	coffer_log_info(d->log, "kms", "signal %d: shutting down", (int)sig);
	coffer_kmsapi_server_stop_accepting(d->server);
	event_base_loopexit(d->base, &grace);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_ctx *d = arg;

	if (coffer_kms_tick(d->kms) != COFFER_OK)
		coffer_log_warn(d->log, "kms", "periodic tick: %s", coffer_error_msg());
}

static int parse_daemon_args(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "coffer-kms: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--data") == 0) {
			o->data = v;
		} else if (strcmp(a, "--listen") == 0) {
			o->listen = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			o->tls_cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			o->tls_key = v;
		} else if (strcmp(a, "--region") == 0) {
			o->region = v;
		} else if (strcmp(a, "--account") == 0) {
			o->account = v;
		} else if (strcmp(a, "--quota-rate") == 0) {
			o->quota_rate = strtod(v, NULL);
			if (o->quota_rate <= 0) {
				fprintf(stderr, "coffer-kms: --quota-rate must be positive\n");
				return -1;
			}
		} else if (strcmp(a, "--timeout") == 0) {
			o->timeout_secs = atoi(v);
			if (o->timeout_secs <= 0) {
				fprintf(stderr, "coffer-kms: --timeout must be positive seconds\n");
				return -1;
			}
		} else if (strcmp(a, "--log-level") == 0) {
			if (coffer_log_level_parse(v, &o->level) != 0) {
				fprintf(stderr, "coffer-kms: bad --log-level %s\n", v);
				return -1;
			}
		} else {
			fprintf(stderr, "coffer-kms: unknown option %s\n", a);
			return -1;
		}
	}
	if (!o->data || !o->listen) {
		fprintf(stderr, "coffer-kms: --data and --listen are required\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct coffer_kmsapi_server_config scfg;
	struct daemon_ctx d = {0};
	struct event *sigterm = NULL, *sigint = NULL, *tick = NULL;
	struct timeval one_sec = {1, 0};
	struct coffer_log log;
	char host[256];
	uint16_t port;
	coffer_rc rc;
	int status = 1;

	coffer_crypto_init(true);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "principal") == 0 && strcmp(argv[2], "create") == 0)
		return principal_create(argc - 3, argv + 3);

	o.level = COFFER_LOG_INFO;
	if (parse_daemon_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (split_listen(o.listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "coffer-kms: --listen must be HOST:PORT or [V6]:PORT, not %s\n",
			o.listen);
		return 2;
	}
	if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
		fprintf(stderr, "coffer-kms: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (!o.tls_cert && !coffer_kmsapi_is_loopback(host)) {
		fprintf(stderr,
			"coffer-kms: refusing to serve plaintext HTTP on %s, which is not a loopback "
			"address; give --tls-cert and --tls-key, or listen on 127.0.0.1\n",
			host);
		return 2;
	}
	coffer_log_init(&log, STDERR_FILENO, o.level, NULL);
	d.log = &log;

	rc = open_engine(&o, &log, &d.kms);
	if (rc != COFFER_OK)
		return die("opening the KMS", rc);
	rc = coffer_kmsapi_ensure_admin_credentials(d.kms, o.data, &log);
	if (rc != COFFER_OK) {
		die("creating the admin principal", rc);
		goto out;
	}
	{
		char service_key[COFFER_KMS_ARN_MAX];

		rc = coffer_kms_service_key(d.kms, service_key);
		if (rc != COFFER_OK) {
			die("creating the coffer service key", rc);
			goto out;
		}
		coffer_log_info(&log, "kms", "coffer service key: %s (for the %s principal)",
				service_key, COFFER_KMS_SERVICE_PRINCIPAL_NAME);
	}
	d.base = event_base_new();
	if (!d.base) {
		fprintf(stderr, "coffer-kms: cannot create an event loop\n");
		goto out;
	}
	memset(&scfg, 0, sizeof(scfg));
	scfg.host = host;
	scfg.port = port;
	scfg.tls_cert = o.tls_cert;
	scfg.tls_key = o.tls_key;
	scfg.timeout_secs = o.timeout_secs;
	scfg.log = &log;
	rc = coffer_kmsapi_server_start(d.base, d.kms, &scfg, &d.server);
	if (rc != COFFER_OK) {
		die("starting the HTTP server", rc);
		goto out;
	}
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	tick = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
	if (!sigterm || !sigint || !tick || event_add(sigterm, NULL) || event_add(sigint, NULL) ||
	    event_add(tick, &one_sec)) {
		fprintf(stderr, "coffer-kms: cannot install signal and timer events\n");
		goto out;
	}
	if (strchr(host, ':'))
		printf("coffer-kms listening on %s://[%s]:%u\n", o.tls_cert ? "https" : "http", host,
		       coffer_kmsapi_server_port(d.server));
	else
		printf("coffer-kms listening on %s://%s:%u\n", o.tls_cert ? "https" : "http", host,
		       coffer_kmsapi_server_port(d.server));
	fflush(stdout);
	event_base_dispatch(d.base);
	status = 0;
	coffer_log_info(&log, "kms", "stopped");
out:
	if (tick)
		event_free(tick);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	coffer_kmsapi_server_free(d.server);
	if (d.base)
		event_base_free(d.base);
	coffer_kms_close(d.kms);
	return status;
}
