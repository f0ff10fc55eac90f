/* keys_helper.h - shared helpers for the keys tests: a fake key provider (a
 * tiny in-memory KMS whose keys can be disabled) and temporary directories. */
#ifndef COFFER_TEST_KEYS_HELPER_H
#define COFFER_TEST_KEYS_HELPER_H

#include <stdbool.h>

#include "keys/keys.h"

struct fake_kms {
	int n_keys;
	char ids[4][32];
	bool disabled[4];
	uint8_t master[4][32];
	int misbehave; /* 1: returns a 16-byte key; 2: returns COFFER_E_IO */
};

/* A provider over `fk` with keys "key-a", "key-b" and "key-c". */
struct coffer_key_provider *fake_provider_new(struct fake_kms *fk);
void fake_kms_disable(struct fake_kms *fk, const char *id, bool disabled);
/* A fresh directory under /tmp (caller frees the string; rm -rf'd by rmtree). */
char *test_tmpdir(const char *tag);
void rmtree(const char *dir);

#endif
