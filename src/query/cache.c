/* The hot cache: datasets held as DuckDB in-memory tables (schema lh_cache) at one version.
 *
 * A cached dataset's view reads its table instead of Parquet. The views lock of the engine
 * guards everything here (callers hold it), so a view and its table change together, and the
 * view reads the table only while the table holds the view's version. When a new version is
 * seen the table moves first: a version that only adds delta files (upsert, delete, append)
 * on top of the loaded one is applied in place, in one transaction (follow); any other change
 * (compaction, replace, schema or key change) reloads a pinned table and drops any other one
 * (it may be admitted again later). A query therefore never reads a stale table.
 *
 * Memory: each entry's bytes are measured as the growth of DuckDB's memory use while its
 * table loads (at least the Parquet size), plus the growth while deltas are applied. Loading
 * past the budget evicts the least recently used unpinned tables; pins that cannot fit are
 * refused.
 *
 * Admission. A keyed dataset looked up by its key (equality or IN on every key column, seen
 * in the SQL) KEY_ADMIT_LOOKUPS times while not cached, each within KEY_WINDOW_NS of the
 * previous, is admitted if its estimated size fits in half the budget (cache_admit_key_lookups,
 * on by default): from memory a lookup is an index probe (~0.2 ms) where Parquet decompresses
 * a row group of every column (~5 ms). Other datasets named ADMIT_MISSES times are admitted
 * only with cache_auto_admit, within a quarter of the budget: DuckDB scans and aggregates zstd
 * Parquet as fast or faster than an in-memory table (the 500K-row open-rate aggregation of
 * bench/sql: 4.4 ms over Parquet, 8.1 ms over the same rows in memory), so admission by query
 * count alone can slow a server down. An admission that does not fit is not retried until the
 * dataset's Parquet shrinks or REFUSED_RETRY_NS pass. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define ADMIT_MISSES 3
#define PARQUET_EXPANSION 3       /* estimated memory per Parquet byte, for admission only */
#define CLUSTER_MAX 3             /* columns a loaded table is sorted by (cluster_columns) */
#define CLUSTER_BYTES_PER_VALUE 2 /* ...each stored in at most this many bytes a value */
#define KEY_ADMIT_LOOKUPS 3       /* key lookups of a dataset not in memory that admit it... */
#define KEY_WINDOW_NS (60ULL * 1000 * 1000 * 1000) /* ...each within this long of the last */
#define REFUSED_RETRY_NS (600ULL * 1000 * 1000 * 1000)

typedef struct hot_entry {
    char *dataset;
    int64_t version; /* loaded version; 0 = not in memory */
    int64_t bytes, rows;
    bool pinned;
    uint64_t hits, misses; /* queries naming the dataset while loaded / not loaded */
    uint64_t last_used_ns;
    char **files; /* object keys of the loaded version's files (to follow delta commits) */
    size_t nfiles;
    char *shape; /* the loaded version's columns, types and key (lh_manifest_shape: a table can take
                    m's rows in place only while it is unchanged) */
    uint64_t lookups;        /* key lookups counted towards admission (see lh_hot_touch) */
    uint64_t last_lookup_ns; /* when the last of them came */
    uint64_t followed;       /* versions applied to the table in place (no reload) */
    int64_t refused_bytes;   /* Parquet size at which an admission did not fit (0: none) */
    uint64_t refused_ns;     /* ...and when */
} hot_entry;

struct lh_hot {
    lh_storage *st;
    int64_t budget;
    bool auto_admit; /* admit datasets queried often (off: pins only) */
    bool admit_keys; /* admit keyed datasets looked up by key often */
    hot_entry *e;
    size_t n;
    char **evicted; /* datasets evicted since lh_hot_take_evicted: their views must move */
    size_t nevicted;
};

lh_hot *lh_hot_new(lh_storage *st, int64_t budget_bytes, bool auto_admit, bool admit_keys)
{
    lh_hot *h = lh_calloc(1, sizeof *h);
    h->st = st;
    h->budget = budget_bytes;
    h->auto_admit = auto_admit;
    h->admit_keys = admit_keys;
    return h;
}

