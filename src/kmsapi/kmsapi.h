/*
 * kmsapi.h - the KMS engine served over HTTP/1.1 with the AWS KMS JSON 1.1
 * protocol and SigV4 authentication (docs/kms-api.md), so the AWS CLI and
 * every AWS SDK work against coffer with --endpoint-url. Hosted by
 * `coffer-kms` and by cofferd's loopback KMS listener.
 *
 * The server runs on the caller's libevent event_base (one thread). Engine
 * calls are made on that thread; slow or half-open clients cost only their
 * own connection (reads are asynchronous, and an idle connection is closed
 * after the timeout).
 *
 * Ownership: the server borrows the engine, the event base, the log and the
 * clock; they must outlive it. Config strings are copied.
 */
#ifndef COFFER_KMSAPI_KMSAPI_H
#define COFFER_KMSAPI_KMSAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/kms.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

struct event_base;
struct coffer_kmsapi_server;

/* Request bodies up to this size are served; larger ones (up to 4x) are read
 * and refused with 413 ValidationException; beyond that the connection is
 * answered 413 by the HTTP layer and closed without reading the body. The
 * largest legitimate request (ReEncrypt of a 6 KiB blob, or a 32 KiB policy)
 * is far below it. */
#define COFFER_KMSAPI_MAX_BODY (300 * 1024)
#define COFFER_KMSAPI_MAX_HEADERS (16 * 1024)
#define COFFER_KMSAPI_DEFAULT_TIMEOUT_SECS 30

struct coffer_kmsapi_server_config {
	const char *host;          /* "127.0.0.1", "::1", "localhost" or an address */
	uint16_t port;             /* 0: any free port (see coffer_kmsapi_server_port) */
	const char *tls_cert;      /* PEM chain; NULL for plaintext (loopback only) */
	const char *tls_key;       /* PEM private key */
	int timeout_secs;          /* idle/read/write timeout per connection; 0: default */
	size_t max_body;           /* 0: COFFER_KMSAPI_MAX_BODY */
	const struct coffer_log *log;     /* NULL: discard */
	const struct coffer_clock *clock; /* SigV4 clock-skew checks; NULL: system */
};

/* Whether `host` is a loopback address or name (127.0.0.0/8, ::1,
 * "localhost"). Names other than "localhost" are resolved and must have only
 * loopback addresses. */
bool coffer_kmsapi_is_loopback(const char *host);

/* Binds and starts serving on `base`. Plaintext on a non-loopback host is
 * COFFER_E_INVALID with a message saying why. A certificate or key that does
 * not load is COFFER_E_INVALID naming the file. */
COFFER_RESULT coffer_kmsapi_server_start(struct event_base *base, struct coffer_kms *kms,
					 const struct coffer_kmsapi_server_config *cfg,
					 struct coffer_kmsapi_server **out);
/* The bound port (useful when the config asked for 0). */
uint16_t coffer_kmsapi_server_port(const struct coffer_kmsapi_server *s);
/* Appends `fn`'s Prometheus text to every GET /metrics answer (set once,
 * before or while serving; `arg` must outlive the server). */
struct coffer_buf;
void coffer_kmsapi_server_set_metrics_extra(struct coffer_kmsapi_server *s,
					    void (*fn)(void *arg, struct coffer_buf *out), void *arg);
/* Closes the listening socket; connections already open are still served. */
void coffer_kmsapi_server_stop_accepting(struct coffer_kmsapi_server *s);
/* Closes every connection and frees the server. NULL is a no-op. */
void coffer_kmsapi_server_free(struct coffer_kmsapi_server *s);

/* The text of one AWS shared-credentials profile for an access key, in a
 * secure buffer the caller frees. */
struct coffer_buf;
void coffer_kmsapi_credentials_text(const char *profile, const struct coffer_kms_access_key *k,
				    struct coffer_buf *out);
/* Writes <data_dir>/admin.credentials (profile default, mode 0600) with a
 * fresh admin access key unless the file exists. */
COFFER_RESULT coffer_kmsapi_ensure_admin_credentials(struct coffer_kms *kms, const char *data_dir,
						     const struct coffer_log *log);

#endif
