/*
 * client.c - the SigV4-signing KMS client (kms_client.h): blocking sockets
 * with per-attempt deadlines (poll), OpenSSL for https, a mutex-guarded pool
 * of keep-alive connections, retries with capped exponential backoff and full
 * jitter, and the mapping of AWS error names back to COFFER_E_KMS_* codes.
 *
 * Request on the wire (one per attempt, signed afresh so the date is current):
 *   POST / HTTP/1.1
 *   Host: <host[:port]>
 *   Content-Type: application/x-amz-json-1.1
 *   X-Amz-Date: <YYYYMMDDTHHMMSSZ>
 *   X-Amz-Target: TrentService.<Op>
 *   Content-Length: <n>
 *   Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=
 *                  content-type;host;x-amz-date;x-amz-target, Signature=...
 *
 * Invariants:
 *  1. The secret access key lives only in secret memory; the derived signing
 *     key is cached per date in secret memory too.
 *  2. Buffers that held a request or response body are wiped before reuse or
 *     release (Encrypt requests and Decrypt/GenerateDataKey replies carry
 *     plaintext); base64 plaintext strings inside parsed JSON are wiped in
 *     place before the JSON is released.
 *  3. A connection goes back to the pool only after a complete response that
 *     allows keep-alive, with no bytes left over.
 *  4. Nothing here logs; error messages name the endpoint and the operation,
 *     never a body or a header value.
 */
#include "kmsapi/kms_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "kmsapi/kmsapi_internal.h"
#include "util/alloc.h"
#include "util/fs.h"

#define CLIENT_MAX_RESPONSE (4 * 1024 * 1024)
#define CLIENT_READ_CHUNK 16384

struct conn {
	int fd;
	SSL *ssl;
	struct coffer_buf rbuf;
};

struct coffer_kms_client {
	bool https;
	bool host_is_ip;
	char *host;           /* without brackets */
	char *host_header;    /* as sent in Host: and signed */
	char port[8];
	char *endpoint;       /* for messages */
	char *region;
	char *akid;
	struct coffer_secret secret;
	SSL_CTX *ssl_ctx;
	int64_t timeout_us;
	uint32_t max_attempts;
	int64_t backoff_base_us;
	int64_t backoff_max_us;
	uint32_t max_idle;
	const struct coffer_clock *clock;

	pthread_mutex_t lock;  /* guards everything below */
	struct conn **idle;
	size_t n_idle;
	char key_date[9];
	struct coffer_secret signing_key; /* 32 bytes, for key_date */
	struct coffer_kms_client_stats stats;
};

void coffer_kms_client_config_default(struct coffer_kms_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->region = "local";
	cfg->timeout_us = 10 * COFFER_US_PER_SEC;
	cfg->max_attempts = 6;
	cfg->backoff_base_us = 25000;
	cfg->backoff_max_us = 2 * COFFER_US_PER_SEC;
	cfg->max_idle = 8;
}

/* ---- credentials file ------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

COFFER_RESULT coffer_kms_client_read_credentials(const char *path, const char *profile,
						 char **access_key_id, struct coffer_secret *secret)
{
	struct coffer_buf text;
	char *line, *save = NULL, *want = profile ? (char *)profile : "default";
	bool in_profile = false;
	coffer_rc rc;

	*access_key_id = NULL;
	memset(secret, 0, sizeof(*secret));
	coffer_buf_init_secure(&text);
	TRY_FAIL(coffer_fs_read_all(path, 64 * 1024, &text));
	coffer_buf_cstr(&text);
	for (line = strtok_r((char *)text.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line), *eq;

		if (*l == '#' || *l == ';' || *l == '\0')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');

			if (end)
				*end = '\0';
			in_profile = strcmp(trim(l + 1), want) == 0;
			continue;
		}
		eq = strchr(l, '=');
		if (!in_profile || !eq)
			continue;
		*eq = '\0';
		if (strcmp(trim(l), "aws_access_key_id") == 0 && !*access_key_id) {
			*access_key_id = coffer_xstrdup(trim(eq + 1));
		} else if (strcmp(trim(l), "aws_secret_access_key") == 0 && !secret->ptr) {
			char *v = trim(eq + 1);

			if (*v)
				coffer_secret_from(secret, v, strlen(v));
		}
	}
	ENSURE_FAIL(*access_key_id && secret->ptr, COFFER_E_INVALID,
		    "%s has no aws_access_key_id and aws_secret_access_key in profile %s", path,
		    want);
	rc = COFFER_OK;
fail:
	if (rc != COFFER_OK) {
		free(*access_key_id);
		*access_key_id = NULL;
		coffer_secret_free(secret);
	}
	coffer_buf_free(&text);
	return rc;
}

COFFER_RESULT coffer_kms_client_read_service_credentials(const char *path, const char *profile,
							 char **access_key_id, struct coffer_secret *secret)
{
	if (profile)
		return coffer_kms_client_read_credentials(path, profile, access_key_id, secret);
	if (coffer_kms_client_read_credentials(path, "default", access_key_id, secret) == COFFER_OK)
		return COFFER_OK;
	return coffer_kms_client_read_credentials(path, COFFER_KMS_SERVICE_PRINCIPAL_NAME, access_key_id,
						  secret);
}

/* ---- setup ------------------------------------------------------------------- */

