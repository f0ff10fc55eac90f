/*
 * cli_internal.h - what the files of the `coffer` tool share: the
 * subcommands' entry points, the shell's state, value formatting as cqlsh
 * shows values, result printing, and DESCRIBE.
 *
 * The shell's state travels in struct coffer_shell; there are no globals.
 */
#ifndef COFFER_CLI_CLI_INTERNAL_H
#define COFFER_CLI_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/client.h"
#include "keys/cache.h"
#include "keys/provider.h"
#include "schema/schema.h"
#include "storage/storage.h"
#include "util/bytes.h"

#define COFFER_VERSION "0.1.0"

/* Subcommands: argv[0] is the subcommand's name; the return is the exit
 * status. */
int coffer_cli_shell(int argc, char **argv);
int coffer_cli_verify(int argc, char **argv);
int coffer_cli_dump(int argc, char **argv);
int coffer_cli_keys(int argc, char **argv);

/* ---- the shell's state ---------------------------------------------------- */

struct coffer_shell {
	struct coffer_client *client;
	char keyspace[256];   /* the current keyspace ("" before USE) */
	bool interactive;     /* reading statements from a terminal */
	bool expand;          /* EXPAND ON: one block per row */
	bool color;           /* ANSI colours in the output */
	bool pager;           /* pause after a screenful (terminal output only) */
	bool quit;            /* EXIT/QUIT seen */
	int source_depth;     /* nested SOURCE files */
	/* The pager: lines written since the last pause, and whether the user
	 * asked to skip the rest of the current output. */
	int lines;
	bool skip_rest;
};

/* Writes one line of output (without its newline) through the pager. */
void coffer_shell_line(struct coffer_shell *sh, const char *text);
/* Starts the output of a new statement (resets the pager's count). */
void coffer_shell_output_begin(struct coffer_shell *sh);

/* ---- values as cqlsh shows them (format.c) --------------------------------- */

/* Appends `v` (NULL ptr: null) of type `t` to `plain`, and when `colored` is
 * not NULL the same text with ANSI colours to it. `quote`: text is quoted
 * (inside collections, and for CQL literals). */
void coffer_cli_format_value(const struct coffer_proto_type *t, struct coffer_slice v,
			     bool quote, struct coffer_buf *plain, struct coffer_buf *colored);
/* Appends `v` (not null) as COPY TO writes it in a CSV field: as
 * coffer_cli_format_value shows it unquoted, except that text is written
 * as it is (CSV quoting carries newlines and control characters) and
 * floats and doubles get the fewest digits that read back exactly. */
void coffer_cli_format_csv(const struct coffer_proto_type *t, struct coffer_slice v,
			   struct coffer_buf *out);
/* Display width of UTF-8 text (code points; invalid bytes count one each). */
size_t coffer_cli_text_width(const char *s, size_t n);

/* ---- result printing (output.c) ---------------------------------------------- */

/* Prints a ROWS result as cqlsh does: a table (or EXPAND blocks), a blank
 * line and "(N rows)". */
void coffer_shell_print_rows(struct coffer_shell *sh, const struct coffer_client_result *r);

/* ---- DESCRIBE (describe.c) ---------------------------------------------------- */

/* Runs a DESCRIBE command; `args` is the text after DESCRIBE/DESC. Returns
 * false (with the message printed to stderr by the caller's prefix) on an
 * error; *msg then holds a heap message the caller frees. */
bool coffer_shell_describe(struct coffer_shell *sh, const char *args, char **msg);

/* ---- RESTORE TABLE's progress (progress.c) ------------------------------------------ */

/* The target of a "RESTORE TABLE [ks.]t FROM ..." statement (unquoted names
 * folded to lower case; the session's keyspace when none is given); false
 * for any other statement. */
bool coffer_shell_restore_target(const char *stmt, const char *session_ks, char ks[256], char table[256]);
/* Follows the restore of ks.table until it is ACTIVE (true) or failed
 * (false, *msg a heap message naming the reason), drawing a progress bar on a
 * terminal and percentage lines otherwise. */
bool coffer_shell_restore_progress(struct coffer_shell *sh, const char *ks, const char *table, char **msg);
/* custom_properties (a serialized map<text, frozen<map<text, text>>>) without
 * what CREATE TABLE does not take: the 'restore' group and
 * point_in_time_recovery's earliest_restorable_timestamp. Appended to out; a
 * value that does not decode is copied as it is. */
void coffer_cli_writable_properties(struct coffer_slice in, struct coffer_buf *out);

