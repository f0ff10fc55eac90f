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

/* ---- the data directory, offline (offline.c) ------------------------------------ */

struct coffer_offline_col_id {
	char *name;
	uint32_t id;
};

/* One table of the catalog, with what storage needs to open it read-only. */
struct coffer_offline_table {
	struct coffer_tabledef *def;
	char kms_key_arn[COFFER_KEY_ARN_MAX];
	char storage_id[COFFER_UUID_STR_LEN + 1];
	struct coffer_offline_col_id *col_ids; /* storage column ids */
	size_t n_col_ids;
	struct coffer_table_desc desc;         /* borrows def and storage_id */
};

struct coffer_kms;
struct coffer_offline {
	char *data_dir, *kms_dir, *storage_dir;
	struct coffer_kms *kms;
	struct coffer_key_provider *provider;
	struct coffer_key_cache *cache;
	struct coffer_storage_config scfg;     /* over DIR/data with the provider above */
	struct coffer_offline_table *tables;
	size_t n_tables;
};

/* Opens cofferd's data directory DIR while cofferd is stopped: the embedded
 * KMS in DIR/kms (fails if cofferd holds it) and the catalog. The caller
 * closes it with coffer_offline_close(). */
COFFER_RESULT coffer_offline_open(const char *data_dir, struct coffer_offline **out);
void coffer_offline_close(struct coffer_offline *o);
/* The column name of a storage column id, NULL for a dropped one. */
const char *coffer_offline_column_name(const struct coffer_offline_table *t, uint32_t id);

#endif
