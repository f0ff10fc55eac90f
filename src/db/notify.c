/*
 * notify.c - notifications of key-status transitions (DESIGN.md section 2,
 * "Table key states": each transition into or out of
 * INACCESSIBLE_ENCRYPTION_CREDENTIALS is an event in the event table, a log
 * line, and a delivery to the configured webhook and/or command).
 *
 * An event is recorded under schema_lock (db->events, the newest
 * DB_EVENTS_MAX, persisted in the sealed catalog and read through CQL as
 * system_coffer.events) and delivered after the lock is released:
 *
 *   webhook  POST <path> HTTP/1.1 to an http:// URL, Content-Type
 *            application/json, body
 *            {"event_time": "<ISO-8601>", "keyspace": "...", "table": "...",
 *             "event": "<status>", "kms_key": "<ARN>", "reason": "..."}
 *            Connect, send and the status line within WEBHOOK_TIMEOUT_MS.
 *   command  /bin/sh -c CMD with COFFER_EVENT, COFFER_KEYSPACE, COFFER_TABLE,
 *            COFFER_KMS_KEY, COFFER_REASON, COFFER_EVENT_TIME added to the
 *            environment; killed if it runs past COMMAND_TIMEOUT_MS.
 *
 * Invariants:
 *  1. Delivery never fails the caller: every error is a log line.
 *  2. Events carry names of keyspaces, tables and keys, statuses and KMS
 *     error messages; never key material or user values.
 *  3. The child of fork() calls only async-signal-safe functions (close,
 *     execve, _exit): everything it needs is built before the fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db_internal.h"

#define WEBHOOK_TIMEOUT_MS 5000
#define COMMAND_TIMEOUT_MS 10000

extern char **environ;

static char *dup_or_empty(const char *s)
{
	return coffer_xstrdup(s ? s : "");
}

void db_event_clear(struct db_event *e)
{
	free(e->keyspace);
	free(e->table);
	free(e->event);
	free(e->kms_key);
	free(e->reason);
	memset(e, 0, sizeof(*e));
}

void db_event_free(struct db_event *e)
{
	if (!e)
		return;
	db_event_clear(e);
	free(e);
}

static void event_copy(struct db_event *dst, const struct db_event *src)
{
	dst->time_us = src->time_us;
	dst->keyspace = dup_or_empty(src->keyspace);
	dst->table = dup_or_empty(src->table);
	dst->event = dup_or_empty(src->event);
	dst->kms_key = dup_or_empty(src->kms_key);
	dst->reason = dup_or_empty(src->reason);
}

struct db_event *db_event_record(struct coffer_db *db, const char *ks, const char *table, const char *event,
				 const char *kms_key, const char *reason)
{
	struct db_event e = {
		.time_us = coffer_clock_now_us(db->clock),
		.keyspace = (char *)ks,
		.table = (char *)table,
		.event = (char *)event,
		.kms_key = (char *)kms_key,
		.reason = (char *)reason,
	};
	if (db->n_events == DB_EVENTS_MAX) {
		/* Keep the newest: drop the oldest. */
		db_event_clear(&db->events[0]);
		memmove(&db->events[0], &db->events[1], sizeof(*db->events) * (DB_EVENTS_MAX - 1));
		db->n_events--;
	}
	event_copy(&db->events[db->n_events++], &e);
	struct db_event *out = COFFER_NEW(struct db_event);
	event_copy(out, &e);
	return out;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_str(struct coffer_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	coffer_buf_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			uint8_t esc[2] = {'\\', *p};
			coffer_buf_put(b, esc, 2);
		} else if (*p < 0x20) {
			char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
			coffer_buf_put(b, u, 6);
		} else {
			coffer_buf_put(b, p, 1);
		}
	}
	coffer_buf_put(b, "\"", 1);
}

static void event_json(const struct db_event *e, struct coffer_buf *b)
{
	char when[32];
	coffer_time_iso8601(e->time_us, when);
	coffer_buf_put(b, "{\"event_time\":", 14);
	json_str(b, when);
	coffer_buf_put(b, ",\"keyspace\":", 12);
	json_str(b, e->keyspace);
	coffer_buf_put(b, ",\"table\":", 9);
	json_str(b, e->table);
	coffer_buf_put(b, ",\"event\":", 9);
	json_str(b, e->event);
	coffer_buf_put(b, ",\"kms_key\":", 11);
	json_str(b, e->kms_key);
	coffer_buf_put(b, ",\"reason\":", 10);
	json_str(b, e->reason);
	coffer_buf_put(b, "}", 1);
}

/* ---- the webhook --------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* http://host[:port][/path] -> parts; false if not that shape. */
static bool parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, const char **path)
{
	if (strncmp(url, "http://", 7) != 0)
		return false;
	const char *h = url + 7, *end;
	size_t n;
	if (*h == '[') {
		end = strchr(h, ']');
		if (!end)
			return false;
		n = (size_t)(end - h - 1);
		h++;
		end++;
	} else {
		n = strcspn(h, ":/");
		end = h + n;
	}
	if (n == 0 || n >= hcap)
		return false;
	memcpy(host, h, n);
	host[n] = 0;
	snprintf(port, pcap, "80");
	if (*end == ':') {
		size_t pn = strcspn(end + 1, "/");
		if (pn == 0 || pn >= pcap)
			return false;
		memcpy(port, end + 1, pn);
		port[pn] = 0;
		end += 1 + pn;
	}
	*path = *end == '/' ? end : "/";
	return true;
}

