/*
 * kmsapi_test_helper.h - runs a real build/coffer-kms for the client tests:
 * a fresh mkdtemp() data directory, 127.0.0.1 with an ephemeral port (or a
 * given one, for restarts), the URL read from the "listening on" line, and
 * the admin credentials read back from DIR/admin.credentials.
 *
 * The binary is $COFFER_BUILD/coffer-kms; tests skip when it is missing.
 */
#ifndef COFFER_TESTS_KMSAPI_TEST_HELPER_H
#define COFFER_TESTS_KMSAPI_TEST_HELPER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"

struct kat_server {
	char dir[256];           /* temp root: data/ lives inside */
	char data[PATH_MAX];
	char url[256];
	char cert[PATH_MAX];     /* "" unless TLS */
	uint16_t port;
	pid_t pid;
	char *akid;              /* admin */
	struct coffer_secret secret;
};

/* Path of coffer-kms, or NULL if it is not built. */
const char *kat_binary(void);
/* Creates the temp dir (and a self-signed certificate when tls). */
void kat_init(struct kat_server *s, bool tls);
/* Starts coffer-kms (port 0 = ephemeral) with extra args (NULL-terminated
 * list, may be NULL); fails the test if it does not come up. */
void kat_start(struct kat_server *s, uint16_t port, const char *const *extra);
/* SIGTERM and wait; returns the exit status. */
int kat_stop(struct kat_server *s);
/* Stops if running, removes the directory, frees the credentials. */
void kat_cleanup(struct kat_server *s);

#endif
