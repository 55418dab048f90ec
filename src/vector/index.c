/*
 * Dataset indexes: build an HNSW graph from a dataset column, store it in the lake as a
 * generation with its metadata, publish it through the pointer log, load the current
 * generation, and keep loaded indexes for a server (the registry). Layout and commit order
 * are described in vector.h.
 *
 * Reading goes through an in-memory DuckDB over the dataset's own Parquet files (no user
 * SQL runs here). Each row's position is computed from its file's base and
 * file_row_number, so the vectors land in position order whatever order the scan yields.
 */
#include "vector/vector_int.h"

#include "core/duckdb_capi.h"

#include <ctype.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_DIGITS 8
#define GEN_MAX 32 /* "g" + digits + NUL, with room */
#define CLAIM_TRIES 64
#define RECHECK_NS (500ull * 1000 * 1000)

/* ------------------------------------------------------------------ names */

const char *lh_vector_metric_name(lh_vector_metric m)
{
    return m == LH_METRIC_L2 ? "l2" : m == LH_METRIC_IP ? "ip" : "cosine";
}

int lh_vector_metric_parse(const char *s, lh_vector_metric *out, lh_error *err)
{
    if (s && strcmp(s, "cosine") == 0)
        *out = LH_METRIC_COSINE;
    else if (s && (strcmp(s, "ip") == 0 || strcmp(s, "dot") == 0))
        *out = LH_METRIC_IP;
    else if (s && (strcmp(s, "l2") == 0 || strcmp(s, "euclidean") == 0))
        *out = LH_METRIC_L2;
    else
        return lh_error_set(err, LH_EINVAL, "unknown metric '%s' (cosine, ip or l2)", s ? s : "");
    return LH_OK;
}

/* "<dataset>_<column>" made into a valid name. */
static char *default_name(const char *dataset, const char *column)
{
    char *s = lh_sprintf("%s_%s", dataset, column);
    for (char *p = s; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    if (strlen(s) > 128) s[128] = 0;
    return s;
}

/* Parses "<prefix>g00000042/..." style segments: the number after 'g', or -1. */
static int64_t gen_number(const char *seg)
{
    if (seg[0] != 'g') return -1;
    int64_t v = 0;
    for (int i = 1; i <= GEN_DIGITS; i++) {
        if (!isdigit((unsigned char)seg[i])) return -1;
        v = v * 10 + (seg[i] - '0');
    }
    return seg[GEN_DIGITS + 1] == '/' ? v : -1;
}

/* "g00000042"? */
static bool gen_valid(const char *g)
{
    if (!g || strlen(g) != GEN_DIGITS + 1 || g[0] != 'g') return false;
    for (int i = 1; i <= GEN_DIGITS; i++)
        if (!isdigit((unsigned char)g[i])) return false;
    return true;
}

/* ------------------------------------------------------------------ meta */

void lh_vector_index_meta_free(lh_vector_index_meta *m)
{
    if (!m) return;
    free(m->index);
    free(m->generation);
    free(m->dataset);
    free(m->column);
    free(m->id_column);
    free(m->model);
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->file_keys[i]);
    free(m->file_keys);
    free(m->file_bases);
    json_decref(m->json);
    memset(m, 0, sizeof *m);
}

static char *opt_str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? lh_strdup(s) : NULL;
}

static int meta_from_json(json_t *j, const char *where, lh_vector_index_meta *m, lh_error *err)
{
    memset(m, 0, sizeof *m);
    m->json = json_incref(j);
    m->index = opt_str(j, "index");
    m->generation = opt_str(j, "generation");
    m->dataset = opt_str(j, "dataset");
    m->column = opt_str(j, "column");
    m->id_column = opt_str(j, "id_column");
    m->model = opt_str(j, "model");
    m->dataset_version = json_integer_value(json_object_get(j, "dataset_version"));
    m->dim = (size_t)json_integer_value(json_object_get(j, "dim"));
    m->count = json_integer_value(json_object_get(j, "count"));
    m->created_us = json_integer_value(json_object_get(j, "created_us"));
    lh_hnsw_params_default(&m->params);
    m->params.m = (int)json_integer_value(json_object_get(j, "m"));
    m->params.ef_construction = (int)json_integer_value(json_object_get(j, "ef_construction"));
    m->params.ef_search = (int)json_integer_value(json_object_get(j, "ef_search"));
    const char *q = json_string_value(json_object_get(j, "quantize"));
    m->params.quant = q && strcmp(q, "int8") == 0 ? LH_QUANT_INT8 : LH_QUANT_NONE;
    int rc = lh_vector_metric_parse(json_string_value(json_object_get(j, "metric")),
                                    &m->params.metric, err);
    json_t *files = json_object_get(j, "files");
    if (!rc && (!m->index || !m->generation || !m->dataset || !m->column || m->dim == 0 ||
                m->count <= 0 || !json_is_array(files)))
        rc = lh_error_set(err, LH_ECORRUPT, "a required field is missing or invalid");
    if (!rc) {
        m->nfiles = json_array_size(files);
        m->file_keys = lh_calloc(m->nfiles + 1, sizeof(char *));
        m->file_bases = lh_calloc(m->nfiles + 1, sizeof(int64_t));
        for (size_t i = 0; i < m->nfiles && !rc; i++) {
            json_t *f = json_array_get(files, i);
            m->file_keys[i] = opt_str(f, "key");
            m->file_bases[i] = json_integer_value(json_object_get(f, "base"));
            if (!m->file_keys[i]) rc = lh_error_set(err, LH_ECORRUPT, "files[%zu] has no key", i);
        }
    }
    if (rc) {
        lh_error_prefix(err, "%s", where);
        if (rc != LH_ECORRUPT) err->code = rc = LH_ECORRUPT;
        lh_vector_index_meta_free(m);
    }
    return rc;
}

/* ---------------------------------------------------------- reading data */

/* Is a catalog type an array of numbers (FLOAT[], DOUBLE[8], DECIMAL(9,2)[], ...)? */
static bool number_array_type(const char *type)
{
    size_t n = strlen(type);
    if (n < 3 || type[n - 1] != ']') return false;
    const char *open = strrchr(type, '[');
    if (!open) return false;
    for (const char *p = open + 1; p < type + n - 1; p++)
        if (!isdigit((unsigned char)*p)) return false;
    size_t en = (size_t)(open - type);
    static const char *ok[] = {"FLOAT",    "DOUBLE",  "REAL",     "TINYINT",  "SMALLINT",
                               "INTEGER",  "BIGINT",  "HUGEINT",  "UTINYINT", "USMALLINT",
                               "UINTEGER", "UBIGINT", "UHUGEINT", "INT",      NULL};
    for (int i = 0; ok[i]; i++)
        if (strlen(ok[i]) == en && strncmp(type, ok[i], en) == 0) return true;
    return en > 8 && strncmp(type, "DECIMAL(", 8) == 0 && type[en - 1] == ')' &&
           !memchr(type, '[', en);
}

