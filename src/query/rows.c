/*
 * Row positions: SQL predicates turned into sets of stable row positions, and rows fetched
 * by position. A position is a file's base (the rows of the files before it) plus
 * read_parquet's file_row_number, so it does not depend on scan order or threads (unlike
 * row_number() OVER ()).
 *
 * The predicate is user text placed after WHERE, so before it goes near DuckDB it must be
 * one predicate: quotes closed, parentheses balanced and never closing the WHERE's own, no
 * ';', no comments, no '$' (dollar-quoted strings and parameters would hide text from this
 * scanner). What a well-formed predicate can still do (subqueries, table functions) is bound
 * by the sandbox of the engine, exactly as for lh_query_run.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define PREDICATE_MAX (64 * 1024)

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

int lh_query_predicate_check(const char *pred, lh_error *err)
{
    if (!pred) return lh_error_set(err, LH_EINVAL, "filter: missing predicate");
    size_t n = strlen(pred), bad;
    if (n > PREDICATE_MAX)
        return lh_error_set(err, LH_EINVAL, "filter: %zu bytes is longer than the limit of %d", n,
                            PREDICATE_MAX);
    if (!lh_utf8_valid(pred, n, &bad))
        return lh_error_set(err, LH_EINVAL, "filter: invalid UTF-8 at byte %zu", bad);
    bool empty = true;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pred[i];
        if (c == '\'' || c == '"') {
            /* E'...' strings take backslash escapes; everything else doubles the quote. */
            bool backslash = c == '\'' && i > 0 && (pred[i - 1] == 'e' || pred[i - 1] == 'E') &&
                             (i == 1 || !ident_char(pred[i - 2]));
            size_t start = i++;
            for (; i < n; i++) {
                if (backslash && pred[i] == '\\' && i + 1 < n) {
                    i++;
                } else if (pred[i] == c) {
                    if (i + 1 < n && pred[i + 1] == c)
                        i++;
                    else
                        break;
                }
            }
            if (i >= n)
                return lh_error_set(err, LH_EINVAL,
                                    "filter: the %s opened at byte %zu is not closed",
                                    c == '\'' ? "string" : "quoted name", start);
            empty = false;
            continue;
        }
        if (c == ';')
            return lh_error_set(
                err, LH_EINVAL,
                "filter: ';' at byte %zu: a filter is one predicate, not statements", i);
        if ((c == '-' && pred[i + 1] == '-') || (c == '/' && pred[i + 1] == '*'))
            return lh_error_set(err, LH_EINVAL, "filter: comments are not allowed (byte %zu)", i);
        if (c == '$')
            return lh_error_set(err, LH_EINVAL,
                                "filter: '$' at byte %zu: parameters and dollar-quoted strings are "
                                "not allowed",
                                i);
        if (c == '(') depth++;
        if (c == ')' && --depth < 0)
            return lh_error_set(
                err, LH_EINVAL,
                "filter: ')' at byte %zu closes a parenthesis that was never opened", i);
        if (!isspace((unsigned char)c)) empty = false;
    }
    if (depth > 0)
        return lh_error_set(err, LH_EINVAL, "filter: %d parenthes%s not closed", depth,
                            depth == 1 ? "is" : "es");
    if (empty) return lh_error_set(err, LH_EINVAL, "filter: empty predicate");
    return LH_OK;
}

/* "read_parquet([...], filename='__lh_file', file_row_number=true)" plus, in pos, the
 * expression of a row's position. */
static int rowset_source(lh_query *q, const lh_query_rowset *rs, lh_buf *src, lh_buf *pos,
                         lh_error *err)
{
    lh_storage *st = qry_storage(q);
    if (rs->nfiles == 0)
        return lh_error_set(err, LH_EINVAL, "dataset '%s' version %" PRId64 " has no data files",
                            rs->dataset, rs->version);
    lh_buf_puts(src, "read_parquet([");
    lh_buf_puts(pos, "(CASE __lh_file");
    for (size_t i = 0; i < rs->nfiles; i++) {
        char path[LH_KEY_MAX + 4096];
        if (!lh_storage_local_path(st, rs->keys[i], path, sizeof path))
            return lh_error_set(err, LH_EUNSUPPORTED,
                                "dataset '%s': file %s has no local copy for the query engine",
                                rs->dataset, rs->keys[i]);
        if (i) lh_buf_puts(src, ", ");
        lh_sql_quote(src, path);
        lh_buf_puts(pos, " WHEN ");
        lh_sql_quote(pos, path);
        lh_buf_printf(pos, " THEN %" PRId64, rs->bases[i]);
    }
    lh_buf_puts(src, "], filename='__lh_file', file_row_number=true)");
    lh_buf_puts(pos, " END + file_row_number)::BIGINT");
    return LH_OK;
}

typedef struct filter_ctx {
    const lh_query_rowset *rs;
    uint64_t *words;
    int64_t count;
} filter_ctx;

