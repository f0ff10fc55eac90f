/*
 * shell.c - `coffer shell`, a CQL shell after cqlsh: options, the password,
 * reading statements (interactively with libedit, from -e, -f, SOURCE or a
 * pipe), splitting them at ';', and running CQL and the shell's own
 * commands (USE is CQL; DESCRIBE, EXPAND, SOURCE, HELP, EXIT/QUIT are ours).
 *
 * Invariants:
 *  1. A ';' ends a statement only outside '...' strings, "..." identifiers,
 *     $$...$$ strings and comments (--, //, block comments), so lexical state
 *     carries over from one line to the next.
 *  2. Shell commands need no ';': a line that leaves a statement beginning
 *     with one of them complete runs it (as cqlsh does).
 *  3. In -e/-f/pipe mode every error is reported as
 *     "<name>:<line>:<Class>: ..." on stderr and the exit status is 1 when
 *     any statement failed; the remaining statements still run. Interactive
 *     mode prints the error without the prefix and carries on.
 *  4. The password is read from --password-file, COFFER_PASSWORD or a
 *     no-echo prompt into one heap buffer that is wiped and freed right
 *     after login; it is never printed, logged or kept in history.
 *     COFFER_PASSWORD's value is wiped in the environment too.
 *  5. Lines mentioning PASSWORD never enter ~/.coffer_history (0600).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli_internal.h"
#include "util/alloc.h"

#define SHELL_PAGE_SIZE 100
#define SHELL_MAX_SOURCE_DEPTH 16
#define SHELL_MAX_PASSWORD 4096

/* ---- options ------------------------------------------------------------------ */

struct shell_opts {
	const char *host;
	const char *port;
	const char *user;
	const char *password_file;
	bool tls;
	const char *ca;
	const char *execute;
	const char *file;
	bool no_color;
	bool force_color;
	bool no_pager;
	int timeout_s;
};

static void shell_usage(FILE *f)
{
	fprintf(f,
		"usage: coffer shell [options]\n"
		"\n"
		"An interactive CQL shell for cofferd (and any CQL native protocol v4 server).\n"
		"\n"
		"  --host H              server address (default 127.0.0.1)\n"
		"  --port P              CQL port (default 9042)\n"
		"  --user U              user to log in as (default coffer)\n"
		"  --password-file F     read the password from the first line of F; else\n"
		"                        COFFER_PASSWORD; else prompt (without echo) on a terminal\n"
		"  --tls                 connect with TLS, verifying the server's certificate\n"
		"  --ca F                PEM trust anchors for --tls (default: the system store)\n"
		"  -e, --execute CQL     run the statement(s) and exit\n"
		"  -f, --file F          run the statements in F and exit\n"
		"  --no-color            never colour the output (default: colour on a terminal)\n"
		"  --color               colour the output even when it is not a terminal\n"
		"  --no-pager            never pause long output with ---MORE---\n"
		"  --request-timeout S   seconds to wait for each answer (default 30)\n"
		"  --help                this text\n"
		"\n"
		"Exit status: 0, 1 when a statement failed in -e/-f mode, 2 on bad usage or\n"
		"when the server cannot be reached. Type HELP in the shell for its commands.\n");
}

