/* The query engine: sandboxed DuckDB, one view per dataset, pooled connections, timeouts. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "query/query_int.h"

#define SYNC_INTERVAL_NS (1000ULL * 1000 * 1000)
#define FLUSH_BYTES (256 * 1024)

typedef struct view {
    char *name;
    int64_t version;
    char **paths; /* the local files it reads (to tell an evicted cache copy) */
    size_t npaths;
    int64_t bytes;  /* Parquet bytes at that version (hot cache admission) */
    char **journal; /* the dataset's journal batch keys at that version */
    size_t njournal;
    char *dtable;  /* its in-memory delta table (see "delta tables"), or NULL */
    char **dfiles; /* the delta files loaded into dtable */
    size_t ndfiles;
    char *base_sig; /* the base files the view reads, with dtable (base_signature) */
    char **key;     /* the dataset's primary key columns (hot cache admission) */
    size_t nkey;
    bool hot;     /* it reads the dataset's hot cache table */
    char *wtable; /* rows acknowledged by the write-ahead log, not yet committed, or NULL */
    bool wlive;   /* wtable holds rows (the view reads it only then: see view_rewrap) */
    bool wrapped; /* the view's text reads wtable (see wal_wrap) */
    lh_row_writer wwriter; /* writes wtable's rows */
    /* The keys wtable holds (lh_manifest_row_key) and their rows' seq: an acknowledged row
     * whose key is not there needs no DELETE, and no key is an empty table (no count). NULL
     * until the view has a log table. */
    json_t *wkeys;
    char *body; /* the view's text without the wrap (as long as the text stays) */
} view;

/* A result column set: serializers and names. */
typedef struct columns {
    idx_t n;
    lh_coldesc *desc;
    char **names;
} columns;

/* A checked, prepared statement kept for reuse on its connection. DuckDB binds a statement
 * again on every execution when it scans Parquet, so preparing (for the checks and the
 * column types) and then executing costs two binds; a cached statement costs one. */
typedef struct stmt {
    char *sql; /* the caller's text; NULL = free slot */
    lh_query_format fmt;
    int64_t limit; /* JSON: the row limit built into the statement */
    uint64_t gen;  /* view generation it was prepared against */
    uint64_t used; /* LRU tick */
    bool materialize;
    duckdb_prepared_statement ps;
    columns cols;
} stmt;

#define STMT_CACHE 16

/* A pooled connection with its statement cache; used by one thread at a time. */
typedef struct qconn {
    duckdb_connection c;
    stmt cache[STMT_CACHE];
    uint64_t tick;
} qconn;

/* A query the watchdog may interrupt. Lives on the running thread's stack. */
typedef struct running {
    duckdb_connection conn;
    uint64_t deadline_ns;
    bool fired;
    struct running *next;
} running;

struct lh_query {
    lh_catalog *cat;
    lh_storage *st;
    char *data_dir;  /* realpath of the lake folder */
    char *cache_dir; /* realpath of the cache folder */
    int64_t row_limit;
    int timeout_ms;
    duckdb_database db;

    pthread_mutex_t views_mu; /* guards admin, views, nviews, last_sync_ns */
    duckdb_connection admin;  /* DDL (views) only */
    view *views;
    size_t nviews;
    uint64_t last_sync_ns;
    lh_hot *hot;        /* guarded by views_mu */
    uint64_t delta_gen; /* names new delta tables; guarded by views_mu */
    bool journal_stale; /* the journal view lacks new batches (atomic; installed under views_mu) */
    bool hot_on;        /* set once by lh_query_cache_enable */

    uint64_t view_gen; /* bumped whenever a view or the rows behind it change (atomic):
                          invalidates cached statements; lh_query_view_generation */

    pthread_mutex_t pool_mu; /* guards free_conns, nfree, cap */
    qconn **free_conns;
    size_t nfree, cap;

    pthread_mutex_t wd_mu; /* guards running_list, wd_stop */
    pthread_cond_t wd_cv;
    running *running_list;
    uint64_t wd_next; /* when the watchdog wakes next (it looks at least every 100 ms) */
    bool wd_stop;
    pthread_t wd_thread;
    bool wd_started;
};

/* ------------------------------------------------------------ watchdog */

static void *watchdog_main(void *arg)
{
    lh_query *q = arg;
    pthread_mutex_lock(&q->wd_mu);
    while (!q->wd_stop) {
        uint64_t now = lh_now_ns(), next = now + 100000000ULL;
        for (running *r = q->running_list; r; r = r->next) {
            if (!r->fired && r->deadline_ns <= now) {
                duckdb_interrupt(r->conn);
                r->fired = true;
            } else if (!r->fired && r->deadline_ns < next) {
                next = r->deadline_ns;
            }
        }
        /* Sleep until the earliest deadline (monotonic clock in ns → CLOCK_MONOTONIC). */
        q->wd_next = next;
        struct timespec ts = {.tv_sec = (time_t)(next / 1000000000ULL),
                              .tv_nsec = (long)(next % 1000000000ULL)};
        pthread_cond_timedwait(&q->wd_cv, &q->wd_mu, &ts);
    }
    pthread_mutex_unlock(&q->wd_mu);
    return NULL;
}

static void watch(lh_query *q, running *r, duckdb_connection conn, int timeout_ms)
{
    r->conn = conn;
    r->deadline_ns = lh_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    r->fired = false;
    pthread_mutex_lock(&q->wd_mu);
    r->next = q->running_list;
    q->running_list = r;
    /* Wake the watchdog only if it would look too late: a wake-up per query is a context
     * switch on a core the query could use. */
    if (r->deadline_ns < q->wd_next) pthread_cond_signal(&q->wd_cv);
    pthread_mutex_unlock(&q->wd_mu);
}

static bool unwatch(lh_query *q, running *r)
{
    pthread_mutex_lock(&q->wd_mu);
    for (running **pp = &q->running_list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    bool fired = r->fired;
    pthread_mutex_unlock(&q->wd_mu);
    return fired;
}

/* ---------------------------------------------------------- connections */

static void columns_free(columns *c);

static void stmt_clear(stmt *e)
{
    if (e->ps) duckdb_destroy_prepare(&e->ps);
    columns_free(&e->cols);
    free(e->sql);
    memset(e, 0, sizeof(*e));
}

static void qconn_free(qconn *c)
{
    if (!c) return;
    for (int i = 0; i < STMT_CACHE; i++)
        stmt_clear(&c->cache[i]);
    duckdb_disconnect(&c->c);
    free(c);
}

static int conn_get(lh_query *q, qconn **out, lh_error *err)
{
    pthread_mutex_lock(&q->pool_mu);
    if (q->nfree) {
        *out = q->free_conns[--q->nfree];
        pthread_mutex_unlock(&q->pool_mu);
        return LH_OK;
    }
    pthread_mutex_unlock(&q->pool_mu);
    qconn *c = lh_calloc(1, sizeof(*c));
    if (duckdb_connect(q->db, &c->c) != DuckDBSuccess) {
        free(c);
        return lh_error_set(err, LH_EINTERNAL, "query engine: cannot open a DuckDB connection");
    }
    *out = c;
    return LH_OK;
}

static void conn_put(lh_query *q, qconn *c)
{
    pthread_mutex_lock(&q->pool_mu);
    if (q->nfree == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->free_conns = lh_realloc(q->free_conns, q->cap * sizeof(*q->free_conns));
    }
    q->free_conns[q->nfree++] = c;
    pthread_mutex_unlock(&q->pool_mu);
}

/* --------------------------------------------------------- delta tables */

/* A keyed dataset with delta files keeps the newest delta row of each key (tombstones
 * included) in an in-memory table, lh_delta."<dataset>#<n>", and its view merges the base
 * Parquet files with that table: the delta side no longer opens every delta file on every
 * query, and a commit that only adds deltas (an upsert or delete) updates the table in one
 * transaction — rows of the new files replace those of their keys (a later commit has a
 * higher sequence) — without re-creating the view, which binds every file. Any other change
 * (base files changed, deltas removed, the table missing) builds a new table, re-points the
 * view and drops the old table, so a query sees one version or the next. Each row notes
 * whether its key is in a base file (DELTA_SHADOW): only those keys enter the anti-join
 * against the base, so appended rows cost a key lookup nothing. Deltas past
 * DELTA_MEM_MAX_BYTES of Parquet stay on disk (lh_manifest_scan_sql). */
#define DELTA_MEM_MAX_BYTES (64LL << 20)
#define DELTA_SHADOW "__lh_shadow" /* the row's key is in a base file: it hides that row */

static bool delta_in_memory(const lh_manifest *m)
{
    int64_t bytes = 0;
    size_t n = 0;
    for (size_t i = 0; i < m->nfiles; i++)
        if (m->files[i].delta) bytes += m->files[i].size, n++;
    return m->nkey > 0 && n > 0 && bytes <= DELTA_MEM_MAX_BYTES;
}

/* Frees a string list and empties it. */
static void strv_clear(char ***v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

static void view_delta_free(view *v)
{
    strv_clear(&v->dfiles, &v->ndfiles);
    free(v->dtable);
    v->dtable = NULL;
    free(v->base_sig);
    v->base_sig = NULL;
}

/* Drops v's delta table (if any) and forgets it. Caller holds views_mu. */
static void view_delta_drop(lh_query *q, view *v)
{
    lh_duckdb_drop_table(q->admin, &v->dtable);
    view_delta_free(v);
}

/* The base files' keys, one per line: the view's text changes exactly when this does. */
static char *base_signature(const lh_manifest *m)
{
    lh_buf b = {0};
    lh_buf_puts(&b, "");
    for (size_t i = 0; i < m->nfiles; i++)
        if (!m->files[i].delta) lh_buf_printf(&b, "%s\n", m->files[i].key);
    return lh_buf_steal(&b);
}

void qry_latest_rows(lh_buf *b, const lh_manifest *m, const char *list, size_t n)
{
    lh_buf_printf(b, "SELECT * FROM read_parquet(%s)", list);
    if (n < 2) return;
    lh_buf_puts(b, " QUALIFY row_number() OVER (PARTITION BY ");
    lh_sql_ident_list(b, m->key, m->nkey, NULL);
    lh_buf_puts(b, " ORDER BY " LH_DELTA_SEQ " DESC) = 1");
}

/* Appends "SELECT __l.*, <key in shadow> AS __lh_shadow FROM (newest rows of files) AS __l
 * LEFT JOIN (keys that shadow a base row) AS __s ON ...": a key shadows if base (a list, "[]"
 * for none) holds it — a semi-join against the few new keys, which DuckDB pushes into the
 * base scan as a key range — or if table (NULL for none) flags it already. */
static void with_shadow(lh_buf *b, const lh_manifest *m, const char *files, size_t nfiles,
                        const char *base, const char *table)
{
    bool has_base = strcmp(base, "[]") != 0;
    lh_buf_puts(b, "SELECT __l.*, ");
    if (!table && !has_base) {
        lh_buf_puts(b, "false AS " DELTA_SHADOW " FROM (");
        qry_latest_rows(b, m, files, nfiles);
        lh_buf_puts(b, ") AS __l");
        return;
    }
    lh_buf_puts(b, "__s.");
    lh_sql_ident(b, m->key[0]);
    lh_buf_puts(b, " IS NOT NULL AS " DELTA_SHADOW " FROM (");
    qry_latest_rows(b, m, files, nfiles);
    lh_buf_puts(b, ") AS __l LEFT JOIN (");
    if (table) {
        lh_buf_puts(b, "SELECT ");
        lh_sql_ident_list(b, m->key, m->nkey, "__t");
        lh_buf_printf(b, " FROM %s AS __t WHERE __t." DELTA_SHADOW, table);
    }
    if (has_base) {
        lh_buf_puts(b, table ? " UNION SELECT " : "SELECT ");
        lh_sql_ident_list(b, m->key, m->nkey, "__b");
        lh_buf_printf(b, " FROM read_parquet(%s) AS __b SEMI JOIN read_parquet(%s) AS __n ON ",
                      base, files);
        lh_sql_key_match(b, m->key, m->nkey, "__b", "__n");
    }
    lh_buf_puts(b, ") AS __s ON ");
    lh_sql_key_match(b, m->key, m->nkey, "__s", "__l");
}

/* Adds m's delta files that v's table lacks, in one transaction. False (nothing changed) if
 * the table cannot follow m that way: the caller builds a new one. Caller holds views_mu. */
static bool delta_advance(lh_query *q, view *v, const lh_manifest *m)
{
    if (!v->dtable || !v->base_sig) return false;
    char *sig = base_signature(m);
    bool same = strcmp(sig, v->base_sig) == 0;
    free(sig);
    if (!same) return false;
    for (size_t k = 0; k < v->ndfiles; k++) {
        bool kept = false;
        for (size_t i = 0; i < m->nfiles && !kept; i++)
            kept = m->files[i].delta && strcmp(m->files[i].key, v->dfiles[k]) == 0;
        if (!kept) return false;
    }
    lh_buf list = {0}, sql = {0}, base = {0};
    size_t nnew = 0;
    bool ok = false;
    if (lh_manifest_file_list(q->st, m, true, v->dfiles, v->ndfiles, &list, &nnew, NULL) ||
        nnew == 0 || lh_manifest_file_list(q->st, m, false, NULL, 0, &base, NULL, NULL))
        goto done;
    /* A delta row's sequence is the version that committed it, and the table holds every
     * delta of the view's version: the new files' rows are exactly those past it (no need to
     * read the new files for their lowest sequence). */
    int64_t min_seq = v->version + 1;
    /* New rows first (a key shadows a base row if its older delta row did, or the base has
     * it), then the older rows of their keys go: every new file's sequence is higher. */
    lh_buf_printf(&sql, "BEGIN TRANSACTION; INSERT INTO %s BY NAME ", v->dtable);
    with_shadow(&sql, m, list.data, nnew, base.data, v->dtable);
    /* The older rows are found in the table itself (rows at or past the new files' lowest
     * sequence are the new ones), not by reading the new files again. */
    lh_buf_printf(&sql, "; DELETE FROM %s AS __t USING (SELECT ", v->dtable);
    lh_sql_ident_list(&sql, m->key, m->nkey, NULL);
    lh_buf_printf(&sql, " FROM %s WHERE " LH_DELTA_SEQ " >= %" PRId64 ") AS __n WHERE ", v->dtable,
                  min_seq);
    lh_sql_key_match(&sql, m->key, m->nkey, "__t", "__n");
    lh_buf_printf(&sql, " AND __t." LH_DELTA_SEQ " < %" PRId64 "; COMMIT", min_seq);
    lh_error e = {0};
    if (lh_duckdb_exec(q->admin, sql.data, "delta rows", &e)) {
        lh_duckdb_exec(q->admin, "ROLLBACK", "rollback", NULL);
        lh_log(LH_LOG_WARN, "query.delta_advance_failed", "dataset", m->dataset, "error", e.msg,
               NULL);
        goto done;
    }
    size_t n = v->ndfiles;
    v->dfiles = lh_realloc(v->dfiles, (n + m->nfiles) * sizeof *v->dfiles);
    for (size_t i = 0; i < m->nfiles; i++) {
        if (!m->files[i].delta) continue;
        bool had = false;
        for (size_t k = 0; k < n && !had; k++)
            had = strcmp(v->dfiles[k], m->files[i].key) == 0;
        if (!had) v->dfiles[v->ndfiles++] = lh_strdup(m->files[i].key);
    }
    ok = true;
done:
    lh_buf_free(&list);
    lh_buf_free(&sql);
    lh_buf_free(&base);
    return ok;
}

/* Appends to out the view body over a new delta table holding m's deltas (created here;
 * *table gets its name, caller frees). Caller holds views_mu. */
static int delta_build(lh_query *q, const lh_manifest *m, lh_buf *out, char **table, lh_error *err)
{
    lh_buf name = {0}, tbl = {0}, list = {0}, base = {0}, sql = {0};
    size_t nbase = 0, nlist = 0;
    int rc = lh_manifest_file_list(q->st, m, true, NULL, 0, &list, &nlist, err);
    if (!rc) rc = lh_manifest_file_list(q->st, m, false, NULL, 0, &base, &nbase, err);
    if (rc) goto done;
    lh_buf_printf(&name, "%s#%" PRIu64, m->dataset, ++q->delta_gen);
    lh_buf_puts(&tbl, "lh_delta.");
    lh_sql_ident(&tbl, name.data);
    lh_buf_printf(&sql, "CREATE SCHEMA IF NOT EXISTS lh_delta; CREATE TABLE %s AS ", tbl.data);
    with_shadow(&sql, m, list.data, nlist, base.data, NULL);
    if ((rc = lh_duckdb_exec(q->admin, sql.data, "delta table", err))) goto done;
    if (nbase) {
        lh_buf_puts(out, "SELECT ");
        for (size_t i = 0; i < m->ncolumns; i++) {
            lh_buf_puts(out, i ? ", __b." : "__b.");
            lh_sql_ident(out, m->columns[i].name);
        }
        /* Only delta keys the base holds take part in the anti-join: a key fetch then hashes
         * a few keys, not every appended row's. */
        lh_buf_printf(out, " FROM read_parquet(%s) AS __b ANTI JOIN (SELECT ", base.data);
        lh_sql_ident_list(out, m->key, m->nkey, NULL);
        lh_buf_printf(out, " FROM %s WHERE " DELTA_SHADOW ") AS __d ON ", tbl.data);
        lh_sql_key_match(out, m->key, m->nkey, "__b", "__d");
        lh_buf_puts(out, " UNION ALL ");
    }
    lh_buf_puts(out, "SELECT ");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i) lh_buf_puts(out, ", ");
        lh_sql_ident(out, m->columns[i].name);
    }
    lh_buf_printf(out, " FROM %s WHERE NOT " LH_DELTA_DELETED, tbl.data);
    *table = lh_buf_steal(&tbl);
done:
    lh_buf_free(&name);
    lh_buf_free(&tbl);
    lh_buf_free(&list);
    lh_buf_free(&base);
    lh_buf_free(&sql);
    return rc;
}

