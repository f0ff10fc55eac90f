/*
 * ops.c - the operator's offline commands over cofferd's data directory
 * (cofferd stopped; offline.c opens the embedded KMS and the catalog):
 *
 *   coffer verify --data DIR [--table ks.t]   every block tag and key registry
 *   coffer dump FILE --data DIR               one SSTable or commit-log segment, decoded
 *   coffer keys status --data DIR [--table ks.t]
 *
 * Exit status: 0 all sound / done; 1 a problem found or a refusal (a key the
 * KMS will not unwrap, a damaged file); 2 bad usage.
 *
 * Invariants:
 *  1. verify and keys status print names, ids, states and block numbers,
 *     never a value; dump prints values (that is its job) only to stdout.
 *  2. A KMS refusal is said as "cannot unwrap the table key of X: <KMS
 *     error>", X being the table (verify, keys) or the file (dump).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_internal.h"
#include "db/db.h"
#include "keys/keyring.h"
#include "util/alloc.h"

static bool is_kms_refusal(coffer_rc rc)
{
	return rc >= COFFER_E_KMS_NOT_FOUND || rc == COFFER_E_UNAVAILABLE || rc == COFFER_E_TIMEOUT;
}

/* Common options: --data DIR, --table ks.t, the KMS options, --help; dump's
 * FILE may come before or after them (GNU getopt permutes). Returns -1 to go
 * on, else the exit status. */
struct op_opts {
	const char *table;
	const char *file;
	struct coffer_offline_opts off;
};

/* What every offline command's usage ends with. */
#define KMS_OPTIONS_USAGE \
	"  --kms URL              a remote KMS (coffer-kms or AWS KMS) holding the keys, as\n" \
	"                         cofferd's --kms; default: the embedded KMS in DIR/kms\n" \
	"  --kms-credentials F    the coffer-service principal's access key (an AWS\n" \
	"                         shared-credentials file), needed with --kms\n" \
	"  --kms-profile P        its profile (default: default, else coffer-service)\n" \
	"  --kms-region R         signing region (default local)\n" \
	"  --kms-ca F             PEM trust anchors for an https KMS (default: system store)\n" \
	"  --help                 this text\n"

static int parse_op_opts(int argc, char **argv, const char *usage, bool want_file,
			 struct op_opts *o)
{
	enum { O_KMS = 256, O_CREDS, O_PROFILE, O_REGION, O_CA };
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"table", required_argument, NULL, 't'},
		{"kms", required_argument, NULL, O_KMS},
		{"kms-credentials", required_argument, NULL, O_CREDS},
		{"kms-profile", required_argument, NULL, O_PROFILE},
		{"kms-region", required_argument, NULL, O_REGION},
		{"kms-ca", required_argument, NULL, O_CA},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "d:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->off.data_dir = optarg; break;
		case 't': o->table = optarg; break;
		case O_KMS: o->off.kms_url = optarg; break;
		case O_CREDS: o->off.kms_credentials = optarg; break;
		case O_PROFILE: o->off.kms_profile = optarg; break;
		case O_REGION: o->off.kms_region = optarg; break;
		case O_CA: o->off.kms_ca = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (want_file && optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "coffer: unexpected argument '%s'\n", argv[optind]);
		fputs(usage, stderr);
		return 2;
	}
	if (!o->off.data_dir || (want_file && !o->file)) {
		fputs(usage, stderr);
		return 2;
	}
	if (o->off.kms_url && !o->off.kms_credentials) {
		fprintf(stderr, "coffer: --kms %s needs --kms-credentials FILE (the coffer-service "
				"principal's access key)\n", o->off.kms_url);
		return 2;
	}
	if (!o->off.kms_url && (o->off.kms_credentials || o->off.kms_profile ||
				o->off.kms_region || o->off.kms_ca)) {
		fprintf(stderr, "coffer: --kms-credentials, --kms-profile, --kms-region and --kms-ca "
				"go with --kms URL\n");
		return 2;
	}
	return -1;
}

static int open_offline(const char *cmd, const struct op_opts *o, struct coffer_offline **out)
{
	if (coffer_offline_open(&o->off, out) != COFFER_OK) {
		fprintf(stderr, "coffer %s: %s: %s\n", cmd, coffer_rc_name(coffer_error_code()),
			coffer_error_msg());
		return 1;
	}
	return 0;
}

