/* The catalog: versioned JSON manifests under _catalog/<dataset>/vNNNNNNNN.json.
 *
 * Commit protocol: version N becomes visible by lh_storage_put_if_absent of its key, so of
 * two writers racing for N exactly one wins and a reader never sees a partial manifest.
 * Version N is only committed after N-1 was read, so versions are contiguous; that lets a
 * reader revalidate a cached latest version V with two cheap HEADs (V unchanged, V+1
 * absent) instead of listing every version. */
#define _GNU_SOURCE
#include "catalog/catalog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_FORMAT 1
#define UPDATE_ATTEMPTS 12
#define CATALOG_PREFIX "_catalog/"

typedef struct cache_entry {
    char *dataset;
    lh_manifest *m; /* the latest version seen */
    char etag[80];  /* etag of its object when it was loaded */
} cache_entry;

struct lh_catalog {
    lh_storage *st;          /* borrowed */
    pthread_mutex_t mu;      /* guards cache and ncache */
    cache_entry *cache;      /* guarded by mu */
    size_t ncache, capcache; /* guarded by mu */
};

/* ------------------------------------------------------------ manifests */

static char *dup_or_empty(const char *s)
{
    return lh_strdup(s ? s : "");
}

lh_manifest *lh_manifest_new(const char *dataset)
{
    lh_manifest *m = lh_calloc(1, sizeof *m);
    m->dataset = dup_or_empty(dataset);
    m->schema_version = 1;
    m->op = lh_strdup("create");
    m->actor = lh_strdup("");
    m->profile = lh_strdup("");
    m->metadata = json_object();
    return m;
}

void lh_manifest_free(lh_manifest *m)
{
    if (!m) return;
    free(m->dataset);
    for (size_t i = 0; i < m->ncolumns; i++) {
        free(m->columns[i].name);
        free(m->columns[i].type);
    }
    free(m->columns);
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i].key);
    free(m->files);
    for (size_t i = 0; i < m->nsources; i++)
        free(m->sources[i].name);
    free(m->sources);
    free(m->op);
    free(m->actor);
    free(m->profile);
    json_decref(m->metadata);
    for (size_t i = 0; i < m->nkey; i++)
        free(m->key[i]);
    free(m->key);
    for (size_t i = 0; i < m->njournal; i++)
        free(m->journal[i]);
    free(m->journal);
    free(m->wal_id);
    free(m);
}

static char **strv_dup(char *const *v, size_t n)
{
    char **out = lh_calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = dup_or_empty(v[i]);
    return out;
}

lh_manifest *lh_manifest_clone(const lh_manifest *src)
{
    lh_manifest *m = lh_calloc(1, sizeof *m);
    m->dataset = dup_or_empty(src->dataset);
    m->version = src->version;
    m->created_us = src->created_us;
    m->updated_us = src->updated_us;
    m->schema_version = src->schema_version;
    m->columns = lh_calloc(src->ncolumns, sizeof *m->columns);
    for (size_t i = 0; i < src->ncolumns; i++) {
        m->columns[i].name = dup_or_empty(src->columns[i].name);
        m->columns[i].type = dup_or_empty(src->columns[i].type);
        m->columns[i].nullable = src->columns[i].nullable;
    }
    m->ncolumns = src->ncolumns;
    m->files = lh_calloc(src->nfiles, sizeof *m->files);
    for (size_t i = 0; i < src->nfiles; i++) {
        m->files[i] = src->files[i];
        m->files[i].key = dup_or_empty(src->files[i].key);
    }
    m->nfiles = src->nfiles;
    m->sources = lh_calloc(src->nsources, sizeof *m->sources);
    for (size_t i = 0; i < src->nsources; i++) {
        m->sources[i] = src->sources[i];
        m->sources[i].name = dup_or_empty(src->sources[i].name);
    }
    m->nsources = src->nsources;
    m->rows = src->rows;
    m->bytes = src->bytes;
    m->op = dup_or_empty(src->op);
    m->actor = dup_or_empty(src->actor);
    m->profile = dup_or_empty(src->profile);
    m->metadata = src->metadata ? json_deep_copy(src->metadata) : json_object();
    if (!m->metadata) m->metadata = json_object();
    m->key = strv_dup(src->key, src->nkey);
    m->nkey = src->nkey;
    m->journal = strv_dup(src->journal, src->njournal);
    m->njournal = src->njournal;
    m->wal_id = src->wal_id ? lh_strdup(src->wal_id) : NULL;
    m->wal_seq = src->wal_seq;
    m->wal_version = src->wal_version;
    return m;
}

void lh_manifest_add_column(lh_manifest *m, const char *name, const char *type, bool nullable)
{
    m->columns = lh_realloc(m->columns, (m->ncolumns + 1) * sizeof *m->columns);
    lh_column *c = &m->columns[m->ncolumns++];
    c->name = dup_or_empty(name);
    c->type = dup_or_empty(type);
    c->nullable = nullable;
}

void lh_manifest_add_file(lh_manifest *m, const char *key, int64_t size, int64_t rows)
{
    m->files = lh_realloc(m->files, (m->nfiles + 1) * sizeof *m->files);
    lh_data_file *f = &m->files[m->nfiles++];
    f->key = dup_or_empty(key);
    f->size = size;
    f->rows = rows;
    f->net_rows = 0;
    f->added_version = m->version > 0 ? m->version : 1; /* set exactly at commit */
    f->delta = false;
    m->rows += rows;
    m->bytes += size;
}