static COFFER_RESULT parse_endpoint(struct coffer_kms_client *c, const char *ep)
{
	const char *p, *host_end, *port_s = NULL;
	size_t hl;

	if (strncmp(ep, "https://", 8) == 0) {
		c->https = true;
		p = ep + 8;
	} else if (strncmp(ep, "http://", 7) == 0) {
		p = ep + 7;
	} else {
		BAIL(COFFER_E_INVALID, "KMS endpoint %s must start with http:// or https://", ep);
	}
	if (*p == '[') {
		host_end = strchr(p, ']');
		ENSURE(host_end, COFFER_E_INVALID, "KMS endpoint %s: unclosed [", ep);
		hl = (size_t)(host_end - p - 1);
		c->host = coffer_xstrndup(p + 1, hl);
		p = host_end + 1;
	} else {
		host_end = p + strcspn(p, ":/");
		hl = (size_t)(host_end - p);
		c->host = coffer_xstrndup(p, hl);
		p = host_end;
	}
	ENSURE(hl > 0, COFFER_E_INVALID, "KMS endpoint %s has no host", ep);
	if (*p == ':') {
		char *end;
		long v;

		port_s = p + 1;
		v = strtol(port_s, &end, 10);
		ENSURE(end != port_s && v > 0 && v < 65536 && (*end == '\0' || *end == '/'),
		       COFFER_E_INVALID, "KMS endpoint %s has a bad port", ep);
		snprintf(c->port, sizeof(c->port), "%ld", v);
		p = end;
	} else {
		snprintf(c->port, sizeof(c->port), "%s", c->https ? "443" : "80");
	}
	ENSURE(*p == '\0' || strcmp(p, "/") == 0, COFFER_E_INVALID,
	       "KMS endpoint %s must not have a path", ep);
	{
		struct in6_addr a6;
		struct in_addr a4;
		bool v6 = inet_pton(AF_INET6, c->host, &a6) == 1;
		bool dflt = strcmp(c->port, c->https ? "443" : "80") == 0;

		c->host_is_ip = v6 || inet_pton(AF_INET, c->host, &a4) == 1;
		c->host_header = coffer_xasprintf("%s%s%s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "",
						  dflt ? "" : ":", dflt ? "" : c->port);
	}
	return COFFER_OK;
}

static COFFER_RESULT tls_setup(struct coffer_kms_client *c, const char *ca_file)
{
	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	ENSURE(c->ssl_ctx, COFFER_E_CRYPTO, "TLS: cannot create a client context");
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file)
		ENSURE(SSL_CTX_load_verify_locations(c->ssl_ctx, ca_file, NULL) == 1,
		       COFFER_E_INVALID, "TLS: cannot load CA file %s", ca_file);
	else
		ENSURE(SSL_CTX_set_default_verify_paths(c->ssl_ctx) == 1, COFFER_E_CRYPTO,
		       "TLS: cannot load the system trust store");
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_client_new(const struct coffer_kms_client_config *cfg,
				    struct coffer_kms_client **out)
{
	struct coffer_kms_client_config d;
	struct coffer_kms_client *c;
	coffer_rc rc;

	*out = NULL;
	coffer_kms_client_config_default(&d);
	ENSURE(cfg->endpoint, COFFER_E_INVALID, "KMS client: no endpoint");
	ENSURE(cfg->access_key_id && cfg->access_key_id[0] && cfg->secret_access_key.len > 0,
	       COFFER_E_INVALID, "KMS client: no credentials");
	c = COFFER_NEW(struct coffer_kms_client);
	pthread_mutex_init(&c->lock, NULL);
	c->endpoint = coffer_xstrdup(cfg->endpoint);
	c->region = coffer_xstrdup(cfg->region ? cfg->region : d.region);
	c->akid = coffer_xstrdup(cfg->access_key_id);
	coffer_secret_from(&c->secret, cfg->secret_access_key.ptr, cfg->secret_access_key.len);
	coffer_secret_alloc(&c->signing_key, 32);
	c->timeout_us = cfg->timeout_us > 0 ? cfg->timeout_us : d.timeout_us;
	c->max_attempts = cfg->max_attempts ? cfg->max_attempts : d.max_attempts;
	c->backoff_base_us = cfg->backoff_base_us > 0 ? cfg->backoff_base_us : d.backoff_base_us;
	c->backoff_max_us = cfg->backoff_max_us > 0 ? cfg->backoff_max_us : d.backoff_max_us;
	c->max_idle = cfg->max_idle ? cfg->max_idle : d.max_idle;
	c->clock = cfg->clock ? cfg->clock : coffer_clock_system();
	c->idle = coffer_xcalloc(c->max_idle, sizeof(*c->idle));
	TRY_FAIL(parse_endpoint(c, cfg->endpoint));
	if (c->https)
		TRY_FAIL(tls_setup(c, cfg->ca_file));
	*out = c;
	return COFFER_OK;
fail:
	coffer_kms_client_free(c);
	return rc;
}

static void conn_close(struct conn *k)
{
	if (!k)
		return;
	if (k->ssl) {
		SSL_shutdown(k->ssl);
		SSL_free(k->ssl);
	}
	if (k->fd >= 0)
		close(k->fd);
	if (k->rbuf.ptr)
		coffer_wipe(k->rbuf.ptr, k->rbuf.len);
	coffer_buf_free(&k->rbuf);
	free(k);
}

void coffer_kms_client_free(struct coffer_kms_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		conn_close(c->idle[i]);
	free(c->idle);
	if (c->ssl_ctx)
		SSL_CTX_free(c->ssl_ctx);
	coffer_secret_free(&c->secret);
	coffer_secret_free(&c->signing_key);
	pthread_mutex_destroy(&c->lock);
	free(c->host);
	free(c->host_header);
	free(c->endpoint);
	free(c->region);
	free(c->akid);
	free(c);
}

