/*
 * http_server.c - the HTTP/1.1 transport of the KMS API on libevent's evhttp:
 * keep-alive connections, optional TLS through bufferevent_openssl, limits,
 * timeouts, and GET /metrics. Everything about a request's meaning is in
 * dispatch.c; this file only moves bytes.
 *
 * Limits (docs/kms-api.md):
 *   - request headers: COFFER_KMSAPI_MAX_HEADERS (16 KiB), else 400 from evhttp;
 *   - request body: max_body (300 KiB): larger bodies up to 4 x max_body are
 *     read and refused with 413 {"__type":"ValidationException"}; beyond that
 *     evhttp answers 413 and closes the connection without reading the body;
 *   - every connection read/write/idle wait: timeout_secs (30 s), after which
 *     the connection is closed, so a slow or half-open client holds nothing
 *     but its own socket.
 *
 * Invariants:
 *  1. Plaintext HTTP is bound only to loopback addresses.
 *  2. The request body is wiped in libevent's buffer after it was handled (an
 *     Encrypt body holds plaintext); the response body is handed to libevent
 *     by reference and wiped when libevent releases it.
 *  3. Neither headers nor bodies are logged.
 */
#include "kmsapi/kmsapi.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "crypto/crypto.h"
#include "kmsapi/kmsapi_internal.h"
#include "util/alloc.h"

struct coffer_kmsapi_server {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	SSL_CTX *ssl_ctx;
	struct coffer_kmsapi api;
	struct coffer_kmsapi_metrics *metrics;
	const struct coffer_log *log;
	size_t max_body;
	uint16_t port;
	/* More metrics from the process hosting the server (cofferd's per-table
	 * KMS calls); called on the server's thread. */
	void (*metrics_extra)(void *arg, struct coffer_buf *out);
	void *metrics_extra_arg;
};

void coffer_kmsapi_server_set_metrics_extra(struct coffer_kmsapi_server *s,
					    void (*fn)(void *arg, struct coffer_buf *out), void *arg)
{
	s->metrics_extra_arg = arg;
	__atomic_store_n(&s->metrics_extra, fn, __ATOMIC_RELEASE);
}

/* ---- loopback check ---------------------------------------------------------- */

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

bool coffer_kmsapi_is_loopback(const char *host)
{
	struct addrinfo hints, *res = NULL, *ai;
	bool ok;

	if (!host || !*host)
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return false;
	ok = true;
	for (ai = res; ai; ai = ai->ai_next)
		ok = ok && addr_is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return ok;
}

/* ---- replies -------------------------------------------------------------------- */

static void body_cleanup(const void *data, size_t len, void *extra)
{
	struct coffer_buf *b = extra;

	coffer_wipe(b->ptr, b->len);
	coffer_buf_free(b);
	free(b);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Request Entity Too Large";
	case 500: return "Internal Server Error";
	default: return "Error";
	}
}

/* Replies go out as soon as they are written: with TLS, libevent writes the
 * head and the body as separate records, and Nagle's algorithm would hold the
 * second until the client's delayed ACK (40 ms per request). evhttp offers no
 * accept hook that sees the socket, so this is set per request (one cheap
 * setsockopt). */
static void set_nodelay(struct evhttp_request *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(r);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Sends resp (taking its body) and frees it. */
static void send_response(struct evhttp_request *r, struct coffer_http_response *resp,
			  bool close_conn)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(r);
	struct evbuffer *ob = evbuffer_new();
	struct coffer_buf *held = COFFER_NEW(struct coffer_buf);
	char rid[37];

	evhttp_add_header(oh, "Content-Type", resp->content_type ? resp->content_type : "text/plain");
	if (coffer_random_uuid(rid) == COFFER_OK)
		evhttp_add_header(oh, "x-amzn-RequestId", rid);
	if (close_conn)
		evhttp_add_header(oh, "Connection", "close");
	*held = resp->body;
	memset(&resp->body, 0, sizeof(resp->body));
	set_nodelay(r);
	if (held->len == 0 ||
	    evbuffer_add_reference(ob, held->ptr, held->len, body_cleanup, held) != 0)
		body_cleanup(NULL, 0, held);
	evhttp_send_reply(r, resp->status, reason(resp->status), ob);
	evbuffer_free(ob);
	coffer_http_response_free(resp);
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "UNKNOWN";
	}
}

static bool is_metrics_path(const char *uri)
{
	size_t n = strcspn(uri, "?");

	return n == 8 && memcmp(uri, "/metrics", 8) == 0;
}

