/*
 * duckdb_capi.h — the subset of DuckDB's C API that lakehouse uses, declared by us.
 *
 * libduckdb.so comes from npm (@duckdb/node-bindings-linux-x64@1.5.6-r.1) without a header,
 * so we declare what we call, written from DuckDB's C API documentation. Enum values and
 * struct layouts must match DuckDB 1.5; tests/core/test_duckdb_capi.c checks the enum values
 * against the library at run time, and lh_duckdb_check_version() refuses any other version.
 */
#ifndef LH_DUCKDB_CAPI_H
#define LH_DUCKDB_CAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* The DuckDB version this header was written for and the program requires. */
#define LH_DUCKDB_VERSION "v1.5.6"

typedef uint64_t idx_t;

typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

typedef enum DUCKDB_TYPE {
    DUCKDB_TYPE_INVALID = 0,
    DUCKDB_TYPE_BOOLEAN = 1,
    DUCKDB_TYPE_TINYINT = 2,
    DUCKDB_TYPE_SMALLINT = 3,
    DUCKDB_TYPE_INTEGER = 4,
    DUCKDB_TYPE_BIGINT = 5,
    DUCKDB_TYPE_UTINYINT = 6,
    DUCKDB_TYPE_USMALLINT = 7,
    DUCKDB_TYPE_UINTEGER = 8,
    DUCKDB_TYPE_UBIGINT = 9,
    DUCKDB_TYPE_FLOAT = 10,
    DUCKDB_TYPE_DOUBLE = 11,
    DUCKDB_TYPE_TIMESTAMP = 12,
    DUCKDB_TYPE_DATE = 13,
    DUCKDB_TYPE_TIME = 14,
    DUCKDB_TYPE_INTERVAL = 15,
    DUCKDB_TYPE_HUGEINT = 16,
    DUCKDB_TYPE_UHUGEINT = 32,
    DUCKDB_TYPE_VARCHAR = 17,
    DUCKDB_TYPE_BLOB = 18,
    DUCKDB_TYPE_DECIMAL = 19,
    DUCKDB_TYPE_TIMESTAMP_S = 20,
    DUCKDB_TYPE_TIMESTAMP_MS = 21,
    DUCKDB_TYPE_TIMESTAMP_NS = 22,
    DUCKDB_TYPE_ENUM = 23,
    DUCKDB_TYPE_LIST = 24,
    DUCKDB_TYPE_STRUCT = 25,
    DUCKDB_TYPE_MAP = 26,
    DUCKDB_TYPE_ARRAY = 33,
    DUCKDB_TYPE_UUID = 27,
    DUCKDB_TYPE_UNION = 28,
    DUCKDB_TYPE_BIT = 29,
    DUCKDB_TYPE_TIME_TZ = 30,
    DUCKDB_TYPE_TIMESTAMP_TZ = 31,
    DUCKDB_TYPE_ANY = 34,
    DUCKDB_TYPE_BIGNUM = 35,
    DUCKDB_TYPE_SQLNULL = 36,
} duckdb_type;

typedef enum DUCKDB_STATEMENT_TYPE {
    DUCKDB_STATEMENT_TYPE_INVALID = 0,
    DUCKDB_STATEMENT_TYPE_SELECT = 1,
    DUCKDB_STATEMENT_TYPE_INSERT = 2,
    DUCKDB_STATEMENT_TYPE_UPDATE = 3,
    DUCKDB_STATEMENT_TYPE_EXPLAIN = 4,
    DUCKDB_STATEMENT_TYPE_DELETE = 5,
    DUCKDB_STATEMENT_TYPE_PREPARE = 6,
    DUCKDB_STATEMENT_TYPE_CREATE = 7,
    DUCKDB_STATEMENT_TYPE_EXECUTE = 8,
    DUCKDB_STATEMENT_TYPE_ALTER = 9,
    DUCKDB_STATEMENT_TYPE_TRANSACTION = 10,
    DUCKDB_STATEMENT_TYPE_COPY = 11,
    DUCKDB_STATEMENT_TYPE_ANALYZE = 12,
    DUCKDB_STATEMENT_TYPE_VARIABLE_SET = 13,
    DUCKDB_STATEMENT_TYPE_CREATE_FUNC = 14,
    DUCKDB_STATEMENT_TYPE_DROP = 15,
    DUCKDB_STATEMENT_TYPE_EXPORT = 16,
    DUCKDB_STATEMENT_TYPE_PRAGMA = 17,
    DUCKDB_STATEMENT_TYPE_VACUUM = 18,
    DUCKDB_STATEMENT_TYPE_CALL = 19,
    DUCKDB_STATEMENT_TYPE_SET = 20,
    DUCKDB_STATEMENT_TYPE_LOAD = 21,
    DUCKDB_STATEMENT_TYPE_RELATION = 22,
    DUCKDB_STATEMENT_TYPE_EXTENSION = 23,
    DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN = 24,
    DUCKDB_STATEMENT_TYPE_ATTACH = 25,
    DUCKDB_STATEMENT_TYPE_DETACH = 26,
    DUCKDB_STATEMENT_TYPE_MULTI = 27,
} duckdb_statement_type;