void coffer_kms_client_stats(struct coffer_kms_client *c, struct coffer_kms_client_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

/* ---- sockets with deadlines ------------------------------------------------ */

static int64_t mono_now(void)
{
	return coffer_clock_mono_us(coffer_clock_system());
}

static COFFER_RESULT wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_now();
		struct pollfd p = {fd, events, 0};
		int r;

		ENSURE(left > 0, COFFER_E_TIMEOUT, "timed out");
		r = poll(&p, 1, (int)((left + 999) / 1000));
		if (r > 0)
			return COFFER_OK;
		ENSURE(r == 0 || errno == EINTR, COFFER_E_IO, "poll: %s", strerror(errno));
	}
}

/* Waits as OpenSSL asks after a WANT_READ/WANT_WRITE. */
static COFFER_RESULT ssl_wait(struct conn *k, int ret, int64_t deadline, const char *what)
{
	int e = SSL_get_error(k->ssl, ret);

	if (e == SSL_ERROR_WANT_READ)
		return wait_fd(k->fd, POLLIN, deadline);
	if (e == SSL_ERROR_WANT_WRITE)
		return wait_fd(k->fd, POLLOUT, deadline);
	if (e == SSL_ERROR_ZERO_RETURN)
		BAIL(COFFER_E_IO, "%s: connection closed", what);
	{
		char buf[200];
		unsigned long err = ERR_get_error();

		ERR_error_string_n(err, buf, sizeof(buf));
		ERR_clear_error();
		BAIL(COFFER_E_IO, "%s: %s", what, err ? buf : "connection reset");
	}
}

static COFFER_RESULT conn_open(struct coffer_kms_client *c, int64_t deadline, struct conn **out)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct conn *k = COFFER_NEW(struct conn);
	int one = 1, err = 0, r;
	coffer_rc rc;

	k->fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(c->host, c->port, &hints, &res);
	ENSURE_FAIL(r == 0, COFFER_E_IO, "cannot resolve %s: %s", c->host, gai_strerror(r));
	for (ai = res; ai && k->fd < 0; ai = ai->ai_next) {
		socklen_t el = sizeof(err);
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == COFFER_OK &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)) {
			k->fd = fd;
			break;
		}
		if (!err)
			err = errno;
		close(fd);
	}
	ENSURE_FAIL(k->fd >= 0, COFFER_E_IO, "cannot connect to %s:%s: %s", c->host, c->port,
		    strerror(err ? err : ETIMEDOUT));
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->https) {
		k->ssl = SSL_new(c->ssl_ctx);
		ENSURE_FAIL(k->ssl && SSL_set_fd(k->ssl, k->fd) == 1, COFFER_E_CRYPTO,
			    "TLS: cannot set up a connection");
		if (c->host_is_ip) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(k->ssl);

			ENSURE_FAIL(X509_VERIFY_PARAM_set1_ip_asc(vp, c->host) == 1, COFFER_E_CRYPTO,
				    "TLS: bad IP %s", c->host);
		} else {
			SSL_set_tlsext_host_name(k->ssl, c->host);
			ENSURE_FAIL(SSL_set1_host(k->ssl, c->host) == 1, COFFER_E_CRYPTO,
				    "TLS: bad host name %s", c->host);
		}
		for (;;) {
			int ret = SSL_connect(k->ssl);

			if (ret == 1)
				break;
			if (SSL_get_verify_result(k->ssl) != X509_V_OK)
				BAIL_FAIL(COFFER_E_IO, "TLS: %s's certificate does not verify: %s",
					  c->endpoint,
					  X509_verify_cert_error_string(SSL_get_verify_result(k->ssl)));
			TRY_FAIL(ssl_wait(k, ret, deadline, "TLS handshake"));
		}
	}
	pthread_mutex_lock(&c->lock);
	c->stats.connects++;
	pthread_mutex_unlock(&c->lock);
	freeaddrinfo(res);
	*out = k;
	return COFFER_OK;
fail:
	if (res)
		freeaddrinfo(res);
	conn_close(k);
	return rc;
}

