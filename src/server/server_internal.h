/*
 * server_internal.h - structures shared by server.c (listeners, loop) and
 * conn.c (connections, sessions, request flow).
 */
#ifndef COFFER_SERVER_INTERNAL_H
#define COFFER_SERVER_INTERNAL_H

#include <pthread.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "server/server.h"
#include "server/workers.h"

struct coffer_conn;

struct coffer_server {
	struct coffer_server_config cfg;
	struct event_base *base;
	struct event *stop_ev;           /* activated by coffer_server_stop (any thread) */
	struct evconnlistener *plain, *tls;
	SSL_CTX *ssl_ctx;
	char plain_addr[128], tls_addr[128];
	struct coffer_workers *workers;
	const struct coffer_log *log;
	pthread_mutex_t conns_lock;
	struct coffer_conn *conns;       /* doubly linked list of open connections */
	uint64_t next_conn_id;
	pthread_mutex_t later_lock;
	pthread_cond_t later_cv;
	unsigned later_open;             /* deferred requests not yet ended */
};

struct coffer_session {
	pthread_mutex_t lock;
	uint8_t version;                 /* fixed by the first frame */
	bool started;                    /* STARTUP seen */
	bool ready;                      /* authenticated (or auth off) */
	char user[256];
	char keyspace[COFFER_SESSION_KEYSPACE_MAX];
	unsigned events;                 /* COFFER_PROTO_EVENT_* registered */
};

struct coffer_conn {
	struct coffer_server *server;
	struct coffer_conn *prev, *next; /* server->conns, under conns_lock */
	uint64_t id;
	char peer[80];
	struct bufferevent *bev;         /* threadsafe; locked with bufferevent_lock */
	struct coffer_proto_config pcfg; /* touched only on the loop thread */
	size_t skip;                     /* bytes of a refused frame still to discard (loop) */
	struct coffer_session session;
	int refs;                        /* the loop's one + one per request in flight */
	unsigned in_flight;
	bool closing;                    /* no more reading; free once refs drop to 0 */
	bool close_after_flush;          /* a fatal protocol error was answered */
	bool read_paused;
	struct coffer_buf outq;          /* workers' answers not yet handed to bev */
	bool flush_scheduled;            /* flush_ev is active for outq */
	struct event *flush_ev;          /* runs the flush on the loop thread */
	struct event *free_ev;           /* frees the connection on the loop thread */
	pthread_mutex_t lock;            /* refs, in_flight, closing, outq */
};

/* conn.c */
void coffer_conn_accept(struct coffer_server *s, evutil_socket_t fd, const struct sockaddr *addr,
			bool tls);
void coffer_conn_close_all(struct coffer_server *s);
/* Waits until every deferred request (coffer_cql_later) has ended. */
void coffer_conn_wait_deferred(struct coffer_server *s);
/* Queues a whole frame for c's next flush by the loop (any thread; takes only
 * c->lock and the loop's event lock, never the bufferevent's). */
void coffer_conn_send(struct coffer_conn *c, const struct coffer_buf *b);

#endif