void lh_manifest_add_delta(lh_manifest *m, const char *key, int64_t size, int64_t rows,
                           int64_t net_rows)
{
    lh_manifest_add_file(m, key, size, rows);
    m->files[m->nfiles - 1].delta = true;
    m->files[m->nfiles - 1].net_rows = net_rows;
    m->rows += net_rows - rows;
}

int64_t lh_manifest_physical_rows(const lh_manifest *m)
{
    int64_t n = 0;
    for (size_t i = 0; i < m->nfiles; i++)
        n += m->files[i].rows;
    return n;
}

void lh_manifest_set_key(lh_manifest *m, const char *const *cols, size_t n)
{
    for (size_t i = 0; i < m->nkey; i++)
        free(m->key[i]);
    free(m->key);
    m->key = strv_dup((char *const *)cols, n);
    m->nkey = n;
}

void lh_manifest_add_journal(lh_manifest *m, const char *key)
{
    m->journal = lh_realloc(m->journal, (m->njournal + 1) * sizeof *m->journal);
    m->journal[m->njournal++] = dup_or_empty(key);
}

const lh_column *lh_manifest_column(const lh_manifest *m, const char *name)
{
    for (size_t i = 0; m && i < m->ncolumns; i++)
        if (strcmp(m->columns[i].name, name) == 0) return &m->columns[i];
    return NULL;
}

size_t lh_manifest_column_index(const lh_manifest *m, const char *name)
{
    const lh_column *c = lh_manifest_column(m, name);
    return c ? (size_t)(c - m->columns) : SIZE_MAX;
}

char *lh_manifest_shape(const lh_manifest *m)
{
    lh_buf b = {0};
    for (size_t i = 0; i < m->ncolumns; i++)
        lh_buf_printf(&b, "%s %s\n", m->columns[i].name, m->columns[i].type);
    lh_buf_puts(&b, "key");
    for (size_t k = 0; k < m->nkey; k++)
        lh_buf_printf(&b, " %s", m->key[k]);
    return lh_buf_steal(&b);
}

char *lh_manifest_row_key(const lh_manifest *m, const json_t *row)
{
    lh_buf b = {0};
    for (size_t k = 0; k < m->nkey; k++) {
        const char *t =
            json_string_value(json_array_get(row, lh_manifest_column_index(m, m->key[k])));
        if (k) lh_buf_putc(&b, '\x1f');
        lh_buf_puts(&b, t ? t : "");
    }
    lh_buf_putc(&b, 0);
    return lh_buf_steal(&b);
}

size_t lh_manifest_ndeltas(const lh_manifest *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < m->nfiles; i++)
        n += m->files[i].delta;
    return n;
}

void lh_manifest_add_source(lh_manifest *m, const char *sha256, const char *name, int64_t bytes,
                            int64_t rows)
{
    m->sources = lh_realloc(m->sources, (m->nsources + 1) * sizeof *m->sources);
    lh_source *s = &m->sources[m->nsources++];
    memset(s, 0, sizeof *s);
    snprintf(s->sha256, sizeof s->sha256, "%s", sha256 ? sha256 : "");
    s->name = dup_or_empty(name);
    s->bytes = bytes;
    s->rows = rows;
    s->at_us = lh_wall_us();
    s->version = m->version > 0 ? m->version : 1; /* set exactly at commit */
}

const lh_source *lh_manifest_find_source(const lh_manifest *m, const char *sha256)
{
    if (!m || !sha256) return NULL;
    for (size_t i = 0; i < m->nsources; i++)
        if (strcmp(m->sources[i].sha256, sha256) == 0) return &m->sources[i];
    return NULL;
}

static json_t *time_json(int64_t us)
{
    char buf[40];
    lh_time_format(us, buf, sizeof buf);
    return json_string(buf);
}

json_t *lh_manifest_to_json(const lh_manifest *m)
{
    json_t *j = json_object();
    json_object_set_new(j, "format", json_integer(MANIFEST_FORMAT));
    json_object_set_new(j, "dataset", json_string(m->dataset ? m->dataset : ""));
    json_object_set_new(j, "version", json_integer(m->version));
    json_object_set_new(j, "created_us", json_integer(m->created_us));
    json_object_set_new(j, "updated_us", json_integer(m->updated_us));
    json_object_set_new(j, "created_at", time_json(m->created_us)); /* for humans; not read */
    json_object_set_new(j, "updated_at", time_json(m->updated_us)); /* for humans; not read */
    json_object_set_new(j, "schema_version", json_integer(m->schema_version));
    json_object_set_new(j, "op", json_string(m->op ? m->op : ""));
    json_object_set_new(j, "actor", json_string(m->actor ? m->actor : ""));
    json_object_set_new(j, "profile", json_string(m->profile ? m->profile : ""));
    json_object_set_new(j, "rows", json_integer(m->rows));
    /* With deltas, the rows stored (a key updated twice is stored three times); not read. */
    if (lh_manifest_ndeltas(m))
        json_object_set_new(j, "physical_rows", json_integer(lh_manifest_physical_rows(m)));
    json_object_set_new(j, "bytes", json_integer(m->bytes));
    json_t *cols = json_array();
    for (size_t i = 0; i < m->ncolumns; i++)
        json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name",
                                              m->columns[i].name ? m->columns[i].name : "", "type",
                                              m->columns[i].type ? m->columns[i].type : "",
                                              "nullable", (int)m->columns[i].nullable));
    json_object_set_new(j, "columns", cols);
    json_t *files = json_array();
    for (size_t i = 0; i < m->nfiles; i++) {
        json_t *f =
            json_pack("{s:s, s:I, s:I, s:I}", "key", m->files[i].key ? m->files[i].key : "", "size",
                      (json_int_t)m->files[i].size, "rows", (json_int_t)m->files[i].rows,
                      "added_version", (json_int_t)m->files[i].added_version);
        if (m->files[i].delta) {
            json_object_set_new(f, "delta", json_true());
            json_object_set_new(f, "net_rows", json_integer(m->files[i].net_rows));
        }
        json_array_append_new(files, f);
    }
    json_object_set_new(j, "files", files);
    /* Written only when present, so manifests of datasets without them stay as they were. */
    if (m->nkey) {
        json_t *key = json_array();
        for (size_t i = 0; i < m->nkey; i++)
            json_array_append_new(key, json_string(m->key[i]));
        json_object_set_new(j, "key", key);
    }
    if (m->njournal) {
        json_t *jr = json_array();
        for (size_t i = 0; i < m->njournal; i++)
            json_array_append_new(jr, json_string(m->journal[i]));
        json_object_set_new(j, "journal", jr);
    }
    if (m->wal_id && *m->wal_id)
        json_object_set_new(j, "wal",
                            json_pack("{s:s, s:I, s:I}", "id", m->wal_id, "seq",
                                      (json_int_t)m->wal_seq, "version",
                                      (json_int_t)m->wal_version));
    json_t *sources = json_array();
    for (size_t i = 0; i < m->nsources; i++) {
        const lh_source *s = &m->sources[i];
        json_array_append_new(sources,
                              json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "sha256", s->sha256,
                                        "name", s->name ? s->name : "", "bytes",
                                        (json_int_t)s->bytes, "rows", (json_int_t)s->rows, "at_us",
                                        (json_int_t)s->at_us, "version", (json_int_t)s->version));
    }
    json_object_set_new(j, "sources", sources);
    json_object_set_new(j, "metadata", m->metadata ? json_deep_copy(m->metadata) : json_object());
    return j;
}

