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

#endif