/* ------------------------------------------------------ write-ahead log rows
 *
 * Rows an upsert acknowledged through the local write-ahead log (ADR 0012) are visible at
 * once: they go to a small table per dataset (newest row per key, deletes flagged) that the
 * view reads over whatever else it reads (base + delta table, hot table or plain scan):
 *   SELECT * FROM (<view body>) ANTI JOIN <log table> ON key UNION ALL <its live rows>.
 * The view body and the delta table never see log rows, so they stay exactly the committed
 * version; once a version holding the records is in the view, their rows leave the table. */
#define WAL_SEQ "__lh_wseq"

/* Forgets the keys whose rows have seq <= upto. */
static void wkeys_drop(view *v, int64_t upto)
{
    const char *k;
    void *tmp;
    json_t *seq;
    json_object_foreach_safe(v->wkeys, tmp, k, seq)
    {
        if (json_integer_value(seq) <= upto) json_object_del(v->wkeys, k);
    }
}

/* Drops v's log table (if any). Caller holds views_mu. */
static void wal_table_drop(lh_query *q, view *v)
{
    json_decref(v->wkeys);
    v->wkeys = NULL;
    lh_row_writer_reset(&v->wwriter);
    lh_duckdb_drop_table(q->admin, &v->wtable);
}

/* Wraps the view body at sql[head..] so the log table's rows replace (or delete) theirs. */
static void wal_wrap(lh_buf *sql, size_t head, const lh_manifest *m, const char *wtable)
{
    char *body = lh_strdup(sql->data + head);
    sql->len = head;
    sql->data[head] = 0;
    lh_buf_printf(sql, "SELECT __v.* FROM (%s) AS __v ANTI JOIN %s AS __w ON ", body, wtable);
    lh_sql_key_match(sql, m->key, m->nkey, "__v", "__w");
    lh_buf_puts(sql, " UNION ALL SELECT ");
    for (size_t i = 0; i < m->ncolumns; i++) {
        if (i) lh_buf_puts(sql, ", ");
        lh_sql_ident(sql, m->columns[i].name);
    }
    lh_buf_printf(sql, " FROM %s WHERE NOT " LH_DELTA_DELETED, wtable);
    free(body);
}

/* ---------------------------------------------------------------- views */

static view *view_find(lh_query *q, const char *name)
{
    for (size_t i = 0; i < q->nviews; i++)
        if (strcmp(q->views[i].name, name) == 0) return &q->views[i];
    return NULL;
}

static void view_paths_free(view *v)
{
    strv_clear(&v->paths, &v->npaths);
}

static void view_journal_free(view *v)
{
    strv_clear(&v->journal, &v->njournal);
    strv_clear(&v->key, &v->nkey);
}

/* A view or the rows behind it changed: cached statements are prepared again (DuckDB plans
 * with the statistics of in-memory tables and does not re-plan when their rows change). */
static void view_data_changed(lh_query *q)
{
    __atomic_add_fetch(&q->view_gen, 1, __ATOMIC_RELEASE);
}

static void view_remove(lh_query *q, const char *name)
{
    view *v = view_find(q, name);
    if (!v) return;
    view_delta_drop(q, v);
    wal_table_drop(q, v);
    view_paths_free(v);
    free(v->body);
    free(v->name);
    view_journal_free(v);
    *v = q->views[--q->nviews];
    view_data_changed(q);
}

/* Re-creates v's view (at manifest m) reading its log table or not, from its stored text:
 * the anti-join with the log table costs every query (a key lookup on a hot table 0.1 → 0.6
 * ms), so a view reads it only while it holds rows. Caller holds views_mu. */
static int view_rewrap(lh_query *q, view *v, const lh_manifest *m, bool wrap, lh_error *err)
{
    wrap = wrap && v->wtable && m->nkey;
    if (v->wrapped == wrap || !v->body) return LH_OK;
    lh_buf sql = {0};
    lh_buf_puts(&sql, "CREATE OR REPLACE VIEW ");
    lh_sql_ident(&sql, m->dataset);
    lh_buf_puts(&sql, " AS ");
    size_t head = sql.len;
    lh_buf_puts(&sql, v->body);
    if (wrap) wal_wrap(&sql, head, m, v->wtable);
    int rc = lh_duckdb_exec(q->admin, sql.data, "create view", err);
    lh_buf_free(&sql);
    if (rc) return rc;
    v->wrapped = wrap;
    view_data_changed(q);
    return LH_OK;
}

