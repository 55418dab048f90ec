/*
 * Embedding store: Parquet files (doc_id VARCHAR, chunk_id BIGINT, chunk_text VARCHAR,
 * vector FLOAT[d]) with the embedding model's name and version in the file's key-value
 * metadata, written and read through an in-memory DuckDB.
 *
 * Writing goes through data chunks (bulk, no per-value objects) into a temporary table, then
 * COPY ... TO ... (FORMAT parquet, KV_METADATA {...}). Reading casts the vector column to
 * FLOAT[] so files whose vectors came back as lists (any Parquet writer) read the same as
 * arrays, and checks every row has the same dimension.
 */
#include "vector/vector_int.h"

#include "core/duckdb_capi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int db_open(duckdb_database *db, duckdb_connection *conn, lh_error *err)
{
    *db = NULL;
    *conn = NULL;
    if (duckdb_open(NULL, db) != DuckDBSuccess)
        return lh_error_set(err, LH_EINTERNAL, "cannot open an in-memory DuckDB");
    if (duckdb_connect(*db, conn) != DuckDBSuccess) {
        duckdb_close(db);
        return lh_error_set(err, LH_EINTERNAL, "cannot connect to an in-memory DuckDB");
    }
    return LH_OK;
}

static void db_close(duckdb_database *db, duckdb_connection *conn)
{
    if (*conn) duckdb_disconnect(conn);
    if (*db) duckdb_close(db);
}

static int exec(duckdb_connection c, const char *sql, const char *what, lh_error *err)
{
    duckdb_result r;
    int rc = LH_OK;
    if (duckdb_query(c, sql, &r) != DuckDBSuccess) {
        const char *m = duckdb_result_error(&r);
        rc = lh_error_set(err, LH_EIO, "%s: %s", what, m ? m : "DuckDB error");
    }
    duckdb_destroy_result(&r);
    return rc;
}

int lh_vector_store_write(const char *path, const char *model, const char *model_version,
                          const lh_vector_rows *rows, lh_error *err)
{
    if (!path || !model || !model_version || !rows || !rows->doc_ids || !rows->chunk_ids ||
        (!rows->vectors && rows->n))
        return lh_error_set(err, LH_EINVAL, "embedding store write: missing argument");
    if (rows->dim == 0 || rows->dim > 65536)
        return lh_error_set(err, LH_EINVAL, "embedding store write: dimension %zu out of range",
                            rows->dim);
    for (size_t i = 0; i < rows->n; i++) {
        if (!rows->doc_ids[i])
            return lh_error_set(err, LH_EINVAL, "embedding row %zu: doc_id is NULL", i);
        for (size_t j = 0; j < rows->dim; j++)
            if (!isfinite(rows->vectors[i * rows->dim + j]))
                return lh_error_set(err, LH_EINVAL,
                                    "embedding row %zu (doc %s): vector[%zu] is not finite", i,
                                    rows->doc_ids[i], j);
    }
    duckdb_database db;
    duckdb_connection conn;
    duckdb_appender app = NULL;
    duckdb_data_chunk chunk = NULL;
    duckdb_logical_type types[4] = {0};
    lh_buf sql = {0};
    int rc = db_open(&db, &conn, err);
    if (rc) return rc;
    lh_buf_printf(&sql,
                  "CREATE TEMP TABLE emb (doc_id VARCHAR, chunk_id BIGINT, chunk_text VARCHAR, "
                  "vector FLOAT[%zu])",
                  rows->dim);
    rc = exec(conn, sql.data, "create embedding table", err);
    if (rc) goto out;
    if (duckdb_appender_create(conn, NULL, "emb", &app) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EIO, "embedding store: appender: %s",
                          app ? duckdb_appender_error(app) : "cannot create");
        goto out;
    }
    types[0] = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    types[1] = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    types[2] = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_logical_type f = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
    types[3] = duckdb_create_array_type(f, rows->dim);
    duckdb_destroy_logical_type(&f);
    chunk = duckdb_create_data_chunk(types, 4);
    size_t per = (size_t)duckdb_vector_size();
    for (size_t start = 0; start < rows->n; start += per) {
        size_t cnt = rows->n - start < per ? rows->n - start : per;
        duckdb_data_chunk_reset(chunk);
        duckdb_vector vdoc = duckdb_data_chunk_get_vector(chunk, 0);
        duckdb_vector vchunk = duckdb_data_chunk_get_vector(chunk, 1);
        duckdb_vector vtext = duckdb_data_chunk_get_vector(chunk, 2);
        duckdb_vector vvec = duckdb_data_chunk_get_vector(chunk, 3);
        int64_t *cid = duckdb_vector_get_data(vchunk);
        float *fl = duckdb_vector_get_data(duckdb_array_vector_get_child(vvec));
        duckdb_vector_ensure_validity_writable(vtext);
        uint64_t *tvalid = duckdb_vector_get_validity(vtext);
        for (size_t r = 0; r < cnt; r++) {
            size_t i = start + r;
            duckdb_vector_assign_string_element_len(vdoc, r, rows->doc_ids[i],
                                                    strlen(rows->doc_ids[i]));
            cid[r] = rows->chunk_ids[i];
            const char *t = rows->chunk_texts ? rows->chunk_texts[i] : NULL;
            if (t)
                duckdb_vector_assign_string_element_len(vtext, r, t, strlen(t));
            else
                duckdb_validity_set_row_invalid(tvalid, r);
            memcpy(fl + r * rows->dim, rows->vectors + i * rows->dim, rows->dim * sizeof(float));
        }
        duckdb_data_chunk_set_size(chunk, cnt);
        if (duckdb_append_data_chunk(app, chunk) != DuckDBSuccess) {
            rc = lh_error_set(err, LH_EIO, "embedding store: append: %s",
                              duckdb_appender_error(app));
            goto out;
        }
    }
    if (duckdb_appender_close(app) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EIO, "embedding store: append: %s", duckdb_appender_error(app));
        goto out;
    }
    lh_buf_reset(&sql);
    lh_buf_puts(&sql, "COPY (SELECT * FROM emb) TO ");
    lh_sql_quote(&sql, path);
    lh_buf_puts(&sql, " (FORMAT parquet, KV_METADATA {model: ");
    lh_sql_quote(&sql, model);
    lh_buf_puts(&sql, ", model_version: ");
    lh_sql_quote(&sql, model_version);
    lh_buf_printf(&sql, ", dim: '%zu'})", rows->dim);
    rc = exec(conn, sql.data, path, err);
