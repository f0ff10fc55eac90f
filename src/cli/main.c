/*
 * main.c - `coffer`, the command-line tool: today `coffer version` and
 * `coffer help`; the CQL shell and the operator's commands (keys status,
 * dump, verify) join it with their issue.
 */
#include <stdio.h>
#include <string.h>

#define COFFER_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coffer COMMAND [options]\n"
		"\n"
		"commands:\n"
		"  version     print coffer's version\n"
		"  help        this text\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("coffer %s\n", COFFER_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "coffer: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
