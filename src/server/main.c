/*
 * main.c - cofferd, the database server.
 *
 * What it does today: takes its data directory, hosts the KMS engine in-process
 * (--kms embedded, the default) over DIR/kms, makes sure the coffer service key
 * exists, runs the KMS's time-driven work every second, and stops cleanly on
 * SIGTERM or SIGINT. The CQL listeners, the storage engine and the KMS API
 * listener join it as their issues land; their flags are accepted and checked
 * now so scripts written against them keep working.
 *
 * Invariants:
 *  1. Key material never reaches a core dump: coffer_crypto_init(true) turns
 *     core dumps off before anything is loaded.
 *  2. Listeners default to loopback.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "util/util.h"

struct cofferd_opts {
	const char *data;
	const char *listen;
	const char *kms;
	const char *log_level;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cofferd --data DIR [options]\n"
		"\n"
		"  --data DIR           data directory (created 0700 if missing)\n"
		"  --listen HOST:PORT   CQL listener (default 127.0.0.1:9042)\n"
		"  --kms embedded       host the KMS in-process over DIR/kms (default)\n"
		"  --log-level LEVEL    debug, info, warn, error (default info)\n"
		"  --help               this text\n");
}

static int parse_opts(int argc, char **argv, struct cofferd_opts *o)
{
	static const struct option longs[] = {
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"kms", required_argument, NULL, 'k'},
		{"log-level", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:9042";
	o->kms = "embedded";
	o->log_level = "info";
	int c;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'k': o->kms = optarg; break;
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
		fprintf(stderr, "cofferd: --kms %s: only the embedded KMS is available in this build\n", o->kms);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cofferd_opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	coffer_crypto_init(true);

	enum coffer_log_level level;
	if (coffer_log_level_parse(o.log_level, &level) != 0) {
		fprintf(stderr, "cofferd: --log-level %s: expected debug, info, warn or error\n", o.log_level);
		return 2;
	}
	struct coffer_log log;
	coffer_log_init(&log, STDERR_FILENO, level, NULL);

	/* Signals are taken synchronously with sigtimedwait below. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	if (coffer_fs_mkdirs(o.data, 0700) != COFFER_OK) {
		fprintf(stderr, "cofferd: %s\n", coffer_error_msg());
		return 1;
	}
	char *kms_dir = coffer_path_join(o.data, "kms");
	struct coffer_kms_config cfg;
	coffer_kms_config_default(&cfg);
	cfg.data_dir = kms_dir;
	cfg.log = &log;
	struct coffer_kms *kms = NULL;
	char service_key[COFFER_KMS_ARN_MAX];
	if (coffer_kms_open(&cfg, &kms) != COFFER_OK || coffer_kms_service_key(kms, service_key) != COFFER_OK) {
		fprintf(stderr, "cofferd: embedded KMS: %s: %s\n", coffer_rc_name(coffer_error_code()),
			coffer_error_msg());
		coffer_kms_close(kms);
		free(kms_dir);
		return 1;
	}
	coffer_log_info(&log, "cofferd", "embedded KMS over %s; service key %s", kms_dir, service_key);
	printf("cofferd ready: data %s, embedded KMS\n", o.data);
	fflush(stdout);

	for (;;) {
		struct timespec one = {1, 0};
		int sig = sigtimedwait(&sigs, NULL, &one);
		if (sig == SIGTERM || sig == SIGINT) {
			coffer_log_info(&log, "cofferd", "signal %d: stopping", sig);
			break;
		}
		if (coffer_kms_tick(kms) != COFFER_OK)
			coffer_log_error(&log, "cofferd", "kms: %s", coffer_error_msg());
	}
	coffer_kms_close(kms);
	free(kms_dir);
	coffer_log_info(&log, "cofferd", "stopped");
	return 0;
}