static COFFER_RESULT conn_write(struct conn *k, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w;

		if (k->ssl) {
			int ret = SSL_write(k->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

			if (ret <= 0) {
				TRY(ssl_wait(k, ret, deadline, "TLS write"));
				continue;
			}
			w = ret;
		} else {
			w = send(k->fd, p, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				ENSURE(errno == EAGAIN || errno == EWOULDBLOCK, COFFER_E_IO, "send: %s",
				       strerror(errno));
				TRY(wait_fd(k->fd, POLLOUT, deadline));
				continue;
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return COFFER_OK;
}

/* Appends what is available to k->rbuf; *eof when the peer closed. */
static COFFER_RESULT conn_read(struct conn *k, int64_t deadline, bool *eof)
{
	*eof = false;
	for (;;) {
		uint8_t *dst = coffer_buf_extend(&k->rbuf, CLIENT_READ_CHUNK);
		ssize_t r;

		k->rbuf.len -= CLIENT_READ_CHUNK;
		if (k->ssl) {
			int ret = SSL_read(k->ssl, dst, CLIENT_READ_CHUNK);

			if (ret > 0) {
				k->rbuf.len += (size_t)ret;
				return COFFER_OK;
			}
			if (SSL_get_error(k->ssl, ret) == SSL_ERROR_ZERO_RETURN ||
			    (SSL_get_error(k->ssl, ret) == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
				ERR_clear_error();
				*eof = true;
				return COFFER_OK;
			}
			TRY(ssl_wait(k, ret, deadline, "TLS read"));
			continue;
		}
		r = recv(k->fd, dst, CLIENT_READ_CHUNK, 0);
		if (r > 0) {
			k->rbuf.len += (size_t)r;
			return COFFER_OK;
		}
		if (r == 0) {
			*eof = true;
			return COFFER_OK;
		}
		if (errno == EINTR)
			continue;
		ENSURE(errno == EAGAIN || errno == EWOULDBLOCK, COFFER_E_IO, "recv: %s",
		       strerror(errno));
		TRY(wait_fd(k->fd, POLLIN, deadline));
	}
}

/* ---- pool ------------------------------------------------------------------ */

static struct conn *pool_take(struct coffer_kms_client *c)
{
	struct conn *k = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_idle > 0)
		k = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->lock);
	return k;
}

static void pool_give(struct coffer_kms_client *c, struct conn *k)
{
	pthread_mutex_lock(&c->lock);
	if (c->n_idle < c->max_idle) {
		c->idle[c->n_idle++] = k;
		k = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	conn_close(k);
}

/* ---- one exchange -------------------------------------------------------------- */

static void signing_key(struct coffer_kms_client *c, const char *date8, uint8_t out[32])
{
	pthread_mutex_lock(&c->lock);
	if (strcmp(c->key_date, date8) != 0) {
		coffer_sigv4_derive_key(coffer_slice_of(c->secret.ptr, c->secret.len), date8,
					c->region, "kms", c->signing_key.ptr);
		memcpy(c->key_date, date8, 9);
	}
	memcpy(out, c->signing_key.ptr, 32);
	pthread_mutex_unlock(&c->lock);
}

static void build_request(struct coffer_kms_client *c, const char *op, struct coffer_slice body,
			  struct coffer_buf *out)
{
	char amz_date[17], date8[9], target[128], clen[24];
	struct coffer_http_header h[4];
	struct coffer_http_request req;
	uint8_t key[32];
	char *auth;

	coffer_sigv4_format_amz_date(coffer_clock_now_us(c->clock), amz_date);
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	snprintf(target, sizeof(target), "%s%s", COFFER_KMSAPI_TARGET_PREFIX, op);
	snprintf(clen, sizeof(clen), "%zu", body.len);
	h[0] = (struct coffer_http_header){"content-type", COFFER_KMSAPI_CONTENT_TYPE};
	h[1] = (struct coffer_http_header){"host", c->host_header};
	h[2] = (struct coffer_http_header){"x-amz-date", amz_date};
	h[3] = (struct coffer_http_header){"x-amz-target", target};
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.uri = "/";
	req.headers = h;
	req.n_headers = 4;
	req.body = body;
	signing_key(c, date8, key);
	auth = coffer_sigv4_sign(&req, key, c->akid, amz_date, c->region, "kms",
				 "content-type;host;x-amz-date;x-amz-target");
	coffer_wipe(key, sizeof(key));
	coffer_buf_printf(out,
			  "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n"
			  "X-Amz-Target: %s\r\nContent-Length: %s\r\nAuthorization: %s\r\n"
			  "User-Agent: coffer-kms-client/1\r\n\r\n",
			  c->host_header, COFFER_KMSAPI_CONTENT_TYPE, amz_date, target, clen,
			  auth ? auth : "");
	coffer_buf_put(out, body.ptr, body.len);
	free(auth);
}

/* Sends `request` on k and reads one response. *fresh_fail is set when the
 * connection failed before any response byte arrived (a pooled connection the
 * server had closed). The body is copied to resp_body. */
static COFFER_RESULT exchange(struct conn *k, struct coffer_slice request, int64_t deadline,
			      int *status, char amz_type[COFFER_SIGV4_FIELD_MAX],
			      struct coffer_buf *resp_body, bool *keep, bool *no_bytes)
{
	struct coffer_http_parsed parsed;
	struct coffer_buf chunked = {0};
	bool complete = false, eof;
	coffer_rc rc;

	*no_bytes = true;
	coffer_buf_reset(&k->rbuf);
	TRY_FAIL(conn_write(k, request.ptr, request.len, deadline));
	for (;;) {
		TRY_FAIL(conn_read(k, deadline, &eof));
		ENSURE_FAIL(!eof, COFFER_E_IO, "connection closed by the server");
		*no_bytes = false;
		TRY_FAIL(coffer_http_response_parse(coffer_buf_slice(&k->rbuf), CLIENT_MAX_RESPONSE,
						    &parsed, &chunked, &complete));
		if (complete)
			break;
	}
	*status = parsed.status;
	memcpy(amz_type, parsed.amz_type, COFFER_SIGV4_FIELD_MAX);
	coffer_buf_put(resp_body, parsed.body.ptr, parsed.body.len);
	*keep = parsed.keep_alive && parsed.consumed == k->rbuf.len;
	rc = COFFER_OK;
fail:
	if (k->rbuf.ptr)
		coffer_wipe(k->rbuf.ptr, k->rbuf.len);
	coffer_buf_reset(&k->rbuf);
	if (chunked.ptr)
		coffer_wipe(chunked.ptr, chunked.len);
	coffer_buf_free(&chunked);
	return rc;
}

static COFFER_RESULT attempt(struct coffer_kms_client *c, struct coffer_slice request, int *status,
			     char amz_type[COFFER_SIGV4_FIELD_MAX], struct coffer_buf *resp_body)
{
	int64_t deadline = mono_now() + c->timeout_us;
	struct conn *k = pool_take(c);
	bool keep = false, no_bytes = false, pooled = k != NULL;
	coffer_rc rc;

	if (!k)
		TRY(conn_open(c, deadline, &k));
	rc = exchange(k, request, deadline, status, amz_type, resp_body, &keep, &no_bytes);
	if (rc != COFFER_OK && pooled && no_bytes) {
		/* The server closed the idle connection (restart, idle timeout):
		 * that is not a failure of this attempt; use a fresh one. */
		conn_close(k);
		k = NULL;
		if (resp_body->ptr)
			coffer_wipe(resp_body->ptr, resp_body->len);
		coffer_buf_reset(resp_body);
		TRY(conn_open(c, deadline, &k));
		rc = exchange(k, request, deadline, status, amz_type, resp_body, &keep, &no_bytes);
	}
	if (rc == COFFER_OK && keep)
		pool_give(c, k);
	else
		conn_close(k);
	return rc;
}

static void backoff_sleep(struct coffer_kms_client *c, uint32_t attempt_no)
{
	int64_t cap = c->backoff_base_us;
	uint64_t r = 0;
	struct timespec ts;
	int64_t us;

	for (uint32_t i = 0; i < attempt_no && cap < c->backoff_max_us; i++)
		cap *= 2;
	if (cap > c->backoff_max_us)
		cap = c->backoff_max_us;
	if (coffer_random_bytes(&r, sizeof(r)) != COFFER_OK)
		r = (uint64_t)mono_now();
	us = (int64_t)(r % (uint64_t)(cap + 1)); /* full jitter */
	ts.tv_sec = us / COFFER_US_PER_SEC;
	ts.tv_nsec = (long)(us % COFFER_US_PER_SEC) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Sets the error detail from an error reply and returns its code. */
static coffer_rc error_from_reply(struct coffer_kms_client *c, const char *op, int status,
				  const char *amz_type, struct coffer_slice body)
{
	json_t *j = json_loadb((const char *)body.ptr, body.len, 0, NULL);
	const char *type = NULL, *msg = NULL;
	coffer_rc code;

	if (j && json_is_object(j)) {
		type = json_string_value(json_object_get(j, "__type"));
		msg = json_string_value(json_object_get(j, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(j, "Message"));
	}
	if (!type && amz_type[0])
		type = amz_type;
	if (type)
		code = coffer_kmsapi_error_code(type, strlen(type));
	else
		code = status >= 500 ? COFFER_E_KMS_INTERNAL : COFFER_E_KMS_VALIDATION;
	coffer_error_set(code, COFFER_WHERE, "%s: %s", op, msg ? msg : (type ? type : "HTTP error"));
	json_decref(j);
	return code;
}

COFFER_RESULT coffer_kms_client_call(struct coffer_kms_client *c, const char *op,
				     struct coffer_slice request_json, char **response_json)
{
	struct coffer_buf request = {0}, body = {0};
	char amz_type[COFFER_SIGV4_FIELD_MAX];
	coffer_rc rc;

	*response_json = NULL;
	pthread_mutex_lock(&c->lock);
	c->stats.requests++;
	pthread_mutex_unlock(&c->lock);
	for (uint32_t n = 0;; n++) {
		bool retry;
		int status = 0;

		coffer_buf_reset(&request);
		build_request(c, op, request_json, &request);
		if (body.ptr)
			coffer_wipe(body.ptr, body.len);
		coffer_buf_reset(&body);
		rc = attempt(c, coffer_buf_slice(&request), &status, amz_type, &body);
		pthread_mutex_lock(&c->lock);
		c->stats.attempts++;
		if (n > 0)
			c->stats.retries++;
		pthread_mutex_unlock(&c->lock);
		if (rc == COFFER_OK && status == 200) {
			*response_json = coffer_xstrndup(body.ptr ? (const char *)body.ptr : "", body.len);
			break;
		}
		if (rc == COFFER_OK) {
			rc = error_from_reply(c, op, status, amz_type, coffer_buf_slice(&body));
			if (rc == COFFER_E_KMS_THROTTLING) {
				pthread_mutex_lock(&c->lock);
				c->stats.throttled++;
				pthread_mutex_unlock(&c->lock);
			}
			retry = rc == COFFER_E_KMS_THROTTLING || status >= 500;
		} else {
			rc = coffer_error_set(COFFER_E_UNAVAILABLE, COFFER_WHERE,
					      "%s: KMS at %s unreachable: %s", op, c->endpoint,
					      coffer_error_msg());
			retry = true;
		}
		if (!retry || n + 1 >= c->max_attempts)
			break;
		backoff_sleep(c, n);
	}
	if (request.ptr)
		coffer_wipe(request.ptr, request.len);
	coffer_buf_free(&request);
	if (body.ptr)
		coffer_wipe(body.ptr, body.len);
	coffer_buf_free(&body);
	return rc;
}

/* ---- typed calls ------------------------------------------------------------- */

static void put_context(struct coffer_jw *w, const char *k, const struct coffer_kms_context *ctx)
{
	if (!ctx || ctx->n == 0)
		return;
	coffer_jw_key(w, k);
	coffer_jw_obj_begin(w);
	for (size_t i = 0; i < ctx->n; i++)
		coffer_jw_kstr(w, ctx->pairs[i].key, ctx->pairs[i].value);
	coffer_jw_obj_end(w);
}

static void put_grant_tokens(struct coffer_jw *w, const struct coffer_kms_caller *caller)
{
	if (!caller || caller->n_grant_tokens == 0)
		return;
	coffer_jw_key(w, "GrantTokens");
	coffer_jw_arr_begin(w);
	for (size_t i = 0; i < caller->n_grant_tokens; i++)
		coffer_jw_str(w, caller->grant_tokens[i]);
	coffer_jw_arr_end(w);
}

/* Runs op with the request in `req` (wiped after), parses the reply. */
static COFFER_RESULT call_json(struct coffer_kms_client *c, const char *op, struct coffer_buf *req,
			       json_t **out)
{
	char *resp = NULL;
	coffer_rc rc;

	*out = NULL;
	rc = coffer_kms_client_call(c, op, coffer_buf_slice(req), &resp);
	if (req->ptr)
		coffer_wipe(req->ptr, req->len);
	coffer_buf_free(req);
	TRY(rc);
	*out = json_loads(resp, 0, NULL);
	coffer_wipe(resp, strlen(resp));
	free(resp);
	ENSURE(*out && json_is_object(*out), COFFER_E_KMS_INTERNAL,
	       "%s: the KMS replied with something that is not a JSON object", op);
	return COFFER_OK;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int64_t jtime_us(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? (int64_t)(json_number_value(v) * 1e6 + 0.5) : 0;
}

static void copy_arn(char dst[COFFER_KMS_ARN_MAX], const char *s)
{
	if (dst)
		snprintf(dst, COFFER_KMS_ARN_MAX, "%s", s);
}

/* Base64 field `k` into a fresh secret; the base64 text is wiped in place. */
static COFFER_RESULT take_secret(json_t *o, const char *k, struct coffer_secret *out)
{
	json_t *v = json_object_get(o, k);
	struct coffer_buf tmp;
	coffer_rc rc;

	ENSURE(json_is_string(v), COFFER_E_KMS_INTERNAL, "the KMS reply has no %s", k);
	coffer_buf_init_secure(&tmp);
	rc = coffer_base64_decode(json_string_value(v), json_string_length(v), &tmp);
	coffer_wipe((char *)json_string_value(v), json_string_length(v));
	if (rc == COFFER_OK && tmp.len > 0)
		coffer_secret_from(out, tmp.ptr, tmp.len);
	coffer_buf_free(&tmp);
	ENSURE(rc == COFFER_OK, COFFER_E_KMS_INTERNAL, "the KMS reply has a bad %s", k);
	return COFFER_OK;
}

static COFFER_RESULT take_blob(json_t *o, const char *k, struct coffer_buf *out)
{
	json_t *v = json_object_get(o, k);

	ENSURE(json_is_string(v), COFFER_E_KMS_INTERNAL, "the KMS reply has no %s", k);
	ENSURE(coffer_base64_decode(json_string_value(v), json_string_length(v), out) == COFFER_OK,
	       COFFER_E_KMS_INTERNAL, "the KMS reply has a bad %s", k);
	return COFFER_OK;
}

static void parse_key_metadata(json_t *md, struct coffer_kms_key_info *out)
{
	const char *state = jstr(md, "KeyState");

	memset(out, 0, sizeof(*out));
	snprintf(out->key_id, sizeof(out->key_id), "%s", jstr(md, "KeyId"));
	copy_arn(out->arn, jstr(md, "Arn"));
	out->description = coffer_xstrdup(jstr(md, "Description"));
	out->creation_us = jtime_us(md, "CreationDate");
	out->state = strcmp(state, "Enabled") == 0	    ? COFFER_KMS_KEY_ENABLED
		     : strcmp(state, "PendingDeletion") == 0 ? COFFER_KMS_KEY_PENDING_DELETION
							     : COFFER_KMS_KEY_DISABLED;
	out->deletion_us = jtime_us(md, "DeletionDate");
	out->service_owned = strcmp(jstr(md, "KeyManager"), "AWS") == 0;
}

COFFER_RESULT coffer_kms_client_create_key(struct coffer_kms_client *c,
					   const struct coffer_kms_caller *caller,
					   const struct coffer_kms_create_key_req *req,
					   struct coffer_kms_key_info *out)
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	if (req && req->description)
		coffer_jw_kstr(&w, "Description", req->description);
	if (req && req->policy)
		coffer_jw_kstr(&w, "Policy", req->policy);
	if (req && req->bypass_policy_lockout_safety_check)
		coffer_jw_kbool(&w, "BypassPolicyLockoutSafetyCheck", true);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "CreateKey", &b, &r));
	parse_key_metadata(json_object_get(r, "KeyMetadata"), out);
	json_decref(r);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_client_describe_key(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, struct coffer_kms_key_info *out)
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "KeyId", key_ref);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "DescribeKey", &b, &r));
	parse_key_metadata(json_object_get(r, "KeyMetadata"), out);
	json_decref(r);
	return COFFER_OK;
}

