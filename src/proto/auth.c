/*
 * auth.c - SASL PLAIN (RFC 4616), the mechanism behind Cassandra's
 * PasswordAuthenticator: the client's first AUTH_RESPONSE carries the whole
 * credential.
 *
 *   OFFSET  SIZE  MEANING
 *   0       a     authzid: UTF-8, may be empty (acting as another identity)
 *   a       1     NUL
 *   a+1     u     authcid: the username, UTF-8, 1..255 bytes by the RFC
 *   a+1+u   1     NUL
 *   a+2+u   p     passwd: UTF-8, at least 1 byte; the rest of the token
 *
 * Invariants:
 *  1. No error message quotes any byte of the token: usernames, and above
 *     all passwords, never reach a message or a log from here.
 *  2. The result borrows the token; nothing is copied, so the caller wipes
 *     one buffer (the frame) when done.
 */
#include <stdio.h>
#include <string.h>

#include "proto/proto_internal.h"

/* RFC 4616 section 2: fields "MUST be accepted up to 255 octets"; we accept
 * far more but bound the token so a bogus one costs nothing. */
#define PLAIN_MAX_TOKEN 16384

static coffer_rc bad(struct coffer_proto_err *err, const char *where, const char *msg)
{
	coffer_rc rc = coffer_error_set(COFFER_E_INVALID, where, "SASL PLAIN: %s", msg);
	if (err) {
		/* Bad credentials; the caller's version and stream stay. */
		err->code = COFFER_CQL_BAD_CREDENTIALS;
		err->close = false;
		err->discard = 0;
		snprintf(err->message, sizeof err->message, "%s", coffer_error_msg());
	}
	return rc;
}

COFFER_RESULT coffer_proto_sasl_plain_parse(const struct coffer_proto_value *token,
					    struct coffer_proto_plain *out,
					    struct coffer_proto_err *err)
{
	memset(out, 0, sizeof *out);
	if (token->kind != COFFER_PROTO_VALUE)
		return bad(err, COFFER_WHERE, "the AUTH_RESPONSE token is null; expected "
			   "[authzid] NUL username NUL password");
	const uint8_t *p = token->bytes.ptr;
	size_t n = token->bytes.len;
	if (n > PLAIN_MAX_TOKEN)
		return bad(err, COFFER_WHERE, "the token is longer than 16384 bytes");
	const uint8_t *nul1 = n ? memchr(p, 0, n) : NULL;
	if (!nul1)
		return bad(err, COFFER_WHERE, "malformed token: no NUL separator; expected "
			   "[authzid] NUL username NUL password");
	size_t after1 = (size_t)(nul1 - p) + 1;
	const uint8_t *nul2 = memchr(nul1 + 1, 0, n - after1);
	if (!nul2)
		return bad(err, COFFER_WHERE, "malformed token: one NUL separator, two expected "
			   "([authzid] NUL username NUL password)");
	size_t after2 = (size_t)(nul2 - p) + 1;
	if (memchr(nul2 + 1, 0, n - after2))
		return bad(err, COFFER_WHERE, "malformed token: more than two NUL separators");

	out->authzid = coffer_slice_of(p, (size_t)(nul1 - p));
	out->username = coffer_slice_of(nul1 + 1, (size_t)(nul2 - nul1 - 1));
	out->password = coffer_slice_of(nul2 + 1, n - after2);
	if (out->username.len == 0)
		return bad(err, COFFER_WHERE, "the username is empty");
	if (out->password.len == 0)
		return bad(err, COFFER_WHERE, "the password is empty");
	if (!proto_utf8_valid(out->username.ptr, out->username.len) ||
	    !proto_utf8_valid(out->authzid.ptr, out->authzid.len))
		return bad(err, COFFER_WHERE, "the username is not valid UTF-8");
	if (out->authzid.len && !coffer_slice_eq(out->authzid, out->username))
		return bad(err, COFFER_WHERE, "an authorization identity other than the username "
			   "(acting as another role) is not supported");
	return COFFER_OK;
}