/* ---- COPY (copy.c) --------------------------------------------------------------- */

/* Runs COPY; `args` is the text after COPY. Each bad CSV record or refused
 * row is reported on stderr as "file:line: ..."; false (with *msg, heap,
 * for the caller to report) when the command failed or any row was not
 * copied. */
bool coffer_shell_copy(struct coffer_shell *sh, const char *args, char **msg);

/* (copy_value.c) A column as COPY FROM reads into it. */
struct coffer_copy_column {
	const char *name;
	const char *type_text;               /* "list<int>", for messages */
	struct coffer_datatype *type;
};
/* A CSV field's text s[0..n) as the serialized value of `col`, appended to
 * `out` (nothing appended on failure); *is_null for a null inside the
 * literal's rules. Terms are built in `a`. False with *err (heap) naming
 * the problem. */
bool coffer_copy_field_value(struct coffer_arena *a, const struct coffer_copy_column *col,
			     const char *s, size_t n, struct coffer_buf *out, bool *is_null,
			     char **err);

/* Helpers DESCRIBE shares with COPY. Failures return false with *msg a heap
 * message (cqlsh's form for server errors) the caller frees. */
bool coffer_shell_query(struct coffer_shell *sh, const char *cql, struct coffer_client_result *res,
			char **msg);
/* A cell as text (heap), quoted as a CQL literal when `quote`. */
char *coffer_shell_cell_text(const struct coffer_client_result *r, size_t row, size_t col,
			     bool quote);
/* 'it''s' and an identifier, double-quoted when it must be. */
void coffer_shell_put_literal(struct coffer_buf *b, const char *s);
void coffer_shell_put_ident(struct coffer_buf *b, const char *s);
/* One identifier at *p (quoted exact, else folded to lower case), advancing
 * *p past it; NULL (heap otherwise) when there is none. */
char *coffer_shell_parse_ident(const char **p);
/* Past white space. */
const char *coffer_shell_skip_ws(const char *p);
/* Whether the word kw (any case, not followed by an identifier character)
 * is at *p (after white space); advances *p past it when it is. */
bool coffer_shell_keyword(const char **p, const char *kw);
/* [ks.]t: *ks NULL when absent; both heap. */
bool coffer_shell_parse_qualified(const char **p, char **ks, char **t);

/* A table's columns from system_schema.columns, in Cassandra's order:
 * partition key by position, clustering by position, the others by name. */
struct coffer_shell_column {
	char *name;
	char *kind;  /* partition_key, clustering, regular, static */
	char *order; /* asc, desc, none */
	char *type;  /* CQL text: "frozen<list<int>>" */
	int position;
	int rank;    /* sort class: 0 partition key, 1 clustering, 2 the rest */
};
/* *cols (heap; free with coffer_shell_columns_free) and *n; a table that
 * does not exist has no columns (n == 0). */
bool coffer_shell_table_columns(struct coffer_shell *sh, const char *ks, const char *t,
				struct coffer_shell_column **cols, size_t *n, char **msg);
void coffer_shell_columns_free(struct coffer_shell_column *cols, size_t n);

/* ---- the data directory, offline (offline.c) ------------------------------------ */

struct coffer_kms;
struct coffer_db_catalog;
struct coffer_db_catalog_table;

/* Where the keys are: the embedded KMS in DIR/kms (kms_url NULL), or a
 * remote KMS signing as the coffer-service principal, as cofferd's --kms
 * options say. */
struct coffer_offline_opts {
	const char *data_dir;
	const char *kms_url;
	const char *kms_credentials; /* AWS shared-credentials file */
	const char *kms_profile;     /* NULL: "default", else "coffer-service" */
	const char *kms_region;      /* NULL: "local" */
	const char *kms_ca;          /* NULL: the system store */
};

struct coffer_offline {
	char *data_dir, *kms_dir, *storage_dir;
	struct coffer_kms *kms;                /* embedded only */
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	struct coffer_storage_config scfg;     /* over DIR/data with the provider above */
	struct coffer_db_catalog *catalog;
	struct coffer_db_catalog_table *tables; /* the catalog's */
	size_t n_tables;
};

/* Opens cofferd's data directory while cofferd is stopped: the key provider
 * and the catalog. The caller closes it with coffer_offline_close(). */
COFFER_RESULT coffer_offline_open(const struct coffer_offline_opts *opts,
				  struct coffer_offline **out);
void coffer_offline_close(struct coffer_offline *o);

#endif
