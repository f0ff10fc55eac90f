/*
 * server.c - cofferd's listeners and event loop (server.h): binds the plain
 * and TLS CQL listeners, loads the TLS certificate, runs the loop, and pushes
 * schema-change events to registered connections.
 *
 * Invariants:
 *  1. libevent runs with pthread locking (evthread_use_pthreads) so workers
 *     may write to connections' bufferevents and stop the loop.
 *  2. Listeners bind where they are told: the default configuration (cofferd's
 *     flags) is loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/thread.h>
#include <openssl/err.h>

#include "server/server_internal.h"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int len,
		      void *arg)
{
	(void)len;
	struct coffer_server *s = arg;
	coffer_conn_accept(s, fd, addr, l == s->tls);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct coffer_server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	(void)l;
	coffer_log_warn(s->log, "server", "accept failed: %s", evutil_socket_error_to_string(err));
}

/* Splits "HOST:PORT" or "[V6]:PORT". */
static COFFER_RESULT split_hostport(const char *spec, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		ENSURE(end && end[1] == ':', COFFER_E_INVALID, "listen address '%s': expected [IPv6]:PORT", spec);
		ENSURE((size_t)(end - spec - 1) < hcap, COFFER_E_INVALID, "listen address '%s' too long", spec);
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		ENSURE(colon && colon != spec, COFFER_E_INVALID, "listen address '%s': expected HOST:PORT", spec);
		ENSURE((size_t)(colon - spec) < hcap, COFFER_E_INVALID, "listen address '%s' too long", spec);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = 0;
	}
	ENSURE(colon[1] && strlen(colon + 1) < pcap && strspn(colon + 1, "0123456789") == strlen(colon + 1),
	       COFFER_E_INVALID, "listen address '%s': bad port", spec);
	snprintf(port, pcap, "%s", colon + 1);
	return COFFER_OK;
}

static COFFER_RESULT bind_listener(struct coffer_server *s, const char *spec, struct evconnlistener **out,
				   char addr_out[128])
{
	char host[100], port[16];
	TRY(split_hostport(spec, host, sizeof(host), port, sizeof(port)));
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int gai = getaddrinfo(host, port, &hints, &res);
	ENSURE(gai == 0 && res, COFFER_E_INVALID, "listen address '%s': %s", spec, gai_strerror(gai));
	*out = evconnlistener_new_bind(s->base, on_accept, s,
				       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
					       LEV_OPT_THREADSAFE,
				       512, res->ai_addr, (int)res->ai_addrlen);
	int err = errno;
	freeaddrinfo(res);
	ENSURE(*out, COFFER_E_IO, "cannot listen on %s: %s", spec, strerror(err));
	evconnlistener_set_error_cb(*out, on_accept_error);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	getsockname(evconnlistener_get_fd(*out), (struct sockaddr *)&ss, &sl);
	int p = 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		p = ntohs(a->sin_port);
		snprintf(addr_out, 128, "%s:%d", ip, p);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		p = ntohs(a->sin6_port);
		snprintf(addr_out, 128, "[%s]:%d", ip, p);
	}
	return COFFER_OK;
}

