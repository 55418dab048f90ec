/* Compaction (base + deltas → one new base file in a new version) and garbage collection of
 * files that left the retention window.
 *
 * Compaction never touches the files of earlier versions: it writes a new base file, then
 * commits a version listing only that file. A crash before the commit leaves an unreferenced
 * file (removed by gc once it is older than the retention) and the dataset as it was. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest_int.h"

#define KEY_ROW_GROUP "2048" /* rows per group in files sorted by a primary key */

typedef struct compact_commit {
    int64_t base_version;
    const char *key, *journal, *reason;
    int64_t size, rows;
} compact_commit;

static int compact_commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    compact_commit *x = vctx;
    *next = NULL;
    if (!cur || cur->version != x->base_version)
        return lh_error_set(err, LH_ECONFLICT, "dataset changed while it was compacted");
    lh_manifest *m = lh_manifest_clone(cur);
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i].key);
    m->nfiles = 0;
    m->rows = 0;
    m->bytes = 0;
    lh_manifest_add_file(m, x->key, x->size, x->rows);
    lh_manifest_add_journal(m, x->journal);
    free(m->op);
    m->op = lh_strdup("compact");
    json_object_set_new(m->metadata, "compacted_from", json_integer(cur->version));
    if (x->reason)
        json_object_set_new(m->metadata, "last_reason", json_string(x->reason));
    else
        json_object_del(m->metadata, "last_reason"); /* a reason belongs to one commit */
    *next = m;
    return LH_OK;
}

static int compact_once(lh_ingest *ing, duckdb_connection c, const lh_identity *who,
                        const char *dataset, const char *reason, lh_compact_result *r,
                        lh_error *err)
{
    lh_manifest *cur = NULL;
    char *tmp = NULL, *key = NULL, *jkey = NULL;
    lh_buf sql = {0};
    bool uploaded = false;
    int rc = lh_catalog_get(ing->cat, who, dataset, 0, &cur, err);
    if (rc) return rc;
    r->from_version = r->version = cur->version;
    r->files_before = (int64_t)cur->nfiles;
    r->deltas_before = (int64_t)lh_manifest_ndeltas(cur);
    if (r->deltas_before == 0 && cur->nfiles <= 1) {
        r->noop = true;
        r->rows = cur->rows;
        goto done;
    }
    char uuid[37];
    lh_uuid(uuid);
    tmp = lh_sprintf("%s/compact-%s.parquet", ing->tmp_dir, uuid);
    key = lh_sprintf("data/%s/%s.parquet", dataset, uuid);
    /* Sorted by the key in small row groups: a lookup by key reads one row group (min/max
     * statistics rule out the others). */
    lh_buf_puts(&sql, "COPY (SELECT * FROM (");
    if ((rc = lh_manifest_scan_sql(ing->st, cur, &sql, err))) goto done;
    lh_buf_puts(&sql, ")");
    for (size_t k = 0; k < cur->nkey; k++) {
        lh_buf_puts(&sql, k ? ", " : " ORDER BY ");
        lh_sql_ident(&sql, cur->key[k]);
    }
    lh_buf_puts(&sql, ") TO ");
    lh_sql_quote(&sql, tmp);
    lh_buf_printf(&sql, " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %s)",
                  cur->nkey ? KEY_ROW_GROUP : "122880");
    duckdb_result res;
    if ((rc = ing_query(c, sql.data, &res, err))) {
        lh_error_prefix(err, "dataset '%s': compacting", dataset);
        goto done;
    }
    r->rows = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    struct stat sb;
    if (stat(tmp, &sb) != 0) {
        rc = lh_error_set(err, LH_EIO, "%s: compacted file vanished", tmp);
        goto done;
    }
    if ((rc = lh_storage_put_file(ing->st, key, tmp, err))) goto done;
    uploaded = true;
    lh_buf_reset(&sql);
    lh_buf_printf(&sql,
                  "SELECT '' AS key, 'files' AS field, '%" PRId64 " files (%" PRId64
                  " deltas)' AS old_value, '1 file, %" PRId64 " rows' AS new_value, "
                  "'compact' AS op",
                  r->files_before, r->deltas_before, r->rows);
    int64_t nev = 0;
    if ((rc = ing_journal_write(ing, c, who, dataset, cur->version + 1, sql.data, NULL, reason,
                                &nev, &jkey, err)))
        goto done;
    compact_commit x = {.base_version = cur->version,
                        .key = key,
                        .journal = jkey,
                        .reason = reason,
                        .size = sb.st_size,
                        .rows = r->rows};
    if ((rc = lh_catalog_update(ing->cat, who, dataset, compact_commit_fn, &x, &r->version, err)))
        goto done;
    uploaded = false;
done:
    if (uploaded) {
        lh_storage_delete(ing->st, key, NULL);
        if (jkey) lh_storage_delete(ing->st, jkey, NULL);
    }
    if (tmp) unlink(tmp);
    lh_manifest_free(cur);
    lh_buf_free(&sql);
    free(tmp);
    free(key);
    free(jkey);
    return rc;
}

