/*
 * vec_helper.c - hex decoding for the crypto tests (see vec_helper.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/vec_helper.h"

static int nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

uint8_t *vec_hex(const char *hex, size_t *len)
{
	uint8_t *out = calloc(strlen(hex) / 2 + 1, 1);
	size_t n = 0;
	int hi = -1;

	if (!out)
		abort();
	if (strcmp(hex, "-") == 0)
		hex = "";
	for (const char *p = hex; *p; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int v = nibble((unsigned char)*p);
		if (v < 0) {
			fprintf(stderr, "vec_hex: bad hex digit in \"%s\"\n", hex);
			abort();
		}
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		fprintf(stderr, "vec_hex: odd number of hex digits in \"%s\"\n", hex);
		abort();
	}
	*len = n;
	return out;
}
