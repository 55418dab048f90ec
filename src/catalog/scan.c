/* lh_manifest_scan_sql: the SQL that reads a dataset version, deltas merged on read.
 *
 * Base files are never rewritten by an update. An upsert or delete adds a delta file holding
 * whole rows plus LH_DELTA_SEQ (the commit version that wrote them) and LH_DELTA_DELETED.
 * Reading merges them in one plan:
 *   base rows whose key appears in no delta (an anti-join against the small delta side)
 *   UNION ALL the newest delta row of each key (a window over the deltas only), unless it
 *   deletes the key.
 * Any key that a delta touched is thus represented by its latest delta row alone, which is
 * what a full rewrite would hold. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/duckdb_capi.h"

int lh_manifest_file_list(lh_storage *st, const lh_manifest *m, bool delta, char *const *skip,
                          size_t nskip, lh_buf *out, size_t *count, lh_error *err)
{
    size_t n = 0;
    lh_buf_putc(out, '[');
    for (size_t i = 0; i < m->nfiles; i++) {
        if (m->files[i].delta != delta) continue;
        bool skipped = false;
        for (size_t k = 0; k < nskip && !skipped; k++)
            skipped = strcmp(skip[k], m->files[i].key) == 0;
        if (skipped) continue;
        char path[PATH_MAX];
        if (!lh_storage_local_path(st, m->files[i].key, path, sizeof path))
            return lh_error_set(err, LH_EUNSUPPORTED,
                                "dataset '%s': file %s has no local copy for the query engine",
                                m->dataset, m->files[i].key);
        if (n++) lh_buf_puts(out, ", ");
        lh_sql_quote(out, path);
    }
    lh_buf_putc(out, ']');
    if (count) *count = n;
    return LH_OK;
}

static void column_list(const lh_manifest *m, const char *alias, lh_buf *out)
{
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i) lh_buf_puts(out, ", ");
        if (alias) lh_buf_printf(out, "%s.", alias);
        lh_sql_ident(out, m->columns[i].name);
    }
}

/* Appends " WHERE (where)" if where is set. */
static void where_clause(lh_buf *out, const char *where)
{
    if (where) lh_buf_printf(out, " WHERE (%s)", where);
}

int lh_manifest_scan_sql(lh_storage *st, const lh_manifest *m, lh_buf *out, lh_error *err)
{
    return lh_manifest_scan_sql_where(st, m, NULL, out, err);
}

int lh_manifest_scan_sql_where(lh_storage *st, const lh_manifest *m, const char *where, lh_buf *out,
                               lh_error *err)
{
    size_t ndelta = lh_manifest_ndeltas(m);
    size_t nbase = m->nfiles - ndelta;
    int rc;
    if (m->nfiles == 0) {
        /* A dataset without files: an empty relation with its columns. */
        lh_buf_puts(out, "SELECT ");
        for (size_t i = 0; i < m->ncolumns; i++) {
            lh_buf_printf(out, "%sNULL::%s AS ", i ? ", " : "", m->columns[i].type);
            lh_sql_ident(out, m->columns[i].name);
        }
        if (m->ncolumns == 0) lh_buf_puts(out, "NULL AS empty");
        lh_buf_puts(out, " WHERE false");
        return LH_OK;
    }
    if (ndelta == 0) {
        lh_buf_puts(out, "SELECT * FROM read_parquet(");
        rc = lh_manifest_file_list(st, m, false, NULL, 0, out, NULL, err);
        lh_buf_putc(out, ')');
        where_clause(out, where);
        return rc;
    }
    if (m->nkey == 0)
        return lh_error_set(err, LH_ECORRUPT,
                            "dataset '%s' version %lld: delta files but no primary key", m->dataset,
                            (long long)m->version);
    lh_buf deltas = {0};
    if ((rc = lh_manifest_file_list(st, m, true, NULL, 0, &deltas, NULL, err))) goto done;
    if (where) {
        /* A lookup: the few matching delta rows are read once, for both sides (opening every
         * small delta file costs more than its rows). */
        lh_buf_printf(out, "WITH __dl AS MATERIALIZED (SELECT * FROM read_parquet(%s)",
                      deltas.data);
        where_clause(out, where);
        lh_buf_puts(out, ") ");
    }
    if (nbase) {
        /* The filter goes into both sides of the anti-join: DuckDB pushes a filter on the
         * key into the probe side only, and the delta side would read every delta's keys. */
        lh_buf_puts(out, "SELECT ");
        column_list(m, "__b", out);
        lh_buf_puts(out, " FROM (SELECT * FROM read_parquet(");
        if ((rc = lh_manifest_file_list(st, m, false, NULL, 0, out, NULL, err))) goto done;
        lh_buf_putc(out, ')');
        where_clause(out, where);
        lh_buf_puts(out, ") AS __b ANTI JOIN (SELECT ");
        lh_sql_ident_list(out, m->key, m->nkey, NULL);
        if (where)
            lh_buf_puts(out, " FROM __dl");
        else
            lh_buf_printf(out, " FROM read_parquet(%s)", deltas.data);
        lh_buf_puts(out, ") AS __d ON ");
        lh_sql_key_match(out, m->key, m->nkey, "__b", "__d");
        lh_buf_puts(out, " UNION ALL ");
    }
    lh_buf_puts(out, "SELECT ");
    column_list(m, NULL, out);
    if (where)
        lh_buf_puts(out, " FROM (SELECT * FROM __dl");
    else
        lh_buf_printf(out, " FROM (SELECT * FROM read_parquet(%s)", deltas.data);
    lh_buf_puts(out, " QUALIFY row_number() OVER (PARTITION BY ");
    lh_sql_ident_list(out, m->key, m->nkey, NULL);
    lh_buf_puts(out, " ORDER BY " LH_DELTA_SEQ " DESC) = 1) WHERE NOT " LH_DELTA_DELETED);
done:
    lh_buf_free(&deltas);
    return rc;
}