/* Creates or replaces the view of m. Caller holds views_mu. */
static int view_install(lh_query *q, const lh_manifest *m, lh_error *err)
{
    lh_buf sql = {0};
    int rc = LH_OK;
    char **paths = m->nfiles ? lh_calloc(m->nfiles, sizeof *paths) : NULL;
    char *dtable = NULL, *body = NULL;
    view *v = view_find(q, m->dataset);
    lh_buf_puts(&sql, "CREATE OR REPLACE VIEW ");
    lh_sql_ident(&sql, m->dataset);
    lh_buf_puts(&sql, " AS ");
    size_t head = sql.len;
    bool hot = lh_hot_source(q->hot, m->dataset, m->version, &sql);
    /* The view's text may stay only if it already reads the log table when there is one. */
    bool wrap = v && v->wtable && v->wlive && m->nkey, same_wrap = v && v->wrapped == wrap;
    if (hot && v && v->hot && same_wrap)
        goto installed; /* the view's text stays: the table followed the version (cache.c) */
    if (!hot && same_wrap && v->version != m->version && delta_in_memory(m) &&
        delta_advance(q, v, m))
        goto installed; /* the view's text stays: only its delta table moved */
    if (!hot && delta_in_memory(m)) {
        lh_error e = {0};
        if (delta_build(q, m, &sql, &dtable, &e)) {
            lh_log(LH_LOG_WARN, "query.delta_table_failed", "dataset", m->dataset, "error", e.msg,
                   NULL);
            sql.len = head;
            sql.data[head] = 0;
        }
    }
    if (!hot && !dtable && (rc = lh_manifest_scan_sql(q->st, m, &sql, err))) goto done;
    /* The local files the view reads (base and delta files; base files only beside a delta
     * table), to tell later that an evicted cache copy broke it; a pinned table reads none. */
    size_t npaths = 0;
    for (size_t i = 0; !hot && i < m->nfiles; i++) {
        char path[PATH_MAX];
        if ((!dtable || !m->files[i].delta) &&
            lh_storage_local_path(q->st, m->files[i].key, path, sizeof(path)))
            paths[npaths++] = lh_strdup(path);
    }
    body = lh_strdup(sql.data + head);
    if (wrap) wal_wrap(&sql, head, m, v->wtable);
    rc = lh_duckdb_exec(q->admin, sql.data, "create view", err);
    if (rc) {
        lh_error_prefix(err, "dataset '%s'", m->dataset);
        goto done;
    }
    if (!v) {
        q->views = lh_realloc(q->views, (q->nviews + 1) * sizeof(*q->views));
        v = &q->views[q->nviews++];
        memset(v, 0, sizeof *v);
        v->name = lh_strdup(m->dataset);
    }
    /* The view has moved off the old delta table: it can go. */
    view_delta_drop(q, v);
    if (dtable) {
        v->dtable = dtable;
        dtable = NULL;
        v->base_sig = base_signature(m);
        v->dfiles = lh_calloc(m->nfiles, sizeof *v->dfiles);
        for (size_t i = 0; i < m->nfiles; i++)
            if (m->files[i].delta) v->dfiles[v->ndfiles++] = lh_strdup(m->files[i].key);
    }
    view_paths_free(v);
    v->paths = paths;
    v->npaths = npaths;
    v->hot = hot;
    v->wrapped = wrap;
    free(v->body);
    v->body = body;
    body = NULL;
    paths = NULL;
installed:
    v->version = m->version;
    v->bytes = m->bytes;
    view_journal_free(v);
    v->journal = lh_calloc(m->njournal + 1, sizeof *v->journal);
    for (size_t i = 0; i < m->njournal; i++)
        v->journal[v->njournal++] = lh_strdup(m->journal[i]);
    v->key = lh_calloc(m->nkey + 1, sizeof *v->key);
    for (size_t i = 0; i < m->nkey; i++)
        v->key[v->nkey++] = lh_strdup(m->key[i]);
    /* What a view reads changed, even where its text stays. Its cached statements are
     * prepared again too: DuckDB plans with the statistics of in-memory tables (a column
     * without NULLs lets it fold coalesce(col, x) to col) and does not plan a prepared
     * statement again when their rows change, so a reused plan could drop new rows. */
    view_data_changed(q);
done:
    free(body);
    lh_duckdb_drop_table(q->admin, &dtable); /* built but not installed */
    for (size_t i = 0; paths && i < m->nfiles; i++)
        free(paths[i]);
    free(paths);
    lh_buf_free(&sql);
    return rc;
}

/* Re-points the views of datasets the hot cache evicted (they name a table that is gone).
 * Caller holds views_mu. */
static void hot_fix_evicted(lh_query *q)
{
    size_t n = 0;
    char **gone = lh_hot_take_evicted(q->hot, &n);
    for (size_t i = 0; i < n; i++) {
        view *v = view_find(q, gone[i]);
        lh_manifest *old = NULL;
        lh_error e = {0};
        if (v && (lh_catalog_get(q->cat, &lh_identity_default, gone[i], v->version, &old, &e) ||
                  view_install(q, old, &e)))
            lh_log(LH_LOG_WARN, "cache.evict_view_failed", "dataset", gone[i], "error", e.msg,
                   NULL);
        lh_manifest_free(old);
        free(gone[i]);
    }
    free(gone);
}

/* Loads m into the hot cache, then fixes the views of whatever was evicted for it. Caller
 * holds views_mu. */
static int hot_load(lh_query *q, const lh_manifest *m, bool pin, lh_error *err)
{
    int rc = lh_hot_load(q->hot, q->admin, m, pin, err);
    hot_fix_evicted(q);
    return rc;
}

static int refresh_locked(lh_query *q, const char *dataset, lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(q->cat, &lh_identity_default, dataset, 0, &m, err);
    if (rc == LH_ENOENT) {
        lh_buf sql = {0};
        lh_buf_puts(&sql, "DROP VIEW IF EXISTS ");
        lh_sql_ident(&sql, dataset);
        lh_error_clear(err);
        rc = lh_duckdb_exec(q->admin, sql.data, "drop view", err);
        lh_buf_free(&sql);
        view_remove(q, dataset);
        lh_hot_forget(q->hot, q->admin, dataset);
        return rc;
    }
    if (rc) return rc;
    view *v = view_find(q, dataset);
    if (!v || v->version != m->version) {
        /* The cached table follows the version before the view does: never stale. */
        lh_hot_invalidate(q->hot, q->admin, m);
        hot_fix_evicted(q);
        rc = view_install(q, m, err);
    }
    lh_manifest_free(m);
    return rc;
}

/* Rebuilds every view one of whose files is gone — a local copy of a remote object evicted
 * from the object cache (by this process or another sharing the cache) — which fetches the
 * object again (lh_storage_local_path). *rebuilt counts the views rebuilt. */
static int views_rematerialize(lh_query *q, const char *failed_path, int *rebuilt, lh_error *err)
{
    int rc = LH_OK;
    *rebuilt = 0;
    pthread_mutex_lock(&q->views_mu);
    /* Which views to rebuild is decided first: fetching one view's files may evict another's
     * copies from a small cache, and rebuilding that one too would evict the first again.
     * When the error names the file, only the views reading it are rebuilt (the others may
     * not matter to this query); otherwise every view missing a file. */
    char **names = lh_calloc(q->nviews + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < q->nviews; i++) {
        bool missing = false;
        for (size_t k = 0; k < q->views[i].npaths && !missing; k++)
            missing = failed_path ? strcmp(q->views[i].paths[k], failed_path) == 0
                                  : access(q->views[i].paths[k], F_OK) != 0;
        if (missing) names[n++] = lh_strdup(q->views[i].name);
    }
    for (size_t i = 0; i < n && rc == LH_OK; i++) {
        lh_manifest *m = NULL;
        rc = lh_catalog_get(q->cat, &lh_identity_default, names[i], 0, &m, err);
        if (rc == LH_OK) rc = view_install(q, m, err);
        if (rc == LH_OK) (*rebuilt)++;
        lh_manifest_free(m);
    }
    pthread_mutex_unlock(&q->views_mu);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The journal view: every dataset's journal batches. Caller holds views_mu. A dataset
 * named "journal" keeps its name; the journal view is then not installed. */
static int journal_install(lh_query *q, lh_error *err)
{
    if (view_find(q, LH_JOURNAL_VIEW)) return LH_OK;
    lh_buf sql = {0};
    int rc = LH_OK;
    size_t n = 0;
    lh_buf_puts(&sql, "CREATE OR REPLACE VIEW " LH_JOURNAL_VIEW " AS ");
    for (size_t i = 0; i < q->nviews; i++) {
        for (size_t j = 0; j < q->views[i].njournal; j++) {
            char path[PATH_MAX];
            if (!lh_storage_local_path(q->st, q->views[i].journal[j], path, sizeof path)) continue;
            lh_buf_puts(&sql, n++ ? ", " : "SELECT * FROM read_parquet([");
            lh_sql_quote(&sql, path);
        }
    }
    if (n)
        lh_buf_puts(&sql, "], union_by_name=true)");
    else
        lh_buf_puts(&sql, "SELECT NULL::TIMESTAMP AS ts, NULL AS dataset, NULL AS entity, NULL AS "
                          "key, NULL AS field, NULL AS old_value, NULL AS new_value, NULL AS op, "
                          "NULL::BIGINT AS version, NULL AS actor, NULL AS profile, NULL AS "
                          "workspace_id, NULL AS source, NULL AS reason WHERE false");
    rc = lh_duckdb_exec(q->admin, sql.data, "create journal view", err);
    lh_buf_free(&sql);
    return rc;
}

int lh_query_refresh(lh_query *q, const char *dataset, lh_error *err)
{
    pthread_mutex_lock(&q->views_mu);
    int rc = refresh_locked(q, dataset, err);
    /* The journal view reads every batch: it is re-created when a query names it, not on
     * every commit (a mutation's refresh would pay for binding all batches). */
    __atomic_store_n(&q->journal_stale, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&q->views_mu);
    return rc;
}

void lh_query_wal_apply(lh_query *q, const lh_manifest *m, int64_t seq, const json_t *rows)
{
    lh_buf sql = {0};
    lh_error e = {0};
    lh_manifest *cur = NULL;
    pthread_mutex_lock(&q->views_mu);
    view *v = view_find(q, m->dataset);
    if (!v || !v->wtable) {
        /* First log rows of the dataset: a table for them, and the view re-made over it. */
        if (!v && refresh_locked(q, m->dataset, &e)) goto fail;
        v = view_find(q, m->dataset);
        if (!v) goto fail;
        /* '#' is never in a dataset name: no clash with a delta table ("<dataset>#<n>"). */
        lh_buf b = {0}, ident = {0};
        lh_buf_printf(&ident, "%s#wal", m->dataset);
        lh_buf_puts(&b, "lh_delta.");
        lh_sql_ident(&b, ident.data);
        lh_buf_free(&ident);
        char *name = lh_buf_steal(&b);
        lh_buf_puts(&sql, "CREATE SCHEMA IF NOT EXISTS lh_delta; ");
        lh_manifest_table_sql(m, name, WAL_SEQ, &sql);
        if (lh_duckdb_exec(q->admin, sql.data, "log table", &e)) {
            free(name);
            goto fail;
        }
        lh_row_writer_reset(&v->wwriter);
        v->wtable = name;
        v->wlive = false;
    }
    /* The record's rows replace their keys' rows, in one transaction, through statements
     * prepared once (parsing and planning SQL was most of an acknowledgement's time). */
    size_t nrows = json_array_size(rows);
    char **keys = lh_calloc(nrows + 1, sizeof *keys);
    bool *fresh = lh_calloc(nrows + 1, sizeof *fresh);
    if (!v->wkeys) v->wkeys = json_object();
    for (size_t i = 0; i < nrows; i++) {
        keys[i] = lh_manifest_row_key(m, json_array_get(rows, i));
        fresh[i] = !json_object_get(v->wkeys, keys[i]);
    }
    int wrc = lh_row_writer_replace(&v->wwriter, q->admin, v->wtable, m, rows, seq, fresh, &e);
    for (size_t i = 0; i < nrows; i++) {
        if (!wrc) json_object_set_new(v->wkeys, keys[i], json_integer(seq));
        free(keys[i]);
    }
    free(keys);
    free(fresh);
    if (wrc) goto fail;
    /* The view reads the log table from now on (re-made over it if it did not). */
    v->wlive = true;
    if (!v->wrapped &&
        ((m->version != v->version &&
          lh_catalog_get(q->cat, &lh_identity_default, m->dataset, v->version, &cur, &e)) ||
         view_rewrap(q, v, cur ? cur : m, true, &e)))
        goto fail;
    view_data_changed(q);
    goto done;
fail:
    lh_log(LH_LOG_WARN, "query.wal_apply_failed", "dataset", m->dataset, "error", e.msg, NULL);
done:
    pthread_mutex_unlock(&q->views_mu);
    lh_manifest_free(cur);
    lh_buf_free(&sql);
}

void lh_query_wal_committed(lh_query *q, const char *dataset, int64_t seq)
{
    lh_error e = {0};
    pthread_mutex_lock(&q->views_mu);
    /* The view moves to the version holding the records first; only then do their rows
     * leave the log table (between the two, both say the same). */
    if (refresh_locked(q, dataset, &e))
        lh_log(LH_LOG_WARN, "query.view_failed", "dataset", dataset, "error", e.msg, NULL);
    view *v = view_find(q, dataset);
    if (v && v->wtable) {
        lh_buf sql = {0};
        lh_buf_printf(&sql, "DELETE FROM %s WHERE " WAL_SEQ " <= %" PRId64, v->wtable, seq);
        if (lh_duckdb_exec(q->admin, sql.data, "log rows", &e))
            lh_log(LH_LOG_WARN, "query.wal_prune_failed", "dataset", dataset, "error", e.msg, NULL);
        else
            wkeys_drop(v, seq);
        view_data_changed(q);
        /* Empty again: the view stops reading the log table (see view_rewrap). */
        lh_manifest *cur = NULL;
        if (json_object_size(v->wkeys) == 0) {
            v->wlive = false;
            if (lh_catalog_get(q->cat, &lh_identity_default, dataset, v->version, &cur, &e) ||
                view_rewrap(q, v, cur, false, &e))
                lh_log(LH_LOG_WARN, "query.view_failed", "dataset", dataset, "error", e.msg, NULL);
        }
        lh_manifest_free(cur);
        lh_buf_free(&sql);
    }
    __atomic_store_n(&q->journal_stale, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&q->views_mu);
}

int lh_query_wal_current(lh_query *q, const lh_manifest *m, const char *where, json_t **rows)
{
    lh_buf sql = {0};
    int rc = LH_ENOENT;
    lh_buf_puts(&sql, "SELECT ");
    lh_manifest_text_columns(m, &sql);
    lh_buf_puts(&sql, "'false' FROM (");
    pthread_mutex_lock(&q->views_mu);
    if (lh_hot_source(q->hot, m->dataset, m->version, &sql)) {
        lh_buf_printf(&sql, ") WHERE %s", where);
        lh_error e = {0};
        rc = lh_duckdb_rows_json(q->admin, sql.data, rows, &e);
        if (rc) lh_log(LH_LOG_WARN, "query.current_rows_failed", "error", e.msg, NULL);
    }
    pthread_mutex_unlock(&q->views_mu);
    lh_buf_free(&sql);
    return rc;
}

/* True if sql mentions the journal view's name (any case): it may read the view. */
static bool names_journal(const char *sql)
{
    size_t n = strlen(LH_JOURNAL_VIEW);
    for (const char *p = sql; *p; p++)
        if (strncasecmp(p, LH_JOURNAL_VIEW, n) == 0) return true;
    return false;
}

/* Brings the journal view up to date before a query that may read it. */
static void journal_fresh(lh_query *q, const char *sql)
{
    if (!__atomic_load_n(&q->journal_stale, __ATOMIC_ACQUIRE) || !names_journal(sql)) return;
    pthread_mutex_lock(&q->views_mu);
    lh_error e = {0};
    if (__atomic_load_n(&q->journal_stale, __ATOMIC_ACQUIRE)) {
        if (journal_install(q, &e)) {
            lh_log(LH_LOG_WARN, "query.journal_view_failed", "error", e.msg, NULL);
        } else {
            __atomic_store_n(&q->journal_stale, false, __ATOMIC_RELEASE);
            /* Cached statements naming the old journal view: prepare them again. */
            view_data_changed(q);
        }
    }
    pthread_mutex_unlock(&q->views_mu);
}

#define PINS_PREFIX "_cache/pins/"

/* Loads pinned datasets whose marker appeared, unpins those whose marker went away. */
static void pins_sync_locked(lh_query *q)
{
    lh_object_list l;
    if (lh_storage_list_all(q->st, PINS_PREFIX, &l, NULL) != LH_OK) return;
    for (size_t i = 0; i < l.count; i++) {
        const char *ds = l.items[i].key + strlen(PINS_PREFIX);
        if (lh_hot_pinned(q->hot, ds) || !lh_name_valid(ds, NULL)) continue;
        lh_manifest *m = NULL;
        lh_error e = {0};
        if (lh_catalog_get(q->cat, &lh_identity_default, ds, 0, &m, &e) ||
            hot_load(q, m, true, &e) || view_install(q, m, &e))
            lh_log(LH_LOG_WARN, "cache.pin_failed", "dataset", ds, "error", e.msg, NULL);
        lh_manifest_free(m);
    }
    for (size_t v = 0; v < q->nviews; v++) {
        if (!lh_hot_pinned(q->hot, q->views[v].name)) continue;
        bool marked = false;
        for (size_t i = 0; i < l.count && !marked; i++)
            marked = strcmp(l.items[i].key + strlen(PINS_PREFIX), q->views[v].name) == 0;
        if (!marked) lh_hot_unpin(q->hot, q->views[v].name);
    }
    lh_storage_list_free(&l);
}

static int sync_locked(lh_query *q, lh_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = lh_catalog_list(q->cat, &lh_identity_default, &names, &n, err);
    if (rc) return rc;
    /* Drop views of datasets that are gone. */
    for (size_t i = 0; i < q->nviews;) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(names[j], q->views[i].name) == 0;
        if (found) {
            i++;
            continue;
        }
        char *gone = lh_strdup(q->views[i].name);
        refresh_locked(q, gone, NULL);
        free(gone);
    }
    for (size_t j = 0; j < n; j++) {
        lh_error e = {0};
        /* One broken dataset must not hide the others: log it and go on. */
        if (refresh_locked(q, names[j], &e))
            lh_log(LH_LOG_WARN, "query.view_failed", "dataset", names[j], "error", e.msg, NULL);
    }
    lh_catalog_names_free(names, n);
    if (q->hot_on) pins_sync_locked(q);
    q->last_sync_ns = lh_now_ns();
    __atomic_store_n(&q->journal_stale, true, __ATOMIC_RELEASE); /* see lh_query_refresh */
    return LH_OK;
}