static bool integer_type(const char *type)
{
    static const char *ok[] = {"TINYINT",   "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                               "USMALLINT", "UINTEGER", "INT",     NULL};
    for (int i = 0; ok[i]; i++)
        if (strcmp(type, ok[i]) == 0) return true;
    return false;
}

static const lh_column *find_column(const lh_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->ncolumns; i++)
        if (strcmp(m->columns[i].name, name) == 0) return &m->columns[i];
    return NULL;
}

static int no_column(const lh_manifest *m, const char *what, const char *name, lh_error *err)
{
    lh_buf b = {0};
    for (size_t i = 0; i < m->ncolumns; i++)
        lh_buf_printf(&b, "%s%s", i ? ", " : "", m->columns[i].name);
    lh_error_set(err, LH_ENOENT, "dataset '%s' has no %s '%s' (columns: %s)", m->dataset, what,
                 name, b.data ? b.data : "none");
    lh_buf_free(&b);
    return LH_ENOENT;
}

typedef struct reader {
    const lh_manifest *m;
    const char *column;
    const char *id_column; /* NULL: no ids */
    size_t dim;
    int64_t first_row; /* the row whose length fixed dim */
    float *vectors;    /* rows * dim, by position */
    char **ids;        /* rows, JSON text, by position */
    int64_t seen;
    void (*progress)(void *ctx, double fraction);
    void *progress_ctx;
} reader;

static void row_label(lh_buf *b, const reader *r, int64_t pos, const char *id)
{
    lh_buf_printf(b, "dataset '%s' version %" PRId64 ", row %" PRId64, r->m->dataset, r->m->version,
                  pos);
    if (id) lh_buf_printf(b, " (id %s)", id);
}

static int row_error(const reader *r, int64_t pos, const char *id, lh_error *err, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
static int row_error(const reader *r, int64_t pos, const char *id, lh_error *err, const char *fmt,
                     ...)
{
    lh_buf b = {0};
    row_label(&b, r, pos, id);
    lh_buf_printf(&b, ": column '%s' ", r->column);
    va_list ap;
    va_start(ap, fmt);
    char tail[512];
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    lh_buf_puts(&b, tail);
    lh_error_set(err, LH_EINVAL, "%s", b.data);
    lh_buf_free(&b);
    return LH_EINVAL;
}

static char *id_text(duckdb_vector v, idx_t i, bool integer)
{
    if (!duckdb_validity_row_is_valid(duckdb_vector_get_validity(v), i)) return NULL;
    if (integer) return lh_sprintf("%" PRId64, ((const int64_t *)duckdb_vector_get_data(v))[i]);
    uint32_t len;
    const char *p =
        lh_duckdb_string(&((const duckdb_string_t *)duckdb_vector_get_data(v))[i], &len);
    lh_buf b = {0};
    lh_buf_json_str(&b, p, len);
    return lh_buf_steal(&b);
}

static int read_chunk(reader *r, duckdb_data_chunk ch, bool integer_ids, lh_error *err)
{
    idx_t cnt = duckdb_data_chunk_get_size(ch);
    const int64_t *pos = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
    duckdb_vector vv = duckdb_data_chunk_get_vector(ch, 1);
    const duckdb_list_entry *ents = duckdb_vector_get_data(vv);
    uint64_t *valid = duckdb_vector_get_validity(vv);
    duckdb_vector child = duckdb_list_vector_get_child(vv);
    const float *vals = duckdb_vector_get_data(child);
    uint64_t *cvalid = duckdb_vector_get_validity(child);
    duckdb_vector vid = r->id_column ? duckdb_data_chunk_get_vector(ch, 2) : NULL;
    int64_t nrows = r->m->rows;
    for (idx_t i = 0; i < cnt; i++) {
        int64_t p = pos[i];
        char *id = vid ? id_text(vid, i, integer_ids) : NULL;
        int rc = LH_OK;
        if (p < 0 || p >= nrows) {
            rc = lh_error_set(err, LH_ECORRUPT,
                              "dataset '%s' version %" PRId64 ": row position %" PRId64
                              " outside the %" PRId64 " rows of its manifest (run catalog resync)",
                              r->m->dataset, r->m->version, p, nrows);
        } else if (vid && !id) {
            lh_buf b = {0};
            row_label(&b, r, p, NULL);
            rc = lh_error_set(err, LH_EINVAL, "%s: id column is NULL", b.data);
            lh_buf_free(&b);
        } else if (!duckdb_validity_row_is_valid(valid, i)) {
            rc = row_error(r, p, id, err, "is NULL; every row needs a vector");
        } else {
            size_t len = (size_t)ents[i].length;
            if (!r->dim) {
                if (len == 0 || len > 65536)
                    rc = row_error(r, p, id, err, "has %zu values (expected 1..65536)", len);
                r->dim = len;
                r->first_row = p;
                if (!rc) r->vectors = lh_malloc((size_t)nrows * len * sizeof(float));
            } else if (len != r->dim) {
                rc = row_error(r, p, id, err,
                               "has %zu values but row %" PRId64 " has %zu; all vectors need the "
                               "same dimension",
                               len, r->first_row, r->dim);
            }
            for (size_t j = 0; !rc && j < len; j++)
                if (!duckdb_validity_row_is_valid(cvalid, ents[i].offset + j))
                    rc = row_error(r, p, id, err, "value [%zu] is NULL", j);
            if (!rc)
                memcpy(r->vectors + (size_t)p * r->dim, vals + ents[i].offset, len * sizeof(float));
        }
        if (rc) {
            free(id);
            return rc;
        }
        if (vid) {
            free(r->ids[p]);
            r->ids[p] = id;
        }
        r->seen++;
    }
    if (r->progress) r->progress(r->progress_ctx, 0.3 * (double)r->seen / (double)nrows);
    return LH_OK;
}

/* Reads the vector (and id) column of every row of m into r, by position. */
static int read_dataset(lh_storage *s, const lh_manifest *m, const char *id_type,
                        const char *tmp_dir, reader *r, lh_error *err)
{
    duckdb_database db = NULL;
    duckdb_connection conn = NULL;
    duckdb_result res;
    bool have_res = false;
    lh_buf sql = {0}, src = {0};
    char **fetched = lh_calloc(m->nfiles + 1, sizeof(char *));
    bool integer_ids = id_type && integer_type(id_type);
    int rc = LH_OK;
    if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &conn) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "cannot open an in-memory DuckDB");
        goto out;
    }
    lh_buf_puts(&sql, "SELECT (CASE __lh_file");
    lh_buf_puts(&src, "read_parquet([");
    for (size_t i = 0, base = 0; i < m->nfiles; base += (size_t)m->files[i].rows, i++) {
        char buf[LH_KEY_MAX + 4096];
        const char *path = lh_storage_local_path(s, m->files[i].key, buf, sizeof buf);
        if (!path) {
            /* Backends without local files: a temporary copy, removed afterwards. */
            char uuid[37];
            lh_uuid(uuid);
            fetched[i] = lh_sprintf("%s/idx-%s.parquet", tmp_dir, uuid);
            if ((rc = lh_mkdir_p(tmp_dir, err)) ||
                (rc = lh_storage_get_file(s, m->files[i].key, fetched[i], err)))
                goto out;
            path = fetched[i];
        }
        lh_buf_puts(&sql, " WHEN ");
        lh_sql_quote(&sql, path);
        lh_buf_printf(&sql, " THEN %zu", base);
        lh_buf_puts(&src, i ? ", " : "");
        lh_sql_quote(&src, path);
    }
    lh_buf_puts(&sql, " END + file_row_number)::BIGINT, ");
    lh_sql_ident(&sql, r->column);
    lh_buf_puts(&sql, "::FLOAT[]");
    if (r->id_column) {
        lh_buf_puts(&sql, ", ");
        lh_sql_ident(&sql, r->id_column);
        lh_buf_puts(&sql, integer_ids ? "::BIGINT" : "::VARCHAR");
    }
    lh_buf_printf(&sql, " FROM %s], filename='__lh_file', file_row_number=true)", src.data);
    if (duckdb_query(conn, sql.data, &res) != DuckDBSuccess) {
        have_res = true;
        rc = lh_error_set(err, LH_EINVAL, "dataset '%s' column '%s': %s", m->dataset, r->column,
                          duckdb_result_error(&res));
        goto out;
    }
    have_res = true;
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch) break;
        rc = duckdb_data_chunk_get_size(ch) ? read_chunk(r, ch, integer_ids, err) : LH_OK;
        duckdb_destroy_data_chunk(&ch);
        if (rc) goto out;
    }
    {
        const char *e = duckdb_result_error(&res);
        if (e && *e) {
            rc = lh_error_set(err, LH_EINVAL, "dataset '%s' column '%s': %s", m->dataset, r->column,
                              e);
            goto out;
        }
    }
    if (r->seen != m->rows)
        rc = lh_error_set(err, LH_ECORRUPT,
                          "dataset '%s' version %" PRId64 ": read %" PRId64
                          " rows but the manifest lists %" PRId64 " (run catalog resync)",
                          m->dataset, m->version, r->seen, m->rows);