void lh_manifest_text_columns(const lh_manifest *m, lh_buf *out)
{
    for (size_t i = 0; i < m->ncolumns; i++) {
        lh_buf_puts(out, "CAST(");
        lh_sql_ident(out, m->columns[i].name);
        lh_buf_puts(out, " AS VARCHAR), ");
    }
}

json_t *lh_duckdb_result_json(duckdb_result *res)
{
    json_t *a = json_array();
    idx_t nc = duckdb_column_count(res), nr = duckdb_row_count(res);
    for (idx_t r = 0; r < nr; r++) {
        json_t *row = json_array();
        for (idx_t k = 0; k < nc; k++) {
            if (duckdb_value_is_null(res, k, r)) {
                json_array_append_new(row, json_null());
            } else {
                char *v = duckdb_value_varchar(res, k, r);
                json_array_append_new(row, json_string(v ? v : ""));
                duckdb_free(v);
            }
        }
        json_array_append_new(a, row);
    }
    return a;
}

int lh_duckdb_rows_json(duckdb_connection c, const char *sql, json_t **out, lh_error *err)
{
    duckdb_result res;
    if (duckdb_query(c, sql, &res) != DuckDBSuccess) {
        const char *m = duckdb_result_error(&res);
        int rc = lh_error_set(err, LH_EINVAL, "%s", m ? m : "DuckDB error");
        duckdb_destroy_result(&res);
        return rc;
    }
    *out = lh_duckdb_result_json(&res);
    duckdb_destroy_result(&res);
    return LH_OK;
}

void lh_manifest_rows_sql(const lh_manifest *m, const json_t *rows, size_t extra, lh_buf *out)
{
    size_t n = m->ncolumns, width = n + 1 + extra;
    lh_buf_puts(out, "SELECT ");
    for (size_t k = 0; k < n; k++) {
        lh_buf_printf(out, "CAST(c%zu AS %s) AS ", k, m->columns[k].type);
        lh_sql_ident(out, m->columns[k].name);
        lh_buf_puts(out, ", ");
    }
    lh_buf_printf(out, "coalesce(c%zu = 'true', false) AS " LH_DELTA_DELETED, n);
    for (size_t k = n + 1; k < width; k++)
        lh_buf_printf(out, ", c%zu", k);
    lh_buf_puts(out, " FROM (VALUES ");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        lh_buf_puts(out, i ? ", (" : "(");
        for (size_t k = 0; k < width; k++) {
            json_t *x = json_array_get(row, k);
            if (k) lh_buf_puts(out, ", ");
            if (json_is_string(x))
                lh_sql_quote(out, json_string_value(x));
            else
                lh_buf_puts(out, "NULL::VARCHAR");
        }
        lh_buf_putc(out, ')');
    }
    if (!json_array_size(rows)) {
        lh_buf_putc(out, '(');
        for (size_t k = 0; k < width; k++)
            lh_buf_puts(out, k ? ", NULL::VARCHAR" : "NULL::VARCHAR");
        lh_buf_putc(out, ')');
    }
    lh_buf_puts(out, ") AS t(");
    for (size_t k = 0; k < width; k++)
        lh_buf_printf(out, "%sc%zu", k ? ", " : "", k);
    lh_buf_putc(out, ')');
    if (!json_array_size(rows)) lh_buf_puts(out, " WHERE false");
}

void lh_manifest_table_sql(const lh_manifest *m, const char *table, const char *seq_col,
                           lh_buf *out)
{
    lh_buf_printf(out, "CREATE OR REPLACE TABLE %s (", table);
    for (size_t i = 0; i < m->ncolumns; i++) {
        lh_sql_ident(out, m->columns[i].name);
        lh_buf_printf(out, " %s, ", m->columns[i].type);
    }
    lh_buf_printf(out, "%s BIGINT, " LH_DELTA_DELETED " BOOLEAN)", seq_col);
}