/* 0: parsed; 1: --help given; 2: bad usage (printed). */
static int parse_opts(int argc, char **argv, struct shell_opts *o)
{
	enum { O_HOST = 256, O_PORT, O_USER, O_PWFILE, O_TLS, O_CA, O_NOCOLOR, O_COLOR,
	       O_NOPAGER, O_TIMEOUT, O_HELP };
	static const struct option longopts[] = {
		{"host", required_argument, NULL, O_HOST},
		{"port", required_argument, NULL, O_PORT},
		{"user", required_argument, NULL, O_USER},
		{"password-file", required_argument, NULL, O_PWFILE},
		{"tls", no_argument, NULL, O_TLS},
		{"ca", required_argument, NULL, O_CA},
		{"execute", required_argument, NULL, 'e'},
		{"file", required_argument, NULL, 'f'},
		{"no-color", no_argument, NULL, O_NOCOLOR},
		{"color", no_argument, NULL, O_COLOR},
		{"no-pager", no_argument, NULL, O_NOPAGER},
		{"request-timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = "9042";
	o->user = "coffer";
	o->timeout_s = 30;
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "+e:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_HOST: o->host = optarg; break;
		case O_PORT: o->port = optarg; break;
		case O_USER: o->user = optarg; break;
		case O_PWFILE: o->password_file = optarg; break;
		case O_TLS: o->tls = true; break;
		case O_CA: o->ca = optarg; break;
		case 'e': o->execute = optarg; break;
		case 'f': o->file = optarg; break;
		case O_NOCOLOR: o->no_color = true; break;
		case O_COLOR: o->force_color = true; break;
		case O_NOPAGER: o->no_pager = true; break;
		case O_TIMEOUT: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || v > 86400) {
				fprintf(stderr, "coffer shell: bad --request-timeout '%s'\n", optarg);
				return 2;
			}
			o->timeout_s = (int)v;
			break;
		}
		case 'h':
		case O_HELP: return 1;
		default:
			fprintf(stderr, "coffer shell: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			shell_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coffer shell: unexpected argument '%s'\n", argv[optind]);
		shell_usage(stderr);
		return 2;
	}
	if (o->ca && !o->tls) {
		fprintf(stderr, "coffer shell: --ca needs --tls\n");
		return 2;
	}
	if (o->execute && o->file) {
		fprintf(stderr, "coffer shell: give -e or -f, not both\n");
		return 2;
	}
	return 0;
}

/* ---- the password ---------------------------------------------------------------- */

/* Reads the password into a fresh heap buffer (*out, NULL when there is none
 * to be had); the caller wipes and frees it. False on an error (printed). */
static bool password_get(const struct shell_opts *o, bool may_prompt, char **out)
{
	char *pw = coffer_xcalloc(1, SHELL_MAX_PASSWORD);
	*out = NULL;
	if (o->password_file) {
		int fd = open(o->password_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "coffer shell: cannot open %s: %s\n", o->password_file,
				strerror(errno));
			free(pw);
			return false;
		}
		ssize_t n = read(fd, pw, SHELL_MAX_PASSWORD - 1);
		close(fd);
		if (n < 0) {
			fprintf(stderr, "coffer shell: cannot read %s: %s\n", o->password_file,
				strerror(errno));
			free(pw);
			return false;
		}
		/* The first line; a trailing newline (and \r) is not part of it. */
		char *nl = memchr(pw, '\n', (size_t)n);
		size_t len = nl ? (size_t)(nl - pw) : (size_t)n;
		coffer_wipe(pw + len, SHELL_MAX_PASSWORD - len);
		if (len && pw[len - 1] == '\r')
			pw[len - 1] = 0;
		*out = pw;
		return true;
	}
	char *env = getenv("COFFER_PASSWORD");
	if (env) {
		size_t len = strlen(env);
		if (len >= SHELL_MAX_PASSWORD)
			len = SHELL_MAX_PASSWORD - 1;
		memcpy(pw, env, len);
		coffer_wipe(env, strlen(env));
		*out = pw;
		return true;
	}
	if (!may_prompt) {
		free(pw);
		return true;
	}
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0) {
		free(pw);
		return true;
	}
	struct termios old, quiet;
	bool restore = tcgetattr(tty, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(tty, TCSAFLUSH, &quiet);
	}
	const char prompt[] = "Password: ";
	(void)!write(tty, prompt, sizeof(prompt) - 1);
	size_t len = 0;
	char ch;
	while (len < SHELL_MAX_PASSWORD - 1 && read(tty, &ch, 1) == 1 && ch != '\n')
		pw[len++] = ch;
	ch = 0;
	if (restore)
		(void)tcsetattr(tty, TCSAFLUSH, &old);
	(void)!write(tty, "\n", 1);
	close(tty);
	*out = pw;
	return true;
}

static void password_free(char *pw)
{
	if (pw) {
		coffer_wipe(pw, SHELL_MAX_PASSWORD);
		free(pw);
	}
}

/* ---- running statements ---------------------------------------------------------- */

/* One source of statements: the terminal, -e, -f, a pipe or a SOURCE file. */
struct runner {
	struct coffer_shell *sh;
	const char *name;  /* for error prefixes ("<stdin>", the file name) */
	bool prefix;       /* errors carry "name:line:" */
	bool failed;       /* a statement failed */
	bool fatal;        /* the connection is gone */
};