out:
    if (have_res) duckdb_destroy_result(&res);
    if (conn) duckdb_disconnect(&conn);
    if (db) duckdb_close(&db);
    for (size_t i = 0; i < m->nfiles; i++) {
        if (fetched[i]) unlink(fetched[i]);
        free(fetched[i]);
    }
    free(fetched);
    lh_buf_free(&sql);
    lh_buf_free(&src);
    return rc;
}

/* ------------------------------------------------------------ publishing */

/* Highest generation number and highest pointer record under vectors/<index>/. */
static int scan_index(lh_storage *s, const char *index, int64_t *max_gen, int64_t *max_ptr,
                      lh_error *err)
{
    char *prefix = lh_sprintf("vectors/%s/", index);
    lh_object_list l = {0};
    int rc = lh_storage_list_all(s, prefix, &l, err);
    *max_gen = 0;
    *max_ptr = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; rc == LH_OK && i < l.count; i++) {
        const char *rest = l.items[i].key + plen;
        int64_t g = gen_number(rest);
        if (g > *max_gen) *max_gen = g;
        int64_t p = 0;
        if (strncmp(rest, "_current/", 9) == 0 && sscanf(rest + 9, "%" SCNd64 ".json", &p) == 1 &&
            p > *max_ptr)
            *max_ptr = p;
    }
    lh_storage_list_free(&l);
    free(prefix);
    return rc;
}

static char *ptr_key(const char *index, int64_t n)
{
    return lh_sprintf("vectors/%s/_current/%0*" PRId64 ".json", index, GEN_DIGITS, n);
}

static int put_json(lh_storage *s, const char *key, json_t *j, bool if_absent, lh_error *err)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc = if_absent ? lh_storage_put_if_absent(s, key, text, strlen(text), err)
                       : lh_storage_put(s, key, text, strlen(text), err);
    free(text);
    return rc;
}

/* Creates the next record of a sequence with put-if-absent, re-listing after each lost race:
 * a generation's claim.json (gen receives its name) or, with gen given, the pointer record
 * naming it. body gets the actor, profile and the time under `at_field`. */
static int put_next(lh_storage *s, const char *index, const lh_identity *who, bool pointer,
                    json_t *body, const char *at_field, char gen[GEN_MAX], lh_error *err)
{
    char at[40];
    json_object_set_new(body, "actor", json_string(who->actor ? who->actor : ""));
    json_object_set_new(body, "profile", json_string(who->profile ? who->profile : ""));
    for (int t = 0; t < CLAIM_TRIES; t++) {
        int64_t max_gen, max_ptr;
        int rc = scan_index(s, index, &max_gen, &max_ptr, err);
        if (rc) return rc;
        char *key;
        if (pointer) {
            key = ptr_key(index, max_ptr + 1);
        } else {
            snprintf(gen, GEN_MAX, "g%0*" PRId64, GEN_DIGITS, max_gen + 1);
            key = lh_sprintf("vectors/%s/%s/claim.json", index, gen);
        }
        lh_time_format(lh_wall_us(), at, sizeof at);
        json_object_set_new(body, at_field, json_string(at));
        lh_error e = {0};
        rc = put_json(s, key, body, true, &e);
        free(key);
        if (rc != LH_EEXIST) {
            if (rc) *err = e;
            return rc;
        }
    }
    return lh_error_set(err, LH_ECONFLICT,
                        "index '%s': lost the race for the next %s %d times (many concurrent "
                        "builds?)",
                        index, pointer ? "pointer record" : "generation", CLAIM_TRIES);
}

/* Claims the next free generation: put-if-absent of its claim.json. */
static int claim_generation(lh_storage *s, const char *index, const lh_identity *who,
                            char gen[GEN_MAX], lh_error *err)
{
    json_t *j = json_object();
    int rc = put_next(s, index, who, false, j, "claimed_at", gen, err);
    json_decref(j);
    return rc;
}

/* Appends a pointer record naming gen: from then on gen is the current generation. */
static int publish(lh_storage *s, const char *index, char gen[GEN_MAX], const lh_identity *who,
                   lh_error *err)
{
    json_t *j = json_pack("{s:s, s:s}", "generation", gen, "op", "build");
    int rc = put_next(s, index, who, true, j, "published_at", gen, err);
    json_decref(j);
    return rc;
}