/* Waits for `events` on fd until the deadline; false on timeout or error. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return false;
		struct pollfd p = {fd, events, 0};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

static int connect_to(const char *host, const char *port, int64_t deadline, const char **why)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
		*why = "cannot resolve the host";
		return -1;
	}
	int fd = -1;
	*why = "cannot connect";
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		int err = 0;
		socklen_t len = sizeof(err);
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			break;
		if (mono_ms() >= deadline)
			*why = "timed out connecting";
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* POSTs the event; returns the HTTP status, or -1 with *why set. */
static int webhook_post(const char *url, const struct coffer_buf *body, const char **why)
{
	char host[256], port[16];
	const char *path;
	if (!parse_url(url, host, sizeof(host), port, sizeof(port), &path)) {
		*why = "not an http:// URL";
		return -1;
	}
	int64_t deadline = mono_ms() + WEBHOOK_TIMEOUT_MS;
	int fd = connect_to(host, port, deadline, why);
	if (fd < 0)
		return -1;
	struct coffer_buf req = {0};
	char *head = coffer_xasprintf("POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: cofferd\r\n"
				      "Content-Type: application/json\r\nContent-Length: %zu\r\n"
				      "Connection: close\r\n\r\n",
				      path, host, port, body->len);
	coffer_buf_put(&req, head, strlen(head));
	coffer_buf_put(&req, body->ptr, body->len);
	free(head);
	int status = -1;
	size_t off = 0;
	*why = "timed out sending";
	while (off < req.len) {
		ssize_t w = send(fd, req.ptr + off, req.len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline))
			continue;
		goto out;
	}
	char resp[256];
	size_t got = 0;
	*why = "no HTTP status line before the timeout";
	while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline))
			continue;
		break;
	}
	resp[got] = 0;
	int major, minor, code;
	if (sscanf(resp, "HTTP/%d.%d %d", &major, &minor, &code) == 3)
		status = code;
	else if (got)
		*why = "not an HTTP response";
out:
	close(fd);
	coffer_buf_free(&req);
	return status;
}

/* ---- the command ------------------------------------------------------------------------ */

static void run_command(struct coffer_db *db, const struct db_event *e)
{
	char when[32];
	coffer_time_iso8601(e->time_us, when);
	char *vars[] = {
		coffer_xasprintf("COFFER_EVENT=%s", e->event),
		coffer_xasprintf("COFFER_KEYSPACE=%s", e->keyspace),
		coffer_xasprintf("COFFER_TABLE=%s", e->table),
		coffer_xasprintf("COFFER_KMS_KEY=%s", e->kms_key),
		coffer_xasprintf("COFFER_REASON=%s", e->reason),
		coffer_xasprintf("COFFER_EVENT_TIME=%s", when),
	};
	size_t nenv = 0;
	while (environ && environ[nenv])
		nenv++;
	char **envp = coffer_xcalloc(nenv + COFFER_ARRAY_LEN(vars) + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "COFFER_", 7) != 0)
			envp[k++] = environ[i];
	for (size_t i = 0; i < COFFER_ARRAY_LEN(vars); i++)
		envp[k++] = vars[i];
	char *const argv[] = {"sh", "-c", db->notify_command, NULL};
	long maxfd = sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	pid_t pid = fork();
	if (pid == 0) {
		/* Invariant 3: async-signal-safe only. */
		for (int fd = 3; fd < maxfd; fd++)
			close(fd);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	if (pid < 0) {
		coffer_log_error(db->log, "notify", "notify command: fork failed: %s", strerror(errno));
		goto out;
	}
	int64_t deadline = mono_ms() + COMMAND_TIMEOUT_MS;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			coffer_log_error(db->log, "notify", "notify command: waitpid: %s", strerror(errno));
			goto out;
		}
		if (mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			coffer_log_error(db->log, "notify", "notify command killed after %d s (event %s on %s.%s)",
					 COMMAND_TIMEOUT_MS / 1000, e->event, e->keyspace, e->table);
			goto out;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		coffer_log_warn(db->log, "notify", "notify command failed (status %d) for event %s on %s.%s",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1, e->event, e->keyspace, e->table);
out:
	free(envp);
	for (size_t i = 0; i < COFFER_ARRAY_LEN(vars); i++)
		free(vars[i]);
}

void db_event_deliver(struct coffer_db *db, const struct db_event *e)
{
	if (strcmp(e->event, "ACTIVE") == 0)
		coffer_log_warn(db->log, "notify", "table %s.%s is ACTIVE again: KMS key %s is usable", e->keyspace,
				e->table, e->kms_key);
	else
		coffer_log_error(db->log, "notify", "table %s.%s is %s: %s", e->keyspace, e->table, e->event,
				 e->reason);
	if (db->notify_webhook) {
		struct coffer_buf body = {0};
		const char *why = "";
		event_json(e, &body);
		int status = webhook_post(db->notify_webhook, &body, &why);
		if (status < 0)
			coffer_log_error(db->log, "notify", "webhook %s: %s (event %s on %s.%s not delivered)",
					 db->notify_webhook, why, e->event, e->keyspace, e->table);
		else if (status < 200 || status > 299)
			coffer_log_error(db->log, "notify", "webhook %s answered HTTP %d (event %s on %s.%s)",
					 db->notify_webhook, status, e->event, e->keyspace, e->table);
		coffer_buf_free(&body);
	}
	if (db->notify_command)
		run_command(db, e);
}