/* Field readers for lh_manifest_from_json: each names the field path when it fails. */
static int corrupt(lh_error *err, const char *field, const char *what)
{
    return lh_error_set(err, LH_ECORRUPT, "manifest field '%s': %s", field, what);
}

static int read_int(const json_t *obj, const char *name, const char *path, int64_t min,
                    int64_t *out, lh_error *err)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return corrupt(err, path, "missing");
    if (!json_is_integer(v)) return corrupt(err, path, "expected an integer");
    int64_t x = json_integer_value(v);
    if (x < min) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld is below the minimum %lld", (long long)x, (long long)min);
        return corrupt(err, path, msg);
    }
    *out = x;
    return LH_OK;
}

static int read_str(const json_t *obj, const char *name, const char *path, bool nonempty,
                    char **out, lh_error *err)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return corrupt(err, path, "missing");
    if (!json_is_string(v)) return corrupt(err, path, "expected a string");
    if (nonempty && json_string_length(v) == 0) return corrupt(err, path, "is empty");
    *out = lh_strdup(json_string_value(v));
    return LH_OK;
}

/* An optional array of non-empty strings; object keys are checked when is_key. */
static int read_strv(const json_t *obj, const char *name, bool is_key, char ***out, size_t *n,
                     lh_error *err)
{
    json_t *a = json_object_get(obj, name);
    *out = NULL;
    *n = 0;
    if (!a) return LH_OK;
    if (!json_is_array(a)) return corrupt(err, name, "expected an array of strings");
    *out = lh_calloc(json_array_size(a) + 1, sizeof **out);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *v = json_string_value(json_array_get(a, i));
        char path[64];
        snprintf(path, sizeof path, "%s[%zu]", name, i);
        if (!v || !*v) return corrupt(err, path, "expected a non-empty string");
        lh_error kerr;
        if (is_key && lh_storage_key_check(v, &kerr) != LH_OK) return corrupt(err, path, kerr.msg);
        (*out)[(*n)++] = lh_strdup(v);
    }
    return LH_OK;
}