static json_t *meta_json(const lh_vector_index_spec *sp, const char *name, const char *gen,
                         const lh_manifest *m, const char *model, const lh_hnsw *h,
                         const lh_identity *who)
{
    lh_hnsw_params p;
    lh_hnsw_get_params(h, &p);
    int64_t now = lh_wall_us();
    char at[40];
    lh_time_format(now, at, sizeof at);
    json_t *files = json_array();
    int64_t base = 0;
    for (size_t i = 0; i < m->nfiles; base += m->files[i].rows, i++)
        json_array_append_new(files,
                              json_pack("{s:s, s:I, s:I}", "key", m->files[i].key, "rows",
                                        (json_int_t)m->files[i].rows, "base", (json_int_t)base));
    json_t *j = json_pack(
        "{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:i, s:i, s:i, s:s, s:I, s:I, s:f, s:I, "
        "s:s, s:I, s:s, s:s, s:o, s:{s:s}}",
        "format", 1, "index", name, "generation", gen, "dataset", m->dataset, "dataset_version",
        (json_int_t)m->version, "column", sp->column, "row_ids",
        sp->id_column ? "id_column" : "positions", "id_column",
        sp->id_column ? json_string(sp->id_column) : json_null(), "metric",
        lh_vector_metric_name(p.metric), "m", p.m, "ef_construction", p.ef_construction,
        "ef_search", p.ef_search, "quantize", p.quant == LH_QUANT_INT8 ? "int8" : "none", "dim",
        (json_int_t)lh_hnsw_dim(h), "count", (json_int_t)lh_hnsw_size(h), "build_seconds",
        lh_hnsw_build_seconds(h), "memory_bytes", (json_int_t)lh_hnsw_memory_bytes(h), "created_at",
        at, "created_us", (json_int_t)now, "actor", who->actor ? who->actor : "", "profile",
        who->profile ? who->profile : "", "files", files, "objects", "graph", "hnsw.bin");
    json_object_set_new(j, "model", model ? json_string(model) : json_null());
    if (sp->id_column)
        json_object_set_new(json_object_get(j, "objects"), "ids", json_string("ids.jsonl"));
    return j;
}

static void on_build_progress(void *ctx, double f)
{
    const lh_vector_index_spec *sp = ctx;
    sp->progress(sp->progress_ctx, 0.3 + 0.65 * f);
}

int lh_vector_index_publish(lh_storage *s, const lh_identity *who, const lh_vector_index_spec *sp,
                            const lh_manifest *m, const lh_hnsw *h, const char *const *ids,
                            lh_vector_index_meta *out, lh_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (lh_hnsw_size(h) != (size_t)m->rows)
        return lh_error_set(err, LH_EINVAL,
                            "index over dataset '%s': the graph has %zu rows, the version %" PRId64
                            " has %" PRId64,
                            m->dataset, lh_hnsw_size(h), m->version, m->rows);
    char *name = sp->name ? lh_strdup(sp->name) : default_name(m->dataset, sp->column);
    const char *tmp = sp->tmp_dir ? sp->tmp_dir : "/tmp";
    const char *model =
        sp->model ? sp->model : json_string_value(json_object_get(m->metadata, "model"));
    json_t *meta = NULL;
    lh_buf text = {0};
    char gen[GEN_MAX] = "";
    int rc;
    if (!lh_name_valid(name, err)) {
        rc = lh_error_wrap(err, LH_EINVAL, "index name '%s'", name);
        goto out;
    }
    /* Claim, write every object of the generation, then publish it: nothing is visible to
     * readers until the pointer record exists. */
    if ((rc = claim_generation(s, name, who, gen, err))) goto out;
    if ((rc = lh_hnsw_store(h, s, name, gen, tmp, err))) goto out;
    if (ids) {
        for (int64_t i = 0; i < m->rows; i++) {
            lh_buf_puts(&text, ids[i]);
            lh_buf_putc(&text, '\n');
        }
        char *key = lh_sprintf("vectors/%s/%s/ids.jsonl", name, gen);
        rc = lh_storage_put(s, key, text.data, text.len, err);
        free(key);
        if (rc) goto out;
    }
    lh_vector_index_spec described = *sp;
    if (!ids) described.id_column = NULL;
    meta = meta_json(&described, name, gen, m, model, h, who);
    char *mkey = lh_sprintf("vectors/%s/%s/index.json", name, gen);
    rc = put_json(s, mkey, meta, true, err);
    free(mkey);
    if (rc) goto out;
    if ((rc = publish(s, name, gen, who, err))) goto out;
    if (out) rc = meta_from_json(meta, name, out, err);
out:
    if (rc && gen[0])
        lh_log(LH_LOG_WARN, "vector.index_abandoned", "index", name, "generation", gen, "error",
               err ? err->msg : "", (const char *)NULL);
    lh_buf_free(&text);
    json_decref(meta);
    free(name);
    return rc;
}

int lh_vector_index_claim(lh_storage *s, const lh_identity *who, const char *index,
                          char gen[LH_VECTOR_GEN_MAX], lh_error *err)
{
    char g[GEN_MAX] = "";
    if (!lh_name_valid(index, err)) return lh_error_prefix(err, "index name '%s'", index);
    int rc = claim_generation(s, index, who, g, err);
    if (!rc) snprintf(gen, LH_VECTOR_GEN_MAX, "%s", g);
    return rc;
}

int lh_vector_index_commit(lh_storage *s, const lh_identity *who, const lh_vector_index_spec *sp,
                           const lh_manifest *m, const char *gen, const lh_hnsw *h,
                           const json_t *extra, lh_vector_index_meta *out, lh_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!sp->name || !gen_valid(gen))
        return lh_error_set(err, LH_EINVAL,
                            "index commit: a name and a claimed generation "
                            "are required");
    const char *model =
        sp->model ? sp->model : json_string_value(json_object_get(m->metadata, "model"));
    char g[GEN_MAX];
    snprintf(g, sizeof g, "%s", gen);
    json_t *meta = meta_json(sp, sp->name, g, m, model, h, who);
    if (extra) json_object_update(meta, (json_t *)extra);
    char *mkey = lh_sprintf("vectors/%s/%s/index.json", sp->name, g);
    int rc = put_json(s, mkey, meta, true, err);
    free(mkey);
    if (!rc) rc = publish(s, sp->name, g, who, err);
    if (!rc && out) rc = meta_from_json(meta, sp->name, out, err);
    json_decref(meta);
    return rc;
}

