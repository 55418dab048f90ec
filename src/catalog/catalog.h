/*
 * catalog — the sole metadata authority: datasets and their versioned manifests.
 *
 * Layout: _catalog/<dataset>/v00000042.json, one immutable JSON manifest per version.
 * A commit is a put-if-absent of the next version key: of two writers racing for the
 * same version exactly one wins; the loser re-reads and retries (lh_catalog_update) or
 * gets LH_ECONFLICT. A reader always sees a complete version because a manifest only
 * becomes visible by an atomic create. Manifests hold pointers (object keys), never data.
 */
#ifndef LH_CATALOG_H
#define LH_CATALOG_H

#include <jansson.h>

#include "core/core.h"
#include "core/duckdb_capi.h"
#include "storage/storage.h"

typedef struct lh_catalog lh_catalog;

/* One column of a dataset's schema. Strings owned by the manifest. */
typedef struct lh_column {
    char *name;
    char *type; /* DuckDB type name: BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP, BOOLEAN, VARCHAR[]
                   ... */
    bool nullable;
} lh_column;

/* One immutable Parquet data file of a dataset version. */
typedef struct lh_data_file {
    char *key;             /* object key, e.g. data/candidates/<uuid>.parquet */
    int64_t size;          /* bytes */
    int64_t rows;          /* physical rows in the file */
    int64_t net_rows;      /* delta only: rows it adds to the dataset (inserted - deleted) */
    int64_t added_version; /* version that added it */
    bool delta;            /* an upsert/delete delta (data/<dataset>/_delta/): merged on read */
} lh_data_file;

/* One ingested source, kept so that re-ingesting the same bytes is a no-op. */
typedef struct lh_source {
    char sha256[LH_SHA256_HEX];
    char *name; /* file name as given by the user (no directories) */
    int64_t bytes;
    int64_t rows;
    int64_t at_us;
    int64_t version; /* version that ingested it */
} lh_source;

/* A dataset version. All memory owned by the struct; free with lh_manifest_free. */
typedef struct lh_manifest {
    char *dataset;
    int64_t version;        /* 1, 2, ... */
    int64_t created_us;     /* when version 1 was committed */
    int64_t updated_us;     /* when this version was committed */
    int64_t schema_version; /* bumps when columns change */
    lh_column *columns;
    size_t ncolumns;
    lh_data_file *files;
    size_t nfiles;
    lh_source *sources;
    size_t nsources;
    int64_t rows;     /* logical rows: base file rows plus each delta's net_rows */
    int64_t bytes;    /* sum of file sizes */
    char *op;         /* what made this version: "ingest", "append", "resync", ... */
    char *actor;      /* identity actor that committed it */
    char *profile;    /* identity profile that committed it */
    json_t *metadata; /* free-form object: owner, description, tags, ... (never NULL) */
    char **key;       /* primary key columns (none: no key; upserts need one) */
    size_t nkey;
    char **journal; /* object keys of this dataset's journal batches, oldest first */
    size_t njournal;
    /* The local write-ahead log whose records this dataset holds up to wal_seq (ADR 0012):
     * the log's id ("" if none), the highest record seq committed, and the version that
     * committed it (later versions carry the mark unchanged). Makes replay idempotent. */
    char *wal_id;
    int64_t wal_seq;
    int64_t wal_version;
} lh_manifest;

/* Columns every delta file carries after the dataset's own: the commit version that wrote
 * the row (later wins) and whether the row deletes its key. */
#define LH_DELTA_SEQ "__lh_seq"
#define LH_DELTA_DELETED "__lh_deleted"

/* Opens the catalog over a store (borrowed; must outlive the catalog). */
int lh_catalog_open(lh_storage *st, lh_catalog **out, lh_error *err);
/* Closes the catalog. Accepts NULL. */
void lh_catalog_close(lh_catalog *c);
/* The store the catalog was opened on (borrowed). */
lh_storage *lh_catalog_storage(lh_catalog *c);

/* Names of all datasets, sorted; caller frees each and the array (lh_catalog_names_free). */
int lh_catalog_list(lh_catalog *c, const lh_identity *who, char ***names, size_t *count,
                    lh_error *err);
/* Frees a name array from lh_catalog_list. */
void lh_catalog_names_free(char **names, size_t count);
/* Loads a dataset's manifest at version (0 = latest). LH_ENOENT if no such dataset/version.
 * Caller frees *out with lh_manifest_free. */
int lh_catalog_get(lh_catalog *c, const lh_identity *who, const char *dataset, int64_t version,
                   lh_manifest **out, lh_error *err);
/* All committed version numbers of a dataset, ascending; caller frees *versions. */
int lh_catalog_versions(lh_catalog *c, const lh_identity *who, const char *dataset,
                        int64_t **versions, size_t *count, lh_error *err);