static bool is_sha256_hex(const char *s)
{
    if (strlen(s) != 64) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

int lh_manifest_from_json(const json_t *j, lh_manifest **out, lh_error *err)
{
    *out = NULL;
    if (!json_is_object(j)) return corrupt(err, "(root)", "expected a JSON object");
    int rc;
    int64_t format = 0;
    if ((rc = read_int(j, "format", "format", 1, &format, err)) != LH_OK) return rc;
    if (format != MANIFEST_FORMAT)
        return lh_error_set(err, LH_EUNSUPPORTED,
                            "manifest format %lld is not supported by this program (it reads "
                            "format %d)",
                            (long long)format, MANIFEST_FORMAT);
    lh_manifest *m = lh_calloc(1, sizeof *m);
    char path[96];
    if ((rc = read_str(j, "dataset", "dataset", true, &m->dataset, err)) != LH_OK) goto fail;
    lh_error nerr;
    if (!lh_name_valid(m->dataset, &nerr)) {
        rc = corrupt(err, "dataset", nerr.msg);
        goto fail;
    }
    if ((rc = read_int(j, "version", "version", 1, &m->version, err)) != LH_OK ||
        (rc = read_int(j, "created_us", "created_us", 0, &m->created_us, err)) != LH_OK ||
        (rc = read_int(j, "updated_us", "updated_us", 0, &m->updated_us, err)) != LH_OK ||
        (rc = read_int(j, "schema_version", "schema_version", 1, &m->schema_version, err)) !=
            LH_OK ||
        (rc = read_int(j, "rows", "rows", 0, &m->rows, err)) != LH_OK ||
        (rc = read_int(j, "bytes", "bytes", 0, &m->bytes, err)) != LH_OK ||
        (rc = read_str(j, "op", "op", false, &m->op, err)) != LH_OK ||
        (rc = read_str(j, "actor", "actor", false, &m->actor, err)) != LH_OK ||
        (rc = read_str(j, "profile", "profile", false, &m->profile, err)) != LH_OK)
        goto fail;

    json_t *cols = json_object_get(j, "columns");
    if (!json_is_array(cols)) {
        rc = corrupt(err, "columns", cols ? "expected an array" : "missing");
        goto fail;
    }
    m->columns = lh_calloc(json_array_size(cols), sizeof *m->columns);
    for (size_t i = 0; i < json_array_size(cols); i++) {
        json_t *c = json_array_get(cols, i);
        snprintf(path, sizeof path, "columns[%zu]", i);
        if (!json_is_object(c)) {
            rc = corrupt(err, path, "expected an object");
            goto fail;
        }
        lh_column *col = &m->columns[m->ncolumns++];
        snprintf(path, sizeof path, "columns[%zu].name", i);
        if ((rc = read_str(c, "name", path, true, &col->name, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "columns[%zu].type", i);
        if ((rc = read_str(c, "type", path, true, &col->type, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "columns[%zu].nullable", i);
        json_t *nb = json_object_get(c, "nullable");
        if (!json_is_boolean(nb)) {
            rc = corrupt(err, path, nb ? "expected true or false" : "missing");
            goto fail;
        }
        col->nullable = json_is_true(nb);
    }

    json_t *files = json_object_get(j, "files");
    if (!json_is_array(files)) {
        rc = corrupt(err, "files", files ? "expected an array" : "missing");
        goto fail;
    }
    m->files = lh_calloc(json_array_size(files), sizeof *m->files);
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        snprintf(path, sizeof path, "files[%zu]", i);
        if (!json_is_object(f)) {
            rc = corrupt(err, path, "expected an object");
            goto fail;
        }
        lh_data_file *df = &m->files[m->nfiles++];
        snprintf(path, sizeof path, "files[%zu].key", i);
        if ((rc = read_str(f, "key", path, true, &df->key, err)) != LH_OK) goto fail;
        lh_error kerr;
        if (lh_storage_key_check(df->key, &kerr) != LH_OK) {
            rc = corrupt(err, path, kerr.msg);
            goto fail;
        }
        snprintf(path, sizeof path, "files[%zu].size", i);
        if ((rc = read_int(f, "size", path, 0, &df->size, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "files[%zu].rows", i);
        if ((rc = read_int(f, "rows", path, 0, &df->rows, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "files[%zu].added_version", i);
        if ((rc = read_int(f, "added_version", path, 1, &df->added_version, err)) != LH_OK)
            goto fail;
        if (df->added_version > m->version) {
            rc = corrupt(err, path, "is later than the manifest's version");
            goto fail;
        }
        json_t *dl = json_object_get(f, "delta");
        if (dl && !json_is_boolean(dl)) {
            snprintf(path, sizeof path, "files[%zu].delta", i);
            rc = corrupt(err, path, "expected true or false");
            goto fail;
        }
        df->delta = json_is_true(dl);
        /* Deltas written before net_rows counted every row as added. */
        df->net_rows = df->rows;
        snprintf(path, sizeof path, "files[%zu].net_rows", i);
        if (df->delta && json_object_get(f, "net_rows") &&
            (rc = read_int(f, "net_rows", path, INT64_MIN, &df->net_rows, err)) != LH_OK)
            goto fail;
    }
    if ((rc = read_strv(j, "key", false, &m->key, &m->nkey, err)) != LH_OK ||
        (rc = read_strv(j, "journal", true, &m->journal, &m->njournal, err)) != LH_OK)
        goto fail;
    json_t *wal = json_object_get(j, "wal");
    if (wal && (!json_is_object(wal) ||
                (rc = read_str(wal, "id", "wal.id", true, &m->wal_id, err)) != LH_OK ||
                (rc = read_int(wal, "seq", "wal.seq", 1, &m->wal_seq, err)) != LH_OK ||
                (rc = read_int(wal, "version", "wal.version", 1, &m->wal_version, err)) != LH_OK)) {
        if (!rc) rc = corrupt(err, "wal", "expected an object {id, seq, version}");
        goto fail;
    }

    json_t *sources = json_object_get(j, "sources");
    if (!json_is_array(sources)) {
        rc = corrupt(err, "sources", sources ? "expected an array" : "missing");
        goto fail;
    }
    m->sources = lh_calloc(json_array_size(sources), sizeof *m->sources);
    for (size_t i = 0; i < json_array_size(sources); i++) {
        json_t *s = json_array_get(sources, i);
        snprintf(path, sizeof path, "sources[%zu]", i);
        if (!json_is_object(s)) {
            rc = corrupt(err, path, "expected an object");
            goto fail;
        }
        lh_source *src = &m->sources[m->nsources++];
        char *sha = NULL;
        snprintf(path, sizeof path, "sources[%zu].sha256", i);
        if ((rc = read_str(s, "sha256", path, true, &sha, err)) != LH_OK) goto fail;
        bool ok = is_sha256_hex(sha);
        if (ok) memcpy(src->sha256, sha, LH_SHA256_HEX);
        free(sha);
        if (!ok) {
            rc = corrupt(err, path, "expected 64 lowercase hex digits");
            goto fail;
        }
        snprintf(path, sizeof path, "sources[%zu].name", i);
        if ((rc = read_str(s, "name", path, false, &src->name, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "sources[%zu].bytes", i);
        if ((rc = read_int(s, "bytes", path, 0, &src->bytes, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "sources[%zu].rows", i);
        if ((rc = read_int(s, "rows", path, 0, &src->rows, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "sources[%zu].at_us", i);
        if ((rc = read_int(s, "at_us", path, 0, &src->at_us, err)) != LH_OK) goto fail;
        snprintf(path, sizeof path, "sources[%zu].version", i);
        if ((rc = read_int(s, "version", path, 1, &src->version, err)) != LH_OK) goto fail;
        if (src->version > m->version) {
            rc = corrupt(err, path, "is later than the manifest's version");
            goto fail;
        }
    }

    json_t *meta = json_object_get(j, "metadata");
    if (meta && !json_is_object(meta)) {
        rc = corrupt(err, "metadata", "expected an object");
        goto fail;
    }
    m->metadata = meta ? json_deep_copy(meta) : json_object();
    *out = m;
    return LH_OK;
fail:
    if (!m->metadata) m->metadata = json_object();
    lh_manifest_free(m);
    return rc;
}

/* ------------------------------------------------------------- catalog */

int lh_catalog_open(lh_storage *st, lh_catalog **out, lh_error *err)
{
    *out = NULL;
    if (!st) return lh_error_set(err, LH_EINVAL, "catalog: no storage given");
    lh_catalog *c = lh_calloc(1, sizeof *c);
    c->st = st;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return LH_OK;
}

void lh_catalog_close(lh_catalog *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->ncache; i++) {
        free(c->cache[i].dataset);
        lh_manifest_free(c->cache[i].m);
    }
    free(c->cache);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

lh_storage *lh_catalog_storage(lh_catalog *c)
{
    return c->st;
}

static char *version_key(const char *dataset, int64_t version)
{
    return lh_sprintf(CATALOG_PREFIX "%s/v%08lld.json", dataset, (long long)version);
}

/* Parses "v00000042.json" (8 or more digits) into 42; false for anything else. */
static bool parse_version_name(const char *s, int64_t *out)
{
    if (s[0] != 'v') return false;
    const char *p = s + 1;
    int64_t v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*p - '0');
        p++;
        nd++;
    }
    if (nd < 8 || strcmp(p, ".json") != 0 || v < 1) return false;
    *out = v;
    return true;
}

static int check_dataset(const char *dataset, lh_error *err)
{
    lh_error nerr;
    if (!lh_name_valid(dataset, &nerr)) return lh_error_set(err, LH_EINVAL, "dataset %s", nerr.msg);
    return LH_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Committed versions ascending; *count 0 (and LH_OK) if none. */
static int list_versions(lh_catalog *c, const char *dataset, int64_t **versions, size_t *count,
                         lh_error *err)
{
    *versions = NULL;
    *count = 0;
    char *prefix = lh_sprintf(CATALOG_PREFIX "%s/", dataset);
    size_t plen = strlen(prefix);
    lh_object_list l;
    int rc = lh_storage_list_all(c->st, prefix, &l, err);
    if (rc != LH_OK) {
        lh_error_prefix(err, "dataset '%s': listing versions", dataset);
        free(prefix);
        return rc;
    }
    int64_t *v = lh_calloc(l.count ? l.count : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < l.count; i++) {
        const char *rest = l.items[i].key + plen;
        if (strchr(rest, '/')) continue;
        if (parse_version_name(rest, &v[n])) n++;
    }
    qsort(v, n, sizeof *v, cmp_i64);
    lh_storage_list_free(&l);
    free(prefix);
    *versions = v;
    *count = n;
    return LH_OK;
}

/* Reads and validates one version; LH_ENOENT if absent. etag (if non-NULL) receives the
 * object's etag as seen before reading. */
static int load_version(lh_catalog *c, const char *dataset, int64_t version, lh_manifest **out,
                        char etag[80], lh_error *err)
{
    *out = NULL;
    char *key = version_key(dataset, version);
    char *data = NULL;
    size_t n = 0;
    json_t *j = NULL;
    int rc;
    if (etag) {
        lh_object_info info;
        rc = lh_storage_head(c->st, key, &info, err);
        if (rc != LH_OK) goto fail;
        memcpy(etag, info.etag, sizeof info.etag);
    }
    rc = lh_storage_get(c->st, key, &data, &n, err);
    if (rc != LH_OK) goto fail;
    json_error_t jerr;
    j = json_loadb(data, n, 0, &jerr);
    if (!j) {
        rc = lh_error_set(err, LH_ECORRUPT, "%s:%d:%d: invalid JSON: %s", key, jerr.line,
                          jerr.column, jerr.text);
        goto fail;
    }
    rc = lh_manifest_from_json(j, out, err);
    if (rc != LH_OK) {
        lh_error_prefix(err, "%s", key);
        goto fail;
    }
    if (strcmp((*out)->dataset, dataset) != 0 || (*out)->version != version) {
        rc = lh_error_set(err, LH_ECORRUPT,
                          "%s: manifest says dataset '%s' version %lld, expected '%s' version "
                          "%lld",
                          key, (*out)->dataset, (long long)(*out)->version, dataset,
                          (long long)version);
        lh_manifest_free(*out);
        *out = NULL;
        goto fail;
    }
fail:
    if (rc == LH_ENOENT)
        lh_error_set(err, LH_ENOENT, "dataset '%s': version %lld not found", dataset,
                     (long long)version);
    json_decref(j);
    free(data);
    free(key);
    return rc;
}

/* Cache slot for dataset; caller holds c->mu. NULL if absent. */
static cache_entry *cache_find(lh_catalog *c, const char *dataset)
{
    for (size_t i = 0; i < c->ncache; i++)
        if (strcmp(c->cache[i].dataset, dataset) == 0) return &c->cache[i];
    return NULL;
}

/* Records m (cloned) as the latest known version if it is newer than the cached one. */
static void cache_store(lh_catalog *c, const lh_manifest *m, const char *etag)
{
    pthread_mutex_lock(&c->mu);
    cache_entry *e = cache_find(c, m->dataset);
    if (!e) {
        if (c->ncache == c->capcache) {
            c->capcache = c->capcache ? c->capcache * 2 : 16;
            c->cache = lh_realloc(c->cache, c->capcache * sizeof *c->cache);
        }
        e = &c->cache[c->ncache++];
        e->dataset = lh_strdup(m->dataset);
        e->m = NULL;
    }
    if (!e->m || e->m->version <= m->version) {
        lh_manifest_free(e->m);
        e->m = lh_manifest_clone(m);
        snprintf(e->etag, sizeof e->etag, "%s", etag ? etag : "");
    }
    pthread_mutex_unlock(&c->mu);
}

static void cache_drop(lh_catalog *c, const char *dataset)
{
    pthread_mutex_lock(&c->mu);
    cache_entry *e = cache_find(c, dataset);
    if (e) {
        free(e->dataset);
        lh_manifest_free(e->m);
        *e = c->cache[--c->ncache];
    }
    pthread_mutex_unlock(&c->mu);
}

/* The cached latest manifest if the store confirms it is still the latest, else NULL. */
static lh_manifest *cache_latest(lh_catalog *c, const char *dataset)
{
    lh_manifest *m = NULL;
    char etag[80] = "";
    pthread_mutex_lock(&c->mu);
    cache_entry *e = cache_find(c, dataset);
    if (e && e->m) {
        m = lh_manifest_clone(e->m);
        memcpy(etag, e->etag, sizeof etag);
    }
    pthread_mutex_unlock(&c->mu);
    if (!m) return NULL;
    lh_object_info info;
    char *key = version_key(dataset, m->version);
    char *next = version_key(dataset, m->version + 1);
    bool fresh = lh_storage_head(c->st, key, &info, NULL) == LH_OK &&
                 strcmp(info.etag, etag) == 0 &&
                 lh_storage_head(c->st, next, &info, NULL) == LH_ENOENT;
    free(key);
    free(next);
    if (!fresh) {
        lh_manifest_free(m);
        return NULL;
    }
    return m;
}

int lh_catalog_get(lh_catalog *c, const lh_identity *who, const char *dataset, int64_t version,
                   lh_manifest **out, lh_error *err)
{
    *out = NULL;
    int rc = check_dataset(dataset, err);
    if (rc != LH_OK) return rc;
    if (version < 0)
        return lh_error_set(err, LH_EINVAL, "dataset '%s': invalid version %lld", dataset,
                            (long long)version);
    if (version > 0) return load_version(c, dataset, version, out, NULL, err);

    lh_manifest *m = cache_latest(c, dataset);
    if (m) {
        *out = m;
        return LH_OK;
    }
    /* A version may be committed between listing and reading; loop until the read
     * version is the highest listed (bounded: each round sees a newer commit). */
    for (int round = 0; round < 100; round++) {
        int64_t *versions;
        size_t n;
        rc = list_versions(c, dataset, &versions, &n, err);
        if (rc != LH_OK) return rc;
        if (n == 0) {
            free(versions);
            cache_drop(c, dataset);
            return lh_error_set(err, LH_ENOENT, "dataset '%s' not found", dataset);
        }
        int64_t latest = versions[n - 1];
        free(versions);
        char etag[80];
        rc = load_version(c, dataset, latest, &m, etag, err);
        if (rc == LH_ENOENT) continue; /* deleted meanwhile (manual cleanup): list again */
        if (rc != LH_OK) return rc;
        cache_store(c, m, etag);
        *out = m;
        return LH_OK;
    }
    return lh_error_set(err, LH_EIO, "dataset '%s': the version listing keeps changing", dataset);
}

int lh_catalog_versions(lh_catalog *c, const lh_identity *who, const char *dataset,
                        int64_t **versions, size_t *count, lh_error *err)
{
    *versions = NULL;
    *count = 0;
    int rc = check_dataset(dataset, err);
    if (rc != LH_OK) return rc;
    rc = list_versions(c, dataset, versions, count, err);
    if (rc == LH_OK && *count == 0) {
        free(*versions);
        *versions = NULL;
        return lh_error_set(err, LH_ENOENT, "dataset '%s' not found", dataset);
    }
    return rc;
}

int lh_catalog_version_at(lh_catalog *c, const lh_identity *who, const char *dataset,
                          int64_t as_of_us, int64_t *version, lh_error *err)
{
    int64_t *v = NULL;
    size_t n = 0;
    *version = 0;
    int rc = lh_catalog_versions(c, who, dataset, &v, &n, err);
    if (rc) return rc;
    /* Commit times grow with the version number (each commit follows its predecessor). */
    size_t lo = 0, hi = n; /* versions[0..lo) are at or before as_of */
    int64_t first_us = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        lh_manifest *m = NULL;
        if ((rc = load_version(c, dataset, v[mid], &m, NULL, err))) goto done;
        if (mid == 0) first_us = m->updated_us;
        /* To the millisecond: times are shown (and given back) with ms precision. */
        if (m->updated_us / 1000 <= as_of_us / 1000)
            lo = mid + 1;
        else
            hi = mid;
        lh_manifest_free(m);
    }
    if (lo == 0) {
        char t[40];
        lh_time_format(first_us, t, sizeof t);
        rc = lh_error_set(err, LH_ENOENT,
                          "dataset '%s' did not exist yet at that time (created %s)", dataset, t);
        goto done;
    }
    *version = v[lo - 1];
done:
    free(v);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lh_catalog_list(lh_catalog *c, const lh_identity *who, char ***names, size_t *count,
                    lh_error *err)
{
    *names = NULL;
    *count = 0;
    lh_object_list l;
    int rc = lh_storage_list_all(c->st, CATALOG_PREFIX, &l, err);
    if (rc != LH_OK) return lh_error_wrap(err, rc, "catalog: listing datasets");
    char **out = lh_calloc(l.count ? l.count : 1, sizeof *out);
    size_t n = 0;
    size_t plen = strlen(CATALOG_PREFIX);
    for (size_t i = 0; i < l.count; i++) {
        const char *rest = l.items[i].key + plen;
        const char *slash = strchr(rest, '/');
        int64_t v;
        if (!slash || strchr(slash + 1, '/') || !parse_version_name(slash + 1, &v)) continue;
        char *name = lh_strndup(rest, (size_t)(slash - rest));
        if (!lh_name_valid(name, NULL) || (n > 0 && strcmp(out[n - 1], name) == 0)) {
            free(name);
            continue;
        }
        out[n++] = name;
    }
    lh_storage_list_free(&l);
    qsort(out, n, sizeof *out, cmp_str);
    /* Keys of one dataset are contiguous in key order, but dedupe after sorting anyway. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(out[w - 1], out[i]) == 0)
            free(out[i]);
        else
            out[w++] = out[i];
    }
    *names = out;
    *count = w;
    return LH_OK;
}

void lh_catalog_names_free(char **names, size_t count)
{
    if (!names) return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static bool same_columns(const lh_manifest *a, const lh_manifest *b)
{
    if (a->ncolumns != b->ncolumns) return false;
    for (size_t i = 0; i < a->ncolumns; i++)
        if (strcmp(a->columns[i].name, b->columns[i].name) != 0 ||
            strcmp(a->columns[i].type, b->columns[i].type) != 0)
            return false;
    return true;
}

static bool has_file(const lh_manifest *m, const char *key)
{
    for (size_t i = 0; m && i < m->nfiles; i++)
        if (strcmp(m->files[i].key, key) == 0) return true;
    return false;
}

/* Checks what a caller built before it is written: names, keys and numbers. */
static int check_next(const lh_manifest *m, lh_error *err)
{
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (!m->columns[i].name || !*m->columns[i].name || !m->columns[i].type ||
            !*m->columns[i].type)
            return lh_error_set(err, LH_EINVAL, "dataset '%s': column %zu has no name or type",
                                m->dataset, i + 1);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->columns[k].name, m->columns[i].name) == 0)
                return lh_error_set(err, LH_EINVAL, "dataset '%s': column '%s' appears twice",
                                    m->dataset, m->columns[i].name);
    }
    for (size_t i = 0; i < m->nfiles; i++) {
        lh_error kerr;
        if (lh_storage_key_check(m->files[i].key, &kerr) != LH_OK)
            return lh_error_set(err, LH_EINVAL, "dataset '%s': file %zu: %s", m->dataset, i + 1,
                                kerr.msg);
        if (m->files[i].size < 0 || m->files[i].rows < 0)
            return lh_error_set(err, LH_EINVAL, "dataset '%s': file '%s': negative size or rows",
                                m->dataset, m->files[i].key);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->files[k].key, m->files[i].key) == 0)
                return lh_error_set(err, LH_EINVAL, "dataset '%s': file '%s' is listed twice",
                                    m->dataset, m->files[i].key);
    }
    for (size_t i = 0; i < m->nsources; i++)
        if (!is_sha256_hex(m->sources[i].sha256))
            return lh_error_set(err, LH_EINVAL,
                                "dataset '%s': source %zu: sha256 must be 64 lowercase hex "
                                "digits",
                                m->dataset, i + 1);
    if (m->metadata && !json_is_object(m->metadata))
        return lh_error_set(err, LH_EINVAL, "dataset '%s': metadata must be a JSON object",
                            m->dataset);
    for (size_t i = 0; i < m->nkey; i++) {
        if (!lh_manifest_column(m, m->key[i]))
            return lh_error_set(err, LH_EINVAL,
                                "dataset '%s': key column '%s' is not a column of the dataset",
                                m->dataset, m->key[i]);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->key[k], m->key[i]) == 0)
                return lh_error_set(err, LH_EINVAL, "dataset '%s': key column '%s' given twice",
                                    m->dataset, m->key[i]);
    }
    if (!m->nkey && lh_manifest_ndeltas(m))
        return lh_error_set(err, LH_EINVAL,
                            "dataset '%s': has delta files but no primary key to merge them by",
                            m->dataset);
    for (size_t i = 0; i < m->njournal; i++) {
        lh_error kerr;
        if (lh_storage_key_check(m->journal[i], &kerr) != LH_OK)
            return lh_error_set(err, LH_EINVAL, "dataset '%s': journal batch %zu: %s", m->dataset,
                                i + 1, kerr.msg);
    }
    return LH_OK;
}

int lh_catalog_commit(lh_catalog *c, const lh_identity *who, lh_manifest *next, lh_error *err)
{
    if (!who) who = &lh_identity_default;
    int rc = check_dataset(next->dataset, err);
    if (rc != LH_OK) return rc;
    if (next->version < 1)
        return lh_error_set(err, LH_EINVAL, "dataset '%s': cannot commit version %lld",
                            next->dataset, (long long)next->version);
    if ((rc = check_next(next, err)) != LH_OK) return rc;
    lh_manifest *prev = NULL;
    if (next->version > 1) {
        rc = load_version(c, next->dataset, next->version - 1, &prev, NULL, err);
        if (rc == LH_ENOENT)
            return lh_error_set(err, LH_EINVAL,
                                "dataset '%s': cannot commit version %lld: version %lld does "
                                "not exist",
                                next->dataset, (long long)next->version,
                                (long long)next->version - 1);
        if (rc != LH_OK) return rc;
    }
    int64_t now = lh_wall_us();
    next->updated_us = now;
    next->created_us = prev ? prev->created_us : now;
    if (!prev)
        next->schema_version = 1;
    else
        next->schema_version =
            same_columns(prev, next) ? prev->schema_version : prev->schema_version + 1;
    free(next->actor);
    free(next->profile);
    next->actor = dup_or_empty(who->actor);
    next->profile = dup_or_empty(who->profile);
    if (!next->op || !*next->op) {
        free(next->op);
        next->op = lh_strdup("commit");
    }
    if (!next->metadata) next->metadata = json_object();
    /* Files and sources new in this version carry its number; totals follow the files. */
    next->rows = 0;
    next->bytes = 0;
    for (size_t i = 0; i < next->nfiles; i++) {
        lh_data_file *f = &next->files[i];
        if (!has_file(prev, f->key) || f->added_version < 1 || f->added_version > next->version)
            f->added_version = next->version;
        next->rows += f->delta ? f->net_rows : f->rows;
        next->bytes += f->size;
    }
    for (size_t i = 0; i < next->nsources; i++) {
        lh_source *s = &next->sources[i];
        if (!lh_manifest_find_source(prev, s->sha256) || s->version < 1 ||
            s->version > next->version)
            s->version = next->version;
        if (s->at_us <= 0) s->at_us = now;
    }
    lh_manifest_free(prev);

    json_t *j = lh_manifest_to_json(next);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!text)
        return lh_error_set(err, LH_EINTERNAL, "dataset '%s': cannot serialize manifest",
                            next->dataset);
    char *key = version_key(next->dataset, next->version);
    lh_buf body = {0};
    lh_buf_puts(&body, text);
    lh_buf_putc(&body, '\n');
    free(text);
    rc = lh_storage_put_if_absent(c->st, key, body.data, body.len, err);
    lh_buf_free(&body);
    if (rc == LH_EEXIST) {
        rc = lh_error_set(err, LH_ECONFLICT,
                          "dataset '%s': version %lld was committed by another writer",
                          next->dataset, (long long)next->version);
    } else if (rc != LH_OK) {
        lh_error_prefix(err, "dataset '%s': committing version %lld", next->dataset,
                        (long long)next->version);
    } else {
        lh_object_info info;
        if (lh_storage_head(c->st, key, &info, NULL) == LH_OK) cache_store(c, next, info.etag);
    }
    free(key);
    return rc;
}

/* Sleeps a random time below a ceiling that grows with the attempt (1, 2, 4 ... 64 ms). */
static void backoff(int attempt)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint32_t)lh_now_ns();
    int shift = attempt < 6 ? attempt : 6;
    uint64_t ceiling_us = 1000ULL << shift;
    uint64_t us = 200 + r % ceiling_us;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int lh_catalog_update(lh_catalog *c, const lh_identity *who, const char *dataset,
                      lh_catalog_update_fn fn, void *ctx, int64_t *committed, lh_error *err)
{
    int rc = check_dataset(dataset, err);
    if (rc != LH_OK) return rc;
    for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        if (attempt > 0) backoff(attempt);
        lh_manifest *cur = NULL, *next = NULL;
        rc = lh_catalog_get(c, who, dataset, 0, &cur, err);
        if (rc == LH_ENOENT) {
            cur = NULL;
            lh_error_clear(err);
        } else if (rc != LH_OK) {
            return rc;
        }
        if (err) lh_error_clear(err);
        rc = fn(ctx, cur, &next, err);
        if (rc == LH_EEXIST && !next) {
            if (committed) *committed = cur ? cur->version : 0;
            if (err && err->code != LH_EEXIST)
                lh_error_set(err, LH_EEXIST, "dataset '%s': nothing to commit", dataset);
            lh_manifest_free(cur);
            return LH_EEXIST;
        }
        if (rc != LH_OK) {
            lh_manifest_free(next);
            lh_manifest_free(cur);
            if (err && err->code == LH_OK)
                lh_error_set(err, rc, "dataset '%s': update aborted (%s)", dataset,
                             lh_error_name(rc));
            return rc;
        }
        if (!next) {
            lh_manifest_free(cur);
            return lh_error_set(err, LH_EINTERNAL,
                                "dataset '%s': update callback returned no manifest", dataset);
        }
        free(next->dataset);
        next->dataset = lh_strdup(dataset);
        next->version = cur ? cur->version + 1 : 1;
        lh_manifest_free(cur);
        rc = lh_catalog_commit(c, who, next, err);
        int64_t v = next->version;
        lh_manifest_free(next);
        if (rc == LH_OK) {
            if (committed) *committed = v;
            return LH_OK;
        }
        if (rc != LH_ECONFLICT) return rc;
    }
    return lh_error_set(err, LH_ECONFLICT,
                        "dataset '%s': gave up after %d attempts; other writers kept committing "
                        "first",
                        dataset, UPDATE_ATTEMPTS);
}