uint64_t lh_query_view_generation(lh_query *q)
{
    return __atomic_load_n(&q->view_gen, __ATOMIC_ACQUIRE);
}

int lh_query_sync(lh_query *q, lh_error *err)
{
    int rc = LH_OK;
    pthread_mutex_lock(&q->views_mu);
    if (lh_now_ns() - q->last_sync_ns >= SYNC_INTERVAL_NS) rc = sync_locked(q, err);
    pthread_mutex_unlock(&q->views_mu);
    return rc;
}

/* ------------------------------------------------------------ open/close */

static int setup_sandbox(lh_query *q, const lh_config *cfg, lh_error *err)
{
    lh_buf sql = {0};
    int rc;
    int threads = cfg->query_threads > 0 ? cfg->query_threads : lh_cpu_count();
    int64_t mem_mb = cfg->query_memory_mb > 0 ? cfg->query_memory_mb : 1024;
    char *tmp = lh_path_join(q->cache_dir, "duckdb_tmp");
    char *data = lh_path_join(q->data_dir, "data");
    char *journal = lh_path_join(q->data_dir, "_journal");
    char *objects = lh_path_join(q->cache_dir, "objects"); /* remote objects' local copies */
    char *exports = lh_path_join(q->cache_dir, "exports"); /* Parquet downloads in flight */
    if ((rc = lh_mkdir_p(tmp, err)) || (rc = lh_mkdir_p(data, err)) ||
        (rc = lh_mkdir_p(journal, err)) || (rc = lh_mkdir_p(objects, err)) ||
        (rc = lh_mkdir_p(exports, err)))
        goto done;
    /* Order matters: everything is configured first, then file access is narrowed to the
     * lake's data files and the cache, then the configuration is locked for good. This runs
     * on the admin connection: options the queries' pooled connections must see are set
     * GLOBAL (an extension's option, such as parquet_metadata_cache, is otherwise set for
     * this connection only, and every query read every Parquet footer again). */
    lh_buf_printf(&sql, "SET threads=%d; SET memory_limit='%" PRId64 "MB'; ", threads, mem_mb);
    lh_buf_puts(&sql, "SET temp_directory=");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql,
                "; SET autoinstall_known_extensions=false; "
                "SET autoload_known_extensions=false; SET GLOBAL parquet_metadata_cache=true; "
                "SET enable_progress_bar=false; SET allowed_directories=[");
    lh_sql_quote(&sql, data);
    lh_buf_puts(&sql, ", ");
    lh_sql_quote(&sql, journal);
    lh_buf_puts(&sql, ", ");
    lh_sql_quote(&sql, tmp);
    lh_buf_puts(&sql, ", ");
    lh_sql_quote(&sql, objects);
    lh_buf_puts(&sql, ", ");
    lh_sql_quote(&sql, exports);
    lh_buf_puts(&sql, "]; SET enable_external_access=false; SET lock_configuration=true;");
    rc = lh_duckdb_exec(q->admin, sql.data, "query engine sandbox", err);
done:
    free(tmp);
    free(data);
    free(journal);
    free(objects);
    free(exports);
    lh_buf_free(&sql);
    return rc;
}

static char *real_dir(const char *path, lh_error *err)
{
    if (lh_mkdir_p(path, err)) return NULL;
    char *r = realpath(path, NULL);
    if (!r) lh_error_set(err, LH_EIO, "%s: cannot resolve path", path);
    return r;
}

int lh_query_open(lh_catalog *cat, const lh_config *cfg, lh_query **out, lh_error *err)
{
    int rc;
    *out = NULL;
    if ((rc = lh_duckdb_check_version(err))) return rc;
    lh_query *q = lh_calloc(1, sizeof(*q));
    q->cat = cat;
    q->st = lh_catalog_storage(cat);
    q->row_limit = cfg->query_row_limit > 0 ? cfg->query_row_limit : 10000;
    int64_t query_mb = cfg->query_memory_mb > 0 ? cfg->query_memory_mb : 1024;
    int64_t cache_mb = cfg->cache_memory_mb > 0 ? cfg->cache_memory_mb : query_mb / 10;
    q->hot = lh_hot_new(q->st, cache_mb << 20, cfg->cache_auto_admit, cfg->cache_admit_key_lookups);
    q->timeout_ms = cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 30000;
    pthread_mutex_init(&q->views_mu, NULL);
    pthread_mutex_init(&q->pool_mu, NULL);
    pthread_mutex_init(&q->wd_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wd_cv, &ca);
    pthread_condattr_destroy(&ca);

    rc = LH_EIO;
    if (!(q->data_dir = real_dir(cfg->data_dir, err))) goto fail;
    if (!(q->cache_dir = real_dir(cfg->cache_dir ? cfg->cache_dir : cfg->data_dir, err))) goto fail;
    rc = LH_EINTERNAL;
    if (duckdb_open(NULL, &q->db) != DuckDBSuccess) {
        lh_error_set(err, rc, "query engine: cannot open DuckDB");
        goto fail;
    }
    if (duckdb_connect(q->db, &q->admin) != DuckDBSuccess) {
        lh_error_set(err, rc, "query engine: cannot connect to DuckDB");
        goto fail;
    }
    if ((rc = setup_sandbox(q, cfg, err))) goto fail;
    pthread_mutex_lock(&q->views_mu);
    rc = sync_locked(q, err);
    pthread_mutex_unlock(&q->views_mu);
    if (rc) goto fail;
    if (pthread_create(&q->wd_thread, NULL, watchdog_main, q) != 0) {
        rc = lh_error_set(err, LH_EINTERNAL, "query engine: cannot start the timeout watchdog");
        goto fail;
    }
    q->wd_started = true;
    *out = q;
    return LH_OK;
fail:
    lh_query_close(q);
    return rc;
}

