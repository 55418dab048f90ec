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

/* Whether a journal object key ("_journal/<month>/batch_<us>_<dataset>_v<N>_<id8>.parquet" or
 * "_journal/<month>/month_<dataset>_<id8>.parquet") belongs to dataset. */
static bool journal_of(const char *key, const char *dataset)
{
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    size_t dl = strlen(dataset);
    if (strncmp(base, "month_", 6) == 0)
        return strncmp(base + 6, dataset, dl) == 0 && strlen(base + 6 + dl) == 17 &&
               base[6 + dl] == '_';
    if (strncmp(base, "batch_", 6) != 0) return false;
    const char *p = base + 6;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '_' || strncmp(p, dataset, dl) != 0 || p[dl] != '_' || p[dl + 1] != 'v')
        return false;
    p += dl + 2;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return strlen(p) == 17 && *p == '_'; /* "_<8 hex>.parquet" */
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
        keep = lh_realloc(keep, (nkeep + m->nfiles + m->njournal + 1) * sizeof *keep);
        for (size_t f = 0; f < m->nfiles; f++)
            keep[nkeep++] = lh_strdup(m->files[f].key);
        for (size_t f = 0; f < m->njournal; f++)
            keep[nkeep++] = lh_strdup(m->journal[f]);
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
    /* Journal objects of this dataset no kept version lists: batches a roll-up replaced, or
     * left by a crash before their commit. */
    lh_storage_list_free(&l);
    if ((rc = lh_storage_list_all(ing->st, "_journal/", &l, err))) goto done;
    for (size_t i = 0; i < l.count; i++) {
        const char *k = l.items[i].key;
        if (!journal_of(k, dataset) || bsearch(&k, keep, nkeep, sizeof *keep, cmp_str)) continue;
        if (l.items[i].mtime_us >= cutoff) continue;
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

/* ------------------------------------------------------- journal roll-up */

typedef struct roll_commit {
    int64_t base_version;
    char **journal; /* the new journal list */
    size_t njournal;
} roll_commit;

static int roll_commit_fn(void *vctx, const lh_manifest *cur, lh_manifest **next, lh_error *err)
{
    roll_commit *x = vctx;
    *next = NULL;
    if (!cur || cur->version != x->base_version)
        return lh_error_set(err, LH_ECONFLICT, "dataset changed while its journal was rolled up");
    lh_manifest *m = lh_manifest_clone(cur);
    for (size_t i = 0; i < m->njournal; i++)
        free(m->journal[i]);
    m->njournal = 0;
    for (size_t i = 0; i < x->njournal; i++)
        lh_manifest_add_journal(m, x->journal[i]);
    free(m->op);
    m->op = lh_strdup("journal_rollup");
    json_object_del(m->metadata, "last_reason");
    *next = m;
    return LH_OK;
}

/* "_journal/2026-11/batch_..." → "2026-11" in month (8 bytes); false for other keys. */
static bool key_month(const char *key, char month[8])
{
    static const char prefix[] = "_journal/";
    if (strncmp(key, prefix, sizeof prefix - 1) != 0) return false;
    const char *p = key + sizeof prefix - 1;
    if (strlen(p) < 8 || p[4] != '-' || p[7] != '/') return false;
    memcpy(month, p, 7);
    month[7] = 0;
    return true;
}

int lh_ingest_journal_rollup(lh_ingest *ing, const lh_identity *who, const char *dataset,
                             int64_t before_us, int64_t *rolled, lh_error *err)
{
    lh_manifest *cur = NULL;
    duckdb_connection c = NULL;
    roll_commit x = {0};
    char **made = NULL;
    size_t nmade = 0;
    int64_t nrolled = 0;
    lh_buf sql = {0};
    int rc = lh_catalog_get(ing->cat, who, dataset, 0, &cur, err);
    if (rc) return rc;
    char limit[40], cut[8];
    lh_time_format(before_us, limit, sizeof limit); /* "2026-11-24T..." */
    snprintf(cut, sizeof cut, "%.7s", limit);
    x.base_version = cur->version;
    x.journal = lh_calloc(cur->njournal + 1, sizeof *x.journal);
    bool *done = lh_calloc(cur->njournal + 1, sizeof *done);
    if (duckdb_connect(ing->db, &c) != DuckDBSuccess) {
        rc = lh_error_set(err, LH_EINTERNAL, "ingest: cannot connect to DuckDB");
        goto out;
    }
    /* Months before the cut with two or more batches become one file each; the list keeps
     * its order (a month's file takes the place of its first batch). */
    for (size_t i = 0; i < cur->njournal; i++) {
        char month[8], other[8];
        if (done[i]) continue;
        done[i] = true;
        size_t n = 1;
        bool old = key_month(cur->journal[i], month) && strcmp(month, cut) < 0;
        for (size_t j = i + 1; old && j < cur->njournal; j++)
            if (!done[j] && key_month(cur->journal[j], other) && strcmp(other, month) == 0) n++;
        if (!old || n < 2) {
            x.journal[x.njournal++] = lh_strdup(cur->journal[i]);
            continue;
        }
        char uuid[37];
        lh_uuid(uuid);
        char *tmp = lh_sprintf("%s/journal-month-%s.parquet", ing->tmp_dir, uuid);
        char *key = lh_sprintf("_journal/%s/month_%s_%.8s.parquet", month, dataset, uuid);
        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "COPY (SELECT * FROM read_parquet([");
        for (size_t j = i, k = 0; j < cur->njournal; j++) {
            if (j != i &&
                (done[j] || !key_month(cur->journal[j], other) || strcmp(other, month) != 0))
                continue;
            done[j] = true;
            char path[4096];
            if (!lh_storage_local_path(ing->st, cur->journal[j], path, sizeof path)) {
                rc = lh_error_set(err, LH_EUNSUPPORTED, "journal batch %s has no local copy",
                                  cur->journal[j]);
                break;
            }
            if (k++) lh_buf_puts(&sql, ", ");
            lh_sql_quote(&sql, path);
        }
        lh_buf_puts(&sql, "], union_by_name=true) ORDER BY version, ts, key, field) TO ");
        lh_sql_quote(&sql, tmp);
        lh_buf_puts(&sql, " (FORMAT parquet, COMPRESSION zstd)");
        if (!rc) rc = lh_duckdb_exec(c, sql.data, "journal roll-up", err);
        if (!rc) rc = lh_storage_put_file(ing->st, key, tmp, err);
        unlink(tmp);
        free(tmp);
        if (rc) {
            free(key);
            goto out;
        }
        made = lh_realloc(made, (nmade + 1) * sizeof *made);
        made[nmade++] = lh_strdup(key);
        x.journal[x.njournal++] = key;
        nrolled += (int64_t)n;
    }
    if (nmade) rc = lh_catalog_update(ing->cat, who, dataset, roll_commit_fn, &x, NULL, err);
out:
    if (rc)
        for (size_t i = 0; i < nmade; i++)
            lh_storage_delete(ing->st, made[i], NULL);
    if (rolled) *rolled = rc ? 0 : nrolled;
    if (c) duckdb_disconnect(&c);
    for (size_t i = 0; i < x.njournal; i++)
        free(x.journal[i]);
    free(x.journal);
    for (size_t i = 0; i < nmade; i++)
        free(made[i]);
    free(made);
    free(done);
    lh_buf_free(&sql);
    lh_manifest_free(cur);
    return rc;
}
