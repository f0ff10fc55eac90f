/*
 * main.c - cofferd, the database server.
 *
 *   cofferd --data DIR [--listen 127.0.0.1:9042] [--tls-listen 127.0.0.1:9142
 *           --tls-cert F --tls-key F] [--kms embedded] [--kms-listen 127.0.0.1:9942]
 *           [--auth password|none] [--key-cache-idle 5m] [--log-level info]
 *
 * One process is a complete system: the KMS engine over DIR/kms (its AWS-KMS
 * API served on a loopback listener, admin credentials in
 * DIR/kms/admin.credentials), the key hierarchy, the storage engine under
 * DIR/data, the catalog under DIR/schema, and the CQL native protocol.
 *
 * Threads: the CQL loop runs on the main thread, the KMS API loop on its own
 * thread, requests on the server's workers; a signal thread turns SIGTERM and
 * SIGINT into an orderly stop: listeners close, requests in flight finish,
 * memtables are flushed, files closed.
 *
 * Invariants:
 *  1. Key material never reaches a core dump: coffer_crypto_init(true) turns
 *     core dumps off before anything is loaded.
 *  2. Listeners default to loopback; --auth none is refused on any other
 *     address, and so is the plaintext KMS API.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto/crypto.h"
#include "db/db.h"
#include "keys/keys.h"
#include "kms/kms.h"
#include "kmsapi/kmsapi.h"
#include "server/server.h"
#include "util/util.h"

struct opts {
	const char *data;
	const char *listen;
	const char *tls_listen, *tls_cert, *tls_key;
	const char *kms;
	const char *kms_listen;
	const char *auth;
	const char *log_level;
	int64_t key_cache_idle_us;
	int64_t key_cache_max_age_us;
	int workers;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cofferd --data DIR [options]\n"
		"\n"
		"  --data DIR               data directory (created 0700 if missing)\n"
		"  --listen HOST:PORT       CQL listener (default 127.0.0.1:9042; 'none' for none)\n"
		"  --tls-listen HOST:PORT   CQL over TLS (needs --tls-cert and --tls-key)\n"
		"  --tls-cert FILE          PEM certificate chain\n"
		"  --tls-key FILE           PEM private key\n"
		"  --kms embedded           host the KMS in-process over DIR/kms (the default)\n"
		"  --kms-listen HOST:PORT   the embedded KMS's AWS-KMS API (default 127.0.0.1:9942;\n"
		"                           'none' to serve none); credentials in DIR/kms/admin.credentials\n"
		"  --auth password|none     PasswordAuthenticator (default); none only on loopback\n"
		"  --key-cache-idle DUR     wipe a table key unused this long (default 5m)\n"
		"  --key-cache-max-age DUR  wipe a table key this long after it was fetched (default 1h)\n"
		"  --workers N              request worker threads (default 32)\n"
		"  --log-level LEVEL        debug, info, warn, error (default info)\n"
		"  --help                   this text\n"
		"\n"
		"The superuser is `coffer`; its password comes from COFFER_SUPERUSER_PASSWORD on the\n"
		"first start, or is generated and written to DIR/superuser.password (0600).\n");
}

static int duration_flag(const char *flag, const char *v, int64_t *out)
{
	if (coffer_duration_parse(v, out) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s %s: %s\n", flag, v, coffer_error_msg());
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"tls-listen", required_argument, NULL, 'L'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"kms", required_argument, NULL, 'K'},
		{"kms-listen", required_argument, NULL, 'P'},
		{"auth", required_argument, NULL, 'a'},
		{"key-cache-idle", required_argument, NULL, 'i'},
		{"key-cache-max-age", required_argument, NULL, 'm'},
		{"workers", required_argument, NULL, 'w'},
		{"log-level", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:9042";
	o->kms = "embedded";
	o->kms_listen = "127.0.0.1:9942";
	o->auth = "password";
	o->log_level = "info";
	o->key_cache_max_age_us = 3600 * COFFER_US_PER_SEC;
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'L': o->tls_listen = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'K': o->kms = optarg; break;
		case 'P': o->kms_listen = optarg; break;
		case 'a': o->auth = optarg; break;
		case 'i': if (duration_flag("--key-cache-idle", optarg, &o->key_cache_idle_us)) return -1; break;
		case 'm': if (duration_flag("--key-cache-max-age", optarg, &o->key_cache_max_age_us)) return -1; break;
		case 'w': o->workers = atoi(optarg); break;
		case 'v': o->log_level = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cofferd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->data) {
		fprintf(stderr, "cofferd: --data DIR is required\n");
		usage(stderr);
		return -1;
	}
	if (strcmp(o->kms, "embedded") != 0) {
		fprintf(stderr, "cofferd: --kms %s: only the embedded KMS is available in this build "
				"(a remote KMS comes with customer managed keys)\n", o->kms);
		return -1;
	}
	if (strcmp(o->auth, "password") != 0 && strcmp(o->auth, "none") != 0) {
		fprintf(stderr, "cofferd: --auth %s: expected password or none\n", o->auth);
		return -1;
	}
	if (strcmp(o->listen, "none") == 0)
		o->listen = NULL;
	if (strcmp(o->kms_listen, "none") == 0)
		o->kms_listen = NULL;
	if (o->tls_listen && (!o->tls_cert || !o->tls_key)) {
		fprintf(stderr, "cofferd: --tls-listen needs --tls-cert and --tls-key\n");
		return -1;
	}
	if (!o->listen && !o->tls_listen) {
		fprintf(stderr, "cofferd: no CQL listener: give --listen or --tls-listen\n");
		return -1;
	}
	if (o->workers < 0 || o->workers > 1024) {
		fprintf(stderr, "cofferd: --workers must be 1 to 1024\n");
		return -1;
	}
	return 0;
}

/* "HOST:PORT" is on loopback. */
static bool loopback(const char *hostport)
{
	if (!hostport)
		return true;
	return strncmp(hostport, "127.", 4) == 0 || strncmp(hostport, "[::1]:", 6) == 0 ||
	       strncmp(hostport, "localhost:", 10) == 0;
}