/* Days since 1970-01-01. */
typedef struct {
    int32_t days;
} duckdb_date;
typedef struct {
    int32_t year;
    int8_t month;
    int8_t day;
} duckdb_date_struct;
/* Microseconds since 00:00:00. */
typedef struct {
    int64_t micros;
} duckdb_time;
typedef struct {
    int8_t hour;
    int8_t min;
    int8_t sec;
    int32_t micros;
} duckdb_time_struct;
/* Microseconds since 1970-01-01 (TIMESTAMP; _S/_MS/_NS use other units). */
typedef struct {
    int64_t micros;
} duckdb_timestamp;
typedef struct {
    duckdb_date_struct date;
    duckdb_time_struct time;
} duckdb_timestamp_struct;
typedef struct {
    int32_t months;
    int32_t days;
    int64_t micros;
} duckdb_interval;
/* value = upper * 2^64 + lower */
typedef struct {
    uint64_t lower;
    int64_t upper;
} duckdb_hugeint;
typedef struct {
    uint64_t lower;
    uint64_t upper;
} duckdb_uhugeint;

/* In-vector representation of VARCHAR/BLOB: up to 12 bytes inline, else a pointer. */
typedef struct {
    union {
        struct {
            uint32_t length;
            char prefix[4];
            char *ptr;
        } pointer;
        struct {
            uint32_t length;
            char inlined[12];
        } inlined;
    } value;
} duckdb_string_t;

typedef struct {
    uint64_t offset;
    uint64_t length;
} duckdb_list_entry;

typedef struct {
    void *__deprecated_data;
    bool *__deprecated_nullmask;
    duckdb_type __deprecated_type;
    char *__deprecated_name;
    void *internal_data;
} duckdb_column;

typedef struct {
    idx_t __deprecated_column_count;
    idx_t __deprecated_row_count;
    idx_t __deprecated_rows_changed;
    duckdb_column *__deprecated_columns;
    char *__deprecated_error_message;
    void *internal_data;
} duckdb_result;

typedef struct _duckdb_database {
    void *internal_ptr;
} *duckdb_database;
typedef struct _duckdb_connection {
    void *internal_ptr;
} *duckdb_connection;
typedef struct _duckdb_config {
    void *internal_ptr;
} *duckdb_config;
typedef struct _duckdb_prepared_statement {
    void *internal_ptr;
} *duckdb_prepared_statement;
typedef struct _duckdb_extracted_statements {
    void *internal_ptr;
} *duckdb_extracted_statements;
typedef struct _duckdb_pending_result {
    void *internal_ptr;
} *duckdb_pending_result;
typedef struct _duckdb_appender {
    void *internal_ptr;
} *duckdb_appender;
typedef struct _duckdb_logical_type {
    void *internal_ptr;
} *duckdb_logical_type;
typedef struct _duckdb_data_chunk {
    void *internal_ptr;
} *duckdb_data_chunk;
typedef struct _duckdb_vector {
    void *internal_ptr;
} *duckdb_vector;
typedef struct _duckdb_value {
    void *internal_ptr;
} *duckdb_value;

