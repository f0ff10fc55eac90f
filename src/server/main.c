/*
 * main.c - cofferd, the database server.
 *
 *   cofferd --data DIR [--listen 127.0.0.1:9042] [--tls-listen 127.0.0.1:9142
 *           --tls-cert F --tls-key F] [--kms embedded] [--kms-listen 127.0.0.1:9942]
 *           [--auth password|none] [--key-cache-idle 5m] [--log-level info]
 *           [--key-check-interval 1m] [--key-grace-period 7d] [--grant-release-delay 42d]
 *           [--backup-retention 35d]
 *           [--notify-webhook http://HOST:PORT/PATH] [--notify-command CMD]
 *   cofferd --data DIR --kms URL --kms-credentials FILE [--kms-profile P]
 *           [--kms-region local] [--kms-ca FILE] [--kms-service-key REF] ...
 *
 * By default one process is a complete system: the KMS engine over DIR/kms
 * (its AWS-KMS API served on a loopback listener, admin credentials in
 * DIR/kms/admin.credentials), the key hierarchy, the storage engine under
 * DIR/data, the catalog under DIR/schema, and the CQL native protocol.
 * With --kms URL the KMS is a separate coffer-kms (or AWS KMS) reached with
 * the remote key provider, signing as the coffer-service principal whose
 * credentials are in FILE; no KMS engine or KMS API listener runs here, and
 * the service key is the KMS's coffer service key (found with ListKeys +
 * DescribeKey) unless --kms-service-key names one (docs/kms-api.md, "Running
 * cofferd against a separate coffer-kms").
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
 *  3. A remote KMS is reached over https unless its URL's host is a
 *     loopback address; its secret access key is read into secret memory,
 *     handed to the client (which copies it into its own) and wiped; it is
 *     never printed or logged.
 *  4. A remote KMS that cannot be reached at start (DESIGN.md rule 7) is
 *     retried for a few seconds (the client's retries, then the catalog
 *     unlock's, db.c invariant 5); then cofferd starts anyway, locked: its
 *     listeners accept connections, and every login and request is refused
 *     with a retryable error naming the KMS ("cofferd cannot unlock its
 *     catalog: the KMS at URL cannot be reached ..."), while the unlock
 *     thread retries with backoff (0.5 s doubling to 10 s). Once the KMS
 *     answers, the database opens (catalog key unwrapped, every table
 *     opened) and is published to the glue with one atomic store: no
 *     restart, nothing to do for the user. The catalog key is never kept
 *     anywhere unwrapped, so there is no other way to read the catalog
 *     (the role list included) without the KMS. A KMS that answers with a
 *     refusal (not an outage) at start still ends cofferd with status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "crypto/crypto.h"
#include "db/db.h"
#include "keys/keys.h"
#include "kms/kms.h"
#include "kmsapi/kms_client.h"
#include "kmsapi/kmsapi.h"
#include "server/server.h"
#include "util/util.h"

struct opts {
	const char *data;
	const char *listen;
	const char *tls_listen, *tls_cert, *tls_key;
	const char *kms;
	const char *kms_listen;
	const char *kms_credentials, *kms_profile, *kms_region, *kms_ca, *kms_service_key;
	const char *auth;
	const char *log_level;
	int64_t key_cache_idle_us;
	int64_t key_cache_max_age_us;
	int64_t key_check_interval_us;
	int64_t key_grace_period_us;
	int64_t grant_release_delay_us;
	int64_t backup_retention_us;
	const char *notify_webhook, *notify_command;
	const char *metrics_listen;
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
		"  --kms URL                a separate coffer-kms or AWS KMS instead (https, or http on\n"
		"                           loopback); --kms-listen is then ignored\n"
		"  --kms-credentials FILE   its coffer-service credentials (AWS shared-credentials file)\n"
		"  --kms-profile NAME       profile in FILE (default: 'default', else 'coffer-service')\n"
		"  --kms-region R           signing region (default local)\n"
		"  --kms-ca FILE            PEM trust anchors for an https KMS (default: system store)\n"
		"  --kms-service-key REF    the service key (default: the KMS's coffer service key)\n"
		"  --auth password|none     PasswordAuthenticator (default); none only on loopback\n"
		"  --metrics-listen HOST:PORT  GET /metrics (Prometheus text: KMS calls per table) on a\n"
		"                           loopback address; any deployment (the embedded KMS API's\n"
		"                           /metrics has them too)\n"
		"  --key-cache-idle DUR     wipe a table key unused this long (default 5m)\n"
		"  --key-cache-max-age DUR  wipe a table key this long after it was fetched (default 1h)\n"
		"  --key-check-interval DUR check every table's key this often (default 1m)\n"
		"  --key-grace-period DUR   how long a table may stay INACCESSIBLE before it is backed\n"
		"                           up and deleted (default 7d)\n"
		"  --grant-release-delay DUR retire a dropped table's backup grant after (default 42d)\n"
		"  --backup-retention DUR   point-in-time recovery window, and how long a dropped table\n"
		"                           stays restorable (default 35d)\n"
		"  --notify-webhook URL     POST key-status events as JSON to this http:// URL\n"
		"  --notify-command CMD     run CMD (/bin/sh -c) per key-status event, with COFFER_EVENT,\n"
		"                           COFFER_KEYSPACE, COFFER_TABLE, COFFER_KMS_KEY, COFFER_REASON\n"
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

/* Invariant 3: http:// only to a loopback host. */
static int check_kms_url(const char *url)
{
	const char *h;
	char host[256];
	size_t n;
	if (strncmp(url, "https://", 8) == 0)
		return 0;
	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "cofferd: --kms %s: expected 'embedded' or an http(s):// URL\n", url);
		return -1;
	}
	h = url + 7;
	if (*h == '[') {
		n = strcspn(h + 1, "]");
		h++;
	} else {
		n = strcspn(h, ":/");
	}
	if (n == 0 || n >= sizeof(host)) {
		fprintf(stderr, "cofferd: --kms %s: no host\n", url);
		return -1;
	}
	memcpy(host, h, n);
	host[n] = 0;
	if (!coffer_kmsapi_is_loopback(host)) {
		fprintf(stderr, "cofferd: --kms %s: refusing plaintext HTTP to %s, which is not a loopback "
				"address; use https://\n", url, host);
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
		{"kms-credentials", required_argument, NULL, 'C'},
		{"kms-profile", required_argument, NULL, 'p'},
		{"kms-region", required_argument, NULL, 'r'},
		{"kms-ca", required_argument, NULL, 'A'},
		{"kms-service-key", required_argument, NULL, 'S'},
		{"auth", required_argument, NULL, 'a'},
		{"key-cache-idle", required_argument, NULL, 'i'},
		{"key-cache-max-age", required_argument, NULL, 'm'},
		{"key-check-interval", required_argument, NULL, 'I'},
		{"key-grace-period", required_argument, NULL, 'G'},
		{"grant-release-delay", required_argument, NULL, 'R'},
		{"backup-retention", required_argument, NULL, 'B'},
		{"notify-webhook", required_argument, NULL, 'W'},
		{"notify-command", required_argument, NULL, 'X'},
		{"workers", required_argument, NULL, 'w'},
		{"metrics-listen", required_argument, NULL, 'M'},
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
	o->key_check_interval_us = 60 * COFFER_US_PER_SEC;
	o->key_grace_period_us = 7 * COFFER_US_PER_DAY;
	o->grant_release_delay_us = 42 * COFFER_US_PER_DAY;
	o->backup_retention_us = 35 * COFFER_US_PER_DAY;
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
		case 'C': o->kms_credentials = optarg; break;
		case 'p': o->kms_profile = optarg; break;
		case 'r': o->kms_region = optarg; break;
		case 'A': o->kms_ca = optarg; break;
		case 'S': o->kms_service_key = optarg; break;
		case 'a': o->auth = optarg; break;
		case 'i': if (duration_flag("--key-cache-idle", optarg, &o->key_cache_idle_us)) return -1; break;
		case 'm': if (duration_flag("--key-cache-max-age", optarg, &o->key_cache_max_age_us)) return -1; break;
		case 'I': if (duration_flag("--key-check-interval", optarg, &o->key_check_interval_us)) return -1; break;
		case 'G': if (duration_flag("--key-grace-period", optarg, &o->key_grace_period_us)) return -1; break;
		case 'R': if (duration_flag("--grant-release-delay", optarg, &o->grant_release_delay_us)) return -1; break;
		case 'B': if (duration_flag("--backup-retention", optarg, &o->backup_retention_us)) return -1; break;
		case 'W': o->notify_webhook = optarg; break;
		case 'X': o->notify_command = optarg; break;
		case 'w': o->workers = atoi(optarg); break;
		case 'M': o->metrics_listen = optarg; break;
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
		if (check_kms_url(o->kms) != 0)
			return -1;
		if (!o->kms_credentials) {
			fprintf(stderr, "cofferd: --kms %s needs --kms-credentials FILE (the coffer-service "
					"principal's access key)\n", o->kms);
			return -1;
		}
		o->kms_listen = "none"; /* no engine here, so no KMS API to serve */
	} else if (o->kms_credentials || o->kms_profile || o->kms_region || o->kms_ca ||
		   o->kms_service_key) {
		fprintf(stderr, "cofferd: --kms-credentials, --kms-profile, --kms-region, --kms-ca and "
				"--kms-service-key go with --kms URL\n");
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
	if (o->key_check_interval_us <= 0 || o->key_grace_period_us <= 0 || o->grant_release_delay_us <= 0 ||
	    o->backup_retention_us <= 0) {
		fprintf(stderr, "cofferd: --key-check-interval, --key-grace-period, --grant-release-delay and "
				"--backup-retention must be positive\n");
		return -1;
	}
	if (o->notify_webhook && strncmp(o->notify_webhook, "http://", 7) != 0) {
		fprintf(stderr, "cofferd: --notify-webhook %s: expected an http:// URL\n", o->notify_webhook);
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

/* ---- a remote KMS ------------------------------------------------------------------ */

#define REMOTE_START_BUDGET_US (3 * COFFER_US_PER_SEC)

static bool kms_unreachable(coffer_rc rc)
{
	return rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT || rc == COFFER_E_KMS_THROTTLING;
}

/* One look-up of the service key (--kms-service-key by DescribeKey, else the
 * KMS's coffer service key). COFFER_E_INVALID: a named key that is not
 * enabled (said on stderr). */
static coffer_rc find_service_key(const struct opts *o, struct coffer_key_provider *p,
				  char service_key[COFFER_KEY_ARN_MAX])
{
	if (!o->kms_service_key)
		return coffer_key_provider_remote_service_key(p, service_key);
	struct coffer_key_description d;
	TRY(coffer_key_provider_describe_key(p, o->kms_service_key, &d));
	if (d.state != COFFER_KEY_STATE_ENABLED) {
		fprintf(stderr, "cofferd: --kms-service-key %s: the key %s is not enabled\n", o->kms_service_key,
			d.arn);
		return COFFER_E_INVALID;
	}
	snprintf(service_key, COFFER_KEY_ARN_MAX, "%s", d.arn);
	return COFFER_OK;
}

/* The remote provider and the service key's ARN. Credentials: --kms-profile,
 * else "default", else "coffer-service" (what `coffer-kms principal create
 * coffer-service` prints). Returns 0; 2 when the KMS cannot be reached to
 * find the service key (service_key is then "": the unlock thread finds
 * it); or 1 after saying why on stderr. */
static int open_remote_kms(const struct opts *o, struct coffer_key_provider **provider,
			   char service_key[COFFER_KEY_ARN_MAX])
{
	char *akid = NULL;
	struct coffer_secret secret = {0};
	coffer_rc rc;
	rc = coffer_kms_client_read_service_credentials(o->kms_credentials, o->kms_profile, &akid, &secret);
	if (rc != COFFER_OK) {
		fprintf(stderr, "cofferd: --kms-credentials: %s\n", coffer_error_msg());
		return 1;
	}
	struct coffer_kms_client_config cfg;
	coffer_kms_client_config_default(&cfg);
	cfg.endpoint = o->kms;
	cfg.region = o->kms_region ? o->kms_region : "local";
	cfg.access_key_id = akid;
	cfg.secret_access_key = coffer_slice_of(secret.ptr, secret.len);
	cfg.ca_file = o->kms_ca;
	/* Short enough that an unreachable KMS at start is reported in seconds;
	 * the catalog unlock adds its own bounded retries. */
	cfg.timeout_us = 3 * COFFER_US_PER_SEC;
	cfg.max_attempts = 4;
	cfg.backoff_base_us = 100000;
	cfg.backoff_max_us = COFFER_US_PER_SEC;
	rc = coffer_key_provider_remote(&cfg, provider);
	free(akid);
	coffer_secret_free(&secret);
	if (rc != COFFER_OK) {
		fprintf(stderr, "cofferd: --kms %s: %s\n", o->kms, coffer_error_msg());
		return 1;
	}
	/* A key ARN is taken as given: the catalog unlock is the first use and
	 * checks it; an id or alias needs DescribeKey to become an ARN. */
	if (o->kms_service_key && strncmp(o->kms_service_key, "arn:", 4) == 0 &&
	    strstr(o->kms_service_key, ":key/")) {
		snprintf(service_key, COFFER_KEY_ARN_MAX, "%s", o->kms_service_key);
		return 0;
	}
	const struct coffer_clock *clk = coffer_clock_system();
	int64_t start = coffer_clock_mono_us(clk);
	for (;;) {
		rc = find_service_key(o, *provider, service_key);
		if (rc == COFFER_OK)
			return 0;
		if (rc == COFFER_E_INVALID) /* said why already */
			return 1;
		if (!kms_unreachable(rc) || coffer_clock_mono_us(clk) - start > REMOTE_START_BUDGET_US)
			break;
		struct timespec ts = {0, 500000000};
		nanosleep(&ts, NULL);
	}
	if (kms_unreachable(rc)) {
		/* Invariant 4: start anyway; the unlock thread keeps trying. */
		fprintf(stderr, "cofferd: cannot reach the KMS at %s to find the coffer service key: %s: %s; "
				"starting anyway: requests are refused as Unavailable until it answers\n",
			o->kms, coffer_rc_name(rc), coffer_error_msg());
		service_key[0] = 0;
		return 2;
	}
	fprintf(stderr, "cofferd: the KMS at %s: cannot use the service key: %s: %s\n", o->kms,
		coffer_rc_name(rc), coffer_error_msg());
	return 1;
}

/* ---- the glue between the server and the database ------------------------------ */

struct app {
	struct coffer_db *db;            /* NULL while locked; atomic */
	/* The unlock thread (invariant 4); unlock_mu guards the rest. */
	pthread_t unlock_tid;
	bool unlock_running, unlock_stop;
	pthread_mutex_t unlock_mu;
	pthread_cond_t unlock_cv;
	char locked_why[768];
	const struct opts *o;
	struct coffer_key_provider *provider;
	struct coffer_db_config *dcfg;
	char *service_key;
	/* Set once the CQL server exists; cleared under server_mu before it is
	 * freed, so a schema change reported by another thread (the unlock
	 * thread's open, the key-health pass) never reaches a freed server. */
	struct coffer_server *server;
	pthread_mutex_t server_mu;
	struct event_base *kms_base;
	struct coffer_kms *kms;
	const struct coffer_log *log;
	sigset_t sigs;
};

static struct coffer_db *app_db(struct app *a)
{
	return __atomic_load_n(&a->db, __ATOMIC_ACQUIRE);
}

/* The thread's error while locked: retryable, naming the KMS and why. */
static coffer_rc locked_error(struct app *a)
{
	pthread_mutex_lock(&a->unlock_mu);
	coffer_rc rc = coffer_error_set(COFFER_E_UNAVAILABLE, COFFER_WHERE,
					"cofferd cannot unlock its catalog: the KMS at %s cannot be reached (%s); "
					"retrying in the background, try again later",
					a->o->kms, a->locked_why[0] ? a->locked_why : "not answering");
	pthread_mutex_unlock(&a->unlock_mu);
	return rc;
}

static coffer_rc glue_login(void *self, struct coffer_slice user, struct coffer_slice pw, bool *ok)
{
	struct app *a = self;
	struct coffer_db *db = app_db(a);
	if (!db)
		return locked_error(a);
	return coffer_db_login(db, user, pw, ok);
}

static void glue_finish(void *arg, const struct coffer_buf *frame)
{
	coffer_cql_later_finish(arg, frame);
}

_Static_assert(COFFER_SESSION_KEYSPACE_MAX == COFFER_DB_KEYSPACE_MAX,
	       "a session's keyspace is copied into the db session's as is");

static bool glue_handle(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			struct coffer_buf *out, struct coffer_cql_later *later)
{
	struct app *a = self;
	struct coffer_db_session ds;
	ds.version = coffer_session_version(s);
	ds.user = coffer_session_user(s);
	char before[COFFER_SESSION_KEYSPACE_MAX];
	coffer_session_keyspace(s, ds.keyspace);
	memcpy(before, ds.keyspace, sizeof(before));
	struct coffer_db *db = app_db(a);
	if (!db) {
		/* Unavailable: drivers retry it (on another host, or later). */
		locked_error(a);
		struct coffer_proto_error_body e;
		memset(&e, 0, sizeof(e));
		e.code = COFFER_CQL_UNAVAILABLE;
		e.message = coffer_error_msg();
		e.consistency = COFFER_PROTO_CL_ONE;
		e.required = 1;
		size_t st = coffer_proto_frame_begin(out, ds.version, true, 0, req->stream, COFFER_PROTO_OP_ERROR);
		if (coffer_proto_put_error(out, ds.version, &e) != COFFER_OK ||
		    coffer_proto_frame_end(out, st, 0) != COFFER_OK)
			out->len = st;
		return false;
	}
	bool deferred = coffer_db_handle_async(db, &ds, req, out, glue_finish, later);
	if (strcmp(before, ds.keyspace) != 0)
		coffer_session_set_keyspace(s, ds.keyspace);
	return deferred;
}

/* An EXECUTE on the event loop (server.h): the database takes plain
 * prepared writes; without a database (the KMS is down) a worker answers. */
static int glue_handle_on_loop(void *self, struct coffer_session *s, const struct coffer_proto_request *req,
			       struct coffer_buf *out, struct coffer_cql_later *later)
{
	struct coffer_db *db = app_db(self);
	if (!db)
		return COFFER_CQL_DECLINED;
	struct coffer_db_session ds;
	ds.version = coffer_session_version(s);
	ds.user = coffer_session_user(s);
	coffer_session_keyspace(s, ds.keyspace);
	switch (coffer_db_handle_on_loop(db, &ds, req, out, glue_finish, later)) {
	case COFFER_DB_ANSWERED: return COFFER_CQL_ANSWERED;
	case COFFER_DB_DEFERRED: return COFFER_CQL_DEFERRED;
	case COFFER_DB_DECLINED: break;
	}
	return COFFER_CQL_DECLINED;
}

static const struct coffer_cql_handler_ops glue_ops = {glue_login, glue_handle, glue_handle_on_loop};

static void on_schema_change(void *arg, const struct coffer_proto_schema_change *sc)
{
	struct app *a = arg;
	pthread_mutex_lock(&a->server_mu);
	if (a->server)
		coffer_server_broadcast_schema_change(a->server, sc);
	pthread_mutex_unlock(&a->server_mu);
}

/* Invariant 4: find the service key if still unknown, then open the
 * database; on an outage wait (0.5 s doubling to 10 s) and again. */
static void *unlock_thread(void *arg)
{
	struct app *a = arg;
	int64_t pause_us = 500000;
	for (;;) {
		coffer_rc rc = COFFER_OK;
		if (!a->service_key[0])
			rc = find_service_key(a->o, a->provider, a->service_key);
		struct coffer_db *db = NULL;
		if (rc == COFFER_OK)
			rc = coffer_db_open(a->dcfg, &db);
		if (rc == COFFER_OK) {
			__atomic_store_n(&a->db, db, __ATOMIC_RELEASE);
			coffer_log_warn(a->log, "cofferd", "the KMS at %s answers again: catalog unlocked, serving",
					a->o->kms);
			return NULL;
		}
		pthread_mutex_lock(&a->unlock_mu);
		snprintf(a->locked_why, sizeof(a->locked_why), "%s: %s", coffer_rc_name(rc), coffer_error_msg());
		coffer_log_warn(a->log, "cofferd", "catalog still locked: %s; retrying in %lld ms", a->locked_why,
				(long long)(pause_us / 1000));
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ns = (int64_t)until.tv_nsec + (pause_us % COFFER_US_PER_SEC) * 1000;
		until.tv_sec += (time_t)(pause_us / COFFER_US_PER_SEC + ns / 1000000000);
		until.tv_nsec = (long)(ns % 1000000000);
		while (!a->unlock_stop)
			if (pthread_cond_timedwait(&a->unlock_cv, &a->unlock_mu, &until) == ETIMEDOUT)
				break;
		bool stop = a->unlock_stop;
		pthread_mutex_unlock(&a->unlock_mu);
		if (stop)
			return NULL;
		pause_us = pause_us * 2 > 10 * COFFER_US_PER_SEC ? 10 * COFFER_US_PER_SEC : pause_us * 2;
	}
}

/* cofferd's /metrics (on the embedded KMS API's listener) adds the KMS
 * calls per table. */
static void render_db_metrics(void *arg, struct coffer_buf *out)
{
	struct coffer_db *db = app_db(arg);
	if (db)
		coffer_db_render_kms_metrics(db, out);
}

/* ---- --metrics-listen: cofferd's own /metrics ---------------------------------- */

struct metrics_http {
	struct event_base *base;
	struct evhttp *http;
	struct event *tick;  /* wakes the loop so a loopbreak from another thread is seen */
	pthread_t tid;
	bool running;
	uint16_t port;
};

static void metrics_request(struct evhttp_request *req, void *arg)
{
	struct app *a = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || !path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, 404, "only GET /metrics");
		return;
	}
	struct coffer_buf b = {0};
	coffer_buf_printf(&b, "# HELP coffer_catalog_locked 1 while cofferd waits for the KMS to unlock its "
			      "catalog.\n# TYPE coffer_catalog_locked gauge\ncoffer_catalog_locked %d\n",
			  app_db(a) ? 0 : 1);
	render_db_metrics(a, &b);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, b.ptr, b.len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
	coffer_buf_free(&b);
}