/* The latest version of dataset committed at or before as_of_us (µs since epoch, compared to
 * the millisecond), by binary search over the committed versions. LH_ENOENT (err says when
 * the dataset was created) if it did not exist yet then. */
int lh_catalog_version_at(lh_catalog *c, const lh_identity *who, const char *dataset,
                          int64_t as_of_us, int64_t *version, lh_error *err);

/* Commits next as version next->version, which must be (latest version + 1), or 1 for a new
 * dataset. Sets updated_us, created_us, schema_version, actor and profile, stamps files and
 * sources new in this version with its number, and recomputes rows/bytes from the files.
 * LH_ECONFLICT (err names the version) if another writer committed that version first;
 * LH_EINVAL if version - 1 does not exist or next is malformed; nothing is changed then. */
int lh_catalog_commit(lh_catalog *c, const lh_identity *who, lh_manifest *next, lh_error *err);

/* Builds the next version from the latest one (cur is NULL when the dataset does not exist
 * yet). The callback fills *next (a new manifest; version is set by the catalog) or returns
 * an error code to abort; returning LH_EEXIST with *next NULL means "nothing to do". */
typedef int (*lh_catalog_update_fn)(void *ctx, const lh_manifest *cur, lh_manifest **next,
                                    lh_error *err);
/* Read-modify-commit with retry: calls fn on the latest version and commits its result;
 * on a lost race re-reads and calls fn again, up to a bounded number of attempts, then
 * LH_ECONFLICT. On success *committed (if non-NULL) receives the committed version number. */
int lh_catalog_update(lh_catalog *c, const lh_identity *who, const char *dataset,
                      lh_catalog_update_fn fn, void *ctx, int64_t *committed, lh_error *err);

/* What lh_catalog_gc found and did. */
typedef struct lh_gc_report {
    int64_t scanned;       /* data objects looked at */
    int64_t referenced;    /* of those, referenced by some committed version */
    int64_t removed;       /* unreferenced and old enough: deleted (dry run: would be) */
    int64_t removed_bytes; /* their size */
    int64_t young;         /* unreferenced but younger than the grace period: kept */
} lh_gc_report;

/* Deletes data objects (data/<dataset>/...) that no committed version of their dataset
 * references and that are older than grace_s seconds — files left by writers killed between
 * upload and commit. Every version is kept readable: references are taken from all of them.
 * The grace period protects writes in flight (their file is uploaded just before the
 * commit). dataset NULL = every dataset. dry_run only reports. Fails on listing/read errors
 * (nothing deleted after the first failure). */
int lh_catalog_gc(lh_catalog *c, const lh_identity *who, const char *dataset, int64_t grace_s,
                  bool dry_run, lh_gc_report *out, lh_error *err);

/* Rebuilds the dataset's schema, file sizes and row counts from the Parquet footers of its
 * current files and commits them as a new version (op "resync"). */
int lh_catalog_resync(lh_catalog *c, const lh_identity *who, const char *dataset,
                      int64_t *committed, lh_error *err);

/* A deep copy of m (version unchanged); never NULL. */
lh_manifest *lh_manifest_clone(const lh_manifest *m);
/* An empty manifest for a new dataset. */
lh_manifest *lh_manifest_new(const char *dataset);
/* Frees a manifest. Accepts NULL. */
void lh_manifest_free(lh_manifest *m);
/* Serializes to the JSON stored in the lake; caller json_decref()s. */
json_t *lh_manifest_to_json(const lh_manifest *m);
/* Parses a stored manifest; LH_ECORRUPT with err naming the field if malformed. */
int lh_manifest_from_json(const json_t *j, lh_manifest **out, lh_error *err);
/* Appends a column (copies strings). */
void lh_manifest_add_column(lh_manifest *m, const char *name, const char *type, bool nullable);
/* Appends a data file (copies the key) and updates rows/bytes totals. Its added_version is
 * provisional until lh_catalog_commit stamps it. */
void lh_manifest_add_file(lh_manifest *m, const char *key, int64_t size, int64_t rows);
/* Appends a delta file (an upsert/delete batch) that adds net_rows logical rows (inserted -
 * deleted keys; may be negative); like lh_manifest_add_file otherwise. */
void lh_manifest_add_delta(lh_manifest *m, const char *key, int64_t size, int64_t rows,
                           int64_t net_rows);
/* Physical rows of m: every file's rows, deltas included (a key updated twice counts 3). */
int64_t lh_manifest_physical_rows(const lh_manifest *m);
/* Replaces the primary key with cols[0..n) (copies; n = 0 removes it). */
void lh_manifest_set_key(lh_manifest *m, const char *const *cols, size_t n);
/* Appends a journal batch object key (copies). */
void lh_manifest_add_journal(lh_manifest *m, const char *key);
/* The column named name, or NULL. */
const lh_column *lh_manifest_column(const lh_manifest *m, const char *name);
/* The index of column name in m->columns, or SIZE_MAX if m has none. */
size_t lh_manifest_column_index(const lh_manifest *m, const char *name);
/* m's columns with their types, then its key, as one string (caller frees): two manifests
 * whose rows fit the same table and key have the same shape. Never fails. */
