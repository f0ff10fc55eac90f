/*
 * vec_helper.h - hex decoding for the crypto tests' embedded vectors. Kept
 * separate from util's hex codec so a bug there cannot mask one here.
 */
#ifndef COFFER_TESTS_CRYPTO_VEC_HELPER_H
#define COFFER_TESTS_CRYPTO_VEC_HELPER_H

#include <stddef.h>
#include <stdint.h>

/* Decodes hex (whitespace ignored; "" or "-" is empty) into a fresh heap
 * buffer of at least one byte; *len gets the byte count. Aborts on bad hex.
 * The caller frees. */
uint8_t *vec_hex(const char *hex, size_t *len);

#endif