/* ---- open / connect / configure */
const char *duckdb_library_version(void);
duckdb_state duckdb_create_config(duckdb_config *out_config);
duckdb_state duckdb_set_config(duckdb_config config, const char *name, const char *option);
void duckdb_destroy_config(duckdb_config *config);
duckdb_state duckdb_open(const char *path, duckdb_database *out_database);
duckdb_state duckdb_open_ext(const char *path, duckdb_database *out_database, duckdb_config config,
                             char **out_error);
void duckdb_close(duckdb_database *database);
duckdb_state duckdb_connect(duckdb_database database, duckdb_connection *out_connection);
void duckdb_disconnect(duckdb_connection *connection);
void duckdb_interrupt(duckdb_connection connection);
void duckdb_free(void *ptr);

/* ---- queries and results */
duckdb_state duckdb_query(duckdb_connection connection, const char *query,
                          duckdb_result *out_result);
void duckdb_destroy_result(duckdb_result *result);
const char *duckdb_result_error(duckdb_result *result);
const char *duckdb_column_name(duckdb_result *result, idx_t col);
duckdb_type duckdb_column_type(duckdb_result *result, idx_t col);
duckdb_logical_type duckdb_column_logical_type(duckdb_result *result, idx_t col);
idx_t duckdb_column_count(duckdb_result *result);
idx_t duckdb_rows_changed(duckdb_result *result);
duckdb_statement_type duckdb_result_statement_type(duckdb_result result);
/* Fetches the next chunk of a (materialized or streaming) result; NULL when done. */
duckdb_data_chunk duckdb_fetch_chunk(duckdb_result result);
/* Deprecated row-wise accessors, still exported; convenient for small results. */
idx_t duckdb_row_count(duckdb_result *result);
char *duckdb_value_varchar(duckdb_result *result, idx_t col, idx_t row);
int64_t duckdb_value_int64(duckdb_result *result, idx_t col, idx_t row);
bool duckdb_value_is_null(duckdb_result *result, idx_t col, idx_t row);

/* ---- statements */
idx_t duckdb_extract_statements(duckdb_connection connection, const char *query,
                                duckdb_extracted_statements *out_extracted_statements);
duckdb_state duckdb_prepare_extracted_statement(duckdb_connection connection,
                                                duckdb_extracted_statements extracted_statements,
                                                idx_t index,
                                                duckdb_prepared_statement *out_prepared_statement);
const char *duckdb_extract_statements_error(duckdb_extracted_statements extracted_statements);
void duckdb_destroy_extracted(duckdb_extracted_statements *extracted_statements);
duckdb_state duckdb_prepare(duckdb_connection connection, const char *query,
                            duckdb_prepared_statement *out_prepared_statement);
void duckdb_destroy_prepare(duckdb_prepared_statement *prepared_statement);
const char *duckdb_prepare_error(duckdb_prepared_statement prepared_statement);
idx_t duckdb_nparams(duckdb_prepared_statement prepared_statement);
duckdb_statement_type duckdb_prepared_statement_type(duckdb_prepared_statement statement);
idx_t duckdb_prepared_statement_column_count(duckdb_prepared_statement prepared_statement);
/* Returns a copy the caller frees with duckdb_free. */
const char *duckdb_prepared_statement_column_name(duckdb_prepared_statement prepared_statement,
                                                  idx_t col_idx);
duckdb_logical_type
duckdb_prepared_statement_column_logical_type(duckdb_prepared_statement prepared_statement,
                                              idx_t col_idx);
duckdb_state duckdb_bind_varchar(duckdb_prepared_statement prepared_statement, idx_t param_idx,
                                 const char *val);
duckdb_state duckdb_bind_int64(duckdb_prepared_statement prepared_statement, idx_t param_idx,
                               int64_t val);
duckdb_state duckdb_bind_double(duckdb_prepared_statement prepared_statement, idx_t param_idx,
                                double val);
duckdb_state duckdb_bind_null(duckdb_prepared_statement prepared_statement, idx_t param_idx);
duckdb_state duckdb_execute_prepared(duckdb_prepared_statement prepared_statement,
                                     duckdb_result *out_result);
duckdb_state duckdb_execute_prepared_streaming(duckdb_prepared_statement prepared_statement,
                                               duckdb_result *out_result);