static int filter_chunk(void *ctx, duckdb_data_chunk chunk, lh_error *err)
{
    filter_ctx *f = ctx;
    idx_t n = duckdb_data_chunk_get_size(chunk);
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, 0);
    const int64_t *pos = duckdb_vector_get_data(v);
    uint64_t *valid = duckdb_vector_get_validity(v);
    for (idx_t i = 0; i < n; i++) {
        int64_t p = pos[i];
        if (!duckdb_validity_row_is_valid(valid, i) || p < 0 || p >= f->rs->nrows)
            return lh_error_set(err, LH_ECORRUPT,
                                "dataset '%s' version %" PRId64
                                ": a row position falls outside 0..%" PRId64
                                " (the files changed since the index was built?)",
                                f->rs->dataset, f->rs->version, f->rs->nrows - 1);
        uint64_t bit = 1ull << (p & 63);
        if (!(f->words[p >> 6] & bit)) f->count++;
        f->words[p >> 6] |= bit;
    }
    return LH_OK;
}

int lh_query_filter_rows(lh_query *q, const lh_identity *who, const lh_query_rowset *rs,
                         const char *predicate, uint64_t **out_words, int64_t *out_count,
                         lh_error *err)
{
    (void)who; /* profile scoping slots in here */
    *out_words = NULL;
    if (out_count) *out_count = 0;
    int rc = lh_query_predicate_check(predicate, err);
    if (rc) return rc;
    if (rs->nrows <= 0)
        return lh_error_set(err, LH_EINVAL, "dataset '%s' version %" PRId64 " has no rows",
                            rs->dataset, rs->version);
    lh_buf src = {0}, pos = {0}, sql = {0};
    filter_ctx f = {.rs = rs};
    if ((rc = rowset_source(q, rs, &src, &pos, err))) goto done;
    /* The predicate sits alone on its lines so that nothing it contains can reach the
     * surrounding text; the check above already refused comments and stray ')'. */
    lh_buf_printf(&sql, "SELECT %s AS __lh_row FROM %s WHERE (\n%s\n)", pos.data, src.data,
                  predicate);
    f.words = lh_calloc((size_t)(rs->nrows + 63) / 64, sizeof(uint64_t));
    rc = qry_scan(q, sql.data, filter_chunk, &f, err);
    if (rc) {
        lh_error_prefix(err, "filter on dataset '%s'", rs->dataset);
        goto done;
    }
    *out_words = f.words;
    f.words = NULL;
    if (out_count) *out_count = f.count;
done:
    free(f.words);
    lh_buf_free(&src);
    lh_buf_free(&pos);
    lh_buf_free(&sql);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int lh_query_rows_json(lh_query *q, const lh_identity *who, const lh_query_rowset *rs,
                       const int64_t *positions, size_t n, const char *exclude, json_t **out,
                       lh_error *err)
{
    *out = NULL;
    lh_buf src = {0}, pos = {0}, sql = {0};
    char *text = NULL;
    json_t *res = NULL;
    int64_t *sorted = NULL;
    int rc = LH_OK;
    json_t *arr = json_array();
    if (n == 0) goto done;
    if ((rc = rowset_source(q, rs, &src, &pos, err))) goto done;
    /* Positions to (file, file_row_number) pairs: a file's rows are bases[i] ..
     * bases[i] + (next base or nrows) - 1. */
    sorted = lh_malloc(n * sizeof *sorted);
    memcpy(sorted, positions, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_i64);
    lh_buf_printf(&sql, "SELECT %s AS __lh_row, * EXCLUDE (__lh_file, file_row_number", pos.data);
    if (exclude) {
        lh_buf_puts(&sql, ", ");
        lh_sql_ident(&sql, exclude);
    }
    lh_buf_printf(&sql, ") FROM %s WHERE false", src.data);
    char path[LH_KEY_MAX + 4096];
    lh_storage *st = qry_storage(q);
    for (size_t f = 0, i = 0; f < rs->nfiles && i < n; f++) {
        int64_t end = f + 1 < rs->nfiles ? rs->bases[f + 1] : rs->nrows;
        size_t first = i;
        while (i < n && sorted[i] < end)
            i++;
        bool any = false;
        for (size_t j = first; j < i; j++) {
            if (sorted[j] < rs->bases[f]) continue;
            if (!any) {
                lh_buf_puts(&sql, " OR (__lh_file = ");
                lh_sql_quote(&sql, lh_storage_local_path(st, rs->keys[f], path, sizeof path));
                lh_buf_puts(&sql, " AND file_row_number IN (");
            }
            lh_buf_printf(&sql, "%s%" PRId64, any ? ", " : "", sorted[j] - rs->bases[f]);
            any = true;
        }
        if (any) lh_buf_puts(&sql, "))");
    }
    if ((rc = lh_query_json(q, who, sql.data, (int64_t)n + 1, &text, err))) {
        lh_error_prefix(err, "rows of dataset '%s'", rs->dataset);
        goto done;
    }
    res = json_loads(text, 0, NULL);
    json_t *cols = json_object_get(res, "columns"), *rows = json_object_get(res, "rows");
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_null();
        size_t r;
        json_t *row;
        json_array_foreach(rows, r, row)
        {
            if (json_integer_value(json_array_get(row, 0)) != positions[i]) continue;
            obj = json_object();
            for (size_t c = 1; c < json_array_size(cols); c++)
                json_object_set(obj,
                                json_string_value(json_object_get(json_array_get(cols, c), "name")),
                                json_array_get(row, c));
            break;
        }
        json_array_append_new(arr, obj);
    }
done:
    if (rc == LH_OK) {
        *out = arr;
        arr = NULL;
    }
    json_decref(arr);
    json_decref(res);
    free(text);
    free(sorted);
    lh_buf_free(&src);
    lh_buf_free(&pos);
    lh_buf_free(&sql);
    return rc;
}
