/*
 * main.c - `coffer`, the command-line tool: a table of subcommands, each an
 * entry point taking its own argv (argv[0] is the subcommand's name) and
 * returning the exit status: the shell, and the operator's offline commands
 * (verify, dump, keys status: ops.c).
 *
 * Exit status 2 means bad usage (an unknown command or option).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_internal.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"shell", coffer_cli_shell, "an interactive CQL shell (cqlsh-like); -e/-f for scripts"},
	{"verify", coffer_cli_verify, "check every file's block tags and key registry offline (--data DIR)"},
	{"dump", coffer_cli_dump, "decode an SSTable or commit-log segment offline (FILE --data DIR)"},
	{"keys", coffer_cli_keys, "keys status: each table's KMS key, key state, table key version"},
	{"version", cmd_version, "print coffer's version"},
	{"help", cmd_help, "this text; `coffer COMMAND --help` for a command's options"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: coffer COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s  %s\n", commands[i].name, commands[i].summary);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int cmd_version(int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		printf("usage: coffer version\n\nPrints coffer's version.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "coffer version: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	printf("coffer %s\n", COFFER_VERSION);
	return 0;
}

/* `coffer help [COMMAND]`: the list, or COMMAND's own --help. */
static int cmd_help(int argc, char **argv)
{
	if (argc > 1 && !wants_help(argc, argv))
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0 && commands[i].run != cmd_help) {
				char *sub[] = {argv[1], "--help", NULL};
				return commands[i].run(2, sub);
			}
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0)
		name = "version";
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "coffer: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