void lh_query_close(lh_query *q)
{
    if (!q) return;
    if (q->wd_started) {
        pthread_mutex_lock(&q->wd_mu);
        q->wd_stop = true;
        pthread_cond_signal(&q->wd_cv);
        pthread_mutex_unlock(&q->wd_mu);
        pthread_join(q->wd_thread, NULL);
    }
    for (size_t i = 0; i < q->nfree; i++)
        qconn_free(q->free_conns[i]);
    free(q->free_conns);
    for (size_t i = 0; i < q->nviews; i++) {
        lh_row_writer_reset(&q->views[i].wwriter);
        json_decref(q->views[i].wkeys);
    }
    if (q->admin) duckdb_disconnect(&q->admin);
    if (q->db) duckdb_close(&q->db);
    for (size_t i = 0; i < q->nviews; i++) {
        view_paths_free(&q->views[i]);
        free(q->views[i].name);
        view_journal_free(&q->views[i]);
        view_delta_free(&q->views[i]);
        free(q->views[i].wtable);
        free(q->views[i].body);
    }
    free(q->views);
    lh_hot_free(q->hot);
    free(q->data_dir);
    free(q->cache_dir);
    pthread_mutex_destroy(&q->views_mu);
    pthread_mutex_destroy(&q->pool_mu);
    pthread_mutex_destroy(&q->wd_mu);
    pthread_cond_destroy(&q->wd_cv);
    free(q);
}

/* -------------------------------------------------------------- checking */

/* Skips white space, comments and opening parentheses; returns the next word (upper-cased
 * into word) and where it ends. */
static const char *next_word(const char *p, char *word, size_t n)
{
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == '('))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    size_t i = 0;
    while ((isalpha((unsigned char)*p) || *p == '_') && i + 1 < n)
        word[i++] = (char)toupper((unsigned char)*p++);
    word[i] = 0;
    return p;
}

/* The first keyword must start a read-only statement. This runs before DuckDB sees the
 * text: some statement kinds misbehave inside DuckDB's prepare (EXECUTE of an unknown
 * prepared statement aborts the process), so only known-safe kinds reach it. */
static int lexical_check(const char *sql, lh_error *err)
{
    static const char *allowed[] = {"SELECT",  "WITH",     "FROM",      "VALUES", "TABLE",
                                    "EXPLAIN", "DESCRIBE", "SUMMARIZE", "SHOW",   NULL};
    char word[32];
    const char *p = next_word(sql, word, sizeof(word));
    if (!word[0]) return lh_error_set(err, LH_EINVAL, "sql: empty statement (expected SELECT ...)");
    if (strcmp(word, "EXPLAIN") == 0) {
        p = next_word(p, word, sizeof(word));
        if (strcmp(word, "ANALYZE") == 0 || strcmp(word, "ANALYSE") == 0)
            p = next_word(p, word, sizeof(word));
        if (strcmp(word, "EXPLAIN") == 0) word[0] = 0;
    }
    for (int i = 0; allowed[i]; i++)
        if (strcmp(word, allowed[i]) == 0) return LH_OK;
    return lh_error_set(err, LH_EDENIED,
                        "sql: %s statements are not allowed: only read-only queries (SELECT, "
                        "WITH, FROM, VALUES, TABLE, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE) are "
                        "accepted",
                        word[0] ? word : "this kind of");
}

static const char *statement_kind(duckdb_statement_type t)
{
    static const char *names[] = {"INVALID",      "SELECT",       "INSERT",          "UPDATE",
                                  "EXPLAIN",      "DELETE",       "PREPARE",         "CREATE",
                                  "EXECUTE",      "ALTER",        "TRANSACTION",     "COPY",
                                  "ANALYZE",      "VARIABLE SET", "CREATE FUNCTION", "DROP",
                                  "EXPORT",       "PRAGMA",       "VACUUM",          "CALL",
                                  "SET",          "LOAD/INSTALL", "RELATION",        "EXTENSION",
                                  "LOGICAL PLAN", "ATTACH",       "DETACH",          "MULTI"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "UNKNOWN";
}

/* Prepares sql on conn after the lexical and statement-kind checks. */
static int prepare_checked(duckdb_connection conn, const char *sql, duckdb_prepared_statement *out,
                           lh_error *err)
{
    duckdb_extracted_statements ex = NULL;
    int rc;
    *out = NULL;
    size_t bad;
    if (!lh_utf8_valid(sql, strlen(sql), &bad))
        return lh_error_set(err, LH_EINVAL, "sql: invalid UTF-8 at byte %zu", bad);
    if ((rc = lexical_check(sql, err))) return rc;
    idx_t n = duckdb_extract_statements(conn, sql, &ex);
    if (n == 0) {
        const char *m = duckdb_extract_statements_error(ex);
        rc = lh_error_set(err, LH_EINVAL, "sql: %s", m ? m : "cannot parse the statement");
        goto done;
    }
    if (n > 1) {
        rc = lh_error_set(err, LH_EDENIED,
                          "sql: %llu statements given; send one statement per request",
                          (unsigned long long)n);
        goto done;
    }
    if (duckdb_prepare_extracted_statement(conn, ex, 0, out) != DuckDBSuccess) {
        const char *m = duckdb_prepare_error(*out);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "cannot prepare the statement");
        goto done;
    }
    duckdb_statement_type t = duckdb_prepared_statement_type(*out);
    if (t != DUCKDB_STATEMENT_TYPE_SELECT && t != DUCKDB_STATEMENT_TYPE_EXPLAIN) {
        rc = lh_error_set(err, LH_EDENIED,
                          "sql: %s statements are not allowed: only read-only queries are "
                          "accepted",
                          statement_kind(t));
        goto done;
    }
    rc = LH_OK;
done:
    if (rc && *out) duckdb_destroy_prepare(out);
    if (ex) duckdb_destroy_extracted(&ex);
    return rc;
}

int lh_query_check(lh_query *q, const char *sql, lh_error *err)
{
    qconn *conn;
    duckdb_prepared_statement ps = NULL;
    journal_fresh(q, sql);
    int rc = conn_get(q, &conn, err);
    if (rc) return rc;
    rc = prepare_checked(conn->c, sql, &ps, err);
    if (ps) duckdb_destroy_prepare(&ps);
    conn_put(q, conn);
    return rc;
}

/* ------------------------------------------------------------------ run */

static void columns_free(columns *c)
{
    for (idx_t i = 0; i < c->n; i++) {
        lh_coldesc_free(&c->desc[i]);
        free(c->names[i]);
    }
    free(c->desc);
    free(c->names);
    memset(c, 0, sizeof(*c));
}

/* Describes the prepared statement's columns; returns true if all have serializers,
 * otherwise fills cast[i] for the columns to read as VARCHAR. */
static bool columns_init(columns *c, duckdb_prepared_statement ps, bool *cast)
{
    bool all = true;
    c->n = duckdb_prepared_statement_column_count(ps);
    c->desc = lh_calloc(c->n ? c->n : 1, sizeof(lh_coldesc));
    c->names = lh_calloc(c->n ? c->n : 1, sizeof(char *));
    for (idx_t i = 0; i < c->n; i++) {
        duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(ps, i);
        char *nm = (char *)duckdb_prepared_statement_column_name(ps, i); /* duckdb_free */
        c->names[i] = lh_strdup(nm ? nm : "");
        duckdb_free(nm);
        bool ok = lh_coldesc_init(&c->desc[i], t);
        duckdb_destroy_logical_type(&t);
        if (cast) cast[i] = !ok;
        all = all && ok;
    }
    return all;
}

typedef struct writer {
    lh_query_format fmt;
    lh_buf out;
    lh_query_sink sink;
    void *ctx;
    bool sink_failed;
    bool sent; /* bytes went to the sink: the query can no longer be run again */
    int64_t rows;
} writer;

static void w_flush(writer *w)
{
    if (w->out.len && !w->sink_failed) {
        w->sent = true;
        if (w->sink(w->ctx, w->out.data, w->out.len) != 0) w->sink_failed = true;
    }
    lh_buf_reset(&w->out);
}

static void w_header(writer *w, const columns *c)
{
    if (w->fmt == LH_QUERY_JSON) {
        lh_buf_puts(&w->out, "{\"columns\":[");
        for (idx_t i = 0; i < c->n; i++) {
            lh_buf_puts(&w->out, i ? ",{\"name\":" : "{\"name\":");
            lh_buf_json_str(&w->out, c->names[i], strlen(c->names[i]));
            lh_buf_puts(&w->out, ",\"type\":");
            lh_buf_json_str(&w->out, c->desc[i].type_name, strlen(c->desc[i].type_name));
            lh_buf_putc(&w->out, '}');
        }
        lh_buf_puts(&w->out, "],\"rows\":[");
    } else if (w->fmt == LH_QUERY_CSV) {
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_csv_field(&w->out, c->names[i], strlen(c->names[i]));
        }
        lh_buf_putc(&w->out, '\n');
    }
}

/* Writes one row; vecs are the chunk's columns (lh_colvec_init). */
static void w_row(writer *w, const columns *c, const lh_colvec *vecs, idx_t row, lh_buf *tmp)
{
    if (w->fmt == LH_QUERY_JSON) {
        lh_buf_puts(&w->out, w->rows ? ",[" : "[");
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_value_write_vec(&w->out, &c->desc[i], &vecs[i], row, true);
        }
        lh_buf_putc(&w->out, ']');
    } else if (w->fmt == LH_QUERY_NDJSON) {
        lh_buf_putc(&w->out, '{');
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_buf_json_str(&w->out, c->names[i], strlen(c->names[i]));
            lh_buf_putc(&w->out, ':');
            lh_value_write_vec(&w->out, &c->desc[i], &vecs[i], row, true);
        }
        lh_buf_puts(&w->out, "}\n");
    } else {
        for (idx_t i = 0; i < c->n; i++) {
            if (i) lh_buf_putc(&w->out, ',');
            lh_buf_reset(tmp);
            lh_value_write_vec(tmp, &c->desc[i], &vecs[i], row, false);
            lh_csv_field(&w->out, tmp->data ? tmp->data : "", tmp->len);
        }
        lh_buf_putc(&w->out, '\n');
    }
    w->rows++;
}

/* Wraps sql as a subquery: the flagged columns come back as VARCHAR (by position, so
 * duplicate or odd column names do not matter) and, with limit > 0, at most limit rows. */
static char *wrap_query(const char *sql, const columns *c, const bool *cast, int64_t limit)
{
    lh_buf b = {0};
    lh_buf_puts(&b, "SELECT ");
    for (idx_t i = 0; i < c->n; i++) {
        if (i) lh_buf_puts(&b, ", ");
        if (cast[i])
            lh_buf_printf(&b, "CAST(#%llu AS VARCHAR)", (unsigned long long)(i + 1));
        else
            lh_buf_printf(&b, "#%llu", (unsigned long long)(i + 1));
        lh_buf_puts(&b, " AS ");
        lh_sql_ident(&b, c->names[i]);
    }
    lh_buf_puts(&b, " FROM (");
    lh_buf_puts(&b, sql);
    lh_buf_puts(&b, "\n)");
    if (limit > 0) lh_buf_printf(&b, " LIMIT %" PRId64, limit);
    return lh_buf_steal(&b);
}

/* True if sql is a query expression that can stand as a subquery (not EXPLAIN, DESCRIBE,
 * SHOW or SUMMARIZE). */
static bool is_query_expression(const char *sql)
{
    static const char *kinds[] = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", NULL};
    char word[32];
    next_word(sql, word, sizeof(word));
    for (int i = 0; kinds[i]; i++)
        if (strcmp(word, kinds[i]) == 0) return true;
    return false;
}

/* The one-prepare path of a JSON query: prepares "SELECT * FROM (sql) LIMIT limit" with the
 * checks of prepare_checked and returns true if every result column serializes natively
 * and no name looks renamed by the wrapper (DuckDB turns a repeated "a" into "a_1"; the
 * two-prepare path keeps such names). False: nothing prepared, take the two-prepare path
 * (which also reports any error). Preparing costs more than running a point lookup from
 * memory, so a new lookup text pays one prepare, not two. */