static void entry_files_clear(hot_entry *e)
{
    for (size_t i = 0; i < e->nfiles; i++)
        free(e->files[i]);
    free(e->files);
    e->files = NULL;
    e->nfiles = 0;
    free(e->shape);
    e->shape = NULL;
}

void lh_hot_free(lh_hot *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->e[i].dataset);
        entry_files_clear(&h->e[i]);
    }
    free(h->e);
    for (size_t i = 0; i < h->nevicted; i++)
        free(h->evicted[i]);
    free(h->evicted);
    free(h);
}

static hot_entry *find(lh_hot *h, const char *dataset, bool create)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].dataset, dataset) == 0) return &h->e[i];
    if (!create) return NULL;
    h->e = lh_realloc(h->e, (h->n + 1) * sizeof *h->e);
    hot_entry *e = &h->e[h->n++];
    memset(e, 0, sizeof *e);
    e->dataset = lh_strdup(dataset);
    return e;
}

static int64_t used(const lh_hot *h)
{
    int64_t u = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].version) u += h->e[i].bytes;
    return u;
}

static void table_name(lh_buf *b, const char *dataset)
{
    lh_buf_puts(b, "lh_cache.");
    lh_sql_ident(b, dataset);
}

static void unload(duckdb_connection admin, hot_entry *e)
{
    if (!e->version) return;
    lh_buf sql = {0};
    lh_buf_puts(&sql, "DROP TABLE IF EXISTS ");
    table_name(&sql, e->dataset);
    lh_duckdb_exec(admin, sql.data, "drop cached table", NULL);
    lh_buf_free(&sql);
    e->version = 0;
    e->bytes = e->rows = 0;
    entry_files_clear(e);
}

/* Notes which files and shape e's table now holds (m's). */
static void entry_files_set(hot_entry *e, const lh_manifest *m)
{
    entry_files_clear(e);
    e->files = lh_calloc(m->nfiles + 1, sizeof *e->files);
    for (size_t i = 0; i < m->nfiles; i++)
        e->files[e->nfiles++] = lh_strdup(m->files[i].key);
    e->shape = lh_manifest_shape(m);
}

static bool entry_has_file(const hot_entry *e, const char *key)
{
    for (size_t i = 0; i < e->nfiles; i++)
        if (strcmp(e->files[i], key) == 0) return true;
    return false;
}

static int64_t duckdb_mem(duckdb_connection admin)
{
    duckdb_result res;
    int64_t v = 0;
    if (duckdb_query(admin, "SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()", &res) ==
        DuckDBSuccess)
        v = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    return v;
}

bool lh_hot_source(lh_hot *h, const char *dataset, int64_t version, lh_buf *out)
{
    hot_entry *e = find(h, dataset, false);
    if (!e || !e->version || e->version != version) return false;
    lh_buf_puts(out, "SELECT * FROM ");
    table_name(out, dataset);
    return true;
}

/* Evicts least recently used unpinned tables (never keep) until extra more bytes fit. */
static void make_room(lh_hot *h, duckdb_connection admin, int64_t extra, const hot_entry *keep)
{
    while (used(h) + extra > h->budget) {
        hot_entry *lru = NULL;
        for (size_t i = 0; i < h->n; i++) {
            hot_entry *e = &h->e[i];
            if (e == keep || !e->version || e->pinned) continue;
            if (!lru || e->last_used_ns < lru->last_used_ns) lru = e;
        }
        if (!lru) return;
        lh_log(LH_LOG_INFO, "cache.evict", "dataset", lru->dataset, NULL);
        h->evicted = lh_realloc(h->evicted, (h->nevicted + 1) * sizeof *h->evicted);
        h->evicted[h->nevicted++] = lh_strdup(lru->dataset);
        unload(admin, lru);
    }
}

