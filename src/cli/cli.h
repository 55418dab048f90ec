/* Internals of the lakehouse program: shared set-up for subcommands. */
#ifndef LH_CLI_H
#define LH_CLI_H

#include "catalog/catalog.h"
#include "core/core.h"
#include "storage/storage.h"

/* What every data subcommand opens: config, store, catalog. */
typedef struct cli_env {
    lh_config base; /* the configuration as loaded (every bucket; flags applied) */
    lh_config cfg;  /* the same for the bucket worked on (lh_config_for_bucket) */
    lh_storage *st;
    lh_catalog *cat;
} cli_env;

/* Loads the config (file, env, then the flags collected in `flags`), sets up logging and
 * opens storage and catalog. Prints the error and returns non-zero on failure. */
int cli_env_open(cli_env *env, const char *config_path, char **flags, int nflags);
/* Closes what cli_env_open opened. */
void cli_env_close(cli_env *env);

/* Capacity of the flags array given to cli_take_common: a (key, value) pair per common flag. */
#define CLI_MAX_FLAGS 16

/* Parses the common flags out of argv in place: --config, --data, --listen, --bucket, each at
 * most once, into flags (CLI_MAX_FLAGS entries). Returns the new argc (remaining arguments
 * keep their order) or -1 on a usage error (a flag without a value or given twice), printed. */
int cli_take_common(int argc, char **argv, const char **config_path, char **flags, int *nflags);

/* Prints an error as "lakehouse <cmd>: <message>" on stderr. */
void cli_fail(const char *cmd, const lh_error *err);

/* Prints a JSON query result ({columns, rows, ...}) as an aligned text table on stdout. */
void cli_print_table(const char *json);

/* Progress bar on stderr when it is a terminal; silent otherwise. */
typedef struct cli_progress {
    const char *label;
    bool tty;
    int last_pct;
    uint64_t started_ns;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label);
/* lh_ingest_opts-compatible progress callback: ctx is a cli_progress. */
void cli_progress_update(void *ctx, double fraction);
void cli_progress_done(cli_progress *p, const char *summary);

/* After an ingest into dataset: rebuilds its text indexes (when changed, or when their column
 * is listed) and builds one for each listed column that has none, in the foreground with a
 * progress bar. Prints errors; returns non-zero on failure. */
int cli_embed_after_ingest(cli_env *env, const char *dataset, const char *const *columns,
                           size_t ncolumns, bool changed);

int cmd_serve(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_sql(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_upsert(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