static bool prepare_wrapped(duckdb_connection conn, const char *sql, int64_t limit,
                            duckdb_prepared_statement *out, columns *cols)
{
    size_t bad;
    if (!lh_utf8_valid(sql, strlen(sql), &bad) || lexical_check(sql, NULL)) return false;
    char *w = lh_sprintf("SELECT * FROM (%s\n) LIMIT %" PRId64, sql, limit);
    duckdb_prepared_statement ps = NULL;
    bool ok = prepare_checked(conn, w, &ps, NULL) == LH_OK;
    free(w);
    if (!ok) return false;
    columns cc = {0};
    ok = columns_init(&cc, ps, NULL);
    for (idx_t i = 0; ok && i < cc.n; i++) {
        const char *u = strrchr(cc.names[i], '_');
        ok = !u || !u[1] || strspn(u + 1, "0123456789") != strlen(u + 1);
    }
    if (!ok) {
        columns_free(&cc);
        duckdb_destroy_prepare(&ps);
        return false;
    }
    *out = ps;
    *cols = cc;
    return true;
}

/* Finds or prepares the statement for (sql, format, limit) on c. JSON results are bounded:
 * the statement asks for limit + 1 rows (to tell truncation) and runs materialized, which
 * lets DuckDB collect the result in parallel; streamed formats run streaming. */
static int stmt_get(lh_query *q, qconn *c, const char *sql, lh_query_format fmt, int64_t limit,
                    stmt **out, lh_error *err)
{
    uint64_t gen = __atomic_load_n(&q->view_gen, __ATOMIC_ACQUIRE);
    int64_t key_limit = fmt == LH_QUERY_JSON ? limit : 0;
    stmt *victim = &c->cache[0];
    for (int i = 0; i < STMT_CACHE; i++) {
        stmt *e = &c->cache[i];
        if (e->sql && e->fmt == fmt && e->limit == key_limit && strcmp(e->sql, sql) == 0) {
            if (e->gen == gen) {
                e->used = ++c->tick;
                *out = e;
                return LH_OK;
            }
            victim = e; /* stale: the views changed since it was prepared */
            break;
        }
        if (!e->sql || (victim->sql && e->used < victim->used)) victim = e;
    }
    stmt_clear(victim);

    duckdb_prepared_statement ps = NULL;
    columns cols = {0};
    bool materialize;
    if (fmt == LH_QUERY_JSON && is_query_expression(sql) &&
        prepare_wrapped(c->c, sql, limit + 1, &ps, &cols)) {
        materialize = true;
        goto prepared;
    }
    int rc = prepare_checked(c->c, sql, &ps, err);
    if (rc) return rc;
    bool *cast = lh_calloc(duckdb_prepared_statement_column_count(ps) + 1, sizeof(bool));
    bool all_native = columns_init(&cols, ps, cast);
    bool subquery = is_query_expression(sql);
    materialize = fmt == LH_QUERY_JSON && subquery;
    if (!all_native || materialize) {
        /* EXPLAIN and friends cannot be wrapped; their results are small and their columns
         * plain text, so they run as they are. */
        char *wrapped = subquery ? wrap_query(sql, &cols, cast, materialize ? limit + 1 : 0) : NULL;
        duckdb_prepared_statement wps = NULL;
        if (wrapped && duckdb_prepare(c->c, wrapped, &wps) == DuckDBSuccess) {
            duckdb_destroy_prepare(&ps);
            ps = wps;
            columns_free(&cols);
            columns_init(&cols, ps, NULL);
        } else {
            /* Should the wrapper not bind, the statement runs as given: streamed, so the
             * row limit still bounds what is kept; without its casts it cannot be shown. */
            if (wrapped) duckdb_destroy_prepare(&wps);
            materialize = false;
            if (!all_native)
                rc = lh_error_set(err, LH_EUNSUPPORTED,
                                  "sql: the result has a column type that cannot be returned; "
                                  "cast it to VARCHAR");
        }
        free(wrapped);
    }
    if (rc) duckdb_destroy_prepare(&ps);
    free(cast);
    if (rc) {
        columns_free(&cols);
        return rc;
    }
prepared:
    victim->sql = lh_strdup(sql);
    victim->fmt = fmt;
    victim->limit = key_limit;
    victim->gen = gen;
    victim->used = ++c->tick;
    victim->materialize = materialize;
    victim->ps = ps;
    victim->cols = cols;
    *out = victim;
    return LH_OK;
}

/* A query between execution and the end of its output (lh_query_start … lh_query_finish). Its
 * watchdog entry lives here, so a run may move between threads while the watchdog sees it. */
struct lh_query_exec {
    lh_query *q;
    qconn *conn;
    stmt *st;
    duckdb_result res;
    bool have_res;
    running watch_entry;
    bool watching;
    writer w;
    lh_buf tmp;
    bool header_done;
    bool ended; /* the footer went out, or an error ended the run */
    bool failed;
    bool truncated;
    int64_t limit;
    int timeout_ms;
    uint64_t t0;
    uint64_t bytes; /* flushed to sinks so far */
};

/* The DuckDB error of x's result, or a timeout if the watchdog stopped it. */
static int exec_error(lh_query_exec *x, lh_error *err)
{
    bool fired = false;
    if (x->watching) {
        fired = unwatch(x->q, &x->watch_entry);
        x->watching = false;
    }
    if (fired)
        return lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                            x->timeout_ms);
    /* File access outside the sandbox surfaces as DuckDB's "Permission Error". */
    const char *m = x->have_res ? duckdb_result_error(&x->res) : NULL;
    return lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL, "sql: %s",
                        m ? m : "query failed");
}

static void exec_free(lh_query_exec *x)
{
    if (!x) return;
    if (x->watching) unwatch(x->q, &x->watch_entry);
    if (x->have_res) duckdb_destroy_result(&x->res);
    /* A failed execution may leave the statement unusable; prepare it afresh next time. */
    if (x->failed && x->st) stmt_clear(x->st);
    lh_buf_free(&x->w.out);
    lh_buf_free(&x->tmp);
    if (x->conn) conn_put(x->q, x->conn);
    free(x);
}

/* Prepares (or reuses) and executes sql once; no retry. */
static int start_once(lh_query *q, const char *sql, const lh_query_opts *opts, lh_query_exec **out,
                      lh_error *err)
{
    lh_query_exec *x = lh_calloc(1, sizeof *x);
    x->q = q;
    x->t0 = lh_now_ns();
    x->w.fmt = opts->format;
    x->limit = opts->row_limit > 0 ? opts->row_limit : q->row_limit;
    x->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : q->timeout_ms;
    int rc = conn_get(q, &x->conn, err);
    if (!rc) rc = stmt_get(q, x->conn, sql, x->w.fmt, x->limit, &x->st, err);
    if (rc) {
        exec_free(x);
        return rc;
    }
    watch(q, &x->watch_entry, x->conn->c, x->timeout_ms);
    x->watching = true;
    duckdb_state state = x->st->materialize ? duckdb_execute_prepared(x->st->ps, &x->res)
                                            : duckdb_execute_prepared_streaming(x->st->ps, &x->res);
    x->have_res = true;
    if (state != DuckDBSuccess) {
        rc = exec_error(x, err);
        x->failed = true;
        exec_free(x);
        return rc;
    }
    *out = x;
    return LH_OK;
}

static void exec_flush(lh_query_exec *x)
{
    x->bytes += x->w.sink_failed ? 0 : x->w.out.len;
    w_flush(&x->w);
}

int lh_query_encode(lh_query_exec *x, lh_query_sink sink, void *sink_ctx, size_t budget, bool *more,
                    lh_error *err)
{
    *more = false;
    if (x->ended) return x->failed ? lh_error_set(err, LH_EINVAL, "sql: the run failed") : LH_OK;
    writer *w = &x->w;
    w->sink = sink;
    w->ctx = sink_ctx;
    uint64_t start = x->bytes;
    const columns *cols = &x->st->cols;
    lh_colvec *vecs = lh_calloc(cols->n ? cols->n : 1, sizeof *vecs);
    if (!x->header_done) {
        w_header(w, cols);
        x->header_done = true;
    }
    for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(x->res);
        if (!chunk) break;
        idx_t n = duckdb_data_chunk_get_size(chunk);
        if (n == 0) {
            duckdb_destroy_data_chunk(&chunk);
            break;
        }
        if (w->fmt == LH_QUERY_JSON && w->rows >= x->limit) {
            x->truncated = true;
            duckdb_destroy_data_chunk(&chunk);
            break;
        }
        for (idx_t i = 0; i < cols->n; i++)
            lh_colvec_init(&vecs[i], duckdb_data_chunk_get_vector(chunk, i));
        for (idx_t r = 0; r < n; r++) {
            if (w->fmt == LH_QUERY_JSON && w->rows >= x->limit) {
                x->truncated = true;
                break;
            }
            w_row(w, cols, vecs, r, &x->tmp);
        }
        duckdb_destroy_data_chunk(&chunk);
        if (x->truncated) break;
        /* Output goes once a good amount is ready. Nothing is sent before the first chunk
         * exists, so most errors of a streamed query are reported before any bytes; a JSON
         * result without a budget goes whole at the end (all or nothing). */
        if (w->out.len >= FLUSH_BYTES && (w->fmt != LH_QUERY_JSON || budget)) exec_flush(x);
        if (w->sink_failed) break;
        if (budget && x->bytes - start >= budget) {
            *more = true;
            free(vecs);
            return LH_OK;
        }
    }
    free(vecs);
    x->ended = true;
    const char *e = duckdb_result_error(&x->res);
    if (e && *e && !w->sink_failed) {
        x->failed = true;
        return exec_error(x, err);
    }
    bool fired = unwatch(x->q, &x->watch_entry);
    x->watching = false;
    if (fired && !x->truncated && !w->sink_failed) {
        x->failed = true;
        return lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                            x->timeout_ms);
    }
    if (w->fmt == LH_QUERY_JSON) {
        double ms = (double)(lh_now_ns() - x->t0) / 1e6;
        lh_buf_printf(&w->out, "],\"row_count\":%" PRId64 ",\"truncated\":%s,\"elapsed_ms\":%.3f}",
                      w->rows, x->truncated ? "true" : "false", ms);
    }
    exec_flush(x);
    if (w->sink_failed) return lh_error_set(err, LH_ECANCELED, "sql: the client went away");
    return LH_OK;
}

void lh_query_finish(lh_query_exec *x, lh_query_stats *stats)
{
    if (!x) return;
    if (stats) {
        stats->rows = x->w.rows;
        stats->truncated = x->truncated;
        stats->elapsed_ms = (double)(lh_now_ns() - x->t0) / 1e6;
    }
    exec_free(x);
}

/* True if a DuckDB error says a file could not be found or read. */
static bool file_error(const char *msg)
{
    return strstr(msg, "No such file") || strstr(msg, "No files found") ||
           strstr(msg, "Cannot open file") || strstr(msg, "IO Error");
}

/* The first double-quoted absolute path in a DuckDB error message (malloc'd), or NULL. */
static char *error_path(const char *msg)
{
    for (const char *p = strchr(msg, '"'); p; p = strchr(p + 1, '"')) {
        const char *e = strchr(p + 1, '"');
        if (!e) break;
        if (p[1] == '/') return lh_strndup(p + 1, (size_t)(e - p - 1));
        p = e;
    }
    return NULL;
}

/* After a query failed with e: if e says a file could not be read — a view over an evicted
 * copy of a remote object — fetches the copies again and rebuilds the views that read them.
 * True if a view was rebuilt (the query is worth running again). Each call fixes the file
 * the error names; a query over several evicted views may need a call per view. */