out:
    if (chunk) duckdb_destroy_data_chunk(&chunk);
    for (int i = 0; i < 4; i++)
        if (types[i]) duckdb_destroy_logical_type(&types[i]);
    if (app) duckdb_appender_destroy(&app);
    lh_buf_free(&sql);
    db_close(&db, &conn);
    return rc;
}

static char *copy_str(const duckdb_string_t *s)
{
    uint32_t len;
    const char *p = lh_duckdb_string(s, &len);
    return lh_strndup(p, len);
}

void lh_vector_store_data_free(lh_vector_store_data *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        if (d->doc_ids) free(d->doc_ids[i]);
        if (d->chunk_texts) free(d->chunk_texts[i]);
    }
    free(d->doc_ids);
    free(d->chunk_texts);
    free(d->chunk_ids);
    free(d->vectors);
    free(d->model);
    free(d->model_version);
    memset(d, 0, sizeof *d);
}

static int read_kv(duckdb_connection conn, const char *path, lh_vector_store_data *out,
                   lh_error *err)
{
    lh_buf sql = {0};
    lh_buf_puts(&sql, "SELECT decode(key), decode(value) FROM parquet_kv_metadata(");
    lh_sql_quote(&sql, path);
    lh_buf_puts(&sql, ")");
    duckdb_result r;
    int rc = LH_OK;
    if (duckdb_query(conn, sql.data, &r) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EIO, "%s: key-value metadata: %s", path, duckdb_result_error(&r));
        goto out;
    }
    for (idx_t i = 0; i < duckdb_row_count(&r); i++) {
        char *k = duckdb_value_varchar(&r, 0, i), *v = duckdb_value_varchar(&r, 1, i);
        if (k && v && !strcmp(k, "model") && !out->model)
            out->model = lh_strdup(v);
        else if (k && v && !strcmp(k, "model_version") && !out->model_version)
            out->model_version = lh_strdup(v);
        duckdb_free(k);
        duckdb_free(v);
    }
out:
    duckdb_destroy_result(&r);
    lh_buf_free(&sql);
    return rc;
}