int lh_vector_index_create(lh_catalog *cat, const lh_identity *who, const lh_vector_index_spec *sp,
                           lh_vector_index_meta *out, lh_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!sp || !sp->dataset || !sp->column)
        return lh_error_set(err, LH_EINVAL, "index build: a dataset and a column are required");
    lh_storage *s = lh_catalog_storage(cat);
    lh_manifest *m = NULL;
    lh_hnsw *h = NULL;
    char *name = sp->name ? lh_strdup(sp->name) : default_name(sp->dataset, sp->column);
    const char *tmp = sp->tmp_dir ? sp->tmp_dir : "/tmp";
    reader r = {.column = sp->column,
                .id_column = sp->id_column,
                .progress = sp->progress,
                .progress_ctx = sp->progress_ctx};
    int rc;
    if (!lh_name_valid(name, err)) {
        rc = lh_error_wrap(err, LH_EINVAL, "index name '%s'", name);
        goto out;
    }
    if ((rc = lh_catalog_get(cat, who, sp->dataset, 0, &m, err))) goto out;
    const lh_column *col = find_column(m, sp->column);
    if (!col) {
        rc = no_column(m, "column", sp->column, err);
        goto out;
    }
    if (!number_array_type(col->type)) {
        rc = lh_error_set(err, LH_EINVAL,
                          "dataset '%s' column '%s' has type %s; an index needs an array of "
                          "numbers (FLOAT[], DOUBLE[], FLOAT[d], ...)",
                          m->dataset, col->name, col->type);
        goto out;
    }
    const lh_column *idc = sp->id_column ? find_column(m, sp->id_column) : NULL;
    if (sp->id_column && !idc) {
        rc = no_column(m, "id column", sp->id_column, err);
        goto out;
    }
    if (idc && strchr(idc->type, '[')) {
        rc = lh_error_set(err, LH_EINVAL,
                          "dataset '%s' id column '%s' has type %s; ids must be "
                          "numbers or text",
                          m->dataset, idc->name, idc->type);
        goto out;
    }
    if (m->rows <= 0) {
        rc = lh_error_set(err, LH_EINVAL, "dataset '%s' version %" PRId64 " has no rows to index",
                          m->dataset, m->version);
        goto out;
    }
    r.m = m;
    if (idc) r.ids = lh_calloc((size_t)m->rows, sizeof(char *));
    if ((rc = read_dataset(s, m, idc ? idc->type : NULL, tmp, &r, err))) goto out;

    lh_hnsw_params p = sp->params;
    p.progress = sp->progress ? on_build_progress : NULL;
    p.progress_ctx = (void *)sp;
    if ((rc = lh_hnsw_build(r.vectors, (size_t)m->rows, r.dim, &p, &h, err))) {
        lh_error_prefix(err, "dataset '%s' column '%s'", m->dataset, sp->column);
        goto out;
    }
    rc = lh_vector_index_publish(s, who, sp, m, h, idc ? (const char *const *)r.ids : NULL, out,
                                 err);
    if (!rc && sp->progress) sp->progress(sp->progress_ctx, 1.0);
out:
    if (r.ids)
        for (int64_t i = 0; i < m->rows; i++)
            free(r.ids[i]);
    free(r.ids);
    free(r.vectors);
    lh_hnsw_free(h);
    lh_manifest_free(m);
    free(name);
    return rc;
}

/* ---------------------------------------------------------------- reading */

int lh_vector_index_list(lh_storage *s, char ***names, size_t *count, lh_error *err)
{
    *names = NULL;
    *count = 0;
    lh_object_list l = {0};
    int rc = lh_storage_list_all(s, "vectors/", &l, err);
    if (rc) return rc;
    size_t cap = 0;
    for (size_t i = 0; i < l.count; i++) {
        const char *rest = l.items[i].key + 8;
        const char *slash = strchr(rest, '/');
        if (!slash || strncmp(slash, "/_current/", 10) != 0) continue;
        size_t n = (size_t)(slash - rest);
        if (*count && strlen((*names)[*count - 1]) == n && !strncmp((*names)[*count - 1], rest, n))
            continue; /* keys are sorted: one name per run */
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *names = lh_realloc(*names, cap * sizeof(char *));
        }
        (*names)[(*count)++] = lh_strndup(rest, n);
    }
    lh_storage_list_free(&l);
    return LH_OK;
}

/* Reads pointer record n (or the latest when n = 0): its generation and number. */
static int read_pointer(lh_storage *s, const char *index, int64_t *n, char gen[GEN_MAX],
                        json_t **rec, lh_error *err)
{
    if (!lh_name_valid(index, err)) return lh_error_wrap(err, LH_EINVAL, "index name");
    if (*n == 0) {
        int64_t max_gen;
        int rc = scan_index(s, index, &max_gen, n, err);
        if (rc) return rc;
        if (*n == 0) return lh_error_set(err, LH_ENOENT, "no vector index '%s'", index);
    }
    char *key = ptr_key(index, *n);
    char *text = NULL;
    size_t len;
    int rc = lh_storage_get(s, key, &text, &len, err);
    json_t *j = rc ? NULL : json_loadb(text, len, 0, NULL);
    const char *g = json_string_value(json_object_get(j, "generation"));
    if (!rc && !gen_valid(g)) rc = lh_error_set(err, LH_ECORRUPT, "%s: not a pointer record", key);
    if (!rc) snprintf(gen, GEN_MAX, "%s", g);
    if (!rc && rec) *rec = json_incref(j);
    json_decref(j);
    free(text);
    free(key);
    return rc;
}

static int read_meta(lh_storage *s, const char *index, const char *gen, lh_vector_index_meta *out,
                     lh_error *err)
{
    char *key = lh_sprintf("vectors/%s/%s/index.json", index, gen);
    char *text = NULL;
    size_t len;
    int rc = lh_storage_get(s, key, &text, &len, err);
    if (rc == LH_ENOENT)
        rc = lh_error_set(err, LH_ECORRUPT, "%s: missing though generation %s is published", key,
                          gen);
    if (!rc) {
        json_error_t je;
        json_t *j = json_loadb(text, len, 0, &je);
        if (!j)
            rc = lh_error_set(err, LH_ECORRUPT, "%s: %s", key, je.text);
        else
            rc = meta_from_json(j, key, out, err);
        json_decref(j);
    }
    free(text);
    free(key);
    return rc;
}

int lh_vector_index_current(lh_storage *s, const char *index, lh_vector_index_meta *out,
                            lh_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t n = 0;
    char gen[GEN_MAX];
    int rc = read_pointer(s, index, &n, gen, NULL, err);
    return rc ? rc : read_meta(s, index, gen, out, err);
}