static bool rebuilt_after(lh_query *q, int rc, const lh_error *e)
{
    if (rc != LH_EINVAL || !file_error(e->msg)) return false;
    lh_error re = {0};
    int rebuilt = 0;
    char *path = error_path(e->msg);
    int rrc = views_rematerialize(q, path, &rebuilt, &re);
    if (rrc == LH_OK && rebuilt == 0 && path) rrc = views_rematerialize(q, NULL, &rebuilt, &re);
    free(path);
    if (rrc != LH_OK)
        lh_log(LH_LOG_WARN, "query.rematerialize_failed", "error", re.msg, (const char *)NULL);
    if (rebuilt == 0) return false;
    char nb[16];
    snprintf(nb, sizeof nb, "%d", rebuilt);
    lh_log(LH_LOG_INFO, "query.views_rematerialized", "views", nb, (const char *)NULL);
    return true;
}

#define FILE_RETRIES 4

int lh_query_start(lh_query *q, const lh_identity *who, const char *sql, const lh_query_opts *opts,
                   lh_query_exec **out, lh_error *err)
{
    static const lh_query_opts defaults = {0};
    if (!opts) opts = &defaults;
    (void)who; /* profile scoping slots in here */
    *out = NULL;
    journal_fresh(q, sql);
    lh_error e = {0};
    int rc = start_once(q, sql, opts, out, &e);
    for (int round = 0; round < FILE_RETRIES && rc && rebuilt_after(q, rc, &e); round++) {
        lh_error_clear(&e);
        rc = start_once(q, sql, opts, out, &e);
    }
    if (rc && err) *err = e;
    return rc;
}

int lh_query_run(lh_query *q, const lh_identity *who, const char *sql, const lh_query_opts *opts,
                 lh_query_sink sink, void *sink_ctx, lh_query_stats *stats, lh_error *err)
{
    lh_error e = {0};
    int rc = LH_OK;
    /* A streamed query may fail on a file while fetching: then it runs again too, unless
     * output already left. */
    for (int round = 0; round <= FILE_RETRIES; round++) {
        lh_query_exec *x = NULL;
        lh_error_clear(&e);
        if ((rc = lh_query_start(q, who, sql, opts, &x, &e))) {
            if (stats) *stats = (lh_query_stats){0};
            break;
        }
        bool more = false;
        rc = lh_query_encode(x, sink, sink_ctx, 0, &more, &e);
        bool sent = x->w.sent;
        lh_query_finish(x, stats);
        if (!rc || sent || !rebuilt_after(q, rc, &e)) break;
    }
    if (rc && err) *err = e;
    return rc;
}

static int buf_sink(void *ctx, const char *data, size_t n)
{
    lh_buf_append(ctx, data, n);
    return 0;
}

int lh_query_json(lh_query *q, const lh_identity *who, const char *sql, int64_t row_limit,
                  char **out_json, lh_error *err)
{
    lh_buf b = {0};
    lh_query_opts o = {.format = LH_QUERY_JSON, .row_limit = row_limit};
    int rc = lh_query_run(q, who, sql, &o, buf_sink, &b, NULL, err);
    if (rc) {
        lh_buf_free(&b);
        *out_json = NULL;
        return rc;
    }
    *out_json = lh_buf_steal(&b);
    return LH_OK;
}

/* Where a checked statement's text ends once trailing white space, comments and semicolons
 * are dropped, so that it can stand inside parentheses ("SELECT 1; -- done" alone is one
 * statement, "(SELECT 1; -- done\n)" is not). Strings, quoted names, dollar-quoted strings
 * and comments are skipped whole; if one is not closed, nothing is dropped (the wrapped
 * statement then fails to parse, which is the right answer). */
static size_t statement_end(const char *s)
{
    size_t n = strlen(s), end = 0, i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (c == '/' && s[i + 1] == '*') {
            int depth = 0; /* block comments nest */
            for (; i < n; i++) {
                if (s[i] == '/' && s[i + 1] == '*')
                    depth++, i++;
                else if (s[i] == '*' && s[i + 1] == '/' && --depth == 0)
                    break;
            }
            if (i >= n) return n;
            i += 2;
        } else if (c == '\'' || c == '"') {
            bool backslash = c == '\'' && i > 0 && (s[i - 1] == 'e' || s[i - 1] == 'E');
            for (i++; i < n; i++) {
                if (backslash && s[i] == '\\' && i + 1 < n)
                    i++;
                else if (s[i] == c && s[i + 1] == c)
                    i++;
                else if (s[i] == c)
                    break;
            }
            if (i >= n) return n;
            end = ++i;
        } else if (c == '$' && (i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))) {
            /* $tag$ ... $tag$ (tag may be empty); a lone $ (parameter) is an ordinary char. */
            size_t t = i + 1;
            while (t < n && (isalnum((unsigned char)s[t]) || s[t] == '_'))
                t++;
            if (t < n && s[t] == '$' && !isdigit((unsigned char)s[i + 1])) {
                size_t taglen = t - i + 1, k = t + 1;
                while (k + taglen <= n && memcmp(s + k, s + i, taglen) != 0)
                    k++;
                if (k + taglen > n) return n;
                i = end = k + taglen;
                continue;
            }
            end = ++i;
        } else {
            if (!isspace((unsigned char)c) && c != ';') end = i + 1;
            i++;
        }
    }
    return end;
}

/* Reads the row count COPY returns (one BIGINT). */
static int64_t copy_count(duckdb_result *res)
{
    int64_t rows = -1;
    duckdb_data_chunk chunk = duckdb_fetch_chunk(*res);
    if (!chunk) return rows;
    if (duckdb_data_chunk_get_size(chunk) > 0 && duckdb_data_chunk_get_column_count(chunk) > 0) {
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, 0);
        duckdb_logical_type t = duckdb_vector_get_column_type(v);
        if (duckdb_get_type_id(t) == DUCKDB_TYPE_BIGINT)
            rows = ((const int64_t *)duckdb_vector_get_data(v))[0];
        duckdb_destroy_logical_type(&t);
    }
    duckdb_destroy_data_chunk(&chunk);
    return rows;
}

int lh_query_export_parquet(lh_query *q, const lh_identity *who, const char *sql, int timeout_ms,
                            int *out_fd, int64_t *out_size, int64_t *out_rows, lh_error *err)
{
    journal_fresh(q, sql);
    qconn *conn = NULL;
    duckdb_prepared_statement ps = NULL;
    duckdb_extracted_statements ex = NULL;
    duckdb_result res;
    bool have_res = false, watching = false;
    running watch_entry;
    char *body = NULL, *path = NULL;
    lh_buf copy = {0};
    int fd = -1;
    int rc;
    (void)who; /* profile scoping slots in here, as in lh_query_run */
    *out_fd = -1;
    if (timeout_ms <= 0) timeout_ms = q->timeout_ms;

    if ((rc = conn_get(q, &conn, err))) return rc;
    /* The caller's text passes the same checks as any query before it is wrapped. */
    if ((rc = prepare_checked(conn->c, sql, &ps, err))) goto done;
    duckdb_destroy_prepare(&ps);
    if (!is_query_expression(sql)) {
        rc = lh_error_set(err, LH_EINVAL,
                          "sql: a Parquet download needs a query (SELECT, WITH, FROM, VALUES or "
                          "TABLE); download EXPLAIN, DESCRIBE, SHOW or SUMMARIZE results as CSV");
        goto done;
    }
    char id[37];
    lh_uuid(id);
    path = lh_sprintf("%s/exports/%s.parquet", q->cache_dir, id);
    /* The newline ends a trailing "--" comment before the closing parenthesis (should the
     * trimming below miss one). */
    body = lh_strndup(sql, statement_end(sql));
    lh_buf_puts(&copy, "COPY (");
    lh_buf_puts(&copy, body);
    lh_buf_puts(&copy, "\n) TO ");
    lh_sql_quote(&copy, path);
    lh_buf_puts(&copy, " (FORMAT parquet)");
    /* The wrapper must still be exactly one COPY statement. */
    idx_t n = duckdb_extract_statements(conn->c, copy.data, &ex);
    if (n != 1 || duckdb_prepare_extracted_statement(conn->c, ex, 0, &ps) != DuckDBSuccess ||
        duckdb_prepared_statement_type(ps) != DUCKDB_STATEMENT_TYPE_COPY) {
        const char *m = n == 1 && ps ? duckdb_prepare_error(ps) : NULL;
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: the query cannot be written as Parquet: %s",
                          m ? m : "it does not stand as one subquery");
        goto done;
    }
    watch(q, &watch_entry, conn->c, timeout_ms);
    watching = true;
    have_res = true;
    if (duckdb_execute_prepared(ps, &res) != DuckDBSuccess) {
        watching = false;
        if (unwatch(q, &watch_entry)) goto timed_out;
        const char *m = duckdb_result_error(&res);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "query failed");
        goto done;
    }
    watching = false;
    if (unwatch(q, &watch_entry)) goto timed_out;
    int64_t rows = copy_count(&res);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = lh_error_set(err, LH_EIO, "sql: cannot read the Parquet file %s: %s", path,
                          strerror(errno));
        goto done;
    }
    *out_fd = fd;
    fd = -1;
    if (out_size) *out_size = (int64_t)st.st_size;
    if (out_rows) *out_rows = rows;
    rc = LH_OK;
    goto done;
timed_out:
    rc = lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                      timeout_ms);
done:
    if (watching) unwatch(q, &watch_entry);
    if (have_res) duckdb_destroy_result(&res);
    if (ps) duckdb_destroy_prepare(&ps);
    if (ex) duckdb_destroy_extracted(&ex);
    if (fd >= 0) close(fd);
    /* The caller reads the open descriptor; the name goes now, whatever happened. */
    if (path) unlink(path);
    free(path);
    free(body);
    lh_buf_free(&copy);
    if (conn) conn_put(q, conn);
    return rc;
}

lh_storage *qry_storage(lh_query *q)
{
    return q->st;
}

int qry_scan(lh_query *q, const char *sql, qry_chunk_fn fn, void *ctx, lh_error *err)
{
    journal_fresh(q, sql);
    qconn *conn = NULL;
    duckdb_prepared_statement ps = NULL;
    duckdb_result res;
    bool have_res = false, watching = false;
    running watch_entry;
    int rc = conn_get(q, &conn, err);
    if (rc) return rc;
    if ((rc = prepare_checked(conn->c, sql, &ps, err))) goto done;
    watch(q, &watch_entry, conn->c, q->timeout_ms);
    watching = true;
    have_res = true;
    if (duckdb_execute_prepared_streaming(ps, &res) != DuckDBSuccess) goto failed;
    for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(res);
        if (!chunk) break;
        idx_t n = duckdb_data_chunk_get_size(chunk);
        rc = n ? fn(ctx, chunk, err) : LH_OK;
        duckdb_destroy_data_chunk(&chunk);
        if (rc || n == 0) break;
    }
    if (rc) goto done;
    {
        const char *e = duckdb_result_error(&res);
        if (e && *e) goto failed;
    }
    watching = false;
    if (unwatch(q, &watch_entry)) goto timed_out;
    goto done;
failed:
    watching = false;
    if (unwatch(q, &watch_entry)) goto timed_out;
    {
        const char *m = duckdb_result_error(&res);
        rc = lh_error_set(err, m && strstr(m, "Permission Error") ? LH_EDENIED : LH_EINVAL,
                          "sql: %s", m ? m : "query failed");
    }
    goto done;
timed_out:
    rc = lh_error_set(err, LH_ETIMEOUT, "sql: the query ran past its time limit of %d ms",
                      q->timeout_ms);
done:
    if (watching) unwatch(q, &watch_entry);
    if (have_res) duckdb_destroy_result(&res);
    if (ps) duckdb_destroy_prepare(&ps);
    if (conn) conn_put(q, conn);
    return rc;
}
int lh_query_journal(lh_query *q, const lh_identity *who, const char *dataset, const char *key,
                     const lh_query_opts *opts, lh_query_sink sink, void *sink_ctx,
                     lh_query_stats *stats, lh_error *err)
{
    if (!lh_name_valid(dataset, err)) return lh_error_prefix(err, "journal: dataset");
    lh_query_sync(q, NULL);
    lh_buf sql = {0};
    lh_buf_puts(&sql,
                "SELECT ts, entity, key, field, old_value, new_value, op, version, actor, "
                "profile, workspace_id, source, reason FROM " LH_JOURNAL_VIEW " WHERE dataset = ");
    lh_sql_quote(&sql, dataset);
    if (key) {
        lh_buf_puts(&sql, " AND key = ");
        lh_sql_quote(&sql, key);
    }
    lh_buf_puts(&sql, " ORDER BY version, ts, field");
    int rc = lh_query_run(q, who, sql.data, opts, sink, sink_ctx, stats, err);
    lh_buf_free(&sql);
    return rc;
}