static void on_request(struct evhttp_request *r, void *arg)
{
	struct coffer_kmsapi_server *s = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(r);
	const char *uri = evhttp_request_get_uri(r);
	struct evkeyvalq *ih = evhttp_request_get_input_headers(r);
	struct evbuffer *in = evhttp_request_get_input_buffer(r);
	size_t len = evbuffer_get_length(in), n = 0;
	struct coffer_http_response resp;
	struct coffer_http_header *hdrs;
	struct coffer_http_request req;
	struct evkeyval *kv;
	uint8_t *body;

	if (cmd == EVHTTP_REQ_GET && uri && is_metrics_path(uri)) {
		memset(&resp, 0, sizeof(resp));
		resp.status = 200;
		resp.content_type = "text/plain; version=0.0.4";
		coffer_kmsapi_metrics_render(s->metrics, &resp.body);
		void (*extra)(void *, struct coffer_buf *) = __atomic_load_n(&s->metrics_extra, __ATOMIC_ACQUIRE);
		if (extra)
			extra(s->metrics_extra_arg, &resp.body);
		send_response(r, &resp, false);
		return;
	}
	if (len > s->max_body) {
		memset(&resp, 0, sizeof(resp));
		coffer_kmsapi_error_reply(&resp, 413, "ValidationException",
					  "The request body is larger than the limit.");
		coffer_kmsapi_metrics_record(s->metrics, -1, resp.result, 0);
		evbuffer_drain(in, len);
		send_response(r, &resp, true);
		return;
	}
	for (kv = ih->tqh_first; kv; kv = kv->next.tqe_next)
		n++;
	hdrs = coffer_xcalloc(n ? n : 1, sizeof(*hdrs));
	n = 0;
	for (kv = ih->tqh_first; kv; kv = kv->next.tqe_next) {
		hdrs[n].name = kv->key;
		hdrs[n].value = kv->value;
		n++;
	}
	body = len ? evbuffer_pullup(in, -1) : NULL;
	memset(&req, 0, sizeof(req));
	req.method = method_name(cmd);
	req.uri = uri ? uri : "/";
	req.headers = hdrs;
	req.n_headers = n;
	req.body = coffer_slice_of(body, len);
	coffer_kmsapi_handle(&s->api, &req, &resp);
	if (body) {
		coffer_wipe(body, len);
		evbuffer_drain(in, len);
	}
	free(hdrs);
	send_response(r, &resp, false);
}

/* ---- connections ------------------------------------------------------------------ */

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct coffer_kmsapi_server *s = arg;
	struct bufferevent *bev;
	SSL *ssl;

	coffer_kmsapi_metrics_connection(s->metrics, 1);
	if (!s->ssl_ctx)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	ssl = SSL_new(s->ssl_ctx);
	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static COFFER_RESULT tls_setup(struct coffer_kmsapi_server *s, const char *cert, const char *key)
{
	char err[256];

	s->ssl_ctx = SSL_CTX_new(TLS_server_method());
	ENSURE(s->ssl_ctx, COFFER_E_CRYPTO, "TLS: cannot create a context");
	SSL_CTX_set_min_proto_version(s->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(s->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(s->ssl_ctx, cert) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		BAIL(COFFER_E_INVALID, "TLS certificate %s does not load: %s", cert, err);
	}
	if (SSL_CTX_use_PrivateKey_file(s->ssl_ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		BAIL(COFFER_E_INVALID, "TLS key %s does not load: %s", key, err);
	}
	ENSURE(SSL_CTX_check_private_key(s->ssl_ctx) == 1, COFFER_E_INVALID,
	       "TLS key %s does not match certificate %s", key, cert);
	return COFFER_OK;
}

COFFER_RESULT coffer_kmsapi_server_start(struct event_base *base, struct coffer_kms *kms,
					 const struct coffer_kmsapi_server_config *cfg,
					 struct coffer_kmsapi_server **out)
{
	struct coffer_kmsapi_server *s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *host = cfg->host ? cfg->host : "127.0.0.1";
	coffer_rc rc;

	*out = NULL;
	ENSURE(!cfg->tls_cert == !cfg->tls_key, COFFER_E_INVALID,
	       "TLS needs both a certificate and a key");
	ENSURE(cfg->tls_cert || coffer_kmsapi_is_loopback(host), COFFER_E_INVALID,
	       "refusing to serve plaintext HTTP on %s, which is not a loopback address: "
	       "give --tls-cert and --tls-key, or listen on 127.0.0.1",
	       host);
	s = COFFER_NEW(struct coffer_kmsapi_server);
	s->base = base;
	s->log = cfg->log ? cfg->log : coffer_log_null();
	s->max_body = cfg->max_body ? cfg->max_body : COFFER_KMSAPI_MAX_BODY;
	s->metrics = coffer_kmsapi_metrics_new();
	coffer_kmsapi_init(&s->api, kms, cfg->clock, s->log, s->metrics);
	if (cfg->tls_cert)
		TRY_FAIL(tls_setup(s, cfg->tls_cert, cfg->tls_key));
	s->http = evhttp_new(base);
	ENSURE_FAIL(s->http, COFFER_E_IO, "cannot create the HTTP server");
	evhttp_set_timeout(s->http, cfg->timeout_secs > 0 ? cfg->timeout_secs
							  : COFFER_KMSAPI_DEFAULT_TIMEOUT_SECS);
	evhttp_set_max_headers_size(s->http, COFFER_KMSAPI_MAX_HEADERS);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)(4 * s->max_body));
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(s->http, make_bev, s);
	evhttp_set_gencb(s->http, on_request, s);
	s->sock = evhttp_bind_socket_with_handle(s->http, host, cfg->port);
	ENSURE_FAIL(s->sock, COFFER_E_IO, "cannot listen on %s port %u", host, cfg->port);
	if (getsockname(evhttp_bound_socket_get_fd(s->sock), (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	*out = s;
	return COFFER_OK;
fail:
	coffer_kmsapi_server_free(s);
	return rc;
}

uint16_t coffer_kmsapi_server_port(const struct coffer_kmsapi_server *s)
{
	return s->port;
}

void coffer_kmsapi_server_stop_accepting(struct coffer_kmsapi_server *s)
{
	if (s && s->sock) {
		evhttp_del_accept_socket(s->http, s->sock);
		s->sock = NULL;
	}
}

void coffer_kmsapi_server_free(struct coffer_kmsapi_server *s)
{
	if (!s)
		return;
	if (s->http)
		evhttp_free(s->http);
	if (s->ssl_ctx)
		SSL_CTX_free(s->ssl_ctx);
	coffer_kmsapi_metrics_free(s->metrics);
	free(s);
}