/* Appends to order (empty: none) the columns to sort a loaded table by: up to CLUSTER_MAX
 * VARCHAR columns that the base Parquet stores in at most CLUSTER_BYTES_PER_VALUE
 * uncompressed bytes a value (dictionary-encoded, so few distinct values: status, state,
 * city), narrowest first. An in-memory table keeps min/max per segment, so an equality
 * filter on such a column skips the segments that cannot match and reads fewer rows of
 * every other column; unsorted, every segment holds every value (bench/sql q1: about 2x).
 * Read from the Parquet footers only; any failure just leaves the table unsorted. */
static void cluster_columns(lh_hot *h, duckdb_connection admin, const lh_manifest *m, lh_buf *order)
{
    lh_buf list = {0}, sql = {0};
    size_t nbase = 0;
    if (lh_manifest_file_list(h->st, m, false, NULL, 0, &list, &nbase, NULL) || !nbase) {
        lh_buf_free(&list);
        return;
    }
    lh_buf_printf(&sql,
                  "SELECT path_in_schema FROM parquet_metadata(%s) GROUP BY path_in_schema "
                  "HAVING sum(total_uncompressed_size) <= %d * sum(num_values) "
                  "ORDER BY sum(total_uncompressed_size) / sum(num_values), path_in_schema",
                  list.data, CLUSTER_BYTES_PER_VALUE);
    duckdb_result res;
    if (duckdb_query(admin, sql.data, &res) == DuckDBSuccess) {
        int n = 0;
        for (idx_t r = 0; r < duckdb_row_count(&res) && n < CLUSTER_MAX; r++) {
            char *name = duckdb_value_varchar(&res, 0, r);
            const lh_column *c = name ? lh_manifest_column(m, name) : NULL;
            if (c && strcmp(c->type, "VARCHAR") == 0) {
                if (n++) lh_buf_puts(order, ", ");
                lh_sql_ident(order, c->name);
            }
            duckdb_free(name);
        }
    }
    duckdb_destroy_result(&res);
    lh_buf_free(&list);
    lh_buf_free(&sql);
}

int lh_hot_load(lh_hot *h, duckdb_connection admin, const lh_manifest *m, bool pin, lh_error *err)
{
    hot_entry *e = find(h, m->dataset, true);
    if (e->version == m->version) {
        e->pinned = e->pinned || pin;
        return LH_OK;
    }
    unload(admin, e);
    lh_buf sql = {0};
    int rc = lh_duckdb_exec(admin, "CREATE SCHEMA IF NOT EXISTS lh_cache", "cache schema", err);
    if (rc) goto done;
    int64_t before = duckdb_mem(admin);
    lh_buf order = {0};
    cluster_columns(h, admin, m, &order);
    lh_buf_puts(&sql, "CREATE OR REPLACE TABLE ");
    table_name(&sql, m->dataset);
    lh_buf_puts(&sql, " AS ");
    if (order.len) lh_buf_puts(&sql, "SELECT * FROM (");
    rc = lh_manifest_scan_sql(h->st, m, &sql, err);
    if (order.len) lh_buf_printf(&sql, ") AS __s ORDER BY %s", order.data);
    lh_buf_free(&order);
    if (rc) goto done;
    if (m->nkey) {
        /* An index on the primary key: a lookup by key is an index probe, not a scan. */
        lh_buf_printf(&sql, "; CREATE UNIQUE INDEX \"%s_pk\" ON ", m->dataset);
        table_name(&sql, m->dataset);
        lh_buf_puts(&sql, " (");
        for (size_t k = 0; k < m->nkey; k++) {
            if (k) lh_buf_puts(&sql, ", ");
            lh_sql_ident(&sql, m->key[k]);
        }
        lh_buf_putc(&sql, ')');
    }
    if ((rc = lh_duckdb_exec(admin, sql.data, "load into the cache", err))) {
        lh_error_prefix(err, "cache: dataset '%s'", m->dataset);
        if (!pin) e->refused_bytes = m->bytes, e->refused_ns = lh_now_ns();
        lh_buf_reset(&sql);
        lh_buf_puts(&sql, "DROP TABLE IF EXISTS ");
        table_name(&sql, m->dataset);
        lh_duckdb_exec(admin, sql.data, "drop cached table", NULL);
        goto done;
    }
    int64_t grown = duckdb_mem(admin) - before;
    e->version = m->version;
    e->bytes = grown > m->bytes ? grown : m->bytes;
    e->rows = m->rows;
    entry_files_set(e, m);
    e->last_used_ns = lh_now_ns();
    make_room(h, admin, 0, e);
    if (used(h) > h->budget) {
        int64_t need = e->bytes;
        unload(admin, e);
        if (!pin) e->refused_bytes = m->bytes, e->refused_ns = lh_now_ns();
        rc = lh_error_set(err, LH_ETOOBIG,
                          "cache: dataset '%s' needs %" PRId64 " MB in memory; the cache budget is "
                          "%" PRId64 " MB and pinned datasets hold %" PRId64 " MB",
                          m->dataset, need >> 20, h->budget >> 20, used(h) >> 20);
        goto done;
    }
    e->pinned = e->pinned || pin;
done:
    lh_buf_free(&sql);
    return rc;
}

