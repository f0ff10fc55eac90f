/*
 * progress.c - RESTORE TABLE in the shell (issue 7): the progress bar for a
 * restore the shell ran, and the read-only restore properties that DESCRIBE
 * leaves out of the CQL it prints.
 *
 * RESTORE TABLE answers as soon as the target exists with status RESTORING;
 * the restore runs in cofferd's background. After such a statement succeeds
 * the shell polls
 *
 *   SELECT status, custom_properties FROM system_schema_mcs.tables
 *    WHERE keyspace_name = '<ks>' AND table_name = '<table>'
 *
 * every POLL_MS, reading custom_properties['restore']['progress'] ("42%"),
 * until the status is ACTIVE (done) or the table is gone (the restore
 * failed: the reason is the newest RESTORE_FAILED row of
 * system_coffer.events for the table). On a terminal it redraws one line
 *
 *   Restoring ks.t [##############                ]  35%
 *
 * otherwise it prints "Restoring ks.t: 35%" each time the percentage
 * changes, so logs of scripted runs show the progress too.
 *
 * Invariants:
 *  1. Only the shell's own RESTORE statements are followed; names come from
 *     the statement text (folded to lower case unless "quoted", as cqlsh).
 *  2. Custom properties are decoded through a bounds-checked reader; a value
 *     that does not decode just shows no percentage.
 *  3. DESCRIBE prints only what CREATE TABLE accepts: the 'restore' group
 *     and point_in_time_recovery's earliest_restorable_timestamp are status,
 *     not settings, and are dropped (coffer_cli_writable_properties).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "util/alloc.h"

#define POLL_MS 200
#define BAR_WIDTH 30

/* One identifier at *p: "quoted" (with "" escapes) or a bare word folded to
 * lower case. Returns false if there is none. */
static bool read_ident(const char **p, char *out, size_t cap)
{
	const char *s = *p;
	size_t n = 0;
	if (*s == '"') {
		s++;
		while (*s) {
			if (*s == '"' && s[1] != '"')
				break;
			if (*s == '"')
				s++;
			if (n + 1 < cap)
				out[n++] = *s;
			s++;
		}
		if (*s != '"')
			return false;
		s++;
	} else {
		while (isalnum((unsigned char)*s) || *s == '_') {
			if (n + 1 < cap)
				out[n++] = (char)tolower((unsigned char)*s);
			s++;
		}
	}
	out[n] = 0;
	*p = s;
	return n > 0;
}

bool coffer_shell_restore_target(const char *stmt, const char *session_ks, char ks[256], char table[256])
{
	const char *p = stmt;
	char a[256], b[256];
	if (!coffer_shell_keyword(&p, "restore") || !coffer_shell_keyword(&p, "table"))
		return false;
	p = coffer_shell_skip_ws(p);
	if (!read_ident(&p, a, sizeof(a)))
		return false;
	if (*p == '.') {
		p++;
		if (!read_ident(&p, b, sizeof(b)))
			return false;
		snprintf(ks, 256, "%s", a);
		snprintf(table, 256, "%s", b);
		return true;
	}
	if (!session_ks || !*session_ks)
		return false;
	snprintf(ks, 256, "%s", session_ks);
	snprintf(table, 256, "%s", a);
	return true;
}

/* A [bytes] element of a serialized collection. */
static bool read_elem(struct coffer_reader *r, struct coffer_slice *out)
{
	uint32_t n;
	if (coffer_reader_u32(r, &n) != COFFER_OK || n > coffer_reader_left(r))
		return false;
	return coffer_reader_bytes(r, n, out) == COFFER_OK;
}

static bool slice_is(struct coffer_slice s, const char *w)
{
	return s.len == strlen(w) && memcmp(s.ptr, w, s.len) == 0;
}

/* custom_properties[group][key] as a percentage; -1 when absent. */
static int progress_of(struct coffer_slice cp)
{
	struct coffer_reader r, ir;
	uint32_t n, m;
	struct coffer_slice k, v, ik, iv;
	if (!cp.ptr)
		return -1;
	coffer_reader_init(&r, cp, "custom_properties");
	if (coffer_reader_u32(&r, &n) != COFFER_OK)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!read_elem(&r, &k) || !read_elem(&r, &v))
			return -1;
		if (!slice_is(k, "restore"))
			continue;
		coffer_reader_init(&ir, v, "restore");
		if (coffer_reader_u32(&ir, &m) != COFFER_OK)
			return -1;
		for (uint32_t j = 0; j < m; j++) {
			if (!read_elem(&ir, &ik) || !read_elem(&ir, &iv))
				return -1;
			if (slice_is(ik, "progress") && iv.len && iv.len < 8 && isdigit(iv.ptr[0])) {
				char num[8];
				memcpy(num, iv.ptr, iv.len);
				num[iv.len] = 0;
				return atoi(num);
			}
		}
	}
	return -1;
}

static void draw(struct coffer_shell *sh, bool tty, const char *name, int pct, int *last)
{
	if (pct < 0)
		pct = 0;
	if (pct == *last)
		return;
	*last = pct;
	if (!tty) {
		printf("Restoring %s: %d%%\n", name, pct);
		fflush(stdout);
		return;
	}
	char bar[BAR_WIDTH + 1];
	int fill = pct * BAR_WIDTH / 100;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : ' ';
	bar[BAR_WIDTH] = 0;
	printf("\rRestoring %s [%s] %3d%%", name, bar, pct);
	fflush(stdout);
	(void)sh;
}