/* An operation whose request is up to three string fields (a NULL value is
 * left out) and whose answer carries nothing the caller needs. */
static COFFER_RESULT strings_op(struct coffer_kms_client *c, const char *op, const char *k1,
				const char *v1, const char *k2, const char *v2, const char *k3,
				const char *v3)
{
	const char *const kv[] = {k1, v1, k2, v2, k3, v3};
	struct coffer_buf b = {0};
	struct coffer_jw w;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	for (size_t i = 0; i < 6; i += 2)
		if (kv[i] && kv[i + 1])
			coffer_jw_kstr(&w, kv[i], kv[i + 1]);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, op, &b, &r));
	json_decref(r);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_client_enable_key(struct coffer_kms_client *c,
					   const struct coffer_kms_caller *caller,
					   const char *key_ref)
{
	return strings_op(c, "EnableKey", "KeyId", key_ref, NULL, NULL, NULL, NULL);
}

COFFER_RESULT coffer_kms_client_disable_key(struct coffer_kms_client *c,
					    const struct coffer_kms_caller *caller,
					    const char *key_ref)
{
	return strings_op(c, "DisableKey", "KeyId", key_ref, NULL, NULL, NULL, NULL);
}

COFFER_RESULT coffer_kms_client_create_alias(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *alias_name, const char *target_key_ref)
{
	return strings_op(c, "CreateAlias", "AliasName", alias_name, "TargetKeyId", target_key_ref, NULL,
			  NULL);
}