static void report(struct runner *rn, int line, const char *fmt, ...) COFFER_PRINTF(3, 4);
static void report(struct runner *rn, int line, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	if (rn->prefix)
		fprintf(stderr, "%s:%d:", rn->name, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	rn->failed = true;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* The first word of a statement and where the rest begins. */
static size_t first_word(const char *s)
{
	size_t n = 0;
	while (s[n] && (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '?'))
		n++;
	return n;
}

static const char *skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static bool is_shell_command(const char *s)
{
	static const char *const words[] = {"exit", "quit", "help", "?", "expand", "describe",
					    "desc", "source", "clear", "cls", "copy"};
	s = skip_space(s);
	size_t n = first_word(s);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (word_is(s, n, words[i]))
			return true;
	return false;
}

static void run_file(struct runner *parent, int line, const char *path);

static const char help_text[] =
	"\n"
	"CQL statements end with ';' and may span lines. Shell commands:\n"
	"\n"
	"  USE ks;                       make ks the current keyspace (shown in the prompt)\n"
	"  DESCRIBE KEYSPACES            list the keyspaces\n"
	"  DESCRIBE TABLES               list the tables (of the current keyspace, or all)\n"
	"  DESCRIBE KEYSPACE ks          CQL that recreates ks and its tables\n"
	"  DESCRIBE TABLE [ks.]t         CQL that recreates the table\n"
	"  EXPAND [ON|OFF]               one block per row (vertical output), or show the mode\n"
	"  SOURCE 'file'                 run the statements in a file\n"
	"  COPY [ks.]t [(cols)] TO 'f.csv' [WITH HEADER = true AND ...]\n"
	"                                export a table to CSV (a progress bar on a terminal)\n"
	"  COPY [ks.]t [(cols)] FROM 'f.csv' [WITH ...]\n"
	"                                import CSV into a table; options: HEADER, DELIMITER,\n"
	"                                QUOTE, NULL, PAGESIZE, MAXROWS, SKIPROWS, MAXBATCHSIZE,\n"
	"                                MAXINFLIGHTMESSAGES, MAXPARSEERRORS, MAXINSERTERRORS\n"
	"  HELP                          this text\n"
	"  EXIT | QUIT                   leave the shell (or press Ctrl-D)\n"
	"\n"
	"Long output pauses with ---MORE--- on a terminal: Enter continues, q skips the rest.\n";

static void print_text(struct coffer_shell *sh, const char *text)
{
	/* Line by line, so the pager sees it. */
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = coffer_xstrndup(p, n);
		coffer_shell_line(sh, line);
		free(line);
		p += n + (nl ? 1 : 0);
	}
}

static void cmd_expand(struct runner *rn, int line, const char *arg)
{
	struct coffer_shell *sh = rn->sh;
	arg = skip_space(arg);
	size_t n = first_word(arg);
	if (!n) {
		printf("Expanded output is currently %s. Use EXPAND %s to %s.\n",
		       sh->expand ? "enabled" : "disabled", sh->expand ? "OFF" : "ON",
		       sh->expand ? "disable" : "enable");
	} else if (word_is(arg, n, "on")) {
		if (sh->expand)
			printf("Expanded output is already enabled\n");
		else
			printf("Now Expanded output is enabled\n");
		sh->expand = true;
	} else if (word_is(arg, n, "off")) {
		if (!sh->expand)
			printf("Expanded output is not enabled\n");
		else
			printf("Disabled Expanded output.\n");
		sh->expand = false;
	} else {
		report(rn, line, "Improper EXPAND command.");
	}
}

static void cmd_source(struct runner *rn, int line, const char *arg)
{
	arg = skip_space(arg);
	char *path;
	if (*arg == '\'' || *arg == '"') {
		const char *end = strchr(arg + 1, *arg);
		if (!end) {
			report(rn, line, "Improper SOURCE command: unterminated file name.");
			return;
		}
		path = coffer_xstrndup(arg + 1, (size_t)(end - arg - 1));
	} else {
		size_t n = strcspn(arg, " \t\r\n");
		path = coffer_xstrndup(arg, n);
	}
	if (!*path) {
		report(rn, line, "Improper SOURCE command: give a file name.");
	} else if (rn->sh->source_depth >= SHELL_MAX_SOURCE_DEPTH) {
		report(rn, line, "SOURCE nested too deeply (%d levels)", SHELL_MAX_SOURCE_DEPTH);
	} else {
		/* ~/ as cqlsh expands it. */
		if (path[0] == '~' && path[1] == '/' && getenv("HOME")) {
			char *full = coffer_xasprintf("%s%s", getenv("HOME"), path + 1);
			free(path);
			path = full;
		}
		run_file(rn, line, path);
	}
	free(path);
}

static void run_cql(struct runner *rn, int line, const char *cql)
{
	struct coffer_shell *sh = rn->sh;
	struct coffer_client_result res;
	char *msg;
	if (coffer_client_query(sh->client, cql, SHELL_PAGE_SIZE, &res) != COFFER_OK) {
		report(rn, line, "ConnectionError: %s", coffer_error_msg());
		rn->fatal = true;
		sh->quit = true;
		coffer_client_result_free(&res);
		return;
	}
	switch (res.kind) {
	case COFFER_CLIENT_ERROR:
		msg = coffer_client_error_text(&res);
		report(rn, line, "%s", msg);
		free(msg);
		break;
	case COFFER_CLIENT_ROWS:
		coffer_shell_print_rows(sh, &res);
		break;
	case COFFER_CLIENT_SET_KEYSPACE:
		snprintf(sh->keyspace, sizeof(sh->keyspace), "%s", res.keyspace);
		break;
	case COFFER_CLIENT_SCHEMA_CHANGE: {
		/* A RESTORE it ran: its progress, until ACTIVE (progress.c). */
		char ks[256], table[256];
		msg = NULL;
		if (coffer_shell_restore_target(cql, sh->keyspace, ks, table) &&
		    !coffer_shell_restore_progress(sh, ks, table, &msg))
			report(rn, line, "%s", msg ? msg : "RestoreFailed");
		free(msg);
		break;
	}
	default:
		break;
	}
	coffer_client_result_free(&res);
}

/* Runs one complete statement (without its ';'). */
static void run_statement(struct runner *rn, int line, const char *stmt)
{
	struct coffer_shell *sh = rn->sh;
	const char *s = skip_space(stmt);
	size_t n = first_word(s);
	if (!*s)
		return;
	coffer_shell_output_begin(sh);
	if (word_is(s, n, "exit") || word_is(s, n, "quit")) {
		sh->quit = true;
	} else if (word_is(s, n, "help") || word_is(s, n, "?")) {
		print_text(sh, help_text);
	} else if (word_is(s, n, "clear") || word_is(s, n, "cls")) {
		if (sh->interactive)
			fputs("\x1b[H\x1b[2J", stdout);
	} else if (word_is(s, n, "expand")) {
		cmd_expand(rn, line, s + n);
	} else if (word_is(s, n, "source")) {
		cmd_source(rn, line, s + n);
	} else if (word_is(s, n, "copy")) {
		char *msg = NULL;
		if (!coffer_shell_copy(sh, s + n, &msg))
			report(rn, line, "%s", msg ? msg : "COPY failed");
		free(msg);
	} else if (word_is(s, n, "describe") || word_is(s, n, "desc")) {
		char *msg = NULL;
		if (!coffer_shell_describe(sh, s + n, &msg))
			report(rn, line, "%s", msg ? msg : "DESCRIBE failed");
		free(msg);
	} else {
		run_cql(rn, line, s);
	}
	fflush(stdout);
}

/* The statement splitter: lexical state across lines (invariant 1). */
enum lex_state { L_NORMAL, L_SQUOTE, L_DQUOTE, L_DOLLAR, L_BLOCK };

struct splitter {
	struct coffer_buf text;
	enum lex_state state;
	int start_line; /* 0 until the statement has a non-blank character */
};

static bool blank(const struct coffer_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (!isspace(b->ptr[i]))
			return false;
	return true;
}

static void flush_statement(struct runner *rn, struct splitter *sp, int line)
{
	const char *stmt = coffer_buf_cstr(&sp->text);
	run_statement(rn, sp->start_line ? sp->start_line : line, stmt);
	coffer_buf_reset(&sp->text);
	sp->start_line = 0;
}

/* Feeds one line (without its newline). Runs each statement it completes;
 * stops early when the shell is to quit. */
static void feed_line(struct runner *rn, struct splitter *sp, const char *l, int lineno)
{
	size_t n = strlen(l);
	for (size_t i = 0; i < n && !rn->sh->quit; i++) {
		char ch = l[i], next = i + 1 < n ? l[i + 1] : 0;
		if (sp->state == L_NORMAL && !isspace((unsigned char)ch) && !sp->start_line &&
		    ch != ';' && !((ch == '-' && next == '-') || (ch == '/' && next == '/') ||
				   (ch == '/' && next == '*')))
			sp->start_line = lineno;
		switch (sp->state) {
		case L_NORMAL:
			if (ch == ';') {
				flush_statement(rn, sp, lineno);
				continue;
			}
			if ((ch == '-' && next == '-') || (ch == '/' && next == '/'))
				i = n; /* a comment to the end of the line */
			else if (ch == '/' && next == '*') {
				sp->state = L_BLOCK;
				coffer_buf_put_u8(&sp->text, ' ');
				i++;
			} else {
				if (ch == '\'')
					sp->state = L_SQUOTE;
				else if (ch == '"')
					sp->state = L_DQUOTE;
				else if (ch == '$' && next == '$') {
					sp->state = L_DOLLAR;
					coffer_buf_put_u8(&sp->text, '$');
					i++;
				}
				coffer_buf_put_u8(&sp->text, (uint8_t)ch);
			}
			break;
		case L_SQUOTE:
		case L_DQUOTE: {
			char q = sp->state == L_SQUOTE ? '\'' : '"';
			coffer_buf_put_u8(&sp->text, (uint8_t)ch);
			if (ch == q) {
				if (next == q) { /* '' inside a string */
					coffer_buf_put_u8(&sp->text, (uint8_t)next);
					i++;
				} else {
					sp->state = L_NORMAL;
				}
			}
			break;
		}
		case L_DOLLAR:
			coffer_buf_put_u8(&sp->text, (uint8_t)ch);
			if (ch == '$' && next == '$') {
				coffer_buf_put_u8(&sp->text, '$');
				i++;
				sp->state = L_NORMAL;
			}
			break;
		case L_BLOCK:
			if (ch == '*' && next == '/') {
				sp->state = L_NORMAL;
				i++;
			}
			break;
		}
	}
	if (rn->sh->quit)
		return;
	if (sp->state != L_BLOCK && sp->text.len)
		coffer_buf_put_u8(&sp->text, '\n');
	/* Invariant 2: shell commands end at the end of their line. */
	if (sp->state == L_NORMAL && !blank(&sp->text) &&
	    is_shell_command(coffer_buf_cstr(&sp->text)))
		flush_statement(rn, sp, lineno);
}

/* End of input: a statement left without ';' still runs (as cqlsh -e runs
 * "SELECT ..." without one). */
static void feed_end(struct runner *rn, struct splitter *sp, int lineno)
{
	if (!rn->sh->quit && !blank(&sp->text))
		flush_statement(rn, sp, lineno);
	coffer_buf_free(&sp->text);
}

static void run_stream(struct runner *rn, FILE *f)
{
	struct splitter sp = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	while (!rn->sh->quit && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		feed_line(rn, &sp, line, lineno);
	}
	feed_end(rn, &sp, lineno);
	free(line);
}

static void run_string(struct runner *rn, const char *text)
{
	struct splitter sp = {0};
	int lineno = 0;
	const char *p = text;
	while (*p && !rn->sh->quit) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = coffer_xstrndup(p, n);
		feed_line(rn, &sp, line, ++lineno);
		free(line);
		p += n + (nl ? 1 : 0);
	}
	feed_end(rn, &sp, lineno ? lineno : 1);
}

