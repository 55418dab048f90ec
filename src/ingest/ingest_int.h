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
    char *wal_dir;           /* where the write-ahead log lives (wal.c) */
    int wal_max_rows;        /* 0: no log */
    int wal_flush_ms;
    struct ing_wal *wal; /* the started log, or NULL */
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

/* Writes events (a SELECT with ts, key, field, old_value, new_value, op, actor, profile,
 * source, reason) as one write-once journal batch for dataset version. *out_key receives its
 * object key (caller frees). */
int ing_journal_write_rows(lh_ingest *ing, duckdb_connection c, const char *dataset,
                           int64_t version, const char *events_sql, int64_t *nevents,
                           char **out_key, lh_error *err);
/* Appends events_sql (key, field, old_value, new_value, op) with ts = now and who's actor,
 * profile, the source and reason: the SELECT ing_journal_write_rows takes. */
void ing_events_with_who(lh_buf *out, const lh_identity *who, const char *source,
                         const char *reason, const char *events_sql);
/* The journal source of a mutation: source, or "cli"/"api" by who (borrowed). */
const char *ing_journal_source(const lh_identity *who, const char *source);

/* Upsert's computation on c without a commit: loads path, checks it against cur and leaves
 * temp tables lh_batch (typed input, last row per key), lh_old (current rows of its keys:
 * pending's rows, newer than cur, win) and lh_delta (resulting whole rows with LH_DELTA_SEQ =
 * seq); events gets their journal events SQL (key, field, old_value, new_value, op), given[i]
 * whether column i was in the input, r the counts (noop if nothing changes), *ndelta (may be
 * NULL) the rows in lh_delta. dkey: the delta file's object key when known (a bulk insert's
 * events then name it), else NULL. */
int ing_upsert_prepare(lh_ingest *ing, duckdb_connection c, const lh_manifest *cur,
                       const char *pending, const char *path, const lh_upsert_opts *o,
                       const char *name, int64_t seq, const char *dkey, bool *given,
                       lh_upsert_result *r, lh_buf *events, int64_t *ndelta, lh_error *err);

/* A commit of temp table lh_delta (on the connection) on top of cur. */
typedef struct ing_commit_spec {
    const lh_manifest *cur;
    const char *events_sql; /* full journal rows (see ing_journal_write_rows) */
    int64_t ndelta;         /* rows in lh_delta */
    int64_t net_rows;       /* inserted - deleted keys */
    const char *op, *reason;
    const char *delta_key; /* the delta file's object key (the one prepare's events name), or
                              NULL for a new one */
    const char *wal_id;    /* the log mark to record, or NULL */
    int64_t wal_seq;
} ing_commit_spec;
/* Writes lh_delta as a delta file and the events as a journal batch, then commits both as
 * version cur->version + 1 (LH_ECONFLICT if another writer got it; the objects are removed
 * on failure). *version and *nevents receive the version and the events written. */
int ing_delta_commit(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                     const ing_commit_spec *s, int64_t *version, int64_t *nevents, lh_error *err);
/* The upsert through the write-ahead log: LH_OK when acknowledged (or noop), WAL_TOO_BIG when
 * the batch is too large for the log (the caller commits directly; pending records of the
 * dataset are committed first). */
int ing_wal_upsert(lh_ingest *ing, const lh_identity *who, const char *path,
                   const lh_upsert_opts *o, const char *name, lh_upsert_result *r, lh_error *err);
/* The current rows of m (at m->version) where `where` holds, from the query engine's memory
 * (lh_ingest_wal_hooks.current): LH_OK with *rows set (caller frees), LH_ENOENT when the
 * log is not started, has no such hook or the engine does not hold that version. */
int ing_wal_current(lh_ingest *ing, const lh_manifest *m, const char *where, json_t **rows);
/* Compacts dataset if its deltas passed the automatic policy (compact_delta_files, or many
 * delta rows); returns the version compaction committed, or 0 (none, or it failed: logged). */
int64_t ing_auto_compact(lh_ingest *ing, const lh_identity *who, const char *dataset);
/* Stops the flush thread after committing everything, releases the log. Accepts NULL. */
void ing_wal_close(lh_ingest *ing);

#define WAL_TOO_BIG 1
#define ING_NOT_SMALL 2

/* The input's format: from the name's extension, else '{' first means NDJSON, else CSV. */
lh_ingest_format ing_guess_format(const char *name, const char *path);
/* True if every column of m is a plain (not nested) type: its values go through text and back
 * unchanged (lh_manifest_rows_sql). */
bool ing_scalar_columns(const lh_manifest *m);

/* Statements the small upsert prepared, per connection (upsert_small.c). */
typedef struct ing_small ing_small;
/* A new, empty set (caller frees with ing_small_free). Never fails. */
ing_small *ing_small_new(void);
/* Destroys every prepared statement (call when a table they read is re-created). */
void ing_small_reset(ing_small *s);
/* Destroys the set. Accepts NULL. */
void ing_small_free(ing_small *s);
/* A small upsert (del: delete) of the input data[0..len) (the file at path) on scan (the dataset's
 * version the write-ahead log builds on; base files only when pending covers its deltas), with
 * pending (a table of newer rows per key, deletes flagged) or NULL, computed in C with
 * statements prepared once on c: sets *r as ing_upsert_prepare does, *whole to the delta's
 * rows (text arrays: columns, then "false"), *events to the journal rows (key, field,
 * old_value, new_value, op) and *fresh to a flag per delta row: pending holds no row of its
 * key; all three for the caller to free. ING_NOT_SMALL (nothing set): the
 * input is not small, unusual or wrong — the general path must run and word any error;
 * another code: a failure reading the current rows. */
int ing_upsert_small(lh_ingest *ing, ing_small *s, duckdb_connection c, const lh_manifest *scan,
                     const char *pending, const char *path, const char *data, size_t len,
                     lh_ingest_format fmt, bool del, lh_upsert_result *r, json_t **whole,
                     json_t **events, bool **fresh, lh_error *err);

#endif