static void metrics_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void *metrics_thread(void *arg)
{
	event_base_dispatch(((struct metrics_http *)arg)->base);
	return NULL;
}

/* Loopback only (invariant 2): the answer names keyspaces and tables. */
static int metrics_start(const char *hostport, struct app *a, struct metrics_http *m)
{
	char host[128];
	uint16_t port;
	if (split(hostport, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "cofferd: --metrics-listen %s: expected HOST:PORT\n", hostport);
		return -1;
	}
	if (!coffer_kmsapi_is_loopback(host)) {
		fprintf(stderr, "cofferd: --metrics-listen %s: only a loopback address is allowed\n", hostport);
		return -1;
	}
	m->base = event_base_new();
	m->http = m->base ? evhttp_new(m->base) : NULL;
	struct evhttp_bound_socket *sock = m->http ? evhttp_bind_socket_with_handle(m->http, host, port) : NULL;
	if (!sock) {
		fprintf(stderr, "cofferd: --metrics-listen %s: cannot listen\n", hostport);
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len);
	m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	evhttp_set_gencb(m->http, metrics_request, a);
	m->tick = event_new(m->base, -1, EV_PERSIST, metrics_tick, NULL);
	struct timeval quarter = {0, 250000};
	event_add(m->tick, &quarter);
	if (pthread_create(&m->tid, NULL, metrics_thread, m) != 0)
		return -1;
	m->running = true;
	return 0;
}