static int split(const char *hostport, char *host, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= cap)
		return -1;
	const char *h = hostport;
	size_t n = (size_t)(colon - hostport);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	memcpy(host, h, n);
	host[n] = 0;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* ---- the glue between the server and the database ------------------------------ */

struct app {
	struct coffer_db *db;
	struct coffer_server *server;
	struct event_base *kms_base;
	struct coffer_kms *kms;
	const struct coffer_log *log;
	sigset_t sigs;
};

static coffer_rc glue_login(void *self, struct coffer_slice user, struct coffer_slice pw, bool *ok)
{
	struct app *a = self;
	return coffer_db_login(a->db, user, pw, ok);
}

static void glue_handle(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			struct coffer_buf *out)
{
	struct app *a = self;
	struct coffer_db_session ds;
	ds.version = coffer_session_version(s);
	ds.user = coffer_session_user(s);
	char before[COFFER_SESSION_KEYSPACE_MAX];
	coffer_session_keyspace(s, before);
	snprintf(ds.keyspace, sizeof(ds.keyspace), "%s", before);
	coffer_db_handle(a->db, &ds, req, out);
	if (strcmp(before, ds.keyspace) != 0)
		coffer_session_set_keyspace(s, ds.keyspace);
}

static const struct coffer_cql_handler_ops glue_ops = {glue_login, glue_handle};

static void on_schema_change(void *arg, const struct coffer_proto_schema_change *sc)
{
	struct app *a = arg;
	if (a->server)
		coffer_server_broadcast_schema_change(a->server, sc);
}

static void kms_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct app *a = arg;
	if (coffer_kms_tick(a->kms) != COFFER_OK)
		coffer_log_warn(a->log, "kms", "periodic tick: %s", coffer_error_msg());
}

static void *kms_thread(void *arg)
{
	struct app *a = arg;
	event_base_dispatch(a->kms_base);
	return NULL;
}