int lh_ingest_compact(lh_ingest *ing, const lh_identity *who, const char *dataset,
                      const char *reason, lh_compact_result *result, lh_error *err)
{
    uint64_t t0 = lh_now_ns();
    lh_compact_result r = {0};
    duckdb_connection c = NULL;
    int rc;
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        lh_error e = {0};
        memset(&r, 0, sizeof r);
        rc = compact_once(ing, c, who, dataset, reason, &r, &e);
        if (rc != LH_ECONFLICT || attempt >= 4) {
            if (rc && err) *err = e;
            break;
        }
    }
done:
    if (c) duckdb_disconnect(&c);
    r.seconds = (double)(lh_now_ns() - t0) / 1e9;
    if (result) *result = r;
    return rc;
}

int ing_sort_by_key(duckdb_connection c, const char *path, char *const *key, size_t nkey,
                    lh_error *err)
{
    lh_buf sql = {0};
    char *sorted = lh_sprintf("%s.sorted", path);
    lh_buf_puts(&sql, "COPY (SELECT * FROM read_parquet(");
    lh_sql_quote(&sql, path);
    lh_buf_puts(&sql, ") ORDER BY ");
    for (size_t k = 0; k < nkey; k++) {
        if (k) lh_buf_puts(&sql, ", ");
        lh_sql_ident(&sql, key[k]);
    }
    lh_buf_puts(&sql, ") TO ");
    lh_sql_quote(&sql, sorted);
    lh_buf_puts(&sql, " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE " KEY_ROW_GROUP ")");
    int rc = lh_duckdb_exec(c, sql.data, "sort by key", err);
    if (!rc && rename(sorted, path) != 0)
        rc = lh_error_set(err, LH_EIO, "%s: cannot replace with its sorted copy", path);
    if (rc) unlink(sorted);
    free(sorted);
    lh_buf_free(&sql);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lh_ingest_gc(lh_ingest *ing, const lh_identity *who, const char *dataset, int64_t retention_us,
                 int64_t *deleted, lh_error *err)
{
    int64_t *versions = NULL;
    size_t nv = 0, nkeep = 0;
    char **keep = NULL;
    int64_t ndel = 0;
    lh_object_list l = {0};
    char *prefix = NULL;
    int64_t cutoff = lh_wall_us() - retention_us;
    int rc = lh_catalog_versions(ing->cat, who, dataset, &versions, &nv, err);
    if (rc) return rc;
    /* Newest first: every version committed inside the window keeps its files, and so does
     * the newest one before it (current at the window's start, so every moment inside the
     * window stays readable). The latest version is always kept. */
    for (size_t i = nv; i-- > 0;) {
        lh_manifest *m = NULL;
        if ((rc = lh_catalog_get(ing->cat, who, dataset, versions[i], &m, err))) goto done;
        keep = lh_realloc(keep, (nkeep + m->nfiles + 1) * sizeof *keep);
        for (size_t f = 0; f < m->nfiles; f++)
            keep[nkeep++] = lh_strdup(m->files[f].key);
        bool before_window = m->updated_us < cutoff;
        lh_manifest_free(m);
        if (before_window) break;
    }
    qsort(keep, nkeep, sizeof *keep, cmp_str);
    prefix = lh_sprintf("data/%s/", dataset);
    if ((rc = lh_storage_list_all(ing->st, prefix, &l, err))) goto done;
    for (size_t i = 0; i < l.count; i++) {
        const char *k = l.items[i].key;
        if (bsearch(&k, keep, nkeep, sizeof *keep, cmp_str)) continue;
        if (l.items[i].mtime_us >= cutoff) continue; /* maybe an upload about to be committed */
        if (lh_storage_delete(ing->st, k, NULL) == LH_OK) ndel++;
    }
done:
    if (deleted) *deleted = ndel;
    lh_storage_list_free(&l);
    for (size_t i = 0; i < nkeep; i++)
        free(keep[i]);
    free(keep);
    free(versions);
    free(prefix);
    return rc;
}