static COFFER_RESULT load_tls(struct coffer_server *s)
{
	ENSURE(s->cfg.tls_cert && s->cfg.tls_key, COFFER_E_INVALID,
	       "a TLS listener needs --tls-cert and --tls-key");
	s->ssl_ctx = SSL_CTX_new(TLS_server_method());
	ENSURE(s->ssl_ctx, COFFER_E_CRYPTO, "TLS: cannot create a context");
	SSL_CTX_set_min_proto_version(s->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(s->ssl_ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(s->ssl_ctx, s->cfg.tls_cert) != 1) {
		char e[256];
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		BAIL(COFFER_E_INVALID, "TLS certificate %s: %s", s->cfg.tls_cert, e);
	}
	if (SSL_CTX_use_PrivateKey_file(s->ssl_ctx, s->cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->ssl_ctx) != 1) {
		char e[256];
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		BAIL(COFFER_E_INVALID, "TLS key %s: %s", s->cfg.tls_key, e);
	}
	return COFFER_OK;
}

/* Stopping goes through an event rather than event_base_loopbreak alone: a
 * break requested before the loop starts would be cleared when it starts,
 * while an activated event waits for the loop and then breaks it. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct coffer_server *s = arg;
	event_base_loopbreak(s->base);
}

COFFER_RESULT coffer_server_new(const struct coffer_server_config *cfg, struct coffer_server **out)
{
	coffer_rc rc = COFFER_OK;
	*out = NULL;
	ENSURE(cfg->handler.ops && cfg->handler.ops->handle && cfg->handler.ops->login, COFFER_E_INVALID,
	       "server: a CQL handler is required");
	ENSURE(cfg->listen || cfg->tls_listen, COFFER_E_INVALID, "server: no listener configured");
	static bool threads_on;
	if (!threads_on) {
		ENSURE(evthread_use_pthreads() == 0, COFFER_E_INTERNAL, "libevent: no pthread support");
		threads_on = true;
	}
	struct coffer_server *s = COFFER_NEW(struct coffer_server);
	s->cfg = *cfg;
	if (!s->cfg.cql_version)
		s->cfg.cql_version = "3.4.5";
	if (!s->cfg.workers)
		s->cfg.workers = 32;
	if (!s->cfg.max_in_flight)
		s->cfg.max_in_flight = 1024;
	s->log = cfg->log ? cfg->log : coffer_log_null();
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_mutex_init(&s->later_lock, NULL);
	pthread_cond_init(&s->later_cv, NULL);
	s->base = event_base_new();
	ENSURE_FAIL(s->base, COFFER_E_INTERNAL, "libevent: cannot create the event loop");
	s->stop_ev = event_new(s->base, -1, 0, on_stop, s);
	ENSURE_FAIL(s->stop_ev, COFFER_E_INTERNAL, "libevent: cannot create the stop event");
	if (cfg->listen)
		TRY_FAIL(bind_listener(s, cfg->listen, &s->plain, s->plain_addr));
	if (cfg->tls_listen) {
		TRY_FAIL(load_tls(s));
		TRY_FAIL(bind_listener(s, cfg->tls_listen, &s->tls, s->tls_addr));
	}
	s->workers = coffer_workers_new(s->cfg.workers);
	*out = s;
	return COFFER_OK;
fail:
	coffer_server_free(s);
	return rc;
}

const char *coffer_server_address(const struct coffer_server *s) { return s->plain_addr; }
const char *coffer_server_tls_address(const struct coffer_server *s) { return s->tls_addr; }

COFFER_RESULT coffer_server_run(struct coffer_server *s)
{
	ENSURE(event_base_dispatch(s->base) >= 0, COFFER_E_INTERNAL, "libevent: the loop failed");
	return COFFER_OK;
}

void coffer_server_stop(struct coffer_server *s)
{
	event_active(s->stop_ev, EV_READ, 0);
}

void coffer_server_free(struct coffer_server *s)
{
	if (!s)
		return;
	if (s->plain)
		evconnlistener_free(s->plain);
	if (s->tls)
		evconnlistener_free(s->tls);
	s->plain = s->tls = NULL;
	/* Requests in flight finish (their answers go nowhere), then connections go. */
	coffer_workers_free(s->workers);
	s->workers = NULL;
	/* and the requests answered after their worker returned (durable
	 * writes whose commit-log group a leader finishes) */
	coffer_conn_wait_deferred(s);
	if (s->stop_ev)
		event_free(s->stop_ev);
	if (s->base) {
		coffer_conn_close_all(s);
		/* Let libevent finish the bufferevents freed above and those whose
		 * finalizers were still queued when the loop stopped. */
		for (int i = 0; i < 4; i++)
			event_base_loop(s->base, EVLOOP_NONBLOCK);
		event_base_free(s->base);
	}
	if (s->ssl_ctx)
		SSL_CTX_free(s->ssl_ctx);
	pthread_mutex_destroy(&s->conns_lock);
	pthread_mutex_destroy(&s->later_lock);
	pthread_cond_destroy(&s->later_cv);
	free(s);
}

void coffer_server_broadcast_schema_change(struct coffer_server *s,
					   const struct coffer_proto_schema_change *sc)
{
	struct coffer_proto_event ev = {.type = "SCHEMA_CHANGE", .schema = *sc};
	pthread_mutex_lock(&s->conns_lock);
	for (struct coffer_conn *c = s->conns; c; c = c->next) {
		pthread_mutex_lock(&c->session.lock);
		bool want = c->session.ready && (c->session.events & COFFER_PROTO_EVENT_SCHEMA_CHANGE);
		uint8_t v = c->session.version;
		pthread_mutex_unlock(&c->session.lock);
		pthread_mutex_lock(&c->lock);
		bool open = !c->closing;
		pthread_mutex_unlock(&c->lock);
		if (!want || !open)
			continue;
		struct coffer_buf b = {0};
		/* queued for the loop, not written to the bufferevent here: the
		 * loop holds a bufferevent's lock when a closing connection takes
		 * conns_lock (conn_free), so writing under conns_lock could
		 * deadlock against it (TSan's lock-order report) */
		if (coffer_proto_encode_event(&b, v, &ev) == COFFER_OK)
			coffer_conn_send(c, &b);
		coffer_buf_free(&b);
	}
	pthread_mutex_unlock(&s->conns_lock);
}
