/* lh_catalog_resync: rebuild a dataset's schema, sizes and row counts from Parquet footers.
 *
 * Object storage is the source of truth; this repairs a manifest whose numbers drifted from
 * the files (manual edits, old bugs) by asking DuckDB to read only the footers: file
 * metadata for row counts, the union of file schemas for columns, and column-chunk null
 * counts for nullability. */
#define _GNU_SOURCE
#include "catalog/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/duckdb_capi.h"

typedef struct {
    lh_catalog *c;
    duckdb_connection conn;
    char **temps; /* downloaded copies to remove afterwards */
    size_t ntemps;
} resync_ctx;

static int duck_error(lh_error *err, duckdb_result *res, const char *dataset, const char *what)
{
    const char *m = duckdb_result_error(res);
    return lh_error_set(err, LH_ECORRUPT, "dataset '%s': %s: %s", dataset, what,
                        m ? m : "unknown DuckDB error");
}

/* The local path DuckDB reads for a file: in place if the backend has one, else a download. */
static int file_path(resync_ctx *x, const char *dataset, const char *key, char **out, lh_error *err)
{
    char buf[4096];
    const char *p = lh_storage_local_path(lh_catalog_storage(x->c), key, buf, sizeof buf);
    if (p) {
        *out = lh_strdup(p);
        return LH_OK;
    }
    const char *tmpdir = getenv("TMPDIR");
    char uuid[37];
    lh_uuid(uuid);
    char *tmp = lh_sprintf("%s/lh-resync-%s.parquet", tmpdir && *tmpdir ? tmpdir : "/tmp", uuid);
    int rc = lh_storage_get_file(lh_catalog_storage(x->c), key, tmp, err);
    if (rc != LH_OK) {
        free(tmp);
        return lh_error_wrap(err, rc, "dataset '%s': downloading '%s'", dataset, key);
    }
    x->temps = lh_realloc(x->temps, (x->ntemps + 1) * sizeof *x->temps);
    x->temps[x->ntemps++] = tmp;
    *out = lh_strdup(tmp);
    return LH_OK;
}