int lh_vector_index_describe(lh_storage *s, const char *index, json_t **out, lh_error *err)
{
    *out = NULL;
    int64_t last = 0;
    char cur[GEN_MAX];
    int rc = read_pointer(s, index, &last, cur, NULL, err);
    if (rc) return rc;
    json_t *gens = json_array(), *current = NULL;
    for (int64_t n = 1; n <= last && !rc; n++) {
        json_t *rec = NULL;
        char gen[GEN_MAX];
        int64_t k = n;
        lh_error e = {0};
        if (read_pointer(s, index, &k, gen, &rec, &e)) continue; /* a gap: skip it */
        lh_vector_index_meta m;
        rc = read_meta(s, index, gen, &m, err);
        if (!rc) {
            json_t *g = json_deep_copy(m.json);
            json_object_set_new(g, "published_at",
                                json_incref(json_object_get(rec, "published_at")));
            json_object_set_new(g, "current", json_boolean(n == last));
            json_object_del(g, "files");
            if (n == last) current = json_incref(g);
            json_array_append_new(gens, g);
            lh_vector_index_meta_free(&m);
        }
        json_decref(rec);
    }
    if (rc) {
        json_decref(gens);
        json_decref(current);
        return rc;
    }
    *out = json_pack("{s:s, s:o, s:o}", "name", index, "current", current ? current : json_null(),
                     "generations", gens);
    return LH_OK;
}

/* --------------------------------------------------------------------- gc */

/* One generation folder of an index listing: its objects are items[first, first + count). */
typedef struct gc_gen {
    char name[GEN_MAX];
    size_t first, count;
    int64_t newest_us, bytes;
    int64_t rank; /* 0: unpublished; else 1 = current, 2 = published before it, ... */
} gc_gen;

static gc_gen *gc_find(gc_gen *g, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].name, name) == 0) return &g[i];
    return NULL;
}

static int gc_index(lh_storage *s, const char *index, int64_t grace_s, int keep, bool dry_run,
                    lh_vector_gc_report *r, lh_error *err)
{
    char *prefix = lh_sprintf("vectors/%s/", index);
    size_t plen = strlen(prefix);
    lh_object_list l = {0};
    gc_gen *gens = NULL;
    size_t ngen = 0, cap = 0;
    int64_t *ptrs = NULL; /* pointer record numbers, listing order */
    char(*ptr_gen)[GEN_MAX] = NULL;
    size_t nptr = 0;
    int rc = lh_storage_list_all(s, prefix, &l, err);
    if (rc == LH_OK) {
        ptrs = lh_calloc(l.count + 1, sizeof *ptrs);
        ptr_gen = lh_calloc(l.count + 1, sizeof *ptr_gen);
    }
    /* group the listing into generation folders; collect the pointer records */
    for (size_t i = 0; rc == LH_OK && i < l.count; i++) {
        const char *rest = l.items[i].key + plen;
        int64_t p;
        char tail;
        if (strncmp(rest, "_current/", 9) == 0) {
            if (sscanf(rest + 9, "%" SCNd64 ".jso%c", &p, &tail) == 2 && p > 0) ptrs[nptr++] = p;
            continue;
        }
        if (gen_number(rest) < 0) continue; /* not ours: leave it alone */
        char name[GEN_MAX];
        snprintf(name, sizeof name, "%.*s", GEN_DIGITS + 1, rest);
        gc_gen *g = ngen ? gc_find(gens, ngen, name) : NULL;
        if (!g) {
            if (ngen == cap) {
                cap = cap ? cap * 2 : 16;
                gens = lh_realloc(gens, cap * sizeof *gens);
            }
            g = &gens[ngen++];
            memset(g, 0, sizeof *g);
            snprintf(g->name, sizeof g->name, "%s", name);
            g->first = i;
        }
        g->count = i + 1 - g->first;
        g->bytes += l.items[i].size;
        if (l.items[i].mtime_us > g->newest_us) g->newest_us = l.items[i].mtime_us;
    }
    /* rank published generations, newest publication first; any unreadable record stops gc
     * before it deletes anything */
    for (size_t a = 0; a + 1 < nptr; a++) /* few records: a selection sort, highest first */
        for (size_t b = a + 1; b < nptr; b++)
            if (ptrs[b] > ptrs[a]) {
                int64_t t = ptrs[a];
                ptrs[a] = ptrs[b];
                ptrs[b] = t;
            }
    int64_t rank = 0;
    for (size_t i = 0; rc == LH_OK && i < nptr; i++) {
        int64_t n = ptrs[i];
        rc = read_pointer(s, index, &n, ptr_gen[i], NULL, err);
        if (rc) {
            rc = lh_error_prefix(err, "index gc of '%s' (nothing removed)", index);
            break;
        }
        gc_gen *g = gc_find(gens, ngen, ptr_gen[i]);
        if (g && g->rank == 0) g->rank = ++rank;
    }
    int64_t now = lh_wall_us();
    for (size_t i = 0; rc == LH_OK && i < ngen; i++) {
        gc_gen *g = &gens[i];
        r->generations++;
        const char *reason = NULL;
        if (g->rank) {
            r->published++;
            if (keep > 0 && g->rank > keep) reason = "retired";
        } else if (now - g->newest_us >= grace_s * 1000000) {
            reason = "abandoned";
        } else {
            r->young++;
        }
        if (!reason) continue;
        int64_t objects = (int64_t)g->count;
        /* a retired generation's pointer records go first, so the log never names a folder
         * that is half gone */
        for (size_t p = 0; p < nptr; p++) {
            if (strcmp(ptr_gen[p], g->name) != 0) continue;
            objects++;
            if (dry_run) continue;
            char *key = ptr_key(index, ptrs[p]);
            rc = lh_storage_delete(s, key, err);
            free(key);
            if (rc) break;
        }
        for (size_t k = g->first; rc == LH_OK && !dry_run && k < g->first + g->count; k++)
            rc = lh_storage_delete(s, l.items[k].key, err);
        if (rc) break;
        if (g->rank)
            r->retired++;
        else
            r->abandoned++;
        r->objects += objects;
        r->bytes += g->bytes;
        json_array_append_new(r->removed,
                              json_pack("{s:s, s:s, s:s, s:I, s:I}", "index", index, "generation",
                                        g->name, "reason", reason, "objects", (json_int_t)objects,
                                        "bytes", (json_int_t)g->bytes));
        if (!dry_run)
            lh_log(LH_LOG_INFO, "vector.index_gc", "index", index, "generation", g->name, "reason",
                   reason, (const char *)NULL);
    }
    lh_storage_list_free(&l);
    free(gens);
    free(ptrs);
    free(ptr_gen);
    free(prefix);
    return rc;
}