COFFER_RESULT coffer_kms_client_encrypt(struct coffer_kms_client *c,
					const struct coffer_kms_caller *caller, const char *key_ref,
					struct coffer_slice plaintext,
					const struct coffer_kms_context *ctx,
					struct coffer_buf *blob_out, char key_arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	coffer_rc rc;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "KeyId", key_ref);
	coffer_jw_kb64(&w, "Plaintext", plaintext.ptr, plaintext.len);
	put_context(&w, "EncryptionContext", ctx);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "Encrypt", &b, &r));
	rc = take_blob(r, "CiphertextBlob", blob_out);
	copy_arn(key_arn, jstr(r, "KeyId"));
	json_decref(r);
	return rc;
}

COFFER_RESULT coffer_kms_client_decrypt(struct coffer_kms_client *c,
					const struct coffer_kms_caller *caller,
					struct coffer_slice blob, const struct coffer_kms_context *ctx,
					const char *key_ref, struct coffer_secret *plaintext,
					char key_arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	coffer_rc rc;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kb64(&w, "CiphertextBlob", blob.ptr, blob.len);
	if (key_ref)
		coffer_jw_kstr(&w, "KeyId", key_ref);
	put_context(&w, "EncryptionContext", ctx);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "Decrypt", &b, &r));
	rc = take_secret(r, "Plaintext", plaintext);
	copy_arn(key_arn, jstr(r, "KeyId"));
	json_decref(r);
	return rc;
}