static int rebuild(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    resync_ctx *x = vctx;
    *next = NULL;
    if (!cur) return LH_ENOENT;
    lh_manifest *m = lh_manifest_clone(cur);
    char **paths = lh_calloc(m->nfiles ? m->nfiles : 1, sizeof *paths);
    lh_buf list = {0}, sql = {0};
    duckdb_result res;
    bool have_res = false;
    int rc = LH_OK;

    lh_buf_putc(&list, '[');
    for (size_t i = 0; i < m->nfiles; i++) {
        lh_data_file *f = &m->files[i];
        lh_object_info info;
        rc = lh_storage_head(lh_catalog_storage(x->c), f->key, &info, err);
        if (rc == LH_ENOENT) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "dataset '%s': version %lld lists file '%s', which is missing "
                              "from storage",
                              m->dataset, (long long)m->version, f->key);
            goto fail;
        }
        if (rc != LH_OK) goto fail;
        f->size = info.size;
        if ((rc = file_path(x, m->dataset, f->key, &paths[i], err)) != LH_OK) goto fail;
        if (i) lh_buf_putc(&list, ',');
        lh_sql_quote(&list, paths[i]);

        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "SELECT num_rows FROM parquet_file_metadata(");
        lh_sql_quote(&sql, paths[i]);
        lh_buf_putc(&sql, ')');
        if (duckdb_query(x->conn, sql.data, &res) != DuckDBSuccess) {
            char what[LH_KEY_MAX + 64];
            snprintf(what, sizeof what, "file '%s' is not readable Parquet", f->key);
            rc = duck_error(err, &res, m->dataset, what);
            duckdb_destroy_result(&res);
            goto fail;
        }
        f->rows = duckdb_row_count(&res) > 0 ? duckdb_value_int64(&res, 0, 0) : 0;
        duckdb_destroy_result(&res);
    }
    lh_buf_putc(&list, ']');

    if (m->nfiles > 0) {
        /* Columns: the union of the files' schemas, in first-seen order. */
        lh_buf_reset(&sql);
        lh_buf_printf(&sql, "DESCRIBE SELECT * FROM read_parquet(%s, union_by_name = true)",
                      list.data);
        if (duckdb_query(x->conn, sql.data, &res) != DuckDBSuccess) {
            rc = duck_error(err, &res, m->dataset, "reading the Parquet schemas");
            duckdb_destroy_result(&res);
            goto fail;
        }
        have_res = true;
        idx_t ncols = duckdb_row_count(&res);
        lh_manifest fresh = {0};
        for (idx_t r = 0; r < ncols; r++) {
            char *name = duckdb_value_varchar(&res, 0, r);
            char *type = duckdb_value_varchar(&res, 1, r);
            /* Delta files carry two bookkeeping columns that are not the dataset's. */
            if (name && strcmp(name, LH_DELTA_SEQ) && strcmp(name, LH_DELTA_DELETED))
                lh_manifest_add_column(&fresh, name, type, true);
            duckdb_free(name);
            duckdb_free(type);
        }
        duckdb_destroy_result(&res);
        have_res = false;

        /* Nullability: a column is non-null only if every chunk's statistics say 0 nulls. */
        lh_buf_reset(&sql);
        lh_buf_printf(&sql,
                      "SELECT path_in_schema, coalesce(sum(stats_null_count), 0), "
                      "count(*) - count(stats_null_count) FROM parquet_metadata(%s) GROUP BY 1",
                      list.data);
        if (duckdb_query(x->conn, sql.data, &res) == DuckDBSuccess) {
            for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
                char *path = duckdb_value_varchar(&res, 0, r);
                int64_t nulls = duckdb_value_int64(&res, 1, r);
                int64_t unknown = duckdb_value_int64(&res, 2, r);
                for (size_t k = 0; path && k < fresh.ncolumns; k++)
                    if (strcmp(fresh.columns[k].name, path) == 0)
                        fresh.columns[k].nullable = nulls > 0 || unknown > 0;
                duckdb_free(path);
            }
        }
        duckdb_destroy_result(&res);

        for (size_t k = 0; k < m->ncolumns; k++) {
            free(m->columns[k].name);
            free(m->columns[k].type);
        }
        free(m->columns);
        m->columns = fresh.columns;
        m->ncolumns = fresh.ncolumns;
    }
    m->rows = 0;
    m->bytes = 0;
    for (size_t i = 0; i < m->nfiles; i++) {
        m->rows += m->files[i].rows;
        m->bytes += m->files[i].size;
    }
    free(m->op);
    m->op = lh_strdup("resync");
    *next = m;
    m = NULL;
fail:
    if (have_res) duckdb_destroy_result(&res);
    for (size_t i = 0; paths && i < (cur ? cur->nfiles : 0); i++)
        free(paths[i]);
    free(paths);
    lh_buf_free(&list);
    lh_buf_free(&sql);
    lh_manifest_free(m);
    return rc;
}

int lh_catalog_resync(lh_catalog *c, const lh_identity *who, const char *dataset,
                      int64_t *committed, lh_error *err)
{
    resync_ctx x = {.c = c};
    duckdb_database db = NULL;
    int rc = lh_duckdb_check_version(err);
    if (rc != LH_OK) return rc;
    if (duckdb_open(NULL, &db) != DuckDBSuccess)
        return lh_error_set(err, LH_EINTERNAL, "dataset '%s': resync: cannot open DuckDB", dataset);
    if (duckdb_connect(db, &x.conn) != DuckDBSuccess) {
        duckdb_close(&db);
        return lh_error_set(err, LH_EINTERNAL, "dataset '%s': resync: cannot connect to DuckDB",
                            dataset);
    }
    rc = lh_catalog_update(c, who, dataset, rebuild, &x, committed, err);
    if (rc == LH_ENOENT) lh_error_set(err, LH_ENOENT, "dataset '%s' not found", dataset);
    duckdb_disconnect(&x.conn);
    duckdb_close(&db);
    for (size_t i = 0; i < x.ntemps; i++) {
        unlink(x.temps[i]);
        free(x.temps[i]);
    }
    free(x.temps);
    return rc;
}