static void cache_touch(lh_query *q, const char *sql);

/* ---------------------------------------------------------- time travel */

/* Creates view "<dataset>@v<version>" unless it exists. Versions are immutable, so a view
 * once made never needs refreshing. */
static int version_view(lh_query *q, const lh_identity *who, const char *dataset, int64_t version,
                        lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(q->cat, who, dataset, version, &m, err);
    if (rc) return rc;
    char name[160];
    snprintf(name, sizeof name, "%s@v%" PRId64, dataset, version);
    lh_buf sql = {0};
    lh_buf_puts(&sql, "CREATE VIEW IF NOT EXISTS ");
    lh_sql_ident(&sql, name);
    lh_buf_puts(&sql, " AS ");
    if (!(rc = lh_manifest_scan_sql(q->st, m, &sql, err))) {
        pthread_mutex_lock(&q->views_mu);
        rc = lh_duckdb_exec(q->admin, sql.data, "create version view", err);
        pthread_mutex_unlock(&q->views_mu);
    }
    lh_buf_free(&sql);
    lh_manifest_free(m);
    return rc;
}

/* Installs the version views that sql names as quoted identifiers "name@vN". */
static int named_version_views(lh_query *q, const lh_identity *who, const char *sql, lh_error *err)
{
    for (const char *p = sql; *p; p++) {
        if (*p == '\'') { /* skip string literals ('' is a quote inside) */
            for (p++; *p; p++) {
                if (*p != '\'') continue;
                if (p[1] != '\'') break;
                p++;
            }
            if (!*p) break;
            continue;
        }
        if (*p != '"') continue;
        const char *e = strchr(p + 1, '"');
        if (!e) break;
        const char *at = memchr(p + 1, '@', (size_t)(e - p - 1));
        if (at && at[1] == 'v' && at + 2 < e && (size_t)(at - p - 1) < 129) {
            char ds[130];
            snprintf(ds, sizeof ds, "%.*s", (int)(at - p - 1), p + 1);
            const char *d = at + 2;
            while (d < e && isdigit((unsigned char)*d))
                d++;
            lh_manifest *latest = NULL;
            /* Not a dataset: an ordinary quoted name, left to DuckDB. */
            if (d == e && lh_name_valid(ds, NULL) &&
                lh_catalog_get(q->cat, who, ds, 0, &latest, NULL) == LH_OK) {
                lh_manifest_free(latest);
                int64_t v = strtoll(at + 2, NULL, 10);
                int rc = version_view(q, who, ds, v, err);
                if (rc) return rc;
            }
        }
        p = e;
    }
    return LH_OK;
}

/* Skips white space and comments. */
static const char *skip_blank(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

static bool starts_word(const char *p, const char *w)
{
    size_t n = strlen(w);
    return strncasecmp(p, w, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

int lh_query_resolve(lh_query *q, const lh_identity *who, const char *sql, int64_t as_of_us,
                     char **out, lh_error *err)
{
    *out = NULL;
    cache_touch(q, sql);
    int rc = named_version_views(q, who, sql, err);
    if (rc) return rc;
    if (as_of_us <= 0) {
        *out = lh_strdup(sql);
        return LH_OK;
    }
    const char *p = skip_blank(sql);
    bool with = starts_word(p, "WITH");
    if (!with && !starts_word(p, "SELECT") && !starts_word(p, "FROM") &&
        !starts_word(p, "VALUES") && *p != '(')
        return lh_error_set(err, LH_EUNSUPPORTED,
                            "as_of: only queries (SELECT, WITH, FROM, VALUES) can be run as of "
                            "a time");
    char **names = NULL;
    size_t n = 0;
    if ((rc = lh_catalog_list(q->cat, who, &names, &n, err))) return rc;
    lh_buf b = {0};
    lh_buf_puts(&b, "WITH ");
    if (with) {
        p = skip_blank(p + 4);
        if (starts_word(p, "RECURSIVE")) {
            lh_buf_puts(&b, "RECURSIVE ");
            p = skip_blank(p + 9);
        }
    }
    size_t nctes = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v = 0;
        lh_error e = {0};
        int vrc = lh_catalog_version_at(q->cat, who, names[i], as_of_us, &v, &e);
        if (vrc && vrc != LH_ENOENT) {
            rc = lh_error_set(err, vrc, "as_of: %s", e.msg);
            goto done;
        }
        if (nctes++) lh_buf_puts(&b, ", ");
        lh_sql_ident(&b, names[i]);
        if (vrc == LH_ENOENT) {
            /* Not created yet at that time: its columns, no rows. */
            lh_buf_puts(&b, " AS (SELECT * FROM main.");
            lh_sql_ident(&b, names[i]);
            lh_buf_puts(&b, " WHERE false)");
            continue;
        }
        if ((rc = version_view(q, who, names[i], v, err))) goto done;
        char vname[160];
        snprintf(vname, sizeof vname, "%s@v%" PRId64, names[i], v);
        lh_buf_puts(&b, " AS (SELECT * FROM main.");
        lh_sql_ident(&b, vname);
        lh_buf_putc(&b, ')');
    }
    if (nctes == 0) {
        lh_buf_free(&b);
        *out = lh_strdup(sql);
        goto done;
    }
    lh_buf_puts(&b, with ? ", " : " ");
    lh_buf_puts(&b, with ? p : sql);
    *out = lh_buf_steal(&b);
done:
    lh_buf_free(&b);
    lh_catalog_names_free(names, n);
    return rc;
}

/* ------------------------------------------------------------ hot cache */

void lh_query_cache_enable(lh_query *q)
{
    pthread_mutex_lock(&q->views_mu);
    q->hot_on = true;
    pins_sync_locked(q);
    pthread_mutex_unlock(&q->views_mu);
}

int lh_query_cache_mark(lh_storage *st, const char *dataset, bool pin, lh_error *err)
{
    if (!lh_name_valid(dataset, err)) return lh_error_prefix(err, "cache: dataset");
    char *key = lh_sprintf(PINS_PREFIX "%s", dataset);
    int rc = pin ? lh_storage_put(st, key, "{}\n", 3, err) : lh_storage_delete(st, key, err);
    free(key);
    return rc;
}

int lh_query_cache_pin(lh_query *q, const lh_identity *who, const char *dataset, lh_error *err)
{
    lh_manifest *m = NULL;
    int rc = lh_catalog_get(q->cat, who, dataset, 0, &m, err);
    if (rc) return rc;
    pthread_mutex_lock(&q->views_mu);
    if (!(rc = hot_load(q, m, true, err))) rc = view_install(q, m, err);
    pthread_mutex_unlock(&q->views_mu);
    if (!rc) rc = lh_query_cache_mark(q->st, dataset, true, err);
    lh_manifest_free(m);
    return rc;
}

int lh_query_cache_unpin(lh_query *q, const lh_identity *who, const char *dataset, lh_error *err)
{
    (void)who;
    if (!lh_name_valid(dataset, err)) return lh_error_prefix(err, "cache: dataset");
    pthread_mutex_lock(&q->views_mu);
    lh_hot_unpin(q->hot, dataset);
    pthread_mutex_unlock(&q->views_mu);
    return lh_query_cache_mark(q->st, dataset, false, err);
}

json_t *lh_query_cache_stats(lh_query *q)
{
    pthread_mutex_lock(&q->views_mu);
    json_t *j = lh_hot_stats(q->hot);
    json_object_set_new(j, "enabled", json_boolean(q->hot_on));
    pthread_mutex_unlock(&q->views_mu);
    return j;
}

/* Reads the identifier at p (bare or double-quoted) into name, lower-cased (a name longer
 * than n leaves name empty); returns the position after it, or p itself if none is there. */
static const char *read_ident(const char *p, char *name, size_t n)
{
    const char *s = p, *e;
    if (*p == '"') {
        s = p + 1;
        e = strchr(s, '"');
        if (!e) return p;
        p = e + 1;
    } else if (isalpha((unsigned char)*p) || *p == '_') {
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        e = p;
    } else {
        return p;
    }
    name[0] = 0;
    if ((size_t)(e - s) >= n) return p;
    for (size_t i = 0; i < (size_t)(e - s); i++)
        name[i] = (char)tolower((unsigned char)s[i]);
    name[e - s] = 0;
    return p;
}

/* Skips a '...' literal starting at p. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p != '\'') continue;
        if (p[1] != '\'') return p + 1;
        p++;
    }
    return p;
}

/* Reads the next identifier of the SQL at *pp into name (see read_ident), skipping string
 * literals and everything else; false at the end. *pp moves past it. */
static bool next_ident(const char **pp, char *name, size_t n)
{
    for (const char *p = *pp; *p;) {
        if (*p == '\'') {
            p = skip_string(p);
            continue;
        }
        const char *e = read_ident(p, name, n);
        if (e == p) {
            p++;
            continue;
        }
        *pp = e;
        return true;
    }
    return false;
}

/* Whether sql compares every one of the n key columns by equality or IN (`k = …`, `t.k IN
 * (…)`): a lexical look, no parse. A false positive (the same column name on another table)
 * only counts one lookup too many. */
static bool filters_on_key(const char *sql, char *const *key, size_t n)
{
    if (n == 0 || n > 64) return false;
    uint64_t seen = 0;
    char name[130];
    for (const char *p = sql; next_ident(&p, name, sizeof name);) {
        if (*p == '.') continue; /* a qualifier: the column follows */
        size_t k = 0;
        while (k < n && strcasecmp(name, key[k]) != 0)
            k++;
        if (k == n) continue;
        const char *t = skip_blank(p);
        if ((t[0] == '=' && t[1] != '>') ||
            (strncasecmp(t, "in", 2) == 0 && !isalnum((unsigned char)t[2]) && t[2] != '_'))
            seen |= 1ULL << k;
    }
    return seen == (n == 64 ? ~0ULL : (1ULL << n) - 1);
}

/* Counts a query's use of each dataset it names (identifiers matching a view) and admits
 * the ones asked for often enough (cache.c: key lookups of keyed datasets, and with
 * cache_auto_admit any query). Runs before the query, so an admitted dataset serves it. */
static void cache_touch(lh_query *q, const char *sql)
{
    if (!q->hot_on) return;
    /* Counting is advisory: while the lock is busy (a refresh, or an admission loading a
     * table for a second) the query goes on uncounted rather than waiting behind it. */
    if (pthread_mutex_trylock(&q->views_mu) != 0) return;
    char name[130];
    for (const char *p = sql; next_ident(&p, name, sizeof name);) {
        view *v = name[0] ? view_find(q, name) : NULL;
        /* A view reading its hot table is a hit: whether the query looks up by key (a scan
         * of its text) only matters on a miss. */
        if (!v || !lh_hot_touch(q->hot, name, v->version, v->bytes,
                                v->nkey && !v->hot && filters_on_key(sql, v->key, v->nkey)))
            continue;
        lh_manifest *m = NULL;
        lh_error err = {0};
        if (lh_catalog_get(q->cat, &lh_identity_default, name, v->version, &m, &err) ||
            hot_load(q, m, false, &err) || view_install(q, m, &err))
            lh_log(LH_LOG_INFO, "cache.admit_failed", "dataset", name, "error", err.msg, NULL);
        else
            lh_log(LH_LOG_INFO, "cache.admit", "dataset", name, NULL);
        lh_manifest_free(m);
    }
    pthread_mutex_unlock(&q->views_mu);
}