static void *signal_thread(void *arg)
{
	struct app *a = arg;
	int sig = 0;
	sigwait(&a->sigs, &sig);
	coffer_log_info(a->log, "cofferd", "signal %d: stopping", sig);
	coffer_server_stop(a->server);
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	coffer_crypto_init(true);
	signal(SIGPIPE, SIG_IGN);

	enum coffer_log_level level;
	if (coffer_log_level_parse(o.log_level, &level) != 0) {
		fprintf(stderr, "cofferd: --log-level %s: expected debug, info, warn or error\n", o.log_level);
		return 2;
	}
	if (strcmp(o.auth, "none") == 0 && (!loopback(o.listen) || !loopback(o.tls_listen))) {
		fprintf(stderr, "cofferd: --auth none is allowed only on loopback listeners\n");
		return 2;
	}
	struct coffer_log log;
	coffer_log_init(&log, STDERR_FILENO, level, NULL);
	struct app a;
	memset(&a, 0, sizeof(a));
	a.log = &log;
	sigemptyset(&a.sigs);
	sigaddset(&a.sigs, SIGTERM);
	sigaddset(&a.sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &a.sigs, NULL); /* inherited by every thread */

	int status = 1;
	char *kms_dir = NULL;
	struct coffer_key_provider *provider = NULL;
	struct coffer_key_cache *cache = NULL;
	struct coffer_kmsapi_server *kmsapi = NULL;
	pthread_t kms_tid, sig_tid;
	bool kms_running = false;
	struct event *tick = NULL;

	if (coffer_fs_mkdirs(o.data, 0700) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s\n", coffer_error_msg());
		return 1;
	}
	/* The KMS. */
	kms_dir = coffer_path_join(o.data, "kms");
	struct coffer_kms_config kcfg;
	coffer_kms_config_default(&kcfg);
	kcfg.data_dir = kms_dir;
	kcfg.log = &log;
	char service_key[COFFER_KMS_ARN_MAX];
	if (coffer_kms_open(&kcfg, &a.kms) != COFFER_OK || coffer_kms_service_key(a.kms, service_key) != COFFER_OK ||
	    coffer_kmsapi_ensure_admin_credentials(a.kms, kms_dir, &log) != COFFER_OK) {
		fprintf(stderr, "cofferd: embedded KMS: %s: %s\n", coffer_rc_name(coffer_error_code()), coffer_error_msg());
		goto out;
	}
	a.kms_base = event_base_new();
	tick = event_new(a.kms_base, -1, EV_PERSIST, kms_tick, &a);
	struct timeval one = {1, 0};
	event_add(tick, &one);
	char kms_url[160] = "";
	if (o.kms_listen) {
		struct coffer_kmsapi_server_config scfg;
		char host[128];
		memset(&scfg, 0, sizeof(scfg));
		if (split(o.kms_listen, host, sizeof(host), &scfg.port) != 0) {
			fprintf(stderr, "cofferd: --kms-listen %s: expected HOST:PORT\n", o.kms_listen);
			goto out;
		}
		scfg.host = host;
		scfg.log = &log;
		if (coffer_kmsapi_server_start(a.kms_base, a.kms, &scfg, &kmsapi) != COFFER_OK) {
			fprintf(stderr, "cofferd: KMS API: %s\n", coffer_error_msg());
			goto out;
		}
		snprintf(kms_url, sizeof(kms_url), "http://%s:%u", strchr(host, ':') ? "[::1]" : host,
			 coffer_kmsapi_server_port(kmsapi));
	}
	if (pthread_create(&kms_tid, NULL, kms_thread, &a) != 0)
		goto out;
	kms_running = true;

	/* Keys and the database. */
	provider = coffer_key_provider_embedded(a.kms);
	struct coffer_key_cache_config ccfg;
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.idle_us = o.key_cache_idle_us;
	ccfg.max_age_us = o.key_cache_max_age_us;
	cache = coffer_key_cache_new(&ccfg);
	struct coffer_db_config dcfg;
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.data_dir = o.data;
	dcfg.provider = provider;
	dcfg.cache = cache;
	dcfg.service_key = service_key;
	dcfg.log = &log;
	dcfg.superuser_password = getenv("COFFER_SUPERUSER_PASSWORD");
	dcfg.on_schema_change = on_schema_change;
	dcfg.on_schema_change_arg = &a;
	dcfg.rpc_address = "127.0.0.1";
	dcfg.rpc_port = 9042;
	if (coffer_db_open(&dcfg, &a.db) != COFFER_OK) {
		fprintf(stderr, "cofferd: opening the database: %s: %s\n", coffer_rc_name(coffer_error_code()),
			coffer_error_msg());
		goto out;
	}

	/* The CQL server. */
	struct coffer_server_config scfg = {
		.listen = o.listen,
		.tls_listen = o.tls_listen,
		.tls_cert = o.tls_cert,
		.tls_key = o.tls_key,
		.auth = strcmp(o.auth, "password") == 0,
		.workers = o.workers,
		.handler = {&glue_ops, &a},
		.log = &log,
	};
	if (coffer_server_new(&scfg, &a.server) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s\n", coffer_error_msg());
		goto out;
	}
	pthread_create(&sig_tid, NULL, signal_thread, &a);
	printf("cofferd ready: CQL %s%s%s, KMS API %s, data %s\n",
	       o.listen ? coffer_server_address(a.server) : "-", o.tls_listen ? ", CQL/TLS " : "",
	       o.tls_listen ? coffer_server_tls_address(a.server) : "", kms_url[0] ? kms_url : "-", o.data);
	fflush(stdout);
	if (coffer_server_run(a.server) != COFFER_OK)
		coffer_log_error(&log, "cofferd", "%s", coffer_error_msg());
	pthread_join(sig_tid, NULL);
	status = 0;
out:
	if (a.server)
		coffer_server_free(a.server); /* requests in flight finish first */
	if (a.db) {
		if (coffer_db_flush_all(a.db) != COFFER_OK) {
			coffer_log_error(&log, "cofferd", "flush at stop: %s (the commit log still holds the data)",
					 coffer_error_msg());
		}
		coffer_db_close(a.db);
	}
	if (kms_running) {
		event_base_loopbreak(a.kms_base);
		pthread_join(kms_tid, NULL);
	}
	if (kmsapi)
		coffer_kmsapi_server_free(kmsapi);
	if (tick)
		event_free(tick);
	if (a.kms_base)
		event_base_free(a.kms_base);
	if (cache)
		coffer_key_cache_free(cache);
	if (provider)
		coffer_key_provider_free(provider);
	coffer_kms_close(a.kms);
	free(kms_dir);
	if (status == 0)
		coffer_log_info(&log, "cofferd", "stopped");
	return status;
}