static bool table_selected(const struct coffer_db_catalog_table *t, const char *want)
{
	if (!want)
		return true;
	char *name = coffer_xasprintf("%s.%s", t->def->keyspace, t->def->name);
	bool ok = strcmp(name, want) == 0;
	free(name);
	return ok;
}

/* ---- verify ------------------------------------------------------------------ */

static const char verify_usage[] =
	"usage: coffer verify --data DIR [--table ks.t]\n"
	"\n"
	"Checks cofferd's files offline (stop cofferd first: the embedded KMS in\n"
	"DIR/kms admits one user; or give the remote KMS with --kms): for every table, the key registry (keys.reg, every\n"
	"record authenticated), the manifest, every SSTable (header, footer, index,\n"
	"bloom filter, statistics and every data block's tag) and every commit-log\n"
	"segment (every group's tag). Each problem is printed with its file and block.\n"
	"Nothing is written.\n"
	"\n"
	"  --data DIR             cofferd's data directory\n"
	"  --table ks.t           only this table\n"
	KMS_OPTIONS_USAGE
	"\n"
	"Exit status: 0 all sound, 1 a problem found (or a table key the KMS refuses),\n"
	"2 bad usage.\n";

static void on_finding(void *arg, bool is_problem, const char *file, const char *msg)
{
	(void)arg;
	if (strstr(msg, file))
		printf("  %s: %s\n", is_problem ? "PROBLEM" : "note", msg);
	else
		printf("  %s: %s: %s\n", is_problem ? "PROBLEM" : "note", file, msg);
}

int coffer_cli_verify(int argc, char **argv)
{
	struct op_opts o;
	struct coffer_offline *off = NULL;
	int r = parse_op_opts(argc, argv, verify_usage, false, &o);
	if (r >= 0)
		return r;
	if (open_offline("verify", &o, &off))
		return 1;
	uint64_t problems = 0, files = 0, blocks = 0;
	size_t seen = 0;
	for (size_t i = 0; i < off->n_tables; i++) {
		struct coffer_db_catalog_table *t = &off->tables[i];
		if (!table_selected(t, o.table))
			continue;
		seen++;
		struct coffer_verify_result res;
		printf("%s.%s (storage id %s)\n", t->def->keyspace, t->def->name, t->storage_id);
		coffer_rc rc = coffer_storage_verify(&off->scfg, &t->desc, on_finding, NULL, &res);
		if (rc != COFFER_OK) {
			if (is_kms_refusal(rc))
				printf("  PROBLEM: cannot unwrap the table key of %s.%s: %s: %s\n",
				       t->def->keyspace, t->def->name, coffer_rc_name(rc), coffer_error_msg());
			else
				printf("  PROBLEM: %s: %s\n", coffer_rc_name(rc), coffer_error_msg());
			problems++;
			continue;
		}
		printf("  %llu files, %llu blocks authenticated, %llu problems\n",
		       (unsigned long long)res.files, (unsigned long long)res.blocks,
		       (unsigned long long)res.problems);
		problems += res.problems;
		files += res.files;
		blocks += res.blocks;
	}
	if (o.table && !seen) {
		fprintf(stderr, "coffer verify: no table %s in the catalog\n", o.table);
		coffer_offline_close(off);
		return 1;
	}
	if (problems)
		printf("%llu problems found in %zu tables\n", (unsigned long long)problems, seen);
	else
		printf("all sound: %zu tables, %llu files, %llu blocks\n", seen,
		       (unsigned long long)files, (unsigned long long)blocks);
	coffer_offline_close(off);
	return problems ? 1 : 0;
}

/* ---- dump --------------------------------------------------------------------- */

static const char dump_usage[] =
	"usage: coffer dump FILE --data DIR\n"
	"\n"
	"Decodes one SSTable (SST-<id>.db) or commit-log segment (CL-<id>.log) of a\n"
	"table under DIR/data offline (stop cofferd first) and prints its entries:\n"
	"partition key, clustering, and cells with their timestamps, TTLs and\n"
	"tombstones, one line each, grouped by data block or commit-log group.\n"
	"It needs the table's KMS key (through the embedded KMS in DIR/kms, or a remote\n"
	"KMS with --kms) and\n"
	"refuses when the KMS will not unwrap the table key. Every block is\n"
	"authenticated before any of its entries is printed.\n"
	"\n"
	"  --data DIR             cofferd's data directory\n"
	KMS_OPTIONS_USAGE
	"\n"
	"Exit status: 0 done, 1 a refusal or a damaged file, 2 bad usage.\n";