/* Brings e's table from its version to m by applying the delta files m adds — when m is the
 * loaded version plus delta files only (an upsert, delete or append), with the same columns
 * and key. In one transaction the keys of the new files leave the table and their newest
 * rows that do not delete come back, so a reader of the table sees one version or the other.
 * False if m is another kind of change (compaction, replace, schema change) or the statement
 * fails: nothing changed then, and the caller reloads or drops the table. */
static bool follow(lh_hot *h, duckdb_connection admin, hot_entry *e, const lh_manifest *m)
{
    if (!m->nkey || !e->shape || m->version < e->version) return false;
    char *shape = lh_manifest_shape(m);
    bool same = strcmp(shape, e->shape) == 0;
    free(shape);
    if (!same) return false;
    size_t kept = 0;
    for (size_t i = 0; i < m->nfiles; i++) {
        if (entry_has_file(e, m->files[i].key))
            kept++;
        else if (!m->files[i].delta)
            return false; /* a new base file: compaction or replace */
    }
    if (kept != e->nfiles) return false; /* files went away */
    lh_buf list = {0}, sql = {0}, tbl = {0};
    size_t nnew = 0;
    bool ok = false;
    lh_error err = {0};
    if (lh_manifest_file_list(h->st, m, true, e->files, e->nfiles, &list, &nnew, &err)) goto done;
    table_name(&tbl, m->dataset);
    if (nnew) {
        lh_buf_printf(&sql, "BEGIN TRANSACTION; DELETE FROM %s AS __t USING (SELECT DISTINCT ",
                      tbl.data);
        lh_sql_ident_list(&sql, m->key, m->nkey, NULL);
        lh_buf_printf(&sql, " FROM read_parquet(%s)) AS __n WHERE ", list.data);
        lh_sql_key_match(&sql, m->key, m->nkey, "__t", "__n");
        lh_buf_printf(&sql, "; INSERT INTO %s BY NAME SELECT ", tbl.data);
        for (size_t i = 0; i < m->ncolumns; i++) {
            if (i) lh_buf_puts(&sql, ", ");
            lh_sql_ident(&sql, m->columns[i].name);
        }
        lh_buf_puts(&sql, " FROM (");
        qry_latest_rows(&sql, m, list.data, nnew);
        lh_buf_puts(&sql, ") AS __l WHERE NOT " LH_DELTA_DELETED "; COMMIT");
        int64_t before = duckdb_mem(admin);
        if (lh_duckdb_exec(admin, sql.data, "cache: apply delta rows", &err)) {
            lh_duckdb_exec(admin, "ROLLBACK", "rollback", NULL);
            goto done;
        }
        int64_t grown = duckdb_mem(admin) - before;
        if (grown > 0) e->bytes += grown;
    }
    e->version = m->version;
    e->rows = m->rows;
    e->followed++;
    entry_files_set(e, m);
    ok = true;
done:
    if (!ok && err.msg[0])
        lh_log(LH_LOG_WARN, "cache.follow_failed", "dataset", m->dataset, "error", err.msg, NULL);
    lh_buf_free(&list);
    lh_buf_free(&sql);
    lh_buf_free(&tbl);
    return ok;
}