/* ------------------------------------------------------------- row writer */

/* What the statements depend on: the connection, the table, m's shape. */
static char *writer_sig(duckdb_connection c, const char *table, const lh_manifest *m)
{
    char *shape = lh_manifest_shape(m);
    char *sig = lh_sprintf("%p|%s|%s", (void *)c, table, shape);
    free(shape);
    return sig;
}

/* Binds text (or NULL) to parameter i (1-based). */
static duckdb_state bind_text(duckdb_prepared_statement ps, idx_t i, const json_t *v)
{
    return json_is_string(v) ? duckdb_bind_varchar(ps, i, json_string_value(v))
                             : duckdb_bind_null(ps, i);
}

void lh_row_writer_reset(lh_row_writer *w)
{
    if (w->del) duckdb_destroy_prepare(&w->del);
    if (w->ins) duckdb_destroy_prepare(&w->ins);
    free(w->sig);
    w->sig = NULL;
    w->del = w->ins = NULL;
}

static int writer_prepare(lh_row_writer *w, duckdb_connection c, const char *table,
                          const lh_manifest *m, lh_error *err)
{
    char *sig = writer_sig(c, table, m);
    if (w->sig && strcmp(w->sig, sig) == 0) {
        free(sig);
        return LH_OK;
    }
    lh_row_writer_reset(w);
    lh_buf sql = {0};
    lh_buf_printf(&sql, "DELETE FROM %s WHERE ", table);
    for (size_t k = 0; k < m->nkey; k++) {
        if (k) lh_buf_puts(&sql, " AND ");
        lh_sql_ident(&sql, m->key[k]);
        lh_buf_printf(&sql, " = CAST($%zu::VARCHAR AS %s)", k + 1,
                      lh_manifest_column(m, m->key[k])->type);
    }
    int rc = lh_duckdb_prepare(c, sql.data, &w->del, err);
    lh_buf_reset(&sql);
    lh_buf_printf(&sql, "INSERT INTO %s VALUES (", table);
    for (size_t i = 0; i < m->ncolumns; i++)
        lh_buf_printf(&sql, "CAST($%zu::VARCHAR AS %s), ", i + 1, m->columns[i].type);
    lh_buf_printf(&sql, "$%zu::BIGINT, coalesce($%zu::VARCHAR = 'true', false))", m->ncolumns + 1,
                  m->ncolumns + 2);
    if (!rc) rc = lh_duckdb_prepare(c, sql.data, &w->ins, err);
    lh_buf_free(&sql);
    if (rc) {
        free(sig);
        lh_row_writer_reset(w);
        return rc;
    }
    w->sig = sig;
    return LH_OK;
}

static int run_prepared(duckdb_prepared_statement ps, lh_error *err)
{
    duckdb_result res;
    int rc = LH_OK;
    if (duckdb_execute_prepared(ps, &res) != DuckDBSuccess) {
        const char *msg = duckdb_result_error(&res);
        rc = lh_error_set(err, LH_EINVAL, "rows: %s", msg ? msg : "DuckDB error");
    }
    duckdb_destroy_result(&res);
    return rc;
}

int lh_row_writer_replace(lh_row_writer *w, duckdb_connection c, const char *table,
                          const lh_manifest *m, const json_t *rows, int64_t seq, const bool *fresh,
                          lh_error *err)
{
    size_t n = json_array_size(rows), nstmt = 0;
    if (!n) return LH_OK;
    int rc = writer_prepare(w, c, table, m, err);
    if (rc) return rc;
    /* Each statement costs DuckDB 0.3-0.7 ms here: no DELETE for a key the table surely does
     * not hold, and no transaction around a single statement. */
    for (size_t i = 0; i < n; i++)
        nstmt += fresh && fresh[i] ? 1 : 2;
    bool tx = nstmt > 1;
    if (tx && (rc = lh_duckdb_exec(c, "BEGIN TRANSACTION", "rows", err))) return rc;
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, i);
        for (size_t k = 0; k < m->nkey; k++) {
            bind_text(w->del, k + 1, json_array_get(row, lh_manifest_column_index(m, m->key[k])));
        }
        for (size_t k = 0; k <= m->ncolumns; k++)
            bind_text(w->ins, k < m->ncolumns ? k + 1 : k + 2, json_array_get(row, k));
        duckdb_bind_int64(w->ins, m->ncolumns + 1, seq);
        if ((!(fresh && fresh[i]) && (rc = run_prepared(w->del, err))) ||
            (rc = run_prepared(w->ins, err)))
            break;
    }
    if (!tx) return rc;
    if (rc)
        lh_duckdb_exec(c, "ROLLBACK", "rows", NULL);
    else
        rc = lh_duckdb_exec(c, "COMMIT", "rows", err);
    return rc;
}