struct dump_ctx {
	const struct coffer_db_catalog_table *t;
	uint64_t block;
	bool any;
	uint64_t entries;
	struct coffer_buf line;
};

static const struct coffer_column *key_column(const struct coffer_tabledef *d, enum coffer_column_kind k,
					      size_t pos)
{
	for (size_t i = 0; i < d->ncolumns; i++)
		if (d->columns[i].kind == k && d->columns[i].position == (int32_t)pos)
			return &d->columns[i];
	return NULL;
}

static void put_value(struct coffer_buf *b, const struct coffer_column *c, struct coffer_slice v)
{
	if (c)
		coffer_value_format(c->type, v, b);
	else
		coffer_value_format(coffer_datatype_of(COFFER_DT_BLOB), v, b);
}

/* Partition key components: one as is; several as (u16 len, bytes, 0x00). */
static void put_partition_key(struct coffer_buf *b, const struct coffer_tabledef *d, struct coffer_slice pk)
{
	coffer_buf_put_u8(b, '(');
	if (d->npartition <= 1) {
		const struct coffer_column *c = key_column(d, COFFER_COLUMN_PARTITION_KEY, 0);
		coffer_buf_printf(b, "%s=", c ? c->name : "key");
		put_value(b, c, pk);
	} else {
		struct coffer_reader r;
		coffer_reader_init(&r, pk, "partition key");
		for (size_t i = 0; i < d->npartition && !coffer_reader_done(&r); i++) {
			uint16_t n;
			struct coffer_slice v;
			uint8_t z;
			if (coffer_reader_u16(&r, &n) != COFFER_OK || coffer_reader_bytes(&r, n, &v) != COFFER_OK ||
			    coffer_reader_u8(&r, &z) != COFFER_OK)
				break;
			const struct coffer_column *c = key_column(d, COFFER_COLUMN_PARTITION_KEY, i);
			coffer_buf_printf(b, "%s%s=", i ? ", " : "", c ? c->name : "?");
			put_value(b, c, v);
		}
	}
	coffer_buf_put_u8(b, ')');
}

static void put_clustering(struct coffer_buf *b, const struct coffer_tabledef *d,
			   const struct coffer_slice *ck, size_t n)
{
	coffer_buf_put_u8(b, '(');
	for (size_t i = 0; i < n; i++) {
		const struct coffer_column *c = key_column(d, COFFER_COLUMN_CLUSTERING, i);
		coffer_buf_printf(b, "%s%s=", i ? ", " : "", c ? c->name : "?");
		put_value(b, c, ck[i]);
	}
	coffer_buf_put_u8(b, ')');
}

static void put_time_us(struct coffer_buf *b, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	char txt[64];
	gmtime_r(&s, &tm);
	strftime(txt, sizeof(txt), "%Y-%m-%dT%H:%M:%S", &tm);
	coffer_buf_printf(b, "%s.%06lldZ", txt, (long long)((us % 1000000 + 1000000) % 1000000));
}