int lh_vector_store_read(const char *path, bool with_text, lh_vector_store_data *out, lh_error *err)
{
    memset(out, 0, sizeof *out);
    duckdb_database db;
    duckdb_connection conn;
    duckdb_result r;
    bool have_result = false;
    lh_buf sql = {0};
    size_t cap = 0;
    int rc = db_open(&db, &conn, err);
    if (rc) return rc;
    lh_buf_printf(&sql,
                  "SELECT doc_id::VARCHAR, chunk_id::BIGINT, %s, vector::FLOAT[] "
                  "FROM read_parquet(",
                  with_text ? "chunk_text::VARCHAR" : "NULL::VARCHAR");
    lh_sql_quote(&sql, path);
    lh_buf_puts(&sql, ")");
    if (duckdb_query(conn, sql.data, &r) != DuckDBSuccess) {
        const char *m = duckdb_result_error(&r);
        bool missing = m && (strstr(m, "No files found") || strstr(m, "No such file"));
        rc = lh_error_set(err, missing ? LH_ENOENT : LH_ECORRUPT,
                          "%s: not a readable embedding file: %s", path, m ? m : "?");
        have_result = true;
        goto out;
    }
    have_result = true;
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(r);
        if (!ch) break;
        size_t cnt = (size_t)duckdb_data_chunk_get_size(ch);
        duckdb_vector vdoc = duckdb_data_chunk_get_vector(ch, 0);
        duckdb_vector vcid = duckdb_data_chunk_get_vector(ch, 1);
        duckdb_vector vtxt = duckdb_data_chunk_get_vector(ch, 2);
        duckdb_vector vvec = duckdb_data_chunk_get_vector(ch, 3);
        const duckdb_string_t *docs = duckdb_vector_get_data(vdoc);
        uint64_t *doc_valid = duckdb_vector_get_validity(vdoc);
        const int64_t *cids = duckdb_vector_get_data(vcid);
        uint64_t *cid_valid = duckdb_vector_get_validity(vcid);
        const duckdb_string_t *txts = duckdb_vector_get_data(vtxt);
        uint64_t *txt_valid = duckdb_vector_get_validity(vtxt);
        const duckdb_list_entry *ents = duckdb_vector_get_data(vvec);
        uint64_t *vec_valid = duckdb_vector_get_validity(vvec);
        const float *child = duckdb_vector_get_data(duckdb_list_vector_get_child(vvec));
        uint64_t *child_valid = duckdb_vector_get_validity(duckdb_list_vector_get_child(vvec));
        if (out->n + cnt > cap) {
            size_t nc = cap ? cap * 2 : 4096;
            while (nc < out->n + cnt)
                nc *= 2;
            out->doc_ids = lh_realloc(out->doc_ids, nc * sizeof(char *));
            out->chunk_texts = lh_realloc(out->chunk_texts, nc * sizeof(char *));
            out->chunk_ids = lh_realloc(out->chunk_ids, nc * sizeof(int64_t));
            if (out->dim) out->vectors = lh_realloc(out->vectors, nc * out->dim * sizeof(float));
            cap = nc;
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t row = out->n;
            if (!duckdb_validity_row_is_valid(vec_valid, i) ||
                (!duckdb_validity_row_is_valid(doc_valid, i)) ||
                !duckdb_validity_row_is_valid(cid_valid, i)) {
                rc = lh_error_set(err, LH_ECORRUPT, "%s: row %zu: NULL doc_id, chunk_id or vector",
                                  path, row);
                duckdb_destroy_data_chunk(&ch);
                goto out;
            }
            size_t len = (size_t)ents[i].length;
            if (!out->dim) {
                if (len == 0 || len > 65536) {
                    rc = lh_error_set(err, LH_ECORRUPT, "%s: row 0: vector has %zu values", path,
                                      len);
                    duckdb_destroy_data_chunk(&ch);
                    goto out;
                }
                out->dim = len;
                out->vectors = lh_malloc(cap * len * sizeof(float));
            }
            if (len != out->dim) {
                rc = lh_error_set(err, LH_ECORRUPT,
                                  "%s: row %zu: vector has %zu values, earlier rows have %zu", path,
                                  row, len, out->dim);
                duckdb_destroy_data_chunk(&ch);
                goto out;
            }
            for (size_t j = 0; j < len; j++)
                if (!duckdb_validity_row_is_valid(child_valid, ents[i].offset + j)) {
                    rc = lh_error_set(err, LH_ECORRUPT, "%s: row %zu: vector[%zu] is NULL", path,
                                      row, j);
                    duckdb_destroy_data_chunk(&ch);
                    goto out;
                }
            memcpy(out->vectors + row * out->dim, child + ents[i].offset, len * sizeof(float));
            out->doc_ids[row] = copy_str(&docs[i]);
            out->chunk_ids[row] = cids[i];
            out->chunk_texts[row] =
                with_text && duckdb_validity_row_is_valid(txt_valid, i) ? copy_str(&txts[i]) : NULL;
            out->n++;
        }
        duckdb_destroy_data_chunk(&ch);
    }
    rc = read_kv(conn, path, out, err);
out:
    if (have_result) duckdb_destroy_result(&r);
    lh_buf_free(&sql);
    db_close(&db, &conn);
    if (rc) lh_vector_store_data_free(out);
    return rc;
}

int lh_vector_index_build(const char *parquet_path, const lh_hnsw_params *params, lh_hnsw **out,
                          lh_error *err)
{
    *out = NULL;
    lh_vector_store_data d;
    int rc = lh_vector_store_read(parquet_path, false, &d, err);
    if (rc) return rc;
    if (d.n == 0) {
        lh_vector_store_data_free(&d);
        return lh_error_set(err, LH_EINVAL, "%s: no embeddings to index", parquet_path);
    }
    rc = lh_hnsw_build(d.vectors, d.n, d.dim, params, out, err);
    if (rc) lh_error_prefix(err, "%s", parquet_path);
    lh_vector_store_data_free(&d);
    return rc;
}