int lh_vector_index_gc(lh_storage *s, const char *index, int64_t grace_s, int keep, bool dry_run,
                       lh_vector_gc_report *out, lh_error *err)
{
    memset(out, 0, sizeof *out);
    if (grace_s < 0 || keep < 0)
        return lh_error_set(err, LH_EINVAL,
                            "index gc: grace (%" PRId64 " s) and keep (%d) must "
                            "not be negative",
                            grace_s, keep);
    if (index && !lh_name_valid(index, err)) return lh_error_prefix(err, "index name");
    out->removed = json_array();
    if (index) return gc_index(s, index, grace_s, keep, dry_run, out, err);
    /* every index, including those whose only builds died before publishing */
    lh_object_list l = {0};
    int rc = lh_storage_list_all(s, "vectors/", &l, err);
    char *last = NULL;
    for (size_t i = 0; rc == LH_OK && i < l.count; i++) {
        const char *rest = l.items[i].key + 8;
        const char *slash = strchr(rest, '/');
        if (!slash) continue;
        char *name = lh_strndup(rest, (size_t)(slash - rest));
        if ((last && strcmp(last, name) == 0) || !lh_name_valid(name, NULL)) {
            free(name);
            continue;
        }
        free(last);
        last = name;
        rc = gc_index(s, name, grace_s, keep, dry_run, out, err);
    }
    free(last);
    lh_storage_list_free(&l);
    return rc;
}

/* ------------------------------------------------------------ loaded index */

#define ALLOW_CACHE 16

/* A cached allow-set: bit p = row position p of this generation may be returned. */
typedef struct allow_entry {
    char *key; /* NULL: free slot */
    uint64_t *words;
    int64_t matches;
    uint64_t used; /* LRU clock */
} allow_entry;

struct lh_vector_index {
    _Atomic int refs;
    int64_t pointer; /* pointer record this generation was loaded from */
    lh_vector_index_meta meta;
    lh_hnsw *h;
    char *ids_text; /* ids.jsonl, lines NUL-terminated in place */
    char **ids;     /* count entries into ids_text, or NULL */
    /* Allow-sets of recent filters. They live and die with the generation, so a new
     * generation (or a new dataset version, which needs one) starts empty. */
    pthread_mutex_t allow_mu;
    allow_entry allow[ALLOW_CACHE];
    uint64_t allow_clock;
};

static size_t allow_words(const lh_vector_index *v)
{
    return ((size_t)v->meta.count + 63) / 64;
}

bool lh_vector_index_allow_get(lh_vector_index *v, const char *key, uint64_t **words,
                               int64_t *matches)
{
    *words = NULL;
    bool hit = false;
    pthread_mutex_lock(&v->allow_mu);
    for (int i = 0; i < ALLOW_CACHE && !hit; i++) {
        allow_entry *e = &v->allow[i];
        if (!e->key || strcmp(e->key, key) != 0) continue;
        *words = malloc(allow_words(v) * sizeof(uint64_t) + 8);
        if (*words) {
            memcpy(*words, e->words, allow_words(v) * sizeof(uint64_t));
            *matches = e->matches;
            e->used = ++v->allow_clock;
            hit = true;
        }
    }
    pthread_mutex_unlock(&v->allow_mu);
    return hit;
}

void lh_vector_index_allow_put(lh_vector_index *v, const char *key, const uint64_t *words,
                               int64_t matches)
{
    size_t bytes = allow_words(v) * sizeof(uint64_t);
    uint64_t *copy = malloc(bytes + 8);
    char *k = strdup(key);
    if (!copy || !k) {
        free(copy);
        free(k);
        return;
    }
    memcpy(copy, words, bytes);
    pthread_mutex_lock(&v->allow_mu);
    allow_entry *slot = &v->allow[0];
    for (int i = 0; i < ALLOW_CACHE; i++) {
        allow_entry *e = &v->allow[i];
        if (e->key && strcmp(e->key, key) == 0) {
            slot = e; /* computed twice concurrently: replace */
            break;
        }
        if (!e->key || e->used < slot->used) slot = e;
        if (!e->key) break;
    }
    free(slot->key);
    free(slot->words);
    slot->key = k;
    slot->words = copy;
    slot->matches = matches;
    slot->used = ++v->allow_clock;
    pthread_mutex_unlock(&v->allow_mu);
}

void lh_vector_index_release(lh_vector_index *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    lh_hnsw_free(v->h);
    lh_vector_index_meta_free(&v->meta);
    free(v->ids_text);
    free(v->ids);
    for (int i = 0; i < ALLOW_CACHE; i++) {
        free(v->allow[i].key);
        free(v->allow[i].words);
    }
    pthread_mutex_destroy(&v->allow_mu);
    free(v);
}

static int open_pointer(lh_storage *s, const char *index, int64_t n, const char *cache_dir,
                        lh_vector_index **out, lh_error *err)
{
    *out = NULL;
    char gen[GEN_MAX];
    int rc = read_pointer(s, index, &n, gen, NULL, err);
    if (rc) return rc;
    lh_vector_index *v = lh_calloc(1, sizeof *v);
    pthread_mutex_init(&v->allow_mu, NULL);
    atomic_store(&v->refs, 1);
    v->pointer = n;
    if ((rc = read_meta(s, index, gen, &v->meta, err))) goto fail;
    if ((rc = lh_hnsw_fetch(s, index, gen, cache_dir ? cache_dir : "/tmp", &v->h, err))) goto fail;
    if (lh_hnsw_size(v->h) != (size_t)v->meta.count || lh_hnsw_dim(v->h) != v->meta.dim) {
        rc = lh_error_set(err, LH_ECORRUPT,
                          "index '%s' generation %s: the graph has %zu rows of %zu dimensions, "
                          "the metadata says %" PRId64 " of %zu",
                          index, gen, lh_hnsw_size(v->h), lh_hnsw_dim(v->h), v->meta.count,
                          v->meta.dim);
        goto fail;
    }
    if (v->meta.id_column) {
        char *key = lh_sprintf("vectors/%s/%s/ids.jsonl", index, gen);
        size_t len;
        rc = lh_storage_get(s, key, &v->ids_text, &len, err);
        free(key);
        if (rc) goto fail;
        v->ids = lh_calloc((size_t)v->meta.count, sizeof(char *));
        char *p = v->ids_text;
        for (int64_t i = 0; i < v->meta.count; i++) {
            char *nl = p ? strchr(p, '\n') : NULL;
            if (!nl) {
                rc = lh_error_set(err, LH_ECORRUPT,
                                  "index '%s' generation %s: ids.jsonl has %" PRId64
                                  " lines, expected %" PRId64,
                                  index, gen, i, v->meta.count);
                goto fail;
            }
            *nl = 0;
            v->ids[i] = p;
            p = nl + 1;
        }
    }
    *out = v;
    return LH_OK;
fail:
    lh_vector_index_release(v);
    return rc;
}

int lh_vector_index_open(lh_storage *s, const char *index, const char *cache_dir,
                         lh_vector_index **out, lh_error *err)
{
    return open_pointer(s, index, 0, cache_dir, out, err);
}