static void run_file(struct runner *parent, int line, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		report(parent, line, "Could not open '%s': %s", path, strerror(errno));
		return;
	}
	struct runner rn = {parent->sh, path, true, false, false};
	parent->sh->source_depth++;
	run_stream(&rn, f);
	parent->sh->source_depth--;
	fclose(f);
	if (rn.failed)
		parent->failed = true;
	if (rn.fatal)
		parent->fatal = true;
}

/* ---- interactive mode -------------------------------------------------------------- */

static char *history_path(void)
{
	const char *home = getenv("HOME");
	return home && *home ? coffer_xasprintf("%s/.coffer_history", home) : NULL;
}

static bool mentions_password(const char *s)
{
	for (; *s; s++)
		if (strncasecmp(s, "password", 8) == 0)
			return true;
	return false;
}

static void run_interactive(struct runner *rn)
{
	struct coffer_shell *sh = rn->sh;
	struct splitter sp = {0};
	char *hist = history_path();
	int lineno = 0;

	rl_readline_name = "coffer";
	using_history();
	stifle_history(1000);
	if (hist)
		(void)read_history(hist);
	printf("Connected to cofferd. coffer shell %s | Use HELP for help.\n", COFFER_VERSION);
	while (!sh->quit) {
		char prompt[300];
		if (sp.text.len && !blank(&sp.text))
			snprintf(prompt, sizeof(prompt), "   ... ");
		else if (sh->keyspace[0])
			snprintf(prompt, sizeof(prompt), "coffer:%s> ", sh->keyspace);
		else
			snprintf(prompt, sizeof(prompt), "coffer> ");
		fflush(stdout);
		char *line = readline(prompt);
		if (!line) {
			fputc('\n', stdout);
			break;
		}
		lineno++;
		if (*skip_space(line) && !mentions_password(line))
			add_history(line);
		rn->failed = false;
		feed_line(rn, &sp, line, lineno);
		free(line);
		if (rn->fatal)
			break;
	}
	coffer_buf_free(&sp.text);
	if (hist) {
		int fd = open(hist, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		(void)write_history(hist);
		(void)chmod(hist, 0600);
		free(hist);
	}
}

/* ---- the command ------------------------------------------------------------------- */

int coffer_cli_shell(int argc, char **argv)
{
	struct shell_opts o;
	int r = parse_opts(argc, argv, &o);
	if (r == 1) {
		shell_usage(stdout);
		return 0;
	}
	if (r)
		return r;

	bool stdin_tty = isatty(STDIN_FILENO), stdout_tty = isatty(STDOUT_FILENO);
	bool interactive = !o.execute && !o.file && stdin_tty;
	FILE *script = NULL;
	if (o.file) {
		script = fopen(o.file, "r");
		if (!script) {
			fprintf(stderr, "coffer shell: cannot open %s: %s\n", o.file,
				strerror(errno));
			return 2;
		}
	}

	char *pw = NULL;
	if (!password_get(&o, stdin_tty, &pw)) {
		if (script)
			fclose(script);
		return 2;
	}
	struct coffer_client_opts co = {
		.host = o.host, .port = o.port, .user = o.user, .password = pw,
		.tls = o.tls, .ca = o.ca, .timeout_ms = o.timeout_s * 1000,
	};
	struct coffer_client *client = NULL;
	coffer_rc rc = coffer_client_connect(&co, &client);
	password_free(pw);
	co.password = NULL;
	if (rc != COFFER_OK) {
		fprintf(stderr, "Connection error: ('Unable to connect to %s:%s', %s: %s)\n", o.host,
			o.port, rc == COFFER_E_DENIED ? "AuthenticationFailed" : "error",
			coffer_error_msg());
		if (script)
			fclose(script);
		return 2;
	}

	struct coffer_shell sh;
	memset(&sh, 0, sizeof(sh));
	sh.client = client;
	sh.interactive = interactive;
	sh.color = !o.no_color && (o.force_color || stdout_tty);
	sh.pager = !o.no_pager && stdout_tty && stdin_tty;
	struct runner rn = {&sh, "<stdin>", !interactive, false, false};

	if (o.execute) {
		run_string(&rn, o.execute);
	} else if (script) {
		rn.name = o.file;
		run_stream(&rn, script);
	} else if (interactive) {
		run_interactive(&rn);
	} else {
		run_stream(&rn, stdin);
	}
	fflush(stdout);
	if (script)
		fclose(script);
	coffer_client_close(client);
	if (rn.fatal)
		return 2;
	return !interactive && rn.failed ? 1 : 0;
}