static void metrics_stop(struct metrics_http *m)
{
	if (m->running) {
		event_base_loopbreak(m->base);
		pthread_join(m->tid, NULL);
		m->running = false;
	}
	if (m->http)
		evhttp_free(m->http);
	if (m->tick)
		event_free(m->tick);
	if (m->base)
		event_base_free(m->base);
	m->tick = NULL;
	m->http = NULL;
	m->base = NULL;
}

static void unlock_stop(struct app *a)
{
	if (!a->unlock_running)
		return;
	pthread_mutex_lock(&a->unlock_mu);
	a->unlock_stop = true;
	pthread_cond_signal(&a->unlock_cv);
	pthread_mutex_unlock(&a->unlock_mu);
	pthread_join(a->unlock_tid, NULL);
	a->unlock_running = false;
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
	/* A second signal while stopping means "now": everything acknowledged
	 * is in the commit logs already, so nothing is lost by not flushing. */
	sigwait(&a->sigs, &sig);
	coffer_log_warn(a->log, "cofferd", "signal %d again: exiting without flushing", sig);
	_exit(3);
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
	struct coffer_server *server = NULL;
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
	struct metrics_http metrics;
	memset(&metrics, 0, sizeof(metrics));

	if (coffer_fs_mkdirs(o.data, 0700) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s\n", coffer_error_msg());
		return 1;
	}
	/* The KMS: a remote one, or the embedded engine. */
	bool remote = strcmp(o.kms, "embedded") != 0;
	char service_key[COFFER_KMS_ARN_MAX];
	char kms_url[160] = "";
	bool locked = false;
	pthread_mutex_init(&a.unlock_mu, NULL);
	pthread_mutex_init(&a.server_mu, NULL);
	pthread_cond_init(&a.unlock_cv, NULL);
	a.o = &o;
	a.service_key = service_key;
	if (remote) {
		int r = open_remote_kms(&o, &provider, service_key);
		if (r == 1)
			goto out;
		locked = r == 2;
		goto keys;
	}
	kms_dir = coffer_path_join(o.data, "kms");
	struct coffer_kms_config kcfg;
	coffer_kms_config_default(&kcfg);
	kcfg.data_dir = kms_dir;
	kcfg.log = &log;
	if (coffer_kms_open(&kcfg, &a.kms) != COFFER_OK || coffer_kms_service_key(a.kms, service_key) != COFFER_OK ||
	    coffer_kmsapi_ensure_admin_credentials(a.kms, kms_dir, &log) != COFFER_OK) {
		fprintf(stderr, "cofferd: embedded KMS: %s: %s\n", coffer_rc_name(coffer_error_code()), coffer_error_msg());
		goto out;
	}
	a.kms_base = event_base_new();
	tick = event_new(a.kms_base, -1, EV_PERSIST, kms_tick, &a);
	struct timeval one = {1, 0};
	event_add(tick, &one);
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

	provider = coffer_key_provider_embedded(a.kms);

keys:
	/* Keys and the database. */
	;
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
	dcfg.key_check_interval_us = o.key_check_interval_us;
	dcfg.key_grace_period_us = o.key_grace_period_us;
	dcfg.backup_retention_us = o.backup_retention_us;
	dcfg.grant_release_delay_us = o.grant_release_delay_us;
	dcfg.notify_webhook = o.notify_webhook;
	dcfg.notify_command = o.notify_command;
	a.provider = provider;
	a.dcfg = &dcfg;
	if (!locked && coffer_db_open(&dcfg, &a.db) != COFFER_OK) {
		if (remote && coffer_error_code() == COFFER_E_UNAVAILABLE) {
			fprintf(stderr, "cofferd: cannot reach the KMS at %s to unlock the catalog: %s; starting "
					"anyway: requests are refused as Unavailable until it answers\n",
				o.kms, coffer_error_msg());
			snprintf(a.locked_why, sizeof(a.locked_why), "%s", coffer_error_msg());
			locked = true;
		} else {
			fprintf(stderr, "cofferd: opening the database: %s: %s\n",
				coffer_rc_name(coffer_error_code()), coffer_error_msg());
			goto out;
		}
	}
	if (kmsapi)
		coffer_kmsapi_server_set_metrics_extra(kmsapi, render_db_metrics, &a);
	char metrics_url[160] = "";
	if (o.metrics_listen) {
		if (metrics_start(o.metrics_listen, &a, &metrics) != 0)
			goto out;
		char host[128];
		uint16_t unused;
		split(o.metrics_listen, host, sizeof(host), &unused);
		snprintf(metrics_url, sizeof(metrics_url), ", metrics http://%s:%u/metrics",
			 strchr(host, ':') ? "[::1]" : host, metrics.port);
	}
	if (locked) {
		if (pthread_create(&a.unlock_tid, NULL, unlock_thread, &a) != 0)
			goto out;
		a.unlock_running = true;
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
	if (coffer_server_new(&scfg, &server) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s\n", coffer_error_msg());
		goto out;
	}
	pthread_mutex_lock(&a.server_mu);
	a.server = server;
	pthread_mutex_unlock(&a.server_mu);
	pthread_create(&sig_tid, NULL, signal_thread, &a);
	printf("cofferd ready: CQL %s%s%s, KMS API %s, %s%s, data %s%s\n",
	       o.listen ? coffer_server_address(a.server) : "-", o.tls_listen ? ", CQL/TLS " : "",
	       o.tls_listen ? coffer_server_tls_address(a.server) : "", kms_url[0] ? kms_url : "-",
	       remote ? "remote KMS " : "KMS ", remote ? o.kms : "embedded", o.data, metrics_url);
	fflush(stdout);
	if (coffer_server_run(a.server) != COFFER_OK)
		coffer_log_error(&log, "cofferd", "%s", coffer_error_msg());
	/* The signal thread waits for a second signal; it is not needed now. */
	pthread_cancel(sig_tid);
	pthread_join(sig_tid, NULL);
	status = 0;
out:
	/* The unlock thread first: a database it opens may report schema
	 * changes to a.server (on_schema_change), which must still exist. */
	unlock_stop(&a);
	pthread_mutex_lock(&a.server_mu);
	a.server = NULL;
	pthread_mutex_unlock(&a.server_mu);
	if (server)
		coffer_server_free(server); /* requests in flight finish first */
	metrics_stop(&metrics); /* it reads the database too */
	/* The KMS API loop stops before the database closes: its /metrics reads
	 * the database. The provider calls the engine directly, so flushing
	 * below does not need the loop. */
	if (kms_running) {
		event_base_loopbreak(a.kms_base);
		pthread_join(kms_tid, NULL);
		kms_running = false;
	}
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