COFFER_RESULT coffer_kms_client_reencrypt(struct coffer_kms_client *c,
					  const struct coffer_kms_caller *caller,
					  struct coffer_slice blob,
					  const struct coffer_kms_context *src_ctx,
					  const char *src_key_ref, const char *dst_key_ref,
					  const struct coffer_kms_context *dst_ctx,
					  struct coffer_buf *blob_out,
					  char src_key_arn[COFFER_KMS_ARN_MAX],
					  char dst_key_arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	coffer_rc rc;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kb64(&w, "CiphertextBlob", blob.ptr, blob.len);
	put_context(&w, "SourceEncryptionContext", src_ctx);
	if (src_key_ref)
		coffer_jw_kstr(&w, "SourceKeyId", src_key_ref);
	coffer_jw_kstr(&w, "DestinationKeyId", dst_key_ref);
	put_context(&w, "DestinationEncryptionContext", dst_ctx);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "ReEncrypt", &b, &r));
	rc = take_blob(r, "CiphertextBlob", blob_out);
	copy_arn(src_key_arn, jstr(r, "SourceKeyId"));
	copy_arn(dst_key_arn, jstr(r, "KeyId"));
	json_decref(r);
	return rc;
}

static COFFER_RESULT data_key(struct coffer_kms_client *c, const char *op,
			      const struct coffer_kms_caller *caller, const char *key_ref,
			      uint32_t nbytes, const struct coffer_kms_context *ctx,
			      struct coffer_secret *plaintext, struct coffer_buf *blob_out,
			      char key_arn[COFFER_KMS_ARN_MAX])
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	coffer_rc rc;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "KeyId", key_ref);
	coffer_jw_kint(&w, "NumberOfBytes", nbytes);
	put_context(&w, "EncryptionContext", ctx);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, op, &b, &r));
	rc = take_blob(r, "CiphertextBlob", blob_out);
	if (rc == COFFER_OK && plaintext)
		rc = take_secret(r, "Plaintext", plaintext);
	copy_arn(key_arn, jstr(r, "KeyId"));
	json_decref(r);
	return rc;
}

COFFER_RESULT coffer_kms_client_generate_data_key(struct coffer_kms_client *c,
						  const struct coffer_kms_caller *caller,
						  const char *key_ref, uint32_t nbytes,
						  const struct coffer_kms_context *ctx,
						  struct coffer_secret *plaintext,
						  struct coffer_buf *blob_out,
						  char key_arn[COFFER_KMS_ARN_MAX])
{
	return data_key(c, "GenerateDataKey", caller, key_ref, nbytes, ctx, plaintext, blob_out,
			key_arn);
}

COFFER_RESULT coffer_kms_client_generate_data_key_without_plaintext(
	struct coffer_kms_client *c, const struct coffer_kms_caller *caller, const char *key_ref,
	uint32_t nbytes, const struct coffer_kms_context *ctx, struct coffer_buf *blob_out,
	char key_arn[COFFER_KMS_ARN_MAX])
{
	return data_key(c, "GenerateDataKeyWithoutPlaintext", caller, key_ref, nbytes, ctx, NULL,
			blob_out, key_arn);
}