/* Pending (incremental) execution: lets a caller poll progress and interrupt. */
typedef enum {
    DUCKDB_PENDING_RESULT_READY = 0,
    DUCKDB_PENDING_RESULT_NOT_READY = 1,
    DUCKDB_PENDING_ERROR = 2,
    DUCKDB_PENDING_NO_TASKS_AVAILABLE = 3,
} duckdb_pending_state;
duckdb_state duckdb_pending_prepared(duckdb_prepared_statement prepared_statement,
                                     duckdb_pending_result *out_result);
duckdb_state duckdb_pending_prepared_streaming(duckdb_prepared_statement prepared_statement,
                                               duckdb_pending_result *out_result);
void duckdb_destroy_pending(duckdb_pending_result *pending_result);
const char *duckdb_pending_error(duckdb_pending_result pending_result);
duckdb_pending_state duckdb_pending_execute_task(duckdb_pending_result pending_result);
duckdb_state duckdb_execute_pending(duckdb_pending_result pending_result,
                                    duckdb_result *out_result);
bool duckdb_pending_execution_is_finished(duckdb_pending_state pending_state);
typedef struct {
    double percentage; /* -1 when unknown */
    uint64_t rows_processed;
    uint64_t total_rows_to_process;
} duckdb_query_progress_type;
duckdb_query_progress_type duckdb_query_progress(duckdb_connection connection);

/* ---- data chunks and vectors */
void duckdb_destroy_data_chunk(duckdb_data_chunk *chunk);
idx_t duckdb_data_chunk_get_column_count(duckdb_data_chunk chunk);
idx_t duckdb_data_chunk_get_size(duckdb_data_chunk chunk);
duckdb_vector duckdb_data_chunk_get_vector(duckdb_data_chunk chunk, idx_t col_idx);
duckdb_logical_type duckdb_vector_get_column_type(duckdb_vector vector);
void *duckdb_vector_get_data(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector);
bool duckdb_validity_row_is_valid(uint64_t *validity, idx_t row);
duckdb_vector duckdb_list_vector_get_child(duckdb_vector vector);
idx_t duckdb_list_vector_get_size(duckdb_vector vector);
duckdb_vector duckdb_struct_vector_get_child(duckdb_vector vector, idx_t index);
duckdb_vector duckdb_array_vector_get_child(duckdb_vector vector);