const lh_vector_index_meta *lh_vector_index_meta_of(const lh_vector_index *v)
{
    return &v->meta;
}

const lh_hnsw *lh_vector_index_graph(const lh_vector_index *v)
{
    return v->h;
}

const char *lh_vector_index_row_id(const lh_vector_index *v, int64_t row)
{
    if (!v->ids || row < 0 || row >= v->meta.count) return NULL;
    return v->ids[row];
}

int lh_vector_index_find_row(const lh_vector_index *v, const char *id, int64_t *row, lh_error *err)
{
    if (!v->ids) {
        char *end;
        long long r = strtoll(id, &end, 10);
        if (*id && !*end && r >= 0 && r < v->meta.count) {
            *row = r;
            return LH_OK;
        }
        return lh_error_set(err, LH_ENOENT,
                            "index '%s' has no row %s (rows are positions 0..%" PRId64 ")",
                            v->meta.index, id, v->meta.count - 1);
    }
    lh_buf quoted = {0};
    lh_buf_json_str(&quoted, id, strlen(id));
    for (int64_t i = 0; i < v->meta.count; i++)
        if (strcmp(v->ids[i], id) == 0 || strcmp(v->ids[i], quoted.data) == 0) {
            *row = i;
            lh_buf_free(&quoted);
            return LH_OK;
        }
    lh_buf_free(&quoted);
    return lh_error_set(err, LH_ENOENT, "index '%s': no row has %s = %s", v->meta.index,
                        v->meta.id_column, id);
}

/* --------------------------------------------------------------- registry */

typedef struct reg_entry {
    char *name;
    lh_vector_index *idx; /* holds one reference */
    uint64_t checked_ns;
} reg_entry;

struct lh_vector_registry {
    lh_storage *s;
    char *cache_dir;
    pthread_mutex_t mu; /* guards entries, n */
    reg_entry *entries;
    size_t n;
};

lh_vector_registry *lh_vector_registry_new(lh_storage *s, const char *cache_dir)
{
    lh_vector_registry *r = lh_calloc(1, sizeof *r);
    r->s = s;
    r->cache_dir = lh_strdup(cache_dir ? cache_dir : "/tmp");
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void lh_vector_registry_free(lh_vector_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->entries[i].name);
        lh_vector_index_release(r->entries[i].idx);
    }
    free(r->entries);
    free(r->cache_dir);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static reg_entry *reg_find(lh_vector_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->entries[i].name, name) == 0) return &r->entries[i];
    return NULL;
}

/* Installs v (taking its reference) unless a newer generation is there already; returns the
 * entry's index with one more reference for the caller. Caller holds mu. */
static lh_vector_index *reg_install(lh_vector_registry *r, const char *name, lh_vector_index *v)
{
    reg_entry *e = reg_find(r, name);
    if (!e) {
        r->entries = lh_realloc(r->entries, (r->n + 1) * sizeof *r->entries);
        e = &r->entries[r->n++];
        e->name = lh_strdup(name);
        e->idx = NULL;
    }
    if (!e->idx || e->idx->pointer < v->pointer) {
        lh_vector_index_release(e->idx);
        e->idx = v;
    } else {
        lh_vector_index_release(v);
    }
    e->checked_ns = lh_now_ns();
    atomic_fetch_add(&e->idx->refs, 1);
    return e->idx;
}

int lh_vector_registry_get(lh_vector_registry *r, const char *name, lh_vector_index **out,
                           lh_error *err)
{
    *out = NULL;
    if (!lh_name_valid(name, err)) return lh_error_wrap(err, LH_EINVAL, "index name");
    int64_t have = 0;
    pthread_mutex_lock(&r->mu);
    reg_entry *e = reg_find(r, name);
    if (e && lh_now_ns() - e->checked_ns < RECHECK_NS) {
        atomic_fetch_add(&e->idx->refs, 1);
        *out = e->idx;
        pthread_mutex_unlock(&r->mu);
        return LH_OK;
    }
    if (e) have = e->idx->pointer;
    pthread_mutex_unlock(&r->mu);

    /* Is there a pointer record past the one loaded? One head() when nothing changed. */
    int64_t want = 0;
    if (have) {
        lh_object_info info;
        char *next = ptr_key(name, have + 1);
        int hrc = lh_storage_head(r->s, next, &info, NULL);
        free(next);
        if (hrc == LH_ENOENT) want = have;
    }
    lh_vector_index *v = NULL;
    if (want != have || !have) {
        int rc = open_pointer(r->s, name, 0, r->cache_dir, &v, err);
        if (rc) {
            if (!have) return rc;
            /* Keep serving the loaded generation; the new one is logged and retried. */
            lh_log(LH_LOG_WARN, "vector.reload_failed", "index", name, "error", err->msg,
                   (const char *)NULL);
            lh_error_clear(err);
        }
    }
    pthread_mutex_lock(&r->mu);
    if (v) {
        *out = reg_install(r, name, v);
    } else {
        e = reg_find(r, name);
        e->checked_ns = lh_now_ns();
        atomic_fetch_add(&e->idx->refs, 1);
        *out = e->idx;
    }
    pthread_mutex_unlock(&r->mu);
    return LH_OK;
}

/* ------------------------------------------------------------------ search I/O */

int lh_vector_index_query_from_json(const lh_vector_index *v, const json_t *j, float *out,
                                    lh_error *err)
{
    size_t dim = v->meta.dim;
    if (!json_is_array(j))
        return lh_error_set(err, LH_EINVAL, "the query vector must be a JSON array of %zu numbers",
                            dim);
    if (json_array_size(j) != dim)
        return lh_error_set(err, LH_EINVAL,
                            "the query vector has %zu values but index '%s' has %zu dimensions",
                            json_array_size(j), v->meta.index, dim);
    for (size_t i = 0; i < dim; i++) {
        json_t *x = json_array_get(j, i);
        if (!json_is_number(x))
            return lh_error_set(err, LH_EINVAL, "the query vector's value [%zu] is not a number",
                                i);
        double d = json_number_value(x);
        float f = (float)d;
        if (!isfinite(f))
            return lh_error_set(err, LH_EINVAL,
                                "the query vector's value [%zu] is not a finite float", i);
        out[i] = f;
    }
    return LH_OK;
}

json_t *lh_vector_index_hits_json(const lh_vector_index *v, const lh_vector_hit *hits, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *id = lh_vector_index_row_id(v, hits[i].id);
        json_t *jid = id ? json_loads(id, JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(arr, json_pack("{s:I, s:o, s:f}", "row", (json_int_t)hits[i].id, "id",
                                             jid ? jid : json_integer(hits[i].id), "distance",
                                             (double)hits[i].distance));
    }
    return arr;
}