COFFER_RESULT coffer_kms_client_create_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const struct coffer_kms_create_grant_req *req,
					     char grant_id[COFFER_KMS_GRANT_ID_MAX],
					     char **grant_token_out)
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	json_t *r;

	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "KeyId", req->key_ref);
	coffer_jw_kstr(&w, "GranteePrincipal", req->grantee_principal);
	if (req->retiring_principal)
		coffer_jw_kstr(&w, "RetiringPrincipal", req->retiring_principal);
	if (req->name)
		coffer_jw_kstr(&w, "Name", req->name);
	coffer_jw_key(&w, "Operations");
	coffer_jw_arr_begin(&w);
	for (int op = 0; op < COFFER_KMS_OP_COUNT; op++)
		if (req->operations & COFFER_KMS_OP_BIT(op))
			coffer_jw_str(&w, coffer_kms_op_name((enum coffer_kms_op)op));
	coffer_jw_arr_end(&w);
	if (req->context_subset || req->context_equals) {
		coffer_jw_key(&w, "Constraints");
		coffer_jw_obj_begin(&w);
		if (req->context_subset) {
			coffer_jw_key(&w, "EncryptionContextSubset");
			coffer_jw_obj_begin(&w);
			for (size_t i = 0; i < req->context_subset->n; i++)
				coffer_jw_kstr(&w, req->context_subset->pairs[i].key,
					       req->context_subset->pairs[i].value);
			coffer_jw_obj_end(&w);
		}
		if (req->context_equals) {
			coffer_jw_key(&w, "EncryptionContextEquals");
			coffer_jw_obj_begin(&w);
			for (size_t i = 0; i < req->context_equals->n; i++)
				coffer_jw_kstr(&w, req->context_equals->pairs[i].key,
					       req->context_equals->pairs[i].value);
			coffer_jw_obj_end(&w);
		}
		coffer_jw_obj_end(&w);
	}
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "CreateGrant", &b, &r));
	snprintf(grant_id, COFFER_KMS_GRANT_ID_MAX, "%s", jstr(r, "GrantId"));
	if (grant_token_out)
		*grant_token_out = coffer_xstrdup(jstr(r, "GrantToken"));
	json_decref(r);
	return COFFER_OK;
}

COFFER_RESULT coffer_kms_client_retire_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *grant_token, const char *key_ref,
					     const char *grant_id)
{
	return strings_op(c, "RetireGrant", "GrantToken", grant_token, "KeyId", key_ref, "GrantId",
			  grant_id);
}

COFFER_RESULT coffer_kms_client_revoke_grant(struct coffer_kms_client *c,
					     const struct coffer_kms_caller *caller,
					     const char *key_ref, const char *grant_id)
{
	return strings_op(c, "RevokeGrant", "KeyId", key_ref, "GrantId", grant_id, NULL, NULL);
}

static void parse_pairs(json_t *obj, struct coffer_kms_context_pair **pairs, size_t *n, bool *has)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	*has = json_is_object(obj);
	*n = 0;
	*pairs = NULL;
	if (!*has)
		return;
	*pairs = coffer_xcalloc(json_object_size(obj) + 1, sizeof(**pairs));
	json_object_foreach(obj, k, v) {
		(*pairs)[i].key = coffer_xstrdup(k);
		(*pairs)[i].value = coffer_xstrdup(json_string_value(v) ? json_string_value(v) : "");
		i++;
	}
	*n = i;
}

COFFER_RESULT coffer_kms_client_list_grants(struct coffer_kms_client *c,
					    const struct coffer_kms_caller *caller,
					    const char *key_ref, const char *grant_id,
					    const char *grantee_principal, uint32_t limit,
					    const char *marker, struct coffer_kms_grant_list *out)
{
	struct coffer_buf b = {0};
	struct coffer_jw w;
	json_t *r, *grants, *g;
	size_t i;

	memset(out, 0, sizeof(*out));
	coffer_jw_init(&w, &b);
	coffer_jw_obj_begin(&w);
	coffer_jw_kstr(&w, "KeyId", key_ref);
	if (grant_id)
		coffer_jw_kstr(&w, "GrantId", grant_id);
	if (grantee_principal)
		coffer_jw_kstr(&w, "GranteePrincipal", grantee_principal);
	if (limit)
		coffer_jw_kint(&w, "Limit", limit);
	if (marker)
		coffer_jw_kstr(&w, "Marker", marker);
	put_grant_tokens(&w, caller);
	coffer_jw_obj_end(&w);
	TRY(call_json(c, "ListGrants", &b, &r));
	grants = json_object_get(r, "Grants");
	out->grants = coffer_xcalloc(json_array_size(grants) + 1, sizeof(*out->grants));
	json_array_foreach(grants, i, g) {
		struct coffer_kms_grant_info *gi = &out->grants[i];
		json_t *ops = json_object_get(g, "Operations"), *op, *cons;
		size_t j;

		snprintf(gi->grant_id, sizeof(gi->grant_id), "%s", jstr(g, "GrantId"));
		copy_arn(gi->key_arn, jstr(g, "KeyId"));
		if (json_is_string(json_object_get(g, "Name")))
			gi->name = coffer_xstrdup(jstr(g, "Name"));
		gi->creation_us = jtime_us(g, "CreationDate");
		copy_arn(gi->grantee_principal, jstr(g, "GranteePrincipal"));
		copy_arn(gi->retiring_principal, jstr(g, "RetiringPrincipal"));
		copy_arn(gi->issuing_principal, jstr(g, "IssuingAccount"));
		json_array_foreach(ops, j, op) {
			int o = coffer_kms_op_parse(json_string_value(op));

			if (o >= 0)
				gi->operations |= COFFER_KMS_OP_BIT(o);
		}
		cons = json_object_get(g, "Constraints");
		parse_pairs(json_object_get(cons, "EncryptionContextSubset"), &gi->context_subset,
			    &gi->n_context_subset, &gi->has_context_subset);
		parse_pairs(json_object_get(cons, "EncryptionContextEquals"), &gi->context_equals,
			    &gi->n_context_equals, &gi->has_context_equals);
		out->n++;
	}
	out->truncated = json_is_true(json_object_get(r, "Truncated"));
	if (out->truncated && json_is_string(json_object_get(r, "NextMarker")))
		out->next_marker = coffer_xstrdup(jstr(r, "NextMarker"));
	json_decref(r);
	return COFFER_OK;
}