/* ---- logical types */
duckdb_type duckdb_get_type_id(duckdb_logical_type type);
void duckdb_destroy_logical_type(duckdb_logical_type *type);
uint8_t duckdb_decimal_width(duckdb_logical_type type);
uint8_t duckdb_decimal_scale(duckdb_logical_type type);
duckdb_type duckdb_decimal_internal_type(duckdb_logical_type type);
duckdb_type duckdb_enum_internal_type(duckdb_logical_type type);
char *duckdb_enum_dictionary_value(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_list_type_child_type(duckdb_logical_type type);
duckdb_logical_type duckdb_array_type_child_type(duckdb_logical_type type);
idx_t duckdb_array_type_array_size(duckdb_logical_type type);
idx_t duckdb_struct_type_child_count(duckdb_logical_type type);
char *duckdb_struct_type_child_name(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_struct_type_child_type(duckdb_logical_type type, idx_t index);
char *duckdb_logical_type_get_alias(duckdb_logical_type type);

/* ---- date/time helpers */
duckdb_date_struct duckdb_from_date(duckdb_date date);
duckdb_time_struct duckdb_from_time(duckdb_time time);
duckdb_timestamp_struct duckdb_from_timestamp(duckdb_timestamp ts);
double duckdb_hugeint_to_double(duckdb_hugeint val);

/* ---- appender (bulk inserts into a table) */
duckdb_state duckdb_appender_create(duckdb_connection connection, const char *schema,
                                    const char *table, duckdb_appender *out_appender);
const char *duckdb_appender_error(duckdb_appender appender);
duckdb_state duckdb_appender_flush(duckdb_appender appender);
duckdb_state duckdb_appender_close(duckdb_appender appender);
duckdb_state duckdb_appender_destroy(duckdb_appender *appender);
duckdb_state duckdb_appender_end_row(duckdb_appender appender);
duckdb_state duckdb_append_int64(duckdb_appender appender, int64_t value);
duckdb_state duckdb_append_double(duckdb_appender appender, double value);
duckdb_state duckdb_append_float(duckdb_appender appender, float value);
duckdb_state duckdb_append_varchar(duckdb_appender appender, const char *val);
duckdb_state duckdb_append_varchar_length(duckdb_appender appender, const char *val,
                                          idx_t length);
duckdb_state duckdb_append_null(duckdb_appender appender);
duckdb_state duckdb_append_value(duckdb_appender appender, duckdb_value value);
duckdb_state duckdb_append_data_chunk(duckdb_appender appender, duckdb_data_chunk chunk);

/* ---- values */
duckdb_value duckdb_create_float(float input);
duckdb_value duckdb_create_array_value(duckdb_logical_type type, duckdb_value *values,
                                       idx_t value_count);
duckdb_value duckdb_create_list_value(duckdb_logical_type type, duckdb_value *values,
                                      idx_t value_count);
duckdb_logical_type duckdb_create_logical_type(duckdb_type type);
duckdb_logical_type duckdb_create_array_type(duckdb_logical_type type, idx_t array_size);
void duckdb_destroy_value(duckdb_value *value);

/* ---- added for the vector module (embedding store): writing data chunks. Signatures from
 * DuckDB 1.5's C API reference (data chunks, vectors, validity). */
idx_t duckdb_vector_size(void);
duckdb_data_chunk duckdb_create_data_chunk(duckdb_logical_type *types, idx_t column_count);
void duckdb_data_chunk_reset(duckdb_data_chunk chunk);
void duckdb_data_chunk_set_size(duckdb_data_chunk chunk, idx_t size);
void duckdb_vector_assign_string_element_len(duckdb_vector vector, idx_t index, const char *str,
                                             idx_t str_len);
void duckdb_vector_ensure_validity_writable(duckdb_vector vector);
void duckdb_validity_set_row_invalid(uint64_t *validity, idx_t row);

/* ------------------------------------------------------- project helpers */

/* Checks that the loaded libduckdb.so is LH_DUCKDB_VERSION; LH_EUNSUPPORTED with a message
 * naming both versions and how to fix it (scripts/bootstrap) otherwise. */
int lh_duckdb_check_version(lh_error *err);

/* Copies the text of a duckdb_string_t (not NUL-terminated in DuckDB) into view pointers. */
static inline const char *lh_duckdb_string(const duckdb_string_t *s, uint32_t *len)
{
    *len = s->value.inlined.length;
    return *len <= 12 ? s->value.inlined.inlined : s->value.pointer.ptr;
}

/* Appends s to b as a SQL string literal ('...' with quotes doubled). */
void lh_sql_quote(lh_buf *b, const char *s);
/* Appends s to b as a SQL identifier ("..." with quotes doubled). */
void lh_sql_ident(lh_buf *b, const char *s);
/* Appends the n names as quoted identifiers, "alias.k1, alias.k2" (alias may be NULL). */
void lh_sql_ident_list(lh_buf *b, char *const *names, size_t n, const char *alias);
/* Appends "x.k1 = y.k1 AND x.k2 = y.k2 ..." over the n key columns (a join condition). */
void lh_sql_key_match(lh_buf *b, char *const *key, size_t n, const char *x, const char *y);

/* Runs one statement on conn, discarding the result; on failure LH_EINVAL/LH_EINTERNAL with
 * DuckDB's message prefixed by what (e.g. "create view candidates"). */
int lh_duckdb_exec(duckdb_connection conn, const char *sql, const char *what, lh_error *err);
/* Prepares sql on c into *out (caller destroys); LH_EINVAL with DuckDB's message (*out NULL). */
int lh_duckdb_prepare(duckdb_connection c, const char *sql, duckdb_prepared_statement *out,
                      lh_error *err);
/* Drops the table *name (SQL-ready, e.g. schema."t") if it exists, then frees *name and sets
 * it to NULL. Nothing if *name is NULL; a failed drop is ignored (the table is unreachable). */
void lh_duckdb_drop_table(duckdb_connection conn, char **name);

#endif