static bool on_entry(void *arg, const struct coffer_dump_entry *e)
{
	struct dump_ctx *dc = arg;
	const struct coffer_tabledef *d = dc->t->def;
	struct coffer_buf *b = &dc->line;
	if (!dc->any || e->block != dc->block) {
		printf("block %llu\n", (unsigned long long)e->block);
		dc->block = e->block;
		dc->any = true;
	}
	dc->entries++;
	coffer_buf_reset(b);
	coffer_buf_printf(b, "  token %lld pk ", (long long)e->token);
	put_partition_key(b, d, e->partition_key);
	switch (e->kind) {
	case COFFER_DUMP_PARTITION_DELETE:
		coffer_buf_printf(b, " partition deleted");
		break;
	case COFFER_DUMP_RANGE_DELETE:
		coffer_buf_printf(b, " range deleted %s", e->start_inclusive ? "[" : "(");
		put_clustering(b, d, e->ck, e->n_ck);
		coffer_buf_printf(b, " .. ");
		put_clustering(b, d, e->end_ck, e->n_end_ck);
		coffer_buf_printf(b, "%s", e->end_inclusive ? "]" : ")");
		break;
	case COFFER_DUMP_ROW_DELETE:
		coffer_buf_printf(b, " ck ");
		put_clustering(b, d, e->ck, e->n_ck);
		coffer_buf_printf(b, " row deleted");
		break;
	case COFFER_DUMP_ROW_MARKER:
		coffer_buf_printf(b, " ck ");
		put_clustering(b, d, e->ck, e->n_ck);
		coffer_buf_printf(b, " row marker");
		break;
	case COFFER_DUMP_STATIC_CELL:
	case COFFER_DUMP_CELL: {
		const char *name = coffer_db_catalog_column_name(dc->t, e->column);
		const struct coffer_column *c = name ? coffer_tabledef_column(d, name, true) : NULL;
		if (e->kind == COFFER_DUMP_STATIC_CELL) {
			coffer_buf_printf(b, " static");
		} else {
			coffer_buf_printf(b, " ck ");
			put_clustering(b, d, e->ck, e->n_ck);
		}
		if (name)
			coffer_buf_printf(b, " %s", name);
		else
			coffer_buf_printf(b, " column#%u (dropped)", e->column);
		if (e->tombstone) {
			coffer_buf_printf(b, " deleted");
		} else {
			coffer_buf_printf(b, " = ");
			put_value(b, c, e->value);
		}
		break;
	}
	}
	coffer_buf_printf(b, " ts %lld (", (long long)e->ts);
	put_time_us(b, e->ts);
	coffer_buf_put_u8(b, ')');
	if (e->expiring) {
		coffer_buf_printf(b, " ttl %u expires ", e->ttl);
		put_time_us(b, e->ldt_us);
	} else if (e->tombstone && e->ldt_us) {
		coffer_buf_printf(b, " deleted at ");
		put_time_us(b, e->ldt_us);
	}
	fwrite(b->ptr, 1, b->len, stdout);
	fputc('\n', stdout);
	return true;
}

/* The table a file belongs to: its directory is the storage id without dashes. */
static struct coffer_db_catalog_table *table_of_file(struct coffer_offline *o, const char *path,
						  const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	if (!slash)
		return NULL;
	const char *dstart = slash;
	while (dstart > path && dstart[-1] != '/')
		dstart--;
	size_t dl = (size_t)(slash - dstart);
	for (size_t i = 0; i < o->n_tables; i++) {
		char nodash[COFFER_UUID_STR_LEN + 1];
		size_t k = 0;
		for (const char *p = o->tables[i].storage_id; *p; p++)
			if (*p != '-')
				nodash[k++] = *p;
		nodash[k] = 0;
		if (dl == k && strncmp(dstart, nodash, dl) == 0)
			return &o->tables[i];
	}
	return NULL;
}

int coffer_cli_dump(int argc, char **argv)
{
	struct op_opts o;
	struct coffer_offline *off = NULL;
	int r = parse_op_opts(argc, argv, dump_usage, true, &o);
	if (r >= 0)
		return r;
	if (open_offline("dump", &o, &off))
		return 1;
	const char *base;
	struct coffer_db_catalog_table *t = table_of_file(off, o.file, &base);
	if (!t) {
		fprintf(stderr, "coffer dump: %s: not a file of any table in %s/data (expected "
				"DIR/data/<storage id>/SST-<id>.db or CL-<id>.log)\n", o.file, o.off.data_dir);
		coffer_offline_close(off);
		return 1;
	}
	struct dump_ctx dc = {.t = t};
	printf("%s: table %s.%s (storage id %s)\n", o.file, t->def->keyspace, t->def->name,
	       t->storage_id);
	fflush(stdout);
	coffer_rc rc = coffer_storage_dump(&off->scfg, &t->desc, base, on_entry, &dc);
	coffer_buf_free(&dc.line);
	fflush(stdout);
	int status = 0;
	if (rc != COFFER_OK && is_kms_refusal(rc)) {
		fprintf(stderr, "coffer dump: cannot unwrap the table key of %s: %s: %s\n", o.file,
			coffer_rc_name(rc), coffer_error_msg());
		status = 1;
	} else if (rc != COFFER_OK) {
		fprintf(stderr, "coffer dump: %s: %s: %s\n", o.file, coffer_rc_name(rc), coffer_error_msg());
		status = 1;
	} else {
		printf("(%llu entries)\n", (unsigned long long)dc.entries);
	}
	coffer_offline_close(off);
	return status;
}

