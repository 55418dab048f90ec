/* Internals shared by the query module's files. */
#ifndef LH_QUERY_INT_H
#define LH_QUERY_INT_H

#include "core/duckdb_capi.h"
#include "query/query.h"

/* How to serialize one result column (a tree for nested types). */
typedef struct lh_coldesc {
    duckdb_type id;
    duckdb_type internal; /* DECIMAL/ENUM physical type */
    uint8_t dec_width, dec_scale;
    idx_t array_size;
    struct lh_coldesc *children;
    char **child_names; /* STRUCT field names (duckdb_free) */
    idx_t nchildren;
    char *type_name; /* SQL type name shown to clients */
} lh_coldesc;

/* Fills d for type t; false if some part has no native serializer (cast it to VARCHAR). */
bool lh_coldesc_init(lh_coldesc *d, duckdb_logical_type t);
/* Frees d's children and names (not d itself). */
void lh_coldesc_free(lh_coldesc *d);
/* Writes the value at row of vector v: a JSON value (json) or CSV-ready text. */
void lh_value_write(lh_buf *b, const lh_coldesc *d, duckdb_vector v, idx_t row, bool json);

/* A result vector with its data and validity mask, looked up once per chunk, not per value. */
typedef struct lh_colvec {
    duckdb_vector v;
    void *data;
    uint64_t *validity; /* NULL: no NULLs */
} lh_colvec;
/* Points cv at vector v (borrowed; valid while its chunk is). */
void lh_colvec_init(lh_colvec *cv, duckdb_vector v);
/* lh_value_write for a vector prepared by lh_colvec_init. */
void lh_value_write_vec(lh_buf *b, const lh_coldesc *d, const lh_colvec *cv, idx_t row, bool json);
/* Appends an RFC 4180 CSV field. */
void lh_csv_field(lh_buf *b, const char *s, size_t n);

/* Receives one result chunk of qry_scan; a non-zero return stops the scan with that code
 * (fill err). */
typedef int (*qry_chunk_fn)(void *ctx, duckdb_data_chunk chunk, lh_error *err);
/* The store the engine's catalog lives on (borrowed). */
lh_storage *qry_storage(lh_query *q);
/* Runs one statement through the same checks, sandbox and timeout as lh_query_run and hands
 * each result chunk to fn. Errors as lh_query_run. */
int qry_scan(lh_query *q, const char *sql, qry_chunk_fn fn, void *ctx, lh_error *err);
/* Appends the SELECT of the newest row per key of the n delta files in list (a file list of
 * lh_manifest_file_list), delta columns included. One file needs no window: an upsert writes
 * one row per key (the last row of each key in its batch). */
void qry_latest_rows(lh_buf *b, const lh_manifest *m, const char *list, size_t n);
/* The hot cache (cache.c). The engine's views lock guards an lh_hot: callers hold it. */
typedef struct lh_hot lh_hot;
/* A cache with a memory budget; objects read through st. auto_admit: admit datasets named
 * often; admit_keys: admit keyed datasets looked up by key often. Caller frees. */
lh_hot *lh_hot_new(lh_storage *st, int64_t budget_bytes, bool auto_admit, bool admit_keys);
/* Frees the bookkeeping (the tables go with the database). Accepts NULL. */
void lh_hot_free(lh_hot *h);
/* If dataset is in memory at version, appends the SELECT reading it and returns true. */
bool lh_hot_source(lh_hot *h, const char *dataset, int64_t version, lh_buf *out);
/* Loads m into memory (pin: never evicted), evicting LRU tables to fit; LH_ETOOBIG if it
 * cannot fit beside the pinned ones (nothing loaded then). */
int lh_hot_load(lh_hot *h, duckdb_connection admin, const lh_manifest *m, bool pin, lh_error *err);
/* m is the dataset's new latest version: applies its new delta files to the table in place
 * if that is all that changed, else reloads a pinned table and drops any other. */
void lh_hot_invalidate(lh_hot *h, duckdb_connection admin, const lh_manifest *m);
/* The dataset is gone: drops its table and statistics. */
void lh_hot_forget(lh_hot *h, duckdb_connection admin, const char *dataset);
/* Makes the dataset evictable again (it stays in memory until evicted). */
void lh_hot_unpin(lh_hot *h, const char *dataset);
/* Whether the dataset is pinned. */
bool lh_hot_pinned(lh_hot *h, const char *dataset);
/* Counts a query naming the dataset (a hit if it is in memory at version; key_lookup: it
 * filters on the dataset's whole key); true if it should now be admitted (bytes: its Parquet
 * size). */
bool lh_hot_touch(lh_hot *h, const char *dataset, int64_t version, int64_t bytes, bool key_lookup);
/* Datasets whose tables were evicted since the last call (caller frees each and the array):
 * their views still name the dropped table and must be installed again. */
char **lh_hot_take_evicted(lh_hot *h, size_t *n);
/* {budget_bytes, used_bytes, entries:[{dataset, cached, pinned, version, bytes, rows, hits,
 * misses, followed}]}; caller decrefs. */
json_t *lh_hot_stats(lh_hot *h);

#endif