void lh_hot_invalidate(lh_hot *h, duckdb_connection admin, const lh_manifest *m)
{
    hot_entry *e = find(h, m->dataset, false);
    if (!e || !e->version || e->version == m->version) return;
    if (follow(h, admin, e, m)) {
        make_room(h, admin, 0, e);
        return;
    }
    if (!e->pinned) {
        unload(admin, e);
        return;
    }
    lh_error err = {0};
    if (lh_hot_load(h, admin, m, true, &err))
        lh_log(LH_LOG_WARN, "cache.reload_failed", "dataset", m->dataset, "error", err.msg, NULL);
}

void lh_hot_forget(lh_hot *h, duckdb_connection admin, const char *dataset)
{
    hot_entry *e = find(h, dataset, false);
    if (!e) return;
    unload(admin, e);
    free(e->dataset);
    entry_files_clear(e);
    *e = h->e[--h->n];
}

void lh_hot_unpin(lh_hot *h, const char *dataset)
{
    hot_entry *e = find(h, dataset, false);
    if (e) e->pinned = false;
}

bool lh_hot_pinned(lh_hot *h, const char *dataset)
{
    hot_entry *e = find(h, dataset, false);
    return e && e->pinned;
}

bool lh_hot_touch(lh_hot *h, const char *dataset, int64_t version, int64_t bytes, bool key_lookup)
{
    hot_entry *e = find(h, dataset, true);
    uint64_t now = lh_now_ns();
    e->last_used_ns = now;
    if (e->version == version) {
        e->hits++;
        return false;
    }
    e->misses++;
    /* An admission that did not fit is not retried (each try loads the whole table) until
     * the dataset shrinks or REFUSED_RETRY_NS pass (pins elsewhere may have gone). */
    if (e->refused_bytes && bytes >= e->refused_bytes && now - e->refused_ns < REFUSED_RETRY_NS)
        return false;
    if (key_lookup && h->admit_keys) {
        if (now - e->last_lookup_ns > KEY_WINDOW_NS) e->lookups = 0;
        e->last_lookup_ns = now;
        if (++e->lookups >= KEY_ADMIT_LOOKUPS && bytes * PARQUET_EXPANSION <= h->budget / 2) {
            e->lookups = 0;
            return true;
        }
    }
    return h->auto_admit && e->misses % ADMIT_MISSES == 0 &&
           bytes * PARQUET_EXPANSION <= h->budget / 4;
}

char **lh_hot_take_evicted(lh_hot *h, size_t *n)
{
    char **v = h->evicted;
    *n = h->nevicted;
    h->evicted = NULL;
    h->nevicted = 0;
    return v;
}

json_t *lh_hot_stats(lh_hot *h)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < h->n; i++) {
        const hot_entry *e = &h->e[i];
        if (!e->version && !e->pinned && !e->hits && !e->misses) continue;
        json_array_append_new(
            entries, json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "dataset",
                               e->dataset, "cached", e->version != 0, "pinned", e->pinned,
                               "version", (json_int_t)e->version, "bytes", (json_int_t)e->bytes,
                               "rows", (json_int_t)e->rows, "hits", (json_int_t)e->hits, "misses",
                               (json_int_t)e->misses, "followed", (json_int_t)e->followed));
    }
    return json_pack("{s:I, s:I, s:o}", "budget_bytes", (json_int_t)h->budget, "used_bytes",
                     (json_int_t)used(h), "entries", entries);
}
