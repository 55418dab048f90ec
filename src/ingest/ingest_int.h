/* Internals shared by the ingest module's files (ingest.c, upsert.c). Not a public header. */
#ifndef LH_INGEST_INT_H
#define LH_INGEST_INT_H

#include "core/duckdb_capi.h"
#include "ingest/ingest.h"

struct lh_ingest {
    lh_catalog *cat;
    lh_storage *st;
    duckdb_database db; /* runs only SQL we generate; never user SQL */
    char *tmp_dir;
    int compact_delta_files; /* automatic compaction threshold (0: never) */
};

typedef struct coldef {
    char *name;
    char *type;
    bool nullable;
} coldef;

typedef struct schema {
    coldef *cols;
    size_t n;
} schema;

/* Frees the columns of s (not s). */
void ing_schema_free(schema *s);
/* Appends a nullable column (copies strings). */
void ing_schema_add(schema *s, const char *name, const char *type);
/* The type of column name, or NULL. */
const char *ing_schema_type(const schema *s, const char *name);
/* Runs sql and returns its materialized result; LH_EINVAL with DuckDB's message. */
int ing_query(duckdb_connection c, const char *sql, duckdb_result *res, lh_error *err);
/* Columns (name, type) of SELECT * FROM rel, appended to out. */
int ing_describe(duckdb_connection c, const char *rel, schema *out, lh_error *err);
/* Rewrites DuckDB's multi-line reader error into one line naming file, line and column, and
 * records the line and column in where (may be NULL). */
int ing_reader_error(const char *name, const char *msg, lh_ingest_result *where, lh_error *err);
/* The CSV separator and field count read from the header line of path. */
void ing_detect_dialect(const char *path, char *delim, int *nfields);
/* Parses "a,b" into key columns that must all exist in m (m NULL: not checked); the caller
 * frees each string and the array. LH_EINVAL naming an unknown, empty or repeated column. */
int ing_key_parse(const char *spec, const lh_manifest *m, char ***out, size_t *n, lh_error *err);
/* Refuses (LH_EINVAL, naming up to five offending key values and their counts) if rel has
 * duplicate or NULL values of the key columns. */
int ing_key_check_unique(duckdb_connection c, const char *dataset, const char *rel,
                         char *const *key, size_t nkey, lh_error *err);
/* Rewrites the Parquet file at path sorted by the key columns in 2048-row groups (a lookup by
 * key then reads one row group). */
int ing_sort_by_key(duckdb_connection c, const char *path, char *const *key, size_t nkey,
                    lh_error *err);
/* Writes events (a SELECT with key, field, old_value, new_value, op) as one write-once
 * journal batch for dataset version; source NULL means "cli" for the CLI's identity, else
 * "api". *out_key receives its object key (caller frees). */
int ing_journal_write(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                      const char *dataset, int64_t version, const char *events_sql,
                      const char *source, const char *reason, int64_t *nevents, char **out_key,
                      lh_error *err);

#endif