char *lh_manifest_shape(const lh_manifest *m);
/* The key of a text row (lh_manifest_rows_sql's arrays) as one string: the key columns' texts
 * joined by 0x1f (caller frees). Never fails. */
char *lh_manifest_row_key(const lh_manifest *m, const json_t *row);
/* Number of delta files in m. */
size_t lh_manifest_ndeltas(const lh_manifest *m);
/* Appends ['path', ...] (SQL literals) of m's local file copies, delta or base files, leaving
 * out the keys in skip; *count (may be NULL) gets how many. LH_EUNSUPPORTED if a file has
 * no local path. */
int lh_manifest_file_list(lh_storage *st, const lh_manifest *m, bool delta, char *const *skip,
                          size_t nskip, lh_buf *out, size_t *count, lh_error *err);
/* Appends to out a SELECT returning the dataset's rows at m: base files plus deltas merged
 * on read (latest row per key wins, deleted keys dropped) in one DuckDB plan. Files are read
 * in place (the store must have local paths: LH_EUNSUPPORTED otherwise). */
int lh_manifest_scan_sql(lh_storage *st, const lh_manifest *m, lh_buf *out, lh_error *err);
/* lh_manifest_scan_sql with where (a SQL predicate over the key columns only, or NULL) applied
 * inside every file scan, base and delta, so a lookup by key reads few rows of each; a
 * predicate on other columns would break the merge. Same ownership and failures. */
int lh_manifest_scan_sql_where(lh_storage *st, const lh_manifest *m, const char *where, lh_buf *out,
                               lh_error *err);
/* Appends "SELECT <m's columns, each CAST from text to its type>, LH_DELTA_DELETED, c<n+1>..
 * FROM (VALUES ...)" over rows: a JSON array of arrays holding m's n column values as text or
 * null, then "true" if the row deletes its key, then `extra` more text values (columns
 * c<n+1>, c<n+2>, ...). No rows: a SELECT of none. Write-ahead log rows (ADR 0012). */
void lh_manifest_rows_sql(const lh_manifest *m, const json_t *rows, size_t extra, lh_buf *out);
/* Appends "CAST(<col> AS VARCHAR), " for each of m's columns: a SELECT list of the text
 * lh_manifest_rows_sql takes back (the caller appends the deleted flag and FROM). */
void lh_manifest_text_columns(const lh_manifest *m, lh_buf *out);
/* The inverse: runs sql on c and sets *out (caller frees) to its rows as a JSON array of
 * arrays of text or null; LH_EINVAL with DuckDB's message (nothing set). */
int lh_duckdb_rows_json(duckdb_connection c, const char *sql, json_t **out, lh_error *err);
/* The rows of a materialized result as lh_duckdb_rows_json gives them (caller frees). */
json_t *lh_duckdb_result_json(duckdb_result *res);
/* Appends "CREATE OR REPLACE TABLE <table> (<m's columns and types>, <seq_col> BIGINT,
 * LH_DELTA_DELETED BOOLEAN)": the shape of the tables lh_row_writer_replace writes. */
void lh_manifest_table_sql(const lh_manifest *m, const char *table, const char *seq_col,
                           lh_buf *out);

/* Writes whole rows into a table of lh_manifest_table_sql's shape through statements
 * prepared once per connection, table, columns and key (a small write is then no SQL parse or
 * plan). Zero-initialise; lh_row_writer_reset frees, and must be called when the table is
 * re-created. */
typedef struct lh_row_writer {
    char *sig;
    duckdb_prepared_statement del, ins;
} lh_row_writer;
/* Replaces the rows of rows' keys in table with rows (lh_manifest_rows_sql's text arrays: m's
 * columns, then the deleted flag), tagged seq, in one transaction on c. fresh (NULL: none)
 * marks rows whose key the table surely does not hold: nothing to delete. LH_EINVAL with
 * DuckDB's message (the table unchanged). */
int lh_row_writer_replace(lh_row_writer *w, duckdb_connection c, const char *table,
                          const lh_manifest *m, const json_t *rows, int64_t seq, const bool *fresh,
                          lh_error *err);
/* Destroys w's statements (w can be used again). */
void lh_row_writer_reset(lh_row_writer *w);
/* Appends a source record (copies strings). */
void lh_manifest_add_source(lh_manifest *m, const char *sha256, const char *name, int64_t bytes,
                            int64_t rows);
/* The source with this content hash, or NULL. */
const lh_source *lh_manifest_find_source(const lh_manifest *m, const char *sha256);

#endif