/* The reason of the newest RESTORE_FAILED event of the table (heap), or NULL. */
static char *failure_reason(struct coffer_shell *sh, const char *ks, const char *table)
{
	struct coffer_client_result res;
	char *q = coffer_xasprintf("SELECT table_name, event, reason FROM system_coffer.events WHERE "
				   "keyspace_name = '%s' ALLOW FILTERING", ks);
	char *reason = NULL;
	if (coffer_client_query(sh->client, q, 1000, &res) == COFFER_OK && res.kind == COFFER_CLIENT_ROWS &&
	    res.n_columns == 3) {
		for (size_t i = 0; i < res.n_rows; i++) {
			struct coffer_slice t = coffer_client_cell(&res, i, 0), e = coffer_client_cell(&res, i, 1),
					    why = coffer_client_cell(&res, i, 2);
			if (!t.ptr || !e.ptr || !why.ptr || !slice_is(e, "RESTORE_FAILED") || !slice_is(t, table))
				continue;
			free(reason);
			reason = coffer_xstrndup((const char *)why.ptr, why.len);
		}
	}
	coffer_client_result_free(&res);
	free(q);
	return reason;
}

bool coffer_shell_restore_progress(struct coffer_shell *sh, const char *ks, const char *table, char **msg)
{
	bool tty = isatty(STDOUT_FILENO);
	char *name = coffer_xasprintf("%s.%s", ks, table);
	char *q = coffer_xasprintf("SELECT status, custom_properties FROM system_schema_mcs.tables WHERE "
				   "keyspace_name = '%s' AND table_name = '%s'", ks, table);
	int last = -1;
	bool ok = false;
	*msg = NULL;
	for (;;) {
		struct coffer_client_result res;
		if (coffer_client_query(sh->client, q, 100, &res) != COFFER_OK) {
			*msg = coffer_xasprintf("ConnectionError: following the restore of %s: %s", name,
						coffer_error_msg());
			coffer_client_result_free(&res);
			break;
		}
		if (res.kind != COFFER_CLIENT_ROWS || res.n_columns != 2) {
			*msg = coffer_xasprintf("following the restore of %s: %s", name,
						res.message ? res.message : "unexpected answer");
			coffer_client_result_free(&res);
			break;
		}
		if (res.n_rows == 0) {
			coffer_client_result_free(&res);
			char *why = failure_reason(sh, ks, table);
			*msg = coffer_xasprintf("RestoreFailed: the restore of %s failed: %s", name,
						why ? why : "the table was removed");
			free(why);
			break;
		}
		struct coffer_slice st = coffer_client_cell(&res, 0, 0);
		int pct = progress_of(coffer_client_cell(&res, 0, 1));
		bool active = slice_is(st, "ACTIVE");
		bool restoring = slice_is(st, "RESTORING");
		coffer_client_result_free(&res);
		if (active) {
			draw(sh, tty, name, 100, &last);
			if (tty)
				putchar('\n');
			printf("Restore of %s complete: ACTIVE\n", name);
			ok = true;
			break;
		}
		if (!restoring) {
			*msg = coffer_xasprintf("RestoreFailed: %s is %.*s", name, (int)st.len,
						st.ptr ? (const char *)st.ptr : "");
			break;
		}
		draw(sh, tty, name, pct, &last);
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (!ok && tty && last >= 0)
		putchar('\n');
	fflush(stdout);
	free(q);
	free(name);
	return ok;
}

/* Appends a [bytes] element. */
static void put_elem(struct coffer_buf *b, struct coffer_slice s)
{
	coffer_buf_put_u32(b, (uint32_t)s.len);
	coffer_buf_put(b, s.ptr, s.len);
}

void coffer_cli_writable_properties(struct coffer_slice in, struct coffer_buf *out)
{
	struct coffer_reader r, ir;
	struct coffer_buf groups = {0}, inner = {0};
	uint32_t n, m, ng = 0;
	struct coffer_slice k, v, ik, iv;
	coffer_reader_init(&r, in, "custom_properties");
	if (coffer_reader_u32(&r, &n) != COFFER_OK)
		goto verbatim;
	for (uint32_t i = 0; i < n; i++) {
		if (!read_elem(&r, &k) || !read_elem(&r, &v))
			goto verbatim;
		if (slice_is(k, "restore"))
			continue;
		coffer_buf_reset(&inner);
		coffer_reader_init(&ir, v, "group");
		uint32_t kept = 0;
		if (coffer_reader_u32(&ir, &m) != COFFER_OK)
			goto verbatim;
		coffer_buf_put_u32(&inner, 0);
		for (uint32_t j = 0; j < m; j++) {
			if (!read_elem(&ir, &ik) || !read_elem(&ir, &iv))
				goto verbatim;
			if (slice_is(k, "point_in_time_recovery") && !slice_is(ik, "status"))
				continue;
			put_elem(&inner, ik);
			put_elem(&inner, iv);
			kept++;
		}
		coffer_buf_patch_u32(&inner, 0, kept);
		put_elem(&groups, k);
		put_elem(&groups, coffer_buf_slice(&inner));
		ng++;
	}
	coffer_buf_put_u32(out, ng);
	coffer_buf_put(out, groups.ptr, groups.len);
	coffer_buf_free(&groups);
	coffer_buf_free(&inner);
	return;
verbatim:
	coffer_buf_put(out, in.ptr, in.len);
	coffer_buf_free(&groups);
	coffer_buf_free(&inner);
}