/* ---- keys status ------------------------------------------------------------------- */

static const char keys_usage[] =
	"usage: coffer keys status --data DIR [--table ks.t] [--kms URL --kms-credentials F]\n"
	"\n"
	"For each table (offline; stop cofferd first): the KMS key protecting its\n"
	"table key, that key's state (DescribeKey), the table key version and the\n"
	"number of live data keys in its key registry (both need the table key\n"
	"unwrapped), and the table's status as cofferd stored it in the catalog\n"
	"(ACTIVE, INACCESSIBLE_ENCRYPTION_CREDENTIALS, ...). A line below a table\n"
	"says why when its key cannot be unwrapped now or its stored status is not\n"
	"ACTIVE.\n"
	"\n"
	"  --data DIR             cofferd's data directory\n"
	"  --table ks.t           only this table\n"
	KMS_OPTIONS_USAGE
	"\n"
	"Exit status: 0 every table's key is usable, 1 otherwise, 2 bad usage.\n";

static const char *key_state_name(enum coffer_key_state s)
{
	switch (s) {
	case COFFER_KEY_STATE_ENABLED: return "Enabled";
	case COFFER_KEY_STATE_DISABLED: return "Disabled";
	case COFFER_KEY_STATE_PENDING_DELETION: return "PendingDeletion";
	}
	return "Unknown";
}

int coffer_cli_keys(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(keys_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "status") != 0) {
		fprintf(stderr, "coffer keys: unknown subcommand '%s'\n", argv[1]);
		fputs(keys_usage, stderr);
		return 2;
	}
	struct op_opts o;
	struct coffer_offline *off = NULL;
	int r = parse_op_opts(argc - 1, argv + 1, keys_usage, false, &o);
	if (r >= 0)
		return r;
	if (open_offline("keys status", &o, &off))
		return 1;
	int status = 0;
	size_t seen = 0;
	printf("%-24s %-76s %-16s %-10s %-9s %s\n", "table", "kms_key", "key_state", "tk_version",
	       "data_keys", "status");
	for (size_t i = 0; i < off->n_tables; i++) {
		struct coffer_db_catalog_table *t = &off->tables[i];
		if (!table_selected(t, o.table))
			continue;
		seen++;
		char name[512], state[64] = "?", version[16] = "?", keys[16] = "?";
		char why[1024] = "";
		snprintf(name, sizeof(name), "%s.%s", t->def->keyspace, t->def->name);
		struct coffer_key_description kd;
		coffer_rc rc = coffer_key_provider_describe_key(off->provider, t->kms_key_arn, &kd);
		if (rc == COFFER_OK)
			snprintf(state, sizeof(state), "%s", key_state_name(kd.state));
		else
			snprintf(state, sizeof(state), "%s", coffer_rc_name(rc));
		struct coffer_keyring_info info;
		rc = coffer_storage_key_info(&off->scfg, &t->desc, &info);
		if (rc == COFFER_OK) {
			snprintf(version, sizeof(version), "%u", info.version);
			snprintf(keys, sizeof(keys), "%zu", info.data_keys);
		} else {
			snprintf(why, sizeof(why), "%s: %s", coffer_rc_name(rc), coffer_error_msg());
			status = 1;
		}
		printf("%-24s %-76s %-16s %-10s %-9s %s\n", name, t->kms_key_arn, state, version, keys,
		       t->status);
		if (why[0])
			printf("  cannot unwrap the table key of %s: %s\n", name, why);
		if (t->status_reason)
			printf("  stored status %s: %s\n", t->status, t->status_reason);
		if (rc == COFFER_OK && info.recorded_kms_call.time_us) {
			/* cofferd's last recorded KMS call for the table (keys.reg) */
			time_t secs = (time_t)(info.recorded_kms_call.time_us / COFFER_US_PER_SEC);
			struct tm tm;
			char when[32];
			gmtime_r(&secs, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf("  last KMS call of %s: %s %s at %s\n", name,
			       coffer_key_provider_op_name(info.recorded_kms_call.op), info.recorded_kms_call.result,
			       when);
		}
	}
	if (o.table && !seen) {
		fprintf(stderr, "coffer keys status: no table %s in the catalog\n", o.table);
		status = 1;
	}
	coffer_offline_close(off);
	return status;
}
